using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using System.Reflection;
using NetStack.Api;
using NetStack.Cli.Commands;

namespace NetStack.Cli;

/// <summary>
/// The `netstack` command, on System.CommandLine: one <see cref="Command"/> per class in Commands/,
/// and the same conventions for all of them:
/// <list type="bullet">
/// <item>help (<c>-h</c>, <c>--help</c>) from the options' descriptions, <c>netstack --version</c>;</item>
/// <item>every mistake is one line on stderr, <c>netstack CMD: message</c>, exit 2;</item>
/// <item>failures (the stack's errno, a missing TAP, a file that cannot be written) are one line, exit 1
/// (<c>NETSTACK_DEBUG=1</c> prints the whole trace of unexpected ones);</item>
/// <item>Ctrl-C exits 130 (SIGTERM 143) after the command stopped in order (<see cref="Interrupt"/>).</item>
/// </list>
/// </summary>
internal static class Program
{
    /// <summary>The commands. To add one, write Commands/XxxCommand.cs with <c>public static Command Create()</c> and add ONE line here.</summary>
    private static Command[] Commands() =>
    [
        UpCommand.Create(),
        ReplCommand.Create(),
        PingCommand.Create(),
        PingCommand.Create6(),
        NcCommand.Create(),
        GetCommand.Create(),
        SysctlCommand.Create(),
        NstatCommand.Create(),
        DmesgCommand.Create(),
        NetstatCommand.Create(),
        TcpdumpCommand.Create(),
        TraceCommand.Create(),
        SsCommand.Create(),
        IpCommand.Create(),
        Iperf3Command.Create(),
        SimCommand.Create(),
        PlotCommand.Create(),
        BridgeCommand.Create(),
    ];

    internal static bool Debug => Environment.GetEnvironmentVariable("NETSTACK_DEBUG") is { Length: > 0 } v && v != "0";

    private static int Main(string[] args)
    {
        var root = BuildRoot();
        if (args.Length == 0)
        {
            Console.Error.WriteLine($"netstack: a command is needed: {string.Join(", ", root.Subcommands.Select(c => c.Name))} (try netstack --help)");
            return ExitCodes.Usage;
        }
        var parse = root.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
        var command = parse.CommandResult.Command;
        string prefix = command == root ? "netstack" : $"netstack {CommandPath(parse.CommandResult)}";

        if (parse.Action is RootHelpAction or VersionOptionAction)
            return ((SynchronousCommandLineAction)parse.Action).Invoke(parse);
        if (parse.Errors.Count > 0)
        {
            Console.Error.WriteLine($"{prefix}: {Describe(parse, command == root)}");
            return ExitCodes.Usage;
        }
        if (command == root)
        {
            Console.Error.WriteLine($"netstack: a command is needed: {string.Join(", ", root.Subcommands.Select(c => c.Name))} (try netstack --help)");
            return ExitCodes.Usage;
        }

        Interrupt.Install();
        int code;
        try
        {
            code = ((SynchronousCommandLineAction)parse.Action!).Invoke(parse);
        }
        catch (Exception e)
        {
            code = Report(prefix, e);
        }
        Console.Out.Flush();
        return Interrupt.ExitCode ?? code;
    }

    /// <summary>The command's name below the root, with its parents' ("trace tcp").</summary>
    private static string CommandPath(CommandResult r) =>
        r.Parent is CommandResult { Parent: not null } parent ? $"{CommandPath(parent)} {r.Command.Name}" : r.Command.Name;

    /// <summary>One line for an exception, and its exit code.</summary>
    private static int Report(string prefix, Exception e)
    {
        switch (e)
        {
            case UsageException:
                Console.Error.WriteLine($"{prefix}: {e.Message}");
                return ExitCodes.Usage;
            case OperationCanceledException when Interrupt.Token.IsCancellationRequested:
                Console.Error.WriteLine($"{prefix}: interrupted");
                return ExitCodes.Interrupted;
            case CliFailure or NetStackException or Core.ErrnoException:
                // A stack error (from the API, or from a driver below it): one line with its errno.
                Console.Error.WriteLine($"{prefix}: {e.Message}");
                return ExitCodes.Failure;
            case IOException or UnauthorizedAccessException when !Debug:
                Console.Error.WriteLine($"{prefix}: {IoMessage(e)}");
                return ExitCodes.Failure;
            default:
                // Unexpected: users get one line (no exception names); NETSTACK_DEBUG=1 prints the whole trace.
                Console.Error.WriteLine(Debug ? $"{prefix}: {e}" : $"{prefix}: {e.Message} (NETSTACK_DEBUG=1 shows the details)");
                return ExitCodes.Failure;
        }
    }

    /// <summary>A file-system error as one line without the .NET type name.</summary>
    internal static string IoMessage(Exception e) => e switch
    {
        DirectoryNotFoundException => $"no such directory: {e.Message}",
        UnauthorizedAccessException => $"permission denied: {e.Message}",
        _ => e.Message,
    };

    /// <summary>The first parse error as one line: unknown options and arguments first, then values.</summary>
    private static string Describe(ParseResult parse, bool atRoot)
    {
        // An option without its value first: its value is not the next flag, which then looks unmatched.
        foreach (var e in parse.Errors)
            if (e.SymbolResult is OptionResult { Tokens.Count: 0 } missing && missing.Option.Arity.MinimumNumberOfValues > 0)
                return $"{missing.IdentifierToken?.Value ?? missing.Option.Name} needs a value";
        foreach (var e in parse.Errors)
            if (e.Message.Contains(" needs a value", StringComparison.Ordinal)) return e.Message;
        if (parse.UnmatchedTokens.Count > 0)
        {
            string t = parse.UnmatchedTokens[0];
            if (atRoot) return $"unknown command '{t}' (try netstack --help)";
            return t.StartsWith('-') && t.Length > 1 && !double.TryParse(t, out _)
                ? $"unknown option '{t}' (try --help)"
                : $"unexpected argument '{t}' (try --help)";
        }
        var error = parse.Errors[0];
        if (error.SymbolResult is OptionResult { Tokens.Count: > 1 } many && many.Option.Arity.MaximumNumberOfValues == 1)
            return $"{many.IdentifierToken?.Value ?? many.Option.Name} given more than once";
        return error.Message;
    }

    private static Command BuildRoot()
    {
        // A plain Command named "netstack" (a RootCommand takes the executable's name, NetStack.Cli).
        var root = new Command("netstack", "netstack: a user-space TCP/IP stack on a Linux TAP device");
        root.Add(new HelpOption { Recursive = true });
        root.Add(new VersionOption());
        foreach (var c in Commands()) root.Add(c);
        foreach (var o in root.Options)
        {
            if (o is VersionOption v) v.Action = new VersionOptionAction();
            if (o is HelpOption h && h.Action is HelpAction help) h.Action = new RootHelpAction(help);
        }
        return root;
    }

    /// <summary>`netstack --version`: the name and the assembly's informational version.</summary>
    private sealed class VersionOptionAction : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            var asm = typeof(Program).Assembly;
            string version = asm.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? asm.GetName().Version?.ToString() ?? "?";
            Console.WriteLine($"netstack {version}");
            return 0;
        }
    }

    /// <summary>The default help; at the root it ends with the options the attaching commands share.</summary>
    private sealed class RootHelpAction(HelpAction inner) : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            inner.Invoke(parseResult);
            if (parseResult.CommandResult.Command.Name == "netstack")
            {
                Console.WriteLine("Options shared by the commands that attach a stack (netstack COMMAND --help lists each command's own):");
                var shared = new StackOptionSet(duration: true, loopback: false);
                var c = new Command("x");
                shared.AddTo(c);
                foreach (var o in c.Options)
                    Console.WriteLine($"  {o.Name} {(o.Arity.MaximumNumberOfValues > 0 ? o.HelpName : "")}".PadRight(22) + " " + o.Description);
                Console.WriteLine();
                Console.WriteLine("Exit codes: 0 success, 1 failure, 2 usage mistake, 130 Ctrl-C. NETSTACK_DEBUG=1 shows full traces of unexpected errors.");
            }
            return 0;
        }
    }
}
