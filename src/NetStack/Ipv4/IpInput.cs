using NetStack.Core;
using NetStack.Ethernet;
using NetStack.Wire;

namespace NetStack.Ipv4;

/// <summary>
/// IPv4 receive. <remarks>Mirrors net/ipv4/ip_input.c.</remarks>
/// </summary>
internal static class IpInput
{
    /// <summary>
    /// Validates an IPv4 packet in the order of ip_rcv_core() and delivers it locally.
    /// Every drop increments the matching Ip/IpExt MIB counter (as Linux does) and a drop reason.
    /// </summary>
    /// <remarks>Mirrors ip_rcv() -> ip_rcv_core() -> ip_rcv_finish().</remarks>
    public static int IpRcv(SkBuff skb, NetDevice dev)
    {
        var net = dev.Net!;
        var mib = net.Mib.Ip;
        // Frames for another MAC are not ours; they are not counted as IP input.
        if (skb.PktType == Eth.PacketOtherHost)
            return net.KfreeSkbReason(skb, SkbDropReason.OtherHost);

        mib[IpMib.InReceives]++;
        net.Mib.IpExt[IpExtMib.InOctets] += skb.Len;
        // ip_rcv_core(): header present, version 4, IHL >= 5, header fits (pskb_may_pull) are
        // header errors; then the checksum; only then the total length. Linux counts a total
        // length beyond the frame as IpExt InTruncatedPkts alone, not as InHdrErrors.
        // IPSTATS_MIB_NOECTPKTS + (tos & INET_ECN_MASK): InNoECTPkts, InECT1Pkts, InECT0Pkts, InCEPkts, counted
        // once the fixed header is there with version 4 and ihl >= 5, before the rest is checked.
        var raw = skb.DataSpan;
        if (raw.Length >= Ipv4Header.MinLength && raw[0] >> 4 == 4 && (raw[0] & 0xf) >= 5)
            net.Mib.IpExt[IpExtMib.InNoECTPkts + (raw[1] & 3)]++;
        var parse = Ipv4Header.TryCreate(skb.DataSpan, out var iph);
        if (parse is Ipv4ParseResult.Truncated or Ipv4ParseResult.BadHeader)
        {
            mib[IpMib.InHdrErrors]++;
            return net.KfreeSkbReason(skb, SkbDropReason.IpInHdr);
        }
        if (parse != Ipv4ParseResult.Ok) iph = Ipv4Header.Create(skb.DataSpan); // the header fits; only tot_len is wrong
        if (!iph.VerifyChecksum())
        {
            net.Mib.IpExt[IpExtMib.InCsumErrors]++;
            mib[IpMib.InHdrErrors]++;
            return net.KfreeSkbReason(skb, SkbDropReason.IpCsum);
        }
        if (parse == Ipv4ParseResult.TotalLengthTooLong)
        {
            net.Mib.IpExt[IpExtMib.InTruncatedPkts]++;
            return net.KfreeSkbReason(skb, SkbDropReason.PktTooSmall);
        }
        if (parse == Ipv4ParseResult.TotalLengthTooShort)
        {
            mib[IpMib.InHdrErrors]++;
            return net.KfreeSkbReason(skb, SkbDropReason.IpInHdr);
        }
        // pskb_trim_rcsum(): drop Ethernet padding beyond tot_len.
        skb.Trim(iph.TotalLength);
        skb.NetworkHeader = skb.Data;
        // Remove any debris in the socket control block.
        skb.Ipcb = new InetSkbParm { Iif = dev.IfIndex };
        uint saddr = iph.Source, daddr = iph.Destination;
        skb.Saddr = saddr;
        skb.Daddr = daddr;

        // A copy of this host's own group or broadcast send keeps its output route (ip_rcv_finish_core():
        // skb_valid_dst(), no input route): counted as multicast or broadcast input and delivered.
        if (skb.RouteOutput)
        {
            CountMcastBcastIn(net, skb, Ipv4Address.IsMulticast(daddr) ? RtnType.Multicast : RtnType.Broadcast);
            return IpLocalDeliver(net, skb, iph.HeaderLength, iph.Protocol, iph.IsFragment);
        }

        // ip_rcv_finish() -> ip_route_input_slow(): martians are dropped without a MIB counter.
        // A zero source is only acceptable towards the limited broadcast (a DHCP client), and towards
        // a link-local group or in IGMP (ip_route_input_mc());
        // 0/8 and loopback destinations never arrive from a wire.
        if (Ipv4Address.IsMulticast(saddr) || Ipv4Address.IsLimitedBroadcast(saddr) ||
            (!Ipv4Address.IsLimitedBroadcast(daddr) && Ipv4Address.IsZeroNet(saddr) &&
             !(Ipv4Address.IsMulticast(daddr) && (Igmp.IsLocalMulticast(daddr) || iph.Protocol == IpProto.IGMP))) ||
            (!dev.NoArp && (Ipv4Address.IsLoopback(saddr) || net.IsLocalAddress(saddr)))) // fib_validate_source(): our own address from a wire (accept_local = 0)
            return net.KfreeSkbReason(skb, SkbDropReason.IpInvalidSource);
        if (Ipv4Address.IsZeroNet(daddr) || (Ipv4Address.IsLoopback(daddr) && !dev.NoArp))
            return net.KfreeSkbReason(skb, SkbDropReason.IpInvalidDest);

        var type = Route.IpRouteInputSlow(net, daddr, saddr, dev, out var rt, out int err, out bool doRedirect);
        if (type == RtnType.Broadcast) skb.RouteBroadcast = true; // rt_flags, read by fib_compute_spec_dst()
        // ip_rcv_options(): a header with options is checked (record route and timestamp get our
        // address and time), and a source-routed packet is dropped (accept_source_route is 0),
        // before dst_input() delivers, forwards or refuses it.
        if (iph.HeaderLength > Ipv4Header.MinLength)
        {
            if (!IpOptions.IpOptionsCompile(net, skb))
            {
                mib[IpMib.InHdrErrors]++;
                return net.KfreeSkbReason(skb, SkbDropReason.IpInHdr);
            }
            if (skb.Ipcb.Opt.Srr != 0) return net.KfreeSkbReason(skb, SkbDropReason.IpOptionsUnsupported);
        }
        switch (type)
        {
            case RtnType.Local:
                break;
            case RtnType.Broadcast:
                CountMcastBcastIn(net, skb, type);
                break;
            case RtnType.Multicast:
                // ip_route_input_rcu(): a group this host joined on the arrival device is ours
                // (ip_check_mc_rcu()); the rest is dropped (no multicast routing), uncounted.
                if (!Igmp.IpCheckMc(net, dev, daddr))
                    return net.KfreeSkbReason(skb, SkbDropReason.OtherHost);
                CountMcastBcastIn(net, skb, type);
                skb.RouteBroadcast = true; // RTCF_MULTICAST
                break;
            case RtnType.Unicast:
                return IpForward.IpForwardSkb(net, skb, rt, doRedirect, skb.Ipcb.Opt);
            default:
                // dst_input() -> ip_error(): a host (forwarding off) counts a packet for another
                // address as InAddrErrors; a router answers unreachable.
                return IpForward.IpError(net, skb, dev, err);
        }
        if (type == RtnType.Broadcast) skb.PktType = Eth.PacketBroadcast;
        return IpLocalDeliver(net, skb, iph.HeaderLength, iph.Protocol, iph.IsFragment);
    }

    /// <summary>InMcastPkts/InMcastOctets or InBcastPkts/InBcastOctets by the input route's type.</summary>
    /// <remarks>Mirrors ip_rcv_finish_core(): __IP_UPD_PO_STATS(net, IPSTATS_MIB_INMCAST / IPSTATS_MIB_INBCAST, skb->len).</remarks>
    private static void CountMcastBcastIn(NetNamespace net, SkBuff skb, RtnType type)
    {
        var ext = net.Mib.IpExt;
        if (type == RtnType.Multicast)
        {
            ext[IpExtMib.InMcastPkts]++;
            ext[IpExtMib.InMcastOctets] += skb.Len;
        }
        else
        {
            ext[IpExtMib.InBcastPkts]++;
            ext[IpExtMib.InBcastOctets] += skb.Len;
        }
    }

    /// <remarks>Mirrors ip_local_deliver() -> ip_local_deliver_finish() -> ip_protocol_deliver_rcu().</remarks>
    private static int IpLocalDeliver(NetNamespace net, SkBuff skb, int ihl, int protocol, bool isFragment)
    {
        var mib = net.Mib.Ip;
        if (isFragment)
        {
            var whole = IpFragment.IpDefrag(net, skb);
            if (whole is null) return Dev.NetRxSuccess; // queued (or dropped and counted)
            skb = whole;
            ihl = Ipv4Header.Create(skb.DataSpan).HeaderLength;
        }
        skb.Pull(ihl);
        skb.TransportHeader = skb.Data;

        var ipv4 = net.Ipv4;
        bool raw = ipv4.RawLocalDeliver is { } rawHook && rawHook(net, skb, protocol);
        var ipprot = ipv4.InetProtos[protocol];
        if (ipprot is not null)
        {
            mib[IpMib.InDelivers]++;
            // The protocol's handler is registered code (inet_add_protocol): a fault in it is
            // contained here, naming it, and the buffer is left alone (Core/Panic.cs).
            try
            {
                return ipprot.Handler(skb);
            }
            catch (Exception e) when (Oops.Contain(net))
            {
                Oops.SkbOops(net, skb, e, "ip_local_deliver", $"inet_protos[{protocol}] {Oops.FunctionName(ipprot.Handler)}");
                return Dev.NetRxDrop;
            }
        }
        if (!raw)
        {
            mib[IpMib.InUnknownProtos]++;
            // Protocol unreachable, quoting the packet: put the IP header back in front first.
            skb.Push(ihl);
            Icmp.IcmpSend(net, skb, IcmpType.DestUnreach, IcmpType.ProtUnreach, 0);
            return net.KfreeSkbReason(skb, SkbDropReason.IpNoProto);
        }
        mib[IpMib.InDelivers]++;
        skb.Free();
        return Dev.NetRxSuccess;
    }
}
