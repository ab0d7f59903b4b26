using System.Threading.Tasks.Sources;

namespace NetStack.Core;

/// <summary>
/// A reusable awaitable "something changed on this socket" for the managed API's async methods:
/// the async analogue of sleeping on sk_sleep(sk). An async call makes a non-blocking attempt
/// under the stack lock; on -EAGAIN it <see cref="Arm"/>s the waiter (still under the lock, so no
/// wakeup can be lost), releases the lock, awaits, and retries, as System.Net.Sockets does on Unix
/// with epoll. The wakeup callbacks (sk_data_ready and friends) <see cref="Signal"/> it.
/// <para>
/// One waiter per direction per socket, reused for the socket's life. Signal() runs under the
/// stack lock, so it never completes the awaiter there: it queues this object to the thread pool
/// (it is its own work item, so that allocates nothing) and the continuation runs on a pool thread
/// without the lock - the same effect as RunContinuationsAsynchronously, minus its allocation.
/// A waiter of a socket with <see cref="Sock.InlineCompletions"/> signalled by a receive thread's
/// batch is collected instead (<see cref="NetNamespace.QueueInlineCompletion"/>) and completed by
/// that thread once the batch has released the lock (<see cref="CompleteInline"/>).
/// </para>
/// </summary>
internal sealed class SockWaiter : IValueTaskSource<int>, IThreadPoolWorkItem
{
    private ManualResetValueTaskSourceCore<int> _core = new() { RunContinuationsAsynchronously = false };
    private readonly Sock _sk;
    private bool _armed;
    private Exception? _pendingException;
    private CancellationTokenRegistration _ctr;
    /// <summary>The token of the armed wait: a cancellation callback of an earlier wait must not cancel this one.</summary>
    private CancellationToken _armedToken;
    /// <summary>Completions queued to the pool and not yet delivered.</summary>
    private int _deliveries;
    /// <summary>Whether the last completion's result was taken (GetResult) by its awaiter.</summary>
    private volatile bool _consumed = true;

    internal SockWaiter(Sock sk) => _sk = sk;

    /// <summary>The next waiter in the namespace's list of completions its receive thread runs after the batch (<see cref="NetNamespace.QueueInlineCompletion"/>).</summary>
    internal SockWaiter? NextInline;

    /// <summary>True while an awaiter is registered and not yet signalled.</summary>
    public bool IsArmed => _armed;

    /// <summary>
    /// The read waiter armed by a poll for POLLIN|POLLOUT: send-buffer space must wake it too
    /// (<see cref="Sock.WriteSpace"/>), while a plain receive is not woken by it.
    /// </summary>
    public bool AlsoWritable { get; private set; }

    /// <summary>
    /// Prepares a fresh wait. Call with the stack lock held, after a failed non-blocking attempt;
    /// await the returned task after releasing the lock. One waiter at a time per direction.
    /// </summary>
    public ValueTask<int> Arm(CancellationToken ct = default, bool alsoWritable = false)
    {
        // A completion queued but neither delivered nor consumed belongs to the previous wait, which
        // another caller still awaits: resetting the core now would hand the completion to this wait
        // and crash the pool thread delivering it. The previous wait's own continuation has consumed
        // its result (GetResult) before it arms again, so it may, even while the delivery unwinds.
        if (_armed || (Volatile.Read(ref _deliveries) > 0 && !_consumed))
            throw new InvalidOperationException("another asynchronous operation of the same kind is already pending on this socket");
        _core.Reset();
        _armed = true;
        // The wait holds its sock until its awaiter took the result (GetResult): a sock recycled
        // meanwhile would hand this completion to another socket's wait.
        _sk.SockHold();
        AlsoWritable = alsoWritable;
        _pendingException = null;
        _armedToken = ct;
        if (ct.CanBeCanceled)
            _ctr = ct.UnsafeRegister(static (s, token) => ((SockWaiter)s!).Cancel(token), this);
        return new ValueTask<int>(this, _core.Version);
    }

    /// <summary>Completes the pending wait, if any (on a pool thread, or on the receive thread after its batch). Called with the stack lock held.</summary>
    public void Signal()
    {
        if (!_armed) return;
        _armed = false;
        _ctr.Unregister(); // not Dispose(): it would wait for a running Cancel(), which waits for our lock
        _ctr = default;
        _armedToken = default;
        _consumed = false;
        Interlocked.Increment(ref _deliveries);
        // A socket that asked for it is completed by the receive thread once its batch has released the lock.
        if (_sk.InlineCompletions && _sk.Net.QueueInlineCompletion(this)) return;
        ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
    }

    /// <summary>
    /// The cancellation callback. It may run late: Signal() cannot wait for a callback that is
    /// already running (it would deadlock on the stack lock), so a callback of a finished wait can
    /// arrive after the waiter was armed again. Only a callback for the armed wait's own token acts.
    /// </summary>
    private void Cancel(CancellationToken token)
    {
        lock (_sk.Net.SyncRoot)
        {
            if (!_armed || token != _armedToken) return;
            _armed = false;
            _ctr = default;
            _armedToken = default;
            // As System.Net.Sockets: the exception carries the caller's token.
            _pendingException = new OperationCanceledException(token);
            _consumed = false;
        Interlocked.Increment(ref _deliveries);
            ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
        }
    }

    /// <summary>Runs on a pool thread without the stack lock: completes the awaiter, whose continuation runs here.</summary>
    void IThreadPoolWorkItem.Execute()
    {
        try
        {
            if (_pendingException is { } e) _core.SetException(e);
            else _core.SetResult(0);
        }
        finally
        {
            Interlocked.Decrement(ref _deliveries);
        }
    }

    /// <summary>Completes the awaiter on the calling thread (the receive thread after its batch, without the stack lock).</summary>
    internal void CompleteInline() => ((IThreadPoolWorkItem)this).Execute();

    /// <summary>A completion collected for the receive thread goes to the pool after all (the receive thread handed its device off: <see cref="SoftIrq"/>).</summary>
    internal void CompleteOnPool() => ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);

    /// <summary>True while a completion is queued to the pool and not yet delivered (for tests).</summary>
    internal bool IsDelivering => Volatile.Read(ref _deliveries) > 0;

    /// <summary>No wait armed, none being delivered, the last result taken: nothing outside the sock uses this waiter.</summary>
    internal bool IsIdle => !_armed && Volatile.Read(ref _deliveries) == 0 && _consumed;

    int IValueTaskSource<int>.GetResult(short token)
    {
        bool release = !_consumed;
        _consumed = true;
        try
        {
            return _core.GetResult(token);
        }
        finally
        {
            // The wait's reference on its sock goes once its result is taken (the last reference
            // frees the sock into its cache, under the stack lock).
            if (release) _sk.SockPut();
        }
    }
    ValueTaskSourceStatus IValueTaskSource<int>.GetStatus(short token) => _core.GetStatus(token);
    void IValueTaskSource<int>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
