using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using NetStack.Api;
using NetStack.Core;
using NetStack.Drivers;
using NetStack.Net;

namespace NetStack.Control;

/// <summary>
/// The control socket of a running stack: a Unix-domain stream socket on which tools, scripts and
/// programs in any language drive the stack, as programs reach the kernel through system calls and
/// tools through netlink.
/// <para><b>Protocol</b> (JSON lines, version <see cref="ProtocolVersion"/>): the server first sends
/// <c>{"hello":"netstack","version":1,"name":NAME,"pid":PID}</c>; then each request line gets exactly one
/// reply line, in order. Requests are the socket shell's ops (<see cref="SocketShell"/>; each client has a
/// private descriptor table, closed when it disconnects, as when a process exits) and the ops of
/// <see cref="ControlOps"/> (version, sockets, interfaces, sysctl, counters), and "share"/"join", with which
/// several connections of one program use one descriptor table, as threads share a process's files (one
/// blocks in recv while another sends; <see cref="RemoteStack"/> does this). A refused request is answered
/// <c>{"error": "..."}</c> (socket ops add <c>"ret": -1</c>, and <c>"errno"</c> for an out-of-range value);
/// "id" is echoed.</para>
/// <para><b>Limits</b> (<see cref="ControlLimits"/>, counted in <see cref="Counters"/>): a line longer than
/// <see cref="MaxLineBytes"/> is answered <c>{"error":"request too long: limit 65536 bytes; disconnecting"}</c>
/// (after the replies to the requests before it) and the client is disconnected, the line never buffered
/// beyond the limit; a line not finished within <see cref="ControlLimits.LineTimeout"/>, more than
/// <see cref="MaxQueuedBytes"/> or <see cref="MaxQueuedRequests"/> of requests ahead of the replies, or a
/// write the client leaves unread for <see cref="ControlLimits.WriteTimeout"/> disconnect it too (with an
/// error line saying which, when it can still be written); beyond <see cref="ControlLimits.MaxClients"/>
/// a new client reads <c>{"error":"too many clients: limit N"}</c> and is disconnected.</para>
/// <para><b>Access</b>: the socket file is mode 0600, owned by the user running the server, in a directory
/// created 0755 when missing; each peer is checked with SO_PEERCRED and only that user and root get in.
/// Anyone else reads one line, <c>{"error":"permission denied: ..."}</c>, and is disconnected before any
/// request is read.</para>
/// <para><b>Threads</b>: one reader task and one worker thread per client. The worker makes the client's
/// calls one after another; a blocking call (accept, recv without MSG_DONTWAIT) waits inside the stack,
/// which releases the stack lock while it waits, so it blocks neither other clients nor the stack. The
/// reader keeps reading while the worker waits, so it sees the client go away: it then closes the client's
/// descriptors, which wakes a call blocked on one of them (EBADF), and the worker closes whatever is left.</para>
/// </summary>
public sealed partial class ControlServer : IDisposable
{
    /// <summary>The protocol version the hello announces; a client refuses another.</summary>
    public const int ProtocolVersion = 1;

    /// <summary>The longest request line, in bytes without its newline (64 KiB): a socket call's data fits, a runaway or hostile client cannot make the server buffer without bound.</summary>
    public const int MaxLineBytes = 65536;

    /// <summary>The most request bytes a client may send ahead of its replies (1 MiB); beyond it the client is disconnected.</summary>
    public const int MaxQueuedBytes = 1 << 20;

    /// <summary>
    /// The most requests a client may send ahead of its replies (4096): with <see cref="MaxQueuedBytes"/>
    /// alone, a flood of two-byte lines would queue half a million entries, each costing far more than its bytes.
    /// </summary>
    public const int MaxQueuedRequests = 4096;

    /// <summary>The directory of the default control socket paths.</summary>
    public const string DefaultDirectory = "/run/netstack";

    /// <summary>The default stack name.</summary>
    public const string DefaultName = "netstack";

    private readonly NetNamespace _net;
    private readonly Dictionary<string, ControlOp> _ops = new(ControlOps.Builtin);
    private readonly ConcurrentDictionary<int, Session> _sessions = new();
    private readonly ConcurrentDictionary<string, SharedFiles> _shared = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private Socket? _listener;
    private Task? _acceptLoop;
    private int _nextId;
    private bool _ownsPath;

    /// <summary>A control server for <paramref name="net"/> (not yet listening: <see cref="Start"/>).</summary>
    /// <param name="net">The stack.</param>
    /// <param name="name">The stack's name (in the hello, and the default path's file name).</param>
    /// <param name="path">The socket's path; <see cref="DefaultPath"/> of <paramref name="name"/> when null.</param>
    public ControlServer(NetNamespace net, string name = DefaultName, string? path = null)
    {
        ArgumentNullException.ThrowIfNull(net);
        ArgumentException.ThrowIfNullOrEmpty(name);
        _net = net;
        Name = name;
        Path = System.IO.Path.GetFullPath(path ?? DefaultPath(name));
        OwnerUid = Geteuid();
        _ops["server"] = new ControlOp([], ServerOp);
    }

    /// <summary>/run/netstack/NAME.sock.</summary>
    /// <param name="name">The stack's name.</param>
    public static string DefaultPath(string name = DefaultName) => $"{DefaultDirectory}/{name}.sock";

    /// <summary>The stack's name.</summary>
    public string Name { get; }

    /// <summary>The socket's absolute path.</summary>
    public string Path { get; }

    /// <summary>The user who owns the socket (the server's effective uid); this user and root get in.</summary>
    public uint OwnerUid { get; }

    /// <summary>Clients connected now.</summary>
    public int ClientCount => _sessions.Count;

    /// <summary>The limits clients are held to; change them before <see cref="Start"/>.</summary>
    public ControlLimits Limits { get; } = new();

    /// <summary>What the server counted: clients admitted and refused, clients dropped by each limit, requests.</summary>
    public ControlCounters Counters { get; } = new();

    /// <summary>The op names clients may send: the socket shell's and the server's.</summary>
    public IEnumerable<string> OpNames => SocketShell.Ops.Concat(["share", "join", "capture", "trace"]).Concat(_ops.Keys.Order(StringComparer.Ordinal));

    /// <summary>
    /// Adds an op (before <see cref="Start"/>): how a host adds ops built on APIs this assembly does not
    /// know (routes, neighbours, tcp_info), one method each. Replacing a socket op is refused.
    /// </summary>
    /// <param name="op">The op's name.</param>
    /// <param name="keys">The keys it takes besides "op" and "id".</param>
    /// <param name="handler">Answers a request; throw <see cref="SocketShell.ShellException"/> to refuse one.</param>
    public void AddOp(string op, IReadOnlyList<string> keys, Func<ControlContext, JsonObject, JsonObject> handler)
    {
        ArgumentException.ThrowIfNullOrEmpty(op);
        if (SocketShell.IsOp(op)) throw new ArgumentException($"\"{op}\" is a socket op", nameof(op));
        if (op is "share" or "join") throw new ArgumentException($"\"{op}\" is a built-in op", nameof(op));
        if (_listener is not null) throw new InvalidOperationException("add ops before Start()");
        _ops[op] = new ControlOp(keys, handler);
    }

    /// <summary>
    /// Creates the socket and starts accepting clients.
    /// </summary>
    /// <exception cref="IOException">A stack is already running on the path, the path is something other
    /// than a socket, or it cannot be created (the message says which).</exception>
    public void Start()
    {
        if (_listener is not null) throw new InvalidOperationException("already started");
        Limits.Validate();
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("the control socket needs Linux (SO_PEERCRED)");
        string dir = System.IO.Path.GetDirectoryName(Path)!;
        if (!Directory.Exists(dir))
        {
            try
            {
                Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
                    UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
            }
            catch (UnauthorizedAccessException)
            {
                throw new IOException($"cannot create {dir}: permission denied (run as root, or choose another path)");
            }
        }
        RemoveStale();
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(Path));
            _ownsPath = true;
            // bind() made the file with 0777 & ~umask. Nobody can connect before listen() (a connect to a
            // socket that is not listening is refused), so narrowing the mode here, between bind and listen,
            // leaves no window in which another user could get in; a umask around bind would do the same
            // but is process-wide, racing every other thread that creates files.
            File.SetUnixFileMode(Path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            listener.Listen(128);
        }
        catch (SocketException e)
        {
            listener.Dispose();
            if (_ownsPath) TryUnlink();
            _ownsPath = false;
            throw new IOException($"cannot serve {Path}: {e.Message}");
        }
        _listener = listener;
        _acceptLoop = Task.Run(AcceptLoop);
    }

    /// <summary>Refuses a live server, removes a stale socket, refuses anything that is not a socket.</summary>
    private void RemoveStale()
    {
        if (!File.Exists(Path))
        {
            if (Directory.Exists(Path)) throw new IOException($"{Path} is a directory");
            return;
        }
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(Path));
            throw new IOException($"a stack is already running on {Path}");
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
        {
            // Nobody listens: a stale socket left by a stack that died, unless it is no socket at all
            // (connect() to a regular file is refused too; open() of a socket fails with ENXIO).
            if (!IsSocketFile(Path)) throw new IOException($"{Path} exists and is not a socket; not replacing it");
            TryUnlink();
        }
        catch (SocketException e)
        {
            throw new IOException($"cannot probe {Path}: {e.Message}");
        }
    }

    private async Task AcceptLoop()
    {
        var listener = _listener!;
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                if (_stop.IsCancellationRequested) return;
                continue;
            }
            try
            {
                Admit(client);
            }
            catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException)
            {
                client.Dispose(); // gone before it was admitted
            }
        }
    }

    /// <summary>Checks the peer's credentials, then greets it and starts its session.</summary>
    private void Admit(Socket client)
    {
        var cred = PeerCred(client);
        if (cred.Uid != OwnerUid && cred.Uid != 0)
        {
            Interlocked.Increment(ref Counters.RefusedPermissionValue);
            Refuse(client, $"permission denied: uid {cred.Uid} is neither the stack's owner (uid {OwnerUid}) nor root");
            return;
        }
        // Only this loop adds sessions, so the count cannot grow between the test and the add.
        if (_sessions.Count >= Limits.MaxClients)
        {
            Interlocked.Increment(ref Counters.RefusedTooManyValue);
            Refuse(client, $"too many clients: limit {Limits.MaxClients}");
            return;
        }
        Interlocked.Increment(ref Counters.ClientsAcceptedValue);
        // Every write to the client is bounded (nginx's send_timeout): a client that does not read
        // stalls only its own worker, and only this long.
        if (Limits.WriteTimeout != Timeout.InfiniteTimeSpan) client.SendTimeout = (int)Math.Max(1, Limits.WriteTimeout.TotalMilliseconds);
        int id = Interlocked.Increment(ref _nextId);
        var session = new Session(this, client, id, cred);
        _sessions[id] = session;
        var hello = new JsonObject { ["hello"] = "netstack", ["version"] = ProtocolVersion, ["name"] = Name, ["pid"] = Environment.ProcessId };
        session.WriteLine(hello);
        session.Start();
    }

    /// <summary>
    /// One line, then close: nothing of the client is read and no call reaches the stack. The send does
    /// not block (a fresh socket's buffer takes a line; if not, the client just gets no reason), so a
    /// refused client never holds up the accept loop.
    /// </summary>
    private static void Refuse(Socket client, string message)
    {
        try
        {
            client.Blocking = false;
            client.Send(Encoding.UTF8.GetBytes(new JsonObject { ["error"] = message }.ToJsonString(SocketShell.JsonOut) + "\n"));
            client.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException) { }
        finally
        {
            client.Dispose();
        }
    }

    /// <summary>The "server" op: the limits, the clients connected now and the counters: <c>{"server": {"clients", "limits": {...}, "counters": {...}}}</c>.</summary>
    private JsonObject ServerOp(ControlContext c, JsonObject q) => new()
    {
        ["server"] = new JsonObject { ["clients"] = ClientCount, ["limits"] = Limits.ToJson(), ["counters"] = Counters.ToJson() },
    };

    /// <summary>The connected clients' descriptor tables (for the sockets op).</summary>
    internal IEnumerable<(int Id, PeerCredentials Peer, FdTable Files)> ClientTables()
    {
        foreach (var s in _sessions.Values.OrderBy(s => s.Id)) yield return (s.Id, s.Peer, s.Files);
    }

    /// <summary>Answers one request line of a client (never throws).</summary>
    private JsonObject Handle(Session s, string line)
    {
        JsonObject? req = null;
        try
        {
            req = JsonNode.Parse(line) as JsonObject;
            if (req is null) return Error("a request is a JSON object: {\"op\": ...}");
            if (req["op"] is not JsonValue opv || !opv.TryGetValue<string>(out var op)) return WithId(Error("missing \"op\""), req);
            if (op is "share" or "join") return WithId(ShareOrJoin(s, op, req), req);
            if (_ops.TryGetValue(op, out var entry))
            {
                SocketShell.CheckKeys(req, op, entry.Keys);
                return WithId(entry.Handler(new ControlContext(this, _net, s.Files, s.Id, s.Peer), req), req);
            }
            if (SocketShell.IsOp(op)) return s.Shell.Execute(req); // echoes "id" itself
            return WithId(Error($"unknown op \"{op}\" (ops: {string.Join(", ", OpNames)})"), req);
        }
        catch (JsonException e)
        {
            return Error("bad JSON: " + e.Message);
        }
        catch (SocketShell.ShellException e)
        {
            var r = new JsonObject();
            if (e.Errno is not null) r["errno"] = e.Errno;
            r["error"] = e.Message;
            return WithId(r, req);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // An op's defect must not take the server or the stack down: the client is told, the rest go on.
            return WithId(Error($"internal error in the request: {e.Message}"), req);
        }
    }

    /// <summary>
    /// "share" and "join": several connections of one program use one descriptor table, as the threads
    /// clone(CLONE_FILES) makes share a process's files_struct. <c>{"op":"share"}</c> answers
    /// <c>{"ret":0,"token":T}</c>; another connection (of the owner or root, as every client) sends
    /// <c>{"op":"join","token":T}</c> before it opens a descriptor, and from then on both name the same
    /// descriptors, so that one can block in recv while the other sends. The table is closed when the
    /// last of its connections goes, as a process's files when its last thread exits.
    /// </summary>
    private JsonObject ShareOrJoin(Session s, string op, JsonObject req)
    {
        if (op == "share")
        {
            SocketShell.CheckKeys(req, op, []);
            return new JsonObject { ["ret"] = 0, ["token"] = s.Share(_shared) };
        }
        SocketShell.CheckKeys(req, op, ["token"]);
        string token = req["token"] is JsonValue tv && tv.TryGetValue<string>(out var t) ? t
            : throw new SocketShell.ShellException("\"token\" is the string a \"share\" answered");
        if (!_shared.TryGetValue(token, out var target))
            throw new SocketShell.ShellException("no descriptor table has this token (its connections are gone, or it was never shared)", "ENOENT");
        return s.Join(target) switch
        {
            null => new JsonObject { ["ret"] = 0, ["fds"] = target.Files.Count },
            var why => throw new SocketShell.ShellException(why, "EBUSY"),
        };
    }

    private static JsonObject Error(string message) => new() { ["error"] = message };

    private static JsonObject WithId(JsonObject reply, JsonObject? req)
    {
        if (req?["id"] is { } id && !reply.ContainsKey("id")) reply["id"] = id.DeepClone();
        return reply;
    }

    /// <summary>Stops accepting, disconnects every client (closing their descriptors), removes the socket file.</summary>
    public void Dispose()
    {
        if (_stop.IsCancellationRequested) return;
        _stop.Cancel();
        _listener?.Dispose();
        try { _acceptLoop?.Wait(TimeSpan.FromSeconds(5)); }
        catch (AggregateException) { }
        if (_ownsPath) TryUnlink();
        foreach (var s in _sessions.Values) s.Disconnect();
        foreach (var s in _sessions.Values) s.Join(TimeSpan.FromSeconds(5));
        _stop.Dispose();
    }

    private void TryUnlink()
    {
        try { File.Delete(Path); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    // ------------------------------------------------------------------ one client

    private sealed class Session
    {
        private readonly ControlServer _server;
        private readonly Socket _sock;
        private readonly NetworkStream _stream;
        private readonly CancellationTokenSource _gone = new();
        private readonly ConcurrentQueue<(string? Line, long Bytes)> _queue = new(); // null: the oversized line's marker
        private readonly SemaphoreSlim _ready = new(0);
        private readonly object _writeLock = new();
        private Thread? _worker;
        private long _queuedBytes;
        private int _queuedRequests;
        private int _disconnected;
        private int _slowReaderCounted;

        public Session(ControlServer server, Socket sock, int id, PeerCredentials peer)
        {
            _server = server;
            _sock = sock;
            _stream = new NetworkStream(sock, ownsSocket: false);
            Id = id;
            Peer = peer;
            // The client's sockets belong to its user, as a process's sockets belong to its fsuid (ss -e's uid:).
            _files = new SharedFiles(new FdTable(server._net) { Uid = peer.Uid, RlimitNofile = server.Limits.MaxDescriptors });
            Shell = new SocketShell(Files, _gone.Token);
        }

        private SharedFiles _files;
        private int _released;

        public int Id { get; }
        public PeerCredentials Peer { get; }
        public FdTable Files => _files.Files;
        public SocketShell Shell { get; private set; }

        /// <summary>The token another connection joins this one's descriptor table with (made once).</summary>
        public string Share(ConcurrentDictionary<string, SharedFiles> registry)
        {
            lock (_files)
            {
                if (_files.Token is null)
                {
                    _files.Token = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));
                    _files.Registry = registry;
                    registry[_files.Token] = _files;
                }
                return _files.Token;
            }
        }

        /// <summary>Makes <paramref name="target"/> this connection's table; null, or why not.</summary>
        public string? Join(SharedFiles target)
        {
            if (ReferenceEquals(target, _files)) return null;
            // Only this session's worker opens descriptors in its own table, and it is the one running this.
            if (Files.Count > 0) return "join before opening descriptors: this connection has its own";
            lock (target)
            {
                if (target.Users == 0) return "that descriptor table is closed (its connections are gone)";
                target.Users++;
            }
            _files = target;
            Shell = new SocketShell(target.Files, _gone.Token);
            return null;
        }

        public void Start()
        {
            _worker = new Thread(Work) { IsBackground = true, Name = $"netstack control client {Id}" };
            _worker.Start();
            _ = Task.Run(ReadLoop);
        }

        /// <summary>
        /// Splits the client's bytes into lines until it goes away or breaks a limit: a line above
        /// <see cref="MaxLineBytes"/> (its marker is queued, so its error follows the replies before it; the
        /// rest is read and dropped, never buffered, until the worker has answered and disconnects), a line
        /// unfinished after <see cref="ControlLimits.LineTimeout"/> from its first byte, too much queued.
        /// </summary>
        private async Task ReadLoop()
        {
            var buf = new byte[16384];
            var line = new MemoryStream();
            bool overlong = false, timing = false;
            var limits = _server.Limits;
            // Armed while a line is unfinished (or an overlong one is being dropped), from the line's first
            // byte: a timer between reads would let a slowloris client trickle a byte just in time, for ever.
            using var lineTimer = CancellationTokenSource.CreateLinkedTokenSource(_gone.Token);
            try
            {
                while (true)
                {
                    int n;
                    try
                    {
                        n = await _stream.ReadAsync(buf, lineTimer.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (!_gone.IsCancellationRequested)
                    {
                        Interlocked.Increment(ref _server.Counters.LineTimeoutsValue);
                        TryWriteLine(Error($"request line not finished within {limits.LineTimeout.TotalSeconds:0.###} s; disconnecting"));
                        break;
                    }
                    if (n == 0) break;
                    if (overlong) continue; // dropped: the worker answers the marker and disconnects
                    int start = 0;
                    bool ended = false;
                    while (start < n)
                    {
                        int nl = Array.IndexOf(buf, (byte)'\n', start, n - start);
                        int end = nl < 0 ? n : nl;
                        if (line.Length + (end - start) > MaxLineBytes)
                        {
                            Interlocked.Increment(ref _server.Counters.LinesTooLongValue);
                            line.SetLength(0);
                            overlong = true;
                            Enqueue(null, 0);
                            break;
                        }
                        line.Write(buf, start, end - start);
                        if (nl < 0) break;
                        var text = Encoding.UTF8.GetString(line.GetBuffer(), 0, (int)line.Length).Trim();
                        if (text.Length > 0 && text[0] != '#') Enqueue(text, line.Length);
                        line.SetLength(0);
                        ended = true;
                        start = nl + 1;
                    }
                    if (Interlocked.Read(ref _queuedBytes) > MaxQueuedBytes || Volatile.Read(ref _queuedRequests) > MaxQueuedRequests)
                    {
                        Interlocked.Increment(ref _server.Counters.QueueOverflowsValue);
                        TryWriteLine(Error($"too many requests ahead of their replies: limit {MaxQueuedBytes} bytes or {MaxQueuedRequests} requests; disconnecting"));
                        break;
                    }
                    bool partial = overlong || line.Length > 0;
                    if (partial && (!timing || ended) && limits.LineTimeout != Timeout.InfiniteTimeSpan)
                    {
                        lineTimer.CancelAfter(limits.LineTimeout); // a new line began: its own deadline
                        timing = true;
                    }
                    else if (!partial && timing)
                    {
                        lineTimer.CancelAfter(Timeout.InfiniteTimeSpan);
                        timing = false;
                    }
                }
            }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException)
            {
                // The client went away (or the server is stopping).
            }
            Disconnect();
        }

        private void Enqueue(string? request, long bytes)
        {
            Interlocked.Add(ref _queuedBytes, bytes);
            Interlocked.Increment(ref _queuedRequests);
            _queue.Enqueue((request, bytes));
            _ready.Release();
        }

        /// <summary>Makes the client's calls in order, one reply line each.</summary>
        private void Work()
        {
            try
            {
                while (!_gone.IsCancellationRequested)
                {
                    try { _ready.Wait(_gone.Token); }
                    catch (OperationCanceledException) { break; }
                    if (!_queue.TryDequeue(out var item)) continue;
                    Interlocked.Add(ref _queuedBytes, -item.Bytes);
                    Interlocked.Decrement(ref _queuedRequests);
                    if (item.Line is null)
                    {
                        // After the replies to the requests before it; the connection ends here.
                        WriteLine(Error($"request too long: limit {MaxLineBytes} bytes; disconnecting"));
                        break;
                    }
                    if (StreamRequest(item.Line) is { } stream)
                    {
                        // A capture or a trace turns the rest of the connection into a stream (pcap,
                        // CSV or JSON lines): it ends the session.
                        if (stream.Op == "capture" ? RunCapture(stream.Request) : RunTrace(stream.Request)) break;
                        continue;
                    }
                    var reply = _server.Handle(this, item.Line);
                    Interlocked.Increment(ref _server.Counters.RequestsValue);
                    if (_gone.IsCancellationRequested) break;
                    WriteLine(reply);
                }
            }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
            {
                // The client went away while we wrote, or left a reply unread for WriteTimeout.
                NoteWriteFailure(e);
            }
            finally
            {
                Disconnect();
                // The authoritative sweep, on the thread that makes the calls: nothing can open a descriptor after it.
                CloseAll();
                _server._sessions.TryRemove(Id, out _);
                _sock.Dispose();
                // _gone and _ready stay undisposed: the reader may still be looking at them.
            }
        }

        /// <summary>The op and the request when <paramref name="line"/> is a "capture" or a "trace" op (the ops that answer with a stream), else null.</summary>
        private static (string Op, JsonObject Request)? StreamRequest(string line)
        {
            if (!line.Contains("\"capture\"", StringComparison.Ordinal) && !line.Contains("\"trace\"", StringComparison.Ordinal)) return null;
            try
            {
                return JsonNode.Parse(line) is JsonObject q && (string?)(q["op"] as JsonValue) is { } op && op is "capture" or "trace" ? (op, q) : null;
            }
            catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException) { return null; }
        }

        /// <summary>
        /// The "trace" op: {"op":"trace","what":"tcp","format":"csv"|"json","filter":"sport == 80","count":N,"capacity":N}.
        /// The reply line {"trace":"tcp","format":...,"capacity":...} is followed by the records of a
        /// <see cref="TcpTrace"/> on the stack as CSV (a header line first) or JSON lines, with
        /// "# dropped N" / {"dropped":N} lines when the ring overflowed (see <see cref="TraceStream"/>),
        /// until the count is reached or the client goes away; the trace is disabled then. False when the
        /// request was refused (an error line; the session goes on).
        /// </summary>
        private bool RunTrace(JsonObject q)
        {
            bool json;
            long count;
            int capacity;
            TcpTraceFilter? filter;
            try
            {
                SocketShell.CheckKeys(q, "trace", ["what", "format", "filter", "count", "capacity"]);
                string what = q["what"] is null ? "tcp" : (string?)(q["what"] as JsonValue) ?? "";
                if (what != "tcp") throw new SocketShell.ShellException($"\"what\": \"{what}\" cannot be traced (tcp can)");
                string format = q["format"] is null ? "csv" : (string?)(q["format"] as JsonValue) ?? "";
                json = format switch
                {
                    "csv" => false,
                    "json" => true,
                    _ => throw new SocketShell.ShellException($"\"format\" is \"csv\" or \"json\", not \"{format}\""),
                };
                count = q["count"] is null ? 0 : q["count"] is JsonValue cv && cv.TryGetValue<long>(out long c) && c >= 0 ? c
                    : throw new SocketShell.ShellException("\"count\" is a number of records, 0 for no limit");
                capacity = q["capacity"] is null ? TcpTrace.DefaultCapacity
                    : q["capacity"] is JsonValue kv && kv.TryGetValue<int>(out int k) && k is >= TcpTrace.MinCapacity and <= TcpTrace.MaxCapacity ? k
                    : throw new SocketShell.ShellException($"\"capacity\" is a number of records, {TcpTrace.MinCapacity} to {TcpTrace.MaxCapacity}");
                string? expr = q["filter"] is null ? null : (string?)(q["filter"] as JsonValue) ?? throw new SocketShell.ShellException("\"filter\" is a string");
                filter = string.IsNullOrWhiteSpace(expr) ? null : TcpTraceFilter.Parse(expr);
            }
            catch (Exception e) when (e is SocketShell.ShellException or FormatException or InvalidOperationException)
            {
                var err = new JsonObject { ["error"] = e.Message };
                if (e is SocketShell.ShellException { Errno: { } errno }) err["errno"] = errno;
                WriteLine(err);
                return false;
            }
            using var trace = TcpTrace.Enable(_server._net, capacity, filter);
            var reply = new JsonObject { ["trace"] = "tcp", ["format"] = json ? "json" : "csv", ["capacity"] = trace.Capacity };
            if (filter is not null) reply["filter"] = filter.Expression;
            WriteLine(reply);
            try { TraceStream.Run(trace, _stream, _writeLock, json, count, _gone.Token); }
            catch (Exception e) when (e is IOException or ObjectDisposedException) { NoteWriteFailure(e); } // the client went away, or does not read
            return true;
        }

        /// <summary>
        /// The "capture" op: {"op":"capture","dev":"tap0"|"any","count":N,"filter":"tcp and port 80"}. The
        /// reply line {"capture":"pcap","dev":...} is followed by a pcap stream of the device's frames (a
        /// tap beside --pcap, see PcapStream) until the count is reached or the client goes away. False
        /// when the request was refused (an error line; the session goes on).
        /// </summary>
        private bool RunCapture(JsonObject q)
        {
            NetDevice[] devs;
            long count;
            FrameFilter? filter;
            try
            {
                SocketShell.CheckKeys(q, "capture", ["dev", "count", "filter"]);
                string? dev = q["dev"] is null ? null : (string?)(q["dev"] as JsonValue) ?? throw new SocketShell.ShellException("\"dev\" is a device name or \"any\"");
                var all = _server._net.Devices.ToArray();
                devs = dev is null ? [all.FirstOrDefault(d => !d.IsLoopback) ?? all[0]]
                    : dev == "any" ? all
                    : [all.FirstOrDefault(d => d.Name == dev) ?? throw new SocketShell.ShellException($"no device \"{dev}\" (devices: {string.Join(", ", all.Select(d => d.Name))}, any)", "ENODEV")];
                count = q["count"] is null ? 0 : q["count"] is JsonValue cv && cv.TryGetValue<long>(out long c) && c >= 0 ? c
                    : throw new SocketShell.ShellException("\"count\" is a number of frames, 0 for no limit");
                string? expr = q["filter"] is null ? null : (string?)(q["filter"] as JsonValue) ?? throw new SocketShell.ShellException("\"filter\" is a string");
                filter = CaptureFilter.Compile(expr);
            }
            catch (Exception e) when (e is SocketShell.ShellException or FormatException or InvalidOperationException)
            {
                var err = new JsonObject { ["error"] = e.Message };
                if (e is SocketShell.ShellException { Errno: { } errno }) err["errno"] = errno;
                WriteLine(err);
                return false;
            }
            var reply = new JsonObject { ["capture"] = "pcap", ["dev"] = devs.Length == 1 ? devs[0].Name : "any", ["linktype"] = 1, ["snaplen"] = 65535 };
            // The reply goes once the tap is in place: the client starts its traffic when it reads it.
            using var output = new ReplyFirstStream(_stream, _writeLock, Encoding.UTF8.GetBytes(reply.ToJsonString(SocketShell.JsonOut) + "\n"), _gone.Token);
            using var live = new PcapStream(output, filter, count);
            foreach (var d in devs) d.AddCapture(live);
            output.Open();
            try
            {
                try { live.Completion.Wait(_gone.Token); }
                catch (OperationCanceledException) { }
                catch (AggregateException e) { NoteWriteFailure(e.InnerException); } // the client went away while we wrote, or does not read
            }
            finally
            {
                foreach (var d in devs) d.RemoveCapture(live);
            }
            return true;
        }

        public void WriteLine(JsonObject reply)
        {
            var bytes = Encoding.UTF8.GetBytes(reply.ToJsonString(SocketShell.JsonOut) + "\n");
            lock (_writeLock) _stream.Write(bytes);
        }

        /// <summary>The last word to a client being dropped: best effort (it may not read, or be gone).</summary>
        private void TryWriteLine(JsonObject reply)
        {
            try { WriteLine(reply); }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException) { NoteWriteFailure(e); }
        }

        /// <summary>Counts a client dropped because a write to it timed out (SO_SNDTIMEO expired: it does not read), once.</summary>
        private void NoteWriteFailure(Exception? e)
        {
            while (e is not null and not SocketException) e = e.InnerException;
            if (e is SocketException { SocketErrorCode: SocketError.TimedOut or SocketError.WouldBlock } && Interlocked.Exchange(ref _slowReaderCounted, 1) == 0)
                Interlocked.Increment(ref _server.Counters.SlowReadersValue);
        }

        /// <summary>
        /// The client is gone (or the server stops): wake and stop the worker. Closing the client's
        /// descriptors is what wakes a call blocked on one of them (the stack answers it EBADF), as a
        /// process's exit closes its files.
        /// </summary>
        public void Disconnect()
        {
            if (Interlocked.Exchange(ref _disconnected, 1) != 0) return;
            try { _gone.Cancel(); }
            catch (ObjectDisposedException) { }
            try { _sock.Shutdown(SocketShutdown.Both); }
            catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
            CloseAll();
        }

        /// <summary>
        /// Closes the table's descriptors when this is the last connection using it (the first call
        /// leaves the table; later calls, such as the worker's final sweep, close again only if it is closed).
        /// </summary>
        private void CloseAll()
        {
            var files = _files;
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                lock (files)
                {
                    if (--files.Users == 0 && files.Token is not null) files.Registry?.TryRemove(files.Token, out _);
                }
            }
            if (files.Users > 0) return;
            // No connection uses the table any more; a worker still inside a call sweeps again when it returns.
            foreach (var (fd, _) in files.Files.Enumerate().ToList()) SocketCalls.Close(files.Files, fd);
        }

        public void Join(TimeSpan timeout) => _worker?.Join(timeout);
    }

    /// <summary>A descriptor table and the connections using it (files_struct and its count).</summary>
    private sealed class SharedFiles(FdTable files)
    {
        public FdTable Files { get; } = files;
        public int Users { get; set; } = 1;
        public string? Token { get; set; }
        public ConcurrentDictionary<string, SharedFiles>? Registry { get; set; }
    }

    // ------------------------------------------------------------------ credentials

    private static PeerCredentials PeerCred(Socket s)
    {
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; } from getsockopt(SOL_SOCKET, SO_PEERCRED).
        Span<byte> ucred = stackalloc byte[12];
        int n = s.GetRawSocketOption(SolSocket, SoPeercred, ucred);
        if (n < 12) throw new IOException("SO_PEERCRED answered " + n + " bytes");
        return new PeerCredentials(MemoryMarshal.Read<int>(ucred), MemoryMarshal.Read<uint>(ucred[4..]), MemoryMarshal.Read<uint>(ucred[8..]));
    }

    private const int SolSocket = 1, SoPeercred = 17;
    private const int O_RDONLY = 0, O_NONBLOCK = 0x800, O_NOFOLLOW = 0x20000, O_CLOEXEC = 0x80000, ENXIO = 6;

    /// <summary>open() of a socket file fails with ENXIO; anything else opens (O_NONBLOCK: a FIFO does not block).</summary>
    private static bool IsSocketFile(string path)
    {
        int fd = Open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0)
        {
            Close(fd);
            return false;
        }
        return Marshal.GetLastPInvokeError() == ENXIO;
    }

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint Geteuid();

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);
}
