using NetStack.Core;
using NetStack.Wire;

namespace NetStack.Ipv6;

/// <summary>
/// The rtnetlink half of IPv6 configuration that `ip -6 addr del` and `ip -6 route add|del` reach
/// (the add of an address is <see cref="Addrconf.Inet6AddrAdd"/>). Kept apart from addrconf's packet-side
/// code; every method is called under the stack lock.
/// </summary>
/// <remarks>Mirrors net/ipv6/addrconf.c: inet6_rtm_deladdr() -> inet6_addr_del(), and net/ipv6/route.c:
/// inet6_rtm_newroute() -> ip6_route_add(), inet6_rtm_delroute() -> ip6_route_del().</remarks>
internal static class Ipv6Rtnl
{
    /// <summary>IP6_RT_PRIO_USER: the metric of a route added without one.</summary>
    public const int Ip6RtPrioUser = 1024;

    /// <summary>
    /// `ip -6 addr del ADDR[/PLEN] dev DEV`: removes the address, its local route, its prefix route
    /// when no other address of the device has that prefix, and leaves its solicited-node group.
    /// -EADDRNOTAVAIL when the device has no such address (a negative <paramref name="prefixLen"/> matches any), -ENODEV
    /// when IPv6 never saw the device.
    /// </summary>
    /// <remarks>Mirrors inet6_addr_del() -> ipv6_del_addr() (addrconf_leave_solict(), the prefix route's cleanup of
    /// cleanup_prefix_route(), the local route's removal).</remarks>
    public static int Inet6AddrDel(NetNamespace net, NetDevice dev, UInt128 addr, int prefixLen)
    {
        if (Addrconf.In6DevGet(net, dev) is not { } idev) return -Uapi.Errno.ENODEV;
        Inet6Ifaddr? ifp = null;
        foreach (var a in idev.AddrList)
            if (a.Addr == addr && (prefixLen < 0 || a.PrefixLen == prefixLen)) { ifp = a; break; }
        if (ifp is null) return -Uapi.Errno.EADDRNOTAVAIL;
        idev.AddrList = idev.AddrList.Where(a => a != ifp).ToArray();
        if (!dev.IsLoopback) McDec(idev, Ipv6Address.SolicitedNode(addr));
        var fib = net.Ipv6.Fib6;
        fib.Flush(r => r.Type == Rt6Type.Local && r.Dst == addr && r.DstLen == 128 && r.LocalDev == dev);
        var prefix = addr & Ipv6Address.PrefixMask(ifp.PrefixLen);
        bool shared = idev.AddrList.Any(a => a.PrefixLen == ifp.PrefixLen && (a.Addr & Ipv6Address.PrefixMask(a.PrefixLen)) == prefix);
        if (!shared && ifp.PrefixLen < 128)
            fib.Flush(r => r.Type == Rt6Type.Unicast && r.Dev == dev && r.Gateway == 0 && r.Dst == prefix && r.DstLen == ifp.PrefixLen && r.Protocol == "kernel");
        return 0;
    }

    /// <summary>One user fewer of <paramref name="group"/>; the last one takes its MAC out of the device's filter.</summary>
    /// <remarks>Mirrors net/ipv6/mcast.c: __ipv6_dev_mc_dec() -> igmp6_group_dropped() -> dev_mc_del().</remarks>
    private static void McDec(Inet6Dev idev, UInt128 group)
    {
        var mc = idev.McList;
        for (int i = 0; i < mc.Length; i++)
        {
            if (mc[i].Group != group) continue;
            if (mc[i].Users > 1)
            {
                var copy = ((UInt128, int)[])mc.Clone();
                copy[i].Item2--;
                idev.McList = copy;
                return;
            }
            idev.McList = mc.Where((_, k) => k != i).ToArray();
            idev.Dev.DevMcDel(Ipv6Address.EthMcMap(group));
            return;
        }
    }

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
