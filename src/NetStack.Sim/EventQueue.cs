namespace NetStack.Sim;

/// <summary>Something that handles the simulator's events.</summary>
public interface ISimEventHandler
{
    /// <summary>Handles event <paramref name="kind"/> (the handler's own numbering) with its frame and argument.</summary>
    void OnEvent(int kind, SimFrame? frame, long arg);
}

/// <summary>
/// The pending events in time order: a binary min-heap on (time, sequence number). The sequence
/// number is the order of scheduling, so events at the same nanosecond run in the order they were
/// scheduled: ties are broken deterministically, never by the heap's shape.
/// <para>
/// The heap holds plain values (time, sequence, slot); each event's handler, frame and argument wait
/// in a slot of side arrays, so sifting moves no object references (no GC write barriers) and
/// scheduling allocates nothing once the arrays have grown to the busiest moment.
/// </para>
/// </summary>
public sealed class EventQueue
{
    private struct Entry
    {
        public long Time;
        public long Seq;
        public int Slot;
    }

    private Entry[] _heap = new Entry[1024];
    private ISimEventHandler?[] _handlers = new ISimEventHandler?[1024];
    private SimFrame?[] _frames = new SimFrame?[1024];
    private long[] _args = new long[1024];
    private int[] _kinds = new int[1024];
    private int[] _freeSlots = new int[1024];
    private int _freeCount, _slotsUsed;
    private long _seq;

    /// <summary>Events pending.</summary>
    public int Count { get; private set; }

    /// <summary>The earliest event's time, or long.MaxValue.</summary>
    public long PeekTime => Count > 0 ? _heap[0].Time : long.MaxValue;

    /// <summary>Events scheduled so far.</summary>
    public long Scheduled => _seq;

    /// <summary>Schedules <paramref name="handler"/>'s event <paramref name="kind"/> at <paramref name="time"/>.</summary>
    public void Schedule(long time, ISimEventHandler handler, int kind, SimFrame? frame = null, long arg = 0)
    {
        int slot;
        if (_freeCount > 0) slot = _freeSlots[--_freeCount];
        else
        {
            if (_slotsUsed == _handlers.Length) GrowSlots();
            slot = _slotsUsed++;
        }
        _handlers[slot] = handler;
        _frames[slot] = frame;
        _args[slot] = arg;
        _kinds[slot] = kind;

        if (Count == _heap.Length) Array.Resize(ref _heap, Count * 2);
        var e = new Entry { Time = time, Seq = _seq++, Slot = slot };
        int i = Count++;
        var heap = _heap;
        while (i > 0)
        {
            int p = (i - 1) >> 1;
            if (!Less(in e, in heap[p])) break;
            heap[i] = heap[p];
            i = p;
        }
        heap[i] = e;
    }

    private void GrowSlots()
    {
        int n = _handlers.Length * 2;
        Array.Resize(ref _handlers, n);
        Array.Resize(ref _frames, n);
        Array.Resize(ref _args, n);
        Array.Resize(ref _kinds, n);
        Array.Resize(ref _freeSlots, n);
    }

    /// <summary>Removes the earliest event and runs it.</summary>
    public void RunNext()
    {
        var heap = _heap;
        int slot = heap[0].Slot;
        int n = --Count;
        if (n > 0)
        {
            var last = heap[n];
            int i = 0;
            while (true)
            {
                int l = 2 * i + 1;
                if (l >= n) break;
                int c = l + 1 < n && Less(in heap[l + 1], in heap[l]) ? l + 1 : l;
                if (!Less(in heap[c], in last)) break;
                heap[i] = heap[c];
                i = c;
            }
            heap[i] = last;
        }
        var handler = _handlers[slot]!;
        var frame = _frames[slot];
        long arg = _args[slot];
        int kind = _kinds[slot];
        _handlers[slot] = null;
        _frames[slot] = null;
        _freeSlots[_freeCount++] = slot;
        handler.OnEvent(kind, frame, arg);
    }

    private static bool Less(in Entry a, in Entry b) => a.Time < b.Time || (a.Time == b.Time && a.Seq < b.Seq);
}
