using NetStack.Core;

namespace NetStack.Ipv4;

/// <summary>
/// The "TCP" and "TCPv6" slab caches: a TCP sock whose last reference went (sk_refcnt, see
/// Core/SockRefcnt.cs) is cleared and kept for the next socket or accepted child, so a
/// connection's setup and end allocate no sock once warm.
/// </summary>
public sealed partial class TcpSock
{
    /// <summary>
    /// What a sock taken from the cache keeps: its namespace (the cache is the namespace's), its
    /// timer objects (stopped; same owner, same handlers), its async waiters (idle; bound to this
    /// sock), its congestion control's private area (zeroed when an algorithm takes it,
    /// TcpCong.CaPrivAlloc) and its ipv6_pinfo (set when an AF_INET6 socket or child takes it,
    /// Ipv6Pinfo.Alloc). Everything else is the constructor's value again; the readonly queues,
    /// empty, stay.
    /// </summary>
    internal static readonly string[] SlabKeptFields =
        [nameof(Net), nameof(RetransmitTimer), nameof(DelackTimer), nameof(KeepaliveTimer), nameof(PacingTimer), "_readWaiter", "_writeWaiter",
            nameof(CaPrivArea), nameof(Pinet6Area)];

    private static readonly Action<TcpSock> s_clear = SkProtClear<TcpSock>.Compile(static () => new TcpSock(), SlabKeptFields);
    private static readonly Action<RequestSockQueue> s_clearAcceptQueue = SkProtClear<RequestSockQueue>.Compile(static () => new RequestSockQueue());

    /// <summary>
    /// Why the sock cannot go back to its cache although its last reference went, or null: the
    /// stack still points at it (a table, a queue, a timer, a waiter, its socket). Each of these
    /// would be a reference not counted; the sock is then left to the collector, which is always
    /// safe, and the case counted (Kernel: SkFreeBusy).
    /// </summary>
    internal string? SlabBusyReason()
    {
        if (Hashed) return "hashed";
        if (BindHash is not null) return "in a bind bucket";
        if (ReuseportCb is not null) return "in a reuseport group";
        if (Socket is not null) return "grafted to a socket";
        if (Parent is not null) return "in an accept queue";
        if (FastopenRsk is not null) return "holds a Fast Open request";
        if (!AcceptQueue.Empty || AcceptQueue.Qlen != 0) return "has requests or children";
        if (RetransmitTimer is { Pending: true } || DelackTimer is { Pending: true } || KeepaliveTimer is { Pending: true } || PacingTimer is { Pending: true })
            return "a timer is pending";
        if (!WaitersIdle) return "an async waiter is armed or delivering";
        if (Wq.Active) return "a thread waits on it";
        if (!ReceiveQueue.IsEmpty || !WriteQueue.IsEmpty || !ErrorQueue.IsEmpty || !OutOfOrderQueue.IsEmpty || !RtxQueue.IsEmpty || GsoSkb is not null)
            return "a queue holds buffers";
        if (SkFragPage is not null) return "holds its send page (sk_frag)";
        return null;
    }

    /// <summary>Every field as a new TcpSock has it, but those the cache keeps (<see cref="SlabKeptFields"/>).</summary>
    internal void SlabClear()
    {
        if (Pinet6 is { } np) Pinet6Area = np; // part of the tcp6_sock: kept for the next AF_INET6 life
        s_clear(this);
        s_clearAcceptQueue(AcceptQueue);
        Array.Clear(SelectiveAcks);
    }

    /// <summary>A sock from <paramref name="cache"/>, or a new one when it is empty.</summary>
    /// <remarks>Mirrors sk_prot_alloc() -> kmem_cache_alloc(prot->slab).</remarks>
    internal static TcpSock SlabAlloc(KmemCache<TcpSock> cache) => cache.Alloc() ?? new TcpSock();

    /// <summary>The last reference went: cleared and cached, or left to the collector if the stack still points at it.</summary>
    /// <remarks>Mirrors sk_prot_free() -> kmem_cache_free(prot->slab, sk).</remarks>
    internal static void SlabFree(KmemCache<TcpSock> cache, TcpSock tp)
    {
        if (tp.SlabBusyReason() is not null)
        {
            tp.Net.Mib.Kernel[KernelMib.SkFreeBusy]++;
            return;
        }
        tp.SlabClear();
        cache.Free(tp);
    }
}
