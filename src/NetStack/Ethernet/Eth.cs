using NetStack.Core;
using NetStack.Wire;

namespace NetStack.Ethernet;

/// <summary>
/// Ethernet II framing. <remarks>Mirrors net/ethernet/eth.c.</remarks>
/// </summary>
public static class Eth
{
    /// <summary>PACKET_HOST: the frame is addressed to this device.</summary>
    public const byte PacketHost = 0;      // PACKET_HOST
    /// <summary>PACKET_BROADCAST: the frame went to the broadcast address.</summary>
    public const byte PacketBroadcast = 1; // PACKET_BROADCAST
    /// <summary>PACKET_MULTICAST: the frame went to a multicast address.</summary>
    public const byte PacketMulticast = 2; // PACKET_MULTICAST
    /// <summary>PACKET_OTHERHOST: the frame is addressed to another host (seen only in promiscuous mode).</summary>
    public const byte PacketOtherHost = 3; // PACKET_OTHERHOST
    /// <summary>PACKET_OUTGOING: a frame this host sends, looped back to a packet tap.</summary>
    public const byte PacketOutgoing = 4;  // PACKET_OUTGOING
    /// <summary>PACKET_LOOPBACK: a multicast or broadcast this host sent, looped back to itself.</summary>
    public const byte PacketLoopback = 5;  // PACKET_LOOPBACK

    /// <summary>
    /// Classifies a received frame (pkt_type), records its EtherType in skb.Protocol and pulls
    /// the header. False if the frame is shorter than an Ethernet header.
    /// </summary>
    /// <remarks>Mirrors eth_type_trans().</remarks>
    public static bool EthTypeTrans(SkBuff skb, NetDevice dev)
    {
        if (!EthernetHeader.TryCreate(skb.DataSpan, out var eth)) return false;
        skb.MacHeader = skb.Data;
        var dst = eth.Destination;
        if (dst.IsMulticast)
            // A group MAC the device did not join is filtered as a NIC's multicast filter would (dev_mc_add()).
            skb.PktType = dst.IsBroadcast ? PacketBroadcast : dev.DevMcMatch(dst) ? PacketMulticast : PacketOtherHost;
        else
            skb.PktType = dst == dev.DevAddr ? PacketHost : PacketOtherHost;
        ushort type = eth.EtherType;
        // 802.3 length field: not Ethernet II; mark it so no handler matches (the kernel would
        // hand it to 802.2 LLC, which this stack does not have).
        skb.Protocol = type >= EthP.Min8023 ? type : (ushort)0;
        skb.Pull(EthernetHeader.Length);
        skb.NetworkHeader = skb.Data;
        return true;
    }

    /// <summary>Makes a device an Ethernet device: installs <see cref="EthHeaderOps"/>. Drivers call it from their constructor.</summary>
    /// <remarks>Mirrors net/ethernet/eth.c: ether_setup() (called by alloc_etherdev()).</remarks>
    public static void EtherSetup(NetDevice dev) => dev.HeaderOps = EthHeaderOps.Instance;

    /// <summary>Prepends an Ethernet header.</summary>
    /// <remarks>Mirrors eth_header() (header_ops->create).</remarks>
    public static void EthHeader(SkBuff skb, ushort type, MacAddress daddr, MacAddress saddr)
    {
        var eth = EthernetHeader.Create(skb.Push(EthernetHeader.Length));
        eth.Destination = daddr;
        eth.Source = saddr;
        eth.EtherType = type;
        skb.MacHeader = skb.Data;
    }
}

/// <summary>Ethernet's header_ops.</summary>
/// <remarks>Mirrors net/ethernet/eth.c: eth_header_ops.</remarks>
internal sealed class EthHeaderOps : HeaderOps
{
    public static readonly EthHeaderOps Instance = new();

    private EthHeaderOps() { }

    /// <remarks>Mirrors eth_type_trans().</remarks>
    public override bool TypeTrans(SkBuff skb, NetDevice dev) => Eth.EthTypeTrans(skb, dev);
}
