using NetStack.Core;
using NetStack.Ethernet;
using NetStack.Wire;

namespace NetStack.Ipv6;

/// <summary>IPv6 receive. <remarks>Mirrors net/ipv6/ip6_input.c.</remarks></summary>
internal static class Ip6Input
{
    /// <summary>IP6SKB_HOPBYHOP: the packet had a hop-by-hop header.</summary>
    public const ushort Ip6SkbHopByHop = 32;

    /// <summary>
    /// Validates an IPv6 packet in ip6_rcv_core()'s order and routes it: delivered here, or (as a
    /// host does) refused. Every drop names a reason and increments the Ip6 counter Linux does.
    /// </summary>
    /// <remarks>Mirrors ipv6_rcv() -> ip6_rcv_core() -> ip6_rcv_finish().</remarks>
    public static int Ipv6Rcv(SkBuff skb, NetDevice dev)
    {
        var net = dev.Net!;
        var v6 = net.Ipv6;
        var mib = net.Ip6Mib;
        if (skb.PktType == Eth.PacketOtherHost)
            return net.KfreeSkbReason(skb, SkbDropReason.OtherHost);
        var idev = Addrconf.In6DevGet(net, dev);
        mib[Ipv6Mib.Ip6InReceives]++;
        mib[Ipv6Mib.Ip6InOctets] += skb.Len;
        if (idev is null || v6.Sysctl.DisableIpv6)
        {
            mib[Ipv6Mib.Ip6InDiscards]++;
            return net.KfreeSkbReason(skb, SkbDropReason.NotSpecified); // SKB_DROP_REASON_IPV6DISABLED
        }
        skb.Ip6cb = new Inet6SkbParm { Iif = dev.IfIndex };

        var parse = Ipv6Header.TryCreate(skb.DataSpan, out var hdr);
        if (parse is Ipv6ParseResult.Truncated or Ipv6ParseResult.BadVersion)
            return Err(net, skb, parse == Ipv6ParseResult.BadVersion ? SkbDropReason.UnhandledProto : SkbDropReason.PktTooSmall);
        if (parse != Ipv6ParseResult.Ok) hdr = Ipv6Header.Create(skb.DataSpan); // the fixed header is there; only the length is in question
        // IPSTATS_MIB_NOECTPKTS + (dsfield & INET_ECN_MASK)
        mib[Ipv6Mib.Ip6InNoECTPkts + (hdr.TrafficClass & 3)]++;

        UInt128 saddr = hdr.Source, daddr = hdr.Destination;
        bool loopDev = dev.IsLoopback;
        // RFC 4291 2.5.3: the loopback address must not be the source or destination on a wire.
        if ((saddr == Ipv6Address.Loopback || daddr == Ipv6Address.Loopback) && !loopDev)
            return Err(net, skb, SkbDropReason.IpInHdr);
        // RFC 4291 2.7: interface-local multicast never comes from a wire; scope 0 is reserved.
        if (!loopDev && skb.PktType != Eth.PacketLoopback && Ipv6Address.IsMulticast(daddr) && Ipv6Address.MulticastScope(daddr) == 1)
            return Err(net, skb, SkbDropReason.IpInHdr);
        if (Ipv6Address.IsMulticast(daddr) && Ipv6Address.MulticastScope(daddr) == 0)
            return Err(net, skb, SkbDropReason.IpInHdr);
        // RFC 4291 2.7: a multicast address is never a source.
        if (Ipv6Address.IsMulticast(saddr))
            return Err(net, skb, SkbDropReason.IpInvalidSource);

        skb.NetworkHeader = skb.Data;
        skb.TransportHeader = skb.Data + Ipv6Header.Length;
        skb.Ip6cb.Nhoff = 6; // offsetof(struct ipv6hdr, nexthdr)
        if (parse == Ipv6ParseResult.PayloadTooLong)
        {
            mib[Ipv6Mib.Ip6InTruncatedPkts]++;
            return net.KfreeSkbReason(skb, SkbDropReason.PktTooSmall);
        }
        // pkt_len 0 before a hop-by-hop header would be a jumbogram: no trim, the option decides.
        if (parse == Ipv6ParseResult.Ok) skb.Trim(Ipv6Header.Length + hdr.PayloadLength);

        if (hdr.NextHeader == NextHdr.Hop)
        {
            if (Exthdrs.Ipv6ParseHopopts(net, skb) < 0)
            {
                mib[Ipv6Mib.Ip6InHdrErrors]++;
                return Dev.NetRxDrop; // freed by the parser
            }
        }
        else if (parse == Ipv6ParseResult.Jumbo) return Err(net, skb, SkbDropReason.PktLenInvalid);
        return Ip6RcvFinish(net, skb, dev);
    }

    private static int Err(NetNamespace net, SkBuff skb, SkbDropReason reason)
    {
        net.Ip6Mib[Ipv6Mib.Ip6InHdrErrors]++;
        return net.KfreeSkbReason(skb, reason);
    }

    /// <summary>
    /// The input route: a multicast group the device joined, or an address of this host, is delivered;
    /// anything else would be forwarded, which a host (forwarding 0) refuses: Ip6InAddrErrors when a
    /// route exists, Ip6InNoRoutes and an unreachable when none does.
    /// </summary>
    /// <remarks>Mirrors ip6_rcv_finish() -> ip6_route_input() -> dst_input(): ip6_input() / ip6_mc_input(),
    /// ip6_forward() (forwarding off: INADDRERRORS), ip6_pkt_discard() (INNOROUTES, ICMPV6_NOROUTE).</remarks>
    private static int Ip6RcvFinish(NetNamespace net, SkBuff skb, NetDevice dev)
    {
        var mib = net.Ip6Mib;
        var hdr = Ipv6Header.Create(skb.Buffer.AsSpan(skb.NetworkHeader, Ipv6Header.Length));
        UInt128 daddr = hdr.Destination;
        if (Ipv6Address.IsMulticast(daddr))
        {
            mib[Ipv6Mib.Ip6InMcastPkts]++;
            mib[Ipv6Mib.Ip6InMcastOctets] += skb.Len;
            if (!Addrconf.Ipv6ChkMcastAddr(net, dev, daddr))
                return net.KfreeSkbReason(skb, SkbDropReason.OtherHost); // ip6_mc_input(): not joined, discarded uncounted
            return Ip6InputFinish(net, skb, dev);
        }
        if (dev.IsLoopback || Addrconf.Ipv6ChkAddr(net, daddr, Ipv6Address.IsLinkLocal(daddr) ? dev : null))
            return Ip6InputFinish(net, skb, dev);
        if (Route6.Ip6RouteOutput(net, daddr, null) is null)
        {
            mib[Ipv6Mib.Ip6InNoRoutes]++;
            skb.Data = skb.NetworkHeader;
            Icmpv6.Icmp6Send(net, skb, Icmpv6Type.DestUnreach, Icmpv6Type.NoRoute, 0);
            return net.KfreeSkbReason(skb, SkbDropReason.IpInNoRoutes);
        }
        // ip6_forward() with forwarding 0.
        mib[Ipv6Mib.Ip6InAddrErrors]++;
        return net.KfreeSkbReason(skb, SkbDropReason.IpInAddrErrors);
    }

    /// <summary>
    /// Walks the headers after the fixed one: each next-header value goes to its inet6_protos[]
    /// handler; an extension header handler moves IP6CB's nhoff on and asks for the next one
    /// (positive return), an upper-layer one takes the packet. No handler: Ip6InUnknownProtos and a
    /// parameter problem pointing at the next-header byte.
    /// </summary>
    /// <remarks>Mirrors ip6_input() -> ip6_input_finish() -> ip6_protocol_deliver_rcu().</remarks>
    private static int Ip6InputFinish(NetNamespace net, SkBuff skb, NetDevice dev)
    {
        var v6 = net.Ipv6;
        var mib = net.Ip6Mib;
        bool haveFinal = false, fragmented = false; // IP6SKB_FRAGMENTED
        while (true)
        {
            // resubmit: pskb_pull(skb, skb_transport_offset(skb))
            int toff = skb.TransportHeader - skb.Data;
            if (toff < 0 || !skb.Pull(toff))
            {
                mib[Ipv6Mib.Ip6InDiscards]++;
                return net.KfreeSkbReason(skb, SkbDropReason.PktTooSmall);
            }
            int nhoff = skb.Ip6cb.Nhoff;
            byte nexthdr = skb.Buffer[skb.NetworkHeader + nhoff];
            if (nexthdr == NextHdr.Fragment && !haveFinal)
            {
                // inet6_protos[NEXTHDR_FRAGMENT] = ipv6_frag_rcv (Reassembly.cs), called here because it
                // may return another buffer: the datagram this fragment completed.
                var iif = skb.Ip6cb.Iif;
                if (Reassembly.Ipv6FragRcv(net, ref skb, ref nhoff, ref fragmented) <= 0) return Dev.NetRxSuccess; // queued or dropped, counted
                skb.Dev ??= dev;
                skb.Ip6cb.Iif = iif;
                skb.Ip6cb.Nhoff = (ushort)nhoff;
                continue;
            }
            // raw6_local_deliver(): the raw sockets of this header get their copies first.
            bool raw = Raw6.Raw6LocalDeliver(net, skb, nexthdr);
            var ipprot = v6.Inet6Protos[nexthdr];
            if (ipprot is null && raw)
            {
                mib[Ipv6Mib.Ip6InDelivers]++;
                skb.Free(); // consume_skb()
                return Dev.NetRxSuccess;
            }
            if (ipprot is null)
            {
                mib[Ipv6Mib.Ip6InUnknownProtos]++;
                skb.Data = skb.NetworkHeader;
                Icmpv6.Icmp6Send(net, skb, Icmpv6Type.ParamProb, Icmpv6Type.UnkNextHdr, (uint)nhoff);
                return net.KfreeSkbReason(skb, SkbDropReason.IpNoProto);
            }
            if (haveFinal)
            {
                // Once a final protocol was seen, no non-final one may follow (no encapsulation).
                if (!ipprot.Final)
                {
                    mib[Ipv6Mib.Ip6InDiscards]++;
                    return net.KfreeSkbReason(skb, SkbDropReason.NotSpecified);
                }
            }
            else if (ipprot.Final)
            {
                haveFinal = true;
                var daddr = Ipv6Address.Read(skb.Buffer.AsSpan(skb.NetworkHeader + 24, 16));
                if (Ipv6Address.IsMulticast(daddr) && !Addrconf.Ipv6ChkMcastAddr(net, dev, daddr))
                {
                    mib[Ipv6Mib.Ip6InDiscards]++;
                    return net.KfreeSkbReason(skb, SkbDropReason.IpInAddrErrors);
                }
            }
            int ret;
            try
            {
                ret = ipprot.Handler(skb);
            }
            catch (Exception e) when (Oops.Contain(net))
            {
                Oops.SkbOops(net, skb, e, "ip6_protocol_deliver_rcu", $"inet6_protos[{nexthdr}] {Oops.FunctionName(ipprot.Handler)}");
                return Dev.NetRxDrop;
            }
            if (ret > 0) continue;
            if (ret == 0) mib[Ipv6Mib.Ip6InDelivers]++;
            return ret == 0 ? Dev.NetRxSuccess : Dev.NetRxDrop;
        }
    }
}
