using System.Buffers.Binary;

namespace NetStack.Wire;

/// <summary>IP protocol numbers (include/uapi/linux/in.h).</summary>
internal static class IpProto
{
    public const int IP = 0;
    public const int ICMP = 1;
    public const int IGMP = 2;
    public const int TCP = 6;
    public const int UDP = 17;
    public const int RAW = 255;
    public const int MAX = 256;
}

/// <summary>
/// An IPv4 header view (struct iphdr). Offsets as constants; accessors are one line each.
/// </summary>
internal readonly ref struct Ipv4Header
{
    public const int MinLength = 20;
    public const ushort FlagDF = 0x4000, FlagMF = 0x2000, OffsetMask = 0x1FFF;

    public readonly Span<byte> Buffer;
    private Ipv4Header(Span<byte> b) => Buffer = b;

    /// <summary>
    /// Checked view over untrusted input, the order of ip_rcv_core(): at least 20 bytes, version 4,
    /// IHL &gt;= 5, the header fits, total length &gt;= IHL*4 and &lt;= the buffer. Does not verify the checksum.
    /// </summary>
    public static Ipv4ParseResult TryCreate(Span<byte> buffer, out Ipv4Header header)
    {
        header = default;
        if (buffer.Length < MinLength) return Ipv4ParseResult.Truncated;
        var h = new Ipv4Header(buffer);
        if (h.Version != 4 || h.Ihl < 5) return Ipv4ParseResult.BadHeader;
        if (buffer.Length < h.HeaderLength) return Ipv4ParseResult.Truncated;
        int tot = h.TotalLength;
        if (tot > buffer.Length) return Ipv4ParseResult.TotalLengthTooLong;
        if (tot < h.HeaderLength) return Ipv4ParseResult.TotalLengthTooShort;
        header = h;
        return Ipv4ParseResult.Ok;
    }

    public static Ipv4Header Create(Span<byte> buffer) => new(buffer);

    public int Version { get => Buffer[0] >> 4; }
    public int Ihl { get => Buffer[0] & 0x0F; }
    public int HeaderLength => Ihl * 4;
    public void SetVersionIhl(int version, int ihl) => Buffer[0] = (byte)((version << 4) | (ihl & 0x0F));
    public byte Tos { get => Buffer[1]; set => Buffer[1] = value; }
    public ushort TotalLength { get => BinaryPrimitives.ReadUInt16BigEndian(Buffer[2..]); set => BinaryPrimitives.WriteUInt16BigEndian(Buffer[2..], value); }
    public ushort Id { get => BinaryPrimitives.ReadUInt16BigEndian(Buffer[4..]); set => BinaryPrimitives.WriteUInt16BigEndian(Buffer[4..], value); }
    public ushort FragOff { get => BinaryPrimitives.ReadUInt16BigEndian(Buffer[6..]); set => BinaryPrimitives.WriteUInt16BigEndian(Buffer[6..], value); }
    public bool DontFragment => (FragOff & FlagDF) != 0;
    public bool MoreFragments => (FragOff & FlagMF) != 0;
    public int FragmentOffset => (FragOff & OffsetMask) * 8;
    /// <remarks>Mirrors ip_is_fragment().</remarks>
    public bool IsFragment => (FragOff & (FlagMF | OffsetMask)) != 0;
    public byte Ttl { get => Buffer[8]; set => Buffer[8] = value; }
    public byte Protocol { get => Buffer[9]; set => Buffer[9] = value; }
    public ushort HeaderChecksum { get => BinaryPrimitives.ReadUInt16BigEndian(Buffer[10..]); set => BinaryPrimitives.WriteUInt16BigEndian(Buffer[10..], value); }
    public uint Source { get => BinaryPrimitives.ReadUInt32BigEndian(Buffer[12..]); set => BinaryPrimitives.WriteUInt32BigEndian(Buffer[12..], value); }
    public uint Destination { get => BinaryPrimitives.ReadUInt32BigEndian(Buffer[16..]); set => BinaryPrimitives.WriteUInt32BigEndian(Buffer[16..], value); }

    /// <summary>True if the header checksum verifies (ip_fast_csum() == 0).</summary>
    public bool VerifyChecksum() => Checksum.Compute(Buffer[..HeaderLength]) == 0;

    /// <remarks>Mirrors ip_send_check().</remarks>
    public void FillChecksum()
    {
        HeaderChecksum = 0;
        HeaderChecksum = Checksum.Compute(Buffer[..HeaderLength]);
    }

    public Span<byte> Options => Buffer[MinLength..HeaderLength];
    /// <summary>The payload as bounded by total length (never the Ethernet padding).</summary>
    public Span<byte> Payload => Buffer[HeaderLength..TotalLength];
}

internal enum Ipv4ParseResult { Ok, Truncated, BadHeader, TotalLengthTooLong, TotalLengthTooShort }

/// <summary>The value form of an option-less IPv4 header.</summary>
internal record struct Ipv4Repr(uint Source, uint Destination, byte Protocol, int PayloadLength, byte Ttl = 64, byte Tos = 0, ushort Id = 0, bool DontFragment = true)
{
    public static Ipv4Repr Parse(in Ipv4Header h) =>
        new(h.Source, h.Destination, h.Protocol, h.TotalLength - h.HeaderLength, h.Ttl, h.Tos, h.Id, h.DontFragment);

    /// <summary>Writes a 20-byte header with its checksum.</summary>
    public readonly void Emit(Ipv4Header h)
    {
        h.SetVersionIhl(4, 5);
        h.Tos = Tos;
        h.TotalLength = (ushort)(Ipv4Header.MinLength + PayloadLength);
        h.Id = Id;
        h.FragOff = DontFragment ? Ipv4Header.FlagDF : (ushort)0;
        h.Ttl = Ttl;
        h.Protocol = Protocol;
        h.Source = Source;
        h.Destination = Destination;
        h.FillChecksum();
    }
}
