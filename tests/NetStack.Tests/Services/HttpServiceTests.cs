using System.Net;
using System.Net.Http;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using NetStack.Api;
using NetStack.AspNetCore;
using NetStack.Core;
using NetStack.Services;

namespace NetStack.Tests.Services;

/// <summary>
/// What users of the http service see: the Kestrel app on stack B, asked by HttpClient (or a raw
/// socket) on stack A over a MemoryLink, both stacks running in real time.
/// </summary>
public sealed class HttpServiceTests : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);
    private readonly RealTimeStacks _s = new();
    private readonly ServiceHost _services;
    private readonly HttpClient _http;
    private const string Base = "http://10.9.0.2";

    public HttpServiceTests()
    {
        _services = ServiceHost.Start(_s.B, "http");
        _http = NetStackHttp.CreateClient(_s.A);
        _http.Timeout = Limit;
    }

    public void Dispose()
    {
        _http.Dispose();
        _services.Dispose();
        _s.Dispose();
    }

    private static string Sha256Hex(byte[] data) => Convert.ToHexStringLower(SHA256.HashData(data));

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(65521)]
    [InlineData(3_000_000)]
    public async Task GetBytes_StreamsThePattern_WithContentLength(int n)
    {
        using var r = await _http.GetAsync($"{Base}/bytes/{n}");
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal(n, r.Content.Headers.ContentLength);
        Assert.Equal("application/octet-stream", r.Content.Headers.ContentType?.MediaType);
        var body = await r.Content.ReadAsByteArrayAsync();
        var expected = new byte[n];
        BytesPattern.Fill(0, expected);
        Assert.Equal(expected, body);
        Assert.Equal(BytesPattern.Sha256Hex(n), Sha256Hex(body));
    }

    [Fact]
    public void BytesPattern_RepeatsWithItsPrimePeriod_AndIsNotTrivial()
    {
        var a = new byte[3 * BytesPattern.Period];
        BytesPattern.Fill(0, a);
        Assert.Equal(a.AsSpan(0, BytesPattern.Period).ToArray(), a.AsSpan(BytesPattern.Period, BytesPattern.Period).ToArray());
        var b = new byte[1000];
        BytesPattern.Fill(12345 + BytesPattern.Period, b);
        Assert.Equal(a.AsSpan(12345, 1000).ToArray(), b);
        // Every byte value occurs: it is not a short counter.
        Assert.Equal(256, a.AsSpan(0, BytesPattern.Period).ToArray().Distinct().Count());
    }

    [Fact]
    public async Task Head_HasTheHeadersButNoBody()
    {
        using var r = await _http.SendAsync(new HttpRequestMessage(HttpMethod.Head, $"{Base}/bytes/5000"));
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal(5000, r.Content.Headers.ContentLength);
        Assert.Empty(await r.Content.ReadAsByteArrayAsync());
    }

    [Theory]
    [InlineData(false, 0)]
    [InlineData(false, 1)]
    [InlineData(false, 2_000_000)]
    [InlineData(true, 0)]
    [InlineData(true, 2_000_000)]
    public async Task PostSha256_AnswersTheHashOfTheBody_ContentLengthOrChunked(bool chunked, int size)
    {
        var data = new byte[size];
        new Random(size).NextBytes(data);
        using var request = new HttpRequestMessage(HttpMethod.Post, $"{Base}/sha256") { Content = new ByteArrayContent(data) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        if (chunked)
        {
            request.Headers.TransferEncodingChunked = true;
            request.Content.Headers.ContentLength = null;
        }
        using var r = await _http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal("text/plain", r.Content.Headers.ContentType?.MediaType);
        Assert.Equal(Sha256Hex(data) + "\n", await r.Content.ReadAsStringAsync());
        Assert.True(Interlocked.Read(ref _services.Find("http")!.BytesIn) >= size);
    }

    [Theory]
    [InlineData("GET", "/nope", 404, null)]
    [InlineData("GET", "/bytes/1/2", 404, null)]
    [InlineData("GET", "/sha256", 405, "POST")]
    [InlineData("POST", "/", 405, "GET, HEAD")]
    [InlineData("DELETE", "/bytes/10", 405, "GET, HEAD")]
    [InlineData("GET", "/bytes/12x", 400, null)]
    [InlineData("GET", "/bytes/1234567890123456789", 400, null)]
    public async Task WrongPathsAndMethods_GetTheirStatusAndAOneLineBody(string method, string path, int status, string? allow)
    {
        using var r = await _http.SendAsync(new HttpRequestMessage(new HttpMethod(method), Base + path));
        Assert.Equal(status, (int)r.StatusCode);
        string text = await r.Content.ReadAsStringAsync();
        Assert.StartsWith($"{status} ", text);
        Assert.EndsWith("\n", text);
        if (allow is not null) Assert.Equal(allow, string.Join(", ", r.Content.Headers.Allow));
        // The connection stays usable.
        Assert.Equal("2", (await _http.GetAsync($"{Base}/bytes/2")).Content.Headers.ContentLength?.ToString());
    }

    [Fact]
    public async Task StatusPage_ShowsServicesSocketsAndCounters()
    {
        string page = await _http.GetStringAsync(Base + "/");
        Assert.StartsWith("netstack b: ", page);
        Assert.Contains("10.9.0.2 on ", page);
        Assert.Contains("http tcp/80: 1 accepted, 1 active", page);
        Assert.Contains("1 requests", page);
        Assert.Matches(@"TCP\s+Listen\s+0\.0\.0\.0:80\s", page);
        Assert.Matches(@"TCP\s+Established\s+10\.9\.0\.2:80\s+10\.9\.0\.1:\d+", page);
        var ip = page.Split('\n').Where(l => l.StartsWith("Ip: ")).ToArray();
        Assert.Equal(2, ip.Length);
        long inReceives = long.Parse(ip[1].Split(' ')[Array.IndexOf(ip[0].Split(' '), "InReceives")]);
        Assert.True(inReceives > 0);
    }

    [Fact]
    public async Task RawSocket_KeepAliveThenClose_BothAnsweredThenFin()
    {
        using var s = NetSocket.Tcp(_s.A);
        await s.ConnectAsync(Ep.Of(TwoStacks.AddrB, 80)).AsTask().WaitAsync(Limit);
        var req = Encoding.ASCII.GetBytes(
            "GET /bytes/3 HTTP/1.1\r\nHost: b\r\n\r\n" +
            "POST /sha256 HTTP/1.1\r\nHost: b\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc");
        for (var rest = req.AsMemory(); !rest.IsEmpty;) rest = rest[await s.SendAsync(rest).AsTask().WaitAsync(Limit)..];
        var all = new MemoryStream();
        var buf = new byte[4096];
        int n;
        while ((n = await s.ReceiveAsync(buf).AsTask().WaitAsync(Limit)) > 0) all.Write(buf, 0, n); // ends with the server's FIN
        string text = Encoding.Latin1.GetString(all.ToArray());
        Assert.StartsWith("HTTP/1.1 200 OK\r\n", text);
        Assert.Equal(2, text.Split("HTTP/1.1 200 OK\r\n").Length - 1);
        Assert.EndsWith("\r\n\r\n" + Sha256Hex("abc"u8.ToArray()) + "\n", text);
    }
}
