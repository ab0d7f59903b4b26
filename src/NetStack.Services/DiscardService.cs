using System.Buffers;
using NetStack.Api;
using NetStack.Core;

namespace NetStack.Services;

/// <summary>The discard service over TCP (RFC 863): reads and throws away until the client closes.</summary>
public sealed class DiscardTcpService(NetNamespace net, ServiceOptions options, ushort port = DiscardTcpService.DefaultPort)
    : TcpService(net, "discard", port, options)
{
    /// <summary>The handler only awaits: its continuations run on the receive thread (one thread hand-off less per request).</summary>
    protected override bool InlineCompletions => true;

    public const ushort DefaultPort = 9;
    private const int ReadBufferSize = 64 * 1024;

    protected override async Task HandleAsync(NetSocket conn, CancellationToken ct)
    {
        using var idle = StartIdleTimer(ct);
        // Rented, not new: a connection's 64 KB would otherwise be garbage when it ends (the bench's
        // figure of bytes per packet counted it), and a busy service opens many.
        var buf = ArrayPool<byte>.Shared.Rent(ReadBufferSize);
        try
        {
            int n;
            while ((n = await conn.ReceiveAsync(buf.AsMemory(0, ReadBufferSize), 0, idle.Token).ConfigureAwait(false)) > 0)
            {
                Interlocked.Add(ref BytesIn, n);
                idle.Touch();
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buf);
        }
    }
}

/// <summary>The discard service over UDP (RFC 863): datagrams are received and dropped.</summary>
public sealed class DiscardUdpService(NetNamespace net, ServiceOptions options, ushort port = DiscardTcpService.DefaultPort)
    : UdpService(net, "discard", port, options)
{
    protected override ValueTask OnDatagram(NetSocket s, ReadOnlyMemory<byte> data, System.Net.IPEndPoint from, CancellationToken ct) => ValueTask.CompletedTask;
}
