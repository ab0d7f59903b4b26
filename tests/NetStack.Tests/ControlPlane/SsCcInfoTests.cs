using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using NetStack.Api;
using NetStack.Cli.Commands;
using NetStack.Control;
using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;
using NetStack.Tests.Tcp;
using Xunit.Abstractions;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.ControlPlane;

/// <summary>
/// The congestion control's own block of `ss -ti` (INET_DIAG_BBRINFO, INET_DIAG_DCTCPINFO): the text
/// iproute2's tcp_stats_print() makes of given values (the expected lines worked out by hand from
/// its format strings), and the block a BBR or DCTCP transfer's socket shows through the "ss" op.
/// </summary>
public sealed class SsCcInfoTests(ITestOutputHelper output) : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("nsctl-cc-");

    public void Dispose() => _dir.Delete(recursive: true);

    private List<JsonObject> Ss(NetNamespace net)
    {
        using var server = new ControlServer(net, "t", Path.Combine(_dir.FullName, $"{Guid.NewGuid():N}.sock"));
        server.Start();
        using var c = ControlClient.Connect(server.Path);
        return c.Request(new JsonObject { ["op"] = "ss", ["info"] = true })["sockets"]!.AsArray().Select(n => n!.AsObject()).ToList();
    }

    /// <summary>The object as the control socket delivers it: through its text.</summary>
    private static JsonObject Wire(JsonObject o) => JsonNode.Parse(o.ToJsonString())!.AsObject();

    private static JsonObject Bbr(ulong bw, uint minRttUs, uint pacingGain, uint cwndGain) => Wire(new()
    {
        ["bbr"] = new JsonObject { ["bw"] = bw, ["min_rtt_us"] = minRttUs, ["pacing_gain"] = pacingGain, ["cwnd_gain"] = cwndGain },
    });

    // ss: " bbr:(bw:%sbps,mrtt:%g" with sprint_bw(bw * 8.0) and min_rtt / 1000.0, then ",pacing_gain:%g" and
    // ",cwnd_gain:%g" of gain / 256.0 when not 0, then ")".
    [Theory]
    // PROBE_BW at 20 Mbit/s: 2500000 B/s * 8 = 20e6 -> "%.3gM" of 20 -> 20M; 40123 us -> 40.123; 320/256 = 1.25, 512/256 = 2.
    [InlineData(2_500_000UL, 40_123u, 320u, 512u, false, " bbr:(bw:20Mbps,mrtt:40.123,pacing_gain:1.25,cwnd_gain:2)")]
    // STARTUP: 1234567 * 8 = 9876536 -> 9.876536 -> "%.3g" 9.88; 4 us -> 0.004; high gain 739/256 = 2.88671875 -> 2.88672.
    [InlineData(1_234_567UL, 4u, 739u, 739u, false, " bbr:(bw:9.88Mbps,mrtt:0.004,pacing_gain:2.88672,cwnd_gain:2.88672)")]
    // DRAIN: 88/256 = 0.34375; -n prints the rate as %.0f: 125000 * 8 = 1000000.
    [InlineData(125_000UL, 1_500u, 88u, 739u, true, " bbr:(bw:1000000bps,mrtt:1.5,pacing_gain:0.34375,cwnd_gain:2.88672)")]
    // Before bbr_init() (all zero): sprint_bw(0) is "%g" -> 0, no gains.
    [InlineData(0UL, 0u, 0u, 0u, false, " bbr:(bw:0bps,mrtt:0)")]
    // Linux 6.18's answer on loopback (bw_hi 4, bw_lo 0x287ab134): 17858998580 * 8 = 142871988640 -> 143G.
    [InlineData(17_858_998_580UL, 4u, 320u, 512u, false, " bbr:(bw:143Gbps,mrtt:0.004,pacing_gain:1.25,cwnd_gain:2)")]
    [InlineData(17_858_998_580UL, 4u, 320u, 512u, true, " bbr:(bw:142871988640bps,mrtt:0.004,pacing_gain:1.25,cwnd_gain:2)")]
    // No RTT sample yet (min_rtt ~0U): 4294967.295 -> "%g" -> 4.29497e+06.
    [InlineData(0UL, uint.MaxValue, 739u, 739u, false, " bbr:(bw:0bps,mrtt:4.29497e+06,pacing_gain:2.88672,cwnd_gain:2.88672)")]
    public void BbrBlock_AsTcpStatsPrint(ulong bw, uint minRttUs, uint pacingGain, uint cwndGain, bool numeric, string text) =>
        Assert.Equal(text, SsCommand.CcInfo(Bbr(bw, minRttUs, pacingGain, cwndGain), numeric));

    [Fact]
    public void DctcpBlock_AsTcpStatsPrint_OrFallbackMode()
    {
        var d = Wire(new JsonObject { ["dctcp"] = new JsonObject { ["enabled"] = true, ["ce_state"] = 1u, ["alpha"] = 512u, ["ab_ecn"] = 2896u, ["ab_tot"] = 14480u } });
        Assert.Equal(" dctcp:(ce_state:1,alpha:512,ab_ecn:2896,ab_tot:14480)", SsCommand.CcInfo(d, numeric: false));
        var off = Wire(new JsonObject { ["dctcp"] = new JsonObject { ["enabled"] = false, ["ce_state"] = 0u, ["alpha"] = 0u, ["ab_ecn"] = 0u, ["ab_tot"] = 0u } });
        Assert.Equal(" dctcp:fallback_mode", SsCommand.CcInfo(off, numeric: false));
        Assert.Equal("", SsCommand.CcInfo(new JsonObject { ["bbr"] = null, ["dctcp"] = null }, numeric: false));
    }

    [Fact]
    public void Block_GoesAfterDataSegsIn_BeforeSend()
    {
        var row = Wire(new JsonObject
        {
            ["state"] = "Established", ["protocol"] = 6,
            ["info"] = new JsonObject
            {
                ["cc"] = "bbr", ["wscale"] = "7,7", ["ts"] = true, ["sack"] = true, ["rto_ms"] = 204.0, ["rtt_ms"] = 3.5, ["rttvar_ms"] = 1.75,
                ["ato_ms"] = 0.0, ["mss"] = 1448, ["cwnd"] = 10, ["ssthresh"] = 2147483647, ["bytes_sent"] = 1000, ["data_segs_in"] = 1,
                ["pacing_rate"] = 0UL, ["max_pacing_rate"] = ulong.MaxValue, ["delivery_rate"] = 0UL, ["app_limited"] = false, ["reordering"] = 3,
                ["rcv_rtt_ms"] = 0.0,
                ["bbr"] = new JsonObject { ["bw"] = 2_500_000UL, ["min_rtt_us"] = 40_123u, ["pacing_gain"] = 320u, ["cwnd_gain"] = 512u },
            },
        });
        // send: 10 * 1448 * 8000000 / 3500 us = 33097142.9 -> 33.1M.
        Assert.Equal("\n\t bbr wscale:7,7 rto:204 rtt:3.5/1.75 mss:1448 cwnd:10 bytes_sent:1000 data_segs_in:1" +
                     " bbr:(bw:20Mbps,mrtt:40.123,pacing_gain:1.25,cwnd_gain:2) send 33.1Mbps",
            SsCommand.Ext(row, showOptions: false, details: false, showMem: false, showInfo: true, numeric: false));
    }

    private static readonly Regex BbrText = new(@" data_segs_out:\d+ bbr:\(bw:([0-9.]+)Mbps,mrtt:([0-9.]+),pacing_gain:([0-9.]+),cwnd_gain:([0-9.]+)\) send ");

    [Fact]
    public void BbrTransfer_ShowsItsModel_OnlyInStatesBeforeTimeWait()
    {
        using var s = new LinkStacks(rateBps: 20_000_000, rttMs: 40, limit: 1000);
        Assert.Equal(0, s.A.Sysctl.TrySet("net.ipv4.tcp_congestion_control", "bbr"));
        Assert.Equal(0, s.B.Sysctl.TrySet("net.ipv4.tcp_congestion_control", "bbr"));
        var (_, cfd, afd) = s.Connect();
        Assert.Equal(4L << 20, s.Transfer(cfd, afd, 4 << 20, 60_000));
        var tp = (TcpSock)s.A.Files.Lookup(cfd)!.Sk!;

        var row = Ss(s.A).Single(x => (string)x["netid"]! == "tcp");
        var b = row["info"]!["bbr"]!.AsObject();
        Assert.Null(row["info"]!["dctcp"]);
        // The op carries bbr_get_info()'s values, which getsockopt(TCP_CC_INFO) gives too.
        Span<byte> cc = stackalloc byte[20];
        int len = 20;
        Assert.Equal(0, SocketCalls.Getsockopt(s.A.Files, cfd, SOL_TCP, TCP_CC_INFO, cc, ref len));
        var g = BbrInfo.Parse(cc);
        Assert.Equal(g.Bandwidth, (ulong)b["bw"]!);
        Assert.Equal((uint)(g.MinRtt.Ticks / 10), (uint)b["min_rtt_us"]!);
        Assert.Equal(g.PacingGain * 256, (uint)b["pacing_gain"]!);
        Assert.Equal(g.CwndGain * 256, (uint)b["cwnd_gain"]!);

        string text = SsCommand.Ext(row, showOptions: false, details: false, showMem: false, showInfo: true, numeric: false);
        output.WriteLine("A: " + text.Trim());
        var m = BbrText.Match(text);
        Assert.True(m.Success, text);
        double Num(int i) => double.Parse(m.Groups[i].Value, CultureInfo.InvariantCulture);
        // Plausible for 20 Mbit/s and 40 ms: the payload rate (about 19.1 Mbit/s), the propagation RTT, PROBE_BW's gains.
        Assert.InRange(Num(1), 20 * 0.8, 20 * 1.1);
        Assert.InRange(Num(2), 40.0, 42.0);
        Assert.Contains(Num(3), new[] { 1.25, 0.75, 1.0 });
        Assert.Equal(2.0, Num(4));

        // inet_diag reports get_info for sk_state < TCP_TIME_WAIT only: B in CLOSE_WAIT shows none
        // (its algorithm still BBR), A in FIN_WAIT2 still does.
        Assert.Equal(0, SocketCalls.Shutdown(s.A.Files, cfd, SHUT_WR));
        s.RunFor(200);
        var btp = (TcpSock)s.B.Files.Lookup(afd)!.Sk!;
        Assert.Equal((TcpState.CloseWait, "bbr"), (btp.State, btp.CaOps.Name));
        var bRow = Ss(s.B).Single(x => (string)x["netid"]! == "tcp" && (string)x["state"]! == "CloseWait");
        Assert.Equal("bbr", (string)bRow["info"]!["cc"]!);
        Assert.Null(bRow["info"]!["bbr"]);
        Assert.DoesNotContain(" bbr:(", SsCommand.Ext(bRow, false, false, false, true, false));
        Assert.NotNull(NetStackInfo.GetTcpInfo(s.B, afd)!.Value.Bbr);   // getsockopt has no such rule
        Assert.Equal(TcpState.FinWait2, tp.State);
        Assert.NotNull(Ss(s.A).Single(x => (string)x["netid"]! == "tcp")["info"]!["bbr"]);
    }

    [Fact]
    public void DctcpTransfer_ShowsAlphaAndTheWindowsBytes_FallbackShowsFallbackMode()
    {
        using var s = new LinkStacks(rateBps: 50_000_000, rttMs: 4, limit: 1000);
        s.AtoB.CeThreshold = 10;
        Assert.Equal(0, s.A.Sysctl.TrySet("net.ipv4.tcp_congestion_control", "dctcp"));
        Assert.Equal(0, s.B.Sysctl.TrySet("net.ipv4.tcp_congestion_control", "dctcp"));
        var (_, cfd, afd) = s.Connect();
        Assert.Equal(2L << 20, s.Transfer(cfd, afd, 2 << 20, 60_000));
        var tp = (TcpSock)s.A.Files.Lookup(cfd)!.Sk!;
        var ca = TcpDctcp.Ca(tp);

        var row = Ss(s.A).Single(x => (string)x["netid"]! == "tcp");
        Assert.Null(row["info"]!["bbr"]);
        string text = SsCommand.Ext(row, showOptions: false, details: false, showMem: false, showInfo: true, numeric: false);
        output.WriteLine("A: " + text.Trim());
        var m = Regex.Match(text, @" data_segs_out:\d+ dctcp:\(ce_state:(\d+),alpha:(\d+),ab_ecn:(\d+),ab_tot:(\d+)\) send ");
        Assert.True(m.Success, text);
        uint Num(int i) => uint.Parse(m.Groups[i].Value, CultureInfo.InvariantCulture);
        Assert.Equal(ca.DctcpAlpha, Num(2));
        Assert.InRange(Num(2), 1u, 1023u);   // marks were seen: alpha left 1024 and did not reach 0
        Assert.True(s.AtoB.Marked > 0);
        Assert.Equal(0u, Num(1));   // the sender receives only ACKs, which nothing marks
        Assert.Equal(0u, Num(3) % tp.MssCache);   // whole segments' bytes
        Assert.Equal(0u, Num(4) % tp.MssCache);
        Assert.True(Num(3) <= Num(4));

        // The receiver saw the marks: its ce_state is the last data packet's, 0 or 1.
        var bRow = Ss(s.B).Single(x => (string)x["netid"]! == "tcp" && (string)x["state"]! == "Established");
        Assert.Equal(TcpDctcp.Ca((TcpSock)s.B.Files.Lookup(afd)!.Sk!).CeState, (uint)bRow["info"]!["dctcp"]!["ce_state"]!);

        using var f = new LinkStacks(rateBps: 0, rttMs: 2, limit: 0);
        Assert.Equal(0, f.A.Sysctl.TrySet("net.ipv4.tcp_congestion_control", "dctcp"));
        Assert.Equal(0, f.B.Sysctl.TrySet("net.ipv4.tcp_ecn", "0"));
        f.Connect();
        var fRow = Ss(f.A).Single(x => (string)x["netid"]! == "tcp");
        Assert.Contains(" dctcp-reno wscale:", SsCommand.Ext(fRow, false, false, false, true, false));
        Assert.Matches(@" dctcp:fallback_mode( |$)", SsCommand.Ext(fRow, false, false, false, true, false));
    }
}
