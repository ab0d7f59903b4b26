using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http;
using NetStack.Api;
using NetStack.AspNetCore;
using NetStack.Net;
using NetStack.Wire;

namespace NetStack.Cli.Commands;

/// <summary>
/// `netstack get URL [-o FILE]`: an HTTP GET through a stack attached like `up`, made by
/// <see cref="HttpClient"/> over the stack's TCP (<see cref="NetStackHttp"/>). The body goes to
/// stdout or FILE; a progress bar is drawn on stderr when stderr is a terminal; a summary (status,
/// bytes, time, throughput) ends on stderr. Exit 0 for a 2xx/3xx answer, 1 otherwise.
/// </summary>
internal static class GetCommand
{
    private const string Usage =
        "usage: netstack get [options] URL [-o FILE]\n\n" +
        "HTTP/1.1 GET over the stack. URL is http://a.b.c.d[:port]/path (dotted-quad hosts only).\n" +
        "The body goes to stdout, or to FILE with -o; the summary goes to stderr.\n\n" +
        "get options:\n" +
        "  -o, --output FILE  write the body to FILE\n" +
        "  --timeout SEC      give up when connecting or waiting for data takes longer (default 30)\n" +
        "  -q, --quiet        no progress bar and no summary\n\n" +
        "options:\n" + Options.Help;

    public static int Run(string[] args)
    {
        var o = Options.Parse(args);
        if (o.TakeFlag("--help", "-h"))
        {
            Console.Write(Usage);
            return 0;
        }
        string? output = o.TakeValue("-o", "--output");
        bool quiet = o.TakeFlag("-q", "--quiet");
        var timeout = TimeSpan.FromSeconds(30);
        if (o.TakeValue("--timeout") is { } t)
        {
            if (!double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double sec) || !(sec > 0) || sec > 86400)
                throw new UsageException($"bad timeout '{t}': expected a positive number of seconds");
            timeout = TimeSpan.FromSeconds(sec);
        }
        o.RejectUnknownOptions();
        if (o.Rest.Count != 1) throw new UsageException(o.Rest.Count == 0 ? "get needs a URL (try --help)" : $"unexpected argument '{o.Rest[1]}' (try --help)");
        Uri uri;
        try { uri = ParseUrl(o.Rest[0]); }
        catch (FormatException e) { throw new UsageException(e.Message); }

        using var stack = StackAttach.Up(o, loopbackOnly: false);
        using var stop = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; stop.Cancel(); };
        Console.CancelKeyPress += onCancel;

        // Write to a temporary name and rename at the end, so an interrupted download leaves no half file under FILE.
        string? partial = output is null ? null : output + ".part";
        Stream sink = partial is null ? Console.OpenStandardOutput() : new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: false);
        var bar = !quiet && !Console.IsErrorRedirected ? new ProgressBar() : null;
        string server = $"{uri.Host}:{uri.Port}";
        Result result;
        try
        {
            result = GetAsync(stack.Net, uri, sink, bar is null ? null : bar.Update, timeout, stop.Token).GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            bar?.Clear();
            Console.Error.WriteLine("netstack get: interrupted");
            return 130;
        }
        catch (Exception e) when (e is HttpRequestException or IOException or OperationCanceledException or NetStackException)
        {
            bar?.Clear();
            throw Describe(e, server, timeout);
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
            sink.Flush();
            if (partial is not null) sink.Dispose();
        }
        bar?.Clear();
        if (partial is not null) File.Move(partial, output!, overwrite: true);
        if (!quiet)
        {
            string to = output is null ? "" : $" -> {output}";
            double secs = result.Elapsed.TotalSeconds;
            double rate = secs > 0 ? result.BodyBytes / secs / 1e6 : 0;
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"netstack get: {result.Status} {result.Reason}, {result.BodyBytes} bytes in {secs:0.000} s ({rate:0.0} MB/s) from {server}{to}"));
        }
        return result.Status is >= 200 and < 400 ? 0 : 1;
    }

    private sealed record Result(int Status, string Reason, long BodyBytes, TimeSpan Elapsed);

    /// <summary>
    /// The GET: HttpClient over the stack, no redirects followed (a 3xx is the answer). The timeout
    /// bounds connecting plus waiting for the response head, and then each wait for body data.
    /// </summary>
    private static async Task<Result> GetAsync(NetStack.Core.NetNamespace net, Uri uri, Stream body, Action<long, long>? progress, TimeSpan timeout, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        var handler = NetStackHttp.CreateHandler(net);
        handler.AllowAutoRedirect = false;
        using var http = new HttpClient(handler, disposeHandler: true) { Timeout = Timeout.InfiniteTimeSpan };
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(ct);
        idle.CancelAfter(timeout);
        using var request = new HttpRequestMessage(HttpMethod.Get, uri) { Version = HttpVersion.Version11 };
        request.Headers.UserAgent.ParseAdd("netstack-get");
        request.Headers.ConnectionClose = true;
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, idle.Token).ConfigureAwait(false);
        long total = response.Content.Headers.ContentLength ?? -1;
        await using var content = await response.Content.ReadAsStreamAsync(idle.Token).ConfigureAwait(false);
        var buffer = new byte[1 << 16];
        long got = 0;
        progress?.Invoke(0, total);
        while (true)
        {
            idle.CancelAfter(timeout);
            int n = await content.ReadAsync(buffer, idle.Token).ConfigureAwait(false);
            if (n == 0) break;
            await body.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false);
            got += n;
            progress?.Invoke(got, total);
        }
        return new Result((int)response.StatusCode, response.ReasonPhrase ?? "", got, sw.Elapsed);
    }

    /// <summary>One line for a failed GET, with the stack's errno when there is one ("connect to 10.7.0.1:81: ECONNREFUSED").</summary>
    private static NetStackException Describe(Exception e, string server, TimeSpan timeout)
    {
        bool connecting = e is HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError };
        for (var x = e; x is not null; x = x.InnerException)
            if (x is NetStackException n)
                return new NetStackException(n.Errno, connecting ? $"connect to {server}: {n.ErrnoName}" : $"{server}: {n.ErrnoName}");
        if (e is OperationCanceledException)
            return new NetStackException(Errno.ETIMEDOUT, $"{server}: no answer or no data for {timeout.TotalSeconds:0.#} s");
        return new NetStackException(Errno.EPROTO, $"{server}: {e.Message}");
    }

    /// <summary>An http URL with a dotted-quad host (the stack has no resolver); throws <see cref="FormatException"/> with a one-line reason.</summary>
    internal static Uri ParseUrl(string url)
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
        if (authority.Contains('@')) throw new FormatException("user information in URLs is not supported");
        string host = authority;
        int colon = authority.LastIndexOf(':');
        if (colon >= 0)
        {
            host = authority[..colon];
            if (!ushort.TryParse(authority.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out ushort port) || port == 0)
                throw new FormatException($"bad port in '{authority}'");
        }
        if (!Ipv4Address.TryParse(host, out _))
            throw new FormatException($"host '{host}' is not a dotted-quad IPv4 address (the stack has no resolver)");
        return Uri.TryCreate(url, UriKind.Absolute, out var uri) ? uri : throw new FormatException($"bad URL '{url}'");
    }

    /// <summary>A one-line progress bar on stderr, redrawn at most ten times a second.</summary>
    private sealed class ProgressBar
    {
        private readonly Stopwatch _sw = Stopwatch.StartNew();
        private long _lastDrawMs = -1000;
        private int _lastWidth;

        public void Update(long done, long total)
        {
            long now = _sw.ElapsedMilliseconds;
            if (now - _lastDrawMs < 100 && done != total) return;
            _lastDrawMs = now;
            double secs = Math.Max(_sw.Elapsed.TotalSeconds, 1e-3);
            double rate = done / secs / 1e6;
            string line;
            if (total > 0)
            {
                double frac = Math.Clamp((double)done / total, 0, 1);
                const int width = 30;
                int filled = (int)(frac * width);
                string eta = rate > 0 ? $"{(total - done) / 1e6 / rate:0}s" : "?";
                line = string.Create(CultureInfo.InvariantCulture,
                    $"[{new string('#', filled)}{new string('.', width - filled)}] {frac * 100,3:0}%  {done / 1e6:0.0}/{total / 1e6:0.0} MB  {rate:0.0} MB/s  ETA {eta}");
            }
            else
            {
                line = string.Create(CultureInfo.InvariantCulture, $"{done / 1e6:0.0} MB  {rate:0.0} MB/s");
            }
            Console.Error.Write("\r" + line.PadRight(_lastWidth));
            _lastWidth = line.Length;
        }

        public void Clear()
        {
            if (_lastWidth > 0) Console.Error.Write("\r" + new string(' ', _lastWidth) + "\r");
            _lastWidth = 0;
        }
    }
}
