using System.Net;
using Microsoft.AspNetCore.Connections;
using NetStack.Core;

namespace NetStack.AspNetCore;

/// <summary>
/// A Kestrel transport over the stack: every <see cref="IPEndPoint"/> Kestrel binds (from
/// <c>UseUrls("http://10.7.0.2:80")</c>, <c>Listen(IPAddress.Any, 80)</c>, ...) becomes a listening
/// TCP socket of <see cref="Net"/>, and every accepted connection is served through a pair of
/// pipes over the socket's async calls. Registered by
/// <see cref="WebHostBuilderNetStackExtensions.UseNetStack(Microsoft.AspNetCore.Hosting.IWebHostBuilder, NetNamespace, Action{NetStackTransportOptions}?)"/>.
/// IPv4-mapped addresses are unmapped (an AF_INET listener); an IPv6 address is an AF_INET6 listener,
/// and <c>[::]</c> a dual-stack one (IPV6_V6ONLY off, as Kestrel's socket transport binds
/// IPAddress.IPv6Any on Linux), which takes IPv4 clients as ::ffff:a.b.c.d; 0.0.0.0 stays IPv4 only.
/// </summary>
public sealed class NetStackConnectionListenerFactory : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    private readonly NetStackTransportOptions _options;

    /// <summary>A transport over <paramref name="net"/> (a started stack: its threads deliver the packets).</summary>
    public NetStackConnectionListenerFactory(NetNamespace net, NetStackTransportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(net);
        Net = net;
        _options = options ?? new NetStackTransportOptions();
    }

    /// <summary>The stack the listeners live in.</summary>
    public NetNamespace Net { get; }

    /// <summary>Binds and listens on <paramref name="endpoint"/> (an <see cref="IPEndPoint"/>); port 0 picks a free port, reported by the listener's EndPoint.</summary>
    /// <exception cref="AddressInUseException">The address and port are taken.</exception>
    /// <exception cref="NotSupportedException">Not an IP endpoint.</exception>
    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        if (endpoint is not IPEndPoint ip) throw new NotSupportedException($"the NetStack transport binds IP endpoints only, not {endpoint.GetType().Name}");
        try
        {
            var socket = StackCalls.Listen(Net, ip, _options.Backlog);
            return new ValueTask<IConnectionListener>(new NetStackConnectionListener(socket, _options));
        }
        catch (Exception e) when (StackCalls.IsAddressInUse(e))
        {
            throw new AddressInUseException($"{ip}: {e.Message}", e);
        }
    }

    /// <summary>True for IP endpoints: those are the stack's.</summary>
    public bool CanBind(EndPoint endpoint) => endpoint is IPEndPoint;
}
