using System.Buffers.Binary;
using NetStack.Core;
using NetStack.Tests.Core;
using NetStack.Wire;
using static NetStack.Tests.Core.OneStack;

namespace NetStack.Tests.Ipv4;

/// <summary>
/// Hostile and broken frames fed straight into the receive path (no TAP). Each must be dropped and
/// counted exactly as Linux counts it (ip_rcv_core(), arp_rcv(), __netif_receive_skb_core()): the
/// right /proc/net/snmp counter and the right drop reason, and nothing else moves. The buffers all
/// go back to the pool, and afterwards the stack still answers ARP and ping.
/// </summary>
public class MalformedFrameTests
{
    private static readonly MacAddress OtherMac = MacAddress.Parse("02:00:00:00:00:99");

    private static byte[] IpFrame(byte[] ip, int padTo = 0) => Pkt.Eth(Mac, PeerMac, EthP.IP, ip, padTo);
    private static byte[] Echo(int dataLen = 8) => Pkt.Ip(PeerAddr, Addr, IpProto.ICMP, Pkt.EchoRequest(1, 1, Pkt.PingData(dataLen)));
    private static byte[] ArpFrame(byte[] arp, int padTo = 0) => Pkt.Eth(MacAddress.Broadcast, PeerMac, EthP.ARP, arp, padTo);
    private static byte[] ArpRequest() => Pkt.Arp(ArpPacket.OpRequest, PeerMac, PeerAddr, MacAddress.Zero, Addr);

    /// <summary>Applies <paramref name="edit"/> to an IP header and fixes its checksum, so only the edit is wrong.</summary>
    private static byte[] Mangle(byte[] ip, Action<byte[]> edit, bool fixChecksum = true)
    {
        edit(ip);
        if (fixChecksum && (ip[0] & 0x0F) * 4 <= ip.Length && (ip[0] & 0x0F) >= 5) Ipv4Header.Create(ip).FillChecksum();
        return ip;
    }

    private static readonly string[] IpHdrError = ["Drops.IpInHdr=+1", "Ip.InHdrErrors=+1", "Ip.InReceives=+1"];
    // ip_rcv_core() counts the ECN codepoint once version and ihl are sane, before the other checks.
    private static readonly string[] IpHdrErrorEct = ["Drops.IpInHdr=+1", "Ip.InHdrErrors=+1", "Ip.InReceives=+1", "IpExt.InNoECTPkts=+1"];

    /// <summary>Name -> (frame, the counters that must move, and only those).</summary>
    private static readonly Dictionary<string, (Func<byte[]> Frame, string[] Counters)> Cases = new()
    {
        ["eth-empty"] = (() => [], ["Drops.PktTooSmall=+1"]),
        ["eth-1-byte"] = (() => [0xFF], ["Drops.PktTooSmall=+1"]),
        ["eth-13-bytes"] = (() => Pkt.EchoFrame()[..13], ["Drops.PktTooSmall=+1"]),
        ["ethertype-unknown"] = (() => Pkt.Eth(Mac, PeerMac, 0x88B5, Echo()), ["Drops.UnhandledProto=+1"]),
        ["ethertype-802.3-length"] = (() => Pkt.Eth(Mac, PeerMac, 0x002E, Echo()), ["Drops.UnhandledProto=+1"]),
        ["eth-other-mac-ip"] = (() => Pkt.Eth(OtherMac, PeerMac, EthP.IP, Echo()), ["Drops.OtherHost=+1"]),
        ["eth-other-mac-arp"] = (() => Pkt.Eth(OtherMac, PeerMac, EthP.ARP, ArpRequest()), ["Drops.OtherHost=+1"]),

        ["arp-header-only"] = (() => ArpFrame(ArpRequest()[..8]), ["Drops.ArpTruncated=+1"]),
        ["arp-27-bytes"] = (() => ArpFrame(ArpRequest()[..27]), ["Drops.ArpTruncated=+1"]),
        ["arp-pln-16-beyond-padded-frame"] = (() => ArpFrame(Mangled(ArpRequest(), 5, 16), padTo: 60), ["Drops.ArpTruncated=+1"]),
        ["arp-htype-ieee802"] = (() => ArpFrame(Mangled(ArpRequest(), 1, 6)), ["Drops.ArpInvalid=+1"]),
        ["arp-ptype-ipv6"] = (() => ArpFrame(Mangled(Mangled(ArpRequest(), 2, 0x86), 3, 0xDD)), ["Drops.ArpInvalid=+1"]),
        ["arp-hln-8"] = (() => ArpFrame(Mangled(ArpRequest(), 4, 8), padTo: 60), ["Drops.ArpInvalid=+1"]),
        ["arp-pln-2"] = (() => ArpFrame(Mangled(ArpRequest(), 5, 2)), ["Drops.ArpInvalid=+1"]),
        ["arp-op-rarp"] = (() => ArpFrame(Mangled(ArpRequest(), 7, 3)), ["Drops.ArpInvalid=+1"]),
        ["arp-sender-broadcast-ip"] = (() => ArpFrame(Pkt.Arp(ArpPacket.OpRequest, PeerMac, 0xFFFFFFFF, MacAddress.Zero, Addr)), ["Drops.ArpInvalid=+1"]),
        ["arp-sender-multicast-mac"] = (() => ArpFrame(Pkt.Arp(ArpPacket.OpRequest, MacAddress.Broadcast, PeerAddr, MacAddress.Zero, Addr)), ["Drops.ArpInvalid=+1"]),

        ["ip-0-bytes"] = (() => IpFrame([]), IpHdrError),
        ["ip-19-bytes"] = (() => IpFrame(Echo()[..19]), IpHdrError),
        ["ip-version-6"] = (() => IpFrame(Mangle(Echo(), b => b[0] = 0x65)), IpHdrError),
        ["ip-version-0"] = (() => IpFrame(Mangle(Echo(), b => b[0] = 0x05)), IpHdrError),
        ["ip-ihl-0"] = (() => IpFrame(Mangle(Echo(), b => b[0] = 0x40)), IpHdrError),
        ["ip-ihl-4"] = (() => IpFrame(Mangle(Echo(), b => b[0] = 0x44)), IpHdrError),
        ["ip-ihl-15-beyond-frame"] = (() => IpFrame(Mangle(Echo(), b => b[0] = 0x4F)), IpHdrErrorEct),
        ["ip-bad-checksum"] = (() => IpFrame(Mangle(Echo(), b => b[11] ^= 0x01, fixChecksum: false)),
            ["Drops.IpCsum=+1", "Ip.InHdrErrors=+1", "Ip.InReceives=+1", "IpExt.InCsumErrors=+1", "IpExt.InNoECTPkts=+1"]),
        ["ip-total-length-beyond-frame"] = (() => IpFrame(Mangle(Echo(), b => BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(2), (ushort)(b.Length + 1)))),
            ["Drops.PktTooSmall=+1", "Ip.InReceives=+1", "IpExt.InNoECTPkts=+1", "IpExt.InTruncatedPkts=+1"]),
        ["ip-total-length-beyond-padded-frame"] = (() => IpFrame(Mangle(Echo(0), b => BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(2), 47)), padTo: 60),
            ["Drops.PktTooSmall=+1", "Ip.InReceives=+1", "IpExt.InNoECTPkts=+1", "IpExt.InTruncatedPkts=+1"]),
        ["ip-total-length-below-header"] = (() => IpFrame(Mangle(Echo(), b => BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(2), 19))), IpHdrErrorEct),
        ["ip-total-length-zero"] = (() => IpFrame(Mangle(Echo(), b => BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(2), 0))), IpHdrErrorEct),
        // Checksum before length, as ip_rcv_core(): a packet wrong in both counts as a checksum error.
        ["ip-bad-checksum-and-length"] = (() => IpFrame(Mangle(Echo(), b => { b[2] = 0xFF; }, fixChecksum: false)),
            ["Drops.IpCsum=+1", "Ip.InHdrErrors=+1", "Ip.InReceives=+1", "IpExt.InCsumErrors=+1", "IpExt.InNoECTPkts=+1"]),
        ["ip-for-another-host"] = (() => IpFrame(Pkt.Ip(PeerAddr, Ipv4Address.Parse("10.9.0.77"), IpProto.ICMP, Pkt.EchoRequest(1, 1, []))),
            ["Drops.IpInAddrErrors=+1", "Ip.InAddrErrors=+1", "Ip.InReceives=+1", "IpExt.InNoECTPkts=+1"]),
        ["ip-for-another-network"] = (() => IpFrame(Pkt.Ip(PeerAddr, Ipv4Address.Parse("192.0.2.1"), IpProto.ICMP, Pkt.EchoRequest(1, 1, []))),
            ["Drops.IpInAddrErrors=+1", "Ip.InAddrErrors=+1", "Ip.InReceives=+1", "IpExt.InNoECTPkts=+1"]),
        ["ip-source-loopback"] = (() => IpFrame(Pkt.Ip(Ipv4Address.Loopback, Addr, IpProto.ICMP, Pkt.EchoRequest(1, 1, []))),
            ["Drops.IpInvalidSource=+1", "Ip.InReceives=+1", "IpExt.InNoECTPkts=+1"]),
        ["ip-source-multicast"] = (() => IpFrame(Pkt.Ip(Ipv4Address.Parse("224.0.0.1"), Addr, IpProto.ICMP, Pkt.EchoRequest(1, 1, []))),
            ["Drops.IpInvalidSource=+1", "Ip.InReceives=+1", "IpExt.InNoECTPkts=+1"]),
        ["ip-source-is-our-address"] = (() => IpFrame(Pkt.Ip(Addr, Addr, IpProto.ICMP, Pkt.EchoRequest(1, 1, []))),
            ["Drops.IpInvalidSource=+1", "Ip.InReceives=+1", "IpExt.InNoECTPkts=+1"]),
        ["ip-source-zero-to-unicast"] = (() => IpFrame(Pkt.Ip(0, Addr, IpProto.ICMP, Pkt.EchoRequest(1, 1, []))),
            ["Drops.IpInvalidSource=+1", "Ip.InReceives=+1", "IpExt.InNoECTPkts=+1"]),
        // 127.0.0.1 is one of our addresses (lo), but never from a wire: a martian, not a delivery.
        ["ip-destination-loopback"] = (() => IpFrame(Pkt.Ip(PeerAddr, Ipv4Address.Loopback, IpProto.ICMP, Pkt.EchoRequest(1, 1, []))),
            ["Drops.IpInvalidDest=+1", "Ip.InReceives=+1", "IpExt.InNoECTPkts=+1"]),
        ["ip-destination-zero"] = (() => IpFrame(Pkt.Ip(PeerAddr, 0, IpProto.ICMP, Pkt.EchoRequest(1, 1, []))),
            ["Drops.IpInvalidDest=+1", "Ip.InReceives=+1", "IpExt.InNoECTPkts=+1"]),
        // A fragment that carries no data (end == offset): ip_frag_queue() discards it and its queue.
        ["ip-fragment-empty"] = (() => IpFrame(Mangle(Pkt.Ip(PeerAddr, Addr, IpProto.ICMP, []), b => b[6] = 0x20)),
            ["Drops.PktLenInvalid=+1", "Ip.InReceives=+1", "Ip.ReasmFails=+1", "Ip.ReasmReqds=+1", "IpExt.InNoECTPkts=+1"]),

        ["icmp-truncated"] = (() => IpFrame(Pkt.Ip(PeerAddr, Addr, IpProto.ICMP, [8, 0, 0, 0])),
            ["Drops.IcmpTruncated=+1", "Icmp.InErrors=+1", "Icmp.InMsgs=+1", "Ip.InDelivers=+1", "Ip.InReceives=+1", "IpExt.InNoECTPkts=+1"]),
        ["icmp-bad-checksum"] = (() => IpFrame(Pkt.Ip(PeerAddr, Addr, IpProto.ICMP, Mangled(Pkt.EchoRequest(1, 1, [1, 2, 3]), 9, 0x77))),
            ["Drops.IcmpCsum=+1", "Icmp.InCsumErrors=+1", "Icmp.InErrors=+1", "Icmp.InMsgs=+1", "Ip.InDelivers=+1", "Ip.InReceives=+1", "IpExt.InNoECTPkts=+1"]),
        ["icmp-type-unknown"] = (() => IpFrame(Pkt.Ip(PeerAddr, Addr, IpProto.ICMP, Pkt.Icmp(77, 0, 0, []))),
            ["Drops.UnhandledProto=+1", "Icmp.InErrors=+1", "Icmp.InMsgs=+1", "Ip.InDelivers=+1", "Ip.InReceives=+1", "IpExt.InNoECTPkts=+1"]),
    };

    private static byte[] Mangled(byte[] b, int offset, byte value)
    {
        b[offset] = value;
        return b;
    }

    public static TheoryData<string> CaseNames() => new(Cases.Keys);

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void IsDroppedAndCounted_AndNothingIsSent(string name)
    {
        using var s = new OneStack();
        s.LearnPeer();
        var (frame, counters) = Cases[name];
        var before = MibSnapshot.Take(s.Net);
        s.Receive(frame());
        Assert.Equal(counters, MibSnapshot.Delta(before, s.Net));
        Assert.Empty(s.Dev.Sent);
        Assert.Equal(s.Net.SkbPool.Total, s.Net.SkbPool.FreeCount); // every buffer went back
    }

    [Fact]
    public void AfterEveryMalformedFrame_TheStackStillAnswersArpAndPing()
    {
        using var s = new OneStack();
        foreach (var (frame, _) in Cases.Values) s.Receive(frame());
        s.Dev.Sent.Clear();

        s.Receive(ArpFrame(ArpRequest()));
        var (eth, arp) = Pkt.ParseArp(Assert.Single(s.Dev.TakeSent()));
        Assert.Equal(ArpPacket.OpReply, arp.Operation);
        Assert.Equal((PeerMac, Mac), (eth.Destination, eth.Source));

        s.Receive(Pkt.EchoFrame(id: 9, seq: 9));
        var (_, ip, payload) = Pkt.ParseIp(Assert.Single(s.Dev.TakeSent()));
        Assert.Equal((Addr, PeerAddr, (byte)IpProto.ICMP), (ip.Source, ip.Destination, ip.Protocol));
        Assert.Equal(IcmpType.EchoReply, payload[0]);
        Assert.Equal(s.Net.SkbPool.Total, s.Net.SkbPool.FreeCount);
    }

    [Fact]
    public void EthernetPadding_IsAcceptedAndTrimmed()
    {
        // An empty echo (28 IP bytes) padded to the 60-byte Ethernet minimum with junk: the padding must
        // not reach ICMP (its checksum would fail) nor be echoed back.
        using var s = new OneStack();
        s.LearnPeer();
        var frame = IpFrame(Pkt.Ip(PeerAddr, Addr, IpProto.ICMP, Pkt.EchoRequest(0x77, 3, [])), padTo: 60);
        Array.Fill(frame, (byte)0xEE, 14 + 28, 60 - 14 - 28);
        var before = MibSnapshot.Take(s.Net);
        s.Receive(frame);
        Assert.Equal(["Icmp.InEchos=+1", "Icmp.InMsgs=+1", "Icmp.OutEchoReps=+1", "Icmp.OutMsgs=+1",
                      "Ip.InDelivers=+1", "Ip.InReceives=+1", "Ip.OutRequests=+1", "Ip.OutTransmits=+1", "IpExt.InNoECTPkts=+1"],
                     MibSnapshot.Delta(before, s.Net));
        var (_, ip, payload) = Pkt.ParseIp(Assert.Single(s.Dev.TakeSent()));
        Assert.Equal(8, ip.PayloadLength);
        Assert.Equal(8, payload.Length);
        Assert.Equal(0, Checksum.Compute(payload));
        Assert.Equal(new IcmpRepr(IcmpType.EchoReply, 0, 0x00770003), IcmpRepr.Parse(IcmpHeader.Create(payload)));
    }

    [Fact]
    public void InOctets_CountsWhatIpReceived()
    {
        using var s = new OneStack();
        s.LearnPeer();
        long before = s.Net.Mib.IpExt[IpExtMib.InOctets];
        s.Receive(IpFrame(Echo(8), padTo: 60)); // 36 IP bytes + 10 padding: Linux counts skb->len before the trim
        Assert.Equal(46, s.Net.Mib.IpExt[IpExtMib.InOctets] - before);
    }

    [Fact]
    public void UnknownProtocol_AnswersProtocolUnreachable_QuotingThePacket()
    {
        using var s = new OneStack();
        s.LearnPeer();
        var ip = Pkt.Ip(PeerAddr, Addr, 253, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], id: 0x5151);
        var before = MibSnapshot.Take(s.Net);
        s.Receive(IpFrame(ip));
        Assert.Equal(["Drops.IpNoProto=+1", "Icmp.OutDestUnreachs=+1", "Icmp.OutMsgs=+1", "Ip.InReceives=+1", "Ip.InUnknownProtos=+1",
                      "Ip.OutRequests=+1", "Ip.OutTransmits=+1", "IpExt.InNoECTPkts=+1"], MibSnapshot.Delta(before, s.Net));
        var (eth, rip, payload) = Pkt.ParseIp(Assert.Single(s.Dev.TakeSent()));
        Assert.Equal(PeerMac, eth.Destination);
        Assert.Equal((Addr, PeerAddr, (byte)IpProto.ICMP), (rip.Source, rip.Destination, rip.Protocol));
        Assert.Equal(0xC0, rip.Tos);  // icmp_send: precedence "internetwork control"
        Assert.False(rip.DontFragment);
        Assert.Equal(0, Checksum.Compute(payload));
        Assert.Equal(new IcmpRepr(IcmpType.DestUnreach, IcmpType.ProtUnreach, 0), IcmpRepr.Parse(IcmpHeader.Create(payload)));
        Assert.Equal(ip, payload[8..]); // the whole offending datagram, header first
        Assert.Equal(s.Net.SkbPool.Total, s.Net.SkbPool.FreeCount);
    }
}
