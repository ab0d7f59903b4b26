using System.CommandLine;
using System.Text.Json.Nodes;

namespace NetStack.Cli.Commands;

/// <summary>
/// `netstack dmesg`: the running stack's kernel log (the lines the kernel would print with printk,
/// such as "TCP: request_sock_TCP: Possible SYN flooding on port ..."), as dmesg(1) prints them.
/// </summary>
internal static class DmesgCommand
{
    public static Command Create()
    {
        var control = new ControlOptions();
        var cmd = new Command("dmesg", "the running stack's kernel log (SYN flooding warnings and the like), as dmesg(1) prints it");
        control.AddTo(cmd);
        cmd.SetAction(r =>
        {
            var (name, path) = control.Read(r);
            using var client = ControlOptions.TryAttach(path) ?? throw new CliFailure($"no stack is running as {name} ({path}): start one with netstack up");
            foreach (var line in SysctlCommand.Ask(client, new JsonObject { ["op"] = "dmesg" })["lines"]!.AsArray())
                Console.WriteLine((string)line!);
            return ExitCodes.Ok;
        });
        return cmd;
    }
}
