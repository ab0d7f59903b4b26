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
    /// <summary>Buffers currently free in the pool.</summary>
    public int FreeCount => _freeCount;
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
            if (skb.InPool) throw new InvalidOperationException("double free of skb");
            skb.InPool = true;
            skb.List = null;
            skb.Prev = null;
            skb.Sk = null;
            skb.Dev = null;
            skb.Next = _free;
            _free = skb;
            _freeCount++;
        }
    }
}
