using System.Globalization;

namespace NetStack.Wire;

/// <summary>
/// IPv4 addresses are plain <c>uint</c>s in host byte order inside the stack (cheap to compare,
/// hash and store); headers convert at the wire. These helpers parse and print them.
/// </summary>
internal static class Ipv4Address
{
    public const uint Any = 0;            // INADDR_ANY
    public const uint Broadcast = 0xFFFFFFFF; // INADDR_BROADCAST
    public const uint Loopback = 0x7F000001;

    public static bool TryParse(string? s, out uint addr)
    {
        addr = 0;
        if (s is null) return false;
        var parts = s.Split('.');
        if (parts.Length != 4) return false;
        foreach (var p in parts)
        {
            // inet_pton(): decimal only, no leading zeros ("010" would be octal 8 to inet_aton; reject, do not guess).
            if (p.Length is < 1 or > 3 || (p.Length > 1 && p[0] == '0') ||
                !byte.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out var b)) return false;
            addr = (addr << 8) | b;
        }
        return true;
    }

    public static uint Parse(string s) => TryParse(s, out var a) ? a : throw new FormatException($"bad IPv4 address '{s}'");

    /// <summary>Parses "a.b.c.d/len".</summary>
    public static bool TryParseCidr(string s, out uint addr, out int prefixLen)
    {
        prefixLen = 32;
        int slash = s.IndexOf('/');
        if (slash < 0) return TryParse(s, out addr);
        if (!TryParse(s[..slash], out addr)) return false;
        return int.TryParse(s[(slash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out prefixLen) && prefixLen is >= 0 and <= 32;
    }

    public static string Format(uint a) =>
        string.Create(CultureInfo.InvariantCulture, $"{a >> 24}.{(a >> 16) & 0xFF}.{(a >> 8) & 0xFF}.{a & 0xFF}");

    public static uint PrefixMask(int prefixLen) => prefixLen == 0 ? 0u : 0xFFFFFFFFu << (32 - prefixLen);

    /// <remarks>Mirrors ipv4_is_multicast().</remarks>
    public static bool IsMulticast(uint a) => (a & 0xF0000000) == 0xE0000000;
    /// <remarks>Mirrors ipv4_is_lbcast().</remarks>
    public static bool IsLimitedBroadcast(uint a) => a == Broadcast;
    /// <remarks>Mirrors ipv4_is_zeronet().</remarks>
    public static bool IsZeroNet(uint a) => (a & 0xFF000000) == 0;
    /// <remarks>Mirrors ipv4_is_loopback().</remarks>
    public static bool IsLoopback(uint a) => (a & 0xFF000000) == 0x7F000000;
}
