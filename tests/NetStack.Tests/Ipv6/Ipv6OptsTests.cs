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
/// IPV6_DONTFRAG, IPV6_RECVPATHMTU / IPV6_PATHMTU, the sticky IPV6_PKTINFO and IPV6_MINHOPCOUNT
/// (issue 11) between two stacks on a MemoryLink of MTU 1500. The expected errno and control
/// message bytes are what Linux 6.18 answered to the same calls (a veth of MTU 1400 in a scratch
/// namespace: 1352 bytes of UDP data fit, 1353 are EMSGSIZE with ip6_mtuinfo {AF_INET6, 0, 0,
/// the destination, scope 0, 1400}).
/// </summary>
public class Ipv6OptsTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly UInt128 GA = Ipv6Address.Parse("fd00:9::1"), GB = Ipv6Address.Parse("fd00:9::2");
    private const ushort PortB = 7870;

    private static TwoStacks Stacks()
    {
        var s = new TwoStacks();
        s.A.AddIpv6Address(s.Link.A, IPAddress.Parse("fd00:9::1"), 64);
        s.B.AddIpv6Address(s.Link.B, IPAddress.Parse("fd00:9::2"), 64);
        s.Pump();
        return s;
    }

    private static int Udp6(NetNamespace net) => SocketCalls.Socket(net.Files, AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK, 0);

    private static byte[] Cmsg(int level, int type, ReadOnlySpan<byte> data)
    {
        var b = new byte[NetStack.Uapi.Cmsg.Space(data.Length)];
        BinaryPrimitives.WriteUInt64LittleEndian(b, (ulong)NetStack.Uapi.Cmsg.Len(data.Length));
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(8), level);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(12), type);
        data.CopyTo(b.AsSpan(NetStack.Uapi.Cmsg.HeaderSize));
        return b;
    }

    private static byte[] Pktinfo(UInt128 addr, int ifindex)
    {
        var p = new byte[20];
        Ipv6Address.Write(p, addr);
        BinaryPrimitives.WriteInt32LittleEndian(p.AsSpan(16), ifindex);
        return p;
    }

    /// <summary>struct ip6_mtuinfo as Linux lays it out: sockaddr_in6 (family, port, flowinfo, address, scope id), then the MTU.</summary>
    private static byte[] Mtuinfo(ushort family, UInt128 addr, uint scope, uint mtu)
    {
        var b = new byte[32];
        BinaryPrimitives.WriteUInt16LittleEndian(b, family);
        Ipv6Address.Write(b.AsSpan(8), addr);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(24), scope);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(28), mtu);
        return b;
    }

    private static int Get(NetNamespace net, int fd, int optname)
    {
        int r = SocketCalls.Getsockopt(net.Files, fd, SOL_IPV6, optname, out int v);
        return r < 0 ? r : v;
    }

    private static int SendTo(NetNamespace net, int fd, int len, byte[]? control = null, ushort port = PortB)
    {
        var msg = new MsgHdr { HasName = true, Name = SockAddr.In6(GB, port), Control = control ?? [] };
        return SocketCalls.Sendmsg(net.Files, fd, ref msg, new byte[len], 0);
    }

    // ------------------------------------------------------------------ setsockopt / getsockopt

    [Fact]
    public void Dontfrag_TakesAnyLength_AShortValueIsZero()
    {
        using var s = Stacks();
        int u = Udp6(s.A);
        Assert.Equal(0, Get(s.A, u, IPV6_DONTFRAG));
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, u, SOL_IPV6, IPV6_DONTFRAG, 5));
        Assert.Equal(1, Get(s.A, u, IPV6_DONTFRAG));
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, u, SOL_IPV6, IPV6_DONTFRAG, [1]));
        Assert.Equal(0, Get(s.A, u, IPV6_DONTFRAG));
    }

    [Theory]
    [InlineData(-1, -Errno.EINVAL)]
    [InlineData(256, -Errno.EINVAL)]
    [InlineData(0, 0)]
    [InlineData(255, 0)]
    public void MinHopcount_IsZeroTo255(int val, int expect)
    {
        using var s = Stacks();
        int t = SocketCalls.Socket(s.A.Files, AF_INET6, SOCK_STREAM, 0);
        Assert.Equal(expect, SocketCalls.Setsockopt(s.A.Files, t, SOL_IPV6, IPV6_MINHOPCOUNT, val));
        Assert.Equal(expect == 0 ? val : 0, Get(s.A, t, IPV6_MINHOPCOUNT));
        Assert.Equal(-Errno.EINVAL, SocketCalls.Setsockopt(s.A.Files, t, SOL_IPV6, IPV6_MINHOPCOUNT, [1, 0, 0]));
    }

    [Fact]
    public void RecvPathMtu_WantsAnInt_PathMtu_IsReadOnly_AndWantsTheWholeStruct()
    {
        using var s = Stacks();
        int u = Udp6(s.A);
        Assert.Equal(-Errno.EINVAL, SocketCalls.Setsockopt(s.A.Files, u, SOL_IPV6, IPV6_RECVPATHMTU, [1]));
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, u, SOL_IPV6, IPV6_RECVPATHMTU, 7));
        Assert.Equal(1, Get(s.A, u, IPV6_RECVPATHMTU));
        Assert.Equal(-Errno.ENOPROTOOPT, SocketCalls.Setsockopt(s.A.Files, u, SOL_IPV6, IPV6_PATHMTU, 1));

        var info = new byte[40];
        int len = 31;
        Assert.Equal(-Errno.EINVAL, SocketCalls.Getsockopt(s.A.Files, u, SOL_IPV6, IPV6_PATHMTU, info, ref len));
        len = 32;
        Assert.Equal(-Errno.ENOTCONN, SocketCalls.Getsockopt(s.A.Files, u, SOL_IPV6, IPV6_PATHMTU, info, ref len));

        Assert.Equal(0, SocketCalls.Connect(s.A.Files, u, SockAddr.In6(GB, PortB)));
        len = 40;
        Assert.Equal(0, SocketCalls.Getsockopt(s.A.Files, u, SOL_IPV6, IPV6_PATHMTU, info, ref len));
        Assert.Equal(32, len);
        Assert.Equal(Mtuinfo(0, 0, 0, 1500), info[..32]); // only ip6m_mtu is filled in
        len = 31;
        Assert.Equal(-Errno.EINVAL, SocketCalls.Getsockopt(s.A.Files, u, SOL_IPV6, IPV6_PATHMTU, info, ref len));
    }

    [Fact]
    public void StickyPktinfo_WantsTheWholeStruct_AndTheBoundDevice_ButNotAnOwnAddress()
    {
        using var s = Stacks();
        int u = Udp6(s.A);
        var foreign = Pktinfo(Ipv6Address.Parse("2001:db8::1"), 0);
        Assert.Equal(-Errno.EINVAL, SocketCalls.Setsockopt(s.A.Files, u, SOL_IPV6, IPV6_PKTINFO, ReadOnlySpan<byte>.Empty));
        Assert.Equal(-Errno.EINVAL, SocketCalls.Setsockopt(s.A.Files, u, SOL_IPV6, IPV6_PKTINFO, foreign[..19]));
        // Linux checks neither the address nor that the interface exists here (the send meets them).
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, u, SOL_IPV6, IPV6_PKTINFO, foreign));
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, u, SOL_IPV6, IPV6_PKTINFO, [.. foreign, 0, 0, 0, 0]));
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, u, SOL_IPV6, IPV6_PKTINFO, Pktinfo(0, 99)));
        var buf = new byte[20];
        int len = 20;
        Assert.Equal(-Errno.ENOPROTOOPT, SocketCalls.Getsockopt(s.A.Files, u, SOL_IPV6, IPV6_PKTINFO, buf, ref len));

        // sk_dev_equal_l3scope(): a socket bound to a device takes that device only, not 0.
        int bound = Udp6(s.A);
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, bound, SOL_SOCKET, SO_BINDTOIFINDEX, s.Link.A.IfIndex));
        Assert.Equal(-Errno.EINVAL, SocketCalls.Setsockopt(s.A.Files, bound, SOL_IPV6, IPV6_PKTINFO, Pktinfo(0, 0)));
        Assert.Equal(-Errno.EINVAL, SocketCalls.Setsockopt(s.A.Files, bound, SOL_IPV6, IPV6_PKTINFO, Pktinfo(0, s.A.Loopback.IfIndex)));
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, bound, SOL_IPV6, IPV6_PKTINFO, Pktinfo(0, s.Link.A.IfIndex)));
    }

    // ------------------------------------------------------------------ IPV6_DONTFRAG on the send path

    [Fact]
    public void Dontfrag_UdpDatagramOverThePath_IsEmsgsize_NotFragmented_AndRecvPathMtuTellsTheMtu()
    {
        using var s = Stacks();
        int a = Udp6(s.A);
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, a, SOL_IPV6, IPV6_DONTFRAG, 1));
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, a, SOL_IPV6, IPV6_RECVPATHMTU, 1));
        Assert.Equal(1452, SendTo(s.A, a, 1452)); // 1500 - 40 - 8
        Assert.Equal(-Errno.EMSGSIZE, SendTo(s.A, a, 1453));
        s.Pump();
        Assert.Equal(0L, s.A.Ip6Mib[Ipv6Mib.Ip6FragCreates]);
        Assert.Equal(1L, s.A.Ipv6.Udp6Stats[UdpMib.OutDatagrams]);
        var buf = new byte[100];
        var control = new byte[100];
        var msg = new MsgHdr { HasName = true, Control = control };
        Assert.Equal(-Errno.EAGAIN, SocketCalls.Recvmsg(s.A.Files, a, ref msg, buf, MSG_ERRQUEUE)); // no IPV6_RECVERR: no local error
        msg = new MsgHdr { HasName = true, Control = control };
        Assert.Equal(0, SocketCalls.Recvmsg(s.A.Files, a, ref msg, buf, 0));
        Assert.Equal((GB, (ushort)0, 0u), (msg.Name.Addr6, msg.Name.Port, msg.Name.ScopeId));
        Assert.Equal(Cmsg(SOL_IPV6, IPV6_PATHMTU, Mtuinfo(AF_INET6, GB, 0, 1500)), control[..msg.ControlLen]);
        msg = new MsgHdr { HasName = true, Control = control };
        Assert.Equal(-Errno.EAGAIN, SocketCalls.Recvmsg(s.A.Files, a, ref msg, buf, 0)); // taken once
    }

    [Fact]
    public void Dontfrag_WithRecvErr_QueuesTheLocalError_AndTheNewestPathMtuWins()
    {
        using var s = Stacks();
        int a = Udp6(s.A);
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, a, SOL_IPV6, IPV6_DONTFRAG, 1));
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, a, SOL_IPV6, IPV6_RECVPATHMTU, 1));
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, a, SOL_IPV6, IPV6_RECVERR, 1));
        Assert.Equal(-Errno.EMSGSIZE, SendTo(s.A, a, 2000));
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, a, SOL_IPV6, IPV6_MTU, 1280)); // the cork MTU is IPV6_MTU's
        Assert.Equal(-Errno.EMSGSIZE, SendTo(s.A, a, 1233, port: 9));

        var control = new byte[200];
        var msg = new MsgHdr { HasName = true, Control = control };
        Assert.Equal(0, SocketCalls.Recvmsg(s.A.Files, a, ref msg, new byte[10], MSG_ERRQUEUE));
        var ee = control.AsSpan(NetStack.Uapi.Cmsg.HeaderSize);
        Assert.Equal((Errno.EMSGSIZE, (byte)SO_EE_ORIGIN_LOCAL, 1500u), (BinaryPrimitives.ReadInt32LittleEndian(ee), ee[4], BinaryPrimitives.ReadUInt32LittleEndian(ee[8..])));
        Assert.Equal((GB, PortB), (msg.Name.Addr6, msg.Name.Port));

        msg = new MsgHdr { HasName = true, Control = control };
        Assert.Equal(0, SocketCalls.Recvmsg(s.A.Files, a, ref msg, new byte[10], 0));
        Assert.Equal(Cmsg(SOL_IPV6, IPV6_PATHMTU, Mtuinfo(AF_INET6, GB, 0, 1280)), control[..msg.ControlLen]);
    }

    [Fact]
    public void Dontfrag_AsControlMessage_OverridesTheOption_AndIsZeroOrOne()
    {
        using var s = Stacks();
        int a = Udp6(s.A);
        var df1 = Cmsg(SOL_IPV6, IPV6_DONTFRAG, BitConverter.GetBytes(1));
        var df0 = Cmsg(SOL_IPV6, IPV6_DONTFRAG, BitConverter.GetBytes(0));
        Assert.Equal(-Errno.EMSGSIZE, SendTo(s.A, a, 1453, df1));
        Assert.Equal(1452, SendTo(s.A, a, 1452, df1));
        Assert.Equal(-Errno.EINVAL, SendTo(s.A, a, 10, Cmsg(SOL_IPV6, IPV6_DONTFRAG, BitConverter.GetBytes(2))));
        Assert.Equal(-Errno.EINVAL, SendTo(s.A, a, 10, Cmsg(SOL_IPV6, IPV6_DONTFRAG, [1])));
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, a, SOL_IPV6, IPV6_DONTFRAG, 1));
        Assert.Equal(1453, SendTo(s.A, a, 1453, df0)); // fragmented after all
        s.Pump();
        Assert.Equal(2L, s.A.Ip6Mib[Ipv6Mib.Ip6FragCreates]);
        Assert.Equal(1L, s.A.Ip6Mib[Ipv6Mib.Ip6FragOKs]);
    }

    [Fact]
    public void Dontfrag_OnRawSockets_HoldsForUdpIcmpv6AndRaw_NotForOtherProtocols()
    {
        using var s = Stacks();
        foreach (var (proto, refused) in new[] { (IPPROTO_UDP, true), (IPPROTO_ICMPV6, true), (IPPROTO_TCP, false) })
        {
            int r = SocketCalls.Socket(s.A.Files, AF_INET6, SOCK_RAW | SOCK_NONBLOCK, proto);
            Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, r, SOL_IPV6, IPV6_DONTFRAG, 1));
            Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, r, SOL_IPV6, IPV6_RECVPATHMTU, 1));
            Assert.Equal(refused ? -Errno.EMSGSIZE : 1500, SocketCalls.Sendto(s.A.Files, r, new byte[1500], 0, SockAddr.In6(GB, 0)));
            Assert.Equal(1460, SocketCalls.Sendto(s.A.Files, r, new byte[1460], 0, SockAddr.In6(GB, 0)));
            var control = new byte[100];
            var msg = new MsgHdr { HasName = true, Control = control };
            int n = SocketCalls.Recvmsg(s.A.Files, r, ref msg, new byte[10], 0);
            if (refused)
            {
                Assert.Equal(0, n);
                Assert.Equal(Cmsg(SOL_IPV6, IPV6_PATHMTU, Mtuinfo(AF_INET6, GB, 0, 1500)), control[..msg.ControlLen]);
            }
            else
            {
                Assert.Equal(-Errno.EAGAIN, n);
            }
            Assert.Equal(0, SocketCalls.Close(s.A.Files, r));
        }
    }

    [Fact]
    public void Dontfrag_RefusedSendAndPathMtuRead_AllocateZeroBytes()
    {
        using var s = Stacks();
        int a = Udp6(s.A);
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, a, SOL_IPV6, IPV6_DONTFRAG, 1));
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, a, SOL_IPV6, IPV6_RECVPATHMTU, 1));
        Assert.Equal(0, SocketCalls.Connect(s.A.Files, a, SockAddr.In6(GB, PortB)));
        var big = new byte[1453];
        var buf = new byte[10];
        var control = new byte[100];
        int controlLen = 0;
        void Step()
        {
            if (SocketCalls.Send(s.A.Files, a, big, 0) != -Errno.EMSGSIZE) throw new InvalidOperationException("send");
            var msg = new MsgHdr { Control = control };
            if (SocketCalls.Recvmsg(s.A.Files, a, ref msg, buf, 0) != 0) throw new InvalidOperationException("recv");
            controlLen = msg.ControlLen;
        }
        for (int i = 0; i < 1000; i++) Step();
        long best = SteadyState.LeastAllocated(() => { for (int i = 0; i < 10_000; i++) Step(); });
        output.WriteLine($"10000 refused IPV6_DONTFRAG sends with their IPV6_PATHMTU read: {best} bytes allocated");
        Assert.Equal(0, best);
        Assert.Equal(Cmsg(SOL_IPV6, IPV6_PATHMTU, Mtuinfo(AF_INET6, GB, 0, 1500)), control[..controlLen]);
    }

    // ------------------------------------------------------------------ sticky IPV6_PKTINFO on the send path

    [Fact]
    public void StickyPktinfo_Interface_RoutesLaterSends_TheAddressDoesNot()
    {
        using var s = Stacks();
        int b = Udp6(s.B);
        Assert.Equal(0, SocketCalls.Bind(s.B.Files, b, SockAddr.In6(0, PortB)));
        int a = Udp6(s.A);
        // The loopback device has no route to GB (Linux: ENETUNREACH).
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, a, SOL_IPV6, IPV6_PKTINFO, Pktinfo(0, s.A.Loopback.IfIndex)));
        Assert.Equal(-Errno.ENETUNREACH, SendTo(s.A, a, 3));
        // The link's interface with a foreign address: the datagram leaves from GA all the same.
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, a, SOL_IPV6, IPV6_PKTINFO, Pktinfo(Ipv6Address.Parse("2001:db8::1"), s.Link.A.IfIndex)));
        Assert.Equal(3, SendTo(s.A, a, 3));
        s.Pump();
        Assert.Equal(3, SocketCalls.Recvfrom(s.B.Files, b, new byte[10], 0, out var from));
        Assert.Equal(GA, from.Addr6);
    }

    // ------------------------------------------------------------------ IPV6_MINHOPCOUNT (GTSM)

    [Fact]
    public void MinHopcount_ListenerDropsSynsFromFurtherAway_AndCountsThem()
    {
        using var s = Stacks();
        int l = SocketCalls.Socket(s.B.Files, AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);
        Assert.Equal(0, SocketCalls.Bind(s.B.Files, l, SockAddr.In6(GB, 7871)));
        Assert.Equal(0, SocketCalls.Listen(s.B.Files, l, 4));
        Assert.Equal(0, SocketCalls.Setsockopt(s.B.Files, l, SOL_IPV6, IPV6_MINHOPCOUNT, 255));
        int c = SocketCalls.Socket(s.A.Files, AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, c, SOL_IPV6, IPV6_UNICAST_HOPS, 254));
        Assert.Equal(-Errno.EINPROGRESS, SocketCalls.Connect(s.A.Files, c, SockAddr.In6(GB, 7871)));
        s.Pump();
        Assert.Equal(1L, s.B.Mib.TcpExt[LinuxMib.TCPMinTTLDrop]);
        Assert.Equal(0L, s.B.Mib.Tcp[TcpMib.OutRsts]);
        Assert.Equal(-Errno.EAGAIN, SocketCalls.Accept4(s.B.Files, l, out _, SOCK_NONBLOCK));

        // Within the radius (a directly connected peer sends with 255): accepted.
        int c2 = SocketCalls.Socket(s.A.Files, AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, c2, SOL_IPV6, IPV6_UNICAST_HOPS, 255));
        Assert.Equal(-Errno.EINPROGRESS, SocketCalls.Connect(s.A.Files, c2, SockAddr.In6(GB, 7871)));
        s.Pump();
        int acc = SocketCalls.Accept4(s.B.Files, l, out var peer, SOCK_NONBLOCK);
        Assert.True(acc >= 0, $"accept: {acc}");
        Assert.Equal(255, Get(s.B, acc, IPV6_MINHOPCOUNT)); // the child copies the listener's ipv6_pinfo
        Assert.Equal(1L, s.B.Mib.TcpExt[LinuxMib.TCPMinTTLDrop]);
    }

    [Fact]
    public void MinHopcount_EstablishedSocketDropsSegmentsFromFurtherAway()
    {
        using var s = TcpIpv6Tests.Stacks();
        var (_, cfd, afd) = TcpIpv6Tests.Connect6(s, 7872);
        Assert.Equal(0, SocketCalls.Setsockopt(s.B.Files, afd, SOL_IPV6, IPV6_MINHOPCOUNT, 65));
        Assert.Equal(3, SocketCalls.Send(s.A.Files, cfd, "abc"u8.ToArray(), 0)); // hop limit 64
        s.Pump();
        Assert.Equal(1L, s.B.Mib.TcpExt[LinuxMib.TCPMinTTLDrop]);
        Assert.Equal(-Errno.EAGAIN, SocketCalls.Recv(s.B.Files, afd, new byte[10], 0));

        Assert.Equal(0, SocketCalls.Setsockopt(s.B.Files, afd, SOL_IPV6, IPV6_MINHOPCOUNT, 64));
        s.RunFor(3000); // the retransmission gets through
        var buf = new byte[10];
        Assert.Equal(3, SocketCalls.Recv(s.B.Files, afd, buf, 0));
        Assert.Equal("abc"u8.ToArray(), buf[..3]);
    }
}
