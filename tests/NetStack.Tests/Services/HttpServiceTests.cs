using System.Security.Cryptography;
using System.Text;
using NetStack.Core;
using NetStack.Services;

namespace NetStack.Tests.Services;

/// <summary>The http service's request handling over an in-memory connection (no TCP involved).</summary>
public sealed class HttpServiceTests : IDisposable
{
    private readonly NetNamespace _net = new("http-test");

    public void Dispose() => _net.Dispose();

    /// <summary>A connection whose client side sends <c>input</c> (in reads of at most <c>readSize</c> bytes), then its end of stream; the server's bytes are collected.</summary>
    private sealed class ScriptedConnection(byte[] input, int readSize) : Stream
    {
        private int _pos;
        public readonly MemoryStream Output = new();

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            int n = Math.Min(Math.Min(readSize, buffer.Length), input.Length - _pos);
            input.AsSpan(_pos, n).CopyTo(buffer.Span);
            _pos += n;
            return new ValueTask<int>(n);
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Output.Write(buffer.Span);
            return ValueTask.CompletedTask;
        }

        public int Unread => input.Length - _pos;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    private sealed record Response(HttpResponseHead Head, byte[] Body)
    {
        public string Text => Encoding.UTF8.GetString(Body);
    }

    private HttpService NewService(ServiceOptions? options = null) => new(_net, options ?? new ServiceOptions());

    /// <summary>Serves <paramref name="request"/> and parses every response in the output (methods say which ones were HEAD).</summary>
    private List<Response> Serve(byte[] request, int readSize = 1 << 20, ServiceOptions? options = null, params string[] methods)
    {
        var conn = new ScriptedConnection(request, readSize);
        var service = NewService(options);
        Assert.True(service.ServeAsync(conn, CancellationToken.None).Wait(TimeSpan.FromSeconds(30)));
        return ParseResponses(conn.Output.ToArray(), methods);
    }

    private List<Response> Serve(string request, int readSize = 1 << 20, ServiceOptions? options = null, params string[] methods) =>
        Serve(Encoding.Latin1.GetBytes(request), readSize, options, methods);

    private static List<Response> ParseResponses(byte[] output, string[] methods)
    {
        var list = new List<Response>();
        var input = new HttpInput(new MemoryStream(output), output.Length + 1);
        Assert.Equal(output.Length, input.FillAsync(default).AsTask().Result);
        while (input.Count > 0)
        {
            var st = HttpParser.TryParseResponse(input.Span, 1 << 16, out var head, out int consumed, out var error);
            Assert.True(st == HttpParseStatus.Done, $"unparsable response ({st} {error}): {Encoding.Latin1.GetString(input.Span)}");
            input.Consume(consumed);
            if (head!.Status == 100) continue;
            string method = list.Count < methods.Length ? methods[list.Count] : "GET";
            var body = input.Body(head.BodyKindFor(method), head.ContentLength);
            var ms = new MemoryStream();
            while (true)
            {
                var piece = body.ReadAsync(default).AsTask().Result;
                if (piece.IsEmpty) break;
                ms.Write(piece.Span);
            }
            list.Add(new Response(head, ms.ToArray()));
        }
        return list;
    }

    private static string Sha256Hex(byte[] data) => Convert.ToHexStringLower(SHA256.HashData(data));

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(65521)]
    [InlineData(200_000)]
    public void GetBytes_StreamsThePattern_WithContentLength(int n)
    {
        var r = Assert.Single(Serve($"GET /bytes/{n} HTTP/1.1\r\nHost: h\r\n\r\n"));
        Assert.Equal(200, r.Head.Status);
        Assert.Equal(n, r.Head.ContentLength);
        Assert.Equal("application/octet-stream", r.Head.Headers.Get("Content-Type"));
        var expected = new byte[n];
        BytesPattern.Fill(0, expected);
        Assert.Equal(expected, r.Body);
        Assert.Equal(BytesPattern.Sha256Hex(n), Sha256Hex(r.Body));
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
    public void Head_HasTheHeadersButNoBody()
    {
        var r = Assert.Single(Serve("HEAD /bytes/1000 HTTP/1.1\r\nHost: h\r\n\r\n", methods: "HEAD"));
        Assert.Equal(200, r.Head.Status);
        Assert.Equal(1000, r.Head.ContentLength);
        Assert.Empty(r.Body);
    }

    [Theory]
    [InlineData(1 << 20)]
    [InlineData(1)]
    public void PostSha256_ContentLength_AnswersTheHash(int readSize)
    {
        var body = new byte[100_000];
        new Random(4).NextBytes(body);
        var req = Encoding.ASCII.GetBytes($"POST /sha256 HTTP/1.1\r\nHost: h\r\nContent-Length: {body.Length}\r\n\r\n").Concat(body).ToArray();
        var r = Assert.Single(Serve(req, readSize));
        Assert.Equal(200, r.Head.Status);
        Assert.Equal(Sha256Hex(body) + "\n", r.Text);
    }

    [Theory]
    [InlineData(1 << 20)]
    [InlineData(3)]
    public void PostSha256_Chunked_AnswersTheHashOfTheDecodedBody(int readSize)
    {
        var sb = new StringBuilder("POST /sha256 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
        var body = new StringBuilder();
        var rng = new Random(9);
        for (int i = 0; i < 50; i++)
        {
            string chunk = new string((char)('a' + i % 26), rng.Next(1, 3000));
            body.Append(chunk);
            sb.Append($"{chunk.Length:x}" + (i % 7 == 0 ? ";ext=v" : "") + "\r\n" + chunk + "\r\n");
        }
        sb.Append("0\r\nX-Trailer: t\r\n\r\n");
        var r = Assert.Single(Serve(sb.ToString(), readSize));
        Assert.Equal(200, r.Head.Status);
        Assert.Equal(Sha256Hex(Encoding.ASCII.GetBytes(body.ToString())) + "\n", r.Text);
    }

    [Fact]
    public void PostSha256_EmptyBody_IsTheHashOfNothing()
    {
        var r = Assert.Single(Serve("POST /sha256 HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"));
        Assert.Equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n", r.Text);
    }

    [Fact]
    public async Task ExpectContinue_Sends100_ThenTheAnswer()
    {
        var conn = new ScriptedConnection(Encoding.ASCII.GetBytes("POST /sha256 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\nabc"), 1 << 20);
        await NewService().ServeAsync(conn, default).WaitAsync(TimeSpan.FromSeconds(30));
        string text = Encoding.ASCII.GetString(conn.Output.ToArray());
        Assert.StartsWith("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n", text);
        Assert.EndsWith(Sha256Hex("abc"u8.ToArray()) + "\n", text);
    }

    [Fact]
    public void KeepAlive_PipelinedRequests_AreAnsweredInOrder()
    {
        string reqs = "GET /bytes/10 HTTP/1.1\r\nHost: h\r\n\r\n" +
                      "POST /sha256 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc" +
                      "GET /nope HTTP/1.1\r\nHost: h\r\n\r\n" +
                      "GET /bytes/5 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n" +
                      "GET /bytes/7 HTTP/1.1\r\nHost: h\r\n\r\n"; // after "close": never answered
        var rs = Serve(reqs, readSize: 17);
        Assert.Equal([200, 200, 404, 200], rs.Select(r => r.Head.Status));
        Assert.Equal(10, rs[0].Body.Length);
        Assert.Equal(Sha256Hex("abc"u8.ToArray()) + "\n", rs[1].Text);
        Assert.True(rs[2].Head.KeepAlive);
        Assert.Equal(5, rs[3].Body.Length);
        Assert.Equal("close", rs[3].Head.Headers.Get("Connection"));
    }

    [Fact]
    public void Http10_ClosesUnlessKeepAliveIsAsked()
    {
        var rs = Serve("GET /bytes/1 HTTP/1.0\r\n\r\nGET /bytes/2 HTTP/1.0\r\n\r\n");
        Assert.Equal("close", Assert.Single(rs).Head.Headers.Get("Connection"));
        rs = Serve("GET /bytes/1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /bytes/2 HTTP/1.0\r\n\r\n");
        Assert.Equal(2, rs.Count);
        Assert.Equal("keep-alive", rs[0].Head.Headers.Get("Connection"));
    }

    [Theory]
    [InlineData("GET /nope HTTP/1.1\r\nHost: h\r\n\r\n", 404, null)]
    [InlineData("GET /bytes HTTP/1.1\r\nHost: h\r\n\r\n", 404, null)]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nxx", 405, "GET, HEAD")]
    [InlineData("DELETE /bytes/5 HTTP/1.1\r\nHost: h\r\n\r\n", 405, "GET, HEAD")]
    [InlineData("GET /sha256 HTTP/1.1\r\nHost: h\r\n\r\n", 405, "POST")]
    [InlineData("GET /bytes/abc HTTP/1.1\r\nHost: h\r\n\r\n", 400, null)]
    [InlineData("GET /bytes/-1 HTTP/1.1\r\nHost: h\r\n\r\n", 400, null)]
    [InlineData("GET /bytes/ HTTP/1.1\r\nHost: h\r\n\r\n", 400, null)]
    [InlineData("GET /bytes/9999999999999999999 HTTP/1.1\r\nHost: h\r\n\r\n", 400, null)]
    public void BadTargets_GetTheirStatus_AndTheConnectionStaysUsable(string request, int status, string? allow)
    {
        var rs = Serve(request + "GET /bytes/3 HTTP/1.1\r\nHost: h\r\n\r\n");
        Assert.Equal(2, rs.Count);
        Assert.Equal(status, rs[0].Head.Status);
        Assert.Equal(allow, rs[0].Head.Headers.Get("Allow"));
        Assert.StartsWith($"{status} ", rs[0].Text);
        Assert.Equal(200, rs[1].Head.Status);
        Assert.Equal(3, rs[1].Body.Length);
    }

    [Theory]
    [InlineData("GARBAGE\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\n\r\n", 400)]
    [InlineData("GET / HTTP/3.0\r\nHost: h\r\n\r\n", 505)]
    [InlineData("POST /sha256 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400)]
    [InlineData("POST /sha256 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n", 400)]
    [InlineData("POST /sha256 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", 400)]
    public void MalformedRequests_GetAnErrorAndAClose(string request, int status)
    {
        var rs = Serve(request + "GET /bytes/3 HTTP/1.1\r\nHost: h\r\n\r\n");
        var r = rs[0];
        Assert.Equal(status, r.Head.Status);
        Assert.Equal("close", r.Head.Headers.Get("Connection"));
        Assert.Single(rs);
    }

    [Theory]
    [InlineData("POST /sha256 HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc")]
    [InlineData("POST /sha256 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")]
    public void BodyCutShortByTheClient_Is400(string request)
    {
        var r = Assert.Single(Serve(request));
        Assert.Equal(400, r.Head.Status);
        Assert.Contains("closed in the middle of the body", r.Text);
    }

    [Fact]
    public void OversizedBodies_Get413()
    {
        var o = new ServiceOptions { MaxBodyBytes = 100 };
        var r = Assert.Single(Serve("POST /sha256 HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n" + new string('x', 101), options: o));
        Assert.Equal(413, r.Head.Status);
        Assert.False(r.Head.KeepAlive);
        // Chunked: the limit is found while reading.
        r = Assert.Single(Serve("POST /sha256 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n" + new string('x', 100) + "\r\n1\r\nx\r\n0\r\n\r\n", options: o));
        Assert.Equal(413, r.Head.Status);
        // At the limit it is fine.
        r = Assert.Single(Serve("POST /sha256 HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n" + new string('x', 100), options: o));
        Assert.Equal(200, r.Head.Status);
    }

    [Fact]
    public void OversizedHead_Gets431()
    {
        var r = Assert.Single(Serve("GET / HTTP/1.1\r\nHost: h\r\nX: " + new string('a', 9000) + "\r\n\r\n"));
        Assert.Equal(431, r.Head.Status);
    }

    [Fact]
    public void StatusPage_ShowsServicesSocketsAndCounters()
    {
        _net.Mib.Ip[IpMib.InReceives] = 42;
        var r = Assert.Single(Serve("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
        Assert.Equal(200, r.Head.Status);
        Assert.StartsWith("text/plain", r.Head.Headers.Get("Content-Type"));
        Assert.Contains("netstack http-test", r.Text);
        Assert.Contains("http tcp/80: ", r.Text);
        Assert.Contains("sockets:", r.Text);
        var ip = r.Text.Split('\n').Where(l => l.StartsWith("Ip: ")).ToArray();
        Assert.Equal(2, ip.Length);
        var names = ip[0].Split(' ');
        Assert.Equal("42", ip[1].Split(' ')[Array.IndexOf(names, "InReceives")]);
    }

    [Fact]
    public async Task RandomJunk_NeverCrashesTheService_AndEveryAnswerIsWellFormed()
    {
        var pieces = new[]
        {
            "GET ", "POST ", "/", "/bytes/", "/sha256", "12", " HTTP/1.1", " HTTP/1.0", "\r\n", "\n", "\r", "Host: h",
            "Content-Length: ", "Transfer-Encoding: chunked", "Expect: 100-continue", "Connection: close", ":", " ", "\0", "\xff", "5", "a\r\n",
        };
        for (int seed = 0; seed < 500; seed++)
        {
            var rng = new Random(seed);
            var sb = new StringBuilder();
            int n = rng.Next(1, 40);
            for (int i = 0; i < n; i++) sb.Append(pieces[rng.Next(pieces.Length)]);
            var conn = new ScriptedConnection(Encoding.Latin1.GetBytes(sb.ToString()), rng.Next(1, 20));
            var t = NewService(new ServiceOptions { MaxBytesResponse = 100 }).ServeAsync(conn, default);
            try { await t.WaitAsync(TimeSpan.FromSeconds(10)); }
            catch (Exception e) { Assert.Fail($"seed {seed}: {e}"); }
            var output = conn.Output.ToArray();
            if (output.Length > 0) Assert.StartsWith("HTTP/1.1 ", Encoding.Latin1.GetString(output));
        }
    }
}
