using System.Buffers.Binary;
using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Udp;

/// <summary>UDP over two stacks on an in-memory link (net/ipv4/udp.c behaviour).</summary>
public class UdpTests
{
    private static readonly uint A = TwoStacks.AddrA, B = TwoStacks.AddrB;

    internal static int UdpSocket(NetNamespace net, int flags = SOCK_NONBLOCK)
    {
        int fd = SocketCalls.Socket(net.Files, AF_INET, SOCK_DGRAM | flags, 0);
        Assert.True(fd >= 3, Errno.Name(fd));
        return fd;
    }

    internal static int Bound(NetNamespace net, uint addr, ushort port, int flags = SOCK_NONBLOCK)
    {
        int fd = UdpSocket(net, flags);
        Assert.Equal(0, SocketCalls.Bind(net.Files, fd, SockAddr.In(addr, port)));
        return fd;
    }

    private static byte[] Bytes(string s) => System.Text.Encoding.ASCII.GetBytes(s);

    [Fact]
    public void SendTo_RecvFrom_BothWays_WithAddresses()
    {
        using var s = new TwoStacks();
        int a = Bound(s.A, 0, 5000), b = Bound(s.B, 0, 6000);
        Assert.Equal(5, SocketCalls.Sendto(s.A.Files, a, Bytes("hello"), 0, SockAddr.In(B, 6000)));
        s.Pump();
        var buf = new byte[100];
        Assert.Equal(5, SocketCalls.Recvfrom(s.B.Files, b, buf, 0, out var from));
        Assert.Equal("hello", System.Text.Encoding.ASCII.GetString(buf, 0, 5));
        Assert.Equal((AF_INET, A, (ushort)5000, 16), (from.Family, from.Addr, from.Port, from.Len));
        Assert.Equal(3, SocketCalls.Sendto(s.B.Files, b, Bytes("bye"), 0, from));
        s.Pump();
        Assert.Equal(3, SocketCalls.Recvfrom(s.A.Files, a, buf, 0, out var from2));
        Assert.Equal((B, (ushort)6000), (from2.Addr, from2.Port));
        Assert.Equal(1, s.B.Mib.Udp[UdpMib.InDatagrams]);
        Assert.Equal(1, s.B.Mib.Udp[UdpMib.OutDatagrams]);
    }

    [Fact]
    public void Send_UnboundSocket_Autobinds_EphemeralRange()
    {
        using var s = new TwoStacks();
        int a = UdpSocket(s.A);
        int b = Bound(s.B, 0, 6000);
        Assert.Equal(1, SocketCalls.Sendto(s.A.Files, a, Bytes("x"), 0, SockAddr.In(B, 6000)));
        Assert.Equal(0, SocketCalls.Getsockname(s.A.Files, a, out var name));
        Assert.InRange(name.Port, s.A.Ipv4.Sysctl.IpLocalPortRangeLow, s.A.Ipv4.Sysctl.IpLocalPortRangeHigh);
        Assert.Equal(0u, name.Addr);
        s.Pump();
        Assert.Equal(1, SocketCalls.Recvfrom(s.B.Files, b, new byte[8], 0, out var from));
        Assert.Equal(name.Port, from.Port);
    }

    [Fact]
    public void Recv_PeekTruncDontwait()
    {
        using var s = new TwoStacks();
        int a = Bound(s.A, 0, 5000), b = Bound(s.B, 0, 6000, flags: 0);
        SocketCalls.Sendto(s.A.Files, a, Bytes("0123456789"), 0, SockAddr.In(B, 6000));
        s.Pump();
        var small = new byte[4];
        // MSG_PEEK leaves it queued; MSG_TRUNC reports the real length.
        Assert.Equal(10, SocketCalls.Recv(s.B.Files, b, small, MSG_PEEK | MSG_TRUNC));
        Assert.Equal("0123", System.Text.Encoding.ASCII.GetString(small));
        int inq = 0;
        Assert.Equal(0, SocketCalls.Ioctl(s.B.Files, b, SIOCINQ, ref inq));
        Assert.Equal(10, inq);
        var msg = new MsgHdr { HasName = true };
        Assert.Equal(4, SocketCalls.Recvmsg(s.B.Files, b, ref msg, small, 0));
        Assert.Equal(MSG_TRUNC, msg.Flags & MSG_TRUNC);
        Assert.Equal(A, msg.Name.Addr);
        // Gone now; a blocking socket with MSG_DONTWAIT answers EAGAIN.
        Assert.Equal(-Errno.EAGAIN, SocketCalls.Recv(s.B.Files, b, small, MSG_DONTWAIT));
        Assert.Equal(1, s.B.Mib.Udp[UdpMib.InDatagrams]); // the peek did not count
    }

    [Fact]
    public void PortUnreachable_ConnectedSocketGetsECONNREFUSED_OnceOnly()
    {
        using var s = new TwoStacks();
        int a = UdpSocket(s.A);
        Assert.Equal(0, SocketCalls.Connect(s.A.Files, a, SockAddr.In(B, 9999)));
        Assert.Equal(4, SocketCalls.Send(s.A.Files, a, Bytes("ping"), 0));
        s.Pump();
        Assert.Equal(1, s.B.Mib.Udp[UdpMib.NoPorts]);
        Assert.Equal(1, s.B.Mib.Icmp[IcmpMib.OutDestUnreachs]);
        Assert.Equal(1, s.A.Mib.Icmp[IcmpMib.InDestUnreachs]);
        var pfd = new SocketCalls.PollFd[] { new(a, POLLIN | POLLOUT) };
        Assert.Equal(1, SocketCalls.Poll(s.A.Files, pfd, 0));
        Assert.Equal(POLLERR | POLLOUT, pfd[0].Revents & (POLLERR | POLLOUT | POLLIN));
        Assert.Equal(-Errno.ECONNREFUSED, SocketCalls.Recv(s.A.Files, a, new byte[8], 0));
        // Reported once: the next call finds nothing.
        Assert.Equal(-Errno.EAGAIN, SocketCalls.Recv(s.A.Files, a, new byte[8], 0));
        // The next send gets it the same way (sock_error() in the allocation).
        SocketCalls.Send(s.A.Files, a, Bytes("ping"), 0);
        s.Pump();
        Assert.Equal(-Errno.ECONNREFUSED, SocketCalls.Send(s.A.Files, a, Bytes("ping"), 0));
    }

    [Fact]
    public void PortUnreachable_UnconnectedSocketIgnoresIt_SoErrorToo()
    {
        using var s = new TwoStacks();
        int a = UdpSocket(s.A);
        SocketCalls.Sendto(s.A.Files, a, Bytes("x"), 0, SockAddr.In(B, 9999));
        s.Pump();
        Assert.Equal(1, s.A.Mib.Icmp[IcmpMib.InDestUnreachs]);
        Assert.Equal(0, SocketCalls.Getsockopt(s.A.Files, a, SOL_SOCKET, SO_ERROR, out int err));
        Assert.Equal(0, err);
        // With IP_RECVERR it is reported.
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, a, SOL_IP, IP_RECVERR, 1));
        SocketCalls.Sendto(s.A.Files, a, Bytes("x"), 0, SockAddr.In(B, 9999));
        s.RunFor(2000); // past the per-host ICMP rate limit window
        Assert.Equal(0, SocketCalls.Getsockopt(s.A.Files, a, SOL_SOCKET, SO_ERROR, out err));
        Assert.Equal(Errno.ECONNREFUSED, err);
    }

    [Fact]
    public void Bind_Rules_AddrInUse_ReuseAddr_NotAvail_DoubleBind()
    {
        using var s = new TwoStacks();
        var f = s.A.Files;
        int x = Bound(s.A, 0, 7000);
        int y = UdpSocket(s.A);
        Assert.Equal(-Errno.EADDRINUSE, SocketCalls.Bind(f, y, SockAddr.In(0u, 7000)));
        Assert.Equal(-Errno.EADDRINUSE, SocketCalls.Bind(f, y, SockAddr.In(A, 7000))); // wildcard conflicts with specific
        Assert.Equal(0, SocketCalls.Bind(f, y, SockAddr.In(A, 7001)));
        Assert.Equal(-Errno.EINVAL, SocketCalls.Bind(f, y, SockAddr.In(A, 7002))); // already bound
        int z = UdpSocket(s.A);
        Assert.Equal(-Errno.EADDRNOTAVAIL, SocketCalls.Bind(f, z, SockAddr.In(Ipv4Address.Parse("10.9.0.77"), 7003)));
        Assert.Equal(-Errno.EINVAL, SocketCalls.Bind(f, z, new SockAddr(AF_INET, 0, 7003, 15)));
        Assert.Equal(-Errno.EAFNOSUPPORT, SocketCalls.Bind(f, z, new SockAddr(AF_INET6, 0, 7003, 16)));
        Assert.Equal(0, SocketCalls.Bind(f, z, new SockAddr(AF_UNSPEC, 0, 7003, 16))); // AF_UNSPEC + INADDR_ANY is accepted
        // SO_REUSEADDR on both: shared.
        int r1 = UdpSocket(s.A), r2 = UdpSocket(s.A);
        SocketCalls.Setsockopt(f, r1, SOL_SOCKET, SO_REUSEADDR, 1);
        SocketCalls.Setsockopt(f, r2, SOL_SOCKET, SO_REUSEADDR, 1);
        Assert.Equal(0, SocketCalls.Bind(f, r1, SockAddr.In(0u, 7100)));
        Assert.Equal(0, SocketCalls.Bind(f, r2, SockAddr.In(0u, 7100)));
        // Privileged port without CAP_NET_BIND_SERVICE.
        var user = new FdTable(s.A) { CapNetBindService = false };
        int u = SocketCalls.Socket(user, AF_INET, SOCK_DGRAM, 0);
        Assert.Equal(-Errno.EACCES, SocketCalls.Bind(user, u, SockAddr.In(0u, 53)));
        Assert.Equal(0, SocketCalls.Bind(user, u, SockAddr.In(0u, 1053)));
        GC.KeepAlive(x);
    }

    [Fact]
    public void Lookup_ConnectedAndSpecificBeatWildcard()
    {
        using var s = new TwoStacks();
        int wild = Bound(s.B, 0, 8000);
        int a1 = Bound(s.A, 0, 5001), a2 = Bound(s.A, 0, 5002);
        SocketCalls.Setsockopt(s.B.Files, wild, SOL_SOCKET, SO_REUSEADDR, 1);
        int conn = UdpSocket(s.B);
        SocketCalls.Setsockopt(s.B.Files, conn, SOL_SOCKET, SO_REUSEADDR, 1);
        Assert.Equal(0, SocketCalls.Bind(s.B.Files, conn, SockAddr.In(0u, 8000)));
        Assert.Equal(0, SocketCalls.Connect(s.B.Files, conn, SockAddr.In(A, 5001)));
        SocketCalls.Sendto(s.A.Files, a1, Bytes("1"), 0, SockAddr.In(B, 8000));
        SocketCalls.Sendto(s.A.Files, a2, Bytes("2"), 0, SockAddr.In(B, 8000));
        s.Pump();
        var buf = new byte[4];
        Assert.Equal(1, SocketCalls.Recv(s.B.Files, conn, buf, 0));
        Assert.Equal((byte)'1', buf[0]);
        Assert.Equal(1, SocketCalls.Recv(s.B.Files, wild, buf, 0));
        Assert.Equal((byte)'2', buf[0]);
        Assert.Equal(-Errno.EAGAIN, SocketCalls.Recv(s.B.Files, wild, buf, 0));
        // A socket bound to the specific address beats the wildcard one; the connected socket
        // (whose connect() filled in its local address) still wins for its own peer.
        int spec = UdpSocket(s.B);
        SocketCalls.Setsockopt(s.B.Files, spec, SOL_SOCKET, SO_REUSEADDR, 1);
        Assert.Equal(0, SocketCalls.Bind(s.B.Files, spec, SockAddr.In(B, 8000)));
        SocketCalls.Sendto(s.A.Files, a2, Bytes("3"), 0, SockAddr.In(B, 8000));
        SocketCalls.Sendto(s.A.Files, a1, Bytes("4"), 0, SockAddr.In(B, 8000));
        s.Pump();
        Assert.Equal(1, SocketCalls.Recv(s.B.Files, spec, buf, 0));
        Assert.Equal((byte)'3', buf[0]);
        Assert.Equal(1, SocketCalls.Recv(s.B.Files, conn, buf, 0));
        Assert.Equal((byte)'4', buf[0]);
        Assert.Equal(-Errno.EAGAIN, SocketCalls.Recv(s.B.Files, wild, buf, 0));
    }

    [Fact]
    public void Connect_SetsPeer_Getpeername_AndUnspecDisconnects()
    {
        using var s = new TwoStacks();
        var f = s.A.Files;
        int a = UdpSocket(s.A);
        Assert.Equal(-Errno.ENOTCONN, SocketCalls.Getpeername(f, a, out _));
        Assert.Equal(-Errno.EDESTADDRREQ, SocketCalls.Send(f, a, Bytes("x"), 0));
        Assert.Equal(0, SocketCalls.Connect(f, a, SockAddr.In(B, 6000)));
        Assert.Equal(0, SocketCalls.Getpeername(f, a, out var peer));
        Assert.Equal((B, (ushort)6000), (peer.Addr, peer.Port));
        Assert.Equal(0, SocketCalls.Getsockname(f, a, out var me));
        Assert.Equal(A, me.Addr); // the route's source
        Assert.NotEqual(0, me.Port);
        Assert.Equal(0, SocketCalls.Connect(f, a, SockAddr.Unspec));
        Assert.Equal(-Errno.ENOTCONN, SocketCalls.Getpeername(f, a, out _));
        Assert.Equal(0, SocketCalls.Getsockname(f, a, out me));
        Assert.Equal((0u, (ushort)0), (me.Addr, me.Port)); // autobound port released too
        Assert.Equal(-Errno.EINVAL, SocketCalls.Connect(f, a, new SockAddr(AF_INET, B, 1, 1)));
        Assert.Equal(-Errno.EAFNOSUPPORT, SocketCalls.Connect(f, a, new SockAddr(AF_INET6, B, 1, 16)));
        Assert.Equal(-Errno.ENETUNREACH, SocketCalls.Connect(f, a, SockAddr.In("192.0.2.1", 1)));
    }

    [Fact]
    public void Broadcast_NeedsSoBroadcast_EACCES()
    {
        using var s = new TwoStacks();
        var f = s.A.Files;
        int a = UdpSocket(s.A);
        int b = Bound(s.B, 0, 6000);
        var bcast = SockAddr.In("10.9.0.255", 6000);
        // 255.255.255.255 needs a route (with no default route it is ENETUNREACH, as in Linux).
        Assert.Equal(-Errno.ENETUNREACH, SocketCalls.Sendto(f, a, Bytes("x"), 0, SockAddr.In(Ipv4Address.Broadcast, 6000)));
        Assert.Equal(0, s.A.Ipv4.Fib.AddDefault(B, s.Link.A));
        Assert.Equal(-Errno.EACCES, SocketCalls.Sendto(f, a, Bytes("x"), 0, bcast));
        Assert.Equal(-Errno.EACCES, SocketCalls.Connect(f, a, SockAddr.In(Ipv4Address.Broadcast, 6000)));
        Assert.Equal(0, SocketCalls.Setsockopt(f, a, SOL_SOCKET, SO_BROADCAST, 1));
        Assert.Equal(1, SocketCalls.Sendto(f, a, Bytes("x"), 0, bcast));
        Assert.Equal(1, SocketCalls.Sendto(f, a, Bytes("y"), 0, SockAddr.In(Ipv4Address.Broadcast, 6000)));
        s.Pump();
        var buf = new byte[4];
        Assert.Equal(1, SocketCalls.Recv(s.B.Files, b, buf, 0));
        Assert.Equal(1, SocketCalls.Recv(s.B.Files, b, buf, 0));
        // Broadcast to a port nobody has: no ICMP answer, counted as IgnoredMulti.
        SocketCalls.Sendto(f, a, Bytes("z"), 0, SockAddr.In("10.9.0.255", 6001));
        s.Pump();
        Assert.Equal(1, s.B.Mib.Udp[UdpMib.IgnoredMulti]);
        Assert.Equal(0, s.B.Mib.Icmp[IcmpMib.OutDestUnreachs]);
    }

    [Fact]
    public void SendFlagsAndSizes()
    {
        using var s = new TwoStacks();
        var f = s.A.Files;
        int a = UdpSocket(s.A);
        Assert.Equal(-Errno.EOPNOTSUPP, SocketCalls.Sendto(f, a, Bytes("x"), MSG_OOB, SockAddr.In(B, 1)));
        Assert.Equal(-Errno.EMSGSIZE, SocketCalls.Sendto(f, a, new byte[70000], 0, SockAddr.In(B, 1)));
        Assert.Equal(-Errno.EMSGSIZE, SocketCalls.Sendto(f, a, new byte[65508], 0, SockAddr.In(B, 1)));
        Assert.Equal(65507, SocketCalls.Sendto(f, a, new byte[65507], 0, SockAddr.In(B, 1))); // fragmented
        Assert.Equal(1473, SocketCalls.Sendto(f, a, new byte[1473], 0, SockAddr.In(B, 1)));
        Assert.Equal(1472, SocketCalls.Sendto(f, a, new byte[1472], 0, SockAddr.In(B, 1)));
        // IP_PMTUDISC_DO: the socket does path MTU discovery itself, so nothing is fragmented.
        Assert.Equal(0, SocketCalls.Setsockopt(f, a, SOL_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO));
        Assert.Equal(-Errno.EMSGSIZE, SocketCalls.Sendto(f, a, new byte[1473], 0, SockAddr.In(B, 1)));
        Assert.Equal(1472, SocketCalls.Sendto(f, a, new byte[1472], 0, SockAddr.In(B, 1)));
        Assert.Equal(-Errno.EINVAL, SocketCalls.Sendto(f, a, Bytes("x"), 0, SockAddr.In(B, 0))); // port 0
        Assert.Equal(-Errno.EINVAL, SocketCalls.Sendto(f, a, Bytes("x"), 0, new SockAddr(AF_INET, B, 1, 0)));
        Assert.Equal(-Errno.EAFNOSUPPORT, SocketCalls.Sendto(f, a, Bytes("x"), 0, new SockAddr(AF_INET6, B, 1, 16)));
        Assert.Equal(0, SocketCalls.Sendto(f, a, ReadOnlySpan<byte>.Empty, 0, SockAddr.In(B, 1)));
    }

    [Fact]
    public void LargeDatagram_FragmentedAndReassembled_Intact()
    {
        using var s = new TwoStacks();
        int a = Bound(s.A, 0, 5000), b = Bound(s.B, 0, 6000);
        var data = new byte[20000];
        new Random(5).NextBytes(data);
        Assert.Equal(20000, SocketCalls.Sendto(s.A.Files, a, data, 0, SockAddr.In(B, 6000)));
        s.Pump();
        Assert.True(s.A.Mib.Ip[IpMib.FragCreates] >= 14);
        var buf = new byte[65536];
        Assert.Equal(20000, SocketCalls.Recv(s.B.Files, b, buf, 0));
        Assert.True(buf.AsSpan(0, 20000).SequenceEqual(data));
        // Fragments go without DF; a datagram that fits keeps it (IP_PMTUDISC_WANT).
        Assert.Equal(1, s.B.Mib.Ip[IpMib.ReasmOKs]);
    }

    [Fact]
    public void Shutdown_UnconnectedIsENOTCONN_ButStillStopsSends()
    {
        using var s = new TwoStacks();
        var f = s.A.Files;
        int a = UdpSocket(s.A);
        Assert.Equal(-Errno.EINVAL, SocketCalls.Shutdown(f, a, 3));
        Assert.Equal(-Errno.EINVAL, SocketCalls.Shutdown(f, a, -1));
        Assert.Equal(-Errno.ENOTCONN, SocketCalls.Shutdown(f, a, SHUT_WR));
        Assert.Equal(-Errno.EPIPE, SocketCalls.Sendto(f, a, Bytes("x"), 0, SockAddr.In(B, 1)));
        // RCV_SHUTDOWN: a blocking receive returns 0 (end of file) instead of waiting.
        int c = UdpSocket(s.A, flags: 0);
        Assert.Equal(0, SocketCalls.Connect(f, c, SockAddr.In(B, 6000)));
        Assert.Equal(0, SocketCalls.Shutdown(f, c, SHUT_RD));
        Assert.Equal(0, SocketCalls.Recv(f, c, new byte[4], 0));
        Assert.Equal(-Errno.EAGAIN, SocketCalls.Recv(f, c, new byte[4], MSG_DONTWAIT));
        var pfd = new SocketCalls.PollFd[] { new(c, POLLIN | POLLOUT | POLLRDHUP) };
        SocketCalls.Poll(f, pfd, 0);
        Assert.Equal(POLLIN | POLLOUT | POLLRDHUP, pfd[0].Revents & (POLLIN | POLLOUT | POLLRDHUP | POLLHUP));
        Assert.Equal(0, SocketCalls.Shutdown(f, c, SHUT_WR));
        SocketCalls.Poll(f, pfd, 0);
        Assert.Equal(POLLHUP, pfd[0].Revents & POLLHUP);
    }

    [Fact]
    public void BadChecksum_Dropped_ZeroChecksum_Accepted()
    {
        using var s = new TwoStacks();
        int b = Bound(s.B, 0, 6000);
        s.Pump();
        SendRawUdp(s, corrupt: true);
        SendRawUdp(s, zeroChecksum: true);
        s.Pump();
        Assert.Equal(1, s.B.Mib.Udp[UdpMib.InCsumErrors]);
        Assert.Equal(1, s.B.Mib.Udp[UdpMib.InErrors]);
        Assert.Equal(3, SocketCalls.Recv(s.B.Files, b, new byte[8], 0));
        Assert.Equal(-Errno.EAGAIN, SocketCalls.Recv(s.B.Files, b, new byte[8], 0));
    }

    /// <summary>Sends "abc" from A:4000 to B:6000 with a raw IP_HDRINCL-less raw UDP socket, crafting the header by hand.</summary>
    private static void SendRawUdp(TwoStacks s, bool corrupt = false, bool zeroChecksum = false)
    {
        int r = SocketCalls.Socket(s.A.Files, AF_INET, SOCK_RAW, IPPROTO_UDP);
        var d = new byte[11];
        var uh = UdpHeader.Create(d);
        new UdpRepr(4000, 6000, 3).Emit(uh);
        d[8] = (byte)'a'; d[9] = (byte)'b'; d[10] = (byte)'c';
        if (!zeroChecksum) uh.FillChecksum(A, B);
        if (corrupt) uh.Checksum ^= 0x5555;
        Assert.Equal(11, SocketCalls.Sendto(s.A.Files, r, d, 0, SockAddr.In(B, 0)));
        SocketCalls.Close(s.A.Files, r);
    }

    [Fact]
    public void ReceiveBufferFull_RcvbufErrors()
    {
        using var s = new TwoStacks();
        int a = Bound(s.A, 0, 5000), b = Bound(s.B, 0, 6000);
        Assert.Equal(0, SocketCalls.Setsockopt(s.B.Files, b, SOL_SOCKET, SO_RCVBUF, 4096));
        Assert.Equal(0, SocketCalls.Getsockopt(s.B.Files, b, SOL_SOCKET, SO_RCVBUF, out int rcvbuf));
        Assert.Equal(8192, rcvbuf); // doubled
        for (int i = 0; i < 10; i++)
        {
            SocketCalls.Sendto(s.A.Files, a, Bytes("x"), 0, SockAddr.In(B, 6000));
            s.Pump();
        }
        int got = 0;
        while (SocketCalls.Recv(s.B.Files, b, new byte[4], 0) == 1) got++;
        Assert.True(got is > 0 and < 10, $"got {got}");
        Assert.Equal(10 - got, s.B.Mib.Udp[UdpMib.RcvbufErrors]);
    }

    [Fact]
    public void Close_UnbindsThePort_AndBadFdIsEBADF()
    {
        using var s = new TwoStacks();
        var f = s.A.Files;
        int a = Bound(s.A, 0, 5000);
        Assert.Equal(0, SocketCalls.Close(f, a));
        Assert.Equal(-Errno.EBADF, SocketCalls.Close(f, a));
        Assert.Equal(-Errno.EBADF, SocketCalls.Send(f, a, Bytes("x"), 0));
        int b = Bound(s.A, 0, 5000); // the port is free again
        Assert.True(b >= 3);
        // Traffic to a closed port now draws port unreachable.
        SocketCalls.Close(f, b);
        int c = Bound(s.B, 0, 6000);
        SocketCalls.Sendto(s.B.Files, c, Bytes("x"), 0, SockAddr.In(A, 5000));
        s.Pump();
        Assert.Equal(1, s.A.Mib.Udp[UdpMib.NoPorts]);
    }

    [Fact]
    public void Sockopts_BufferAndTimeouts_LinuxValues()
    {
        using var s = new TwoStacks();
        var f = s.A.Files;
        int a = UdpSocket(s.A);
        Assert.Equal(0, SocketCalls.Getsockopt(f, a, SOL_SOCKET, SO_RCVBUF, out int v));
        Assert.Equal(212992, v);
        SocketCalls.Setsockopt(f, a, SOL_SOCKET, SO_SNDBUF, 1);
        SocketCalls.Getsockopt(f, a, SOL_SOCKET, SO_SNDBUF, out v);
        Assert.Equal(4608, v); // SOCK_MIN_SNDBUF
        SocketCalls.Setsockopt(f, a, SOL_SOCKET, SO_RCVBUF, -1);
        SocketCalls.Getsockopt(f, a, SOL_SOCKET, SO_RCVBUF, out v);
        Assert.Equal(2 * 212992, v); // (u32)-1 clamps to rmem_max
        Assert.Equal(-Errno.EINVAL, SocketCalls.Setsockopt(f, a, SOL_SOCKET, SO_RCVBUF, new byte[2]));
        Assert.Equal(-Errno.ENOPROTOOPT, SocketCalls.Setsockopt(f, a, SOL_SOCKET, SO_TYPE, 1));
        Assert.Equal(-Errno.ENOPROTOOPT, SocketCalls.Setsockopt(f, a, SOL_SOCKET, 999, 1));
        var tv = new byte[16];
        BinaryPrimitives.WriteInt64LittleEndian(tv, 1);
        BinaryPrimitives.WriteInt64LittleEndian(tv.AsSpan(8), 500000);
        Assert.Equal(0, SocketCalls.Setsockopt(f, a, SOL_SOCKET, SO_RCVTIMEO, tv));
        var outv = new byte[16];
        int len = 16;
        Assert.Equal(0, SocketCalls.Getsockopt(f, a, SOL_SOCKET, SO_RCVTIMEO, outv, ref len));
        Assert.Equal((1L, 500000L), (BinaryPrimitives.ReadInt64LittleEndian(outv), BinaryPrimitives.ReadInt64LittleEndian(outv.AsSpan(8))));
        BinaryPrimitives.WriteInt64LittleEndian(tv.AsSpan(8), 1_000_000);
        Assert.Equal(-Errno.EDOM, SocketCalls.Setsockopt(f, a, SOL_SOCKET, SO_RCVTIMEO, tv));
        Assert.Equal(-Errno.EINVAL, SocketCalls.Setsockopt(f, a, SOL_SOCKET, SO_RCVTIMEO, new byte[8]));
        Assert.Equal(-Errno.EINVAL, SocketCalls.Setsockopt(f, a, SOL_IP, IP_TTL, 0));
        Assert.Equal(-Errno.EINVAL, SocketCalls.Setsockopt(f, a, SOL_IP, IP_TTL, 256));
        Assert.Equal(0, SocketCalls.Setsockopt(f, a, SOL_IP, IP_TTL, 7));
        SocketCalls.Getsockopt(f, a, SOL_IP, IP_TTL, out v);
        Assert.Equal(7, v);
        Assert.Equal(-Errno.ENOPROTOOPT, SocketCalls.Setsockopt(f, a, SOL_IP, IP_HDRINCL, 1)); // not raw
        Assert.Equal(0, SocketCalls.Setsockopt(f, a, SOL_IP, IP_TOS, 0x10));
        SocketCalls.Getsockopt(f, a, SOL_IP, IP_TOS, out v);
        Assert.Equal(0x10, v);
    }

    [Fact]
    public void RcvTimeo_BlockingRecvTimesOutWithEAGAIN()
    {
        // Real time, small timeout: checks the result only, not how long it took.
        using var s = new TwoStacks();
        var f = s.A.Files;
        int a = Bound(s.A, 0, 5000, flags: 0);
        var tv = new byte[16];
        BinaryPrimitives.WriteInt64LittleEndian(tv.AsSpan(8), 20_000); // 20 ms
        Assert.Equal(0, SocketCalls.Setsockopt(f, a, SOL_SOCKET, SO_RCVTIMEO, tv));
        Assert.Equal(-Errno.EAGAIN, SocketCalls.Recv(f, a, new byte[4], 0));
    }

    [Fact]
    public void Fcntl_SetNonblock_MakesRecvEAGAIN()
    {
        using var s = new TwoStacks();
        var f = s.A.Files;
        int a = Bound(s.A, 0, 5000, flags: 0);
        Assert.Equal(O_RDWR, SocketCalls.Fcntl(f, a, F_GETFL));
        Assert.Equal(0, SocketCalls.Fcntl(f, a, F_SETFL, O_NONBLOCK));
        Assert.Equal(O_RDWR | O_NONBLOCK, SocketCalls.Fcntl(f, a, F_GETFL));
        Assert.Equal(-Errno.EAGAIN, SocketCalls.Recv(f, a, new byte[4], 0));
        int one = 0;
        Assert.Equal(0, SocketCalls.Ioctl(f, a, FIONBIO, ref one));
        Assert.Equal(O_RDWR, SocketCalls.Fcntl(f, a, F_GETFL));
        Assert.Equal(-Errno.ENOTTY, SocketCalls.Ioctl(f, a, 0x1234, ref one));
        Assert.Equal(-Errno.EBADF, SocketCalls.Fcntl(f, 99, F_GETFL));
    }

    [Fact]
    public void Poll_ReadableAfterArrival_NvalForClosedFd()
    {
        using var s = new TwoStacks();
        int a = Bound(s.A, 0, 5000), b = Bound(s.B, 0, 6000);
        var pfd = new SocketCalls.PollFd[] { new(b, POLLIN), new(77, POLLIN), new(-1, POLLIN) };
        Assert.Equal(1, SocketCalls.Poll(s.B.Files, pfd, 0)); // only the bad fd
        Assert.Equal(POLLNVAL, pfd[1].Revents);
        Assert.Equal(0, pfd[0].Revents);
        Assert.Equal(0, pfd[2].Revents);
        SocketCalls.Sendto(s.A.Files, a, Bytes("x"), 0, SockAddr.In(B, 6000));
        s.Pump();
        Assert.Equal(2, SocketCalls.Poll(s.B.Files, pfd, 0));
        Assert.Equal(POLLIN, pfd[0].Revents);
    }
}
