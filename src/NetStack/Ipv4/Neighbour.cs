using NetStack.Core;
using NetStack.Ethernet;
using NetStack.Wire;

namespace NetStack.Ipv4;

/// <summary>Neighbour Unreachability Detection states (include/uapi/linux/neighbour.h: NUD_*).</summary>
[Flags]
internal enum NudState : byte
{
    None = 0x00,
    Incomplete = 0x01,
    Reachable = 0x02,
    Stale = 0x04,
    Delay = 0x08,
    Probe = 0x10,
    Failed = 0x20,
    NoArp = 0x40,
    Permanent = 0x80,
    /// <summary>NUD_VALID: states whose lladdr can be used.</summary>
    Valid = Permanent | NoArp | Reachable | Probe | Stale | Delay,
    /// <summary>NUD_IN_TIMER: states that run the neighbour timer.</summary>
    InTimer = Incomplete | Reachable | Delay | Probe,
}

/// <summary>
/// One ARP cache entry. <remarks>Mirrors include/net/neighbour.h: struct neighbour.</remarks>
/// </summary>
internal sealed class Neighbour
{
    internal Neighbour(NeighTable tbl, uint key, NetDevice dev)
    {
        PrimaryKey = key;
        Dev = dev;
        Timer = new TimerList(NeighTable.NeighTimerHandler, this);
        Table = tbl;
    }

    internal readonly NeighTable Table;
    public uint PrimaryKey { get; }
    public NetDevice Dev { get; }
    public MacAddress HaAddr { get; internal set; }
    public NudState NudState { get; internal set; }
    /// <summary>When reachability was last confirmed, and when the entry was last used to send.</summary>
    public long Confirmed { get; internal set; }
    public long Used { get; internal set; }
    public long Updated { get; internal set; }
    internal int Probes;
    /// <summary>Packets waiting for resolution (neigh->arp_queue).</summary>
    internal readonly SkBuffQueue ArpQueue = new();
    internal readonly TimerList Timer;

    public override string ToString() => $"{Ipv4Address.Format(PrimaryKey)} dev {Dev.Name} lladdr {HaAddr} {NudState.ToString().ToUpperInvariant()}";
}

/// <summary>
/// The ARP cache with NUD: entries resolve (INCOMPLETE), are confirmed (REACHABLE), age (STALE),
/// are re-probed when used (DELAY, PROBE) and expire (FAILED, garbage collected).
/// <remarks>Mirrors net/core/neighbour.c (neigh_lookup, __neigh_create, neigh_update, neigh_resolve_output, neigh_timer_handler) for arp_tbl.</remarks>
/// </summary>
internal sealed class NeighTable
{
    private readonly NetNamespace _net;
    private readonly Dictionary<ulong, Neighbour> _hash = new();

    public NeighTable(NetNamespace net) => _net = net;

    public int Count => _hash.Count;

    private static ulong HashKey(uint key, NetDevice dev) => ((ulong)(uint)dev.IfIndex << 32) | key;

    /// <remarks>Mirrors neigh_lookup().</remarks>
    public Neighbour? NeighLookup(uint key, NetDevice dev) => _hash.TryGetValue(HashKey(key, dev), out var n) ? n : null;

    /// <summary>A snapshot of the cache (`ip neigh show`).</summary>
    public List<Neighbour> Snapshot()
    {
        lock (_net.SyncRoot) return new List<Neighbour>(_hash.Values);
    }

    /// <remarks>Mirrors __neigh_create().</remarks>
    internal Neighbour NeighCreate(uint key, NetDevice dev)
    {
        var n = new Neighbour(this, key, dev) { Updated = _net.NowNs, Used = _net.NowNs };
        _hash[HashKey(key, dev)] = n;
        return n;
    }

    private void Remove(Neighbour n)
    {
        _net.Timers.DelTimer(n.Timer);
        while (n.ArpQueue.Dequeue() is { } skb) _net.KfreeSkbReason(skb, SkbDropReason.NeighDead);
        _hash.Remove(HashKey(n.PrimaryKey, n.Dev));
    }

    /// <summary>
    /// `ip neigh add|replace ADDR lladdr MAC dev DEV nud permanent`: a permanent entry. -EEXIST when
    /// <paramref name="replace"/> is false and an entry exists (NLM_F_EXCL).
    /// </summary>
    /// <remarks>Mirrors net/core/neighbour.c: neigh_add().</remarks>
    public int NeighAdd(uint key, NetDevice dev, MacAddress lladdr, bool replace)
    {
        lock (_net.SyncRoot)
        {
            var n = NeighLookup(key, dev);
            if (n is not null && !replace) return -Uapi.Errno.EEXIST;
            n ??= NeighCreate(key, dev);
            NeighUpdate(n, lladdr, NudState.Permanent);
            return 0;
        }
    }

    /// <summary>`ip neigh del ADDR dev DEV`: removes the entry; -ENOENT when there is none.</summary>
    /// <remarks>Mirrors neigh_delete() -> __neigh_remove().</remarks>
    public int NeighDelete(uint key, NetDevice dev)
    {
        lock (_net.SyncRoot)
        {
            var n = NeighLookup(key, dev);
            if (n is null) return -Uapi.Errno.ENOENT;
            Remove(n);
            return 0;
        }
    }

    /// <summary>
    /// `ip neigh flush [dev DEV]`: removes the entries (of one device, or all) except the
    /// administrative ones (PERMANENT, NOARP), as iproute2's flush does; returns how many.
    /// </summary>
    public int NeighFlush(NetDevice? dev)
    {
        lock (_net.SyncRoot)
        {
            var victims = _hash.Values.Where(n => (dev is null || n.Dev == dev) && (n.NudState & (NudState.Permanent | NudState.NoArp)) == 0).ToList();
            foreach (var n in victims) Remove(n);
            return victims.Count;
        }
    }

    /// <summary>A device went down: every entry of it goes, permanent ones included; queued packets are dropped.</summary>
    /// <remarks>Mirrors neigh_ifdown() (neigh_flush_dev() with skip_perm false).</remarks>
    public void NeighIfdown(NetDevice dev)
    {
        foreach (var n in _hash.Values.Where(n => n.Dev == dev).ToList()) Remove(n);
    }

    /// <summary>The state's name as `ip neigh` prints it (REACHABLE, STALE, DELAY, PROBE, FAILED, INCOMPLETE, PERMANENT, NOARP, NONE).</summary>
    public static string NudStateName(NudState s) => s switch
    {
        NudState.Incomplete => "INCOMPLETE",
        NudState.Reachable => "REACHABLE",
        NudState.Stale => "STALE",
        NudState.Delay => "DELAY",
        NudState.Probe => "PROBE",
        NudState.Failed => "FAILED",
        NudState.NoArp => "NOARP",
        NudState.Permanent => "PERMANENT",
        _ => "NONE",
    };

    /// <summary>Adds or replaces a permanent entry (`ip neigh replace ... nud permanent`).</summary>
    public void AddPermanent(uint key, NetDevice dev, MacAddress lladdr)
    {
        lock (_net.SyncRoot)
        {
            var n = NeighLookup(key, dev) ?? NeighCreate(key, dev);
            NeighUpdate(n, lladdr, NudState.Permanent);
        }
    }

    /// <summary>
    /// Sends a packet whose IP header is in place to the next hop, resolving its address first
    /// if needed (queueing the packet meanwhile). Consumes the buffer.
    /// </summary>
    /// <remarks>Mirrors neigh_resolve_output() + __neigh_event_send().</remarks>
    public int NeighResolveOutput(SkBuff skb, uint nexthop, NetDevice dev)
    {
        var n = NeighLookup(nexthop, dev) ?? NeighCreate(nexthop, dev);
        long now = _net.NowNs;
        n.Used = now;
        var s = n.NudState;
        if ((s & (NudState.Reachable | NudState.Permanent | NudState.NoArp | NudState.Delay | NudState.Probe)) != 0)
            return Xmit(skb, n);
        if (s == NudState.Stale)
        {
            // neigh_event_send(): a STALE entry in use goes to DELAY; its address is still used.
            n.NudState = NudState.Delay;
            n.Updated = now;
            _net.Timers.ModTimer(n.Timer, now + Time.Ms(_net.Ipv4.Sysctl.NeighDelayFirstProbeTimeMs));
            return Xmit(skb, n);
        }
        if (s is NudState.None or NudState.Failed)
        {
            n.NudState = NudState.Incomplete;
            n.Probes = 0;
            n.Updated = now;
            Enqueue(n, skb);
            NeighProbe(n);
            n.Probes++;
            _net.Timers.ModTimer(n.Timer, now + Time.Ms(_net.Ipv4.Sysctl.NeighRetransTimeMs));
            return 0;
        }
        // INCOMPLETE: wait with the others.
        Enqueue(n, skb);
        return 0;
    }

    private void Enqueue(Neighbour n, SkBuff skb)
    {
        // unres_qlen: the oldest waiting packet makes room (the kernel drops from the head).
        while (n.ArpQueue.QLen >= _net.Ipv4.Sysctl.NeighUnresQlen && n.ArpQueue.Dequeue() is { } old)
            _net.KfreeSkbReason(old, SkbDropReason.NeighQueueFull);
        n.ArpQueue.EnqueueTail(skb);
    }

    private static int Xmit(SkBuff skb, Neighbour n)
    {
        Eth.EthHeader(skb, EthP.IP, n.HaAddr, n.Dev.DevAddr);
        skb.Dev = n.Dev;
        return Dev.DevQueueXmit(skb);
    }

    /// <summary>
    /// Applies new link-layer information: records the address and state and, when the entry
    /// becomes valid, sends every packet that waited for it.
    /// </summary>
    /// <remarks>Mirrors neigh_update().</remarks>
    internal void NeighUpdate(Neighbour n, MacAddress lladdr, NudState state)
    {
        long now = _net.NowNs;
        if (n.NudState == NudState.Permanent && state != NudState.Permanent) return; // admin entries win
        var old = n.NudState;
        bool changed = n.HaAddr != lladdr;
        // A STALE update with the same address must not demote a REACHABLE entry (NEIGH_UPDATE_F_WEAK_OVERRIDE).
        if (state == NudState.Stale && !changed && (old & NudState.Valid) != 0) state = old;
        n.HaAddr = lladdr;
        n.NudState = state;
        n.Updated = now;
        if (state == NudState.Reachable) n.Confirmed = now;
        n.Probes = 0;
        if ((state & NudState.InTimer) != 0)
            _net.Timers.ModTimer(n.Timer, now + Time.Ms(state == NudState.Reachable ? _net.Ipv4.Sysctl.NeighBaseReachableTimeMs : _net.Ipv4.Sysctl.NeighDelayFirstProbeTimeMs));
        else if (state == NudState.Stale)
            _net.Timers.ModTimer(n.Timer, now + Time.Ms(_net.Ipv4.Sysctl.NeighGcStaleTimeMs)); // garbage collection
        else
            _net.Timers.DelTimer(n.Timer);
        if ((old & NudState.Valid) == 0 && (state & NudState.Valid) != 0)
        {
            while (n.ArpQueue.Dequeue() is { } skb) Xmit(skb, n);
        }
    }

    /// <summary>Sends an ARP request for the entry: broadcast while INCOMPLETE, unicast while PROBE.</summary>
    /// <remarks>Mirrors neigh_probe() -> arp_solicit().</remarks>
    private void NeighProbe(Neighbour n)
    {
        var dev = n.Dev;
        uint sip = InetAddress.InetSelectAddr(dev, n.PrimaryKey);
        var dst = n.NudState == NudState.Probe ? n.HaAddr : MacAddress.Broadcast;
        Arp.ArpSend(_net, ArpPacket.OpRequest, n.PrimaryKey, dev, sip, dst, dev.DevAddr, MacAddress.Zero);
    }

    /// <remarks>Mirrors neigh_timer_handler().</remarks>
    internal static void NeighTimerHandler(TimerList t)
    {
        var n = (Neighbour)t.Owner!;
        n.Table.OnTimer(n);
    }

    private void OnTimer(Neighbour n)
    {
        var p = _net.Ipv4.Sysctl;
        long now = _net.NowNs;
        switch (n.NudState)
        {
            case NudState.Reachable:
                if (now < n.Confirmed + Time.Ms(p.NeighBaseReachableTimeMs))
                    _net.Timers.ModTimer(n.Timer, n.Confirmed + Time.Ms(p.NeighBaseReachableTimeMs));
                else if (now <= n.Used + Time.Ms(p.NeighDelayFirstProbeTimeMs))
                {
                    // Used within delay_first_probe_time: suspect it but keep using it (DELAY), as
                    // neigh_timer_handler() does, instead of waiting for the next send to notice.
                    n.NudState = NudState.Delay;
                    n.Updated = now;
                    _net.Timers.ModTimer(n.Timer, now + Time.Ms(p.NeighDelayFirstProbeTimeMs));
                }
                else
                {
                    n.NudState = NudState.Stale;
                    n.Updated = now;
                    _net.Timers.ModTimer(n.Timer, now + Time.Ms(p.NeighGcStaleTimeMs));
                }
                return;
            case NudState.Stale:
                // neigh_periodic_work(): an entry unused for gc_stale_time goes away.
                if (now >= n.Used + Time.Ms(p.NeighGcStaleTimeMs)) Remove(n);
                else _net.Timers.ModTimer(n.Timer, n.Used + Time.Ms(p.NeighGcStaleTimeMs));
                return;
            case NudState.Delay:
                if (now < n.Confirmed + Time.Ms(p.NeighDelayFirstProbeTimeMs))
                {
                    n.NudState = NudState.Reachable;
                    _net.Timers.ModTimer(n.Timer, n.Confirmed + Time.Ms(p.NeighBaseReachableTimeMs));
                    return;
                }
                n.NudState = NudState.Probe;
                n.Probes = 0;
                goto case NudState.Probe;
            case NudState.Failed:
                // neigh_periodic_work(): an unreferenced FAILED entry goes away.
                Remove(n);
                return;
            case NudState.Incomplete:
            case NudState.Probe:
                int max = n.NudState == NudState.Incomplete ? p.NeighMcastSolicit : p.NeighUcastSolicit;
                if (n.Probes >= max)
                {
                    // neigh_invalidate(): give up; waiting packets are dropped (the kernel also sends
                    // ICMP host unreachable for them, which for locally generated packets is the same drop).
                    n.NudState = NudState.Failed;
                    n.Updated = now;
                    while (n.ArpQueue.Dequeue() is { } skb) _net.KfreeSkbReason(skb, SkbDropReason.NeighFailed);
                    // The entry stays FAILED (`ip neigh` shows it) until the garbage collector's next
                    // pass, which neigh_periodic_work() runs every base_reachable_time / 2.
                    _net.Timers.ModTimer(n.Timer, now + Time.Ms(p.NeighBaseReachableTimeMs / 2));
                    return;
                }
                NeighProbe(n);
                n.Probes++;
                _net.Timers.ModTimer(n.Timer, now + Time.Ms(p.NeighRetransTimeMs));
                return;
        }
    }
}
