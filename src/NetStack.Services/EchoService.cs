using System.Buffers;
using NetStack.Api;
using NetStack.Core;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Services;

/// <summary>
/// The echo service over TCP (RFC 862): whatever arrives is sent back; at the client's end of
/// stream the service finishes sending and closes its side too.
/// </summary>
public sealed class EchoTcpService(NetNamespace net, ServiceOptions options, ushort port = EchoTcpService.DefaultPort)
    : TcpService(net, "echo", port, options)
{
    /// <summary>The handler only awaits: its continuations run on the receive thread (one thread hand-off less per request).</summary>
    protected override bool InlineCompletions => true;

    public const ushort DefaultPort = 7;
    private const int BufferSize = 32 * 1024;

    protected override async Task HandleAsync(NetSocket conn, CancellationToken ct)
    {
        using var idle = StartIdleTimer(ct);
        // Rented: a buffer per connection would be garbage when the connection ends.
        var buf = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            while (true)
            {
                int n = await conn.ReceiveAsync(buf.AsMemory(0, BufferSize), 0, idle.Token).ConfigureAwait(false);
                if (n == 0) break;
                Interlocked.Add(ref BytesIn, n);
                idle.Touch();
                await SendAllAsync(conn, buf.AsMemory(0, n), idle.Token).ConfigureAwait(false);
                idle.Touch();
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buf);
        }
        conn.Shutdown(SHUT_WR);
    }
}

/// <summary>The echo service over UDP (RFC 862): each datagram is sent back to where it came from.</summary>
public sealed class EchoUdpService(NetNamespace net, ServiceOptions options, ushort port = EchoTcpService.DefaultPort)
    : UdpService(net, "echo", port, options)
{
    protected override async ValueTask OnDatagram(NetSocket s, ReadOnlyMemory<byte> data, System.Net.IPEndPoint from, CancellationToken ct)
    {
        int n = await s.SendToAsync(data, from, ct).ConfigureAwait(false);
        Interlocked.Add(ref BytesOut, n);
    }
}
