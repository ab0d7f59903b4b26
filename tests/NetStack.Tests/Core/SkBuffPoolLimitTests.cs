using NetStack.Api;
using NetStack.Core;
using NetStack.Drivers;
using NetStack.Ipv4;
using NetStack.Tests.Ipv4;

namespace NetStack.Tests.Core;

/// <summary>
/// An exhausted buffer pool: the receive path drops the frame and counts it (rx_dropped, the
/// NoBuffers drop reason, the pool's AllocFailures), the link does not stall, and it recovers.
/// </summary>
public class SkBuffPoolLimitTests
{
    [Fact]
    public void ExhaustedPool_DropsAndCountsReceivedFrames_ThenRecovers()
    {
        var clock = new VirtualClock(); // time stands still: no timer runs
        var link = new MemoryLink(TwoStacks.MacA, TwoStacks.MacB);
        using var a = new NetNamespace("a", clock);
        using var b = new NetNamespace("b", clock, new SkBuffPool(prealloc: 8, maxBuffers: 8));
        a.AddDevice(link.A, TwoStacks.AddrA, 24);
        b.AddDevice(link.B, TwoStacks.AddrB, 24);
        int Pump() { int t = 0, n; do { n = a.Poll() + b.Poll(); t += n; } while (n > 0); return t; }
        Pump();
        TwoStackPingTests.SendEcho(a, TwoStacks.AddrB, 7, 0); // both learn each other's address
        Pump();
        Assert.Equal(1, b.Mib.Icmp[IcmpMib.OutEchoReps]);

        // Somebody holds every buffer of B's pool, those waiting in its softirq cache included.
        var held = new List<SkBuff>();
        while (b.SkbPool.Alloc() is { } skb) held.Add(skb);
        while (b.SkbCache.Count > 0) held.Add(b.SkbCache.Get()!);
        Assert.Equal(8, held.Count);
        long failuresBefore = b.SkbPool.AllocFailures;

        for (ushort seq = 1; seq <= 3; seq++) TwoStackPingTests.SendEcho(a, TwoStacks.AddrB, 7, seq);
        Pump();
        Assert.Equal(1, b.Mib.Icmp[IcmpMib.InEchos]);        // only the first one
        Assert.Equal(0, link.B.PendingRx);                  // dropped, not stuck at the head of the ring
        Assert.Equal(3, link.B.Stats.RxDropped);
        Assert.Equal(3, b.Mib.Drops[SkbDropReason.NoBuffers]);
        Assert.Equal(failuresBefore + 3, b.SkbPool.AllocFailures);
        var pool = NetStackInfo.GetCounterTables(b).Single(t => t.Name == "SkbPool").Counters.ToDictionary();
        Assert.Equal(b.SkbPool.AllocFailures, pool["AllocFailures"]);
        Assert.Equal(8, pool["MaxBuffers"]);
        Assert.Equal(0, pool["FreeBuffers"]);

        foreach (var skb in held) skb.Free();
        TwoStackPingTests.SendEcho(a, TwoStacks.AddrB, 7, 4);
        Pump();
        Assert.Equal(2, b.Mib.Icmp[IcmpMib.OutEchoReps]);
        Assert.Equal(2, a.Mib.Icmp[IcmpMib.InEchoReps]);
        Assert.Equal(b.SkbPool.Total, b.SkbPool.FreeCount);
    }
}
