using System.Globalization;

namespace NetStack.Sim;

/// <summary>
/// The units a scenario is written in, mostly as tc(8) writes them: rates ("100Mbit", "1Gbit",
/// "64kbit", "100Mbps", "12.5MBps" for bytes; a plain number is bits per second), times ("20ms", "1.5s", "250us", "100ns"; a plain
/// number is seconds) and sizes ("64KB", "1.5MB", "1500b", "1500"; a plain number is bytes; K, M, G are
/// powers of 1000 as for rates, KiB and MiB powers of 1024).
/// </summary>
public static class Units
{
    /// <summary>
    /// A rate in bits per second: "bit" (any case) and "bps" with a lower-case b are bits ("100Mbit",
    /// "100Mbps", "1gbit"), "Bps" with a capital B is bytes ("12.5MBps"), after an optional k, M, G or T
    /// prefix (powers of 1000). Unlike tc(8), whose "mbps" is megabytes, "Mbps" here is the megabits
    /// everyone else means; a capital B always means bytes.
    /// </summary>
    public static double ParseRate(string s)
    {
        var (v, unit) = Split(s, "rate");
        double bytes;
        string prefix;
        if (unit.Length == 0) { bytes = 1; prefix = ""; }
        else if (unit.EndsWith("bit", StringComparison.OrdinalIgnoreCase)) { bytes = 1; prefix = unit[..^3]; }
        else if (unit.EndsWith("Bps", StringComparison.Ordinal)) { bytes = 8; prefix = unit[..^3]; }
        else if (unit.EndsWith("bps", StringComparison.Ordinal)) { bytes = 1; prefix = unit[..^3]; }
        else throw new FormatException($"unknown rate unit '{unit}' in \"{s}\" (bit, kbit, Mbit, Gbit, Mbps; Bps, KBps, MBps for bytes)");
        double mul = prefix switch
        {
            "" => 1,
            "k" or "K" => 1e3,
            "m" or "M" => 1e6,
            "g" or "G" => 1e9,
            "t" or "T" => 1e12,
            _ => throw new FormatException($"unknown rate unit '{unit}' in \"{s}\" (bit, kbit, Mbit, Gbit, Mbps; Bps, KBps, MBps for bytes)"),
        };
        double r = v * mul * bytes;
        if (!(r > 0) || double.IsInfinity(r)) throw new FormatException($"rate \"{s}\" must be positive");
        return r;
    }

    /// <summary>A time in nanoseconds.</summary>
    public static long ParseTime(string s)
    {
        var (v, unit) = Split(s, "time");
        double mul = unit switch
        {
            "" or "s" or "sec" => 1e9,
            "ms" or "msec" => 1e6,
            "us" or "usec" => 1e3,
            "ns" or "nsec" => 1,
            "min" => 60e9,
            _ => throw new FormatException($"unknown time unit '{unit}' in \"{s}\" (s, ms, us, ns, min)"),
        };
        double ns = Math.Round(v * mul);
        if (ns < 0 || ns > long.MaxValue / 4) throw new FormatException($"time \"{s}\" is out of range");
        return (long)ns;
    }

    /// <summary>A size in bytes.</summary>
    public static long ParseSize(string s)
    {
        var (v, unit) = Split(s, "size");
        double mul = unit switch
        {
            "" or "b" or "B" => 1,
            "k" or "K" or "KB" or "kB" or "kb" => 1e3,
            "M" or "MB" or "mb" => 1e6,
            "G" or "GB" or "gb" => 1e9,
            "KiB" => 1024,
            "MiB" => 1024 * 1024,
            "GiB" => 1024.0 * 1024 * 1024,
            _ => throw new FormatException($"unknown size unit '{unit}' in \"{s}\" (B, KB, MB, GB, KiB, MiB, GiB)"),
        };
        double b = Math.Round(v * mul);
        if (b < 0 || b > long.MaxValue / 4) throw new FormatException($"size \"{s}\" is out of range");
        return (long)b;
    }

    private static (double Value, string Unit) Split(string s, string what)
    {
        s = s.Trim();
        int i = 0;
        while (i < s.Length && (char.IsAsciiDigit(s[i]) || s[i] is '.' or '-' or '+' or 'e' or 'E'))
        {
            // An 'e' that starts a unit ("1e" is no number, but "ms" after digits is): stop at a letter not followed by a digit or sign.
            if (s[i] is 'e' or 'E' && !(i + 1 < s.Length && (char.IsAsciiDigit(s[i + 1]) || s[i + 1] is '-' or '+'))) break;
            i++;
        }
        if (i == 0 || !double.TryParse(s.AsSpan(0, i), NumberStyles.Float, CultureInfo.InvariantCulture, out double v))
            throw new FormatException($"\"{s}\" is not a {what} (a number with a unit, e.g. {Example(what)})");
        return (v, s[i..].Trim());
    }

    private static string Example(string what) => what switch { "rate" => "\"100Mbit\"", "time" => "\"20ms\"", _ => "\"64KB\"" };

    /// <summary>A rate for people: "100Mbit", "1.5Gbit".</summary>
    public static string FormatRate(double bps) =>
        bps >= 1e9 ? Num(bps / 1e9) + "Gbit" : bps >= 1e6 ? Num(bps / 1e6) + "Mbit" : bps >= 1e3 ? Num(bps / 1e3) + "kbit" : Num(bps) + "bit";

    /// <summary>A time for people: "20ms", "1.5s", "250us".</summary>
    public static string FormatTime(long ns) =>
        ns >= 1_000_000_000 ? Num(ns / 1e9) + "s" : ns >= 1_000_000 ? Num(ns / 1e6) + "ms" : ns >= 1000 ? Num(ns / 1e3) + "us" : ns + "ns";

    private static string Num(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);
}
