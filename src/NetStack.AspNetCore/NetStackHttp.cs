using System.Net;
using System.Net.Http;
using NetStack.Api;
using NetStack.Core;

namespace NetStack.AspNetCore;

/// <summary>
/// <see cref="HttpClient"/> over the stack: a <see cref="SocketsHttpHandler"/> whose
/// <see cref="SocketsHttpHandler.ConnectCallback"/> opens the stack's TCP connections, so
/// everything else (HTTP/1.1, keep-alive pooling, chunked coding, redirects, timeouts) is
/// HttpClient's own.
/// <code>
/// using var http = NetStackHttp.CreateClient(stack.Net);
/// string page = await http.GetStringAsync("http://10.7.0.1:8080/");
/// </code>
/// The stack has no resolver: URL hosts must be IPv4 addresses in dotted-quad form. Connection
/// errors surface as <see cref="HttpRequestException"/> whose inner exception is the stack's
/// (with the errno, e.g. ECONNREFUSED).
/// </summary>
public static class NetStackHttp
{
    /// <summary>A handler whose connections are TCP connections of <paramref name="net"/>; HTTP/1.1 only (no TLS, no HTTP/2 or 3 over the stack).</summary>
    public static SocketsHttpHandler CreateHandler(NetNamespace net)
    {
        ArgumentNullException.ThrowIfNull(net);
        return new SocketsHttpHandler
        {
            ConnectCallback = (context, ct) => ConnectAsync(net, context.DnsEndPoint, ct),
            UseProxy = false,
            AutomaticDecompression = DecompressionMethods.None,
        };
    }

    /// <summary>An <see cref="HttpClient"/> over <see cref="CreateHandler"/> (disposing the client disposes the handler).</summary>
    public static HttpClient CreateClient(NetNamespace net) =>
        new(CreateHandler(net), disposeHandler: true) { DefaultRequestVersion = HttpVersion.Version11, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionOrLower };

    /// <summary>The connect callback: a TCP connection of <paramref name="net"/> to the endpoint (host given as an IPv4 or IPv6 address), as a stream that owns the socket.</summary>
    public static async ValueTask<Stream> ConnectAsync(NetNamespace net, DnsEndPoint endPoint, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        string host = endPoint.Host.Trim('[', ']');
        if (!IPAddress.TryParse(host, out var address))
            throw new NotSupportedException($"host '{endPoint.Host}' is not an IP address (the stack has no resolver)");
        var socket = await StackCalls.ConnectAsync(net, new IPEndPoint(address, endPoint.Port), cancellationToken).ConfigureAwait(false);
        return StackCalls.OwningStream(socket);
    }
}
