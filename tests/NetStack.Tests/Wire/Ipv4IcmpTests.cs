using System.Buffers.Binary;
using NetStack.Wire;

namespace NetStack.Tests.Wire;

public class Ipv4HeaderTests
{
    private static readonly uint IpA = Ipv4Address.Parse(Golden.IpA), IpB = Ipv4Address.Parse(Golden.IpB);

    public static TheoryData<byte[]> Packets() => [Golden.EchoRequest, Golden.EchoReply, Golden.Udp, Golden.PortUnreachable];

    [Fact]
    public void GoldenEchoRequest_ParsesFields()
    {
        var ip = Golden.Ip(Golden.EchoRequest);
        Assert.Equal(Ipv4ParseResult.Ok, Ipv4Header.TryCreate(ip, out var h));
        Assert.Equal(4, h.Version);
        Assert.Equal(20, h.HeaderLength);
        Assert.True(h.VerifyChecksum());
        Assert.False(h.IsFragment);
        Assert.Equal(new Ipv4Repr(IpA, IpB, IpProto.ICMP, 64, Ttl: 64, Tos: 0, Id: 0x47fd, DontFragment: true), Ipv4Repr.Parse(h));
        Assert.Equal(64, h.Payload.Length);
        Assert.Equal(IcmpType.Echo, h.Payload[0]);
    }

    [Fact]
    public void GoldenPortUnreachable_ParsesTosAndClearDf()
    {
        var ip = Golden.Ip(Golden.PortUnreachable);
        Assert.Equal(Ipv4ParseResult.Ok, Ipv4Header.TryCreate(ip, out var h));
        Assert.Equal(new Ipv4Repr(IpB, IpA, IpProto.ICMP, 38, Ttl: 64, Tos: 0xc0, Id: 0xbefa, DontFragment: false), Ipv4Repr.Parse(h));
    }

    [Theory]
    [MemberData(nameof(Packets))]
    public void ParseThenEmit_IntoDirtyBuffer_IsIdentical_IncludingChecksum(byte[] frame)
    {
        var ip = Golden.Ip(frame);
        Assert.Equal(Ipv4ParseResult.Ok, Ipv4Header.TryCreate(ip, out var h));
        var repr = Ipv4Repr.Parse(h);
        var buf = Golden.Dirty(Ipv4Header.MinLength + 8);
        repr.Emit(Ipv4Header.Create(buf));
        Assert.Equal(ip[..20], buf[..20]);
        Assert.All(buf[20..], b => Assert.Equal(0xA5, b));
    }

    [Fact]
    public void EthernetPadding_IsNotPayload()
    {
        // A 28-byte IP packet (empty echo) in a minimum 60-byte frame: 18 bytes of padding follow it.
        var buf = new byte[46];
        new Ipv4Repr(IpA, IpB, IpProto.ICMP, 8).Emit(Ipv4Header.Create(buf));
        Array.Fill(buf, (byte)0xEE, 28, 18);
        Assert.Equal(Ipv4ParseResult.Ok, Ipv4Header.TryCreate(buf, out var h));
        Assert.Equal(8, h.Payload.Length);
    }

    [Fact]
    public void EveryTruncation_IsRejected()
    {
        var ip = Golden.Ip(Golden.EchoRequest);
        for (int n = 0; n < 20; n++)
            Assert.Equal(Ipv4ParseResult.Truncated, Ipv4Header.TryCreate(ip.AsSpan(0, n).ToArray(), out _));
        // 20..83 bytes: the header is there but total length (84) exceeds the buffer.
        for (int n = 20; n < ip.Length; n++)
            Assert.Equal(Ipv4ParseResult.TotalLengthTooLong, Ipv4Header.TryCreate(ip.AsSpan(0, n).ToArray(), out _));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(4)]
    public void IhlBelowFive_IsBadHeader(int ihl)
    {
        var ip = Golden.Ip(Golden.EchoRequest);
        ip[0] = (byte)(0x40 | ihl);
        Assert.Equal(Ipv4ParseResult.BadHeader, Ipv4Header.TryCreate(ip, out _));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(6)]
    [InlineData(15)]
    public void VersionNotFour_IsBadHeader(int version)
    {
        var ip = Golden.Ip(Golden.EchoRequest);
        ip[0] = (byte)(version << 4 | 5);
        Assert.Equal(Ipv4ParseResult.BadHeader, Ipv4Header.TryCreate(ip, out _));
    }

    [Fact]
    public void IhlBeyondBuffer_IsTruncated()
    {
        // IHL 15 claims 60 header bytes; give it 40.
        var ip = Golden.Ip(Golden.EchoRequest)[..40];
        ip[0] = 0x4F;
        Assert.Equal(Ipv4ParseResult.Truncated, Ipv4Header.TryCreate(ip, out _));
    }

    [Theory]
    [InlineData(5, 0)]
    [InlineData(5, 19)]
    [InlineData(6, 20)]  // 24-byte header, total length only 20
    [InlineData(15, 59)]
    public void TotalLengthBelowHeader_IsRejected(int ihl, int totalLength)
    {
        var ip = Golden.Ip(Golden.EchoRequest);
        ip[0] = (byte)(0x40 | ihl);
        BinaryPrimitives.WriteUInt16BigEndian(ip.AsSpan(2), (ushort)totalLength);
        Assert.Equal(Ipv4ParseResult.TotalLengthTooShort, Ipv4Header.TryCreate(ip, out _));
    }

    [Fact]
    public void TotalLengthBeyondBuffer_IsRejected()
    {
        var ip = Golden.Ip(Golden.EchoRequest);
        BinaryPrimitives.WriteUInt16BigEndian(ip.AsSpan(2), 0xFFFF);
        Assert.Equal(Ipv4ParseResult.TotalLengthTooLong, Ipv4Header.TryCreate(ip, out _));
        BinaryPrimitives.WriteUInt16BigEndian(ip.AsSpan(2), (ushort)(ip.Length + 1));
        Assert.Equal(Ipv4ParseResult.TotalLengthTooLong, Ipv4Header.TryCreate(ip, out _));
        BinaryPrimitives.WriteUInt16BigEndian(ip.AsSpan(2), (ushort)ip.Length);
        Assert.Equal(Ipv4ParseResult.Ok, Ipv4Header.TryCreate(ip, out _));
    }

    [Fact]
    public void AnySingleBitFlipInHeader_FailsChecksum()
    {
        var ip = Golden.Ip(Golden.EchoRequest);
        for (int bit = 0; bit < 160; bit++)
        {
            var copy = (byte[])ip.Clone();
            copy[bit / 8] ^= (byte)(1 << (bit % 8));
            Assert.False(Ipv4Header.Create(copy).VerifyChecksum(), $"bit {bit}");
        }
    }

    [Fact]
    public void Options_AreCoveredByChecksumAndExcludedFromPayload()
    {
        // IHL 6: one 4-byte option word (NOP NOP NOP EOL).
        var buf = new byte[28];
        var h = Ipv4Header.Create(buf);
        new Ipv4Repr(IpA, IpB, IpProto.UDP, 4).Emit(h);
        h.SetVersionIhl(4, 6);
        h.TotalLength = 28;
        buf[20] = buf[21] = buf[22] = 1;
        buf[23] = 0;
        h.FillChecksum();
        Assert.Equal(Ipv4ParseResult.Ok, Ipv4Header.TryCreate(buf, out var p));
        Assert.True(p.VerifyChecksum());
        Assert.Equal(4, p.Options.Length);
        Assert.Equal(4, p.Payload.Length);
        buf[22] = 0;
        Assert.False(p.VerifyChecksum());
    }

    [Fact]
    public void FragmentFields()
    {
        var buf = new byte[20];
        var h = Ipv4Header.Create(buf);
        h.FragOff = Ipv4Header.FlagMF | 3;
        Assert.True(h.IsFragment);
        Assert.True(h.MoreFragments);
        Assert.Equal(24, h.FragmentOffset);
        h.FragOff = Ipv4Header.FlagDF;
        Assert.False(h.IsFragment);
        Assert.True(h.DontFragment);
    }
}

public class IcmpHeaderTests
{
    [Fact]
    public void GoldenEchoRequest_ParsesFields()
    {
        var icmp = Golden.EchoRequest[34..];
        Assert.True(IcmpHeader.TryCreate(icmp, out var h));
        Assert.Equal(IcmpType.Echo, h.Type);
        Assert.Equal(0, h.Code);
        Assert.Equal(0xe1a2, h.Checksum);
        Assert.Equal(0x1a6d, h.EchoId);
        Assert.Equal(1, h.EchoSequence);
        Assert.True(h.VerifyChecksum());
        Assert.Equal(56, h.Payload.Length);
        Assert.Equal(new IcmpRepr(IcmpType.Echo, 0, 0x1a6d0001), IcmpRepr.Parse(h));
    }

    [Fact]
    public void GoldenPortUnreachable_ParsesFields()
    {
        var icmp = Golden.PortUnreachable[34..];
        Assert.True(IcmpHeader.TryCreate(icmp, out var h));
        Assert.Equal(new IcmpRepr(IcmpType.DestUnreach, IcmpType.PortUnreach, 0), IcmpRepr.Parse(h));
        Assert.True(h.VerifyChecksum());
        Assert.Equal(Golden.Udp[14..], h.Payload.ToArray()); // quotes the whole datagram
    }

    [Theory]
    [MemberData(nameof(Messages))]
    public void ParseThenEmit_WithPayload_IntoDirtyBuffer_IsIdentical(byte[] frame)
    {
        var icmp = frame[34..];
        Assert.True(IcmpHeader.TryCreate(icmp, out var h));
        var repr = IcmpRepr.Parse(h);
        var buf = Golden.Dirty(icmp.Length);
        var o = IcmpHeader.Create(buf);
        repr.Emit(o);
        h.Payload.CopyTo(o.Payload);
        o.FillChecksum();
        Assert.Equal(icmp, buf);
    }

    public static TheoryData<byte[]> Messages() => [Golden.EchoRequest, Golden.EchoReply, Golden.PortUnreachable];

    [Fact]
    public void EchoReply_IsRequestWithTypeZeroAndAdjustedChecksum()
    {
        // What icmp_echo does: same id, seq and data; only the type (and so the checksum) changes.
        var req = Golden.EchoRequest[34..];
        var h = IcmpHeader.Create(req);
        h.Type = IcmpType.EchoReply;
        h.FillChecksum();
        Assert.Equal(Golden.EchoReply[34..], req);
    }

    [Fact]
    public void Truncated_IsRejected()
    {
        var icmp = Golden.EchoRequest[34..];
        for (int n = 0; n < IcmpHeader.Length; n++)
            Assert.False(IcmpHeader.TryCreate(icmp.AsSpan(0, n), out _));
        Assert.True(IcmpHeader.TryCreate(icmp.AsSpan(0, 8), out var h));
        Assert.Equal(0, h.Payload.Length);
    }

    [Fact]
    public void CorruptedData_FailsChecksum()
    {
        var icmp = Golden.EchoRequest[34..];
        icmp[^1] ^= 0x01;
        Assert.True(IcmpHeader.TryCreate(icmp, out var h));
        Assert.False(h.VerifyChecksum());
    }

    [Fact]
    public void IsError_ClassifiesRfc1122Types()
    {
        foreach (var t in new[] { IcmpType.DestUnreach, IcmpType.SourceQuench, IcmpType.Redirect, IcmpType.TimeExceeded, IcmpType.ParameterProb })
            Assert.True(NetStack.Ipv4.Icmp.IcmpIsErr(t));
        foreach (var t in new[] { IcmpType.Echo, IcmpType.EchoReply, IcmpType.Timestamp, IcmpType.TimestampReply })
            Assert.False(NetStack.Ipv4.Icmp.IcmpIsErr(t));
    }
}
