using NetStack.Core;
using NetStack.Net;

namespace NetStack.Ipv4;

/// <summary>udp_prot. <remarks>Mirrors net/ipv4/udp.c: struct proto udp_prot.</remarks></summary>
public sealed class UdpProt : Proto
{
    public static readonly UdpProt Instance = new();
    public override string Name => "UDP";
    public override Sock? CreateSock(NetNamespace net) => new InetSock();
    public override void Close(Sock sk, long timeout) => AfInet.SkCommonRelease(sk);
}

/// <summary>UDP. <remarks>Mirrors net/ipv4/udp.c.</remarks></summary>
public static class Udp
{
    internal static readonly NetProtocol UdpProtocol = new(static skb => { skb.Free(); return 0; });
    public static int UdpPoll(Socket sock) => Datagram.DatagramPoll(sock);
}

/// <summary>udp_table.</summary>
internal sealed class UdpTable { }
