using BenchmarkDotNet.Attributes;
using NetStack.Core;

namespace NetStack.Benchmarks;

/// <summary>
/// The buffer pool every frame and every segment goes through (alloc_skb / kfree_skb): one buffer
/// taken and returned, and a burst of 64 held at once as a receive batch or a send window holds them.
/// </summary>
[MemoryDiagnoser]
public class SkBuffPoolBenchmarks
{
    private readonly SkBuffPool _pool = new();
    private readonly SkBuff?[] _burst = new SkBuff?[64];

    /// <summary>alloc_skb + skb_reserve(MAX_HEADER) + kfree_skb.</summary>
    [Benchmark]
    public int AllocFree()
    {
        var skb = _pool.AllocWithHeadroom()!;
        int room = skb.Headroom;
        skb.Free();
        return room;
    }

    /// <summary>64 buffers taken, then 64 returned (per operation: the whole burst).</summary>
    [Benchmark(OperationsPerInvoke = 64)]
    public int Burst64()
    {
        for (int i = 0; i < _burst.Length; i++) _burst[i] = _pool.Alloc();
        for (int i = 0; i < _burst.Length; i++) { _burst[i]!.Free(); _burst[i] = null; }
        return _burst.Length;
    }
}
