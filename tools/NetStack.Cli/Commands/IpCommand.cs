using System.CommandLine;
using System.Text.Json.Nodes;

namespace NetStack.Cli.Commands;

/// <summary>
/// `netstack ip`: the running stack's addresses, links, routes and neighbours, shown and changed as
/// iproute2's `ip` does (`ip addr`, `ip -s link`, `ip route add 10.9.0.0/24 via 10.7.0.1`,
/// `ip neigh`), through the control socket's "ip" op.
/// </summary>
internal static class IpCommand
{
    public static Command Create()
    {
        var control = new ControlOptions();
        var stats = Opt.Flag("-s", "statistics (ip -s link)", "--stats");
        var words = new Argument<string[]>("OBJECT COMMAND") { Arity = ArgumentArity.OneOrMore, Description = "addr|link|route|neigh|maddr [show|add|del|replace|append|flush|get|set] ..., as ip(8)" };
        var cmd = new Command("ip", "show and change the running stack's addresses, links, routes and neighbours, as ip(8) does");
        control.AddTo(cmd);
        cmd.Add(stats);
        cmd.Add(words);
        cmd.SetAction(r =>
        {
            var args = new JsonArray();
            if (r.GetValue(stats)) args.Add("-s");
            foreach (var w in Opt.Operands(r, words)) args.Add(w);
            var (name, path) = control.Read(r);
            using var client = ControlOptions.TryAttach(path) ?? throw new CliFailure($"no stack is running as {name} ({path}): start one with netstack up");
            var reply = client.Request(new JsonObject { ["op"] = "ip", ["args"] = args });
            if (reply["error"] is { } err)
            {
                // As ip: "RTNETLINK answers: File exists" for a refused change, a usage line otherwise.
                string message = (string?)err ?? "refused";
                if (message.StartsWith("RTNETLINK", StringComparison.Ordinal)) throw new CliFailure(message);
                throw new UsageException(message);
            }
            Console.Write((string?)reply["output"]);
            return ExitCodes.Ok;
        });
        return cmd;
    }
}
