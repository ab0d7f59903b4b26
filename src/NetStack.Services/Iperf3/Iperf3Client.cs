using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using NetStack.Api;
using NetStack.Core;
using NetStack.Net;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Services.Iperf3;

/// <summary>What an iperf3 client run asks for: iperf3 -c's options.</summary>
public sealed class Iperf3ClientOptions
{
    /// <summary>-c: the server, an IPv4 or IPv6 address (the stack has no resolver); a link-local one needs its zone (a scope id, or <see cref="HostZone"/>).</summary>
    public IPAddress Host { get; set; } = IPAddress.Loopback;
    /// <summary>-c fe80::1%tap0: the zone of a link-local <see cref="Host"/> as an interface name, resolved on the stack the test runs on (null: none, or the scope id).</summary>
    public string? HostZone { get; set; }

    /// <summary>The host as given: the address, then "%zone" for a scoped one (what iperf3 prints in "Connecting to host ...").</summary>
    internal string HostText => HostZone is { } z ? $"{new IPAddress(Host.GetAddressBytes())}%{z}" : Host.ToString();
    /// <summary>-p.</summary>
    public ushort Port { get; set; } = Iperf3Protocol.DefaultPort;
    /// <summary>-t: seconds (iperf3's default 10).</summary>
    public int Time { get; set; } = 10;
    /// <summary>-n: bytes to transfer instead of a time.</summary>
    public long Bytes { get; set; }
    /// <summary>-k: blocks to transfer instead of a time.</summary>
    public long Blocks { get; set; }
    /// <summary>-P.</summary>
    public int Parallel { get; set; } = 1;
    /// <summary>-R: the server sends.</summary>
    public bool Reverse { get; set; }
    /// <summary>--bidir: both send.</summary>
    public bool Bidirectional { get; set; }
    /// <summary>-u.</summary>
    public bool Udp { get; set; }
    /// <summary>-b: bits per second per stream (null: iperf3's default, 1 Mbit/s for UDP, unlimited for TCP; 0: unlimited).</summary>
    public long? Rate { get; set; }
    /// <summary>-b RATE/BURST: datagrams or blocks sent back to back.</summary>
    public int Burst { get; set; }
    /// <summary>-l: block size (0: 128 KiB for TCP, the control connection's MSS for UDP).</summary>
    public int Length { get; set; }
    /// <summary>-C: the congestion control (TCP_CONGESTION), on both sides.</summary>
    public string? Congestion { get; set; }
    /// <summary>-J.</summary>
    public bool Json { get; set; }
    /// <summary>-i: seconds between reports (0: none).</summary>
    public double Interval { get; set; } = 1;
    /// <summary>-O: seconds at the start not counted.</summary>
    public int Omit { get; set; }
    /// <summary>-w: socket buffer size (SO_SNDBUF and SO_RCVBUF).</summary>
    public int Window { get; set; }
    /// <summary>-M: TCP_MAXSEG.</summary>
    public int Mss { get; set; }
    /// <summary>-N: TCP_NODELAY.</summary>
    public bool NoDelay { get; set; }
    /// <summary>-S: IP_TOS.</summary>
    public int Tos { get; set; }
    /// <summary>-T: a title in front of each line (and in the JSON).</summary>
    public string? Title { get; set; }
    /// <summary>-f: the bitrate unit.</summary>
    public char Format { get; set; } = 'a';
    /// <summary>-V.</summary>
    public bool Verbose { get; set; }
    /// <summary>--get-server-output.</summary>
    public bool GetServerOutput { get; set; }
    /// <summary>--udp-counters-64bit.</summary>
    public bool UdpCounters64Bit { get; set; }
    /// <summary>--repeating-payload.</summary>
    public bool RepeatingPayload { get; set; }
    /// <summary>--connect-timeout: how long connecting the control connection may take (null: the stack's SYN retries).</summary>
    public TimeSpan? ConnectTimeout { get; set; }

    /// <summary>The options as a JSON object (how `netstack iperf3 -c` hands a run to a running stack).</summary>
    public JsonObject ToJson()
    {
        var j = new JsonObject
        {
            ["host"] = Host.ToString(), ["port"] = Port, ["time"] = Time, ["bytes"] = Bytes, ["blocks"] = Blocks,
            ["parallel"] = Parallel, ["reverse"] = Reverse, ["bidir"] = Bidirectional, ["udp"] = Udp, ["burst"] = Burst,
            ["len"] = Length, ["json"] = Json, ["interval"] = Interval, ["omit"] = Omit, ["window"] = Window, ["mss"] = Mss,
            ["nodelay"] = NoDelay, ["tos"] = Tos, ["format"] = Format.ToString(), ["verbose"] = Verbose,
            ["get_server_output"] = GetServerOutput, ["udp_counters_64bit"] = UdpCounters64Bit, ["repeating_payload"] = RepeatingPayload,
        };
        if (Rate is { } r) j["rate"] = r;
        if (Congestion is not null) j["congestion"] = Congestion;
        if (Title is not null) j["title"] = Title;
        if (ConnectTimeout is { } ctt) j["connect_timeout_ms"] = (long)ctt.TotalMilliseconds;
        if (HostZone is not null) j["host_zone"] = HostZone;
        return j;
    }

    /// <summary>Reads <see cref="ToJson"/>'s object back; throws <see cref="FormatException"/> for a bad value or an unknown key.</summary>
    public static Iperf3ClientOptions FromJson(JsonObject j)
    {
        var o = new Iperf3ClientOptions();
        foreach (var (key, node) in j)
        {
            try
            {
                switch (key)
                {
                    case "host": o.Host = IPAddress.Parse(node!.GetValue<string>()); break;
                    case "host_zone": o.HostZone = node!.GetValue<string>(); break;
                    case "port": o.Port = node!.GetValue<ushort>(); break;
                    case "time": o.Time = node!.GetValue<int>(); break;
                    case "bytes": o.Bytes = node!.GetValue<long>(); break;
                    case "blocks": o.Blocks = node!.GetValue<long>(); break;
                    case "parallel": o.Parallel = node!.GetValue<int>(); break;
                    case "reverse": o.Reverse = node!.GetValue<bool>(); break;
                    case "bidir": o.Bidirectional = node!.GetValue<bool>(); break;
                    case "udp": o.Udp = node!.GetValue<bool>(); break;
                    case "rate": o.Rate = node!.GetValue<long>(); break;
                    case "burst": o.Burst = node!.GetValue<int>(); break;
                    case "len": o.Length = node!.GetValue<int>(); break;
                    case "congestion": o.Congestion = node!.GetValue<string>(); break;
                    case "json": o.Json = node!.GetValue<bool>(); break;
                    case "interval": o.Interval = node!.GetValue<double>(); break;
                    case "omit": o.Omit = node!.GetValue<int>(); break;
                    case "window": o.Window = node!.GetValue<int>(); break;
                    case "mss": o.Mss = node!.GetValue<int>(); break;
                    case "nodelay": o.NoDelay = node!.GetValue<bool>(); break;
                    case "tos": o.Tos = node!.GetValue<int>(); break;
                    case "title": o.Title = node!.GetValue<string>(); break;
                    case "format": o.Format = node!.GetValue<string>() is { Length: 1 } f ? f[0] : throw new FormatException("format is one character"); break;
                    case "verbose": o.Verbose = node!.GetValue<bool>(); break;
                    case "get_server_output": o.GetServerOutput = node!.GetValue<bool>(); break;
                    case "udp_counters_64bit": o.UdpCounters64Bit = node!.GetValue<bool>(); break;
                    case "repeating_payload": o.RepeatingPayload = node!.GetValue<bool>(); break;
                    case "connect_timeout_ms": o.ConnectTimeout = TimeSpan.FromMilliseconds(node!.GetValue<long>()); break;
                    default: throw new FormatException($"unknown iperf3 option \"{key}\"");
                }
            }
            catch (Exception e) when (e is InvalidOperationException or NullReferenceException or System.Text.Json.JsonException)
            {
                throw new FormatException($"bad iperf3 option \"{key}\": {node?.ToJsonString() ?? "null"}");
            }
        }
        return o;
    }

    /// <summary>The test's parameters as the client sends them.</summary>
    internal Iperf3Parameters ToParameters() => new()
    {
        Protocol = Udp ? Iperf3Transport.Udp : Iperf3Transport.Tcp,
        Omit = Omit,
        // -n or -k without -t: no time limit.
        Time = (Bytes != 0 || Blocks != 0) && Time == 10 ? 0 : Time,
        Bytes = Bytes,
        Blocks = Blocks,
        Mss = Mss,
        NoDelay = NoDelay,
        Parallel = Parallel,
        Reverse = Reverse,
        Bidirectional = Bidirectional,
        Window = Window,
        Length = Length,
        Rate = Rate ?? (Udp ? Iperf3Protocol.DefaultUdpRate : 0),
        Burst = Burst,
        Tos = Tos,
        Title = Title,
        Congestion = Congestion,
        GetServerOutput = GetServerOutput,
        UdpCounters64Bit = UdpCounters64Bit,
        RepeatingPayload = RepeatingPayload,
    };
}

/// <summary>How a client run ended: iperf3's exit code, its error, and the test's state (its JSON with -J).</summary>
public sealed record Iperf3ClientResult(int ExitCode, string? Error, Iperf3Test? Test);

/// <summary>
/// An iperf3 client on the stack (iperf_client_api.c): the control connection with its cookie,
/// the parameters, the data streams (TCP connections presenting the cookie, or UDP sockets that
/// "connect" with a datagram), the timed test, TEST_END, the results exchange, and the report as
/// iperf3 prints it (or its JSON with -J).
/// </summary>
public static class Iperf3Client
{
    /// <summary>Runs one test against the iperf3 server at <see cref="Iperf3ClientOptions.Host"/>; the text (or JSON) goes to <paramref name="output"/> as it comes.</summary>
    public static async Task<Iperf3ClientResult> RunAsync(NetNamespace net, Iperf3ClientOptions o, Action<string> output, CancellationToken ct = default)
    {
        var p = o.ToParameters();
        var test = new Iperf3Test('c', p, o.Json, o.Title is { } title ? TitledOutput(title, output) : output)
        {
            Verbose = o.Verbose,
            UnitFormat = o.Format,
            StatsInterval = o.Interval,
            Cookie = Iperf3Protocol.MakeCookie(),
        };
        test.SenderHasRetransmits = test.Mode != Iperf3Mode.Receiver && test.IsTcp ? 1 : 0;
        if (test.Json)
        {
            test.JsonStart!["version"] = Iperf3Test.Version;
            test.JsonStart["system_info"] = Iperf3Test.SystemInfo();
        }
        else if (o.Verbose)
        {
            test.Printf($"{Iperf3Test.Version}\n{Iperf3Test.SystemInfo()}\n");
        }
        NetSocket? ctrl = null;
        using var ioStop = new CancellationTokenSource();
        using var sendStop = CancellationTokenSource.CreateLinkedTokenSource(ioStop.Token);
        Task[] io = [];
        try
        {
            ctrl = await ConnectControlAsync(net, o, test, ct).ConfigureAwait(false);
            var reader = new Iperf3Server.CtrlReader(ctrl);
            var run = new Iperf3Run(test);
            var cpu = new Iperf3CpuMeter();
            long start = 0;
            double nextStats = double.PositiveInfinity, end = double.PositiveInfinity, omitEnd = double.NaN;
            while (test.State != Iperf3State.IperfDone)
            {
                // While the test runs: the timers (intervals, the end, the omitted seconds) and the -n/-k end.
                if (test.State == Iperf3State.TestRunning)
                {
                    double now = Iperf3Clock.Seconds(start, Iperf3Clock.Now);
                    if (run.Failure is { } failure) throw failure;
                    bool done = !test.Omitting && (now >= end || (run.Ended.IsCompleted && run.Failure is null));
                    if (done)
                    {
                        // Stop sending, close the last interval, tell the server (TEST_END).
                        // Senders stop now; receivers drain until the server closes the streams (so a
                        // server blocked on a full window still reads its control connection).
                        run.Counting = false;
                        sendStop.Cancel();
                        await Task.WhenAll(io.Where((_, i) => test.Streams[i].Sender)).WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                        test.Done = true;
                        cpu.Measure(test.CpuUtil);
                        test.StatsCallback();
                        await Iperf3Protocol.WriteStateAsync(ctrl, Iperf3State.TestEnd, ct).ConfigureAwait(false);
                        test.State = Iperf3State.TestEnd;
                        continue;
                    }
                    if (!double.IsNaN(omitEnd) && now >= omitEnd)
                    {
                        omitEnd = double.NaN;
                        test.Omitting = false;
                        test.ResetStats();
                        if (o.Interval > 0) nextStats = now + o.Interval;
                        continue;
                    }
                    if (now >= nextStats)
                    {
                        test.StatsCallback();
                        test.ReporterCallback();
                        nextStats += o.Interval;
                        if (nextStats <= now) nextStats = now + o.Interval;
                        continue;
                    }
                    double wake = Math.Min(Math.Min(nextStats, end), double.IsNaN(omitEnd) ? double.PositiveInfinity : omitEnd);
                    var msg = reader.Pending(ct);
                    if (!msg.IsCompleted)
                    {
                        using var delay = CancellationTokenSource.CreateLinkedTokenSource(ct);
                        var sleep = double.IsPositiveInfinity(wake) ? Task.Delay(Timeout.Infinite, delay.Token) : Task.Delay(TimeSpan.FromSeconds(Math.Max(0, wake - now)), delay.Token);
                        var first = await Task.WhenAny(msg, sleep, run.Ended).ConfigureAwait(false);
                        delay.Cancel();
                        if (first != msg)
                        {
                            if (first == sleep) await sleep.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                            ct.ThrowIfCancellationRequested();
                            continue;
                        }
                    }
                }
                var state = await reader.Pending(ct).ConfigureAwait(false);
                await reader.TakeAsync().ConfigureAwait(false);
                if (state is null) throw new Iperf3Exception(Iperf3Error.CtrlClose, null);
                switch (state.Value)
                {
                    case Iperf3State.ParamExchange:
                        test.State = Iperf3State.ParamExchange;
                        await Iperf3Protocol.WriteJsonAsync(ctrl, p.ToJson(), ct).ConfigureAwait(false);
                        test.OnConnect(o.HostText, o.Port, null);
                        break;
                    case Iperf3State.CreateStreams:
                        test.State = Iperf3State.CreateStreams;
                        if (test.Mode == Iperf3Mode.Bidirectional)
                        {
                            await CreateStreamsAsync(net, o, test, sender: true, ct).ConfigureAwait(false);
                            await CreateStreamsAsync(net, o, test, sender: false, ct).ConfigureAwait(false);
                        }
                        else await CreateStreamsAsync(net, o, test, test.Mode == Iperf3Mode.Sender, ct).ConfigureAwait(false);
                        break;
                    case Iperf3State.TestStart:
                        test.State = Iperf3State.TestStart;
                        test.InitTest();
                        cpu = new Iperf3CpuMeter();
                        start = Iperf3Clock.Now;
                        test.Omitting = p.Omit > 0;
                        omitEnd = p.Omit > 0 ? p.Omit : double.NaN;
                        end = p.Time != 0 ? p.Time + p.Omit : double.PositiveInfinity;
                        nextStats = o.Interval > 0 ? o.Interval : double.PositiveInfinity;
                        break;
                    case Iperf3State.TestRunning:
                        test.State = Iperf3State.TestRunning;
                        run.Counting = true;
                        io = Iperf3Io.Start(run, sendStop.Token, ioStop.Token);
                        break;
                    case Iperf3State.ExchangeResults:
                        test.State = Iperf3State.ExchangeResults;
                        await Iperf3Protocol.WriteJsonAsync(ctrl, test.ResultsToJson(), ct).ConfigureAwait(false);
                        test.ApplyResults(await Iperf3Protocol.ReadJsonAsync(ctrl, Iperf3Error.RecvResults, ct).ConfigureAwait(false));
                        break;
                    case Iperf3State.DisplayResults:
                        // iperf_client_end: close the streams, the summary, IPERF_DONE.
                        test.State = Iperf3State.DisplayResults;
                        ioStop.Cancel();
                        foreach (var sp in test.Streams) sp.Socket.Dispose();
                        test.ReporterCallback();
                        await Iperf3Protocol.WriteStateAsync(ctrl, Iperf3State.IperfDone, ct).ConfigureAwait(false);
                        test.State = Iperf3State.IperfDone;
                        break;
                    case Iperf3State.IperfDone:
                        test.State = Iperf3State.IperfDone;
                        break;
                    case Iperf3State.ServerTerminate:
                        cpu.Measure(test.CpuUtil);
                        test.State = Iperf3State.DisplayResults;
                        test.ReporterCallback();
                        test.State = Iperf3State.ServerTerminate;
                        throw new Iperf3Exception(Iperf3Error.ServerTerm, null);
                    case Iperf3State.AccessDenied:
                        throw new Iperf3Exception(Iperf3Error.AccessDenied, null);
                    case Iperf3State.ServerError:
                    {
                        var b = new byte[8];
                        if (!await Iperf3Protocol.ReadExactAsync(ctrl, b, ct).ConfigureAwait(false)) throw new Iperf3Exception(Iperf3Error.CtrlRead, null);
                        int code = BinaryPrimitives.ReadInt32BigEndian(b), errno = BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(4));
                        throw new Iperf3Exception(code, errno != 0 ? Iperf3StrError.Text(errno) : null);
                    }
                    case Iperf3State.TestEnd when test.State == Iperf3State.TestEnd:
                        break;
                    default:
                        throw new Iperf3Exception(Iperf3Error.Message, $"state {(int)state.Value}");
                }
            }
            if (test.Json) output(test.JsonFinish());
            else test.Printf("\niperf Done.\n");
            return new Iperf3ClientResult(0, null, test);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // ^C: iperf3 tells the server (CLIENT_TERMINATE) and prints what it has.
            if (ctrl is not null && test.State is not (Iperf3State.None or Iperf3State.DisplayResults or Iperf3State.IperfDone))
            {
                try
                {
                    using var t = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                    await Iperf3Protocol.WriteStateAsync(ctrl, Iperf3State.ClientTerminate, t.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is NetStackException or OperationCanceledException) { }
                if (test.Streams.Count > 0 && !test.Json)
                {
                    test.StatsCallback();
                    test.State = Iperf3State.DisplayResults;
                    test.ReporterCallback();
                }
            }
            return Failed(test, output, "interrupt - the client has terminated", code: 1);
        }
        catch (Exception e) when (e is Iperf3Exception or NetStackException)
        {
            string message = e is NetStackException ne ? $"{Iperf3Error.Text(Iperf3Error.CtrlRead)}: {Iperf3StrError.Text(ne.Errno)}" : e.Message;
            return Failed(test, output, message, code: 1);
        }
        finally
        {
            ioStop.Cancel();
            if (io.Length > 0) await Task.WhenAll(io).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            foreach (var sp in test.Streams) sp.Socket.Dispose();
            ctrl?.Dispose();
        }
    }

    private static Iperf3ClientResult Failed(Iperf3Test test, Action<string> output, string message, int code)
    {
        // With -J the error is in the JSON (scripts read it there); otherwise the caller says it.
        if (test.Json)
        {
            test.JsonTop!["error"] = message;
            output(test.JsonFinish());
        }
        return new Iperf3ClientResult(code, message, test);
    }

    /// <summary>-T: what each print starts with (iperf_printf writes "TITLE:  " before every call's text).</summary>
    private static Action<string> TitledOutput(string title, Action<string> output) => text => output($"{title}:  {text}");

    /// <summary>
    /// The server's end point: the host, with a zone given as an interface name turned into the stack's index of
    /// that device (as getaddrinfo() turns "fe80::1%tap0" into sin6_scope_id with if_nametoindex()).
    /// </summary>
    private static IPEndPoint ServerEndPoint(NetNamespace net, Iperf3ClientOptions o)
    {
        if (o.HostZone is not { } zone) return new IPEndPoint(o.Host, o.Port);
        var dev = NetStackInfo.GetInterfaces(net).FirstOrDefault(d => d.Name == zone)
            ?? throw new Iperf3Exception(Iperf3Error.Connect, $"no interface {zone} on the stack (the zone of {o.HostText})");
        return new IPEndPoint(new IPAddress(o.Host.GetAddressBytes(), dev.IfIndex), o.Port);
    }

    /// <summary>iperf_connect: the control connection, TCP_NODELAY, the cookie; the MSS picks UDP's block size.</summary>
    private static async Task<NetSocket> ConnectControlAsync(NetNamespace net, Iperf3ClientOptions o, Iperf3Test test, CancellationToken ct)
    {
        var server = ServerEndPoint(net, o);
        var ctrl = new NetSocket(net, server.AddressFamily, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        try
        {
            using (var connect = CancellationTokenSource.CreateLinkedTokenSource(ct))
            {
                if (o.ConnectTimeout is { } limit) connect.CancelAfter(limit);
                try { await ctrl.ConnectAsync(server, connect.Token).ConfigureAwait(false); }
                catch (NetStackException e) { throw Iperf3StrError.For(Iperf3Error.Connect, e); }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested) { throw new Iperf3Exception(Iperf3Error.Connect, "Connection timed out"); }
            }
            ctrl.NoDelay = true;
            try { await Iperf3Protocol.WriteAllAsync(ctrl, test.Cookie, ct).ConfigureAwait(false); }
            catch (NetStackException e) { throw Iperf3StrError.For(Iperf3Error.SendCookie, e); }
            int mss;
            try { mss = ctrl.GetOption(IPPROTO_TCP, TCP_MAXSEG); }
            catch (NetStackException) { mss = 0; }
            test.CtrlSckMss = mss is > 0 and <= Iperf3Protocol.MaxUdpBlockSize ? mss : 0;
            if (o.Verbose) test.Printf($"Control connection MSS {test.CtrlSckMss}\n");
            var p = test.Settings;
            if (p.Protocol == Iperf3Transport.Udp)
            {
                if (p.Length == 0) p.Length = test.CtrlSckMss != 0 ? test.CtrlSckMss : Iperf3Protocol.DefaultUdpBlockSize;
                if (test.CtrlSckMss > 0 && p.Length > test.CtrlSckMss)
                    test.Warning($"UDP block size {p.Length} exceeds TCP MSS {test.CtrlSckMss}, may result in fragmentation / drops");
            }
            else if (p.Length == 0) p.Length = Iperf3Protocol.DefaultTcpBlockSize;
            return ctrl;
        }
        catch
        {
            ctrl.Dispose();
            throw;
        }
    }

    /// <summary>iperf_create_streams: -P connections (TCP, each presenting the cookie) or UDP sockets that say hello and wait for the server's reply.</summary>
    private static async Task CreateStreamsAsync(NetNamespace net, Iperf3ClientOptions o, Iperf3Test test, bool sender, CancellationToken ct)
    {
        var p = test.Settings;
        var server = ServerEndPoint(net, o);
        for (int i = 0; i < p.Parallel; i++)
        {
            var s = p.Protocol == Iperf3Transport.Udp
                ? new NetSocket(net, server.AddressFamily, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp)
                : new NetSocket(net, server.AddressFamily, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
            try
            {
                if (p.Window != 0)
                {
                    SetOrFail(s, SOL_SOCKET, SO_RCVBUF, p.Window, Iperf3Error.SetBuf);
                    SetOrFail(s, SOL_SOCKET, SO_SNDBUF, p.Window, Iperf3Error.SetBuf);
                }
                // iperf3 sets IPV6_TCLASS on an AF_INET6 socket, IP_TOS on an AF_INET one (iperf_create_streams()).
                if (p.Tos != 0)
                {
                    if (server.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6) SetOrFail(s, IPPROTO_IPV6, IPV6_TCLASS, p.Tos, Iperf3Error.SetTos);
                    else SetOrFail(s, IPPROTO_IP, IP_TOS, p.Tos, Iperf3Error.SetTos);
                }
                if (p.Protocol == Iperf3Transport.Tcp)
                {
                    if (p.NoDelay) SetOrFail(s, IPPROTO_TCP, TCP_NODELAY, 1, Iperf3Error.SetNoDelay);
                    if (p.Mss != 0) SetOrFail(s, IPPROTO_TCP, TCP_MAXSEG, p.Mss, Iperf3Error.SetMss);
                    if (p.Congestion is { } cc)
                    {
                        int r = SocketCalls.Setsockopt(s.Files, s.Fd, IPPROTO_TCP, TCP_CONGESTION, Encoding.ASCII.GetBytes(cc));
                        if (r < 0)
                        {
                            string available = net.Sysctl.TryGet("net.ipv4.tcp_available_congestion_control", out var v) ? v : "?";
                            throw new Iperf3Exception(Iperf3Error.SetCongestion, r == -Errno.ENOENT
                                ? $"Supplied congestion control algorithm not supported on this host (\"{cc}\"; the stack has: {available})"
                                : Iperf3StrError.Text(r));
                        }
                    }
                    try { await s.ConnectAsync(server, ct).ConfigureAwait(false); }
                    catch (NetStackException e) { throw Iperf3StrError.For(Iperf3Error.StreamConnect, e); }
                    try { await Iperf3Protocol.WriteAllAsync(s, test.Cookie, ct).ConfigureAwait(false); }
                    catch (NetStackException e) { throw Iperf3StrError.For(Iperf3Error.SendCookie, e); }
                    try { test.CongestionUsed = s.GetTcpInfo().CongestionControl; }
                    catch (NetStackException) { test.CongestionUsed = "unknown"; }
                }
                else await UdpConnectAsync(s, server, test, ct).ConfigureAwait(false);
                test.RecordBuffers(s.GetOption(SOL_SOCKET, SO_SNDBUF), s.GetOption(SOL_SOCKET, SO_RCVBUF));
                test.AddStream(s, sender, s.LocalEndPoint, s.RemoteEndPoint!);
            }
            catch
            {
                s.Dispose();
                throw;
            }
        }
    }

    private static void SetOrFail(NetSocket s, int level, int name, int value, int error)
    {
        try { s.SetOption(level, name, value); }
        catch (NetStackException e) { throw Iperf3StrError.For(error, e); }
    }

    /// <summary>
    /// iperf_udp_connect: connect, send UDP_CONNECT_MSG, and wait (30 s at most) for the reply; in
    /// reverse mode a couple of data datagrams may overtake it.
    /// </summary>
    private static async Task UdpConnectAsync(NetSocket s, IPEndPoint server, Iperf3Test test, CancellationToken ct)
    {
        try
        {
            s.Connect(server);
            await s.SendAsync(Iperf3Protocol.UdpConnectBytes(Iperf3Protocol.UdpConnectMsg), ct).ConfigureAwait(false);
        }
        catch (NetStackException e) { throw Iperf3StrError.For(Iperf3Error.StreamWrite, e); }
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(ct);
        wait.CancelAfter(TimeSpan.FromSeconds(30));
        int max = 4 + (test.Settings.Reverse ? Iperf3Protocol.MaxReverseOutOfOrderPackets * test.Settings.Length : 0), seen = 0;
        var buf = new byte[65536];
        while (true)
        {
            int n;
            try { n = await s.ReceiveAsync(buf, wait.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested) { throw new Iperf3Exception(Iperf3Error.StreamRead, "no reply from the server's UDP port within 30 s"); }
            catch (NetStackException e) { throw Iperf3StrError.For(Iperf3Error.StreamRead, e); }
            if (n >= 4)
            {
                uint v = BinaryPrimitives.ReadUInt32LittleEndian(buf);
                if (v is Iperf3Protocol.UdpConnectReply or Iperf3Protocol.LegacyUdpConnectReply) return;
            }
            seen += n;
            if (seen >= max) throw new Iperf3Exception(Iperf3Error.StreamRead, "the server's UDP reply did not come");
        }
    }

    internal static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
