using System.Runtime.CompilerServices;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Api;

/// <summary>
/// A <see cref="Stream"/> over a connected stream socket of the stack, the counterpart of
/// <see cref="System.Net.Sockets.NetworkStream"/>: reads are recv(2) (0 at end of stream), writes
/// send everything (looping over partial sends), asynchronously through the socket's async methods
/// or synchronously through its blocking calls. As NetworkStream does, socket errors surface as an
/// <see cref="IOException"/> whose inner exception is the <see cref="NetStackException"/> with the
/// errno (ECONNRESET, EPIPE...); cancellation is an <see cref="OperationCanceledException"/> with the
/// caller's token, and use after dispose an <see cref="ObjectDisposedException"/>.
/// </summary>
public sealed class NetStream : Stream
{
    private readonly bool _ownsSocket;
    private volatile bool _disposed;

    /// <summary>A stream over <paramref name="socket"/>; disposing the stream closes the socket when <paramref name="ownsSocket"/>.</summary>
    public NetStream(NetSocket socket, bool ownsSocket = true)
    {
        ArgumentNullException.ThrowIfNull(socket);
        Socket = socket;
        _ownsSocket = ownsSocket;
    }

    /// <summary>The socket under the stream.</summary>
    public NetSocket Socket { get; }

    /// <inheritdoc/>
    public override bool CanRead => !_disposed;
    /// <inheritdoc/>
    public override bool CanWrite => !_disposed;
    /// <inheritdoc/>
    public override bool CanSeek => false;
    /// <inheritdoc/>
    public override long Length => throw new NotSupportedException();
    /// <inheritdoc/>
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    /// <summary>Whether data is queued for reading (SIOCINQ &gt; 0).</summary>
    public bool DataAvailable => Socket.Available > 0;

    private static IOException Wrap(NetStackException e, string what) =>
        new($"Unable to {what} data from the transport connection: {e.Message}.", e);

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    /// <inheritdoc/>
    public override int Read(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        return Read(buffer.AsSpan(offset, count));
    }

    /// <inheritdoc/>
    public override int Read(Span<byte> buffer)
    {
        ThrowIfDisposed();
        if (buffer.IsEmpty) return 0;
        try { return Socket.Receive(buffer); }
        catch (NetStackException e) { throw Wrap(e, "read"); }
    }

    /// <inheritdoc/>
    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_disposed) return ValueTask.FromException<int>(new ObjectDisposedException(nameof(NetStream)));
        if (buffer.IsEmpty) return new ValueTask<int>(0);
        var t = Socket.ReceiveAsync(buffer, cancellationToken);
        return t.IsCompletedSuccessfully ? t : ReadSlowAsync(t);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<int> ReadSlowAsync(ValueTask<int> t)
    {
        try { return await t.ConfigureAwait(false); }
        catch (NetStackException e) { throw Wrap(e, "read"); }
    }

    /// <inheritdoc/>
    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        ValidateBufferArguments(buffer, offset, count);
        return ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    /// <inheritdoc/>
    public override void Write(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        Write(buffer.AsSpan(offset, count));
    }

    /// <inheritdoc/>
    public override void Write(ReadOnlySpan<byte> buffer)
    {
        ThrowIfDisposed();
        try
        {
            while (!buffer.IsEmpty) buffer = buffer[Socket.Send(buffer)..];
        }
        catch (NetStackException e) { throw Wrap(e, "write"); }
    }

    /// <inheritdoc/>
    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_disposed) return ValueTask.FromException(new ObjectDisposedException(nameof(NetStream)));
        if (buffer.IsEmpty) return ValueTask.CompletedTask;
        // The common case (the whole buffer fits in the send buffer) completes without a state machine.
        var t = Socket.SendAsync(buffer, cancellationToken);
        if (t.IsCompletedSuccessfully)
        {
            int n = t.Result;
            return n == buffer.Length ? ValueTask.CompletedTask : WriteSlowAsync(new ValueTask<int>(n), buffer, cancellationToken);
        }
        return WriteSlowAsync(t, buffer, cancellationToken);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask WriteSlowAsync(ValueTask<int> first, ReadOnlyMemory<byte> buffer, CancellationToken ct)
    {
        try
        {
            buffer = buffer[await first.ConfigureAwait(false)..];
            while (!buffer.IsEmpty)
                buffer = buffer[await Socket.SendAsync(buffer, ct).ConfigureAwait(false)..];
        }
        catch (NetStackException e) { throw Wrap(e, "write"); }
    }

    /// <inheritdoc/>
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        ValidateBufferArguments(buffer, offset, count);
        return WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    /// <summary>shutdown(SHUT_WR): the peer reads end of stream after what was written.</summary>
    public void ShutdownWrite()
    {
        ThrowIfDisposed();
        try { Socket.Shutdown(SHUT_WR); }
        catch (NetStackException e) { throw Wrap(e, "write"); }
    }

    /// <inheritdoc/>
    public override void Flush() { }
    /// <inheritdoc/>
    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    /// <inheritdoc/>
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    /// <inheritdoc/>
    public override void SetLength(long value) => throw new NotSupportedException();

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed && _ownsSocket) Socket.Dispose();
        _disposed = true;
        base.Dispose(disposing);
    }
}
