using NetStack.Core;
using NetStack.Wire;

namespace NetStack.Ipv4;

/// <summary>
/// The IPv4 family. <remarks>Mirrors net/ipv4/af_inet.c.</remarks>
/// </summary>
public static partial class AfInet
{
    /// <summary>Registers the link and network protocols, like inet_init() at boot.</summary>
    /// <remarks>Mirrors inet_init(): arp_init(), inet_add_protocol(&amp;icmp_protocol), dev_add_pack(&amp;ip_packet_type).</remarks>
    internal static void InetInit(NetNamespace net)
    {
        net.DevAddPack(new PacketType(EthP.ARP, Arp.Rcv, "arp_packet_type"));
        net.DevAddPack(new PacketType(EthP.IP, IpInput.Rcv, "ip_packet_type"));
        net.InetAddProtocol(new NetProtocol(Icmp.Rcv, Ping.PingErr), IpProto.ICMP); // icmp_protocol: .err_handler = icmp_err -> ping_err
        net.CreateLoopback();
        // Ip: Forwarding is 2 ("not forwarding", RFC 1213) on a host; DefaultTTL is the sysctl.
        net.Mib.Ip[IpMib.Forwarding] = net.Sysctl.IpForward ? 1 : 2;
        net.Mib.Ip[IpMib.DefaultTTL] = net.Sysctl.IpDefaultTtl;
        InetInitSockets(net);
    }

    /// <summary>Registers socket families and transport protocols (filled in by the socket layer).</summary>
    static partial void InetInitSockets(NetNamespace net);
}
