using System.Text.Json.Nodes;
using NetStack.Cli;
using NetStack.Cli.Commands;
using NetStack.Control;
using NetStack.Net;
using NetStack.Ipv4;
using NetStack.Ipv6;
using NetStack.Tests.Core;

namespace NetStack.Tests.ControlPlane;

/// <summary>
/// IPv6 in the control plane (issue 11): `ip -6 addr|route|neigh` through the "ip" op, printed as
/// iproute2 prints the kernel's (lines taken from iproute2 6.1 on this machine's kernel: "    inet6
/// fd00:9::2/64 scope global nodad " then the lifetimes; "fd00:9::/64 dev d0 proto kernel metric 256
/// pref medium"); the URL, address and ss end-point parsing of the CLI tools.
/// </summary>
public sealed class Ipv6ControlTests
{
    private static string Ip(OneStack s, params string[] args)
    {
        var ctx = new ControlContext(null!, s.Net, s.Net.Files, 0, default);
        var a = new JsonArray();
        foreach (var w in args) a.Add(w);
        return (string)IpOp.Run(ctx, new JsonObject { ["args"] = a })["output"]!;
    }

    private static string Refused(OneStack s, params string[] args) => Assert.Throws<SocketShell.ShellException>(() => Ip(s, args)).Message;

    [Fact]
    public void Ip6Addr_ShowsInet6LinesAsIproute2_AddAndDel()
    {
        using var s = new OneStack();
        Assert.Equal("", Ip(s, "-6", "addr", "add", "fd00:9::2/64", "dev", "eth0"));
        Assert.Equal("", Ip(s, "-6", "addr", "add", "fd00:9::3/64", "dev", "eth0"));
        // The unit-test stacks run with accept_dad=0, so both are valid at once and carry no flag.
        // A family filter leaves out the link/ether line; global addresses before link-local, the newest first.
        Assert.Equal(
            "2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 state UP\n" +
            "    inet6 fd00:9::3/64 scope global \n       valid_lft forever preferred_lft forever\n" +
            "    inet6 fd00:9::2/64 scope global \n       valid_lft forever preferred_lft forever\n" +
            "    inet6 fe80::ff:fe00:b/64 scope link \n       valid_lft forever preferred_lft forever\n",
            Ip(s, "-6", "addr", "show", "dev", "eth0"));
        string all = Ip(s, "addr", "show", "eth0");
        Assert.Contains("    link/ether 02:00:00:00:00:0b brd ff:ff:ff:ff:ff:ff\n    inet 10.9.0.2/24 brd 10.9.0.255 scope global eth0\n    inet6 fd00:9::3/64", all);
        Assert.DoesNotContain("inet6", Ip(s, "-4", "addr"));
        Assert.Equal("Error: ipv6: address already assigned.", Refused(s, "-6", "addr", "add", "fd00:9::2/64", "dev", "eth0"));
        // The family comes from the address without -6, as with ip.
        Assert.Equal("", Ip(s, "addr", "del", "fd00:9::3/64", "dev", "eth0"));
        Assert.DoesNotContain("fd00:9::3", Ip(s, "-6", "addr"));
        Assert.Equal("Error: ipv6: address not found.", Refused(s, "-6", "addr", "del", "fd00:9::3/64", "dev", "eth0"));
        // Its prefix route stays while fd00:9::2 has the prefix; it goes with the last address of the prefix.
        Assert.Contains("fd00:9::/64 dev eth0 proto kernel metric 256 pref medium\n", Ip(s, "-6", "route"));
        Ip(s, "-6", "addr", "del", "fd00:9::2/64", "dev", "eth0");
        Assert.DoesNotContain("fd00:9::/64", Ip(s, "-6", "route"));
        Assert.Contains("\"fd00::1/129\"", Refused(s, "-6", "addr", "add", "fd00::1/129", "dev", "eth0"));
    }

    [Fact]
    public void Ip6Route_ShowAddDel_DefaultLast_ErrorsAsRtnetlink()
    {
        using var s = new OneStack();
        Ip(s, "-6", "addr", "add", "fd00:9::2/64", "dev", "eth0");
        Assert.Equal("", Ip(s, "-6", "route", "add", "fd00:77::/64", "via", "fd00:9::1"));
        Assert.Equal("", Ip(s, "route", "add", "default", "via", "fd00:9::1"));          // the gateway gives the family
        Assert.Equal("", Ip(s, "-6", "route", "add", "fd00:88::1/64", "dev", "eth0"));  // host bits are dropped, as IPv6 does
        Assert.Equal(
            "fd00:9::/64 dev eth0 proto kernel metric 256 pref medium\n" +
            "fd00:77::/64 via fd00:9::1 dev eth0 metric 1024 pref medium\n" +
            "fd00:88::/64 dev eth0 metric 1024 pref medium\n" +
            "fe80::/64 dev eth0 proto kernel metric 256 pref medium\n" +
            "default via fd00:9::1 dev eth0 metric 1024 pref medium\n",
            Ip(s, "-6", "route"));
        Assert.DoesNotContain("fd00", Ip(s, "route"));                                    // `ip route` is IPv4's table
        Assert.Equal("RTNETLINK answers: File exists", Refused(s, "-6", "route", "add", "fd00:77::/64", "via", "fd00:9::1"));
        Assert.Equal("RTNETLINK answers: No route to host", Refused(s, "-6", "route", "add", "fd00:99::/64", "via", "fd00:5::1"));
        Assert.Equal("RTNETLINK answers: No such device", Refused(s, "-6", "route", "add", "fd00:99::/64", "via", "fe80::1"));
        Assert.Equal("", Ip(s, "-6", "route", "add", "fd00:99::/64", "via", "fe80::1", "dev", "eth0"));
        Assert.Equal("", Ip(s, "-6", "route", "del", "fd00:77::/64"));
        Assert.Equal("RTNETLINK answers: No such process", Refused(s, "-6", "route", "del", "fd00:77::/64"));
        Assert.DoesNotContain("fd00:77::", Ip(s, "-6", "route"));
    }

    [Fact]
    public void Ip6RouteGet_PrintsTheKernelsLine_ConnectedViaLocalLinkLocal_UnreachableAsRtnetlink()
    {
        using var s = new OneStack();
        Ip(s, "-6", "addr", "add", "fd00:9::2/64", "dev", "eth0");
        Ip(s, "-6", "route", "add", "fd00:77::/64", "via", "fd00:9::1");
        // Lines as iproute2 6.1 prints Linux 6.x's answers (taken from the kernel in a namespace).
        Assert.Equal("fd00:9::1 from :: dev eth0 proto kernel src fd00:9::2 metric 256 pref medium\n", Ip(s, "-6", "route", "get", "fd00:9::1"));
        Assert.Equal("fd00:77::5 from :: via fd00:9::1 dev eth0 src fd00:9::2 metric 1024 pref medium\n", Ip(s, "route", "get", "fd00:77::5"));
        Assert.Equal("local fd00:9::2 from :: dev lo table local proto kernel src fd00:9::2 metric 0 pref medium\n", Ip(s, "-6", "route", "get", "fd00:9::2"));
        // A link-local destination takes the link-local source (RFC 6724 rule 2), through the oif given.
        Assert.Equal("fe80::1 from :: dev eth0 proto kernel src fe80::ff:fe00:b metric 256 pref medium\n", Ip(s, "-6", "route", "get", "fe80::1", "oif", "eth0"));
        Assert.Equal("multicast ff02::1 from :: dev eth0 table local proto kernel src fe80::ff:fe00:b metric 256 pref medium\n", Ip(s, "-6", "route", "get", "ff02::1", "oif", "eth0"));
        Assert.Equal("RTNETLINK answers: Network is unreachable", Refused(s, "-6", "route", "get", "2001:db8::1"));
        Assert.Equal("Cannot find device \"nosuch\"", Refused(s, "-6", "route", "get", "fd00:9::1", "dev", "nosuch"));
        // A default route makes every global destination reachable through it.
        Ip(s, "-6", "route", "add", "default", "via", "fd00:9::1", "metric", "7");
        Assert.Equal("2001:db8::1 from :: via fd00:9::1 dev eth0 src fd00:9::2 metric 7 pref medium\n", Ip(s, "-6", "route", "get", "2001:db8::1"));
    }

    [Fact]
    public void Ip6RouteReplaceAppend_AsFib6AddRt2node_MultipathPrintedWithNexthops()
    {
        using var s = new OneStack();
        Ip(s, "-6", "addr", "add", "fd00:9::2/64", "dev", "eth0");
        // replace of nothing adds (NLM_F_CREATE); replace of a gateway route takes its place.
        Assert.Equal("", Ip(s, "-6", "route", "replace", "fd00:77::/64", "via", "fd00:9::1"));
        Assert.Equal("", Ip(s, "-6", "route", "replace", "fd00:77::/64", "via", "fd00:9::3"));
        Assert.Equal("fd00:77::/64 via fd00:9::3 dev eth0 metric 1024 pref medium\n", Ip(s, "-6", "route", "show", "fd00:77::/64").Split('\n').Where(l => l.StartsWith("fd00:77::", StringComparison.Ordinal)).Single() + "\n");
        // append of a second gateway: one multipath route with two nexthops, printed as iproute2 prints it.
        Assert.Equal("", Ip(s, "-6", "route", "append", "fd00:77::/64", "via", "fd00:9::4"));
        Assert.Equal("RTNETLINK answers: File exists", Refused(s, "-6", "route", "append", "fd00:77::/64", "via", "fd00:9::4"));
        Assert.Equal("RTNETLINK answers: File exists", Refused(s, "-6", "route", "add", "fd00:77::/64", "via", "fd00:9::5"));
        string multipath = "fd00:77::/64 metric 1024 pref medium\n\tnexthop via fd00:9::3 dev eth0 weight 1 \n\tnexthop via fd00:9::4 dev eth0 weight 1 \n";
        Assert.Contains("fd00:9::/64 dev eth0 proto kernel metric 256 pref medium\n" + multipath + "fe80::/64", Ip(s, "-6", "route"));
        // The first nexthop carries the flows (Linux hashes them over the nexthops).
        Assert.StartsWith("fd00:77::1 from :: via fd00:9::3 dev eth0", Ip(s, "-6", "route", "get", "fd00:77::1"));
        // A route without a gateway is no sibling: appended, it is a route of its own after them.
        Assert.Equal("", Ip(s, "-6", "route", "append", "fd00:77::/64", "dev", "eth0"));
        Assert.Contains(multipath + "fd00:77::/64 dev eth0 metric 1024 pref medium\n", Ip(s, "-6", "route"));
        // Deleting one nexthop (via) leaves a plain route; replacing a multipath route replaces all its nexthops.
        Assert.Equal("", Ip(s, "-6", "route", "del", "fd00:77::/64", "via", "fd00:9::3"));
        Assert.Contains("fd00:77::/64 via fd00:9::4 dev eth0 metric 1024 pref medium\nfd00:77::/64 dev eth0 metric 1024 pref medium\n", Ip(s, "-6", "route"));
        Ip(s, "-6", "route", "append", "fd00:77::/64", "via", "fd00:9::5");
        Assert.Equal("", Ip(s, "-6", "route", "replace", "fd00:77::/64", "via", "fd00:9::6"));
        Assert.Contains("fd00:77::/64 via fd00:9::6 dev eth0 metric 1024 pref medium\nfd00:77::/64 dev eth0 metric 1024 pref medium\n", Ip(s, "-6", "route"));
        // A route of another metric is another route; replace without a gateway replaces the route without one.
        Assert.Equal("", Ip(s, "-6", "route", "replace", "fd00:77::/64", "dev", "eth0", "metric", "1024"));
        Assert.Equal(2, Ip(s, "-6", "route").Split('\n').Count(l => l.StartsWith("fd00:77::/64", StringComparison.Ordinal)));
        // del without a gateway takes a multipath route whole.
        Ip(s, "-6", "route", "append", "fd00:77::/64", "via", "fd00:9::7");
        Ip(s, "-6", "route", "del", "fd00:77::/64", "dev", "eth0", "via", "fd00:9::6");
        Ip(s, "-6", "route", "del", "fd00:77::/64", "dev", "eth0");
        Assert.Contains("fd00:77::/64 via fd00:9::7 dev eth0 metric 1024 pref medium\n", Ip(s, "-6", "route"));
        Ip(s, "-6", "route", "append", "fd00:77::/64", "via", "fd00:9::8");
        Assert.Equal("", Ip(s, "-6", "route", "del", "fd00:77::/64"));
        Assert.DoesNotContain("fd00:77::", Ip(s, "-6", "route"));
    }

    [Fact]
    public void Ip6RouteFlush_ExactPrefix_Dev_TableMain_SilentWhenNothing_RefusedWithoutArguments()
    {
        using var s = new OneStack();
        Ip(s, "-6", "addr", "add", "fd00:9::2/64", "dev", "eth0");
        Ip(s, "-6", "route", "add", "fd00:77::/64", "via", "fd00:9::1");
        Ip(s, "-6", "route", "add", "fd00:77::/48", "via", "fd00:9::1");
        Ip(s, "-6", "route", "add", "fd00:88::/64", "via", "fd00:9::1");
        Ip(s, "-6", "route", "append", "fd00:88::/64", "via", "fd00:9::3");
        Assert.Equal("\"ip route flush\" requires arguments.", Refused(s, "-6", "route", "flush"));
        Assert.Equal("Cannot find device \"nosuch\"", Refused(s, "-6", "route", "flush", "dev", "nosuch"));
        // The prefix matches exactly (iproute2's default): /48 stays.
        Assert.Equal("", Ip(s, "-6", "route", "flush", "fd00:77::/64"));
        Assert.Equal("", Ip(s, "-6", "route", "flush", "fd00:77::/64"));          // nothing left: still no error
        string routes = Ip(s, "-6", "route");
        Assert.DoesNotContain("fd00:77::/64", routes);
        Assert.Contains("fd00:77::/48 via fd00:9::1", routes);
        // dev: every route through eth0 (the connected ones too) but the multipath one, which has no device of its own in a dump.
        Assert.Equal("", Ip(s, "-6", "route", "flush", "dev", "eth0"));
        Assert.Equal("fd00:88::/64 metric 1024 pref medium\n\tnexthop via fd00:9::1 dev eth0 weight 1 \n\tnexthop via fd00:9::3 dev eth0 weight 1 \n", Ip(s, "-6", "route"));
        Assert.Equal("", Ip(s, "-6", "route", "flush", "table", "main"));
        Assert.Equal("", Ip(s, "-6", "route"));
        // The local table is not main's: the stack's own address still answers route get.
        Assert.StartsWith("local fd00:9::2 from :: dev lo table local", Ip(s, "-6", "route", "get", "fd00:9::2"));
        Assert.Equal("RTNETLINK answers: Network is unreachable", Refused(s, "-6", "route", "get", "fd00:9::1"));
    }

    [Fact]
    public void Ip6Neigh_AddShowDel_BothFamiliesWithoutAFilter()
    {
        using var s = new OneStack();
        Assert.Equal("", Ip(s, "-6", "neigh", "add", "fd00:9::9", "lladdr", "02:00:00:00:00:09", "dev", "eth0"));
        Assert.Equal("", Ip(s, "neigh", "add", "10.9.0.9", "lladdr", "02:00:00:00:00:09", "dev", "eth0"));
        Assert.Equal("fd00:9::9 dev eth0 lladdr 02:00:00:00:00:09 PERMANENT\n", Ip(s, "-6", "neigh"));
        Assert.Equal("10.9.0.9 dev eth0 lladdr 02:00:00:00:00:09 PERMANENT\nfd00:9::9 dev eth0 lladdr 02:00:00:00:00:09 PERMANENT\n", Ip(s, "neigh"));
        Assert.Equal("", Ip(s, "neigh", "del", "fd00:9::9", "dev", "eth0"));
        Assert.Equal("", Ip(s, "-6", "neigh"));
        Assert.Equal("RTNETLINK answers: No such file or directory", Refused(s, "-6", "neigh", "del", "fd00:9::9", "dev", "eth0"));
    }

    [Fact]
    public void NeighParms_OneClassForBothTables_SameSysctlNames_IndependentValues()
    {
        using var s = new OneStack();
        var t = s.Net.Sysctl;
        // neigh_sysctl_register() gives nd_tbl the same knobs as arp_tbl, each family its own values.
        foreach (var knob in new[] { "base_reachable_time_ms", "retrans_time_ms", "delay_first_probe_time", "gc_stale_time", "mcast_solicit",
                     "ucast_solicit", "unres_qlen", "unres_qlen_bytes", "gc_thresh1", "gc_thresh2", "gc_thresh3" })
        {
            Assert.True(t.TryGet($"net.ipv4.neigh.default.{knob}", out var v4), knob);
            Assert.True(t.TryGet($"net.ipv6.neigh.default.{knob}", out var v6), knob);
            Assert.Equal(v4, v6);
        }
        Assert.Equal(0, t.TrySet("net.ipv6.neigh.default.gc_thresh1", "7"));
        Assert.Equal(0, t.TrySet("net.ipv6.neigh.default.unres_qlen", "2"));
        Assert.Equal(7, s.Net.Ipv6.Sysctl.Neigh.GcThresh1);
        Assert.Equal(2 * NetStack.Ipv4.NeighParms.UnresQlenUnit, s.Net.Ipv6.Sysctl.Neigh.UnresQlenBytes);
        Assert.Equal(128, s.Net.Ipv4.Sysctl.Neigh.GcThresh1);
        Assert.Same(s.Net.Ipv6.Sysctl.Neigh, s.Net.Ipv6.NdTbl.Ops.Parms(s.Net));
        Assert.Same(s.Net.Ipv4.Sysctl.Neigh, s.Net.Ipv4.Arp.Ops.Parms(s.Net));
    }

    [Theory]
    [InlineData("http://[fd00::2]:8080/x", "[fd00::2]", 8080)]
    [InlineData("http://[::ffff:10.7.0.1]/", "[::ffff:10.7.0.1]", 80)]
    [InlineData("[fd00::2]/bytes/10", "[fd00::2]", 80)]
    public void GetUrl_IPv6InBrackets(string url, string host, int port)
    {
        var u = GetCommand.ParseUrl(url);
        Assert.Equal(host, u.Host);
        Assert.Equal(port, u.Port);
    }

    [Theory]
    [InlineData("http://[fd00::2/", "ends with ']'")]
    [InlineData("http://fd00::2:80/", "go in brackets")]
    [InlineData("http://[fd00::2%2]/", "bad host")]
    [InlineData("http://[10.0.0.1]/", "bad host")]
    [InlineData("http://[fd00::2]x/", "after ']'")]
    [InlineData("http://[fd00::2]:0/", "bad port")]
    public void GetUrl_BadIPv6_SaysWhy(string url, string message) =>
        Assert.Contains(message, Assert.Throws<FormatException>(() => GetCommand.ParseUrl(url)).Message);

    [Fact]
    public void OptIp_TakesEitherFamily_ZoneAsIndex_FamilyFlagsChecked()
    {
        Assert.Equal("fd00::1", Opt.Ip("fd00::1", "host", 0).ToString());
        Assert.Equal("fd00::1", Opt.Ip("[fd00::1]", "host", 6).ToString());
        Assert.Equal(2, Opt.Ip("fe80::1%2", "host", 0).ScopeId);
        Assert.Equal("10.7.0.1", Opt.Ip("10.7.0.1", "host", 0).ToString());
        Assert.Contains("-4", Assert.Throws<UsageException>(() => Opt.Ip("fd00::1", "host", 4)).Message);
        Assert.Contains("-6", Assert.Throws<UsageException>(() => Opt.Ip("10.7.0.1", "host", 6)).Message);
        Assert.Contains("interface's index", Assert.Throws<UsageException>(() => Opt.Ip("fe80::1%tap0", "host", 0)).Message);
    }

    [Fact]
    public void Iperf3Host_EitherFamily_ZoneByNameOrIndex_FamilyFlagsChecked()
    {
        Assert.Equal(("fd00::1", (string?)null), Str(Iperf3Command.Host("fd00::1", 6)));
        Assert.Equal(("fe80::1", "tap0"), Str(Iperf3Command.Host("fe80::1%tap0", 0)));
        Assert.Equal(2, Iperf3Command.Host("fe80::1%2", 6).Host.ScopeId);
        Assert.Equal(("10.7.0.1", (string?)null), Str(Iperf3Command.Host("10.7.0.1", 4)));
        Assert.Contains("-6", Assert.Throws<UsageException>(() => Iperf3Command.Host("10.7.0.1", 6)).Message);
        Assert.Contains("-4", Assert.Throws<UsageException>(() => Iperf3Command.Host("fd00::1", 4)).Message);
        Assert.Contains("link-local", Assert.Throws<UsageException>(() => Iperf3Command.Host("fd00::1%tap0", 0)).Message);
        static (string, string?) Str((System.Net.IPAddress Host, string? Zone) h) => (h.Host.ToString(), h.Zone);
    }

    [Theory]
    [InlineData("[::]:7", false, "*", "7")]          // a dual-stack wildcard takes IPv4 too: ss prints *
    [InlineData("[::]:7", true, "[::]", "7")]        // IPV6_V6ONLY: [::]
    [InlineData("[::]:*", false, "*", "*")]
    [InlineData("[::ffff:10.7.0.1]:5000", false, "[::ffff:10.7.0.1]", "5000")]
    [InlineData("[fd00::2]:0", false, "[fd00::2]", "*")]
    [InlineData("0.0.0.0:7", false, "0.0.0.0", "7")]
    public void SsAddr_AsInetAddrPrint(string ep, bool v6only, string host, string port) =>
        Assert.Equal((host, port), SsCommand.Addr(ep, v6only));
}
