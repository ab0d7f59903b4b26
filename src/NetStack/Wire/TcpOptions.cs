using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace NetStack.Wire;

/// <summary>TCP option kinds and lengths (include/net/tcp.h: TCPOPT_*, TCPOLEN_*).</summary>
internal static class TcpOpt
{
    public const byte EOL = 0;
    public const byte NOP = 1;
    public const byte MSS = 2;
    public const byte WINDOW = 3;
    public const byte SACK_PERM = 4;
    public const byte SACK = 5;
    public const byte TIMESTAMP = 8;
    /// <summary>TCPOPT_FASTOPEN (RFC 7413) and TCPOPT_EXP, which carries the pre-RFC Fast Open option after the magic 0xF989.</summary>
    public const byte FASTOPEN = 34, EXP = 254;
    public const ushort FastopenMagic = 0xF989;
    /// <summary>TCPOLEN_FASTOPEN_BASE / TCPOLEN_EXP_FASTOPEN_BASE; TCP_FASTOPEN_COOKIE_MIN / MAX.</summary>
    public const int LenFastopenBase = 2, LenExpFastopenBase = 4, FastopenCookieMin = 4, FastopenCookieMax = 16;

    public const int LenMss = 4;
    public const int LenWindow = 3;
    public const int LenSackPerm = 2;
    public const int LenTimestamp = 10;
    public const int LenSackBase = 2;
    public const int LenSackPerBlock = 8;

    /// <summary>TCP_MAX_WSCALE (RFC 7323 2.3: shifts above 14 are treated as 14).</summary>
    public const int MaxWscale = 14;
    /// <summary>Aligned sizes as the kernel emits them (TCPOLEN_*_ALIGNED).</summary>
    public const int LenMssAligned = 4, LenTstampAligned = 12, LenWscaleAligned = 4, LenSackPermAligned = 4, LenSackBaseAligned = 4;
    /// <summary>Room in a 40-byte option space for SACK blocks: 4 without timestamps, 3 with.</summary>
    public const int MaxSackBlocks = 4;
}

/// <summary>The bytes of a Fast Open cookie (TCP_FASTOPEN_COOKIE_MAX), by value.</summary>
[InlineArray(TcpOpt.FastopenCookieMax)]
internal struct TcpFastopenCookieBytes
{
    private byte _e0;
}

/// <summary>
/// A Fast Open cookie: Len -1 means none (no option), 0 a cookie request, 4..16 a cookie; Exp marks
/// the experimental option (kind 254 with magic 0xF989).
/// </summary>
/// <remarks>Mirrors include/net/tcp.h: struct tcp_fastopen_cookie.</remarks>
internal struct TcpFastopenCookie : IEquatable<TcpFastopenCookie>
{
    public TcpFastopenCookieBytes Val;
    public sbyte Len;
    public bool Exp;

    public static TcpFastopenCookie None => new() { Len = -1 };

    [System.Diagnostics.CodeAnalysis.UnscopedRef]
    public readonly ReadOnlySpan<byte> Bytes => Len > 0 ? ((ReadOnlySpan<byte>)Val)[..Len] : default;

    /// <remarks>Mirrors tcp_fastopen_cookie_match().</remarks>
    public readonly bool Matches(in TcpFastopenCookie other) =>
        Len > 0 && Len == other.Len && Bytes.SequenceEqual(other.Bytes);

    /// <summary>The same option: length, form and bytes.</summary>
    public readonly bool Equals(TcpFastopenCookie other) => Len == other.Len && Exp == other.Exp && Bytes.SequenceEqual(other.Bytes);
    public override readonly bool Equals(object? obj) => obj is TcpFastopenCookie c && Equals(c);
    public override readonly int GetHashCode() => HashCode.Combine(Len, Exp);
    public override readonly string ToString() =>
        (Exp ? "exp-tfo" : "tfo") + (Len < 0 ? " none" : Len == 0 ? " cookiereq" : " cookie " + Convert.ToHexString(Bytes).ToLowerInvariant());

    /// <summary>A cookie from its bytes (empty: a cookie request).</summary>
    public static TcpFastopenCookie From(ReadOnlySpan<byte> bytes, bool exp = false)
    {
        var c = new TcpFastopenCookie { Len = (sbyte)bytes.Length, Exp = exp };
        bytes.CopyTo(c.Val);
        return c;
    }
}

/// <summary>One SACK block: [Start, End) in sequence space.</summary>
internal readonly record struct SackBlock(uint Start, uint End)
{
    public override string ToString() => $"{{{Start}:{End}}}";
}

/// <summary>Up to four SACK blocks by value (the option's room), comparable and copyable.</summary>
internal record struct TcpSackBlocks
{
    public SackBlock B0, B1, B2, B3;
    public int Count;

    public readonly SackBlock this[int i] => i switch
    {
        0 when Count > 0 => B0,
        1 when Count > 1 => B1,
        2 when Count > 2 => B2,
        3 when Count > 3 => B3,
        _ => throw new ArgumentOutOfRangeException(nameof(i)),
    };

    /// <summary>Appends a block; false when four are already there.</summary>
    public bool Add(SackBlock b)
    {
        switch (Count)
        {
            case 0: B0 = b; break;
            case 1: B1 = b; break;
            case 2: B2 = b; break;
            case 3: B3 = b; break;
            default: return false;
        }
        Count++;
        return true;
    }

    public override readonly string ToString()
    {
        var s = "";
        for (int i = 0; i < Count; i++) s += this[i].ToString();
        return s;
    }
}

/// <summary>
/// What the options of one received segment say, before the connection's rules decide which of
/// them count (MSS, window scale and SACK-permitted only on a SYN; timestamps only when
/// negotiated...: those rules live in TcpInput.ParseOptions, as tcp_parse_options() applies them).
/// </summary>
internal struct TcpOptionsParsed
{
    /// <summary>MSS value; 0 when absent (a zero MSS is ignored as the kernel does).</summary>
    public ushort Mss;
    /// <summary>Window scale, clamped to 14; -1 when absent.</summary>
    public sbyte WindowScale;
    public bool SackPermitted;
    public bool SawTimestamp;
    public uint TsVal, TsEcr;
    public TcpSackBlocks Sack;
    /// <summary>An option kind this parser does not know was present (saw_unknown).</summary>
    public bool SawUnknown;
    /// <summary>A Fast Open option was present (its cookie in <see cref="Fastopen"/>: Len 0 a request, -1 a bad length).</summary>
    public bool SawFastopen;
    public TcpFastopenCookie Fastopen;
}

/// <summary>The options to put on an outgoing segment (struct tcp_out_options).</summary>
internal struct TcpOptionsOut
{
    public ushort Mss;
    public bool SackPermitted;
    public bool HasTimestamp;
    public uint TsVal, TsEcr;
    public TcpSackBlocks Sack;
    /// <summary>OPTION_FAST_OPEN_COOKIE: the Fast Open option (a request when the cookie is empty).</summary>
    public bool HasFastopen;
    public TcpFastopenCookie Fastopen;

    /// <summary>The Fast Open option's room, aligned to 4 bytes.</summary>
    public static int FastopenSize(in TcpFastopenCookie c) => (c.Len + (c.Exp ? TcpOpt.LenExpFastopenBase : TcpOpt.LenFastopenBase) + 3) & ~3;

    // Stored plus one so that `default` means "no window scale option": a zeroed value (a RST
    // built with `default`) must not grow a window-scale option by accident.
    private sbyte _wscalePlusOne;

    /// <summary>The window-scale shift to send, or -1 for no option.</summary>
    public sbyte WindowScale
    {
        readonly get => (sbyte)(_wscalePlusOne - 1);
        set => _wscalePlusOne = (sbyte)(value + 1);
    }

    /// <summary>The bytes these options take in the kernel's layout (always a multiple of 4).</summary>
    public readonly int Size
    {
        get
        {
            int size = 0;
            if (Mss != 0) size += TcpOpt.LenMssAligned;
            if (HasTimestamp) size += TcpOpt.LenTstampAligned;
            else if (SackPermitted) size += TcpOpt.LenSackPermAligned;
            if (WindowScale >= 0) size += TcpOpt.LenWscaleAligned;
            if (Sack.Count > 0) size += TcpOpt.LenSackBaseAligned + Sack.Count * TcpOpt.LenSackPerBlock;
            if (HasFastopen) size += FastopenSize(Fastopen);
            return size;
        }
    }

    /// <summary>Writes the options into exactly <see cref="Size"/> bytes.</summary>
    /// <remarks>Mirrors net/ipv4/tcp_output.c: tcp_options_write(): MSS, then SACK-permitted packed
    /// with the timestamp (or NOP NOP + timestamp, or NOP NOP + SACK-permitted), then NOP + window
    /// scale, then NOP NOP + SACK blocks.</remarks>
    public readonly void Write(Span<byte> p)
    {
        int i = 0;
        if (Mss != 0)
        {
            BinaryPrimitives.WriteUInt32BigEndian(p[i..], (uint)(TcpOpt.MSS << 24 | TcpOpt.LenMss << 16 | Mss));
            i += 4;
        }
        if (HasTimestamp)
        {
            uint lead = SackPermitted
                ? (uint)(TcpOpt.SACK_PERM << 24 | TcpOpt.LenSackPerm << 16 | TcpOpt.TIMESTAMP << 8 | TcpOpt.LenTimestamp)
                : (uint)(TcpOpt.NOP << 24 | TcpOpt.NOP << 16 | TcpOpt.TIMESTAMP << 8 | TcpOpt.LenTimestamp);
            BinaryPrimitives.WriteUInt32BigEndian(p[i..], lead);
            BinaryPrimitives.WriteUInt32BigEndian(p[(i + 4)..], TsVal);
            BinaryPrimitives.WriteUInt32BigEndian(p[(i + 8)..], TsEcr);
            i += 12;
        }
        else if (SackPermitted)
        {
            BinaryPrimitives.WriteUInt32BigEndian(p[i..], (uint)(TcpOpt.NOP << 24 | TcpOpt.NOP << 16 | TcpOpt.SACK_PERM << 8 | TcpOpt.LenSackPerm));
            i += 4;
        }
        if (WindowScale >= 0)
        {
            BinaryPrimitives.WriteUInt32BigEndian(p[i..], (uint)(TcpOpt.NOP << 24 | TcpOpt.WINDOW << 16 | TcpOpt.LenWindow << 8 | (byte)WindowScale));
            i += 4;
        }
        if (Sack.Count > 0)
        {
            BinaryPrimitives.WriteUInt32BigEndian(p[i..], (uint)(TcpOpt.NOP << 24 | TcpOpt.NOP << 16 | TcpOpt.SACK << 8 | (TcpOpt.LenSackBase + Sack.Count * TcpOpt.LenSackPerBlock)));
            i += 4;
            for (int b = 0; b < Sack.Count; b++)
            {
                BinaryPrimitives.WriteUInt32BigEndian(p[i..], Sack[b].Start);
                BinaryPrimitives.WriteUInt32BigEndian(p[(i + 4)..], Sack[b].End);
                i += 8;
            }
        }
        if (HasFastopen)
        {
            // Kind 34 and length, or kind 254, length and the magic; then the cookie, NOP-padded.
            int len = Fastopen.Len > 0 ? Fastopen.Len : 0;
            int optLen;
            if (Fastopen.Exp)
            {
                optLen = TcpOpt.LenExpFastopenBase + len;
                BinaryPrimitives.WriteUInt32BigEndian(p[i..], (uint)(TcpOpt.EXP << 24 | optLen << 16 | TcpOpt.FastopenMagic));
                Fastopen.Bytes.CopyTo(p[(i + 4)..]);
            }
            else
            {
                optLen = TcpOpt.LenFastopenBase + len;
                p[i] = TcpOpt.FASTOPEN;
                p[i + 1] = (byte)optLen;
                Fastopen.Bytes.CopyTo(p[(i + 2)..]);
            }
            if ((optLen & 3) == 2)
            {
                p[i + optLen] = TcpOpt.NOP;
                p[i + optLen + 1] = TcpOpt.NOP;
            }
            i += (optLen + 3) & ~3;
        }
    }
}

/// <summary>TCP option parsing. <remarks>Mirrors net/ipv4/tcp_input.c: tcp_parse_options() (the wire part).</remarks></summary>
internal static class TcpOptions
{
    /// <summary>
    /// Walks the option bytes with the kernel's robustness rules: EOL ends the list; NOP is one
    /// byte; any other kind needs a length byte, a length of at least 2 and no more than what is
    /// left, else parsing stops (a partial or "silly" option ends the walk, what was read so far
    /// stands); a known kind with the wrong length is skipped.
    /// </summary>
    public static void Parse(ReadOnlySpan<byte> options, out TcpOptionsParsed o)
    {
        o = default;
        o.WindowScale = -1;
        int i = 0, length = options.Length;
        while (length > 0)
        {
            byte opcode = options[i++];
            if (opcode == TcpOpt.EOL) return;
            if (opcode == TcpOpt.NOP) { length--; continue; }
            if (length < 2) return;
            int opsize = options[i++];
            if (opsize < 2) return;     // "silly options"
            if (opsize > length) return; // don't parse partial options
            var body = options.Slice(i, opsize - 2);
            switch (opcode)
            {
                case TcpOpt.MSS:
                    if (opsize == TcpOpt.LenMss) o.Mss = BinaryPrimitives.ReadUInt16BigEndian(body);
                    break;
                case TcpOpt.WINDOW:
                    if (opsize == TcpOpt.LenWindow) o.WindowScale = (sbyte)Math.Min(body[0], (byte)TcpOpt.MaxWscale);
                    break;
                case TcpOpt.TIMESTAMP:
                    if (opsize == TcpOpt.LenTimestamp)
                    {
                        o.SawTimestamp = true;
                        o.TsVal = BinaryPrimitives.ReadUInt32BigEndian(body);
                        o.TsEcr = BinaryPrimitives.ReadUInt32BigEndian(body[4..]);
                    }
                    break;
                case TcpOpt.SACK_PERM:
                    if (opsize == TcpOpt.LenSackPerm) o.SackPermitted = true;
                    break;
                case TcpOpt.SACK:
                    if (opsize >= TcpOpt.LenSackBase + TcpOpt.LenSackPerBlock &&
                        (opsize - TcpOpt.LenSackBase) % TcpOpt.LenSackPerBlock == 0)
                    {
                        o.Sack = default;
                        for (int b = 0; b + 8 <= body.Length; b += 8)
                            if (!o.Sack.Add(new SackBlock(BinaryPrimitives.ReadUInt32BigEndian(body[b..]), BinaryPrimitives.ReadUInt32BigEndian(body[(b + 4)..]))))
                                break;
                    }
                    break;
                case TcpOpt.FASTOPEN:
                    ParseFastopen(body, exp: false, ref o);
                    break;
                case TcpOpt.EXP:
                    // The Fast Open option shares kind 254 behind a 16-bit magic.
                    if (opsize >= TcpOpt.LenExpFastopenBase && BinaryPrimitives.ReadUInt16BigEndian(body) == TcpOpt.FastopenMagic)
                        ParseFastopen(body[2..], exp: true, ref o);
                    else
                        o.SawUnknown = true;
                    break;
                default:
                    o.SawUnknown = true;
                    break;
            }
            i += opsize - 2;
            length -= opsize;
        }
    }

    /// <summary>An even length of 4..16 is a cookie, 0 a request, anything else is kept as an invalid cookie (Len -1); an odd length is ignored.</summary>
    /// <remarks>Mirrors tcp_parse_fastopen_option() (the SYN-only rule is TcpParseOptions').</remarks>
    private static void ParseFastopen(ReadOnlySpan<byte> cookie, bool exp, ref TcpOptionsParsed o)
    {
        int len = cookie.Length;
        if ((len & 1) != 0) return;
        var foc = new TcpFastopenCookie { Exp = exp };
        if (len >= TcpOpt.FastopenCookieMin && len <= TcpOpt.FastopenCookieMax) cookie.CopyTo(foc.Val);
        else if (len != 0) len = -1;
        foc.Len = (sbyte)len;
        o.Fastopen = foc;
        o.SawFastopen = true;
    }
}
