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
/// Path MTU discovery over IPv6 between two stacks: B plays the router and sends A a Packet Too
/// Big through a raw ICMPv6 socket (the kernel checksums it), quoting the datagram A sent; A's
/// route learns the MTU (ip6_update_pmtu / rt6_insert_exception) and its UDP datagrams leave
/// fragmented to fit it.
/// </summary>
public class Pmtu6Tests
{
    private static readonly UInt128 GA = Ipv6Address.Parse("fd00:9::1"), GB = Ipv6Address.Parse("fd00:9::2");
    private const ushort PortB = 7810;

    private static TwoStacks Stacks()
    {
        var s = new TwoStacks();
        s.A.AddIpv6Address(s.Link.A, IPAddress.Parse("fd00:9::1"), 64);
        s.B.AddIpv6Address(s.Link.B, IPAddress.Parse("fd00:9::2"), 64);
        return s;
    }

    private static int Udp6(NetNamespace net) => SocketCalls.Socket(net.Files, AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK, 0);

    /// <summary>The UDP datagram A sent as a router would quote it: IPv6 header, UDP header, then data (a PTB quotes up to 1232 bytes).</summary>
    private static byte[] Quote(UInt128 src, ushort sport, int dataLen)
    {
        var udp = new byte[UdpHeader.Length + dataLen];
        BinaryPrimitives.WriteUInt16BigEndian(udp, sport);
        BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(2), PortB);
        BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(4), (ushort)udp.Length);
        var ip = Pkt6.Ip6(src, GB, NextHdr.Udp, udp);
        return ip[..Math.Min(ip.Length, 1232)];
    }

    /// <summary>B sends A an ICMPv6 Packet Too Big saying <paramref name="mtu"/> about <paramref name="quote"/>, through a raw socket that checksums at offset 2.</summary>
    private static void SendPtb(TwoStacks s, uint mtu, byte[] quote)
    {
        int raw = SocketCalls.Socket(s.B.Files, AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);
        Assert.True(raw >= 0);
        var msg = new byte[8 + quote.Length];
        msg[0] = Icmpv6Type.PktTooBig;
        BinaryPrimitives.WriteUInt32BigEndian(msg.AsSpan(4), mtu);
        quote.CopyTo(msg, 8);
        Assert.Equal(msg.Length, SocketCalls.Sendto(s.B.Files, raw, msg, 0, SockAddr.In6(GA, 0)));
        Assert.Equal(0, SocketCalls.Close(s.B.Files, raw));
        s.Pump();
    }

    private static int PathMtu(NetNamespace net, int fd)
    {
        int r = SocketCalls.Getsockopt(net.Files, fd, SOL_IPV6, IPV6_MTU, out int v);
        return r < 0 ? r : v;
    }

    [Fact]
    public void PacketTooBig_LowersThePathMtu_AndUdpDatagramsLeaveFragmentedToIt()
    {
        using var s = Stacks();
        int a = Udp6(s.A), b = Udp6(s.B);
        Assert.Equal(0, SocketCalls.Bind(s.B.Files, b, SockAddr.In6(UInt128.Zero, PortB)));
        Assert.Equal(0, SocketCalls.Connect(s.A.Files, a, SockAddr.In6(GB, PortB)));
        Assert.Equal(0, SocketCalls.Getsockname(s.A.Files, a, out var me));
        Assert.Equal(1500, PathMtu(s.A, a));

        var payload = Core.Pkt.PingData(1400);
        Assert.Equal(1400, SocketCalls.Send(s.A.Files, a, payload, 0));
        s.Pump();
        Assert.Equal(0L, s.A.Ip6Mib[Ipv6Mib.Ip6FragCreates]);

        SendPtb(s, 1280, Quote(GA, me.Port, 1400));
        Assert.Equal(1L, s.A.Ipv6.Icmp6Stats[Icmp6Mib.Icmp6InPktTooBigs]);
        Assert.Equal(1280, PathMtu(s.A, a));
        // Without IPV6_RECVERR a Packet Too Big is hard (PMTUDISC_WANT) and reported on the connected socket.
        Assert.Equal(0, SocketCalls.Getsockopt(s.A.Files, a, SOL_SOCKET, SO_ERROR, out int soErr));
        Assert.Equal(Errno.EMSGSIZE, soErr);

        Assert.Equal(1400, SocketCalls.Send(s.A.Files, a, payload, 0));
        s.Pump();
        Assert.Equal(2L, s.A.Ip6Mib[Ipv6Mib.Ip6FragCreates]); // 1448 bytes of IPv6 payload in two pieces of at most 1280
        Assert.Equal(1L, s.A.Ip6Mib[Ipv6Mib.Ip6FragOKs]);
        Assert.Equal(1L, s.B.Ip6Mib[Ipv6Mib.Ip6ReasmOKs]);
        var buf = new byte[2000];
        Assert.Equal(1400, SocketCalls.Recvfrom(s.B.Files, b, buf, 0, out _));
        Assert.Equal(1400, SocketCalls.Recvfrom(s.B.Files, b, buf, 0, out var from));
        Assert.Equal(payload, buf[..1400]);
        Assert.Equal(GA, from.Addr6);
    }

    [Fact]
    public void PmtudiscDo_RefusesWhatDoesNotFit_AndRecverrQueuesBothErrors()
    {
        using var s = Stacks();
        // B listens: a port unreachable for the 1452 bytes would be reported (ECONNREFUSED) by the
        // next send, as sock_alloc_send_skb() does in Linux, and queued between the two errors.
        int a = Udp6(s.A), b = Udp6(s.B);
        Assert.Equal(0, SocketCalls.Bind(s.B.Files, b, SockAddr.In6(UInt128.Zero, PortB)));
        Assert.Equal(0, SocketCalls.Connect(s.A.Files, a, SockAddr.In6(GB, PortB)));
        Assert.Equal(0, SocketCalls.Getsockname(s.A.Files, a, out var me));
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, a, SOL_IPV6, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_DO));
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, a, SOL_IPV6, IPV6_RECVERR, 1));
        // The device's MTU: 1500 - 40 - 8 bytes of data fit, one more does not.
        Assert.Equal(1452, SocketCalls.Send(s.A.Files, a, new byte[1452], 0));
        Assert.Equal(-Errno.EMSGSIZE, SocketCalls.Send(s.A.Files, a, new byte[1453], 0));
        var local = RecvErr(s.A, a);
        Assert.Equal((Errno.EMSGSIZE, (byte)SO_EE_ORIGIN_LOCAL, 0u + 1500), (local.Errno, local.Origin, local.Info));
        Assert.Equal((GB, PortB), (local.Name.Addr6, local.Name.Port));

        SendPtb(s, 1300, Quote(GA, me.Port, 1452));
        var icmp = RecvErr(s.A, a);
        Assert.Equal((Errno.EMSGSIZE, (byte)SO_EE_ORIGIN_ICMP6, Icmpv6Type.PktTooBig, (byte)0, 1300u), (icmp.Errno, icmp.Origin, icmp.Type, icmp.Code, icmp.Info));
        Assert.Equal((GB, PortB), (icmp.Name.Addr6, icmp.Name.Port));
        Assert.Equal(GB, icmp.Offender); // the router that said so
        Assert.Equal(1232 - 40 - 8, icmp.DataLen); // the quoted UDP data: the quote ends at 1232 bytes
        Assert.Equal(1300, PathMtu(s.A, a));
        Assert.Equal(-Errno.EMSGSIZE, SocketCalls.Send(s.A.Files, a, new byte[1253], 0));
        Assert.Equal(1252, SocketCalls.Send(s.A.Files, a, new byte[1252], 0));
    }

    private sealed record ErrInfo(int Ret, int Errno, byte Origin, byte Type, byte Code, uint Info, SockAddr Name, UInt128 Offender, int DataLen);

    private static ErrInfo RecvErr(NetNamespace net, int fd)
    {
        var buf = new byte[2000];
        var control = new byte[256];
        var msg = new MsgHdr { HasName = true, Control = control };
        int n = SocketCalls.Recvmsg(net.Files, fd, ref msg, buf, MSG_ERRQUEUE);
        Assert.True(n >= 0, $"recvmsg(MSG_ERRQUEUE) = {n}");
        Assert.Equal(MSG_ERRQUEUE, msg.Flags & MSG_ERRQUEUE);
        var c = control.AsSpan(0, msg.ControlLen);
        Assert.Equal(Cmsg.Space(SockExtendedErrSize + SockaddrIn6Size), c.Length);
        Assert.Equal((ulong)Cmsg.Len(SockExtendedErrSize + SockaddrIn6Size), BinaryPrimitives.ReadUInt64LittleEndian(c));
        Assert.Equal((SOL_IPV6, IPV6_RECVERR), (BinaryPrimitives.ReadInt32LittleEndian(c[8..]), BinaryPrimitives.ReadInt32LittleEndian(c[12..])));
        var ee = c[16..];
        var off = ee[16..];
        UInt128 offender = BinaryPrimitives.ReadUInt16LittleEndian(off) == AF_INET6 ? Ipv6Address.Read(off[8..]) : 0;
        return new ErrInfo(n, BinaryPrimitives.ReadInt32LittleEndian(ee), ee[4], ee[5], ee[6], BinaryPrimitives.ReadUInt32LittleEndian(ee[8..]), msg.Name, offender, n);
    }

    [Theory]
    [InlineData(1279u)] // RFC 8201 4: below the IPv6 minimum link MTU, discarded
    [InlineData(1500u)] // not smaller than the path's
    [InlineData(9000u)]
    public void PacketTooBig_ThatTeachesNothing_LeavesThePath(uint mtu)
    {
        using var s = Stacks();
        int a = Udp6(s.A);
        Assert.Equal(0, SocketCalls.Connect(s.A.Files, a, SockAddr.In6(GB, PortB)));
        Assert.Equal(0, SocketCalls.Getsockname(s.A.Files, a, out var me));
        SendPtb(s, mtu, Quote(GA, me.Port, 1400));
        Assert.Equal(1L, s.A.Ipv6.Icmp6Stats[Icmp6Mib.Icmp6InPktTooBigs]);
        Assert.Equal(1500, PathMtu(s.A, a));
        Assert.Equal(0, s.A.Ipv6.Rt6Exceptions.Count);
    }

    [Fact]
    public void PacketTooBig_AboutAPacketWeCannotHaveSent_IsIgnored()
    {
        using var s = Stacks();
        int a = Udp6(s.A);
        Assert.Equal(0, SocketCalls.Connect(s.A.Files, a, SockAddr.In6(GB, PortB)));
        Assert.Equal(0, SocketCalls.Getsockname(s.A.Files, a, out var me));
        SendPtb(s, 1280, Quote(Ipv6Address.Parse("fd00:9::77"), me.Port, 1400)); // the quoted source is not ours
        Assert.Equal(1500, PathMtu(s.A, a));
        // A quote too short for the IPv6 header and 8 bytes: Icmp6InErrors (icmpv6_notify's out: label).
        long before = s.A.Ipv6.Icmp6Stats[Icmp6Mib.Icmp6InErrors];
        SendPtb(s, 1280, Quote(GA, me.Port, 0)[..44]);
        Assert.Equal(before + 1, s.A.Ipv6.Icmp6Stats[Icmp6Mib.Icmp6InErrors]);
        Assert.Equal(1500, PathMtu(s.A, a));
    }

    [Fact]
    public void LearnedPathMtu_ExpiresAfterMtuExpires()
    {
        using var s = Stacks();
        Assert.Equal(0, s.A.Sysctl.TrySet("net.ipv6.route.mtu_expires", "30"));
        int a = Udp6(s.A);
        Assert.Equal(0, SocketCalls.Connect(s.A.Files, a, SockAddr.In6(GB, PortB)));
        Assert.Equal(0, SocketCalls.Getsockname(s.A.Files, a, out var me));
        SendPtb(s, 1400, Quote(GA, me.Port, 1400));
        Assert.Equal(1400, PathMtu(s.A, a));
        s.Clock.Set(s.Clock.NowNs + Time.Sec(29));
        Assert.Equal(1400, PathMtu(s.A, a));
        s.Clock.Set(s.Clock.NowNs + Time.Sec(1));
        Assert.Equal(1500, PathMtu(s.A, a));
        Assert.Equal(0, s.A.Ipv6.Rt6Exceptions.Count);
    }

    [Fact]
    public void PacketTooBig_AboutAnEchoRequest_LowersThePathForPingSockets()
    {
        using var s = Stacks();
        int p = SocketCalls.Socket(s.A.Files, AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK, IPPROTO_ICMPV6);
        Assert.Equal(0, SocketCalls.Connect(s.A.Files, p, SockAddr.In6(GB, 0)));
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, p, SOL_IPV6, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_DO));
        var echo = new byte[8 + 1400];
        echo[0] = Icmpv6Type.EchoRequest;
        var quote = Pkt6.Ip6(GA, GB, NextHdr.Icmp, echo)[..1232];
        SendPtb(s, 1280, quote);
        Assert.Equal(1280, PathMtu(s.A, p));
        Assert.Equal(-Errno.EMSGSIZE, SocketCalls.Send(s.A.Files, p, echo, 0));
        Assert.Equal(1240, SocketCalls.Send(s.A.Files, p, echo[..1240], 0));
    }

}

/// <summary>The per-packet paths this adds stay allocation-free: a send fragmented to a learned path MTU, and a raw ICMPv6 echo round trip.</summary>
public class Pmtu6AllocationTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly UInt128 GA = Ipv6Address.Parse("fd00:9::1"), GB = Ipv6Address.Parse("fd00:9::2");

    private static TwoStacks Stacks()
    {
        var s = new TwoStacks();
        s.A.AddIpv6Address(s.Link.A, IPAddress.Parse("fd00:9::1"), 64);
        s.B.AddIpv6Address(s.Link.B, IPAddress.Parse("fd00:9::2"), 64);
        return s;
    }

    /// <summary>Runs <paramref name="step"/> 10,000 times (up to three rounds) and returns the fewest bytes a round allocated on this thread.</summary>
    private long Measure(string what, Action step)
    {
        long best = long.MaxValue;
        for (int attempt = 0; attempt < 3 && best != 0; attempt++)
        {
            long before = SteadyState.ThreadAllocatedBytes();
            for (int i = 0; i < 10_000; i++) step();
            long total = GC.GetAllocatedBytesForCurrentThread() - before;
            output.WriteLine($"round {attempt + 1}: 10000 {what}: {total} bytes allocated");
            best = Math.Min(best, total);
        }
        return best;
    }

    [Fact]
    public void SendFragmentedToALearnedPathMtu_InSteadyState_AllocatesZeroBytes()
    {
        using var s = Stacks();
        int a = SocketCalls.Socket(s.A.Files, AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        int b = SocketCalls.Socket(s.B.Files, AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        Assert.Equal(0, SocketCalls.Bind(s.B.Files, b, SockAddr.In6(UInt128.Zero, 7840)));
        Assert.Equal(0, SocketCalls.Connect(s.A.Files, a, SockAddr.In6(GB, 7840)));
        lock (s.A.SyncRoot) Route6Pmtu.Ip6UpdatePmtu(s.A, GB, GA, 0, 1280);
        Assert.Equal(0, SocketCalls.Getsockopt(s.A.Files, a, SOL_IPV6, IPV6_MTU, out int mtu));
        Assert.Equal(1280, mtu);
        var payload = new byte[2000];
        var buf = new byte[2100];
        Action step = () =>
        {
            if (SocketCalls.Send(s.A.Files, a, payload, 0) != payload.Length) throw new InvalidOperationException("send");
            s.Pump();
            if (SocketCalls.Recv(s.B.Files, b, buf, 0) != payload.Length) throw new InvalidOperationException("recv");
        };
        for (int i = 0; i < 1000; i++) step();
        long creates = s.A.Ip6Mib[Ipv6Mib.Ip6FragCreates];
        Assert.Equal(0, Measure("UDP/IPv6 sends of 2000 bytes in 1280-byte fragments and their reassembly", step));
        Assert.True(s.A.Ip6Mib[Ipv6Mib.Ip6FragCreates] - creates >= 20_000);
    }

    [Fact]
    public void RawIcmpv6EchoRoundTrips_InSteadyState_AllocateZeroBytes()
    {
        using var s = Stacks();
        int r = SocketCalls.Socket(s.A.Files, AF_INET6, SOCK_RAW | SOCK_NONBLOCK, IPPROTO_ICMPV6);
        var filter = Enumerable.Repeat((byte)0xFF, 32).ToArray();
        filter[16] = 0xFD; // only echo replies
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, r, SOL_ICMPV6, ICMPV6_FILTER, filter));
        var req = new byte[64];
        req[0] = Icmpv6Type.EchoRequest;
        var to = SockAddr.In6(GB, 0);
        var buf = new byte[200];
        Action step = () =>
        {
            if (SocketCalls.Sendto(s.A.Files, r, req, 0, to) != req.Length) throw new InvalidOperationException("send");
            s.Pump();
            if (SocketCalls.Recv(s.A.Files, r, buf, 0) != req.Length) throw new InvalidOperationException("recv");
        };
        for (int i = 0; i < 1000; i++) step();
        Assert.Equal(0, Measure("raw ICMPv6 echo round trips", step));
    }
}
