using System.Buffers.Binary;
using NetStack.Wire;

namespace NetStack.Tests.Wire;

public class ChecksumTests
{
    /// <summary>RFC 1071 section 3 as literally written: 16-bit big-endian words, odd byte padded with zero, end-around carry.</summary>
    private static ushort Reference(ReadOnlySpan<byte> data, uint initial = 0)
    {
        ulong sum = initial;
        for (int i = 0; i + 1 < data.Length; i += 2) sum += (uint)(data[i] << 8 | data[i + 1]);
        if ((data.Length & 1) != 0) sum += (uint)data[^1] << 8;
        while (sum >> 16 != 0) sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)~sum;
    }

    [Fact]
    public void Rfc1071_NumericalExample()
    {
        // RFC 1071 3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2 (one's complement), so the checksum is ~ddf2.
        byte[] data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        Assert.Equal((ushort)0x220d, Checksum.Compute(data));
        Assert.Equal((ushort)0xddf2, (ushort)~Checksum.Fold(Checksum.Partial(data)));
    }

    [Fact]
    public void Empty_IsAllOnes() => Assert.Equal((ushort)0xFFFF, Checksum.Compute([]));

    [Fact]
    public void OddLengths_MatchReference_ForEveryLengthAndAlignment()
    {
        var rng = new Random(1071);
        var buf = new byte[80];
        rng.NextBytes(buf);
        for (int start = 0; start < 4; start++)
            for (int len = 0; len <= 70; len++)
            {
                var s = buf.AsSpan(start, len);
                Assert.Equal(Reference(s), Checksum.Compute(s));
            }
    }

    /// <summary>
    /// Lengths from where the vector path starts (64 bytes) through a jumbo frame and a 64 KiB
    /// super-frame, at every alignment, with and without a pseudo-header sum carried in, and data
    /// of all ones and all zeros (the end-around carry's extremes): equal to RFC 1071 as written.
    /// </summary>
    [Fact]
    public void VectorLengths_MatchReference_AtEveryAlignment()
    {
        var rng = new Random(8);
        var buf = new byte[65536 + 8];
        rng.NextBytes(buf);
        int[] lengths = [.. Enumerable.Range(60, 200), 511, 512, 513, 1480, 1500, 4095, 9000, 65535, 65536];
        foreach (int len in lengths)
            for (int start = 0; start < 4; start++)
            {
                var s = buf.AsSpan(start, len);
                Assert.Equal(Reference(s), Checksum.Compute(s));
                // A pseudo-header sum carried in: the 16-bit reference folds it first (same class mod 0xFFFF).
                ulong pseudo = Checksum.PseudoHeader(0x0a090001, 0xc0a80102, 6, len);
                ushort folded = (ushort)~Checksum.Fold(pseudo);
                Assert.Equal(Reference(s, folded), Checksum.Fold(Checksum.Partial(s, pseudo)));
            }
        foreach (byte fill in new byte[] { 0x00, 0xFF, 0x80, 0x01 })
        {
            Array.Fill(buf, fill);
            foreach (int len in new[] { 64, 96, 1480, 65536 })
                Assert.Equal(Reference(buf.AsSpan(1, len)), Checksum.Compute(buf.AsSpan(1, len)));
        }
    }

    [Fact]
    public void OddTrailingByte_IsPaddedWithZero()
    {
        byte[] odd = [0x12, 0x34, 0x56];
        byte[] even = [0x12, 0x34, 0x56, 0x00];
        Assert.Equal(Checksum.Compute(even), Checksum.Compute(odd));
        Assert.Equal((ushort)0x97cb, /* ~(0x1234 + 0x5600) */ Checksum.Compute(odd));
    }

    [Fact]
    public void Chaining_AtAnyEvenOffset_EqualsWholeBuffer()
    {
        var rng = new Random(7);
        var data = new byte[301];
        rng.NextBytes(data);
        ushort whole = Checksum.Compute(data);
        for (int cut = 0; cut <= data.Length; cut += 2)
        {
            ulong sum = Checksum.Partial(data.AsSpan(0, cut));
            sum = Checksum.Partial(data.AsSpan(cut), sum);
            Assert.Equal(whole, Checksum.Fold(sum));
        }
        // Three pieces of lengths 2, 6 and the rest (the shapes TCP uses: pseudo-header, header, data).
        ulong s3 = Checksum.Partial(data.AsSpan(8), Checksum.Partial(data.AsSpan(2, 6), Checksum.Partial(data.AsSpan(0, 2))));
        Assert.Equal(whole, Checksum.Fold(s3));
    }

    [Fact]
    public void LargeBuffers_CarriesFoldCorrectly()
    {
        var ones = new byte[65536];
        Array.Fill(ones, (byte)0xFF);
        Assert.Equal(Reference(ones), Checksum.Compute(ones));
        Assert.Equal(Reference(ones.AsSpan(1)), Checksum.Compute(ones.AsSpan(1)));
        // A 64-bit accumulator with carries in every half still folds (all ones is -0: checksum 0).
        Assert.Equal((ushort)0, Checksum.Fold(0xFFFF_FFFF_FFFF_FFFFUL));
        Assert.Equal((ushort)0xFFFE, Checksum.Fold(0x0000_0001_0000_0000UL));
    }

    [Fact]
    public void KernelIpHeaderChecksums_Recomputed()
    {
        foreach (var frame in new[] { Golden.EchoRequest, Golden.EchoReply, Golden.Udp, Golden.PortUnreachable })
        {
            var ip = Golden.Ip(frame);
            ushort kernel = BinaryPrimitives.ReadUInt16BigEndian(ip.AsSpan(10));
            Assert.Equal(0, Checksum.Compute(ip.AsSpan(0, 20))); // verifies as received
            ip[10] = ip[11] = 0;
            Assert.Equal(kernel, Checksum.Compute(ip.AsSpan(0, 20)));
        }
    }

    [Fact]
    public void KernelIcmpChecksums_Recomputed()
    {
        foreach (var (frame, expected) in new[] { (Golden.EchoRequest, 0xe1a2), (Golden.EchoReply, 0xe9a2), (Golden.PortUnreachable, 0x9eb9) })
        {
            var icmp = frame[34..];
            Assert.Equal(0, Checksum.Compute(icmp));
            icmp[2] = icmp[3] = 0;
            Assert.Equal((ushort)expected, Checksum.Compute(icmp));
        }
    }

    [Fact]
    public void KernelUdpPseudoHeaderSeed_AndFullChecksum()
    {
        var udp = Golden.Udp[34..];
        uint src = Ipv4Address.Parse(Golden.IpA), dst = Ipv4Address.Parse(Golden.IpB);
        // The offload seed in the capture is the folded, uncomplemented pseudo-header sum.
        Assert.Equal((ushort)0x142c, (ushort)~Checksum.Fold(Checksum.PseudoHeader(src, dst, IpProto.UDP, udp.Length)));
        udp[6] = udp[7] = 0;
        Assert.Equal((ushort)0xa1bc, Checksum.TcpUdp(src, dst, IpProto.UDP, udp));
        udp[6] = 0xa1;
        udp[7] = 0xbc;
        Assert.Equal(0, Checksum.TcpUdp(src, dst, IpProto.UDP, udp)); // verifies
        // The pseudo-header is part of the sum: another source address does not verify.
        Assert.NotEqual(0, Checksum.TcpUdp(src + 1, dst, IpProto.UDP, udp));
    }
}
