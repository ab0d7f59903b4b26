using System.Buffers.Binary;

namespace NetStack.Wire;

/// <summary>TCP header flag bits (the low byte of th->doff_res_flags: TCPHDR_*).</summary>
internal static class TcpFlags
{
    public const byte FIN = 0x01;
    public const byte SYN = 0x02;
    public const byte RST = 0x04;
    public const byte PSH = 0x08;
    public const byte ACK = 0x10;
    public const byte URG = 0x20;
    public const byte ECE = 0x40;
    public const byte CWR = 0x80;

    /// <summary>"SA", "FPA", "R" ... the letters tcpdump prints, for messages and tests.</summary>
    public static string Format(byte flags)
    {
        Span<char> s = stackalloc char[8];
        int n = 0;
        if ((flags & SYN) != 0) s[n++] = 'S';
        if ((flags & FIN) != 0) s[n++] = 'F';
        if ((flags & RST) != 0) s[n++] = 'R';
        if ((flags & PSH) != 0) s[n++] = 'P';
        if ((flags & ACK) != 0) s[n++] = '.';
        if ((flags & URG) != 0) s[n++] = 'U';
        if ((flags & ECE) != 0) s[n++] = 'E';
        if ((flags & CWR) != 0) s[n++] = 'W';
        return n == 0 ? "none" : new string(s[..n]);
    }
}

/// <summary>Why a TCP header could not be parsed.</summary>
internal enum TcpParseResult { Ok, Truncated, BadDataOffset }

/// <summary>
/// A TCP segment view (struct tcphdr followed by options and payload). The span covers the whole
/// segment, so <see cref="Payload"/> and the checksum are available from the view.
/// </summary>
internal readonly ref struct TcpHeader
{
    public const int MinLength = 20;
    /// <summary>The largest header: data offset 15.</summary>
    public const int MaxLength = 60;
    public const int SrcPortOffset = 0, DstPortOffset = 2, SeqOffset = 4, AckOffset = 8,
        DoffOffset = 12, FlagsOffset = 13, WindowOffset = 14, ChecksumOffset = 16, UrgOffset = 18;

    public readonly Span<byte> Buffer;
    private TcpHeader(Span<byte> b) => Buffer = b;

    /// <summary>
    /// Checked view over untrusted input, the checks of tcp_v4_rcv(): 20 bytes present, data
    /// offset at least 5 words, and the header with its options inside the segment.
    /// Does not verify the checksum.
    /// </summary>
    public static TcpParseResult TryCreate(Span<byte> segment, out TcpHeader header)
    {
        header = default;
        if (segment.Length < MinLength) return TcpParseResult.Truncated;
        var h = new TcpHeader(segment);
        if (h.DataOffset < 5) return TcpParseResult.BadDataOffset;
        if (h.HeaderLength > segment.Length) return TcpParseResult.Truncated;
        header = h;
        return TcpParseResult.Ok;
    }

    /// <summary>Unchecked view for emitting into a buffer the caller sized.</summary>
    public static TcpHeader Create(Span<byte> segment) => new(segment);

    public ushort SrcPort { get => BinaryPrimitives.ReadUInt16BigEndian(Buffer[SrcPortOffset..]); set => BinaryPrimitives.WriteUInt16BigEndian(Buffer[SrcPortOffset..], value); }
    public ushort DstPort { get => BinaryPrimitives.ReadUInt16BigEndian(Buffer[DstPortOffset..]); set => BinaryPrimitives.WriteUInt16BigEndian(Buffer[DstPortOffset..], value); }
    public uint Seq { get => BinaryPrimitives.ReadUInt32BigEndian(Buffer[SeqOffset..]); set => BinaryPrimitives.WriteUInt32BigEndian(Buffer[SeqOffset..], value); }
    public uint AckSeq { get => BinaryPrimitives.ReadUInt32BigEndian(Buffer[AckOffset..]); set => BinaryPrimitives.WriteUInt32BigEndian(Buffer[AckOffset..], value); }
    /// <summary>th->doff: the header length in 32-bit words (the reserved bits are written as zero).</summary>
    public int DataOffset { get => Buffer[DoffOffset] >> 4; set => Buffer[DoffOffset] = (byte)(value << 4); }
    public int HeaderLength => DataOffset * 4;
    public byte Flags { get => Buffer[FlagsOffset]; set => Buffer[FlagsOffset] = value; }
    /// <summary>The fourth 32-bit word (data offset, reserved bits, flags, window), host order: what header prediction compares (tcp_flag_word()).</summary>
    public uint FlagWord => BinaryPrimitives.ReadUInt32BigEndian(Buffer[DoffOffset..]);
    public bool Fin => (Flags & TcpFlags.FIN) != 0;
    public bool Syn => (Flags & TcpFlags.SYN) != 0;
    public bool Rst => (Flags & TcpFlags.RST) != 0;
    public bool Psh => (Flags & TcpFlags.PSH) != 0;
    public bool Ack => (Flags & TcpFlags.ACK) != 0;
    public bool Urg => (Flags & TcpFlags.URG) != 0;
    public ushort Window { get => BinaryPrimitives.ReadUInt16BigEndian(Buffer[WindowOffset..]); set => BinaryPrimitives.WriteUInt16BigEndian(Buffer[WindowOffset..], value); }
    public ushort Checksum { get => BinaryPrimitives.ReadUInt16BigEndian(Buffer[ChecksumOffset..]); set => BinaryPrimitives.WriteUInt16BigEndian(Buffer[ChecksumOffset..], value); }
    public ushort UrgPtr { get => BinaryPrimitives.ReadUInt16BigEndian(Buffer[UrgOffset..]); set => BinaryPrimitives.WriteUInt16BigEndian(Buffer[UrgOffset..], value); }

    public Span<byte> Options => Buffer[MinLength..HeaderLength];
    public Span<byte> Payload => Buffer[HeaderLength..];
    /// <summary>Sequence space the segment occupies: payload plus one for SYN and one for FIN.</summary>
    public int SegmentLength => Payload.Length + (Syn ? 1 : 0) + (Fin ? 1 : 0);

    /// <summary>True if the checksum over pseudo-header + the whole segment verifies.</summary>
    /// <remarks>Mirrors tcp_v4_checksum_init() / tcp_checksum_complete().</remarks>
    public bool VerifyChecksum(uint saddr, uint daddr) =>
        Wire.Checksum.TcpUdp(saddr, daddr, IpProto.TCP, Buffer) == 0;

    /// <summary>Whether the checksum over the IPv6 pseudo-header (RFC 8200 8.1) and the segment holds.</summary>
    /// <remarks>Mirrors tcp_v6_rcv()'s skb_checksum_init(skb, IPPROTO_TCP, ip6_compute_pseudo) then tcp_checksum_complete().</remarks>
    public bool VerifyChecksumV6(UInt128 saddr, UInt128 daddr) =>
        Wire.Checksum.TcpUdpV6(saddr, daddr, IpProto.TCP, Buffer) == 0;

    /// <summary>Fills the checksum over the IPv6 pseudo-header and the segment.</summary>
    /// <remarks>Mirrors tcp_v6_send_check() -> __tcp_v6_send_check() with the checksum computed in software.</remarks>
    public void FillChecksumV6(UInt128 saddr, UInt128 daddr)
    {
        Checksum = 0;
        Checksum = Wire.Checksum.TcpUdpV6(saddr, daddr, IpProto.TCP, Buffer);
    }

    /// <remarks>Mirrors tcp_v4_send_check() with the checksum computed in software.</remarks>
    public void FillChecksum(uint saddr, uint daddr)
    {
        Checksum = 0;
        Checksum = Wire.Checksum.TcpUdp(saddr, daddr, IpProto.TCP, Buffer);
    }
}

/// <summary>
/// The value form of a TCP header with its options, without the payload, so it can be stored and
/// compared in tests. Options are emitted in the kernel's layout (tcp_options_write()).
/// </summary>
internal record struct TcpRepr
{
    public ushort SrcPort;
    public ushort DstPort;
    public SeqNumber Seq;
    public SeqNumber Ack;
    public byte Flags;
    public ushort Window;
    public ushort UrgPtr;
    /// <summary>MSS option value; 0 when absent.</summary>
    public ushort Mss;
    /// <summary>Window scale shift; -1 when absent.</summary>
    public sbyte WindowScale;
    public bool SackPermitted;
    public TcpTimestamp? Timestamp;
    public TcpSackBlocks Sack;
    /// <summary>The Fast Open option (Len 0: a cookie request); null when absent.</summary>
    public TcpFastopenCookie? Fastopen;

    public TcpRepr(ushort srcPort, ushort dstPort, SeqNumber seq, SeqNumber ack, byte flags, ushort window)
    {
        SrcPort = srcPort;
        DstPort = dstPort;
        Seq = seq;
        Ack = ack;
        Flags = flags;
        Window = window;
        WindowScale = -1;
    }

    /// <summary>Reads a checked header and its options (options parsed as <see cref="TcpOptions.Parse"/> does).</summary>
    public static TcpRepr Parse(in TcpHeader h)
    {
        var r = new TcpRepr(h.SrcPort, h.DstPort, h.Seq, h.AckSeq, h.Flags, h.Window) { UrgPtr = h.UrgPtr };
        TcpOptions.Parse(h.Options, out var o);
        r.Mss = o.Mss;
        r.WindowScale = o.WindowScale;
        r.SackPermitted = o.SackPermitted;
        r.Timestamp = o.SawTimestamp ? new TcpTimestamp(o.TsVal, o.TsEcr) : null;
        r.Sack = o.Sack;
        r.Fastopen = o.SawFastopen ? o.Fastopen : null;
        return r;
    }

    public readonly TcpOptionsOut OptionsOut => new()
    {
        Mss = Mss,
        WindowScale = WindowScale,
        SackPermitted = SackPermitted,
        HasTimestamp = Timestamp.HasValue,
        TsVal = Timestamp?.TsVal ?? 0,
        TsEcr = Timestamp?.TsEcr ?? 0,
        Sack = Sack,
        HasFastopen = Fastopen.HasValue,
        Fastopen = Fastopen ?? default,
    };

    /// <summary>Header length including options, a multiple of 4.</summary>
    public readonly int HeaderLength => TcpHeader.MinLength + OptionsOut.Size;

    /// <summary>Writes the header and options (HeaderLength bytes). The checksum is left zero:
    /// the caller fills it once the payload follows (<see cref="TcpHeader.FillChecksum"/>).</summary>
    public readonly void Emit(TcpHeader h)
    {
        var opts = OptionsOut;
        int optLen = opts.Size;
        h.SrcPort = SrcPort;
        h.DstPort = DstPort;
        h.Seq = Seq.Value;
        h.AckSeq = Ack.Value;
        h.DataOffset = (TcpHeader.MinLength + optLen) / 4;
        h.Flags = Flags;
        h.Window = Window;
        h.Checksum = 0;
        h.UrgPtr = UrgPtr;
        opts.Write(h.Buffer.Slice(TcpHeader.MinLength, optLen));
    }

    public override readonly string ToString()
    {
        var s = $"{SrcPort} > {DstPort} [{TcpFlags.Format(Flags)}] seq {Seq} ack {Ack} win {Window}";
        if (Mss != 0) s += $" mss {Mss}";
        if (WindowScale >= 0) s += $" wscale {WindowScale}";
        if (SackPermitted) s += " sackOK";
        if (Fastopen is { } foc) s += " " + foc;
        if (Timestamp is { } ts) s += $" TS val {ts.TsVal} ecr {ts.TsEcr}";
        if (Sack.Count > 0) s += $" sack {Sack}";
        return s;
    }
}

/// <summary>The timestamps option's two values (RFC 7323).</summary>
internal readonly record struct TcpTimestamp(uint TsVal, uint TsEcr);
