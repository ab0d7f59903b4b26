using NetStack.Core;
using NetStack.Wire;

namespace NetStack.Ipv4;

/// <summary>
/// What is left of a connection in TIME_WAIT (or an orphaned FIN_WAIT_2): enough to answer
/// late segments correctly, hold the 4-tuple and the port, and expire. Much smaller than a
/// socket, as in Linux.
/// <remarks>Mirrors include/net/inet_timewait_sock.h: struct inet_timewait_sock and
/// include/linux/tcp.h: struct tcp_timewait_sock.</remarks>
/// </summary>
internal sealed class TcpTimewaitSock : SockCommon
{
    // ---- inet_timewait_sock: the 4-tuple, reuse and bound device are sock_common's (tw_daddr is __tw_common.skc_daddr...) ----
    public ref uint TwDaddr => ref SkcDaddr;
    public ref uint TwRcvSaddr => ref SkcRcvSaddr;
    public ref ushort TwDport => ref SkcDport;
    public ref ushort TwNum => ref SkcNum;
    /// <summary>tw_substate: TCP_TIME_WAIT, or TCP_FIN_WAIT2 for an orphan waiting for the peer's FIN.</summary>
    public TcpState TwSubstate;
    /// <summary>tw_reuse: the socket had SO_REUSEADDR.</summary>
    public ref byte TwReuse => ref Reuse;
    public ref int TwBoundDevIf => ref BoundDevIf;
    public byte TwRcvWscale;
    /// <summary>tw_tb: the bind bucket the TIME_WAIT sock keeps its port in.</summary>
    internal InetBindBucket? TwTb;
    internal readonly TimerList TwTimer;
    /// <summary>tw_kill: the sock was killed early (RST, reuse) rather than timing out.</summary>
    internal bool TwKill;
    // ---- tcp_timewait_sock ----
    public uint TwRcvNxt, TwSndNxt, TwRcvWnd;
    public uint TwTsOffset, TwTsRecent;
    public long TwTsRecentStamp;
    public long TwLastOowAckTime;

    public TcpTimewaitSock(NetNamespace net)
    {
        Net = net;
        Family = SocketConstants.AF_INET;
        State = TcpState.TimeWait;
        TwTimer = new TimerList(static t => TcpMinisocks.TwTimerHandler((TcpTimewaitSock)t.Owner!), this);
    }

    /// <summary>Every field as the constructor leaves it (its timer object, stopped, stays), for the cache.</summary>
    internal void Clear()
    {
        SkcReset(TcpState.TimeWait);
        TwSubstate = default;
        TwRcvWscale = 0;
        TwTb = null;
        TwKill = false;
        TwRcvNxt = TwSndNxt = TwRcvWnd = 0;
        TwTsOffset = TwTsRecent = 0;
        TwTsRecentStamp = 0;
        TwLastOowAckTime = 0;
    }

    public InetEhashKey Key => InetHashtables.IsNativeV6(this)
        ? new(SkcV6RcvSaddr, TwNum, SkcV6Daddr, TwDport)
        : new(TwRcvSaddr, TwNum, TwDaddr, TwDport);

    public override string ToString() =>
        $"timewait({TwSubstate}) {Ipv4Address.Format(TwRcvSaddr)}:{TwNum} -> {Ipv4Address.Format(TwDaddr)}:{TwDport}";
}

/// <summary>What the TIME_WAIT processing asks the caller to do (enum tcp_tw_status).</summary>
internal enum TcpTwStatus { Success, Rst, Ack, Syn }

/// <summary>
/// Request socks (SYN_RECV) and TIME_WAIT socks: the minimal sockets of TCP.
/// <remarks>Mirrors net/ipv4/tcp_minisocks.c, with the request-queue parts of net/ipv4/inet_connection_sock.c
/// and net/ipv4/inet_timewait_sock.c.</remarks>
/// </summary>
internal static class TcpMinisocks
{
    // ---- request socks ----

    /// <summary>Allocates a request for a SYN on <paramref name="listener"/>.</summary>
    /// <remarks>Mirrors inet_reqsk_alloc().</remarks>
    internal static TcpRequestSock InetReqskAlloc(TcpSock listener)
    {
        // reqsk_alloc() -> kmem_cache_alloc(ops->slab): a cached request was cleared when freed.
        var req = listener.Net.Ipv4.TcpRequestSockCache.Alloc() ?? new TcpRequestSock();
        req.RskListener = listener;
        listener.SockHold(); // rsk_listener holds its listener until reqsk_free()
        req.Net = listener.Net;
        req.Family = listener.Family;
        return req;
    }

    /// <summary>
    /// Gives a finished request back to its cache. Only where nothing can reach it any more: out of
    /// the established hash and the accept queue, its timer stopped, no child's fastopen_rsk
    /// pointing to it, and not the namespace's shared cookie request. Anything else is left to the
    /// collector, which is always safe.
    /// </summary>
    /// <remarks>Mirrors reqsk_free() (reached through reqsk_put() when rsk_refcnt drops to zero) -> kmem_cache_free(req->rsk_ops->slab, req).</remarks>
    internal static void ReqskFree(TcpRequestSock req)
    {
        var net = req.Net;
        if (req.Hashed || req.RskTimer.Pending || req.DlNext is not null || req.Sk is not null
            || ReferenceEquals(req, net.Ipv4.TcpCookieReq))
            return;
        // reqsk_free(): sock_put(req->rsk_listener).
        var listener = req.RskListener;
        req.RskListener = null!;
        listener?.SockPut();
        req.Clear();
        net.Ipv4.TcpRequestSockCache.Free(req);
    }

    /// <summary>Enters a request in the established hash, counts it in the SYN queue and starts the SYN-ACK timer.</summary>
    /// <remarks>Mirrors inet_csk_reqsk_queue_hash_add() -> reqsk_queue_hash_req() + inet_csk_reqsk_queue_added().</remarks>
    internal static bool InetCskReqskQueueHashAdd(TcpSock sk, TcpRequestSock req, long timeout)
    {
        var key = InetHashtables.ReqKey(req);
        if (!InetHashtables.InetEhashInsert(sk.Net, key, req)) return false;
        req.Hashed = true;
        sk.Net.Timers.ModTimer(req.RskTimer, sk.Net.NowNs + timeout);
        sk.AcceptQueue.Qlen++;
        sk.AcceptQueue.Young++;
        return true;
    }

    /// <summary>Removes a request from the hash and the SYN queue and stops its timer. True if it was still there.</summary>
    /// <remarks>Mirrors inet_csk_reqsk_queue_drop().</remarks>
    internal static bool InetCskReqskQueueDrop(TcpSock sk, TcpRequestSock req)
    {
        sk.Net.Timers.DelTimer(req.RskTimer);
        if (!req.Hashed) return false;
        var key = InetHashtables.ReqKey(req);
        InetHashtables.InetEhashRemove(sk.Net, key, req);
        req.Hashed = false;
        var q = req.RskListener.AcceptQueue;
        q.Qlen--;
        if (req.NumTimeout == 0) q.Young--;
        return true;
    }

    /// <summary>reqsk_timeout(): the request's current SYN-ACK timeout with backoff.</summary>
    internal static long ReqskTimeout(TcpRequestSock req, long maxTimeout)
    {
        long t = TcpTimer.TcpTimeoutInit(req.Net) << Math.Min(req.NumTimeout, 30);
        return Math.Min(t, maxTimeout);
    }

    /// <summary>
    /// The SYN-ACK timer: resend with exponential backoff until tcp_synack_retries, then give up
    /// on the request. Requests of a listener that closed are dropped. When the queue is more than
    /// half full of old requests, they get fewer retries (to leave room for young ones).
    /// </summary>
    /// <remarks>Mirrors reqsk_timer_handler() with syn_ack_recalc() and tcp_syn_ack_timeout().</remarks>
    internal static void ReqskTimerHandler(TcpRequestSock req)
    {
        var skListener = req.RskListener;
        var net = skListener.Net;
        if (skListener.State != TcpState.Listen)
        {
            InetCskReqskQueueDrop(skListener, req);
            return;
        }
        int maxSynAckRetries = skListener.IcskSynRetries != 0 ? skListener.IcskSynRetries : net.Ipv4.Sysctl.TcpSynackRetries;
        var queue = skListener.AcceptQueue;
        int qlen = queue.Qlen;
        if ((qlen << 1) > Math.Max(8, skListener.MaxAckBacklog))
        {
            int young = queue.Young << 1;
            while (maxSynAckRetries > 2)
            {
                if (qlen < young) break;
                maxSynAckRetries--;
                young <<= 1;
            }
        }
        bool expire = req.NumTimeout >= maxSynAckRetries;
        net.Mib.TcpExt[LinuxMib.TCPTimeouts]++;
        if (!expire && (InetRtxSynAck(skListener, req) == 0 || req.Acked))
        {
            if (req.NumTimeout++ == 0) queue.Young--;
            net.Timers.ModTimer(req.RskTimer, net.NowNs + ReqskTimeout(req, TcpTimer.TcpRtoMax(net)));
            return;
        }
        InetCskReqskQueueDrop(skListener, req);
    }

    /// <summary>Retransmits a SYN-ACK.</summary>
    /// <remarks>Mirrors inet_rtx_syn_ack() -> tcp_rtx_synack().</remarks>
    internal static int InetRtxSynAck(TcpSock listener, TcpRequestSock req)
    {
        int res = req.RskOps.SendSynack(listener, req);
        if (res == 0)
        {
            var mib = listener.Net.Mib;
            mib.Tcp[TcpMib.RetransSegs]++;
            mib.TcpExt[LinuxMib.TCPSynRetrans]++;
            req.NumRetrans++;
        }
        return res;
    }

    /// <remarks>Mirrors tcp_in_window().</remarks>
    internal static bool TcpInWindow(uint seq, uint endSeq, uint sWin, uint eWin)
    {
        if (seq == sWin) return true;
        if (SeqNumber.After(endSeq, sWin) && SeqNumber.Before(seq, eWin)) return true;
        return seq == eWin && seq == endSeq;
    }

    /// <summary>
    /// A segment for a pending request: a retransmitted SYN gets the SYN-ACK again; a bad ACK
    /// number hands the segment back to the listener (which resets); out-of-window segments get an
    /// ACK; RST or SYN kill the request; a good ACK creates the child socket and queues it for
    /// accept(). Returns the child, the listener (for a reset), or null (consumed).
    /// </summary>
    /// <remarks>Mirrors tcp_check_req().</remarks>
    internal static TcpSock? TcpCheckReq(TcpSock sk, SkBuff skb, TcpRequestSock req, ref SkbDropReason dropReason)
    {
        var th = TcpInput.TcpHdr(skb);
        byte flg = (byte)(th.Flags & (TcpFlags.RST | TcpFlags.SYN | TcpFlags.ACK));
        var net = sk.Net;
        var tmpOpt = new TcpOptionsReceived();
        bool pawsReject = false;
        if (th.DataOffset > 5)
        {
            TcpInput.TcpParseOptions(net, th, ref tmpOpt, false, out _);
            if (tmpOpt.SawTstamp)
            {
                if (tmpOpt.RcvTsecr != 0) tmpOpt.RcvTsecr -= req.TsOff;
                tmpOpt.TsRecent = req.TsRecent;
                // The true stamp is not kept; it is estimated from the request's age.
                tmpOpt.TsRecentStamp = net.NowNs - ReqskTimeout(req, TcpTimer.TcpRtoMax(net));
                pawsReject = TcpInput.TcpPawsReject(net, in tmpOpt, th.Rst);
            }
        }
        // A pure retransmitted SYN: send the SYN-ACK again (and restart its timer).
        if (skb.Cb.Seq == req.RcvIsn && flg == TcpFlags.SYN && !pawsReject)
        {
            if (InetRtxSynAck(sk, req) == 0 && req.RskTimer.Pending)
                net.Timers.ModTimer(req.RskTimer, net.NowNs + ReqskTimeout(req, TcpTimer.TcpRtoMax(net)));
            dropReason = SkbDropReason.NotSpecified;
            return null;
        }
        // An unacceptable ACK: the listener answers with a reset (RFC 9293 3.10.7.3).
        if ((flg & TcpFlags.ACK) != 0 && skb.Cb.AckSeq != req.SntIsn + 1) return sk;

        if (pawsReject || !TcpInWindow(skb.Cb.Seq, skb.Cb.EndSeq, req.RcvNxt, req.RcvNxt + Math.Min(req.RskRcvWnd, 65535u)))
        {
            if ((flg & TcpFlags.RST) == 0) req.RskOps.SendAck(sk, skb, req);
            dropReason = pawsReject ? SkbDropReason.TcpInvalidSequence : SkbDropReason.TcpOverWindow;
            return null;
        }
        if (tmpOpt.SawTstamp && !SeqNumber.After(skb.Cb.Seq, req.RcvNxt)) req.TsRecent = tmpOpt.RcvTsval;
        // A SYN at the initial sequence is out of window from rcv_isn + 1: ignore its SYN bit.
        if (skb.Cb.Seq == req.RcvIsn) flg &= unchecked((byte)~TcpFlags.SYN);
        if ((flg & (TcpFlags.RST | TcpFlags.SYN)) != 0)
        {
            net.Mib.Tcp[TcpMib.AttemptFails]++;
            goto embryonicReset;
        }
        if ((flg & TcpFlags.ACK) == 0)
        {
            dropReason = SkbDropReason.TcpFlags;
            return null;
        }
        var child = sk.IcskAfOps.SynRecvSock(sk, skb, req);
        if (child is null) goto listenOverflow;
        return InetCskCompleteHashdance(sk, child, req);

    listenOverflow:
        dropReason = SkbDropReason.TcpListenOverflow;
        if (!net.Ipv4.Sysctl.TcpAbortOnOverflow)
        {
            // Keep the request: the SYN-ACK timer resends and the peer's next ACK may fit.
            req.Acked = true;
            return null;
        }
    embryonicReset:
        if ((flg & TcpFlags.RST) == 0) req.RskOps.SendReset(null, skb);
        if (InetCskReqskQueueDrop(sk, req)) net.Mib.TcpExt[LinuxMib.EmbryonicRsts]++;
        dropReason = SkbDropReason.TcpResetAck;
        return null;
    }

    /// <summary>
    /// Hands the segment that completed the handshake to the new child (in SYN_RECV); wakes the
    /// listener's accept() once the child leaves SYN_RECV. Nonzero: the caller resets.
    /// </summary>
    /// <remarks>Mirrors tcp_child_process().</remarks>
    internal static int TcpChildProcess(TcpSock parent, TcpSock child, SkBuff skb)
    {
        var state = child.State;
        child.SegsIn++;
        int ret;
        try
        {
            ret = TcpInput.TcpRcvStateProcess(child, skb);
        }
        catch (Exception e) when (Oops.Contain(child.Net))
        {
            TcpIpv4.TcpRcvOops(child, skb, e); // the child is aborted, not its listener
            ret = 0;
        }
        if (state == TcpState.SynRecv && child.State != state) parent.DataReady();
        return ret;
    }

    /// <summary>The child replaced the request in the established hash: drop the request from the SYN queue and queue the child for accept().</summary>
    /// <remarks>Mirrors inet_csk_complete_hashdance().</remarks>
    private static TcpSock? InetCskCompleteHashdance(TcpSock sk, TcpSock child, TcpRequestSock req)
    {
        sk.Net.Timers.DelTimer(req.RskTimer);
        if (req.Hashed)
        {
            // inet_ehash_nolisten() already put the child where the request was.
            req.Hashed = false;
            sk.AcceptQueue.Qlen--;
            if (req.NumTimeout == 0) sk.AcceptQueue.Young--;
        }
        return InetConnectionSock.InetCskReqskQueueAdd(sk, req, child);
    }

    /// <summary>
    /// Creates the child socket of a completed handshake with the state the request negotiated.
    /// </summary>
    /// <remarks>Mirrors tcp_create_openreq_child().</remarks>
    internal static TcpSock? TcpCreateOpenreqChild(TcpSock sk, TcpRequestSock req, SkBuff skb)
    {
        var newtp = InetConnectionSock.InetCskCloneLock(sk, req);
        if (newtp is null) return null;
        var net = sk.Net;
        Tcp.TcpInitSockState(newtp);
        uint seq = req.RcvIsn + 1;
        newtp.RcvWup = seq;
        newtp.CopiedSeq = seq;
        newtp.RcvNxt = seq;
        newtp.SegsIn = 1;
        seq = req.SntIsn + 1;
        newtp.SndSml = newtp.SndUna = seq;
        newtp.SndNxt = seq;
        newtp.SndUp = seq;
        TcpInput.TcpInitWl(newtp, req.RcvIsn);
        newtp.IcskAck.Lrcvtime = net.NowNs;
        newtp.LsndTimeMs = (uint)(net.NowNs / Time.NsPerMs);
        newtp.TotalRetrans = (uint)req.NumRetrans;
        TcpTimer.TcpInitXmitTimers(newtp);
        newtp.WriteSeq = newtp.PushedSeq = req.SntIsn + 1;
        if (newtp.HasFlag(SockFlag.KeepOpen)) newtp.InetCskResetKeepaliveTimer(TcpTimer.KeepaliveTimeWhen(newtp));
        newtp.RxOpt.TstampOk = req.TstampOk;
        newtp.RxOpt.SackOk = req.SackOk;
        newtp.WindowClamp = req.RskWindowClamp;
        newtp.RcvSsthresh = req.RskRcvWnd;
        newtp.RcvWnd = req.RskRcvWnd;
        newtp.RxOpt.WscaleOk = req.WscaleOk;
        if (newtp.RxOpt.WscaleOk)
        {
            newtp.RxOpt.SndWscale = req.SndWscale;
            newtp.RxOpt.RcvWscale = req.RcvWscale;
        }
        else
        {
            newtp.RxOpt.SndWscale = newtp.RxOpt.RcvWscale = 0;
            newtp.WindowClamp = Math.Min(newtp.WindowClamp, 65535u);
        }
        newtp.SndWnd = (uint)TcpInput.TcpHdr(skb).Window << newtp.RxOpt.SndWscale;
        newtp.MaxWindow = newtp.SndWnd;
        if (newtp.RxOpt.TstampOk)
        {
            newtp.RxOpt.TsRecent = req.TsRecent;
            newtp.RxOpt.TsRecentStamp = net.NowNs;
            newtp.TcpHeaderLen = TcpHeader.MinLength + TcpOpt.LenTstampAligned;
        }
        else
        {
            newtp.RxOpt.TsRecentStamp = 0;
            newtp.TcpHeaderLen = TcpHeader.MinLength;
        }
        if (req.NumTimeout != 0)
        {
            newtp.UndoMarker = req.SntIsn;
            newtp.RetransStamp = req.SntSynack;
        }
        newtp.TsOffset = req.TsOff;
        int payload = skb.Len - TcpInput.TcpHdr(skb).HeaderLength;
        if (payload >= TcpSock.TcpMssDefault) newtp.IcskAck.LastSegSize = payload;
        newtp.RxOpt.MssClamp = req.Mss;
        newtp.EcnFlags = req.EcnOk ? TcpSock.TcpEcnOk : (byte)0; // tcp_ecn_openreq_child()
        net.Mib.Tcp[TcpMib.PassiveOpens]++;
        return newtp;
    }

    // ---- TIME_WAIT ----

    /// <summary>tcp_tw_reuse = 2: a connect() may take over a TIME_WAIT 4-tuple on loopback only, with timestamps at least 1 s old.</summary>
    /// <remarks>Mirrors tcp_twsk_unique().</remarks>
    internal static bool TcpTwskUnique(TcpSock sk, TcpTimewaitSock tw)
    {
        bool loopback = InetHashtables.IsNativeV6(tw)
            ? tw.SkcV6Daddr == Ipv6Address.Loopback || tw.SkcV6RcvSaddr == Ipv6Address.Loopback
            : Ipv4Address.IsLoopback(tw.TwDaddr) || Ipv4Address.IsLoopback(tw.TwRcvSaddr);
        if (!loopback) return false;
        if (tw.TwTsRecentStamp == 0 || sk.Net.NowNs - tw.TwTsRecentStamp > Time.Sec(1))
        {
            // Start the new connection's sequence space above the old one.
            uint seq = tw.TwSndNxt + 65535 + 2;
            if (seq == 0) seq = 1;
            sk.WriteSeq = seq;
            sk.RxOpt.TsRecent = tw.TwTsRecent;
            sk.RxOpt.TsRecentStamp = tw.TwTsRecentStamp;
            return true;
        }
        return false;
    }

    /// <summary>
    /// Replaces a closing socket by a TIME_WAIT sock (state TIME_WAIT, or FIN_WAIT_2 for an orphan
    /// still waiting for the peer's FIN) that keeps the 4-tuple and port for <paramref name="timeo"/>
    /// (TIME_WAIT always lasts TCP_TIMEWAIT_LEN), then finishes the socket.
    /// </summary>
    /// <remarks>Mirrors tcp_time_wait() -> inet_twsk_alloc() + inet_twsk_hashdance_schedule().</remarks>
    public static void TcpTimeWait(TcpSock tp, TcpState state, long timeo)
    {
        var net = tp.Net;
        // inet_twsk_alloc(): no bucket beyond tcp_max_tw_buckets. The socket then closes at once,
        // without TIME_WAIT ("We've got bigger problems than non-graceful socket closings").
        if (net.Ipv4.TcpTwCount >= net.Ipv4.Sysctl.TcpMaxTwBuckets)
        {
            net.Mib.TcpExt[LinuxMib.TCPTimeWaitOverflow]++;
            // Linux printed this (net_info_ratelimited) until 4.x; kept for the log reader.
            if (net.Log.NetRatelimit()) net.Log.Printk("TCP: time wait bucket table overflow");
            Tcp.TcpDone(tp);
            return;
        }
        net.Ipv4.TcpTwCount++;
        // kmem_cache_alloc(twsk_prot->twsk_slab): a cached sock was cleared when freed.
        var tw = net.Ipv4.TcpTwCache.Alloc() ?? new TcpTimewaitSock(net);
        tw.Net = net;
        tw.State = TcpState.TimeWait;
        InetTwskInit(tw, tp, state);
        long rto = (tp.IcskRto << 2) - (tp.IcskRto >> 1);
        if (timeo < rto) timeo = rto;
        if (state == TcpState.TimeWait) timeo = Time.Ms(net.Ipv4.Sysctl.TcpTimewaitLenMs);

        // inet_twsk_hashdance_schedule(): the TIME_WAIT sock joins the port's owners and takes the
        // socket's place in the established hash.
        if (tp.BindHash is { } tb)
        {
            tw.TwTb = tb;
            tb.Owners.Add(tw);
        }
        var key = tw.Key;
        if (tp.Hashed) InetHashtables.InetEhashRemove(net, key, tp);
        tp.Hashed = false;
        net.Ipv4.TcpHashinfo.Ehash[key] = tw;
        tw.Hashed = true;
        net.Timers.ModTimer(tw.TwTimer, net.NowNs + timeo);
        Tcp.TcpDone(tp);
    }

    /// <summary>What the TIME_WAIT sock keeps of the socket it replaces.</summary>
    /// <remarks>Mirrors inet_twsk_alloc() and tcp_time_wait()'s copy into tcp_timewait_sock.</remarks>
    private static void InetTwskInit(TcpTimewaitSock tw, TcpSock tp, TcpState state)
    {
        tw.TwDaddr = tp.InetDaddr;
        tw.TwRcvSaddr = tp.InetRcvSaddr;
        // inet_twsk_alloc(): tw_family, and an AF_INET6 sock's v6 addresses and ipv6only, so that
        // bind's conflict check (inet_rcv_saddr_equal) sees the TIME_WAIT port as its owner would.
        tw.Family = tp.Family;
        tw.SkcV6Daddr = tp.SkcV6Daddr;
        tw.SkcV6RcvSaddr = tp.SkcV6RcvSaddr;
        tw.Ipv6only = tp.Ipv6only;
        tw.TwDport = tp.InetDport;
        tw.TwNum = tp.InetNum;
        tw.TwSubstate = state;
        tw.TwReuse = tp.Reuse;
        tw.ReusePort = tp.ReusePort; // tw_reuseport
        tw.TwBoundDevIf = tp.BoundDevIf;
        tw.TwRcvWscale = tp.RxOpt.RcvWscale;
        tw.TwRcvNxt = tp.RcvNxt;
        tw.TwSndNxt = tp.SndNxt;
        tw.TwRcvWnd = tp.TcpReceiveWindow;
        tw.TwTsRecent = tp.RxOpt.TsRecent;
        tw.TwTsRecentStamp = tp.RxOpt.TsRecentStamp;
        tw.TwTsOffset = tp.TsOffset;
        tw.Cookie = tp.Cookie; // inet_twsk_alloc(): the time-wait sock keeps the socket's cookie
    }

    /// <summary>Moves the TIME_WAIT sock's expiry to <paramref name="timeo"/> from now.</summary>
    /// <remarks>Mirrors inet_twsk_reschedule().</remarks>
    internal static void InetTwskReschedule(TcpTimewaitSock tw, long timeo) =>
        tw.Net.Timers.ModTimer(tw.TwTimer, tw.Net.NowNs + timeo);

    /// <summary>Kills a TIME_WAIT sock now (RST, reuse by a new connection).</summary>
    /// <remarks>Mirrors inet_twsk_deschedule_put().</remarks>
    internal static void InetTwskDeschedulePut(NetNamespace net, TcpTimewaitSock tw)
    {
        if (net.Timers.DelTimer(tw.TwTimer)) tw.TwKill = true;
        InetTwskKill(net, tw);
    }

    /// <remarks>Mirrors tw_timer_handler() -> inet_twsk_kill().</remarks>
    internal static void TwTimerHandler(TcpTimewaitSock tw)
    {
        tw.Net.Mib.TcpExt[LinuxMib.TW]++;
        InetTwskKill(tw.Net, tw);
    }

    private static void InetTwskKill(NetNamespace net, TcpTimewaitSock tw)
    {
        if (tw.Hashed)
        {
            InetHashtables.InetEhashRemove(net, tw.Key, tw);
            tw.Hashed = false;
            net.Ipv4.TcpTwCount--;
            InetHashtables.TwPutPort(net, tw);
            InetTwskFree(net, tw);
            return;
        }
        InetHashtables.TwPutPort(net, tw);
    }

    /// <summary>
    /// Gives a killed TIME_WAIT sock back to its cache: out of the established hash and the bind
    /// bucket, its timer stopped or the one now running. Every caller of inet_twsk_deschedule_put()
    /// is done with the sock when it returns (the SYN that reopens the 4-tuple kept its ISN in
    /// tcp_tw_isn first); diagnostics copy what they show while under the lock.
    /// </summary>
    /// <remarks>Mirrors inet_twsk_put() -> inet_twsk_free() -> kmem_cache_free(tw->tw_prot->twsk_prot->twsk_slab, tw).</remarks>
    private static void InetTwskFree(NetNamespace net, TcpTimewaitSock tw)
    {
        if (tw.TwTimer.Pending || tw.TwTb is not null) return;
        tw.Clear();
        net.Ipv4.TcpTwCache.Free(tw);
    }

    /// <summary>
    /// A segment for a TIME_WAIT (or FIN_WAIT_2) sock. In FIN_WAIT_2 the peer's FIN moves it to
    /// TIME_WAIT; in TIME_WAIT a retransmitted FIN is acknowledged again and restarts the timer,
    /// an RST kills the sock (RFC 1337 off, as Linux), and a new SYN with a higher sequence number
    /// (or newer timestamp) may open a new connection (RFC 1122 4.2.2.13). Out-of-window segments
    /// get an ACK.
    /// </summary>
    /// <remarks>Mirrors tcp_timewait_state_process().</remarks>
    internal static TcpTwStatus TcpTimewaitStateProcess(TcpTimewaitSock tw, SkBuff skb, out uint twIsn)
    {
        twIsn = 0;
        var net = tw.Net;
        var th = TcpInput.TcpHdr(skb);
        var tmpOpt = new TcpOptionsReceived();
        bool pawsReject = false;
        if (th.DataOffset > 5 && tw.TwTsRecentStamp != 0)
        {
            TcpInput.TcpParseOptions(net, th, ref tmpOpt, false, out _);
            if (tmpOpt.SawTstamp)
            {
                if (tmpOpt.RcvTsecr != 0) tmpOpt.RcvTsecr -= tw.TwTsOffset;
                tmpOpt.TsRecent = tw.TwTsRecent;
                tmpOpt.TsRecentStamp = tw.TwTsRecentStamp;
                pawsReject = TcpInput.TcpPawsReject(net, in tmpOpt, th.Rst);
            }
        }
        uint rcvNxt = tw.TwRcvNxt;
        uint seq = skb.Cb.Seq, endSeq = skb.Cb.EndSeq;
        if (tw.TwSubstate == TcpState.FinWait2)
        {
            if (pawsReject || !TcpInWindow(seq, endSeq, rcvNxt, rcvNxt + tw.TwRcvWnd))
                return TcpTimewaitCheckOowRateLimit(tw, skb);
            if (th.Rst)
            {
                InetTwskDeschedulePut(net, tw);
                return TcpTwStatus.Success;
            }
            if (th.Syn && !SeqNumber.Before(seq, rcvNxt)) return TcpTwStatus.Rst;
            // A duplicate ACK?
            if (!th.Ack || !SeqNumber.After(endSeq, rcvNxt) || endSeq == seq) return TcpTwStatus.Success;
            // New data after a half-duplex close: reset. Only the FIN is acceptable.
            if (!th.Fin || endSeq != rcvNxt + 1) return TcpTwStatus.Rst;
            tw.TwSubstate = TcpState.TimeWait;
            tw.TwRcvNxt = endSeq;
            if (tmpOpt.SawTstamp)
            {
                tw.TwTsRecentStamp = net.NowNs;
                tw.TwTsRecent = tmpOpt.RcvTsval;
            }
            InetTwskReschedule(tw, Time.Ms(net.Ipv4.Sysctl.TcpTimewaitLenMs));
            return TcpTwStatus.Ack;
        }

        // The real TIME_WAIT state.
        if (!pawsReject && seq == rcvNxt && (seq == endSeq || th.Rst))
        {
            // In window: only a reset or a bare ACK.
            if (th.Rst)
            {
                if (!net.Ipv4.Sysctl.TcpRfc1337)
                {
                    InetTwskDeschedulePut(net, tw);
                    return TcpTwStatus.Success;
                }
            }
            else
            {
                InetTwskReschedule(tw, Time.Ms(net.Ipv4.Sysctl.TcpTimewaitLenMs));
            }
            if (tmpOpt.SawTstamp)
            {
                tw.TwTsRecent = tmpOpt.RcvTsval;
                tw.TwTsRecentStamp = net.NowNs;
            }
            return TcpTwStatus.Success;
        }
        // A new SYN that is not an old duplicate: allowed to reopen (RFC 1122 4.2.2.13, RFC 6191).
        if (th.Syn && !th.Rst && !th.Ack && !pawsReject &&
            (SeqNumber.After(seq, rcvNxt) || (tmpOpt.SawTstamp && unchecked((int)(tw.TwTsRecent - tmpOpt.RcvTsval)) < 0)))
        {
            uint isn = tw.TwSndNxt + 65535 + 2;
            if (isn == 0) isn++;
            twIsn = isn;
            return TcpTwStatus.Syn;
        }
        if (!th.Rst)
        {
            // Restart the timer unless this may be an old duplicate SYN.
            if (pawsReject || th.Ack) InetTwskReschedule(tw, Time.Ms(net.Ipv4.Sysctl.TcpTimewaitLenMs));
            return TcpTimewaitCheckOowRateLimit(tw, skb);
        }
        return TcpTwStatus.Success;
    }

    /// <remarks>Mirrors tcp_timewait_check_oow_rate_limit().</remarks>
    private static TcpTwStatus TcpTimewaitCheckOowRateLimit(TcpTimewaitSock tw, SkBuff skb)
    {
        if (!TcpInput.TcpOowRateLimited(tw.Net, skb, ref tw.TwLastOowAckTime)) return TcpTwStatus.Ack;
        return TcpTwStatus.Success;
    }
}
