using System.Security.Cryptography;
using NetStack.Api;
using NetStack.Core;
using NetStack.Drivers;
using NetStack.Wire;

namespace NetStack.Tests.Tcp;

/// <summary>The blocking and async socket API with real threads (net.Start()), two stacks over a MemoryLink in real time.</summary>
public class TcpThreadedTests
{
    [Fact]
    public void Blocking_ConnectAcceptSendRecv_4MB_BothWays()
    {
        using var s = new RealTimeStacks();
        using var listener = NetSocket.Tcp(s.B);
        listener.Bind(Ep.Of(TwoStacks.AddrB, 7000));
        listener.Listen();
        var data = RandomNumberGenerator.GetBytes(4 << 20);
        byte[]? serverGot = null;
        var server = new Thread(() =>
        {
            using var c = listener.Accept();
            var ms = new MemoryStream();
            var buf = new byte[65536];
            int n;
            while ((n = c.Receive(buf)) > 0) ms.Write(buf, 0, n);
            serverGot = ms.ToArray();
            // Echo it back, then close.
            int off = 0;
            while (off < serverGot.Length) off += c.Send(serverGot.AsSpan(off));
        });
        server.Start();
        using var client = NetSocket.Tcp(s.A);
        client.Connect(Ep.Of(TwoStacks.AddrB, 7000));
        var reader = new Thread(() => { });
        byte[]? clientGot = null;
        reader = new Thread(() =>
        {
            var ms = new MemoryStream();
            var buf = new byte[65536];
            int n;
            while ((n = client.Receive(buf)) > 0) ms.Write(buf, 0, n);
            clientGot = ms.ToArray();
        });
        reader.Start();
        int sent = 0;
        while (sent < data.Length) sent += client.Send(data.AsSpan(sent, Math.Min(100_000, data.Length - sent)));
        client.Shutdown(NetStack.Uapi.SocketConstants.SHUT_WR);
        Assert.True(server.Join(TimeSpan.FromSeconds(60)), "server thread did not finish");
        Assert.True(reader.Join(TimeSpan.FromSeconds(60)), "reader thread did not finish");
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(serverGot!));
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(clientGot!));
    }

    [Fact]
    public async Task Async_ConnectAcceptSendReceive()
    {
        using var s = new RealTimeStacks();
        using var listener = NetSocket.Tcp(s.B);
        listener.Bind(Ep.Of(TwoStacks.AddrB, 7001));
        listener.Listen();
        var acceptTask = listener.AcceptAsync().AsTask();
        using var client = NetSocket.Tcp(s.A);
        await client.ConnectAsync(Ep.Of(TwoStacks.AddrB, 7001)).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        using var server = await acceptTask.WaitAsync(TimeSpan.FromSeconds(10));
        var data = RandomNumberGenerator.GetBytes(1 << 20);
        var recvTask = Task.Run(async () =>
        {
            var ms = new MemoryStream();
            var buf = new byte[32768];
            while (ms.Length < data.Length)
            {
                int n = await server.ReceiveAsync(buf);
                if (n == 0) break;
                ms.Write(buf, 0, n);
            }
            return ms.ToArray();
        });
        int off = 0;
        while (off < data.Length) off += await client.SendAsync(data.AsMemory(off));
        var got = await recvTask.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(data, got);
    }

    [Fact]
    public void Connect_ToClosedPort_Refused()
    {
        using var s = new RealTimeStacks();
        using var client = NetSocket.Tcp(s.A);
        var ex = Assert.Throws<NetStackException>(() => client.Connect(Ep.Of(TwoStacks.AddrB, 9)));
        Assert.Equal(NetStack.Uapi.Errno.ECONNREFUSED, ex.Errno);
    }

    [Fact]
    public void BlockingCalls_WithTimeouts_AnswerLikeLinux()
    {
        using var s = new RealTimeStacks();
        using var listener = NetSocket.Tcp(s.B);
        listener.Bind(Ep.Of(TwoStacks.AddrB, 7002));
        listener.Listen();
        // accept() with SO_RCVTIMEO and nobody connecting: EAGAIN.
        listener.ReceiveTimeout = 100;
        var ex = Assert.Throws<NetStackException>(() => listener.Accept());
        Assert.Equal(NetStack.Uapi.Errno.EAGAIN, ex.Errno);

        // connect() with SO_SNDTIMEO to a host that never answers: EINPROGRESS when the time is up,
        // the handshake going on in the background (as Linux).
        using var lost = NetSocket.Tcp(s.A);
        lost.SendTimeout = 100;
        ex = Assert.Throws<NetStackException>(() => lost.Connect(Ep.Of(NetStack.Wire.Ipv4Address.Parse("10.9.0.77"), 80)));
        Assert.Equal(NetStack.Uapi.Errno.EINPROGRESS, ex.Errno);

        // recv() with SO_RCVTIMEO and no data: EAGAIN; then data arrives and is read.
        using var client = NetSocket.Tcp(s.A);
        client.Connect(Ep.Of(TwoStacks.AddrB, 7002));
        listener.ReceiveTimeout = 0;
        using var server = listener.Accept();
        server.ReceiveTimeout = 100;
        var buf = new byte[16];
        ex = Assert.Throws<NetStackException>(() => server.Receive(buf));
        Assert.Equal(NetStack.Uapi.Errno.EAGAIN, ex.Errno);
        client.Send("ping"u8);
        // The data is on its way through the other stack's threads: give it more than a busy
        // 2-core machine could ever need, so only correctness is tested here, not speed.
        server.ReceiveTimeout = 10000;
        Assert.Equal(4, server.Receive(buf));

        // send() with SO_SNDTIMEO into a peer that does not read: fills both buffers, then EAGAIN.
        client.SendTimeout = 200;
        var chunk = new byte[65536];
        long total = 0;
        ex = Assert.Throws<NetStackException>((Action)(() => { while (true) total += client.Send(chunk); }));
        Assert.Equal(NetStack.Uapi.Errno.EAGAIN, ex.Errno);
        Assert.True(total > 64 * 1024, $"sent {total}");
        // Reading it all lets the rest through.
        server.ReceiveTimeout = 5000;
        long read = 0;
        while (read < total) read += server.Receive(chunk);
        Assert.Equal(total, read);
    }

    [Fact]
    public void PeerReset_BlockedReceiverWokenWithEconnreset()
    {
        using var s = new RealTimeStacks();
        using var listener = NetSocket.Tcp(s.B);
        listener.Bind(Ep.Of(TwoStacks.AddrB, 7003));
        listener.Listen();
        using var client = NetSocket.Tcp(s.A);
        client.Connect(Ep.Of(TwoStacks.AddrB, 7003));
        using var server = listener.Accept();
        int err = 0;
        var t = new Thread(() =>
        {
            try { client.Receive(new byte[16]); }
            catch (NetStackException e) { err = e.Errno; }
        });
        t.Start();
        Thread.Sleep(50);
        // SO_LINGER {1, 0}: close() aborts with RST.
        var linger = new byte[8];
        linger[0] = 1;
        NetStack.Net.SocketCalls.Setsockopt(server.Files, server.Fd, NetStack.Uapi.SocketConstants.SOL_SOCKET, NetStack.Uapi.SocketConstants.SO_LINGER, linger);
        server.Dispose();
        Assert.True(t.Join(TimeSpan.FromSeconds(10)));
        Assert.Equal(NetStack.Uapi.Errno.ECONNRESET, err);
    }
}
