using System.Net;
using System.Net.NetworkInformation;
using NetStack.Api;
using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;
using NetStack.Tests.Ipv4;
using NetStack.Tests.Tcp;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.ControlPlane;

public class RoutingTests
{
    private static readonly IPAddress A = IPAddress.Parse("10.9.0.1"), B = IPAddress.Parse("10.9.0.2");

    private static int Errno(Action a) => Assert.Throws<NetStackException>(a).Errno;

    [Fact]
    public void RouteViaGateway_ToSecondAddressOfPeer_CarriesAConnect()
    {
        using var s = new TwoStacks();
        // B gets an address in another subnet; A reaches it only through B as gateway.
        NetStackConfig.AddAddress(s.B, "mem1", IPAddress.Parse("10.50.0.1"), 24);
        uint far = Ipv4Address.Parse("10.50.0.1");
        int fd = TcpTwoStackTests.Sock(s.A);
        Assert.Equal(-Uapi.Errno.ENETUNREACH, SocketCalls.Connect(s.A.Files, fd, SockAddr.In(far, 80)));
        NetStackConfig.AddRoute(s.A, IPAddress.Parse("10.50.0.0"), 24, gateway: B);
        var r = Assert.Single(NetStackInfo.GetRoutes(s.A), x => x.PrefixLength == 24 && x.Destination.Equals(IPAddress.Parse("10.50.0.0")));
        Assert.Equal(B, r.Gateway);
        Assert.Equal("mem0", r.Device);
        Assert.Equal("global", r.Scope);

        int lfd = TcpTwoStackTests.Sock(s.B);
        Assert.Equal(0, SocketCalls.Bind(s.B.Files, lfd, SockAddr.In(0, 80)));
        Assert.Equal(0, SocketCalls.Listen(s.B.Files, lfd, 4));
        int cfd = TcpTwoStackTests.Sock(s.A);
        Assert.Equal(-Uapi.Errno.EINPROGRESS, SocketCalls.Connect(s.A.Files, cfd, SockAddr.In(far, 80)));
        s.Pump();
        int afd = SocketCalls.Accept4(s.B.Files, lfd, out var peer, 0);
        Assert.True(afd >= 0, $"accept {afd}");
        Assert.Equal(TwoStacks.AddrA, peer.Addr);
        Assert.Equal(0, SocketCalls.Getsockname(s.B.Files, afd, out var local));
        Assert.Equal(far, local.Addr);
        // The frames went to the gateway's MAC: A resolved 10.9.0.2, never 10.50.0.1.
        var neigh = NetStackInfo.GetNeighbours(s.A);
        Assert.Contains(neigh, n => n.Address.Equals(B) && n.State == "REACHABLE");
        Assert.DoesNotContain(neigh, n => n.Address.Equals(IPAddress.Parse("10.50.0.1")));

        // Deleted, the route no longer carries new connections.
        NetStackConfig.DeleteRoute(s.A, IPAddress.Parse("10.50.0.0"), 24);
        Assert.Equal(-Uapi.Errno.ENETUNREACH, SocketCalls.Connect(s.A.Files, TcpTwoStackTests.Sock(s.A), SockAddr.In(far, 80)));
        Assert.Equal(Uapi.Errno.ESRCH, Errno(() => NetStackConfig.DeleteRoute(s.A, IPAddress.Parse("10.50.0.0"), 24)));
    }

    [Fact]
    public void Routes_SamePrefix_LowestMetricWins_AddReplaceDelete()
    {
        using var s = new TwoStacks();
        var net = IPAddress.Parse("172.16.0.0");
        var gw1 = IPAddress.Parse("10.9.0.7");
        var gw2 = IPAddress.Parse("10.9.0.8");
        NetStackConfig.AddRoute(s.A, net, 16, gw1, metric: 100);
        NetStackConfig.AddRoute(s.A, net, 16, gw2, metric: 50);
        Assert.Equal(Uapi.Errno.EEXIST, Errno(() => NetStackConfig.AddRoute(s.A, net, 16, gw2, metric: 50)));
        Assert.Equal(Uapi.Errno.EEXIST, Errno(() => NetStackConfig.AddRoute(s.A, net, 16, gw1, metric: 50)));
        Assert.Equal(Ipv4Address.Parse("10.9.0.8"), Gw(s.A, "172.16.3.4"));
        // A longer prefix beats any metric.
        NetStackConfig.AddRoute(s.A, IPAddress.Parse("172.16.3.0"), 24, gw1, metric: 1000);
        Assert.Equal(Ipv4Address.Parse("10.9.0.7"), Gw(s.A, "172.16.3.4"));
        Assert.Equal(Ipv4Address.Parse("10.9.0.8"), Gw(s.A, "172.16.4.4"));
        // replace changes the route of the same prefix and metric.
        NetStackConfig.ReplaceRoute(s.A, net, 16, gw1, metric: 50);
        Assert.Equal(Ipv4Address.Parse("10.9.0.7"), Gw(s.A, "172.16.4.4"));
        Assert.Equal(2, NetStackInfo.GetRoutes(s.A).Count(r => r.PrefixLength == 16));
        // del with a metric removes only that one; the other takes over.
        NetStackConfig.DeleteRoute(s.A, net, 16, metric: 50);
        var left = Assert.Single(NetStackInfo.GetRoutes(s.A), r => r.PrefixLength == 16);
        Assert.Equal(100, left.Metric);
        Assert.Equal(Uapi.Errno.ESRCH, Errno(() => NetStackConfig.DeleteRoute(s.A, net, 16, gateway: gw2)));
        // The order is the lookup order: longest prefix first, then metric.
        var routes = NetStackInfo.GetRoutes(s.A);
        Assert.Equal(routes.OrderByDescending(r => r.PrefixLength).ThenBy(r => r.Metric), routes);
    }

    [Fact]
    public void AddRoute_Errors_AsRtnetlinkAnswers()
    {
        using var s = new TwoStacks();
        var dst = IPAddress.Parse("192.168.5.0");
        Assert.Equal(Uapi.Errno.ENETUNREACH, Errno(() => NetStackConfig.AddRoute(s.A, dst, 24, IPAddress.Parse("192.168.99.1"))));
        Assert.Equal(Uapi.Errno.EINVAL, Errno(() => NetStackConfig.AddRoute(s.A, dst, 24, A)));              // our own address as gateway
        Assert.Equal(Uapi.Errno.EINVAL, Errno(() => NetStackConfig.AddRoute(s.A, IPAddress.Parse("192.168.5.1"), 24, B))); // host bits
        Assert.Equal(Uapi.Errno.EINVAL, Errno(() => NetStackConfig.AddRoute(s.A, dst, 24, B, preferredSource: IPAddress.Parse("10.9.0.99"))));
        Assert.Equal(Uapi.Errno.ENODEV, Errno(() => NetStackConfig.AddRoute(s.A, dst, 24, B, device: "nope0")));
        Assert.Equal(Uapi.Errno.ENODEV, Errno(() => NetStackConfig.AddRoute(s.A, dst, 24)));
        Assert.Equal(Uapi.Errno.EINVAL, Errno(() => NetStackConfig.AddRoute(s.A, dst, 33, B)));
        // A device route (no gateway) is scope link; the preferred source is honoured.
        NetStackConfig.AddRoute(s.A, dst, 24, device: "mem0", preferredSource: A, metric: 7);
        var r = Assert.Single(NetStackInfo.GetRoutes(s.A), x => x.Destination.Equals(dst));
        Assert.Equal(new RouteInfo(dst, 24, null, "mem0", A, 7, "boot", "link"), r);
    }

    [Fact]
    public void FlushRoutes_BySelector()
    {
        using var s = new TwoStacks();
        NetStackConfig.AddRoute(s.A, IPAddress.Parse("172.16.0.0"), 16, B);
        NetStackConfig.AddRoute(s.A, IPAddress.Parse("172.16.1.0"), 24, B);
        NetStackConfig.AddRoute(s.A, IPAddress.Parse("192.168.0.0"), 16, B);
        Assert.Equal(2, NetStackConfig.FlushRoutes(s.A, IPAddress.Parse("172.16.0.0"), 16));
        Assert.Single(NetStackInfo.GetRoutes(s.A), r => r.Gateway is not null);
        Assert.Equal(2, NetStackConfig.FlushRoutes(s.A, device: "mem0")); // the connected route and the gateway route
        Assert.Empty(NetStackInfo.GetRoutes(s.A));
        Assert.Equal(0, NetStackConfig.FlushRoutes(s.A));
    }

    private static uint Gw(NetNamespace net, string dst)
    {
        lock (net.SyncRoot)
        {
            Assert.Equal(0, Route.IpRouteOutput(net, Ipv4Address.Parse(dst), 0, out var rt));
            return rt.Gateway;
        }
    }

    [Fact]
    public void SecondAddress_AnswersArpAndPing_AndIsSecondary()
    {
        using var s = new TwoStacks();
        var extra = IPAddress.Parse("10.9.0.77");
        NetStackConfig.AddAddress(s.B, "mem1", extra, 24);
        Assert.Equal(Uapi.Errno.EEXIST, Errno(() => NetStackConfig.AddAddress(s.B, "mem1", extra, 24)));
        var ifs = NetStackInfo.GetInterfaces(s.B).Single(i => i.Name == "mem1");
        Assert.Equal(2, ifs.Addresses.Count);
        Assert.False(ifs.Addresses[0].Secondary);
        Assert.Equal(new InterfaceAddress(extra, 24, IPAddress.Parse("10.9.0.255"), true, "global"), ifs.Addresses[1]);
        Assert.Equal(B, ifs.Address); // the primary stays first
        // A secondary brings no second connected route.
        Assert.Single(NetStackInfo.GetRoutes(s.B), r => r.Protocol == "kernel");
        s.Pump();

        TwoStackPingTests.SendEcho(s.A, Ipv4Address.Parse("10.9.0.77"), 9, 1);
        s.Pump();
        Assert.Equal(1, s.A.Mib.Icmp[IcmpMib.InEchoReps]);
        var n = Assert.Single(NetStackInfo.GetNeighbours(s.A), x => x.Address.Equals(extra));
        Assert.Equal("REACHABLE", n.State);
        Assert.Equal(PhysicalAddress.Parse("02-00-00-00-00-0B"), n.LinkLayerAddress);

        // Removing the secondary keeps the primary and its route; it no longer answers.
        NetStackConfig.DeleteAddress(s.B, "mem1", extra, 24);
        Assert.Equal(Uapi.Errno.EADDRNOTAVAIL, Errno(() => NetStackConfig.DeleteAddress(s.B, "mem1", extra)));
        Assert.Single(NetStackInfo.GetInterfaces(s.B).Single(i => i.Name == "mem1").Addresses);
        Assert.Single(NetStackInfo.GetRoutes(s.B), r => r.Protocol == "kernel");
    }

    [Fact]
    public void PrimaryInNewSubnet_GetsConnectedRoute_AndSourceSelection()
    {
        using var s = new TwoStacks();
        NetStackConfig.AddAddress(s.A, "mem0", IPAddress.Parse("10.60.0.1"), 24);
        NetStackConfig.AddAddress(s.A, "mem0", IPAddress.Parse("10.60.0.9"), 24);
        var routes = NetStackInfo.GetRoutes(s.A).Where(r => r.Protocol == "kernel").ToList();
        Assert.Equal(2, routes.Count);
        Assert.Contains(new RouteInfo(IPAddress.Parse("10.60.0.0"), 24, null, "mem0", IPAddress.Parse("10.60.0.1"), 0, "kernel", "link"), routes);
        lock (s.A.SyncRoot)
        {
            Assert.Equal(0, Route.IpRouteOutput(s.A, Ipv4Address.Parse("10.60.0.5"), 0, out var rt));
            Assert.Equal(Ipv4Address.Parse("10.60.0.1"), rt.PrefSrc);
            Assert.Equal(0, Route.IpRouteOutput(s.A, TwoStacks.AddrB, 0, out rt));
            Assert.Equal(TwoStacks.AddrA, rt.PrefSrc);
        }
        // A default route via a gateway in the new subnet takes its source from that subnet (inet_select_addr).
        NetStackConfig.AddRoute(s.A, IPAddress.Any, 0, IPAddress.Parse("10.60.0.254"));
        lock (s.A.SyncRoot)
        {
            Assert.Equal(0, Route.IpRouteOutput(s.A, Ipv4Address.Parse("8.8.8.8"), 0, out var rt));
            Assert.Equal(Ipv4Address.Parse("10.60.0.1"), rt.PrefSrc);
        }
        // Deleting the primary takes its secondary, its connected route and the routes using it as source.
        NetStackConfig.DeleteAddress(s.A, "mem0", IPAddress.Parse("10.60.0.1"), 24);
        var mem0 = NetStackInfo.GetInterfaces(s.A).Single(i => i.Name == "mem0");
        Assert.Equal([A], mem0.Addresses.Select(a => a.Address));
        Assert.DoesNotContain(NetStackInfo.GetRoutes(s.A), r => r.Destination.Equals(IPAddress.Parse("10.60.0.0")));
        Assert.False(s.A.IsLocalAddress(Ipv4Address.Parse("10.60.0.9")));
    }

    [Fact]
    public void Neighbours_AddPermanent_Delete_Flush()
    {
        using var s = new TwoStacks();
        TwoStackPingTests.SendEcho(s.A, TwoStacks.AddrB, 1, 1);
        s.Pump();
        var mac = PhysicalAddress.Parse("02-11-22-33-44-55");
        var p = IPAddress.Parse("10.9.0.50");
        NetStackConfig.AddNeighbour(s.A, "mem0", p, mac);
        Assert.Equal(Uapi.Errno.EEXIST, Errno(() => NetStackConfig.AddNeighbour(s.A, "mem0", p, mac)));
        NetStackConfig.ReplaceNeighbour(s.A, "mem0", p, PhysicalAddress.Parse("02-11-22-33-44-66"));
        var list = NetStackInfo.GetNeighbours(s.A);
        var perm = Assert.Single(list, n => n.Address.Equals(p));
        Assert.Equal("PERMANENT", perm.State);
        Assert.Equal(PhysicalAddress.Parse("02-11-22-33-44-66"), perm.LinkLayerAddress);
        Assert.Equal("REACHABLE", Assert.Single(list, n => n.Address.Equals(B)).State);
        // Packets to a permanent entry go out at once, without ARP.
        TwoStackPingTests.SendEcho(s.A, Ipv4Address.Parse("10.9.0.50"), 1, 2);
        Assert.Equal("PERMANENT", NetStackInfo.GetNeighbours(s.A).Single(n => n.Address.Equals(p)).State);

        // Reachability ages: REACHABLE becomes STALE.
        s.RunFor(60_000);
        Assert.Equal("STALE", NetStackInfo.GetNeighbours(s.A).Single(n => n.Address.Equals(B)).State);

        Assert.Equal(1, NetStackConfig.FlushNeighbours(s.A));   // the learned one; the permanent one stays
        Assert.Single(NetStackInfo.GetNeighbours(s.A));
        NetStackConfig.DeleteNeighbour(s.A, "mem0", p);
        Assert.Empty(NetStackInfo.GetNeighbours(s.A));
        Assert.Equal(Uapi.Errno.ENOENT, Errno(() => NetStackConfig.DeleteNeighbour(s.A, "mem0", p)));
        Assert.Equal(Uapi.Errno.ENODEV, Errno(() => NetStackConfig.DeleteNeighbour(s.A, "eth9", p)));
    }

    [Fact]
    public void Neighbour_Incomplete_HasNoLladdr()
    {
        using var s = new TwoStacks();
        s.A.Ipv4.Sysctl.Neigh.GcThresh1 = 0; // below gc_thresh1 entries the periodic GC would keep it
        TwoStackPingTests.SendEcho(s.A, Ipv4Address.Parse("10.9.0.99"), 1, 1);
        var n = Assert.Single(NetStackInfo.GetNeighbours(s.A));
        Assert.Equal("INCOMPLETE", n.State);
        Assert.Null(n.LinkLayerAddress);
        s.RunFor(5_000);
        var f = Assert.Single(NetStackInfo.GetNeighbours(s.A));
        Assert.Equal("FAILED", f.State);
        Assert.Null(f.LinkLayerAddress);
        s.RunFor(20_000);
        Assert.Empty(NetStackInfo.GetNeighbours(s.A)); // collected, as neigh_periodic_work() does
    }

    [Fact]
    public void Interfaces_CarryStatistics_AndLinkAddress()
    {
        using var s = new TwoStacks();
        TwoStackPingTests.SendEcho(s.A, TwoStacks.AddrB, 1, 1);
        s.Pump();
        var mem0 = NetStackInfo.GetInterfaces(s.A).Single(i => i.Name == "mem0");
        Assert.Equal(PhysicalAddress.Parse("02-00-00-00-00-0A"), mem0.LinkLayerAddress);
        Assert.True(mem0.Statistics.TxPackets >= 2 && mem0.Statistics.RxPackets >= 2, mem0.Statistics.ToString());
        Assert.True(mem0.Statistics.TxBytes > 0 && mem0.Statistics.RxBytes > 0);
        var lo = NetStackInfo.GetInterfaces(s.A).Single(i => i.Name == "lo");
        Assert.True(lo.IsLoopback && lo.NoArp);
        Assert.Equal(new InterfaceAddress(IPAddress.Loopback, 8, null, false, "host"), Assert.Single(lo.Addresses));
    }

    [Fact]
    public void LinkDown_DropsRoutesAndNeighbours_Up_RestoresConnectedRoute()
    {
        using var s = new TwoStacks();
        TwoStackPingTests.SendEcho(s.A, TwoStacks.AddrB, 1, 1);
        s.Pump();
        NetStackConfig.AddRoute(s.A, IPAddress.Parse("172.16.0.0"), 16, B);
        NetStackConfig.AddNeighbour(s.A, "mem0", IPAddress.Parse("10.9.0.50"), PhysicalAddress.Parse("02-11-22-33-44-55"));
        NetStackConfig.SetLinkUp(s.A, "mem0", false);
        Assert.False(NetStackInfo.GetInterfaces(s.A).Single(i => i.Name == "mem0").IsUp);
        Assert.DoesNotContain(NetStackInfo.GetRoutes(s.A), r => r.Device == "mem0");
        Assert.Empty(NetStackInfo.GetNeighbours(s.A));
        Assert.Equal(A, NetStackInfo.GetInterfaces(s.A).Single(i => i.Name == "mem0").Address); // addresses stay
        Assert.Equal(-Uapi.Errno.ENETUNREACH, SocketCalls.Connect(s.A.Files, TcpTwoStackTests.Sock(s.A), SockAddr.In(TwoStacks.AddrB, 80)));
        Assert.Equal(Uapi.Errno.ENETDOWN, Errno(() => NetStackConfig.AddRoute(s.A, IPAddress.Parse("192.168.0.0"), 16, device: "mem0")));

        NetStackConfig.SetLinkUp(s.A, "mem0", true);
        var routes = NetStackInfo.GetRoutes(s.A);
        Assert.Equal(new RouteInfo(IPAddress.Parse("10.9.0.0"), 24, null, "mem0", A, 0, "kernel", "link"), Assert.Single(routes));
        s.Pump();
        TwoStackPingTests.SendEcho(s.A, TwoStacks.AddrB, 1, 2);
        s.Pump();
        Assert.Equal(2, s.A.Mib.Icmp[IcmpMib.InEchoReps]);
        Assert.Equal(Uapi.Errno.ENODEV, Errno(() => NetStackConfig.SetLinkUp(s.A, "nope", true)));
    }

    [Fact]
    public void GetRoute_AnswersAsIpRouteGet()
    {
        using var s = new TwoStacks();
        NetStackConfig.AddRoute(s.A, IPAddress.Parse("10.50.0.0"), 24, B);
        Assert.Equal(new RouteLookup(IPAddress.Parse("10.50.0.9"), "unicast", B, "mem0", A), NetStackInfo.GetRoute(s.A, IPAddress.Parse("10.50.0.9")));
        Assert.Equal(new RouteLookup(B, "unicast", null, "mem0", A), NetStackInfo.GetRoute(s.A, B));
        Assert.Equal(new RouteLookup(A, "local", null, "lo", A), NetStackInfo.GetRoute(s.A, A));
        Assert.Equal(Uapi.Errno.ENETUNREACH, Errno(() => NetStackInfo.GetRoute(s.A, IPAddress.Parse("8.8.8.8"))));
    }
}
