using static NetStack.Uapi.SocketConstants;

namespace NetStack.Api;

/// <summary>
/// A <see cref="Stream"/> over a connected stream socket of the stack, for code that speaks
/// streams (the services, the HTTP client): reads are recv(2) (0 at end of stream), writes send
/// everything (looping over partial sends), asynchronously through the socket's async methods or
/// synchronously through its blocking calls. Errors surface as <see cref="NetStackException"/>
/// with the errno (ECONNRESET, EPIPE...).
/// </summary>
public sealed class NetStream : Stream
{
    private readonly bool _ownsSocket;
    private bool _disposed;

    public NetStream(NetSocket socket, bool ownsSocket = true)
    {
        Socket = socket;
        _ownsSocket = ownsSocket;
    }

    public NetSocket Socket { get; }

    public override bool CanRead => !_disposed;
    public override bool CanWrite => !_disposed;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer) => buffer.IsEmpty ? 0 : Socket.Receive(buffer);

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        buffer.IsEmpty ? new ValueTask<int>(0) : Socket.ReceiveAsync(buffer, 0, cancellationToken);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        while (!buffer.IsEmpty) buffer = buffer[Socket.Send(buffer)..];
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        // The common case (the whole buffer fits in the send buffer) completes without a state machine.
        var t = Socket.SendAsync(buffer, 0, cancellationToken);
        if (t.IsCompletedSuccessfully)
        {
            int n = t.Result;
            return n == buffer.Length ? ValueTask.CompletedTask : WriteRestAsync(buffer[n..], cancellationToken);
        }
        return WriteSlowAsync(t, buffer, cancellationToken);
    }

    private async ValueTask WriteSlowAsync(ValueTask<int> first, ReadOnlyMemory<byte> buffer, CancellationToken ct)
    {
        int n = await first.ConfigureAwait(false);
        await WriteRestAsync(buffer[n..], ct).ConfigureAwait(false);
    }

    private async ValueTask WriteRestAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct)
    {
        while (!buffer.IsEmpty)
            buffer = buffer[await Socket.SendAsync(buffer, 0, ct).ConfigureAwait(false)..];
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    /// <summary>shutdown(SHUT_WR): the peer reads end of stream after what was written.</summary>
    public void ShutdownWrite() => Socket.Shutdown(SHUT_WR);

    public override void Flush() { }
    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_disposed && _ownsSocket) Socket.Dispose();
        _disposed = true;
        base.Dispose(disposing);
    }
}
