using System.Buffers.Binary;

namespace NetStack.Wire;

/// <summary>ICMPv6 types and codes (include/uapi/linux/icmpv6.h, RFC 4443, RFC 4861, RFC 3810).</summary>
internal static class Icmpv6Type
{
    public const byte DestUnreach = 1;
    public const byte PktTooBig = 2;
    public const byte TimeExceed = 3;
    public const byte ParamProb = 4;
    public const byte EchoRequest = 128;
    public const byte EchoReply = 129;
    public const byte MgmQuery = 130;
    public const byte MgmReport = 131;
    public const byte MgmReduction = 132;
    public const byte RouterSolicitation = 133;
    public const byte RouterAdvertisement = 134;
    public const byte NeighbourSolicitation = 135;
    public const byte NeighbourAdvertisement = 136;
    public const byte Redirect = 137;
    public const byte Mld2Report = 143;

    /// <summary>Error messages have the high bit clear (ICMPV6_INFOMSG_MASK, RFC 4443 2.1).</summary>
    public static bool IsError(byte type) => (type & 0x80) == 0;

    // ICMPV6_DEST_UNREACH codes
    public const byte NoRoute = 0;
    public const byte AdmProhibited = 1;
    public const byte NotNeighbour = 2;
    public const byte AddrUnreach = 3;
    public const byte PortUnreach = 4;
    public const byte PolicyFail = 5;
    public const byte RejectRoute = 6;

    // ICMPV6_TIME_EXCEED codes
    public const byte ExcHopLimit = 0;
    public const byte ExcFragTime = 1;

    // ICMPV6_PARAMPROB codes
    public const byte HdrField = 0;
    public const byte UnkNextHdr = 1;
    public const byte UnkOption = 2;
}

/// <summary>
/// An ICMPv6 header view (struct icmp6hdr): type, code, checksum and the 4-byte rest (echo id and
/// sequence, the MTU of packet-too-big, the pointer of a parameter problem, the R/S/O flags of a
/// neighbour advertisement).
/// </summary>
internal readonly ref struct Icmpv6Header
{
    public const int Length = 8;
    /// <summary>Neighbour advertisement flags (icmp6_router, icmp6_solicited, icmp6_override).</summary>
    public const uint NaRouter = 0x8000_0000, NaSolicited = 0x4000_0000, NaOverride = 0x2000_0000;

    public readonly Span<byte> Buffer;
    private Icmpv6Header(Span<byte> b) => Buffer = b;

    public static bool TryCreate(Span<byte> buffer, out Icmpv6Header header)
    {
        header = buffer.Length >= Length ? new Icmpv6Header(buffer) : default;
        return buffer.Length >= Length;
    }

    public static Icmpv6Header Create(Span<byte> buffer) => new(buffer);

    public byte Type { get => Buffer[0]; set => Buffer[0] = value; }
    public byte Code { get => Buffer[1]; set => Buffer[1] = value; }
    public ushort Checksum { get => BinaryPrimitives.ReadUInt16BigEndian(Buffer[2..]); set => BinaryPrimitives.WriteUInt16BigEndian(Buffer[2..], value); }
    public ushort EchoId { get => BinaryPrimitives.ReadUInt16BigEndian(Buffer[4..]); set => BinaryPrimitives.WriteUInt16BigEndian(Buffer[4..], value); }
    public ushort EchoSequence { get => BinaryPrimitives.ReadUInt16BigEndian(Buffer[6..]); set => BinaryPrimitives.WriteUInt16BigEndian(Buffer[6..], value); }
    /// <summary>The 32-bit rest of the header: the MTU (packet too big), the pointer (parameter problem), NA flags.</summary>
    public uint Rest { get => BinaryPrimitives.ReadUInt32BigEndian(Buffer[4..]); set => BinaryPrimitives.WriteUInt32BigEndian(Buffer[4..], value); }
    public Span<byte> Payload => Buffer[Length..];

    /// <summary>The checksum over the IPv6 pseudo-header and the whole message verifies.</summary>
    public bool VerifyChecksum(UInt128 saddr, UInt128 daddr) => Wire.Checksum.TcpUdpV6(saddr, daddr, NextHdr.Icmp, Buffer) == 0;

    /// <remarks>Mirrors icmpv6_push_pending_frames()' csum_ipv6_magic over the message.</remarks>
    public void FillChecksum(UInt128 saddr, UInt128 daddr)
    {
        Checksum = 0;
        Checksum = Wire.Checksum.TcpUdpV6(saddr, daddr, NextHdr.Icmp, Buffer);
    }
}
