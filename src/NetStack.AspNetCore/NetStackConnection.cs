using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using NetStack.Api;

namespace NetStack.AspNetCore;

/// <summary>
/// One accepted TCP connection of the stack as Kestrel sees it: a <see cref="ConnectionContext"/>
/// whose <see cref="Transport"/> is a pair of pipes. A receive loop reads the socket into the input
/// pipe (end of stream completes it); a send loop writes what Kestrel puts in the output pipe to
/// the socket, and when Kestrel completes the output, sends our FIN and closes the socket.
/// Modelled on Kestrel's socket transport (SocketConnection).
/// </summary>
internal sealed class NetStackConnection : ConnectionContext,
    IConnectionIdFeature, IConnectionTransportFeature, IConnectionItemsFeature, IConnectionLifetimeFeature, IConnectionEndPointFeature
{
    private const int MinAllocBufferSize = 4096;
    private static long _lastId;

    private readonly NetSocket _socket;
    private readonly Pipe _input;   // socket -> Kestrel
    private readonly Pipe _output;  // Kestrel -> socket
    private readonly CancellationTokenSource _connectionClosed = new();
    /// <summary>Cancels a pending receive or send when the connection is aborted or closed.</summary>
    private readonly CancellationTokenSource _io = new();
    private readonly Lock _closeLock = new();
    private bool _closed;
    private volatile Exception? _shutdownReason;
    private Task _processing = Task.CompletedTask;

    public NetStackConnection(NetSocket socket, NetStackTransportOptions options)
    {
        _socket = socket;
        long? maxRead = options.MaxReadBufferSize, maxWrite = options.MaxWriteBufferSize;
        _input = new Pipe(new PipeOptions(MemoryPool<byte>.Shared, readerScheduler: PipeScheduler.ThreadPool, writerScheduler: PipeScheduler.Inline,
            pauseWriterThreshold: maxRead ?? 0, resumeWriterThreshold: maxRead / 2 ?? 0, useSynchronizationContext: false));
        _output = new Pipe(new PipeOptions(MemoryPool<byte>.Shared, readerScheduler: PipeScheduler.Inline, writerScheduler: PipeScheduler.ThreadPool,
            pauseWriterThreshold: maxWrite ?? 0, resumeWriterThreshold: maxWrite / 2 ?? 0, useSynchronizationContext: false));
        Transport = new DuplexPipe(_input.Reader, _output.Writer);
        ConnectionId = "netstack-" + Interlocked.Increment(ref _lastId).ToString("x", System.Globalization.CultureInfo.InvariantCulture);
        LocalEndPoint = StackCalls.LocalEndPoint(socket);
        RemoteEndPoint = StackCalls.RemoteEndPoint(socket);
        ConnectionClosed = _connectionClosed.Token;
        Features.Set<IConnectionIdFeature>(this);
        Features.Set<IConnectionTransportFeature>(this);
        Features.Set<IConnectionItemsFeature>(this);
        Features.Set<IConnectionLifetimeFeature>(this);
        Features.Set<IConnectionEndPointFeature>(this);
    }

    public override string ConnectionId { get; set; }
    public override IFeatureCollection Features { get; } = new FeatureCollection();
    public override IDictionary<object, object?> Items { get; set; } = new ConnectionItems();
    public override IDuplexPipe Transport { get; set; }
    public override CancellationToken ConnectionClosed { get; set; }
    public override EndPoint? LocalEndPoint { get; set; }
    public override EndPoint? RemoteEndPoint { get; set; }

    /// <summary>Starts the receive and send loops.</summary>
    public void Start() => _processing = RunAsync();

    private async Task RunAsync()
    {
        var receive = ReceiveLoopAsync();
        var send = SendLoopAsync();
        await receive.ConfigureAwait(false);
        await send.ConfigureAwait(false);
        // Both directions are over: tell the application, off this thread.
        ThreadPool.UnsafeQueueUserWorkItem(static c => c.FireConnectionClosed(), this, preferLocal: false);
    }

    private void FireConnectionClosed()
    {
        try { _connectionClosed.Cancel(); }
        catch (ObjectDisposedException) { }
    }

    private async Task ReceiveLoopAsync()
    {
        Exception? error = null;
        var writer = _input.Writer;
        try
        {
            while (true)
            {
                var memory = writer.GetMemory(MinAllocBufferSize);
                int n = await StackCalls.ReceiveAsync(_socket, memory, _io.Token).ConfigureAwait(false);
                if (n == 0) break; // the peer's FIN
                writer.Advance(n);
                var flush = await writer.FlushAsync().ConfigureAwait(false);
                if (flush.IsCompleted || flush.IsCanceled) break; // Kestrel stopped reading
            }
        }
        catch (OperationCanceledException) when (_io.IsCancellationRequested)
        {
            // Aborted or closed by us: the reason (if any) is _shutdownReason.
        }
        catch (Exception e) when (StackCalls.IsClosed(e) && Volatile.Read(ref _closed))
        {
        }
        catch (Exception e) when (StackCalls.IsReset(e))
        {
            error = new ConnectionResetException(e.Message, e);
        }
        catch (Exception e)
        {
            error = new IOException(e.Message, e);
        }
        finally
        {
            await writer.CompleteAsync(_shutdownReason ?? error).ConfigureAwait(false);
        }
    }

    private async Task SendLoopAsync()
    {
        Exception? error = null;
        var reader = _output.Reader;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync().ConfigureAwait(false);
                if (result.IsCanceled) break; // Abort
                var buffer = result.Buffer;
                foreach (var segment in buffer)
                {
                    var rest = segment;
                    while (!rest.IsEmpty)
                        rest = rest[await StackCalls.SendAsync(_socket, rest, _io.Token).ConfigureAwait(false)..];
                }
                reader.AdvanceTo(buffer.End);
                if (result.IsCompleted) break; // Kestrel is done with this connection: FIN below
            }
        }
        catch (OperationCanceledException) when (_io.IsCancellationRequested)
        {
        }
        catch (Exception e) when (StackCalls.IsClosed(e) && Volatile.Read(ref _closed))
        {
        }
        catch (Exception e) when (StackCalls.IsReset(e))
        {
            _shutdownReason ??= new ConnectionResetException(e.Message, e);
        }
        catch (Exception e)
        {
            error = new IOException(e.Message, e);
        }
        finally
        {
            // Graceful end (or a failure): our FIN after the data, then close. A receive still
            // pending ends with the close.
            Close(graceful: true, _shutdownReason ?? new ConnectionAbortedException("The NetStack transport's send loop completed."));
            await reader.CompleteAsync(error).ConfigureAwait(false);
        }
    }

    /// <summary>Closes the socket once: after a FIN when graceful; cancels the pending calls.</summary>
    private void Close(bool graceful, Exception reason)
    {
        lock (_closeLock)
        {
            if (_closed) return;
            _shutdownReason ??= reason;
            Volatile.Write(ref _closed, true);
        }
        if (graceful) StackCalls.ShutdownSend(_socket);
        // Cancellation runs the pending calls' continuations: outside the lock.
        try { _io.Cancel(); }
        catch (ObjectDisposedException) { }
        StackCalls.Close(_socket);
    }

    /// <summary>Closes the connection now: no more reads or writes; what Kestrel wrote but the socket did not take is dropped.</summary>
    public override void Abort(ConnectionAbortedException abortReason)
    {
        Close(graceful: false, abortReason);
        _output.Reader.CancelPendingRead();
    }

    void IConnectionLifetimeFeature.Abort() => Abort(new ConnectionAbortedException("The connection was aborted by the application."));

    public override async ValueTask DisposeAsync()
    {
        await Transport.Input.CompleteAsync().ConfigureAwait(false);
        await Transport.Output.CompleteAsync().ConfigureAwait(false);
        await _processing.ConfigureAwait(false);
        Close(graceful: false, new ConnectionAbortedException("The connection was disposed."));
        _connectionClosed.Dispose();
        _io.Dispose();
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;
        public PipeWriter Output { get; } = output;
    }
}
