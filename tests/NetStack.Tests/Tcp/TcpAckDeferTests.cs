using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;
using static NetStack.Uapi.SocketConstants;

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

    /// <summary>A's window grown and B out of quick-ACK mode by 4 MB moved, B's SO_RCVLOWAT at 1 MB.</summary>
    private static (TcpSock client, int cfd, int afd) WarmWithRcvlowat(TwoStacks s)
    {
        var (_, cfd, afd) = TcpTwoStackTests.Connect(s);
        var buf = new byte[65536];
        for (long moved = 0; moved < 4 << 20;)
        {
            SocketCalls.Send(s.A.Files, cfd, buf, 0);
            s.Pump();
            int r;
            while ((r = SocketCalls.Recv(s.B.Files, afd, buf, 0)) > 0) moved += r;
        }
        s.Pump();
        // Less than the mark unread: an ACK is due at once even while the window, at its clamp,
        // shrinks under the unread data (__tcp_ack_snd_check()'s SO_RCVLOWAT clause).
        Assert.Equal(0, SocketCalls.Setsockopt(s.B.Files, afd, SOL_SOCKET, SO_RCVLOWAT, 1 << 20));
        return ((TcpSock)s.A.Files.Lookup(cfd)!.Sk!, cfd, afd);
    }

    [Fact]
    public void FortySixSegmentsInOneBatch_AreAcknowledgedAsTwoGroPackets()
    {
        using var s = new TwoStacks();
        var (client, cfd, _) = WarmWithRcvlowat(s);
        int mss = (int)client.MssCache;
        Assert.Equal(46 * mss, SocketCalls.Send(s.A.Files, cfd, new byte[46 * mss], 0));
        s.A.Poll();
        Assert.Equal(46u * (uint)mss, client.SndNxt - client.SndUna); // all 46 on the link

        // 64 KB hold 44 segments of 1,448 bytes: an ACK when the 45th would not fit, one at the batch's end.
        Assert.Equal(2, ReceiveAsOneBatch(s));
        s.Pump();
        Assert.Equal(client.SndNxt, client.SndUna);
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
