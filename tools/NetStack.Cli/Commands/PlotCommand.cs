using System.CommandLine;
using NetStack.Plot;

namespace NetStack.Cli.Commands;

/// <summary>
/// `netstack plot FILE.csv... -o OUT.svg|png [--metric cwnd|goodput|rtt|queue|all]`: cwnd, goodput,
/// RTT and queue length against time, one line per flow, from the simulator's CSV files or from a
/// trace CSV with tcp_probe's column names (snd_cwnd, srtt in µs, time in s or ns).
/// `netstack plot bench-results/latest.json -o chart.svg`: the bars of a scripts/bench.sh run instead
/// (<see cref="BenchChart"/>).
/// </summary>
internal static class PlotCommand
{
    public static Command Create()
    {
        var inputs = new Argument<string[]>("FILE.csv") { Arity = ArgumentArity.OneOrMore, Description = "time series: the simulator's flow-NAME.csv, or a trace CSV (snd_cwnd, srtt, time); or one bench.sh result, FILE.json, drawn as bars" };
        var output = Opt.Value("--output", "OUT.svg|OUT.png", "the figure to write (SVG or PNG by its extension)", s =>
            Path.GetExtension(s).ToLowerInvariant() is ".svg" or ".png" ? s : throw new UsageException($"the output must end in .svg or .png: '{s}'"), "-o");
        output.Required = true;
        var metric = Opt.Value("--metric", "cwnd|goodput|rtt|queue|all", "what to draw (all: every metric the files have, stacked; the default)", s => s switch
        {
            "all" => (Metric?)null,
            _ when Enum.TryParse<Metric>(s, ignoreCase: true, out var m) => m,
            _ => throw new UsageException($"bad metric '{s}' (cwnd, goodput, rtt, queue, all)"),
        }, "-m");
        var title = Opt.Value("--title", "TEXT", "the figure's title", s => s);
        var smooth = Opt.Value("--smooth", "SECONDS", "draw goodput as its moving average over SECONDS (default: as sampled)",
            Opt.Seconds("smoothing window", 1e6, minIncluded: true));
        var cmd = new Command("plot", "draw cwnd, goodput, RTT and queue length against time (SVG or PNG) from CSV time series, one line per flow");
        cmd.Add(inputs);
        cmd.Add(output);
        cmd.Add(metric);
        cmd.Add(title);
        cmd.Add(smooth);
        cmd.SetAction(r =>
        {
            var files = Opt.Operands(r, inputs);
            string outPath = r.GetValue(output)!;
            if (files.Length == 1 && files[0].EndsWith(".json", StringComparison.OrdinalIgnoreCase))
            {
                if (!File.Exists(files[0])) throw new CliFailure($"no such file: {files[0]}");
                try { BenchChart.Draw(files[0], outPath, r.GetValue(title)); }
                catch (Exception e) when (e is FormatException or System.Text.Json.JsonException) { throw new CliFailure($"{files[0]}: {e.Message}"); }
                Console.WriteLine($"wrote {outPath}");
                return ExitCodes.Ok;
            }
            var flows = new List<FlowData>();
            foreach (var f in files)
            {
                if (!File.Exists(f)) throw new CliFailure($"no such file: {f}");
                try
                {
                    flows.AddRange(FlowData.Load(f));
                }
                catch (FormatException e)
                {
                    throw new CliFailure(e.Message);
                }
            }
            Metric? m = r.GetValue(metric);
            string? t = r.GetValue(title);
            double sm = r.GetValue(smooth);
            if (m is { } one)
            {
                if (!flows.Any(f => f.Values.ContainsKey(one))) throw new CliFailure($"no file has {FlowData.Name(one)} (columns: {string.Join(", ", Charts.Available(flows).Select(FlowData.Name))})");
                Charts.Save(Charts.Make(one, flows, t, sm), outPath);
            }
            else
            {
                Charts.SaveStacked(Charts.Available(flows).Select(x => Charts.Make(x, flows, t is null ? null : $"{t}: {FlowData.Name(x)}", sm)).ToList(), outPath);
            }
            Console.WriteLine($"wrote {outPath}");
            return ExitCodes.Ok;
        });
        return cmd;
    }
}
