using NetStack.Control;
using NetStack.Api;
using NetStack.Core;
using NetStack.Net;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Net;

/// <summary>Regressions found by review: crashes on large copies, closes under blocked callers, fd reuse, accept and EMFILE, option lengths, the shell.</summary>
public class RobustnessFixTests
{
    [Fact]
    public void RawSocket_ProtocolAbove255_IsCreated_AsLinuxAllows()
    {
        using var net = new NetNamespace("t", new VirtualClock());
        int fd = SocketCalls.Socket(net.Files, AF_INET, SOCK_RAW, 256);
        Assert.True(fd >= 0, Errno.Name(fd));
        Assert.Equal(0, SocketCalls.Close(net.Files, fd));
    }

    [Fact]
    public void TwoRawSockets_LargeDatagramOverLoopback_BothGetACopy()
    {
        // The second and later raw sockets get a copy of the packet; a packet from lo (MTU 65536)
        // lives in a large buffer, which the copy must fit.
        using var net = new NetNamespace("t", new VirtualClock());
        int a = SocketCalls.Socket(net.Files, AF_INET, SOCK_RAW | SOCK_NONBLOCK, 253);
        int b = SocketCalls.Socket(net.Files, AF_INET, SOCK_RAW | SOCK_NONBLOCK, 253);
        var data = new byte[4000];
        new Random(3).NextBytes(data);
        Assert.Equal(4000, SocketCalls.Sendto(net.Files, a, data, 0, SockAddr.In(NetStack.Wire.Ipv4Address.Loopback, 0)));
        net.Poll();
        var buf = new byte[8000];
        foreach (int fd in new[] { a, b })
        {
            int n = SocketCalls.Recv(net.Files, fd, buf, 0);
            Assert.Equal(4020, n); // raw sockets receive the IP header too
            Assert.Equal(data, buf[20..n]);
        }
    }

    [Fact]
    public void UdpBroadcast_LargeDatagram_ToTwoReuseaddrSockets_BothReceiveIt()
    {
        using var s = new TwoStacks();
        var files = s.B.Files;
        int r1 = SocketCalls.Socket(files, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        int r2 = SocketCalls.Socket(files, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        foreach (int fd in new[] { r1, r2 })
        {
            Assert.Equal(0, SocketCalls.Setsockopt(files, fd, SOL_SOCKET, SO_REUSEADDR, 1));
            Assert.Equal(0, SocketCalls.Bind(files, fd, SockAddr.In(0u, 7000)));
        }
        int tx = SocketCalls.Socket(s.A.Files, AF_INET, SOCK_DGRAM, 0);
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, tx, SOL_SOCKET, SO_BROADCAST, 1));
        var data = new byte[4000];
        new Random(4).NextBytes(data);
        Assert.Equal(4000, SocketCalls.Sendto(s.A.Files, tx, data, 0, SockAddr.In(NetStack.Wire.Ipv4Address.Parse("10.9.0.255"), 7000)));
        s.Pump();
        var buf = new byte[8000];
        foreach (int fd in new[] { r1, r2 })
        {
            Assert.Equal(4000, SocketCalls.Recv(files, fd, buf, 0));
            Assert.Equal(data, buf[..4000]);
        }
    }

    [Fact]
    public void CloseFromAnotherThread_WakesABlockedReceive_WithEbadf()
    {
        using var net = new NetNamespace("t");
        net.Start();
        int fd = SocketCalls.Socket(net.Files, AF_INET, SOCK_DGRAM, 0);
        Assert.Equal(0, SocketCalls.Bind(net.Files, fd, SockAddr.In(NetStack.Wire.Ipv4Address.Loopback, 7001)));
        int result = 0;
        var t = new Thread(() => result = SocketCalls.Recv(net.Files, fd, new byte[16], 0));
        t.Start();
        // Wait until the receiver sleeps (its read waiter is not needed: it blocks in Monitor.Wait).
        Thread.Sleep(100);
        Assert.Equal(0, SocketCalls.Close(net.Files, fd));
        Assert.True(t.Join(TimeSpan.FromSeconds(10)), "the blocked receive was never woken");
        Assert.True(result == -Errno.EBADF || result == -Errno.EAGAIN, Errno.Name(result));
    }

    [Fact]
    public async Task PendingAsyncReceive_AfterDispose_NeverReadsTheNextSocketOnTheSameFd()
    {
        using var net = new NetNamespace("t");
        net.Start();
        var a = NetSocket.Udp(net);
        a.Bind(Ep.Of(NetStack.Wire.Ipv4Address.Loopback, 7003));
        int fdA = a.Fd;
        var pending = a.ReceiveAsync(new byte[64]).AsTask();
        NetSocket b;
        lock (net.SyncRoot)
        {
            a.Dispose();
            b = NetSocket.Udp(net); // takes the lowest free descriptor: a's old number
        }
        Assert.Equal(fdA, b.Fd);
        b.Bind(Ep.Of(NetStack.Wire.Ipv4Address.Loopback, 7004));
        using var tx = NetSocket.Udp(net);
        tx.SendTo("stolen"u8, Ep.Of(NetStack.Wire.Ipv4Address.Loopback, 7004));
        var ex = await Assert.ThrowsAsync<NetStackException>(() => pending.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(Errno.EBADF, ex.Errno);
        // And b still has its datagram.
        b.ReceiveTimeout = 10000;
        var buf = new byte[16];
        Assert.Equal(6, b.Receive(buf));
        b.Dispose();
    }

    [Fact]
    public void Accept_Emfile_LeavesTheConnectionQueued()
    {
        using var net = new NetNamespace("t", new VirtualClock());
        var f = net.Files;
        int l = SocketCalls.Socket(f, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        Assert.Equal(0, SocketCalls.Bind(f, l, SockAddr.In(NetStack.Wire.Ipv4Address.Loopback, 7002)));
        Assert.Equal(0, SocketCalls.Listen(f, l, 4));
        int c = SocketCalls.Socket(f, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        Assert.Equal(-Errno.EINPROGRESS, SocketCalls.Connect(f, c, SockAddr.In(NetStack.Wire.Ipv4Address.Loopback, 7002)));
        net.Poll();
        int limit = f.RlimitNofile;
        f.RlimitNofile = f.Count + FdTable.FirstFd;
        Assert.Equal(-Errno.EMFILE, SocketCalls.Accept4(f, l, out _, 0));
        f.RlimitNofile = limit;
        int a = SocketCalls.Accept4(f, l, out _, 0);
        Assert.True(a >= 0, Errno.Name(a));
    }

    [Fact]
    public void BindToDevice_Getsockopt_NeedsIfnamsizBuffer()
    {
        using var net = new NetNamespace("t", new VirtualClock());
        int fd = SocketCalls.Socket(net.Files, AF_INET, SOCK_DGRAM, 0);
        Assert.Equal(0, SocketCalls.Setsockopt(net.Files, fd, SOL_SOCKET, SO_BINDTODEVICE, "lo\0"u8));
        var small = new byte[8];
        int len = small.Length;
        Assert.Equal(-Errno.EINVAL, SocketCalls.Getsockopt(net.Files, fd, SOL_SOCKET, SO_BINDTODEVICE, small, ref len));
        var buf = new byte[16];
        len = buf.Length;
        Assert.Equal(0, SocketCalls.Getsockopt(net.Files, fd, SOL_SOCKET, SO_BINDTODEVICE, buf, ref len));
        Assert.Equal(3, len);
    }

    [Theory]
    [InlineData("{\"op\":\"recv\",\"fd\":3,\"len\":-1}")]
    [InlineData("{\"op\":\"send\",\"fd\":3,\"data\":\"zz\"}")]
    [InlineData("{\"op\":\"sleep\",\"ms\":-5}")]
    [InlineData("{\"op\":\"poll\",\"fds\":[1,2]}")]
    [InlineData("{\"op\":\"bind\",\"fd\":3,\"addr\":\"10.0.0.1\",\"port\":\"x\"}")]
    public void Shell_BadArguments_AreAnErrorReply_NotACrash(string line)
    {
        using var net = new NetNamespace("t", new VirtualClock());
        var shell = new SocketShell(net.Files);
        Assert.Contains("\"ret\":3", shell.Execute("{\"op\":\"socket\",\"domain\":\"AF_INET\",\"type\":\"SOCK_DGRAM\"}"));
        string reply = shell.Execute(line);
        Assert.Contains("\"ret\":-1", reply);
        // The shell keeps working.
        Assert.Contains("\"ret\":0", shell.Execute("{\"op\":\"close\",\"fd\":3}"));
    }
}
