using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using NetStack.Api;
using NetStack.AspNetCore;
using NetStack.Core;
using NetStack.Wire;

namespace NetStack.Services;

/// <summary>
/// The http service: an ASP.NET Core minimal-API app on Kestrel, over the stack's TCP through the
/// NetStack transport (<see cref="WebHostBuilderNetStackExtensions.UseNetStack(IWebHostBuilder, NetNamespace, Action{NetStackTransportOptions}?)"/>):
/// <list type="bullet">
/// <item><c>GET /</c>: a plain-text status page: services, sockets, the MIB counters.</item>
/// <item><c>GET /bytes/N</c>: N bytes of <see cref="BytesPattern"/>, streamed with Content-Length.</item>
/// <item><c>POST /sha256</c>: the lowercase hex SHA-256 of the request body (Content-Length or chunked), streamed.</item>
/// </list>
/// HEAD works wherever GET does. HTTP/1.1 itself (parsing, keep-alive, chunked coding,
/// 100-continue, 400/413/431 answers) is Kestrel's; unknown paths get 404, wrong methods 405 with
/// Allow, each with a one-line text body.
/// </summary>
public sealed class HttpService(NetNamespace net, ServiceOptions options, ushort port = HttpService.DefaultPort)
    : Service(net, "http", port, options)
{
    public const ushort DefaultPort = 80;

    private readonly long _started = Stopwatch.GetTimestamp();
    private WebApplication? _app;
    private ListenOptions? _listen;
    public long Requests;

    /// <summary>The host whose services the status page lists (set by <see cref="ServiceHost"/>).</summary>
    public ServiceHost? Host { get; internal set; }

    public override string Transport => "tcp";

    /// <summary>The address Kestrel listens on (the actual port when started with port 0).</summary>
    public IPEndPoint? LocalEndPoint => _listen?.IPEndPoint;

    public override string FormatStats() => base.FormatStats() + $", {Interlocked.Read(ref Requests)} requests";

    public override void Start()
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = "netstack-http" });
        builder.WebHost.UseKestrelCore().UseNetStack(Net, t => t.Backlog = Options.Backlog);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = Options.MaxBodyBytes;
            k.Limits.MaxRequestHeadersTotalSize = Options.MaxHeadBytes;
            k.Limits.KeepAliveTimeout = Options.IdleTimeout;
            k.Limits.RequestHeadersTimeout = Options.HeadersTimeout;
            k.Limits.MaxConcurrentConnections = Options.MaxConnections;
            // The minimum data rates stay at Kestrel's defaults (240 bytes/s after a 5 s grace), which is
            // what drops a client that trickles a body or never reads its response. They do not cut off
            // a bulk transfer stalled by retransmission timeouts on a lossy link: the request body's rate
            // is averaged over the whole body (time the app does not read excluded), and each response
            // flush (one slice of /bytes/N, up to 64 KiB) may take the larger of 5 s and size/240 s, over
            // four minutes for a full slice, far beyond any RTO backoff.
            k.Listen(new System.Net.IPEndPoint(Options.BindAddress, Port), l =>
            {
                _listen = l;
                l.Protocols = HttpProtocols.Http1;
                l.Use(next => c => CountConnectionAsync(next, c));
            });
        });
        builder.Services.AddRoutingCore();
        // Kestrel's warnings and errors (an exception in a handler, a bad request at Warning) go to the services' log.
        if (Options.Log is { } log)
        {
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            builder.Logging.AddProvider(new LineLoggerProvider(line => log($"http: {line}")));
        }
        // Signals belong to the caller (`netstack up` stops the services itself), not to this app.
        builder.Services.AddSingleton<IHostLifetime, CallerLifetime>();
        var app = builder.Build();
        MapEndpoints(app);
        try
        {
            app.StartAsync().GetAwaiter().GetResult();
        }
        catch (IOException e) when (e.InnerException is AddressInUseException)
        {
            app.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw new NetStackException(Errno.EADDRINUSE, $"http: bind to port {Port}: EADDRINUSE");
        }
        catch
        {
            app.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw;
        }
        _app = app;
    }

    public override async Task StopAsync()
    {
        if (_app is not { } app) return;
        _app = null;
        // Kestrel stops accepting, lets requests in progress finish for a moment, then aborts them.
        using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try { await app.StopAsync(grace.Token).ConfigureAwait(false); }
        catch (OperationCanceledException) { }
        await app.DisposeAsync().ConfigureAwait(false);
    }

    private async Task CountConnectionAsync(ConnectionDelegate next, ConnectionContext connection)
    {
        Interlocked.Increment(ref Accepted);
        Interlocked.Increment(ref Active);
        try
        {
            await next(connection).ConfigureAwait(false);
            Interlocked.Increment(ref Completed);
        }
        catch (Exception e)
        {
            Interlocked.Increment(ref Failed);
            Log($"connection failed: {e.GetType().Name}: {e.Message}");
        }
        finally
        {
            Interlocked.Decrement(ref Active);
        }
    }

    private void MapEndpoints(WebApplication app)
    {
        // Counts requests, and gives routing's bare 404 and 405 a one-line text body.
        app.Use(async (context, next) =>
        {
            Interlocked.Increment(ref Requests);
            await next(context).ConfigureAwait(false);
            var r = context.Response;
            if (!r.HasStarted && r.StatusCode is 404 or 405 && r.ContentLength is null)
                await TextAsync(context, r.StatusCode, r.StatusCode == 404 ? $"no such resource {context.Request.Path}" : "method not allowed here").ConfigureAwait(false);
        });
        string[] getOrHead = [HttpMethods.Get, HttpMethods.Head];
        app.MapMethods("/", getOrHead, StatusAsync);
        app.MapMethods("/bytes/{n}", getOrHead, BytesAsync);
        app.MapMethods("/sha256", [HttpMethods.Post], Sha256Async);
    }

    private Task StatusAsync(HttpContext context) => TextAsync(context, 200, StatusPage(), asIs: true);

    private async Task BytesAsync(HttpContext context)
    {
        if (!TryParseCount(context.Request.RouteValues["n"] as string, out long n))
        {
            await TextAsync(context, 400, "expected /bytes/N with N a decimal byte count").ConfigureAwait(false);
            return;
        }
        if (n > Options.MaxBytesResponse)
        {
            await TextAsync(context, 400, $"N larger than {Options.MaxBytesResponse}").ConfigureAwait(false);
            return;
        }
        var response = context.Response;
        response.ContentType = "application/octet-stream";
        response.ContentLength = n;
        if (HttpMethods.IsHead(context.Request.Method)) return;
        // Slices of one period-sized table: nothing N-sized is ever held.
        var writer = response.BodyWriter;
        var ct = context.RequestAborted;
        for (long off = 0; off < n;)
        {
            var slice = BytesPattern.Slice(off, n - off);
            var flush = await writer.WriteAsync(slice, ct).ConfigureAwait(false);
            off += slice.Length;
            Interlocked.Add(ref BytesOut, slice.Length);
            if (flush.IsCompleted || flush.IsCanceled) return;
        }
    }

    private async Task Sha256Async(HttpContext context)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var reader = context.Request.BodyReader;
        while (true)
        {
            var result = await reader.ReadAsync(context.RequestAborted).ConfigureAwait(false);
            foreach (var segment in result.Buffer) sha.AppendData(segment.Span);
            Interlocked.Add(ref BytesIn, result.Buffer.Length);
            reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted) break;
        }
        await TextAsync(context, 200, Convert.ToHexStringLower(sha.GetHashAndReset()) + "\n", asIs: true).ConfigureAwait(false);
    }

    /// <summary>A text/plain answer: <paramref name="text"/> as is, or "STATUS REASON: text\n" for an error.</summary>
    private async Task TextAsync(HttpContext context, int status, string text, bool asIs = false)
    {
        byte[] body = Encoding.UTF8.GetBytes(asIs ? text : $"{status} {ReasonPhrases.GetReasonPhrase(status)}: {text}\n");
        var r = context.Response;
        r.StatusCode = status;
        r.ContentType = "text/plain; charset=utf-8";
        r.ContentLength = body.Length;
        if (HttpMethods.IsHead(context.Request.Method)) return;
        await r.Body.WriteAsync(body, context.RequestAborted).ConfigureAwait(false);
        Interlocked.Add(ref BytesOut, body.Length);
    }

    private static bool TryParseCount(string? s, out long n)
    {
        n = 0;
        if (string.IsNullOrEmpty(s) || s.Length > 18) return false;
        foreach (char c in s)
        {
            if (!char.IsAsciiDigit(c)) return false;
            n = n * 10 + (c - '0');
        }
        return true;
    }

    /// <summary>The text of GET /: who we are, the services, the sockets and the counters.</summary>
    public string StatusPage()
    {
        var sb = new StringBuilder();
        var addrs = string.Join(", ", NetStackInfo.GetInterfaces(Net).Where(d => d.Address is not null).Select(d => $"{d.Address} on {d.Name}"));
        sb.Append(CultureInfo.InvariantCulture, $"netstack {Net.Name}: {addrs}\n");
        sb.Append(CultureInfo.InvariantCulture, $"up {Stopwatch.GetElapsedTime(_started).TotalSeconds:0.0} s\n\n");
        sb.Append("services:\n");
        var services = Host?.Services ?? [this];
        foreach (var s in services) sb.Append("  ").Append(s.FormatStats()).Append('\n');
        sb.Append("\nsockets:\n");
        AppendSockets(sb, Net);
        sb.Append("\ncounters:\n");
        sb.Append(Net.Mib.Format());
        return sb.ToString();
    }

    /// <summary>The socket table (fd, protocol, state, addresses, queues), from the API's snapshot.</summary>
    private static void AppendSockets(StringBuilder sb, NetNamespace net)
    {
        sb.Append(CultureInfo.InvariantCulture, $"  {"fd",4}  {"proto",-5}  {"state",-12}  {"local",-21}  {"remote",-21}  {"recv-q",7}  {"send-q",7}\n");
        foreach (var s in NetStackInfo.GetSockets(net))
            sb.Append(CultureInfo.InvariantCulture,
                $"  {s.Fd,4}  {s.Protocol,-5}  {s.State,-12}  {s.LocalEndPoint,-21}  {s.RemoteEndPoint?.ToString() ?? "*:*",-21}  {s.ReceiveQueue,7}  {s.SendQueue,7}\n");
    }

    /// <summary>Log messages as single lines ("Warning Category: message: Exception: text").</summary>
    private sealed class LineLoggerProvider(Action<string> write) : ILoggerProvider, ILogger
    {
        public ILogger CreateLogger(string categoryName) => this;
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel)) return;
            string message = formatter(state, exception);
            write(exception is null ? $"{logLevel}: {message}" : $"{logLevel}: {message}: {exception.GetType().Name}: {exception.Message}");
        }

        public void Dispose() { }
    }

    /// <summary>A host lifetime that leaves Ctrl-C and SIGTERM to the caller.</summary>
    private sealed class CallerLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
