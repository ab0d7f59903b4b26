using System.Buffers.Binary;
using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;
using NetStack.Tests.Tcp;
using NetStack.Uapi;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Udp;

/// <summary>
/// IP_RECVERR and the socket error queue (net/ipv4/ip_sockglue.c: ip_icmp_error, ip_local_error,
/// ip_recv_error; net/core/skbuff.c: sock_queue_err_skb, sock_dequeue_err_skb) on UDP, ping and raw
/// sockets: which errors are queued, what recvmsg(MSG_ERRQUEUE) returns byte for byte, and how
/// sk_err and poll follow the queue.
/// </summary>
public class ErrQueueTests
{
    private static readonly uint A = TwoStacks.AddrA, B = TwoStacks.AddrB;

    /// <summary>What one recvmsg returned.</summary>
    private sealed record Received(int Ret, byte[] Data, SockAddr Name, int NameLen, int Flags, byte[] Control);

    private static Received Recvmsg(NetNamespace net, int fd, int flags, int len = 100, int controllen = 256)
    {
        var buf = new byte[len];
        var control = new byte[controllen];
        var msg = new MsgHdr { HasName = true, Control = control };
        int n = SocketCalls.Recvmsg(net.Files, fd, ref msg, buf, flags);
        return new Received(n, n >= 0 ? buf[..Math.Min(n, len)] : [], msg.Name, msg.NameLen, msg.Flags, control[..msg.ControlLen]);
    }

    /// <summary>
    /// The IP_RECVERR control message Linux writes: cmsghdr (len 48, SOL_IP, IP_RECVERR), struct
    /// sock_extended_err, then the offender as a struct sockaddr_in (all zero when there is none).
    /// </summary>
    private static byte[] RecvErrCmsg(int errno, int origin, int type, int code, uint info, uint offender)
    {
        var b = new byte[Cmsg.Space(SockExtendedErrSize + SockaddrInSize)];
        BinaryPrimitives.WriteUInt64LittleEndian(b, (ulong)Cmsg.Len(SockExtendedErrSize + SockaddrInSize));
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(8), SOL_IP);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(12), IP_RECVERR);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(16), errno);
        b[20] = (byte)origin;
        b[21] = (byte)type;
        b[22] = (byte)code;
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(24), info);
        if (origin == SO_EE_ORIGIN_ICMP)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(32), AF_INET);
            BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(36), offender);
        }
        return b;
    }

    private static byte[] Bytes(string s) => System.Text.Encoding.ASCII.GetBytes(s);

    private static int Revents(NetNamespace net, int fd)
    {
        var pfd = new SocketCalls.PollFd[] { new(fd, POLLIN | POLLOUT) };
        SocketCalls.Poll(net.Files, pfd, 0);
        return pfd[0].Revents;
    }

    private static int SoError(NetNamespace net, int fd)
    {
        Assert.Equal(0, SocketCalls.Getsockopt(net.Files, fd, SOL_SOCKET, SO_ERROR, out int err));
        return err;
    }

    private static TwoStacks Stacks()
    {
        var s = new TwoStacks();
        s.B.Ipv4.Sysctl.IcmpRatelimitMs = 0; // every datagram to a closed port gets its port unreachable
        return s;
    }

    [Fact]
    public void PortUnreachable_UnconnectedWithRecvErr_QueuesTheQuotedPayload_WithTheKernelsCmsgBytes()
    {
        using var s = Stacks();
        int a = UdpTests.Bound(s.A, 0, 5000);
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, a, SOL_IP, IP_RECVERR, 1));
        Assert.Equal(5, SocketCalls.Sendto(s.A.Files, a, Bytes("hello"), 0, SockAddr.In(B, 9999)));
        s.Pump();
        Assert.Equal(POLLERR | POLLOUT, Revents(s.A, a));

        var r = Recvmsg(s.A, a, MSG_ERRQUEUE);
        Assert.Equal(5, r.Ret);
        Assert.Equal(Bytes("hello"), r.Data); // what followed the quoted UDP header
        Assert.Equal((AF_INET, B, (ushort)9999, SockaddrInSize), (r.Name.Family, r.Name.Addr, r.Name.Port, r.NameLen));
        Assert.Equal(MSG_ERRQUEUE, r.Flags);
        Assert.Equal(RecvErrCmsg(Errno.ECONNREFUSED, SO_EE_ORIGIN_ICMP, IcmpType.DestUnreach, IcmpType.PortUnreach, 0, B), r.Control);

        // The last ICMP error taken clears sk_err (sock_dequeue_err_skb), the queue is empty, poll is quiet.
        Assert.Equal(0, SoError(s.A, a));
        Assert.Equal(POLLOUT, Revents(s.A, a));
        Assert.Equal(-Errno.EAGAIN, Recvmsg(s.A, a, MSG_ERRQUEUE).Ret);
        Assert.Equal(0, s.A.Files.Lookup(a)!.Sk!.RmemAlloc); // the buffer's charge went back
    }

    [Fact]
    public void PortUnreachable_UnconnectedWithoutRecvErr_QueuesNothing()
    {
        using var s = Stacks();
        int a = UdpTests.Bound(s.A, 0, 5000);
        SocketCalls.Sendto(s.A.Files, a, Bytes("hello"), 0, SockAddr.In(B, 9999));
        s.Pump();
        Assert.Equal(1, s.A.Mib.Icmp[IcmpMib.InDestUnreachs]);
        Assert.Equal(POLLOUT, Revents(s.A, a));
        Assert.Equal(-Errno.EAGAIN, Recvmsg(s.A, a, MSG_ERRQUEUE).Ret);
        Assert.Equal(0, SoError(s.A, a));
    }

    [Fact]
    public void PortUnreachable_ConnectedWithoutRecvErr_SetsSkErrOnly()
    {
        using var s = Stacks();
        int a = UdpTests.UdpSocket(s.A);
        Assert.Equal(0, SocketCalls.Connect(s.A.Files, a, SockAddr.In(B, 9999)));
        SocketCalls.Send(s.A.Files, a, Bytes("hello"), 0);
        s.Pump();
        // ip_recv_error() looks at the queue only: sk_err stays for the next call.
        Assert.Equal(-Errno.EAGAIN, Recvmsg(s.A, a, MSG_ERRQUEUE).Ret);
        Assert.Equal(-Errno.ECONNREFUSED, SocketCalls.Recv(s.A.Files, a, new byte[16], 0));
        Assert.Equal(POLLOUT, Revents(s.A, a));
    }

    [Fact]
    public void PortUnreachable_ConnectedWithRecvErr_RecvTakesSkErr_TheQueueKeepsTheError()
    {
        using var s = Stacks();
        int a = UdpTests.UdpSocket(s.A);
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, a, SOL_IP, IP_RECVERR, 1));
        Assert.Equal(0, SocketCalls.Connect(s.A.Files, a, SockAddr.In(B, 9999)));
        SocketCalls.Send(s.A.Files, a, Bytes("hi"), 0);
        s.Pump();
        Assert.Equal(-Errno.ECONNREFUSED, SocketCalls.Recv(s.A.Files, a, new byte[16], 0));
        Assert.Equal(POLLERR | POLLOUT, Revents(s.A, a)); // the queue is not empty
        var r = Recvmsg(s.A, a, MSG_ERRQUEUE);
        Assert.Equal(2, r.Ret);
        Assert.Equal((B, (ushort)9999), (r.Name.Addr, r.Name.Port));
        Assert.Equal(RecvErrCmsg(Errno.ECONNREFUSED, SO_EE_ORIGIN_ICMP, IcmpType.DestUnreach, IcmpType.PortUnreach, 0, B), r.Control);
        Assert.Equal(POLLOUT, Revents(s.A, a));
    }

    [Fact]
    public void TwoErrors_SkErrFollowsTheQueue_ShortBuffersTruncate()
    {
        using var s = Stacks();
        int a = UdpTests.Bound(s.A, 0, 5000);
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, a, SOL_IP, IP_RECVERR, 1));
        SocketCalls.Sendto(s.A.Files, a, Bytes("first"), 0, SockAddr.In(B, 9001));
        SocketCalls.Sendto(s.A.Files, a, Bytes("second"), 0, SockAddr.In(B, 9002));
        s.Pump();
        Assert.Equal(Errno.ECONNREFUSED, SoError(s.A, a)); // taken here...
        // ... and set again from the next queued ICMP error when the first is read.
        var r = Recvmsg(s.A, a, MSG_ERRQUEUE, len: 2, controllen: 20);
        Assert.Equal(2, r.Ret);
        Assert.Equal(Bytes("fi"), r.Data);
        Assert.Equal((ushort)9001, r.Name.Port);
        Assert.Equal(MSG_ERRQUEUE | MSG_TRUNC | MSG_CTRUNC, r.Flags);
        Assert.Equal(20, r.Control.Length); // put_cmsg() wrote what fit
        Assert.Equal(Errno.ECONNREFUSED, SoError(s.A, a));
        r = Recvmsg(s.A, a, MSG_ERRQUEUE | MSG_TRUNC);
        Assert.Equal(6, r.Ret);
        Assert.Equal((ushort)9002, r.Name.Port);
        Assert.Equal(0, SoError(s.A, a));
        Assert.Equal(-Errno.EAGAIN, Recvmsg(s.A, a, MSG_ERRQUEUE).Ret);
    }

    [Fact]
    public void IpRecvErrOff_PurgesTheQueue_ButNotSkErr()
    {
        using var s = Stacks();
        int a = UdpTests.Bound(s.A, 0, 5000);
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, a, SOL_IP, IP_RECVERR, 1));
        SocketCalls.Sendto(s.A.Files, a, Bytes("x"), 0, SockAddr.In(B, 9001));
        s.Pump();
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, a, SOL_IP, IP_RECVERR, 0));
        Assert.Equal(0, s.A.Files.Lookup(a)!.Sk!.RmemAlloc);
        Assert.Equal(-Errno.EAGAIN, Recvmsg(s.A, a, MSG_ERRQUEUE).Ret);
        Assert.Equal(Errno.ECONNREFUSED, SoError(s.A, a));
    }

    [Fact]
    public void TheQueueIsChargedToTheReceiveBuffer_AndBoundedByIt()
    {
        using var s = Stacks();
        int a = UdpTests.Bound(s.A, 0, 5000);
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, a, SOL_IP, IP_RECVERR, 1));
        var sk = s.A.Files.Lookup(a)!.Sk!;
        SocketCalls.Sendto(s.A.Files, a, Bytes("x"), 0, SockAddr.In(B, 9000));
        s.Pump();
        int truesize = sk.RmemAlloc; // one queued error's charge
        Assert.True(truesize > 0);
        Assert.Equal(1, Recvmsg(s.A, a, MSG_ERRQUEUE).Ret);
        // Room for two and a half: sock_queue_err_skb() refuses a buffer that would reach sk_rcvbuf.
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, a, SOL_SOCKET, SO_RCVBUF, truesize * 5 / 4)); // doubled
        for (int i = 1; i <= 4; i++) SocketCalls.Sendto(s.A.Files, a, Bytes("x"), 0, SockAddr.In(B, (ushort)(9000 + i)));
        s.Pump();
        Assert.Equal(5, s.A.Mib.Icmp[IcmpMib.InDestUnreachs]);
        Assert.Equal(2 * truesize, sk.RmemAlloc);
        Assert.Equal((ushort)9001, Recvmsg(s.A, a, MSG_ERRQUEUE).Name.Port);
        Assert.Equal((ushort)9002, Recvmsg(s.A, a, MSG_ERRQUEUE).Name.Port);
        Assert.Equal(-Errno.EAGAIN, Recvmsg(s.A, a, MSG_ERRQUEUE).Ret);
        Assert.Equal(0, sk.RmemAlloc);
        // Room again once read.
        int b = UdpTests.Bound(s.B, 0, 7000);
        SocketCalls.Sendto(s.A.Files, a, Bytes("x"), 0, SockAddr.In(B, 9100));
        s.Pump();
        Assert.Equal(truesize, sk.RmemAlloc);
        GC.KeepAlive(b);
    }

    /// <summary>B answers A's datagram (caught on a raw UDP socket) with an ICMP error of its own making.</summary>
    private static void AnswerWithIcmp(TwoStacks s, int rawUdpB, byte type, byte code, uint rest)
    {
        var dgram = new byte[1600];
        int n = SocketCalls.Recv(s.B.Files, rawUdpB, dgram, 0);
        Assert.True(n > 28, Errno.Name(n));
        var icmp = new byte[8 + n];
        var h = IcmpHeader.Create(icmp);
        h.Type = type;
        h.Code = code;
        h.Rest = rest;
        dgram.AsSpan(0, n).CopyTo(icmp.AsSpan(8));
        h.FillChecksum();
        int rawIcmp = SocketCalls.Socket(s.B.Files, AF_INET, SOCK_RAW, IPPROTO_ICMP);
        Assert.Equal(icmp.Length, SocketCalls.Sendto(s.B.Files, rawIcmp, icmp, 0, SockAddr.In(A, 0)));
        s.Pump();
    }

    [Theory]
    [InlineData(IP_PMTUDISC_WANT, true)]
    [InlineData(IP_PMTUDISC_DO, true)]
    [InlineData(IP_PMTUDISC_DONT, false)]
    public void FragNeeded_ReportsEmsgsizeWithTheMtu_UnlessTheSocketLetsTheStackFragment(int pmtudisc, bool reported)
    {
        using var s = Stacks();
        int b = UdpTests.Bound(s.B, 0, 7000);
        int rawB = SocketCalls.Socket(s.B.Files, AF_INET, SOCK_RAW | SOCK_NONBLOCK, IPPROTO_UDP);
        int a = UdpTests.Bound(s.A, 0, 5000);
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, a, SOL_IP, IP_RECVERR, 1));
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, a, SOL_IP, IP_MTU_DISCOVER, pmtudisc));
        Assert.Equal(1000, SocketCalls.Sendto(s.A.Files, a, new byte[1000], 0, SockAddr.In(B, 7000)));
        s.Pump();
        AnswerWithIcmp(s, rawB, IcmpType.DestUnreach, IcmpType.FragNeeded, 576); // next-hop MTU 576
        var r = Recvmsg(s.A, a, MSG_ERRQUEUE, len: 2000);
        if (!reported)
        {
            Assert.Equal(-Errno.EAGAIN, r.Ret);
            Assert.Equal(0, SoError(s.A, a));
            return;
        }
        Assert.Equal(1000, r.Ret);
        Assert.Equal((B, (ushort)7000), (r.Name.Addr, r.Name.Port));
        Assert.Equal(RecvErrCmsg(Errno.EMSGSIZE, SO_EE_ORIGIN_ICMP, IcmpType.DestUnreach, IcmpType.FragNeeded, 576, B), r.Control);
        GC.KeepAlive(b);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void LocalEmsgsize_WithPmtudiscDo_IsQueuedAsALocalError_WithTheMtu(bool connected)
    {
        using var s = Stacks();
        int a = UdpTests.Bound(s.A, 0, 5000);
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, a, SOL_IP, IP_RECVERR, 1));
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, a, SOL_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO));
        if (connected) Assert.Equal(0, SocketCalls.Connect(s.A.Files, a, SockAddr.In(B, 9)));
        Assert.Equal(-Errno.EMSGSIZE, SocketCalls.Sendto(s.A.Files, a, new byte[2000], 0, SockAddr.In(B, 9)));
        // A local error does not touch sk_err, but poll reports the queue.
        Assert.Equal(POLLERR | POLLOUT, Revents(s.A, a));
        Assert.Equal(0, SoError(s.A, a));
        var r = Recvmsg(s.A, a, MSG_ERRQUEUE);
        Assert.Equal(0, r.Ret);
        // The address is the destination; the port is the socket's connected one (inet_dport).
        Assert.Equal((AF_INET, B, connected ? (ushort)9 : (ushort)0), (r.Name.Family, r.Name.Addr, r.Name.Port));
        Assert.Equal(MSG_ERRQUEUE, r.Flags);
        Assert.Equal(RecvErrCmsg(Errno.EMSGSIZE, SO_EE_ORIGIN_LOCAL, 0, 0, 1500, 0), r.Control);
        // Without IP_RECVERR only the send fails.
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, a, SOL_IP, IP_RECVERR, 0));
        Assert.Equal(-Errno.EMSGSIZE, SocketCalls.Sendto(s.A.Files, a, new byte[2000], 0, SockAddr.In(B, 9)));
        Assert.Equal(-Errno.EAGAIN, Recvmsg(s.A, a, MSG_ERRQUEUE).Ret);
    }

    [Fact]
    public void NeighbourFailure_HostUnreachable_IsQueuedWithOurselvesAsTheOffender()
    {
        uint silent = Ipv4Address.Parse("10.0.0.3");
        using var f = new TcpFixture();
        int fd = SocketCalls.Socket(f.Files, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        Assert.Equal(0, SocketCalls.Setsockopt(f.Files, fd, SOL_IP, IP_RECVERR, 1));
        Assert.Equal(4, SocketCalls.Sendto(f.Files, fd, Bytes("ping"), 0, SockAddr.In(silent, 9)));
        f.Advance(3_500);
        var r = Recvmsg(f.Net, fd, MSG_ERRQUEUE);
        Assert.Equal(4, r.Ret);
        Assert.Equal(Bytes("ping"), r.Data);
        Assert.Equal((silent, (ushort)9), (r.Name.Addr, r.Name.Port));
        // ipv4_link_failure() -> icmp_send(): the host unreachable comes from this host, over lo.
        Assert.Equal(RecvErrCmsg(Errno.EHOSTUNREACH, SO_EE_ORIGIN_ICMP, IcmpType.DestUnreach, IcmpType.HostUnreach, 0, TcpFixture.LocalAddr), r.Control);
        // A soft error: an unconnected socket without IP_RECVERR hears nothing.
        int quiet = SocketCalls.Socket(f.Files, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        SocketCalls.Sendto(f.Files, quiet, Bytes("ping"), 0, SockAddr.In(silent, 9));
        f.Advance(30_000);
        Assert.Equal(-Errno.EAGAIN, Recvmsg(f.Net, quiet, MSG_ERRQUEUE).Ret);
        Assert.Equal(0, SoError(f.Net, quiet));
    }

    [Fact]
    public void TcpConnect_FailingOnAnIcmpError_QueuesIt_EvenWithoutIpRecvErr()
    {
        // tcp_v4_err() calls ip_icmp_error() for SYN_SENT/SYN_RECV whatever IP_RECVERR says.
        uint silent = Ipv4Address.Parse("10.0.0.3");
        using var f = new TcpFixture();
        int fd = f.Socket();
        Assert.Equal(-Errno.EINPROGRESS, SocketCalls.Connect(f.Files, fd, SockAddr.In(silent, 80)));
        f.Advance(3_500);
        Assert.Equal(Errno.EHOSTUNREACH, SoError(f.Net, fd));
        Assert.Equal(POLLERR, Revents(f.Net, fd) & POLLERR); // the queue still holds it
        var r = Recvmsg(f.Net, fd, MSG_ERRQUEUE);
        Assert.True(r.Ret >= 20, Errno.Name(r.Ret)); // the quoted SYN, from its TCP header
        Assert.Equal((ushort)80, BinaryPrimitives.ReadUInt16BigEndian(r.Data.AsSpan(2)));
        Assert.Equal((silent, (ushort)80), (r.Name.Addr, r.Name.Port));
        Assert.Equal(RecvErrCmsg(Errno.EHOSTUNREACH, SO_EE_ORIGIN_ICMP, IcmpType.DestUnreach, IcmpType.HostUnreach, 0, TcpFixture.LocalAddr), r.Control);
        Assert.Equal(0, Revents(f.Net, fd) & POLLERR);
    }

    [Fact]
    public void PingSocket_QueuesTheQuotedIcmpHeader_WithoutAPort()
    {
        using var s = Stacks();
        var f = s.A.Files;
        int p = SocketCalls.Socket(f, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, IPPROTO_ICMP);
        Assert.Equal(0, SocketCalls.Setsockopt(f, p, SOL_IP, IP_RECVERR, 1));
        // B catches the echo request on a raw ICMP socket and answers it with a port unreachable.
        int rawB = SocketCalls.Socket(s.B.Files, AF_INET, SOCK_RAW | SOCK_NONBLOCK, IPPROTO_ICMP);
        s.B.Ipv4.Sysctl.IcmpEchoIgnoreAll = true;
        var echo = PingRawTests.EchoRequest(0, 1);
        Assert.Equal(16, SocketCalls.Sendto(f, p, echo, 0, SockAddr.In(B, 0)));
        s.Pump();
        AnswerWithIcmp(s, rawB, IcmpType.DestUnreach, IcmpType.PortUnreach, 0);
        var r = Recvmsg(s.A, p, MSG_ERRQUEUE);
        Assert.Equal(16, r.Ret);
        Assert.Equal(IcmpType.Echo, r.Data[0]); // ping_err(): the payload starts at the quoted ICMP header
        Assert.Equal((AF_INET, B, (ushort)0, SockaddrInSize), (r.Name.Family, r.Name.Addr, r.Name.Port, r.NameLen));
        Assert.Equal(RecvErrCmsg(Errno.ECONNREFUSED, SO_EE_ORIGIN_ICMP, IcmpType.DestUnreach, IcmpType.PortUnreach, 0, B), r.Control);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void RawSocket_ProtocolUnreachable_QueuesThePayload_OrTheWholePacketWithHdrincl(bool hdrincl)
    {
        using var s = Stacks();
        var f = s.A.Files;
        int raw = SocketCalls.Socket(f, AF_INET, SOCK_RAW | SOCK_NONBLOCK, 201);
        Assert.Equal(0, SocketCalls.Setsockopt(f, raw, SOL_IP, IP_RECVERR, 1));
        Assert.Equal(8, SocketCalls.Sendto(f, raw, Bytes("12345678"), 0, SockAddr.In(B, 0)));
        // raw_err() reads IP_HDRINCL when the error arrives.
        if (hdrincl) Assert.Equal(0, SocketCalls.Setsockopt(f, raw, SOL_IP, IP_HDRINCL, 1));
        s.Pump();
        var r = Recvmsg(s.A, raw, MSG_ERRQUEUE);
        Assert.Equal(hdrincl ? 28 : 8, r.Ret);
        Assert.Equal(Bytes("12345678"), r.Data[^8..]);
        Assert.Equal((B, (ushort)0), (r.Name.Addr, r.Name.Port));
        Assert.Equal(RecvErrCmsg(Errno.ENOPROTOOPT, SO_EE_ORIGIN_ICMP, IcmpType.DestUnreach, IcmpType.ProtUnreach, 0, B), r.Control);
    }

    [Fact]
    public void RecvErrWithRecvTtlAndPktinfo_TheIcmpMessagesOwnHeaderComesFirst()
    {
        using var s = Stacks();
        int a = UdpTests.Bound(s.A, 0, 5000);
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, a, SOL_IP, IP_RECVERR, 1));
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, a, SOL_IP, IP_RECVTTL, 1));
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, a, SOL_IP, IP_PKTINFO, 1));
        SocketCalls.Sendto(s.A.Files, a, Bytes("x"), 0, SockAddr.In(B, 9999));
        s.Pump();
        var r = Recvmsg(s.A, a, MSG_ERRQUEUE);
        var types = new List<int>();
        byte[] pktinfo = [], ttl = [];
        foreach (var c in Cmsg.Enumerate(r.Control))
        {
            types.Add(c.Type);
            if (c.Type == IP_PKTINFO) pktinfo = c.Data.ToArray();
            if (c.Type == IP_TTL) ttl = c.Data.ToArray();
        }
        Assert.Equal([IP_PKTINFO, IP_TTL, IP_RECVERR], types);
        Assert.Equal(64, BinaryPrimitives.ReadInt32LittleEndian(ttl));
        Assert.Equal(s.A.Devices.First(d => d.Ipv4Address == A).IfIndex, BinaryPrimitives.ReadInt32LittleEndian(pktinfo));
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32BigEndian(pktinfo.AsSpan(4))); // spec_dst: never prepared
        Assert.Equal(A, BinaryPrimitives.ReadUInt32BigEndian(pktinfo.AsSpan(8)));
    }
}
