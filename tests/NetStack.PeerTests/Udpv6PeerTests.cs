using System.Net;
using System.Net.Sockets;
using System.Text;
using NetStack.Api;
using NetStack.Core;
using NetStack.Ipv6;

namespace NetStack.PeerTests;

/// <summary>
/// UDP over native IPv6 against the Linux kernel across a TAP (issue 11): the kernel's socat sends
/// a datagram to the stack's AF_INET6 socket on [::] and reads the stack's answer. Ports 7600-7609.
/// </summary>
public sealed class Udpv6PeerTests(ITestOutputHelper output)
{
    private const string KernelGlobal = "fd00:7::1", StackGlobal = "fd00:7::2";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [PeerFact]
    public async Task KernelSocat_SendsToStackOverIpv6_AndGetsTheAnswer()
    {
        using var peer = new TapPeer(ipv6: true, configure: o => o.Ipv6Address = IPAddress.Parse(StackGlobal));
        peer.Exec("ip", "-6", "addr", "add", $"{KernelGlobal}/64", "dev", peer.Tap, "nodad");
        using var sock = new NetSocket(peer.Net, AddressFamily.InterNetworkV6, SocketType.Dgram, ProtocolType.Udp) { ReceiveTimeout = 20_000 };
        sock.Bind(new IPEndPoint(IPAddress.IPv6Any, 7600));
        // The kernel's client: one datagram from port 7601, then the answer printed (socat waits 5 s for it).
        var kernel = Task.Run(() => peer.Exec(Timeout, "bash", "-c",
            $"printf 'hello over ipv6' | socat -t 5 - UDP6:[{StackGlobal}]:7600,sourceport=7601"));
        var buf = new byte[100];
        EndPoint from = new IPEndPoint(IPAddress.IPv6Any, 0);
        int n = sock.ReceiveFrom(buf, ref from);
        output.WriteLine($"stack received {n} bytes from {from}");
        Assert.Equal("hello over ipv6", Encoding.ASCII.GetString(buf, 0, n));
        Assert.Equal(new IPEndPoint(IPAddress.Parse(KernelGlobal), 7601), from);
        var answer = Encoding.ASCII.GetBytes("answer from [::]:7600");
        Assert.Equal(answer.Length, sock.SendTo(answer, from));
        var k = await kernel.WaitAsync(Timeout);
        output.WriteLine(k.ToString());
        Assert.Equal(0, k.ExitCode);
        Assert.Equal("answer from [::]:7600", k.StdOut);
        Assert.Equal(1, peer.Net.Ipv6.Udp6Stats[UdpMib.InDatagrams]);
        Assert.Equal(1, peer.Net.Ipv6.Udp6Stats[UdpMib.OutDatagrams]);
    }
}
