using System.Net;
using System.Net.Sockets;
using NetStack.Api;
using NetStack.Tests.Ipv4;
using NetStack.Tests.Tcp;

namespace NetStack.Tests.ControlPlane;

public class CountersTests
{
    [Fact]
    public void GetCounters_NstatNames_InProcOrder_WithValues()
    {
        using var s = new TwoStacks();
        TwoStackPingTests.SendEcho(s.A, TwoStacks.AddrB, 1, 1);
        s.Pump();
        TcpTwoStackTests.Connect(s);
        using (var u = new NetSocket(s.A, AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp))
        using (var r = new NetSocket(s.B, AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp))
        {
            r.Bind(new IPEndPoint(IPAddress.Any, 9000));
            u.SendTo("x"u8, new IPEndPoint(IPAddress.Parse("10.9.0.2"), 9000));
            s.Pump();
            Assert.Equal(1, r.Receive(new byte[10]));  // InDatagrams counts at recvmsg, as in Linux
        }

        var a = NetStackInfo.GetCounters(s.A);
        var b = NetStackInfo.GetCounters(s.B).ToDictionary();
        Assert.Equal(a.Count, a.Select(x => x.Key).Distinct().Count());
        Assert.Equal("IpForwarding", a[0].Key);
        Assert.Equal(2, a[0].Value);                    // not a router
        Assert.Equal(new KeyValuePair<string, long>("IpDefaultTTL", 64), a[1]);
        Assert.Equal(1, b["IcmpInEchos"]);
        Assert.Equal(1, b["IcmpMsgInType8"]);
        Assert.Equal(1, b["IcmpMsgOutType0"]);
        Assert.False(b.ContainsKey("IcmpMsgInType3")); // only the types seen
        Assert.Equal(1, b["TcpPassiveOpens"]);
        Assert.Equal(1, b["TcpCurrEstab"]);
        Assert.Equal(-1, b["TcpMaxConn"]);
        Assert.Equal(1, b["UdpInDatagrams"]);
        Assert.True(b["IpInReceives"] >= 4);
        Assert.True(b["IpExtInOctets"] > 0);
        Assert.True(b.ContainsKey("TcpExtTCPSackRecovery"));
        var ad = a.ToDictionary();
        Assert.Equal(1, ad["TcpActiveOpens"]);
        Assert.Equal(1, ad["UdpOutDatagrams"]);
        // /proc order: snmp's lines, then netstat's.
        var keys = a.Select(x => x.Key).ToList();
        int ip = keys.IndexOf("IpInReceives"), icmp = keys.IndexOf("IcmpInMsgs"), tcp = keys.IndexOf("TcpActiveOpens"),
            udp = keys.IndexOf("UdpInDatagrams"), ext = keys.IndexOf("TcpExtTCPSackRecovery"), ipext = keys.IndexOf("IpExtInOctets");
        Assert.True(ip < icmp && icmp < tcp && tcp < udp && udp < ext && ext < ipext);
    }

    [Fact]
    public void GetCounters_DefaultTtl_FollowsTheSysctl()
    {
        using var s = new TwoStacks();
        Assert.Equal(0, s.A.Sysctl.TrySet("net.ipv4.ip_default_ttl", "100"));
        Assert.Equal(100, NetStackInfo.GetCounters(s.A).ToDictionary()["IpDefaultTTL"]);
    }
}
