using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using NetStack.Api;
using NetStack.Core;
using NetStack.Drivers;
using NetStack.Ipv4;
using NetStack.Net;

namespace NetStack.Tests.Api;

/// <summary>The managed API's edge in System.Net's shape: endpoints, enums, exceptions, streams, cancellation, options, helpers.</summary>
public class SystemNetShapeTests
{
    private static readonly IPAddress AddrB = IPAddress.Parse("10.9.0.2");

    [Fact]
    public void Exceptions_AreSocketExceptions_WithDotNetsErrorCode_AndTheErrno()
    {
        using var net = new NetNamespace("t", new VirtualClock());
        // .NET's AddressFamily.InterNetworkV6 is 23 but AF_INET6 is 10: mapped.
        using (var v6 = new NetSocket(net, AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp))
        {
            Assert.Equal(AddressFamily.InterNetworkV6, v6.AddressFamily);
            Assert.True(v6.DualMode);
        }
        // AddressFamily.AppleTalk has no Linux family number here: __sock_create's range check.
        var e = Assert.Throws<NetStackException>(() => new NetSocket(net, AddressFamily.AppleTalk, SocketType.Stream, ProtocolType.Tcp));
        Assert.IsAssignableFrom<SocketException>(e);
        Assert.Equal(Errno.EAFNOSUPPORT, e.Errno);
        Assert.Equal(SocketError.AddressFamilyNotSupported, e.SocketErrorCode);
        e = Assert.Throws<NetStackException>(() => new NetSocket(net, AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Udp));
        Assert.Equal(SocketError.ProtocolNotSupported, e.SocketErrorCode);
        using var u = new NetSocket(net, AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        Assert.Equal(SocketType.Dgram, u.SocketType);
        Assert.Equal(ProtocolType.Udp, u.ProtocolType);
        Assert.Equal(AddressFamily.InterNetwork, u.AddressFamily);
        // An IPv6 endpoint on an AF_INET socket: inet_bind's family check, as Linux answers.
        e = Assert.Throws<NetStackException>(() => u.Bind(new IPEndPoint(IPAddress.IPv6Loopback, 5000)));
        Assert.Equal(Errno.EAFNOSUPPORT, e.Errno);
        Assert.Null(u.RemoteEndPoint); // ENOTCONN is null, as System.Net.Sockets answers
        u.Bind(new IPEndPoint(IPAddress.Loopback, 5000));
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 5000), u.LocalEndPoint);
        e = Assert.Throws<NetStackException>(() => u.Receive(new byte[4], SocketFlags.Peek | SocketFlags.Partial));
        Assert.Equal(SocketError.OperationNotSupported, e.SocketErrorCode);
    }

    [Theory]
    [InlineData(Errno.ECONNREFUSED, SocketError.ConnectionRefused)]
    [InlineData(Errno.ECONNRESET, SocketError.ConnectionReset)]
    [InlineData(Errno.EAGAIN, SocketError.WouldBlock)]
    [InlineData(Errno.EADDRINUSE, SocketError.AddressAlreadyInUse)]
    [InlineData(Errno.ETIMEDOUT, SocketError.TimedOut)]
    [InlineData(Errno.EHOSTUNREACH, SocketError.HostUnreachable)]
    [InlineData(Errno.ENOTCONN, SocketError.NotConnected)]
    [InlineData(Errno.EPIPE, SocketError.Shutdown)]
    [InlineData(Errno.EINVAL, SocketError.InvalidArgument)]
    [InlineData(Errno.EBADF, SocketError.OperationAborted)]
    [InlineData(Errno.EPERM, SocketError.AccessDenied)]
    [InlineData(Errno.ENOMEM, SocketError.SocketError)]
    public void ErrnoToSocketError_AsDotNetOnLinux(int errno, SocketError expected)
    {
        Assert.Equal(expected, NetStackException.ToSocketError(-errno));
        var e = new NetStackException(-errno, "x");
        Assert.Equal(expected, e.SocketErrorCode);
        Assert.Equal(errno, e.Errno);
    }

    [Fact]
    public void DeviceAddedAfterStart_Receives()
    {
        // The defect: SoftIrq.Start only started receive threads for the devices that existed then.
        var link = new MemoryLink(TwoStacks.MacA, TwoStacks.MacB);
        using var a = new NetNamespace("a");
        using var b = new NetNamespace("b");
        a.Start();
        b.Start();
        a.AddDevice(link.A, TwoStacks.AddrA, 24);
        b.AddDevice(link.B, TwoStacks.AddrB, 24);
        using var rx = new NetSocket(b, AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        rx.Bind(new IPEndPoint(IPAddress.Any, 6000));
        rx.ReceiveTimeout = 10_000;
        using var tx = new NetSocket(a, AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        tx.SendTo("late device"u8, new IPEndPoint(AddrB, 6000)); // ARP request and reply both need the new devices' threads
        var buf = new byte[64];
        Assert.Equal(11, rx.Receive(buf));
    }

    [Fact]
    public async Task StaleCancellationCallback_DoesNotCancelTheNextWait()
    {
        // The defect: a cancellation callback of a finished wait, blocked on the stack lock while the
        // waiter was signalled and armed again, cancelled the new wait.
        using var net = new NetNamespace("t", new VirtualClock());
        using var u = new NetSocket(net, AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        u.Bind(new IPEndPoint(IPAddress.Loopback, 5001));
        Sock sk;
        lock (net.SyncRoot) sk = net.Files.Lookup(u.Fd)!.Sk!;
        var waiter = sk.ReadWaiter;
        using var first = new CancellationTokenSource();
        using var second = new CancellationTokenSource();
        ValueTask<int> wait1, wait2;
        Task canceller;
        lock (net.SyncRoot)
        {
            wait1 = waiter.Arm(first.Token);
            long contention = Monitor.LockContentionCount;
            canceller = Task.Run(first.Cancel); // its callback blocks on the stack lock we hold
            while (Monitor.LockContentionCount == contention && !canceller.IsCompleted) Thread.Yield();
            waiter.Signal();                     // the first wait completes (data arrived)...
            while (waiter.IsDelivering) Thread.Yield(); // (delivered on the pool, without the lock)
            Assert.Equal(0, Consume(wait1));     // its awaiter takes the result...
            wait2 = waiter.Arm(second.Token);    // ...and a new wait starts before the callback runs
        }
        await canceller.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(waiter.IsArmed, "the stale callback cancelled the new wait");
        Assert.False(wait2.IsCompleted);
        lock (net.SyncRoot) waiter.Signal();
        Assert.Equal(0, await wait2.AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
    }

    /// <summary>The result of a completed ValueTask (outside test methods for xUnit1031).</summary>
    private static int Consume(ValueTask<int> vt) => vt.IsCompleted ? vt.GetAwaiter().GetResult() : throw new InvalidOperationException("not complete");

    [Fact]
    public async Task ArmingWhileACompletionIsUndelivered_IsRefused_NotACrash()
    {
        // Two callers on one direction: the second must not reset the waiter under the first's
        // queued completion (that crashed the pool thread delivering it). Whether the pool has
        // delivered before the second Arm is up to the scheduler; either way nothing crashes.
        using var net = new NetNamespace("t", new VirtualClock());
        using var u = new NetSocket(net, AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        Sock sk;
        lock (net.SyncRoot) sk = net.Files.Lookup(u.Fd)!.Sk!;
        var waiter = sk.ReadWaiter;
        for (int i = 0; i < 200; i++)
        {
            ValueTask<int> wait1;
            ValueTask<int>? wait2 = null;
            lock (net.SyncRoot)
            {
                wait1 = waiter.Arm();
                waiter.Signal();
                // A second caller before the first took its result: refused while the completion is
                // undelivered; once delivered, allowed (the first ValueTask was abandoned, its problem).
                try { wait2 = waiter.Arm(); }
                catch (InvalidOperationException) { }
            }
            if (wait2 is { } w)
            {
                lock (net.SyncRoot) waiter.Signal();
                Assert.Equal(0, await w.AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
            }
            else Assert.Equal(0, await wait1.AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        }
    }

    [Fact]
    public async Task CancelledReceive_CarriesTheCallersToken_AndLeavesTheSocketUsable()
    {
        using var s = new TwoStacks();
        using var a = new NetSocket(s.A, AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        using var b = new NetSocket(s.B, AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        b.Bind(new IPEndPoint(IPAddress.Any, 6000));
        var buf = new byte[16];
        using var cts = new CancellationTokenSource();
        var pending = b.ReceiveAsync(buf, cts.Token);
        Assert.False(pending.IsCompleted);
        cts.Cancel();
        var oce = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending.AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(cts.Token, oce.CancellationToken);
        // An already-cancelled token: the call does not start.
        oce = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => b.ReceiveAsync(buf, cts.Token).AsTask());
        Assert.Equal(cts.Token, oce.CancellationToken);
        // The socket still works: nothing was consumed, a new receive gets the next datagram.
        var next = b.ReceiveFromAsync(buf);
        a.SendTo("after"u8, new IPEndPoint(AddrB, 6000));
        s.Pump();
        var r = await next.AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(5, r.ReceivedBytes);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("10.9.0.1"), a.LocalEndPoint.Port), r.RemoteEndPoint);
    }

    [Fact]
    public async Task Stream_ThrowsIOException_WrappingTheSocketError()
    {
        using var s = new RealTimeStacks();
        using var listener = new NetTcpListener(s.B, new IPEndPoint(AddrB, 7100));
        listener.Start();
        await using var client = new NetTcpClient(s.A);
        await client.ConnectAsync(AddrB, 7100).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        using var server = await listener.AcceptTcpClientAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        // Abortive close of the server side (SO_LINGER 0 sends RST): the client's stream reports it as NetworkStream does.
        var stream = client.GetStream();
        server.LingerState = new LingerOption(true, 0);
        Assert.True(server.LingerState.Enabled);
        server.Dispose();
        var io = await Assert.ThrowsAsync<IOException>(async () =>
        {
            var buf = new byte[16];
            while (true)
            {
                if (await stream.ReadAsync(buf).AsTask().WaitAsync(TimeSpan.FromSeconds(10)) == 0) await Task.Delay(10);
            }
        });
        var inner = Assert.IsType<NetStackException>(io.InnerException);
        Assert.Equal(Errno.ECONNRESET, inner.Errno);
        Assert.Equal(SocketError.ConnectionReset, inner.SocketErrorCode);
        stream.Dispose();
        Assert.Throws<ObjectDisposedException>(() => stream.Write(new byte[1]));
    }

    [Fact]
    public async Task TcpListenerAndClient_TransferWithTypedOptions()
    {
        using var s = new RealTimeStacks();
        using var listener = new NetTcpListener(s.B, 0);
        listener.Start();
        Assert.NotEqual(0, listener.LocalEndpoint.Port); // the ephemeral port bind picked
        await using var client = new NetTcpClient(s.A);
        client.NoDelay = true;
        Assert.True(client.NoDelay);
        client.Client.KeepAlive = true;
        Assert.True(client.Client.KeepAlive);
        client.ReceiveBufferSize = 65536;
        Assert.Equal(131072, client.ReceiveBufferSize); // Linux doubles SO_RCVBUF
        client.Client.SendTimeout = 1500;
        Assert.Equal(1500, client.Client.SendTimeout);
        await client.ConnectAsync(new IPEndPoint(AddrB, listener.LocalEndpoint.Port)).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(client.Connected);
        using var server = await listener.AcceptTcpClientAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(client.Client.LocalEndPoint, server.Client.RemoteEndPoint);
        var data = RandomNumberGenerator.GetBytes(1 << 20);
        var send = Task.Run(async () =>
        {
            await client.GetStream().WriteAsync(data);
            client.GetStream().ShutdownWrite();
        });
        var got = new MemoryStream();
        await server.GetStream().CopyToAsync(got).WaitAsync(TimeSpan.FromSeconds(60));
        await send.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(got.ToArray()));
    }

    [Fact]
    public async Task UdpClient_ReceiveAndAnswer()
    {
        using var s = new RealTimeStacks();
        using var server = new NetUdpClient(s.B, 5300);
        using var client = new NetUdpClient(s.A);
        var echo = Task.Run(async () =>
        {
            var r = await server.ReceiveAsync();
            await server.SendAsync(r.Buffer, r.RemoteEndPoint);
        });
        await client.SendAsync("hello"u8.ToArray(), new IPEndPoint(AddrB, 5300));
        var reply = await client.ReceiveAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("hello"u8.ToArray(), reply.Buffer);
        Assert.Equal(new IPEndPoint(AddrB, 5300), reply.RemoteEndPoint);
        await echo.WaitAsync(TimeSpan.FromSeconds(10));
    }
}
