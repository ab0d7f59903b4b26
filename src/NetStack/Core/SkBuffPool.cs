namespace NetStack.Core;

/// <summary>
/// A free list of fixed-size <see cref="SkBuff"/>s over pinned arrays: the slab cache
/// (skbuff_head_cache + the data kmalloc) of the kernel. Allocation on the hot path is a pop.
/// When the pool is empty it grows (once; steady state then allocates nothing); when the
/// configured ceiling is reached it fails like a GFP_ATOMIC allocation would (returns null).
/// </summary>
public sealed class SkBuffPool
{
    /// <summary>Room for the largest frame we handle: 14 bytes Ethernet + 65535 IP would be
    /// wasteful; MTU 1500 frames fit comfortably, with headroom for our own headers.</summary>
    public const int DefaultBufferSize = 2048;
    /// <summary>Headroom reserved for link + IP + TCP headers when building output (MAX_TCP_HEADER).</summary>
    public const int MaxHeader = 128;

    private readonly Lock _lock = new();
    private SkBuff? _free;
    private int _freeCount;
    private int _total;
    private readonly int _maxFrags;

    /// <summary>The size in bytes of every buffer of the pool.</summary>
    public int BufferSize { get; }
    /// <summary>The ceiling on buffers the pool will ever create; allocation fails beyond it.</summary>
    public int MaxBuffers { get; }
    /// <summary>Buffers currently free in the pool (those waiting in a namespace's softirq cache included).</summary>
    public int FreeCount
    {
        get
        {
            int n = _freeCount;
            foreach (var c in _caches) n += c.Count;
            return n;
        }
    }

    /// <summary>The namespaces' caches that hold free buffers of this pool (<see cref="NapiSkbCache"/>).</summary>
    private NapiSkbCache[] _caches = [];

    internal void AttachCache(NapiSkbCache cache)
    {
        lock (_lock) _caches = [.. _caches, cache];
    }

    /// <summary>Forgets a cache whose namespace is gone (a pool shared by many namespaces does not keep them all).</summary>
    internal void DetachCache(NapiSkbCache cache)
    {
        lock (_lock) _caches = [.. _caches.Where(c => c != cache)];
    }
    /// <summary>Buffers the pool has created so far (free plus in use).</summary>
    public int Total => _total;
    /// <summary>Allocations refused because the ceiling was reached.</summary>
    public long AllocFailures;

    /// <summary>A pool of <paramref name="bufferSize"/>-byte buffers, <paramref name="prealloc"/> of them created up front, at most <paramref name="maxBuffers"/> ever.</summary>
    public SkBuffPool(int bufferSize = DefaultBufferSize, int prealloc = 256, int maxBuffers = 1 << 16)
        : this(bufferSize, prealloc, maxBuffers, maxFrags: 0)
    {
    }

    /// <summary>A pool whose buffers can each carry up to <paramref name="maxFrags"/> fragments of other buffers (heads of TSO super-frames).</summary>
    internal SkBuffPool(int bufferSize, int prealloc, int maxBuffers, int maxFrags)
    {
        BufferSize = bufferSize;
        MaxBuffers = maxBuffers;
        _maxFrags = maxFrags;
        for (int i = 0; i < prealloc; i++)
        {
            var skb = new SkBuff(bufferSize, this, maxFrags) { InPool = true };
            skb.Next = _free;
            _free = skb;
            _freeCount++;
            _total++;
        }
    }

    /// <summary>Takes a buffer from the pool, growing it if it is empty.</summary>
    /// <remarks>Mirrors alloc_skb(): returns an empty buffer, or null when the ceiling is reached.</remarks>
    public SkBuff? Alloc()
    {
        lock (_lock)
        {
            var skb = _free;
            if (skb is not null)
            {
                _free = skb.Next;
                _freeCount--;
                skb.InPool = false;
                skb.Reset();
                return skb;
            }
            if (_total >= MaxBuffers)
            {
                AllocFailures++;
                return null;
            }
            _total++;
        }
        return new SkBuff(BufferSize, this, _maxFrags);
    }

    /// <summary>
    /// Takes up to <paramref name="count"/> free buffers (and at most a quarter of the free ones) into
    /// <paramref name="dst"/> (from index 0) under one acquisition of the lock; returns how many. Never grows the pool. The buffers keep
    /// their in-pool mark: the taker clears it and resets each when it hands one out.
    /// </summary>
    /// <remarks>Mirrors kmem_cache_alloc_bulk().</remarks>
    internal int AllocBulk(SkBuff?[] dst, int count)
    {
        int n = 0;
        lock (_lock)
        {
            // At most a quarter of what is free: a small pool's buffers are not all parked in one cache.
            count = Math.Min(count, _freeCount / 4);
            while (n < count && _free is { } skb)
            {
                _free = skb.Next;
                skb.Next = null;
                dst[n++] = skb;
            }
            _freeCount -= n;
        }
        return n;
    }

    /// <summary>Gives back <paramref name="count"/> buffers of <paramref name="src"/> from <paramref name="start"/> (already marked in-pool and cleared by the caller) under one acquisition of the lock, and clears those slots.</summary>
    /// <remarks>Mirrors kmem_cache_free_bulk().</remarks>
    internal void ReturnBulk(SkBuff?[] src, int start, int count)
    {
        lock (_lock)
        {
            for (int i = start; i < start + count; i++)
            {
                var skb = src[i]!;
                src[i] = null;
                skb.Next = _free;
                _free = skb;
            }
            _freeCount += count;
        }
    }

    /// <summary>Creates buffers until at least <paramref name="count"/> are free (within the ceiling), so a burst later finds them ready.</summary>
    /// <remarks>As a driver fills its receive ring when the device opens (virtio_net's try_fill_recv()).</remarks>
    internal void EnsureFree(int count)
    {
        lock (_lock)
        {
            while (_freeCount < count && _total < MaxBuffers)
            {
                var skb = new SkBuff(BufferSize, this, _maxFrags) { InPool = true };
                skb.Next = _free;
                _free = skb;
                _freeCount++;
                _total++;
            }
        }
    }

    /// <summary>Allocates and reserves <see cref="MaxHeader"/> bytes of headroom (alloc_skb + skb_reserve(MAX_HEADER)).</summary>
    public SkBuff? AllocWithHeadroom(int headroom = MaxHeader)
    {
        var skb = Alloc();
        skb?.Reserve(headroom);
        return skb;
    }

    internal void Return(SkBuff skb)
    {
        lock (_lock)
        {
            skb.MarkFree();
            skb.Next = _free;
            _free = skb;
            _freeCount++;
        }
    }
}
