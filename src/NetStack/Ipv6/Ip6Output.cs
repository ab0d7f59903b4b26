using NetStack.Core;
using NetStack.Ethernet;
using NetStack.Wire;

namespace NetStack.Ipv6;

/// <summary>IPv6 output. <remarks>Mirrors net/ipv6/ip6_output.c.</remarks></summary>
internal static class Ip6Output
{
    /// <summary>
    /// Puts the IPv6 header in front of a complete upper-layer message (Data at its first byte) and
    /// sends it along <paramref name="rt"/>. Consumes the buffer. A packet bigger than the route's MTU
    /// needs fragmenting, which this layer does not do yet: it is dropped (Ip6FragFails) with -EMSGSIZE.
    /// </summary>
    /// <remarks>Mirrors ip6_xmit(): ip6_flow_hdr(), payload_len, nexthdr, hop_limit, addresses,
    /// IPSTATS_MIB_OUT(REQUESTS), then dst_output() = ip6_output().</remarks>
    public static int Ip6Xmit(NetNamespace net, SkBuff skb, Rt6Info rt, UInt128 saddr, UInt128 daddr, byte proto, int hlimit, byte tclass = 0)
    {
        var mib = net.Ipv6.Ip6Stats;
        int plen = skb.Len;
        if (plen > ushort.MaxValue || skb.Headroom < Ipv6Header.Length + EthernetHeader.Length)
        {
            mib[Ip6Mib.Ip6OutDiscards]++;
            net.KfreeSkbReason(skb, SkbDropReason.PktLenInvalid);
            return -Uapi.Errno.EMSGSIZE;
        }
        skb.TransportHeader = skb.Data;
        new Ipv6Repr(saddr, daddr, proto, plen, (byte)hlimit, tclass).Emit(Ipv6Header.Create(skb.Push(Ipv6Header.Length)));
        skb.NetworkHeader = skb.Data;
        skb.Protocol = EthP.IPV6;
        mib[Ip6Mib.Ip6OutRequests]++;
        return Ip6OutputFinish(net, skb, rt, daddr);
    }

    /// <summary>The MTU check of ip6_finish_output() (the fragmentation call site), then ip6_finish_output2().</summary>
    /// <remarks>Mirrors ip6_output() -> ip6_finish_output() -> __ip6_finish_output().</remarks>
    internal static int Ip6OutputFinish(NetNamespace net, SkBuff skb, Rt6Info rt, UInt128 daddr)
    {
        int mtu = rt.Dev.Mtu;
        if (skb.Len > mtu && !rt.Dev.IsLoopback)
        {
            // ip6_fragment() goes here (Ip6Fragment.cs, the ipv6frag work): until then the packet is
            // refused as a socket without fragmentation would see it.
            net.Ipv6.Ip6Stats[Ip6Mib.Ip6FragFails]++;
            net.KfreeSkbReason(skb, SkbDropReason.PktTooBig);
            return -Uapi.Errno.EMSGSIZE;
        }
        return Ip6FinishOutput2(net, skb, rt, daddr);
    }

    /// <summary>
    /// Hands the packet to the link: a multicast destination maps to its 33:33 MAC directly, the
    /// loopback device takes it as is, anything else goes through the neighbour discovery table
    /// (resolving the next hop first if needed).
    /// </summary>
    /// <remarks>Mirrors ip6_finish_output2(): IP6_UPD_PO_STATS(OUTMCAST), ip_neigh_gw6() / __ipv6_neigh_lookup_noref()
    /// -> neigh_output(); ndisc_mc_map() for multicast (nd_tbl's constructor makes such entries NUD_NOARP).</remarks>
    internal static int Ip6FinishOutput2(NetNamespace net, SkBuff skb, Rt6Info rt, UInt128 daddr)
    {
        var dev = rt.Dev;
        var mib = net.Ipv6.Ip6Stats;
        mib[Ip6Mib.Ip6OutTransmits]++;
        mib[Ip6Mib.Ip6OutOctets] += skb.Len;
        if (Ipv6Address.IsMulticast(daddr))
        {
            mib[Ip6Mib.Ip6OutMcastPkts]++;
            mib[Ip6Mib.Ip6OutMcastOctets] += skb.Len;
            Eth.EthHeader(skb, EthP.IPV6, Ipv6Address.EthMcMap(daddr), dev.DevAddr);
            skb.Dev = dev;
            return Dev.DevQueueXmit(skb);
        }
        if (dev.NoArp)
        {
            Eth.EthHeader(skb, EthP.IPV6, MacAddress.Zero, MacAddress.Zero);
            skb.Dev = dev;
            return Dev.DevQueueXmit(skb);
        }
        return net.Ipv6.NdTbl.NeighResolveOutput(skb, rt.NextHop(daddr), dev);
    }

    /// <summary>The hop limit of a unicast packet along <paramref name="rt"/>: the device's hop_limit (conf.default here).</summary>
    /// <remarks>Mirrors ip6_dst_hoplimit().</remarks>
    public static int Ip6DstHoplimit(NetNamespace net, Rt6Info rt) => net.Ipv6.Sysctl.HopLimit;
}
