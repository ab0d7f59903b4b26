using NetStack.Wire;

namespace NetStack.Core;

/// <summary>
/// Fault containment: what the stack does when code it runs throws (a registered protocol handler,
/// an EtherType handler, a congestion control, a socket callback, a timer, or a bug of the stack
/// itself). The kernel's answer to a fault is the oops: the context that faulted dies, the event is
/// counted (/sys/kernel/oops_count) and printed, and the rest of the machine keeps running, unless
/// <c>kernel.panic_on_oops</c> is 1. The contexts here are the kernel's: a received frame (softirq),
/// a timer callback, a system call; where the socket involved is known (TCP input after the socket
/// lookup, a socket's timer, a call on a descriptor, a buffer already charged to a socket) that
/// socket is aborted through its protocol's <see cref="Proto.DiagDestroy"/> with ECONNABORTED, as
/// <c>ss -K</c> (SOCK_DESTROY) aborts one.
/// <para>
/// The boundaries catch with an exception filter (<see cref="Contain"/>): with
/// <c>kernel.panic_on_oops = 1</c> the filter declines and the exception leaves untouched, with its
/// original stack, as it did before containment existed (tests and fuzzers run that way, as
/// syzkaller runs kernels with panic_on_warn). A try block costs nothing when nothing throws and
/// allocates nothing; only the fault path formats and allocates.
/// </para>
/// </summary>
/// <remarks>Mirrors kernel/panic.c: oops_enter()/oops_exit(), panic_on_oops, oops_count, and
/// arch/x86/kernel/dumpstack.c: die() printing "Oops: ... [#n]"; the log is once per fault site, as WARN_ONCE.</remarks>
internal static class Oops
{
    /// <summary>
    /// The exception filter of every boundary: true (catch and contain) when
    /// <c>kernel.panic_on_oops</c> is 0, false (let it propagate, the "panic") when it is 1.
    /// </summary>
    public static bool Contain(NetNamespace net) => net.SysctlPanicOnOops == 0;

    /// <summary>
    /// Counts a contained fault (Kernel: OopsCount) and prints it to the kernel log the first time
    /// this site faults: the exception's type and message, the method that threw, the boundary
    /// (<paramref name="context"/>, a kernel function name), the registered code involved
    /// (<paramref name="handler"/>), the socket and what was done about it.
    /// </summary>
    /// <remarks>Mirrors oops_exit() (oops_count) and die()'s "Oops: ... [#n]" line.</remarks>
    public static void Report(NetNamespace net, Exception e, string context, string? handler, SockCommon? sk, string action)
    {
        long n = ++net.Mib.Kernel[KernelMib.OopsCount];
        string thrower = e.TargetSite is { } m ? $"{m.DeclaringType?.Name}.{m.Name}" : "?";
        // A fault site: the boundary, the registered code and the throwing method. A handler that
        // throws on every frame is counted every time and printed once, as WARN_ONCE does.
        string site = $"{context}|{handler}|{e.GetType().FullName}|{thrower}";
        if (!net.OopsSites.Add(site)) return;
        string who = handler is null ? "" : $" ({handler})";
        string sock = sk is null ? "" : $", sk {SockDesc(sk)}";
        net.Log.Printk($"Oops: {e.GetType().Name}: {e.Message} [#{n}] at {thrower} in {context}{who}{sock}: {action}");
    }

    /// <summary>
    /// A fault while serving <paramref name="sk"/>: reported, then the socket is aborted with
    /// ECONNABORTED through its protocol's diag_destroy (TCP: tcp_abort(): RST to the peer, sk_err
    /// for the owner, CLOSE). If the abort faults too, the socket is cut off by hand: error set,
    /// shut down both ways, removed from its protocol's tables.
    /// </summary>
    public static void SockOops(Sock sk, Exception e, string context, string? handler)
    {
        var net = sk.Net;
        Report(net, e, context, handler ?? sk.Prot?.Name, sk, "socket aborted");
        try
        {
            sk.Prot?.DiagDestroy(sk, Errno.ECONNABORTED);
        }
        catch (Exception e2) when (Contain(net))
        {
            // The kernel's "Fixing recursive fault": do the least that needs no protocol code.
            Report(net, e2, "diag_destroy", sk.Prot?.Name, sk, "socket cut off");
            sk.Err = Errno.ECONNABORTED;
            sk.Shutdown = Uapi.SocketConstants.SHUTDOWN_MASK;
            try { sk.Prot?.Unhash(sk); }
            catch (Exception e3) when (Contain(net)) { Report(net, e3, "unhash", sk.Prot?.Name, sk, "socket left hashed"); }
        }
    }

    /// <summary>
    /// The buffer a faulting handler was given. It may have been freed (and even reused), queued, or
    /// kept somewhere the stack cannot see; freeing it again could return it to its pool twice and
    /// hand one buffer to two owners. So it is never touched: when it is neither back in its pool nor
    /// on a queue it is counted as leaked (Kernel: OopsSkbLeaked), as the kernel loses the skb of a
    /// softirq that oopsed. If it was charged to a socket, that socket is the one involved.
    /// </summary>
    public static void SkbOops(NetNamespace net, SkBuff skb, Exception e, string context, string? handler)
    {
        SkbLeft(net, skb);
        if (!skb.InPool && skb.Sk is { } sk && sk.Net == net)
        {
            // A handler that queued the buffer on a socket (sock_queue_rcv_skb) and faulted after it,
            // in the socket's own callback (sk_data_ready) or later: that socket is involved.
            SockOops(sk, e, context, handler);
            return;
        }
        Report(net, e, context, handler, null, "frame dropped");
    }

    /// <summary>Counts the buffer of a faulted handler as leaked when it is neither in its pool nor on a queue (it is never freed here).</summary>
    public static void SkbLeft(NetNamespace net, SkBuff skb)
    {
        if (!skb.InPool && skb.List is null) net.Mib.Kernel[KernelMib.OopsSkbLeaked]++;
    }

    /// <summary>The name of the delegate's method, for the log (the registered function).</summary>
    public static string FunctionName(Delegate d) => $"{d.Method.DeclaringType?.Name}.{d.Method.Name}";

    private static string SockDesc(SockCommon sk)
    {
        string proto = sk is Sock s && s.Prot is { } p ? p.Name + " " : "";
        return $"{proto}{Ipv4Address.Format(sk.SkcRcvSaddr)}:{sk.SkcNum}->{Ipv4Address.Format(sk.SkcDaddr)}:{sk.SkcDport}";
    }
}
