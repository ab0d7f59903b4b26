using NetStack.Api;
using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;
using Xunit.Abstractions;

namespace NetStack.Tests.Tcp;

/// <summary>
/// RFC 3168 ECN as Linux does it: negotiation under net.ipv4.tcp_ecn on both sides, ECT(0) on new
/// data, CE at the receiver echoed as ECE until CWR, and the sender's one cwnd reduction per window
/// (tcp_enter_cwr); the counters and TCP_INFO's ECN fields.
/// </summary>
public class TcpEcnTests(ITestOutputHelper output)
{
    private const int ECE = 0x40, CWR = 0x80, SYN = 0x02, ACK = 0x10;

    /// <summary>What crossed the link: (time, direction A-&gt;B?, ecn, flags, payload, seq).</summary>
    private sealed class Capture
    {
        public readonly List<(long T, bool AtoB, int Ecn, int Flags, int Payload, uint Seq)> Frames = new();
        public Capture(LinkStacks s)
        {
            s.AtoB.OnFrame = (now, f) => Add(now, true, f);
            s.BtoA.OnFrame = (now, f) => Add(now, false, f);
        }
        private void Add(long now, bool aToB, ReadOnlySpan<byte> f)
        {
            var (ecn, flags, payload, seq) = LinkPipe.Inspect(f);
            if (ecn >= 0) Frames.Add((now, aToB, ecn, flags, payload, seq));
        }
        public (int Ecn, int Flags) Syn => Frames.Where(f => f.AtoB && (f.Flags & (SYN | ACK)) == SYN).Select(f => (f.Ecn, f.Flags)).First();
        public (int Ecn, int Flags) SynAck => Frames.Where(f => !f.AtoB && (f.Flags & (SYN | ACK)) == (SYN | ACK)).Select(f => (f.Ecn, f.Flags)).First();
    }

    [Theory]
    [InlineData(0, 0)] [InlineData(0, 1)] [InlineData(0, 2)]
    [InlineData(1, 0)] [InlineData(1, 1)] [InlineData(1, 2)]
    [InlineData(2, 0)] [InlineData(2, 1)] [InlineData(2, 2)]
    public void Negotiation_FollowsTcpEcnOnBothSides(int client, int server)
    {
        using var s = new LinkStacks(rateBps: 0, rttMs: 2, limit: 0);
        Assert.True(s.A.Sysctl.TryGet("net.ipv4.tcp_ecn", out var def) && def == "2"); // Linux's default: accept only
        Assert.Equal(0, s.A.Sysctl.TrySet("net.ipv4.tcp_ecn", client.ToString()));
        Assert.Equal(0, s.B.Sysctl.TrySet("net.ipv4.tcp_ecn", server.ToString()));
        var cap = new Capture(s);
        var (_, cfd, afd) = s.Connect();
        Assert.Equal(64L << 10, s.Transfer(cfd, afd, 64 << 10, 10_000));

        bool requested = client == 1, accepted = requested && server != 0;
        Assert.Equal(requested ? ECE | CWR : 0, cap.Syn.Flags & (ECE | CWR));
        Assert.Equal(accepted ? ECE : 0, cap.SynAck.Flags & (ECE | CWR));
        Assert.Equal(0, cap.Syn.Ecn);    // RFC 3168 6.1.1: a SYN is not ECT
        Assert.Equal(0, cap.SynAck.Ecn);
        Assert.Equal(accepted, NetStackInfo.GetTcpInfo(s.A, cfd)!.Value.Ecn);
        Assert.Equal(accepted, NetStackInfo.GetTcpInfo(s.B, afd)!.Value.Ecn);
        // New data is ECT(0) on an ECN connection, Not-ECT otherwise; pure ACKs are never ECT (not DCTCP).
        var data = cap.Frames.Where(f => f.AtoB && f.Payload > 0).ToList();
        Assert.NotEmpty(data);
        Assert.All(data, f => Assert.Equal(accepted ? 2 : 0, f.Ecn));
        Assert.All(cap.Frames.Where(f => !f.AtoB && f.Payload == 0), f => Assert.Equal(0, f.Ecn));
        Assert.Equal(accepted, NetStackInfo.GetTcpInfo(s.B, afd)!.Value.EcnSeen);
    }

    [Fact]
    public void TcpEcnSysctl_TakesZeroToTwo()
    {
        using var net = new NetNamespace();
        Assert.True(net.Sysctl.TryGet("net.ipv4.tcp_ecn_fallback", out var fb) && fb == "1");
        Assert.Equal(0, net.Sysctl.TrySet("net.ipv4.tcp_ecn", "1"));
        Assert.Equal(-Errno.EINVAL, net.Sysctl.TrySet("net.ipv4.tcp_ecn", "3")); // Accurate ECN modes: not implemented
        Assert.Equal(-Errno.EINVAL, net.Sysctl.TrySet("net.ipv4.tcp_ecn", "-1"));
    }

    [Fact]
    public void RetransmittedSyn_DropsEceCwr_TcpEcnFallback()
    {
        using var s = new LinkStacks(rateBps: 0, rttMs: 2, limit: 0);
        Assert.Equal(0, s.A.Sysctl.TrySet("net.ipv4.tcp_ecn", "1"));
        var cap = new Capture(s);
        int syns0 = 0;
        s.AtoB.DropWhen = (i, f) => (LinkPipe.Inspect(f).Flags & (SYN | ACK)) == SYN && syns0++ == 0; // lose the first SYN
        var (_, cfd, afd) = s.Connect();
        var syns = cap.Frames.Where(f => f.AtoB && (f.Flags & (SYN | ACK)) == SYN).ToList();
        Assert.Equal(2, syns.Count);
        Assert.Equal(ECE | CWR, syns[0].Flags & (ECE | CWR));
        Assert.Equal(0, syns[1].Flags & (ECE | CWR));
        Assert.False(NetStackInfo.GetTcpInfo(s.A, cfd)!.Value.Ecn);
    }

    [Fact]
    public void CeMark_IsEchoedUntilCwr_AndCwndIsReducedOncePerWindow()
    {
        using var s = new LinkStacks(rateBps: 0, rttMs: 20, limit: 0);
        Assert.Equal(0, s.A.Sysctl.TrySet("net.ipv4.tcp_ecn", "1"));
        var cap = new Capture(s);
        // Mark data frames 300 and 301 (one window) and 1500 (a later one) CE on the way A -> B.
        var marks = new HashSet<long> { 300, 301, 1500 };
        s.AtoB.CeWhen = i => marks.Contains(i);
        var (_, cfd, afd) = s.Connect();
        var tp = (TcpSock)s.A.Files.Lookup(cfd)!.Sk!;
        int cwrEntries = 0;
        var prev = tp.CaState;
        var cwndAtEntry = new List<(uint Cwnd, uint Ssthresh)>();
        Assert.Equal(8L << 20, s.Transfer(cfd, afd, 8 << 20, 60_000, () =>
        {
            if (tp.CaState == TcpCaState.Cwr && prev != TcpCaState.Cwr)
            {
                cwrEntries++;
                cwndAtEntry.Add((tp.PriorCwnd, tp.SndSsthresh));
            }
            prev = tp.CaState;
        }));
        Assert.Equal(3, s.AtoB.Marked);
        var ce = cap.Frames.Where(f => f.AtoB && f.Ecn == 3).ToList();
        Assert.Empty(ce); // the tap sees frames before the bottleneck marks them

        // The sender set CWR once per reduction, on new data.
        var cwrs = cap.Frames.Where(f => f.AtoB && (f.Flags & (CWR | SYN)) == CWR).ToList();
        output.WriteLine("CWR segments: " + string.Join(", ", cwrs.Select(f => $"t={f.T / 1000}us seq={f.Seq} len={f.Payload}")));
        output.WriteLine("ECE ACKs: " + string.Join(", ", cap.Frames.Where(f => !f.AtoB && (f.Flags & (ECE | SYN)) == ECE).Select(f => $"t={f.T / 1000}us")));
        output.WriteLine($"CWR entries {cwrEntries}: " + string.Join(", ", cwndAtEntry) + $"; TLPs {s.A.Mib.TcpExt[LinuxMib.TCPLossProbes]}");
        Assert.Equal(2, cwrs.Count);
        Assert.All(cwrs, f => Assert.True(f.Payload > 0));
        Assert.Equal(2, cwrEntries);
        foreach (var (cwnd, ssthresh) in cwndAtEntry) Assert.Equal(Math.Max(cwnd * 717 / 1024, 2u), ssthresh); // CUBIC's beta
        output.WriteLine("reductions: " + string.Join(", ", cwndAtEntry));

        // The receiver echoed ECE from the first CE until the CWR arrived, then stopped.
        var eceAcks = cap.Frames.Where(f => !f.AtoB && (f.Flags & (ECE | SYN)) == ECE).ToList();
        Assert.NotEmpty(eceAcks);
        // (one-way delay 10 ms: a CWR sent at t reaches the receiver at t + 10 ms; the echo began within the RTT before.)
        long oneWay = Time.Ms(10), rtt = Time.Ms(20);
        Assert.All(eceAcks, f => Assert.True(
            (f.T >= cwrs[0].T - rtt && f.T <= cwrs[0].T + oneWay) || (f.T >= cwrs[1].T - rtt && f.T <= cwrs[1].T + oneWay),
            $"ECE at {f.T} outside the two episodes"));
        Assert.Contains(eceAcks, f => f.T <= cwrs[0].T + oneWay);
        Assert.Contains(eceAcks, f => f.T >= cwrs[1].T - rtt);
        var infoA = NetStackInfo.GetTcpInfo(s.A, cfd)!.Value;
        var infoB = NetStackInfo.GetTcpInfo(s.B, afd)!.Value;
        output.WriteLine($"ECE ACKs {eceAcks.Count}, delivered_ce {infoA.DeliveredCe}, TcpExt TCPDeliveredCE {s.A.Mib.TcpExt[LinuxMib.TCPDeliveredCE]}, " +
                         $"IpExt InCEPkts {s.B.Mib.IpExt[IpExtMib.InCEPkts]} InECT0Pkts {s.B.Mib.IpExt[IpExtMib.InECT0Pkts]}");
        Assert.True(infoA.Ecn && infoB.Ecn && infoB.EcnSeen);
        Assert.True(infoA.DeliveredCe > 0);
        Assert.Equal(infoA.DeliveredCe, s.A.Mib.TcpExt[LinuxMib.TCPDeliveredCE]);
        Assert.Equal(3, s.B.Mib.IpExt[IpExtMib.InCEPkts]);
        Assert.True(s.B.Mib.IpExt[IpExtMib.InECT0Pkts] > 1000);
        Assert.Equal(0, s.A.Mib.Tcp[TcpMib.RetransSegs]);
    }
}
