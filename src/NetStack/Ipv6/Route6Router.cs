using NetStack.Core;

namespace NetStack.Ipv6;

/// <summary>
/// The routes router discovery makes: default routers (proto ra, metric 1024) and advertised
/// on-link prefixes, each with the lifetime the advertisement gave, removed when it runs out.
/// </summary>
/// <remarks>Mirrors net/ipv6/route.c: rt6_get_dflt_router(), rt6_add_dflt_router(), and ip6_fib.c: fib6_set_expires(), fib6_run_gc().</remarks>
internal static class Rt6Router
{
    /// <summary>The default route through <paramref name="gateway"/> on <paramref name="dev"/> that an advertisement made, or null.</summary>
    /// <remarks>Mirrors rt6_get_dflt_router() (RTF_ADDRCONF | RTF_DEFAULT).</remarks>
    public static Rt6Info? Rt6GetDfltRouter(NetNamespace net, UInt128 gateway, NetDevice dev)
    {
        foreach (var rt in net.Ipv6.RaRoutes.Keys)
            if (rt.DstLen == 0 && rt.Gateway == gateway && rt.Dev == dev) return rt;
        return null;
    }

    /// <summary>A default route through the advertising router: `default via GW dev DEV proto ra metric 1024`.</summary>
    /// <remarks>Mirrors rt6_add_dflt_router() (IP6_RT_PRIO_USER, RTPROT_RA).</remarks>
    public static Rt6Info Rt6AddDfltRouter(NetNamespace net, UInt128 gateway, NetDevice dev)
    {
        var rt = new Rt6Info(0, 0, dev, gateway, 1024, Rt6Type.Unicast, "ra");
        net.Ipv6.Fib6.Add(rt);
        net.Ipv6.RaRoutes[rt] = long.MaxValue;
        return rt;
    }

    /// <summary>An on-link prefix route an advertisement gave (metric 256, proto kernel, as addrconf_prefix_route() makes it).</summary>
    /// <remarks>Mirrors addrconf_prefix_route() with RTF_ADDRCONF | RTF_PREFIX_RT.</remarks>
    public static Rt6Info AddPrefixRoute(NetNamespace net, UInt128 prefix, int plen, NetDevice dev)
    {
        var rt = new Rt6Info(prefix, plen, dev, 0, 256, Rt6Type.Unicast, "kernel");
        if (!net.Ipv6.Fib6.Add(rt))
            rt = net.Ipv6.Fib6.Routes.First(r => r.Dst == prefix && r.DstLen == plen && r.Dev == dev && r.Gateway == 0 && r.Metric == 256 && r.Type == Rt6Type.Unicast);
        net.Ipv6.RaRoutes[rt] = long.MaxValue;
        return rt;
    }

    /// <summary>The advertised prefix route for <paramref name="prefix"/>/<paramref name="plen"/> on the device, or null.</summary>
    /// <remarks>Mirrors addrconf_get_prefix_route(RTF_ADDRCONF | RTF_PREFIX_RT, noflags RTF_DEFAULT).</remarks>
    public static Rt6Info? GetPrefixRoute(NetNamespace net, UInt128 prefix, int plen, NetDevice dev)
    {
        foreach (var rt in net.Ipv6.RaRoutes.Keys)
            if (rt.DstLen == plen && plen != 0 && rt.Dst == prefix && rt.Dev == dev && rt.Gateway == 0) return rt;
        return null;
    }

    /// <summary>Removes an advertised route.</summary>
    /// <remarks>Mirrors ip6_del_rt().</remarks>
    public static void Ip6DelRt(NetNamespace net, Rt6Info rt)
    {
        net.Ipv6.Fib6.Flush(r => r == rt);
        net.Ipv6.RaRoutes.Remove(rt);
    }

    /// <summary>Sets when the route expires (long.MaxValue: never), and the collector's timer.</summary>
    /// <remarks>Mirrors fib6_set_expires() / fib6_clean_expires() (+ fib6_run_gc() being due).</remarks>
    public static void Fib6SetExpires(NetNamespace net, Rt6Info rt, long expiresNs)
    {
        net.Ipv6.RaRoutes[rt] = expiresNs;
        Rearm(net);
    }

    private static void Rearm(NetNamespace net)
    {
        long next = long.MaxValue;
        foreach (var e in net.Ipv6.RaRoutes.Values) next = Math.Min(next, e);
        var t = net.Ipv6.Fib6GcTimer;
        if (next == long.MaxValue) net.Timers.DelTimer(t);
        else net.Timers.ModTimer(t, next);
    }

    /// <summary>Removes the advertised routes whose lifetime ran out.</summary>
    /// <remarks>Mirrors fib6_run_gc() -> fib6_age() (rt6_check_expired()).</remarks>
    internal static void Fib6RunGc(TimerList t)
    {
        var net = (NetNamespace)t.Owner!;
        long now = net.Clock.NowNs;
        foreach (var (rt, exp) in net.Ipv6.RaRoutes.ToArray())
            if (exp <= now) Ip6DelRt(net, rt);
        Rearm(net);
    }
}
