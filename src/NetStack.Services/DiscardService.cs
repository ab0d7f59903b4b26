using NetStack.Api;
using NetStack.Core;

namespace NetStack.Services;

/// <summary>The discard service over TCP (RFC 863): reads and throws away until the client closes.</summary>
public sealed class DiscardTcpService(NetNamespace net, ServiceOptions options, ushort port = DiscardTcpService.DefaultPort)
    : TcpService(net, "discard", port, options)
{
    public const ushort DefaultPort = 9;

    protected override async Task HandleAsync(NetSocket conn, CancellationToken ct)
    {
        using var idle = StartIdleTimer(ct);
        var buf = new byte[64 * 1024];
        int n;
        while ((n = await conn.ReceiveAsync(buf, 0, idle.Token).ConfigureAwait(false)) > 0)
        {
            Interlocked.Add(ref BytesIn, n);
            idle.Touch();
        }
    }
}

/// <summary>The discard service over UDP (RFC 863): datagrams are received and dropped.</summary>
public sealed class DiscardUdpService(NetNamespace net, ServiceOptions options, ushort port = DiscardTcpService.DefaultPort)
    : UdpService(net, "discard", port, options)
{
    protected override ValueTask OnDatagram(NetSocket s, ReadOnlyMemory<byte> data, System.Net.IPEndPoint from, CancellationToken ct) => ValueTask.CompletedTask;
}
