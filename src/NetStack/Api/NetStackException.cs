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

    /// <summary>
    /// The <see cref="SocketError"/> .NET reports on Linux for an errno (System.Net.Sockets'
    /// SocketErrorPal.Unix table); errnos it does not list are <see cref="SocketError.SocketError"/>.
    /// </summary>
    public static SocketError ToSocketError(int errno) => Math.Abs(errno) switch
    {
        0 => SocketError.Success,
        Uapi.Errno.EPERM or Uapi.Errno.EACCES => SocketError.AccessDenied,
        Uapi.Errno.ENOENT => SocketError.AddressNotAvailable,
        Uapi.Errno.EINTR => SocketError.Interrupted,
        Uapi.Errno.ENXIO => SocketError.HostNotFound,
        Uapi.Errno.EBADF => SocketError.OperationAborted,
        Uapi.Errno.EAGAIN => SocketError.WouldBlock,
        Uapi.Errno.EFAULT => SocketError.Fault,
        Uapi.Errno.EINVAL => SocketError.InvalidArgument,
        Uapi.Errno.ENFILE or Uapi.Errno.EMFILE => SocketError.TooManyOpenSockets,
        Uapi.Errno.EPIPE => SocketError.Shutdown,
        Uapi.Errno.ENOTSOCK => SocketError.NotSocket,
        Uapi.Errno.EDESTADDRREQ => SocketError.DestinationAddressRequired,
        Uapi.Errno.EMSGSIZE => SocketError.MessageSize,
        Uapi.Errno.EPROTOTYPE => SocketError.ProtocolType,
        Uapi.Errno.ENOPROTOOPT => SocketError.ProtocolOption,
        Uapi.Errno.EPROTONOSUPPORT => SocketError.ProtocolNotSupported,
        Uapi.Errno.ESOCKTNOSUPPORT => SocketError.SocketNotSupported,
        Uapi.Errno.EOPNOTSUPP => SocketError.OperationNotSupported,
        Uapi.Errno.EPFNOSUPPORT => SocketError.ProtocolFamilyNotSupported,
        Uapi.Errno.EAFNOSUPPORT => SocketError.AddressFamilyNotSupported,
        Uapi.Errno.EADDRINUSE => SocketError.AddressAlreadyInUse,
        Uapi.Errno.EADDRNOTAVAIL => SocketError.AddressNotAvailable,
        Uapi.Errno.ENETDOWN => SocketError.NetworkDown,
        Uapi.Errno.ENETUNREACH => SocketError.NetworkUnreachable,
        Uapi.Errno.ENETRESET => SocketError.NetworkReset,
        Uapi.Errno.ECONNABORTED => SocketError.ConnectionAborted,
        Uapi.Errno.ECONNRESET => SocketError.ConnectionReset,
        Uapi.Errno.ENOBUFS => SocketError.NoBufferSpaceAvailable,
        Uapi.Errno.EISCONN => SocketError.IsConnected,
        Uapi.Errno.ENOTCONN => SocketError.NotConnected,
        Uapi.Errno.ESHUTDOWN => SocketError.Disconnecting,
        Uapi.Errno.ETIMEDOUT => SocketError.TimedOut,
        Uapi.Errno.ECONNREFUSED => SocketError.ConnectionRefused,
        Uapi.Errno.EHOSTDOWN => SocketError.HostDown,
        Uapi.Errno.EHOSTUNREACH => SocketError.HostUnreachable,
        Uapi.Errno.EALREADY => SocketError.AlreadyInProgress,
        Uapi.Errno.EINPROGRESS => SocketError.InProgress,
        125 => SocketError.OperationAborted, // ECANCELED
        _ => SocketError.SocketError,
    };
}
