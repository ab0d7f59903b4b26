using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Tcp;

/// <summary>TCP's memory limits: tcp_mem (pressure and hard limit), tcp_rmem/tcp_wmem, tcp_max_orphans, tcp_max_tw_buckets.</summary>
public class TcpMemTests
{
    private static TcpSock Tp(NetNamespace net, int fd)
    {
        lock (net.SyncRoot) return (TcpSock)net.Files.Lookup(fd)!.Sk!;
    }

    private static byte[] Pattern(int n, int seed)
    {
        var b = new byte[n];
        new Random(seed).NextBytes(b);
        return b;
    }

    [Fact]
    public void TcpInitMem_IsLinuxFormula_AndTheSysctlShowsIt()
    {
        Assert.Equal((49152L, 65536L, 98304L), TcpMemory.TcpInitMem(1L << 20));
        // The floor of 128 pages for a tiny host.
        Assert.Equal((96L, 128L, 192L), TcpMemory.TcpInitMem(1000));
        using var s = new TwoStacks();
        Assert.True(s.A.Sysctl.TryGet("net.ipv4.tcp_mem", out var v));
        Assert.Equal("49152\t65536\t98304", v);
        Assert.Equal(0, s.A.Sysctl.TrySet("net.ipv4.tcp_mem", "10 20 30"));
        Assert.Equal(30, s.A.Ipv4.TcpMem.MemLimit(2));
        Assert.Equal(-Errno.EINVAL, s.A.Sysctl.TrySet("net.ipv4.tcp_mem", "10 20"));
        Assert.True(s.A.Sysctl.TryGet("net.ipv4.tcp_max_orphans", out v));
        Assert.Equal("16384", v);
        Assert.True(s.A.Sysctl.TryGet("net.ipv4.tcp_max_tw_buckets", out v));
        Assert.Equal("16384", v);
    }

    [Fact]
    public void TcpRmemWmem_DefaultsAreWhatNewSocketsGet()
    {
        using var s = new TwoStacks();
        Assert.Equal(0, s.A.Sysctl.TrySet("net.ipv4.tcp_rmem", "4096 65536 1048576"));
        Assert.Equal(0, s.A.Sysctl.TrySet("net.ipv4.tcp_wmem", "4096 32768 1048576"));
        int fd = TcpTwoStackTests.Sock(s.A);
        var tp = Tp(s.A, fd);
        Assert.Equal(65536, tp.RcvBuf);
        Assert.Equal(32768, tp.SndBuf);
        // tcp_rmem[2] caps the receive buffer's growth: a clamp grows it to what is used, no further.
        Assert.Equal(0, s.B.Sysctl.TrySet("net.ipv4.tcp_rmem", "4096 16384 20000"));
        var (_, cfd, afd) = TcpTwoStackTests.Connect(s);
        var data = Pattern(200_000, 3);
        SocketCalls.Send(s.A.Files, cfd, data, 0);
        s.RunFor(2000);
        Assert.True(Tp(s.B, afd).RcvBuf <= 20000, $"rcvbuf {Tp(s.B, afd).RcvBuf}");
    }

    [Fact]
    public void Accounting_ReturnsToZero_WhenEverySocketIsGone()
    {
        using var s = new TwoStacks();
        var (lfd, cfd, afd) = TcpTwoStackTests.Connect(s);
        var data = Pattern(300_000, 1);
        int sent = 0;
        var buf = new byte[65536];
        long got = 0;
        for (int i = 0; i < 10_000 && got < data.Length; i++)
        {
            if (sent < data.Length)
            {
                int n = SocketCalls.Send(s.A.Files, cfd, data.AsSpan(sent), 0);
                if (n > 0) sent += n;
            }
            s.Pump();
            if (i % 3 == 0)
            {
                int r;
                while ((r = SocketCalls.Recv(s.B.Files, afd, buf, 0)) > 0) got += r;
            }
            s.RunFor(1);
        }
        Assert.Equal(data.Length, got);
        Assert.Equal(2, s.B.Ipv4.TcpMem.SocketsAllocated); // the listener and the accepted socket
        SocketCalls.Close(s.A.Files, cfd);
        SocketCalls.Close(s.B.Files, afd);
        SocketCalls.Close(s.B.Files, lfd);
        s.RunFor(200_000);
        Assert.Equal(0, s.A.Ipv4.TcpMem.MemoryAllocated);
        Assert.Equal(0, s.B.Ipv4.TcpMem.MemoryAllocated);
        Assert.Equal(0, s.A.Ipv4.TcpMem.SocketsAllocated);
        Assert.Equal(0, s.B.Ipv4.TcpMem.SocketsAllocated);
    }

    [Fact]
    public void OverHardLimit_DataIsDroppedAndCounted_ZeroWindow_ThenRecoversWhenRead()
    {
        using var s = new TwoStacks();
        var (_, cfd, afd) = TcpTwoStackTests.Connect(s);
        // Three pages at most for all of B's TCP: one segment (a 2 KiB buffer, 2624 bytes truesize) fits.
        s.B.Ipv4.Sysctl.TcpMemMin = 1;
        s.B.Ipv4.Sysctl.TcpMemPressure = 2;
        s.B.Ipv4.Sysctl.TcpMemMax = 3;
        var data = Pattern(20_000, 2);
        Assert.Equal(data.Length, SocketCalls.Send(s.A.Files, cfd, data, 0));
        s.Pump();
        var mib = s.B.Mib.TcpExt;
        Assert.True(mib[LinuxMib.TCPRcvQDrop] > 0, "data over the hard limit is dropped");
        Assert.Equal(1, mib[LinuxMib.TCPMemoryPressures]);
        Assert.True(s.B.Ipv4.TcpMem.UnderMemoryPressure);
        // Three buffers (7872 bytes) fit in two pages; a third page would have crossed tcp_mem[1]
        // with more than tcp_rmem[0] queued and more than a fair share: refused.
        Assert.Equal(3 * (SkBuffPool.DefaultBufferSize + Sock.SkbTruesizeOverhead), Tp(s.B, afd).RmemAlloc);
        Assert.Equal(2, s.B.Ipv4.TcpMem.MemoryAllocated);
        // Reading frees the memory; the sender's probes and retransmissions bring the rest.
        var got = new MemoryStream();
        var buf = new byte[8192];
        for (int i = 0; i < 2000 && got.Length < data.Length; i++)
        {
            int r;
            while ((r = SocketCalls.Recv(s.B.Files, afd, buf, 0)) > 0) got.Write(buf, 0, r);
            s.RunFor(50);
        }
        Assert.Equal(data, got.ToArray());
        s.RunFor(1000);
        Assert.False(s.B.Ipv4.TcpMem.UnderMemoryPressure);
        Assert.True(mib[LinuxMib.TCPMemoryPressuresChrono] > 0);
    }

    [Fact]
    public void UnderPressure_BuffersStopGrowing()
    {
        using var s = new TwoStacks();
        var (_, cfd, afd) = TcpTwoStackTests.Connect(s);
        var tpA = Tp(s.A, cfd);
        var tpB = Tp(s.B, afd);
        int sndbuf = tpA.SndBuf, rcvbuf = tpB.RcvBuf;
        // Pressure from the first page on, and no hard limit in reach: both stacks stay under pressure.
        foreach (var net in new[] { s.A, s.B }) Assert.Equal(0, net.Sysctl.TrySet("net.ipv4.tcp_mem", "0 0 1000000"));
        var data = Pattern(400_000, 4);
        int sent = 0;
        for (int i = 0; i < 400; i++)
        {
            if (sent < data.Length)
            {
                int n = SocketCalls.Send(s.A.Files, cfd, data.AsSpan(sent), 0);
                if (n > 0) sent += n;
            }
            s.RunFor(5);
        }
        // tcp_should_expand_sndbuf() and tcp_clamp_window() say no under pressure.
        Assert.Equal(sndbuf, tpA.SndBuf);
        Assert.Equal(rcvbuf, tpB.RcvBuf);
        // rcv_ssthresh (the offered window's growth limit) is held at four segments.
        Assert.True(tpB.RcvSsthresh <= 4u * (uint)tpB.Advmss, $"rcv_ssthresh {tpB.RcvSsthresh}");
        Assert.True(s.A.Ipv4.TcpMem.UnderMemoryPressure && s.B.Ipv4.TcpMem.UnderMemoryPressure);
        Assert.Equal(1, s.A.Mib.TcpExt[LinuxMib.TCPMemoryPressures]);
        Assert.Equal(1, s.B.Mib.TcpExt[LinuxMib.TCPMemoryPressures]);
    }

    [Fact]
    public void SendOverHardLimit_FirstBufferOnly_ThenEagain()
    {
        using var s = new TwoStacks();
        var (_, cfd, _) = TcpTwoStackTests.Connect(s);
        s.A.Ipv4.Sysctl.TcpMemMin = 0;
        s.A.Ipv4.Sysctl.TcpMemPressure = 0;
        s.A.Ipv4.Sysctl.TcpMemMax = 0;
        var tp = Tp(s.A, cfd);
        // No peer on the wire while we look: nothing is acknowledged.
        var data = Pattern(100_000, 5);
        int n = SocketCalls.Send(s.A.Files, cfd, data, 0);
        // The first buffer is always granted (forced); the second is refused, so one MSS is queued.
        Assert.Equal((int)tp.MssCache, n);
        Assert.Equal(-Errno.EAGAIN, SocketCalls.Send(s.A.Files, cfd, data.AsSpan(n), 0));
        Assert.Equal(Sock.SockMinSndbuf, tp.SndBuf); // sk_stream_moderate_sndbuf()
        Assert.Equal(1, s.A.Mib.TcpExt[LinuxMib.TCPMemoryPressures]);
    }

    [Fact]
    public void TooManyOrphans_CloseResets_CountsAndLogs()
    {
        using var s = new TwoStacks();
        s.A.Ipv4.Sysctl.TcpMaxOrphans = 1;
        var fds = new List<(int cfd, int afd)>();
        int lfd = TcpTwoStackTests.Sock(s.B);
        Assert.Equal(0, SocketCalls.Bind(s.B.Files, lfd, SockAddr.In(TwoStacks.AddrB, 7000)));
        Assert.Equal(0, SocketCalls.Listen(s.B.Files, lfd, 16));
        for (int i = 0; i < 3; i++)
        {
            int cfd = TcpTwoStackTests.Sock(s.A);
            SocketCalls.Connect(s.A.Files, cfd, SockAddr.In(TwoStacks.AddrB, 7000));
            s.Pump();
            fds.Add((cfd, SocketCalls.Accept4(s.B.Files, lfd, out _, SOCK_NONBLOCK)));
        }
        // No pumping: the FINs are not answered, the orphans stay in FIN_WAIT_1.
        foreach (var (cfd, _) in fds) Assert.Equal(0, SocketCalls.Close(s.A.Files, cfd));
        // The first orphan is allowed (1 is not more than 1); the second and third are reset.
        Assert.Equal(1, s.A.Ipv4.TcpOrphanCount);
        Assert.Equal(2, s.A.Mib.TcpExt[LinuxMib.TCPAbortOnMemory]);
        Assert.Contains(s.A.Log.Read(), l => l.EndsWith("TCP: too many orphaned sockets", StringComparison.Ordinal));
    }

    [Fact]
    public void OrphanTimer_OutOfResources_KillsTheOrphan()
    {
        using var s = new TwoStacks();
        var (_, cfd, _) = TcpTwoStackTests.Connect(s);
        // The link goes dark: the FIN is never acknowledged.
        Drivers.FaultInjector.Attach(s.Link.A, "loss=100%,seed=1,dir=tx");
        Assert.Equal(0, SocketCalls.Close(s.A.Files, cfd));
        Assert.Equal(1, s.A.Ipv4.TcpOrphanCount);
        Assert.Equal(0, s.A.Mib.TcpExt[LinuxMib.TCPAbortOnMemory]);
        // Now the limit is lower than what exists: the FIN's retransmission timer finds it.
        s.A.Ipv4.Sysctl.TcpMaxOrphans = 0;
        s.RunFor(3000);
        Assert.Equal(0, s.A.Ipv4.TcpOrphanCount);
        Assert.Equal(1, s.A.Mib.TcpExt[LinuxMib.TCPAbortOnMemory]);
        Assert.Equal(0, s.A.Ipv4.TcpMem.SocketsAllocated);
    }

    [Fact]
    public void TimeWaitBuckets_OverflowClosesAtOnce_CountsAndLogs()
    {
        using var s = new TwoStacks();
        s.A.Ipv4.Sysctl.TcpMaxTwBuckets = 1;
        int lfd = TcpTwoStackTests.Sock(s.B);
        Assert.Equal(0, SocketCalls.Bind(s.B.Files, lfd, SockAddr.In(TwoStacks.AddrB, 7001)));
        Assert.Equal(0, SocketCalls.Listen(s.B.Files, lfd, 16));
        for (int i = 0; i < 3; i++)
        {
            int cfd = TcpTwoStackTests.Sock(s.A);
            SocketCalls.Connect(s.A.Files, cfd, SockAddr.In(TwoStacks.AddrB, 7001));
            s.Pump();
            int afd = SocketCalls.Accept4(s.B.Files, lfd, out _, SOCK_NONBLOCK);
            Assert.True(afd >= 0);
            // A closes first, so A is the one that would wait in TIME_WAIT.
            SocketCalls.Close(s.A.Files, cfd);
            s.Pump();
            SocketCalls.Close(s.B.Files, afd);
            s.Pump();
        }
        Assert.Equal(1, s.A.Ipv4.TcpTwCount);
        Assert.Equal(2, s.A.Mib.TcpExt[LinuxMib.TCPTimeWaitOverflow]);
        Assert.Contains(s.A.Log.Read(), l => l.EndsWith("TCP: time wait bucket table overflow", StringComparison.Ordinal));
        s.RunFor(61_000);
        Assert.Equal(0, s.A.Ipv4.TcpTwCount);
    }
}
