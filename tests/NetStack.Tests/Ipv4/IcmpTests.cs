using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Tests.Core;
using NetStack.Wire;
using static NetStack.Tests.Core.OneStack;

namespace NetStack.Tests.Ipv4;

/// <summary>ICMP as net/ipv4/icmp.c answers it: echo, broadcast rules, "never an error about an error", rate limits.</summary>
public class IcmpTests
{
    private const int UnknownProto = 253; // RFC 3692 experimental

    private static byte[] UnknownProtoFrom(uint src, MacAddress? srcMac = null) =>
        Pkt.Eth(Mac, srcMac ?? PeerMac, EthP.IP, Pkt.Ip(src, Addr, UnknownProto, [0xDE, 0xAD, 0xBE, 0xEF, 1, 2, 3, 4]));

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(56)]
    [InlineData(57)]     // odd: the checksum's padding byte
    [InlineData(1472)]   // a full 1500-byte IP packet
    public void EchoReply_MirrorsIdSeqAndData_WithValidChecksums(int dataLen)
    {
        using var s = new OneStack();
        s.LearnPeer();
        var data = new byte[dataLen];
        new Random(dataLen).NextBytes(data);
        s.Receive(Pkt.Eth(Mac, PeerMac, EthP.IP, Pkt.Ip(PeerAddr, Addr, IpProto.ICMP, Pkt.EchoRequest(0xBEEF, 0x0102, data), ttl: 3, id: 0x7777)));

        var (eth, ip, payload) = Pkt.ParseIp(Assert.Single(s.Dev.TakeSent()));
        Assert.Equal((PeerMac, Mac), (eth.Destination, eth.Source));
        Assert.Equal((Addr, PeerAddr, (byte)IpProto.ICMP), (ip.Source, ip.Destination, ip.Protocol));
        Assert.Equal(64, ip.Ttl);                // our own TTL, not the request's
        Assert.False(ip.DontFragment);           // icmp_reply(): the ICMP socket uses IP_PMTUDISC_DONT
        Assert.Equal(IcmpHeader.Length + dataLen, ip.PayloadLength);
        Assert.True(IcmpHeader.TryCreate(payload, out var h));
        Assert.True(h.VerifyChecksum());
        Assert.Equal((IcmpType.EchoReply, (byte)0, (ushort)0xBEEF, (ushort)0x0102), (h.Type, h.Code, h.EchoId, h.EchoSequence));
        Assert.Equal(data, h.Payload.ToArray());
        Assert.Equal(1, s.Net.Mib.Icmp[IcmpMib.InEchos]);
        Assert.Equal(1, s.Net.Mib.Icmp[IcmpMib.OutEchoReps]);
        Assert.Equal(s.Net.SkbPool.Total, s.Net.SkbPool.FreeCount);
    }

    [Theory]
    [InlineData(0x00)]
    [InlineData(0x10)]
    [InlineData(0xb9)] // DSCP EF with ECN ECT(1): the whole byte
    public void EchoAndTimestampReplies_CarryTheRequestsTos(byte tos)
    {
        // icmp_reply(): ipc.tos = ip_hdr(skb)->tos (what IP_RECVTOS on the pinging side reports).
        using var s = new OneStack();
        s.LearnPeer();
        s.Receive(Pkt.Eth(Mac, PeerMac, EthP.IP, Pkt.Ip(PeerAddr, Addr, IpProto.ICMP, Pkt.EchoRequest(1, 1, [1, 2]), tos: tos)));
        var (_, ip, _) = Pkt.ParseIp(Assert.Single(s.Dev.TakeSent()));
        Assert.Equal(tos, ip.Tos);
        s.Receive(Pkt.Eth(Mac, PeerMac, EthP.IP, Pkt.Ip(PeerAddr, Addr, IpProto.ICMP, Pkt.Icmp(IcmpType.Timestamp, 0, 0, new byte[16]), tos: tos)));
        (_, ip, _) = Pkt.ParseIp(Assert.Single(s.Dev.TakeSent()));
        Assert.Equal(tos, ip.Tos);
    }

    [Fact]
    public void EchoReply_ToTheKernelsOwnPing_IsTheKernelsOwnReply()
    {
        // The captured Linux ping, re-addressed to this stack, must come back as Linux answered it
        // (same ICMP bytes, and so the same checksum, 0xe9a2).
        using var s = new OneStack();
        s.LearnPeer();
        var icmp = Wire.Golden.EchoRequest[34..];
        s.Receive(Pkt.Eth(Mac, PeerMac, EthP.IP, Pkt.Ip(PeerAddr, Addr, IpProto.ICMP, icmp)));
        var (_, _, payload) = Pkt.ParseIp(Assert.Single(s.Dev.TakeSent()));
        Assert.Equal(Wire.Golden.EchoReply[34..], payload);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void EchoToSubnetBroadcast_IgnoredByDefault(bool ignoreBroadcasts)
    {
        using var s = new OneStack();
        s.LearnPeer();
        s.Net.Ipv4.Sysctl.IcmpEchoIgnoreBroadcasts = ignoreBroadcasts;
        var before = MibSnapshot.Take(s.Net);
        s.Receive(Pkt.EchoFrame(dst: SubnetBroadcast, dstMac: MacAddress.Broadcast));
        if (ignoreBroadcasts)
        {
            Assert.Empty(s.Dev.Sent);
            Assert.Equal(["Drops.InvalidProto=+1", "Icmp.InErrors=+1", "Icmp.InMsgs=+1", "Ip.InDelivers=+1", "Ip.InReceives=+1", "IpExt.InBcastPkts=+1", "IpExt.InNoECTPkts=+1"],
                         MibSnapshot.Delta(before, s.Net));
        }
        else
        {
            // The reply comes from our unicast address, never from the broadcast address.
            var (_, ip, _) = Pkt.ParseIp(Assert.Single(s.Dev.TakeSent()));
            Assert.Equal((Addr, PeerAddr), (ip.Source, ip.Destination));
        }
    }

    [Fact]
    public void EchoToLimitedBroadcast_IgnoredByDefault()
    {
        using var s = new OneStack();
        s.Receive(Pkt.EchoFrame(dst: Ipv4Address.Broadcast, dstMac: MacAddress.Broadcast));
        Assert.Empty(s.Dev.Sent);
        Assert.Equal(1, s.Net.Mib.Drops[SkbDropReason.InvalidProto]);
    }

    [Fact]
    public void UnicastEchoInALinkBroadcastFrame_IsAnswered()
    {
        // icmp_rcv() decides "broadcast" by the route (the IP destination), not by the MAC.
        using var s = new OneStack();
        s.LearnPeer();
        s.Receive(Pkt.EchoFrame(dstMac: MacAddress.Broadcast));
        var (_, ip, payload) = Pkt.ParseIp(Assert.Single(s.Dev.TakeSent()));
        Assert.Equal(PeerAddr, ip.Destination);
        Assert.Equal(IcmpType.EchoReply, payload[0]);
    }

    [Fact]
    public void IcmpEchoIgnoreAll_SilentlyConsumes()
    {
        using var s = new OneStack();
        s.LearnPeer();
        s.Net.Ipv4.Sysctl.IcmpEchoIgnoreAll = true;
        var before = MibSnapshot.Take(s.Net);
        s.Receive(Pkt.EchoFrame());
        Assert.Empty(s.Dev.Sent);
        Assert.Equal(["Icmp.InEchos=+1", "Icmp.InMsgs=+1", "Ip.InDelivers=+1", "Ip.InReceives=+1", "IpExt.InNoECTPkts=+1"], MibSnapshot.Delta(before, s.Net));
    }

    /// <summary>Calls icmp_send() on a received packet (Data at its IP header) and returns what left the device.</summary>
    private static List<byte[]> IcmpSendAbout(OneStack s, byte[] ip, byte pktType = 0, bool routeBroadcast = false, byte type = IcmpType.DestUnreach, byte code = IcmpType.PortUnreach)
    {
        lock (s.Net.SyncRoot)
        {
            var skb = s.Net.SkbPool.Alloc()!;
            ip.CopyTo(skb.Put(ip.Length));
            skb.Dev = s.Dev;
            skb.PktType = pktType;
            skb.RouteBroadcast = routeBroadcast;
            Icmp.IcmpSend(s.Net, skb, type, code, 0);
            skb.Free();
        }
        return s.Dev.TakeSent();
    }

    [Fact]
    public void IcmpErrors_AreNeverAnsweredWithErrors_ButQueriesAre()
    {
        using var s = new OneStack();
        s.LearnPeer();
        // The five error types, and the types icmp_pointers[] also flags as errors (9 = router advertisement).
        foreach (var errType in new byte[] { IcmpType.DestUnreach, IcmpType.SourceQuench, IcmpType.Redirect, IcmpType.TimeExceeded, IcmpType.ParameterProb, 1, 2, 6, 7, 9, 10 })
        {
            var err = Pkt.Ip(PeerAddr, Addr, IpProto.ICMP, Pkt.Icmp(errType, 0, 0, new byte[28]));
            Assert.Empty(IcmpSendAbout(s, err));
        }
        // An unknown ICMP type is treated like an error (icmp_pointers[] has no entry): no answer either.
        Assert.Empty(IcmpSendAbout(s, Pkt.Ip(PeerAddr, Addr, IpProto.ICMP, Pkt.Icmp(99, 0, 0, []))));
        // Informational messages may be answered with an error.
        var echo = Pkt.Ip(PeerAddr, Addr, IpProto.ICMP, Pkt.EchoRequest(1, 1, []));
        var (_, ip, payload) = Pkt.ParseIp(Assert.Single(IcmpSendAbout(s, echo)));
        Assert.Equal(PeerAddr, ip.Destination);
        Assert.Equal((IcmpType.DestUnreach, IcmpType.PortUnreach), (payload[0], payload[1]));
        Assert.Equal(echo, payload[8..]);
    }

    [Fact]
    public void IcmpErrors_AreNotSentAboutBroadcastsMulticastsFragmentsOrMartianSources()
    {
        using var s = new OneStack();
        s.LearnPeer();
        var udp = new byte[16];
        Assert.Empty(IcmpSendAbout(s, Pkt.Ip(PeerAddr, Addr, IpProto.UDP, udp), pktType: Ethernet.Eth.PacketBroadcast));
        Assert.Empty(IcmpSendAbout(s, Pkt.Ip(PeerAddr, Addr, IpProto.UDP, udp), pktType: Ethernet.Eth.PacketMulticast));
        Assert.Empty(IcmpSendAbout(s, Pkt.Ip(PeerAddr, SubnetBroadcast, IpProto.UDP, udp), routeBroadcast: true));
        Assert.Empty(IcmpSendAbout(s, Pkt.Ip(PeerAddr, Ipv4Address.Broadcast, IpProto.UDP, udp)));
        Assert.Empty(IcmpSendAbout(s, Pkt.Ip(PeerAddr, Ipv4Address.Parse("224.0.0.9"), IpProto.UDP, udp)));
        var fragment = Pkt.Ip(PeerAddr, Addr, IpProto.UDP, udp, df: false);
        fragment[7] = 1; // offset 8: not the first fragment
        Assert.Empty(IcmpSendAbout(s, fragment));
        Assert.Empty(IcmpSendAbout(s, Pkt.Ip(0, Addr, IpProto.UDP, udp)));
        Assert.Empty(IcmpSendAbout(s, Pkt.Ip(Ipv4Address.Parse("224.0.0.1"), Addr, IpProto.UDP, udp)));
        Assert.Equal(0, s.Net.Mib.Icmp[IcmpMib.OutMsgs]);
        // The same datagram unicast, first fragment, from a real source is answered.
        Assert.Single(IcmpSendAbout(s, Pkt.Ip(PeerAddr, Addr, IpProto.UDP, udp)));
    }

    [Fact]
    public void UnknownProtocolToBroadcast_CountsButSendsNoError()
    {
        using var s = new OneStack();
        s.LearnPeer();
        s.Receive(Pkt.Eth(MacAddress.Broadcast, PeerMac, EthP.IP, Pkt.Ip(PeerAddr, SubnetBroadcast, UnknownProto, [1, 2, 3, 4])));
        Assert.Empty(s.Dev.Sent);
        Assert.Equal(1, s.Net.Mib.Ip[IpMib.InUnknownProtos]);
    }

    [Fact]
    public void ErrorsToOneHost_AreRateLimited_BurstOfSixThenOnePerSecond()
    {
        using var s = new OneStack();
        s.LearnPeer();
        for (int i = 0; i < 10; i++) s.Receive(UnknownProtoFrom(PeerAddr));
        Assert.Equal(6, s.Dev.TakeSent().Count);  // XRLIM_BURST_FACTOR * icmp_ratelimit of credit
        Assert.Equal(10, s.Net.Mib.Ip[IpMib.InUnknownProtos]);
        Assert.Equal(6, s.Net.Mib.Icmp[IcmpMib.OutDestUnreachs]);
        Assert.Equal(4, s.Net.Mib.Icmp[IcmpMib.OutRateLimitHost]);
        Assert.Equal(0, s.Net.Mib.Icmp[IcmpMib.OutRateLimitGlobal]);

        s.RunFor(999);
        s.Receive(UnknownProtoFrom(PeerAddr));
        Assert.Empty(s.Dev.TakeSent());            // 999 ms of credit is not a whole message
        s.RunFor(1);
        s.Receive(UnknownProtoFrom(PeerAddr));
        Assert.Single(s.Dev.TakeSent());
        s.Receive(UnknownProtoFrom(PeerAddr));
        Assert.Empty(s.Dev.TakeSent());
        Assert.Equal(6, s.Net.Mib.Icmp[IcmpMib.OutRateLimitHost]);

        // Another host has its own bucket.
        uint other = Ipv4Address.Parse("10.9.0.5");
        var otherMac = MacAddress.Parse("02:00:00:00:00:05");
        s.LearnPeer(other, otherMac);
        s.Receive(UnknownProtoFrom(other, otherMac));
        Assert.Single(s.Dev.TakeSent());

        // Credit accrues to the burst cap, not beyond it. (Counted in the MIB: after a minute the
        // neighbour entry has expired, so the errors wait behind ARP instead of leaving at once.)
        s.RunFor(60_000);
        long sent = s.Net.Mib.Icmp[IcmpMib.OutDestUnreachs];
        for (int i = 0; i < 10; i++) s.Receive(UnknownProtoFrom(PeerAddr));
        Assert.Equal(6, s.Net.Mib.Icmp[IcmpMib.OutDestUnreachs] - sent);
    }

    [Fact]
    public void ErrorsToManyHosts_AreLimitedGlobally_ByIcmpMsgsBurstAndPerSec()
    {
        using var s = new OneStack();
        // 120 different sources at the same instant: each host's own bucket would allow one message,
        // the global bucket (icmp_msgs_burst = 50, icmp_msgs_per_sec = 1000) allows 50.
        for (uint i = 0; i < 120; i++) s.Receive(UnknownProtoFrom(Ipv4Address.Parse("10.9.0.100") + i));
        Assert.Equal(50, s.Net.Mib.Icmp[IcmpMib.OutDestUnreachs]);
        Assert.Equal(70, s.Net.Mib.Icmp[IcmpMib.OutRateLimitGlobal]);
        Assert.Equal(0, s.Net.Mib.Icmp[IcmpMib.OutRateLimitHost]);

        // Refills happen at most every 20 ms (HZ/50) and add msgs_per_sec * elapsed.
        s.Clock.AdvanceMs(19);
        s.Receive(UnknownProtoFrom(Ipv4Address.Parse("10.9.0.230")));
        Assert.Equal(71, s.Net.Mib.Icmp[IcmpMib.OutRateLimitGlobal]);
        s.Clock.AdvanceMs(1);
        for (uint i = 0; i < 30; i++) s.Receive(UnknownProtoFrom(Ipv4Address.Parse("10.9.0.100") + i));
        Assert.Equal(70, s.Net.Mib.Icmp[IcmpMib.OutDestUnreachs]); // 20 ms * 1000/s = 20 more
        Assert.Equal(81, s.Net.Mib.Icmp[IcmpMib.OutRateLimitGlobal]);
    }

    [Fact]
    public void RateLimits_DoNotApplyToEchoRepliesNorFragNeeded()
    {
        using var s = new OneStack();
        s.LearnPeer();
        for (ushort i = 0; i < 200; i++) s.Receive(Pkt.EchoFrame(seq: i));
        Assert.Equal(200, s.Dev.TakeSent().Count);

        var udp = Pkt.Ip(PeerAddr, Addr, IpProto.UDP, new byte[16]);
        for (int i = 0; i < 20; i++) Assert.Single(IcmpSendAbout(s, udp, code: IcmpType.FragNeeded));
        Assert.Equal(0, s.Net.Mib.Icmp[IcmpMib.OutRateLimitHost] + s.Net.Mib.Icmp[IcmpMib.OutRateLimitGlobal]);
        // Port unreachable is limited (icmp_ratemask bit 3).
        int sent = 0;
        for (int i = 0; i < 20; i++) sent += IcmpSendAbout(s, udp, code: IcmpType.PortUnreach).Count;
        Assert.Equal(6, sent);
        Assert.Equal(14, s.Net.Mib.Icmp[IcmpMib.OutRateLimitHost]);
    }

    [Fact]
    public void EchoReplies_InTheRatemask_AreLimitedPerHostAndGlobally_AsIcmpReplyDoes()
    {
        using var s = new OneStack();
        s.LearnPeer();
        s.Net.Ipv4.Sysctl.IcmpRatemask |= 1 << IcmpType.EchoReply;
        for (ushort i = 0; i < 10; i++) s.Receive(Pkt.EchoFrame(seq: i));
        Assert.Equal(6, s.Dev.TakeSent().Count); // the per-host burst (XRLIM_BURST_FACTOR)
        Assert.Equal(10, s.Net.Mib.Icmp[IcmpMib.InEchos]);
        Assert.Equal(6, s.Net.Mib.Icmp[IcmpMib.OutEchoReps]);
        Assert.Equal(4, s.Net.Mib.Icmp[IcmpMib.OutRateLimitHost]);

        // Many sources at one instant: the global bucket's 50 less the 6 already spent.
        for (uint i = 0; i < 100; i++) s.Receive(Pkt.EchoFrame(src: Ipv4Address.Parse("10.9.0.100") + i));
        Assert.Equal(6 + 44, s.Net.Mib.Icmp[IcmpMib.OutEchoReps]);
        Assert.Equal(56, s.Net.Mib.Icmp[IcmpMib.OutRateLimitGlobal]);

        // A second later the first host has one reply's worth of credit again (icmp_ratelimit = 1 s).
        s.RunFor(1000);
        long host = s.Net.Mib.Icmp[IcmpMib.OutRateLimitHost], reps = s.Net.Mib.Icmp[IcmpMib.OutEchoReps];
        for (ushort i = 0; i < 10; i++) s.Receive(Pkt.EchoFrame(seq: i));
        Assert.Equal(reps + 1, s.Net.Mib.Icmp[IcmpMib.OutEchoReps]);
        Assert.Equal(host + 9, s.Net.Mib.Icmp[IcmpMib.OutRateLimitHost]);
    }

    [Fact]
    public void RateMask_ZeroDisablesLimiting()
    {
        using var s = new OneStack();
        s.LearnPeer();
        s.Net.Ipv4.Sysctl.IcmpRatemask = 0;
        for (int i = 0; i < 100; i++) s.Receive(UnknownProtoFrom(PeerAddr));
        Assert.Equal(100, s.Dev.TakeSent().Count);
    }

    [Fact]
    public void IncomingError_ReachesTheQuotedProtocolsErrHandler_OnlyWhenTheQuoteIsComplete()
    {
        using var s = new OneStack();
        var calls = new List<(uint Info, int InnerProto, uint InnerDst, byte Type, byte Code)>();
        var prot = new NetProtocol(skb => { skb.Free(); return 0; }, (skb, info) =>
        {
            var inner = Ipv4Header.Create(skb.DataSpan);
            var icmp = skb.Buffer.AsSpan(skb.TransportHeader);
            calls.Add((info, inner.Protocol, inner.Destination, icmp[0], icmp[1]));
        });
        Assert.Equal(0, s.Net.InetAddProtocol(prot, UnknownProto));
        // What we "sent" to 10.9.0.1, and the router's answer: fragmentation needed, next-hop MTU 1280.
        var ours = Pkt.Ip(Addr, PeerAddr, UnknownProto, new byte[40]);
        var error = Pkt.Icmp(IcmpType.DestUnreach, IcmpType.FragNeeded, 1280, ours[..28]);
        s.Receive(Pkt.Eth(Mac, PeerMac, EthP.IP, Pkt.Ip(PeerAddr, Addr, IpProto.ICMP, error)));
        Assert.Equal([(1280u, UnknownProto, PeerAddr, IcmpType.DestUnreach, IcmpType.FragNeeded)], calls);
        Assert.Equal(1, s.Net.Mib.Icmp[IcmpMib.InDestUnreachs]);

        // A quote without the 8 bytes after the IP header is an error in the error: nobody hears of it.
        var shortError = Pkt.Icmp(IcmpType.DestUnreach, IcmpType.PortUnreach, 0, ours[..27]);
        s.Receive(Pkt.Eth(Mac, PeerMac, EthP.IP, Pkt.Ip(PeerAddr, Addr, IpProto.ICMP, shortError)));
        Assert.Single(calls);
        Assert.Equal(1, s.Net.Mib.Icmp[IcmpMib.InErrors]);
        Assert.Equal(1, s.Net.Mib.Drops[SkbDropReason.IcmpTruncated]);
        Assert.Empty(s.Dev.Sent); // and no error is sent about an error
        Assert.Equal(s.Net.SkbPool.Total, s.Net.SkbPool.FreeCount);
    }
}
