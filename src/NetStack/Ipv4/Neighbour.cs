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
/// The parameters of one neighbour table (struct neigh_parms) with Linux's defaults: one instance
/// per family, net.ipv4.neigh.default.* (arp_tbl) and net.ipv6.neigh.default.* (nd_tbl), registered
/// under the same names by <see cref="SysctlTable"/>.
/// </summary>
/// <remarks>Mirrors include/net/neighbour.h: struct neigh_parms (NEIGH_VAR()) and net/core/neighbour.c:
/// neigh_sysctl_register()'s table; the defaults are arp_tbl's and nd_tbl's.</remarks>
internal sealed class NeighParms
{
    /// <summary>base_reachable_time_ms: how long a confirmed entry stays REACHABLE.</summary>
    public int BaseReachableTimeMs = 30_000;
    /// <summary>retrans_time_ms: interval between probes (ARP requests, neighbour solicitations).</summary>
    public int RetransTimeMs = 1_000;
    /// <summary>delay_first_probe_time (ms here): DELAY before a unicast probe of a STALE entry in use.</summary>
    public int DelayFirstProbeTimeMs = 5_000;
    /// <summary>gc_stale_time (ms here): an unused STALE entry is removed after this.</summary>
    public int GcStaleTimeMs = 60_000;
    /// <summary>mcast_solicit / ucast_solicit.</summary>
    public int McastSolicit = 3, UcastSolicit = 3;
    /// <summary>unres_qlen_bytes: truesize of the packets queued per unresolved neighbour (SK_WMEM_MAX);
    /// unres_qlen is a view of it in packets of SKB_TRUESIZE(ETH_FRAME_LEN) (212992 / 2090 = 101).</summary>
    public int UnresQlenBytes = 212992;
    /// <summary>SKB_TRUESIZE(ETH_FRAME_LEN): the unit unres_qlen counts in (1514 + 576).</summary>
    public const int UnresQlenUnit = 1514 + NetStack.Core.Sock.SkbTruesizeOverhead;
    /// <summary>gc_thresh1: below this many entries the periodic GC removes nothing (not even STALE
    /// or FAILED ones); gc_thresh2: above it for 5 s a new entry forces a GC; gc_thresh3: the hard
    /// ceiling: a new entry that finds the table this full forces a GC and is refused if none went.
    /// Table-wide in Linux; per family here, as there.</summary>
    public int GcThresh1 = 128, GcThresh2 = 512, GcThresh3 = 1024;

    /// <summary>The neigh.default.* entries of <paramref name="p"/> (the caller's family prefix goes before them).</summary>
    /// <remarks>Mirrors neigh_sysctl_register() (proc_unres_qlen() for unres_qlen; gc_thresh1..3 are the table's).</remarks>
    public static CtlTable[] SysctlTable(NeighParms p) =>
    [
        CtlTable.Int("neigh.default.base_reachable_time_ms", () => p.BaseReachableTimeMs, v => p.BaseReachableTimeMs = v, 0),
        CtlTable.Int("neigh.default.retrans_time_ms", () => p.RetransTimeMs, v => p.RetransTimeMs = v, 0),
        CtlTable.Scaled("neigh.default.delay_first_probe_time", () => p.DelayFirstProbeTimeMs, v => p.DelayFirstProbeTimeMs = v, 1000),
        CtlTable.Scaled("neigh.default.gc_stale_time", () => p.GcStaleTimeMs, v => p.GcStaleTimeMs = v, 1000),
        CtlTable.Int("neigh.default.mcast_solicit", () => p.McastSolicit, v => p.McastSolicit = v, 0),
        CtlTable.Int("neigh.default.ucast_solicit", () => p.UcastSolicit, v => p.UcastSolicit = v, 0),
        CtlTable.Int("neigh.default.unres_qlen", () => p.UnresQlenBytes / UnresQlenUnit,
            v => p.UnresQlenBytes = v * UnresQlenUnit, 0, int.MaxValue / UnresQlenUnit),
        CtlTable.Int("neigh.default.unres_qlen_bytes", () => p.UnresQlenBytes, v => p.UnresQlenBytes = v, 0),
        CtlTable.Int("neigh.default.gc_thresh1", () => p.GcThresh1, v => p.GcThresh1 = v, 0),
        CtlTable.Int("neigh.default.gc_thresh2", () => p.GcThresh2, v => p.GcThresh2 = v, 0),
        CtlTable.Int("neigh.default.gc_thresh3", () => p.GcThresh3, v => p.GcThresh3 = v, 0),
    ];
}

/// <summary>
/// What a protocol gives the shared neighbour code: its table's name, key length and EtherType,
/// its parameters, how to solicit an address and how to report packets that could not be sent.
/// </summary>
/// <remarks>Mirrors include/net/neighbour.h: struct neigh_ops (solicit, error_report) and the
/// protocol fields of struct neigh_table (id, key_len, protocol, parms); arp_tbl and nd_tbl fill them.</remarks>
internal abstract class NeighOps
{
    /// <summary>tbl->id: "arp_cache", "ndisc_cache".</summary>
    public abstract string Id { get; }
    /// <summary>tbl->key_len: 4 for IPv4, 16 for IPv6.</summary>
    public abstract int KeyLen { get; }
    /// <summary>tbl->protocol: the EtherType of the packets sent through the entries.</summary>
    public abstract ushort Protocol { get; }
    /// <summary>tbl->parms of <paramref name="net"/>.</summary>
    public abstract NeighParms Parms(NetNamespace net);
    /// <summary>Sends one probe for the entry: multicast while INCOMPLETE, unicast while PROBE.</summary>
    /// <remarks>neigh_ops.solicit (arp_solicit, ndisc_solicit).</remarks>
    public abstract void Solicit(NetNamespace net, Neighbour n);
    /// <summary>A packet that waited for a resolution that failed (Data at its network header); the caller frees it.</summary>
    /// <remarks>neigh_ops.error_report (arp_error_report, ndisc_error_report).</remarks>
    public abstract void ErrorReport(NetNamespace net, Neighbour n, SkBuff skb);
    /// <summary>The key as `ip neigh` prints it.</summary>
    public abstract string FormatKey(UInt128 key);
}

/// <summary>
/// One neighbour cache entry (ARP or ndisc). The key is the protocol address, 4 or 16 bytes as the
/// table's key_len says, held as a 128-bit number (an IPv4 address in its low 32 bits).
/// <remarks>Mirrors include/net/neighbour.h: struct neighbour.</remarks>
/// </summary>
internal sealed class Neighbour
{
    internal Neighbour(NeighTable tbl, UInt128 key, NetDevice dev)
    {
        PrimaryKey = key;
        Dev = dev;
        Timer = new TimerList(NeighTable.NeighTimerHandler, this);
        Table = tbl;
    }

    internal readonly NeighTable Table;
    /// <summary>neigh->primary_key: the protocol address (an IPv4 address in the low 32 bits for ARP).</summary>
    public UInt128 PrimaryKey { get; }
    public NetDevice Dev { get; }
    public MacAddress HaAddr { get; internal set; }
    public NudState NudState { get; internal set; }
    /// <summary>When reachability was last confirmed, and when the entry was last used to send.</summary>
    public long Confirmed { get; internal set; }
    public long Used { get; internal set; }
    public long Updated { get; internal set; }
    internal int Probes;
    /// <summary>Packets waiting for resolution (neigh->arp_queue) and their truesize (arp_queue_len_bytes).</summary>
    internal readonly SkBuffQueue ArpQueue = new();
    internal int ArpQueueLenBytes;
    /// <summary>neigh->gc_list: the table's list of entries the forced GC may take, oldest first; permanent
    /// entries are not on it (exempt_from_gc).</summary>
    internal Neighbour? GcPrev, GcNext;
    internal bool OnGcList;
    internal readonly TimerList Timer;

    public override string ToString() => $"{Table.Ops.FormatKey(PrimaryKey)} dev {Dev.Name} lladdr {HaAddr} {NudState.ToString().ToUpperInvariant()}";
}

/// <summary>
/// A neighbour cache with NUD: entries resolve (INCOMPLETE), are confirmed (REACHABLE), age (STALE),
/// are re-probed when used (DELAY, PROBE) and expire (FAILED, garbage collected). One implementation
/// serves ARP (arp_tbl, 4-byte keys) and IPv6 neighbour discovery (nd_tbl, 16-byte keys); what
/// differs is in <see cref="NeighOps"/>.
/// <remarks>Mirrors net/core/neighbour.c (neigh_lookup, __neigh_create, neigh_update, neigh_resolve_output, neigh_timer_handler).</remarks>
/// </summary>
internal sealed class NeighTable
{
    private readonly NetNamespace _net;
    private readonly MibTable<NeighStat> _stats;
    private readonly Dictionary<(UInt128 Key, int IfIndex), Neighbour> _hash = new();
    /// <summary>tbl->gc_list, oldest first, and its length (tbl->gc_entries).</summary>
    private Neighbour? _gcHead, _gcTail;
    private int _gcEntries;
    /// <summary>tbl->last_flush: when a forced GC last ran to the end.</summary>
    private long _lastFlush;

    public NeighTable(NetNamespace net, NeighOps ops, MibTable<NeighStat> stats)
    {
        _net = net;
        Ops = ops;
        _stats = stats;
        _lastFlush = net.NowNs;
    }

    /// <summary>The protocol's half (arp_tbl's or nd_tbl's ops, id, key_len, parms).</summary>
    public NeighOps Ops { get; }
    /// <summary>The table's statistics (tbl->stats: /proc/net/stat/arp_cache or ndisc_cache).</summary>
    public MibTable<NeighStat> Stats => _stats;
    private NeighParms Parms => Ops.Parms(_net);

    /// <summary>tbl->entries: every entry, permanent ones included.</summary>
    public int Count => _hash.Count;
    /// <summary>tbl->gc_entries: the entries the gc_thresh limits apply to (not permanent).</summary>
    public int GcEntries => _gcEntries;

    private static (UInt128, int) HashKey(UInt128 key, NetDevice dev) => (key, dev.IfIndex);

    /// <remarks>Mirrors neigh_lookup().</remarks>
    public Neighbour? NeighLookup(UInt128 key, NetDevice dev)
    {
        var stats = _stats;
        stats[NeighStat.Lookups]++;
        if (!_hash.TryGetValue(HashKey(key, dev), out var n)) return null;
        stats[NeighStat.Hits]++;
        return n;
    }

    /// <summary>A snapshot of the cache (`ip neigh show`).</summary>
    public List<Neighbour> Snapshot()
    {
        lock (_net.SyncRoot) return new List<Neighbour>(_hash.Values);
    }

    /// <summary>
    /// A new entry, or null when the table is at gc_thresh3 (or above gc_thresh2 with no forced GC
    /// for 5 s) and a forced GC freed nothing: the caller drops and reports ENOBUFS. Permanent
    /// entries and the loopback device's are exempt from the limits.
    /// </summary>
    /// <remarks>Mirrors __neigh_create() -> neigh_alloc().</remarks>
    internal Neighbour? NeighCreate(UInt128 key, NetDevice dev, bool exemptFromGc = false)
    {
        exemptFromGc |= dev == _net.Loopback;
        var stats = _stats;
        if (!exemptFromGc)
        {
            var p = Parms;
            int entries = _gcEntries;
            long now = _net.NowNs;
            if (entries >= p.GcThresh3 || (entries >= p.GcThresh2 && now > _lastFlush + Time.Sec(5)))
            {
                if (NeighForcedGc() == 0 && entries >= p.GcThresh3)
                {
                    if (_net.Log.NetRatelimit()) _net.Log.Printk($"{Ops.Id}: neighbor table overflow!"); // net_info_ratelimited
                    stats[NeighStat.TableFulls]++;
                    return null;
                }
            }
        }
        var n = new Neighbour(this, key, dev) { Updated = _net.NowNs, Used = _net.NowNs };
        stats[NeighStat.Allocs]++;
        if (!exemptFromGc) GcListAdd(n);
        _hash[HashKey(key, dev)] = n;
        return n;
    }

    /// <summary>
    /// Frees up to (gc_entries - gc_thresh2) entries, oldest first, that nothing holds (no timer
    /// running: not INCOMPLETE, REACHABLE, DELAY or PROBE) and that are FAILED, NOARP or not updated
    /// for 5 s. Returns how many went.
    /// </summary>
    /// <remarks>Mirrors neigh_forced_gc() (its 1 ms time budget is moot under the stack lock).</remarks>
    internal int NeighForcedGc()
    {
        var stats = _stats;
        int maxClean = _gcEntries - Parms.GcThresh2;
        long now = _net.NowNs, tref = now - Time.Sec(5);
        int shrunk = 0;
        stats[NeighStat.ForcedGcRuns]++;
        for (var n = _gcHead; n is not null;)
        {
            var next = n.GcNext;
            if ((n.NudState & NudState.InTimer) == 0) // refcount_read(&n->refcnt) == 1
            {
                bool remove = n.NudState is NudState.Failed or NudState.NoArp || n.Updated < tref || n.Updated > now;
                if (remove)
                {
                    Remove(n);
                    shrunk++;
                }
                if (shrunk >= maxClean) break;
            }
            n = next;
        }
        _lastFlush = now;
        return shrunk;
    }

    private void GcListAdd(Neighbour n)
    {
        n.GcPrev = _gcTail;
        n.GcNext = null;
        if (_gcTail is null) _gcHead = n; else _gcTail.GcNext = n;
        _gcTail = n;
        n.OnGcList = true;
        _gcEntries++;
    }

    private void GcListDel(Neighbour n)
    {
        if (!n.OnGcList) return;
        if (n.GcPrev is null) _gcHead = n.GcNext; else n.GcPrev.GcNext = n.GcNext;
        if (n.GcNext is null) _gcTail = n.GcPrev; else n.GcNext.GcPrev = n.GcPrev;
        n.GcPrev = n.GcNext = null;
        n.OnGcList = false;
        _gcEntries--;
    }

    /// <remarks>Mirrors neigh_remove_one() / neigh_cleanup_and_release() -> neigh_destroy().</remarks>
    private void Remove(Neighbour n)
    {
        _net.Timers.DelTimer(n.Timer);
        PurgeArpQueue(n, SkbDropReason.NeighDead);
        GcListDel(n);
        _hash.Remove(HashKey(n.PrimaryKey, n.Dev));
        _stats[NeighStat.Destroys]++;
    }

    /// <summary>
    /// Resolution failed: every packet that waited for it is reported as undeliverable (the
    /// protocol's error_report: an ICMP host unreachable, or an ICMPv6 address unreachable, to the
    /// packet's source) before it is dropped.
    /// </summary>
    /// <remarks>Mirrors net/core/neighbour.c: neigh_invalidate() -> neigh->ops->error_report.</remarks>
    private void NeighInvalidate(Neighbour n)
    {
        while (n.ArpQueue.Dequeue() is { } skb)
        {
            n.ArpQueueLenBytes -= Sock.SkbTruesize(skb);
            if (skb.NetworkHeader >= 0 && skb.NetworkHeader < skb.Data + skb.Len)
            {
                skb.Data = skb.NetworkHeader; // the error quotes from the IP header
                Ops.ErrorReport(_net, n, skb);
            }
            _net.KfreeSkbReason(skb, SkbDropReason.NeighFailed);
        }
        n.ArpQueueLenBytes = 0;
    }

    private void PurgeArpQueue(Neighbour n, SkbDropReason reason)
    {
        while (n.ArpQueue.Dequeue() is { } skb) _net.KfreeSkbReason(skb, reason);
        n.ArpQueueLenBytes = 0;
    }

    /// <summary>
    /// `ip neigh add|replace ADDR lladdr MAC dev DEV nud permanent`: a permanent entry. -EEXIST when
    /// <paramref name="replace"/> is false and an entry exists (NLM_F_EXCL).
    /// </summary>
    /// <remarks>Mirrors net/core/neighbour.c: neigh_add().</remarks>
    public int NeighAdd(UInt128 key, NetDevice dev, MacAddress lladdr, bool replace)
    {
        lock (_net.SyncRoot)
        {
            var n = NeighLookup(key, dev);
            if (n is not null && !replace) return -Uapi.Errno.EEXIST;
            n ??= NeighCreate(key, dev, exemptFromGc: true)!;
            NeighUpdate(n, lladdr, NudState.Permanent);
            return 0;
        }
    }

    /// <summary>`ip neigh del ADDR dev DEV`: removes the entry; -ENOENT when there is none.</summary>
    /// <remarks>Mirrors neigh_delete() -> __neigh_remove().</remarks>
    public int NeighDelete(UInt128 key, NetDevice dev)
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
    public void AddPermanent(UInt128 key, NetDevice dev, MacAddress lladdr)
    {
        lock (_net.SyncRoot)
        {
            var n = NeighLookup(key, dev) ?? NeighCreate(key, dev, exemptFromGc: true)!;
            NeighUpdate(n, lladdr, NudState.Permanent);
        }
    }

    /// <summary>
    /// Sends a packet whose IP header is in place to the next hop, resolving its address first
    /// if needed (queueing the packet meanwhile). Consumes the buffer.
    /// </summary>
    /// <remarks>Mirrors neigh_resolve_output() + __neigh_event_send().</remarks>
    public int NeighResolveOutput(SkBuff skb, UInt128 nexthop, NetDevice dev)
    {
        var n = NeighLookup(nexthop, dev) ?? NeighCreate(nexthop, dev);
        if (n is null)
        {
            // ip_finish_output2(): no neighbour could be made (table full): drop, -ENOBUFS to the sender.
            _net.KfreeSkbReason(skb, SkbDropReason.NeighCreateFail);
            return -Uapi.Errno.ENOBUFS;
        }
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
            _net.Timers.ModTimer(n.Timer, now + Time.Ms(Parms.DelayFirstProbeTimeMs));
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
            _net.Timers.ModTimer(n.Timer, now + Time.Ms(Parms.RetransTimeMs));
            return 0;
        }
        // INCOMPLETE: wait with the others.
        Enqueue(n, skb);
        return 0;
    }

    /// <remarks>Mirrors __neigh_event_send()'s queueing: unres_qlen_bytes bounds the queue's truesize,
    /// the oldest waiting packets make room (counted as unresolved_discards).</remarks>
    private void Enqueue(Neighbour n, SkBuff skb)
    {
        int size = Sock.SkbTruesize(skb);
        while (n.ArpQueueLenBytes + size > Parms.UnresQlenBytes)
        {
            var old = n.ArpQueue.Dequeue();
            if (old is null) break;
            n.ArpQueueLenBytes -= Sock.SkbTruesize(old);
            _net.KfreeSkbReason(old, SkbDropReason.NeighQueueFull);
            _stats[NeighStat.UnresDiscards]++;
        }
        n.ArpQueue.EnqueueTail(skb);
        n.ArpQueueLenBytes += size;
    }

    private static int Xmit(SkBuff skb, Neighbour n)
    {
        Eth.EthHeader(skb, n.Table.Ops.Protocol, n.HaAddr, n.Dev.DevAddr);
        skb.Dev = n.Dev;
        return Dev.DevQueueXmit(skb);
    }

    /// <summary>
    /// Applies new link-layer information: records the address and state and, when the entry
    /// becomes valid, sends every packet that waited for it.
    /// </summary>
    /// <param name="n">The entry.</param>
    /// <param name="lladdr">Its link-layer address.</param>
    /// <param name="state">The new state.</param>
    /// <param name="weakOverridden">The caller already applied NEIGH_UPDATE_F_WEAK_OVERRIDE (a different address
    /// without override made a confirmed entry STALE, keeping its address): the state is taken as given.</param>
    /// <remarks>Mirrors neigh_update().</remarks>
    internal void NeighUpdate(Neighbour n, MacAddress lladdr, NudState state, bool weakOverridden = false)
    {
        long now = _net.NowNs;
        if (n.NudState == NudState.Permanent && state != NudState.Permanent) return; // admin entries win
        var old = n.NudState;
        bool changed = n.HaAddr != lladdr;
        // A STALE update with the same address must not demote a REACHABLE entry.
        if (state == NudState.Stale && !changed && !weakOverridden && (old & NudState.Valid) != 0) state = old;
        n.HaAddr = lladdr;
        n.NudState = state;
        n.Updated = now;
        if (state == NudState.Reachable) n.Confirmed = now;
        n.Probes = 0;
        if ((state & NudState.InTimer) != 0)
            _net.Timers.ModTimer(n.Timer, now + Time.Ms(state == NudState.Reachable ? Parms.BaseReachableTimeMs : Parms.DelayFirstProbeTimeMs));
        else if (state == NudState.Stale)
            _net.Timers.ModTimer(n.Timer, now + Time.Ms(Parms.GcStaleTimeMs)); // garbage collection
        else
            _net.Timers.DelTimer(n.Timer);
        if (state == NudState.Permanent) GcListDel(n); // neigh_update_gc_list(): admin entries are exempt
        if ((old & NudState.Valid) == 0 && (state & NudState.Valid) != 0)
        {
            while (n.ArpQueue.Dequeue() is { } skb) Xmit(skb, n);
            n.ArpQueueLenBytes = 0;
        }
    }

    /// <summary>Sends a probe for the entry: broadcast/multicast while INCOMPLETE, unicast while PROBE.</summary>
    /// <remarks>Mirrors neigh_probe() -> neigh->ops->solicit (arp_solicit(), ndisc_solicit()).</remarks>
    private void NeighProbe(Neighbour n) => Ops.Solicit(_net, n);

    /// <remarks>Mirrors neigh_timer_handler().</remarks>
    internal static void NeighTimerHandler(TimerList t)
    {
        var n = (Neighbour)t.Owner!;
        n.Table.OnTimer(n);
    }

    private void OnTimer(Neighbour n)
    {
        var p = Parms;
        long now = _net.NowNs;
        switch (n.NudState)
        {
            case NudState.Reachable:
                if (now < n.Confirmed + Time.Ms(p.BaseReachableTimeMs))
                    _net.Timers.ModTimer(n.Timer, n.Confirmed + Time.Ms(p.BaseReachableTimeMs));
                else if (now <= n.Used + Time.Ms(p.DelayFirstProbeTimeMs))
                {
                    // Used within delay_first_probe_time: suspect it but keep using it (DELAY), as
                    // neigh_timer_handler() does, instead of waiting for the next send to notice.
                    n.NudState = NudState.Delay;
                    n.Updated = now;
                    _net.Timers.ModTimer(n.Timer, now + Time.Ms(p.DelayFirstProbeTimeMs));
                }
                else
                {
                    n.NudState = NudState.Stale;
                    n.Updated = now;
                    _net.Timers.ModTimer(n.Timer, now + Time.Ms(p.GcStaleTimeMs));
                }
                return;
            case NudState.Stale:
                // neigh_periodic_work(): an entry unused for gc_stale_time goes away, but only while
                // the table holds at least gc_thresh1 entries; below it the pass looks again later.
                if (Count < p.GcThresh1) _net.Timers.ModTimer(n.Timer, now + Time.Ms(p.BaseReachableTimeMs / 2));
                else if (now >= n.Used + Time.Ms(p.GcStaleTimeMs)) Remove(n);
                else _net.Timers.ModTimer(n.Timer, n.Used + Time.Ms(p.GcStaleTimeMs));
                return;
            case NudState.Delay:
                if (now < n.Confirmed + Time.Ms(p.DelayFirstProbeTimeMs))
                {
                    n.NudState = NudState.Reachable;
                    _net.Timers.ModTimer(n.Timer, n.Confirmed + Time.Ms(p.BaseReachableTimeMs));
                    return;
                }
                n.NudState = NudState.Probe;
                n.Probes = 0;
                goto case NudState.Probe;
            case NudState.Failed:
                // neigh_periodic_work(): an unreferenced FAILED entry goes away (at gc_thresh1 entries or more).
                if (Count < p.GcThresh1) _net.Timers.ModTimer(n.Timer, now + Time.Ms(p.BaseReachableTimeMs / 2));
                else Remove(n);
                return;
            case NudState.Incomplete:
            case NudState.Probe:
                int max = n.NudState == NudState.Incomplete ? p.McastSolicit : p.UcastSolicit;
                if (n.Probes >= max)
                {
                    n.NudState = NudState.Failed;
                    n.Updated = now;
                    _stats[NeighStat.ResFailed]++;
                    NeighInvalidate(n);
                    // The entry stays FAILED (`ip neigh` shows it) until the garbage collector's next
                    // pass, which neigh_periodic_work() runs every base_reachable_time / 2.
                    _net.Timers.ModTimer(n.Timer, now + Time.Ms(p.BaseReachableTimeMs / 2));
                    return;
                }
                NeighProbe(n);
                n.Probes++;
                _net.Timers.ModTimer(n.Timer, now + Time.Ms(p.RetransTimeMs));
                return;
        }
    }
}
