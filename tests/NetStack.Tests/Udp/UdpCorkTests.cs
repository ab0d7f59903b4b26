using System.Buffers.Binary;
using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Udp;

/// <summary>
/// UDP_CORK and MSG_MORE (net/ipv4/udp.c: udp_sendmsg with corkreq, udp_push_pending_frames,
/// udp_flush_pending_frames; net/ipv4/ip_output.c: ip_append_data): several sends, one datagram.
/// </summary>
public class UdpCorkTests
{
    private static readonly uint B = TwoStacks.AddrB;

    private static byte[] Bytes(string s) => System.Text.Encoding.ASCII.GetBytes(s);

    private static string Recv(NetNamespace net, int fd, out SockAddr from)
    {
        var buf = new byte[70000];
        int n = SocketCalls.Recvfrom(net.Files, fd, buf, 0, out from);
        return n < 0 ? Errno.Name(n) : System.Text.Encoding.ASCII.GetString(buf, 0, n);
    }

    [Fact]
    public void MsgMore_SendsAreJoinedIntoOneDatagram_SentByTheFirstSendWithoutIt()
    {
        using var s = new TwoStacks();
        int b = UdpTests.Bound(s.B, 0, 6000);
        int a = UdpTests.Bound(s.A, 0, 5000);
        var dst = SockAddr.In(B, 6000);
        Assert.Equal(2, SocketCalls.Sendto(s.A.Files, a, Bytes("ab"), MSG_MORE, dst));
        Assert.Equal(2, SocketCalls.Sendto(s.A.Files, a, Bytes("cd"), MSG_MORE, dst));
        s.Pump();
        Assert.Equal("EAGAIN", Recv(s.B, b, out _));
        Assert.Equal(0, s.A.Mib.Udp[UdpMib.OutDatagrams]);
        Assert.Equal(2, SocketCalls.Sendto(s.A.Files, a, Bytes("ef"), 0, dst));
        s.Pump();
        Assert.Equal("abcdef", Recv(s.B, b, out var from));
        Assert.Equal((ushort)5000, from.Port);
        Assert.Equal(1, s.A.Mib.Udp[UdpMib.OutDatagrams]);
        Assert.Equal("EAGAIN", Recv(s.B, b, out _));
    }

    [Fact]
    public void UdpCork_HoldsEverySend_UntilTurnedOff()
    {
        using var s = new TwoStacks();
        int b = UdpTests.Bound(s.B, 0, 6000);
        int a = UdpTests.UdpSocket(s.A);
        Assert.Equal(0, SocketCalls.Connect(s.A.Files, a, SockAddr.In(B, 6000)));
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, a, SOL_UDP, UDP_CORK, 1));
        Assert.Equal(0, SocketCalls.Getsockopt(s.A.Files, a, SOL_UDP, UDP_CORK, out int on));
        Assert.Equal(1, on);
        foreach (var part in new[] { "one ", "two ", "three" })
            Assert.Equal(part.Length, SocketCalls.Send(s.A.Files, a, Bytes(part), 0));
        s.Pump();
        Assert.Equal("EAGAIN", Recv(s.B, b, out _));
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, a, SOL_UDP, UDP_CORK, 0));
        s.Pump();
        Assert.Equal("one two three", Recv(s.B, b, out _));
        Assert.Equal(0, SocketCalls.Getsockopt(s.A.Files, a, SOL_UDP, UDP_CORK, out int off));
        Assert.Equal(0, off);
        // Uncorked: each send is a datagram again.
        SocketCalls.Send(s.A.Files, a, Bytes("x"), 0);
        SocketCalls.Send(s.A.Files, a, Bytes("y"), 0);
        s.Pump();
        Assert.Equal("x", Recv(s.B, b, out _));
        Assert.Equal("y", Recv(s.B, b, out _));
        // Turning it off with nothing corked sends nothing.
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, a, SOL_UDP, UDP_CORK, 0));
        Assert.Equal(3, s.A.Mib.Udp[UdpMib.OutDatagrams]);
    }

    [Fact]
    public void WhileCorked_TheAddressOfLaterSendsIsIgnored()
    {
        using var s = new TwoStacks();
        int b0 = UdpTests.Bound(s.B, 0, 6000), b1 = UdpTests.Bound(s.B, 0, 6001);
        int a = UdpTests.Bound(s.A, 0, 5000);
        SocketCalls.Sendto(s.A.Files, a, Bytes("to "), MSG_MORE, SockAddr.In(B, 6000));
        Assert.Equal(5, SocketCalls.Sendto(s.A.Files, a, Bytes("6000!"), 0, SockAddr.In(B, 6001)));
        s.Pump();
        Assert.Equal("to 6000!", Recv(s.B, b0, out _));
        Assert.Equal("EAGAIN", Recv(s.B, b1, out _));
    }

    [Fact]
    public void TheWholeDatagramMustFit64K_AnOversizedAppendDropsWhatWasCorked()
    {
        using var s = new TwoStacks();
        int b = UdpTests.Bound(s.B, 0, 6000);
        int a = UdpTests.Bound(s.A, 0, 5000);
        var dst = SockAddr.In(B, 6000);
        Assert.Equal(65000, SocketCalls.Sendto(s.A.Files, a, new byte[65000], MSG_MORE, dst));
        // 20 + 8 + 65000 + 508 = 65536: one byte over IP's limit (maxnonfragsize - fragheaderlen).
        Assert.Equal(-Errno.EMSGSIZE, SocketCalls.Sendto(s.A.Files, a, new byte[508], MSG_MORE, dst));
        Assert.Equal(1, SocketCalls.Sendto(s.A.Files, a, Bytes("z"), 0, dst));
        s.Pump();
        Assert.Equal("z", Recv(s.B, b, out _));
        // Exactly at the limit it goes, as one datagram in fragments.
        Assert.Equal(65000, SocketCalls.Sendto(s.A.Files, a, new byte[65000], MSG_MORE, dst));
        Assert.Equal(507, SocketCalls.Sendto(s.A.Files, a, new byte[507], 0, dst));
        s.Pump();
        Assert.Equal(65507, Recv(s.B, b, out _).Length);
        // A single send larger than 64 KiB is refused before anything else, the cork untouched.
        Assert.Equal(1, SocketCalls.Sendto(s.A.Files, a, Bytes("k"), MSG_MORE, dst));
        Assert.Equal(-Errno.EMSGSIZE, SocketCalls.Sendto(s.A.Files, a, new byte[65536], 0, dst));
        Assert.Equal(1, SocketCalls.Sendto(s.A.Files, a, Bytes("!"), 0, dst));
        s.Pump();
        Assert.Equal("k!", Recv(s.B, b, out _));
    }

    [Fact]
    public void WithPmtudiscDo_TheWholeDatagramMustFitTheMtu_AndTheErrorQueueSaysSo()
    {
        using var s = new TwoStacks();
        int b = UdpTests.Bound(s.B, 0, 6000);
        int a = UdpTests.Bound(s.A, 0, 5000);
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, a, SOL_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO));
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, a, SOL_IP, IP_RECVERR, 1));
        var dst = SockAddr.In(B, 6000);
        Assert.Equal(1000, SocketCalls.Sendto(s.A.Files, a, new byte[1000], MSG_MORE, dst));
        Assert.Equal(-Errno.EMSGSIZE, SocketCalls.Sendto(s.A.Files, a, new byte[473], MSG_MORE, dst)); // 20 + 8 + 1473 > 1500
        var control = new byte[64];
        var msg = new MsgHdr { HasName = true, Control = control };
        Assert.Equal(0, SocketCalls.Recvmsg(s.A.Files, a, ref msg, new byte[16], MSG_ERRQUEUE));
        Assert.Equal(SO_EE_ORIGIN_LOCAL, control[20]);
        Assert.Equal(1500u, BinaryPrimitives.ReadUInt32LittleEndian(control.AsSpan(24)));
        // What was corked went with the error; a datagram that fits goes with DF.
        Assert.Equal(1000, SocketCalls.Sendto(s.A.Files, a, new byte[1000], MSG_MORE, dst));
        Assert.Equal(472, SocketCalls.Sendto(s.A.Files, a, new byte[472], 0, dst));
        s.Pump();
        Assert.Equal(1472, Recv(s.B, b, out _).Length);
        Assert.Equal("EAGAIN", Recv(s.B, b, out _));
    }

    [Fact]
    public void ACorkedDatagramLargerThanTheMtu_IsFragmented_AndReassembled()
    {
        using var s = new TwoStacks();
        int b = UdpTests.Bound(s.B, 0, 6000);
        int a = UdpTests.Bound(s.A, 0, 5000);
        var dst = SockAddr.In(B, 6000);
        var part = new byte[1000];
        for (int i = 0; i < 3; i++)
        {
            Array.Fill(part, (byte)('a' + i));
            Assert.Equal(1000, SocketCalls.Sendto(s.A.Files, a, part, MSG_MORE, dst));
        }
        Assert.Equal(0, SocketCalls.Sendto(s.A.Files, a, [], 0, dst));
        s.Pump();
        var got = Recv(s.B, b, out _);
        Assert.Equal(new string('a', 1000) + new string('b', 1000) + new string('c', 1000), got);
        Assert.Equal(3, s.A.Mib.Ip[IpMib.FragCreates]);
    }

    [Fact]
    public void UdpCorkOption_Lengths_AndOtherSolUdpOptions()
    {
        using var s = new TwoStacks();
        var f = s.A.Files;
        int a = UdpTests.UdpSocket(s.A);
        Assert.Equal(-Errno.EINVAL, SocketCalls.Setsockopt(f, a, SOL_UDP, UDP_CORK, [1, 0]));
        Assert.Equal(0, SocketCalls.Setsockopt(f, a, SOL_UDP, UDP_CORK, 5));
        var b = new byte[8];
        int len = 8;
        Assert.Equal(0, SocketCalls.Getsockopt(f, a, SOL_UDP, UDP_CORK, b, ref len));
        Assert.Equal((4, 1), (len, BinaryPrimitives.ReadInt32LittleEndian(b)));
        len = 1;
        Assert.Equal(0, SocketCalls.Getsockopt(f, a, SOL_UDP, UDP_CORK, b, ref len));
        Assert.Equal(1, len);
        Assert.Equal(-Errno.ENOPROTOOPT, SocketCalls.Setsockopt(f, a, SOL_UDP, 999, 1));
    }

    [Fact]
    public void Close_WithACorkedDatagram_ReturnsItsBuffer()
    {
        using var s = new TwoStacks();
        int a = UdpTests.Bound(s.A, 0, 5000);
        int free = s.A.SkbPool.FreeCount;
        Assert.Equal(5, SocketCalls.Sendto(s.A.Files, a, Bytes("hello"), MSG_MORE, SockAddr.In(B, 6000)));
        Assert.Equal(free - 1, s.A.SkbPool.FreeCount);
        Assert.Equal(0, SocketCalls.Close(s.A.Files, a));
        Assert.Equal(free, s.A.SkbPool.FreeCount);
    }
}
