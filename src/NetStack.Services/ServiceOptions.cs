namespace NetStack.Services;

/// <summary>Limits and knobs shared by the services of a <see cref="ServiceHost"/>.</summary>
public sealed class ServiceOptions
{
    /// <summary>Connections served at once per TCP service; further ones wait in the listen backlog.</summary>
    public int MaxConnections { get; set; } = 256;
    /// <summary>listen() backlog of each TCP service.</summary>
    public int Backlog { get; set; } = 128;
    /// <summary>The local address the services bind to (IPAddress.Any: every local address).</summary>
    public System.Net.IPAddress BindAddress { get; set; } = System.Net.IPAddress.Any;
    /// <summary>A connection that makes no progress for this long is closed (an idle HTTP keep-alive, a silent echo client).</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromSeconds(60);
    /// <summary>The largest HTTP request head (request line and header fields); larger ones get 431 (or 414).</summary>
    public int MaxHeadBytes { get; set; } = 8192;
    /// <summary>The largest HTTP request body accepted; larger Content-Length gets 413, a longer chunked body is cut off with 413.</summary>
    public long MaxBodyBytes { get; set; } = 16L << 30;
    /// <summary>The largest N of GET /bytes/N.</summary>
    public long MaxBytesResponse { get; set; } = 1L << 40;
    /// <summary>Receives one line per notable event (connection errors, service start); null for silence.</summary>
    public Action<string>? Log { get; set; }
}
