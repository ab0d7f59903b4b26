using System.Net.Sockets;
using NetStack.Net;

namespace NetStack.Api;

/// <summary>
/// The exception the socket API throws: a <see cref="SocketException"/>, so code written for
/// System.Net.Sockets catches it unchanged, whose <see cref="SocketException.SocketErrorCode"/>
/// maps the errno the way .NET does on Linux (ECONNREFUSED is
/// <see cref="SocketError.ConnectionRefused"/>, EAGAIN is <see cref="SocketError.WouldBlock"/>...),
/// and which keeps the Linux errno itself in <see cref="Errno"/> for callers that branch on it as
/// C programs do. The message is one line, fit for a terminal: "connect: ECONNREFUSED".
/// </summary>
public class NetStackException : SocketException
{
    /// <summary>An exception for a negative (or positive) Linux errno with a message.</summary>
    public NetStackException(int errno, string message) : base((int)ToSocketError(errno), message) => Errno = Math.Abs(errno);

    /// <summary>Builds an exception from a negative (or positive) errno with the kernel's name as message: "ECONNREFUSED".</summary>
    public NetStackException(int errno) : this(errno, Net.Errno.Name(errno)) { }

    /// <summary>The positive Linux errno (EPERM = 1, ...).</summary>
    public int Errno { get; }

    /// <summary>The errno's Linux name ("EBUSY").</summary>
    public string ErrnoName => Net.Errno.Name(Errno);

    /// <summary>Throws for a negative errno return value; returns the value otherwise (for `ThrowIfError(Call(...))`).</summary>
    public static int ThrowIfError(int ret, string? what = null)
    {
        if (ret < 0) throw new NetStackException(ret, what is null ? Net.Errno.Name(ret) : $"{what}: {Net.Errno.Name(ret)}");
        return ret;
    }

    /// <summary>
    /// The <see cref="SocketError"/> .NET reports on Linux for an errno (System.Net.Sockets'
    /// SocketErrorPal.Unix table); errnos it does not list are <see cref="SocketError.SocketError"/>.
    /// </summary>
    public static SocketError ToSocketError(int errno) => Math.Abs(errno) switch
    {
        0 => SocketError.Success,
        Net.Errno.EPERM or Net.Errno.EACCES => SocketError.AccessDenied,
        Net.Errno.ENOENT => SocketError.AddressNotAvailable,
        Net.Errno.EINTR => SocketError.Interrupted,
        Net.Errno.ENXIO => SocketError.HostNotFound,
        Net.Errno.EBADF => SocketError.OperationAborted,
        Net.Errno.EAGAIN => SocketError.WouldBlock,
        Net.Errno.EFAULT => SocketError.Fault,
        Net.Errno.EINVAL => SocketError.InvalidArgument,
        Net.Errno.ENFILE or Net.Errno.EMFILE => SocketError.TooManyOpenSockets,
        Net.Errno.EPIPE => SocketError.Shutdown,
        Net.Errno.ENOTSOCK => SocketError.NotSocket,
        Net.Errno.EDESTADDRREQ => SocketError.DestinationAddressRequired,
        Net.Errno.EMSGSIZE => SocketError.MessageSize,
        Net.Errno.EPROTOTYPE => SocketError.ProtocolType,
        Net.Errno.ENOPROTOOPT => SocketError.ProtocolOption,
        Net.Errno.EPROTONOSUPPORT => SocketError.ProtocolNotSupported,
        Net.Errno.ESOCKTNOSUPPORT => SocketError.SocketNotSupported,
        Net.Errno.EOPNOTSUPP => SocketError.OperationNotSupported,
        Net.Errno.EPFNOSUPPORT => SocketError.ProtocolFamilyNotSupported,
        Net.Errno.EAFNOSUPPORT => SocketError.AddressFamilyNotSupported,
        Net.Errno.EADDRINUSE => SocketError.AddressAlreadyInUse,
        Net.Errno.EADDRNOTAVAIL => SocketError.AddressNotAvailable,
        Net.Errno.ENETDOWN => SocketError.NetworkDown,
        Net.Errno.ENETUNREACH => SocketError.NetworkUnreachable,
        Net.Errno.ENETRESET => SocketError.NetworkReset,
        Net.Errno.ECONNABORTED => SocketError.ConnectionAborted,
        Net.Errno.ECONNRESET => SocketError.ConnectionReset,
        Net.Errno.ENOBUFS => SocketError.NoBufferSpaceAvailable,
        Net.Errno.EISCONN => SocketError.IsConnected,
        Net.Errno.ENOTCONN => SocketError.NotConnected,
        Net.Errno.ESHUTDOWN => SocketError.Disconnecting,
        Net.Errno.ETIMEDOUT => SocketError.TimedOut,
        Net.Errno.ECONNREFUSED => SocketError.ConnectionRefused,
        Net.Errno.EHOSTDOWN => SocketError.HostDown,
        Net.Errno.EHOSTUNREACH => SocketError.HostUnreachable,
        Net.Errno.EALREADY => SocketError.AlreadyInProgress,
        Net.Errno.EINPROGRESS => SocketError.InProgress,
        125 => SocketError.OperationAborted, // ECANCELED
        _ => SocketError.SocketError,
    };
}
