namespace NetStack.Core;

/// <summary>
/// A namespace's cache of free frame-sized buffers for its softirq work: a receive batch takes
/// the buffers it reads frames into from here, and recvmsg() gives back the buffers it has
/// consumed, neither taking the pool's lock; the cache refills from the pool and spills into it
/// in bulk, under one lock per <see cref="Bulk"/> or <see cref="Half"/> buffers. Every caller holds
/// the namespace's stack lock (the CPU a per-CPU cache belongs to in Linux), which is what makes
/// the cache safe without a lock of its own; the pool may be shared with other namespaces. Buffers
/// in the cache count as free in <see cref="SkBuffPool.FreeCount"/>.
/// </summary>
/// <remarks>
/// Mirrors net/core/skbuff.c: struct napi_alloc_cache with napi_skb_cache_get() (refilled with
/// kmem_cache_alloc_bulk() of NAPI_SKB_CACHE_BULK) and napi_skb_cache_put() (half flushed with
/// kmem_cache_free_bulk() when full), which napi_consume_skb() and skb_attempt_defer_free()'s
/// flush feed.
/// </remarks>
internal sealed class NapiSkbCache
{
    /// <summary>NAPI_SKB_CACHE_SIZE.</summary>
    public const int Size = 64;
    /// <summary>NAPI_SKB_CACHE_BULK: buffers taken from the pool when the cache is empty.</summary>
    public const int Bulk = 16;
    /// <summary>NAPI_SKB_CACHE_HALF: buffers given back to the pool when the cache is full.</summary>
    public const int Half = Size / 2;

    private readonly SkBuff?[] _cache = new SkBuff?[Size];
    private int _count;

    public NapiSkbCache(SkBuffPool pool)
    {
        Pool = pool;
        pool.AttachCache(this);
    }

    /// <summary>The pool the cache draws from and spills into.</summary>
    public SkBuffPool Pool { get; }

    /// <summary>Buffers in the cache (free, from the pool's point of view).</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>An empty buffer, as <see cref="SkBuffPool.Alloc"/> returns one; null when the pool's ceiling is reached.</summary>
    /// <remarks>Mirrors napi_skb_cache_get().</remarks>
    public SkBuff? Get()
    {
        int n = _count;
        if (n == 0)
        {
            n = Pool.AllocBulk(_cache, Bulk);
            // Nothing free to take in bulk: Alloc() grows the pool (or fails at the ceiling).
            if (n == 0) return Pool.Alloc();
        }
        var skb = _cache[--n]!;
        _cache[n] = null;
        _count = n;
        skb.InPool = false;
        skb.Reset();
        return skb;
    }

    /// <summary>An empty buffer with <paramref name="headroom"/> bytes reserved for headers (a transmit's copy), or null.</summary>
    /// <remarks>Mirrors napi_alloc_skb() + skb_reserve().</remarks>
    public SkBuff? GetWithHeadroom(int headroom = SkBuffPool.MaxHeader)
    {
        var skb = Get();
        skb?.Reserve(headroom);
        return skb;
    }

    /// <summary>
    /// Drops a reference to <paramref name="skb"/> and, when it was the last, keeps the buffer here
    /// if it belongs to <see cref="Pool"/> (else it goes back to its own pool, as <see cref="SkBuff.Free"/>).
    /// </summary>
    /// <remarks>Mirrors napi_consume_skb() -> napi_skb_cache_put().</remarks>
    public void Consume(SkBuff skb)
    {
        if (skb.Pool != Pool || skb.NrFrags != 0)
        {
            skb.Free();
            return;
        }
        if (Interlocked.Decrement(ref skb.Users) > 0) return;
        skb.MarkFree();
        skb.Next = null;
        int n = _count;
        _cache[n++] = skb;
        if (n == Size)
        {
            Pool.ReturnBulk(_cache, Half, Half);
            n = Half;
        }
        _count = n;
    }

    /// <summary>Gives every cached buffer back to the pool (the namespace is going away).</summary>
    public void Flush()
    {
        Pool.ReturnBulk(_cache, 0, _count);
        _count = 0;
    }

    /// <summary>Flushes the cache and detaches it from the pool: the namespace is gone.</summary>
    public void Close()
    {
        Flush();
        Pool.DetachCache(this);
    }
}
