namespace NetStack.Core;

/// <summary>
/// A wait queue: the threads (and pollers) sleeping on one socket, each with the poll events it
/// waits for. A wakeup walks only this socket's list and wakes the entries whose key matches, so
/// a packet for one socket wakes no thread blocked on another (the stack-wide Monitor.PulseAll
/// this replaces woke them all).
/// <para>
/// Every add, remove and wakeup runs under the stack lock, which plays wq_head->lock here: a
/// waiter queues its entry and checks its condition under that lock before it releases it to
/// sleep, so a wakeup cannot fall between the check and the sleep (the kernel's
/// prepare_to_wait ... condition ... schedule order).
/// </para>
/// </summary>
/// <remarks>Mirrors include/linux/wait.h: struct wait_queue_head, and kernel/sched/wait.c.</remarks>
internal sealed class WaitQueueHead
{
    private WaitQueueEntry? _first, _last;

    /// <summary>True when someone sleeps here (wakers skip the walk otherwise).</summary>
    /// <remarks>Mirrors waitqueue_active() / wq_has_sleeper().</remarks>
    public bool Active => _first is not null;

    /// <summary>How many entries are queued (walks the list: for tests and diagnostics).</summary>
    public int Count
    {
        get
        {
            int n = 0;
            for (var e = _first; e is not null; e = e.Next) n++;
            return n;
        }
    }

    /// <summary>Queues a non-exclusive entry at the head (every matching wakeup wakes it).</summary>
    /// <remarks>Mirrors kernel/sched/wait.c: add_wait_queue() -> __add_wait_queue().</remarks>
    public void Add(WaitQueueEntry e)
    {
        e.Exclusive = false;
        e.Head = this;
        e.Prev = null;
        e.Next = _first;
        if (_first is not null) _first.Prev = e; else _last = e;
        _first = e;
    }

    /// <summary>Queues an exclusive entry at the tail: a wakeup that counts exclusive wakers stops after it.</summary>
    /// <remarks>Mirrors kernel/sched/wait.c: add_wait_queue_exclusive() -> __add_wait_queue_entry_tail().</remarks>
    public void AddExclusive(WaitQueueEntry e)
    {
        e.Exclusive = true;
        e.Head = this;
        e.Next = null;
        e.Prev = _last;
        if (_last is not null) _last.Next = e; else _first = e;
        _last = e;
    }

    /// <summary>Unlinks <paramref name="e"/> if it is queued here.</summary>
    /// <remarks>Mirrors kernel/sched/wait.c: remove_wait_queue() / finish_wait().</remarks>
    public void Remove(WaitQueueEntry e)
    {
        if (e.Head != this) return;
        if (e.Prev is not null) e.Prev.Next = e.Next; else _first = e.Next;
        if (e.Next is not null) e.Next.Prev = e.Prev; else _last = e.Prev;
        e.Next = e.Prev = null;
        e.Head = null;
    }

    /// <summary>
    /// Wakes the entries whose events meet <paramref name="key"/> (0: every entry), stopping after
    /// <paramref name="nrExclusive"/> exclusive ones have been woken (0: no limit).
    /// </summary>
    /// <remarks>Mirrors kernel/sched/wait.c: __wake_up() -> __wake_up_common().</remarks>
    public void WakeUp(int key, int nrExclusive)
    {
        for (var e = _first; e is not null;)
        {
            var next = e.Next; // the woken entry may be removed by a wake function
            if (e.WakeFunction(key) && e.Exclusive && --nrExclusive == 0) break;
            e = next;
        }
    }
}

/// <summary>
/// One sleeper's place on a <see cref="WaitQueueHead"/>: the thread (its <see cref="WaitTask"/>)
/// and the poll events it waits for. Entries belong to their thread and are reused, so queueing
/// allocates nothing (the kernel keeps them on the sleeping task's stack).
/// </summary>
/// <remarks>Mirrors include/linux/wait.h: struct wait_queue_entry.</remarks>
internal sealed class WaitQueueEntry
{
    internal WaitQueueEntry? Next, Prev;
    internal WaitQueueHead? Head;
    /// <summary>WQ_FLAG_EXCLUSIVE.</summary>
    internal bool Exclusive;
    /// <summary>The poll events that wake this entry (0: any wakeup), as poll_table_entry->key.</summary>
    internal int Key;
    /// <summary>The thread that sleeps (wait_queue_entry->private).</summary>
    internal readonly WaitTask Task;

    internal WaitQueueEntry(WaitTask task) => Task = task;

    /// <summary>True when the entry is on a queue.</summary>
    internal bool Queued => Head is not null;

    /// <summary>
    /// Wakes the thread unless the wakeup's key names none of its events; returns whether it did
    /// (only then does an exclusive entry count against the wakeup's limit).
    /// </summary>
    /// <remarks>Mirrors woken_wake_function() with the key test of pollwake() and receiver_wake_function().</remarks>
    internal bool WakeFunction(int key)
    {
        if (key != 0 && Key != 0 && (key & Key) == 0) return false;
        Task.Wake();
        return true;
    }
}
