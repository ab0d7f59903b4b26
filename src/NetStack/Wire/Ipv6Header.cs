using System.Buffers.Binary;

namespace NetStack.Wire;

/// <summary>IPv6 next-header values (include/net/ipv6.h NEXTHDR_*).</summary>
internal static class NextHdr
{
    public const byte Hop = 0;
    public const byte Tcp = 6;
    public const byte Udp = 17;
    public const byte Ipv6 = 41;
    public const byte Routing = 43;
    public const byte Fragment = 44;
    public const byte Gre = 47;
    public const byte Esp = 50;
    public const byte Auth = 51;
    public const byte Icmp = 58;
    public const byte None = 59;
    public const byte Dest = 60;
    public const byte Mobility = 135;

    /// <summary>Whether <paramref name="nexthdr"/> is an extension header the stack walks.</summary>
    /// <remarks>Mirrors ipv6_ext_hdr().</remarks>
    public static bool IsExtension(byte nexthdr) =>
        nexthdr is Hop or Routing or Fragment or Auth or None or Dest;
}

/// <summary>
/// An IPv6 header view (struct ipv6hdr): version, traffic class, flow label, payload length, next
/// header, hop limit, source and destination. Offsets as constants; accessors one line each.
/// </summary>
internal readonly ref struct Ipv6Header
{
    public const int Length = 40;
    /// <summary>The minimum link MTU IPv6 needs (IPV6_MIN_MTU, RFC 8200 5).</summary>
    public const int MinMtu = 1280;

    public readonly Span<byte> Buffer;
    private Ipv6Header(Span<byte> b) => Buffer = b;

    /// <summary>
    /// Checked view over untrusted input, the header checks of ip6_rcv_core(): 40 bytes present,
    /// version 6, and the payload length inside the buffer (a zero payload length is allowed only
    /// before a hop-by-hop header, where a jumbo payload option would give the length). The address
    /// checks (multicast source, scope 0, loopback from the wire) are the receive path's.
    /// </summary>
    public static Ipv6ParseResult TryCreate(Span<byte> buffer, out Ipv6Header header)
    {
        header = default;
        if (buffer.Length < Length) return Ipv6ParseResult.Truncated;
        var h = new Ipv6Header(buffer);
        if (h.Version != 6) return Ipv6ParseResult.BadVersion;
        int plen = h.PayloadLength;
        if (plen != 0 || h.NextHeader != NextHdr.Hop)
        {
            if (Length + plen > buffer.Length) return Ipv6ParseResult.PayloadTooLong;
        }
        else return Ipv6ParseResult.Jumbo;
        header = h;
        return Ipv6ParseResult.Ok;
    }

    public static Ipv6Header Create(Span<byte> buffer) => new(buffer);

    public int Version => Buffer[0] >> 4;
    /// <summary>The traffic class (DSCP and ECN), the 8 bits after the version.</summary>
    public byte TrafficClass
    {
        get => (byte)(BinaryPrimitives.ReadUInt16BigEndian(Buffer) >> 4);
        set => BinaryPrimitives.WriteUInt16BigEndian(Buffer, (ushort)(6 << 12 | value << 4 | (Buffer[1] & 0x0F)));
    }
    /// <summary>The 20-bit flow label.</summary>
    public uint FlowLabel
    {
        get => BinaryPrimitives.ReadUInt32BigEndian(Buffer) & 0xF_FFFF;
        set => BinaryPrimitives.WriteUInt32BigEndian(Buffer, (BinaryPrimitives.ReadUInt32BigEndian(Buffer) & 0xFFF0_0000) | (value & 0xF_FFFF));
    }
    /// <summary>Writes version 6, the traffic class and the flow label (ip6_flow_hdr).</summary>
    public void SetFlow(byte trafficClass, uint flowLabel) =>
        BinaryPrimitives.WriteUInt32BigEndian(Buffer, 6u << 28 | (uint)trafficClass << 20 | (flowLabel & 0xF_FFFF));
    public ushort PayloadLength { get => BinaryPrimitives.ReadUInt16BigEndian(Buffer[4..]); set => BinaryPrimitives.WriteUInt16BigEndian(Buffer[4..], value); }
    public byte NextHeader { get => Buffer[6]; set => Buffer[6] = value; }
    public byte HopLimit { get => Buffer[7]; set => Buffer[7] = value; }
    public UInt128 Source { get => Ipv6Address.Read(Buffer[8..]); set => Ipv6Address.Write(Buffer[8..], value); }
    public UInt128 Destination { get => Ipv6Address.Read(Buffer[24..]); set => Ipv6Address.Write(Buffer[24..], value); }

    /// <summary>What follows the fixed header, bounded by the payload length (never link padding).</summary>
    public Span<byte> Payload => Buffer[Length..(Length + PayloadLength)];
}

internal enum Ipv6ParseResult { Ok, Truncated, BadVersion, PayloadTooLong, Jumbo }

/// <summary>The value form of a fixed IPv6 header.</summary>
internal record struct Ipv6Repr(UInt128 Source, UInt128 Destination, byte NextHeader, int PayloadLength, byte HopLimit = 64, byte TrafficClass = 0, uint FlowLabel = 0)
{
    public static Ipv6Repr Parse(in Ipv6Header h) =>
        new(h.Source, h.Destination, h.NextHeader, h.PayloadLength, h.HopLimit, h.TrafficClass, h.FlowLabel);

    /// <summary>Writes the 40-byte header (IPv6 has no header checksum).</summary>
    public readonly void Emit(Ipv6Header h)
    {
        h.SetFlow(TrafficClass, FlowLabel);
        h.PayloadLength = (ushort)PayloadLength;
        h.NextHeader = NextHeader;
        h.HopLimit = HopLimit;
        h.Source = Source;
        h.Destination = Destination;
    }
}

/// <summary>The fragment header (struct frag_hdr, RFC 8200 4.5): next header, offset in 8-byte units, M flag, identification.</summary>
internal readonly ref struct Ipv6FragHeader
{
    public const int Length = 8;
    public const ushort OffsetMask = 0xFFF8, MoreFragments = 0x0001;

    public readonly Span<byte> Buffer;
    private Ipv6FragHeader(Span<byte> b) => Buffer = b;

    public static bool TryCreate(Span<byte> buffer, out Ipv6FragHeader header)
    {
        header = buffer.Length >= Length ? new Ipv6FragHeader(buffer) : default;
        return buffer.Length >= Length;
    }

    public static Ipv6FragHeader Create(Span<byte> buffer) => new(buffer);

    public byte NextHeader { get => Buffer[0]; set => Buffer[0] = value; }
    public ushort FragOff { get => BinaryPrimitives.ReadUInt16BigEndian(Buffer[2..]); set => BinaryPrimitives.WriteUInt16BigEndian(Buffer[2..], value); }
    /// <summary>The offset of this fragment's data in bytes.</summary>
    public int Offset => FragOff & OffsetMask;
    public bool More => (FragOff & MoreFragments) != 0;
    /// <summary>Offset 0 and no M flag: an atomic fragment (RFC 6946), processed as a whole packet.</summary>
    public bool IsAtomic => (FragOff & (OffsetMask | MoreFragments)) == 0;
    public uint Identification { get => BinaryPrimitives.ReadUInt32BigEndian(Buffer[4..]); set => BinaryPrimitives.WriteUInt32BigEndian(Buffer[4..], value); }
}

/// <summary>Walks IPv6 extension headers.</summary>
internal static class Ipv6ExtHdr
{
    /// <summary>
    /// Skips the extension headers that start at <paramref name="start"/> with next header
    /// <paramref name="nexthdr"/>; returns the offset of the upper-layer header and sets
    /// <paramref name="nexthdr"/> to its type, or -1 when a header runs past the packet or no
    /// upper-layer header follows (NONE). A fragment header with a non-zero offset ends the walk
    /// there, on the fragment header (what follows is not a header); <paramref name="fragOff"/>
    /// receives the last fragment header's offset field as on the wire (with the M flag).
    /// </summary>
    /// <remarks>Mirrors ipv6_skip_exthdr(): AH counts its length in 4-byte units plus 2, the
    /// others in 8-byte units plus 1; the walk is bounded by the packet, so a loop of headers ends.</remarks>
    public static int Skip(ReadOnlySpan<byte> packet, int start, ref byte nexthdr, out ushort fragOff)
    {
        fragOff = 0;
        while (NextHdr.IsExtension(nexthdr))
        {
            if (nexthdr == NextHdr.None) return -1; // no upper-layer header follows
            if (start + 2 > packet.Length) return -1;
            int hdrlen;
            if (nexthdr == NextHdr.Fragment)
            {
                if (start + Ipv6FragHeader.Length > packet.Length) return -1;
                fragOff = BinaryPrimitives.ReadUInt16BigEndian(packet[(start + 2)..]);
                if ((fragOff & ~0x7) != 0) break;
                hdrlen = 8;
            }
            else if (nexthdr == NextHdr.Auth) hdrlen = (packet[start + 1] + 2) << 2;
            else hdrlen = (packet[start + 1] + 1) << 3;
            nexthdr = packet[start];
            start += hdrlen;
            if (start > packet.Length) return -1;
        }
        return start;
    }
}
