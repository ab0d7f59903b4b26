using System.Net;
using System.Net.Sockets;
using NetStack.Api;
using NetStack.Core;
using NetStack.Net;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.PeerTests;

/// <summary>
/// IPV6_MINHOPCOUNT (RFC 5082 GTSM) against the Linux kernel over a TAP: a stack listener that
/// wants hop limit 255 drops the SYNs of a kernel client sending with 254 (TCPMinTTLDrop) and
/// accepts one sending with 255, as a directly connected GTSM peer does. Ports 8250-8259.
/// </summary>
public sealed class MinHopcountPeerTests(ITestOutputHelper output)
{
    private const string KernelGlobal = "fd00:82::1", StackGlobal = "fd00:82::2";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>A kernel TCP client with IPV6_UNICAST_HOPS <paramref name="hops"/> that tries for 3 s; prints "connected" or "timeout".</summary>
    private static string[] KernelConnect(int hops, int port) =>
    [
        "/usr/bin/python3", "-c",
        "import socket\n" +
        "s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)\n" +
        $"s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, {hops})\n" +
        "s.settimeout(3)\n" +
        "try:\n" +
        $"    s.connect(('{StackGlobal}', {port})); print('connected')\n" +
        "except socket.timeout:\n" +
        "    print('timeout')\n",
    ];

    [PeerFact]
    public async Task Listener_WithMinHopcount255_DropsTheSynsOfAFurtherPeer_AcceptsADirectOne()
    {
        using var peer = new TapPeer(ipv6: true, configure: o =>
        {
            o.Ipv6Address = IPAddress.Parse(StackGlobal);
            o.PcapPath = null;
        });
        peer.Exec("ip", "-6", "addr", "add", $"{KernelGlobal}/64", "dev", peer.Tap, "nodad");
        using var listener = new NetSocket(peer.Net, AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
        Assert.Equal(0, SocketCalls.Setsockopt(peer.Net.Files, listener.Fd, SOL_IPV6, IPV6_MINHOPCOUNT, 255));
        listener.Bind(new IPEndPoint(IPAddress.IPv6Any, 8250));
        listener.Listen(4);

        var far = peer.Exec(Timeout, KernelConnect(254, 8250));
        output.WriteLine($"hop limit 254: {far.StdOut.Trim()}");
        Assert.Equal("timeout", far.StdOut.Trim());
        long drops = peer.Net.Mib.TcpExt[LinuxMib.TCPMinTTLDrop];
        Assert.True(drops > 0, "the SYNs were counted as TCPMinTTLDrop");
        Assert.Equal(0, peer.Net.Mib.Tcp[TcpMib.OutRsts]); // dropped, not refused

        var accept = listener.AcceptAsync().AsTask();
        var near = peer.Exec(Timeout, KernelConnect(255, 8250));
        output.WriteLine($"hop limit 255: {near.StdOut.Trim()}");
        Assert.Equal("connected", near.StdOut.Trim());
        using var conn = await accept.WaitAsync(Timeout);
        Assert.Equal(IPAddress.Parse(KernelGlobal), ((IPEndPoint)conn.RemoteEndPoint!).Address);
        Assert.Equal(drops, peer.Net.Mib.TcpExt[LinuxMib.TCPMinTTLDrop]);
    }
}
