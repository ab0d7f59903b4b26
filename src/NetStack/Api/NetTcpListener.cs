using System.Net;
using System.Net.Sockets;
using NetStack.Core;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Api;

/// <summary>
/// Listens for TCP connections on the stack, in the shape of <see cref="TcpListener"/>:
/// <code>
/// using var listener = new NetTcpListener(net, new IPEndPoint(IPAddress.Any, 7));
/// listener.Start();
/// using var client = await listener.AcceptTcpClientAsync(ct);
/// </code>
/// </summary>
public sealed class NetTcpListener : IDisposable
{
    private readonly NetNamespace _net;
    private NetSocket? _server;

    /// <summary>A listener for <paramref name="localEP"/> (IPAddress.Any for every local IPv4 address, IPAddress.IPv6Any for
    /// an AF_INET6 listener that also accepts IPv4 clients as ::ffff:a.b.c.d; port 0 picks one).</summary>
    public NetTcpListener(NetNamespace net, IPEndPoint localEP)
    {
        ArgumentNullException.ThrowIfNull(net);
        ArgumentNullException.ThrowIfNull(localEP);
        _net = net;
        LocalEndpoint = localEP;
    }

    /// <summary>A listener on every local address at <paramref name="port"/>.</summary>
    public NetTcpListener(NetNamespace net, int port) : this(net, new IPEndPoint(IPAddress.Any, port)) { }

    /// <summary>The endpoint asked for before <see cref="Start(int)"/>, the bound one after (its port when 0 was asked).</summary>
    public IPEndPoint LocalEndpoint { get; private set; }

    /// <summary>The listening socket, once started.</summary>
    public NetSocket Server => _server ?? throw new InvalidOperationException("the listener is not started");

    /// <summary>Whether <see cref="Start(int)"/> was called and <see cref="Stop"/> not since.</summary>
    public bool Active => _server is not null;

    /// <summary>socket, SO_REUSEADDR (as TcpListener on Unix), bind, listen.</summary>
    public void Start(int backlog = 128)
    {
        if (_server is not null) return;
        // An IPv6 endpoint ([::] included) makes an AF_INET6 socket, dual stack as Linux's default.
        var s = new NetSocket(_net, LocalEndpoint.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? AF_INET6 : AF_INET, SOCK_STREAM);
        try
        {
            s.ReuseAddress = true;
            s.Bind(LocalEndpoint);
            s.Listen(backlog);
            LocalEndpoint = s.LocalEndPoint;
        }
        catch
        {
            s.Dispose();
            throw;
        }
        _server = s;
    }

    /// <summary>Accepts the next connection as a socket.</summary>
    public ValueTask<NetSocket> AcceptSocketAsync(CancellationToken cancellationToken = default) => Server.AcceptAsync(cancellationToken);

    /// <summary>Accepts the next connection as a client.</summary>
    public async ValueTask<NetTcpClient> AcceptTcpClientAsync(CancellationToken cancellationToken = default) =>
        new(await Server.AcceptAsync(cancellationToken).ConfigureAwait(false));

    /// <summary>Whether a connection is waiting to be accepted.</summary>
    public bool Pending() => (Server.Poll(POLLIN, 0) & POLLIN) != 0;

    /// <summary>Closes the listening socket (connections waiting in its queue are reset, as close() does).</summary>
    public void Stop()
    {
        _server?.Dispose();
        _server = null;
    }

    /// <inheritdoc/>
    public void Dispose() => Stop();
}
