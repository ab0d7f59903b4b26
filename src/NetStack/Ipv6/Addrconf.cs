using NetStack.Core;
using NetStack.Wire;

namespace NetStack.Ipv6;

/// <summary>The flags of an IPv6 address (include/uapi/linux/if_addr.h: IFA_F_*).</summary>
[Flags]
internal enum IfaFlags : uint
{
    None = 0,
    Nodad = 0x02,
    Optimistic = 0x04,
    Dadfailed = 0x08,
    Deprecated = 0x20,
    Tentative = 0x40,
    Permanent = 0x80,
}

/// <summary>One IPv6 address of a device. <remarks>Mirrors include/net/if_inet6.h: struct inet6_ifaddr.</remarks></summary>
internal sealed class Inet6Ifaddr(UInt128 addr, int prefixLen, int scope, IfaFlags flags, Inet6Dev idev)
{
    public readonly UInt128 Addr = addr;
    public readonly int PrefixLen = prefixLen;
    /// <summary>The address's scope (IFA_HOST, IFA_LINK, IFA_GLOBAL as `ip` prints them).</summary>
    public readonly int Scope = scope;
    public IfaFlags Flags = flags;
    public readonly Inet6Dev Idev = idev;

    public override string ToString() => $"inet6 {Ipv6Address.Format(Addr)}/{PrefixLen} scope {Addrconf.ScopeName(Scope)}";
}

/// <summary>
/// The IPv6 side of a device: its addresses, the multicast groups it listens to (each with its
/// users), and its settings. Replaced arrays, never changed in place, so the packet path reads them
/// without allocating.
/// </summary>
/// <remarks>Mirrors include/net/if_inet6.h: struct inet6_dev (addr_list, mc_list, cnf).</remarks>
internal sealed class Inet6Dev(NetDevice dev)
{
    public readonly NetDevice Dev = dev;
    /// <summary>addr_list, in the order added (the kernel keeps it by scope; lookups here scan it).</summary>
    public Inet6Ifaddr[] AddrList = [];
    /// <summary>mc_list: the groups joined (ifmcaddr6) with their users (mca_users).</summary>
    public (UInt128 Group, int Users)[] McList = [];
    /// <summary>The on-link route ND messages leave by (icmp6_dst_alloc() on the device): the destination is the next hop.</summary>
    public Rt6Info OnLink => field ??= new Rt6Info(0, 0, Dev, 0, 0, Rt6Type.Unicast, "kernel");
}

/// <summary>
/// Address configuration: each device's inet6_dev, the link-local address made from the MAC (EUI-64,
/// addr_gen_mode 0), ::1 on the loopback device, static addresses with their prefix routes, the
/// multicast groups every node joins (all-nodes, and the solicited-node group of each address), and
/// source address selection.
/// <para>
/// Duplicate address detection is not run yet: addresses are never tentative (as if added with
/// `nodad`, or with accept_dad = 0), so nothing is sent when a device comes up.
/// </para>
/// </summary>
/// <remarks>Mirrors net/ipv6/addrconf.c (and the group-joining half of net/ipv6/mcast.c).</remarks>
internal static class Addrconf
{
    /// <summary>Address scopes as rtnetlink reports them (RT_SCOPE_*).</summary>
    public const int ScopeGlobal = 0, ScopeLink = 253, ScopeHost = 254;

    /// <summary>The scope's name as `ip -6 addr` prints it.</summary>
    public static string ScopeName(int scope) => scope switch { ScopeHost => "host", ScopeLink => "link", _ => "global" };

    /// <remarks>Mirrors ipv6_addr_scope() (IPV6_ADDR_SCOPE_TYPE of __ipv6_addr_type()).</remarks>
    public static int AddrScope(UInt128 a) =>
        a == Ipv6Address.Loopback ? ScopeHost : Ipv6Address.IsLinkLocal(a) ? ScopeLink : ScopeGlobal;

    /// <summary>Device events: up makes the inet6_dev, the addresses and routes; down removes the routes and the neighbours.</summary>
    /// <remarks>Mirrors addrconf_notify() (NETDEV_UP -> addrconf_dev_config()/init_loopback(), NETDEV_DOWN -> addrconf_ifdown()) and ndisc_netdev_event().</remarks>
    internal sealed class AddrconfNotifier : NetdevNotifier
    {
        public static readonly AddrconfNotifier Instance = new();

        public override void NotifierCall(NetdevEvent ev, NetDevice dev)
        {
            if (dev.Net is not { } net) return;
            if (ev == NetdevEvent.Up) AddrconfDevUp(net, dev);
            else if (ev == NetdevEvent.Down)
            {
                net.Ipv6.Fib6.Flush(rt => rt.Dev == dev || rt.LocalDev == dev);
                net.Ipv6.NdTbl.NeighIfdown(dev);
            }
        }
    }

    /// <summary>
    /// A device came up: its inet6_dev (joined to the all-nodes group), then ::1 on loopback or the
    /// EUI-64 link-local address on an Ethernet device; addresses it already had get their prefix
    /// routes back.
    /// </summary>
    /// <remarks>Mirrors addrconf_notify(NETDEV_UP): ipv6_find_idev() -> ipv6_add_dev() (ipv6_mc_init_dev(),
    /// ipv6_dev_mc_inc(in6addr_linklocal_allnodes)), then init_loopback() or addrconf_dev_config() ->
    /// addrconf_addr_gen() -> addrconf_add_linklocal(); addrconf_prefix_route() for each address.</remarks>
    private static void AddrconfDevUp(NetNamespace net, NetDevice dev)
    {
        var v6 = net.Ipv6;
        if (!v6.Devs.TryGetValue(dev, out var idev))
        {
            idev = new Inet6Dev(dev);
            v6.Devs[dev] = idev;
            Ipv6DevMcInc(idev, new UInt128(0xff01_0000_0000_0000, 1)); // interface-local all-nodes
            Ipv6DevMcInc(idev, Ipv6Address.AllNodes);
        }
        foreach (var ifp in idev.AddrList) AddrconfPrefixRoute(net, ifp);
        if (dev.IsLoopback)
        {
            if (Ipv6GetIfaddr(idev, Ipv6Address.Loopback) is null)
                Ipv6AddAddr(net, idev, Ipv6Address.Loopback, 128, IfaFlags.Permanent);
            return;
        }
        if (dev.NoArp || dev.DevAddr.IsZero) return; // no link-layer address to make an interface identifier from
        var ll = Ipv6Address.LinkLocal(dev.DevAddr);
        if (Ipv6GetIfaddr(idev, ll) is null) Ipv6AddAddr(net, idev, ll, 64, IfaFlags.Permanent);
        // addrconf_add_dev() -> addrconf_add_mroute(): ff00::/8 through the device.
        v6.Fib6.Add(new Rt6Info(new UInt128(0xff00_0000_0000_0000, 0), 8, dev, 0, 256, Rt6Type.Multicast, "kernel"));
    }

    /// <summary>
    /// Adds an address: the inet6_ifaddr, its solicited-node group (the MAC filter passes
    /// 33:33:ff:xx:xx:xx), the local route and the prefix route. No DAD: the address is usable at once.
    /// </summary>
    /// <remarks>Mirrors ipv6_add_addr() + addrconf_join_solict() + addrconf_prefix_route() (+ the local route of addrconf_f6i_alloc()).</remarks>
    internal static Inet6Ifaddr Ipv6AddAddr(NetNamespace net, Inet6Dev idev, UInt128 addr, int prefixLen, IfaFlags flags)
    {
        var ifp = new Inet6Ifaddr(addr, prefixLen, AddrScope(addr), flags | IfaFlags.Nodad, idev);
        idev.AddrList = [.. idev.AddrList, ifp];
        if (!idev.Dev.IsLoopback) Ipv6DevMcInc(idev, Ipv6Address.SolicitedNode(addr));
        AddrconfPrefixRoute(net, ifp);
        return ifp;
    }

    /// <remarks>Mirrors addrconf_prefix_route() for the address's prefix (not for a /128, nor on loopback) and the local route.</remarks>
    private static void AddrconfPrefixRoute(NetNamespace net, Inet6Ifaddr ifp)
    {
        var fib = net.Ipv6.Fib6;
        var dev = ifp.Idev.Dev;
        fib.Add(new Rt6Info(ifp.Addr, 128, net.Loopback, 0, 0, Rt6Type.Local, "kernel") { LocalDev = dev });
        if (ifp.PrefixLen < 128 && !dev.IsLoopback)
            fib.Add(new Rt6Info(ifp.Addr & Ipv6Address.PrefixMask(ifp.PrefixLen), ifp.PrefixLen, dev, 0, 256, Rt6Type.Unicast, "kernel"));
    }

    /// <summary>
    /// `ip -6 addr add ADDR/PLEN dev DEV`: 0, -EINVAL for a multicast or unspecified address or a
    /// prefix length over 128, -ENODEV when the device is not up here, -EEXIST when it has the address.
    /// </summary>
    /// <remarks>Mirrors inet6_addr_add() -> ipv6_add_addr() (IFA_F_PERMANENT, IFA_F_NODAD).</remarks>
    internal static int Inet6AddrAdd(NetNamespace net, NetDevice dev, UInt128 addr, int prefixLen)
    {
        if ((uint)prefixLen > 128) return -Uapi.Errno.EINVAL;
        if (Ipv6Address.IsMulticast(addr) || addr == Ipv6Address.Any) return -Uapi.Errno.EINVAL;
        if (dev.Net != net || !net.Ipv6.Devs.TryGetValue(dev, out var idev)) return -Uapi.Errno.ENODEV;
        if (Ipv6GetIfaddr(idev, addr) is not null) return -Uapi.Errno.EEXIST;
        Ipv6AddAddr(net, idev, addr, prefixLen, IfaFlags.Permanent);
        return 0;
    }

    /// <summary>The device's inet6_dev, or null when IPv6 never saw it come up.</summary>
    /// <remarks>Mirrors __in6_dev_get().</remarks>
    public static Inet6Dev? In6DevGet(NetNamespace net, NetDevice dev) => net.Ipv6.Devs.TryGetValue(dev, out var idev) ? idev : null;

    private static Inet6Ifaddr? Ipv6GetIfaddr(Inet6Dev idev, UInt128 addr)
    {
        foreach (var ifp in idev.AddrList) if (ifp.Addr == addr) return ifp;
        return null;
    }

    /// <summary>
    /// The address <paramref name="addr"/> of this host, on <paramref name="dev"/> when given (always
    /// for a link-local address, whose scope is the link; for any address when <paramref name="strict"/>),
    /// or null.
    /// </summary>
    /// <remarks>Mirrors ipv6_get_ifaddr().</remarks>
    public static Inet6Ifaddr? Ipv6GetIfaddr(NetNamespace net, UInt128 addr, NetDevice? dev, bool strict = false)
    {
        // conf.all.disable_ipv6: Linux takes every address away (addrconf_disable_ipv6() ->
        // addrconf_ifdown()); here they are kept but not used until it is cleared.
        if (net.Ipv6.Sysctl.DisableIpv6) return null;
        strict |= Ipv6Address.IsLinkLocal(addr);
        foreach (var (d, idev) in net.Ipv6.Devs)
        {
            if (dev is not null && d != dev && strict) continue;
            var ifp = Ipv6GetIfaddr(idev, addr);
            if (ifp is not null) return ifp;
        }
        return null;
    }

    /// <summary>Whether <paramref name="addr"/> is one of this host's (non-tentative) addresses, on <paramref name="dev"/> for link-local.</summary>
    /// <remarks>Mirrors ipv6_chk_addr() (skip_dev_check = false, banned flags IFA_F_TENTATIVE).</remarks>
    public static bool Ipv6ChkAddr(NetNamespace net, UInt128 addr, NetDevice? dev) =>
        Ipv6GetIfaddr(net, addr, dev) is { } ifp && (ifp.Flags & IfaFlags.Tentative) == 0;

    /// <summary>The device's link-local address (not tentative), or null.</summary>
    /// <remarks>Mirrors ipv6_get_lladdr() (banned_flags IFA_F_TENTATIVE).</remarks>
    public static UInt128? Ipv6GetLladdr(NetNamespace net, NetDevice dev)
    {
        if (In6DevGet(net, dev) is not { } idev) return null;
        foreach (var ifp in idev.AddrList)
            if (ifp.Scope == ScopeLink && (ifp.Flags & IfaFlags.Tentative) == 0) return ifp.Addr;
        return null;
    }

    /// <summary>
    /// The source address for a packet to <paramref name="daddr"/> out of <paramref name="dev"/>, by the
    /// first rules of RFC 6724: the destination itself if ours, then an address of the same scope as
    /// the destination (a link-local one for a link-local or link-scope multicast destination), then the
    /// longest common prefix; addresses of the outgoing device first. False when there is none.
    /// </summary>
    /// <remarks>Mirrors ipv6_dev_get_saddr() (rules 1, 2, 5, 8 of ipv6_get_saddr_eval()).</remarks>
    public static bool Ipv6DevGetSaddr(NetNamespace net, NetDevice? dev, UInt128 daddr, out UInt128 saddr)
    {
        saddr = 0;
        if (net.Ipv6.Sysctl.DisableIpv6) return false; // no addresses (see Ipv6GetIfaddr)
        int dscope = Ipv6Address.IsMulticast(daddr)
            ? (Ipv6Address.MulticastScope(daddr) <= 2 ? ScopeLink : ScopeGlobal)
            : AddrScope(daddr);
        Inet6Ifaddr? best = null;
        int bestScore = -1;
        foreach (var (d, idev) in net.Ipv6.Devs)
        {
            foreach (var ifp in idev.AddrList)
            {
                if ((ifp.Flags & IfaFlags.Tentative) != 0) continue;
                if (ifp.Addr == daddr) { saddr = daddr; return true; } // rule 1: same address
                if (ifp.Scope == ScopeHost && dscope != ScopeHost) continue;
                if (dscope == ScopeLink && ifp.Scope == ScopeLink && dev is not null && d != dev) continue; // a link-local source only on its link
                // rule 2: appropriate scope (an address of the destination's scope or wider wins; link-local for link scope)
                int score = (ifp.Scope == dscope ? 1 << 16 : 0) | (d == dev ? 1 << 15 : 0);
                score |= CommonPrefixLen(ifp.Addr, daddr); // rule 8: longest matching prefix
                if (score > bestScore) { bestScore = score; best = ifp; }
            }
        }
        if (best is null) return false;
        saddr = best.Addr;
        return true;
    }

    private static int CommonPrefixLen(UInt128 a, UInt128 b)
    {
        var x = a ^ b;
        return x == 0 ? 128 : (int)UInt128.LeadingZeroCount(x);
    }

    /// <summary>Joins <paramref name="group"/> on the device (one more user if joined): its MAC goes into the receive filter.</summary>
    /// <remarks>Mirrors net/ipv6/mcast.c: ipv6_dev_mc_inc() -> igmp6_group_added() -> dev_mc_add(ndisc_mc_map()). No MLD report is sent yet.</remarks>
    internal static void Ipv6DevMcInc(Inet6Dev idev, UInt128 group)
    {
        var mc = idev.McList;
        for (int i = 0; i < mc.Length; i++)
        {
            if (mc[i].Group != group) continue;
            var copy = ((UInt128, int)[])mc.Clone();
            copy[i].Item2++;
            idev.McList = copy;
            return;
        }
        idev.McList = [.. mc, (group, 1)];
        if (!idev.Dev.IsLoopback) idev.Dev.DevMcAdd(Ipv6Address.EthMcMap(group));
    }

    /// <summary>Whether the device listens to <paramref name="group"/>.</summary>
    /// <remarks>Mirrors net/ipv6/mcast.c: ipv6_chk_mcast_addr() (no source filters yet).</remarks>
    public static bool Ipv6ChkMcastAddr(NetNamespace net, NetDevice dev, UInt128 group)
    {
        if (In6DevGet(net, dev) is not { } idev) return false;
        var mc = idev.McList;
        for (int i = 0; i < mc.Length; i++) if (mc[i].Group == group) return true;
        return false;
    }
}
