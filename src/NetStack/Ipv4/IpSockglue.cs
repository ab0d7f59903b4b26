using System.Buffers.Binary;
using NetStack.Core;
using NetStack.Net;
using NetStack.Uapi;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Ipv4;

/// <summary>
/// The SOL_IP socket options shared by every inet transport.
/// <remarks>Mirrors net/ipv4/ip_sockglue.c: ip_setsockopt() / ip_getsockopt().</remarks>
/// </summary>
internal static class IpSockglue
{
    /// <summary>IP_PMTUDISC_OMIT: the largest IP_MTU_DISCOVER value.</summary>
    private const int IpPmtudiscOmit = 5;
    /// <summary>INET_ECN_MASK: the two ECN bits of the TOS byte.</summary>
    private const int InetEcnMask = 3;

    // The control messages a socket asked for (inet->cmsg_flags; INET_FLAGS_* bit numbers in include/net/inet_sock.h).
    /// <summary>IP_CMSG_PKTINFO: IP_PKTINFO is on.</summary>
    internal const int IpCmsgPktinfo = 1 << 0;
    /// <summary>IP_CMSG_TTL: IP_RECVTTL is on.</summary>
    internal const int IpCmsgTtl = 1 << 1;
    /// <summary>IP_CMSG_TOS: IP_RECVTOS is on.</summary>
    internal const int IpCmsgTos = 1 << 2;
    /// <summary>IP_CMSG_ORIGDSTADDR: IP_RECVORIGDSTADDR is on.</summary>
    internal const int IpCmsgOrigdstaddr = 1 << 6;

    /// <summary>inet_assign_bit(): sets or clears one cmsg flag.</summary>
    private static void AssignCmsgFlag(InetSock inet, int bit, int val)
    {
        if (val != 0) inet.CmsgFlags |= bit;
        else inet.CmsgFlags &= ~bit;
    }

    // ------------------------------------------------------------------ control messages on receive

    /// <summary>
    /// Writes the SOL_IP control messages the socket asked for about a received datagram, in the
    /// kernel's order (IP_PKTINFO, IP_TTL, IP_TOS, IP_ORIGDSTADDR), reading the IP header the queued
    /// buffer still holds. Called by the datagram protocols' recvmsg when <see cref="InetSock.CmsgFlags"/>
    /// is not 0. Allocates nothing.
    /// </summary>
    /// <remarks>Mirrors net/ipv4/ip_sockglue.c: ip_cmsg_recv_offset() (IP_RECVOPTS, IP_RETOPTS, IP_PASSSEC, IP_CHECKSUM and IP_RECVFRAGSIZE are not modelled).</remarks>
    public static void IpCmsgRecv(ref MsgHdr msg, InetSock inet, SkBuff skb)
    {
        int flags = inet.CmsgFlags;
        var iph = skb.Buffer.AsSpan(skb.NetworkHeader);
        // Ordered by supposed usage frequency.
        if ((flags & IpCmsgPktinfo) != 0)
        {
            IpCmsgRecvPktinfo(ref msg, skb, iph);
            flags &= ~IpCmsgPktinfo;
            if (flags == 0) return;
        }
        if ((flags & IpCmsgTtl) != 0)
        {
            // ip_cmsg_recv_ttl(): an int.
            Span<byte> ttl = stackalloc byte[sizeof(int)];
            BinaryPrimitives.WriteInt32LittleEndian(ttl, Ipv4Header.Create(iph).Ttl);
            Scm.PutCmsg(ref msg, SOL_IP, IP_TTL, ttl);
            flags &= ~IpCmsgTtl;
            if (flags == 0) return;
        }
        if ((flags & IpCmsgTos) != 0)
        {
            // ip_cmsg_recv_tos(): one byte, the header's own.
            Scm.PutCmsg(ref msg, SOL_IP, IP_TOS, iph.Slice(1, 1));
            flags &= ~IpCmsgTos;
            if (flags == 0) return;
        }
        if ((flags & IpCmsgOrigdstaddr) != 0) IpCmsgRecvDstaddr(ref msg, skb, iph);
    }

    /// <summary>struct in_pktinfo: the queue-time ifindex and spec_dst, and the header's destination.</summary>
    /// <remarks>Mirrors net/ipv4/ip_sockglue.c: ip_cmsg_recv_pktinfo().</remarks>
    private static void IpCmsgRecvPktinfo(ref MsgHdr msg, SkBuff skb, ReadOnlySpan<byte> iph)
    {
        Span<byte> info = stackalloc byte[InPktinfoSize];
        BinaryPrimitives.WriteInt32LittleEndian(info, skb.Ipcb.Iif);
        BinaryPrimitives.WriteUInt32BigEndian(info[4..], skb.Ipcb.SpecDst);
        iph.Slice(16, 4).CopyTo(info[8..]); // ipi_addr = ip_hdr(skb)->daddr
        Scm.PutCmsg(ref msg, SOL_IP, IP_PKTINFO, info);
    }

    /// <summary>
    /// The destination as a sockaddr_in: the header's address and the second 16 bits of the transport
    /// header ("all current transport protocols have the port numbers in the first four bytes": for
    /// ICMP these are the checksum). Nothing when the transport header does not reach 4 bytes.
    /// </summary>
    /// <remarks>Mirrors net/ipv4/ip_sockglue.c: ip_cmsg_recv_dstaddr().</remarks>
    private static void IpCmsgRecvDstaddr(ref MsgHdr msg, SkBuff skb, ReadOnlySpan<byte> iph)
    {
        if (skb.TransportHeader - skb.Data + 4 > skb.Len) return;
        Span<byte> sin = stackalloc byte[SockaddrInSize];
        sin.Clear();
        BinaryPrimitives.WriteUInt16LittleEndian(sin, AF_INET);
        skb.Buffer.AsSpan(skb.TransportHeader + 2, 2).CopyTo(sin[2..]); // sin_port = ports[1]
        iph.Slice(16, 4).CopyTo(sin[4..]);
        Scm.PutCmsg(ref msg, SOL_IP, IP_ORIGDSTADDR, sin);
    }

    /// <summary>
    /// When a datagram is queued on a socket: with IP_PKTINFO on, keeps the arrival interface and the
    /// address a reply would come from (spec_dst) in the buffer for recvmsg; with it off, clears both
    /// (a later IP_PKTINFO reports ifindex 0 and spec_dst 0.0.0.0 for what was queued before).
    /// </summary>
    /// <remarks>Mirrors net/ipv4/ip_sockglue.c: ipv4_pktinfo_prepare().</remarks>
    public static void Ipv4PktinfoPrepare(InetSock sk, SkBuff skb)
    {
        if ((sk.CmsgFlags & IpCmsgPktinfo) != 0)
        {
            if (skb.Ipcb.Iif == sk.Net.Loopback.IfIndex) skb.Ipcb.Iif = InetIif(sk.Net, skb);
            skb.Ipcb.SpecDst = Route.FibComputeSpecDst(sk.Net, skb);
        }
        else
        {
            skb.Ipcb = default;
        }
    }

    /// <summary>
    /// The interface a packet that came over lo reports: its output route's rt_iif, which
    /// ip_route_output_key_hash_rcu() points at the device of the local route it took ("make sure
    /// orig_oif points to fib result device even though packet rx/tx happens over loopback"): the
    /// device holding the destination address, lo for 127.0.0.0/8 and what no device holds.
    /// </summary>
    /// <remarks>Mirrors include/net/route.h: inet_iif() (rt->rt_iif ?: skb->skb_iif) for a looped-back packet.</remarks>
    private static int InetIif(NetNamespace net, SkBuff skb)
    {
        uint daddr = BinaryPrimitives.ReadUInt32BigEndian(skb.Buffer.AsSpan(skb.NetworkHeader + 16));
        return net.DevByAddress(daddr)?.IfIndex ?? skb.Ipcb.Iif;
    }

    /// <remarks>Mirrors net/ipv4/ip_sockglue.c: ip_setsockopt() -> do_ip_setsockopt().</remarks>
    public static int IpSetsockopt(Sock sk, int level, int optname, ReadOnlySpan<byte> optval)
    {
        if (level != SOL_IP) return -Errno.ENOPROTOOPT;
        var inet = (InetSock)sk;
        int optlen = optval.Length;
        int val = 0;
        // Integer options: a full int, or one byte; "if optlen==0, it is equivalent to val == 0".
        if (optlen >= sizeof(int)) val = BinaryPrimitives.ReadInt32LittleEndian(optval);
        else if (optlen >= 1) val = optval[0];

        switch (optname)
        {
            // Options that can be set without locking the socket: any length, any value (non-zero is on).
            case IP_PKTINFO:
                AssignCmsgFlag(inet, IpCmsgPktinfo, val);
                return 0;
            case IP_RECVTTL:
                AssignCmsgFlag(inet, IpCmsgTtl, val);
                return 0;
            case IP_RECVTOS:
                AssignCmsgFlag(inet, IpCmsgTos, val);
                return 0;
            case IP_RECVORIGDSTADDR:
                AssignCmsgFlag(inet, IpCmsgOrigdstaddr, val);
                return 0;
            case IP_RECVERR:
                inet.RecvErr = val != 0;
                if (val == 0) sk.ErrorQueue.Purge();
                return 0;
            case IP_HDRINCL:
                if (sk.Type != SOCK_RAW) return -Errno.ENOPROTOOPT;
                inet.Hdrincl = val != 0;
                return 0;
            case IP_MULTICAST_LOOP:
                if (optlen < 1) return -Errno.EINVAL;
                inet.McLoop = val != 0;
                return 0;
            case IP_TTL:
                if (optlen < 1) return -Errno.EINVAL;
                if (val != -1 && (val < 1 || val > 255)) return -Errno.EINVAL;
                inet.UcTtl = val;
                return 0;
            case IP_MULTICAST_TTL:
                if (sk.Type == SOCK_STREAM) return -Errno.EINVAL;
                if (optlen < 1) return -Errno.EINVAL;
                if (val == -1) val = 1;
                if (val < 0 || val > 255) return -Errno.EINVAL;
                inet.McTtl = val;
                return 0;
            case IP_MTU_DISCOVER:
                // ip_sock_set_mtu_discover()
                if (val < IP_PMTUDISC_DONT || val > IpPmtudiscOmit) return -Errno.EINVAL;
                inet.Pmtudisc = val;
                return 0;
            case IP_TOS:
                // ip_sock_set_tos(): this sets both TOS and Precedence; TCP keeps its ECN bits.
                if (sk.Type == SOCK_STREAM)
                {
                    val &= ~InetEcnMask;
                    val |= inet.Tos & InetEcnMask;
                }
                if (inet.Tos != (byte)val)
                {
                    inet.Tos = (byte)val;
                    sk.Priority = RtTos2Priority(val);
                    inet.DstReset();
                }
                return 0;
            default:
                return -Errno.ENOPROTOOPT;
        }
    }

    /// <summary>The priority band of a TOS value (rt_tos2priority() over ip_tos2prio[]).</summary>
    private static int RtTos2Priority(int tos)
    {
        ReadOnlySpan<byte> ipTos2Prio = [0, 1, 0, 0, 2, 2, 2, 2, 6, 6, 6, 6, 4, 4, 4, 4];
        return ipTos2Prio[(tos & 0x1E) >> 1];
    }

    /// <remarks>Mirrors net/ipv4/ip_sockglue.c: ip_getsockopt() -> do_ip_getsockopt().</remarks>
    public static int IpGetsockopt(Sock sk, int level, int optname, Span<byte> optval, ref int optlen)
    {
        if (level != SOL_IP) return -Errno.EOPNOTSUPP;
        var inet = (InetSock)sk;
        int len = optlen;
        if (len < 0) return -Errno.EINVAL;
        int val;
        switch (optname)
        {
            case IP_PKTINFO: val = (inet.CmsgFlags & IpCmsgPktinfo) != 0 ? 1 : 0; break;
            case IP_RECVTTL: val = (inet.CmsgFlags & IpCmsgTtl) != 0 ? 1 : 0; break;
            case IP_RECVTOS: val = (inet.CmsgFlags & IpCmsgTos) != 0 ? 1 : 0; break;
            case IP_RECVORIGDSTADDR: val = (inet.CmsgFlags & IpCmsgOrigdstaddr) != 0 ? 1 : 0; break;
            case IP_RECVERR: val = inet.RecvErr ? 1 : 0; break;
            case IP_HDRINCL: val = inet.Hdrincl ? 1 : 0; break;
            case IP_MULTICAST_LOOP: val = inet.McLoop ? 1 : 0; break;
            case IP_TTL: val = inet.UcTtl >= 0 ? inet.UcTtl : sk.Net.Ipv4.Sysctl.IpDefaultTtl; break;
            case IP_MULTICAST_TTL: val = inet.McTtl; break;
            case IP_TOS: val = inet.Tos; break;
            case IP_MTU_DISCOVER: val = inet.Pmtudisc; break;
            case IP_MTU:
                val = inet.DstValid ? inet.Dst.Dev.Mtu : 0;
                if (val == 0) return -Errno.ENOTCONN;
                break;
            default:
                return -Errno.ENOPROTOOPT;
        }
        // copyval: a short buffer gets one byte when the value fits.
        if (len < sizeof(int) && len > 0 && val >= 0 && val <= 255)
        {
            optval[0] = (byte)val;
            optlen = 1;
        }
        else
        {
            len = Math.Min(sizeof(int), len);
            Span<byte> b = stackalloc byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(b, val);
            b[..len].CopyTo(optval);
            optlen = len;
        }
        return 0;
    }
}
