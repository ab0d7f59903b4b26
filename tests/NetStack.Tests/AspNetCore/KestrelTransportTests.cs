using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using NetStack.Api;
using NetStack.AspNetCore;
using NetStack.Ipv6;

namespace NetStack.Tests.AspNetCore;

/// <summary>
/// The Kestrel transport and the HttpClient handler between two stacks in one process (a
/// MemoryLink, real time): an unmodified minimal-API app on stack B, HttpClient on stack A.
/// </summary>
public sealed class KestrelTransportTests : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);
    private readonly RealTimeStacks _s = new();

    public void Dispose() => _s.Dispose();

    private WebApplication NewApp(string url)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().UseNetStack(_s.B).UseUrls(url);
        builder.Services.AddRoutingCore();
        var app = builder.Build();
        app.MapGet("/", () => "hello from NetStack");
        app.MapGet("/who", (HttpContext c) => $"{c.Connection.RemoteIpAddress}:{c.Connection.RemotePort} -> {c.Connection.LocalIpAddress}:{c.Connection.LocalPort}");
        return app;
    }

    [Fact]
    public async Task MinimalApi_AnswersHttpClient_WithIPEndPoints()
    {
        await using var app = NewApp("http://10.9.0.2:8080");
        await app.StartAsync().WaitAsync(Limit);
        using var http = NetStackHttp.CreateClient(_s.A);
        Assert.Equal("hello from NetStack", await http.GetStringAsync("http://10.9.0.2:8080/").WaitAsync(Limit));
        Assert.Matches(@"^10\.9\.0\.1:\d+ -> 10\.9\.0\.2:8080$", await http.GetStringAsync("http://10.9.0.2:8080/who").WaitAsync(Limit));
        await app.StopAsync().WaitAsync(Limit);
    }

    [Fact]
    public async Task PortZero_ReportsThePortTheStackChose()
    {
        await using var app = NewApp("http://10.9.0.2:0");
        await app.StartAsync().WaitAsync(Limit);
        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        int port = new Uri(address).Port;
        Assert.NotEqual(0, port);
        using var http = NetStackHttp.CreateClient(_s.A);
        Assert.Equal("hello from NetStack", await http.GetStringAsync($"http://10.9.0.2:{port}/").WaitAsync(Limit));
    }

    [Fact]
    public async Task Stop_WithIdleAndHalfSentConnections_DoesNotHang_AndClosesThem()
    {
        await using var app = NewApp("http://10.9.0.2:8081");
        await app.StartAsync().WaitAsync(Limit);
        // One connection that never sends, one stuck in the middle of a request head; the accept loop waits for more.
        using var idle = NetSocket.Tcp(_s.A);
        await idle.ConnectAsync(Ep.Of(TwoStacks.AddrB, 8081)).AsTask().WaitAsync(Limit);
        using var half = NetSocket.Tcp(_s.A);
        await half.ConnectAsync(Ep.Of(TwoStacks.AddrB, 8081)).AsTask().WaitAsync(Limit);
        await half.SendAsync("GET / HTTP/1.1\r\nHo"u8.ToArray()).AsTask().WaitAsync(Limit);
        await Task.Delay(200);

        using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(2));
        await app.StopAsync(grace.Token).WaitAsync(Limit);
        // Both were closed by the server (end of stream or a reset), and the port no longer listens.
        foreach (var s in new[] { idle, half })
        {
            var buf = new byte[100];
            try { Assert.Equal(0, await s.ReceiveAsync(buf).AsTask().WaitAsync(Limit)); }
            catch (NetStackException e) { Assert.Equal(NetStack.Uapi.Errno.ECONNRESET, e.Errno); }
        }
        using var late = NetSocket.Tcp(_s.A);
        var refused = await Assert.ThrowsAsync<NetStackException>(() => late.ConnectAsync(Ep.Of(TwoStacks.AddrB, 8081)).AsTask().WaitAsync(Limit));
        Assert.Equal(NetStack.Uapi.Errno.ECONNREFUSED, refused.Errno);
    }

    [Fact]
    public async Task Ipv6Any_IsDualStack_BothFamiliesReachIt_WhileIpv4AnyStaysIpv4()
    {
        _s.A.AddIpv6Address(_s.Link.A, System.Net.IPAddress.Parse("fd00:9::1"), 64);
        _s.B.AddIpv6Address(_s.Link.B, System.Net.IPAddress.Parse("fd00:9::2"), 64);
        using var http = NetStackHttp.CreateClient(_s.A);
        await using (var app = NewApp("http://[::]:8084"))
        {
            await app.StartAsync().WaitAsync(Limit);
            // An AF_INET6 listener with IPV6_V6ONLY off (as Kestrel's socket transport on Linux): the IPv4 client arrives v4-mapped.
            Assert.Matches(@"^::ffff:10\.9\.0\.1:\d+ -> ::ffff:10\.9\.0\.2:8084$", await http.GetStringAsync("http://10.9.0.2:8084/who").WaitAsync(Limit));
            Assert.Matches(@"^fd00:9::1:\d+ -> fd00:9::2:8084$", await http.GetStringAsync("http://[fd00:9::2]:8084/who").WaitAsync(Limit));
            await app.StopAsync().WaitAsync(Limit);
        }
        await using (var app = NewApp("http://0.0.0.0:8085"))
        {
            await app.StartAsync().WaitAsync(Limit);
            Assert.Equal("hello from NetStack", await http.GetStringAsync("http://10.9.0.2:8085/").WaitAsync(Limit));
            var e = await Assert.ThrowsAsync<HttpRequestException>(() => http.GetAsync("http://[fd00:9::2]:8085/").WaitAsync(Limit));
            Assert.Equal(NetStack.Uapi.Errno.ECONNREFUSED, Assert.IsType<NetStackException>(e.InnerException).Errno);
            await app.StopAsync().WaitAsync(Limit);
        }
    }

    [Fact]
    public async Task PortTaken_StartFails_WithAddressInUse()
    {
        using var squatter = NetSocket.Tcp(_s.B);
        squatter.Bind(Ep.Of(0, 8082));
        squatter.Listen();
        await using var app = NewApp("http://10.9.0.2:8082");
        var e = await Assert.ThrowsAsync<IOException>(() => app.StartAsync().WaitAsync(Limit));
        Assert.IsType<AddressInUseException>(e.InnerException);
    }

    [Fact]
    public async Task ClientGoingAway_MidResponse_AbortsTheRequest()
    {
        var aborted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().UseNetStack(_s.B).UseUrls("http://10.9.0.2:8083");
        builder.Services.AddRoutingCore();
        await using var app = builder.Build();
        app.MapGet("/forever", async (HttpContext c) =>
        {
            c.RequestAborted.Register(() => aborted.TrySetResult());
            var chunk = new byte[65536];
            try
            {
                while (!c.RequestAborted.IsCancellationRequested) await c.Response.Body.WriteAsync(chunk, c.RequestAborted);
            }
            catch (OperationCanceledException) { }
            catch (IOException) { }
        });
        await app.StartAsync().WaitAsync(Limit);
        using (var s = NetSocket.Tcp(_s.A))
        {
            await s.ConnectAsync(Ep.Of(TwoStacks.AddrB, 8083)).AsTask().WaitAsync(Limit);
            await s.SendAsync("GET /forever HTTP/1.1\r\nHost: b\r\n\r\n"u8.ToArray()).AsTask().WaitAsync(Limit);
            var buf = new byte[4096];
            Assert.True(await s.ReceiveAsync(buf).AsTask().WaitAsync(Limit) > 0);
        } // close with unread data: a reset
        await aborted.Task.WaitAsync(Limit);
        await app.StopAsync().WaitAsync(Limit);
    }

    [Fact]
    public async Task HttpClient_ConnectionRefused_CarriesTheStackError()
    {
        using var http = NetStackHttp.CreateClient(_s.A);
        var e = await Assert.ThrowsAsync<HttpRequestException>(() => http.GetAsync("http://10.9.0.2:9999/").WaitAsync(Limit));
        Assert.Equal(HttpRequestError.ConnectionError, e.HttpRequestError);
        var inner = Assert.IsType<NetStackException>(e.InnerException);
        Assert.Equal(NetStack.Uapi.Errno.ECONNREFUSED, inner.Errno);
        await Assert.ThrowsAsync<HttpRequestException>(() => http.GetAsync("http://example.com/").WaitAsync(Limit));
    }
}
