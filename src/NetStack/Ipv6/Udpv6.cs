using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Ipv6;

/// <summary>
/// udpv6_prot: SOCK_DGRAM/IPPROTO_UDP sockets of AF_INET6. They share UDP's port table and
/// receive path with AF_INET (a dual-stack socket on :: takes the IPv4 port too), and send to a
/// v4-mapped peer through udp_sendmsg.
/// <remarks>Mirrors net/ipv6/udp.c: struct proto udpv6_prot.</remarks>
/// </summary>
internal sealed class UdpV6Prot : Proto
{
    public static readonly UdpV6Prot Instance = new();
    public override string Name => "UDPv6";
    public override Sock? CreateSock(NetNamespace net) => new UdpSock();
    public override bool HasIoctl => true;

    /// <remarks>udp_lib_close() -> sk_common_release().</remarks>
    public override void Close(Sock sk, long timeout) => AfInet.SkCommonRelease(sk);
    /// <remarks>ip6_datagram_connect().</remarks>
    public override int Connect(Sock sk, in SockAddr addr) => Inet6Datagram.Ip6DatagramConnect(sk, addr);
    /// <remarks>udp_disconnect().</remarks>
    public override int Disconnect(Sock sk, int flags) => Udp.UdpDisconnect(sk, flags);
    /// <remarks>udp_ioctl().</remarks>
    public override int Ioctl(Sock sk, int cmd, out int karg) => Udp.UdpIoctl(sk, cmd, out karg);
    /// <remarks>udpv6_init_sock() -> udp_lib_init_sock().</remarks>
    public override int Init(Sock sk) => 0;
    /// <remarks>udpv6_destroy_sock(): as udp_destroy_sock().</remarks>
    public override void Destroy(Sock sk) => UdpProt.Instance.Destroy(sk);
    /// <remarks>udpv6_setsockopt(): SOL_UDP to udp_lib_setsockopt(), the rest to ipv6_setsockopt().</remarks>
    public override int Setsockopt(Sock sk, int level, int optname, ReadOnlySpan<byte> optval) =>
        level == SOL_UDP ? Udp.UdpSetsockopt(sk, level, optname, optval) : Ipv6Sockglue.Ipv6Setsockopt(sk, level, optname, optval);
    /// <remarks>udpv6_getsockopt(): SOL_UDP to udp_lib_getsockopt(), the rest to ipv6_getsockopt().</remarks>
    public override int Getsockopt(Sock sk, int level, int optname, Span<byte> optval, ref int optlen) =>
        level == SOL_UDP ? Udp.UdpGetsockopt(sk, level, optname, optval, ref optlen) : Ipv6Sockglue.Ipv6Getsockopt(sk, level, optname, optval, ref optlen);
    /// <remarks>udpv6_sendmsg().</remarks>
    public override int Sendmsg(Sock sk, ref MsgHdr msg, ReadOnlySpan<byte> data) => Udpv6.Udpv6Sendmsg(sk, ref msg, data);
    /// <remarks>udpv6_recvmsg().</remarks>
    public override int Recvmsg(Sock sk, ref MsgHdr msg, Span<byte> buf, int flags) => Udpv6.Udpv6Recvmsg(sk, ref msg, buf, flags);
    /// <remarks>udp_lib_hash(): never called; binding hashes through get_port.</remarks>
    public override int Hash(Sock sk) => 0;
    /// <remarks>udp_lib_unhash().</remarks>
    public override void Unhash(Sock sk) => Udp.UdpLibUnhash(sk);
    /// <remarks>udp_v6_rehash(): as udp_v4_rehash() over a table keyed by port.</remarks>
    public override void Rehash(Sock sk) => UdpProt.Instance.Rehash(sk);
    /// <remarks>udp_v6_get_port() -> udp_lib_get_port() (the conflict check is inet_rcv_saddr_equal() across families).</remarks>
    public override int GetPort(Sock sk, ushort snum) => Udp.UdpLibGetPort(sk, snum);
}

/// <summary>UDP over IPv6: the send and receive of AF_INET6 sockets. <remarks>Mirrors net/ipv6/udp.c.</remarks></summary>
internal static class Udpv6
{
    /// <summary>
    /// Sends one datagram from an AF_INET6 socket. The destination is checked in Linux's order
    /// (addrlen of a family, then per family: AF_INET goes straight to udp_sendmsg, AF_INET6 needs
    /// SIN6_LEN_RFC2133 bytes, AF_UNSPEC means none, anything else -EINVAL; none on an unconnected
    /// socket -EDESTADDRREQ). A v4-mapped destination is sent by udp_sendmsg as a sockaddr_in
    /// (-ENETUNREACH on a v6-only socket); a native one needs an IPv6 route.
    /// </summary>
    /// <remarks>Mirrors net/ipv6/udp.c: udpv6_sendmsg().</remarks>
    public static int Udpv6Sendmsg(Sock sk, ref MsgHdr msg, ReadOnlySpan<byte> data)
    {
        var inet = (InetSock)sk;
        var up = (UdpSock)sk;
        UInt128 daddr;
        bool hasDaddr = true;
        ushort port;
        // destination address check
        if (msg.HasName)
        {
            ref var sin6 = ref msg.Name;
            if (sin6.Len < SaFamilySize) return -Errno.EINVAL;
            switch (sin6.Family)
            {
                case AF_INET6:
                    if (sin6.Len < Sin6LenRfc2133) return -Errno.EINVAL;
                    daddr = sin6.Addr6;
                    if (daddr == UInt128.Zero && Ipv6Address.IsV4Mapped(inet.Pinet6!.Saddr))
                        daddr = Ipv6Address.V4Mapped(Ipv4Address.Loopback);
                    port = sin6.Port;
                    break;
                case AF_INET:
                    return DoUdpSendmsg(sk, ref msg, data);
                case AF_UNSPEC:
                    // msg->msg_name = sin6 = NULL
                    hasDaddr = false;
                    daddr = UInt128.Zero;
                    port = 0;
                    break;
                default:
                    return -Errno.EINVAL;
            }
            if (!hasDaddr)
            {
                var unnamed = msg;
                unnamed.HasName = false;
                unnamed.Name = default;
                int r = Udpv6Sendmsg(sk, ref unnamed, data);
                msg.Flags = unnamed.Flags;
                return r;
            }
        }
        else if (up.Pending == 0)
        {
            if (sk.State != TcpState.Established) return -Errno.EDESTADDRREQ;
            daddr = sk.SkcV6Daddr;
            port = inet.InetDport;
        }
        else
        {
            // daddr = NULL: the pending datagram's flow decides.
            daddr = UInt128.Zero;
            port = 0;
            hasDaddr = false;
        }

        if (hasDaddr && Ipv6Address.IsV4Mapped(daddr))
        {
            var v4 = msg;
            v4.HasName = true;
            v4.Name = SockAddr.In(Ipv6Address.V4Of(daddr), port);
            int err = DoUdpSendmsg(sk, ref v4, data);
            msg.Flags = v4.Flags;
            return err;
        }
        // There are pending frames of an IPv4 flow: udp_sendmsg appends to them.
        if (up.Pending == AF_INET) return DoUdpSendmsg(sk, ref msg, data);
        return Native(sk, daddr);
    }

    /// <summary>The do_udp_sendmsg: label: an IPv4 flow of a dual-stack socket (none on a v6-only one).</summary>
    private static int DoUdpSendmsg(Sock sk, ref MsgHdr msg, ReadOnlySpan<byte> data) =>
        sk.Ipv6only ? -Errno.ENETUNREACH : Udp.UdpSendmsg(sk, ref msg, data);

    /// <summary>
    /// A native IPv6 destination: the route first (ip6_sk_dst_lookup_flow); without one,
    /// -ENETUNREACH as Linux without an IPv6 route.
    /// HOOK ipv6net: with a route, build and send the datagram (ip6_make_skb, udp_v6_send_skb).
    /// </summary>
    private static int Native(Sock sk, UInt128 daddr = default)
    {
        var inet = (InetSock)sk;
        var saddr = inet.Pinet6!.Saddr;
        int err = AfInet6.Ip6DstLookupFlow(sk.Net, sk, daddr, ref saddr, sk.BoundDevIf);
        return err != 0 ? err : -Errno.ENETUNREACH;
    }

    /// <summary>
    /// Receives one datagram on an AF_INET6 socket: udp_recvmsg's copy, with the sender written as
    /// a sockaddr_in6 (an IPv4 sender v4-mapped, scope id 0).
    /// </summary>
    /// <remarks>Mirrors net/ipv6/udp.c: udpv6_recvmsg() (the is_udp4 case: every datagram this stack receives is IPv4).</remarks>
    public static int Udpv6Recvmsg(Sock sk, ref MsgHdr msg, Span<byte> buf, int flags)
    {
        int r = Udp.UdpRecvmsg(sk, ref msg, buf, flags);
        if (r >= 0 || (flags & MSG_ERRQUEUE) != 0) MapName(ref msg);
        return r;
    }

    /// <summary>An IPv4 source written by the IPv4 code, as the sockaddr_in6 an AF_INET6 socket reports.</summary>
    internal static void MapName(ref MsgHdr msg)
    {
        if (!msg.HasName || msg.NameLen == 0 || msg.Name.Family != AF_INET) return;
        msg.Name = SockAddr.In6(Ipv6Address.V4Mapped(msg.Name.Addr), msg.Name.Port);
        msg.NameLen = SockaddrIn6Size;
    }
}
