using NetStack.Core;
using NetStack.Wire;

namespace NetStack.Ipv4;

/// <summary>Route types (include/uapi/linux/rtnetlink.h: RTN_*).</summary>
public enum RtnType : byte
{
    /// <summary>RTN_UNSPEC: no type.</summary>
    Unspec,
    /// <summary>RTN_UNICAST: a gateway or direct route.</summary>
    Unicast,
    /// <summary>RTN_LOCAL: an address of this host; deliver locally.</summary>
    Local,
    /// <summary>RTN_BROADCAST: accept locally as broadcast, send as broadcast.</summary>
    Broadcast,
    /// <summary>RTN_ANYCAST: accept locally as broadcast, send as unicast.</summary>
    Anycast,
    /// <summary>RTN_MULTICAST: a multicast route.</summary>
    Multicast,
    /// <summary>RTN_BLACKHOLE: drop silently.</summary>
    Blackhole,
    /// <summary>RTN_UNREACHABLE: the destination is unreachable (EHOSTUNREACH).</summary>
    Unreachable,
    /// <summary>RTN_PROHIBIT: administratively prohibited (EACCES).</summary>
    Prohibit
}

/// <summary>
/// The result of a route lookup: where a packet goes next (struct rtable, without the cache).
/// </summary>
public readonly record struct Rtable(RtnType Type, NetDevice Dev, uint Gateway, uint PrefSrc)
{
    /// <summary>The next hop for <paramref name="daddr"/>: the gateway, or the destination when on-link (rt_nexthop()).</summary>
    public uint NextHop(uint daddr) => Gateway != 0 ? Gateway : daddr;
}

/// <summary>One route: a prefix reached through a device, directly or via a gateway (struct fib_alias + fib_info).</summary>
internal sealed record FibEntry(uint Dst, int PrefixLen, uint Gateway, NetDevice Dev, uint PrefSrc = 0, int Metric = 0)
{
    public bool Matches(uint daddr) => (daddr & Ipv4Address.PrefixMask(PrefixLen)) == (Dst & Ipv4Address.PrefixMask(PrefixLen));
    public override string ToString() =>
        (PrefixLen == 0 ? "default" : $"{Ipv4Address.Format(Dst)}/{PrefixLen}") +
        (Gateway != 0 ? $" via {Ipv4Address.Format(Gateway)}" : "") + $" dev {Dev.Name}" +
        (PrefSrc != 0 ? $" src {Ipv4Address.Format(PrefSrc)}" : "");
}

/// <summary>
/// The main routing table: longest-prefix match over a short list (a host has a handful of
/// routes; the kernel's LC-trie earns its keep only with many).
/// <remarks>Mirrors net/ipv4/fib_trie.c: fib_table_lookup() for RT_TABLE_MAIN.</remarks>
/// </summary>
internal sealed class FibTable
{
    private readonly NetNamespace _net;
    private FibEntry[] _entries = Array.Empty<FibEntry>(); // sorted: longest prefix first, then metric

    public FibTable(NetNamespace net) => _net = net;

    public IReadOnlyList<FibEntry> Entries => _entries;

    /// <summary>Adds a route (`ip route add`). -EEXIST for an identical prefix and metric; -EINVAL for a bad prefix.</summary>
    public int Add(FibEntry e)
    {
        if (e.PrefixLen is < 0 or > 32) return -Uapi.Errno.EINVAL;
        lock (_net.SyncRoot)
        {
            foreach (var x in _entries)
                if (x.Dst == e.Dst && x.PrefixLen == e.PrefixLen && x.Metric == e.Metric) return -Uapi.Errno.EEXIST;
            var list = new List<FibEntry>(_entries) { e with { Dst = e.Dst & Ipv4Address.PrefixMask(e.PrefixLen) } };
            list.Sort((a, b) => a.PrefixLen != b.PrefixLen ? b.PrefixLen.CompareTo(a.PrefixLen) : a.Metric.CompareTo(b.Metric));
            _entries = list.ToArray();
            return 0;
        }
    }

    /// <summary>Adds a default route via <paramref name="gateway"/> on <paramref name="dev"/> (`ip route add default via`).</summary>
    public int AddDefault(uint gateway, NetDevice dev) => Add(new FibEntry(0, 0, gateway, dev));

    public int Delete(uint dst, int prefixLen)
    {
        lock (_net.SyncRoot)
        {
            var list = new List<FibEntry>(_entries);
            int n = list.RemoveAll(x => x.Dst == (dst & Ipv4Address.PrefixMask(prefixLen)) && x.PrefixLen == prefixLen);
            _entries = list.ToArray();
            return n > 0 ? 0 : -Uapi.Errno.ESRCH;
        }
    }

    /// <summary>Longest-prefix match, or null. Allocation-free.</summary>
    public FibEntry? Lookup(uint daddr)
    {
        var entries = _entries;
        for (int i = 0; i < entries.Length; i++)
            if (entries[i].Dev.IsUp && entries[i].Matches(daddr)) return entries[i];
        return null;
    }
}

/// <summary>
/// Output and input route resolution.
/// <remarks>Mirrors net/ipv4/route.c: ip_route_output_key() and ip_route_input_noref().</remarks>
/// </summary>
public static class Route
{
    /// <summary>
    /// Resolves where a locally generated packet to <paramref name="daddr"/> goes.
    /// Returns 0 and the route, or -ENETUNREACH (counted as OutNoRoutes).
    /// </summary>
    /// <remarks>Mirrors ip_route_output_key_hash_rcu(): local and loopback first, then limited broadcast, then the FIB.</remarks>
    public static int IpRouteOutput(NetNamespace net, uint daddr, uint saddr, out Rtable rt)
    {
        rt = default;
        if (saddr != 0 && !net.IsLocalAddress(saddr) && !Ipv4Address.IsLoopback(saddr))
            return -Uapi.Errno.EADDRNOTAVAIL;
        if (net.IsLocalAddress(daddr) || Ipv4Address.IsLoopback(daddr))
        {
            var lo = net.Loopback;
            rt = new Rtable(RtnType.Local, lo, 0, saddr != 0 ? saddr : daddr);
            return 0;
        }
        if (Ipv4Address.IsLimitedBroadcast(daddr))
        {
            // A bound source picks its device (__ip_dev_find(saddr)); otherwise 255.255.255.255 goes
            // through the FIB like any destination: the route that covers it (the default route)
            // names the device, and with no such route it is unreachable.
            NetDevice? dev = saddr != 0 ? net.DevByAddress(saddr) : net.Ipv4.Fib.Lookup(daddr)?.Dev;
            if (dev is null || dev.NoArp) { net.Mib.Ip[IpMib.OutNoRoutes]++; return -Uapi.Errno.ENETUNREACH; }
            rt = new Rtable(RtnType.Broadcast, dev, 0, saddr != 0 ? saddr : dev.Ipv4Address);
            return 0;
        }
        var fib = net.Ipv4.Fib.Lookup(daddr);
        if (fib is null)
        {
            net.Mib.Ip[IpMib.OutNoRoutes]++;
            return -Uapi.Errno.ENETUNREACH;
        }
        uint src = saddr != 0 ? saddr : fib.PrefSrc != 0 ? fib.PrefSrc : fib.Dev.Ipv4Address;
        var type = fib.Gateway == 0 && fib.Dev.Ipv4Address != 0 && daddr == fib.Dev.Ipv4Broadcast && fib.Dev.Ipv4PrefixLen < 31
            ? RtnType.Broadcast
            : Ipv4Address.IsMulticast(daddr) ? RtnType.Multicast : RtnType.Unicast;
        rt = new Rtable(type, fib.Dev, fib.Gateway, src);
        return 0;
    }

    /// <summary>
    /// The route for a socket that connects or sends: 0.0.0.0 means this host (the source, or
    /// loopback); a multicast, broadcast or zero-net source is invalid. Fills in the chosen source.
    /// </summary>
    /// <remarks>Mirrors include/net/route.h: ip_route_connect() with the daddr/saddr rules of ip_route_output_key_hash_rcu().</remarks>
    public static int IpRouteConnect(NetNamespace net, ref uint daddr, ref uint saddr, out Rtable rt)
    {
        if (daddr == 0)
        {
            daddr = saddr;
            if (daddr == 0) daddr = saddr = Ipv4Address.Loopback;
        }
        if (saddr != 0 && (Ipv4Address.IsMulticast(saddr) || Ipv4Address.IsLimitedBroadcast(saddr) || Ipv4Address.IsZeroNet(saddr)))
        {
            rt = default;
            return -Uapi.Errno.EINVAL;
        }
        int err = IpRouteOutput(net, daddr, saddr, out rt);
        if (err != 0) return err;
        if (saddr == 0) saddr = rt.PrefSrc;
        return 0;
    }

    /// <summary>
    /// Classifies a received packet's destination: ours (Local), a broadcast, a multicast, or
    /// somebody else's (Unreachable: this host does not forward).
    /// </summary>
    /// <remarks>Mirrors ip_route_input_slow() for a host with ip_forward = 0, weak host model (any local address on any device).</remarks>
    public static RtnType IpRouteInput(NetNamespace net, uint daddr, uint saddr, NetDevice dev)
    {
        if (Ipv4Address.IsLimitedBroadcast(daddr)) return RtnType.Broadcast;
        if (Ipv4Address.IsMulticast(daddr)) return RtnType.Multicast;
        if (net.IsLocalAddress(daddr) || (dev.NoArp && Ipv4Address.IsLoopback(daddr))) return RtnType.Local;
        if (dev.Ipv4Address != 0 && dev.Ipv4PrefixLen < 31 && daddr == dev.Ipv4Broadcast) return RtnType.Broadcast;
        return RtnType.Unreachable;
    }
}

/// <summary>
/// Address configuration. <remarks>Mirrors net/ipv4/devinet.c: inet_insert_ifa() and fib_add_ifaddr().</remarks>
/// </summary>
internal static class InetAddress
{
    /// <summary>Sets the device's address and adds its connected route, then announces it (gratuitous ARP).</summary>
    public static void InetInsertIfa(NetNamespace net, NetDevice dev, uint address, int prefixLen)
    {
        dev.Ipv4Address = address;
        dev.Ipv4PrefixLen = prefixLen;
        if (!dev.NoArp)
        {
            net.Ipv4.Fib.Add(new FibEntry(address, prefixLen, 0, dev, address));
            // inetdev_event(NETDEV_UP) -> arp_ifdown/inetdev_send_gratuitous_arp
            Arp.InetdevSendGratuitousArp(net, dev);
        }
    }
}
