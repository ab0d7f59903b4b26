using BenchmarkDotNet.Attributes;
using NetStack.Core;
using NetStack.Net;
using NetStack.Tests;
using NetStack.Uapi;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Benchmarks;

/// <summary>
/// The TCP established fast path between two stacks on an in-memory link, on one thread with a
/// virtual clock (no TAP, no system calls, no thread hand-offs): what the stack's own code costs
/// per byte and per round trip. tcp_sendmsg, tcp_write_xmit, ip_queue_xmit, the link, ip_rcv,
/// tcp_v4_rcv, tcp_rcv_established's fast path, tcp_recvmsg and the ACKs back.
/// </summary>
[MemoryDiagnoser]
public class TcpFastPathBenchmarks
{
    private TwoStacks _s = null!;
    private int _cfd, _afd;
    private readonly byte[] _chunk = new byte[65536];
    private readonly byte[] _buf = new byte[65536];
    private readonly byte[] _one = [42];

    [GlobalSetup]
    public void Setup()
    {
        _s = new TwoStacks();
        (_cfd, _afd) = Connect(_s, 5000);
        // Warm up the pools, the send buffer's growth and the window before measuring.
        for (int i = 0; i < 256; i++) Bulk64KiB();
    }

    [GlobalCleanup]
    public void Cleanup() => _s.Dispose();

    /// <summary>64 KiB from A to B: sent, segmented, carried, received, acknowledged and read.</summary>
    [Benchmark]
    public long Bulk64KiB()
    {
        long sent = 0, got = 0;
        while (got < _chunk.Length)
        {
            if (sent < _chunk.Length)
            {
                int n = SocketCalls.Send(_s.A.Files, _cfd, _chunk.AsSpan((int)sent), 0);
                if (n > 0) sent += n;
            }
            int work = _s.Pump();
            int r;
            while ((r = SocketCalls.Recv(_s.B.Files, _afd, _buf, 0)) > 0) { got += r; work++; }
            if (work == 0) _s.RunFor(10); // a delayed ACK or window update pending on a timer
        }
        return got;
    }

    /// <summary>One byte from A to B and one back: the request/response path, two segments and their ACKs.</summary>
    [Benchmark]
    public int RequestResponse1Byte()
    {
        SocketCalls.Send(_s.A.Files, _cfd, _one, 0);
        _s.Pump();
        int r = SocketCalls.Recv(_s.B.Files, _afd, _buf, 0);
        SocketCalls.Send(_s.B.Files, _afd, _one, 0);
        _s.Pump();
        r += SocketCalls.Recv(_s.A.Files, _cfd, _buf, 0);
        return r;
    }

    /// <summary>A listener on B, a non-blocking connect from A, the accepted socket: (client fd, accepted fd).</summary>
    internal static (int cfd, int afd) Connect(TwoStacks s, ushort port)
    {
        int lfd = SocketCalls.Socket(s.B.Files, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        Check(SocketCalls.Bind(s.B.Files, lfd, SockAddr.In(TwoStacks.AddrB, port)), "bind");
        Check(SocketCalls.Listen(s.B.Files, lfd, 16), "listen");
        int cfd = SocketCalls.Socket(s.A.Files, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        SocketCalls.Connect(s.A.Files, cfd, SockAddr.In(TwoStacks.AddrB, port)); // EINPROGRESS
        s.Pump();
        int afd = SocketCalls.Accept4(s.B.Files, lfd, out _, SOCK_NONBLOCK);
        Check(afd, "accept");
        return (cfd, afd);
    }

    private static void Check(int rc, string what)
    {
        if (rc < 0) throw new InvalidOperationException($"{what}: errno {-rc}");
    }
}
