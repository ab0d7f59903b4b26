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
    /// <remarks>Mirrors ip6_route_add() -> ip6_route_info_create() (ip6_validate_gw()) -> __ip6_ins_rt() (fib6_add(): -EEXIST with NLM_F_EXCL).</remarks>
    public static int Ip6RouteAdd(NetNamespace net, UInt128 dst, int dstLen, UInt128 gateway, NetDevice? dev, int metric)
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
        foreach (var r in fib.Routes)
            if (r.Type == Rt6Type.Unicast && r.Dst == dst && r.DstLen == dstLen && r.Metric == metric) return -Uapi.Errno.EEXIST;
        fib.Add(new Rt6Info(dst, dstLen, dev, gateway, metric, Rt6Type.Unicast, "boot"));
        return 0;
    }

    /// <summary>
    /// `ip -6 route del PREFIX [via GW] [dev DEV] [metric N]`: deletes the first unicast route of that
    /// prefix matching every selector given (0, null or a negative metric match any); -ESRCH when none does.
    /// </summary>
    /// <remarks>Mirrors ip6_route_del() (fib6_locate() then the first matching nexthop; -ESRCH).</remarks>
    public static int Ip6RouteDel(NetNamespace net, UInt128 dst, int dstLen, UInt128 gateway, NetDevice? dev, int metric)
    {
        if ((uint)dstLen > 128) return -Uapi.Errno.EINVAL;
        dst &= Ipv6Address.PrefixMask(dstLen);
        bool done = false;
        net.Ipv6.Fib6.Flush(r =>
        {
            if (done || r.Type != Rt6Type.Unicast || r.Dst != dst || r.DstLen != dstLen) return false;
            if ((gateway != 0 && r.Gateway != gateway) || (dev is not null && r.Dev != dev) || (metric >= 0 && r.Metric != metric)) return false;
            return done = true;
        });
        return done ? 0 : -Uapi.Errno.ESRCH;
    }
}
