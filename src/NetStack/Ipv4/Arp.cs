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

/// <summary>
/// ARP's half of the neighbour table: arp_tbl's name, key length and parameters, arp_solicit() and
/// arp_error_report().
/// </summary>
/// <remarks>Mirrors net/ipv4/arp.c: arp_tbl and arp_generic_ops.</remarks>
internal sealed class ArpNeighOps : NeighOps
{
    public static readonly ArpNeighOps Instance = new();
    private ArpNeighOps() { }

    public override string Id => "arp_cache";
    public override int KeyLen => 4;
    public override ushort Protocol => EthP.IP;
    public override NeighParms Parms(NetNamespace net) => net.Ipv4.Sysctl.Neigh;
    public override string FormatKey(UInt128 key) => Ipv4Address.Format((uint)key);

    /// <summary>An ARP request for the entry: broadcast while INCOMPLETE, unicast while PROBE.</summary>
    /// <remarks>Mirrors arp_solicit().</remarks>
    public override void Solicit(NetNamespace net, Neighbour n)
    {
        var dev = n.Dev;
        uint tip = (uint)n.PrimaryKey;
        uint sip = InetAddress.InetSelectAddr(dev, tip);
        var dst = n.NudState == NudState.Probe ? n.HaAddr : MacAddress.Broadcast;
        Arp.ArpSend(net, ArpPacket.OpRequest, tip, dev, sip, dst, dev.DevAddr, MacAddress.Zero);
    }

    /// <summary>
    /// An ICMP host unreachable to the packet's source, which for a packet of this host's own is
    /// delivered here (over lo) to the sending socket's error handler: a TCP connect fails with
    /// EHOSTUNREACH, a UDP/ping/raw socket sees it as any ICMP error.
    /// </summary>
    /// <remarks>Mirrors arp_error_report() -> dst_link_failure() -> ipv4_link_failure() -> icmp_send(ICMP_HOST_UNREACH).</remarks>
    public override void ErrorReport(NetNamespace net, Neighbour n, SkBuff skb) =>
        Icmp.IcmpSend(net, skb, IcmpType.DestUnreach, IcmpType.HostUnreach, 0);
}
