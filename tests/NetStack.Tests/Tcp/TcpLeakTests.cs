using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Tcp;

/// <summary>After connections end, every buffer is back in its pool, every timer is gone and the tables are empty.</summary>
public class TcpLeakTests
{
    private static void AssertClean(TwoStacks s)
    {
        foreach (var net in new[] { s.A, s.B })
        {
            lock (net.SyncRoot)
            {
                Assert.Empty(net.Ipv4.TcpHashinfo.Ehash);
                Assert.Empty(net.Ipv4.TcpHashinfo.Bhash);
                Assert.Equal(0, net.Ipv4.TcpHashinfo.ListenerCount);
                Assert.Equal(0, net.Ipv4.TcpOrphanCount);
                Assert.Equal(0, net.Mib.Tcp[TcpMib.CurrEstab]);
                Assert.Equal(net.SkbPool.Total, net.SkbPool.FreeCount);
            }
        }
    }

    [Fact]
    public void FaultyTransfer_ThenCloseAndTimeWait_EverythingReturned()
    {
        // Run() closes its sockets and lets TIME_WAIT and retransmissions finish, then checks the
        // tables are empty and every buffer is back in its pool.
        var r = TcpFaultTransferTests.Run(77, 2 << 20);
        Assert.True(r.AtoB && r.BtoA && r.Clean, r.ToString());
    }

    [Fact]
    public void ManyConnections_OpenTransferClose_NoLeaks()
    {
        using var s = new TwoStacks();
        s.Pump();
        int lfd = TcpTwoStackTests.Sock(s.B);
        Assert.Equal(0, SocketCalls.Bind(s.B.Files, lfd, SockAddr.In(TwoStacks.AddrB, 7000)));
        Assert.Equal(0, SocketCalls.Listen(s.B.Files, lfd, 128));
        var buf = new byte[4096];
        for (int round = 0; round < 3; round++)
        {
            var clients = new List<int>();
            var servers = new List<int>();
            for (int i = 0; i < 50; i++)
            {
                int c = TcpTwoStackTests.Sock(s.A);
                SocketCalls.Connect(s.A.Files, c, SockAddr.In(TwoStacks.AddrB, 7000));
                clients.Add(c);
            }
            s.Pump();
            int a;
            while ((a = SocketCalls.Accept4(s.B.Files, lfd, out _, SOCK_NONBLOCK)) >= 0) servers.Add(a);
            Assert.Equal(50, servers.Count);
            foreach (var c in clients) Assert.Equal(3000, SocketCalls.Send(s.A.Files, c, new byte[3000], 0));
            s.Pump();
            foreach (var sv in servers)
            {
                int got = 0, n;
                while ((n = SocketCalls.Recv(s.B.Files, sv, buf, 0)) > 0) got += n;
                Assert.Equal(3000, got);
            }
            // Half the servers close first (they get TIME_WAIT), half the clients do.
            for (int i = 0; i < 50; i++)
            {
                if (i % 2 == 0) { SocketCalls.Close(s.B.Files, servers[i]); s.Pump(); SocketCalls.Close(s.A.Files, clients[i]); }
                else { SocketCalls.Close(s.A.Files, clients[i]); s.Pump(); SocketCalls.Close(s.B.Files, servers[i]); }
                s.Pump();
            }
            s.RunFor(61_000);
        }
        SocketCalls.Close(s.B.Files, lfd);
        s.RunFor(1000);
        AssertClean(s);
        lock (s.A.SyncRoot) lock (s.B.SyncRoot)
        {
            // Only the neighbour timers may remain.
            Assert.Equal(150, s.A.Mib.Tcp[TcpMib.ActiveOpens]);
            Assert.Equal(150, s.B.Mib.Tcp[TcpMib.PassiveOpens]);
        }
    }

    [Fact]
    public void AbortsAndResets_NoLeaks()
    {
        using var s = new TwoStacks();
        int lfd = TcpTwoStackTests.Sock(s.B);
        Assert.Equal(0, SocketCalls.Bind(s.B.Files, lfd, SockAddr.In(TwoStacks.AddrB, 7001)));
        Assert.Equal(0, SocketCalls.Listen(s.B.Files, lfd, 128));
        for (int i = 0; i < 20; i++)
        {
            int c = TcpTwoStackTests.Sock(s.A);
            SocketCalls.Connect(s.A.Files, c, SockAddr.In(TwoStacks.AddrB, 7001));
            s.Pump();
            SocketCalls.Send(s.A.Files, c, new byte[10_000], 0);
            s.Pump();
            // Unread data: the server's close resets; the client sees ECONNRESET and closes too.
            int sv = SocketCalls.Accept4(s.B.Files, lfd, out _, SOCK_NONBLOCK);
            Assert.True(sv >= 0);
            SocketCalls.Close(s.B.Files, sv);
            s.Pump();
            Assert.Equal(-Errno.ECONNRESET, SocketCalls.Recv(s.A.Files, c, new byte[16], 0));
            SocketCalls.Close(s.A.Files, c);
            s.Pump();
        }
        // Connections still in the accept queue when the listener closes.
        for (int i = 0; i < 5; i++)
        {
            int c = TcpTwoStackTests.Sock(s.A);
            SocketCalls.Connect(s.A.Files, c, SockAddr.In(TwoStacks.AddrB, 7001));
            s.Pump();
            SocketCalls.Close(s.A.Files, c);
        }
        SocketCalls.Close(s.B.Files, lfd);
        s.RunFor(70_000);
        AssertClean(s);
    }
}
