namespace NetStack.AspNetCore;

/// <summary>Options of the Kestrel transport over the stack (<see cref="NetStackConnectionListenerFactory"/>).</summary>
public sealed class NetStackTransportOptions
{
    /// <summary>The listen() backlog of each bound endpoint (default 512, as Kestrel's socket transport).</summary>
    public int Backlog { get; set; } = 512;

    /// <summary>
    /// Bytes received but not yet consumed by Kestrel at which the transport stops reading from the
    /// socket (the TCP window then closes); null for no limit. Default 1 MiB.
    /// </summary>
    public long? MaxReadBufferSize { get; set; } = 1024 * 1024;

    /// <summary>Bytes written by Kestrel but not yet taken by the socket at which Kestrel's writes wait; null for no limit. Default 256 KiB.</summary>
    public long? MaxWriteBufferSize { get; set; } = 256 * 1024;
}
