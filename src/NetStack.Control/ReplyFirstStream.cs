namespace NetStack.Control;

/// <summary>
/// The stream a "capture" op's pcap goes to: the reply line goes first, and only once the capture is
/// attached to its devices (<see cref="Open"/>). The client takes the reply as "listening" (tcpdump's
/// line) and starts its traffic then, so a reply sent before the tap was in place would lose the first
/// frames; a pcap writer that writes before the reply would corrupt the line protocol. Frames taken
/// meanwhile wait in the capture's buffer.
/// </summary>
/// <param name="inner">The client's connection.</param>
/// <param name="writeLock">Taken around each write (the session's other writers use it too).</param>
/// <param name="reply">The reply line, with its newline.</param>
/// <param name="gone">Ends a wait for <see cref="Open"/> when the client goes away.</param>
internal sealed class ReplyFirstStream(Stream inner, object writeLock, byte[] reply, CancellationToken gone) : Stream
{
    private readonly ManualResetEventSlim _open = new();
    private bool _replied;

    /// <summary>The capture is attached: the reply (and what follows it) may go.</summary>
    public void Open() => _open.Set();

    public override void Write(byte[] buffer, int offset, int count)
    {
        if (!_replied)
        {
            try { _open.Wait(gone); }
            catch (OperationCanceledException) { throw new IOException("the client went away"); }
            lock (writeLock) inner.Write(reply);
            _replied = true;
        }
        lock (writeLock) inner.Write(buffer, offset, count);
    }

    public override void Flush() => inner.Flush();
    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => true;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) _open.Dispose();
        base.Dispose(disposing);
    }
}
