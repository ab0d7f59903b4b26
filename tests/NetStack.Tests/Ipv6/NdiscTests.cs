using System.Net;
using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Ipv6;
using NetStack.Tests.Core;
using NetStack.Wire;
using static NetStack.Tests.Ipv6.Pkt6;

namespace NetStack.Tests.Ipv6;

/// <summary>Neighbour discovery with whole frames: NS answered by NA, NA resolving a waiting packet, and the addresses addrconf makes.</summary>
public class NdiscTests
{
    internal static readonly UInt128 StackLl = Ipv6Address.Parse("fe80::ff:fe00:b"); // EUI-64 of 02:00:00:00:00:0b
    internal static readonly UInt128 PeerLl = Ipv6Address.Parse("fe80::ff:fe00:a");
    internal static readonly UInt128 StackGlobal = Ipv6Address.Parse("fd00::2");
    internal static readonly UInt128 PeerGlobal = Ipv6Address.Parse("fd00::1");
    private static readonly MacAddress Mac = OneStack.Mac, PeerMac = OneStack.PeerMac;

    internal static OneStack NewStack()
    {
        var s = new OneStack();
        s.Net.AddIpv6Address(s.Dev, IPAddress.Parse("fd00::2"), 64);
        return s;
    }

    /// <summary>The peer's multicast NS for <paramref name="target"/> from <paramref name="src"/>, with its SLLAO.</summary>
    internal static byte[] McastNs(UInt128 src, UInt128 target, byte hopLimit = 255) =>
        Frame(McMac(SolicitedNode(target)), PeerMac, Ip6(src, SolicitedNode(target), 58,
            Icmp6(src, SolicitedNode(target), 135, 0, 0, NdBody(target, 1, PeerMac)), hopLimit));

    private static Neighbour? Peer(OneStack s, UInt128 addr) => s.Net.Ipv6.NdTbl.NeighLookup(addr, s.Dev);

    [Fact]
    public void DeviceUp_GetsEui64LinkLocal_JoinsAllNodesAndSolicitedNode_SendsNothing()
    {
        using var s = new OneStack(keepGratuitousArp: true);
        var idev = Addrconf.In6DevGet(s.Net, s.Dev)!;
        Assert.Equal([StackLl], idev.AddrList.Select(a => a.Addr));
        Assert.Equal("inet6 fe80::ff:fe00:b/64 scope link", idev.AddrList[0].ToString());
        Assert.True(s.Dev.DevMcMatch(MacAddress.Parse("33:33:00:00:00:01")));
        Assert.True(s.Dev.DevMcMatch(MacAddress.Parse("33:33:ff:00:00:0b")));
        Assert.False(s.Dev.DevMcMatch(MacAddress.Parse("33:33:ff:00:00:0a")));
        // No DAD, RS or MLD yet: the only frame on the wire is IPv4's gratuitous ARP.
        Assert.Equal(EthP.ARP, EthernetHeader.Create(Assert.Single(s.Dev.Sent)).EtherType);
        Assert.Contains(s.Net.Ipv6.Fib6.Routes, r => r.ToString() == "fe80::/64 dev eth0 proto kernel metric 256 pref medium");
    }

    [Fact]
    public void MulticastNs_ForOurLinkLocal_AnsweredBySolicitedOverrideNa_WithTargetLlAddr()
    {
        using var s = NewStack();
        s.Receive(McastNs(PeerLl, StackLl));
        var na = Assert.Single(s.Dev.TakeSent());
        var expected = Frame(PeerMac, Mac, Ip6(StackLl, PeerLl, 58,
            Icmp6(StackLl, PeerLl, 136, 0, Icmpv6Header.NaSolicited | Icmpv6Header.NaOverride, NdBody(StackLl, 2, Mac)), hopLimit: 255));
        Assert.Equal(expected, na);
        // The sender's entry was learned STALE from its SLLAO and went to DELAY when the NA used it.
        var n = Peer(s, PeerLl)!;
        Assert.Equal(PeerMac, n.HaAddr);
        Assert.Equal(NudState.Delay, n.NudState);
        Assert.Equal(1, s.Net.Ipv6.NdiscCache[NeighStat.RcvProbesMcast]);
        Assert.Equal(1, s.Net.Ipv6.Icmp6Stats[Icmp6Mib.Icmp6InNeighborSolicits]);
        Assert.Equal(1, s.Net.Ipv6.Icmp6Stats[Icmp6Mib.Icmp6OutNeighborAdvertisements]);
    }

    [Fact]
    public void UnicastNs_AnsweredWithoutTllaoOrOverride_AsLinux()
    {
        using var s = NewStack();
        var ns = Frame(Mac, PeerMac, Ip6(PeerGlobal, StackGlobal, 58, Icmp6(PeerGlobal, StackGlobal, 135, 0, 0, NdBody(StackGlobal, 1, PeerMac)), 255));
        s.Receive(ns);
        var expected = Frame(PeerMac, Mac, Ip6(StackGlobal, PeerGlobal, 58,
            Icmp6(StackGlobal, PeerGlobal, 136, 0, Icmpv6Header.NaSolicited, NdBody(StackGlobal)), hopLimit: 255));
        Assert.Equal(expected, Assert.Single(s.Dev.TakeSent()));
    }

    [Fact]
    public void DadNs_ForOurAddress_AnsweredToAllNodes()
    {
        using var s = NewStack();
        var dst = SolicitedNode(StackGlobal);
        s.Receive(Frame(McMac(dst), PeerMac, Ip6(Ipv6Address.Any, dst, 58, Icmp6(Ipv6Address.Any, dst, 135, 0, 0, NdBody(StackGlobal)), 255)));
        var allNodes = Ipv6Address.AllNodes;
        var expected = Frame(McMac(allNodes), Mac, Ip6(StackGlobal, allNodes, 58,
            Icmp6(StackGlobal, allNodes, 136, 0, Icmpv6Header.NaOverride, NdBody(StackGlobal, 2, Mac)), hopLimit: 255));
        Assert.Equal(expected, Assert.Single(s.Dev.TakeSent()));
        Assert.Null(Peer(s, Ipv6Address.Any)); // DAD teaches nothing
    }

    [Fact]
    public void Ns_ForAnotherAddress_OrWithBadHopLimit_IsDropped()
    {
        using var s = NewStack();
        s.Receive(McastNs(PeerLl, Ipv6Address.Parse("fe80::ff:fe00:c")));
        s.Dev.Sent.Clear(); // (a frame for another solicited-node group does not pass the MAC filter at all)
        var forOther = Ipv6Address.Parse("fd00::b"); // same solicited-node group as ...:b, not ours
        s.Receive(Frame(McMac(SolicitedNode(StackLl)), PeerMac, Ip6(PeerLl, SolicitedNode(StackLl), 58,
            Icmp6(PeerLl, SolicitedNode(StackLl), 135, 0, 0, NdBody(forOther, 1, PeerMac)), 255)));
        Assert.Equal(1, s.Net.Mib.Drops[SkbDropReason.Ipv6NdiscNsOtherhost]);
        s.Receive(McastNs(PeerLl, StackLl, hopLimit: 254));
        Assert.Equal(1, s.Net.Mib.Drops[SkbDropReason.Ipv6NdiscHopLimit]);
        Assert.Empty(s.Dev.Sent);
        Assert.Null(Peer(s, PeerLl));
    }

    [Fact]
    public void EchoToUnknownNeighbour_SolicitsFromTheWaitingSource_NaResolvesAndSendsTheReply()
    {
        using var s = NewStack();
        var data = Pkt.PingData();
        var req = Icmp6(PeerGlobal, StackGlobal, 128, 0, 0x1234_0001, data);
        s.Receive(Frame(Mac, PeerMac, Ip6(PeerGlobal, StackGlobal, 58, req)));
        // The reply waits; the stack asks for fd00::1 from the reply's source fd00::2, to its solicited-node group.
        var sn = SolicitedNode(PeerGlobal);
        var ns = Frame(McMac(sn), Mac, Ip6(StackGlobal, sn, 58, Icmp6(StackGlobal, sn, 135, 0, 0, NdBody(PeerGlobal, 1, Mac)), hopLimit: 255));
        Assert.Equal(ns, Assert.Single(s.Dev.TakeSent()));
        Assert.Equal(NudState.Incomplete, Peer(s, PeerGlobal)!.NudState);

        s.Receive(Frame(Mac, PeerMac, Ip6(PeerGlobal, StackGlobal, 58,
            Icmp6(PeerGlobal, StackGlobal, 136, 0, Icmpv6Header.NaSolicited | Icmpv6Header.NaOverride, NdBody(PeerGlobal, 2, PeerMac)), 255)));
        var reply = Frame(PeerMac, Mac, Ip6(StackGlobal, PeerGlobal, 58, Icmp6(StackGlobal, PeerGlobal, 129, 0, 0x1234_0001, data)));
        Assert.Equal(reply, Assert.Single(s.Dev.TakeSent()));
        var n = Peer(s, PeerGlobal)!;
        Assert.Equal(NudState.Reachable, n.NudState);
        Assert.Equal(PeerMac, n.HaAddr);
    }

    [Fact]
    public void UnsolicitedNa_WithoutOverride_DoesNotChangeAReachableEntrysAddress_ButMakesItStale()
    {
        using var s = NewStack();
        s.Receive(Frame(Mac, PeerMac, Ip6(PeerGlobal, StackGlobal, 58, Icmp6(PeerGlobal, StackGlobal, 128, 0, 1, []))));
        s.Receive(Frame(Mac, PeerMac, Ip6(PeerGlobal, StackGlobal, 58,
            Icmp6(PeerGlobal, StackGlobal, 136, 0, Icmpv6Header.NaSolicited | Icmpv6Header.NaOverride, NdBody(PeerGlobal, 2, PeerMac)), 255)));
        Assert.Equal(NudState.Reachable, Peer(s, PeerGlobal)!.NudState);
        var other = MacAddress.Parse("02:00:00:00:00:0c");
        s.Receive(Frame(Mac, other, Ip6(PeerGlobal, StackGlobal, 58,
            Icmp6(PeerGlobal, StackGlobal, 136, 0, 0, NdBody(PeerGlobal, 2, other)), 255)));
        var n = Peer(s, PeerGlobal)!;
        Assert.Equal(NudState.Stale, n.NudState); // weak override
        Assert.Equal(PeerMac, n.HaAddr);
        s.Receive(Frame(Mac, other, Ip6(PeerGlobal, StackGlobal, 58,
            Icmp6(PeerGlobal, StackGlobal, 136, 0, Icmpv6Header.NaOverride, NdBody(PeerGlobal, 2, other)), 255)));
        Assert.Equal(other, n.HaAddr);
    }

    [Fact]
    public void UnansweredSolicitations_FailTheEntry_AndReportAddressUnreachable()
    {
        using var s = NewStack();
        s.Receive(Frame(Mac, PeerMac, Ip6(PeerGlobal, StackGlobal, 58, Icmp6(PeerGlobal, StackGlobal, 128, 0, 1, []))));
        s.RunFor(3500);
        var sent = s.Dev.TakeSent();
        Assert.Equal(3, sent.Count(f => f[54] == 135)); // mcast_solicit = 3 NS, one a second
        Assert.Equal(NudState.Failed, Peer(s, PeerGlobal)!.NudState);
        Assert.Equal(1, s.Net.Ipv6.NdiscCache[NeighStat.ResFailed]);
    }

    [Fact]
    public void ArpTable_StillServesIpv4_WithItsOwnStats()
    {
        using var s = NewStack();
        s.LearnPeer();
        Assert.Equal(NudState.Stale, s.Net.Ipv4.Arp.NeighLookup(OneStack.PeerAddr, s.Dev)!.NudState);
        Assert.Equal(0, s.Net.Ipv6.NdTbl.Count);
        Assert.Equal("10.9.0.1 dev eth0 lladdr 02:00:00:00:00:0a STALE", s.Net.Ipv4.Arp.NeighLookup(OneStack.PeerAddr, s.Dev)!.ToString());
    }
}
