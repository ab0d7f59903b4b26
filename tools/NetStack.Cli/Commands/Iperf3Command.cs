using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using NetStack.Control;
using NetStack.Services.Iperf3;

namespace NetStack.Cli.Commands;

/// <summary>
/// `netstack iperf3`: an iperf3-compatible server (-s) or client (-c HOST) on the stack, speaking
/// iperf3's protocol (src/NetStack.Services/Iperf3), printing what iperf3 prints (-J: its JSON).
/// <list type="bullet">
/// <item>-c attaches to the stack running as --name and runs the test inside that process (the
/// control ops "iperf3", "iperf3_read", "iperf3_stop" that `up` adds), so the data moves on the
/// stack's in-process sockets, not through the control socket; with none running, or with --own,
/// it brings up a stack of its own.</item>
/// <item>-s always brings up a stack of its own: inside `netstack up` the iperf3 service
/// (--services ...,iperf3, part of "all") is the server.</item>
/// </list>
/// </summary>
internal static class Iperf3Command
{
    public static Command Create()
    {
        var set = new StackOptionSet(duration: true, loopback: false);
        var control = new ControlOptions();
        var own = ToolStack.OwnOption();
        var server = Opt.Flag("-s", "run as a server (on a stack of its own: inside `netstack up` the iperf3 service is the server)", "--server");
        var client = Opt.Value<string?>("-c", "HOST", "run as a client of the iperf3 server at HOST (an IPv4 or IPv6 address; fe80::1%tap0 for a link-local one)", s => s, "--client");
        var port = Opt.Value<ushort?>("-p", "PORT", "the server's port [default: 5201]", s => Opt.Port(s), "--port");
        var oneOff = Opt.Flag("-1", "server: serve one client, then exit", "--one-off");
        var bind = Opt.Value<string?>("-B", "ADDR", "server: listen on this local address only (IPv4 or IPv6)", s => s, "--bind");
        var time = Opt.Value<int?>("-t", "SEC", "client: seconds to transmit [default: 10; 0: until Ctrl-C]", s => Opt.Int("time", 0, Iperf3Protocol.MaxTime, $" (0 to {Iperf3Protocol.MaxTime} seconds)")(s), "--time");
        var bytes = Opt.Value<long?>("-n", "N[KMG]", "client: bytes to transmit (instead of -t)", s => (long)Size(s, "-n"), "--bytes");
        var blocks = Opt.Value<long?>("-k", "N[KMG]", "client: blocks (packets) to transmit (instead of -t)", s => (long)Size(s, "-k"), "--blockcount");
        var parallel = Opt.Value<int?>("-P", "N", "client: parallel streams [default: 1]", s => Opt.Int("parallel", 1, Iperf3Protocol.MaxStreams, $" (1 to {Iperf3Protocol.MaxStreams})")(s), "--parallel");
        var reverse = Opt.Flag("-R", "client: reverse mode, the server sends", "--reverse");
        var bidir = Opt.Flag("--bidir", "client: both send");
        var udp = Opt.Flag("-u", "client: UDP instead of TCP", "--udp");
        var bitrate = Opt.Value<(double Rate, int Burst)?>("-b", "RATE[KMG][/BURST]", "client: target bits/sec per stream [default: 1M for UDP, unlimited for TCP; 0: unlimited]", ParseBitrate, "--bitrate");
        var length = Opt.Value<int?>("-l", "N[KMG]", "client: length of a write / datagram [default: 128K for TCP, the path MSS for UDP]", s => (int)Math.Min(Size(s, "-l"), int.MaxValue), "--length");
        var congestion = Opt.Value("-C", "ALGO", "client: TCP congestion control on both ends (the stack has what net.ipv4.tcp_available_congestion_control lists)",
            s => s.Length is > 0 and < 16 ? s : throw new UsageException($"bad congestion control name '{s}'"), "--congestion", "--linux-congestion");
        var json = Opt.Flag("-J", "output as JSON, as iperf3 -J", "--json");
        var interval = Opt.Value<double?>("-i", "SEC", "seconds between reports [default: 1; 0: none]", ParseInterval, "--interval");
        var omit = Opt.Value<int?>("-O", "SEC", "client: omit the first SEC seconds from the results", s => Opt.Int("omit", 0, 600)(s), "--omit");
        var window = Opt.Value<int?>("-w", "N[KMG]", "client: socket buffer size (SO_SNDBUF and SO_RCVBUF) on both ends", s => (int)Math.Min(Size(s, "-w"), int.MaxValue), "--window");
        var mss = Opt.Value<int?>("-M", "N", "client: TCP maximum segment size (TCP_MAXSEG)", s => Opt.Int("MSS", 1, 9000)(s), "--set-mss");
        var noDelay = Opt.Flag("-N", "client: TCP_NODELAY", "--no-delay");
        var tos = Opt.Value<int?>("-S", "N", "client: IP type of service", s => Tos(s), "--tos");
        var title = Opt.Value("-T", "STR", "client: prefix every output line with STR", s => s, "--title");
        var format = Opt.Value<char?>("-f", "k|m|g|t|K|M|G|T", "format of the bitrates: Kbits, Mbits, ..., KBytes, ... [default: adaptive bits]",
            s => s.Length == 1 && "kmgtKMGT".Contains(s[0]) ? s[0] : throw new UsageException($"bad format '{s}': one of k m g t K M G T"), "--format");
        var verbose = Opt.Flag("-V", "more detail", "--verbose");
        var serverOutput = Opt.Flag("--get-server-output", "client: print the server's report too");
        var counters64 = Opt.Flag("--udp-counters-64bit", "client: 64-bit UDP sequence numbers");
        var repeating = Opt.Flag("--repeating-payload", "client: a repeating pattern as payload instead of random bytes");
        var connectTimeout = Opt.Value<int?>("--connect-timeout", "MS", "client: give up connecting after MS milliseconds", s => Opt.Int("connect timeout", 1, 3_600_000)(s));
        var v4 = Opt.Flag("-4", "IPv4 only", "--version4");
        var v6 = Opt.Flag("-6", "IPv6 only (the server: an AF_INET6 socket on [::] without -B)", "--version6");
        var forceFlush = Opt.Flag("--forceflush", "flush the output after every line (it always is)");
        Option[] supported = [server, client, port, oneOff, bind, time, bytes, blocks, parallel, reverse, bidir, udp, bitrate, length, congestion, json, interval, omit, window, mss, noDelay, tos, title, format, verbose, serverOutput, counters64, repeating, connectTimeout, v4, v6, forceFlush];
        var unsupported = Unsupported();

        var cmd = new Command("iperf3",
            "iperf3 on the stack: a server (-s, on a stack of its own; inside `netstack up` the iperf3 service on port 5201 is the server) " +
            "or a client (-c HOST: run inside the running stack, or on a stack of its own), speaking iperf3's protocol and printing what iperf3 prints");
        foreach (var o in supported) cmd.Add(o);
        foreach (var (o, _) in unsupported) cmd.Add(o);
        set.AddTo(cmd);
        control.AddTo(cmd);
        cmd.Add(own);
        cmd.SetAction(r =>
        {
            foreach (var (o, why) in unsupported)
                if (r.GetResult(o) is { Implicit: false }) throw new UsageException($"iperf3's {o.Name} is not supported: {why}");
            bool isServer = r.GetValue(server);
            if (r.GetValue(v4) && r.GetValue(v6)) throw new UsageException("-4 and -6 exclude each other");
            int family = r.GetValue(v4) ? 4 : r.GetValue(v6) ? 6 : 0;
            var (host, zone) = r.GetValue(client) is { } c ? Host(c, family) : (null, null);
            if (isServer && host is not null) throw new UsageException("-s and -c exclude each other: a server or a client");
            if (!isServer && host is null) throw new UsageException("give -s (server) or -c HOST (client); try --help");
            Option[] clientOnly = [time, bytes, blocks, parallel, reverse, bidir, udp, bitrate, length, congestion, omit, window, mss, noDelay, tos, title, serverOutput, counters64, repeating, connectTimeout];
            Option[] serverOnly = [oneOff, bind];
            if (isServer && clientOnly.FirstOrDefault(o => r.GetResult(o) is { Implicit: false }) is { } co) throw new UsageException($"{co.Name} is a client option (-c HOST)");
            if (!isServer && serverOnly.FirstOrDefault(o => r.GetResult(o) is { Implicit: false }) is { } so) throw new UsageException($"{so.Name} is a server option (-s)");
            var stackOptions = set.Read(r);
            if (isServer)
            {
                var so2 = new Iperf3ServerOptions
                {
                    Port = r.GetValue(port) ?? Iperf3Protocol.DefaultPort,
                    BindAddress = r.GetValue(bind) is { } bindTo ? Opt.Ip(bindTo, "bind address", family) : family == 6 ? IPAddress.IPv6Any : IPAddress.Any,
                    OneOff = r.GetValue(oneOff),
                    Json = r.GetValue(json),
                    Verbose = r.GetValue(verbose),
                    Format = r.GetValue(format) ?? 'a',
                    Interval = r.GetValue(interval) ?? 1,
                };
                return RunServer(r, set, stackOptions, control, own, so2);
            }
            if (stackOptions.Duration is not null) throw new UsageException("--duration is for the server (-s): the client's test lasts -t SEC");
            int endConditions = (r.GetResult(time) is { Implicit: false } ? 1 : 0) + (r.GetValue(bytes) is not null ? 1 : 0) + (r.GetValue(blocks) is not null ? 1 : 0);
            if (endConditions > 1) throw new UsageException("only one test end condition (-t, -n, -k) may be given");
            if (r.GetValue(reverse) && r.GetValue(bidir)) throw new UsageException("-R and --bidir exclude each other");
            bool isUdp = r.GetValue(udp);
            if (r.GetValue(length) is { } l)
            {
                if (isUdp && l is < Iperf3Protocol.MinUdpBlockSize or > Iperf3Protocol.MaxUdpBlockSize)
                    throw new UsageException($"bad -l {l}: a UDP datagram's length is {Iperf3Protocol.MinUdpBlockSize} to {Iperf3Protocol.MaxUdpBlockSize}");
                if (!isUdp && l is < 1 or > Iperf3Protocol.MaxBlockSize)
                    throw new UsageException($"bad -l {l}: 1 to {Iperf3Protocol.MaxBlockSize} bytes");
            }
            if (isUdp && (r.GetResult(mss) is { Implicit: false } || r.GetValue(noDelay) || r.GetValue(congestion) is not null))
                throw new UsageException("-M, -N and -C are TCP options (not with -u)");
            var co2 = new Iperf3ClientOptions
            {
                Host = host!,
                HostZone = zone,
                Port = r.GetValue(port) ?? Iperf3Protocol.DefaultPort,
                Time = r.GetValue(time) ?? 10,
                Bytes = r.GetValue(bytes) ?? 0,
                Blocks = r.GetValue(blocks) ?? 0,
                Parallel = r.GetValue(parallel) ?? 1,
                Reverse = r.GetValue(reverse),
                Bidirectional = r.GetValue(bidir),
                Udp = isUdp,
                Rate = r.GetValue(bitrate) is { } b ? (long)b.Rate : null,
                Burst = r.GetValue(bitrate) is { } b2 ? b2.Burst : 0,
                Length = r.GetValue(length) ?? 0,
                Congestion = r.GetValue(congestion),
                Json = r.GetValue(json),
                Interval = r.GetValue(interval) ?? 1,
                Omit = r.GetValue(omit) ?? 0,
                Window = r.GetValue(window) ?? 0,
                Mss = r.GetValue(mss) ?? 0,
                NoDelay = r.GetValue(noDelay),
                Tos = r.GetValue(tos) ?? 0,
                Title = r.GetValue(title),
                Format = r.GetValue(format) ?? 'a',
                Verbose = r.GetValue(verbose),
                GetServerOutput = r.GetValue(serverOutput),
                UdpCounters64Bit = r.GetValue(counters64),
                RepeatingPayload = r.GetValue(repeating),
                ConnectTimeout = r.GetValue(connectTimeout) is { } ms ? TimeSpan.FromMilliseconds(ms) : null,
            };
            if (co2.Bytes != 0 || co2.Blocks != 0) co2.Time = 0;
            return RunClient(r, set, stackOptions, control, own, co2);
        });
        return cmd;
    }

    /// <summary>
    /// -c HOST: an IPv4 or IPv6 address of the family -4/-6 ask for; a zone after '%' is the interface's index or its
    /// name (fe80::1%tap0, resolved on the stack the test runs on, as getaddrinfo() resolves it with if_nametoindex()).
    /// </summary>
    internal static (IPAddress Host, string? Zone) Host(string s, int family)
    {
        int pct = s.IndexOf('%');
        if (pct > 0 && s.Contains(':') && !uint.TryParse(s.AsSpan(pct + 1), NumberStyles.None, CultureInfo.InvariantCulture, out _))
        {
            string zone = s[(pct + 1)..];
            if (zone.Length is 0 or > 15 || zone.Any(ch => ch is '/' or ' ' or ':')) throw new UsageException($"bad host '{s}': the zone is an interface's name or index");
            var a = Opt.Ip(s[..pct], "host", family);
            if (!a.IsIPv6LinkLocal && !a.IsIPv6Multicast) throw new UsageException($"bad host '{s}': a zone is for a link-local address");
            return (a, zone);
        }
        return (Opt.Ip(s, "host", family), null);
    }

    /// <summary>iperf3's options this command refuses, each with the reason (hidden from --help).</summary>
    private static List<(Option Option, string Why)> Unsupported()
    {
        var list = new List<(Option, string)>();
        void Flag(string name, string why, params string[] aliases) => list.Add((new Option<bool>(name, aliases) { Arity = ArgumentArity.Zero, Hidden = true }, why));
        void Value(string name, string why, params string[] aliases) => list.Add((new Option<string>(name, aliases) { Arity = ArgumentArity.ExactlyOne, Hidden = true }, why));
        Flag("--sctp", "the stack has no SCTP");
        Flag("-Z", "there is no sendfile() on the stack's sockets (a send copies once into the stack anyway)", "--zerocopy");
        Value("-F", "reading or writing a file instead of memory is not implemented", "--file");
        Value("-A", "CPU affinity is not implemented (the stack's threads are .NET threads)", "--affinity");
        Flag("-D", "run it in the background with your shell or a service manager", "--daemon");
        Value("-I", "no pid file is written", "--pidfile");
        Value("--logfile", "redirect the output instead");
        Value("-L", "flow labels are IPv6", "--flowlabel");
        Value("--cport", "a fixed client port is not implemented");
        Value("--fq-rate", "the stack has no fq qdisc (SO_MAX_PACING_RATE)");
        Value("--pacing-timer", "the pacing here waits exactly as long as the target rate needs");
        Value("--dscp", "use -S (the TOS byte) instead");
        Value("-X", "binding to several addresses is SCTP's", "--xbind");
        Value("--nstreams", "SCTP streams");
        Value("--username", "authentication is not implemented");
        Value("--rsa-public-key-path", "authentication is not implemented");
        Value("--rsa-private-key-path", "authentication is not implemented");
        Value("--authorized-users-path", "authentication is not implemented");
        Value("--time-skew-threshold", "authentication is not implemented");
        Value("--server-bitrate-limit", "a server bitrate limit is not implemented");
        Value("--idle-timeout", "the server gives a stalled client 60 s");
        Value("--rcv-timeout", "not implemented");
        Value("--snd-timeout", "TCP_USER_TIMEOUT is not set by this client");
        Value("--extra-data", "not implemented");
        Value("--bind-dev", "the stack binds by address (-B)");
        Flag("--dont-fragment", "not implemented (the stack's IP_MTU_DISCOVER is not wired to it)");
        Flag("-d", "no debug output (NETSTACK_DEBUG=1 shows stack traces of unexpected errors)", "--debug");
        Flag("--timestamps", "not implemented");
        return list;
    }

    private static double Size(string s, string option) =>
        Iperf3Format.ParseSize(s) is { } v && v >= 0 && v <= long.MaxValue / 2 ? v : throw new UsageException($"bad {option} '{s}': a number with an optional K, M, G or T (powers of 1024)");

    private static (double, int)? ParseBitrate(string s)
    {
        int burst = 0;
        string rate = s;
        int slash = s.IndexOf('/');
        if (slash >= 0)
        {
            rate = s[..slash];
            if (!int.TryParse(s.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out burst) || burst is < 1 or > Iperf3Protocol.MaxBurst)
                throw new UsageException($"bad burst in -b '{s}': 1 to {Iperf3Protocol.MaxBurst} packets");
        }
        return Iperf3Format.ParseRate(rate) is { } v && v <= 1e15
            ? (v, burst)
            : throw new UsageException($"bad bitrate '{s}': a number of bits/sec with an optional K, M, G or T (powers of 1000), e.g. 100M");
    }

    private static double? ParseInterval(string s) =>
        double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && (v == 0 || (v >= 0.1 && v <= 60))
            ? v
            : throw new UsageException($"bad interval '{s}': 0 (no reports) or 0.1 to 60 seconds");

    private static int? Tos(string s)
    {
        var style = s.StartsWith("0x", StringComparison.OrdinalIgnoreCase) ? NumberStyles.AllowHexSpecifier : NumberStyles.None;
        string digits = style == NumberStyles.AllowHexSpecifier ? s[2..] : s;
        if (style == NumberStyles.None && digits.Length > 1 && digits[0] == '0')
        {
            try { return Check(Convert.ToInt32(digits, 8)); }
            catch (FormatException) { }
        }
        return int.TryParse(digits, style, CultureInfo.InvariantCulture, out int v) ? Check(v) : throw new UsageException($"bad TOS '{s}': 0 to 255 (decimal, 0x hex or 0 octal)");
        int Check(int x) => x is >= 0 and <= 255 ? x : throw new UsageException($"bad TOS '{s}': 0 to 255");
    }

    // ------------------------------------------------------------------ server

    private static int RunServer(ParseResult r, StackOptionSet set, StackOptionSet.Parsed o, ControlOptions control, Option<bool> own, Iperf3ServerOptions options)
    {
        var (name, path) = control.Read(r);
        if (!r.GetValue(own) && ControlOptions.TryAttach(path) is { } running)
        {
            using (running)
                throw new CliFailure($"a stack is running as {name} (pid {running.Pid}, {path}): on it the iperf3 service is the server " +
                    $"(netstack up --services ...,iperf3, part of the default \"all\"); netstack iperf3 -s brings up a stack of its own: " +
                    "add --own, with --ns/--tap naming a TAP the running stack does not hold");
        }
        Console.Error.WriteLine("netstack iperf3: bringing up a stack of its own");
        using var stack = StackAttach.Up(o);
        Console.Error.WriteLine($"netstack iperf3: {stack.Description}");
        var stdout = Console.Out;
        options.Output = text =>
        {
            stdout.Write(text);
            stdout.Flush();
        };
        var server = new Iperf3Server(stack.Net, options);
        server.Start();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Interrupt.Token);
        if (o.Duration is { } d) stop.CancelAfter(d);
        try
        {
            server.RunAsync(stop.Token).GetAwaiter().GetResult();
        }
        finally
        {
            server.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
        return options.OneOff && server.Failed > 0 ? ExitCodes.Failure : ExitCodes.Ok;
    }

    // ------------------------------------------------------------------ client

    private static int RunClient(ParseResult r, StackOptionSet set, StackOptionSet.Parsed o, ControlOptions control, Option<bool> own, Iperf3ClientOptions options)
    {
        if (ToolStack.AttachPath("iperf3", r, set, o, control, own) is { } path)
        {
            var running = ControlOptions.TryAttach(path);
            if (running is not null)
            {
                using (running)
                {
                    Console.Error.WriteLine($"netstack iperf3: attached to the running stack {running.Name} (pid {running.Pid}, {path}): the test runs inside it");
                    return RunRemote(running, options);
                }
            }
            var (name, _) = control.Read(r);
            Console.Error.WriteLine($"netstack iperf3: no stack is running as {name} ({path}): bringing up its own");
        }
        else Console.Error.WriteLine("netstack iperf3: bringing up a stack of its own (--own)");
        using var stack = StackAttach.Up(o);
        var stdout = Console.Out;
        var result = Iperf3Client.RunAsync(stack.Net, options, text =>
        {
            stdout.Write(text);
            stdout.Flush();
        }, Interrupt.Token).GetAwaiter().GetResult();
        return Finish(result.ExitCode, result.Error);
    }

    private static int Finish(int exitCode, string? error)
    {
        Console.Out.Flush();
        if (error is not null) throw new CliFailure(error);
        return exitCode;
    }

    /// <summary>The test runs in the running stack's process (control op "iperf3"); its output comes back through "iperf3_read".</summary>
    private static int RunRemote(ControlClient c, Iperf3ClientOptions options)
    {
        var reply = c.Request(new JsonObject { ["op"] = Iperf3Ops.Start, ["options"] = options.ToJson() });
        if (reply["error"] is JsonNode err)
        {
            string e = err.ToString();
            if (e.Contains("unknown op", StringComparison.Ordinal))
                throw new CliFailure($"the running stack {c.Name} (pid {c.Pid}) cannot run iperf3 (an older netstack up?): restart it, or add --own");
            throw new CliFailure(e);
        }
        int job = (int)reply["job"]!;
        bool stopSent = false;
        var stdout = Console.Out;
        while (true)
        {
            if (Interrupt.Token.IsCancellationRequested && !stopSent)
            {
                c.Request(new JsonObject { ["op"] = Iperf3Ops.Stop, ["job"] = job });
                stopSent = true;
            }
            var read = c.Request(new JsonObject { ["op"] = Iperf3Ops.Read, ["job"] = job, ["wait_ms"] = 250 });
            if (read["error"] is JsonNode readErr) throw new CliFailure(readErr.ToString());
            if ((string?)read["text"] is { Length: > 0 } text)
            {
                stdout.Write(text);
                stdout.Flush();
            }
            if ((bool?)read["done"] == true) return Finish((int?)read["exit"] ?? 1, (string?)read["message"]);
        }
    }
}

/// <summary>
/// The control ops `netstack up` adds so that `netstack iperf3 -c` runs its test inside the
/// running stack: "iperf3" {"options":{...}} starts a run ({"job":N}), "iperf3_read"
/// {"job":N,"wait_ms":MS} returns its output so far ({"text","done","exit","message"}),
/// "iperf3_stop" {"job":N} interrupts it.
/// </summary>
internal static class Iperf3Ops
{
    public const string Start = "iperf3", Read = "iperf3_read", Stop = "iperf3_stop";

    public static void Register(ControlServer server, Iperf3Jobs jobs)
    {
        server.AddOp(Start, ["options"], (_, q) =>
        {
            if (q["options"] is not JsonObject options) throw new SocketShell.ShellException("\"options\" must be an object");
            Iperf3ClientOptions o;
            try { o = Iperf3ClientOptions.FromJson(options); }
            catch (FormatException e) { throw new SocketShell.ShellException(e.Message); }
            try { return new JsonObject { ["job"] = jobs.Start(o) }; }
            catch (InvalidOperationException e) { throw new SocketShell.ShellException(e.Message); }
        });
        server.AddOp(Read, ["job", "wait_ms"], (_, q) =>
        {
            int job = Job(q);
            int wait = q["wait_ms"] is JsonValue w && w.TryGetValue(out int ms) ? Math.Clamp(ms, 0, 5000) : 250;
            try
            {
                var (text, done, exit, error) = jobs.Read(job, TimeSpan.FromMilliseconds(wait));
                var reply = new JsonObject { ["text"] = text, ["done"] = done };
                if (done)
                {
                    reply["exit"] = exit;
                    if (error is not null) reply["message"] = error;
                }
                return reply;
            }
            catch (KeyNotFoundException e) { throw new SocketShell.ShellException(e.Message); }
        });
        server.AddOp(Stop, ["job"], (_, q) => new JsonObject { ["stopped"] = jobs.Stop(Job(q)) });
    }

    private static int Job(JsonObject q) =>
        q["job"] is JsonValue v && v.TryGetValue(out int job) ? job : throw new SocketShell.ShellException("\"job\" must be a number");
}
