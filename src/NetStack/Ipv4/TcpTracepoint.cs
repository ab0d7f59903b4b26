using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using NetStack.Core;
using NetStack.Wire;

namespace NetStack.Ipv4;

/// <summary>
/// One TCP trace record: the fields of the kernel's <c>tcp:tcp_probe</c>, <c>tcp:tcp_retransmit_skb</c>,
/// <c>tcp:tcp_cong_state_set</c> and <c>sock:inet_sock_set_state</c> events in one fixed layout, plus
/// the state of the connection that <c>ss -ti</c> shows, so that every record of a trace is a full
/// sample of the connection. Blittable: the trace rings hold it by value. Times of the namespace
/// clock in ns; RTTs in µs; windows and rates in bytes (per second); cwnd and ssthresh in segments.
/// </summary>
/// <remarks>Mirrors include/trace/events/tcp.h and sock.h: TP_STRUCT__entry of those events.</remarks>
[StructLayout(LayoutKind.Sequential)]
internal struct TcpTraceEntry
{
    public long TimeNs;
    public ulong SockCookie;
    public ulong BytesAcked, BytesReceived, DeliveryRate, PacingRate;
    public uint Saddr, Daddr;
    public ushort Sport, Dport;
    public byte Event, State, OldState, CaState, OldCaState;
    public uint SndUna, SndNxt, RcvNxt, SndCwnd, Ssthresh, SrttUs, RttvarUs, RtoUs, Mss;
    public uint PacketsOut, PacketsInFlight, SackedOut, LostOut, RetransOut, TotalRetrans, Delivered;
    public uint SndWnd, RcvWnd, Seq, DataLen;
}

/// <summary>The events a <see cref="TcpTraceEntry"/> records (its <c>Event</c> byte); the public enum mirrors these values.</summary>
internal static class TcpTraceEvents
{
    /// <summary>tcp:tcp_probe: an ACK was processed (tcp_ack()).</summary>
    public const byte Probe = 1;
    /// <summary>A segment left tcp_transmit_skb() (not a retransmission: those are <see cref="Retransmit"/>).</summary>
    public const byte Transmit = 2;
    /// <summary>tcp:tcp_retransmit_skb: a segment was retransmitted (__tcp_retransmit_skb()).</summary>
    public const byte Retransmit = 3;
    /// <summary>sock:inet_sock_set_state: sk_state changed (tcp_set_state(), inet_sk_set_state()).</summary>
    public const byte SetState = 4;
    /// <summary>tcp:tcp_cong_state_set: icsk_ca_state was set (tcp_set_ca_state()).</summary>
    public const byte CongStateSet = 5;

    /// <summary>The events' names, as the kernel names the tracepoints (index: the event byte).</summary>
    public static readonly string[] Names = ["", "tcp_probe", "tcp_transmit_skb", "tcp_retransmit_skb", "inet_sock_set_state", "tcp_cong_state_set"];
}

/// <summary>
/// The fields of a <see cref="TcpTraceEntry"/> in the order of the CSV columns (stable: tools read
/// these files), with their names and kinds: what the formatter, the parser and the filter share.
/// </summary>
internal enum TcpTraceField : byte
{
    TimeNs, Event, Saddr, Sport, Daddr, Dport, SockCookie, State, OldState, CaState, OldCaState,
    SndUna, SndNxt, RcvNxt, SndCwnd, Ssthresh, Srtt, Rttvar, Rto, Mss,
    PacketsOut, PacketsInFlight, SackedOut, LostOut, RetransOut, TotalRetrans, Delivered,
    BytesAcked, BytesReceived, DeliveryRate, PacingRate, SndWnd, RcvWnd, Seq, DataLen,
}

/// <summary>How a field's value is written: a number, a dotted quad, a state name, a CA state name or an event name.</summary>
internal enum TcpTraceFieldKind : byte { Number, Address, State, CaState, Event }

/// <summary>Names, kinds and values of the trace fields.</summary>
internal static class TcpTraceFields
{
    /// <summary>The number of fields (CSV columns).</summary>
    public const int Count = (int)TcpTraceField.DataLen + 1;

    /// <summary>The column names: Linux's tcp_probe / inet_sock_set_state names where they exist, else the tcp_sock or tcp_info name.</summary>
    public static readonly string[] Names =
    [
        "time_ns", "event", "saddr", "sport", "daddr", "dport", "sock_cookie", "state", "oldstate", "ca_state", "old_ca_state",
        "snd_una", "snd_nxt", "rcv_nxt", "snd_cwnd", "ssthresh", "srtt", "rttvar", "rto", "mss",
        "packets_out", "packets_in_flight", "sacked_out", "lost_out", "retrans_out", "total_retrans", "delivered",
        "bytes_acked", "bytes_received", "delivery_rate", "pacing_rate", "snd_wnd", "rcv_wnd", "seq", "data_len",
    ];

    /// <summary>The kernel's names of the TCP states (show_tcp_state_name()), by state number.</summary>
    public static readonly string[] StateNames =
    [
        "0", "TCP_ESTABLISHED", "TCP_SYN_SENT", "TCP_SYN_RECV", "TCP_FIN_WAIT1", "TCP_FIN_WAIT2", "TCP_TIME_WAIT", "TCP_CLOSE",
        "TCP_CLOSE_WAIT", "TCP_LAST_ACK", "TCP_LISTEN", "TCP_CLOSING", "TCP_NEW_SYN_RECV", "TCP_BOUND_INACTIVE",
    ];

    /// <summary>The kernel's names of the congestion states (enum tcp_ca_state), by number.</summary>
    public static readonly string[] CaStateNames = ["TCP_CA_Open", "TCP_CA_Disorder", "TCP_CA_CWR", "TCP_CA_Recovery", "TCP_CA_Loss"];

    public static TcpTraceFieldKind Kind(TcpTraceField f) => f switch
    {
        TcpTraceField.Event => TcpTraceFieldKind.Event,
        TcpTraceField.Saddr or TcpTraceField.Daddr => TcpTraceFieldKind.Address,
        TcpTraceField.State or TcpTraceField.OldState => TcpTraceFieldKind.State,
        TcpTraceField.CaState or TcpTraceField.OldCaState => TcpTraceFieldKind.CaState,
        _ => TcpTraceFieldKind.Number,
    };

    /// <summary>A field's value as a number (addresses in host order, states and events by number).</summary>
    public static ulong Get(in TcpTraceEntry e, TcpTraceField f) => f switch
    {
        TcpTraceField.TimeNs => (ulong)e.TimeNs,
        TcpTraceField.Event => e.Event,
        TcpTraceField.Saddr => e.Saddr,
        TcpTraceField.Sport => e.Sport,
        TcpTraceField.Daddr => e.Daddr,
        TcpTraceField.Dport => e.Dport,
        TcpTraceField.SockCookie => e.SockCookie,
        TcpTraceField.State => e.State,
        TcpTraceField.OldState => e.OldState,
        TcpTraceField.CaState => e.CaState,
        TcpTraceField.OldCaState => e.OldCaState,
        TcpTraceField.SndUna => e.SndUna,
        TcpTraceField.SndNxt => e.SndNxt,
        TcpTraceField.RcvNxt => e.RcvNxt,
        TcpTraceField.SndCwnd => e.SndCwnd,
        TcpTraceField.Ssthresh => e.Ssthresh,
        TcpTraceField.Srtt => e.SrttUs,
        TcpTraceField.Rttvar => e.RttvarUs,
        TcpTraceField.Rto => e.RtoUs,
        TcpTraceField.Mss => e.Mss,
        TcpTraceField.PacketsOut => e.PacketsOut,
        TcpTraceField.PacketsInFlight => e.PacketsInFlight,
        TcpTraceField.SackedOut => e.SackedOut,
        TcpTraceField.LostOut => e.LostOut,
        TcpTraceField.RetransOut => e.RetransOut,
        TcpTraceField.TotalRetrans => e.TotalRetrans,
        TcpTraceField.Delivered => e.Delivered,
        TcpTraceField.BytesAcked => e.BytesAcked,
        TcpTraceField.BytesReceived => e.BytesReceived,
        TcpTraceField.DeliveryRate => e.DeliveryRate,
        TcpTraceField.PacingRate => e.PacingRate,
        TcpTraceField.SndWnd => e.SndWnd,
        TcpTraceField.RcvWnd => e.RcvWnd,
        TcpTraceField.Seq => e.Seq,
        TcpTraceField.DataLen => e.DataLen,
        _ => 0,
    };

    /// <summary>Sets a field from a number (values wider than the field are truncated: the parser checks ranges first).</summary>
    public static void Set(ref TcpTraceEntry e, TcpTraceField f, ulong v)
    {
        switch (f)
        {
            case TcpTraceField.TimeNs: e.TimeNs = (long)v; break;
            case TcpTraceField.Event: e.Event = (byte)v; break;
            case TcpTraceField.Saddr: e.Saddr = (uint)v; break;
            case TcpTraceField.Sport: e.Sport = (ushort)v; break;
            case TcpTraceField.Daddr: e.Daddr = (uint)v; break;
            case TcpTraceField.Dport: e.Dport = (ushort)v; break;
            case TcpTraceField.SockCookie: e.SockCookie = v; break;
            case TcpTraceField.State: e.State = (byte)v; break;
            case TcpTraceField.OldState: e.OldState = (byte)v; break;
            case TcpTraceField.CaState: e.CaState = (byte)v; break;
            case TcpTraceField.OldCaState: e.OldCaState = (byte)v; break;
            case TcpTraceField.SndUna: e.SndUna = (uint)v; break;
            case TcpTraceField.SndNxt: e.SndNxt = (uint)v; break;
            case TcpTraceField.RcvNxt: e.RcvNxt = (uint)v; break;
            case TcpTraceField.SndCwnd: e.SndCwnd = (uint)v; break;
            case TcpTraceField.Ssthresh: e.Ssthresh = (uint)v; break;
            case TcpTraceField.Srtt: e.SrttUs = (uint)v; break;
            case TcpTraceField.Rttvar: e.RttvarUs = (uint)v; break;
            case TcpTraceField.Rto: e.RtoUs = (uint)v; break;
            case TcpTraceField.Mss: e.Mss = (uint)v; break;
            case TcpTraceField.PacketsOut: e.PacketsOut = (uint)v; break;
            case TcpTraceField.PacketsInFlight: e.PacketsInFlight = (uint)v; break;
            case TcpTraceField.SackedOut: e.SackedOut = (uint)v; break;
            case TcpTraceField.LostOut: e.LostOut = (uint)v; break;
            case TcpTraceField.RetransOut: e.RetransOut = (uint)v; break;
            case TcpTraceField.TotalRetrans: e.TotalRetrans = (uint)v; break;
            case TcpTraceField.Delivered: e.Delivered = (uint)v; break;
            case TcpTraceField.BytesAcked: e.BytesAcked = v; break;
            case TcpTraceField.BytesReceived: e.BytesReceived = v; break;
            case TcpTraceField.DeliveryRate: e.DeliveryRate = v; break;
            case TcpTraceField.PacingRate: e.PacingRate = v; break;
            case TcpTraceField.SndWnd: e.SndWnd = (uint)v; break;
            case TcpTraceField.RcvWnd: e.RcvWnd = (uint)v; break;
            case TcpTraceField.Seq: e.Seq = (uint)v; break;
            case TcpTraceField.DataLen: e.DataLen = (uint)v; break;
        }
    }

    /// <summary>The largest value a field holds.</summary>
    public static ulong Max(TcpTraceField f) => f switch
    {
        TcpTraceField.TimeNs => long.MaxValue,
        TcpTraceField.Sport or TcpTraceField.Dport => ushort.MaxValue,
        TcpTraceField.Event => (ulong)TcpTraceEvents.Names.Length - 1,
        TcpTraceField.State or TcpTraceField.OldState => (ulong)StateNames.Length - 1,
        TcpTraceField.CaState or TcpTraceField.OldCaState => (ulong)CaStateNames.Length - 1,
        TcpTraceField.SockCookie or TcpTraceField.BytesAcked or TcpTraceField.BytesReceived or
            TcpTraceField.DeliveryRate or TcpTraceField.PacingRate => ulong.MaxValue,
        _ => uint.MaxValue,
    };

    /// <summary>The field named <paramref name="name"/> (a column name), or false.</summary>
    public static bool TryLookup(ReadOnlySpan<char> name, out TcpTraceField field)
    {
        for (int i = 0; i < Names.Length; i++)
        {
            if (name.Equals(Names[i], StringComparison.Ordinal))
            {
                field = (TcpTraceField)i;
                return true;
            }
        }
        field = default;
        return false;
    }

    /// <summary>
    /// A symbolic value of a field of kind <paramref name="kind"/>: a state (TCP_ESTABLISHED or
    /// ESTABLISHED, any case), a CA state (TCP_CA_Loss or Loss) or an event name (tcp_probe).
    /// </summary>
    public static bool TryLookupSymbol(TcpTraceFieldKind kind, string s, out ulong value)
    {
        value = 0;
        var names = kind switch
        {
            TcpTraceFieldKind.State => StateNames,
            TcpTraceFieldKind.CaState => CaStateNames,
            TcpTraceFieldKind.Event => TcpTraceEvents.Names,
            _ => null,
        };
        if (names is null) return false;
        string prefix = kind switch { TcpTraceFieldKind.State => "TCP_", TcpTraceFieldKind.CaState => "TCP_CA_", _ => "" };
        for (int i = 0; i < names.Length; i++)
        {
            if (names[i].Length == 0 || !names[i].StartsWith(prefix, StringComparison.Ordinal)) continue;
            if (s.Equals(names[i], StringComparison.OrdinalIgnoreCase) || s.Equals(names[i][prefix.Length..], StringComparison.OrdinalIgnoreCase))
            {
                value = (ulong)i;
                return true;
            }
        }
        return false;
    }
}

/// <summary>
/// One reader's trace: its ring and its filter (a perf event's buffer and its ftrace-style filter).
/// Records are written under the stack lock by <see cref="TcpTracepoint"/>'s trace points; the reader
/// takes them out through the public API (NetStack.Api.TcpTrace) from any thread.
/// </summary>
internal sealed class TcpTraceSession(int capacity, TcpTraceFilterProgram? filter)
{
    public readonly TraceRing<TcpTraceEntry> Ring = new(capacity);
    public readonly TcpTraceFilterProgram? Filter = filter;

    /// <summary>Filters the record and writes it to the ring (or counts it lost). Under the stack lock; allocation-free.</summary>
    public void Write(in TcpTraceEntry e)
    {
        if (Filter is null || Filter.Match(in e)) Ring.TryWrite(in e);
    }
}

/// <summary>
/// The TCP trace points of one namespace: the "static key" <see cref="Enabled"/> that every trace
/// point tests (one predictable branch on a per-namespace field when tracing is off) and the
/// sessions registered on them. Changed under the stack lock only; the sessions array is replaced,
/// never changed in place.
/// </summary>
/// <remarks>Mirrors include/linux/tracepoint-defs.h: struct tracepoint (key, funcs) and
/// kernel/tracepoint.c: tracepoint_probe_register() / tracepoint_probe_unregister() (the key is
/// enabled with the first probe and disabled with the last). Per namespace here: two namespaces are
/// two hosts, and tracing one does not slow the other.</remarks>
internal sealed class TcpTracepoints
{
    /// <summary>Any session registered: the trace points record.</summary>
    public bool Enabled;
    /// <summary>The registered sessions (copy on write).</summary>
    public TcpTraceSession[] Sessions = [];

    /// <summary>Adds a session; the stack lock is held.</summary>
    /// <remarks>Mirrors tracepoint_probe_register().</remarks>
    public void ProbeRegister(TcpTraceSession s)
    {
        Sessions = [.. Sessions, s];
        Enabled = true;
    }

    /// <summary>Removes a session (false if it was not registered); the stack lock is held.</summary>
    /// <remarks>Mirrors tracepoint_probe_unregister().</remarks>
    public bool ProbeUnregister(TcpTraceSession s)
    {
        int i = Array.IndexOf(Sessions, s);
        if (i < 0) return false;
        Sessions = [.. Sessions.AsSpan(0, i), .. Sessions.AsSpan(i + 1)];
        Enabled = Sessions.Length > 0;
        return true;
    }
}

/// <summary>The TCP trace points' members on <see cref="NetNamespace"/>.</summary>
internal static class NetNamespaceTcpTrace
{
    extension(NetNamespace net)
    {
        /// <summary>This namespace's TCP trace points (a net_generic slot of <see cref="TcpTracepoint.TcpTraceNetOps"/>).</summary>
        internal TcpTracepoints TcpTracepoints => net.NetGeneric<TcpTracepoints>(TcpTracepoint.TcpTraceNetOps.Instance.Id);
    }
}

/// <summary>
/// The TCP trace points, each called where the kernel calls its tracepoint:
/// <list type="bullet">
/// <item><see cref="TraceTcpProbe"/> (tcp:tcp_probe) where tcp_ack() has processed an ACK (the kernel fires
/// it at the entry of tcp_rcv_established(), before the ACK's effect and only in ESTABLISHED; here after
/// it, so that a record shows the cwnd this ACK produced, and in every state that processes ACKs);</item>
/// <item><see cref="TraceTcpTransmitSkb"/> in __tcp_transmit_skb() for each segment that counts in OutSegs
/// (new data, SYN, FIN, pure ACKs, probes: the kernel has no tracepoint here);</item>
/// <item><see cref="TraceTcpRetransmitSkb"/> (tcp:tcp_retransmit_skb) where __tcp_retransmit_skb() has sent
/// a segment again (RTO, fast retransmit, loss probe);</item>
/// <item><see cref="TraceInetSockSetState"/> (sock:inet_sock_set_state) in tcp_set_state() and
/// inet_sk_set_state();</item>
/// <item><see cref="TraceTcpCongStateSet"/> (tcp:tcp_cong_state_set) in tcp_set_ca_state().</item>
/// </list>
/// Each is an inlined test of the namespace's <see cref="TcpTracepoints.Enabled"/> in front of an
/// out-of-line body that fills one <see cref="TcpTraceEntry"/> on the stack and writes it to every
/// session whose filter takes it: nothing is allocated.
/// </summary>
/// <remarks>Mirrors include/trace/events/tcp.h and sock.h (the events) and the trace_*() calls in
/// net/ipv4/tcp_input.c, tcp_output.c, tcp.c, tcp_cong.c and af_inet.c.</remarks>
internal static class TcpTracepoint
{
    /// <summary>The per-namespace state of the trace points (registered by inet_init).</summary>
    internal sealed class TcpTraceNetOps : PernetOperations
    {
        public static readonly TcpTraceNetOps Instance = new();
        private TcpTraceNetOps() { }
        public override string Name => "tcp_trace";
        public override void Init(NetNamespace net) => net.NetAssignGeneric(Id, new TcpTracepoints());
    }

    /// <summary>tcp:tcp_probe: <paramref name="skb"/>'s ACK was processed.</summary>
    /// <remarks>Mirrors trace_tcp_probe(sk, skb).</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void TraceTcpProbe(TcpSock tp, SkBuff skb)
    {
        if (tp.Net.TcpTracepoints.Enabled) Probe(tp, skb);
    }

    /// <summary>A segment leaves __tcp_transmit_skb() for the first time.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void TraceTcpTransmitSkb(TcpSock tp, uint seq, int dataLen)
    {
        if (tp.Net.TcpTracepoints.Enabled) Emit(tp, TcpTraceEvents.Transmit, tp.State, tp.CaState, seq, (uint)dataLen);
    }

    /// <summary>tcp:tcp_retransmit_skb: <paramref name="skb"/> was sent again.</summary>
    /// <remarks>Mirrors trace_tcp_retransmit_skb(sk, skb).</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void TraceTcpRetransmitSkb(TcpSock tp, SkBuff skb)
    {
        if (tp.Net.TcpTracepoints.Enabled) Emit(tp, TcpTraceEvents.Retransmit, tp.State, tp.CaState, skb.Cb.Seq, (uint)skb.Len);
    }

    /// <summary>sock:inet_sock_set_state: sk_state changed from <paramref name="oldState"/> to the sock's state.</summary>
    /// <remarks>Mirrors trace_inet_sock_set_state(sk, oldstate, newstate).</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void TraceInetSockSetState(TcpSock tp, TcpState oldState)
    {
        if (tp.Net.TcpTracepoints.Enabled) Emit(tp, TcpTraceEvents.SetState, oldState, tp.CaState, 0, 0);
    }

    /// <summary>tcp:tcp_cong_state_set: icsk_ca_state was set (from <paramref name="oldCaState"/>; the kernel fires it also when the state does not change).</summary>
    /// <remarks>Mirrors trace_tcp_cong_state_set(sk, ca_state).</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void TraceTcpCongStateSet(TcpSock tp, TcpCaState oldCaState)
    {
        if (tp.Net.TcpTracepoints.Enabled) Emit(tp, TcpTraceEvents.CongStateSet, tp.State, oldCaState, 0, 0);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Probe(TcpSock tp, SkBuff skb)
    {
        ref var cb = ref skb.Cb;
        // tcp_probe's data_len: the segment's payload (its sequence space less SYN and FIN).
        uint len = unchecked(cb.EndSeq - cb.Seq);
        if ((cb.TcpFlags & TcpFlags.SYN) != 0) len--;
        if ((cb.TcpFlags & TcpFlags.FIN) != 0) len--;
        Emit(tp, TcpTraceEvents.Probe, tp.State, tp.CaState, cb.Seq, len);
    }

    /// <summary>Fills one record from the connection and writes it to every session. Under the stack lock.</summary>
    /// <remarks>Mirrors TP_fast_assign() of the events, and perf_trace_##call (one buffer per attached event).</remarks>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Emit(TcpSock tp, byte ev, TcpState oldState, TcpCaState oldCaState, uint seq, uint dataLen)
    {
        var net = tp.Net;
        TcpTraceEntry e;
        e.TimeNs = net.NowNs;
        e.SockCookie = SockDiag.SockGenCookie(net, tp);
        e.Event = ev;
        e.Saddr = tp.InetSaddr;
        e.Daddr = tp.InetDaddr;
        e.Sport = tp.InetSport;
        e.Dport = tp.InetDport;
        e.State = (byte)tp.State;
        e.OldState = (byte)oldState;
        e.CaState = (byte)tp.CaState;
        e.OldCaState = (byte)oldCaState;
        e.SndUna = tp.SndUna;
        e.SndNxt = tp.SndNxt;
        e.RcvNxt = tp.RcvNxt;
        e.SndCwnd = tp.SndCwnd;
        e.Ssthresh = tp.SndSsthresh;
        e.SrttUs = tp.SrttUs >> 3;
        e.RttvarUs = tp.MdevUs >> 2;
        e.RtoUs = (uint)Math.Min(tp.IcskRto / 1000, uint.MaxValue);
        e.Mss = tp.MssCache;
        e.PacketsOut = tp.PacketsOut;
        e.PacketsInFlight = tp.PacketsInFlight;
        e.SackedOut = tp.SackedOut;
        e.LostOut = tp.LostOut;
        e.RetransOut = tp.RetransOut;
        e.TotalRetrans = tp.TotalRetrans;
        e.Delivered = tp.Delivered;
        e.BytesAcked = tp.BytesAcked;
        e.BytesReceived = tp.BytesReceived;
        // tcp_compute_delivery_rate(), as tcpi_delivery_rate: the last rate sample worth reporting (tcp_rate.c).
        e.DeliveryRate = tp.RateDelivered != 0 && tp.RateIntervalUs != 0
            ? (ulong)tp.RateDelivered * tp.MssCache * 1_000_000UL / tp.RateIntervalUs : 0;
        e.PacingRate = tp.PacingRate; // sk_pacing_rate (tcp_update_pacing_rate)
        e.SndWnd = tp.SndWnd;
        e.RcvWnd = tp.RcvWnd;
        e.Seq = seq;
        e.DataLen = dataLen;
        var sessions = net.TcpTracepoints.Sessions;
        for (int i = 0; i < sessions.Length; i++) sessions[i].Write(in e);
    }
}
