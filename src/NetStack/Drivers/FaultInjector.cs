using System.Globalization;
using NetStack.Core;
using NetStack.Wire;

namespace NetStack.Drivers;

/// <summary>Which way a <see cref="FaultInjector"/> acts on a device's frames.</summary>
[Flags]
public enum FaultDirection
{
    /// <summary>No frames.</summary>
    None = 0,
    /// <summary>Frames the device receives (wire to stack).</summary>
    Receive = 1,
    /// <summary>Frames the device sends (stack to wire).</summary>
    Transmit = 2,
    /// <summary>Both directions.</summary>
    Both = Receive | Transmit
}

/// <summary>
/// A parsed fault specification: <c>loss=5%,dup=1%,reorder=2%,corrupt=0.1%,delay=2ms,seed=N,dir=both</c>,
/// any subset. Percentages accept a trailing % (a bare number is a percentage too); delays take
/// ns, us, ms or s (a bare number is milliseconds).
/// </summary>
public sealed record FaultSpec
{
    /// <summary>The probability in [0, 1] that a frame is dropped (loss=, drop=).</summary>
    public double Loss { get; init; }
    /// <summary>The probability in [0, 1] that a frame is sent twice (dup=, duplicate=); the copy may be delayed like any frame.</summary>
    public double Duplicate { get; init; }
    /// <summary>The probability in [0, 1] that a frame is held <see cref="ReorderHoldNs"/> longer than the others, so that later frames overtake it (reorder=).</summary>
    public double Reorder { get; init; }
    /// <summary>The probability in [0, 1] that one bit beyond the Ethernet header is flipped (corrupt=); the IP or transport checksum must catch it.</summary>
    public double Corrupt { get; init; }
    /// <summary>Fixed one-way delay added to every frame, in nanoseconds.</summary>
    public long DelayNs { get; init; }
    /// <summary>How much longer than <see cref="DelayNs"/> a reordered frame is held (default 1 ms),
    /// so that the frames behind it overtake it.</summary>
    public long ReorderHoldNs { get; init; } = Time.Ms(1);
    /// <summary>The random generator's seed (seed=): the same spec and seed give the same faults on the same traffic.</summary>
    public int Seed { get; init; } = 1;
    /// <summary>Which frames are impaired (dir=rx, tx or both; default both).</summary>
    public FaultDirection Direction { get; init; } = FaultDirection.Both;

    /// <summary>True when the spec impairs nothing (no loss, duplication, reordering, corruption or delay).</summary>
    public bool IsEmpty => Loss == 0 && Duplicate == 0 && Reorder == 0 && Corrupt == 0 && DelayNs == 0;

    /// <summary>Parses a spec such as <c>loss=5%,delay=2ms,seed=3</c>.</summary>
    /// <exception cref="FormatException">The spec is empty or an item is malformed; the message says which.</exception>
    public static FaultSpec Parse(string spec) =>
        TryParse(spec, out var s, out var error) ? s : throw new FormatException(error);

    /// <summary>Parses a spec such as <c>loss=5%,delay=2ms,seed=3</c>.</summary>
    /// <param name="spec">The comma-separated key=value items.</param>
    /// <param name="result">The parsed spec, or an empty one on failure.</param>
    /// <param name="error">Why parsing failed, or "" on success.</param>
    /// <returns>True if <paramref name="spec"/> was valid.</returns>
    public static bool TryParse(string? spec, out FaultSpec result, out string error)
    {
        result = new FaultSpec();
        error = "";
        if (string.IsNullOrWhiteSpace(spec)) { error = "empty fault spec (expected e.g. loss=5%,dup=1%,reorder=2%,corrupt=0.1%,delay=2ms,seed=1)"; return false; }
        var s = new FaultSpec();
        foreach (var rawItem in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int eq = rawItem.IndexOf('=');
            if (eq <= 0) { error = $"fault spec item '{rawItem}' is not key=value"; return false; }
            string key = rawItem[..eq].Trim().ToLowerInvariant(), value = rawItem[(eq + 1)..].Trim();
            switch (key)
            {
                case "loss":
                case "drop":
                    if (!TryPercent(value, out var loss)) { error = Bad(key, value, "a percentage such as 5%"); return false; }
                    s = s with { Loss = loss };
                    break;
                case "dup":
                case "duplicate":
                    if (!TryPercent(value, out var dup)) { error = Bad(key, value, "a percentage such as 1%"); return false; }
                    s = s with { Duplicate = dup };
                    break;
                case "reorder":
                    if (!TryPercent(value, out var re)) { error = Bad(key, value, "a percentage such as 2%"); return false; }
                    s = s with { Reorder = re };
                    break;
                case "corrupt":
                    if (!TryPercent(value, out var co)) { error = Bad(key, value, "a percentage such as 0.1%"); return false; }
                    s = s with { Corrupt = co };
                    break;
                case "delay":
                    if (!TryDuration(value, out var d)) { error = Bad(key, value, "a duration such as 2ms"); return false; }
                    s = s with { DelayNs = d };
                    break;
                case "hold":
                case "reorderhold":
                    if (!TryDuration(value, out var h) || h == 0) { error = Bad(key, value, "a positive duration such as 1ms"); return false; }
                    s = s with { ReorderHoldNs = h };
                    break;
                case "seed":
                    if (!int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var seed)) { error = Bad(key, value, "an integer"); return false; }
                    s = s with { Seed = seed };
                    break;
                case "dir":
                case "direction":
                    var dir = value.ToLowerInvariant() switch
                    {
                        "rx" or "in" or "receive" => FaultDirection.Receive,
                        "tx" or "out" or "transmit" => FaultDirection.Transmit,
                        "both" or "rxtx" => FaultDirection.Both,
                        _ => FaultDirection.None,
                    };
                    if (dir == FaultDirection.None) { error = Bad(key, value, "rx, tx or both"); return false; }
                    s = s with { Direction = dir };
                    break;
                default:
                    error = $"unknown fault '{key}' (known: loss, dup, reorder, corrupt, delay, hold, seed, dir)";
                    return false;
            }
        }
        result = s;
        return true;
    }

    private static string Bad(string key, string value, string expected) => $"bad value '{value}' for fault '{key}': expected {expected}";

    private static bool TryPercent(string v, out double p)
    {
        p = 0;
        if (v.EndsWith('%')) v = v[..^1];
        if (!double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var pct) || !(pct >= 0 && pct <= 100)) return false;
        p = pct / 100.0;
        return true;
    }

    private static bool TryDuration(string v, out long ns)
    {
        ns = 0;
        long mult = Time.NsPerMs;
        if (v.EndsWith("ns", StringComparison.OrdinalIgnoreCase)) { mult = 1; v = v[..^2]; }
        else if (v.EndsWith("us", StringComparison.OrdinalIgnoreCase)) { mult = 1000; v = v[..^2]; }
        else if (v.EndsWith("ms", StringComparison.OrdinalIgnoreCase)) { mult = Time.NsPerMs; v = v[..^2]; }
        else if (v.EndsWith('s')) { mult = Time.NsPerSec; v = v[..^1]; }
        if (!double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var x) || !(x >= 0) || x * mult > long.MaxValue / 2) return false;
        ns = (long)(x * mult);
        return true;
    }

    /// <summary>The spec in the syntax <see cref="Parse"/> reads (only the non-zero items, plus seed and dir).</summary>
    public override string ToString()
    {
        var parts = new List<string>();
        if (Loss > 0) parts.Add(FormattableString.Invariant($"loss={Loss * 100}%"));
        if (Duplicate > 0) parts.Add(FormattableString.Invariant($"dup={Duplicate * 100}%"));
        if (Reorder > 0) parts.Add(FormattableString.Invariant($"reorder={Reorder * 100}%"));
        if (Corrupt > 0) parts.Add(FormattableString.Invariant($"corrupt={Corrupt * 100}%"));
        if (DelayNs > 0) parts.Add(FormattableString.Invariant($"delay={DelayNs / 1e6}ms"));
        parts.Add(FormattableString.Invariant($"seed={Seed}"));
        parts.Add("dir=" + Direction switch { FaultDirection.Receive => "rx", FaultDirection.Transmit => "tx", _ => "both" });
        return string.Join(',', parts);
    }
}

/// <summary>
/// A seeded, deterministic impairment on the wire side of a device: it drops, duplicates,
/// corrupts (one flipped bit beyond the Ethernet header), delays and reorders frames, in either
/// direction. This machine's kernel has no netem, so this is how tests and users get a bad link;
/// it works the same on a MemoryLink (two stacks in one process) and on a TAP.
/// <para>
/// Held frames wait in an intrusive queue per direction ordered by release time (stored in the
/// buffer's control block, as a qdisc keeps its own state in skb->cb) and leave from a timer on the
/// namespace's timer base through <see cref="Dev.HardStartXmit"/> (transmit) or
/// <see cref="Dev.DeliverSkb"/> (receive). All calls happen under the stack lock; nothing is
/// allocated per frame (duplicates come from the buffer pool).
/// </para>
/// </summary>
public sealed class FaultInjector : IFrameFilter, IDisposable
{
    private readonly Random _rng;
    private readonly NetDevice _dev;
    private readonly Line _rx, _tx;

    /// <summary>The impairments this injector applies.</summary>
    public FaultSpec Spec { get; }

    // What it did (read them under the stack lock, or tolerate a slightly stale value).
    /// <summary>What it did, frame counts: passed untouched, dropped, duplicated, reordered, corrupted, delayed (read them under the stack lock, or tolerate a slightly stale value).</summary>
    public long Passed, Dropped, Duplicated, Reordered, Corrupted, Delayed;

    /// <summary>Creates the injector and sets it as <paramref name="dev"/>'s frame filter.</summary>
    public static FaultInjector Attach(NetDevice dev, FaultSpec spec)
    {
        var f = new FaultInjector(dev, spec);
        dev.Faults = f;
        return f;
    }

    /// <summary>Parses <paramref name="spec"/> (see <see cref="FaultSpec"/>) and attaches the injector.</summary>
    public static FaultInjector Attach(NetDevice dev, string spec) => Attach(dev, FaultSpec.Parse(spec));

    /// <summary>An injector for <paramref name="dev"/>'s frames, seeded from <paramref name="spec"/>; it acts only once set as the device's filter (use <see cref="Attach(NetDevice, FaultSpec)"/>).</summary>
    public FaultInjector(NetDevice dev, FaultSpec spec)
    {
        _dev = dev;
        Spec = spec;
        _rng = new Random(spec.Seed);
        _rx = new Line(this, receive: true);
        _tx = new Line(this, receive: false);
    }

    /// <summary>Frames held right now (both directions).</summary>
    public int Held => _rx.Queue.QLen + _tx.Queue.QLen;

    /// <summary>Applies the spec to a received frame: true lets it through now; false means it was dropped or is held for later delivery.</summary>
    public bool OnReceive(NetDevice dev, SkBuff skb) =>
        (Spec.Direction & FaultDirection.Receive) == 0 || Apply(_rx, skb);

    /// <summary>Applies the spec to a frame being sent: true lets it through now; false means it was dropped or is held for later transmission.</summary>
    public bool OnTransmit(NetDevice dev, SkBuff skb) =>
        (Spec.Direction & FaultDirection.Transmit) == 0 || Apply(_tx, skb);

    /// <summary>Returns true to let the frame through now, false when it was dropped or is held.</summary>
    private bool Apply(Line line, SkBuff skb)
    {
        var net = _dev.Net!;
        var spec = Spec;
        if (spec.Loss > 0 && _rng.NextDouble() < spec.Loss)
        {
            Dropped++;
            if (line.Receive) _dev.Stats.RxDropped++; else _dev.Stats.TxDropped++;
            net.KfreeSkbReason(skb, SkbDropReason.FaultInjected);
            return false;
        }
        if (spec.Corrupt > 0 && _rng.NextDouble() < spec.Corrupt && skb.Len > EthernetHeader.Length)
        {
            if (skb.GsoSize != 0 || (line.Receive && skb.CsumVerified))
            {
                // An offloaded frame's checksum is partial (completed, or trusted, past this point):
                // nothing downstream would catch the bit, so the corruption is what a receiver's
                // checksum would have made of it, a drop.
                Corrupted++;
                if (line.Receive) _dev.Stats.RxDropped++; else _dev.Stats.TxDropped++;
                net.KfreeSkbReason(skb, SkbDropReason.FaultInjected);
                return false;
            }
            // One bit beyond the Ethernet header: the IP or TCP/UDP checksum must catch it.
            int at = EthernetHeader.Length + _rng.Next(skb.Len - EthernetHeader.Length);
            skb.DataSpan[at] ^= (byte)(1 << _rng.Next(8));
            Corrupted++;
        }
        if (spec.Duplicate > 0 && _rng.NextDouble() < spec.Duplicate
            && (skb.Headroom + skb.Len <= net.SkbPool.BufferSize ? net.SkbPool : net.LargeSkbPool).Alloc() is { } copy)
        {
            copy.Reserve(skb.Headroom);
            skb.DataSpan.CopyTo(copy.Put(skb.Len));
            copy.Dev = skb.Dev;
            copy.Protocol = skb.Protocol;
            // A super-frame's copy is one too (its segment size, its partial checksum).
            copy.CsumVerified = skb.CsumVerified;
            copy.GsoSize = skb.GsoSize;
            copy.GsoSegs = skb.GsoSegs;
            copy.GsoType = skb.GsoType;
            Duplicated++;
            // The copy travels like any frame (it may itself be delayed); the original follows.
            if (!Hold(line, copy, net.NowNs + spec.DelayNs, countDelay: false)) Release(line, copy);
        }
        long release = net.NowNs + spec.DelayNs;
        if (spec.Reorder > 0 && _rng.NextDouble() < spec.Reorder)
        {
            Reordered++;
            release += spec.ReorderHoldNs;
            Hold(line, skb, release, countDelay: false);
            return false;
        }
        if (spec.DelayNs > 0)
        {
            Hold(line, skb, release, countDelay: true);
            return false;
        }
        Passed++;
        return true;
    }

    /// <summary>Queues a frame until <paramref name="release"/>; false if no delay is needed (release is now and nothing is held).</summary>
    private bool Hold(Line line, SkBuff skb, long release, bool countDelay)
    {
        var net = _dev.Net!;
        if (release <= net.NowNs) return false;
        if (countDelay) Delayed++;
        skb.Cb.When = release;
        // Keep the queue sorted by release time; equal times keep arrival order. Constant delay
        // makes this an append; only reordered frames walk back.
        var q = line.Queue;
        var after = q.Last;
        while (after is not null && after.Cb.When > release) after = after.Prev;
        q.InsertAfter(after, skb);
        if (!line.Timer.Pending || release < line.Timer.Expires) net.Timers.ModTimer(line.Timer, q.First!.Cb.When);
        return true;
    }

    private void Release(Line line, SkBuff skb)
    {
        Passed++;
        skb.Cb = default;
        if (line.Receive)
            Dev.DeliverSkb(_dev.Net!, _dev, skb);
        else
            Dev.HardStartXmit(_dev, skb);
    }

    private void OnTimer(Line line)
    {
        var net = _dev.Net!;
        long now = net.NowNs;
        var q = line.Queue;
        while (q.First is { } skb && skb.Cb.When <= now)
        {
            q.Unlink(skb);
            if (!_dev.IsUp) { net.KfreeSkbReason(skb, SkbDropReason.NoDevice); continue; }
            Release(line, skb);
        }
        if (q.First is { } next) net.Timers.ModTimer(line.Timer, next.Cb.When);
    }

    /// <summary>Detaches from the device and frees what it holds. Call under the stack lock, or when the stack is stopped.</summary>
    public void Dispose()
    {
        if (_dev.Faults == this) _dev.Faults = null;
        var net = _dev.Net;
        foreach (var line in new[] { _rx, _tx })
        {
            net?.Timers.DelTimer(line.Timer);
            line.Queue.Purge();
        }
    }

    /// <summary>The spec and the counters in one line.</summary>
    public override string ToString() =>
        $"faults {Spec}: passed {Passed} dropped {Dropped} duplicated {Duplicated} reordered {Reordered} corrupted {Corrupted} delayed {Delayed}";

    /// <summary>One direction's delay line: the held frames and the timer that releases them.</summary>
    private sealed class Line
    {
        public readonly bool Receive;
        public readonly SkBuffQueue Queue = new();
        public readonly TimerList Timer;

        public Line(FaultInjector owner, bool receive)
        {
            Receive = receive;
            Timer = new TimerList(static t => { var l = (Line)t.Owner!; l.Owner.OnTimer(l); }, this);
            Owner = owner;
        }

        public readonly FaultInjector Owner;
    }
}
