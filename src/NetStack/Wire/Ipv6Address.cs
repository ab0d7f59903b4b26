using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace NetStack.Wire;

/// <summary>
/// IPv6 addresses are plain <see cref="UInt128"/>s in host byte order inside the stack, as IPv4
/// addresses are <c>uint</c>s (compare, hash and mask without allocation); headers convert at the
/// wire. These helpers read, write, parse, print and classify them (include/net/ipv6.h,
/// net/ipv6/addrconf_core.c).
/// </summary>
internal static class Ipv6Address
{
    /// <summary>:: (in6addr_any).</summary>
    public static readonly UInt128 Any = UInt128.Zero;
    /// <summary>::1 (in6addr_loopback).</summary>
    public static readonly UInt128 Loopback = UInt128.One;
    /// <summary>ff02::1, all nodes on the link (in6addr_linklocal_allnodes).</summary>
    public static readonly UInt128 AllNodes = new(0xff02_0000_0000_0000, 1);
    /// <summary>ff02::2, all routers on the link (in6addr_linklocal_allrouters).</summary>
    public static readonly UInt128 AllRouters = new(0xff02_0000_0000_0000, 2);
    /// <summary>ff02::16, where MLDv2 reports go (in6addr_linklocal_allv2routers, RFC 3810 5.2.14).</summary>
    public static readonly UInt128 AllMldv2Routers = new(0xff02_0000_0000_0000, 0x16);

    /// <summary>Reads 16 bytes in network order.</summary>
    public static UInt128 Read(ReadOnlySpan<byte> b) =>
        new(BinaryPrimitives.ReadUInt64BigEndian(b), BinaryPrimitives.ReadUInt64BigEndian(b[8..]));

    /// <summary>Writes 16 bytes in network order.</summary>
    public static void Write(Span<byte> b, UInt128 a)
    {
        BinaryPrimitives.WriteUInt64BigEndian(b, (ulong)(a >> 64));
        BinaryPrimitives.WriteUInt64BigEndian(b[8..], (ulong)a);
    }

    /// <summary>The 16-bit group <paramref name="i"/> (0 is the leftmost).</summary>
    public static ushort Group(UInt128 a, int i) => (ushort)(a >> (112 - 16 * i));

    /// <summary>A mask of <paramref name="prefixLen"/> leading one bits.</summary>
    public static UInt128 PrefixMask(int prefixLen) =>
        prefixLen <= 0 ? UInt128.Zero : prefixLen >= 128 ? UInt128.MaxValue : UInt128.MaxValue << (128 - prefixLen);

    /// <remarks>Mirrors ipv6_prefix_equal().</remarks>
    public static bool PrefixEqual(UInt128 a, UInt128 b, int prefixLen) => ((a ^ b) & PrefixMask(prefixLen)) == 0;

    /// <summary>::ffff:a.b.c.d, the v4-mapped form a dual-stack socket sees an IPv4 peer as (ipv6_addr_set_v4mapped).</summary>
    public static UInt128 V4Mapped(uint v4) => new(0, 0x0000_ffff_0000_0000UL | v4);

    /// <remarks>Mirrors ipv6_addr_v4mapped().</remarks>
    public static bool IsV4Mapped(UInt128 a) => (a >> 32) == 0xffff;

    /// <summary>The IPv4 address inside a v4-mapped address.</summary>
    public static uint V4Of(UInt128 a) => (uint)a;

    /// <remarks>Mirrors ipv6_addr_is_multicast().</remarks>
    public static bool IsMulticast(UInt128 a) => (a >> 120) == 0xff;

    /// <remarks>Mirrors ipv6_addr_is_ll_all_nodes().</remarks>
    public static bool IsLinkLocalAllNodes(UInt128 a) => a == AllNodes;

    /// <summary>fe80::/10.</summary>
    public static bool IsLinkLocal(UInt128 a) => (a >> 118) == (0xfe80 >> 6);

    /// <summary>The scope of a multicast address: its 4 low bits of the second byte (IPV6_ADDR_MC_SCOPE).</summary>
    public static int MulticastScope(UInt128 a) => (int)(a >> 112) & 0xF;

    /// <summary>ff02::1:ffXX:XXXX, the solicited-node group of an address (addrconf_addr_solict_mult).</summary>
    public static UInt128 SolicitedNode(UInt128 a) => new(0xff02_0000_0000_0000, 0x0000_0001_ff00_0000UL | ((ulong)a & 0x00ff_ffff));

    /// <remarks>Mirrors ipv6_addr_is_solict_mult().</remarks>
    public static bool IsSolicitedNode(UInt128 a) => (a >> 24) == (new UInt128(0xff02_0000_0000_0000, 0x0000_0001_ff00_0000UL) >> 24);

    /// <summary>33:33 and the group's low 32 bits: the Ethernet address a multicast group is sent to.</summary>
    /// <remarks>Mirrors ipv6_eth_mc_map() (RFC 2464 7).</remarks>
    public static MacAddress EthMcMap(UInt128 group) => new(0x3333_0000_0000UL | (uint)group);

    /// <summary>
    /// The modified EUI-64 interface identifier of a MAC: ff:fe in the middle, the universal/local
    /// bit flipped (RFC 4291 appendix A).
    /// </summary>
    /// <remarks>Mirrors addrconf_ifid_eui48() (addr_gen_mode 0, the kernel's default, which SLAAC and the link-local use).</remarks>
    public static ulong Eui64(MacAddress mac)
    {
        ulong m = mac.Value;
        ulong hi = (m >> 24) & 0xFF_FFFF, lo = m & 0xFF_FFFF;
        ulong id = hi << 40 | 0xFF_FEUL << 24 | lo;
        return id ^ 0x0200_0000_0000_0000UL;
    }

    /// <summary>fe80::/64 with the interface identifier of <paramref name="mac"/> (addrconf_addr_gen for a link-local).</summary>
    public static UInt128 LinkLocal(MacAddress mac) => new(0xfe80_0000_0000_0000, Eui64(mac));

    /// <summary>
    /// Parses the text forms of RFC 4291 2.2: eight groups of 1-4 hex digits, one "::" standing for
    /// one or more zero groups, and an IPv4 dotted quad as the last 32 bits. As inet_pton(AF_INET6):
    /// no zone ("%eth0"), no brackets, no prefix length.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<char> s, out UInt128 addr)
    {
        addr = UInt128.Zero;
        Span<ushort> g = stackalloc ushort[8];
        int n = 0, gap = -1, i = 0;
        if (s.Length < 2) return false;
        if (s[0] == ':')
        {
            if (s[1] != ':') return false;
            gap = 0;
            i = 2;
            if (s.Length == 2) return true; // "::"
        }
        while (i < s.Length)
        {
            if (n == 8) return false;
            int start = i;
            while (i < s.Length && i - start < 5 && Uri.IsHexDigit(s[i])) i++;
            if (i < s.Length && s[i] == '.')
            {
                // A dotted quad ends the address and takes two groups.
                if (n > 6 || !Ipv4Address.TryParse(s[start..].ToString(), out uint v4)) return false;
                g[n++] = (ushort)(v4 >> 16);
                g[n++] = (ushort)v4;
                i = s.Length;
                break;
            }
            int len = i - start;
            if (len is 0 or > 4) return false;
            g[n++] = ushort.Parse(s[start..i], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
            if (i == s.Length) break;
            if (s[i] != ':') return false;
            i++;
            if (i < s.Length && s[i] == ':')
            {
                if (gap >= 0) return false; // a second "::"
                gap = n;
                i++;
                if (i == s.Length) break;
            }
            else if (i == s.Length) return false; // a trailing single ':'
        }
        if (gap < 0 && n != 8) return false;
        if (gap >= 0 && n == 8) return false; // "::" must stand for at least one group
        UInt128 v = UInt128.Zero;
        int zeros = 8 - n;
        for (int k = 0, src = 0; k < 8; k++)
        {
            ushort w = gap >= 0 && k >= gap && k < gap + zeros ? (ushort)0 : g[src++];
            v = v << 16 | w;
        }
        addr = v;
        return true;
    }

    public static UInt128 Parse(string s) => TryParse(s, out var a) ? a : throw new FormatException($"bad IPv6 address '{s}'");

    /// <summary>Parses "addr/len" (len 0-128; 128 without one).</summary>
    public static bool TryParseCidr(string s, out UInt128 addr, out int prefixLen)
    {
        prefixLen = 128;
        int slash = s.IndexOf('/');
        if (slash < 0) return TryParse(s, out addr);
        if (!TryParse(s.AsSpan(0, slash), out addr)) return false;
        return int.TryParse(s.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out prefixLen) && prefixLen is >= 0 and <= 128;
    }

    /// <summary>
    /// The text form inet_ntop(AF_INET6) prints, which ip, ss and ping show (RFC 5952's canonical
    /// form): lowercase, no leading zeros, the longest run of two or more zero groups (the first of
    /// equal runs) as "::", and the last 32 bits as a dotted quad when the first 96 bits are zero
    /// (an IPv4-compatible address) or are ::ffff (v4-mapped), as glibc's inet_ntop6 does.
    /// </summary>
    public static string Format(UInt128 a)
    {
        int bestStart = -1, bestLen = 0;
        for (int k = 0; k < 8;)
        {
            if (Group(a, k) != 0) { k++; continue; }
            int start = k;
            while (k < 8 && Group(a, k) == 0) k++;
            if (k - start > bestLen) { bestStart = start; bestLen = k - start; }
        }
        if (bestLen < 2) bestStart = -1;
        var sb = new StringBuilder(45);
        for (int k = 0; k < 8; k++)
        {
            if (bestStart >= 0 && k >= bestStart && k < bestStart + bestLen)
            {
                if (k == bestStart) sb.Append(':');
                continue;
            }
            if (k != 0) sb.Append(':');
            if (k == 6 && bestStart == 0 && (bestLen == 6 || (bestLen == 5 && Group(a, 5) == 0xffff)))
            {
                sb.Append(Ipv4Address.Format((uint)a));
                return sb.ToString();
            }
            sb.Append(Group(a, k).ToString("x", CultureInfo.InvariantCulture));
        }
        if (bestStart >= 0 && bestStart + bestLen == 8) sb.Append(':');
        return sb.ToString();
    }
}
