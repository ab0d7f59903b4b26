namespace NetStack.Core;

/// <summary>
/// A doubly linked intrusive list of buffers (struct sk_buff_head): the links live in the
/// buffers, so queueing allocates nothing.
/// <remarks>Mirrors include/linux/skbuff.h: skb_queue_tail, __skb_dequeue, skb_peek, __skb_unlink, skb_queue_purge.</remarks>
/// </summary>
internal sealed class SkBuffQueue
{
    public SkBuff? First { get; private set; }
    public SkBuff? Last { get; private set; }
    /// <summary>Number of buffers (qlen).</summary>
    public int QLen { get; private set; }
    /// <summary>Sum of the buffers' data lengths.</summary>
    public long Bytes { get; private set; }

    public bool IsEmpty => First is null;

    public void EnqueueTail(SkBuff skb)
    {
        if (skb.List is not null) throw new InvalidOperationException("skb already on a list");
        skb.List = this;
        skb.Next = null;
        skb.Prev = Last;
        if (Last is null) First = skb; else Last.Next = skb;
        Last = skb;
        QLen++;
        Bytes += skb.Len;
    }

    public void EnqueueHead(SkBuff skb)
    {
        if (skb.List is not null) throw new InvalidOperationException("skb already on a list");
        skb.List = this;
        skb.Prev = null;
        skb.Next = First;
        if (First is null) Last = skb; else First.Prev = skb;
        First = skb;
        QLen++;
        Bytes += skb.Len;
    }

    /// <summary>Inserts <paramref name="skb"/> after <paramref name="prev"/> (or at the head if prev is null).</summary>
    public void InsertAfter(SkBuff? prev, SkBuff skb)
    {
        if (prev is null) { EnqueueHead(skb); return; }
        if (prev.List != this) throw new InvalidOperationException("prev not on this list");
        if (skb.List is not null) throw new InvalidOperationException("skb already on a list");
        skb.List = this;
        skb.Prev = prev;
        skb.Next = prev.Next;
        if (prev.Next is null) Last = skb; else prev.Next.Prev = skb;
        prev.Next = skb;
        QLen++;
        Bytes += skb.Len;
    }

    public SkBuff? Peek() => First;

    public SkBuff? Dequeue()
    {
        var skb = First;
        if (skb is not null) Unlink(skb);
        return skb;
    }

    public void Unlink(SkBuff skb)
    {
        if (skb.List != this) throw new InvalidOperationException("skb not on this list");
        if (skb.Prev is null) First = skb.Next; else skb.Prev.Next = skb.Next;
        if (skb.Next is null) Last = skb.Prev; else skb.Next.Prev = skb.Prev;
        skb.Next = skb.Prev = null;
        skb.List = null;
        QLen--;
        Bytes -= skb.Len;
    }

    /// <summary>Call after changing the length of a queued buffer (e.g. a partial pull) to keep <see cref="Bytes"/> right.</summary>
    public void AdjustBytes(long delta) => Bytes += delta;

    /// <remarks>Mirrors skb_queue_purge(): frees every buffer.</remarks>
    public void Purge()
    {
        while (Dequeue() is { } skb) skb.Free();
    }
}
