using System.Globalization;
using System.Text.RegularExpressions;

namespace NetStack.PeerTests;

/// <summary>The closing lines of ping(8): "N packets transmitted, M received, ..." and "rtt min/avg/max/mdev = a/b/c/d ms".</summary>
public sealed partial record PingSummary(int Transmitted, int Received, double MinMs, double AvgMs, double MaxMs, string RttLine)
{
    public static PingSummary Parse(string output)
    {
        var counts = CountsRegex().Match(output);
        if (!counts.Success) throw new FormatException("no ping summary in:\n" + output);
        var rtt = RttRegex().Match(output);
        double D(int i) => rtt.Success ? double.Parse(rtt.Groups[i].Value, CultureInfo.InvariantCulture) : double.NaN;
        return new PingSummary(int.Parse(counts.Groups[1].Value, CultureInfo.InvariantCulture), int.Parse(counts.Groups[2].Value, CultureInfo.InvariantCulture),
            D(1), D(2), D(3), rtt.Success ? rtt.Value : "(no rtt line)");
    }

    [GeneratedRegex(@"(\d+) packets transmitted, (\d+) (?:packets )?received")]
    private static partial Regex CountsRegex();

    [GeneratedRegex(@"rtt min/avg/max/mdev = ([\d.]+)/([\d.]+)/([\d.]+)/([\d.]+) ms")]
    private static partial Regex RttRegex();
}
