using NetStack.Core;
using NetStack.Ethernet;
using NetStack.Net;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Ipv4;

/// <summary>
/// tcp_prot: what TCP provides to the socket layer.
/// <remarks>Mirrors net/ipv4/tcp_ipv4.c: struct proto tcp_prot.</remarks>
/// </summary>
internal sealed class TcpProt : Proto
{
    public static readonly TcpProt Instance = new();
    public override string Name => "TCP";
    public override Sock? CreateSock(NetNamespace net) => TcpSock.SlabAlloc(net.Ipv4.TcpSockCache);
    internal override void SkProtFree(Sock sk) => TcpSock.SlabFree(sk.Net.Ipv4.TcpSockCache, (TcpSock)sk);
    public override bool HasIoctl => true;
    /// <summary>no_autobind: sendmsg never binds a TCP socket; only bind, listen and connect give it a port
    /// (a send on a closed socket answers EPIPE and leaves it unbound).</summary>
    public override bool NoAutobind => true;
    public override void Close(Sock sk, long timeout) => Tcp.TcpClose((TcpSock)sk, timeout);
    public override int PreConnect(Sock sk, in SockAddr addr) => 0;
    public override int Connect(Sock sk, in SockAddr addr) => TcpIpv4.TcpV4Connect((TcpSock)sk, addr);
    public override int Disconnect(Sock sk, int flags) => Tcp.TcpDisconnect((TcpSock)sk, flags);
    public override Sock? Accept(Sock sk, ref ProtoAcceptArg arg) => InetConnectionSock.InetCskAccept(sk, ref arg);
    public override int Ioctl(Sock sk, int cmd, out int karg) => Tcp.TcpIoctl((TcpSock)sk, cmd, out karg);
    public override int Init(Sock sk) => TcpIpv4.TcpV4InitSock((TcpSock)sk);
    public override void Destroy(Sock sk) => TcpIpv4.TcpV4DestroySock((TcpSock)sk);
    public override void Shutdown(Sock sk, int how) => Tcp.TcpShutdown((TcpSock)sk, how);
    public override int Setsockopt(Sock sk, int level, int optname, ReadOnlySpan<byte> optval) => Tcp.TcpSetsockopt((TcpSock)sk, level, optname, optval);
    public override int Getsockopt(Sock sk, int level, int optname, Span<byte> optval, ref int optlen) => Tcp.TcpGetsockopt((TcpSock)sk, level, optname, optval, ref optlen);
    public override void Keepalive(Sock sk, bool valbool) => TcpTimer.TcpSetKeepalive((TcpSock)sk, valbool);
    internal override void ReleaseCb(Sock sk) => TcpInput.TcpReleaseCb((TcpSock)sk);
    public override int Sendmsg(Sock sk, ref MsgHdr msg, ReadOnlySpan<byte> data) => Tcp.TcpSendmsg((TcpSock)sk, ref msg, data);
    public override int Recvmsg(Sock sk, ref MsgHdr msg, Span<byte> buf, int flags) => Tcp.TcpRecvmsg((TcpSock)sk, ref msg, buf, flags);
    public override int BacklogRcv(Sock sk, SkBuff skb) => TcpIpv4.TcpV4DoRcv((TcpSock)sk, skb);
    public override int DiagDestroy(Sock sk, int err) => Tcp.TcpAbort((TcpSock)sk, err);
    public override int Hash(Sock sk) => InetHashtables.InetHash((TcpSock)sk);
    public override void Unhash(Sock sk) => InetHashtables.InetUnhash((TcpSock)sk);
    public override int GetPort(Sock sk, ushort snum) => InetConnectionSock.InetCskGetPort((TcpSock)sk, snum);
    public override void PutPort(Sock sk) => InetHashtables.InetPutPort((TcpSock)sk);
}

/// <summary>
/// TCP over IPv4: receive and demultiplex, connect, resets and ACKs without a socket, ICMP errors.
/// <remarks>Mirrors net/ipv4/tcp_ipv4.c.</remarks>
/// </summary>
internal static class TcpIpv4
{
    /// <summary>TCP in each namespace: the IP protocol handler and the constant rows of its MIB.</summary>
    /// <remarks>Mirrors inet_init(): inet_add_protocol(&amp;tcp_protocol, IPPROTO_TCP), and tcp_sk_ops (tcp_sk_init).</remarks>
    internal sealed class TcpSkOps : PernetOperations
    {
        public static readonly TcpSkOps Instance = new();
        private TcpSkOps() { }
        public override string Name => "tcp";

        public override void Init(NetNamespace net)
        {
            net.InetAddProtocol(TcpProtocol, IpProto.TCP);
            // The constant rows of /proc/net/snmp's Tcp line, as tcp_snmp_seq_show() prints them:
            // RtoAlgorithm 1 (RFC 2012's "other": Van Jacobson's), RtoMin/RtoMax in ms, MaxConn -1 (no limit).
            var tcp = net.Mib.Tcp;
            tcp[TcpMib.RtoAlgorithm] = 1;
            tcp[TcpMib.RtoMin] = net.Ipv4.Sysctl.TcpRtoMinMs;
            tcp[TcpMib.RtoMax] = net.Ipv4.Sysctl.TcpRtoMaxMs;
            tcp[TcpMib.MaxConn] = -1;
        }
    }

    /// <summary>ipv4_specific: TCP over IPv4 (also the base of ipv6_mapped).</summary>
    internal static readonly InetConnectionSockAfOps Ipv4Specific = new Ipv4SpecificOps();

    /// <summary>tcp_request_sock_ops with tcp_request_sock_ipv4_ops: a request that came over IPv4.</summary>
    internal static readonly TcpRequestSockOps TcpRequestSockOpsV4 = new RequestSockOpsV4();

    /// <remarks>Mirrors net/ipv4/tcp_ipv4.c: const struct inet_connection_sock_af_ops ipv4_specific.</remarks>
    internal class Ipv4SpecificOps : InetConnectionSockAfOps
    {
        public override int NetHeaderLen => Ipv4Header.MinLength;
        public override bool IsV6 => false;
        public override byte GsoType => VirtioNetHdr.GsoTcpV4;

        /// <remarks>ip_queue_xmit() -> __ip_queue_xmit(): inet_opt on every segment.</remarks>
        public override int QueueXmit(TcpSock tp, SkBuff skb) =>
            IpOutput.IpQueueXmit(tp.Net, skb, tp.Dst, tp.InetSaddr, tp.InetDaddr, IpProto.TCP, tp.SelectTtl(), tp.Tos,
                tp.Pmtudisc != IP_PMTUDISC_DONT, tp, tp.InetOpt);

        /// <remarks>tcp_v4_send_check() -> __tcp_v4_send_check().</remarks>
        public override void SendCheck(TcpSock tp, SkBuff skb, bool partial)
        {
            var th = TcpHeader.Create(skb.DataSpan);
            if (partial) th.Checksum = SkbGso.PseudoCsum(tp.InetSaddr, tp.InetDaddr, skb.Len);
            else if (skb.NrFrags == 0) th.FillChecksum(tp.InetSaddr, tp.InetDaddr);
            else
            {
                // A lone segment left in a super-frame's head: its payload is a fragment (skb_checksum()).
                th.Checksum = 0;
                th.Checksum = Checksum.Fold(skb.Checksum(0, Checksum.PseudoHeader(tp.InetSaddr, tp.InetDaddr, IpProto.TCP, skb.Len)));
            }
        }

        /// <remarks>inet_sk_rebuild_header() / ip_queue_xmit()'s route lookup when sk_dst_cache is gone.</remarks>
        public override int RebuildHeader(TcpSock tp)
        {
            int err = Route.IpRouteOutput(tp.Net, tp.InetDaddr, tp.InetSaddr, out var rt, onLink: tp.HasFlag(SockFlag.LocalRoute), oif: tp.BoundDevIf);
            if (err != 0) return err;
            tp.Dst = rt;
            tp.DstValid = true;
            return 0;
        }

        public override void ConnRequest(TcpSock sk, SkBuff skb) => TcpV4ConnRequest(sk, skb);
        public override TcpSock? SynRecvSock(TcpSock sk, SkBuff skb, TcpRequestSock req) => TcpV4SynRecvSock(sk, skb, req);
        public override void SendReset(TcpSock? sk, SkBuff skb) => TcpV4SendReset(sk, skb);
    }

    private sealed class RequestSockOpsV4 : TcpRequestSockOps
    {
        public override bool IsV6 => false;
        public override bool CanCookie => true;
        public override int NetHeaderLen => Ipv4Header.MinLength;
        public override void InitReq(TcpRequestSock req, TcpSock sk, SkBuff skb) => TcpV4InitReq(req, skb);
        /// <remarks>tcp_v4_route_req() -> inet_csk_route_req() (ir_iif = inet_request_bound_dev_if()).</remarks>
        public override int RouteReq(TcpSock sk, TcpRequestSock req) =>
            Route.IpRouteOutput(sk.Net, req.IrRmtAddr, req.IrLocAddr, out var rt, oif: sk.BoundDevIf) != 0 ? -1 : rt.Dev.Mtu;
        /// <remarks>tcp_v4_init_seq().</remarks>
        public override uint InitSeq(NetNamespace net, TcpRequestSock req) => SecureSeq.SecureTcpSeq(net, req.IrLocAddr, req.IrRmtAddr, req.IrNum, req.IrRmtPort);
        /// <remarks>tcp_v4_init_ts_off().</remarks>
        public override uint InitTsOff(NetNamespace net, TcpRequestSock req) => SecureSeq.SecureTcpTsOff(net, req.IrLocAddr, req.IrRmtAddr);
        public override int SendSynack(TcpSock sk, TcpRequestSock req, in TcpFastopenCookie foc) => TcpV4SendSynack(sk, req, foc);
        public override void SendAck(TcpSock listener, SkBuff skb, TcpRequestSock req) => TcpV4ReqskSendAck(listener, skb, req);
        public override void SendReset(TcpSock? sk, SkBuff skb) => TcpV4SendReset(sk, skb);
    }

    /// <summary>inet_protos[IPPROTO_TCP] (struct net_protocol tcp_protocol).</summary>
    public static readonly NetProtocol TcpProtocol = new(TcpV4Rcv, TcpV4Err);

    // ---- socket init / destroy ----

    /// <remarks>Mirrors tcp_v4_init_sock() -> tcp_init_sock().</remarks>
    internal static int TcpV4InitSock(TcpSock tp)
    {
        Tcp.TcpInitSock(tp);
        return 0;
    }

    /// <summary>Releases everything a closed socket still holds: timers, queues, congestion state, its port.</summary>
    /// <remarks>Mirrors tcp_v4_destroy_sock().</remarks>
    internal static void TcpV4DestroySock(TcpSock tp)
    {
        TcpTimer.TcpClearXmitTimers(tp);
        TcpCong.TcpCleanupCongestionControl(tp);
        Tcp.TcpWriteQueuePurge(tp);
        while (tp.OutOfOrderQueue.Dequeue() is { } skb) tp.SkbFreeDatagram(skb);
        tp.OooLastSkb = null;
        if (tp.BindHash is not null) InetHashtables.InetPutPort(tp);
        TcpFastopen.TcpFreeFastopenReq(tp);
        // A Fast Open child that never finished its handshake gives its place back.
        if (tp.FastopenRsk is not null) TcpFastopen.ReqskFastopenRemove(tp, reset: false);
        // sk_sockets_allocated_dec()
        if (tp.MemAccount is { } mem) mem.SocketsAllocated--;
    }

    // ---- active open ----

    /// <summary>
    /// connect(): route to the destination, pick the source address and an ephemeral port, enter
    /// the established hash, choose the ISN (RFC 6528) and send the SYN.
    /// </summary>
    /// <remarks>Mirrors tcp_v4_connect().</remarks>
    public static int TcpV4Connect(TcpSock tp, in SockAddr usin)
    {
        var net = tp.Net;
        if (usin.Len < SockaddrInSize) return -Errno.EINVAL;
        if (usin.Family != AF_INET) return -Errno.EAFNOSUPPORT;
        uint daddr = usin.Addr;
        // connect() to 0.0.0.0 means this host (ip_route_connect() with a zero destination).
        if (daddr == 0) daddr = Ipv4Address.Loopback;
        int err = Route.IpRouteOutput(net, daddr, tp.InetSaddr, out var rt, onLink: tp.HasFlag(SockFlag.LocalRoute), oif: tp.BoundDevIf); // ip_route_connect(): ip_sock_rt_scope(), sk_bound_dev_if
        if (err != 0) return err;
        if (rt.Type is RtnType.Broadcast or RtnType.Multicast || Ipv4Address.IsMulticast(daddr)) return -Errno.ENETUNREACH;
        if (tp.InetSaddr == 0)
        {
            tp.InetSaddr = rt.PrefSrc;
            tp.InetRcvSaddr = rt.PrefSrc;
        }
        else
        {
            tp.InetRcvSaddr = tp.InetSaddr;
        }
        if (tp.RxOpt.TsRecentStamp != 0 && tp.InetDaddr != daddr)
        {
            tp.RxOpt.TsRecent = 0;
            tp.RxOpt.TsRecentStamp = 0;
            tp.WriteSeq = 0;
        }
        tp.InetDport = usin.Port;
        tp.InetDaddr = daddr;
        tp.IcskExtHdrLen = tp.InetOpt.Opt.Optlen; // inet_opt: every segment's IP header grows by the options
        tp.RxOpt.MssClamp = TcpSock.TcpMssDefault;

        // Identity still incomplete (the port may be 0): SYN_SENT, then pick the port and hash.
        Tcp.TcpSetState(tp, TcpState.SynSent);
        err = InetHashtables.InetHashConnect(tp);
        if (err != 0) goto failure;
        tp.Dst = rt;
        tp.DstValid = true;
        if (tp.WriteSeq == 0) tp.WriteSeq = SecureSeq.SecureTcpSeq(net, tp.InetSaddr, tp.InetDaddr, tp.InetSport, usin.Port);
        tp.TsOffset = SecureSeq.SecureTcpTsOff(net, tp.InetSaddr, tp.InetDaddr);
        tp.InetId = (ushort)Random.Shared.Next(65536);
        // TCP_FASTOPEN_CONNECT with a cookie: the SYN waits for the first write.
        if (TcpFastopen.TcpFastopenDeferConnect(tp)) return 0;
        err = TcpOutput.TcpConnect(tp);
        if (err != 0) goto failure;
        return 0;

    failure:
        // This unhashes the socket and releases the local port, if necessary.
        Tcp.TcpSetState(tp, TcpState.Close);
        if ((tp.UserLocks & Sock.SockBindaddrLock) == 0)
        {
            tp.InetSaddr = 0;
            tp.InetRcvSaddr = 0;
        }
        tp.DstReset();
        tp.InetDport = 0;
        return err;
    }

    // ---- passive open ----

    /// <summary>
    /// A SYN on a listener. When the SYN queue is full (or always, tcp_syncookies = 2) the SYN-ACK
    /// carries a cookie and nothing is kept (or, tcp_syncookies = 0, the SYN is dropped and
    /// counted); a full accept queue drops it; otherwise a request sock waits for the ACK.
    /// </summary>
    /// <remarks>Mirrors tcp_v4_conn_request().</remarks>
    internal static void TcpV4ConnRequest(TcpSock sk, SkBuff skb)
    {
        // Never answer a SYN sent to a broadcast or multicast address.
        if (skb.RouteBroadcast || skb.PktType is Eth.PacketBroadcast or Eth.PacketMulticast)
        {
            TcpListendrop(sk);
            return;
        }
        TcpConnRequest(sk, skb, TcpRequestSockOpsV4);
    }

    /// <remarks>Mirrors tcp_listendrop(), with the drop reason of tcp_conn_request()'s drop label.</remarks>
    internal static void TcpListendrop(TcpSock sk)
    {
        sk.Net.Mib.TcpExt[LinuxMib.ListenDrops]++;
        sk.Net.Mib.Drops[SkbDropReason.TcpListenOverflow]++;
    }

    /// <summary>The SYN on a listener, for either network layer: <paramref name="ops"/> gives the request its addresses, route, ISN and timestamp offset, and sends the SYN-ACK (tcp_request_sock_ipv4_ops / tcp_request_sock_ipv6_ops).</summary>
    /// <remarks>Mirrors tcp_conn_request() (net/ipv4/tcp_input.c).</remarks>
    internal static void TcpConnRequest(TcpSock sk, SkBuff skb, TcpRequestSockOps ops)
    {
        var net = sk.Net;
        var mib = net.Mib.TcpExt;
        uint isn = net.Ipv4.TcpTwIsn;
        bool wantCookie = false;
        int syncookies = 0;
        if (isn != 0)
        {
            // A SYN that reopens a TIME_WAIT 4-tuple is accepted without limits: the peer is evidently real.
            net.Ipv4.TcpTwIsn = 0;
        }
        else
        {
            syncookies = net.Ipv4.Sysctl.TcpSyncookies;
            // inet_csk_reqsk_queue_is_full()
            if (syncookies == 2 || sk.AcceptQueue.Qlen > sk.MaxAckBacklog)
            {
                wantCookie = Syncookies.TcpSynFloodAction(sk, "request_sock_TCP");
                if (!wantCookie) goto drop;
            }
        }
        if (sk.AckBacklog > sk.MaxAckBacklog) // sk_acceptq_is_full()
        {
            mib[LinuxMib.ListenOverflows]++;
            goto drop;
        }
        // inet_reqsk_alloc(): a cookie's request is freed right after its SYN-ACK, so one serves them all.
        TcpRequestSock req;
        if (wantCookie)
        {
            if (!ops.CanCookie) goto drop;
            req = net.Ipv4.TcpCookieReq ??= TcpMinisocks.InetReqskAlloc(sk);
            req.ResetForReuse(sk);
        }
        else
        {
            req = TcpMinisocks.InetReqskAlloc(sk);
        }
        req.RskOps = ops;
        req.Syncookie = wantCookie;
        var tmpOpt = new TcpOptionsReceived { MssClamp = TcpSock.TcpMssDefault, UserMss = sk.RxOpt.UserMss };
        var th = TcpInput.TcpHdr(skb);
        var foc = TcpFastopenCookie.None;
        TcpInput.TcpParseOptions(net, th, ref tmpOpt, false, out _, ref foc, wantFoc: !wantCookie);
        // Without timestamps a cookie has nowhere to keep window scaling and SACK.
        if (wantCookie && !tmpOpt.SawTstamp) Syncookies.TcpClearOptions(ref tmpOpt);
        tmpOpt.TstampOk = tmpOpt.SawTstamp;
        // tcp_openreq_init()
        req.RskRcvWnd = 0;
        req.RcvIsn = skb.Cb.Seq;
        req.RcvNxt = skb.Cb.Seq + 1;
        req.SntSynack = 0;
        req.Mss = tmpOpt.MssClamp;
        req.TsRecent = tmpOpt.SawTstamp ? tmpOpt.RcvTsval : 0;
        req.TstampOk = tmpOpt.TstampOk;
        req.SackOk = tmpOpt.SackOk;
        req.SndWscale = tmpOpt.SndWscale;
        req.WscaleOk = tmpOpt.WscaleOk;
        req.Acked = false;
        req.IrRmtPort = th.SrcPort;
        req.IrNum = th.DstPort;
        ops.InitReq(req, sk, skb);
        // route_req(): we must be able to answer.
        int mtu = ops.RouteReq(sk, req);
        if (mtu < 0) goto dropAndFree;
        if (req.TstampOk) req.TsOff = ops.InitTsOff(net, req);
        if (!wantCookie && isn == 0)
        {
            int maxSynBacklog = net.Ipv4.Sysctl.TcpMaxSynBacklog;
            // Without syncookies the last quarter of the backlog is kept for proven peers (none here).
            if (syncookies == 0 && maxSynBacklog - sk.AcceptQueue.Qlen < (maxSynBacklog >> 2)) goto dropAndFree;
            isn = ops.InitSeq(net, req);
        }
        TcpEcnCreateRequest(req, skb, sk);
        if (wantCookie)
        {
            isn = Syncookies.CookieInitSequence(sk, skb, req);
            // ECN rides in the timestamp: without one it cannot survive the cookie.
            if (!tmpOpt.TstampOk) req.EcnOk = false;
        }
        req.SntIsn = isn;
        TcpOpenreqInitRwin(req, sk, mtu, ops.NetHeaderLen);
        if (!wantCookie) TcpReqskRecordSyn(sk, req, skb);
        TcpSock? fastopenSk = null;
        // tcp_fastopen.c is shared: the cookie covers the request family's addresses and the child
        // comes from icsk_af_ops->syn_recv_sock.
        if (!wantCookie) fastopenSk = TcpFastopen.TcpTryFastopen(sk, skb, req, ref foc);
        if (fastopenSk is not null)
        {
            ops.SendSynack(fastopenSk, req, foc);
            // The child goes straight to the accept queue, its SYN data readable.
            if (InetConnectionSock.InetCskReqskQueueAdd(sk, req, fastopenSk) is null)
            {
                TcpFastopen.ReqskFastopenRemove(fastopenSk, reset: false);
                goto drop;
            }
            sk.DataReady();
            return;
        }
        if (!wantCookie && !TcpMinisocks.InetCskReqskQueueHashAdd(sk, req, TcpTimer.TcpTimeoutInit(net)))
        {
            TcpMinisocks.ReqskFree(req); // reqsk_free(): never hashed, no timer
            return;
        }
        ops.SendSynack(sk, req, foc);
        // A cookie's request is not kept (reqsk_free()): the shared one waits for the next SYN, holding no listener.
        if (wantCookie)
        {
            req.RskListener = null!;
            sk.SockPut();
        }
        return;
    dropAndFree:
        // __reqsk_free(): the request was never hashed; its listener reference goes with it.
        if (wantCookie)
        {
            req.RskListener = null!;
            sk.SockPut();
        }
        else
        {
            TcpMinisocks.ReqskFree(req);
        }
    drop:
        TcpListendrop(sk);
    }

    /// <remarks>Mirrors tcp_v4_init_req() -> tcp_v4_save_options(): the addresses, and the SYN's options echoed (none if they cannot be).</remarks>
    internal static void TcpV4InitReq(TcpRequestSock req, SkBuff skb)
    {
        req.IrLocAddr = skb.Daddr;
        req.IrRmtAddr = skb.Saddr;
        if (IpOptions.IpOptionsEcho(skb.Dev!.Net!, ref req.IreqOpt, skb) != 0) req.IreqOpt = default;
    }

    /// <summary>TCP_SAVE_SYN: the request keeps a copy of the SYN's IP and TCP headers (and the link-layer header with 2).</summary>
    /// <remarks>Mirrors tcp_reqsk_record_syn() (net/ipv4/tcp_input.c).</remarks>
    private static void TcpReqskRecordSyn(TcpSock sk, TcpRequestSock req, SkBuff skb)
    {
        if (sk.SaveSyn == 0) return;
        int tcpHdrlen = TcpHeader.Create(skb.Buffer.AsSpan(skb.TransportHeader)).HeaderLength;
        int start = sk.SaveSyn == 2 && skb.MacHeader >= 0 ? skb.MacHeader : skb.NetworkHeader;
        req.SavedSyn = skb.Buffer.AsSpan(start, skb.TransportHeader + tcpHdrlen - start).ToArray();
    }

    /// <summary>
    /// A SYN with ECE|CWR asks for ECN: accepted when net.ipv4.tcp_ecn is nonzero (1 or 2) and the SYN
    /// is not ECT itself (RFC 3168 6.1.1; ECT with a reserved bit set is an AccECN sender, also
    /// fine), or always when the listener's congestion control needs ECN.
    /// </summary>
    /// <remarks>Mirrors tcp_ecn_create_request() (net/ipv4/tcp_input.c).</remarks>
    private static void TcpEcnCreateRequest(TcpRequestSock req, SkBuff skb, TcpSock listener)
    {
        byte flags = skb.Cb.TcpFlags;
        bool thEcn = (flags & TcpFlags.ECE) != 0 && (flags & TcpFlags.CWR) != 0;
        if (!thEcn) return;
        bool ect = !InetEcn.IsNotEct(skb.Cb.IpDsfield);
        bool res1 = (skb.Buffer[skb.TransportHeader + 12] & 0x0f) != 0;
        bool ecnOk = listener.Net.Ipv4.Sysctl.TcpEcn != 0;
        if (((!ect || res1) && ecnOk) || TcpCong.TcpCaNeedsEcn(listener)) req.EcnOk = true;
    }

    /// <remarks>Mirrors tcp_openreq_init_rwin().</remarks>
    private static void TcpOpenreqInitRwin(TcpRequestSock req, TcpSock listener, int mtu, int netHeaderLen)
    {
        int fullSpace = TcpOutput.TcpFullSpace(listener);
        int mss = TcpOutput.TcpAdvmss(listener, mtu, netHeaderLen);
        uint windowClamp = listener.WindowClamp;
        req.RskWindowClamp = windowClamp;
        if ((listener.UserLocks & Sock.SockRcvbufLock) != 0 && (req.RskWindowClamp > fullSpace || req.RskWindowClamp == 0))
            req.RskWindowClamp = (uint)fullSpace;
        TcpOutput.TcpSelectInitialWindow(listener, fullSpace, mss - (req.TstampOk ? TcpOpt.LenTstampAligned : 0),
            out req.RskRcvWnd, ref req.RskWindowClamp, req.WscaleOk, out var rcvWscale);
        req.RcvWscale = rcvWscale;
    }

    /// <summary>Sends (or resends) the SYN-ACK of a request.</summary>
    /// <remarks>Mirrors tcp_v4_send_synack() -> tcp_make_synack() with tcp_synack_options().</remarks>
    internal static int TcpV4SendSynack(TcpSock listener, TcpRequestSock req) => TcpV4SendSynack(listener, req, TcpFastopenCookie.None);

    /// <summary>Sends a SYN-ACK with a Fast Open cookie (<paramref name="foc"/> Len &gt;= 0) when it fits.</summary>
    /// <remarks>Mirrors tcp_v4_send_synack() -> tcp_make_synack() with tcp_synack_options()' foc.</remarks>
    internal static int TcpV4SendSynack(TcpSock listener, TcpRequestSock req, in TcpFastopenCookie foc)
    {
        var net = listener.Net;
        if (Route.IpRouteOutput(net, req.IrRmtAddr, req.IrLocAddr, out var rt, oif: listener.BoundDevIf) != 0) return -Errno.EHOSTUNREACH; // inet_csk_route_req(): ir_iif
        var skb = TcpMakeSynack(listener, req, foc, TcpOutput.TcpAdvmss(listener, rt.Dev.Mtu));
        if (skb is null) return -Errno.ENOBUFS;
        TcpHeader.Create(skb.DataSpan).FillChecksum(req.IrLocAddr, req.IrRmtAddr);
        net.Mib.Tcp[TcpMib.OutSegs]++;
        // ip_build_and_send_pkt() with ireq_opt: the SYN's options answered.
        IpOutput.IpQueueXmit(net, skb, rt, req.IrLocAddr, req.IrRmtAddr, IpProto.TCP, listener.SelectTtl(), listener.Tos, true, null, req.IreqOpt);
        return 0;
    }

    /// <summary>The SYN-ACK of a request, its TCP header and options written, the checksum left to the network layer's send_check.</summary>
    /// <remarks>Mirrors tcp_make_synack() with tcp_synack_options() (net/ipv4/tcp_output.c), shared by tcp_v4_send_synack() and tcp_v6_send_synack().</remarks>
    internal static SkBuff? TcpMakeSynack(TcpSock listener, TcpRequestSock req, in TcpFastopenCookie foc, ushort mss)
    {
        var net = listener.Net;
        var skb = net.SkbPool.AllocWithHeadroom(SkBuffPool.MaxHeader);
        if (skb is null) return null;
        var opts = new TcpOptionsOut { Mss = mss };
        if (req.WscaleOk) opts.WindowScale = (sbyte)req.RcvWscale;
        if (req.TstampOk)
        {
            opts.HasTimestamp = true;
            // tcp_make_synack(): a cookie SYN-ACK's clock carries the options in its low bits.
            uint ts = req.Syncookie ? Syncookies.CookieInitTimestamp(req, net.NowNs) : unchecked((uint)(net.NowNs / Time.NsPerMs));
            opts.TsVal = unchecked(ts + req.TsOff);
            opts.TsEcr = req.TsRecent;
        }
        opts.SackPermitted = req.SackOk;
        if (foc.Len >= 0 && TcpOutput.MaxTcpOptionSpace - opts.Size >= TcpOptionsOut.FastopenSize(foc))
        {
            opts.HasFastopen = true;
            opts.Fastopen = foc;
        }
        if (req.SntSynack == 0 && !req.Syncookie) req.SntSynack = net.NowNs;
        int hdrLen = TcpHeader.MinLength + opts.Size;
        var seg = skb.Put(hdrLen);
        var th = TcpHeader.Create(seg);
        th.SrcPort = req.IrNum;
        th.DstPort = req.IrRmtPort;
        th.Seq = req.SntIsn;
        th.AckSeq = req.RcvNxt;
        th.DataOffset = hdrLen / 4;
        th.Flags = TcpFlags.SYN | TcpFlags.ACK;
        if (req.EcnOk) th.Flags |= TcpFlags.ECE; // tcp_ecn_make_synack()
        th.Window = (ushort)Math.Min(req.RskRcvWnd, 65535u);
        th.Checksum = 0;
        th.UrgPtr = 0;
        opts.Write(seg.Slice(TcpHeader.MinLength, opts.Size));
        return skb;
    }

    /// <summary>The handshake completed: create the child, route it, give it the listener's port and the request's place in the hash.</summary>
    /// <remarks>Mirrors tcp_v4_syn_recv_sock().</remarks>
    internal static TcpSock? TcpV4SynRecvSock(TcpSock sk, SkBuff skb, TcpRequestSock req)
    {
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
        newtp.InetDaddr = req.IrRmtAddr;
        newtp.SavedSyn = req.SavedSyn; // tcp_move_syn()
        req.SavedSyn = null;
        newtp.InetRcvSaddr = req.IrLocAddr;
        newtp.InetSaddr = req.IrLocAddr;
        // inet_csk_clone_lock()'s inet_sk_set_state(newsk, TCP_SYN_RECV), from the listener's state
        // (sk_clone_lock() copied it): the kernel fires it before the child has its addresses; here
        // once it has them, so that a filter on the connection's 4-tuple sees it.
        TcpTracepoint.TraceInetSockSetState(newtp, TcpState.Listen);
        newtp.McTtl = Ipv4Header.Create(skb.Buffer.AsSpan(skb.NetworkHeader)).Ttl;
        // An AF_INET6 listener's IPv4 child: tcp_v6_syn_recv_sock() makes it with this function,
        // then gives it v4-mapped addresses.
        newtp.IcskAfOps = Ipv4Specific;
        if (newtp.Pinet6 is { } newnp) Ipv6.TcpIpv6.TcpV6SynRecvSockMapped(newtp, newnp, (byte)newtp.McTtl);
        newtp.RcvTos = Ipv4Header.Create(skb.Buffer.AsSpan(skb.NetworkHeader)).Tos;
        // The child's inet_opt is the request's ireq_opt (moved), and its MSS makes room for it.
        newtp.InetOpt = req.IreqOpt;
        req.IreqOpt = default;
        newtp.IcskExtHdrLen = newtp.InetOpt.Opt.Optlen;
        newtp.InetId = (ushort)Random.Shared.Next(65536);
        if (Route.IpRouteOutput(net, newtp.InetDaddr, newtp.InetSaddr, out var rt, oif: newtp.BoundDevIf) != 0) // inet_csk_route_child_sock(): ir_iif
        {
            // put_and_exit: the child never became visible.
            AfInet.InetSkSetState(newtp, TcpState.Close); // tcp_done() -> tcp_set_state(TCP_CLOSE)
            newtp.SetFlag(SockFlag.Dead);
            net.Ipv4.TcpOrphanCount++;
            InetConnectionSock.InetCskDestroySock(newtp);
            net.Mib.TcpExt[LinuxMib.ListenDrops]++;
            return null;
        }
        newtp.Dst = rt;
        newtp.DstValid = true;
        TcpCong.TcpCaOpenreqChild(newtp);
        TcpOutput.TcpSyncMss(newtp, rt.Dev.Mtu);
        newtp.Advmss = TcpOutput.TcpAdvmss(sk, rt.Dev.Mtu);
        TcpInput.TcpInitializeRcvMss(newtp);
        // __inet_inherit_port(): the child shares the listener's bind bucket.
        if (sk.BindHash is { } tb) InetHashtables.InetBindHash(newtp, tb, sk.InetNum);
        // inet_ehash_nolisten(): take the request's place.
        var key = new InetEhashKey(req.IrLocAddr, req.IrNum, req.IrRmtAddr, req.IrRmtPort);
        net.Ipv4.TcpHashinfo.Ehash[key] = newtp;
        newtp.Hashed = true;
        TcpInput.TcpSynackRttMeas(newtp, req);
        return newtp;
    }

    // ---- replies without a full socket ----

    /// <summary>
    /// Sends a reset for a segment (nobody listens, or an invalid segment): the sequence is the
    /// segment's ACK if it had one, else zero with an ACK of everything it occupied. Never in
    /// answer to a reset, nor to broadcast or multicast.
    /// </summary>
    /// <remarks>Mirrors tcp_v4_send_reset().</remarks>
    public static void TcpV4SendReset(TcpSock? sk, SkBuff skb)
    {
        var th = TcpInput.TcpHdr(skb);
        if (th.Rst) return;
        var dev = skb.Dev;
        var net = sk?.Net ?? dev?.Net;
        if (net is null) return;
        if (sk is null && (skb.RouteBroadcast || skb.PktType is Eth.PacketBroadcast or Eth.PacketMulticast)) return;
        TcpResetNumbers(skb, th, out uint seq, out uint ackSeq, out byte flags);
        IpSendUnicastReply(net, skb.Daddr, skb.Saddr, th.DstPort, th.SrcPort, seq, ackSeq, flags, 0, default, sk);
        net.Mib.Tcp[TcpMib.OutRsts]++;
    }

    /// <summary>A reset's numbers (RFC 9293 3.10.7.1): the segment's ACK as our sequence, or sequence zero with an ACK of everything the segment occupied.</summary>
    /// <remarks>The part tcp_v4_send_reset() and tcp_v6_send_reset() share.</remarks>
    internal static void TcpResetNumbers(SkBuff skb, TcpHeader th, out uint seq, out uint ackSeq, out byte flags)
    {
        ackSeq = 0;
        flags = TcpFlags.RST;
        if (th.Ack)
        {
            seq = th.AckSeq;
        }
        else
        {
            seq = 0;
            flags |= TcpFlags.ACK;
            int payload = skb.Tail - skb.TransportHeader - th.HeaderLength;
            ackSeq = th.Seq + (th.Syn ? 1u : 0u) + (th.Fin ? 1u : 0u) + (uint)payload;
        }
    }

    /// <summary>An ACK from a TIME_WAIT or request sock (no full socket to send it).</summary>
    /// <remarks>Mirrors tcp_v4_send_ack().</remarks>
    internal static void TcpV4SendAck(NetNamespace net, SkBuff skb, uint seq, uint ack, uint win, uint tsval, uint tsecr, bool withTs)
    {
        var th = TcpInput.TcpHdr(skb);
        var opts = new TcpOptionsOut();
        if (withTs)
        {
            opts.HasTimestamp = true;
            opts.TsVal = tsval;
            opts.TsEcr = tsecr;
        }
        IpSendUnicastReply(net, skb.Daddr, skb.Saddr, th.DstPort, th.SrcPort, seq, ack, TcpFlags.ACK, (ushort)Math.Min(win, 65535u), opts, null);
    }

    /// <remarks>Mirrors tcp_v4_timewait_ack().</remarks>
    internal static void TcpV4TimewaitAck(TcpTimewaitSock tw, SkBuff skb)
    {
        uint tsval = unchecked((uint)(tw.Net.NowNs / Time.NsPerMs) + tw.TwTsOffset);
        TcpV4SendAck(tw.Net, skb, tw.TwSndNxt, tw.TwRcvNxt, tw.TwRcvWnd >> tw.TwRcvWscale, tsval, tw.TwTsRecent, tw.TwTsRecentStamp != 0);
    }

    /// <remarks>Mirrors tcp_v4_reqsk_send_ack().</remarks>
    internal static void TcpV4ReqskSendAck(TcpSock sk, SkBuff skb, TcpRequestSock req)
    {
        uint tsval = unchecked((uint)(sk.Net.NowNs / Time.NsPerMs) + req.TsOff);
        TcpV4SendAck(sk.Net, skb, req.SntIsn + 1, req.RcvNxt, req.RskRcvWnd >> req.RcvWscale, tsval, req.TsRecent, req.TstampOk);
    }

    /// <remarks>Mirrors ip_send_unicast_reply(): a reply from the address the segment was sent to.</remarks>
    private static void IpSendUnicastReply(NetNamespace net, uint saddr, uint daddr, ushort sport, ushort dport, uint seq, uint ack, byte flags, ushort window, TcpOptionsOut opts, TcpSock? sk)
    {
        if (Route.IpRouteOutput(net, daddr, saddr, out var rt) != 0) return;
        var skb = TcpBuildReply(net, sport, dport, seq, ack, flags, window, opts);
        if (skb is null) return;
        TcpHeader.Create(skb.DataSpan).FillChecksum(saddr, daddr);
        net.Mib.Tcp[TcpMib.OutSegs]++;
        IpOutput.IpQueueXmit(net, skb, rt, saddr, daddr, IpProto.TCP, sk?.SelectTtl() ?? -1, sk?.Tos ?? 0, df: true);
    }

    /// <summary>A bare TCP segment (reset or ACK, options but no data) for a reply without a full socket; the checksum is the caller's.</summary>
    internal static SkBuff? TcpBuildReply(NetNamespace net, ushort sport, ushort dport, uint seq, uint ack, byte flags, ushort window, TcpOptionsOut opts)
    {
        var skb = net.SkbPool.AllocWithHeadroom(SkBuffPool.MaxHeader);
        if (skb is null) return null;
        int optSize = opts.Size;
        int hdrLen = TcpHeader.MinLength + optSize;
        var seg = skb.Put(hdrLen);
        var th = TcpHeader.Create(seg);
        th.SrcPort = sport;
        th.DstPort = dport;
        th.Seq = seq;
        th.AckSeq = ack;
        th.DataOffset = hdrLen / 4;
        th.Flags = flags;
        th.Window = window;
        th.Checksum = 0;
        th.UrgPtr = 0;
        opts.Write(seg.Slice(TcpHeader.MinLength, optSize));
        return skb;
    }

    // ---- receive ----

    /// <summary>
    /// A TCP segment addressed to us: validate, checksum, compute the per-segment facts, find
    /// the socket (established, then listening), and hand it on; reset when nobody is there.
    /// </summary>
    /// <remarks>Mirrors tcp_v4_rcv().</remarks>
    public static int TcpV4Rcv(SkBuff skb)
    {
        var dev = skb.Dev!;
        var net = dev.Net!;
        var mib = net.Mib.Tcp;
        if (skb.PktType == Eth.PacketOtherHost) return net.KfreeSkbReason(skb, SkbDropReason.OtherHost);
        mib[TcpMib.InSegs]++;
        switch (TcpHeader.TryCreate(skb.DataSpan, out var th))
        {
            case TcpParseResult.Ok: break;
            case TcpParseResult.BadDataOffset:
                mib[TcpMib.InErrs]++;
                return net.KfreeSkbReason(skb, SkbDropReason.PktLenInvalid);
            default:
                mib[TcpMib.InErrs]++;
                return net.KfreeSkbReason(skb, SkbDropReason.PktTooSmall);
        }
        if (!skb.CsumVerified && !th.VerifyChecksum(skb.Saddr, skb.Daddr))
        {
            mib[TcpMib.InCsumErrors]++;
            mib[TcpMib.InErrs]++;
            return net.KfreeSkbReason(skb, SkbDropReason.TcpCsum);
        }
        skb.TransportHeader = skb.Data;
        // tcp_v4_fill_cb()
        int payload = skb.Len - th.HeaderLength;
        // A GSO super-frame from an offloading device stands for this many wire segments (tcp_gro_complete counts them).
        if (skb.GsoSize != 0) skb.GsoSegs = (ushort)Math.Max(1, (payload + skb.GsoSize - 1) / skb.GsoSize);
        skb.Cb.Seq = th.Seq;
        skb.Cb.EndSeq = th.Seq + (th.Syn ? 1u : 0u) + (th.Fin ? 1u : 0u) + (uint)payload;
        skb.Cb.AckSeq = th.AckSeq;
        skb.Cb.TcpFlags = th.Flags;
        skb.Cb.When = 0;
        skb.Cb.Sacked = 0;
        skb.Cb.IpDsfield = Ipv4Header.Create(skb.Buffer.AsSpan(skb.NetworkHeader)).Tos;

    lookup:
        var found = InetHashtables.InetLookup(net, skb.Saddr, th.SrcPort, skb.Daddr, th.DstPort, dev.IfIndex);
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
                        var sk2 = InetHashtables.InetLookupListener(net, skb.Saddr, th.SrcPort, skb.Daddr, th.DstPort, dev.IfIndex);
                        if (sk2 is not null)
                        {
                            TcpMinisocks.InetTwskDeschedulePut(net, tw);
                            net.Ipv4.TcpTwIsn = isn;
                            if (TcpMinTtlDrop(sk2, skb)) return 0;
                            return TcpV4DoRcv(sk2, skb);
                        }
                        TcpV4TimewaitAck(tw, skb);
                        break;
                    }
                    case TcpTwStatus.Ack:
                        TcpV4TimewaitAck(tw, skb);
                        break;
                    case TcpTwStatus.Rst:
                        TcpV4SendReset(null, skb);
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
                if (nsk == sk) return TcpMinTtlDrop(sk, skb) ? 0 : TcpV4DoRcv(sk, skb);
                if (TcpMinisocks.TcpChildProcess(sk, nsk, skb) != 0)
                {
                    TcpV4SendReset(nsk, skb);
                    skb.Free();
                }
                return 0;
            }
            case TcpSock tp:
                if (TcpMinTtlDrop(tp, skb)) return 0;
                // The socket is locked by the stack lock: no backlog needed.
                TcpSegsIn(tp, skb, payload);
                return TcpV4DoRcv(tp, skb);
        }
    noTcpSocket:
        TcpV4SendReset(null, skb);
        return net.KfreeSkbReason(skb, SkbDropReason.TcpNoSocket);
    }

    /// <summary>
    /// IP_MINTTL (RFC 5082, GTSM): a segment that arrives with a TTL below the socket's minimum is
    /// dropped and counted (TCPMinTTLDrop) before the socket sees it. True when it was.
    /// </summary>
    /// <remarks>Mirrors tcp_v4_rcv(): the ip4_min_ttl check after the TIME_WAIT and NEW_SYN_RECV handling.</remarks>
    private static bool TcpMinTtlDrop(TcpSock sk, SkBuff skb)
    {
        if (sk.MinTtl == 0) return false;
        if (Ipv4Header.Create(skb.Buffer.AsSpan(skb.NetworkHeader)).Ttl >= sk.MinTtl) return false;
        sk.Net.Mib.TcpExt[LinuxMib.TCPMinTTLDrop]++;
        sk.Net.KfreeSkbReason(skb, SkbDropReason.TcpMinttl);
        return true;
    }

    /// <summary>Dispatches to the state machine: ESTABLISHED has its own path, the rest go through tcp_rcv_state_process; a nonzero result is answered with a reset.</summary>
    /// <remarks>Mirrors tcp_v4_do_rcv().</remarks>
    public static int TcpV4DoRcv(TcpSock sk, SkBuff skb)
    {
        // The segment's reference (tcp_v4_rcv()'s refcounted lookup, sock_put() at the end): the
        // segment may end the connection (tcp_done() on an orphan) and the sock must not go back
        // to its cache before its processing is over.
        sk.SockHold();
        // The socket is known from here on: a fault below (its congestion control, its callbacks,
        // a bug) aborts this connection only, as tcp_abort() would (Core/Panic.cs).
        try
        {
            return TcpV4DoRcvLocked(sk, skb);
        }
        catch (Exception e) when (Oops.Contain(sk.Net))
        {
            TcpRcvOops(sk, skb, e);
            return 0;
        }
        finally
        {
            sk.SockPut();
        }
    }

    /// <summary>A fault while <paramref name="sk"/> processed <paramref name="skb"/>: the connection is aborted (ECONNABORTED, RST), the buffer left alone (Core/Panic.cs).</summary>
    internal static void TcpRcvOops(TcpSock sk, SkBuff skb, Exception e)
    {
        Oops.SkbLeft(sk.Net, skb);
        Oops.SockOops(sk, e, "tcp_v4_rcv", $"tcp_congestion_ops {sk.CaOps.Name}");
    }

    private static int TcpV4DoRcvLocked(TcpSock sk, SkBuff skb)
    {
        if (sk.State == TcpState.Established)
        {
            TcpInput.TcpRcvEstablished(sk, skb);
            return 0;
        }
        if (sk.State == TcpState.Listen)
        {
            var nsk = TcpV4CookieCheck(sk, skb);
            if (nsk is null) return 0;
            if (nsk != sk)
            {
                if (TcpMinisocks.TcpChildProcess(sk, nsk, skb) != 0)
                {
                    TcpV4SendReset(nsk, skb);
                    sk.Net.KfreeSkbReason(skb, SkbDropReason.TcpInvalidAck);
                }
                return 0;
            }
        }
        if (TcpInput.TcpRcvStateProcess(sk, skb) != 0)
        {
            TcpV4SendReset(sk, skb);
            sk.Net.KfreeSkbReason(skb, SkbDropReason.TcpInvalidAck);
        }
        return 0;
    }

    /// <summary>An ACK to a listener with no request sock may complete a handshake answered with a SYN cookie.</summary>
    /// <remarks>Mirrors tcp_v4_cookie_check().</remarks>
    private static TcpSock? TcpV4CookieCheck(TcpSock sk, SkBuff skb)
    {
        if (!TcpInput.TcpHdr(skb).Syn) return Syncookies.CookieV4Check(sk, skb);
        return sk;
    }

    // ---- ICMP errors ----

    /// <summary>
    /// An ICMP error about a segment we sent: hard errors (port/protocol unreachable) abort a
    /// connection being set up; others are kept as a soft error (reported if the connection then
    /// times out). Fragmentation needed lowers the MSS.
    /// </summary>
    /// <remarks>Mirrors tcp_v4_err().</remarks>
    public static void TcpV4Err(SkBuff skb, uint info)
    {
        var dev = skb.Dev;
        var net = dev?.Net;
        if (net is null) return;
        var icmp = skb.Buffer.AsSpan(skb.TransportHeader);
        byte type = icmp[0], code = icmp[1];
        var iph = Ipv4Header.Create(skb.DataSpan);
        var quoted = skb.DataSpan[iph.HeaderLength..];
        if (quoted.Length < 8) return;
        ushort sport = (ushort)(quoted[0] << 8 | quoted[1]);
        ushort dport = (ushort)(quoted[2] << 8 | quoted[3]);
        uint seq = (uint)(quoted[4] << 24 | quoted[5] << 16 | quoted[6] << 8 | quoted[7]);
        // The quoted segment went from us (iph.Source) to the peer (iph.Destination).
        var found = InetHashtables.InetLookupEstablished(net, iph.Destination, dport, iph.Source, sport);
        if (found is null)
        {
            net.Mib.Icmp[IcmpMib.InErrors]++;
            return;
        }
        if (found is TcpTimewaitSock) return;
        if (found is TcpRequestSock req)
        {
            // An error for a SYN-ACK we sent: drop the request if the sequence matches.
            if (seq == req.SntIsn && type == IcmpType.DestUnreach && code <= IcmpType.NrUnreach)
                TcpMinisocks.InetCskReqskQueueDrop(req.RskListener, req);
            return;
        }
        var tp = (TcpSock)found;
        if (tp.State == TcpState.Close) return;
        // The quoted sequence must be in flight (or the SYN of a connection being set up).
        if (tp.State != TcpState.Listen && !SeqNumber.Between(seq, tp.SndUna, tp.SndNxt))
            return;
        int err;
        switch (type)
        {
            case IcmpType.SourceQuench:
                return;
            case IcmpType.ParameterProb:
                err = Errno.EPROTO;
                break;
            case IcmpType.DestUnreach:
                if (code > IcmpType.NrUnreach) return;
                if (code == IcmpType.FragNeeded)
                {
                    // Path MTU discovery: the next hop's MTU is in the low 16 bits.
                    int mtu = (int)(info & 0xFFFF);
                    if (mtu >= 68 && mtu < tp.IcskPmtuCookie && tp.State != TcpState.Listen)
                    {
                        // tcp_v4_mtu_reduced(): what is in flight above the new MSS was dropped; resend it now.
                        TcpOutput.TcpSyncMss(tp, mtu);
                        TcpInput.TcpSimpleRetransmit(tp);
                    }
                    return;
                }
                err = IcmpErrConvert[code];
                break;
            case IcmpType.TimeExceeded:
                err = Errno.EHOSTUNREACH;
                break;
            default:
                return;
        }
        switch (tp.State)
        {
            case TcpState.SynSent:
            case TcpState.SynRecv:
                // Linux aborts a connection attempt on any ICMP error it converts (net or host
                // unreachable, time exceeded... not only RFC 1122's hard errors): connect() fails at
                // once instead of retrying SYNs for two minutes. The socket is never "owned by the
                // user" here (one stack lock), so the deferred sk_err_soft branch does not apply.
                // The error is queued whether or not IP_RECVERR is on, as tcp_v4_err() does.
                IpSockglue.IpIcmpError(tp, skb, err, dport, info, skb.Data + iph.HeaderLength);
                tp.Err = err;
                tp.ErrorReport();
                Tcp.TcpDone(tp);
                return;
        }
        // For established connections only IP_RECVERR reports at once; otherwise a soft error.
        if (tp.RecvErr)
        {
            tp.Err = err;
            tp.ErrorReport();
        }
        else
        {
            tp.ErrSoft = err;
        }
    }

    /// <summary>icmp_err_convert[].errno: the errno of each destination-unreachable code (TCP does not use the "fatal" flag).</summary>
    private static readonly int[] IcmpErrConvert =
    {
        Errno.ENETUNREACH, Errno.EHOSTUNREACH, Errno.ENOPROTOOPT, Errno.ECONNREFUSED, Errno.EMSGSIZE,
        Errno.EOPNOTSUPP, Errno.ENETUNREACH, Errno.EHOSTDOWN, Errno.ENONET, Errno.ENETUNREACH,
        Errno.EHOSTUNREACH, Errno.ENETUNREACH, Errno.EHOSTUNREACH, Errno.EHOSTUNREACH, Errno.EHOSTUNREACH,
        Errno.EHOSTUNREACH,
    };

    /// <summary>Counts a received segment in tcpi_segs_in / tcpi_data_segs_in: a GSO super-frame counts as its gso_segs.</summary>
    /// <remarks>Mirrors tcp_segs_in().</remarks>
    internal static void TcpSegsIn(TcpSock tp, SkBuff skb, int payload)
    {
        uint segsIn = Math.Max(1u, skb.GsoSegs);
        tp.SegsIn += segsIn;
        if (payload > 0) tp.DataSegsIn += segsIn;
    }
}
