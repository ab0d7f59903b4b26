using NetStack.Api;
using NetStack.Core;
using NetStack.Net;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Core;

/// <summary>
/// Per-socket wait queues (sk_sleep): a wakeup reaches only the entries of its socket whose events
/// it carries, exclusive waiters one at a time, and blocked calls on the real stack are woken by
/// their own socket and by nothing else.
/// </summary>
public class WaitQueueTests
{
    private static long Wakeups(WaitTask t) => Interlocked.Read(ref t.Wakeups);

    [Fact]
    public void WakeUp_WithAKey_WakesOnlyEntriesWaitingForThoseEvents()
    {
        var head = new WaitQueueHead();
        WaitTask reader = new(), writer = new(), any = new();
        reader.Entry.Key = POLLIN | POLLERR;
        writer.Entry.Key = POLLOUT | POLLERR;
        any.Entry.Key = 0;
        head.Add(reader.Entry);
        head.Add(writer.Entry);
        head.Add(any.Entry);

        head.WakeUp(Sock.PollInKey, 0);
        Assert.Equal((1L, 0L, 1L), (Wakeups(reader), Wakeups(writer), Wakeups(any)));

        head.WakeUp(POLLERR, 0);
        // The reader and "any" were woken already and have not slept since: nothing to count.
        Assert.Equal((1L, 1L, 1L), (Wakeups(reader), Wakeups(writer), Wakeups(any)));
    }

    [Fact]
    public void WakeUp_CountsExclusiveWaiters_AndWakesEveryNonExclusiveOne()
    {
        var head = new WaitQueueHead();
        WaitTask a = new(), b = new(), poller = new();
        head.AddExclusive(a.Entry);
        head.AddExclusive(b.Entry);
        head.Add(poller.Entry); // non-exclusive entries go to the head, before the exclusive ones

        head.WakeUp(Sock.PollInKey, 1);
        Assert.Equal((1L, 0L, 1L), (Wakeups(a), Wakeups(b), Wakeups(poller)));

        // a runs again (prepare_to_wait), and a wakeup for everyone (sock_def_wakeup) takes both.
        a.PrepareToWait();
        poller.PrepareToWait();
        head.WakeUp(0, 0);
        Assert.Equal((2L, 1L, 2L), (Wakeups(a), Wakeups(b), Wakeups(poller)));
    }

    [Fact]
    public void Remove_UnlinksFromAnyPosition_AndAgainIsHarmless()
    {
        var head = new WaitQueueHead();
        WaitTask a = new(), b = new(), c = new();
        head.Add(a.Entry);
        head.Add(b.Entry);
        head.Add(c.Entry);
        head.Remove(b.Entry);
        head.Remove(b.Entry);
        Assert.False(b.Entry.Queued);
        head.WakeUp(0, 0);
        Assert.Equal((1L, 0L, 1L), (Wakeups(a), Wakeups(b), Wakeups(c)));
        head.Remove(a.Entry);
        head.Remove(c.Entry);
        Assert.False(head.Active);
    }

    [Fact]
    public void DatagramsToOneSocket_DoNotWakeAThreadBlockedOnAnother()
    {
        using var net = new NetNamespace("t");
        net.Start();
        var files = net.Files;
        int a = Bound(files, 7101), b = Bound(files, 7102), tx = Bound(files, 7103);
        var skA = files.Lookup(a)!.Sk!;
        WaitTask? taskA = null;
        int got = 0;
        var t = new Thread(() =>
        {
            taskA = WaitTask.Current;
            got = SocketCalls.Recv(files, a, new byte[64], 0);
        }) { IsBackground = true };
        t.Start();
        Assert.True(SpinUntil(() => { lock (net.SyncRoot) return skA.Wq.Active; }), "the receiver never blocked");
        long before = Wakeups(taskA!);

        for (int i = 0; i < 50; i++)
            Assert.Equal(3, SocketCalls.Sendto(files, tx, "bbb"u8, 0, SockAddr.In(NetStack.Wire.Ipv4Address.Loopback, 7102)));
        for (int i = 0; i < 50; i++)
            Assert.Equal(3, SocketCalls.Recv(files, b, new byte[64], MSG_DONTWAIT));
        Assert.Equal(before, Wakeups(taskA!));
        Assert.True(t.IsAlive);

        Assert.Equal(5, SocketCalls.Sendto(files, tx, "aaaaa"u8, 0, SockAddr.In(NetStack.Wire.Ipv4Address.Loopback, 7101)));
        Assert.True(t.Join(TimeSpan.FromSeconds(30)), "the receiver was never woken by its own datagram");
        Assert.Equal(5, got);
        Assert.Equal(before + 1, Wakeups(taskA!));
        lock (net.SyncRoot) Assert.False(skA.Wq.Active);
    }

    [Fact]
    public void Poll_IsWokenByEitherSocket_AndLeavesNoEntryBehind()
    {
        using var net = new NetNamespace("t");
        net.Start();
        var files = net.Files;
        int a = Bound(files, 7111), b = Bound(files, 7112), tx = Bound(files, 7113);
        Sock skA = files.Lookup(a)!.Sk!, skB = files.Lookup(b)!.Sk!;
        var fds = new SocketCalls.PollFd[] { new(a, POLLIN), new(b, POLLIN) };
        int n = 0;
        var t = new Thread(() => n = SocketCalls.Poll(files, fds, -1)) { IsBackground = true };
        t.Start();
        Assert.True(SpinUntil(() => { lock (net.SyncRoot) return skA.Wq.Active && skB.Wq.Active; }), "poll never blocked");
        Assert.Equal(1, SocketCalls.Sendto(files, tx, "x"u8, 0, SockAddr.In(NetStack.Wire.Ipv4Address.Loopback, 7112)));
        Assert.True(t.Join(TimeSpan.FromSeconds(30)), "poll was never woken");
        Assert.Equal(1, n);
        Assert.Equal((0, POLLIN), ((int)fds[0].Revents, (int)fds[1].Revents));
        lock (net.SyncRoot) Assert.False(skA.Wq.Active || skB.Wq.Active);
    }

    [Fact]
    public void OneConnection_WakesOneOfTwoBlockedAcceptors()
    {
        using var net = new NetNamespace("t");
        net.Start();
        using var listener = NetSocket.Tcp(net);
        listener.Bind(Ep.Of(NetStack.Wire.Ipv4Address.Loopback, 7120));
        listener.Listen(16);
        var skL = net.Files.Lookup(listener.Fd)!.Sk!;
        var tasks = new WaitTask?[2];
        var accepted = new NetSocket?[2];
        var threads = new Thread[2];
        for (int i = 0; i < 2; i++)
        {
            int k = i;
            threads[k] = new Thread(() =>
            {
                tasks[k] = WaitTask.Current;
                try { accepted[k] = listener.Accept(); }
                catch (NetStackException) { } // the listener closed under it
            }) { IsBackground = true };
            threads[k].Start();
        }
        Assert.True(SpinUntil(() => { lock (net.SyncRoot) return tasks[0] is not null && tasks[1] is not null && skL.Wq.Count == 2; }), "the acceptors never blocked");

        using var client = NetSocket.Tcp(net);
        client.Connect(Ep.Of(NetStack.Wire.Ipv4Address.Loopback, 7120));
        Assert.True(SpinUntil(() => !threads[0].IsAlive || !threads[1].IsAlive), "no acceptor was woken");
        int first = threads[0].IsAlive ? 1 : 0, other = 1 - first;
        Assert.NotNull(accepted[first]);
        Assert.Equal(1, Wakeups(tasks[first]!));
        Assert.Equal(0, Wakeups(tasks[other]!)); // exclusive: the second acceptor slept on
        Assert.True(threads[other].IsAlive);

        listener.Dispose(); // close() under the blocked accept(): woken, it fails
        Assert.True(threads[other].Join(TimeSpan.FromSeconds(30)), "close() did not wake the blocked acceptor");
        Assert.Null(accepted[other]);
        accepted[first]!.Dispose();
    }

    private static int Bound(FdTable files, ushort port)
    {
        int fd = SocketCalls.Socket(files, AF_INET, SOCK_DGRAM, 0);
        Assert.Equal(0, SocketCalls.Bind(files, fd, SockAddr.In(NetStack.Wire.Ipv4Address.Loopback, port)));
        return fd;
    }

    /// <summary>Waits for another thread to reach a state (a wait, not a timing assertion).</summary>
    private static bool SpinUntil(Func<bool> condition) => SpinWait.SpinUntil(condition, TimeSpan.FromSeconds(30));
}
