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
        long before = SteadyState.ThreadAllocatedBytes();
        create();
        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    [Fact]
    public void ConnectDataCloseTimeWait_SteadyState_AllocatesNothing()
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
        KmemCache<TcpSock> tcpA = s.A.Ipv4.TcpSockCache, tcpB = s.B.Ipv4.TcpSockCache;
        KmemCache<BsdSocket> inodeA = s.A.SockInodeCache, inodeB = s.B.SockInodeCache;
        (long, long, long, long) sockGrown0 = (tcpA.Grown, tcpB.Grown, inodeA.Grown, inodeB.Grown);

        const int N = 200;
        int windows = 0;
        long allocated = SteadyState.LeastAllocated(() =>
        {
            windows++;
            Connections(s, lfd, N);
        });
        output.WriteLine($"{allocated} bytes for {N} connections: {(double)allocated / N:F1} per connection");
        output.WriteLine($"what the caches spare, per object: TcpSock {Size(() => new TcpSock())} (two), BsdSocket {Size(() => new BsdSocket(s.A))} (two), " +
            $"TcpRequestSock {Size(() => new TcpRequestSock())}, TcpTimewaitSock {Size(() => new TcpTimewaitSock(s.A))}, " +
            $"InetBindBucket {Size(() => new InetBindBucket(1).Owners.Add(null!))}");

        Assert.Equal(windows * N, s.A.Mib.Tcp[TcpMib.ActiveOpens] - opens0);
        Assert.Equal(windows * N, s.A.Mib.TcpExt[LinuxMib.TW] - tw0);
        Assert.Equal(N * PerConnection, allocated);
        // The request, TIME_WAIT and bind bucket of every measured connection came from the caches
        // (none had to grow), and all went back: none is active once the TIME_WAITs are over.
        Assert.Equal(grown0, (twCache.Grown, bucketCache.Grown, reqCache.Grown));
        Assert.Equal((0L, 0L, 0L), (twCache.ActiveObjs, bucketCache.ActiveObjs, reqCache.ActiveObjs));
        // So did both TcpSocks and both BsdSockets (sk_refcnt: each went back when its last
        // reference did): A's only active ones are none, B's the listener and its socket.
        output.WriteLine($"caches: A {tcpA} {inodeA}, B {tcpB} {inodeB}");
        Assert.Equal(sockGrown0, (tcpA.Grown, tcpB.Grown, inodeA.Grown, inodeB.Grown));
        Assert.Equal((0L, 1L, 0L, 1L), (tcpA.ActiveObjs, tcpB.ActiveObjs, inodeA.ActiveObjs, inodeB.ActiveObjs));
        Assert.Equal(0, s.A.Mib.Kernel[KernelMib.RefcountWarn] + s.B.Mib.Kernel[KernelMib.RefcountWarn]);
        Assert.Equal(0, s.A.Mib.Kernel[KernelMib.SkFreeBusy] + s.B.Mib.Kernel[KernelMib.SkFreeBusy]);
    }

    /// <summary>
    /// What a connection may allocate, both ends together: nothing. Measured on 7 December 2026:
    /// 0 bytes (it was 4,400 before the socks were counted: the two TcpSocks, 1,840 bytes each, the
    /// two BsdSockets, 88 each, and CUBIC's private state, 80 each). Every object of a connection
    /// now comes from a cache: the request sock, the TIME_WAIT sock and the client port's bind
    /// bucket (KmemCache), both TcpSocks ("TCP": back when their last reference goes, sk_refcnt),
    /// both BsdSockets (sock_inode_cache: back when their last descriptor closes), and the
    /// congestion control's private state (kept with its sock, zeroed when the next algorithm of its
    /// kind takes it, as icsk_ca_priv is). The per-packet path allocates nothing (TcpZeroAllocTests).
    /// </summary>
    private const long PerConnection = 0;
}
