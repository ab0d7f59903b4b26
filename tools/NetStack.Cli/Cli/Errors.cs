namespace NetStack.Cli;

/// <summary>A mistake on the command line: printed as one line, exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>A failure that is not a usage mistake (something missing, a file that cannot be written): one line, exit code 1.</summary>
internal sealed class CliFailure(string message) : Exception(message);

/// <summary>The exit codes every command uses.</summary>
internal static class ExitCodes
{
    public const int Ok = 0;
    /// <summary>A failure: an error from the stack, the network, the file system.</summary>
    public const int Failure = 1;
    /// <summary>A usage mistake: an unknown option, a bad value, a missing argument.</summary>
    public const int Usage = 2;
    /// <summary>Interrupted by Ctrl-C (128 + SIGINT), as shells report it.</summary>
    public const int Interrupted = 130;
    /// <summary>Stopped by SIGTERM (128 + SIGTERM).</summary>
    public const int Terminated = 143;
}
