using System.Buffers.Binary;
using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Ipv6;

/// <summary>
/// The SOL_IPV6 socket options of AF_INET6 sockets, with Linux's checks and errno. SOL_IP options
/// on a non-raw AF_INET6 socket go to the IPv4 code (a dual-stack socket uses them for its
/// v4-mapped traffic), as ipv6_setsockopt() hands them to udp_prot.setsockopt.
/// <remarks>Mirrors net/ipv6/ipv6_sockglue.c.</remarks>
/// </summary>
internal static class Ipv6Sockglue
{
    /// <summary>net.ipv6.conf.all.hop_limit's default: the hop limit IPV6_UNICAST_HOPS reports while it is -1 and there is no route.</summary>
    internal const int Ipv6DefaultHopLimit = 64;
    /// <summary>IPV6_MIN_MTU: the smallest IPV6_MTU (RFC 8200 5).</summary>
    internal const int Ipv6MinMtu = 1280;

    /// <remarks>Mirrors net/ipv6/ipv6_sockglue.c: ipv6_setsockopt().</remarks>
    public static int Ipv6Setsockopt(Sock sk, int level, int optname, ReadOnlySpan<byte> optval)
    {
        if (level == SOL_IP && sk.Type != SOCK_RAW) return IpSockglue.IpSetsockopt(sk, level, optname, optval); // udp_prot.setsockopt
        if (level != SOL_IPV6) return -Errno.ENOPROTOOPT;
        return DoIpv6Setsockopt(sk, level, optname, optval);
    }

    /// <remarks>Mirrors net/ipv6/ipv6_sockglue.c: ipv6_getsockopt().</remarks>
    public static int Ipv6Getsockopt(Sock sk, int level, int optname, Span<byte> optval, ref int optlen)
    {
        if (level == SOL_IP && sk.Type != SOCK_RAW) return IpSockglue.IpGetsockopt(sk, level, optname, optval, ref optlen); // udp_prot.getsockopt
        if (level != SOL_IPV6) return -Errno.ENOPROTOOPT;
        return DoIpv6Getsockopt(sk, level, optname, optval, ref optlen);
    }

    /// <summary>
    /// The options this stack keeps: IPV6_V6ONLY (only before the socket has a port),
    /// IPV6_UNICAST_HOPS and IPV6_MULTICAST_HOPS (-1..255), IPV6_TCLASS (-1..255; a stream socket
    /// keeps its ECN bits), IPV6_MTU_DISCOVER (IPV6_PMTUDISC_DONT..OMIT), IPV6_MTU (0 or at least
    /// 1280), IPV6_RECVERR (off purges the error queue), IPV6_RECVERR_RFC4884 (0 or 1),
    /// IPV6_MULTICAST_LOOP (0 or 1), IPV6_MINHOPCOUNT (0..255), IPV6_DONTFRAG (any length: a short
    /// one is 0), IPV6_RECVPATHMTU, and the sticky IPV6_PKTINFO (a struct in6_pktinfo of at least
    /// 20 bytes, whose interface must be the bound device if there is one: -EINVAL; the address is
    /// not checked). Every int option wants a full int (-EINVAL); any other is -ENOPROTOOPT.
    /// </summary>
    /// <remarks>Mirrors net/ipv6/ipv6_sockglue.c: do_ipv6_setsockopt().</remarks>
    private static int DoIpv6Setsockopt(Sock sk, int level, int optname, ReadOnlySpan<byte> optval)
    {
        var inet = (InetSock)sk;
        var np = inet.Pinet6!;
        int optlen = optval.Length;
        int val = optlen >= sizeof(int) ? BinaryPrimitives.ReadInt32LittleEndian(optval) : 0;
        bool valbool = val != 0;
        int retv = -Errno.ENOPROTOOPT;

        // Handle options that can be set without locking the socket.
        switch (optname)
        {
            case IPV6_UNICAST_HOPS:
                if (optlen < sizeof(int)) return -Errno.EINVAL;
                if (val > 255 || val < -1) return -Errno.EINVAL;
                np.HopLimit = val;
                return 0;
            case IPV6_MULTICAST_LOOP:
                if (optlen < sizeof(int)) return -Errno.EINVAL;
                if (val != (valbool ? 1 : 0)) return -Errno.EINVAL;
                np.McLoop = valbool;
                return 0;
            case IPV6_MULTICAST_HOPS:
                if (sk.Type == SOCK_STREAM) return retv;
                if (optlen < sizeof(int)) return -Errno.EINVAL;
                if (val > 255 || val < -1) return -Errno.EINVAL;
                np.McastHops = val == -1 ? Ipv6Pinfo.Ipv6DefaultMcastHops : val;
                return 0;
            case IPV6_MTU:
                if (optlen < sizeof(int)) return -Errno.EINVAL;
                if (val != 0 && val < Ipv6MinMtu) return -Errno.EINVAL;
                np.FragSize = val;
                return 0;
            case IPV6_RECVERR_RFC4884:
                if (optlen < sizeof(int)) return -Errno.EINVAL;
                if (val < 0 || val > 1) return -Errno.EINVAL;
                np.RecverrRfc4884 = valbool;
                return 0;
            case IPV6_RECVERR:
                if (optlen < sizeof(int)) return -Errno.EINVAL;
                np.Recverr = valbool;
                if (!valbool) sk.SkbErrqueuePurge();
                return 0;
            case IPV6_MTU_DISCOVER:
                if (optlen < sizeof(int)) return -Errno.EINVAL;
                if (val < IPV6_PMTUDISC_DONT || val > IPV6_PMTUDISC_OMIT) return -Errno.EINVAL;
                np.Pmtudisc = val;
                return 0;
            case IPV6_MINHOPCOUNT:
                if (optlen < sizeof(int)) return -Errno.EINVAL;
                if (val < 0 || val > 255) return -Errno.EINVAL;
                np.MinHopcount = (byte)val;
                return 0;
            case IPV6_DONTFRAG:
                // No length check: a short optval reads as 0 (val is only copied from a full int).
                np.Dontfrag = valbool;
                return 0;
        }

        // (Another thread may have converted the socket into IPv4 with IPV6_ADDRFORM: not modelled.)
        if (sk.Family != AF_INET6) return retv;
        switch (optname)
        {
            case IPV6_RECVPKTINFO:
                if (optlen < sizeof(int)) return -Errno.EINVAL;
                np.RxInfo = valbool;
                return 0;
            case IPV6_RECVHOPLIMIT:
                if (optlen < sizeof(int)) return -Errno.EINVAL;
                np.RxHlim = valbool;
                return 0;
            case IPV6_RECVTCLASS:
                if (optlen < sizeof(int)) return -Errno.EINVAL;
                np.RxTclass = valbool;
                return 0;
            case IPV6_V6ONLY:
                if (optlen < sizeof(int) || inet.InetNum != 0) return -Errno.EINVAL;
                sk.Ipv6only = valbool;
                return 0;
            case IPV6_RECVPATHMTU:
                if (optlen < sizeof(int)) return -Errno.EINVAL;
                np.RxPmtu = valbool;
                return 0;
            case IPV6_PKTINFO:
                {
                    // struct in6_pktinfo: at least its 20 bytes (more are ignored).
                    if (optlen == 0) return -Errno.EINVAL;
                    if (optlen < Inet6Datagram.In6PktinfoSize) return -Errno.EINVAL;
                    int ifindex = BinaryPrimitives.ReadInt32LittleEndian(optval[16..]);
                    // sk_dev_equal_l3scope(): a socket bound to a device takes only that device (no VRF here);
                    // neither the address nor the interface is checked further: sends meet them.
                    if (sk.BoundDevIf != 0 && sk.BoundDevIf != ifindex) return -Errno.EINVAL;
                    np.StickyPktinfoIfindex = ifindex;
                    np.StickyPktinfoAddr = Ipv6Address.Read(optval);
                    return 0;
                }
            case IPV6_TCLASS:
                if (optlen < sizeof(int)) return -Errno.EINVAL;
                if (val < -1 || val > 0xff) return -Errno.EINVAL;
                // RFC 3542, 6.5: default traffic class of 0x0
                if (val == -1) val = 0;
                if (sk.Type == SOCK_STREAM)
                {
                    val &= ~InetEcnMask;
                    val |= np.Tclass & InetEcnMask;
                }
                if (np.Tclass != val)
                {
                    np.Tclass = val;
                    sk.SkDstReset();
                }
                return 0;
        }
        return retv;
    }

    /// <summary>dst_mtu(__sk_dst_get(sk)): a native peer's path MTU (Route6Pmtu), else the route of a v4-mapped connection; 0 without one.</summary>
    private static int SkDstMtu(Sock sk, InetSock inet)
    {
        int val = Route6Pmtu.Ip6SkPathMtu(sk);
        if (val == 0) val = inet.DstValid ? Math.Min(inet.Dst.Dev.Mtu, 0xFFFF) : 0; // ipv4_mtu(): at most IP_MAX_MTU
        return val;
    }

    /// <summary>INET_ECN_MASK: the two ECN bits of the traffic class, which TCP owns.</summary>
    private const int InetEcnMask = 3;

    /// <summary>
    /// Reads the options above back: IPV6_UNICAST_HOPS reports net.ipv6.conf.all.hop_limit (64)
    /// while it is -1, IPV6_MTU is -ENOTCONN without a route, IPV6_PATHMTU is a struct ip6_mtuinfo
    /// with only the MTU filled (-EINVAL for less than 32 bytes, then -ENOTCONN). The length is min(len, sizeof(int)),
    /// -EINVAL for a negative one; other options -ENOPROTOOPT.
    /// </summary>
    /// <remarks>Mirrors net/ipv6/ipv6_sockglue.c: do_ipv6_getsockopt().</remarks>
    private static int DoIpv6Getsockopt(Sock sk, int level, int optname, Span<byte> optval, ref int optlen)
    {
        var inet = (InetSock)sk;
        var np = inet.Pinet6!;
        int len = optlen;
        if (len < 0) return -Errno.EINVAL;
        int val;
        switch (optname)
        {
            case IPV6_V6ONLY: val = sk.Ipv6only ? 1 : 0; break;
            case IPV6_UNICAST_HOPS:
            case IPV6_MULTICAST_HOPS:
                val = optname == IPV6_UNICAST_HOPS ? np.HopLimit : np.McastHops;
                // (A cached IPv6 route's hop limit would come first: ip6_dst_hoplimit(); none is cached yet.)
                if (val < 0) val = Ipv6DefaultHopLimit;
                break;
            case IPV6_TCLASS: val = np.Tclass; break;
            case IPV6_RECVPKTINFO: val = np.RxInfo ? 1 : 0; break;
            case IPV6_RECVHOPLIMIT: val = np.RxHlim ? 1 : 0; break;
            case IPV6_RECVTCLASS: val = np.RxTclass ? 1 : 0; break;
            case IPV6_MTU_DISCOVER: val = np.Pmtudisc; break;
            case IPV6_RECVERR: val = np.Recverr ? 1 : 0; break;
            case IPV6_RECVERR_RFC4884: val = np.RecverrRfc4884 ? 1 : 0; break;
            case IPV6_MULTICAST_LOOP: val = np.McLoop ? 1 : 0; break;
            case IPV6_MTU:
                val = SkDstMtu(sk, inet);
                if (val == 0) return -Errno.ENOTCONN;
                break;
            case IPV6_RECVPATHMTU: val = np.RxPmtu ? 1 : 0; break;
            case IPV6_PATHMTU:
                {
                    // struct ip6_mtuinfo: the whole of it or -EINVAL, before the route is asked.
                    if (len < Ip6Mtuinfo.Size) return -Errno.EINVAL;
                    var mtuinfo = new Ip6Mtuinfo { Mtu = (uint)SkDstMtu(sk, inet) };
                    if (mtuinfo.Mtu == 0) return -Errno.ENOTCONN;
                    optlen = Ip6Mtuinfo.Size;
                    Span<byte> info = stackalloc byte[Ip6Mtuinfo.Size];
                    mtuinfo.Write(info); // only ip6m_mtu is filled: the address stays zero (memset)
                    info[..Math.Min(Ip6Mtuinfo.Size, optval.Length)].CopyTo(optval);
                    return 0;
                }
            case IPV6_MINHOPCOUNT: val = np.MinHopcount; break;
            case IPV6_DONTFRAG: val = np.Dontfrag ? 1 : 0; break;
            default:
                return -Errno.ENOPROTOOPT;
        }
        len = Math.Min(sizeof(int), len);
        optlen = len;
        Span<byte> tmp = stackalloc byte[sizeof(int)];
        BinaryPrimitives.WriteInt32LittleEndian(tmp, val);
        tmp[..Math.Min(len, optval.Length)].CopyTo(optval);
        return 0;
    }
}
