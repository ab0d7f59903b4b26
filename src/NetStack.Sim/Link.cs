namespace NetStack.Sim;

/// <summary>What one link direction saw of one flow's frames.</summary>
public struct FlowLinkStats
{
    /// <summary>Frames of the flow that left the queue.</summary>
    public long Dequeued;
    /// <summary>Their total sojourn time in the queue.</summary>
    public long SojournNs;
    /// <summary>Frames of the flow the queue dropped.</summary>
    public long Drops;
    /// <summary>Frames of the flow the queue marked CE.</summary>
    public long Marks;
    /// <summary>Frames of the flow lost on the wire (random or bursty loss).</summary>
    public long Lost;
}

/// <summary>
/// One direction of a link: a queue in front of a transmitter of a given rate (serialization delay
/// = frame bits / rate, exact to the nanosecond with the remainder carried; the rate is taken in whole
/// bits per second), then the wire: loss (Bernoulli or Gilbert-Elliott), propagation delay with
/// jitter, and reordering. A frame that leaves the wire is an event at the far end (the switch or a
/// host). An infinite rate has no queue and no serialization.
/// </summary>
public sealed class Link : ISimEventHandler, IDropSink
{
    private const int TxDone = 0, WireArrive = 1;

    private readonly Simulator _sim;
    private readonly SimRandom _rng;
    private readonly double _nsPerByte;
    private readonly long _rateBps;
    private long _serRemainder;
    private bool _busy, _bad;
    private long _lastArrival;
    // The frames on the wire in arrival order (arrivals are monotone except for reordered frames, which
    // are events of their own): one pending event for the head keeps the event heap small.
    private readonly FrameFifo _wire = new();
    private readonly ISimEventHandler _dest;
    private readonly int _destKind;
    private readonly long _destArg;

    /// <summary>"HOST.up" (host to switch) or "HOST.down" (switch to host).</summary>
    public string Name { get; }
    /// <summary>The link's parameters.</summary>
    public LinkSpec Spec { get; }
    /// <summary>The queue, or null for an infinite rate.</summary>
    public Qdisc? Queue { get; }

    /// <summary>Frames that finished serialization (sent onto the wire).</summary>
    public long TxPackets { get; private set; }
    /// <summary>Bytes sent onto the wire.</summary>
    public long TxBytes { get; private set; }
    /// <summary>Frames lost on the wire.</summary>
    public long Lost { get; private set; }
    /// <summary>Frames that left the queue, and their total sojourn time.</summary>
    public long Dequeued { get; private set; }
    /// <summary>The total sojourn time of the frames that left the queue.</summary>
    public long SojournNs { get; private set; }
    /// <summary>Per-flow statistics, indexed by flow id.</summary>
    public FlowLinkStats[] PerFlow { get; }

    internal Link(Simulator sim, string name, LinkSpec spec, SimRandom rng, int mtuFrame, int flows,
        ISimEventHandler dest, int destKind, long destArg)
    {
        _sim = sim;
        Name = name;
        Spec = spec;
        _rng = rng;
        _dest = dest;
        _destKind = destKind;
        _destArg = destArg;
        PerFlow = new FlowLinkStats[flows];
        if (spec.RateBps > 0)
        {
            _nsPerByte = 8e9 / spec.RateBps;
            _rateBps = Math.Max(1, (long)Math.Round(spec.RateBps));
            Queue = Qdisc.Create(spec.Queue, spec.RateBps, mtuFrame, new SimRandom(rng.NextUInt64(), 0x51));
            Queue.OnMark = f => { if (f.FlowId >= 0) PerFlow[f.FlowId].Marks++; };
        }
    }

    /// <summary>The transmitter is serializing a frame.</summary>
    public bool Busy => _busy;

    /// <summary>The time a frame of <paramref name="bytes"/> takes to serialize, in ns (0 for an infinite rate).</summary>
    public double SerializationNs(int bytes) => (bytes + Spec.OverheadBytes) * _nsPerByte;

    /// <summary>A frame enters this direction now.</summary>
    public void Send(SimFrame f)
    {
        if (Queue is null)
        {
            OnWire(f);
            return;
        }
        if (!Queue.Enqueue(f, _sim.AbsNow))
        {
            if (f.FlowId >= 0) PerFlow[f.FlowId].Drops++;
            _sim.Frames.Return(f);
            return;
        }
        if (!_busy) StartNext();
    }

    /// <inheritdoc/>
    void IDropSink.Dropped(SimFrame f, long now)
    {
        if (f.FlowId >= 0) PerFlow[f.FlowId].Drops++;
        _sim.Frames.Return(f);
    }

    private void StartNext()
    {
        long now = _sim.AbsNow;
        var f = Queue!.Dequeue(now, this);
        if (f is null)
        {
            _busy = false;
            return;
        }
        long sojourn = now - f.EnqueueNs;
        Dequeued++;
        SojournNs += sojourn;
        if (f.FlowId >= 0)
        {
            ref var s = ref PerFlow[f.FlowId];
            s.Dequeued++;
            s.SojournNs += sojourn;
        }
        _busy = true;
        // bits * 1e9 / rate in integers, the remainder carried to the next frame: exact over any run.
        _serRemainder += (f.Length + Spec.OverheadBytes) * 8L * 1_000_000_000L;
        long ser = _serRemainder / _rateBps;
        _serRemainder -= ser * _rateBps;
        _sim.Events.Schedule(now + ser, this, TxDone, f);
    }

    /// <inheritdoc/>
    public void OnEvent(int kind, SimFrame? frame, long arg)
    {
        if (kind == TxDone)
        {
            OnWire(frame!);
            StartNext();
            return;
        }
        // WireArrive: the head of the wire reached the far end.
        var f = _wire.Dequeue()!;
        if (_wire.Peek is { } next) _sim.Events.Schedule(next.ArrivalNs, this, WireArrive);
        _dest.OnEvent(_destKind, f, _destArg);
    }

    /// <summary>Frames on the wire (propagating).</summary>
    public int InFlight => _wire.Count;

    /// <summary>The frame was serialized: loss, then propagation (with jitter and reordering) to the far end.</summary>
    private void OnWire(SimFrame f)
    {
        TxPackets++;
        TxBytes += f.Length;
        if (IsLost())
        {
            Lost++;
            if (f.FlowId >= 0) PerFlow[f.FlowId].Lost++;
            _sim.Frames.Return(f);
            return;
        }
        long now = _sim.AbsNow;
        long delay = Spec.DelayNs;
        if (Spec.JitterNs > 0)
            delay = Math.Max(0, delay + (long)Math.Round((2 * _rng.NextDouble() - 1) * Spec.JitterNs));
        long arrival = now + delay;
        if (Spec.ReorderProbability > 0 && _rng.Chance(Spec.ReorderProbability))
        {
            // Held back: the frames behind it overtake it; it does not hold them back in turn.
            _sim.Events.Schedule(arrival + Spec.ReorderDelayNs, _dest, _destKind, f, _destArg);
            return;
        }
        if (arrival < _lastArrival) arrival = _lastArrival; // jitter keeps the order
        _lastArrival = arrival;
        f.ArrivalNs = arrival;
        bool idle = _wire.Count == 0;
        _wire.Enqueue(f);
        if (idle) _sim.Events.Schedule(arrival, this, WireArrive);
    }

    /// <remarks>Bernoulli loss, then Gilbert-Elliott as netem's loss_gilb_ell(): draw the move to the
    /// other state, then lose with the probability of the state the frame found (GOOD: 1-k, BAD: 1-h).</remarks>
    private bool IsLost()
    {
        if (Spec.Loss > 0 && _rng.Chance(Spec.Loss)) return true;
        if (Spec.Gilbert is { } g)
        {
            bool bad = _bad;
            if (_rng.NextDouble() < (bad ? g.R : g.P)) _bad = !bad;
            return _rng.NextDouble() < (bad ? g.LossBad : g.LossGood);
        }
        return false;
    }

    /// <summary>The Gilbert-Elliott state: true in the bad state.</summary>
    public bool InBadState => _bad;
}
