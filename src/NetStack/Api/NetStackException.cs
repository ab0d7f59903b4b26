using NetStack.Net;

namespace NetStack.Api;

/// <summary>
/// The one exception type the managed API throws. Inside the stack every failure is a negative
/// Linux errno; at the API's edge it becomes this exception, which keeps the errno so callers can
/// branch on it as C programs branch on errno. The message is one line, fit for a terminal.
/// </summary>
public class NetStackException : Exception
{
    public NetStackException(int errno, string message) : base(message) => Errno = Math.Abs(errno);

    public NetStackException(int errno, string message, Exception inner) : base(message, inner) => Errno = Math.Abs(errno);

    /// <summary>Builds an exception from a negative (or positive) errno with the kernel's name as message: "ECONNREFUSED".</summary>
    public NetStackException(int errno) : this(errno, Uapi.Errno.Name(errno)) { }

    /// <summary>The positive Linux errno (EPERM = 1, ...).</summary>
    public int Errno { get; }

    /// <summary>The errno's Linux name ("EBUSY").</summary>
    public string ErrnoName => Uapi.Errno.Name(Errno);

    /// <summary>Throws for a negative errno return value; returns the value otherwise (for `ThrowIfError(Call(...))`).</summary>
    public static int ThrowIfError(int ret, string? what = null)
    {
        if (ret < 0) throw new NetStackException(ret, what is null ? Uapi.Errno.Name(ret) : $"{what}: {Uapi.Errno.Name(ret)}");
        return ret;
    }
}
