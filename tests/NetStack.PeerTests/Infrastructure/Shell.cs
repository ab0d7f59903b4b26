using System.Diagnostics;
using System.Text;

namespace NetStack.PeerTests;

/// <summary>The outcome of a finished command.</summary>
public sealed record CommandResult(string CommandLine, int ExitCode, string StdOut, string StdErr)
{
    public override string ToString() => $"$ {CommandLine}\n(exit {ExitCode})\n{StdOut}{StdErr}";
}

/// <summary>Runs commands with a time limit; kills (by PID, with its children) only what it started.</summary>
public static class Shell
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    public static CommandResult Run(string file, IEnumerable<string> args, TimeSpan? timeout = null, string? stdin = null)
    {
        var psi = new ProcessStartInfo(file)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        string line = file + " " + string.Join(' ', psi.ArgumentList);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {file}");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (stdin is not null)
        {
            p.StandardInput.Write(stdin);
            p.StandardInput.Close();
        }
        if (!p.WaitForExit(timeout ?? DefaultTimeout))
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
            throw new TimeoutException($"timed out after {(timeout ?? DefaultTimeout).TotalSeconds} s: {line}\n{stdout.Result}{stderr.Result}");
        }
        return new CommandResult(line, p.ExitCode, stdout.Result, stderr.Result);
    }

    public static CommandResult Run(string file, params string[] args) => Run(file, (IEnumerable<string>)args);

    /// <summary>Runs and throws (with the output) unless the exit code is 0.</summary>
    public static CommandResult Check(string file, params string[] args)
    {
        var r = Run(file, args);
        if (r.ExitCode != 0) throw new InvalidOperationException($"command failed:\n{r}");
        return r;
    }

    /// <summary>The repository's top directory (the one holding setup-tap.sh).</summary>
    public static string RepoRoot { get; } = FindRepoRoot();

    private static string FindRepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "setup-tap.sh"))) return d.FullName;
        throw new InvalidOperationException("cannot find the repository root (setup-tap.sh) above " + AppContext.BaseDirectory);
    }
}
