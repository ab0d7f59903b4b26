using System.Text.Json.Nodes;

namespace NetStack.Control;

/// <summary>
/// The control server's defences against slow or hostile clients, each modelled on what production
/// servers do by default (set <see cref="ControlServer.Limits"/> before <see cref="ControlServer.Start"/>;
/// tests make the timeouts small). The line length and the bytes a client may queue are protocol
/// constants (<see cref="ControlServer.MaxLineBytes"/>, <see cref="ControlServer.MaxQueuedBytes"/>,
/// <see cref="ControlServer.MaxQueuedRequests"/>), since clients size their requests by them.
/// <para>There is no timeout for a client that sits between requests: a repl waits on its user, and a
/// blocked recv is a call in progress, as an ssh session with OpenSSH's default ClientAliveInterval 0
/// stays up. What idle clients can hold is bounded by <see cref="MaxClients"/> and each one's descriptor
/// limit (<see cref="MaxDescriptors"/>).</para>
/// </summary>
public sealed class ControlLimits
{
    /// <summary>
    /// Clients connected at once (256). Each has a worker thread and a descriptor table; beyond the limit a
    /// new client reads one line, <c>{"error":"too many clients: limit N"}</c>, and is disconnected before
    /// anything it sent is read (as nginx's worker_connections and Kestrel's MaxConcurrentConnections
    /// refuse, rather than queueing without bound; OpenSSH's MaxStartups drops unauthenticated ones).
    /// </summary>
    public int MaxClients { get; set; } = 256;

    /// <summary>
    /// How long a client may take to finish a request line it has begun (30 s, Kestrel's
    /// RequestHeadersTimeout; nginx's client_header_timeout is 60 s). Measured from the line's first
    /// byte, not between bytes, so a slowloris client that trickles a byte now and then is dropped too:
    /// it reads <c>{"error":"request line not finished within N s; disconnecting"}</c>.
    /// </summary>
    public TimeSpan LineTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long one write to a client may wait for room in its socket buffer (60 s, nginx's send_timeout:
    /// between two successive writes, not for a whole reply). A client that does not read its replies, its
    /// capture or its trace is disconnected when it expires; only its own worker waits meanwhile, never
    /// another client nor the stack (no write happens under the stack lock).
    /// </summary>
    public TimeSpan WriteTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// RLIMIT_NOFILE of each client's descriptor table (1024, Linux's default soft limit, `ulimit -n`):
    /// socket() and accept() answer EMFILE beyond it, so one client cannot fill the stack with sockets.
    /// </summary>
    public int MaxDescriptors { get; set; } = 1024;

    internal void Validate()
    {
        if (MaxClients < 1) throw new InvalidOperationException("MaxClients must be at least 1");
        if (LineTimeout <= TimeSpan.Zero && LineTimeout != Timeout.InfiniteTimeSpan) throw new InvalidOperationException("LineTimeout must be positive (or infinite)");
        if (WriteTimeout <= TimeSpan.Zero && WriteTimeout != Timeout.InfiniteTimeSpan) throw new InvalidOperationException("WriteTimeout must be positive (or infinite)");
        if (MaxDescriptors < 1) throw new InvalidOperationException("MaxDescriptors must be at least 1");
    }

    internal JsonObject ToJson() => new()
    {
        ["max_clients"] = MaxClients,
        ["max_line_bytes"] = ControlServer.MaxLineBytes,
        ["max_queued_bytes"] = ControlServer.MaxQueuedBytes,
        ["max_queued_requests"] = ControlServer.MaxQueuedRequests,
        ["line_timeout_ms"] = Ms(LineTimeout),
        ["write_timeout_ms"] = Ms(WriteTimeout),
        ["max_descriptors"] = MaxDescriptors,
    };

    private static long Ms(TimeSpan t) => t == Timeout.InfiniteTimeSpan ? -1 : (long)t.TotalMilliseconds;
}

/// <summary>What the control server counted since it started (read with <see cref="ControlServer.Counters"/>; the "server" op and `up`'s summary show them).</summary>
public sealed class ControlCounters
{
    internal long ClientsAcceptedValue, RefusedPermissionValue, RefusedTooManyValue, LinesTooLongValue, LineTimeoutsValue,
        QueueOverflowsValue, SlowReadersValue, RequestsValue;

    /// <summary>Clients admitted (past the credential check and the client limit).</summary>
    public long ClientsAccepted => Interlocked.Read(ref ClientsAcceptedValue);

    /// <summary>Connections refused because their uid is neither the owner's nor root.</summary>
    public long RefusedPermission => Interlocked.Read(ref RefusedPermissionValue);

    /// <summary>Connections refused because <see cref="ControlLimits.MaxClients"/> were connected.</summary>
    public long RefusedTooManyClients => Interlocked.Read(ref RefusedTooManyValue);

    /// <summary>Clients disconnected for a request line above <see cref="ControlServer.MaxLineBytes"/>.</summary>
    public long LinesTooLong => Interlocked.Read(ref LinesTooLongValue);

    /// <summary>Clients disconnected for a request line not finished within <see cref="ControlLimits.LineTimeout"/>.</summary>
    public long LineTimeouts => Interlocked.Read(ref LineTimeoutsValue);

    /// <summary>Clients disconnected for sending more than <see cref="ControlServer.MaxQueuedBytes"/> or <see cref="ControlServer.MaxQueuedRequests"/> ahead of their replies.</summary>
    public long QueueOverflows => Interlocked.Read(ref QueueOverflowsValue);

    /// <summary>Clients disconnected because a write to them waited longer than <see cref="ControlLimits.WriteTimeout"/> (they did not read).</summary>
    public long SlowReaders => Interlocked.Read(ref SlowReadersValue);

    /// <summary>Request lines answered.</summary>
    public long Requests => Interlocked.Read(ref RequestsValue);

    internal JsonObject ToJson() => new()
    {
        ["clients_accepted"] = ClientsAccepted,
        ["refused_permission"] = RefusedPermission,
        ["refused_too_many_clients"] = RefusedTooManyClients,
        ["lines_too_long"] = LinesTooLong,
        ["line_timeouts"] = LineTimeouts,
        ["queue_overflows"] = QueueOverflows,
        ["slow_readers"] = SlowReaders,
        ["requests"] = Requests,
    };

    /// <summary>One line for a summary: "12 clients, 3400 requests, refused: 0 permission, 1000 too many; dropped: ...".</summary>
    public override string ToString() =>
        $"{ClientsAccepted} clients, {Requests} requests; refused: {RefusedPermission} permission, {RefusedTooManyClients} too many clients; " +
        $"dropped: {LinesTooLong} line too long, {LineTimeouts} line timeout, {QueueOverflows} queue overflow, {SlowReaders} slow reader";
}
