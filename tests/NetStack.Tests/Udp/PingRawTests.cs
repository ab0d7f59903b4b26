using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Udp;

/// <summary>Ping sockets (net/ipv4/ping.c) and raw sockets (net/ipv4/raw.c) over two stacks.</summary>
public class PingRawTests
{
    private static readonly uint A = TwoStacks.AddrA, B = TwoStacks.AddrB;

    internal static byte[] EchoRequest(ushort id, ushort seq, int payload = 8)
    {
        var m = new byte[IcmpHeader.Length + payload];
        var h = IcmpHeader.Create(m);
        h.Type = IcmpType.Echo;
        h.EchoId = id;
        h.EchoSequence = seq;
        for (int i = 0; i < payload; i++) m[8 + i] = (byte)(i + 1);
        h.FillChecksum();
        return m;
    }

    [Fact]
    public void PingSocket_EchoReplyComes_IdentifierIsThePort()
    {
        using var s = new TwoStacks();
        var f = s.A.Files;
        int p = SocketCalls.Socket(f, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, IPPROTO_ICMP);
        Assert.True(p >= 3);
        // The id the user puts in is replaced by the socket's identifier (its "port").
        Assert.Equal(16, SocketCalls.Sendto(f, p, EchoRequest(0xdead, 1), 0, SockAddr.In(B, 0)));
        Assert.Equal(0, SocketCalls.Getsockname(f, p, out var me));
        Assert.NotEqual(0, me.Port);
        s.Pump();
        var buf = new byte[64];
        Assert.Equal(16, SocketCalls.Recvfrom(f, p, buf, 0, out var from));
        var reply = IcmpHeader.Create(buf.AsSpan(0, 16));
        Assert.Equal(IcmpType.EchoReply, reply.Type);
        Assert.Equal(me.Port, reply.EchoId);
        Assert.Equal(1, reply.EchoSequence);
        Assert.Equal((B, (ushort)0), (from.Addr, from.Port));
        Assert.Equal(1, s.A.Mib.Icmp[IcmpMib.OutEchos]);
    }

    [Fact]
    public void PingSocket_BindChoosesIdentifier_AndChecks()
    {
        using var s = new TwoStacks();
        var f = s.A.Files;
        int p = SocketCalls.Socket(f, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, IPPROTO_ICMP);
        Assert.Equal(-Errno.EINVAL, SocketCalls.Bind(f, p, new SockAddr(AF_INET, 0, 1, 8)));
        Assert.Equal(-Errno.EAFNOSUPPORT, SocketCalls.Bind(f, p, new SockAddr(AF_INET6, 0, 1, 16)));
        Assert.Equal(-Errno.EADDRNOTAVAIL, SocketCalls.Bind(f, p, SockAddr.In("10.9.0.255", 1))); // broadcast
        Assert.Equal(-Errno.EADDRNOTAVAIL, SocketCalls.Bind(f, p, SockAddr.In("10.9.0.99", 1)));
        Assert.Equal(0, SocketCalls.Bind(f, p, SockAddr.In(A, 4242)));
        Assert.Equal(-Errno.EINVAL, SocketCalls.Bind(f, p, SockAddr.In(A, 4243)));
        // ping sockets share identifiers only when both have SO_REUSEADDR (they start with it: INET_PROTOSW_REUSE).
        int q = SocketCalls.Socket(f, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, IPPROTO_ICMP);
        Assert.Equal(0, SocketCalls.Bind(f, q, SockAddr.In(0u, 4242)));
        int r = SocketCalls.Socket(f, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, IPPROTO_ICMP);
        SocketCalls.Setsockopt(f, r, SOL_SOCKET, SO_REUSEADDR, 0);
        Assert.Equal(-Errno.EADDRINUSE, SocketCalls.Bind(f, r, SockAddr.In(0u, 4242)));
        SocketCalls.Sendto(f, p, EchoRequest(0, 9), 0, SockAddr.In(B, 0));
        s.Pump();
        var buf = new byte[64];
        Assert.Equal(16, SocketCalls.Recv(f, p, buf, 0));
        Assert.Equal(4242, IcmpHeader.Create(buf).EchoId);
    }

    [Fact]
    public void PingSocket_SendChecks()
    {
        using var s = new TwoStacks();
        var f = s.A.Files;
        int p = SocketCalls.Socket(f, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, IPPROTO_ICMP);
        Assert.Equal(-Errno.EINVAL, SocketCalls.Sendto(f, p, new byte[7], 0, SockAddr.In(B, 0)));       // shorter than a header
        var notEcho = EchoRequest(1, 1);
        notEcho[0] = IcmpType.EchoReply;
        Assert.Equal(-Errno.EINVAL, SocketCalls.Sendto(f, p, notEcho, 0, SockAddr.In(B, 0)));
        Assert.Equal(-Errno.EOPNOTSUPP, SocketCalls.Sendto(f, p, EchoRequest(1, 1), MSG_OOB, SockAddr.In(B, 0)));
        Assert.Equal(-Errno.EAFNOSUPPORT, SocketCalls.Sendto(f, p, EchoRequest(1, 1), 0, new SockAddr(AF_UNSPEC, B, 0, 16)));
        Assert.Equal(-Errno.EDESTADDRREQ, SocketCalls.Send(f, p, EchoRequest(1, 1), 0));
        Assert.Equal(-Errno.EOPNOTSUPP, SocketCalls.Recv(f, p, new byte[8], MSG_OOB));
    }

    [Fact]
    public void RawIcmpSocket_SeesEveryEchoReply_AndRespectsIcmpFilter()
    {
        using var s = new TwoStacks();
        var f = s.A.Files;
        int raw = SocketCalls.Socket(f, AF_INET, SOCK_RAW | SOCK_NONBLOCK, IPPROTO_ICMP);
        // Raw ICMP sockets send the ICMP message as given (checksum included) and receive whole IP datagrams.
        Assert.Equal(16, SocketCalls.Sendto(f, raw, EchoRequest(77, 5), 0, SockAddr.In(B, 0)));
        s.Pump();
        var buf = new byte[128];
        int n = SocketCalls.Recvfrom(f, raw, buf, 0, out var from);
        Assert.Equal(20 + 16, n);
        var ip = Ipv4Header.Create(buf.AsSpan(0, n));
        Assert.Equal((B, A, (byte)IPPROTO_ICMP), (ip.Source, ip.Destination, ip.Protocol));
        var icmp = IcmpHeader.Create(buf.AsSpan(20, 16));
        Assert.Equal((IcmpType.EchoReply, (ushort)77, (ushort)5), (icmp.Type, icmp.EchoId, icmp.EchoSequence));
        Assert.Equal(B, from.Addr);
        // ICMP_FILTER: drop echo replies.
        Assert.Equal(0, SocketCalls.Setsockopt(f, raw, SOL_RAW, ICMP_FILTER, 1 << IcmpType.EchoReply));
        SocketCalls.Sendto(f, raw, EchoRequest(77, 6), 0, SockAddr.In(B, 0));
        s.Pump();
        Assert.Equal(-Errno.EAGAIN, SocketCalls.Recv(f, raw, buf, 0));
        Assert.Equal(2, s.A.Mib.Icmp[IcmpMib.InEchoReps]);
        // ICMP_FILTER on a non-ICMP raw socket is EOPNOTSUPP.
        int rawUdp = SocketCalls.Socket(f, AF_INET, SOCK_RAW, IPPROTO_UDP);
        Assert.Equal(-Errno.EOPNOTSUPP, SocketCalls.Setsockopt(f, rawUdp, SOL_RAW, ICMP_FILTER, 0));
    }

    [Fact]
    public void RawSocket_ReceivesCopiesOfItsProtocol_AlongsideUdp()
    {
        using var s = new TwoStacks();
        int rawB = SocketCalls.Socket(s.B.Files, AF_INET, SOCK_RAW | SOCK_NONBLOCK, IPPROTO_UDP);
        int udpB = UdpTests.Bound(s.B, 0, 6000);
        int a = UdpTests.Bound(s.A, 0, 5000);
        SocketCalls.Sendto(s.A.Files, a, new byte[] { 1, 2, 3 }, 0, SockAddr.In(B, 6000));
        s.Pump();
        var buf = new byte[64];
        Assert.Equal(20 + 8 + 3, SocketCalls.Recv(s.B.Files, rawB, buf, 0));
        Assert.Equal(3, SocketCalls.Recv(s.B.Files, udpB, buf, 0));
    }

    [Fact]
    public void RawSocket_UnknownProtocol_NoProtUnreachWhenARawSocketListens()
    {
        using var s = new TwoStacks();
        int rawA = SocketCalls.Socket(s.A.Files, AF_INET, SOCK_RAW, 200);
        Assert.Equal(4, SocketCalls.Sendto(s.A.Files, rawA, new byte[] { 9, 8, 7, 6 }, 0, SockAddr.In(B, 0)));
        s.Pump();
        Assert.Equal(1, s.B.Mib.Ip[IpMib.InUnknownProtos]);
        int rawB = SocketCalls.Socket(s.B.Files, AF_INET, SOCK_RAW | SOCK_NONBLOCK, 200);
        SocketCalls.Sendto(s.A.Files, rawA, new byte[] { 9, 8, 7, 6 }, 0, SockAddr.In(B, 0));
        s.RunFor(2000);
        Assert.Equal(1, s.B.Mib.Ip[IpMib.InUnknownProtos]);
        Assert.Equal(24, SocketCalls.Recv(s.B.Files, rawB, new byte[64], 0));
    }

    [Fact]
    public void RawSocket_Hdrincl_SendsTheCallersHeader_FillingSourceIdChecksum()
    {
        using var s = new TwoStacks();
        int raw = SocketCalls.Socket(s.A.Files, AF_INET, SOCK_RAW, IPPROTO_RAW);
        int b = UdpTests.Bound(s.B, 0, 6000);
        var pkt = new byte[20 + 8 + 2];
        var ip = Ipv4Header.Create(pkt);
        ip.SetVersionIhl(4, 5);
        ip.Ttl = 9;
        ip.Protocol = IpProto.UDP;
        ip.Destination = B; // source 0: the stack fills it; id 0: chosen; length and checksum: filled
        var uh = UdpHeader.Create(pkt.AsSpan(20));
        new UdpRepr(4444, 6000, 2).Emit(uh);
        pkt[28] = 0x42; pkt[29] = 0x43;
        uh.FillChecksum(A, B);
        Assert.Equal(30, SocketCalls.Sendto(s.A.Files, raw, pkt, 0, SockAddr.In(B, 0)));
        s.Pump();
        var buf = new byte[8];
        Assert.Equal(2, SocketCalls.Recvfrom(s.B.Files, b, buf, 0, out var from));
        Assert.Equal((A, (ushort)4444), (from.Addr, from.Port));
        // A header claiming more than was given is refused.
        pkt[0] = 0x4F; // ihl 15 = 60 bytes > 30
        Assert.Equal(-Errno.EINVAL, SocketCalls.Sendto(s.A.Files, raw, pkt, 0, SockAddr.In(B, 0)));
        Assert.Equal(-Errno.EINVAL, SocketCalls.Sendto(s.A.Files, raw, new byte[10], 0, SockAddr.In(B, 0)));
    }

    [Fact]
    public void RawSocket_SendChecks_ByNamelen()
    {
        using var s = new TwoStacks();
        var f = s.A.Files;
        int raw = SocketCalls.Socket(f, AF_INET, SOCK_RAW, IPPROTO_ICMP);
        // A zero-length address counts as none: not connected, so EDESTADDRREQ.
        Assert.Equal(-Errno.EDESTADDRREQ, SocketCalls.Sendto(f, raw, new byte[8], 0, new SockAddr(AF_INET, B, 0, 0)));
        Assert.Equal(-Errno.EINVAL, SocketCalls.Sendto(f, raw, new byte[8], 0, new SockAddr(AF_INET, B, 0, 8)));
        Assert.Equal(-Errno.EAFNOSUPPORT, SocketCalls.Sendto(f, raw, new byte[8], 0, new SockAddr(AF_INET6, B, 0, 16)));
        // Family 0 is tolerated ("forgot to set AF_INET").
        Assert.Equal(8, SocketCalls.Sendto(f, raw, EchoRequest(1, 1, 0), 0, new SockAddr(AF_UNSPEC, B, 0, 16)));
        // raw_bind() checks no family.
        Assert.Equal(0, SocketCalls.Bind(f, raw, new SockAddr(AF_INET6, A, 0, 16)));
        Assert.Equal(-Errno.EOPNOTSUPP, SocketCalls.Recv(f, raw, new byte[8], MSG_OOB));
    }

    [Fact]
    public void ConnectedRaw_GetsHardIcmpError()
    {
        using var s = new TwoStacks();
        var f = s.A.Files;
        // B has no handler for protocol 201: it answers protocol unreachable, a hard error.
        int raw = SocketCalls.Socket(f, AF_INET, SOCK_RAW | SOCK_NONBLOCK, 201);
        Assert.Equal(0, SocketCalls.Connect(f, raw, SockAddr.In(B, 0)));
        // At least 8 bytes: icmp_socket_deliver() needs the quoted header plus 8 bytes.
        Assert.Equal(8, SocketCalls.Send(f, raw, new byte[8], 0));
        s.Pump();
        Assert.Equal(-Errno.ENOPROTOOPT, SocketCalls.Recv(f, raw, new byte[64], 0));
    }

    [Fact]
    public void ConnectedPingSocket_GetsHostUnreachableOnlyWithRecvErr()
    {
        // Errors for ping sockets arrive through icmp_err -> ping_err; an unreachable host makes
        // no ICMP here, so check the plumbing with a port unreachable quoting an echo (crafted).
        using var s = new TwoStacks();
        var f = s.A.Files;
        int p = SocketCalls.Socket(f, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, IPPROTO_ICMP);
        Assert.Equal(0, SocketCalls.Connect(f, p, SockAddr.In(B, 0)));
        Assert.Equal(16, SocketCalls.Send(f, p, EchoRequest(0, 1), 0));
        SocketCalls.Getsockname(f, p, out var me);
        s.Pump();
        Assert.Equal(16, SocketCalls.Recv(f, p, new byte[64], 0));
        // B sends A an ICMP "port unreachable" quoting A's echo request with A's identifier.
        int rawB = SocketCalls.Socket(s.B.Files, AF_INET, SOCK_RAW, IPPROTO_ICMP);
        var quoted = new byte[20 + 8];
        var qip = Ipv4Header.Create(quoted);
        new Ipv4Repr(A, B, (byte)IPPROTO_ICMP, 8).Emit(qip);
        var qicmp = IcmpHeader.Create(quoted.AsSpan(20));
        qicmp.Type = IcmpType.Echo;
        qicmp.EchoId = me.Port;
        var err = new byte[8 + quoted.Length];
        var eh = IcmpHeader.Create(err);
        eh.Type = IcmpType.DestUnreach;
        eh.Code = IcmpType.PortUnreach;
        quoted.CopyTo(err, 8);
        eh.FillChecksum();
        Assert.Equal(err.Length, SocketCalls.Sendto(s.B.Files, rawB, err, 0, SockAddr.In(A, 0)));
        s.Pump();
        Assert.Equal(-Errno.ECONNREFUSED, SocketCalls.Recv(f, p, new byte[64], 0));
    }
}
