using NetStack.Core;

namespace NetStack.Tests.Core;

/// <summary>
/// The namespace's softirq buffer cache (napi_alloc_cache): receive allocations and recvmsg()'s
/// frees meet there without the pool's lock; the pool counts cached buffers as free, lends at most
/// a quarter of its free list in one bulk, and takes half back when the cache fills.
/// </summary>
public class NapiSkbCacheTests
{
    [Fact]
    public void Get_TakesABulkFromThePool_AndTheRestStaysFree()
    {
        var pool = new SkBuffPool(bufferSize: 256, prealloc: 128, maxBuffers: 128);
        var cache = new NapiSkbCache(pool);
        var skb = cache.Get();
        Assert.NotNull(skb);
        Assert.Equal(NapiSkbCache.Bulk - 1, cache.Count);
        Assert.Equal(127, pool.FreeCount); // cached buffers count as free
        Assert.Equal(128, pool.Total);
        Assert.Equal(0, skb!.Len);
        Assert.Equal(1, skb.Users);
    }

    [Fact]
    public void Consume_KeepsTheBuffer_AndTheNextGetReusesIt()
    {
        var pool = new SkBuffPool(bufferSize: 256, prealloc: 64, maxBuffers: 64);
        var cache = new NapiSkbCache(pool);
        var skb = cache.Get()!;
        skb.Put(100);
        int cached = cache.Count;
        cache.Consume(skb);
        Assert.Equal(cached + 1, cache.Count);
        Assert.Equal(64, pool.FreeCount);
        var again = cache.Get()!;
        Assert.Same(skb, again);
        Assert.Equal(0, again.Len); // reset on the way out
    }

    [Fact]
    public void Consume_OfAHeldBuffer_OnlyDropsAReference()
    {
        var pool = new SkBuffPool(bufferSize: 256, prealloc: 16, maxBuffers: 16);
        var cache = new NapiSkbCache(pool);
        var skb = cache.Get()!.Get(); // two references
        int cached = cache.Count;
        cache.Consume(skb);
        Assert.Equal(cached, cache.Count);
        cache.Consume(skb);
        Assert.Equal(cached + 1, cache.Count);
        Assert.Throws<InvalidOperationException>(() => cache.Consume(skb)); // a double free is caught, as by the pool
    }

    [Fact]
    public void AFullCache_GivesHalfBackToThePool_InOneGo()
    {
        var pool = new SkBuffPool(bufferSize: 256, prealloc: 256, maxBuffers: 256);
        var cache = new NapiSkbCache(pool);
        var held = new List<SkBuff>();
        for (int i = 0; i < NapiSkbCache.Size; i++) held.Add(pool.Alloc()!);
        foreach (var skb in held.Take(NapiSkbCache.Size - 1)) cache.Consume(skb);
        Assert.Equal(NapiSkbCache.Size - 1, cache.Count);
        cache.Consume(held[^1]);
        Assert.Equal(NapiSkbCache.Half, cache.Count);
        Assert.Equal(256, pool.FreeCount);
        cache.Flush();
        Assert.Equal(0, cache.Count);
        Assert.Equal(256, pool.FreeCount);
        Assert.Equal(256, pool.Total);
    }

    [Fact]
    public void ABufferOfAnotherPool_GoesBackToItsOwn()
    {
        var pool = new SkBuffPool(bufferSize: 256, prealloc: 8, maxBuffers: 8);
        var other = new SkBuffPool(bufferSize: 256, prealloc: 2, maxBuffers: 2);
        var cache = new NapiSkbCache(pool);
        var skb = other.Alloc()!;
        cache.Consume(skb);
        Assert.Equal(0, cache.Count);
        Assert.Equal(2, other.FreeCount);
    }

    [Fact]
    public void ASmallPool_LendsAtMostAQuarter_ThenOneAtATime()
    {
        var pool = new SkBuffPool(bufferSize: 256, prealloc: 8, maxBuffers: 8);
        var cache = new NapiSkbCache(pool);
        var held = new List<SkBuff> { cache.Get()! };
        Assert.Equal(1, cache.Count); // 2 of 8 taken, one handed out
        while (cache.Get() is { } skb) held.Add(skb);
        Assert.Equal(8, held.Count); // every buffer, none parked out of reach
        Assert.Equal(0, pool.FreeCount);
        Assert.Equal(1, pool.AllocFailures);
    }

    [Fact]
    public void ANamespaceGone_LeavesNoCacheOnASharedPool()
    {
        var pool = new SkBuffPool(bufferSize: 2048, prealloc: 64, maxBuffers: 256);
        for (int i = 0; i < 3; i++)
        {
            using var net = new NetNamespace("shared" + i, pool: pool);
            var skb = net.SkbCache.Get()!;
            net.SkbCache.Consume(skb);
            Assert.True(net.SkbCache.Count > 0);
        }
        Assert.Equal(pool.Total, pool.FreeCount); // every cached buffer is back in the pool
        var cache = new NapiSkbCache(pool);
        cache.Get();
        Assert.Equal(pool.Total - 1, pool.FreeCount); // and only the live cache is counted
    }
}
