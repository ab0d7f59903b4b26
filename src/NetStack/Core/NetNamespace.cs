using NetStack.Ipv4;
using NetStack.Wire;

namespace NetStack.Core;

/// <summary>
/// One instance of the stack: the analogue of a booted kernel's init_net (struct net) together
/// with the global tables the kernel keeps beside it (ptype_base, inet_protos[]). Two of these in
/// one process are two independent hosts.
/// <para>
/// Threading (DESIGN.md §5): <see cref="SyncRoot"/> is the single stack lock, playing lock_sock and
/// softirq context at once. Device receive threads take it per batch of frames, the timer thread
/// per batch of expired timers, application calls per call; blocking waits release it through
/// <see cref="Monitor.Wait(object, int)"/>.
/// </para>
/// Subsystems keep their per-namespace state in partial files named NetNamespace.&lt;Area&gt;.cs.
/// </summary>
public sealed partial class NetNamespace : IDisposable
{
    /// <summary>The stack lock. Hold it for every touch of protocol state.</summary>
    public readonly object SyncRoot = new();
    public IClock Clock { get; }
    public readonly TimerBase Timers = new();
    public readonly SkBuffPool SkbPool;
    /// <summary>net->mib: /proc/net/snmp and friends.</summary>
    public readonly SnmpMib Mib = new();
    /// <summary>net->ipv4.sysctl_*.</summary>
    public readonly Ipv4Sysctl Sysctl = new();
    public string Name { get; }

    private readonly List<NetDevice> _devices = new();
    private readonly Dictionary<ushort, PacketType> _ptypeBase = new();
    /// <summary>inet_protos[]: the handler for each IP protocol number.</summary>
    internal readonly NetProtocol?[] InetProtos = new NetProtocol?[IpProto.MAX];

    public readonly FibTable Fib;
    public readonly NeighTable Arp;

    private readonly SoftIrq _softirq;

    public NetNamespace(string name = "init_net", IClock? clock = null, SkBuffPool? pool = null)
    {
        Name = name;
        Clock = clock ?? MonotonicClock.Instance;
        SkbPool = pool ?? new SkBuffPool();
        Fib = new FibTable(this);
        Arp = new NeighTable(this);
        _softirq = new SoftIrq(this);
        lock (SyncRoot) AfInet.InetInit(this);
    }

    public IReadOnlyList<NetDevice> Devices => _devices;

    public long NowNs => Clock.NowNs;

    /// <summary>Frees a buffer and counts why it was dropped.</summary>
    /// <remarks>Mirrors net/core/skbuff.c: kfree_skb_reason(). Returns NET_RX_DROP for tail calls.</remarks>
    public int KfreeSkbReason(SkBuff skb, SkbDropReason reason)
    {
        Mib.Drops[reason]++;
        skb.Free();
        return Dev.NetRxDrop;
    }

    /// <remarks>Mirrors net/core/dev.c: dev_add_pack(). One handler per EtherType; a second replaces the first only after dev_remove_pack.</remarks>
    public int DevAddPack(PacketType pt)
    {
        lock (SyncRoot)
        {
            if (_ptypeBase.ContainsKey(pt.Type)) return -Uapi.Errno.EEXIST;
            _ptypeBase[pt.Type] = pt;
            return 0;
        }
    }

    /// <remarks>Mirrors dev_remove_pack().</remarks>
    public void DevRemovePack(PacketType pt)
    {
        lock (SyncRoot)
        {
            if (_ptypeBase.TryGetValue(pt.Type, out var cur) && cur == pt) _ptypeBase.Remove(pt.Type);
        }
    }

    internal PacketType? PtypeLookup(ushort type) => _ptypeBase.TryGetValue(type, out var pt) ? pt : null;

    /// <remarks>Mirrors net/ipv4/protocol.c: inet_add_protocol(): 0, or -1 when the slot is taken.</remarks>
    public int InetAddProtocol(NetProtocol prot, int protocol)
    {
        if ((uint)protocol >= IpProto.MAX) return -1;
        lock (SyncRoot)
        {
            if (InetProtos[protocol] is not null) return -1;
            InetProtos[protocol] = prot;
            return 0;
        }
    }

    /// <remarks>Mirrors inet_del_protocol().</remarks>
    public int InetDelProtocol(NetProtocol prot, int protocol)
    {
        if ((uint)protocol >= IpProto.MAX) return -1;
        lock (SyncRoot)
        {
            if (InetProtos[protocol] != prot) return -1;
            InetProtos[protocol] = null;
            return 0;
        }
    }

    /// <summary>
    /// Registers and brings up a device (register_netdevice + dev_open), gives it an address with
    /// its connected route (as `ip addr add` does), and announces the address with a gratuitous ARP.
    /// </summary>
    public void AddDevice(NetDevice dev, uint address = 0, int prefixLen = 24)
    {
        lock (SyncRoot)
        {
            if (dev.Net is not null) throw new InvalidOperationException($"{dev.Name} is already registered");
            dev.Net = this;
            dev.IfIndex = _devices.Count + 1;
            _devices.Add(dev);
            dev.Open();
            dev.IsUp = true;
            if (address != 0) InetAddress.Add(this, dev, address, prefixLen);
        }
    }

    /// <summary>Finds the device that owns a local address, or null.</summary>
    public NetDevice? DevByAddress(uint addr)
    {
        var devs = _devices;
        for (int i = 0; i < devs.Count; i++) if (devs[i].Ipv4Address == addr && addr != 0) return devs[i];
        return null;
    }

    /// <summary>True if the address is one of ours (inet_addr_type() == RTN_LOCAL).</summary>
    public bool IsLocalAddress(uint addr) => DevByAddress(addr) is not null;

    public NetDevice? DevGetByName(string name)
    {
        foreach (var d in _devices) if (d.Name == name) return d;
        return null;
    }

    /// <summary>
    /// Does all pending work synchronously on the caller's thread: drains each device's receive
    /// queue and runs due timers, until nothing is left. For tests and single-threaded hosts
    /// (the smoltcp `iface.poll()` style). Returns how many frames and timers were processed.
    /// </summary>
    public int Poll(int budget = int.MaxValue)
    {
        lock (SyncRoot)
        {
            int work = 0;
            bool progress = true;
            while (progress && work < budget)
            {
                progress = false;
                foreach (var dev in _devices)
                {
                    while (work < budget && dev.PollReceive(SkbPool) is { } skb)
                    {
                        skb.Dev = dev;
                        Dev.NetifReceiveSkb(skb);
                        work++;
                        progress = true;
                    }
                }
                int t = Timers.RunExpired(Clock.NowNs);
                if (t > 0) { work += t; progress = true; }
            }
            return work;
        }
    }

    /// <summary>Starts the receive and timer threads (the softirq context).</summary>
    public void Start() => _softirq.Start();

    /// <summary>Stops the threads; the namespace can still be polled by hand.</summary>
    public void Stop() => _softirq.Stop();

    /// <summary>Wakes every thread blocked on the stack lock's condition (sk_wake_async for blocking callers).</summary>
    /// <remarks>Called with <see cref="SyncRoot"/> held.</remarks>
    public void WakeAll() => Monitor.PulseAll(SyncRoot);

    public void Dispose()
    {
        Stop();
        lock (SyncRoot)
        {
            foreach (var d in _devices)
            {
                d.IsUp = false;
                d.Stop();
            }
        }
        foreach (var d in _devices) d.Dispose();
    }
}
