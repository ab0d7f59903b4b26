namespace NetStack.Core;

/// <summary>
/// The threads that play softirq context: one receive thread per device (NAPI poll with a
/// budget of 64 frames per lock hold, as net_rx_action does) and one timer thread
/// (run_timer_softirq) that sleeps until the earliest timer, woken early when an earlier one is armed.
/// <para>
/// And the softirq a system call runs itself: a frame a call sends on the loopback device raises
/// NET_RX (<see cref="RaiseNetRx"/>), and the call processes it before it returns
/// (<see cref="DoSoftirq"/>, from <see cref="SyscallLock"/> and before a blocking call sleeps), as
/// Linux's local_bh_enable() after dev_queue_xmit() runs the pending softirq in the sender's
/// context: when send() or close() returns, the local peer has the segment. Left to the receive
/// thread, a close() of one end and an immediate close() of the other crossed on the wire (a
/// simultaneous close, TIME_WAIT on both ends, the listener's port held for 60 s).
/// </para>
/// </summary>
internal sealed class SoftIrq
{
    /// <summary>NAPI_POLL_WEIGHT: frames handled per lock hold.</summary>
    public const int NapiWeight = 64;

    private readonly NetNamespace _net;
    private readonly object _timerSignal = new();
    private readonly List<Thread> _threads = new();
    private volatile bool _running;
    private bool _kicked; // guarded by _timerSignal: a kick between planning and sleeping is not lost

    /// <summary>net.core.netdev_budget: frames one <see cref="DoSoftirq"/> processes at most; the rest is the receive thread's (ksoftirqd's).</summary>
    public const int NetdevBudget = 300;

    /// <summary>The device a call's send queued frames to (the loopback device), under the stack lock; null when none is pending.</summary>
    private NetDevice? _netRxRaised;

    /// <summary>True while softirq work runs (under the stack lock): a call made from inside it does not run it again (in_interrupt()).</summary>
    private bool _inSoftirq;

    public SoftIrq(NetNamespace net)
    {
        _net = net;
        net.Timers.EarlierTimerArmed = TimerArmed;
    }

    /// <summary>
    /// The time the timer thread wakes by itself, planned from the earliest timer (long.MaxValue
    /// until it has planned: any timer kicks). Read under the stack lock by an arming thread;
    /// written by the timer thread with a full fence (it may plan without the stack lock, from
    /// <see cref="TimerBase.PublishedNextExpiry"/>).
    /// </summary>
    private long _timerPlanNs = long.MaxValue;

    /// <summary>
    /// A timer was armed earlier than every other (under the stack lock): the timer thread is woken
    /// only when it would otherwise sleep past it. A bulk sender re-arms its retransmit timer for a
    /// loss probe (about 10 ms) after every ACK's RTO re-arm (200 ms), each a new earliest; kicking
    /// the thread for each cost a context switch and a lock round per ACK.
    /// </summary>
    /// <remarks>Mirrors kernel/time/hrtimer.c: hrtimer_reprogram() reprograms the clock event only for an expiry before the one programmed.</remarks>
    private void TimerArmed(long expires)
    {
        if (expires >= Volatile.Read(ref _timerPlanNs)) return;
        KickTimer();
    }

    /// <summary>Whether an expiry armed now would wake the timer thread (for tests; call under the stack lock).</summary>
    internal bool TimerKickNeeded(long expires) => expires < _timerPlanNs;

    private void KickTimer()
    {
        if (!_running) return;
        lock (_timerSignal)
        {
            _kicked = true;
            Monitor.Pulse(_timerSignal);
        }
    }

    public void Start()
    {
        lock (_threads)
        {
            if (_running) return;
            _running = true;
            foreach (var dev in _net.Devices) StartRx(dev);
            var timer = new Thread(TimerLoop) { IsBackground = true, Name = "netstack-timer" };
            _threads.Add(timer);
            timer.Start();
        }
    }

    /// <summary>
    /// A device registered while the threads run gets its receive thread at once (the kernel
    /// enables NAPI in dev_open whenever the device comes up, not only at boot).
    /// </summary>
    public void DeviceAdded(NetDevice dev)
    {
        lock (_threads)
        {
            if (_running) StartRx(dev);
        }
    }

    private void StartRx(NetDevice dev)
    {
        var rx = new RxThread(this, dev);
        var t = new Thread(() => RxLoop(rx)) { IsBackground = true, Name = $"netstack-rx-{dev.Name}" };
        _threads.Add(t);
        t.Start();
    }

    /// <summary>A device's receive thread: what it must know when an inline continuation it runs blocks.</summary>
    internal sealed class RxThread(SoftIrq owner, NetDevice dev)
    {
        public readonly SoftIrq Owner = owner;
        public readonly NetDevice Dev = dev;
        /// <summary>The collected completions not yet run (this thread's only).</summary>
        public SockWaiter? Rest;
        /// <summary>Set when the thread handed its device to a new thread: it ends once the continuation it runs returns.</summary>
        public bool Retired;

        /// <summary>
        /// A blocking call is about to sleep on this receive thread while it runs an inline
        /// continuation (<see cref="WaitTask.InlineRx"/>, checked by <see cref="WaitTask.WaitWoken"/>).
        /// The sleep would stop the device's receiving, and with it the data, ACK or FIN that would
        /// end the sleep: a deadlock. So the thread hands its device to a new receive thread first,
        /// the completions it had not run yet go to the thread pool, and the thread itself ends once
        /// the continuation returns.
        /// </summary>
        public void HandOff() => Owner.HandOff(this);
    }

    private int _rxHandoffs;
    /// <summary>Receive threads that handed their device to a new thread (<see cref="RxThread.HandOff"/>).</summary>
    public int RxHandoffs => Volatile.Read(ref _rxHandoffs);

    private void HandOff(RxThread rx)
    {
        rx.Retired = true;
        var rest = rx.Rest;
        rx.Rest = null;
        Interlocked.Increment(ref _rxHandoffs);
        lock (_threads)
        {
            // The retiring thread is no longer joined by Stop(): it runs the application's code and may sleep on.
            _threads.Remove(Thread.CurrentThread);
            if (_running) StartRx(rx.Dev);
        }
        while (rest is { } w)
        {
            rest = w.NextInline;
            w.NextInline = null;
            w.CompleteOnPool();
        }
    }

    public void Stop()
    {
        Thread[] threads;
        lock (_threads)
        {
            if (!_running) return;
            _running = false;
            threads = _threads.ToArray();
            _threads.Clear();
        }
        foreach (var dev in _net.Devices) dev.Kick();
        KickTimer();
        lock (_timerSignal) Monitor.PulseAll(_timerSignal);
        // Stop() may be called by an inline continuation on a receive thread (an application
        // disposing the stack there): that thread ends by itself once it returns, joining it would wait forever.
        foreach (var t in threads) if (t != Thread.CurrentThread) t.Join();
    }

    /// <summary>A send put frames on <paramref name="dev"/>'s receive queue (call with the stack lock held).</summary>
    /// <remarks>Mirrors net/core/dev.c: enqueue_to_backlog() -> ____napi_schedule() -> __raise_softirq_irqoff(NET_RX_SOFTIRQ).</remarks>
    public void RaiseNetRx(NetDevice dev) => _netRxRaised = dev;

    /// <summary>
    /// Processes the frames sends queued to a device of this stack (up to <see cref="NetdevBudget"/>),
    /// unless softirq work is already running on this thread. Call with the stack lock held. Returns
    /// how many frames it processed.
    /// </summary>
    /// <remarks>Mirrors kernel/softirq.c: __local_bh_enable_ip() -> do_softirq() -> net_rx_action() -> process_backlog().</remarks>
    public int DoSoftirq()
    {
        var dev = _netRxRaised;
        if (dev is null || _inSoftirq) return 0;
        _netRxRaised = null;
        _inSoftirq = true;
        int n = 0;
        try
        {
            // Frames the processing sends (an ACK back over lo) join the same queue and are processed too, within the budget.
            while (n < NetdevBudget && dev.PollReceive(_net.SkbPool) is { } skb)
            {
                skb.Dev = dev;
                Dev.NetifReceiveSkb(skb);
                n++;
            }
        }
        finally
        {
            _inSoftirq = false;
        }
        // Over budget, the rest waits for the device's receive thread, which each enqueue has woken.
        return n;
    }

    /// <summary>Marks softirq context around a batch (call with the stack lock held).</summary>
    internal bool EnterSoftirq()
    {
        bool was = _inSoftirq;
        _inSoftirq = true;
        return was;
    }

    internal void LeaveSoftirq(bool was) => _inSoftirq = was;

    /// <remarks>Mirrors net/core/dev.c: net_rx_action() calling a device's napi poll.</remarks>
    private void RxLoop(RxThread rx)
    {
        var net = _net;
        var dev = rx.Dev;
        while (_running)
        {
            dev.WaitForWork(200);
            if (!_running) break;
            int n;
            do
            {
                SockWaiter? completions;
                lock (net.SyncRoot)
                {
                    bool was = EnterSoftirq();
                    net.InXmitBatch = true;
                    net.InlineCompletionsOpen = true;
                    net.InRxBatch = true;
                    try
                    {
                        for (n = 0; n < NapiWeight; n++)
                        {
                            var skb = dev.PollReceive(net.SkbPool);
                            if (skb is null) break;
                            skb.Dev = dev;
                            Dev.NetifReceiveSkb(skb);
                        }
                        // Timers that fell due while we were busy run here too, so a flood of
                        // frames cannot starve retransmissions.
                        net.Timers.RunExpired(net.Clock.NowNs);
                    }
                    finally
                    {
                        // ACKs the batch deferred (one per connection) go out with the rest.
                        net.InRxBatch = false;
                        net.RunDeferredRelease();
                        // The ACKs and data this batch sent leave in one write per device (xmit_more), before the lock is released.
                        net.InXmitBatch = false;
                        net.XmitFlush();
                        net.InlineCompletionsOpen = false;
                        completions = net.TakeInlineCompletions();
                        LeaveSoftirq(was);
                    }
                }
                // Sockets that asked for inline completions continue here, without the lock: the
                // continuation (an echo's send, its next receive) runs without waking a pool thread.
                if (completions is not null && RunInlineCompletions(rx, completions)) return;
            } while (n == NapiWeight && _running);
        }
    }

    /// <summary>
    /// Runs the collected completions on the receive thread (no stack lock held), oldest first.
    /// True when a continuation blocked and the thread handed its device off: it must end.
    /// </summary>
    private static bool RunInlineCompletions(RxThread rx, SockWaiter completions)
    {
        rx.Rest = completions;
        var me = WaitTask.Current;
        me.InlineRx = rx;
        try
        {
            while (rx.Rest is { } w)
            {
                rx.Rest = w.NextInline;
                w.NextInline = null;
                w.CompleteInline();
            }
        }
        finally
        {
            me.InlineRx = null;
        }
        return rx.Retired;
    }

    /// <summary>
    /// Sleeps until the earliest timer, runs what is due under the stack lock, and plans again. A
    /// wake-up for a timer that was re-armed later meanwhile (a bulk sender pushes its loss-probe
    /// timer on every ACK, so most wake-ups are such) plans from the published expiry without the
    /// stack lock: taking it there cost a contended acquisition per wake-up (2% of a bulk
    /// sender's samples in Monitor.Enter, and a futex wake for the sender releasing it).
    /// </summary>
    /// <remarks>
    /// Mirrors hrtimer_interrupt(): the expiry is checked under the timer base's own lock; the
    /// callbacks (run_timer_softirq) take the socket's.
    /// </remarks>
    private void TimerLoop()
    {
        var net = _net;
        while (_running)
        {
            long next = net.Timers.PublishedNextExpiry;
            if (next <= net.Clock.NowNs || Volatile.Read(ref _timerPlanNs) == long.MaxValue)
            {
                lock (net.SyncRoot)
                {
                    bool was = EnterSoftirq();
                    net.InXmitBatch = true;
                    try { net.Timers.RunExpired(net.Clock.NowNs); }
                    finally
                    {
                        net.InXmitBatch = false;
                        net.XmitFlush();
                        LeaveSoftirq(was);
                    }
                    next = net.Timers.NextExpiry;
                    Interlocked.Exchange(ref _timerPlanNs, next); // a timer armed from now on before it kicks us (TimerArmed)
                }
            }
            else
            {
                // Nothing due: plan from the published expiry. Plan first, then look again: an
                // earlier timer published before our plan was visible is seen here; one published
                // after it sees our plan and kicks us (TimerArmed).
                Interlocked.Exchange(ref _timerPlanNs, next);
                if (net.Timers.PublishedNextExpiry < next) continue;
            }
            long waitNs = next == long.MaxValue ? Time.Sec(1) : next - net.Clock.NowNs;
            if (waitNs <= 0) continue;
            int ms = (int)Math.Min(1000, (waitNs + Time.NsPerMs - 1) / Time.NsPerMs);
            lock (_timerSignal)
            {
                if (!_running) break;
                if (_kicked) { _kicked = false; continue; }
                Monitor.Wait(_timerSignal, ms);
                _kicked = false;
            }
        }
    }
}
