using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Tests.Core;
using NetStack.Wire;
using static NetStack.Tests.Core.OneStack;

namespace NetStack.Tests.Ipv4;

/// <summary>
/// ARP (arp_process) and the neighbour state machine (NUD, neigh_timer_handler) with virtual time,
/// against the defaults of net.ipv4.neigh.default: base_reachable_time 30 s, delay_first_probe_time
/// 5 s, retrans_time 1 s, ucast_solicit 3, mcast_solicit 3, unres_qlen 101.
/// </summary>
public class ArpNeighbourTests
{
    private static readonly uint Other = Ipv4Address.Parse("10.9.0.77");

    private static byte[] RequestFrom(MacAddress sha, uint spa, uint tpa, MacAddress? ethDst = null) =>
        Pkt.Eth(ethDst ?? MacAddress.Broadcast, sha, EthP.ARP, Pkt.Arp(ArpPacket.OpRequest, sha, spa, MacAddress.Zero, tpa));

    private static byte[] ReplyFromPeer(MacAddress? ethDst = null) =>
        Pkt.Eth(ethDst ?? Mac, PeerMac, EthP.ARP, Pkt.Arp(ArpPacket.OpReply, PeerMac, PeerAddr, Mac, Addr));

    /// <summary>Sends an ICMP echo request from the stack (no sockets needed) and returns its IP send result.</summary>
    private static int StackPings(OneStack s, ushort seq, uint dst = 0)
    {
        lock (s.Net.SyncRoot)
        {
            Assert.Equal(0, Route.IpRouteOutput(s.Net, dst == 0 ? PeerAddr : dst, 0, out var rt));
            var skb = s.Net.SkbPool.AllocWithHeadroom()!;
            Pkt.EchoRequest(1, seq, [1, 2, 3, 4]).CopyTo(skb.Put(12));
            return IpOutput.IpQueueXmit(s.Net, skb, rt, rt.PrefSrc, dst == 0 ? PeerAddr : dst, IpProto.ICMP);
        }
    }

    private static Neighbour? Peer(OneStack s) => s.Net.Ipv4.Arp.NeighLookup(PeerAddr, s.Dev);

    private static void AssertProbe(byte[] frame, MacAddress ethDst)
    {
        var (eth, arp) = Pkt.ParseArp(frame);
        Assert.Equal(ethDst, eth.Destination);
        Assert.Equal(Mac, eth.Source);
        Assert.Equal(new ArpRepr(ArpPacket.OpRequest, Mac, Addr, MacAddress.Zero, PeerAddr), arp);
    }

    [Fact]
    public void GratuitousArp_IsSentWhenTheDeviceComesUp()
    {
        using var s = new OneStack(keepGratuitousArp: true);
        var (eth, arp) = Pkt.ParseArp(Assert.Single(s.Dev.TakeSent()));
        Assert.Equal((MacAddress.Broadcast, Mac), (eth.Destination, eth.Source));
        // inetdev_send_gratuitous_arp(): a request with sender = target = our address, target MAC zero.
        Assert.Equal(new ArpRepr(ArpPacket.OpRequest, Mac, Addr, MacAddress.Zero, Addr), arp);
    }

    [Fact]
    public void RequestForUs_IsAnsweredWithTheRightFields_AndTeachesUsTheSender()
    {
        using var s = new OneStack();
        s.Receive(RequestFrom(PeerMac, PeerAddr, Addr));
        var frame = Assert.Single(s.Dev.TakeSent());
        Assert.Equal(42, frame.Length);
        var (eth, arp) = Pkt.ParseArp(frame);
        Assert.Equal((PeerMac, Mac, EthP.ARP), (eth.Destination, eth.Source, eth.EtherType));
        Assert.Equal(new ArpRepr(ArpPacket.OpReply, Mac, Addr, PeerMac, PeerAddr), arp);
        var n = Peer(s);
        Assert.NotNull(n);
        Assert.Equal(PeerMac, n!.HaAddr);
        Assert.Equal(NudState.Stale, n.NudState); // neigh_event_ns: a request does not prove reachability
    }

    [Fact]
    public void UnicastRequestForUs_IsAnsweredToo()
    {
        using var s = new OneStack();
        s.Receive(RequestFrom(PeerMac, PeerAddr, Addr, ethDst: Mac)); // arping -u / a PROBE from Linux
        var (_, arp) = Pkt.ParseArp(Assert.Single(s.Dev.TakeSent()));
        Assert.Equal(ArpPacket.OpReply, arp.Operation);
    }

    [Fact]
    public void RequestForAnotherAddress_IsIgnored_NoReplyNoEntry()
    {
        using var s = new OneStack();
        var before = MibSnapshot.Take(s.Net);
        s.Receive(RequestFrom(PeerMac, PeerAddr, Other));
        Assert.Empty(s.Dev.Sent);
        Assert.Null(Peer(s));
        Assert.Equal(0, s.Net.Ipv4.Arp.Count);
        Assert.Equal(["Drops.ArpNotForUs=+1"], MibSnapshot.Delta(before, s.Net));
    }

    [Fact]
    public void SomebodyElsesGratuitousArp_CreatesNoEntry()
    {
        using var s = new OneStack();
        s.Receive(RequestFrom(PeerMac, PeerAddr, PeerAddr));
        Assert.Empty(s.Dev.Sent);
        Assert.Equal(0, s.Net.Ipv4.Arp.Count);
    }

    [Fact]
    public void UnsolicitedReply_CreatesNoEntry()
    {
        using var s = new OneStack();
        s.Receive(ReplyFromPeer());
        Assert.Equal(0, s.Net.Ipv4.Arp.Count); // arp_accept = 0
    }

    [Fact]
    public void DuplicateAddressProbe_ForOurAddress_IsAnswered_AndLearnsNothing()
    {
        using var s = new OneStack();
        s.Receive(RequestFrom(PeerMac, 0, Addr)); // RFC 5227 probe: sender IP 0
        var (eth, arp) = Pkt.ParseArp(Assert.Single(s.Dev.TakeSent()));
        Assert.Equal(ArpPacket.OpReply, arp.Operation);
        Assert.Equal(PeerMac, eth.Destination);
        Assert.Equal(0, s.Net.Ipv4.Arp.Count);
    }

    [Fact]
    public void Resolution_QueuesWhileIncomplete_SendsAllOnReply_AndConfirmsReachable()
    {
        using var s = new OneStack();
        for (ushort seq = 1; seq <= 3; seq++) Assert.Equal(0, StackPings(s, seq));
        // One broadcast who-has (not one per packet), nothing else yet.
        AssertProbe(Assert.Single(s.Dev.TakeSent()), MacAddress.Broadcast);
        Assert.Equal(NudState.Incomplete, Peer(s)!.NudState);

        s.Receive(ReplyFromPeer());
        var sent = s.Dev.TakeSent();
        Assert.Equal(3, sent.Count);
        for (int i = 0; i < 3; i++)
        {
            var (eth, ip, payload) = Pkt.ParseIp(sent[i]);
            Assert.Equal((PeerMac, Mac), (eth.Destination, eth.Source));
            Assert.Equal(PeerAddr, ip.Destination);
            Assert.Equal(i + 1, IcmpHeader.Create(payload).EchoSequence); // in the order they were sent
        }
        Assert.Equal(NudState.Reachable, Peer(s)!.NudState);
        Assert.Equal(PeerMac, Peer(s)!.HaAddr);
    }

    [Fact]
    public void BroadcastReply_ResolvesButDoesNotConfirm()
    {
        using var s = new OneStack();
        StackPings(s, 1);
        s.Dev.Sent.Clear();
        s.Receive(ReplyFromPeer(ethDst: MacAddress.Broadcast));
        Assert.Single(s.Dev.TakeSent()); // the queued packet left
        Assert.Equal(NudState.Stale, Peer(s)!.NudState);
    }

    [Fact]
    public void UnresQlenOverflow_DropsTheOldest_AndCountsIt()
    {
        using var s = new OneStack();
        // unres_qlen_bytes counts truesize: room for three frame-sized buffers.
        s.Net.Ipv4.Sysctl.Neigh.UnresQlenBytes = 3 * (SkBuffPool.DefaultBufferSize + Sock.SkbTruesizeOverhead);
        for (ushort seq = 1; seq <= 5; seq++) StackPings(s, seq);
        Assert.Equal(2, s.Net.Mib.Drops[SkbDropReason.NeighQueueFull]);
        Assert.Equal(2, s.Net.Mib.ArpCache[NeighStat.UnresDiscards]);
        s.Dev.Sent.Clear();
        s.Receive(ReplyFromPeer());
        var seqs = s.Dev.TakeSent().Select(f => (int)IcmpHeader.Create(Pkt.ParseIp(f).Payload).EchoSequence);
        Assert.Equal([3, 4, 5], seqs);
        Assert.Equal(s.Net.SkbPool.Total, s.Net.SkbPool.FreeCount);
    }

    [Fact]
    public void Unanswered_IncompleteFailsAfterMcastSolicitProbes_AndDropsTheQueue()
    {
        using var s = new OneStack();
        s.Net.Ipv4.Sysctl.Neigh.GcThresh1 = 0; // the periodic GC works on tables this small too
        StackPings(s, 1);
        StackPings(s, 2);
        s.RunFor(2_500);
        Assert.Equal(3, s.Dev.Sent.Count); // at 0, 1 and 2 s
        Assert.All(s.Dev.TakeSent(), f => AssertProbe(f, MacAddress.Broadcast));
        Assert.Equal(NudState.Incomplete, Peer(s)!.NudState);
        s.RunFor(1_000);
        Assert.Equal(NudState.Failed, Peer(s)!.NudState); // shown FAILED until the GC pass (base_reachable_time / 2)
        Assert.Empty(s.Dev.Sent);
        Assert.Equal(2, s.Net.Mib.Drops[SkbDropReason.NeighFailed]);
        s.RunFor(15_000);
        Assert.Null(Peer(s));
        Assert.Empty(s.Dev.Sent);
        Assert.Equal(s.Net.SkbPool.Total, s.Net.SkbPool.FreeCount);
    }

    [Fact]
    public void Reachable_BecomesStale_AfterBaseReachableTime()
    {
        using var s = new OneStack();
        StackPings(s, 1);
        s.Receive(ReplyFromPeer());
        s.Dev.Sent.Clear();
        s.RunFor(29_999);
        Assert.Equal(NudState.Reachable, Peer(s)!.NudState);
        s.RunFor(1);
        Assert.Equal(NudState.Stale, Peer(s)!.NudState);
        Assert.Empty(s.Dev.Sent); // aging alone sends nothing
    }

    [Fact]
    public void Reachable_UsedRecently_GoesToDelayNotStale()
    {
        using var s = new OneStack();
        StackPings(s, 1);
        s.Receive(ReplyFromPeer());
        s.RunFor(27_000);
        StackPings(s, 2); // used at 27 s, within delay_first_probe_time of the 30 s expiry
        s.Dev.Sent.Clear();
        s.RunFor(3_000);
        Assert.Equal(NudState.Delay, Peer(s)!.NudState);
        s.RunFor(5_000);
        Assert.Equal(NudState.Probe, Peer(s)!.NudState);
        AssertProbe(Assert.Single(s.Dev.TakeSent()), PeerMac);
    }

    [Fact]
    public void StaleInUse_Delay_Probe_Unicast_ThenFailedAndRemoved()
    {
        using var s = new OneStack();
        s.Net.Ipv4.Sysctl.Neigh.GcThresh1 = 0;
        s.LearnPeer(); // STALE
        Assert.Equal(NudState.Stale, Peer(s)!.NudState);

        Assert.Equal(0, StackPings(s, 1));
        // A STALE entry is still used at once (no waiting), and goes to DELAY.
        var (eth, _, _) = Pkt.ParseIp(Assert.Single(s.Dev.TakeSent()));
        Assert.Equal(PeerMac, eth.Destination);
        Assert.Equal(NudState.Delay, Peer(s)!.NudState);

        s.RunFor(4_999);
        Assert.Equal(NudState.Delay, Peer(s)!.NudState);
        Assert.Empty(s.Dev.Sent);
        s.RunFor(1);
        Assert.Equal(NudState.Probe, Peer(s)!.NudState);
        // PROBE asks the cached address directly (unicast), ucast_solicit times, retrans_time apart.
        AssertProbe(Assert.Single(s.Dev.TakeSent()), PeerMac);

        // Packets sent during PROBE still go out to the cached address.
        StackPings(s, 2);
        Assert.Equal(PeerMac, Pkt.ParseIp(Assert.Single(s.Dev.TakeSent())).Eth.Destination);

        s.RunFor(2_500);
        var probes = s.Dev.TakeSent();
        Assert.Equal(2, probes.Count);
        Assert.All(probes, f => AssertProbe(f, PeerMac));
        s.RunFor(1_000);
        Assert.Equal(NudState.Failed, Peer(s)!.NudState);
        s.RunFor(15_000);
        Assert.Null(Peer(s)); // FAILED and gone
        Assert.Empty(s.Dev.Sent);
    }

    [Fact]
    public void Probe_AnsweredByUnicastReply_ReturnsToReachable()
    {
        using var s = new OneStack();
        s.LearnPeer();
        StackPings(s, 1);
        s.RunFor(5_000);
        Assert.Equal(NudState.Probe, Peer(s)!.NudState);
        s.Receive(ReplyFromPeer());
        Assert.Equal(NudState.Reachable, Peer(s)!.NudState);
        s.RunFor(10_000);
        Assert.NotNull(Peer(s));
        Assert.Equal(NudState.Reachable, Peer(s)!.NudState);
    }

    [Fact]
    public void StaleUnused_IsGarbageCollected_AfterGcStaleTime()
    {
        using var s = new OneStack();
        s.Net.Ipv4.Sysctl.Neigh.GcThresh1 = 0;
        s.LearnPeer();
        s.RunFor(59_000);
        Assert.NotNull(Peer(s));
        s.RunFor(1_000);
        Assert.Null(Peer(s));
        Assert.Equal(1, s.Net.Mib.ArpCache[NeighStat.Destroys]);
    }

    [Fact]
    public void StaleUnused_BelowGcThresh1_IsKept()
    {
        // neigh_periodic_work() leaves a table with fewer than gc_thresh1 (128) entries alone.
        using var s = new OneStack();
        s.LearnPeer();
        s.RunFor(600_000);
        Assert.Equal(NudState.Stale, Peer(s)!.NudState);
        s.Net.Ipv4.Sysctl.Neigh.GcThresh1 = 1;
        s.RunFor(60_000);
        Assert.Null(Peer(s));
    }

    [Fact]
    public void NewMacFromARequestForUs_ReplacesTheOldOne()
    {
        using var s = new OneStack();
        s.LearnPeer();
        var moved = MacAddress.Parse("02:00:00:00:00:cc");
        s.RunFor(2_000);
        s.Receive(RequestFrom(moved, PeerAddr, Addr));
        Assert.Equal(moved, Peer(s)!.HaAddr);
        Assert.Equal(moved, Pkt.ParseArp(Assert.Single(s.Dev.TakeSent())).Eth.Destination);
    }

    [Fact]
    public void PermanentEntry_IsNeverProbedNorReplaced()
    {
        using var s = new OneStack();
        s.Net.Ipv4.Arp.AddPermanent(PeerAddr, s.Dev, PeerMac);
        StackPings(s, 1);
        Assert.Equal(PeerMac, Pkt.ParseIp(Assert.Single(s.Dev.TakeSent())).Eth.Destination);
        s.Receive(RequestFrom(MacAddress.Parse("02:00:00:00:00:cc"), PeerAddr, Addr));
        s.Dev.Sent.Clear();
        s.RunFor(120_000);
        Assert.Empty(s.Dev.Sent);
        Assert.Equal((NudState.Permanent, PeerMac), (Peer(s)!.NudState, Peer(s)!.HaAddr));
    }
}
