using NetStack.Core;
using NetStack.Ethernet;
using NetStack.Net;
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
        uint scopeId = 0;
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
                    if (sin6.Len >= SockaddrIn6Size) scopeId = sin6.ScopeId;
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
        if (up.Pending == AF_INET6) return -Errno.EOPNOTSUPP; // never set: no IPv6 corking yet
        return Native(sk, ref msg, data, hasDaddr && msg.HasName, daddr, port, scopeId);
    }

    /// <summary>The do_udp_sendmsg: label: an IPv4 flow of a dual-stack socket (none on a v6-only one).</summary>
    private static int DoUdpSendmsg(Sock sk, ref MsgHdr msg, ReadOnlySpan<byte> data) =>
        sk.Ipv6only ? -Errno.ENETUNREACH : Udp.UdpSendmsg(sk, ref msg, data);

    /// <summary>
    /// A native IPv6 destination (the part of udpv6_sendmsg() after the v4-mapped branch): the
    /// port, the interface (the scope id of a link-local destination, the bound device, then
    /// IPV6_MULTICAST_IF / IPV6_UNICAST_IF), the route and source (ip6_sk_dst_lookup_flow), then the
    /// datagram built and sent (ip6_make_skb, udp_v6_send_skb). Returns the payload length or a negative errno.
    /// </summary>
    /// <remarks>Mirrors net/ipv6/udp.c: udpv6_sendmsg() (non-corking path).</remarks>
    private static int Native(Sock sk, ref MsgHdr msg, ReadOnlySpan<byte> data, bool named, UInt128 daddr, ushort dport, uint scopeId)
    {
        var inet = (InetSock)sk;
        var np = inet.Pinet6!;
        var net = sk.Net;
        int len = data.Length;
        int oif = 0;
        if (named)
        {
            if (dport == 0) return -Errno.EINVAL;
            if (scopeId != 0 && AfInet6.Ipv6AddrNeedsScopeId(AfInet6.Ipv6AddrType(daddr))) oif = (int)scopeId;
        }
        else
        {
            if (sk.State != TcpState.Established) return -Errno.EDESTADDRREQ;
            daddr = sk.SkcV6Daddr;
            dport = inet.InetDport;
        }
        if (oif == 0) oif = sk.BoundDevIf;
        if (oif == 0) oif = np.StickyPktinfoIfindex;
        UInt128 saddr = 0;
        int hlimit = -1, tclass = -1, dontfrag = -1, err;
        if (msg.Control.Length > 0)
        {
            err = Inet6Datagram.Ip6DatagramSendCtl(net, sk, msg.Control, ref oif, ref saddr, ref hlimit, ref tclass, ref dontfrag);
            if (err < 0) return err;
        }
        if (dontfrag < 0) dontfrag = np.Dontfrag ? 1 : 0; // ipcm6_init_sk()
        bool mcast = Ipv6Address.IsMulticast(daddr);
        if (oif == 0) oif = mcast ? np.McastOif : np.UcastOif;
        if (saddr == 0) saddr = np.Saddr;
        if (tclass < 0) tclass = np.Tclass;

        err = Ip6DstLookup.Ip6DstLookupFlow(net, sk, daddr, ref saddr, oif, out var rt);
        if (err != 0) return err;
        // ip6_sk_dst_hoplimit()
        if (hlimit < 0) hlimit = mcast ? np.McastHops : np.HopLimit;
        if (hlimit < 0) hlimit = Ip6Output.Ip6DstHoplimit(net, rt!);

        // __ip6_append_data(): the datagram with its headers within IPV6_MAXPLEN (fragmented by ip6 output above the MTU).
        int ulen = len + UdpHeader.Length;
        int mtu = Route6Pmtu.Ip6CorkMtu(net, np, rt!, daddr);
        err = Ip6Output.Ip6AppendDataCheck(sk, np, mtu, ulen, daddr, dport, dontfrag != 0, oif);
        if (err != 0) return err;
        if (ulen > ushort.MaxValue - Ipv6Header.Length) return -Errno.EMSGSIZE; // this stack's largest unfragmented buffer
        err = Route6Pmtu.Ip6AllocSendCheck(sk);
        if (err != 0) return err;
        var skb = net.AllocSkb(ulen);
        if (skb is null || ulen > skb.Tailroom)
        {
            skb?.Free();
            net.Ipv6.Udp6Stats[UdpMib.SndbufErrors]++;
            return -Errno.ENOBUFS;
        }
        var body = skb.Put(ulen);
        data.CopyTo(body[UdpHeader.Length..]);
        new UdpRepr(inet.InetSport, dport, len).Emit(UdpHeader.Create(body));
        return UdpV6SendSkb(net, skb, rt!, saddr, daddr, hlimit, (byte)tclass, len, mtu);
    }

    /// <summary>Checksums (mandatory over IPv6) and hands the datagram to ip6 output; counts Udp6OutDatagrams or Udp6SndbufErrors.</summary>
    /// <remarks>Mirrors net/ipv6/udp.c: udp_v6_send_skb() -> ip6_send_skb().</remarks>
    private static int UdpV6SendSkb(NetNamespace net, SkBuff skb, Rt6Info rt, UInt128 saddr, UInt128 daddr, int hlimit, byte tclass, int len, int mtu)
    {
        UdpHeader.Create(skb.DataSpan).FillChecksumV6(saddr, daddr);
        int err = Ip6Output.Ip6Xmit(net, skb, rt, saddr, daddr, NextHdr.Udp, hlimit, tclass, mtu);
        if (err == -Errno.ENOBUFS)
        {
            net.Ipv6.Udp6Stats[UdpMib.SndbufErrors]++;
            return err;
        }
        if (err < 0) return err;
        net.Ipv6.Udp6Stats[UdpMib.OutDatagrams]++;
        return len;
    }

    /// <summary>
    /// Receives one datagram on an AF_INET6 socket: an IPv4 one through udp_recvmsg's copy with
    /// the sender v4-mapped; an IPv6 one with the sender's sockaddr_in6 (the arrival interface as
    /// scope id of a link-local sender) and Udp6InDatagrams counted.
    /// </summary>
    /// <remarks>Mirrors net/ipv6/udp.c: udpv6_recvmsg().</remarks>
    public static int Udpv6Recvmsg(Sock sk, ref MsgHdr msg, Span<byte> buf, int flags)
    {
        if ((flags & MSG_ERRQUEUE) != 0)
        {
            return Inet6Datagram.Ipv6RecvError(sk, ref msg, buf); // ipv6_recv_error(): IPv4 errors too, v4-mapped
        }
        var np = ((InetSock)sk).Pinet6!;
        if (np.Rxpmtu.Pending && np.RxPmtu) return Inet6Datagram.Ipv6RecvRxpmtu(sk, ref msg);
        var skb = Datagram.SkbRecvDatagram(sk, flags, out int err);
        if (skb is null) return err;
        if (skb.Protocol != EthP.IPV6)
        {
            int r = Udp.UdpRecvmsgSkb(sk, ref msg, buf, flags, skb);
            if (r >= 0) MapName(ref msg);
            return r;
        }
        bool peeking = (flags & MSG_PEEK) != 0;
        int ulen = skb.Len;
        int copied = buf.Length;
        if (copied > ulen) copied = ulen;
        else if (copied < ulen) msg.Flags |= MSG_TRUNC;
        skb.DataSpan[..copied].CopyTo(buf);
        if (!peeking) sk.Net.Ipv6.Udp6Stats[UdpMib.InDatagrams]++;
        // Copy the address.
        if (msg.HasName)
        {
            var saddr = Ipv6Header.Create(skb.Buffer.AsSpan(skb.NetworkHeader, Ipv6Header.Length)).Source;
            ushort sport = System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(skb.Buffer.AsSpan(skb.TransportHeader));
            // ipv6_iface_scope_id(): the arrival interface for an address that needs a scope.
            uint scope = AfInet6.Ipv6AddrNeedsScopeId(AfInet6.Ipv6AddrType(saddr)) ? (uint)skb.Ip6cb.Iif : 0;
            msg.Name = SockAddr.In6(saddr, sport, scope);
            msg.NameLen = SockaddrIn6Size;
        }
        SockTimestamp.SockRecvTimestamp(ref msg, sk, skb); // sock_recv_cmsgs()
        SockTimestamp.SockRecvDrops(ref msg, sk, skb);
        if (((InetSock)sk).Pinet6!.RxoptAll)
        {
            Inet6Datagram.Ip6DatagramRecvCommonCtl(sk, ref msg, skb);
            Inet6Datagram.Ip6DatagramRecvSpecificCtl(sk, ref msg, skb);
        }
        err = copied;
        if ((flags & MSG_TRUNC) != 0) err = ulen;
        if (!peeking) Udp.SkbConsumeUdp(sk, skb, partial: 1);
        return err;
    }

    /// <remarks>Mirrors net/ipv6/udp.c: udpv6_init() / udpv6_offload: inet6_add_protocol(&amp;net_hotdata.udpv6_protocol, IPPROTO_UDP) (INET6_PROTO_FINAL).</remarks>
    internal static void Udpv6Init(NetNamespace net) =>
        net.Ipv6.Inet6Protos[NextHdr.Udp] = new Inet6Protocol(Udpv6Rcv, final: true, Udpv6Err);

    /// <summary>
    /// An ICMPv6 error about a datagram we sent (skb.Data at the quoted IPv6 header): the socket
    /// that sent it learns a hard error when connected (ECONNREFUSED for a port unreachable).
    /// </summary>
    /// <remarks>Mirrors net/ipv6/udp.c: udpv6_err() -> __udp6_lib_err(): a Packet Too Big teaches the path
    /// its MTU (ip6_sk_update_pmtu()) and is hard unless the socket does no discovery; with
    /// IPV6_RECVERR every error is queued (ipv6_icmp_error()) and reported.</remarks>
    internal static void Udpv6Err(SkBuff skb, byte type, byte code, uint info)
    {
        var net = skb.Dev!.Net!;
        var q = skb.DataSpan;
        if (q.Length < Ipv6Header.Length + UdpHeader.Length) return;
        var ip6 = Ipv6Header.Create(q);
        var uh = UdpHeader.Create(q[Ipv6Header.Length..]);
        // The quoted packet is ours: its destination is the peer, its source is us.
        var sk = Udp6LibLookup(net, ip6.Destination, uh.DestinationPort, ip6.Source, uh.SourcePort, skb.Ip6cb.Iif != 0 ? skb.Ip6cb.Iif : skb.Dev.IfIndex);
        if (sk is null)
        {
            net.Ipv6.Icmp6Stats[Icmp6Mib.Icmp6InErrors]++; // __ICMP6_INC_STATS(ICMP6_MIB_INERRORS)
            return;
        }
        bool harderr = Icmpv6.Icmpv6ErrConvert(type, code, out int err);
        var np = sk.Pinet6!;
        if (type == Icmpv6Type.PktTooBig)
        {
            if (!Route6Pmtu.Ip6SkAcceptPmtu(sk)) return;
            Route6Pmtu.Ip6SkUpdatePmtu(skb, sk, info);
            if (np.Pmtudisc != IPV6_PMTUDISC_DONT) harderr = true;
        }
        if (!np.Recverr)
        {
            if (!harderr || sk.State != TcpState.Established) return;
        }
        else
        {
            // The quoted UDP payload is what recvmsg(MSG_ERRQUEUE) returns ((u8 *)(uh + 1)).
            Inet6Datagram.Ipv6IcmpError(sk, skb, err, uh.DestinationPort, info, skb.Data + Ipv6Header.Length + UdpHeader.Length);
        }
        sk.Err = err;
        sk.ErrorReport();
    }

    /// <summary>
    /// The IPv6 protocol handler (Data at the UDP header): length checks, the socket lookup, a
    /// zero checksum refused (RFC 8200 8.1; no socket here asks for UDP_NO_CHECK6_RX), the
    /// checksum verified, the datagram queued; without a socket Udp6NoPorts and an ICMPv6 port
    /// unreachable. Returns 0 (consumed) or -1 (dropped).
    /// </summary>
    /// <remarks>Mirrors net/ipv6/udp.c: udpv6_rcv() -> __udp6_lib_rcv() -> udp6_unicast_rcv_skb() -> udpv6_queue_rcv_one_skb().</remarks>
    internal static int Udpv6Rcv(SkBuff skb)
    {
        var net = skb.Dev!.Net!;
        var mib = net.Ipv6.Udp6Stats;
        // short packet: no room for the header, ulen larger than the packet or smaller than a header
        if (!UdpHeader.TryCreate(skb.DataSpan, out var uh))
        {
            mib[UdpMib.InErrors]++;
            net.KfreeSkbReason(skb, SkbDropReason.PktTooSmall);
            return -1;
        }
        skb.Trim(uh.Len); // pskb_trim_rcsum()
        var ip6 = Ipv6Header.Create(skb.Buffer.AsSpan(skb.NetworkHeader, Ipv6Header.Length));
        UInt128 saddr = ip6.Source, daddr = ip6.Destination;
        ushort sport = uh.SourcePort, dport = uh.DestinationPort;
        int dif = skb.Ip6cb.Iif != 0 ? skb.Ip6cb.Iif : skb.Dev.IfIndex;

        var sk = Udp6LibLookup(net, saddr, sport, daddr, dport, dif);
        if (sk is not null)
        {
            if (uh.Checksum == 0) return CsumError(net, skb, sk); // report_csum_error: !udp_get_no_check6_rx(sk)
            // udpv6_queue_rcv_one_skb(): udp_lib_checksum_complete()
            if (!skb.CsumVerified && !uh.VerifyChecksumV6(saddr, daddr)) return CsumError(net, skb, sk);
            skb.Pull(UdpHeader.Length); // udp_csum_pull_header()
            return Udp.UdpEnqueueScheduleSkb(sk, skb, mib) == Dev.NetRxSuccess ? 0 : -1;
        }
        // No socket: a datagram with a bad (or zero) checksum is an error, a good one gets a port unreachable.
        if (uh.Checksum == 0 || (!skb.CsumVerified && !uh.VerifyChecksumV6(saddr, daddr))) return CsumError(net, skb, null);
        mib[UdpMib.NoPorts]++;
        skb.Data = skb.NetworkHeader; // icmpv6_send() quotes from the IPv6 header
        Icmpv6.Icmp6Send(net, skb, Icmpv6Type.DestUnreach, Icmpv6Type.PortUnreach, 0);
        net.KfreeSkbReason(skb, SkbDropReason.UdpNoSocket);
        return -1;
    }

    /// <summary>The csum_error: label: Udp6InCsumErrors and Udp6InErrors (and the socket's drops).</summary>
    private static int CsumError(NetNamespace net, SkBuff skb, InetSock? sk)
    {
        var mib = net.Ipv6.Udp6Stats;
        mib[UdpMib.InCsumErrors]++;
        mib[UdpMib.InErrors]++;
        if (sk is not null) sk.Drops++;
        net.KfreeSkbReason(skb, SkbDropReason.UdpCsum);
        return -1;
    }

    /// <summary>
    /// The AF_INET6 socket for an IPv6 datagram: the best scored of those bound to the destination
    /// address, else of those bound to :: (dual-stack or v6-only). AF_INET sockets never match.
    /// </summary>
    /// <remarks>Mirrors net/ipv6/udp.c: __udp6_lib_lookup() -> udp6_lib_lookup2() (without the SO_REUSEPORT pick).</remarks>
    internal static InetSock? Udp6LibLookup(NetNamespace net, UInt128 saddr, ushort sport, UInt128 daddr, ushort dport, int dif)
    {
        var slot = net.Ipv4.UdpTable.Slot(dport);
        if (slot is null) return null;
        return Udp6LibLookup2(slot, saddr, sport, daddr, dport, dif)
            ?? Udp6LibLookup2(slot, saddr, sport, UInt128.Zero, dport, dif);
    }

    private static InetSock? Udp6LibLookup2(List<InetSock> slot, UInt128 saddr, ushort sport, UInt128 daddr, ushort hnum, int dif)
    {
        InetSock? result = null;
        int badness = -1;
        // Newest bound first, as udp_lib_get_port() adds at the head of the chain (see Udp4LibLookup2).
        for (int i = slot.Count - 1; i >= 0; i--)
        {
            var sk = slot[i];
            int score = ComputeScore(sk, saddr, sport, daddr, hnum, dif);
            if (score > badness)
            {
                badness = score;
                result = sk;
            }
        }
        return result;
    }

    /// <remarks>Mirrors net/ipv6/udp.c: compute_score() (the incoming-CPU point left out: one receive context).</remarks>
    private static int ComputeScore(InetSock sk, UInt128 saddr, ushort sport, UInt128 daddr, ushort hnum, int dif)
    {
        if (sk.InetNum != hnum || sk.Family != PF_INET6) return -1;
        if (sk.SkcV6RcvSaddr != daddr) return -1;
        int score = 0;
        if (sk.InetDport != 0)
        {
            if (sk.InetDport != sport) return -1;
            score++;
        }
        if (sk.SkcV6Daddr != UInt128.Zero)
        {
            if (sk.SkcV6Daddr != saddr) return -1;
            score++;
        }
        if (sk.BoundDevIf != 0)
        {
            if (sk.BoundDevIf != dif) return -1;
            score++;
        }
        return score;
    }

    /// <summary>An IPv4 source written by the IPv4 code, as the sockaddr_in6 an AF_INET6 socket reports.</summary>
    internal static void MapName(ref MsgHdr msg)
    {
        if (!msg.HasName || msg.NameLen == 0 || msg.Name.Family != AF_INET) return;
        msg.Name = SockAddr.In6(Ipv6Address.V4Mapped(msg.Name.Addr), msg.Name.Port);
        msg.NameLen = SockaddrIn6Size;
    }
}
