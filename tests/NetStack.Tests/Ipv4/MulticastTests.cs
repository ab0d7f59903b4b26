using System.Buffers.Binary;
using NetStack.Core;
using NetStack.Ethernet;
using NetStack.Ipv4;
using NetStack.Net;
using NetStack.Tests.Core;
using NetStack.Tests.Udp;
using NetStack.Wire;
using static NetStack.Tests.Core.OneStack;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Ipv4;

/// <summary>
/// IPv4 multicast as Linux does it: memberships (net/ipv4/igmp.c: ip_mc_join_group,
/// ip_mc_leave_group), IGMPv3/v2 reports on the wire (whole frames), group sends and their loopback
/// (net/ipv4/ip_output.c: ip_mc_output), the membership check on input (ip_check_mc_rcu,
/// __udp4_lib_mcast_deliver with ip_mc_sf_allow) and the broadcast loopback.
/// </summary>
public class MulticastTests
{
    private static readonly uint Group = Ipv4Address.Parse("239.1.2.3");
    private static readonly uint Other = Ipv4Address.Parse("239.9.9.9");

    /// <summary>struct ip_mreqn: group, interface address, ifindex.</summary>
    internal static byte[] Mreqn(uint group, uint address = 0, int ifindex = 0)
    {
        var b = new byte[12];
        BinaryPrimitives.WriteUInt32BigEndian(b, group);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(4), address);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(8), ifindex);
        return b;
    }

    private static int Join(NetNamespace net, int fd, uint group, uint address = 0, int ifindex = 0) =>
        SocketCalls.Setsockopt(net.Files, fd, SOL_IP, IP_ADD_MEMBERSHIP, Mreqn(group, address, ifindex));

    private static int Leave(NetNamespace net, int fd, uint group, uint address = 0, int ifindex = 0) =>
        SocketCalls.Setsockopt(net.Files, fd, SOL_IP, IP_DROP_MEMBERSHIP, Mreqn(group, address, ifindex));

    private static MacAddress McMac(uint group) => new(0x01005E000000UL | (group & 0x7FFFFF));

    /// <summary>
    /// The frame the kernel sends an IGMP message in: to the group's MAC, TOS 0xc0, ID 0, DF, TTL 1,
    /// protocol 2, the Router Alert option (94 04 00 00), from the device's address.
    /// </summary>
    private static byte[] IgmpFrame(uint dst, byte[] igmp)
    {
        BinaryPrimitives.WriteUInt16BigEndian(igmp.AsSpan(2), 0);
        BinaryPrimitives.WriteUInt16BigEndian(igmp.AsSpan(2), Checksum.Compute(igmp));
        var ip = new byte[24 + igmp.Length];
        ip[0] = 0x46;
        ip[1] = 0xC0;
        BinaryPrimitives.WriteUInt16BigEndian(ip.AsSpan(2), (ushort)ip.Length);
        ip[6] = 0x40; // DF, ID 0
        ip[8] = 1;
        ip[9] = 2;
        BinaryPrimitives.WriteUInt32BigEndian(ip.AsSpan(12), Addr);
        BinaryPrimitives.WriteUInt32BigEndian(ip.AsSpan(16), dst);
        ip[20] = 0x94;
        ip[21] = 4;
        BinaryPrimitives.WriteUInt16BigEndian(ip.AsSpan(10), Checksum.Compute(ip.AsSpan(0, 24)));
        igmp.CopyTo(ip, 24);
        return Pkt.Eth(McMac(dst), Mac, EthP.IP, ip);
    }

    /// <summary>An IGMPv3 report (type 0x22) with one record (no sources) per group.</summary>
    private static byte[] V3Report(params (byte Type, uint Group)[] recs)
    {
        var b = new byte[8 + 8 * recs.Length];
        b[0] = 0x22;
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(6), (ushort)recs.Length);
        for (int i = 0; i < recs.Length; i++)
        {
            b[8 + 8 * i] = recs[i].Type;
            BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(12 + 8 * i), recs[i].Group);
        }
        return IgmpFrame(Igmp.Igmpv3AllMcr, b);
    }

    /// <summary>An IGMPv1/v2 message of 8 bytes.</summary>
    private static byte[] Igmp8(byte type, byte code, uint group)
    {
        var b = new byte[8];
        b[0] = type;
        b[1] = code;
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(4), group);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(2), Checksum.Compute(b));
        return b;
    }

    /// <summary>An IGMPv3 query: Max Resp Code, group, QRV 2, QQIC 125, no sources.</summary>
    private static byte[] V3Query(byte mrc, uint group)
    {
        var b = new byte[12];
        b[0] = 0x11;
        b[1] = mrc;
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(4), group);
        b[8] = 2;
        b[9] = 125;
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(2), Checksum.Compute(b));
        return b;
    }

    /// <summary>A frame from the peer to a group (its MAC), IP protocol <paramref name="proto"/>.</summary>
    private static byte[] ToGroup(uint group, int proto, byte[] payload, uint? src = null) =>
        Pkt.Eth(McMac(group), PeerMac, EthP.IP, Pkt.Ip(src ?? PeerAddr, group, proto, payload, ttl: 1));

    /// <summary>A UDP datagram with its checksum.</summary>
    private static byte[] Udp(uint src, uint dst, ushort sport, ushort dport, byte[] data)
    {
        var b = new byte[8 + data.Length];
        BinaryPrimitives.WriteUInt16BigEndian(b, sport);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(2), dport);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(4), (ushort)b.Length);
        data.CopyTo(b, 8);
        ushort c = Checksum.TcpUdp(src, dst, IpProto.UDP, b);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(6), c == 0 ? (ushort)0xFFFF : c);
        return b;
    }

    private static string Recv(NetNamespace net, int fd, out SockAddr from)
    {
        var buf = new byte[2048];
        int n = SocketCalls.Recvfrom(net.Files, fd, buf, 0, out from);
        return n < 0 ? Errno.Name(n) : System.Text.Encoding.ASCII.GetString(buf, 0, n);
    }

    private static byte[] Bytes(string s) => System.Text.Encoding.ASCII.GetBytes(s);

    // ------------------------------------------------------------------ IGMP on the wire

    [Fact]
    public void Join_SendsTwoIgmpv3ChangeToExcludeReports_AndLeave_TwoChangeToInclude()
    {
        using var s = new OneStack();
        int fd = UdpTests.UdpSocket(s.Net);
        Assert.Equal(0, Join(s.Net, fd, Group, Addr));
        // igmp_ifc_event(): qrv = 2 rounds, the first at once, the next within a second; then nothing.
        s.RunFor(5000);
        var toEx = V3Report((Igmp.Igmpv3ChangeToExclude, Group));
        Assert.Equal([toEx, toEx], s.Dev.TakeSent());
        Assert.Equal(0, Leave(s.Net, fd, Group, Addr));
        s.RunFor(5000);
        var toIn = V3Report((Igmp.Igmpv3ChangeToInclude, Group));
        Assert.Equal([toIn, toIn], s.Dev.TakeSent());
    }

    [Fact]
    public void Close_LeavesTheGroups_ReportsThem_AndTheMacFilterForgetsThem()
    {
        using var s = new OneStack();
        int fd = UdpTests.UdpSocket(s.Net);
        Assert.Equal(0, Join(s.Net, fd, Group, ifindex: s.Dev.IfIndex));
        s.RunFor(5000);
        s.Dev.TakeSent();
        Assert.True(s.Dev.DevMcMatch(McMac(Group)));
        Assert.Equal(0, SocketCalls.Close(s.Net.Files, fd));
        Assert.False(s.Dev.DevMcMatch(McMac(Group)));
        Assert.True(s.Dev.DevMcMatch(McMac(Igmp.IgmpAllHosts))); // 224.0.0.1 stays: the device joined it
        s.RunFor(5000);
        var toIn = V3Report((Igmp.Igmpv3ChangeToInclude, Group));
        Assert.Equal([toIn, toIn], s.Dev.TakeSent());
    }

    [Fact]
    public void V3GeneralQuery_IsAnsweredByOneReportOfEveryGroup_ButNotOfAllHosts()
    {
        using var s = new OneStack();
        int fd = UdpTests.UdpSocket(s.Net);
        Assert.Equal(0, Join(s.Net, fd, Group, Addr));
        Assert.Equal(0, Join(s.Net, fd, Other, Addr));
        s.RunFor(5000);
        s.Dev.TakeSent();
        // Max Resp Code 100: within 10 s.
        s.Receive(ToGroup(Igmp.IgmpAllHosts, IpProto.IGMP, V3Query(100, 0)));
        s.RunFor(10_100);
        // Newest membership first, as the kernel's mc_list is.
        Assert.Equal([V3Report((Igmp.Igmpv3ModeIsExclude, Other), (Igmp.Igmpv3ModeIsExclude, Group))], s.Dev.TakeSent());
    }

    [Fact]
    public void V3Report_SplitsItsRecordsByTheMtu_183InA1500BytePacket()
    {
        using var s = new OneStack();
        for (int i = 0; i < 10; i++)
        {
            int fd = UdpTests.UdpSocket(s.Net);
            for (int j = 0; j < 20; j++) Assert.Equal(0, Join(s.Net, fd, Group + (uint)(i * 20 + j), Addr));
        }
        s.RunFor(5000);
        s.Dev.TakeSent();
        s.Receive(ToGroup(Igmp.IgmpAllHosts, IpProto.IGMP, V3Query(10, 0)));
        s.RunFor(1100);
        var sent = s.Dev.TakeSent();
        // (1500 - 24 - 8) / 8 = 183 group records fit the first packet (add_grec()'s AVAILABLE()), the rest the next.
        Assert.Equal([183, 17], sent.Select(f => (int)BinaryPrimitives.ReadUInt16BigEndian(Pkt.ParseIp(f).Payload.AsSpan(6))).ToArray());
        Assert.Equal([8 + 183 * 8, 8 + 17 * 8], sent.Select(f => Pkt.ParseIp(f).Payload.Length).ToArray());
    }

    [Fact]
    public void V3GroupQuery_IsAnsweredForThatGroupOnly()
    {
        using var s = new OneStack();
        int fd = UdpTests.UdpSocket(s.Net);
        Assert.Equal(0, Join(s.Net, fd, Group, Addr));
        Assert.Equal(0, Join(s.Net, fd, Other, Addr));
        s.RunFor(5000);
        s.Dev.TakeSent();
        s.Receive(ToGroup(Other, IpProto.IGMP, V3Query(10, Other)));
        s.RunFor(1100);
        Assert.Equal([V3Report((Igmp.Igmpv3ModeIsExclude, Other))], s.Dev.TakeSent());
    }

    [Fact]
    public void V2Query_SwitchesToV2Reports_ToTheGroup_AndTheLeaveGoesToAllRouters()
    {
        using var s = new OneStack();
        int fd = UdpTests.UdpSocket(s.Net);
        Assert.Equal(0, Join(s.Net, fd, Group, Addr));
        s.RunFor(5000);
        s.Dev.TakeSent();
        s.Receive(ToGroup(Igmp.IgmpAllHosts, IpProto.IGMP, Igmp8(0x11, 100, 0)));
        s.RunFor(10_100);
        Assert.Equal([IgmpFrame(Group, Igmp8(0x16, 0, Group))], s.Dev.TakeSent());
        // v2 compat mode: this host sent the last report, so it says it leaves (igmp_group_dropped()).
        Assert.Equal(0, Leave(s.Net, fd, Group, Addr));
        s.RunFor(5000);
        Assert.Equal([IgmpFrame(Igmp.IgmpAllRouter, Igmp8(0x17, 0, Group))], s.Dev.TakeSent());
    }

    [Fact]
    public void V1Query_IsAnsweredByAV1Report()
    {
        using var s = new OneStack();
        int fd = UdpTests.UdpSocket(s.Net);
        Assert.Equal(0, Join(s.Net, fd, Group, Addr));
        s.RunFor(5000);
        s.Dev.TakeSent();
        s.Receive(ToGroup(Igmp.IgmpAllHosts, IpProto.IGMP, Igmp8(0x11, 0, 0)));
        s.RunFor(10_100);
        Assert.Equal([IgmpFrame(Group, Igmp8(0x12, 0, Group))], s.Dev.TakeSent());
    }

    [Fact]
    public void QueryWithNoMembership_IsAnsweredByNothing()
    {
        using var s = new OneStack();
        s.Receive(ToGroup(Igmp.IgmpAllHosts, IpProto.IGMP, V3Query(10, 0)));
        s.Receive(ToGroup(Igmp.IgmpAllHosts, IpProto.IGMP, Igmp8(0x11, 10, 0)));
        s.RunFor(15_000);
        Assert.Empty(s.Dev.TakeSent());
        // 224.0.0.1 is joined by the device itself: the queries reached IGMP (InMcastPkts).
        Assert.Equal(2, s.Net.Mib.IpExt[IpExtMib.InMcastPkts]);
    }

    // ------------------------------------------------------------------ input

    [Fact]
    public void GroupDatagram_ReachesMembersAndMulticastAllSockets_NotOthers_AndAnUnjoinedGroupIsFiltered()
    {
        using var s = new OneStack();
        s.LearnPeer();
        int member = UdpTests.UdpSocket(s.Net), all = UdpTests.UdpSocket(s.Net), strict = UdpTests.UdpSocket(s.Net);
        foreach (int fd in new[] { member, all, strict })
        {
            Assert.Equal(0, SocketCalls.Setsockopt(s.Net.Files, fd, SOL_SOCKET, SO_REUSEADDR, 1));
            Assert.Equal(0, SocketCalls.Bind(s.Net.Files, fd, SockAddr.In(0, 5000)));
        }
        Assert.Equal(0, Join(s.Net, member, Group, Addr));
        Assert.Equal(0, SocketCalls.Setsockopt(s.Net.Files, strict, SOL_IP, IP_MULTICAST_ALL, 0));
        s.RunFor(5000);
        s.Dev.TakeSent();
        long inReceives = s.Net.Mib.Ip[IpMib.InReceives];
        s.Receive(ToGroup(Group, IpProto.UDP, Udp(PeerAddr, Group, 4000, 5000, Bytes("hello"))));
        Assert.Equal("hello", Recv(s.Net, member, out var from));
        Assert.Equal((PeerAddr, (ushort)4000), (from.Addr, from.Port));
        Assert.Equal("hello", Recv(s.Net, all, out _));
        Assert.Equal("EAGAIN", Recv(s.Net, strict, out _));
        Assert.Equal(1, s.Net.Mib.IpExt[IpExtMib.InMcastPkts]);
        Assert.Equal(20 + 8 + 5, s.Net.Mib.IpExt[IpExtMib.InMcastOctets]);
        // A group nobody joined: its MAC is not in the device's filter, IP never sees it.
        s.Receive(ToGroup(Other, IpProto.UDP, Udp(PeerAddr, Other, 4000, 5000, Bytes("nope"))));
        Assert.Equal("EAGAIN", Recv(s.Net, all, out _));
        Assert.Equal(inReceives + 1, s.Net.Mib.Ip[IpMib.InReceives]);
        Assert.Empty(s.Dev.TakeSent()); // no port unreachable about a group datagram
    }

    [Fact]
    public void GroupSendAndReceive_SteadyState_AllocatesZeroBytes()
    {
        using var s = new TwoStacks();
        int rx = UdpTests.Bound(s.B, 0, 6000), rx2 = UdpTests.Bound(s.B, 0, 6001);
        Assert.Equal(0, Join(s.B, rx, Group, TwoStacks.AddrB));
        Assert.Equal(0, Join(s.B, rx2, Group, TwoStacks.AddrB));
        int tx = UdpTests.Bound(s.A, 0, 5000), member = UdpTests.Bound(s.A, 0, 6000);
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, tx, SOL_IP, IP_MULTICAST_IF, Mreqn(0, TwoStacks.AddrA)));
        // A member on the sending host too: each send is also looped back (ip_mc_output()).
        Assert.Equal(0, Join(s.A, member, Group, TwoStacks.AddrA));
        s.RunFor(5000);
        var payload = new byte[256];
        var buf = new byte[2048];
        var dst = SockAddr.In(Group, 6000);
        void Round()
        {
            if (SocketCalls.Sendto(s.A.Files, tx, payload, 0, dst) != 256) throw new Exception("send");
            s.Pump();
            if (SocketCalls.Recv(s.B.Files, rx, buf, 0) != 256) throw new Exception("recv");
            if (SocketCalls.Recv(s.A.Files, member, buf, 0) != 256) throw new Exception("recv loop");
        }
        for (int i = 0; i < 2000; i++) Round();
        Assert.Equal(0, SteadyState.LeastAllocated(() => { for (int i = 0; i < 5000; i++) Round(); }));
        Assert.Equal(-Errno.EAGAIN, SocketCalls.Recv(s.B.Files, rx2, buf, 0)); // a member on another port gets nothing
    }

    // ------------------------------------------------------------------ output and loopback

    [Fact]
    public void GroupSend_LeavesByMulticastIf_ToTheGroupMac_WithMulticastTtl_NoArp()
    {
        using var s = new OneStack();
        int fd = UdpTests.Bound(s.Net, 0, 4000);
        // No route covers the group: without IP_MULTICAST_IF the send has nowhere to go.
        Assert.Equal(-Errno.ENETUNREACH, SocketCalls.Sendto(s.Net.Files, fd, Bytes("x"), 0, SockAddr.In(Group, 6000)));
        var ifAddr = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(ifAddr, Addr);
        Assert.Equal(0, SocketCalls.Setsockopt(s.Net.Files, fd, SOL_IP, IP_MULTICAST_IF, ifAddr));
        Assert.Equal(2, SocketCalls.Sendto(s.Net.Files, fd, Bytes("hi"), 0, SockAddr.In(Group, 6000)));
        s.Net.Poll();
        var frame = Assert.Single(s.Dev.TakeSent());
        var (eth, ip, payload) = Pkt.ParseIp(frame);
        Assert.Equal(new EthernetRepr(McMac(Group), Mac, EthP.IP), eth);
        Assert.Equal(new Ipv4Repr(Addr, Group, (byte)IpProto.UDP, 10, Ttl: 1, Tos: 0, Id: 0, DontFragment: true), ip);
        Assert.Equal(Udp(Addr, Group, 4000, 6000, Bytes("hi")), payload);
        Assert.Equal(0, SocketCalls.Setsockopt(s.Net.Files, fd, SOL_IP, IP_MULTICAST_TTL, 7));
        SocketCalls.Sendto(s.Net.Files, fd, Bytes("hi"), 0, SockAddr.In(Group, 6000));
        s.Net.Poll();
        Assert.Equal(7, Pkt.ParseIp(Assert.Single(s.Dev.TakeSent())).Ip.Ttl);
        Assert.Equal(2, s.Net.Mib.IpExt[IpExtMib.OutMcastPkts]);
    }

    [Fact]
    public void RawAndPingSends_ToAGroup_LeaveByMulticastIf_WithMulticastTtl()
    {
        using var s = new OneStack();
        var f = s.Net.Files;
        var echo = Pkt.EchoRequest(7, 1, Bytes("abc"));
        foreach (int fd in new[] { SocketCalls.Socket(f, AF_INET, SOCK_RAW, IPPROTO_ICMP), SocketCalls.Socket(f, AF_INET, SOCK_DGRAM, IPPROTO_ICMP) })
        {
            Assert.True(fd >= 0, Errno.Name(fd));
            Assert.Equal(-Errno.ENETUNREACH, SocketCalls.Sendto(f, fd, echo, 0, SockAddr.In(Group, 0)));
            Assert.Equal(0, SocketCalls.Setsockopt(f, fd, SOL_IP, IP_MULTICAST_IF, Mreqn(0, 0, s.Dev.IfIndex)));
            Assert.Equal(0, SocketCalls.Setsockopt(f, fd, SOL_IP, IP_MULTICAST_TTL, 3));
            Assert.Equal(echo.Length, SocketCalls.Sendto(f, fd, echo, 0, SockAddr.In(Group, 0)));
            s.Net.Poll();
            var (eth, ip, _) = Pkt.ParseIp(Assert.Single(s.Dev.TakeSent()));
            Assert.Equal((McMac(Group), Addr, Group, (byte)3), (eth.Destination, ip.Source, ip.Destination, ip.Ttl));
        }
    }

    [Fact]
    public void GroupSend_IsLoopedBackToLocalMembers_UnlessMulticastLoopIsOff()
    {
        using var s = new OneStack();
        int member = UdpTests.Bound(s.Net, 0, 6000);
        Assert.Equal(0, Join(s.Net, member, Group, ifindex: s.Dev.IfIndex));
        s.RunFor(5000);
        s.Dev.TakeSent();
        int sender = UdpTests.Bound(s.Net, 0, 4000);
        Assert.Equal(0, SocketCalls.Setsockopt(s.Net.Files, sender, SOL_IP, IP_MULTICAST_IF, Mreqn(0, 0, s.Dev.IfIndex)));
        Assert.Equal(4, SocketCalls.Sendto(s.Net.Files, sender, Bytes("loop"), 0, SockAddr.In(Group, 6000)));
        s.Net.Poll();
        Assert.Single(s.Dev.TakeSent());
        Assert.Equal("loop", Recv(s.Net, member, out var from));
        Assert.Equal((Addr, (ushort)4000), (from.Addr, from.Port));
        Assert.Equal(1, s.Net.Mib.IpExt[IpExtMib.InMcastPkts]);
        Assert.Equal(0, SocketCalls.Setsockopt(s.Net.Files, sender, SOL_IP, IP_MULTICAST_LOOP, 0));
        SocketCalls.Sendto(s.Net.Files, sender, Bytes("wire"), 0, SockAddr.In(Group, 6000));
        s.Net.Poll();
        Assert.Single(s.Dev.TakeSent());
        Assert.Equal("EAGAIN", Recv(s.Net, member, out _));
    }

    [Fact]
    public void Broadcast_IsAlsoDeliveredToThisHostsSocketsOnThatPort()
    {
        using var s = new OneStack();
        int rx = UdpTests.Bound(s.Net, 0, 7000);
        int tx = UdpTests.Bound(s.Net, Addr, 4000);
        Assert.Equal(-Errno.EACCES, SocketCalls.Sendto(s.Net.Files, tx, Bytes("b"), 0, SockAddr.In(SubnetBroadcast, 7000)));
        Assert.Equal(0, SocketCalls.Setsockopt(s.Net.Files, tx, SOL_SOCKET, SO_BROADCAST, 1));
        Assert.Equal(5, SocketCalls.Sendto(s.Net.Files, tx, Bytes("bcast"), 0, SockAddr.In(SubnetBroadcast, 7000)));
        Assert.Equal(5, SocketCalls.Sendto(s.Net.Files, tx, Bytes("limit"), 0, SockAddr.In(Ipv4Address.Broadcast, 7000)));
        s.Net.Poll();
        Assert.All(s.Dev.TakeSent(), f => Assert.Equal(MacAddress.Broadcast, Pkt.ParseIp(f).Eth.Destination));
        Assert.Equal("bcast", Recv(s.Net, rx, out var from));
        Assert.Equal((Addr, (ushort)4000), (from.Addr, from.Port));
        Assert.Equal("limit", Recv(s.Net, rx, out _));
        Assert.Equal(2, s.Net.Mib.IpExt[IpExtMib.InBcastPkts]);
        Assert.Equal(2, s.Net.Mib.IpExt[IpExtMib.OutBcastPkts]);
    }

    [Fact]
    public void IpMaddr_ShowsEachDevicesLinkFilterAndGroups_WithTheirUsers()
    {
        using var s = new OneStack();
        int a = UdpTests.UdpSocket(s.Net), b = UdpTests.UdpSocket(s.Net);
        Assert.Equal(0, Join(s.Net, a, Group, Addr));
        Assert.Equal(0, Join(s.Net, b, Group, ifindex: s.Dev.IfIndex));
        var ctx = new NetStack.Control.ControlContext(null!, s.Net, s.Net.Files, 0, default);
        var reply = NetStack.Control.IpOp.Run(ctx, new System.Text.Json.Nodes.JsonObject { ["args"] = new System.Text.Json.Nodes.JsonArray("maddr") });
        Assert.Equal(
            "1:\tlo\n\tinet  224.0.0.1\n\tinet6 ff02::1\n\tinet6 ff01::1\n" +
            "2:\teth0\n\tlink  01:00:5e:00:00:01\n\tlink  33:33:00:00:00:01\n\tlink  33:33:ff:00:00:0b\n\tlink  01:00:5e:01:02:03\n" +
            "\tinet  239.1.2.3 users 2\n\tinet  224.0.0.1\n\tinet6 ff02::1:ff00:b\n\tinet6 ff02::1\n\tinet6 ff01::1\n",
            (string)reply["output"]!);
    }

    // ------------------------------------------------------------------ socket options

    [Fact]
    public void Memberships_ErrnoAsLinux()
    {
        using var s = new OneStack();
        var f = s.Net.Files;
        int fd = UdpTests.UdpSocket(s.Net);
        Assert.Equal(-Errno.EINVAL, Join(s.Net, fd, Ipv4Address.Parse("10.1.2.3"), Addr));
        Assert.Equal(-Errno.EINVAL, SocketCalls.Setsockopt(f, fd, SOL_IP, IP_ADD_MEMBERSHIP, new byte[7]));
        Assert.Equal(-Errno.ENODEV, Join(s.Net, fd, Group, ifindex: 99));
        Assert.Equal(-Errno.ENODEV, Join(s.Net, fd, Group, Ipv4Address.Parse("10.77.0.1")));
        Assert.Equal(-Errno.ENODEV, Join(s.Net, fd, Group)); // no route to the group names a device
        Assert.Equal(0, Join(s.Net, fd, Group, Addr));
        Assert.Equal(-Errno.EADDRINUSE, Join(s.Net, fd, Group, ifindex: s.Dev.IfIndex));
        Assert.Equal(-Errno.ENODEV, Leave(s.Net, fd, Group)); // neither device, address nor route
        Assert.Equal(-Errno.EADDRNOTAVAIL, Leave(s.Net, fd, Other, Addr));
        Assert.Equal(0, Leave(s.Net, fd, Group, Addr));
        Assert.Equal(-Errno.EADDRNOTAVAIL, Leave(s.Net, fd, Group, Addr));
        // net.ipv4.igmp_max_memberships = 20 per socket.
        for (int i = 0; i < 20; i++) Assert.Equal(0, Join(s.Net, fd, Group + (uint)i, Addr));
        Assert.Equal(-Errno.ENOBUFS, Join(s.Net, fd, Other, Addr));
        int tcp = SocketCalls.Socket(f, AF_INET, SOCK_STREAM, 0);
        Assert.Equal(-Errno.EPROTO, Join(s.Net, tcp, Group, Addr));
    }

    [Fact]
    public void MulticastOptions_ValuesAndErrnoAsLinux()
    {
        using var s = new OneStack();
        var f = s.Net.Files;
        int fd = UdpTests.UdpSocket(s.Net);
        Assert.Equal(0, SocketCalls.Getsockopt(f, fd, SOL_IP, IP_MULTICAST_TTL, out int ttl));
        Assert.Equal(1, ttl);
        Assert.Equal(0, SocketCalls.Setsockopt(f, fd, SOL_IP, IP_MULTICAST_TTL, -1));
        Assert.Equal(0, SocketCalls.Getsockopt(f, fd, SOL_IP, IP_MULTICAST_TTL, out ttl));
        Assert.Equal(1, ttl);
        Assert.Equal(-Errno.EINVAL, SocketCalls.Setsockopt(f, fd, SOL_IP, IP_MULTICAST_TTL, 256));
        Assert.Equal(0, SocketCalls.Getsockopt(f, fd, SOL_IP, IP_MULTICAST_LOOP, out int loop));
        Assert.Equal(1, loop);
        Assert.Equal(0, SocketCalls.Getsockopt(f, fd, SOL_IP, IP_MULTICAST_ALL, out int all));
        Assert.Equal(1, all);
        Assert.Equal(-Errno.EINVAL, SocketCalls.Setsockopt(f, fd, SOL_IP, IP_MULTICAST_ALL, 2));
        // IP_MULTICAST_IF reads back the address (never the index).
        Assert.Equal(0, SocketCalls.Setsockopt(f, fd, SOL_IP, IP_MULTICAST_IF, Mreqn(0, Addr, 0)));
        var got = new byte[8];
        int len = 8;
        Assert.Equal(0, SocketCalls.Getsockopt(f, fd, SOL_IP, IP_MULTICAST_IF, got, ref len));
        Assert.Equal(4, len);
        Assert.Equal(Addr, BinaryPrimitives.ReadUInt32BigEndian(got));
        Assert.Equal(0, SocketCalls.Setsockopt(f, fd, SOL_IP, IP_MULTICAST_IF, Mreqn(0, 0, s.Dev.IfIndex)));
        len = 8;
        Assert.Equal(0, SocketCalls.Getsockopt(f, fd, SOL_IP, IP_MULTICAST_IF, got, ref len));
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32BigEndian(got));
        Assert.Equal(-Errno.EADDRNOTAVAIL, SocketCalls.Setsockopt(f, fd, SOL_IP, IP_MULTICAST_IF, Mreqn(0, 0, 99)));
        Assert.Equal(-Errno.EADDRNOTAVAIL, SocketCalls.Setsockopt(f, fd, SOL_IP, IP_MULTICAST_IF, Mreqn(0, Ipv4Address.Parse("10.77.0.1"), 0)));
        Assert.Equal(-Errno.EINVAL, SocketCalls.Setsockopt(f, fd, SOL_IP, IP_MULTICAST_IF, new byte[3]));
        int tcp = SocketCalls.Socket(f, AF_INET, SOCK_STREAM, 0);
        Assert.Equal(-Errno.EINVAL, SocketCalls.Setsockopt(f, tcp, SOL_IP, IP_MULTICAST_IF, Mreqn(0, Addr, 0)));
        Assert.Equal(-Errno.EINVAL, SocketCalls.Setsockopt(f, tcp, SOL_IP, IP_MULTICAST_TTL, 2));
    }
}
