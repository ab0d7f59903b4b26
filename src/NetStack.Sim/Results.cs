using System.Globalization;
using System.Text;
using NetStack.Api;

namespace NetStack.Sim;

/// <summary>One row of a flow's time series: the sampled socket's TCP_INFO and its bottleneck queue at one instant.</summary>
public readonly record struct FlowSample
{
    /// <summary>Simulated time, seconds.</summary>
    public double TimeS { get; init; }
    /// <summary>tcpi_snd_cwnd, segments.</summary>
    public long Cwnd { get; init; }
    /// <summary>tcpi_snd_ssthresh, segments; -1 while infinite (TCP_INFINITE_SSTHRESH).</summary>
    public long Ssthresh { get; init; }
    /// <summary>tcpi_rtt (the smoothed RTT), ms.</summary>
    public double SrttMs { get; init; }
    /// <summary>tcpi_rttvar, ms.</summary>
    public double RttvarMs { get; init; }
    /// <summary>tcpi_min_rtt, ms.</summary>
    public double MinRttMs { get; init; }
    /// <summary>tcpi_rto, ms.</summary>
    public double RtoMs { get; init; }
    /// <summary>tcpi_ca_state (0 Open, 1 Disorder, 2 CWR, 3 Recovery, 4 Loss).</summary>
    public int CaState { get; init; }
    /// <summary>Packets in flight: unacked - sacked - lost + retrans (tcp_packets_in_flight()).</summary>
    public long Inflight { get; init; }
    /// <summary>tcpi_unacked (packets_out).</summary>
    public long Unacked { get; init; }
    /// <summary>tcpi_sacked.</summary>
    public long Sacked { get; init; }
    /// <summary>tcpi_lost.</summary>
    public long Lost { get; init; }
    /// <summary>tcpi_retrans (retransmitted and not yet acknowledged).</summary>
    public long RetransOut { get; init; }
    /// <summary>tcpi_total_retrans: segments retransmitted so far.</summary>
    public long TotalRetrans { get; init; }
    /// <summary>tcpi_delivered: segments delivered so far.</summary>
    public long Delivered { get; init; }
    /// <summary>tcpi_bytes_acked.</summary>
    public long BytesAcked { get; init; }
    /// <summary>Bytes the receiving application read in the last interval, as Mbit/s.</summary>
    public double GoodputMbps { get; init; }
    /// <summary>Bytes the receiving application read so far.</summary>
    public long DeliveredBytes { get; init; }
    /// <summary>tcpi_delivery_rate, Mbit/s.</summary>
    public double DeliveryRateMbps { get; init; }
    /// <summary>Frames in the bottleneck queue.</summary>
    public long QueuePkts { get; init; }
    /// <summary>Bytes in the bottleneck queue.</summary>
    public long QueueBytes { get; init; }
    /// <summary>Mean sojourn time of the frames that left the bottleneck queue in the last interval (all flows), ms.</summary>
    public double QueueDelayMs { get; init; }
    /// <summary>Frames the bottleneck queue dropped so far (all flows).</summary>
    public long QueueDrops { get; init; }
    /// <summary>Frames the bottleneck queue marked CE so far (all flows).</summary>
    public long QueueMarks { get; init; }
    /// <summary>This flow's frames dropped or lost so far on every link.</summary>
    public long FlowDrops { get; init; }
    /// <summary>This flow's frames marked CE so far on every link.</summary>
    public long FlowMarks { get; init; }
    /// <summary>BBR's bandwidth estimate (bbr_bw(), from TCP_CC_INFO), Mbit/s; 0 for another congestion control.</summary>
    public double BbrBandwidthMbps { get; init; }
    /// <summary>BBR's windowed minimum RTT (TCP_CC_INFO), ms; 0 for another congestion control or before its first sample.</summary>
    public double BbrMinRttMs { get; init; }
    /// <summary>DCTCP's alpha (TCP_CC_INFO), the EWMA of the marked fraction, of 1024; -1 for another congestion control.</summary>
    public int DctcpAlpha { get; init; }
}

/// <summary>One row of a link's time series.</summary>
public readonly record struct LinkSample(double TimeS, long QueuePkts, long QueueBytes, double QueueDelayMs, long Drops, long Marks, long Lost, double ThroughputMbps);

/// <summary>One flow's summary.</summary>
public sealed record FlowSummary
{
    /// <summary>The flow's name.</summary>
    public required string Name { get; init; }
    /// <summary>bulk, rr or onoff.</summary>
    public required string Type { get; init; }
    /// <summary>The congestion control of the sampled socket.</summary>
    public required string Cc { get; init; }
    /// <summary>Client host.</summary>
    public required string From { get; init; }
    /// <summary>Server host.</summary>
    public required string To { get; init; }
    /// <summary>Start, s.</summary>
    public double StartS { get; init; }
    /// <summary>End of the flow (the receiver saw the end of the stream), or of the simulation, s.</summary>
    public double EndS { get; init; }
    /// <summary>Bytes the receiving application read.</summary>
    public long Bytes { get; init; }
    /// <summary>Bytes * 8 / (end - start), Mbit/s.</summary>
    public double GoodputMbps { get; init; }
    /// <summary>Segments retransmitted (tcpi_total_retrans).</summary>
    public long Retrans { get; init; }
    /// <summary>Retransmission timeouts (tcpi_total_rto).</summary>
    public long Rtos { get; init; }
    /// <summary>Mean of the sampled smoothed RTT, ms.</summary>
    public double MeanRttMs { get; init; }
    /// <summary>99th percentile of the sampled smoothed RTT, ms.</summary>
    public double P99RttMs { get; init; }
    /// <summary>Mean sojourn time of this flow's frames in its bottleneck queue, ms.</summary>
    public double MeanQueueDelayMs { get; init; }
    /// <summary>This flow's frames dropped or lost on every link.</summary>
    public long Drops { get; init; }
    /// <summary>This flow's frames marked CE.</summary>
    public long Marks { get; init; }
    /// <summary>Request/response: requests completed.</summary>
    public long Requests { get; init; }
    /// <summary>Request/response: mean completion time, ms.</summary>
    public double MeanFctMs { get; init; }
    /// <summary>Request/response: 99th percentile completion time, ms.</summary>
    public double P99FctMs { get; init; }
    /// <summary>"done", "running" (at the end of the simulation), or the error.</summary>
    public required string Status { get; init; }
}

/// <summary>What a simulation measured: time series per flow and link, and the summary.</summary>
public sealed class SimResults
{
    private readonly Simulator _sim;
    private readonly long[] _lastDelivered;
    private readonly long[] _linkDequeued, _linkSojourn, _linkTxBytes;

    /// <summary>Each flow's time series, by flow id.</summary>
    public List<FlowSample>[] FlowSeries { get; }
    /// <summary>Each link's time series (links with a finite rate), by link index in <see cref="Simulator.Links"/>; null for the others.</summary>
    public List<LinkSample>?[] LinkSeries { get; }
    /// <summary>Each flow's sampled smoothed RTTs, ms.</summary>
    private readonly List<double>[] _rtts;

    /// <summary>Wall-clock seconds the run took (not written to any file).</summary>
    public double WallSeconds { get; internal set; }
    /// <summary>CPU seconds the process spent during the run.</summary>
    public double CpuSeconds { get; internal set; }
    /// <summary>Events scheduled.</summary>
    public long Events { get; internal set; }
    /// <summary>Simulated time over wall time.</summary>
    public double SpeedUp => WallSeconds > 0 ? _sim.Scenario.DurationNs / 1e9 / WallSeconds : double.PositiveInfinity;

    internal SimResults(Simulator sim)
    {
        _sim = sim;
        int n = sim.Flows.Count;
        FlowSeries = new List<FlowSample>[n];
        _rtts = new List<double>[n];
        for (int i = 0; i < n; i++) { FlowSeries[i] = []; _rtts[i] = []; }
        _lastDelivered = new long[n];
        int l = sim.Links.Count;
        LinkSeries = new List<LinkSample>?[l];
        for (int i = 0; i < l; i++) if (sim.Links[i].Queue is not null) LinkSeries[i] = [];
        _linkDequeued = new long[l];
        _linkSojourn = new long[l];
        _linkTxBytes = new long[l];
    }

    internal void Sample()
    {
        double t = _sim.Now / 1e9;
        double interval = _sim.Scenario.SampleIntervalNs / 1e9;
        var links = _sim.Links;
        var delays = new double[links.Count];
        for (int i = 0; i < links.Count; i++)
        {
            var k = links[i];
            long dq = k.Dequeued - _linkDequeued[i], soj = k.SojournNs - _linkSojourn[i], tx = k.TxBytes - _linkTxBytes[i];
            delays[i] = dq > 0 ? soj / (double)dq / 1e6 : 0;
            _linkDequeued[i] = k.Dequeued;
            _linkSojourn[i] = k.SojournNs;
            _linkTxBytes[i] = k.TxBytes;
            if (LinkSeries[i] is { } ls)
                ls.Add(new LinkSample(t, k.Queue!.Packets, k.Queue.Bytes, delays[i], k.Queue.Drops, k.Queue.Marks, k.Lost, tx * 8 / interval / 1e6));
        }
        foreach (var f in _sim.Flows)
        {
            long delivered = f.DeliveredBytes;
            double goodput = (delivered - _lastDelivered[f.Id]) * 8 / interval / 1e6;
            _lastDelivered[f.Id] = delivered;
            var info = f.ReadInfo();
            if (info is not { } ti) continue;
            var b = _sim.BottleneckOf(f);
            int bi = IndexOf(b);
            long drops = 0, marks = 0;
            foreach (var k in links) { drops += k.PerFlow[f.Id].Drops + k.PerFlow[f.Id].Lost; marks += k.PerFlow[f.Id].Marks; }
            var row = new FlowSample
            {
                TimeS = t,
                Cwnd = ti.SendCwnd,
                Ssthresh = ti.SendSsthresh >= 0x7fffffff ? -1 : ti.SendSsthresh,
                SrttMs = ti.Rtt.TotalMilliseconds,
                RttvarMs = ti.RttVar.TotalMilliseconds,
                MinRttMs = ti.MinRtt?.TotalMilliseconds ?? 0,
                RtoMs = ti.Rto.TotalMilliseconds,
                CaState = (int)ti.CaState,
                Inflight = ti.Unacked - ti.Sacked - ti.Lost + ti.Retrans,
                Unacked = ti.Unacked,
                Sacked = ti.Sacked,
                Lost = ti.Lost,
                RetransOut = ti.Retrans,
                TotalRetrans = ti.TotalRetrans,
                Delivered = ti.Delivered,
                BytesAcked = (long)ti.BytesAcked,
                GoodputMbps = goodput,
                DeliveredBytes = delivered,
                DeliveryRateMbps = ti.DeliveryRate * 8 / 1e6,
                QueuePkts = b.Queue?.Packets ?? 0,
                QueueBytes = b.Queue?.Bytes ?? 0,
                QueueDelayMs = delays[bi],
                QueueDrops = b.Queue?.Drops ?? 0,
                QueueMarks = b.Queue?.Marks ?? 0,
                FlowDrops = drops,
                FlowMarks = marks,
                BbrBandwidthMbps = ti.Bbr is { } bbr ? bbr.Bandwidth * 8 / 1e6 : 0,
                // Before its first sample BBR reports ~0U us (4295 s): no minimum yet.
                BbrMinRttMs = ti.Bbr is { } bb && bb.MinRtt < TimeSpan.FromSeconds(4000) ? bb.MinRtt.TotalMilliseconds : 0,
                DctcpAlpha = ti.Dctcp is { Enabled: true } d ? (int)d.Alpha : -1,
            };
            FlowSeries[f.Id].Add(row);
            if (ti.Rtt > TimeSpan.Zero) _rtts[f.Id].Add(row.SrttMs);
        }
    }

    private int IndexOf(Link l)
    {
        var links = _sim.Links;
        for (int i = 0; i < links.Count; i++) if (links[i] == l) return i;
        return -1;
    }

    /// <summary>The summary of each flow.</summary>
    public IReadOnlyList<FlowSummary> Summaries()
    {
        var list = new List<FlowSummary>();
        double endOfRun = _sim.Now / 1e9;
        foreach (var f in _sim.Flows)
        {
            double start = f.Spec.StartNs / 1e9;
            double end = f.FinishedNs >= 0 ? (f.FinishedNs - _sim.T0) / 1e9
                : f.Error is not null && f.LastByteNs >= 0 ? (f.LastByteNs - _sim.T0) / 1e9
                : endOfRun;
            var info = f.LastInfo;
            var b = _sim.BottleneckOf(f);
            var ps = b.PerFlow[f.Id];
            long drops = 0, marks = 0;
            foreach (var k in _sim.Links) { drops += k.PerFlow[f.Id].Drops + k.PerFlow[f.Id].Lost; marks += k.PerFlow[f.Id].Marks; }
            var rtts = _rtts[f.Id];
            var fct = f.CompletionTimesNs;
            string status = f.Error ?? (f.FinishedNs >= 0 ? "done" : _sim.Now >= f.Spec.StartNs ? "running" : "not started");
            list.Add(new FlowSummary
            {
                Name = f.Spec.Name,
                Type = f.Spec.Kind switch { FlowKind.Bulk => "bulk", FlowKind.OnOff => "onoff", _ => "rr" },
                Cc = info?.CongestionControl is { Length: > 0 } cc ? cc : DefaultCc(f.SampledHost),
                From = f.Spec.From,
                To = f.Spec.To,
                StartS = start,
                EndS = end,
                Bytes = f.DeliveredBytes,
                GoodputMbps = end > start ? f.DeliveredBytes * 8 / (end - start) / 1e6 : 0,
                Retrans = info?.TotalRetrans ?? 0,
                Rtos = info?.TotalRto ?? 0,
                MeanRttMs = rtts.Count > 0 ? rtts.Average() : 0,
                P99RttMs = Percentile(rtts, 0.99),
                MeanQueueDelayMs = ps.Dequeued > 0 ? ps.SojournNs / (double)ps.Dequeued / 1e6 : 0,
                Drops = drops,
                Marks = marks,
                Requests = fct.Count,
                MeanFctMs = fct.Count > 0 ? fct.Average() / 1e6 : 0,
                P99FctMs = Percentile(fct.Select(x => x / 1e6).ToList(), 0.99),
                Status = status,
            });
        }
        return list;
    }

    private static string DefaultCc(SimHost h) => h.Net.Sysctl.TryGet("net.ipv4.tcp_congestion_control", out var v) ? v : "";

    /// <summary>The nearest-rank percentile (0 for no values).</summary>
    public static double Percentile(IReadOnlyList<double> values, double p)
    {
        if (values.Count == 0) return 0;
        var sorted = values.Order().ToArray();
        int rank = (int)Math.Ceiling(p * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    /// <summary>Jain's fairness index (Σx)² / (n Σx²) of <paramref name="x"/>; NaN when all are zero.</summary>
    public static double JainIndex(IReadOnlyList<double> x)
    {
        if (x.Count == 0) return double.NaN;
        double s = 0, s2 = 0;
        foreach (var v in x) { s += v; s2 += v * v; }
        return s2 > 0 ? s * s / (x.Count * s2) : double.NaN;
    }

    // ---------------------------------------------------------------- files

    /// <summary>The columns of a flow's time series CSV.</summary>
    public const string FlowCsvHeader =
        "time_s,cwnd,ssthresh,srtt_ms,rttvar_ms,min_rtt_ms,rto_ms,ca_state,inflight,unacked,sacked,lost,retrans_out,total_retrans," +
        "delivered,bytes_acked,goodput_mbps,delivered_bytes,delivery_rate_mbps,queue_pkts,queue_bytes,queue_delay_ms,queue_drops,queue_marks,flow_drops,flow_marks," +
        "bbr_bw_mbps,bbr_min_rtt_ms,dctcp_alpha";

    /// <summary>The columns of links.csv.</summary>
    public const string LinkCsvHeader = "time_s,link,queue_pkts,queue_bytes,queue_delay_ms,drops,marks,lost,throughput_mbps";

    private static string F(double v, string fmt = "0.###") => v.ToString(fmt, CultureInfo.InvariantCulture);
    private static string T(double t) => t.ToString("0.######", CultureInfo.InvariantCulture);

    /// <summary>Writes flow-NAME.csv for each flow, links.csv, summary.csv and summary.md into <paramref name="dir"/>; returns the files written.</summary>
    public List<string> Write(string dir)
    {
        Directory.CreateDirectory(dir);
        var files = new List<string>();
        foreach (var f in _sim.Flows)
        {
            var sb = new StringBuilder();
            sb.Append(FlowCsvHeader).Append('\n');
            foreach (var r in FlowSeries[f.Id])
            {
                sb.Append(T(r.TimeS)).Append(',').Append(r.Cwnd).Append(',').Append(r.Ssthresh < 0 ? "" : r.Ssthresh.ToString(CultureInfo.InvariantCulture)).Append(',')
                  .Append(F(r.SrttMs)).Append(',').Append(F(r.RttvarMs)).Append(',').Append(F(r.MinRttMs)).Append(',').Append(F(r.RtoMs)).Append(',')
                  .Append(r.CaState).Append(',').Append(r.Inflight).Append(',').Append(r.Unacked).Append(',').Append(r.Sacked).Append(',')
                  .Append(r.Lost).Append(',').Append(r.RetransOut).Append(',').Append(r.TotalRetrans).Append(',').Append(r.Delivered).Append(',')
                  .Append(r.BytesAcked).Append(',').Append(F(r.GoodputMbps)).Append(',').Append(r.DeliveredBytes).Append(',').Append(F(r.DeliveryRateMbps)).Append(',')
                  .Append(r.QueuePkts).Append(',').Append(r.QueueBytes).Append(',').Append(F(r.QueueDelayMs)).Append(',').Append(r.QueueDrops).Append(',')
                  .Append(r.QueueMarks).Append(',').Append(r.FlowDrops).Append(',').Append(r.FlowMarks).Append(',')
                  .Append(r.BbrBandwidthMbps > 0 ? F(r.BbrBandwidthMbps) : "").Append(',').Append(r.BbrMinRttMs > 0 ? F(r.BbrMinRttMs) : "").Append(',')
                  .Append(r.DctcpAlpha >= 0 ? r.DctcpAlpha.ToString(CultureInfo.InvariantCulture) : "").Append('\n');
            }
            files.Add(WriteFile(dir, $"flow-{f.Spec.Name}.csv", sb));
        }
        var lsb = new StringBuilder();
        lsb.Append(LinkCsvHeader).Append('\n');
        int count = LinkSeries.Where(s => s is not null).Select(s => s!.Count).DefaultIfEmpty(0).Max();
        for (int row = 0; row < count; row++)
            for (int i = 0; i < LinkSeries.Length; i++)
            {
                if (LinkSeries[i] is not { } s || row >= s.Count) continue;
                var r = s[row];
                lsb.Append(T(r.TimeS)).Append(',').Append(_sim.Links[i].Name).Append(',').Append(r.QueuePkts).Append(',').Append(r.QueueBytes).Append(',')
                   .Append(F(r.QueueDelayMs)).Append(',').Append(r.Drops).Append(',').Append(r.Marks).Append(',').Append(r.Lost).Append(',')
                   .Append(F(r.ThroughputMbps)).Append('\n');
            }
        files.Add(WriteFile(dir, "links.csv", lsb));
        var sums = Summaries();
        files.Add(WriteFile(dir, "summary.csv", new StringBuilder(SummaryCsv(sums))));
        files.Add(WriteFile(dir, "summary.md", new StringBuilder(SummaryMarkdown(sums))));
        return files;
    }

    private static string WriteFile(string dir, string name, StringBuilder sb)
    {
        string path = Path.Combine(dir, name);
        File.WriteAllText(path, sb.ToString());
        return path;
    }

    private static readonly string[] SummaryColumns =
        ["flow", "type", "cc", "from", "to", "start_s", "end_s", "bytes", "goodput_mbps", "retrans", "rtos", "mean_rtt_ms", "p99_rtt_ms",
         "mean_queue_delay_ms", "drops", "marks", "requests", "mean_fct_ms", "p99_fct_ms", "status"];

    private static string[] Cells(FlowSummary s) =>
        [s.Name, s.Type, s.Cc, s.From, s.To, F(s.StartS), F(s.EndS), s.Bytes.ToString(CultureInfo.InvariantCulture), F(s.GoodputMbps),
         s.Retrans.ToString(CultureInfo.InvariantCulture), s.Rtos.ToString(CultureInfo.InvariantCulture), F(s.MeanRttMs), F(s.P99RttMs),
         F(s.MeanQueueDelayMs), s.Drops.ToString(CultureInfo.InvariantCulture), s.Marks.ToString(CultureInfo.InvariantCulture),
         s.Requests.ToString(CultureInfo.InvariantCulture), F(s.MeanFctMs), F(s.P99FctMs), s.Status];

    /// <summary>
    /// Jain's index over the goodputs of the flows that want bandwidth: the bulk and on/off flows
    /// (request/response flows are paced by their think time), or every flow when there are none.
    /// </summary>
    public static double Jain(IReadOnlyList<FlowSummary> sums)
    {
        var greedy = sums.Where(s => s.Type != "rr").ToList();
        return JainIndex((greedy.Count > 0 ? greedy : sums).Select(s => s.GoodputMbps).ToList());
    }

    /// <summary><see cref="Jain"/> formatted ("0.9980", or "n/a").</summary>
    public static string JainText(IReadOnlyList<FlowSummary> sums)
    {
        double j = Jain(sums);
        return double.IsNaN(j) ? "n/a" : F(j, "0.0000");
    }

    /// <summary>summary.csv: one row per flow.</summary>
    public static string SummaryCsv(IReadOnlyList<FlowSummary> sums)
    {
        var sb = new StringBuilder();
        sb.Append(string.Join(',', SummaryColumns)).Append('\n');
        foreach (var s in sums) sb.Append(string.Join(',', Cells(s).Select(Csv))).Append('\n');
        return sb.ToString();
    }

    private static string Csv(string v) => v.Contains(',') || v.Contains('"') ? "\"" + v.Replace("\"", "\"\"") + "\"" : v;

    /// <summary>summary.md: the scenario, a table of the flows, and Jain's index.</summary>
    public string SummaryMarkdown(IReadOnlyList<FlowSummary> sums)
    {
        var sc = _sim.Scenario;
        var sb = new StringBuilder();
        sb.Append("# ").Append(sc.Name).Append("\n\n");
        if (sc.Description is { } d) sb.Append(d).Append("\n\n");
        sb.Append("Seed ").Append(_sim.Seed).Append(", ").Append(Units.FormatTime(sc.DurationNs)).Append(" simulated, sampled every ")
          .Append(Units.FormatTime(sc.SampleIntervalNs)).Append(".\n\n");
        sb.Append("| link | up (host to switch) | down (switch to host) |\n| --- | --- | --- |\n");
        foreach (var h in _sim.Hosts) sb.Append("| ").Append(h.Name).Append(" | ").Append(h.Spec.Up).Append(" | ").Append(h.Spec.Down).Append(" |\n");
        sb.Append('\n');
        sb.Append("| ").Append(string.Join(" | ", SummaryColumns)).Append(" |\n");
        sb.Append('|').Append(string.Concat(SummaryColumns.Select(_ => " --- |"))).Append('\n');
        foreach (var s in sums) sb.Append("| ").Append(string.Join(" | ", Cells(s))).Append(" |\n");
        sb.Append("\nJain's fairness index over the goodput of the bulk and on/off flows: ").Append(JainText(sums)).Append('\n');
        return sb.ToString();
    }

    /// <summary>The summary as an aligned text table, for a terminal.</summary>
    public static string SummaryTable(IReadOnlyList<FlowSummary> sums)
    {
        string[] cols = ["flow", "type", "cc", "from", "to", "goodput_mbps", "bytes", "retrans", "rtos", "mean_rtt_ms", "p99_rtt_ms", "mean_queue_delay_ms", "drops", "marks", "status"];
        var rows = sums.Select(s => new[]
        {
            s.Name, s.Type, s.Cc, s.From, s.To, F(s.GoodputMbps), s.Bytes.ToString(CultureInfo.InvariantCulture), s.Retrans.ToString(CultureInfo.InvariantCulture),
            s.Rtos.ToString(CultureInfo.InvariantCulture), F(s.MeanRttMs), F(s.P99RttMs), F(s.MeanQueueDelayMs), s.Drops.ToString(CultureInfo.InvariantCulture),
            s.Marks.ToString(CultureInfo.InvariantCulture), s.Status,
        }).ToList();
        var width = cols.Select((c, i) => Math.Max(c.Length, rows.Count > 0 ? rows.Max(r => r[i].Length) : 0)).ToArray();
        var sb = new StringBuilder();
        void Line(string[] cells)
        {
            for (int i = 0; i < cells.Length; i++)
            {
                bool numeric = i >= 5 && i < cells.Length - 1;
                sb.Append(numeric ? cells[i].PadLeft(width[i]) : cells[i].PadRight(width[i]));
                if (i < cells.Length - 1) sb.Append("  ");
            }
            sb.Append('\n');
        }
        Line(cols);
        foreach (var r in rows) Line(r);
        foreach (var s in sums.Where(s => s.Requests > 0))
            sb.Append(s.Name).Append(": ").Append(s.Requests).Append(" requests, completion time mean ").Append(F(s.MeanFctMs)).Append(" ms, p99 ").Append(F(s.P99FctMs)).Append(" ms\n");
        sb.Append("Jain's fairness index (goodput of the bulk and on/off flows): ").Append(JainText(sums)).Append('\n');
        return sb.ToString();
    }
}
