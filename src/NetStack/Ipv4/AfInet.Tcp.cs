using NetStack.Core;
using NetStack.Wire;

namespace NetStack.Ipv4;

public static partial class AfInet
{
    /// <summary>Registers TCP's IP protocol handler.</summary>
    /// <remarks>Mirrors inet_init(): inet_add_protocol(&amp;tcp_protocol, IPPROTO_TCP).</remarks>
    static partial void InetInitTcp(NetNamespace net)
    {
        net.InetAddProtocol(TcpIpv4.TcpProtocol, IpProto.TCP);
        // The constant rows of /proc/net/snmp's Tcp line, as tcp_snmp_seq_show() prints them:
        // RtoAlgorithm 1 (RFC 2012's "other": Van Jacobson's), RtoMin/RtoMax in ms, MaxConn -1 (no limit).
        var tcp = net.Mib.Tcp;
        tcp[TcpMib.RtoAlgorithm] = 1;
        tcp[TcpMib.RtoMin] = net.TcpSysctl.RtoMinMs;
        tcp[TcpMib.RtoMax] = net.TcpSysctl.RtoMaxMs;
        tcp[TcpMib.MaxConn] = -1;
    }
}
