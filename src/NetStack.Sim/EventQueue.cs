namespace NetStack.Sim;

/// <summary>Something that handles the simulator's events.</summary>
public interface ISimEventHandler
{
    /// <summary>Handles event <paramref name="kind"/> (the handler's own numbering) with its frame and argument.</summary>
    void OnEvent(int kind, SimFrame? frame, long arg);
}

/// <summary>
/// The pending events in time order: a binary min-heap of structs on (time, sequence number). The
/// sequence number is the order of scheduling, so events at the same nanosecond run in the order
/// they were scheduled: ties are broken deterministically, never by the heap's shape.
/// </summary>
public sealed class EventQueue
{
    private struct Entry
    {
        public long Time;
        public long Seq;
        public ISimEventHandler Handler;
        public SimFrame? Frame;
        public long Arg;
        public int Kind;
    }

    private Entry[] _heap = new Entry[1024];
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
        if (Count == _heap.Length) Array.Resize(ref _heap, Count * 2);
        var e = new Entry { Time = time, Seq = _seq++, Handler = handler, Frame = frame, Arg = arg, Kind = kind };
        int i = Count++;
        while (i > 0)
        {
            int p = (i - 1) >> 1;
            if (!Less(in e, in _heap[p])) break;
            _heap[i] = _heap[p];
            i = p;
        }
        _heap[i] = e;
    }

    /// <summary>Removes the earliest event and runs it.</summary>
    public void RunNext()
    {
        var e = _heap[0];
        int n = --Count;
        if (n > 0)
        {
            var last = _heap[n];
            int i = 0;
            while (true)
            {
                int l = 2 * i + 1;
                if (l >= n) break;
                int c = l + 1 < n && Less(in _heap[l + 1], in _heap[l]) ? l + 1 : l;
                if (!Less(in _heap[c], in last)) break;
                _heap[i] = _heap[c];
                i = c;
            }
            _heap[i] = last;
        }
        _heap[n] = default;
        e.Handler.OnEvent(e.Kind, e.Frame, e.Arg);
    }

    private static bool Less(in Entry a, in Entry b) => a.Time < b.Time || (a.Time == b.Time && a.Seq < b.Seq);
}
