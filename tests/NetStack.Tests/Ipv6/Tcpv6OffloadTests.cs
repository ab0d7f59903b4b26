using System.Buffers.Binary;
using NetStack.Core;
using NetStack.Drivers;
using NetStack.Ipv4;
using NetStack.Net;
using NetStack.Uapi;
using NetStack.Wire;

namespace NetStack.Tests.Ipv6;

/// <summary>
/// TCPv6 segmentation offload on receive (TUN_F_TSO6): a super-frame with a vnet header of
/// gso_type TCPV6 is taken whole by the receive path (virtio_net_hdr_to_skb(), then tcp_v6_rcv()
/// as for a GRO skb), and when the driver must cut it in software, skb_segment() fixes up each
/// segment's IPv6 payload length and leaves an IPv6 pseudo-header partial checksum.
/// </summary>
public class Tcpv6OffloadTests
{
    private static readonly UInt128 GA = Ipv6Address.Parse("fd00:9::1"), GB = Ipv6Address.Parse("fd00:9::2");
    private const int ThLen = 20, HdrLen = 14 + 40 + ThLen;

    /// <summary>Ethernet + IPv6 + TCP (no options) + payload, the TCP checksum partial as a TSO sender leaves it.</summary>
    private static byte[] SuperFrame(ushort sport, ushort dport, uint seq, uint ack, int payload, byte flags, int thLen = ThLen)
    {
        int hdrLen = 14 + 40 + thLen;
        var f = new byte[hdrLen + payload];
        var eth = EthernetHeader.Create(f);
        eth.Destination = TwoStacks.MacB;
        eth.Source = TwoStacks.MacA;
        eth.EtherType = EthP.IPV6;
        new Ipv6Repr(GA, GB, IpProto.TCP, thLen + payload).Emit(Ipv6Header.Create(f.AsSpan(14)));
        var th = f.AsSpan(54);
        BinaryPrimitives.WriteUInt16BigEndian(th, sport);
        BinaryPrimitives.WriteUInt16BigEndian(th[2..], dport);
        BinaryPrimitives.WriteUInt32BigEndian(th[4..], seq);
        BinaryPrimitives.WriteUInt32BigEndian(th[8..], ack);
        th[12] = (byte)((thLen / 4) << 4);
        th[13] = flags;
        BinaryPrimitives.WriteUInt16BigEndian(th[14..], 2000);
        th[20..thLen].Fill(0x01); // NOPs
        for (int i = 0; i < payload; i++) f[hdrLen + i] = (byte)(i * 7 + 3);
        BinaryPrimitives.WriteUInt16BigEndian(th[16..], SkbGso.PseudoCsumV6(GA, GB, thLen + payload));
        return f;
    }

    private static VirtioNetHdr Tcpv6Hdr(int gsoSize, int thLen = ThLen) => new()
    {
        Flags = VirtioNetHdr.FlagNeedsCsum,
        GsoType = VirtioNetHdr.GsoTcpV6,
        HdrLen = (ushort)(14 + 40 + thLen),
        GsoSize = (ushort)gsoSize,
        CsumStart = 14 + 40,
        CsumOffset = TcpHeader.ChecksumOffset,
    };

    [Fact]
    public void Tcpv6SuperFrame_WithVnetHeader_IsReceivedWholeByTheSocket()
    {
        using var s = TcpIpv6Tests.Stacks();
        // No timestamps, so the super-frame's bare 20-byte TCP header is what the connection expects.
        s.A.Ipv4.Sysctl.TcpTimestamps = false;
        s.B.Ipv4.Sysctl.TcpTimestamps = false;
        var (_, cfd, afd) = TcpIpv6Tests.Connect6(s);
        var a = (TcpSock)s.A.Files.Lookup(cfd)!.Sk!;
        var b = (TcpSock)s.B.Files.Lookup(afd)!.Sk!;
        int mss = (int)a.MssCache;
        Assert.Equal(1500 - 40 - 20, mss);
        int payload = 3 * mss + 100;
        uint seq = a.SndNxt;
        var f = SuperFrame(a.InetSport, 7700, seq, a.RcvNxt, payload, TcpFlags.ACK | TcpFlags.PSH);
        long inSegs = s.B.Mib.Tcp[TcpMib.InSegs];

        lock (s.B.SyncRoot)
        {
            var skb = s.B.LargeSkbPool.Alloc()!;
            f.CopyTo(skb.Put(f.Length));
            skb.Dev = s.Link.B;
            Assert.True(TapDevice.VirtioNetHdrToSkb(skb, Tcpv6Hdr(mss)));
            Assert.Equal(mss, skb.GsoSize);
            Dev.NetifReceiveSkb(skb);
        }
        // One skb for TCP, standing for four wire segments, all of it in order.
        Assert.Equal(inSegs + 1, s.B.Mib.Tcp[TcpMib.InSegs]);
        Assert.Equal(0, s.B.Mib.Tcp[TcpMib.InErrs]);
        Assert.Equal(0, s.B.Mib.Tcp[TcpMib.InCsumErrors]);
        Assert.Equal(unchecked(seq + (uint)payload), b.RcvNxt);
        var buf = new byte[payload + 10];
        Assert.Equal(payload, SocketCalls.Recv(s.B.Files, afd, buf, 0));
        Assert.Equal(f.AsSpan(HdrLen).ToArray(), buf.AsSpan(0, payload).ToArray());
    }

    [Fact]
    public void TcpGsoSegment_Ipv6_CutsAtMss_PayloadLengthAndPartialChecksumPerSegment()
    {
        const int Mss = 1440, Seq = -4096;
        const int Payload = 3 * Mss + 100;
        var f = SuperFrame(40000, 80, unchecked((uint)Seq), 77, Payload, TcpFlags.ACK | TcpFlags.PSH | TcpFlags.FIN | TcpFlags.CWR, thLen: 32);
        const int Hdr = 14 + 40 + 32;
        var pool = new SkBuffPool(2048, prealloc: 0, maxBuffers: 8);
        var q = new SkBuffQueue();
        Assert.Equal(4, SkbGso.TcpGsoSegment(f, Mss, pool, q));
        var expectedFlags = new[] { TcpFlags.ACK | TcpFlags.CWR, TcpFlags.ACK, TcpFlags.ACK, TcpFlags.ACK | TcpFlags.PSH | TcpFlags.FIN };
        for (int i = 0; i < 4; i++)
        {
            var skb = q.Dequeue()!;
            int len = i < 3 ? Mss : 100;
            var d = skb.DataSpan.ToArray();
            Assert.Equal(Hdr + len, d.Length);
            Assert.True(skb.CsumVerified);
            // Ethernet header as it was; IPv6: only the payload length changes.
            var expectedIp = f.AsSpan(0, 54).ToArray();
            BinaryPrimitives.WriteUInt16BigEndian(expectedIp.AsSpan(14 + 4), (ushort)(32 + len));
            Assert.Equal(expectedIp, d.AsSpan(0, 54).ToArray());
            var th = d.AsSpan(54);
            Assert.Equal(unchecked((uint)Seq + (uint)(i * Mss)), BinaryPrimitives.ReadUInt32BigEndian(th[4..]));
            Assert.Equal(expectedFlags[i], th[13]);
            Assert.Equal(f.AsSpan(54 + 20, 12).ToArray(), th.Slice(20, 12).ToArray());
            Assert.Equal(f.AsSpan(Hdr + i * Mss, len).ToArray(), d.AsSpan(Hdr).ToArray());
            // Still partial: completed as a device would, the checksum over the IPv6 pseudo-header is right.
            BinaryPrimitives.WriteUInt16BigEndian(th[16..], Checksum.Compute(th));
            Assert.Equal(0, Checksum.TcpUdpV6(GA, GB, IpProto.TCP, th));
            skb.Free();
        }
        Assert.True(q.IsEmpty);
    }

    [Theory]
    [InlineData(6, NextHdr.Hop, false)] // an extension header before TCP
    [InlineData(6, IpProto.UDP, false)] // not TCP
    [InlineData(4, IpProto.TCP, false)] // not version 6
    [InlineData(6, IpProto.TCP, true)]  // a jumbogram (payload length 0)
    public void TcpGsoSegment_Ipv6FrameItCannotCut_IsRefused(int version, int nextHeader, bool jumbo)
    {
        var f = SuperFrame(40000, 80, 1, 1, 2 * 1440, TcpFlags.ACK);
        f[14] = (byte)((version << 4) | (f[14] & 0x0F));
        f[14 + 6] = (byte)nextHeader;
        if (jumbo) BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(14 + 4), 0);
        var pool = new SkBuffPool(2048, prealloc: 0, maxBuffers: 8);
        var q = new SkBuffQueue();
        Assert.Equal(-Errno.EINVAL, SkbGso.TcpGsoSegment(f, 1440, pool, q));
        Assert.True(q.IsEmpty);
        Assert.Equal(0, pool.Total);
    }
}
