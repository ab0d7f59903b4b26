using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;
using NetStack.Uapi;
using NetStack.Wire;
using Xunit.Abstractions;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Tcp;

/// <summary>
/// The connection's life between two stacks in steady state (issue 13): socket, connect (SYN,
/// SYN-ACK, ACK), accept, a little data, close on both sides (the FIN exchange), TIME_WAIT and its
/// expiry. Measured per connection once warm, on the one thread that drives both stacks.
/// </summary>
public class TcpConnectionAllocTests(ITestOutputHelper output)
{
    private const ushort Port = 5000;
    private static readonly byte[] Request = "hello"u8.ToArray();
    private readonly byte[] _buf = new byte[64];

    /// <summary>One connection from A to B's listener, its data, and both closes; the client ends in TIME_WAIT.</summary>
    private int OneConnection(TwoStacks s, int lfd)
    {
        int cfd = TcpTwoStackTests.Sock(s.A);
        if (SocketCalls.Connect(s.A.Files, cfd, SockAddr.In(TwoStacks.AddrB, Port)) != -Errno.EINPROGRESS) throw new Exception("connect");
        s.Pump();
        int afd = SocketCalls.Accept4(s.B.Files, lfd, out _, SOCK_NONBLOCK);
        if (afd < 0) throw new Exception($"accept: {afd}");
        if (SocketCalls.Send(s.A.Files, cfd, Request, 0) != Request.Length) throw new Exception("send");
        s.Pump();
        if (SocketCalls.Recv(s.B.Files, afd, _buf, 0) != Request.Length) throw new Exception("recv");
        // The client closes first (FIN_WAIT_1, FIN_WAIT_2), the server reads the end and closes (LAST_ACK).
        SocketCalls.Close(s.A.Files, cfd);
        s.Pump();
        if (SocketCalls.Recv(s.B.Files, afd, _buf, 0) != 0) throw new Exception("no end of stream");
        SocketCalls.Close(s.B.Files, afd);
        s.Pump();
        return 1;
    }

    /// <summary><paramref name="n"/> connections, then long enough for their TIME_WAITs to expire (TCP_TIMEWAIT_LEN, 60 s).</summary>
    private int Connections(TwoStacks s, int lfd, int n)
    {
        int done = 0;
        for (int i = 0; i < n; i++) done += OneConnection(s, lfd);
        s.RunFor(61_000);
        return done;
    }

    private static long Size(Action create)
    {
        create();
        long before = GC.GetAllocatedBytesForCurrentThread();
        create();
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    [Fact]
    public void ConnectDataCloseTimeWait_SteadyState_AllocatesAtMostTheConnectionsObjects()
    {
        using var s = new TwoStacks();
        int lfd = TcpTwoStackTests.Sock(s.B);
        Assert.Equal(0, SocketCalls.Bind(s.B.Files, lfd, SockAddr.In(TwoStacks.AddrB, Port)));
        Assert.Equal(0, SocketCalls.Listen(s.B.Files, lfd, 128));
        // Warm up: pools, hash tables, fd tables, timer heap, JIT.
        Connections(s, lfd, 300);
        Connections(s, lfd, 300);
        long opens0 = s.A.Mib.Tcp[TcpMib.ActiveOpens];
        long tw0 = s.A.Mib.TcpExt[LinuxMib.TW];
        var twCache = s.A.Ipv4.TcpTwCache;
        var bucketCache = s.A.Ipv4.TcpHashinfo.BindBucketCachep;
        var reqCache = s.B.Ipv4.TcpRequestSockCache;
        (long, long, long) grown0 = (twCache.Grown, bucketCache.Grown, reqCache.Grown);

        const int N = 200;
        int windows = 0;
        long allocated = SteadyState.LeastAllocated(() =>
        {
            windows++;
            Connections(s, lfd, N);
        });
        output.WriteLine($"{allocated} bytes for {N} connections: {(double)allocated / N:F1} per connection");
        output.WriteLine($"of which, per object: TcpSock {Size(() => new TcpSock())} (two), BsdSocket {Size(() => new BsdSocket(s.A))} (two), " +
            $"TcpRequestSock {Size(() => new TcpRequestSock())}, TcpTimewaitSock {Size(() => new TcpTimewaitSock(s.A))}, " +
            $"InetBindBucket {Size(() => new InetBindBucket(1).Owners.Add(null!))}");

        Assert.Equal(windows * N, s.A.Mib.Tcp[TcpMib.ActiveOpens] - opens0);
        Assert.Equal(windows * N, s.A.Mib.TcpExt[LinuxMib.TW] - tw0);
        Assert.InRange(allocated, 0, N * PerConnection);
        // The request, TIME_WAIT and bind bucket of every measured connection came from the caches
        // (none had to grow), and all went back: none is active once the TIME_WAITs are over.
        Assert.Equal(grown0, (twCache.Grown, bucketCache.Grown, reqCache.Grown));
        Assert.Equal((0L, 0L, 0L), (twCache.ActiveObjs, bucketCache.ActiveObjs, reqCache.ActiveObjs));
    }

    /// <summary>
    /// What a connection may allocate, both ends together. Measured on 7 December 2026: 4,400 bytes,
    /// the two TcpSocks (1,840 bytes each with their timers, queues and wait queue: the client's
    /// and the accepted child, which Linux takes from the TCP slab cache), the two BsdSockets (88
    /// each), and some 540 bytes in smaller pieces made on the way (CUBIC's private state, a SACK
    /// block array, the fd). The request sock, the TIME_WAIT sock and the client port's bind bucket
    /// (640 bytes until then) now come from their KmemCaches. The TcpSock and BsdSocket are not
    /// pooled: the user's socket, the managed API's waiters and the fd table may still hold them
    /// after close, and the stack has no sk_refcnt (sock_hold/sock_put) to tell when the last
    /// reference goes. The bound is 4.5 KiB, room for a field or two: anything kept per connection by
    /// mistake (a closure, a list that grows, a buffer) costs far more. The per-packet path
    /// allocates nothing (TcpZeroAllocTests).
    /// </summary>
    private const long PerConnection = 4608;
}
