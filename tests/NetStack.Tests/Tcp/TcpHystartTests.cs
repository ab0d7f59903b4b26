using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;
using Xunit.Abstractions;

namespace NetStack.Tests.Tcp;

/// <summary>
/// HyStart (CUBIC's hybrid slow start, tcp_cubic.c): over a bottleneck with a queue deeper than
/// slow start's overshoot, slow start ends by ACK-train or delay detection before any loss.
/// Virtual time: 50 Mbit/s, 40 ms RTT, a 2000-packet drop-tail queue.
/// </summary>
public class TcpHystartTests(ITestOutputHelper output)
{
    /// <summary>What happened at the end of slow start and at the first drop at the bottleneck.</summary>
    private sealed record Result(long Got, uint SsthreshAtExit, long DropsAtExit, long RetransAtExit,
        bool SlowStartAtFirstDrop, long HystartAtFirstDrop, long Train, long TrainCwnd, long Delay, long DelayCwnd, long Drops);

    /// <summary>50 Mbit/s, 40 ms RTT (a BDP of 165 packets), a 1000-packet drop-tail queue: deep
    /// enough for HyStart's exit, shallower than slow start's overshoot without it.</summary>
    private static Result Run(int hystart, int detect = TcpCubic.HystartAckTrain | TcpCubic.HystartDelay, long size = 30 << 20)
    {
        using var s = new LinkStacks(rateBps: 50_000_000, rttMs: 40, limit: 1000);
        Assert.Equal(0, s.A.Sysctl.TrySet("sys.module.tcp_cubic.parameters.hystart", hystart.ToString()));
        Assert.Equal(0, s.A.Sysctl.TrySet("sys.module.tcp_cubic.parameters.hystart_detect", detect.ToString()));
        var (_, cfd, afd) = s.Connect();
        var tp = (TcpSock)s.A.Files.Lookup(cfd)!.Sk!;
        Assert.Equal("cubic", tp.CaOps.Name);
        var m = s.A.Mib.TcpExt;
        uint ssthreshAtExit = TcpCong.InfiniteSsthresh;
        long dropsAtExit = -1, retransAtExit = -1, hystartAtFirstDrop = -1;
        bool? slowStartAtFirstDrop = null;
        long got = s.Transfer(cfd, afd, size, 120_000, () =>
        {
            if (ssthreshAtExit == TcpCong.InfiniteSsthresh && tp.SndSsthresh != TcpCong.InfiniteSsthresh)
            {
                ssthreshAtExit = tp.SndSsthresh;
                dropsAtExit = s.AtoB.Drops;
                retransAtExit = s.A.Mib.Tcp[TcpMib.RetransSegs];
            }
            if (slowStartAtFirstDrop is null && s.AtoB.Drops > 0)
            {
                slowStartAtFirstDrop = tp.SndSsthresh == TcpCong.InfiniteSsthresh;
                hystartAtFirstDrop = m[LinuxMib.TCPHystartTrainDetect] + m[LinuxMib.TCPHystartDelayDetect];
            }
        });
        return new Result(got, ssthreshAtExit, dropsAtExit, retransAtExit, slowStartAtFirstDrop ?? false, hystartAtFirstDrop,
            m[LinuxMib.TCPHystartTrainDetect], m[LinuxMib.TCPHystartTrainCwnd], m[LinuxMib.TCPHystartDelayDetect], m[LinuxMib.TCPHystartDelayCwnd], s.AtoB.Drops);
    }

    [Fact]
    public void DeepQueue_SlowStartEndsBeforeTheFirstLoss()
    {
        var r = Run(hystart: 1);
        output.WriteLine(r.ToString());
        Assert.Equal(30L << 20, r.Got);
        Assert.True(r.SsthreshAtExit < TcpCong.InfiniteSsthresh, "HyStart must set ssthresh");
        Assert.Equal(1, r.Train + r.Delay); // one slow start, one exit
        Assert.Equal(r.SsthreshAtExit, (uint)(r.TrainCwnd + r.DelayCwnd)); // TCPHystart*Cwnd add the cwnd at the exit, which becomes ssthresh
        Assert.Equal(0, r.DropsAtExit);
        Assert.Equal(0, r.RetransAtExit);
        // Later, CUBIC's own growth may fill the queue: that loss comes after slow start.
        if (r.Drops > 0) Assert.Equal(1, r.HystartAtFirstDrop);
    }

    [Fact]
    public void DelayDetectionAlone_AlsoEndsSlowStartWithoutLoss()
    {
        var r = Run(hystart: 1, detect: TcpCubic.HystartDelay);
        output.WriteLine(r.ToString());
        Assert.Equal(30L << 20, r.Got);
        Assert.Equal(0, r.Train);
        Assert.Equal(1, r.Delay);
        Assert.Equal(0, r.DropsAtExit);
        Assert.Equal(0, r.RetransAtExit);
    }

    [Fact]
    public void WithoutHystart_SlowStartRunsIntoTheQueueLimit()
    {
        var r = Run(hystart: 0);
        output.WriteLine(r.ToString());
        Assert.Equal(30L << 20, r.Got);
        Assert.Equal(0, r.Train + r.Delay);
        Assert.True(r.SlowStartAtFirstDrop, "without HyStart slow start ends with a loss: " + r);
    }

    [Fact]
    public void ModuleParameters_AreSysctlsWithLinuxDefaults()
    {
        using var net = new NetNamespace();
        foreach (var (name, value) in new[] { ("hystart", "1"), ("hystart_detect", "3"), ("hystart_low_window", "16"), ("hystart_ack_delta_us", "2000"),
                     ("fast_convergence", "1"), ("tcp_friendliness", "1"), ("initial_ssthresh", "0") })
        {
            Assert.True(net.Sysctl.TryGet("sys.module.tcp_cubic.parameters." + name, out var v), name);
            Assert.Equal(value, v);
        }
        Assert.Equal(0, net.Sysctl.TrySet("sys/module/tcp_cubic/parameters/hystart_low_window", "32"));
        Assert.Equal(32, net.Ipv4.CubicParams.HystartLowWindow);
    }
}
