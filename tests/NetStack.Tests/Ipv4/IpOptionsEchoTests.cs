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
/// IPv4 options on the stack's own packets: what input writes into a received header
/// (ip_options_compile with a route), what an echo reply and an ICMP error carry back
/// (ip_options_echo + ip_options_build), and IP_OPTIONS on a socket's packets. Whole frames are
/// compared: the expected one is built from the request with the stack's address and time where
/// Linux writes its own.
/// </summary>
public class IpOptionsEchoTests
{
    private const byte Rr = IpOptions.IpoptRr, Ts = IpOptions.IpoptTimestamp, Nop = IpOptions.IpoptNoop;

    /// <summary>An IPv4 packet whose header carries <paramref name="options"/> (a multiple of 4 bytes).</summary>
    private static byte[] IpOpt(uint src, uint dst, int protocol, byte[] options, ReadOnlySpan<byte> payload, byte ttl = 64, ushort id = 0x1234, bool df = false, byte tos = 0)
    {
        Assert.Equal(0, options.Length % 4);
        int hl = Ipv4Header.MinLength + options.Length;
        var b = new byte[hl + payload.Length];
        var h = Ipv4Header.Create(b);
        new Ipv4Repr(src, dst, (byte)protocol, payload.Length, ttl, tos, id, df).Emit(h);
        h.SetVersionIhl(4, hl / 4);
        h.TotalLength = (ushort)b.Length;
        options.CopyTo(b, Ipv4Header.MinLength);
        payload.CopyTo(b.AsSpan(hl));
        h.FillChecksum();
        return b;
    }

    private static byte[] Addr4(uint a)
    {
        var b = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, a);
        return b;
    }

    /// <summary>Milliseconds since midnight UT on the stack's clock (inet_current_timestamp(), computed here independently).</summary>
    private static byte[] Now(OneStack s) => Addr4((uint)((s.Clock.NowNs + s.Net.RealtimeOffsetNs) / 1_000_000 % 86_400_000));

    private static byte[] Cat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();

    /// <summary>Sends an echo request with <paramref name="options"/>, returns the whole reply frame and the expected one for <paramref name="replyOptions"/>.</summary>
    private static (byte[] Got, byte[] Want) Echo(OneStack s, byte[] options, Func<byte[]> replyOptions, byte tos = 0)
    {
        var data = Pkt.PingData(24);
        s.Receive(Pkt.Eth(Mac, PeerMac, EthP.IP, IpOpt(PeerAddr, Addr, IpProto.ICMP, options, Pkt.EchoRequest(0x4242, 7, data), tos: tos)));
        var got = Assert.Single(s.Dev.TakeSent());
        ushort id = Ipv4Header.Create(got.AsSpan(EthernetHeader.Length)).Id; // the stack's own counter
        var want = Pkt.Eth(PeerMac, Mac, EthP.IP,
            IpOpt(Addr, PeerAddr, IpProto.ICMP, replyOptions(), Pkt.Icmp(IcmpType.EchoReply, 0, 0x4242u << 16 | 7, data), id: id, tos: tos));
        return (got, want);
    }

    [Fact]
    public void EchoReply_RecordRoute_AddsOurAddressOnInputAndOnOutput()
    {
        // ping -R: a no-op, then record route with nine slots, the first filled by the sender on output.
        using var s = new OneStack();
        s.LearnPeer();
        var req = Cat([Nop, Rr, 39, 8], Addr4(PeerAddr), new byte[32]);
        // Linux answers with the route alone (no no-op), the input slot and the reply's slot both ours, then end-of-list padding.
        var (got, want) = Echo(s, req, () => Cat([Rr, 39, 16], Addr4(PeerAddr), Addr4(Addr), Addr4(Addr), new byte[24], [IpOptions.IpoptEnd]), tos: 0x10);
        Assert.Equal(want, got);
    }

    [Fact]
    public void EchoReply_RecordRouteWithOneSlotLeft_FillsItOnInputOnly()
    {
        using var s = new OneStack();
        s.LearnPeer();
        // Room for one more address: input takes it; the reply has none left and claims nothing.
        var req = Cat([Rr, 11, 8], Addr4(PeerAddr), new byte[4], [IpOptions.IpoptEnd]);
        var (got, want) = Echo(s, req, () => Cat([Rr, 11, 12], Addr4(PeerAddr), Addr4(Addr), [IpOptions.IpoptEnd]));
        Assert.Equal(want, got);
    }

    [Fact]
    public void EchoReply_TimestampOnly_StampedOnInputAndOnOutput()
    {
        // ping -T tsonly: nine time slots, the first stamped by the sender.
        using var s = new OneStack();
        s.LearnPeer();
        var t0 = Addr4(0x01020304);
        var req = Cat([Ts, 40, 9, 0], t0, new byte[32]);
        var (got, want) = Echo(s, req, () => Cat([Ts, 40, 17, 0], t0, Now(s), Now(s), new byte[24]));
        Assert.Equal(want, got);
    }

    [Fact]
    public void EchoReply_TimestampAndAddress_PairsOfAddressAndTime()
    {
        using var s = new OneStack();
        s.LearnPeer();
        var t0 = Addr4(0x01020304);
        var req = Cat([Ts, 36, 13, 1], Addr4(PeerAddr), t0, new byte[24]);
        var (got, want) = Echo(s, req, () => Cat([Ts, 36, 29, 1], Addr4(PeerAddr), t0, Addr4(Addr), Now(s), Addr4(Addr), Now(s), new byte[8]));
        Assert.Equal(want, got);
    }

    [Fact]
    public void EchoReply_PrespecifiedTimestamp_OnlyTheNamedHostsStamp()
    {
        using var s = new OneStack();
        s.LearnPeer();
        uint other = Ipv4Address.Parse("10.9.0.77");
        // Us first (stamped on input), then another host: the reply has nothing to stamp for us.
        var req = Cat([Ts, 20, 5, 3], Addr4(Addr), new byte[4], Addr4(other), new byte[4]);
        var (got, want) = Echo(s, req, () => Cat([Ts, 20, 13, 3], Addr4(Addr), Now(s), Addr4(other), new byte[4]));
        Assert.Equal(want, got);
        // Another host's turn: input does not stamp, and a reply stamps only where input did (ts_needtime).
        req = Cat([Ts, 20, 5, 3], Addr4(other), new byte[4], Addr4(Addr), new byte[4]);
        (got, want) = Echo(s, req, () => req);
        Assert.Equal(want, got);
    }

    [Fact]
    public void EchoReply_FullTimestamp_CountsTheOverflow()
    {
        using var s = new OneStack();
        s.LearnPeer();
        var t0 = Addr4(0x01020304);
        var req = Cat([Ts, 8, 9, 0x20], t0); // full, two hosts already could not stamp
        var (got, want) = Echo(s, req, () => Cat([Ts, 8, 9, 0x30], t0));
        Assert.Equal(want, got);
    }

    [Fact]
    public void SourceRoutedEcho_IsDropped()
    {
        // net.ipv4.conf.*.accept_source_route = 0: ip_rcv_options() drops it, nothing answers.
        using var s = new OneStack();
        s.LearnPeer();
        var req = Cat([Nop, IpOptions.IpoptLsrr, 7, 4], Addr4(PeerAddr));
        s.Receive(Pkt.Eth(Mac, PeerMac, EthP.IP, IpOpt(PeerAddr, Addr, IpProto.ICMP, req, Pkt.EchoRequest(1, 1, [1, 2]))));
        Assert.Empty(s.Dev.TakeSent());
        Assert.Equal(1, s.Net.Mib.Drops[SkbDropReason.IpOptionsUnsupported]);
    }

    [Fact]
    public void MalformedOption_ParameterProblemPointsAtIt()
    {
        using var s = new OneStack();
        s.LearnPeer();
        var req = Cat([Nop, Rr, 7, 2], new byte[4]); // pointer below 4
        var sent = IpOpt(PeerAddr, Addr, IpProto.ICMP, req, Pkt.EchoRequest(1, 1, [1, 2]));
        s.Receive(Pkt.Eth(Mac, PeerMac, EthP.IP, sent));
        var got = Assert.Single(s.Dev.TakeSent());
        ushort id = Ipv4Header.Create(got.AsSpan(EthernetHeader.Length)).Id;
        // The error quotes the packet; the options it carries back are the part compiled before the fault (none).
        var want = Pkt.Eth(PeerMac, Mac, EthP.IP, Pkt.Ip(Addr, PeerAddr, IpProto.ICMP, Pkt.Icmp(IcmpType.ParameterProb, 0, 23u << 24, sent), id: id, df: false, tos: 0xC0));
        Assert.Equal(want, got);
        Assert.Equal(1, s.Net.Mib.Ip[IpMib.InHdrErrors]);
    }

    [Fact]
    public void PortUnreachable_EchoesTheOptions_AndQuotesThePacketAsInputChangedIt()
    {
        using var s = new OneStack();
        s.LearnPeer();
        var req = Cat([Rr, 11, 4], new byte[8], [IpOptions.IpoptEnd]);
        var udp = Pkt.Udp(PeerAddr, Addr, 40000, 9, [1, 2, 3]);
        s.Receive(Pkt.Eth(Mac, PeerMac, EthP.IP, IpOpt(PeerAddr, Addr, IpProto.UDP, req, udp)));
        var got = Assert.Single(s.Dev.TakeSent());
        ushort id = Ipv4Header.Create(got.AsSpan(EthernetHeader.Length)).Id;
        // Input wrote our address into the quoted header and did not redo its checksum (only forwarding does).
        var sent = IpOpt(PeerAddr, Addr, IpProto.UDP, req, udp);
        var quoted = (byte[])sent.Clone();
        Cat([Rr, 11, 8], Addr4(Addr)).CopyTo(quoted, Ipv4Header.MinLength);
        var replyOpts = Cat([Rr, 11, 12], Addr4(Addr), Addr4(Addr), [IpOptions.IpoptEnd]);
        var want = Pkt.Eth(PeerMac, Mac, EthP.IP, IpOpt(Addr, PeerAddr, IpProto.ICMP, replyOpts,
            Pkt.Icmp(IcmpType.DestUnreach, IcmpType.PortUnreach, 0, quoted), id: id, tos: 0xC0));
        Assert.Equal(want, got);
    }

    // ------------------------------------------------------------------ IP_OPTIONS

    private static int Setopt(NetNamespace net, int fd, byte[] opts) => SocketCalls.Setsockopt(net.Files, fd, SOL_IP, IP_OPTIONS, opts);

    private static byte[] Getopt(NetNamespace net, int fd, int len = 40)
    {
        var b = new byte[len];
        int l = len;
        Assert.Equal(0, SocketCalls.Getsockopt(net.Files, fd, SOL_IP, IP_OPTIONS, b, ref l));
        return b[..l];
    }

    [Fact]
    public void IpOptions_SetGetAndValidation()
    {
        using var s = new OneStack();
        var net = s.Net;
        int fd = SocketCalls.Socket(net.Files, AF_INET, SOCK_DGRAM, 0);
        Assert.Empty(Getopt(net, fd));
        // Padded to a multiple of 4 with end-of-list; read back as given (the claimed slot released).
        Assert.Equal(0, Setopt(net, fd, [Rr, 7, 4, 0, 0, 0, 0]));
        Assert.Equal(new byte[] { Rr, 7, 4, 0, 0, 0, 0, 0 }, Getopt(net, fd));
        Assert.Equal(new byte[] { Rr, 7, 4 }, Getopt(net, fd, 3));
        // A source route keeps its first hop aside and gives it back.
        byte[] lsrr = [Nop, IpOptions.IpoptLsrr, 11, 4, 10, 0, 0, 1, 10, 0, 0, 2];
        Assert.Equal(0, Setopt(net, fd, lsrr));
        Assert.Equal(lsrr, Getopt(net, fd));
        // Malformed: EINVAL, and the old options stay.
        Assert.Equal(-Errno.EINVAL, Setopt(net, fd, [Rr, 7, 3, 0, 0, 0, 0]));
        Assert.Equal(-Errno.EINVAL, Setopt(net, fd, [Rr, 9, 4]));
        Assert.Equal(-Errno.EINVAL, Setopt(net, fd, new byte[41]));
        Assert.Equal(-Errno.EINVAL, Setopt(net, fd, [IpOptions.IpoptLsrr, 7, 8, 10, 0, 0, 1]));
        Assert.Equal(lsrr, Getopt(net, fd));
        // What follows an end-of-list is wiped (ip_options_compile() writes IPOPT_END over it).
        Assert.Equal(0, Setopt(net, fd, [Rr, 7, 4, 0, 0, 0, 0, IpOptions.IpoptEnd, Ts, 12, 5, 0]));
        Assert.Equal(new byte[] { Rr, 7, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, Getopt(net, fd));
        // Length 0 clears them; an option only CAP_NET_RAW may send is refused without it.
        Assert.Equal(0, Setopt(net, fd, []));
        Assert.Empty(Getopt(net, fd));
        Assert.Equal(0, Setopt(net, fd, [130, 4, 0, 0])); // IPOPT_SEC: the default caller has CAP_NET_RAW
        net.Files.CapNetRaw = false;
        Assert.Equal(-Errno.EINVAL, Setopt(net, fd, [130, 4, 0, 0]));
    }

    [Fact]
    public void IpOptions_OnEveryUdpDatagram_WithTheSlotsFilled()
    {
        using var s = new OneStack();
        s.LearnPeer();
        var net = s.Net;
        int fd = SocketCalls.Socket(net.Files, AF_INET, SOCK_DGRAM, 0);
        Assert.Equal(0, SocketCalls.Bind(net.Files, fd, new SockAddr(AF_INET, Addr, 5555)));
        Assert.Equal(0, Setopt(net, fd, [Rr, 7, 4, 0, 0, 0, 0, Nop, Ts, 12, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
        for (int i = 0; i < 2; i++)
        {
            Assert.Equal(3, SocketCalls.Sendto(net.Files, fd, "abc"u8, 0, new SockAddr(AF_INET, PeerAddr, 9)));
            var got = Assert.Single(s.Dev.TakeSent());
            var ip = Ipv4Header.Create(got.AsSpan(EthernetHeader.Length));
            var opts = Cat([Rr, 7, 8], Addr4(Addr), [Nop, Ts, 12, 9, 0], Now(s), new byte[4]);
            var want = Pkt.Eth(PeerMac, Mac, EthP.IP, IpOpt(Addr, PeerAddr, IpProto.UDP, opts, Pkt.Udp(Addr, PeerAddr, 5555, 9, "abc"u8.ToArray()), id: ip.Id, df: true));
            Assert.Equal(want, got);
            s.RunFor(5);
        }
    }

    [Fact]
    public void IpOptions_OnTcp_ShrinkTheMss()
    {
        using var s = new OneStack();
        s.LearnPeer();
        var net = s.Net;
        int fd = SocketCalls.Socket(net.Files, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        Assert.Equal(0, Setopt(net, fd, [Rr, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
        Assert.Equal(-Errno.EINPROGRESS, SocketCalls.Connect(net.Files, fd, new SockAddr(AF_INET, PeerAddr, 80)));
        var syn = Assert.Single(s.Dev.TakeSent());
        var ip = Ipv4Header.Create(syn.AsSpan(EthernetHeader.Length));
        Assert.Equal(32, ip.HeaderLength);
        Assert.Equal(new byte[] { Rr, 11, 8, 10, 9, 0, 2, 0, 0, 0, 0, 0 }, ip.Options.ToArray());
        var sk = (TcpSock)net.Files.Lookup(fd)!.Sk!;
        Assert.Equal(12, sk.IcskExtHdrLen);
        // tcp_sync_mss() before the SYN-ACK: the default clamp (536) first, then the options' 12 bytes off.
        Assert.Equal(536u - 12, sk.MssCache);
    }
}
