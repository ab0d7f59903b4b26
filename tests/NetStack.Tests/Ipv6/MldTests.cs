using System.Buffers.Binary;
using System.Net;
using NetStack.Core;
using NetStack.Ipv6;
using NetStack.Tests.Core;
using NetStack.Wire;
using static NetStack.Tests.Ipv6.Pkt6;

namespace NetStack.Tests.Ipv6;

/// <summary>MLDv2 with whole frames: state-change reports on join and leave, current-state reports answering queries, RFC 3810 6.2's input checks.</summary>
public class MldTests
{
    private static readonly UInt128 StackLl = NdiscTests.StackLl, PeerLl = NdiscTests.PeerLl, StackGlobal = NdiscTests.StackGlobal;
    private static readonly MacAddress Mac = OneStack.Mac, PeerMac = OneStack.PeerMac;
    private static readonly UInt128 AllMldv2Routers = Ipv6Address.Parse("ff02::16");
    private static readonly UInt128 SnLl = SolicitedNode(StackLl), SnGlobal = SolicitedNode(StackGlobal);
    private const byte IsEx = 2, ToIn = 3, ToEx = 4;

    /// <summary>MLD on, no DAD (the link-local address reports from itself at once), no RS.</summary>
    private static OneStack MldStack(bool keepFirst = false) => new(keepGratuitousArp: keepFirst, beforeUp: net =>
    {
        var s = net.Ipv6.Sysctl;
        s.LinuxAddrconfDefaults();
        s.AcceptDad = 0;
        s.RtrSolicits = 0;
    });

    /// <summary>The report we expect: hop-by-hop router alert, hop limit 1, to ff02::16, one record per group, no sources.</summary>
    private static byte[] Report(UInt128 src, params (byte Type, UInt128 Group)[] recs)
    {
        var body = new byte[20 * recs.Length];
        for (int i = 0; i < recs.Length; i++)
        {
            body[20 * i] = recs[i].Type;
            Ipv6Address.Write(body.AsSpan(20 * i + 4), recs[i].Group);
        }
        byte[] hbh = [58, 0, 5, 2, 0, 0, 1, 0];
        var icmp = Icmp6(src, AllMldv2Routers, 143, 0, (uint)recs.Length, body);
        return Frame(McMac(AllMldv2Routers), Mac, Ip6(src, AllMldv2Routers, 0, [.. hbh, .. icmp], hopLimit: 1));
    }

    /// <summary>An MLDv2 query from the peer router for <paramref name="group"/> (:: for a general query), max response <paramref name="mrcMs"/> ms.</summary>
    private static byte[] Query(UInt128 group, ushort mrcMs = 1000, byte hopLimit = 1, bool routerAlert = true, byte qrv = 2)
    {
        var dst = group == 0 ? Ipv6Address.AllNodes : group;
        var body = new byte[20];
        Ipv6Address.Write(body, group);
        body[16] = qrv;
        body[17] = 125;
        var icmp = Icmp6(PeerLl, dst, 130, 0, (uint)mrcMs << 16, body);
        byte[] hbh = routerAlert ? [58, 0, 5, 2, 0, 0, 1, 0] : [58, 0, 1, 4, 0, 0, 0, 0];
        return Frame(McMac(dst), PeerMac, Ip6(PeerLl, dst, 0, [.. hbh, .. icmp], hopLimit));
    }

    private static List<byte[]> Reports(OneStack s) => s.Dev.TakeSent().Where(f => f.Length > 14 + 48 && f[14 + 6] == 0 && f[14 + 48] == 143).ToList();

    [Fact]
    public void DeviceUp_ReportsItsSolicitedNodeGroup_ToExclude_RobustnessTimes_NotAllNodes()
    {
        using var s = MldStack(keepFirst: true);
        // ipv6_mc_dad_complete(): the link-local address is usable at once, so the first report goes out with it.
        Assert.Equal(Report(StackLl, (ToEx, SnLl)), Reports(s).Single());
        s.RunFor(3000);
        var more = Reports(s);
        Assert.All(more, r => Assert.Equal(Report(StackLl, (ToEx, SnLl)), r));
        // mld_ifc_event() (qrv 2) and the DAD-complete rounds (qrv 2, one sent above): three more.
        Assert.Equal(3, more.Count);
        Assert.Equal(4, s.Net.Ipv6.Icmp6Stats[Icmp6Mib.Icmp6OutMLDv2Reports]);
        Assert.Equal(4, s.Net.Ipv6.Icmp6Stats[Icmp6Mib.Icmp6OutMsgs]);
        s.RunFor(60_000);
        Assert.Empty(s.Dev.Sent); // unsolicited reports end
    }

    [Fact]
    public void AddressAdded_JoinReportedTwice_Deleted_LeaveReportedTwice()
    {
        using var s = MldStack();
        s.RunFor(3000);
        s.Dev.Sent.Clear();
        s.Net.AddIpv6Address(s.Dev, IPAddress.Parse("fd00::2"), 64);
        s.RunFor(10);
        Assert.Equal(Report(StackLl, (ToEx, SnGlobal)), Reports(s).Single());
        s.RunFor(1100);
        Assert.Equal(Report(StackLl, (ToEx, SnGlobal)), Reports(s).Single());
        s.RunFor(3000);
        Assert.Empty(s.Dev.Sent);

        lock (s.Net.SyncRoot) Assert.Equal(0, Addrconf.Inet6AddrDel(s.Net, s.Dev, StackGlobal, 64));
        Assert.False(s.Dev.DevMcMatch(McMac(SnGlobal)));
        s.RunFor(10);
        Assert.Equal(Report(StackLl, (ToIn, SnGlobal)), Reports(s).Single());
        s.RunFor(1100);
        Assert.Equal(Report(StackLl, (ToIn, SnGlobal)), Reports(s).Single());
        s.RunFor(3000);
        Assert.Empty(s.Dev.Sent);
        Assert.DoesNotContain(s.Net.Ipv6.Fib6.Routes, r => r.ToString().StartsWith("fd00::"));
    }

    [Fact]
    public void GeneralQuery_AnsweredWithinMaxResponseDelay_ByEveryReportedGroup()
    {
        using var s = MldStack();
        s.Net.AddIpv6Address(s.Dev, IPAddress.Parse("fd00::2"), 64);
        s.RunFor(5000);
        s.Dev.Sent.Clear();
        long before = s.Net.Ipv6.Icmp6Stats[Icmp6Mib.Icmp6OutMLDv2Reports];
        s.Receive(Query(0, mrcMs: 500));
        Assert.Equal(1, s.Net.Ipv6.Icmp6Stats[Icmp6Mib.Icmp6InGroupMembQueries]);
        Assert.Empty(s.Dev.Sent); // a random delay first
        s.RunFor(510);
        Assert.Equal(Report(StackLl, (IsEx, SnLl), (IsEx, SnGlobal)), Reports(s).Single());
        Assert.Equal(before + 1, s.Net.Ipv6.Icmp6Stats[Icmp6Mib.Icmp6OutMLDv2Reports]);
        s.RunFor(5000);
        Assert.Empty(s.Dev.Sent);
    }

    [Fact]
    public void GroupSpecificQuery_AnsweredForThatGroupOnly()
    {
        using var s = MldStack();
        s.Net.AddIpv6Address(s.Dev, IPAddress.Parse("fd00::2"), 64);
        s.RunFor(5000);
        s.Dev.Sent.Clear();
        s.Receive(Query(SnGlobal, mrcMs: 200));
        s.RunFor(210);
        Assert.Equal(Report(StackLl, (IsEx, SnGlobal)), Reports(s).Single());
        s.Receive(Query(SolicitedNode(Ipv6Address.Parse("fd00::99")), mrcMs: 200)); // not ours: nothing
        s.RunFor(1000);
        Assert.Empty(s.Dev.Sent);
    }

    [Theory]
    [InlineData(64, true)]   // hop limit must be 1
    [InlineData(1, false)]   // router alert required
    public void Query_FailingRfc3810Checks_IsDropped(byte hopLimit, bool routerAlert)
    {
        using var s = MldStack();
        s.RunFor(5000);
        s.Dev.Sent.Clear();
        s.Receive(Query(0, hopLimit: hopLimit, routerAlert: routerAlert));
        s.RunFor(2000);
        Assert.Empty(s.Dev.Sent);
    }

    [Fact]
    public void Query_FromANonLinkLocalSource_IsDropped()
    {
        using var s = MldStack();
        s.RunFor(5000);
        s.Dev.Sent.Clear();
        var frame = Query(0);
        var src = Ipv6Address.Parse("fd00::1");
        Ipv6Address.Write(frame.AsSpan(14 + 8), src);
        var icmp = frame.AsSpan(14 + 48);
        BinaryPrimitives.WriteUInt16BigEndian(icmp[2..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(icmp[2..], Checksum.TcpUdpV6(src, Ipv6Address.AllNodes, 58, icmp));
        s.Receive(frame);
        s.RunFor(2000);
        Assert.Empty(s.Dev.Sent);
    }

    [Fact]
    public void QueryRobustnessVariable_IsTaken_ForLaterStateChanges()
    {
        using var s = MldStack();
        s.RunFor(5000);
        s.Receive(Query(0, qrv: 3));
        s.RunFor(2000);
        s.Dev.Sent.Clear();
        s.Net.AddIpv6Address(s.Dev, IPAddress.Parse("fd00::2"), 64);
        s.RunFor(5000);
        Assert.Equal(3, Reports(s).Count);
    }

    [Fact]
    public void Mldv2Mrc_ExponentialAbove32767()
    {
        Assert.Equal(10_000, Mcast.Mldv2Mrc(10_000));
        Assert.Equal(32_767, Mcast.Mldv2Mrc(32_767));
        Assert.Equal(0x1000L << 3, Mcast.Mldv2Mrc(0x8000)); // exp 0, mant 0
        Assert.Equal((0x1fffL) << 10, Mcast.Mldv2Mrc(0xffff)); // exp 7, mant 0xfff
    }
}
