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
internal sealed class Inet6Ifaddr
{
    public Inet6Ifaddr(UInt128 addr, int prefixLen, int scope, IfaFlags flags, Inet6Dev idev)
    {
        Addr = addr;
        PrefixLen = prefixLen;
        Scope = scope;
        Flags = flags;
        Idev = idev;
        DadTimer = new TimerList(Addrconf.AddrconfDadWork, this);
    }

    public readonly UInt128 Addr;
    public readonly int PrefixLen;
    /// <summary>The address's scope (IFA_HOST, IFA_LINK, IFA_GLOBAL as `ip` prints them).</summary>
    public readonly int Scope;
    public IfaFlags Flags;
    public readonly Inet6Dev Idev;
    /// <summary>dad_work: the next DAD probe, or the end of DAD.</summary>
    public readonly TimerList DadTimer;
    /// <summary>dad_probes: solicitations still to send.</summary>
    public int DadProbes;
    /// <summary>dad_nonce: the 48-bit nonce of our DAD probes (enhanced_dad), 0 for none.</summary>
    public ulong DadNonce;
    /// <summary>valid_lft / prefered_lft in seconds (uint.MaxValue: forever), counted from <see cref="Tstamp"/> (ns).</summary>
    public uint ValidLft = uint.MaxValue, PreferedLft = uint.MaxValue;
    /// <summary>tstamp: when the lifetimes were last set.</summary>
    public long Tstamp;
    /// <summary>state == INET6_IFADDR_STATE_DEAD: deleted.</summary>
    public bool Dead;

    /// <summary>The line `ip -6 addr` prints for the address (its flags included).</summary>
    public override string ToString()
    {
        var s = $"inet6 {Ipv6Address.Format(Addr)}/{PrefixLen} scope {Addrconf.ScopeName(Scope)}";
        if ((Flags & IfaFlags.Permanent) == 0 && Scope != Addrconf.ScopeHost) s += " dynamic";
        if ((Flags & IfaFlags.Deprecated) != 0) s += " deprecated";
        if ((Flags & IfaFlags.Dadfailed) != 0) s += " dadfailed";
        if ((Flags & IfaFlags.Tentative) != 0) s += " tentative";
        return s;
    }
}

/// <summary>if_flags of an inet6_dev (include/net/if_inet6.h: IF_RA_RCVD, IF_RS_SENT, IF_READY).</summary>
[Flags]
internal enum Inet6IfFlags
{
    None = 0,
    RaRcvd = 0x20,
    RsSent = 0x10,
    Ready = unchecked((int)0x80000000),
}

/// <summary>
/// The IPv6 side of a device: its addresses, the multicast groups it listens to (each with its
/// users and MLD state), router solicitation state, and its settings. The address and group
/// arrays are replaced, never changed in place, so the packet path reads them without allocating.
/// </summary>
/// <remarks>Mirrors include/net/if_inet6.h: struct inet6_dev (addr_list, mc_list, mc_tomb, the mc_* MLD fields, rs_timer, cnf).</remarks>
internal sealed class Inet6Dev
{
    public Inet6Dev(NetDevice dev, int qrv)
    {
        Dev = dev;
        McQrv = qrv;
        McGqTimer = new TimerList(Mcast.MldGqWork, this);
        McIfcTimer = new TimerList(Mcast.MldIfcWork, this);
        McDadTimer = new TimerList(Mcast.MldDadWork, this);
        RsTimer = new TimerList(Addrconf.AddrconfRsTimer, this);
    }

    public readonly NetDevice Dev;
    /// <summary>addr_list, in the order added (the kernel keeps it by scope; lookups here scan it).</summary>
    public Inet6Ifaddr[] AddrList = [];
    /// <summary>mc_list: the groups joined.</summary>
    public Ifmcaddr6[] McList = [];
    /// <summary>mc_tomb: groups left whose TO_IN{} records are still being sent.</summary>
    public readonly List<Ifmcaddr6> McTomb = new();
    /// <summary>mc_gq_work, mc_ifc_work, mc_dad_work.</summary>
    public readonly TimerList McGqTimer, McIfcTimer, McDadTimer;
    /// <summary>mc_gq_running.</summary>
    public bool McGqRunning;
    /// <summary>mc_qrv: the robustness variable (net.ipv6.mld_qrv until a query says).</summary>
    public int McQrv;
    /// <summary>mc_ifc_count / mc_dad_count: report rounds left.</summary>
    public int McIfcCount, McDadCount;
    /// <summary>mc_maxdelay (jiffies).</summary>
    public long McMaxdelay;
    /// <summary>mc_qi / mc_qri: the querier's query interval and query response interval (ns; MLD_QI_DEFAULT 125 s and MLD_QRI_DEFAULT 10 s until an MLDv2 query says).</summary>
    public long McQiNs = 125L * 1_000_000_000, McQriNs = 10L * 1_000_000_000;
    /// <summary>mc_v1_seen: until when an MLDv1 querier is present (clock ns; 0: none seen), RFC 3810 9.12.</summary>
    public long McV1SeenNs;
    /// <summary>if_flags.</summary>
    public Inet6IfFlags IfFlags;
    /// <summary>rs_timer, rs_probes, rs_interval (ms).</summary>
    public readonly TimerList RsTimer;
    public int RsProbes;
    public long RsIntervalMs;
    /// <summary>cnf.mtu6: the link MTU an advertisement gave (0: the device's).</summary>
    public int Mtu6;
    /// <summary>The on-link route ND messages leave by (icmp6_dst_alloc() on the device): the destination is the next hop.</summary>
    public Rt6Info OnLink => field ??= new Rt6Info(0, 0, Dev, 0, 0, Rt6Type.Unicast, "kernel");
}

/// <summary>
/// Address configuration: each device's inet6_dev, the link-local address made from the MAC (EUI-64,
/// addr_gen_mode 0), ::1 on the loopback device, static addresses with their prefix routes, the
/// multicast groups every node joins (all-nodes, and the solicited-node group of each address), and
/// source address selection.
/// <para>
/// Duplicate address detection, router solicitation and stateless autoconfiguration from router
/// advertisements are in Addrconf.Dad.cs and Addrconf.Prefix.cs; the groups' MLD in Mcast.cs.
/// </para>
/// </summary>
/// <remarks>Mirrors net/ipv6/addrconf.c (and the group-joining half of net/ipv6/mcast.c).</remarks>
internal static partial class Addrconf
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
                if (In6DevGet(net, dev) is { } idev)
                {
                    Mcast.Ipv6McDown(net, idev);
                    net.Timers.DelTimer(idev.RsTimer);
                    foreach (var ifp in idev.AddrList) net.Timers.DelTimer(ifp.DadTimer);
                    idev.IfFlags &= ~(Inet6IfFlags.Ready | Inet6IfFlags.RsSent | Inet6IfFlags.RaRcvd);
                }
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
            idev = new Inet6Dev(dev, v6.Sysctl.MldQrv);
            v6.Devs[dev] = idev;
            Ipv6DevMcInc(idev, new UInt128(0xff01_0000_0000_0000, 1)); // interface-local all-nodes
            Ipv6DevMcInc(idev, Ipv6Address.AllNodes);
        }
        idev.IfFlags |= Inet6IfFlags.Ready;
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
    /// Adds an address, tentative, with its local route and (unless <paramref name="prefixRoute"/> is
    /// false, as for an address made from an advertised prefix) its prefix route, then starts
    /// duplicate address detection, which joins its solicited-node group.
    /// </summary>
    /// <remarks>Mirrors ipv6_add_addr() (IFA_F_TENTATIVE; the local route of addrconf_f6i_alloc()) + addrconf_prefix_route() + addrconf_dad_start().</remarks>
    internal static Inet6Ifaddr Ipv6AddAddr(NetNamespace net, Inet6Dev idev, UInt128 addr, int prefixLen, IfaFlags flags, bool prefixRoute = true)
    {
        var ifp = new Inet6Ifaddr(addr, prefixLen, AddrScope(addr), flags | IfaFlags.Tentative, idev) { Tstamp = net.Clock.NowNs };
        idev.AddrList = [.. idev.AddrList, ifp];
        AddrconfPrefixRoute(net, ifp, prefixRoute);
        AddrconfDadStart(net, ifp);
        return ifp;
    }

    /// <remarks>Mirrors addrconf_prefix_route() for the address's prefix (not for a /128, nor on loopback) and the local route.</remarks>
    private static void AddrconfPrefixRoute(NetNamespace net, Inet6Ifaddr ifp, bool prefixRoute = true)
    {
        var fib = net.Ipv6.Fib6;
        var dev = ifp.Idev.Dev;
        fib.Add(new Rt6Info(ifp.Addr, 128, net.Loopback, 0, 0, Rt6Type.Local, "kernel") { LocalDev = dev });
        if (prefixRoute && ifp.PrefixLen < 128 && !dev.IsLoopback)
            fib.Add(new Rt6Info(ifp.Addr & Ipv6Address.PrefixMask(ifp.PrefixLen), ifp.PrefixLen, dev, 0, 256, Rt6Type.Unicast, "kernel"));
    }

    /// <summary>
    /// `ip -6 addr add ADDR/PLEN dev DEV`: 0, -EINVAL for a multicast or unspecified address or a
    /// prefix length over 128, -ENODEV when the device is not up here, -EEXIST when it has the address.
    /// </summary>
    /// <remarks>Mirrors inet6_addr_add() -> ipv6_add_addr() (IFA_F_PERMANENT, plus IFA_F_NODAD from `ip addr add ... nodad`) -> addrconf_dad_start().</remarks>
    internal static int Inet6AddrAdd(NetNamespace net, NetDevice dev, UInt128 addr, int prefixLen, bool noDad = false)
    {
        if ((uint)prefixLen > 128) return -Uapi.Errno.EINVAL;
        if (Ipv6Address.IsMulticast(addr) || addr == Ipv6Address.Any) return -Uapi.Errno.EINVAL;
        if (dev.Net != net || !net.Ipv6.Devs.TryGetValue(dev, out var idev)) return -Uapi.Errno.ENODEV;
        if (Ipv6GetIfaddr(idev, addr) is not null) return -Uapi.Errno.EEXIST;
        Ipv6AddAddr(net, idev, addr, prefixLen, noDad ? IfaFlags.Permanent | IfaFlags.Nodad : IfaFlags.Permanent);
        return 0;
    }

    /// <summary>The device's inet6_dev, or null when IPv6 never saw it come up.</summary>
    /// <remarks>Mirrors __in6_dev_get().</remarks>
    public static Inet6Dev? In6DevGet(NetNamespace net, NetDevice dev) => net.Ipv6.Devs.TryGetValue(dev, out var idev) ? idev : null;

    internal static Inet6Ifaddr? Ipv6GetIfaddr(Inet6Dev idev, UInt128 addr)
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
    /// <remarks>Mirrors ipv6_dev_get_saddr() (rules 1, 2, 3, 5, 8 of ipv6_get_saddr_eval(); tentative and DAD-failed addresses are never candidates).</remarks>
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
                // rule 3: avoid deprecated addresses
                int score = (ifp.Scope == dscope ? 1 << 17 : 0) | ((ifp.Flags & IfaFlags.Deprecated) == 0 ? 1 << 16 : 0) | (d == dev ? 1 << 15 : 0);
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

    /// <summary>Joins <paramref name="group"/> on the device (one more user if joined): its MAC goes into the receive filter and MLD reports the join.</summary>
    /// <remarks>Mirrors net/ipv6/mcast.c: ipv6_dev_mc_inc().</remarks>
    internal static void Ipv6DevMcInc(Inet6Dev idev, UInt128 group) => Mcast.Ipv6DevMcInc(idev, group);

    /// <summary>Whether the device listens to <paramref name="group"/>.</summary>
    /// <remarks>Mirrors net/ipv6/mcast.c: ipv6_chk_mcast_addr() (no source filters yet).</remarks>
    public static bool Ipv6ChkMcastAddr(NetNamespace net, NetDevice dev, UInt128 group)
    {
        if (In6DevGet(net, dev) is not { } idev) return false;
        var mc = idev.McList;
        for (int i = 0; i < mc.Length; i++) if (mc[i].McaAddr == group) return true;
        return false;
    }
}
