using NetStack.Core;
using NetStack.Wire;

namespace NetStack.Ipv4;

/// <summary>
/// TCP's timers: retransmission (RFC 6298 with Linux's bounds: RTO_MIN 200 ms, RTO_MAX 120 s,
/// initial 1 s; exponential backoff; SYN retries then ETIMEDOUT), zero-window probes, delayed
/// ACKs, keepalive and the orphaned FIN_WAIT_2 timeout.
/// <remarks>Mirrors net/ipv4/tcp_timer.c.</remarks>
/// </summary>
internal static class TcpTimer
{
    /// <summary>TCP_TIMEOUT_MIN (2 jiffies).</summary>
    public static readonly long TcpTimeoutMin = Time.Ms(2);
    /// <summary>TCP_TIMEOUT_FALLBACK: RFC 6298 2.1 initial RTO when the handshake gave no sample.</summary>
    public static readonly long TcpTimeoutFallback = Time.Sec(3);

    /// <remarks>TCP_RTO_MAX.</remarks>
    public static long TcpRtoMax(NetNamespace net) => Time.Ms(net.Ipv4.Sysctl.TcpRtoMaxMs);

    /// <remarks>tcp_rto_min(): TCP_RTO_MIN or the socket's override.</remarks>
    public static long TcpRtoMin(TcpSock tp) => tp.IcskRtoMin != 0 ? tp.IcskRtoMin : Time.Ms(tp.Net.Ipv4.Sysctl.TcpRtoMinMs);

    /// <remarks>tcp_timeout_init(): TCP_TIMEOUT_INIT.</remarks>
    public static long TcpTimeoutInit(NetNamespace net) => Time.Ms(net.Ipv4.Sysctl.TcpTimeoutInitMs);

    /// <remarks>Mirrors tcp_init_xmit_timers(): the three icsk timers and the pacing hrtimer.</remarks>
    internal static void TcpInitXmitTimers(TcpSock tp)
    {
        tp.InetCskInitXmitTimers(
            static t => TcpWriteTimer((TcpSock)t.Owner!),
            static t => TcpDelackTimer((TcpSock)t.Owner!),
            static t => TcpKeepaliveTimer((TcpSock)t.Owner!));
        tp.PacingTimer ??= new TimerList(static t => TcpOutput.TcpPaceKick((TcpSock)t.Owner!), tp);
    }

    /// <remarks>Mirrors tcp_clear_xmit_timers(): the pacing timer, then the icsk timers.</remarks>
    internal static void TcpClearXmitTimers(TcpSock tp)
    {
        if (tp.PacingTimer is not null) tp.Net.Timers.DelTimer(tp.PacingTimer);
        tp.InetCskClearXmitTimers();
    }

    // ---- keepalive parameters ----

    /// <remarks>Mirrors keepalive_time_when().</remarks>
    public static long KeepaliveTimeWhen(TcpSock tp) => Time.Ms(tp.KeepaliveTimeMs != 0 ? tp.KeepaliveTimeMs : tp.Net.Ipv4.Sysctl.TcpKeepaliveTimeMs);

    /// <remarks>Mirrors keepalive_intvl_when().</remarks>
    public static long KeepaliveIntvlWhen(TcpSock tp) => Time.Ms(tp.KeepaliveIntvlMs != 0 ? tp.KeepaliveIntvlMs : tp.Net.Ipv4.Sysctl.TcpKeepaliveIntvlMs);

    /// <remarks>Mirrors keepalive_probes().</remarks>
    public static int KeepaliveProbes(TcpSock tp) => tp.KeepaliveProbes != 0 ? tp.KeepaliveProbes : tp.Net.Ipv4.Sysctl.TcpKeepaliveProbes;

    /// <summary>Time since we last heard from the peer.</summary>
    /// <remarks>Mirrors keepalive_time_elapsed().</remarks>
    public static long KeepaliveTimeElapsed(TcpSock tp)
    {
        long now = tp.Net.NowNs;
        return Math.Min(now - tp.IcskAck.Lrcvtime, now - tp.RcvTstamp);
    }

    /// <summary>SO_KEEPALIVE toggled.</summary>
    /// <remarks>Mirrors tcp_set_keepalive().</remarks>
    public static void TcpSetKeepalive(TcpSock tp, bool val)
    {
        if (TcpStateF.Is(tp.State, TcpStateF.Close | TcpStateF.Listen)) return;
        if (val && !tp.HasFlag(SockFlag.KeepOpen)) tp.InetCskResetKeepaliveTimer(KeepaliveTimeWhen(tp));
        else if (!val) tp.InetCskDeleteKeepaliveTimer();
    }

    // ---- probe timing ----

    /// <remarks>Mirrors tcp_probe0_base().</remarks>
    public static long TcpProbe0Base(TcpSock tp) => Math.Max(tp.IcskRto, Time.Ms(tp.Net.Ipv4.Sysctl.TcpRtoMinMs));

    /// <remarks>Mirrors tcp_probe0_when().</remarks>
    public static long TcpProbe0When(TcpSock tp, long maxWhen)
    {
        var sys = tp.Net.Ipv4.Sysctl;
        int maxShift = (int)Math.Log2((double)sys.TcpRtoMaxMs / sys.TcpRtoMinMs) + 1;
        int backoff = Math.Min(maxShift, tp.IcskBackoff);
        long when = TcpProbe0Base(tp) << backoff;
        return Math.Min(when, maxWhen);
    }

    // ---- errors and timeouts ----

    /// <summary>The connection timed out: report sk_err_soft (an ICMP error seen meanwhile) or ETIMEDOUT.</summary>
    /// <remarks>Mirrors tcp_write_err() -> tcp_done_with_error().</remarks>
    internal static void TcpWriteErr(TcpSock tp)
    {
        tp.Err = tp.ErrSoft != 0 ? tp.ErrSoft : Uapi.Errno.ETIMEDOUT;
        Tcp.TcpWriteQueuePurge(tp);
        Tcp.TcpDone(tp);
        if (!tp.HasFlag(SockFlag.Dead)) tp.ErrorReport();
        tp.Net.Mib.TcpExt[LinuxMib.TCPAbortOnTimeout]++;
    }

    /// <summary>The time <paramref name="boundary"/> retransmissions with exponential backoff from <paramref name="rtoBase"/> take (capped at RTO_MAX each).</summary>
    /// <remarks>Mirrors tcp_model_timeout().</remarks>
    private static long TcpModelTimeout(TcpSock tp, int boundary, long rtoBase)
    {
        long rtoMax = TcpRtoMax(tp.Net);
        int linearBackoffThresh = (int)Math.Log2((double)rtoMax / rtoBase);
        if (boundary <= linearBackoffThresh) return ((2L << boundary) - 1) * rtoBase;
        return ((2L << linearBackoffThresh) - 1) * rtoBase + (boundary - linearBackoffThresh) * rtoMax;
    }

    /// <summary>Has the head been retransmitted for as long as <paramref name="boundary"/> backed-off retransmissions would take (or TCP_USER_TIMEOUT)?</summary>
    /// <remarks>Mirrors retransmits_timed_out().</remarks>
    private static bool RetransmitsTimedOut(TcpSock tp, int boundary, long timeout)
    {
        if (tp.IcskRetransmits == 0) return false;
        long startTs = tp.RetransStamp;
        if (timeout == 0)
        {
            long rtoBase = TcpStateF.Is(tp.State, TcpStateF.SynSent | TcpStateF.SynRecv) ? TcpTimeoutInit(tp.Net) : Time.Ms(tp.Net.Ipv4.Sysctl.TcpRtoMinMs);
            timeout = TcpModelTimeout(tp, boundary, rtoBase);
        }
        return tp.Net.NowNs - startTs - timeout >= 0;
    }

    /// <summary>
    /// Retransmissions keep timing out: perhaps large segments vanish in an ICMP black hole (RFC
    /// 4821). With tcp_mtu_probing, the first time turns the path MTU search on (the MSS drops to
    /// tcp_base_mss), each later time halves the MSS known to work (not below tcp_mtu_probe_floor).
    /// </summary>
    /// <remarks>Mirrors net/ipv4/tcp_timer.c: tcp_mtu_probing().</remarks>
    private static void TcpMtuProbing(TcpSock tp)
    {
        var sys = tp.Net.Ipv4.Sysctl;
        if (sys.TcpMtuProbing == 0) return;
        ref var mtup = ref tp.IcskMtup;
        if (!mtup.Enabled)
        {
            mtup.Enabled = true;
            mtup.ProbeTimestamp = tp.Net.NowNs;
        }
        else
        {
            int mss = (TcpOutput.TcpMtuToMss(tp, mtup.SearchLow) - (tp.TcpHeaderLen - TcpHeader.MinLength)) >> 1;
            mss = Math.Min(sys.TcpBaseMss, mss);
            mss = Math.Max(mss, sys.TcpMtuProbeFloor);
            mss = Math.Max(mss, sys.TcpMinSndMss);
            mtup.SearchLow = TcpOutput.TcpMssToMtu(tp, mss);
        }
        TcpOutput.TcpSyncMss(tp, tp.IcskPmtuCookie);
    }

    /// <remarks>Mirrors tcp_orphan_retries().</remarks>
    private static int TcpOrphanRetries(TcpSock tp, bool alive)
    {
        int retries = tp.Net.Ipv4.Sysctl.TcpOrphanRetries;
        if (tp.ErrSoft != 0 && !alive) retries = 0;
        if (retries == 0 && alive) retries = 8;
        return retries;
    }

    /// <summary>
    /// An orphan's timer fired while TCP is short of resources (too many orphans, or over tcp_mem's
    /// hard limit): the orphan is killed (TCPAbortOnMemory), with an RST if the peer may still be
    /// listening. A connection idle long, or one an ICMP error hit, weighs double in the orphan count.
    /// </summary>
    /// <remarks>Mirrors tcp_out_of_resources().</remarks>
    private static bool TcpOutOfResources(TcpSock tp, bool doReset)
    {
        int shift = 0;
        long sinceSend = (long)(tp.TcpClockMs - tp.LsndTimeMs) * Time.NsPerMs;
        if (sinceSend > 2 * TcpRtoMax(tp.Net) || !doReset) shift++;
        if (tp.ErrSoft != 0) shift++;
        if (TcpMemory.TcpCheckOom(tp, shift))
        {
            // Reset if the last segment went out recently, or the window is closed.
            if (sinceSend <= Time.Ms(tp.Net.Ipv4.Sysctl.TcpTimewaitLenMs) || (tp.SndWnd == 0 && tp.PacketsOut == 0)) doReset = true;
            if (doReset) TcpOutput.TcpSendActiveReset(tp);
            Tcp.TcpDone(tp);
            tp.Net.Mib.TcpExt[LinuxMib.TCPAbortOnMemory]++;
            return true;
        }
        return false;
    }

    /// <summary>
    /// Gives up when the retransmissions ran out: tcp_syn_retries for a SYN (6: about 127 s),
    /// tcp_synack_retries in SYN_RECV, tcp_retries2 (or TCP_USER_TIMEOUT) for data, fewer for orphans.
    /// </summary>
    /// <remarks>Mirrors tcp_write_timeout().</remarks>
    private static bool TcpWriteTimeout(TcpSock tp)
    {
        var sys = tp.Net.Ipv4.Sysctl;
        bool expired;
        if (TcpStateF.Is(tp.State, TcpStateF.SynSent | TcpStateF.SynRecv))
        {
            if (tp.IcskRetransmits != 0) tp.DstReset();
            int retryUntil = tp.IcskSynRetries != 0 ? tp.IcskSynRetries : (tp.State == TcpState.SynSent ? sys.TcpSynRetries : sys.TcpSynackRetries);
            expired = tp.IcskRetransmits >= retryUntil;
        }
        else
        {
            if (RetransmitsTimedOut(tp, sys.TcpRetries1, 0))
            {
                // Black hole detection.
                TcpMtuProbing(tp);
                tp.DstReset();
            }
            int retryUntil = sys.TcpRetries2;
            if (tp.HasFlag(SockFlag.Dead))
            {
                bool alive = tp.IcskRto < TcpRtoMax(tp.Net);
                retryUntil = TcpOrphanRetries(tp, alive);
                bool doReset = alive || !RetransmitsTimedOut(tp, retryUntil, 0);
                if (TcpOutOfResources(tp, doReset)) return true;
            }
            expired = RetransmitsTimedOut(tp, retryUntil, Time.Ms(tp.IcskUserTimeout));
        }
        if (expired)
        {
            TcpWriteErr(tp);
            return true;
        }
        return false;
    }

    /// <remarks>Mirrors tcp_clamp_rto_to_user_timeout().</remarks>
    private static long TcpClampRtoToUserTimeout(TcpSock tp)
    {
        if (tp.IcskUserTimeout == 0 || tp.RetransStamp == 0) return tp.IcskRto;
        long elapsed = tp.Net.NowNs - tp.RetransStamp;
        long remaining = Time.Ms(tp.IcskUserTimeout) - elapsed;
        if (remaining <= 0) return Time.Ms(1);
        return Math.Min(tp.IcskRto, remaining);
    }

    /// <summary>
    /// The retransmission timeout: give up if retries are exhausted, else enter loss recovery,
    /// resend the head, and double the RTO (Karn/RFC 6298 5.5), up to RTO_MAX.
    /// </summary>
    /// <remarks>Mirrors tcp_retransmit_timer().</remarks>
    public static void TcpRetransmitTimer(TcpSock tp)
    {
        var net = tp.Net;
        // A Fast Open child in SYN_RECV resends its SYN-ACK.
        if (tp.FastopenRsk is { } req)
        {
            TcpFastopen.TcpFastopenSynackTimer(tp, req);
            return;
        }
        if (tp.PacketsOut == 0) return;
        var skb = tp.RtxQueue.First;
        if (skb is null) return;
        tp.TlpHighSeq = 0;
        if (tp.SndWnd == 0 && !tp.HasFlag(SockFlag.Dead) && !TcpStateF.Is(tp.State, TcpStateF.SynSent | TcpStateF.SynRecv))
        {
            // The receiver shrank its window to zero: our retransmissions are window probes; do
            // not time out while it answers, but an orphan cannot wait forever.
            if (net.NowNs - tp.RcvTstamp > TcpRtoMax(net))
            {
                TcpWriteErr(tp);
                return;
            }
            TcpInput.TcpEnterLoss(tp);
            TcpOutput.TcpRetransmitSkb(tp, skb);
            tp.DstReset();
            goto outResetTimer;
        }
        net.Mib.TcpExt[LinuxMib.TCPTimeouts]++;
        if (TcpWriteTimeout(tp)) return;
        // The first timeout of an episode says what failed: a fast recovery, an earlier timeout's
        // loss recovery, or the SACK/dupack state that never reached recovery.
        if (tp.IcskRetransmits == 0)
        {
            LinuxMib? mib = tp.CaState switch
            {
                TcpCaState.Recovery => tp.TcpIsSack ? LinuxMib.TCPSackRecoveryFail : LinuxMib.TCPRenoRecoveryFail,
                TcpCaState.Loss => LinuxMib.TCPLossFailures,
                _ when tp.CaState == TcpCaState.Disorder || tp.SackedOut != 0 => tp.TcpIsSack ? LinuxMib.TCPSackFailures : LinuxMib.TCPRenoFailures,
                _ => null,
            };
            if (mib is { } m) net.Mib.TcpExt[m]++;
        }
        TcpInput.TcpEnterLoss(tp);
        // tcp_update_rto_stats()
        if (tp.IcskRetransmits == 0) tp.TotalRtoRecoveries++;
        tp.TotalRto++;
        tp.IcskRetransmits++;
        if (TcpOutput.TcpRetransmitSkb(tp, tp.RtxQueue.First!) != 0)
        {
            // Local congestion (no buffer): retry soon, without backoff.
            tp.InetCskResetXmitTimer(InetConnectionSock.IcskTimeRetrans, TcpOutput.TcpResourceProbeInterval, TcpRtoMax(net));
            return;
        }
        tp.IcskBackoff++;
    outResetTimer:
        tp.IcskRto = Math.Min(tp.IcskRto << 1, TcpRtoMax(net));
        tp.InetCskResetXmitTimer(InetConnectionSock.IcskTimeRetrans, TcpClampRtoToUserTimeout(tp), TcpRtoMax(net));
    }

    /// <summary>The zero-window probe timer.</summary>
    /// <remarks>Mirrors tcp_probe_timer().</remarks>
    private static void TcpProbeTimer(TcpSock tp)
    {
        var skb = tp.TcpSendHead;
        if (tp.PacketsOut != 0 || skb is null)
        {
            tp.IcskProbesOut = 0;
            tp.IcskProbesTstamp = 0;
            return;
        }
        var net = tp.Net;
        if (tp.IcskProbesTstamp == 0)
        {
            tp.IcskProbesTstamp = net.NowNs;
        }
        else if (tp.IcskUserTimeout != 0 && net.NowNs - tp.IcskProbesTstamp >= Time.Ms(tp.IcskUserTimeout))
        {
            TcpWriteErr(tp);
            return;
        }
        int maxProbes = net.Ipv4.Sysctl.TcpRetries2;
        if (tp.HasFlag(SockFlag.Dead))
        {
            bool alive = TcpProbe0When(tp, TcpRtoMax(net)) < TcpRtoMax(net);
            maxProbes = TcpOrphanRetries(tp, alive);
            if (!alive && tp.IcskBackoff >= maxProbes)
            {
                TcpWriteErr(tp);
                return;
            }
            if (TcpOutOfResources(tp, true)) return;
        }
        if (tp.IcskProbesOut >= maxProbes) TcpWriteErr(tp);
        else TcpOutput.TcpSendProbe0(tp);
    }

    /// <summary>The retransmit timer's dispatcher: RACK reordering timeout, tail loss probe, RTO or window probe.</summary>
    /// <remarks>Mirrors tcp_write_timer() -> tcp_write_timer_handler().</remarks>
    private static void TcpWriteTimer(TcpSock tp)
    {
        if (TcpStateF.Is(tp.State, TcpStateF.Close | TcpStateF.Listen) || tp.IcskPending == 0) return;
        if (tp.IcskTimeout > tp.Net.NowNs)
        {
            tp.Net.Timers.ModTimer(tp.RetransmitTimer, tp.IcskTimeout);
            return;
        }
        byte ev = tp.IcskPending;
        switch (ev)
        {
            case InetConnectionSock.IcskTimeReoTimeout:
                TcpRecovery.TcpRackReoTimeout(tp);
                break;
            case InetConnectionSock.IcskTimeLossProbe:
                TcpOutput.TcpSendLossProbe(tp);
                break;
            case InetConnectionSock.IcskTimeRetrans:
                tp.IcskPending = 0;
                TcpRetransmitTimer(tp);
                break;
            case InetConnectionSock.IcskTimeProbe0:
                tp.IcskPending = 0;
                TcpProbeTimer(tp);
                break;
            default:
                tp.IcskPending = 0;
                break;
        }
    }

    /// <summary>The delayed ACK is due: send it; a missed one inflates ato (or leaves ping-pong mode).</summary>
    /// <remarks>Mirrors tcp_delack_timer() -> tcp_delack_timer_handler().</remarks>
    private static void TcpDelackTimer(TcpSock tp)
    {
        if (TcpStateF.Is(tp.State, TcpStateF.Close | TcpStateF.Listen)) return;
        if ((tp.IcskAck.Pending & IcskAck.Timer) == 0) return;
        if (tp.IcskAck.Timeout > tp.Net.NowNs)
        {
            tp.Net.Timers.ModTimer(tp.DelackTimer, tp.IcskAck.Timeout);
            return;
        }
        tp.IcskAck.Pending &= unchecked((byte)~IcskAck.Timer);
        if (tp.InetCskAckScheduled)
        {
            if (!tp.InetCskInPingpongMode)
            {
                tp.IcskAck.Ato = Math.Min(tp.IcskAck.Ato << 1, tp.IcskRto);
            }
            else
            {
                tp.InetCskExitPingpongMode();
                tp.IcskAck.Ato = TcpInput.TcpAtoMin;
            }
            TcpOutput.TcpSendAck(tp);
            tp.Net.Mib.TcpExt[LinuxMib.DelayedACKs]++;
        }
    }

    /// <summary>
    /// sk_timer: an orphaned FIN_WAIT_2 that outlived its timeout, or keepalive probing of an idle
    /// connection (reset and ETIMEDOUT after tcp_keepalive_probes unanswered probes).
    /// </summary>
    /// <remarks>Mirrors tcp_keepalive_timer().</remarks>
    private static void TcpKeepaliveTimer(TcpSock tp)
    {
        var net = tp.Net;
        if (tp.State == TcpState.Listen) return;
        if (tp.State == TcpState.FinWait2 && tp.HasFlag(SockFlag.Dead))
        {
            if (tp.Linger2Ms >= 0)
            {
                long tmo = Tcp.TcpFinTime(tp) - Time.Ms(net.Ipv4.Sysctl.TcpTimewaitLenMs);
                if (tmo > 0)
                {
                    TcpMinisocks.TcpTimeWait(tp, TcpState.FinWait2, tmo);
                    return;
                }
            }
            TcpOutput.TcpSendActiveReset(tp);
            Tcp.TcpDone(tp);
            return;
        }
        if (!tp.HasFlag(SockFlag.KeepOpen) || TcpStateF.Is(tp.State, TcpStateF.Close | TcpStateF.SynSent)) return;
        long elapsed = KeepaliveTimeWhen(tp);
        if (tp.PacketsOut == 0 && tp.TcpSendHead is null)
        {
            elapsed = KeepaliveTimeElapsed(tp);
            if (elapsed >= KeepaliveTimeWhen(tp))
            {
                long userTimeout = Time.Ms(tp.IcskUserTimeout);
                if ((userTimeout != 0 && elapsed >= userTimeout && tp.IcskProbesOut > 0) ||
                    (userTimeout == 0 && tp.IcskProbesOut >= KeepaliveProbes(tp)))
                {
                    TcpOutput.TcpSendActiveReset(tp);
                    TcpWriteErr(tp);
                    return;
                }
                if (TcpOutput.TcpWriteWakeup(tp) <= 0)
                {
                    tp.IcskProbesOut++;
                    elapsed = KeepaliveIntvlWhen(tp);
                }
                else
                {
                    elapsed = TcpOutput.TcpResourceProbeInterval;
                }
            }
            else
            {
                elapsed = KeepaliveTimeWhen(tp) - elapsed;
            }
        }
        tp.InetCskResetKeepaliveTimer(elapsed);
    }
}
