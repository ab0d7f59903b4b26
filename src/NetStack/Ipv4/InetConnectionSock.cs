using NetStack.Core;
using NetStack.Net;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Ipv4;

/// <summary>The delayed-ACK state of a connection (icsk->icsk_ack).</summary>
internal struct IcskAck
{
    // pending bits (enum inet_csk_ack_state_t)
    public const byte Sched = 1, Timer = 2, Pushed = 4, Pushed2 = 8, Now = 16, NoMem = 32;

    /// <summary>ACK is pending (ICSK_ACK_*).</summary>
    public byte Pending;
    /// <summary>quick: scheduled number of quick acks.</summary>
    public byte Quick;
    /// <summary>pingpong: the session is interactive (delayed ACKs ride on replies).</summary>
    public byte Pingpong;
    /// <summary>ato: the predicted tick of the soft clock (delayed-ACK timeout, ns).</summary>
    public long Ato;
    /// <summary>timeout: when the delayed ACK is due (ns).</summary>
    public long Timeout;
    /// <summary>lrcvtime: timestamp of the last received data packet (ns).</summary>
    public long Lrcvtime;
    /// <summary>last_seg_size: size of the last incoming segment.</summary>
    public int LastSegSize;
    /// <summary>rcv_mss: the MSS used for delayed-ACK decisions.</summary>
    public int RcvMss;
}

/// <summary>
/// An INET connection-oriented sock (struct inet_connection_sock): the part of TCP that is not
/// TCP-specific - accept queue, bind bucket, retransmit/delayed-ACK/keepalive timers, RTO and
/// backoff, the congestion control attached to the socket.
/// <remarks>Mirrors include/net/inet_connection_sock.h and net/ipv4/inet_connection_sock.c.</remarks>
/// </summary>
public class InetConnectionSock : InetSock
{
    // icsk_pending values (ICSK_TIME_*)
    internal const byte IcskTimeRetrans = 1, IcskTimeDack = 2, IcskTimeProbe0 = 3, IcskTimeLossProbe = 5, IcskTimeReoTimeout = 6;

    /// <summary>icsk_accept_queue.</summary>
    internal readonly RequestSockQueue AcceptQueue = new();
    /// <summary>icsk_bind_hash: the bind bucket holding our port.</summary>
    internal InetBindBucket? BindHash;
    /// <summary>icsk_timeout: when the retransmit/probe timer is due (ns).</summary>
    internal long IcskTimeout;
    /// <summary>icsk_retransmit_timer (also the zero-window probe timer).</summary>
    internal TimerList RetransmitTimer = null!;
    /// <summary>icsk_delack_timer.</summary>
    internal TimerList DelackTimer = null!;
    /// <summary>sk_timer: keepalive, SYN-ACK and FIN_WAIT_2 timeouts.</summary>
    internal TimerList KeepaliveTimer = null!;
    /// <summary>icsk_rto: the retransmission timeout (ns).</summary>
    internal long IcskRto;
    /// <summary>icsk_rto_min (TCP_BPF_RTO_MIN / route metric), ns.</summary>
    internal long IcskRtoMin;
    /// <summary>icsk_pmtu_cookie: the last path MTU seen.</summary>
    internal int IcskPmtuCookie;
    /// <summary>icsk_af_ops: the network layer under the connection (ipv4_specific, ipv6_specific or ipv6_mapped).</summary>
    internal InetConnectionSockAfOps IcskAfOps = TcpIpv4.Ipv4Specific;
    /// <summary>icsk_mtup: the packetization-layer path MTU search (RFC 4821).</summary>
    internal IcskMtup IcskMtup;
    /// <summary>icsk_ca_ops: the congestion control.</summary>
    internal TcpCongestionOps CaOps = TcpReno.Instance;
    /// <summary>icsk_ca_priv: the congestion control's per-socket state.</summary>
    public object? CaPriv;
    /// <summary>
    /// The private state of the last algorithm, kept when it stopped (tcp_cleanup_congestion_control)
    /// and through the slab cache, so that the next one of its kind reuses it zeroed instead of
    /// allocating (icsk_ca_priv is part of the sock in Linux).
    /// </summary>
    internal object? CaPrivArea;
    /// <summary>icsk_ca_initialized.</summary>
    internal bool CaInitialized;
    /// <summary>icsk_ca_setsockopt: the application chose the algorithm (TCP_CONGESTION); a listener's children then keep it instead of the namespace default.</summary>
    internal bool CaSetsockopt;
    /// <summary>icsk_ca_state.</summary>
    public TcpCaState CaState;
    /// <summary>icsk_retransmits: retransmissions of the head since the last ACK that moved snd_una.</summary>
    internal int IcskRetransmits;
    /// <summary>icsk_pending: which of the retransmit timer's jobs is scheduled (ICSK_TIME_*).</summary>
    internal byte IcskPending;
    /// <summary>icsk_backoff: exponent of the zero-window probe backoff.</summary>
    internal int IcskBackoff;
    /// <summary>icsk_syn_retries: TCP_SYNCNT (0 = sysctl).</summary>
    internal int IcskSynRetries;
    /// <summary>icsk_probes_out: unanswered zero-window or keepalive probes.</summary>
    internal int IcskProbesOut;
    /// <summary>icsk_probes_tstamp: when the first unanswered probe was sent.</summary>
    internal long IcskProbesTstamp;
    /// <summary>icsk_ext_hdr_len: IP options length.</summary>
    internal int IcskExtHdrLen;
    /// <summary>icsk_ack: delayed-ACK control.</summary>
    internal IcskAck IcskAck;
    /// <summary>icsk_user_timeout: TCP_USER_TIMEOUT (ms, 0 = off).</summary>
    internal int IcskUserTimeout;
    /// <summary>rskq_defer_accept: TCP_DEFER_ACCEPT as a number of SYN-ACK retransmissions, as the kernel keeps it (not acted on beyond the option).</summary>
    internal int DeferAccept;

    /// <summary>Creates the three timers with the protocol's handlers.</summary>
    /// <remarks>Mirrors inet_csk_init_xmit_timers().</remarks>
    internal void InetCskInitXmitTimers(Action<TimerList> retransmitHandler, Action<TimerList> delackHandler, Action<TimerList> keepaliveHandler)
    {
        // A sock from the slab cache keeps its timer objects (stopped): same owner, same handlers.
        if (RetransmitTimer?.Function != retransmitHandler) RetransmitTimer = new TimerList(retransmitHandler, this);
        if (DelackTimer?.Function != delackHandler) DelackTimer = new TimerList(delackHandler, this);
        if (KeepaliveTimer?.Function != keepaliveHandler) KeepaliveTimer = new TimerList(keepaliveHandler, this);
        IcskPending = 0;
        IcskAck.Pending = 0;
    }

    /// <summary>Schedules the retransmit, probe or delayed-ACK timer <paramref name="when"/> ns from now (clamped to maxWhen).</summary>
    /// <remarks>Mirrors inet_csk_reset_xmit_timer().</remarks>
    internal void InetCskResetXmitTimer(byte what, long when, long maxWhen)
    {
        if (when > maxWhen) when = maxWhen;
        // jiffies + when in the kernel: no clock read. TCP's cached clock of the segment or
        // transmit round in progress is as fresh (a bulk sender re-arms on every ACK).
        long expires = (this is TcpSock tp ? tp.TcpClockNs : Net.NowNs) + when;
        if (what is IcskTimeRetrans or IcskTimeProbe0 or IcskTimeLossProbe or IcskTimeReoTimeout)
        {
            IcskPending = what;
            IcskTimeout = expires;
            Net.Timers.ModTimer(RetransmitTimer, expires);
        }
        else if (what == IcskTimeDack)
        {
            IcskAck.Pending |= IcskAck.Timer;
            IcskAck.Timeout = expires;
            Net.Timers.ModTimer(DelackTimer, expires);
        }
    }

    /// <summary>
    /// Clears what the retransmit or delayed-ACK timer would do; the timer itself stays armed and,
    /// when it fires, finds nothing pending (<c>tcp_write_timer_handler()</c>,
    /// <c>tcp_delack_timer_handler()</c>) or re-arms for the later timeout. As in the kernel
    /// (<c>INET_CSK_CLEAR_TIMERS</c> is never defined): an echo's ACK rides on its answer and clears
    /// the delayed ACK on every request, and deleting the timer each time, then arming it again
    /// for the next request, made the delayed ACK the earliest timer again and again, each time a
    /// wake-up of the timer thread (a futex per request/response measured with the transmit ring).
    /// <see cref="InetCskClearXmitTimers"/> (the connection ends) does stop them.
    /// </summary>
    /// <remarks>Mirrors inet_csk_clear_xmit_timer().</remarks>
    internal void InetCskClearXmitTimer(byte what)
    {
        if (what is IcskTimeRetrans or IcskTimeProbe0 or IcskTimeLossProbe or IcskTimeReoTimeout)
        {
            IcskPending = 0;
        }
        else if (what == IcskTimeDack)
        {
            IcskAck.Pending = 0;
        }
    }

    /// <remarks>Mirrors inet_csk_clear_xmit_timers().</remarks>
    internal void InetCskClearXmitTimers()
    {
        IcskPending = 0;
        IcskAck.Pending = 0;
        if (RetransmitTimer is null) return;
        Net.Timers.DelTimer(RetransmitTimer);
        Net.Timers.DelTimer(DelackTimer);
        Net.Timers.DelTimer(KeepaliveTimer);
    }

    /// <remarks>Mirrors inet_csk_reset_keepalive_timer().</remarks>
    internal void InetCskResetKeepaliveTimer(long len) => Net.Timers.ModTimer(KeepaliveTimer, Net.NowNs + len);

    /// <remarks>Mirrors inet_csk_delete_keepalive_timer().</remarks>
    internal void InetCskDeleteKeepaliveTimer() => Net.Timers.DelTimer(KeepaliveTimer);

    /// <remarks>Mirrors inet_csk_schedule_ack().</remarks>
    internal void InetCskScheduleAck() => IcskAck.Pending |= IcskAck.Sched;

    /// <remarks>Mirrors inet_csk_ack_scheduled().</remarks>
    internal bool InetCskAckScheduled => (IcskAck.Pending & IcskAck.Sched) != 0;

    /// <remarks>Mirrors inet_csk_delack_init().</remarks>
    internal void InetCskDelackInit() => IcskAck = default;

    /// <remarks>Mirrors inet_csk_in_pingpong_mode(): TCP_PINGPONG_THRESH is 1.</remarks>
    internal bool InetCskInPingpongMode => IcskAck.Pingpong >= 1;

    /// <remarks>Mirrors inet_csk_enter_pingpong_mode().</remarks>
    internal void InetCskEnterPingpongMode() => IcskAck.Pingpong = 1;

    /// <remarks>Mirrors inet_csk_exit_pingpong_mode().</remarks>
    internal void InetCskExitPingpongMode() => IcskAck.Pingpong = 0;

    // ---- listen / accept ----

    /// <summary>Moves a bound socket to LISTEN: validates the port again (now as a listener) and hashes it.</summary>
    /// <remarks>Mirrors inet_csk_listen_start().</remarks>
    internal static int InetCskListenStart(InetConnectionSock sk)
    {
        var q = sk.AcceptQueue;
        q.RskqAcceptHead = q.RskqAcceptTail = null;
        q.Qlen = q.Young = 0;
        sk.AckBacklog = 0;
        sk.InetCskDelackInit();
        // The transition is announced before get_port() validates it; the socket enters the
        // listening hash only after the validation.
        AfInet.InetSkSetState(sk, TcpState.Listen); // inet_sk_state_store()
        int err = -Errno.EADDRINUSE;
        if (sk.Prot.GetPort(sk, sk.InetNum) == 0)
        {
            sk.InetSport = sk.InetNum;
            sk.DstReset();
            err = sk.Prot.Hash(sk);
            if (err == 0) return 0;
        }
        AfInet.InetSkSetState(sk, TcpState.Close);
        return err;
    }

    /// <summary>
    /// Takes the next connection from the accept queue, waiting (SO_RCVTIMEO) unless
    /// O_NONBLOCK: -EINVAL when not listening, -EAGAIN when nothing is there in time, -EINTR.
    /// </summary>
    /// <remarks>Mirrors inet_csk_accept() and inet_csk_wait_for_connect().</remarks>
    internal static Sock? InetCskAccept(Sock sk, ref ProtoAcceptArg arg)
    {
        var icsk = (InetConnectionSock)sk;
        var queue = icsk.AcceptQueue;
        int error = -Errno.EINVAL;
        if (sk.State != TcpState.Listen) goto outErr;
        if (queue.Empty)
        {
            long timeo = sk.SockRcvTimeo((arg.Flags & O_NONBLOCK) != 0);
            error = -Errno.EAGAIN;
            if (timeo == 0) goto outErr;
            // prepare_to_wait_exclusive(): one new connection wakes one acceptor.
            error = SockWait.SkWaitEvent(sk, ref timeo, Sock.PollInKey | Sock.PollEndKey, exclusive: true, static s =>
                !((InetConnectionSock)s).AcceptQueue.Empty || s.State != TcpState.Listen);
            if (error == 0 && queue.Empty) error = -Errno.EINVAL; // woken because it stopped listening
            if (error != 0) goto outErr;
        }
        var req = queue.Remove((TcpSock)sk)!;
        arg.IsEmpty = queue.Empty;
        var newsk = req.Sk!;
        newsk.Parent = null;
        req.Sk = null;
        // reqsk_put(): the accept queue's reference was the last, unless a Fast Open child still
        // holds its request (fastopen_rsk, until the handshake's ACK).
        if (!ReferenceEquals(newsk.FastopenRsk, req)) TcpMinisocks.ReqskFree(req);
        return newsk;
    outErr:
        arg.Err = error;
        return null;
    }

    /// <summary>
    /// Puts a completed child in the accept queue (behind its request) and wakes accept().
    /// </summary>
    /// <remarks>Mirrors inet_csk_reqsk_queue_add().</remarks>
    internal static TcpSock? InetCskReqskQueueAdd(TcpSock sk, TcpRequestSock req, TcpSock child)
    {
        var queue = sk.AcceptQueue;
        if (sk.State != TcpState.Listen)
        {
            // The listener went away while the child was being created.
            InetChildForget(sk, req, child);
            return null;
        }
        req.Sk = child;
        req.DlNext = null;
        child.Parent = sk;
        if (queue.RskqAcceptHead is null) queue.RskqAcceptHead = req;
        else queue.RskqAcceptTail!.DlNext = req;
        queue.RskqAcceptTail = req;
        sk.AckBacklog++;
        return child;
    }

    /// <summary>Drops a child nobody will accept: reset the peer, orphan and destroy it.</summary>
    /// <remarks>Mirrors inet_child_forget().</remarks>
    internal static void InetChildForget(TcpSock sk, TcpRequestSock req, TcpSock child)
    {
        child.Prot.Disconnect(child, O_NONBLOCK);
        child.Orphan();
        child.Net.Ipv4.TcpOrphanCount++;
        child.Parent = null;
        InetCskDestroySock(child);
    }

    /// <summary>
    /// Stops listening: every connection in the accept queue is reset (the peer sees RST) and
    /// destroyed. Requests still in the SYN queue die when their timer or their ACK next finds the
    /// listener closed.
    /// </summary>
    /// <remarks>Mirrors inet_csk_listen_stop().</remarks>
    internal static void InetCskListenStop(TcpSock sk)
    {
        var queue = sk.AcceptQueue;
        while (queue.Remove(sk) is { } req)
        {
            var child = req.Sk!;
            req.Sk = null;
            bool fastopen = ReferenceEquals(child.FastopenRsk, req);
            InetChildForget(sk, req, child);
            if (!fastopen) TcpMinisocks.ReqskFree(req); // reqsk_put()
        }
    }

    /// <summary>Creates the child of a listener for a completed handshake.</summary>
    /// <remarks>Mirrors inet_csk_clone_lock() (with sk_clone_lock()'s copy of the listener's settings).</remarks>
    internal static TcpSock? InetCskCloneLock(TcpSock sk, TcpRequestSock req)
    {
        if (sk.Prot.CreateSock(sk.Net) is not TcpSock newsk) return null;
        newsk.SkRefcnt = 1; // the protocol's reference, as sk_alloc() gives one
        newsk.Net = sk.Net;
        newsk.Prot = sk.Prot;
        newsk.Family = sk.Family;
        newsk.Type = sk.Type;
        newsk.Protocol = sk.Protocol;
        // sk_clone_lock(): the settings a child inherits from its listener.
        newsk.Reuse = sk.Reuse;
        newsk.ReusePort = sk.ReusePort;
        newsk.UserLocks = sk.UserLocks & ~Sock.SockBindportLock;
        newsk.BoundDevIf = sk.BoundDevIf;
        newsk.Priority = sk.Priority;
        newsk.Mark = sk.Mark;
        newsk.Uid = sk.Uid;
        newsk.RcvLowat = sk.RcvLowat;
        newsk.LingerTime = sk.LingerTime;
        newsk.RcvTimeo = sk.RcvTimeo;
        newsk.SndTimeo = sk.SndTimeo;
        newsk.InlineCompletions = sk.InlineCompletions; // not Linux's: NetSocket.InlineCompletions, inherited as the options above
        newsk.Flags = sk.Flags & ~((1UL << (int)SockFlag.Dead) | (1UL << (int)SockFlag.Done));
        newsk.RcvBuf = sk.RcvBuf;
        newsk.SndBuf = sk.SndBuf;
        newsk.UcTtl = sk.UcTtl;
        newsk.Tos = sk.Tos;
        newsk.Pmtudisc = sk.Pmtudisc;
        newsk.PacingRate = sk.PacingRate;
        newsk.MaxPacingRate = sk.MaxPacingRate;
        newsk.PacingStatus = sk.PacingStatus;
        newsk.PacingShift = sk.PacingShift;
        newsk.IsIcsk = true;
        newsk.IcskSynRetries = sk.IcskSynRetries;
        newsk.IcskUserTimeout = sk.IcskUserTimeout;
        newsk.CaOps = sk.CaOps;
        newsk.IcskAfOps = sk.IcskAfOps; // sk_clone_lock() copies icsk_af_ops; syn_recv_sock sets the child's own
        newsk.CaSetsockopt = sk.CaSetsockopt;
        newsk.Nonagle = sk.Nonagle;
        newsk.KeepaliveTimeMs = sk.KeepaliveTimeMs;
        newsk.KeepaliveIntvlMs = sk.KeepaliveIntvlMs;
        newsk.KeepaliveProbes = sk.KeepaliveProbes;
        newsk.Linger2Ms = sk.Linger2Ms;
        newsk.RxOpt.UserMss = sk.RxOpt.UserMss;
        // Issue 12's options, copied with the rest of the sock (inet_opt is not: the child gets the SYN's echoed options, not modelled).
        newsk.FreeBind = sk.FreeBind;
        newsk.Transparent = sk.Transparent;
        newsk.BindAddressNoPort = sk.BindAddressNoPort;
        newsk.MinTtl = sk.MinTtl;
        newsk.LlUsec = sk.LlUsec;
        newsk.IncomingCpu = sk.IncomingCpu;
        newsk.NotsentLowat = sk.NotsentLowat;
        newsk.RecvmsgInq = sk.RecvmsgInq;
        newsk.SaveSyn = sk.SaveSyn;
        // An AF_INET6 listener's child: ipv6only and, in its own copy, the listener's ipv6_pinfo
        // (tcp_v6_syn_recv_sock(): newinet->pinet6 = tcp_inet6_sk(newsk); memcpy(newnp, np, ...)).
        newsk.Ipv6only = sk.Ipv6only;
        newsk.Pinet6 = sk.Pinet6 is { } np ? Ipv6.Ipv6Pinfo.Alloc(newsk, np) : null;
        newsk.State = TcpState.SynRecv;
        newsk.BindHash = null;
        newsk.InetDport = req.IrRmtPort;
        newsk.InetNum = req.IrNum;
        newsk.InetSport = req.IrNum;
        newsk.IcskRetransmits = 0;
        newsk.IcskBackoff = 0;
        newsk.IcskProbesOut = 0;
        newsk.IcskProbesTstamp = 0;
        newsk.Prot.SocketsAllocated++;
        // sk_clone_lock(): a fresh sk_forward_alloc, and one more socket in TCP's memory account.
        newsk.MemAccount = sk.MemAccount;
        if (newsk.MemAccount is not null) newsk.MemAccount.SocketsAllocated++;
        return newsk;
    }

    /// <summary>
    /// Would <paramref name="sk"/> binding the bucket's port conflict with an owner? Not if bound to
    /// different devices or different specific addresses; not if both set SO_REUSEADDR and the
    /// owner is not listening (when <paramref name="relax"/>); not if both set SO_REUSEPORT and
    /// belong to one user.
    /// </summary>
    /// <remarks>Mirrors inet_csk_bind_conflict() -> inet_bind_conflict() and inet_rcv_saddr_equal().</remarks>
    private static bool InetCskBindConflict(TcpSock sk, InetBindBucket tb, bool relax, bool reuseportOk)
    {
        foreach (var owner in tb.Owners)
        {
            if (ReferenceEquals(owner, sk)) continue;
            int dev2;
            byte reuse2;
            bool reuseport2;
            TcpState state2;
            uint uid2;
            if (owner is TcpSock sk2)
            {
                dev2 = sk2.BoundDevIf; reuse2 = sk2.Reuse; reuseport2 = sk2.ReusePort; state2 = sk2.State; uid2 = sk2.Uid;
            }
            else
            {
                var tw = (TcpTimewaitSock)owner;
                dev2 = tw.TwBoundDevIf; reuse2 = tw.TwReuse; reuseport2 = tw.ReusePort; state2 = TcpState.TimeWait; uid2 = sk.Uid;
            }
            if (sk.BoundDevIf != 0 && dev2 != 0 && sk.BoundDevIf != dev2) continue;
            bool conflict;
            if (sk.Reuse != 0 && reuse2 != 0 && state2 != TcpState.Listen)
                conflict = !relax;
            else
                // SO_REUSEPORT shares the port only between sockets of one user (a TIME_WAIT sock has no owner left).
                conflict = !reuseportOk || !sk.ReusePort || !reuseport2 || (state2 != TcpState.TimeWait && uid2 != sk.Uid);
            if (!conflict) continue;
            if (InetRcvSaddrEqual(sk, owner, matchWildcard: true)) return true;
        }
        return false;
    }

    /// <summary>
    /// Whether two socks bound to one port claim the same local address, across families: an
    /// AF_INET6 sock on :: claims every IPv4 address too unless it is IPV6_V6ONLY; one on
    /// ::ffff:a.b.c.d is an IPv4 binding; one on a native IPv6 address never meets an AF_INET sock.
    /// With <paramref name="matchWildcard"/> a wildcard on either side matches everything.
    /// </summary>
    /// <remarks>Mirrors net/ipv4/inet_connection_sock.c: inet_rcv_saddr_equal() -> ipv6_rcv_saddr_equal() / ipv4_rcv_saddr_equal().</remarks>
    internal static bool InetRcvSaddrEqual(SockCommon sk, SockCommon sk2, bool matchWildcard)
    {
        if (sk.Family == SocketConstants.AF_INET6)
            return Ipv6RcvSaddrEqual(sk.SkcV6RcvSaddr, sk2.Family == SocketConstants.AF_INET6, sk2.SkcV6RcvSaddr,
                sk.SkcRcvSaddr, sk2.SkcRcvSaddr, sk.Ipv6only, sk2.Ipv6only, matchWildcard, matchWildcard);
        return Ipv4RcvSaddrEqual(sk.SkcRcvSaddr, sk2.SkcRcvSaddr, sk2.Ipv6only, matchWildcard, matchWildcard);
    }

    /// <remarks>Mirrors net/ipv4/inet_connection_sock.c: ipv6_rcv_saddr_equal() (an AF_INET sk2 has no v6 address: it counts as mapped).</remarks>
    private static bool Ipv6RcvSaddrEqual(UInt128 sk1RcvSaddr6, bool sk2HasV6, UInt128 sk2RcvSaddr6, uint sk1RcvSaddr, uint sk2RcvSaddr,
        bool sk1Ipv6only, bool sk2Ipv6only, bool matchSk1Wildcard, bool matchSk2Wildcard)
    {
        int addrType = Ipv6.AfInet6.Ipv6AddrType(sk1RcvSaddr6);
        int addrType2 = sk2HasV6 ? Ipv6.AfInet6.Ipv6AddrType(sk2RcvSaddr6) : Ipv6.AfInet6.IPV6_ADDR_MAPPED;
        const int Any = Ipv6.AfInet6.IPV6_ADDR_ANY, Mapped = Ipv6.AfInet6.IPV6_ADDR_MAPPED;

        // if both are mapped, treat as IPv4
        if (addrType == Mapped && addrType2 == Mapped)
        {
            if (!sk2Ipv6only)
            {
                if (sk1RcvSaddr == sk2RcvSaddr) return true;
                return (matchSk1Wildcard && sk1RcvSaddr == 0) || (matchSk2Wildcard && sk2RcvSaddr == 0);
            }
            return false;
        }
        if (addrType == Any && addrType2 == Any) return true;
        if (addrType2 == Any && matchSk2Wildcard && !(sk2Ipv6only && addrType == Mapped)) return true;
        if (addrType == Any && matchSk1Wildcard && !(sk1Ipv6only && addrType2 == Mapped)) return true;
        return sk2HasV6 && sk1RcvSaddr6 == sk2RcvSaddr6;
    }

    /// <remarks>Mirrors net/ipv4/inet_connection_sock.c: ipv4_rcv_saddr_equal().</remarks>
    private static bool Ipv4RcvSaddrEqual(uint sk1RcvSaddr, uint sk2RcvSaddr, bool sk2Ipv6only, bool matchSk1Wildcard, bool matchSk2Wildcard)
    {
        if (!sk2Ipv6only)
        {
            if (sk1RcvSaddr == sk2RcvSaddr) return true;
            return (matchSk1Wildcard && sk1RcvSaddr == 0) || (matchSk2Wildcard && sk2RcvSaddr == 0);
        }
        return false;
    }

    /// <summary>
    /// bind() and listen()'s port check: a given port is taken unless the reuse rules allow
    /// sharing (-EADDRINUSE); port 0 picks a free ephemeral port (odd ports first, as connect()
    /// takes even ones).
    /// </summary>
    /// <remarks>Mirrors inet_csk_get_port() with inet_csk_find_open_port() and inet_csk_update_fastreuse().</remarks>
    internal static int InetCskGetPort(TcpSock sk, ushort snum)
    {
        var net = sk.Net;
        var h = net.Ipv4.TcpHashinfo;
        bool reuse = sk.Reuse != 0 && sk.State != TcpState.Listen;
        InetBindBucket? tb;
        if (snum == 0)
        {
            int low = net.Ipv4.Sysctl.IpLocalPortRangeLow, high = net.Ipv4.Sysctl.IpLocalPortRangeHigh + 1;
            int remaining = high - low;
            if (remaining > 1) remaining &= ~1;
            int offset = h.PortRandom.Next(Math.Max(remaining, 1)) | 1;
            tb = null;
            for (int pass = 0; pass < 2 && tb is null; pass++)
            {
                int port = low + offset;
                for (int i = 0; i < remaining; i += 2, port += 2)
                {
                    if (port >= high) port -= remaining;
                    if (!h.Bhash.TryGetValue((ushort)port, out var cand))
                    {
                        tb = InetHashtables.InetBindBucketCreate(h, (ushort)port, out _);
                        snum = (ushort)port;
                        break;
                    }
                    if (!InetCskBindConflict(sk, cand, false, false))
                    {
                        tb = cand;
                        snum = (ushort)port;
                        break;
                    }
                }
                offset--; // the other parity
            }
            if (tb is null) return -Errno.EADDRINUSE;
        }
        else
        {
            tb = InetHashtables.InetBindBucketCreate(h, snum, out bool created);
            if (!created && tb.Owners.Count > 0)
            {
                if (sk.Reuse != Sock.SkForceReuse && !(tb.FastReuse > 0 && reuse) && InetCskBindConflict(sk, tb, true, true))
                    return -Errno.EADDRINUSE;
            }
        }
        // inet_csk_update_fastreuse()
        if (tb.Owners.Count == 0) tb.FastReuse = (sbyte)(reuse ? 1 : 0);
        else if (!reuse) tb.FastReuse = 0;
        if (sk.BindHash is null) InetHashtables.InetBindHash(sk, tb, snum);
        return 0;
    }

    /// <summary>Frees a closed, orphaned, unhashed sock.</summary>
    /// <remarks>Mirrors inet_csk_destroy_sock().</remarks>
    internal static void InetCskDestroySock(InetConnectionSock sk)
    {
        sk.Prot.Destroy(sk);
        // sk_stream_kill_queues(): the queues go, then the socket's whole reservation.
        sk.PurgeReceiveQueue();
        sk.SkbErrqueuePurge(); // inet_sock_destruct()
        sk.WriteQueue.Purge();
        sk.SkMemReclaimFinal();
        sk.Net.Ipv4.TcpOrphanCount--;
        sk.Prot.SocketsAllocated--;
        // The protocol's reference (sk_alloc / sk_clone_lock): the last one frees the sock into its
        // cache, so nothing may touch it after this.
        sk.SockPut();
    }
}

/// <summary>
/// The state of a connection's path MTU search: the MTU window [search_low, search_high] and the
/// probe in flight.
/// <remarks>Mirrors include/net/inet_connection_sock.h: struct inet_connection_sock's icsk_mtup.</remarks>
/// </summary>
internal struct IcskMtup
{
    /// <summary>enabled: the search is on (tcp_mtu_probing 2, or 1 after a suspected black hole).</summary>
    public bool Enabled;
    /// <summary>search_high: the largest MTU still possible.</summary>
    public int SearchHigh;
    /// <summary>search_low: the largest MTU known to work (the MSS is held to it while enabled).</summary>
    public int SearchLow;
    /// <summary>probe_size: the MTU of the probe in flight, 0 when none.</summary>
    public int ProbeSize;
    /// <summary>probe_timestamp: when the search (re)started (ns).</summary>
    public long ProbeTimestamp;
}
