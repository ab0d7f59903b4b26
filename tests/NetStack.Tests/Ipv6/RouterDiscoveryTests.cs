using System.Buffers.Binary;
using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Ipv6;
using NetStack.Tests.Core;
using NetStack.Wire;
using static NetStack.Tests.Ipv6.Pkt6;

namespace NetStack.Tests.Ipv6;

/// <summary>Router solicitation after DAD and router advertisements: default route, on-link prefix, SLAAC address through DAD, MTU, lifetimes, accept_ra.</summary>
public class RouterDiscoveryTests
{
    private static readonly UInt128 StackLl = NdiscTests.StackLl, PeerLl = NdiscTests.PeerLl;
    private static readonly MacAddress Mac = OneStack.Mac, PeerMac = OneStack.PeerMac;
    private static readonly UInt128 Prefix = Ipv6Address.Parse("fd00:5::");
    private static readonly UInt128 Slaac = Ipv6Address.Parse("fd00:5::ff:fe00:b"); // the prefix and the EUI-64 of 02:00:00:00:00:0b

    private static OneStack RaStack(Action<Ipv6Sysctl>? more = null) => new(beforeUp: net =>
    {
        var s = net.Ipv6.Sysctl;
        s.LinuxAddrconfDefaults();
        s.MldReports = false;
        s.RtrSolicitDelayMs = 0;
        s.Neigh.RetransTimeMs = 100;
        more?.Invoke(s);
    });

    /// <summary>An RA from the peer's link-local address to all-nodes: router lifetime, SLLAO, one prefix option, an MTU option.</summary>
    private static byte[] Ra(ushort routerLifetime = 1800, uint valid = 3600, uint preferred = 1800, byte pioFlags = 0xC0, uint mtu = 1400, byte prefixLen = 64,
        byte hopLimit = 64, uint reachableMs = 0, uint retransMs = 0)
    {
        var body = new byte[8 + 8 + 32 + 8]; // reachable + retrans, SLLAO, PIO, MTU
        BinaryPrimitives.WriteUInt32BigEndian(body, reachableMs);
        BinaryPrimitives.WriteUInt32BigEndian(body.AsSpan(4), retransMs);
        body[8] = 1; body[9] = 1; PeerMac.Write(body.AsSpan(10));
        var pio = body.AsSpan(16);
        pio[0] = 3; pio[1] = 4; pio[2] = prefixLen; pio[3] = pioFlags;
        BinaryPrimitives.WriteUInt32BigEndian(pio[4..], valid);
        BinaryPrimitives.WriteUInt32BigEndian(pio[8..], preferred);
        Ipv6Address.Write(pio[16..], Prefix);
        var m = body.AsSpan(48);
        m[0] = 5; m[1] = 1;
        BinaryPrimitives.WriteUInt32BigEndian(m[4..], mtu);
        var an = Ipv6Address.AllNodes;
        return Frame(McMac(an), PeerMac, Ip6(PeerLl, an, 58, Icmp6(PeerLl, an, 134, 0, (uint)hopLimit << 24 | routerLifetime, body), 255));
    }

    private static List<byte[]> Sent(OneStack s, byte icmpType) =>
        s.Dev.TakeSent().Where(f => f.Length > 14 + 40 && f[14 + 6] == 58 && f[14 + 40] == icmpType).ToList();

    private static string Routes(OneStack s) => s.Net.Ipv6.Fib6.Format();

    [Fact]
    public void AfterLinkLocalDad_RouterSolicitation_FromLinkLocalWithSllao_RepeatedUntilAnAdvertisement()
    {
        using var s = RaStack(c => c.RtrSolicitIntervalMs = 1000);
        s.RunFor(150); // DAD of the link-local address: a probe within 4 ms, valid 100 ms later, then an RS at once
        var ar = Ipv6Address.AllRouters;
        var sllao = new byte[8];
        sllao[0] = 1; sllao[1] = 1; Mac.Write(sllao.AsSpan(2));
        var rs = Frame(McMac(ar), Mac, Ip6(StackLl, ar, 58, Icmp6(StackLl, ar, 133, 0, 0, sllao), 255));
        Assert.Equal(rs, Assert.Single(Sent(s, 133)));
        s.RunFor(1200);
        Assert.Equal(rs, Assert.Single(Sent(s, 133))); // the interval (1 s ± 10 %)
        s.Receive(Ra());
        s.RunFor(100_000);
        Assert.Empty(Sent(s, 133));
        Assert.Equal(2, s.Net.Ipv6.Icmp6Stats[Icmp6Mib.Icmp6OutRouterSolicits]);
    }

    [Fact]
    public void Advertisement_GivesDefaultRoute_OnLinkPrefix_SlaacAddressThroughDad_AndMtu()
    {
        using var s = RaStack();
        s.RunFor(150);
        s.Receive(Ra(hopLimit: 70, reachableMs: 20_000, retransMs: 500));
        var routes = Routes(s);
        Assert.Contains("default via fe80::ff:fe00:a dev eth0 proto ra metric 1024 pref medium", routes);
        Assert.Contains("fd00:5::/64 dev eth0 proto kernel metric 256 pref medium", routes);
        var idev = Addrconf.In6DevGet(s.Net, s.Dev)!;
        var ifp = Addrconf.Ipv6GetIfaddr(idev, Slaac)!;
        Assert.Equal("inet6 fd00:5::ff:fe00:b/64 scope global dynamic tentative", ifp.ToString());
        Assert.Equal(1400, Addrconf.Ip6DevMtu(s.Net, s.Dev));
        var cnf = s.Net.Ipv6.Sysctl;
        Assert.Equal((70, 20_000, 60_000, 500), (cnf.HopLimit, cnf.Neigh.BaseReachableTimeMs, cnf.Neigh.GcStaleTimeMs, cnf.Neigh.RetransTimeMs));
        var router = s.Net.Ipv6.NdTbl.NeighLookup(PeerLl, s.Dev)!;
        Assert.Equal(PeerMac, router.HaAddr);
        Assert.Equal(NudState.Stale, router.NudState);
        // The SLAAC address is probed like any other, then used as the source towards the world.
        s.RunFor(5);
        Assert.Single(Sent(s, 135), f => Ipv6Address.Read(f.AsSpan(14 + 48)) == Slaac && Ipv6Address.Read(f.AsSpan(14 + 8)) == 0);
        s.RunFor(600); // retrans_time is the advertised 500 ms now
        Assert.Equal("inet6 fd00:5::ff:fe00:b/64 scope global dynamic", ifp.ToString());
        var world = Ipv6Address.Parse("2001:db8::1");
        lock (s.Net.SyncRoot)
        {
            Assert.True(Addrconf.Ipv6DevGetSaddr(s.Net, s.Dev, world, out var src));
            Assert.Equal(Slaac, src);
            Assert.Equal(PeerLl, Route6.Ip6RouteOutput(s.Net, world, null)!.Gateway);
        }
    }

    [Fact]
    public void Lifetimes_DefaultRouteExpires_AddressDeprecatedThenDeleted_WithItsPrefixRoute()
    {
        using var s = RaStack(c => c.RtrSolicits = 0);
        s.RunFor(150);
        s.Receive(Ra(routerLifetime: 600, valid: 7200 + 100, preferred: 900));
        s.RunFor(601_000);
        Assert.DoesNotContain("default", Routes(s));
        var ifp = Addrconf.Ipv6GetIfaddr(Addrconf.In6DevGet(s.Net, s.Dev)!, Slaac)!;
        Assert.Equal(IfaFlags.None, ifp.Flags);
        s.RunFor(300_000);
        Assert.Equal(IfaFlags.Deprecated, ifp.Flags);
        // RFC 4862 5.5.3 e: an advertisement cannot cut the remaining lifetime below two hours.
        s.Receive(Ra(routerLifetime: 0, valid: 10, preferred: 0));
        s.RunFor(60_000);
        Assert.NotNull(Addrconf.Ipv6GetIfaddr(Addrconf.In6DevGet(s.Net, s.Dev)!, Slaac));
        s.RunFor(7200_000);
        Assert.Null(Addrconf.Ipv6GetIfaddr(Addrconf.In6DevGet(s.Net, s.Dev)!, Slaac));
        Assert.DoesNotContain("fd00:5::", Routes(s));
    }

    [Theory]
    [InlineData("net.ipv6.conf.default.accept_ra", "0")]
    [InlineData("net.ipv6.conf.all.forwarding", "1")] // a router ignores advertisements unless accept_ra is 2
    public void Advertisement_Ignored_WhenNotAccepted(string sysctl, string value)
    {
        using var s = RaStack();
        s.RunFor(150);
        Assert.Equal(0, s.Net.Sysctl.TrySet(sysctl, value));
        s.Receive(Ra());
        s.RunFor(500);
        var routes = Routes(s);
        Assert.DoesNotContain("default", routes);
        Assert.DoesNotContain("fd00:5::", routes);
        Assert.Null(Addrconf.Ipv6GetIfaddr(Addrconf.In6DevGet(s.Net, s.Dev)!, Slaac));
        Assert.Equal(1500, Addrconf.Ip6DevMtu(s.Net, s.Dev));
        Assert.Equal(1, s.Net.Ipv6.Icmp6Stats[Icmp6Mib.Icmp6InRouterAdvertisements]);
    }

    [Fact]
    public void Advertisement_FromAGlobalSource_OrWithBadHopLimit_IsDropped()
    {
        using var s = RaStack();
        s.RunFor(150);
        var ra = Ra();
        ra[14 + 7] = 254; // hop limit
        s.Receive(ra);
        Assert.Equal(1, s.Net.Mib.Drops[SkbDropReason.Ipv6NdiscHopLimit]);
        Assert.DoesNotContain("default", Routes(s));
        Assert.Null(Addrconf.Ipv6GetIfaddr(Addrconf.In6DevGet(s.Net, s.Dev)!, Slaac));
    }

    [Fact]
    public void PrefixOption_NotAutonomous_OrNot64_GivesNoAddress()
    {
        using var s = RaStack();
        s.RunFor(150);
        s.Receive(Ra(pioFlags: 0x80)); // on-link only
        Assert.Contains("fd00:5::/64 dev eth0 proto kernel metric 256", Routes(s));
        Assert.Null(Addrconf.Ipv6GetIfaddr(Addrconf.In6DevGet(s.Net, s.Dev)!, Slaac));
        s.Receive(Ra(pioFlags: 0x40, prefixLen: 48));
        Assert.Equal(StackLl, Assert.Single(Addrconf.In6DevGet(s.Net, s.Dev)!.AddrList).Addr); // the link-local address only
        Assert.Contains("IPv6 addrconf: prefix with wrong length 48", s.Net.Log.Read().Last());
    }
}
