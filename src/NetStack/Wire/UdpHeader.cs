using System.Buffers.Binary;

namespace NetStack.Wire;

/// <summary>A UDP header view (struct udphdr): source port, destination port, length, checksum.</summary>
/// <remarks>Mirrors include/uapi/linux/udp.h: struct udphdr.</remarks>
internal readonly ref struct UdpHeader
{
    public const int Length = 8;
    /// <summary>CSUM_MANGLED_0: a computed checksum of 0 is sent as 0xFFFF (0 means "no checksum").</summary>
    public const ushort CsumMangled0 = 0xFFFF;

    public readonly Span<byte> Buffer;
    private UdpHeader(Span<byte> b) => Buffer = b;

    /// <summary>
    /// Checked view over untrusted input: at least 8 bytes, and the length field between 8 and the
    /// buffer (the checks of __udp4_lib_rcv: ulen &gt; skb-&gt;len and ulen &lt; sizeof(udphdr) are short packets).
    /// </summary>
    public static bool TryCreate(Span<byte> buffer, out UdpHeader header)
    {
        header = default;
        if (buffer.Length < Length) return false;
        var h = new UdpHeader(buffer);
        int ulen = h.Len;
        if (ulen > buffer.Length || ulen < Length) return false;
        header = h;
        return true;
    }

    public static UdpHeader Create(Span<byte> buffer) => new(buffer);

    public ushort SourcePort { get => BinaryPrimitives.ReadUInt16BigEndian(Buffer); set => BinaryPrimitives.WriteUInt16BigEndian(Buffer, value); }
    public ushort DestinationPort { get => BinaryPrimitives.ReadUInt16BigEndian(Buffer[2..]); set => BinaryPrimitives.WriteUInt16BigEndian(Buffer[2..], value); }
    /// <summary>The length field: header plus payload.</summary>
    public ushort Len { get => BinaryPrimitives.ReadUInt16BigEndian(Buffer[4..]); set => BinaryPrimitives.WriteUInt16BigEndian(Buffer[4..], value); }
    public ushort Checksum { get => BinaryPrimitives.ReadUInt16BigEndian(Buffer[6..]); set => BinaryPrimitives.WriteUInt16BigEndian(Buffer[6..], value); }

    /// <summary>The payload as bounded by the length field.</summary>
    public Span<byte> Payload => Buffer[Length..Len];

    /// <summary>
    /// True if the checksum verifies over pseudo-header + datagram (Len bytes), or is absent (0).
    /// </summary>
    /// <remarks>Mirrors udp4_csum_init() + udp_lib_checksum_complete().</remarks>
    public bool VerifyChecksum(uint saddr, uint daddr) =>
        Checksum == 0 || Wire.Checksum.TcpUdp(saddr, daddr, IpProto.UDP, Buffer[..Len]) == 0;

    /// <summary>Computes and stores the checksum over Len bytes (0 becomes 0xFFFF).</summary>
    /// <remarks>Mirrors udp_send_skb(): csum_tcpudp_magic(), then CSUM_MANGLED_0.</remarks>
    public void FillChecksum(uint saddr, uint daddr)
    {
        Checksum = 0;
        ushort c = Wire.Checksum.TcpUdp(saddr, daddr, IpProto.UDP, Buffer[..Len]);
        Checksum = c == 0 ? CsumMangled0 : c;
    }

    /// <summary>True if the checksum over the IPv6 pseudo-header and Len bytes verifies (a zero checksum does not: it is refused over IPv6).</summary>
    /// <remarks>Mirrors udp6_csum_init() + udp_lib_checksum_complete() (RFC 8200 8.1: the checksum is mandatory).</remarks>
    public bool VerifyChecksumV6(UInt128 saddr, UInt128 daddr) =>
        Checksum != 0 && Wire.Checksum.TcpUdpV6(saddr, daddr, NextHdr.Udp, Buffer[..Len]) == 0;

    /// <summary>Computes and stores the checksum over the IPv6 pseudo-header and Len bytes (0 becomes 0xFFFF).</summary>
    /// <remarks>Mirrors udp_v6_send_skb(): csum_ipv6_magic(), then CSUM_MANGLED_0.</remarks>
    public void FillChecksumV6(UInt128 saddr, UInt128 daddr)
    {
        Checksum = 0;
        ushort c = Wire.Checksum.TcpUdpV6(saddr, daddr, NextHdr.Udp, Buffer[..Len]);
        Checksum = c == 0 ? CsumMangled0 : c;
    }
}

/// <summary>The value form of a UDP header (no payload).</summary>
internal record struct UdpRepr(ushort SourcePort, ushort DestinationPort, int PayloadLength)
{
    public static UdpRepr Parse(in UdpHeader h) => new(h.SourcePort, h.DestinationPort, h.Len - UdpHeader.Length);

    /// <summary>Writes ports and length; the checksum is filled once the payload is in place.</summary>
    public readonly void Emit(UdpHeader h)
    {
        h.SourcePort = SourcePort;
        h.DestinationPort = DestinationPort;
        h.Len = (ushort)(UdpHeader.Length + PayloadLength);
        h.Checksum = 0;
    }
}
