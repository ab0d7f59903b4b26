using NetStack.Net;

namespace NetStack.Core;

/// <summary>
/// Blocking waits for socket events: the stack lock is released while sleeping (Monitor.Wait on
/// net.SyncRoot) and every wakeup callback pulses it (net.WakeAll()), so a woken caller re-checks
/// its condition under the lock, like a task woken on sk_sleep(sk).
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
    /// Pass a static lambda: it is cached, so the wait allocates nothing.
    /// </summary>
    public static int SkWaitEvent(Sock sk, ref long timeo, Func<Sock, bool> condition)
    {
        var net = sk.Net;
        while (true)
        {
            if (condition(sk)) return 0;
            if (sk.HasFlag(SockFlag.Dead)) return -Errno.EBADF; // closed under us by another thread
            if (timeo <= 0) { timeo = 0; return -Errno.EAGAIN; }
            int r = Sleep(net, ref timeo);
            if (r != 0) return r;
        }
    }

    /// <summary>The same, with a state argument for conditions that need more than the sock.</summary>
    public static int SkWaitEvent<TState>(Sock sk, ref long timeo, TState state, Func<Sock, TState, bool> condition)
    {
        var net = sk.Net;
        while (true)
        {
            if (condition(sk, state)) return 0;
            if (sk.HasFlag(SockFlag.Dead)) return -Errno.EBADF; // closed under us by another thread
            if (timeo <= 0) { timeo = 0; return -Errno.EAGAIN; }
            int r = Sleep(net, ref timeo);
            if (r != 0) return r;
        }
    }

    /// <summary>
    /// Sleeps once (until a wakeup or the timeout) with the lock released; subtracts the time spent
    /// from <paramref name="timeo"/>. Returns 0, or -EINTR when interrupted. Receive work the caller's
    /// own sends raised on the loopback device runs first, and when there was some the call returns 0
    /// at once without sleeping (a wakeup: the caller checks its condition again), since that work
    /// may be what the caller waits for (the handshake of a connect() to a local listener).
    /// </summary>
    /// <remarks>Mirrors schedule_timeout() inside wait_woken(), after the softirq that local_bh_enable() ran.</remarks>
    public static int Sleep(NetNamespace net, ref long timeo)
    {
        var syncRoot = net.SyncRoot;
        if (net.DoSoftirq() > 0) return 0;
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        // Other callers take the lock while we sleep: their SyscallLocks count from zero.
        int depth = net.SyscallDepth;
        net.SyscallDepth = 0;
        try
        {
            if (timeo == Sock.MaxScheduleTimeout) Monitor.Wait(syncRoot);
            else Monitor.Wait(syncRoot, TimeSpan.FromTicks(Math.Max(1, Math.Min(timeo / 100, int.MaxValue * 10_000L))));
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
