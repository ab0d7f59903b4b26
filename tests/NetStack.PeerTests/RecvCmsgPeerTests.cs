using System.Net;
using NetStack.Api;
using NetStack.Wire;

namespace NetStack.PeerTests;

/// <summary>
/// Ancillary data on datagrams the Linux kernel sends to the stack over the TAP, read through the
/// public API (<see cref="NetSocket.ReceiveMessage(Span{byte}, int)"/>): the TTL, TOS and
/// IP_PKTINFO of a UDP datagram (unicast and broadcast) and of the kernel's echo replies.
/// </summary>
public sealed class RecvCmsgPeerTests(ITestOutputHelper output)
{
    /// <summary>An echo request (type 8, id 0, seq 1, 8 data bytes); the ping socket puts its identifier and checksum in.</summary>
    private static readonly byte[] Echo = Convert.FromHexString("0800f7fe000000010001020304050607");

    [PeerFact]
    public void UdpFromTheKernel_Ttl64_TheSendersTos_PktinfoOfTheTap()
    {
        using var peer = new TapPeer();
        using var sock = NetSocket.Udp(peer.Net);
        sock.Bind(new IPEndPoint(IPAddress.Any, 5000));
        sock.ReceiveTtl = sock.ReceiveTos = sock.ReceivePacketInformation = sock.ReceiveOriginalDestination = true;
        sock.ReceiveTimeout = 10_000;
        var stack = IPAddress.Parse(peer.StackIp);
        var bcast = IPAddress.Parse(Ipv4Address.Format((peer.StackAddr & 0xFFFFFF00) | 255));
        var sent = peer.Exec(TimeSpan.FromSeconds(20), "/usr/bin/python3", "-c",
            "import socket\n" +
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n" +
            "s.bind(('0.0.0.0', 4444))\n" +
            "s.setsockopt(socket.SOL_IP, socket.IP_TOS, 0x28)\n" +
            $"s.sendto(b'unicast', ('{peer.StackIp}', 5000))\n" +
            "s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)\n" +
            $"s.sendto(b'broadcast', ('{bcast}', 5000))\n");
        Assert.True(sent.ExitCode == 0, sent.ToString());

        // The broadcast may overtake the unicast datagram, which waits for ARP on the kernel side.
        var got = new Dictionary<string, NetReceiveMessageResult>();
        var buf = new byte[64];
        for (int i = 0; i < 2; i++)
        {
            var m = sock.ReceiveMessage(buf);
            output.WriteLine(m.ToString());
            got[System.Text.Encoding.ASCII.GetString(buf, 0, m.ReceivedBytes)] = m;
        }
        var u = got["unicast"];
        Assert.Equal(new IPEndPoint(IPAddress.Parse(peer.KernelIp), 4444), u.RemoteEndPoint);
        Assert.Equal(64, u.Ttl);                       // the kernel's net.ipv4.ip_default_ttl
        Assert.Equal((byte)0x28, u.Tos);
        var info = Assert.NotNull(u.PacketInformation);
        Assert.Equal(peer.Host.Device.IfIndex, info.Interface);
        Assert.Equal(stack, info.Address);
        Assert.Equal(stack, info.SpecificDestination);
        Assert.Equal(new IPEndPoint(stack, 5000), u.OriginalDestination);
        Assert.Equal(0, u.MessageFlags);

        var b = got["broadcast"];
        Assert.Equal(64, b.Ttl);
        Assert.Equal((byte)0x28, b.Tos);
        info = Assert.NotNull(b.PacketInformation);
        Assert.Equal(peer.Host.Device.IfIndex, info.Interface);
        Assert.Equal(bcast, info.Address);              // the header's destination
        Assert.Equal(stack, info.SpecificDestination);  // the source of the route back to the sender
        Assert.Equal(new IPEndPoint(bcast, 5000), b.OriginalDestination);
    }

    [PeerFact]
    public async Task PingReplyFromTheKernel_Ttl64_ThenTheKernelsDefaultTtl()
    {
        using var peer = new TapPeer();
        using var ping = NetSocket.Ping(peer.Net);
        ping.ReceiveTtl = true;
        ping.ReceivePacketInformation = true;
        var kernel = new IPEndPoint(IPAddress.Parse(peer.KernelIp), 0);
        var buf = new byte[64];

        ping.SendTo(Echo, kernel);
        var r = await ping.ReceiveMessageAsync(buf).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        output.WriteLine(r.ToString());
        Assert.Equal(16, r.ReceivedBytes);
        Assert.Equal(0, buf[0]); // an echo reply
        Assert.Equal(kernel, r.RemoteEndPoint);
        Assert.Equal(64, r.Ttl);
        var info = Assert.NotNull(r.PacketInformation);
        Assert.Equal(peer.Host.Device.IfIndex, info.Interface);
        Assert.Equal(IPAddress.Parse(peer.StackIp), info.Address);
        Assert.Equal(IPAddress.Any, info.SpecificDestination); // ping_rcv() never prepares it, in Linux either

        // The TTL is the reply's own: the kernel answers with its ip_default_ttl.
        peer.Exec("sysctl", "-qw", "net.ipv4.ip_default_ttl=33");
        ping.SendTo(Echo, kernel);
        r = await ping.ReceiveMessageAsync(buf).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        output.WriteLine(r.ToString());
        Assert.Equal(33, r.Ttl);
    }
}
