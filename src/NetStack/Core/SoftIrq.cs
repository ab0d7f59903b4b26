namespace NetStack.Core;

/// <summary>
/// The threads that play softirq context: one receive thread per device (NAPI poll with a
/// budget of 64 frames per lock hold, as net_rx_action does) and one timer thread
/// (run_timer_softirq) that sleeps until the earliest timer, woken early when an earlier one is armed.
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

    public SoftIrq(NetNamespace net)
    {
        _net = net;
        net.Timers.EarlierTimerArmed = KickTimer;
    }

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
        var t = new Thread(() => RxLoop(dev)) { IsBackground = true, Name = $"netstack-rx-{dev.Name}" };
        _threads.Add(t);
        t.Start();
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
        foreach (var t in threads) t.Join();
    }

    /// <remarks>Mirrors net/core/dev.c: net_rx_action() calling a device's napi poll.</remarks>
    private void RxLoop(NetDevice dev)
    {
        var net = _net;
        while (_running)
        {
            dev.WaitForWork(200);
            if (!_running) break;
            int n;
            do
            {
                lock (net.SyncRoot)
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
            } while (n == NapiWeight && _running);
        }
    }

    private void TimerLoop()
    {
        var net = _net;
        while (_running)
        {
            long next;
            lock (net.SyncRoot)
            {
                net.Timers.RunExpired(net.Clock.NowNs);
                next = net.Timers.NextExpiry;
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
