using NetStack.Core;
using NetStack.Net;

namespace NetStack.Ipv4;

/// <summary>Congestion-avoidance states (enum tcp_ca_state), in icsk_ca_state.</summary>
public enum TcpCaState : byte
{
    /// <summary>TCP_CA_Open: nothing bad has been seen.</summary>
    Open = 0,
    /// <summary>TCP_CA_Disorder: duplicate ACKs or SACKs seen, not yet a loss.</summary>
    Disorder = 1,
    /// <summary>TCP_CA_CWR: cwnd reduced on a congestion signal (ECN, local congestion).</summary>
    Cwr = 2,
    /// <summary>TCP_CA_Recovery: fast retransmit / fast recovery.</summary>
    Recovery = 3,
    /// <summary>TCP_CA_Loss: a retransmission timeout.</summary>
    Loss = 4,
}

/// <summary>Events reported to the congestion control (enum tcp_ca_event).</summary>
public enum TcpCaEvent
{
    /// <summary>CA_EVENT_TX_START: the first transmission when nothing is in flight.</summary>
    TxStart,       // CA_EVENT_TX_START: first transmit when no packets in flight
    /// <summary>CA_EVENT_CWND_RESTART: the congestion window restarts after an idle period.</summary>
    CwndRestart,   // CA_EVENT_CWND_RESTART: congestion window restart after idle
    /// <summary>CA_EVENT_COMPLETE_CWR: congestion window reduction (recovery) is complete.</summary>
    CompleteCwr,   // CA_EVENT_COMPLETE_CWR: end of congestion recovery
    /// <summary>CA_EVENT_LOSS: a retransmission timeout (loss state entered).</summary>
    Loss,          // CA_EVENT_LOSS: loss timeout
    /// <summary>CA_EVENT_ECN_NO_CE: an ECT segment arrived without a CE mark.</summary>
    EcnNoCe,
    /// <summary>CA_EVENT_ECN_IS_CE: a segment arrived with a CE (congestion experienced) mark.</summary>
    EcnIsCe,
}

/// <summary>What an ACK acknowledged, for <see cref="TcpCongestionOps.PktsAcked"/> (struct ack_sample).</summary>
public readonly record struct AckSample(uint PktsAcked, int RttUs, uint InFlight);

/// <summary>
/// A congestion control algorithm: the pluggable part of TCP that sizes the congestion window.
/// Register new ones with <see cref="TcpCong.TcpRegisterCongestionControl"/>; a socket picks one by
/// name (TCP_CONGESTION) or gets the namespace default (net.ipv4.tcp_congestion_control).
/// <remarks>Mirrors include/net/tcp.h: struct tcp_congestion_ops.</remarks>
/// </summary>
public abstract class TcpCongestionOps
{
    /// <summary>The algorithm's name (at most 15 characters: TCP_CA_NAME_MAX).</summary>
    public abstract string Name { get; }

    /// <summary>Slow-start threshold after a loss (required).</summary>
    public abstract uint Ssthresh(TcpSock tp);

    /// <summary>Grow cwnd on an ACK of <paramref name="acked"/> packets (required unless cong_control).</summary>
    public abstract void CongAvoid(TcpSock tp, uint ack, uint acked);

    /// <summary>The cwnd to restore when a loss proved spurious.</summary>
    public abstract uint UndoCwnd(TcpSock tp);

    /// <summary>Per-socket setup (the icsk_ca_priv area is the algorithm's: <see cref="InetConnectionSock.CaPriv"/>).</summary>
    public virtual void Init(TcpSock tp) { }

    /// <summary>Per-socket cleanup.</summary>
    public virtual void Release(TcpSock tp) { }

    /// <summary>The congestion state changed (icsk_ca_state).</summary>
    public virtual void SetState(TcpSock tp, TcpCaState newState) { }

    /// <summary>Something happened (transmit start, restart after idle, loss...).</summary>
    public virtual void CwndEvent(TcpSock tp, TcpCaEvent ev) { }

    /// <summary>An ACK acknowledged new packets; the RTT sample is -1 when there was none.</summary>
    public virtual void PktsAcked(TcpSock tp, in AckSample sample) { }

    /// <summary>Module-style reference: the registry keeps the ops alive while registered.</summary>
    public override string ToString() => Name;
}

/// <summary>
/// The registry of congestion controls and the Reno helpers every algorithm builds on.
/// <remarks>Mirrors net/ipv4/tcp_cong.c.</remarks>
/// </summary>
public static class TcpCong
{
    /// <summary>TCP_CA_NAME_MAX - 1.</summary>
    public const int NameMax = 15;
    /// <summary>TCP_INFINITE_SSTHRESH.</summary>
    public const uint InfiniteSsthresh = 0x7fffffff;

    private static readonly object s_lock = new();
    private static readonly List<TcpCongestionOps> s_list = new() { TcpReno.Instance, TcpCubic.Instance };

    /// <summary>The names of the registered algorithms (net.ipv4.tcp_available_congestion_control).</summary>
    public static string[] Available
    {
        get { lock (s_lock) return s_list.Select(c => c.Name).ToArray(); }
    }

    /// <summary>Adds an algorithm: -EINVAL for an empty or too long name, -EEXIST if the name is taken.</summary>
    /// <remarks>Mirrors tcp_register_congestion_control() -> tcp_validate_congestion_control().</remarks>
    public static int TcpRegisterCongestionControl(TcpCongestionOps ca)
    {
        if (string.IsNullOrEmpty(ca.Name) || ca.Name.Length > NameMax) return -Errno.EINVAL;
        lock (s_lock)
        {
            foreach (var c in s_list)
                if (c.Name == ca.Name) return -Errno.EEXIST;
            s_list.Add(ca);
            return 0;
        }
    }

    /// <summary>Removes an algorithm. Sockets using it keep it (the kernel holds a module reference).</summary>
    /// <remarks>Mirrors tcp_unregister_congestion_control().</remarks>
    public static void TcpUnregisterCongestionControl(TcpCongestionOps ca)
    {
        lock (s_lock) s_list.Remove(ca);
    }

    /// <summary>The registered congestion control named <paramref name="name"/> ("cubic", "reno"), or null.</summary>
    /// <remarks>Mirrors tcp_ca_find().</remarks>
    public static TcpCongestionOps? TcpCaFind(string name)
    {
        lock (s_lock)
        {
            foreach (var c in s_list)
                if (c.Name == name) return c;
            return null;
        }
    }

    /// <summary>Sets the namespace's default for new sockets: -ENOENT for an unknown name.</summary>
    /// <remarks>Mirrors tcp_set_default_congestion_control().</remarks>
    public static int TcpSetDefaultCongestionControl(NetNamespace net, string name)
    {
        var ca = TcpCaFind(name);
        if (ca is null) return -Errno.ENOENT;
        lock (net.SyncRoot)
        {
            net.Ipv4.TcpCongestionControl = ca;
            net.Ipv4.Sysctl.TcpCongestionControl = name;
        }
        return 0;
    }

    /// <summary>The namespace's default algorithm.</summary>
    internal static TcpCongestionOps Default(NetNamespace net) =>
        net.Ipv4.TcpCongestionControl ??= TcpCaFind(net.Ipv4.Sysctl.TcpCongestionControl) ?? TcpReno.Instance;

    /// <summary>Gives a new socket the default algorithm (not initialised until the connection starts).</summary>
    /// <remarks>Mirrors tcp_assign_congestion_control().</remarks>
    internal static void TcpAssignCongestionControl(TcpSock tp) => tp.CaOps = Default(tp.Net);

    /// <remarks>Mirrors tcp_init_congestion_control().</remarks>
    internal static void TcpInitCongestionControl(TcpSock tp)
    {
        tp.PriorSsthresh = 0;
        tp.CaOps.Init(tp);
        tp.CaInitialized = true;
    }

    /// <remarks>Mirrors tcp_cleanup_congestion_control().</remarks>
    internal static void TcpCleanupCongestionControl(TcpSock tp)
    {
        if (tp.CaInitialized) tp.CaOps.Release(tp);
        tp.CaInitialized = false;
        tp.CaPriv = null;
    }

    /// <summary>TCP_CONGESTION: switch a socket's algorithm. -ENOENT for an unknown name.</summary>
    /// <remarks>Mirrors tcp_set_congestion_control() -> tcp_reinit_congestion_control().</remarks>
    public static int TcpSetCongestionControl(TcpSock tp, string name)
    {
        var ca = TcpCaFind(name);
        if (ca is null) return -Errno.ENOENT;
        if (ca == tp.CaOps && tp.CaInitialized) return 0;
        TcpCleanupCongestionControl(tp);
        tp.CaOps = ca;
        if (tp.State != TcpState.Close && tp.State != TcpState.Listen) TcpInitCongestionControl(tp);
        return 0;
    }

    /// <summary>Slow start: cwnd grows by one per packet acked, up to ssthresh; returns the acks left over.</summary>
    /// <remarks>Mirrors tcp_slow_start().</remarks>
    public static uint TcpSlowStart(TcpSock tp, uint acked)
    {
        uint cwnd = Math.Min(tp.SndCwnd + acked, tp.SndSsthresh);
        acked -= cwnd - tp.SndCwnd;
        tp.SndCwnd = Math.Min(cwnd, tp.SndCwndClamp);
        return acked;
    }

    /// <summary>Additive increase: one packet per window of <paramref name="w"/> acked packets.</summary>
    /// <remarks>Mirrors tcp_cong_avoid_ai().</remarks>
    public static void TcpCongAvoidAi(TcpSock tp, uint w, uint acked)
    {
        if (tp.SndCwndCnt >= w)
        {
            tp.SndCwndCnt = 0;
            tp.SndCwnd++;
        }
        tp.SndCwndCnt += acked;
        if (tp.SndCwndCnt >= w)
        {
            uint delta = tp.SndCwndCnt / w;
            tp.SndCwndCnt -= delta * w;
            tp.SndCwnd += delta;
        }
        tp.SndCwnd = Math.Min(tp.SndCwnd, tp.SndCwndClamp);
    }
}

/// <summary>
/// TCP Reno (RFC 5681): slow start, additive increase, halve on loss. Always available.
/// <remarks>Mirrors net/ipv4/tcp_cong.c: tcp_reno (tcp_reno_cong_avoid, tcp_reno_ssthresh, tcp_reno_undo_cwnd).</remarks>
/// </summary>
internal sealed class TcpReno : TcpCongestionOps
{
    public static readonly TcpReno Instance = new();
    public override string Name => "reno";

    /// <remarks>Mirrors tcp_reno_cong_avoid().</remarks>
    public override void CongAvoid(TcpSock tp, uint ack, uint acked)
    {
        if (!tp.TcpIsCwndLimited()) return;
        if (tp.TcpInSlowStart)
        {
            acked = TcpCong.TcpSlowStart(tp, acked);
            if (acked == 0) return;
        }
        TcpCong.TcpCongAvoidAi(tp, tp.SndCwnd, acked);
    }

    /// <remarks>Mirrors tcp_reno_ssthresh().</remarks>
    public override uint Ssthresh(TcpSock tp) => Math.Max(tp.SndCwnd >> 1, 2u);

    /// <remarks>Mirrors tcp_reno_undo_cwnd().</remarks>
    public override uint UndoCwnd(TcpSock tp) => Math.Max(tp.SndCwnd, tp.PriorCwnd);
}
