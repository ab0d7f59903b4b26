using NetStack.Sim;
using Xunit.Abstractions;

namespace NetStack.Tests.Sim;

/// <summary>
/// Textbook results of TCP congestion control, reproduced by the stack's own Reno and CUBIC in the
/// simulator (deterministic: fixed seeds, virtual time; the tolerances are stated with each test and
/// the measured values written to the test output).
/// </summary>
public class TextbookTests(ITestOutputHelper output)
{
    private (Simulator Sim, SimResults Results) Run(string json)
    {
        var sim = new Simulator(Scenario.Parse(json));
        var r = sim.RunAll();
        output.WriteLine($"simulated {sim.Scenario.DurationNs / 1e9:0.#} s in {r.WallSeconds:0.###} s ({r.CpuSeconds:0.###} s CPU): speed-up {r.SpeedUp:0.#}x, {r.Events} events");
        return (sim, r);
    }

    /// <summary>The sample indices where the flow left Open/Disorder for Recovery or Loss: a congestion event.</summary>
    private static List<int> LossEvents(List<FlowSample> s) =>
        Enumerable.Range(1, s.Count - 1).Where(i => s[i - 1].CaState <= 1 && s[i].CaState >= 3).ToList();

    /// <summary>The first sample at or after <paramref name="i"/> back in Open.</summary>
    private static int NextOpen(List<FlowSample> s, int i)
    {
        while (i < s.Count && s[i].CaState != 0) i++;
        return i;
    }

    private const string RenoSawtooth = """
        // One Reno flow, 20 Mbit/s bottleneck, 40 ms base RTT (BDP 67 packets), a 34-packet drop-tail queue:
        // the window saws between about 100 and 50 packets.
        { "duration": "10s", "sample_interval": "1ms",
          "hosts": [ { "name": "a", "link": { "rate": "1Gbit", "delay": "10ms" } },
                     { "name": "b", "link": { "delay": "10ms", "down": { "rate": "20Mbit", "queue": { "type": "droptail", "packets": 34 } } } } ],
          "flows": [ { "name": "reno", "from": "a", "to": "b", "cc": "reno" } ] }
        """;

    [Fact]
    public void Reno_Sawtooth_HalvesOnALoss_AndGrowsOneSegmentPerRtt()
    {
        var (sim, r) = Run(RenoSawtooth);
        using var _ = sim;
        var s = r.FlowSeries[0];
        // Congestion events in congestion avoidance (after the slow-start overshoot has been repaired).
        var events = LossEvents(s).Where(i => s[i].TimeS > 1).ToList();
        Assert.True(events.Count >= 3, $"{events.Count} congestion events in congestion avoidance");
        for (int n = 0; n < events.Count; n++)
        {
            int i = events[n];
            long peak = s[i - 1].Cwnd;
            int open = NextOpen(s, i);
            // tcp_reno_ssthresh(): max(cwnd / 2, 2); the sample 1 ms before detection may be one segment short.
            Assert.InRange(s[i].Ssthresh, peak / 2, (peak + 1) / 2);
            // After recovery (PRR) the window is ssthresh: halved.
            Assert.Equal(s[i].Ssthresh, s[open].Cwnd);
            output.WriteLine($"loss at {s[i].TimeS:0.000} s: cwnd {peak} -> ssthresh {s[i].Ssthresh}, cwnd {s[open].Cwnd} at {s[open].TimeS:0.000} s");
            if (n + 1 == events.Count) break;
            // Congestion avoidance until the next event: one segment per RTT, RTT being the smoothed RTT of
            // the moment (the queue grows, so the RTT does): growth / sum(dt / srtt) within 10%.
            int end = events[n + 1] - 1;
            double rtts = 0;
            for (int k = open + 1; k <= end; k++) rtts += (s[k].TimeS - s[k - 1].TimeS) / (s[k - 1].SrttMs / 1000);
            long growth = s[end].Cwnd - s[open].Cwnd;
            output.WriteLine($"  grew {growth} segments in {rtts:0.0} RTTs ({growth / rtts:0.000} per RTT)");
            Assert.InRange(growth / rtts, 0.9, 1.1);
        }
    }

    private const string CubicCurve = """
        // One CUBIC flow, 20 Mbit/s bottleneck, 100 ms base RTT (BDP 167 packets), a 50-packet drop-tail queue:
        // each loss comes at about 217 packets, in CUBIC's region (the window is well above Reno's estimate).
        { "duration": "16s", "sample_interval": "5ms",
          "hosts": [ { "name": "a", "link": { "rate": "1Gbit", "delay": "25ms" } },
                     { "name": "b", "link": { "delay": "25ms", "down": { "rate": "20Mbit", "queue": { "type": "droptail", "packets": 50 } } } } ],
          "flows": [ { "name": "cubic", "from": "a", "to": "b", "cc": "cubic" } ] }
        """;

    [Fact]
    public void Cubic_AfterALoss_FollowsTheCubicCurve_WithBeta07_AndKAsRfc9438Defines()
    {
        var (sim, r) = Run(CubicCurve);
        using var _ = sim;
        var s = r.FlowSeries[0];
        const double C = 0.4, Beta = 0.7;
        var events = LossEvents(s);
        double? lastMax = null;
        int checkedEpochs = 0;
        for (int n = 0; n < events.Count; n++)
        {
            int i = events[n];
            long wmax = s[i - 1].Cwnd;
            // beta_cubic = 0.7: Linux's bictcp_recalc_ssthresh() takes cwnd * 717 / 1024. W_max is the cwnd
            // when the loss is detected, up to 5 ms after the sample before it: CUBIC's convex region may
            // have added a segment or two in between (one short: the sample came after a cwnd update).
            Assert.InRange(s[i].Ssthresh, (long)((wmax - 1) * 717 / 1024.0), (wmax + 2) * 717 / 1024);
            // Fast convergence (RFC 9438 4.7): a loss below the previous W_max lowers W_max to W (1 + beta) / 2.
            double wmaxEff = lastMax is { } lm && wmax < lm ? wmax * (1 + Beta) / 2 : wmax;
            lastMax = wmaxEff;
            if (s[i].TimeS < 2) continue; // the slow-start overshoot and its repair
            int open = NextOpen(s, i);
            int end = n + 1 < events.Count ? events[n + 1] - 1 : s.Count - 1;
            if (end - open < 200) continue; // less than a second of congestion avoidance to compare
            // The epoch starts when congestion avoidance resumes, with cwnd = ssthresh = beta * W_max.
            double w0 = s[open].Cwnd;
            Assert.Equal(s[i].Ssthresh, (long)w0);
            // RFC 9438 eq. 2: K = cbrt((W_max - cwnd_epoch) / C), which is cbrt(W_max (1 - beta) / C) without fast convergence.
            double k = Math.Cbrt((wmaxEff - w0) / C);
            double t0 = s[open].TimeS, maxErr = 0;
            for (int j = open; j <= end; j++)
            {
                double t = s[j].TimeS - t0;
                double w = C * Math.Pow(t - k, 3) + wmaxEff; // RFC 9438 eq. 1 (Math.Pow of a negative base and an odd integer exponent is defined)
                maxErr = Math.Max(maxErr, Math.Abs(s[j].Cwnd - w));
            }
            output.WriteLine($"loss at {s[i].TimeS:0.000} s: W_max {wmax} (effective {wmaxEff:0.0}), ssthresh {s[i].Ssthresh}, K {k:0.00} s; " +
                             $"{end - open + 1} samples over {s[end].TimeS - t0:0.00} s, largest |cwnd - W(t)| {maxErr:0.00} segments");
            // Tolerance: 2% of W_max (about 4 segments here). cwnd is an integer that Linux moves towards
            // W(t + min_rtt) over an RTT, so it tracks W(t) to within a segment or two.
            Assert.True(maxErr <= 0.02 * wmax, $"|cwnd - W(t)| reached {maxErr:0.00} segments (W_max {wmax})");
            checkedEpochs++;
        }
        Assert.True(checkedEpochs >= 2, $"{checkedEpochs} epochs compared");
    }

    [Theory]
    [InlineData(0.001, 150)]
    [InlineData(0.004, 60)]
    [InlineData(0.01, 40)]
    public void Reno_UnderRandomLoss_FollowsMathis(double p, int seconds)
    {
        // Bernoulli loss p on the data path only, no queueing (1 Gbit/s everywhere), 20 ms base RTT.
        // Mathis et al. 1997: throughput = MSS / RTT * sqrt(3/2) / sqrt(p); Linux's Reno counts acknowledged
        // segments (not ACKs) in congestion avoidance, so delayed ACKs do not change the constant. Each run
        // is long enough for about 250 losses or more: the mean of a random sawtooth converges slowly.
        string json = $$"""
            { "duration": "{{seconds}}s", "sample_interval": "500ms", "seed": 7,
              "hosts": [ { "name": "a", "link": { "rate": "1Gbit", "delay": "5ms", "up": { "loss": {{p.ToString(System.Globalization.CultureInfo.InvariantCulture)}} } } },
                         { "name": "b", "link": { "rate": "1Gbit", "delay": "5ms" } } ],
              "flows": [ { "name": "reno", "from": "a", "to": "b", "cc": "reno" } ] }
            """;
        var (sim, r) = Run(json);
        using var _ = sim;
        var s = r.FlowSeries[0];
        // Steady state: from 5 s on.
        var from = s.First(x => x.TimeS >= 5);
        var to = s[^1];
        double goodput = (to.DeliveredBytes - from.DeliveredBytes) * 8 / (to.TimeS - from.TimeS);
        double rtt = s.Where(x => x.TimeS >= 5).Average(x => x.SrttMs) / 1000;
        int mss = sim.Flows[0].LastInfo!.Value.SendMss;
        double mathis = mss * 8 / rtt * Math.Sqrt(1.5) / Math.Sqrt(p);
        output.WriteLine($"p = {p}: goodput {goodput / 1e6:0.000} Mbit/s, Mathis {mathis / 1e6:0.000} Mbit/s (MSS {mss}, RTT {rtt * 1000:0.00} ms): ratio {goodput / mathis:0.000}; {to.TotalRetrans} retransmissions, {sim.Flows[0].LastInfo!.Value.TotalRto} RTOs");
        Assert.InRange(goodput / mathis, 0.75, 1.25);
    }

    [Fact]
    public void TwoRenoFlows_ConvergeToAFairShare()
    {
        // Two Reno flows with the same RTT share a 20 Mbit/s bottleneck (20 ms base RTT, a one-BDP drop-tail
        // queue); the second starts 5 s after the first. Over the last 15 s, Jain's index is above 0.95.
        const string json = """
            { "duration": "30s", "sample_interval": "100ms",
              "hosts": [ { "name": "a", "link": { "rate": "1Gbit", "delay": "5ms" } },
                         { "name": "c", "link": { "rate": "1Gbit", "delay": "5ms" } },
                         { "name": "b", "link": { "delay": "5ms", "down": { "rate": "20Mbit", "queue": { "type": "droptail", "packets": 34 } } } } ],
              "flows": [ { "name": "r1", "from": "a", "to": "b", "cc": "reno" },
                         { "name": "r2", "from": "c", "to": "b", "cc": "reno", "start": "5s" } ] }
            """;
        var (sim, r) = Run(json);
        using var _ = sim;
        var shares = r.FlowSeries.Select(s =>
        {
            var a = s.First(x => x.TimeS >= 15);
            var b = s[^1];
            return (b.DeliveredBytes - a.DeliveredBytes) * 8 / (b.TimeS - a.TimeS) / 1e6;
        }).ToList();
        double jain = SimResults.JainIndex(shares);
        output.WriteLine($"goodput over 15-30 s: {string.Join(", ", shares.Select(x => $"{x:0.000} Mbit/s"))}; Jain's index {jain:0.0000}");
        Assert.True(jain > 0.95, $"Jain's index {jain}");
        Assert.InRange(shares.Sum(), 18, 20); // and together they fill the link
    }
}
