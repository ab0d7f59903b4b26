using System.Buffers.Binary;
using System.Globalization;

namespace NetStack.Wire;

/// <summary>A 48-bit Ethernet address held in the low bits of a ulong (so it compares and hashes without allocation).</summary>
public readonly record struct MacAddress(ulong Value)
{
    /// <summary>ff:ff:ff:ff:ff:ff.</summary>
    public static readonly MacAddress Broadcast = new(0xFFFF_FFFF_FFFFUL);
    /// <summary>00:00:00:00:00:00 (no address).</summary>
    public static readonly MacAddress Zero = new(0);

    /// <summary>Reads the 6 bytes at the start of <paramref name="b"/> (network order, as in a frame).</summary>
    public static MacAddress Read(ReadOnlySpan<byte> b) =>
        new(((ulong)BinaryPrimitives.ReadUInt16BigEndian(b) << 32) | BinaryPrimitives.ReadUInt32BigEndian(b[2..]));

    /// <summary>Writes the address as 6 bytes at the start of <paramref name="b"/> (network order).</summary>
    public void Write(Span<byte> b)
    {
        BinaryPrimitives.WriteUInt16BigEndian(b, (ushort)(Value >> 32));
        BinaryPrimitives.WriteUInt32BigEndian(b[2..], (uint)Value);
    }

    /// <summary>True for ff:ff:ff:ff:ff:ff.</summary>
    public bool IsBroadcast => Value == 0xFFFF_FFFF_FFFFUL;
    /// <summary>The I/G bit of the first octet.</summary>
    public bool IsMulticast => ((Value >> 40) & 1) != 0;
    /// <summary>True for 00:00:00:00:00:00.</summary>
    public bool IsZero => Value == 0;

    /// <summary>Parses six 1–2 digit hex octets separated by ':' or '-' ("02:00:0a:07:00:02"); false if <paramref name="s"/> is not one.</summary>
    public static bool TryParse(string s, out MacAddress mac)
    {
        mac = default;
        var parts = s.Split(':', '-');
        if (parts.Length != 6) return false;
        ulong v = 0;
        foreach (var p in parts)
        {
            // AllowHexSpecifier alone: HexNumber would also accept surrounding whitespace (" f").
            if (p.Length is < 1 or > 2 || !byte.TryParse(p, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var b)) return false;
            v = (v << 8) | b;
        }
        mac = new MacAddress(v);
        return true;
    }

    /// <summary>Parses an address as <see cref="TryParse"/> does.</summary>
    /// <exception cref="FormatException"><paramref name="s"/> is not a MAC address.</exception>
    public static MacAddress Parse(string s) => TryParse(s, out var m) ? m : throw new FormatException($"bad MAC address '{s}'");

    /// <summary>The address as six lower-case hex octets separated by ':'.</summary>
    public override string ToString()
    {
        Span<byte> b = stackalloc byte[6];
        Write(b);
        return string.Create(CultureInfo.InvariantCulture, $"{b[0]:x2}:{b[1]:x2}:{b[2]:x2}:{b[3]:x2}:{b[4]:x2}:{b[5]:x2}");
    }
}
