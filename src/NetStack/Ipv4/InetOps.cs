using NetStack.Core;
using NetStack.Net;

namespace NetStack.Ipv4;

/// <summary>
/// The members the three AF_INET proto_ops tables share (they point at the same inet_* functions
/// in the kernel); the tables below differ only where the kernel's differ.
/// </summary>
public abstract class InetOps : ProtoOps
{
    public override int Family => SocketConstants.PF_INET;
    public override int Release(BsdSocket sock) => AfInet.InetRelease(sock);
    public override int Bind(BsdSocket sock, in SockAddr addr) => AfInet.InetBind(sock, addr);
    public override int Getname(BsdSocket sock, out SockAddr addr, int peer) => AfInet.InetGetname(sock, out addr, peer);
    public override int Ioctl(BsdSocket sock, int cmd, ref int arg) => AfInet.InetIoctl(sock, cmd, ref arg);
    public override int Shutdown(BsdSocket sock, int how) => AfInet.InetShutdown(sock, how);
    public override int Setsockopt(BsdSocket sock, int level, int optname, ReadOnlySpan<byte> optval) =>
        AfInet.SockCommonSetsockopt(sock, level, optname, optval);
    public override int Getsockopt(BsdSocket sock, int level, int optname, Span<byte> optval, ref int optlen) =>
        AfInet.SockCommonGetsockopt(sock, level, optname, optval, ref optlen);
    public override int Sendmsg(BsdSocket sock, ref MsgHdr msg, ReadOnlySpan<byte> data) => AfInet.InetSendmsg(sock, ref msg, data);
    public override int Recvmsg(BsdSocket sock, ref MsgHdr msg, Span<byte> buf, int flags) => AfInet.InetRecvmsg(sock, ref msg, buf, flags);
}

/// <summary>
/// SOCK_DGRAM operations (UDP).
/// <remarks>Mirrors net/ipv4/af_inet.c: const struct proto_ops inet_dgram_ops.</remarks>
/// </summary>
public sealed class InetDgramOps : InetOps
{
    public static readonly InetDgramOps Instance = new();
    public override int Connect(BsdSocket sock, in SockAddr addr, int flags) => AfInet.InetDgramConnect(sock, addr, flags);
    /// <remarks>udp_poll.</remarks>
    public override int Poll(BsdSocket sock) => Udp.UdpPoll(sock);
}

/// <summary>
/// SOCK_RAW and ping operations: "the same as inet_dgram_ops but without udp_poll".
/// <remarks>Mirrors net/ipv4/af_inet.c: static const struct proto_ops inet_sockraw_ops.</remarks>
/// </summary>
public sealed class InetSockrawOps : InetOps
{
    public static readonly InetSockrawOps Instance = new();
    public override int Connect(BsdSocket sock, in SockAddr addr, int flags) => AfInet.InetDgramConnect(sock, addr, flags);
    /// <remarks>datagram_poll.</remarks>
    public override int Poll(BsdSocket sock) => Datagram.DatagramPoll(sock);
}
