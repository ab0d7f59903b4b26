using NetStack.Core;
using NetStack.Ethernet;
using NetStack.Wire;

namespace NetStack.Ipv6;

/// <summary>
/// Duplicate address detection (RFC 4862 5.4), address deletion and router solicitation: a new
/// address is tentative (not a source, not answered for) while DAD sends dad_transmits
/// solicitations from :: to its solicited-node group, after a random delay below
/// rtr_solicit_delay and retrans_time apart; an advertisement of it, or another node's DAD probe
/// for it, marks it DAD-failed. The first link-local address to pass starts router solicitations
/// and has MLD report again from it.
/// </summary>
internal static partial class Addrconf
{
    /// <summary>Whether the device takes router advertisements: accept_ra, which a router needs at 2.</summary>
    /// <remarks>Mirrors ipv6_accept_ra().</remarks>
    internal static bool Ipv6AcceptRa(NetNamespace net) =>
        net.Ipv6.Sysctl.Forwarding ? net.Ipv6.Sysctl.AcceptRa == 2 : net.Ipv6.Sysctl.AcceptRa != 0;

    /// <summary>
    /// The device's addresses as DAD left them: Pending when one is still
    /// tentative (being probed), and those found duplicate. Takes the stack lock.
    /// </summary>
    internal static (bool Pending, UInt128[] Failed) DadState(NetNamespace net, NetDevice dev)
    {
        lock (net.SyncRoot)
        {
            if (In6DevGet(net, dev) is not { } idev) return (false, []);
            bool pending = idev.AddrList.Any(a => (a.Flags & (IfaFlags.Tentative | IfaFlags.Dadfailed)) == IfaFlags.Tentative);
            return (pending, idev.AddrList.Where(a => (a.Flags & IfaFlags.Dadfailed) != 0).Select(a => a.Addr).ToArray());
        }
    }

    /// <summary>Starts DAD for a new address: joins its solicited-node group, then probes, or completes at once where DAD does not apply.</summary>
    /// <remarks>Mirrors addrconf_dad_start() -> addrconf_dad_begin() (addrconf_join_solict()) -> addrconf_dad_kick().</remarks>
    internal static void AddrconfDadStart(NetNamespace net, Inet6Ifaddr ifp)
    {
        var idev = ifp.Idev;
        var dev = idev.Dev;
        if (!dev.IsLoopback && !dev.NoArp) Ipv6DevMcInc(idev, Ipv6Address.SolicitedNode(ifp.Addr)); // addrconf_join_solict()
        var cnf = net.Ipv6.Sysctl;
        if (dev.NoArp || dev.IsLoopback || cnf.AcceptDad < 1 || (ifp.Flags & IfaFlags.Tentative) == 0 || (ifp.Flags & IfaFlags.Nodad) != 0)
        {
            ifp.Flags &= ~(IfaFlags.Tentative | IfaFlags.Optimistic | IfaFlags.Dadfailed);
            AddrconfDadCompleted(net, ifp);
            return;
        }
        // addrconf_dad_kick(): a random delay below rtr_solicit_delay (at least a jiffy), then dad_transmits probes.
        long delayNs = Random.Shared.NextInt64(Math.Max(Time.Ms(cnf.RtrSolicitDelayMs), Time.Ms(4)));
        ifp.DadNonce = cnf.EnhancedDad ? (ulong)Random.Shared.NextInt64(1, 1L << 48) : 0;
        ifp.DadProbes = cnf.DadTransmits;
        net.Timers.ModTimer(ifp.DadTimer, net.Clock.NowNs + delayNs);
    }

    /// <summary>
    /// A DAD step: with no probe left and no conflict heard, the address becomes valid; otherwise a
    /// solicitation for it goes out from :: (with the nonce) and the next step is retrans_time away.
    /// </summary>
    /// <remarks>Mirrors addrconf_dad_work() (the retransmit is max(RETRANS_TIME, HZ/100)).</remarks>
    internal static void AddrconfDadWork(TimerList t)
    {
        var ifp = (Inet6Ifaddr)t.Owner!;
        if (ifp.Dead || (ifp.Flags & IfaFlags.Tentative) == 0 || (ifp.Flags & IfaFlags.Dadfailed) != 0) return;
        if (ifp.Idev.Dev.Net is not { } net) return;
        if (ifp.DadProbes == 0)
        {
            ifp.Flags &= ~(IfaFlags.Tentative | IfaFlags.Optimistic | IfaFlags.Dadfailed);
            AddrconfDadCompleted(net, ifp);
            return;
        }
        ifp.DadProbes--;
        net.Timers.ModTimer(ifp.DadTimer, net.Clock.NowNs + Math.Max(Time.Ms(net.Ipv6.Sysctl.Neigh.RetransTimeMs), Time.Ms(10)));
        Ndisc.NdiscSendNs(net, ifp.Idev.Dev, ifp.Addr, Ipv6Address.SolicitedNode(ifp.Addr), Ipv6Address.Any, ifp.DadNonce);
    }

    /// <summary>
    /// The address is valid. The first link-local one of the device has MLD report from it and,
    /// when advertisements are accepted, starts router solicitation at once (DAD's random delay
    /// stood for RFC 4861's).
    /// </summary>
    /// <remarks>Mirrors addrconf_dad_completed() (send_mld, send_rs; ipv6_mc_dad_complete(), ndisc_send_rs(), rfc3315_s14_backoff_init()).</remarks>
    private static void AddrconfDadCompleted(NetNamespace net, Inet6Ifaddr ifp)
    {
        var idev = ifp.Idev;
        var dev = idev.Dev;
        bool sendMld = ifp.Scope == ScopeLink && Ipv6LonelyLladdr(ifp);
        bool sendRs = sendMld && Ipv6AcceptRa(net) && net.Ipv6.Sysctl.RtrSolicits != 0 && !dev.IsLoopback;
        if (sendMld) Mcast.Ipv6McDadComplete(net, idev);
        if (!sendRs) return;
        if (Ipv6GetLladdr(net, dev) is not { } lladdr) return;
        Ndisc.NdiscSendRs(net, dev, lladdr, Ipv6Address.AllRouters);
        idev.RsIntervalMs = BackoffInit(net.Ipv6.Sysctl.RtrSolicitIntervalMs);
        idev.RsProbes = 1;
        idev.IfFlags |= Inet6IfFlags.RsSent;
        net.Timers.ModTimer(idev.RsTimer, net.Clock.NowNs + Time.Ms(idev.RsIntervalMs));
    }

    /// <summary>Whether <paramref name="ifp"/> is the device's only usable link-local address.</summary>
    /// <remarks>Mirrors ipv6_lonely_lladdr().</remarks>
    private static bool Ipv6LonelyLladdr(Inet6Ifaddr ifp)
    {
        foreach (var a in ifp.Idev.AddrList)
        {
            if (a.Scope != ScopeLink) continue;
            if ((a.Flags & (IfaFlags.Tentative | IfaFlags.Optimistic | IfaFlags.Dadfailed)) != 0) continue;
            return a == ifp;
        }
        return false;
    }

    /// <summary>
    /// Another node has the address (its advertisement, or its own DAD probe, was heard): logged as
    /// Linux logs it; a configured address stays, marked DAD-failed and never used; an
    /// autoconfigured one is deleted.
    /// </summary>
    /// <remarks>Mirrors addrconf_dad_failure() -> addrconf_dad_stop().</remarks>
    internal static void AddrconfDadFailure(NetNamespace net, SkBuff skb, Inet6Ifaddr ifp)
    {
        if (net.Log.NetRatelimit())
        {
            var src = skb.MacHeader >= 0 ? EthernetHeader.Create(skb.Buffer.AsSpan(skb.MacHeader)).Source : default;
            net.Log.Printk($"{ifp.Idev.Dev.Name}: IPv6 duplicate address {Ipv6Address.Format(ifp.Addr)} used by {src} detected!");
        }
        net.Timers.DelTimer(ifp.DadTimer);
        if ((ifp.Flags & IfaFlags.Permanent) != 0) ifp.Flags |= IfaFlags.Dadfailed;
        else Ipv6DelAddr(net, ifp);
    }

    /// <summary>
    /// Removes an address: its DAD stopped, its solicited-node group left (MLD reports the leave),
    /// its local route removed, and its prefix route too when no other address of the device has
    /// that prefix.
    /// </summary>
    /// <remarks>Mirrors ipv6_del_addr() (addrconf_leave_solict(), the local route, cleanup_prefix_route()).</remarks>
    internal static void Ipv6DelAddr(NetNamespace net, Inet6Ifaddr ifp)
    {
        if (ifp.Dead) return;
        ifp.Dead = true;
        var idev = ifp.Idev;
        var dev = idev.Dev;
        net.Timers.DelTimer(ifp.DadTimer);
        idev.AddrList = idev.AddrList.Where(a => a != ifp).ToArray();
        if (!dev.IsLoopback && !dev.NoArp) Mcast.Ipv6DevMcDec(idev, Ipv6Address.SolicitedNode(ifp.Addr));
        var prefix = ifp.Addr & Ipv6Address.PrefixMask(ifp.PrefixLen);
        bool prefixShared = idev.AddrList.Any(a => a.PrefixLen == ifp.PrefixLen && (a.Addr & Ipv6Address.PrefixMask(a.PrefixLen)) == prefix);
        net.Ipv6.Fib6.Flush(r => (r.Type == Rt6Type.Local && r.Dst == ifp.Addr && r.LocalDev == dev)
            || (!prefixShared && (ifp.Flags & IfaFlags.Permanent) != 0 && r.Type == Rt6Type.Unicast && r.Dev == dev && r.Gateway == 0
                && r.Dst == prefix && r.DstLen == ifp.PrefixLen && r.Protocol == "kernel" && ifp.PrefixLen < 128));
    }

    /// <summary>`ip -6 addr del ADDR[/PLEN] dev DEV`: 0, or -EADDRNOTAVAIL when the device does not have it (a negative
    /// <paramref name="prefixLen"/> matches any), -ENODEV without IPv6 on it.</summary>
    /// <remarks>Mirrors inet6_addr_del().</remarks>
    internal static int Inet6AddrDel(NetNamespace net, NetDevice dev, UInt128 addr, int prefixLen)
    {
        if (In6DevGet(net, dev) is not { } idev) return -Uapi.Errno.ENODEV;
        foreach (var ifp in idev.AddrList)
        {
            if (ifp.Addr != addr || (prefixLen >= 0 && ifp.PrefixLen != prefixLen)) continue;
            Ipv6DelAddr(net, ifp);
            return 0;
        }
        return -Uapi.Errno.EADDRNOTAVAIL;
    }

    /// <summary>
    /// The next router solicitation, until an advertisement is heard or rtr_solicits are sent
    /// (without end when -1), the interval doubling up to rtr_solicit_max_interval.
    /// </summary>
    /// <remarks>Mirrors addrconf_rs_timer() (rfc3315_s14_backoff_update()).</remarks>
    internal static void AddrconfRsTimer(TimerList t)
    {
        var idev = (Inet6Dev)t.Owner!;
        if (idev.Dev.Net is not { } net) return;
        var cnf = net.Ipv6.Sysctl;
        if ((idev.IfFlags & Inet6IfFlags.Ready) == 0 || (idev.IfFlags & Inet6IfFlags.RaRcvd) != 0 || !Ipv6AcceptRa(net)) return;
        if (idev.RsProbes++ < cnf.RtrSolicits || cnf.RtrSolicits < 0)
        {
            if (Ipv6GetLladdr(net, idev.Dev) is not { } lladdr) return;
            Ndisc.NdiscSendRs(net, idev.Dev, lladdr, Ipv6Address.AllRouters);
            idev.RsIntervalMs = BackoffUpdate(idev.RsIntervalMs, cnf.RtrSolicitMaxIntervalMs);
            // The wait after the last probe can be shorter.
            long wait = idev.RsProbes == cnf.RtrSolicits ? cnf.RtrSolicitDelayMs : idev.RsIntervalMs;
            net.Timers.ModTimer(idev.RsTimer, net.Clock.NowNs + Time.Ms(Math.Max(wait, 1)));
        }
        // else: "no IPv6 routers present" (pr_debug).
    }

    /// <summary>RFC 3315 14: the initial retransmission time, IRT with ±10 %.</summary>
    /// <remarks>Mirrors rfc3315_s14_backoff_init().</remarks>
    private static long BackoffInit(long irt) => irt * Random.Shared.Next(900, 1101) / 1000;

    /// <summary>RFC 3315 14: twice the last time with ±10 %, at most MRT with ±10 %.</summary>
    /// <remarks>Mirrors rfc3315_s14_backoff_update().</remarks>
    private static long BackoffUpdate(long rt, long mrt)
    {
        long next = 2 * rt * Random.Shared.Next(900, 1101) / 1000;
        if (next > mrt) next = mrt * Random.Shared.Next(900, 1101) / 1000;
        return next;
    }
}
