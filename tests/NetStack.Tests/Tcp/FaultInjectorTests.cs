using NetStack.Core;
using NetStack.Drivers;
using NetStack.Tests.Ipv4;

namespace NetStack.Tests.Tcp;

public class FaultInjectorTests
{
    [Fact]
    public void Parse_FullSpec()
    {
        var s = FaultSpec.Parse("loss=5%,dup=1%,reorder=2%,corrupt=0.1%,delay=2ms,seed=42");
        Assert.Equal(0.05, s.Loss, 9);
        Assert.Equal(0.01, s.Duplicate, 9);
        Assert.Equal(0.02, s.Reorder, 9);
        Assert.Equal(0.001, s.Corrupt, 9);
        Assert.Equal(Time.Ms(2), s.DelayNs);
        Assert.Equal(42, s.Seed);
        Assert.Equal(FaultDirection.Both, s.Direction);
        Assert.Equal(s, FaultSpec.Parse(s.ToString()));
    }

    [Fact]
    public void Parse_Subset_AndUnits()
    {
        var s = FaultSpec.Parse(" delay=500us , dir=tx ");
        Assert.Equal(500_000, s.DelayNs);
        Assert.Equal(0, s.Loss);
        Assert.Equal(FaultDirection.Transmit, s.Direction);
        Assert.Equal(Time.Sec(1), FaultSpec.Parse("delay=1s").DelayNs);
    }

    [Theory]
    [InlineData("loss=abc", "loss")]
    [InlineData("loss=150%", "loss")]
    [InlineData("jitter=1ms", "unknown fault 'jitter'")]
    [InlineData("loss", "not key=value")]
    [InlineData("delay=-1ms", "delay")]
    [InlineData("seed=x", "seed")]
    [InlineData("dir=up", "dir")]
    [InlineData("", "empty")]
    public void Parse_BadSpec_ClearError(string spec, string mention)
    {
        Assert.False(FaultSpec.TryParse(spec, out _, out var error));
        Assert.Contains(mention, error);
        Assert.Throws<FormatException>(() => FaultSpec.Parse(spec));
    }

    [Fact]
    public void LossAll_DropsEveryFrame_CountedAsFaultInjected()
    {
        using var s = new TwoStacks();
        s.Pump();
        FaultInjector f;
        lock (s.A.SyncRoot) f = FaultInjector.Attach(s.Link.A, "loss=100%,dir=tx");
        TwoStackPingTests.SendEcho(s.A, TwoStacks.AddrB, 1, 1);
        s.Pump();
        Assert.Equal(0, s.B.Mib.Icmp[IcmpMib.InEchos]);
        Assert.True(f.Dropped >= 1);
        Assert.Equal(f.Dropped, s.A.Mib.Drops[SkbDropReason.FaultInjected]);
    }

    [Fact]
    public void Delay_HoldsFramesUntilVirtualTimePasses()
    {
        using var s = new TwoStacks();
        s.RunFor(10); // gratuitous ARPs, learn nothing else
        // A knows B's MAC after one exchange; then delay only.
        TwoStackPingTests.SendEcho(s.A, TwoStacks.AddrB, 1, 1);
        s.Pump();
        Assert.Equal(1, s.A.Mib.Icmp[IcmpMib.InEchoReps]);
        FaultInjector f;
        lock (s.A.SyncRoot) f = FaultInjector.Attach(s.Link.A, "delay=5ms,dir=tx");
        TwoStackPingTests.SendEcho(s.A, TwoStacks.AddrB, 1, 2);
        s.Pump();
        Assert.Equal(1, s.B.Mib.Icmp[IcmpMib.InEchos]);
        Assert.Equal(1, f.Held);
        s.Clock.AdvanceMs(4);
        s.Pump();
        Assert.Equal(1, s.B.Mib.Icmp[IcmpMib.InEchos]);
        s.Clock.AdvanceMs(1);
        s.Pump();
        Assert.Equal(2, s.B.Mib.Icmp[IcmpMib.InEchos]);
        Assert.Equal(2, s.A.Mib.Icmp[IcmpMib.InEchoReps]);
        Assert.Equal(1, f.Delayed);
        Assert.Equal(0, f.Held);
    }

    [Fact]
    public void DuplicateAll_OnReceive_DeliversTwice()
    {
        using var s = new TwoStacks();
        s.Pump();
        FaultInjector f;
        lock (s.B.SyncRoot) f = FaultInjector.Attach(s.Link.B, "dup=100%,dir=rx");
        TwoStackPingTests.SendEcho(s.A, TwoStacks.AddrB, 1, 1);
        s.Pump();
        Assert.Equal(2, s.B.Mib.Icmp[IcmpMib.InEchos]);
        Assert.Equal(2, s.A.Mib.Icmp[IcmpMib.InEchoReps]);
    }

    [Fact]
    public void CorruptAll_ChecksumsCatchEveryFrame()
    {
        using var s = new TwoStacks();
        s.Pump();
        TwoStackPingTests.SendEcho(s.A, TwoStacks.AddrB, 1, 1);
        s.Pump();
        FaultInjector f;
        lock (s.A.SyncRoot) f = FaultInjector.Attach(s.Link.A, "corrupt=100%,dir=tx,seed=7");
        for (ushort i = 0; i < 50; i++)
        {
            TwoStackPingTests.SendEcho(s.A, TwoStacks.AddrB, 1, (ushort)(i + 2));
            s.Pump();
        }
        Assert.Equal(50, f.Corrupted);
        // No corrupted echo may be answered as if it were intact.
        Assert.Equal(1, s.B.Mib.Icmp[IcmpMib.OutEchoReps]);
    }

    [Fact]
    public void ReorderAll_ReleasesAfterHold()
    {
        using var s = new TwoStacks();
        s.Pump();
        TwoStackPingTests.SendEcho(s.A, TwoStacks.AddrB, 1, 1);
        s.Pump();
        FaultInjector f;
        lock (s.A.SyncRoot) f = FaultInjector.Attach(s.Link.A, "reorder=100%,hold=3ms,dir=tx");
        TwoStackPingTests.SendEcho(s.A, TwoStacks.AddrB, 1, 2);
        s.Pump();
        Assert.Equal(1, s.B.Mib.Icmp[IcmpMib.InEchos]);
        s.RunFor(3);
        Assert.Equal(2, s.B.Mib.Icmp[IcmpMib.InEchos]);
        Assert.Equal(1, f.Reordered);
    }

    [Fact]
    public void SameSeed_SameDecisions()
    {
        long[] Run(int seed)
        {
            using var s = new TwoStacks();
            s.Pump();
            FaultInjector f;
            lock (s.A.SyncRoot) f = FaultInjector.Attach(s.Link.A, $"loss=20%,dup=10%,corrupt=10%,reorder=10%,seed={seed}");
            for (ushort i = 0; i < 200; i++) { TwoStackPingTests.SendEcho(s.A, TwoStacks.AddrB, 1, i); s.RunFor(1); }
            s.RunFor(100);
            return new[] { f.Dropped, f.Duplicated, f.Corrupted, f.Reordered, s.A.Mib.Icmp[IcmpMib.InEchoReps] };
        }
        Assert.Equal(Run(3), Run(3));
        Assert.NotEqual(Run(3), Run(4));
    }
}
