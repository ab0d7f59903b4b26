using NetStack.Core;
using NetStack.Wire;

namespace NetStack.Ipv4;

/// <summary>
/// The RACK state of a connection: the transmit time and end sequence of the most recently sent
/// segment known delivered, its RTT, and the reordering-window adaptation.
/// <remarks>Mirrors include/linux/tcp.h: struct tcp_rack.</remarks>
/// </summary>
internal struct TcpRack
{
    /// <summary>mstamp: (re)sent time of the most recently (s)acked segment (ns).</summary>
    public long Mstamp;
    /// <summary>rtt_us: the RACK RTT of that segment (usec).</summary>
    public uint RttUs;
    /// <summary>end_seq: its ending sequence.</summary>
    public uint EndSeq;
    /// <summary>last_delivered: tp->delivered at the last reo_wnd adjustment.</summary>
    public uint LastDelivered;
    /// <summary>reo_wnd_steps: the reordering window in multiples of min_rtt/4.</summary>
    public byte ReoWndSteps;
    /// <summary>reo_wnd_persist: recoveries left before reo_wnd goes back to one step.</summary>
    public byte ReoWndPersist;
    /// <summary>dsack_seen: a D-SACK arrived since the last adjustment.</summary>
    public bool DsackSeen;
    /// <summary>advanced: mstamp moved since the last loss detection.</summary>
    public bool Advanced;

    /// <remarks>tcp_init_sock(): reo_wnd_steps = 1.</remarks>
    public static TcpRack Initial => new() { ReoWndSteps = 1 };
}

/// <summary>
/// RACK-TLP loss detection (RFC 8985): a segment is lost when a segment sent sufficiently later
/// was delivered (time-based, so lost retransmissions and tail losses are found too), where
/// "sufficiently" is the RACK RTT plus a reordering window of min_rtt/4 that D-SACKs widen.
/// <remarks>Mirrors net/ipv4/tcp_recovery.c.</remarks>
/// </summary>
internal static class TcpRecovery
{
    /// <summary>TCP_RACK_RECOVERY_THRESH: recoveries the widened reordering window persists.</summary>
    public const byte TcpRackRecoveryThresh = 16;

    /// <remarks>Mirrors tcp_is_rack(): net.ipv4.tcp_recovery &amp; TCP_RACK_LOSS_DETECTION.</remarks>
    public static bool TcpIsRack(TcpSock tp) => (tp.Net.Ipv4.Sysctl.TcpRecovery & Ipv4Sysctl.TcpRackLossDetection) != 0;

    /// <remarks>Mirrors tcp_skb_sent_after(): t1 later than t2, or at the same time with a higher sequence.</remarks>
    public static bool TcpSkbSentAfter(long t1, long t2, uint seq1, uint seq2) =>
        t1 > t2 || (t1 == t2 && SeqNumber.After(seq1, seq2));

    /// <summary>
    /// The reordering window (usec): zero while no reordering was seen and either recovery is
    /// under way or dupthresh segments were SACKed (RACK then acts like the duplicate-ACK rule);
    /// otherwise min_rtt/4 per step, at most SRTT.
    /// </summary>
    /// <remarks>Mirrors tcp_rack_reo_wnd().</remarks>
    public static uint TcpRackReoWnd(TcpSock tp)
    {
        if (tp.ReordSeen == 0)
        {
            if (tp.CaState >= TcpCaState.Recovery) return 0;
            if (tp.SackedOut >= tp.Reordering && (tp.Net.Ipv4.Sysctl.TcpRecovery & Ipv4Sysctl.TcpRackNoDupthresh) == 0) return 0;
        }
        ulong wnd = (ulong)(tp.TcpMinRtt >> 2) * tp.Rack.ReoWndSteps;
        return (uint)Math.Min(wnd, tp.SrttUs >> 3);
    }

    /// <summary>How long (usec) until <paramref name="skb"/> is deemed lost; zero or less: lost now.</summary>
    /// <remarks>Mirrors tcp_rack_skb_timeout().</remarks>
    public static long TcpRackSkbTimeout(TcpSock tp, SkBuff skb, uint reoWnd) =>
        (long)tp.Rack.RttUs + reoWnd - (tp.TcpClockNs - skb.Cb.When) / 1000;

    /// <summary>
    /// Marks lost every segment sent before the most recently delivered one whose RACK RTT plus
    /// reordering window has passed; returns (usec) the longest wait among those not yet due.
    /// Walks the retransmit queue in sequence order: first transmissions are in time order, so
    /// the walk stops at the first never-retransmitted segment not sent before RACK's (Linux keeps
    /// a time-sorted list, tsorted_sent_queue, for the same stop).
    /// </summary>
    /// <remarks>Mirrors tcp_rack_detect_loss().</remarks>
    private static uint TcpRackDetectLoss(TcpSock tp)
    {
        uint reoTimeout = 0;
        uint reoWnd = TcpRackReoWnd(tp);
        for (var skb = tp.RtxQueue.First; skb is not null; skb = skb.Next)
        {
            byte sacked = skb.Cb.Sacked;
            if ((sacked & TcpSkbCbSacked.SackedAcked) != 0) continue;
            // Skip ones marked lost but not yet retransmitted.
            if ((sacked & TcpSkbCbSacked.Lost) != 0 && (sacked & TcpSkbCbSacked.SackedRetrans) == 0) continue;
            if (!TcpSkbSentAfter(tp.Rack.Mstamp, skb.Cb.When, tp.Rack.EndSeq, skb.Cb.EndSeq))
            {
                if ((sacked & TcpSkbCbSacked.EverRetrans) == 0) break; // everything after was sent later
                continue;
            }
            long remaining = TcpRackSkbTimeout(tp, skb, reoWnd);
            if (remaining <= 0) TcpInput.TcpMarkSkbLost(tp, skb);
            else reoTimeout = Math.Max(reoTimeout, (uint)Math.Min(remaining, uint.MaxValue));
        }
        return reoTimeout;
    }

    /// <summary>Runs loss detection when RACK advanced; arms the REO timer for segments not yet due. Returns whether it was armed.</summary>
    /// <remarks>Mirrors tcp_rack_mark_lost().</remarks>
    public static bool TcpRackMarkLost(TcpSock tp)
    {
        if (!tp.Rack.Advanced) return false;
        tp.Rack.Advanced = false;
        uint timeout = TcpRackDetectLoss(tp);
        if (timeout != 0)
        {
            long when = timeout * 1000L + TcpTimer.TcpTimeoutMin;
            tp.InetCskResetXmitTimer(InetConnectionSock.IcskTimeReoTimeout, when, tp.IcskRto);
        }
        return timeout != 0;
    }

    /// <summary>
    /// A segment was (s)acked: record its transmit time as RACK's if it was sent later than the
    /// current one. A retransmitted segment acknowledged sooner than min_rtt after its last
    /// transmission is ambiguous (the original may have been acknowledged) and is ignored.
    /// </summary>
    /// <remarks>Mirrors tcp_rack_advance().</remarks>
    public static void TcpRackAdvance(TcpSock tp, byte sacked, uint endSeq, long xmitTime)
    {
        long rttUs = (tp.TcpClockNs - xmitTime) / 1000;
        if (rttUs < tp.TcpMinRtt && (sacked & TcpSkbCbSacked.Retrans) != 0) return;
        tp.Rack.Advanced = true;
        tp.Rack.RttUs = (uint)Math.Clamp(rttUs, 0, uint.MaxValue);
        if (TcpSkbSentAfter(xmitTime, tp.Rack.Mstamp, endSeq, tp.Rack.EndSeq))
        {
            tp.Rack.Mstamp = xmitTime;
            tp.Rack.EndSeq = endSeq;
        }
    }

    /// <summary>
    /// The REO timer: segments that were waiting out the reordering window are due now; mark them,
    /// start recovery if needed, retransmit, and put the RTO back.
    /// </summary>
    /// <remarks>Mirrors tcp_rack_reo_timeout().</remarks>
    public static void TcpRackReoTimeout(TcpSock tp)
    {
        uint lost = tp.Lost;
        uint priorInflight = tp.PacketsInFlight;
        TcpRackDetectLoss(tp);
        if (priorInflight != tp.PacketsInFlight)
        {
            if (tp.CaState != TcpCaState.Recovery)
            {
                TcpInput.TcpEnterRecovery(tp);
                // An algorithm with its own cong_control (BBR) sets cwnd itself.
                if (!tp.CaOps.HasCongControl) TcpInput.TcpCwndReduction(tp, 1, (int)(tp.Lost - lost), 0);
            }
            TcpOutput.TcpXmitRetransmitQueue(tp);
        }
        if (tp.IcskPending != InetConnectionSock.IcskTimeRetrans) TcpInput.TcpRearmRto(tp);
    }

    /// <summary>
    /// Widens the reordering window by one min_rtt/4 step per round trip in which a D-SACK showed a
    /// spurious retransmission; it falls back to one step after 16 recoveries without one.
    /// </summary>
    /// <remarks>Mirrors tcp_rack_update_reo_wnd() (rs-&gt;prior_delivered: <see cref="TcpSock.Rs"/>).</remarks>
    public static void TcpRackUpdateReoWnd(TcpSock tp)
    {
        if ((tp.Net.Ipv4.Sysctl.TcpRecovery & Ipv4Sysctl.TcpRackStaticReoWnd) != 0 || tp.Rs.PriorDelivered == 0) return;
        // Disregard a D-SACK if a round trip has not passed since the window was adjusted.
        if (SeqNumber.Before(tp.Rs.PriorDelivered, tp.Rack.LastDelivered)) tp.Rack.DsackSeen = false;
        if (tp.Rack.DsackSeen)
        {
            tp.Rack.ReoWndSteps = (byte)Math.Min(0xFF, tp.Rack.ReoWndSteps + 1);
            tp.Rack.DsackSeen = false;
            tp.Rack.LastDelivered = tp.Delivered;
            tp.Rack.ReoWndPersist = TcpRackRecoveryThresh;
        }
        else if (tp.Rack.ReoWndPersist == 0)
        {
            tp.Rack.ReoWndSteps = 1;
        }
    }
}
