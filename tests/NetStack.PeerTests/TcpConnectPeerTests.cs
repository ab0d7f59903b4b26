using System.Text.Json.Nodes;
using NetStack.Api;
using NetStack.Services;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.PeerTests;

/// <summary>
/// Connection setup at rate: the kernel opens and closes 5,000 connections one after another to
/// the stack, and not one of its SYNs goes unanswered (the kernel's own counters, read in the
/// test's namespace: TcpExt TCPSynRetrans stays 0; the stack counts no listen overflow, no listen
/// drop and exactly 5,000 more passive opens), once 500 unmeasured connections have warmed the listener. A SYN the stack drops costs the client a 1 s
/// retransmission timeout, so a handful of them dominate a sequential run: the accept loop falling
/// more than a listen backlog of 128 behind for a moment (a descheduled pool thread, a GC) was enough.
/// </summary>
public sealed class TcpConnectPeerTests(ITestOutputHelper output)
{
    private const int Connections = 5000;
    /// <summary>
    /// Connections opened first, not measured: a cold service (its accept loop not yet compiled, the
    /// thread pool not yet grown) can fall more than the 4,096 backlog behind a client that opens
    /// 5,000 in about a second, and Linux drops SYNs then too (ListenOverflows). The claim is about
    /// a warm listener.
    /// </summary>
    private const int WarmUp = 500;
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(600);

    /// <summary>
    /// Against the discard service, on the default thread pool. The service's accept loop used to be
    /// an async loop on the pool, and this test host holds two of this machine's two default workers
    /// (its message loop, and this test blocked in Process.WaitForExit): the pool ran nothing until
    /// its starvation logic added a thread, the 4,096 backlog overflowed and one SYN went unanswered
    /// in every run (issue 13). The service now accepts on a thread of its own;
    /// ServiceAcceptStarvedPoolTests holds the whole pool to show it.
    /// </summary>
    [PeerFact]
    public void KernelConnectClose_ToStackService_NoSynRetransmitted()
    {
        using var peer = TcpPeerKit.NewPeer(Impairment.None);
        using var services = ServiceHost.Start(peer.Net, "discard");
        RunAndAssert(peer, 9);
        var discard = services.Find("discard")!;
        Assert.True(TapPeer.WaitUntil(() => Interlocked.Read(ref discard.Completed) == WarmUp + Connections, TimeSpan.FromSeconds(60)), services.FormatStats());
    }

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
                    accepted++;
                }
            }
            catch (Exception e)
            {
                ended = e; // the listener closed under the blocked accept()
            }
        }) { IsBackground = true, Name = "test-acceptor" };
        acceptor.Start();
        RunAndAssert(peer, 7070);
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
