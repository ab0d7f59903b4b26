using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Ipv4;

/// <summary>
/// SO_REUSEPORT groups (net/core/sock_reuseport.c): members share a port and the flow hash
/// spreads connections and datagrams among them, a 4-tuple always to the same member; a closed
/// member leaves the group.
/// </summary>
public class ReuseportTests
{
    private static readonly uint A = TwoStacks.AddrA, B = TwoStacks.AddrB;
    private const ushort ServerPort = 9000;
    private const int Members = 4, Flows = 400;
    private const ushort FirstClientPort = 20000;

    private static int ReuseportSocket(FdTable f, int type, ushort port)
    {
        int fd = SocketCalls.Socket(f, AF_INET, type | SOCK_NONBLOCK, 0);
        Assert.True(fd >= 3, Errno.Name(fd));
        Assert.Equal(0, SocketCalls.Setsockopt(f, fd, SOL_SOCKET, SO_REUSEPORT, 1));
        Assert.Equal(0, SocketCalls.Bind(f, fd, SockAddr.In(0u, port)));
        return fd;
    }

    /// <summary>Resolves both neighbours first, so no SYN waits in (or is dropped from) an ARP queue.</summary>
    private static TwoStacks Stacks()
    {
        var s = new TwoStacks();
        int c = SocketCalls.Socket(s.A.Files, AF_INET, SOCK_DGRAM, 0);
        Assert.Equal(1, SocketCalls.Sendto(s.A.Files, c, "w"u8, 0, SockAddr.In(B, 9)));
        s.Pump(); // B answers port unreachable, so each has learnt the other
        Assert.Equal(0, SocketCalls.Close(s.A.Files, c));
        return s;
    }

    private static int[] Listeners(NetNamespace net, int n)
    {
        var l = new int[n];
        for (int i = 0; i < n; i++)
        {
            l[i] = ReuseportSocket(net.Files, SOCK_STREAM, ServerPort);
            Assert.Equal(0, SocketCalls.Listen(net.Files, l[i], 1024));
        }
        return l;
    }

    /// <summary>Connects from each client port (a fresh socket bound to it), then accepts everything: client port -&gt; listener index.</summary>
    private static Dictionary<ushort, int> ConnectAndAccept(TwoStacks s, int[] listeners, IEnumerable<ushort> ports, bool abortAfter)
    {
        var clients = new List<int>();
        foreach (ushort p in ports)
        {
            int c = SocketCalls.Socket(s.A.Files, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            Assert.Equal(0, SocketCalls.Bind(s.A.Files, c, SockAddr.In(A, p)));
            Assert.Equal(-Errno.EINPROGRESS, SocketCalls.Connect(s.A.Files, c, SockAddr.In(B, ServerPort)));
            clients.Add(c);
        }
        s.Pump();
        var map = new Dictionary<ushort, int>();
        for (int i = 0; i < listeners.Length; i++)
        {
            if (listeners[i] < 0) continue;
            int a;
            while ((a = SocketCalls.Accept4(s.B.Files, listeners[i], out var peer, 0)) >= 0)
            {
                Assert.Equal(A, peer.Addr);
                map.Add(peer.Port, i);
                if (abortAfter) Assert.Equal(0, SocketCalls.Close(s.B.Files, a));
            }
            Assert.Equal(-Errno.EAGAIN, a);
        }
        if (abortAfter)
        {
            // SO_LINGER {1, 0}: the client aborts with a RST, so no TIME_WAIT keeps the 4-tuple.
            var linger = new byte[8];
            linger[0] = 1;
            foreach (int c in clients)
            {
                Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, c, SOL_SOCKET, SO_LINGER, linger));
                Assert.Equal(0, SocketCalls.Close(s.A.Files, c));
            }
            s.Pump();
        }
        return map;
    }

    private static IEnumerable<ushort> Ports(int n, ushort first = FirstClientPort)
    {
        for (int i = 0; i < n; i++) yield return (ushort)(first + i);
    }

    [Fact]
    public void Tcp_FourListeners_SpreadConnections_SameTupleSameListener_ClosedMemberLeaves()
    {
        using var s = Stacks();
        var l = Listeners(s.B, Members);
        var first = ConnectAndAccept(s, l, Ports(Flows), abortAfter: true);
        Assert.Equal(Flows, first.Count);
        var perListener = new int[Members];
        foreach (int i in first.Values) perListener[i]++;
        Assert.All(perListener, n => Assert.True(n > 0, string.Join(",", perListener)));

        // The same 4-tuples again: each lands on the listener it landed on before.
        var again = ConnectAndAccept(s, l, Ports(Flows), abortAfter: true);
        Assert.Equal(first, again);

        // A closed member leaves the group: the other three take every connection.
        Assert.Equal(0, SocketCalls.Close(s.B.Files, l[2]));
        l[2] = -1;
        var listener0 = (Sock)s.B.Ipv4.TcpHashinfo.Lhash[ServerPort][0];
        Assert.Equal(Members - 1, listener0.ReuseportCb!.Count);
        var third = ConnectAndAccept(s, l, Ports(Flows), abortAfter: true);
        Assert.Equal(Flows, third.Count);
        var after = new int[Members];
        foreach (int i in third.Values) after[i]++;
        Assert.Equal(0, after[2]);
        Assert.True(after[0] > 0 && after[1] > 0 && after[3] > 0, string.Join(",", after));
    }

    [Fact]
    public void Tcp_ListenerWithoutReuseport_JoinsNoGroup_AndBindConflicts()
    {
        using var s = Stacks();
        var f = s.B.Files;
        int a = ReuseportSocket(f, SOCK_STREAM, ServerPort);
        Assert.Equal(0, SocketCalls.Listen(f, a, 16));
        // Without SO_REUSEPORT the port is taken.
        int plain = SocketCalls.Socket(f, AF_INET, SOCK_STREAM, 0);
        Assert.Equal(-Errno.EADDRINUSE, SocketCalls.Bind(f, plain, SockAddr.In(0u, ServerPort)));
        // Another user's SO_REUSEPORT socket may not share it (sk_reuseport_match: same owner).
        var other = new FdTable(s.B) { Uid = 1000 };
        int o = SocketCalls.Socket(other, AF_INET, SOCK_STREAM, 0);
        Assert.Equal(0, SocketCalls.Setsockopt(other, o, SOL_SOCKET, SO_REUSEPORT, 1));
        Assert.Equal(-Errno.EADDRINUSE, SocketCalls.Bind(other, o, SockAddr.In(0u, ServerPort)));
        // A listener on the specific address is a separate group, and the specific address wins.
        int spec = SocketCalls.Socket(f, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        Assert.Equal(0, SocketCalls.Setsockopt(f, spec, SOL_SOCKET, SO_REUSEPORT, 1));
        Assert.Equal(0, SocketCalls.Bind(f, spec, SockAddr.In(B, ServerPort)));
        Assert.Equal(0, SocketCalls.Listen(f, spec, 64));
        var lhash = s.B.Ipv4.TcpHashinfo.Lhash[ServerPort];
        Assert.NotSame(((Sock)lhash[0]).ReuseportCb, ((Sock)lhash[1]).ReuseportCb);
        var map = ConnectAndAccept(s, new[] { a, spec }, Ports(20), abortAfter: false);
        Assert.Equal(20, map.Count);
        Assert.All(map.Values, i => Assert.Equal(1, i));
    }

    [Fact]
    public void Udp_FourSockets_SpreadDatagrams_SameTupleSameSocket_ClosedMemberLeaves()
    {
        using var s = Stacks();
        var socks = new int[Members];
        for (int i = 0; i < Members; i++) socks[i] = ReuseportSocket(s.B.Files, SOCK_DGRAM, ServerPort);

        Dictionary<ushort, int> Round()
        {
            var map = new Dictionary<ushort, int>();
            var buf = new byte[16];
            foreach (ushort p in Ports(Flows))
            {
                int c = SocketCalls.Socket(s.A.Files, AF_INET, SOCK_DGRAM, 0);
                Assert.Equal(0, SocketCalls.Bind(s.A.Files, c, SockAddr.In(A, p)));
                Assert.Equal(2, SocketCalls.Sendto(s.A.Files, c, "hi"u8, 0, SockAddr.In(B, ServerPort)));
                Assert.Equal(0, SocketCalls.Close(s.A.Files, c));
                s.Pump();
                // Drained after each datagram, so no receive buffer fills.
                for (int i = 0; i < Members; i++)
                {
                    if (socks[i] < 0) continue;
                    int n;
                    while ((n = SocketCalls.Recvfrom(s.B.Files, socks[i], buf, 0, out var from)) >= 0)
                    {
                        Assert.Equal(2, n);
                        map.Add(from.Port, i);
                    }
                    Assert.Equal(-Errno.EAGAIN, n);
                }
            }
            return map;
        }

        var first = Round();
        Assert.Equal(Flows, first.Count);
        var per = new int[Members];
        foreach (int i in first.Values) per[i]++;
        Assert.All(per, n => Assert.True(n > 0, string.Join(",", per)));
        Assert.Equal(first, Round());

        Assert.Equal(0, SocketCalls.Close(s.B.Files, socks[1]));
        socks[1] = -1;
        var third = Round();
        Assert.Equal(Flows, third.Count);
        var after = new int[Members];
        foreach (int i in third.Values) after[i]++;
        Assert.Equal(0, after[1]);
        Assert.True(after[0] > 0 && after[2] > 0 && after[3] > 0, string.Join(",", after));
    }

    [Fact]
    public void Udp_ConnectedMember_GetsItsPeer_OthersStillSpread()
    {
        using var s = Stacks();
        var f = s.B.Files;
        var socks = new int[Members];
        for (int i = 0; i < Members; i++)
        {
            socks[i] = SocketCalls.Socket(f, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
            Assert.Equal(0, SocketCalls.Setsockopt(f, socks[i], SOL_SOCKET, SO_REUSEPORT, 1));
            Assert.Equal(0, SocketCalls.Bind(f, socks[i], SockAddr.In(B, ServerPort)));
        }
        // Connecting with a bound address keeps the member in the group and marks it has_conns:
        // the lookup then scores, and the connected member's exact match wins for its peer.
        Assert.Equal(0, SocketCalls.Connect(f, socks[3], SockAddr.In(A, 20000)));
        var buf = new byte[16];
        for (ushort p = 20000; p < 20000 + 64; p++)
        {
            int c = SocketCalls.Socket(s.A.Files, AF_INET, SOCK_DGRAM, 0);
            Assert.Equal(0, SocketCalls.Bind(s.A.Files, c, SockAddr.In(A, p)));
            Assert.Equal(1, SocketCalls.Sendto(s.A.Files, c, "x"u8, 0, SockAddr.In(B, ServerPort)));
            Assert.Equal(0, SocketCalls.Close(s.A.Files, c));
        }
        s.Pump();
        int got3 = 0, gotOthers = 0;
        for (int i = 0; i < Members; i++)
            while (SocketCalls.Recvfrom(f, socks[i], buf, 0, out var from) >= 0)
            {
                if (i == 3) { Assert.Equal(20000, from.Port); got3++; }
                else gotOthers++;
            }
        Assert.Equal(1, got3);
        Assert.Equal(63, gotOthers);
    }

    [Fact]
    public void Udp_BindConflicts_FollowUdpLibLportInuse()
    {
        using var s = Stacks();
        var f = s.B.Files;
        ReuseportSocket(f, SOCK_DGRAM, 9100);
        int plain = SocketCalls.Socket(f, AF_INET, SOCK_DGRAM, 0);
        Assert.Equal(-Errno.EADDRINUSE, SocketCalls.Bind(f, plain, SockAddr.In(0u, 9100)));
        var other = new FdTable(s.B) { Uid = 1000 };
        int o = SocketCalls.Socket(other, AF_INET, SOCK_DGRAM, 0);
        Assert.Equal(0, SocketCalls.Setsockopt(other, o, SOL_SOCKET, SO_REUSEPORT, 1));
        Assert.Equal(-Errno.EADDRINUSE, SocketCalls.Bind(other, o, SockAddr.In(0u, 9100)));
        ReuseportSocket(f, SOCK_DGRAM, 9100);
        var slot = s.B.Ipv4.UdpTable.Slot(9100)!;
        Assert.Equal(2, slot.Count);
        Assert.Same(slot[0].ReuseportCb, slot[1].ReuseportCb);
        Assert.Equal(2, slot[0].ReuseportCb!.Count);
    }

    [Fact]
    public void Lookup_IsAllocationFree()
    {
        using var s = Stacks();
        Listeners(s.B, Members);
        var net = s.B;
        TcpSock? last = null;
        // The least of several runs (SteadyState): a single measurement also counts what the
        // runtime allocates on this thread while the tiered JIT replaces the loop's code (it failed
        // once in a full run, 0 bytes in every run alone).
        Assert.Equal(0, SteadyState.LeastAllocated(() =>
        {
            for (int i = 0; i < 10000; i++) last = InetHashtables.InetLookupListener(net, A, (ushort)(30000 + i), B, ServerPort, 1);
        }));
        Assert.NotNull(last);
    }
}
