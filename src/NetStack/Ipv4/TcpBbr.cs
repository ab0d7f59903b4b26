using System.Runtime.CompilerServices;
using NetStack.Core;
using NetStack.Uapi;
using NetStack.Wire;

namespace NetStack.Ipv4;

/// <summary>
/// BBR v1 (Bottleneck Bandwidth and RTT): a model-based congestion control. On every ACK it updates
/// a model of the path from the delivery rate sample, the windowed maximum bandwidth over 10 round
/// trips and the windowed minimum RTT over 10 seconds, then paces at pacing_gain * bw and caps
/// cwnd at cwnd_gain * bw * min_rtt. STARTUP doubles the rate each round (gain 2/ln 2) until the
/// bandwidth stops growing by 25% for 3 rounds (full pipe), DRAIN empties the queue STARTUP made,
/// PROBE_BW cycles the pacing gain through 5/4, 3/4 and six times 1, and PROBE_RTT drops to 4
/// packets for 200 ms when min_rtt has not been refreshed for 10 s. It asks for pacing
/// (SK_PACING_NEEDED), so the stack's internal pacing timer spaces its packets. The long-term
/// (policer) bandwidth estimate and the ACK-aggregation allowance are those of Linux too.
/// <remarks>Mirrors net/ipv4/tcp_bbr.c (struct bbr, bbr_main() and the functions it calls).</remarks>
/// </summary>
internal sealed class TcpBbr : TcpCongestionOps
{
    public static readonly TcpBbr Instance = new();

    public override string Name => "bbr";
    public override TcpCongFlags Flags => TcpCongFlags.NonRestricted;

    // Rate in pkts/usec << 24 (BW_SCALE), fractions << 8 (BBR_SCALE).
    internal const int BwScale = 24;
    internal const ulong BwUnit = 1UL << BwScale;
    internal const int BbrScale = 8;
    internal const int BbrUnit = 1 << BbrScale;

    /// <summary>enum bbr_mode.</summary>
    internal enum Mode : byte { Startup, Drain, ProbeBw, ProbeRtt }

    private const int CycleLen = 8;
    private const uint BbrBwRtts = CycleLen + 2;          // bw filter window, in rounds
    private const uint BbrMinRttWinSec = 10;             // min_rtt filter window
    private const uint BbrProbeRttModeMs = 200;
    private const ulong BbrMinTsoRate = 1_200_000;       // bits/s
    private const int BbrPacingMarginPercent = 1;
    internal const int BbrHighGain = BbrUnit * 2885 / 1000 + 1;
    internal const int BbrDrainGain = BbrUnit * 1000 / 2885;
    private const int BbrCwndGain = BbrUnit * 2;
    internal static readonly int[] BbrPacingGain = [BbrUnit * 5 / 4, BbrUnit * 3 / 4, BbrUnit, BbrUnit, BbrUnit, BbrUnit, BbrUnit, BbrUnit];
    private const int BbrCycleRand = 7;
    private const uint BbrCwndMinTarget = 4;
    private const uint BbrFullBwThresh = BbrUnit * 5 / 4;
    private const uint BbrFullBwCnt = 3;
    private const uint BbrLtIntvlMinRtts = 4;
    private const uint BbrLtLossThresh = 50;
    private const uint BbrLtBwRatio = BbrUnit / 8;
    private const uint BbrLtBwDiff = 4000 / 8;
    private const uint BbrLtBwMaxRtts = 48;
    private const int BbrExtraAckedGain = BbrUnit;
    private const uint BbrExtraAckedWinRtts = 5;
    private const uint BbrAckEpochAckedResetThresh = 1U << 20;
    private const uint BbrExtraAckedMaxUs = 100 * 1000;
    /// <summary>GSO_LEGACY_MAX_SIZE - 1 - MAX_TCP_HEADER.</summary>
    private const ulong TsoBytesMax = 65536 - 1 - 320;

    /// <summary>The per-socket state (struct bbr in icsk_ca_priv).</summary>
    internal sealed class Bbr
    {
        public uint MinRttUs;
        public uint MinRttStamp;          // ms (jiffies)
        public uint ProbeRttDoneStamp;    // ms
        public WinMinmax Bw;              // max recent delivery rate, pkts/us << 24
        public uint RttCnt;
        public uint NextRttDelivered;
        public long CycleMstamp;          // us
        public Mode Mode;
        public TcpCaState PrevCaState;
        public bool PacketConservation, RoundStart, IdleRestart, ProbeRttRoundDone;
        public bool LtIsSampling;
        public uint LtRttCnt;
        public bool LtUseBw;
        public uint LtBw, LtLastDelivered, LtLastStamp, LtLastLost;
        public int PacingGain, CwndGain;
        public bool FullBwReached;
        public uint FullBwCnt;
        public int CycleIdx;
        public bool HasSeenRtt;
        public uint PriorCwnd;
        public uint FullBw;
        public long AckEpochMstamp;
        public uint ExtraAcked0, ExtraAcked1;
        public uint AckEpochAcked;
        public uint ExtraAckedWinRtts;
        public int ExtraAckedWinIdx;
    }

    internal static Bbr Ca(TcpSock tp) => tp.CaPriv as Bbr ?? (Bbr)(tp.CaPriv = TcpCong.CaPrivAlloc<Bbr>(tp));

    private static uint Jiffies(TcpSock tp) => unchecked((uint)(tp.Net.NowNs / Time.NsPerMs));

    /// <remarks>Mirrors bbr_full_bw_reached().</remarks>
    private static bool FullBwReached(Bbr bbr) => bbr.FullBwReached;

    /// <remarks>Mirrors bbr_max_bw().</remarks>
    private static uint MaxBw(Bbr bbr) => bbr.Bw.Get();

    /// <remarks>Mirrors bbr_bw().</remarks>
    private static uint BwOf(Bbr bbr) => bbr.LtUseBw ? bbr.LtBw : MaxBw(bbr);

    /// <remarks>Mirrors bbr_extra_acked().</remarks>
    private static uint ExtraAcked(Bbr bbr) => Math.Max(bbr.ExtraAcked0, bbr.ExtraAcked1);

    /// <summary>The estimated bandwidth in bytes per second (for tests and diagnostics, as bbr_get_info() reports it).</summary>
    internal static ulong BwBytesPerSec(TcpSock tp) => BwBytesPerSec(tp, Ca(tp));

    /// <summary>bbr_bw() in bytes per second: pkts/us &lt;&lt; 24 times mss times 10^6, in 64 bits (wrapping as Linux's u64 would).</summary>
    private static ulong BwBytesPerSec(TcpSock tp, Bbr bbr) => unchecked((ulong)BwOf(bbr) * tp.MssCache * 1_000_000UL) >> BwScale;

    /// <remarks>Mirrors bbr_rate_bytes_per_sec(): rate * mss * gain, less the 1% pacing margin.</remarks>
    private static ulong RateBytesPerSec(TcpSock tp, ulong rate, int gain)
    {
        rate *= tp.MssCache;
        rate *= (ulong)gain;
        rate >>= BbrScale;
        rate *= 1_000_000 / 100 * (100 - BbrPacingMarginPercent);
        return rate >> BwScale;
    }

    /// <remarks>Mirrors bbr_bw_to_pacing_rate().</remarks>
    private static ulong BwToPacingRate(TcpSock tp, uint bw, int gain) => Math.Min(RateBytesPerSec(tp, bw, gain), tp.MaxPacingRate);

    /// <summary>Initial pacing: high_gain * init_cwnd / RTT (1 ms without an RTT sample).</summary>
    /// <remarks>Mirrors bbr_init_pacing_rate_from_rtt().</remarks>
    private static void InitPacingRateFromRtt(TcpSock tp, Bbr bbr)
    {
        uint rttUs;
        if (tp.SrttUs != 0)
        {
            rttUs = Math.Max(tp.SrttUs >> 3, 1u);
            bbr.HasSeenRtt = true;
        }
        else
        {
            rttUs = 1000;
        }
        ulong bw = (ulong)tp.SndCwnd * BwUnit / rttUs;
        tp.PacingRate = BwToPacingRate(tp, (uint)Math.Min(bw, uint.MaxValue), BbrHighGain);
    }

    /// <summary>Pace at bw * gain; before the pipe is full, never slower than now.</summary>
    /// <remarks>Mirrors bbr_set_pacing_rate().</remarks>
    private static void SetPacingRate(TcpSock tp, Bbr bbr, uint bw, int gain)
    {
        ulong rate = BwToPacingRate(tp, bw, gain);
        if (!bbr.HasSeenRtt && tp.SrttUs != 0) InitPacingRateFromRtt(tp, bbr);
        if (FullBwReached(bbr) || rate > tp.PacingRate) tp.PacingRate = rate;
    }

    /// <remarks>Mirrors bbr_min_tso_segs().</remarks>
    private static uint MinTsoSegs(TcpSock tp) => tp.PacingRate < (BbrMinTsoRate >> 3) ? 1u : 2u;

    /// <remarks>Mirrors bbr_tso_segs_goal(): the stack has no TSO, but BBR budgets cwnd as Linux does.</remarks>
    private static uint TsoSegsGoal(TcpSock tp)
    {
        ulong bytes = Math.Min(tp.PacingRate >> tp.PacingShift, TsoBytesMax);
        uint segs = Math.Max((uint)(bytes / Math.Max(1u, tp.MssCache)), MinTsoSegs(tp));
        return Math.Min(segs, 0x7Fu);
    }

    /// <summary>Saves the "last known good" cwnd, to restore after loss recovery or PROBE_RTT.</summary>
    /// <remarks>Mirrors bbr_save_cwnd().</remarks>
    private static void SaveCwnd(TcpSock tp, Bbr bbr)
    {
        if (bbr.PrevCaState < TcpCaState.Recovery && bbr.Mode != Mode.ProbeRtt) bbr.PriorCwnd = tp.SndCwnd;
        else bbr.PriorCwnd = Math.Max(bbr.PriorCwnd, tp.SndCwnd);
    }

    /// <remarks>Mirrors bbr_cwnd_event(): restarting from idle, pace at bw (PROBE_BW) or end PROBE_RTT.</remarks>
    public override void CwndEvent(TcpSock tp, TcpCaEvent ev)
    {
        if (ev != TcpCaEvent.TxStart || tp.AppLimited == 0) return;
        var bbr = Ca(tp);
        bbr.IdleRestart = true;
        bbr.AckEpochMstamp = tp.TcpMstamp;
        bbr.AckEpochAcked = 0;
        if (bbr.Mode == Mode.ProbeBw) SetPacingRate(tp, bbr, BwOf(bbr), BbrUnit);
        else if (bbr.Mode == Mode.ProbeRtt) CheckProbeRttDone(tp, bbr);
    }

    /// <summary>bdp = ceil(bw * min_rtt * gain); TCP_INIT_CWND without an RTT sample.</summary>
    /// <remarks>Mirrors bbr_bdp().</remarks>
    private static uint Bdp(Bbr bbr, uint bw, int gain)
    {
        if (bbr.MinRttUs == ~0u) return TcpSock.TcpInitCwnd;
        ulong w = (ulong)bw * bbr.MinRttUs;
        return (uint)((((w * (ulong)gain) >> BbrScale) + BwUnit - 1) / BwUnit);
    }

    /// <summary>Room for full-sized skbs in the end hosts, an even cwnd, and +2 in the probing phase.</summary>
    /// <remarks>Mirrors bbr_quantization_budget().</remarks>
    private static uint QuantizationBudget(TcpSock tp, Bbr bbr, uint cwnd)
    {
        cwnd += 3 * TsoSegsGoal(tp);
        cwnd = (cwnd + 1) & ~1u;
        if (bbr.Mode == Mode.ProbeBw && bbr.CycleIdx == 0) cwnd += 2;
        return cwnd;
    }

    /// <remarks>Mirrors bbr_inflight().</remarks>
    private static uint Inflight(TcpSock tp, Bbr bbr, uint bw, int gain) => QuantizationBudget(tp, bbr, Bdp(bbr, bw, gain));

    /// <summary>Packets in the network when the next paced packet departs: inflight - (EDT - now) * bw.</summary>
    /// <remarks>Mirrors bbr_packets_in_net_at_edt().</remarks>
    private static uint PacketsInNetAtEdt(TcpSock tp, Bbr bbr, uint inflightNow)
    {
        long nowNs = tp.Net.NowNs;
        long edtNs = Math.Max(tp.TcpWstampNs, nowNs);
        ulong intervalUs = (ulong)(edtNs - nowNs) / 1000;
        ulong intervalDelivered = (ulong)BwOf(bbr) * intervalUs >> BwScale;
        ulong inflightAtEdt = inflightNow;
        if (bbr.PacingGain > BbrUnit) inflightAtEdt += TsoSegsGoal(tp); // include EDT skb
        if (intervalDelivered >= inflightAtEdt) return 0;
        return (uint)(inflightAtEdt - intervalDelivered);
    }

    /// <remarks>Mirrors bbr_ack_aggregation_cwnd().</remarks>
    private static uint AckAggregationCwnd(Bbr bbr)
    {
        uint aggrCwnd = 0;
        if (BbrExtraAckedGain != 0 && FullBwReached(bbr))
        {
            uint maxAggrCwnd = (uint)((ulong)BwOf(bbr) * BbrExtraAckedMaxUs / BwUnit);
            aggrCwnd = (uint)((BbrExtraAckedGain * ExtraAcked(bbr)) >> BbrScale);
            aggrCwnd = Math.Min(aggrCwnd, maxAggrCwnd);
        }
        return aggrCwnd;
    }

    /// <summary>
    /// In the first round of recovery, packet conservation (send what was delivered); on leaving
    /// recovery, restore the cwnd saved at its start.
    /// </summary>
    /// <remarks>Mirrors bbr_set_cwnd_to_recover_or_restore().</remarks>
    private static bool SetCwndToRecoverOrRestore(TcpSock tp, Bbr bbr, in RateSample rs, uint acked, out uint newCwnd)
    {
        var prevState = bbr.PrevCaState;
        var state = tp.CaState;
        uint cwnd = tp.SndCwnd;
        // An ACK for P pkts should release at most 2*P packets: first deduct the lost ones.
        if (rs.Losses > 0) cwnd = (uint)Math.Max((int)cwnd - rs.Losses, 1);
        if (state == TcpCaState.Recovery && prevState != TcpCaState.Recovery)
        {
            // Starting 1st round of Recovery, so do packet conservation.
            bbr.PacketConservation = true;
            bbr.NextRttDelivered = tp.Delivered; // start round now
            // Cut unused cwnd from app behavior, TSQ, or TSO deferral.
            cwnd = tp.PacketsInFlight + acked;
        }
        else if (prevState >= TcpCaState.Recovery && state < TcpCaState.Recovery)
        {
            // Exiting loss recovery; restore cwnd saved before recovery.
            cwnd = Math.Max(cwnd, bbr.PriorCwnd);
            bbr.PacketConservation = false;
        }
        bbr.PrevCaState = state;
        if (bbr.PacketConservation)
        {
            newCwnd = Math.Max(cwnd, tp.PacketsInFlight + acked);
            return true;
        }
        newCwnd = cwnd;
        return false;
    }

    /// <summary>Slow-starts cwnd toward the target (bdp * gain + aggregation), or snaps down to it once the pipe is full.</summary>
    /// <remarks>Mirrors bbr_set_cwnd().</remarks>
    private static void SetCwnd(TcpSock tp, Bbr bbr, in RateSample rs, uint acked, uint bw, int gain)
    {
        uint cwnd = tp.SndCwnd;
        if (acked == 0) goto done; // no packet fully ACKed; just apply caps
        if (SetCwndToRecoverOrRestore(tp, bbr, rs, acked, out cwnd)) goto done;
        uint targetCwnd = Bdp(bbr, bw, gain);
        // Extra cwnd for data ACKed in aggregates.
        targetCwnd += AckAggregationCwnd(bbr);
        targetCwnd = QuantizationBudget(tp, bbr, targetCwnd);
        if (FullBwReached(bbr)) cwnd = Math.Min(cwnd + acked, targetCwnd); // only cut cwnd if we filled the pipe
        else if (cwnd < targetCwnd || tp.Delivered < TcpSock.TcpInitCwnd) cwnd += acked;
        cwnd = Math.Max(cwnd, BbrCwndMinTarget);
    done:
        tp.SndCwnd = Math.Min(cwnd, tp.SndCwndClamp); // apply global cap
        if (bbr.Mode == Mode.ProbeRtt) tp.SndCwnd = Math.Min(tp.SndCwnd, BbrCwndMinTarget); // drain queue, refresh min_rtt
    }

    /// <summary>The gain-cycle phase ends after min_rtt, and when its inflight target is reached (or, above 1, on loss).</summary>
    /// <remarks>Mirrors bbr_is_next_cycle_phase().</remarks>
    private static bool IsNextCyclePhase(TcpSock tp, Bbr bbr, in RateSample rs)
    {
        bool isFullLength = tp.DeliveredMstamp - bbr.CycleMstamp > bbr.MinRttUs;
        if (bbr.PacingGain == BbrUnit) return isFullLength; // just use wall clock time
        uint inflight = PacketsInNetAtEdt(tp, bbr, rs.PriorInFlight);
        uint bw = MaxBw(bbr);
        // Probing (> 1.0): until inflight reaches pacing_gain * BDP, but not beyond a loss.
        if (bbr.PacingGain > BbrUnit)
            return isFullLength && (rs.Losses != 0 || inflight >= Inflight(tp, bbr, bw, bbr.PacingGain));
        // Draining (< 1.0): until the queue is gone (inflight at BDP) or min_rtt passed.
        return isFullLength || inflight <= Inflight(tp, bbr, bw, BbrUnit);
    }

    /// <remarks>Mirrors bbr_advance_cycle_phase().</remarks>
    private static void AdvanceCyclePhase(TcpSock tp, Bbr bbr)
    {
        bbr.CycleIdx = (bbr.CycleIdx + 1) & (CycleLen - 1);
        bbr.CycleMstamp = tp.DeliveredMstamp;
    }

    /// <remarks>Mirrors bbr_update_cycle_phase().</remarks>
    private static void UpdateCyclePhase(TcpSock tp, Bbr bbr, in RateSample rs)
    {
        if (bbr.Mode == Mode.ProbeBw && IsNextCyclePhase(tp, bbr, rs)) AdvanceCyclePhase(tp, bbr);
    }

    /// <remarks>Mirrors bbr_reset_startup_mode().</remarks>
    private static void ResetStartupMode(Bbr bbr) => bbr.Mode = Mode.Startup;

    /// <summary>Enters PROBE_BW at a random phase of the gain cycle (never the 3/4 one).</summary>
    /// <remarks>Mirrors bbr_reset_probe_bw_mode().</remarks>
    private static void ResetProbeBwMode(TcpSock tp, Bbr bbr)
    {
        bbr.Mode = Mode.ProbeBw;
        bbr.CycleIdx = CycleLen - 1 - tp.Net.Ipv4.Prandom.Next(BbrCycleRand);
        AdvanceCyclePhase(tp, bbr); // flip to next phase of gain cycle
    }

    /// <remarks>Mirrors bbr_reset_mode().</remarks>
    private static void ResetMode(TcpSock tp, Bbr bbr)
    {
        if (!FullBwReached(bbr)) ResetStartupMode(bbr);
        else ResetProbeBwMode(tp, bbr);
    }

    /// <remarks>Mirrors bbr_reset_lt_bw_sampling_interval().</remarks>
    private static void ResetLtBwSamplingInterval(TcpSock tp, Bbr bbr)
    {
        bbr.LtLastStamp = (uint)(tp.DeliveredMstamp / 1000);
        bbr.LtLastDelivered = tp.Delivered;
        bbr.LtLastLost = tp.Lost;
        bbr.LtRttCnt = 0;
    }

    /// <remarks>Mirrors bbr_reset_lt_bw_sampling().</remarks>
    private static void ResetLtBwSampling(TcpSock tp, Bbr bbr)
    {
        bbr.LtBw = 0;
        bbr.LtUseBw = false;
        bbr.LtIsSampling = false;
        ResetLtBwSamplingInterval(tp, bbr);
    }

    /// <summary>Two consecutive lossy intervals at a consistent rate: a token-bucket policer; use their average.</summary>
    /// <remarks>Mirrors bbr_lt_bw_interval_done().</remarks>
    private static void LtBwIntervalDone(TcpSock tp, Bbr bbr, uint bw)
    {
        if (bbr.LtBw != 0)
        {
            uint diff = (uint)Math.Abs((long)bw - bbr.LtBw);
            if ((ulong)diff * BbrUnit <= (ulong)BbrLtBwRatio * bbr.LtBw || RateBytesPerSec(tp, diff, BbrUnit) <= BbrLtBwDiff)
            {
                // All criteria are met; estimate we're policed.
                bbr.LtBw = (uint)(((ulong)bw + bbr.LtBw) >> 1); // avg 2 intvls
                bbr.LtUseBw = true;
                bbr.PacingGain = BbrUnit; // try to avoid drops
                bbr.LtRttCnt = 0;
                return;
            }
        }
        bbr.LtBw = bw;
        ResetLtBwSamplingInterval(tp, bbr);
    }

    /// <summary>Long-term ("LT") bandwidth sampling between losses, to detect a traffic policer.</summary>
    /// <remarks>Mirrors bbr_lt_bw_sampling().</remarks>
    private static void LtBwSampling(TcpSock tp, Bbr bbr, in RateSample rs)
    {
        if (bbr.LtUseBw)
        {
            // Already using long-term rate: stop after bbr_lt_bw_max_rtts rounds and restart gain cycling.
            if (bbr.Mode == Mode.ProbeBw && bbr.RoundStart && ++bbr.LtRttCnt >= BbrLtBwMaxRtts)
            {
                ResetLtBwSampling(tp, bbr);
                ResetProbeBwMode(tp, bbr);
            }
            return;
        }
        // Wait for the first loss before sampling, to let the policer exhaust its tokens.
        if (!bbr.LtIsSampling)
        {
            if (rs.Losses == 0) return;
            ResetLtBwSamplingInterval(tp, bbr);
            bbr.LtIsSampling = true;
        }
        // To avoid underestimates, reset sampling if we run out of data.
        if (rs.IsAppLimited)
        {
            ResetLtBwSampling(tp, bbr);
            return;
        }
        if (bbr.RoundStart) bbr.LtRttCnt++; // count round trips in this interval
        if (bbr.LtRttCnt < BbrLtIntvlMinRtts) return; // sampling interval needs to be longer
        if (bbr.LtRttCnt > 4 * BbrLtIntvlMinRtts)
        {
            ResetLtBwSampling(tp, bbr); // interval is too long
            return;
        }
        // End sampling interval when a packet is lost (the policer's tokens are exhausted).
        if (rs.Losses == 0) return;
        uint lost = tp.Lost - bbr.LtLastLost;
        uint delivered = tp.Delivered - bbr.LtLastDelivered;
        // Is loss rate (lost/delivered) >= lt_loss_thresh? If not, wait.
        if (delivered == 0 || ((ulong)lost << BbrScale) < (ulong)BbrLtLossThresh * delivered) return;
        // Find average delivery rate in this sampling interval.
        uint t = unchecked((uint)(tp.DeliveredMstamp / 1000) - bbr.LtLastStamp);
        if ((int)t < 1) return; // interval is less than one ms, so wait
        if (t >= ~0u / 1000)
        {
            ResetLtBwSampling(tp, bbr); // interval too long; reset
            return;
        }
        t *= 1000;
        ulong bw = (ulong)delivered * BwUnit / t;
        LtBwIntervalDone(tp, bbr, (uint)Math.Min(bw, uint.MaxValue));
    }

    /// <summary>Counts packet-timed rounds and feeds the delivery rate into the windowed max filter (app-limited samples only if higher).</summary>
    /// <remarks>Mirrors bbr_update_bw().</remarks>
    private static void UpdateBw(TcpSock tp, Bbr bbr, in RateSample rs)
    {
        bbr.RoundStart = false;
        if (rs.Delivered < 0 || rs.IntervalUs <= 0) return; // Not a valid observation
        // See if we've reached the next RTT.
        if (!SeqNumber.Before(rs.PriorDelivered, bbr.NextRttDelivered))
        {
            bbr.NextRttDelivered = tp.Delivered;
            bbr.RttCnt++;
            bbr.RoundStart = true;
            bbr.PacketConservation = false;
        }
        LtBwSampling(tp, bbr, rs);
        // A (lower bound) bottleneck bandwidth sample: delivered / interval, scaled.
        ulong bw = (ulong)rs.Delivered * BwUnit / (ulong)rs.IntervalUs;
        uint bw32 = (uint)Math.Min(bw, uint.MaxValue);
        // App-limited samples only when they are not below the model.
        if (!rs.IsAppLimited || bw32 >= MaxBw(bbr)) bbr.Bw.RunningMax(BbrBwRtts, bbr.RttCnt, bw32);
    }

    /// <summary>Tracks the degree of ACK aggregation: data ACKed beyond bw * interval, max over 5-10 rounds.</summary>
    /// <remarks>Mirrors bbr_update_ack_aggregation().</remarks>
    private static void UpdateAckAggregation(TcpSock tp, Bbr bbr, in RateSample rs)
    {
        if (BbrExtraAckedGain == 0 || rs.AckedSacked == 0 || rs.Delivered < 0 || rs.IntervalUs <= 0) return;
        if (bbr.RoundStart)
        {
            bbr.ExtraAckedWinRtts = Math.Min(0x1Fu, bbr.ExtraAckedWinRtts + 1);
            if (bbr.ExtraAckedWinRtts >= BbrExtraAckedWinRtts)
            {
                bbr.ExtraAckedWinRtts = 0;
                bbr.ExtraAckedWinIdx = bbr.ExtraAckedWinIdx != 0 ? 0 : 1;
                if (bbr.ExtraAckedWinIdx == 0) bbr.ExtraAcked0 = 0; else bbr.ExtraAcked1 = 0;
            }
        }
        // Compute how many packets we expected to be delivered over epoch.
        uint epochUs = (uint)Math.Max(0, tp.DeliveredMstamp - bbr.AckEpochMstamp);
        uint expectedAcked = (uint)((ulong)BwOf(bbr) * epochUs / BwUnit);
        // Reset the aggregation epoch if ACK rate is below expected rate or the epoch is very long.
        if (bbr.AckEpochAcked <= expectedAcked || bbr.AckEpochAcked + rs.AckedSacked >= BbrAckEpochAckedResetThresh)
        {
            bbr.AckEpochAcked = 0;
            bbr.AckEpochMstamp = tp.DeliveredMstamp;
            expectedAcked = 0;
        }
        // Compute excess data delivered, beyond what was expected.
        bbr.AckEpochAcked = Math.Min(0xFFFFFu, bbr.AckEpochAcked + rs.AckedSacked);
        uint extraAcked = bbr.AckEpochAcked - expectedAcked;
        extraAcked = Math.Min(extraAcked, tp.SndCwnd);
        if (bbr.ExtraAckedWinIdx == 0) { if (extraAcked > bbr.ExtraAcked0) bbr.ExtraAcked0 = extraAcked; }
        else if (extraAcked > bbr.ExtraAcked1) bbr.ExtraAcked1 = extraAcked;
    }

    /// <summary>STARTUP filled the pipe when the max bw grew less than 25% in 3 non-app-limited rounds.</summary>
    /// <remarks>Mirrors bbr_check_full_bw_reached().</remarks>
    private static void CheckFullBwReached(Bbr bbr, in RateSample rs)
    {
        if (FullBwReached(bbr) || !bbr.RoundStart || rs.IsAppLimited) return;
        ulong bwThresh = (ulong)bbr.FullBw * BbrFullBwThresh >> BbrScale;
        if (MaxBw(bbr) >= bwThresh)
        {
            bbr.FullBw = MaxBw(bbr);
            bbr.FullBwCnt = 0;
            return;
        }
        ++bbr.FullBwCnt;
        bbr.FullBwReached = bbr.FullBwCnt >= BbrFullBwCnt;
    }

    /// <summary>If the pipe is full, DRAIN the queue STARTUP built, then PROBE_BW once inflight is down to the BDP.</summary>
    /// <remarks>Mirrors bbr_check_drain().</remarks>
    private static void CheckDrain(TcpSock tp, Bbr bbr)
    {
        if (bbr.Mode == Mode.Startup && FullBwReached(bbr))
        {
            bbr.Mode = Mode.Drain; // drain queue we created
            tp.SndSsthresh = Inflight(tp, bbr, MaxBw(bbr), BbrUnit);
        }
        // fall through to check if in-flight is already small:
        if (bbr.Mode == Mode.Drain && PacketsInNetAtEdt(tp, bbr, tp.PacketsInFlight) <= Inflight(tp, bbr, MaxBw(bbr), BbrUnit))
            ResetProbeBwMode(tp, bbr); // we estimate queue is drained
    }

    /// <remarks>Mirrors bbr_check_probe_rtt_done().</remarks>
    private static void CheckProbeRttDone(TcpSock tp, Bbr bbr)
    {
        if (!(bbr.ProbeRttDoneStamp != 0 && SeqNumber.After(Jiffies(tp), bbr.ProbeRttDoneStamp))) return;
        bbr.MinRttStamp = Jiffies(tp); // wait a while until PROBE_RTT
        tp.SndCwnd = Math.Max(tp.SndCwnd, bbr.PriorCwnd);
        ResetMode(tp, bbr);
    }

    /// <summary>
    /// The min_rtt filter (10 s); when it expires, PROBE_RTT holds inflight at 4 packets for 200 ms
    /// and one round, to measure the path without a queue.
    /// </summary>
    /// <remarks>Mirrors bbr_update_min_rtt().</remarks>
    private static void UpdateMinRtt(TcpSock tp, Bbr bbr, in RateSample rs)
    {
        uint now = Jiffies(tp);
        bool filterExpired = SeqNumber.After(now, bbr.MinRttStamp + BbrMinRttWinSec * 1000);
        if (rs.RttUs >= 0 && (rs.RttUs < bbr.MinRttUs || (filterExpired && !rs.IsAckDelayed)))
        {
            bbr.MinRttUs = (uint)rs.RttUs;
            bbr.MinRttStamp = now;
        }
        if (BbrProbeRttModeMs > 0 && filterExpired && !bbr.IdleRestart && bbr.Mode != Mode.ProbeRtt)
        {
            bbr.Mode = Mode.ProbeRtt; // dip, drain queue
            SaveCwnd(tp, bbr);        // note cwnd so we can restore it
            bbr.ProbeRttDoneStamp = 0;
        }
        if (bbr.Mode == Mode.ProbeRtt)
        {
            // Ignore low rate samples during this mode.
            uint v = tp.Delivered + tp.PacketsInFlight;
            tp.AppLimited = v != 0 ? v : 1;
            // Maintain min packets in flight for max(200 ms, 1 round).
            if (bbr.ProbeRttDoneStamp == 0 && tp.PacketsInFlight <= BbrCwndMinTarget)
            {
                bbr.ProbeRttDoneStamp = now + BbrProbeRttModeMs;
                bbr.ProbeRttRoundDone = false;
                bbr.NextRttDelivered = tp.Delivered;
            }
            else if (bbr.ProbeRttDoneStamp != 0)
            {
                if (bbr.RoundStart) bbr.ProbeRttRoundDone = true;
                if (bbr.ProbeRttRoundDone) CheckProbeRttDone(tp, bbr);
            }
        }
        // Restart after idle ends only once we process a new S/ACK for data.
        if (rs.Delivered > 0) bbr.IdleRestart = false;
    }

    /// <remarks>Mirrors bbr_update_gains().</remarks>
    private static void UpdateGains(Bbr bbr)
    {
        switch (bbr.Mode)
        {
            case Mode.Startup:
                bbr.PacingGain = BbrHighGain;
                bbr.CwndGain = BbrHighGain;
                break;
            case Mode.Drain:
                bbr.PacingGain = BbrDrainGain; // slow, to drain
                bbr.CwndGain = BbrHighGain;    // keep cwnd
                break;
            case Mode.ProbeBw:
                bbr.PacingGain = bbr.LtUseBw ? BbrUnit : BbrPacingGain[bbr.CycleIdx];
                bbr.CwndGain = BbrCwndGain;
                break;
            case Mode.ProbeRtt:
                bbr.PacingGain = BbrUnit;
                bbr.CwndGain = BbrUnit;
                break;
        }
    }

    /// <remarks>Mirrors bbr_update_model().</remarks>
    private static void UpdateModel(TcpSock tp, Bbr bbr, in RateSample rs)
    {
        UpdateBw(tp, bbr, rs);
        UpdateAckAggregation(tp, bbr, rs);
        UpdateCyclePhase(tp, bbr, rs);
        CheckFullBwReached(bbr, rs);
        CheckDrain(tp, bbr);
        UpdateMinRtt(tp, bbr, rs);
        UpdateGains(bbr);
    }

    /// <summary>BBR's main function on every ACK: update the model, then set the pacing rate and cwnd.</summary>
    /// <remarks>Mirrors bbr_main().</remarks>
    public override void CongControl(TcpSock tp, uint ack, int flag, in RateSample rs)
    {
        var bbr = Ca(tp);
        UpdateModel(tp, bbr, rs);
        uint bw = BwOf(bbr);
        SetPacingRate(tp, bbr, bw, bbr.PacingGain);
        SetCwnd(tp, bbr, rs, rs.AckedSacked, bw, bbr.CwndGain);
    }

    /// <summary>Starts in STARTUP with an empty model, and asks the stack to pace (SK_PACING_NEEDED).</summary>
    /// <remarks>Mirrors bbr_init().</remarks>
    public override void Init(TcpSock tp)
    {
        var bbr = TcpCong.CaPrivAlloc<Bbr>(tp);
        tp.CaPriv = bbr;
        bbr.PriorCwnd = 0;
        tp.SndSsthresh = TcpCong.InfiniteSsthresh;
        bbr.RttCnt = 0;
        bbr.NextRttDelivered = tp.Delivered;
        bbr.PrevCaState = TcpCaState.Open;
        bbr.PacketConservation = false;
        bbr.ProbeRttDoneStamp = 0;
        bbr.ProbeRttRoundDone = false;
        bbr.MinRttUs = tp.TcpMinRtt;
        bbr.MinRttStamp = Jiffies(tp);
        bbr.Bw.Reset(bbr.RttCnt, 0); // init max bw to 0
        bbr.HasSeenRtt = false;
        InitPacingRateFromRtt(tp, bbr);
        bbr.RoundStart = false;
        bbr.IdleRestart = false;
        bbr.FullBwReached = false;
        bbr.FullBw = 0;
        bbr.FullBwCnt = 0;
        bbr.CycleMstamp = 0;
        bbr.CycleIdx = 0;
        ResetLtBwSampling(tp, bbr);
        ResetStartupMode(bbr);
        bbr.AckEpochMstamp = tp.TcpMstamp;
        bbr.AckEpochAcked = 0;
        bbr.ExtraAckedWinRtts = 0;
        bbr.ExtraAckedWinIdx = 0;
        bbr.ExtraAcked0 = bbr.ExtraAcked1 = 0;
        if (tp.PacingStatus == SkPacingStatus.None) tp.PacingStatus = SkPacingStatus.Needed;
    }

    /// <remarks>Mirrors bbr_sndbuf_expand(): 3 * cwnd, since BBR may slow-start even during recovery.</remarks>
    public override uint SndbufExpand(TcpSock tp) => 3;

    /// <remarks>Mirrors bbr_undo_cwnd(): a spurious slow-down resets full-pipe detection.</remarks>
    public override uint UndoCwnd(TcpSock tp)
    {
        var bbr = Ca(tp);
        bbr.FullBw = 0;
        bbr.FullBwCnt = 0;
        ResetLtBwSampling(tp, bbr);
        return tp.SndCwnd;
    }

    /// <remarks>Mirrors bbr_ssthresh(): entering loss recovery, save cwnd for when we exit or undo it.</remarks>
    public override uint Ssthresh(TcpSock tp)
    {
        SaveCwnd(tp, Ca(tp));
        return tp.SndSsthresh;
    }

    /// <remarks>Mirrors bbr_set_state(): an RTO ends a round and counts as a loss for policer detection.</remarks>
    public override void SetState(TcpSock tp, TcpCaState newState)
    {
        if (newState != TcpCaState.Loss) return;
        var bbr = Ca(tp);
        var rs = new RateSample { Losses = 1 };
        bbr.PrevCaState = TcpCaState.Loss;
        bbr.FullBw = 0;
        bbr.RoundStart = true; // treat RTO like end of a round
        LtBwSampling(tp, bbr, rs);
    }

    /// <summary>
    /// The model for `ss -i` (INET_DIAG_BBRINFO, answered to INET_DIAG_VEGASINFO too) and
    /// getsockopt(TCP_CC_INFO): bandwidth in bytes per second, min_rtt in usec, the gains &lt;&lt; 8.
    /// Before bbr_init() the state is all zero, as Linux's zeroed icsk_ca_priv reads.
    /// </summary>
    /// <remarks>Mirrors bbr_get_info().</remarks>
    public override int GetInfo(TcpSock tp, uint ext, out int attr, ref TcpCcInfo info)
    {
        if ((ext & (1u << (InetDiag.INET_DIAG_BBRINFO - 1))) != 0 || (ext & (1u << (InetDiag.INET_DIAG_VEGASINFO - 1))) != 0)
        {
            var bbr = tp.CaPriv as Bbr;   // not Ca(tp): reading must not create the state (nor allocate)
            ulong bw = bbr is null ? 0 : BwBytesPerSec(tp, bbr);
            info.Bbr = default;
            info.Bbr.BbrBwLo = (uint)bw;
            info.Bbr.BbrBwHi = (uint)(bw >> 32);
            info.Bbr.BbrMinRtt = bbr?.MinRttUs ?? 0;
            info.Bbr.BbrPacingGain = (uint)(bbr?.PacingGain ?? 0);
            info.Bbr.BbrCwndGain = (uint)(bbr?.CwndGain ?? 0);
            attr = InetDiag.INET_DIAG_BBRINFO;
            return Unsafe.SizeOf<TcpBbrInfo>();
        }
        attr = 0;
        return 0;
    }

    /// <summary>BBR's reno-style hook is unused (cong_control owns cwnd).</summary>
    public override void CongAvoid(TcpSock tp, uint ack, uint acked) { }

    /// <summary>The current mode (for tests and diagnostics).</summary>
    internal static Mode CurrentMode(TcpSock tp) => Ca(tp).Mode;
}
