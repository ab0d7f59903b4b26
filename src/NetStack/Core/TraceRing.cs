namespace NetStack.Core;

/// <summary>
/// A fixed-capacity ring of unmanaged records between one writer and its readers, as the kernel's
/// perf ring buffer is between a tracepoint and <c>perf record</c>: the writer (a trace point, under
/// the stack lock, so one at a time) never waits and never allocates; the reader copies records out
/// from any thread without taking the stack lock. When the ring is full the writer drops the new
/// record and counts it in <see cref="Lost"/> (perf's <c>PERF_RECORD_LOST</c>) instead of
/// overwriting records not yet read (ftrace's overwrite mode): what a reader gets is always a gap-free
/// prefix of what happened plus a count of what it missed, never a sequence with silent holes.
/// <para>
/// Single producer, single consumer: the producer publishes a record by a release store of
/// <c>head</c> after writing its slot, the consumer frees slots by a release store of <c>tail</c>
/// after copying them; readers serialize among themselves on a lock of their own, which the
/// producer never takes.
/// </para>
/// </summary>
/// <typeparam name="T">The record (a blittable struct; the ring holds it by value).</typeparam>
/// <remarks>Mirrors kernel/events/ring_buffer.c (perf_output_begin() / perf_output_end(): a record that
/// does not fit is lost, rb->lost counts it) with kernel/trace/ring_buffer.c's fixed-size pages.</remarks>
internal sealed class TraceRing<T> where T : unmanaged
{
    /// <summary>The smallest capacity (records).</summary>
    public const int MinCapacity = 16;
    /// <summary>The largest capacity (records): 2^22.</summary>
    public const int MaxCapacity = 1 << 22;

    private readonly T[] _slots;
    private readonly long _mask;
    private readonly Lock _readLock = new();
    /// <summary>Records written (the producer's index); published with a release store.</summary>
    private long _head;
    /// <summary>Records consumed (the readers' index); published with a release store.</summary>
    private long _tail;
    /// <summary>Records dropped because the ring was full.</summary>
    private long _lost;

    /// <summary>A ring of at least <paramref name="capacity"/> records (rounded up to a power of two, as perf's data pages are).</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="capacity"/> is outside [<see cref="MinCapacity"/>, <see cref="MaxCapacity"/>].</exception>
    public TraceRing(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, MinCapacity);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(capacity, MaxCapacity);
        int n = (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)capacity);
        _slots = new T[n];
        _mask = n - 1;
    }

    /// <summary>How many records the ring holds.</summary>
    public int Capacity => _slots.Length;

    /// <summary>Records written and not yet read.</summary>
    public int Count => (int)(Volatile.Read(ref _head) - Volatile.Read(ref _tail));

    /// <summary>Records dropped because the ring was full when they were written.</summary>
    public long Lost => Volatile.Read(ref _lost);

    /// <summary>Records written into the ring since it was made (read or not; dropped ones excluded).</summary>
    public long Written => Volatile.Read(ref _head);

    /// <summary>
    /// Appends a record, or drops it and counts it when the ring is full. The single producer's call:
    /// the caller holds the lock that serializes writers (the stack lock). Allocation-free.
    /// </summary>
    /// <returns>False when the record was dropped.</returns>
    public bool TryWrite(in T record)
    {
        long head = _head;
        if (head - Volatile.Read(ref _tail) >= _slots.Length)
        {
            Volatile.Write(ref _lost, _lost + 1);
            return false;
        }
        _slots[head & _mask] = record;
        Volatile.Write(ref _head, head + 1);
        return true;
    }

    /// <summary>Copies the oldest unread records into <paramref name="destination"/> and frees their slots; returns how many. From any thread.</summary>
    public int Read(Span<T> destination)
    {
        lock (_readLock)
        {
            long tail = _tail;
            long avail = Volatile.Read(ref _head) - tail;
            int n = (int)Math.Min(avail, destination.Length);
            if (n == 0) return 0;
            int start = (int)(tail & _mask);
            int first = Math.Min(n, _slots.Length - start);
            _slots.AsSpan(start, first).CopyTo(destination);
            if (first < n) _slots.AsSpan(0, n - first).CopyTo(destination[first..]);
            Volatile.Write(ref _tail, tail + n);
            return n;
        }
    }
}
