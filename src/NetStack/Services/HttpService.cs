using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using NetStack.Api;
using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;
using NetStack.Wire;

namespace NetStack.Services;

/// <summary>
/// A small HTTP/1.1 server for looking at the stack and pushing bulk data through it:
/// <list type="bullet">
/// <item><c>GET /</c>: a plain-text status page: services, sockets, the MIB counters.</item>
/// <item><c>GET /bytes/N</c>: N bytes of <see cref="BytesPattern"/>, streamed with Content-Length.</item>
/// <item><c>POST /sha256</c>: the lowercase hex SHA-256 of the request body (Content-Length or chunked).</item>
/// </list>
/// HEAD works wherever GET does. Connections are kept alive (HTTP/1.1 by default, HTTP/1.0 with
/// "Connection: keep-alive"); bad requests get 400, unknown paths 404, wrong methods 405 with
/// Allow, oversized bodies 413, oversized heads 431, unsupported versions 505; after an error the
/// connection is closed gracefully (our FIN first, then the client's leftovers are read and
/// dropped for a moment, so its unread bytes do not turn our close into a reset that could
/// destroy the error response).
/// </summary>
public sealed class HttpService(NetNamespace net, ServiceOptions options, ushort port = HttpService.DefaultPort)
    : TcpService(net, "http", port, options)
{
    public const ushort DefaultPort = 80;
    /// <summary>Body bytes read and dropped, at most, to keep a connection alive after answering without reading the body.</summary>
    private const long MaxDrain = 1 << 20;

    private readonly long _startedNs = net.NowNs;
    public long Requests;

    /// <summary>The host whose services the status page lists (set by <see cref="ServiceHost"/>).</summary>
    public ServiceHost? Host { get; internal set; }

    protected override Task HandleAsync(NetSocket conn, CancellationToken ct) => ServeAsync(new NetStream(conn, ownsSocket: false), ct);

    public override string FormatStats() => base.FormatStats() + $", {Requests} requests";

    /// <summary>Serves HTTP on one connection (any <see cref="Stream"/>: a socket, or a test's in-memory pair) until it ends.</summary>
    public async Task ServeAsync(Stream stream, CancellationToken ct)
    {
        var input = new HttpInput(stream);
        using var idle = StartIdleTimer(ct);
        while (true)
        {
            // The head.
            HttpRequest? req;
            while (true)
            {
                var st = HttpParser.TryParseRequest(input.Span, Options.MaxHeadBytes, out req, out int consumed, out var error);
                if (st == HttpParseStatus.Done)
                {
                    input.Consume(consumed);
                    break;
                }
                if (st == HttpParseStatus.Error)
                {
                    await WriteErrorAsync(stream, error.Status, error.Message, keepAlive: false, headOnly: false, idle.Token).ConfigureAwait(false);
                    await CloseGracefullyAsync(stream, input, ct).ConfigureAwait(false);
                    return;
                }
                int n;
                try
                {
                    n = await input.FillAsync(idle.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested && input.Count > 0)
                {
                    // Half a request and then silence: say so (a silent idle keep-alive just closes).
                    await WriteErrorAsync(stream, 408, "request head not completed in time", keepAlive: false, headOnly: false, ct).ConfigureAwait(false);
                    return;
                }
                if (n == 0) return; // the client closed (between requests, or mid-head: nothing to answer)
                Interlocked.Add(ref BytesIn, n);
                idle.Touch();
            }
            Interlocked.Increment(ref Requests);
            bool keepAlive;
            try
            {
                keepAlive = await DispatchAsync(stream, input, req!, idle).ConfigureAwait(false);
            }
            catch (HttpBodyException e)
            {
                // The body was malformed, truncated or too long: answer if we still can, then close.
                await WriteErrorAsync(stream, e.Status, e.Message, keepAlive: false, headOnly: false, idle.Token).ConfigureAwait(false);
                await CloseGracefullyAsync(stream, input, ct).ConfigureAwait(false);
                return;
            }
            if (!keepAlive)
            {
                await CloseGracefullyAsync(stream, input, ct).ConfigureAwait(false);
                return;
            }
        }
    }

    /// <summary>Routes one request; returns whether the connection stays open.</summary>
    private async Task<bool> DispatchAsync(Stream stream, HttpInput input, HttpRequest req, IdleTimer idle)
    {
        var ct = idle.Token;
        bool head = req.Method == "HEAD";
        bool get = req.Method == "GET" || head;
        string path = req.Path;

        if (path == "/sha256")
        {
            if (req.Method != "POST") return await RefuseAsync(stream, input, req, 405, "use POST", idle, allow: "POST").ConfigureAwait(false);
            if (req.BodyKind == HttpBodyKind.Length && req.ContentLength > Options.MaxBodyBytes)
                return await RefuseAsync(stream, input, req, 413, $"body larger than {Options.MaxBodyBytes} bytes", idle).ConfigureAwait(false);
            if (req.ExpectContinue) await WriteAsync(stream, "HTTP/1.1 100 Continue\r\n\r\n"u8.ToArray(), ct).ConfigureAwait(false);
            var body = input.Body(req.BodyKind, req.ContentLength, Options.MaxBodyBytes);
            using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            while (true)
            {
                var piece = await body.ReadAsync(ct).ConfigureAwait(false);
                if (piece.IsEmpty) break;
                Interlocked.Add(ref BytesIn, piece.Length);
                sha.AppendData(piece.Span);
                idle.Touch();
            }
            string hex = Convert.ToHexStringLower(sha.GetHashAndReset()) + "\n";
            await WriteResponseAsync(stream, req, 200, "text/plain; charset=utf-8", Encoding.ASCII.GetBytes(hex), req.KeepAlive, ct).ConfigureAwait(false);
            return req.KeepAlive;
        }

        if (path == "/" || path.StartsWith("/bytes/", StringComparison.Ordinal))
        {
            if (!get) return await RefuseAsync(stream, input, req, 405, "use GET or HEAD", idle, allow: "GET, HEAD").ConfigureAwait(false);
            long n = 0;
            if (path != "/" && !TryParseCount(path.AsSpan("/bytes/".Length), out n))
                return await RefuseAsync(stream, input, req, 400, "expected /bytes/N with N a decimal byte count", idle).ConfigureAwait(false);
            if (n > Options.MaxBytesResponse)
                return await RefuseAsync(stream, input, req, 400, $"N larger than {Options.MaxBytesResponse}", idle).ConfigureAwait(false);
            // A GET carrying a body: read it away so the next request starts where it should.
            if (req.HasBody && !await SkipBodyAsync(input, req, ct).ConfigureAwait(false))
                return await RefuseAsync(stream, input, req, 413, "unexpected request body", idle).ConfigureAwait(false);
            if (path == "/")
            {
                await WriteResponseAsync(stream, req, 200, "text/plain; charset=utf-8", Encoding.UTF8.GetBytes(StatusPage()), req.KeepAlive, ct).ConfigureAwait(false);
                return req.KeepAlive;
            }
            await WriteAsync(stream, Head(req, 200, "application/octet-stream", n, req.KeepAlive), ct).ConfigureAwait(false);
            if (!head)
            {
                for (long off = 0; off < n;)
                {
                    var slice = BytesPattern.Slice(off, n - off);
                    await stream.WriteAsync(slice, ct).ConfigureAwait(false);
                    Interlocked.Add(ref BytesOut, slice.Length);
                    off += slice.Length;
                    idle.Touch();
                }
            }
            return req.KeepAlive;
        }

        return await RefuseAsync(stream, input, req, 404, $"no such resource {path}", idle).ConfigureAwait(false);
    }

    /// <summary>
    /// Answers with an error status. The request's body, which nobody will read, is dropped if it
    /// is small and already on its way (no 100-continue pending); otherwise the connection closes.
    /// </summary>
    private async Task<bool> RefuseAsync(Stream stream, HttpInput input, HttpRequest req, int status, string message, IdleTimer idle, string? allow = null)
    {
        bool keepAlive = req.KeepAlive;
        if (req.HasBody)
        {
            if (req.ExpectContinue || status == 413 || (req.BodyKind == HttpBodyKind.Length && req.ContentLength > MaxDrain)) keepAlive = false;
            else keepAlive &= await SkipBodyAsync(input, req, idle.Token).ConfigureAwait(false);
        }
        await WriteErrorAsync(stream, status, message, keepAlive, req.Method == "HEAD", idle.Token, allow, req.Version).ConfigureAwait(false);
        return keepAlive;
    }

    private async Task<bool> SkipBodyAsync(HttpInput input, HttpRequest req, CancellationToken ct)
    {
        if (req.ExpectContinue) return false;
        return await input.Body(req.BodyKind, req.ContentLength).SkipAsync(MaxDrain, ct).ConfigureAwait(false);
    }

    private static bool TryParseCount(ReadOnlySpan<char> s, out long n)
    {
        n = 0;
        if (s.IsEmpty || s.Length > 18) return false;
        foreach (char c in s)
        {
            if (!char.IsAsciiDigit(c)) return false;
            n = n * 10 + (c - '0');
        }
        return true;
    }

    private async Task WriteResponseAsync(Stream stream, HttpRequest req, int status, string contentType, byte[] body, bool keepAlive, CancellationToken ct)
    {
        byte[] head = Head(req, status, contentType, body.Length, keepAlive);
        if (req.Method == "HEAD") { await WriteAsync(stream, head, ct).ConfigureAwait(false); return; }
        // One write for head and body: one segment for a small answer.
        var all = new byte[head.Length + body.Length];
        head.CopyTo(all, 0);
        body.CopyTo(all, head.Length);
        await WriteAsync(stream, all, ct).ConfigureAwait(false);
    }

    private Task WriteErrorAsync(Stream stream, int status, string message, bool keepAlive, bool headOnly, CancellationToken ct, string? allow = null, int version = 11)
    {
        byte[] body = Encoding.UTF8.GetBytes($"{status} {HttpParser.ReasonPhrase(status)}: {message}\n");
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"HTTP/1.1 {status} {HttpParser.ReasonPhrase(status)}\r\n");
        CommonHeaders(sb, "text/plain; charset=utf-8", body.Length, keepAlive, version);
        if (allow is not null) sb.Append(CultureInfo.InvariantCulture, $"Allow: {allow}\r\n");
        sb.Append("\r\n");
        byte[] head = Encoding.ASCII.GetBytes(sb.ToString());
        return WriteAsync(stream, headOnly ? head : [.. head, .. body], ct);
    }

    private static byte[] Head(HttpRequest req, int status, string contentType, long length, bool keepAlive)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"HTTP/1.1 {status} {HttpParser.ReasonPhrase(status)}\r\n");
        CommonHeaders(sb, contentType, length, keepAlive, req.Version);
        sb.Append("\r\n");
        return Encoding.ASCII.GetBytes(sb.ToString());
    }

    private static void CommonHeaders(StringBuilder sb, string contentType, long length, bool keepAlive, int version)
    {
        sb.Append("Server: netstack\r\n");
        sb.Append(CultureInfo.InvariantCulture, $"Date: {DateTime.UtcNow:R}\r\n");
        sb.Append(CultureInfo.InvariantCulture, $"Content-Type: {contentType}\r\n");
        sb.Append(CultureInfo.InvariantCulture, $"Content-Length: {length}\r\n");
        if (!keepAlive) sb.Append("Connection: close\r\n");
        else if (version == 10) sb.Append("Connection: keep-alive\r\n");
    }

    private async Task WriteAsync(Stream stream, byte[] data, CancellationToken ct)
    {
        await stream.WriteAsync(data, ct).ConfigureAwait(false);
        Interlocked.Add(ref BytesOut, data.Length);
    }

    /// <summary>
    /// Ends a connection after a response that closes it: our FIN goes out first (shutdown), then
    /// whatever the client still sends is read and dropped for a short while, so that close()
    /// does not find unread data and answer with a reset that could destroy the response in
    /// flight (Apache's "lingering close").
    /// </summary>
    private static async Task CloseGracefullyAsync(Stream stream, HttpInput input, CancellationToken ct)
    {
        if (stream is not NetStream ss) return;
        try
        {
            ss.ShutdownWrite();
            using var linger = CancellationTokenSource.CreateLinkedTokenSource(ct);
            linger.CancelAfter(TimeSpan.FromSeconds(2));
            long drained = 0;
            input.Consume(input.Count);
            while (drained < MaxDrain)
            {
                int n = await input.FillAsync(linger.Token).ConfigureAwait(false);
                if (n == 0) break;
                drained += n;
                input.Consume(input.Count);
            }
        }
        catch (OperationCanceledException) { }
        catch (NetStackException) { }
    }

    /// <summary>The text of GET /: who we are, the services, the sockets and the counters.</summary>
    public string StatusPage()
    {
        var sb = new StringBuilder();
        var addrs = string.Join(", ", Net.Devices.Where(d => d.Ipv4Address != 0).Select(d => $"{Ipv4Address.Format(d.Ipv4Address)} on {d.Name}"));
        sb.Append(CultureInfo.InvariantCulture, $"netstack {Net.Name}: {addrs}\n");
        sb.Append(CultureInfo.InvariantCulture, $"up {(Net.NowNs - _startedNs) / 1e9:0.0} s\n\n");
        sb.Append("services:\n");
        var services = Host?.Services ?? [this];
        foreach (var s in services) sb.Append("  ").Append(s.FormatStats()).Append('\n');
        sb.Append("\nsockets:\n");
        sb.Append(CultureInfo.InvariantCulture, $"  {"fd",4}  {"proto",-5}  {"state",-12}  {"local",-21}  {"remote",-21}  {"recv-q",7}  {"send-q",7}\n");
        lock (Net.SyncRoot)
        {
            foreach (var (fd, sock) in Net.Files.Enumerate())
            {
                if (sock.Sk is not InetSock sk) continue;
                string local = $"{Ipv4Address.Format(sk.InetRcvSaddr != 0 ? sk.InetRcvSaddr : sk.InetSaddr)}:{sk.InetNum}";
                string remote = sk.InetDaddr == 0 && sk.InetDport == 0 ? "*:*" : $"{Ipv4Address.Format(sk.InetDaddr)}:{sk.InetDport}";
                sb.Append(CultureInfo.InvariantCulture,
                    $"  {fd,4}  {sk.Prot?.Name,-5}  {sk.State,-12}  {local,-21}  {remote,-21}  {sk.RmemAlloc,7}  {sk.WmemQueued,7}\n");
            }
        }
        sb.Append("\ncounters:\n");
        sb.Append(Net.Mib.Format());
        return sb.ToString();
    }
}
