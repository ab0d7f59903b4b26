using System.Net;
using NetStack.Api;
using NetStack.Core;
using NetStack.Net;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Tcp;

/// <summary>
/// A segment sent on the loopback device is processed by the local peer before the sending call
/// returns, as in Linux, where local_bh_enable() after dev_queue_xmit() runs the NET_RX softirq in
/// the sender's context. The stacks here are not started (no receive thread): what the calls do
/// themselves is all that happens.
/// </summary>
public class LoopbackSoftirqTests
{
    private static readonly uint Lo = NetStack.Wire.Ipv4Address.Loopback;

    /// <summary>A listener on 127.0.0.1:port, a client connected to it and the accepted end.</summary>
    private static (int L, int C, int A) Pair(NetNamespace net, ushort port)
    {
        var f = net.Files;
        int l = SocketCalls.Socket(f, AF_INET, SOCK_STREAM, 0);
        Assert.Equal(0, SocketCalls.Bind(f, l, SockAddr.In(Lo, port)));
        Assert.Equal(0, SocketCalls.Listen(f, l, 8));
        int c = SocketCalls.Socket(f, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        int r = SocketCalls.Connect(f, c, SockAddr.In(Lo, port));
        Assert.True(r is 0 or -Errno.EINPROGRESS, Errno.Name(r));
        net.Poll();
        int a = SocketCalls.Accept4(f, l, out _, SOCK_NONBLOCK);
        Assert.True(a >= 0, Errno.Name(a));
        return (l, c, a);
    }

    /// <summary>
    /// Closing both ends of a local connection one after the other is not a simultaneous close: the
    /// first close's FIN has reached the other end (CLOSE_WAIT) when close() returns, so only the
    /// first closer ends in TIME_WAIT and the listener's port is free again at once. Before the fix
    /// both ends sent a FIN, both went CLOSING then TIME_WAIT, and the accepted end's TIME_WAIT held
    /// the listener's port for 60 s: bind() to it was EADDRINUSE (the errno parity suite's hang).
    /// </summary>
    [Fact]
    public void CloseBothEnds_OneAfterTheOther_OnlyTheFirstCloserIsInTimeWait_AndThePortBindsAgain()
    {
        using var net = new NetNamespace("t", new VirtualClock());
        var f = net.Files;
        var (l, c, a) = Pair(net, 7010);
        Assert.Equal(0, SocketCalls.Close(f, c));
        // Linux: the FIN was processed inside close(): the accepted end is in CLOSE_WAIT. Its ACK of
        // the FIN is delayed (tcp_fin() enters pingpong mode), so the client is still in FIN_WAIT1.
        var states = NetStackInfo.GetTcpSockets(net).ToDictionary(s => s.LocalEndPoint.Port == 7010 && s.RemoteEndPoint is not null ? "a" : s.RemoteEndPoint is null ? "l" : "c", s => s.State);
        Assert.Equal(TcpState.CloseWait, states["a"]);
        Assert.Equal(TcpState.FinWait1, states["c"]);
        Assert.Equal(0, SocketCalls.Close(f, a));
        Assert.Equal(0, SocketCalls.Close(f, l));
        net.Poll();
        var left = Assert.Single(NetStackInfo.GetTcpSockets(net));
        Assert.Equal(TcpState.TimeWait, left.State);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 7010), left.RemoteEndPoint);
        int t = SocketCalls.Socket(f, AF_INET, SOCK_STREAM, 0);
        Assert.Equal(0, SocketCalls.Bind(f, t, SockAddr.In(Lo, 7010)));
        Assert.Equal(0, SocketCalls.Listen(f, t, 8));
    }

    /// <summary>Data sent over loopback is readable the moment send() returns, and the connect handshake is done when connect() returns.</summary>
    [Fact]
    public void SendOverLoopback_IsReadableWhenSendReturns()
    {
        using var net = new NetNamespace("t", new VirtualClock());
        var f = net.Files;
        int l = SocketCalls.Socket(f, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        Assert.Equal(0, SocketCalls.Bind(f, l, SockAddr.In(Lo, 7011)));
        Assert.Equal(0, SocketCalls.Listen(f, l, 8));
        int c = SocketCalls.Socket(f, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        // Non-blocking: EINPROGRESS, as Linux answers it, though the handshake is over on return.
        Assert.Equal(-Errno.EINPROGRESS, SocketCalls.Connect(f, c, SockAddr.In(Lo, 7011)));
        int a = SocketCalls.Accept4(f, l, out _, SOCK_NONBLOCK);
        Assert.True(a >= 0, Errno.Name(a));
        Assert.Equal(5, SocketCalls.Send(f, c, "hello"u8, 0));
        var buf = new byte[16];
        Assert.Equal(5, SocketCalls.Recv(f, a, buf, 0));
        Assert.Equal("hello"u8.ToArray(), buf[..5]);
    }
}
