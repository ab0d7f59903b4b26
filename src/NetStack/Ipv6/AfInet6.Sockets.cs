using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Ipv6;

/// <summary>The BSD-socket side of AF_INET6: the inet6_* functions the proto_ops tables point at.</summary>
public static partial class AfInet6
{
    /// <summary>Closes the socket: the IPv6 group memberships would go first (none are kept yet), then inet_release.</summary>
    /// <remarks>Mirrors net/ipv6/af_inet6.c: inet6_release() (ipv6_sock_mc_close(), ipv6_sock_ac_close(), inet_release()).</remarks>
    public static int Inet6Release(BsdSocket sock)
    {
        if (sock.Sk is null) return -Errno.EINVAL;
        return AfInet.InetRelease(sock);
    }

    /// <summary>bind() for AF_INET6: the protocol's own bind (raw, ping), or the generic one; a sockaddr_in6 of at least SIN6_LEN_RFC2133 bytes.</summary>
    /// <remarks>Mirrors net/ipv6/af_inet6.c: inet6_bind() -> inet6_bind_sk().</remarks>
    public static int Inet6Bind(BsdSocket sock, in SockAddr addr)
    {
        var sk = sock.Sk!;
        // If the socket has its own bind function then use it.
        if (sk.Prot.HasBind) return sk.Prot.Bind(sk, addr);
        if (addr.Len < Sin6LenRfc2133) return -Errno.EINVAL;
        return Inet6BindInternal(sk, addr, sock.Cred);
    }

    /// <summary>
    /// The bind checks in Linux's order: family, multicast on a stream socket, privileged port,
    /// state, then the address: a v4-mapped one is checked as inet_bind would (and refused on an
    /// IPV6_V6ONLY socket); a native one must be local (link-local needs an interface), and makes
    /// the socket v6-only with 127.0.0.6 as its IPv4 address so that IPv4 never reaches it.
    /// </summary>
    /// <remarks>Mirrors net/ipv6/af_inet6.c: __inet6_bind().</remarks>
    internal static int Inet6BindInternal(Sock sk, in SockAddr addr, Cred? cred)
    {
        var inet = (InetSock)sk;
        var np = inet.Pinet6!;
        var net = sk.Net;
        if (addr.Family != AF_INET6) return -Errno.EAFNOSUPPORT;

        int addrType = Ipv6AddrType(addr.Addr6);
        if ((addrType & IPV6_ADDR_MULTICAST) != 0 && sk.Type == SOCK_STREAM) return -Errno.EINVAL;

        ushort snum = addr.Port;
        if (snum != 0 && snum < net.Ipv4.Sysctl.IpUnprivilegedPortStart && cred is { CapNetBindService: false })
            return -Errno.EACCES;

        // Check these errors (active socket, double bind).
        if (sk.State != TcpState.Close || inet.InetNum != 0) return -Errno.EINVAL;

        uint v4addr = 0;
        // Check if the address belongs to the host.
        if (addrType == IPV6_ADDR_MAPPED)
        {
            // Binding to v4-mapped address on a v6-only socket makes no sense.
            if (sk.Ipv6only) return -Errno.EINVAL;
            if (sk.BoundDevIf != 0 && net.DevGetByIndex(sk.BoundDevIf) is null) return -Errno.ENODEV;
            // Reproduce AF_INET checks to make the bindings consistent.
            v4addr = Ipv6Address.V4Of(addr.Addr6);
            var chkAddrRet = AfInet.InetAddrType(net, v4addr);
            if (!AfInet.InetAddrValidOrNonlocal(net, inet, v4addr, chkAddrRet)) return -Errno.EADDRNOTAVAIL;
        }
        else if (addrType != IPV6_ADDR_ANY)
        {
            if (Ipv6AddrNeedsScopeId(addrType))
            {
                // Override any existing binding, if another one is supplied by user.
                if (addr.Len >= SockaddrIn6Size && addr.ScopeId != 0) sk.BoundDevIf = (int)addr.ScopeId;
                // Binding to link-local address requires an interface.
                if (sk.BoundDevIf == 0) return -Errno.EINVAL;
            }
            if (sk.BoundDevIf != 0 && net.DevGetByIndex(sk.BoundDevIf) is null) return -Errno.ENODEV;
            // ipv4 addr of the socket is invalid. Only the unspecified and mapped address have a v4 equivalent.
            v4addr = Loopback4Ipv6;
            if ((addrType & IPV6_ADDR_MULTICAST) == 0)
            {
                bool canNonlocal = net.Ipv4.Sysctl.IpNonlocalBind || inet.FreeBind || inet.Transparent; // ipv6_can_nonlocal_bind() (ip_nonlocal_bind stands in for net.ipv6.ip_nonlocal_bind)
                if (!canNonlocal && !Ipv6ChkAddr(net, addr.Addr6, sk.BoundDevIf)) return -Errno.EADDRNOTAVAIL;
            }
        }

        inet.InetRcvSaddr = v4addr;
        inet.InetSaddr = v4addr;
        sk.SkcV6RcvSaddr = addr.Addr6;
        if ((addrType & IPV6_ADDR_MULTICAST) == 0) np.Saddr = addr.Addr6;

        bool savedIpv6only = sk.Ipv6only;
        if (addrType != IPV6_ADDR_ANY && addrType != IPV6_ADDR_MAPPED) sk.Ipv6only = true;

        // Make sure we are allowed to bind here.
        if (snum != 0 || !inet.BindAddressNoPort)
        {
            int err = sk.Prot.GetPort(sk, snum);
            if (err != 0)
            {
                sk.Ipv6only = savedIpv6only;
                inet.InetResetSaddr();
                return err < 0 ? err : -Errno.EADDRINUSE;
            }
        }
        if (addrType != IPV6_ADDR_ANY) sk.UserLocks |= Sock.SockBindaddrLock;
        if (snum != 0) sk.UserLocks |= Sock.SockBindportLock;
        inet.InetSport = inet.InetNum;
        inet.InetDport = 0;
        inet.InetDaddr = 0;
        return 0;
    }

    /// <summary>
    /// getsockname (peer = 0) and getpeername (peer = 1, or 2 from accept) as a sockaddr_in6: an
    /// IPv4 peer or local address of a dual-stack socket comes back v4-mapped, a link-local one
    /// with the bound device as sin6_scope_id.
    /// </summary>
    /// <remarks>Mirrors net/ipv6/af_inet6.c: inet6_getname().</remarks>
    public static int Inet6Getname(BsdSocket sock, out SockAddr sin, int peer)
    {
        var sk = sock.Sk!;
        var inet = (InetSock)sk;
        var np = inet.Pinet6!;
        sin = default;
        sin.Family = AF_INET6;
        if (peer != 0)
        {
            if (inet.InetDport == 0 ||
                (TcpStateF.Is(sk.State, TcpStateF.Close | TcpStateF.SynSent) && peer == 1))
                return -Errno.ENOTCONN;
            sin.Port = inet.InetDport;
            sin.Addr6 = sk.SkcV6Daddr;
            if (np.Sndflow) sin.FlowInfo = np.FlowLabel;
        }
        else
        {
            sin.Addr6 = sk.SkcV6RcvSaddr == UInt128.Zero ? np.Saddr : sk.SkcV6RcvSaddr;
            sin.Port = inet.InetSport;
        }
        // ipv6_iface_scope_id()
        sin.ScopeId = Ipv6AddrNeedsScopeId(Ipv6AddrType(sin.Addr6)) ? (uint)sk.BoundDevIf : 0;
        sin.Len = SockaddrIn6Size;
        return SockaddrIn6Size;
    }

    /// <summary>A v4-mapped address the IPv4 code chose, written into the socket's IPv6 view.</summary>
    /// <remarks>Mirrors include/net/ipv6.h: ipv6_addr_set_v4mapped().</remarks>
    internal static UInt128 Ipv6AddrSetV4mapped(uint addr) => Ipv6Address.V4Mapped(addr);
}

/// <summary>
/// The members the AF_INET6 proto_ops tables share: inet6_release, inet6_bind, inet6_getname; the
/// rest are inet_* functions, as the kernel's tables point at them.
/// </summary>
public abstract class Inet6Ops : InetOps
{
    /// <summary>PF_INET6: these tables belong to the IPv6 family.</summary>
    public override int Family => PF_INET6;
    /// <inheritdoc/>
    /// <remarks>Mirrors net/ipv6/af_inet6.c: inet6_release().</remarks>
    public override int Release(BsdSocket sock) => AfInet6.Inet6Release(sock);
    /// <inheritdoc/>
    /// <remarks>Mirrors net/ipv6/af_inet6.c: inet6_bind().</remarks>
    public override int Bind(BsdSocket sock, in SockAddr addr) => AfInet6.Inet6Bind(sock, addr);
    /// <inheritdoc/>
    /// <remarks>Mirrors net/ipv6/af_inet6.c: inet6_getname().</remarks>
    public override int Getname(BsdSocket sock, out SockAddr addr, int peer) => AfInet6.Inet6Getname(sock, out addr, peer);
}

/// <summary>
/// SOCK_STREAM operations of AF_INET6 (TCP): inet_stream_connect, inet_listen, inet_accept, tcp_poll.
/// <remarks>Mirrors net/ipv6/af_inet6.c: const struct proto_ops inet6_stream_ops.</remarks>
/// </summary>
public sealed class Inet6StreamOps : Inet6Ops
{
    /// <summary>The single table (the kernel's inet6_stream_ops).</summary>
    public static readonly Inet6StreamOps Instance = new();
    /// <inheritdoc/>
    /// <remarks>Mirrors net/ipv4/af_inet.c: inet_stream_connect().</remarks>
    public override int Connect(BsdSocket sock, in SockAddr addr, int flags) => InetStreamOps.InetStreamConnect(sock, addr, flags);
    /// <inheritdoc/>
    /// <remarks>Mirrors net/ipv4/af_inet.c: inet_listen().</remarks>
    public override int Listen(BsdSocket sock, int backlog) => InetStreamOps.InetListen(sock, backlog);
    /// <inheritdoc/>
    /// <remarks>Mirrors net/ipv4/af_inet.c: inet_accept().</remarks>
    public override int Accept(BsdSocket sock, BsdSocket newsock, ref ProtoAcceptArg arg) => InetStreamOps.InetAccept(sock, newsock, ref arg);
    /// <inheritdoc/>
    /// <remarks>tcp_poll.</remarks>
    public override int Poll(BsdSocket sock) => Tcp.TcpPoll(sock);
    /// <inheritdoc/>
    /// <remarks>inet6_stream_ops.set_rcvlowat = tcp_set_rcvlowat().</remarks>
    public override int SetRcvlowat(Sock sk, int val) => Tcp.TcpSetRcvlowat((TcpSock)sk, val);
}

/// <summary>
/// SOCK_DGRAM operations of AF_INET6 (UDP): inet_dgram_connect, udp_poll.
/// <remarks>Mirrors net/ipv6/af_inet6.c: const struct proto_ops inet6_dgram_ops.</remarks>
/// </summary>
public sealed class Inet6DgramOps : Inet6Ops
{
    /// <summary>The single table (the kernel's inet6_dgram_ops).</summary>
    public static readonly Inet6DgramOps Instance = new();
    /// <inheritdoc/>
    /// <remarks>Mirrors net/ipv4/af_inet.c: inet_dgram_connect().</remarks>
    public override int Connect(BsdSocket sock, in SockAddr addr, int flags) => AfInet.InetDgramConnect(sock, addr, flags);
    /// <inheritdoc/>
    /// <remarks>udp_poll.</remarks>
    public override int Poll(BsdSocket sock) => Udp.UdpPoll(sock);
}

/// <summary>
/// SOCK_RAW and ICMPv6 ping operations of AF_INET6 (inet6_dgram_ops without udp_poll).
/// <remarks>Mirrors net/ipv6/raw.c: const struct proto_ops inet6_sockraw_ops.</remarks>
/// </summary>
public sealed class Inet6SockrawOps : Inet6Ops
{
    /// <summary>The single table (the kernel's inet6_sockraw_ops).</summary>
    public static readonly Inet6SockrawOps Instance = new();
    /// <inheritdoc/>
    /// <remarks>Mirrors net/ipv4/af_inet.c: inet_dgram_connect().</remarks>
    public override int Connect(BsdSocket sock, in SockAddr addr, int flags) => AfInet.InetDgramConnect(sock, addr, flags);
    /// <inheritdoc/>
    /// <remarks>datagram_poll.</remarks>
    public override int Poll(BsdSocket sock) => Datagram.DatagramPoll(sock);
}
