using NetStack.Core;
using NetStack.Ethernet;
using NetStack.Ipv4;
using NetStack.Net;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Ipv6;

/// <summary>
/// TCP over native IPv6: the af_ops of an AF_INET6 connection, receive and demultiplex, the
/// passive open, and the replies without a full socket.
/// </summary>
/// <remarks>Mirrors net/ipv6/tcp_ipv6.c.</remarks>
internal static partial class TcpIpv6
{
    /// <summary>ipv6_specific: TCP over IPv6.</summary>
    internal static readonly InetConnectionSockAfOps Ipv6Specific = new Ipv6SpecificOps();

    /// <summary>ipv6_mapped: an AF_INET6 socket connected to ::ffff:a.b.c.d runs over IPv4 (ipv4_specific's functions), a listener's SYNs still go through tcp_v6_conn_request.</summary>
    internal static readonly InetConnectionSockAfOps Ipv6Mapped = new Ipv6MappedOps();

    /// <summary>tcp6_request_sock_ops with tcp_request_sock_ipv6_ops: a request that came over IPv6.</summary>
    internal static readonly TcpRequestSockOps TcpRequestSockOpsV6 = new RequestSockOpsV6();

    /// <summary>IPV6_MIN_MTU: every IPv6 link carries 1280 bytes (RFC 8200 5).</summary>
    internal const int Ipv6MinMtu = 1280;

    /// <summary>LOOPBACK4_IPV6 (127.0.0.6): the IPv4 address a native IPv6 sock carries where code reads inet_daddr/inet_saddr.</summary>
    internal const uint Loopback4Ipv6 = 0x7F000006;

    /// <summary>inet6_protos[IPPROTO_TCP] (tcpv6_protocol: INET6_PROTO_NOPOLICY | INET6_PROTO_FINAL).</summary>
    /// <remarks>Mirrors tcpv6_init() -> inet6_add_protocol(&amp;tcpv6_protocol, IPPROTO_TCP).</remarks>
    internal static void TcpV6Init(NetNamespace net) =>
        net.Ipv6.Inet6Protos[NextHdr.Tcp] = new Inet6Protocol(TcpV6Rcv, final: true, TcpV6Err);

    /// <remarks>Mirrors net/ipv6/tcp_ipv6.c: const struct inet_connection_sock_af_ops ipv6_specific.</remarks>
    private sealed class Ipv6SpecificOps : InetConnectionSockAfOps
    {
        public override int NetHeaderLen => Ipv6Header.Length;
        public override bool IsV6 => true;
        public override byte GsoType => VirtioNetHdr.GsoTcpV6;

        /// <remarks>inet6_csk_xmit() -> ip6_xmit(): np->saddr to sk_v6_daddr, the socket's hop limit and traffic class.</remarks>
        public override int QueueXmit(TcpSock tp, SkBuff skb)
        {
            var np = tp.Pinet6!;
            var rt = tp.Dst6!;
            int hlimit = np.HopLimit >= 0 ? np.HopLimit : Ip6Output.Ip6DstHoplimit(tp.Net, rt);
            return Ip6Output.Ip6Xmit(tp.Net, skb, rt, np.Saddr, tp.SkcV6Daddr, NextHdr.Tcp, hlimit, (byte)np.Tclass);
        }

        /// <remarks>tcp_v6_send_check() -> __tcp_v6_send_check().</remarks>
        public override void SendCheck(TcpSock tp, SkBuff skb, bool partial)
        {
            var th = TcpHeader.Create(skb.DataSpan);
            var saddr = tp.Pinet6!.Saddr;
            if (partial) th.Checksum = SkbGso.PseudoCsumV6(saddr, tp.SkcV6Daddr, skb.Len);
            else if (skb.NrFrags == 0) th.FillChecksumV6(saddr, tp.SkcV6Daddr);
            else
            {
                // A lone segment left in a super-frame's head: its payload is a fragment (skb_checksum()).
                th.Checksum = 0;
                th.Checksum = Checksum.Fold(skb.Checksum(0, Checksum.PseudoHeaderV6(saddr, tp.SkcV6Daddr, IpProto.TCP, skb.Len)));
            }
        }

        /// <remarks>inet6_sk_rebuild_header() / inet6_csk_route_socket().</remarks>
        public override int RebuildHeader(TcpSock tp) => TcpV6RouteSocket(tp);

        public override void ConnRequest(TcpSock sk, SkBuff skb) => TcpV6ConnRequest(sk, skb);
        public override TcpSock? SynRecvSock(TcpSock sk, SkBuff skb, TcpRequestSock req) => TcpV6SynRecvSock(sk, skb, req);
        public override void SendReset(TcpSock? sk, SkBuff skb)
        {
            if (skb.Protocol == EthP.IP) TcpIpv4.TcpV4SendReset(sk, skb);
            else TcpV6SendReset(sk, skb);
        }
    }

    /// <remarks>Mirrors net/ipv6/tcp_ipv6.c: const struct inet_connection_sock_af_ops ipv6_mapped.</remarks>
    private sealed class Ipv6MappedOps : TcpIpv4.Ipv4SpecificOps
    {
        public override void ConnRequest(TcpSock sk, SkBuff skb) => TcpV6ConnRequest(sk, skb);
        public override TcpSock? SynRecvSock(TcpSock sk, SkBuff skb, TcpRequestSock req) => TcpV6SynRecvSock(sk, skb, req);
    }

    /// <remarks>Mirrors tcp6_request_sock_ops and tcp_request_sock_ipv6_ops.</remarks>
    private sealed class RequestSockOpsV6 : TcpRequestSockOps
    {
        public override bool IsV6 => true;
        /// <summary>cookie_v6_init_sequence(): a flood's SYNs are answered with cookies.</summary>
        public override bool CanCookie => true;
        public override int NetHeaderLen => Ipv6Header.Length;

        /// <remarks>tcp_v6_init_req(): the addresses; a link-local peer of an unbound listener pins the arrival interface (ir_iif).</remarks>
        public override void InitReq(TcpRequestSock req, TcpSock sk, SkBuff skb)
        {
            var ip6 = Ipv6Header.Create(skb.Buffer.AsSpan(skb.NetworkHeader, Ipv6Header.Length));
            req.Family = AF_INET6;
            req.SkcV6RcvSaddr = ip6.Destination; // ir_v6_loc_addr
            req.SkcV6Daddr = ip6.Source;         // ir_v6_rmt_addr
            req.IrLocAddr = req.IrRmtAddr = Loopback4Ipv6;
            req.BoundDevIf = sk.BoundDevIf;
            if (sk.BoundDevIf == 0 && (AfInet6.Ipv6AddrType(ip6.Source) & AfInet6.IPV6_ADDR_LINKLOCAL) != 0)
                req.BoundDevIf = TcpV6Iif(skb);
        }

        /// <remarks>tcp_v6_route_req() -> inet6_csk_route_req().</remarks>
        public override int RouteReq(TcpSock sk, TcpRequestSock req) =>
            TcpV6RouteReq(sk.Net, req, out var rt) == 0 ? Route6Pmtu.Ip6DstMtu(sk.Net, rt!, req.SkcV6Daddr) : -1;

        /// <remarks>tcp_v6_init_seq().</remarks>
        public override uint InitSeq(NetNamespace net, TcpRequestSock req) =>
            SecureSeq.SecureTcpv6Seq(net, req.SkcV6RcvSaddr, req.SkcV6Daddr, req.IrNum, req.IrRmtPort);

        /// <remarks>tcp_v6_init_ts_off().</remarks>
        public override uint InitTsOff(NetNamespace net, TcpRequestSock req) =>
            SecureSeq.SecureTcpv6TsOff(net, req.SkcV6RcvSaddr, req.SkcV6Daddr);

        public override int SendSynack(TcpSock sk, TcpRequestSock req, in TcpFastopenCookie foc) => TcpV6SendSynack(sk, req, foc);
        public override void SendAck(TcpSock listener, SkBuff skb, TcpRequestSock req) => TcpV6ReqskSendAck(listener, skb, req);
        public override void SendReset(TcpSock? sk, SkBuff skb) => TcpV6SendReset(sk, skb);
    }

    /// <summary>The interface a segment arrived on (IP6CB(skb)->iif).</summary>
    /// <remarks>Mirrors tcp_v6_iif().</remarks>
    private static int TcpV6Iif(SkBuff skb) => skb.Ip6cb.Iif != 0 ? skb.Ip6cb.Iif : skb.Dev?.IfIndex ?? 0;

    /// <summary>The route of a connection (np->saddr to sk_v6_daddr out of sk_bound_dev_if), stored as its dst.</summary>
    /// <remarks>Mirrors inet6_csk_route_socket() + ip6_dst_store().</remarks>
    internal static int TcpV6RouteSocket(TcpSock tp)
    {
        var np = tp.Pinet6!;
        var saddr = np.Saddr;
        int err = Ip6DstLookup.Ip6DstLookupFlow(tp.Net, tp, tp.SkcV6Daddr, ref saddr, tp.BoundDevIf, out var rt);
        if (err != 0) return err;
        Ip6DstStore(tp, rt!);
        return 0;
    }

    /// <summary>Keeps the route as the socket's dst; <see cref="InetSock.Dst"/> names its device for the code that asks only that (MTU, TSO).</summary>
    /// <remarks>Mirrors ip6_dst_store().</remarks>
    internal static void Ip6DstStore(TcpSock tp, Rt6Info rt)
    {
        tp.Dst6 = rt;
        tp.Dst = new Rtable(RtnType.Unicast, rt.Dev, 0, 0);
        tp.DstValid = true;
    }

    /// <remarks>Mirrors inet6_csk_route_req(): from ir_v6_loc_addr to ir_v6_rmt_addr, out of ir_iif.</remarks>
    private static int TcpV6RouteReq(NetNamespace net, TcpRequestSock req, out Rt6Info? rt)
    {
        var saddr = req.SkcV6RcvSaddr;
        return Ip6DstLookup.Ip6DstLookupFlow(net, null, req.SkcV6Daddr, ref saddr, req.BoundDevIf, out rt);
    }

    // ---- receive ----

    /// <summary>
    /// A TCP segment over IPv6: validate, checksum over the IPv6 pseudo-header, compute the
    /// per-segment facts, find the socket in the shared tables by the 16-byte addresses
    /// (established, then listening), and hand it on; reset when nobody is there.
    /// </summary>
    /// <remarks>Mirrors tcp_v6_rcv().</remarks>
    internal static int TcpV6Rcv(SkBuff skb)
    {
        var dev = skb.Dev!;
        var net = dev.Net!;
        var mib = net.Mib.Tcp;
        if (skb.PktType == Eth.PacketOtherHost) return Drop(net, skb, SkbDropReason.OtherHost);
        mib[TcpMib.InSegs]++;
        switch (TcpHeader.TryCreate(skb.DataSpan, out var th))
        {
            case TcpParseResult.Ok: break;
            case TcpParseResult.BadDataOffset:
                mib[TcpMib.InErrs]++;
                return Drop(net, skb, SkbDropReason.PktLenInvalid);
            default:
                mib[TcpMib.InErrs]++;
                return Drop(net, skb, SkbDropReason.PktTooSmall);
        }
        var ip6 = Ipv6Header.Create(skb.Buffer.AsSpan(skb.NetworkHeader, Ipv6Header.Length));
        UInt128 saddr = ip6.Source, daddr = ip6.Destination;
        if (!skb.CsumVerified && !th.VerifyChecksumV6(saddr, daddr))
        {
            mib[TcpMib.InCsumErrors]++;
            mib[TcpMib.InErrs]++;
            return Drop(net, skb, SkbDropReason.TcpCsum);
        }
        skb.TransportHeader = skb.Data;
        // tcp_v6_fill_cb()
        int payload = skb.Len - th.HeaderLength;
        if (skb.GsoSize != 0) skb.GsoSegs = (ushort)Math.Max(1, (payload + skb.GsoSize - 1) / skb.GsoSize);
        skb.Cb.Seq = th.Seq;
        skb.Cb.EndSeq = th.Seq + (th.Syn ? 1u : 0u) + (th.Fin ? 1u : 0u) + (uint)payload;
        skb.Cb.AckSeq = th.AckSeq;
        skb.Cb.TcpFlags = th.Flags;
        skb.Cb.When = 0;
        skb.Cb.Sacked = 0;
        skb.Cb.IpDsfield = ip6.TrafficClass; // ipv6_get_dsfield()
        int dif = TcpV6Iif(skb);

    lookup:
        var found = InetHashtables.Inet6LookupEstablished(net, saddr, th.SrcPort, daddr, th.DstPort)
            ?? InetHashtables.Inet6LookupListener(net, saddr, th.SrcPort, daddr, th.DstPort, dif);
        switch (found)
        {
            case null:
                goto noTcpSocket;
            case TcpTimewaitSock tw:
            {
                var status = TcpMinisocks.TcpTimewaitStateProcess(tw, skb, out uint isn);
                switch (status)
                {
                    case TcpTwStatus.Syn:
                    {
                        var sk2 = InetHashtables.Inet6LookupListener(net, saddr, th.SrcPort, daddr, th.DstPort, dif);
                        if (sk2 is not null)
                        {
                            TcpMinisocks.InetTwskDeschedulePut(net, tw);
                            net.Ipv4.TcpTwIsn = isn;
                            if (TcpMinHopcountDrop(sk2, skb)) return 0;
                            return TcpV6DoRcv(sk2, skb);
                        }
                        TcpV6TimewaitAck(tw, skb);
                        break;
                    }
                    case TcpTwStatus.Ack:
                        TcpV6TimewaitAck(tw, skb);
                        break;
                    case TcpTwStatus.Rst:
                        TcpV6SendReset(null, skb);
                        TcpMinisocks.InetTwskDeschedulePut(net, tw);
                        break;
                }
                skb.Free();
                return 0;
            }
            case TcpRequestSock req:
            {
                var sk = req.RskListener;
                if (sk.State != TcpState.Listen)
                {
                    TcpMinisocks.InetCskReqskQueueDrop(sk, req);
                    goto lookup;
                }
                var reason = SkbDropReason.NotSpecified;
                var nsk = TcpMinisocks.TcpCheckReq(sk, skb, req, ref reason);
                if (nsk is null)
                {
                    net.KfreeSkbReason(skb, reason);
                    return 0;
                }
                if (nsk == sk) return TcpMinHopcountDrop(sk, skb) ? 0 : TcpV6DoRcv(sk, skb);
                if (TcpMinisocks.TcpChildProcess(sk, nsk, skb) != 0)
                {
                    TcpV6SendReset(nsk, skb);
                    skb.Free();
                }
                return 0;
            }
            case TcpSock tp:
                if (TcpMinHopcountDrop(tp, skb)) return 0;
                TcpIpv4.TcpSegsIn(tp, skb, payload);
                return TcpV6DoRcv(tp, skb);
        }
    noTcpSocket:
        TcpV6SendReset(null, skb);
        return Drop(net, skb, SkbDropReason.TcpNoSocket);
    }

    /// <summary>
    /// IPV6_MINHOPCOUNT (RFC 5082, GTSM): a segment whose hop limit is below the socket's minimum
    /// is dropped and counted (TCPMinTTLDrop) before the socket sees it. True when it was.
    /// </summary>
    /// <remarks>Mirrors tcp_v6_rcv(): the ip6_min_hopcount check after the TIME_WAIT and NEW_SYN_RECV handling.</remarks>
    private static bool TcpMinHopcountDrop(TcpSock sk, SkBuff skb)
    {
        if (sk.Pinet6 is not { MinHopcount: > 0 } np) return false;
        if (Ipv6Header.Create(skb.Buffer.AsSpan(skb.NetworkHeader, Ipv6Header.Length)).HopLimit >= np.MinHopcount) return false;
        sk.Net.Mib.TcpExt[LinuxMib.TCPMinTTLDrop]++;
        sk.Net.KfreeSkbReason(skb, SkbDropReason.TcpMinttl);
        return true;
    }

    /// <summary>Frees a segment that was not delivered: a negative result, which inet6_protos[] dispatch reads as a drop (a positive one would resubmit it).</summary>
    private static int Drop(NetNamespace net, SkBuff skb, SkbDropReason reason)
    {
        net.KfreeSkbReason(skb, reason);
        return -1;
    }

    /// <summary>The state machine for a segment on an AF_INET6 socket: an IPv4 one (a v4-mapped connection) goes to tcp_v4_do_rcv; a nonzero result is answered with a reset.</summary>
    /// <remarks>Mirrors tcp_v6_do_rcv().</remarks>
    internal static int TcpV6DoRcv(TcpSock sk, SkBuff skb)
    {
        if (skb.Protocol == EthP.IP) return TcpIpv4.TcpV4DoRcv(sk, skb);
        sk.SockHold(); // the segment's reference, as in TcpV4DoRcv
        try
        {
            return TcpV6DoRcvLocked(sk, skb);
        }
        catch (Exception e) when (Oops.Contain(sk.Net))
        {
            TcpIpv4.TcpRcvOops(sk, skb, e);
            return 0;
        }
        finally
        {
            sk.SockPut();
        }
    }

    private static int TcpV6DoRcvLocked(TcpSock sk, SkBuff skb)
    {
        if (sk.State == TcpState.Established)
        {
            TcpInput.TcpRcvEstablished(sk, skb);
            return 0;
        }
        if (sk.State == TcpState.Listen)
        {
            // tcp_v6_cookie_check(): an ACK may complete a handshake answered with a SYN cookie.
            var nsk = TcpInput.TcpHdr(skb).Syn ? sk : Syncookies.CookieV6Check(sk, skb);
            if (nsk is null) return 0;
            if (nsk != sk)
            {
                if (TcpMinisocks.TcpChildProcess(sk, nsk, skb) != 0)
                {
                    TcpV6SendReset(nsk, skb);
                    sk.Net.KfreeSkbReason(skb, SkbDropReason.TcpInvalidAck);
                }
                return 0;
            }
        }
        if (TcpInput.TcpRcvStateProcess(sk, skb) != 0)
        {
            TcpV6SendReset(sk, skb);
            sk.Net.KfreeSkbReason(skb, SkbDropReason.TcpInvalidAck);
        }
        return 0;
    }

    // ---- passive open ----

    /// <summary>A SYN on an AF_INET6 listener: an IPv4 one (dual stack) is tcp_v4_conn_request's; an IPv6 one to a non-unicast destination is dropped.</summary>
    /// <remarks>Mirrors tcp_v6_conn_request().</remarks>
    internal static void TcpV6ConnRequest(TcpSock sk, SkBuff skb)
    {
        if (skb.Protocol == EthP.IP)
        {
            TcpIpv4.TcpV4ConnRequest(sk, skb);
            return;
        }
        // ipv6_unicast_destination(); a v4-mapped source never came from the wire.
        var ip6 = Ipv6Header.Create(skb.Buffer.AsSpan(skb.NetworkHeader, Ipv6Header.Length));
        if (Ipv6Address.IsMulticast(ip6.Destination) || skb.PktType is Eth.PacketBroadcast or Eth.PacketMulticast || Ipv6Address.IsV4Mapped(ip6.Source))
        {
            TcpIpv4.TcpListendrop(sk);
            return;
        }
        TcpIpv4.TcpConnRequest(sk, skb, TcpRequestSockOpsV6);
    }

    /// <summary>Sends (or resends) the SYN-ACK of an IPv6 request, from the listener or from a Fast Open child, with a Fast Open cookie when <paramref name="foc"/> has one (Len &gt;= 0).</summary>
    /// <remarks>Mirrors tcp_v6_send_synack(): inet6_csk_route_req(), tcp_make_synack() (foc), __tcp_v6_send_check(), ip6_xmit().</remarks>
    internal static int TcpV6SendSynack(TcpSock listener, TcpRequestSock req, in TcpFastopenCookie foc)
    {
        var net = listener.Net;
        if (TcpV6RouteReq(net, req, out var rt) != 0 || rt is null) return -Errno.EHOSTUNREACH;
        var skb = TcpIpv4.TcpMakeSynack(listener, req, foc, TcpOutput.TcpAdvmss(listener, Route6Pmtu.Ip6DstMtu(listener.Net, rt, req.SkcV6Daddr), Ipv6Header.Length));
        if (skb is null) return -Errno.ENOBUFS;
        TcpHeader.Create(skb.DataSpan).FillChecksumV6(req.SkcV6RcvSaddr, req.SkcV6Daddr);
        net.Mib.Tcp[TcpMib.OutSegs]++;
        var np = listener.Pinet6!;
        int hlimit = np.HopLimit >= 0 ? np.HopLimit : Ip6Output.Ip6DstHoplimit(net, rt);
        int err = Ip6Output.Ip6Xmit(net, skb, rt, req.SkcV6RcvSaddr, req.SkcV6Daddr, NextHdr.Tcp, hlimit, (byte)np.Tclass);
        return err == -Errno.ENOBUFS ? 0 : err; // a neighbour being resolved keeps the packet
    }

    /// <summary>The handshake of an IPv6 request completed: the native IPv6 child, routed, with the listener's port and the request's place in the hash. An IPv4 one is tcp_v4_syn_recv_sock's (a v4-mapped child).</summary>
    /// <remarks>Mirrors tcp_v6_syn_recv_sock().</remarks>
    internal static TcpSock? TcpV6SynRecvSock(TcpSock sk, SkBuff skb, TcpRequestSock req)
    {
        if (skb.Protocol == EthP.IP) return TcpIpv4.TcpV4SynRecvSock(sk, skb, req);
        var net = sk.Net;
        if (sk.AckBacklog > sk.MaxAckBacklog)
        {
            net.Mib.TcpExt[LinuxMib.ListenOverflows]++;
            net.Mib.TcpExt[LinuxMib.ListenDrops]++;
            return null;
        }
        var newtp = TcpMinisocks.TcpCreateOpenreqChild(sk, req, skb);
        if (newtp is null)
        {
            net.Mib.TcpExt[LinuxMib.ListenDrops]++;
            return null;
        }
        var newnp = newtp.Pinet6!;
        newtp.IcskAfOps = Ipv6Specific;
        newtp.SkcV6Daddr = req.SkcV6Daddr;
        newtp.SkcV6RcvSaddr = req.SkcV6RcvSaddr;
        newnp.Saddr = req.SkcV6RcvSaddr;
        newtp.BoundDevIf = req.BoundDevIf;
        // A native IPv6 sock's IPv4 addresses are LOOPBACK4_IPV6, as Linux sets them.
        newtp.InetDaddr = newtp.InetRcvSaddr = newtp.InetSaddr = Loopback4Ipv6;
        newtp.SavedSyn = req.SavedSyn; // tcp_move_syn()
        req.SavedSyn = null;
        TcpTracepoint.TraceInetSockSetState(newtp, TcpState.Listen);
        var ip6 = Ipv6Header.Create(skb.Buffer.AsSpan(skb.NetworkHeader, Ipv6Header.Length));
        newnp.McastOif = TcpV6Iif(skb);
        newnp.McastHops = ip6.HopLimit;
        newtp.RcvTos = ip6.TrafficClass; // np->rcv_flowinfo's traffic class
        newtp.InetOpt = default;
        newtp.IcskExtHdrLen = 0;
        if (TcpV6RouteReq(net, req, out var rt) != 0)
        {
            // put_and_exit: the child never became visible.
            AfInet.InetSkSetState(newtp, TcpState.Close);
            newtp.SetFlag(SockFlag.Dead);
            net.Ipv4.TcpOrphanCount++;
            InetConnectionSock.InetCskDestroySock(newtp);
            net.Mib.TcpExt[LinuxMib.ListenDrops]++;
            return null;
        }
        Ip6DstStore(newtp, rt!);
        TcpCong.TcpCaOpenreqChild(newtp);
        int dstMtu = Route6Pmtu.Ip6DstMtu(net, rt!, newtp.SkcV6Daddr); // dst_mtu(dst)
        TcpOutput.TcpSyncMss(newtp, dstMtu);
        newtp.Advmss = TcpOutput.TcpAdvmss(sk, dstMtu, Ipv6Header.Length);
        TcpInput.TcpInitializeRcvMss(newtp);
        if (sk.BindHash is { } tb) InetHashtables.InetBindHash(newtp, tb, sk.InetNum);
        net.Ipv4.TcpHashinfo.Ehash[InetHashtables.ReqKey(req)] = newtp;
        newtp.Hashed = true;
        TcpInput.TcpSynackRttMeas(newtp, req);
        return newtp;
    }

    // ---- replies without a full socket ----

    /// <summary>A reset for an IPv6 segment: never in answer to a reset, nor to a multicast destination.</summary>
    /// <remarks>Mirrors tcp_v6_send_reset().</remarks>
    internal static void TcpV6SendReset(TcpSock? sk, SkBuff skb)
    {
        var th = TcpInput.TcpHdr(skb);
        if (th.Rst) return;
        var net = sk?.Net ?? skb.Dev?.Net;
        if (net is null) return;
        var ip6 = Ipv6Header.Create(skb.Buffer.AsSpan(skb.NetworkHeader, Ipv6Header.Length));
        // ipv6_unicast_destination()
        if (Ipv6Address.IsMulticast(ip6.Destination)) return;
        TcpIpv4.TcpResetNumbers(skb, th, out uint seq, out uint ackSeq, out byte flags);
        Tcp6SendResponse(net, skb, seq, ackSeq, 0, flags, default, sk);
        net.Mib.Tcp[TcpMib.OutRsts]++;
    }

    /// <remarks>Mirrors tcp_v6_send_ack().</remarks>
    private static void TcpV6SendAck(NetNamespace net, SkBuff skb, uint seq, uint ack, uint win, uint tsval, uint tsecr, bool withTs)
    {
        var opts = new TcpOptionsOut();
        if (withTs)
        {
            opts.HasTimestamp = true;
            opts.TsVal = tsval;
            opts.TsEcr = tsecr;
        }
        Tcp6SendResponse(net, skb, seq, ack, (ushort)Math.Min(win, 65535u), TcpFlags.ACK, opts, null);
    }

    /// <remarks>Mirrors tcp_v6_timewait_ack().</remarks>
    internal static void TcpV6TimewaitAck(TcpTimewaitSock tw, SkBuff skb)
    {
        uint tsval = unchecked((uint)(tw.Net.NowNs / Time.NsPerMs) + tw.TwTsOffset);
        TcpV6SendAck(tw.Net, skb, tw.TwSndNxt, tw.TwRcvNxt, tw.TwRcvWnd >> tw.TwRcvWscale, tsval, tw.TwTsRecent, tw.TwTsRecentStamp != 0);
    }

    /// <remarks>Mirrors tcp_v6_reqsk_send_ack().</remarks>
    internal static void TcpV6ReqskSendAck(TcpSock sk, SkBuff skb, TcpRequestSock req)
    {
        uint tsval = unchecked((uint)(sk.Net.NowNs / Time.NsPerMs) + req.TsOff);
        TcpV6SendAck(sk.Net, skb, req.SntIsn + 1, req.RcvNxt, req.RskRcvWnd >> req.RcvWscale, tsval, req.TsRecent, req.TstampOk);
    }

    /// <summary>A bare segment back to the sender of <paramref name="skb"/>, from the address it was sent to; a link-local peer is answered out of the arrival interface.</summary>
    /// <remarks>Mirrors tcp_v6_send_response().</remarks>
    private static void Tcp6SendResponse(NetNamespace net, SkBuff skb, uint seq, uint ack, ushort window, byte flags, TcpOptionsOut opts, TcpSock? sk)
    {
        var th = TcpInput.TcpHdr(skb);
        var ip6 = Ipv6Header.Create(skb.Buffer.AsSpan(skb.NetworkHeader, Ipv6Header.Length));
        UInt128 saddr = ip6.Destination, daddr = ip6.Source;
        // rt6_need_strict(): a link-local or multicast peer is reached through the interface it came from.
        int oif = (AfInet6.Ipv6AddrType(daddr) & (AfInet6.IPV6_ADDR_LINKLOCAL | AfInet6.IPV6_ADDR_MULTICAST)) != 0 ? TcpV6Iif(skb) : 0;
        if (Ip6DstLookup.Ip6DstLookupFlow(net, null, daddr, ref saddr, oif, out var rt) != 0) return;
        var reply = TcpIpv4.TcpBuildReply(net, th.DstPort, th.SrcPort, seq, ack, flags, window, opts);
        if (reply is null) return;
        TcpHeader.Create(reply.DataSpan).FillChecksumV6(saddr, daddr);
        net.Mib.Tcp[TcpMib.OutSegs]++;
        int hlimit = sk?.Pinet6 is { HopLimit: >= 0 } np ? np.HopLimit : Ip6Output.Ip6DstHoplimit(net, rt!);
        Ip6Output.Ip6Xmit(net, reply, rt!, saddr, daddr, NextHdr.Tcp, hlimit);
    }

    // ---- ICMPv6 errors ----

    /// <summary>
    /// A Packet Too Big for a connection: the route to the peer learns the MTU (a path MTU exception
    /// other sockets to that peer share), and when it is below what the connection sends with, the
    /// MSS shrinks and what was sent too big goes again.
    /// </summary>
    /// <remarks>Mirrors tcp_v6_mtu_reduced() -> inet6_csk_update_pmtu() (ip6_update_pmtu + the route's dst_mtu()).</remarks>
    private static void TcpV6MtuReduced(NetNamespace net, TcpSock tp, int mtu)
    {
        if (TcpOutput.TcpMtuToMss(tp, mtu) >= tp.MssCache) return;
        Route6Pmtu.Ip6UpdatePmtu(net, tp.SkcV6Daddr, tp.Pinet6!.Saddr, tp.BoundDevIf, (uint)mtu);
        int dstMtu = tp.Dst6 is { } rt ? Route6Pmtu.Ip6DstMtu(net, rt, tp.SkcV6Daddr) : mtu;
        if (tp.IcskPmtuCookie > dstMtu)
        {
            TcpOutput.TcpSyncMss(tp, dstMtu);
            TcpInput.TcpSimpleRetransmit(tp);
        }
    }

    /// <summary>
    /// An ICMPv6 error about a segment we sent: a Packet Too Big lowers the MSS (to no less than
    /// the 1280-byte minimum MTU allows) and resends; others abort a connection being set up, or
    /// are reported (IPV6_RECVERR) or kept as a soft error.
    /// </summary>
    /// <remarks>Mirrors tcp_v6_err().</remarks>
    internal static void TcpV6Err(SkBuff skb, byte type, byte code, uint info)
    {
        var net = skb.Dev?.Net;
        if (net is null) return;
        var q = skb.DataSpan;
        if (q.Length < Ipv6Header.Length + 8) return;
        var ip6 = Ipv6Header.Create(q);
        var quoted = q[Ipv6Header.Length..];
        ushort sport = (ushort)(quoted[0] << 8 | quoted[1]);
        ushort dport = (ushort)(quoted[2] << 8 | quoted[3]);
        uint seq = (uint)(quoted[4] << 24 | quoted[5] << 16 | quoted[6] << 8 | quoted[7]);
        // The quoted segment went from us (its source) to the peer (its destination).
        var found = InetHashtables.Inet6LookupEstablished(net, ip6.Destination, dport, ip6.Source, sport);
        if (found is null)
        {
            net.Ipv6.Icmp6Stats[Icmp6Mib.Icmp6InErrors]++;
            return;
        }
        if (found is TcpTimewaitSock) return;
        if (found is TcpRequestSock req)
        {
            // tcp_req_err(): an error for a SYN-ACK we sent drops the request if the sequence matches.
            if (seq == req.SntIsn && type != Icmpv6Type.PktTooBig) TcpMinisocks.InetCskReqskQueueDrop(req.RskListener, req);
            return;
        }
        var tp = (TcpSock)found;
        if (tp.State == TcpState.Close) return;
        // The ICMPv6 message itself must have come from within the GTSM radius.
        if (tp.Pinet6 is { MinHopcount: > 0 } np &&
            Ipv6Header.Create(skb.Buffer.AsSpan(skb.NetworkHeader, Ipv6Header.Length)).HopLimit < np.MinHopcount)
        {
            net.Mib.TcpExt[LinuxMib.TCPMinTTLDrop]++;
            return;
        }
        if (tp.State != TcpState.Listen && !SeqNumber.Between(seq, tp.SndUna, tp.SndNxt)) return;
        if (type == Icmpv6Type.PktTooBig)
        {
            // Not for a listener; an MTU below IPV6_MIN_MTU is ignored (RFC 8201 section 4).
            if (tp.State == TcpState.Listen || info < Ipv6MinMtu) return;
            TcpV6MtuReduced(net, tp, (int)info);
            return;
        }
        Icmpv6.Icmpv6ErrConvert(type, code, out int err);
        switch (tp.State)
        {
            case TcpState.SynSent:
            case TcpState.SynRecv:
                tp.Err = err;
                tp.ErrorReport();
                Tcp.TcpDone(tp);
                return;
        }
        if (tp.Pinet6!.Recverr)
        {
            tp.Err = err;
            tp.ErrorReport();
        }
        else
        {
            tp.ErrSoft = err;
        }
    }
}
