using NetStack.Core;
using NetStack.Net;

namespace NetStack.Ipv4;

/// <summary>
/// The members the three AF_INET proto_ops tables share (they point at the same inet_* functions
/// in the kernel); the tables below differ only where the kernel's differ.
/// </summary>
public abstract class InetOps : ProtoOps
{
    /// <summary>PF_INET: these tables belong to the IPv4 family.</summary>
    public override int Family => SocketConstants.PF_INET;
    /// <inheritdoc/>
    /// <remarks>Mirrors net/ipv4/af_inet.c: inet_release().</remarks>
    public override int Release(BsdSocket sock) => AfInet.InetRelease(sock);
    /// <inheritdoc/>
    /// <remarks>Mirrors net/ipv4/af_inet.c: inet_bind().</remarks>
    public override int Bind(BsdSocket sock, in SockAddr addr) => AfInet.InetBind(sock, addr);
    /// <inheritdoc/>
    /// <remarks>Mirrors net/ipv4/af_inet.c: inet_getname().</remarks>
    public override int Getname(BsdSocket sock, out SockAddr addr, int peer) => AfInet.InetGetname(sock, out addr, peer);
    /// <inheritdoc/>
    /// <remarks>Mirrors net/ipv4/af_inet.c: inet_ioctl().</remarks>
    public override int Ioctl(BsdSocket sock, int cmd, ref int arg) => AfInet.InetIoctl(sock, cmd, ref arg);
    /// <inheritdoc/>
    /// <remarks>Mirrors net/ipv4/af_inet.c: inet_shutdown().</remarks>
    public override int Shutdown(BsdSocket sock, int how) => AfInet.InetShutdown(sock, how);
    /// <inheritdoc/>
    /// <remarks>Mirrors net/core/sock.c: sock_common_setsockopt().</remarks>
    public override int Setsockopt(BsdSocket sock, int level, int optname, ReadOnlySpan<byte> optval) =>
        AfInet.SockCommonSetsockopt(sock, level, optname, optval);
    /// <inheritdoc/>
    /// <remarks>Mirrors net/core/sock.c: sock_common_getsockopt().</remarks>
    public override int Getsockopt(BsdSocket sock, int level, int optname, Span<byte> optval, ref int optlen) =>
        AfInet.SockCommonGetsockopt(sock, level, optname, optval, ref optlen);
    /// <inheritdoc/>
    /// <remarks>Mirrors net/ipv4/af_inet.c: inet_sendmsg().</remarks>
    public override int Sendmsg(BsdSocket sock, ref MsgHdr msg, ReadOnlySpan<byte> data) => AfInet.InetSendmsg(sock, ref msg, data);
    /// <inheritdoc/>
    /// <remarks>Mirrors net/ipv4/af_inet.c: inet_recvmsg().</remarks>
    public override int Recvmsg(BsdSocket sock, ref MsgHdr msg, Span<byte> buf, int flags) => AfInet.InetRecvmsg(sock, ref msg, buf, flags);
}

/// <summary>
/// SOCK_DGRAM operations (UDP).
/// <remarks>Mirrors net/ipv4/af_inet.c: const struct proto_ops inet_dgram_ops.</remarks>
/// </summary>
public sealed class InetDgramOps : InetOps
{
    /// <summary>The single table (the kernel's inet_dgram_ops).</summary>
    public static readonly InetDgramOps Instance = new();
    /// <inheritdoc/>
    /// <remarks>Mirrors net/ipv4/af_inet.c: inet_dgram_connect().</remarks>
    public override int Connect(BsdSocket sock, in SockAddr addr, int flags) => AfInet.InetDgramConnect(sock, addr, flags);
    /// <inheritdoc/>
    /// <remarks>udp_poll.</remarks>
    public override int Poll(BsdSocket sock) => Udp.UdpPoll(sock);
}

/// <summary>
/// SOCK_RAW and ping operations: "the same as inet_dgram_ops but without udp_poll".
/// <remarks>Mirrors net/ipv4/af_inet.c: static const struct proto_ops inet_sockraw_ops.</remarks>
/// </summary>
public sealed class InetSockrawOps : InetOps
{
    /// <summary>The single table (the kernel's inet_sockraw_ops).</summary>
    public static readonly InetSockrawOps Instance = new();
    /// <inheritdoc/>
    /// <remarks>Mirrors net/ipv4/af_inet.c: inet_dgram_connect().</remarks>
    public override int Connect(BsdSocket sock, in SockAddr addr, int flags) => AfInet.InetDgramConnect(sock, addr, flags);
    /// <inheritdoc/>
    /// <remarks>datagram_poll.</remarks>
    public override int Poll(BsdSocket sock) => Datagram.DatagramPoll(sock);
}
