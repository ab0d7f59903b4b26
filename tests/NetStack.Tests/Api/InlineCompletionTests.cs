using System.Net;
using System.Net.Sockets;
using NetStack.Api;

namespace NetStack.Tests.Api;

/// <summary>
/// NetSocket.InlineCompletions: an async receive made ready by the receive thread continues on that
/// thread (after its batch released the stack lock) instead of on the thread pool; a continuation
/// there that blocks, or disposes the stack, neither deadlocks the device nor hangs.
/// </summary>
public class InlineCompletionTests
{
    private static readonly IPAddress AddrB = IPAddress.Parse("10.9.0.2");
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    /// <summary>B listens on <paramref name="port"/> (the listener's InlineCompletions set as asked: accepted connections inherit it); A connects.</summary>
    private static async Task<(NetSocket Listener, NetSocket Client, NetSocket Conn)> ConnectAsync(RealTimeStacks s, ushort port, bool inline)
    {
        var listener = new NetSocket(s.B, AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(AddrB, port));
        listener.Listen(4);
        listener.InlineCompletions = inline;
        var client = new NetSocket(s.A, AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var connect = client.ConnectAsync(new IPEndPoint(AddrB, port)).AsTask();
        var conn = await listener.AcceptAsync().AsTask().WaitAsync(Timeout);
        await connect.WaitAsync(Timeout);
        Assert.Equal(inline, conn.InlineCompletions);
        return (listener, client, conn);
    }

    private static async Task<byte[]> ReceiveExactlyAsync(NetSocket sock, int count)
    {
        var buf = new byte[count];
        int got = 0;
        while (got < count)
        {
            int n = await sock.ReceiveAsync(buf.AsMemory(got)).AsTask().WaitAsync(Timeout);
            if (n == 0) throw new EndOfStreamException($"got {got} of {count}");
            got += n;
        }
        return buf;
    }

    private sealed class Served
    {
        public string? Thread;
        public bool PoolThread;
    }

    /// <summary>
    /// Awaits a receive on <paramref name="conn"/>, notes the thread its continuation runs on, and echoes
    /// what came. Called directly (not through Task.Run): the await has registered its continuation
    /// before this returns, so the receive thread's completion finds it (a continuation registered
    /// after the completion would run on the registering thread, whatever the socket's setting).
    /// </summary>
    private static async Task ServeOneAsync(NetSocket conn, Served where)
    {
        var buf = new byte[16];
        int n = await conn.ReceiveAsync(buf.AsMemory()).ConfigureAwait(false);
        where.Thread = Thread.CurrentThread.Name;
        where.PoolThread = Thread.CurrentThread.IsThreadPoolThread;
        // The continuation may use the socket: its send runs on the same thread.
        await conn.SendAsync(buf.AsMemory(0, n)).ConfigureAwait(false);
    }

    private static async Task<(Served Where, byte[] Echoed)> ReceiveThenEchoAsync(bool inline, ushort port)
    {
        using var s = new RealTimeStacks();
        var (listener, client, conn) = await ConnectAsync(s, port, inline);
        using (listener)
        using (client)
        using (conn)
        {
            var where = new Served();
            var served = ServeOneAsync(conn, where);
            Assert.False(served.IsCompleted);
            await client.SendAsync("ping"u8.ToArray()).AsTask().WaitAsync(Timeout);
            var back = await ReceiveExactlyAsync(client, 4);
            await served.WaitAsync(Timeout);
            return (where, back);
        }
    }

    [Fact]
    public async Task InlineCompletions_ReceiveContinuesOnTheReceiveThread_AndItsSendGoesOut()
    {
        var (where, echoed) = await ReceiveThenEchoAsync(inline: true, port: 7101);
        Assert.Equal("netstack-rx-mem1", where.Thread);
        Assert.False(where.PoolThread);
        Assert.Equal("ping"u8.ToArray(), echoed);
    }

    [Fact]
    public async Task InlineCompletionsOff_ReceiveContinuesOnThePool()
    {
        var (where, echoed) = await ReceiveThenEchoAsync(inline: false, port: 7102);
        Assert.True(where.PoolThread, $"continued on {where.Thread}");
        Assert.Equal("ping"u8.ToArray(), echoed);
    }

    /// <summary>
    /// The continuation makes a blocking receive whose data only the same device's receive thread can
    /// bring. Run where the receive thread would simply sleep, the device stopped receiving and the
    /// call timed out (SO_RCVTIMEO here; forever without it). The thread hands the device to a new
    /// receive thread before it sleeps: the data arrives, and the stack keeps receiving afterwards.
    /// </summary>
    [Fact]
    public async Task InlineContinuation_BlockingReceive_HandsTheDeviceToANewReceiveThread()
    {
        using var s = new RealTimeStacks();
        var (listener, client, conn) = await ConnectAsync(s, 7103, inline: true);
        using (listener)
        using (client)
        using (conn)
        {
            conn.ReceiveTimeout = 5000;
            string? firstThread = null, afterThread = null;
            byte[] second = new byte[5];
            async Task ServeAsync()
            {
                var buf = new byte[16];
                int n = await conn.ReceiveAsync(buf.AsMemory()).ConfigureAwait(false);
                firstThread = Thread.CurrentThread.Name;
                Assert.Equal("first"u8.ToArray(), buf.AsSpan(0, n).ToArray());
                // Blocking, on the receive thread: misuse the API documents, which must not deadlock the device.
                int got = 0;
                while (got < second.Length) got += conn.Receive(second.AsSpan(got));
                afterThread = Thread.CurrentThread.Name;
                await conn.SendAsync("done"u8.ToArray()).ConfigureAwait(false);
            }
            var served = ServeAsync();
            await client.SendAsync("first"u8.ToArray()).AsTask().WaitAsync(Timeout);
            // The second part arrives while the continuation sleeps in Receive().
            await Task.Delay(50);
            await client.SendAsync("again"u8.ToArray()).AsTask().WaitAsync(Timeout);
            Assert.Equal("done"u8.ToArray(), await ReceiveExactlyAsync(client, 4));
            await served.WaitAsync(Timeout);
            Assert.Equal("netstack-rx-mem1", firstThread);
            Assert.Equal("again"u8.ToArray(), second);
            Assert.Equal(1, s.B.RxThreadHandoffs);

            // The new receive thread serves the device: another inline round trip works, on it.
            var where = new Served();
            var next = ServeOneAsync(conn, where);
            await client.SendAsync("ping"u8.ToArray()).AsTask().WaitAsync(Timeout);
            Assert.Equal("ping"u8.ToArray(), await ReceiveExactlyAsync(client, 4));
            await next.WaitAsync(Timeout);
            Assert.Equal("netstack-rx-mem1", where.Thread);
            Assert.Equal(1, s.B.RxThreadHandoffs);
            _ = afterThread;
        }
    }

    /// <summary>
    /// The continuation disposes the stack whose receive thread runs it (an application ending from
    /// its last handler). Stopping the stack joins its threads; joining the calling thread itself
    /// waited forever. It returns, and the receive thread ends by itself afterwards.
    /// </summary>
    [Fact]
    public async Task InlineContinuation_DisposingTheStack_Returns()
    {
        var s = new RealTimeStacks();
        var (listener, client, conn) = await ConnectAsync(s, 7104, inline: true);
        var disposed = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        async Task ServeAsync()
        {
            var buf = new byte[16];
            await conn.ReceiveAsync(buf.AsMemory()).ConfigureAwait(false);
            string? thread = Thread.CurrentThread.Name;
            conn.Dispose();
            listener.Dispose();
            s.B.Dispose();
            disposed.SetResult(thread);
        }
        var served = ServeAsync();
        await client.SendAsync("bye"u8.ToArray()).AsTask().WaitAsync(Timeout);
        Assert.Equal("netstack-rx-mem1", await disposed.Task.WaitAsync(Timeout));
        await served.WaitAsync(Timeout);
        client.Dispose();
        s.A.Dispose();
    }

    /// <summary>
    /// A connection closed by another thread while its receive's completion waits for the receive
    /// thread's batch to end: the waiter's sock reference keeps the sock out of the slab until the
    /// awaiter took the result, and the continuation's next call on the closed socket fails with
    /// ObjectDisposedException; a connection accepted afterwards (which may reuse the cached sock) is
    /// not disturbed by the old handle.
    /// </summary>
    [Fact]
    public async Task InlineContinuation_OfAClosedSocket_FailsItsNextCall_AndANewConnectionWorks()
    {
        using var s = new RealTimeStacks();
        var (listener, client, conn) = await ConnectAsync(s, 7105, inline: true);
        using (listener)
        using (client)
        {
            Exception? next = null;
            async Task ServeAsync()
            {
                var buf = new byte[16];
                await conn.ReceiveAsync(buf.AsMemory()).ConfigureAwait(false);
                conn.Dispose();
                try { await conn.ReceiveAsync(buf.AsMemory()).ConfigureAwait(false); }
                catch (Exception e) { next = e; }
            }
            var served = ServeAsync();
            await client.SendAsync("x"u8.ToArray()).AsTask().WaitAsync(Timeout);
            await served.WaitAsync(Timeout);
            Assert.IsType<ObjectDisposedException>(next);

            using var client2 = new NetSocket(s.A, AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            var connect = client2.ConnectAsync(new IPEndPoint(AddrB, 7105)).AsTask();
            using var conn2 = await listener.AcceptAsync().AsTask().WaitAsync(Timeout);
            await connect.WaitAsync(Timeout);
            Assert.Throws<ObjectDisposedException>(() => conn.Send("stale"u8));
            var where = new Served();
            var echo = ServeOneAsync(conn2, where);
            await client2.SendAsync("pong"u8.ToArray()).AsTask().WaitAsync(Timeout);
            Assert.Equal("pong"u8.ToArray(), await ReceiveExactlyAsync(client2, 4));
            await echo.WaitAsync(Timeout);
            Assert.Equal("netstack-rx-mem1", where.Thread);
        }
    }
}
