namespace NetStack.Core;

/// <summary>
/// One timer, embedded in the object that owns it (a socket has its retransmit, delayed-ACK
/// and keepalive timers as fields), so arming a timer allocates nothing.
/// <remarks>Mirrors include/linux/timer.h: struct timer_list.</remarks>
/// </summary>
internal sealed class TimerList
{
    /// <summary>Absolute expiry in the clock's nanoseconds.</summary>
    public long Expires;
    internal int HeapIndex = -1;
    /// <summary>Called with the stack lock held when the timer fires.</summary>
    public readonly Action<TimerList> Function;
    /// <summary>The owner (the kernel's from_timer()/container_of).</summary>
    public readonly object? Owner;
    /// <summary>
    /// The owner when it is a sock: a pending timer holds a reference on it, taken when the timer
    /// is armed and dropped when it is deleted or after its handler ran (sk_reset_timer() /
    /// sk_stop_timer(), and the sock_put() that ends every TCP timer handler).
    /// </summary>
    public readonly Sock? Sk;

    public TimerList(Action<TimerList> function, object? owner = null)
    {
        Function = function;
        Owner = owner;
        Sk = owner as Sock;
    }

    /// <remarks>Mirrors timer_pending().</remarks>
    public bool Pending => HeapIndex >= 0;
}

/// <summary>
/// The pending timers of one stack, a binary min-heap on expiry with the index kept in the
/// timer so mod_timer/del_timer are O(log n) and allocation-free. The kernel uses a
/// hierarchical wheel for O(1); a heap gives exact expiry, which virtual-time tests want.
/// All calls happen under the stack lock.
/// <remarks>Mirrors kernel/time/timer.c: mod_timer, del_timer, run_timer_softirq (struct timer_base).</remarks>
/// </summary>
internal sealed class TimerBase
{
    private TimerList[] _heap = new TimerList[64];
    private int _count;
    private readonly NetNamespace? _net;

    /// <summary>The timers of <paramref name="net"/> (null: no fault containment, for tests of the heap alone).</summary>
    public TimerBase(NetNamespace? net = null) => _net = net;

    /// <summary>
    /// Raised with the new expiry when a timer becomes the earliest one, so a sleeping loop can
    /// re-plan its wait (it need not when it already wakes by then).
    /// </summary>
    public Action<long>? EarlierTimerArmed;

    public int Count => _count;

    /// <summary>Expiry of the earliest timer, or long.MaxValue.</summary>
    public long NextExpiry => _count > 0 ? _heap[0].Expires : long.MaxValue;

    /// <summary>
    /// <see cref="NextExpiry"/> as of the last change of the heap, readable without the stack
    /// lock: the timer thread, woken for a timer that has since moved later, plans its next wake-up
    /// from it instead of taking the stack lock (as the kernel's timer interrupt reads its own
    /// clock-event expiry under the hrtimer base lock, never a socket's lock).
    /// </summary>
    private long _publishedNextExpiry = long.MaxValue;

    /// <summary>The earliest expiry as last published (any thread; may be a moment stale, never later than a timer armed before the read when the armer's kick check follows its publish).</summary>
    public long PublishedNextExpiry => Volatile.Read(ref _publishedNextExpiry);

    /// <summary>
    /// Publishes <see cref="NextExpiry"/> after a change of the heap. A full fence (Interlocked),
    /// so that an arming thread's later read of the timer thread's plan cannot pass it (the
    /// timer thread writes its plan, then reads this: one of the two sees the other).
    /// </summary>
    private void PublishNextExpiry()
    {
        long next = NextExpiry;
        if (_publishedNextExpiry != next) Interlocked.Exchange(ref _publishedNextExpiry, next);
    }

    // While RunExpired runs, the time it runs for. A timer (re)armed from a callback for that time
    // or earlier would be due again at once, and a callback that re-arms itself "now" would spin
    // RunExpired forever; the kernel runs such a timer at the next tick, so do we: now + 1 ns.
    private long _runningNow = long.MinValue;

    /// <remarks>Mirrors mod_timer(): (re)arm at an absolute time; for a sock's timer, sk_reset_timer(): a timer that was not pending takes a reference on its sock.</remarks>
    public void ModTimer(TimerList t, long expires)
    {
        if (t.HeapIndex < 0) t.Sk?.SockHold();
        if (expires <= _runningNow) expires = _runningNow + 1;
        long oldFirst = NextExpiry;
        if (t.HeapIndex >= 0)
        {
            long old = t.Expires;
            t.Expires = expires;
            if (expires < old) SiftUp(t.HeapIndex); else SiftDown(t.HeapIndex);
        }
        else
        {
            t.Expires = expires;
            if (_count == _heap.Length) Array.Resize(ref _heap, _count * 2);
            _heap[_count] = t;
            t.HeapIndex = _count;
            _count++;
            SiftUp(_count - 1);
        }
        PublishNextExpiry();
        if (expires < oldFirst) EarlierTimerArmed?.Invoke(expires);
    }

    /// <remarks>Mirrors del_timer(): returns true if the timer was pending; for a sock's timer, sk_stop_timer(): the pending timer's reference goes (__sock_put(): the caller holds another).</remarks>
    public bool DelTimer(TimerList t)
    {
        if (!Unlink(t)) return false;
        t.Sk?.SockPutNoFree();
        return true;
    }

    /// <summary>Takes a timer off the heap; its sock reference, if any, is the caller's to drop.</summary>
    private bool Unlink(TimerList t)
    {
        int i = t.HeapIndex;
        if (i < 0) return false;
        _count--;
        var last = _heap[_count];
        _heap[_count] = null!;
        t.HeapIndex = -1;
        if (i != _count)
        {
            _heap[i] = last;
            last.HeapIndex = i;
            SiftDown(i);
            SiftUp(last.HeapIndex);
        }
        PublishNextExpiry();
        return true;
    }

    /// <summary>Runs every timer whose expiry is at or before <paramref name="now"/>; returns how many ran.</summary>
    /// <remarks>Mirrors run_timer_softirq() / __run_timers().</remarks>
    public int RunExpired(long now)
    {
        int n = 0;
        long outer = _runningNow; // a callback may run timers itself (nested RunExpired)
        _runningNow = Math.Max(outer, now);
        try
        {
            while (_count > 0 && _heap[0].Expires <= now)
            {
                var t = _heap[0];
                Unlink(t); // the pending timer's sock reference passes to the handler
                n++;
                // One timer callback is one context: a fault in it is contained there (the timer
                // is already off the heap), and the next timer runs (Core/Panic.cs).
                try
                {
                    t.Function(t);
                    // The handler's sock_put(): the last reference frees the sock. (A handler that
                    // faulted keeps it: the sock is then left to the collector, never recycled.)
                    t.Sk?.SockPut();
                }
                catch (Exception e) when (_net is { } net && Oops.Contain(net))
                {
                    TimerOops(net, t, e);
                }
            }
        }
        finally
        {
            _runningNow = outer;
        }
        return n;
    }

    /// <summary>A timer callback faulted: a socket's timer aborts its socket; another owner's is only counted and logged.</summary>
    private static void TimerOops(NetNamespace net, TimerList t, Exception e)
    {
        string handler = Oops.FunctionName(t.Function);
        if (t.Owner is Sock sk) Oops.SockOops(sk, e, "run_timer_softirq", handler);
        else Oops.Report(net, e, "run_timer_softirq", handler, t.Owner as SockCommon, "timer dropped");
    }

    /// <summary>
    /// Checks the heap (each timer's index, parent not later than child) and returns the pending
    /// timers, for the fuzzer's consistency checker; null and a reason when the heap is broken.
    /// </summary>
    internal TimerList[]? Verify(out string? problem)
    {
        problem = null;
        for (int i = 0; i < _count; i++)
        {
            var t = _heap[i];
            if (t is null || t.HeapIndex != i) { problem = $"timer heap slot {i}: index {t?.HeapIndex}"; return null; }
            if (i > 0 && _heap[(i - 1) >> 1].Expires > t.Expires) { problem = $"timer heap order broken at {i}"; return null; }
        }
        return _heap.AsSpan(0, _count).ToArray();
    }

    private void SiftUp(int i)
    {
        var t = _heap[i];
        while (i > 0)
        {
            int p = (i - 1) >> 1;
            if (_heap[p].Expires <= t.Expires) break;
            _heap[i] = _heap[p];
            _heap[i].HeapIndex = i;
            i = p;
        }
        _heap[i] = t;
        t.HeapIndex = i;
    }

    private void SiftDown(int i)
    {
        var t = _heap[i];
        while (true)
        {
            int l = 2 * i + 1;
            if (l >= _count) break;
            int r = l + 1;
            int c = r < _count && _heap[r].Expires < _heap[l].Expires ? r : l;
            if (_heap[c].Expires >= t.Expires) break;
            _heap[i] = _heap[c];
            _heap[i].HeapIndex = i;
            i = c;
        }
        _heap[i] = t;
        t.HeapIndex = i;
    }
}
