using System.Buffers.Binary;

namespace NetStack.Sim;

/// <summary>Where a queue hands a frame it drops (the link counts it and returns it to the pool).</summary>
public interface IDropSink
{
    /// <summary>The queue dropped <paramref name="frame"/> at <paramref name="now"/> (on enqueue or, for CoDel, on dequeue).</summary>
    void Dropped(SimFrame frame, long now);
}

/// <summary>
/// A queue discipline in front of a link (struct Qdisc): enqueue when a frame arrives, dequeue when
/// the link is free to send the next. Lengths exclude the frame being serialized, as a qdisc's do.
/// </summary>
public abstract class Qdisc
{
    /// <summary>The frames queued.</summary>
    protected readonly FrameFifo Fifo = new();

    /// <summary>Frames queued (qlen).</summary>
    public int Packets => Fifo.Count;
    /// <summary>Bytes queued (backlog).</summary>
    public long Bytes => Fifo.Bytes;
    /// <summary>Frames dropped by the discipline (limit, early or CoDel drops).</summary>
    public long Drops { get; protected set; }
    /// <summary>Frames marked CE instead of dropped.</summary>
    public long Marks { get; protected set; }

    /// <summary>Takes a frame in; false when it was dropped (the caller gives it back to the pool).</summary>
    public abstract bool Enqueue(SimFrame f, long now);

    /// <summary>The next frame to send, or null; frames dropped on the way go to <paramref name="sink"/>.</summary>
    public abstract SimFrame? Dequeue(long now, IDropSink sink);

    /// <summary>Counts a CE mark made on the way (the link's per-flow statistics read it).</summary>
    internal Action<SimFrame>? OnMark;

    /// <summary>Sets CE on an ECN-capable frame; false for a not-ECT frame (which must then be dropped).</summary>
    protected bool MarkCe(SimFrame f)
    {
        if (!Ecn.SetCe(f)) return false;
        Marks++;
        OnMark?.Invoke(f);
        return true;
    }

    /// <summary>A discipline for <paramref name="spec"/> on a link of <paramref name="rateBps"/> with frames of at most <paramref name="mtuFrame"/> bytes; RED draws from <paramref name="rng"/>.</summary>
    public static Qdisc Create(QueueSpec spec, double rateBps, int mtuFrame, SimRandom rng) => spec.Kind switch
    {
        QueueKind.DropTail => new DropTailQdisc(spec.LimitPackets, spec.LimitBytes),
        QueueKind.Red => new RedQdisc(spec, rateBps, rng),
        QueueKind.Step => new StepMarkQdisc(spec.LimitPackets, spec.LimitBytes, spec.StepThresholdPackets),
        _ => new CodelQdisc(spec, mtuFrame),
    };
}

/// <summary>ECN in the IPv4 header of a frame (include/net/inet_ecn.h).</summary>
public static class Ecn
{
    /// <summary>The ECN field of an IPv4 frame: 0 Not-ECT, 1 ECT(1), 2 ECT(0), 3 CE; -1 when the frame is not IPv4.</summary>
    public static int Get(ReadOnlySpan<byte> frame)
    {
        if (frame.Length < 34 || BinaryPrimitives.ReadUInt16BigEndian(frame[12..]) != 0x0800) return -1;
        return frame[15] & 3;
    }

    /// <summary>Marks CE on an ECT frame and fixes the header checksum; true if the frame is (now) CE.</summary>
    /// <remarks>Mirrors INET_ECN_set_ce() -> IP_ECN_set_ce() (the checksum updated incrementally, RFC 1624).</remarks>
    public static bool SetCe(SimFrame f)
    {
        var b = f.Span;
        int ecn = Get(b);
        if (ecn <= 0) return false;
        if (ecn == 3) return true;
        // IP_ECN_set_ce(): ECT(0) 10 -> 11 adds 1 to the TOS byte, ECT(1) 01 -> 11 adds 2; the checksum
        // is the one's complement sum, so subtract the same from it (with end-around carry).
        ushort old = BinaryPrimitives.ReadUInt16BigEndian(b[14..]);
        b[15] |= 3;
        ushort now = BinaryPrimitives.ReadUInt16BigEndian(b[14..]);
        uint check = BinaryPrimitives.ReadUInt16BigEndian(b[24..]);
        // HC' = ~(~HC + ~m + m') (RFC 1624, eqn. 3)
        uint sum = (~check & 0xFFFF) + (~(uint)old & 0xFFFF) + now;
        sum = (sum & 0xFFFF) + (sum >> 16);
        sum = (sum & 0xFFFF) + (sum >> 16);
        BinaryPrimitives.WriteUInt16BigEndian(b[24..], (ushort)~sum);
        return true;
    }
}

/// <summary>
/// Drop-tail: pfifo (a limit in packets) and bfifo (a limit in bytes), or both at once.
/// <remarks>Mirrors net/sched/sch_fifo.c: pfifo_enqueue() (qlen &lt; limit) and bfifo_enqueue() (backlog + len &lt;= limit).</remarks>
/// </summary>
public sealed class DropTailQdisc(long? limitPackets, long? limitBytes) : Qdisc
{
    /// <inheritdoc/>
    public override bool Enqueue(SimFrame f, long now)
    {
        if ((limitPackets is { } p && Fifo.Count >= p) || (limitBytes is { } b && Fifo.Bytes + f.Length > b))
        {
            Drops++;
            return false;
        }
        f.EnqueueNs = now;
        Fifo.Enqueue(f);
        return true;
    }

    /// <inheritdoc/>
    public override SimFrame? Dequeue(long now, IDropSink sink) => Fifo.Dequeue();
}

/// <summary>
/// Step marking on the instantaneous queue, as a data-centre switch's ECN threshold for DCTCP: an
/// ECT frame that arrives to find at least K frames waiting is marked CE; below K nothing happens.
/// It never drops early: a not-ECT frame is queued unmarked, and only the drop-tail limit drops.
/// <remarks>RFC 8257 section 3.1 and the DCTCP paper (Alizadeh et al. 2010, section 3.1): "mark the
/// arriving packet with CE if the queue occupancy is greater than K upon its arrival" (here qlen, which
/// excludes the frame being serialized: with it, more than K). Linux has no qdisc that marks on the
/// instantaneous length in packets; its deployments approximate this with RED min = max or CoDel's
/// ce_threshold, both available here as well. The limit is pfifo's/bfifo's (sch_fifo.c).</remarks>
/// </summary>
public sealed class StepMarkQdisc(long? limitPackets, long? limitBytes, long k) : Qdisc
{
    /// <summary>The marking threshold K, in packets.</summary>
    public long K => k;

    /// <inheritdoc/>
    public override bool Enqueue(SimFrame f, long now)
    {
        if ((limitPackets is { } p && Fifo.Count >= p) || (limitBytes is { } b && Fifo.Bytes + f.Length > b))
        {
            Drops++;
            return false;
        }
        if (Fifo.Count >= k) MarkCe(f); // a not-ECT frame stays as it is
        f.EnqueueNs = now;
        Fifo.Enqueue(f);
        return true;
    }

    /// <inheritdoc/>
    public override SimFrame? Dequeue(long now, IDropSink sink) => Fifo.Dequeue();
}

/// <summary>
/// Random Early Detection (Floyd and Jacobson 1993) as Linux's sch_red: an EWMA of the backlog in
/// bytes, computed on each arrival (with the idle-time decay); below min nothing, between min and max
/// a mark or drop with probability rising linearly to max_p and spread uniformly by the count since the
/// last mark, above max always (a CE mark with ecn and without harddrop, else a drop). ECT frames are
/// marked instead of dropped when ecn is on; the byte limit drops regardless.
/// <remarks>Mirrors net/sched/sch_red.c: red_enqueue(), red_dequeue(), and include/net/red.h:
/// red_calc_qavg(), red_action(), red_mark_probability(); tc's red_eval_ewma() for Wlog. Linux keeps
/// qavg in fixed point and approximates the idle decay with a table (Stab); here both are exact floating
/// point: qavg *= (1-W)^(idle / (avpkt/bandwidth)).</remarks>
/// </summary>
public sealed class RedQdisc : Qdisc
{
    private readonly long _limit;
    private readonly double _qthMin, _qthMax, _maxP, _w, _xmitNs;
    private readonly bool _ecn, _hardDrop;
    private readonly SimRandom _rng;
    private double _qavg;
    private int _qcount = -1;
    private double _qR;
    private long _idleStart = -1;

    /// <summary>The EWMA weight's log (W = 2^-Wlog), as tc computes it from burst, min and avpkt.</summary>
    public int Wlog { get; }
    /// <summary>The average queue in bytes after the last arrival.</summary>
    public double Average => _qavg;
    /// <summary>Frames marked or dropped early (between the thresholds): prob_mark + prob_drop.</summary>
    public long ProbMarksOrDrops { get; private set; }
    /// <summary>Frames marked or dropped above max: forced_mark + forced_drop.</summary>
    public long ForcedMarksOrDrops { get; private set; }

    /// <summary>A RED queue for <paramref name="spec"/>; <paramref name="rateBps"/> is tc's bandwidth (the idle decay's clock).</summary>
    public RedQdisc(QueueSpec spec, double rateBps, SimRandom? rng = null)
    {
        _limit = spec.LimitBytes ?? 4 * spec.RedMax;
        _qthMin = spec.RedMin;
        _qthMax = spec.RedMax;
        _maxP = spec.RedProbability;
        _ecn = spec.Ecn;
        _hardDrop = spec.RedHardDrop;
        Wlog = EvalEwma(spec.RedMin, spec.RedBurst, spec.RedAvpkt);
        _w = Math.Pow(2, -Wlog);
        _xmitNs = rateBps > 0 ? spec.RedAvpkt * 8e9 / rateBps : 1;
        _rng = rng ?? new SimRandom(0x5245445F51444953UL);
    }

    /// <summary>tc_red_eval_ewma(): the smallest Wlog for which a burst of <paramref name="burst"/> packets does not push the average above min.</summary>
    /// <remarks>Mirrors iproute2 tc/tc_red.c: tc_red_eval_ewma().</remarks>
    public static int EvalEwma(long qmin, long burst, long avpkt)
    {
        double w = 0.5;
        double a = burst + 1 - (double)qmin / avpkt;
        if (a < 1.0) throw new ArgumentException($"burst {burst} is too small: try {1 + qmin / avpkt}");
        for (int wlog = 1; wlog < 32; wlog++, w /= 2)
            if (a <= (1 - Math.Pow(1 - w, burst)) / w) return wlog;
        throw new ArgumentException("no EWMA weight fits burst " + burst);
    }

    /// <inheritdoc/>
    public override bool Enqueue(SimFrame f, long now)
    {
        // red_calc_qavg(): from the idle time when the queue was idle, else the EWMA of the backlog.
        if (_idleStart >= 0)
        {
            double m = (now - _idleStart) / _xmitNs;
            _qavg *= Math.Pow(1 - _w, m);
            _idleStart = -1; // red_end_of_idle_period()
        }
        else
        {
            _qavg += _w * (Fifo.Bytes - _qavg);
        }

        // red_action()
        bool congestion = false, hard = false;
        if (_qavg < _qthMin)
        {
            _qcount = -1;
        }
        else if (_qavg >= _qthMax)
        {
            _qcount = -1;
            congestion = hard = true;
        }
        else
        {
            if (++_qcount != 0)
            {
                // red_mark_probability(): mark when pb * count >= R, R uniform, drawn anew after each mark.
                double pb = _maxP * (_qavg - _qthMin) / (_qthMax - _qthMin);
                if (pb * _qcount >= _qR)
                {
                    _qcount = 0;
                    _qR = _rng.NextDouble();
                    congestion = true;
                }
            }
            else
            {
                _qR = _rng.NextDouble();
            }
        }

        if (congestion)
        {
            if (hard) ForcedMarksOrDrops++; else ProbMarksOrDrops++;
            bool mayMark = _ecn && !(hard && _hardDrop);
            if (!(mayMark && MarkCe(f)))
            {
                Drops++;
                return false;
            }
        }
        // The child bfifo's limit.
        if (Fifo.Bytes + f.Length > _limit)
        {
            Drops++;
            return false;
        }
        f.EnqueueNs = now;
        Fifo.Enqueue(f);
        return true;
    }

    /// <inheritdoc/>
    public override SimFrame? Dequeue(long now, IDropSink sink)
    {
        var f = Fifo.Dequeue();
        if (f is null && _idleStart < 0) _idleStart = now; // red_start_of_idle_period()
        return f;
    }
}

/// <summary>
/// CoDel (Nichols and Jacobson, RFC 8289) as Linux's sch_codel: frames carry their enqueue time; on
/// dequeue, once the sojourn time has stayed above target for an interval, CoDel enters the dropping
/// state and drops (or CE-marks, with ecn, an ECT frame) at times spaced interval/sqrt(count), leaving it
/// when the sojourn falls below target or the backlog is at most one MTU. ce_threshold marks every ECT
/// frame whose sojourn exceeds it. The limit is in packets, dropping on enqueue.
/// <remarks>Mirrors include/net/codel_impl.h: codel_should_drop(), codel_dequeue(), and
/// net/sched/sch_codel.c: codel_qdisc_enqueue(). Linux approximates 1/sqrt(count) with Newton steps in
/// fixed point and keeps time in 1024 ns units; here both are exact (ns, Math.Sqrt).</remarks>
/// </summary>
public sealed class CodelQdisc : Qdisc
{
    private readonly long _limit, _target, _interval, _mtu;
    private readonly long? _ceThreshold;
    private readonly bool _ecn;
    // struct codel_vars
    private uint _count, _lastcount;
    private bool _dropping;
    private long _firstAboveTime; // 0: not above
    private long _dropNext;
    private long _ldelay;

    /// <summary>The sojourn time of the last frame dequeued (ldelay).</summary>
    public long LastDelayNs => _ldelay;
    /// <summary>Whether CoDel is in its dropping state.</summary>
    public bool Dropping => _dropping;
    /// <summary>The drop count of the current dropping state (count).</summary>
    public uint Count => _count;
    /// <summary>When the next drop is due in the dropping state (drop_next).</summary>
    public long DropNext => _dropNext;
    /// <summary>Frames marked because their sojourn exceeded ce_threshold.</summary>
    public long CeThresholdMarks { get; private set; }

    /// <summary>A CoDel queue for <paramref name="spec"/>; <paramref name="mtuFrame"/> is psched_mtu(dev) (MTU + link header).</summary>
    public CodelQdisc(QueueSpec spec, int mtuFrame)
    {
        _limit = spec.LimitPackets ?? 1000;
        _target = spec.CodelTargetNs;
        _interval = spec.CodelIntervalNs;
        _ceThreshold = spec.CodelCeThresholdNs;
        _ecn = spec.Ecn;
        _mtu = mtuFrame;
    }

    /// <inheritdoc/>
    public override bool Enqueue(SimFrame f, long now)
    {
        if (Fifo.Count < _limit)
        {
            f.EnqueueNs = now; // codel_set_enqueue_time()
            Fifo.Enqueue(f);
            return true;
        }
        Drops++;
        return false;
    }

    private long ControlLaw(long t) => t + (long)(_interval / Math.Sqrt(_count));

    /// <remarks>Mirrors codel_should_drop(); the backlog is the queue's after this frame left it.</remarks>
    private bool ShouldDrop(SimFrame? f, long now)
    {
        if (f is null)
        {
            _firstAboveTime = 0;
            return false;
        }
        _ldelay = now - f.EnqueueNs;
        if (_ldelay < _target || Fifo.Bytes <= _mtu)
        {
            _firstAboveTime = 0;
            return false;
        }
        if (_firstAboveTime == 0)
        {
            _firstAboveTime = now + _interval;
            return false;
        }
        return now > _firstAboveTime;
    }

    /// <inheritdoc/>
    public override SimFrame? Dequeue(long now, IDropSink sink)
    {
        var f = Fifo.Dequeue();
        if (f is null)
        {
            _dropping = false;
            return null;
        }
        bool drop = ShouldDrop(f, now);
        if (_dropping)
        {
            if (!drop)
            {
                _dropping = false;
            }
            else if (now >= _dropNext)
            {
                while (_dropping && now >= _dropNext)
                {
                    _count++;
                    if (_ecn && MarkCe(f!))
                    {
                        _dropNext = ControlLaw(_dropNext);
                        goto end;
                    }
                    Drops++;
                    sink.Dropped(f!, now);
                    f = Fifo.Dequeue();
                    if (!ShouldDrop(f, now)) _dropping = false;
                    else _dropNext = ControlLaw(_dropNext);
                }
            }
        }
        else if (drop)
        {
            if (_ecn && MarkCe(f!))
            {
            }
            else
            {
                Drops++;
                sink.Dropped(f!, now);
                f = Fifo.Dequeue();
                ShouldDrop(f, now);
            }
            _dropping = true;
            uint delta = _count - _lastcount;
            if (delta > 1 && now - _dropNext < 16 * _interval) _count = delta;
            else _count = 1;
            _lastcount = _count;
            _dropNext = ControlLaw(now);
        }
    end:
        if (f is not null && _ceThreshold is { } ce && _ldelay > ce && Ecn.Get(f.Span) > 0)
        {
            MarkCe(f);
            CeThresholdMarks++;
        }
        return f;
    }
}
