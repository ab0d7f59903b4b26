using System.Net;
using System.Net.Sockets;
using NetStack.Api;

namespace NetStack.Tests.Api;

/// <summary>The managed API over AF_INET6 sockets: IPv6Any listeners that accept IPv4 clients, clients that reach IPv4 servers through ::ffff:a.b.c.d.</summary>
public class DualStackApiTests
{
    private static readonly IPAddress AddrA = IPAddress.Parse("10.9.0.1");
    private static readonly IPAddress AddrB = IPAddress.Parse("10.9.0.2");

    [Fact]
    public async Task Ipv6AnyListener_AcceptsIpv4Client_AsMapped()
    {
        using var s = new RealTimeStacks();
        using var listener = new NetTcpListener(s.B, new IPEndPoint(IPAddress.IPv6Any, 7200));
        listener.Start();
        Assert.Equal(AddressFamily.InterNetworkV6, listener.Server.AddressFamily);
        Assert.Equal(new IPEndPoint(IPAddress.IPv6Any, 7200), listener.LocalEndpoint);
        await using var client = new NetTcpClient(s.A);
        await client.ConnectAsync(AddrB, 7200).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        using var server = await listener.AcceptTcpClientAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        var peer = server.Client.RemoteEndPoint!;
        Assert.Equal(AddressFamily.InterNetworkV6, peer.AddressFamily);
        Assert.True(peer.Address.IsIPv4MappedToIPv6);
        Assert.Equal(AddrA, peer.Address.MapToIPv4());
        Assert.Equal(client.Client.LocalEndPoint.Port, peer.Port);
        // ss's view (inet_diag of AF_INET6 socks): the listener on [::], the child with its v4-mapped peer.
        var tcp = NetStackInfo.GetTcpSockets(s.B);
        Assert.Contains(tcp, i => i.State == NetStack.Core.TcpState.Listen && i.LocalEndPoint.Equals(new IPEndPoint(IPAddress.IPv6Any, 7200)));
        Assert.Contains(tcp, i => i.State == NetStack.Core.TcpState.Established && Equals(i.RemoteEndPoint, peer)
            && i.LocalEndPoint.Equals(new IPEndPoint(AddrB.MapToIPv6(), 7200)));
    }

    [Fact]
    public async Task Ipv6Client_ReachesIpv4Server_ThroughMappedAndPlainIpv4Endpoints()
    {
        using var s = new RealTimeStacks();
        using var listener = new NetTcpListener(s.B, new IPEndPoint(IPAddress.Any, 7201));
        listener.Start();
        await using var client = new NetTcpClient(s.A, AddressFamily.InterNetworkV6);
        Assert.True(client.Client.DualMode);
        // An IPv4 endpoint on an AF_INET6 socket is v4-mapped, as a DualMode Socket does.
        await client.ConnectAsync(AddrB, 7201).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        using var server = await listener.AcceptTcpClientAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(new IPEndPoint(AddrA.MapToIPv6(), server.Client.RemoteEndPoint!.Port), client.Client.LocalEndPoint);
        Assert.Equal(new IPEndPoint(AddrB.MapToIPv6(), 7201), client.Client.RemoteEndPoint);

        using var udp6 = new NetUdpClient(s.A, new IPEndPoint(IPAddress.IPv6Any, 7202));
        using var udp4 = new NetUdpClient(s.B, new IPEndPoint(IPAddress.Any, 7203));
        Assert.Equal(3, await udp6.SendAsync(new byte[] { 1, 2, 3 }, new IPEndPoint(AddrB.MapToIPv6(), 7203)).AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        var got = await udp4.ReceiveAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(new IPEndPoint(AddrA, 7202), got.RemoteEndPoint);
        Assert.Equal(2, await udp4.SendAsync(new byte[] { 9, 9 }, got.RemoteEndPoint).AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        var back = await udp6.ReceiveAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(new IPEndPoint(AddrB.MapToIPv6(), 7203), back.RemoteEndPoint);
    }

    [Fact]
    public void NativeIpv6_WithoutRoute_AndV6OnlyToIpv4_NetworkUnreachable()
    {
        using var s = new RealTimeStacks();
        using var sock = new NetSocket(s.A, AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
        // A link-local source to pick (ipv6_dev_get_saddr), no route to a global destination.
        var e = Assert.Throws<NetStackException>(() => sock.Connect(new IPEndPoint(IPAddress.Parse("2001:db8::1"), 80)));
        Assert.Equal(SocketError.NetworkUnreachable, e.SocketErrorCode);
        sock.Dispose();
        using var only = new NetSocket(s.A, AddressFamily.InterNetworkV6, SocketType.Dgram, ProtocolType.Udp) { DualMode = false };
        Assert.False(only.DualMode);
        e = Assert.Throws<NetStackException>(() => only.SendTo(new byte[1], new IPEndPoint(AddrB, 9)));
        Assert.Equal(SocketError.NetworkUnreachable, e.SocketErrorCode);
    }
}
