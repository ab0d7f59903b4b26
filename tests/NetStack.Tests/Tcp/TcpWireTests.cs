using NetStack.Wire;

namespace NetStack.Tests.Tcp;

public class TcpWireTests
{
    // A Linux SYN as tcpdump -x shows it: 40052 > 80, seq 0x1a2b3c4d, win 64240,
    // options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7].
    private static readonly byte[] LinuxSyn =
    {
        0x9c, 0x74, 0x00, 0x50, 0x1a, 0x2b, 0x3c, 0x4d, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa, 0xf0,
        0x00, 0x00, 0x00, 0x00,
        0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
        0x01, 0x03, 0x03, 0x07,
    };

    [Fact]
    public void Parse_LinuxSyn_ReadsEveryField()
    {
        var buf = (byte[])LinuxSyn.Clone();
        Assert.Equal(TcpParseResult.Ok, TcpHeader.TryCreate(buf, out var h));
        Assert.Equal(40052, h.SrcPort);
        Assert.Equal(80, h.DstPort);
        Assert.Equal(0x1a2b3c4du, h.Seq);
        Assert.Equal(0u, h.AckSeq);
        Assert.Equal(10, h.DataOffset);
        Assert.Equal(40, h.HeaderLength);
        Assert.True(h.Syn);
        Assert.False(h.Ack);
        Assert.Equal(64240, h.Window);
        Assert.Equal(0, h.Payload.Length);
        Assert.Equal(1, h.SegmentLength);
        var r = TcpRepr.Parse(h);
        Assert.Equal(1460, r.Mss);
        Assert.Equal(7, r.WindowScale);
        Assert.True(r.SackPermitted);
        Assert.Equal(new TcpTimestamp(1, 0), r.Timestamp);
    }

    [Fact]
    public void Emit_SynWithAllOptions_MatchesLinuxLayout()
    {
        // The kernel packs SACK-permitted in front of the timestamp: 02 04 mss, 04 02 08 0a ts, 01 03 03 ws.
        var r = new TcpRepr(40052, 80, 0x1a2b3c4d, 0, TcpFlags.SYN, 64240)
        {
            Mss = 1460, WindowScale = 7, SackPermitted = true, Timestamp = new TcpTimestamp(1, 0),
        };
        Assert.Equal(40, r.HeaderLength);
        var buf = new byte[r.HeaderLength];
        Array.Fill(buf, (byte)0xA5); // dirty buffer: every byte must be written
        r.Emit(TcpHeader.Create(buf));
        Assert.Equal(LinuxSyn, buf);
    }

    [Fact]
    public void Emit_SackPermittedWithoutTimestamp_UsesNopNop()
    {
        var r = new TcpRepr(1, 2, 3, 0, TcpFlags.SYN, 100) { Mss = 536, SackPermitted = true };
        var buf = new byte[r.HeaderLength];
        Array.Fill(buf, (byte)0xA5);
        r.Emit(TcpHeader.Create(buf));
        Assert.Equal(new byte[] { 0x02, 0x04, 0x02, 0x18, 0x01, 0x01, 0x04, 0x02 }, buf[20..]);
        Assert.Equal(r, TcpRepr.Parse(TcpHeader.Create(buf)));
    }

    [Fact]
    public void Emit_SackBlocks_RoundTrip()
    {
        var r = new TcpRepr(1000, 2000, 0xFFFFFFF0, 77, TcpFlags.ACK, 512) { Timestamp = new TcpTimestamp(5, 6) };
        r.Sack.Add(new SackBlock(100, 200));
        r.Sack.Add(new SackBlock(300, 400));
        r.Sack.Add(new SackBlock(0xFFFFFFFF, 5));
        Assert.Equal(20 + 12 + 4 + 24, r.HeaderLength);
        var buf = new byte[r.HeaderLength + 3];
        Array.Fill(buf, (byte)0xA5);
        r.Emit(TcpHeader.Create(buf));
        Assert.Equal(TcpParseResult.Ok, TcpHeader.TryCreate(buf, out var h));
        Assert.Equal(3, h.Payload.Length);
        Assert.Equal(r, TcpRepr.Parse(h));
        Assert.Equal(new byte[] { 0x01, 0x01, 0x05, 26 }, buf[32..36]);
    }

    [Fact]
    public void Checksum_FillThenVerify_AndOneBitFlipFails()
    {
        uint s = Ipv4Address.Parse("10.0.0.1"), d = Ipv4Address.Parse("10.0.0.2");
        var r = new TcpRepr(1234, 80, 1, 2, TcpFlags.ACK | TcpFlags.PSH, 1000);
        var buf = new byte[r.HeaderLength + 5];
        r.Emit(TcpHeader.Create(buf));
        "hello"u8.CopyTo(buf.AsSpan(20));
        var h = TcpHeader.Create(buf);
        h.FillChecksum(s, d);
        Assert.True(h.VerifyChecksum(s, d));
        Assert.False(h.VerifyChecksum(s, d + 1));
        buf[22] ^= 0x10;
        Assert.False(TcpHeader.Create(buf).VerifyChecksum(s, d));
    }

    [Fact]
    public void Checksum_KnownValue()
    {
        // Segment checksum computed independently (scapy) for 10.0.0.1 -> 10.0.0.2, 1234 > 80 S seq 1 win 8192.
        uint s = Ipv4Address.Parse("10.0.0.1"), d = Ipv4Address.Parse("10.0.0.2");
        var buf = new byte[20];
        new TcpRepr(1234, 80, 1, 0, TcpFlags.SYN, 8192).Emit(TcpHeader.Create(buf));
        TcpHeader.Create(buf).FillChecksum(s, d);
        Assert.Equal(0x76bd, TcpHeader.Create(buf).Checksum);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(19)]
    public void TryCreate_Truncated(int len)
    {
        var buf = new byte[len];
        Assert.Equal(TcpParseResult.Truncated, TcpHeader.TryCreate(buf, out _));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(4)]
    public void TryCreate_DataOffsetBelowFive_IsRejected(int doff)
    {
        var buf = new byte[40];
        buf[12] = (byte)(doff << 4);
        Assert.Equal(TcpParseResult.BadDataOffset, TcpHeader.TryCreate(buf, out _));
    }

    [Fact]
    public void TryCreate_OptionsBeyondSegment_IsTruncated()
    {
        var buf = (byte[])LinuxSyn.Clone();
        Assert.Equal(TcpParseResult.Truncated, TcpHeader.TryCreate(buf.AsSpan(0, 39), out _));
        buf[12] = 0xF0; // doff 15 = 60 bytes, only 40 present
        Assert.Equal(TcpParseResult.Truncated, TcpHeader.TryCreate(buf, out _));
    }

    [Fact]
    public void Options_BadLengthStopsParsing_KeepsWhatCameBefore()
    {
        // MSS, then an option with length 1 ("silly"), then a timestamp that must not be read.
        byte[] o = { 2, 4, 0x05, 0xb4, 30, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2 };
        TcpOptions.Parse(o, out var p);
        Assert.Equal(1460, p.Mss);
        Assert.False(p.SawTimestamp);
    }

    [Fact]
    public void Options_PartialOptionAtEnd_Ignored()
    {
        byte[] o = { 1, 1, 8, 10, 0, 0, 0, 1 }; // timestamp claims 10 bytes, 6 left
        TcpOptions.Parse(o, out var p);
        Assert.False(p.SawTimestamp);
        byte[] lone = { 1, 1, 1, 2 }; // a kind byte without its length byte
        TcpOptions.Parse(lone, out p);
        Assert.Equal(0, p.Mss);
    }

    [Fact]
    public void Options_EolEndsList()
    {
        byte[] o = { 0, 2, 4, 0x05, 0xb4 };
        TcpOptions.Parse(o, out var p);
        Assert.Equal(0, p.Mss);
    }

    [Fact]
    public void Options_WrongLengthForKnownKind_SkippedNotFatal()
    {
        // MSS with length 5 is skipped, the window scale after it is read.
        byte[] o = { 2, 5, 0x05, 0xb4, 0, 3, 3, 9, 1 };
        TcpOptions.Parse(o, out var p);
        Assert.Equal(0, p.Mss);
        Assert.Equal(9, p.WindowScale);
    }

    [Fact]
    public void Options_WindowScaleAbove14_Clamped()
    {
        byte[] o = { 3, 3, 200, 0 };
        TcpOptions.Parse(o, out var p);
        Assert.Equal(14, p.WindowScale);
    }

    [Fact]
    public void Options_SackWithBadLength_Ignored_UnknownNoted()
    {
        byte[] o = { 5, 6, 0, 0, 0, 1, 99, 2 };
        TcpOptions.Parse(o, out var p);
        Assert.Equal(0, p.Sack.Count);
        Assert.True(p.SawUnknown);
    }

    [Fact]
    public void SeqNumber_ComparesAcrossWrap()
    {
        SeqNumber a = 0xFFFFFFF0, b = 0x10;
        Assert.True(a < b);
        Assert.True(b > a);
        Assert.Equal(0x20, b - a);
        Assert.Equal(b, a + 0x20);
        Assert.True(SeqNumber.Before(0xFFFFFFFF, 0));
        Assert.True(SeqNumber.After(0, 0xFFFFFFFF));
        Assert.False(SeqNumber.Before(5, 5));
        Assert.True(SeqNumber.BeforeEq(5, 5));
        Assert.True(SeqNumber.Between(2, 0xFFFFFFFE, 3));
        Assert.False(SeqNumber.Between(4, 0xFFFFFFFE, 3));
        Assert.Equal((SeqNumber)0x10u, SeqNumber.Max(a, b));
    }
}
