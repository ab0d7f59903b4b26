using System.Text;
using NetStack.Services;

namespace NetStack.Tests.Services;

public sealed class HttpParserTests
{
    private static HttpParseStatus Parse(string s, out HttpRequest? req, out int consumed, out HttpError error, int max = 8192) =>
        HttpParser.TryParseRequest(Encoding.Latin1.GetBytes(s), max, out req, out consumed, out error);

    private static HttpRequest ParseOk(string s)
    {
        var st = Parse(s, out var req, out int consumed, out var error);
        Assert.True(st == HttpParseStatus.Done, $"{st}: {error}");
        Assert.Equal(Encoding.Latin1.GetByteCount(s), consumed);
        return req!;
    }

    [Fact]
    public void Get_ParsesRequestLineHeadersAndDefaults()
    {
        var r = ParseOk("GET /bytes/10?x=1 HTTP/1.1\r\nHost: 10.7.0.2\r\nUser-Agent: curl/8\r\nAccept: */*\r\n\r\n");
        Assert.Equal("GET", r.Method);
        Assert.Equal("/bytes/10?x=1", r.Target);
        Assert.Equal("/bytes/10", r.Path);
        Assert.Equal("x=1", r.Query);
        Assert.Equal(11, r.Version);
        Assert.Equal("10.7.0.2", r.Headers.Get("host"));
        Assert.Equal(3, r.Headers.Count);
        Assert.True(r.KeepAlive);
        Assert.False(r.HasBody);
        Assert.False(r.ExpectContinue);
    }

    [Fact]
    public void EveryProperPrefix_IsIncomplete_ThenDone()
    {
        byte[] all = Encoding.ASCII.GetBytes("POST /sha256 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc");
        int headLen = all.Length - 3;
        for (int i = 0; i < headLen; i++)
            Assert.Equal(HttpParseStatus.Incomplete, HttpParser.TryParseRequest(all.AsSpan(0, i), 8192, out _, out _, out _));
        Assert.Equal(HttpParseStatus.Done, HttpParser.TryParseRequest(all, 8192, out var r, out int consumed, out _));
        Assert.Equal(headLen, consumed);
        Assert.Equal(HttpBodyKind.Length, r!.BodyKind);
        Assert.Equal(3, r.ContentLength);
    }

    [Fact]
    public void BareLf_AndLeadingEmptyLines_AreAccepted()
    {
        var r = ParseOk("\r\n\nGET / HTTP/1.1\nHost: h\n\n");
        Assert.Equal("/", r.Path);
        Assert.Equal("h", r.Headers.Get("Host"));
    }

    [Fact]
    public void Pipelined_ConsumesOnlyTheFirstHead()
    {
        string first = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
        Assert.Equal(HttpParseStatus.Done, Parse(first + "GET /b HTTP/1.1\r\nHost: h\r\n\r\n", out var r, out int consumed, out _));
        Assert.Equal("/a", r!.Path);
        Assert.Equal(first.Length, consumed);
    }

    [Theory]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\n\r\n", true)]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", false)]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nConnection: Keep-Alive, CLOSE\r\n\r\n", false)]
    [InlineData("GET / HTTP/1.0\r\n\r\n", false)]
    [InlineData("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true)]
    public void KeepAlive_FollowsVersionAndConnectionHeader(string raw, bool keepAlive) => Assert.Equal(keepAlive, ParseOk(raw).KeepAlive);

    [Fact]
    public void Http10_NeedsNoHost()
    {
        var r = ParseOk("GET / HTTP/1.0\r\n\r\n");
        Assert.Equal(10, r.Version);
    }

    [Fact]
    public void Chunked_AndExpectContinue_AreRecognised()
    {
        var r = ParseOk("POST /sha256 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n");
        Assert.Equal(HttpBodyKind.Chunked, r.BodyKind);
        Assert.True(r.ExpectContinue);
        Assert.Equal(-1, r.ContentLength);
    }

    [Fact]
    public void ContentLengthZero_IsNoBody_AndIdenticalDuplicatesAreTolerated()
    {
        Assert.False(ParseOk("POST /sha256 HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n").HasBody);
        Assert.Equal(5, ParseOk("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\n").ContentLength);
    }

    [Fact]
    public void AbsoluteFormTarget_YieldsItsPath()
    {
        Assert.Equal("/bytes/3", ParseOk("GET http://10.7.0.2/bytes/3 HTTP/1.1\r\nHost: 10.7.0.2\r\n\r\n").Path);
        Assert.Equal("/", ParseOk("GET http://10.7.0.2 HTTP/1.1\r\nHost: 10.7.0.2\r\n\r\n").Path);
    }

    [Theory]
    [InlineData("GET /\r\n\r\n", 400)]                                                       // no version
    [InlineData("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400)]                                  // two spaces
    [InlineData("GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 400)]                                  // trailing space
    [InlineData("G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400)]                                   // method not a token
    [InlineData("GET foo HTTP/1.1\r\nHost: h\r\n\r\n", 400)]                                 // not origin-form
    [InlineData("GET / http/1.1\r\nHost: h\r\n\r\n", 400)]                                   // version is case-sensitive
    [InlineData("GET / HTTP/1.12\r\nHost: h\r\n\r\n", 400)]
    [InlineData("GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505)]
    [InlineData("GET / HTTP/0.9\r\nHost: h\r\n\r\n", 505)]
    [InlineData("GET / HTTP/1.1\r\n\r\n", 400)]                                              // no Host in 1.1
    [InlineData("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400)]                                  // space before colon
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400)]                     // obs-fold
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\nno colon here\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost: h\r\n: empty name\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nHost: h\0\r\n\r\n", 400)]                                 // NUL
    [InlineData("GET / HTTP/1.1\rHost: h\r\n\r\n", 400)]                                     // bare CR
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\n", 400)]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400)]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +5\r\n\r\n", 400)]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999\r\n\r\n", 400)]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 2\r\n\r\n", 400)]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400)]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400)]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 400)]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501)]
    [InlineData("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400)]
    [InlineData("POST / HTTP/1.1\r\nHost: h\r\nExpect: 200-ok\r\n\r\n", 417)]
    [InlineData("GET /\x80 HTTP/1.1\r\nHost: h\r\n\r\n", 400)]                               // non-ASCII target
    public void Malformed_IsAnErrorWithItsStatus(string raw, int status)
    {
        Assert.Equal(HttpParseStatus.Error, Parse(raw, out var req, out _, out var error));
        Assert.Null(req);
        Assert.Equal(status, error.Status);
        Assert.False(string.IsNullOrEmpty(error.Message));
    }

    [Fact]
    public void BinaryJunk_FailsAtOnce_WithoutWaitingForALineEnd()
    {
        // A TLS ClientHello sent to the plain-text port.
        Assert.Equal(HttpParseStatus.Error, HttpParser.TryParseRequest(new byte[] { 0x16, 0x03, 0x01, 0x02, 0x00 }, 8192, out _, out _, out var e));
        Assert.Equal(400, e.Status);
    }

    [Fact]
    public void OversizedHead_Is431_OversizedRequestLine_Is414()
    {
        string longHeader = "GET / HTTP/1.1\r\nHost: h\r\nX: " + new string('a', 300) + "\r\n\r\n";
        Assert.Equal(HttpParseStatus.Error, Parse(longHeader, out _, out _, out var e, max: 256));
        Assert.Equal(431, e.Status);
        // Without the end of the head yet, the limit still applies.
        Assert.Equal(HttpParseStatus.Error, Parse(longHeader[..280], out _, out _, out e, max: 256));
        Assert.Equal(431, e.Status);
        Assert.Equal(HttpParseStatus.Error, Parse("GET /" + new string('a', 300), out _, out _, out e, max: 256));
        Assert.Equal(414, e.Status);
        // Exactly at the limit is fine.
        string exact = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
        Assert.Equal(HttpParseStatus.Done, Parse(exact, out _, out _, out _, max: exact.Length));
    }

    [Fact]
    public void TooManyHeaderFields_Is431()
    {
        var sb = new StringBuilder("GET / HTTP/1.1\r\nHost: h\r\n");
        for (int i = 0; i < HttpParser.MaxHeaderCount; i++) sb.Append($"X-{i}: v\r\n");
        sb.Append("\r\n");
        Assert.Equal(HttpParseStatus.Error, Parse(sb.ToString(), out _, out _, out var e, max: 1 << 20));
        Assert.Equal(431, e.Status);
    }

    private static HttpResponseHead ParseResponseOk(string s)
    {
        Assert.Equal(HttpParseStatus.Done, HttpParser.TryParseResponse(Encoding.ASCII.GetBytes(s), 8192, out var r, out int consumed, out var e));
        Assert.Equal(s.Length, consumed);
        return r!;
    }

    [Fact]
    public void Response_StatusLineAndFraming()
    {
        var r = ParseResponseOk("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n");
        Assert.Equal(200, r.Status);
        Assert.Equal("OK", r.Reason);
        Assert.Equal(HttpBodyKind.Length, r.BodyKindFor("GET"));
        Assert.Equal(12, r.ContentLength);
        Assert.Equal(HttpBodyKind.None, r.BodyKindFor("HEAD"));
        Assert.True(r.KeepAlive);

        Assert.Equal(HttpBodyKind.Chunked, ParseResponseOk("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").BodyKindFor("GET"));
        Assert.Equal(HttpBodyKind.UntilClose, ParseResponseOk("HTTP/1.0 200 OK\r\n\r\n").BodyKindFor("GET"));
        Assert.Equal(HttpBodyKind.None, ParseResponseOk("HTTP/1.1 204 No Content\r\n\r\n").BodyKindFor("GET"));
        Assert.Equal(HttpBodyKind.None, ParseResponseOk("HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n").BodyKindFor("GET"));
        Assert.Equal("", ParseResponseOk("HTTP/1.1 404 \r\n\r\n").Reason);
        Assert.False(ParseResponseOk("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").KeepAlive);
    }

    [Theory]
    [InlineData("HTTP/1.1 2000 OK\r\n\r\n")]
    [InlineData("HTTP/1.1 20 OK\r\n\r\n")]
    [InlineData("HTTP/1.1 abc OK\r\n\r\n")]
    [InlineData("HTTX/1.1 200 OK\r\n\r\n")]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n")]
    public void Response_Malformed_IsAnError(string raw) =>
        Assert.Equal(HttpParseStatus.Error, HttpParser.TryParseResponse(Encoding.ASCII.GetBytes(raw), 8192, out _, out _, out _));
}
