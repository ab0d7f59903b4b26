using System.Diagnostics;
using System.Text;

namespace NetStack.PeerTests;

/// <summary>
/// A long-running command (a server inside a test namespace): started, waited for until it prints
/// a line saying it is ready, and killed (by its PID, with its children) on Dispose. Its output is
/// kept for failure messages.
/// </summary>
public sealed class BackgroundProcess : IDisposable
{
    private readonly Process _p;
    private readonly StringBuilder _out = new();
    private readonly ManualResetEventSlim _ready = new();
    private readonly string? _readyText;

    public BackgroundProcess(string file, IEnumerable<string> args, string? readyText = null, string? workingDirectory = null)
    {
        _readyText = readyText;
        var psi = new ProcessStartInfo(file)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        if (workingDirectory is not null) psi.WorkingDirectory = workingDirectory;
        foreach (var a in args) psi.ArgumentList.Add(a);
        CommandLine = file + " " + string.Join(' ', psi.ArgumentList);
        _p = new Process { StartInfo = psi };
        _p.OutputDataReceived += (_, e) => OnLine(e.Data);
        _p.ErrorDataReceived += (_, e) => OnLine(e.Data);
        if (!_p.Start()) throw new InvalidOperationException($"cannot start {CommandLine}");
        _p.BeginOutputReadLine();
        _p.BeginErrorReadLine();
        if (readyText is null) _ready.Set();
    }

    /// <summary>Runs <paramref name="args"/> inside the namespace <paramref name="ns"/>.</summary>
    public static BackgroundProcess InNamespace(string ns, string? readyText, params string[] args) =>
        new("ip", ["netns", "exec", ns, .. args], readyText);

    public string CommandLine { get; }
    public int Pid => _p.Id;

    public string Output
    {
        get { lock (_out) return _out.ToString(); }
    }

    private void OnLine(string? line)
    {
        if (line is null) return;
        lock (_out) _out.Append(line).Append('\n');
        if (_readyText is not null && line.Contains(_readyText, StringComparison.Ordinal)) _ready.Set();
    }

    /// <summary>Writes a line to the process's standard input (which stays open until Dispose).</summary>
    public void WriteLine(string line)
    {
        _p.StandardInput.WriteLine(line);
        _p.StandardInput.Flush();
    }

    /// <summary>Kills the process itself (SIGKILL: no handler runs, no clean-up of its own), not its children.</summary>
    public void Kill()
    {
        _p.Kill(entireProcessTree: false);
        _p.WaitForExit();
    }

    /// <summary>
    /// Whether the process has ended, its output read to the end: Process.HasExited turns true
    /// before the reader has delivered the last lines, so a test that read <see cref="Output"/> right
    /// after could miss them (MulticastPeerTests failed so in a loaded CI run: "joined" only).
    /// </summary>
    public bool HasExited
    {
        get
        {
            if (!_p.HasExited) return false;
            _p.WaitForExit(); // drains the redirected output
            return true;
        }
    }

    /// <summary>Waits for the process to end by itself; true if it did within <paramref name="timeout"/>.</summary>
    public bool WaitForExit(TimeSpan timeout)
    {
        if (!_p.WaitForExit(timeout)) return false;
        _p.WaitForExit(); // drains the redirected output
        return true;
    }

    /// <summary>The exit code, once the process has ended.</summary>
    public int ExitCode => _p.ExitCode;

    /// <summary>Waits for the ready line; throws with the output if it does not come or the process dies.</summary>
    public BackgroundProcess WaitReady(TimeSpan? timeout = null)
    {
        var end = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        while (!_ready.Wait(50))
        {
            if (_p.HasExited) throw new InvalidOperationException($"{CommandLine} exited ({_p.ExitCode}) before it was ready:\n{Output}");
            if (DateTime.UtcNow > end) throw new TimeoutException($"{CommandLine} not ready after {(timeout ?? TimeSpan.FromSeconds(20)).TotalSeconds} s:\n{Output}");
        }
        return this;
    }

    public void Dispose()
    {
        try
        {
            if (!_p.HasExited)
            {
                _p.Kill(entireProcessTree: true);
                _p.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException) { }
        _p.Dispose();
    }
}
