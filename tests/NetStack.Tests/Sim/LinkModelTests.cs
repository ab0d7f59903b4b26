using NetStack.Sim;

namespace NetStack.Tests.Sim;

/// <summary>
/// The link model in virtual time: serialization (bits / rate) and propagation delay exact to the
/// nanosecond, drop-tail limits in packets and bytes as pfifo and bfifo count them, loss, jitter and
/// reordering as specified.
/// </summary>
public class LinkModelTests
{
    private const long Ms = 1_000_000;

    [Fact]
    public void SerializationAndPropagation_AreExact()
    {
        // 10 Mbit/s: a 1250-byte frame is 10,000 bits, 1 ms on the wire; then 5 ms of propagation.
        using var h = new LinkHarness(new LinkSpec { RateBps = 10e6, DelayNs = 5 * Ms });
        h.SendAt(0, 1250);
        h.SendAt(0, 1250);
        h.SendAt(0, 1250);
        h.SendAt(10 * Ms, 625); // after the link went idle: 0.5 ms of serialization
        h.Run(100 * Ms);
        Assert.Equal([6 * Ms, 7 * Ms, 8 * Ms, 10 * Ms + 500_000 + 5 * Ms], h.Arrivals.Select(a => a.TimeNs));
        Assert.Equal(4, h.Link.TxPackets);
        Assert.Equal(0, h.Link.Queue!.Packets);
    }

    [Fact]
    public void SerializationCountsTheOverhead_AndCarriesFractionsOfANanosecond()
    {
        // 3 Mbit/s and 24 bytes of overhead (preamble, FCS, gap): (1000 + 24) * 8 / 3e6 s = 2730666.67 ns per frame.
        using var h = new LinkHarness(new LinkSpec { RateBps = 3e6, OverheadBytes = 24 });
        for (int i = 0; i < 3; i++) h.SendAt(0, 1000);
        h.Run(100 * Ms);
        // The remainder carries over, so the third frame ends at exactly 3 * 8192000 / 3 = 8192000 ns.
        Assert.Equal([2_730_666, 5_461_333, 8_192_000], h.Arrivals.Select(a => a.TimeNs));
    }

    [Fact]
    public void InfiniteRate_HasNoQueueAndNoSerialization()
    {
        using var h = new LinkHarness(new LinkSpec { DelayNs = 7 * Ms });
        for (int i = 0; i < 100; i++) h.SendAt(0, 1514);
        h.Run(100 * Ms);
        Assert.Null(h.Link.Queue);
        Assert.Equal(100, h.Arrivals.Count);
        Assert.All(h.Arrivals, a => Assert.Equal(7 * Ms, a.TimeNs));
    }

    [Fact]
    public void DropTail_InPackets_DropsAtTheLimit()
    {
        // pfifo limit 5: the first frame goes straight to the transmitter, five wait, the other four are dropped.
        using var h = new LinkHarness(new LinkSpec { RateBps = 1e6, Queue = new QueueSpec { LimitPackets = 5 } });
        for (int i = 0; i < 10; i++) h.SendAt(0, 1000);
        h.Run(1000 * Ms);
        Assert.Equal(6, h.Arrivals.Count);
        Assert.Equal(4, h.Link.Queue!.Drops);
        Assert.Equal(4, h.Link.PerFlow[0].Drops);
        // One more once there is room again: 6 frames of 8 ms each left by 48 ms.
        h.SendAt(48 * Ms, 1000);
        h.Run(2000 * Ms);
        Assert.Equal(7, h.Arrivals.Count);
        Assert.Equal(4, h.Link.Queue.Drops);
    }

    [Fact]
    public void DropTail_InBytes_DropsWhatDoesNotFit()
    {
        // bfifo limit 3000 bytes: one frame transmitting, three of 1000 bytes queued; a fourth does not fit, a 500-byte one neither (3000 + 500 > 3000).
        using var h = new LinkHarness(new LinkSpec { RateBps = 1e6, Queue = new QueueSpec { LimitPackets = null, LimitBytes = 3000 } });
        for (int i = 0; i < 5; i++) h.SendAt(0, 1000);
        h.SendAt(1, 500);
        h.Run(1000 * Ms);
        Assert.Equal(4, h.Arrivals.Count);
        Assert.Equal(2, h.Link.Queue!.Drops);
    }

    [Fact]
    public void QueueLength_ExcludesTheFrameOnTheWire_AndSojournIsMeasured()
    {
        using var h = new LinkHarness(new LinkSpec { RateBps = 8e6, DelayNs = 1 * Ms }); // 1000 bytes = 1 ms
        for (int i = 0; i < 4; i++) h.SendAt(0, 1000);
        h.Run(0);
        Assert.Equal(3, h.Link.Queue!.Packets);
        Assert.Equal(3000, h.Link.Queue.Bytes);
        Assert.True(h.Link.Busy);
        h.Run(100 * Ms);
        // Sojourns 0, 1, 2 and 3 ms.
        Assert.Equal(4, h.Link.Dequeued);
        Assert.Equal(6 * Ms, h.Link.SojournNs);
        Assert.Equal(6 * Ms, h.Link.PerFlow[0].SojournNs);
    }

    [Fact]
    public void BernoulliLoss_LosesTheGivenFraction()
    {
        using var h = new LinkHarness(new LinkSpec { DelayNs = 1 * Ms, Loss = 0.02 });
        const int n = 50_000;
        for (int i = 0; i < n; i++) h.SendAt(i * 1000L, 100);
        h.Run(n * 1000L + 10 * Ms);
        double lost = h.Link.Lost / (double)n;
        // 2% of 50,000: sigma = sqrt(n p (1-p)) = 31 frames; the seed is fixed, so this is one draw, within 4 sigma.
        Assert.InRange(lost, 0.02 - 4 * 31.3 / n, 0.02 + 4 * 31.3 / n);
        Assert.Equal(n - h.Link.Lost, h.Arrivals.Count);
    }

    [Fact]
    public void GilbertElliott_LosesInBursts()
    {
        // p = 1% into the bad state, r = 25% out of it, all lost while bad: bursts of mean length 1/r = 4,
        // stationary loss p / (p + r) = 3.85%.
        using var h = new LinkHarness(new LinkSpec { Gilbert = new GilbertSpec { P = 0.01, R = 0.25 } });
        const int n = 100_000;
        for (int i = 0; i < n; i++) h.SendAt(i * 1000L, 100, tag: i);
        h.Run(n * 1000L + 10 * Ms);
        var arrived = new bool[n];
        foreach (var a in h.Arrivals) arrived[LinkHarness.Tag(a.Frame)] = true;
        int bursts = 0, lost = 0;
        for (int i = 0; i < n; i++)
        {
            if (arrived[i]) continue;
            lost++;
            if (i == 0 || arrived[i - 1]) bursts++;
        }
        Assert.Equal(h.Link.Lost, lost);
        Assert.InRange(lost / (double)n, 0.0385 * 0.85, 0.0385 * 1.15);
        Assert.InRange(lost / (double)bursts, 4 * 0.85, 4 * 1.15);
    }

    [Fact]
    public void Jitter_VariesTheDelay_ButKeepsTheOrder()
    {
        using var h = new LinkHarness(new LinkSpec { DelayNs = 10 * Ms, JitterNs = 2 * Ms });
        for (int i = 0; i < 1000; i++) h.SendAt(i * 100_000L, 100, tag: i);
        h.Run(200 * Ms);
        Assert.Equal(Enumerable.Range(0, 1000), h.Arrivals.Select(a => LinkHarness.Tag(a.Frame)));
        var delays = h.Arrivals.Select((a, i) => a.TimeNs - i * 100_000L).ToArray();
        Assert.All(delays, d => Assert.InRange(d, 8 * Ms, 12 * Ms));
        Assert.True(delays.Distinct().Count() > 100, "the delays vary");
    }

    [Fact]
    public void Reordering_HoldsTheChosenFramesBack_AndLaterOnesOvertakeThem()
    {
        using var h = new LinkHarness(new LinkSpec { DelayNs = 10 * Ms, ReorderProbability = 0.05, ReorderDelayNs = 3 * Ms });
        const int n = 4000;
        for (int i = 0; i < n; i++) h.SendAt(i * 100_000L, 100, tag: i);
        h.Run(n * 100_000L + 100 * Ms);
        Assert.Equal(n, h.Arrivals.Count);
        int held = 0;
        foreach (var (t, f) in h.Arrivals)
        {
            long delay = t - LinkHarness.Tag(f) * 100_000L;
            Assert.True(delay == 10 * Ms || delay == 13 * Ms, $"delay {delay}");
            if (delay == 13 * Ms) held++;
        }
        Assert.InRange(held / (double)n, 0.04, 0.06);
        // Each held frame is overtaken by the 29 sent in the 3 ms after it (at 0.1 ms spacing), unless held too.
        var tags = h.Arrivals.Select(a => LinkHarness.Tag(a.Frame)).ToList();
        int outOfOrder = tags.Where((tag, i) => i > 0 && tag < tags[i - 1]).Count();
        Assert.InRange(outOfOrder, held * 8 / 10, held);
    }
}
