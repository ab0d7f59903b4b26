using System.Buffers.Binary;
using System.Net;
using NetStack.Core;
using NetStack.Ipv6;
using NetStack.Net;
using NetStack.Uapi;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Ipv6;

/// <summary>
/// Raw IPv6 sockets between two stacks (net/ipv6/raw.c): the kernel-built header with the
/// checksum at IPV6_CHECKSUM's offset (always 2 for ICMPv6), IPV6_HDRINCL, delivery to every
/// matching socket with the ICMPv6 filter, and the IPV6_RECV* control messages of recvmsg.
/// </summary>
public class Raw6Tests
{
    private static readonly UInt128 GA = Ipv6Address.Parse("fd00:9::1"), GB = Ipv6Address.Parse("fd00:9::2");

    private static TwoStacks Stacks()
    {
        var s = new TwoStacks();
        s.A.AddIpv6Address(s.Link.A, IPAddress.Parse("fd00:9::1"), 64);
        s.B.AddIpv6Address(s.Link.B, IPAddress.Parse("fd00:9::2"), 64);
        return s;
    }

    private static int Raw6(NetNamespace net, int proto) => SocketCalls.Socket(net.Files, AF_INET6, SOCK_RAW | SOCK_NONBLOCK, proto);

    /// <summary>ICMP6_FILTER_SETBLOCKALL then ICMP6_FILTER_SETPASS(<paramref name="type"/>): the neighbour discovery around the test stays out.</summary>
    private static void PassOnly(NetNamespace net, int fd, byte type)
    {
        var filter = new byte[32];
        filter.AsSpan().Fill(0xFF);
        filter[type >> 3] &= (byte)~(1 << (type & 7));
        Assert.Equal(0, SocketCalls.Setsockopt(net.Files, fd, SOL_ICMPV6, ICMPV6_FILTER, filter));
    }

    private static byte[] EchoRequest(ushort id, ushort seq, int dataLen)
    {
        var b = new byte[8 + dataLen];
        b[0] = Icmpv6Type.EchoRequest;
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(4), id);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(6), seq);
        Core.Pkt.PingData(dataLen).CopyTo(b, 8);
        return b;
    }

    [Fact]
    public void IcmpSocket_SendsAnEchoTheKernelChecksums_AndReceivesTheReplyWithoutTheIpv6Header()
    {
        using var s = Stacks();
        int r = Raw6(s.A, IPPROTO_ICMPV6);
        PassOnly(s.A, r, Icmpv6Type.EchoReply);
        var req = EchoRequest(0x4242, 7, 100);
        Assert.Equal(req.Length, SocketCalls.Sendto(s.A.Files, r, req, 0, SockAddr.In6(GB, 0)));
        s.Pump();
        Assert.Equal(1L, s.B.Ipv6.Icmp6Stats[Icmp6Mib.Icmp6InEchos]); // the checksum was right: B answered
        Assert.Equal(0L, s.B.Ipv6.Icmp6Stats[Icmp6Mib.Icmp6InCsumErrors]);
        Assert.Equal(1L, s.A.Ipv6.Icmp6Stats[Icmp6Mib.Icmp6OutEchos]);
        var buf = new byte[500];
        int n = SocketCalls.Recvfrom(s.A.Files, r, buf, 0, out var from);
        Assert.Equal(req.Length, n);
        Assert.Equal((GB, (ushort)0), (from.Addr6, from.Port));
        Assert.Equal(Icmpv6Type.EchoReply, buf[0]);
        Assert.Equal(req[4..], buf[4..n]); // identifier, sequence and data back
        Assert.Equal(0, Checksum.TcpUdpV6(GB, GA, NextHdr.Icmp, buf.AsSpan(0, n)));
    }

    [Fact]
    public void IcmpFilter_BlocksTheTypesItsBitsSay()
    {
        using var s = Stacks();
        int blocked = Raw6(s.A, IPPROTO_ICMPV6), open = Raw6(s.A, IPPROTO_ICMPV6);
        // The bit of a type blocks it (ICMP6_FILTER_WILLBLOCK): the neighbour advertisement that comes
        // first is blocked on both, the echo reply only on the one whose bit 129 is set.
        PassOnly(s.A, open, Icmpv6Type.EchoReply);
        var filter = new byte[32];
        filter.AsSpan().Fill(0xFF);
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, blocked, SOL_ICMPV6, ICMPV6_FILTER, filter));
        var back = new byte[40];
        int len = back.Length;
        Assert.Equal(0, SocketCalls.Getsockopt(s.A.Files, blocked, SOL_ICMPV6, ICMPV6_FILTER, back, ref len));
        Assert.Equal(32, len);
        Assert.Equal(filter, back[..32]);
        Assert.Equal(9, SocketCalls.Sendto(s.A.Files, open, EchoRequest(1, 1, 1), 0, SockAddr.In6(GB, 0)));
        s.Pump();
        var buf = new byte[100];
        Assert.Equal(9, SocketCalls.Recv(s.A.Files, open, buf, 0));
        Assert.Equal(-Errno.EAGAIN, SocketCalls.Recv(s.A.Files, blocked, buf, 0));
        // ICMPV6_FILTER on a socket of another protocol is not supported.
        Assert.Equal(-Errno.EOPNOTSUPP, SocketCalls.Setsockopt(s.A.Files, Raw6(s.A, 253), SOL_ICMPV6, ICMPV6_FILTER, filter));
    }

    [Fact]
    public void ChecksumOption_KernelChecksumsOnSend_AndDropsABadOneOnReceive()
    {
        using var s = Stacks();
        int tx = Raw6(s.A, 253), rx = Raw6(s.B, 253), plain = Raw6(s.B, 253);
        Assert.Equal(0, SocketCalls.Getsockopt(s.A.Files, tx, SOL_IPV6, IPV6_CHECKSUM, out int off));
        Assert.Equal(-1, off);
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, tx, SOL_IPV6, IPV6_CHECKSUM, 4));
        Assert.Equal(0, SocketCalls.Setsockopt(s.B.Files, rx, SOL_RAW, IPV6_CHECKSUM, 4));
        var data = new byte[20];
        for (int i = 0; i < data.Length; i++) data[i] = (byte)(i + 1);
        Assert.Equal(20, SocketCalls.Sendto(s.A.Files, tx, data, 0, SockAddr.In6(GB, 0)));
        s.Pump();
        var buf = new byte[100];
        Assert.Equal(20, SocketCalls.Recv(s.B.Files, rx, buf, 0));
        Assert.Equal(0, Checksum.TcpUdpV6(GA, GB, 253, buf.AsSpan(0, 20)));
        Assert.Equal(data[..4], buf[..4]);
        Assert.Equal(data[6..], buf[6..20]);
        Assert.Equal(20, SocketCalls.Recv(s.B.Files, plain, buf, 0));

        // Without the option the data leaves as it is: the checksumming receiver drops it, the other takes it.
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, tx, SOL_IPV6, IPV6_CHECKSUM, -1));
        Assert.Equal(20, SocketCalls.Sendto(s.A.Files, tx, data, 0, SockAddr.In6(GB, 0)));
        s.Pump();
        Assert.Equal(-Errno.EAGAIN, SocketCalls.Recv(s.B.Files, rx, buf, 0));
        Assert.Equal(20, SocketCalls.Recv(s.B.Files, plain, buf, 0));
        Assert.Equal(data, buf[..20]);
        // The offset must leave room for two bytes.
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, tx, SOL_IPV6, IPV6_CHECKSUM, 18));
        Assert.Equal(-Errno.EINVAL, SocketCalls.Sendto(s.A.Files, tx, data[..19], 0, SockAddr.In6(GB, 0)));
        Assert.Equal(20, SocketCalls.Sendto(s.A.Files, tx, data, 0, SockAddr.In6(GB, 0)));
    }

    [Fact]
    public void ChecksumOption_Errors_AsLinux()
    {
        using var s = Stacks();
        int icmp = Raw6(s.A, IPPROTO_ICMPV6), other = Raw6(s.A, 253);
        Assert.Equal(0, SocketCalls.Getsockopt(s.A.Files, icmp, SOL_IPV6, IPV6_CHECKSUM, out int off));
        Assert.Equal(2, off);
        Assert.Equal(-Errno.EINVAL, SocketCalls.Setsockopt(s.A.Files, icmp, SOL_IPV6, IPV6_CHECKSUM, 4)); // RFC 3542
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, icmp, SOL_RAW, IPV6_CHECKSUM, 4));
        Assert.Equal(-Errno.EINVAL, SocketCalls.Setsockopt(s.A.Files, other, SOL_IPV6, IPV6_CHECKSUM, 3)); // odd
        Assert.Equal(-Errno.EINVAL, SocketCalls.Setsockopt(s.A.Files, other, SOL_IPV6, IPV6_CHECKSUM, new byte[2]));
        Assert.Equal(-Errno.ENOPROTOOPT, SocketCalls.Setsockopt(s.A.Files, other, SOL_RAW, 99, 0));
        // An ICMPv6 message shorter than its checksum's end.
        Assert.Equal(-Errno.EINVAL, SocketCalls.Sendto(s.A.Files, Raw6(s.A, IPPROTO_ICMPV6), new byte[3], 0, SockAddr.In6(GB, 0)));
        // The port of the destination is the next header: only the socket's own, unless it is IPPROTO_RAW.
        Assert.Equal(-Errno.EINVAL, SocketCalls.Sendto(s.A.Files, other, new byte[8], 0, SockAddr.In6(GB, 17)));
    }

    [Fact]
    public void Hdrincl_SendsTheCallersPacket_AUdpDatagramArrives()
    {
        using var s = Stacks();
        int raw = Raw6(s.A, IPPROTO_RAW); // IPPROTO_RAW implies IPV6_HDRINCL
        Assert.Equal(0, SocketCalls.Getsockopt(s.A.Files, raw, SOL_IPV6, IPV6_HDRINCL, out int hdrincl));
        Assert.Equal(1, hdrincl);
        int ub = SocketCalls.Socket(s.B.Files, AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        Assert.Equal(0, SocketCalls.Bind(s.B.Files, ub, SockAddr.In6(UInt128.Zero, 7820)));
        var udp = new byte[8 + 5];
        BinaryPrimitives.WriteUInt16BigEndian(udp, 7821);
        BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(2), 7820);
        BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(4), (ushort)udp.Length);
        "hello"u8.CopyTo(udp.AsSpan(8));
        BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(6), Checksum.TcpUdpV6(GA, GB, NextHdr.Udp, udp));
        var pkt = Pkt6.Ip6(GA, GB, NextHdr.Udp, udp, hopLimit: 9, tclass: 0x20);
        Assert.Equal(pkt.Length, SocketCalls.Sendto(s.A.Files, raw, pkt, 0, SockAddr.In6(GB, 0)));
        Assert.Equal(-Errno.EINVAL, SocketCalls.Sendto(s.A.Files, raw, pkt[..39], 0, SockAddr.In6(GB, 0)));
        Assert.Equal(-Errno.EMSGSIZE, SocketCalls.Sendto(s.A.Files, raw, new byte[1501], 0, SockAddr.In6(GB, 0)));
        s.Pump();

        Assert.Equal(0, SocketCalls.Setsockopt(s.B.Files, ub, SOL_IPV6, IPV6_RECVPKTINFO, 1));
        Assert.Equal(0, SocketCalls.Setsockopt(s.B.Files, ub, SOL_IPV6, IPV6_RECVHOPLIMIT, 1));
        Assert.Equal(0, SocketCalls.Setsockopt(s.B.Files, ub, SOL_IPV6, IPV6_RECVTCLASS, 1));
        var buf = new byte[100];
        var control = new byte[200];
        var msg = new MsgHdr { HasName = true, Control = control };
        Assert.Equal(5, SocketCalls.Recvmsg(s.B.Files, ub, ref msg, buf, 0));
        Assert.Equal("hello"u8.ToArray(), buf[..5]);
        Assert.Equal((GA, (ushort)7821), (msg.Name.Addr6, msg.Name.Port));
        var expect = new List<byte>();
        var pktinfo = new byte[20];
        Ipv6Address.Write(pktinfo, GB);
        BinaryPrimitives.WriteInt32LittleEndian(pktinfo.AsSpan(16), s.Link.B.IfIndex);
        expect.AddRange(CmsgBytes(SOL_IPV6, IPV6_PKTINFO, pktinfo));
        expect.AddRange(CmsgBytes(SOL_IPV6, IPV6_HOPLIMIT, BitConverter.GetBytes(9)));
        expect.AddRange(CmsgBytes(SOL_IPV6, IPV6_TCLASS, BitConverter.GetBytes(0x20)));
        Assert.Equal(expect.ToArray(), control[..msg.ControlLen]);
    }

    [Fact]
    public void RecvOptions_ReadBack_AndGiveControlMessagesOnRawSockets()
    {
        using var s = Stacks();
        int r = Raw6(s.A, IPPROTO_ICMPV6);
        PassOnly(s.A, r, Icmpv6Type.EchoReply);
        Assert.Equal(0, SocketCalls.Getsockopt(s.A.Files, r, SOL_IPV6, IPV6_RECVHOPLIMIT, out int v));
        Assert.Equal(0, v);
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, r, SOL_IPV6, IPV6_RECVHOPLIMIT, 5));
        Assert.Equal(0, SocketCalls.Getsockopt(s.A.Files, r, SOL_IPV6, IPV6_RECVHOPLIMIT, out v));
        Assert.Equal(1, v);
        Assert.Equal(-Errno.EINVAL, SocketCalls.Setsockopt(s.A.Files, r, SOL_IPV6, IPV6_RECVPKTINFO, new byte[2]));
        Assert.Equal(9, SocketCalls.Sendto(s.A.Files, r, EchoRequest(3, 3, 1), 0, SockAddr.In6(GB, 0)));
        s.Pump();
        var buf = new byte[100];
        var control = new byte[100];
        var msg = new MsgHdr { Control = control };
        Assert.Equal(9, SocketCalls.Recvmsg(s.A.Files, r, ref msg, buf, 0));
        Assert.Equal(CmsgBytes(SOL_IPV6, IPV6_HOPLIMIT, BitConverter.GetBytes(64)), control[..msg.ControlLen]);
    }

    [Fact]
    public void SendControlMessages_SetTheHopLimitTrafficClassAndSource_OfOneDatagram()
    {
        using var s = Stacks();
        s.A.AddIpv6Address(s.Link.A, IPAddress.Parse("fd00:9::11"), 64);
        int ua = SocketCalls.Socket(s.A.Files, AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        int ub = SocketCalls.Socket(s.B.Files, AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        Assert.Equal(0, SocketCalls.Bind(s.B.Files, ub, SockAddr.In6(UInt128.Zero, 7830)));
        Assert.Equal(0, SocketCalls.Setsockopt(s.B.Files, ub, SOL_IPV6, IPV6_RECVHOPLIMIT, 1));
        Assert.Equal(0, SocketCalls.Setsockopt(s.B.Files, ub, SOL_IPV6, IPV6_RECVTCLASS, 1));
        var pktinfo = new byte[20];
        Ipv6Address.Write(pktinfo, Ipv6Address.Parse("fd00:9::11"));
        var control = new List<byte>();
        control.AddRange(CmsgBytes(SOL_IPV6, IPV6_HOPLIMIT, BitConverter.GetBytes(7)));
        control.AddRange(CmsgBytes(SOL_IPV6, IPV6_TCLASS, BitConverter.GetBytes(0x28)));
        control.AddRange(CmsgBytes(SOL_IPV6, IPV6_PKTINFO, pktinfo));
        Assert.Equal(3, SendWith(s.A, ua, control.ToArray()));
        Assert.Equal(3, SendWith(s.A, ua, [])); // the next datagram is back to the socket's defaults
        s.Pump();
        var buf = new byte[100];
        var rcontrol = new byte[100];
        var msg = new MsgHdr { HasName = true, Control = rcontrol };
        Assert.Equal(3, SocketCalls.Recvmsg(s.B.Files, ub, ref msg, buf, 0));
        Assert.Equal(Ipv6Address.Parse("fd00:9::11"), msg.Name.Addr6);
        Assert.Equal([.. CmsgBytes(SOL_IPV6, IPV6_HOPLIMIT, BitConverter.GetBytes(7)), .. CmsgBytes(SOL_IPV6, IPV6_TCLASS, BitConverter.GetBytes(0x28))], rcontrol[..msg.ControlLen]);
        msg = new MsgHdr { HasName = true, Control = rcontrol };
        Assert.Equal(3, SocketCalls.Recvmsg(s.B.Files, ub, ref msg, buf, 0));
        Assert.Equal(GA, msg.Name.Addr6);
        Assert.Equal([.. CmsgBytes(SOL_IPV6, IPV6_HOPLIMIT, BitConverter.GetBytes(64)), .. CmsgBytes(SOL_IPV6, IPV6_TCLASS, BitConverter.GetBytes(0))], rcontrol[..msg.ControlLen]);
    }

    [Fact]
    public void SendControlMessages_Errors_AsLinux()
    {
        using var s = Stacks();
        int ua = SocketCalls.Socket(s.A.Files, AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        var notOurs = new byte[20];
        Ipv6Address.Write(notOurs, GB);
        var badIf = new byte[20];
        BinaryPrimitives.WriteInt32LittleEndian(badIf.AsSpan(16), 999);
        var ll = new byte[20];
        Ipv6Address.Write(ll, Ipv6Address.LinkLocal(TwoStacks.MacA));
        Assert.Equal(-Errno.EINVAL, SendWith(s.A, ua, CmsgBytes(SOL_IPV6, IPV6_HOPLIMIT, BitConverter.GetBytes(256))));
        Assert.Equal(-Errno.EINVAL, SendWith(s.A, ua, CmsgBytes(SOL_IPV6, IPV6_HOPLIMIT, new byte[8]))); // not exactly an int
        Assert.Equal(-Errno.EINVAL, SendWith(s.A, ua, CmsgBytes(SOL_IPV6, IPV6_TCLASS, BitConverter.GetBytes(-2))));
        Assert.Equal(-Errno.EINVAL, SendWith(s.A, ua, CmsgBytes(SOL_IPV6, IPV6_PKTINFO, notOurs)));
        Assert.Equal(-Errno.ENODEV, SendWith(s.A, ua, CmsgBytes(SOL_IPV6, IPV6_PKTINFO, badIf)));
        Assert.Equal(-Errno.EINVAL, SendWith(s.A, ua, CmsgBytes(SOL_IPV6, IPV6_PKTINFO, ll))); // link-local without an interface
        Assert.Equal(-Errno.EINVAL, SendWith(s.A, ua, CmsgBytes(SOL_IPV6, 9999, BitConverter.GetBytes(0))));
        var truncated = CmsgBytes(SOL_IPV6, IPV6_HOPLIMIT, BitConverter.GetBytes(1));
        BinaryPrimitives.WriteUInt64LittleEndian(truncated, 64); // cmsg_len past the buffer
        Assert.Equal(-Errno.EINVAL, SendWith(s.A, ua, truncated));
        // Another level is passed over; -1 means the default.
        Assert.Equal(3, SendWith(s.A, ua, [.. CmsgBytes(SOL_IP, 99, new byte[4]), .. CmsgBytes(SOL_IPV6, IPV6_HOPLIMIT, BitConverter.GetBytes(-1))]));
    }

    private static int SendWith(NetNamespace net, int fd, byte[] control)
    {
        var msg = new MsgHdr { HasName = true, Name = SockAddr.In6(GB, 7830), Control = control };
        return SocketCalls.Sendmsg(net.Files, fd, ref msg, "abc"u8, 0);
    }

    private static byte[] CmsgBytes(int level, int type, byte[] data)
    {
        var b = new byte[Cmsg.Space(data.Length)];
        BinaryPrimitives.WriteUInt64LittleEndian(b, (ulong)Cmsg.Len(data.Length));
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(8), level);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(12), type);
        data.CopyTo(b, Cmsg.HeaderSize);
        return b;
    }
}
