using System.Net;
using NetStack.Core;
using NetStack.Ipv6;
using NetStack.Tests.Core;
using NetStack.Wire;
using static NetStack.Tests.Ipv6.Pkt6;

namespace NetStack.Tests.Ipv6;

/// <summary>
/// MLDv1 compatibility (RFC 3810 8, Linux mcast.c: mld_process_v1, mld_in_v1_mode, igmp6_send) with
/// whole frames: an MLDv1 query (24 bytes) turns the device to MLDv1 reports (type 131, to the
/// group) and Done messages (type 132, to ff02::2) for the Older Version Querier Present Timeout.
/// </summary>
public class Mldv1CompatTests
{
    private static readonly UInt128 StackLl = NdiscTests.StackLl, PeerLl = NdiscTests.PeerLl;
    private static readonly MacAddress Mac = OneStack.Mac, PeerMac = OneStack.PeerMac;
    private static readonly UInt128 AllMldv2Routers = Ipv6Address.Parse("ff02::16"), AllRouters = Ipv6Address.Parse("ff02::2");
    private static readonly UInt128 SnLl = SolicitedNode(StackLl);
    private static readonly byte[] RaHbh = [58, 0, 5, 2, 0, 0, 1, 0];
    private const byte V1Report = 131, V1Done = 132, ToEx = 4;

    private static OneStack MldStack() => new(beforeUp: net =>
    {
        var s = net.Ipv6.Sysctl;
        s.LinuxAddrconfDefaults();
        s.AcceptDad = 0;
        s.RtrSolicits = 0;
    });

    private static UInt128 Sn(string addr) => SolicitedNode(Ipv6Address.Parse(addr));

    /// <summary>An MLDv1 message as Linux's igmp6_send() builds it: router alert, hop limit 1, the group in the message, a report to the group and a Done to ff02::2.</summary>
    private static byte[] Mld1(byte type, UInt128 group)
    {
        var dst = type == V1Done ? AllRouters : group;
        var body = new byte[16];
        Ipv6Address.Write(body, group);
        return Frame(McMac(dst), Mac, Ip6(StackLl, dst, 0, [.. RaHbh, .. Icmp6(StackLl, dst, type, 0, 0, body)], hopLimit: 1));
    }

    /// <summary>An MLDv2 state-change report of one TO_EX{} record.</summary>
    private static byte[] Mld2ToEx(UInt128 group)
    {
        var body = new byte[20];
        body[0] = ToEx;
        Ipv6Address.Write(body.AsSpan(4), group);
        return Frame(McMac(AllMldv2Routers), Mac, Ip6(StackLl, AllMldv2Routers, 0, [.. RaHbh, .. Icmp6(StackLl, AllMldv2Routers, 143, 0, 1, body)], hopLimit: 1));
    }

    /// <summary>An MLDv1 query from the peer router (exactly 24 bytes): general for ::, else for <paramref name="group"/>.</summary>
    private static byte[] Query1(UInt128 group, ushort maxDelayMs = 1000)
    {
        var dst = group == 0 ? Ipv6Address.AllNodes : group;
        var body = new byte[16];
        Ipv6Address.Write(body, group);
        return Frame(McMac(dst), PeerMac, Ip6(PeerLl, dst, 0, [.. RaHbh, .. Icmp6(PeerLl, dst, 130, 0, (uint)maxDelayMs << 16, body)], hopLimit: 1));
    }

    /// <summary>An MLDv2 general query with the Querier's Query Interval Code <paramref name="qqic"/>.</summary>
    private static byte[] Query2(byte qqic, ushort mrcMs = 1000)
    {
        var body = new byte[20];
        body[16] = 2; // QRV
        body[17] = qqic;
        return Frame(McMac(Ipv6Address.AllNodes), PeerMac,
            Ip6(PeerLl, Ipv6Address.AllNodes, 0, [.. RaHbh, .. Icmp6(PeerLl, Ipv6Address.AllNodes, 130, 0, (uint)mrcMs << 16, body)], hopLimit: 1));
    }

    /// <summary>Another listener's MLDv1 report of <paramref name="group"/>.</summary>
    private static byte[] PeerReport(UInt128 group)
    {
        var body = new byte[16];
        Ipv6Address.Write(body, group);
        return Frame(McMac(group), PeerMac, Ip6(PeerLl, group, 0, [.. RaHbh, .. Icmp6(PeerLl, group, V1Report, 0, 0, body)], hopLimit: 1));
    }

    /// <summary>The MLD messages sent (hop-by-hop header, then ICMPv6 type 131, 132 or 143).</summary>
    private static List<byte[]> Mld(OneStack s) =>
        s.Dev.TakeSent().Where(f => f.Length > 14 + 48 && f[14 + 6] == 0 && f[14 + 48] is V1Report or V1Done or 143).ToList();

    /// <summary>A stack with fd00::2 (so two reported groups) that has answered everything of its start.</summary>
    private static OneStack Settled()
    {
        var s = MldStack();
        s.Net.AddIpv6Address(s.Dev, IPAddress.Parse("fd00::2"), 64);
        s.RunFor(5000);
        s.Dev.Sent.Clear();
        return s;
    }

    /// <summary>An MLDv1 query for the link-local address's group (so the frame is ours to receive): MLDv1 mode, and its report.</summary>
    private static void EnterV1(OneStack s)
    {
        s.Receive(Query1(SnLl, maxDelayMs: 100));
        s.RunFor(110);
        Assert.Equal(Mld1(V1Report, SnLl), Mld(s).Single());
    }

    [Fact]
    public void Mldv1GeneralQuery_IsAnsweredByAnMldv1ReportPerGroup_ToTheGroup()
    {
        using var s = Settled();
        var mib = s.Net.Ipv6.Icmp6Stats;
        long v2Before = mib[Icmp6Mib.Icmp6OutMLDv2Reports];
        s.Receive(Query1(0, maxDelayMs: 500));
        Assert.Equal(1, mib[Icmp6Mib.Icmp6InGroupMembQueries]);
        s.RunFor(510);
        var sent = Mld(s).Select(Convert.ToHexString).Order().ToList();
        Assert.Equal(new[] { Mld1(V1Report, SnLl), Mld1(V1Report, Sn("fd00::2")) }.Select(Convert.ToHexString).Order().ToList(), sent);
        Assert.Equal(2, mib[Icmp6Mib.Icmp6OutGroupMembResponses]);
        Assert.Equal(v2Before, mib[Icmp6Mib.Icmp6OutMLDv2Reports]);
        s.RunFor(20_000);
        Assert.Empty(Mld(s));
    }

    [Fact]
    public void Mldv1GroupQuery_IsAnsweredForThatGroupOnly()
    {
        using var s = Settled();
        s.Receive(Query1(Sn("fd00::2"), maxDelayMs: 200));
        s.RunFor(210);
        Assert.Equal(Mld1(V1Report, Sn("fd00::2")), Mld(s).Single());
    }

    [Fact]
    public void InMldv1Mode_AJoinSendsMldv1Reports_AndTheLeaveADone_NoMldv2StateChange()
    {
        using var s = Settled();
        EnterV1(s);

        s.Net.AddIpv6Address(s.Dev, IPAddress.Parse("fd00::3"), 64);
        Assert.Equal(Mld1(V1Report, Sn("fd00::3")), Mld(s).Single()); // igmp6_join_group(): at once
        s.RunFor(10_010); // and once more within mldv1_unsolicited_report_interval (10 s)
        Assert.Equal(Mld1(V1Report, Sn("fd00::3")), Mld(s).Single());

        lock (s.Net.SyncRoot) Assert.Equal(0, Addrconf.Inet6AddrDel(s.Net, s.Dev, Ipv6Address.Parse("fd00::3"), 64));
        Assert.Equal(Mld1(V1Done, Sn("fd00::3")), Mld(s).Single());
        s.RunFor(5000);
        Assert.Empty(Mld(s)); // no TO_IN{} rounds
        Assert.Equal(1, s.Net.Ipv6.Icmp6Stats[Icmp6Mib.Icmp6OutGroupMembReductions]);
    }

    [Fact]
    public void InMldv1Mode_AnotherListenersReport_LeavesTheDoneToIt()
    {
        using var s = Settled();
        EnterV1(s);
        s.Net.AddIpv6Address(s.Dev, IPAddress.Parse("fd00::3"), 64);
        Assert.Equal(Mld1(V1Report, Sn("fd00::3")), Mld(s).Single());
        s.Receive(PeerReport(Sn("fd00::3"))); // suppresses our repeat and makes the peer the last reporter
        s.RunFor(11_000);
        Assert.Empty(Mld(s));
        lock (s.Net.SyncRoot) Assert.Equal(0, Addrconf.Inet6AddrDel(s.Net, s.Dev, Ipv6Address.Parse("fd00::3"), 64));
        s.RunFor(5000);
        Assert.Empty(Mld(s));
    }

    [Theory]
    [InlineData((byte)0, 260_000)]  // no MLDv2 query: 2 x 125 s + 10 s (MLD_QI_DEFAULT, MLD_QRI_DEFAULT)
    [InlineData((byte)10, 21_000)]  // an MLDv2 querier said QQI 10 s, MRC 1 s: 2 x 10 s + 1 s
    public void Mldv1Mode_EndsAfterTheOlderVersionQuerierPresentTimeout(byte qqic, long timeoutMs)
    {
        using var s = Settled();
        if (qqic != 0)
        {
            s.Receive(Query2(qqic));
            s.RunFor(2000);
            s.Dev.Sent.Clear();
        }
        s.Receive(Query1(SnLl, maxDelayMs: 100)); // the timeout runs from here
        s.RunFor(timeoutMs - 1000);
        s.Dev.Sent.Clear();
        s.Net.AddIpv6Address(s.Dev, IPAddress.Parse("fd00::3"), 64);
        Assert.Equal(Mld1(V1Report, Sn("fd00::3")), Mld(s).Single()); // still MLDv1, a second before the end
        s.RunFor(11_000); // its repeat (within 10 s) goes too, whichever version
        s.Dev.Sent.Clear();
        s.Net.AddIpv6Address(s.Dev, IPAddress.Parse("fd00::4"), 64);
        s.RunFor(10);
        Assert.Equal(Mld2ToEx(Sn("fd00::4")), Mld(s).Single()); // MLDv2 again
    }

    [Fact]
    public void Mldv1Query_CancelsPendingMldv2StateChangeRounds()
    {
        using var s = Settled();
        s.Net.AddIpv6Address(s.Dev, IPAddress.Parse("fd00::3"), 64);
        s.RunFor(10);
        Assert.Equal(Mld2ToEx(Sn("fd00::3")), Mld(s).Single()); // the first of two rounds
        EnterV1(s);
        s.RunFor(5000);
        Assert.Empty(Mld(s)); // mld_ifc_stop_work(): the second round is not sent
    }

    [Fact]
    public void Mldv2Qqi_ExponentialFrom128()
    {
        Assert.Equal(125, Mcast.Mldv2Qqi(125));
        Assert.Equal(127, Mcast.Mldv2Qqi(127));
        Assert.Equal(0x10L << 3, Mcast.Mldv2Qqi(0x80)); // exp 0, mant 0
        Assert.Equal(0x1fL << 10, Mcast.Mldv2Qqi(0xff)); // exp 7, mant 0xf
    }
}
