using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Ipv6;

/// <summary>
/// tcpv6_prot: SOCK_STREAM sockets of AF_INET6. The protocol is TCP's (tcp_prot's functions),
/// with connect, init and the SOL_IPV6 options of its own; the listening and established tables
/// are the same as AF_INET's, so a dual-stack listener on :: accepts IPv4 clients.
/// <remarks>Mirrors net/ipv6/tcp_ipv6.c: struct proto tcpv6_prot.</remarks>
/// </summary>
internal sealed class TcpV6Prot : Proto
{
    public static readonly TcpV6Prot Instance = new();
    public override string Name => "TCPv6";
    public override Sock? CreateSock(NetNamespace net) => TcpSock.SlabAlloc(net.Ipv6.TcpSockCache);
    internal override void SkProtFree(Sock sk) => TcpSock.SlabFree(sk.Net.Ipv6.TcpSockCache, (TcpSock)sk);
    public override bool HasIoctl => true;
    public override bool NoAutobind => true;
    public override void Close(Sock sk, long timeout) => Tcp.TcpClose((TcpSock)sk, timeout);
    /// <remarks>tcp_v6_connect().</remarks>
    public override int Connect(Sock sk, in SockAddr addr) => TcpIpv6.TcpV6Connect((TcpSock)sk, addr);
    public override int Disconnect(Sock sk, int flags) => Tcp.TcpDisconnect((TcpSock)sk, flags);
    public override Sock? Accept(Sock sk, ref ProtoAcceptArg arg) => InetConnectionSock.InetCskAccept(sk, ref arg);
    public override int Ioctl(Sock sk, int cmd, out int karg) => Tcp.TcpIoctl((TcpSock)sk, cmd, out karg);
    /// <remarks>tcp_v6_init_sock().</remarks>
    public override int Init(Sock sk) => TcpIpv6.TcpV6InitSock((TcpSock)sk);
    /// <remarks>tcp_v4_destroy_sock() (tcpv6_prot.destroy).</remarks>
    public override void Destroy(Sock sk) => TcpIpv4.TcpV4DestroySock((TcpSock)sk);
    public override void Shutdown(Sock sk, int how) => Tcp.TcpShutdown((TcpSock)sk, how);
    /// <remarks>tcp_setsockopt(): a level other than SOL_TCP goes to icsk_af_ops->setsockopt, ipv6_setsockopt() for ipv6_specific and ipv6_mapped alike.</remarks>
    public override int Setsockopt(Sock sk, int level, int optname, ReadOnlySpan<byte> optval) =>
        level != SOL_TCP ? Ipv6Sockglue.Ipv6Setsockopt(sk, level, optname, optval) : Tcp.TcpSetsockopt((TcpSock)sk, level, optname, optval);
    /// <remarks>tcp_getsockopt(): a level other than SOL_TCP goes to ipv6_getsockopt().</remarks>
    public override int Getsockopt(Sock sk, int level, int optname, Span<byte> optval, ref int optlen) =>
        level != SOL_TCP ? Ipv6Sockglue.Ipv6Getsockopt(sk, level, optname, optval, ref optlen) : Tcp.TcpGetsockopt((TcpSock)sk, level, optname, optval, ref optlen);
    public override void Keepalive(Sock sk, bool valbool) => TcpTimer.TcpSetKeepalive((TcpSock)sk, valbool);
    internal override void ReleaseCb(Sock sk) => TcpInput.TcpReleaseCb((TcpSock)sk);
    public override int Sendmsg(Sock sk, ref MsgHdr msg, ReadOnlySpan<byte> data) => Tcp.TcpSendmsg((TcpSock)sk, ref msg, data);
    public override int Recvmsg(Sock sk, ref MsgHdr msg, Span<byte> buf, int flags) => Tcp.TcpRecvmsg((TcpSock)sk, ref msg, buf, flags);
    /// <remarks>tcp_v6_do_rcv(): an IPv4 segment (a v4-mapped connection) goes to tcp_v4_do_rcv().</remarks>
    public override int BacklogRcv(Sock sk, SkBuff skb) => TcpIpv6.TcpV6DoRcv((TcpSock)sk, skb);
    public override int DiagDestroy(Sock sk, int err) => Tcp.TcpAbort((TcpSock)sk, err);
    /// <remarks>inet6_hash() -> inet_hash(): the one listening table.</remarks>
    public override int Hash(Sock sk) => InetHashtables.InetHash((TcpSock)sk);
    public override void Unhash(Sock sk) => InetHashtables.InetUnhash((TcpSock)sk);
    /// <remarks>inet_csk_get_port() (the conflict check is inet_rcv_saddr_equal() across families).</remarks>
    public override int GetPort(Sock sk, ushort snum) => InetConnectionSock.InetCskGetPort((TcpSock)sk, snum);
    public override void PutPort(Sock sk) => InetHashtables.InetPutPort((TcpSock)sk);
}

/// <summary>TCP over IPv6: connect, and the v4-mapped side of a dual-stack socket. <remarks>Mirrors net/ipv6/tcp_ipv6.c.</remarks></summary>
internal static partial class TcpIpv6
{
    /// <remarks>Mirrors tcp_v6_init_sock() -> tcp_init_sock() (icsk_af_ops = &amp;ipv6_specific).</remarks>
    internal static int TcpV6InitSock(TcpSock tp)
    {
        Tcp.TcpInitSock(tp);
        tp.IcskAfOps = Ipv6Specific;
        return 0;
    }

    /// <summary>
    /// connect() of an AF_INET6 TCP socket. Checks in Linux's order: addrlen (-EINVAL), family
    /// (-EAFNOSUPPORT); :: means loopback (v4-mapped loopback if bound to a mapped address);
    /// multicast -ENETUNREACH; link-local needs an interface (-EINVAL). A v4-mapped peer is reached
    /// through tcp_v4_connect (icsk_af_ops becomes ipv6_mapped; -ENETUNREACH on a v6-only socket),
    /// and the addresses it chose come back v4-mapped. A native one needs an IPv6 route.
    /// </summary>
    /// <remarks>Mirrors net/ipv6/tcp_ipv6.c: tcp_v6_connect().</remarks>
    public static int TcpV6Connect(TcpSock tp, in SockAddr usin)
    {
        var np = tp.Pinet6!;
        if (usin.Len < Sin6LenRfc2133) return -Errno.EINVAL;
        if (usin.Family != AF_INET6) return -Errno.EAFNOSUPPORT;

        uint flowlabel = np.Sndflow ? usin.FlowInfo & 0x000FFFFF : 0; // IPV6_FLOWLABEL_MASK
        var daddr = usin.Addr6;
        // connect() to INADDR_ANY means loopback (BSD'ism).
        if (daddr == UInt128.Zero)
            daddr = Ipv6Address.IsV4Mapped(tp.SkcV6RcvSaddr) ? Ipv6Address.V4Mapped(Ipv4Address.Loopback) : Ipv6Address.Loopback;

        int addrType = AfInet6.Ipv6AddrType(daddr);
        if ((addrType & AfInet6.IPV6_ADDR_MULTICAST) != 0) return -Errno.ENETUNREACH;

        if ((addrType & AfInet6.IPV6_ADDR_LINKLOCAL) != 0)
        {
            if (usin.Len >= SockaddrIn6Size && usin.ScopeId != 0)
            {
                // If interface is set while binding, indices must coincide.
                if (tp.BoundDevIf != 0 && tp.BoundDevIf != (int)usin.ScopeId) return -Errno.EINVAL;
                tp.BoundDevIf = (int)usin.ScopeId;
            }
            // Connect to link-local address requires an interface.
            if (tp.BoundDevIf == 0) return -Errno.EINVAL;
        }

        if (tp.RxOpt.TsRecentStamp != 0 && tp.SkcV6Daddr != daddr)
        {
            tp.RxOpt.TsRecent = 0;
            tp.RxOpt.TsRecentStamp = 0;
            tp.WriteSeq = 0;
        }
        tp.SkcV6Daddr = daddr;
        np.FlowLabel = flowlabel;

        // TCP over IPv4
        if ((addrType & AfInet6.IPV6_ADDR_MAPPED) != 0)
        {
            int exthdrlen = tp.IcskExtHdrLen;
            if (tp.Ipv6only) return -Errno.ENETUNREACH;
            var sin = SockAddr.In(Ipv6Address.V4Of(daddr), usin.Port);
            // icsk_af_ops = &ipv6_mapped, sk_backlog_rcv = tcp_v4_do_rcv: the IPv4 code runs the connection.
            tp.IcskAfOps = Ipv6Mapped;
            int err = TcpIpv4.TcpV4Connect(tp, sin);
            if (err != 0)
            {
                tp.IcskExtHdrLen = exthdrlen;
                tp.IcskAfOps = Ipv6Specific;
                // failure:
                tp.InetDport = 0;
                return err;
            }
            // sk_rcv_saddr_set() / sk_daddr_set() in tcp_v4_connect keep the v6 view mapped.
            tp.SkcV6RcvSaddr = Ipv6Address.V4Mapped(tp.InetRcvSaddr);
            np.Saddr = tp.SkcV6RcvSaddr;
            return 0;
        }

        var net = tp.Net;
        var saddr = Ipv6Address.IsV4Mapped(tp.SkcV6RcvSaddr) ? UInt128.Zero : tp.SkcV6RcvSaddr;
        int oif = tp.BoundDevIf;
        int rerr = Ip6DstLookup.Ip6DstLookupFlow(net, tp, daddr, ref saddr, oif, out var rt);
        if (rerr != 0)
        {
            // failure:
            tp.InetDport = 0;
            return rerr;
        }
        if (tp.SkcV6RcvSaddr == UInt128.Zero) tp.SkcV6RcvSaddr = saddr; // ip6_set_txhash / inet_bhash2_update_saddr()
        // set the source address
        np.Saddr = saddr;
        tp.InetRcvSaddr = tp.InetSaddr = Loopback4Ipv6;
        tp.IcskAfOps = Ipv6Specific;
        tp.IcskExtHdrLen = 0;
        tp.RxOpt.MssClamp = Ipv6MinMtu - TcpHeader.MinLength - Ipv6Header.Length;
        tp.InetDport = usin.Port;
        tp.InetDaddr = Loopback4Ipv6;

        Tcp.TcpSetState(tp, TcpState.SynSent);
        int herr = InetHashtables.InetHashConnect(tp);
        if (herr != 0) goto lateFailure;
        Ip6DstStore(tp, rt!);
        if (tp.WriteSeq == 0) tp.WriteSeq = SecureSeq.SecureTcpv6Seq(net, np.Saddr, tp.SkcV6Daddr, tp.InetSport, tp.InetDport);
        tp.TsOffset = SecureSeq.SecureTcpv6TsOff(net, np.Saddr, tp.SkcV6Daddr);
        // TCP_FASTOPEN_CONNECT with a cookie: the SYN waits for the first write (tcp_fastopen_defer_connect()).
        if (TcpFastopen.TcpFastopenDeferConnect(tp)) return 0;
        herr = TcpOutput.TcpConnect(tp);
        if (herr != 0) goto lateFailure;
        return 0;

    lateFailure:
        Tcp.TcpSetState(tp, TcpState.Close);
        if ((tp.UserLocks & Sock.SockBindaddrLock) == 0)
        {
            tp.SkcV6RcvSaddr = UInt128.Zero;
            np.Saddr = UInt128.Zero;
        }
        tp.DstReset();
        tp.InetDport = 0;
        return herr;
    }

    /// <summary>
    /// The child of an AF_INET6 listener for an IPv4 handshake: tcp_v4_syn_recv_sock made it, this
    /// dresses it as a v4-mapped AF_INET6 sock (its addresses as ::ffff:a.b.c.d, ipv6_mapped ops).
    /// </summary>
    /// <remarks>Mirrors net/ipv6/tcp_ipv6.c: tcp_v6_syn_recv_sock() (the skb->protocol == htons(ETH_P_IP) branch).</remarks>
    internal static void TcpV6SynRecvSockMapped(TcpSock newtp, Ipv6Pinfo newnp, byte ttl)
    {
        newtp.SkcV6Daddr = Ipv6Address.V4Mapped(newtp.InetDaddr);
        newtp.SkcV6RcvSaddr = Ipv6Address.V4Mapped(newtp.InetRcvSaddr);
        newnp.Saddr = newtp.SkcV6RcvSaddr;
        newnp.McastOif = newtp.BoundDevIf; // inet_iif(skb)
        newnp.McastHops = ttl;            // ip_hdr(skb)->ttl
        newtp.IcskAfOps = Ipv6Mapped;
    }
}
