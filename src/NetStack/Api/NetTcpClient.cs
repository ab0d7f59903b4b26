using System.Net;
using System.Net.Sockets;
using NetStack.Core;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Api;

/// <summary>
/// A TCP connection over the stack, in the shape of <see cref="TcpClient"/>:
/// <code>
/// await using var client = new NetTcpClient(net);
/// await client.ConnectAsync(IPAddress.Parse("10.7.0.1"), 7, ct);
/// var stream = client.GetStream();
/// </code>
/// </summary>
public sealed class NetTcpClient : IDisposable, IAsyncDisposable
{
    private NetStream? _stream;

    /// <summary>A client with a new, unconnected TCP socket in <paramref name="net"/>.</summary>
    public NetTcpClient(NetNamespace net) : this(new NetSocket(net, AF_INET, SOCK_STREAM)) { }

    /// <summary>A client with a new TCP socket of <paramref name="family"/> (InterNetworkV6: an AF_INET6 socket, which reaches IPv4 servers through ::ffff:a.b.c.d).</summary>
    public NetTcpClient(NetNamespace net, System.Net.Sockets.AddressFamily family) : this(new NetSocket(net, family, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp)) { }

    /// <summary>A client over a connected socket (e.g. from <see cref="NetSocket.AcceptAsync"/>); it owns the socket.</summary>
    public NetTcpClient(NetSocket socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        Client = socket;
    }

    /// <summary>The socket.</summary>
    public NetSocket Client { get; }

    /// <summary>Whether the socket has a peer.</summary>
    public bool Connected => Client.Connected;

    /// <summary>TCP_NODELAY.</summary>
    public bool NoDelay { get => Client.NoDelay; set => Client.NoDelay = value; }

    /// <summary>SO_LINGER.</summary>
    public LingerOption LingerState { get => Client.LingerState; set => Client.LingerState = value; }

    /// <summary>SO_RCVBUF.</summary>
    public int ReceiveBufferSize { get => Client.ReceiveBufferSize; set => Client.ReceiveBufferSize = value; }

    /// <summary>SO_SNDBUF.</summary>
    public int SendBufferSize { get => Client.SendBufferSize; set => Client.SendBufferSize = value; }

    /// <summary>Connects to <paramref name="remoteEP"/>.</summary>
    public ValueTask ConnectAsync(IPEndPoint remoteEP, CancellationToken cancellationToken = default) => Client.ConnectAsync(remoteEP, cancellationToken);

    /// <summary>Connects to an address and port.</summary>
    public ValueTask ConnectAsync(IPAddress address, int port, CancellationToken cancellationToken = default) =>
        Client.ConnectAsync(new IPEndPoint(address, port), cancellationToken);

    /// <summary>Connects, blocking the calling thread.</summary>
    public void Connect(IPEndPoint remoteEP) => Client.Connect(remoteEP);

    /// <summary>The stream over the connection (the same one on every call); disposing the client disposes it.</summary>
    public NetStream GetStream()
    {
        if (!Client.Connected) throw new InvalidOperationException("the client is not connected");
        return _stream ??= new NetStream(Client, ownsSocket: true);
    }

    /// <summary>Closes the connection.</summary>
    public void Dispose()
    {
        _stream?.Dispose();
        Client.Dispose();
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }
}
