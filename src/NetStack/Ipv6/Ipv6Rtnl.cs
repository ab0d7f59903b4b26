using NetStack.Core;
using NetStack.Wire;

namespace NetStack.Ipv6;

/// <summary>
/// The rtnetlink half of IPv6 configuration that `ip -6 route add|del` reach
/// (an address's add and delete are <see cref="Addrconf.Inet6AddrAdd"/> and <see cref="Addrconf.Inet6AddrDel"/>). Kept apart from addrconf's packet-side
/// code; every method is called under the stack lock.
/// </summary>
/// <remarks>Mirrors net/ipv6/route.c:
/// inet6_rtm_newroute() -> ip6_route_add(), inet6_rtm_delroute() -> ip6_route_del().</remarks>
internal static class Ipv6Rtnl
{
    /// <summary>IP6_RT_PRIO_USER: the metric of a route added without one.</summary>
    public const int Ip6RtPrioUser = 1024;

    /// <summary>
    /// `ip -6 route add PREFIX [via GW] [dev DEV] [metric N]`. Checks in ip6_route_check_nh()'s spirit:
    /// a gateway that is not link-local must be reached by a connected route (on the device, if named),
    /// else -EHOSTUNREACH; a link-local one needs the device. -EINVAL for a multicast or local gateway;
    /// -ENODEV without a device; -ENETDOWN for a device that is down; -EEXIST for the same route.
    /// </summary>
    /// <remarks>Mirrors ip6_route_add() -> ip6_route_info_create() (ip6_validate_gw()) -> __ip6_ins_rt() (fib6_add(): -EEXIST with NLM_F_EXCL;
    /// <paramref name="mode"/> is the request's NLM_F_REPLACE or NLM_F_APPEND, see <see cref="Fib6Table.Insert"/>).</remarks>
    public static int Ip6RouteAdd(NetNamespace net, UInt128 dst, int dstLen, UInt128 gateway, NetDevice? dev, int metric,
        Fib6Table.InsertMode mode = Fib6Table.InsertMode.Excl)
    {
        if ((uint)dstLen > 128 || metric < 0) return -Uapi.Errno.EINVAL;
        dst &= Ipv6Address.PrefixMask(dstLen); // ipv6_addr_prefix(): host bits are dropped, not refused (IPv4 refuses them)
        var fib = net.Ipv6.Fib6;
        if (gateway != 0)
        {
            if (Ipv6Address.IsMulticast(gateway) || Addrconf.Ipv6ChkAddr(net, gateway, null)) return -Uapi.Errno.EINVAL;
            if (Ipv6Address.IsLinkLocal(gateway))
            {
                if (dev is null) return -Uapi.Errno.ENODEV;
            }
            else
            {
                Rt6Info? via = null;
                foreach (var r in fib.Routes)
                    if (r.Type == Rt6Type.Unicast && r.Gateway == 0 && r.Matches(gateway) && (dev is null || r.Dev == dev) && (via is null || r.DstLen > via.DstLen)) via = r;
                if (via is null) return -Uapi.Errno.EHOSTUNREACH;
                dev ??= via.Dev;
            }
        }
        if (dev is null) return -Uapi.Errno.ENODEV;
        if (!dev.IsUp) return -Uapi.Errno.ENETDOWN;
        return fib.Insert(new Rt6Info(dst, dstLen, dev, gateway, metric, Rt6Type.Unicast, "boot"), mode);
    }

    /// <summary>
    /// `ip -6 route del PREFIX [via GW] [dev DEV] [metric N]`: deletes the first unicast route of that
    /// prefix matching every selector given (0, null or a negative metric match any); -ESRCH when none does.
    /// With a gateway only that nexthop of a multipath route goes; without one the route goes with its siblings.
    /// </summary>
    /// <remarks>Mirrors ip6_route_del() (fib6_locate() then the first matching nexthop; __ip6_del_rt() with RTF_GATEWAY,
    /// __ip6_del_rt_siblings() without; -ESRCH).</remarks>
    public static int Ip6RouteDel(NetNamespace net, UInt128 dst, int dstLen, UInt128 gateway, NetDevice? dev, int metric)
    {
        if ((uint)dstLen > 128) return -Uapi.Errno.EINVAL;
        dst &= Ipv6Address.PrefixMask(dstLen);
        var fib = net.Ipv6.Fib6;
        Rt6Info? victim = null;
        foreach (var r in fib.Routes)
        {
            if (r.Type != Rt6Type.Unicast || r.Dst != dst || r.DstLen != dstLen) continue;
            if ((gateway != 0 && r.Gateway != gateway) || (dev is not null && r.Dev != dev) || (metric >= 0 && r.Metric != metric)) continue;
            victim = r;
            break;
        }
        if (victim is null) return -Uapi.Errno.ESRCH;
        int group = gateway != 0 ? 0 : victim.SiblingGroup;
        fib.Flush(r => r == victim || (group != 0 && r.SiblingGroup == group));
        return 0;
    }

    /// <summary>
    /// `ip -6 route flush [PREFIX] [dev DEV]` (`flush table main`: no selector): deletes the main table's routes of
    /// exactly that prefix (iproute2's default "exact" match: the same length, the same bits) and through that device.
    /// iproute2 dumps the table and deletes each route it selects: a multipath route has no RTA_OIF, so `dev`
    /// never selects one. Returns how many routes went.
    /// </summary>
    /// <remarks>Mirrors iproute2 ip/iproute.c: iproute_list_flush_or_save() + filter_nlmsg() (table main leaves RTN_LOCAL out),
    /// each selected route through inet6_rtm_delroute() (ip6_route_multipath_del() for a multipath one).</remarks>
    public static int Ip6RouteFlush(NetNamespace net, UInt128? dst, int dstLen, NetDevice? dev)
    {
        if ((uint)dstLen > 128) return -Uapi.Errno.EINVAL;
        UInt128 d = dst is { } a ? a & Ipv6Address.PrefixMask(dstLen) : 0;
        return net.Ipv6.Fib6.Flush(r => r.Type == Rt6Type.Unicast
            && (dst is null || (r.DstLen == dstLen && r.Dst == d))
            && (dev is null || (r.SiblingGroup == 0 && r.Dev == dev)));
    }

    /// <summary>
    /// `ip -6 route get ADDR [oif DEV]`: the route a packet to <paramref name="daddr"/> takes and the source the
    /// stack would pick for it (0 when it has none, as a device without a usable address). -ENETUNREACH without one.
    /// </summary>
    /// <remarks>Mirrors inet6_rtm_getroute() -> ip6_route_output() then rt6_fill_node() (RTA_PREFSRC from ip6_route_get_saddr()).</remarks>
    public static int Ip6RouteGet(NetNamespace net, UInt128 daddr, NetDevice? oif, out Rt6Info? rt, out UInt128 saddr)
    {
        saddr = 0;
        rt = Route6.Ip6RouteOutput(net, daddr, oif);
        if (rt is null) return -Uapi.Errno.ENETUNREACH;
        if (!Addrconf.Ipv6DevGetSaddr(net, rt.LocalDev ?? rt.Dev, daddr, out saddr)) saddr = 0;
        return 0;
    }
}
