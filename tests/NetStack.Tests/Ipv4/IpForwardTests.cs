using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Tests.Core;
using NetStack.Wire;

namespace NetStack.Tests.Ipv4;

/// <summary>
/// IPv4 forwarding (net/ipv4/ip_forward.c, route.c's ip_route_input_slow(), ip_error() and
/// ip_rt_send_redirect()) through <see cref="ThreeStacks"/>: A and B on two links, R routing between them.
/// </summary>
public class IpForwardTests
{
    private static readonly byte[] Data = Pkt.PingData();

    private static byte[] Echo(uint src, uint dst, byte ttl = 64, bool df = true, int dataLen = 56, ushort seq = 1) =>
        Pkt.Ip(src, dst, IpProto.ICMP, Pkt.EchoRequest(0x4242, seq, Pkt.PingData(dataLen)), ttl: ttl, df: df);

    /// <summary>The ICMP message of an IPv4 packet (header and all of its data).</summary>
    private static (IcmpRepr Icmp, byte[] Quoted) ParseIcmp(byte[] packet)
    {
        var iph = Ipv4Header.Create(packet);
        Assert.Equal(IpProto.ICMP, iph.Protocol);
        var h = IcmpHeader.Create(packet.AsSpan(iph.HeaderLength, iph.TotalLength - iph.HeaderLength));
        return (new IcmpRepr(h.Type, h.Code, h.Rest), h.Payload.ToArray());
    }

    [Fact]
    public void Echo_ForwardedBothWays_TtlDecrementedAndChecksumPatched()
    {
        using var s = new ThreeStacks();
        s.Pump(); // gratuitous ARPs
        var atB = new IpCapture(s.Link2.B);
        var atA = new IpCapture(s.Link1.A);
        var sent = Echo(ThreeStacks.AddrA, ThreeStacks.AddrB, ttl: 64);
        ThreeStacks.SendIp(s.A, sent);
        s.Pump();

        // B got the request with TTL 63, the header otherwise unchanged, its checksum patched
        // incrementally to what a full computation gives.
        var got = Assert.Single(atB.Packets);
        Assert.Equal(sent.Length, got.Length);
        var expected = (byte[])sent.Clone();
        expected[8] = 63;
        var eh = Ipv4Header.Create(expected);
        eh.FillChecksum();
        Assert.Equal(expected, got);
        Assert.True(Ipv4Header.Create(got).VerifyChecksum());
        Assert.Equal(1, s.B.Mib.Icmp[IcmpMib.InEchos]);

        // B's reply came back through R to A with B's TTL less one.
        var reply = Assert.Single(atA.Packets);
        Assert.Equal(63, Ipv4Header.Create(reply).Ttl);
        Assert.Equal(ThreeStacks.AddrB, Ipv4Header.Create(reply).Source);
        Assert.Equal(1, s.A.Mib.Icmp[IcmpMib.InEchoReps]);

        // R's counters: two received and forwarded, none its own.
        var ip = s.R.Mib.Ip;
        Assert.Equal(2, ip[IpMib.InReceives]);
        Assert.Equal(2, ip[IpMib.ForwDatagrams]);
        Assert.Equal(2, ip[IpMib.OutTransmits]);
        Assert.Equal(0, ip[IpMib.InDelivers]);
        Assert.Equal(0, ip[IpMib.OutRequests]);
        Assert.Equal(0, ip[IpMib.InAddrErrors]);
        Assert.Equal(1, ip[IpMib.Forwarding]);
        Assert.Equal(0, s.R.Mib.Icmp[IcmpMib.OutMsgs]);
    }

    [Fact]
    public void DecreaseTtl_CarryWrapsAround()
    {
        // A checksum whose high byte is 0xff: adding 0x0100 carries out and wraps into the low bit.
        var p = Echo(ThreeStacks.AddrA, ThreeStacks.AddrB, ttl: 64);
        var h = Ipv4Header.Create(p);
        for (ushort id = 0; ; id++)
        {
            h.Id = id;
            h.FillChecksum();
            if (h.HeaderChecksum >> 8 == 0xFF) break;
        }
        Assert.Equal(63, IpForward.IpDecreaseTtl(h));
        Assert.True(h.VerifyChecksum());
    }

    [Fact]
    public void TtlOne_TimeExceededFromRouter_QuotingThePacket()
    {
        using var s = new ThreeStacks();
        s.Pump();
        var atA = new IpCapture(s.Link1.A);
        var atB = new IpCapture(s.Link2.B);
        var sent = Echo(ThreeStacks.AddrA, ThreeStacks.AddrB, ttl: 1);
        ThreeStacks.SendIp(s.A, sent);
        s.Pump();

        Assert.Empty(atB.Packets);
        var err = Assert.Single(atA.Packets);
        var iph = Ipv4Header.Create(err);
        Assert.Equal(ThreeStacks.AddrR1, iph.Source); // the address on the link the packet came from
        Assert.Equal(ThreeStacks.AddrA, iph.Destination);
        var (icmp, quoted) = ParseIcmp(err);
        Assert.Equal(new IcmpRepr(IcmpType.TimeExceeded, IcmpType.ExcTtl, 0), icmp);
        Assert.Equal(sent, quoted); // the whole packet as it arrived, TTL 1
        Assert.Equal(1, s.R.Mib.Ip[IpMib.InHdrErrors]);
        Assert.Equal(0, s.R.Mib.Ip[IpMib.ForwDatagrams]);
        Assert.Equal(1, s.R.Mib.Icmp[IcmpMib.OutTimeExcds]);
        Assert.Equal(1, s.R.Mib.Drops[SkbDropReason.IpInHdr]);
        Assert.Equal(1, s.A.Mib.Icmp[IcmpMib.InTimeExcds]);
    }

    [Fact]
    public void DfAndTooBig_FragNeededWithNextHopMtu()
    {
        using var s = new ThreeStacks(mtu2: 1000);
        s.Pump();
        var atA = new IpCapture(s.Link1.A);
        var atB = new IpCapture(s.Link2.B);
        var sent = Echo(ThreeStacks.AddrA, ThreeStacks.AddrB, df: true, dataLen: 1200);
        ThreeStacks.SendIp(s.A, sent);
        s.Pump();

        Assert.Empty(atB.Packets);
        var (icmp, quoted) = ParseIcmp(Assert.Single(atA.Packets));
        Assert.Equal(new IcmpRepr(IcmpType.DestUnreach, IcmpType.FragNeeded, 1000), icmp); // next-hop MTU in the low 16 bits
        Assert.Equal(sent.AsSpan(0, 64).ToArray(), quoted.AsSpan(0, 64).ToArray()); // TTL not yet decremented
        Assert.Equal(1, s.R.Mib.Ip[IpMib.FragFails]);
        Assert.Equal(0, s.R.Mib.Ip[IpMib.ForwDatagrams]);
        Assert.Equal(1, s.R.Mib.Drops[SkbDropReason.PktTooBig]);
        Assert.Equal(1, s.R.Mib.Icmp[IcmpMib.OutDestUnreachs]);

        // Exactly the MTU still passes.
        ThreeStacks.SendIp(s.A, Echo(ThreeStacks.AddrA, ThreeStacks.AddrB, df: true, dataLen: 1000 - 28));
        s.Pump();
        Assert.Equal(1000, Assert.Single(atB.Packets).Length);
    }

    [Fact]
    public void DfClear_FragmentedToTheNextHopMtu()
    {
        using var s = new ThreeStacks(mtu2: 1000);
        s.Pump();
        var atB = new IpCapture(s.Link2.B);
        var sent = Echo(ThreeStacks.AddrA, ThreeStacks.AddrB, df: false, dataLen: 1400);
        ThreeStacks.SendIp(s.A, sent);
        s.Pump();

        // 1428 bytes of IP: 20 + 976, then 20 + 432 (976 = (1000 - 20) rounded down to 8).
        Assert.Equal(2, atB.Packets.Count);
        var f0 = Ipv4Header.Create(atB.Packets[0]);
        var f1 = Ipv4Header.Create(atB.Packets[1]);
        Assert.Equal((996, 0, true, 63), (f0.TotalLength, f0.FragmentOffset, f0.MoreFragments, f0.Ttl));
        Assert.Equal((452, 976, false, 63), (f1.TotalLength, f1.FragmentOffset, f1.MoreFragments, f1.Ttl));
        Assert.True(f0.VerifyChecksum());
        Assert.True(f1.VerifyChecksum());
        Assert.Equal(sent.Skip(20).ToArray(), atB.Packets[0].Skip(20).Concat(atB.Packets[1].Skip(20)).ToArray());
        Assert.Equal(1, s.R.Mib.Ip[IpMib.FragOKs]);
        Assert.Equal(2, s.R.Mib.Ip[IpMib.FragCreates]);
        Assert.Equal(1, s.B.Mib.Ip[IpMib.ReasmOKs]);
        // B's reply (fragmented by B itself on link 2) comes back through R, fragment by fragment.
        Assert.Equal(1, s.A.Mib.Icmp[IcmpMib.InEchoReps]);
        Assert.Equal(3, s.R.Mib.Ip[IpMib.ForwDatagrams]);
    }

    [Fact]
    public void ForwardingOff_DroppedAsInAddrErrors_NoIcmp()
    {
        using var s = new ThreeStacks(forwarding: false);
        s.Pump();
        var atA = new IpCapture(s.Link1.A);
        var atB = new IpCapture(s.Link2.B);
        ThreeStacks.SendIp(s.A, Echo(ThreeStacks.AddrA, ThreeStacks.AddrB));
        s.Pump();
        Assert.Empty(atB.Packets);
        Assert.Empty(atA.Packets);
        Assert.Equal(1, s.R.Mib.Ip[IpMib.InAddrErrors]);
        Assert.Equal(1, s.R.Mib.Drops[SkbDropReason.IpInAddrErrors]);
        Assert.Equal(0, s.R.Mib.Ip[IpMib.ForwDatagrams]);
        Assert.Equal(0, s.R.Mib.Icmp[IcmpMib.OutMsgs]);
        Assert.Equal(2, s.R.Mib.Ip[IpMib.Forwarding]); // "not forwarding"
        // A host without forwarding counts a packet with no route at all the same way (EHOSTUNREACH).
        ThreeStacks.SendIp(s.A, Echo(ThreeStacks.AddrA, Ipv4Address.Parse("10.99.0.1")));
        s.Pump();
        Assert.Equal(2, s.R.Mib.Ip[IpMib.InAddrErrors]);
        Assert.Equal(0, s.R.Mib.IpExt[IpExtMib.InNoRoutes]);
    }

    [Fact]
    public void ForwardingIsTheArrivalDevices_ConfDevForwarding()
    {
        using var s = new ThreeStacks();
        s.Pump();
        // ip_forward=1 set all, default and every device; turning r1 off stops what arrives on r1 only.
        Assert.True(s.R.Sysctl.TryGet("net.ipv4.conf.all.forwarding", out var all));
        Assert.Equal("1", all);
        Assert.True(s.R.Sysctl.TryGet("net.ipv4.conf.default.forwarding", out var dflt));
        Assert.Equal("1", dflt);
        Assert.True(s.R.Sysctl.TryGet("net.ipv4.conf.r2.forwarding", out var r2));
        Assert.Equal("1", r2);
        Assert.Equal(0, s.R.Sysctl.TrySet("net.ipv4.conf.r1.forwarding", "0"));
        var atA = new IpCapture(s.Link1.A);
        var atB = new IpCapture(s.Link2.B);

        ThreeStacks.SendIp(s.A, Echo(ThreeStacks.AddrA, ThreeStacks.AddrB)); // in on r1: dropped
        s.Pump();
        Assert.Empty(atB.Packets);
        Assert.Equal(1, s.R.Mib.Ip[IpMib.InAddrErrors]);

        // B's packet to A arrives on r2 and leaves on r1: forwarded (the output device's setting does not matter).
        ThreeStacks.SendIp(s.B, Pkt.Ip(ThreeStacks.AddrB, ThreeStacks.AddrA, IpProto.UDP, new byte[8 + 4]));
        s.Pump();
        Assert.Single(atA.Packets);
        Assert.Equal(1, s.R.Mib.Ip[IpMib.ForwDatagrams]);

        // ip_forward=0 turns every device off again, and ip_forward reads conf.all.
        Assert.Equal(0, s.R.Sysctl.TrySet("net.ipv4.ip_forward", "0"));
        Assert.True(s.R.Sysctl.TryGet("net.ipv4.conf.r2.forwarding", out r2));
        Assert.Equal("0", r2);
        Assert.True(s.R.Sysctl.TryGet("net.ipv4.conf.all.forwarding", out all));
        Assert.Equal("0", all);
        Assert.Equal(0, s.R.Sysctl.TrySet("net.ipv4.conf.all.forwarding", "1"));
        Assert.True(s.R.Sysctl.TryGet("net.ipv4.ip_forward", out var fwd));
        Assert.Equal("1", fwd);
        Assert.True(s.R.Sysctl.TryGet("net.ipv4.conf.r1.forwarding", out var r1));
        Assert.Equal("1", r1);
    }

    [Fact]
    public void NoRoute_NetUnreachableFromRouter_CountedAsInNoRoutes()
    {
        using var s = new ThreeStacks();
        s.Pump();
        var atA = new IpCapture(s.Link1.A);
        var sent = Echo(ThreeStacks.AddrA, Ipv4Address.Parse("10.99.0.1"));
        ThreeStacks.SendIp(s.A, sent);
        s.Pump();
        var err = Assert.Single(atA.Packets);
        Assert.Equal(ThreeStacks.AddrR1, Ipv4Header.Create(err).Source);
        var (icmp, quoted) = ParseIcmp(err);
        Assert.Equal(new IcmpRepr(IcmpType.DestUnreach, IcmpType.NetUnreach, 0), icmp);
        Assert.Equal(sent, quoted);
        Assert.Equal(1, s.R.Mib.IpExt[IpExtMib.InNoRoutes]);
        Assert.Equal(0, s.R.Mib.Ip[IpMib.InAddrErrors]);
        Assert.Equal(1, s.R.Mib.Drops[SkbDropReason.IpInNoRoutes]);

        // ip_error()'s bucket (one a second, burst of five) and icmp_send()'s per-host limit (one a
        // second, burst of six) spend the same tokens of the sender's inet_peer (rate_tokens,
        // rate_last): a fresh sender gets 5 s of credit, each unreachable costs 1 s twice, so a burst
        // of ten earns two, the third dying in the ICMP limit (OutRateLimitHost). Linux 6.18 does the
        // same: ten pings through a veth router with no route got two unreachables and IcmpOutRateLimitHost 1.
        for (ushort i = 0; i < 9; i++) ThreeStacks.SendIp(s.A, Echo(ThreeStacks.AddrA, Ipv4Address.Parse("10.99.0.1"), seq: i));
        s.Pump();
        Assert.Equal(2, atA.Packets.Count);
        Assert.Equal(1, s.R.Mib.Icmp[IcmpMib.OutRateLimitHost]);
        Assert.Equal(10, s.R.Mib.IpExt[IpExtMib.InNoRoutes]);
        s.Advance(2000); // 2 s of credit: one more unreachable
        ThreeStacks.SendIp(s.A, Echo(ThreeStacks.AddrA, Ipv4Address.Parse("10.99.0.1")));
        ThreeStacks.SendIp(s.A, Echo(ThreeStacks.AddrA, Ipv4Address.Parse("10.99.0.1")));
        s.Pump();
        Assert.Equal(3, atA.Packets.Count);
        Assert.Equal(1, s.R.Mib.Icmp[IcmpMib.OutRateLimitHost]);
        Assert.Equal(12, s.R.Mib.IpExt[IpExtMib.InNoRoutes]);
    }

    /// <summary>R's route to 10.50.0.0/16 goes back out the link the packet came in on, via 10.9.1.2 (a second address of A).</summary>
    private static ThreeStacks RedirectSetup()
    {
        var s = new ThreeStacks();
        lock (s.A.SyncRoot) Assert.Equal(0, InetAddress.InetInsertIfa(s.A, s.Link1.A, Ipv4Address.Parse("10.9.1.2"), 24));
        Assert.Equal(0, s.R.Ipv4.Fib.Add(new FibEntry(Ipv4Address.Parse("10.50.0.0"), 16, Ipv4Address.Parse("10.9.1.2"), s.Link1.B)));
        s.Pump();
        return s;
    }

    [Fact]
    public void SameDeviceInAndOut_RedirectToTheNextHop_AndStillForwarded()
    {
        using var s = RedirectSetup();
        var atA = new IpCapture(s.Link1.A);
        var sent = Echo(ThreeStacks.AddrA, Ipv4Address.Parse("10.50.0.1"), ttl: 64);
        ThreeStacks.SendIp(s.A, sent);
        s.Pump();

        // The redirect first (sent before the packet leaves), then the packet itself back on the link.
        Assert.Equal(2, atA.Packets.Count);
        var (icmp, quoted) = ParseIcmp(atA.Packets[0]);
        Assert.Equal(new IcmpRepr(IcmpType.Redirect, IcmpType.RedirHost, Ipv4Address.Parse("10.9.1.2")), icmp);
        Assert.Equal(ThreeStacks.AddrR1, Ipv4Header.Create(atA.Packets[0]).Source);
        Assert.Equal(63, Ipv4Header.Create(quoted).Ttl); // quoted as it leaves
        Assert.True(Ipv4Header.Create(quoted.AsSpan(0, 20).ToArray()).VerifyChecksum());
        Assert.Equal(63, Ipv4Header.Create(atA.Packets[1]).Ttl);
        Assert.Equal(1, s.R.Mib.Icmp[IcmpMib.OutRedirects]);
        Assert.Equal(1, s.R.Mib.Ip[IpMib.ForwDatagrams]);
        Assert.Equal(1, s.A.Mib.Icmp[IcmpMib.InRedirects]);
    }

    [Fact]
    public void Redirects_BackOffPerSender()
    {
        using var s = RedirectSetup();
        uint dst = Ipv4Address.Parse("10.50.0.1");
        long Redirects() => s.R.Mib.Icmp[IcmpMib.OutRedirects];
        // ip_rt_send_redirect(): the first at once; the next once 20 ms << (redirects sent) have
        // passed since the last: 40 ms, then 80, 160 ...
        for (int i = 0; i < 3; i++) ThreeStacks.SendIp(s.A, Echo(ThreeStacks.AddrA, dst));
        s.Pump();
        Assert.Equal(1, Redirects());
        s.Advance(21);
        ThreeStacks.SendIp(s.A, Echo(ThreeStacks.AddrA, dst));
        s.Pump();
        Assert.Equal(1, Redirects());
        s.Advance(20); // 41 ms after the first
        ThreeStacks.SendIp(s.A, Echo(ThreeStacks.AddrA, dst));
        s.Pump();
        Assert.Equal(2, Redirects());
        Assert.Equal(5, s.R.Mib.Ip[IpMib.ForwDatagrams]); // every packet was forwarded all the same
        for (int n = 2; n < 9; n++)
        {
            s.Advance((20L << n) + 1);
            ThreeStacks.SendIp(s.A, Echo(ThreeStacks.AddrA, dst));
            s.Pump();
            Assert.Equal(n + 1, Redirects());
        }

        // Nine redirects ignored: no more, and each redirected packet restarts the wait for
        // ip_rt_redirect_silence ((20 ms) << 10 = 20.48 s) after which the algorithm starts over.
        s.Advance(20_000);
        ThreeStacks.SendIp(s.A, Echo(ThreeStacks.AddrA, dst));
        s.Pump();
        Assert.Equal(9, Redirects());
        s.Advance(20_000);
        ThreeStacks.SendIp(s.A, Echo(ThreeStacks.AddrA, dst)); // 40 s after the ninth, but 20 s after the last packet
        s.Pump();
        Assert.Equal(9, Redirects());
        s.Advance(20_481);
        ThreeStacks.SendIp(s.A, Echo(ThreeStacks.AddrA, dst));
        s.Pump();
        Assert.Equal(10, Redirects());
    }

    [Fact]
    public void SendRedirectsOff_OnAllAndDevice_NoRedirect()
    {
        using var s = RedirectSetup();
        Assert.Equal(0, s.R.Sysctl.TrySet("net.ipv4.conf.r1.send_redirects", "0"));
        ThreeStacks.SendIp(s.A, Echo(ThreeStacks.AddrA, Ipv4Address.Parse("10.50.0.1")));
        s.Pump();
        Assert.Equal(1, s.R.Mib.Icmp[IcmpMib.OutRedirects]); // conf.all.send_redirects still 1: IN_DEV_ORCONF
        Assert.Equal(0, s.R.Sysctl.TrySet("net.ipv4.conf.all.send_redirects", "0"));
        s.Advance(25_000);
        ThreeStacks.SendIp(s.A, Echo(ThreeStacks.AddrA, Ipv4Address.Parse("10.50.0.1")));
        s.Pump();
        Assert.Equal(1, s.R.Mib.Icmp[IcmpMib.OutRedirects]);
        Assert.Equal(2, s.R.Mib.Ip[IpMib.ForwDatagrams]);
    }

    [Fact]
    public void BroadcastToAnotherSubnetOfTheRouter_AcceptedNotForwarded()
    {
        using var s = new ThreeStacks();
        s.Pump();
        var atB = new IpCapture(s.Link2.B);
        // 10.9.2.255 is the broadcast of R's other link: R's local table takes it (RTN_BROADCAST).
        ThreeStacks.SendIp(s.A, Pkt.Ip(ThreeStacks.AddrA, Ipv4Address.Parse("10.9.2.255"), IpProto.UDP, new byte[12], df: false));
        s.Pump();
        Assert.Empty(atB.Packets);
        Assert.Equal(0, s.R.Mib.Ip[IpMib.ForwDatagrams]);
        Assert.Equal(1, s.R.Mib.IpExt[IpExtMib.InBcastPkts]);
    }

    /// <summary>An echo request with <paramref name="options"/> (a multiple of 4 bytes) after the fixed header.</summary>
    private static byte[] EchoWithOptions(byte[] options, byte ttl = 64)
    {
        var icmp = Pkt.EchoRequest(0x4242, 1, Pkt.PingData());
        var b = new byte[20 + options.Length + icmp.Length];
        new Ipv4Repr(ThreeStacks.AddrA, ThreeStacks.AddrB, IpProto.ICMP, 0, ttl, 0, 0x1234, true).Emit(Ipv4Header.Create(b));
        var h = Ipv4Header.Create(b);
        h.SetVersionIhl(4, 5 + options.Length / 4);
        h.TotalLength = (ushort)b.Length;
        options.CopyTo(b, 20);
        icmp.CopyTo(b, 20 + options.Length);
        h.FillChecksum();
        return b;
    }

    [Fact]
    public void RecordRoute_RouterWritesItsOutgoingAddress()
    {
        using var s = new ThreeStacks();
        s.Pump();
        var atB = new IpCapture(s.Link2.B);
        // RR with room for two addresses, the first slot already used by A (as ping -R fills it).
        byte[] rr = [IpOptions.IpoptRr, 11, 8, 10, 9, 1, 1, 0, 0, 0, 0, IpOptions.IpoptEnd];
        ThreeStacks.SendIp(s.A, EchoWithOptions(rr));
        s.Pump();
        var got = Assert.Single(atB.Packets);
        var h = Ipv4Header.Create(got);
        Assert.Equal(32, h.HeaderLength);
        Assert.Equal(63, h.Ttl);
        Assert.True(h.VerifyChecksum());
        // The pointer moved past the second slot, which holds R's address on the link to B.
        Assert.Equal(new byte[] { IpOptions.IpoptRr, 11, 12, 10, 9, 1, 1, 10, 9, 2, 254, IpOptions.IpoptEnd }, got.AsSpan(20, 12).ToArray());
        Assert.Equal(2, s.R.Mib.Ip[IpMib.ForwDatagrams]); // the request and B's reply
    }

    [Fact]
    public void SourceRoute_Dropped_AcceptSourceRouteIsOff()
    {
        using var s = new ThreeStacks();
        s.Pump();
        var atB = new IpCapture(s.Link2.B);
        byte[] lsrr = [IpOptions.IpoptNoop, IpOptions.IpoptLsrr, 7, 4, 10, 9, 2, 1];
        ThreeStacks.SendIp(s.A, EchoWithOptions(lsrr));
        s.Pump();
        Assert.Empty(atB.Packets);
        Assert.Equal(0, s.R.Mib.Ip[IpMib.ForwDatagrams]);
        Assert.Equal(0, s.R.Mib.Ip[IpMib.InHdrErrors]); // ip_rcv_options() drops it without a counter
        Assert.Equal(1, s.R.Mib.Drops[SkbDropReason.IpOptionsUnsupported]);
    }

    [Fact]
    public void MalformedOption_ParameterProblemPointingAtIt_InHdrErrors()
    {
        using var s = new ThreeStacks();
        s.Pump();
        var atA = new IpCapture(s.Link1.A);
        byte[] bad = [IpOptions.IpoptNoop, 0x44, 9, 5]; // a timestamp option longer than what is left
        var sent = EchoWithOptions(bad);
        ThreeStacks.SendIp(s.A, sent);
        s.Pump();
        var (icmp, quoted) = ParseIcmp(Assert.Single(atA.Packets));
        Assert.Equal(new IcmpRepr(IcmpType.ParameterProb, 0, 21u << 24), icmp); // the option at byte 21 of the header
        Assert.Equal(sent, quoted);
        Assert.Equal(1, s.R.Mib.Ip[IpMib.InHdrErrors]);
        Assert.Equal(0, s.R.Mib.Ip[IpMib.ForwDatagrams]);
    }
}
