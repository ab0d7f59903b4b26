using NetStack.Core;

namespace NetStack.Drivers;

/// <summary>Decides whether a tap keeps a frame (a compiled capture filter); called under the stack lock.</summary>
/// <param name="frame">The whole Ethernet frame.</param>
/// <returns>True to keep it.</returns>
public delegate bool FrameFilter(ReadOnlySpan<byte> frame);

/// <summary>
/// A live capture: a packet tap that streams pcap (the same format as <see cref="PcapWriter"/>) to
/// any <see cref="Stream"/> while the stack runs, for `tcpdump -w - | tshark -r -`. The stack's
/// threads only copy a frame into a preallocated buffer (allocation-free, never blocked by the
/// reader); a thread of the stream's own writes what has accumulated and flushes after every batch,
/// so a frame reaches the reader as soon as that thread wakes. When the reader falls behind and the
/// buffer is full, frames are dropped and counted (<see cref="Dropped"/>), as a packet socket's
/// ring drops. A failing stream (the reader went away) ends the capture: <see cref="Completion"/>.
/// <code>
/// var live = new PcapStream(Console.OpenStandardOutput());
/// dev.AddCapture(live);   // ... dev.RemoveCapture(live); live.Dispose();
/// </code>
/// </summary>
public sealed class PcapStream : IPacketCapture, IDisposable
{
    private readonly Stream _out;
    private readonly FrameFilter? _filter;
    private readonly long _maxFrames;
    private byte[] _fill, _spare;
    private int _used;
    private readonly Lock _lock = new();
    private readonly SemaphoreSlim _signal = new(0, 1);
    private readonly Thread _writer;
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _closed;
    private long _captured, _dropped;

    /// <summary>Starts the stream (the global header first) on a writer thread of its own.</summary>
    /// <param name="output">Where the pcap stream goes (stdout, a socket, a file).</param>
    /// <param name="filter">Keeps only the frames it accepts; null keeps all.</param>
    /// <param name="maxFrames">Ends the capture after this many frames (tcpdump -c); 0 for no limit.</param>
    /// <param name="bufferSize">Bytes of records held while the writer is busy (two buffers of this size).</param>
    public PcapStream(Stream output, FrameFilter? filter = null, long maxFrames = 0, int bufferSize = 1 << 21)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentOutOfRangeException.ThrowIfNegative(maxFrames);
        ArgumentOutOfRangeException.ThrowIfLessThan(bufferSize, PcapFormat.RecordHeaderLength + PcapFormat.SnapLen);
        _out = output;
        _filter = filter;
        _maxFrames = maxFrames;
        _fill = GC.AllocateUninitializedArray<byte>(bufferSize);
        _spare = GC.AllocateUninitializedArray<byte>(bufferSize);
        PcapFormat.WriteGlobalHeader(_fill);
        _used = PcapFormat.GlobalHeaderLength;
        _writer = new Thread(WriteLoop) { IsBackground = true, Name = "netstack-pcap-stream" };
        _writer.Start();
        _signal.Release();
    }

    /// <summary>Frames taken into the stream.</summary>
    public long Frames => Interlocked.Read(ref _captured);

    /// <summary>Frames lost because the reader was too slow (the buffer was full).</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Completes when the capture ends: disposed, the frame limit reached and written, or the stream failed (faulted with its exception).</summary>
    public Task Completion => _done.Task;

    /// <inheritdoc/>
    public void Capture(ReadOnlySpan<byte> frame)
    {
        if (_closed) return;
        if (_filter is { } f && !f(frame)) return;
        bool wake;
        lock (_lock)
        {
            if (_closed || (_maxFrames > 0 && _captured >= _maxFrames)) return;
            int len = PcapFormat.RecordLength(frame);
            if (_used + len > _fill.Length)
            {
                _dropped++;
                return;
            }
            PcapFormat.WriteRecord(_fill.AsSpan(_used, len), frame);
            wake = _used == 0 || (_maxFrames > 0 && _captured + 1 == _maxFrames);
            _used += len;
            _captured++;
        }
        // Wake the writer once per batch: a buffer that was empty (it went to sleep), or the last frame.
        if (wake && _signal.CurrentCount == 0)
        {
            try { _signal.Release(); }
            catch (SemaphoreFullException) { }
        }
    }

    private void WriteLoop()
    {
        try
        {
            while (true)
            {
                _signal.Wait(200);
                byte[] batch;
                int n;
                bool last;
                lock (_lock)
                {
                    (batch, _fill, _spare) = (_fill, _spare, _fill);
                    n = _used;
                    _used = 0;
                    last = _closed || (_maxFrames > 0 && _captured >= _maxFrames);
                }
                if (n > 0)
                {
                    _out.Write(batch, 0, n);
                    _out.Flush();
                }
                if (last) break;
            }
            _closed = true;
            _done.TrySetResult();
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or NotSupportedException)
        {
            _closed = true;
            _done.TrySetException(e);
        }
    }

    /// <summary>Ends the capture: what was taken is written, then the writer stops (the stream stays open: it is the caller's).</summary>
    public void Dispose()
    {
        lock (_lock) _closed = true;
        try { _signal.Release(); }
        catch (SemaphoreFullException) { }
        _writer.Join(TimeSpan.FromSeconds(5));
    }
}
