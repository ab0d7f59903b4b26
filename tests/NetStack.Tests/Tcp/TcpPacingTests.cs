using System.Buffers.Binary;
using NetStack.Api;
using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;
using Xunit.Abstractions;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Tcp;

/// <summary>
/// sk_pacing_rate (tcp_update_pacing_rate), SO_MAX_PACING_RATE and the internal pacing timer
/// (tcp_pacing_check / tcp_update_skb_after_send), in virtual time.
/// </summary>
public class TcpPacingTests(ITestOutputHelper output)
{
    /// <summary>The departure times of A's data segments (frames longer than a bare ACK).</summary>
    private static List<long> TapDataDepartures(LinkStacks s)
    {
        var times = new List<long>();
        s.AtoB.OnFrame = (now, frame) => { if (frame.Length > 100) times.Add(now); };
        return times;
    }

    [Fact]
    public void MaxPacingRate_SpacesSegmentsAtTheRate()
    {
        const ulong rate = 1_000_000; // bytes/s
        using var s = new LinkStacks(rateBps: 0, rttMs: 10, limit: 0);
        var (_, cfd, afd) = s.Connect(configureClient: fd =>
        {
            Span<byte> v = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(v, (uint)rate);
            Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, fd, SOL_SOCKET, SO_MAX_PACING_RATE, v));
        });
        var tp = (TcpSock)s.A.Files.Lookup(cfd)!.Sk!;
        Assert.Equal(SkPacingStatus.Needed, tp.PacingStatus);
        var departures = TapDataDepartures(s);
        Assert.Equal(2L << 20, s.Transfer(cfd, afd, 2 << 20, 60_000));

        // Every segment after the first 10 (sch_fq does not pace those) leaves len/rate after the one before it.
        long mssNs = (long)((ulong)tp.MssCache * 1_000_000_000UL / rate);
        var gaps = new List<long>();
        for (int i = 11; i < departures.Count; i++) gaps.Add(departures[i] - departures[i - 1]);
        gaps.Sort();
        output.WriteLine($"{departures.Count} data segments, gap min {gaps[0]} median {gaps[gaps.Count / 2]} max {gaps[^1]} ns, mss {tp.MssCache}, expected {mssNs} ns");
        Assert.True(gaps[0] >= mssNs / 2, "the credit for a late departure is at most half a packet");
        Assert.Equal(mssNs, gaps[gaps.Count / 2]);
        // The transfer took as long as the rate says (within one RTT of handshake and slow start).
        double seconds = (departures[^1] - departures[0]) / 1e9;
        double bytesPerSec = (2 << 20) / seconds;
        output.WriteLine($"paced goodput {bytesPerSec:F0} B/s over {seconds:F3} s");
        Assert.InRange(bytesPerSec, rate * 0.95, rate * 1.05);

        var info = NetStackInfo.GetTcpInfo(s.A, cfd)!.Value;
        Assert.Equal(rate, info.MaxPacingRate);
        Assert.True(info.PacingRate <= rate);
        Span<byte> got = stackalloc byte[8];
        int len = 8;
        Assert.Equal(0, SocketCalls.Getsockopt(s.A.Files, cfd, SOL_SOCKET, SO_MAX_PACING_RATE, got, ref len));
        Assert.Equal(8, len);
        Assert.Equal(rate, BinaryPrimitives.ReadUInt64LittleEndian(got));
        len = 4;
        Assert.Equal(0, SocketCalls.Getsockopt(s.A.Files, cfd, SOL_SOCKET, SO_MAX_PACING_RATE, got, ref len));
        Assert.Equal((uint)rate, BinaryPrimitives.ReadUInt32LittleEndian(got));
    }

    [Fact]
    public void WithoutPacing_SegmentsLeaveInBursts()
    {
        using var s = new LinkStacks(rateBps: 0, rttMs: 10, limit: 0);
        var (_, cfd, afd) = s.Connect();
        var tp = (TcpSock)s.A.Files.Lookup(cfd)!.Sk!;
        Assert.Equal(SkPacingStatus.None, tp.PacingStatus);
        var departures = TapDataDepartures(s);
        Assert.Equal(1L << 20, s.Transfer(cfd, afd, 1 << 20, 60_000));
        int sameInstant = 0;
        for (int i = 1; i < departures.Count; i++) if (departures[i] == departures[i - 1]) sameInstant++;
        Assert.True(sameInstant > departures.Count / 2, "cwnd releases segments back to back");
    }

    [Fact]
    public void PacingRate_IsTcpUpdatePacingRate_AndFollowsTheRatioSysctls()
    {
        using var s = new LinkStacks(rateBps: 20_000_000, rttMs: 20, limit: 1000);
        var (_, cfd, afd) = s.Connect();
        var tp = (TcpSock)s.A.Files.Lookup(cfd)!.Sk!;
        Assert.Equal(1L << 20, s.Transfer(cfd, afd, 1 << 20, 60_000));
        static ulong Expected(TcpSock tp, int ratio) =>
            (ulong)tp.MssCache * ((1_000_000 / 100) << 3) * (ulong)ratio * Math.Max(tp.SndCwnd, tp.PacketsOut) / tp.SrttUs;
        int ratio = tp.SndCwnd < tp.SndSsthresh / 2 ? 200 : 120;
        Assert.Equal(Expected(tp, ratio), NetStackInfo.GetTcpInfo(s.A, cfd)!.Value.PacingRate);
        Assert.True(s.A.Sysctl.TryGet("net.ipv4.tcp_pacing_ss_ratio", out var ss) && ss == "200");
        Assert.True(s.A.Sysctl.TryGet("net.ipv4.tcp_pacing_ca_ratio", out var ca) && ca == "120");
        Assert.Equal(0, s.A.Sysctl.TrySet("net.ipv4.tcp_pacing_ca_ratio", "150"));
        Assert.Equal(0, s.A.Sysctl.TrySet("net.ipv4.tcp_pacing_ss_ratio", "150"));
        Assert.Equal(1L << 20, s.Transfer(cfd, afd, 1 << 20, 60_000));
        Assert.Equal(Expected(tp, 150), NetStackInfo.GetTcpInfo(s.A, cfd)!.Value.PacingRate);
        // Unpaced by default: the rate is computed (for fq and TCP_INFO) but no timer holds packets.
        Assert.Equal(SkPacingStatus.None, tp.PacingStatus);
        Assert.Equal(ulong.MaxValue, NetStackInfo.GetTcpInfo(s.A, cfd)!.Value.MaxPacingRate);
    }
}
