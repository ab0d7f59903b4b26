using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using NetStack.Api;

namespace NetStack.Services.Iperf3;

/// <summary>Which way a test's data flows, from the point of view of one side (iperf3's test->mode).</summary>
public enum Iperf3Mode
{
    /// <summary>Both send (--bidir): BIDIRECTIONAL.</summary>
    Bidirectional = -1,
    /// <summary>This side receives: RECEIVER.</summary>
    Receiver = 0,
    /// <summary>This side sends: SENDER.</summary>
    Sender = 1,
}

/// <summary>
/// The state one side of a test keeps (struct iperf_test) and what it prints: the statistics
/// callback, the interval reports and the summary in iperf3's words and columns, the JSON tree of
/// -J, and the results exchanged at the end. The client and the server share it, as iperf3's
/// iperf_api.c serves both roles; <see cref="Role"/> says which.
/// </summary>
public sealed class Iperf3Test
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;
    private readonly Action<string>? _output;
    private readonly StringBuilder? _serverOutput;

    /// <param name="role">'c' (client) or 's' (server).</param>
    /// <param name="settings">The test's settings.</param>
    /// <param name="json">-J: collect the JSON tree instead of printing lines.</param>
    /// <param name="output">Where the text goes (each call a line or more, newline included); null for none.</param>
    public Iperf3Test(char role, Iperf3Parameters settings, bool json, Action<string>? output)
    {
        Role = role;
        Settings = settings;
        Json = json;
        _output = output;
        if (role == 's' && settings.GetServerOutput && !json) _serverOutput = new StringBuilder();
        Mode = settings.Bidirectional ? Iperf3Mode.Bidirectional : (settings.Reverse ^ (role == 's')) ? Iperf3Mode.Receiver : Iperf3Mode.Sender;
        if (json)
        {
            JsonTop = new JsonObject();
            JsonStart = new JsonObject { ["connected"] = JsonConnected = new JsonArray() };
            JsonTop["start"] = JsonStart;
            JsonTop["intervals"] = JsonIntervals = new JsonArray();
            JsonTop["end"] = JsonEnd = new JsonObject();
        }
    }

    public char Role { get; }
    public Iperf3Parameters Settings { get; }
    public Iperf3Mode Mode { get; }
    public bool Json { get; }
    public bool Verbose { get; init; }
    /// <summary>-f: the bitrate unit ('a' adaptive bits, 'k' 'm' 'g' 't', or bytes in capitals).</summary>
    public char UnitFormat { get; init; } = 'a';
    /// <summary>-i: seconds between reports (0: none).</summary>
    public double StatsInterval { get; init; } = 1;
    public byte[] Cookie { get; set; } = new byte[Iperf3Protocol.CookieSize];
    public Iperf3State State { get; set; }
    public List<Iperf3Stream> Streams { get; } = new();
    /// <summary>Streams of each direction (-P).</summary>
    public int NumStreams => Settings.Parallel;

    /// <summary>1 when the sender here reads retransmissions from TCP_INFO, -1 when unknown (iperf3's sender_has_retransmits).</summary>
    public int SenderHasRetransmits { get; set; }
    public int OtherSideHasRetransmits { get; set; }
    public bool Omitting { get; set; }
    public bool Done { get; set; }
    public int CtrlSckMss { get; set; }
    public string? CongestionUsed { get; set; }
    public string? RemoteCongestionUsed { get; set; }
    public double[] CpuUtil { get; } = new double[3];
    public double[] RemoteCpuUtil { get; } = new double[3];
    /// <summary>What the server sent with --get-server-output.</summary>
    public JsonNode? JsonServerOutput { get; set; }
    public string? ServerOutputText { get; set; }
    public long BytesSent, BytesReceived, BlocksSent, BlocksReceived;

    public JsonObject? JsonTop { get; }
    public JsonObject? JsonStart { get; }
    public JsonArray? JsonConnected { get; }
    public JsonArray? JsonIntervals { get; }
    public JsonObject? JsonEnd { get; }

    public bool IsTcp => Settings.Protocol == Iperf3Transport.Tcp;
    private string ProtocolName => Settings.Protocol switch { Iperf3Transport.Udp => "UDP", Iperf3Transport.Sctp => "SCTP", _ => "TCP" };

    // ------------------------------------------------------------------ output

    /// <summary>iperf_printf: text to the output (and kept for --get-server-output on a server).</summary>
    public void Printf(string text)
    {
        _output?.Invoke(text);
        _serverOutput?.Append(text);
    }

    private void Printf(FormattableString text) => Printf(text.ToString(Inv));

    /// <summary>iperf3's warning(): "warning: ..." (on stderr in iperf3; here in the output, where it is seen in order).</summary>
    public void Warning(string text)
    {
        if (Json) return;
        Printf($"warning: {text}\n");
    }

    /// <summary>The text printed so far, for a server's --get-server-output.</summary>
    public string? ServerOutput => _serverOutput?.ToString();

    /// <summary>The version string this implementation reports ("netstack iperf3 (iperf 3.12 protocol)").</summary>
    public static string Version { get; } = $"netstack {typeof(Iperf3Test).Assembly.GetName().Version?.ToString(3) ?? "?"} iperf3 (iperf {Iperf3Parameters.ProtocolVersion} protocol)";

    /// <summary>uname -a's words, as get_system_info() prints them.</summary>
    public static string SystemInfo()
    {
        static string Read(string f)
        {
            try { return File.ReadAllText(f).Trim(); }
            catch (IOException) { return "?"; }
            catch (UnauthorizedAccessException) { return "?"; }
        }
        string arch = System.Runtime.InteropServices.RuntimeInformation.OSArchitecture switch
        {
            System.Runtime.InteropServices.Architecture.X64 => "x86_64",
            System.Runtime.InteropServices.Architecture.Arm64 => "aarch64",
            var a => a.ToString().ToLowerInvariant(),
        };
        return $"{Read("/proc/sys/kernel/ostype")} {Read("/proc/sys/kernel/hostname")} {Read("/proc/sys/kernel/osrelease")} {Read("/proc/sys/kernel/version")} {arch}";
    }

    // ------------------------------------------------------------------ streams

    /// <summary>iperf_add_stream: appends a stream with iperf3's ids (1, then 3, 4, ...).</summary>
    public Iperf3Stream AddStream(NetSocket socket, bool sender, System.Net.IPEndPoint local, System.Net.IPEndPoint remote)
    {
        var sp = new Iperf3Stream(socket, sender, local, remote);
        sp.Id = Streams.Count == 0 ? 1 : Streams.Count + 2;
        Streams.Add(sp);
        OnNewStream(sp);
        return sp;
    }

    /// <summary>connect_msg: "[  5] local 10.7.0.2 port 41634 connected to 10.7.0.1 port 5201".</summary>
    private void OnNewStream(Iperf3Stream sp)
    {
        if (Json)
            JsonConnected!.Add(new JsonObject
            {
                ["socket"] = sp.Fd,
                ["local_host"] = Iperf3Format.Host(sp.Local.Address),
                ["local_port"] = sp.Local.Port,
                ["remote_host"] = Iperf3Format.Host(sp.Remote.Address),
                ["remote_port"] = sp.Remote.Port,
            });
        else
            Printf($"{Iperf3Format.Id(sp.Fd)} local {Iperf3Format.Host(sp.Local.Address)} port {sp.Local.Port} connected to {Iperf3Format.Host(sp.Remote.Address)} port {sp.Remote.Port}\n");
    }

    /// <summary>iperf_on_connect: the timestamp, who connects to whom, the cookie.</summary>
    public void OnConnect(string? serverHost, int serverPort, System.Net.IPEndPoint? clientEndPoint)
    {
        var now = DateTimeOffset.UtcNow;
        if (Json)
        {
            JsonStart!["timestamp"] = new JsonObject
            {
                ["time"] = now.ToString("ddd, dd MMM yyyy HH:mm:ss 'GMT'", Inv),
                ["timesecs"] = now.ToUnixTimeSeconds(),
            };
        }
        else if (Verbose)
            Printf($"Time: {now.ToString("ddd, dd MMM yyyy HH:mm:ss 'GMT'", Inv)}\n");
        if (Role == 'c')
        {
            if (Json) JsonStart!["connecting_to"] = new JsonObject { ["host"] = serverHost, ["port"] = serverPort };
            else
            {
                Printf($"Connecting to host {serverHost}, port {serverPort}\n");
                if (Settings.Reverse) Printf($"Reverse mode, remote host {serverHost} is sending\n");
            }
        }
        else
        {
            if (Json) JsonStart!["accepted_connection"] = new JsonObject { ["host"] = Iperf3Format.Host(clientEndPoint!.Address), ["port"] = clientEndPoint.Port };
            else Printf($"Accepted connection from {Iperf3Format.Host(clientEndPoint!.Address)}, port {clientEndPoint.Port}\n");
        }
        if (Json)
        {
            JsonStart!["cookie"] = Iperf3Protocol.CookieText(Cookie);
            if (IsTcp)
            {
                if (Settings.Mss != 0) JsonStart["tcp_mss"] = Settings.Mss;
                else JsonStart["tcp_mss_default"] = CtrlSckMss;
            }
            JsonStart["target_bitrate"] = Settings.Rate;
        }
        else if (Verbose)
        {
            Printf($"      Cookie: {Iperf3Protocol.CookieText(Cookie)}\n");
            if (IsTcp) Printf(Settings.Mss != 0 ? $"      TCP MSS: {Settings.Mss}\n" : $"      TCP MSS: {CtrlSckMss} (default)\n");
            if (Settings.Rate != 0) Printf($"      Target Bitrate: {Settings.Rate}\n");
        }
    }

    /// <summary>iperf_on_test_start: -J's "test_start" (or -V's line).</summary>
    public void OnTestStart()
    {
        if (Json)
            JsonStart!["test_start"] = new JsonObject
            {
                ["protocol"] = ProtocolName,
                ["num_streams"] = NumStreams,
                ["blksize"] = Settings.Length,
                ["omit"] = Settings.Omit,
                ["duration"] = Settings.Time,
                ["bytes"] = Settings.Bytes,
                ["blocks"] = Settings.Blocks,
                ["reverse"] = Settings.Reverse ? 1 : 0,
                ["tos"] = Settings.Tos,
                ["target_bitrate"] = Settings.Rate,
            };
        else if (Verbose)
        {
            string end = Settings.Bytes != 0 ? $"{Settings.Bytes} bytes to send" : Settings.Blocks != 0 ? $"{Settings.Blocks} blocks to send" : $"{Settings.Time} second test";
            Printf($"Starting Test: protocol: {ProtocolName}, {NumStreams} streams, {Settings.Length} byte blocks, omitting {Settings.Omit} seconds, {end}, tos {Settings.Tos}\n");
        }
    }

    /// <summary>Adds the socket buffer sizes -J reports in "start" (once: cJSON repeats the keys per stream).</summary>
    public void RecordBuffers(int sndbuf, int rcvbuf)
    {
        if (!Json || JsonStart!.ContainsKey("sock_bufsize")) return;
        JsonStart["sock_bufsize"] = Settings.Window;
        JsonStart["sndbuf_actual"] = sndbuf;
        JsonStart["rcvbuf_actual"] = rcvbuf;
    }

    // ------------------------------------------------------------------ statistics

    /// <summary>iperf_init_test: every stream's clock starts now.</summary>
    public void InitTest()
    {
        long now = Iperf3Clock.Now;
        foreach (var sp in Streams)
            lock (sp.Gate) sp.StartTime = sp.StartTimeFixed = now;
        OnTestStart();
    }

    /// <summary>iperf_reset_stats: the end of the omitted seconds: counting starts again.</summary>
    public void ResetStats()
    {
        long now = Iperf3Clock.Now;
        BytesSent = BlocksSent = 0;
        foreach (var sp in Streams)
        {
            TcpInfo? info = SenderHasRetransmits == 1 && sp.Sender ? TryTcpInfo(sp) : null;
            lock (sp.Gate)
            {
                sp.OmittedPacketCount = sp.Udp.PacketCount;
                sp.OmittedCntError = sp.Udp.CntError;
                sp.OmittedOutOfOrder = sp.Udp.OutOfOrder;
                sp.Udp.Jitter = 0;
                sp.BytesSentOmit = sp.BytesSent;
                sp.BytesReceived = 0;
                sp.BytesSentThisInterval = sp.BytesReceivedThisInterval = 0;
                if (info is { } i) sp.StreamPrevTotalRetrans = i.TotalRetrans;
                sp.StreamRetrans = 0;
                sp.StartTime = now;
            }
        }
    }

    private static TcpInfo? TryTcpInfo(Iperf3Stream sp)
    {
        try { return sp.Socket.GetTcpInfo(); }
        catch (NetStackException) { return null; }
        catch (ObjectDisposedException) { return null; }
    }

    /// <summary>iperf_stats_callback: closes an interval on every stream.</summary>
    /// <remarks>Mirrors src/iperf_api.c: iperf_stats_callback().</remarks>
    public void StatsCallback()
    {
        foreach (var sp in Streams)
        {
            TcpInfo? info = IsTcp ? TryTcpInfo(sp) : null;
            var temp = new Iperf3IntervalResult { Omitted = Omitting };
            lock (sp.Gate)
            {
                temp.BytesTransferred = sp.Sender ? sp.BytesSentThisInterval : sp.BytesReceivedThisInterval;
                var irp = sp.LastInterval;
                temp.IntervalStart = irp is not null ? sp.EndTime : sp.StartTime;
                sp.EndTime = Iperf3Clock.Now;
                temp.IntervalEnd = sp.EndTime;
                temp.IntervalDuration = Iperf3Clock.Seconds(temp.IntervalStart, temp.IntervalEnd);
                if (IsTcp)
                {
                    if (info is { } i && SenderHasRetransmits == 1)
                    {
                        long totalRetrans = i.TotalRetrans;
                        temp.IntervalRetrans = totalRetrans - sp.StreamPrevTotalRetrans;
                        sp.StreamRetrans += temp.IntervalRetrans;
                        sp.StreamPrevTotalRetrans = totalRetrans;
                        temp.SndCwnd = i.SendCwnd * i.SendMss;
                        sp.StreamMaxSndCwnd = Math.Max(sp.StreamMaxSndCwnd, temp.SndCwnd);
                        temp.SndWnd = i.SendWindow;
                        sp.StreamMaxSndWnd = Math.Max(sp.StreamMaxSndWnd, temp.SndWnd);
                        temp.Rtt = (long)i.Rtt.TotalMicroseconds;
                        sp.StreamMaxRtt = Math.Max(sp.StreamMaxRtt, temp.Rtt);
                        if (sp.StreamMinRtt == 0 || temp.Rtt < sp.StreamMinRtt) sp.StreamMinRtt = temp.Rtt;
                        sp.StreamSumRtt += temp.Rtt;
                        sp.StreamCountRtt++;
                        temp.RttVar = (long)i.RttVar.TotalMicroseconds;
                        temp.Pmtu = i.Pmtu;
                    }
                }
                else
                {
                    if (irp is null)
                    {
                        temp.IntervalPacketCount = sp.Udp.PacketCount;
                        temp.IntervalOutOfOrder = sp.Udp.OutOfOrder;
                        temp.IntervalCntError = sp.Udp.CntError;
                    }
                    else
                    {
                        temp.IntervalPacketCount = sp.Udp.PacketCount - irp.PacketCount;
                        temp.IntervalOutOfOrder = sp.Udp.OutOfOrder - irp.OutOfOrder;
                        temp.IntervalCntError = sp.Udp.CntError - irp.CntError;
                    }
                    temp.PacketCount = sp.Udp.PacketCount;
                    temp.Jitter = sp.Udp.Jitter;
                    temp.OutOfOrder = sp.Udp.OutOfOrder;
                    temp.CntError = sp.Udp.CntError;
                }
                sp.Intervals.Add(temp);
                sp.BytesSentThisInterval = sp.BytesReceivedThisInterval = 0;
            }
        }
    }

    /// <summary>iperf_reporter_callback: the interval report while running; the last interval and the summary at the end.</summary>
    public void ReporterCallback()
    {
        switch (State)
        {
            case Iperf3State.TestRunning:
                PrintIntermediate();
                break;
            case Iperf3State.TestEnd:
            case Iperf3State.DisplayResults:
                PrintIntermediate();
                PrintResults();
                break;
        }
    }

    private (int Lower, int Upper) Modes() => Mode == Iperf3Mode.Bidirectional
        ? Role == 'c' ? (-1, 0) : (0, 1)
        : ((int)Mode, (int)Mode);

    private string RoleTag(bool sender) => Mode == Iperf3Mode.Bidirectional ? $"[{(sender ? "TX" : "RX")}-{(Role == 'c' ? "C" : "S")}]" : "";

    private static double Secs(long from, long to) => Iperf3Clock.Seconds(from, to);

    /// <summary>iperf_print_intermediate: one line per stream, and [SUM] with several streams.</summary>
    /// <remarks>Mirrors src/iperf_api.c: iperf_print_intermediate().</remarks>
    public void PrintIntermediate()
    {
        // A very short last interval with no data (the control messages overtaking the data) is left out.
        bool intervalOk = false;
        foreach (var sp in Streams)
        {
            var irp = sp.LastInterval;
            if (irp is not null && (irp.IntervalDuration >= StatsInterval * 0.10 || irp.BytesTransferred > 0)) intervalOk = true;
        }
        if (!intervalOk) return;

        JsonObject? jsonInterval = null;
        JsonArray? jsonStreams = null;
        if (Json)
        {
            jsonInterval = new JsonObject { ["streams"] = jsonStreams = new JsonArray() };
            JsonIntervals!.Add(jsonInterval);
        }

        var (lower, upper) = Modes();
        for (int mode = lower; mode <= upper; mode++)
        {
            bool mustBeSender = mode * mode == 1;
            string mbuf = RoleTag(mustBeSender), zbuf = Mode == Iperf3Mode.Bidirectional ? "          " : "";
            long bytes = 0, retransmits = 0, totalPackets = 0, lostPackets = 0;
            double avgJitter = 0;
            foreach (var sp in Streams)
            {
                if (sp.Sender != mustBeSender) continue;
                PrintIntervalResults(sp, jsonStreams);
                var irp = sp.LastInterval;
                if (irp is null) return;
                bytes += irp.BytesTransferred;
                if (IsTcp)
                {
                    if (SenderHasRetransmits == 1) retransmits += irp.IntervalRetrans;
                }
                else
                {
                    totalPackets += irp.IntervalPacketCount;
                    lostPackets += irp.IntervalCntError;
                    avgJitter += irp.Jitter;
                }
            }
            if (NumStreams <= 1 && !Json) continue;
            string sumName = "sum";
            if (Mode == Iperf3Mode.Bidirectional && ((Role == 'c' && !mustBeSender) || (Role != 'c' && mustBeSender))) sumName = "sum_bidir_reverse";
            if (Streams.Count == 0) continue;
            var first = Streams[0];
            var fi = first.LastInterval!;
            string ubuf = Iperf3Format.Unit(bytes, 'A');
            double bandwidth = bytes / fi.IntervalDuration;
            string nbuf = Iperf3Format.Unit(bandwidth, UnitFormat);
            double start = Secs(first.StartTime, fi.IntervalStart), end = Secs(first.StartTime, fi.IntervalEnd);
            string iv = Iperf3Format.Interval(start, end);
            if (IsTcp)
            {
                if (SenderHasRetransmits == 1 && mustBeSender)
                {
                    if (Json) jsonInterval![sumName] = Obj(("start", start), ("end", end), ("seconds", fi.IntervalDuration), ("bytes", bytes), ("bits_per_second", bandwidth * 8), ("retransmits", retransmits), ("omitted", fi.Omitted), ("sender", mustBeSender));
                    else Printf($"[SUM]{mbuf} {iv} sec  {ubuf}s  {nbuf}s/sec  {retransmits,3}             {(fi.Omitted ? "(omitted)" : "")}\n");
                }
                else
                {
                    if (Json) jsonInterval![sumName] = Obj(("start", start), ("end", end), ("seconds", fi.IntervalDuration), ("bytes", bytes), ("bits_per_second", bandwidth * 8), ("omitted", Omitting), ("sender", mustBeSender));
                    else Printf($"[SUM]{mbuf} {iv} sec  {ubuf}s  {nbuf}s/sec                  {(Omitting ? "(omitted)" : "")}\n");
                }
            }
            else if (mustBeSender)
            {
                if (Json) jsonInterval![sumName] = Obj(("start", start), ("end", end), ("seconds", fi.IntervalDuration), ("bytes", bytes), ("bits_per_second", bandwidth * 8), ("packets", totalPackets), ("omitted", Omitting), ("sender", mustBeSender));
                else Printf($"[SUM]{mbuf} {iv} sec  {ubuf}s  {nbuf}s/sec {zbuf} {totalPackets}  {(Omitting ? "(omitted)" : "")}\n");
            }
            else
            {
                avgJitter /= NumStreams;
                double lostPercent = Iperf3UdpReceiveStats.LostPercent(lostPackets, totalPackets);
                if (Json) jsonInterval![sumName] = Obj(("start", start), ("end", end), ("seconds", fi.IntervalDuration), ("bytes", bytes), ("bits_per_second", bandwidth * 8), ("jitter_ms", avgJitter * 1000.0), ("lost_packets", lostPackets), ("packets", totalPackets), ("lost_percent", lostPercent), ("omitted", Omitting), ("sender", mustBeSender));
                else Printf($"[SUM]{mbuf} {iv} sec  {ubuf}s  {nbuf}s/sec  {avgJitter * 1000.0:F3} ms  {lostPackets}/{totalPackets} ({Iperf3Format.G(lostPercent, 2)}%)  {(Omitting ? "(omitted)" : "")}\n");
            }
        }
    }

    private const string Separator = "- - - - - - - - - - - - - - - - - - - - - - - - -\n";

    /// <summary>print_interval_results: one stream's line for the last interval (and the header before the first).</summary>
    /// <remarks>Mirrors src/iperf_api.c: print_interval_results().</remarks>
    private void PrintIntervalResults(Iperf3Stream sp, JsonArray? jsonStreams)
    {
        bool bidir = Mode == Iperf3Mode.Bidirectional;
        string mbuf = RoleTag(sp.Sender), zbuf = bidir ? "          " : "";
        var irp = sp.LastInterval;
        if (irp is null) return;
        if (!Json && ReferenceEquals(sp, Streams[0]))
        {
            // The first interval gets the header; later ones a separator when there are several streams.
            if (sp.StartTime == irp.IntervalStart)
            {
                if (IsTcp)
                {
                    if (SenderHasRetransmits == 1) Printf(bidir ? "[ ID][Role] Interval           Transfer     Bitrate         Retr  Cwnd\n" : "[ ID] Interval           Transfer     Bitrate         Retr  Cwnd\n");
                    else Printf(bidir ? "[ ID][Role] Interval           Transfer     Bitrate\n" : "[ ID] Interval           Transfer     Bitrate\n");
                }
                else if (Mode == Iperf3Mode.Sender) Printf("[ ID] Interval           Transfer     Bitrate         Total Datagrams\n");
                else if (Mode == Iperf3Mode.Receiver) Printf("[ ID] Interval           Transfer     Bitrate         Jitter    Lost/Total Datagrams\n");
                else Printf("[ ID][Role] Interval           Transfer     Bitrate         Jitter    Lost/Total Datagrams\n");
            }
            else if (NumStreams > 1) Printf(Separator);
        }
        string ubuf = Iperf3Format.Unit(irp.BytesTransferred, 'A');
        double bandwidth = irp.IntervalDuration > 0.0 ? irp.BytesTransferred / irp.IntervalDuration : 0.0;
        string nbuf = Iperf3Format.Unit(bandwidth, UnitFormat);
        double st = Secs(sp.StartTime, irp.IntervalStart), et = Secs(sp.StartTime, irp.IntervalEnd);
        string iv = Iperf3Format.Interval(st, et), id = Iperf3Format.Id(sp.Fd), omitted = irp.Omitted ? "(omitted)" : "";
        if (IsTcp)
        {
            if (SenderHasRetransmits == 1 && sp.Sender)
            {
                if (Json) jsonStreams!.Add(Obj(("socket", sp.Fd), ("start", st), ("end", et), ("seconds", irp.IntervalDuration), ("bytes", irp.BytesTransferred), ("bits_per_second", bandwidth * 8), ("retransmits", irp.IntervalRetrans), ("snd_cwnd", irp.SndCwnd), ("snd_wnd", irp.SndWnd), ("rtt", irp.Rtt), ("rttvar", irp.RttVar), ("pmtu", irp.Pmtu), ("omitted", irp.Omitted), ("sender", sp.Sender)));
                else Printf($"{id}{mbuf} {iv} sec  {ubuf}s  {nbuf}s/sec  {irp.IntervalRetrans,3}   {Iperf3Format.Unit(irp.SndCwnd, 'A')}s       {omitted}\n");
            }
            else
            {
                if (Json) jsonStreams!.Add(Obj(("socket", sp.Fd), ("start", st), ("end", et), ("seconds", irp.IntervalDuration), ("bytes", irp.BytesTransferred), ("bits_per_second", bandwidth * 8), ("omitted", irp.Omitted), ("sender", sp.Sender)));
                else Printf($"{id}{mbuf} {iv} sec  {ubuf}s  {nbuf}s/sec                  {omitted}\n");
            }
        }
        else if (sp.Sender)
        {
            if (Json) jsonStreams!.Add(Obj(("socket", sp.Fd), ("start", st), ("end", et), ("seconds", irp.IntervalDuration), ("bytes", irp.BytesTransferred), ("bits_per_second", bandwidth * 8), ("packets", irp.IntervalPacketCount), ("omitted", irp.Omitted), ("sender", sp.Sender)));
            else Printf($"{id}{mbuf} {iv} sec  {ubuf}s  {nbuf}s/sec {zbuf} {irp.IntervalPacketCount}  {omitted}\n");
        }
        else
        {
            double lostPercent = Iperf3UdpReceiveStats.LostPercent(irp.IntervalCntError, irp.IntervalPacketCount);
            if (Json) jsonStreams!.Add(Obj(("socket", sp.Fd), ("start", st), ("end", et), ("seconds", irp.IntervalDuration), ("bytes", irp.BytesTransferred), ("bits_per_second", bandwidth * 8), ("jitter_ms", irp.Jitter * 1000.0), ("lost_packets", irp.IntervalCntError), ("packets", irp.IntervalPacketCount), ("lost_percent", lostPercent), ("omitted", irp.Omitted), ("sender", sp.Sender)));
            else Printf($"{id}{mbuf} {iv} sec  {ubuf}s  {nbuf}s/sec  {irp.Jitter * 1000.0:F3} ms  {irp.IntervalCntError}/{irp.IntervalPacketCount} ({Iperf3Format.G(lostPercent, 2)}%)  {omitted}\n");
        }
    }

    /// <summary>iperf_print_results: the summary, with sender and receiver lines per stream and [SUM] lines.</summary>
    /// <remarks>Mirrors src/iperf_api.c: iperf_print_results().</remarks>
    public void PrintResults()
    {
        JsonArray? jsonSummaryStreams = null;
        int tmpSenderHasRetransmits = SenderHasRetransmits;
        bool bidir = Mode == Iperf3Mode.Bidirectional;
        if (Json) JsonEnd!["streams"] = jsonSummaryStreams = new JsonArray();
        else
        {
            Printf(Separator);
            if (Verbose) Printf("Test Complete. Summary Results:\n");
            if (IsTcp)
            {
                if (SenderHasRetransmits != 0 || OtherSideHasRetransmits != 0)
                    Printf(bidir ? "[ ID][Role] Interval           Transfer     Bitrate         Retr\n" : "[ ID] Interval           Transfer     Bitrate         Retr\n");
                else
                    Printf(bidir ? "[ ID][Role] Interval           Transfer     Bitrate\n" : "[ ID] Interval           Transfer     Bitrate\n");
            }
            else
                Printf(bidir ? "[ ID][Role] Interval           Transfer     Bitrate         Jitter    Lost/Total Datagrams\n" : "[ ID] Interval           Transfer     Bitrate         Jitter    Lost/Total Datagrams\n");
        }

        var (lower, upper) = Modes();
        for (int mode = lower; mode <= upper; mode++)
        {
            long totalRetransmits = 0, totalPackets = 0, lostPackets = 0, senderTotalPackets = 0, receiverTotalPackets = 0;
            long totalSent = 0, totalReceived = 0;
            double startTime = 0, endTime = 0, avgJitter = 0, lostPercent = 0, senderTime = 0, receiverTime = 0;
            bool mustBeSender = mode * mode == 1;
            string mbuf = RoleTag(mustBeSender);
            if (bidir && mustBeSender) SenderHasRetransmits = tmpSenderHasRetransmits;
            else if (bidir && !mustBeSender) SenderHasRetransmits = OtherSideHasRetransmits;

            if (Streams.Count > 0)
            {
                var sp0 = Streams[0];
                endTime = Secs(sp0.StartTime, sp0.EndTime);
                if (sp0.Sender)
                {
                    sp0.SenderTime = endTime;
                    if (sp0.ReceiverTime == 0.0) sp0.ReceiverTime = sp0.SenderTime;
                }
                else
                {
                    sp0.ReceiverTime = endTime;
                    if (sp0.SenderTime == 0.0) sp0.SenderTime = sp0.ReceiverTime;
                }
                senderTime = sp0.SenderTime;
                receiverTime = sp0.ReceiverTime;
                foreach (var sp in Streams)
                {
                    if (sp.Sender != mustBeSender) continue;
                    JsonObject? jsonSummaryStream = null;
                    if (Json) jsonSummaryStreams!.Add(jsonSummaryStream = new JsonObject());
                    long bytesSent = sp.BytesSent - sp.BytesSentOmit, bytesReceived = sp.BytesReceived;
                    totalSent += bytesSent;
                    totalReceived += bytesReceived;
                    long senderPacketCount, receiverPacketCount;
                    if (sp.Sender)
                    {
                        senderPacketCount = sp.Udp.PacketCount;
                        receiverPacketCount = sp.PeerPacketCount;
                    }
                    else
                    {
                        senderPacketCount = sp.PeerPacketCount;
                        receiverPacketCount = sp.Udp.PacketCount;
                    }
                    long cntError = sp.Udp.CntError - sp.OmittedCntError;
                    if (IsTcp)
                    {
                        if (SenderHasRetransmits != 0) totalRetransmits += sp.StreamRetrans;
                    }
                    else
                    {
                        long packetCount = senderPacketCount != 0 ? senderPacketCount : receiverPacketCount;
                        totalPackets += packetCount - sp.OmittedPacketCount;
                        senderTotalPackets += senderPacketCount - sp.OmittedPacketCount;
                        receiverTotalPackets += receiverPacketCount - sp.OmittedPacketCount;
                        lostPackets += cntError;
                        avgJitter += sp.Udp.Jitter;
                    }
                    string id = Iperf3Format.Id(sp.Fd), iv = Iperf3Format.Interval(startTime, senderTime);
                    string ubuf = Iperf3Format.Unit(bytesSent, 'A');
                    double bandwidth = senderTime > 0.0 ? bytesSent / senderTime : 0.0;
                    string nbuf = Iperf3Format.Unit(bandwidth, UnitFormat);
                    if (IsTcp)
                    {
                        if (SenderHasRetransmits != 0)
                        {
                            long meanRtt = sp.StreamCountRtt == 0 ? 0 : sp.StreamSumRtt / sp.StreamCountRtt;
                            if (Json) jsonSummaryStream!["sender"] = Obj(("socket", sp.Fd), ("start", startTime), ("end", senderTime), ("seconds", senderTime), ("bytes", bytesSent), ("bits_per_second", bandwidth * 8), ("retransmits", sp.StreamRetrans), ("max_snd_cwnd", sp.StreamMaxSndCwnd), ("max_snd_wnd", sp.StreamMaxSndWnd), ("max_rtt", sp.StreamMaxRtt), ("min_rtt", sp.StreamMinRtt), ("mean_rtt", meanRtt), ("sender", mustBeSender));
                            else if (Role == 's' && !sp.Sender)
                            {
                                if (Verbose) Printf($"{id} (sender statistics not available)\n");
                            }
                            else Printf($"{id}{mbuf} {iv} sec  {ubuf}s  {nbuf}s/sec  {sp.StreamRetrans,3}             sender\n");
                        }
                        else
                        {
                            if (Json) jsonSummaryStream!["sender"] = Obj(("socket", sp.Fd), ("start", startTime), ("end", senderTime), ("seconds", senderTime), ("bytes", bytesSent), ("bits_per_second", bandwidth * 8), ("sender", mustBeSender));
                            else if (Role == 's' && !sp.Sender)
                            {
                                if (Verbose) Printf($"{id} (sender statistics not available)\n");
                            }
                            else Printf($"{id}{mbuf} {iv} sec  {ubuf}s  {nbuf}s/sec                  sender\n");
                        }
                    }
                    else
                    {
                        lostPercent = Iperf3UdpReceiveStats.LostPercent(cntError, senderPacketCount - sp.OmittedPacketCount);
                        if (Json)
                        {
                            long packetCount = senderPacketCount != 0 ? senderPacketCount : receiverPacketCount;
                            jsonSummaryStream!["udp"] = Obj(("socket", sp.Fd), ("start", startTime), ("end", senderTime), ("seconds", senderTime), ("bytes", bytesSent), ("bits_per_second", bandwidth * 8), ("jitter_ms", sp.Udp.Jitter * 1000.0), ("lost_packets", cntError), ("packets", packetCount - sp.OmittedPacketCount), ("lost_percent", lostPercent), ("out_of_order", sp.Udp.OutOfOrder - sp.OmittedOutOfOrder), ("sender", mustBeSender));
                        }
                        else
                        {
                            if (Role == 's' && !sp.Sender)
                            {
                                if (Verbose) Printf($"{id} (sender statistics not available)\n");
                            }
                            else Printf($"{id}{mbuf} {iv} sec  {ubuf}s  {nbuf}s/sec  {0.0:F3} ms  0/{senderPacketCount - sp.OmittedPacketCount} (0%)  sender\n");
                            long ooo = sp.Udp.OutOfOrder - sp.OmittedOutOfOrder;
                            if (ooo > 0) Printf($"[SUM]{mbuf} {startTime,4:F1}-{senderTime,4:F1} sec  {ooo} datagrams received out-of-order\n");
                        }
                    }

                    ubuf = Iperf3Format.Unit(bytesReceived, 'A');
                    bandwidth = receiverTime > 0 ? bytesReceived / receiverTime : 0.0;
                    nbuf = Iperf3Format.Unit(bandwidth, UnitFormat);
                    iv = Iperf3Format.Interval(startTime, receiverTime);
                    if (IsTcp)
                    {
                        if (Json) jsonSummaryStream!["receiver"] = Obj(("socket", sp.Fd), ("start", startTime), ("end", receiverTime), ("seconds", endTime), ("bytes", bytesReceived), ("bits_per_second", bandwidth * 8), ("sender", mustBeSender));
                        else if (Role == 's' && sp.Sender)
                        {
                            if (Verbose) Printf($"{id} (receiver statistics not available)\n");
                        }
                        else Printf($"{id}{mbuf} {iv} sec  {ubuf}s  {nbuf}s/sec                  receiver\n");
                    }
                    else if (!Json)
                    {
                        lostPercent = Iperf3UdpReceiveStats.LostPercent(cntError, receiverPacketCount - sp.OmittedPacketCount);
                        if (Role == 's' && sp.Sender)
                        {
                            if (Verbose) Printf($"{id} (receiver statistics not available)\n");
                        }
                        else Printf($"{id}{mbuf} {iv} sec  {ubuf}s  {nbuf}s/sec  {sp.Udp.Jitter * 1000.0:F3} ms  {cntError}/{receiverPacketCount - sp.OmittedPacketCount} ({Iperf3Format.G(lostPercent, 2)}%)  receiver\n");
                    }
                }
            }

            if (NumStreams > 1 || Json)
            {
                string sumName = "sum", sumSentName = "sum_sent", sumReceivedName = "sum_received";
                if (bidir && ((Role == 'c' && !mustBeSender) || (Role != 'c' && mustBeSender)))
                {
                    sumName = "sum_bidir_reverse";
                    sumSentName = "sum_sent_bidir_reverse";
                    sumReceivedName = "sum_received_bidir_reverse";
                }
                string ubuf = Iperf3Format.Unit(totalSent, 'A');
                double bandwidth = senderTime > 0.0 ? totalSent / senderTime : 0.0;
                string nbuf = Iperf3Format.Unit(bandwidth, UnitFormat);
                string iv = Iperf3Format.Interval(startTime, senderTime);
                if (IsTcp)
                {
                    if (SenderHasRetransmits != 0)
                    {
                        if (Json) JsonEnd![sumSentName] = Obj(("start", startTime), ("end", senderTime), ("seconds", senderTime), ("bytes", totalSent), ("bits_per_second", bandwidth * 8), ("retransmits", totalRetransmits), ("sender", mustBeSender));
                        else if (Role == 's' && !mustBeSender)
                        {
                            if (Verbose) Printf("[SUM] (sender statistics not available)\n");
                        }
                        else Printf($"[SUM]{mbuf} {iv} sec  {ubuf}s  {nbuf}s/sec  {totalRetransmits,3}             sender\n");
                    }
                    else
                    {
                        if (Json) JsonEnd![sumSentName] = Obj(("start", startTime), ("end", senderTime), ("seconds", senderTime), ("bytes", totalSent), ("bits_per_second", bandwidth * 8), ("sender", mustBeSender));
                        else if (Role == 's' && !mustBeSender)
                        {
                            if (Verbose) Printf("[SUM] (sender statistics not available)\n");
                        }
                        else Printf($"[SUM]{mbuf} {iv} sec  {ubuf}s  {nbuf}s/sec                  sender\n");
                    }
                    ubuf = Iperf3Format.Unit(totalReceived, 'A');
                    bandwidth = receiverTime > 0.0 ? totalReceived / receiverTime : 0.0;
                    nbuf = Iperf3Format.Unit(bandwidth, UnitFormat);
                    iv = Iperf3Format.Interval(startTime, receiverTime);
                    if (Json) JsonEnd![sumReceivedName] = Obj(("start", startTime), ("end", receiverTime), ("seconds", receiverTime), ("bytes", totalReceived), ("bits_per_second", bandwidth * 8), ("sender", mustBeSender));
                    else if (Role == 's' && mustBeSender)
                    {
                        if (Verbose) Printf("[SUM] (receiver statistics not available)\n");
                    }
                    else Printf($"[SUM]{mbuf} {iv} sec  {ubuf}s  {nbuf}s/sec                  receiver\n");
                }
                else
                {
                    avgJitter /= NumStreams;
                    lostPercent = Iperf3UdpReceiveStats.LostPercent(lostPackets, totalPackets);
                    if (Json)
                    {
                        JsonEnd![sumName] = Obj(("start", startTime), ("end", receiverTime), ("seconds", receiverTime), ("bytes", totalSent), ("bits_per_second", bandwidth * 8), ("jitter_ms", avgJitter * 1000.0), ("lost_packets", lostPackets), ("packets", totalPackets), ("lost_percent", lostPercent), ("sender", mustBeSender));
                        JsonEnd[sumSentName] = Obj(("start", startTime), ("end", senderTime), ("seconds", senderTime), ("bytes", totalSent), ("bits_per_second", senderTime > 0 ? totalSent * 8 / senderTime : 0.0), ("jitter_ms", 0.0), ("lost_packets", 0L), ("packets", senderTotalPackets), ("lost_percent", 0.0), ("sender", true));
                        JsonEnd[sumReceivedName] = Obj(("start", startTime), ("end", receiverTime), ("seconds", receiverTime), ("bytes", totalReceived), ("bits_per_second", receiverTime > 0 ? totalReceived * 8 / receiverTime : 0.0), ("jitter_ms", avgJitter * 1000.0), ("lost_packets", lostPackets), ("packets", receiverTotalPackets), ("lost_percent", lostPercent), ("sender", false));
                    }
                    else
                    {
                        if (!(Role == 's' && !mustBeSender))
                            Printf($"[SUM]{mbuf} {iv} sec  {Iperf3Format.Unit(totalSent, 'A')}s  {nbuf}s/sec  {0.0:F3} ms  0/{senderTotalPackets} (0%)  sender\n");
                        if (!(Role == 's' && mustBeSender))
                        {
                            bandwidth = endTime > 0.0 ? totalReceived / receiverTime : 0.0;
                            Printf($"[SUM]{mbuf} {Iperf3Format.Interval(startTime, receiverTime)} sec  {Iperf3Format.Unit(totalReceived, 'A')}s  {Iperf3Format.Unit(bandwidth, UnitFormat)}s/sec  {avgJitter * 1000.0:F3} ms  {lostPackets}/{receiverTotalPackets} ({Iperf3Format.G(lostPercent, 2)}%)  receiver\n");
                        }
                    }
                }
            }

            if (Json && mode == upper)
            {
                JsonEnd!["cpu_utilization_percent"] = Obj(("host_total", CpuUtil[0]), ("host_user", CpuUtil[1]), ("host_system", CpuUtil[2]), ("remote_total", RemoteCpuUtil[0]), ("remote_user", RemoteCpuUtil[1]), ("remote_system", RemoteCpuUtil[2]));
                if (IsTcp)
                {
                    string? snd = mustBeSender ? CongestionUsed : RemoteCongestionUsed, rcv = mustBeSender ? RemoteCongestionUsed : CongestionUsed;
                    if (snd is not null) JsonEnd["sender_tcp_congestion"] = snd;
                    if (rcv is not null) JsonEnd["receiver_tcp_congestion"] = rcv;
                }
            }
            else if (!Json)
            {
                if (Verbose)
                {
                    if (mustBeSender)
                        Printf($"CPU Utilization: local/{(mustBeSender ? "sender" : "receiver")} {CpuUtil[0]:F1}% ({CpuUtil[1]:F1}%u/{CpuUtil[2]:F1}%s), remote/{(mustBeSender ? "receiver" : "sender")} {RemoteCpuUtil[0]:F1}% ({RemoteCpuUtil[1]:F1}%u/{RemoteCpuUtil[2]:F1}%s)\n");
                    if (IsTcp)
                    {
                        string? snd = mustBeSender ? CongestionUsed : RemoteCongestionUsed, rcv = mustBeSender ? RemoteCongestionUsed : CongestionUsed;
                        if (snd is not null) Printf($"snd_tcp_congestion {snd}\n");
                        if (rcv is not null) Printf($"rcv_tcp_congestion {rcv}\n");
                    }
                }
                if (Role == 'c' && Settings.GetServerOutput)
                {
                    if (JsonServerOutput is not null)
                    {
                        Printf($"\nServer JSON output:\n{JsonServerOutput.ToJsonString(PrettyJson)}\n");
                        JsonServerOutput = null;
                    }
                    if (ServerOutputText is not null)
                    {
                        Printf($"\nServer output:\n{ServerOutputText}\n");
                        ServerOutputText = null;
                    }
                }
            }
        }
        if (bidir) SenderHasRetransmits = tmpSenderHasRetransmits;
    }

    /// <summary>The summary line a service logs after a test: the direction(s) and the totals this side saw.</summary>
    public string Summary()
    {
        var sb = new StringBuilder();
        foreach (bool sender in new[] { true, false })
        {
            var list = Streams.Where(s => s.Sender == sender).ToList();
            if (list.Count == 0) continue;
            long bytes = sender ? list.Sum(s => s.BytesSent - s.BytesSentOmit) : list.Sum(s => s.BytesReceived);
            double secs = list.Max(s => Secs(s.StartTime, s.EndTime));
            if (sb.Length > 0) sb.Append("; ");
            sb.Append(Inv, $"{(sender ? "sent" : "received")} {Iperf3Format.Unit(bytes, 'A').TrimStart()}s in {secs:F2} s, {Iperf3Format.Unit(secs > 0 ? bytes / secs : 0, 'a').TrimStart()}s/sec");
            if (!IsTcp && !sender) sb.Append(Inv, $", {list.Sum(s => s.Udp.CntError)}/{list.Sum(s => s.Udp.PacketCount)} lost, jitter {list.Average(s => s.Udp.Jitter) * 1000:F3} ms");
        }
        return sb.ToString();
    }

    internal static readonly System.Text.Json.JsonSerializerOptions PrettyJson = new(Iperf3Protocol.JsonOptions) { WriteIndented = true };

    /// <summary>An object from (name, value) pairs, as iperf_json_printf() builds them.</summary>
    internal static JsonObject Obj(params (string Name, object Value)[] items)
    {
        var o = new JsonObject();
        foreach (var (name, value) in items)
            o[name] = value switch
            {
                bool b => JsonValue.Create(b),
                int i => JsonValue.Create(i),
                long l => JsonValue.Create(l),
                double d => JsonValue.Create(double.IsFinite(d) ? d : 0.0),
                string s => JsonValue.Create(s),
                _ => throw new ArgumentException($"unsupported JSON value {value.GetType()}"),
            };
        return o;
    }

    // ------------------------------------------------------------------ results exchange

    /// <summary>The object send_results() writes: CPU use, whether the sender counts retransmissions, the algorithm, and per-stream totals.</summary>
    /// <remarks>Mirrors src/iperf_api.c: send_results().</remarks>
    public JsonObject ResultsToJson()
    {
        var j = new JsonObject
        {
            ["cpu_util_total"] = CpuUtil[0],
            ["cpu_util_user"] = CpuUtil[1],
            ["cpu_util_system"] = CpuUtil[2],
            ["sender_has_retransmits"] = Mode == Iperf3Mode.Receiver ? -1 : SenderHasRetransmits,
        };
        if (CongestionUsed is not null) j["congestion_used"] = CongestionUsed;
        if (Role == 's' && Settings.GetServerOutput)
        {
            if (Json) j["server_output_json"] = JsonTop!.DeepClone();
            else j["server_output_text"] = ServerOutput ?? "";
        }
        var streams = new JsonArray();
        foreach (var sp in Streams)
        {
            lock (sp.Gate)
            {
                long bytes = sp.Sender ? sp.BytesSent - sp.BytesSentOmit : sp.BytesReceived;
                long retransmits = sp.Sender && SenderHasRetransmits != 0 ? sp.StreamRetrans : -1;
                streams.Add(new JsonObject
                {
                    ["id"] = sp.Id,
                    ["bytes"] = bytes,
                    ["retransmits"] = retransmits,
                    ["jitter"] = sp.Udp.Jitter,
                    ["errors"] = sp.Udp.CntError,
                    ["packets"] = sp.Udp.PacketCount,
                    ["start_time"] = 0.0,
                    ["end_time"] = Secs(sp.StartTime, sp.EndTime),
                });
            }
        }
        j["streams"] = streams;
        return j;
    }

    /// <summary>Takes the peer's results (get_results()): its CPU use and, per stream, what the other end counted.</summary>
    /// <remarks>Mirrors src/iperf_api.c: get_results().</remarks>
    public void ApplyResults(JsonObject j)
    {
        if (!j.ContainsKey("cpu_util_total") || !j.ContainsKey("cpu_util_user") || !j.ContainsKey("cpu_util_system") || !j.ContainsKey("sender_has_retransmits"))
            throw new Iperf3Exception(Iperf3Error.RecvResults, "the results lack the CPU figures or sender_has_retransmits");
        RemoteCpuUtil[0] = Iperf3Parameters.Dbl(j, "cpu_util_total", 0);
        RemoteCpuUtil[1] = Iperf3Parameters.Dbl(j, "cpu_util_user", 0);
        RemoteCpuUtil[2] = Iperf3Parameters.Dbl(j, "cpu_util_system", 0);
        int resultHasRetransmits = (int)Iperf3Parameters.Num(j, "sender_has_retransmits", 0);
        if (Mode == Iperf3Mode.Receiver)
        {
            SenderHasRetransmits = resultHasRetransmits;
            OtherSideHasRetransmits = 0;
        }
        else if (Mode == Iperf3Mode.Bidirectional) OtherSideHasRetransmits = resultHasRetransmits;
        if (j["streams"] is not JsonArray streams) throw new Iperf3Exception(Iperf3Error.RecvResults, "the results have no \"streams\"");
        foreach (var node in streams)
        {
            if (node is not JsonObject s || !s.ContainsKey("id") || !s.ContainsKey("bytes") || !s.ContainsKey("retransmits") || !s.ContainsKey("jitter") || !s.ContainsKey("errors") || !s.ContainsKey("packets"))
                throw new Iperf3Exception(Iperf3Error.RecvResults, "a stream's results are incomplete");
            int sid = (int)Iperf3Parameters.Num(s, "id", 0);
            var sp = Streams.FirstOrDefault(x => x.Id == sid) ?? throw new Iperf3Exception(Iperf3Error.StreamId, $"no stream {sid}");
            long bytes = Iperf3Parameters.Num(s, "bytes", 0), retransmits = Iperf3Parameters.Num(s, "retransmits", 0), errors = Iperf3Parameters.Num(s, "errors", 0), packets = Iperf3Parameters.Num(s, "packets", 0);
            double jitter = Iperf3Parameters.Dbl(s, "jitter", 0);
            bool times = s.ContainsKey("start_time") && s.ContainsKey("end_time");
            double elapsed = times ? Iperf3Parameters.Dbl(s, "end_time", 0) - Iperf3Parameters.Dbl(s, "start_time", 0) : 0.0;
            lock (sp.Gate)
            {
                if (sp.Sender)
                {
                    sp.Udp.Jitter = jitter;
                    sp.Udp.CntError = errors;
                    sp.PeerPacketCount = packets;
                    sp.BytesReceived = bytes;
                    sp.ReceiverTime = elapsed;
                }
                else
                {
                    sp.PeerPacketCount = packets;
                    sp.BytesSent = bytes;
                    sp.StreamRetrans = retransmits;
                    sp.SenderTime = elapsed;
                }
            }
        }
        if (j["server_output_json"] is JsonNode sj && Role == 'c' && Settings.GetServerOutput) JsonServerOutput = sj.DeepClone();
        else if (Role == 'c' && Settings.GetServerOutput && Iperf3Parameters.Str(j, "server_output_text") is { } text) ServerOutputText = text;
        if (j.ContainsKey("congestion_used")) RemoteCongestionUsed = Iperf3Parameters.Str(j, "congestion_used");
    }

    /// <summary>iperf_json_finish: the title and server output at the top, the whole tree as text (tab-indented like cJSON's is not needed: any JSON reader takes it).</summary>
    public string JsonFinish()
    {
        var top = JsonTop!;
        if (Settings.Title is not null) top["title"] = Settings.Title;
        if (Settings.ExtraData is not null) top["extra_data"] = Settings.ExtraData;
        if (JsonServerOutput is not null) top["server_output_json"] = JsonServerOutput.DeepClone();
        if (ServerOutputText is not null) top["server_output_text"] = ServerOutputText;
        return top.ToJsonString(PrettyJson) + "\n";
    }
}

/// <summary>The process's CPU use over a test, as iperf3's cpu_util() reports it: total, user and system, in percent of the wall time.</summary>
public sealed class Iperf3CpuMeter
{
    private readonly long _start = Stopwatch.GetTimestamp();
    private readonly TimeSpan _user, _system;

    public Iperf3CpuMeter()
    {
        using var p = Process.GetCurrentProcess();
        _user = p.UserProcessorTime;
        _system = p.PrivilegedProcessorTime;
    }

    /// <summary>Writes [total, user, system] percentages since construction into <paramref name="util"/>.</summary>
    public void Measure(double[] util)
    {
        double wall = Stopwatch.GetElapsedTime(_start).TotalSeconds;
        using var p = Process.GetCurrentProcess();
        double user = (p.UserProcessorTime - _user).TotalSeconds, system = (p.PrivilegedProcessorTime - _system).TotalSeconds;
        if (wall <= 0) return;
        util[0] = (user + system) / wall * 100;
        util[1] = user / wall * 100;
        util[2] = system / wall * 100;
    }
}
