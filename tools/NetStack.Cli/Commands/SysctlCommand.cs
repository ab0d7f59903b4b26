using System.CommandLine;
using System.Text.Json.Nodes;
using NetStack.Control;

namespace NetStack.Cli.Commands;

/// <summary>
/// `netstack sysctl`: the running stack's sysctls under Linux's names, as sysctl(8) shows and
/// changes them (`-a`, `NAME...`, `-w NAME=VALUE`, `-n`), through the stack's control socket.
/// </summary>
internal static class SysctlCommand
{
    public static Command Create()
    {
        var control = new ControlOptions();
        var all = Opt.Flag("--all", "print every sysctl", "-a");
        var write = Opt.Flag("--write", "the operands are NAME=VALUE settings (sysctl -w)", "-w");
        var valuesOnly = Opt.Flag("--values", "print only the values (sysctl -n)", "-n");
        var operands = new Argument<string[]>("NAME|NAME=VALUE") { Arity = ArgumentArity.ZeroOrMore, Description = "names to read, or with -w settings to make" };
        var cmd = new Command("sysctl", "read and change the running stack's sysctls under Linux's names (net.ipv4.tcp_sack, net.core.somaxconn...), as sysctl(8) does");
        control.AddTo(cmd);
        cmd.Add(all);
        cmd.Add(write);
        cmd.Add(valuesOnly);
        cmd.Add(operands);
        cmd.SetAction(r =>
        {
            var names = Opt.Operands(r, operands);
            bool a = r.GetValue(all), w = r.GetValue(write), n = r.GetValue(valuesOnly);
            if (names.Length == 0 && !a) throw new UsageException("give NAME..., -w NAME=VALUE... or -a");
            if (a && names.Length > 0) throw new UsageException("-a takes no names");
            var (name, path) = control.Read(r);
            using var client = ControlOptions.TryAttach(path) ?? throw new CliFailure($"no stack is running as {name} ({path}): start one with netstack up");
            if (a)
            {
                var list = Ask(client, new JsonObject { ["op"] = "sysctl" })["sysctls"]!.AsObject();
                foreach (var (k, v) in list) Print(k, (string?)v ?? "", n);
                return ExitCodes.Ok;
            }
            int status = ExitCodes.Ok;
            foreach (var operand in names)
            {
                var q = new JsonObject { ["op"] = "sysctl" };
                if (w || operand.Contains('='))
                {
                    int eq = operand.IndexOf('=');
                    if (eq <= 0) throw new UsageException($"\"{operand}\" must be of the form NAME=VALUE");
                    q["name"] = operand[..eq].Trim();
                    q["value"] = operand[(eq + 1)..].Trim();
                }
                else q["name"] = operand;
                var reply = client.Request(q);
                if (reply["error"] is { } err)
                {
                    // As sysctl(8): report, go on with the other names, fail at the end.
                    Console.Error.WriteLine($"netstack sysctl: {(string?)err}");
                    status = ExitCodes.Failure;
                    continue;
                }
                Print((string)reply["name"]!, (string?)reply["value"] ?? "", n);
            }
            return status;
        });
        return cmd;
    }

    private static void Print(string name, string value, bool valuesOnly) =>
        Console.WriteLine(valuesOnly ? value : $"{name} = {value}");

    /// <summary>A request whose error is a failure of the command.</summary>
    internal static JsonObject Ask(ControlClient client, JsonObject request)
    {
        var reply = client.Request(request);
        return reply["error"] is { } err ? throw new CliFailure((string?)err ?? "the stack refused the request") : reply;
    }
}
