using System.Net;
using System.Net.NetworkInformation;
using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Ipv6;
using NetStack.Wire;

namespace NetStack.Api;

/// <summary>
/// Changes a running stack's configuration the way `ip addr`, `ip route` and `ip neigh` change
/// Linux's (RTM_NEWADDR, RTM_NEWROUTE, RTM_NEWNEIGH and their deletions), under the stack lock.
/// Errors are <see cref="NetStackException"/>s carrying the errno RTNETLINK would answer: EEXIST
/// ("File exists"), ESRCH ("No such process") for a route that is not there, EADDRNOTAVAIL for an
/// address that is not there, ENOENT for a neighbour that is not there, ENODEV for an unknown device.
/// </summary>
public static class NetStackConfig
{
    private static NetDevice Dev(NetNamespace net, string device)
    {
        ArgumentNullException.ThrowIfNull(device);
        return net.DevGetByName(device) ?? throw new NetStackException(-Uapi.Errno.ENODEV, $"cannot find device \"{device}\"");
    }

    private static void CheckPrefix(int prefixLength)
    {
        if (prefixLength is < 0 or > 32) throw new NetStackException(-Uapi.Errno.EINVAL, $"invalid prefix length {prefixLength}");
    }

    /// <summary>
    /// `ip link set DEVICE up|down`. Down: the device drops what it receives and refuses to send, every
    /// route through it and its neighbours go (its addresses stay). Up again: its addresses' connected
    /// routes come back (other routes through it do not, as in Linux).
    /// </summary>
    /// <exception cref="NetStackException">ENODEV for an unknown device.</exception>
    public static void SetLinkUp(NetNamespace net, string device, bool up)
    {
        ArgumentNullException.ThrowIfNull(net);
        lock (net.SyncRoot) net.DevChangeUp(Dev(net, device), up);
    }

    /// <summary>
    /// `ip addr add ADDRESS/PREFIX dev DEVICE`: adds an address (secondary when an earlier one covers its subnet) with its connected route.
    /// An IPv6 address (`ip -6 addr add`) goes to the device's inet6_dev with its local and prefix routes and its
    /// solicited-node group; it is tentative until duplicate address detection ends; the device must be up.
    /// </summary>
    /// <exception cref="NetStackException">EEXIST when the device has it, ENODEV, EINVAL.</exception>
    public static void AddAddress(NetNamespace net, string device, IPAddress address, int prefixLength) =>
        AddAddress(net, device, address, prefixLength, noDad: false);

    /// <summary>
    /// As <see cref="AddAddress(NetNamespace, string, IPAddress, int)"/>; with <paramref name="noDad"/> an IPv6 address
    /// skips duplicate address detection and is usable at once (`ip -6 addr add ... nodad`, IFA_F_NODAD).
    /// </summary>
    /// <exception cref="NetStackException">EEXIST when the device has it, ENODEV, EINVAL.</exception>
    public static void AddAddress(NetNamespace net, string device, IPAddress address, int prefixLength, bool noDad)
    {
        ArgumentNullException.ThrowIfNull(net);
        ArgumentNullException.ThrowIfNull(address);
        if (IsV6(address))
        {
            if (prefixLength is < 0 or > 128) throw new NetStackException(-Uapi.Errno.EINVAL, $"invalid prefix length {prefixLength}");
            lock (net.SyncRoot)
                NetStackException.ThrowIfError(Ipv6.Addrconf.Inet6AddrAdd(net, Dev(net, device), V6(address), prefixLength, noDad), "ip -6 addr add");
            return;
        }
        CheckPrefix(prefixLength);
        uint a = SocketConvert.ToUInt32(address);
        lock (net.SyncRoot)
            NetStackException.ThrowIfError(InetAddress.InetInsertIfa(net, Dev(net, device), a, prefixLength), "ip addr add");
    }

    /// <summary>
    /// `ip addr del ADDRESS[/PREFIX] dev DEVICE`: removes an address (a negative <paramref name="prefixLength"/>
    /// matches any). Removing a primary removes its secondaries, its connected route and the routes that used it as source.
    /// An IPv6 address takes its local route, its prefix route (when no other address of the device has the prefix) and
    /// its solicited-node group with it.
    /// </summary>
    /// <exception cref="NetStackException">EADDRNOTAVAIL when the device has no such address, ENODEV.</exception>
    public static void DeleteAddress(NetNamespace net, string device, IPAddress address, int prefixLength = -1)
    {
        ArgumentNullException.ThrowIfNull(net);
        ArgumentNullException.ThrowIfNull(address);
        if (IsV6(address))
        {
            lock (net.SyncRoot)
                NetStackException.ThrowIfError(Ipv6.Addrconf.Inet6AddrDel(net, Dev(net, device), V6(address), prefixLength), "ip -6 addr del");
            return;
        }
        uint a = SocketConvert.ToUInt32(address);
        lock (net.SyncRoot)
            NetStackException.ThrowIfError(InetAddress.InetDelIfa(net, Dev(net, device), a, prefixLength), "ip addr del");
    }

    /// <summary>
    /// `ip route add DEST/PREFIX [via GATEWAY] [dev DEVICE] [src PREFSRC] [metric METRIC]`. An IPv6 destination
    /// (`ip -6 route add`) goes to fib6's main table: metric 0 means 1024 (IP6_RT_PRIO_USER), host bits are dropped,
    /// a gateway that is not link-local must be on a connected prefix (EHOSTUNREACH otherwise), a link-local one needs
    /// the device; no preferred source (EOPNOTSUPP).
    /// </summary>
    /// <param name="net">The stack.</param>
    /// <param name="destination">The destination prefix (0.0.0.0 with prefix length 0: the default route).</param>
    /// <param name="prefixLength">The prefix length.</param>
    /// <param name="gateway">The next hop, or null for a directly connected destination.</param>
    /// <param name="device">The output device, or null to take the one the gateway is reached through.</param>
    /// <param name="preferredSource">The source address for packets using the route (must be local), or null.</param>
    /// <param name="metric">The route's metric (priority): lower wins among routes of the same prefix.</param>
    /// <exception cref="NetStackException">EEXIST for a route of the same prefix and metric; ENETUNREACH for a
    /// gateway no connected route reaches; EINVAL for a local or broadcast gateway, a non-local source or host
    /// bits in the destination; ENODEV without a device or gateway, or an unknown device.</exception>
    public static void AddRoute(NetNamespace net, IPAddress destination, int prefixLength, IPAddress? gateway = null,
        string? device = null, IPAddress? preferredSource = null, int metric = 0) =>
        InsertRoute(net, destination, prefixLength, gateway, device, preferredSource, metric, FibTable.InsertMode.Excl, "ip route add");

    /// <summary>`ip route replace ...`: replaces the route of the same prefix and metric, or adds it. Parameters and errors as <see cref="AddRoute"/>, without EEXIST.
    /// For IPv6 a gateway route replaces the first gateway route of that prefix and metric (a multipath route whole), as Linux's fib6 does.</summary>
    public static void ReplaceRoute(NetNamespace net, IPAddress destination, int prefixLength, IPAddress? gateway = null,
        string? device = null, IPAddress? preferredSource = null, int metric = 0) =>
        InsertRoute(net, destination, prefixLength, gateway, device, preferredSource, metric, FibTable.InsertMode.Replace, "ip route replace");

    /// <summary>`ip route append ...`: adds the route even when one of the same prefix and metric exists (it comes after it). Parameters and errors as <see cref="AddRoute"/>.
    /// For IPv6, as Linux's fib6: a gateway route appended to gateway routes becomes a nexthop of one multipath route; EEXIST for a route of the same device and gateway.</summary>
    public static void AppendRoute(NetNamespace net, IPAddress destination, int prefixLength, IPAddress? gateway = null,
        string? device = null, IPAddress? preferredSource = null, int metric = 0) =>
        InsertRoute(net, destination, prefixLength, gateway, device, preferredSource, metric, FibTable.InsertMode.Append, "ip route append");

    private static void InsertRoute(NetNamespace net, IPAddress destination, int prefixLength, IPAddress? gateway, string? device,
        IPAddress? preferredSource, int metric, FibTable.InsertMode mode, string what)
    {
        ArgumentNullException.ThrowIfNull(net);
        ArgumentNullException.ThrowIfNull(destination);
        if (IsV6(destination))
        {
            if (preferredSource is not null) throw new NetStackException(-Uapi.Errno.EOPNOTSUPP, $"{what}: src is not supported for IPv6 routes");
            var mode6 = mode switch
            {
                FibTable.InsertMode.Replace => Ipv6.Fib6Table.InsertMode.Replace,
                FibTable.InsertMode.Append => Ipv6.Fib6Table.InsertMode.Append,
                _ => Ipv6.Fib6Table.InsertMode.Excl,
            };
            lock (net.SyncRoot)
                NetStackException.ThrowIfError(Ipv6.Ipv6Rtnl.Ip6RouteAdd(net, V6(destination), prefixLength, gateway is null ? 0 : V6(gateway),
                    device is null ? null : Dev(net, device), metric == 0 ? Ipv6.Ipv6Rtnl.Ip6RtPrioUser : metric, mode6), what);
            return;
        }
        CheckPrefix(prefixLength);
        if (metric < 0) throw new NetStackException(-Uapi.Errno.EINVAL, $"{what}: invalid metric {metric}");
        uint dst = SocketConvert.ToUInt32(destination);
        uint gw = gateway is null ? 0 : SocketConvert.ToUInt32(gateway);
        uint src = preferredSource is null ? 0 : SocketConvert.ToUInt32(preferredSource);
        lock (net.SyncRoot)
        {
            var dev = device is null ? null : Dev(net, device);
            if ((dst & ~Ipv4Address.PrefixMask(prefixLength)) != 0)
                throw new NetStackException(-Uapi.Errno.EINVAL, $"{what}: invalid prefix for given prefix length");
            if (src != 0 && !net.IsLocalAddress(src))
                throw new NetStackException(-Uapi.Errno.EINVAL, $"{what}: invalid prefsrc address");
            if (gw != 0)
            {
                // fib_check_nh_v4_gw(): the gateway must be a unicast address reached by a connected route (on the device, if one is named).
                if (net.IsLocalAddress(gw) || Ipv4Address.IsMulticast(gw) || Ipv4Address.IsLimitedBroadcast(gw) || Ipv4Address.IsZeroNet(gw))
                    throw new NetStackException(-Uapi.Errno.EINVAL, $"{what}: nexthop has invalid gateway");
                var via = net.Ipv4.Fib.Entries.FirstOrDefault(e => e.Gateway == 0 && e.Matches(gw) && (dev is null || e.Dev == dev));
                if (via is null) throw new NetStackException(-Uapi.Errno.ENETUNREACH, $"{what}: nexthop has invalid gateway");
                dev ??= via.Dev;
            }
            if (dev is null) throw new NetStackException(-Uapi.Errno.ENODEV, $"{what}: no device for the nexthop");
            if (!dev.IsUp) throw new NetStackException(-Uapi.Errno.ENETDOWN, $"{what}: nexthop device is not up");
            var e = new FibEntry(dst, prefixLength, gw, dev, src, metric, RtProt.Boot, gw == 0 ? RtScope.Link : RtScope.Universe);
            NetStackException.ThrowIfError(net.Ipv4.Fib.Insert(e, mode), what);
        }
    }

    /// <summary>
    /// `ip route del DEST/PREFIX [via GATEWAY] [dev DEVICE] [metric METRIC]`: deletes the first route to the
    /// prefix that matches every selector given (null or a negative metric match anything).
    /// </summary>
    /// <exception cref="NetStackException">ESRCH when no route matches, ENODEV for an unknown device.</exception>
    public static void DeleteRoute(NetNamespace net, IPAddress destination, int prefixLength, IPAddress? gateway = null,
        string? device = null, int metric = -1)
    {
        ArgumentNullException.ThrowIfNull(net);
        ArgumentNullException.ThrowIfNull(destination);
        if (IsV6(destination))
        {
            lock (net.SyncRoot)
                NetStackException.ThrowIfError(Ipv6.Ipv6Rtnl.Ip6RouteDel(net, V6(destination), prefixLength, gateway is null ? 0 : V6(gateway),
                    device is null ? null : Dev(net, device), metric), "ip -6 route del");
            return;
        }
        CheckPrefix(prefixLength);
        uint dst = SocketConvert.ToUInt32(destination);
        uint gw = gateway is null ? 0 : SocketConvert.ToUInt32(gateway);
        lock (net.SyncRoot)
        {
            var dev = device is null ? null : Dev(net, device);
            NetStackException.ThrowIfError(net.Ipv4.Fib.Delete(dst, prefixLength, gw, dev, metric, 0, 0), "ip route del");
        }
    }

    /// <summary>
    /// `ip route flush [DEST/PREFIX] [dev DEVICE]` (`ip route flush table main` with no selector): deletes every
    /// route matching the selectors (a destination matches routes inside that prefix, as `ip route flush` with
    /// `root` does); returns how many.
    /// </summary>
    public static int FlushRoutes(NetNamespace net, IPAddress? destination = null, int prefixLength = 0, string? device = null)
    {
        ArgumentNullException.ThrowIfNull(net);
        if (destination is not null && IsV6(destination)) return FlushIpv6Routes(net, destination, prefixLength, device);
        CheckPrefix(prefixLength);
        uint dst = destination is null ? 0 : SocketConvert.ToUInt32(destination);
        uint mask = Ipv4Address.PrefixMask(prefixLength);
        lock (net.SyncRoot)
        {
            var dev = device is null ? null : Dev(net, device);
            return net.Ipv4.Fib.Flush(e => (dev is null || e.Dev == dev) && e.PrefixLen >= prefixLength && (e.Dst & mask) == (dst & mask));
        }
    }

    /// <summary>
    /// `ip -6 route flush [DEST/PREFIX] [dev DEVICE]` (`ip -6 route flush table main` with no selector): deletes the
    /// IPv6 main table's routes of exactly that prefix (iproute2's default match) and through that device, the
    /// connected prefixes included; a multipath route is never selected by a device (it has none of its own, as
    /// iproute2 sees it). Returns how many routes went (0 is no error).
    /// </summary>
    /// <param name="net">The stack.</param>
    /// <param name="destination">The prefix, or null for every route.</param>
    /// <param name="prefixLength">The prefix length (ignored without a destination).</param>
    /// <param name="device">The output device, or null for any.</param>
    /// <exception cref="NetStackException">ENODEV for an unknown device, EINVAL for a prefix length over 128.</exception>
    public static int FlushIpv6Routes(NetNamespace net, IPAddress? destination = null, int prefixLength = 0, string? device = null)
    {
        ArgumentNullException.ThrowIfNull(net);
        lock (net.SyncRoot)
        {
            var dev = device is null ? null : Dev(net, device);
            int n = Ipv6.Ipv6Rtnl.Ip6RouteFlush(net, destination is null ? null : V6(destination), destination is null ? 0 : prefixLength, dev);
            NetStackException.ThrowIfError(Math.Min(n, 0), "ip -6 route flush");
            return n;
        }
    }

    /// <summary>`ip neigh add ADDRESS lladdr MAC dev DEVICE nud permanent` (an IPv6 address: the neighbour discovery table).</summary>
    /// <exception cref="NetStackException">EEXIST when an entry exists, ENODEV.</exception>
    public static void AddNeighbour(NetNamespace net, string device, IPAddress address, PhysicalAddress linkLayerAddress) =>
        SetNeighbour(net, device, address, linkLayerAddress, replace: false);

    /// <summary>`ip neigh replace ADDRESS lladdr MAC dev DEVICE nud permanent`: creates or overrides the entry.</summary>
    public static void ReplaceNeighbour(NetNamespace net, string device, IPAddress address, PhysicalAddress linkLayerAddress) =>
        SetNeighbour(net, device, address, linkLayerAddress, replace: true);

    private static void SetNeighbour(NetNamespace net, string device, IPAddress address, PhysicalAddress lladdr, bool replace)
    {
        ArgumentNullException.ThrowIfNull(net);
        ArgumentNullException.ThrowIfNull(lladdr);
        ArgumentNullException.ThrowIfNull(address);
        var bytes = lladdr.GetAddressBytes();
        if (bytes.Length != 6) throw new NetStackException(-Uapi.Errno.EINVAL, "ip neigh: lladdr is not an Ethernet address");
        if (IsV6(address))
        {
            lock (net.SyncRoot)
                NetStackException.ThrowIfError(net.Ipv6.NdTbl.NeighAdd(V6(address), Dev(net, device), MacAddress.Read(bytes), replace), replace ? "ip -6 neigh replace" : "ip -6 neigh add");
            return;
        }
        uint a = SocketConvert.ToUInt32(address);
        lock (net.SyncRoot)
        {
            var dev = Dev(net, device);
            if (dev.NoArp) throw new NetStackException(-Uapi.Errno.EINVAL, $"ip neigh: {device} does not use ARP");
            NetStackException.ThrowIfError(net.Ipv4.Arp.NeighAdd(a, dev, MacAddress.Read(bytes), replace), replace ? "ip neigh replace" : "ip neigh add");
        }
    }

    /// <summary>`ip neigh del ADDRESS dev DEVICE` (an IPv6 address: the neighbour discovery table).</summary>
    /// <exception cref="NetStackException">ENOENT when there is no such entry, ENODEV.</exception>
    public static void DeleteNeighbour(NetNamespace net, string device, IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(net);
        ArgumentNullException.ThrowIfNull(address);
        if (IsV6(address))
        {
            lock (net.SyncRoot)
                NetStackException.ThrowIfError(net.Ipv6.NdTbl.NeighDelete(V6(address), Dev(net, device)), "ip -6 neigh del");
            return;
        }
        uint a = SocketConvert.ToUInt32(address);
        lock (net.SyncRoot)
            NetStackException.ThrowIfError(net.Ipv4.Arp.NeighDelete(a, Dev(net, device)), "ip neigh del");
    }

    /// <summary>`ip -6 neigh flush [dev DEVICE]` (`all` when null): removes the learned neighbour discovery entries, keeping PERMANENT and NOARP ones; returns how many.</summary>
    public static int FlushIpv6Neighbours(NetNamespace net, string? device = null)
    {
        ArgumentNullException.ThrowIfNull(net);
        lock (net.SyncRoot)
            return net.Ipv6.NdTbl.NeighFlush(device is null ? null : Dev(net, device));
    }

    private static bool IsV6(IPAddress a) => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 && !a.IsIPv4MappedToIPv6;

    private static UInt128 V6(IPAddress a)
    {
        if (a.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6) throw new NetStackException(-Uapi.Errno.EINVAL, $"{a} is not an IPv6 address");
        Span<byte> b = stackalloc byte[16];
        a.TryWriteBytes(b, out _);
        return Ipv6Address.Read(b);
    }

    /// <summary>`ip neigh flush [dev DEVICE]` (`all` when null): removes the learned entries, keeping PERMANENT and NOARP ones; returns how many.</summary>
    public static int FlushNeighbours(NetNamespace net, string? device = null)
    {
        ArgumentNullException.ThrowIfNull(net);
        lock (net.SyncRoot)
            return net.Ipv4.Arp.NeighFlush(device is null ? null : Dev(net, device));
    }
}
