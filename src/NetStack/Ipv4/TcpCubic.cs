using System.Numerics;

namespace NetStack.Ipv4;

/// <summary>
/// CUBIC (RFC 9438), Linux's default congestion control: after a loss the window grows along a
/// cubic curve centred on the window where the loss happened, independent of the RTT, with a
/// Reno-friendly floor. Time is in milliseconds (HZ = 1000). HyStart is not implemented: slow
/// start ends at the first loss, as with hystart=0.
/// <remarks>Mirrors net/ipv4/tcp_cubic.c (struct bictcp, cubictcp_*).</remarks>
/// </summary>
internal sealed class TcpCubic : TcpCongestionOps
{
    public static readonly TcpCubic Instance = new();

    private const int BetaScale = 1024;     // BICTCP_BETA_SCALE
    private const int Hz = 1000;
    private const int BictcpHz = 10;        // BICTCP_HZ: 2^10 = 1024
    private const bool FastConvergence = true;
    private const bool TcpFriendliness = true;
    private const int Beta = 717;           // 717/1024 = 0.7
    private const int BicScale = 41;

    private static readonly uint s_betaScale = 8 * (BetaScale + Beta) / 3 / (BetaScale - Beta);
    private static readonly ulong s_cubeRttScale = BicScale * 10;
    private static readonly ulong s_cubeFactor = (1UL << (10 + 3 * BictcpHz)) / (BicScale * 10);

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

        public void Reset()
        {
            Cnt = LastMaxCwnd = LastCwnd = LastTime = BicOriginPoint = BicK = DelayMin = EpochStart = AckCnt = TcpCwnd = 0;
        }
    }

    private static Bictcp Ca(TcpSock tp) => (Bictcp)(tp.CaPriv ??= new Bictcp());

    private static uint NowMs(TcpSock tp) => (uint)(tp.Net.NowNs / 1_000_000);

    /// <remarks>Mirrors cubictcp_init().</remarks>
    public override void Init(TcpSock tp) => Ca(tp).Reset();

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

        if (TcpFriendliness)
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
        if (tp.SndCwnd < ca.LastMaxCwnd && FastConvergence)
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
        if (newState == TcpCaState.Loss) Ca(tp).Reset();
    }

    /// <remarks>Mirrors cubictcp_acked(): track the minimum RTT.</remarks>
    public override void PktsAcked(TcpSock tp, in AckSample sample)
    {
        if (sample.RttUs < 0) return;
        var ca = Ca(tp);
        if (ca.EpochStart != 0 && unchecked((int)(NowMs(tp) - ca.EpochStart)) < Hz) return;
        uint delay = (uint)Math.Max(1, sample.RttUs);
        if (ca.DelayMin == 0 || ca.DelayMin > delay) ca.DelayMin = delay;
    }
}
