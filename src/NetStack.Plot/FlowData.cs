namespace NetStack.Plot;

/// <summary>The quantities plotted against time.</summary>
public enum Metric
{
    /// <summary>The congestion window, segments.</summary>
    Cwnd,
    /// <summary>Goodput, Mbit/s.</summary>
    Goodput,
    /// <summary>The smoothed RTT, ms.</summary>
    Rtt,
    /// <summary>The bottleneck queue, packets.</summary>
    Queue,
}

/// <summary>
/// One flow's time series, read from a CSV file: the simulator's (flow-NAME.csv: time_s, cwnd,
/// goodput_mbps, srtt_ms, queue_pkts) or a trace's with tcp_probe's column names (snd_cwnd; srtt in
/// µs; time as time_s, time_us, time_ns, or time/timestamp in seconds or nanoseconds; several
/// connections told apart by a flow column, by src/dest or saddr/sport/daddr/dport, or by sock_cookie).
/// </summary>
public sealed class FlowData
{
    /// <summary>The legend's label.</summary>
    public required string Label { get; init; }
    /// <summary>Time, seconds.</summary>
    public required double[] Time { get; init; }
    /// <summary>Each metric the file has.</summary>
    public Dictionary<Metric, double[]> Values { get; } = [];

    /// <summary>The units of each metric, for axis labels.</summary>
    public static string AxisLabel(Metric m) => m switch
    {
        Metric.Cwnd => "cwnd (segments)",
        Metric.Goodput => "goodput (Mbit/s)",
        Metric.Rtt => "smoothed RTT (ms)",
        _ => "bottleneck queue (packets)",
    };

    /// <summary>The metric's name in file names and on the command line.</summary>
    public static string Name(Metric m) => m.ToString().ToLowerInvariant();

    /// <summary>Reads the flows of one CSV file.</summary>
    /// <exception cref="FormatException">No time column, or nothing to plot.</exception>
    public static List<FlowData> Load(string path)
    {
        var t = CsvTable.Read(path);
        var (time, timeIsAbsolute) = TimeColumn(t);
        string[] keys = FlowKeys(t, path);
        var result = new List<FlowData>();
        foreach (var group in keys.Select((k, i) => (k, i)).GroupBy(x => x.k, StringComparer.Ordinal))
        {
            int[] rows = group.Select(x => x.i).ToArray();
            var fd = new FlowData { Label = group.Key, Time = rows.Select(r => time[r]).ToArray() };
            if (t.First("cwnd", "snd_cwnd") is { } cw) fd.Values[Metric.Cwnd] = Pick(t.Numbers(cw), rows);
            if (t.First("srtt_ms") is { } rm) fd.Values[Metric.Rtt] = Pick(t.Numbers(rm), rows);
            else if (t.First("srtt_us", "srtt") is { } ru) fd.Values[Metric.Rtt] = Pick(t.Numbers(ru), rows).Select(v => v / 1000).ToArray();
            if (t.First("goodput_mbps") is { } g) fd.Values[Metric.Goodput] = Pick(t.Numbers(g), rows);
            else if (t.First("delivered_bytes", "bytes_acked") is { } db) fd.Values[Metric.Goodput] = Rate(fd.Time, Pick(t.Numbers(db), rows), wrap: false);
            else if (t.First("snd_una") is { } una) fd.Values[Metric.Goodput] = Rate(fd.Time, Pick(t.Numbers(una), rows), wrap: true);
            if (t.First("queue_pkts") is { } q) fd.Values[Metric.Queue] = Pick(t.Numbers(q), rows);
            result.Add(fd);
        }
        if (timeIsAbsolute && result.Count > 0)
        {
            double t0 = result.Min(f => f.Time.Length > 0 ? f.Time.Min() : double.MaxValue);
            foreach (var f in result) for (int i = 0; i < f.Time.Length; i++) f.Time[i] -= t0;
        }
        if (result.All(f => f.Values.Count == 0))
            throw new FormatException($"{path}: nothing to plot (no cwnd/snd_cwnd, goodput_mbps, srtt_ms/srtt, queue_pkts column)");
        return result;
    }

    private static double[] Pick(double[] v, int[] rows) => rows.Select(r => v[r]).ToArray();

    /// <summary>The time in seconds, and whether it is a clock reading (to be shifted to start at 0) rather than time since the start.</summary>
    private static (double[] Time, bool Absolute) TimeColumn(CsvTable t)
    {
        if (t.First("time_s") is { } s) return (t.Numbers(s), false);
        if (t.First("time_us") is { } us) return (t.Numbers(us).Select(v => v / 1e6).ToArray(), true);
        if (t.First("time_ns", "ts_ns") is { } ns) return (t.Numbers(ns).Select(v => v / 1e9).ToArray(), true);
        if (t.First("time", "timestamp", "ts") is { } x)
        {
            var v = t.Numbers(x);
            // Nanoseconds (a monotonic clock reading) or seconds: no trace lasts 10^7 s.
            bool nanos = v.Any(d => d > 1e7);
            return (nanos ? v.Select(d => d / 1e9).ToArray() : v, true);
        }
        throw new FormatException($"{t.Path}: no time column (time_s, time_us, time_ns, time, timestamp)");
    }

    private static string[] FlowKeys(CsvTable t, string path)
    {
        if (t.First("flow") is { } f) return t.Text(f);
        if (t.IndexOf("src") >= 0 && t.IndexOf("dest") >= 0)
        {
            var a = t.Text("src"); var b = t.Text("dest");
            return a.Select((x, i) => $"{x} → {b[i]}").ToArray();
        }
        if (new[] { "saddr", "sport", "daddr", "dport" }.All(c => t.IndexOf(c) >= 0))
        {
            var sa = t.Text("saddr"); var sp = t.Text("sport"); var da = t.Text("daddr"); var dp = t.Text("dport");
            return sa.Select((x, i) => $"{x}:{sp[i]} → {da[i]}:{dp[i]}").ToArray();
        }
        if (t.First("sock_cookie") is { } c) return t.Text(c).Select(x => "cookie " + x).ToArray();
        // One flow per file: the simulator's flow-NAME.csv is "NAME".
        string name = System.IO.Path.GetFileNameWithoutExtension(path);
        if (name.StartsWith("flow-", StringComparison.Ordinal)) name = name[5..];
        return Enumerable.Repeat(name, t.Rows.Count).ToArray();
    }

    /// <summary>Mbit/s from a byte counter (a 32-bit sequence number when <paramref name="wrap"/>), between consecutive rows.</summary>
    private static double[] Rate(double[] time, double[] bytes, bool wrap)
    {
        var r = new double[time.Length];
        for (int i = 0; i < r.Length; i++) r[i] = double.NaN;
        for (int i = 1; i < time.Length; i++)
        {
            double dt = time[i] - time[i - 1];
            double db = bytes[i] - bytes[i - 1];
            if (wrap && db < -2147483648.0) db += 4294967296.0;
            if (dt > 0 && !double.IsNaN(db)) r[i] = db * 8 / dt / 1e6;
        }
        return r;
    }
}
