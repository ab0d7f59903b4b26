using System.Buffers.Binary;
using System.Text;
using NetStack.Core;
using NetStack.Net;
using NetStack.Uapi;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Ipv4;

/// <summary>
/// The socket-facing half of TCP: init, send and receive, close and shutdown with the FIN states,
/// disconnect, poll, options, and the state bookkeeping shared by everything else.
/// <remarks>Mirrors net/ipv4/tcp.c.</remarks>
/// </summary>
internal static class Tcp
{
    /// <summary>TCP_FIN_TIMEOUT_MAX (120 s) for TCP_LINGER2.</summary>
    private const int TcpFinTimeoutMaxMs = 120_000;
    /// <summary>MAX_TCP_KEEPIDLE / KEEPINTVL (s), MAX_TCP_KEEPCNT, MAX_TCP_SYNCNT.</summary>
    private const int MaxTcpKeepidle = 32767, MaxTcpKeepintvl = 32767, MaxTcpKeepcnt = 127, MaxTcpSyncnt = 127;

    // ---- init and state ----

    /// <summary>The state every new TCP sock starts with (shared by sockets and accepted children).</summary>
    internal static void TcpInitSockState(TcpSock tp)
    {
        var net = tp.Net;
        tp.IcskRto = TcpTimer.TcpTimeoutInit(net);
        tp.IcskRtoMin = Time.Ms(net.Ipv4.Sysctl.TcpRtoMinMs);
        tp.MdevUs = (uint)(TcpTimer.TcpTimeoutInit(net) / 1000);
        tp.SndCwnd = TcpSock.TcpInitCwnd;
        tp.SndSsthresh = TcpCong.InfiniteSsthresh;
        tp.SndCwndClamp = ~0u;
        tp.MssCache = TcpSock.TcpMssDefault;
        tp.Reordering = (uint)net.Ipv4.Sysctl.TcpReordering;
        tp.Rack = TcpRack.Initial;
        tp.RttMin = default;
        tp.TlpHighSeq = 0;
        tp.TsOffset = 0;
        tp.ScalingRatio = 1 << (TcpInput.TcpRmemToWinScale - 1);
        tp.IcskAck.RcvMss = TcpSock.TcpMinMss;
    }

    /// <summary>Sets up a new TCP socket: timers, RTO, cwnd, buffers from tcp_wmem/tcp_rmem, congestion control.</summary>
    /// <remarks>Mirrors tcp_init_sock().</remarks>
    public static void TcpInitSock(TcpSock tp)
    {
        TcpTimer.TcpInitXmitTimers(tp);
        TcpInitSockState(tp);
        TcpCong.TcpAssignCongestionControl(tp);
        tp.SetFlag(SockFlag.UseWriteQueue);
        var sys = tp.Net.Ipv4.Sysctl;
        tp.SndBuf = sys.TcpWmemDefault;
        tp.RcvBuf = sys.TcpRmemDefault;
        // sk_sockets_allocated_inc(): the socket joins TCP's memory account.
        tp.MemAccount = tp.Net.Ipv4.TcpMem;
        tp.MemAccount.SocketsAllocated++;
    }

    /// <summary>Changes sk_state, keeping CurrEstab/EstabResets right; CLOSE unhashes and releases an automatic port.</summary>
    /// <remarks>Mirrors tcp_set_state().</remarks>
    public static void TcpSetState(TcpSock tp, TcpState state)
    {
        var oldstate = tp.State;
        var mib = tp.Net.Mib.Tcp;
        switch (state)
        {
            case TcpState.Established:
                if (oldstate != TcpState.Established) mib[TcpMib.CurrEstab]++;
                break;
            case TcpState.CloseWait:
                if (oldstate == TcpState.SynRecv) mib[TcpMib.CurrEstab]++;
                break;
            case TcpState.Close:
                if (oldstate is TcpState.CloseWait or TcpState.Established) mib[TcpMib.EstabResets]++;
                tp.Prot.Unhash(tp);
                if (tp.BindHash is not null && (tp.UserLocks & Sock.SockBindportLock) == 0) InetHashtables.InetPutPort(tp);
                goto default;
            default:
                if (oldstate is TcpState.Established or TcpState.CloseWait) mib[TcpMib.CurrEstab]--;
                break;
        }
        tp.State = state; // inet_sk_state_store()
        TcpTracepoint.TraceInetSockSetState(tp, oldstate);
    }

    /// <summary>The connection is over: CLOSE, timers stopped, both directions shut; destroyed if orphaned, else the owner is woken.</summary>
    /// <remarks>Mirrors tcp_done().</remarks>
    public static void TcpDone(TcpSock tp)
    {
        if (tp.State is TcpState.SynSent or TcpState.SynRecv) tp.Net.Mib.Tcp[TcpMib.AttemptFails]++;
        TcpSetState(tp, TcpState.Close);
        TcpTimer.TcpClearXmitTimers(tp);
        tp.Shutdown = SHUTDOWN_MASK;
        if (!tp.HasFlag(SockFlag.Dead)) tp.StateChange();
        else InetConnectionSock.InetCskDestroySock(tp);
    }

    /// <summary>The connection ends on a local error: sk_err for the owner, queues purged, CLOSE.</summary>
    /// <remarks>Mirrors tcp_done_with_error().</remarks>
    internal static void TcpDoneWithError(TcpSock tp, int err)
    {
        tp.Err = err;
        TcpWriteQueuePurge(tp);
        TcpDone(tp);
        if (!tp.HasFlag(SockFlag.Dead)) tp.ErrorReport();
    }

    /// <summary>
    /// Aborts a connection from inside the host (SOCK_DESTROY, and a fault contained on the socket):
    /// a listener stops, a synchronized connection resets its peer, the owner sees <paramref name="err"/>.
    /// Linux leaves an orphan (SOCK_DEAD) alone, to not race with tcp_close(); with one stack lock
    /// there is no race, and an orphan whose timer or input just faulted may have nothing left that
    /// would ever finish it, so it is reset and destroyed too.
    /// </summary>
    /// <remarks>Mirrors tcp_abort().</remarks>
    public static int TcpAbort(TcpSock tp, int err)
    {
        if (tp.State == TcpState.Listen)
        {
            TcpSetState(tp, TcpState.Close);
            InetConnectionSock.InetCskListenStop(tp);
        }
        if (!tp.HasFlag(SockFlag.Dead))
        {
            if (TcpNeedReset(tp.State)) TcpOutput.TcpSendActiveReset(tp);
            TcpDoneWithError(tp, err);
        }
        else if (tp.State != TcpState.Close)
        {
            if (TcpNeedReset(tp.State)) TcpOutput.TcpSendActiveReset(tp);
            TcpWriteQueuePurge(tp);
            TcpDone(tp); // dead: destroys it
        }
        return 0;
    }

    /// <summary>
    /// True if a send-queue segment over a page can take more bytes in one piece: it is empty and
    /// the socket has a page with room, or its data end where the socket's page is filled up to.
    /// </summary>
    /// <remarks>Mirrors skb_can_coalesce() on sk_page_frag() in tcp_sendmsg_locked().</remarks>
    private static bool TcpFragCanAppend(TcpSock tp, SkBuff skb)
    {
        if (tp.SkFragPage is not { } page || page.Tailroom == 0) return false;
        if (skb.NrFrags == 0) return true;
        ref readonly var last = ref skb.Frags![skb.NrFrags - 1];
        return last.Page == page && last.Offset + last.Size == page.Tail;
    }

    /// <summary>Frees the unsent and the unacknowledged data, and the socket's page (sk_frag).</summary>
    /// <remarks>Mirrors tcp_write_queue_purge(); the page as sk_destruct() puts sk->sk_frag.page.</remarks>
    internal static void TcpWriteQueuePurge(TcpSock tp)
    {
        if (tp.SkFragPage is { } page)
        {
            tp.SkFragPage = null;
            page.Free();
        }
        while (tp.WriteQueue.Dequeue() is { } skb) TcpOutput.TcpWmemFreeSkb(tp, skb);
        while (tp.RtxQueue.Dequeue() is { } skb) TcpOutput.TcpWmemFreeSkb(tp, skb);
        tp.RetransmitSkbHint = null;
        tp.PacketsOut = 0;
        TcpInput.TcpClearRetrans(tp);
    }

    /// <summary>How long an orphaned FIN_WAIT_2 waits: TCP_LINGER2 or tcp_fin_timeout, at least 3.5 RTO.</summary>
    /// <remarks>Mirrors tcp_fin_time().</remarks>
    internal static long TcpFinTime(TcpSock tp)
    {
        long finTimeout = tp.Linger2Ms != 0 ? Time.Ms(tp.Linger2Ms) : Time.Ms(tp.Net.Ipv4.Sysctl.TcpFinTimeoutMs);
        long rto = tp.IcskRto;
        long min = (rto << 2) - (rto >> 1);
        return Math.Max(finTimeout, min);
    }

    // ---- stream memory ----

    /// <remarks>Mirrors __sk_stream_memory_free(): the send buffer has room, and TCP's own limit on unsent bytes (<paramref name="wake"/>: 1 when asked for a wakeup or poll).</remarks>
    internal static bool SkStreamMemoryFree(TcpSock tp, int wake = 0) => tp.WmemQueued < tp.SndBuf && TcpStreamMemoryFree(tp, wake);

    /// <remarks>Mirrors __sk_stream_is_writeable(sk, 1): free space at least a third of the buffer in use.</remarks>
    internal static bool SkStreamIsWriteable(TcpSock tp) =>
        tp.SndBuf - tp.WmemQueued >= tp.WmemQueued / 2 && SkStreamMemoryFree(tp, 1);

    /// <summary>
    /// TCP_NOTSENT_LOWAT: the socket takes more data (and polls writable) only while its unsent
    /// bytes (doubled for a wakeup) stay below the limit.
    /// </summary>
    /// <remarks>Mirrors tcp_stream_memory_free() with tcp_notsent_lowat() (net.ipv4.tcp_notsent_lowat is UINT_MAX: no limit by default).</remarks>
    internal static bool TcpStreamMemoryFree(TcpSock tp, int wake)
    {
        uint lowat = tp.NotsentLowat != 0 ? tp.NotsentLowat : uint.MaxValue;
        uint notsentBytes = tp.WriteSeq - tp.SndNxt;
        return (notsentBytes << wake) < lowat;
    }

    private static void SetNospace(TcpSock tp)
    {
        if (tp.Socket is { } sock) sock.Flags |= 1L << BsdSocket.SockNospace;
    }

    /// <summary>Waits until the handshake completes (or fails).</summary>
    /// <remarks>Mirrors sk_stream_wait_connect().</remarks>
    private static int SkStreamWaitConnect(TcpSock tp, ref long timeo)
    {
        while (true)
        {
            int err = tp.SockError();
            if (err != 0) return err;
            if (!TcpStateF.Is(tp.State, TcpStateF.SynSent | TcpStateF.SynRecv)) return -Errno.EPIPE;
            if (timeo == 0) return -Errno.EAGAIN;
            int w = SockWait.SkWaitEvent(tp, ref timeo, static s =>
                s.Err != 0 || TcpStateF.Is(s.State, TcpStateF.Established | TcpStateF.CloseWait) ||
                !TcpStateF.Is(s.State, TcpStateF.SynSent | TcpStateF.SynRecv));
            if (w == -Errno.EINTR) return w;
            if (tp.Err == 0 && TcpStateF.Is(tp.State, TcpStateF.Established | TcpStateF.CloseWait)) return 0;
        }
    }

    /// <summary>Waits for send-buffer space. -EPIPE on error/shutdown, -EAGAIN on timeout.</summary>
    /// <remarks>Mirrors sk_stream_wait_memory().</remarks>
    private static int SkStreamWaitMemory(TcpSock tp, ref long timeo)
    {
        while (true)
        {
            if (tp.Err != 0 || (tp.Shutdown & SEND_SHUTDOWN) != 0) return -Errno.EPIPE;
            if (timeo == 0)
            {
                SetNospace(tp);
                return -Errno.EAGAIN;
            }
            if (SkStreamMemoryFree(tp)) return 0;
            SetNospace(tp);
            int w = SockWait.SkWaitEvent(tp, ref timeo, Sock.PollOutKey | Sock.PollEndKey, exclusive: false, static s =>
                s.Err != 0 || (s.Shutdown & SEND_SHUTDOWN) != 0 || SkStreamMemoryFree((TcpSock)s));
            if (w == -Errno.EINTR) return w;
        }
    }

    /// <remarks>Mirrors sk_stream_error(): EPIPE becomes the pending error if there is one.</remarks>
    private static int SkStreamError(TcpSock tp, int err)
    {
        if (err == -Errno.EPIPE)
        {
            int e = tp.SockError();
            if (e != 0) err = e;
        }
        return err;
    }

    // ---- send ----

    /// <remarks>Mirrors forced_push(): push when more than half the largest window is unpushed.</remarks>
    private static bool ForcedPush(TcpSock tp) => SeqNumber.After(tp.WriteSeq, tp.PushedSeq + (tp.MaxWindow >> 1));

    /// <remarks>Mirrors tcp_mark_push().</remarks>
    private static void TcpMarkPush(TcpSock tp, SkBuff skb)
    {
        skb.Cb.TcpFlags |= TcpFlags.PSH;
        tp.PushedSeq = tp.WriteSeq;
    }

    /// <summary>MSG_OOB: the urgent pointer moves to the end of what was written (BSD's reading: the byte after the last urgent one).</summary>
    /// <remarks>Mirrors tcp_mark_urg().</remarks>
    private static void TcpMarkUrg(TcpSock tp, int flags)
    {
        if ((flags & MSG_OOB) != 0) tp.SndUp = tp.WriteSeq;
    }

    /// <remarks>Mirrors tcp_push().</remarks>
    private static void TcpPush(TcpSock tp, int flags, uint mssNow, int nonagle)
    {
        var skb = tp.WriteQueue.Last;
        if (skb is null) return;
        if ((flags & MSG_MORE) == 0 || ForcedPush(tp)) TcpMarkPush(tp, skb);
        TcpMarkUrg(tp, flags);
        if ((flags & MSG_MORE) != 0) nonagle = TcpSock.TcpNagleCork;
        TcpOutput.TcpPushPendingFrames(tp, mssNow, nonagle);
    }

    /// <summary>Restarts cwnd after an idle period longer than the RTO (RFC 5681 4.1).</summary>
    /// <remarks>Mirrors tcp_slow_start_after_idle_check() / tcp_cwnd_restart().</remarks>
    private static void TcpSlowStartAfterIdleCheck(TcpSock tp)
    {
        if (!tp.Net.Ipv4.Sysctl.TcpSlowStartAfterIdle || tp.PacketsOut != 0 || tp.CaOps.HasCongControl) return;
        long delta = tp.Net.NowNs - (long)tp.LsndTimeMs * Time.NsPerMs;
        if (delta <= tp.IcskRto || tp.LsndTimeMs == 0) return;
        tp.CaOps.CwndEvent(tp, TcpCaEvent.CwndRestart);
        uint restartCwnd = Math.Min(TcpSock.TcpInitCwnd, tp.SndCwnd);
        uint cwnd = tp.SndCwnd;
        tp.SndSsthresh = Math.Max(tp.SndSsthresh, (cwnd >> 1) + (cwnd >> 2));
        long n = delta / Math.Max(1, tp.IcskRto);
        while (n-- > 0 && cwnd > restartCwnd) cwnd >>= 1;
        tp.SndCwnd = Math.Max(cwnd, restartCwnd);
        tp.SndCwndStamp = tp.TcpClockNs;
    }

    /// <summary>
    /// Copies user data into segments of at most one MSS on the write queue and pushes them out
    /// as Nagle, the peer's window and cwnd allow. Blocks (SO_SNDTIMEO) while the handshake is
    /// pending or the send buffer is full, unless MSG_DONTWAIT / O_NONBLOCK. Returns the bytes
    /// queued, or -EPIPE / -EAGAIN / the pending error.
    /// </summary>
    /// <remarks>Mirrors tcp_sendmsg() -> tcp_sendmsg_locked().</remarks>
    public static int TcpSendmsg(TcpSock tp, ref MsgHdr msg, ReadOnlySpan<byte> data)
    {
        int copiedSyn = 0;
        if ((msg.Flags & MSG_FASTOPEN) != 0 || tp.DeferConnect)
        {
            int ferr = TcpFastopen.TcpSendmsgFastopen(tp, ref msg, data, out copiedSyn);
            if (ferr == -Errno.EINPROGRESS && copiedSyn > 0) return copiedSyn;
            if (ferr != 0) return copiedSyn > 0 ? copiedSyn : SkStreamError(tp, ferr);
            if (copiedSyn == data.Length) return copiedSyn;
            data = data[copiedSyn..];
        }
        int sent = TcpSendmsgLocked(tp, ref msg, data);
        if (copiedSyn == 0) return sent;
        return sent > 0 ? sent + copiedSyn : copiedSyn;
    }

    /// <remarks>Mirrors tcp_sendmsg_locked() after its Fast Open part.</remarks>
    private static int TcpSendmsgLocked(TcpSock tp, ref MsgHdr msg, ReadOnlySpan<byte> data)
    {
        int flags = msg.Flags;
        long timeo = tp.SockSndTimeo((flags & MSG_DONTWAIT) != 0);
        int err;
        int copied = 0;
        TcpInput.TcpRateCheckAppLimited(tp); // is sending application-limited?
        // A Fast Open child may send before the handshake ends (tcp_passive_fastopen()).
        if (!TcpStateF.Is(tp.State, TcpStateF.Established | TcpStateF.CloseWait) && tp.FastopenRsk is null)
        {
            err = SkStreamWaitConnect(tp, ref timeo);
            if (err != 0) goto outErr;
        }
        uint mssNow = TcpOutput.TcpCurrentMss(tp);
        int sizeGoal = (int)mssNow;
        // tcp_send_mss(): with TSO the kernel fills skbs up to size_goal (about 64 KiB) and pushes
        // per size_goal; here buffers stay one MSS and the push waits for size_goal of unsent data.
        int xmitGoal = TcpOffload.TcpXmitSizeGoal(tp, mssNow, (flags & MSG_OOB) == 0);
        err = -Errno.EPIPE;
        if (tp.Err != 0 || (tp.Shutdown & SEND_SHUTDOWN) != 0) goto doError;
        TcpSlowStartAfterIdleCheck(tp);

        int left = data.Length;
        while (left > 0)
        {
            var skb = tp.WriteQueue.Last;
            int copy = 0;
            if (skb is not null && (skb.Cb.TcpFlags & TcpFlags.FIN) == 0)
            {
                copy = sizeGoal - skb.Len;
                // A segment over the socket's page grows only where the page is filled up to (skb_can_coalesce()).
                if (skb.Frags is not null && copy > 0 && !TcpFragCanAppend(tp, skb)) copy = 0;
            }
            if (copy <= 0)
            {
                if (!SkStreamMemoryFree(tp)) goto waitForSpace;
                // The first buffer of an empty socket is always granted, whatever tcp_mem says
                // (first_skb: tcp_rtx_and_write_queues_empty()).
                bool firstSkb = tp.WriteQueue.IsEmpty && tp.RtxQueue.IsEmpty;
                skb = TcpOffload.TcpSendPageFrags(tp) ? TcpOutput.TcpStreamAllocFragSkb(tp, firstSkb, sizeGoal) : null;
                skb ??= TcpOutput.TcpStreamAllocSkb(tp, firstSkb);
                if (skb is null) goto waitForSpace;
                skb.Cb.Seq = skb.Cb.EndSeq = tp.WriteSeq;
                skb.Cb.TcpFlags = TcpFlags.ACK;
                skb.Cb.Sacked = 0;
                TcpOutput.TcpWmemCharge(tp, skb);
                tp.WriteQueue.EnqueueTail(skb);
                copy = sizeGoal;
            }
            if (copy > left) copy = left;
            if (skb!.Frags is not null)
            {
                // Into the socket's page; the segment's fragment grows over the new bytes.
                var page = tp.SkFragPage!;
                copy = Math.Min(copy, page.Tailroom);
                int off = page.Tail;
                data.Slice(copied, copy).CopyTo(page.Put(copy));
                skb.AddFragCoalesce(page, off, copy);
            }
            else
            {
                copy = Math.Min(copy, skb.Tailroom);
                data.Slice(copied, copy).CopyTo(skb.Put(copy));
            }
            tp.WriteQueue.AdjustBytes(copy);
            if (copied == 0) skb.Cb.TcpFlags &= unchecked((byte)~TcpFlags.PSH);
            tp.WriteSeq += (uint)copy;
            skb.Cb.EndSeq += (uint)copy;
            copied += copy;
            left -= copy;
            if (left == 0) goto outPush;
            // An urgent send goes out whole at the end, once tcp_push() has set the urgent pointer.
            if (skb.Len < sizeGoal || (flags & MSG_OOB) != 0) continue;
            if (ForcedPush(tp))
            {
                TcpMarkPush(tp, skb);
                TcpOutput.TcpPushPendingFrames(tp, mssNow, TcpSock.TcpNaglePush);
            }
            else if (xmitGoal == sizeGoal ? skb == tp.TcpSendHead : tp.TcpSendHead is { } head && tp.WriteSeq - head.Cb.Seq == (uint)xmitGoal)
            {
                // The unsent data just reached size_goal (one buffer without TSO): what the kernel's
                // tcp_push_one() sends as one skb.
                if (xmitGoal == sizeGoal) TcpOutput.TcpPushOne(tp, mssNow);
                else TcpOutput.TcpPushPendingFrames(tp, mssNow, TcpSock.TcpNaglePush);
            }
            continue;

        waitForSpace:
            SetNospace(tp);
            if (copied > 0) TcpPush(tp, flags & ~MSG_MORE, mssNow, TcpSock.TcpNaglePush);
            err = SkStreamWaitMemory(tp, ref timeo);
            if (err != 0) goto doError;
            mssNow = TcpOutput.TcpCurrentMss(tp);
            sizeGoal = (int)mssNow;
            xmitGoal = TcpOffload.TcpXmitSizeGoal(tp, mssNow, (flags & MSG_OOB) == 0);
        }
    outPush:
        if (copied > 0) TcpPush(tp, flags, mssNow, tp.Nonagle);
        return copied;

    doError:
        if (copied > 0) goto outPush;
    outErr:
        return SkStreamError(tp, err);
    }

    // ---- receive ----

    /// <summary>
    /// Sends a window update after the application read a lot, or the ACK a pushed segment was waiting for.
    /// </summary>
    /// <remarks>Mirrors tcp_cleanup_rbuf().</remarks>
    internal static void TcpCleanupRbuf(TcpSock tp, int copied)
    {
        bool timeToAck = false;
        if (tp.InetCskAckScheduled)
        {
            if (tp.RcvNxt - tp.RcvWup > (uint)tp.IcskAck.RcvMss ||
                (copied > 0 && ((tp.IcskAck.Pending & IcskAck.Pushed2) != 0 ||
                                ((tp.IcskAck.Pending & IcskAck.Pushed) != 0 && !tp.InetCskInPingpongMode)) &&
                 tp.RmemAlloc == 0))
                timeToAck = true;
        }
        if (copied > 0 && !timeToAck && (tp.Shutdown & RCV_SHUTDOWN) == 0)
        {
            uint rcvWindowNow = tp.TcpReceiveWindow;
            if (2 * rcvWindowNow <= tp.WindowClamp)
            {
                uint newWindow = TcpOutput.TcpSelectWindowRaw(tp);
                if (newWindow != 0 && newWindow >= 2 * rcvWindowNow) timeToAck = true;
            }
        }
        if (timeToAck) TcpOutput.TcpSendAck(tp);
    }

    /// <summary>
    /// Copies received bytes to the user: waits (SO_RCVTIMEO) for at least SO_RCVLOWAT bytes (all
    /// of them with MSG_WAITALL), stops at the FIN (0 = end of stream), leaves the data queued with
    /// MSG_PEEK, and discards it with MSG_TRUNC. Returns bytes, 0, -EAGAIN, -ENOTCONN or the
    /// pending error.
    /// </summary>
    /// <remarks>Mirrors tcp_recvmsg() -> tcp_recvmsg_locked().</remarks>
    public static int TcpRecvmsg(TcpSock tp, ref MsgHdr msg, Span<byte> buf, int flags)
    {
        msg.NameLen = 0;
        if ((flags & MSG_ERRQUEUE) != 0) return IpSockglue.IpRecvError(tp, ref msg, buf); // inet_recv_error()
        if (tp.State == TcpState.Listen) return -Errno.ENOTCONN;
        long timeo = tp.SockRcvTimeo((flags & MSG_DONTWAIT) != 0);
        if ((flags & MSG_OOB) != 0) return TcpRecvUrg(tp, ref msg, buf, flags);
        bool peek = (flags & MSG_PEEK) != 0;
        uint peekSeq = tp.CopiedSeq;
        int len = buf.Length;
        int target = (flags & MSG_WAITALL) != 0 ? len : Math.Min(tp.RcvLowat, len);
        int copied = 0;
        long tstamp = 0; // tcp_update_recv_tstamps(): the arrival of the last segment read from
        do
        {
            uint seq = peek ? peekSeq : tp.CopiedSeq;
            // At the urgent mark: stop if we have read anything (SIGURG is not modelled, so nothing else stops us).
            if (tp.UrgData != 0 && tp.UrgSeq == seq && copied > 0) break;
            SkBuff? found = null;
            int offset = 0;
            bool foundFin = false;
            for (var skb = tp.ReceiveQueue.First; skb is not null; skb = skb.Next)
            {
                offset = unchecked((int)(seq - skb.Cb.Seq));
                if (offset < skb.Len) { found = skb; break; }
                if ((skb.Cb.TcpFlags & TcpFlags.FIN) != 0) { found = skb; foundFin = true; break; }
            }
            if (found is not null && !foundFin)
            {
                int used = Math.Min(found.Len - offset, len);
                if (tp.UrgData != 0)
                {
                    // Urgent data here: the read ends before the mark, and the urgent byte itself is
                    // out of band (skipped) unless SO_OOBINLINE.
                    uint urgOffset = tp.UrgSeq - seq;
                    if (urgOffset < (uint)used)
                    {
                        if (urgOffset == 0)
                        {
                            if (!tp.HasFlag(SockFlag.UrgInline))
                            {
                                if (peek) peekSeq++; else tp.CopiedSeq++;
                                offset++;
                                used--;
                                if (used == 0) goto skipCopy;
                            }
                        }
                        else
                        {
                            used = (int)urgOffset;
                        }
                    }
                }
                if ((flags & MSG_TRUNC) == 0) found.DataSpan.Slice(offset, used).CopyTo(buf.Slice(copied, used));
                if (found.Tstamp != 0) tstamp = found.Tstamp;
                if (peek) peekSeq += (uint)used; else tp.CopiedSeq += (uint)used;
                copied += used;
                len -= used;
                if (!peek) TcpInput.TcpRcvSpaceAdjust(tp);
            skipCopy:
                if (tp.UrgData != 0 && SeqNumber.After(tp.CopiedSeq, tp.UrgSeq)) tp.UrgData = 0;
                if (used + offset < found.Len) continue;
                if ((found.Cb.TcpFlags & TcpFlags.FIN) != 0)
                {
                    foundFin = true;
                }
                else
                {
                    if (!peek) TcpEatRecvSkb(tp, found);
                    continue;
                }
            }
            if (foundFin)
            {
                if (peek) peekSeq++; else tp.CopiedSeq++;
                if (!peek) TcpEatRecvSkb(tp, found!);
                break;
            }
            // Nothing more to copy now.
            if (copied >= target) break;
            if (copied > 0)
            {
                if (timeo == 0 || tp.Err != 0 || tp.State == TcpState.Close || (tp.Shutdown & RCV_SHUTDOWN) != 0) break;
            }
            else
            {
                if (tp.HasFlag(SockFlag.Done)) break;
                if (tp.Err != 0) { copied = tp.SockError(); break; }
                if ((tp.Shutdown & RCV_SHUTDOWN) != 0) break;
                if (tp.State == TcpState.Close) { copied = -Errno.ENOTCONN; break; }
                if (timeo == 0) { copied = -Errno.EAGAIN; break; }
            }
            TcpCleanupRbuf(tp, copied);
            var last = tp.ReceiveQueue.Last;
            uint lastEnd = last?.Cb.EndSeq ?? 0;
            int w = SockWait.SkWaitEvent(tp, ref timeo, Sock.PollInKey | Sock.PollEndKey, false, (last, lastEnd), static (s, st) =>
                s.ReceiveQueue.Last != st.last || (st.last is not null && st.last.Cb.EndSeq != st.lastEnd) ||
                s.Err != 0 || (s.Shutdown & RCV_SHUTDOWN) != 0 || s.State == TcpState.Close);
            if (w == -Errno.EINTR)
            {
                if (copied == 0) copied = w;
                break;
            }
        } while (len > 0);
        if (copied > 0 || !peek) TcpCleanupRbuf(tp, Math.Max(copied, 0));
        // tcp_recv_timestamp(): SO_TIMESTAMP* reports when the last segment read arrived.
        if (copied >= 0 && tstamp != 0 && tp.HasFlag(SockFlag.RcvTstamp)) SockTimestamp.PutTimestamp(ref msg, tp, tstamp);
        // TCP_INQ: what is left to read after this call (1 at the end of the stream with nothing left).
        if (copied >= 0 && tp.RecvmsgInq)
        {
            int inq = TcpInqHint(tp);
            Span<byte> v = stackalloc byte[sizeof(int)];
            BinaryPrimitives.WriteInt32LittleEndian(v, inq);
            Scm.PutCmsg(ref msg, SOL_TCP, TCP_CM_INQ, v);
        }
        return copied;
    }

    /// <remarks>Mirrors tcp_inq_hint().</remarks>
    internal static int TcpInqHint(TcpSock tp)
    {
        int inq = unchecked((int)(tp.RcvNxt - tp.CopiedSeq));
        if (inq < 0) inq = 0;
        if (inq == 0 && tp.HasFlag(SockFlag.Done)) inq = 1;
        return inq;
    }

    /// <summary>
    /// recv(MSG_OOB): the urgent byte, once (MSG_PEEK leaves it); never blocks. -EINVAL with
    /// SO_OOBINLINE or when no urgent byte is pending or it was read; -EAGAIN while the byte the
    /// urgent pointer names has not arrived; 0 after the connection or its receive side closed.
    /// </summary>
    /// <remarks>Mirrors tcp_recv_urg().</remarks>
    private static int TcpRecvUrg(TcpSock tp, ref MsgHdr msg, Span<byte> buf, int flags)
    {
        if (tp.HasFlag(SockFlag.UrgInline) || tp.UrgData == 0 || tp.UrgData == TcpSock.TcpUrgRead)
            return -Errno.EINVAL; // (the kernel's own comment: "Yes this is right !")
        if (tp.State == TcpState.Close && !tp.HasFlag(SockFlag.Done)) return -Errno.ENOTCONN;
        if ((tp.UrgData & TcpSock.TcpUrgValid) != 0)
        {
            byte c = (byte)tp.UrgData;
            if ((flags & MSG_PEEK) == 0) tp.UrgData = TcpSock.TcpUrgRead;
            msg.Flags |= MSG_OOB;
            if (buf.Length > 0)
            {
                if ((flags & MSG_TRUNC) == 0) buf[0] = c;
                return 1;
            }
            msg.Flags |= MSG_TRUNC;
            return 0;
        }
        if (tp.State == TcpState.Close || (tp.Shutdown & RCV_SHUTDOWN) != 0) return 0;
        // BSD semantics: recv(MSG_OOB) never blocks, whatever the socket's blocking mode.
        return -Errno.EAGAIN;
    }

    /// <remarks>Mirrors tcp_eat_recv_skb(): the buffer goes to the softirq cache (skb_attempt_defer_free() -> napi_skb_cache_put()), where the next receive batch finds it.</remarks>
    private static void TcpEatRecvSkb(TcpSock tp, SkBuff skb)
    {
        tp.ReceiveQueue.Unlink(skb);
        tp.SkbRfree(skb);
        tp.Net.SkbCache.Consume(skb);
    }

    // ---- close ----

    private static readonly TcpState[] s_newState =
    {
        TcpState.Close,      // 0 (invalid)
        TcpState.FinWait1,   // ESTABLISHED (+FIN)
        TcpState.Close,      // SYN_SENT
        TcpState.FinWait1,   // SYN_RECV (+FIN)
        TcpState.FinWait1,   // FIN_WAIT1
        TcpState.FinWait2,   // FIN_WAIT2
        TcpState.Close,      // TIME_WAIT
        TcpState.Close,      // CLOSE
        TcpState.LastAck,    // CLOSE_WAIT (+FIN)
        TcpState.LastAck,    // LAST_ACK
        TcpState.Close,      // LISTEN
        TcpState.Closing,    // CLOSING
        TcpState.Close,      // NEW_SYN_RECV
        TcpState.Close,      // BOUND_INACTIVE
    };

    /// <summary>Moves to the next state of a close; true if a FIN must be sent.</summary>
    /// <remarks>Mirrors tcp_close_state() and its new_state[] table.</remarks>
    internal static bool TcpCloseState(TcpSock tp)
    {
        var cur = tp.State;
        var next = s_newState[(int)cur];
        TcpSetState(tp, next);
        return cur is TcpState.Established or TcpState.SynRecv or TcpState.CloseWait;
    }

    /// <summary>shutdown(SHUT_WR): send a FIN if the state allows.</summary>
    /// <remarks>Mirrors tcp_shutdown().</remarks>
    public static void TcpShutdown(TcpSock tp, int how)
    {
        if ((how & SEND_SHUTDOWN) == 0) return;
        if (TcpStateF.Is(tp.State, TcpStateF.Established | TcpStateF.SynSent | TcpStateF.SynRecv | TcpStateF.CloseWait))
        {
            if (TcpCloseState(tp)) TcpOutput.TcpSendFin(tp);
        }
    }

    /// <remarks>Mirrors tcp_need_reset().</remarks>
    private static bool TcpNeedReset(TcpState state) =>
        TcpStateF.Is(state, TcpStateF.Established | TcpStateF.CloseWait | TcpStateF.FinWait1 | TcpStateF.FinWait2 | TcpStateF.SynRecv);

    /// <summary>
    /// close(): a listener stops (resetting unaccepted children); unread data aborts with RST
    /// (RFC 2525 2.17); SO_LINGER 0 aborts; otherwise a FIN, a wait up to the linger time, and the
    /// socket lives on as an orphan until the FIN states finish (FIN_WAIT_2 as a TIME_WAIT sock).
    /// </summary>
    /// <remarks>Mirrors tcp_close() -> __tcp_close().</remarks>
    public static void TcpClose(TcpSock tp, long timeout)
    {
        var net = tp.Net;
        tp.Shutdown = SHUTDOWN_MASK;
        if (tp.State == TcpState.Listen)
        {
            TcpSetState(tp, TcpState.Close);
            InetConnectionSock.InetCskListenStop(tp);
            goto adjudgeToDeath;
        }
        // Flush what the application never read.
        int dataWasUnread = 0;
        while (tp.ReceiveQueue.Dequeue() is { } skb)
        {
            uint len = skb.Cb.EndSeq - skb.Cb.Seq;
            if ((skb.Cb.TcpFlags & TcpFlags.FIN) != 0) len--;
            dataWasUnread += (int)len;
            tp.SkbFreeDatagram(skb);
        }
        if (tp.State == TcpState.Close) goto adjudgeToDeath;
        if (dataWasUnread != 0)
        {
            // Unread data was tossed: zap the connection.
            net.Mib.TcpExt[LinuxMib.TCPAbortOnClose]++;
            TcpSetState(tp, TcpState.Close);
            TcpOutput.TcpSendActiveReset(tp);
        }
        else if (tp.HasFlag(SockFlag.Linger) && tp.LingerTime == 0)
        {
            // SO_LINGER with a zero time: abort (checked after the unread data).
            tp.Prot.Disconnect(tp, 0);
            net.Mib.TcpExt[LinuxMib.TCPAbortOnData]++;
        }
        else if (TcpCloseState(tp))
        {
            TcpOutput.TcpSendFin(tp);
        }
        SkStreamWaitClose(tp, timeout);

    adjudgeToDeath:
        var state = tp.State;
        tp.Orphan();
        net.Ipv4.TcpOrphanCount++;
        if (tp.State == TcpState.FinWait2)
        {
            if (tp.Linger2Ms < 0)
            {
                TcpSetState(tp, TcpState.Close);
                TcpOutput.TcpSendActiveReset(tp);
                net.Mib.TcpExt[LinuxMib.TCPAbortOnLinger]++;
            }
            else
            {
                long tmo = TcpFinTime(tp);
                long twLen = Time.Ms(net.Ipv4.Sysctl.TcpTimewaitLenMs);
                if (tmo > twLen)
                {
                    tp.InetCskResetKeepaliveTimer(tmo - twLen);
                }
                else
                {
                    TcpMinisocks.TcpTimeWait(tp, TcpState.FinWait2, tmo);
                    return;
                }
            }
        }
        _ = state;
        if (tp.State != TcpState.Close && TcpMemory.TcpCheckOom(tp, 0))
        {
            // Too many orphans, or TCP is out of memory: no graceful close for this one.
            TcpSetState(tp, TcpState.Close);
            TcpOutput.TcpSendActiveReset(tp);
            net.Mib.TcpExt[LinuxMib.TCPAbortOnMemory]++;
        }
        if (tp.State == TcpState.Close) InetConnectionSock.InetCskDestroySock(tp);
        // Otherwise the socket is reprieved until the protocol closes it.
    }

    /// <summary>SO_LINGER: wait until the FIN is acknowledged (or the time runs out).</summary>
    /// <remarks>Mirrors sk_stream_wait_close().</remarks>
    private static void SkStreamWaitClose(TcpSock tp, long timeout)
    {
        if (timeout == 0) return;
        SockWait.SkWaitEvent(tp, ref timeout, static s => !TcpStateF.Is(s.State, TcpStateF.FinWait1 | TcpStateF.Closing | TcpStateF.LastAck));
    }

    /// <summary>
    /// connect(AF_UNSPEC) and the abort paths: back to CLOSE, resetting the peer if the
    /// connection was synchronized, and clearing all connection state (the port stays if bound).
    /// </summary>
    /// <remarks>Mirrors tcp_disconnect().</remarks>
    public static int TcpDisconnect(TcpSock tp, int flags)
    {
        var oldState = tp.State;
        if (oldState != TcpState.Close) TcpSetState(tp, TcpState.Close);
        if (oldState == TcpState.Listen)
        {
            InetConnectionSock.InetCskListenStop(tp);
        }
        else if (TcpNeedReset(oldState) || (tp.SndNxt != tp.WriteSeq && TcpStateF.Is(oldState, TcpStateF.Closing | TcpStateF.LastAck)))
        {
            TcpOutput.TcpSendActiveReset(tp);
            tp.Err = Errno.ECONNRESET;
        }
        else if (oldState == TcpState.SynSent)
        {
            tp.Err = Errno.ECONNRESET;
        }
        TcpTimer.TcpClearXmitTimers(tp);
        tp.PurgeReceiveQueue();
        tp.CopiedSeq = tp.RcvNxt;
        TcpFastopen.TcpFreeFastopenReq(tp);
        tp.DeferConnect = false;
        tp.FastopenClientFail = 0;
        tp.SynFastopen = tp.SynFastopenExp = tp.SynData = tp.SynDataAcked = false;
        tp.UrgData = 0;
        TcpWriteQueuePurge(tp);
        while (tp.OutOfOrderQueue.Dequeue() is { } skb) tp.SkbFreeDatagram(skb);
        tp.OooLastSkb = null;
        tp.InetDport = 0;
        // inet_reset_saddr(): an AF_INET6 sock forgets its v6 source too.
        if ((tp.UserLocks & Sock.SockBindaddrLock) == 0) tp.InetResetSaddr();
        tp.Shutdown = 0;
        tp.ResetFlag(SockFlag.Done);
        tp.SrttUs = 0;
        tp.MdevUs = (uint)(TcpTimer.TcpTimeoutInit(tp.Net) / 1000);
        uint seq = tp.WriteSeq + tp.MaxWindow + 2;
        if (seq == 0) seq = 1;
        tp.WriteSeq = seq;
        tp.IcskBackoff = 0;
        tp.IcskProbesOut = 0;
        tp.IcskProbesTstamp = 0;
        tp.IcskRto = TcpTimer.TcpTimeoutInit(tp.Net);
        tp.SndSsthresh = TcpCong.InfiniteSsthresh;
        tp.SndCwnd = TcpSock.TcpInitCwnd;
        tp.SndCwndCnt = 0;
        tp.IsCwndLimited = false;
        tp.MaxPacketsOut = 0;
        tp.WindowClamp = 0;
        tp.Delivered = 0;
        tp.DeliveredCe = 0;
        tp.Lost = 0;
        tp.AppLimited = 0;
        tp.RateAppLimited = false;
        tp.RateDelivered = 0;
        tp.RateIntervalUs = 0;
        tp.TcpWstampNs = 0;
        tp.EcnFlags = 0;
        tp.Rack = TcpRack.Initial;
        tp.ReordSeen = 0;
        tp.DsackDups = 0;
        tp.RttMin = default;
        tp.TlpHighSeq = 0;
        tp.TlpRetrans = false;
        tp.Frto = false;
        tp.Reordering = (uint)tp.Net.Ipv4.Sysctl.TcpReordering;
        TcpInput.TcpSetCaState(tp, TcpCaState.Open);
        TcpInput.TcpClearRetrans(tp);
        tp.TotalRetrans = 0;
        tp.InetCskDelackInit();
        tp.IcskAck.RcvMss = TcpSock.TcpMinMss;
        tp.RxOpt = default;
        tp.DstReset();
        tp.SegsIn = tp.SegsOut = 0;
        tp.BytesSent = tp.BytesAcked = tp.BytesReceived = tp.BytesRetrans = 0;
        tp.DataSegsIn = tp.DataSegsOut = tp.RcvOoopack = 0;
        tp.TotalRto = tp.TotalRtoRecoveries = 0;
        tp.RetransOut = tp.SackedOut = 0;
        tp.LastOowAckTime = 0;
        tp.ErrorReport();
        return 0;
    }

    // ---- poll ----

    /// <summary>The poll mask of a TCP socket.</summary>
    /// <remarks>Mirrors tcp_poll().</remarks>
    public static int TcpPoll(BsdSocket sock)
    {
        var sk = sock.Sk;
        if (sk is null) return POLLNVAL;
        var tp = (TcpSock)sk;
        var state = tp.State;
        if (state == TcpState.Listen) return tp.AcceptQueue.Empty ? 0 : POLLIN | POLLRDNORM;
        int mask = 0;
        int shutdown = tp.Shutdown;
        if (shutdown == SHUTDOWN_MASK || state == TcpState.Close) mask |= POLLHUP;
        if ((shutdown & RCV_SHUTDOWN) != 0) mask |= POLLIN | POLLRDNORM | POLLRDHUP;
        if (state != TcpState.SynSent && state != TcpState.SynRecv)
        {
            int target = Math.Max(1, tp.RcvLowat);
            // At the mark with the urgent byte out of band: that byte alone does not make the socket readable.
            if (tp.UrgData != 0 && tp.UrgSeq == tp.CopiedSeq && !tp.HasFlag(SockFlag.UrgInline)) target++;
            int avail = unchecked((int)(tp.RcvNxt - tp.CopiedSeq));
            if (avail > 0 && (avail >= target || tp.TcpReceiveWindow <= (uint)tp.IcskAck.RcvMss)) mask |= POLLIN | POLLRDNORM;
            if ((shutdown & SEND_SHUTDOWN) == 0)
            {
                if (SkStreamIsWriteable(tp))
                {
                    mask |= POLLOUT | POLLWRNORM;
                }
                else
                {
                    sock.Flags |= 1L << BsdSocket.SockNospace;
                    if (SkStreamIsWriteable(tp)) mask |= POLLOUT | POLLWRNORM;
                }
            }
            else
            {
                mask |= POLLOUT | POLLWRNORM;
            }
            if ((tp.UrgData & TcpSock.TcpUrgValid) != 0) mask |= POLLPRI;
        }
        if (tp.Err != 0 || !tp.ErrorQueue.IsEmpty) mask |= POLLERR;
        return mask;
    }

    // ---- ioctl and options ----

    /// <summary>SIOCINQ (bytes to read), SIOCATMARK (at the urgent mark), SIOCOUTQ (bytes not yet acknowledged), SIOCOUTQNSD (not yet sent).</summary>
    /// <remarks>Mirrors tcp_ioctl().</remarks>
    public static int TcpIoctl(TcpSock tp, int cmd, out int karg)
    {
        karg = 0;
        switch (cmd)
        {
            case SIOCINQ:
                if (tp.State == TcpState.Listen) return -Errno.EINVAL;
                karg = TcpStateF.Is(tp.State, TcpStateF.SynSent | TcpStateF.SynRecv) ? 0 : tp.TcpInq;
                return 0;
            case SIOCATMARK:
                karg = tp.UrgData != 0 && tp.UrgSeq == tp.CopiedSeq ? 1 : 0;
                return 0;
            case SIOCOUTQ:
                if (tp.State == TcpState.Listen) return -Errno.EINVAL;
                karg = TcpStateF.Is(tp.State, TcpStateF.SynSent | TcpStateF.SynRecv) ? 0 : unchecked((int)(tp.WriteSeq - tp.SndUna));
                return 0;
            case SIOCOUTQNSD:
                if (tp.State == TcpState.Listen) return -Errno.EINVAL;
                karg = TcpStateF.Is(tp.State, TcpStateF.SynSent | TcpStateF.SynRecv) ? 0 : unchecked((int)(tp.WriteSeq - tp.SndNxt));
                return 0;
            default:
                return -Errno.ENOIOCTLCMD;
        }
    }

    /// <summary>setsockopt(SOL_TCP, ...); other levels go to IP.</summary>
    /// <remarks>Mirrors tcp_setsockopt() -> do_tcp_setsockopt().</remarks>
    /// <summary>TCP_TIMEOUT_INIT and TCP_RTO_MAX in seconds, the units of TCP_DEFER_ACCEPT's conversion.</summary>
    private const int TcpTimeoutInitSec = 1, TcpRtoMaxSec = 120;

    /// <summary>Seconds to the number of retransmissions (with exponential backoff from <paramref name="timeout"/>, capped at <paramref name="rtoMax"/>) that cover them, at most 255.</summary>
    /// <remarks>Mirrors net/ipv4/tcp.c: secs_to_retrans().</remarks>
    internal static int SecsToRetrans(int seconds, int timeout, int rtoMax)
    {
        int res = 0;
        if (seconds > 0)
        {
            int period = timeout;
            res = 1;
            while (seconds > period && res < 255)
            {
                res++;
                timeout <<= 1;
                if (timeout > rtoMax) timeout = rtoMax;
                period += timeout;
            }
        }
        return res;
    }

    /// <summary>The seconds <paramref name="retrans"/> retransmissions take (the inverse of <see cref="SecsToRetrans"/>).</summary>
    /// <remarks>Mirrors net/ipv4/tcp.c: retrans_to_secs().</remarks>
    internal static int RetransToSecs(int retrans, int timeout, int rtoMax)
    {
        int period = 0;
        if (retrans > 0)
        {
            period = timeout;
            while (--retrans > 0)
            {
                timeout <<= 1;
                if (timeout > rtoMax) timeout = rtoMax;
                period += timeout;
            }
        }
        return period;
    }

    /// <summary>SO_RCVLOWAT on a TCP socket.</summary>
    /// <remarks>Mirrors net/ipv4/tcp.c: tcp_set_rcvlowat().</remarks>
    public static int TcpSetRcvlowat(TcpSock tp, int val)
    {
        // Capped at half of what the receive buffer may grow to: a larger low-water mark could
        // never be reached, and poll/recv would wait for ever.
        int cap = (tp.UserLocks & Sock.SockRcvbufLock) != 0 ? tp.RcvBuf >> 1 : tp.Net.Ipv4.Sysctl.TcpRmemMax >> 1;
        val = Math.Min(val, cap);
        tp.RcvLowat = val != 0 ? val : 1;
        // tcp_data_ready(): the new mark may make queued data readable now.
        if (unchecked((int)(tp.RcvNxt - tp.CopiedSeq)) >= tp.RcvLowat) tp.DataReady();
        if ((tp.UserLocks & Sock.SockRcvbufLock) != 0) return 0;
        // Grow the buffer so that the window can hold the mark.
        int space = TcpOutput.TcpSpaceFromWin(tp, val);
        if (space > tp.RcvBuf)
        {
            tp.RcvBuf = space;
            tp.WindowClamp = (uint)val;
        }
        return 0;
    }

    /// <summary>setsockopt(SOL_TCP, ...).</summary>
    public static int TcpSetsockopt(TcpSock tp, int level, int optname, ReadOnlySpan<byte> optval)
    {
        if (level != SOL_TCP) return IpSockglue.IpSetsockopt(tp, level, optname, optval);
        if (optname == TCP_CONGESTION)
        {
            if (optval.Length < 1) return -Errno.EINVAL;
            var raw = optval[..Math.Min(optval.Length, TcpCong.NameMax)];
            int nul = raw.IndexOf((byte)0);
            if (nul >= 0) raw = raw[..nul];
            return TcpCong.TcpSetCongestionControl(tp, Encoding.ASCII.GetString(raw));
        }
        if (optname == TCP_FASTOPEN_KEY)
        {
            // A primary key, or a primary and a backup (for rotation).
            if (optval.Length != TcpFastopen.KeyLength && optval.Length != TcpFastopen.KeyBufLength) return -Errno.EINVAL;
            return TcpFastopen.TcpFastopenResetCipher(tp.Net, tp, optval[..TcpFastopen.KeyLength],
                optval.Length == TcpFastopen.KeyBufLength ? optval[TcpFastopen.KeyLength..] : default);
        }
        if (optval.Length < sizeof(int)) return -Errno.EINVAL;
        int val = BinaryPrimitives.ReadInt32LittleEndian(optval);
        switch (optname)
        {
            case TCP_SYNCNT:
                if (val < 1 || val > MaxTcpSyncnt) return -Errno.EINVAL;
                tp.IcskSynRetries = val;
                return 0;
            case TCP_USER_TIMEOUT:
                if (val < 0) return -Errno.EINVAL;
                tp.IcskUserTimeout = val;
                return 0;
            case TCP_FASTOPEN:
                if (val >= 0 && TcpStateF.Is(tp.State, TcpStateF.Close | TcpStateF.Listen))
                {
                    TcpFastopen.TcpFastopenInitKeyOnce(tp.Net);
                    FastopenQueueTune(tp, val);
                    return 0;
                }
                return -Errno.EINVAL;
            case TCP_FASTOPEN_CONNECT:
                if (val > 1 || val < 0) return -Errno.EINVAL;
                if ((tp.Net.Ipv4.Sysctl.TcpFastopen & TcpFastopen.TfoClientEnable) == 0) return -Errno.EOPNOTSUPP;
                if (tp.State != TcpState.Close) return -Errno.EINVAL;
                tp.FastopenConnect = val != 0;
                return 0;
            case TCP_FASTOPEN_NO_COOKIE:
                if (val > 1 || val < 0) return -Errno.EINVAL;
                if (!TcpStateF.Is(tp.State, TcpStateF.Close | TcpStateF.Listen)) return -Errno.EINVAL;
                tp.FastopenNoCookie = val != 0;
                return 0;
            case TCP_KEEPINTVL:
                if (val < 1 || val > MaxTcpKeepintvl) return -Errno.EINVAL;
                tp.KeepaliveIntvlMs = val * 1000;
                return 0;
            case TCP_KEEPCNT:
                if (val < 1 || val > MaxTcpKeepcnt) return -Errno.EINVAL;
                tp.KeepaliveProbes = val;
                return 0;
            case TCP_LINGER2:
                if (val < 0) tp.Linger2Ms = -1;
                else if (val > TcpFinTimeoutMaxMs / 1000) tp.Linger2Ms = TcpFinTimeoutMaxMs;
                else tp.Linger2Ms = val * 1000;
                return 0;
            case TCP_DEFER_ACCEPT:
                // Kept as a number of SYN-ACK retransmissions, as the kernel keeps it: getsockopt
                // answers the seconds those take, so 2 reads back as 3 (1 + 2).
                tp.DeferAccept = SecsToRetrans(val, TcpTimeoutInitSec, TcpRtoMaxSec);
                return 0;
            case TCP_MAXSEG:
                if (val != 0 && (val < TcpSock.TcpMinMss || val > TcpSock.MaxTcpWindow)) return -Errno.EINVAL;
                tp.RxOpt.UserMss = (ushort)val;
                return 0;
            case TCP_NODELAY:
                if (val != 0)
                {
                    tp.Nonagle |= TcpSock.TcpNagleOff | TcpSock.TcpNaglePush;
                    TcpOutput.TcpPushPendingFrames(tp);
                }
                else
                {
                    tp.Nonagle &= ~TcpSock.TcpNagleOff;
                }
                return 0;
            case TCP_CORK:
                if (val != 0)
                {
                    tp.Nonagle |= TcpSock.TcpNagleCork;
                }
                else
                {
                    tp.Nonagle &= ~TcpSock.TcpNagleCork;
                    if ((tp.Nonagle & TcpSock.TcpNagleOff) != 0) tp.Nonagle |= TcpSock.TcpNaglePush;
                    TcpOutput.TcpPushPendingFrames(tp);
                }
                return 0;
            case TCP_KEEPIDLE:
                if (val < 1 || val > MaxTcpKeepidle) return -Errno.EINVAL;
                tp.KeepaliveTimeMs = val * 1000;
                if (tp.HasFlag(SockFlag.KeepOpen) && !TcpStateF.Is(tp.State, TcpStateF.Close | TcpStateF.Listen))
                {
                    long elapsed = TcpTimer.KeepaliveTimeElapsed(tp);
                    long when = TcpTimer.KeepaliveTimeWhen(tp);
                    tp.InetCskResetKeepaliveTimer(when > elapsed ? when - elapsed : 0);
                }
                return 0;
            case TCP_WINDOW_CLAMP:
                if (val == 0)
                {
                    if (tp.State != TcpState.Close) return -Errno.EINVAL;
                    tp.WindowClamp = 0;
                    return 0;
                }
                TcpSetWindowClamp(tp, val);
                return 0;
            case TCP_NOTSENT_LOWAT:
                tp.NotsentLowat = (uint)val;
                tp.WriteSpace(); // sk->sk_write_space(sk): a higher limit may wake a writer
                return 0;
            case TCP_INQ:
                if (val > 1 || val < 0) return -Errno.EINVAL;
                tp.RecvmsgInq = val != 0;
                return 0;
            case TCP_SAVE_SYN:
                // 0: disable, 1: enable, 2: start from ether_header.
                if (val < 0 || val > 2) return -Errno.EINVAL;
                tp.SaveSyn = (byte)val;
                return 0;
            case TCP_QUICKACK:
                if (val != 0)
                {
                    tp.InetCskExitPingpongMode();
                    if (TcpStateF.Is(tp.State, TcpStateF.Established | TcpStateF.CloseWait) && tp.InetCskAckScheduled)
                    {
                        tp.IcskAck.Pending |= IcskAck.Pushed;
                        TcpCleanupRbuf(tp, 1);
                        if ((val & 1) == 0) tp.InetCskEnterPingpongMode();
                    }
                }
                else
                {
                    tp.InetCskEnterPingpongMode();
                }
                return 0;
            default:
                return -Errno.ENOPROTOOPT;
        }
    }

    /// <summary>The listener's Fast Open limit: pending Fast Open children, at most somaxconn.</summary>
    /// <remarks>Mirrors fastopen_queue_tune() (net/ipv4/tcp_fastopen.c).</remarks>
    internal static void FastopenQueueTune(TcpSock tp, int backlog) =>
        tp.AcceptQueue.FastopenqMaxQlen = (int)Math.Min((uint)backlog, (uint)tp.Net.SysctlSomaxconn);

    /// <summary>
    /// Sets window_clamp (at least half of SOCK_MIN_RCVBUF). A smaller clamp pulls rcv_ssthresh
    /// down with it; a larger one lets rcv_ssthresh grow to what is already offered.
    /// </summary>
    /// <remarks>Mirrors tcp_set_window_clamp() (val != 0) with __tcp_adjust_rcv_ssthresh(); no SO_RESERVE_MEM here.</remarks>
    internal static void TcpSetWindowClamp(TcpSock tp, int val)
    {
        uint oldClamp = tp.WindowClamp;
        uint newClamp = (uint)Math.Max(val, Sock.SockMinRcvbuf / 2);
        if (newClamp == oldClamp) return;
        tp.WindowClamp = newClamp;
        if (newClamp < oldClamp) tp.RcvSsthresh = Math.Min(tp.RcvSsthresh, newClamp);
        else tp.RcvSsthresh = Math.Max(Math.Min(tp.RcvWnd, tp.WindowClamp), tp.RcvSsthresh);
    }

    /// <summary>getsockopt(SOL_TCP, ...); other levels go to IP.</summary>
    /// <remarks>Mirrors tcp_getsockopt() -> do_tcp_getsockopt().</remarks>
    public static int TcpGetsockopt(TcpSock tp, int level, int optname, Span<byte> optval, ref int optlen)
    {
        if (level != SOL_TCP) return IpSockglue.IpGetsockopt(tp, level, optname, optval, ref optlen);
        int len = optlen;
        if (len < 0) return -Errno.EINVAL;
        int val;
        var sys = tp.Net.Ipv4.Sysctl;
        switch (optname)
        {
            case TCP_MAXSEG:
                val = (int)tp.MssCache;
                if (tp.RxOpt.UserMss != 0 && TcpStateF.Is(tp.State, TcpStateF.Close | TcpStateF.Listen)) val = tp.RxOpt.UserMss;
                break;
            case TCP_NODELAY: val = (tp.Nonagle & TcpSock.TcpNagleOff) != 0 ? 1 : 0; break;
            case TCP_CORK: val = (tp.Nonagle & TcpSock.TcpNagleCork) != 0 ? 1 : 0; break;
            case TCP_KEEPIDLE: val = (int)(TcpTimer.KeepaliveTimeWhen(tp) / Time.NsPerSec); break;
            case TCP_KEEPINTVL: val = (int)(TcpTimer.KeepaliveIntvlWhen(tp) / Time.NsPerSec); break;
            case TCP_KEEPCNT: val = TcpTimer.KeepaliveProbes(tp); break;
            case TCP_SYNCNT: val = tp.IcskSynRetries != 0 ? tp.IcskSynRetries : sys.TcpSynRetries; break;
            case TCP_LINGER2:
                val = tp.Linger2Ms;
                if (val >= 0) val = (val != 0 ? val : sys.TcpFinTimeoutMs) / 1000;
                break;
            case TCP_DEFER_ACCEPT: val = RetransToSecs(tp.DeferAccept, TcpTimeoutInitSec, TcpRtoMaxSec); break;
            case TCP_WINDOW_CLAMP: val = (int)tp.WindowClamp; break;
            case TCP_QUICKACK: val = tp.InetCskInPingpongMode ? 0 : 1; break;
            case TCP_USER_TIMEOUT: val = tp.IcskUserTimeout; break;
            case TCP_FASTOPEN: val = tp.AcceptQueue.FastopenqMaxQlen; break;
            case TCP_FASTOPEN_CONNECT: val = tp.FastopenConnect ? 1 : 0; break;
            case TCP_FASTOPEN_NO_COOKIE: val = tp.FastopenNoCookie ? 1 : 0; break;
            case TCP_FASTOPEN_KEY:
            {
                // Up to two keys; copies min(len, what there is) and reports that length.
                Span<byte> key = stackalloc byte[TcpFastopen.KeyBufLength];
                int keyLen = TcpFastopen.TcpFastopenGetCipher(tp.Net, tp, key) * TcpFastopen.KeyLength;
                len = (int)Math.Min((uint)len, (uint)keyLen);
                key[..len].CopyTo(optval);
                optlen = len;
                return 0;
            }
            case TCP_NOTSENT_LOWAT: val = (int)tp.NotsentLowat; break;
            case TCP_INQ: val = tp.RecvmsgInq ? 1 : 0; break;
            case TCP_SAVE_SYN: val = tp.SaveSyn; break;
            case TCP_SAVED_SYN:
            {
                // Read once: a short buffer learns the length it needs (-EINVAL), a long one takes the headers and frees them.
                if (tp.SavedSyn is { } syn)
                {
                    optlen = syn.Length;
                    if (len < syn.Length) return -Errno.EINVAL;
                    syn.CopyTo(optval);
                    tp.SavedSyn = null;
                    return 0;
                }
                optlen = 0;
                return 0;
            }
            case TCP_INFO:
            {
                // copy min(len, sizeof(struct tcp_info)) and report that length, as Linux does.
                Span<byte> info = stackalloc byte[TcpInfoSize];
                TcpGetInfo(tp, info);
                len = Math.Min(len, TcpInfoSize);
                info[..len].CopyTo(optval);
                optlen = len;
                return 0;
            }
            case TCP_CC_INFO:
            {
                // The algorithm's get_info with every bit asked (~0); one without get_info copies nothing.
                var caOps = tp.CaOps;
                TcpCcInfo ccInfo = default;
                int sz = 0;
                if (caOps is not null) sz = caOps.GetInfo(tp, ~0u, out _, ref ccInfo);
                len = Math.Min(len, sz);
                TcpCcInfo.AsBytes(ref ccInfo)[..len].CopyTo(optval);
                optlen = len;
                return 0;
            }
            case TCP_CONGESTION:
            {
                // TCP_CA_NAME_MAX bytes at most, NUL-padded.
                len = Math.Min(len, TcpCong.NameMax + 1);
                Span<byte> name = stackalloc byte[TcpCong.NameMax + 1];
                name.Clear();
                Encoding.ASCII.GetBytes(tp.CaOps.Name, name);
                name[..len].CopyTo(optval);
                optlen = len;
                return 0;
            }
            default:
                return -Errno.ENOPROTOOPT;
        }
        len = Math.Min(len, sizeof(int));
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(b, val);
        b[..len].CopyTo(optval);
        optlen = len;
        return 0;
    }

    // ---- TCP_INFO ----

    /// <summary>
    /// sizeof(struct tcp_info) as Linux 6.18 defines it: through tcpi_total_rto_time (248 bytes, 6.7),
    /// then the Accurate ECN counters (tcpi_received_ce, tcpi_delivered_e1/e0/ce_bytes,
    /// tcpi_received_e1/e0/ce_bytes, tcpi_accecn_fail_mode, tcpi_accecn_opt_seen).
    /// </summary>
    internal const int TcpInfoSize = 280;
    /// <summary>tcpi_options bits (TCPI_OPT_*).</summary>
    internal const byte TcpiOptTimestamps = 1, TcpiOptSack = 2, TcpiOptWscale = 4, TcpiOptEcn = 8, TcpiOptEcnSeen = 16, TcpiOptSynData = 32;
    /// <summary>
    /// Fills <paramref name="info"/> (at least <see cref="TcpInfoSize"/> bytes) with struct tcp_info in
    /// Linux's layout (little-endian, as on x86-64 and arm64) and field meanings. Fields the stack keeps
    /// no state for are 0: tcpi_fackets and tcpi_last_ack_sent (0 in Linux too), tcpi_busy_time,
    /// tcpi_rwnd_limited and tcpi_sndbuf_limited (no chrono stats), tcpi_rehash (no PLB), tcpi_total_rto_time, and the Accurate
    /// ECN fields after it (RFC 3168 ECN only). tcpi_pacing_rate and tcpi_max_pacing_rate are
    /// sk_pacing_rate and SO_MAX_PACING_RATE; tcpi_delivery_rate is the last rate sample worth
    /// reporting (tcp_rate.c). Allocation-free.
    /// </summary>
    /// <remarks>Mirrors net/ipv4/tcp.c: tcp_get_info().</remarks>
    internal static void TcpGetInfo(TcpSock tp, Span<byte> info)
    {
        info[..TcpInfoSize].Clear();
        if (tp.Type != SOCK_STREAM) return;
        var state = tp.State;
        info[0] = (byte)state;
        W64(info, 104, tp.PacingRate);
        W64(info, 112, tp.MaxPacingRate);
        W32(info, 88, tp.Reordering);
        W32(info, 80, tp.SndCwnd);
        if (state == TcpState.Listen)
        {
            // Listeners alias tcpi_unacked (children ready for accept) and tcpi_sacked (max backlog).
            W32(info, 24, (uint)tp.AckBacklog);
            W32(info, 28, (uint)tp.MaxAckBacklog);
            return;
        }
        info[1] = (byte)tp.CaState;
        info[2] = (byte)Math.Min(tp.IcskRetransmits, 255);
        info[3] = (byte)Math.Min(tp.IcskProbesOut, 255);
        info[4] = (byte)Math.Min(tp.IcskBackoff, 255);
        byte options = 0;
        if (tp.RxOpt.TstampOk) options |= TcpiOptTimestamps;
        if (tp.TcpIsSack) options |= TcpiOptSack;
        if (tp.RxOpt.WscaleOk)
        {
            options |= TcpiOptWscale;
            info[6] = (byte)((tp.RxOpt.SndWscale & 0xf) | ((tp.RxOpt.RcvWscale & 0xf) << 4));
        }
        if ((tp.EcnFlags & TcpSock.TcpEcnOk) != 0) options |= TcpiOptEcn;
        if ((tp.EcnFlags & TcpSock.TcpEcnSeen) != 0) options |= TcpiOptEcnSeen;
        if (tp.SynDataAcked) options |= TcpiOptSynData;
        info[5] = options;
        if (tp.RateAppLimited) info[7] |= 1; // tcpi_delivery_rate_app_limited
        info[7] |= (byte)((tp.FastopenClientFail & 3) << 1); // tcpi_fastopen_client_fail:2
        var sys = tp.Net.Ipv4.Sysctl;
        long now = tp.Net.NowNs;
        W32(info, 8, (uint)(tp.IcskRto / 1000));
        W32(info, 12, (uint)(Math.Min(tp.IcskAck.Ato, Time.Ms(sys.TcpDelackMaxMs)) / 1000));
        W32(info, 16, tp.MssCache);
        W32(info, 20, (uint)tp.IcskAck.RcvMss);
        W32(info, 24, tp.PacketsOut);
        W32(info, 28, tp.SackedOut);
        W32(info, 32, tp.LostOut);
        W32(info, 36, tp.RetransOut);
        W32(info, 44, unchecked(tp.TcpClockMs - tp.LsndTimeMs));
        W32(info, 52, (uint)((now - tp.IcskAck.Lrcvtime) / 1_000_000));
        W32(info, 56, (uint)((now - tp.RcvTstamp) / 1_000_000));
        W32(info, 60, (uint)tp.IcskPmtuCookie);
        W32(info, 64, tp.RcvSsthresh);
        W32(info, 68, tp.SrttUs >> 3);
        W32(info, 72, tp.MdevUs >> 2);
        W32(info, 76, tp.SndSsthresh);
        W32(info, 84, tp.Advmss);
        W32(info, 92, tp.RcvRttEstRttUs >> 3);
        W32(info, 96, (uint)tp.RcvqSpaceSpace);
        W32(info, 100, tp.TotalRetrans);
        W64(info, 120, tp.BytesAcked);
        W64(info, 128, tp.BytesReceived);
        W32(info, 136, tp.SegsOut);
        W32(info, 140, tp.SegsIn);
        W32(info, 144, (uint)Math.Max(0, unchecked((int)(tp.WriteSeq - tp.SndNxt))));
        W32(info, 148, tp.TcpMinRtt);
        W32(info, 152, tp.DataSegsIn);
        W32(info, 156, tp.DataSegsOut);
        // tcp_compute_delivery_rate()
        if (tp.RateDelivered != 0 && tp.RateIntervalUs != 0)
            W64(info, 160, (ulong)tp.RateDelivered * tp.MssCache * 1_000_000UL / tp.RateIntervalUs);
        W32(info, 192, tp.Delivered);
        W32(info, 196, tp.DeliveredCe);
        W64(info, 200, tp.BytesSent);
        W64(info, 208, tp.BytesRetrans);
        W32(info, 216, tp.DsackDups);
        W32(info, 220, tp.ReordSeen);
        W32(info, 224, tp.RcvOoopack);
        W32(info, 228, tp.SndWnd);
        W32(info, 232, tp.RcvWnd);
        BinaryPrimitives.WriteUInt16LittleEndian(info[240..], (ushort)Math.Min(tp.TotalRto, ushort.MaxValue));
        BinaryPrimitives.WriteUInt16LittleEndian(info[242..], (ushort)Math.Min(tp.TotalRtoRecoveries, ushort.MaxValue));

        static void W32(Span<byte> b, int off, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(b[off..], v);
        static void W64(Span<byte> b, int off, ulong v) => BinaryPrimitives.WriteUInt64LittleEndian(b[off..], v);
    }

}
