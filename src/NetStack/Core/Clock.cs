using System.Diagnostics;

namespace NetStack.Core;

/// <summary>
/// The stack's only source of time. Every timer and timestamp reads it, so TCP can be
/// tested with virtual time (RTO, delayed ACK, TIME_WAIT) without sleeping.
/// Time is a monotonic count of nanoseconds (ktime_get_ns()).
/// </summary>
public interface IClock
{
    /// <summary>The current time in nanoseconds on a monotonic scale (ktime_get_ns()); only differences are meaningful.</summary>
    long NowNs { get; }
}

/// <summary>Real monotonic time (Stopwatch), the production clock.</summary>
public sealed class MonotonicClock : IClock
{
    /// <summary>The shared instance (the clock has no state).</summary>
    public static readonly MonotonicClock Instance = new();
    private static readonly double TicksToNs = 1e9 / Stopwatch.Frequency;
    /// <inheritdoc/>
    public long NowNs => (long)(Stopwatch.GetTimestamp() * TicksToNs);
}

/// <summary>A clock that moves only when a test says so.</summary>
public sealed class VirtualClock : IClock
{
    private long _now;
    /// <summary>A virtual clock reading <paramref name="startNs"/> (1 s by default).</summary>
    public VirtualClock(long startNs = 1_000_000_000) => _now = startNs;
    /// <inheritdoc/>
    public long NowNs => Volatile.Read(ref _now);
    /// <summary>Moves the clock forward by <paramref name="ns"/> nanoseconds.</summary>
    public void Advance(long ns) => Interlocked.Add(ref _now, ns);
    /// <summary>Moves the clock forward by <paramref name="ms"/> milliseconds.</summary>
    public void AdvanceMs(long ms) => Advance(ms * 1_000_000);
    /// <summary>Sets the clock to <paramref name="ns"/> nanoseconds (a test may move it backwards; the stack assumes it does not).</summary>
    public void Set(long ns) => Volatile.Write(ref _now, ns);
}

internal static class Time
{
    public const long NsPerMs = 1_000_000;
    public const long NsPerSec = 1_000_000_000;
    public static long Ms(long ms) => ms * NsPerMs;
    public static long Sec(long s) => s * NsPerSec;

    /// <summary>One jiffy of the timer wheel the stack models: HZ 250, the CONFIG_HZ of Debian's kernels (and of this project's test machine).</summary>
    public const long TickNs = 4 * NsPerMs;

    /// <summary>
    /// When a timer armed at <paramref name="nowNs"/> for <paramref name="delayNs"/> runs in the
    /// kernel: the delay in whole jiffies (rounded up, as usecs_to_jiffies()) from the current
    /// jiffy, and at least the next tick: "jiffies + 0" does not run in zero time but on the next
    /// tick of the timer wheel.
    /// </summary>
    /// <remarks>Mirrors mod_timer(timer, jiffies + delay) on level 0 of the timer wheel (kernel/time/timer.c).</remarks>
    public static long JiffiesTimeout(long nowNs, long delayNs) =>
        nowNs / TickNs * TickNs + Math.Max((delayNs + TickNs - 1) / TickNs, 1) * TickNs;
}
