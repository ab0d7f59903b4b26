namespace NetStack.Core;

/// <summary>
/// A failure below the managed API that carries a Linux errno: a driver that cannot attach to its
/// device, a system call of the host that failed. Inside the protocol code failures stay negative
/// errno return values; this is for the places that must throw (constructors, attach). It is an
/// <see cref="IOException"/>, as .NET reports a failed device or file operation; the managed API
/// translates it into its own exception at its edge.
/// </summary>
public class ErrnoException : IOException
{
    /// <summary>A failure with Linux errno <paramref name="errno"/> (either sign; stored positive).</summary>
    public ErrnoException(int errno, string message) : base(message) => Errno = Math.Abs(errno);

    /// <summary>A failure with Linux errno <paramref name="errno"/> (either sign; stored positive) caused by <paramref name="inner"/>.</summary>
    public ErrnoException(int errno, string message, Exception inner) : base(message, inner) => Errno = Math.Abs(errno);

    /// <summary>The positive Linux errno (EPERM = 1, ...).</summary>
    public int Errno { get; }

    /// <summary>The errno's Linux name ("EBUSY").</summary>
    public string ErrnoName => Uapi.Errno.Name(Errno);
}
