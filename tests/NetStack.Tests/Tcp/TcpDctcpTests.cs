using NetStack.Api;
using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;
using Xunit.Abstractions;

namespace NetStack.Tests.Tcp;

/// <summary>
/// DCTCP (tcp_dctcp.c) over a bottleneck that marks CE above a queue threshold, in virtual time:
/// alpha tracks the fraction of marked packets, the queue stays near the threshold, nothing is lost.
/// </summary>
public class TcpDctcpTests(ITestOutputHelper output)
{
    private const int ECE = 0x40, CWR = 0x80, SYN = 0x02, ACK = 0x10;

    [Fact]
    public void Alpha_ConvergesToTheMarkingFraction_QueueStaysNearTheThreshold_NoLoss()
    {
        const int k = 20;
        using var s = new LinkStacks(rateBps: 50_000_000, rttMs: 20, limit: 1000);
        s.AtoB.CeThreshold = k;
        Assert.Equal(0, s.A.Sysctl.TrySet("net.ipv4.tcp_congestion_control", "dctcp"));
        Assert.Equal(0, s.B.Sysctl.TrySet("net.ipv4.tcp_congestion_control", "dctcp"));
        var frames = new List<(bool AtoB, int Ecn, int Flags, int Payload)>();
        s.AtoB.OnFrame = (_, f) => { var i = LinkPipe.Inspect(f); if (i.Ecn >= 0) frames.Add((true, i.Ecn, i.Flags, i.Payload)); };
        s.BtoA.OnFrame = (_, f) => { var i = LinkPipe.Inspect(f); if (i.Ecn >= 0) frames.Add((false, i.Ecn, i.Flags, i.Payload)); };
        var (_, cfd, afd) = s.Connect();
        var tp = (TcpSock)s.A.Files.Lookup(cfd)!.Sk!;
        Assert.Equal("dctcp", tp.CaOps.Name);
        Assert.Equal("dctcp", ((TcpSock)s.B.Files.Lookup(afd)!.Sk!).CaOps.Name);

        long sampleFrom = s.Clock.NowNs + Time.Sec(2);
        s.AtoB.SampleFromNs = sampleFrom;
        long alphaSum = 0, alphaN = 0;
        uint lastAlphaSeq = 0;
        const long size = 40 << 20;
        Assert.Equal(size, s.Transfer(cfd, afd, size, 120_000, () =>
        {
            // alpha once per window (it changes only then): when the window marker moved on
            var ca = TcpDctcp.Ca(tp);
            if (s.Clock.NowNs >= sampleFrom && ca.NextSeq != lastAlphaSeq)
            {
                lastAlphaSeq = ca.NextSeq;
                alphaSum += ca.DctcpAlpha;
                alphaN++;
            }
        }));
        double alpha = (double)alphaSum / alphaN / TcpDctcp.DctcpMaxAlpha;
        double marked = (double)s.AtoB.SampledMarked / s.AtoB.SampledEnqueued;
        double bdp = 50_000_000 / 8.0 * 0.020 / 1514;
        output.WriteLine($"K {k}, BDP {bdp:F0} packets: queue mean {s.AtoB.SampledMean:F1} max {s.AtoB.SampledMax} packets; marked fraction {marked:F3}, " +
                         $"mean alpha {alpha:F3} over {alphaN} windows, final alpha {TcpDctcp.Alpha(tp)}/1024; drops {s.AtoB.Drops}, " +
                         $"retransmissions {s.A.Mib.Tcp[TcpMib.RetransSegs]}, delivered_ce {tp.DeliveredCe} of {tp.Delivered}, CE marks {s.AtoB.Marked}");
        Assert.Equal(0, s.AtoB.Drops);
        Assert.Equal(0, s.A.Mib.Tcp[TcpMib.RetransSegs]);
        Assert.InRange(s.AtoB.SampledMean, k * 0.5, k * 1.5);
        Assert.True(s.AtoB.SampledMax < 3 * k, "the queue stays near K");
        Assert.InRange(alpha, marked - 0.05, marked + 0.05);
        Assert.True(marked > 0.01, "the threshold was reached: " + marked);
        // The receiver's CE state machine echoes each change at once (a delayed ACK goes out first
        // with the old state): the sender counts exactly the marked packets as delivered with ECE.
        Assert.Equal(s.AtoB.Marked, tp.DeliveredCe);

        // ECT(0) on every packet, control packets included, both ways.
        Assert.All(frames, f => Assert.Equal(2, f.Ecn));
        Assert.Contains(frames, f => f.AtoB && (f.Flags & (SYN | ACK)) == SYN && (f.Flags & (ECE | CWR)) == (ECE | CWR));
        Assert.Contains(frames, f => !f.AtoB && f.Payload == 0 && (f.Flags & SYN) == 0);
        var info = NetStackInfo.GetTcpInfo(s.A, cfd)!.Value;
        Assert.True(info.Ecn);
        Assert.Equal(tp.DeliveredCe, (uint)info.DeliveredCe);
    }

    [Fact]
    public void PeerWithoutEcn_FallsBackToReno_WithoutEct()
    {
        using var s = new LinkStacks(rateBps: 0, rttMs: 4, limit: 0);
        Assert.Equal(0, s.A.Sysctl.TrySet("net.ipv4.tcp_congestion_control", "dctcp"));
        Assert.Equal(0, s.B.Sysctl.TrySet("net.ipv4.tcp_ecn", "0"));
        var data = new List<int>();
        s.AtoB.OnFrame = (_, f) => { var i = LinkPipe.Inspect(f); if (i.Payload > 0) data.Add(i.Ecn); };
        var (_, cfd, afd) = s.Connect();
        Assert.Equal(256L << 10, s.Transfer(cfd, afd, 256 << 10, 10_000));
        Assert.Equal("dctcp-reno", NetStackInfo.GetTcpInfo(s.A, cfd)!.Value.CongestionControl);
        Assert.False(NetStackInfo.GetTcpInfo(s.A, cfd)!.Value.Ecn);
        Assert.All(data, e => Assert.Equal(0, e));
    }

    [Fact]
    public void ModuleParameters_AreSysctls()
    {
        using var net = new NetNamespace();
        Assert.True(net.Sysctl.TryGet("sys.module.tcp_dctcp.parameters.dctcp_shift_g", out var g) && g == "4");
        Assert.True(net.Sysctl.TryGet("sys.module.tcp_dctcp.parameters.dctcp_alpha_on_init", out var a) && a == "1024");
        Assert.Equal(-Errno.EINVAL, net.Sysctl.TrySet("sys.module.tcp_dctcp.parameters.dctcp_shift_g", "11"));
    }
}
