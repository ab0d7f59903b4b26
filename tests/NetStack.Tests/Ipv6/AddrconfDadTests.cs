using System.Net;
using NetStack.Core;
using NetStack.Ipv6;
using NetStack.Tests.Core;
using NetStack.Wire;
using static NetStack.Tests.Ipv6.Pkt6;

namespace NetStack.Tests.Ipv6;

/// <summary>Duplicate address detection with whole frames: probes from ::, success after retrans_time, failure by NA and by another node's probe.</summary>
public class AddrconfDadTests
{
    private static readonly UInt128 StackLl = NdiscTests.StackLl, PeerLl = NdiscTests.PeerLl;
    private static readonly UInt128 StackGlobal = NdiscTests.StackGlobal, PeerGlobal = NdiscTests.PeerGlobal;
    private static readonly MacAddress Mac = OneStack.Mac, PeerMac = OneStack.PeerMac;

    /// <summary>Linux's DAD (dad_transmits 1) with short timers: probes within 4 ms of the address, retrans_time 100 ms; no RS, no MLD.</summary>
    internal static OneStack DadStack(int dadTransmits = 1) => new(beforeUp: net =>
    {
        var s = net.Ipv6.Sysctl;
        s.LinuxAddrconfDefaults();
        s.RtrSolicits = 0;
        s.MldReports = false;
        s.RtrSolicitDelayMs = 0;
        s.Neigh.RetransTimeMs = 100;
        s.DadTransmits = dadTransmits;
    });

    private static Inet6Ifaddr Ifa(OneStack s, UInt128 addr) => Addrconf.Ipv6GetIfaddr(Addrconf.In6DevGet(s.Net, s.Dev)!, addr)!;

    /// <summary>The DAD probe for <paramref name="target"/>: from ::, to its solicited-node group, hop limit 255, with the nonce option and no SLLAO.</summary>
    private static byte[] DadNs(MacAddress src, UInt128 target, ulong nonce)
    {
        var sn = SolicitedNode(target);
        var body = new byte[24];
        Ipv6Address.Write(body, target);
        body[16] = 14; // ND_OPT_NONCE
        body[17] = 1;
        for (int i = 0; i < 6; i++) body[18 + i] = (byte)(nonce >> (40 - 8 * i));
        if (nonce == 0) body = body[..16];
        return Frame(McMac(sn), src, Ip6(Ipv6Address.Any, sn, 58, Icmp6(Ipv6Address.Any, sn, 135, 0, 0, body), 255));
    }

    private static bool SourceFor(OneStack s, UInt128 daddr, out UInt128 saddr)
    {
        lock (s.Net.SyncRoot) return Addrconf.Ipv6DevGetSaddr(s.Net, s.Dev, daddr, out saddr);
    }

    [Fact]
    public void NewAddress_IsTentative_ProbedFromUnspecified_ThenValidAfterRetransTime()
    {
        using var s = DadStack();
        s.RunFor(500); // the link-local address's DAD
        Assert.Equal(IfaFlags.Permanent, Ifa(s, StackLl).Flags);
        s.Dev.Sent.Clear();

        s.Net.AddIpv6Address(s.Dev, IPAddress.Parse("fd00::2"), 64);
        var ifp = Ifa(s, StackGlobal);
        Assert.Equal(IfaFlags.Permanent | IfaFlags.Tentative, ifp.Flags);
        Assert.Equal("inet6 fd00::2/64 scope global tentative", ifp.ToString());
        Assert.True(s.Dev.DevMcMatch(McMac(SolicitedNode(StackGlobal)))); // joined before probing
        s.RunFor(5);
        Assert.NotEqual(0UL, ifp.DadNonce);
        Assert.Equal(DadNs(Mac, StackGlobal, ifp.DadNonce), Assert.Single(s.Dev.TakeSent()));
        Assert.Equal(IfaFlags.Permanent | IfaFlags.Tentative, ifp.Flags);
        // The end of DAD is retrans_time after the probe (sent within the 5 ms just run).
        long left = ifp.DadTimer.Expires - s.Clock.NowNs;
        Assert.InRange(left, Time.Ms(95), Time.Ms(100));
        s.RunFor(left / 1_000_000 - 1);
        Assert.True((ifp.Flags & IfaFlags.Tentative) != 0, "valid before retrans_time passed");
        s.RunFor(2);
        Assert.Equal(IfaFlags.Permanent, ifp.Flags);
        Assert.Empty(s.Dev.Sent);
        Assert.True(SourceFor(s, PeerGlobal, out var src));
        Assert.Equal(StackGlobal, src);
    }

    [Fact]
    public void TentativeAddress_IsNotASource_AndDoesNotAnswerSolicitations()
    {
        using var s = DadStack(dadTransmits: 3);
        s.RunFor(500);
        s.Net.AddIpv6Address(s.Dev, IPAddress.Parse("fd00::2"), 64);
        s.RunFor(5);
        s.Dev.Sent.Clear();
        // The only global address is tentative: a global destination gets the link-local source instead.
        Assert.True(SourceFor(s, PeerGlobal, out var src));
        Assert.Equal(StackLl, src);
        s.Receive(NdiscTests.McastNs(PeerLl, StackGlobal));
        Assert.Empty(s.Dev.Sent); // not a DAD probe: ignored while tentative (ndisc_recv_ns "goto out")
        Assert.Equal(IfaFlags.Permanent | IfaFlags.Tentative, Ifa(s, StackGlobal).Flags);
        s.RunFor(400); // three probes 100 ms apart, then valid
        s.Dev.Sent.Clear();
        s.Receive(NdiscTests.McastNs(PeerLl, StackGlobal));
        Assert.Equal(136, Assert.Single(s.Dev.TakeSent())[14 + 40]); // answered now
    }

    [Fact]
    public void AdvertisementOfTheTentativeAddress_FailsDad_LoggedAsLinux_AndTheAddressIsNeverUsed()
    {
        using var s = DadStack();
        s.RunFor(500);
        s.Net.AddIpv6Address(s.Dev, IPAddress.Parse("fd00::2"), 64);
        s.RunFor(5);
        s.Dev.Sent.Clear();
        var an = Ipv6Address.AllNodes;
        s.Receive(Frame(McMac(an), PeerMac, Ip6(StackGlobal, an, 58,
            Icmp6(StackGlobal, an, 136, 0, Icmpv6Header.NaOverride, NdBody(StackGlobal, 2, PeerMac)), 255)));
        var ifp = Ifa(s, StackGlobal);
        Assert.Equal(IfaFlags.Permanent | IfaFlags.Tentative | IfaFlags.Dadfailed, ifp.Flags);
        Assert.Equal("inet6 fd00::2/64 scope global dadfailed tentative", ifp.ToString());
        Assert.Contains("eth0: IPv6 duplicate address fd00::2 used by 02:00:00:00:00:0a detected!", s.Net.Log.Read().Last());
        s.RunFor(1000);
        Assert.True(SourceFor(s, PeerGlobal, out var src));
        Assert.Equal(StackLl, src);
        s.Dev.Sent.Clear();
        s.Receive(NdiscTests.McastNs(PeerLl, StackGlobal));
        s.Receive(DadNs(PeerMac, StackGlobal, 0));
        Assert.Empty(s.Dev.Sent);
        Assert.Equal(IfaFlags.Permanent | IfaFlags.Tentative | IfaFlags.Dadfailed, ifp.Flags);
    }

    [Fact]
    public void AnotherNodesProbe_ForTheTentativeAddress_FailsDad_OurOwnLoopedProbeDoesNot()
    {
        using var s = DadStack();
        s.RunFor(500);
        s.Net.AddIpv6Address(s.Dev, IPAddress.Parse("fd00::2"), 64);
        s.Net.AddIpv6Address(s.Dev, IPAddress.Parse("fd00::3"), 64);
        s.RunFor(5);
        var two = Ifa(s, StackGlobal);
        var three = Ifa(s, Ipv6Address.Parse("fd00::3"));
        // Our own probe back (same nonce): not a duplicate.
        s.Receive(DadNs(Mac, StackGlobal, two.DadNonce));
        Assert.Equal(IfaFlags.Permanent | IfaFlags.Tentative, two.Flags);
        // Another node probing fd00::3 at the same time (no nonce): both lose it.
        s.Receive(DadNs(PeerMac, three.Addr, 0));
        Assert.Equal(IfaFlags.Permanent | IfaFlags.Tentative | IfaFlags.Dadfailed, three.Flags);
        Assert.Contains("eth0: IPv6 duplicate address fd00::3 used by 02:00:00:00:00:0a detected!", s.Net.Log.Read().Last());
        s.RunFor(200);
        Assert.Equal(IfaFlags.Permanent, two.Flags);
        Assert.Equal(IfaFlags.Permanent | IfaFlags.Tentative | IfaFlags.Dadfailed, three.Flags);
    }

    [Fact]
    public void DadTransmitsZero_OrAcceptDadZero_AddressValidAtOnce_NothingSent()
    {
        using var s = DadStack(dadTransmits: 0);
        s.RunFor(10);
        Assert.Equal(IfaFlags.Permanent, Ifa(s, StackLl).Flags);
        Assert.Empty(s.Dev.Sent);
        s.Net.Sysctl.TrySet("net.ipv6.conf.default.accept_dad", "0");
        s.Net.Sysctl.TrySet("net.ipv6.conf.default.dad_transmits", "1");
        s.Net.AddIpv6Address(s.Dev, IPAddress.Parse("fd00::2"), 64);
        Assert.Equal(IfaFlags.Permanent, Ifa(s, StackGlobal).Flags);
        s.RunFor(500);
        Assert.Empty(s.Dev.Sent);
    }
}
