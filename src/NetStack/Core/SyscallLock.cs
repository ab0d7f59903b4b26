namespace NetStack.Core;

/// <summary>
/// The stack lock as a system call takes it (process context): <c>using (new SyscallLock(net)) { ... }</c>.
/// Leaving the outermost one runs the receive work the call's own sends raised on the
/// loopback device (<see cref="NetNamespace.DoSoftirq"/>) before the lock is released and the call
/// returns, as Linux runs a pending NET_RX softirq in the sender's context when local_bh_enable()
/// follows dev_queue_xmit(): by the time send() or close() returns, the local peer has the segment.
/// Only the outermost hold runs it, so a caller that makes a non-blocking attempt and then arms a
/// waiter under one hold (the managed API's async calls) cannot have the wakeup delivered between
/// the two. The nesting depth is the stack's (<see cref="NetNamespace.SyscallDepth"/>, read and
/// written only under its lock): the lock owner's, since a call that sleeps (<see cref="SockWait.Sleep"/>,
/// the only place that releases the lock inside a hold) sets it aside while it sleeps.
/// </summary>
/// <remarks>Mirrors lock_sock() ... release_sock() plus the softirq run on local_bh_enable() in the calls of net/socket.c.</remarks>
internal readonly ref struct SyscallLock
{
    private readonly NetNamespace _net;

    /// <summary>Takes <paramref name="net"/>'s stack lock.</summary>
    public SyscallLock(NetNamespace net)
    {
        _net = net;
        Monitor.Enter(net.SyncRoot);
        net.SyscallDepth++;
    }

    /// <summary>Runs the raised softirq work when this is the thread's outermost hold, then releases the lock.</summary>
    public void Dispose()
    {
        try
        {
            if (--_net.SyscallDepth == 0)
            {
                // The frames this call sent leave before the lock is released (xmit_more ends here),
                // even if the softirq work threw: a frame left queued would wait for the next round.
                try { _net.DoSoftirq(); }
                finally { _net.XmitFlush(); }
            }
        }
        finally
        {
            Monitor.Exit(_net.SyncRoot);
        }
    }
}
