namespace NetStack.Tests;

/// <summary>
/// Measures what a steady-state round allocates on the calling thread. The stack's paths are
/// deterministic, so an allocation on them shows in every round; the runtime itself (a tiered-JIT
/// promotion or OSR transition on a loaded machine, seen in CI as 3-7 KB in one window) may allocate
/// in one round, never in all. So up to <c>attempts</c> rounds are measured and the least is
/// returned: zero when one whole round allocated nothing.
/// </summary>
public static class SteadyState
{
    /// <summary>The fewest bytes any of up to <paramref name="attempts"/> runs of <paramref name="round"/> allocated (stops at the first zero).</summary>
    public static long LeastAllocated(Action round, int attempts = 3)
    {
        long best = long.MaxValue;
        for (int attempt = 0; attempt < attempts && best != 0; attempt++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            round();
            best = Math.Min(best, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        return best;
    }
}
