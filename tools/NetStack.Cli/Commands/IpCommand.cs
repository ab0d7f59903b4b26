using System.CommandLine;
using System.Text.Json.Nodes;

namespace NetStack.Cli.Commands;

/// <summary>
/// `netstack ip`: the running stack's addresses, links, routes and neighbours, shown and changed as
/// iproute2's `ip` does (`ip addr`, `ip -s link`, `ip route add 10.9.0.0/24 via 10.7.0.1`,
/// `ip neigh`, `ip -6 addr add fd00::5/64 dev tap0`, `ip -6 route`), through the control socket's "ip" op.
/// </summary>
internal static class IpCommand
{
    public static Command Create()
    {
        var control = new ControlOptions();
        var stats = Opt.Flag("-s", "statistics (ip -s link)", "--stats");
        var only4 = Opt.Flag("-4", "IPv4 only (ip -4)");
        var only6 = Opt.Flag("-6", "IPv6 only (ip -6 addr, ip -6 route, ip -6 neigh)");
        var words = new Argument<string[]>("OBJECT COMMAND") { Arity = ArgumentArity.OneOrMore, Description = "addr|link|route|neigh|maddr [show|add|del|replace|append|flush|get|set] ..., as ip(8)" };
        var cmd = new Command("ip", "show and change the running stack's addresses, links, routes and neighbours, as ip(8) does");
        control.AddTo(cmd);
        cmd.Add(stats);
        cmd.Add(only4);
        cmd.Add(only6);
        cmd.Add(words);
        cmd.SetAction(r =>
        {
            var args = new JsonArray();
            if (r.GetValue(stats)) args.Add("-s");
            if (r.GetValue(only4)) args.Add("-4");
            if (r.GetValue(only6)) args.Add("-6");
            foreach (var w in Opt.Operands(r, words)) args.Add(w);
            var (name, path) = control.Read(r);
            using var client = ControlOptions.TryAttach(path) ?? throw new CliFailure($"no stack is running as {name} ({path}): start one with netstack up");
            var reply = client.Request(new JsonObject { ["op"] = "ip", ["args"] = args });
            if (reply["error"] is { } err)
            {
                // As ip: "RTNETLINK answers: File exists" for a refused change, a usage line otherwise.
                string message = (string?)err ?? "refused";
                if (message.StartsWith("RTNETLINK", StringComparison.Ordinal) || message.StartsWith("Error: ", StringComparison.Ordinal)) throw new CliFailure(message);
                throw new UsageException(message);
            }
            Console.Write((string?)reply["output"]);
            return ExitCodes.Ok;
        });
        return cmd;
    }
}
