using System.Buffers.Binary;
using NetStack.Core;
using NetStack.Net;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Udp;

/// <summary>
/// SO_TIMESTAMP / SO_TIMESTAMPNS (old and new numbers): the flags as sock_set_timestamp() keeps
/// them, and the SCM_TIMESTAMP* control message recvmsg returns: the frame's arrival on the
/// namespace's clock, as wall-clock time, before the IP control messages (sock_recv_cmsgs() first).
/// </summary>
public class SockTimestampTests
{
    private static int Get(TwoStacks s, int fd, int opt)
    {
        var b = new byte[4];
        int len = 4;
        Assert.Equal(0, SocketCalls.Getsockopt(s.B.Files, fd, SOL_SOCKET, opt, b, ref len));
        return BinaryPrimitives.ReadInt32LittleEndian(b);
    }

    [Theory]
    [InlineData(SO_TIMESTAMP, false)]
    [InlineData(SO_TIMESTAMPNS, true)]
    [InlineData(SO_TIMESTAMP_NEW, false)]
    [InlineData(SO_TIMESTAMPNS_NEW, true)]
    public void Recvmsg_CarriesTheArrivalTime_InTheOptionsLayout(int option, bool ns)
    {
        using var s = new TwoStacks();
        int a = UdpTests.Bound(s.A, 0, 5000), b = UdpTests.Bound(s.B, 0, 6000);
        Assert.Equal(0, SocketCalls.Setsockopt(s.B.Files, b, SOL_SOCKET, option, 1));
        Assert.Equal(0, SocketCalls.Setsockopt(s.B.Files, b, SOL_IP, IP_RECVTTL, 1));
        Assert.Equal(1, Get(s, b, option));
        Assert.Equal(3, SocketCalls.Sendto(s.A.Files, a, "hey"u8, 0, SockAddr.In(TwoStacks.AddrB, 6000)));
        s.Clock.Advance(123_456_789);
        s.Pump();
        long arrival = s.B.NowNs + s.B.RealtimeOffsetNs;
        s.Clock.Advance(5_000_000_000); // read five seconds later: the stamp is the arrival's
        var control = new byte[128];
        var msg = new MsgHdr { Control = control };
        Assert.Equal(3, SocketCalls.Recvmsg(s.B.Files, b, ref msg, new byte[16], 0));
        Assert.Equal(32 + 24, msg.ControlLen); // the timestamp (16 bytes of data), then IP_TTL (4)
        Assert.Equal(32L, BinaryPrimitives.ReadInt64LittleEndian(control));
        Assert.Equal(SOL_SOCKET, BinaryPrimitives.ReadInt32LittleEndian(control.AsSpan(8)));
        Assert.Equal(option, BinaryPrimitives.ReadInt32LittleEndian(control.AsSpan(12)));
        long sec = BinaryPrimitives.ReadInt64LittleEndian(control.AsSpan(16));
        long frac = BinaryPrimitives.ReadInt64LittleEndian(control.AsSpan(24));
        Assert.Equal(arrival / 1_000_000_000, sec);
        Assert.Equal(ns ? arrival % 1_000_000_000 : arrival % 1_000_000_000 / 1000, frac);
        Assert.Equal(IP_TTL, BinaryPrimitives.ReadInt32LittleEndian(control.AsSpan(32 + 12)));
        // Wall-clock time: within this test's run of now.
        var wall = DateTime.UnixEpoch.AddTicks(arrival / 100);
        Assert.InRange(wall, DateTime.UtcNow.AddMinutes(-5), DateTime.UtcNow.AddMinutes(5));
    }

    [Fact]
    public void Options_ReadBackAsSockSetTimestampLeavesTheFlags()
    {
        using var s = new TwoStacks();
        int b = UdpTests.Bound(s.B, 0, 6000);
        int[] all = [SO_TIMESTAMP, SO_TIMESTAMPNS, SO_TIMESTAMP_NEW, SO_TIMESTAMPNS_NEW];
        Assert.All(all, o => Assert.Equal(0, Get(s, b, o)));
        Assert.Equal(0, SocketCalls.Setsockopt(s.B.Files, b, SOL_SOCKET, SO_TIMESTAMPNS, 1));
        Assert.Equal([0, 1, 0, 0], all.Select(o => Get(s, b, o)));
        // SO_TIMESTAMP on after SO_TIMESTAMPNS: microseconds again.
        Assert.Equal(0, SocketCalls.Setsockopt(s.B.Files, b, SOL_SOCKET, SO_TIMESTAMP, 1));
        Assert.Equal([1, 0, 0, 0], all.Select(o => Get(s, b, o)));
        Assert.Equal(0, SocketCalls.Setsockopt(s.B.Files, b, SOL_SOCKET, SO_TIMESTAMPNS_NEW, 1));
        Assert.Equal([0, 0, 0, 1], all.Select(o => Get(s, b, o)));
        // Turning off any of them turns off receive stamps altogether.
        Assert.Equal(0, SocketCalls.Setsockopt(s.B.Files, b, SOL_SOCKET, SO_TIMESTAMP, 0));
        Assert.All(all, o => Assert.Equal(0, Get(s, b, o)));
    }

    [Fact]
    public void ADatagramQueuedBeforeTheOptionIsStampedWhenRead()
    {
        using var s = new TwoStacks();
        int a = UdpTests.Bound(s.A, 0, 5000), b = UdpTests.Bound(s.B, 0, 6000);
        Assert.Equal(1, SocketCalls.Sendto(s.A.Files, a, "x"u8, 0, SockAddr.In(TwoStacks.AddrB, 6000)));
        s.Pump();
        var control = new byte[64];
        var msg = new MsgHdr { Control = control };
        Assert.Equal(1, SocketCalls.Recvmsg(s.B.Files, b, ref msg, new byte[4], MSG_PEEK));
        Assert.Equal(0, msg.ControlLen); // not asked for
        Assert.Equal(0, SocketCalls.Setsockopt(s.B.Files, b, SOL_SOCKET, SO_TIMESTAMPNS, 1));
        s.Clock.Advance(1_000_000);
        long read = s.B.NowNs + s.B.RealtimeOffsetNs;
        msg = new MsgHdr { Control = control };
        Assert.Equal(1, SocketCalls.Recvmsg(s.B.Files, b, ref msg, new byte[4], 0));
        Assert.Equal(32, msg.ControlLen);
        Assert.Equal(read % 1_000_000_000, BinaryPrimitives.ReadInt64LittleEndian(control.AsSpan(24)));
    }

    [Fact]
    public void PingAndRawSockets_GetTheStampToo()
    {
        using var s = new TwoStacks();
        using var ping = new NetStack.Api.NetSocket(s.A, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, IPPROTO_ICMP);
        int raw = SocketCalls.Socket(s.A.Files, AF_INET, SOCK_RAW | SOCK_NONBLOCK, IPPROTO_ICMP);
        Assert.Equal(0, ping.GetOption(SOL_SOCKET, SO_TIMESTAMP));
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, raw, SOL_SOCKET, SO_TIMESTAMP, 1));
        ping.SetOption(SOL_SOCKET, SO_TIMESTAMP, 1);
        Assert.Equal(1, ping.GetOption(SOL_SOCKET, SO_TIMESTAMP));
        ping.SendTo(PingRawTests.EchoRequest(0, 1), new System.Net.IPEndPoint(System.Net.IPAddress.Parse("10.9.0.2"), 0));
        s.Pump();
        var control = new byte[64];
        var msg = new MsgHdr { Control = control };
        Assert.True(SocketCalls.Recvmsg(s.A.Files, raw, ref msg, new byte[128], 0) > 0);
        Assert.Equal(32, msg.ControlLen);
        Assert.Equal(SO_TIMESTAMP, BinaryPrimitives.ReadInt32LittleEndian(control.AsSpan(12)));
        var r = ping.ReceiveMessage(new byte[64]);
        Assert.Equal(16, r.ReceivedBytes);
    }
}

/// <summary>SO_TIMESTAMP on TCP: recvmsg reports when the last segment it read from arrived (tcp_recv_timestamp()), coalesced segments keeping the later arrival.</summary>
public class TcpTimestampTests
{
    [Fact]
    public void Recvmsg_ReportsTheLastSegmentsArrival()
    {
        using var s = new TwoStacks();
        var (_, cfd, afd) = Tcp.TcpTwoStackTests.Connect(s);
        Assert.Equal(0, SocketCalls.Setsockopt(s.B.Files, afd, SOL_SOCKET, SO_TIMESTAMPNS, 1));
        var control = new byte[64];
        Assert.Equal(2, SocketCalls.Send(s.A.Files, cfd, "ab"u8, 0));
        s.Clock.Advance(7_000_000);
        s.Pump();
        Assert.Equal(2, SocketCalls.Send(s.A.Files, cfd, "cd"u8, 0));
        s.Clock.Advance(3_000_000);
        s.Pump();
        long second = s.B.NowNs + s.B.RealtimeOffsetNs;
        s.Clock.Advance(1_000_000_000);
        var msg = new MsgHdr { Control = control };
        Assert.Equal(4, SocketCalls.Recvmsg(s.B.Files, afd, ref msg, new byte[16], 0));
        Assert.Equal(32, msg.ControlLen);
        Assert.Equal(SO_TIMESTAMPNS, BinaryPrimitives.ReadInt32LittleEndian(control.AsSpan(12)));
        Assert.Equal(second / 1_000_000_000, BinaryPrimitives.ReadInt64LittleEndian(control.AsSpan(16)));
        Assert.Equal(second % 1_000_000_000, BinaryPrimitives.ReadInt64LittleEndian(control.AsSpan(24)));
        // Nothing read, nothing stamped; and with the option off, no message.
        msg = new MsgHdr { Control = control };
        Assert.Equal(-Errno.EAGAIN, SocketCalls.Recvmsg(s.B.Files, afd, ref msg, new byte[16], MSG_DONTWAIT));
        Assert.Equal(0, msg.ControlLen);
        Assert.Equal(0, SocketCalls.Setsockopt(s.B.Files, afd, SOL_SOCKET, SO_TIMESTAMPNS, 0));
        Assert.Equal(1, SocketCalls.Send(s.A.Files, cfd, "e"u8, 0));
        s.Pump();
        msg = new MsgHdr { Control = control };
        Assert.Equal(1, SocketCalls.Recvmsg(s.B.Files, afd, ref msg, new byte[16], 0));
        Assert.Equal(0, msg.ControlLen);
    }
}
