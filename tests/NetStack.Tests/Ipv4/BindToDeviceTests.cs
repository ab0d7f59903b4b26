using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Ipv4;

/// <summary>
/// SO_BINDTODEVICE and SO_BINDTOIFINDEX in route selection (ip_route_output_key_hash_rcu with
/// flowi4_oif = sk_bound_dev_if) and their option rules (sock_setbindtodevice,
/// sock_bindtoindex_locked). The router R of <see cref="ThreeStacks"/> has two devices: r1 toward A
/// (10.9.1.0/24) and r2 toward B (10.9.2.0/24), and no default route.
/// </summary>
public class BindToDeviceTests
{
    private static byte[] Name(string n) => System.Text.Encoding.ASCII.GetBytes(n + "\0");

    private static int Sock(NetNamespace net, int type, int proto = 0, FdTable? f = null)
    {
        int fd = SocketCalls.Socket(f ?? net.Files, AF_INET, type | SOCK_NONBLOCK, proto);
        Assert.True(fd >= 3, Errno.Name(fd));
        return fd;
    }

    [Fact]
    public void Route_WithOif_UsesOnlyThatDevice_AssumesOnLinkWithoutRoute()
    {
        using var s = new ThreeStacks();
        var r1 = s.R.DevGetByName("r1")!;
        var r2 = s.R.DevGetByName("r2")!;
        Assert.Equal(0, Route.IpRouteOutput(s.R, ThreeStacks.AddrB, 0, out var rt, oif: r2.IfIndex));
        Assert.Equal((r2, ThreeStacks.AddrR2, RtnType.Unicast), (rt.Dev, rt.PrefSrc, rt.Type));
        // No route to B through r1: the kernel takes B to be on r1's link, with r1's address.
        Assert.Equal(0, Route.IpRouteOutput(s.R, ThreeStacks.AddrB, 0, out rt, oif: r1.IfIndex));
        Assert.Equal((r1, ThreeStacks.AddrR1, RtnType.Unicast, 0u), (rt.Dev, rt.PrefSrc, rt.Type, rt.Gateway));
        Assert.Equal(-Errno.ENODEV, Route.IpRouteOutput(s.R, ThreeStacks.AddrB, 0, out _, oif: 99));
        // The device's own address through it is local; another device's address through lo too.
        Assert.Equal(0, Route.IpRouteOutput(s.R, ThreeStacks.AddrR2, 0, out rt, oif: r2.IfIndex));
        Assert.Equal(RtnType.Local, rt.Type);
        Assert.Equal(0, Route.IpRouteOutput(s.R, ThreeStacks.AddrR2, 0, out rt, oif: s.R.Loopback.IfIndex));
        Assert.Equal(RtnType.Local, rt.Type);
        lock (s.R.SyncRoot) s.R.DevChangeUp(r1, false);
        Assert.Equal(-Errno.ENETUNREACH, Route.IpRouteOutput(s.R, ThreeStacks.AddrA, 0, out _, oif: r1.IfIndex));
    }

    [Fact]
    public void Udp_BoundSocket_SendsThroughItsDevice_WithItsAddress()
    {
        using var s = new ThreeStacks();
        var f = s.R.Files;
        int b = Sock(s.B, SOCK_DGRAM);
        Assert.Equal(0, SocketCalls.Bind(s.B.Files, b, SockAddr.In(0u, 7000)));
        int u = Sock(s.R, SOCK_DGRAM);
        // Bound to r1, B (behind r2) is taken to be on r1's link: the datagram waits there for an
        // ARP answer that never comes, and leaves from r1's address.
        Assert.Equal(0, SocketCalls.Setsockopt(f, u, SOL_SOCKET, SO_BINDTODEVICE, Name("r1")));
        Assert.Equal(0, SocketCalls.Connect(f, u, SockAddr.In(ThreeStacks.AddrB, 7000)));
        Assert.Equal(0, SocketCalls.Getsockname(f, u, out var me));
        Assert.Equal(ThreeStacks.AddrR1, me.Addr);
        long r2Tx = s.Link2.A.Stats.TxPackets, r1Tx = s.Link1.B.Stats.TxPackets;
        Assert.Equal(1, SocketCalls.Send(f, u, "1"u8, 0));
        s.Pump();
        var buf = new byte[8];
        Assert.Equal(-Errno.EAGAIN, SocketCalls.Recvfrom(s.B.Files, b, buf, 0, out _));
        Assert.Equal(r2Tx, s.Link2.A.Stats.TxPackets); // nothing left on r2
        Assert.True(s.Link1.B.Stats.TxPackets > r1Tx); // the ARP request for B, on r1

        // An unconnected socket bound to r2 reaches B from r2's address.
        int v = Sock(s.R, SOCK_DGRAM);
        Assert.Equal(0, SocketCalls.Setsockopt(f, v, SOL_SOCKET, SO_BINDTODEVICE, Name("r2")));
        Assert.Equal(1, SocketCalls.Sendto(f, v, "2"u8, 0, SockAddr.In(ThreeStacks.AddrB, 7000)));
        s.Pump();
        Assert.Equal(1, SocketCalls.Recvfrom(s.B.Files, b, buf, 0, out var from));
        Assert.Equal((byte)'2', buf[0]);
        Assert.Equal(ThreeStacks.AddrR2, from.Addr);
        // Bound to r2, A (behind r1) is not reached.
        int a = Sock(s.A, SOCK_DGRAM);
        Assert.Equal(0, SocketCalls.Bind(s.A.Files, a, SockAddr.In(0u, 7001)));
        Assert.Equal(1, SocketCalls.Sendto(f, v, "3"u8, 0, SockAddr.In(ThreeStacks.AddrA, 7001)));
        s.Advance(5000);
        Assert.Equal(-Errno.EAGAIN, SocketCalls.Recvfrom(s.A.Files, a, buf, 0, out _));
        // Unbound again (an empty name), the route table decides.
        Assert.Equal(0, SocketCalls.Setsockopt(f, v, SOL_SOCKET, SO_BINDTODEVICE, ReadOnlySpan<byte>.Empty));
        Assert.Equal(1, SocketCalls.Sendto(f, v, "4"u8, 0, SockAddr.In(ThreeStacks.AddrA, 7001)));
        s.Pump();
        Assert.Equal(1, SocketCalls.Recvfrom(s.A.Files, a, buf, 0, out from));
        Assert.Equal(((byte)'4', ThreeStacks.AddrR1), (buf[0], from.Addr));
    }

    [Fact]
    public void Tcp_BoundSocket_ConnectsThroughItsDevice()
    {
        using var s = new ThreeStacks();
        int l = Sock(s.A, SOCK_STREAM);
        Assert.Equal(0, SocketCalls.Bind(s.A.Files, l, SockAddr.In(0u, 8000)));
        Assert.Equal(0, SocketCalls.Listen(s.A.Files, l, 8));
        var f = s.R.Files;
        // Bound to r2: the SYN goes out r2, from r2's address, and never reaches A.
        int c = Sock(s.R, SOCK_STREAM);
        Assert.Equal(0, SocketCalls.Setsockopt(f, c, SOL_SOCKET, SO_BINDTODEVICE, Name("r2")));
        Assert.Equal(-Errno.EINPROGRESS, SocketCalls.Connect(f, c, SockAddr.In(ThreeStacks.AddrA, 8000)));
        Assert.Equal(0, SocketCalls.Getsockname(f, c, out var me));
        Assert.Equal(ThreeStacks.AddrR2, me.Addr);
        s.Advance(2000);
        Assert.Equal(-Errno.EAGAIN, SocketCalls.Accept4(s.A.Files, l, out _, 0));
        // Bound to r1 it connects.
        int d = Sock(s.R, SOCK_STREAM);
        Assert.Equal(0, SocketCalls.Setsockopt(f, d, SOL_SOCKET, SO_BINDTOIFINDEX, s.R.DevGetByName("r1")!.IfIndex));
        Assert.Equal(-Errno.EINPROGRESS, SocketCalls.Connect(f, d, SockAddr.In(ThreeStacks.AddrA, 8000)));
        s.Pump();
        Assert.True(SocketCalls.Accept4(s.A.Files, l, out var peer, 0) >= 0);
        Assert.Equal(ThreeStacks.AddrR1, peer.Addr);
        // Bound to a device that is down: ENETUNREACH.
        int e = Sock(s.R, SOCK_STREAM);
        Assert.Equal(0, SocketCalls.Setsockopt(f, e, SOL_SOCKET, SO_BINDTODEVICE, Name("r2")));
        lock (s.R.SyncRoot) s.R.DevChangeUp(s.R.DevGetByName("r2")!, false);
        Assert.Equal(-Errno.ENETUNREACH, SocketCalls.Connect(f, e, SockAddr.In(ThreeStacks.AddrA, 8000)));
    }

    [Fact]
    public void PingAndRaw_BoundSocket_SendThroughTheirDevice()
    {
        using var s = new ThreeStacks();
        var f = s.R.Files;
        var echo = new byte[] { 8, 0, 0xF7, 0xFE, 0, 0, 0, 1 }; // with its checksum, for the raw socket
        foreach (var (type, proto) in new[] { (SOCK_DGRAM, IPPROTO_ICMP), (SOCK_RAW, IPPROTO_ICMP) })
        {
            int p = Sock(s.R, type, proto);
            Assert.Equal(0, SocketCalls.Setsockopt(f, p, SOL_SOCKET, SO_BINDTODEVICE, Name("r2")));
            Assert.Equal(echo.Length, SocketCalls.Sendto(f, p, echo, 0, SockAddr.In(ThreeStacks.AddrB, 0)));
            s.Pump();
            var buf = new byte[128];
            Assert.True(SocketCalls.Recvfrom(f, p, buf, 0, out var from) > 0, $"no echo reply on {type}");
            Assert.Equal(ThreeStacks.AddrB, from.Addr);
            // To A through r2: nothing arrives on A's link.
            long r1Tx = s.Link1.B.Stats.TxPackets;
            Assert.Equal(echo.Length, SocketCalls.Sendto(f, p, echo, 0, SockAddr.In(ThreeStacks.AddrA, 0)));
            s.Pump();
            Assert.Equal(r1Tx, s.Link1.B.Stats.TxPackets);
            Assert.Equal(0, SocketCalls.Close(f, p));
        }
    }

    [Fact]
    public void Option_Errors_Capability_AndValues()
    {
        using var s = new ThreeStacks();
        var user = new FdTable(s.R) { CapNetRaw = false };
        int u = Sock(s.R, SOCK_DGRAM, f: user);
        Assert.Equal(-Errno.ENODEV, SocketCalls.Setsockopt(user, u, SOL_SOCKET, SO_BINDTODEVICE, Name("nosuch")));
        // An unbound socket may be bound by anyone; changing or undoing a binding needs CAP_NET_RAW.
        Assert.Equal(0, SocketCalls.Setsockopt(user, u, SOL_SOCKET, SO_BINDTODEVICE, Name("r1")));
        Assert.Equal(-Errno.EPERM, SocketCalls.Setsockopt(user, u, SOL_SOCKET, SO_BINDTODEVICE, Name("r2")));
        Assert.Equal(-Errno.EPERM, SocketCalls.Setsockopt(user, u, SOL_SOCKET, SO_BINDTODEVICE, Name("")));
        Assert.Equal(-Errno.EPERM, SocketCalls.Setsockopt(user, u, SOL_SOCKET, SO_BINDTOIFINDEX, 0));
        var val = new byte[16];
        int len = 16;
        Assert.Equal(0, SocketCalls.Getsockopt(user, u, SOL_SOCKET, SO_BINDTODEVICE, val, ref len));
        Assert.Equal("r1\0", System.Text.Encoding.ASCII.GetString(val, 0, len));
        int r = Sock(s.R, SOCK_DGRAM);
        var f = s.R.Files;
        Assert.Equal(-Errno.EINVAL, SocketCalls.Setsockopt(f, r, SOL_SOCKET, SO_BINDTOIFINDEX, -1));
        Assert.Equal(0, SocketCalls.Setsockopt(f, r, SOL_SOCKET, SO_BINDTOIFINDEX, s.R.DevGetByName("r2")!.IfIndex));
        len = 4;
        Assert.Equal(0, SocketCalls.Getsockopt(f, r, SOL_SOCKET, SO_BINDTOIFINDEX, val, ref len));
        Assert.Equal(s.R.DevGetByName("r2")!.IfIndex, BitConverter.ToInt32(val, 0));
        // The name is cut at IFNAMSIZ - 1 bytes: "r2" followed by garbage past 15 is still unknown.
        Assert.Equal(-Errno.ENODEV, SocketCalls.Setsockopt(f, r, SOL_SOCKET, SO_BINDTODEVICE, System.Text.Encoding.ASCII.GetBytes("r2xxxxxxxxxxxxxxxx")));
    }
}
