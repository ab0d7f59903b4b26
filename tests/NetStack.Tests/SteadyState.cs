namespace NetStack.Tests;

/// <summary>
/// Measures what a steady-state round allocates on the calling thread. The stack's paths are
/// deterministic, so an allocation on them shows in every round. Each round starts from
/// <see cref="ThreadAllocatedBytes"/>, which keeps other threads' collections out of the count (what
/// made these tests fail now and then in full-suite runs, by a few KB in some rounds); up to
/// <c>attempts</c> rounds are still measured and the least is returned (zero when one whole round
/// allocated nothing), for work the runtime itself may do on the thread in one round, never in all.
/// </summary>
public static class SteadyState
{
    /// <summary>The fewest bytes any of up to <paramref name="attempts"/> runs of <paramref name="round"/> allocated (stops at the first zero).</summary>
    public static long LeastAllocated(Action round, int attempts = 3)
    {
        long best = long.MaxValue;
        for (int attempt = 0; attempt < attempts && best != 0; attempt++)
        {
            long before = ThreadAllocatedBytes();
            round();
            best = Math.Min(best, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        return best;
    }

    /// <summary>
    /// The start of a measurement: this thread's allocated-bytes counter, read after a gen0
    /// collection has closed the thread's allocation context. Why: while a thread holds an open
    /// allocation context, a collection run by other threads' allocations (the full suite runs test
    /// classes in parallel) moves <see cref="GC.GetAllocatedBytesForCurrentThread"/> by up to the
    /// context's unused part (a few hundred bytes to 8 KB) although the thread allocated nothing:
    /// measured with a thread spinning between two reads while another allocated 100 KB arrays,
    /// 77 of 37,070 empty regions counted 304,048 bytes with an object allocated before each region,
    /// 0 of 2,054 with a gen0 collection after it. A round that allocates nothing never opens a
    /// context, so nothing moves the counter; a round that allocates shows it as before.
    /// </summary>
    public static long ThreadAllocatedBytes()
    {
        GC.Collect(0, GCCollectionMode.Forced, blocking: true);
        return GC.GetAllocatedBytesForCurrentThread();
    }
}
