using System.CommandLine;
using System.Globalization;
using NetStack.Sim;

namespace NetStack.Cli.Commands;

/// <summary>
/// `netstack sim SCENARIO [-o DIR] [--seed N] [--plot]`: runs a scenario of the deterministic network
/// simulator (src/NetStack.Sim) in virtual time, writes the time series and the summary into DIR,
/// prints the summary and how much faster than real time it ran.
/// </summary>
internal static class SimCommand
{
    public static Command Create()
    {
        var scenario = new Argument<string>("SCENARIO") { Description = "the scenario file (JSON with comments; see experiments/)" };
        var output = Opt.Value("--output", "DIR", "where the CSV files (and plots) go (default: sim-out/NAME)", s => s, "-o");
        var seed = Opt.Value("--seed", "N", "the seed of every random choice, instead of the scenario's",
            s => ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : throw new UsageException($"bad seed '{s}'"));
        var duration = Opt.Value("--duration", "TIME", "simulate this long instead of the scenario's duration (\"10s\", \"500ms\")", ParseTime);
        var plot = Opt.Flag("--plot", "also draw cwnd, goodput, RTT and queue length against time (SVG and PNG) next to the CSV files");
        var quiet = Opt.Flag("--quiet", "print nothing but errors", "-q");
        var cmd = new Command("sim", "run a scenario in the deterministic network simulator: several stacks over modelled links in virtual time");
        cmd.Add(scenario);
        cmd.Add(output);
        cmd.Add(seed);
        cmd.Add(duration);
        cmd.Add(plot);
        cmd.Add(quiet);
        cmd.SetAction(r =>
        {
            string path = r.GetValue(scenario)!;
            if (!File.Exists(path)) throw new CliFailure($"no such file: {path}");
            Scenario sc;
            try
            {
                sc = Scenario.Load(path);
            }
            catch (ScenarioException e)
            {
                throw new CliFailure($"{path}: {e.Message}");
            }
            if (r.GetResult(duration) is not null) sc.DurationNs = r.GetValue(duration);
            string dir = r.GetValue(output) ?? Path.Combine("sim-out", sc.Name);
            bool q = r.GetValue(quiet);
            Simulator sim;
            try
            {
                sim = new Simulator(sc, r.GetResult(seed) is not null ? r.GetValue(seed) : null);
            }
            catch (ScenarioException e)
            {
                throw new CliFailure($"{path}: {e.Message}");
            }
            using (sim)
            {
                if (!q) Console.Error.WriteLine($"netstack sim: {sc.Name}: {sc.Hosts.Count} hosts, {sc.Flows.Count} flows, {Units.FormatTime(sc.DurationNs)} simulated, seed {sim.Seed}");
                var results = sim.RunAll();
                var files = results.Write(dir);
                if (r.GetValue(plot))
                {
                    // Goodput averaged over 1/100 of the run (at least one sample interval).
                    double smooth = Math.Max(sc.SampleIntervalNs, sc.DurationNs / 100) / 1e9;
                    var csvs = files.Where(f => Path.GetFileName(f).StartsWith("flow-", StringComparison.Ordinal)).ToList();
                    files.AddRange(NetStack.Plot.Charts.DrawDirectory(dir, csvs, sc.Name, smooth));
                }
                if (!q)
                {
                    Console.Write(SimResults.SummaryTable(results.Summaries()));
                    Console.WriteLine($"wrote {string.Join(", ", files.Select(Path.GetFileName))} in {dir}");
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"simulated {sc.DurationNs / 1e9:0.###} s in {results.WallSeconds:0.###} s of wall time ({results.CpuSeconds:0.###} s CPU): speed-up {results.SpeedUp:0.#}x, {results.Events} events"));
                }
            }
            return ExitCodes.Ok;
        });
        return cmd;
    }

    private static long ParseTime(string s)
    {
        try
        {
            long ns = Units.ParseTime(s);
            return ns > 0 ? ns : throw new UsageException($"bad duration '{s}'");
        }
        catch (FormatException e)
        {
            throw new UsageException($"bad duration '{s}': {e.Message}");
        }
    }
}
