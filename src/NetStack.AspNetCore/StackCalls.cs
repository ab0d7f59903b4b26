using System.Net;
using System.Net.Sockets;
using NetStack.Api;
using NetStack.Core;
using static NetStack.Uapi.SocketConstants;


namespace NetStack.AspNetCore;

/// <summary>
/// Every call this assembly makes into the stack, in one place: the Kestrel transport and the
/// HttpClient handler go through these few methods only, over the public API (<see cref="NetSocket"/>
/// and its async methods). Endpoints cross as <see cref="IPEndPoint"/>; the stack's errors are
/// classified here for the transport (reset, address in use, closed).
/// </summary>
internal static class StackCalls
{
    /// <summary>A TCP socket bound to <paramref name="endPoint"/> and listening.</summary>
    public static NetSocket Listen(NetNamespace net, IPEndPoint endPoint, int backlog)
    {
        var s = Tcp(net, endPoint);
        try
        {
            // [::] is dual stack, as Kestrel's socket transport binds IPAddress.IPv6Any on Linux.
            if (endPoint.Address.Equals(IPAddress.IPv6Any)) s.DualMode = true;
            s.ReuseAddress = true;
            s.Bind(ToStack(endPoint));
            s.Listen(backlog);
            return s;
        }
        catch
        {
            s.Dispose();
            throw;
        }
    }

    /// <summary>A TCP socket connected to <paramref name="remote"/>; the caller owns it.</summary>
    public static async ValueTask<NetSocket> ConnectAsync(NetNamespace net, IPEndPoint remote, CancellationToken ct)
    {
        var s = Tcp(net, remote);
        try
        {
            await s.ConnectAsync(ToStack(remote), ct).ConfigureAwait(false);
            return s;
        }
        catch
        {
            s.Dispose();
            throw;
        }
    }

    /// <summary>A stream over a connected socket that closes the socket when disposed.</summary>
    public static Stream OwningStream(NetSocket s) => new NetStream(s, ownsSocket: true);

    public static ValueTask<NetSocket> AcceptAsync(NetSocket listener, CancellationToken ct) => listener.AcceptAsync(ct);

    public static ValueTask<int> ReceiveAsync(NetSocket s, Memory<byte> buffer, CancellationToken ct) => s.ReceiveAsync(buffer, ct);

    public static ValueTask<int> SendAsync(NetSocket s, ReadOnlyMemory<byte> data, CancellationToken ct) => s.SendAsync(data, ct);

    /// <summary>shutdown(SHUT_WR): our FIN after what was sent; errors (already reset) are ignored.</summary>
    public static void ShutdownSend(NetSocket s)
    {
        try { s.Shutdown(SHUT_WR); }
        catch (NetStackException) { }
        catch (ObjectDisposedException) { }
    }

    /// <summary>
    /// close(2). Linux answers a close with unread data with a reset, and so does the stack; as
    /// Kestrel's own socket transport, an abort does not force one otherwise (SO_LINGER stays off).
    /// </summary>
    public static void Close(NetSocket s) => s.Dispose();

    public static IPEndPoint? LocalEndPoint(NetSocket s)
    {
        try { return s.LocalEndPoint; }
        catch (NetStackException) { return null; }
        catch (ObjectDisposedException) { return null; }
    }

    public static IPEndPoint? RemoteEndPoint(NetSocket s)
    {
        try { return s.RemoteEndPoint; }
        catch (NetStackException) { return null; }
        catch (ObjectDisposedException) { return null; }
    }

    /// <summary>The stack's errno of <paramref name="e"/> (positive), or 0 when it is not a stack error.</summary>
    public static int Errno(Exception e) => e is NetStackException n ? n.Errno : 0;

    /// <summary>The connection was reset or timed out by the peer's doing (Kestrel's ConnectionResetException).</summary>
    public static bool IsReset(Exception e) =>
        Errno(e) is Uapi.Errno.ECONNRESET or Uapi.Errno.EPIPE or Uapi.Errno.ETIMEDOUT or Uapi.Errno.ECONNABORTED or Uapi.Errno.EHOSTUNREACH;

    /// <summary>The socket was closed under the call (our own abort or shutdown).</summary>
    public static bool IsClosed(Exception e) => e is ObjectDisposedException || Errno(e) is Uapi.Errno.EBADF or Uapi.Errno.ENOTCONN;

    public static bool IsAddressInUse(Exception e) => Errno(e) == Uapi.Errno.EADDRINUSE;

    /// <summary>
    /// The endpoint as the stack takes it: an IPv6 address (TCP over IPv6, issue 11), <c>[::]</c>
    /// included, as is; IPv4-mapped addresses unmapped.
    /// </summary>
    public static IPEndPoint ToStack(IPEndPoint ep)
    {
        if (ep.Address.IsIPv4MappedToIPv6) return new IPEndPoint(ep.Address.MapToIPv4(), ep.Port);
        return ep;
    }

    private static bool IsNativeIpv6(IPEndPoint ep) =>
        ep.AddressFamily == AddressFamily.InterNetworkV6 && !ep.Address.IsIPv4MappedToIPv6;

    /// <summary>A TCP socket of the family <paramref name="ep"/> needs: AF_INET6 for an IPv6 address ([::] too), AF_INET otherwise.</summary>
    private static NetSocket Tcp(NetNamespace net, IPEndPoint ep) =>
        IsNativeIpv6(ep) ? new NetSocket(net, AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp) : NetSocket.Tcp(net);
}
