using System.Text.Json.Nodes;
using NetStack.Api;
using NetStack.Services;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.PeerTests;

/// <summary>
/// Connection setup at rate: the kernel opens and closes 5,000 connections one after another to
/// the stack, and not one of its SYNs goes unanswered (the kernel's own counters, read in the
/// test's namespace: TcpExt TCPSynRetrans stays 0; the stack counts no listen overflow, no listen
/// drop and exactly 5,000 more passive opens), once 500 unmeasured connections have warmed the
/// listener. A SYN the stack drops costs the client a 1 s retransmission timeout, so a handful of them dominate a
/// sequential run: an accept loop falling more than the listen backlog behind for a moment (a
/// descheduled thread, a GC, a thread pool held by its application) was enough.
/// </summary>
public sealed class TcpConnectPeerTests(ITestOutputHelper output)
{
    private const int Connections = 5000;
    /// <summary>
    /// Connections opened first, not measured: in a cold test process the pool ran no work item for
    /// 0.8 s with 257 queued (measured), so the discard service's first 256 handlers waited, its
    /// MaxConnections slots were all taken and the backlog overflowed behind them. The claim is about
    /// the stack's SYN path on a warm listener.
    /// </summary>
    private const int WarmUp = 500;
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(600);

    /// <summary>
    /// Against the discard service (issue 13). Its accept loop used to be an async loop on the pool:
    /// with this test host holding pool workers (its message loop, this test in Process.WaitForExit)
    /// the pool ran nothing for most of a second, the loop fell 4,096
    /// connections behind and one SYN went unanswered in every run. The service now accepts on a
    /// thread of its own, proven on a fully held pool by ServiceAcceptStarvedPoolTests, and this test
    /// blocks a thread of its own rather than a pool worker. What remains: the service's handlers run
    /// on the pool, and in this host the pool still stalls for about 0.9 s now and then at the start
    /// of a run (measured: no work item completed, 257 queued); the 256 MaxConnections slots fill, the
    /// accept thread waits for one as inetd at its limit does, and the backlog overflows (about one
    /// run in seven on a loaded machine, without the workers below). So the pool is still given
    /// workers here: what holds it in that stall is not found yet.
    /// </summary>
    [PeerFact]
    public Task KernelConnectClose_ToStackService_NoSynRetransmitted() =>
        Task.Factory.StartNew(() =>
        {
            ThreadPool.GetMinThreads(out int workers, out int io);
            ThreadPool.SetMinThreads(Math.Max(workers, 16), io);
            try
            {
                using var peer = TcpPeerKit.NewPeer(Impairment.None);
                using var services = ServiceHost.Start(peer.Net, "discard");
                RunAndAssert(peer, 9);
                var discard = services.Find("discard")!;
                Assert.True(TapPeer.WaitUntil(() => Interlocked.Read(ref discard.Completed) == WarmUp + Connections, TimeSpan.FromSeconds(60)), services.FormatStats());
            }
            finally
            {
                ThreadPool.SetMinThreads(workers, io);
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    /// <summary>The same against a blocking accept() loop: the listener's wait queue wakes the acceptor for each connection.</summary>
    [PeerFact]
    public void KernelConnectClose_ToBlockingAcceptLoop_NoSynRetransmitted()
    {
        using var peer = TcpPeerKit.NewPeer(Impairment.None);
        using var listener = NetSocket.Tcp(peer.Net);
        listener.SetOption(SOL_SOCKET, SO_REUSEADDR, 1);
        listener.Bind(Ep.Of(peer.StackAddr, 7070));
        listener.Listen(peer.Net.SysctlSomaxconn);
        int accepted = 0;
        Exception? ended = null;
        var acceptor = new Thread(() =>
        {
            try
            {
                while (true)
                {
                    using var c = listener.Accept();
                    Interlocked.Increment(ref accepted);
                }
            }
            catch (Exception e)
            {
                ended = e; // the listener closed under the blocked accept()
            }
        }) { IsBackground = true, Name = "test-acceptor" };
        acceptor.Start();
        RunAndAssert(peer, 7070);
        // The client's connect-close ends when its handshakes do; the acceptor may still be
        // draining the accept queue, and close() on a listener resets what it has not accepted
        // (inet_csk_listen_stop()), so wait for the loop before closing under it.
        Assert.True(TapPeer.WaitUntil(() => Volatile.Read(ref accepted) == WarmUp + Connections, TimeSpan.FromSeconds(30)),
            $"accepted {Volatile.Read(ref accepted)} of {WarmUp + Connections}");
        listener.Dispose();
        Assert.True(acceptor.Join(TimeSpan.FromSeconds(30)), "accept() stayed blocked after close()");
        Assert.Equal(WarmUp + Connections, accepted);
        Assert.IsType<NetStackException>(ended);
    }

    private void RunAndAssert(TapPeer peer, int port)
    {
        var w = peer.Exec(Limit, "/usr/bin/python3", TcpPeerKit.PeerScript, "connect-close", peer.StackIp, $"{port}", $"{WarmUp}");
        Assert.Equal(0, w.ExitCode);
        Assert.True(TapPeer.WaitUntil(() => peer.Counter("Tcp.PassiveOpens") == WarmUp, TimeSpan.FromSeconds(30)), "warm-up connections not all accepted");
        long overflows0 = peer.Counter("TcpExt.ListenOverflows"), drops0 = peer.Counter("TcpExt.ListenDrops");
        var r = peer.Exec(Limit, "/usr/bin/python3", TcpPeerKit.PeerScript, "connect-close", peer.StackIp, $"{port}", $"{Connections}");
        output.WriteLine(r.ToString());
        Assert.Equal(0, r.ExitCode);
        var summary = JsonNode.Parse(r.StdOut)!;
        Assert.Equal(Connections, (int)summary["ok"]!);
        // The stack's side first, so a failure says where an unanswered SYN went: a listen
        // overflow (the accept loop fell behind) or somewhere else (the counters name it).
        string stackSide = $"stack: ListenOverflows {peer.Counter("TcpExt.ListenOverflows")}, ListenDrops {peer.Counter("TcpExt.ListenDrops")}, " +
            $"PassiveOpens {peer.Counter("Tcp.PassiveOpens")}, InErrs {peer.Counter("Tcp.InErrs")}, TCPReqQFullDrop {peer.Counter("TcpExt.TCPReqQFullDrop")}, TCPBacklogDrop {peer.Counter("TcpExt.TCPBacklogDrop")}";
        output.WriteLine(stackSide);
        output.WriteLine(peer.Net.Mib.Format());
        Assert.Equal(overflows0, peer.Counter("TcpExt.ListenOverflows"));
        Assert.Equal(drops0, peer.Counter("TcpExt.ListenDrops"));
        Assert.Equal(WarmUp + Connections, peer.Counter("Tcp.PassiveOpens"));
        // retrans_segs is printed, not asserted: a FIN the stack ACKs late (a delayed ACK, as
        // Linux delays it in CLOSE_WAIT, on a loaded machine) is retransmitted after 200 ms.
        Assert.True((int)summary["syn_retrans"]! == 0, $"the kernel retransmitted a SYN; {stackSide}");
    }
}
