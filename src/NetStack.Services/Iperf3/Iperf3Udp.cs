using System.Buffers.Binary;

namespace NetStack.Services.Iperf3;

/// <summary>
/// The header iperf3 puts at the front of each UDP datagram (iperf_udp_send): the sender's clock
/// as seconds and microseconds (32 bits each, big-endian), then the datagram's sequence number,
/// counting from 1: 32 bits, or 64 with --udp-counters-64bit. The rest of the datagram is payload.
/// </summary>
public readonly record struct Iperf3UdpHeader(uint Seconds, uint Microseconds, ulong Sequence)
{
    /// <summary>The header's size with 32-bit and with 64-bit counters.</summary>
    public const int Size32 = 12, Size64 = 16;

    /// <summary>Writes the header at the front of <paramref name="datagram"/>.</summary>
    public void Write(Span<byte> datagram, bool counters64)
    {
        BinaryPrimitives.WriteUInt32BigEndian(datagram, Seconds);
        BinaryPrimitives.WriteUInt32BigEndian(datagram[4..], Microseconds);
        if (counters64) BinaryPrimitives.WriteUInt64BigEndian(datagram[8..], Sequence);
        else BinaryPrimitives.WriteUInt32BigEndian(datagram[8..], (uint)Sequence);
    }

    /// <summary>Reads the header of a received datagram; false when it is too short to hold one.</summary>
    public static bool TryRead(ReadOnlySpan<byte> datagram, bool counters64, out Iperf3UdpHeader header)
    {
        if (datagram.Length < (counters64 ? Size64 : Size32))
        {
            header = default;
            return false;
        }
        header = new Iperf3UdpHeader(
            BinaryPrimitives.ReadUInt32BigEndian(datagram),
            BinaryPrimitives.ReadUInt32BigEndian(datagram[4..]),
            counters64 ? BinaryPrimitives.ReadUInt64BigEndian(datagram[8..]) : BinaryPrimitives.ReadUInt32BigEndian(datagram[8..]));
        return true;
    }

    /// <summary>The send time in seconds.</summary>
    public double Time => Seconds + Microseconds / 1e6;

    /// <summary>A header for a clock reading in seconds (iperf_time: whole seconds and microseconds).</summary>
    public static Iperf3UdpHeader At(double seconds, ulong sequence)
    {
        ulong us = (ulong)(seconds * 1e6);
        return new Iperf3UdpHeader((uint)(us / 1_000_000), (uint)(us % 1_000_000), sequence);
    }
}

/// <summary>
/// What a UDP receiver computes from the headers, as iperf_udp_recv() does: the highest sequence
/// number seen, losses (gaps in the sequence, taken back one by one as late datagrams arrive),
/// datagrams out of order, and the jitter of RFC 1889 (A.8): the smoothed mean deviation of the
/// transit time, J += (|D| - J) / 16, which needs no synchronised clocks since only differences of
/// transit times count.
/// </summary>
public struct Iperf3UdpReceiveStats
{
    /// <summary>sp->packet_count: the highest sequence number received.</summary>
    public long PacketCount;
    /// <summary>sp->cnt_error: datagrams lost.</summary>
    public long CntError;
    /// <summary>sp->outoforder_packets: datagrams whose number was not above the highest seen.</summary>
    public long OutOfOrder;
    /// <summary>sp->jitter, in seconds.</summary>
    public double Jitter;
    /// <summary>sp->prev_transit, in seconds.</summary>
    public double PrevTransit;
    /// <summary>Datagrams received.</summary>
    public long Received;

    /// <summary>Accounts one datagram: its sequence number and its transit time (arrival minus the header's send time, in seconds).</summary>
    /// <remarks>Mirrors src/iperf_udp.c: iperf_udp_recv().</remarks>
    public void Add(long sequence, double transit)
    {
        bool first = Received == 0;
        Received++;
        if (sequence >= PacketCount + 1)
        {
            // Forward; a gap counts as lost.
            if (sequence > PacketCount + 1) CntError += sequence - 1 - PacketCount;
            PacketCount = sequence;
        }
        else
        {
            // Backward (or repeated): out of order, and it makes up for one counted as lost.
            OutOfOrder++;
            if (CntError > 0) CntError--;
        }
        if (first) PrevTransit = transit;
        double d = transit - PrevTransit;
        if (d < 0) d = -d;
        PrevTransit = transit;
        Jitter += (d - Jitter) / 16.0;
    }

    /// <summary>The loss percentage iperf3 prints: lost / total (total from the sender when known), 0 when nothing was sent.</summary>
    public static double LostPercent(long lost, long total) => total > 0 ? 100.0 * lost / total : 0.0;
}
