using NetStack.Core;
using NetStack.Ipv6;
using NetStack.Tests.Core;
using NetStack.Wire;
using static NetStack.Tests.Ipv6.NdiscTests;
using static NetStack.Tests.Ipv6.Pkt6;

namespace NetStack.Tests.Ipv6;

/// <summary>ipv6_rcv's checks, the extension headers and ICMPv6 echo and errors, with whole frames.</summary>
public class Ip6InputTests
{
    private static readonly MacAddress Mac = OneStack.Mac, PeerMac = OneStack.PeerMac;

    /// <summary>A stack that knows the peer's link-local and global addresses (learned from its NSs), with nothing sent.</summary>
    private static OneStack Stack()
    {
        var s = NewStack();
        s.Receive(McastNs(PeerLl, StackLl));
        s.Receive(McastNs(PeerGlobal, StackGlobal));
        s.Dev.Sent.Clear();
        return s;
    }

    private static long Ip6(OneStack s, Ipv6Mib m) => s.Net.Ip6Mib[m];
    private static long Icmp6(OneStack s, Icmp6Mib m) => s.Net.Ipv6.Icmp6Stats[m];

    private static byte[] ToStack(byte[] ip6) => Frame(Mac, PeerMac, ip6);

    [Theory]
    [InlineData("ll")]
    [InlineData("global")]
    public void EchoRequest_AnsweredByEchoReply_WithTheRightChecksum(string which)
    {
        using var s = Stack();
        var (peer, us) = which == "ll" ? (PeerLl, StackLl) : (PeerGlobal, StackGlobal);
        var data = Pkt.PingData();
        s.Receive(ToStack(Pkt6.Ip6(peer, us, 58, Pkt6.Icmp6(peer, us, 128, 0, 0x4242_0007, data), tclass: 0x10)));
        var reply = Assert.Single(s.Dev.TakeSent());
        Assert.Equal(Frame(PeerMac, Mac, Pkt6.Ip6(us, peer, 58, Pkt6.Icmp6(us, peer, 129, 0, 0x4242_0007, data), tclass: 0x10)), reply);
        Assert.Equal(0, Checksum.TcpUdpV6(us, peer, 58, reply.AsSpan(54)));
        Assert.Equal(1, Icmp6(s, Icmp6Mib.Icmp6InEchos));
        Assert.Equal(1, Icmp6(s, Icmp6Mib.Icmp6OutEchoReplies));
        Assert.Equal(1, Ip6(s, Ipv6Mib.Ip6InDelivers) - 2); // the two NSs were delivered too
        Assert.Equal(1, Ip6(s, Ipv6Mib.Ip6OutRequests) - 2);
    }

    [Fact]
    public void EchoRequest_WithBadChecksum_CountedAndDropped()
    {
        using var s = Stack();
        var icmp = Pkt6.Icmp6(PeerGlobal, StackGlobal, 128, 0, 1, Pkt.PingData());
        icmp[3] ^= 0x55;
        s.Receive(ToStack(Pkt6.Ip6(PeerGlobal, StackGlobal, 58, icmp)));
        Assert.Empty(s.Dev.Sent);
        Assert.Equal(1, Icmp6(s, Icmp6Mib.Icmp6InCsumErrors));
        Assert.Equal(1, Icmp6(s, Icmp6Mib.Icmp6InErrors));
        Assert.Equal(0, Icmp6(s, Icmp6Mib.Icmp6InEchos));
        Assert.Equal(1, s.Net.Mib.Drops[SkbDropReason.IcmpCsum]);
    }

    public static TheoryData<string, int, string> Malformed => new()
    {
        { "truncated", 39, nameof(Ipv6Mib.Ip6InHdrErrors) },
        { "version4", 0, nameof(Ipv6Mib.Ip6InHdrErrors) },
        { "payload-longer-than-frame", 0, nameof(Ipv6Mib.Ip6InTruncatedPkts) },
        { "multicast-source", 0, nameof(Ipv6Mib.Ip6InHdrErrors) },
        { "loopback-destination", 0, nameof(Ipv6Mib.Ip6InHdrErrors) },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void MalformedPacket_DroppedAndCounted(string kind, int cut, string counter)
    {
        using var s = Stack();
        var icmp = Pkt6.Icmp6(PeerGlobal, StackGlobal, 128, 0, 1, Pkt.PingData());
        byte[] ip6 = kind switch
        {
            "truncated" => Pkt6.Ip6(PeerGlobal, StackGlobal, 58, icmp)[..cut],
            "version4" => Pkt6.Ip6(PeerGlobal, StackGlobal, 58, icmp, version: 4),
            "payload-longer-than-frame" => Pkt6.Ip6(PeerGlobal, StackGlobal, 58, icmp, payloadLength: icmp.Length + 1),
            "multicast-source" => Pkt6.Ip6(Ipv6Address.AllNodes, StackGlobal, 58, icmp),
            _ => Pkt6.Ip6(PeerGlobal, Ipv6Address.Loopback, 58, icmp),
        };
        var before = s.Net.Ip6Mib.Get(counter);
        s.Receive(ToStack(ip6));
        Assert.Empty(s.Dev.Sent);
        Assert.Equal(before + 1, s.Net.Ip6Mib.Get(counter));
        Assert.Equal(0, Icmp6(s, Icmp6Mib.Icmp6InEchos));
    }

    [Fact]
    public void EthernetPadding_IsTrimmedToThePayloadLength()
    {
        using var s = Stack();
        var ip6 = Pkt6.Ip6(PeerGlobal, StackGlobal, 58, Pkt6.Icmp6(PeerGlobal, StackGlobal, 128, 0, 1, []));
        s.Receive(Pkt.Eth(Mac, PeerMac, EthP.IPV6, ip6, padTo: 100));
        Assert.Equal(Frame(PeerMac, Mac, Pkt6.Ip6(StackGlobal, PeerGlobal, 58, Pkt6.Icmp6(StackGlobal, PeerGlobal, 129, 0, 1, []))), Assert.Single(s.Dev.Sent));
    }

    /// <summary>A destination options header (next header ICMPv6) holding one option of <paramref name="type"/> with 4 data bytes.</summary>
    private static byte[] DestOpts(byte type) => [58, 0, type, 4, 0, 0, 0, 0];

    [Fact]
    public void UnknownOption_HighBits10_ParameterProblemPointingAtIt_EvenToMulticast()
    {
        using var s = Stack();
        var echo = Pkt6.Icmp6(PeerGlobal, StackGlobal, 128, 0, 1, []);
        var pkt = Pkt6.Ip6(PeerGlobal, StackGlobal, 60, [.. DestOpts(0x80 | 0x1e), .. echo]);
        s.Receive(ToStack(pkt));
        var expected = Frame(PeerMac, Mac, Pkt6.Ip6(StackGlobal, PeerGlobal, 58, Pkt6.Icmp6(StackGlobal, PeerGlobal, 4, 2, 42, pkt)));
        Assert.Equal(expected, Assert.Single(s.Dev.TakeSent()));
        Assert.Equal(1, Icmp6(s, Icmp6Mib.Icmp6OutParmProblems));
        Assert.Equal(0, Icmp6(s, Icmp6Mib.Icmp6InEchos));

        // 10: even for a packet to a group we listen to.
        var all = Ipv6Address.AllNodes;
        var mpkt = Pkt6.Ip6(PeerGlobal, all, 60, [.. DestOpts(0x80 | 0x1e), .. Pkt6.Icmp6(PeerGlobal, all, 128, 0, 1, [])]);
        s.Clock.Advance(Time.Sec(1)); // the per-host token bucket refills
        s.Receive(Frame(McMac(all), PeerMac, mpkt));
        Assert.Equal(Frame(PeerMac, Mac, Pkt6.Ip6(StackGlobal, PeerGlobal, 58, Pkt6.Icmp6(StackGlobal, PeerGlobal, 4, 2, 42, mpkt))), Assert.Single(s.Dev.TakeSent()));
    }

    [Theory]
    [InlineData(0x1e, true, false)]   // 00: skipped, the echo is answered
    [InlineData(0x40 | 0x1e, false, false)] // 01: dropped silently
    [InlineData(0xc0 | 0x1e, false, true)]  // 11: parameter problem to a unicast destination
    public void UnknownOption_ActedOnByItsHighBits(byte type, bool answered, bool paramProb)
    {
        using var s = Stack();
        var pkt = Pkt6.Ip6(PeerGlobal, StackGlobal, 60, [.. DestOpts(type), .. Pkt6.Icmp6(PeerGlobal, StackGlobal, 128, 0, 1, [])]);
        s.Receive(ToStack(pkt));
        var sent = s.Dev.TakeSent();
        Assert.Equal(answered || paramProb ? 1 : 0, sent.Count);
        if (answered) Assert.Equal(129, sent[0][54]);
        if (paramProb) Assert.Equal(Frame(PeerMac, Mac, Pkt6.Ip6(StackGlobal, PeerGlobal, 58, Pkt6.Icmp6(StackGlobal, PeerGlobal, 4, 2, 42, pkt))), sent[0]);
    }

    [Fact]
    public void PadNWithNonZeroBytes_OrTooMuchPadding_IsAHeaderError()
    {
        using var s = Stack();
        var echo = Pkt6.Icmp6(PeerGlobal, StackGlobal, 128, 0, 1, []);
        s.Receive(ToStack(Pkt6.Ip6(PeerGlobal, StackGlobal, 60, [58, 0, 1, 4, 0, 1, 0, 0, .. echo])));
        s.Receive(ToStack(Pkt6.Ip6(PeerGlobal, StackGlobal, 60, [58, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, .. echo]))); // 14 Pad1s
        Assert.Empty(s.Dev.Sent);
        Assert.Equal(2, Ip6(s, Ipv6Mib.Ip6InHdrErrors));
    }

    [Fact]
    public void RoutingHeaderType0_WithSegmentsLeft_ParameterProblemAtItsType()
    {
        using var s = Stack();
        byte[] rh0 = [58, 2, 0, 1, 0, 0, 0, 0, .. new byte[16]];
        var pkt = Pkt6.Ip6(PeerGlobal, StackGlobal, 43, [.. rh0, .. Pkt6.Icmp6(PeerGlobal, StackGlobal, 128, 0, 1, [])]);
        s.Receive(ToStack(pkt));
        Assert.Equal(Frame(PeerMac, Mac, Pkt6.Ip6(StackGlobal, PeerGlobal, 58, Pkt6.Icmp6(StackGlobal, PeerGlobal, 4, 0, 42, pkt))), Assert.Single(s.Dev.TakeSent()));
        Assert.Equal(1, Ip6(s, Ipv6Mib.Ip6InHdrErrors));

        // With no segments left it is skipped whatever its type (RFC 5095), and the echo is answered.
        byte[] rh0done = [58, 2, 0, 0, 0, 0, 0, 0, .. new byte[16]];
        s.Receive(ToStack(Pkt6.Ip6(PeerGlobal, StackGlobal, 43, [.. rh0done, .. Pkt6.Icmp6(PeerGlobal, StackGlobal, 128, 0, 2, [])])));
        Assert.Equal(129, Assert.Single(s.Dev.TakeSent())[54]);
    }

    [Fact]
    public void HopByHop_AfterTheFirstHeader_IsAnUnknownNextHeader()
    {
        using var s = Stack();
        byte[] dst = [0, 0, 1, 4, 0, 0, 0, 0]; // destination options (PadN) then a hop-by-hop header
        byte[] hbh = [58, 0, 1, 4, 0, 0, 0, 0];
        var pkt = Pkt6.Ip6(PeerGlobal, StackGlobal, 60, [.. dst, .. hbh, .. Pkt6.Icmp6(PeerGlobal, StackGlobal, 128, 0, 1, [])]);
        s.Receive(ToStack(pkt));
        Assert.Equal(Frame(PeerMac, Mac, Pkt6.Ip6(StackGlobal, PeerGlobal, 58, Pkt6.Icmp6(StackGlobal, PeerGlobal, 4, 1, 40, pkt))), Assert.Single(s.Dev.TakeSent()));
        Assert.Equal(1, Ip6(s, Ipv6Mib.Ip6InUnknownProtos));

        // First, it is processed and the echo answered.
        s.Receive(ToStack(Pkt6.Ip6(PeerGlobal, StackGlobal, 0, [.. hbh, .. Pkt6.Icmp6(PeerGlobal, StackGlobal, 128, 0, 1, [])])));
        Assert.Equal(129, Assert.Single(s.Dev.TakeSent())[54]);
    }

    [Fact]
    public void UnknownNextHeader_ParameterProblemCode1_AtTheNextHeaderField()
    {
        using var s = Stack();
        var pkt = Pkt6.Ip6(PeerGlobal, StackGlobal, 253, [1, 2, 3, 4]);
        s.Receive(ToStack(pkt));
        Assert.Equal(Frame(PeerMac, Mac, Pkt6.Ip6(StackGlobal, PeerGlobal, 58, Pkt6.Icmp6(StackGlobal, PeerGlobal, 4, 1, 6, pkt))), Assert.Single(s.Dev.TakeSent()));
        Assert.Equal(1, Ip6(s, Ipv6Mib.Ip6InUnknownProtos));
    }

    [Fact]
    public void ParameterProblems_ToOneHost_AreRateLimited()
    {
        using var s = Stack();
        var pkt = Pkt6.Ip6(PeerGlobal, StackGlobal, 253, [1, 2, 3, 4]);
        for (int i = 0; i < 20; i++) s.Receive(ToStack(pkt));
        // Burst of 6 messages (XRLIM_BURST_FACTOR), nothing more without time passing.
        Assert.Equal(6, s.Dev.TakeSent().Count);
        Assert.Equal(14, Icmp6(s, Icmp6Mib.Icmp6OutRateLimitHost));
        // The /64 route gives the host one message per ratelimit >> 2 = 250 ms.
        s.Clock.Advance(Time.Ms(250));
        s.Receive(ToStack(pkt));
        s.Receive(ToStack(pkt));
        Assert.Single(s.Dev.TakeSent());
    }

    /// <summary>A fragment header: next header ICMPv6, <paramref name="offset"/> bytes, the M flag, id 7.</summary>
    private static byte[] FragHdr(int offset, bool more) => [58, 0, (byte)(offset >> 8), (byte)(offset & 0xF8 | (more ? 1 : 0)), 0, 0, 0, 7];

    [Fact]
    public void FragmentedEchoRequest_IsReassembled_AndTheBigReplyLeavesInFragments()
    {
        using var s = Stack();
        var data = new byte[1800];
        for (int i = 0; i < data.Length; i++) data[i] = (byte)i;
        var req = Pkt6.Icmp6(PeerGlobal, StackGlobal, 128, 0, 0x0101_0002, data);
        s.Receive(ToStack(Pkt6.Ip6(PeerGlobal, StackGlobal, 44, [.. FragHdr(0, true), .. req.AsSpan(0, 1232)])));
        Assert.Empty(s.Dev.Sent); // queued
        s.Receive(ToStack(Pkt6.Ip6(PeerGlobal, StackGlobal, 44, [.. FragHdr(1232, false), .. req.AsSpan(1232)])));
        Assert.Equal(1, Icmp6(s, Icmp6Mib.Icmp6InEchos));

        // The reply (40 + 1808 bytes) is over the 1500-byte MTU: it leaves as fragments whose data,
        // in order, is exactly the ICMPv6 echo reply.
        var frames = s.Dev.TakeSent();
        Assert.True(frames.Count >= 2);
        var reply = new List<byte>();
        uint? id = null;
        for (int i = 0; i < frames.Count; i++)
        {
            var f = frames[i];
            Assert.True(f.Length <= 1514);
            Assert.Equal(PeerMac, EthernetHeader.Create(f).Destination);
            var ip6 = f.AsSpan(14);
            Assert.Equal(44, ip6[6]);
            var fh = Ipv6FragHeader.Create(ip6[40..]);
            Assert.Equal(reply.Count, fh.Offset);
            Assert.Equal(i < frames.Count - 1, fh.More);
            Assert.Equal(id ??= fh.Identification, fh.Identification);
            reply.AddRange(ip6[48..].ToArray());
        }
        Assert.Equal(Pkt6.Icmp6(StackGlobal, PeerGlobal, 129, 0, 0x0101_0002, data), reply.ToArray());
        Assert.Equal(1, Ip6(s, Ipv6Mib.Ip6FragOKs));
        Assert.Equal(1, Ip6(s, Ipv6Mib.Ip6ReasmOKs));
    }

    [Fact]
    public void PacketForAnotherAddress_OnOurPrefix_IsAnAddressError()
    {
        using var s = Stack();
        s.Receive(ToStack(Pkt6.Ip6(PeerGlobal, Ipv6Address.Parse("fd00::99"), 58, Pkt6.Icmp6(PeerGlobal, StackGlobal, 128, 0, 1, []))));
        Assert.Empty(s.Dev.Sent);
        Assert.Equal(1, Ip6(s, Ipv6Mib.Ip6InAddrErrors));
    }
}
