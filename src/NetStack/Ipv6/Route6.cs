using System.Text;
using NetStack.Core;
using NetStack.Wire;

namespace NetStack.Ipv6;

/// <summary>What a route does with a packet (RTN_* as `ip -6 route` shows it).</summary>
internal enum Rt6Type : byte { Unicast, Local, Multicast }

/// <summary>
/// One IPv6 route: destination prefix, output device, gateway (0: on-link), metric and type.
/// A local route (this host's address) goes through the loopback device and remembers the device
/// that owns the address.
/// </summary>
/// <remarks>Mirrors include/net/ip6_fib.h: struct fib6_info / struct rt6_info (fib6_dst, fib6_nh, fib6_metric, fib6_type, fib6_protocol).</remarks>
internal sealed class Rt6Info(UInt128 dst, int dstLen, NetDevice dev, UInt128 gateway, int metric, Rt6Type type, string protocol)
{
    public readonly UInt128 Dst = dst;
    public readonly int DstLen = dstLen;
    public readonly NetDevice Dev = dev;
    /// <summary>The next hop (fib_nh_gw6); 0 for a connected prefix.</summary>
    public readonly UInt128 Gateway = gateway;
    public readonly int Metric = metric;
    public readonly Rt6Type Type = type;
    /// <summary>"kernel", "static", "boot", "ra".</summary>
    public readonly string Protocol = protocol;
    /// <summary>For a local route: the device the address belongs to.</summary>
    public NetDevice? LocalDev { get; init; }
    /// <summary>
    /// Nonzero for an ECMP route: the routes of one multipath route (fib6_siblings) share the number;
    /// `ip -6 route` prints them as one route with a nexthop line each.
    /// </summary>
    /// <remarks>Changed under the stack lock only (the packet path never reads it).</remarks>
    public int SiblingGroup { get; set; }

    /// <summary>
    /// Whether the route can be a sibling of a multipath route: one with a gateway that addrconf did not add
    /// (connected prefixes and router-advertised routes, RTF_ADDRCONF, never are).
    /// </summary>
    /// <remarks>Mirrors rt6_qualify_for_ecmp().</remarks>
    public bool QualifiesForEcmp => Type == Rt6Type.Unicast && Gateway != 0 && Protocol is not ("kernel" or "ra");

    /// <summary>The neighbour to send a packet for <paramref name="daddr"/> to.</summary>
    /// <remarks>Mirrors rt6_nexthop().</remarks>
    public UInt128 NextHop(UInt128 daddr) => Gateway != 0 ? Gateway : daddr;

    public bool Matches(UInt128 addr) => Ipv6Address.PrefixEqual(addr, Dst, DstLen);

    /// <summary>The line `ip -6 route show table all` prints for the route.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        if (Type == Rt6Type.Local) sb.Append("local ");
        else if (Type == Rt6Type.Multicast) sb.Append("multicast ");
        sb.Append(DstLen == 0 && Dst == 0 ? "default" : $"{Ipv6Address.Format(Dst)}/{DstLen}");
        if (Gateway != 0) sb.Append(" via ").Append(Ipv6Address.Format(Gateway));
        sb.Append(" dev ").Append((LocalDev ?? Dev).Name);
        if (Type != Rt6Type.Unicast) sb.Append(" table local");
        sb.Append(" proto ").Append(Protocol).Append(" metric ").Append(Metric).Append(" pref medium");
        return sb.ToString();
    }
}

/// <summary>
/// A small fib6: the routes in a list, looked up by longest prefix then lowest metric. Link-local
/// and multicast destinations need the output device (their prefix is on every link). Replaced,
/// never changed in place, so the packet path reads it without allocating.
/// </summary>
/// <remarks>Mirrors net/ipv6/ip6_fib.c and route.c at the size of a host: fib6_add(), fib6_lookup() (as a
/// scan instead of the radix tree), fib6_del(), rt6_sync_down_dev().</remarks>
internal sealed class Fib6Table(NetNamespace net)
{
    private Rt6Info[] _routes = [];

    /// <summary>A snapshot of the routes.</summary>
    public IReadOnlyList<Rt6Info> Routes => _routes;

    /// <summary>Adds a route unless one with the same prefix, device, gateway, metric and type is there (NLM_F_EXCL: false).</summary>
    /// <remarks>Mirrors fib6_add() -> fib6_add_rt2node() (an identical route is -EEXIST).</remarks>
    public bool Add(Rt6Info rt)
    {
        foreach (var r in _routes)
            if (r.Dst == rt.Dst && r.DstLen == rt.DstLen && r.Dev == rt.Dev && r.Gateway == rt.Gateway && r.Metric == rt.Metric && r.Type == rt.Type && r.LocalDev == rt.LocalDev)
                return false;
        _routes = [.. _routes, rt];
        return true;
    }

    private int _siblingGroups;

    /// <summary>How a route added through rtnetlink meets a route of the same prefix and metric (the nlmsg_flags of RTM_NEWROUTE).</summary>
    public enum InsertMode
    {
        /// <summary>NLM_F_EXCL (`ip route add`): -EEXIST.</summary>
        Excl,
        /// <summary>NLM_F_REPLACE (`ip route replace`): replaces it (with its siblings), or adds.</summary>
        Replace,
        /// <summary>NLM_F_APPEND (`ip route append`): a sibling of a gateway route, or a route after it; -EEXIST for the same nexthop.</summary>
        Append,
    }

    /// <summary>
    /// Inserts a main-table route of the prefix <paramref name="rt"/> has, meeting the routes of the same prefix and
    /// metric as <paramref name="mode"/> says: add refuses any (-EEXIST); replace takes the first whose ECMP
    /// capability is the new route's (with its siblings), or, for a new route that can be a sibling, the first
    /// other one, and adds when there is none; append refuses a route of the same nexthop (-EEXIST), makes the
    /// route a sibling of gateway routes when both qualify for ECMP, and otherwise puts it after them.
    /// </summary>
    /// <remarks>Mirrors fib6_add() -> fib6_add_rt2node() (the leaf walk, fallback_ins, the siblings' list, fib6_purge_rt() of the replaced siblings).</remarks>
    public int Insert(Rt6Info rt, InsertMode mode)
    {
        var routes = _routes.ToList();
        bool canEcmp = rt.QualifiesForEcmp;
        int found = -1, fallback = -1, sibling = -1, last = -1;
        for (int i = 0; i < routes.Count; i++)
        {
            var it = routes[i];
            if (it.Type != Rt6Type.Unicast || it.Dst != rt.Dst || it.DstLen != rt.DstLen) continue;
            if (it.Metric > rt.Metric) continue;
            last = i;
            if (it.Metric != rt.Metric) continue;
            if (mode == InsertMode.Excl) return -Uapi.Errno.EEXIST;
            if (mode == InsertMode.Replace)
            {
                if (found < 0 && canEcmp == it.QualifiesForEcmp) found = i;
                else if (canEcmp && fallback < 0) fallback = i;
                continue;
            }
            if (it.Dev == rt.Dev && it.Gateway == rt.Gateway) return -Uapi.Errno.EEXIST; // rt6_duplicate_nexthop()
            if (canEcmp && it.QualifiesForEcmp && sibling < 0) sibling = i;
        }
        if (mode == InsertMode.Replace && (found >= 0 || fallback >= 0))
        {
            int at = found >= 0 ? found : fallback;
            var old = routes[at];
            routes[at] = rt;
            if (old.SiblingGroup != 0) routes.RemoveAll(r => r != rt && r.SiblingGroup == old.SiblingGroup);
            _routes = [.. routes];
            return 0;
        }
        if (sibling >= 0)
        {
            int group = routes[sibling].SiblingGroup;
            if (group == 0)
            {
                group = ++_siblingGroups;
                for (int i = 0; i < routes.Count; i++)
                    if (routes[i].Type == Rt6Type.Unicast && routes[i].Dst == rt.Dst && routes[i].DstLen == rt.DstLen && routes[i].Metric == rt.Metric && routes[i].QualifiesForEcmp)
                        routes[i].SiblingGroup = group;
            }
            rt.SiblingGroup = group;
        }
        routes.Insert(last < 0 ? routes.Count : last + 1, rt);
        _routes = [.. routes];
        return 0;
    }

    /// <summary>Removes the routes <paramref name="match"/> selects; returns how many.</summary>
    /// <remarks>Mirrors fib6_clean_all() with a selecting function (rt6_sync_down_dev(), fib6_del()).</remarks>
    public int Flush(Func<Rt6Info, bool> match)
    {
        var keep = _routes.Where(r => !match(r)).ToArray();
        int n = _routes.Length - keep.Length;
        // A multipath route left with one nexthop is a plain route again (fib6_del_route() unlinks the sibling).
        foreach (var r in keep)
            if (r.SiblingGroup != 0 && keep.Count(o => o.SiblingGroup == r.SiblingGroup) == 1) r.SiblingGroup = 0;
        _routes = keep;
        return n;
    }

    /// <summary>
    /// The best route to <paramref name="daddr"/>: the longest matching prefix, then the lowest
    /// metric; a local route always wins (the local table comes first). With <paramref name="oif"/>,
    /// only routes through that device (its local routes included); link-local and multicast
    /// destinations without one take the first device's route.
    /// </summary>
    /// <remarks>Mirrors fib6_rule_lookup() -> ip6_pol_route(): the local table, then main (fib6_lookup() + rt6_select()).</remarks>
    public Rt6Info? Lookup(UInt128 daddr, NetDevice? oif)
    {
        Rt6Info? best = null;
        var routes = _routes;
        for (int i = 0; i < routes.Length; i++)
        {
            var r = routes[i];
            if (!r.Matches(daddr)) continue;
            if (oif is not null && (r.LocalDev ?? r.Dev) != oif && !(r.Type == Rt6Type.Local && !Ipv6Address.IsLinkLocal(daddr))) continue;
            if (best is null || Better(r, best)) best = r;
        }
        return best;
    }

    private static bool Better(Rt6Info r, Rt6Info best)
    {
        if ((r.Type == Rt6Type.Local) != (best.Type == Rt6Type.Local)) return r.Type == Rt6Type.Local;
        if (r.DstLen != best.DstLen) return r.DstLen > best.DstLen;
        return r.Metric < best.Metric;
    }

    /// <summary>`ip -6 route show table all`: one line per route, main table then local.</summary>
    public string Format()
    {
        lock (net.SyncRoot)
        {
            var sb = new StringBuilder();
            foreach (var r in _routes.Where(r => r.Type == Rt6Type.Unicast).OrderBy(r => r.DstLen == 0 ? 1 : 0).ThenBy(r => r.Dst)) sb.Append(r).Append('\n');
            foreach (var r in _routes.Where(r => r.Type != Rt6Type.Unicast)) sb.Append(r).Append('\n');
            return sb.ToString();
        }
    }
}

/// <summary>Route lookups for IPv6 input and output.</summary>
/// <remarks>Mirrors net/ipv6/route.c.</remarks>
internal static class Route6
{
    /// <summary>
    /// The output route to <paramref name="daddr"/> (through <paramref name="oif"/> when given; a
    /// link-local or multicast destination needs it). Null: no route (-ENETUNREACH).
    /// </summary>
    /// <remarks>Mirrors ip6_route_output() -> ip6_route_output_flags() (a link-local or multicast
    /// destination with an oif is strict: RT6_LOOKUP_F_IFACE).</remarks>
    public static Rt6Info? Ip6RouteOutput(NetNamespace net, UInt128 daddr, NetDevice? oif)
    {
        var fib = net.Ipv6.Fib6;
        return fib.Lookup(daddr, oif) ?? (oif is null ? null : fib.Lookup(daddr, null) is { Type: Rt6Type.Local } local ? local : null);
    }

    /// <summary>`ip -6 route add default via GW dev DEV`: a static default route; false when it is there already.</summary>
    /// <remarks>Mirrors ip6_route_add() for ::/0 with a gateway (RTPROT_BOOT, metric 1024).</remarks>
    public static bool AddDefaultRoute(NetNamespace net, UInt128 gateway, NetDevice dev)
    {
        lock (net.SyncRoot) return net.Ipv6.Fib6.Add(new Rt6Info(0, 0, dev, gateway, 1024, Rt6Type.Unicast, "boot"));
    }
}
