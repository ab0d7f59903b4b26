using NetStack.Core;
using NetStack.Net;
using NetStack.Uapi;

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
/// A delivery rate sample, taken on every ACK: how many packets the network delivered over how long
/// (the longer of the send and the ACK phase of the window the ACKed packet belonged to).
/// <remarks>Mirrors include/net/tcp.h: struct rate_sample (filled by net/ipv4/tcp_rate.c).</remarks>
/// </summary>
public struct RateSample
{
    /// <summary>prior_mstamp: the start of the sampling interval (usec); 0 when the ACK delivered nothing sampled.</summary>
    public long PriorMstamp;
    /// <summary>prior_delivered: tp.Delivered when the newest (S)ACKed packet was sent.</summary>
    public uint PriorDelivered;
    /// <summary>prior_delivered_ce: tp.DeliveredCe when the newest (S)ACKed packet was sent.</summary>
    public uint PriorDeliveredCe;
    /// <summary>delivered: packets delivered over the interval; -1 for an invalid sample.</summary>
    public int Delivered;
    /// <summary>delivered_ce: of those, packets acknowledged with an ECE echo.</summary>
    public int DeliveredCe;
    /// <summary>interval_us: the sampling interval (usec); -1 for an invalid sample.</summary>
    public long IntervalUs;
    /// <summary>snd_interval_us / rcv_interval_us: the send phase and the ACK phase of the interval.</summary>
    public uint SndIntervalUs, RcvIntervalUs;
    /// <summary>rtt_us: the RTT of the last (S)ACKed packet, -1 when none.</summary>
    public long RttUs;
    /// <summary>losses: packets newly marked lost by this ACK.</summary>
    public int Losses;
    /// <summary>acked_sacked: packets newly (S)ACKed by this ACK.</summary>
    public uint AckedSacked;
    /// <summary>prior_in_flight: packets in flight before this ACK.</summary>
    public uint PriorInFlight;
    /// <summary>last_end_seq: end_seq of the newest (S)ACKed packet.</summary>
    public uint LastEndSeq;
    /// <summary>is_app_limited: the sample may be limited by the application, not the network.</summary>
    public bool IsAppLimited;
    /// <summary>is_retrans: the sample's packet was a retransmission.</summary>
    public bool IsRetrans;
    /// <summary>is_ack_delayed: the ACK is probably a delayed one.</summary>
    public bool IsAckDelayed;
}

/// <summary>What a congestion control declares of itself (TCP_CONG_* flags of struct tcp_congestion_ops).</summary>
[Flags]
public enum TcpCongFlags
{
    /// <summary>No flag.</summary>
    None = 0,
    /// <summary>TCP_CONG_NON_RESTRICTED: unprivileged users may select it.</summary>
    NonRestricted = 0x1,
    /// <summary>TCP_CONG_NEEDS_ECN: the algorithm requests ECN whatever net.ipv4.tcp_ecn says, and marks ECT on every packet.</summary>
    NeedsEcn = 0x2,
}

/// <summary>What the ACK being processed was, for <see cref="TcpCongestionOps.InAckEvent"/> (enum tcp_ca_ack_event_flags).</summary>
[Flags]
public enum TcpCaAckEventFlags : uint
{
    /// <summary>No flag.</summary>
    None = 0,
    /// <summary>CA_ACK_SLOWPATH: the ACK took the slow path.</summary>
    Slowpath = 1 << 0,
    /// <summary>CA_ACK_WIN_UPDATE: the ACK updated the window.</summary>
    WinUpdate = 1 << 1,
    /// <summary>CA_ACK_ECE: the ACK carried an ECN echo.</summary>
    Ece = 1 << 2,
}

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

    /// <summary>TCP_CONG_* flags (TCP_CONG_NEEDS_ECN for DCTCP).</summary>
    public virtual TcpCongFlags Flags => TcpCongFlags.None;

    /// <summary>Called on every ACK after the acknowledged data left the retransmit queue (in_ack_event).</summary>
    public virtual void InAckEvent(TcpSock tp, TcpCaAckEventFlags flags) { }

    /// <summary>
    /// Sets cwnd and the pacing rate on every ACK from the rate sample (cong_control). The default is
    /// what Linux does for an algorithm without cong_control: proportional rate reduction while cwnd
    /// is being reduced, else <see cref="CongAvoid"/> when cwnd may grow; then tcp_update_pacing_rate().
    /// Model-based algorithms (BBR) override it and then own cwnd and pacing.
    /// </summary>
    /// <param name="tp">The socket.</param>
    /// <param name="ack">The ACK's acknowledgment number.</param>
    /// <param name="flag">tcp_ack()'s FLAG_* bits for this ACK.</param>
    /// <param name="rs">The rate sample of this ACK.</param>
    /// <remarks>Mirrors tcp_cong_control() (net/ipv4/tcp_input.c).</remarks>
    public virtual void CongControl(TcpSock tp, uint ack, int flag, in RateSample rs) =>
        TcpInput.TcpCongControlDefault(tp, ack, rs.AckedSacked, flag);

    /// <summary>Whether the algorithm overrides <see cref="CongControl"/> (a cong_control hook in Linux).</summary>
    internal bool HasCongControl => _hasCongControl ??=
        GetType().GetMethod(nameof(CongControl), [typeof(TcpSock), typeof(uint), typeof(int), typeof(RateSample).MakeByRefType()])!.DeclaringType != typeof(TcpCongestionOps);
    private bool? _hasCongControl;

    /// <summary>
    /// Reports the algorithm's own state (get_info): fills the member of <paramref name="info"/> it
    /// owns when <paramref name="ext"/> asks for its inet_diag attribute, names that attribute in
    /// <paramref name="attr"/>, and returns the member's size; 0 when it reports nothing. inet_diag
    /// passes the request's idiag_ext (`ss -i` sets INET_DIAG_VEGASINFO, which BBR and DCTCP answer
    /// too), getsockopt(TCP_CC_INFO) passes ~0. The default, an algorithm without get_info (Reno,
    /// CUBIC), reports nothing. Called under the stack lock, never per packet; must not allocate.
    /// </summary>
    /// <param name="tp">The socket; its algorithm may not be initialised yet (icsk_ca_priv still zero).</param>
    /// <param name="ext">The INET_DIAG_* bits asked for (1 &lt;&lt; (attribute - 1)).</param>
    /// <param name="attr">The attribute the filled member is (INET_DIAG_BBRINFO, INET_DIAG_DCTCPINFO...).</param>
    /// <param name="info">The union to fill.</param>
    /// <returns>The size of the member filled, 0 for none.</returns>
    /// <remarks>Mirrors include/net/tcp.h: struct tcp_congestion_ops.get_info.</remarks>
    public virtual int GetInfo(TcpSock tp, uint ext, out int attr, ref TcpCcInfo info)
    {
        attr = 0;
        return 0;
    }

    /// <summary>Send buffer to provision, in multiples of cwnd (sndbuf_expand; 2 by default, BBR 3).</summary>
    public virtual uint SndbufExpand(TcpSock tp) => 2;

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
    private static readonly List<TcpCongestionOps> s_list = new() { TcpReno.Instance, TcpCubic.Instance, TcpBbr.Instance, TcpDctcp.Instance };

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
    /// <remarks>Mirrors tcp_assign_congestion_control(): an algorithm that needs ECN marks the socket ECT.</remarks>
    internal static void TcpAssignCongestionControl(TcpSock tp)
    {
        tp.CaOps = Default(tp.Net);
        if (TcpCaNeedsEcn(tp)) InetEcn.InetEcnXmit(tp);
        else InetEcn.InetEcnDontxmit(tp);
    }

    /// <summary>
    /// A listener's child (a copy of the listener) keeps the algorithm the application set on the
    /// listener with TCP_CONGESTION; otherwise it gets the namespace's default of now, not the one
    /// the listener was created with. (No route carries a congestion control here: RTAX_CC_ALGO.)
    /// </summary>
    /// <remarks>Mirrors tcp_ca_openreq_child().</remarks>
    internal static void TcpCaOpenreqChild(TcpSock tp)
    {
        if (!tp.CaSetsockopt) TcpAssignCongestionControl(tp);
        TcpInput.TcpSetCaState(tp, TcpCaState.Open);
    }

    /// <remarks>Mirrors tcp_ca_needs_ecn().</remarks>
    internal static bool TcpCaNeedsEcn(TcpSock tp) => (tp.CaOps.Flags & TcpCongFlags.NeedsEcn) != 0;

    /// <remarks>Mirrors tcp_init_congestion_control().</remarks>
    internal static void TcpInitCongestionControl(TcpSock tp)
    {
        tp.PriorSsthresh = 0;
        tp.CaOps.Init(tp);
        if (TcpCaNeedsEcn(tp)) InetEcn.InetEcnXmit(tp);
        else InetEcn.InetEcnDontxmit(tp);
        tp.CaInitialized = true;
    }

    /// <remarks>Mirrors tcp_cleanup_congestion_control().</remarks>
    internal static void TcpCleanupCongestionControl(TcpSock tp)
    {
        if (tp.CaInitialized) tp.CaOps.Release(tp);
        tp.CaInitialized = false;
        // icsk_ca_priv is memory inside the sock in Linux: the object stays with the sock (and
        // with it in the TCP slab cache) for the next algorithm state of the same kind.
        if (tp.CaPriv is not null) tp.CaPrivArea = tp.CaPriv;
        tp.CaPriv = null;
    }

    /// <summary>
    /// The congestion control's private state for a connection starting it: the object the sock
    /// kept from its last one when it is of this kind, zeroed as a new one is, else a new one.
    /// </summary>
    /// <remarks>Mirrors the memset(icsk->icsk_ca_priv, 0, ...) of tcp_assign_congestion_control() /
    /// tcp_reinit_congestion_control(): the private area is inside the sock and starts zeroed.</remarks>
    internal static T CaPrivAlloc<T>(TcpSock tp) where T : class, new()
    {
        if (tp.CaPrivArea is T kept && CaPrivZero<T>.Clear is { } clear)
        {
            tp.CaPrivArea = null;
            clear(kept);
            return kept;
        }
        return new T();
    }

    /// <summary>The zeroing of one kind of private state (null if it cannot be cleared field by field: then never reused).</summary>
    private static class CaPrivZero<T> where T : class, new()
    {
        internal static readonly Action<T>? Clear = Compile();

        private static Action<T>? Compile()
        {
            try { return SkProtClear<T>.Compile(static () => new T()); }
            catch (InvalidOperationException) { return null; }
        }
    }

    /// <summary>TCP_CONGESTION: switch a socket's algorithm. -ENOENT for an unknown name.</summary>
    /// <remarks>Mirrors tcp_set_congestion_control() -> tcp_reinit_congestion_control().</remarks>
    public static int TcpSetCongestionControl(TcpSock tp, string name)
    {
        var ca = TcpCaFind(name);
        if (ca is null) return -Errno.ENOENT;
        if (ca == tp.CaOps && tp.CaInitialized)
        {
            tp.CaSetsockopt = true;   // no change, but the choice is the application's from now on
            return 0;
        }
        TcpCleanupCongestionControl(tp);
        tp.CaOps = ca;
        tp.CaSetsockopt = true;
        if (tp.State != TcpState.Close && tp.State != TcpState.Listen) TcpInitCongestionControl(tp);
        else if (TcpCaNeedsEcn(tp)) InetEcn.InetEcnXmit(tp); // tcp_assign_congestion_control()'s part for a socket not yet connected
        else InetEcn.InetEcnDontxmit(tp);
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
