using NetStack.Api;
using NetStack.Cli.Commands;

namespace NetStack.Cli;

/// <summary>One subcommand: its name, a one-line summary for --help, and its entry point (args after the name; returns the exit code).</summary>
internal sealed record Command(string Name, string Summary, Func<string[], int> Run);

/// <summary>The `netstack` command: dispatches to the classes in Commands/.</summary>
internal static class Program
{
    /// <summary>
    /// The command table. To add a command, write Commands/XxxCommand.cs with
    /// <c>public static int Run(string[] args)</c> and add ONE line here.
    /// </summary>
    internal static readonly Command[] Commands =
    [
        new("up", "bring a stack up on a TAP in a network namespace and run until Ctrl-C", UpCommand.Run),
        new("repl", "socket shell: JSON socket calls on stdin, results on stdout", ReplCommand.Run),
        new("ping", "ping a host from the stack (ICMP echo through a ping socket), like ping(8)", PingCommand.Run),
        new("nc", "netcat over the stack: -u for UDP, -l to listen; stdin to the socket, the socket to stdout", NcCommand.Run),
        new("get", "HTTP/1.1 GET over the stack: body to stdout or -o FILE, progress bar on a terminal", GetCommand.Run),
    ];

    private static int Main(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            PrintHelp();
            return args.Length == 0 ? 2 : 0;
        }
        var cmd = Array.Find(Commands, c => c.Name == args[0]);
        if (cmd is null)
        {
            Console.Error.WriteLine($"netstack: unknown command '{args[0]}' (try netstack --help)");
            return 2;
        }
        try
        {
            return cmd.Run(args[1..]);
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"netstack {cmd.Name}: {e.Message}");
            return 2;
        }
        catch (Exception e) when (e is NetStackException or Core.ErrnoException)
        {
            // A stack error (from the API, or from a driver below it): one line with its errno.
            Console.Error.WriteLine($"netstack {cmd.Name}: {e.Message}");
            return 1;
        }
        catch (Exception e) when (Environment.GetEnvironmentVariable("NETSTACK_DEBUG") is null)
        {
            // Users get one line; NETSTACK_DEBUG=1 lets the runtime print the whole trace.
            Console.Error.WriteLine($"netstack {cmd.Name}: {e.GetType().Name}: {e.Message}");
            return 1;
        }
    }

    private static void PrintHelp()
    {
        Console.WriteLine("netstack: a user-space TCP/IP stack on a Linux TAP device");
        Console.WriteLine();
        Console.WriteLine("usage: netstack COMMAND [options]     (netstack COMMAND --help for its options)");
        Console.WriteLine();
        Console.WriteLine("commands:");
        foreach (var c in Commands) Console.WriteLine($"  {c.Name,-8} {c.Summary}");
        Console.WriteLine();
        Console.WriteLine("options shared by the commands that attach a stack:");
        Console.Write(Options.Help);
    }
}
