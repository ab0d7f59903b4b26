using System.Text;

namespace NetStack.Services;

/// <summary>
/// A small, strict HTTP/1.x message-head parser (RFC 9112) for the http service and the `get`
/// client. It takes the bytes received so far and either asks for more, returns the parsed head
/// and how many bytes it used, or says what is wrong with the status code to answer. It never
/// throws on input and never looks beyond <c>maxHeadBytes</c>.
/// <para>
/// Strictness follows RFC 9112's advice for robustness against request smuggling: whitespace
/// before the colon, obsolete line folding, control characters, conflicting Content-Length
/// values, and Content-Length together with Transfer-Encoding are all rejected with 400. Bare LF
/// line endings are accepted (section 2.2 allows it), a bare CR is not.
/// </para>
/// </summary>
public static class HttpParser
{
    /// <summary>Header fields per message at most; more is answered with 431.</summary>
    public const int MaxHeaderCount = 100;

    /// <summary>Parses a request head at the start of <paramref name="buf"/>.</summary>
    /// <param name="consumed">Bytes of the head (including the empty line ending it) when Done.</param>
    public static HttpParseStatus TryParseRequest(ReadOnlySpan<byte> buf, int maxHeadBytes, out HttpRequest? request, out int consumed, out HttpError error)
    {
        request = null;
        error = default;
        consumed = 0;
        // A server SHOULD ignore at least one empty line before the request line (RFC 9112 section 2.2):
        // some clients send CRLF after a POST body.
        int skip = 0;
        while (skip < buf.Length && skip < 4 && (buf[skip] == '\n' || (buf[skip] == '\r' && skip + 1 < buf.Length && buf[skip + 1] == '\n')))
            skip += buf[skip] == '\r' ? 2 : 1;
        var status = FindHeadEnd(buf[skip..], maxHeadBytes, out int headLen, out error, isRequest: true);
        if (status != HttpParseStatus.Done) return status;
        var head = buf.Slice(skip, headLen);
        var lines = SplitLines(head, out error);
        if (lines is null) return HttpParseStatus.Error;

        // request-line = method SP request-target SP HTTP-version
        string line = lines[0];
        int sp1 = line.IndexOf(' ');
        int sp2 = sp1 < 0 ? -1 : line.IndexOf(' ', sp1 + 1);
        if (sp1 <= 0 || sp2 < 0 || line.IndexOf(' ', sp2 + 1) >= 0)
            return Fail(out error, 400, "malformed request line");
        string method = line[..sp1], target = line[(sp1 + 1)..sp2], version = line[(sp2 + 1)..];
        if (!IsToken(method)) return Fail(out error, 400, "malformed method");
        if (target.Length == 0 || !IsTargetChars(target)) return Fail(out error, 400, "malformed request target");
        if (!TryParseVersion(version, out int ver, out error)) return HttpParseStatus.Error;

        string path;
        if (target[0] == '/') path = target;
        else if (target == "*" && method == "OPTIONS") path = "*";
        else if (target.StartsWith("http://", StringComparison.OrdinalIgnoreCase))
        {
            // absolute-form (a proxy request): the path is what follows the authority.
            int slash = target.IndexOf('/', 7);
            path = slash < 0 ? "/" : target[slash..];
        }
        else return Fail(out error, 400, "malformed request target");
        string query = "";
        int q = path.IndexOf('?');
        if (q >= 0) { query = path[(q + 1)..]; path = path[..q]; }

        var headers = new HttpHeaders();
        if (!ParseFields(lines, headers, out error)) return HttpParseStatus.Error;

        int hostCount = headers.GetAll("Host").Count();
        if (ver == 11 && hostCount != 1) return Fail(out error, 400, hostCount == 0 ? "missing Host header" : "more than one Host header");
        if (hostCount > 1) return Fail(out error, 400, "more than one Host header");

        if (!BodyFraming(headers, ver, isRequest: true, out var kind, out long length, out error)) return HttpParseStatus.Error;

        bool keepAlive = ver == 11 ? !headers.HasToken("Connection", "close") : headers.HasToken("Connection", "keep-alive") && !headers.HasToken("Connection", "close");
        bool expectContinue = false;
        if (headers.Get("Expect") is { } expect)
        {
            if (!string.Equals(expect.Trim(), "100-continue", StringComparison.OrdinalIgnoreCase))
                return Fail(out error, 417, $"unsupported expectation '{expect}'");
            // 100-continue means nothing to an HTTP/1.0 client (RFC 9110 section 10.1.1).
            expectContinue = ver == 11;
        }

        request = new HttpRequest
        {
            Method = method,
            Target = target,
            Path = path,
            Query = query,
            Version = ver,
            Headers = headers,
            BodyKind = kind,
            ContentLength = kind == HttpBodyKind.Length ? length : -1,
            KeepAlive = keepAlive,
            ExpectContinue = expectContinue,
        };
        consumed = skip + headLen;
        return HttpParseStatus.Done;
    }

    /// <summary>Parses a response head at the start of <paramref name="buf"/> (the client side).</summary>
    public static HttpParseStatus TryParseResponse(ReadOnlySpan<byte> buf, int maxHeadBytes, out HttpResponseHead? response, out int consumed, out HttpError error)
    {
        response = null;
        consumed = 0;
        var status = FindHeadEnd(buf, maxHeadBytes, out int headLen, out error, isRequest: false);
        if (status != HttpParseStatus.Done) return status;
        var lines = SplitLines(buf[..headLen], out error);
        if (lines is null) return HttpParseStatus.Error;

        // status-line = HTTP-version SP status-code SP [ reason-phrase ]
        string line = lines[0];
        int sp1 = line.IndexOf(' ');
        if (sp1 <= 0 || !TryParseVersion(line[..sp1], out int ver, out error))
            return Fail(out error, 502, "malformed status line");
        string rest = line[(sp1 + 1)..];
        if (rest.Length < 3 || !char.IsAsciiDigit(rest[0]) || !char.IsAsciiDigit(rest[1]) || !char.IsAsciiDigit(rest[2]) || (rest.Length > 3 && rest[3] != ' '))
            return Fail(out error, 502, "malformed status code");
        int code = (rest[0] - '0') * 100 + (rest[1] - '0') * 10 + (rest[2] - '0');
        if (code < 100) return Fail(out error, 502, "malformed status code");
        string reason = rest.Length > 4 ? rest[4..] : "";

        var headers = new HttpHeaders();
        if (!ParseFields(lines, headers, out error)) { error = error with { Status = 502 }; return HttpParseStatus.Error; }
        if (!BodyFraming(headers, ver, isRequest: false, out var kind, out long length, out error)) { error = error with { Status = 502 }; return HttpParseStatus.Error; }
        bool keepAlive = ver == 11 ? !headers.HasToken("Connection", "close") : headers.HasToken("Connection", "keep-alive");
        response = new HttpResponseHead
        {
            Version = ver,
            Status = code,
            Reason = reason,
            Headers = headers,
            ContentLength = kind == HttpBodyKind.Length ? length : -1,
            Chunked = kind == HttpBodyKind.Chunked,
            // (A body delimited by the close also ends the connection: see BodyKindFor.)
            KeepAlive = keepAlive,
        };
        consumed = headLen;
        return HttpParseStatus.Done;
    }

    /// <summary>Finds the empty line that ends the head; Incomplete until it is there, Error (431/414) if the head outgrows the limit.</summary>
    private static HttpParseStatus FindHeadEnd(ReadOnlySpan<byte> buf, int maxHeadBytes, out int headLen, out HttpError error, bool isRequest)
    {
        headLen = 0;
        error = default;
        int limit = Math.Min(buf.Length, maxHeadBytes);
        for (int i = buf[..limit].IndexOf((byte)'\n'); i >= 0 && i < limit;)
        {
            // After a LF, the head ends at "\n\n" or "\n\r\n".
            if (i + 1 < buf.Length && buf[i + 1] == '\n') { headLen = i + 2; break; }
            if (i + 2 < buf.Length && buf[i + 1] == '\r' && buf[i + 2] == '\n') { headLen = i + 3; break; }
            int next = buf[(i + 1)..limit].IndexOf((byte)'\n');
            i = next < 0 ? -1 : i + 1 + next;
        }
        if (headLen > 0 && headLen <= maxHeadBytes) return HttpParseStatus.Done;
        if (buf.Length >= maxHeadBytes)
        {
            bool lineDone = buf[..Math.Min(buf.Length, maxHeadBytes)].IndexOf((byte)'\n') >= 0;
            error = isRequest && !lineDone ? new HttpError(414, "request line too long")
                : new HttpError(isRequest ? 431 : 502, "header section too large");
            return HttpParseStatus.Error;
        }
        // Nothing can start with a control character or a space: fail early on binary junk
        // rather than waiting for a line end that may never come.
        if (buf.Length > 0 && (buf[0] < 0x21 || buf[0] > 0x7e) && buf[0] != '\r' && buf[0] != '\n')
        {
            error = new HttpError(isRequest ? 400 : 502, "not an HTTP message");
            return HttpParseStatus.Error;
        }
        return HttpParseStatus.Incomplete;
    }

    /// <summary>The head's lines without their CRLF/LF (the final empty line dropped); null (400) for a bare CR or a non-ASCII-safe byte.</summary>
    private static List<string>? SplitLines(ReadOnlySpan<byte> head, out HttpError error)
    {
        error = default;
        var lines = new List<string>();
        int start = 0;
        for (int i = 0; i < head.Length; i++)
        {
            byte b = head[i];
            if (b == '\n')
            {
                int end = i > start && head[i - 1] == '\r' ? i - 1 : i;
                if (end == start) break; // the empty line: end of head
                lines.Add(Encoding.Latin1.GetString(head[start..end]));
                start = i + 1;
            }
            else if (b == '\r' && (i + 1 >= head.Length || head[i + 1] != '\n'))
            {
                error = HttpError.BadRequest("bare CR in message head");
                return null;
            }
            else if (b == 0 || (b < 0x20 && b != '\t' && b != '\r') || b == 0x7f)
            {
                error = HttpError.BadRequest("control character in message head");
                return null;
            }
        }
        if (lines.Count == 0) { error = HttpError.BadRequest("empty message head"); return null; }
        return lines;
    }

    /// <summary>Parses lines[1..] as field-name ":" OWS field-value OWS.</summary>
    private static bool ParseFields(List<string> lines, HttpHeaders headers, out HttpError error)
    {
        error = default;
        if (lines.Count - 1 > MaxHeaderCount) { error = new HttpError(431, "too many header fields"); return false; }
        for (int i = 1; i < lines.Count; i++)
        {
            string l = lines[i];
            if (l[0] is ' ' or '\t') { error = HttpError.BadRequest("obsolete line folding"); return false; }
            int colon = l.IndexOf(':');
            if (colon <= 0) { error = HttpError.BadRequest("header field without a colon"); return false; }
            string name = l[..colon];
            // No whitespace is allowed between the field name and the colon (RFC 9112 section 5.1).
            if (!IsToken(name)) { error = HttpError.BadRequest($"malformed header field name '{name.Trim()}'"); return false; }
            headers.Add(name, l[(colon + 1)..].Trim(' ', '\t'));
        }
        return true;
    }

    /// <summary>RFC 9112 section 6.3: Transfer-Encoding and Content-Length, checked against each other.</summary>
    private static bool BodyFraming(HttpHeaders headers, int ver, bool isRequest, out HttpBodyKind kind, out long length, out HttpError error)
    {
        kind = isRequest ? HttpBodyKind.None : HttpBodyKind.UntilClose;
        length = -1;
        error = default;
        bool hasTe = false;
        var codings = new List<string>();
        foreach (var v in headers.GetAll("Transfer-Encoding"))
        {
            hasTe = true;
            foreach (var t in v.Split(',', StringSplitOptions.TrimEntries))
                codings.Add(t);
        }
        foreach (var v in headers.GetAll("Content-Length"))
        {
            // A list of identical values is tolerated (RFC 9112 section 6.3 item 5); anything else is fatal.
            foreach (var part in v.Split(',', StringSplitOptions.TrimEntries))
            {
                if (!TryParseLength(part, out long n)) { error = HttpError.BadRequest($"bad Content-Length '{v}'"); return false; }
                if (length >= 0 && n != length) { error = HttpError.BadRequest("conflicting Content-Length values"); return false; }
                length = n;
            }
        }
        if (hasTe)
        {
            if (length >= 0) { error = HttpError.BadRequest("both Transfer-Encoding and Content-Length"); return false; }
            if (ver < 11) { error = HttpError.BadRequest("Transfer-Encoding in an HTTP/1.0 message"); return false; }
            if (codings.Count == 0 || !string.Equals(codings[^1], "chunked", StringComparison.OrdinalIgnoreCase))
            {
                // A request whose final coding is not chunked has no determinable length.
                error = isRequest ? HttpError.BadRequest("Transfer-Encoding without chunked last") : default;
                if (isRequest) return false;
                kind = HttpBodyKind.UntilClose;
                return true;
            }
            if (codings.Count > 1) { error = new HttpError(501, $"unsupported transfer coding '{codings[0]}'"); return false; }
            kind = HttpBodyKind.Chunked;
            return true;
        }
        if (length >= 0) kind = isRequest && length == 0 ? HttpBodyKind.None : HttpBodyKind.Length;
        return true;
    }

    private static bool TryParseLength(string s, out long n)
    {
        n = 0;
        if (s.Length == 0 || s.Length > 18) return false; // 18 digits cannot overflow a long
        foreach (char c in s)
        {
            if (!char.IsAsciiDigit(c)) return false;
            n = n * 10 + (c - '0');
        }
        return true;
    }

    private static bool TryParseVersion(string v, out int version, out HttpError error)
    {
        version = 0;
        error = default;
        if (v.Length != 8 || !v.StartsWith("HTTP/", StringComparison.Ordinal) || !char.IsAsciiDigit(v[5]) || v[6] != '.' || !char.IsAsciiDigit(v[7]))
        {
            error = HttpError.BadRequest("malformed HTTP version");
            return false;
        }
        version = (v[5] - '0') * 10 + (v[7] - '0');
        if (version is not (10 or 11))
        {
            error = new HttpError(505, $"HTTP version {v[5..]} not supported");
            return false;
        }
        return true;
    }

    /// <summary>token = 1*tchar (RFC 9110 section 5.6.2).</summary>
    public static bool IsToken(string s)
    {
        if (s.Length == 0) return false;
        foreach (char c in s)
            if (!(char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c))) return false;
        return true;
    }

    /// <summary>Visible ASCII only: no spaces, no controls, no bytes above 0x7e.</summary>
    private static bool IsTargetChars(string s)
    {
        foreach (char c in s)
            if (c <= 0x20 || c >= 0x7f) return false;
        return true;
    }

    private static HttpParseStatus Fail(out HttpError error, int status, string message)
    {
        error = new HttpError(status, message);
        return HttpParseStatus.Error;
    }

    /// <summary>The standard reason phrase of the status codes this code sends.</summary>
    public static string ReasonPhrase(int status) => status switch
    {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        417 => "Expectation Failed",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    };
}
