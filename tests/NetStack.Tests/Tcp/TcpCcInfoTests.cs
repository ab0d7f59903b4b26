using System.Buffers.Binary;
using NetStack.Api;
using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Tcp;

/// <summary>
/// getsockopt(SOL_TCP, TCP_CC_INFO): the congestion control's get_info as tcp_getsockopt() copies it
/// (min(optlen, size) bytes of union tcp_cc_info, nothing for an algorithm without get_info), checked
/// against what Linux 6.18 answered on this machine: CUBIC and Reno 0 bytes, BBR 20 (all zero before
/// connect), a short buffer the prefix, a negative optlen EINVAL.
/// </summary>
public class TcpCcInfoTests
{
    private static int CcInfo(NetNamespace net, int fd, Span<byte> buf, int optlen = -2)
    {
        int len = optlen == -2 ? buf.Length : optlen;
        int err = SocketCalls.Getsockopt(net.Files, fd, SOL_TCP, TCP_CC_INFO, buf, ref len);
        return err < 0 ? err : len;
    }

    private static uint U32(ReadOnlySpan<byte> b, int off) => BinaryPrimitives.ReadUInt32LittleEndian(b[off..]);

    [Theory]
    [InlineData("cubic")]
    [InlineData("reno")]
    public void AlgorithmWithoutGetInfo_CopiesNothing(string cc)
    {
        using var s = new LinkStacks(rateBps: 0, rttMs: 2, limit: 0);
        Assert.Equal(0, s.A.Sysctl.TrySet("net.ipv4.tcp_congestion_control", cc));
        var (_, cfd, _) = s.Connect();
        var buf = new byte[40];
        buf.AsSpan().Fill(0xA5);
        Assert.Equal(0, CcInfo(s.A, cfd, buf));
        Assert.All(buf, x => Assert.Equal(0xA5, x));
        Assert.Equal(-Errno.EINVAL, CcInfo(s.A, cfd, buf, optlen: -1));
    }

    [Fact]
    public void Bbr_BeforeConnect_TwentyZeroBytes_AfterATransfer_ItsModel()
    {
        using var s = new LinkStacks(rateBps: 20_000_000, rttMs: 40, limit: 1000);
        Assert.Equal(0, s.A.Sysctl.TrySet("net.ipv4.tcp_congestion_control", "bbr"));
        int fresh = SocketCalls.Socket(s.A.Files, AF_INET, SOCK_STREAM, 0);
        var buf = new byte[40];
        buf.AsSpan().Fill(0xA5);
        Assert.Equal(20, CcInfo(s.A, fresh, buf));   // bbr_get_info() of the zeroed icsk_ca_priv
        Assert.All(buf[..20], x => Assert.Equal(0, x));
        Assert.All(buf[20..], x => Assert.Equal(0xA5, x));
        var tpFresh = (TcpSock)s.A.Files.Lookup(fresh)!.Sk!;
        Assert.Null(tpFresh.CaPriv);   // reading created no state

        var (_, cfd, afd) = s.Connect();
        Assert.Equal(4L << 20, s.Transfer(cfd, afd, 4 << 20, 60_000));
        var tp = (TcpSock)s.A.Files.Lookup(cfd)!.Sk!;
        var bbr = TcpBbr.Ca(tp);
        Assert.Equal(20, CcInfo(s.A, cfd, buf));
        ulong bw = ((ulong)U32(buf, 4) << 32) | U32(buf, 0);
        Assert.Equal(TcpBbr.BwBytesPerSec(tp), bw);
        Assert.Equal(bbr.MinRttUs, U32(buf, 8));
        Assert.Equal((uint)bbr.PacingGain, U32(buf, 12));
        Assert.Equal((uint)bbr.CwndGain, U32(buf, 16));
        // A plausible model of a 20 Mbit/s, 40 ms path: the rate the bottleneck gives TCP payload, the propagation RTT.
        double payload = 20_000_000 / 8.0 * tp.MssCache / (tp.MssCache + 66);
        Assert.InRange(bw, payload * 0.8, payload * 1.1);
        Assert.InRange(U32(buf, 8), 40_000u, 42_000u);
        Assert.Equal(512u, U32(buf, 16));   // PROBE_BW's cwnd gain, 2 << 8

        // A short buffer gets the prefix, and says so.
        var four = new byte[4];
        Assert.Equal(4, CcInfo(s.A, cfd, four));
        Assert.Equal(buf[..4], four);
        Assert.Equal(0, CcInfo(s.A, cfd, four, optlen: 0));

        // The same through the managed view (getsockopt semantics: every state).
        var info = NetStackInfo.GetTcpInfo(s.A, cfd)!.Value;
        Assert.Equal(new BbrInfo(bw, TimeSpan.FromMicroseconds(bbr.MinRttUs), bbr.PacingGain / 256.0, 2.0), info.Bbr);
        Assert.Null(info.Dctcp);
        Assert.Equal(BbrInfo.Parse(buf.AsSpan(0, 20)), info.Bbr);
    }

    [Fact]
    public void Dctcp_SixteenBytes_ItsState_AndTheRenoFallbackOnlyDisabled()
    {
        using var s = new LinkStacks(rateBps: 50_000_000, rttMs: 4, limit: 1000);
        s.AtoB.CeThreshold = 10;
        Assert.Equal(0, s.A.Sysctl.TrySet("net.ipv4.tcp_congestion_control", "dctcp"));
        // Both ends: a listener without DCTCP declines the ECT-marked SYN's ECN (tcp_ecn_create_request()).
        Assert.Equal(0, s.B.Sysctl.TrySet("net.ipv4.tcp_congestion_control", "dctcp"));
        var (_, cfd, afd) = s.Connect();
        Assert.Equal("dctcp", ((TcpSock)s.A.Files.Lookup(cfd)!.Sk!).CaOps.Name);
        Assert.Equal(2L << 20, s.Transfer(cfd, afd, 2 << 20, 60_000));
        var tp = (TcpSock)s.A.Files.Lookup(cfd)!.Sk!;
        var ca = TcpDctcp.Ca(tp);
        var buf = new byte[20];
        Assert.Equal(16, CcInfo(s.A, cfd, buf));
        Assert.Equal(1, BinaryPrimitives.ReadUInt16LittleEndian(buf));
        Assert.Equal(ca.CeState, BinaryPrimitives.ReadUInt16LittleEndian(buf.AsSpan(2)));
        Assert.Equal(ca.DctcpAlpha, U32(buf, 4));
        Assert.Equal(tp.MssCache * (tp.DeliveredCe - ca.OldDeliveredCe), U32(buf, 8));
        Assert.Equal(tp.MssCache * (tp.Delivered - ca.OldDelivered), U32(buf, 12));
        Assert.True(s.AtoB.Marked > 0, "the queue reached the marking threshold");
        Assert.InRange(U32(buf, 4), 1u, 1023u);   // alpha moved from its initial 1024 towards the marked fraction
        Assert.Equal(DctcpInfo.Parse(buf.AsSpan(0, 16)), NetStackInfo.GetTcpInfo(s.A, cfd)!.Value.Dctcp);

        using var f = new LinkStacks(rateBps: 0, rttMs: 2, limit: 0);
        Assert.Equal(0, f.A.Sysctl.TrySet("net.ipv4.tcp_congestion_control", "dctcp"));
        Assert.Equal(0, f.B.Sysctl.TrySet("net.ipv4.tcp_ecn", "0"));
        var (_, fcfd, _) = f.Connect();
        buf.AsSpan().Fill(0xA5);
        Assert.Equal(16, CcInfo(f.A, fcfd, buf));   // dctcp_reno keeps dctcp_get_info(): dctcp_enabled 0, the rest 0
        Assert.All(buf[..16], x => Assert.Equal(0, x));
        var fallback = NetStackInfo.GetTcpInfo(f.A, fcfd)!.Value;
        Assert.Equal("dctcp-reno", fallback.CongestionControl);
        Assert.Equal(new DctcpInfo(false, 0, 0, 0, 0), fallback.Dctcp);
    }

    [Fact]
    public void GetInfo_AllocatesNothing()
    {
        using var s = new LinkStacks(rateBps: 0, rttMs: 2, limit: 0);
        Assert.Equal(0, s.A.Sysctl.TrySet("net.ipv4.tcp_congestion_control", "bbr"));
        var (_, cfd, afd) = s.Connect();
        Assert.Equal(64L << 10, s.Transfer(cfd, afd, 64 << 10, 10_000));
        var buf = new byte[20];
        Assert.Equal(20, CcInfo(s.A, cfd, buf));
        Assert.Equal(0, SteadyState.LeastAllocated(() => { for (int i = 0; i < 1000; i++) CcInfo(s.A, cfd, buf); }));
    }
}
