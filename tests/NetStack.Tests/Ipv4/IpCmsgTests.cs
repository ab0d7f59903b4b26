using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using NetStack.Api;
using NetStack.Core;
using NetStack.Net;
using NetStack.Tests.Udp;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Ipv4;

/// <summary>
/// Ancillary data on receive: IP_PKTINFO, IP_RECVTTL, IP_RECVTOS and IP_RECVORIGDSTADDR on UDP, ping
/// and raw sockets (ip_cmsg_recv_offset, ipv4_pktinfo_prepare, put_cmsg), compared as whole control
/// buffers against the bytes Linux writes.
/// </summary>
public class IpCmsgTests
{
    private static readonly uint A = TwoStacks.AddrA, B = TwoStacks.AddrB;

    private static readonly int[] RecvOptions = [IP_PKTINFO, IP_RECVTTL, IP_RECVTOS, IP_RECVORIGDSTADDR];

    private static void EnableAll(NetNamespace net, int fd)
    {
        foreach (int o in RecvOptions) Assert.Equal(0, SocketCalls.Setsockopt(net.Files, fd, SOL_IP, o, 1));
    }

    /// <summary>One control message as put_cmsg writes it: cmsghdr, data, and (unless <paramref name="last"/>) 0xA5 padding left as it was.</summary>
    private static byte[] Cm(int type, byte[] data, bool pad = true)
    {
        var m = new byte[pad ? Uapi.Cmsg.Space(data.Length) : Uapi.Cmsg.Len(data.Length)];
        m.AsSpan().Fill(0xA5);
        BinaryPrimitives.WriteUInt64LittleEndian(m, (ulong)Uapi.Cmsg.Len(data.Length));
        BinaryPrimitives.WriteInt32LittleEndian(m.AsSpan(8), SOL_IP);
        BinaryPrimitives.WriteInt32LittleEndian(m.AsSpan(12), type);
        data.CopyTo(m, 16);
        return m;
    }

    private static byte[] Int(int v)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(b, v);
        return b;
    }

    private static byte[] Pktinfo(int ifindex, uint specDst, uint addr)
    {
        var b = new byte[12];
        BinaryPrimitives.WriteInt32LittleEndian(b, ifindex);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(4), specDst);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(8), addr);
        return b;
    }

    private static byte[] SockaddrIn(uint addr, ushort port)
    {
        var b = new byte[16];
        BinaryPrimitives.WriteUInt16LittleEndian(b, AF_INET);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(2), port);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(4), addr);
        return b;
    }

    /// <summary>recvmsg into a control buffer of <paramref name="controllen"/> bytes pre-filled with 0xA5.</summary>
    private static (int Ret, int Flags, byte[] Control, SockAddr From) Recvmsg(NetNamespace net, int fd, int controllen, int flags = 0, int len = 100, byte[]? data = null)
    {
        var control = new byte[controllen];
        control.AsSpan().Fill(0xA5);
        var msg = new MsgHdr { HasName = true, Control = control };
        int r = SocketCalls.Recvmsg(net.Files, fd, ref msg, data ?? new byte[len], flags);
        return (r, msg.Flags, control[..msg.ControlLen], msg.Name);
    }

    private static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();

    private static (TwoStacks S, int Rx, int Tx) UdpPair(bool options = true)
    {
        var s = new TwoStacks();
        int rx = UdpTests.Bound(s.B, 0, 6000);
        if (options) EnableAll(s.B, rx);
        int tx = UdpTests.Bound(s.A, 0, 5000);
        return (s, rx, tx);
    }

    [Fact]
    public void Udp_AllFour_InTheKernelsOrder_WithTheKernelsBytes()
    {
        var (s, rx, tx) = UdpPair();
        using var stacks = s;
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, tx, SOL_IP, IP_TOS, 0x10));
        Assert.Equal(3, SocketCalls.Sendto(s.A.Files, tx, "abc"u8, 0, SockAddr.In(B, 6000)));
        s.Pump();
        var (r, flags, control, from) = Recvmsg(s.B, rx, 256);
        Assert.Equal(3, r);
        Assert.Equal(0, flags);
        Assert.Equal((A, (ushort)5000), (from.Addr, from.Port));
        int ifindex = s.Link.B.IfIndex;
        Assert.Equal(2, ifindex); // lo is 1
        // IP_PKTINFO, IP_TTL, IP_TOS, IP_ORIGDSTADDR; the last one's padding counts in msg_controllen too.
        var expected = Concat(
            Cm(IP_PKTINFO, Pktinfo(ifindex, B, B)),
            Cm(IP_TTL, Int(64)),
            Cm(IP_TOS, [0x10]),
            Cm(IP_ORIGDSTADDR, SockaddrIn(B, 6000)));
        Assert.Equal(112, expected.Length);
        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(control));
    }

    [Fact]
    public void Udp_OnlyWhatWasAskedFor_TtlFromTheSendersIpTtl()
    {
        var (s, rx, tx) = UdpPair(options: false);
        using var stacks = s;
        Assert.Equal(0, SocketCalls.Setsockopt(s.B.Files, rx, SOL_IP, IP_RECVTTL, 1));
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, tx, SOL_IP, IP_TTL, 7));
        SocketCalls.Sendto(s.A.Files, tx, "x"u8, 0, SockAddr.In(B, 6000));
        s.Pump();
        var (r, flags, control, _) = Recvmsg(s.B, rx, 256);
        Assert.Equal((1, 0), (r, flags));
        Assert.Equal(Convert.ToHexString(Cm(IP_TTL, Int(7))), Convert.ToHexString(control));
        // No option: no control data, no MSG_CTRUNC even with no buffer.
        Assert.Equal(0, SocketCalls.Setsockopt(s.B.Files, rx, SOL_IP, IP_RECVTTL, 0));
        SocketCalls.Sendto(s.A.Files, tx, "y"u8, 0, SockAddr.In(B, 6000));
        s.Pump();
        (r, flags, control, _) = Recvmsg(s.B, rx, 0);
        Assert.Equal((1, 0, 0), (r, flags, control.Length));
    }

    [Fact]
    public void Udp_PktinfoTurnedOnAfterTheDatagramWasQueued_ReportsIfindexAndSpecDstZero()
    {
        var (s, rx, tx) = UdpPair(options: false);
        using var stacks = s;
        SocketCalls.Sendto(s.A.Files, tx, "x"u8, 0, SockAddr.In(B, 6000));
        s.Pump();
        Assert.Equal(0, SocketCalls.Setsockopt(s.B.Files, rx, SOL_IP, IP_PKTINFO, 1));
        var (_, _, control, _) = Recvmsg(s.B, rx, 64);
        // ipv4_pktinfo_prepare() ran while IP_PKTINFO was off: ifindex 0, spec_dst 0; ipi_addr is read at recvmsg.
        Assert.Equal(Convert.ToHexString(Cm(IP_PKTINFO, Pktinfo(0, 0, B))), Convert.ToHexString(control));
    }

    [Fact]
    public void Udp_ControlBufferTooSmall_MsgCtrunc_AsPutCmsgCutsIt()
    {
        var (s, rx, tx) = UdpPair();
        using var stacks = s;
        for (int i = 0; i < 4; i++) SocketCalls.Sendto(s.A.Files, tx, "x"u8, 0, SockAddr.In(B, 6000));
        s.Pump();
        var pktinfo = Cm(IP_PKTINFO, Pktinfo(2, B, B));

        // No control buffer: nothing written, MSG_CTRUNC, the data still comes.
        var (r, flags, control, _) = Recvmsg(s.B, rx, 0);
        Assert.Equal((1, MSG_CTRUNC, 0), (r, flags, control.Length));

        // Room for IP_PKTINFO and 8 bytes: no header fits after it.
        (r, flags, control, _) = Recvmsg(s.B, rx, 40);
        Assert.Equal((1, MSG_CTRUNC), (r, flags));
        Assert.Equal(Convert.ToHexString(pktinfo), Convert.ToHexString(control));

        // Room for IP_PKTINFO and 18 bytes: IP_TTL is cut to its header and 2 bytes (cmsg_len 18).
        (r, flags, control, _) = Recvmsg(s.B, rx, 50);
        Assert.Equal((1, MSG_CTRUNC), (r, flags));
        var cutTtl = Cm(IP_TTL, Int(64), pad: false)[..18];
        BinaryPrimitives.WriteUInt64LittleEndian(cutTtl, 18);
        Assert.Equal(Convert.ToHexString(Concat(pktinfo, cutTtl)), Convert.ToHexString(control));

        // Exactly enough (the last message's padding need not fit): no MSG_CTRUNC.
        (r, flags, control, _) = Recvmsg(s.B, rx, 32 + 24 + 24 + 32);
        Assert.Equal((1, 0, 112), (r, flags, control.Length));
    }

    [Fact]
    public void Udp_MsgTruncAndCmsgCloexec_ShowInMsgFlags()
    {
        var (s, rx, tx) = UdpPair();
        using var stacks = s;
        SocketCalls.Sendto(s.A.Files, tx, "0123456789"u8, 0, SockAddr.In(B, 6000));
        s.Pump();
        var (r, flags, control, _) = Recvmsg(s.B, rx, 256, MSG_CMSG_CLOEXEC | MSG_PEEK, len: 4);
        Assert.Equal(4, r);
        Assert.Equal(MSG_TRUNC | MSG_CMSG_CLOEXEC, flags); // ____sys_recvmsg keeps MSG_CMSG_CLOEXEC in msg_flags
        Assert.Equal(112, control.Length); // a peek gets the control messages too
        var msg = new MsgHdr();
        Assert.Equal(-Errno.EINVAL, SocketCalls.Recvmsg(s.B.Files, rx, ref msg, Span<byte>.Empty, SocketCalls.MSG_CMSG_COMPAT));
    }

    [Fact]
    public void Udp_OverLoopback_IfindexOfTheAddressesDevice_SpecDstTheDestination()
    {
        using var s = new TwoStacks();
        int rx = UdpTests.Bound(s.A, 0, 6000);
        EnableAll(s.A, rx);
        int tx = UdpTests.UdpSocket(s.A);
        SocketCalls.Sendto(s.A.Files, tx, "x"u8, 0, SockAddr.In(A, 6000));
        SocketCalls.Sendto(s.A.Files, tx, "x"u8, 0, SockAddr.In(Ipv4Address.Loopback, 6000));
        s.Pump();
        var (_, _, c1, _) = Recvmsg(s.A, rx, 256);
        var (_, _, c2, _) = Recvmsg(s.A, rx, 256);
        // To our own address: the device holding it (the output route's rt_iif), not lo, as Linux answers.
        Assert.Equal(Convert.ToHexString(Concat(Cm(IP_PKTINFO, Pktinfo(2, A, A)), Cm(IP_TTL, Int(64)), Cm(IP_TOS, [0]), Cm(IP_ORIGDSTADDR, SockaddrIn(A, 6000)))),
            Convert.ToHexString(c1));
        uint lo = Ipv4Address.Loopback;
        Assert.Equal(Convert.ToHexString(Concat(Cm(IP_PKTINFO, Pktinfo(1, lo, lo)), Cm(IP_TTL, Int(64)), Cm(IP_TOS, [0]), Cm(IP_ORIGDSTADDR, SockaddrIn(lo, 6000)))),
            Convert.ToHexString(c2));
    }

    [Fact]
    public void PingAndRaw_ToOurOwnAddress_PingKeepsLo_RawNamesTheAddressesDevice()
    {
        using var s = new TwoStacks();
        var f = s.A.Files;
        int p = SocketCalls.Socket(f, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, IPPROTO_ICMP);
        int r = SocketCalls.Socket(f, AF_INET, SOCK_RAW | SOCK_NONBLOCK, IPPROTO_ICMP);
        Assert.Equal(0, SocketCalls.Setsockopt(f, p, SOL_IP, IP_PKTINFO, 1));
        Assert.Equal(0, SocketCalls.Setsockopt(f, r, SOL_IP, IP_PKTINFO, 1));
        Assert.Equal(16, SocketCalls.Sendto(f, p, PingRawTests.EchoRequest(1, 1), 0, SockAddr.In(A, 0)));
        s.Pump();
        var expectedPing = Cm(IP_PKTINFO, Pktinfo(1, 0, A));
        var expectedRaw = Cm(IP_PKTINFO, Pktinfo(2, A, A));
        Assert.Equal(Convert.ToHexString(expectedPing), Convert.ToHexString(Recvmsg(s.A, p, 64).Control));
        Assert.Equal(Convert.ToHexString(expectedRaw), Convert.ToHexString(Recvmsg(s.A, r, 64).Control)); // the request
        Assert.Equal(Convert.ToHexString(expectedRaw), Convert.ToHexString(Recvmsg(s.A, r, 64).Control)); // the reply
    }

    [Fact]
    public void Udp_Broadcast_SpecDstIsTheRoutesSource_AddrTheBroadcast()
    {
        using var s = new TwoStacks();
        int rx = UdpTests.Bound(s.B, 0, 6000);
        Assert.Equal(0, SocketCalls.Setsockopt(s.B.Files, rx, SOL_IP, IP_PKTINFO, 1));
        int tx = UdpTests.UdpSocket(s.A);
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, tx, SOL_SOCKET, SO_BROADCAST, 1));
        uint bcast = Ipv4Address.Parse("10.9.0.255");
        Assert.Equal(1, SocketCalls.Sendto(s.A.Files, tx, "x"u8, 0, SockAddr.In(bcast, 6000)));
        s.Pump();
        var (r, _, control, _) = Recvmsg(s.B, rx, 64);
        Assert.Equal(1, r);
        // fib_compute_spec_dst(): the route back to 10.9.0.1 is the connected one, src 10.9.0.2.
        Assert.Equal(Convert.ToHexString(Cm(IP_PKTINFO, Pktinfo(2, B, bcast))), Convert.ToHexString(control));
    }

    [Fact]
    public void Ping_EchoReply_Ttl64_PktinfoWithoutSpecDst_OrigdstPortIsTheChecksum()
    {
        using var s = new TwoStacks();
        var f = s.A.Files;
        int p = SocketCalls.Socket(f, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, IPPROTO_ICMP);
        EnableAll(s.A, p);
        Assert.Equal(16, SocketCalls.Sendto(f, p, PingRawTests.EchoRequest(1, 1), 0, SockAddr.In(B, 0)));
        s.Pump();
        var buf = new byte[64];
        var (n, flags, control, from) = Recvmsg(s.A, p, 256, data: buf);
        Assert.Equal((16, 0, B, (ushort)0), (n, flags, from.Addr, from.Port));
        ushort checksum = BinaryPrimitives.ReadUInt16BigEndian(buf.AsSpan(2));
        // ping_rcv() never prepares pktinfo: the interface from ip_rcv, spec_dst 0.0.0.0, as Linux answers.
        var expected = Concat(Cm(IP_PKTINFO, Pktinfo(2, 0, A)), Cm(IP_TTL, Int(64)), Cm(IP_TOS, [0]), Cm(IP_ORIGDSTADDR, SockaddrIn(A, checksum)));
        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(control));
    }

    [Fact]
    public void Raw_IcmpSocket_PreparedPktinfo_OrigdstFromTheIcmpHeader()
    {
        using var s = new TwoStacks();
        var f = s.A.Files;
        int r = SocketCalls.Socket(f, AF_INET, SOCK_RAW | SOCK_NONBLOCK, IPPROTO_ICMP);
        EnableAll(s.A, r);
        Assert.Equal(16, SocketCalls.Sendto(f, r, PingRawTests.EchoRequest(0x1234, 1), 0, SockAddr.In(B, 0)));
        s.Pump();
        var (n, flags, control, from) = Recvmsg(s.A, r, 256, len: 128);
        Assert.Equal((36, 0, B), (n, flags, from.Addr)); // IP header + echo reply
        var expected = Concat(Cm(IP_PKTINFO, Pktinfo(2, A, A)), Cm(IP_TTL, Int(64)), Cm(IP_TOS, [0]));
        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(control[..expected.Length]));
        Assert.Equal(IP_ORIGDSTADDR, BinaryPrimitives.ReadInt32LittleEndian(control.AsSpan(expected.Length + 12)));
    }

    [Theory]
    [InlineData(IP_PKTINFO)]
    [InlineData(IP_RECVTTL)]
    [InlineData(IP_RECVTOS)]
    [InlineData(IP_RECVORIGDSTADDR)]
    public void Sockopt_ValuesAndLengths_AsIpSetsockopt(int name)
    {
        using var s = new TwoStacks();
        var f = s.A.Files;
        foreach (int fd in new[]
                 {
                     UdpTests.UdpSocket(s.A),
                     SocketCalls.Socket(f, AF_INET, SOCK_DGRAM, IPPROTO_ICMP),
                     SocketCalls.Socket(f, AF_INET, SOCK_RAW, IPPROTO_ICMP),
                     SocketCalls.Socket(f, AF_INET, SOCK_STREAM, 0),
                 })
        {
            Assert.Equal(0, Get(fd, 4, out int len));
            Assert.Equal(4, len);
            Assert.Equal(0, SocketCalls.Setsockopt(f, fd, SOL_IP, name, 5));
            Assert.Equal(1, Get(fd, 4, out _));                                             // any non-zero is on, read back as 1
            Assert.Equal(1, Get(fd, 1, out len));                                           // a short buffer gets one byte
            Assert.Equal(1, len);
            Assert.Equal(0, SocketCalls.Setsockopt(f, fd, SOL_IP, name, ReadOnlySpan<byte>.Empty)); // optlen 0 is value 0
            Assert.Equal(0, Get(fd, 4, out _));
            Assert.Equal(0, SocketCalls.Setsockopt(f, fd, SOL_IP, name, [7]));              // one byte
            Assert.Equal(1, Get(fd, 4, out _));
            Assert.Equal(0, SocketCalls.Setsockopt(f, fd, SOL_IP, name, [0, 1, 0, 0]));     // 256: on
            Assert.Equal(1, Get(fd, 8, out len));
            Assert.Equal(4, len);
            int zero = 0, neg = -1;
            Assert.Equal(0, SocketCalls.Getsockopt(f, fd, SOL_IP, name, Span<byte>.Empty, ref zero));
            Assert.Equal(0, zero);
            Assert.Equal(-Errno.EINVAL, SocketCalls.Getsockopt(f, fd, SOL_IP, name, Span<byte>.Empty, ref neg));
        }

        int Get(int fd, int size, out int optlen)
        {
            var b = new byte[size];
            optlen = size;
            int r = SocketCalls.Getsockopt(f, fd, SOL_IP, name, b, ref optlen);
            Assert.Equal(0, r);
            return optlen >= 4 ? BinaryPrimitives.ReadInt32LittleEndian(b) : b[0];
        }
    }

    [Fact]
    public void CmsgEnumerator_WalksWholeAndCutMessages_StopsAtABadLength()
    {
        var buf = Concat(Cm(IP_PKTINFO, Pktinfo(2, B, B)), Cm(IP_TTL, Int(64)));
        var cut = buf[..50];
        BinaryPrimitives.WriteUInt64LittleEndian(cut.AsSpan(32), 18);
        var seen = new List<(int, int, int, int)>();
        foreach (var c in Uapi.Cmsg.Enumerate(cut)) seen.Add((c.Level, c.Type, c.Length, c.Data.Length));
        Assert.Equal([(SOL_IP, IP_PKTINFO, 28, 12), (SOL_IP, IP_TTL, 18, 2)], seen);
        BinaryPrimitives.WriteUInt64LittleEndian(buf, 8); // cmsg_len below the header's size ends the walk
        Assert.False(Uapi.Cmsg.Enumerate(buf).MoveNext());
        Assert.False(Uapi.Cmsg.Enumerate(new byte[15]).MoveNext());
    }

    // ------------------------------------------------------------------ the managed API

    [Fact]
    public async Task NetSocket_ReceiveMessage_SyncAndAsync_TtlTosPktinfoOrigdst()
    {
        using var s = new TwoStacks();
        using var rx = new NetSocket(s.B, AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        rx.Bind(new IPEndPoint(IPAddress.Any, 6000));
        Assert.False(rx.ReceiveTtl);
        rx.ReceiveTtl = rx.ReceiveTos = rx.ReceivePacketInformation = rx.ReceiveOriginalDestination = true;
        Assert.True(rx.ReceiveTtl && rx.ReceiveTos && rx.ReceivePacketInformation && rx.ReceiveOriginalDestination);
        Assert.Equal(1, rx.GetOption(SOL_IP, IP_PKTINFO));
        using var tx = new NetSocket(s.A, AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        tx.Bind(new IPEndPoint(IPAddress.Any, 5000));
        tx.SetOption(SOL_IP, IP_TOS, 0xb8);
        tx.SendTo("hello"u8, new IPEndPoint(IPAddress.Parse("10.9.0.2"), 6000));
        tx.SendTo("hello"u8, new IPEndPoint(IPAddress.Parse("10.9.0.2"), 6000));
        s.Pump();

        var buf = new byte[3];
        var r = rx.ReceiveMessage(buf);
        Assert.Equal(3, r.ReceivedBytes);
        Assert.Equal(MSG_TRUNC, r.MessageFlags);
        Assert.Equal(SocketFlags.Truncated, r.SocketFlags);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("10.9.0.1"), 5000), r.RemoteEndPoint);
        Assert.Equal(64, r.Ttl);
        Assert.Equal((byte)0xb8, r.Tos);
        var info = Assert.NotNull(r.PacketInformation);
        Assert.Equal(2, info.Interface);
        Assert.Equal(IPAddress.Parse("10.9.0.2"), info.Address);
        Assert.Equal(IPAddress.Parse("10.9.0.2"), info.SpecificDestination);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("10.9.0.2"), 6000), r.OriginalDestination);
        Assert.Equal("3 bytes flags 0x20 from 10.9.0.1:5000 ttl 64 tos 0xb8 ifindex 2 spec_dst 10.9.0.2 addr 10.9.0.2 origdst 10.9.0.2:6000", r.ToString());

        var a = await rx.ReceiveMessageAsync(new byte[100]);
        Assert.Equal((5, 0, 64), (a.ReceivedBytes, a.MessageFlags, a.Ttl));
        Assert.Same(r.RemoteEndPoint, a.RemoteEndPoint); // the same sender: the same endpoint object
        Assert.Equal(info, a.PacketInformation);

        // Nothing queued: the async call waits for the next datagram.
        var pending = rx.ReceiveMessageAsync(new byte[100]);
        Assert.False(pending.IsCompleted);
        rx.ReceiveTtl = false;
        tx.SendTo("x"u8, new IPEndPoint(IPAddress.Parse("10.9.0.2"), 6000));
        s.Pump();
        var w = await pending;
        Assert.Equal(1, w.ReceivedBytes);
        Assert.Null(w.Ttl);
        Assert.Equal((byte)0xb8, w.Tos);

        rx.Blocking = false;
        var e = Assert.Throws<NetStackException>(() => rx.ReceiveMessage(buf));
        Assert.Equal(Errno.EAGAIN, e.Errno);
    }

    [Fact]
    public async Task NetSocket_ReceiveMessageAsync_CancelledWithTheCallersToken_SocketStillUsable()
    {
        using var s = new TwoStacks();
        using var rx = NetSocket.Udp(s.B);
        rx.Bind(new IPEndPoint(IPAddress.Any, 6000));
        rx.ReceiveTtl = true;
        using var cts = new CancellationTokenSource();
        var pending = rx.ReceiveMessageAsync(new byte[16], cts.Token);
        Assert.False(pending.IsCompleted);
        cts.Cancel();
        var e = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending.AsTask().WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(cts.Token, e.CancellationToken);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => rx.ReceiveMessageAsync(new byte[16], cts.Token).AsTask()); // already cancelled: no attempt
        using var tx = NetSocket.Udp(s.A);
        tx.SendTo("x"u8, new IPEndPoint(IPAddress.Parse("10.9.0.2"), 6000));
        s.Pump();
        var r = await rx.ReceiveMessageAsync(new byte[16]).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal((1, 64), (r.ReceivedBytes, r.Ttl));
    }

    [Fact]
    public void NetSocket_PingReceiveMessage_TtlForPing()
    {
        using var s = new TwoStacks();
        using var ping = NetSocket.Ping(s.A);
        ping.ReceiveTtl = true;
        ping.SendTo(PingRawTests.EchoRequest(0, 3), new IPEndPoint(IPAddress.Parse("10.9.0.2"), 0));
        s.Pump();
        var r = ping.ReceiveMessage(new byte[64]);
        Assert.Equal(16, r.ReceivedBytes);
        Assert.Equal(64, r.Ttl);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("10.9.0.2"), 0), r.RemoteEndPoint);
        Assert.Null(r.PacketInformation);
    }
}
