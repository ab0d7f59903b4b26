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

/// <summary>rtm_protocol values (RTPROT_*): who installed a route.</summary>
internal static class RtProt
{
    public const byte Unspec = 0, Redirect = 1, Kernel = 2, Boot = 3, Static = 4;
    /// <summary>The name `ip route` prints (rt_protos).</summary>
    public static string Name(byte p) => p switch { Kernel => "kernel", Boot => "boot", Static => "static", Redirect => "redirect", Unspec => "unspec", _ => p.ToString(System.Globalization.CultureInfo.InvariantCulture) };
}

/// <summary>rtm_scope values (RT_SCOPE_*).</summary>
internal static class RtScope
{
    public const byte Universe = 0, Link = 253, Host = 254;
    /// <summary>The name `ip` prints (rtnl_rtscope_n2a).</summary>
    public static string Name(byte s) => s switch { Universe => "global", Link => "link", Host => "host", _ => s.ToString(System.Globalization.CultureInfo.InvariantCulture) };
}

/// <summary>One route: a prefix reached through a device, directly or via a gateway (struct fib_alias + fib_info).</summary>
internal sealed record FibEntry(uint Dst, int PrefixLen, uint Gateway, NetDevice Dev, uint PrefSrc = 0, int Metric = 0,
    byte Protocol = RtProt.Boot, byte Scope = RtScope.Universe)
{
    public bool Matches(uint daddr) => (daddr & Ipv4Address.PrefixMask(PrefixLen)) == (Dst & Ipv4Address.PrefixMask(PrefixLen));
    /// <summary>The route as `ip route show` prints it.</summary>
    public override string ToString() =>
        (PrefixLen == 0 ? "default" : PrefixLen == 32 ? Ipv4Address.Format(Dst) : $"{Ipv4Address.Format(Dst)}/{PrefixLen}") +
        (Gateway != 0 ? $" via {Ipv4Address.Format(Gateway)}" : "") + $" dev {Dev.Name}" +
        (Protocol != RtProt.Boot ? $" proto {RtProt.Name(Protocol)}" : "") +
        (Scope != RtScope.Universe ? $" scope {RtScope.Name(Scope)}" : "") +
        (PrefSrc != 0 ? $" src {Ipv4Address.Format(PrefSrc)}" : "") +
        (Metric != 0 ? $" metric {Metric}" : "");
}

/// <summary>
/// The main routing table: longest-prefix match, then the lowest metric, over a short list (a
/// host has a handful of routes; the kernel's LC-trie earns its keep only with many). The list
/// is replaced on every change, so lookups read it without the lock and without allocating.
/// <remarks>Mirrors net/ipv4/fib_trie.c: fib_table_insert(), fib_table_delete(), fib_table_flush(), fib_table_lookup() for RT_TABLE_MAIN.</remarks>
/// </summary>
internal sealed class FibTable
{
    private readonly NetNamespace _net;
    private FibEntry[] _entries = Array.Empty<FibEntry>(); // longest prefix first, then metric, then insertion order

    public FibTable(NetNamespace net) => _net = net;

    public IReadOnlyList<FibEntry> Entries => _entries;

    /// <summary>NLM_F_* of an RTM_NEWROUTE: `ip route add` is Excl, `replace` Replace, `append` neither.</summary>
    internal enum InsertMode { Excl, Replace, Append }

    /// <summary>Adds a route (`ip route add`). -EEXIST for a route of the same prefix and metric; -EINVAL for a bad prefix.</summary>
    public int Add(FibEntry e) => Insert(e, InsertMode.Excl);

    /// <summary>
    /// Inserts <paramref name="e"/>: the route of the same prefix and metric (priority) is an error
    /// (Excl, -EEXIST) or is replaced (Replace); otherwise the route is added after its peers.
    /// -EINVAL for a prefix length out of range or host bits set in the destination.
    /// </summary>
    /// <remarks>Mirrors fib_table_insert().</remarks>
    public int Insert(FibEntry e, InsertMode mode)
    {
        if (e.PrefixLen is < 0 or > 32) return -Uapi.Errno.EINVAL;
        if ((e.Dst & ~Ipv4Address.PrefixMask(e.PrefixLen)) != 0) return -Uapi.Errno.EINVAL; // "Invalid prefix for given prefix length"
        lock (_net.SyncRoot)
        {
            var list = new List<FibEntry>(_entries);
            int same = list.FindIndex(x => x.Dst == e.Dst && x.PrefixLen == e.PrefixLen && x.Metric == e.Metric);
            if (same >= 0)
            {
                if (mode == InsertMode.Excl) return -Uapi.Errno.EEXIST;
                if (mode == InsertMode.Replace)
                {
                    list[same] = e;
                    _entries = list.ToArray();
                    return 0;
                }
            }
            list.Add(e);
            // A stable sort keeps insertion order among equals, as the kernel's alias list does.
            _entries = list.OrderByDescending(x => x.PrefixLen).ThenBy(x => x.Metric).ToArray();
            return 0;
        }
    }

    /// <summary>Adds a default route via <paramref name="gateway"/> on <paramref name="dev"/> (`ip route add default via`).</summary>
    public int AddDefault(uint gateway, NetDevice dev) => Add(new FibEntry(0, 0, gateway, dev));

    /// <summary>Deletes every route to <paramref name="dst"/>/<paramref name="prefixLen"/>; -ESRCH when there is none.</summary>
    public int Delete(uint dst, int prefixLen) =>
        Flush(x => x.Dst == (dst & Ipv4Address.PrefixMask(prefixLen)) && x.PrefixLen == prefixLen) > 0 ? 0 : -Uapi.Errno.ESRCH;

    /// <summary>
    /// Deletes the first route to <paramref name="dst"/>/<paramref name="prefixLen"/> that also matches
    /// every selector given (gateway, device, metric, preferred source, protocol: 0/null/-1 match
    /// anything); -ESRCH when none does.
    /// </summary>
    /// <remarks>Mirrors fib_table_delete() with fib_nh_match().</remarks>
    public int Delete(uint dst, int prefixLen, uint gateway, NetDevice? dev, int metric, uint prefSrc, byte protocol)
    {
        if (prefixLen is < 0 or > 32) return -Uapi.Errno.EINVAL;
        if ((dst & ~Ipv4Address.PrefixMask(prefixLen)) != 0) return -Uapi.Errno.EINVAL;
        lock (_net.SyncRoot)
        {
            var list = new List<FibEntry>(_entries);
            int i = list.FindIndex(x => x.Dst == dst && x.PrefixLen == prefixLen && (gateway == 0 || x.Gateway == gateway) &&
                (dev is null || x.Dev == dev) && (metric < 0 || x.Metric == metric) && (prefSrc == 0 || x.PrefSrc == prefSrc) &&
                (protocol == 0 || x.Protocol == protocol));
            if (i < 0) return -Uapi.Errno.ESRCH;
            list.RemoveAt(i);
            _entries = list.ToArray();
            return 0;
        }
    }

    /// <summary>Deletes every route <paramref name="match"/> selects; returns how many.</summary>
    /// <remarks>Mirrors fib_table_flush() / `ip route flush` (a dump, then a delete per route).</remarks>
    public int Flush(Func<FibEntry, bool> match)
    {
        lock (_net.SyncRoot)
        {
            var keep = _entries.Where(x => !match(x)).ToArray();
            int n = _entries.Length - keep.Length;
            _entries = keep;
            return n;
        }
    }

    /// <summary>Longest-prefix match, then the lowest metric, over routes whose device is up; or null. Allocation-free.</summary>
    /// <param name="daddr">The destination.</param>
    /// <param name="scope">The flow's scope (flowi4_scope): a route of a narrower scope than asked is
    /// passed over for the next match (fib_table_lookup's "fa->fa_scope &lt; flp->flowi4_scope"), so
    /// RT_SCOPE_LINK (SO_DONTROUTE, MSG_DONTROUTE) finds only routes on the link.</param>
    /// <param name="oif">The flow's output device (flowi4_oif: SO_BINDTODEVICE), 0 for any: a route
    /// whose next hop leaves through another device is passed over (fib_lookup_good_nhc()).</param>
    public FibEntry? Lookup(uint daddr, byte scope = RtScope.Universe, int oif = 0)
    {
        var entries = _entries;
        for (int i = 0; i < entries.Length; i++)
            if (entries[i].Dev.IsUp && entries[i].Scope >= scope && (oif == 0 || entries[i].Dev.IfIndex == oif) && entries[i].Matches(daddr))
                return entries[i];
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
    /// <param name="net">The stack.</param>
    /// <param name="daddr">The destination.</param>
    /// <param name="saddr">The source, or 0 to choose one.</param>
    /// <param name="rt">The route.</param>
    /// <param name="onLink">Only a destination on a link of this host (RT_SCOPE_LINK: a socket with
    /// SO_DONTROUTE, a send with MSG_DONTROUTE, ip_sock_rt_scope()/ip_sendmsg_scope()); a destination
    /// reached only through a gateway is then -ENETUNREACH.</param>
    /// <param name="oif">The output device the flow is bound to (flowi4_oif: the socket's
    /// SO_BINDTODEVICE, the listener's for a request, IP_MULTICAST_IF for a group send), 0 for any.
    /// Only routes through it are used; with none, the destination is taken to be on its link (the
    /// kernel's "routing tables are wrong, assume on link"). -ENODEV for an unknown index,
    /// -ENETUNREACH when it is down.</param>
    public static int IpRouteOutput(NetNamespace net, uint daddr, uint saddr, out Rtable rt, bool onLink = false, int oif = 0)
    {
        if (Ipv4Address.IsMulticast(daddr)) return IpRouteOutputMc(net, daddr, ref saddr, oif, out rt);
        rt = default;
        if (saddr != 0 && !net.IsLocalAddress(saddr) && !Ipv4Address.IsLoopback(saddr))
            return -Uapi.Errno.EADDRNOTAVAIL;
        NetDevice? devOut = null;
        if (oif != 0)
        {
            devOut = net.DevGetByIndex(oif);
            if (devOut is null) return -Uapi.Errno.ENODEV;
            if (!devOut.IsUp) return -Uapi.Errno.ENETUNREACH;
            if ((daddr & 0xFFFFFF00) == 0xE0000000 || // ipv4_is_local_multicast(): 224.0.0.0/24
                 Ipv4Address.IsLimitedBroadcast(daddr))
            {
                if (saddr == 0) saddr = InetAddress.InetSelectAddrLink(net, devOut);
                rt = new Rtable(Ipv4Address.IsLimitedBroadcast(daddr) ? RtnType.Broadcast : RtnType.Multicast, devOut, 0, saddr);
                return 0;
            }
        }
        // The local table: a local route's next hop is the device holding the address (lo for 127/8).
        if (net.IsLocalAddress(daddr) || Ipv4Address.IsLoopback(daddr))
        {
            var lo = net.Loopback;
            if (oif == 0 || oif == lo.IfIndex || oif == (Ipv4Address.IsLoopback(daddr) ? lo : net.DevByAddress(daddr))!.IfIndex)
            {
                rt = new Rtable(RtnType.Local, lo, 0, saddr != 0 ? saddr : daddr);
                return 0;
            }
        }
        else if (oif == 0 && Ipv4Address.IsLimitedBroadcast(daddr))
        {
            // A bound source picks its device (__ip_dev_find(saddr)); otherwise 255.255.255.255 goes
            // through the FIB like any destination: the route that covers it (the default route)
            // names the device, and with no such route it is unreachable.
            NetDevice? dev = saddr != 0 ? net.DevByAddress(saddr) : net.Ipv4.Fib.Lookup(daddr)?.Dev;
            if (dev is null || dev.NoArp) { net.Mib.Ip[IpMib.OutNoRoutes]++; return -Uapi.Errno.ENETUNREACH; }
            rt = new Rtable(RtnType.Broadcast, dev, 0, saddr != 0 ? saddr : dev.Ipv4Address);
            return 0;
        }
        var fib = net.Ipv4.Fib.Lookup(daddr, onLink ? RtScope.Link : RtScope.Universe, oif);
        if (fib is null)
        {
            if (devOut is not null)
            {
                // Apparently, routing tables are wrong. Assume that the destination is on link.
                if (saddr == 0) saddr = InetAddress.InetSelectAddrLink(net, devOut);
                rt = new Rtable(Ipv4Address.IsMulticast(daddr) ? RtnType.Multicast : RtnType.Unicast, devOut, 0, saddr);
                return 0;
            }
            net.Mib.Ip[IpMib.OutNoRoutes]++;
            return -Uapi.Errno.ENETUNREACH;
        }
        uint src = saddr != 0 ? saddr : fib.PrefSrc != 0 ? fib.PrefSrc : InetAddress.InetSelectAddr(fib.Dev, fib.Gateway != 0 ? fib.Gateway : daddr);
        var type = fib.Gateway == 0 && fib.Dev.IsIpv4SubnetBroadcast(daddr)
            ? RtnType.Broadcast
            : Ipv4Address.IsMulticast(daddr) ? RtnType.Multicast : RtnType.Unicast;
        rt = new Rtable(type, fib.Dev, fib.Gateway, src);
        return 0;
    }

    /// <summary>
    /// The route of a send to a group: a source address alone picks its device (the kernel's
    /// "special hack" for directing group sends without IP_MULTICAST_IF), an output device is taken
    /// as on-link (its own address as source), otherwise the FIB's route to the group names the
    /// device, never a gateway. RTN_MULTICAST. -ENETUNREACH (a source that is not ours, a device
    /// down, no route: counted as OutNoRoutes when <paramref name="count"/>), -ENODEV (no such device).
    /// </summary>
    /// <remarks>Mirrors ip_route_output_key_hash_rcu() for a multicast daddr and __mkroute_output()
    /// ("if multicast route do not exist use default one, but do not gateway in this case").</remarks>
    internal static int IpRouteOutputMc(NetNamespace net, uint daddr, ref uint saddr, int oif, out Rtable rt, bool count = true)
    {
        rt = default;
        NetDevice? dev;
        if (saddr != 0 && !net.IsLocalAddress(saddr)) return -Uapi.Errno.ENETUNREACH;
        if (saddr != 0 && oif == 0)
        {
            dev = net.DevByAddress(saddr)!;
        }
        else if (oif != 0)
        {
            dev = Igmp.DevGetByIndex(net, oif);
            if (dev is null) return -Uapi.Errno.ENODEV;
            if (!dev.IsUp) return -Uapi.Errno.ENETUNREACH;
            if (saddr == 0) saddr = InetAddress.InetSelectAddr(dev, 0);
        }
        else
        {
            var fib = net.Ipv4.Fib.Lookup(daddr);
            if (fib is null)
            {
                if (count) net.Mib.Ip[IpMib.OutNoRoutes]++;
                return -Uapi.Errno.ENETUNREACH;
            }
            dev = fib.Dev;
            saddr = fib.PrefSrc != 0 ? fib.PrefSrc : InetAddress.InetSelectAddr(dev, daddr);
        }
        rt = new Rtable(RtnType.Multicast, dev, 0, saddr);
        return 0;
    }

    /// <summary>
    /// The route for a socket that connects or sends: 0.0.0.0 means this host (the source, or
    /// loopback); a multicast, broadcast or zero-net source is invalid. Fills in the chosen source.
    /// </summary>
    /// <remarks>Mirrors include/net/route.h: ip_route_connect() with the daddr/saddr rules of ip_route_output_key_hash_rcu().</remarks>
    /// <param name="net">The stack.</param>
    /// <param name="daddr">The destination (0: this host); replaced by what it means.</param>
    /// <param name="saddr">The source (0: chosen by the route); replaced by the one chosen.</param>
    /// <param name="rt">The route.</param>
    /// <param name="onLink">Only a destination on a link (RT_SCOPE_LINK), as <see cref="IpRouteOutput"/>.</param>
    /// <param name="oif">The device the socket is bound to (SO_BINDTODEVICE) or a group send asks for, 0 for any, as <see cref="IpRouteOutput"/>.</param>
    public static int IpRouteConnect(NetNamespace net, ref uint daddr, ref uint saddr, out Rtable rt, bool onLink = false, int oif = 0)
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
        int err = IpRouteOutput(net, daddr, saddr, out rt, onLink, oif);
        if (err != 0) return err;
        if (saddr == 0) saddr = rt.PrefSrc;
        return 0;
    }

    /// <summary>
    /// The address a reply to a received packet would come from (in_pktinfo's ipi_spec_dst): the
    /// packet's destination when it was addressed to this host; for a broadcast, the preferred source
    /// of the route back to the sender (or the arrival device's address when no route or no sender).
    /// Looks routes up without counting anything.
    /// </summary>
    /// <remarks>Mirrors net/ipv4/fib_frontend.c: fib_compute_spec_dst() (fib_lookup from lo, fib_result_prefsrc(), inet_select_addr()).</remarks>
    internal static uint FibComputeSpecDst(NetNamespace net, SkBuff skb)
    {
        var iph = Ipv4Header.Create(skb.Buffer.AsSpan(skb.NetworkHeader));
        if (!skb.RouteBroadcast) return iph.Destination; // (rt_flags & (BROADCAST|MULTICAST|LOCAL)) == LOCAL
        uint saddr = iph.Source;
        var dev = skb.Dev!;
        if (!Ipv4Address.IsZeroNet(saddr))
        {
            // The local table first: a local address is its own route's preferred source.
            if (net.IsLocalAddress(saddr)) return saddr;
            var fib = net.Ipv4.Fib.Lookup(saddr);
            if (fib is not null) return fib.PrefSrc != 0 ? fib.PrefSrc : InetAddress.InetSelectAddr(fib.Dev, fib.Gateway);
        }
        return InetAddress.InetSelectAddr(dev, saddr);
    }

    /// <summary>
    /// Classifies a received packet's destination: ours (Local), a broadcast, a multicast, one to
    /// forward (Unicast, when the arrival device forwards and a route leads on), or one with nowhere
    /// to go (Unreachable).
    /// </summary>
    /// <remarks>Mirrors ip_route_input_slow(), weak host model (any local address on any device).</remarks>
    public static RtnType IpRouteInput(NetNamespace net, uint daddr, uint saddr, NetDevice dev) =>
        IpRouteInputSlow(net, daddr, saddr, dev, out _, out _, out _);

    /// <summary>
    /// The input route of a received packet, in ip_route_input_slow()'s order: limited broadcast,
    /// multicast, then the FIB: the local table (our addresses and every subnet broadcast of ours),
    /// then the main table. A packet for another host needs a route and net.ipv4.conf.IN.forwarding;
    /// without forwarding it is unreachable with -EHOSTUNREACH (InAddrErrors), without a route with
    /// -ENETUNREACH (InNoRoutes; net unreachable to the sender). A forwarding route has the output
    /// device and gateway in <paramref name="rt"/>, and asks for a redirect when the packet leaves by
    /// the device it came in on towards a sender on that link.
    /// </summary>
    /// <remarks>Mirrors ip_route_input_slow() -> ip_mkroute_input() -> __mkroute_input() (IPSKB_DOREDIRECT).</remarks>
    internal static RtnType IpRouteInputSlow(NetNamespace net, uint daddr, uint saddr, NetDevice dev, out Rtable rt, out int err, out bool doRedirect)
    {
        rt = default;
        err = 0;
        doRedirect = false;
        if (Ipv4Address.IsLimitedBroadcast(daddr)) return RtnType.Broadcast;
        if (Ipv4Address.IsMulticast(daddr)) return RtnType.Multicast;
        if (net.IsLocalAddress(daddr) || (dev.NoArp && Ipv4Address.IsLoopback(daddr))) return RtnType.Local;
        if (IsLocalBroadcast(net, daddr)) return RtnType.Broadcast;
        var fib = net.Ipv4.Fib.Lookup(daddr);
        bool forward = Devinet.InDevForward(dev);
        if (fib is null)
        {
            err = forward ? -Uapi.Errno.ENETUNREACH : -Uapi.Errno.EHOSTUNREACH;
            return RtnType.Unreachable;
        }
        if (!forward)
        {
            err = -Uapi.Errno.EHOSTUNREACH;
            return RtnType.Unreachable;
        }
        // __mkroute_input(): fib_validate_source() says whether the sender is on the arrival link
        // (its route is direct, through this device); a packet that goes back out the way it came
        // towards such a sender earns it a redirect (shared_media is on by default, so no
        // inet_addr_onlink() check of the gateway).
        var outDev = fib.Dev;
        if (outDev == dev && Devinet.InDevTxRedirects(net, dev) && FibValidateSourceOnLink(net, saddr, dev))
            doRedirect = true;
        rt = new Rtable(RtnType.Unicast, outDev, fib.Gateway, 0);
        return RtnType.Unicast;
    }

    /// <summary>Whether <paramref name="addr"/> is the directed broadcast of a subnet of any device here (the local table's RTN_BROADCAST routes).</summary>
    private static bool IsLocalBroadcast(NetNamespace net, uint addr)
    {
        var devs = net.Devices;
        for (int i = 0; i < devs.Count; i++) if (devs[i].IsIpv4SubnetBroadcast(addr)) return true;
        return false;
    }

    /// <summary>fib_validate_source()'s answer 1: the route back to <paramref name="saddr"/> is direct (nexthop scope host) through <paramref name="dev"/>.</summary>
    /// <remarks>Mirrors __fib_validate_source(): ret = FIB_RES_NHC(res)->nhc_scope >= RT_SCOPE_HOST when FIB_RES_DEV(res) == dev.</remarks>
    private static bool FibValidateSourceOnLink(NetNamespace net, uint saddr, NetDevice dev)
    {
        var back = net.Ipv4.Fib.Lookup(saddr);
        return back is not null && back.Dev == dev && back.Gateway == 0;
    }
}

/// <summary>
/// Address configuration: a device holds several addresses; the first in a subnet is primary and
/// brings the subnet's connected route, later ones in that subnet are secondary.
/// <remarks>Mirrors net/ipv4/devinet.c (__inet_insert_ifa(), __inet_del_ifa(), inet_select_addr()) and net/ipv4/fib_frontend.c (fib_add_ifaddr(), fib_del_ifaddr()).</remarks>
/// </summary>
internal static class InetAddress
{
    /// <summary>
    /// Adds <paramref name="address"/>/<paramref name="prefixLen"/> to the device (`ip addr add`), with
    /// its connected route when it is primary (proto kernel, scope link, src the address), and
    /// announces it with a gratuitous ARP. -EEXIST when the device has the address with that prefix
    /// length, -EINVAL for a bad prefix length.
    /// </summary>
    /// <remarks>Mirrors inet_insert_ifa() -> __inet_insert_ifa() + fib_add_ifaddr().</remarks>
    public static int InetInsertIfa(NetNamespace net, NetDevice dev, uint address, int prefixLen)
    {
        if (prefixLen is < 0 or > 32) return -Uapi.Errno.EINVAL;
        if (address == 0) return -Uapi.Errno.EINVAL;
        lock (net.SyncRoot)
        {
            var list = dev.IfaList;
            uint mask = Ipv4Address.PrefixMask(prefixLen);
            bool secondary = false;
            foreach (var ifa in list)
            {
                if (ifa.PrefixLen == prefixLen && ((ifa.Local ^ address) & mask) == 0)
                {
                    if (ifa.Local == address) return -Uapi.Errno.EEXIST;
                    secondary = true;
                }
            }
            var nifa = new InIfaddr(address, prefixLen, secondary);
            // Primaries go after the last primary, secondaries at the tail.
            int at = secondary ? list.Length : Array.FindLastIndex(list, x => !x.Secondary) + 1;
            var nl = new InIfaddr[list.Length + 1];
            Array.Copy(list, nl, at);
            nl[at] = nifa;
            Array.Copy(list, at, nl, at + 1, list.Length - at);
            dev.IfaList = nl;
            if (!secondary && !dev.NoArp && (nifa.Prefix != address || prefixLen < 32))
                net.Ipv4.Fib.Insert(new FibEntry(nifa.Prefix, prefixLen, 0, dev, address, 0, RtProt.Kernel, RtScope.Link), FibTable.InsertMode.Append);
            // inetdev_event(NETDEV_UP) -> inetdev_send_gratuitous_arp
            if (!dev.NoArp && dev.IsUp) Arp.ArpSend(net, Wire.ArpPacket.OpRequest, address, dev, address, MacAddress.Broadcast, dev.DevAddr, MacAddress.Zero);
            return 0;
        }
    }

    /// <summary>The connected routes of every primary address of <paramref name="dev"/> (after it came back up), and a gratuitous ARP for each address.</summary>
    /// <remarks>Mirrors fib_netdev_event(NETDEV_UP): fib_add_ifaddr() for each in_ifaddr.</remarks>
    public static void FibAddIfaddrs(NetNamespace net, NetDevice dev)
    {
        if (dev.NoArp) return;
        foreach (var ifa in dev.IfaList)
        {
            if (!ifa.Secondary && (ifa.Prefix != ifa.Local || ifa.PrefixLen < 32))
                net.Ipv4.Fib.Insert(new FibEntry(ifa.Prefix, ifa.PrefixLen, 0, dev, ifa.Local, 0, RtProt.Kernel, RtScope.Link), FibTable.InsertMode.Append);
            Arp.ArpSend(net, Wire.ArpPacket.OpRequest, ifa.Local, dev, ifa.Local, MacAddress.Broadcast, dev.DevAddr, MacAddress.Zero);
        }
    }

    /// <summary>
    /// Removes <paramref name="address"/> (with prefix length <paramref name="prefixLen"/>, or any when
    /// negative) from the device (`ip addr del`). Removing a primary removes its secondaries too
    /// (promote_secondaries off, the kernel's default), its connected route when no other primary
    /// covers the subnet, and every route whose preferred source it was. -EADDRNOTAVAIL when the
    /// device has no such address.
    /// </summary>
    /// <remarks>Mirrors inet_rtm_deladdr() -> __inet_del_ifa() + fib_del_ifaddr() + fib_sync_down_addr().</remarks>
    public static int InetDelIfa(NetNamespace net, NetDevice dev, uint address, int prefixLen)
    {
        lock (net.SyncRoot)
        {
            var list = dev.IfaList;
            var ifa = Array.Find(list, x => x.Local == address && (prefixLen < 0 || x.PrefixLen == prefixLen));
            if (ifa is null) return -Uapi.Errno.EADDRNOTAVAIL;
            var gone = new List<InIfaddr> { ifa };
            if (!ifa.Secondary)
                gone.AddRange(list.Where(x => x.Secondary && x.PrefixLen == ifa.PrefixLen && ifa.Match(x.Local)));
            dev.IfaList = list.Where(x => !gone.Contains(x)).ToArray();
            var fib = net.Ipv4.Fib;
            foreach (var g in gone)
            {
                if (!g.Secondary && !dev.IfaList.Any(x => !x.Secondary && x.PrefixLen == g.PrefixLen && x.Prefix == g.Prefix))
                    fib.Flush(x => x.Dev == dev && x.Protocol == RtProt.Kernel && x.Dst == g.Prefix && x.PrefixLen == g.PrefixLen);
                if (!net.IsLocalAddress(g.Local)) fib.Flush(x => x.PrefSrc == g.Local);
            }
            return 0;
        }
    }

    /// <summary>
    /// The source address for a packet to <paramref name="dst"/> leaving through <paramref name="dev"/>:
    /// the first primary address whose subnet holds <paramref name="dst"/>, else the first primary
    /// (0 when the device has none). Allocation-free.
    /// </summary>
    /// <remarks>Mirrors inet_select_addr() (scope universe, on the device itself).</remarks>
    public static uint InetSelectAddr(NetDevice dev, uint dst)
    {
        var list = dev.IfaList;
        uint first = 0;
        for (int i = 0; i < list.Length; i++)
        {
            var ifa = list[i];
            if (ifa.Secondary) continue;
            if (dst != 0 && ifa.Match(dst)) return ifa.Local;
            if (first == 0) first = ifa.Local;
        }
        return first;
    }

    /// <summary>
    /// The source for a flow sent on-link through <paramref name="dev"/> (scope link): the
    /// device's first primary address that is not host-scoped (127/8 is); failing that, the
    /// first such address of any device.
    /// </summary>
    /// <remarks>Mirrors inet_select_addr(dev, 0, RT_SCOPE_LINK), with its walk over every device.</remarks>
    public static uint InetSelectAddrLink(NetNamespace net, NetDevice dev)
    {
        uint a = FirstLinkScoped(dev);
        if (a != 0) return a;
        var devices = net.Devices;
        for (int i = 0; i < devices.Count; i++)
        {
            a = FirstLinkScoped(devices[i]);
            if (a != 0) return a;
        }
        return 0;

        static uint FirstLinkScoped(NetDevice d)
        {
            var list = d.IfaList;
            for (int i = 0; i < list.Length; i++)
                if (!list[i].Secondary && !Ipv4Address.IsLoopback(list[i].Local)) return list[i].Local;
            return 0;
        }
    }
}
