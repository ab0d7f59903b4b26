using NetStack.Core;

namespace NetStack.Tests.Core;

/// <summary>
/// The timer thread (SoftIrq's run_timer_softirq loop) is woken only for a timer it would sleep
/// past, as hrtimer_reprogram() reprograms only for an earlier expiry; every timer still fires.
/// </summary>
public class TimerThreadTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30); // a failure bound, not a speed check

    [Fact]
    public void TimerArmedAfterThePlannedWake_DoesNotKick_EarlierOneDoes_AndBothFire()
    {
        using var net = new NetNamespace("timerkick");
        var far = new TimerList(_ => { });
        var fired = new List<string>();
        using var firedEarly = new ManualResetEventSlim();
        using var firedLate = new ManualResetEventSlim();
        var early = new TimerList(_ => { fired.Add("early"); firedEarly.Set(); });
        var late = new TimerList(_ => { fired.Add("late"); firedLate.Set(); });
        long t0 = net.NowNs;
        lock (net.SyncRoot) net.Timers.ModTimer(far, t0 + Time.Sec(600));
        // Before the thread has planned a sleep, any new earliest kicks it.
        lock (net.SyncRoot) Assert.True(net.Softirq.TimerKickNeeded(t0 + Time.Sec(700)));
        net.Start();
        try
        {
            // The thread plans to wake for the earliest timer (the far one, or one of the stack's own).
            long next = WaitForPlan(net);
            Assert.True(next <= t0 + Time.Sec(600));
            lock (net.SyncRoot)
            {
                Assert.False(net.Softirq.TimerKickNeeded(next + Time.Sec(1)));
                Assert.True(net.Softirq.TimerKickNeeded(next - Time.Sec(1)));
                // An earlier timer (a new earliest) kicks the sleeping thread; the thread re-plans for it.
                net.Timers.ModTimer(early, net.NowNs + Time.Ms(20));
            }
            Assert.True(firedEarly.Wait(Bound), "the earlier timer did not fire");
            // A loss probe's pattern: the earliest timer is pushed later (here deleted) and another is
            // armed after the thread's planned wake. It is a new earliest, but no kick is needed: the
            // thread wakes at its plan, finds nothing due, re-plans and fires it.
            var probe = new TimerList(_ => { });
            long planned;
            lock (net.SyncRoot)
            {
                planned = net.NowNs + Time.Sec(1); // far enough that the thread has planned for it before it is due
                net.Timers.ModTimer(probe, planned);
            }
            Assert.True(WaitForPlan(net) <= planned);
            lock (net.SyncRoot)
            {
                net.Timers.DelTimer(probe);
                Assert.False(net.Softirq.TimerKickNeeded(planned + Time.Ms(10)));
                net.Timers.ModTimer(late, planned + Time.Ms(10));
            }
            Assert.True(firedLate.Wait(Bound), "a timer armed after the planned wake did not fire");
            Assert.Equal(new[] { "early", "late" }, fired);
        }
        finally
        {
            net.Stop();
        }
    }

    [Fact]
    public void WakeForATimerMovedLater_PlansAgainWithoutTheStackLock()
    {
        using var net = new NetNamespace("timerplan");
        var probe = new TimerList(_ => { });
        net.Start();
        try
        {
            long planned;
            lock (net.SyncRoot)
            {
                planned = net.NowNs + Time.Ms(300);
                net.Timers.ModTimer(probe, planned);
            }
            Assert.True(WaitForPlan(net) <= planned);
            lock (net.SyncRoot)
            {
                // A loss probe's pattern: an ACK re-arms the timer later, which kicks nobody; the
                // thread still wakes at its plan and finds nothing due.
                net.Timers.ModTimer(probe, planned + Time.Sec(60));
                long next = net.Timers.NextExpiry;
                Assert.True(next > planned + Time.Ms(100), "a timer of the stack's own is due about then");
                // This thread holds the stack lock across that wake-up: the timer thread plans its
                // next one from the published expiry, without waiting for the lock.
                var deadline = DateTime.UtcNow + Bound;
                while (!(net.Softirq.TimerKickNeeded(next - 1) && !net.Softirq.TimerKickNeeded(next)))
                {
                    Assert.True(DateTime.UtcNow < deadline, "the timer thread did not plan again while the stack lock was held");
                    Thread.Sleep(1);
                }
                Assert.Equal(next, net.Timers.PublishedNextExpiry);
            }
        }
        finally
        {
            net.Stop();
        }
    }

    /// <summary>Waits until the timer thread has planned to sleep until the earliest timer; returns that expiry.</summary>
    private static long WaitForPlan(NetNamespace net)
    {
        var deadline = DateTime.UtcNow + Bound;
        while (true)
        {
            lock (net.SyncRoot)
            {
                long next = net.Timers.NextExpiry;
                if (!net.Softirq.TimerKickNeeded(next) && net.Softirq.TimerKickNeeded(next - 1)) return next;
            }
            Assert.True(DateTime.UtcNow < deadline, "the timer thread never planned its sleep");
            Thread.Sleep(1);
        }
    }
}
