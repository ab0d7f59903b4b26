using System.Net;
using Microsoft.AspNetCore.Connections;
using NetStack.Api;

namespace NetStack.AspNetCore;

/// <summary>A listening TCP socket of the stack for Kestrel: <see cref="AcceptAsync"/> is the socket's async accept.</summary>
internal sealed class NetStackConnectionListener : IConnectionListener
{
    private readonly NetSocket _socket;
    private readonly NetStackTransportOptions _options;
    /// <summary>Unbind: ends a pending accept (which then answers null, as Kestrel expects).</summary>
    private readonly CancellationTokenSource _unbind = new();

    public NetStackConnectionListener(NetSocket socket, NetStackTransportOptions options)
    {
        _socket = socket;
        _options = options;
        EndPoint = StackCalls.LocalEndPoint(socket) ?? new IPEndPoint(IPAddress.Any, 0);
    }

    public EndPoint EndPoint { get; }

    public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _unbind.Token);
        while (true)
        {
            NetSocket accepted;
            try
            {
                accepted = await StackCalls.AcceptAsync(_socket, linked.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (_unbind.IsCancellationRequested)
            {
                return null; // unbound
            }
            catch (Exception e) when (StackCalls.IsClosed(e) || Volatile.Read(ref _unbound))
            {
                return null; // the listening socket was closed
            }
            catch (Exception e) when (StackCalls.IsReset(e))
            {
                continue; // a connection that died in the accept queue; take the next one
            }
            var connection = new NetStackConnection(accepted, _options);
            connection.Start();
            return connection;
        }
    }

    private bool _unbound;

    public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
    {
        Volatile.Write(ref _unbound, true);
        try { _unbind.Cancel(); }
        catch (ObjectDisposedException) { }
        StackCalls.Close(_socket);
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync()
    {
        Volatile.Write(ref _unbound, true);
        try { _unbind.Cancel(); }
        catch (ObjectDisposedException) { }
        StackCalls.Close(_socket);
        _unbind.Dispose();
        return ValueTask.CompletedTask;
    }
}
