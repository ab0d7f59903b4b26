using System.CommandLine;
using NetStack.Control;

namespace NetStack.Cli;

/// <summary>
/// The options naming a running stack's control socket: --name (the socket /run/netstack/NAME.sock)
/// and --control PATH (any other path). `up` serves it; the tools attach to it.
/// </summary>
internal sealed class ControlOptions
{
    public Option<string> Name { get; } = Opt.Value("--name", "NAME",
        $"the running stack's name: its control socket is {ControlServer.DefaultDirectory}/NAME.sock [default: {ControlServer.DefaultName}]", ValidName);

    public Option<string> Control { get; } = Opt.Value("--control", "PATH", "the control socket's path, instead of the one --name gives",
        s => s.Length == 0 ? throw new UsageException("--control: empty path") : Path.GetFullPath(s));

    public void AddTo(Command c)
    {
        c.Add(Name);
        c.Add(Control);
    }

    /// <summary>Whether --name or --control was given.</summary>
    public bool Given(ParseResult r) => r.GetResult(Name) is { Implicit: false } || r.GetResult(Control) is { Implicit: false };

    /// <summary>The name and the socket path the options give.</summary>
    public (string Name, string Path) Read(ParseResult r)
    {
        string name = r.GetValue(Name) ?? ControlServer.DefaultName;
        return (name, r.GetValue(Control) ?? ControlServer.DefaultPath(name));
    }

    private static string ValidName(string s) =>
        s.Length is > 0 and <= 64 && s.All(ch => char.IsAsciiLetterOrDigit(ch) || ch is '-' or '_' or '.') && s[0] != '.'
            ? s
            : throw new UsageException($"--name: bad name '{s}': letters, digits, '-', '_' and '.', at most 64");

    /// <summary>A client of the stack running on <paramref name="path"/>, or null when none answers there.</summary>
    public static ControlClient? TryAttach(string path) => TryAttach(path, ControlClient.Connect);

    /// <summary>What <paramref name="connect"/> makes of the stack running on <paramref name="path"/>, or null when none answers there.</summary>
    public static T? TryAttach<T>(string path, Func<string, T> connect) where T : class
    {
        if (!File.Exists(path)) return null;
        try { return connect(path); }
        catch (ControlException e) when (e.NoServer) { return null; } // a stale socket: nobody is running there
        catch (ControlException e) { throw new CliFailure(e.Message); } // it answered, and refused us
        catch (UnauthorizedAccessException) { throw new CliFailure($"{path}: permission denied (the stack belongs to another user)"); }
        catch (System.Net.Sockets.SocketException e) when (e.SocketErrorCode == System.Net.Sockets.SocketError.AccessDenied)
        {
            throw new CliFailure($"{path}: permission denied (the stack belongs to another user)");
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException)
        {
            return null; // a stale socket: nobody is running there
        }
    }
}
