using NetStack.Core;

namespace NetStack.Ipv4;

/// <summary>The state bits of a reassembly queue (inet_frag_queue.flags).</summary>
[Flags]
internal enum InetFragFlags : byte
{
    None = 0,
    /// <summary>INET_FRAG_FIRST_IN: the fragment at offset 0 is in.</summary>
    FirstIn = 1,
    /// <summary>INET_FRAG_LAST_IN: the fragment without MF is in; <see cref="InetFragQueue{TKey}.Len"/> is exact.</summary>
    LastIn = 2,
}

/// <summary>What <see cref="Fqdir{TKey, TQueue}.InetFragQueueInsert"/> decided (IPFRAG_OK, IPFRAG_DUP, IPFRAG_OVERLAP).</summary>
internal enum IpFragInsert { Ok, Dup, Overlap }

/// <summary>
/// One datagram being reassembled, the part IPv4 and IPv6 share: the fragments sorted by offset,
/// how much of the datagram is known and received, the first/last flags, the memory charged and
/// the expiry timer. Protocols derive their queue from it (struct ipq, struct frag_queue embed
/// struct inet_frag_queue first). Pooled by its <see cref="Fqdir{TKey, TQueue}"/>, so a steady
/// stream of fragmented datagrams allocates nothing.
/// </summary>
/// <remarks>Mirrors include/net/inet_frag.h: struct inet_frag_queue.</remarks>
internal abstract class InetFragQueue<TKey> where TKey : struct, IEquatable<TKey>
{
    /// <param name="expire">The protocol's timer function (inet_frags.frag_expire: ip_expire, ip6_frag_expire).</param>
    protected InetFragQueue(Action<TimerList> expire) => Timer = new TimerList(expire, this);

    /// <summary>The datagram's identity (the protocol's compare key).</summary>
    public TKey Key;
    /// <summary>Fragments sorted by offset; each has Data at its payload, Cb.Seq = offset, Cb.EndSeq = end.</summary>
    public readonly SkBuffQueue Fragments = new();
    /// <summary>q.len: the datagram's payload length as far as known (exact once the last fragment is in).</summary>
    public int Len;
    /// <summary>q.meat: payload bytes received.</summary>
    public int Meat;
    /// <summary>q.flags.</summary>
    public InetFragFlags Flags;
    /// <summary>Truesize charged to the namespace's fragment memory (the queue's own size included).</summary>
    public int Mem;
    /// <summary>q.max_size: the largest fragment taken, headers included.</summary>
    public int MaxSize;
    /// <summary>The expiry timer (q.timer), armed for the fqdir's timeout when the queue is made.</summary>
    public readonly TimerList Timer;
    /// <summary>q.fqdir->net.</summary>
    public NetNamespace Net = null!;

    /// <summary>INET_FRAG_FIRST_IN.</summary>
    public bool FirstIn
    {
        get => (Flags & InetFragFlags.FirstIn) != 0;
        set => Flags = value ? Flags | InetFragFlags.FirstIn : Flags & ~InetFragFlags.FirstIn;
    }

    /// <summary>INET_FRAG_LAST_IN.</summary>
    public bool LastIn
    {
        get => (Flags & InetFragFlags.LastIn) != 0;
        set => Flags = value ? Flags | InetFragFlags.LastIn : Flags & ~InetFragFlags.LastIn;
    }
}

/// <summary>
/// The reassembly queues of one protocol in one namespace: the table by key, the memory they
/// hold against the protocol's high threshold, and a pool of queue objects. IPv4 (ip_fragment.c)
/// and IPv6 (reassembly.c) each derive one and keep only what differs: the key, the thresholds'
/// home, what a new queue starts with and what a freed one gives back.
/// </summary>
/// <remarks>Mirrors net/ipv4/inet_fragment.c and include/net/inet_frag.h: struct fqdir with
/// struct inet_frags (qsize, constructor, destructor) folded in as virtual members. All calls are
/// under the stack lock, so the kernel's refcounts and INET_FRAG_COMPLETE are not needed: a queue
/// that completes or dies leaves the table and goes back to the pool at once.</remarks>
internal abstract class Fqdir<TKey, TQueue>
    where TKey : struct, IEquatable<TKey>
    where TQueue : InetFragQueue<TKey>
{
    /// <summary>The queues by key (fqdir->rhashtable).</summary>
    public readonly Dictionary<TKey, TQueue> Queues = new();
    /// <summary>Queue objects ready for reuse (the kmem_cache of inet_frags.frags_cachep).</summary>
    public readonly Stack<TQueue> Free = new();
    /// <summary>Truesize of all queued fragments plus <see cref="QSize"/> per queue (fqdir->mem).</summary>
    public long Mem;

    /// <summary>What one queue header is charged (inet_frags.qsize), so a flood of one-fragment datagrams is bounded too.</summary>
    protected abstract int QSize { get; }
    /// <summary>fqdir->high_thresh: above it no fragment is taken; 0 turns reassembly off.</summary>
    protected abstract long HighThresh(NetNamespace net);
    /// <summary>fqdir->timeout, in nanoseconds.</summary>
    protected abstract long TimeoutNs(NetNamespace net);
    /// <summary>A new queue object (kmem_cache_zalloc); only when the pool is empty.</summary>
    protected abstract TQueue NewQueue();
    /// <summary>The protocol's part of a new queue (inet_frags.constructor: ip4_frag_init, ip6frag_init).</summary>
    protected virtual void Init(NetNamespace net, TQueue q) { }
    /// <summary>The protocol's part of a dying queue (inet_frags.destructor: ip4_frag_free).</summary>
    protected virtual void Destructor(TQueue q) { }

    /// <summary>
    /// The queue of a datagram, created if new; null when the namespace holds more than the high
    /// threshold (or the threshold is 0): then no fragment is taken, not even for a queue that
    /// exists, until queues complete or expire and memory falls.
    /// </summary>
    /// <remarks>Mirrors inet_frag_find() -> inet_frag_create() -> inet_frag_alloc(). Since Linux
    /// 4.17 nothing evicts queues early: the timeout is the only reclaim, and low_thresh only bounds
    /// the high one.</remarks>
    public TQueue? InetFragFind(NetNamespace net, in TKey key)
    {
        long high = HighThresh(net);
        if (high == 0 || Mem > high) return null;
        if (Queues.TryGetValue(key, out var q)) return q;
        q = Free.Count > 0 ? Free.Pop() : NewQueue();
        q.Key = key;
        q.Net = net;
        q.Len = q.Meat = q.MaxSize = 0;
        q.Flags = InetFragFlags.None;
        q.Mem = QSize;
        Mem += QSize;
        Init(net, q);
        Queues[key] = q;
        net.Timers.ModTimer(q.Timer, net.NowNs + TimeoutNs(net));
        return q;
    }

    /// <summary>
    /// Puts a fragment (Data at its payload, already trimmed to end - offset) in its place in the
    /// queue, or says why not: an exact duplicate is dropped alone, any other overlap poisons the
    /// whole datagram (RFC 5722, which Linux applies to IPv4 too). The caller charges memory and
    /// meat on <see cref="IpFragInsert.Ok"/> and frees the buffer otherwise.
    /// </summary>
    /// <remarks>Mirrors inet_frag_queue_insert(). Linux's fragment runs also take a fragment that
    /// lies inside a contiguous run of earlier ones as a duplicate; this keeps the stack's earlier
    /// rule (only an exact duplicate is one), which IPv4's tests pin down.</remarks>
    public static IpFragInsert InetFragQueueInsert(TQueue q, SkBuff skb, int offset, int end)
    {
        SkBuff? prev = null;
        for (var f = q.Fragments.First; f is not null; f = f.Next)
        {
            int fo = (int)f.Cb.Seq, fe = (int)f.Cb.EndSeq;
            if (fo == offset && fe == end) return IpFragInsert.Dup;
            if (offset < fe && fo < end) return IpFragInsert.Overlap;
            if (fo < offset) prev = f;
        }
        skb.Cb.Seq = (uint)offset;
        skb.Cb.EndSeq = (uint)end;
        q.Fragments.InsertAfter(prev, skb);
        return IpFragInsert.Ok;
    }

    /// <summary>Charges a queued fragment's truesize to its queue and the namespace (add_frag_mem_limit).</summary>
    public void AddFragMem(TQueue q, int truesize)
    {
        q.Mem += truesize;
        Mem += truesize;
    }

    /// <summary>
    /// Takes the first fragment out of a queue (the one an ICMP error quotes), its memory
    /// uncharged; null if the queue is empty.
    /// </summary>
    /// <remarks>Mirrors inet_frag_pull_head().</remarks>
    public SkBuff? InetFragPullHead(TQueue q)
    {
        var head = q.Fragments.Dequeue();
        if (head is null) return null;
        int ts = Sock.SkbTruesize(head);
        q.Mem -= ts;
        Mem -= ts;
        return head;
    }

    /// <summary>Copies every fragment's payload to its offset in <paramref name="dst"/> (the datagram's payload).</summary>
    /// <remarks>The copying half of inet_frag_reasm_prepare()/inet_frag_reasm_finish(): the kernel
    /// chains the buffers; here the datagram is built flat in one pooled buffer.</remarks>
    public static void InetFragReasmCopy(TQueue q, Span<byte> dst)
    {
        for (var f = q.Fragments.First; f is not null; f = f.Next)
            f.DataSpan.CopyTo(dst[(int)f.Cb.Seq..]);
    }

    /// <summary>
    /// Ends a queue: its fragments freed (counted under <paramref name="reason"/>, or consumed when
    /// null), its timer stopped, its memory given back, the object returned to the pool.
    /// </summary>
    /// <remarks>Mirrors inet_frag_kill() followed by inet_frag_destroy() (the last inet_frag_put()).</remarks>
    public void InetFragDestroy(NetNamespace net, TQueue q, SkbDropReason? reason)
    {
        net.Timers.DelTimer(q.Timer);
        while (q.Fragments.Dequeue() is { } f)
        {
            if (reason is { } r) net.KfreeSkbReason(f, r); else f.Free();
        }
        Mem -= q.Mem;
        q.Mem = 0;
        Destructor(q);
        Queues.Remove(q.Key);
        Free.Push(q);
    }

    /// <summary>Frees a queue's fragments but keeps the queue, its timer restarted (ip_frag_reinit's body).</summary>
    public void InetFragEmpty(NetNamespace net, TQueue q, SkbDropReason reason)
    {
        net.Timers.ModTimer(q.Timer, net.NowNs + TimeoutNs(net));
        while (q.Fragments.Dequeue() is { } f) net.KfreeSkbReason(f, reason);
        Mem -= q.Mem - QSize;
        q.Mem = QSize;
        q.Len = q.Meat = q.MaxSize = 0;
        q.Flags = InetFragFlags.None;
    }
}

/// <summary>The ECN rule for reassembled datagrams, shared by IPv4 and IPv6.</summary>
internal static class IpFragEcn
{
    /// <summary>IPFRAG_ECN_*: one bit per ECN codepoint a fragment carried (1 &lt;&lt; (tos &amp; INET_ECN_MASK)).</summary>
    public const byte NotEct = 0x01, Ect1 = 0x02, Ect0 = 0x04, Ce = 0x08;

    /// <summary>The bit of one fragment's ECN field (ip4_frag_ecn / ip6_frag_ecn).</summary>
    public static byte FragEcn(byte dsfield) => (byte)(1 << (dsfield & 3));

    /// <summary>
    /// What the OR of all fragments' bits makes of the datagram's ECN field (RFC 3168 5.3): 0xff
    /// drops it (ECN-capable and not-ECT fragments mixed), 3 (CE) is ORed in when a fragment was
    /// marked, else 0.
    /// </summary>
    /// <remarks>Mirrors net/ipv4/inet_fragment.c: ip_frag_ecn_table[].</remarks>
    public static byte Table(byte ecnBits)
    {
        bool notEct = (ecnBits & NotEct) != 0;
        bool ect = (ecnBits & (Ect0 | Ect1 | Ce)) != 0;
        if (notEct && ect) return 0xff;
        if ((ecnBits & Ce) != 0 && (ecnBits & (Ect0 | Ect1)) != 0) return 3;
        return 0;
    }
}
