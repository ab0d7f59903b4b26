namespace NetStack.Core;

/// <summary>
/// The calling thread as a sleeper: what the kernel keeps in task_struct for sleeping (the task
/// state, the woken flag) and the wait-queue entries the thread queues while it blocks. One per
/// thread, created on its first blocking call and reused, so a blocking call allocates nothing.
/// <para>
/// A thread sleeps on its own gate, not on the stack lock, so a wakeup reaches exactly the
/// threads whose entries it walks. Lock order: the stack lock, then a gate (a waker holds the
/// stack lock when it wakes; a sleeper holds only its gate while it sleeps).
/// </para>
/// </summary>
/// <remarks>Mirrors the sleeping half of kernel/sched/core.c (set_current_state, schedule_timeout, try_to_wake_up) and wait_woken().</remarks>
internal sealed class WaitTask
{
    /// <summary>Each thread's sleeper: per thread, so it is no state two stacks share.</summary>
    private static readonly ThreadLocal<WaitTask> s_current = new(static () => new WaitTask());

    /// <summary>The calling thread's sleeper (the kernel's <c>current</c>).</summary>
    public static WaitTask Current => s_current.Value!;

    private readonly object _gate = new();

    /// <summary>Set while this thread is a receive thread running inline completions (<see cref="SoftIrq"/>): a sleep hands its device off first.</summary>
    internal SoftIrq.RxThread? InlineRx;
    /// <summary>Set by a wakeup, cleared by the sleeper once it runs again (WQ_FLAG_WOKEN / poll_wqueues.triggered). Guarded by _gate.</summary>
    private bool _woken;

    /// <summary>The entry of a wait on one socket (sk_wait_event, __skb_wait_for_more_packets).</summary>
    public readonly WaitQueueEntry Entry;

    /// <summary>The entries of a poll(2) over several sockets (poll_wqueues' table), grown on first need.</summary>
    private WaitQueueEntry[] _pollTable = [];

    /// <summary>Wakeups that found the thread not yet woken (for tests: who was woken by what).</summary>
    internal long Wakeups;

    /// <summary>A sleeper; threads get theirs from <see cref="Current"/>, tests make their own.</summary>
    internal WaitTask() => Entry = new WaitQueueEntry(this);

    /// <summary>Entry <paramref name="i"/> of this thread's poll table.</summary>
    /// <remarks>Mirrors fs/select.c: poll_get_entry().</remarks>
    public WaitQueueEntry PollEntry(int i)
    {
        if (i >= _pollTable.Length)
        {
            var grown = new WaitQueueEntry[Math.Max(8, i * 2)];
            _pollTable.CopyTo(grown, 0);
            for (int j = _pollTable.Length; j < grown.Length; j++) grown[j] = new WaitQueueEntry(this);
            _pollTable = grown;
        }
        return _pollTable[i];
    }

    /// <summary>Unlinks the first <paramref name="count"/> poll entries from their queues. Call with the stack lock held.</summary>
    /// <remarks>Mirrors fs/select.c: poll_freewait().</remarks>
    public void PollFreewait(int count)
    {
        for (int i = 0; i < count && i < _pollTable.Length; i++) _pollTable[i].Head?.Remove(_pollTable[i]);
    }

    /// <summary>Forgets an earlier wakeup: the caller is about to queue entries and check its condition. Call with the stack lock held.</summary>
    /// <remarks>Mirrors set_current_state(TASK_INTERRUPTIBLE) in prepare_to_wait().</remarks>
    public void PrepareToWait()
    {
        lock (_gate) _woken = false;
    }

    /// <summary>Wakes the thread if it sleeps, or makes its next sleep return at once.</summary>
    /// <remarks>Mirrors kernel/sched/core.c: try_to_wake_up() (woken_wake_function sets WQ_FLAG_WOKEN first).</remarks>
    public void Wake()
    {
        lock (_gate)
        {
            if (_woken) return;
            _woken = true;
            Wakeups++;
            Monitor.Pulse(_gate);
        }
    }

    /// <summary>
    /// Sleeps with the stack lock released until a wakeup or the timeout (in 100 ns ticks;
    /// <see cref="Timeout.Infinite"/> for none), then takes the stack lock back (as often as the
    /// thread held it). Returns at once without releasing anything when a wakeup came already.
    /// Throws <see cref="ThreadInterruptedException"/> when the thread is interrupted (the stack
    /// lock is held again by then).
    /// </summary>
    /// <remarks>Mirrors kernel/sched/wait.c: wait_woken() (release_sock ... schedule_timeout ... lock_sock around it in sk_wait_event).</remarks>
    public void WaitWoken(object stackLock, long timeoutTicks)
    {
        lock (_gate)
        {
            if (_woken) { _woken = false; return; }
        }
        // A receive thread running an inline continuation hands its device off before it sleeps (the wakeup may need that device).
        if (InlineRx is { } rx)
        {
            InlineRx = null;
            rx.HandOff();
        }
        int held = 0;
        while (Monitor.IsEntered(stackLock)) { Monitor.Exit(stackLock); held++; }
        try
        {
            lock (_gate)
            {
                if (!_woken)
                {
                    if (timeoutTicks == Timeout.Infinite) Monitor.Wait(_gate);
                    else Monitor.Wait(_gate, TimeSpan.FromTicks(timeoutTicks));
                }
                _woken = false;
            }
        }
        finally
        {
            for (int i = 0; i < held; i++) Monitor.Enter(stackLock);
        }
    }
}
