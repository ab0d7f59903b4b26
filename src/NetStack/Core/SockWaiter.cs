using System.Threading.Tasks.Sources;

namespace NetStack.Core;

/// <summary>
/// A reusable awaitable "something changed on this socket" for the managed API's async methods:
/// the async analogue of sleeping on sk_sleep(sk). An async call makes a non-blocking attempt
/// under the stack lock; on -EAGAIN it <see cref="Arm"/>s the waiter (still under the lock, so no
/// wakeup can be lost), releases the lock, awaits, and retries, as System.Net.Sockets does on Unix
/// with epoll. The wakeup callbacks (sk_data_ready and friends) <see cref="Signal"/> it.
/// <para>
/// One waiter per direction per socket, reused for the socket's life, so steady-state async I/O
/// allocates nothing. Continuations run asynchronously (never under the stack lock).
/// </para>
/// </summary>
public sealed class SockWaiter : IValueTaskSource<int>
{
    private ManualResetValueTaskSourceCore<int> _core = new() { RunContinuationsAsynchronously = true };
    private readonly Sock _sk;
    private bool _armed;
    private CancellationTokenRegistration _ctr;

    internal SockWaiter(Sock sk) => _sk = sk;

    /// <summary>True while an awaiter is registered and not yet signalled.</summary>
    public bool IsArmed => _armed;

    /// <summary>
    /// Prepares a fresh wait. Call with the stack lock held, after a failed non-blocking attempt;
    /// await the returned task after releasing the lock. One waiter at a time per direction.
    /// </summary>
    public ValueTask<int> Arm(CancellationToken ct = default)
    {
        if (_armed) throw new InvalidOperationException("another asynchronous operation of the same kind is already pending on this socket");
        _core.Reset();
        _armed = true;
        if (ct.CanBeCanceled)
            _ctr = ct.UnsafeRegister(static s => ((SockWaiter)s!).Cancel(), this);
        return new ValueTask<int>(this, _core.Version);
    }

    /// <summary>Completes the pending wait, if any. Called with the stack lock held.</summary>
    public void Signal()
    {
        if (!_armed) return;
        _armed = false;
        _ctr.Unregister(); // not Dispose(): it would wait for a running Cancel(), which waits for our lock
        _ctr = default;
        _core.SetResult(0);
    }

    private void Cancel()
    {
        lock (_sk.Net.SyncRoot)
        {
            if (!_armed) return;
            _armed = false;
            _ctr = default;
            _core.SetException(new OperationCanceledException());
        }
    }

    int IValueTaskSource<int>.GetResult(short token) => _core.GetResult(token);
    ValueTaskSourceStatus IValueTaskSource<int>.GetStatus(short token) => _core.GetStatus(token);
    void IValueTaskSource<int>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
