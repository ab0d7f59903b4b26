using System.Globalization;
using System.Text.Json;
using ScottPlot;

namespace NetStack.Plot;

/// <summary>
/// The chart of one scripts/bench.sh run: grouped bars, one colour per target (the stack, the kernel
/// through the frame bridge, the kernel over veth, and smoltcp and lwIP when measured), one panel per unit (bulk TCP in Gbit/s, request/response and
/// connect+close per second, flood-ping RTT in ms), from the run's flat JSON (bench-results/latest.json:
/// <c>"TARGET_FIGURE": number</c>). Figures a run lacks are left out.
/// </summary>
public static class BenchChart
{
    /// <summary>The targets in drawing order, with their legend text.</summary>
    public static IReadOnlyList<(string Key, string Label)> Targets { get; } =
    [
        ("netstack", "NetStack (TAP)"),
        ("bridge", "kernel<->kernel, netstack bridge (2 TAP crossings)"),
        ("veth", "kernel<->kernel, veth"),
        ("smoltcp", "smoltcp (TAP)"), // bench.sh --with smoltcp: drawn when the run measured it
        ("lwip", "lwIP (TAP)"),
    ];

    /// <summary>The panels: a title and the figures it groups (suffix of the JSON key, group label).</summary>
    public static IReadOnlyList<(string Title, (string Suffix, string Label)[] Figures)> Panels { get; } =
    [
        ("Bulk TCP, Gbit/s", [("rx_1stream_gbps", "kernel -> target, 1 stream"), ("rx_4streams_gbps", "kernel -> target, 4 streams"),
                               ("tx_1stream_gbps", "target -> kernel, 1 stream"), ("tx_4streams_gbps", "target -> kernel, 4 streams")]),
        ("Per second", [("rr_per_s", "1-byte request/response"), ("crr_per_s", "connect + close")]),
        ("Flood ping average RTT, ms (lower is better)", [("ping_rtt_avg_ms", "ping -f")]),
    ];

    /// <summary>Reads a flat JSON object of numbers (non-numbers are skipped).</summary>
    public static Dictionary<string, double> Load(string path)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new FormatException($"{path}: not a JSON object");
        var d = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var p in doc.RootElement.EnumerateObject())
            if (p.Value.ValueKind == JsonValueKind.Number) d[p.Name] = p.Value.GetDouble();
        return d;
    }

    /// <summary>One plot per panel that has at least one figure.</summary>
    public static List<ScottPlot.Plot> Make(IReadOnlyDictionary<string, double> figures, string? title = null)
    {
        var palette = new ScottPlot.Palettes.Category10();
        var plots = new List<ScottPlot.Plot>();
        foreach (var (panelTitle, panelFigures) in Panels)
        {
            var bars = new List<Bar>();
            var ticks = new List<(double, string)>();
            var used = new HashSet<int>();
            int group = 0;
            // The slots of a group: the targets this panel has a figure of (a target the run did not measure leaves no gap).
            int[] slot = new int[Targets.Count];
            int slots = 0;
            for (int t = 0; t < Targets.Count; t++)
                slot[t] = panelFigures.Any(f => figures.TryGetValue($"{Targets[t].Key}_{f.Suffix}", out double x) && double.IsFinite(x)) ? slots++ : -1;
            foreach (var (suffix, label) in panelFigures)
            {
                bool any = false;
                for (int t = 0; t < Targets.Count; t++)
                {
                    if (!figures.TryGetValue($"{Targets[t].Key}_{suffix}", out double v) || !double.IsFinite(v)) continue;
                    any = true;
                    used.Add(t);
                    bars.Add(new Bar
                    {
                        Position = group * (slots + 1) + slot[t],
                        Value = v,
                        FillColor = palette.GetColor(t),
                        Label = v.ToString(v >= 100 ? "N0" : "0.###", CultureInfo.InvariantCulture),
                    });
                }
                if (!any) continue;
                ticks.Add((group * (slots + 1) + (slots - 1) / 2.0, label));
                group++;
            }
            if (bars.Count == 0) continue;
            var plt = new ScottPlot.Plot();
            var bp = plt.Add.Bars(bars);
            bp.ValueLabelStyle.FontSize = 11;
            plt.Axes.Bottom.SetTicks(ticks.Select(x => x.Item1).ToArray(), ticks.Select(x => x.Item2).ToArray());
            plt.Axes.Bottom.MajorTickStyle.Length = 0;
            plt.Axes.Margins(bottom: 0, top: 0.5); // room for the legend above the tallest bar
            plt.Title(title is null ? panelTitle : $"{title}: {panelTitle}");
            plt.ShowLegend(used.Order().Select(t => new LegendItem { LabelText = Targets[t].Label, FillColor = palette.GetColor(t) }), Alignment.UpperRight);
            plots.Add(plt);
        }
        return plots;
    }

    /// <summary>Draws <paramref name="jsonPath"/>'s figures into <paramref name="outPath"/> (SVG or PNG); returns the number of panels.</summary>
    public static int Draw(string jsonPath, string outPath, string? title = null)
    {
        var plots = Make(Load(jsonPath), title);
        if (plots.Count == 0) throw new FormatException($"{jsonPath}: no bench figure (keys like netstack_rx_1stream_gbps)");
        Charts.SaveStacked(plots, outPath, Charts.Width, Charts.PanelHeight + 40);
        return plots.Count;
    }
}
