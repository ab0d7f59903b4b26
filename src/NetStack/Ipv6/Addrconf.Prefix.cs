using NetStack.Core;
using NetStack.Wire;

namespace NetStack.Ipv6;

/// <summary>
/// Stateless address autoconfiguration (RFC 4862 5.5.3): an advertised prefix with the on-link
/// flag becomes a prefix route for its valid lifetime; with the autonomous flag and a /64, the
/// prefix and the EUI-64 interface identifier make an address, which goes through DAD and is
/// deprecated and deleted as its preferred and valid lifetimes run out.
/// </summary>
internal static partial class Addrconf
{
    /// <summary>MIN_VALID_LIFETIME: an unauthenticated advertisement cannot cut a valid lifetime below two hours (RFC 4862 5.5.3 e).</summary>
    private const uint MinValidLifetime = 2 * 3600;

    /// <summary>A prefix information option (<paramref name="opt"/>, the whole option).</summary>
    /// <remarks>Mirrors addrconf_prefix_rcv() -> addrconf_prefix_rcv_add_addr() (EUI-64 interface identifier, addr_gen_mode 0).</remarks>
    internal static void AddrconfPrefixRcv(NetNamespace net, Inet6Dev idev, ReadOnlySpan<byte> opt, bool sllao)
    {
        if (!NdPrefixInfo.TryCreate(opt, 1, out var pinfo))
        {
            if (net.Log.NetRatelimit()) net.Log.Printk("addrconf: prefix option too short");
            return;
        }
        var prefix = pinfo.Prefix;
        if (Ipv6Address.IsMulticast(prefix) || Ipv6Address.IsLinkLocal(prefix)) return;
        uint validLft = pinfo.ValidLifetime, preferedLft = pinfo.PreferredLifetime;
        if (preferedLft > validLft)
        {
            if (net.Log.NetRatelimit()) net.Log.Printk("addrconf: prefix option has invalid lifetime");
            return;
        }
        int plen = pinfo.PrefixLength;
        if (plen > 128) return;
        var dev = idev.Dev;
        prefix &= Ipv6Address.PrefixMask(plen);
        if (pinfo.OnLink)
        {
            var rt = Rt6Router.GetPrefixRoute(net, prefix, plen, dev);
            if (rt is not null && validLft == 0) Rt6Router.Ip6DelRt(net, rt);
            else if (validLft != 0)
            {
                rt ??= Rt6Router.AddPrefixRoute(net, prefix, plen, dev);
                Rt6Router.Fib6SetExpires(net, rt, validLft == uint.MaxValue ? long.MaxValue : net.Clock.NowNs + Time.Sec(validLft));
            }
        }
        if (!pinfo.Autoconf || !net.Ipv6.Sysctl.Autoconf) return;
        if (plen != 64)
        {
            if (net.Log.NetRatelimit()) net.Log.Printk($"IPv6 addrconf: prefix with wrong length {plen}");
            return;
        }
        if (dev.NoArp || dev.DevAddr.IsZero) return; // ipv6_generate_eui64() has nothing to make the identifier from
        var addr = prefix | Ipv6Address.Eui64(dev.DevAddr);
        var ifp = Ipv6GetIfaddr(idev, addr);
        long now = net.Clock.NowNs;
        if (ifp is null)
        {
            if (validLft == 0) return;
            ifp = Ipv6AddAddr(net, idev, addr, plen, IfaFlags.None, prefixRoute: false);
            SetLifetimes(ifp, validLft, preferedLft, now);
        }
        else if ((ifp.Flags & IfaFlags.Permanent) == 0)
        {
            // RFC 4862 5.5.3 e: the remaining lifetime is only cut as far as two hours.
            uint stored = Remaining(ifp.ValidLft, ifp.Tstamp, now);
            if (stored != 0 && validLft < stored) validLft = Math.Max(validLft, Math.Min(stored, MinValidLifetime));
            SetLifetimes(ifp, validLft, preferedLft, now);
        }
        AddrconfVerify(net);
    }

    /// <summary>The device's IPv6 MTU: an advertised MTU (cnf.mtu6) when one was taken, else the device's.</summary>
    /// <remarks>As rt6_mtu_change() leaves it in the routes of the device (dst_mtu()).</remarks>
    internal static int Ip6DevMtu(NetNamespace net, NetDevice dev) =>
        net.Ipv6.Devs.TryGetValue(dev, out var idev) && idev.Mtu6 != 0 ? Math.Min(idev.Mtu6, dev.Mtu) : dev.Mtu;

    private static void SetLifetimes(Inet6Ifaddr ifp, uint valid, uint prefered, long now)
    {
        ifp.ValidLft = valid;
        ifp.PreferedLft = Math.Min(prefered, valid);
        ifp.Tstamp = now;
        if (ifp.PreferedLft != 0) ifp.Flags &= ~IfaFlags.Deprecated;
        else ifp.Flags |= IfaFlags.Deprecated;
    }

    private static uint Remaining(uint lft, long tstamp, long now)
    {
        if (lft == uint.MaxValue) return uint.MaxValue;
        long age = (now - tstamp) / Time.Sec(1);
        return age >= lft ? 0 : (uint)(lft - age);
    }

    /// <remarks>The timer of <see cref="AddrconfVerify"/> (addr_chk_work).</remarks>
    internal static void AddrconfVerifyWork(TimerList t) => AddrconfVerify((NetNamespace)t.Owner!);

    /// <summary>
    /// Deletes the autoconfigured addresses whose valid lifetime ran out and deprecates those past
    /// their preferred lifetime, then arms the check for the next such moment.
    /// </summary>
    /// <remarks>Mirrors addrconf_verify_rtnl().</remarks>
    internal static void AddrconfVerify(NetNamespace net)
    {
        long now = net.Clock.NowNs, next = long.MaxValue;
        foreach (var idev in net.Ipv6.Devs.Values)
        {
            foreach (var ifp in idev.AddrList)
            {
                if ((ifp.Flags & IfaFlags.Permanent) != 0 || ifp.ValidLft == uint.MaxValue) continue;
                long validEnd = ifp.Tstamp + Time.Sec(ifp.ValidLft);
                if (now >= validEnd) { Ipv6DelAddr(net, ifp); continue; }
                next = Math.Min(next, validEnd);
                if (ifp.PreferedLft == uint.MaxValue) continue;
                long prefEnd = ifp.Tstamp + Time.Sec(ifp.PreferedLft);
                if (now >= prefEnd) ifp.Flags |= IfaFlags.Deprecated;
                else next = Math.Min(next, prefEnd);
            }
        }
        var t = net.Ipv6.AddrChkTimer;
        if (next == long.MaxValue) net.Timers.DelTimer(t);
        else net.Timers.ModTimer(t, next);
    }
}
