using System.Buffers.Binary;
using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Uapi;
using NetStack.Wire;

namespace NetStack.Tests.Ipv4;

/// <summary>
/// TCPv4 segmentation offload both ways: the vnet header the stack writes before a TSO super-frame
/// (virtio_net_hdr_from_skb()), the partial checksum it leaves for the device, and the software
/// segmentation the TAP driver falls back to when its large buffers are spent (skb_segment()).
/// </summary>
public class TcpOffloadTests
{
    private const uint Saddr = 0x0A000001, Daddr = 0x0A000002, Seq = 0xFFFFF000;
    private const int Mss = 1448, ThLen = 32, HdrLen = 14 + 20 + ThLen;

    /// <summary>Ethernet + IPv4 + TCP (with 12 bytes of options) + payload, the TCP checksum partial as TCP leaves a TSO frame.</summary>
    private static byte[] SuperFrame(int payload, byte flags, ushort ipId = 0x1234)
    {
        var f = new byte[HdrLen + payload];
        f.AsSpan(0, 6).Fill(0x02);
        f.AsSpan(6, 6).Fill(0x04);
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(12), 0x0800);
        var ip = Ipv4Header.Create(f.AsSpan(14));
        new Ipv4Repr(Saddr, Daddr, IpProto.TCP, ThLen + payload, 64, 0, ipId, true).Emit(ip);
        var th = f.AsSpan(34);
        BinaryPrimitives.WriteUInt16BigEndian(th, 5001);
        BinaryPrimitives.WriteUInt16BigEndian(th[2..], 80);
        BinaryPrimitives.WriteUInt32BigEndian(th[4..], Seq);
        BinaryPrimitives.WriteUInt32BigEndian(th[8..], 77);
        th[12] = (ThLen / 4) << 4;
        th[13] = flags;
        BinaryPrimitives.WriteUInt16BigEndian(th[14..], 500);
        th.Slice(20, 12).Fill(0x01); // NOPs
        for (int i = 0; i < payload; i++) f[HdrLen + i] = (byte)(i * 7 + 3);
        BinaryPrimitives.WriteUInt16BigEndian(th[16..], SkbGso.PseudoCsum(Saddr, Daddr, ThLen + payload));
        return f;
    }

    /// <summary>What a device does with NEEDS_CSUM: sums from csum_start to the end (the field holds the pseudo-header sum) and stores the result at csum_offset.</summary>
    private static void CompleteChecksum(Span<byte> frame, int csumStart, int csumOffset)
    {
        ushort c = Checksum.Compute(frame[csumStart..]);
        BinaryPrimitives.WriteUInt16BigEndian(frame[(csumStart + csumOffset)..], c);
    }

    [Fact]
    public void VirtioNetHdrFromSkb_SuperFrame_AsksForSegmentationAndChecksum()
    {
        var skb = new SkBuff(0x10000 + 256);
        SuperFrame(3 * Mss, TcpFlags.ACK | TcpFlags.CWR).CopyTo(skb.Put(HdrLen + 3 * Mss));
        skb.GsoSize = Mss;
        skb.GsoSegs = 3;
        var b = new byte[VirtioNetHdr.Size];
        b.AsSpan().Fill(0xA5);
        SkbGso.VirtioNetHdrFromSkb(skb).Write(b);
        // NEEDS_CSUM, TCPV4|ECN (CWR set), hdr_len 66, gso_size 1448, csum_start 34, csum_offset 16, num_buffers 0.
        Assert.Equal(new byte[] { 1, 0x81, 66, 0, 0xa8, 0x05, 34, 0, 16, 0, 0, 0 }, b);
    }

    [Fact]
    public void VirtioNetHdrFromSkb_OrdinaryFrame_IsAllZero()
    {
        var skb = new SkBuff(2048);
        SuperFrame(100, TcpFlags.ACK).CopyTo(skb.Put(HdrLen + 100));
        var b = new byte[VirtioNetHdr.Size];
        b.AsSpan().Fill(0xA5);
        SkbGso.VirtioNetHdrFromSkb(skb).Write(b);
        Assert.Equal(new byte[VirtioNetHdr.Size], b);
    }

    [Fact]
    public void PartialChecksum_CompletedByTheDevice_IsTheFullChecksum()
    {
        var f = SuperFrame(3 * Mss + 5, TcpFlags.ACK);
        CompleteChecksum(f, 34, 16);
        Assert.Equal(0, Checksum.TcpUdp(Saddr, Daddr, IpProto.TCP, f.AsSpan(34)));
    }

    [Fact]
    public void TcpGsoSegment_CutsAtMss_HeadersFixedUpPerSegment()
    {
        const int Payload = 3 * Mss + 100;
        var f = SuperFrame(Payload, TcpFlags.ACK | TcpFlags.PSH | TcpFlags.FIN | TcpFlags.CWR);
        var pool = new SkBuffPool(2048, prealloc: 0, maxBuffers: 8);
        var q = new SkBuffQueue();
        Assert.Equal(4, SkbGso.TcpGsoSegment(f, Mss, pool, q));
        var expectedFlags = new[] { TcpFlags.ACK | TcpFlags.CWR, TcpFlags.ACK, TcpFlags.ACK, TcpFlags.ACK | TcpFlags.PSH | TcpFlags.FIN };
        for (int i = 0; i < 4; i++)
        {
            var skb = q.Dequeue()!;
            int len = i < 3 ? Mss : 100;
            var d = skb.DataSpan.ToArray();
            Assert.Equal(HdrLen + len, d.Length);
            Assert.True(skb.CsumVerified);
            // Ethernet header as it was; the IP header with this segment's length and id, a good header checksum.
            Assert.Equal(f.AsSpan(0, 14).ToArray(), d.AsSpan(0, 14).ToArray());
            var ip = Ipv4Header.Create(d.AsSpan(14));
            Assert.Equal(20 + ThLen + len, ip.TotalLength);
            Assert.Equal(0x1234 + i, ip.Id);
            Assert.True(ip.VerifyChecksum());
            // TCP: sequence advanced (wrapping), flags per position, options and the rest of the header kept.
            var th = d.AsSpan(34);
            Assert.Equal(unchecked(Seq + (uint)(i * Mss)), BinaryPrimitives.ReadUInt32BigEndian(th[4..]));
            Assert.Equal(expectedFlags[i], th[13]);
            Assert.Equal(f.AsSpan(34 + 8, 5).ToArray(), th.Slice(8, 5).ToArray());
            Assert.Equal(f.AsSpan(34 + 14, 2).ToArray(), th.Slice(14, 2).ToArray());
            Assert.Equal(f.AsSpan(34 + 20, 12).ToArray(), th.Slice(20, 12).ToArray());
            Assert.Equal(f.AsSpan(HdrLen + i * Mss, len).ToArray(), d.AsSpan(HdrLen).ToArray());
            // Still partial: completed as a device would, the checksum is right for this segment.
            CompleteChecksum(d, 34, 16);
            Assert.Equal(0, Checksum.TcpUdp(Saddr, Daddr, IpProto.TCP, d.AsSpan(34)));
            skb.Free();
        }
        Assert.True(q.IsEmpty);
    }

    [Fact]
    public void TcpGsoSegment_PoolRunsOut_AppendsNothingAndGivesBuffersBack()
    {
        var f = SuperFrame(4 * Mss, TcpFlags.ACK);
        var pool = new SkBuffPool(2048, prealloc: 0, maxBuffers: 3);
        var q = new SkBuffQueue();
        var before = pool.Alloc()!;
        q.EnqueueTail(before);
        Assert.Equal(-Errno.ENOMEM, SkbGso.TcpGsoSegment(f, Mss, pool, q));
        Assert.Equal(1, q.QLen);
        Assert.Same(before, q.First);
        Assert.Equal(2, pool.FreeCount);
    }

    [Theory]
    [InlineData(0x0806, 4, IpProto.TCP)] // ARP
    [InlineData(0x0800, 6, IpProto.TCP)] // not IPv4
    [InlineData(0x0800, 4, IpProto.UDP)] // not TCP
    public void TcpGsoSegment_NotTcpV4_IsRefused(int etherType, int version, int protocol)
    {
        var f = SuperFrame(2 * Mss, TcpFlags.ACK);
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(12), (ushort)etherType);
        f[14] = (byte)((version << 4) | 5);
        f[14 + 9] = (byte)protocol;
        var q = new SkBuffQueue();
        Assert.Equal(-Errno.EINVAL, SkbGso.TcpGsoSegment(f, Mss, new SkBuffPool(2048, prealloc: 0, maxBuffers: 8), q));
        Assert.True(q.IsEmpty);
    }
}
