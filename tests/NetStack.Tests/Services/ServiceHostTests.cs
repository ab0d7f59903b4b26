using System.Security.Cryptography;
using System.Text;
using NetStack.Api;
using NetStack.AspNetCore;
using NetStack.Core;
using NetStack.Drivers;
using NetStack.Ipv6;
using NetStack.Net;
using NetStack.Services;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Services;

/// <summary>
/// The services on stack B, used from stack A over a MemoryLink, both stacks running their own
/// threads in real time (the services are async tasks over NetSocket, as in `netstack up`).
/// </summary>
public sealed class ServiceHostTests : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);
    private readonly RealTimeStacks _s = new();
    private NetNamespace _a => _s.A;
    private NetNamespace _b => _s.B;

    public void Dispose() => _s.Dispose();

    private static System.Net.IPEndPoint B(ushort port) => Ep.Of(TwoStacks.AddrB, port);

    private async Task<NetSocket> ConnectAsync(ushort port)
    {
        var s = NetSocket.Tcp(_a);
        await s.ConnectAsync(B(port)).AsTask().WaitAsync(Limit);
        return s;
    }

    private static async Task<byte[]> ReadToEndAsync(NetSocket s, long max = long.MaxValue)
    {
        var ms = new MemoryStream();
        var buf = new byte[65536];
        while (ms.Length < max)
        {
            int n = await s.ReceiveAsync(buf.AsMemory(0, (int)Math.Min(buf.Length, max - ms.Length))).AsTask().WaitAsync(Limit);
            if (n == 0) break;
            ms.Write(buf, 0, n);
        }
        return ms.ToArray();
    }

    private static async Task SendAllAsync(NetSocket s, ReadOnlyMemory<byte> data)
    {
        while (!data.IsEmpty) data = data[await s.SendAsync(data).AsTask().WaitAsync(Limit)..];
    }

    [Theory]
    [InlineData("all", "echo,discard,chargen,http,iperf3")]
    [InlineData("", "")]
    [InlineData("none", "")]
    [InlineData(" HTTP , echo ", "http,echo")]
    [InlineData("echo,all", "echo,discard,chargen,http,iperf3")]
    [InlineData("iperf3:5202", "iperf3:5202")]
    [InlineData("http:8080,discard", "http:8080,discard")]
    public void ParseList_Accepts(string list, string expected) =>
        Assert.Equal(expected, string.Join(',', ServiceHost.ParseList(list).Select(e => e.Port == 0 ? e.Name : $"{e.Name}:{e.Port}")));

    [Theory]
    [InlineData("ftp", "unknown service 'ftp'")]
    [InlineData("http:0", "bad port")]
    [InlineData("http:70000", "bad port")]
    [InlineData("http:x", "bad port")]
    [InlineData("all:5", "'all' takes no port")]
    public void ParseList_Refuses(string list, string message) =>
        Assert.Contains(message, Assert.Throws<FormatException>(() => ServiceHost.ParseList(list)).Message);

    [Fact]
    public async Task All_StartsEveryServiceOnItsPort_AndDisposeClosesThem()
    {
        var host = ServiceHost.Start(_b, "all");
        Assert.Equal("echo tcp/7 udp/7, discard tcp/9 udp/9, chargen tcp/19, http tcp/80, iperf3 tcp/5201", host.Describe());
        foreach (ushort port in new ushort[] { 7, 9, 19, 80, 5201 })
            using (await ConnectAsync(port)) { }
        host.Dispose();
        using var s = NetSocket.Tcp(_a);
        var e = await Assert.ThrowsAsync<NetStackException>(() => s.ConnectAsync(B(80)).AsTask().WaitAsync(Limit));
        Assert.Equal(Errno.ECONNREFUSED, e.Errno);
    }

    [Fact]
    public async Task All_OnIpv6Any_EveryServiceTakesIpv6AndIpv4Clients()
    {
        _a.AddIpv6Address(_s.Link.A, System.Net.IPAddress.Parse("fd00:9::1"), 64);
        _b.AddIpv6Address(_s.Link.B, System.Net.IPAddress.Parse("fd00:9::2"), 64);
        // `up --services-bind ::`: every service (iperf3 and Kestrel's http included) on a dual-stack AF_INET6 socket.
        using var host = ServiceHost.Start(_b, ServiceHost.ParseList("all"), new ServiceOptions { BindAddress = System.Net.IPAddress.IPv6Any });
        foreach (ushort port in new ushort[] { 7, 9, 19, 80, 5201 })
        {
            using (await ConnectAsync(port)) { }
            using var s6 = new NetSocket(_a, System.Net.Sockets.AddressFamily.InterNetworkV6, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
            await s6.ConnectAsync(new System.Net.IPEndPoint(System.Net.IPAddress.Parse("fd00:9::2"), port)).AsTask().WaitAsync(Limit);
        }
    }

    [Fact]
    public void PortTaken_StartFails_AndReleasesWhatItStarted()
    {
        using var squatter = NetSocket.Udp(_b);
        squatter.Bind(Ep.Of(0, 9)); // discard's UDP port
        var e = Assert.Throws<NetStackException>(() => ServiceHost.Start(_b, "echo,discard"));
        Assert.Equal(Errno.EADDRINUSE, e.Errno);
        // echo (started first) was stopped again: its ports can be bound.
        using var t = NetSocket.Tcp(_b);
        t.Bind(Ep.Of(0, 7));
        using var u = NetSocket.Udp(_b);
        u.Bind(Ep.Of(0, 7));
    }

    [Fact]
    public async Task EchoTcp_ReturnsEverything_ThenCloses()
    {
        using var host = ServiceHost.Start(_b, "echo");
        using var s = await ConnectAsync(7);
        var data = RandomNumberGenerator.GetBytes(2 << 20);
        var reader = ReadToEndAsync(s);
        await SendAllAsync(s, data);
        s.Shutdown(SHUT_WR);
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(await reader.WaitAsync(Limit)));
        var echo = host.Find("echo")!;
        Assert.True(TwoStacksWait.Until(() => Interlocked.Read(ref echo.Completed) == 1));
        Assert.Equal(data.Length, Interlocked.Read(ref echo.BytesIn));
        Assert.Equal(data.Length, Interlocked.Read(ref echo.BytesOut));
    }

    [Fact]
    public async Task EchoTcp_FiftyConcurrentConnections()
    {
        using var host = ServiceHost.Start(_b, "echo");
        var tasks = Enumerable.Range(0, 50).Select(async i =>
        {
            using var s = await ConnectAsync(7);
            var data = new byte[10_000 + i * 1000];
            new Random(i).NextBytes(data);
            var reader = ReadToEndAsync(s);
            await SendAllAsync(s, data);
            s.Shutdown(SHUT_WR);
            return (await reader).AsSpan().SequenceEqual(data);
        }).ToArray();
        var ok = await Task.WhenAll(tasks).WaitAsync(Limit);
        Assert.All(ok, Assert.True);
    }

    [Fact]
    public async Task EchoAndDiscardUdp()
    {
        using var host = ServiceHost.Start(_b, "echo,discard");
        using var u = NetSocket.Udp(_a);
        u.Bind(Ep.Of(0, 0));
        await u.SendToAsync("ping"u8.ToArray(), B(7)).AsTask().WaitAsync(Limit);
        var buf = new byte[100];
        var r = await u.ReceiveFromAsync(buf).AsTask().WaitAsync(Limit);
        Assert.Equal("ping", Encoding.ASCII.GetString(buf, 0, r.ReceivedBytes));
        Assert.Equal(B(7), r.RemoteEndPoint);
        await u.SendToAsync(new byte[1000], B(9)).AsTask().WaitAsync(Limit);
        var discard = host.Find("discard", "udp")!;
        Assert.True(TwoStacksWait.Until(() => Interlocked.Read(ref discard.BytesIn) == 1000));
        // Nothing comes back from discard.
        Assert.Equal(0, u.Poll(POLLIN, 0));
    }

    [Fact]
    public async Task DiscardTcp_ReadsEverything()
    {
        using var host = ServiceHost.Start(_b, "discard");
        using (var s = await ConnectAsync(9))
        {
            await SendAllAsync(s, new byte[1 << 20]);
            s.Shutdown(SHUT_WR);
            Assert.Empty(await ReadToEndAsync(s)); // the service closes after our end of stream, sending nothing
        }
        Assert.Equal(1 << 20, Interlocked.Read(ref host.Find("discard")!.BytesIn));
    }

    [Fact]
    public async Task Chargen_SendsTheRfc864Pattern()
    {
        using var host = ServiceHost.Start(_b, "chargen");
        using var s = await ConnectAsync(19);
        var got = await ReadToEndAsync(s, max: 3 * ChargenTcpService.PeriodBytes + 123);
        var expected = new byte[got.Length];
        ChargenTcpService.Fill(0, expected);
        Assert.Equal(expected, got);
        Assert.Equal(" !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefg\r\n!\"#", Encoding.ASCII.GetString(got, 0, 77));
    }

    [Fact]
    public async Task Chargen_PatternStaysInPhaseAcrossItsLargeSends()
    {
        // One send hands over 18 periods (about 128 KiB) or what the send buffer takes of them; the
        // next continues at the phase where the last one stopped. Far more than one send's worth,
        // from an odd offset of the period: every byte must still be the pattern's.
        using var host = ServiceHost.Start(_b, "chargen");
        using var s = await ConnectAsync(19);
        const int len = 45 * ChargenTcpService.PeriodBytes + 4321;
        var got = await ReadToEndAsync(s, max: len);
        Assert.Equal(len, got.Length);
        var expected = new byte[len];
        ChargenTcpService.Fill(0, expected);
        Assert.Equal(expected, got);
    }

    [Fact]
    public async Task Chargen_StopsWhenTheClientLeaves()
    {
        using var host = ServiceHost.Start(_b, "chargen");
        var svc = host.Find("chargen")!;
        using (var s = await ConnectAsync(19))
            await ReadToEndAsync(s, max: 10_000);
        // Our close with unread data resets the connection; the service's next send fails and it ends.
        Assert.True(TwoStacksWait.Until(() => Interlocked.Read(ref svc.Active) == 0 && Interlocked.Read(ref svc.Completed) == 1, Limit));
    }

    [Fact]
    public async Task Http_GetBytes_And_PostSha256_OverTcp()
    {
        using var host = ServiceHost.Start(_b, "http");
        using var http = NetStackHttp.CreateClient(_a);
        var body = await http.GetByteArrayAsync("http://10.9.0.2/bytes/3000000").WaitAsync(Limit);
        Assert.Equal(3_000_000, body.Length);
        Assert.Equal(BytesPattern.Sha256Hex(3_000_000), Convert.ToHexStringLower(SHA256.HashData(body)));

        using var s = await ConnectAsync(80);
        var data = RandomNumberGenerator.GetBytes(1 << 20);
        var reader = ReadToEndAsync(s);
        await SendAllAsync(s, Encoding.ASCII.GetBytes($"POST /sha256 HTTP/1.1\r\nHost: b\r\nConnection: close\r\nContent-Length: {data.Length}\r\n\r\n"));
        await SendAllAsync(s, data);
        string response = Encoding.ASCII.GetString(await reader);
        Assert.StartsWith("HTTP/1.1 200 OK\r\n", response);
        Assert.EndsWith("\r\n\r\n" + Convert.ToHexStringLower(SHA256.HashData(data)) + "\n", response);
    }

    [Fact]
    public async Task Http_StatusPage_ListsTheConnectionAndTheCounters()
    {
        using var host = ServiceHost.Start(_b, "all");
        using var http = NetStackHttp.CreateClient(_a);
        string page = await http.GetStringAsync("http://10.9.0.2/").WaitAsync(Limit);
        Assert.Contains("10.9.0.2 on ", page);
        Assert.Contains("http tcp/80: 1 accepted, 1 active", page);
        Assert.Matches(@"TCP\s+Established\s+10\.9\.0\.2:80\s+10\.9\.0\.1:\d+", page);
        Assert.Matches(@"TCP\s+Listen\s+0\.0\.0\.0:19\s", page);
        Assert.Contains("Tcp: RtoAlgorithm", page);
    }

    [Fact]
    public async Task MaxConnections_BoundsHowManyAreServedAtOnce()
    {
        using var host = ServiceHost.Start(_b, "echo", new ServiceOptions { MaxConnections = 2 });
        var echo = host.Find("echo")!;
        using var c1 = await ConnectAsync(7);
        using var c2 = await ConnectAsync(7);
        Assert.True(TwoStacksWait.Until(() => Interlocked.Read(ref echo.Accepted) == 2));
        // The third handshake completes in the kernel's way (the listen backlog) but nobody serves it yet.
        using var c3 = await ConnectAsync(7);
        await SendAllAsync(c3, "third"u8.ToArray());
        await SendAllAsync(c1, "first"u8.ToArray());
        var buf = new byte[16];
        Assert.Equal("first", Encoding.ASCII.GetString(buf, 0, await c1.ReceiveAsync(buf).AsTask().WaitAsync(Limit)));
        Assert.Equal(2, Interlocked.Read(ref echo.Accepted));
        Assert.Equal(0, c3.Poll(POLLIN, 0));
        // When one ends, the third is taken and answered.
        c1.Shutdown(SHUT_WR);
        Assert.Empty(await ReadToEndAsync(c1));
        Assert.Equal("third", Encoding.ASCII.GetString(buf, 0, await c3.ReceiveAsync(buf).AsTask().WaitAsync(Limit)));
        Assert.Equal(3, Interlocked.Read(ref echo.Accepted));
    }
}

/// <summary>Polling for a condition reached by other threads (no sleeping on virtual time here: these stacks run in real time).</summary>
internal static class TwoStacksWait
{
    public static bool Until(Func<bool> condition, TimeSpan? timeout = null)
    {
        var end = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (!condition())
        {
            if (DateTime.UtcNow > end) return false;
            Thread.Sleep(5);
        }
        return true;
    }
}
