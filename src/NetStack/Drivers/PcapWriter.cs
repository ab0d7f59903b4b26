using System.Diagnostics;
using NetStack.Core;

namespace NetStack.Drivers;

/// <summary>
/// Writes every frame a device sees to a classic pcap file (the libpcap format tcpdump, tshark
/// and Wireshark read): the nanosecond-resolution variant (magic 0xa1b23c4d), link type 1
/// (Ethernet), wall-clock timestamps. Records go into a preallocated buffer that is written out
/// when full, with the first frame captured a second or more after the previous write, on
/// <see cref="Flush"/> and on <see cref="Dispose"/>, so capturing a frame allocates nothing.
/// (No timer of its own: a reader that needs the file complete while the stack idles calls Flush.)
/// <para>
/// <see cref="Capture"/> runs under the stack lock; a small lock of its own lets another thread
/// (a test that wants to read the file now) call <see cref="Flush"/> safely.
/// </para>
/// </summary>
public sealed class PcapWriter : IPacketCapture, IDisposable
{
    /// <summary>The pcap global header's magic for nanosecond timestamps (0xa1b23c4d).</summary>
    public const uint MagicNanoseconds = PcapFormat.MagicNanoseconds;
    /// <summary>LINKTYPE_ETHERNET: the file's link type.</summary>
    public const uint LinkTypeEthernet = PcapFormat.LinkTypeEthernet;
    /// <summary>The snapshot length written in the header: frames are captured whole up to this size.</summary>
    public const int SnapLen = PcapFormat.SnapLen;

    private readonly FileStream _file;
    private readonly byte[] _buffer;
    private readonly Lock _lock = new();
    private readonly long _flushIntervalTicks = Stopwatch.Frequency; // one second
    private int _used;
    private long _lastFlush;
    private bool _disposed;
    private readonly Timer _flushTimer;

    /// <summary>Creates (or truncates) the capture file at <paramref name="path"/> and starts it with the global header (buffered like the records).</summary>
    /// <param name="path">The file to write.</param>
    /// <param name="bufferSize">Bytes of records buffered before a write; must hold one full record (16 + <see cref="SnapLen"/>).</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="bufferSize"/> is too small for one record.</exception>
    public PcapWriter(string path, int bufferSize = 1 << 18)
    {
        if (bufferSize < PcapFormat.RecordHeaderLength + SnapLen) throw new ArgumentOutOfRangeException(nameof(bufferSize), "must hold one full record");
        Path = System.IO.Path.GetFullPath(path);
        // bufferSize: 0 = FileStream does no buffering of its own; we buffer whole records.
        _file = new FileStream(Path, FileMode.Create, FileAccess.Write, FileShare.Read, bufferSize: 0);
        _buffer = GC.AllocateUninitializedArray<byte>(bufferSize);
        PcapFormat.WriteGlobalHeader(_buffer.AsSpan(0, PcapFormat.GlobalHeaderLength));
        _used = PcapFormat.GlobalHeaderLength;
        _lastFlush = Stopwatch.GetTimestamp();
        FlushLocked();
        _flushTimer = new Timer(static w => ((PcapWriter)w!).FlushIfDue(), this, 1000, 1000);
    }

    /// <summary>The absolute path of the capture file.</summary>
    public string Path { get; }

    /// <summary>Frames written so far.</summary>
    public long Frames { get; private set; }

    /// <summary>Appends one record. Allocation-free.</summary>
    public void Capture(ReadOnlySpan<byte> frame)
    {
        lock (_lock)
        {
            if (_disposed) return;
            int len = PcapFormat.RecordLength(frame);
            if (_used + len > _buffer.Length) FlushLocked();
            PcapFormat.WriteRecord(_buffer.AsSpan(_used, len), frame);
            _used += len;
            Frames++;
            long now = Stopwatch.GetTimestamp();
            if (now - _lastFlush >= _flushIntervalTicks) FlushLocked();
        }
    }

    /// <summary>Writes buffered records to the file (for a reader that wants the file complete now).</summary>
    public void Flush()
    {
        lock (_lock)
        {
            if (!_disposed) FlushLocked();
        }
    }

    /// <summary>The timer's tick: writes what is buffered if nothing was written for a second.</summary>
    private void FlushIfDue()
    {
        lock (_lock)
        {
            if (!_disposed && _used > 0 && Stopwatch.GetTimestamp() - _lastFlush >= _flushIntervalTicks) FlushLocked();
        }
    }

    private void FlushLocked()
    {
        if (_used > 0) _file.Write(_buffer, 0, _used);
        _used = 0;
        _lastFlush = Stopwatch.GetTimestamp();
    }

    /// <summary>Flushes the buffered records and closes the file. Idempotent.</summary>
    public void Dispose()
    {
        _flushTimer.Dispose();
        lock (_lock)
        {
            if (_disposed) return;
            FlushLocked();
            _disposed = true;
            _file.Dispose();
        }
    }
}
