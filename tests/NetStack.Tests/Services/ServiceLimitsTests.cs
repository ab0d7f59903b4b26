using System.Net;
using System.Net.Http;
using System.Text;
using NetStack.Api;
using NetStack.AspNetCore;
using NetStack.Core;
using NetStack.Services;
using NetStack.Services.Iperf3;

namespace NetStack.Tests.Services;

/// <summary>
/// The services against slow and hostile clients, on stack B used from stack A over a MemoryLink in
/// real time: a slowloris HTTP client that never finishes its headers, a silent echo client, a chargen
/// client that stops reading, an iperf3 client that connects and sends nothing. The timeouts are set
/// small; each case asserts the offender is closed (and counted) and that a legitimate client is served.
/// </summary>
public sealed class ServiceLimitsTests : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);
    private readonly RealTimeStacks _s = new();

    public void Dispose() => _s.Dispose();

    private async Task<NetSocket> ConnectAsync(ushort port)
    {
        var s = NetSocket.Tcp(_s.A);
        await s.ConnectAsync(Ep.Of(TwoStacks.AddrB, port)).AsTask().WaitAsync(Limit);
        return s;
    }

    private static async Task SendAllAsync(NetSocket s, string text)
    {
        for (ReadOnlyMemory<byte> rest = Encoding.ASCII.GetBytes(text); !rest.IsEmpty;) rest = rest[await s.SendAsync(rest).AsTask().WaitAsync(Limit)..];
    }

    /// <summary>Everything the server sends until its FIN.</summary>
    private static async Task<string> ReadToEndAsync(NetSocket s)
    {
        var all = new MemoryStream();
        var buf = new byte[4096];
        int n;
        while ((n = await s.ReceiveAsync(buf).AsTask().WaitAsync(Limit)) > 0) all.Write(buf, 0, n);
        return Encoding.Latin1.GetString(all.ToArray());
    }

    [Fact]
    public async Task Http_SlowlorisHeadersNeverFinished_Gets408AndIsClosed_OtherRequestsSucceed()
    {
        using var services = ServiceHost.Start(_s.B, "http", new ServiceOptions { HeadersTimeout = TimeSpan.FromSeconds(1) });
        using var http = NetStackHttp.CreateClient(_s.A);
        http.Timeout = Limit;
        using var loris = await ConnectAsync(80);
        // A request line and one header, then nothing: the head is never finished.
        await SendAllAsync(loris, "GET / HTTP/1.1\r\nHost: b\r\n");
        var dropped = ReadToEndAsync(loris);
        // Meanwhile other clients are served.
        Assert.Equal(3, (await http.GetByteArrayAsync("http://10.9.0.2/bytes/3").WaitAsync(Limit)).Length);
        string answer = await dropped;
        Assert.StartsWith("HTTP/1.1 408 Request Timeout\r\n", answer);
        Assert.Equal(3, (await http.GetByteArrayAsync("http://10.9.0.2/bytes/3").WaitAsync(Limit)).Length);
    }

    [Fact]
    public async Task Http_KeepAliveConnectionLeftIdle_IsClosedAfterTheIdleTimeout()
    {
        using var services = ServiceHost.Start(_s.B, "http", new ServiceOptions { IdleTimeout = TimeSpan.FromSeconds(1) });
        using var s = await ConnectAsync(80);
        await SendAllAsync(s, "GET /bytes/3 HTTP/1.1\r\nHost: b\r\n\r\n");
        // The answer, then (no next request) the server's FIN.
        string text = await ReadToEndAsync(s);
        Assert.StartsWith("HTTP/1.1 200 OK\r\n", text);
        Assert.EndsWith("\r\n\r\n" + Encoding.Latin1.GetString(BytesPatternOf(3)), text);
    }

    private static byte[] BytesPatternOf(int n)
    {
        var b = new byte[n];
        BytesPattern.Fill(0, b);
        return b;
    }

    [Fact]
    public async Task Echo_SilentClient_IsClosedAfterTheIdleTimeout_AnActiveOneIsServed()
    {
        using var services = ServiceHost.Start(_s.B, "echo", new ServiceOptions { IdleTimeout = TimeSpan.FromMilliseconds(300) });
        var echo = (TcpService)services.Find("echo")!;
        using var silent = await ConnectAsync(7);
        var closed = ReadToEndAsync(silent);
        using var active = await ConnectAsync(7);
        var buf = new byte[16];
        await SendAllAsync(active, "ping");
        Assert.Equal("ping", Encoding.ASCII.GetString(buf, 0, await active.ReceiveAsync(buf).AsTask().WaitAsync(Limit)));
        Assert.Equal("", await closed); // the server's FIN, nothing echoed
        Assert.True(TwoStacksWait.Until(() => Interlocked.Read(ref echo.TimedOut) >= 1));
        Assert.Contains("timed out", echo.FormatStats());
    }

    [Fact]
    public async Task Chargen_ClientThatStopsReading_IsClosedAfterTheIdleTimeout()
    {
        using var services = ServiceHost.Start(_s.B, "chargen", new ServiceOptions { IdleTimeout = TimeSpan.FromMilliseconds(300) });
        var chargen = (TcpService)services.Find("chargen")!;
        using var reader = await ConnectAsync(19);
        // Never read: the windows fill, the service's sends stop making progress, the idle timer fires.
        Assert.True(TwoStacksWait.Until(() => Interlocked.Read(ref chargen.TimedOut) == 1, Limit));
        Assert.True(TwoStacksWait.Until(() => Interlocked.Read(ref chargen.Active) == 0, Limit));
        // Another client is served.
        using var next = await ConnectAsync(19);
        var buf = new byte[ChargenTcpService.LineBytes];
        int got = 0;
        while (got < buf.Length) got += await next.ReceiveAsync(buf.AsMemory(got)).AsTask().WaitAsync(Limit);
        var expect = new byte[ChargenTcpService.LineBytes];
        ChargenTcpService.Fill(0, expect);
        Assert.Equal(expect, buf);
    }

    [Fact]
    public async Task Iperf3_ControlConnectionThatSendsNothing_IsClosed_ThenATestRuns()
    {
        var text = new StringBuilder();
        var server = new Iperf3Server(_s.B, new Iperf3ServerOptions { SetupTimeout = TimeSpan.FromMilliseconds(500), Output = t => { lock (text) text.Append(t); } });
        server.Start();
        var run = server.RunAsync();
        await using (server)
        {
            using (var mute = await ConnectAsync(5201))
            {
                // Connected, no cookie: the server gives up and closes (no state byte is ever sent).
                Assert.Equal("", await ReadToEndAsync(mute));
            }
            Assert.True(TwoStacksWait.Until(() => server.Failed == 1, Limit));
            lock (text) Assert.Contains("iperf3: error - unable to receive cookie at server: no cookie within 0.5 s", text.ToString());
            var r = await Iperf3Client.RunAsync(_s.A, new Iperf3ClientOptions { Host = IPAddress.Parse("10.9.0.2"), Time = 1, Interval = 0 }, _ => { }).WaitAsync(Limit);
            Assert.Null(r.Error);
        }
    }
}
