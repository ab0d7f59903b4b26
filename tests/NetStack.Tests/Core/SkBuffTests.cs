using NetStack.Core;

namespace NetStack.Tests.Core;

public class SkBuffTests
{
    private static SkBuff NewSkb(int size = 256) => new(size);

    [Fact]
    public void ReservePutPushPull_MoveTheFourOffsetsLikeTheKernel()
    {
        var skb = NewSkb(256);
        Assert.Equal((0, 0, 256), (skb.Data, skb.Tail, skb.End));
        skb.Reserve(64);
        Assert.Equal((64, 64, 0, 64, 192), (skb.Data, skb.Tail, skb.Len, skb.Headroom, skb.Tailroom));

        var body = skb.Put(10);
        Assert.Equal(10, body.Length);
        body.Fill(0xBB);
        Assert.Equal((64, 74, 10), (skb.Data, skb.Tail, skb.Len));

        var hdr = skb.Push(4);
        hdr.Fill(0xAA);
        Assert.Equal((60, 14, 60), (skb.Data, skb.Len, skb.Headroom));
        Assert.Equal(new byte[] { 0xAA, 0xAA, 0xAA, 0xAA, 0xBB }, skb.DataSpan[..5].ToArray());

        Assert.True(skb.Pull(4));
        Assert.Equal((64, 10), (skb.Data, skb.Len));
        Assert.All(skb.DataSpan.ToArray(), b => Assert.Equal(0xBB, b));
    }

    [Fact]
    public void Reserve_OnlyOnAnEmptyBuffer_AndWithinTheEnd()
    {
        var skb = NewSkb(100);
        Assert.Throws<InvalidOperationException>(() => skb.Reserve(101));
        skb.Reserve(100);
        Assert.Equal(0, skb.Tailroom);
        var full = NewSkb(100);
        full.Put(1);
        Assert.Throws<InvalidOperationException>(() => full.Reserve(1)); // skb_reserve on data: a bug, not a silent move
    }

    [Fact]
    public void Put_BeyondTailroom_Throws_AndLeavesTheBufferAlone()
    {
        var skb = NewSkb(100);
        skb.Reserve(10);
        skb.Put(90);
        Assert.Throws<InvalidOperationException>(() => skb.Put(1));
        Assert.Throws<InvalidOperationException>(() => skb.Put(-1));
        Assert.Equal((10, 100), (skb.Data, skb.Tail));
        skb.Put(0);
        Assert.Equal(100, skb.Tail);
    }

    [Fact]
    public void Push_BeyondHeadroom_Throws()
    {
        var skb = NewSkb(100);
        skb.Reserve(14);
        Assert.Throws<InvalidOperationException>(() => skb.Push(15));
        Assert.Throws<InvalidOperationException>(() => skb.Push(-1));
        Assert.Equal(14, skb.Data);
        skb.Push(14);
        Assert.Equal(0, skb.Headroom);
    }

    [Fact]
    public void Pull_MoreThanLen_Fails_AndChangesNothing()
    {
        var skb = NewSkb(100);
        skb.Put(20);
        Assert.False(skb.Pull(21));
        Assert.False(skb.Pull(-1));
        Assert.Equal((0, 20), (skb.Data, skb.Len));
        Assert.True(skb.Pull(20));
        Assert.Equal(0, skb.Len);
        Assert.True(skb.Pull(0));
    }

    [Fact]
    public void Trim_CutsButNeverGrows()
    {
        var skb = NewSkb(100);
        skb.Reserve(8);
        skb.Put(60);
        skb.Trim(80); // longer than the data: skb_trim does nothing
        Assert.Equal(60, skb.Len);
        skb.Trim(28);
        Assert.Equal((8, 36, 28), (skb.Data, skb.Tail, skb.Len));
        skb.Trim(0);
        Assert.Equal(0, skb.Len);
    }

    [Fact]
    public void DataMemory_IsTheSameBytesAsDataSpan()
    {
        var skb = NewSkb(64);
        skb.Reserve(4);
        skb.Put(3).Fill(7);
        Assert.Equal(skb.DataSpan.ToArray(), skb.DataMemory.ToArray());
        skb.DataMemory.Span[0] = 9;
        Assert.Equal(9, skb.DataSpan[0]);
    }
}

public class SkBuffPoolTests
{
    [Fact]
    public void Alloc_ReturnsAResetBuffer_AndFreeRecyclesIt()
    {
        var pool = new SkBuffPool(bufferSize: 256, prealloc: 2, maxBuffers: 8);
        Assert.Equal((2, 2), (pool.Total, pool.FreeCount));
        var skb = pool.AllocWithHeadroom()!;
        Assert.Equal(SkBuffPool.MaxHeader, skb.Data);
        Assert.Equal(0, skb.Len);
        skb.Put(10);
        skb.Protocol = 0x0800;
        skb.Saddr = 1;
        skb.PktType = 3;
        skb.RouteBroadcast = true;
        skb.NetworkHeader = 5;
        skb.Free();
        Assert.Equal(2, pool.FreeCount);

        var again = pool.Alloc()!;
        Assert.Same(skb, again); // LIFO: the cache-warm buffer comes back first
        Assert.Equal((0, 0, (ushort)0, 0u, (byte)0, false, -1), (again.Data, again.Tail, again.Protocol, again.Saddr, again.PktType, again.RouteBroadcast, again.NetworkHeader));
        Assert.Equal(256, again.End);
    }

    [Fact]
    public void DoubleFree_IsDetected()
    {
        var pool = new SkBuffPool(prealloc: 1);
        var skb = pool.Alloc()!;
        skb.Free();
        Assert.Throws<InvalidOperationException>(() => skb.Free());
        Assert.Equal(1, pool.FreeCount); // the list was not corrupted by the second free
        Assert.Same(skb, pool.Alloc());
        Assert.Equal(0, pool.FreeCount);
    }

    [Fact]
    public void Ceiling_RefusesLikeGfpAtomic_ThenRecoversAfterAFree()
    {
        var pool = new SkBuffPool(bufferSize: 128, prealloc: 0, maxBuffers: 2);
        var a = pool.Alloc();
        var b = pool.Alloc();
        Assert.NotNull(a);
        Assert.NotNull(b);
        Assert.NotSame(a, b);
        Assert.Equal(2, pool.Total);
        Assert.Null(pool.Alloc());
        Assert.Null(pool.AllocWithHeadroom());
        Assert.Equal(2, pool.AllocFailures);
        a!.Free();
        Assert.Same(a, pool.Alloc());
        Assert.Equal(2, pool.Total); // reused, not grown
    }

    [Fact]
    public void Grows_OnDemand_UpToTheCeiling()
    {
        var pool = new SkBuffPool(bufferSize: 128, prealloc: 1, maxBuffers: 3);
        var l = new List<SkBuff>();
        while (pool.Alloc() is { } s) l.Add(s);
        Assert.Equal(3, l.Count);
        Assert.Equal(3, pool.Total);
        foreach (var s in l) s.Free();
        Assert.Equal(3, pool.FreeCount);
    }

    [Fact]
    public void UnpooledBuffer_FreeIsHarmless()
    {
        var skb = new SkBuff(64);
        skb.Free();
        skb.Free();
    }
}

public class SkBuffQueueTests
{
    private static SkBuff Skb(int len)
    {
        var s = new SkBuff(64);
        s.Put(len);
        return s;
    }

    private static int[] Lens(SkBuffQueue q)
    {
        var l = new List<int>();
        for (var s = q.First; s is not null; s = s.Next) l.Add(s.Len);
        // Walk backwards too: the prev links must agree with the next links.
        var back = new List<int>();
        for (var s = q.Last; s is not null; s = s.Prev) back.Add(s.Len);
        back.Reverse();
        Assert.Equal(l, back);
        Assert.Equal(l.Count, q.QLen);
        Assert.Equal(l.Sum(), q.Bytes);
        return l.ToArray();
    }

    [Fact]
    public void EnqueueTailHead_InsertAfter_KeepOrderAndCounts()
    {
        var q = new SkBuffQueue();
        Assert.True(q.IsEmpty);
        var a = Skb(1); var b = Skb(2); var c = Skb(3); var d = Skb(4); var e = Skb(5);
        q.EnqueueTail(b);
        q.EnqueueTail(d);
        q.EnqueueHead(a);
        q.InsertAfter(b, c);
        q.InsertAfter(d, e); // after the last: becomes Last
        Assert.Equal(new[] { 1, 2, 3, 4, 5 }, Lens(q));
        Assert.Same(e, q.Last);
        var z = Skb(9);
        q.InsertAfter(null, z); // null prev: at the head
        Assert.Equal(new[] { 9, 1, 2, 3, 4, 5 }, Lens(q));
        Assert.Same(z, q.Peek());
    }

    [Fact]
    public void Unlink_FirstMiddleLast()
    {
        var q = new SkBuffQueue();
        var s = Enumerable.Range(1, 5).Select(Skb).ToArray();
        foreach (var x in s) q.EnqueueTail(x);
        q.Unlink(s[2]);
        Assert.Equal(new[] { 1, 2, 4, 5 }, Lens(q));
        q.Unlink(s[0]);
        Assert.Equal(new[] { 2, 4, 5 }, Lens(q));
        q.Unlink(s[4]);
        Assert.Equal(new[] { 2, 4 }, Lens(q));
        Assert.Null(s[2].Next);
        Assert.Null(s[2].Prev);
        // An unlinked buffer can go on another list.
        var other = new SkBuffQueue();
        other.EnqueueTail(s[2]);
        Assert.Equal(new[] { 3 }, Lens(other));
    }

    [Fact]
    public void Misuse_IsRefused()
    {
        var q = new SkBuffQueue();
        var other = new SkBuffQueue();
        var a = Skb(1);
        q.EnqueueTail(a);
        Assert.Throws<InvalidOperationException>(() => q.EnqueueTail(a));
        Assert.Throws<InvalidOperationException>(() => other.EnqueueHead(a));
        Assert.Throws<InvalidOperationException>(() => other.Unlink(a));
        Assert.Throws<InvalidOperationException>(() => other.InsertAfter(a, Skb(2)));
        Assert.Equal(new[] { 1 }, Lens(q));
    }

    [Fact]
    public void Dequeue_IsFifo_AndNullWhenEmpty()
    {
        var q = new SkBuffQueue();
        for (int i = 1; i <= 3; i++) q.EnqueueTail(Skb(i));
        Assert.Equal(1, q.Dequeue()!.Len);
        Assert.Equal(2, q.Dequeue()!.Len);
        Assert.Equal(3, q.Dequeue()!.Len);
        Assert.Null(q.Dequeue());
        Assert.True(q.IsEmpty);
        Assert.Null(q.Last);
        Assert.Equal(0, q.Bytes);
    }

    [Fact]
    public void Purge_ReturnsEveryBufferToThePool()
    {
        var pool = new SkBuffPool(prealloc: 4);
        var q = new SkBuffQueue();
        for (int i = 0; i < 4; i++) { var s = pool.Alloc()!; s.Put(10); q.EnqueueTail(s); }
        Assert.Equal(0, pool.FreeCount);
        q.Purge();
        Assert.Equal(4, pool.FreeCount);
        Assert.Equal((0, 0L), (q.QLen, q.Bytes));
    }

    [Fact]
    public void AdjustBytes_TracksAPartialPull()
    {
        var q = new SkBuffQueue();
        var s = Skb(10);
        q.EnqueueTail(s);
        s.Pull(4);
        q.AdjustBytes(-4);
        Assert.Equal(6, q.Bytes);
        q.Unlink(s);
        Assert.Equal(0, q.Bytes);
    }
}
