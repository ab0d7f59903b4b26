using NetStack.Core;
using NetStack.Uapi;

namespace NetStack.Ipv6;

/// <summary>
/// The output route and source address of a socket's flow: what the AF_INET6 sockets' send and
/// connect paths ask the IPv6 network layer.
/// </summary>
/// <remarks>Mirrors net/ipv6/ip6_output.c: ip6_dst_lookup_flow() -> ip6_dst_lookup_tail().</remarks>
internal static class Ip6DstLookup
{
    /// <summary>
    /// The route to <paramref name="daddr"/> (out of interface <paramref name="oif"/> when not 0)
    /// and, when <paramref name="saddr"/> is ::, the source address for it. 0, or -EADDRNOTAVAIL
    /// when no address can be the source, -ENETUNREACH without a route (also out of an unknown
    /// <paramref name="oif"/>), -EAFNOSUPPORT from a v4-mapped source to a native destination.
    /// </summary>
    /// <remarks>Mirrors ip6_dst_lookup_flow() -> ip6_dst_lookup_tail(): with an unspecified source,
    /// ip6_route_output() first and ip6_route_get_saddr() (ipv6_dev_get_saddr() on the route's
    /// device) before the route's error is looked at, so a host without addresses answers
    /// -EADDRNOTAVAIL even without a route; then the route's error (ip6_null_entry: -ENETUNREACH).</remarks>
    public static int Ip6DstLookupFlow(NetNamespace net, Sock? sk, UInt128 daddr, ref UInt128 saddr, int oif, out Rt6Info? rt)
    {
        // An oif no device has (a wrong scope id, a bound index since removed) matches no route:
        // ip6_pol_route_output() gives ip6_null_entry, so -ENETUNREACH once the source is picked.
        NetDevice? dev = oif != 0 ? net.DevGetByIndex(oif) : null;
        bool noSuchOif = oif != 0 && dev is null;
        lock (net.SyncRoot)
        {
            rt = noSuchOif ? null : Route6.Ip6RouteOutput(net, daddr, dev);
            if (saddr == UInt128.Zero)
            {
                // ip6_route_get_saddr(): the route's device (the flow's oif without a route) picks the source.
                if (!Addrconf.Ipv6DevGetSaddr(net, rt?.Dev ?? dev, daddr, out var src))
                {
                    rt = null;
                    return -Errno.EADDRNOTAVAIL;
                }
                saddr = src;
            }
            if (rt is null)
            {
                net.Ip6Mib[Ipv6Mib.Ip6OutNoRoutes]++;
                return -Errno.ENETUNREACH;
            }
        }
        // A v4-mapped source (a socket bound to ::ffff:a.b.c.d) never goes on the wire to a native
        // IPv6 destination (ip6_dst_lookup_tail(), "Inhibit IPv4-mapped src address on the wire").
        if (Wire.Ipv6Address.IsV4Mapped(saddr) && !(Wire.Ipv6Address.IsV4Mapped(daddr) || daddr == UInt128.Zero))
        {
            rt = null;
            return -Errno.EAFNOSUPPORT;
        }
        return 0;
    }
}
