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
    /// <summary>sizeof(struct in_addr), sizeof(struct ip_mreq), sizeof(struct ip_mreqn).</summary>
    private const int InAddrSize = 4, IpMreqSize = 8, IpMreqnSize = 12;
    /// <summary>INET_ECN_MASK: the two ECN bits of the TOS byte.</summary>
    private const int InetEcnMask = 3;

    // The control messages a socket asked for (inet->cmsg_flags; INET_FLAGS_* bit numbers in include/net/inet_sock.h).
    /// <summary>IP_CMSG_PKTINFO: IP_PKTINFO is on.</summary>
    internal const int IpCmsgPktinfo = 1 << 0;
    /// <summary>IP_CMSG_TTL: IP_RECVTTL is on.</summary>
    internal const int IpCmsgTtl = 1 << 1;
    /// <summary>IP_CMSG_TOS: IP_RECVTOS is on.</summary>
    internal const int IpCmsgTos = 1 << 2;
    /// <summary>IP_CMSG_RECVOPTS: IP_RECVOPTS is on.</summary>
    internal const int IpCmsgRecvopts = 1 << 3;
    /// <summary>IP_CMSG_RETOPTS: IP_RETOPTS is on.</summary>
    internal const int IpCmsgRetopts = 1 << 4;
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
    /// kernel's order (IP_PKTINFO, IP_TTL, IP_TOS, IP_RECVOPTS, IP_RETOPTS, IP_ORIGDSTADDR), reading the IP header the queued
    /// buffer still holds. Called by the datagram protocols' recvmsg when <see cref="InetSock.CmsgFlags"/>
    /// is not 0. Allocates nothing.
    /// </summary>
    /// <remarks>Mirrors net/ipv4/ip_sockglue.c: ip_cmsg_recv_offset() (IP_PASSSEC, IP_CHECKSUM and IP_RECVFRAGSIZE are not modelled).</remarks>
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
        if ((flags & IpCmsgRecvopts) != 0)
        {
            // ip_cmsg_recv_opts(): the options as they arrived (with what input wrote into them).
            int optlen = skb.Ipcb.Opt.Optlen;
            if (optlen != 0) Scm.PutCmsg(ref msg, SOL_IP, IP_RECVOPTS, iph.Slice(Ipv4Header.MinLength, optlen));
            flags &= ~IpCmsgRecvopts;
            if (flags == 0) return;
        }
        if ((flags & IpCmsgRetopts) != 0)
        {
            IpCmsgRecvRetopts(ref msg, inet, skb);
            flags &= ~IpCmsgRetopts;
            if (flags == 0) return;
        }
        if ((flags & IpCmsgOrigdstaddr) != 0) IpCmsgRecvDstaddr(ref msg, skb, iph);
    }

    /// <summary>
    /// IP_RETOPTS: the options a reply to this datagram would carry, as a user would set them
    /// (IP_OPTIONS); MSG_CTRUNC when they cannot be echoed.
    /// </summary>
    /// <remarks>Mirrors net/ipv4/ip_sockglue.c: ip_cmsg_recv_retopts().</remarks>
    private static void IpCmsgRecvRetopts(ref MsgHdr msg, InetSock inet, SkBuff skb)
    {
        if (skb.Ipcb.Opt.Optlen == 0) return;
        System.Runtime.CompilerServices.Unsafe.SkipInit(out IpOptionsData opt);
        if (IpOptions.IpOptionsEcho(inet.Net, ref opt, skb) != 0)
        {
            msg.Flags |= MSG_CTRUNC;
            return;
        }
        Span<byte> data = opt.Data;
        IpOptions.IpOptionsUndo(ref opt.Opt, data);
        Scm.PutCmsg(ref msg, SOL_IP, IP_RETOPTS, data[..opt.Opt.Optlen]);
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
            // in_pktinfo overlays the start of IPCB: only the interface and spec_dst are cleared.
            skb.Ipcb.Iif = 0;
            skb.Ipcb.SpecDst = 0;
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

    // ------------------------------------------------------------------ the error queue (IP_RECVERR)

    /// <summary>
    /// Queues an ICMP error on the socket's error queue: a copy of the ICMP message (skb.Data at the
    /// quoted IP header, TransportHeader at the ICMP header, NetworkHeader at the outer IP header)
    /// pulled to <paramref name="payload"/> (an offset in skb.Buffer: what recvmsg(MSG_ERRQUEUE)
    /// returns as data), with errno, origin ICMP, the ICMP type and code, <paramref name="info"/>,
    /// the quoted destination as the address and <paramref name="port"/>. The callers decide, as in
    /// Linux, whether the socket wants it (IP_RECVERR). Allocates nothing (the copy is pooled).
    /// </summary>
    /// <remarks>Mirrors net/ipv4/ip_sockglue.c: ip_icmp_error() (IP_RECVERR_RFC4884 is not modelled).</remarks>
    public static void IpIcmpError(Sock sk, SkBuff skb, int err, ushort port, uint info, int payload)
    {
        var nskb = Udp.CopySkb(sk.Net, skb); // skb_clone()
        if (nskb is null) return;
        ref var serr = ref nskb.ExtErr;
        serr.EeErrno = err;
        serr.EeOrigin = SO_EE_ORIGIN_ICMP;
        serr.EeType = skb.Buffer[skb.TransportHeader];
        serr.EeCode = skb.Buffer[skb.TransportHeader + 1];
        serr.EeInfo = info;
        serr.EeData = 0;
        // &((struct iphdr *)(icmp_hdr(skb) + 1))->daddr - skb_network_header(skb)
        serr.AddrOffset = (ushort)(skb.TransportHeader + IcmpHeader.Length + 16 - skb.NetworkHeader);
        serr.Port = port;
        if (nskb.Pull(payload - nskb.Data))
        {
            nskb.TransportHeader = nskb.Data; // skb_reset_transport_header()
            if (sk.SockQueueErrSkb(nskb) == 0) return;
        }
        nskb.Free();
    }

    /// <summary>
    /// Queues an error the stack found itself (a send larger than the path allows with
    /// IP_PMTUDISC_DO): origin LOCAL, no data, the destination and <paramref name="port"/> (the
    /// socket's connected port, 0 when unconnected) as the address, <paramref name="info"/> the MTU.
    /// Only with IP_RECVERR. Allocates nothing.
    /// </summary>
    /// <remarks>Mirrors net/ipv4/ip_sockglue.c: ip_local_error().</remarks>
    public static void IpLocalError(Sock sk, int err, uint daddr, ushort port, uint info)
    {
        if (!((InetSock)sk).RecvErr) return;
        var skb = sk.Net.AllocSkb(Ipv4Header.MinLength);
        if (skb is null) return;
        var iph = skb.Put(Ipv4Header.MinLength);
        iph.Clear();
        skb.NetworkHeader = skb.Data; // skb_reset_network_header()
        BinaryPrimitives.WriteUInt32BigEndian(iph[16..], daddr); // iph->daddr = daddr
        ref var serr = ref skb.ExtErr;
        serr.EeErrno = err;
        serr.EeOrigin = SO_EE_ORIGIN_LOCAL;
        serr.EeType = 0;
        serr.EeCode = 0;
        serr.EeInfo = info;
        serr.EeData = 0;
        serr.AddrOffset = 16;
        serr.Port = port;
        skb.Pull(skb.Len);
        skb.TransportHeader = skb.Data;
        if (sk.SockQueueErrSkb(skb) != 0) skb.Free();
    }

    /// <summary>
    /// recvmsg(MSG_ERRQUEUE): takes the oldest queued error; copies its data (the quoted payload,
    /// MSG_TRUNC if <paramref name="buf"/> is short); puts the address it concerns in msg.Name (for
    /// ICMP and local errors); for an ICMP error, the control messages the socket asked for (read
    /// from the ICMP message's own IP header) and the ICMP sender as offender; then the IP_RECVERR
    /// control message (struct sock_extended_err + struct sockaddr_in) and MSG_ERRQUEUE in msg.Flags.
    /// Returns the bytes copied, or -EAGAIN when nothing is queued. Allocates nothing.
    /// </summary>
    /// <remarks>Mirrors net/ipv4/ip_sockglue.c: ip_recv_error() with ipv4_datagram_support_addr() and ipv4_datagram_support_cmsg().</remarks>
    public static int IpRecvError(Sock sk, ref MsgHdr msg, Span<byte> buf)
    {
        var skb = sk.SockDequeueErrSkb();
        if (skb is null) return -Errno.EAGAIN;
        int copied = skb.Len;
        if (copied > buf.Length)
        {
            msg.Flags |= MSG_TRUNC;
            copied = buf.Length;
        }
        skb.DataSpan[..copied].CopyTo(buf);
        SockTimestamp.SockRecvTimestamp(ref msg, sk, skb); // sock_recv_timestamp(): the ICMP message's arrival
        ref var serr = ref skb.ExtErr;
        // ipv4_datagram_support_addr(): "for some errors we have valid addr_offset even with zero
        // payload and zero port".
        if (msg.HasName && (serr.EeOrigin is SO_EE_ORIGIN_ICMP or SO_EE_ORIGIN_LOCAL || serr.Port != 0))
        {
            uint addr = BinaryPrimitives.ReadUInt32BigEndian(skb.Buffer.AsSpan(skb.NetworkHeader + serr.AddrOffset));
            msg.Name = new SockAddr(AF_INET, addr, serr.Port);
            msg.NameLen = SockaddrInSize;
        }
        Span<byte> errhdr = stackalloc byte[SockExtendedErrSize + SockaddrInSize];
        errhdr.Clear();
        serr.WriteEe(errhdr);
        // ipv4_datagram_support_cmsg(): ICMP errors only (no timestamping here).
        if (serr.EeOrigin == SO_EE_ORIGIN_ICMP)
        {
            var offender = errhdr[SockExtendedErrSize..];
            BinaryPrimitives.WriteUInt16LittleEndian(offender, AF_INET);
            skb.Buffer.AsSpan(skb.NetworkHeader + 12, 4).CopyTo(offender[4..]); // ip_hdr(skb)->saddr
            var inet = (InetSock)sk;
            if (inet.CmsgFlags != 0) IpCmsgRecv(ref msg, inet, skb);
        }
        Scm.PutCmsg(ref msg, SOL_IP, IP_RECVERR, errhdr);
        msg.Flags |= MSG_ERRQUEUE;
        sk.SockRmemFree(skb); // consume_skb()
        return copied;
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
                if (val == 0) sk.SkbErrqueuePurge();
                return 0;
            // ---- IP options and binding (issue 12): in do_ip_setsockopt()'s order of checks.
            case IP_RECVOPTS:
                AssignCmsgFlag(inet, IpCmsgRecvopts, val);
                return 0;
            case IP_RETOPTS:
                AssignCmsgFlag(inet, IpCmsgRetopts, val);
                return 0;
            case IP_FREEBIND:
                if (optlen < 1) return -Errno.EINVAL;
                inet.FreeBind = val != 0;
                return 0;
            case IP_TRANSPARENT:
                // sockopt_ns_capable(CAP_NET_RAW) || sockopt_ns_capable(CAP_NET_ADMIN), before the length.
                if (val != 0 && sk.Socket?.Cred is { CapNetRaw: false, CapNetAdmin: false }) return -Errno.EPERM;
                if (optlen < 1) return -Errno.EINVAL;
                inet.Transparent = val != 0;
                return 0;
            case IP_NODEFRAG:
                if (sk.Type != SOCK_RAW) return -Errno.ENOPROTOOPT;
                inet.NoDefrag = val != 0;
                return 0;
            case IP_BIND_ADDRESS_NO_PORT:
                inet.BindAddressNoPort = val != 0;
                return 0;
            case IP_MINTTL:
                if (optlen < 1) return -Errno.EINVAL;
                if (val < 0 || val > 255) return -Errno.EINVAL;
                inet.MinTtl = (byte)val;
                return 0;
            case IP_OPTIONS:
                return IpSetOptions(inet, optval);
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
            case IP_MULTICAST_IF:
            {
                if (sk.Type == SOCK_STREAM) return -Errno.EINVAL;
                // Check the arguments are allowable: an in_addr, an ip_mreq (its interface address) or an ip_mreqn.
                if (optlen < InAddrSize) return -Errno.EINVAL;
                uint address;
                int ifindex = 0;
                if (optlen >= IpMreqnSize)
                {
                    address = BinaryPrimitives.ReadUInt32BigEndian(optval[4..]);
                    ifindex = BinaryPrimitives.ReadInt32LittleEndian(optval[8..]);
                }
                else if (optlen >= IpMreqSize) address = BinaryPrimitives.ReadUInt32BigEndian(optval[4..]);
                else address = BinaryPrimitives.ReadUInt32BigEndian(optval);
                NetDevice? dev;
                if (ifindex == 0)
                {
                    if (address == 0)
                    {
                        inet.McIndex = 0;
                        inet.McAddr = 0;
                        return 0;
                    }
                    dev = sk.Net.DevByAddress(address); // ip_dev_find()
                    if (dev is not null) ifindex = dev.IfIndex;
                }
                else
                {
                    dev = Igmp.DevGetByIndex(sk.Net, ifindex);
                }
                if (dev is null) return -Errno.EADDRNOTAVAIL;
                if (sk.BoundDevIf != 0 && ifindex != sk.BoundDevIf) return -Errno.EINVAL;
                inet.McIndex = ifindex;
                inet.McAddr = address;
                return 0;
            }
            case IP_ADD_MEMBERSHIP:
            case IP_DROP_MEMBERSHIP:
            {
                if (inet.IsIcsk) return -Errno.EPROTO;
                if (optlen < IpMreqSize) return -Errno.EINVAL;
                // struct ip_mreqn when it fits, else struct ip_mreq (no ifindex).
                uint multiaddr = BinaryPrimitives.ReadUInt32BigEndian(optval);
                uint address = BinaryPrimitives.ReadUInt32BigEndian(optval[4..]);
                int ifindex = optlen >= IpMreqnSize ? BinaryPrimitives.ReadInt32LittleEndian(optval[8..]) : 0;
                return optname == IP_ADD_MEMBERSHIP
                    ? Igmp.IpMcJoinGroup(inet, multiaddr, address, ifindex)
                    : Igmp.IpMcLeaveGroup(inet, multiaddr, address, ifindex);
            }
            case IP_MULTICAST_ALL:
                if (optlen < 1) return -Errno.EINVAL;
                if (val != 0 && val != 1) return -Errno.EINVAL;
                inet.McAll = val != 0;
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

    /// <summary>
    /// IP_OPTIONS: the options every packet of the socket carries (0 to 40 bytes; malformed ones,
    /// or ones only CAP_NET_RAW may send, are EINVAL). On TCP the header grows by their length, so
    /// the MSS shrinks by as much (icsk_ext_hdr_len, tcp_sync_mss()).
    /// </summary>
    /// <remarks>Mirrors do_ip_setsockopt() case IP_OPTIONS (ip_options_get()).</remarks>
    private static int IpSetOptions(InetSock inet, ReadOnlySpan<byte> optval)
    {
        if (optval.Length > IpOptions.MaxIpoptlen) return -Errno.EINVAL;
        bool capNetRaw = inet.Socket?.Cred?.CapNetRaw ?? true;
        System.Runtime.CompilerServices.Unsafe.SkipInit(out IpOptionsData opt);
        int err = IpOptions.IpOptionsGet(inet.Net, ref opt, optval, capNetRaw);
        if (err != 0) return err;
        int old = inet.InetOpt.Opt.Optlen;
        inet.InetOpt = opt;
        if (inet is TcpSock tp)
        {
            tp.IcskExtHdrLen += opt.Opt.Optlen - old;
            TcpOutput.TcpSyncMss(tp, tp.IcskPmtuCookie);
        }
        return 0;
    }

    /// <summary>getsockopt(IP_OPTIONS): the options as set (undone), at most <paramref name="optlen"/> bytes; length 0 for none.</summary>
    /// <remarks>Mirrors do_ip_getsockopt() case IP_OPTIONS.</remarks>
    private static int IpGetOptions(InetSock inet, Span<byte> optval, ref int optlen)
    {
        var opt = inet.InetOpt;
        if (opt.Opt.Optlen == 0)
        {
            optlen = 0;
            return 0;
        }
        Span<byte> data = opt.Data;
        IpOptions.IpOptionsUndo(ref opt.Opt, data);
        int len = Math.Min(optlen, opt.Opt.Optlen);
        data[..len].CopyTo(optval);
        optlen = len;
        return 0;
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
            case IP_RECVOPTS: val = (inet.CmsgFlags & IpCmsgRecvopts) != 0 ? 1 : 0; break;
            case IP_RETOPTS: val = (inet.CmsgFlags & IpCmsgRetopts) != 0 ? 1 : 0; break;
            case IP_FREEBIND: val = inet.FreeBind ? 1 : 0; break;
            case IP_TRANSPARENT: val = inet.Transparent ? 1 : 0; break;
            case IP_NODEFRAG: val = inet.NoDefrag ? 1 : 0; break;
            case IP_BIND_ADDRESS_NO_PORT: val = inet.BindAddressNoPort ? 1 : 0; break;
            case IP_MINTTL: val = inet.MinTtl; break;
            case IP_OPTIONS: return IpGetOptions(inet, optval, ref optlen);
            case IP_HDRINCL: val = inet.Hdrincl ? 1 : 0; break;
            case IP_MULTICAST_LOOP: val = inet.McLoop ? 1 : 0; break;
            case IP_TTL: val = inet.UcTtl >= 0 ? inet.UcTtl : sk.Net.Ipv4.Sysctl.IpDefaultTtl; break;
            case IP_MULTICAST_TTL: val = inet.McTtl; break;
            case IP_MULTICAST_ALL: val = inet.McAll ? 1 : 0; break;
            case IP_MULTICAST_IF:
            {
                // The address, never the index: an in_addr, cut to the buffer.
                len = Math.Min(len, InAddrSize);
                Span<byte> addr = stackalloc byte[InAddrSize];
                BinaryPrimitives.WriteUInt32BigEndian(addr, inet.McAddr);
                addr[..len].CopyTo(optval);
                optlen = len;
                return 0;
            }
            case IP_TOS: val = inet.Tos; break;
            case IP_MTU_DISCOVER: val = inet.Pmtudisc; break;
            case IP_MTU:
                // dst_mtu() -> ipv4_mtu(): at most IP_MAX_MTU (65535), so loopback's 65536 reads 65535.
                val = inet.DstValid ? Math.Min(inet.Dst.Dev.Mtu, 0xFFFF) : 0;
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
