using NetStack.Core;
using NetStack.Ethernet;
using NetStack.Wire;

namespace NetStack.Ipv4;

/// <summary>
/// IPv4 send. <remarks>Mirrors net/ipv4/ip_output.c.</remarks>
/// </summary>
public static class IpOutput
{
    /// <summary>
    /// Sends a transport segment: skb.Data is at the transport header and there is headroom for
    /// IP and Ethernet. Pushes a 20-byte IP header and hands the packet to the neighbour layer.
    /// Consumes the buffer. Returns 0 or a negative errno.
    /// </summary>
    /// <remarks>Mirrors ip_build_and_send_pkt() / __ip_queue_xmit() -> ip_local_out() -> ip_output() -> ip_finish_output2().</remarks>
    public static int Send(NetNamespace net, SkBuff skb, in Rtable rt, uint saddr, uint daddr, int protocol, int ttl = -1, byte tos = 0, bool df = true)
    {
        var mib = net.Mib.Ip;
        mib[IpMib.OutRequests]++;
        int payload = skb.Len;
        if (payload + Ipv4Header.MinLength > 0xFFFF)
        {
            mib[IpMib.OutDiscards]++;
            skb.Free();
            return -Uapi.Errno.EMSGSIZE;
        }
        skb.TransportHeader = skb.Data;
        var iph = Ipv4Header.Create(skb.Push(Ipv4Header.MinLength));
        skb.NetworkHeader = skb.Data;
        new Ipv4Repr(saddr, daddr, (byte)protocol, payload,
            (byte)(ttl < 0 ? net.Ipv4.Sysctl.IpDefaultTtl : ttl), tos, net.Ipv4.SelectIdent(), df).Emit(iph);
        return Output(net, skb, rt, daddr);
    }

    /// <summary>
    /// Sends a packet whose IP header the caller built (raw sockets with IP_HDRINCL, ICMP replies).
    /// </summary>
    public static int SendRaw(NetNamespace net, SkBuff skb, in Rtable rt, uint daddr)
    {
        net.Mib.Ip[IpMib.OutRequests]++;
        skb.NetworkHeader = skb.Data;
        return Output(net, skb, rt, daddr);
    }

    /// <remarks>Mirrors ip_output() -> ip_finish_output() -> ip_finish_output2() -> neigh_output().</remarks>
    private static int Output(NetNamespace net, SkBuff skb, in Rtable rt, uint daddr)
    {
        var dev = rt.Dev;
        if (skb.Len > dev.Mtu)
        {
            // ip_fragment(): a datagram with DF set that does not fit fails (the local sender
            // gets EMSGSIZE, as ip_local_error() reports it); otherwise it is cut into fragments.
            if (Ipv4Header.Create(skb.DataSpan).DontFragment)
            {
                net.Mib.Ip[IpMib.FragFails]++;
                skb.Free();
                return -Uapi.Errno.EMSGSIZE;
            }
            return IpFragment.Fragment(net, skb, rt, daddr);
        }
        return FinishOutput(net, skb, rt, daddr);
    }

    /// <remarks>Mirrors ip_finish_output2(): link-layer header by neighbour, broadcast or multicast mapping.</remarks>
    internal static int FinishOutput(NetNamespace net, SkBuff skb, in Rtable rt, uint daddr)
    {
        var dev = rt.Dev;
        net.Mib.Ip[IpMib.OutTransmits]++;
        net.Mib.IpExt[IpExtMib.OutOctets] += skb.Len; // IP_UPD_PO_STATS(IPSTATS_MIB_OUT, skb->len) in ip_output()
        skb.Protocol = EthP.IP;
        if (dev.NoArp)
        {
            Eth.Header(skb, EthP.IP, MacAddress.Zero, MacAddress.Zero);
            skb.Dev = dev;
            return Dev.DevQueueXmit(skb);
        }
        if (rt.Type == RtnType.Broadcast || Ipv4Address.IsLimitedBroadcast(daddr))
        {
            Eth.Header(skb, EthP.IP, MacAddress.Broadcast, dev.DevAddr);
            skb.Dev = dev;
            return Dev.DevQueueXmit(skb);
        }
        if (Ipv4Address.IsMulticast(daddr))
        {
            // ip_eth_mc_map(): 01:00:5e + low 23 bits of the group.
            Eth.Header(skb, EthP.IP, new MacAddress(0x01005E000000UL | (daddr & 0x7FFFFF)), dev.DevAddr);
            skb.Dev = dev;
            return Dev.DevQueueXmit(skb);
        }
        return net.Ipv4.Arp.ResolveOutput(skb, rt.NextHop(daddr), dev);
    }
}
