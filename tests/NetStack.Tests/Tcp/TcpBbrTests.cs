using NetStack.Api;
using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;
using Xunit.Abstractions;

namespace NetStack.Tests.Tcp;

/// <summary>
/// BBR v1 (tcp_bbr.c) over a modelled bottleneck in virtual time: its modes, its bandwidth
/// estimate, and the queue it keeps compared with CUBIC's.
/// </summary>
public class TcpBbrTests(ITestOutputHelper output)
{
    private const long RateBps = 20_000_000;
    private const int RttMs = 40;
    /// <summary>What the bottleneck delivers in TCP payload: frames are mss + 66 bytes (Ethernet, IP, TCP with timestamps).</summary>
    private static double PayloadRate(uint mss) => RateBps / 8.0 * mss / (mss + 66);

    private sealed record Run(List<TcpBbr.Mode> Modes, List<(int Idx, int Gain)> Cycle, double BwBytesPerSec, double MeanQueue, long MaxQueue, long Drops, long Got, TcpInfo Info, double GoodputBytesPerSec);

    private static Run Transfer(string cc, long size, int queueLimit = 2000, Action<LinkStacks>? setup = null)
    {
        using var s = new LinkStacks(RateBps, RttMs, queueLimit);
        setup?.Invoke(s);
        Assert.Equal(0, s.A.Sysctl.TrySet("net.ipv4.tcp_congestion_control", cc));
        var (_, cfd, afd) = s.Connect();
        var tp = (TcpSock)s.A.Files.Lookup(cfd)!.Sk!;
        Assert.Equal(cc, tp.CaOps.Name);
        var modes = new List<TcpBbr.Mode>();
        var cycle = new List<(int, int)>();
        // Queue statistics after the start-up transient (3 s: startup and drain take a few RTTs).
        s.AtoB.SampleFromNs = s.Clock.NowNs + Time.Sec(3);
        long start = s.Clock.NowNs;
        long got = s.Transfer(cfd, afd, size, 600_000, () =>
        {
            if (cc != "bbr") return;
            var m = TcpBbr.CurrentMode(tp);
            if (modes.Count == 0 || modes[^1] != m) modes.Add(m);
            var ca = TcpBbr.Ca(tp);
            if (m == TcpBbr.Mode.ProbeBw && (cycle.Count == 0 || cycle[^1].Item1 != ca.CycleIdx)) cycle.Add((ca.CycleIdx, ca.PacingGain));
        });
        double seconds = (s.Clock.NowNs - start) / 1e9;
        double bw = cc == "bbr" ? TcpBbr.BwBytesPerSec(tp) : 0;
        return new Run(modes, cycle, bw, s.AtoB.SampledMean, s.AtoB.SampledMax, s.AtoB.Drops, got, NetStackInfo.GetTcpInfo(s.A, cfd)!.Value, got / seconds);
    }

    [Fact]
    public void Bbr_StartupDrainProbeBwProbeRtt_BandwidthEstimateWithinTenPercent()
    {
        // 32 MB at 20 Mbit/s: about 14 s, so the 10 s min_rtt filter expires once (PROBE_RTT).
        var r = Transfer("bbr", 32 << 20);
        double expected = PayloadRate(r.Info.SendMss == 0 ? 1448u : (uint)r.Info.SendMss);
        output.WriteLine($"modes {string.Join(" -> ", r.Modes)}; bw {r.BwBytesPerSec:F0} B/s, bottleneck payload rate {expected:F0} B/s " +
                         $"({100 * (r.BwBytesPerSec / expected - 1):+0.00;-0.00;0.00}%); goodput {r.GoodputBytesPerSec:F0} B/s; queue mean {r.MeanQueue:F1} max {r.MaxQueue}; drops {r.Drops}; " +
                         $"pacing {r.Info.PacingRate} B/s, cwnd {r.Info.SendCwnd}, delivery rate {r.Info.DeliveryRate} B/s");
        Assert.Equal(32L << 20, r.Got);
        Assert.Equal([TcpBbr.Mode.Startup, TcpBbr.Mode.Drain, TcpBbr.Mode.ProbeBw, TcpBbr.Mode.ProbeRtt, TcpBbr.Mode.ProbeBw], r.Modes);
        // PROBE_BW's gain cycle: phases in order (mod 8), gains 5/4, 3/4, then six times 1.
        output.WriteLine("gain cycle: " + string.Join(" ", r.Cycle.Take(20).Select(c => $"{c.Idx}:{c.Gain}")));
        int jumps = 0;
        for (int i = 1; i < r.Cycle.Count; i++)
            if (r.Cycle[i].Idx != (r.Cycle[i - 1].Idx + 1) % 8) jumps++;
        Assert.True(jumps <= 1, "phases advance one by one; only leaving PROBE_RTT restarts at a random phase");
        Assert.All(r.Cycle, c => Assert.Equal(TcpBbr.BbrPacingGain[c.Idx], c.Gain));
        Assert.Equal(8, r.Cycle.Select(c => c.Idx).Distinct().Count());
        Assert.Equal(new[] { 192, 256, 320 }, r.Cycle.Select(c => c.Gain).Distinct().Order());
        Assert.InRange(r.BwBytesPerSec, expected * 0.9, expected * 1.1);
        Assert.InRange((double)r.Info.DeliveryRate, expected * 0.8, expected * 1.1);
        Assert.Equal("bbr", r.Info.CongestionControl);
        Assert.Equal(0, r.Drops);
    }

    [Fact]
    public void Bbr_KeepsADeepQueueNearEmpty_WhereCubicFillsIt()
    {
        const long size = 30 << 20;
        var bbr = Transfer("bbr", size);
        var cubic = Transfer("cubic", size);
        double bdpPackets = RateBps / 8.0 * RttMs / 1000 / 1514;
        double qdelayBbr = bbr.MeanQueue * 1514 * 8 / RateBps * 1000, qdelayCubic = cubic.MeanQueue * 1514 * 8 / RateBps * 1000;
        output.WriteLine($"BDP {bdpPackets:F0} packets; mean queue BBR {bbr.MeanQueue:F1} packets ({qdelayBbr:F1} ms), max {bbr.MaxQueue}; " +
                         $"CUBIC {cubic.MeanQueue:F1} packets ({qdelayCubic:F1} ms), max {cubic.MaxQueue}; goodput BBR {bbr.GoodputBytesPerSec:F0} CUBIC {cubic.GoodputBytesPerSec:F0} B/s");
        Assert.Equal(size, bbr.Got);
        Assert.Equal(size, cubic.Got);
        Assert.True(cubic.MeanQueue > 4 * bdpPackets, "CUBIC fills the deep queue");
        Assert.True(bbr.MeanQueue < bdpPackets, "BBR keeps the queue below one BDP");
        Assert.True(bbr.MeanQueue * 10 < cubic.MeanQueue);
    }
}
