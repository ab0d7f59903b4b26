using System.Net;
using System.Net.Sockets;
using NetStack.Api;

namespace NetStack.Tests.Api;

/// <summary>
/// NetSocket.InlineCompletions: an async receive made ready by the receive thread continues on that
/// thread (after its batch released the stack lock) instead of on the thread pool.
/// </summary>
public class InlineCompletionTests
{
    private static readonly IPAddress AddrB = IPAddress.Parse("10.9.0.2");

    /// <summary>Where the continuation of a pending ReceiveAsync on B's accepted socket ran, and what it received.</summary>
    private static async Task<(string? Thread, bool PoolThread, byte[] Echoed)> ReceiveThenEchoAsync(bool inline, ushort port)
    {
        using var s = new RealTimeStacks();
        using var listener = new NetSocket(s.B, AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(AddrB, port));
        listener.Listen(4);
        // Set on the listener: the accepted connection inherits it.
        listener.InlineCompletions = inline;
        using var client = new NetSocket(s.A, AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var connect = client.ConnectAsync(new IPEndPoint(AddrB, port)).AsTask();
        using var conn = await listener.AcceptAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        await connect.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(inline, conn.InlineCompletions);

        var buf = new byte[16];
        string? thread = null;
        bool pool = false;
        // Pending before the data is sent: the receive thread's sk_data_ready completes it.
        var pending = conn.ReceiveAsync(buf.AsMemory());
        Assert.False(pending.IsCompleted);
        var served = Task.Run(async () =>
        {
            int n = await pending.ConfigureAwait(false);
            thread = Thread.CurrentThread.Name;
            pool = Thread.CurrentThread.IsThreadPoolThread;
            // The continuation may use the socket: its send runs on the same thread.
            await conn.SendAsync(buf.AsMemory(0, n)).ConfigureAwait(false);
        });
        await client.SendAsync("ping"u8.ToArray()).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        var back = new byte[4];
        int got = 0;
        while (got < 4) got += await client.ReceiveAsync(back.AsMemory(got)).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        await served.WaitAsync(TimeSpan.FromSeconds(10));
        return (thread, pool, back);
    }

    [Fact]
    public async Task InlineCompletions_ReceiveContinuesOnTheReceiveThread_AndItsSendGoesOut()
    {
        var (thread, pool, echoed) = await ReceiveThenEchoAsync(inline: true, port: 7101);
        Assert.Equal("netstack-rx-mem1", thread);
        Assert.False(pool);
        Assert.Equal("ping"u8.ToArray(), echoed);
    }

    [Fact]
    public async Task InlineCompletionsOff_ReceiveContinuesOnThePool()
    {
        var (thread, pool, echoed) = await ReceiveThenEchoAsync(inline: false, port: 7102);
        Assert.True(pool, $"continued on {thread}");
        Assert.Equal("ping"u8.ToArray(), echoed);
    }
}
