using NetStack.Api;
using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Tests.Core;
using NetStack.Wire;
using static NetStack.Tests.Core.OneStack;

namespace NetStack.Tests.Ipv4;

/// <summary>
/// The neighbour table's bounds (neigh_alloc(), neigh_forced_gc()): gc_thresh3 is a hard ceiling,
/// gc_thresh2 triggers a forced GC after 5 s, and the arp_cache statistics count it all.
/// </summary>
public class NeighTableLimitTests
{
    /// <summary>Hosts 10.9.x.y other than the stack and its usual peer.</summary>
    private static uint Host(int i) => Ipv4Address.Parse("10.9.16.0") + (uint)i;

    private static MacAddress MacOf(int i) => MacAddress.Parse($"02:00:00:{(i >> 16) & 0xff:x2}:{(i >> 8) & 0xff:x2}:{i & 0xff:x2}");

    /// <summary>Host i asks who-has our address: arp_process() makes it an entry (neigh_event_ns) and answers.</summary>
    private static void AsksForUs(OneStack s, int i) =>
        s.Receive(Pkt.Eth(MacAddress.Broadcast, MacOf(i), EthP.ARP, Pkt.Arp(ArpPacket.OpRequest, MacOf(i), Host(i), MacAddress.Zero, Addr)));

    /// <summary>A stack whose link holds 10.9.0.0/16 (`ip route add 10.9.0.0/16 dev eth0`): room for thousands of neighbours.</summary>
    private static OneStack Stack()
    {
        var s = new OneStack();
        NetStackConfig.AddRoute(s.Net, System.Net.IPAddress.Parse("10.9.0.0"), 16, device: "eth0");
        return s;
    }

    private static int StackPings(OneStack s, uint dst)
    {
        lock (s.Net.SyncRoot)
        {
            Assert.Equal(0, Route.IpRouteOutput(s.Net, dst, 0, out var rt));
            var skb = s.Net.SkbPool.AllocWithHeadroom()!;
            Pkt.EchoRequest(1, 1, [1, 2, 3, 4]).CopyTo(skb.Put(12));
            return IpOutput.IpQueueXmit(s.Net, skb, rt, rt.PrefSrc, dst, IpProto.ICMP);
        }
    }

    [Fact]
    public void ArpFromThousandsOfHosts_TableStopsAtGcThresh3_ThenForcedGcFreesTheOldest()
    {
        using var s = Stack();
        var tbl = s.Net.Ipv4.Arp;
        var st = s.Net.Mib.ArpCache;
        const int Hosts = 3000;
        int maxSeen = 0;
        for (int i = 0; i < Hosts; i++)
        {
            AsksForUs(s, i);
            maxSeen = Math.Max(maxSeen, tbl.Count);
        }
        // All entries are fresh (updated within 5 s): forced GC finds nothing, the rest are refused.
        Assert.Equal(1024, maxSeen);
        Assert.Equal(1024, tbl.Count);
        Assert.Equal(1024, st[NeighStat.Allocs]);
        Assert.Equal(Hosts - 1024, st[NeighStat.TableFulls]);
        Assert.Equal(Hosts - 1024, st[NeighStat.ForcedGcRuns]);
        // Only the hosts that got an entry got an answer (no entry, no reply, as arp_process does).
        Assert.Equal(1024, s.Dev.TakeSent().Count);
        Assert.Contains("neighbor table overflow", string.Join('\n', s.Net.Log.Read()));

        // The stack's own traffic to a new host is refused too: ENOBUFS, counted.
        Assert.Equal(-Errno.ENOBUFS, StackPings(s, Host(5000)));
        Assert.Equal(1, s.Net.Mib.Drops[SkbDropReason.NeighCreateFail]);

        // 5 s later the entries are old enough: the next new one forces a GC that frees
        // gc_entries - gc_thresh2 = 512 of them, oldest first.
        s.RunFor(5_001);
        AsksForUs(s, 4000);
        Assert.Equal(1024 - 512 + 1, tbl.Count);
        Assert.Equal(512, st[NeighStat.Destroys]);
        Assert.Null(tbl.NeighLookup(Host(0), s.Dev));
        Assert.Null(tbl.NeighLookup(Host(511), s.Dev));
        Assert.NotNull(tbl.NeighLookup(Host(512), s.Dev));
        Assert.NotNull(tbl.NeighLookup(Host(4000), s.Dev));
        Assert.Equal(s.Net.SkbPool.Total, s.Net.SkbPool.FreeCount);
    }

    [Fact]
    public void AboveGcThresh2_FiveSecondsAfterTheLastFlush_ANewEntryForcesGc()
    {
        using var s = Stack();
        var tbl = s.Net.Ipv4.Arp;
        var st = s.Net.Mib.ArpCache;
        for (int i = 0; i < 600; i++) AsksForUs(s, i);
        Assert.Equal(600, tbl.Count);          // within 5 s of the table's last flush: no GC yet
        Assert.Equal(0, st[NeighStat.ForcedGcRuns]);
        s.RunFor(6_000);
        AsksForUs(s, 600);
        Assert.Equal(1, st[NeighStat.ForcedGcRuns]);
        Assert.Equal(600 - 88 + 1, tbl.Count); // 600 - gc_thresh2 = 88 oldest went, then the new one came
        Assert.Equal(0, st[NeighStat.TableFulls]);
    }

    [Fact]
    public void ForcedGc_SparesEntriesInUse_AndPermanentOnes()
    {
        using var s = Stack();
        var tbl = s.Net.Ipv4.Arp;
        Assert.Equal(0, s.Net.Sysctl.TrySet("net.ipv4.neigh.default.gc_thresh2", "2"));
        Assert.Equal(0, s.Net.Sysctl.TrySet("net.ipv4.neigh.default.gc_thresh3", "4"));
        tbl.AddPermanent(Host(100), s.Dev, MacOf(100)); // exempt: not counted, never collected
        StackPings(s, Host(0));                          // INCOMPLETE: its timer holds it
        AsksForUs(s, 1);                                 // STALE
        AsksForUs(s, 2);
        AsksForUs(s, 3);
        Assert.Equal(4, tbl.GcEntries);
        s.Dev.Sent.Clear();
        s.Receive(Pkt.Eth(Mac, MacOf(0), EthP.ARP, Pkt.Arp(ArpPacket.OpReply, MacOf(0), Host(0), Mac, Addr))); // now REACHABLE
        s.RunFor(6_000);
        AsksForUs(s, 4);
        // Two had to go (4 - gc_thresh2): the oldest unreferenced STALE ones, 1 and 2.
        Assert.NotNull(tbl.NeighLookup(Host(0), s.Dev));
        Assert.Null(tbl.NeighLookup(Host(1), s.Dev));
        Assert.Null(tbl.NeighLookup(Host(2), s.Dev));
        Assert.NotNull(tbl.NeighLookup(Host(3), s.Dev));
        Assert.NotNull(tbl.NeighLookup(Host(4), s.Dev));
        Assert.Equal(NudState.Permanent, tbl.NeighLookup(Host(100), s.Dev)!.NudState);
        Assert.Equal(3, tbl.GcEntries);
    }

    [Fact]
    public void Sysctls_HaveLinuxDefaults()
    {
        using var s = Stack();
        string Get(string n) => s.Net.Sysctl.TryGet("net.ipv4.neigh.default." + n, out var v) ? v : "missing";
        Assert.Equal(("128", "512", "1024"), (Get("gc_thresh1"), Get("gc_thresh2"), Get("gc_thresh3")));
        Assert.Equal(("101", "212992"), (Get("unres_qlen"), Get("unres_qlen_bytes")));
        // unres_qlen writes unres_qlen_bytes in SKB_TRUESIZE(ETH_FRAME_LEN) units.
        Assert.Equal(0, s.Net.Sysctl.TrySet("net.ipv4.neigh.default.unres_qlen", "3"));
        Assert.Equal(3 * 2090, s.Net.Ipv4.Sysctl.Neigh.UnresQlenBytes);
    }
}
