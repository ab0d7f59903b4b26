using NetStack.Wire;

namespace NetStack.Tests.Wire;

/// <summary>
/// The IPv6 header, extension header walk, ICMPv6 checksum and neighbour discovery options,
/// checked against packets scapy built (an independent implementation: its checksums and layout).
/// </summary>
public class Ipv6HeaderTests
{
    private static readonly byte[] Echo = Convert.FromHexString("6000000000163a40fe800000000000000000000000000001fe8000000000000002000afffe0700028000acad123400076e6574737461636b2d70696e6736");
    private static readonly byte[] Ns = Convert.FromHexString("6000000000203afffe800000000000000000000000000001ff0200000000000000000001ff0700028700658200000000fe8000000000000002000afffe070002010102000a070001");
    private static readonly byte[] Ra = Convert.FromHexString("6000000000403afffe800000000000000000000000000001ff0200000000000000000000000000018600a86a4048070800007530000003e8010102000a07000105010000000005dc030440c000015180000038400000000020010db8000700000000000000000000");
    private static readonly byte[] ExtHeaders = Convert.FromHexString("600000000024004020010db800000000000000000000000120010db80000000000000000000000023c00010400000000060001040000000004d200500000000100000000500220002f4b0000");
    private static readonly byte[] Fragment = Convert.FromHexString("6000000000182c4020010db800000000000000000000000120010db800000000000000000000000206000321abcdef0100000000000000000000000000000000");

    [Fact]
    public void EchoRequest_HeaderAndChecksum_AsScapyBuiltThem()
    {
        var buf = (byte[])Echo.Clone();
        Assert.Equal(Ipv6ParseResult.Ok, Ipv6Header.TryCreate(buf, out var h));
        var r = Ipv6Repr.Parse(h);
        Assert.Equal("fe80::1", Ipv6Address.Format(r.Source));
        Assert.Equal("fe80::200:aff:fe07:2", Ipv6Address.Format(r.Destination));
        Assert.Equal(NextHdr.Icmp, r.NextHeader);
        Assert.Equal(64, r.HopLimit);
        Assert.Equal(buf.Length - Ipv6Header.Length, r.PayloadLength);
        Assert.True(Icmpv6Header.TryCreate(h.Payload, out var icmp));
        Assert.Equal(Icmpv6Type.EchoRequest, icmp.Type);
        Assert.Equal(0x1234, icmp.EchoId);
        Assert.Equal(7, icmp.EchoSequence);
        Assert.True(icmp.VerifyChecksum(r.Source, r.Destination));
        ushort theirs = icmp.Checksum;
        icmp.FillChecksum(r.Source, r.Destination);
        Assert.Equal(theirs, icmp.Checksum);
        // One bit flipped in the pseudo-header's address: the checksum no longer verifies.
        Assert.False(icmp.VerifyChecksum(r.Source ^ 1, r.Destination));

        // Emitting the value form writes the same 40 bytes.
        var again = new byte[Ipv6Header.Length];
        r.Emit(Ipv6Header.Create(again));
        Assert.Equal(buf.AsSpan(0, Ipv6Header.Length).ToArray(), again);
    }

    [Fact]
    public void TrafficClassAndFlowLabel_RoundTrip()
    {
        var buf = new byte[Ipv6Header.Length];
        new Ipv6Repr(Ipv6Address.Loopback, Ipv6Address.Loopback, NextHdr.Udp, 0, 1, 0xB8, 0xABCDE).Emit(Ipv6Header.Create(buf));
        Assert.Equal(Convert.FromHexString("6B8ABCDE"), buf[..4]);
        var h = Ipv6Header.Create(buf);
        Assert.Equal(6, h.Version);
        Assert.Equal(0xB8, h.TrafficClass);
        Assert.Equal(0xABCDEu, h.FlowLabel);
        h.TrafficClass = 0x01;
        Assert.Equal(0xABCDEu, h.FlowLabel);
        h.FlowLabel = 0x12345;
        Assert.Equal(0x01, h.TrafficClass);
    }

    [Fact]
    public void TryCreate_ChecksInIp6RcvCoreOrder()
    {
        Assert.Equal(Ipv6ParseResult.Truncated, Ipv6Header.TryCreate(Echo.AsSpan(0, 39).ToArray(), out _));
        var v4 = (byte[])Echo.Clone();
        v4[0] = 0x45;
        Assert.Equal(Ipv6ParseResult.BadVersion, Ipv6Header.TryCreate(v4, out _));
        // A payload length past the frame (a truncated packet).
        Assert.Equal(Ipv6ParseResult.PayloadTooLong, Ipv6Header.TryCreate(Echo.AsSpan(0, Echo.Length - 1).ToArray(), out _));
        // Link padding after the payload is not payload.
        var padded = new byte[Echo.Length + 10];
        Echo.CopyTo(padded, 0);
        Assert.Equal(Ipv6ParseResult.Ok, Ipv6Header.TryCreate(padded, out var h));
        Assert.Equal(Echo.Length - Ipv6Header.Length, h.Payload.Length);
        // Payload length 0 before a hop-by-hop header announces a jumbogram.
        var jumbo = (byte[])ExtHeaders.Clone();
        jumbo[4] = 0; jumbo[5] = 0;
        Assert.Equal(Ipv6ParseResult.Jumbo, Ipv6Header.TryCreate(jumbo, out _));
    }

    [Fact]
    public void SkipExthdr_WalksHopByHopAndDestinationOptions_ToTcp()
    {
        Assert.Equal(Ipv6ParseResult.Ok, Ipv6Header.TryCreate((byte[])ExtHeaders.Clone(), out var h));
        byte nh = h.NextHeader;
        Assert.Equal(NextHdr.Hop, nh);
        int off = Ipv6ExtHdr.Skip(ExtHeaders, Ipv6Header.Length, ref nh, out ushort frag);
        Assert.Equal(NextHdr.Tcp, nh);
        Assert.Equal(Ipv6Header.Length + 8 + 8, off);
        Assert.Equal(0, frag);
        Assert.Equal(1234, ExtHeaders[off] << 8 | ExtHeaders[off + 1]);
        // Cut inside the destination options: the walk fails rather than reading past the packet.
        nh = NextHdr.Hop;
        Assert.Equal(-1, Ipv6ExtHdr.Skip(ExtHeaders.AsSpan(0, Ipv6Header.Length + 8 + 1), Ipv6Header.Length, ref nh, out _));
    }

    [Fact]
    public void SkipExthdr_StopsAtANonFirstFragment_AndRefusesNone()
    {
        Assert.Equal(Ipv6ParseResult.Ok, Ipv6Header.TryCreate((byte[])Fragment.Clone(), out var h));
        byte nh = h.NextHeader;
        int off = Ipv6ExtHdr.Skip(Fragment, Ipv6Header.Length, ref nh, out ushort frag);
        Assert.Equal(NextHdr.Fragment, nh);
        Assert.Equal(Ipv6Header.Length, off);
        Assert.True(Ipv6FragHeader.TryCreate(Fragment.AsSpan(off).ToArray(), out var fh));
        Assert.Equal(800, fh.Offset);
        Assert.True(fh.More);
        Assert.False(fh.IsAtomic);
        Assert.Equal(0xabcdef01u, fh.Identification);
        Assert.Equal(NextHdr.Tcp, fh.NextHeader);
        Assert.Equal(fh.FragOff, frag);

        byte none = NextHdr.None;
        Assert.Equal(-1, Ipv6ExtHdr.Skip(Fragment, Ipv6Header.Length, ref none, out _));
    }

    [Fact]
    public void SkipExthdr_ALoopOfHeaders_EndsAtThePacketsEnd()
    {
        // Destination options headers, each naming another one, to the end of the buffer.
        var p = new byte[Ipv6Header.Length + 8 * 50];
        for (int i = Ipv6Header.Length; i < p.Length; i += 8) p[i] = NextHdr.Dest;
        byte nh = NextHdr.Dest;
        Assert.Equal(-1, Ipv6ExtHdr.Skip(p, Ipv6Header.Length, ref nh, out _));
    }

    [Fact]
    public void NeighbourSolicitation_TargetAndSourceLinkLayerAddress()
    {
        var msg = Ns.AsSpan(Ipv6Header.Length);
        Assert.Equal(Icmpv6Type.NeighbourSolicitation, msg[0]);
        Assert.Equal("fe80::200:aff:fe07:2", Ipv6Address.Format(NdMsg.Target(msg)));
        var opts = msg[NdMsg.NsNaOptions..];
        Assert.True(NdiscOptions.Parse(opts, out var o));
        Assert.True(NdiscOptions.TryLlAddr(opts, o.SourceLlAddr, out var mac));
        Assert.Equal(MacAddress.Parse("02:00:0a:07:00:01"), mac);
        Assert.False(NdiscOptions.TryLlAddr(opts, o.TargetLlAddr, out _));

        // The option written back is the same 8 bytes.
        var w = new byte[8];
        Assert.Equal(8, NdiscOptions.WriteLlAddr(w, NdOpt.SourceLlAddr, mac));
        Assert.Equal(opts[..8].ToArray(), w);
    }

    [Fact]
    public void RouterAdvertisement_FieldsAndOptions()
    {
        var msg = Ra.AsSpan(Ipv6Header.Length);
        Assert.Equal(Icmpv6Type.RouterAdvertisement, msg[0]);
        Assert.Equal(64, NdMsg.RaCurHopLimit(msg));
        Assert.Equal(NdMsg.RaOther, NdMsg.RaFlags(msg) & (NdMsg.RaManaged | NdMsg.RaOther)); // scapy also sets the preference bits (RFC 4191)
        Assert.Equal(1800, NdMsg.RaRouterLifetime(msg));
        Assert.Equal(30000u, NdMsg.RaReachableTime(msg));
        Assert.Equal(1000u, NdMsg.RaRetransTimer(msg));
        var opts = msg[NdMsg.RaOptions..];
        Assert.True(NdiscOptions.Parse(opts, out var o));
        Assert.NotEqual(0, o.Mtu);
        Assert.Equal(1500u, System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(opts[(o.Mtu - 1 + 4)..]));
        Assert.Equal(o.PrefixInfoFirst, o.PrefixInfoLast);
        Assert.True(NdPrefixInfo.TryCreate(opts, o.PrefixInfoFirst, out var pi));
        Assert.Equal(64, pi.PrefixLength);
        Assert.True(pi.OnLink);
        Assert.True(pi.Autoconf);
        Assert.Equal(86400u, pi.ValidLifetime);
        Assert.Equal(14400u, pi.PreferredLifetime);
        Assert.Equal("2001:db8:7::", Ipv6Address.Format(pi.Prefix));
        var src = Ipv6Address.Read(Ra.AsSpan(8));
        var dst = Ipv6Address.Read(Ra.AsSpan(24));
        Assert.True(Icmpv6Header.TryCreate(Ra.AsSpan(Ipv6Header.Length).ToArray(), out var icmp));
        Assert.True(icmp.VerifyChecksum(src, dst));
    }

    [Fact]
    public void NdiscOptions_MalformedAreaIsRefused_DuplicatesKeepTheFirst()
    {
        Assert.False(NdiscOptions.Parse([1, 0, 0, 0, 0, 0, 0, 0], out _));          // length 0
        Assert.False(NdiscOptions.Parse([1, 2, 0, 0, 0, 0, 0, 0], out _));          // past the end
        Assert.False(NdiscOptions.Parse([1, 1, 2, 0, 0, 0, 0, 0, 9], out _));       // a lone byte after
        byte[] two = [1, 1, 2, 0, 0, 0, 0, 1, 1, 1, 2, 0, 0, 0, 0, 2, 99, 1, 0, 0, 0, 0, 0, 0];
        Assert.True(NdiscOptions.Parse(two, out var o));
        Assert.Equal(1, o.Duplicates);
        Assert.Equal(1, o.Unsupported);
        Assert.True(NdiscOptions.TryLlAddr(two, o.SourceLlAddr, out var mac));
        Assert.Equal(MacAddress.Parse("02:00:00:00:00:01"), mac);
        // A link-layer option two units long is not an Ethernet address (ndisc_opt_addr_data).
        byte[] longer = [1, 2, 2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        Assert.True(NdiscOptions.Parse(longer, out var o2));
        Assert.False(NdiscOptions.TryLlAddr(longer, o2.SourceLlAddr, out _));
    }
}
