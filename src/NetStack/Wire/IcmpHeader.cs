using System.Buffers.Binary;

namespace NetStack.Wire;

/// <summary>ICMP types and codes (include/uapi/linux/icmp.h).</summary>
internal static class IcmpType
{
    public const byte EchoReply = 0;
    public const byte DestUnreach = 3;
    public const byte SourceQuench = 4;
    public const byte Redirect = 5;
    public const byte Echo = 8;
    public const byte TimeExceeded = 11;
    public const byte ParameterProb = 12;
    public const byte Timestamp = 13;
    public const byte TimestampReply = 14;
    public const byte InfoRequest = 15;
    public const byte InfoReply = 16;
    public const byte AddressMask = 17;
    public const byte AddressMaskReply = 18;
    public const byte NrIcmpTypes = 18;

    // ICMP_DEST_UNREACH codes
    public const byte NetUnreach = 0;
    public const byte HostUnreach = 1;
    public const byte ProtUnreach = 2;
    public const byte PortUnreach = 3;
    public const byte FragNeeded = 4;
    public const byte SrFailed = 5;
    public const byte NetUnknown = 6;
    public const byte HostUnknown = 7;
    public const byte HostIsolated = 8;
    public const byte NetAno = 9;
    public const byte HostAno = 10;
    public const byte PktFiltered = 13;
    public const byte NrUnreach = 15;

    // ICMP_REDIRECT codes
    public const byte RedirNet = 0;
    public const byte RedirHost = 1;

    // ICMP_TIME_EXCEEDED codes
    public const byte ExcTtl = 0;
    public const byte ExcFragtime = 1;
}

/// <summary>An ICMP header view (struct icmphdr): type, code, checksum, and the 4-byte rest (id/sequence for echo).</summary>
internal readonly ref struct IcmpHeader
{
    public const int Length = 8;
    public readonly Span<byte> Buffer;
    private IcmpHeader(Span<byte> b) => Buffer = b;

    public static bool TryCreate(Span<byte> buffer, out IcmpHeader header)
    {
        header = buffer.Length >= Length ? new IcmpHeader(buffer) : default;
        return buffer.Length >= Length;
    }

    public static IcmpHeader Create(Span<byte> buffer) => new(buffer);

    public byte Type { get => Buffer[0]; set => Buffer[0] = value; }
    public byte Code { get => Buffer[1]; set => Buffer[1] = value; }
    public ushort Checksum { get => BinaryPrimitives.ReadUInt16BigEndian(Buffer[2..]); set => BinaryPrimitives.WriteUInt16BigEndian(Buffer[2..], value); }
    public ushort EchoId { get => BinaryPrimitives.ReadUInt16BigEndian(Buffer[4..]); set => BinaryPrimitives.WriteUInt16BigEndian(Buffer[4..], value); }
    public ushort EchoSequence { get => BinaryPrimitives.ReadUInt16BigEndian(Buffer[6..]); set => BinaryPrimitives.WriteUInt16BigEndian(Buffer[6..], value); }
    /// <summary>The 32-bit "rest of header" (un.gateway, un.frag.mtu ...).</summary>
    public uint Rest { get => BinaryPrimitives.ReadUInt32BigEndian(Buffer[4..]); set => BinaryPrimitives.WriteUInt32BigEndian(Buffer[4..], value); }
    public Span<byte> Payload => Buffer[Length..];

    /// <summary>The checksum over the whole message verifies.</summary>
    public bool VerifyChecksum() => Wire.Checksum.Compute(Buffer) == 0;

    public void FillChecksum()
    {
        Checksum = 0;
        Checksum = Wire.Checksum.Compute(Buffer);
    }
}

/// <summary>The value form of an ICMP header (no payload).</summary>
internal record struct IcmpRepr(byte Type, byte Code, uint Rest)
{
    public static IcmpRepr Parse(in IcmpHeader h) => new(h.Type, h.Code, h.Rest);

    /// <summary>Writes type, code and rest; the caller fills the checksum once the payload is in place.</summary>
    public readonly void Emit(IcmpHeader h)
    {
        h.Type = Type;
        h.Code = Code;
        h.Rest = Rest;
    }
}
