using NetStack.Core;

namespace NetStack.Tests.Core;

public class TimerTests
{
    private readonly TimerBase _base = new();
    private readonly List<string> _fired = new();

    private TimerList Timer(string name) => new(_ => _fired.Add(name), name);

    [Fact]
    public void RunExpired_FiresDueTimersInExpiryOrder_AndLeavesTheRest()
    {
        var rng = new Random(5);
        var expiries = Enumerable.Range(0, 100).Select(_ => (long)rng.Next(1, 1000)).ToArray();
        var timers = expiries.Select((e, i) => (t: new TimerList(t => _fired.Add(((long)t.Owner!).ToString()), (long)e), e)).ToArray();
        foreach (var (t, e) in timers) _base.ModTimer(t, e);
        Assert.Equal(100, _base.Count);
        Assert.Equal(expiries.Min(), _base.NextExpiry);

        int n = _base.RunExpired(500);
        var due = expiries.Where(e => e <= 500).OrderBy(e => e).Select(e => e.ToString()).ToList();
        Assert.Equal(due.Count, n);
        Assert.Equal(due, _fired);
        Assert.All(timers, x => Assert.Equal(x.e > 500, x.t.Pending));
        Assert.Equal(expiries.Where(e => e > 500).Min(), _base.NextExpiry);

        _base.RunExpired(long.MaxValue - 1);
        Assert.Equal(0, _base.Count);
        Assert.Equal(long.MaxValue, _base.NextExpiry);
        Assert.Equal(expiries.OrderBy(e => e).Select(e => e.ToString()), _fired);
    }

    [Fact]
    public void ModTimer_ReArmsEarlierAndLater_WithoutDuplicating()
    {
        var a = Timer("a"); var b = Timer("b"); var c = Timer("c");
        _base.ModTimer(a, 100);
        _base.ModTimer(b, 200);
        _base.ModTimer(c, 300);
        _base.ModTimer(c, 50);   // earlier: now first
        Assert.Equal(50, _base.NextExpiry);
        _base.ModTimer(a, 400);  // later: now last
        _base.ModTimer(b, 200);  // same: no change
        Assert.Equal(3, _base.Count);
        Assert.Equal(400, a.Expires);
        _base.RunExpired(1000);
        Assert.Equal(new[] { "c", "b", "a" }, _fired);
    }

    [Fact]
    public void DelTimer_RemovesFromAnywhereInTheHeap()
    {
        var timers = Enumerable.Range(0, 20).Select(i => Timer(i.ToString())).ToArray();
        for (int i = 0; i < 20; i++) _base.ModTimer(timers[i], 1000 - i * 10);
        Assert.True(_base.DelTimer(timers[19])); // the root
        Assert.True(_base.DelTimer(timers[7]));  // somewhere inside
        Assert.True(_base.DelTimer(timers[0]));  // a leaf
        Assert.False(_base.DelTimer(timers[7])); // not pending any more
        Assert.False(timers[7].Pending);
        Assert.Equal(17, _base.Count);
        _base.RunExpired(10_000);
        var expected = Enumerable.Range(1, 18).Where(i => i != 7).Reverse().Select(i => i.ToString());
        Assert.Equal(expected, _fired);
    }

    [Fact]
    public void DelTimer_OfANeverArmedTimer_IsFalse() => Assert.False(_base.DelTimer(Timer("x")));

    [Fact]
    public void PeriodicTimer_ReArmingItselfLater_RunsOncePerPeriod()
    {
        int runs = 0;
        var t = new TimerList(self => { runs++; _base.ModTimer(self, self.Expires + 100); });
        _base.ModTimer(t, 100);
        for (long now = 0; now <= 1000; now += 50) _base.RunExpired(now);
        Assert.Equal(10, runs);  // at 100, 200, ..., 1000
        Assert.Equal(1100, t.Expires);
        Assert.True(t.Pending);
    }

    [Fact]
    public void TimerReArmingItselfInThePast_RunsOncePerCall_NotForever()
    {
        // A callback that re-arms itself for "now" (or earlier) must not spin RunExpired: like the
        // kernel, it runs again at the next tick (now + 1 ns here).
        int runs = 0;
        var t = new TimerList(self => { if (++runs < 1000) _base.ModTimer(self, 0); });
        _base.ModTimer(t, 10);
        Assert.Equal(1, _base.RunExpired(10));
        Assert.Equal(1, runs);
        Assert.Equal(11, t.Expires);
        Assert.Equal(0, _base.RunExpired(10));
        Assert.Equal(1, _base.RunExpired(11));
        Assert.Equal(2, runs);
    }

    [Fact]
    public void CallbackArmingAnotherDueTimer_RunsItInTheSamePassOnlyIfItWasAlreadyDue()
    {
        var late = Timer("late");
        var early = new TimerList(_ => { _fired.Add("early"); _base.ModTimer(late, 5); });
        var other = Timer("other");
        _base.ModTimer(early, 1);
        _base.ModTimer(other, 3);
        _base.RunExpired(10);
        // "late" asked for 5 (already past at 10): it is deferred to 11, after "other" which was due.
        Assert.Equal(new[] { "early", "other" }, _fired);
        Assert.Equal(11, late.Expires);
        _base.RunExpired(11);
        Assert.Equal(new[] { "early", "other", "late" }, _fired);
    }

    [Fact]
    public void ModTimer_OutsideRunExpired_KeepsAPastExpiryAsIs()
    {
        var t = Timer("t");
        _base.ModTimer(t, 5);
        Assert.Equal(5, t.Expires);
        Assert.Equal(1, _base.RunExpired(100));
    }

    [Fact]
    public void CallbackDeletingAnotherTimer_PreventsIt()
    {
        var victim = Timer("victim");
        var killer = new TimerList(_ => { _fired.Add("killer"); _base.DelTimer(victim); });
        _base.ModTimer(killer, 1);
        _base.ModTimer(victim, 2);
        Assert.Equal(1, _base.RunExpired(10));
        Assert.Equal(new[] { "killer" }, _fired);
    }

    [Fact]
    public void EarlierTimerArmed_IsRaisedOnlyForANewEarliest()
    {
        int kicks = 0;
        _base.EarlierTimerArmed = _ => kicks++;
        _base.ModTimer(Timer("a"), 100);
        Assert.Equal(1, kicks);
        _base.ModTimer(Timer("b"), 200);
        Assert.Equal(1, kicks);
        _base.ModTimer(Timer("c"), 50);
        Assert.Equal(2, kicks);
    }

    [Fact]
    public void HeapGrowsBeyondItsInitialCapacity()
    {
        var timers = Enumerable.Range(0, 1000).Select(i => new TimerList(t => _fired.Add(t.Owner!.ToString()!), i)).ToArray();
        for (int i = 999; i >= 0; i--) _base.ModTimer(timers[i], i);
        Assert.Equal(1000, _base.RunExpired(10_000));
        Assert.Equal(Enumerable.Range(0, 1000).Select(i => i.ToString()), _fired);
    }

    [Fact]
    public void VirtualClock_MovesOnlyWhenTold()
    {
        var c = new VirtualClock(5);
        Assert.Equal(5, c.NowNs);
        c.AdvanceMs(2);
        Assert.Equal(5 + 2 * Time.NsPerMs, c.NowNs);
        c.Set(Time.Sec(3));
        Assert.Equal(3_000_000_000, c.NowNs);
        Assert.True(MonotonicClock.Instance.NowNs > 0);
    }
}
