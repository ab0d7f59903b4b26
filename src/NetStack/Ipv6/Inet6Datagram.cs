using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Ipv6;

/// <summary>
/// connect() of AF_INET6 datagram sockets (UDP, ping, raw): a v4-mapped (or AF_INET) peer is
/// connected through the IPv4 code and mirrored into the IPv6 view; a native one needs an IPv6
/// route.
/// <remarks>Mirrors net/ipv6/datagram.c.</remarks>
/// </summary>
internal static class Inet6Datagram
{
    /// <summary>
    /// Connects a datagram socket. Checks in Linux's order: an AF_INET address goes to
    /// __ip4_datagram_connect (-EAFNOSUPPORT on a v6-only socket); then addrlen (-EINVAL), family
    /// (-EAFNOSUPPORT); :: means loopback; a v4-mapped peer connects over IPv4 (-ENETUNREACH on a
    /// v6-only socket); a native one needs an interface if link-local, then a route.
    /// </summary>
    /// <remarks>Mirrors net/ipv6/datagram.c: ip6_datagram_connect() -> __ip6_datagram_connect().</remarks>
    public static int Ip6DatagramConnect(Sock sk, in SockAddr uaddr)
    {
        var inet = (InetSock)sk;
        var np = inet.Pinet6!;
        int err;
        if (uaddr.Family == AF_INET)
        {
            if (sk.Ipv6only) return -Errno.EAFNOSUPPORT;
            err = Udp.Ip4DatagramConnect(sk, uaddr);
            return err != 0 ? err : Ipv4Connected(sk, inet, np);
        }
        if (uaddr.Len < Sin6LenRfc2133) return -Errno.EINVAL;
        if (uaddr.Family != AF_INET6) return -Errno.EAFNOSUPPORT;

        var daddr = uaddr.Addr6;
        if (np.Sndflow) np.FlowLabel = uaddr.FlowInfo & 0x000FFFFF; // IPV6_FLOWINFO_MASK's label part
        if (daddr == UInt128.Zero)
        {
            // connect to self if not specified
            daddr = Ipv6Address.IsV4Mapped(sk.SkcV6RcvSaddr) ? Ipv6Address.V4Mapped(Ipv4Address.Loopback) : Ipv6Address.Loopback;
        }
        int addrType = AfInet6.Ipv6AddrType(daddr);

        if ((addrType & AfInet6.IPV6_ADDR_MAPPED) != 0)
        {
            if (sk.Ipv6only) return -Errno.ENETUNREACH;
            var sin = SockAddr.In(Ipv6Address.V4Of(daddr), uaddr.Port);
            err = Udp.Ip4DatagramConnect(sk, sin);
            return err != 0 ? err : Ipv4Connected(sk, inet, np);
        }

        int oif = sk.BoundDevIf;
        if (AfInet6.Ipv6AddrNeedsScopeId(addrType))
        {
            if (uaddr.Len >= SockaddrIn6Size && uaddr.ScopeId != 0)
            {
                if (sk.BoundDevIf != 0 && sk.BoundDevIf != (int)uaddr.ScopeId) return -Errno.EINVAL;
                sk.BoundDevIf = (int)uaddr.ScopeId;
            }
            if (sk.BoundDevIf == 0 && (addrType & AfInet6.IPV6_ADDR_MULTICAST) != 0) sk.BoundDevIf = np.McastOif;
            // Connect to link-local address requires an interface.
            if (sk.BoundDevIf == 0) return -Errno.EINVAL;
            oif = sk.BoundDevIf;
        }

        var oldDaddr = sk.SkcV6Daddr;
        var oldDport = inet.InetDport;
        sk.SkcV6Daddr = daddr;
        inet.InetDport = uaddr.Port;

        // Check for a route to destination an obtain the destination cache for it.
        // ip6_datagram_dst_update(sk, true): with a route, fix np->saddr and sk_v6_rcv_saddr
        // (inet_rcv_saddr = LOOPBACK4_IPV6, rehash) and go TCP_ESTABLISHED.
        var saddr = np.Saddr;
        err = AfInet6.Ip6DstLookupFlow(sk.Net, sk, daddr, ref saddr, oif);
        if (err == 0)
        {
            if (np.Saddr == UInt128.Zero) np.Saddr = saddr;
            if (sk.SkcV6RcvSaddr == UInt128.Zero)
            {
                sk.SkcV6RcvSaddr = saddr;
                inet.InetRcvSaddr = AfInet6.Loopback4Ipv6;
                sk.Prot.Rehash(sk);
            }
            sk.State = TcpState.Established;
            SockReuseport.ReuseportHasConnsSet(sk);
            return 0;
        }
        // Restore the socket peer info, to keep it consistent with the old socket state.
        sk.SkcV6Daddr = oldDaddr;
        inet.InetDport = oldDport;
        return err;
    }

    /// <summary>The ipv4_connected: tail of __ip6_datagram_connect(): the IPv4 association seen through v4-mapped addresses.</summary>
    private static int Ipv4Connected(Sock sk, InetSock inet, Ipv6Pinfo np)
    {
        sk.SkcV6Daddr = Ipv6Address.V4Mapped(inet.InetDaddr);
        if (np.Saddr == UInt128.Zero || AfInet6.Ipv6MappedAddrAny(np.Saddr))
            np.Saddr = Ipv6Address.V4Mapped(inet.InetSaddr);
        if (sk.SkcV6RcvSaddr == UInt128.Zero || AfInet6.Ipv6MappedAddrAny(sk.SkcV6RcvSaddr))
        {
            sk.SkcV6RcvSaddr = Ipv6Address.V4Mapped(inet.InetRcvSaddr);
            sk.Prot.Rehash(sk);
        }
        return 0;
    }

    /// <summary>connect() of ping and raw AF_INET6 sockets: AF_INET6 only (the family is checked before the length).</summary>
    /// <remarks>Mirrors net/ipv6/datagram.c: ip6_datagram_connect_v6_only().</remarks>
    public static int Ip6DatagramConnectV6Only(Sock sk, in SockAddr uaddr)
    {
        if (uaddr.Family != AF_INET6) return -Errno.EAFNOSUPPORT;
        return Ip6DatagramConnect(sk, uaddr);
    }
}
