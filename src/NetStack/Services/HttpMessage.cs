namespace NetStack.Services;

/// <summary>What a parse step found: more bytes are needed, a whole message head, or a malformed one.</summary>
public enum HttpParseStatus { Incomplete, Done, Error }

/// <summary>Why a request was refused: the status code to answer with and a one-line reason for the body.</summary>
public readonly record struct HttpError(int Status, string Message)
{
    public static HttpError BadRequest(string message) => new(400, message);
}

/// <summary>A message's header fields, in order, names as sent (lookups ignore case).</summary>
public sealed class HttpHeaders
{
    private readonly List<KeyValuePair<string, string>> _list = new();

    public int Count => _list.Count;
    public KeyValuePair<string, string> this[int i] => _list[i];

    public void Add(string name, string value) => _list.Add(new(name, value));

    /// <summary>The first value of <paramref name="name"/>, or null.</summary>
    public string? Get(string name)
    {
        foreach (var kv in _list)
            if (string.Equals(kv.Key, name, StringComparison.OrdinalIgnoreCase)) return kv.Value;
        return null;
    }

    /// <summary>Every value of <paramref name="name"/>, in order.</summary>
    public IEnumerable<string> GetAll(string name)
    {
        foreach (var kv in _list)
            if (string.Equals(kv.Key, name, StringComparison.OrdinalIgnoreCase)) yield return kv.Value;
    }

    /// <summary>True if a comma-separated list header (Connection, Transfer-Encoding) holds <paramref name="token"/>.</summary>
    public bool HasToken(string name, string token)
    {
        foreach (var v in GetAll(name))
            foreach (var t in v.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
                if (string.Equals(t, token, StringComparison.OrdinalIgnoreCase)) return true;
        return false;
    }
}

/// <summary>How the body of a message is delimited (RFC 9112 section 6.3).</summary>
public enum HttpBodyKind
{
    /// <summary>No body (a request without Content-Length or Transfer-Encoding, a HEAD answer, 1xx/204/304).</summary>
    None,
    /// <summary>Content-Length bytes.</summary>
    Length,
    /// <summary>Transfer-Encoding: chunked.</summary>
    Chunked,
    /// <summary>Until the server closes the connection (responses only).</summary>
    UntilClose,
}

/// <summary>A parsed request head: request line, header fields and what they imply for the body and the connection.</summary>
public sealed class HttpRequest
{
    public required string Method { get; init; }
    /// <summary>The request target as sent ("/bytes/10", or absolute-form "http://host/x").</summary>
    public required string Target { get; init; }
    /// <summary>The path of the target (absolute-form reduced to its path; the query is cut off into <see cref="Query"/>).</summary>
    public required string Path { get; init; }
    public string Query { get; init; } = "";
    /// <summary>10 for HTTP/1.0, 11 for HTTP/1.1.</summary>
    public required int Version { get; init; }
    public required HttpHeaders Headers { get; init; }
    public HttpBodyKind BodyKind { get; init; }
    /// <summary>Content-Length when <see cref="BodyKind"/> is Length, else -1.</summary>
    public long ContentLength { get; init; } = -1;
    /// <summary>Whether the connection may carry another request after this one (HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with "keep-alive").</summary>
    public bool KeepAlive { get; init; }
    /// <summary>"Expect: 100-continue": the client waits for a 100 before sending the body (curl does so above 1 MB).</summary>
    public bool ExpectContinue { get; init; }

    public bool HasBody => BodyKind != HttpBodyKind.None;
    public override string ToString() => $"{Method} {Target} HTTP/{Version / 10}.{Version % 10}";
}

/// <summary>A parsed response head: status line and header fields.</summary>
public sealed class HttpResponseHead
{
    public required int Version { get; init; }
    public required int Status { get; init; }
    public required string Reason { get; init; }
    public required HttpHeaders Headers { get; init; }
    public long ContentLength { get; init; } = -1;
    public bool Chunked { get; init; }
    /// <summary>The server keeps the connection open after this response.</summary>
    public bool KeepAlive { get; init; }

    /// <summary>How the body is delimited, given the request's method (RFC 9112 section 6.3).</summary>
    public HttpBodyKind BodyKindFor(string requestMethod)
    {
        if (requestMethod == "HEAD" || Status is >= 100 and < 200 or 204 or 304) return HttpBodyKind.None;
        if (Chunked) return HttpBodyKind.Chunked;
        if (ContentLength >= 0) return HttpBodyKind.Length;
        return HttpBodyKind.UntilClose;
    }
}
