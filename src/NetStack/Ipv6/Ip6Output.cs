using NetStack.Core;
using NetStack.Ethernet;
using NetStack.Wire;

namespace NetStack.Ipv6;

/// <summary>IPv6 output. <remarks>Mirrors net/ipv6/ip6_output.c.</remarks></summary>
internal static class Ip6Output
{
    /// <summary>
    /// Puts the IPv6 header in front of a complete upper-layer message (Data at its first byte) and
    /// sends it along <paramref name="rt"/> (fragmented when bigger than <paramref name="mtu"/>: the
    /// socket's cork MTU, Route6Pmtu.Ip6CorkMtu, or 0 for the path's, dst_mtu()). Consumes the buffer.
    /// </summary>
    /// <remarks>Mirrors ip6_xmit(): ip6_flow_hdr(), payload_len, nexthdr, hop_limit, addresses,
    /// IPSTATS_MIB_OUT(REQUESTS), then dst_output() = ip6_output().</remarks>
    public static int Ip6Xmit(NetNamespace net, SkBuff skb, Rt6Info rt, UInt128 saddr, UInt128 daddr, byte proto, int hlimit, byte tclass = 0, int mtu = 0)
    {
        var mib = net.Ip6Mib;
        int plen = skb.Len;
        if (plen > ushort.MaxValue || skb.Headroom < Ipv6Header.Length + EthernetHeader.Length)
        {
            mib[Ipv6Mib.Ip6OutDiscards]++;
            net.KfreeSkbReason(skb, SkbDropReason.PktLenInvalid);
            return -Uapi.Errno.EMSGSIZE;
        }
        skb.TransportHeader = skb.Data;
        new Ipv6Repr(saddr, daddr, proto, plen, (byte)hlimit, tclass).Emit(Ipv6Header.Create(skb.Push(Ipv6Header.Length)));
        skb.NetworkHeader = skb.Data;
        skb.Protocol = EthP.IPV6;
        mib[Ipv6Mib.Ip6OutRequests]++;
        return Ip6OutputFinish(net, skb, rt, daddr, mtu);
    }

    /// <summary>The MTU check of ip6_finish_output(): a packet bigger than the route's MTU is fragmented (Ip6Fragment.cs), then ip6_finish_output2().</summary>
    /// <remarks>Mirrors ip6_output() -> ip6_finish_output() -> __ip6_finish_output() (ip6_fragment(..., ip6_finish_output2)).</remarks>
    internal static int Ip6OutputFinish(NetNamespace net, SkBuff skb, Rt6Info rt, UInt128 daddr, int mtu = 0)
    {
        // ip6_skb_dst_mtu(): the path MTU a Packet Too Big taught the route, else the device's (mtu6).
        if (mtu == 0) mtu = Route6Pmtu.Ip6DstMtu(net, rt, daddr);
        // A GSO super-frame is cut by the device, never fragmented (skb_is_gso()).
        if (skb.Len > mtu && skb.GsoSize == 0 && !rt.Dev.IsLoopback)
        {
            // A segment whose payload references the send queue is cut from a linear copy.
            if (skb.NrFrags != 0)
            {
                if (Dev.SkbLinearize(net, skb) is not { } lin) return -Uapi.Errno.ENOBUFS;
                skb = lin;
            }
            skb.Dev = rt.Dev; // each fragment keeps it, and FragOutput routes it out of the same device
            return Ip6Fragment.Ip6DoFragment(net, null, skb, mtu, FragOutput);
        }
        return Ip6FinishOutput2(net, skb, rt, daddr);
    }

    /// <summary>ip6_finish_output2() for one fragment (Data at its IPv6 header): the route again, through the device the packet was to leave by.</summary>
    private static readonly Func<NetNamespace, Sock?, SkBuff, int> FragOutput = static (net, sk, frag) =>
    {
        var daddr = Ipv6Header.Create(frag.DataSpan).Destination;
        if (Route6.Ip6RouteOutput(net, daddr, frag.Dev) is not { } rt)
        {
            net.Ip6Mib[Ipv6Mib.Ip6OutNoRoutes]++;
            net.KfreeSkbReason(frag, SkbDropReason.IpOutNoRoute);
            return -Uapi.Errno.ENETUNREACH;
        }
        return Ip6FinishOutput2(net, frag, rt, daddr);
    };

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
        var mib = net.Ip6Mib;
        mib[Ipv6Mib.Ip6OutTransmits]++;
        mib[Ipv6Mib.Ip6OutOctets] += skb.Len;
        if (Ipv6Address.IsMulticast(daddr))
        {
            mib[Ipv6Mib.Ip6OutMcastPkts]++;
            mib[Ipv6Mib.Ip6OutMcastOctets] += skb.Len;
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

    /// <summary>
    /// The size checks of __ip6_append_data() for a datagram of <paramref name="length"/> bytes
    /// after the IPv6 header: with <paramref name="dontfrag"/> (IPV6_DONTFRAG, by option or control
    /// message) a UDP, ICMPv6 or IPPROTO_RAW socket's datagram that does not fit <paramref name="mtu"/>
    /// is -EMSGSIZE, its path MTU left for IPV6_RECVPATHMTU (ipv6_local_rxpmtu()) and queued as a
    /// local error under IPV6_RECVERR; then the socket's own IPV6_MTU_DISCOVER limit
    /// (Route6Pmtu.Ip6AppendDataCheck). 0 when it may be sent.
    /// </summary>
    /// <remarks>Mirrors net/ipv6/ip6_output.c: __ip6_append_data() (the ipc6->dontfrag test, then maxnonfragsize and the emsgsize: label).</remarks>
    public static int Ip6AppendDataCheck(Sock sk, Ipv6Pinfo np, int mtu, int length, UInt128 daddr, ushort dport, bool dontfrag, int oif)
    {
        const int headersize = Ipv6Header.Length; // no extension headers of the socket's own
        if (length > mtu - headersize && dontfrag &&
            sk.Protocol is Uapi.SocketConstants.IPPROTO_UDP or Uapi.SocketConstants.IPPROTO_ICMPV6 or Uapi.SocketConstants.IPPROTO_RAW)
        {
            Inet6Datagram.Ipv6LocalRxpmtu(sk, daddr, oif, (uint)(mtu - headersize + Ipv6Header.Length));
            // emsgsize:
            int pmtu = Math.Max(mtu - headersize + Ipv6Header.Length, 0);
            Inet6Datagram.Ipv6LocalError(sk, Uapi.Errno.EMSGSIZE, daddr, dport, (uint)pmtu);
            return -Uapi.Errno.EMSGSIZE;
        }
        return Route6Pmtu.Ip6AppendDataCheck(sk, np, mtu, length, daddr, dport);
    }

    /// <summary>The hop limit of a unicast packet along <paramref name="rt"/>: the device's hop_limit (conf.default here).</summary>
    /// <remarks>Mirrors ip6_dst_hoplimit().</remarks>
    public static int Ip6DstHoplimit(NetNamespace net, Rt6Info rt) => net.Ipv6.Sysctl.HopLimit;
}
