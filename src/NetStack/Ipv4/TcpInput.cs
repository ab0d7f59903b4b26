using System.Buffers.Binary;
using NetStack.Core;
using NetStack.Net;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Ipv4;

/// <summary>What one ACK's SACK blocks showed, for the RTT sample taken afterwards.</summary>
/// <remarks>Mirrors net/ipv4/tcp_input.c: struct tcp_sacktag_state (first_sackt, last_sackt).</remarks>
internal struct TcpSacktagState
{
    /// <summary>first_sackt: the earliest transmit time (ns) of the never-retransmitted segments newly SACKed (0: none).</summary>
    public long FirstSackt;
    /// <summary>last_sackt: the latest such transmit time (ns).</summary>
    public long LastSackt;
    /// <summary>
    /// sack_delivered: segments this ACK newly SACKed, plus the spurious retransmissions its D-SACK
    /// reports delivered; <c>tcp_ack()</c> counts them into <c>tp->delivered</c> after tagging.
    /// </summary>
    public uint SackDelivered;
}

/// <summary>
/// Segment arrival: the state machine (RFC 9293 3.10.7 "SEGMENT ARRIVES" as Linux implements it),
/// sequence and RST/SYN validation with RFC 5961 challenge ACKs, ACK processing with RTT
/// estimation (RFC 6298), congestion control and loss recovery (NewReno, or SACK with RFC 6675
/// loss marking), in-order and out-of-order data, FIN, delayed ACKs and window updates.
/// <remarks>Mirrors net/ipv4/tcp_input.c.</remarks>
/// </summary>
internal static class TcpInput
{
    // tcp_ack() flags (FLAG_*)
    internal const int FlagData = 0x01, FlagWinUpdate = 0x02, FlagDataAcked = 0x04, FlagRetransDataAcked = 0x08,
        FlagSynAcked = 0x10, FlagDataSacked = 0x20, FlagEce = 0x40, FlagLostRetrans = 0x80, FlagSlowpath = 0x100,
        FlagOrigSackAcked = 0x200, FlagSndUnaAdvanced = 0x400, FlagDsackingAck = 0x800, FlagSetXmitTimer = 0x1000,
        FlagSackReneging = 0x2000, FlagUpdateTsRecent = 0x4000, FlagNoChallengeAck = 0x8000, FlagAckMaybeDelayed = 0x10000, FlagDsackTlp = 0x20000;
    internal const int FlagAcked = FlagDataAcked | FlagSynAcked;
    internal const int FlagNotDup = FlagData | FlagWinUpdate | FlagAcked;
    internal const int FlagCaAlert = FlagDataSacked | FlagEce | FlagDsackingAck;
    internal const int FlagForwardProgress = FlagAcked | FlagDataSacked;

    /// <summary>TCP_ATO_MIN (HZ/25 = 40 ms).</summary>
    public static readonly long TcpAtoMin = Time.Ms(40);
    /// <summary>TCP_MAX_QUICKACKS.</summary>
    public const int TcpMaxQuickacks = 16;
    /// <summary>TCP_PAWS_MSL (60 s) and TCP_PAWS_WINDOW (1 tick).</summary>
    private static readonly long TcpPawsMsl = Time.Sec(60);
    private const int TcpPawsWindow = 1;
    /// <summary>TCP_RMEM_TO_WIN_SCALE: scaling_ratio is a fraction of 256.</summary>
    public const int TcpRmemToWinScale = 8;

    /// <summary>The TCP header of a received buffer (tcp_hdr(skb)), wherever skb.Data is now.</summary>
    public static TcpHeader TcpHdr(SkBuff skb) => TcpHeader.Create(skb.Buffer.AsSpan(skb.TransportHeader, skb.Tail - skb.TransportHeader));

    // ---- options, PAWS ----

    /// <summary>
    /// Reads the options of a segment with the connection's rules: MSS, window scale and
    /// SACK-permitted only on a SYN of a connection being set up (and only if enabled), timestamps
    /// when negotiated (or on a SYN, when enabled), SACK blocks when SACK was negotiated.
    /// </summary>
    /// <remarks>Mirrors tcp_parse_options().</remarks>
    public static void TcpParseOptions(NetNamespace net, TcpHeader th, ref TcpOptionsReceived rx, bool estab, out TcpSackBlocks sack)
    {
        var foc = TcpFastopenCookie.None;
        TcpParseOptions(net, th, ref rx, estab, out sack, ref foc, wantFoc: false);
    }

    /// <summary>As above, also reading a Fast Open cookie into <paramref name="foc"/> (only on a SYN, only when asked: tcp_parse_options()'s foc argument).</summary>
    /// <remarks>Mirrors tcp_parse_options() with foc.</remarks>
    public static void TcpParseOptions(NetNamespace net, TcpHeader th, ref TcpOptionsReceived rx, bool estab, out TcpSackBlocks sack,
        ref TcpFastopenCookie foc, bool wantFoc)
    {
        sack = default;
        rx.SawTstamp = false;
        if (th.DataOffset <= 5) return;
        TcpOptions.Parse(th.Options, out var o);
        if (o.SawFastopen && wantFoc && th.Syn) foc = o.Fastopen;
        var sys = net.Ipv4.Sysctl;
        bool syn = th.Syn;
        if (o.Mss != 0 && syn && !estab)
        {
            ushort inMss = o.Mss;
            if (rx.UserMss != 0 && rx.UserMss < inMss) inMss = rx.UserMss;
            rx.MssClamp = inMss;
        }
        if (o.WindowScale >= 0 && syn && !estab && sys.TcpWindowScaling)
        {
            rx.WscaleOk = true;
            rx.SndWscale = (byte)o.WindowScale;
        }
        if (o.SawTimestamp && ((estab && rx.TstampOk) || (!estab && sys.TcpTimestamps)))
        {
            rx.SawTstamp = true;
            rx.RcvTsval = o.TsVal;
            rx.RcvTsecr = o.TsEcr;
        }
        if (o.SackPermitted && syn && !estab && sys.TcpSack)
        {
            rx.SackOk = true;
            rx.NumSacks = 0;
            rx.Dsack = false;
        }
        if (o.Sack.Count > 0 && rx.SackOk) sack = o.Sack;
    }

    /// <summary>Options of a segment on a synchronized connection; the timestamp echo is corrected by our offset.</summary>
    /// <remarks>Mirrors tcp_fast_parse_options().</remarks>
    private static void TcpFastParseOptions(TcpSock tp, TcpHeader th)
    {
        TcpParseOptions(tp.Net, th, ref tp.RxOpt, true, out tp.RcvSack);
        if (tp.RxOpt.SawTstamp && tp.RxOpt.RcvTsecr != 0) tp.RxOpt.RcvTsecr -= tp.TsOffset;
    }

    /// <remarks>Mirrors tcp_paws_check().</remarks>
    private static bool TcpPawsCheck(NetNamespace net, in TcpOptionsReceived rx, int pawsWin)
    {
        if (unchecked((int)(rx.TsRecent - rx.RcvTsval)) <= pawsWin) return true;
        // The last timestamp is older than the 24-day wrap: cannot judge.
        if (net.NowNs - rx.TsRecentStamp >= Time.Sec(24L * 24 * 3600)) return true;
        // Some stacks send tsval 0 on the SYN and valid values after.
        if (rx.TsRecent == 0) return true;
        return false;
    }

    /// <summary>PAWS (RFC 7323 5): reject a segment with an older timestamp, except an RST after MSL.</summary>
    /// <remarks>Mirrors tcp_paws_reject().</remarks>
    internal static bool TcpPawsReject(NetNamespace net, in TcpOptionsReceived rx, bool rst)
    {
        if (TcpPawsCheck(net, in rx, 0)) return false;
        if (rst && net.NowNs - rx.TsRecentStamp >= TcpPawsMsl) return false;
        return true;
    }

    /// <summary>A duplicate pure ACK with an old timestamp reordered behind data is not a PAWS failure.</summary>
    /// <remarks>Mirrors tcp_disordered_ack().</remarks>
    private static bool TcpDisorderedAck(TcpSock tp, SkBuff skb)
    {
        var th = TcpHdr(skb);
        uint seq = skb.Cb.Seq, ack = skb.Cb.AckSeq;
        return th.Ack && seq == skb.Cb.EndSeq && seq == tp.RcvNxt &&
            ack == tp.SndUna &&
            !TcpMayUpdateWindow(tp, ack, seq, (uint)th.Window << tp.RxOpt.SndWscale) &&
            unchecked((int)(tp.RxOpt.TsRecent - tp.RxOpt.RcvTsval)) <= (int)(tp.IcskRto / Time.NsPerMs * 1024 / 1000);
    }

    /// <remarks>Mirrors tcp_paws_discard().</remarks>
    private static bool TcpPawsDiscard(TcpSock tp, SkBuff skb) =>
        !TcpPawsCheck(tp.Net, in tp.RxOpt, TcpPawsWindow) && !TcpDisorderedAck(tp, skb);

    /// <remarks>Mirrors tcp_store_ts_recent().</remarks>
    private static void TcpStoreTsRecent(TcpSock tp)
    {
        tp.RxOpt.TsRecent = tp.RxOpt.RcvTsval;
        tp.RxOpt.TsRecentStamp = tp.TcpClockNs;
    }

    /// <remarks>Mirrors tcp_replace_ts_recent().</remarks>
    private static void TcpReplaceTsRecent(TcpSock tp, uint seq)
    {
        if (tp.RxOpt.SawTstamp && !SeqNumber.After(seq, tp.RcvWup))
        {
            if (TcpPawsCheck(tp.Net, in tp.RxOpt, 0)) TcpStoreTsRecent(tp);
        }
    }

    // ---- rate limits and challenge ACKs ----

    /// <summary>True if an ACK answering an invalid segment must wait (tcp_invalid_ratelimit per socket).</summary>
    /// <remarks>Mirrors __tcp_oow_rate_limited().</remarks>
    internal static bool TcpOowRateLimited(NetNamespace net, ref long lastOowAckTime)
    {
        long now = net.NowNs;
        if (lastOowAckTime != 0)
        {
            long elapsed = now - lastOowAckTime;
            if (elapsed >= 0 && elapsed < Time.Ms(net.Ipv4.Sysctl.TcpInvalidRatelimitMs)) return true;
        }
        lastOowAckTime = now;
        return false;
    }

    /// <remarks>Mirrors tcp_oow_rate_limited(): data segments without SYN are never part of an ACK loop.</remarks>
    internal static bool TcpOowRateLimited(NetNamespace net, SkBuff skb, ref long lastOowAckTime)
    {
        if (skb.Cb.Seq != skb.Cb.EndSeq && (skb.Cb.TcpFlags & TcpFlags.SYN) == 0) return false;
        return TcpOowRateLimited(net, ref lastOowAckTime);
    }

    /// <summary>
    /// RFC 5961 challenge ACK: answers a suspicious RST or SYN with an ACK carrying our real
    /// sequence numbers, limited per socket and per namespace (tcp_challenge_ack_limit per second).
    /// </summary>
    /// <remarks>Mirrors tcp_send_challenge_ack(). The per-second budget is the limit itself (the kernel randomizes it).</remarks>
    public static void TcpSendChallengeAck(TcpSock tp)
    {
        var net = tp.Net;
        if (TcpOowRateLimited(net, ref tp.LastOowAckTime)) return;
        int limit = net.Ipv4.Sysctl.TcpChallengeAckLimit;
        if (limit != int.MaxValue)
        {
            long now = net.NowNs / Time.NsPerSec;
            if (now != net.Ipv4.TcpChallengeTimestamp)
            {
                net.Ipv4.TcpChallengeTimestamp = now;
                net.Ipv4.TcpChallengeCount = limit;
            }
            if (net.Ipv4.TcpChallengeCount <= 0) return;
            net.Ipv4.TcpChallengeCount--;
        }
        net.Mib.TcpExt[LinuxMib.TCPChallengeACK]++;
        TcpOutput.TcpSendAck(tp);
    }

    /// <summary>ACKs a segment that was not acceptable (with a D-SACK for duplicate data).</summary>
    /// <remarks>Mirrors tcp_send_dupack().</remarks>
    private static void TcpSendDupack(TcpSock tp, SkBuff skb)
    {
        if (skb.Cb.EndSeq != skb.Cb.Seq && SeqNumber.Before(skb.Cb.Seq, tp.RcvNxt))
        {
            tp.Net.Mib.TcpExt[LinuxMib.DelayedACKs]++;
            TcpEnterQuickackMode(tp, TcpMaxQuickacks);
            if (tp.TcpIsSack)
            {
                uint endSeq = skb.Cb.EndSeq;
                if (SeqNumber.After(endSeq, tp.RcvNxt)) endSeq = tp.RcvNxt;
                TcpDsackSet(tp, skb.Cb.Seq, endSeq);
            }
        }
        TcpOutput.TcpSendAck(tp);
    }

    // ---- delayed ACK engine ----

    /// <remarks>Mirrors tcp_incr_quickack().</remarks>
    private static void TcpIncrQuickack(TcpSock tp, int maxQuickacks)
    {
        int rcvMss = Math.Max(1, tp.IcskAck.RcvMss);
        int quickacks = (int)(tp.RcvWnd / (uint)(2 * rcvMss));
        if (quickacks == 0) quickacks = 2;
        quickacks = Math.Min(quickacks, maxQuickacks);
        if (quickacks > tp.IcskAck.Quick) tp.IcskAck.Quick = (byte)quickacks;
    }

    /// <remarks>Mirrors tcp_enter_quickack_mode().</remarks>
    internal static void TcpEnterQuickackMode(TcpSock tp, int maxQuickacks)
    {
        TcpIncrQuickack(tp, maxQuickacks);
        tp.InetCskExitPingpongMode();
        tp.IcskAck.Ato = TcpAtoMin;
    }

    /// <remarks>Mirrors tcp_in_quickack_mode().</remarks>
    private static bool TcpInQuickackMode(TcpSock tp) => tp.IcskAck.Quick != 0 && !tp.InetCskInPingpongMode;

    /// <remarks>Mirrors tcp_dec_quickack_mode().</remarks>
    internal static void TcpDecQuickackMode(TcpSock tp)
    {
        if (tp.IcskAck.Quick == 0) return;
        int pkts = tp.InetCskAckScheduled ? 1 : 0;
        if (pkts >= tp.IcskAck.Quick)
        {
            tp.IcskAck.Quick = 0;
            tp.IcskAck.Ato = TcpAtoMin;
        }
        else
        {
            tp.IcskAck.Quick -= (byte)pkts;
        }
    }

    /// <summary>Estimates the peer's MSS from what arrives (for delayed-ACK decisions) and the data/truesize ratio.</summary>
    /// <remarks>Mirrors tcp_measure_rcv_mss().</remarks>
    private static void TcpMeasureRcvMss(TcpSock tp, SkBuff skb)
    {
        int lss = tp.IcskAck.LastSegSize;
        tp.IcskAck.LastSegSize = 0;
        // A GSO super-frame says its segment size; its length would overstate the peer's MSS.
        int len = skb.GsoSize != 0 ? skb.GsoSize : skb.Len;
        if (len >= tp.IcskAck.RcvMss)
        {
            if (len != tp.IcskAck.RcvMss)
            {
                int val = (int)(((long)skb.Len << TcpRmemToWinScale) / SkbRcvTruesize(skb));
                int oldRatio = tp.ScalingRatio;
                tp.ScalingRatio = Math.Clamp(val, 1, 255);
                if (oldRatio != tp.ScalingRatio)
                {
                    // The buffer now holds a different window: the clamp follows it.
                    Tcp.TcpSetWindowClamp(tp, TcpOutput.TcpWinFromSpace(tp, tp.RcvBuf));
                    if (tp.WindowClamp < (uint)tp.RcvqSpaceSpace) tp.RcvqSpaceSpace = (int)tp.WindowClamp;
                }
            }
            tp.IcskAck.RcvMss = Math.Min(len, (int)tp.Advmss);
            if ((skb.Cb.TcpFlags & TcpFlags.PSH) != 0) tp.IcskAck.Pending |= IcskAck.Pushed;
        }
        else
        {
            len += skb.Data - skb.TransportHeader;
            if (len >= TcpSock.TcpMssDefault + TcpHeader.MinLength ||
                (len >= TcpSock.TcpMinMss + TcpHeader.MinLength && (skb.Cb.TcpFlags & (TcpFlags.PSH | TcpFlags.URG | TcpFlags.FIN | TcpFlags.RST | TcpFlags.SYN)) == 0))
            {
                len -= tp.TcpHeaderLen;
                tp.IcskAck.LastSegSize = len;
                if (len == lss)
                {
                    tp.IcskAck.RcvMss = len;
                    return;
                }
            }
            if ((tp.IcskAck.Pending & IcskAck.Pushed) != 0) tp.IcskAck.Pending |= IcskAck.Pushed2;
            tp.IcskAck.Pending |= IcskAck.Pushed;
        }
    }

    /// <remarks>Mirrors tcp_initialize_rcv_mss().</remarks>
    internal static void TcpInitializeRcvMss(TcpSock tp)
    {
        uint hint = Math.Min(tp.Advmss, tp.MssCache);
        hint = Math.Min(hint, tp.RcvWnd / 2);
        hint = Math.Min(hint, (uint)TcpSock.TcpMssDefault);
        hint = Math.Max(hint, (uint)TcpSock.TcpMinMss);
        tp.IcskAck.RcvMss = (int)hint;
    }

    /// <summary>Receiver-side RTT estimate without timestamps: one sample per window of data.</summary>
    /// <remarks>Mirrors tcp_rcv_rtt_measure() / tcp_rcv_rtt_update().</remarks>
    private static void TcpRcvRttMeasure(TcpSock tp)
    {
        long now = tp.TcpClockNs; // tp->tcp_mstamp
        if (tp.RcvRttEstTime == 0) goto newMeasure;
        if (SeqNumber.Before(tp.RcvNxt, tp.RcvRttEstSeq)) return;
        TcpRcvRttUpdate(tp, (uint)Math.Max(1, (now - tp.RcvRttEstTime) / 1000), true);
    newMeasure:
        tp.RcvRttEstSeq = tp.RcvNxt + tp.RcvWnd;
        tp.RcvRttEstTime = now;
    }

    private static void TcpRcvRttUpdate(TcpSock tp, uint sample, bool winDep)
    {
        uint newSample = tp.RcvRttEstRttUs;
        long m = sample;
        if (newSample != 0)
        {
            if (!winDep)
            {
                m -= newSample >> 3;
                newSample = (uint)(newSample + m);
            }
            else
            {
                m <<= 3;
                if (m < newSample) newSample = (uint)m;
            }
        }
        else
        {
            newSample = (uint)(m << 3);
        }
        tp.RcvRttEstRttUs = newSample;
    }

    /// <remarks>Mirrors tcp_rcv_rtt_measure_ts().</remarks>
    private static void TcpRcvRttMeasureTs(TcpSock tp, SkBuff skb)
    {
        if (tp.RxOpt.RcvTsecr == 0 || !tp.RxOpt.SawTstamp) return;
        if (skb.Cb.EndSeq - skb.Cb.Seq < (uint)tp.IcskAck.RcvMss) return;
        uint delta = tp.TcpClockMs - tp.RxOpt.RcvTsecr;
        if (delta < int.MaxValue / 1000) TcpRcvRttUpdate(tp, Math.Max(1, delta) * 1000, false);
    }

    /// <summary>
    /// Receive buffer auto-tuning: when the application drained more than the last estimate in one
    /// RTT, grow sk_rcvbuf (up to tcp_rmem[2]) so the window can follow the sender.
    /// </summary>
    /// <remarks>
    /// Mirrors tcp_rcv_space_adjust(). The time is the last cached tcp_mstamp (refreshed by every
    /// segment received), not a fresh clock read: recvmsg() calls this for every buffer it copies,
    /// and the cached value is enough for DRS. Linux does the same from 6.19 ("tcp: remove one
    /// ktime_get() from recvmsg() fast path"); here a clock read was 1.3% of the receive thread.
    /// </remarks>
    internal static void TcpRcvSpaceAdjust(TcpSock tp)
    {
        long rtt = (long)(tp.RcvRttEstRttUs >> 3) * 1000;
        if (rtt == 0) return;
        long now = tp.TcpClockCache;
        long time = now - tp.RcvqSpaceTime;
        if (time < rtt) return;
        int copied = unchecked((int)(tp.CopiedSeq - tp.RcvqSpaceSeq));
        if (copied <= tp.RcvqSpaceSpace) goto newMeasure;
        var sys = tp.Net.Ipv4.Sysctl;
        if (sys.TcpModerateRcvbuf && (tp.UserLocks & Sock.SockRcvbufLock) == 0)
        {
            int rcvwin = (copied << 1) + 16 * tp.Advmss;
            long rcvbuf = Math.Min(TcpOutput.TcpSpaceFromWin(tp, rcvwin), sys.TcpRmemMax);
            if (rcvbuf > tp.RcvBuf)
            {
                tp.RcvBuf = (int)rcvbuf;
                tp.WindowClamp = (uint)TcpOutput.TcpWinFromSpace(tp, tp.RcvBuf);
                tp.RcvSsthresh = Math.Max(tp.RcvSsthresh, Math.Min(tp.WindowClamp, (uint)rcvwin));
            }
        }
        tp.RcvqSpaceSpace = copied;
    newMeasure:
        tp.RcvqSpaceSeq = tp.CopiedSeq;
        tp.RcvqSpaceTime = now;
    }

    /// <summary>
    /// Grows rcv_ssthresh (the window's growth limit) as data arrives, but only by segments whose
    /// truesize the buffer could hold at this window: a sender of small segments in big buffers
    /// would otherwise be offered a window the memory cannot back.
    /// </summary>
    /// <remarks>Mirrors tcp_grow_window() (truesize_adjust() is a no-op: the stack's buffers are linear).</remarks>
    private static void TcpGrowWindow(TcpSock tp, SkBuff skb)
    {
        int room = (int)Math.Min(tp.WindowClamp, (uint)Math.Max(0, TcpOutput.TcpSpace(tp))) - (int)tp.RcvSsthresh;
        if (room <= 0) return;
        // Check #1: under memory pressure the window does not grow.
        if (TcpMemory.TcpUnderMemoryPressure(tp))
        {
            TcpMemory.TcpAdjustRcvSsthresh(tp);
            return;
        }
        int truesize = SkbRcvTruesize(skb);
        // Check #2: grow if a buffer with this overhead will fit the receive buffer in the future.
        int incr = TcpOutput.TcpWinFromSpace(tp, truesize) <= skb.Len ? 2 * tp.Advmss : TcpGrowWindowSlow(tp, skb, truesize);
        if (incr == 0) return;
        incr = Math.Max(incr, 2 * skb.Len);
        tp.RcvSsthresh += (uint)Math.Min(room, incr);
        tp.IcskAck.Quick |= 1;
    }

    /// <summary>skb->truesize of an arriving segment: what its driver set, else the buffer's charge.</summary>
    private static int SkbRcvTruesize(SkBuff skb) => skb.Truesize != 0 ? skb.Truesize : Sock.SkbTruesize(skb);

    /// <summary>
    /// A segment of poor len/truesize ratio: grow only while rcv_ssthresh is small enough that
    /// such segments, halving the ratio at each step, would still fill it.
    /// </summary>
    /// <remarks>Mirrors __tcp_grow_window().</remarks>
    private static int TcpGrowWindowSlow(TcpSock tp, SkBuff skb, int skbTruesize)
    {
        int truesize = TcpOutput.TcpWinFromSpace(tp, skbTruesize) >> 1;
        int window = TcpOutput.TcpWinFromSpace(tp, tp.Net.Ipv4.Sysctl.TcpRmemMax) >> 1;
        while (tp.RcvSsthresh <= (uint)window)
        {
            if (truesize <= skb.Len) return 2 * tp.IcskAck.RcvMss;
            truesize >>= 1;
            window >>= 1;
        }
        return 0;
    }

    /// <summary>In-order data arrived: schedule an ACK and adapt the delayed-ACK timeout to the arrival pattern.</summary>
    /// <remarks>Mirrors tcp_event_data_recv().</remarks>
    private static void TcpEventDataRecv(TcpSock tp, SkBuff skb)
    {
        tp.InetCskScheduleAck();
        TcpMeasureRcvMss(tp, skb);
        TcpRcvRttMeasure(tp);
        long now = tp.TcpClockNs; // tcp_jiffies32 in Linux: no clock read of its own
        if (tp.IcskAck.Ato == 0)
        {
            // The first data packet: initialize the delayed-ACK engine.
            TcpIncrQuickack(tp, TcpMaxQuickacks);
            tp.IcskAck.Ato = TcpAtoMin;
        }
        else
        {
            long m = now - tp.IcskAck.Lrcvtime;
            if (m <= TcpAtoMin / 2)
            {
                tp.IcskAck.Ato = (tp.IcskAck.Ato >> 1) + TcpAtoMin / 2;
            }
            else if (m < tp.IcskAck.Ato)
            {
                tp.IcskAck.Ato = (tp.IcskAck.Ato >> 1) + m;
                if (tp.IcskAck.Ato > tp.IcskRto) tp.IcskAck.Ato = tp.IcskRto;
            }
            else if (m > tp.IcskRto)
            {
                // The sender was idle too long: ACK quickly to restart its window.
                TcpIncrQuickack(tp, TcpMaxQuickacks);
            }
        }
        tp.IcskAck.Lrcvtime = now;
        TcpEcnCheckCe(tp, skb);
        if (skb.Len >= 128) TcpGrowWindow(tp, skb);
    }

    // ---- sequence validation ----

    /// <summary>RFC 9293 3.10.7.4 first check: the segment overlaps the receive window.</summary>
    /// <remarks>Mirrors tcp_sequence().</remarks>
    private static bool TcpSequence(TcpSock tp, uint seq, uint endSeq) =>
        !SeqNumber.Before(endSeq, tp.RcvWup) && !SeqNumber.After(seq, tp.RcvNxt + tp.TcpReceiveWindow);

    /// <summary>An RST at rcv_nxt - 1 after the peer's FIN (we are closing) is accepted.</summary>
    /// <remarks>Mirrors tcp_reset_check().</remarks>
    private static bool TcpResetCheck(TcpSock tp, SkBuff skb) =>
        skb.Cb.Seq == tp.RcvNxt - 1 && TcpStateF.Is(tp.State, TcpStateF.CloseWait | TcpStateF.LastAck | TcpStateF.Closing);

    /// <summary>
    /// The checks every segment of a synchronized connection passes first: PAWS, sequence number
    /// (unacceptable: ACK it, unless RST), RST (exactly rcv_nxt resets, in-window is answered
    /// with a challenge ACK: RFC 5961 3.2), SYN (a challenge ACK: RFC 5961 4.2).
    /// Returns false when the segment was consumed.
    /// </summary>
    /// <remarks>Mirrors tcp_validate_incoming().</remarks>
    private static bool TcpValidateIncoming(TcpSock tp, SkBuff skb, TcpHeader th, bool synInerr)
    {
        var net = tp.Net;
        SkbDropReason reason;
        TcpFastParseOptions(tp, th);
        if (tp.RxOpt.SawTstamp && TcpPawsDiscard(tp, skb))
        {
            if (!th.Rst)
            {
                if (th.Syn) goto synChallenge;
                if (!TcpOowRateLimited(net, skb, ref tp.LastOowAckTime)) TcpSendDupack(tp, skb);
                reason = SkbDropReason.TcpInvalidSequence;
                goto discard;
            }
            // A reset is accepted even if it did not pass PAWS.
        }
        // Step 1: check the sequence number.
        if (!TcpSequence(tp, skb.Cb.Seq, skb.Cb.EndSeq))
        {
            if (!th.Rst)
            {
                if (th.Syn) goto synChallenge;
                if (!TcpOowRateLimited(net, skb, ref tp.LastOowAckTime)) TcpSendDupack(tp, skb);
            }
            else if (TcpResetCheck(tp, skb))
            {
                goto reset;
            }
            reason = SkbDropReason.TcpInvalidSequence;
            goto discard;
        }
        // Step 2: check the RST bit.
        if (th.Rst)
        {
            if (skb.Cb.Seq == tp.RcvNxt || TcpResetCheck(tp, skb)) goto reset;
            if (tp.TcpIsSack && tp.RxOpt.NumSacks > 0)
            {
                // The right edge of the highest SACK block is as good as rcv_nxt.
                uint maxSack = tp.SelectiveAcks[0].End;
                for (int i = 1; i < tp.RxOpt.NumSacks; i++)
                    if (SeqNumber.After(tp.SelectiveAcks[i].End, maxSack)) maxSack = tp.SelectiveAcks[i].End;
                if (skb.Cb.Seq == maxSack) goto reset;
            }
            TcpSendChallengeAck(tp);
            reason = SkbDropReason.TcpResetAck;
            goto discard;
        }
        // Step 4: a SYN in a synchronized state gets a challenge ACK (RFC 5961 4.2), except the
        // retransmitted SYN-ACK of a crossed (simultaneous) open.
        if (th.Syn)
        {
            if (tp.State == TcpState.SynRecv && tp.Socket is not null && th.Ack &&
                skb.Cb.Seq + 1 == skb.Cb.EndSeq && skb.Cb.Seq + 1 == tp.RcvNxt && skb.Cb.AckSeq == tp.SndNxt)
                return true;
            goto synChallenge;
        }
        return true;

    synChallenge:
        if (synInerr) net.Mib.Tcp[TcpMib.InErrs]++;
        TcpSendChallengeAck(tp);
        reason = SkbDropReason.TcpFlags;
    discard:
        net.KfreeSkbReason(skb, reason);
        return false;
    reset:
        TcpReset(tp);
        skb.Free();
        return false;
    }

    /// <summary>The peer reset the connection: the error the application sees depends on the state.</summary>
    /// <remarks>Mirrors tcp_reset() / tcp_done_with_error().</remarks>
    public static void TcpReset(TcpSock tp)
    {
        int err;
        switch (tp.State)
        {
            case TcpState.SynSent: err = Errno.ECONNREFUSED; break;
            case TcpState.CloseWait: err = Errno.EPIPE; break;
            case TcpState.Close: return;
            default: err = Errno.ECONNRESET; break;
        }
        tp.Err = err;
        Tcp.TcpWriteQueuePurge(tp);
        Tcp.TcpDone(tp);
        if (!tp.HasFlag(SockFlag.Dead)) tp.ErrorReport();
    }

    // ---- FIN ----

    /// <summary>The peer's FIN is processed in order: no more data will come.</summary>
    /// <remarks>Mirrors tcp_fin().</remarks>
    internal static void TcpFin(TcpSock tp)
    {
        tp.InetCskScheduleAck();
        tp.Shutdown |= RCV_SHUTDOWN;
        tp.SetFlag(SockFlag.Done);
        switch (tp.State)
        {
            case TcpState.SynRecv:
            case TcpState.Established:
                Tcp.TcpSetState(tp, TcpState.CloseWait);
                tp.InetCskEnterPingpongMode();
                break;
            case TcpState.CloseWait:
            case TcpState.Closing:
            case TcpState.LastAck:
                break; // a retransmitted FIN: nothing to do
            case TcpState.FinWait1:
                // Simultaneous close: ACK the FIN and go to CLOSING.
                TcpOutput.TcpSendAck(tp);
                Tcp.TcpSetState(tp, TcpState.Closing);
                break;
            case TcpState.FinWait2:
                TcpOutput.TcpSendAck(tp);
                TcpMinisocks.TcpTimeWait(tp, TcpState.TimeWait, 0);
                break;
        }
        // Out-of-order data beyond the FIN cannot be valid.
        PurgeOfoQueue(tp);
        if (tp.TcpIsSack) tp.RxOpt.NumSacks = 0;
        if (!tp.HasFlag(SockFlag.Dead)) tp.StateChange();
    }

    private static void PurgeOfoQueue(TcpSock tp)
    {
        while (tp.OutOfOrderQueue.Dequeue() is { } skb) tp.SkbFreeDatagram(skb);
        tp.OooLastSkb = null;
    }

    // ---- SACK blocks we send ----

    /// <remarks>Mirrors tcp_sack_extend().</remarks>
    private static bool TcpSackExtend(ref SackBlock sp, uint seq, uint endSeq)
    {
        if (!SeqNumber.After(seq, sp.End) && !SeqNumber.After(sp.Start, endSeq))
        {
            uint s = sp.Start, e = sp.End;
            if (SeqNumber.Before(seq, s)) s = seq;
            if (SeqNumber.After(endSeq, e)) e = endSeq;
            sp = new SackBlock(s, e);
            return true;
        }
        return false;
    }

    /// <remarks>Mirrors tcp_dsack_set().</remarks>
    private static void TcpDsackSet(TcpSock tp, uint seq, uint endSeq)
    {
        if (!tp.TcpIsSack) return;
        tp.RxOpt.Dsack = true;
        tp.DuplicateSack = new SackBlock(seq, endSeq);
    }

    /// <remarks>Mirrors tcp_dsack_extend().</remarks>
    private static void TcpDsackExtend(TcpSock tp, uint seq, uint endSeq)
    {
        if (!tp.RxOpt.Dsack) TcpDsackSet(tp, seq, endSeq);
        else TcpSackExtend(ref tp.DuplicateSack, seq, endSeq);
    }

    /// <summary>Merges SACK blocks that the first one now overlaps.</summary>
    /// <remarks>Mirrors tcp_sack_maybe_coalesce().</remarks>
    private static void TcpSackMaybeCoalesce(TcpSock tp)
    {
        var sacks = tp.SelectiveAcks;
        for (int thisSack = 1; thisSack < tp.RxOpt.NumSacks;)
        {
            if (TcpSackExtend(ref sacks[0], sacks[thisSack].Start, sacks[thisSack].End))
            {
                tp.RxOpt.NumSacks--;
                for (int i = thisSack; i < tp.RxOpt.NumSacks; i++) sacks[i] = sacks[i + 1];
                continue;
            }
            thisSack++;
        }
    }

    /// <summary>Reports a new out-of-order block first (RFC 2018 4: the most recent block first).</summary>
    /// <remarks>Mirrors tcp_sack_new_ofo_skb().</remarks>
    private static void TcpSackNewOfoSkb(TcpSock tp, uint seq, uint endSeq)
    {
        var sacks = tp.SelectiveAcks;
        int curSacks = tp.RxOpt.NumSacks;
        int thisSack;
        if (curSacks == 0) goto newSack;
        for (thisSack = 0; thisSack < curSacks; thisSack++)
        {
            if (TcpSackExtend(ref sacks[thisSack], seq, endSeq))
            {
                for (; thisSack > 0; thisSack--) (sacks[thisSack], sacks[thisSack - 1]) = (sacks[thisSack - 1], sacks[thisSack]);
                if (curSacks > 1) TcpSackMaybeCoalesce(tp);
                return;
            }
        }
        if (thisSack >= TcpOpt.MaxSackBlocks)
        {
            thisSack--;
            tp.RxOpt.NumSacks--;
        }
        for (; thisSack > 0; thisSack--) sacks[thisSack] = sacks[thisSack - 1];
    newSack:
        sacks[0] = new SackBlock(seq, endSeq);
        tp.RxOpt.NumSacks++;
    }

    /// <summary>Drops the SACK blocks rcv_nxt has covered.</summary>
    /// <remarks>Mirrors tcp_sack_remove().</remarks>
    private static void TcpSackRemove(TcpSock tp)
    {
        if (tp.OutOfOrderQueue.IsEmpty)
        {
            tp.RxOpt.NumSacks = 0;
            return;
        }
        var sacks = tp.SelectiveAcks;
        int numSacks = tp.RxOpt.NumSacks;
        for (int thisSack = 0; thisSack < numSacks;)
        {
            if (!SeqNumber.Before(tp.RcvNxt, sacks[thisSack].Start))
            {
                for (int i = thisSack + 1; i < numSacks; i++) sacks[i - 1] = sacks[i];
                numSacks--;
                continue;
            }
            thisSack++;
        }
        tp.RxOpt.NumSacks = numSacks;
    }

    // ---- receive queues ----

    /// <summary>Appends a segment's bytes to the tail buffer of the receive queue if they fit (saves memory and truesize).</summary>
    /// <remarks>Mirrors tcp_try_coalesce().</remarks>
    private static bool TcpTryCoalesce(TcpSock tp, SkBuffQueue queue, SkBuff to, SkBuff from)
    {
        if (from.Cb.Seq != to.Cb.EndSeq) return false;
        if ((to.Cb.TcpFlags & TcpFlags.FIN) != 0) return false;
        int len = from.Len;
        if (to.Truesize != 0 && from.Truesize != 0 && to.Sk == tp) return TcpTryCoalesceCharged(tp, queue, to, from);
        if (len > to.Tailroom) return false;
        // A large buffer (a GSO super-frame) is charged by the bytes it holds, so growing it grows
        // its truesize: charge the difference, as skb_try_coalesce()'s delta is, or the uncharge at
        // free would exceed the charge and sk_rmem_alloc drift below zero.
        int truesize = Sock.SkbTruesize(to);
        from.DataSpan.CopyTo(to.Put(len));
        if (to.Sk == tp && Sock.SkbTruesize(to) - truesize is var delta and not 0)
        {
            tp.RmemAlloc += delta;
            tp.SkMemCharge(delta);
        }
        queue.AdjustBytes(len);
        to.Cb.EndSeq = from.Cb.EndSeq;
        to.Cb.AckSeq = from.Cb.AckSeq;
        to.Cb.TcpFlags |= from.Cb.TcpFlags;
        if (from.Tstamp != 0) to.Tstamp = from.Tstamp; // the merged bytes arrived with the later segment
        tp.Net.Mib.TcpExt[LinuxMib.TCPRcvCoalesce]++;
        return true;
    }

    /// <summary>
    /// Coalescing of buffers a driver charged (<see cref="SkBuff.Truesize"/>), so the receive queue
    /// is charged as the kernel's would be whatever the stack's buffers hold. The kernel copies a
    /// segment into the tail's tailroom for free; it cannot steal a slab-allocated head (tun's
    /// heads are kmalloc'ed: skb_head_is_locked()), so any other segment is queued, and charged,
    /// alone. Where the kernel copies but the stack's buffer is full, the segment is queued alone
    /// here, charged nothing, and takes over the rest of the kernel buffer's tailroom.
    /// </summary>
    /// <remarks>Mirrors the accounting of skb_try_coalesce() as tcp_try_coalesce() charges it.</remarks>
    private static bool TcpTryCoalesceCharged(TcpSock tp, SkBuffQueue queue, SkBuff to, SkBuff from)
    {
        int len = from.Len;
        if (len > to.KernelTailroom) return false;
        tp.Net.Mib.TcpExt[LinuxMib.TCPRcvCoalesce]++;
        if (len > to.Tailroom)
        {
            bool charged = from.Sk == tp;
            if (charged) tp.SkbUncharge(from);
            from.Charge = 0;
            from.KernelTailroom = to.KernelTailroom - len;
            to.KernelTailroom = 0;
            if (charged) tp.SkbCharge(from);
            return false;
        }
        to.KernelTailroom -= len;
        from.DataSpan.CopyTo(to.Put(len));
        queue.AdjustBytes(len);
        to.Cb.EndSeq = from.Cb.EndSeq;
        to.Cb.AckSeq = from.Cb.AckSeq;
        to.Cb.TcpFlags |= from.Cb.TcpFlags;
        return true;
    }

    /// <summary>Queues in-order data (coalescing into the tail when possible) and advances rcv_nxt. True if the buffer was eaten.</summary>
    /// <remarks>Mirrors tcp_queue_rcv().</remarks>
    private static bool TcpQueueRcv(TcpSock tp, SkBuff skb)
    {
        var tail = tp.ReceiveQueue.Last;
        bool eaten = tail is not null && TcpTryCoalesce(tp, tp.ReceiveQueue, tail, skb);
        TcpRcvNxtUpdate(tp, skb.Cb.EndSeq);
        if (!eaten)
        {
            if (skb.Sk != tp) tp.SkbSetOwnerR(skb);
            tp.ReceiveQueue.EnqueueTail(skb);
        }
        return eaten;
    }

    /// <remarks>Mirrors tcp_rcv_nxt_update().</remarks>
    private static void TcpRcvNxtUpdate(TcpSock tp, uint seq)
    {
        uint delta = seq - tp.RcvNxt;
        tp.BytesReceived += delta;
        tp.RcvNxt = seq;
    }

    /// <summary>Moves out-of-order segments that rcv_nxt has reached to the receive queue.</summary>
    /// <remarks>Mirrors tcp_ofo_queue().</remarks>
    private static void TcpOfoQueue(TcpSock tp)
    {
        uint dsackHigh = tp.RcvNxt;
        var ofo = tp.OutOfOrderQueue;
        while (ofo.First is { } skb)
        {
            if (SeqNumber.After(skb.Cb.Seq, tp.RcvNxt)) break;
            if (SeqNumber.Before(skb.Cb.Seq, dsackHigh))
            {
                uint dsack = dsackHigh;
                if (SeqNumber.Before(skb.Cb.EndSeq, dsackHigh)) dsackHigh = skb.Cb.EndSeq;
                TcpDsackExtend(tp, skb.Cb.Seq, dsack);
            }
            ofo.Unlink(skb);
            if (skb == tp.OooLastSkb) tp.OooLastSkb = ofo.Last;
            if (!SeqNumber.After(skb.Cb.EndSeq, tp.RcvNxt))
            {
                tp.Net.Mib.Drops[SkbDropReason.TcpOfoDrop]++;
                tp.SkbFreeDatagram(skb);
                continue;
            }
            bool fin = (skb.Cb.TcpFlags & TcpFlags.FIN) != 0;
            var tail = tp.ReceiveQueue.Last;
            bool eaten = tail is not null && TcpTryCoalesce(tp, tp.ReceiveQueue, tail, skb);
            TcpRcvNxtUpdate(tp, skb.Cb.EndSeq);
            if (!eaten) tp.ReceiveQueue.EnqueueTail(skb);
            else tp.SkbFreeDatagram(skb);
            if (fin)
            {
                TcpFin(tp);
                break;
            }
        }
    }

    /// <summary>The segment fits the receive buffer.</summary>
    /// <remarks>Mirrors tcp_can_ingest().</remarks>
    private static bool TcpCanIngest(TcpSock tp, SkBuff skb) => tp.RmemAlloc + skb.Len <= tp.RcvBuf;

    /// <summary>
    /// Is there room for this segment, in the receive buffer and in TCP's memory account
    /// (tcp_mem)? When not, make some: grow the buffer (unless SO_RCVBUF fixed it), repack the
    /// queues into fewer buffers, and as a last resort drop the out-of-order queue.
    /// </summary>
    /// <remarks>Mirrors tcp_try_rmem_schedule() with tcp_can_ingest() and sk_rmem_schedule().</remarks>
    private static bool TcpTryRmemSchedule(TcpSock tp, SkBuff skb, int size)
    {
        if (!TcpCanIngest(tp, skb) || !tp.SkRmemSchedule(size))
        {
            if (TcpPruneQueue(tp) < 0) return false;
            while (!tp.SkRmemSchedule(size))
            {
                if (!TcpPruneOfoQueue(tp)) return false;
            }
        }
        return true;
    }

    /// <summary>The receive buffer is over its limit: let it grow to what is used (up to tcp_rmem[2]), and stop growing the window.</summary>
    /// <remarks>Mirrors tcp_clamp_window().</remarks>
    private static void TcpClampWindow(TcpSock tp)
    {
        tp.IcskAck.Quick = 0;
        int rmem2 = tp.Net.Ipv4.Sysctl.TcpRmemMax;
        var mem = tp.Net.Ipv4.TcpMem;
        // Under memory pressure (or over tcp_mem[0]) the buffer does not grow.
        if (tp.RcvBuf < rmem2 && (tp.UserLocks & Sock.SockRcvbufLock) == 0 &&
            !TcpMemory.TcpUnderMemoryPressure(tp) && mem.MemoryAllocated < mem.MemLimit(0))
            tp.RcvBuf = Math.Min(tp.RmemAlloc, rmem2);
        if (tp.RmemAlloc > tp.RcvBuf) tp.RcvSsthresh = Math.Min(tp.WindowClamp, 2u * tp.Advmss);
    }

    /// <summary>
    /// Repacks a run of contiguous segments of a queue (from <paramref name="first"/>, bytes before
    /// <paramref name="start"/> dropped) into as few full buffers as possible, to give back memory
    /// when many segments were small. Stops at a FIN or a gap.
    /// </summary>
    /// <remarks>Mirrors tcp_collapse().</remarks>
    private static void TcpCollapse(TcpSock tp, SkBuffQueue queue, SkBuff first, uint start, SkBuff? stop = null)
    {
        var pool = tp.Net.SkbPool;
        SkBuff? prev = first.Prev;
        SkBuff? cur = null;
        uint runEnd = SeqNumber.After(start, first.Cb.Seq) ? start : first.Cb.Seq;
        var skb = first;
        // Only worth it if at least two buffers can be merged.
        if (skb.Next is null || (skb.Cb.TcpFlags & TcpFlags.FIN) != 0) return;
        // `stop` is the first buffer of the next range (tcp_collapse()'s tail): never touched here,
        // so the caller can go on from it after this range's buffers were freed.
        while (skb is not null && skb != stop)
        {
            if ((skb.Cb.TcpFlags & TcpFlags.FIN) != 0 || SeqNumber.After(skb.Cb.Seq, runEnd)) break;
            var next = skb.Next;
            int offset = unchecked((int)(runEnd - skb.Cb.Seq));
            var data = offset < skb.Len ? skb.DataSpan[offset..] : Span<byte>.Empty;
            while (data.Length > 0)
            {
                if (cur is null || cur.Tailroom == 0)
                {
                    var fresh = pool.Alloc();
                    if (fresh is null)
                    {
                        // Out of buffers: leave this segment holding only what was not copied yet.
                        int copied = unchecked((int)(runEnd - skb.Cb.Seq));
                        if (copied > 0)
                        {
                            skb.Pull(copied);
                            queue.AdjustBytes(-copied);
                            skb.Cb.Seq = runEnd;
                        }
                        return;
                    }
                    fresh.Cb.Seq = fresh.Cb.EndSeq = runEnd;
                    fresh.Cb.TcpFlags = TcpFlags.ACK;
                    tp.SkbSetOwnerR(fresh);
                    queue.InsertAfter(cur ?? prev, fresh);
                    cur = fresh;
                }
                int n = Math.Min(data.Length, cur.Tailroom);
                data[..n].CopyTo(cur.Put(n));
                queue.AdjustBytes(n);
                cur.Cb.EndSeq += (uint)n;
                runEnd += (uint)n;
                data = data[n..];
            }
            if (SeqNumber.After(skb.Cb.EndSeq, runEnd)) runEnd = skb.Cb.EndSeq;
            if (skb == tp.OooLastSkb) tp.OooLastSkb = cur;
            queue.Unlink(skb);
            tp.SkbFreeDatagram(skb);
            skb = next;
        }
    }

    /// <summary>Collapses each contiguous run of the out-of-order queue.</summary>
    /// <remarks>Mirrors tcp_collapse_ofo_queue().</remarks>
    private static void TcpCollapseOfoQueue(TcpSock tp)
    {
        var ofo = tp.OutOfOrderQueue;
        var skb = ofo.First;
        while (skb is not null)
        {
            // Find the end of this range: following buffers that touch or overlap it belong to it
            // (the ofo queue keeps partly overlapping segments), as tcp_collapse_ofo_queue() widens
            // [start, end) until a buffer starts after end.
            var runStart = skb;
            uint rangeEnd = skb.Cb.EndSeq;
            var after = skb.Next;
            int count = 1;
            while (after is not null && !SeqNumber.After(after.Cb.Seq, rangeEnd))
            {
                if (SeqNumber.After(after.Cb.EndSeq, rangeEnd)) rangeEnd = after.Cb.EndSeq;
                after = after.Next;
                count++;
            }
            if (count > 1) TcpCollapse(tp, ofo, runStart, runStart.Cb.Seq, after);
            skb = after;
        }
        tp.OooLastSkb = ofo.Last;
    }

    /// <summary>Drops the out-of-order queue (from the highest sequence down) until memory fits.</summary>
    /// <remarks>Mirrors tcp_prune_ofo_queue().</remarks>
    private static bool TcpPruneOfoQueue(TcpSock tp)
    {
        var ofo = tp.OutOfOrderQueue;
        if (ofo.IsEmpty) return false;
        tp.Net.Mib.TcpExt[LinuxMib.OfoPruned]++;
        while (ofo.Last is { } skb)
        {
            ofo.Unlink(skb);
            tp.SkbFreeDatagram(skb);
            if (tp.RmemAlloc <= tp.RcvBuf) break;
        }
        tp.OooLastSkb = ofo.Last;
        // The SACK blocks reported so far may no longer be true.
        tp.RxOpt.NumSacks = 0;
        return true;
    }

    /// <summary>Makes room in the receive buffer: 0 when the segment may be queued, -1 to drop it (RcvPruned).</summary>
    /// <remarks>Mirrors tcp_prune_queue().</remarks>
    private static int TcpPruneQueue(TcpSock tp)
    {
        tp.Net.Mib.TcpExt[LinuxMib.PruneCalled]++;
        if (tp.RmemAlloc >= tp.RcvBuf) TcpClampWindow(tp);
        else if (TcpMemory.TcpUnderMemoryPressure(tp)) TcpMemory.TcpAdjustRcvSsthresh(tp);
        if (tp.RmemAlloc <= tp.RcvBuf) return 0;
        TcpCollapseOfoQueue(tp);
        if (tp.ReceiveQueue.First is { } head) TcpCollapse(tp, tp.ReceiveQueue, head, tp.CopiedSeq);
        if (tp.RmemAlloc <= tp.RcvBuf) return 0;
        // Collapsing did not help: destructive actions follow.
        TcpPruneOfoQueue(tp);
        if (tp.RmemAlloc <= tp.RcvBuf) return 0;
        // Being abused: drop the data silently, it will be retransmitted.
        tp.Net.Mib.TcpExt[LinuxMib.RcvPruned]++;
        tp.PredFlags = 0; // massive buffer overcommit
        return -1;
    }

    /// <summary>
    /// Files a segment beyond a hole, merging overlaps (reported as D-SACK) and remembering it
    /// as a SACK block.
    /// </summary>
    /// <remarks>Mirrors tcp_data_queue_ofo() (an rbtree in Linux, a sorted list here).</remarks>
    private static void TcpDataQueueOfo(TcpSock tp, SkBuff skb)
    {
        var net = tp.Net;
        TcpEcnCheckCe(tp, skb);
        if (!TcpTryRmemSchedule(tp, skb, Sock.SkbTruesize(skb)))
        {
            net.Mib.TcpExt[LinuxMib.TCPOFODrop]++;
            tp.DataReady();
            net.KfreeSkbReason(skb, SkbDropReason.TcpOfoDrop);
            return;
        }
        // Disable header prediction.
        tp.PredFlags = 0;
        tp.InetCskScheduleAck();
        net.Mib.TcpExt[LinuxMib.TCPOFOQueue]++;
        tp.RcvOoopack++;
        uint seq = skb.Cb.Seq, endSeq = skb.Cb.EndSeq;
        var ofo = tp.OutOfOrderQueue;
        SkBuff? keep = skb;
        if (ofo.IsEmpty)
        {
            if (tp.TcpIsSack)
            {
                tp.RxOpt.NumSacks = 1;
                tp.SelectiveAcks[0] = new SackBlock(seq, endSeq);
            }
            ofo.EnqueueTail(skb);
            tp.OooLastSkb = skb;
            goto end;
        }
        // The common case: appending after the last out-of-order segment.
        if (tp.OooLastSkb is { } last && TcpTryCoalesce(tp, ofo, last, skb))
        {
            skb.Free();
            keep = null;
            goto addSack;
        }
        // Find the place: the last segment that starts at or before seq.
        SkBuff? prev = ofo.Last;
        while (prev is not null && SeqNumber.Before(seq, prev.Cb.Seq)) prev = prev.Prev;
        if (prev is not null && SeqNumber.Before(seq, prev.Cb.EndSeq))
        {
            if (!SeqNumber.After(endSeq, prev.Cb.EndSeq))
            {
                // All the bytes are here already.
                net.Mib.TcpExt[LinuxMib.TCPOFOMerge]++;
                net.KfreeSkbReason(skb, SkbDropReason.TcpOfoDrop);
                keep = null;
                TcpDsackSet(tp, seq, endSeq);
                goto addSack;
            }
            if (SeqNumber.After(seq, prev.Cb.Seq))
            {
                TcpDsackSet(tp, seq, prev.Cb.EndSeq); // partial overlap
            }
            else
            {
                // Same start, and this one covers it: replace.
                var p2 = prev.Prev;
                ofo.Unlink(prev);
                TcpDsackExtend(tp, prev.Cb.Seq, prev.Cb.EndSeq);
                net.Mib.TcpExt[LinuxMib.TCPOFOMerge]++;
                tp.SkbFreeDatagram(prev);
                prev = p2;
            }
        }
        ofo.InsertAfter(prev, skb);
        // Remove the segments this one covers.
        SkBuff? next;
        while ((next = skb.Next) is not null)
        {
            if (!SeqNumber.After(endSeq, next.Cb.Seq)) break;
            if (SeqNumber.Before(endSeq, next.Cb.EndSeq))
            {
                TcpDsackExtend(tp, next.Cb.Seq, endSeq);
                break;
            }
            ofo.Unlink(next);
            TcpDsackExtend(tp, next.Cb.Seq, next.Cb.EndSeq);
            net.Mib.TcpExt[LinuxMib.TCPOFOMerge]++;
            tp.SkbFreeDatagram(next);
        }
        if (skb.Next is null) tp.OooLastSkb = skb;
    addSack:
        if (tp.TcpIsSack) TcpSackNewOfoSkb(tp, seq, endSeq);
    end:
        if (keep is not null)
        {
            if (tp.TcpIsSack) TcpGrowWindow(tp, keep);
            tp.SkbSetOwnerR(keep);
        }
    }

    /// <summary>
    /// Step 7 of segment arrival: queue the text. In-order data goes to the receive queue (then
    /// whatever the out-of-order queue can now deliver); old data gets an immediate ACK with a
    /// D-SACK; data beyond the window is dropped; data after a hole waits in the out-of-order queue.
    /// </summary>
    /// <remarks>Mirrors tcp_data_queue().</remarks>
    private static void TcpDataQueue(TcpSock tp, SkBuff skb)
    {
        var net = tp.Net;
        if (skb.Cb.Seq == skb.Cb.EndSeq)
        {
            net.SkbCache.Consume(skb);
            return;
        }
        skb.Pull(TcpHdr(skb).HeaderLength);
        TcpEcnAcceptCwr(tp, skb);
        tp.RxOpt.Dsack = false;
        SkbDropReason reason;
        if (skb.Cb.Seq == tp.RcvNxt)
        {
            if (tp.TcpReceiveWindow == 0)
            {
                // A bare FIN is accepted even into a zero window.
                if (skb.Len == 0 && (skb.Cb.TcpFlags & TcpFlags.FIN) != 0) goto queueAndOut;
                reason = SkbDropReason.TcpZeroWindow;
                net.Mib.TcpExt[LinuxMib.TCPZeroWindowDrop]++;
                goto outOfWindow;
            }
            goto queueAndOut;
        }
        if (!SeqNumber.After(skb.Cb.EndSeq, tp.RcvNxt))
        {
            // A retransmission of what we have: ACK at once, report it as D-SACK.
            reason = SkbDropReason.TcpOldData;
            net.Mib.TcpExt[LinuxMib.DelayedACKs]++;
            TcpDsackSet(tp, skb.Cb.Seq, skb.Cb.EndSeq);
            goto outOfWindow;
        }
        // Beyond the window (a zero-window probe, for one).
        if (!SeqNumber.Before(skb.Cb.Seq, tp.RcvNxt + tp.TcpReceiveWindow))
        {
            reason = SkbDropReason.TcpOverWindow;
            goto outOfWindow;
        }
        if (SeqNumber.Before(skb.Cb.Seq, tp.RcvNxt))
        {
            // Partly old: seq < rcv_nxt < end_seq.
            TcpDsackSet(tp, skb.Cb.Seq, tp.RcvNxt);
            if (tp.TcpReceiveWindow == 0)
            {
                reason = SkbDropReason.TcpZeroWindow;
                net.Mib.TcpExt[LinuxMib.TCPZeroWindowDrop]++;
                goto outOfWindow;
            }
            goto queueAndOut;
        }
        TcpDataQueueOfo(tp, skb);
        return;

    queueAndOut:
        int truesize = Sock.SkbTruesize(skb);
        if (!TcpTryRmemSchedule(tp, skb, truesize))
        {
            // Out of memory: ACK at once with a zero window (ICSK_ACK_NOMEM).
            tp.IcskAck.Pending |= IcskAck.NoMem | IcskAck.Now;
            tp.InetCskScheduleAck();
            tp.DataReady();
            if (!tp.ReceiveQueue.IsEmpty && skb.Len > 0)
            {
                net.Mib.TcpExt[LinuxMib.TCPRcvQDrop]++;
                reason = SkbDropReason.SocketRcvBuff;
                goto drop;
            }
            // An empty receive queue always takes the segment, so a reader can make progress.
            tp.SkForcedMemSchedule(truesize);
        }
        bool eaten = TcpQueueRcv(tp, skb);
        if (skb.Len > 0) TcpEventDataRecv(tp, skb);
        if ((skb.Cb.TcpFlags & TcpFlags.FIN) != 0) TcpFin(tp);
        if (!tp.OutOfOrderQueue.IsEmpty)
        {
            TcpOfoQueue(tp);
            // RFC 5681 4.2: ACK at once when a gap is filled.
            if (tp.OutOfOrderQueue.IsEmpty) tp.IcskAck.Pending |= IcskAck.Now;
        }
        if (tp.RxOpt.NumSacks > 0) TcpSackRemove(tp);
        TcpFastPathCheck(tp);
        if (eaten) tp.Net.SkbCache.Consume(skb);
        if (!tp.HasFlag(SockFlag.Dead)) tp.DataReady();
        return;

    outOfWindow:
        TcpEnterQuickackMode(tp, TcpMaxQuickacks);
        tp.InetCskScheduleAck();
    drop:
        net.KfreeSkbReason(skb, reason);
    }

    // ---- ACK processing: window, RTT, retransmit queue ----

    /// <remarks>Mirrors tcp_init_wl().</remarks>
    internal static void TcpInitWl(TcpSock tp, uint seq) => tp.SndWl1 = seq;

    /// <remarks>Mirrors tcp_may_update_window() (RFC 9293 3.10.7.4 fifth, SND.WL1/WL2).</remarks>
    private static bool TcpMayUpdateWindow(TcpSock tp, uint ack, uint ackSeq, uint nwin) =>
        SeqNumber.After(ack, tp.SndUna) || SeqNumber.After(ackSeq, tp.SndWl1) || (ackSeq == tp.SndWl1 && (nwin > tp.SndWnd || nwin == 0));

    /// <remarks>Mirrors tcp_snd_una_update().</remarks>
    private static void TcpSndUnaUpdate(TcpSock tp, uint ack)
    {
        uint delta = ack - tp.SndUna;
        tp.BytesAcked += delta;
        tp.SndUna = ack;
    }

    /// <remarks>Mirrors tcp_ack_update_window().</remarks>
    private static int TcpAckUpdateWindow(TcpSock tp, TcpHeader th, uint ack, uint ackSeq)
    {
        int flag = 0;
        uint nwin = th.Window;
        if (!th.Syn) nwin <<= tp.RxOpt.SndWscale;
        if (TcpMayUpdateWindow(tp, ack, ackSeq, nwin))
        {
            flag |= FlagWinUpdate;
            tp.SndWl1 = ackSeq;
            if (tp.SndWnd != nwin)
            {
                tp.SndWnd = nwin;
                // The predicted window changed: predict the new one (if the fast path may be on).
                tp.PredFlags = 0;
                TcpFastPathCheck(tp);
                if (nwin > tp.MaxWindow)
                {
                    tp.MaxWindow = nwin;
                    TcpOutput.TcpSyncMss(tp, tp.IcskPmtuCookie);
                }
            }
        }
        TcpSndUnaUpdate(tp, ack);
        return flag;
    }

    /// <summary>RFC 6298 smoothed RTT and variance (the kernel's scaled integer form, rttvar at least RTO_MIN).</summary>
    /// <remarks>Mirrors tcp_rtt_estimator().</remarks>
    private static void TcpRttEstimator(TcpSock tp, long mrttUs)
    {
        long m = mrttUs;
        uint srtt = tp.SrttUs;
        uint rtoMinUs = (uint)(TcpTimer.TcpRtoMin(tp) / 1000);
        if (srtt != 0)
        {
            m -= srtt >> 3;
            srtt = (uint)(srtt + m);
            if (m < 0)
            {
                m = -m;
                m -= tp.MdevUs >> 2;
                if (m > 0) m >>= 3;
            }
            else
            {
                m -= tp.MdevUs >> 2;
            }
            tp.MdevUs = (uint)(tp.MdevUs + m);
            if (tp.MdevUs > tp.MdevMaxUs)
            {
                tp.MdevMaxUs = tp.MdevUs;
                if (tp.MdevMaxUs > tp.RttvarUs) tp.RttvarUs = tp.MdevMaxUs;
            }
            if (SeqNumber.After(tp.SndUna, tp.RttSeq))
            {
                if (tp.MdevMaxUs < tp.RttvarUs) tp.RttvarUs -= (tp.RttvarUs - tp.MdevMaxUs) >> 2;
                tp.RttSeq = tp.SndNxt;
                tp.MdevMaxUs = rtoMinUs;
            }
        }
        else
        {
            srtt = (uint)(m << 3);
            tp.MdevUs = (uint)(m << 1);
            tp.RttvarUs = Math.Max(tp.MdevUs, rtoMinUs);
            tp.MdevMaxUs = tp.RttvarUs;
            tp.RttSeq = tp.SndNxt;
        }
        tp.SrttUs = Math.Max(1u, srtt);
    }

    /// <summary>RTO = srtt + rttvar (rttvar ≥ RTO_MIN), at most RTO_MAX.</summary>
    /// <remarks>Mirrors tcp_set_rto() / __tcp_set_rto() / tcp_bound_rto().</remarks>
    internal static void TcpSetRto(TcpSock tp)
    {
        long rto = ((long)(tp.SrttUs >> 3) + tp.RttvarUs) * 1000;
        tp.IcskRto = Math.Min(rto, TcpTimer.TcpRtoMax(tp.Net));
    }

    /// <summary>
    /// Takes an RTT sample: from the ACK's timing unless a retransmitted segment was acknowledged
    /// (Karn), else from the newly SACKed never-retransmitted segments, else from the timestamp echo.
    /// </summary>
    /// <remarks>Mirrors tcp_ack_update_rtt().</remarks>
    private static bool TcpAckUpdateRtt(TcpSock tp, int flag, long seqRttUs, long sackRttUs, ref long caRttUs)
    {
        // The ACK's timing is preferred to the echo (middleboxes may corrupt TSecr); a SACK's serves
        // when Karn forbids the cumulative one.
        if (seqRttUs < 0) seqRttUs = sackRttUs;
        if (seqRttUs < 0 && tp.RxOpt.SawTstamp && tp.RxOpt.RcvTsecr != 0 && (flag & FlagAcked) != 0)
        {
            uint delta = tp.TcpClockMs - tp.RxOpt.RcvTsecr;
            if (delta < int.MaxValue / 1000)
            {
                if (delta == 0) delta = 1;
                seqRttUs = delta * 1000L;
                caRttUs = seqRttUs;
            }
        }
        if (seqRttUs < 0) return false;
        TcpUpdateRttMin(tp, caRttUs, flag);
        TcpRttEstimator(tp, seqRttUs);
        TcpSetRto(tp);
        // RFC 6298: the backoff is cleared only on a valid RTT measurement.
        tp.IcskBackoff = 0;
        return true;
    }

    /// <summary>Feeds the windowed min_rtt filter (net.ipv4.tcp_min_rtt_wlen), skipping likely delayed ACKs that would raise it.</summary>
    /// <remarks>Mirrors tcp_update_rtt_min().</remarks>
    private static void TcpUpdateRttMin(TcpSock tp, long rttUs, int flag)
    {
        if (rttUs < 0) return;
        if ((flag & FlagAckMaybeDelayed) != 0 && rttUs > tp.TcpMinRtt) return;
        uint wlen = (uint)tp.Net.Ipv4.Sysctl.TcpMinRttWlenSec * 1000;
        uint us = rttUs == 0 ? 1000u : (uint)Math.Min(rttUs, uint.MaxValue);
        tp.RttMin.RunningMin(wlen, tp.TcpClockMs, us);
    }

    /// <summary>The SYN-ACK handshake's RTT for a passive open.</summary>
    /// <remarks>Mirrors tcp_synack_rtt_meas().</remarks>
    internal static void TcpSynackRttMeas(TcpSock tp, TcpRequestSock req)
    {
        long rttUs = -1;
        if (req.NumRetrans == 0 && req.SntSynack != 0) rttUs = Math.Max(1, (tp.Net.NowNs - req.SntSynack) / 1000);
        long ca = rttUs;
        TcpAckUpdateRtt(tp, FlagSynAcked, rttUs, -1, ref ca);
    }

    /// <summary>Frees a segment from the retransmit queue, keeping the scan hint valid.</summary>
    internal static void TcpRtxQueueUnlinkAndFree(TcpSock tp, SkBuff skb)
    {
        if (skb == tp.RetransmitSkbHint) tp.RetransmitSkbHint = null;
        tp.RtxQueue.Unlink(skb);
        TcpOutput.TcpWmemFreeSkb(tp, skb);
    }

    /// <summary>
    /// Removes what the ACK covered from the retransmit queue, updates the in-flight accounting,
    /// takes an RTT sample (Karn's rule) and tells the congestion control.
    /// </summary>
    /// <remarks>Mirrors tcp_clean_rtx_queue(); <paramref name="sack"/> is what tcp_sacktag_write_queue() saw (struct tcp_sacktag_state).</remarks>
    private static int TcpCleanRtxQueue(TcpSock tp, uint priorFack, uint priorSndUna, bool eceAck, in TcpSacktagState sack)
    {
        long now = tp.TcpClockNs; // tp->tcp_mstamp
        long firstAckt = 0, lastAckt = 0;
        uint pktsAcked = 0;
        int flag = 0;
        uint reord = tp.SndNxt;
        SkBuff? skb;
        while ((skb = tp.RtxQueue.First) is not null)
        {
            ref var scb = ref skb.Cb;
            byte sacked = scb.Sacked;
            if (SeqNumber.After(scb.EndSeq, tp.SndUna)) break; // not fully acknowledged (one segment per buffer)
            if ((sacked & TcpSkbCbSacked.Retrans) != 0)
            {
                if ((sacked & TcpSkbCbSacked.SackedRetrans) != 0) tp.RetransOut--;
                flag |= FlagRetransDataAcked;
            }
            else if ((sacked & TcpSkbCbSacked.SackedAcked) == 0)
            {
                lastAckt = scb.When;
                if (firstAckt == 0) firstAckt = lastAckt;
                if (SeqNumber.Before(scb.Seq, reord)) reord = scb.Seq;
                // Never retransmitted and sent before the timeout (or recovery): F-RTO's evidence.
                if (!SeqNumber.After(scb.EndSeq, tp.HighSeq)) flag |= FlagOrigSackAcked;
            }
            if ((sacked & TcpSkbCbSacked.SackedAcked) != 0) tp.SackedOut--;
            else if (tp.TcpIsSack)
            {
                TcpCountDelivered(tp, 1, eceAck); // (SACKed ones were counted when SACKed; Reno counts below)
                if (!TcpSkbSpuriousRetrans(tp, skb)) TcpRecovery.TcpRackAdvance(tp, sacked, scb.EndSeq, scb.When);
            }
            if ((sacked & TcpSkbCbSacked.Lost) != 0) tp.LostOut--;
            tp.PacketsOut--;
            pktsAcked++;
            TcpRateSkbDelivered(tp, skb);
            if ((scb.TcpFlags & TcpFlags.SYN) == 0)
            {
                flag |= FlagDataAcked;
            }
            else
            {
                flag |= FlagSynAcked;
                tp.RetransStamp = 0;
            }
            TcpRtxQueueUnlinkAndFree(tp, skb);
        }
        if (SeqNumber.Between(tp.SndUp, priorSndUna, tp.SndUna)) tp.SndUp = tp.SndUna;
        if (skb is not null && (skb.Cb.Sacked & TcpSkbCbSacked.SackedAcked) != 0) flag |= FlagSackReneging;

        long seqRttUs = -1, sackRttUs = -1, caRttUs = -1;
        if (firstAckt != 0 && (flag & FlagRetransDataAcked) == 0)
        {
            seqRttUs = Math.Max(1, (now - firstAckt) / 1000);
            caRttUs = Math.Max(1, (now - lastAckt) / 1000);
        }
        if (sack.FirstSackt != 0)
        {
            sackRttUs = Math.Max(1, (now - sack.FirstSackt) / 1000);
            caRttUs = Math.Max(1, (now - sack.LastSackt) / 1000);
        }
        TcpAckUpdateRtt(tp, flag, seqRttUs, sackRttUs, ref caRttUs);
        tp.Rs.RttUs = caRttUs; // RTT of last (S)ACKed packet (or -1)
        if ((flag & FlagAcked) != 0)
        {
            flag |= FlagSetXmitTimer; // set TLP or RTO timer
            // The whole path MTU probe arrived: that size works.
            if (tp.IcskMtup.ProbeSize != 0 && !SeqNumber.After(tp.MtuProbeSeqEnd, tp.SndUna)) TcpMtupProbeSuccess(tp);
            if (!tp.TcpIsSack)
            {
                TcpRemoveRenoSacks(tp, pktsAcked, eceAck);
                // Without SACK bits, a cumulative ACK that covers a retransmission cannot show the
                // progress came from an original transmission.
                if ((flag & FlagRetransDataAcked) != 0) flag &= ~FlagOrigSackAcked;
            }
            // A never-retransmitted hole got filled below what was SACKed: that is reordering.
            else if (SeqNumber.Before(reord, priorFack)) TcpCheckSackReordering(tp, reord);
        }
        tp.CaOps.PktsAcked(tp, new AckSample(pktsAcked, (int)Math.Min(caRttUs, int.MaxValue), tp.PacketsInFlight));
        return flag;
    }

    /// <summary>Marks retransmit-queue segments covered by the peer's SACK blocks.</summary>
    /// <remarks>Mirrors tcp_sacktag_write_queue() (whole segments only; a D-SACK block marks nothing, tcp_check_dsack()).</remarks>
    private static int TcpSacktagWriteQueue(TcpSock tp, in TcpSackBlocks blocks, uint ackSeq, uint priorSndUna, ref TcpSacktagState state)
    {
        int flag = 0;
        uint reord = tp.SndNxt;
        uint priorFack = TcpHighestSackSeq(tp);
        bool foundDupSack = TcpCheckDsack(tp, blocks, ackSeq, priorSndUna, ref flag, ref state);
        for (int i = 0; i < blocks.Count; i++)
        {
            uint start = blocks[i].Start, end = blocks[i].End;
            if (!SeqNumber.After(end, start)) continue;
            if (i == 0 && foundDupSack)
            {
                if (!TcpIsSackblockValid(tp, true, start, end))
                {
                    tp.Net.Mib.TcpExt[tp.UndoMarkerValid ? LinuxMib.TCPDSACKIgnoredOld : LinuxMib.TCPDSACKIgnoredNoUndo]++;
                    continue;
                }
                // The D-SACKed segments still queued (tcp_sacktag_one() with dup_sack): a
                // retransmission reported twice counts toward undo; one already SACKed means its
                // original arrived after the retransmission: reordering.
                for (var skb = tp.RtxQueue.First; skb is not null; skb = skb.Next)
                {
                    if (!SeqNumber.After(skb.Cb.EndSeq, start)) continue;
                    if (!SeqNumber.Before(skb.Cb.Seq, end)) break;
                    if (SeqNumber.Before(skb.Cb.Seq, start) || SeqNumber.After(skb.Cb.EndSeq, end)) continue;
                    byte sacked = skb.Cb.Sacked;
                    if ((sacked & TcpSkbCbSacked.Retrans) == 0) continue;
                    if (tp.UndoMarkerValid && tp.UndoRetrans > 0 && SeqNumber.After(skb.Cb.EndSeq, tp.UndoMarker))
                        tp.UndoRetrans = Math.Max(0, tp.UndoRetrans - 1);
                    if ((sacked & TcpSkbCbSacked.SackedAcked) != 0 && SeqNumber.Before(skb.Cb.Seq, reord)) reord = skb.Cb.Seq;
                }
                continue;
            }
            if (SeqNumber.Before(start, priorSndUna) || !SeqNumber.After(end, tp.SndUna)) continue;
            if (SeqNumber.After(end, tp.SndNxt))
            {
                tp.Net.Mib.TcpExt[LinuxMib.TCPSACKDiscard]++;
                continue;
            }
            for (var skb = tp.RtxQueue.First; skb is not null; skb = skb.Next)
            {
                if (!SeqNumber.After(skb.Cb.EndSeq, start)) continue;
                if (!SeqNumber.Before(skb.Cb.Seq, end)) break;
                if (SeqNumber.Before(skb.Cb.Seq, start) || SeqNumber.After(skb.Cb.EndSeq, end)) continue; // partly covered
                byte sacked = skb.Cb.Sacked;
                if ((sacked & TcpSkbCbSacked.SackedAcked) != 0) continue;
                TcpRecovery.TcpRackAdvance(tp, sacked, skb.Cb.EndSeq, skb.Cb.When);
                if ((sacked & TcpSkbCbSacked.Retrans) == 0)
                {
                    // A new SACK for a never-retransmitted segment in a hole: reordering.
                    if (tp.HasHighestSack && tp.SackedOut != 0 &&
                        SeqNumber.Before(skb.Cb.Seq, tp.HighestSackSeq) && SeqNumber.Before(skb.Cb.Seq, reord))
                        reord = skb.Cb.Seq;
                    if (!SeqNumber.After(skb.Cb.EndSeq, tp.HighSeq)) flag |= FlagOrigSackAcked;
                    // Its transmit time gives an RTT sample Karn allows (tcp_sacktag_one()'s first/last_sackt).
                    if (state.FirstSackt == 0) state.FirstSackt = skb.Cb.When;
                    state.LastSackt = skb.Cb.When;
                }
                if ((sacked & TcpSkbCbSacked.SackedRetrans) != 0)
                {
                    skb.Cb.Sacked &= unchecked((byte)~TcpSkbCbSacked.SackedRetrans);
                    tp.RetransOut--;
                }
                if ((sacked & TcpSkbCbSacked.Lost) != 0)
                {
                    skb.Cb.Sacked &= unchecked((byte)~TcpSkbCbSacked.Lost);
                    tp.LostOut--;
                }
                skb.Cb.Sacked |= TcpSkbCbSacked.SackedAcked;
                tp.SackedOut++;
                state.SackDelivered++; // out-of-order segments delivered (counted by tcp_ack())
                // After the sacked bits (tcp_sacktag_walk): a SACKed segment is sampled once, not again when cumulatively ACKed.
                TcpRateSkbDelivered(tp, skb);
                flag |= FlagDataSacked;
                if (!tp.HasHighestSack || SeqNumber.After(skb.Cb.EndSeq, tp.HighestSackSeq))
                {
                    tp.HighestSackSeq = skb.Cb.EndSeq;
                    tp.HasHighestSack = true;
                }
            }
        }
        if (SeqNumber.Before(reord, priorFack)) TcpCheckSackReordering(tp, reord);
        return flag;
    }

    /// <summary>
    /// A D-SACK (RFC 2883) is the first block when it starts below the ACK, or when it lies inside
    /// the second block (a duplicate of out-of-order data). Counts it, and unless dubious lets it
    /// widen RACK's window or undo a recovery; returns whether the first block is a D-SACK.
    /// </summary>
    /// <remarks>Mirrors tcp_check_dsack().</remarks>
    private static bool TcpCheckDsack(TcpSock tp, in TcpSackBlocks blocks, uint ackSeq, uint priorSndUna, ref int flag, ref TcpSacktagState state)
    {
        if (blocks.Count == 0) return false;
        uint start0 = blocks[0].Start, end0 = blocks[0].End;
        if (SeqNumber.Before(start0, ackSeq))
        {
            tp.Net.Mib.TcpExt[LinuxMib.TCPDSACKRecv]++;
        }
        else if (blocks.Count > 1)
        {
            uint start1 = blocks[1].Start, end1 = blocks[1].End;
            if (SeqNumber.After(end0, end1) || SeqNumber.Before(start0, start1)) return false;
            tp.Net.Mib.TcpExt[LinuxMib.TCPDSACKOfoRecv]++;
        }
        else
        {
            return false;
        }
        flag |= TcpDsackSeen(tp, start0, end0, flag, out uint dupSegs);
        if (dupSegs == 0) // dubious, or not our retransmission
        {
            tp.Net.Mib.TcpExt[LinuxMib.TCPDSACKIgnoredDubious]++;
            return false;
        }
        tp.Net.Mib.TcpExt[LinuxMib.TCPDSACKRecvSegs] += dupSegs;
        // A spurious retransmission is delivered (tcp_dsack_seen()'s sack_delivered): the ACK clocks
        // out data through PRR or cwnd growth as a SACK of a new segment would.
        state.SackDelivered += dupSegs;
        // D-SACK for already forgotten data: every retransmission D-SACKed makes the recovery undoable.
        if (tp.UndoMarkerValid && tp.UndoRetrans > 0 &&
            !SeqNumber.After(end0, priorSndUna) && SeqNumber.After(end0, tp.UndoMarker))
            tp.UndoRetrans = Math.Max(0, tp.UndoRetrans - (int)dupSegs);
        return true;
    }

    /// <summary>
    /// Whether a SACK block may be believed: inside what was sent, and above snd_una unless it is a
    /// D-SACK of a recovery that can still be undone, reporting data at or above the undo marker (a
    /// block crossing the marker by less than a window is believed too).
    /// </summary>
    /// <remarks>Mirrors tcp_is_sackblock_valid().</remarks>
    internal static bool TcpIsSackblockValid(TcpSock tp, bool isDsack, uint startSeq, uint endSeq)
    {
        if (SeqNumber.After(endSeq, tp.SndNxt) || !SeqNumber.Before(startSeq, endSeq)) return false;
        if (!SeqNumber.Before(startSeq, tp.SndNxt)) return false;
        if (SeqNumber.After(startSeq, tp.SndUna)) return true;
        if (!isDsack || !tp.UndoMarkerValid) return false;
        if (SeqNumber.After(endSeq, tp.SndUna)) return false;
        if (!SeqNumber.Before(startSeq, tp.UndoMarker)) return true;
        if (!SeqNumber.After(endSeq, tp.UndoMarker)) return false; // too old
        return !SeqNumber.Before(startSeq, endSeq - tp.MaxWindow);
    }

    /// <summary>The highest SACKed sequence (fack): snd_una when nothing is SACKed.</summary>
    /// <remarks>Mirrors tcp_highest_sack_seq().</remarks>
    internal static uint TcpHighestSackSeq(TcpSock tp)
    {
        if (tp.SackedOut == 0 || !tp.HasHighestSack) return tp.SndUna;
        return tp.HighestSackSeq;
    }

    /// <summary>A D-SACK arrived: count it; unless dubious, it may widen RACK's reordering window, or end a TLP episode.</summary>
    /// <remarks>Mirrors tcp_dsack_seen(). Returns the flags to add (FLAG_DSACKING_ACK, FLAG_DSACK_TLP).</remarks>
    private static int TcpDsackSeen(TcpSock tp, uint startSeq, uint endSeq, int flag, out uint dupSegsOut)
    {
        dupSegsOut = 0;
        if (!SeqNumber.Before(startSeq, endSeq)) return 0;
        uint seqLen = endSeq - startSeq;
        // Dubious D-SACK: larger than the largest window the peer advertised.
        if (seqLen > tp.MaxWindow) return 0;
        uint mss = Math.Max(1u, tp.MssCache);
        uint dupSegs = 1;
        if (seqLen > mss) dupSegs = (seqLen + mss - 1) / mss;
        else if (tp.TlpHighSeq != 0 && tp.TlpHighSeq == endSeq) flag |= FlagDsackTlp;
        tp.DsackDups += dupSegs;
        // Skip the D-SACK if the duplicates were not retransmitted by us.
        if (tp.DsackDups > tp.TotalRetrans) return flag & FlagDsackTlp;
        // RACK widens its window in rounds with D-SACKs that may come from reordering having
        // triggered a spurious recovery; not for TLP probes (timer-driven).
        if (tp.ReordSeen != 0 && (flag & FlagDsackTlp) == 0) tp.Rack.DsackSeen = true;
        dupSegsOut = dupSegs;
        return flag | FlagDsackingAck;
    }

    /// <summary>
    /// A hole below fack was filled without a retransmission: raise the reordering degree (at most
    /// tcp_max_reordering). <paramref name="ts"/>: the evidence came from timestamps (a partial ACK in
    /// Recovery), counted as TCPTSReorder rather than TCPSACKReorder.
    /// </summary>
    /// <remarks>Mirrors tcp_check_sack_reordering().</remarks>
    private static void TcpCheckSackReordering(TcpSock tp, uint lowSeq, bool ts = false)
    {
        uint fack = TcpHighestSackSeq(tp);
        if (!SeqNumber.Before(lowSeq, fack)) return;
        uint mss = tp.MssCache;
        uint metric = fack - lowSeq;
        if (mss != 0 && metric > tp.Reordering * mss)
            tp.Reordering = Math.Min((metric + mss - 1) / mss, (uint)tp.Net.Ipv4.Sysctl.TcpMaxReordering);
        tp.ReordSeen++;
        tp.Net.Mib.TcpExt[ts ? LinuxMib.TCPTSReorder : LinuxMib.TCPSACKReorder]++;
    }

    // ---- delivery rate sampling (net/ipv4/tcp_rate.c) ----

    /// <remarks>Mirrors tcp_skb_sent_after(): sent later, or at the same time with a higher sequence.</remarks>
    private static bool TcpSkbSentAfter(long t1, long t2, uint seq1, uint seq2) =>
        t1 > t2 || (t1 == t2 && SeqNumber.After(seq1, seq2));

    /// <summary>
    /// A segment was (S)ACKed: the rate sample takes the delivery state from when the most recently
    /// sent of this ACK's segments left (prior_delivered, prior_mstamp, the send phase).
    /// </summary>
    /// <remarks>Mirrors tcp_rate_skb_delivered().</remarks>
    private static void TcpRateSkbDelivered(TcpSock tp, SkBuff skb)
    {
        ref var scb = ref skb.Cb;
        ref var rs = ref tp.Rs;
        if (scb.TxDeliveredMstamp == 0) return;
        long txTstamp = scb.When / 1000;
        if (rs.PriorDelivered == 0 || TcpSkbSentAfter(txTstamp, tp.FirstTxMstamp, scb.EndSeq, rs.LastEndSeq))
        {
            rs.PriorDeliveredCe = scb.TxDeliveredCe;
            rs.PriorDelivered = scb.TxDelivered;
            rs.PriorMstamp = scb.TxDeliveredMstamp;
            rs.IsAppLimited = scb.TxIsAppLimited;
            rs.IsRetrans = (scb.Sacked & TcpSkbCbSacked.Retrans) != 0;
            rs.LastEndSeq = scb.EndSeq;
            // Record send time of most recently ACKed packet, and the duration of the send phase.
            tp.FirstTxMstamp = txTstamp;
            rs.IntervalUs = Math.Max(0, tp.FirstTxMstamp - scb.TxFirstTxMstamp);
        }
        // Mark off the skb delivered once it's sacked to avoid being used again when it's cumulatively acked.
        if ((scb.Sacked & TcpSkbCbSacked.SackedAcked) != 0) scb.TxDeliveredMstamp = 0;
    }

    /// <summary>Updates the connection's delivery state and completes the ACK's rate sample.</summary>
    /// <remarks>Mirrors tcp_rate_gen().</remarks>
    private static void TcpRateGen(TcpSock tp, uint delivered, uint lost, bool isSackReneg)
    {
        ref var rs = ref tp.Rs;
        // Clear app limited if bubble is acked and gone.
        if (tp.AppLimited != 0 && SeqNumber.After(tp.Delivered, tp.AppLimited)) tp.AppLimited = 0;
        if (delivered != 0) tp.DeliveredMstamp = tp.TcpMstamp;
        rs.AckedSacked = delivered; // freshly ACKed or SACKed
        rs.Losses = (int)lost;      // freshly marked lost
        // No timing information, or SACK reneging (may include packets SACKed before the reneg): invalid.
        if (rs.PriorMstamp == 0 || isSackReneg)
        {
            rs.Delivered = -1;
            rs.IntervalUs = -1;
            return;
        }
        rs.Delivered = (int)(tp.Delivered - rs.PriorDelivered);
        rs.DeliveredCe = (int)(tp.DeliveredCe - rs.PriorDeliveredCe);
        // The send and the ACK phase of the window: the longer one (ACK compression can shorten either).
        long sndUs = rs.IntervalUs;
        long ackUs = Math.Max(0, tp.TcpMstamp - rs.PriorMstamp);
        rs.IntervalUs = Math.Max(sndUs, ackUs);
        rs.SndIntervalUs = (uint)sndUs;
        rs.RcvIntervalUs = (uint)ackUs;
        // Normally interval_us >= min-rtt; a shorter one (a spurious retransmission SACKed) is not trusted.
        if (rs.IntervalUs < tp.TcpMinRtt)
        {
            rs.IntervalUs = -1;
            return;
        }
        // Record the last non-app-limited or the highest app-limited bw.
        if (!rs.IsAppLimited || (ulong)rs.Delivered * tp.RateIntervalUs >= (ulong)tp.RateDelivered * (ulong)rs.IntervalUs)
        {
            tp.RateDelivered = (uint)rs.Delivered;
            tp.RateIntervalUs = (uint)rs.IntervalUs;
            tp.RateAppLimited = rs.IsAppLimited;
        }
    }

    /// <summary>If nothing more is waiting to be sent and cwnd is not what limits, marks the flow application-limited.</summary>
    /// <remarks>Mirrors tcp_rate_check_app_limited().</remarks>
    internal static void TcpRateCheckAppLimited(TcpSock tp)
    {
        if (unchecked(tp.WriteSeq - tp.SndNxt) < tp.MssCache &&
            tp.WmemAlloc < Sock.SkbTruesizeOverhead &&
            tp.PacketsInFlight < tp.SndCwnd &&
            tp.LostOut <= tp.RetransOut)
        {
            uint v = tp.Delivered + tp.PacketsInFlight;
            tp.AppLimited = v != 0 ? v : 1;
        }
    }

    /// <summary>A retransmitted segment whose ACK echoes a timestamp older than the retransmission: the original was delivered.</summary>
    /// <remarks>Mirrors tcp_skb_spurious_retrans().</remarks>
    private static bool TcpSkbSpuriousRetrans(TcpSock tp, SkBuff skb) =>
        (skb.Cb.Sacked & TcpSkbCbSacked.Retrans) != 0 && tp.RxOpt.SawTstamp && tp.RxOpt.RcvTsecr != 0 &&
        SeqNumber.Before(tp.RxOpt.RcvTsecr, unchecked((uint)(skb.Cb.When / Time.NsPerMs)));

    // ---- loss recovery ----

    /// <remarks>Mirrors tcp_in_cwnd_reduction().</remarks>
    internal static bool TcpInCwndReduction(TcpSock tp) => tp.CaState is TcpCaState.Cwr or TcpCaState.Recovery;

    /// <remarks>Mirrors tcp_set_ca_state().</remarks>
    internal static void TcpSetCaState(TcpSock tp, TcpCaState state)
    {
        var old = tp.CaState;
        tp.CaOps.SetState(tp, state);
        tp.CaState = state;
        TcpTracepoint.TraceTcpCongStateSet(tp, old);
    }

    /// <remarks>Mirrors tcp_current_ssthresh().</remarks>
    private static uint TcpCurrentSsthresh(TcpSock tp)
    {
        if (TcpInCwndReduction(tp)) return tp.SndSsthresh;
        return Math.Max(tp.SndSsthresh, (tp.SndCwnd >> 1) + (tp.SndCwnd >> 2));
    }

    /// <remarks>Mirrors tcp_init_undo().</remarks>
    private static void TcpInitUndo(TcpSock tp)
    {
        tp.UndoMarker = tp.SndUna;
        tp.UndoMarkerValid = true;
        tp.UndoRetrans = tp.RetransOut != 0 ? (int)tp.RetransOut : -1;
    }

    /// <remarks>Mirrors tcp_clear_retrans().</remarks>
    internal static void TcpClearRetrans(TcpSock tp)
    {
        tp.RetransOut = 0;
        tp.LostOut = 0;
        tp.UndoMarker = 0;
        tp.UndoMarkerValid = false;
        tp.UndoRetrans = -1;
        tp.SackedOut = 0;
        tp.HasHighestSack = false;
    }

    /// <summary>Retransmits what is marked lost without treating it as congestion (a Fast Open SYN's data, an MTU change).</summary>
    /// <remarks>Mirrors tcp_non_congestion_loss_retransmit().</remarks>
    internal static void TcpNonCongestionLossRetransmit(TcpSock tp)
    {
        if (tp.CaState != TcpCaState.Loss)
        {
            tp.HighSeq = tp.SndNxt;
            tp.SndSsthresh = TcpCurrentSsthresh(tp);
            tp.PriorSsthresh = 0;
            tp.UndoMarker = 0;
            tp.UndoMarkerValid = false;
            TcpSetCaState(tp, TcpCaState.Loss);
        }
        TcpOutput.TcpXmitRetransmitQueue(tp);
    }

    /// <summary>
    /// The MSS went down (an ICMP "fragmentation needed", a lost path MTU probe): every segment
    /// in flight larger than the new MSS is lost for sure; retransmit them (cut to the new MSS)
    /// without treating the loss as congestion.
    /// </summary>
    /// <remarks>Mirrors tcp_simple_retransmit().</remarks>
    internal static void TcpSimpleRetransmit(TcpSock tp)
    {
        // A Fast Open SYN's data is queued apart from its SYN: with an MTU problem, take all as lost.
        int mss = tp.SynData && tp.State == TcpState.SynSent ? -1 : (int)TcpOutput.TcpCurrentMss(tp);
        for (var skb = tp.RtxQueue.First; skb is not null; skb = skb.Next)
            if (skb.Len > mss) TcpMarkSkbLost(tp, skb);
        if (tp.LostOut == 0) return;
        if (!tp.TcpIsSack) TcpLimitRenoSacked(tp);
        TcpNonCongestionLossRetransmit(tp);
    }

    /// <summary>The path MTU probe was lost: the MTU tried is too large.</summary>
    /// <remarks>Mirrors tcp_mtup_probe_failed().</remarks>
    private static void TcpMtupProbeFailed(TcpSock tp)
    {
        ref var mtup = ref tp.IcskMtup;
        mtup.SearchHigh = mtup.ProbeSize - 1;
        mtup.ProbeSize = 0;
        tp.Net.Mib.TcpExt[LinuxMib.TCPMTUPFail]++;
    }

    /// <summary>
    /// The path MTU probe was acknowledged: its MTU works. cwnd keeps the same number of bytes
    /// in flight with the larger packets, search_low rises to the probe's MTU and the MSS with it.
    /// </summary>
    /// <remarks>Mirrors tcp_mtup_probe_success().</remarks>
    private static void TcpMtupProbeSuccess(TcpSock tp)
    {
        ref var mtup = ref tp.IcskMtup;
        tp.PriorSsthresh = TcpCurrentSsthresh(tp);
        ulong val = (ulong)tp.SndCwnd * (ulong)TcpOutput.TcpMssToMtu(tp, (int)tp.MssCache) / (ulong)mtup.ProbeSize;
        tp.SndCwnd = (uint)Math.Max(1ul, val);
        tp.SndCwndCnt = 0;
        tp.SndCwndStamp = tp.TcpClockNs;
        tp.SndSsthresh = TcpCurrentSsthresh(tp);
        mtup.SearchLow = mtup.ProbeSize;
        mtup.ProbeSize = 0;
        TcpOutput.TcpSyncMss(tp, tp.IcskPmtuCookie);
        tp.Net.Mib.TcpExt[LinuxMib.TCPMTUPSuccess]++;
    }

    /// <summary>
    /// Moves the retransmission hint back to a newly lost segment below it. Without a hint the walk
    /// starts at the head; a hint is only set then when every lost segment is already retransmitted:
    /// else it would skip a lost segment below <paramref name="skb"/> (one marked lost while the hint
    /// was further on, whose hint was then freed by a cumulative ACK), which would wait for the RTO.
    /// </summary>
    /// <remarks>Mirrors tcp_verify_retransmit_hint().</remarks>
    private static void TcpVerifyRetransmitHint(TcpSock tp, SkBuff skb)
    {
        var hint = tp.RetransmitSkbHint;
        if (hint is not null && hint.List != tp.RtxQueue) hint = tp.RetransmitSkbHint = null; // freed without being cleared
        if ((hint is null && tp.RetransOut >= tp.LostOut) ||
            (hint is not null && SeqNumber.Before(skb.Cb.Seq, hint.Cb.Seq)))
            tp.RetransmitSkbHint = skb;
    }

    /// <summary>Marks a segment lost (a lost retransmission is counted again).</summary>
    /// <remarks>Mirrors tcp_mark_skb_lost() with tcp_verify_retransmit_hint().</remarks>
    internal static void TcpMarkSkbLost(TcpSock tp, SkBuff skb)
    {
        byte sacked = skb.Cb.Sacked;
        if ((sacked & TcpSkbCbSacked.SackedAcked) != 0) return;
        TcpVerifyRetransmitHint(tp, skb);
        if ((sacked & TcpSkbCbSacked.Lost) != 0)
        {
            if ((sacked & TcpSkbCbSacked.SackedRetrans) != 0)
            {
                skb.Cb.Sacked &= unchecked((byte)~TcpSkbCbSacked.SackedRetrans);
                tp.RetransOut--;
                tp.Net.Mib.TcpExt[LinuxMib.TCPLostRetransmit]++;
                tp.Lost++; // tcp_notify_skb_loss_event()
            }
        }
        else
        {
            tp.LostOut++;
            skb.Cb.Sacked |= TcpSkbCbSacked.Lost;
            tp.Lost++; // tcp_notify_skb_loss_event()
        }
    }

    /// <summary>
    /// Identifies losses: NewReno marks the head lost (on the third duplicate ACK, or on a partial
    /// ACK in recovery); SACK marks every unSACKed segment with at least dupthresh SACKed
    /// segments above it (RFC 6675 IsLost).
    /// </summary>
    /// <remarks>Mirrors tcp_identify_packet_loss() -> tcp_newreno_mark_lost() or tcp_rack_mark_lost();
    /// with net.ipv4.tcp_recovery = 0 the SACK part follows RFC 6675.</remarks>
    private static void TcpIdentifyPacketLoss(TcpSock tp, ref int flag)
    {
        var head = tp.RtxQueue.First;
        if (head is null) return;
        if (tp.TcpIsSack && TcpRecovery.TcpIsRack(tp))
        {
            uint priorRetrans = tp.RetransOut;
            if (TcpRecovery.TcpRackMarkLost(tp)) flag &= ~FlagSetXmitTimer; // the REO timer is armed
            if (priorRetrans > tp.RetransOut) flag |= FlagLostRetrans;
            return;
        }
        if (!tp.TcpIsSack)
        {
            var state = tp.CaState;
            if ((state < TcpCaState.Recovery && tp.SackedOut >= tp.Reordering) ||
                (state == TcpCaState.Recovery && (flag & FlagSndUnaAdvanced) != 0))
            {
                if ((head.Cb.Sacked & TcpSkbCbSacked.Lost) == 0) TcpMarkSkbLost(tp, head);
            }
            return;
        }
        if (tp.SackedOut == 0) return;
        uint sackedAbove = 0;
        for (var skb = tp.RtxQueue.Last; skb is not null; skb = skb.Prev)
        {
            byte sacked = skb.Cb.Sacked;
            if ((sacked & TcpSkbCbSacked.SackedAcked) != 0) { sackedAbove++; continue; }
            if (sackedAbove < tp.Reordering) continue;
            // Stop at what is already marked and not since retransmitted: below is marked too.
            if ((sacked & TcpSkbCbSacked.Lost) != 0 && (sacked & TcpSkbCbSacked.SackedRetrans) == 0) break;
            if ((sacked & TcpSkbCbSacked.Lost) == 0) TcpMarkSkbLost(tp, skb);
        }
    }

    /// <remarks>Mirrors tcp_count_delivered().</remarks>
    private static void TcpCountDelivered(TcpSock tp, uint delivered, bool eceAck)
    {
        tp.Delivered += delivered;
        tp.Net.Mib.TcpExt[LinuxMib.TCPDelivered] += delivered;
        if (eceAck)
        {
            tp.DeliveredCe += delivered;
            tp.Net.Mib.TcpExt[LinuxMib.TCPDeliveredCE] += delivered;
        }
    }

    /// <remarks>Mirrors tcp_add_reno_sack() with tcp_limit_reno_sacked(): a duplicate ACK counts as one SACKed segment.</remarks>
    private static void TcpAddRenoSack(TcpSock tp, int numDupack, bool eceAck)
    {
        if (numDupack == 0) return;
        uint priorSacked = tp.SackedOut;
        tp.SackedOut += (uint)numDupack;
        TcpLimitRenoSacked(tp);
        // A duplicate ACK means a segment left the network (tcp_count_delivered).
        if (tp.SackedOut > priorSacked) TcpCountDelivered(tp, tp.SackedOut - priorSacked, eceAck);
    }

    /// <summary>Reno's count of duplicate ACKs never exceeds what is in flight less the holes.</summary>
    /// <remarks>Mirrors tcp_limit_reno_sacked().</remarks>
    private static bool TcpLimitRenoSacked(TcpSock tp)
    {
        uint holes = Math.Max(tp.LostOut, 1u);
        holes = Math.Min(holes, tp.PacketsOut);
        if (tp.SackedOut + holes > tp.PacketsOut)
        {
            tp.SackedOut = tp.PacketsOut - holes;
            return true;
        }
        return false;
    }

    /// <remarks>Mirrors tcp_remove_reno_sacks().</remarks>
    private static void TcpRemoveRenoSacks(TcpSock tp, uint acked, bool eceAck)
    {
        if (acked == 0) return;
        // One ACK acked the hole; the rest were counted as duplicate ACKs already.
        TcpCountDelivered(tp, (uint)Math.Max((int)acked - (int)tp.SackedOut, 1), eceAck);
        if (acked - 1 >= tp.SackedOut) tp.SackedOut = 0;
        else tp.SackedOut -= acked - 1;
    }

    /// <remarks>Mirrors tcp_reset_reno_sack().</remarks>
    private static void TcpResetRenoSack(TcpSock tp) => tp.SackedOut = 0;

    /// <remarks>Mirrors tcp_any_retrans_done().</remarks>
    private static bool TcpAnyRetransDone(TcpSock tp) =>
        tp.RetransOut != 0 || (tp.RtxQueue.First is { } skb && (skb.Cb.Sacked & TcpSkbCbSacked.EverRetrans) != 0);

    /// <remarks>Mirrors tcp_time_to_recover(): a loss is marked, or more than dupthresh segments were (S)ACKed beyond a hole.</remarks>
    private static bool TcpTimeToRecover(TcpSock tp) =>
        tp.LostOut != 0 || (!(tp.TcpIsSack && TcpRecovery.TcpIsRack(tp)) && tp.SackedOut + 1 > tp.Reordering);

    /// <remarks>Mirrors tcp_init_cwnd_reduction().</remarks>
    internal static void TcpInitCwndReduction(TcpSock tp)
    {
        tp.HighSeq = tp.SndNxt;
        tp.TlpHighSeq = 0;
        tp.SndCwndCnt = 0;
        tp.PriorCwnd = tp.SndCwnd;
        tp.PrrDelivered = 0;
        tp.PrrOut = 0;
        tp.SndSsthresh = tp.CaOps.Ssthresh(tp);
        TcpEcnQueueCwr(tp);
    }

    /// <summary>
    /// Enters CWR: a congestion signal without a loss (an ECN echo, a loss repaired by a TLP) reduces
    /// cwnd once, by proportional rate reduction toward the new ssthresh, unless already reducing.
    /// </summary>
    /// <remarks>Mirrors tcp_enter_cwr().</remarks>
    internal static void TcpEnterCwr(TcpSock tp)
    {
        tp.PriorSsthresh = 0;
        if (tp.CaState < TcpCaState.Cwr)
        {
            tp.UndoMarker = 0;
            tp.UndoMarkerValid = false;
            TcpInitCwndReduction(tp);
            TcpSetCaState(tp, TcpCaState.Cwr);
        }
    }

    /// <summary>
    /// Proportional rate reduction (RFC 6937): cwnd follows deliveries down to ssthresh during
    /// recovery; below ssthresh it grows back (slow-start reduction bound), by one more segment on
    /// an ACK that advanced snd_una unless it also revealed new losses (<paramref name="newlyLost"/>).
    /// </summary>
    /// <remarks>Mirrors tcp_cwnd_reduction().</remarks>
    internal static void TcpCwndReduction(TcpSock tp, int newlyAckedSacked, int newlyLost, int flag)
    {
        if (newlyAckedSacked <= 0 || tp.PriorCwnd == 0) return;
        int sndcnt;
        int delta = (int)tp.SndSsthresh - (int)tp.PacketsInFlight;
        tp.PrrDelivered += (uint)newlyAckedSacked;
        if (delta < 0)
        {
            ulong dividend = (ulong)tp.SndSsthresh * tp.PrrDelivered + tp.PriorCwnd - 1;
            sndcnt = (int)(dividend / tp.PriorCwnd) - (int)tp.PrrOut;
        }
        else
        {
            sndcnt = Math.Max((int)tp.PrrDelivered - (int)tp.PrrOut, newlyAckedSacked);
            if ((flag & FlagSndUnaAdvanced) != 0 && newlyLost == 0) sndcnt++;
            sndcnt = Math.Min(delta, sndcnt);
        }
        // Force a fast retransmit upon entering fast recovery.
        sndcnt = Math.Max(sndcnt, tp.PrrOut != 0 ? 0 : 1);
        tp.SndCwnd = tp.PacketsInFlight + (uint)sndcnt;
    }

    /// <remarks>Mirrors tcp_end_cwnd_reduction().</remarks>
    internal static void TcpEndCwndReduction(TcpSock tp)
    {
        if (tp.CaOps.HasCongControl) return;
        if (tp.SndSsthresh < TcpCong.InfiniteSsthresh && (tp.CaState == TcpCaState.Cwr || tp.UndoMarkerValid))
        {
            tp.SndCwnd = tp.SndSsthresh;
            tp.SndCwndStamp = tp.TcpClockNs;
        }
        tp.CaOps.CwndEvent(tp, TcpCaEvent.CompleteCwr);
    }

    /// <remarks>Mirrors tcp_enter_recovery().</remarks>
    internal static void TcpEnterRecovery(TcpSock tp)
    {
        tp.Net.Mib.TcpExt[tp.TcpIsSack ? LinuxMib.TCPSackRecovery : LinuxMib.TCPRenoRecovery]++;
        tp.PriorSsthresh = 0;
        TcpInitUndo(tp);
        if (!TcpInCwndReduction(tp))
        {
            tp.PriorSsthresh = TcpCurrentSsthresh(tp);
            TcpInitCwndReduction(tp);
        }
        TcpSetCaState(tp, TcpCaState.Recovery);
    }

    /// <summary>
    /// After a retransmission timeout: everything outstanding is presumed lost, ssthresh is cut
    /// (once per episode), cwnd drops to what is in flight plus one (then slow start).
    /// </summary>
    /// <remarks>Mirrors tcp_enter_loss() with tcp_timeout_mark_lost() (SACK reneging aside: a SACKed head is not un-SACKed here).</remarks>
    internal static void TcpEnterLoss(TcpSock tp)
    {
        bool newRecovery = tp.CaState < TcpCaState.Recovery;
        tp.RetransmitSkbHint = null;
        // Without SACK, sacked_out counts duplicate ACKs, not segments the scoreboard knows arrived:
        // forget them before every segment is marked lost, or sacked_out + lost_out exceeds
        // packets_out and the cwnd below (packets in flight + 1) wraps (tcp_timeout_mark_lost()).
        if (!tp.TcpIsSack) TcpResetRenoSack(tp);
        // tcp_timeout_mark_lost(): with RACK, a segment sent less than the RACK RTT (and reordering
        // window) ago may still be on its way: it stays in flight, so cwnd (in flight plus one)
        // keeps it, and RACK marks it later if it proves lost. The head is always marked.
        var head = tp.RtxQueue.First;
        bool rack = TcpRecovery.TcpIsRack(tp);
        for (var skb = head; skb is not null; skb = skb.Next)
        {
            if (rack && skb != head && TcpRecovery.TcpRackSkbTimeout(tp, skb, 0) > 0) continue; // don't mark recently sent ones lost yet
            TcpMarkSkbLost(tp, skb);
        }
        if (tp.CaState <= TcpCaState.Disorder || !SeqNumber.After(tp.HighSeq, tp.SndUna) ||
            (tp.CaState == TcpCaState.Loss && tp.IcskRetransmits == 0))
        {
            tp.PriorSsthresh = TcpCurrentSsthresh(tp);
            tp.PriorCwnd = tp.SndCwnd;
            tp.SndSsthresh = tp.CaOps.Ssthresh(tp);
            tp.CaOps.CwndEvent(tp, TcpCaEvent.Loss);
            TcpInitUndo(tp);
        }
        tp.SndCwnd = tp.PacketsInFlight + 1;
        tp.SndCwndCnt = 0;
        tp.SndCwndStamp = tp.TcpClockNs;
        // A timeout in Disorder after many duplicate ACKs: the reordering degree was overestimated.
        uint sysReordering = (uint)tp.Net.Ipv4.Sysctl.TcpReordering;
        if (tp.CaState <= TcpCaState.Disorder && tp.SackedOut >= sysReordering)
            tp.Reordering = Math.Min(tp.Reordering, sysReordering);
        TcpSetCaState(tp, TcpCaState.Loss);
        tp.HighSeq = tp.SndNxt;
        tp.TlpHighSeq = 0;
        TcpEcnQueueCwr(tp);
        // F-RTO (RFC 5682 3.1 step 1): judge this timeout unless a recovery was already under way,
        // except a timeout recurring on the same snd_una (3.2), nor while a path MTU probe is out.
        tp.Frto = tp.Net.Ipv4.Sysctl.TcpFrto != 0 && (newRecovery || tp.IcskRetransmits != 0) && tp.IcskMtup.ProbeSize == 0;
    }

    /// <summary>Back to Open (or Disorder while segments are SACKed, lost or retransmitted), also from CWR.</summary>
    /// <summary>The ACK echoes a timestamp older than the first retransmission: the original was delivered.</summary>
    /// <remarks>Mirrors tcp_packet_delayed() with tcp_tsopt_ecr_before().</remarks>
    private static bool TcpPacketDelayed(TcpSock tp)
    {
        if (tp.RetransStamp != 0)
            return tp.RxOpt.SawTstamp && tp.RxOpt.RcvTsecr != 0 &&
                   SeqNumber.Before(tp.RxOpt.RcvTsecr, unchecked((uint)(tp.RetransStamp / Time.NsPerMs)));
        // A zero retrans_stamp normally means nothing was retransmitted yet, except where it was
        // cleared after retransmitting: without SACK, tcp_try_undo_recovery() clears it while it
        // holds the state at snd_una == high_seq, and the next ACK must not undo a real recovery
        // (Linux's fix "tcp: fix tcp_packet_delayed() for tcp_is_non_sack_preventing_reopen() behavior");
        // in SYN_SENT, the SYN-ACK's clean-up clears it.
        if (!tp.TcpIsSack && !SeqNumber.Before(tp.SndUna, tp.HighSeq)) return false;
        return tp.State != TcpState.SynSent;
    }

    /// <remarks>Mirrors tcp_may_undo(): all retransmissions D-SACKed, or the packet was only delayed.</remarks>
    private static bool TcpMayUndo(TcpSock tp) => tp.UndoMarkerValid && (tp.UndoRetrans == 0 || TcpPacketDelayed(tp));

    /// <summary>Restores cwnd and ssthresh from before a reduction that proved spurious.</summary>
    /// <remarks>Mirrors tcp_undo_cwnd_reduction().</remarks>
    private static void TcpUndoCwndReduction(TcpSock tp, bool unmarkLoss)
    {
        if (unmarkLoss)
        {
            for (var skb = tp.RtxQueue.First; skb is not null; skb = skb.Next) skb.Cb.Sacked &= unchecked((byte)~TcpSkbCbSacked.Lost);
            tp.LostOut = 0;
            tp.RetransmitSkbHint = null;
        }
        if (tp.PriorSsthresh != 0)
        {
            tp.SndCwnd = tp.CaOps.UndoCwnd(tp);
            if (tp.PriorSsthresh > tp.SndSsthresh) tp.SndSsthresh = tp.PriorSsthresh;
            TcpEcnWithdrawCwr(tp);
        }
        tp.SndCwndStamp = tp.TcpClockNs;
        tp.UndoMarker = 0;
        tp.UndoMarkerValid = false;
        tp.Rack.Advanced = true; // force RACK to re-examine losses
    }

    /// <summary>Every retransmission of this episode was D-SACKed (they were spurious): undo the reduction.</summary>
    /// <remarks>Mirrors tcp_try_undo_dsack().</remarks>
    private static bool TcpTryUndoDsack(TcpSock tp)
    {
        if (tp.UndoMarkerValid && tp.UndoRetrans == 0)
        {
            tp.Rack.ReoWndPersist = (byte)Math.Min(TcpRecovery.TcpRackRecoveryThresh, tp.Rack.ReoWndPersist + 1);
            TcpUndoCwndReduction(tp, false);
            tp.Net.Mib.TcpExt[LinuxMib.TCPDSACKUndo]++;
            return true;
        }
        return false;
    }

    /// <remarks>Mirrors tcp_try_keep_open().</remarks>
    internal static void TcpTryKeepOpen(TcpSock tp)
    {
        var state = tp.LeftOut != 0 || TcpAnyRetransDone(tp) ? TcpCaState.Disorder : TcpCaState.Open;
        if (tp.CaState != state)
        {
            TcpSetCaState(tp, state);
            tp.HighSeq = tp.SndNxt;
        }
    }

    /// <summary>Back to Open or Disorder; an ECN echo enters CWR instead.</summary>
    /// <remarks>Mirrors tcp_try_to_open() with tcp_try_keep_open().</remarks>
    internal static void TcpTryToOpen(TcpSock tp, int flag)
    {
        if (!TcpAnyRetransDone(tp)) tp.RetransStamp = 0;
        if ((flag & FlagEce) != 0) TcpEnterCwr(tp);
        if (tp.CaState != TcpCaState.Cwr)
        {
            var state = tp.LeftOut != 0 || TcpAnyRetransDone(tp) ? TcpCaState.Disorder : TcpCaState.Open;
            if (tp.CaState != state)
            {
                TcpSetCaState(tp, state);
                tp.HighSeq = tp.SndNxt;
            }
        }
    }

    /// <summary>Recovery ended: undo the cwnd reduction if it proved spurious.</summary>
    /// <remarks>Mirrors tcp_try_undo_recovery().</remarks>
    private static bool TcpTryUndoRecovery(TcpSock tp)
    {
        if (TcpMayUndo(tp))
        {
            // Happy end: nothing was retransmitted, or the originals were delivered after all.
            TcpUndoCwndReduction(tp, false);
            tp.Net.Mib.TcpExt[tp.CaState == TcpCaState.Loss ? LinuxMib.TCPLossUndo : LinuxMib.TCPFullUndo]++;
        }
        else if (tp.Rack.ReoWndPersist != 0)
        {
            tp.Rack.ReoWndPersist--;
        }
        if (tp.SndUna == tp.HighSeq && !tp.TcpIsSack)
        {
            // Reno holds the state until something above high_seq is ACKed (RFC 6582).
            if (!TcpAnyRetransDone(tp)) tp.RetransStamp = 0;
            return true;
        }
        TcpSetCaState(tp, TcpCaState.Open);
        return false;
    }

    /// <summary>
    /// A partial ACK in Recovery whose echoed timestamp predates the first retransmission: the hole was
    /// filled by the delayed original, not by the retransmission, so the recovery was spurious. The
    /// reordering degree is raised; once no retransmission is out the reduction is undone and the
    /// state goes back to Open or Disorder. Returns true while retransmissions are still out (clock
    /// out new data, but mark and retransmit nothing more).
    /// </summary>
    /// <remarks>Mirrors tcp_try_undo_partial(). Linux's else branch (do_lost = tcp_force_fast_retransmit())
    /// is in <see cref="TcpIdentifyPacketLoss"/> here, which marks the head lost on a partial ACK.</remarks>
    private static bool TcpTryUndoPartial(TcpSock tp, uint priorSndUna)
    {
        if (!(tp.UndoMarkerValid && TcpPacketDelayed(tp))) return false;
        TcpCheckSackReordering(tp, priorSndUna, ts: true);
        if (tp.RetransOut != 0) return true;
        if (!TcpAnyRetransDone(tp)) tp.RetransStamp = 0;
        TcpUndoCwndReduction(tp, true);
        tp.Net.Mib.TcpExt[LinuxMib.TCPPartialUndo]++;
        TcpTryKeepOpen(tp);
        return false;
    }

    /// <summary>What the ACK asks to send after loss recovery ran (tcp_fastretrans_alert()'s *rexmit).</summary>
    internal const int RexmitNone = 0, RexmitLost = 1, RexmitNew = 2;

    /// <summary>Reno holds its state until something above high_seq is acknowledged (RFC 6582): SACK need not.</summary>
    /// <remarks>Mirrors tcp_is_non_sack_preventing_reopen().</remarks>
    private static bool TcpIsNonSackPreventingReopen(TcpSock tp)
    {
        if (tp.SndUna == tp.HighSeq && !tp.TcpIsSack)
        {
            if (!TcpAnyRetransDone(tp)) tp.RetransStamp = 0;
            return true;
        }
        return false;
    }

    /// <summary>
    /// Undoes a retransmission timeout that proved spurious: F-RTO saw never-retransmitted data
    /// (S)ACKed (<paramref name="frtoUndo"/>), or every retransmission was D-SACKed, or the ACK
    /// echoes a timestamp older than the first retransmission. cwnd and ssthresh come back, the
    /// loss marks go, and (with SACK, or by F-RTO) the state is Open again.
    /// </summary>
    /// <remarks>Mirrors tcp_try_undo_loss().</remarks>
    private static bool TcpTryUndoLoss(TcpSock tp, bool frtoUndo)
    {
        if (!frtoUndo && !TcpMayUndo(tp)) return false;
        TcpUndoCwndReduction(tp, true);
        tp.Net.Mib.TcpExt[LinuxMib.TCPLossUndo]++;
        if (frtoUndo) tp.Net.Mib.TcpExt[LinuxMib.TCPSpuriousRTOs]++;
        tp.IcskRetransmits = 0;
        if (TcpIsNonSackPreventingReopen(tp)) return true;
        if (frtoUndo || tp.TcpIsSack) TcpSetCaState(tp, TcpCaState.Open);
        return true;
    }

    /// <summary>
    /// An ACK in the Loss state (after a retransmission timeout). F-RTO (RFC 5682 3.1, SACK-enhanced):
    /// when the first ACK after the timeout advances snd_una, send new data rather than more
    /// retransmissions (step 2.b); if a later ACK then (S)ACKs data that was never retransmitted, the
    /// timeout was spurious and is undone (3.b); SACKs of the new data or duplicate ACKs mean the
    /// loss was real (3.a) and the conventional recovery goes on.
    /// </summary>
    /// <remarks>Mirrors tcp_process_loss().</remarks>
    private static void TcpProcessLoss(TcpSock tp, int flag, int numDupack, ref int rexmit)
    {
        bool recovered = !SeqNumber.Before(tp.SndUna, tp.HighSeq);
        if ((flag & FlagSndUnaAdvanced) != 0 && TcpTryUndoLoss(tp, false)) return;
        if (tp.Frto)
        {
            // Step 3.b: a timeout is spurious if not all data were lost: never-retransmitted data (S)ACKed.
            if ((flag & FlagOrigSackAcked) != 0 && TcpTryUndoLoss(tp, true)) return;
            if (SeqNumber.After(tp.SndNxt, tp.HighSeq))
            {
                if ((flag & FlagDataSacked) != 0 || numDupack != 0) tp.Frto = false; // step 3.a: the loss was real
            }
            else if ((flag & FlagSndUnaAdvanced) != 0 && !recovered)
            {
                tp.HighSeq = tp.SndNxt;
                // Step 2.b: send new data (once tcp_ack() updated cwnd), else the conventional recovery.
                if (tp.TcpSendHead is not null && SeqNumber.After(tp.TcpWndEnd, tp.SndNxt))
                {
                    rexmit = RexmitNew;
                    return;
                }
                tp.Frto = false;
            }
        }
        if (recovered)
        {
            // F-RTO step 2.a and the first part of step 3.a.
            TcpTryUndoRecovery(tp);
            return;
        }
        if (!tp.TcpIsSack)
        {
            // A Reno duplicate ACK means new data of step 2.b arrived: lower in-flight to clock out (re)transmissions.
            if (SeqNumber.After(tp.SndNxt, tp.HighSeq) && numDupack != 0) TcpAddRenoSack(tp, numDupack, (flag & FlagEce) != 0);
            else if ((flag & FlagSndUnaAdvanced) != 0) TcpResetRenoSack(tp);
        }
        rexmit = RexmitLost;
    }

    /// <summary>Sends what loss recovery asked for: new data first for F-RTO, then the lost segments.</summary>
    /// <remarks>Mirrors tcp_xmit_recovery().</remarks>
    private static void TcpXmitRecovery(TcpSock tp, int rexmit)
    {
        if (rexmit == RexmitNone || tp.State == TcpState.SynSent) return;
        if (rexmit == RexmitNew)
        {
            TcpOutput.TcpPushPendingFrames(tp, TcpOutput.TcpCurrentMss(tp), TcpSock.TcpNagleOff);
            if (SeqNumber.After(tp.SndNxt, tp.HighSeq)) return;
            tp.Frto = false;
        }
        TcpOutput.TcpXmitRetransmitQueue(tp);
    }

    /// <summary>
    /// The loss-recovery state machine, on every ACK that is a duplicate, carries SACK news, or
    /// arrives outside the Open state: enter, continue and leave fast recovery, and retransmit.
    /// Returns what to send now (<see cref="RexmitNone"/>, <see cref="RexmitLost"/>: the lost
    /// segments, <see cref="RexmitNew"/>: new data for F-RTO).
    /// </summary>
    /// <remarks>Mirrors tcp_fastretrans_alert().</remarks>
    private static int TcpFastretransAlert(TcpSock tp, uint priorSndUna, int numDupack, ref int flag)
    {
        int rexmit = RexmitNone;
        if (tp.PacketsOut == 0 && tp.SackedOut != 0) tp.SackedOut = 0;
        // D. State exit conditions: high_seq was acknowledged.
        if (tp.CaState == TcpCaState.Open)
        {
            tp.RetransStamp = 0;
        }
        else if (!SeqNumber.Before(tp.SndUna, tp.HighSeq))
        {
            switch (tp.CaState)
            {
                case TcpCaState.Cwr:
                    if (tp.SndUna != tp.HighSeq)
                    {
                        TcpEndCwndReduction(tp);
                        TcpSetCaState(tp, TcpCaState.Open);
                    }
                    break;
                case TcpCaState.Recovery:
                    if (!tp.TcpIsSack) TcpResetRenoSack(tp);
                    if (TcpTryUndoRecovery(tp)) return RexmitNone;
                    TcpEndCwndReduction(tp);
                    break;
            }
        }
        // E. Process the state.
        switch (tp.CaState)
        {
            case TcpCaState.Recovery:
                if ((flag & FlagSndUnaAdvanced) == 0)
                {
                    if (!tp.TcpIsSack) TcpAddRenoSack(tp, numDupack, (flag & FlagEce) != 0);
                }
                else if (TcpTryUndoPartial(tp, priorSndUna))
                {
                    return RexmitNone;
                }
                if (TcpTryUndoDsack(tp)) TcpTryToOpen(tp, flag);
                TcpIdentifyPacketLoss(tp, ref flag);
                if (tp.CaState != TcpCaState.Recovery)
                {
                    // Undo reverted the recovery; if a loss is evident still, start a new one.
                    if (!TcpTimeToRecover(tp)) return RexmitNone;
                    TcpEnterRecovery(tp);
                }
                break;
            case TcpCaState.Loss:
                TcpProcessLoss(tp, flag, numDupack, ref rexmit);
                // RACK finds lost retransmissions in Loss too (Reno marks nothing in Loss, nor does the
                // RFC 6675 rule: the timeout marked everything).
                if (tp.TcpIsSack && TcpRecovery.TcpIsRack(tp)) TcpIdentifyPacketLoss(tp, ref flag);
                // Change state if cwnd is undone or retransmissions are lost.
                if (!(tp.CaState == TcpCaState.Open || (flag & FlagLostRetrans) != 0)) return rexmit;
                goto default;
            default:
                if (!tp.TcpIsSack)
                {
                    if ((flag & FlagSndUnaAdvanced) != 0) TcpResetRenoSack(tp);
                    TcpAddRenoSack(tp, numDupack, (flag & FlagEce) != 0);
                }
                if (tp.CaState <= TcpCaState.Disorder) TcpTryUndoDsack(tp);
                TcpIdentifyPacketLoss(tp, ref flag);
                if (!TcpTimeToRecover(tp))
                {
                    TcpTryToOpen(tp, flag);
                    return RexmitNone;
                }
                // The path MTU probe is what was lost: its size is too large, not a sign of congestion.
                if (tp.CaState < TcpCaState.Cwr && tp.IcskMtup.ProbeSize != 0 && tp.SndUna == tp.MtuProbeSeqStart)
                {
                    TcpMtupProbeFailed(tp);
                    tp.SndCwnd++; // gives back what tcp_mtu_probe() took
                    TcpSimpleRetransmit(tp);
                    return RexmitNone;
                }
                TcpEnterRecovery(tp);
                // NewReno/SACK without RACK: the head is the first to go if nothing else is marked yet (tcp_update_scoreboard).
                if (!TcpRecovery.TcpIsRack(tp) && tp.LostOut == 0 && tp.RtxQueue.First is { } head) TcpMarkSkbLost(tp, head);
                break;
        }
        return RexmitLost;
    }

    /// <remarks>Mirrors tcp_may_raise_cwnd().</remarks>
    private static bool TcpMayRaiseCwnd(TcpSock tp, int flag)
    {
        if (tp.Reordering > tp.Net.Ipv4.Sysctl.TcpReordering) return (flag & FlagForwardProgress) != 0;
        return (flag & FlagDataAcked) != 0;
    }

    /// <summary>cwnd and pacing after an ACK: the algorithm's cong_control, or the generic path.</summary>
    /// <remarks>Mirrors tcp_cong_control().</remarks>
    private static void TcpCongControl(TcpSock tp, uint ack, int flag) => tp.CaOps.CongControl(tp, ack, flag, tp.Rs);

    /// <summary>The generic path of tcp_cong_control() (algorithms without cong_control).</summary>
    /// <remarks>Mirrors tcp_cong_control() after its cong_control test: tcp_cwnd_reduction() or tcp_cong_avoid(), then tcp_update_pacing_rate().</remarks>
    internal static void TcpCongControlDefault(TcpSock tp, uint ack, uint ackedSacked, int flag)
    {
        if (TcpInCwndReduction(tp))
        {
            // Reduce cwnd if state mandates.
            TcpCwndReduction(tp, (int)ackedSacked, tp.Rs.Losses, flag);
        }
        else if (TcpMayRaiseCwnd(tp, flag))
        {
            // Advance cwnd if state allows.
            tp.CaOps.CongAvoid(tp, ack, ackedSacked);
            tp.SndCwndStamp = tp.TcpClockNs;
        }
        TcpUpdatePacingRate(tp);
    }

    /// <summary>
    /// sk_pacing_rate = ratio * mss * max(cwnd, packets_out) / srtt: tcp_pacing_ss_ratio (200%) in
    /// slow start while cwnd is below ssthresh/2, tcp_pacing_ca_ratio (120%) after; capped by
    /// SO_MAX_PACING_RATE. Without an RTT sample the division is skipped, as in Linux.
    /// </summary>
    /// <remarks>Mirrors tcp_update_pacing_rate().</remarks>
    internal static void TcpUpdatePacingRate(TcpSock tp)
    {
        var sys = tp.Net.Ipv4.Sysctl;
        // set sk_pacing_rate to 200 % of current rate (mss * cwnd / srtt)
        ulong rate = (ulong)tp.MssCache * ((1_000_000 / 100) << 3);
        rate *= (ulong)(tp.SndCwnd < tp.SndSsthresh / 2 ? sys.TcpPacingSsRatio : sys.TcpPacingCaRatio);
        rate *= Math.Max(tp.SndCwnd, tp.PacketsOut);
        if (tp.SrttUs != 0) rate /= tp.SrttUs;
        tp.PacingRate = Math.Min(rate, tp.MaxPacingRate);
    }

    // ---- ECN (RFC 3168) ----

    /// <remarks>Mirrors tcp_ecn_queue_cwr(): the next new data segment carries CWR.</remarks>
    private static void TcpEcnQueueCwr(TcpSock tp)
    {
        if ((tp.EcnFlags & TcpSock.TcpEcnOk) != 0) tp.EcnFlags |= TcpSock.TcpEcnQueueCwr;
    }

    /// <remarks>Mirrors tcp_ecn_withdraw_cwr().</remarks>
    private static void TcpEcnWithdrawCwr(TcpSock tp) => tp.EcnFlags &= unchecked((byte)~TcpSock.TcpEcnQueueCwr);

    /// <summary>CWR from the sender: stop echoing ECE; ACK a data segment at once (the sender's cwnd may be 1).</summary>
    /// <remarks>Mirrors tcp_ecn_accept_cwr().</remarks>
    private static void TcpEcnAcceptCwr(TcpSock tp, SkBuff skb)
    {
        if ((skb.Cb.TcpFlags & TcpFlags.CWR) == 0) return;
        tp.EcnFlags &= unchecked((byte)~TcpSock.TcpEcnDemandCwr);
        if (skb.Cb.Seq != skb.Cb.EndSeq) tp.IcskAck.Pending |= IcskAck.Now;
    }

    /// <summary>
    /// The ECN codepoint of a received data segment: CE starts echoing ECE (until CWR) and ACKs
    /// quickly; ECT just records that the peer marks; Not-ECT after ECT was seen is probably a
    /// retransmission. An algorithm that needs ECN (DCTCP) is told of every CE and non-CE segment.
    /// </summary>
    /// <remarks>Mirrors tcp_ecn_check_ce() / __tcp_ecn_check_ce().</remarks>
    private static void TcpEcnCheckCe(TcpSock tp, SkBuff skb)
    {
        if ((tp.EcnFlags & TcpSock.TcpEcnOk) == 0) return;
        switch (skb.Cb.IpDsfield & InetEcn.Mask)
        {
            case InetEcn.NotEct:
                // Funny extension: if ECT is not set on a segment, and we already seen ECT on a
                // previous segment, it is probably a retransmit.
                if ((tp.EcnFlags & TcpSock.TcpEcnSeen) != 0) TcpEnterQuickackMode(tp, 2);
                break;
            case InetEcn.Ce:
                if (TcpCong.TcpCaNeedsEcn(tp)) tp.CaOps.CwndEvent(tp, TcpCaEvent.EcnIsCe);
                if ((tp.EcnFlags & TcpSock.TcpEcnDemandCwr) == 0)
                {
                    // Better not delay acks, sender can have a very low cwnd.
                    TcpEnterQuickackMode(tp, 2);
                    tp.EcnFlags |= TcpSock.TcpEcnDemandCwr;
                }
                tp.EcnFlags |= TcpSock.TcpEcnSeen;
                break;
            default:
                if (TcpCong.TcpCaNeedsEcn(tp)) tp.CaOps.CwndEvent(tp, TcpCaEvent.EcnNoCe);
                tp.EcnFlags |= TcpSock.TcpEcnSeen;
                break;
        }
    }

    /// <summary>A SYN-ACK without ECE, or with CWR, declines ECN.</summary>
    /// <remarks>Mirrors tcp_ecn_rcv_synack().</remarks>
    private static void TcpEcnRcvSynack(TcpSock tp, TcpHeader th)
    {
        if ((tp.EcnFlags & TcpSock.TcpEcnOk) != 0 && ((th.Flags & TcpFlags.ECE) == 0 || (th.Flags & TcpFlags.CWR) != 0))
            tp.EcnFlags &= unchecked((byte)~TcpSock.TcpEcnOk);
    }

    /// <summary>A simultaneous-open SYN without ECE|CWR declines ECN.</summary>
    /// <remarks>Mirrors tcp_ecn_rcv_syn().</remarks>
    private static void TcpEcnRcvSyn(TcpSock tp, TcpHeader th)
    {
        if ((tp.EcnFlags & TcpSock.TcpEcnOk) != 0 && ((th.Flags & TcpFlags.ECE) == 0 || (th.Flags & TcpFlags.CWR) == 0))
            tp.EcnFlags &= unchecked((byte)~TcpSock.TcpEcnOk);
    }

    /// <remarks>Mirrors tcp_ecn_rcv_ecn_echo(): ECE on a non-SYN segment of an ECN connection.</remarks>
    private static bool TcpEcnRcvEcnEcho(TcpSock tp, byte flags) =>
        (flags & TcpFlags.ECE) != 0 && (flags & TcpFlags.SYN) == 0 && (tp.EcnFlags & TcpSock.TcpEcnOk) != 0;

    /// <remarks>Mirrors tcp_in_ack_event().</remarks>
    private static void TcpInAckEvent(TcpSock tp, int flag)
    {
        var ev = TcpCaAckEventFlags.None;
        if ((flag & FlagWinUpdate) != 0) ev |= TcpCaAckEventFlags.WinUpdate;
        if ((flag & FlagSlowpath) != 0)
        {
            ev |= TcpCaAckEventFlags.Slowpath;
            if ((flag & FlagEce) != 0) ev |= TcpCaAckEventFlags.Ece;
        }
        tp.CaOps.InAckEvent(tp, ev);
    }

    /// <summary>Re-arms (or stops) the retransmission timer after ACK progress.</summary>
    /// <remarks>Mirrors tcp_rearm_rto().</remarks>
    internal static void TcpRearmRto(TcpSock tp)
    {
        if (tp.PacketsOut == 0)
        {
            tp.InetCskClearXmitTimer(InetConnectionSock.IcskTimeRetrans);
        }
        else
        {
            long rto = tp.IcskRto;
            // Offset the time elapsed since the regular RTO would have been installed.
            if (tp.IcskPending is InetConnectionSock.IcskTimeReoTimeout or InetConnectionSock.IcskTimeLossProbe)
                rto = Math.Max(TcpRtoDeltaUs(tp), 1) * 1000;
            tp.InetCskResetXmitTimer(InetConnectionSock.IcskTimeRetrans, rto, TcpTimer.TcpRtoMax(tp.Net));
        }
    }

    /// <summary>How far in the future (usec) the RTO of the head of the retransmit queue is.</summary>
    /// <remarks>Mirrors tcp_rto_delta_us().</remarks>
    internal static long TcpRtoDeltaUs(TcpSock tp)
    {
        var head = tp.RtxQueue.First;
        if (head is null) return tp.IcskRto / 1000;
        return (head.Cb.When + tp.IcskRto - tp.TcpClockNs) / 1000; // tcp_mstamp, as tcp_rto_delta_us()
    }

    /// <summary>After ACK progress: the loss probe timer if a TLP may be sent, else the RTO.</summary>
    /// <remarks>Mirrors tcp_set_xmit_timer().</remarks>
    private static void TcpSetXmitTimer(TcpSock tp)
    {
        if (!TcpOutput.TcpScheduleLossProbe(tp, true)) TcpRearmRto(tp);
    }

    /// <summary>
    /// ACKs during a TLP episode: an ACK of new data, a D-SACK of the probe, or a pure duplicate ACK
    /// (original and probe both arrived) end it without loss; an ACK beyond the probe means the
    /// probe repaired a loss: reduce cwnd once (CWR) and count TCPLossProbeRecovery.
    /// </summary>
    /// <remarks>Mirrors tcp_process_tlp_ack() (RFC 8985 7.4).</remarks>
    private static void TcpProcessTlpAck(TcpSock tp, uint ack, int flag)
    {
        if (SeqNumber.Before(ack, tp.TlpHighSeq)) return;
        if (!tp.TlpRetrans)
        {
            tp.TlpHighSeq = 0; // a TLP of new data was acknowledged
        }
        else if ((flag & FlagDsackTlp) != 0)
        {
            tp.TlpHighSeq = 0; // this D-SACK means original and probe arrived: no loss
        }
        else if (SeqNumber.After(ack, tp.TlpHighSeq))
        {
            // The ACK advances: there was a loss; reduce cwnd (resets tlp_high_seq).
            TcpInitCwndReduction(tp);
            TcpSetCaState(tp, TcpCaState.Cwr);
            TcpEndCwndReduction(tp);
            TcpTryKeepOpen(tp);
            tp.Net.Mib.TcpExt[LinuxMib.TCPLossProbeRecovery]++;
        }
        else if ((flag & (FlagSndUnaAdvanced | FlagNotDup | FlagDataSacked)) == 0)
        {
            tp.TlpHighSeq = 0; // pure duplicate ACK: original and probe arrived, no loss
        }
    }

    /// <summary>Arms the zero-window probe when data waits and nothing is in flight.</summary>
    /// <remarks>Mirrors tcp_check_probe_timer().</remarks>
    internal static void TcpCheckProbeTimer(TcpSock tp)
    {
        if (tp.PacketsOut == 0 && tp.IcskPending == 0)
            tp.InetCskResetXmitTimer(InetConnectionSock.IcskTimeProbe0, TcpTimer.TcpProbe0Base(tp), TcpTimer.TcpRtoMax(tp.Net));
    }

    /// <summary>An ACK with nothing in flight: stop probing when the window opened, else back the probe off.</summary>
    /// <remarks>Mirrors tcp_ack_probe().</remarks>
    private static void TcpAckProbe(TcpSock tp)
    {
        var head = tp.TcpSendHead;
        if (head is null) return;
        if (!SeqNumber.After(head.Cb.EndSeq, tp.TcpWndEnd))
        {
            tp.IcskBackoff = 0;
            tp.IcskProbesTstamp = 0;
            tp.InetCskClearXmitTimer(InetConnectionSock.IcskTimeProbe0);
        }
        else
        {
            tp.InetCskResetXmitTimer(InetConnectionSock.IcskTimeProbe0, TcpTimer.TcpProbe0When(tp, TcpTimer.TcpRtoMax(tp.Net)), TcpTimer.TcpRtoMax(tp.Net));
        }
    }

    /// <summary>
    /// Processes the ACK field (RFC 9293 3.10.7.4 fifth): ignores old ACKs, rejects ACKs of unsent
    /// data and ACKs older than the window (RFC 5961 5.2, with a challenge ACK), updates the send
    /// window, frees acknowledged data, samples the RTT, runs loss recovery and congestion
    /// control. Returns 1 for a good ACK, 0 for an old one, a negative value for an invalid one.
    /// </summary>
    /// <remarks>Mirrors tcp_ack(), with the tcp_mstamp_refresh() that tcp_rcv_established() / tcp_rcv_state_process() do first.</remarks>
    private static int TcpAck(TcpSock tp, SkBuff skb, int flag)
    {
        // tcp_mstamp_refresh(): one clock read for the whole ACK. Freeing and RACK read the time per
        // acknowledged segment (tcp_rack_advance() uses tp->tcp_mstamp), and an ACK of a TSO
        // super-frame covers some 45 one-MSS buffers here: 45 clock_gettime() calls per ACK, 2% of
        // a bulk sender's samples. A transmit round inside (recovery) refreshes it, as Linux does.
        using (new TcpMstampScope(tp)) return TcpAckMstamped(tp, skb, flag);
    }

    /// <summary>tcp_ack() proper, with <see cref="TcpSock.TcpClockNs"/> read once for it (<see cref="TcpAck"/>).</summary>
    /// <remarks>Mirrors tcp_ack().</remarks>
    private static int TcpAckMstamped(TcpSock tp, SkBuff skb, int flag)
    {
        uint priorSndUna = tp.SndUna;
        uint ackSeq = skb.Cb.Seq;
        uint ack = skb.Cb.AckSeq;
        uint priorPackets = tp.PacketsOut;
        uint priorDelivered = tp.Delivered;
        uint priorLost = tp.Lost;
        int numDupack = 0;
        int rexmit = RexmitNone;
        var sackState = default(TcpSacktagState);
        var th = TcpHdr(skb);
        tp.Rs = default; // struct rate_sample rs = { .prior_delivered = 0 }

        if (SeqNumber.Before(ack, priorSndUna))
        {
            // RFC 5961 5.2: an ACK older than the window we could have sent is an attack or a bug.
            uint maxWindow = (uint)Math.Min(tp.MaxWindow, tp.BytesAcked);
            if (SeqNumber.Before(ack, priorSndUna - maxWindow))
            {
                if ((flag & FlagNoChallengeAck) == 0) TcpSendChallengeAck(tp);
                return -1;
            }
            goto oldAck;
        }
        // An ACK for data not yet sent (RFC 9293 3.10.7.4: "send an ACK, drop the segment"): Linux
        // answers with a (rate-limited) challenge ACK since 6.10, and drops the segment.
        if (SeqNumber.After(ack, tp.SndNxt))
        {
            if ((flag & FlagNoChallengeAck) == 0) TcpSendChallengeAck(tp);
            return -1;
        }

        if (SeqNumber.After(ack, priorSndUna))
        {
            flag |= FlagSndUnaAdvanced;
            tp.IcskRetransmits = 0;
        }
        uint priorFack = tp.TcpIsSack ? TcpHighestSackSeq(tp) : tp.SndUna;
        tp.Rs.PriorInFlight = tp.PacketsInFlight;
        if ((flag & FlagUpdateTsRecent) != 0) TcpReplaceTsRecent(tp, skb.Cb.Seq);
        if ((flag & (FlagSlowpath | FlagSndUnaAdvanced)) == FlagSndUnaAdvanced)
        {
            // Header prediction's ACK: the window is the predicted one, a pure forward advance
            // (SND.UNA >= SND.WL2), no SACK, no ECN echo. No more checks are required.
            tp.SndWl1 = ackSeq; // tcp_update_wl()
            TcpSndUnaUpdate(tp, ack);
            flag |= FlagWinUpdate;
            tp.Net.Mib.TcpExt[LinuxMib.TCPHPAcks]++;
        }
        else
        {
            if (ackSeq != skb.Cb.EndSeq) flag |= FlagData;
            else tp.Net.Mib.TcpExt[LinuxMib.TCPPureAcks]++;
            flag |= TcpAckUpdateWindow(tp, th, ack, ackSeq);
            // The ECN echo is known before the SACKed segments are counted delivered (sack_delivered with FLAG_ECE).
            if (TcpEcnRcvEcnEcho(tp, skb.Cb.TcpFlags)) flag |= FlagEce;
            if (tp.RcvSack.Count > 0) flag |= TcpSacktagWriteQueue(tp, tp.RcvSack, ack, priorSndUna, ref sackState);
            if (sackState.SackDelivered != 0) TcpCountDelivered(tp, sackState.SackDelivered, (flag & FlagEce) != 0);
        }

        tp.ErrSoft = 0;
        tp.IcskProbesOut = 0;
        tp.RcvTstamp = tp.TcpClockNs;
        if (priorPackets == 0) goto noQueue;

        flag |= TcpCleanRtxQueue(tp, priorFack, priorSndUna, (flag & FlagEce) != 0, sackState);
        TcpRecovery.TcpRackUpdateReoWnd(tp);
        TcpInAckEvent(tp, flag);
        if (tp.TlpHighSeq != 0) TcpProcessTlpAck(tp, ack, flag);
        bool dubious = (flag & FlagNotDup) == 0 || (flag & FlagCaAlert) != 0 || tp.CaState != TcpCaState.Open;
        if (dubious)
        {
            if ((flag & (FlagSndUnaAdvanced | FlagNotDup | FlagDsackingAck)) == 0) numDupack = 1;
            rexmit = TcpFastretransAlert(tp, priorSndUna, numDupack, ref flag);
        }
        // Reset the TLP or RTO timer unless RACK armed the REO timer.
        if ((flag & FlagSetXmitTimer) != 0) TcpSetXmitTimer(tp);
        uint delivered = tp.Delivered - priorDelivered;
        tp.Rs.IsAckDelayed = (flag & FlagAckMaybeDelayed) != 0;
        TcpRateGen(tp, delivered, tp.Lost - priorLost, false);
        TcpCongControl(tp, ack, flag);
        TcpXmitRecovery(tp, rexmit);
        if ((flag & FlagAcked) != 0) TcpCheckSpace(tp);
        TcpTracepoint.TraceTcpProbe(tp, skb);
        return 1;

    noQueue:
        TcpInAckEvent(tp, flag);
        if (tp.TcpSendHead is not null) TcpAckProbe(tp);
        if (tp.TlpHighSeq != 0) TcpProcessTlpAck(tp, ack, flag);
        TcpTracepoint.TraceTcpProbe(tp, skb);
        return 1;

    oldAck:
        if (tp.RcvSack.Count > 0)
        {
            flag |= TcpSacktagWriteQueue(tp, tp.RcvSack, ack, priorSndUna, ref sackState);
            TcpXmitRecovery(tp, TcpFastretransAlert(tp, priorSndUna, numDupack, ref flag));
        }
        TcpTracepoint.TraceTcpProbe(tp, skb);
        return 0;
    }

    // ---- after input: send data, send ACKs, writable ----

    /// <remarks>Mirrors tcp_sndbuf_expand(): room for two windows of segments (CUBIC's fast recovery needs about 1.7).</remarks>
    internal static void TcpSndbufExpand(TcpSock tp)
    {
        int perMss = SkBuffPool.DefaultBufferSize + Sock.SkbTruesizeOverhead;
        uint nrSegs = Math.Max(TcpSock.TcpInitCwnd, tp.SndCwnd);
        nrSegs = Math.Max(nrSegs, tp.Reordering + 1);
        long sndmem = (long)tp.CaOps.SndbufExpand(tp) * nrSegs * perMss;
        if (tp.SndBuf < sndmem) tp.SndBuf = (int)Math.Min(sndmem, tp.Net.Ipv4.Sysctl.TcpWmemMax);
    }

    /// <summary>Grow the send buffer? Not when SO_SNDBUF fixed it, under memory pressure, over tcp_mem[0], or when cwnd is full.</summary>
    /// <remarks>Mirrors tcp_should_expand_sndbuf().</remarks>
    private static bool TcpShouldExpandSndbuf(TcpSock tp)
    {
        if ((tp.UserLocks & Sock.SockSndbufLock) != 0) return false;
        if (TcpMemory.TcpUnderMemoryPressure(tp)) return false;
        var mem = tp.Net.Ipv4.TcpMem;
        if (mem.MemoryAllocated >= mem.MemLimit(0)) return false;
        if (tp.PacketsInFlight >= tp.SndCwnd) return false;
        return true;
    }

    /// <summary>Space was freed in the send buffer: grow it with cwnd and wake writers.</summary>
    /// <remarks>Mirrors tcp_check_space() -> tcp_new_space() -> sk_stream_write_space().</remarks>
    internal static void TcpCheckSpace(TcpSock tp)
    {
        if (TcpShouldExpandSndbuf(tp)) TcpSndbufExpand(tp);
        if (tp.Socket is { } sock && (sock.Flags & (1L << BsdSocket.SockNospace)) != 0)
        {
            if (Tcp.SkStreamIsWriteable(tp))
            {
                sock.Flags &= ~(1L << BsdSocket.SockNospace);
                tp.WriteSpace();
            }
        }
    }

    /// <remarks>Mirrors tcp_data_snd_check().</remarks>
    private static void TcpDataSndCheck(TcpSock tp)
    {
        TcpOutput.TcpPushPendingFrames(tp);
        TcpCheckSpace(tp);
    }

    /// <summary>GRO_LEGACY_MAX_SIZE: the most a GRO packet holds, so the most Linux acknowledges at once when segments arrive back to back.</summary>
    private const uint GroLegacyMaxSize = 65536;

    /// <summary>ACK now (more than a segment unacknowledged and the window moves, quick-ACK mode, or an ACK is due) or later.</summary>
    /// <remarks>Mirrors __tcp_ack_snd_check() / tcp_ack_snd_check().</remarks>
    private static void TcpAckSndCheck(TcpSock tp)
    {
        if (!tp.InetCskAckScheduled) return;
        // More than one full frame received, and the window's right edge moves far enough (else
        // tcp_recvmsg() sends the ACK) or, with SO_RCVLOWAT, less than the mark is unread (the
        // sender must not wait for an ACK the reader's wake-up would bring).
        if ((tp.RcvNxt - tp.RcvWup > (uint)tp.IcskAck.RcvMss &&
             ((int)(tp.RcvNxt - tp.CopiedSeq) < tp.RcvLowat || TcpOutput.TcpSelectWindowRaw(tp) >= tp.RcvWnd)) ||
            TcpInQuickackMode(tp) || (tp.IcskAck.Pending & IcskAck.Now) != 0)
        {
            // Inside a receive batch the ACK waits for the batch's end (TCP_ACK_DEFERRED, sent by
            // tcp_release_cb()): one ACK for the batch's in-order segments of this connection, as
            // Linux sends one for the segments GRO merged: while another segment would still fit in a
            // GRO packet (64 KB); a super-frame from the TAP, a GRO packet itself, is acknowledged now.
            if (tp.Net.Ipv4.Sysctl.TcpBacklogAckDefer && tp.RcvNxt - tp.RcvWup + (uint)tp.IcskAck.RcvMss <= GroLegacyMaxSize &&
                (tp.AckDeferred || tp.Net.TryDeferRelease(tp)))
            {
                tp.AckDeferred = true;
                return;
            }
            TcpOutput.TcpSendAck(tp);
            return;
        }
        if (tp.OutOfOrderQueue.IsEmpty)
        {
            TcpOutput.TcpSendDelayedAck(tp);
            return;
        }
        // Out-of-order data: SACK at once.
        TcpOutput.TcpSendAck(tp);
    }

    /// <summary>
    /// The end of the receive batch that deferred this connection's ACK (<see cref="TcpAckSndCheck"/>):
    /// sent now unless something sent since carried it (data, a window update, a SACK).
    /// </summary>
    /// <remarks>Mirrors tcp_release_cb(): TCPF_ACK_DEFERRED.</remarks>
    internal static void TcpReleaseCb(TcpSock tp)
    {
        if (!tp.AckDeferred) return;
        tp.AckDeferred = false;
        if (tp.InetCskAckScheduled) TcpOutput.TcpSendAck(tp);
    }

    // ---- the state machine ----

    /// <summary>Segment processing in ESTABLISHED: header prediction's fast path for the expected in-order data segment and pure ACK, else the slow path.</summary>
    /// <remarks>Mirrors tcp_rcv_established(), which starts with tcp_mstamp_refresh(): one clock read per segment.</remarks>
    public static void TcpRcvEstablished(TcpSock tp, SkBuff skb)
    {
        // tcp_mstamp_refresh(): the segment's RTT sample, delayed-ACK timing and receive RTT read
        // the time once (they read the clock four to five times per segment: 6% of a bulk receiver's samples).
        using (new TcpMstampScope(tp)) TcpRcvEstablishedMstamped(tp, skb);
    }

    /// <summary>tcp_rcv_established() proper, with <see cref="TcpSock.TcpClockNs"/> read once for it (<see cref="TcpRcvEstablished"/>).</summary>
    private static void TcpRcvEstablishedMstamped(TcpSock tp, SkBuff skb)
    {
        var th = TcpHdr(skb);
        tp.RxOpt.SawTstamp = false; // RFC 7323 H1: this segment's timestamp, once parsed
        // Header prediction: the in-order segment the connection expects (only ACK and perhaps
        // PSH, the predicted window, our header length: no options but an aligned timestamp).
        if (tp.PredFlags != 0 && (th.FlagWord & TcpHpBits) == tp.PredFlags && skb.Cb.Seq == tp.RcvNxt &&
            !SeqNumber.After(skb.Cb.AckSeq, tp.SndNxt))
        {
            int headerLen = tp.TcpHeaderLen; // = th->doff * 4: the prediction compares the data offset
            bool tstamp = headerLen == TcpHeader.MinLength + TcpOpt.LenTstampAligned;
            if (tstamp)
            {
                if (!TcpParseAlignedTimestamp(tp, th)) goto slowPath;
                // PAWS failed: the slow path looks at it more carefully. ts_recent is not updated
                // here yet: a corrupted timestamp would then fail every later segment.
                if (unchecked((int)(tp.RxOpt.RcvTsval - tp.RxOpt.TsRecent)) < 0) goto slowPath;
            }
            tp.RcvSack = default; // an aligned timestamp alone: no SACK blocks on this segment
            if (skb.Len == headerLen)
            {
                // Bulk data transfer, the sender's side: a pure ACK, in window by definition.
                if (tstamp && tp.RcvNxt == tp.RcvWup) TcpStoreTsRecent(tp);
                TcpAck(tp, skb, 0);
                tp.Net.SkbCache.Consume(skb); // __kfree_skb(): to the softirq cache
                TcpDataSndCheck(tp);
                return;
            }
            if (skb.Len < headerLen) goto slowPath; // cannot be: the data offset was checked on input
            if (Sock.SkbTruesize(skb) > tp.ForwardAlloc) goto step5; // no reserved memory for it: the slow path's accounting
            if (tstamp && tp.RcvNxt == tp.RcvWup) TcpStoreTsRecent(tp);
            TcpRcvFastPathData(tp, skb);
            return;
        }
    slowPath:
        if (!th.Ack && !th.Rst && !th.Syn)
        {
            tp.Net.KfreeSkbReason(skb, SkbDropReason.TcpFlags);
            return;
        }
        if (!TcpValidateIncoming(tp, skb, th, true)) return;
    step5:
        int r = TcpAck(tp, skb, FlagSlowpath | FlagUpdateTsRecent);
        if (r < 0)
        {
            tp.Net.KfreeSkbReason(skb, SkbDropReason.TcpInvalidAck);
            return;
        }
        TcpRcvRttMeasureTs(tp, skb);
        TcpUrg(tp, skb, th);
        TcpDataQueue(tp, skb);
        TcpDataSndCheck(tp);
        TcpAckSndCheck(tp);
    }

    /// <summary>
    /// Header prediction's look at the options: exactly NOP, NOP, TIMESTAMP as Linux and this
    /// stack send them; then tsval and tsecr are read (tsecr corrected by our offset). Anything
    /// else is for the slow path's full parse.
    /// </summary>
    /// <remarks>Mirrors tcp_parse_aligned_timestamp().</remarks>
    private static bool TcpParseAlignedTimestamp(TcpSock tp, TcpHeader th)
    {
        var opt = th.Options;
        if (opt.Length < TcpOpt.LenTstampAligned ||
            BinaryPrimitives.ReadUInt32BigEndian(opt) != ((uint)TcpOpt.NOP << 24 | (uint)TcpOpt.NOP << 16 | (uint)TcpOpt.TIMESTAMP << 8 | TcpOpt.LenTimestamp))
            return false;
        tp.RxOpt.SawTstamp = true;
        tp.RxOpt.RcvTsval = BinaryPrimitives.ReadUInt32BigEndian(opt[4..]);
        uint tsecr = BinaryPrimitives.ReadUInt32BigEndian(opt[8..]);
        tp.RxOpt.RcvTsecr = tsecr != 0 ? tsecr - tp.TsOffset : 0;
        return true;
    }

    /// <summary>TCP_HP_BITS: the header-prediction word without the reserved bits and PSH.</summary>
    private const uint TcpHpBits = ~0x0F08_0000u;

    /// <summary>
    /// The fast path's in-order data segment: queued with no look at the receive buffer's limit
    /// (its truesize is covered by memory already reserved, sk_forward_alloc), the ACK it carries
    /// taken as a pure advance of snd_una.
    /// </summary>
    /// <remarks>Mirrors the "bulk data transfer: receiver" branch of tcp_rcv_established().</remarks>
    private static void TcpRcvFastPathData(TcpSock tp, SkBuff skb)
    {
        TcpRcvRttMeasureTs(tp, skb);
        tp.Net.Mib.TcpExt[LinuxMib.TCPHPHits]++;
        skb.Pull(tp.TcpHeaderLen);
        bool eaten = TcpQueueRcv(tp, skb);
        TcpEventDataRecv(tp, skb);
        if (skb.Cb.AckSeq != tp.SndUna)
        {
            TcpAck(tp, skb, FlagData);
            TcpDataSndCheck(tp);
            if (!tp.InetCskAckScheduled) goto noAck;
        }
        else
        {
            tp.SndWl1 = skb.Cb.Seq; // tcp_update_wl()
        }
        TcpAckSndCheck(tp);
    noAck:
        if (eaten) tp.Net.SkbCache.Consume(skb);
        tp.DataReady();
    }

    /// <remarks>Mirrors __tcp_fast_path_on(): predict segments with our header length, ACK and this (unscaled) window.</remarks>
    internal static void TcpFastPathOnWnd(TcpSock tp, uint sndWnd) =>
        tp.PredFlags = ((uint)(tp.TcpHeaderLen >> 2) << 28) | ((uint)TcpFlags.ACK << 16) | sndWnd;

    /// <remarks>Mirrors tcp_fast_path_on().</remarks>
    internal static void TcpFastPathOn(TcpSock tp) => TcpFastPathOnWnd(tp, tp.SndWnd >> tp.RxOpt.SndWscale);

    /// <summary>Header prediction back on when nothing needs the slow path: no out-of-order data, an open window, room in the buffer, no urgent data.</summary>
    /// <remarks>Mirrors tcp_fast_path_check().</remarks>
    internal static void TcpFastPathCheck(TcpSock tp)
    {
        if (tp.OutOfOrderQueue.IsEmpty && tp.RcvWnd != 0 && tp.RmemAlloc < tp.RcvBuf && tp.UrgData == 0) TcpFastPathOn(tp);
    }


    // ---- urgent data ----

    /// <summary>
    /// A segment with URG: records the new urgent pointer unless it names data already read, data
    /// already received, or is not newer than the one pending. The byte it names arrives later
    /// (<see cref="TcpUrg"/>).
    /// </summary>
    /// <remarks>Mirrors tcp_check_urg() (SIGURG is not modelled).</remarks>
    private static void TcpCheckUrg(TcpSock tp, TcpHeader th)
    {
        uint ptr = th.UrgPtr;
        // BSD (and Linux by default) point one past the urgent byte; RFC 1122 at it.
        if (ptr != 0 && !tp.Net.Ipv4.Sysctl.TcpStdurg) ptr--;
        ptr += th.Seq;
        // Urgent data we have already seen and read.
        if (SeqNumber.After(tp.CopiedSeq, ptr)) return;
        // Do not replay an urgent pointer into data already received (it may sit out of order:
        // the kernel leaves such a pointer in NOTYET too).
        if (SeqNumber.Before(ptr, tp.RcvNxt)) return;
        // A newer (or the same) urgent pointer is already pending.
        if (tp.UrgData != 0 && !SeqNumber.After(ptr, tp.UrgSeq)) return;
        tp.PredFlags = 0; // (a new urgent pointer: header prediction off)
        // The last byte read was the old urgent byte, skipped out of band: step over it now, since
        // the new pointer replaces the one that made recvmsg skip it.
        if (tp.UrgSeq == tp.CopiedSeq && tp.UrgData != 0 && !tp.HasFlag(SockFlag.UrgInline) && tp.CopiedSeq != tp.RcvNxt)
        {
            var skb = tp.ReceiveQueue.First;
            tp.CopiedSeq++;
            if (skb is not null && !SeqNumber.Before(tp.CopiedSeq, skb.Cb.EndSeq))
            {
                tp.ReceiveQueue.Unlink(skb);
                tp.SkbFreeDatagram(skb);
            }
        }
        tp.UrgData = TcpSock.TcpUrgNotyet;
        tp.UrgSeq = ptr;
    }

    /// <summary>Urgent data: a new urgent pointer, and the urgent byte itself when this segment carries it.</summary>
    /// <remarks>Mirrors tcp_urg().</remarks>
    private static void TcpUrg(TcpSock tp, SkBuff skb, TcpHeader th)
    {
        if (th.Urg) TcpCheckUrg(tp, th);
        if (tp.UrgData == TcpSock.TcpUrgNotyet)
        {
            // The buffer still starts at the TCP header (tcp_data_queue() pulls it).
            uint ptr = tp.UrgSeq - th.Seq + (uint)th.HeaderLength - (th.Syn ? 1u : 0u);
            if (ptr < (uint)skb.Len)
            {
                tp.UrgData = TcpSock.TcpUrgValid | skb.DataSpan[(int)ptr];
                if (!tp.HasFlag(SockFlag.Dead)) tp.DataReady();
            }
        }
    }

    /// <summary>The connection is established (active open).</summary>
    /// <remarks>Mirrors tcp_finish_connect().</remarks>
    private static void TcpFinishConnect(TcpSock tp)
    {
        Tcp.TcpSetState(tp, TcpState.Established);
        tp.IcskAck.Lrcvtime = tp.TcpClockNs;
        TcpInitTransfer(tp);
        tp.LsndTimeMs = tp.TcpClockMs;
        if (tp.HasFlag(SockFlag.KeepOpen)) tp.InetCskResetKeepaliveTimer(TcpTimer.KeepaliveTimeWhen(tp));
        // Header prediction from the start, unless the peer scales its window.
        if (tp.RxOpt.SndWscale == 0) TcpFastPathOnWnd(tp, tp.SndWnd);
        else tp.PredFlags = 0;
    }

    /// <summary>Initial cwnd (RFC 6928: 10; 1 after a retransmitted SYN per RFC 5681), congestion control, buffers.</summary>
    /// <remarks>Mirrors tcp_init_transfer() with tcp_init_metrics() and tcp_init_buffer_space().</remarks>
    internal static void TcpInitTransfer(TcpSock tp)
    {
        TcpOutput.TcpMtupInit(tp); // with the peer's MSS known now
        // RFC 6298 5.7: no RTT sample from the handshake (it was retransmitted) -> 3 s.
        if (tp.SrttUs == 0 && tp.TotalRetrans > 0) tp.IcskRto = TcpTimer.TcpTimeoutFallback;
        tp.SndCwnd = tp.TotalRetrans > 1 && tp.UndoMarkerValid ? 1u : TcpSock.TcpInitCwnd;
        tp.SndCwndStamp = tp.TcpClockNs;
        if (!tp.CaInitialized) TcpCong.TcpInitCongestionControl(tp);
        // tcp_init_buffer_space()
        if ((tp.UserLocks & Sock.SockSndbufLock) == 0) TcpSndbufExpand(tp);
        tp.RcvqSpaceTime = tp.Net.NowNs;
        tp.RcvqSpaceSeq = tp.CopiedSeq;
        uint maxwin = (uint)Math.Max(0, TcpOutput.TcpFullSpace(tp));
        int appWin = tp.Net.Ipv4.Sysctl.TcpAppWin;
        uint advmss = tp.Advmss;
        if (tp.WindowClamp >= maxwin)
        {
            tp.WindowClamp = maxwin;
            // tcp_app_win: keep 1/2^tcp_app_win of the buffer for the application.
            if (appWin != 0 && maxwin > 4 * advmss) tp.WindowClamp = Math.Max(maxwin - (maxwin >> appWin), 4 * advmss);
        }
        // Force reservation of one segment: a small buffer offers one MSS less than it holds.
        if (appWin != 0 && tp.WindowClamp > 2 * advmss && tp.WindowClamp + advmss > maxwin)
            tp.WindowClamp = Math.Max(2 * advmss, maxwin - advmss);
        tp.RcvSsthresh = Math.Min(tp.RcvSsthresh, tp.WindowClamp);
        tp.RcvqSpaceSpace = (int)Math.Min(Math.Min(tp.RcvSsthresh, tp.RcvWnd), TcpSock.TcpInitCwnd * tp.Advmss);
    }

    /// <summary>
    /// SYN-SENT: an acceptable SYN-ACK establishes the connection; a bad ACK gets a reset; an RST
    /// with a good ACK refuses the connection; a SYN without ACK is a simultaneous open.
    /// Returns -1 when done, 0 when consumed, or &gt; 0 to have the caller send a reset.
    /// </summary>
    /// <remarks>Mirrors tcp_rcv_synsent_state_process().</remarks>
    private static int TcpRcvSynsentStateProcess(TcpSock tp, SkBuff skb, TcpHeader th)
    {
        var net = tp.Net;
        ushort savedClamp = tp.RxOpt.MssClamp;
        var foc = TcpFastopenCookie.None;
        TcpParseOptions(net, th, ref tp.RxOpt, false, out _, ref foc, wantFoc: true);
        if (tp.RxOpt.SawTstamp && tp.RxOpt.RcvTsecr != 0) tp.RxOpt.RcvTsecr -= tp.TsOffset;

        if (th.Ack)
        {
            // RFC 9293: SEG.ACK =< ISS or SEG.ACK > SND.NXT -> send a reset (unless RST).
            if (!SeqNumber.After(skb.Cb.AckSeq, tp.SndUna) || SeqNumber.After(skb.Cb.AckSeq, tp.SndNxt))
            {
                // A previous FIN/ACK or RST/ACK of ours may have been ignored: retry the SYN soon.
                if (tp.IcskRetransmits == 0)
                    tp.InetCskResetXmitTimer(InetConnectionSock.IcskTimeRetrans, TcpTimer.TcpTimeoutMin, TcpTimer.TcpRtoMax(net));
                goto resetAndUndo;
            }
            if (tp.RxOpt.SawTstamp && tp.RxOpt.RcvTsecr != 0 &&
                !SeqNumber.Between(tp.RxOpt.RcvTsecr, (uint)(tp.RetransStamp / Time.NsPerMs), tp.TcpClockMs))
                goto resetAndUndo;
            // The ACK is acceptable. An RST with it: connection refused.
            if (th.Rst)
            {
                TcpReset(tp);
                skb.Free();
                return 0;
            }
            // Neither SYN nor RST: drop.
            if (!th.Syn)
            {
                tp.Net.KfreeSkbReason(skb, SkbDropReason.TcpFlags);
                tp.RxOpt.MssClamp = savedClamp;
                return 0;
            }
            // Our SYN is acknowledged: ESTABLISHED.
            TcpEcnRcvSynack(tp, th);
            TcpInitWl(tp, skb.Cb.Seq);
            TcpAck(tp, skb, FlagSlowpath);
            tp.RcvNxt = skb.Cb.Seq + 1;
            tp.RcvWup = skb.Cb.Seq + 1;
            // RFC 7323: the window of a SYN-ACK is never scaled.
            tp.SndWnd = th.Window;
            if (!tp.RxOpt.WscaleOk)
            {
                tp.RxOpt.SndWscale = tp.RxOpt.RcvWscale = 0;
                tp.WindowClamp = Math.Min(tp.WindowClamp, 65535u);
            }
            if (tp.RxOpt.SawTstamp)
            {
                tp.RxOpt.TstampOk = true;
                tp.TcpHeaderLen = TcpHeader.MinLength + TcpOpt.LenTstampAligned;
                tp.Advmss -= TcpOpt.LenTstampAligned;
                TcpStoreTsRecent(tp);
            }
            else
            {
                tp.TcpHeaderLen = TcpHeader.MinLength;
            }
            TcpOutput.TcpSyncMss(tp, tp.IcskPmtuCookie);
            TcpInitializeRcvMss(tp);
            tp.CopiedSeq = tp.RcvNxt;
            TcpFinishConnect(tp);
            bool fastopenFail = (tp.SynFastopen || tp.SynData) && TcpFastopen.TcpRcvFastopenSynack(tp, skb, ref foc);
            if (!tp.HasFlag(SockFlag.Dead))
            {
                tp.StateChange();
            }
            if (fastopenFail) return -1;
            if (tp.InetCskInPingpongMode)
            {
                // Save one ACK: data will follow.
                tp.InetCskScheduleAck();
                TcpEnterQuickackMode(tp, TcpMaxQuickacks);
                tp.InetCskResetXmitTimer(InetConnectionSock.IcskTimeDack, Time.Ms(net.Ipv4.Sysctl.TcpDelackMaxMs), TcpTimer.TcpRtoMax(net));
                skb.Free();
                return 0;
            }
            TcpOutput.TcpSendAck(tp);
            return -1;
        }

        // No ACK: an RST is dropped (RFC 9293: "otherwise (no ACK) drop the segment").
        if (th.Rst)
        {
            tp.Net.KfreeSkbReason(skb, SkbDropReason.TcpResetAck);
            tp.RxOpt.MssClamp = savedClamp;
            return 0;
        }
        if (tp.RxOpt.TsRecentStamp != 0 && tp.RxOpt.SawTstamp && TcpPawsReject(net, in tp.RxOpt, false))
        {
            tp.Net.KfreeSkbReason(skb, SkbDropReason.TcpInvalidSequence);
            tp.RxOpt.MssClamp = savedClamp;
            return 0;
        }
        if (th.Syn)
        {
            // Crossed SYNs: a simultaneous open (or a connect to ourselves).
            Tcp.TcpSetState(tp, TcpState.SynRecv);
            if (tp.RxOpt.SawTstamp)
            {
                tp.RxOpt.TstampOk = true;
                TcpStoreTsRecent(tp);
                tp.TcpHeaderLen = TcpHeader.MinLength + TcpOpt.LenTstampAligned;
            }
            else
            {
                tp.TcpHeaderLen = TcpHeader.MinLength;
            }
            tp.RcvNxt = skb.Cb.Seq + 1;
            tp.CopiedSeq = tp.RcvNxt;
            tp.RcvWup = skb.Cb.Seq + 1;
            tp.SndWnd = th.Window;
            tp.SndWl1 = skb.Cb.Seq;
            tp.MaxWindow = tp.SndWnd;
            TcpEcnRcvSyn(tp, th);
            TcpOutput.TcpSyncMss(tp, tp.IcskPmtuCookie);
            TcpInitializeRcvMss(tp);
            TcpOutput.TcpSendSynack(tp);
            skb.Free();
            return 0;
        }
        // Neither SYN nor RST: drop.
        tp.Net.KfreeSkbReason(skb, SkbDropReason.TcpFlags);
        tp.RxOpt.MssClamp = savedClamp;
        return 0;

    resetAndUndo:
        tp.RxOpt.MssClamp = savedClamp;
        return 1;
    }

    /// <summary>
    /// Segment processing in every state but ESTABLISHED (and LISTEN's SYN, which becomes a
    /// request). Returns nonzero when the caller must answer with a reset (the buffer is then
    /// still the caller's); 0 when the segment was consumed.
    /// </summary>
    /// <remarks>Mirrors tcp_rcv_state_process().</remarks>
    public static int TcpRcvStateProcess(TcpSock tp, SkBuff skb)
    {
        var net = tp.Net;
        var th = TcpHdr(skb);
        bool queued = false;
        switch (tp.State)
        {
            case TcpState.Close:
                net.KfreeSkbReason(skb, SkbDropReason.TcpNoSocket);
                return 0;
            case TcpState.Listen:
                if (th.Ack) return 1;
                if (th.Rst)
                {
                    net.KfreeSkbReason(skb, SkbDropReason.TcpResetAck);
                    return 0;
                }
                if (th.Syn)
                {
                    if (th.Fin)
                    {
                        net.KfreeSkbReason(skb, SkbDropReason.TcpFlags);
                        return 0;
                    }
                    tp.IcskAfOps.ConnRequest(tp, skb);
                    skb.Free();
                    return 0;
                }
                net.KfreeSkbReason(skb, SkbDropReason.TcpFlags);
                return 0;
            case TcpState.SynSent:
            {
                tp.RxOpt.SawTstamp = false;
                int q = TcpRcvSynsentStateProcess(tp, skb, th);
                if (q > 0) return q;
                if (q < 0)
                {
                    // Step 6 onward by hand: data on the SYN-ACK is not accepted; send what waits.
                    skb.Free();
                    TcpDataSndCheck(tp);
                }
                return 0;
            }
        }
        tp.RxOpt.SawTstamp = false;
        // A Fast Open child before the handshake ended: its request still judges the segment.
        var fastopenReq = tp.FastopenRsk;
        if (fastopenReq is not null && !TcpFastopen.TcpCheckReqFastopen(tp, skb, fastopenReq)) return 0;
        if (!th.Ack && !th.Rst && !th.Syn)
        {
            net.KfreeSkbReason(skb, SkbDropReason.TcpFlags);
            return 0;
        }
        if (!TcpValidateIncoming(tp, skb, th, false)) return 0;

        // Step 5: the ACK field.
        int acceptable = TcpAck(tp, skb, FlagSlowpath | FlagUpdateTsRecent | FlagNoChallengeAck);
        if (acceptable <= 0)
        {
            if (tp.State == TcpState.SynRecv) return 1; // send one RST
            if (acceptable < 0)
            {
                TcpSendChallengeAck(tp);
                net.KfreeSkbReason(skb, SkbDropReason.TcpInvalidAck);
                return 0;
            }
        }
        switch (tp.State)
        {
            case TcpState.SynRecv:
                TcpCountDelivered(tp, 1, false); // the SYN-ACK's delivery is not tracked by tcp_ack()
                if (fastopenReq is not null)
                {
                    // The child was set up at the SYN; its SYN data may still be unread.
                    TcpFastopen.TcpRcvSynrecvStateFastopen(tp);
                }
                else
                {
                    tp.RetransStamp = 0;
                    TcpInitTransfer(tp);
                    tp.CopiedSeq = tp.RcvNxt;
                }
                Tcp.TcpSetState(tp, TcpState.Established);
                tp.StateChange();
                tp.SndUna = skb.Cb.AckSeq;
                tp.SndWnd = (uint)th.Window << tp.RxOpt.SndWscale;
                TcpInitWl(tp, skb.Cb.Seq);
                if (tp.RxOpt.TstampOk) tp.Advmss -= TcpOpt.LenTstampAligned;
                if (!tp.CaOps.HasCongControl) TcpUpdatePacingRate(tp);
                tp.LsndTimeMs = tp.TcpClockMs;
                TcpInitializeRcvMss(tp);
                TcpFastPathOn(tp);
                if ((tp.Shutdown & SEND_SHUTDOWN) != 0) Tcp.TcpShutdown(tp, SEND_SHUTDOWN);
                break;
            case TcpState.FinWait1:
            {
                // A Fast Open child closed before its handshake ended.
                if (fastopenReq is not null) TcpFastopen.TcpRcvSynrecvStateFastopen(tp);
                if (tp.SndUna != tp.WriteSeq) break;
                Tcp.TcpSetState(tp, TcpState.FinWait2);
                tp.Shutdown |= SEND_SHUTDOWN;
                if (!tp.HasFlag(SockFlag.Dead))
                {
                    // Wake a lingering close().
                    tp.StateChange();
                    break;
                }
                if (tp.Linger2Ms < 0)
                {
                    Tcp.TcpDone(tp);
                    net.Mib.TcpExt[LinuxMib.TCPAbortOnData]++;
                    return 1;
                }
                if (skb.Cb.EndSeq != skb.Cb.Seq && SeqNumber.After(skb.Cb.EndSeq - (th.Fin ? 1u : 0u), tp.RcvNxt))
                {
                    // Data after close(): the orphan cannot deliver it.
                    Tcp.TcpDone(tp);
                    net.Mib.TcpExt[LinuxMib.TCPAbortOnData]++;
                    return 1;
                }
                long tmo = Tcp.TcpFinTime(tp);
                long twLen = Time.Ms(net.Ipv4.Sysctl.TcpTimewaitLenMs);
                if (tmo > twLen)
                {
                    tp.InetCskResetKeepaliveTimer(tmo - twLen);
                }
                else if (th.Fin)
                {
                    // The FIN is processed below: keep the full socket for it.
                    tp.InetCskResetKeepaliveTimer(tmo);
                }
                else
                {
                    TcpMinisocks.TcpTimeWait(tp, TcpState.FinWait2, tmo);
                    skb.Free();
                    return 0;
                }
                break;
            }
            case TcpState.Closing:
                if (tp.SndUna == tp.WriteSeq)
                {
                    TcpMinisocks.TcpTimeWait(tp, TcpState.TimeWait, 0);
                    skb.Free();
                    return 0;
                }
                break;
            case TcpState.LastAck:
                if (tp.SndUna == tp.WriteSeq)
                {
                    Tcp.TcpDone(tp);
                    skb.Free();
                    return 0;
                }
                break;
        }

        TcpUrg(tp, skb, th);

        // Step 7: the segment text.
        switch (tp.State)
        {
            case TcpState.CloseWait:
            case TcpState.Closing:
            case TcpState.LastAck:
                if (!SeqNumber.Before(skb.Cb.Seq, tp.RcvNxt)) break;
                goto case TcpState.FinWait1;
            case TcpState.FinWait1:
            case TcpState.FinWait2:
                // RFC 1122: data after the receive side was shut down must be answered with a reset.
                if ((tp.Shutdown & RCV_SHUTDOWN) != 0 && skb.Cb.EndSeq != skb.Cb.Seq &&
                    SeqNumber.After(skb.Cb.EndSeq - (th.Fin ? 1u : 0u), tp.RcvNxt))
                {
                    net.Mib.TcpExt[LinuxMib.TCPAbortOnData]++;
                    TcpReset(tp);
                    return 1;
                }
                goto case TcpState.Established;
            case TcpState.Established:
                TcpDataQueue(tp, skb);
                queued = true;
                break;
        }
        if (tp.State != TcpState.Close)
        {
            TcpDataSndCheck(tp);
            TcpAckSndCheck(tp);
        }
        if (!queued) skb.Free();
        return 0;
    }
}
