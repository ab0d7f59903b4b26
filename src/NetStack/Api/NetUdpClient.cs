using System.Net;
using System.Net.Sockets;
using NetStack.Core;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Api;

/// <summary>
/// UDP datagrams over the stack, in the shape of <see cref="UdpClient"/>:
/// <code>
/// using var udp = new NetUdpClient(net, 5000);
/// UdpReceiveResult r = await udp.ReceiveAsync(ct);
/// await udp.SendAsync(r.Buffer, r.RemoteEndPoint, ct);
/// </code>
/// Each received datagram is a new array, as UdpClient gives; use <see cref="NetSocket.ReceiveFromAsync(Memory{byte}, CancellationToken)"/>
/// on <see cref="Client"/> to receive without allocating.
/// </summary>
public sealed class NetUdpClient : IDisposable
{
    private readonly byte[] _buffer = new byte[65536];

    /// <summary>An unbound UDP socket (the first send binds an ephemeral port).</summary>
    public NetUdpClient(NetNamespace net) => Client = new NetSocket(net, AF_INET, SOCK_DGRAM);

    /// <summary>A UDP socket bound to <paramref name="port"/> on every local address.</summary>
    public NetUdpClient(NetNamespace net, int port) : this(net, new IPEndPoint(IPAddress.Any, port)) { }

    /// <summary>An unbound UDP socket of <paramref name="family"/> (InterNetworkV6: AF_INET6, dual stack).</summary>
    public NetUdpClient(NetNamespace net, System.Net.Sockets.AddressFamily family) =>
        Client = new NetSocket(net, family, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);

    /// <summary>A UDP socket bound to <paramref name="localEP"/> (an IPv6 one, [::] included, makes an AF_INET6 socket).</summary>
    public NetUdpClient(NetNamespace net, IPEndPoint localEP) : this(net, localEP?.AddressFamily ?? throw new ArgumentNullException(nameof(localEP)))
    {
        try { Client.Bind(localEP); }
        catch
        {
            Client.Dispose();
            throw;
        }
    }

    /// <summary>The socket.</summary>
    public NetSocket Client { get; }

    /// <summary>SO_BROADCAST.</summary>
    public bool EnableBroadcast { get => Client.EnableBroadcast; set => Client.EnableBroadcast = value; }

    /// <summary>IP_TTL.</summary>
    public short Ttl { get => Client.Ttl; set => Client.Ttl = value; }

    /// <summary>Sets the default destination (connect(2)): later sends need no endpoint, and only that peer's datagrams arrive.</summary>
    public void Connect(IPEndPoint remoteEP) => Client.Connect(remoteEP);

    /// <summary>Sends one datagram to <paramref name="remoteEP"/>.</summary>
    public ValueTask<int> SendAsync(ReadOnlyMemory<byte> datagram, IPEndPoint remoteEP, CancellationToken cancellationToken = default) =>
        Client.SendToAsync(datagram, remoteEP, cancellationToken);

    /// <summary>Sends one datagram to the connected peer.</summary>
    public ValueTask<int> SendAsync(ReadOnlyMemory<byte> datagram, CancellationToken cancellationToken = default) =>
        Client.SendAsync(datagram, cancellationToken);

    /// <summary>Receives one datagram (a new array) and its sender.</summary>
    public async ValueTask<UdpReceiveResult> ReceiveAsync(CancellationToken cancellationToken = default)
    {
        var r = await Client.ReceiveFromAsync(_buffer, cancellationToken).ConfigureAwait(false);
        return new UdpReceiveResult(_buffer.AsSpan(0, r.ReceivedBytes).ToArray(), (IPEndPoint)r.RemoteEndPoint);
    }

    /// <summary>Closes the socket.</summary>
    public void Dispose() => Client.Dispose();
}
