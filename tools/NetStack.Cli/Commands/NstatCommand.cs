using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;

namespace NetStack.Cli.Commands;

/// <summary>
/// `netstack nstat`: the running stack's SNMP and netstat counters under nstat(8)'s names
/// (IpInReceives, TcpExtTCPSackRecovery...): by default the changes since the last call (the
/// history lives in a file per stack and user, as nstat keeps ~/.nstat), `-a` absolute values,
/// `-z` zeros too, `-s` without updating the history.
/// </summary>
internal static class NstatCommand
{
    public static Command Create()
    {
        var control = new ControlOptions();
        var absolute = Opt.Flag("--absolute", "print absolute values, not the changes since the last call", "-a");
        var zeros = Opt.Flag("--zeros", "print zero counters too", "-z");
        var noUpdate = Opt.Flag("--no-update", "do not update the history", "-s");
        var patterns = new Argument<string[]>("PATTERN") { Arity = ArgumentArity.ZeroOrMore, Description = "only counters whose name starts with one of these (nstat's patterns, without wildcards)" };
        var cmd = new Command("nstat", "the running stack's counters as nstat(8) prints them: the changes since the last call, or -a absolute values");
        control.AddTo(cmd);
        cmd.Add(absolute);
        cmd.Add(zeros);
        cmd.Add(noUpdate);
        cmd.Add(patterns);
        cmd.SetAction(r =>
        {
            var (name, path) = control.Read(r);
            using var client = ControlOptions.TryAttach(path) ?? throw new CliFailure($"no stack is running as {name} ({path}): start one with netstack up");
            var tables = SysctlCommand.Ask(client, new JsonObject { ["op"] = "counters" })["counters"]!.AsObject();
            var now = new List<(string Name, long Value)>();
            foreach (var (table, counters) in tables)
                foreach (var (counter, value) in counters!.AsObject())
                    now.Add((table + counter, (long)value!));
            string history = HistoryPath(client.Pid, name);
            var last = r.GetValue(absolute) ? null : ReadHistory(history);
            var only = Opt.Operands(r, patterns);
            Console.WriteLine("#kernel");
            foreach (var (n, v) in now)
            {
                if (only.Length > 0 && !only.Any(p => n.StartsWith(p, StringComparison.Ordinal))) continue;
                long shown = last is not null && last.TryGetValue(n, out long before) ? v - before : v;
                if (shown == 0 && !r.GetValue(zeros)) continue;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{n,-32}{shown,-19}0.0"));
            }
            if (!r.GetValue(noUpdate)) WriteHistory(history, now);
            return ExitCodes.Ok;
        });
        return cmd;
    }

    /// <summary>One history per stack instance and user (a restarted stack starts from zero again).</summary>
    private static string HistoryPath(int stackPid, string name) =>
        Path.Combine(Path.GetTempPath(), $".netstack-nstat.{name}.{stackPid}.u{Environment.UserName}");

    private static Dictionary<string, long>? ReadHistory(string path)
    {
        if (!File.Exists(path)) return null;
        var d = new Dictionary<string, long>();
        foreach (var line in File.ReadAllLines(path))
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 2 && long.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out long v)) d[parts[0]] = v;
        }
        return d;
    }

    private static void WriteHistory(string path, List<(string Name, long Value)> now)
    {
        string tmp = path + ".tmp";
        File.WriteAllLines(tmp, now.Select(c => string.Create(CultureInfo.InvariantCulture, $"{c.Name} {c.Value}")));
        File.Move(tmp, path, overwrite: true);
    }
}
