using NetStack.Core;
using NetStack.Ethernet;
using NetStack.Wire;

namespace NetStack.Ipv4;

/// <summary>
/// IPv4 receive. <remarks>Mirrors net/ipv4/ip_input.c.</remarks>
/// </summary>
public static class IpInput
{
    /// <summary>
    /// Hook for raw sockets: returns true if a raw socket took a copy of the packet (so a missing
    /// protocol handler is not an error). Set by the raw socket layer; null when it is absent.
    /// </summary>
    /// <remarks>raw_local_deliver().</remarks>
    public static Func<NetNamespace, SkBuff, int, bool>? RawLocalDeliver;

    /// <summary>
    /// Validates an IPv4 packet in the order of ip_rcv_core() and delivers it locally.
    /// Every drop increments the matching Ip MIB counter and a drop reason.
    /// </summary>
    /// <remarks>Mirrors ip_rcv() -> ip_rcv_core() -> ip_rcv_finish().</remarks>
    public static int Rcv(SkBuff skb, NetDevice dev)
    {
        var net = dev.Net!;
        var mib = net.Mib.Ip;
        // Frames for another MAC are not ours; they are not counted as IP input.
        if (skb.PktType == Eth.PacketOtherHost)
            return net.KfreeSkbReason(skb, SkbDropReason.OtherHost);

        mib[IpMib.InReceives]++;
        switch (Ipv4Header.TryCreate(skb.DataSpan, out var iph))
        {
            case Ipv4ParseResult.Ok:
                break;
            case Ipv4ParseResult.TotalLengthTooLong:
                // The kernel counts a packet longer than its frame as InTruncatedPkts (IpExt); it is
                // a header error in /proc/net/snmp's terms too, so both counters see it here.
                mib[IpMib.InHdrErrors]++;
                return net.KfreeSkbReason(skb, SkbDropReason.PktLenInvalid);
            case Ipv4ParseResult.Truncated:
                mib[IpMib.InHdrErrors]++;
                return net.KfreeSkbReason(skb, SkbDropReason.PktTooSmall);
            case Ipv4ParseResult.TotalLengthTooShort:
                mib[IpMib.InHdrErrors]++;
                return net.KfreeSkbReason(skb, SkbDropReason.PktLenInvalid);
            default:
                mib[IpMib.InHdrErrors]++;
                return net.KfreeSkbReason(skb, SkbDropReason.IpInHdr);
        }
        if (!iph.VerifyChecksum())
        {
            mib[IpMib.InHdrErrors]++;
            return net.KfreeSkbReason(skb, SkbDropReason.IpCsum);
        }
        // pskb_trim_rcsum(): drop Ethernet padding beyond tot_len.
        skb.Trim(iph.TotalLength);
        skb.NetworkHeader = skb.Data;
        uint saddr = iph.Source, daddr = iph.Destination;
        skb.Saddr = saddr;
        skb.Daddr = daddr;

        // ip_rcv_finish() -> ip_route_input_noref(): martian sources are dropped silently.
        if (Ipv4Address.IsMulticast(saddr) || Ipv4Address.IsLimitedBroadcast(saddr) ||
            (Ipv4Address.IsLoopback(saddr) && !dev.NoArp))
            return net.KfreeSkbReason(skb, SkbDropReason.IpInvalidSource);

        var type = Route.IpRouteInput(net, daddr, saddr, dev);
        switch (type)
        {
            case RtnType.Local:
            case RtnType.Broadcast:
                break;
            case RtnType.Multicast:
                // No IGMP membership: the kernel drops multicast for groups nobody joined.
                return net.KfreeSkbReason(skb, SkbDropReason.OtherHost);
            default:
                // ip_error(): a host (ip_forward = 0) counts a packet for another address as InAddrErrors.
                mib[IpMib.InAddrErrors]++;
                return net.KfreeSkbReason(skb, SkbDropReason.IpInAddrErrors);
        }
        if (type == RtnType.Broadcast) skb.PktType = Eth.PacketBroadcast;
        return LocalDeliver(net, skb, iph.HeaderLength, iph.Protocol, iph.IsFragment);
    }

    /// <remarks>Mirrors ip_local_deliver() -> ip_local_deliver_finish() -> ip_protocol_deliver_rcu().</remarks>
    private static int LocalDeliver(NetNamespace net, SkBuff skb, int ihl, int protocol, bool isFragment)
    {
        var mib = net.Mib.Ip;
        if (isFragment)
        {
            // ip_defrag() is not implemented: count the fragment as a reassembly failure.
            mib[IpMib.ReasmReqds]++;
            mib[IpMib.ReasmFails]++;
            return net.KfreeSkbReason(skb, SkbDropReason.IpFragUnsupported);
        }
        skb.Pull(ihl);
        skb.TransportHeader = skb.Data;

        bool raw = RawLocalDeliver is { } rawHook && rawHook(net, skb, protocol);
        var ipprot = net.InetProtos[protocol];
        if (ipprot is not null)
        {
            mib[IpMib.InDelivers]++;
            int ret = ipprot.Handler(skb);
            return ret;
        }
        if (!raw)
        {
            mib[IpMib.InUnknownProtos]++;
            // Protocol unreachable, quoting the packet: put the IP header back in front first.
            skb.Push(ihl);
            Icmp.Send(net, skb, IcmpType.DestUnreach, IcmpType.ProtUnreach, 0);
            return net.KfreeSkbReason(skb, SkbDropReason.UnhandledProto);
        }
        mib[IpMib.InDelivers]++;
        skb.Free();
        return Dev.NetRxSuccess;
    }
}
