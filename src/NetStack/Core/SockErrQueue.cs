using NetStack.Net;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Core;

/// <summary>
/// The socket error queue (sk_error_queue): errors a socket asked to keep with IP_RECVERR, each a
/// buffer carrying a <see cref="SockExterrSkb"/>, read back by recvmsg(MSG_ERRQUEUE). Queued buffers
/// are charged to the receive buffer (sk_rmem_alloc), so a socket's errors and its data share SO_RCVBUF.
/// </summary>
public partial class Sock
{
    /// <summary>
    /// Queues an error buffer: 0, or -ENOMEM when the receive buffer cannot take it (the caller frees
    /// it). Charges only sk_rmem_alloc (sock_rmem_free gives it back), not the protocol's memory
    /// account, and wakes the socket's waiters (EPOLLERR) unless it is dead. Does not touch sk_err:
    /// the protocols set it themselves where Linux does.
    /// </summary>
    /// <remarks>Mirrors net/core/skbuff.c: sock_queue_err_skb().</remarks>
    internal int SockQueueErrSkb(SkBuff skb)
    {
        int truesize = SkbTruesize(skb);
        if (RmemAlloc + truesize >= RcvBuf) return -Errno.ENOMEM;
        skb.Sk = this; // skb_orphan(); skb->destructor = sock_rmem_free
        RmemAlloc += truesize;
        ErrorQueue.EnqueueTail(skb);
        if (!HasFlag(SockFlag.Dead)) ErrorReport();
        return 0;
    }

    /// <summary>
    /// Takes the oldest error off the queue. sk_err follows the queue: it becomes the next queued
    /// ICMP error's errno, or 0 when an ICMP error was taken and no ICMP error follows (a local error
    /// leaves it alone); waiters are woken again while errors remain.
    /// </summary>
    /// <remarks>Mirrors net/core/skbuff.c: sock_dequeue_err_skb() with is_icmp_err_skb().</remarks>
    internal SkBuff? SockDequeueErrSkb()
    {
        var skb = ErrorQueue.Dequeue();
        if (skb is null) return null;
        bool icmpNext = false;
        var skbNext = ErrorQueue.Peek();
        if (skbNext is not null)
        {
            icmpNext = IsIcmpErrSkb(skbNext);
            if (icmpNext) Err = skbNext.ExtErr.EeErrno;
        }
        if (IsIcmpErrSkb(skb) && !icmpNext) Err = 0;
        if (skbNext is not null) ErrorReport();
        return skb;
    }

    /// <remarks>Mirrors net/core/skbuff.c: is_icmp_err_skb().</remarks>
    private static bool IsIcmpErrSkb(SkBuff skb) =>
        skb.ExtErr.EeOrigin is SO_EE_ORIGIN_ICMP or SO_EE_ORIGIN_ICMP6;

    /// <summary>Frees an error buffer, giving its size back to sk_rmem_alloc.</summary>
    /// <remarks>Mirrors net/core/skbuff.c: sock_rmem_free() (the destructor consume_skb() runs).</remarks>
    internal void SockRmemFree(SkBuff skb)
    {
        if (skb.Sk == this) RmemAlloc -= SkbTruesize(skb);
        skb.Free();
    }

    /// <summary>Drops every queued error (IP_RECVERR turned off, the socket going).</summary>
    /// <remarks>Mirrors net/core/skbuff.c: skb_errqueue_purge() (no timestamping notifications to keep here).</remarks>
    internal void SkbErrqueuePurge()
    {
        while (ErrorQueue.Dequeue() is { } skb) SockRmemFree(skb);
    }
}
