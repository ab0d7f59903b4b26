using System.Globalization;

namespace NetStack.Services.Iperf3;

/// <summary>
/// iperf3's numbers as it prints and reads them (src/units.c): "1.61 GBytes", "6.94 Gbits/sec",
/// rates with k/m/g/t suffixes in powers of 1000, sizes in powers of 1024, and C's %g.
/// </summary>
public static class Iperf3Format
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;
    private static readonly string[] ByteLabels = ["Byte", "KByte", "MByte", "GByte", "TByte"];
    private static readonly string[] BitLabels = ["bit", "Kbit", "Mbit", "Gbit", "Tbit"];

    /// <summary>
    /// unit_snprintf(): <paramref name="value"/> bytes in <paramref name="format"/>: 'A' adaptive
    /// bytes (powers of 1024), 'a' adaptive bits (powers of 1000), or a fixed unit (B K M G T in
    /// bytes, b k m g t in bits); four significant places, e.g. "1.61 GByte", " 100 Mbit". The
    /// callers add the plural "s" (and "/sec").
    /// </summary>
    /// <remarks>Mirrors src/units.c: unit_snprintf().</remarks>
    public static string Unit(double value, char format)
    {
        bool bits = !char.IsUpper(format);
        if (bits) value *= 8;
        int conv;
        switch (char.ToUpperInvariant(format))
        {
            case 'B': conv = 0; break;
            case 'K': conv = 1; break;
            case 'M': conv = 2; break;
            case 'G': conv = 3; break;
            case 'T': conv = 4; break;
            default:
                double t = value;
                conv = 0;
                double step = bits ? 1000.0 : 1024.0;
                while (t >= step && conv < 4)
                {
                    t /= step;
                    conv++;
                }
                break;
        }
        value *= Math.Pow(bits ? 1e-3 : 1.0 / 1024, conv);
        string label = bits ? BitLabels[conv] : ByteLabels[conv];
        string number = value < 9.995 ? value.ToString("F2", Inv) : value < 99.95 ? value.ToString("F1", Inv) : value.ToString("F0", Inv);
        return number.PadLeft(4) + " " + label;
    }

    /// <summary>
    /// unit_atof_rate(): a number with an optional k/m/g/t suffix in powers of 1000 ("100M" is
    /// 100000000); null when it is not one.
    /// </summary>
    /// <remarks>Mirrors src/units.c: unit_atof_rate().</remarks>
    public static double? ParseRate(string s) => Parse(s, 1000.0);

    /// <summary>unit_atoi()/unit_atof(): a size with an optional k/m/g/t suffix in powers of 1024 ("128K" is 131072); null when it is not one.</summary>
    /// <remarks>Mirrors src/units.c: unit_atoi().</remarks>
    public static double? ParseSize(string s) => Parse(s, 1024.0);

    private static double? Parse(string s, double k)
    {
        s = s.Trim();
        if (s.Length == 0) return null;
        double mult = char.ToLowerInvariant(s[^1]) switch
        {
            't' => k * k * k * k,
            'g' => k * k * k,
            'm' => k * k,
            'k' => k,
            _ => 1,
        };
        string number = mult == 1 ? s : s[..^1];
        if (!double.TryParse(number, NumberStyles.Float, Inv, out double v) || !double.IsFinite(v) || v < 0) return null;
        return v * mult;
    }

    /// <summary>C's printf("%.<paramref name="precision"/>g"): shortest of fixed and exponent notation, trailing zeros removed ("1.2", "0", "1e+02").</summary>
    public static string G(double value, int precision)
    {
        if (double.IsNaN(value)) return "nan";
        if (double.IsInfinity(value)) return value > 0 ? "inf" : "-inf";
        if (precision == 0) precision = 1;
        if (value == 0) return "0";
        // The exponent of the value rounded to `precision` significant digits.
        string e = value.ToString("E" + (precision - 1).ToString(Inv), Inv);
        int x = int.Parse(e[(e.IndexOf('E') + 1)..], Inv);
        if (x < -4 || x >= precision)
        {
            string mantissa = e[..e.IndexOf('E')];
            if (mantissa.Contains('.')) mantissa = mantissa.TrimEnd('0').TrimEnd('.');
            return $"{mantissa}e{(x < 0 ? '-' : '+')}{Math.Abs(x):00}";
        }
        string f = value.ToString("F" + Math.Max(0, precision - 1 - x).ToString(Inv), Inv);
        if (f.Contains('.')) f = f.TrimEnd('0').TrimEnd('.');
        return f;
    }

    /// <summary>printf("%6.2f-%-6.2f", a, b): an interval as iperf3 prints it ("  0.00-1.00  ").</summary>
    public static string Interval(double start, double end) =>
        start.ToString("F2", Inv).PadLeft(6) + "-" + end.ToString("F2", Inv).PadRight(6);

    /// <summary>
    /// An address as iperf3 prints it: inet_ntop's text, so no zone; a v4-mapped address as the IPv4 one
    /// (a dual-stack [::] socket's IPv4 peers).
    /// </summary>
    /// <remarks>Mirrors iperf3 src/iperf_api.c: inet_ntop() then mapped_v4_to_regular_v4().</remarks>
    public static string Host(System.Net.IPAddress a) =>
        a.IsIPv4MappedToIPv6 ? a.MapToIPv4().ToString()
        : a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? new System.Net.IPAddress(a.GetAddressBytes()).ToString()
        : a.ToString();

    /// <summary>"[  5]": a stream's socket number as %3d in brackets.</summary>
    public static string Id(int socket) => "[" + socket.ToString(Inv).PadLeft(3) + "]";
}
