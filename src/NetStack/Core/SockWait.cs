using NetStack.Net;

namespace NetStack.Core;

/// <summary>
/// Blocking waits for socket events. The caller queues its thread on the socket's own wait
/// queue (<see cref="Sock.Wq"/>, the kernel's sk_sleep(sk)) under the stack lock, checks its
/// condition, and sleeps with the stack lock released until a wakeup callback of that socket
/// (sk_data_ready and friends) wakes it for an event it waits for; woken, it takes the lock back
/// and checks again, as a task woken on sk_sleep(sk) does.
/// <remarks>Mirrors include/net/sock.h: sk_wait_event() and the loops built on it (sk_wait_data,
/// inet_wait_for_connect, inet_csk_wait_for_connect, sk_stream_wait_memory).</remarks>
/// </summary>
internal static class SockWait
{
    /// <summary>
    /// Waits until <paramref name="condition"/> holds or <paramref name="timeo"/> runs out. Call with
    /// the stack lock held (it is held again on return). <paramref name="timeo"/> is the remaining
    /// time in nanoseconds (<see cref="Sock.MaxScheduleTimeout"/>: forever) and is updated, as
    /// schedule_timeout() updates the kernel's timeo.
    /// Returns 0 when the condition holds; -EAGAIN when the time ran out (timeo is then 0; callers
    /// map it to their own errno, as Linux callers do); -EINTR when the thread was interrupted
    /// (the analogue of a pending signal: sock_intr_errno()); -EBADF when another thread closed the
    /// socket meanwhile (Linux would keep the file alive until this call returns; here the sock is
    /// already orphaned and nothing could wake the caller any more).
    /// <paramref name="events"/>: the poll events whose wakeups can make the condition true (0: any
    /// wakeup). State changes and errors wake every waiter whatever it names. Linux's
    /// woken_wake_function wakes on any key; naming the events spares a blocked sender the wakeup
    /// of every arriving segment and a blocked receiver that of every ACK.
    /// <paramref name="exclusive"/> queues at the tail as an exclusive waiter (one per data-ready
    /// wakeup), as inet_csk_wait_for_connect() does for accept().
    /// Pass a static lambda: it is cached, so the wait allocates nothing.
    /// </summary>
    public static int SkWaitEvent(Sock sk, ref long timeo, int events, bool exclusive, Func<Sock, bool> condition) =>
        SkWaitEvent(sk, ref timeo, events, exclusive, condition, static (s, c) => c(s));

    /// <summary>The same, waking on any event.</summary>
    public static int SkWaitEvent(Sock sk, ref long timeo, Func<Sock, bool> condition) =>
        SkWaitEvent(sk, ref timeo, 0, false, condition, static (s, c) => c(s));

    /// <summary>The same, with a state argument for conditions that need more than the sock.</summary>
    public static int SkWaitEvent<TState>(Sock sk, ref long timeo, int events, bool exclusive, TState state, Func<Sock, TState, bool> condition)
    {
        var task = WaitTask.Current;
        var wait = task.Entry;
        if (wait.Queued) throw new InvalidOperationException("a thread blocks in one socket wait at a time");
        wait.Key = events;
        task.PrepareToWait();
        // add_wait_queue(sk_sleep(sk), &wait) before the first check: a wakeup between the check
        // and the sleep finds the entry and makes the sleep return at once.
        if (exclusive) sk.Wq.AddExclusive(wait); else sk.Wq.Add(wait);
        try
        {
            while (true)
            {
                if (condition(sk, state)) return 0;
                if (sk.HasFlag(SockFlag.Dead)) return -Errno.EBADF; // closed under us by another thread
                if (timeo <= 0) { timeo = 0; return -Errno.EAGAIN; }
                int r = Sleep(sk.Net, task, ref timeo);
                if (r != 0) return r;
            }
        }
        finally
        {
            sk.Wq.Remove(wait);
        }
    }

    /// <summary>
    /// Sleeps once (until a wakeup of an entry the calling thread queued, or the timeout) with the
    /// lock released; subtracts the time spent from <paramref name="timeo"/>. Returns 0, or -EINTR
    /// when interrupted. Receive work the caller's own sends raised on the loopback device runs
    /// first, and when there was some the call returns 0 at once without sleeping (a wakeup: the
    /// caller checks its condition again), since that work may be what the caller waits for (the
    /// handshake of a connect() to a local listener).
    /// </summary>
    /// <remarks>Mirrors schedule_timeout() inside wait_woken(), after the softirq that local_bh_enable() ran.</remarks>
    public static int Sleep(NetNamespace net, WaitTask task, ref long timeo)
    {
        if (net.DoSoftirq() > 0) return 0;
        // What the caller sent (a SYN, a FIN) leaves before it sleeps waiting for the answer.
        net.XmitFlush();
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        // Other callers take the lock while we sleep: their SyscallLocks count from zero.
        int depth = net.SyscallDepth;
        net.SyscallDepth = 0;
        try
        {
            task.WaitWoken(net.SyncRoot, timeo == Sock.MaxScheduleTimeout
                ? Timeout.Infinite
                : Math.Max(1, Math.Min(timeo / 100, int.MaxValue * 10_000L)));
        }
        catch (ThreadInterruptedException)
        {
            return -Errno.EINTR;
        }
        finally
        {
            net.SyscallDepth = depth;
        }
        if (timeo != Sock.MaxScheduleTimeout)
        {
            long spentNs = (long)(System.Diagnostics.Stopwatch.GetElapsedTime(start).Ticks * 100);
            timeo = Math.Max(0, timeo - spentNs);
        }
        return 0;
    }
}
