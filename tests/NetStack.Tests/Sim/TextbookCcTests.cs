using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Sim;
using Xunit.Abstractions;

namespace NetStack.Tests.Sim;

/// <summary>
/// Textbook results of the newer congestion controls, reproduced in the simulator: HyStart ends
/// CUBIC's slow start before the first loss on a deep queue; BBR keeps a deep queue near empty where
/// CUBIC fills it, and its bandwidth estimate is the bottleneck's rate; DCTCP over a queue that marks CE
/// above K packets keeps the queue near K and loses nothing. Each has its contrast (no HyStart, CUBIC,
/// drop-tail without marking). Deterministic (virtual time, fixed seeds); tolerances are stated with each
/// test and the measured values written to the test output.
/// </summary>
public class TextbookCcTests(ITestOutputHelper output)
{
    /// <summary>Ethernet (14), IPv4 (20) and TCP with timestamps (32): a frame is MSS + 66 bytes.</summary>
    private const int FrameOverhead = 66;

    private (Simulator Sim, SimResults Results) Run(string json, Action<Simulator>? onSample = null)
    {
        var sim = new Simulator(Scenario.Parse(json));
        if (onSample is not null) sim.Sampled += onSample;
        var r = sim.RunAll();
        output.WriteLine($"{sim.Scenario.Name}: simulated {sim.Scenario.DurationNs / 1e9:0.#} s in {r.WallSeconds:0.###} s ({r.CpuSeconds:0.###} s CPU): speed-up {r.SpeedUp:0.#}x, {r.Events} events");
        return (sim, r);
    }

    /// <summary>The data sender's socket of flow <paramref name="id"/> (null once closed).</summary>
    private static TcpSock? SenderSock(Simulator sim, int id)
    {
        var f = sim.Flows[id];
        return f.SampledFd >= 0 ? f.SampledHost.Files.Lookup(f.SampledFd)?.Sk as TcpSock : null;
    }

    // ---------------------------------------------------------------- HyStart

    /// <summary>
    /// 50 Mbit/s, 40 ms base RTT (a BDP of 165 packets), a 1000-packet drop-tail queue: deeper than
    /// HyStart needs to see the delay rise, shallower than slow start's overshoot without it (which
    /// doubles the window past BDP + 1000). The flow uses the namespace's default, CUBIC with HyStart on
    /// as in Linux; the contrast turns the module parameter off.
    /// </summary>
    private static string HystartScenario(bool hystart) => $$"""
        // One CUBIC flow, 50 Mbit/s bottleneck, 40 ms base RTT, a 1000-packet drop-tail queue{{(hystart ? "; HyStart as by default" : "; HyStart off")}}.
        { "name": "{{(hystart ? "hystart" : "no-hystart")}}", "duration": "6s", "sample_interval": "1ms",
          {{(hystart ? "" : "\"sysctl\": { \"sys.module.tcp_cubic.parameters.hystart\": 0 },")}}
          "hosts": [ { "name": "a", "link": { "rate": "1Gbit", "delay": "10ms" } },
                     { "name": "b", "link": { "delay": "10ms", "down": { "rate": "50Mbit", "queue": { "type": "droptail", "packets": 1000 } } } } ],
          "flows": [ { "name": "cubic", "from": "a", "to": "b" } ] }
        """;

    /// <summary>The first sample out of slow start (ssthresh no longer infinite).</summary>
    private static int SlowStartExit(List<FlowSample> s) => s.FindIndex(x => x.Ssthresh >= 0);

    [Fact]
    public void Hystart_LeavesSlowStartBeforeTheFirstLoss_OnADeepQueue()
    {
        var (sim, r) = Run(HystartScenario(hystart: true));
        using var _ = sim;
        Assert.Equal("cubic", r.Summaries()[0].Cc); // the default, as Linux's
        var s = r.FlowSeries[0];
        var m = sim.Hosts[0].Net.Mib.TcpExt;
        long train = m[LinuxMib.TCPHystartTrainDetect], delay = m[LinuxMib.TCPHystartDelayDetect];
        int exit = SlowStartExit(s);
        Assert.True(exit > 0, "slow start never ended");
        var e = s[exit];
        int firstDrop = s.FindIndex(x => x.FlowDrops > 0);
        output.WriteLine($"slow start ends at {e.TimeS:0.000} s: ssthresh {e.Ssthresh}, cwnd {e.Cwnd}, queue {e.QueuePkts} packets ({e.QueueDelayMs:0.0} ms), " +
                         $"drops {e.FlowDrops}, retransmissions {e.TotalRetrans}, ca_state {e.CaState}; HyStart train {train} (cwnd {m[LinuxMib.TCPHystartTrainCwnd]}), " +
                         $"delay {delay} (cwnd {m[LinuxMib.TCPHystartDelayCwnd]}); first drop {(firstDrop < 0 ? "none" : $"at {s[firstDrop].TimeS:0.000} s")}; " +
                         $"{s[^1].FlowDrops} drops, {s[^1].TotalRetrans} retransmissions in all");
        // One slow start, ended once by HyStart (ACK train or delay), with ssthresh the cwnd at the exit.
        Assert.Equal(1, train + delay);
        Assert.Equal(e.Ssthresh, m[LinuxMib.TCPHystartTrainCwnd] + m[LinuxMib.TCPHystartDelayCwnd]);
        // Nothing was lost or retransmitted up to the exit, and the exit was not a loss response.
        Assert.Equal(0, e.FlowDrops);
        Assert.Equal(0, e.QueueDrops);
        Assert.Equal(0, e.TotalRetrans);
        Assert.Equal(0, e.CaState);
        Assert.True(e.QueuePkts < 1000, "the queue was not full");
        // Later, CUBIC's own growth may fill the queue: that loss comes after slow start.
        Assert.True(firstDrop < 0 || firstDrop > exit);
    }

    [Fact]
    public void WithoutHystart_SlowStartRunsIntoTheQueueLimit_AndLoses()
    {
        var (sim, r) = Run(HystartScenario(hystart: false));
        using var _ = sim;
        var s = r.FlowSeries[0];
        var m = sim.Hosts[0].Net.Mib.TcpExt;
        int exit = SlowStartExit(s);
        Assert.True(exit > 0, "slow start never ended");
        var e = s[exit];
        int firstDrop = s.FindIndex(x => x.FlowDrops > 0);
        output.WriteLine($"slow start ends at {e.TimeS:0.000} s: ssthresh {e.Ssthresh}, cwnd {e.Cwnd} (peak {s[exit - 1].Cwnd}), queue {e.QueuePkts} packets, " +
                         $"drops {e.FlowDrops}, ca_state {e.CaState}; first drop at {s[firstDrop].TimeS:0.000} s; {s[^1].FlowDrops} drops, {s[^1].TotalRetrans} retransmissions in all");
        Assert.Equal(0, m[LinuxMib.TCPHystartTrainDetect] + m[LinuxMib.TCPHystartDelayDetect]);
        // Slow start ended by a loss: the queue overflowed before ssthresh was set, and the exit is a recovery.
        Assert.True(firstDrop >= 0 && firstDrop <= exit, "the first drop comes before the end of slow start");
        Assert.True(e.FlowDrops > 0);
        Assert.True(e.CaState >= 3, $"ca_state {e.CaState}: Recovery or Loss");
        // The window that overflowed it held the path: more than BDP (165) + the queue (1000) in flight.
        Assert.True(s[exit - 1].Cwnd > 165 + 1000, $"cwnd {s[exit - 1].Cwnd} at the loss");
    }

    // ---------------------------------------------------------------- BBR

    /// <summary>20 Mbit/s, 40 ms base RTT (a BDP of 66 packets), a 2000-packet drop-tail queue (30 BDPs): bufferbloat.</summary>
    private static string DeepBuffer(string cc) => $$"""
        // One {{cc}} flow, 20 Mbit/s bottleneck, 40 ms base RTT, a 2000-packet drop-tail queue (1.2 s at 20 Mbit/s).
        { "name": "deep-{{cc}}", "duration": "20s", "sample_interval": "10ms",
          "hosts": [ { "name": "a", "link": { "rate": "1Gbit", "delay": "10ms" } },
                     { "name": "b", "link": { "delay": "10ms", "down": { "rate": "20Mbit", "queue": { "type": "droptail", "packets": 2000 } } } } ],
          "flows": [ { "name": "{{cc}}", "from": "a", "to": "b", "cc": "{{cc}}" } ] }
        """;

    private const double BbrRateBps = 20e6, BbrBaseRttMs = 40;
    /// <summary>After startup, drain and the first round of probing.</summary>
    private const double SteadyFromS = 3;

    [Fact]
    public void Bbr_KeepsADeepQueueNearEmpty_WhereCubicFillsIt_AndEstimatesTheBottleneckRate()
    {
        // BBR's own estimates, read at every sample (tcp_bbr.c: bbr_bw() and min_rtt_us, as bbr_get_info() reports them).
        var est = new List<(double TimeS, double BwBps, double MinRttMs, TcpBbr.Mode Mode)>();
        var (bbrSim, bbr) = Run(DeepBuffer("bbr"), sim =>
        {
            if (SenderSock(sim, 0) is { } tp && tp.CaOps.Name == "bbr")
                est.Add((sim.Now / 1e9, TcpBbr.BwBytesPerSec(tp) * 8.0, TcpBbr.Ca(tp).MinRttUs / 1000.0, TcpBbr.CurrentMode(tp)));
        });
        using var _b = bbrSim;
        var (cubicSim, cubic) = Run(DeepBuffer("cubic"));
        using var _c = cubicSim;

        var sb = bbr.FlowSeries[0].Where(x => x.TimeS >= SteadyFromS).ToList();
        var sc = cubic.FlowSeries[0].Where(x => x.TimeS >= SteadyFromS).ToList();
        // The queue delay measured at the bottleneck: the mean sojourn of the frames that left it, per sample.
        double qdBbr = sb.Average(x => x.QueueDelayMs), qdCubic = sc.Average(x => x.QueueDelayMs);
        double qBbr = sb.Average(x => x.QueuePkts), qCubic = sc.Average(x => x.QueuePkts);
        double gBbr = sb.Average(x => x.GoodputMbps), gCubic = sc.Average(x => x.GoodputMbps);
        int mss = bbrSim.Flows[0].LastInfo!.Value.SendMss;
        double payloadBps = BbrRateBps * mss / (mss + FrameOverhead);
        var steady = est.Where(x => x.TimeS >= SteadyFromS).ToList();
        double bwMin = steady.Min(x => x.BwBps), bwMax = steady.Max(x => x.BwBps), bwMean = steady.Average(x => x.BwBps);
        var modes = est.Select(x => x.Mode).Aggregate(new List<TcpBbr.Mode>(), (l, m) => { if (l.Count == 0 || l[^1] != m) l.Add(m); return l; });
        output.WriteLine($"after {SteadyFromS} s: mean queue delay BBR {qdBbr:0.00} ms ({qBbr:0.0} packets, max {sb.Max(x => x.QueuePkts)}), " +
                         $"CUBIC {qdCubic:0.0} ms ({qCubic:0.0} packets, max {sc.Max(x => x.QueuePkts)}); base RTT {BbrBaseRttMs} ms");
        output.WriteLine($"goodput BBR {gBbr:0.000} CUBIC {gCubic:0.000} Mbit/s; drops BBR {bbr.FlowSeries[0][^1].FlowDrops} CUBIC {cubic.FlowSeries[0][^1].FlowDrops}; " +
                         $"mean srtt BBR {sb.Average(x => x.SrttMs):0.0} CUBIC {sc.Average(x => x.SrttMs):0.0} ms");
        output.WriteLine($"BBR bw estimate {bwMin / 1e6:0.000}..{bwMax / 1e6:0.000} Mbit/s (mean {bwMean / 1e6:0.000}, {100 * (bwMean / payloadBps - 1):+0.00;-0.00}%) over {steady.Count} samples; " +
                         $"bottleneck payload rate {payloadBps / 1e6:0.000} Mbit/s (MSS {mss}); min_rtt {steady[^1].MinRttMs:0.000} ms; modes {string.Join(" -> ", modes)}");

        // CUBIC fills the deep queue: its mean queue delay is more than four base RTTs (Tolerance: CUBIC's
        // sawtooth spans the 2000-packet queue; the bound is a quarter of a full queue's 1.2 s).
        Assert.True(qdCubic > 4 * BbrBaseRttMs, $"CUBIC's mean queue delay {qdCubic:0.0} ms");
        // BBR keeps it near empty: below a quarter of the base RTT (its PROBE_BW phase at gain 5/4 queues a
        // quarter of a BDP for one RTT in eight, the 3/4 phase drains it), and below a tenth of CUBIC's.
        Assert.True(qdBbr < BbrBaseRttMs / 4, $"BBR's mean queue delay {qdBbr:0.00} ms");
        Assert.True(qdBbr * 10 < qdCubic);
        Assert.Equal(0, bbr.FlowSeries[0][^1].FlowDrops);
        // Both keep the link busy: the low queue costs BBR no throughput (within 5% of the payload rate).
        Assert.InRange(gBbr * 1e6, 0.95 * payloadBps, 1.01 * payloadBps);
        // BBR's bandwidth estimate (its windowed max of delivery-rate samples) stays within 10% of the
        // bottleneck's payload rate at every sample after startup.
        Assert.InRange(bwMin, 0.9 * payloadBps, 1.1 * payloadBps);
        Assert.InRange(bwMax, 0.9 * payloadBps, 1.1 * payloadBps);
        // Its min_rtt filter finds the base RTT (plus a frame's serialization, 0.6 ms): within 10%.
        Assert.InRange(steady[^1].MinRttMs, BbrBaseRttMs, 1.1 * BbrBaseRttMs);
        Assert.Equal([TcpBbr.Mode.Startup, TcpBbr.Mode.Drain, TcpBbr.Mode.ProbeBw], modes.Take(3));
        // The flow's time series carries the same estimate through the public path (TCP_CC_INFO, bbr_bw_mbps).
        Assert.All(sb, x => Assert.InRange(x.BbrBandwidthMbps * 1e6, 0.9 * payloadBps, 1.1 * payloadBps));
        Assert.InRange(sb[^1].BbrMinRttMs, BbrBaseRttMs, 1.1 * BbrBaseRttMs);
        Assert.All(sc, x => Assert.Equal(0, x.BbrBandwidthMbps)); // CUBIC has no BBR block
    }

    // ---------------------------------------------------------------- DCTCP

    private const int K = 20;

    /// <summary>
    /// 50 Mbit/s, 20 ms base RTT (a BDP of 83 packets), a 200-packet queue (2.4 BDPs) that marks CE above
    /// K = 20 packets (RFC 8257's step marking), or, as the contrast, the same queue drop-tail only.
    /// </summary>
    private static string DctcpScenario(bool marking)
    {
        string queue = marking ? $$"""{ "type": "step", "k": {{K}}, "packets": 200 }""" : """{ "type": "droptail", "packets": 200 }""";
        return $$"""
        // One DCTCP flow, 50 Mbit/s bottleneck, 20 ms base RTT, a 200-packet queue {{(marking ? $"marking CE above K = {K} packets" : "without marking")}}.
        { "name": "dctcp-{{(marking ? "step" : "droptail")}}", "duration": "10s", "sample_interval": "1ms",
          "sysctl": { "net.ipv4.tcp_congestion_control": "dctcp" },
          "hosts": [ { "name": "a", "link": { "rate": "1Gbit", "delay": "5ms" } },
                     { "name": "b", "link": { "delay": "5ms", "down": { "rate": "50Mbit", "queue": {{queue}} } } } ],
          "flows": [ { "name": "dctcp", "from": "a", "to": "b", "cc": "dctcp" } ] }
        """;
    }

    [Fact]
    public void Dctcp_WithStepMarking_KeepsTheQueueNearK_WithoutLoss_WhereDropTailLoses()
    {
        var alphas = new List<double>();
        var (sim, r) = Run(DctcpScenario(marking: true), sim =>
        {
            if (sim.Now >= 2_000_000_000 && SenderSock(sim, 0) is { } tp && tp.CaOps.Name == "dctcp") alphas.Add(TcpDctcp.Alpha(tp) / 1024.0);
        });
        using var _ = sim;
        var (dtSim, dt) = Run(DctcpScenario(marking: false));
        using var _d = dtSim;

        var all = r.FlowSeries[0];
        var s = all.Where(x => x.TimeS >= 2).ToList();
        var d = dt.FlowSeries[0].Where(x => x.TimeS >= 2).ToList();
        var link = sim.BottleneckOf(sim.Flows[0]);
        double q = s.Average(x => x.QueuePkts), qd = d.Average(x => x.QueuePkts);
        long qmax = s.Max(x => x.QueuePkts);
        double marked = (double)link.Queue!.Marks / link.Dequeued;
        int mss = sim.Flows[0].LastInfo!.Value.SendMss;
        double payloadMbps = 50.0 * mss / (mss + FrameOverhead);
        double goodput = s.Average(x => x.GoodputMbps), goodputDt = d.Average(x => x.GoodputMbps);
        var info = sim.Flows[0].LastInfo!.Value;
        output.WriteLine($"step marking at K = {K}: after 2 s queue mean {q:0.0} max {qmax} packets ({s.Average(x => x.QueueDelayMs):0.00} ms); " +
                         $"{all[^1].QueueMarks} marks ({100 * marked:0.0}% of frames), {all[^1].QueueDrops} drops, {all[^1].TotalRetrans} retransmissions; " +
                         $"mean alpha {(alphas.Count > 0 ? alphas.Average() : double.NaN):0.000}; delivered_ce {info.DeliveredCe} of {info.Delivered}; goodput {goodput:0.000} of {payloadMbps:0.000} Mbit/s; cc {info.CongestionControl}, ecn {info.Ecn}");
        output.WriteLine($"drop-tail: after 2 s queue mean {qd:0.0} max {d.Max(x => x.QueuePkts)} packets; {dt.FlowSeries[0][^1].QueueDrops} drops, " +
                         $"{dt.FlowSeries[0][^1].TotalRetrans} retransmissions, {dt.FlowSeries[0][^1].QueueMarks} marks; goodput {goodputDt:0.000} Mbit/s");

        Assert.Equal("dctcp", info.CongestionControl);
        Assert.True(info.Ecn, "ECN negotiated");
        // With marking: no loss at all, and the queue held near K: its time-average within K +- 50%, never
        // three times K (1 ms samples).
        Assert.Equal(0, all[^1].QueueDrops);
        Assert.Equal(0, all[^1].FlowDrops);
        Assert.Equal(0, all[^1].TotalRetrans);
        Assert.True(all[^1].QueueMarks > 0, "the threshold was reached");
        Assert.Equal(all[^1].QueueMarks, all[^1].FlowMarks);
        Assert.InRange(q, 0.5 * K, 1.5 * K);
        Assert.True(qmax < 3 * K, $"the queue reached {qmax} packets");
        // The sender saw every mark (the DCTCP receiver echoes each CE change at once).
        Assert.Equal(all[^1].QueueMarks, info.DeliveredCe);
        // The time series' dctcp_alpha (TCP_CC_INFO) is the module's alpha at the same instants.
        Assert.Equal(alphas.Average(), s.Average(x => x.DctcpAlpha) / 1024.0, 2);
        // And the short queue costs no throughput (within 5% of the payload rate).
        Assert.InRange(goodput, 0.95 * payloadMbps, 1.01 * payloadMbps);

        // Drop-tail without marking: DCTCP sees no CE, behaves as Reno, fills the queue and loses.
        Assert.Equal(0, dt.FlowSeries[0][^1].QueueMarks);
        Assert.True(dt.FlowSeries[0][^1].QueueDrops > 0, "drop-tail loses");
        Assert.True(dt.FlowSeries[0][^1].TotalRetrans > 0);
        Assert.True(qd > 3 * K, $"drop-tail's mean queue {qd:0.0} packets");
    }
}
