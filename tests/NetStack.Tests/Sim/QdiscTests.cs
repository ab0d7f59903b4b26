using NetStack.Sim;

namespace NetStack.Tests.Sim;

/// <summary>
/// RED, CoDel and ECN marking against their definitions (Floyd and Jacobson 1993 as Linux's sch_red
/// and tc compute it; RFC 8289 as Linux's codel_dequeue(); RFC 3168's CE codepoint).
/// </summary>
public class QdiscTests
{
    private const long Ms = 1_000_000;
    private static readonly FramePool Pool = new(1514);

    private sealed class DropLog : IDropSink
    {
        public readonly List<long> Times = [];
        public void Dropped(SimFrame frame, long now) => Times.Add(now);
    }

    private static SimFrame Frame(int bytes, int ecn = 0) => Pool.Rent(LinkHarness.Frame(bytes, ecn));

    // ---------------------------------------------------------------- ECN

    [Theory]
    [InlineData(2, true)]  // ECT(0) -> CE
    [InlineData(1, true)]  // ECT(1) -> CE
    [InlineData(3, true)]  // CE stays CE
    [InlineData(0, false)] // Not-ECT: cannot be marked
    public void SetCe_MarksEctFrames_AndKeepsTheChecksumRight(int ecn, bool marks)
    {
        var f = Frame(100, ecn);
        Assert.Equal(marks, Ecn.SetCe(f));
        Assert.Equal(marks ? 3 : 0, Ecn.Get(f.Span));
        Assert.Equal(0, LinkHarness.IpChecksum(f.Span.Slice(14, 20))); // a valid header sums to all ones
    }

    // ---------------------------------------------------------------- RED

    private static QueueSpec Red(long min, long max, long burst, double p = 0.1, bool ecn = false, bool harddrop = false) => new()
    {
        Kind = QueueKind.Red, LimitPackets = null, LimitBytes = 1_000_000, RedMin = min, RedMax = max, RedAvpkt = 1000,
        RedBurst = burst, RedProbability = p, Ecn = ecn, RedHardDrop = harddrop,
    };

    [Theory]
    [InlineData(30000, 55, 1000, 5)]   // tc red min 30000 avpkt 1000 burst 55: a = 26 <= (1 - (31/32)^55) * 32 = 26.4
    [InlineData(2000, 2, 1000, 1)]     // a = 1 <= (1 - 0.25) / 0.5
    [InlineData(5000, 20, 1000, 6)]    // a = 16: W = 1/32 gives 15.0, W = 1/64 gives 17.3
    public void Red_Wlog_IsTcsChoice(long min, long burst, long avpkt, int expected)
    {
        // tc_red_eval_ewma(): the smallest Wlog with burst + 1 - min/avpkt <= (1 - (1-W)^burst) / W.
        double a = burst + 1 - (double)min / avpkt;
        int wlog = 1;
        for (double w = 0.5; wlog < 32 && a > (1 - Math.Pow(1 - w, burst)) / w; wlog++, w /= 2) { }
        Assert.Equal(wlog, RedQdisc.EvalEwma(min, burst, avpkt));
        Assert.Equal(expected, wlog);
    }

    [Fact]
    public void Red_Average_IsTheEwmaOfTheBacklogSeenOnArrival()
    {
        var q = new RedQdisc(Red(200_000, 600_000, 300), 100e6);
        double w = Math.Pow(2, -q.Wlog), avg = 0;
        for (int i = 0; i < 200; i++)
        {
            avg += w * (i * 1000 - avg); // the backlog before this frame: i frames of 1000 bytes
            Assert.True(q.Enqueue(Frame(1000), 0));
            Assert.Equal(avg, q.Average, 9);
        }
    }

    [Fact]
    public void Red_Average_DecaysOverAnIdlePeriod()
    {
        // bandwidth 8 Mbit/s, avpkt 1000: one "packet time" is 1 ms; an idle 10 ms multiplies the average by (1-W)^10.
        var q = new RedQdisc(Red(200_000, 600_000, 300), 8e6);
        var sink = new DropLog();
        for (int i = 0; i < 50; i++) q.Enqueue(Frame(1000), 0);
        double before = q.Average;
        while (q.Packets > 0) q.Dequeue(0, sink);
        Assert.Null(q.Dequeue(5 * Ms, sink)); // the link found the queue empty at 5 ms: the idle period starts
        q.Enqueue(Frame(1000), 15 * Ms);
        Assert.Equal(before * Math.Pow(1 - Math.Pow(2, -q.Wlog), 10), q.Average, 9);
    }

    [Fact]
    public void Red_BelowMin_NeverDrops()
    {
        var q = new RedQdisc(Red(20_000, 60_000, 20), 100e6);
        var sink = new DropLog();
        for (int i = 0; i < 10_000; i++)
        {
            Assert.True(q.Enqueue(Frame(1000), i * 1000L));
            if (q.Packets > 15) q.Dequeue(i * 1000L, sink);
        }
        Assert.Equal(0, q.Drops);
        Assert.True(q.Average < 20_000);
    }

    [Fact]
    public void Red_AboveMax_DropsEveryFrame()
    {
        // W = 1/2 (burst 2): the average follows the backlog closely.
        var q = new RedQdisc(Red(2000, 6000, 2), 100e6);
        Assert.Equal(1, q.Wlog);
        int accepted = 0;
        for (int i = 0; i < 100; i++)
        {
            double avgBefore = q.Average;
            bool ok = q.Enqueue(Frame(1000), 0);
            // The average is updated first: above max after the update means dropped.
            if (q.Average >= 6000) Assert.False(ok, $"frame {i} (average {q.Average}) was not dropped");
            if (ok) accepted++;
            _ = avgBefore;
        }
        Assert.Equal(100 - accepted, q.Drops);
        Assert.InRange(accepted, 6, 9);
        Assert.Equal(0, q.Marks);
    }

    [Fact]
    public void Red_WithEcn_MarksEctFrames_AndDropsTheOthers()
    {
        var q = new RedQdisc(Red(2000, 6000, 2, ecn: true), 100e6);
        int marked = 0;
        for (int i = 0; i < 100; i++)
        {
            var f = Frame(1000, ecn: 2);
            Assert.True(q.Enqueue(f, 0)); // never dropped: marked instead (the byte limit is far)
            if (Ecn.Get(f.Span) == 3) marked++;
        }
        Assert.Equal(0, q.Drops);
        Assert.Equal(marked, q.Marks);
        Assert.InRange(marked, 90, 94); // all but the first few, below min or between the thresholds
        // A not-ECT frame above max is dropped even with ecn on.
        Assert.False(q.Enqueue(Frame(1000, ecn: 0), 0));
        Assert.Equal(1, q.Drops);
    }

    [Fact]
    public void Red_WithHardDrop_DropsEvenEctFramesAboveMax()
    {
        var q = new RedQdisc(Red(2000, 6000, 2, ecn: true, harddrop: true), 100e6);
        for (int i = 0; i < 100; i++) q.Enqueue(Frame(1000, ecn: 2), 0);
        Assert.True(q.Drops >= 90, $"{q.Drops} drops");
        Assert.True(q.Marks <= 3, $"{q.Marks} marks (between the thresholds only)");
    }

    [Fact]
    public void Red_BetweenTheThresholds_MarksWithProbabilityPb_SpacedUniformly()
    {
        // Backlog held at 4000 bytes, W = 1/2: the average settles at 4000, pb = 0.1 * (4000-2000)/(6000-2000) = 0.05.
        // Marking when pb * count >= R (R uniform) spaces marks uniformly over 1..1/pb arrivals: never more than 20
        // apart, 10.5 apart on average.
        var q = new RedQdisc(Red(2000, 6000, 2, p: 0.1, ecn: true), 100e6);
        var sink = new DropLog();
        for (int i = 0; i < 4; i++) q.Enqueue(Frame(1000, 2), 0);
        var gaps = new List<int>();
        int since = 0;
        for (int i = 0; i < 20_000; i++)
        {
            var f = Frame(1000, 2);
            q.Enqueue(f, 0);
            since++;
            if (Ecn.Get(f.Span) == 3) { if (i > 100) gaps.Add(since); since = 0; }
            var d = q.Dequeue(0, sink);
            Pool.Return(d!);
        }
        Assert.Equal(4000, q.Average, 6);
        Assert.Equal(0, q.Drops);
        Assert.True(gaps.Max() <= 20, $"largest gap {gaps.Max()}");
        Assert.InRange(gaps.Average(), 10.5 * 0.93, 10.5 * 1.07);
    }

    // ---------------------------------------------------------------- CoDel

    private static QueueSpec Codel(bool ecn = false, long? ceThreshold = null) => new()
    {
        Kind = QueueKind.Codel, LimitPackets = 1000, CodelTargetNs = 5 * Ms, CodelIntervalNs = 100 * Ms, Ecn = ecn, CodelCeThresholdNs = ceThreshold,
    };

    [Fact]
    public void Codel_SojournBelowTarget_NeverDrops()
    {
        var q = new CodelQdisc(Codel(), 1514);
        var sink = new DropLog();
        // A 1500-byte frame in and one out every ms, three waiting: sojourns of 3 ms (above target would be 5).
        for (int i = 0; i < 3; i++) q.Enqueue(Frame(1500), 0);
        for (long t = Ms; t < 2000 * Ms; t += Ms)
        {
            q.Enqueue(Frame(1500), t);
            Pool.Return(q.Dequeue(t, sink)!);
            Assert.True(q.LastDelayNs <= 3 * Ms);
        }
        Assert.Empty(sink.Times);
        Assert.False(q.Dropping);
    }

    [Fact]
    public void Codel_DropsOneIntervalAfterTheSojournStayedAboveTarget_ThenAtIntervalOverSqrtCount()
    {
        // A standing queue of 400 frames drained one every 10 ms: every sojourn is above 5 ms. Within 1.5 s
        // the count stays below 100, so the drops are more than 10 ms apart: at most one per dequeue.
        var q = new CodelQdisc(Codel(), 1514);
        var sink = new DropLog();
        for (int i = 0; i < 400; i++) q.Enqueue(Frame(1500), 0);
        var drops = new List<(long Time, uint Count, long DropNext)>();
        long prevNext = 0;
        for (long t = 10 * Ms; t <= 1500 * Ms; t += 10 * Ms)
        {
            int before = sink.Times.Count;
            var f = q.Dequeue(t, sink);
            Assert.True(f is not null, $"empty at {t / Ms} ms after {sink.Times.Count} drops");
            Pool.Return(f);
            if (sink.Times.Count > before)
            {
                Assert.Equal(1, sink.Times.Count - before); // the spacing (>= 100/sqrt(count) ms) is above 10 ms here
                drops.Add((t, q.Count, q.DropNext));
            }
            Assert.True(q.DropNext >= prevNext || !q.Dropping);
            prevNext = q.DropNext;
        }
        // The sojourn went above target at the first dequeue (10 ms): first_above_time = 110 ms, so the first
        // drop is at the first dequeue after 110 ms, and the next is due an interval later.
        Assert.Equal((120 * Ms, 1u, 220 * Ms), drops[0]);
        for (int k = 1; k < drops.Count; k++)
        {
            var (t, count, next) = drops[k];
            Assert.Equal((uint)(k + 1), count);
            long due = drops[k - 1].DropNext;
            Assert.InRange(t, due, due + 10 * Ms - 1); // the first dequeue at or after drop_next
            Assert.Equal(due + (long)(100 * Ms / Math.Sqrt(count)), next); // control law: interval / sqrt(count)
        }
        Assert.True(drops.Count >= 15, $"{drops.Count} drops");
        Assert.Equal(drops.Count, q.Drops);
    }

    [Fact]
    public void Codel_LeavesTheDroppingState_WhenTheSojournFallsBelowTarget()
    {
        var q = new CodelQdisc(Codel(), 1514);
        var sink = new DropLog();
        for (int i = 0; i < 40; i++) q.Enqueue(Frame(1500), 0);
        long t = 0;
        while (!q.Dropping) { t += 10 * Ms; Pool.Return(q.Dequeue(t, sink)!); }
        // Drain at once: the next frames' sojourn is still high, but once the backlog is at most one MTU CoDel stops.
        while (q.Packets > 0) { var f = q.Dequeue(t, sink); if (f is not null) Pool.Return(f); }
        // Fresh traffic with short sojourns.
        for (int i = 0; i < 10; i++) { q.Enqueue(Frame(1500), t); q.Enqueue(Frame(1500), t); t += Ms; Pool.Return(q.Dequeue(t, sink)!); Pool.Return(q.Dequeue(t, sink)!); }
        Assert.False(q.Dropping);
    }

    [Fact]
    public void Codel_WithEcn_MarksEctFramesInsteadOfDropping()
    {
        var q = new CodelQdisc(Codel(ecn: true), 1514);
        var sink = new DropLog();
        for (int i = 0; i < 300; i++) q.Enqueue(Frame(1500, ecn: 2), 0);
        int marked = 0;
        for (long t = 10 * Ms; t <= 2000 * Ms; t += 10 * Ms)
        {
            var f = q.Dequeue(t, sink)!;
            if (Ecn.Get(f.Span) == 3) marked++;
            Assert.Equal(0, LinkHarness.IpChecksum(f.Span.Slice(14, 20)));
            Pool.Return(f);
        }
        Assert.Empty(sink.Times);
        Assert.Equal(marked, q.Marks);
        Assert.True(marked >= 15, $"{marked} marks");
    }

    [Fact]
    public void Codel_CeThreshold_MarksEveryEctFrameAboveIt()
    {
        var q = new CodelQdisc(Codel(ceThreshold: 2 * Ms), 1514);
        var sink = new DropLog();
        q.Enqueue(Frame(1500, 2), 0);
        q.Enqueue(Frame(1500, 2), 0);
        q.Enqueue(Frame(1500, 0), 0);
        var a = q.Dequeue(1 * Ms, sink)!;   // sojourn 1 ms: not marked
        var b = q.Dequeue(3 * Ms, sink)!;   // 3 ms > 2 ms: marked
        var c = q.Dequeue(4 * Ms, sink)!;   // not ECT: left alone
        Assert.Equal([2, 3, 0], new[] { Ecn.Get(a.Span), Ecn.Get(b.Span), Ecn.Get(c.Span) });
        Assert.Equal(1, q.CeThresholdMarks);
    }

    // ---------------------------------------------------------------- step marking

    [Fact]
    public void Step_MarksEctFramesThatFindKQueued_LeavesNotEctAlone_DropsOnlyAtTheLimit()
    {
        var q = new StepMarkQdisc(limitPackets: 5, limitBytes: null, k: 3);
        var sink = new DropLog();
        // Arriving to 0, 1, 2 queued: below K. To 3 and 4: marked, unless not ECT. To 5: the limit.
        var frames = new[] { Frame(1500, 2), Frame(1500, 2), Frame(1500, 1), Frame(1500, 2), Frame(1500, 0), Frame(1500, 2) };
        var taken = frames.Select(f => q.Enqueue(f, 0)).ToArray();
        Assert.Equal([true, true, true, true, true, false], taken);
        Assert.Equal([2, 2, 1, 3, 0, 2], frames.Select(f => Ecn.Get(f.Span)).ToArray());
        Assert.Equal((1L, 1L, 5), (q.Marks, q.Drops, q.Packets));
        Assert.All(frames, f => Assert.Equal(0, LinkHarness.IpChecksum(f.Span.Slice(14, 20))));
        // Dequeuing below K again: the next ECT arrival is not marked.
        for (int i = 0; i < 3; i++) Assert.NotNull(q.Dequeue(1 * Ms, sink));
        var g = Frame(1500, 2);
        Assert.True(q.Enqueue(g, 1 * Ms));
        Assert.Equal(2, Ecn.Get(g.Span));
        Assert.Empty(sink.Times);
    }
}
