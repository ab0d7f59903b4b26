namespace NetStack.Core;

/// <summary>
/// sk_refcnt: who may still reach a sock. A sock goes back to its protocol's slab cache only when
/// the last reference is dropped, so nothing that outlives close (a pending timer, a request's
/// rsk_listener, an async waiter, a segment being processed, the user's socket) ever finds a
/// recycled sock. The references, as Linux takes them:
/// <list type="bullet">
/// <item>sk_alloc(): one, the protocol's own, dropped by inet_csk_destroy_sock() (TCP) once the
/// connection is over (closed, orphaned, unhashed, its timers stopped).</item>
/// <item>the BSD socket (sock_init_data(), sock_graft() on accept): one, dropped by sock_release()
/// after the protocol's release, so the user's socket keeps its sock alive through close.</item>
/// <item>a pending timer (sk_reset_timer() / sk_stop_timer(), done by the timer base for every
/// timer whose owner is a sock): one while it is pending; a timer that fires drops it after its
/// handler ran, as every TCP timer handler ends with sock_put().</item>
/// <item>tcp_v4_rcv() / tcp_v6_rcv(): one for the segment being processed (the refcounted lookup),
/// and one on the listener while a request is processed.</item>
/// <item>a request sock: one on its listener (rsk_listener), dropped by reqsk_free().</item>
/// <item>an armed async waiter of the managed API: one until its awaiter took the result.</item>
/// </list>
/// The lookup tables hold none (as in Linux, TCP's hashes take no reference): a sock is unhashed
/// before its protocol reference is dropped, and <see cref="Proto.SkProtFree"/> checks it.
/// The count is atomic, as refcount_t is: an async waiter's awaiter drops its reference from a
/// pool thread without the stack lock; the free itself runs under it.
/// <remarks>Mirrors include/net/sock.h: sock_hold(), sock_put(), __sock_put(), and net/core/sock.c:
/// sk_free() -> __sk_destruct() -> sk_prot_free().</remarks>
/// </summary>
public partial class Sock
{
    /// <summary>sk_refcnt: the references held on this sock (1 from sk_alloc; 0 once freed).</summary>
    internal int SkRefcnt;

    /// <summary>Counts a refcount_t warning in the sock's namespace; never throws (a sock made outside sk_alloc has none, and is not counted).</summary>
    private void RefcountWarn()
    {
        if (Net is { } net) net.Mib.Kernel[KernelMib.RefcountWarn]++;
    }

    /// <summary>Takes a reference (atomic, as refcount_t: any thread).</summary>
    /// <remarks>Mirrors include/net/sock.h: sock_hold().</remarks>
    internal void SockHold() => Interlocked.Increment(ref SkRefcnt);

    /// <summary>
    /// Drops a reference; the last one frees the sock (sk_free, under the stack lock, taken if the
    /// caller does not hold it: an async waiter's awaiter drops its reference from a pool thread).
    /// A put below zero is a bug somewhere: it is counted (Kernel: RefcountWarn), the count stays
    /// at zero and nothing is freed again.
    /// </summary>
    /// <remarks>Mirrors include/net/sock.h: sock_put() (refcount_dec_and_test(); refcount_t saturates instead of underflowing).</remarks>
    internal void SockPut()
    {
        int n = Interlocked.Decrement(ref SkRefcnt);
        if (n > 0) return;
        if (n == 0)
        {
            SkFree();
            return;
        }
        Interlocked.Increment(ref SkRefcnt); // back to zero: "refcount_t: underflow; use-after-free."
        RefcountWarn();
    }

    /// <summary>
    /// Drops a reference the caller knows is not the last (it holds another). If it was the last
    /// after all, the sock is not freed (it would be freed under the caller's feet): counted, and
    /// left to the collector.
    /// </summary>
    /// <remarks>Mirrors include/net/sock.h: __sock_put() (refcount_dec(): "decrement hit 0; leaking memory").</remarks>
    internal void SockPutNoFree()
    {
        int n = Interlocked.Decrement(ref SkRefcnt);
        if (n > 0) return;
        if (n < 0) Interlocked.Increment(ref SkRefcnt);
        RefcountWarn();
    }

    /// <summary>The last reference went: the protocol gives the sock back to its cache (or to the collector).</summary>
    /// <remarks>Mirrors net/core/sock.c: sk_free() -> __sk_free() -> sk_destruct() -> __sk_destruct() -> sk_prot_free().</remarks>
    private void SkFree()
    {
        var prot = Prot;
        if (prot is null) return;
        if (Net is { } net)
        {
            lock (net.SyncRoot) prot.SkProtFree(this);
        }
        else
        {
            prot.SkProtFree(this);
        }
    }
}
