using System.Text;
using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Tcp;

[Collection(NetStack.Tests.Tcp.CongestionRegistryCollection.Name)]
public class TcpCongTests
{
    /// <summary>An experimenter's algorithm: a fixed window.</summary>
    private sealed class FixedCwnd : TcpCongestionOps
    {
        public override string Name => "fixed4";
        public int Acks;
        public override void Init(TcpSock tp) => tp.SndCwnd = 4;
        public override uint Ssthresh(TcpSock tp) => 4;
        public override void CongAvoid(TcpSock tp, uint ack, uint acked) => Acks++;
        public override uint UndoCwnd(TcpSock tp) => 4;
    }

    private static TcpSock NewSock(NetNamespace net)
    {
        var tp = new TcpSock { Net = net };
        NetStack.Ipv4.Tcp.TcpInitSockState(tp);
        return tp;
    }

    [Fact]
    public void Register_ChecksNames()
    {
        Assert.Equal(-Errno.EEXIST, TcpCong.TcpRegisterCongestionControl(TcpReno.Instance));
        Assert.Contains("reno", TcpCong.Available);
        Assert.Contains("cubic", TcpCong.Available);
        Assert.Null(TcpCong.TcpCaFind("nosuch"));
    }

    [Fact]
    public void DefaultIsCubic_SockoptSwitchesAndReports()
    {
        using var s = new TwoStacks();
        int fd = SocketCalls.Socket(s.A.Files, AF_INET, SOCK_STREAM, 0);
        var name = new byte[16];
        int len = 16;
        Assert.Equal(0, SocketCalls.Getsockopt(s.A.Files, fd, SOL_TCP, TCP_CONGESTION, name, ref len));
        Assert.Equal("cubic", Encoding.ASCII.GetString(name, 0, len).TrimEnd('\0'));
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, fd, SOL_TCP, TCP_CONGESTION, "reno"u8));
        len = 16;
        Assert.Equal(0, SocketCalls.Getsockopt(s.A.Files, fd, SOL_TCP, TCP_CONGESTION, name, ref len));
        Assert.Equal("reno", Encoding.ASCII.GetString(name, 0, len).TrimEnd('\0'));
        Assert.Equal(-Errno.ENOENT, SocketCalls.Setsockopt(s.A.Files, fd, SOL_TCP, TCP_CONGESTION, "nosuch"u8));
    }

    [Fact]
    public void ExperimentalAlgorithm_RegisteredAndUsedByAConnection()
    {
        var ca = new FixedCwnd();
        Assert.Equal(0, TcpCong.TcpRegisterCongestionControl(ca));
        try
        {
            using var s = new TwoStacks();
            int lfd = TcpTwoStackTests.Sock(s.B);
            Assert.Equal(0, SocketCalls.Bind(s.B.Files, lfd, SockAddr.In(TwoStacks.AddrB, 6000)));
            Assert.Equal(0, SocketCalls.Listen(s.B.Files, lfd, 4));
            int cfd = TcpTwoStackTests.Sock(s.A);
            Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, cfd, SOL_TCP, TCP_CONGESTION, "fixed4"u8));
            SocketCalls.Connect(s.A.Files, cfd, SockAddr.In(TwoStacks.AddrB, 6000));
            s.Pump();
            int afd = SocketCalls.Accept4(s.B.Files, lfd, out _, SOCK_NONBLOCK);
            var data = new byte[200_000];
            int sent = 0;
            var buf = new byte[65536];
            int got = 0;
            var tp = (TcpSock)s.A.Files.Lookup(cfd)!.Sk!;
            uint maxFlight = 0;
            while (got < data.Length)
            {
                int n = SocketCalls.Send(s.A.Files, cfd, data.AsSpan(sent), 0);
                if (n > 0) sent += n;
                lock (s.A.SyncRoot) maxFlight = Math.Max(maxFlight, tp.PacketsOut);
                s.Pump();
                int r;
                while ((r = SocketCalls.Recv(s.B.Files, afd, buf, 0)) > 0) got += r;
                s.RunFor(1);
            }
            Assert.Equal(ca, tp.CaOps);
            Assert.True(ca.Acks > 0);
            Assert.Equal(4u, maxFlight); // the algorithm's window, never more
        }
        finally
        {
            TcpCong.TcpUnregisterCongestionControl(ca);
        }
    }

    [Fact]
    public void Reno_SlowStartThenAdditiveIncrease_HalvesOnLoss()
    {
        using var s = new TwoStacks();
        var tp = NewSock(s.A);
        tp.IsCwndLimited = true;
        tp.SndCwnd = 10;
        tp.SndSsthresh = 16;
        var reno = TcpReno.Instance;
        reno.CongAvoid(tp, 0, 4);
        Assert.Equal(14u, tp.SndCwnd);          // slow start: +1 per packet acked
        reno.CongAvoid(tp, 0, 4);
        Assert.Equal(16u, tp.SndCwnd);          // capped at ssthresh, the rest goes to AI credit
        for (int i = 0; i < 14; i++) reno.CongAvoid(tp, 0, 1);
        Assert.Equal(17u, tp.SndCwnd);          // +1 per window's worth of ACKs (16 acked)
        Assert.Equal(8u, reno.Ssthresh(tp));    // half of 17, rounded down
    }

    [Fact]
    public void Cubic_BetaPointSeven_CubicCurveAroundWmax()
    {
        using var s = new TwoStacks();
        var tp = NewSock(s.A);
        var cubic = TcpCubic.Instance;
        cubic.Init(tp);
        tp.SndCwnd = 1000;
        uint ss = cubic.Ssthresh(tp);
        Assert.Equal(700u, ss);                 // 1000 * 717 / 1024
        tp.SndCwnd = ss;
        tp.SndSsthresh = ss;
        tp.IsCwndLimited = true;
        // ACK clocking at a 100 ms RTT: one window of ACKs per RTT. With W_max = 1000 the cubic
        // curve dominates the Reno-friendly estimate: W(t) = C (t - K)^3 + W_max, C = 0.4,
        // K = cbrt(W_max (1 - beta) / C) = cbrt(750) ~ 9.1 s.
        var clock = (VirtualClock)s.A.Clock;
        var at = new Dictionary<int, uint>();
        for (int rtt = 1; rtt <= 130; rtt++)
        {
            clock.AdvanceMs(100);
            uint w = tp.SndCwnd;
            for (uint a = 0; a < w; a++) cubic.CongAvoid(tp, 0, 1);
            at[rtt] = tp.SndCwnd;
        }
        Assert.InRange(at[10], 760u, 820u);    // 1 s: 1000 - 0.4 * 8.1^3 ~ 787 (concave, fast)
        Assert.InRange(at[91], 985u, 1010u);   // near K: flat around W_max
        Assert.InRange(at[130], 1015u, 1060u); // 13 s: convex probing beyond W_max (~1024)
    }

    [Theory]
    [InlineData(0UL, 0u)]
    [InlineData(1UL, 1u)]
    [InlineData(27UL, 3u)]
    [InlineData(1_000_000UL, 100u)]
    [InlineData(999_999UL, 99u)]
    [InlineData(1UL << 60, 1u << 20)]
    public void Cubic_CubeRoot(ulong a, uint expected) => Assert.Equal(expected, TcpCubic.CubicRoot(a));
}
