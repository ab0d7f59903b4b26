using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using NetStack.Api;
using NetStack.Core;

namespace NetStack.AspNetCore;

/// <summary>
/// <c>builder.WebHost.UseNetStack(net)</c>: Kestrel listens on the stack instead of the kernel's sockets.
/// <code>
/// using var stack = NetStackHost.Up(new StackOptions());          // 10.7.0.2 on tap0
/// var builder = WebApplication.CreateBuilder(args);
/// builder.WebHost.UseNetStack(stack).UseUrls("http://10.7.0.2:80");
/// var app = builder.Build();
/// app.MapGet("/", () => "hello from NetStack");
/// app.Run();
/// </code>
/// </summary>
public static class WebHostBuilderNetStackExtensions
{
    /// <summary>
    /// Registers <see cref="NetStackConnectionListenerFactory"/> over <paramref name="net"/> as
    /// Kestrel's transport for IP endpoints (it takes precedence over the socket transport, which
    /// stays for Unix-domain endpoints). Everything else about Kestrel (URLs, limits, HTTPS
    /// configuration) is configured as usual.
    /// </summary>
    public static IWebHostBuilder UseNetStack(this IWebHostBuilder builder, NetNamespace net, Action<NetStackTransportOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(net);
        var options = new NetStackTransportOptions();
        configure?.Invoke(options);
        return builder.ConfigureServices(services =>
            services.AddSingleton<IConnectionListenerFactory>(new NetStackConnectionListenerFactory(net, options)));
    }

    /// <summary>Kestrel on the stack of <paramref name="host"/> (a stack attached to a TAP); see <see cref="UseNetStack(IWebHostBuilder, NetNamespace, Action{NetStackTransportOptions}?)"/>.</summary>
    public static IWebHostBuilder UseNetStack(this IWebHostBuilder builder, NetStackHost host, Action<NetStackTransportOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        return builder.UseNetStack(host.Net, configure);
    }
}
