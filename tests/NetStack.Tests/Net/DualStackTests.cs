using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Net;

/// <summary>
/// AF_INET6 sockets over the IPv4 path (dual stack, v4-mapped addresses) and the AF_INET6 address
/// checks: net/ipv6/af_inet6.c (inet6_bind, inet6_getname), tcp_ipv6.c (tcp_v6_connect's mapped
/// branch, tcp_v6_syn_recv_sock), datagram.c (__ip6_datagram_connect), udp.c (udpv6_sendmsg,
/// udpv6_recvmsg), inet_connection_sock.c (inet_rcv_saddr_equal across families).
/// </summary>
public class DualStackTests
{
    private static readonly UInt128 MappedA = Ipv6Address.V4Mapped(TwoStacks.AddrA);
    private static readonly UInt128 MappedB = Ipv6Address.V4Mapped(TwoStacks.AddrB);

    private static int Sock6(NetNamespace net, int type) => SocketCalls.Socket(net.Files, AF_INET6, type | SOCK_NONBLOCK, 0);
    private static int Sock4(NetNamespace net, int type) => SocketCalls.Socket(net.Files, AF_INET, type | SOCK_NONBLOCK, 0);

    [Fact]
    public void Bind_AddressChecks_InLinuxOrder()
    {
        using var s = new TwoStacks();
        var f = s.A.Files;
        int fd = Sock6(s.A, SOCK_STREAM);
        Assert.Equal(-Errno.EINVAL, SocketCalls.Bind(f, fd, SockAddr.In6(UInt128.Zero, 6400, len: 23)));          // < SIN6_LEN_RFC2133
        Assert.Equal(-Errno.EAFNOSUPPORT, SocketCalls.Bind(f, fd, new SockAddr(AF_INET, 0, 6400, 28)));              // sin6_family
        Assert.Equal(-Errno.EINVAL, SocketCalls.Bind(f, fd, SockAddr.In6("ff02::1", 6400)));                          // multicast on a stream socket
        Assert.Equal(-Errno.EINVAL, SocketCalls.Bind(f, fd, SockAddr.In6("fe80::1", 6400)));                          // link-local needs an interface
        Assert.Equal(-Errno.EADDRNOTAVAIL, SocketCalls.Bind(f, fd, SockAddr.In6("2001:db8::1", 6400)));               // not ours
        Assert.Equal(-Errno.EADDRNOTAVAIL, SocketCalls.Bind(f, fd, SockAddr.In6(Ipv6Address.V4Mapped(TwoStacks.AddrB), 6400))); // inet_bind's check
        Assert.Equal(0, SocketCalls.Bind(f, fd, SockAddr.In6(MappedA, 6400, len: Sin6LenRfc2133)));
        Assert.Equal(-Errno.EINVAL, SocketCalls.Bind(f, fd, SockAddr.In6(UInt128.Zero, 6401)));                       // bound already
        Assert.Equal(0, SocketCalls.Getsockname(f, fd, out var name));
        Assert.Equal((AF_INET6, MappedA, (ushort)6400, 0u, SockaddrIn6Size), (name.Family, name.Addr6, name.Port, name.ScopeId, name.Len));
        Assert.Equal(-Errno.ENOTCONN, SocketCalls.Getpeername(f, fd, out _));
        // V6ONLY only before the socket has a port.
        Assert.Equal(-Errno.EINVAL, SocketCalls.Setsockopt(f, fd, SOL_IPV6, IPV6_V6ONLY, 1));
    }

    [Fact]
    public void V6Only_RefusesMappedBind_AndIsSetByANativeBind()
    {
        using var s = new TwoStacks();
        var f = s.A.Files;
        int fd = Sock6(s.A, SOCK_DGRAM);
        Assert.Equal(0, SocketCalls.Setsockopt(f, fd, SOL_IPV6, IPV6_V6ONLY, 1));
        Assert.Equal(0, SocketCalls.Getsockopt(f, fd, SOL_IPV6, IPV6_V6ONLY, out int v));
        Assert.Equal(1, v);
        Assert.Equal(-Errno.EINVAL, SocketCalls.Bind(f, fd, SockAddr.In6(MappedA, 6402)));
        Assert.Equal(-Errno.EINVAL, SocketCalls.Setsockopt(f, fd, SOL_IPV6, IPV6_V6ONLY, new byte[2]));
        // A v6-only socket cannot reach an IPv4 peer.
        Assert.Equal(-Errno.ENETUNREACH, SocketCalls.Connect(f, fd, SockAddr.In6(MappedB, 7)));
        Assert.Equal(-Errno.EAFNOSUPPORT, SocketCalls.Connect(f, fd, SockAddr.In(TwoStacks.AddrB, 7)));
        Assert.Equal(-Errno.ENETUNREACH, SocketCalls.Sendto(f, fd, "x"u8, 0, SockAddr.In6(MappedB, 7)));
    }

    [Fact]
    public void NativeIpv6Destination_WithoutIpv6AddressesOrRoutes_AsLinux()
    {
        using var s = new TwoStacks();
        var f = s.A.Files;
        // A namespace with no address but ::1 (loopback only): no source to pick
        // (ipv6_dev_get_saddr), EADDRNOTAVAIL before the route is looked at.
        using var bare = new NetNamespace("bare", s.Clock);
        Assert.Equal(-Errno.EADDRNOTAVAIL, SocketCalls.Connect(bare.Files, Sock6(bare, SOCK_STREAM), SockAddr.In6("2001:db8::2", 80)));
        int bareUdp = Sock6(bare, SOCK_DGRAM);
        Assert.Equal(-Errno.EADDRNOTAVAIL, SocketCalls.Connect(bare.Files, bareUdp, SockAddr.In6("2001:db8::2", 53)));
        Assert.Equal(-Errno.EADDRNOTAVAIL, SocketCalls.Sendto(bare.Files, bareUdp, "x"u8, 0, SockAddr.In6("2001:db8::2", 53)));
        int tcp = Sock6(s.A, SOCK_STREAM);
        // With a device up there is its link-local address to pick: the null route answers, ENETUNREACH.
        Assert.Equal(-Errno.ENETUNREACH, SocketCalls.Connect(f, tcp, SockAddr.In6("2001:db8::2", 80)));
        Assert.Equal(-Errno.ENETUNREACH, SocketCalls.Connect(f, tcp, SockAddr.In6("ff02::1", 80)));  // multicast
        Assert.Equal(-Errno.EINVAL, SocketCalls.Connect(f, tcp, SockAddr.In6("fe80::2", 80)));       // link-local, no interface
        Assert.Equal(-Errno.EINVAL, SocketCalls.Connect(f, tcp, SockAddr.In6(Ipv6Address.Parse("2001:db8::2"), 80, len: 20)));
        // A sockaddr_in is too short for tcp_v6_connect before its family is looked at.
        Assert.Equal(-Errno.EINVAL, SocketCalls.Connect(f, tcp, SockAddr.In(TwoStacks.AddrB, 80)));
        Assert.Equal(-Errno.EAFNOSUPPORT, SocketCalls.Connect(f, tcp, new SockAddr(AF_INET, TwoStacks.AddrB, 80, SockaddrIn6Size)));
        Assert.Equal(-Errno.ENOTCONN, SocketCalls.Getpeername(f, tcp, out _));
        int udp = Sock6(s.A, SOCK_DGRAM);
        Assert.Equal(-Errno.ENETUNREACH, SocketCalls.Connect(f, udp, SockAddr.In6("2001:db8::2", 53)));
        Assert.Equal(-Errno.ENETUNREACH, SocketCalls.Sendto(f, udp, "x"u8, 0, SockAddr.In6("2001:db8::2", 53)));
        // With a source (a non-local bind under IP_FREEBIND), the null route answers: ENETUNREACH.
        int fb = Sock6(s.A, SOCK_DGRAM);
        Assert.Equal(0, SocketCalls.Setsockopt(f, fb, SOL_IP, IP_FREEBIND, 1));
        Assert.Equal(0, SocketCalls.Bind(f, fb, SockAddr.In6("2001:db8::5", 6408)));
        Assert.Equal(-Errno.ENETUNREACH, SocketCalls.Sendto(f, fb, "x"u8, 0, SockAddr.In6("2001:db8::2", 53)));
        Assert.Equal(-Errno.ENETUNREACH, SocketCalls.Connect(f, fb, SockAddr.In6("2001:db8::2", 53)));
        Assert.Equal(-Errno.EINVAL, SocketCalls.Sendto(f, udp, "x"u8, 0, SockAddr.In6(Ipv6Address.Parse("2001:db8::2"), 53, len: 20)));
        Assert.Equal(-Errno.EDESTADDRREQ, SocketCalls.Send(f, udp, "x"u8, 0));
    }

    [Fact]
    public void DualStackListener_AcceptsIpv4Client_PeerIsMapped()
    {
        using var s = new TwoStacks();
        int l = Sock6(s.A, SOCK_STREAM);
        Assert.Equal(0, SocketCalls.Bind(s.A.Files, l, SockAddr.In6(UInt128.Zero, 6403)));
        Assert.Equal(0, SocketCalls.Listen(s.A.Files, l, 8));
        int c = Sock4(s.B, SOCK_STREAM);
        Assert.Equal(-Errno.EINPROGRESS, SocketCalls.Connect(s.B.Files, c, SockAddr.In(TwoStacks.AddrA, 6403)));
        s.RunFor(50);
        int a = SocketCalls.Accept(s.A.Files, l, out var peer);
        Assert.True(a >= 3, $"accept: {a}");
        Assert.Equal(0, SocketCalls.Getsockname(s.B.Files, c, out var cname));
        Assert.Equal((AF_INET6, MappedB, cname.Port), (peer.Family, peer.Addr6, peer.Port));
        Assert.Equal(0, SocketCalls.Getpeername(s.A.Files, a, out var p2));
        Assert.Equal((MappedB, cname.Port), (p2.Addr6, p2.Port));
        Assert.Equal(0, SocketCalls.Getsockname(s.A.Files, a, out var local));
        Assert.Equal((MappedA, (ushort)6403), (local.Addr6, local.Port));
        // Data both ways.
        Assert.Equal(5, SocketCalls.Send(s.B.Files, c, "hello"u8, 0));
        s.RunFor(50);
        var buf = new byte[16];
        Assert.Equal(5, SocketCalls.Recv(s.A.Files, a, buf, 0));
        Assert.Equal("hello"u8.ToArray(), buf[..5]);
        Assert.Equal(3, SocketCalls.Send(s.A.Files, a, "ack"u8, 0));
        s.RunFor(50);
        Assert.Equal(3, SocketCalls.Recv(s.B.Files, c, buf, 0));
    }

    [Fact]
    public void V6OnlyListener_DoesNotSeeIpv4()
    {
        using var s = new TwoStacks();
        int l = Sock6(s.A, SOCK_STREAM);
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, l, SOL_IPV6, IPV6_V6ONLY, 1));
        Assert.Equal(0, SocketCalls.Bind(s.A.Files, l, SockAddr.In6(UInt128.Zero, 6404)));
        Assert.Equal(0, SocketCalls.Listen(s.A.Files, l, 8));
        int c = Sock4(s.B, SOCK_STREAM);
        Assert.Equal(-Errno.EINPROGRESS, SocketCalls.Connect(s.B.Files, c, SockAddr.In(TwoStacks.AddrA, 6404)));
        s.RunFor(50);
        Assert.Equal(-Errno.EAGAIN, SocketCalls.Accept(s.A.Files, l, out _));
        Assert.Equal(0, SocketCalls.Getsockopt(s.B.Files, c, SOL_SOCKET, SO_ERROR, out int err));
        Assert.Equal(Errno.ECONNREFUSED, err);
    }

    [Fact]
    public void Ipv6Client_ConnectsToIpv4Server_ThroughAMappedAddress()
    {
        using var s = new TwoStacks();
        int l = Sock4(s.B, SOCK_STREAM);
        Assert.Equal(0, SocketCalls.Bind(s.B.Files, l, SockAddr.In(0, 6405)));
        Assert.Equal(0, SocketCalls.Listen(s.B.Files, l, 8));
        int c = Sock6(s.A, SOCK_STREAM);
        Assert.Equal(-Errno.EINPROGRESS, SocketCalls.Connect(s.A.Files, c, SockAddr.In6(MappedB, 6405)));
        s.RunFor(50);
        int a = SocketCalls.Accept(s.B.Files, l, out var peer);
        Assert.True(a >= 3);
        Assert.Equal(TwoStacks.AddrA, peer.Addr);
        Assert.Equal(0, SocketCalls.Getsockname(s.A.Files, c, out var local));
        Assert.Equal((AF_INET6, MappedA, peer.Port), (local.Family, local.Addr6, local.Port));
        Assert.Equal(0, SocketCalls.Getpeername(s.A.Files, c, out var remote));
        Assert.Equal((MappedB, (ushort)6405), (remote.Addr6, remote.Port));
        Assert.Equal(4, SocketCalls.Send(s.A.Files, c, "ping"u8, 0));
        s.RunFor(50);
        var buf = new byte[8];
        Assert.Equal(4, SocketCalls.Recv(s.B.Files, a, buf, 0));
    }

    [Fact]
    public void Udp_MappedSendtoAndRecvfrom_AndMappedConnect()
    {
        using var s = new TwoStacks();
        int u6 = Sock6(s.A, SOCK_DGRAM);
        Assert.Equal(0, SocketCalls.Bind(s.A.Files, u6, SockAddr.In6(UInt128.Zero, 6406)));
        int u4 = Sock4(s.B, SOCK_DGRAM);
        Assert.Equal(0, SocketCalls.Bind(s.B.Files, u4, SockAddr.In(0, 6407)));
        Assert.Equal(3, SocketCalls.Sendto(s.A.Files, u6, "abc"u8, 0, SockAddr.In6(MappedB, 6407)));
        // An AF_INET destination on a dual-stack socket goes straight to udp_sendmsg.
        Assert.Equal(2, SocketCalls.Sendto(s.A.Files, u6, "de"u8, 0, SockAddr.In(TwoStacks.AddrB, 6407)));
        s.RunFor(10);
        var buf = new byte[8];
        Assert.Equal(3, SocketCalls.Recvfrom(s.B.Files, u4, buf, 0, out var from4));
        Assert.Equal((TwoStacks.AddrA, (ushort)6406), (from4.Addr, from4.Port));
        Assert.Equal(2, SocketCalls.Recvfrom(s.B.Files, u4, buf, 0, out _));
        Assert.Equal(4, SocketCalls.Sendto(s.B.Files, u4, "wxyz"u8, 0, SockAddr.In(TwoStacks.AddrA, 6406)));
        s.RunFor(10);
        Assert.Equal(4, SocketCalls.Recvfrom(s.A.Files, u6, buf, 0, out var from6));
        Assert.Equal((AF_INET6, MappedB, (ushort)6407, SockaddrIn6Size), (from6.Family, from6.Addr6, from6.Port, from6.Len));

        int c6 = Sock6(s.A, SOCK_DGRAM);
        Assert.Equal(0, SocketCalls.Connect(s.A.Files, c6, SockAddr.In6(MappedB, 6407)));
        Assert.Equal(0, SocketCalls.Getpeername(s.A.Files, c6, out var peer));
        Assert.Equal((MappedB, (ushort)6407), (peer.Addr6, peer.Port));
        Assert.Equal(0, SocketCalls.Getsockname(s.A.Files, c6, out var me));
        Assert.Equal(MappedA, me.Addr6);
        Assert.Equal(1, SocketCalls.Send(s.A.Files, c6, "!"u8, 0));
        s.RunFor(10);
        Assert.Equal(1, SocketCalls.Recvfrom(s.B.Files, u4, buf, 0, out var from));
        Assert.Equal(me.Port, from.Port);
    }

    [Fact]
    public void BindConflicts_AcrossFamilies_AsInetRcvSaddrEqual()
    {
        using var s = new TwoStacks();
        var f = s.A.Files;
        foreach (int type in new[] { SOCK_STREAM, SOCK_DGRAM })
        {
            ushort p = (ushort)(type == SOCK_STREAM ? 6410 : 6420);
            // [::] (dual stack) takes the IPv4 port: 0.0.0.0 and a.b.c.d conflict.
            int any6 = Sock6(s.A, type);
            Assert.Equal(0, SocketCalls.Bind(f, any6, SockAddr.In6(UInt128.Zero, p)));
            Assert.Equal(-Errno.EADDRINUSE, SocketCalls.Bind(f, Sock4(s.A, type), SockAddr.In(0, p)));
            Assert.Equal(-Errno.EADDRINUSE, SocketCalls.Bind(f, Sock4(s.A, type), SockAddr.In(TwoStacks.AddrA, p)));
            Assert.Equal(-Errno.EADDRINUSE, SocketCalls.Bind(f, Sock6(s.A, type), SockAddr.In6(MappedA, p)));
            // A v6-only [::] leaves the IPv4 port free, both ways.
            int only = Sock6(s.A, type);
            Assert.Equal(0, SocketCalls.Setsockopt(f, only, SOL_IPV6, IPV6_V6ONLY, 1));
            Assert.Equal(0, SocketCalls.Bind(f, only, SockAddr.In6(UInt128.Zero, (ushort)(p + 1))));
            Assert.Equal(0, SocketCalls.Bind(f, Sock4(s.A, type), SockAddr.In(0, (ushort)(p + 1))));
            int v4 = Sock4(s.A, type);
            Assert.Equal(0, SocketCalls.Bind(f, v4, SockAddr.In(TwoStacks.AddrA, (ushort)(p + 2))));
            Assert.Equal(-Errno.EADDRINUSE, SocketCalls.Bind(f, Sock6(s.A, type), SockAddr.In6(UInt128.Zero, (ushort)(p + 2))));
            Assert.Equal(-Errno.EADDRINUSE, SocketCalls.Bind(f, Sock6(s.A, type), SockAddr.In6(MappedA, (ushort)(p + 2))));
            int only2 = Sock6(s.A, type);
            Assert.Equal(0, SocketCalls.Setsockopt(f, only2, SOL_IPV6, IPV6_V6ONLY, 1));
            Assert.Equal(0, SocketCalls.Bind(f, only2, SockAddr.In6(UInt128.Zero, (ushort)(p + 2))));
        }
    }

    [Fact]
    public void Sockopts_ValueChecks()
    {
        using var s = new TwoStacks();
        var f = s.A.Files;
        int t = Sock6(s.A, SOCK_STREAM);
        Assert.Equal(-Errno.EINVAL, SocketCalls.Setsockopt(f, t, SOL_IPV6, IPV6_UNICAST_HOPS, 256));
        Assert.Equal(-Errno.EINVAL, SocketCalls.Setsockopt(f, t, SOL_IPV6, IPV6_UNICAST_HOPS, -2));
        Assert.Equal(0, SocketCalls.Setsockopt(f, t, SOL_IPV6, IPV6_UNICAST_HOPS, 9));
        Assert.Equal(0, SocketCalls.Getsockopt(f, t, SOL_IPV6, IPV6_UNICAST_HOPS, out int v));
        Assert.Equal(9, v);
        Assert.Equal(-Errno.EINVAL, SocketCalls.Setsockopt(f, t, SOL_IPV6, IPV6_TCLASS, 256));
        Assert.Equal(0, SocketCalls.Setsockopt(f, t, SOL_IPV6, IPV6_TCLASS, 0x2b));
        Assert.Equal(0, SocketCalls.Getsockopt(f, t, SOL_IPV6, IPV6_TCLASS, out v));
        Assert.Equal(0x28, v); // TCP keeps the ECN bits its own
        Assert.Equal(-Errno.EINVAL, SocketCalls.Setsockopt(f, t, SOL_IPV6, IPV6_MTU_DISCOVER, 6));
        Assert.Equal(0, SocketCalls.Setsockopt(f, t, SOL_IPV6, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_PROBE));
        Assert.Equal(0, SocketCalls.Getsockopt(f, t, SOL_IPV6, IPV6_MTU_DISCOVER, out v));
        Assert.Equal(IPV6_PMTUDISC_PROBE, v);
        Assert.Equal(0, SocketCalls.Setsockopt(f, t, SOL_IPV6, IPV6_RECVERR, 1));
        Assert.Equal(0, SocketCalls.Getsockopt(f, t, SOL_IPV6, IPV6_RECVERR, out v));
        Assert.Equal(1, v);
        Assert.Equal(-Errno.ENOPROTOOPT, SocketCalls.Setsockopt(f, t, SOL_IPV6, IPV6_MULTICAST_HOPS, 1)); // not on a stream socket
        Assert.Equal(-Errno.ENOTCONN, SocketCalls.Getsockopt(f, t, SOL_IPV6, IPV6_MTU, out _));
        Assert.Equal(-Errno.ENOPROTOOPT, SocketCalls.Getsockopt(f, t, SOL_IPV6, 1000, out _));
    }
}
