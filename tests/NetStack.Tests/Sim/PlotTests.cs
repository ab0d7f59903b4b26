using System.Diagnostics;
using NetStack.Plot;
using NetStack.Sim;

namespace NetStack.Tests.Sim;

/// <summary>
/// Plots from the simulator's CSV files and from tcp_probe-style trace CSVs (ScottPlot, SVG and PNG),
/// and `netstack sim` / `netstack plot` end to end.
/// </summary>
public class PlotTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "netstack-plot-" + Guid.NewGuid().ToString("N"));

    public PlotTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, true);
    }

    private string Write(string name, string text)
    {
        string p = Path.Combine(_dir, name);
        File.WriteAllText(p, text);
        return p;
    }

    private static void AssertSvg(string path)
    {
        string text = File.ReadAllText(path);
        Assert.Contains("<svg", text);
        Assert.EndsWith("</svg>", text.TrimEnd());
    }

    private static void AssertPng(string path)
    {
        var b = File.ReadAllBytes(path);
        Assert.True(b.Length > 1000);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, b[..4]);
    }

    [Fact]
    public void SimulatorCsv_GivesEveryMetric_NamedAfterTheFlow()
    {
        string csv = Write("flow-cubic.csv", SimResults.FlowCsvHeader + "\n" +
            "0.1,10,,20.5,5,20,220,0,10,10,0,0,0,0,9,1000,80,10000,0,3,4542,1.5,0,0,0,0,,,\n" +
            "0.2,20,14,21.5,5,20,220,3,20,20,0,0,0,1,30,30000,90,20000,0,5,7570,2.5,1,0,1,0,,,\n");
        var flows = FlowData.Load(csv);
        var f = Assert.Single(flows);
        Assert.Equal("cubic", f.Label);
        Assert.Equal([0.1, 0.2], f.Time);
        Assert.Equal([10.0, 20.0], f.Values[Metric.Cwnd]);
        Assert.Equal([80.0, 90.0], f.Values[Metric.Goodput]);
        Assert.Equal([20.5, 21.5], f.Values[Metric.Rtt]);
        Assert.Equal([3.0, 5.0], f.Values[Metric.Queue]);
    }

    [Fact]
    public void TraceCsv_WithTcpProbesColumns_IsSplitByConnection_InSecondsAndMilliseconds()
    {
        // tcp_probe's names: snd_cwnd, srtt in microseconds, snd_una; time as a nanosecond clock.
        string csv = Write("trace.csv",
            "time,src,dest,snd_nxt,snd_una,snd_cwnd,ssthresh,snd_wnd,srtt,rcv_wnd\n" +
            "5000000000,10.0.0.1:40000,10.0.0.2:5001,1000,1,10,2147483647,65535,20000,65535\n" +
            "5001000000,10.0.0.3:40001,10.0.0.2:5002,1000,1,10,2147483647,65535,40000,65535\n" +
            "5100000000,10.0.0.1:40000,10.0.0.2:5001,200000,125001,12,2147483647,65535,21000,65535\n" +
            "5200000000,10.0.0.1:40000,10.0.0.2:5001,400000,250001,14,2147483647,65535,22000,65535\n");
        var flows = FlowData.Load(csv);
        Assert.Equal(["10.0.0.1:40000 → 10.0.0.2:5001", "10.0.0.3:40001 → 10.0.0.2:5002"], flows.Select(f => f.Label));
        var a = flows[0];
        Assert.Equal([0.0, 0.1, 0.2], a.Time.Select(t => Math.Round(t, 9)));
        Assert.Equal([10.0, 12, 14], a.Values[Metric.Cwnd]);
        Assert.Equal([20.0, 21, 22], a.Values[Metric.Rtt]);
        // Goodput from snd_una: 125,000 bytes in 0.1 s = 10 Mbit/s.
        Assert.True(double.IsNaN(a.Values[Metric.Goodput][0]));
        Assert.Equal(10.0, a.Values[Metric.Goodput][1], 9);
        Assert.False(a.Values.ContainsKey(Metric.Queue));
        Assert.Equal([Metric.Cwnd, Metric.Goodput, Metric.Rtt], Charts.Available(flows));
    }

    [Fact]
    public void TraceCsv_OfNetstackTraceTcp_IsRead()
    {
        // The header `netstack trace tcp` writes (the trace branch's TcpTraceRecord.CsvHeader): time_ns, the
        // 4-tuple as saddr/sport/daddr/dport, srtt in µs, bytes_acked.
        const string header = "time_ns,event,saddr,sport,daddr,dport,sock_cookie,state,oldstate,ca_state,old_ca_state," +
            "snd_una,snd_nxt,rcv_nxt,snd_cwnd,ssthresh,srtt,rttvar,rto,mss," +
            "packets_out,packets_in_flight,sacked_out,lost_out,retrans_out,total_retrans,delivered," +
            "bytes_acked,bytes_received,delivery_rate,pacing_rate,snd_wnd,rcv_wnd,seq,data_len";
        string Row(long t, int sport, int cwnd, int srttUs, long acked) =>
            $"{t},probe,10.7.0.2,{sport},10.7.0.1,80,{sport},TCP_ESTABLISHED,TCP_ESTABLISHED,TCP_CA_Open,TCP_CA_Open," +
            $"1,1,1,{cwnd},2147483647,{srttUs},100,200000,1448,10,10,0,0,0,0,10,{acked},0,0,0,65535,65535,1,0";
        string csv = Write("netstack-trace.csv", header + "\n" +
            Row(7_000_000_000, 40000, 10, 20000, 0) + "\n" + Row(7_000_500_000, 40001, 10, 30000, 0) + "\n" +
            Row(7_010_000_000, 40000, 11, 21000, 12500) + "\n");
        var flows = FlowData.Load(csv);
        Assert.Equal(["10.7.0.2:40000 → 10.7.0.1:80", "10.7.0.2:40001 → 10.7.0.1:80"], flows.Select(f => f.Label));
        Assert.Equal([0.0, 0.01], flows[0].Time.Select(t => Math.Round(t, 9)));
        Assert.Equal([10.0, 11], flows[0].Values[Metric.Cwnd]);
        Assert.Equal([20.0, 21], flows[0].Values[Metric.Rtt]);
        Assert.Equal(10.0, flows[0].Values[Metric.Goodput][1], 9); // 12,500 bytes in 10 ms
    }

    [Fact]
    public void Charts_WriteSvgAndPng_OnePanelOrStacked()
    {
        var flows = new List<FlowData>();
        for (int k = 0; k < 2; k++)
        {
            var t = Enumerable.Range(0, 10_000).Select(i => i * 0.001).ToArray();
            var f = new FlowData { Label = "flow" + k, Time = t };
            f.Values[Metric.Cwnd] = t.Select(x => 10 + 50 * (x % 2) + k).ToArray();
            f.Values[Metric.Goodput] = t.Select(x => x < 1 ? double.NaN : 10.0).ToArray();
            flows.Add(f);
        }
        string svg = Path.Combine(_dir, "cwnd.svg"), png = Path.Combine(_dir, "cwnd.png");
        Charts.Save(Charts.Make(Metric.Cwnd, flows), svg);
        Charts.Save(Charts.Make(Metric.Cwnd, flows), png);
        AssertSvg(svg);
        AssertPng(png);
        string both = Path.Combine(_dir, "both.svg"), bothPng = Path.Combine(_dir, "both.png");
        var plots = Charts.Available(flows).Select(m => Charts.Make(m, flows, smoothS: 0.1)).ToList();
        Charts.SaveStacked(plots, both);
        Charts.SaveStacked(plots, bothPng);
        AssertSvg(both);
        Assert.Equal(2, File.ReadAllText(both).Split("<svg").Length - 2); // two panels inside the outer svg
        AssertPng(bothPng);
        Assert.Throws<ArgumentException>(() => Charts.Save(Charts.Make(Metric.Cwnd, flows), Path.Combine(_dir, "x.pdf")));
    }

    [Fact]
    public void Decimate_KeepsEachBucketsExtremes()
    {
        var x = Enumerable.Range(0, 100_000).Select(i => (double)i).ToArray();
        var y = x.Select(v => v % 1000 == 500 ? 99.0 : 1.0).ToArray();
        var (dx, dy) = Charts.Decimate(x, y);
        Assert.True(dx.Length <= Charts.MaxPoints);
        Assert.Equal(100, dy.Count(v => v == 99)); // every spike survives
        Assert.Equal(dx.Order(), dx);
    }

    private static (int Code, string Out, string Err) Cli(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "NetStack.Cli.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        string stderr = p.StandardError.ReadToEnd();
        Assert.True(p.WaitForExit(120_000));
        return (p.ExitCode, stdout.Result, stderr);
    }

    [Fact]
    public void SimAndPlotCommands_EndToEnd()
    {
        string scenario = Path.Combine(ScenarioTests.RepoRoot(), "experiments", "reno-cubic-bbr-shallow.json");
        string outDir = Path.Combine(_dir, "out");
        var (code, stdout, stderr) = Cli("sim", scenario, "-o", outDir, "--duration", "1s", "--seed", "3", "--plot");
        Assert.True(code == 0, stderr);
        Assert.Contains("Jain's fairness index", stdout);
        Assert.Matches(@"simulated 1 s in [0-9.]+ s of wall time \([0-9.]+ s CPU\): speed-up [0-9.]+x", stdout);
        foreach (var f in new[] { "flow-reno.csv", "flow-cubic.csv", "links.csv", "summary.csv", "summary.md", "overview.png" })
            Assert.True(File.Exists(Path.Combine(outDir, f)), f);
        foreach (var m in new[] { "cwnd", "goodput", "rtt", "queue", "overview" })
        {
            AssertSvg(Path.Combine(outDir, m + ".svg"));
            AssertPng(Path.Combine(outDir, m + ".png"));
        }
        Assert.Contains("Seed 3, 1s simulated", File.ReadAllText(Path.Combine(outDir, "summary.md")));

        string fig = Path.Combine(_dir, "rtt.svg");
        (code, stdout, stderr) = Cli("plot", Path.Combine(outDir, "flow-reno.csv"), Path.Combine(outDir, "flow-cubic.csv"), "-o", fig, "--metric", "rtt");
        Assert.True(code == 0, stderr);
        AssertSvg(fig);
        Assert.Contains("reno", File.ReadAllText(fig));

        (code, _, stderr) = Cli("plot", Path.Combine(outDir, "flow-reno.csv"), "-o", Path.Combine(_dir, "x.gif"));
        Assert.Equal(2, code);
        Assert.Contains("must end in .svg or .png", stderr);
        (code, _, stderr) = Cli("sim", Path.Combine(_dir, "none.json"));
        Assert.Equal(1, code);
        Assert.Equal("netstack sim: no such file: " + Path.Combine(_dir, "none.json") + "\n", stderr);
    }
    [Fact]
    public void BenchChart_OnePanelPerUnit_BarsLabelledWithTheirValues_MissingFiguresLeftOut()
    {
        var figures = new Dictionary<string, double>
        {
            ["netstack_rx_1stream_gbps"] = 1.25, ["veth_rx_1stream_gbps"] = 6.5,
            ["bridge_rr_per_s"] = 12472, ["netstack_ping_rtt_avg_ms"] = 0.012, ["rounds"] = 3,
        };
        var plots = BenchChart.Make(figures);
        Assert.Equal(3, plots.Count); // Gbit/s, per second, ms: each panel has at least one figure
        string bulk = plots[0].GetSvgXml(900, 360);
        Assert.Contains("Bulk TCP, Gbit/s", bulk);
        Assert.Contains("1.25", bulk);
        Assert.Contains("6.5", bulk);
        Assert.Contains("target, 1 stream", bulk);
        Assert.DoesNotContain("4 streams", bulk); // no target has it
        Assert.Contains("12,472", plots[1].GetSvgXml(900, 360));
        Assert.Empty(BenchChart.Make(new Dictionary<string, double> { ["rounds"] = 1 }));

        string json = Write("latest.json", "{\"rounds\": 1, \"netstack_tx_4streams_gbps\": 0.25, \"veth_tx_4streams_gbps\": 8}");
        string fig = Path.Combine(_dir, "bench.svg");
        var (code, stdout, stderr) = Cli("plot", json, "-o", fig);
        Assert.True(code == 0, stderr);
        Assert.Equal($"wrote {fig}\n", stdout);
        AssertSvg(fig);
        Assert.Contains("target -", File.ReadAllText(fig));

        (code, _, stderr) = Cli("plot", Write("none.json", "{\"rounds\": 1}"), "-o", fig);
        Assert.Equal(1, code);
        Assert.Contains("no bench figure", stderr);
    }

    [Fact]
    public void BenchChart_OtherStacks_DrawnWhenMeasured_AnUnmeasuredTargetLeavesNoGap()
    {
        // bench.sh --only netstack,smoltcp: two targets, so each group has two adjacent bars.
        var plots = BenchChart.Make(new Dictionary<string, double> { ["netstack_rr_per_s"] = 20000, ["smoltcp_rr_per_s"] = 40000 });
        string svg = plots.Single().GetSvgXml(900, 360);
        Assert.Contains("smoltcp (TAP)", svg);
        Assert.Contains("40,000", svg);
        Assert.DoesNotContain("lwIP", svg);
        Assert.DoesNotContain("veth", svg);
        var bars = plots[0].GetPlottables().OfType<ScottPlot.Plottables.BarPlot>().Single().Bars;
        Assert.Equal([0.0, 1.0], bars.Select(b => b.Position));

        // The default run (no other stack): no smoltcp or lwIP in the legend.
        svg = BenchChart.Make(new Dictionary<string, double> { ["netstack_rr_per_s"] = 20000, ["veth_rr_per_s"] = 30000 }).Single().GetSvgXml(900, 360);
        Assert.DoesNotContain("smoltcp", svg);
        Assert.DoesNotContain("lwIP", svg);
    }
}
