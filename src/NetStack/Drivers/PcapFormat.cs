using System.Buffers.Binary;

namespace NetStack.Drivers;

/// <summary>
/// The classic pcap file format (libpcap's savefile): the nanosecond-resolution variant (magic
/// 0xa1b23c4d), link type 1 (Ethernet), wall-clock timestamps. One home for the layout, shared by
/// the file writer and the live stream.
/// </summary>
internal static class PcapFormat
{
    public const uint MagicNanoseconds = 0xA1B23C4D;
    public const uint LinkTypeEthernet = 1; // LINKTYPE_ETHERNET
    public const int SnapLen = 65535;
    public const int GlobalHeaderLength = 24;
    public const int RecordHeaderLength = 16;
    private const long UnixEpochTicks = 621355968000000000; // DateTime.UnixEpoch.Ticks

    /// <summary>Writes the 24-byte global header.</summary>
    public static void WriteGlobalHeader(Span<byte> h)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(h, MagicNanoseconds);
        BinaryPrimitives.WriteUInt16LittleEndian(h[4..], 2);  // version 2.4
        BinaryPrimitives.WriteUInt16LittleEndian(h[6..], 4);
        BinaryPrimitives.WriteInt32LittleEndian(h[8..], 0);   // thiszone: UTC
        BinaryPrimitives.WriteUInt32LittleEndian(h[12..], 0); // sigfigs
        BinaryPrimitives.WriteUInt32LittleEndian(h[16..], SnapLen);
        BinaryPrimitives.WriteUInt32LittleEndian(h[20..], LinkTypeEthernet);
    }

    /// <summary>The bytes one record of <paramref name="frame"/> takes.</summary>
    public static int RecordLength(ReadOnlySpan<byte> frame) => RecordHeaderLength + Math.Min(frame.Length, SnapLen);

    /// <summary>Writes one record (header stamped now, then the frame up to the snap length) into <paramref name="rec"/>, which is <see cref="RecordLength"/> long. Allocation-free.</summary>
    public static void WriteRecord(Span<byte> rec, ReadOnlySpan<byte> frame)
    {
        int incl = Math.Min(frame.Length, SnapLen);
        long ns = (DateTime.UtcNow.Ticks - UnixEpochTicks) * 100;
        BinaryPrimitives.WriteUInt32LittleEndian(rec, (uint)(ns / 1_000_000_000));
        BinaryPrimitives.WriteUInt32LittleEndian(rec[4..], (uint)(ns % 1_000_000_000));
        BinaryPrimitives.WriteUInt32LittleEndian(rec[8..], (uint)incl);
        BinaryPrimitives.WriteUInt32LittleEndian(rec[12..], (uint)frame.Length);
        frame[..incl].CopyTo(rec[RecordHeaderLength..]);
    }
}
