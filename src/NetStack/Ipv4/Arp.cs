using NetStack.Core;
using NetStack.Ethernet;
using NetStack.Wire;

namespace NetStack.Ipv4;

/// <summary>
/// ARP for Ethernet/IPv4. <remarks>Mirrors net/ipv4/arp.c.</remarks>
/// </summary>
internal static class Arp
{
    /// <summary>ARP in each namespace: the ARP packet type.</summary>
    /// <remarks>Mirrors net/ipv4/arp.c: arp_init() (dev_add_pack(&amp;arp_packet_type)) and arp_net_ops.</remarks>
    internal sealed class ArpNetOps : PernetOperations
    {
        public static readonly ArpNetOps Instance = new();
        private ArpNetOps() { }
        public override string Name => "arp";
        public override void Init(NetNamespace net) => net.DevAddPack(new PacketType(EthP.ARP, ArpRcv, "arp_packet_type"));
    }

    /// <summary>
    /// Receives an ARP packet: validates it, learns the sender, and answers requests for our
    /// addresses. Requests for other addresses are not answered (no proxy ARP).
    /// </summary>
    /// <remarks>Mirrors arp_rcv(): header and addresses must be present, then arp_process().</remarks>
    public static int ArpRcv(SkBuff skb, NetDevice dev)
    {
        var net = dev.Net!;
        if (!ArpPacket.TryCreate(skb.DataSpan, out var arp))
            return net.KfreeSkbReason(skb, SkbDropReason.ArpTruncated);
        if (skb.PktType == Eth.PacketOtherHost || dev.NoArp)
            return net.KfreeSkbReason(skb, SkbDropReason.OtherHost);
        return ArpProcess(net, skb, dev, arp);
    }

    /// <remarks>Mirrors arp_process(): only Ethernet/IPv4, requests and replies.</remarks>
    private static int ArpProcess(NetNamespace net, SkBuff skb, NetDevice dev, ArpPacket arp)
    {
        if (!ArpRepr.TryParse(arp, out var r) || (r.Operation != ArpPacket.OpRequest && r.Operation != ArpPacket.OpReply))
            return net.KfreeSkbReason(skb, SkbDropReason.ArpInvalid);
        uint sip = r.SenderProtocol, tip = r.TargetProtocol;
        // Multicast targets and multicast/broadcast senders are never valid.
        if (Ipv4Address.IsMulticast(tip) || Ipv4Address.IsMulticast(sip) || Ipv4Address.IsLimitedBroadcast(sip) || r.SenderHardware.IsMulticast)
            return net.KfreeSkbReason(skb, SkbDropReason.ArpInvalid);

        bool forUs = tip != 0 && dev.HasIpv4Address(tip);
        // Duplicate address detection probe (sip == 0): answer if for us, learn nothing.
        if (sip == 0)
        {
            if (r.Operation == ArpPacket.OpRequest && forUs)
                ArpSend(net, ArpPacket.OpReply, sip, dev, tip, r.SenderHardware, dev.DevAddr, r.SenderHardware);
            skb.Free();
            return Dev.NetRxSuccess;
        }

        if (r.Operation == ArpPacket.OpRequest && forUs)
        {
            // neigh_event_ns(): a request to us creates/refreshes the sender's entry as STALE. When
            // the table is full (gc_thresh3, nothing to collect) there is no entry and no reply.
            var n = net.Ipv4.Arp.NeighLookup(sip, dev) ?? net.Ipv4.Arp.NeighCreate(sip, dev);
            if (n is null)
            {
                skb.Free();
                return Dev.NetRxSuccess;
            }
            net.Ipv4.Arp.NeighUpdate(n, r.SenderHardware, NudState.Stale);
            ArpSend(net, ArpPacket.OpReply, sip, dev, tip, r.SenderHardware, dev.DevAddr, r.SenderHardware);
            skb.Free();
            return Dev.NetRxSuccess;
        }

        // Not a request for us: update an entry we already have; a reply addressed to us confirms it.
        var existing = net.Ipv4.Arp.NeighLookup(sip, dev);
        if (existing is not null)
        {
            var state = r.Operation == ArpPacket.OpReply && skb.PktType == Eth.PacketHost ? NudState.Reachable : NudState.Stale;
            net.Ipv4.Arp.NeighUpdate(existing, r.SenderHardware, state);
            skb.Free();
            return Dev.NetRxSuccess;
        }
        return net.KfreeSkbReason(skb, SkbDropReason.ArpNotForUs);
    }

    /// <summary>Builds and sends one ARP packet.</summary>
    /// <remarks>Mirrors arp_send() -> arp_create() + arp_xmit(). A null (zero) destination hardware address means broadcast.</remarks>
    public static void ArpSend(NetNamespace net, ushort op, uint tip, NetDevice dev, uint sip, MacAddress destHw, MacAddress srcHw, MacAddress targetHw)
    {
        var skb = net.SkbPool.AllocWithHeadroom();
        if (skb is null) { net.Mib.Drops[SkbDropReason.NoBuffers]++; return; }
        var body = skb.Put(ArpPacket.Length);
        new ArpRepr(op, srcHw, sip, targetHw, tip).Emit(ArpPacket.Create(body));
        var dst = destHw.IsZero ? MacAddress.Broadcast : destHw;
        Eth.EthHeader(skb, EthP.ARP, dst, srcHw);
        skb.Dev = dev;
        Dev.DevQueueXmit(skb);
    }

    /// <summary>Announces the device's address: a broadcast request with sender = target = our address.</summary>
    /// <remarks>Mirrors inetdev_send_gratuitous_arp().</remarks>
    public static void InetdevSendGratuitousArp(NetNamespace net, NetDevice dev)
    {
        if (dev.Ipv4Address == 0 || !dev.IsUp) return;
        ArpSend(net, ArpPacket.OpRequest, dev.Ipv4Address, dev, dev.Ipv4Address, MacAddress.Broadcast, dev.DevAddr, MacAddress.Zero);
    }
}
