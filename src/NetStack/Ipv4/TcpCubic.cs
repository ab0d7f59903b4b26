using System.Numerics;
using NetStack.Core;
using NetStack.Wire;

namespace NetStack.Ipv4;

/// <summary>
/// CUBIC (RFC 9438), Linux's default congestion control: after a loss the window grows along a
/// cubic curve centred on the window where the loss happened, independent of the RTT, with a
/// Reno-friendly floor. Time is in milliseconds (HZ = 1000). Slow start ends early with HyStart
/// (hybrid slow start, on by default as in Linux): when the ACKs of a round come back as one train
/// longer than half the minimum RTT (ACK-train detection), or when the round's RTT rises by an
/// eighth of the minimum RTT, clamped to 4..16 ms (delay detection), ssthresh is set to cwnd and
/// TcpExt TCPHystartTrainDetect/TCPHystartDelayDetect count it. The module parameters (hystart,
/// hystart_detect, hystart_low_window, hystart_ack_delta_us, fast_convergence, tcp_friendliness,
/// initial_ssthresh) are per namespace under sys.module.tcp_cubic.parameters.* in the sysctl table
/// (/sys/module/tcp_cubic/parameters in Linux, global there).
/// <remarks>Mirrors net/ipv4/tcp_cubic.c (struct bictcp, cubictcp_*, hystart_update()).</remarks>
/// </summary>
internal sealed class TcpCubic : TcpCongestionOps
{
    public static readonly TcpCubic Instance = new();

    private const int BetaScale = 1024;     // BICTCP_BETA_SCALE
    private const int Hz = 1000;
    private const int BictcpHz = 10;        // BICTCP_HZ: 2^10 = 1024
    private const int Beta = 717;           // 717/1024 = 0.7
    private const int BicScale = 41;

    /// <summary>hystart_detect bits.</summary>
    internal const int HystartAckTrain = 0x1, HystartDelay = 0x2;
    /// <summary>HYSTART_MIN_SAMPLES: RTT samples per round before the delay test.</summary>
    private const int HystartMinSamples = 8;
    /// <summary>HYSTART_DELAY_MIN / _MAX (usec): the bounds of the delay increase that ends slow start.</summary>
    private const uint HystartDelayMin = 4000, HystartDelayMax = 16000;

    private static readonly uint s_betaScale = 8 * (BetaScale + Beta) / 3 / (BetaScale - Beta);
    private static readonly ulong s_cubeRttScale = BicScale * 10;
    private static readonly ulong s_cubeFactor = (1UL << (10 + 3 * BictcpHz)) / (BicScale * 10);

    /// <summary>
    /// The module parameters of tcp_cubic, with Linux's defaults. Global in Linux
    /// (/sys/module/tcp_cubic/parameters); one set per namespace here, so two simulated hosts may differ.
    /// </summary>
    internal sealed class ModuleParams
    {
        public int FastConvergence = 1;
        public int TcpFriendliness = 1;
        public int InitialSsthresh;
        /// <summary>hystart: turn hybrid slow start on (1) or off (0).</summary>
        public int Hystart = 1;
        /// <summary>hystart_detect: 1 packet train, 2 delay, 3 both.</summary>
        public int HystartDetect = HystartAckTrain | HystartDelay;
        /// <summary>hystart_low_window: HyStart acts only from this cwnd on.</summary>
        public int HystartLowWindow = 16;
        /// <summary>hystart_ack_delta_us: ACKs closer than this belong to one train.</summary>
        public int HystartAckDeltaUs = 2000;
    }

    /// <summary>Registers the module parameters in the namespace's sysctl table (module_param()).</summary>
    internal static void RegisterModuleParams(NetNamespace net)
    {
        var p = net.Ipv4.CubicParams;
        net.Sysctl.RegisterNetSysctl("sys/module/tcp_cubic/parameters",
        [
            CtlTable.Int("fast_convergence", () => p.FastConvergence, v => p.FastConvergence = v),
            CtlTable.Int("tcp_friendliness", () => p.TcpFriendliness, v => p.TcpFriendliness = v),
            CtlTable.Int("initial_ssthresh", () => p.InitialSsthresh, v => p.InitialSsthresh = v),
            CtlTable.Int("hystart", () => p.Hystart, v => p.Hystart = v),
            CtlTable.Int("hystart_detect", () => p.HystartDetect, v => p.HystartDetect = v),
            CtlTable.Int("hystart_low_window", () => p.HystartLowWindow, v => p.HystartLowWindow = v),
            CtlTable.Int("hystart_ack_delta_us", () => p.HystartAckDeltaUs, v => p.HystartAckDeltaUs = v),
        ]);
    }

    public override string Name => "cubic";

    /// <summary>The per-socket state (struct bictcp in icsk_ca_priv).</summary>
    public sealed class Bictcp
    {
        public uint Cnt;            // increase cwnd by 1 after this many ACKed packets
        public uint LastMaxCwnd;    // W_max
        public uint LastCwnd;
        public uint LastTime;
        public uint BicOriginPoint;
        public uint BicK;           // time to origin point, in 1/1024 s
        public uint DelayMin;       // min RTT, usec
        public uint EpochStart;     // ms; 0 = no epoch
        public uint AckCnt;
        public uint TcpCwnd;        // estimated Reno cwnd
        public byte SampleCnt;      // number of samples to decide curr_rtt
        public bool Found;          // the exit point is found
        public uint RoundStart;     // beginning of each round (usec)
        public uint EndSeq;         // end_seq of the round
        public uint LastAck;        // last time when the ACK spacing is close (usec)
        public uint CurrRtt;        // the minimum rtt of current round (usec)

        /// <remarks>Mirrors bictcp_reset(): the fields before the HyStart round state (memset up to
        /// "unused"), and found; the round state is bictcp_hystart_reset()'s.</remarks>
        public void Reset()
        {
            Cnt = LastMaxCwnd = LastCwnd = LastTime = BicOriginPoint = BicK = DelayMin = EpochStart = AckCnt = TcpCwnd = 0;
            Found = false;
        }
    }

    private static Bictcp Ca(TcpSock tp) => tp.CaPriv as Bictcp ?? (Bictcp)(tp.CaPriv = TcpCong.CaPrivAlloc<Bictcp>(tp));

    private static uint NowMs(TcpSock tp) => (uint)(tp.Net.NowNs / 1_000_000);

    /// <remarks>Mirrors bictcp_clock_us(): tp->tcp_mstamp.</remarks>
    private static uint ClockUs(TcpSock tp) => unchecked((uint)tp.TcpMstamp);

    /// <summary>Starts a HyStart round: it ends when snd_una passes what is sent now.</summary>
    /// <remarks>Mirrors bictcp_hystart_reset().</remarks>
    private static void HystartReset(TcpSock tp, Bictcp ca)
    {
        ca.RoundStart = ca.LastAck = ClockUs(tp);
        ca.EndSeq = tp.SndNxt;
        ca.CurrRtt = ~0u;
        ca.SampleCnt = 0;
    }

    /// <remarks>Mirrors cubictcp_init().</remarks>
    public override void Init(TcpSock tp)
    {
        var ca = Ca(tp);
        var p = tp.Net.Ipv4.CubicParams;
        ca.Reset();
        if (p.Hystart != 0) HystartReset(tp, ca);
        if (p.Hystart == 0 && p.InitialSsthresh != 0) tp.SndSsthresh = (uint)p.InitialSsthresh;
    }

    /// <remarks>Mirrors cubictcp_cwnd_event(): after idle, shift the epoch so growth resumes on the curve.</remarks>
    public override void CwndEvent(TcpSock tp, TcpCaEvent ev)
    {
        if (ev != TcpCaEvent.TxStart) return;
        var ca = Ca(tp);
        uint now = NowMs(tp);
        int delta = unchecked((int)(now - tp.LsndTimeMs));
        if (ca.EpochStart != 0 && delta > 0)
        {
            ca.EpochStart = unchecked(ca.EpochStart + (uint)delta);
            if (unchecked((int)(ca.EpochStart - now)) > 0) ca.EpochStart = now;
        }
    }

    /// <summary>Integer cube root (Newton-Raphson; the kernel uses a table plus one iteration).</summary>
    /// <remarks>Mirrors cubic_root().</remarks>
    internal static uint CubicRoot(ulong a)
    {
        if (a == 0) return 0;
        ulong x = 1UL << ((64 - BitOperations.LeadingZeroCount(a)) / 3 + 1);
        while (true)
        {
            ulong y = (2 * x + a / (x * x)) / 3;
            if (y >= x) break;
            x = y;
        }
        while (x * x * x > a) x--;
        return (uint)x;
    }

    /// <remarks>Mirrors bictcp_update().</remarks>
    private static void Update(TcpSock tp, Bictcp ca, uint cwnd, uint acked)
    {
        uint now = NowMs(tp);
        ca.AckCnt += acked;
        if (ca.LastCwnd == cwnd && unchecked((int)(now - ca.LastTime)) <= Hz / 32) return;

        if (!(ca.EpochStart != 0 && now == ca.LastTime))
        {
            ca.LastCwnd = cwnd;
            ca.LastTime = now;
            if (ca.EpochStart == 0)
            {
                ca.EpochStart = now == 0 ? 1 : now;
                ca.AckCnt = acked;
                ca.TcpCwnd = cwnd;
                if (ca.LastMaxCwnd <= cwnd)
                {
                    ca.BicK = 0;
                    ca.BicOriginPoint = cwnd;
                }
                else
                {
                    ca.BicK = CubicRoot(s_cubeFactor * (ca.LastMaxCwnd - cwnd));
                    ca.BicOriginPoint = ca.LastMaxCwnd;
                }
            }
            // t = (now - epoch + delay_min) in units of 1/1024 s.
            ulong t = (ulong)Math.Max(0, unchecked((int)(now - ca.EpochStart)));
            t += ca.DelayMin / 1000;
            t = (t << BictcpHz) / Hz;
            ulong offs = t < ca.BicK ? ca.BicK - t : t - ca.BicK;
            uint delta = (uint)((s_cubeRttScale * offs * offs * offs) >> (10 + 3 * BictcpHz));
            uint bicTarget = t < ca.BicK ? ca.BicOriginPoint - delta : ca.BicOriginPoint + delta;
            ca.Cnt = bicTarget > cwnd ? cwnd / (bicTarget - cwnd) : 100 * cwnd;
            // Before the first loss the curve is too timid: at least 5% growth per RTT.
            if (ca.LastMaxCwnd == 0 && ca.Cnt > 20) ca.Cnt = 20;
        }

        if (tp.Net.Ipv4.CubicParams.TcpFriendliness != 0)
        {
            uint delta = (cwnd * s_betaScale) >> 3;
            if (ca.AckCnt > delta && delta != 0)
            {
                uint n = ca.AckCnt / delta;
                ca.AckCnt -= n * delta;
                ca.TcpCwnd += n;
            }
            if (ca.TcpCwnd > cwnd)
            {
                uint maxCnt = cwnd / (ca.TcpCwnd - cwnd);
                if (ca.Cnt > maxCnt) ca.Cnt = maxCnt;
            }
        }
        // At most 1 packet per 2 acked: 1.5x per RTT.
        ca.Cnt = Math.Max(ca.Cnt, 2u);
    }

    /// <remarks>Mirrors cubictcp_cong_avoid().</remarks>
    public override void CongAvoid(TcpSock tp, uint ack, uint acked)
    {
        var ca = Ca(tp);
        if (!tp.TcpIsCwndLimited()) return;
        if (tp.TcpInSlowStart)
        {
            acked = TcpCong.TcpSlowStart(tp, acked);
            if (acked == 0) return;
        }
        Update(tp, ca, tp.SndCwnd, acked);
        TcpCong.TcpCongAvoidAi(tp, ca.Cnt, acked);
    }

    /// <remarks>Mirrors cubictcp_recalc_ssthresh(): beta 0.7 and fast convergence.</remarks>
    public override uint Ssthresh(TcpSock tp)
    {
        var ca = Ca(tp);
        ca.EpochStart = 0;
        if (tp.SndCwnd < ca.LastMaxCwnd && tp.Net.Ipv4.CubicParams.FastConvergence != 0)
            ca.LastMaxCwnd = tp.SndCwnd * (BetaScale + Beta) / (2 * BetaScale);
        else
            ca.LastMaxCwnd = tp.SndCwnd;
        return Math.Max(tp.SndCwnd * Beta / BetaScale, 2u);
    }

    /// <remarks>Modern CUBIC undoes like Reno: tcp_reno_undo_cwnd().</remarks>
    public override uint UndoCwnd(TcpSock tp) => Math.Max(tp.SndCwnd, tp.PriorCwnd);

    /// <remarks>Mirrors cubictcp_state().</remarks>
    public override void SetState(TcpSock tp, TcpCaState newState)
    {
        if (newState != TcpCaState.Loss) return;
        var ca = Ca(tp);
        ca.Reset();
        HystartReset(tp, ca);
    }

    /// <summary>
    /// Allowance for ACKs that GSO/GRO aggregation delays: min(1 ms, 4 * sk_gso_max_size / pacing rate).
    /// The stack has no GSO (sk_gso_max_size is 0), so it is 0, as for a Linux socket without GSO.
    /// </summary>
    /// <remarks>Mirrors hystart_ack_delay().</remarks>
    private static uint HystartAckDelay(TcpSock tp)
    {
        const ulong gsoMaxSize = 0;
        ulong rate = tp.PacingRate;
        if (rate == 0) return 0;
        return (uint)Math.Min(1000UL, gsoMaxSize * 4 * 1_000_000 / rate);
    }

    /// <summary>
    /// HyStart's two tests on each RTT sample in slow start: the ACK train of the round has lasted
    /// more than delay_min/2 (the pipe is about to fill), or the round's smallest RTT of at least 8
    /// samples exceeds delay_min by delay_min/8, clamped to 4..16 ms (a queue builds). Either sets
    /// ssthresh to cwnd, which ends slow start.
    /// </summary>
    /// <remarks>Mirrors hystart_update().</remarks>
    private static void HystartUpdate(TcpSock tp, Bictcp ca, uint delay)
    {
        var p = tp.Net.Ipv4.CubicParams;
        if (SeqNumber.After(tp.SndUna, ca.EndSeq)) HystartReset(tp, ca);
        // hystart triggers when cwnd is larger than some threshold
        if (tp.SndCwnd < (uint)p.HystartLowWindow) return;
        var mib = tp.Net.Mib.TcpExt;
        if ((p.HystartDetect & HystartAckTrain) != 0)
        {
            uint now = ClockUs(tp);
            // first detection parameter - ack-train detection
            if (unchecked((int)(now - ca.LastAck)) <= p.HystartAckDeltaUs)
            {
                ca.LastAck = now;
                uint threshold = ca.DelayMin + HystartAckDelay(tp);
                // Pacing might have delayed packets up to RTT/2 during slow start.
                if (tp.PacingStatus == SkPacingStatus.None) threshold >>= 1;
                if (unchecked((int)(now - ca.RoundStart)) > (int)threshold)
                {
                    ca.Found = true;
                    mib[LinuxMib.TCPHystartTrainDetect]++;
                    mib[LinuxMib.TCPHystartTrainCwnd] += tp.SndCwnd;
                    tp.SndSsthresh = tp.SndCwnd;
                }
            }
        }
        if ((p.HystartDetect & HystartDelay) != 0)
        {
            // obtain the minimum delay of more than sampling packets
            if (ca.CurrRtt > delay) ca.CurrRtt = delay;
            if (ca.SampleCnt < HystartMinSamples)
            {
                ca.SampleCnt++;
            }
            else if (ca.CurrRtt > ca.DelayMin + Math.Clamp(ca.DelayMin >> 3, HystartDelayMin, HystartDelayMax))
            {
                ca.Found = true;
                mib[LinuxMib.TCPHystartDelayDetect]++;
                mib[LinuxMib.TCPHystartDelayCwnd] += tp.SndCwnd;
                tp.SndSsthresh = tp.SndCwnd;
            }
        }
    }

    /// <remarks>Mirrors cubictcp_acked(): track the minimum RTT, and run HyStart in slow start.</remarks>
    public override void PktsAcked(TcpSock tp, in AckSample sample)
    {
        // Some calls are for duplicates without timestamps.
        if (sample.RttUs < 0) return;
        var ca = Ca(tp);
        // Discard delay samples right after fast recovery.
        if (ca.EpochStart != 0 && unchecked((int)(NowMs(tp) - ca.EpochStart)) < Hz) return;
        uint delay = (uint)Math.Max(1, sample.RttUs);
        // first time call or link delay decreases
        if (ca.DelayMin == 0 || ca.DelayMin > delay) ca.DelayMin = delay;
        if (!ca.Found && tp.TcpInSlowStart && tp.Net.Ipv4.CubicParams.Hystart != 0) HystartUpdate(tp, ca, delay);
    }
}
