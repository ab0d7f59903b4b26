using System.Diagnostics;
using System.Net;
using NetStack.Api;

namespace NetStack.Services.Iperf3;

/// <summary>One interval's figures for one stream (struct iperf_interval_results).</summary>
public sealed class Iperf3IntervalResult
{
    public long BytesTransferred;
    /// <summary>Monotonic timestamps (<see cref="Iperf3Clock"/>).</summary>
    public long IntervalStart, IntervalEnd;
    public double IntervalDuration;
    public bool Omitted;
    // TCP, from TCP_INFO (a sender's).
    public long IntervalRetrans, SndCwnd, SndWnd, Rtt, RttVar, Pmtu;
    // UDP.
    public long IntervalPacketCount, IntervalOutOfOrder, IntervalCntError, PacketCount, OutOfOrder, CntError;
    public double Jitter;
}

/// <summary>The clock iperf3 uses (CLOCK_MONOTONIC, which <see cref="Stopwatch"/> reads on Linux): timestamps and differences in seconds.</summary>
public static class Iperf3Clock
{
    /// <summary>Now, in <see cref="Stopwatch"/> ticks.</summary>
    public static long Now => Stopwatch.GetTimestamp();

    /// <summary>Seconds from <paramref name="from"/> to <paramref name="to"/>.</summary>
    public static double Seconds(long from, long to) => (to - from) / (double)Stopwatch.Frequency;

    /// <summary>A timestamp in seconds since the clock's origin (as iperf_time holds it).</summary>
    public static double ToSeconds(long ticks) => ticks / (double)Stopwatch.Frequency;
}

/// <summary>
/// One data stream of a test (struct iperf_stream with its iperf_stream_result): its socket, its
/// direction, and what it counted. The I/O loop and the statistics timer touch the counters under
/// <see cref="Gate"/>.
/// </summary>
public sealed class Iperf3Stream
{
    internal Iperf3Stream(NetSocket socket, bool sender, IPEndPoint local, IPEndPoint remote)
    {
        Socket = socket;
        Fd = socket.Fd;
        Sender = sender;
        Local = local;
        Remote = remote;
    }

    /// <summary>The stream's id in the results exchange: 1, then 3, 4, ... (iperf_add_stream's numbering).</summary>
    public int Id { get; internal set; }
    /// <summary>The socket's descriptor in the stack, which iperf3 prints as "[  5]".</summary>
    public int Fd { get; }
    public bool Sender { get; }
    public NetSocket Socket { get; }
    public IPEndPoint Local { get; }
    public IPEndPoint Remote { get; }

    internal readonly object Gate = new();

    // struct iperf_stream_result
    public long BytesSent, BytesReceived, BytesSentThisInterval, BytesReceivedThisInterval, BytesSentOmit;
    public long StreamRetrans, StreamPrevTotalRetrans, StreamMaxSndCwnd, StreamMaxSndWnd, StreamMaxRtt, StreamMinRtt, StreamSumRtt, StreamCountRtt;
    /// <summary>Monotonic timestamps.</summary>
    public long StartTime, StartTimeFixed, EndTime;
    public double SenderTime, ReceiverTime;
    public readonly List<Iperf3IntervalResult> Intervals = new();

    /// <summary>
    /// The UDP counters: for a sender, <see cref="Iperf3UdpReceiveStats.PacketCount"/> is the
    /// datagrams sent and the rest come from the receiver's results (sp->packet_count, cnt_error,
    /// jitter, outoforder_packets in iperf3).
    /// </summary>
    public Iperf3UdpReceiveStats Udp;
    public long PeerPacketCount, OmittedPacketCount, OmittedCntError, OmittedOutOfOrder;

    public Iperf3IntervalResult? LastInterval => Intervals.Count > 0 ? Intervals[^1] : null;

    public override string ToString() => $"stream {Id} (fd {Fd}, {(Sender ? "sender" : "receiver")}) {Local} -> {Remote}";
}
