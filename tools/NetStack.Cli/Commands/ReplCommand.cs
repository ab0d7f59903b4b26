using System.CommandLine;
using NetStack.Control;
using NetStack.Api;
using NetStack.Net;

namespace NetStack.Cli.Commands;

/// <summary>
/// `netstack repl`: a socket shell on a stack attached like `up`. One JSON request per line on
/// stdin, one JSON reply per line on stdout (see <see cref="SocketShell"/>). With --lo the stack
/// has only its loopback device: no TAP, no root needed.
/// </summary>
internal static class ReplCommand
{
    private const string Description =
        "socket shell: one JSON socket call per line on stdin, one JSON reply per line on stdout, e.g.\n" +
        "  {\"op\":\"socket\",\"domain\":\"AF_INET\",\"type\":\"SOCK_DGRAM\",\"protocol\":0}   -> {\"ret\":3}\n" +
        "  {\"op\":\"sendto\",\"fd\":3,\"data\":\"6869\",\"addr\":\"10.7.0.1\",\"port\":7}      -> {\"ret\":2}\n" +
        "  {\"op\":\"recvfrom\",\"fd\":3,\"len\":100,\"flags\":\"MSG_DONTWAIT\"}            -> {\"ret\":-1,\"errno\":\"EAGAIN\"}\n" +
        "  {\"op\":\"setsockopt\",\"fd\":3,\"level\":\"SOL_IP\",\"name\":\"IP_RECVTTL\",\"value\":1}  -> {\"ret\":0}\n" +
        "  {\"op\":\"recvmsg\",\"fd\":3,\"len\":100}  -> {\"ret\":2,...,\"cmsg\":[{\"level\":\"SOL_IP\",\"type\":\"IP_TTL\",\"value\":64}]}\n" +
        "ops: socket, bind, listen, accept, connect, send, recv, sendto, recvfrom, recvmsg, shutdown, close,\n" +
        "     setsockopt, getsockopt, getsockname, getpeername, poll, fcntl, ioctl, sleep, reset\n" +
        "recvmsg takes \"controllen\" (default 256) and answers \"flags\" (msg_flags), \"controllen\" and \"cmsg\"\n" +
        "(IP_TTL, IP_TOS, IP_PKTINFO, IP_ORIGDSTADDR after IP_RECVTTL, IP_RECVTOS, IP_PKTINFO, IP_RECVORIGDSTADDR).\n" +
        "Arguments take Linux names (\"SOCK_DGRAM\", \"MSG_PEEK|MSG_DONTWAIT\") or numbers; data is hex (or \"text\");\n" +
        "addresses are \"addr\" and \"port\" (\"family\" and \"addrlen\" may be given to make mistakes on purpose);\n" +
        "\"as\":\"name\" names a new descriptor for later \"fd\" arguments. Lines starting with # are ignored.\n" +
        "It runs until stdin ends (or Ctrl-C). It attaches to the stack running as --name (netstack up serves\n" +
        "its control socket) when there is one, and brings up its own only when none runs, or with --lo or --own.";

    public static Command Create()
    {
        var set = new StackOptionSet(duration: false, loopback: true);
        var control = new ControlOptions();
        var own = ToolStack.OwnOption();
        var cmd = new Command("repl", Description);
        set.AddTo(cmd);
        control.AddTo(cmd);
        cmd.Add(own);
        cmd.SetAction(r =>
        {
            var o = set.Read(r);
            var (name, path) = control.Read(r);
            if (ToolStack.AttachPath("repl", r, set, o, control, own) is { } p)
            {
                if (ControlOptions.TryAttach(p) is { } client) return RunAttached(client, name);
                Console.Error.WriteLine($"netstack repl: no stack is running as {name} ({path}): bringing up its own");
            }
            else if (!o.Loopback) Console.Error.WriteLine("netstack repl: bringing up a stack of its own (--own)");
            return Run(o);
        });
        return cmd;
    }

    /// <summary>Relays each request line to the running stack's control socket and prints its reply.</summary>
    private static int RunAttached(ControlClient client, string name)
    {
        using (client)
        {
            Interrupt.Grace = TimeSpan.FromMilliseconds(500);
            Console.Error.WriteLine($"netstack repl: attached to the running stack {name} (pid {client.Pid}, {client.Path}); one JSON request per line");
            var stdout = Console.Out;
            string? line;
            while (!Interrupt.Token.IsCancellationRequested && (line = Console.In.ReadLine()) is not null)
            {
                line = line.Trim();
                if (line.Length == 0 || line[0] == '#') continue;
                System.Text.Json.Nodes.JsonObject reply;
                try
                {
                    reply = System.Text.Json.Nodes.JsonNode.Parse(line) is System.Text.Json.Nodes.JsonObject request
                        ? client.Request(request)
                        : new System.Text.Json.Nodes.JsonObject { ["error"] = "a request is a JSON object" };
                }
                catch (System.Text.Json.JsonException e)
                {
                    reply = new System.Text.Json.Nodes.JsonObject { ["error"] = $"malformed JSON: {e.Message}" };
                }
                catch (IOException e)
                {
                    throw new CliFailure($"the stack went away: {e.Message}");
                }
                stdout.WriteLine(reply.ToJsonString());
                stdout.Flush();
            }
            return 0;
        }
    }

    private static int Run(StackOptionSet.Parsed o)
    {
        // The shell blocks in a read of stdin, which Ctrl-C does not interrupt: end soon after the signal.
        Interrupt.Grace = TimeSpan.FromMilliseconds(500);
        using var stack = StackAttach.Up(o);
        Console.Error.WriteLine($"netstack repl: {stack.Description}; one JSON request per line");
        using var shell = new SocketShell(stack.Net.Files);
        var stdout = Console.Out;
        string? line;
        while (!Interrupt.Token.IsCancellationRequested && (line = Console.In.ReadLine()) is not null)
        {
            line = line.Trim();
            if (line.Length == 0 || line[0] == '#') continue;
            stdout.WriteLine(shell.Execute(line));
            stdout.Flush();
        }
        return 0;
    }
}
