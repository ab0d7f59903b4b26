using System.Buffers.Binary;
using System.Net;
using System.Text;
using System.Threading.Channels;
using NetStack.Api;
using NetStack.Core;
using NetStack.Net;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Services.Iperf3;

/// <summary>Settings of an <see cref="Iperf3Server"/>.</summary>
public sealed class Iperf3ServerOptions
{
    /// <summary>-p: the port of the control connection, the TCP streams and the UDP streams.</summary>
    public ushort Port { get; set; } = Iperf3Protocol.DefaultPort;
    /// <summary>-B: the local address (IPAddress.Any: every IPv4 one; IPAddress.IPv6Any: an AF_INET6 socket on [::], dual stack).</summary>
    public IPAddress BindAddress { get; set; } = IPAddress.Any;
    /// <summary>-1: serve one test, then stop.</summary>
    public bool OneOff { get; set; }
    /// <summary>-J: each test's report as JSON.</summary>
    public bool Json { get; set; }
    /// <summary>-V: more detail.</summary>
    public bool Verbose { get; set; }
    /// <summary>-f: the bitrate unit.</summary>
    public char Format { get; set; } = 'a';
    /// <summary>-i: seconds between interval reports (0: none).</summary>
    public double Interval { get; set; } = 1;
    /// <summary>What iperf3 -s prints, line by line (newlines included); null: nothing.</summary>
    public Action<string>? Output { get; set; }
    /// <summary>One line per finished or failed test (for a service's log); null: nothing.</summary>
    public Action<string>? Log { get; set; }
    /// <summary>
    /// How long a client may take to set the test up, from its connection (its cookie first: a client that
    /// connects and sends nothing is closed with IERECVCOOKIE) until its data streams exist, and to send its
    /// results (60 s). iperf3 bounds the cookie read and, with --rcv-timeout, a running test; its setup
    /// otherwise waits for ever, which a service, holding its one test slot meanwhile, should not.
    /// </summary>
    public TimeSpan SetupTimeout { get; set; } = TimeSpan.FromSeconds(60);
    /// <summary>After the test's duration and omitted seconds, how long the server waits for TEST_END before it ends the test itself (iperf3's grace period: 40 s).</summary>
    public TimeSpan GracePeriod { get; set; } = TimeSpan.FromSeconds(40);
    /// <summary>A running test in which no byte moves for this long is ended (iperf3's --rcv-timeout default: 120 s).</summary>
    public TimeSpan RcvTimeout { get; set; } = TimeSpan.FromSeconds(120);
}

/// <summary>
/// An iperf3 server on the stack (iperf_server_api.c): one test at a time on a TCP port. A new
/// connection while no test runs is a control connection (the client's cookie, then the
/// parameters as JSON); while the test waits for its streams, each connection is a TCP data
/// stream that must present the same cookie; any other connection is answered ACCESS_DENIED.
/// UDP streams "connect" to a UDP socket on the same port, which replies and becomes the stream
/// (a fresh socket takes over the port for the next one, with SO_REUSEADDR, as iperf_udp_accept
/// does). The test ends when the client sends TEST_END; results are exchanged, and the server
/// listens for the next one.
/// </summary>
public sealed class Iperf3Server : IAsyncDisposable
{
    private readonly NetNamespace _net;
    private readonly Iperf3ServerOptions _o;
    private readonly object _gate = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _oneOffDone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private NetSocket? _listener;
    private Session? _current;
    private int _testNumber;

    public Iperf3Server(NetNamespace net, Iperf3ServerOptions? options = null)
    {
        _net = net;
        _o = options ?? new Iperf3ServerOptions();
    }

    public Iperf3ServerOptions Options => _o;

    /// <summary>The listening socket's address (useful with port 0).</summary>
    public IPEndPoint? LocalEndPoint => _listener?.LocalEndPoint;

    /// <summary>Tests begun, completed and failed.</summary>
    public int Tests, Completed, Failed;

    /// <summary>Called when a control connection starts a test.</summary>
    public Action? TestStarted { get; set; }

    /// <summary>Called after each test with its state and its error (null when it completed).</summary>
    public Action<Iperf3Test?, Exception?>? TestFinished { get; set; }

    /// <summary>Binds and listens; throws <see cref="NetStackException"/> when the port is taken.</summary>
    public void Start()
    {
        // iperf3 -B: a socket of the address's family; [::] is AF_INET6 and, dual stack, takes IPv4 clients too.
        var l = new NetSocket(_net, _o.BindAddress.AddressFamily, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        try
        {
            l.SetOption(SOL_SOCKET, SO_REUSEADDR, 1);
            l.Bind(new IPEndPoint(_o.BindAddress, _o.Port));
            l.Listen(128);
        }
        catch
        {
            l.Dispose();
            throw;
        }
        _listener = l;
        PrintListening();
    }

    private void PrintListening()
    {
        if (_o.Json || _o.Output is null) return;
        _o.Output($"-----------------------------------------------------------\nServer listening on {LocalEndPoint?.Port ?? _o.Port} (test #{_testNumber + 1})\n-----------------------------------------------------------\n");
    }

    /// <summary>Accepts connections until <paramref name="ct"/> ends, <see cref="DisposeAsync"/> is called or, with <see cref="Iperf3ServerOptions.OneOff"/>, the first test is over.</summary>
    public async Task RunAsync(CancellationToken ct = default)
    {
        var listener = _listener ?? throw new InvalidOperationException("Start() first");
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, _stop.Token);
        var token = linked.Token;
        var accepts = AcceptLoopAsync(listener, token);
        await Task.WhenAny(accepts, _oneOffDone.Task).ConfigureAwait(false);
        linked.Cancel();
        await accepts.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        Session? s;
        lock (_gate) s = _current;
        if (s is not null) await s.Finished.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private async Task AcceptLoopAsync(NetSocket listener, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            NetSocket conn;
            try { conn = await listener.AcceptAsync(ct).ConfigureAwait(false); }
            catch (OperationCanceledException) { break; }
            catch (NetStackException e) when (e.Errno is Errno.EBADF or Errno.EINVAL) { break; }
            catch (NetStackException) { continue; } // a connection that died in the queue
            catch (ObjectDisposedException) { break; }
            // A data stream of the test that waits for them goes to it now, in the order of
            // acceptance: stream ids follow that order on both ends, as with iperf3's accept().
            Session? streamsFor;
            lock (_gate) streamsFor = _current is { AcceptingTcpStreams: true } c ? c : null;
            if (streamsFor is not null && streamsFor.OfferStream(conn)) continue;
            _ = Task.Run(() => RouteAsync(conn, ct), CancellationToken.None);
        }
    }

    /// <summary>A new connection outside CREATE_STREAMS: the control connection of a new test, or refused.</summary>
    private async Task RouteAsync(NetSocket conn, CancellationToken ct)
    {
        Session? session = null;
        lock (_gate)
        {
            if (_current is null && !(_o.OneOff && _testNumber > 0))
            {
                _testNumber++;
                Tests++;
                _current = session = new Session(this, _testNumber);
            }
        }
        if (session is null)
        {
            // Busy: ACCESS_DENIED without reading anything (the request may block an ongoing test).
            await DenyAsync(conn).ConfigureAwait(false);
            return;
        }
        Exception? error = null;
        TestStarted?.Invoke();
        try
        {
            await session.RunAsync(conn, ct).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            error = e;
        }
        finally
        {
            conn.Dispose();
            lock (_gate) _current = null;
        }
        if (error is null) Interlocked.Increment(ref Completed);
        else
        {
            Interlocked.Increment(ref Failed);
            if (error is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                string msg = error is Iperf3Exception or NetStackException ? error.Message : $"{error.GetType().Name}: {error.Message}";
                if (session.Test is { Json: true } jt)
                {
                    jt.JsonTop!["error"] = msg;
                    _o.Output?.Invoke(jt.JsonFinish());
                }
                else _o.Output?.Invoke($"iperf3: error - {msg}\n");
                _o.Log?.Invoke($"test #{session.Number}{session.From}: {msg}");
            }
        }
        TestFinished?.Invoke(session.Test, error);
        session.Done();
        if (_o.OneOff) _oneOffDone.TrySetResult();
        else if (!ct.IsCancellationRequested) PrintListening();
    }

    private static async Task DenyAsync(NetSocket conn)
    {
        try
        {
            using var t = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await Iperf3Protocol.WriteStateAsync(conn, Iperf3State.AccessDenied, t.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is NetStackException or OperationCanceledException or ObjectDisposedException) { }
        finally { conn.Dispose(); }
    }

    /// <summary>Stops accepting and ends the test in progress.</summary>
    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener?.Dispose();
        Session? s;
        lock (_gate) s = _current;
        if (s is not null) await s.Finished.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    // ------------------------------------------------------------------ one test

    private sealed class Session(Iperf3Server server, int number)
    {
        private readonly Channel<NetSocket> _tcpStreams = Channel.CreateUnbounded<NetSocket>();
        private readonly TaskCompletionSource _finished = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private volatile bool _acceptingTcp;
        private byte[] _cookie = [];

        public int Number { get; } = number;
        public Iperf3Test? Test { get; private set; }
        public string From { get; private set; } = "";
        public Task Finished => _finished.Task;
        public bool AcceptingTcpStreams => _acceptingTcp;

        public void Done() => _finished.TrySetResult();

        /// <summary>A connection during CREATE_STREAMS, queued in the order it was accepted; false when the test no longer takes streams.</summary>
        public bool OfferStream(NetSocket conn) => _acceptingTcp && _tcpStreams.Writer.TryWrite(conn);

        /// <summary>
        /// The next queued connection that presents the test's cookie (iperf_tcp_accept); one with
        /// another cookie is answered ACCESS_DENIED and closed. Cookies are read one connection at
        /// a time, in order, as iperf3 reads them.
        /// </summary>
        private async Task<NetSocket> NextTcpStreamAsync(CancellationToken ct)
        {
            while (true)
            {
                var conn = await _tcpStreams.Reader.ReadAsync(ct).ConfigureAwait(false);
                var cookie = new byte[Iperf3Protocol.CookieSize];
                bool ok;
                try
                {
                    using var t = CancellationTokenSource.CreateLinkedTokenSource(ct);
                    t.CancelAfter(TimeSpan.FromSeconds(10));
                    ok = await Iperf3Protocol.ReadExactAsync(conn, cookie, t.Token).ConfigureAwait(false) && Iperf3Protocol.CookiesEqual(cookie, _cookie);
                }
                catch (Exception e) when (e is NetStackException or OperationCanceledException or ObjectDisposedException)
                {
                    ct.ThrowIfCancellationRequested();
                    ok = false;
                }
                if (ok) return conn;
                await DenyAsync(conn).ConfigureAwait(false);
            }
        }

        public async Task RunAsync(NetSocket ctrl, CancellationToken stopToken)
        {
            var o = server._o;
            var ct = stopToken;
            // Cancelled when the session ends: a stream accept still pending then stops with it.
            using var session = CancellationTokenSource.CreateLinkedTokenSource(stopToken);
            var peer = ctrl.RemoteEndPoint!;
            From = $" from {Iperf3Format.Host(peer.Address)}";
            Task[] io = [];
            using var ioStop = new CancellationTokenSource();
            // A client that stalls before its streams exist is given up on (iperf3 would wait for ever).
            using var setupTimer = new CancellationTokenSource(o.SetupTimeout);
            var setupExpired = Task.Delay(Timeout.Infinite, setupTimer.Token);
            try
            {
                ctrl.NoDelay = true;
                // The cookie, then PARAM_EXCHANGE and the parameters.
                _cookie = new byte[Iperf3Protocol.CookieSize];
                // A client that connects and sends nothing holds the server (one test at a time) only until
                // the setup timeout; the error is iperf_accept's IERECVCOOKIE, which iperf3 also raises
                // when its Nread of the cookie times out.
                if (!await Within(Iperf3Protocol.ReadExactAsync(ctrl, _cookie, ct).AsTask(), setupExpired,
                        () => new Iperf3Exception(Iperf3Error.RecvCookie, $"no cookie within {o.SetupTimeout.TotalSeconds:0.###} s")).ConfigureAwait(false))
                    throw new Iperf3Exception(Iperf3Error.RecvCookie, "the client closed the connection");
                await Iperf3Protocol.WriteStateAsync(ctrl, Iperf3State.ParamExchange, ct).ConfigureAwait(false);
                var parameters = Iperf3Parameters.FromJson(await Within(Iperf3Protocol.ReadJsonAsync(ctrl, Iperf3Error.RecvParams, ct).AsTask(), setupExpired).ConfigureAwait(false));
                var t = Test = new Iperf3Test('s', parameters, o.Json, o.Output) { Verbose = o.Verbose, UnitFormat = o.Format, StatsInterval = o.Interval, Cookie = _cookie };
                t.SenderHasRetransmits = t.Mode != Iperf3Mode.Receiver && t.IsTcp ? 1 : 0;
                if (t.Json)
                {
                    t.JsonStart!["version"] = Iperf3Test.Version;
                    t.JsonStart["system_info"] = Iperf3Test.SystemInfo();
                    if (parameters.Rate != 0) t.JsonStart["target_bitrate"] = parameters.Rate;
                }
                if (Refusal(parameters) is { } refusal)
                {
                    await SendServerErrorAsync(ctrl, refusal.Code, 0, ct).ConfigureAwait(false);
                    throw refusal;
                }
                if (parameters.Length == 0) parameters.Length = parameters.Protocol == Iperf3Transport.Udp ? Iperf3Protocol.DefaultUdpBlockSize : Iperf3Protocol.DefaultTcpBlockSize;
                // protocol->listen: TCP streams come to the listener; UDP streams to a UDP socket on the port.
                if (parameters.Protocol == Iperf3Transport.Udp)
                {
                    try { _udpListener = NewUdpListener(); }
                    catch (NetStackException e)
                    {
                        await SendServerErrorAsync(ctrl, Iperf3Error.StreamListen, e.Errno, ct).ConfigureAwait(false);
                        throw Iperf3StrError.For(Iperf3Error.StreamListen, e);
                    }
                }
                else _acceptingTcp = true;
                await Iperf3Protocol.WriteStateAsync(ctrl, Iperf3State.CreateStreams, ct).ConfigureAwait(false);
                t.State = Iperf3State.CreateStreams;
                t.OnConnect(null, 0, peer);
                From = $" from {Iperf3Format.Host(peer.Address)} ({(t.IsTcp ? "TCP" : "UDP")}, {parameters.Parallel} stream{(parameters.Parallel == 1 ? "" : "s")}{(parameters.Reverse ? ", reverse" : parameters.Bidirectional ? ", bidir" : "")})";

                // CREATE_STREAMS: receivers first, then senders (iperf_run_server's flag logic).
                var ctrlReader = new CtrlReader(ctrl);
                int toReceive = t.Mode == Iperf3Mode.Sender ? 0 : parameters.Parallel, toSend = t.Mode == Iperf3Mode.Receiver ? 0 : parameters.Parallel;
                int received = 0, sent = 0;
                Task<NetSocket>? next = null;
                while (received < toReceive || sent < toSend)
                {
                    next ??= t.IsTcp ? NextTcpStreamAsync(session.Token) : AcceptUdpAsync(session.Token);
                    var ctrlMsg = ctrlReader.Pending(ct);
                    var done = await Task.WhenAny(next, ctrlMsg, setupExpired).ConfigureAwait(false);
                    if (done == setupExpired) throw new Iperf3Exception(Iperf3Error.InitTest, $"the client did not set its streams up within {o.SetupTimeout.TotalSeconds:0} s");
                    if (done == ctrlMsg)
                    {
                        var state = await ctrlReader.TakeAsync().ConfigureAwait(false);
                        if (state is null) throw new Iperf3Exception(Iperf3Error.CtrlClose, "the client has unexpectedly closed the connection");
                        if (state == Iperf3State.ClientTerminate) throw new Iperf3Exception(Iperf3Error.ClientTerm, null);
                        if (state is Iperf3State.TestStart or Iperf3State.IperfDone) continue;
                        throw new Iperf3Exception(Iperf3Error.Message, $"state {(int)state} while creating streams");
                    }
                    NetSocket s;
                    try { s = await next.ConfigureAwait(false); }
                    catch (NetStackException e) { throw Iperf3StrError.For(Iperf3Error.StreamAccept, e); }
                    next = null;
                    bool isSender = received == toReceive;
                    if (isSender) sent++;
                    else received++;
                    try
                    {
                        ConfigureStream(t, s, isSender);
                    }
                    catch
                    {
                        s.Dispose();
                        throw;
                    }
                    t.AddStream(s, isSender, s.LocalEndPoint, s.RemoteEndPoint!);
                }
                _acceptingTcp = false;
                _udpListener?.Dispose();
                _udpListener = null;
                setupTimer.Dispose();
                await RunTestAsync(t, ctrl, ctrlReader, ioStop, ct, started => io = started).ConfigureAwait(false);
            }
            finally
            {
                session.Cancel();
                _acceptingTcp = false;
                _tcpStreams.Writer.TryComplete();
                while (_tcpStreams.Reader.TryRead(out var extra)) extra.Dispose();
                _udpListener?.Dispose();
                _udpListener = null;
                ioStop.Cancel();
                if (io.Length > 0) await Task.WhenAll(io).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                if (Test is { } t)
                    foreach (var sp in t.Streams) sp.Socket.Dispose();
            }
        }

        /// <summary>The task's result, unless <paramref name="expired"/> completes first (then the setup timeout's error, or <paramref name="timeoutError"/>'s).</summary>
        private async Task<T> Within<T>(Task<T> task, Task expired, Func<Iperf3Exception>? timeoutError = null)
        {
            if (await Task.WhenAny(task, expired).ConfigureAwait(false) == task) return await task.ConfigureAwait(false);
            _ = task.ContinueWith(static t => _ = t.Exception, TaskContinuationOptions.OnlyOnFaulted);
            throw timeoutError?.Invoke() ?? new Iperf3Exception(Iperf3Error.InitTest, $"the client did not set the test up within {server._o.SetupTimeout.TotalSeconds:0} s");
        }

        /// <summary>What this server refuses, as an iperf3 server without the feature would: SCTP.</summary>
        private static Iperf3Exception? Refusal(Iperf3Parameters p)
        {
            if (p.Protocol == Iperf3Transport.Sctp) return new Iperf3Exception(Iperf3Error.Protocol, "SCTP is not supported by the stack");
            if (p.Parallel is < 1 or > Iperf3Protocol.MaxStreams) return new Iperf3Exception(Iperf3Error.RecvParams, $"parallel {p.Parallel}");
            if (p.Length < 0 || p.Length > Iperf3Protocol.MaxBlockSize) return new Iperf3Exception(Iperf3Error.RecvParams, $"len {p.Length}");
            return null;
        }

        private static async Task SendServerErrorAsync(NetSocket ctrl, int code, int errno, CancellationToken ct)
        {
            // SERVER_ERROR, then i_errno and errno as 32-bit big-endian numbers.
            var b = new byte[9];
            b[0] = unchecked((byte)(sbyte)Iperf3State.ServerError);
            BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(1), code);
            BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(5), errno);
            try { await Iperf3Protocol.WriteAllAsync(ctrl, b, ct).ConfigureAwait(false); }
            catch (NetStackException) { }
        }

        private NetSocket? _udpListener;

        private NetSocket NewUdpListener()
        {
            var u = new NetSocket(server._net, server._o.BindAddress.AddressFamily, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
            try
            {
                u.SetOption(SOL_SOCKET, SO_REUSEADDR, 1);
                u.Bind(new IPEndPoint(server._o.BindAddress, server.LocalEndPoint!.Port));
                return u;
            }
            catch
            {
                u.Dispose();
                throw;
            }
        }

        /// <summary>
        /// iperf_udp_accept: the client's first datagram names it; the socket it came to is
        /// connected to the client and becomes the stream; a new socket takes the port for the
        /// next stream (SO_REUSEADDR on both); then the stream replies UDP_CONNECT_REPLY.
        /// </summary>
        private async Task<NetSocket> AcceptUdpAsync(CancellationToken ct)
        {
            var s = _udpListener!;
            var buf = new byte[65536];
            var r = await s.ReceiveFromAsync(buf, ct).ConfigureAwait(false);
            _udpListener = null;
            try
            {
                s.Connect(r.RemoteEndPoint);
                _udpListener = NewUdpListener();
                await s.SendAsync(Iperf3Protocol.UdpConnectBytes(Iperf3Protocol.UdpConnectReply), ct).ConfigureAwait(false);
                return s;
            }
            catch
            {
                s.Dispose();
                throw;
            }
        }

        /// <summary>Socket options for a new stream as the client asked: congestion control, buffers, TOS, Nagle.</summary>
        private static void ConfigureStream(Iperf3Test t, NetSocket s, bool sender)
        {
            var p = t.Settings;
            if (t.IsTcp)
            {
                if (p.Congestion is { } cc)
                {
                    int r = SocketCalls.Setsockopt(s.Files, s.Fd, IPPROTO_TCP, TCP_CONGESTION, Encoding.ASCII.GetBytes(cc));
                    if (r == -Errno.ENOENT) t.Warning("TCP congestion control algorithm not supported");
                    else if (r < 0) throw new Iperf3Exception(Iperf3Error.SetCongestion, Iperf3StrError.Text(r));
                }
                try { t.CongestionUsed = s.GetTcpInfo().CongestionControl; }
                catch (NetStackException) { t.CongestionUsed = "unknown"; }
                if (p.NoDelay) s.NoDelay = true;
                if (p.Mss != 0) TrySet(s, IPPROTO_TCP, TCP_MAXSEG, p.Mss);
            }
            if (p.Window != 0)
            {
                TrySet(s, SOL_SOCKET, SO_RCVBUF, p.Window);
                TrySet(s, SOL_SOCKET, SO_SNDBUF, p.Window);
            }
            // iperf3 sets IPV6_TCLASS on an AF_INET6 socket, IP_TOS on an AF_INET one.
            if (p.Tos != 0)
            {
                if (s.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6) TrySet(s, IPPROTO_IPV6, IPV6_TCLASS, p.Tos);
                else TrySet(s, IPPROTO_IP, IP_TOS, p.Tos);
            }
            t.RecordBuffers(s.GetOption(SOL_SOCKET, SO_SNDBUF), s.GetOption(SOL_SOCKET, SO_RCVBUF));
        }

        private static void TrySet(NetSocket s, int level, int name, int value)
        {
            try { s.SetOption(level, name, value); }
            catch (NetStackException) { }
        }

        /// <summary>TEST_START to DISPLAY_RESULTS.</summary>
        private async Task RunTestAsync(Iperf3Test t, NetSocket ctrl, CtrlReader ctrlReader, CancellationTokenSource ioStop, CancellationToken ct, Action<Task[]> setIo)
        {
            var o = server._o;
            var cpu = new Iperf3CpuMeter();
            var run = new Iperf3Run(t);
            await Iperf3Protocol.WriteStateAsync(ctrl, Iperf3State.TestStart, ct).ConfigureAwait(false);
            t.State = Iperf3State.TestStart;
            t.InitTest();
            long start = Iperf3Clock.Now;
            double interval = o.Interval;
            double nextStats = interval > 0 ? interval : double.PositiveInfinity;
            double omitEnd = t.Settings.Omit > 0 ? t.Settings.Omit : double.NaN;
            t.Omitting = t.Settings.Omit > 0;
            double deadline = t.Settings.Time != 0 ? t.Settings.Time + t.Settings.Omit + o.GracePeriod.TotalSeconds : double.PositiveInfinity;
            await Iperf3Protocol.WriteStateAsync(ctrl, Iperf3State.TestRunning, ct).ConfigureAwait(false);
            t.State = Iperf3State.TestRunning;
            run.Counting = true;
            var io = Iperf3Io.Start(run, ioStop.Token, ioStop.Token);
            setIo(io);
            // A test in which nothing moves for RcvTimeout (a client gone without a word) is ended.
            long lastBytes = 0;
            double lastProgress = 0;

            while (true)
            {
                double now = Iperf3Clock.Seconds(start, Iperf3Clock.Now);
                long moved = run.Sent + run.Received;
                if (moved != lastBytes)
                {
                    lastBytes = moved;
                    lastProgress = now;
                }
                else if (now - lastProgress >= o.RcvTimeout.TotalSeconds)
                    throw new Iperf3Exception(Iperf3Error.NoMsg, $"nothing received or sent for {o.RcvTimeout.TotalSeconds:0} s");
                if (!double.IsNaN(omitEnd) && now >= omitEnd)
                {
                    // The omitted seconds are over: counting starts again, and the reports with it.
                    omitEnd = double.NaN;
                    t.Omitting = false;
                    t.ResetStats();
                    if (interval > 0) nextStats = now + interval;
                }
                if (now >= nextStats)
                {
                    t.StatsCallback();
                    t.ReporterCallback();
                    nextStats += interval;
                    if (nextStats <= now) nextStats = now + interval;
                }
                if (now >= deadline)
                    throw new Iperf3Exception(Iperf3Error.NoMsg, $"no TEST_END {o.GracePeriod.TotalSeconds:0} s after the test's end: ending it");
                double wake = Math.Min(Math.Min(nextStats, deadline), double.IsNaN(omitEnd) ? double.PositiveInfinity : omitEnd);
                wake = Math.Min(wake, now + 1); // look at the progress now and then
                var msg = ctrlReader.Pending(ct);
                if (!msg.IsCompleted)
                {
                    using var delay = CancellationTokenSource.CreateLinkedTokenSource(ct);
                    var sleep = double.IsPositiveInfinity(wake) ? Task.Delay(Timeout.Infinite, delay.Token) : Task.Delay(TimeSpan.FromSeconds(Math.Max(0, wake - now)), delay.Token);
                    var first = await Task.WhenAny(msg, sleep, run.Ended).ConfigureAwait(false);
                    delay.Cancel();
                    if (first == run.Ended && run.Failure is { } failure) throw failure;
                    if (first != msg) continue;
                }
                var state = await ctrlReader.TakeAsync().ConfigureAwait(false);
                switch (state)
                {
                    case null:
                        throw new Iperf3Exception(Iperf3Error.CtrlClose, "the client has unexpectedly closed the connection");
                    case Iperf3State.TestStart:
                        continue;
                    case Iperf3State.TestEnd:
                        // Stop counting and the streams, close the last interval and the streams, report, exchange results.
                        run.Counting = false;
                        t.State = Iperf3State.TestEnd;
                        t.Done = true;
                        cpu.Measure(t.CpuUtil);
                        ioStop.Cancel();
                        await Task.WhenAll(io).WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                        t.StatsCallback();
                        foreach (var sp in t.Streams) sp.Socket.Dispose();
                        t.ReporterCallback();
                        await Iperf3Protocol.WriteStateAsync(ctrl, Iperf3State.ExchangeResults, ct).ConfigureAwait(false);
                        t.State = Iperf3State.ExchangeResults;
                        using (var results = CancellationTokenSource.CreateLinkedTokenSource(ct))
                        {
                            results.CancelAfter(o.SetupTimeout);
                            try { t.ApplyResults(await Iperf3Protocol.ReadJsonAsync(ctrl, Iperf3Error.RecvResults, results.Token).ConfigureAwait(false)); }
                            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                            {
                                throw new Iperf3Exception(Iperf3Error.RecvResults, $"no results from the client within {o.SetupTimeout.TotalSeconds:0} s");
                            }
                        }
                        await Iperf3Protocol.WriteJsonAsync(ctrl, t.ResultsToJson(), ct).ConfigureAwait(false);
                        await Iperf3Protocol.WriteStateAsync(ctrl, Iperf3State.DisplayResults, ct).ConfigureAwait(false);
                        t.State = Iperf3State.DisplayResults;
                        // The client answers IPERF_DONE (or just closes).
                        using (var bye = CancellationTokenSource.CreateLinkedTokenSource(ct))
                        {
                            bye.CancelAfter(TimeSpan.FromSeconds(10));
                            try { await ctrlReader.Pending(ct).WaitAsync(bye.Token).ConfigureAwait(false); }
                            catch (Exception e) when (e is NetStackException or OperationCanceledException) { }
                        }
                        t.State = Iperf3State.IperfDone;
                        if (t.Json) o.Output?.Invoke(t.JsonFinish());
                        o.Log?.Invoke($"test #{Number}{From}: {t.Summary()}");
                        return;
                    case Iperf3State.IperfDone:
                        return;
                    case Iperf3State.ClientTerminate:
                        // The summary so far, then the end.
                        run.Counting = false;
                        cpu.Measure(t.CpuUtil);
                        t.State = Iperf3State.DisplayResults;
                        t.ReporterCallback();
                        t.State = Iperf3State.ClientTerminate;
                        throw new Iperf3Exception(Iperf3Error.ClientTerm, null);
                    default:
                        throw new Iperf3Exception(Iperf3Error.Message, $"state {(int)state}");
                }
            }
        }
    }

    /// <summary>Reads the state bytes of a control connection one at a time, keeping at most one read pending across waits.</summary>
    internal sealed class CtrlReader(NetSocket ctrl)
    {
        private Task<Iperf3State?>? _pending;

        /// <summary>The pending read of the next state byte, started when none is.</summary>
        public Task<Iperf3State?> Pending(CancellationToken ct) => _pending ??= Iperf3Protocol.ReadStateAsync(ctrl, ct).AsTask();

        /// <summary>The pending read's outcome (null: end of stream); the next <see cref="Pending"/> starts a new read.</summary>
        public Task<Iperf3State?> TakeAsync()
        {
            var p = _pending ?? throw new InvalidOperationException("no read pending");
            _pending = null;
            return p;
        }
    }
}
