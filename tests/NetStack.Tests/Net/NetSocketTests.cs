using NetStack.Api;
using NetStack.Core;
using NetStack.Net;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Net;

/// <summary>The managed socket API over the same socket calls.</summary>
public class NetSocketTests
{
    private static readonly System.Net.IPEndPoint BEp = Ep.Of(TwoStacks.AddrB, 6000);

    [Fact]
    public void Udp_SyncSendToReceiveFrom_AndEndpoints()
    {
        using var s = new TwoStacks();
        using var a = NetSocket.Udp(s.A);
        using var b = NetSocket.Udp(s.B);
        b.Bind(Ep.Of(0, 6000));
        b.Blocking = false;
        Assert.False(b.Blocking);
        Assert.Equal(3, a.SendTo("abc"u8, BEp));
        s.Pump();
        var buf = new byte[16];
        System.Net.EndPoint from = new System.Net.IPEndPoint(System.Net.IPAddress.Any, 0);
        Assert.Equal(3, b.ReceiveFrom(buf, ref from));
        Assert.Equal(Ep.Of(TwoStacks.AddrA, a.LocalEndPoint.Port), from);
        var ex = Assert.Throws<NetStackException>(() => b.Receive(buf));
        Assert.Equal(Errno.EAGAIN, ex.Errno);
        Assert.Equal("EAGAIN", ex.ErrnoName);
        Assert.Equal(SOCK_DGRAM, b.GetOption(SOL_SOCKET, SO_TYPE));
    }

    [Fact]
    public void Exceptions_CarryTheErrno()
    {
        using var net = new NetNamespace("t", new VirtualClock());
        var e = Assert.Throws<NetStackException>(() => new NetSocket(net, AF_INET, SOCK_SEQPACKET));
        Assert.Equal(Errno.ESOCKTNOSUPPORT, e.Errno);
        using var u = NetSocket.Udp(net);
        Assert.Null(u.RemoteEndPoint); // getpeername's ENOTCONN, answered as System.Net.Sockets does
        u.Dispose();
        Assert.Throws<ObjectDisposedException>(() => u.Send("x"u8));
    }

    [Fact]
    public void ReceiveFromAsync_CompletesSynchronouslyWithoutAllocating_WhenDataIsQueued()
    {
        using var s = new TwoStacks();
        using var a = NetSocket.Udp(s.A);
        using var b = NetSocket.Udp(s.B);
        b.Bind(Ep.Of(0, 6000));
        var buf = new byte[64];
        var mem = buf.AsMemory();
        var payload = new byte[32];
        for (int i = 0; i < 200; i++) // warm-up
        {
            a.SendTo(payload, BEp);
            s.Pump();
            var w = b.ReceiveFromAsync(mem);
            Assert.True(w.IsCompletedSuccessfully);
            _ = Done(w);
        }
        Assert.Equal(0, SteadyState.LeastAllocated(() =>
        {
            for (int i = 0; i < 2000; i++)
            {
                a.SendTo(payload, BEp);
                s.Pump();
                var vt = b.ReceiveFromAsync(mem);
                if (!vt.IsCompletedSuccessfully || Done(vt).ReceivedBytes != 32) throw new Exception("not synchronous");
                var st = a.SendToAsync(payload, BEp);
                if (!st.IsCompletedSuccessfully) throw new Exception("send not synchronous");
                s.Pump();
                if (b.Receive(buf) != 32) throw new Exception("recv");
            }
        }));
    }

    /// <summary>The result of a ValueTask known to be complete (kept out of test methods for xUnit1031).</summary>
    private static T Done<T>(ValueTask<T> vt) => vt.Result;

    [Fact]
    public async Task ReceiveAsync_WaitsForArrival_ThenCompletes()
    {
        using var s = new TwoStacks();
        using var a = NetSocket.Udp(s.A);
        using var b = NetSocket.Udp(s.B);
        b.Bind(Ep.Of(0, 6000));
        var buf = new byte[64];
        for (int round = 0; round < 50; round++)
        {
            var pending = b.ReceiveFromAsync(buf);
            Assert.False(pending.IsCompleted);
            a.SendTo(new byte[] { (byte)round, 2 }, BEp);
            s.Pump(); // sk_data_ready signals the waiter; the continuation runs on the pool
            var r = await pending.AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(2, r.ReceivedBytes);
            Assert.Equal(round, buf[0]);
        }
    }

    [Fact]
    public async Task ReceiveAsync_Cancellation_AndErrorWakeup()
    {
        using var s = new TwoStacks();
        using var a = NetSocket.Udp(s.A);
        var buf = new byte[8];
        using var cts = new CancellationTokenSource();
        a.Bind(Ep.Of(0, 5000));
        var pending = a.ReceiveAsync(buf, 0, cts.Token);
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending.AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        // An ICMP port unreachable on a connected socket wakes a pending receive with ECONNREFUSED.
        a.Connect(Ep.Of(TwoStacks.AddrB, 9));
        var pending2 = a.ReceiveAsync(buf);
        a.Send("x"u8);
        s.Pump();
        var e = await Assert.ThrowsAsync<NetStackException>(() => pending2.AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(Errno.ECONNREFUSED, e.Errno);
    }

    [Fact]
    public async Task RealThreads_UdpEchoBetweenStacks()
    {
        // The stacks' own threads deliver (net.Start): the way an application uses them.
        using var s = new TwoStacks();
        s.A.Start();
        s.B.Start();
        using var a = NetSocket.Udp(s.A);
        using var b = NetSocket.Udp(s.B);
        b.Bind(Ep.Of(0, 6000));
        var echo = Task.Run(async () =>
        {
            var buf = new byte[256];
            for (int i = 0; i < 100; i++)
            {
                var r = await b.ReceiveFromAsync(buf);
                await b.SendToAsync(buf.AsMemory(0, r.ReceivedBytes), r.RemoteEndPoint);
            }
        });
        var rbuf = new byte[256];
        for (int i = 0; i < 100; i++)
        {
            var msg = BitConverter.GetBytes(i);
            await a.SendToAsync(msg, BEp);
            var r = await a.ReceiveFromAsync(rbuf).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(4, r.ReceivedBytes);
            Assert.Equal(i, BitConverter.ToInt32(rbuf, 0));
        }
        await echo.WaitAsync(TimeSpan.FromSeconds(10));
        // Sync blocking receive with a timeout, through SO_RCVTIMEO.
        a.ReceiveTimeout = 20;
        Assert.Equal(20, a.ReceiveTimeout);
        Assert.Equal(Errno.EAGAIN, Assert.Throws<NetStackException>(() => a.Receive(rbuf)).Errno);
    }
}
