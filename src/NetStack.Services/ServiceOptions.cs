namespace NetStack.Services;

/// <summary>Limits and knobs shared by the services of a <see cref="ServiceHost"/>.</summary>
public sealed class ServiceOptions
{
    /// <summary>
    /// Connections served at once per TCP service (256). echo, discard and chargen take no more from the
    /// listen queue meanwhile, so further clients wait in the backlog, and beyond it their SYNs are
    /// dropped, as a listener that stops accepting; the http service (Kestrel's MaxConcurrentConnections)
    /// accepts and closes them at once.
    /// </summary>
    public int MaxConnections { get; set; } = 256;
    /// <summary>
    /// listen() backlog of each TCP service: 4096, net.core.somaxconn's default (what .NET's
    /// Socket.Listen() and Go's listeners ask for). The accept threads can fall behind a client
    /// opening connections one after another (a descheduled thread, a GC, all slots taken); with 128
    /// the listener then dropped SYNs (ListenOverflows) and each cost the client a 1 s retransmission timeout.
    /// </summary>
    public int Backlog { get; set; } = 4096;
    /// <summary>The local address the services bind to (IPAddress.Any: every local IPv4 address; IPAddress.IPv6Any: an AF_INET6 socket on [::], dual stack, that takes IPv4 clients too).</summary>
    public System.Net.IPAddress BindAddress { get; set; } = System.Net.IPAddress.Any;
    /// <summary>
    /// A connection that makes no progress for this long is closed (60 s): a silent echo or discard client, a
    /// chargen client that stops reading (no send progress), an idle HTTP keep-alive (Kestrel's
    /// KeepAliveTimeout; its default is 130 s, nginx's keepalive_timeout 75 s, xinetd has none).
    /// </summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromSeconds(60);
    /// <summary>
    /// How long an HTTP client may take to send a request's head, from its first byte (30 s, Kestrel's
    /// RequestHeadersTimeout; nginx's client_header_timeout is 60 s): a slowloris client that never
    /// finishes its headers is answered 408 and closed.
    /// </summary>
    public TimeSpan HeadersTimeout { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>The largest HTTP request head (request line and header fields); larger ones get 431 (or 414).</summary>
    public int MaxHeadBytes { get; set; } = 8192;
    /// <summary>The largest HTTP request body accepted; larger Content-Length gets 413, a longer chunked body is cut off with 413.</summary>
    public long MaxBodyBytes { get; set; } = 16L << 30;
    /// <summary>The largest N of GET /bytes/N.</summary>
    public long MaxBytesResponse { get; set; } = 1L << 40;
    /// <summary>Receives one line per notable event (connection errors, service start); null for silence.</summary>
    public Action<string>? Log { get; set; }
}
