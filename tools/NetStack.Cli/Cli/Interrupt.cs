using System.Runtime.InteropServices;

namespace NetStack.Cli;

/// <summary>
/// Ctrl-C (SIGINT) and SIGTERM for every command, handled once: the first signal cancels
/// <see cref="Token"/>, which the commands watch to stop in order (up prints its counters, ping its
/// summary); the process then exits 130 (SIGINT) or 143 (SIGTERM), whatever the command returned.
/// A command that cannot notice the token (a blocking read of the terminal) is ended after
/// <see cref="Grace"/>; a second signal ends the process at once.
/// </summary>
internal static class Interrupt
{
    private static readonly CancellationTokenSource Cts = new();
    private static PosixSignalRegistration? _int, _term;
    private static int _signal;

    /// <summary>Cancelled at the first SIGINT or SIGTERM.</summary>
    public static CancellationToken Token => Cts.Token;

    /// <summary>How long a command has to wind down after the signal before the process ends anyway.</summary>
    public static TimeSpan Grace { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The exit code for the signal received (130, 143), or null when none came.</summary>
    public static int? ExitCode => Volatile.Read(ref _signal) switch
    {
        0 => null,
        15 => ExitCodes.Terminated,
        _ => ExitCodes.Interrupted,
    };

    public static void Install()
    {
        _int = PosixSignalRegistration.Create(PosixSignal.SIGINT, ctx => { ctx.Cancel = true; Raise(2); });
        _term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx => { ctx.Cancel = true; Raise(15); });
    }

    private static void Raise(int signal)
    {
        if (Interlocked.CompareExchange(ref _signal, signal, 0) != 0)
        {
            Environment.Exit(ExitCode ?? ExitCodes.Interrupted); // the second signal: no more waiting
            return;
        }
        Cts.Cancel();
        var grace = Grace;
        new Thread(() =>
        {
            Thread.Sleep(grace);
            Console.Out.Flush();
            Environment.Exit(ExitCode ?? ExitCodes.Interrupted);
        }) { IsBackground = true, Name = "netstack-interrupt" }.Start();
    }
}
