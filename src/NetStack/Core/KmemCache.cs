namespace NetStack.Core;

/// <summary>
/// A bounded free list of one kind of object, so that what a connection needs for its life (a
/// request sock, a TIME_WAIT sock, a bind bucket) is taken from the objects the previous
/// connections gave back instead of from the garbage collector: the kernel's slab cache reduced to
/// its free list. An object is given back only where its lifetime is provably over (unhashed, its
/// timer stopped, no queue or socket pointing to it), and the caller resets it on the way in, as
/// a kmem_cache constructor would; when the list is full the object is left to the collector.
/// Not thread-safe: used under the stack lock, as the rest of the protocol state.
/// <remarks>Mirrors mm/slab_common.c: struct kmem_cache, kmem_cache_create(), kmem_cache_alloc(),
/// kmem_cache_free(); the counters are /proc/slabinfo's active_objs and num_objs.</remarks>
/// </summary>
internal sealed class KmemCache<T> where T : class
{
    private readonly T?[] _free;
    private int _count;

    /// <remarks>Mirrors kmem_cache_create(name, ...): <paramref name="limit"/> bounds the free objects kept.</remarks>
    public KmemCache(string name, int limit)
    {
        Name = name;
        _free = new T?[limit];
    }

    /// <summary>The cache's name, as /proc/slabinfo shows it ("request_sock_TCP", "tw_sock_TCP", "tcp_bind_bucket").</summary>
    public string Name { get; }
    /// <summary>active_objs: objects handed out and not given back (objects left to the collector count until then).</summary>
    public long ActiveObjs { get; private set; }
    /// <summary>Objects in the free list, ready for the next allocation.</summary>
    public int FreeObjs => _count;
    /// <summary>num_objs: objects the cache knows of (active and free).</summary>
    public long NumObjs => ActiveObjs + _count;
    /// <summary>Allocations that found the free list empty and asked the collector for a new object.</summary>
    public long Grown { get; private set; }
    /// <summary>Objects given back when the free list was full (left to the collector).</summary>
    public long Overflowed { get; private set; }

    /// <summary>A free object, or null when the list is empty (the caller then creates one).</summary>
    /// <remarks>Mirrors kmem_cache_alloc(): the slab's freelist pop.</remarks>
    public T? Alloc()
    {
        ActiveObjs++;
        if (_count == 0)
        {
            Grown++;
            return null;
        }
        var obj = _free[--_count]!;
        _free[_count] = null;
        return obj;
    }

    /// <summary>Gives an object back; the caller has reset it and holds no reference to it.</summary>
    /// <remarks>Mirrors kmem_cache_free().</remarks>
    public void Free(T obj)
    {
        ActiveObjs--;
        if (_count == _free.Length)
        {
            Overflowed++;
            return;
        }
        _free[_count++] = obj;
    }

    public override string ToString() => $"{Name} {ActiveObjs} {NumObjs}";
}
