using NetStack.Core;
using NetStack.Wire;

namespace NetStack.Ipv4;

public static partial class AfInet
{
    /// <summary>Registers TCP's IP protocol handler.</summary>
    /// <remarks>Mirrors inet_init(): inet_add_protocol(&amp;tcp_protocol, IPPROTO_TCP).</remarks>
    static partial void InetInitTcp(NetNamespace net) => net.InetAddProtocol(TcpIpv4.TcpProtocol, IpProto.TCP);
}
