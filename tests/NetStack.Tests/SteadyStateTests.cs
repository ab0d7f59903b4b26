namespace NetStack.Tests;

/// <summary>
/// The measurement every zero-allocation test relies on (<see cref="SteadyState"/>): a round that
/// allocates nothing reads zero even while other threads' allocations run collections, as in the
/// full suite, where test classes run in parallel.
/// </summary>
public class SteadyStateTests
{
    private static byte[]? s_opened;

    [Fact]
    public void ThreadAllocatedBytes_AnAllocationFreeRound_ReadsZero_WhileOtherThreadsCollect()
    {
        using var stop = new CancellationTokenSource();
        var noise = new Thread(() =>
        {
            var keep = new object[64];
            int i = 0;
            while (!stop.IsCancellationRequested) keep[i++ & 63] = new byte[100_000]; // large objects: a collection every few MB
        }) { IsBackground = true };
        noise.Start();
        try
        {
            // 30 rounds, each opening this thread's allocation context first (as any test's set-up does),
            // then allocating nothing across 2 collections run by the other thread. Without the helper's
            // own collection the 30 rounds read 162,504-195,768 bytes (5 runs); with it, 0.
            long allocated = 0;
            for (int round = 0; round < 30; round++)
            {
                s_opened = new byte[24];
                long before = SteadyState.ThreadAllocatedBytes();
                int collections = GC.CollectionCount(0);
                while (GC.CollectionCount(0) - collections < 2) Thread.SpinWait(100);
                allocated += GC.GetAllocatedBytesForCurrentThread() - before;
            }
            Assert.Equal(0, allocated);
        }
        finally
        {
            stop.Cancel();
            noise.Join();
        }
    }

    [Fact]
    public void ThreadAllocatedBytes_SeesWhatTheRoundAllocates()
    {
        long before = SteadyState.ThreadAllocatedBytes();
        s_opened = new byte[1000];
        Assert.InRange(GC.GetAllocatedBytesForCurrentThread() - before, 1000, 1100);
    }
}
