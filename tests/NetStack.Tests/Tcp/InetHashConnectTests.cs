using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Tcp;

/// <summary>
/// connect()'s port choice when a TIME_WAIT sock holds the 4-tuple (__inet_hash_connect): the new
/// socket takes the port's bind bucket before the TIME_WAIT sock leaves it.
/// </summary>
public class InetHashConnectTests
{
    private static readonly uint Lo = NetStack.Wire.Ipv4Address.Loopback;

    /// <summary>
    /// The only ephemeral port is held by a TIME_WAIT sock of the same 4-tuple, reusable on loopback
    /// (tcp_tw_reuse 2) a second after its last timestamp. The new connection takes it over: the
    /// socket joins the port's bucket, then the TIME_WAIT sock is killed. Before the fix the TIME_WAIT
    /// sock was killed first; as the port's last owner it took the bucket out of the table (and
    /// back to its cache) while the socket went on to join it: the port looked free to the next
    /// bind(), and the bucket could be handed to another port under the socket.
    /// </summary>
    [Fact]
    public void Connect_ReusingTheTimeWaitOfItsOnlyPort_KeepsThePortsBucketInTheTable()
    {
        var clock = new VirtualClock();
        using var net = new NetNamespace("t", clock);
        var f = net.Files;
        net.Ipv4.Sysctl.IpLocalPortRangeLow = net.Ipv4.Sysctl.IpLocalPortRangeHigh = 40000;
        int l = SocketCalls.Socket(f, AF_INET, SOCK_STREAM, 0);
        Assert.Equal(0, SocketCalls.Bind(f, l, SockAddr.In(Lo, 7020)));
        Assert.Equal(0, SocketCalls.Listen(f, l, 8));

        int c = Connect(net);
        int a = SocketCalls.Accept4(f, l, out _, SOCK_NONBLOCK);
        Assert.True(a >= 0, Errno.Name(a));
        Assert.Equal(0, SocketCalls.Close(f, c));
        Assert.Equal(0, SocketCalls.Close(f, a));
        net.Poll();
        var h = net.Ipv4.TcpHashinfo;
        var tw = Assert.IsType<TcpTimewaitSock>(Assert.Single(h.Bhash[40000].Owners));

        clock.AdvanceMs(2000);
        int c2 = Connect(net);
        var sk = (TcpSock)f.Lookup(c2)!.Sk!;
        Assert.Equal(40000, sk.InetNum);
        Assert.Same(h.Bhash[40000], sk.BindHash);
        Assert.Same(sk, Assert.Single(sk.BindHash!.Owners));
        Assert.Null(tw.TwTb);
        Assert.Equal(0, net.Ipv4.TcpTwCount);
        Assert.Equal(TcpState.Established, sk.State);
    }

    private static int Connect(NetNamespace net)
    {
        int c = SocketCalls.Socket(net.Files, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        int r = SocketCalls.Connect(net.Files, c, SockAddr.In(Lo, 7020));
        Assert.True(r is 0 or -Errno.EINPROGRESS, Errno.Name(r));
        net.Poll();
        return c;
    }
}
