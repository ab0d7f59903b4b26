using NetStack.Api;
using NetStack.Core;

namespace NetStack.Cli.Commands;

/// <summary>
/// A running stack for the socket tools (repl, ping, nc): attached to the TAP like `up`, or with
/// --lo a stack that has only its loopback device (no TAP, no root).
/// </summary>
internal sealed class StackAttach : IDisposable
{
    private readonly NetStackHost? _host;

    public NetNamespace Net { get; }
    public string Description { get; }

    private StackAttach(NetStackHost? host, NetNamespace net, string description)
    {
        _host = host;
        Net = net;
        Description = description;
    }

    /// <summary>Brings the stack up from the parsed options (a loopback-only one with --lo).</summary>
    public static StackAttach Up(StackOptionSet.Parsed o)
    {
        if (o.Loopback)
        {
            var net = new NetNamespace("lo-only");
            net.Start();
            return new StackAttach(null, net, "loopback-only stack (127.0.0.1)");
        }
        Prerequisites.Check();
        UpCommand.EnsureTap(o);
        var host = NetStackHost.Up(o.Stack);
        return new StackAttach(host, host.Net, host.ToString());
    }

    public void Dispose()
    {
        if (_host is not null) _host.Dispose();
        else Net.Dispose();
    }
}
