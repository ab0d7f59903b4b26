using System.Buffers.Binary;
using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;
using NetStack.Tests.Core;
using NetStack.Wire;
using static NetStack.Tests.Core.OneStack;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Ipv4;

/// <summary>
/// Effects of options issue 12 made accepted, with segments and datagrams from a fake peer:
/// IP_MINTTL (tcp_v4_rcv's min_ttl drop, TCPMinTTLDrop), SO_RXQ_OVFL (sock_skb_set_dropcount,
/// sock_recv_drops), TCP_SAVE_SYN / TCP_SAVED_SYN (tcp_reqsk_record_syn) and SO_MARK on the skb.
/// </summary>
public class SockoptEffectTests
{
    private static byte[] SynFrom(ushort sport, ushort dport, byte ttl)
    {
        var r = new TcpRepr(sport, dport, 1000, 0, TcpFlags.SYN, 64240) { Mss = 1460 };
        var seg = new byte[r.HeaderLength];
        var th = TcpHeader.Create(seg);
        r.Emit(th);
        th.FillChecksum(PeerAddr, Addr);
        return Pkt.Eth(Mac, PeerMac, EthP.IP, Pkt.Ip(PeerAddr, Addr, IpProto.TCP, seg, ttl: ttl));
    }

    private static int Listener(NetNamespace net, ushort port)
    {
        int fd = SocketCalls.Socket(net.Files, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        Assert.Equal(0, SocketCalls.Bind(net.Files, fd, new SockAddr(AF_INET, Addr, port)));
        return fd;
    }

    [Fact]
    public void IpMinttl_DropsSynsBelowTheMinimum_AndCountsThem()
    {
        using var s = new OneStack();
        s.LearnPeer();
        int l = Listener(s.Net, 80);
        Assert.Equal(0, SocketCalls.Setsockopt(s.Net.Files, l, SOL_IP, IP_MINTTL, 65));
        Assert.Equal(0, SocketCalls.Listen(s.Net.Files, l, 4));
        s.Receive(SynFrom(40000, 80, ttl: 64));
        Assert.Empty(s.Dev.TakeSent());
        Assert.Equal(1, s.Net.Mib.TcpExt[LinuxMib.TCPMinTTLDrop]);
        Assert.Equal(1, s.Net.Mib.Drops[SkbDropReason.TcpMinttl]);
        s.Receive(SynFrom(40001, 80, ttl: 65));
        var synack = TcpHeader.Create(Pkt.ParseIp(Assert.Single(s.Dev.TakeSent())).Payload);
        Assert.Equal((byte)(TcpFlags.SYN | TcpFlags.ACK), synack.Flags);
        Assert.Equal(1, s.Net.Mib.TcpExt[LinuxMib.TCPMinTTLDrop]);
    }

    [Fact]
    public void TcpSavedSyn_TheAcceptedSocketReadsTheSynsHeadersOnce()
    {
        using var s = new OneStack();
        s.LearnPeer();
        int l = Listener(s.Net, 80);
        Assert.Equal(0, SocketCalls.Setsockopt(s.Net.Files, l, SOL_TCP, TCP_SAVE_SYN, 1));
        Assert.Equal(0, SocketCalls.Listen(s.Net.Files, l, 4));
        var syn = SynFrom(40000, 80, ttl: 64);
        s.Receive(syn);
        var synack = TcpHeader.Create(Pkt.ParseIp(Assert.Single(s.Dev.TakeSent())).Payload);
        var ack = new TcpRepr(40000, 80, 1001, synack.Seq + 1, TcpFlags.ACK, 64240);
        var seg = new byte[ack.HeaderLength];
        var th = TcpHeader.Create(seg);
        ack.Emit(th);
        th.FillChecksum(PeerAddr, Addr);
        s.Receive(Pkt.Eth(Mac, PeerMac, EthP.IP, Pkt.Ip(PeerAddr, Addr, IpProto.TCP, seg)));
        int a = SocketCalls.Accept4(s.Net.Files, l, out _, 0);
        Assert.True(a >= 0);
        var buf = new byte[100];
        int len = 10;
        Assert.Equal(-Errno.EINVAL, SocketCalls.Getsockopt(s.Net.Files, a, SOL_TCP, TCP_SAVED_SYN, buf, ref len));
        len = buf.Length;
        Assert.Equal(0, SocketCalls.Getsockopt(s.Net.Files, a, SOL_TCP, TCP_SAVED_SYN, buf, ref len));
        Assert.Equal(syn[EthernetHeader.Length..], buf[..len]); // the IP header and the TCP header with its options
        len = buf.Length;
        Assert.Equal(0, SocketCalls.Getsockopt(s.Net.Files, a, SOL_TCP, TCP_SAVED_SYN, buf, ref len));
        Assert.Equal(0, len);
    }

    [Fact]
    public void SoRxqOvfl_ReportsTheDropCountAQueuedDatagramSaw()
    {
        using var s = new OneStack();
        s.LearnPeer();
        var net = s.Net;
        int fd = SocketCalls.Socket(net.Files, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        Assert.Equal(0, SocketCalls.Bind(net.Files, fd, new SockAddr(AF_INET, Addr, 5000)));
        Assert.Equal(0, SocketCalls.Setsockopt(net.Files, fd, SOL_SOCKET, SO_RCVBUF, 0)); // the minimum
        Assert.Equal(0, SocketCalls.Setsockopt(net.Files, fd, SOL_SOCKET, SO_RXQ_OVFL, 1));
        byte[] Dgram(byte b) => Pkt.Eth(Mac, PeerMac, EthP.IP, Pkt.Ip(PeerAddr, Addr, IpProto.UDP, Pkt.Udp(PeerAddr, Addr, 9999, 5000, new byte[] { b })));
        for (int i = 0; i < 40; i++) s.Receive(Dgram((byte)i));
        var sk = net.Files.Lookup(fd)!.Sk!;
        long drops = sk.Drops;
        Assert.True(drops > 0);
        // What was queued before the first drop carries no count.
        var control = new byte[64];
        var msg = new MsgHdr { Control = control };
        Assert.Equal(1, SocketCalls.Recvmsg(net.Files, fd, ref msg, new byte[10], 0));
        Assert.Equal(0, msg.ControlLen);
        while (SocketCalls.Recvfrom(net.Files, fd, new byte[10], 0, out _) > 0) { }
        // Queued after the drops: the count, as a u32 SO_RXQ_OVFL message.
        s.Receive(Dgram(99));
        msg = new MsgHdr { Control = control };
        Assert.Equal(1, SocketCalls.Recvmsg(net.Files, fd, ref msg, new byte[10], 0));
        var want = new byte[Uapi.Cmsg.Len(4)];
        BinaryPrimitives.WriteUInt64LittleEndian(want, (ulong)Uapi.Cmsg.Len(4));
        BinaryPrimitives.WriteInt32LittleEndian(want.AsSpan(8), SOL_SOCKET);
        BinaryPrimitives.WriteInt32LittleEndian(want.AsSpan(12), SO_RXQ_OVFL);
        BinaryPrimitives.WriteUInt32LittleEndian(want.AsSpan(16), (uint)drops);
        Assert.Equal(want, control[..Uapi.Cmsg.Len(4)]);
    }
}
