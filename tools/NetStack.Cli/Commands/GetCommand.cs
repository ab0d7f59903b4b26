using System.CommandLine;
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
    public static Command Create()
    {
        var set = new StackOptionSet(duration: false, loopback: false);
        var control = new ControlOptions();
        var own = ToolStack.OwnOption();
        var output = Opt.Value("-o", "FILE", "write the body to FILE (as FILE.part, renamed when complete) instead of stdout", s => Opt.OutputFile(s, "-o"), "--output");
        var timeout = Opt.Value<double?>("--timeout", "SEC", "give up when connecting or a wait for data takes longer [default: 30]", s => Opt.Seconds("timeout", 86400)(s));
        var quiet = Opt.Flag("-q", "no progress bar and no summary", "--quiet");
        var url = new Argument<string[]>("URL") { Arity = ArgumentArity.ZeroOrMore, Description = "http://a.b.c.d[:port]/path or http://[IPv6]:port/path (addresses only: the stack has no resolver)" };
        var cmd = new Command("get", "HTTP/1.1 GET over the stack (HttpClient): the body to stdout or -o FILE, a progress bar on a terminal, a summary on stderr; exit 0 for 2xx/3xx, 1 otherwise");
        cmd.Add(url);
        foreach (var o in new Option[] { output, timeout, quiet }) cmd.Add(o);
        set.AddTo(cmd);
        control.AddTo(cmd);
        cmd.Add(own);
        cmd.SetAction(r =>
        {
            var urls = Opt.Operands(r, url);
            if (urls.Length != 1) throw new UsageException(urls.Length == 0 ? "get needs a URL (try --help)" : $"unexpected argument '{urls[1]}' (try --help)");
            Uri uri;
            try { uri = ParseUrl(urls[0]); }
            catch (FormatException e) { throw new UsageException(e.Message); }
            set.Read(r);
            using var stack = ToolStack.Open("get", r, set, control, own);
            return Run(stack, uri, r.GetValue(output), TimeSpan.FromSeconds(r.GetValue(timeout) ?? 30), r.GetValue(quiet));
        });
        return cmd;
    }

    private static int Run(ToolStack stack, Uri uri, string? output, TimeSpan timeout, bool quiet)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Interrupt.Token);

        // Write to a temporary name and rename at the end, so an interrupted download leaves no half file under FILE.
        // stdout is a FileStream on fd 1 (not Console's stream, which hides EPIPE): `get URL | head -c 10` must fail.
        string? partial = output is null ? null : output + ".part";
        Stream sink;
        try
        {
            sink = partial is null
                ? new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(1, ownsHandle: false), FileAccess.Write, 1)
                : new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliFailure($"cannot write {partial}: {Program.IoMessage(e)}");
        }
        var bar = !quiet && !Console.IsErrorRedirected ? new ProgressBar() : null;
        string server = $"{uri.Host}:{uri.Port}";
        string sinkName = output ?? "stdout";
        Result result;
        try
        {
            result = GetAsync(stack, uri, sink, bar is null ? null : bar.Update, timeout, stop.Token).GetAwaiter().GetResult();
            sink.Flush();
        }
        catch (OperationCanceledException) when (Interrupt.Token.IsCancellationRequested)
        {
            bar?.Clear();
            Console.Error.WriteLine("netstack get: interrupted");
            return ExitCodes.Interrupted;
        }
        catch (SinkException e)
        {
            bar?.Clear();
            throw new CliFailure(e.Describe(sinkName));
        }
        catch (IOException e) when (sink is FileStream && e.HResult == 32 /* EPIPE on the flush */)
        {
            bar?.Clear();
            throw new CliFailure($"{sinkName} was closed by the reader (broken pipe): the body was not written completely");
        }
        catch (Exception e) when (e is HttpRequestException or IOException or OperationCanceledException or NetStackException)
        {
            bar?.Clear();
            throw Describe(e, server, timeout);
        }
        finally
        {
            try { sink.Dispose(); } catch (IOException) { } // a broken pipe: already reported
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

    /// <summary>Writing the body failed (stdout closed by its reader, a full disk): not the server's fault.</summary>
    private sealed class SinkException(Exception inner, long written) : Exception(inner.Message, inner)
    {
        public string Describe(string sink) =>
            InnerException is IOException { HResult: 32 } || InnerException?.Message.Contains("Broken pipe", StringComparison.OrdinalIgnoreCase) == true
                ? $"{sink} was closed by the reader (broken pipe) after {written} bytes of the body"
                : $"writing the body to {sink} failed after {written} bytes: {Program.IoMessage(InnerException!)}";
    }

    private sealed record Result(int Status, string Reason, long BodyBytes, TimeSpan Elapsed);

    /// <summary>
    /// The GET: HttpClient over the stack, no redirects followed (a 3xx is the answer). The timeout
    /// bounds connecting plus waiting for the response head, and then each wait for body data.
    /// </summary>
    private static async Task<Result> GetAsync(ToolStack stack, Uri uri, Stream body, Action<long, long>? progress, TimeSpan timeout, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        var handler = stack.CreateHttpHandler();
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
            try { await body.WriteAsync(buffer.AsMemory(0, n), ct).ConfigureAwait(false); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new SinkException(e, got); }
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

    /// <summary>An http URL whose host is a dotted quad or an IPv6 address in brackets (the stack has no resolver); throws <see cref="FormatException"/> with a one-line reason.</summary>
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
        if (authority.StartsWith('['))
        {
            // RFC 3986 IP-literal: "[" IPv6address "]" then an optional ":port" (no zone: RFC 6874's %25 is not taken).
            int close = authority.IndexOf(']');
            if (close < 0) throw new FormatException($"bad host in '{authority}': an IPv6 address in a URL ends with ']'");
            host = authority[1..close];
            if (!IPAddress.TryParse(host, out var v6) || v6.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6 || host.Contains('%'))
                throw new FormatException($"bad host '[{host}]': expected an IPv6 address in brackets, e.g. [fd00::2]");
            colon = close + 1 < authority.Length ? close + 1 : -1;
            if (colon >= 0 && authority[colon] != ':') throw new FormatException($"bad host in '{authority}': after ']' comes ':PORT' or nothing");
        }
        else if (colon >= 0 && authority[..colon].Contains(':'))
            throw new FormatException($"IPv6 hosts in URLs go in brackets: 'http://[{authority[..colon]}]:PORT/' (got '{authority}')");
        if (colon >= 0)
        {
            if (!authority.StartsWith('[')) host = authority[..colon];
            if (!ushort.TryParse(authority.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out ushort port) || port == 0)
                throw new FormatException($"bad port in '{authority}': expected 1 to 65535");
        }
        if (!authority.StartsWith('[') && !Ipv4Address.TryParse(host, out _))
            throw new FormatException(Opt.WhyNotIpv4(host, "host"));
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
