using System.Net;
using System.Net.Sockets;
using NetStack.Api;
using NetStack.Ipv6;
using NetStack.Net;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Ipv6;

/// <summary>
/// Blocking AF_INET6 calls on stacks that run their own threads: a blocking connect (native,
/// v4-mapped, link-local with its scope id) that completes and a recv with MSG_WAITALL that
/// returns the whole count once the echo has sent it. Each call runs under a bound, so a call that
/// never returns fails the test instead of hanging the run.
/// </summary>
public class TcpIpv6BlockingTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    private static void Echo(NetSocket listener)
    {
        using var c = listener.Accept();
        var buf = new byte[64];
        int n;
        while ((n = c.Receive(buf)) > 0) c.Send(buf.AsSpan(0, n));
    }

    private static IPAddress LinkLocalB()
    {
        var b = new byte[16];
        Ipv6Address.Write(b, Ipv6Address.LinkLocal(TwoStacks.MacB));
        return new IPAddress(b);
    }

    public static IEnumerable<object[]> Targets() =>
    [
        ["native"], ["mapped"], ["link-local"],
    ];

    [Theory]
    [MemberData(nameof(Targets))]
    public async Task BlockingConnect_ThenRecvWaitAll_ReturnsTheEcho(string target)
    {
        using var s = new RealTimeStacks();
        s.A.AddIpv6Address(s.Link.A, IPAddress.Parse("fd00:9::1"), 64);
        s.B.AddIpv6Address(s.Link.B, IPAddress.Parse("fd00:9::2"), 64);
        using var listener = new NetSocket(s.B, AF_INET6, SOCK_STREAM);
        listener.Bind(new IPEndPoint(IPAddress.IPv6Any, 7790));
        listener.Listen();
        var server = Task.Run(() => Echo(listener));

        var dst = target switch
        {
            "native" => new IPEndPoint(IPAddress.Parse("fd00:9::2"), 7790),
            "mapped" => new IPEndPoint(IPAddress.Parse("::ffff:10.9.0.2"), 7790),
            _ => new IPEndPoint(new IPAddress(LinkLocalB().GetAddressBytes(), s.Link.A.IfIndex), 7790),
        };
        using var client = new NetSocket(s.A, AF_INET6, SOCK_STREAM);
        var work = Task.Run(() =>
        {
            client.Connect(dst);
            Assert.Equal(5, client.Send("hello"u8));
            var got = new byte[5];
            Assert.Equal(5, client.Receive(got, MSG_WAITALL));
            Assert.Equal("hello"u8.ToArray(), got);
            client.Shutdown(SocketShutdown.Send);
        });
        Assert.Same(work, await Task.WhenAny(work, Task.Delay(Bound)));
        await work; // a failed assertion inside surfaces here
        Assert.Same(server, await Task.WhenAny(server, Task.Delay(Bound)));
    }
}
