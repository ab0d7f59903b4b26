using System.Buffers.Binary;

namespace NetStack.Wire;

/// <summary>Neighbour discovery option types (include/net/ndisc.h ND_OPT_*, RFC 4861 4.6).</summary>
internal static class NdOpt
{
    public const byte SourceLlAddr = 1;
    public const byte TargetLlAddr = 2;
    public const byte PrefixInfo = 3;
    public const byte RedirectHdr = 4;
    public const byte Mtu = 5;
    public const byte Nonce = 14;
    public const byte RouteInfo = 24;
    public const byte Rdnss = 25;
    public const byte Dnssl = 31;
    public const byte CaptivePortal = 37;
    public const byte Pref64 = 38;

    /// <summary>The link-layer address option of a 6-byte address: 2 + 6 bytes, one 8-byte unit (NDISC_OPT_SPACE(ETH_ALEN)).</summary>
    public const int EthLlAddrSpace = 8;

    /// <summary>Prefix information flags (struct prefix_info): on-link, autonomous (SLAAC).</summary>
    public const byte PrefixOnLink = 0x80, PrefixAutoconf = 0x40;
}

/// <summary>
/// The options of a neighbour discovery message, as offsets into the option area (0 = absent),
/// so parsing allocates nothing.
/// </summary>
/// <remarks>Mirrors struct ndisc_options: the first of each single-instance option, the first and
/// last prefix information and route information options, the first and last user option.</remarks>
internal struct NdiscOptions
{
    public int SourceLlAddr, TargetLlAddr, Mtu, Nonce, RedirectHdr;
    public int PrefixInfoFirst, PrefixInfoLast;
    public int RouteInfoFirst, RouteInfoLast;
    public int UserOptFirst, UserOptLast;
    /// <summary>Single-instance options seen again (the kernel logs "duplicated ND6 option found" and keeps the first).</summary>
    public int Duplicates;
    /// <summary>Options of a type the stack does not use (ignored, as the kernel ignores them).</summary>
    public int Unsupported;

    /// <summary>
    /// Walks the options; false when the area is malformed (an option shorter than its header, a
    /// zero length, or a length past the end), in which case the kernel drops the whole message.
    /// Offsets are stored plus one so 0 means absent.
    /// </summary>
    /// <remarks>Mirrors ndisc_parse_options() (ndisc_is_useropt: RDNSS, DNSSL, captive portal, PREF64).</remarks>
    public static bool Parse(ReadOnlySpan<byte> opts, out NdiscOptions o)
    {
        o = default;
        int off = 0;
        while (off < opts.Length)
        {
            if (opts.Length - off < 2) return false;
            int l = opts[off + 1] << 3;
            if (l == 0 || opts.Length - off < l) return false;
            byte type = opts[off];
            switch (type)
            {
                case NdOpt.SourceLlAddr: Keep(ref o.SourceLlAddr, off, ref o.Duplicates); break;
                case NdOpt.TargetLlAddr: Keep(ref o.TargetLlAddr, off, ref o.Duplicates); break;
                case NdOpt.Mtu: Keep(ref o.Mtu, off, ref o.Duplicates); break;
                case NdOpt.Nonce: Keep(ref o.Nonce, off, ref o.Duplicates); break;
                case NdOpt.RedirectHdr: Keep(ref o.RedirectHdr, off, ref o.Duplicates); break;
                case NdOpt.PrefixInfo:
                    o.PrefixInfoLast = off + 1;
                    if (o.PrefixInfoFirst == 0) o.PrefixInfoFirst = off + 1;
                    break;
                case NdOpt.RouteInfo:
                    o.RouteInfoLast = off + 1;
                    if (o.RouteInfoFirst == 0) o.RouteInfoFirst = off + 1;
                    break;
                case NdOpt.Rdnss or NdOpt.Dnssl or NdOpt.CaptivePortal or NdOpt.Pref64:
                    o.UserOptLast = off + 1;
                    if (o.UserOptFirst == 0) o.UserOptFirst = off + 1;
                    break;
                default: o.Unsupported++; break;
            }
            off += l;
        }
        return true;
    }

    private static void Keep(ref int slot, int off, ref int duplicates)
    {
        if (slot != 0) duplicates++;
        else slot = off + 1;
    }

    /// <summary>
    /// The Ethernet address in a link-layer address option stored at <paramref name="slot"/>
    /// (an offset plus one), or false when absent or not exactly one 8-byte unit long.
    /// </summary>
    /// <remarks>Mirrors ndisc_opt_addr_data(): the option's length must equal ndisc_opt_addr_space().</remarks>
    public static bool TryLlAddr(ReadOnlySpan<byte> opts, int slot, out MacAddress mac)
    {
        mac = default;
        if (slot == 0) return false;
        int off = slot - 1;
        if (opts[off + 1] << 3 != NdOpt.EthLlAddrSpace) return false;
        mac = MacAddress.Read(opts[(off + 2)..]);
        return true;
    }

    /// <summary>The 48-bit nonce of the option at <paramref name="slot"/>, or false when absent or not one 8-byte unit.</summary>
    /// <remarks>As ndisc_recv_ns() reads nd_opts_nonce (RFC 3971 5.3.2).</remarks>
    public static bool TryNonce(ReadOnlySpan<byte> opts, int slot, out ulong nonce)
    {
        nonce = 0;
        if (slot == 0) return false;
        int off = slot - 1;
        if (opts[off + 1] != 1) return false;
        for (int i = 0; i < 6; i++) nonce = (nonce << 8) | opts[off + 2 + i];
        return true;
    }

    /// <summary>Writes a nonce option (8 bytes) holding the low 48 bits of <paramref name="nonce"/>.</summary>
    public static int WriteNonce(Span<byte> p, ulong nonce)
    {
        p[0] = NdOpt.Nonce;
        p[1] = 1;
        for (int i = 0; i < 6; i++) p[2 + i] = (byte)(nonce >> (40 - 8 * i));
        return 8;
    }

    /// <summary>Writes a link-layer address option of <paramref name="type"/> (8 bytes) and returns its length.</summary>
    /// <remarks>Mirrors ndisc_fill_addr_option() for Ethernet (no padding).</remarks>
    public static int WriteLlAddr(Span<byte> p, byte type, MacAddress mac)
    {
        p[0] = type;
        p[1] = NdOpt.EthLlAddrSpace >> 3;
        mac.Write(p[2..]);
        return NdOpt.EthLlAddrSpace;
    }
}

/// <summary>A prefix information option view (struct prefix_info, 32 bytes, RFC 4861 4.6.2).</summary>
internal readonly ref struct NdPrefixInfo
{
    public const int Length = 32;
    public readonly ReadOnlySpan<byte> Buffer;
    private NdPrefixInfo(ReadOnlySpan<byte> b) => Buffer = b;

    /// <summary>A view of the option at <paramref name="slot"/> (offset plus one); false when it is not 32 bytes.</summary>
    /// <remarks>As addrconf_prefix_rcv()'s first check ("addrconf: prefix option too short").</remarks>
    public static bool TryCreate(ReadOnlySpan<byte> opts, int slot, out NdPrefixInfo pi)
    {
        pi = default;
        if (slot == 0) return false;
        int off = slot - 1;
        if (opts[off + 1] << 3 < Length) return false;
        pi = new NdPrefixInfo(opts.Slice(off, Length));
        return true;
    }

    public int PrefixLength => Buffer[2];
    public bool OnLink => (Buffer[3] & NdOpt.PrefixOnLink) != 0;
    public bool Autoconf => (Buffer[3] & NdOpt.PrefixAutoconf) != 0;
    /// <summary>Valid lifetime in seconds (0xFFFFFFFF: infinite).</summary>
    public uint ValidLifetime => BinaryPrimitives.ReadUInt32BigEndian(Buffer[4..]);
    /// <summary>Preferred lifetime in seconds (0xFFFFFFFF: infinite).</summary>
    public uint PreferredLifetime => BinaryPrimitives.ReadUInt32BigEndian(Buffer[8..]);
    public UInt128 Prefix => Ipv6Address.Read(Buffer[16..]);
}

/// <summary>
/// The fixed parts of neighbour discovery messages after the ICMPv6 header (RFC 4861 4): where
/// the target address and the options start in each.
/// </summary>
internal static class NdMsg
{
    /// <summary>struct nd_msg: icmp6hdr, target address, options (NS and NA).</summary>
    public const int NsNaTarget = 8, NsNaOptions = 24;
    /// <summary>struct rs_msg: icmp6hdr, options.</summary>
    public const int RsOptions = 8;
    /// <summary>struct ra_msg: icmp6hdr (hop limit, M/O flags, router lifetime), reachable time, retrans timer, options.</summary>
    public const int RaReachable = 8, RaRetrans = 12, RaOptions = 16;
    /// <summary>struct rd_msg: icmp6hdr, target, destination, options.</summary>
    public const int RdTarget = 8, RdDest = 24, RdOptions = 40;

    /// <summary>RA flags in the byte after the current hop limit: managed, other configuration.</summary>
    public const byte RaManaged = 0x80, RaOther = 0x40;

    public static byte RaCurHopLimit(ReadOnlySpan<byte> msg) => msg[4];
    public static byte RaFlags(ReadOnlySpan<byte> msg) => msg[5];
    /// <summary>Router lifetime in seconds (0: not a default router).</summary>
    public static ushort RaRouterLifetime(ReadOnlySpan<byte> msg) => BinaryPrimitives.ReadUInt16BigEndian(msg[6..]);
    public static uint RaReachableTime(ReadOnlySpan<byte> msg) => BinaryPrimitives.ReadUInt32BigEndian(msg[RaReachable..]);
    public static uint RaRetransTimer(ReadOnlySpan<byte> msg) => BinaryPrimitives.ReadUInt32BigEndian(msg[RaRetrans..]);
    public static UInt128 Target(ReadOnlySpan<byte> msg) => Ipv6Address.Read(msg[NsNaTarget..]);
}
