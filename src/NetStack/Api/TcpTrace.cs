using System.Runtime.InteropServices;
using NetStack.Core;
using NetStack.Ipv4;

namespace NetStack.Api;

/// <summary>What a <see cref="TcpTraceRecord"/> records: the kernel's TCP tracepoints, one value each.</summary>
public enum TcpTraceEvent : byte
{
    /// <summary><c>tcp_probe</c>: an ACK was processed (tcp_ack()); the record shows the connection after it.</summary>
    Probe = TcpTraceEvents.Probe,
    /// <summary><c>tcp_transmit_skb</c>: a segment was sent for the first time (data, SYN, FIN, a pure ACK, a window probe).</summary>
    Transmit = TcpTraceEvents.Transmit,
    /// <summary><c>tcp_retransmit_skb</c>: a segment was sent again (fast retransmit, RTO, loss probe).</summary>
    Retransmit = TcpTraceEvents.Retransmit,
    /// <summary><c>inet_sock_set_state</c>: the socket's state changed (<see cref="TcpTraceRecord.OldState"/> to <see cref="TcpTraceRecord.State"/>).</summary>
    SetState = TcpTraceEvents.SetState,
    /// <summary><c>tcp_cong_state_set</c>: the congestion state was set (<see cref="TcpTraceRecord.OldCaState"/> to <see cref="TcpTraceRecord.CaState"/>; also when they are equal, as in Linux).</summary>
    CongestionState = TcpTraceEvents.CongStateSet,
}

/// <summary>
/// A trace of what the TCP connections of one stack do, as Linux's <c>tcp_probe</c>,
/// <c>tcp:tcp_retransmit_skb</c>, <c>tcp:tcp_cong_state_set</c> and <c>sock:inet_sock_set_state</c>
/// tracepoints show it: a <see cref="TcpTraceRecord"/> per ACK processed, segment sent, segment
/// retransmitted, state change and congestion-state change, each a full sample of the connection
/// (cwnd, ssthresh, RTT, RTO, in flight, windows, ...) at the namespace clock's time.
/// <code>
/// using var trace = TcpTrace.Enable(net, capacity: 65536, TcpTraceFilter.Port(80));
/// var records = new TcpTraceRecord[1024];
/// int n = trace.Read(records);          // from any thread; 0 when nothing is waiting
/// foreach (var r in records.AsSpan(0, n)) Console.WriteLine($"{r.TimeNs} {r.Event} cwnd {r.SendCwnd}");
/// </code>
/// <para>
/// <b>Cost.</b> With no trace enabled, each trace point is one predictable branch on a field of the
/// namespace. An enabled trace owns a fixed ring of records allocated by <see cref="Enable"/>; the
/// stack writes a record into it under the stack lock without allocating, and a reader copies
/// records out with <see cref="Read"/> without taking the stack lock.
/// </para>
/// <para>
/// <b>A slow reader</b> never slows the stack: when the ring is full, new records are dropped and
/// counted in <see cref="Dropped"/>, as perf's ring buffer does (<c>PERF_RECORD_LOST</c>), rather than
/// overwriting records not yet read, so what is read is a gap-free prefix of what happened.
/// </para>
/// <para>
/// Several traces may be enabled on one stack at once, each with its own ring, filter and drop count
/// (as several perf sessions on one tracepoint); <see cref="Dispose"/> disables this one, and the records
/// it still holds can be read afterwards.
/// </para>
/// </summary>
public sealed class TcpTrace : IDisposable
{
    /// <summary>The ring's capacity when none is given: 65536 records (about 10 MB).</summary>
    public const int DefaultCapacity = 65536;
    /// <summary>The smallest capacity, in records.</summary>
    public const int MinCapacity = TraceRing<TcpTraceEntry>.MinCapacity;
    /// <summary>The largest capacity, in records (2^22).</summary>
    public const int MaxCapacity = TraceRing<TcpTraceEntry>.MaxCapacity;

    private readonly TcpTraceSession _session;
    private int _disposed;

    private TcpTrace(NetNamespace net, TcpTraceSession session, TcpTraceFilter? filter)
    {
        Net = net;
        _session = session;
        Filter = filter;
    }

    /// <summary>
    /// Starts tracing the TCP connections of <paramref name="net"/> (those open now and those opened
    /// later) into a new ring of <paramref name="capacity"/> records (rounded up to a power of two).
    /// </summary>
    /// <param name="net">The stack.</param>
    /// <param name="capacity">How many records the ring holds before new ones are dropped.</param>
    /// <param name="filter">Which records to keep (applied as they are written, so a filtered-out record takes no room); null for all.</param>
    /// <returns>The trace; dispose it to stop tracing.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="capacity"/> is below <see cref="MinCapacity"/> or above <see cref="MaxCapacity"/>.</exception>
    public static TcpTrace Enable(NetNamespace net, int capacity = DefaultCapacity, TcpTraceFilter? filter = null)
    {
        ArgumentNullException.ThrowIfNull(net);
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, MinCapacity);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(capacity, MaxCapacity);
        var session = new TcpTraceSession(capacity, filter?.Program);
        lock (net.SyncRoot) net.TcpTracepoints.ProbeRegister(session);
        return new TcpTrace(net, session, filter);
    }

    /// <summary>Whether any TCP trace is enabled on <paramref name="net"/> (its trace points record).</summary>
    /// <param name="net">The stack.</param>
    public static bool IsEnabledOn(NetNamespace net)
    {
        ArgumentNullException.ThrowIfNull(net);
        lock (net.SyncRoot) return net.TcpTracepoints.Enabled;
    }

    /// <summary>The traced stack.</summary>
    public NetNamespace Net { get; }

    /// <summary>The filter records pass before they are kept (null: all are kept).</summary>
    public TcpTraceFilter? Filter { get; }

    /// <summary>How many records the ring holds.</summary>
    public int Capacity => _session.Ring.Capacity;

    /// <summary>Records waiting to be read.</summary>
    public int Count => _session.Ring.Count;

    /// <summary>Records dropped because the ring was full (the reader was slower than the stack).</summary>
    public long Dropped => _session.Ring.Lost;

    /// <summary>Whether the trace still records (false after <see cref="Dispose"/>).</summary>
    public bool IsEnabled => Volatile.Read(ref _disposed) == 0;

    /// <summary>
    /// Moves the oldest records waiting into <paramref name="destination"/>, in the order they were
    /// written; returns how many (0 when none is waiting: this never waits). Callable from any
    /// thread, also after <see cref="Dispose"/>; allocation-free.
    /// </summary>
    /// <param name="destination">Where to copy the records.</param>
    public int Read(Span<TcpTraceRecord> destination) =>
        _session.Ring.Read(MemoryMarshal.Cast<TcpTraceRecord, TcpTraceEntry>(destination));

    /// <summary>Stops tracing into this ring (the records it holds stay readable). Idempotent.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        lock (Net.SyncRoot) Net.TcpTracepoints.ProbeUnregister(_session);
    }
}
