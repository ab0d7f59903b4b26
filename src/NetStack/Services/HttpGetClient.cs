using System.Diagnostics;
using System.Globalization;
using System.Text;
using NetStack.Api;
using NetStack.Core;
using NetStack.Net;
using NetStack.Wire;

namespace NetStack.Services;

/// <summary>What a GET brought back.</summary>
public sealed record HttpGetResult(int Status, string Reason, HttpHeaders Headers, long BodyBytes, TimeSpan Elapsed, System.Net.IPEndPoint Server)
{
    /// <summary>Body bytes per second over the whole exchange (connect included), in MB/s (10^6 bytes).</summary>
    public double MegabytesPerSecond => Elapsed.TotalSeconds > 0 ? BodyBytes / Elapsed.TotalSeconds / 1e6 : 0;
}

/// <summary>
/// A minimal HTTP/1.1 client over the stack's TCP, for `netstack get` and tests: one GET per
/// connection ("Connection: close"), a body delimited by Content-Length, chunked coding or the
/// server's close, streamed to a <see cref="Stream"/> as it arrives. URLs are
/// <c>http://a.b.c.d[:port][/path]</c>: the stack has no resolver, so hosts are dotted quads.
/// </summary>
public static class HttpGetClient
{
    /// <summary>Splits an http URL with a dotted-quad host; throws <see cref="FormatException"/> with a one-line reason.</summary>
    public static (System.Net.IPEndPoint Server, string HostHeader, string PathAndQuery) ParseUrl(string url)
    {
        const string scheme = "http://";
        if (url.StartsWith("https://", StringComparison.OrdinalIgnoreCase)) throw new FormatException("https is not supported (no TLS); use http://");
        if (!url.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
        {
            if (url.Contains("://", StringComparison.Ordinal)) throw new FormatException($"unsupported URL scheme in '{url}' (only http://)");
            url = scheme + url; // "10.7.0.2/bytes/10" is taken as http
        }
        string rest = url[scheme.Length..];
        int slash = rest.IndexOfAny(['/', '?', '#']);
        string authority = slash < 0 ? rest : rest[..slash];
        string path = slash < 0 ? "/" : rest[slash..];
        int hash = path.IndexOf('#');
        if (hash >= 0) path = path[..hash];
        if (path.StartsWith('?')) path = "/" + path;
        if (path.Length == 0) path = "/";
        if (authority.Contains('@')) throw new FormatException("user information in URLs is not supported");
        string host = authority;
        ushort port = 80;
        int colon = authority.LastIndexOf(':');
        if (colon >= 0)
        {
            host = authority[..colon];
            if (!ushort.TryParse(authority.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out port) || port == 0)
                throw new FormatException($"bad port in '{authority}'");
        }
        if (!Ipv4Address.TryParse(host, out uint addr))
            throw new FormatException($"host '{host}' is not a dotted-quad IPv4 address (the stack has no resolver)");
        foreach (char c in path)
            if (c <= ' ' || c >= 0x7f) throw new FormatException("the URL path has spaces or non-ASCII characters; percent-encode them");
        return (new System.Net.IPEndPoint(SocketConvert.ToIPAddress(addr), port), port == 80 ? host : $"{host}:{port}", path);
    }

    /// <summary>
    /// GETs <paramref name="url"/> through <paramref name="net"/> and copies the body to
    /// <paramref name="body"/>. <paramref name="progress"/> is called with (bytes so far, total or -1)
    /// after each piece. <paramref name="idleTimeout"/> bounds connecting and each wait for data.
    /// Throws <see cref="NetStackException"/> for socket errors (ECONNREFUSED, ETIMEDOUT...) and
    /// <see cref="HttpBodyException"/> for a malformed or truncated response.
    /// </summary>
    public static async Task<HttpGetResult> GetAsync(NetNamespace net, string url, Stream body, Action<long, long>? progress = null,
        TimeSpan? idleTimeout = null, CancellationToken ct = default)
    {
        var (server, hostHeader, path) = ParseUrl(url);
        var sw = Stopwatch.StartNew();
        using var idle = new IdleTimer(ct, idleTimeout ?? TimeSpan.FromSeconds(30));
        using var sock = NetSocket.Tcp(net);
        try
        {
            await sock.ConnectAsync(server, idle.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new NetStackException(Errno.ETIMEDOUT, $"connect to {server}: timed out");
        }
        catch (NetStackException e)
        {
            throw new NetStackException(e.Errno, $"connect to {server}: {e.ErrnoName}");
        }
        idle.Touch();
        using var stream = new NetStream(sock, ownsSocket: false);
        string request = $"GET {path} HTTP/1.1\r\nHost: {hostHeader}\r\nUser-Agent: netstack-get\r\nAccept: */*\r\nConnection: close\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request), idle.Token).ConfigureAwait(false);

        var input = new HttpInput(stream);
        HttpResponseHead head;
        try
        {
            while (true)
            {
                var st = HttpParser.TryParseResponse(input.Span, 64 * 1024, out var h, out int consumed, out var error);
                if (st == HttpParseStatus.Error) throw new HttpBodyException(502, $"bad response from {server}: {error.Message}");
                if (st == HttpParseStatus.Done)
                {
                    input.Consume(consumed);
                    if (h!.Status is >= 100 and < 200) continue; // 100 Continue and friends come before the real answer
                    head = h;
                    break;
                }
                if (await input.FillAsync(idle.Token).ConfigureAwait(false) == 0)
                    throw new HttpBodyException(502, $"{server} closed the connection without a response");
                idle.Touch();
            }

            var kind = head.BodyKindFor("GET");
            long total = kind == HttpBodyKind.Length ? head.ContentLength : -1;
            var reader = input.Body(kind, head.ContentLength);
            progress?.Invoke(0, total);
            while (true)
            {
                var piece = await reader.ReadAsync(idle.Token).ConfigureAwait(false);
                if (piece.IsEmpty) break;
                idle.Touch();
                await body.WriteAsync(piece, ct).ConfigureAwait(false);
                progress?.Invoke(reader.BytesRead, total);
            }
            return new HttpGetResult(head.Status, head.Reason, head.Headers, reader.BytesRead, sw.Elapsed, server);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new NetStackException(Errno.ETIMEDOUT, $"{server}: no data for {(idleTimeout ?? TimeSpan.FromSeconds(30)).TotalSeconds:0.#} s");
        }
    }
}
