using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;

namespace NetStack.Tests.Tcp;

/// <summary>
/// net.ipv4.tcp_backlog_ack_defer: inside a receive batch (what a receive thread's NAPI-style poll
/// of up to 64 frames is), an ACK due at once is deferred to the batch's end (TCP_ACK_DEFERRED,
/// sent by tcp_release_cb()), so the batch's in-order segments of a connection get one ACK, as
/// Linux sends one for the segments GRO merged or its socket backlog held.
/// </summary>
public class TcpAckDeferTests
{
    /// <summary>B receives what A sent in one batch, as SoftIrq's receive loop runs it; returns the segments B sent.</summary>
    private static long ReceiveAsOneBatch(TwoStacks s)
    {
        long outSegs = s.B.Mib.Tcp[TcpMib.OutSegs];
        lock (s.B.SyncRoot) s.B.InRxBatch = true;
        s.B.Poll();
        lock (s.B.SyncRoot)
        {
            s.B.InRxBatch = false;
            s.B.RunDeferredRelease();
        }
        return s.B.Mib.Tcp[TcpMib.OutSegs] - outSegs;
    }

    [Theory]
    [InlineData(true, 1)]
    [InlineData(false, 10)] // quick-ACK mode at the start: every segment
    public void TenSegmentsInOneBatch_AreAcknowledged(bool defer, int acks)
    {
        using var s = new TwoStacks();
        Assert.Equal(0, s.B.Sysctl.TrySet("net.ipv4.tcp_backlog_ack_defer", defer ? "1" : "0"));
        var (_, cfd, afd) = TcpTwoStackTests.Connect(s);
        var client = (TcpSock)s.A.Files.Lookup(cfd)!.Sk!;
        var server = (TcpSock)s.B.Files.Lookup(afd)!.Sk!;
        int refs = server.SkRefcnt;
        var data = new byte[10 * (int)client.MssCache];
        Assert.Equal(data.Length, SocketCalls.Send(s.A.Files, cfd, data, 0)); // the initial window: 10 segments
        s.A.Poll();

        Assert.Equal(acks, ReceiveAsOneBatch(s));
        Assert.False(server.AckDeferred);
        Assert.Equal(refs, server.SkRefcnt); // the batch's reference was dropped
        s.Pump();
        Assert.Equal(client.SndNxt, client.SndUna); // everything acknowledged
        Assert.Equal(data.Length, SocketCalls.Recv(s.B.Files, afd, new byte[data.Length], 0));
    }

    [Fact]
    public void OutsideABatch_AnAckIsNotDeferred()
    {
        using var s = new TwoStacks();
        var (_, cfd, _) = TcpTwoStackTests.Connect(s);
        var client = (TcpSock)s.A.Files.Lookup(cfd)!.Sk!;
        long outSegs = s.B.Mib.Tcp[TcpMib.OutSegs];
        Assert.Equal(4 * (int)client.MssCache, SocketCalls.Send(s.A.Files, cfd, new byte[4 * (int)client.MssCache], 0));
        s.Pump();
        Assert.Equal(4, s.B.Mib.Tcp[TcpMib.OutSegs] - outSegs);
        Assert.Equal(client.SndNxt, client.SndUna);
    }

    [Fact]
    public void AnAckCarriedByDataInTheBatch_IsNotSentAgain()
    {
        using var s = new TwoStacks();
        var (_, cfd, afd) = TcpTwoStackTests.Connect(s);
        var client = (TcpSock)s.A.Files.Lookup(cfd)!.Sk!;
        var server = (TcpSock)s.B.Files.Lookup(afd)!.Sk!;
        Assert.Equal(4 * (int)client.MssCache, SocketCalls.Send(s.A.Files, cfd, new byte[4 * (int)client.MssCache], 0));
        s.A.Poll();
        long outSegs = s.B.Mib.Tcp[TcpMib.OutSegs];
        lock (s.B.SyncRoot) s.B.InRxBatch = true;
        s.B.Poll();
        Assert.True(server.AckDeferred);
        // B answers inside the batch (as an inline echo would): its data segment carries the ACK.
        Assert.Equal(100, SocketCalls.Send(s.B.Files, afd, new byte[100], 0));
        lock (s.B.SyncRoot)
        {
            s.B.InRxBatch = false;
            s.B.RunDeferredRelease();
        }
        Assert.Equal(1, s.B.Mib.Tcp[TcpMib.OutSegs] - outSegs);
        s.Pump();
        Assert.Equal(client.SndNxt, client.SndUna);
    }
}
