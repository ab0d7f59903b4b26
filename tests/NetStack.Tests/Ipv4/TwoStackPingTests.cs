using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Wire;

namespace NetStack.Tests.Ipv4;

public class TwoStackPingTests
{
    /// <summary>Sends an ICMP echo request from <paramref name="from"/> with the raw IP path (no sockets needed).</summary>
    internal static void SendEcho(NetNamespace from, uint daddr, ushort id, ushort seq, int payload = 56)
    {
        lock (from.SyncRoot)
        {
            Assert.Equal(0, Route.IpRouteOutput(from, daddr, 0, out var rt));
            var skb = from.SkbPool.AllocWithHeadroom()!;
            var msg = skb.Put(IcmpHeader.Length + payload);
            var h = IcmpHeader.Create(msg);
            h.Type = IcmpType.Echo;
            h.Code = 0;
            h.EchoId = id;
            h.EchoSequence = seq;
            for (int i = 0; i < payload; i++) msg[IcmpHeader.Length + i] = (byte)i;
            h.FillChecksum();
            Assert.Equal(0, IpOutput.IpQueueXmit(from, skb, rt, rt.PrefSrc, daddr, IpProto.ICMP));
        }
    }

    [Fact]
    public void Echo_ResolvesArpThenGetsReply()
    {
        using var s = new TwoStacks();
        s.Pump(); // gratuitous ARPs
        SendEcho(s.A, TwoStacks.AddrB, 0x1234, 1);
        s.Pump();
        Assert.Equal(1, s.B.Mib.Icmp[IcmpMib.InEchos]);
        Assert.Equal(1, s.B.Mib.Icmp[IcmpMib.OutEchoReps]);
        Assert.Equal(1, s.A.Mib.Icmp[IcmpMib.InEchoReps]);
        var n = s.A.Ipv4.Arp.NeighLookup(TwoStacks.AddrB, s.Link.A);
        Assert.NotNull(n);
        Assert.Equal(TwoStacks.MacB, n!.HaAddr);
        Assert.Equal(NudState.Reachable, n.NudState);
        // B learned A from A's request (STALE, as neigh_event_ns does).
        var m = s.B.Ipv4.Arp.NeighLookup(TwoStacks.AddrA, s.Link.B);
        Assert.NotNull(m);
        Assert.Equal(TwoStacks.MacA, m!.HaAddr);
    }

    [Fact]
    public void ManyEchoes_AllAnswered()
    {
        using var s = new TwoStacks();
        for (ushort i = 0; i < 500; i++)
        {
            SendEcho(s.A, TwoStacks.AddrB, 7, i);
            s.Pump();
        }
        Assert.Equal(500, s.A.Mib.Icmp[IcmpMib.InEchoReps]);
        Assert.Equal(500, s.B.Mib.Icmp[IcmpMib.OutEchoReps]);
    }

    [Fact]
    public void UnresolvedNeighbour_FailsAfterThreeProbes_AndDropsQueued()
    {
        using var s = new TwoStacks();
        s.A.Ipv4.Sysctl.Neigh.GcThresh1 = 0; // let the periodic GC remove the FAILED entry from a small table
        uint nobody = Ipv4Address.Parse("10.9.0.77");
        SendEcho(s.A, nobody, 1, 1);
        SendEcho(s.A, nobody, 1, 2);
        s.RunFor(5_000);
        Assert.Equal(NudState.Failed, s.A.Ipv4.Arp.NeighLookup(nobody, s.Link.A)!.NudState); // shown FAILED until the GC pass
        Assert.Equal(2, s.A.Mib.Drops[SkbDropReason.NeighFailed]);
        s.RunFor(20_000);
        Assert.Null(s.A.Ipv4.Arp.NeighLookup(nobody, s.Link.A));
    }
}
