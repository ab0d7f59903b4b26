using NetStack.Cli;
using NetStack.Cli.Commands;
using Col = NetStack.Cli.SsRender.Col;

namespace NetStack.Tests.ControlPlane;

/// <summary>
/// `netstack ss`'s layout and fields: the same fields laid out as ss 7.1 laid them out for the
/// kernel's sockets (Fixtures/README.md), byte for byte, compact and at a screen width; ss's timer format.
/// </summary>
public sealed class SsTests
{
    private static string Fixture(string name) => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "ControlPlane", "Fixtures", name));

    private const string Listen = "LISTEN", Estab = "ESTAB", Unconn = "UNCONN";

    // The kernel's sockets of the fixtures: netid, state, recv-q, send-q, local, port, peer, port.
    private static readonly (string Netid, string State, int Rq, int Wq, string L, string Lp, string P, string Pp)[] Raw =
    [
        ("raw", Unconn, 0, 0, "0.0.0.0", "17", "0.0.0.0", "*"),
        ("raw", Estab, 0, 0, "127.0.0.1", "6", "127.0.0.2", "*"),
        ("raw", Unconn, 0, 0, "127.0.0.1", "1", "0.0.0.0", "*"),
    ];
    private static readonly (string, string, int, int, string, string, string, string)[] Udp =
    [
        ("udp", Estab, 0, 0, "127.0.0.1", "39161", "127.0.0.1", "7000"),
        ("udp", Unconn, 0, 0, "0.0.0.0", "7000", "0.0.0.0", "*"),
    ];
    private static readonly (string, string, int, int, string, string, string, string)[] Tcp =
    [
        ("tcp", Listen, 0, 128, "127.0.0.1", "5555", "0.0.0.0", "*"),
        ("tcp", Estab, 100000, 0, "127.0.0.1", "5555", "127.0.0.1", "52374"),
        ("tcp", Estab, 0, 0, "127.0.0.1", "52374", "127.0.0.1", "5555"),
    ];

    private static string Lay(IEnumerable<(string Netid, string State, int Rq, int Wq, string L, string Lp, string P, string Pp)> rows,
        string[]? ext, int? width, bool netid, bool state)
    {
        var t = new SsRender();
        t.Disable(Col.Process);
        if (!netid) t.Disable(Col.Netid);
        if (!state) t.Disable(Col.State);
        t.Header();
        int n = 0;
        foreach (var r in rows)
        {
            t.Out(Col.Netid, r.Netid);
            t.Out(Col.State, r.State);
            t.Out(Col.RecvQ, $"{r.Rq,-6}");
            t.Out(Col.SendQ, $"{r.Wq,-6}");
            t.Out(Col.Local, r.L + ":");
            t.Out(Col.LocalPort, r.Lp);
            t.Out(Col.Peer, r.P + ":");
            t.Out(Col.PeerPort, r.Pp);
            t.Out(Col.Ext, ext?[n] ?? "");
            n++;
        }
        return t.Render(width);
    }

    [Fact]
    public void ThreeTables_Compact_AndAtAScreenWidth()
    {
        var all = Raw.Concat(Udp).Concat(Tcp).ToArray();
        Assert.Equal(Fixture("ss-tuwan.txt"), Lay(all, null, null, netid: true, state: true));
        Assert.Equal(Fixture("ss-tuwan-c100.txt"), Lay(all, null, 100, netid: true, state: true));
        Assert.Equal(Fixture("ss-tan-c50.txt"), Lay(Tcp, null, 50, netid: false, state: true));
    }

    [Fact]
    public void OneStateOnly_HidesTheStateColumn()
    {
        Assert.Equal(Fixture("ss-wn.txt"), Lay([Raw[1]], null, null, netid: false, state: false));
    }

    [Fact]
    public void SecondLines_AndDetails_GoInTheLastField_WhoseWidthPadsTheHeader()
    {
        string[] mem =
        [
            "\n\t skmem:(r0,rb131072,t0,tb16384,f0,w0,o0,bl0,d0)",
            "\n\t skmem:(r102496,rb131072,t0,tb3939840,f4000,w0,o0,bl0,d1)",
            "\n\t skmem:(r0,rb131072,t0,tb3939840,f0,w0,o0,bl0,d0)",
        ];
        Assert.Equal(Fixture("ss-tamn.txt"), Lay(Tcp, mem, null, netid: false, state: true));
        string[] details =
        [
            " ino:907054 sk:101e cgroup:unreachable:1 <->\n\t skmem:(r0,rb212992,t0,tb212992,f0,w0,o0,bl0,d0)",
            " ino:907053 sk:101f cgroup:unreachable:1 <->\n\t skmem:(r0,rb212992,t0,tb212992,f0,w0,o0,bl0,d0)",
        ];
        Assert.Equal(Fixture("ss-uamen.txt"), Lay(Udp, details, null, netid: false, state: true));
    }

    [Fact]
    public void NoSockets_HeaderAlone()
    {
        Assert.Equal("Recv-Q Send-Q Local Address:Port Peer Address:Port\n", Lay([], null, null, netid: false, state: false));
    }

    [Theory]
    [InlineData(0, "")]
    [InlineData(200, "200ms")]
    [InlineData(1200, "1.200sec")]
    [InlineData(59_000, "59sec")]
    [InlineData(12_345, "12sec")]
    [InlineData(60_000, "1min")]
    [InlineData(119_500, "1min59sec")]
    [InlineData(7_200_000, "120min")]
    public void Timer_AsSsPrintsIt(long ms, string text) => Assert.Equal(text, SsCommand.MsTimer(ms));

    [Theory]
    [InlineData(945_000_000.0, false, "945M")]
    [InlineData(26_500_000.0, false, "26.5M")]
    [InlineData(146_000_000_000.0, false, "146G")]
    [InlineData(999.0, false, "999")]
    [InlineData(1_500.0, false, "1.5k")]
    [InlineData(945_123_456.0, true, "945123456")]
    public void Rates_AsSprintBw(double bps, bool numeric, string text) => Assert.Equal(text, SsCommand.Bw(bps, numeric));
}
