using System.Diagnostics;
using System.Globalization;
using NetStack.Api;
using NetStack.Services;

namespace NetStack.Cli.Commands;

/// <summary>
/// `netstack get URL [-o FILE]`: an HTTP/1.1 GET through a stack attached like `up`. The body goes
/// to stdout or FILE; a progress bar is drawn on stderr when stderr is a terminal; a summary
/// (status, bytes, time, throughput) ends on stderr. Exit 0 for a 2xx/3xx answer, 1 otherwise.
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
        string url = o.Rest[0];
        try { HttpGetClient.ParseUrl(url); }
        catch (FormatException e) { throw new UsageException(e.Message); }

        using var stack = StackAttach.Up(o, loopbackOnly: false);
        using var stop = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; stop.Cancel(); };
        Console.CancelKeyPress += onCancel;

        // Write to a temporary name and rename at the end, so an interrupted download leaves no half file under FILE.
        string? partial = output is null ? null : output + ".part";
        Stream sink = partial is null ? Console.OpenStandardOutput() : new FileStream(partial, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, useAsync: false);
        var bar = !quiet && !Console.IsErrorRedirected ? new ProgressBar() : null;
        HttpGetResult result;
        try
        {
            result = HttpGetClient.GetAsync(stack.Net, url, sink, bar is null ? null : bar.Update, timeout, stop.Token).GetAwaiter().GetResult();
        }
        catch (OperationCanceledException)
        {
            bar?.Clear();
            Console.Error.WriteLine("netstack get: interrupted");
            return 130;
        }
        catch (HttpBodyException e)
        {
            bar?.Clear();
            throw new NetStackException(Uapi.Errno.EPROTO, e.Message);
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
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"netstack get: {result.Status} {result.Reason}, {result.BodyBytes} bytes in {result.Elapsed.TotalSeconds:0.000} s ({result.MegabytesPerSecond:0.0} MB/s) from {result.Server}{to}"));
        }
        return result.Status is >= 200 and < 400 ? 0 : 1;
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
