using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Wire;

namespace NetStack.Ipv6;

/// <summary>Router solicitations sent and router advertisements received (RFC 4861 6.3.4, RFC 4862 5.5).</summary>
internal static partial class Ndisc
{
    /// <summary>Sends a router solicitation to <paramref name="daddr"/> (all-routers) from <paramref name="saddr"/>, with our link-layer address unless the source is unspecified.</summary>
    /// <remarks>Mirrors ndisc_send_rs().</remarks>
    internal static void NdiscSendRs(NetNamespace net, NetDevice dev, UInt128 saddr, UInt128 daddr)
    {
        bool sendSllao = saddr != Ipv6Address.Any;
        var skb = net.SkbPool.AllocWithHeadroom();
        if (skb is null) { net.Mib.Drops[SkbDropReason.NoBuffers]++; return; }
        var msg = skb.Put(NdMsg.RsOptions + (sendSllao ? NdOpt.EthLlAddrSpace : 0));
        msg.Clear();
        Icmpv6Header.Create(msg).Type = Icmpv6Type.RouterSolicitation;
        if (sendSllao) NdiscOptions.WriteLlAddr(msg[NdMsg.RsOptions..], NdOpt.SourceLlAddr, dev.DevAddr);
        NdiscSendSkb(net, dev, skb, daddr, saddr);
    }

    /// <summary>
    /// A router advertisement (hop limit and code already checked). From a link-local source, with
    /// valid options, and only when accept_ra allows (forwarding needs accept_ra = 2): the router
    /// becomes (or stays, with the new lifetime) a default route, or is removed with lifetime 0;
    /// the sender's link-layer address is learned; each prefix information option is processed
    /// (on-link route, SLAAC address); the MTU option sets the link's IPv6 MTU; the current hop
    /// limit, retrans timer and reachable time, when not 0, are taken.
    /// Returns 0 (consumed) or the reason to drop.
    /// </summary>
    /// <remarks>Mirrors ndisc_router_discovery() (no route information options; the hop limit and ND
    /// timers go to conf.default / neigh.default, which stand for every device here).</remarks>
    private static SkbDropReason NdiscRouterDiscovery(NetNamespace net, SkBuff skb)
    {
        var dev = skb.Dev!;
        var ip6 = Ipv6Header.Create(skb.Buffer.AsSpan(skb.NetworkHeader, Ipv6Header.Length));
        var saddr = ip6.Source;
        var msg = skb.DataSpan;
        if (!Ipv6Address.IsLinkLocal(saddr)) return SkbDropReason.NotSpecified; // "RA: source address is not link-local"
        if (msg.Length < NdMsg.RaOptions) return SkbDropReason.PktTooSmall; // "RA: packet too short"
        if (Addrconf.In6DevGet(net, dev) is not { } idev) return SkbDropReason.NotSpecified;
        var opts = msg[NdMsg.RaOptions..];
        if (!NdiscOptions.Parse(opts, out var ndopts)) return SkbDropReason.Ipv6NdiscBadOptions;
        var cnf = net.Ipv6.Sysctl;
        bool accept = Addrconf.Ipv6AcceptRa(net);
        if (accept)
        {
            if ((idev.IfFlags & Inet6IfFlags.RsSent) != 0) idev.IfFlags |= Inet6IfFlags.RaRcvd;
            // Not from one of our own addresses (accept_ra_from_local = 0).
            if (cnf.AcceptRaDefrtr && !Addrconf.Ipv6ChkAddr(net, saddr, dev))
            {
                int lifetime = NdMsg.RaRouterLifetime(msg);
                var rt = Rt6Router.Rt6GetDfltRouter(net, saddr, dev);
                if (rt is not null && lifetime == 0) { Rt6Router.Ip6DelRt(net, rt); rt = null; }
                if (rt is null && lifetime != 0) rt = Rt6Router.Rt6AddDfltRouter(net, saddr, dev);
                if (rt is not null) Rt6Router.Fib6SetExpires(net, rt, net.Clock.NowNs + Time.Sec(lifetime));
                // Cur Hop Limit (accept_ra_min_hop_limit 1): the hop limit of what this host sends.
                byte hopLimit = NdMsg.RaCurHopLimit(msg);
                if (hopLimit != 0) cnf.HopLimit = hopLimit;
            }
            // Retrans Timer and Reachable Time, when given, become the ND parameters (at least 10 and 100 ms).
            uint retrans = NdMsg.RaRetransTimer(msg);
            if (retrans != 0 && retrans / 1000 < int.MaxValue / 1000) cnf.Neigh.RetransTimeMs = (int)Math.Max(retrans, 10);
            uint reachable = NdMsg.RaReachableTime(msg);
            if (reachable != 0 && reachable / 1000 < int.MaxValue / 3000)
            {
                int rtime = (int)Math.Max(reachable, 100);
                if (rtime != cnf.Neigh.BaseReachableTimeMs)
                {
                    cnf.Neigh.BaseReachableTimeMs = rtime;
                    cnf.Neigh.GcStaleTimeMs = 3 * rtime;
                }
            }
        }
        // The router's link-layer address: a STALE entry marked as a router.
        var tbl = net.Ipv6.NdTbl;
        var neigh = tbl.NeighLookup(saddr, dev) ?? tbl.NeighCreate(saddr, dev);
        if (neigh is not null)
        {
            MacAddress? lladdr = null;
            if (ndopts.SourceLlAddr != 0)
            {
                if (!NdiscOptions.TryLlAddr(opts, ndopts.SourceLlAddr, out var ll)) return SkbDropReason.NotSpecified; // "invalid link-layer address length"
                lladdr = ll;
            }
            NdiscUpdate(tbl, neigh, lladdr, NudState.Stale, @override: true, weakOverride: true);
        }
        if (!accept) return 0;
        if (cnf.AcceptRaPinfo && ndopts.PrefixInfoFirst != 0)
        {
            // Every prefix information option from the first to the last.
            int off = ndopts.PrefixInfoFirst - 1;
            while (off < opts.Length && off <= ndopts.PrefixInfoLast - 1)
            {
                int len = opts[off + 1] << 3;
                if (opts[off] == NdOpt.PrefixInfo) Addrconf.AddrconfPrefixRcv(net, idev, opts.Slice(off, len), ndopts.SourceLlAddr != 0);
                off += len;
            }
        }
        if (ndopts.Mtu != 0 && cnf.AcceptRaMtu)
        {
            var o = opts[(ndopts.Mtu - 1)..];
            uint mtu = o.Length >= 8 ? System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(o[4..]) : 0;
            if (mtu < Ipv6Header.MinMtu || mtu > (uint)dev.Mtu)
            {
                if (net.Log.NetRatelimit()) net.Log.Printk($"RA: invalid mtu: {mtu}");
            }
            else idev.Mtu6 = (int)mtu; // rt6_mtu_change(): every route through the device
        }
        return 0;
    }
}
