using System.Text;
using ScottPlot;

namespace NetStack.Plot;

/// <summary>
/// Draws metrics against time, one line per flow, with ScottPlot: a single metric, or the four
/// stacked in one figure; SVG or PNG by the output's extension.
/// </summary>
public static class Charts
{
    /// <summary>Width of a figure in pixels.</summary>
    public const int Width = 900;
    /// <summary>Height of one panel in pixels.</summary>
    public const int PanelHeight = 320;
    /// <summary>Most points drawn per line (longer series are decimated to each bucket's minimum and maximum).</summary>
    public const int MaxPoints = 4000;

    /// <summary>The metrics at least one flow has, in the order cwnd, goodput, RTT, queue.</summary>
    public static List<Metric> Available(IEnumerable<FlowData> flows) =>
        Enum.GetValues<Metric>().Where(m => flows.Any(f => f.Values.ContainsKey(m))).ToList();

    /// <summary>
    /// A plot of <paramref name="metric"/> against time, one line per flow that has it. Goodput is drawn
    /// as its moving average over <paramref name="smoothS"/> seconds when that is positive (the y label
    /// says so): per-sample goodput of flows sharing a FIFO comes in bursts.
    /// </summary>
    public static ScottPlot.Plot Make(Metric metric, IReadOnlyList<FlowData> flows, string? title = null, double smoothS = 0)
    {
        var plt = new ScottPlot.Plot();
        var palette = new ScottPlot.Palettes.Category10();
        int i = 0;
        bool smooth = metric == Metric.Goodput && smoothS > 0;
        foreach (var f in flows)
        {
            if (!f.Values.TryGetValue(metric, out var y)) { i++; continue; }
            if (smooth) y = MovingAverage(f.Time, y, smoothS);
            var (xs, ys) = Decimate(f.Time, y);
            if (xs.Length == 0) { i++; continue; }
            var line = plt.Add.ScatterLine(xs, ys);
            line.LegendText = f.Label;
            line.Color = palette.GetColor(i++);
            line.LineWidth = 1.5f;
            line.MarkerSize = 0;
        }
        plt.Title(title ?? Title(metric));
        plt.XLabel("time (s)");
        plt.YLabel(FlowData.AxisLabel(metric) + (smooth ? $", {smoothS * 1000:0.###} ms average" : ""));
        if (flows.Count > 1) plt.ShowLegend(Alignment.UpperRight);
        plt.Axes.Margins(bottom: 0);
        return plt;
    }

    private static string Title(Metric m) => m switch
    {
        Metric.Cwnd => "Congestion window",
        Metric.Goodput => "Goodput",
        Metric.Rtt => "Smoothed RTT",
        _ => "Bottleneck queue",
    };

    /// <summary>Saves one plot as SVG or PNG (by <paramref name="path"/>'s extension).</summary>
    public static void Save(ScottPlot.Plot plt, string path, int width = Width, int height = PanelHeight + 80)
    {
        switch (Path.GetExtension(path).ToLowerInvariant())
        {
            case ".svg": plt.SaveSvg(path, width, height); break;
            case ".png": plt.SavePng(path, width, height); break;
            default: throw new ArgumentException($"{path}: the output must end in .svg or .png");
        }
    }

    /// <summary>Saves several plots stacked vertically in one figure (SVG: nested &lt;svg&gt; panels; PNG: one bitmap).</summary>
    public static void SaveStacked(IReadOnlyList<ScottPlot.Plot> plots, string path, int width = Width, int panelHeight = PanelHeight)
    {
        if (plots.Count == 1) { Save(plots[0], path, width, panelHeight + 80); return; }
        string ext = Path.GetExtension(path).ToLowerInvariant();
        int height = panelHeight * plots.Count;
        if (ext == ".svg")
        {
            var sb = new StringBuilder();
            sb.Append($"<svg xmlns=\"http://www.w3.org/2000/svg\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" width=\"{width}\" height=\"{height}\">\n");
            for (int i = 0; i < plots.Count; i++)
            {
                string inner = plots[i].GetSvgXml(width, panelHeight);
                int start = inner.IndexOf("<svg", StringComparison.Ordinal);
                inner = inner[start..];
                // Place the panel: the root element of each panel gets its y offset.
                inner = "<svg y=\"" + (i * panelHeight) + "\"" + inner[4..];
                sb.Append(inner).Append('\n');
            }
            sb.Append("</svg>\n");
            File.WriteAllText(path, sb.ToString());
        }
        else if (ext == ".png")
        {
            var multi = new Multiplot();
            multi.Reset(plots[0]); // a new Multiplot holds one empty plot of its own
            foreach (var p in plots.Skip(1)) multi.AddPlot(p);
            multi.Layout = new ScottPlot.MultiplotLayouts.Rows();
            multi.SavePng(path, width, height);
        }
        else throw new ArgumentException($"{path}: the output must end in .svg or .png");
    }

    /// <summary>
    /// `sim --plot`: cwnd, goodput, RTT and queue against time from the simulator's flow CSV files,
    /// each as METRIC.svg and METRIC.png, and all four stacked as overview.svg and overview.png, in
    /// <paramref name="dir"/>; goodput averaged over <paramref name="smoothS"/> seconds. Returns the files written.
    /// </summary>
    public static List<string> DrawDirectory(string dir, IEnumerable<string> flowCsvs, string? title = null, double smoothS = 0)
    {
        var flows = flowCsvs.SelectMany(FlowData.Load).ToList();
        var written = new List<string>();
        var metrics = Available(flows);
        foreach (var m in metrics)
            foreach (var ext in new[] { ".svg", ".png" })
            {
                string p = Path.Combine(dir, FlowData.Name(m) + ext);
                Save(Make(m, flows, title is null ? null : $"{title}: {Title(m).ToLowerInvariant()}", smoothS), p);
                written.Add(p);
            }
        foreach (var ext in new[] { ".svg", ".png" })
        {
            string p = Path.Combine(dir, "overview" + ext);
            SaveStacked(metrics.Select(m => Make(m, flows, title is null ? null : $"{title}: {Title(m).ToLowerInvariant()}", smoothS)).ToList(), p);
            written.Add(p);
        }
        return written;
    }

    /// <summary>The mean of each point and those up to <paramref name="window"/> seconds before it (NaNs skipped).</summary>
    public static double[] MovingAverage(double[] t, double[] y, double window)
    {
        var r = new double[y.Length];
        double sum = 0;
        int count = 0, lo = 0;
        for (int i = 0; i < y.Length; i++)
        {
            if (!double.IsNaN(y[i])) { sum += y[i]; count++; }
            while (lo < i && t[i] - t[lo] >= window)
            {
                if (!double.IsNaN(y[lo])) { sum -= y[lo]; count--; }
                lo++;
            }
            r[i] = count > 0 ? sum / count : double.NaN;
        }
        return r;
    }

    /// <summary>Keeps at most <see cref="MaxPoints"/> points: each bucket's first minimum and maximum in time order; NaNs dropped.</summary>
    public static (double[] X, double[] Y) Decimate(double[] x, double[] y)
    {
        var xs = new List<double>(Math.Min(x.Length, MaxPoints));
        var ys = new List<double>(Math.Min(x.Length, MaxPoints));
        int n = x.Length;
        if (n <= MaxPoints)
        {
            for (int i = 0; i < n; i++)
                if (!double.IsNaN(y[i]) && !double.IsNaN(x[i])) { xs.Add(x[i]); ys.Add(y[i]); }
            return (xs.ToArray(), ys.ToArray());
        }
        int buckets = MaxPoints / 2;
        for (int b = 0; b < buckets; b++)
        {
            int lo = (int)((long)b * n / buckets), hi = (int)((long)(b + 1) * n / buckets);
            int iMin = -1, iMax = -1;
            for (int i = lo; i < hi; i++)
            {
                if (double.IsNaN(y[i]) || double.IsNaN(x[i])) continue;
                if (iMin < 0 || y[i] < y[iMin]) iMin = i;
                if (iMax < 0 || y[i] > y[iMax]) iMax = i;
            }
            if (iMin < 0) continue;
            int a = Math.Min(iMin, iMax), c = Math.Max(iMin, iMax);
            xs.Add(x[a]); ys.Add(y[a]);
            if (c != a) { xs.Add(x[c]); ys.Add(y[c]); }
        }
        return (xs.ToArray(), ys.ToArray());
    }
}
