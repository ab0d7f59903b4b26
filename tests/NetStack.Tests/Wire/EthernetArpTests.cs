using NetStack.Wire;

namespace NetStack.Tests.Wire;

public class EthernetHeaderTests
{
    [Fact]
    public void Golden_ParsesFields()
    {
        Assert.True(EthernetHeader.TryCreate(Golden.EchoRequest, out var eth));
        var r = EthernetRepr.Parse(eth);
        Assert.Equal(MacAddress.Parse(Golden.MacB), r.Destination);
        Assert.Equal(MacAddress.Parse(Golden.MacA), r.Source);
        Assert.Equal(EthP.IP, r.EtherType);
        Assert.Equal(Golden.EchoRequest.Length - 14, eth.Payload.Length);
        Assert.Equal(0x45, eth.Payload[0]);

        Assert.True(EthernetHeader.TryCreate(Golden.ArpRequest, out var arp));
        Assert.True(arp.Destination.IsBroadcast);
        Assert.Equal(EthP.ARP, arp.EtherType);
    }

    [Theory]
    [MemberData(nameof(Frames))]
    public void ParseThenEmit_IntoDirtyBuffer_IsIdentical(byte[] frame)
    {
        Assert.True(EthernetHeader.TryCreate(frame, out var eth));
        var repr = EthernetRepr.Parse(eth);
        var buf = Golden.Dirty(EthernetHeader.Length);
        repr.Emit(EthernetHeader.Create(buf));
        Assert.Equal(frame[..14], buf);
    }

    public static TheoryData<byte[]> Frames() => [Golden.ArpRequest, Golden.ArpReply, Golden.EchoRequest, Golden.EchoReply, Golden.Udp, Golden.PortUnreachable];

    [Fact]
    public void Truncated_IsRejected()
    {
        for (int n = 0; n < EthernetHeader.Length; n++)
            Assert.False(EthernetHeader.TryCreate(Golden.EchoRequest.AsSpan(0, n).ToArray(), out _));
        Assert.True(EthernetHeader.TryCreate(Golden.EchoRequest.AsSpan(0, 14).ToArray(), out var h));
        Assert.Equal(0, h.Payload.Length);
    }
}

public class ArpPacketTests
{
    private static readonly uint IpA = Ipv4Address.Parse(Golden.IpA), IpB = Ipv4Address.Parse(Golden.IpB);
    private static readonly MacAddress MacA = MacAddress.Parse(Golden.MacA), MacB = MacAddress.Parse(Golden.MacB);

    [Fact]
    public void GoldenRequest_Parses()
    {
        Assert.True(ArpPacket.TryCreate(Golden.ArpRequest.AsSpan(14), out var p));
        Assert.True(p.IsEthernetIpv4);
        Assert.True(ArpRepr.TryParse(p, out var r));
        Assert.Equal(new ArpRepr(ArpPacket.OpRequest, MacA, IpA, MacAddress.Zero, IpB), r);
    }

    [Fact]
    public void GoldenReply_Parses()
    {
        Assert.True(ArpPacket.TryCreate(Golden.ArpReply.AsSpan(14), out var p));
        Assert.True(ArpRepr.TryParse(p, out var r));
        Assert.Equal(new ArpRepr(ArpPacket.OpReply, MacB, IpB, MacA, IpA), r);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ParseThenEmit_IntoDirtyBuffer_IsIdentical(bool request)
    {
        var frame = request ? Golden.ArpRequest : Golden.ArpReply;
        Assert.True(ArpPacket.TryCreate(frame.AsSpan(14), out var p));
        Assert.True(ArpRepr.TryParse(p, out var r));
        var buf = Golden.Dirty(ArpPacket.Length + 4);
        r.Emit(ArpPacket.Create(buf));
        Assert.Equal(frame[14..], buf[..ArpPacket.Length]);
        Assert.All(buf[ArpPacket.Length..], b => Assert.Equal(0xA5, b)); // nothing written past the packet
    }

    [Fact]
    public void Truncated_IsRejected()
    {
        var arp = Golden.ArpRequest[14..];
        for (int n = 0; n < ArpPacket.Length; n++)
            Assert.False(ArpPacket.TryCreate(arp.AsSpan(0, n), out _), $"length {n}");
        Assert.True(ArpPacket.TryCreate(arp, out _));
    }

    [Theory]
    [InlineData(6, 5)]     // needs 30 bytes
    [InlineData(7, 4)]     // needs 30 bytes
    [InlineData(255, 255)] // needs 1028 bytes
    public void AddressLengthsThatDoNotFit_AreRejected(byte hln, byte pln)
    {
        var arp = Golden.ArpRequest[14..];
        arp[4] = hln;
        arp[5] = pln;
        Assert.False(ArpPacket.TryCreate(arp, out _));
    }

    [Theory]
    [InlineData(1, 6)]   // hardware type 6 (IEEE 802) instead of 1 (Ethernet)
    [InlineData(2, 0x86)] // protocol type IPv6
    [InlineData(4, 4)]   // hln 4 (fits, but not Ethernet)
    [InlineData(5, 2)]   // pln 2
    public void NonEthernetIpv4_FitsButDoesNotParse(int offset, byte value)
    {
        var arp = Golden.ArpRequest[14..];
        arp[offset] = value;
        if (offset == 2) arp[3] = 0xDD;
        Assert.True(ArpPacket.TryCreate(arp, out var p));
        Assert.False(p.IsEthernetIpv4);
        Assert.False(ArpRepr.TryParse(p, out _));
    }
}
