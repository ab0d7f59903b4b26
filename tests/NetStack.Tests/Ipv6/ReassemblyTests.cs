using System.Buffers.Binary;
using NetStack.Core;
using NetStack.Ipv6;
using NetStack.Tests.Core;
using NetStack.Wire;

namespace NetStack.Tests.Ipv6;

/// <summary>
/// A stack to hand IPv6 packets to ipv6_frag_rcv() the way ip6 input would (NetworkHeader at the
/// IPv6 header, Data at the fragment header), recording what it delivers and the ICMPv6 errors it
/// asks for.
/// </summary>
internal sealed class Frag6Kit : IDisposable
{
    public static readonly UInt128 Src = Ipv6Address.Parse("2001:db8::1");
    public static readonly UInt128 Dst = Ipv6Address.Parse("2001:db8::2");

    public readonly OneStack S = new();
    public NetNamespace Net => S.Net;
    public Ip6FragState St => Net.Ip6Frags();
    public MibTable<Ipv6Mib> Mib => Net.Ip6Mib;
    /// <summary>Packets delivered (from the IPv6 header to the end) with the nhoff they came with.</summary>
    public readonly List<(byte[] Packet, int Nhoff, int TransportOffset)> Delivered = new();
    /// <summary>ICMPv6 errors asked for: type, code, info and the quoted packet (from its IPv6 header).</summary>
    public readonly List<(byte Type, byte Code, uint Info, byte[] Quote)> Icmp = new();

    public Frag6Kit()
    {
        lock (Net.SyncRoot) St.Icmpv6Send = (_, skb, type, code, info) => Icmp.Add((type, code, info, skb.DataSpan.ToArray()));
    }

    /// <summary>The offset of the fragment header: after the fixed header and any hop-by-hop/routing/destination headers before it.</summary>
    public static (int FragOffset, int Nhoff) FindFragHeader(byte[] pkt)
    {
        int off = Ipv6Header.Length, nhoff = 6;
        while (pkt[nhoff] != NextHdr.Fragment)
        {
            nhoff = off;
            off += (pkt[off + 1] + 1) << 3;
        }
        return (off, nhoff);
    }

    /// <summary>Receives one packet holding a fragment header; returns ipv6_frag_rcv's result.</summary>
    public int Rcv(byte[] pkt, bool fragmented = false)
    {
        lock (Net.SyncRoot)
        {
            var skb = Net.AllocSkb(pkt.Length)!;
            pkt.CopyTo(skb.Put(pkt.Length));
            skb.Dev = S.Dev;
            skb.NetworkHeader = skb.Data;
            var (fragOff, nhoff) = FindFragHeader(pkt);
            skb.Pull(fragOff);
            skb.TransportHeader = skb.Data;
            int ret = Reassembly.Ipv6FragRcv(Net, ref skb, ref nhoff, ref fragmented);
            if (ret == 1)
            {
                Assert.True(fragmented);
                Assert.Equal(skb.Data, skb.TransportHeader);
                Delivered.Add((skb.Buffer.AsSpan(skb.NetworkHeader, skb.Tail - skb.NetworkHeader).ToArray(), nhoff, skb.Data - skb.NetworkHeader));
                skb.Free();
            }
            return ret;
        }
    }

    public void AssertPoolWhole() => Assert.Equal(Net.SkbPool.Total, Net.SkbPool.FreeCount);

    public void Dispose() => S.Dispose();

    // ---- packets ----

    /// <summary>A payload whose bytes say where they are.</summary>
    public static byte[] Pattern(int n, int seed = 0)
    {
        var b = new byte[n];
        for (int i = 0; i < n; i++) b[i] = (byte)(i * 7 + seed + (i >> 8));
        return b;
    }

    /// <summary>A whole IPv6 packet: fixed header, the given extension headers (already chained), an upper-layer payload.</summary>
    public static byte[] Packet(byte nexthdr, byte[] ext, byte[] upper, byte trafficClass = 0, UInt128? dst = null)
    {
        var p = new byte[Ipv6Header.Length + ext.Length + upper.Length];
        new Ipv6Repr(Src, dst ?? Dst, nexthdr, ext.Length + upper.Length, 64, trafficClass).Emit(Ipv6Header.Create(p));
        ext.CopyTo(p, Ipv6Header.Length);
        upper.CopyTo(p, Ipv6Header.Length + ext.Length);
        return p;
    }

    /// <summary>A UDP datagram of <paramref name="dataLen"/> bytes as a whole IPv6 packet (checksum filled).</summary>
    public static byte[] Udp(int dataLen, byte trafficClass = 0)
    {
        var udp = new byte[UdpHeader.Length + dataLen];
        BinaryPrimitives.WriteUInt16BigEndian(udp, 4000);
        BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(2), 5000);
        BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(4), (ushort)udp.Length);
        Pattern(dataLen).CopyTo(udp, UdpHeader.Length);
        ushort c = Checksum.TcpUdpV6(Src, Dst, NextHdr.Udp, udp);
        BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(6), c == 0 ? (ushort)0xFFFF : c);
        return Packet(NextHdr.Udp, [], udp, trafficClass);
    }

    /// <summary>
    /// A fragment of <paramref name="whole"/> (no extension headers before its upper layer):
    /// bytes [off, off + len) of its payload behind a fragment header, M as told.
    /// </summary>
    public static byte[] Frag(byte[] whole, int off, int len, bool more, uint id = 0x1234_5678, byte? trafficClass = null)
    {
        var h = Ipv6Header.Create(whole);
        var f = new byte[Ipv6Header.Length + Ipv6FragHeader.Length + len];
        whole.AsSpan(0, Ipv6Header.Length).CopyTo(f);
        var fh = Ipv6Header.Create(f);
        fh.NextHeader = NextHdr.Fragment;
        fh.PayloadLength = (ushort)(Ipv6FragHeader.Length + len);
        if (trafficClass is { } tc) fh.TrafficClass = tc;
        var frag = Ipv6FragHeader.Create(f.AsSpan(Ipv6Header.Length));
        frag.NextHeader = h.NextHeader;
        frag.FragOff = (ushort)(off | (more ? Ipv6FragHeader.MoreFragments : 0));
        frag.Identification = id;
        whole.AsSpan(Ipv6Header.Length + off, len).CopyTo(f.AsSpan(Ipv6Header.Length + Ipv6FragHeader.Length));
        return f;
    }

    /// <summary>Cuts a packet's payload into fragments of at most <paramref name="piece"/> bytes (a multiple of 8).</summary>
    public static List<byte[]> Cut(byte[] whole, int piece, uint id = 0x1234_5678)
    {
        int total = whole.Length - Ipv6Header.Length;
        var list = new List<byte[]>();
        for (int off = 0; off < total; off += piece)
            list.Add(Frag(whole, off, Math.Min(piece, total - off), off + piece < total, id));
        return list;
    }
}

/// <summary>ipv6_frag_rcv(), ip6_frag_queue(), ip6_frag_reasm(), ip6_frag_expire(): reassembly with Linux's rules.</summary>
public class ReassemblyTests
{
    [Fact]
    public void InOrder_ReassemblesToTheOriginalPacket()
    {
        using var k = new Frag6Kit();
        var whole = Frag6Kit.Udp(3000);
        var frags = Frag6Kit.Cut(whole, 1232);
        Assert.Equal(3, frags.Count);
        Assert.Equal(-1, k.Rcv(frags[0]));
        Assert.Equal(-1, k.Rcv(frags[1]));
        Assert.Equal(1, k.Rcv(frags[2]));
        var (pkt, nhoff, transport) = Assert.Single(k.Delivered);
        Assert.Equal(whole, pkt);
        Assert.Equal(6, nhoff); // the fixed header's next header now names UDP again
        Assert.Equal(Ipv6Header.Length, transport);
        Assert.Equal(3, k.Mib[Ipv6Mib.Ip6ReasmReqds]);
        Assert.Equal(1, k.Mib[Ipv6Mib.Ip6ReasmOKs]);
        Assert.Equal(0, k.Mib[Ipv6Mib.Ip6ReasmFails]);
        Assert.Empty(k.St.Queues);
        Assert.Equal(0, k.St.Mem);
        k.AssertPoolWhole();
    }

    [Fact]
    public void ReverseOrder_Reassembles()
    {
        using var k = new Frag6Kit();
        var whole = Frag6Kit.Udp(5000);
        var frags = Frag6Kit.Cut(whole, 1024);
        Assert.Equal(5, frags.Count);
        for (int i = frags.Count - 1; i > 0; i--) Assert.Equal(-1, k.Rcv(frags[i]));
        Assert.Equal(1, k.Rcv(frags[0]));
        Assert.Equal(whole, Assert.Single(k.Delivered).Packet);
        k.AssertPoolWhole();
    }

    [Fact]
    public void DuplicateFragments_AreDroppedAlone_AndTheDatagramCompletes()
    {
        using var k = new Frag6Kit();
        var whole = Frag6Kit.Udp(3000);
        var frags = Frag6Kit.Cut(whole, 1024);
        k.Rcv(frags[1]);
        k.Rcv(frags[1]);
        k.Rcv(frags[0]);
        k.Rcv(frags[0]);
        Assert.Equal(1, k.Rcv(frags[2]));
        Assert.Equal(whole, Assert.Single(k.Delivered).Packet);
        Assert.Equal(2, k.Net.Mib.Drops[SkbDropReason.FragDup]);
        Assert.Equal(0, k.Mib[Ipv6Mib.Ip6ReasmFails]); // a duplicate is no failure
        k.AssertPoolWhole();
    }

    [Fact]
    public void OverlappingFragment_DropsTheWholeDatagram_Rfc5722()
    {
        using var k = new Frag6Kit();
        var whole = Frag6Kit.Udp(3000);
        var frags = Frag6Kit.Cut(whole, 1024);
        k.Rcv(frags[0]);
        // Bytes 512..1535: overlaps the first fragment without duplicating it.
        k.Rcv(Frag6Kit.Frag(whole, 512, 1024, more: true));
        Assert.Equal(1, k.Mib[Ipv6Mib.Ip6ReasmOverlaps]);
        Assert.Equal(1, k.Mib[Ipv6Mib.Ip6ReasmFails]);
        Assert.Equal(2, k.Net.Mib.Drops[SkbDropReason.FragOverlap]); // the queued fragment and the overlapping one
        Assert.Empty(k.St.Queues);
        // The rest makes a fresh queue that never gets its first fragment.
        k.Rcv(frags[1]);
        k.Rcv(frags[2]);
        Assert.Empty(k.Delivered);
        Assert.Equal(0, k.Mib[Ipv6Mib.Ip6ReasmOKs]);
        Assert.Single(k.St.Queues);
    }

    [Fact]
    public void AtomicFragment_IsDeliveredAsIs_AndCounted()
    {
        using var k = new Frag6Kit();
        var whole = Frag6Kit.Udp(100);
        var atomic = Frag6Kit.Frag(whole, 0, whole.Length - Ipv6Header.Length, more: false);
        Assert.Equal(1, k.Rcv(atomic));
        var (pkt, nhoff, transport) = Assert.Single(k.Delivered);
        Assert.Equal(atomic, pkt); // the fragment header stays; processing goes on after it
        Assert.Equal(Ipv6Header.Length, nhoff); // the fragment header's next-header byte
        Assert.Equal(Ipv6Header.Length + Ipv6FragHeader.Length, transport);
        Assert.Equal(1, k.Mib[Ipv6Mib.Ip6ReasmReqds]);
        Assert.Equal(1, k.Mib[Ipv6Mib.Ip6ReasmOKs]);
        Assert.Empty(k.St.Queues);
        k.AssertPoolWhole();
    }

    [Fact]
    public void FragmentHeaderInAReassembledPacket_IsAHeaderError()
    {
        using var k = new Frag6Kit();
        var frag = Frag6Kit.Cut(Frag6Kit.Udp(3000), 1024)[0];
        Assert.Equal(-1, k.Rcv(frag, fragmented: true));
        var icmp = Assert.Single(k.Icmp);
        Assert.Equal((Icmpv6Type.ParamProb, Icmpv6Type.HdrField, 40u), (icmp.Type, icmp.Code, icmp.Info));
        Assert.Equal(1, k.Mib[Ipv6Mib.Ip6InHdrErrors]);
        Assert.Equal(0, k.Mib[Ipv6Mib.Ip6ReasmReqds]);
        k.AssertPoolWhole();
    }

    [Fact]
    public void ShuffledFragmentsWithDuplicates_ManySeeds_ReassembleExactly_AndOverlapsLeaveNothingBehind()
    {
        using var k = new Frag6Kit();
        for (int seed = 0; seed < 300; seed++)
        {
            var rnd = new Random(seed);
            var whole = Frag6Kit.Udp(rnd.Next(1, 9000));
            int total = whole.Length - Ipv6Header.Length;
            int piece = 8 * rnd.Next(1, Math.Min(160, (total - 1) / 8) + 1); // at least two fragments: one alone would be atomic
            uint id = (uint)seed + 1;
            var frags = Frag6Kit.Cut(whole, piece, id);
            // Exact duplicates anywhere, then any order.
            int dups = rnd.Next(0, 4);
            for (int d = 0; d < dups; d++) frags.Add(frags[rnd.Next(frags.Count)]);
            var order = frags.OrderBy(_ => rnd.Next()).ToList();
            bool overlap = seed % 3 == 0 && frags.Count > 2;
            if (overlap)
            {
                // A fragment straddling two others, somewhere before the last one.
                int off = piece / 2 / 8 * 8 + piece;
                int len = Math.Min(piece, total - off) / 8 * 8;
                if (len > 0 && off % piece != 0) order.Insert(rnd.Next(order.Count - 1), Frag6Kit.Frag(whole, off, len, more: true, id: id));
                else overlap = false;
            }
            int before = k.Delivered.Count;
            foreach (var f in order) k.Rcv(f);
            // Without an overlap it completes (duplicates coming after can complete it again, as in
            // Linux: the finished queue is gone); with one it may or may not. Whatever is delivered
            // is the original exactly.
            if (!overlap) Assert.True(k.Delivered.Count > before);
            for (int d = before; d < k.Delivered.Count; d++) Assert.Equal(whole, k.Delivered[d].Packet);
            // Whatever came of it, nothing is left but queues still waiting for fragments.
            k.S.RunFor(60_000);
            Assert.Empty(k.St.Queues);
            Assert.Equal(0, k.St.Mem);
            k.AssertPoolWhole();
        }
        Assert.True(k.Mib[Ipv6Mib.Ip6ReasmOverlaps] > 0);
    }

    [Fact]
    public void ZeroPayloadLength_JumboInhibitsTheFragmentHeader()
    {
        using var k = new Frag6Kit();
        var frag = Frag6Kit.Cut(Frag6Kit.Udp(3000), 1024)[0];
        Ipv6Header.Create(frag).PayloadLength = 0;
        Assert.Equal(-1, k.Rcv(frag));
        var icmp = Assert.Single(k.Icmp);
        Assert.Equal((Icmpv6Type.ParamProb, Icmpv6Type.HdrField, 40u), (icmp.Type, icmp.Code, icmp.Info));
        Assert.Equal(1, k.Mib[Ipv6Mib.Ip6ReasmReqds]);
        Assert.Equal(1, k.Mib[Ipv6Mib.Ip6InHdrErrors]);
        Assert.Empty(k.St.Queues);
        k.AssertPoolWhole();
    }

    /// <summary>A TCP segment behind a destination-options header, as a whole packet.</summary>
    private static byte[] TcpBehindDestOpts(int dataLen)
    {
        var dest = new byte[8];
        dest[0] = NextHdr.Tcp; // hdrlen 0: 8 bytes, a PadN of 4 after the 2 header bytes
        dest[2] = 1;
        dest[3] = 4;
        var tcp = new byte[TcpHeader.MinLength + dataLen];
        tcp[12] = 5 << 4;
        Frag6Kit.Pattern(dataLen).CopyTo(tcp, TcpHeader.MinLength);
        return Frag6Kit.Packet(NextHdr.Dest, dest, tcp);
    }

    [Theory]
    [InlineData(16, true)]  // destination options and 8 of TCP's 20 header bytes
    [InlineData(32, false)] // the whole TCP header is in
    public void TinyFirstFragment_WithoutTheWholeHeaderChain_IsDropped_Rfc7112(int firstLen, bool dropped)
    {
        using var k = new Frag6Kit();
        var whole = TcpBehindDestOpts(200);
        // The destination options are fragmentable here (no routing header before them).
        Assert.Equal(-1, k.Rcv(Frag6Kit.Frag(whole, 0, firstLen, more: true)));
        if (dropped)
        {
            var icmp = Assert.Single(k.Icmp);
            Assert.Equal((Icmpv6Type.ParamProb, Reassembly.HdrIncomp, 0u), (icmp.Type, icmp.Code, icmp.Info));
            Assert.Equal(1, k.Mib[Ipv6Mib.Ip6InHdrErrors]);
            Assert.Empty(k.St.Queues);
        }
        else
        {
            Assert.Empty(k.Icmp);
            Assert.Single(k.St.Queues);
            Assert.Equal(1, k.Rcv(Frag6Kit.Frag(whole, firstLen, whole.Length - Ipv6Header.Length - firstLen, more: false)));
            Assert.Equal(whole, Assert.Single(k.Delivered).Packet);
        }
    }

    [Fact]
    public void NonFinalFragment_NotAMultipleOf8_ParameterProblemAtPayloadLength()
    {
        using var k = new Frag6Kit();
        var whole = Frag6Kit.Udp(3000);
        var bad = Frag6Kit.Frag(whole, 0, 1001, more: true);
        Assert.Equal(-1, k.Rcv(bad));
        var icmp = Assert.Single(k.Icmp);
        Assert.Equal((Icmpv6Type.ParamProb, Icmpv6Type.HdrField, 4u), (icmp.Type, icmp.Code, icmp.Info));
        Assert.Equal(bad, icmp.Quote); // quoted from its IPv6 header
        Assert.Equal(1, k.Mib[Ipv6Mib.Ip6InHdrErrors]);
        Assert.Equal(0, k.Mib[Ipv6Mib.Ip6ReasmFails]);
        k.AssertPoolWhole();
    }

    [Fact]
    public void FragmentEndingPastMaxPayload_ParameterProblemAtFragmentOffset()
    {
        using var k = new Frag6Kit();
        var whole = Frag6Kit.Udp(200);
        var bad = Frag6Kit.Frag(whole, 0, 16, more: false);
        Ipv6FragHeader.Create(bad.AsSpan(Ipv6Header.Length)).FragOff = 65528; // 65528 + 16 > 65535
        Assert.Equal(-1, k.Rcv(bad));
        var icmp = Assert.Single(k.Icmp);
        Assert.Equal((Icmpv6Type.ParamProb, Icmpv6Type.HdrField, 42u), (icmp.Type, icmp.Code, icmp.Info));
        Assert.Equal(1, k.Mib[Ipv6Mib.Ip6InHdrErrors]);
        k.AssertPoolWhole();
    }

    [Fact]
    public void LastFragmentDisagreeingWithTheKnownLength_DropsTheDatagram()
    {
        using var k = new Frag6Kit();
        var whole = Frag6Kit.Udp(3000);
        var frags = Frag6Kit.Cut(whole, 1024);
        k.Rcv(frags[2]);
        k.Rcv(Frag6Kit.Frag(whole, 1024, 1000, more: false)); // a second, different end
        Assert.Equal(1, k.Mib[Ipv6Mib.Ip6ReasmFails]);
        Assert.Empty(k.St.Queues);
        k.AssertPoolWhole();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void MissingFragment_TimesOutAfter60s_TimeExceededOnlyWithTheFirst(bool firstIn)
    {
        using var k = new Frag6Kit();
        var frags = Frag6Kit.Cut(Frag6Kit.Udp(3000), 1024);
        if (firstIn) k.Rcv(frags[0]);
        k.Rcv(frags[2]);
        k.S.RunFor(59_999);
        Assert.Empty(k.Icmp);
        Assert.Equal(0, k.Mib[Ipv6Mib.Ip6ReasmTimeout]);
        k.S.RunFor(1);
        Assert.Equal(1, k.Mib[Ipv6Mib.Ip6ReasmTimeout]);
        Assert.Equal(1, k.Mib[Ipv6Mib.Ip6ReasmFails]);
        if (firstIn)
        {
            var icmp = Assert.Single(k.Icmp);
            Assert.Equal((Icmpv6Type.TimeExceed, Icmpv6Type.ExcFragTime, 0u), (icmp.Type, icmp.Code, icmp.Info));
            Assert.Equal(frags[0], icmp.Quote); // the first fragment, from its IPv6 header
        }
        else Assert.Empty(k.Icmp);
        Assert.Empty(k.St.Queues);
        Assert.Equal(0, k.St.Mem);
        k.AssertPoolWhole();
    }

    [Fact]
    public void Ip6fragTime_SetsTheTimeout()
    {
        using var k = new Frag6Kit();
        Assert.Equal(0, k.Net.Sysctl.TrySet("net.ipv6.ip6frag_time", "5"));
        k.Rcv(Frag6Kit.Cut(Frag6Kit.Udp(3000), 1024)[0]);
        k.S.RunFor(4_999);
        Assert.Empty(k.Icmp);
        k.S.RunFor(1);
        Assert.Single(k.Icmp);
    }

    [Fact]
    public void LinkLocalDestination_KeysTheQueueByInterface_GlobalDoesNot()
    {
        using var k = new Frag6Kit();
        var ll = Ipv6Address.Parse("fe80::2");
        var whole = Frag6Kit.Packet(NextHdr.Udp, [], Frag6Kit.Pattern(2000), dst: ll);
        k.Rcv(Frag6Kit.Frag(whole, 0, 1024, more: true));
        var q = Assert.Single(k.St.Queues);
        Assert.Equal(k.S.Dev.IfIndex, q.Key.Iif);
        Assert.Equal(ll, q.Key.Daddr);
        k.Rcv(Frag6Kit.Cut(Frag6Kit.Udp(3000), 1024)[0]);
        Assert.Contains(k.St.Queues.Keys, key => key.Daddr == Frag6Kit.Dst && key.Iif == 0);
    }

    [Theory]
    [InlineData(0x02, 0x03, 0x03, true)]  // ECT(0) and CE: reassembled with CE
    [InlineData(0x02, 0x02, 0x02, true)]  // ECT(0) throughout: unchanged
    [InlineData(0x00, 0x02, 0, false)]    // not-ECT mixed with ECT: dropped (RFC 3168 5.3)
    public void EcnOfTheFragments_DecidesTheDatagrams(byte ecn1, byte ecn2, byte expected, bool delivered)
    {
        using var k = new Frag6Kit();
        var whole = Frag6Kit.Udp(2000, trafficClass: ecn1);
        k.Rcv(Frag6Kit.Frag(whole, 0, 1024, more: true, trafficClass: ecn1));
        k.Rcv(Frag6Kit.Frag(whole, 1024, whole.Length - Ipv6Header.Length - 1024, more: false, trafficClass: ecn2));
        if (delivered)
        {
            var pkt = Assert.Single(k.Delivered).Packet;
            Assert.Equal(expected, Ipv6Header.Create(pkt).TrafficClass & 3);
        }
        else
        {
            Assert.Empty(k.Delivered);
            Assert.Equal(1, k.Mib[Ipv6Mib.Ip6ReasmFails]);
        }
        k.AssertPoolWhole();
    }

    [Fact]
    public void Sysctls_HaveLinuxDefaults_AndTheThresholdsBoundEachOther()
    {
        using var k = new Frag6Kit();
        var t = k.Net.Sysctl;
        Assert.True(t.TryGet("net.ipv6.ip6frag_high_thresh", out var high));
        Assert.True(t.TryGet("net.ipv6.ip6frag_low_thresh", out var low));
        Assert.True(t.TryGet("net.ipv6.ip6frag_time", out var time));
        Assert.Equal(("4194304", "3145728", "60"), (high, low, time));
        Assert.Equal(-NetStack.Uapi.Errno.EINVAL, t.TrySet("net.ipv6.ip6frag_high_thresh", "3000000")); // below low
        Assert.Equal(-NetStack.Uapi.Errno.EINVAL, t.TrySet("net.ipv6.ip6frag_low_thresh", "5000000"));  // above high
    }

    [Fact]
    public void NeverCompletingFlood_StaysUnderHighThresh_CountsRefusals_ExpiresAndRecovers()
    {
        using var k = new Frag6Kit();
        Assert.Equal(0, k.Net.Sysctl.TrySet("net.ipv6.ip6frag_low_thresh", "100000"));
        Assert.Equal(0, k.Net.Sysctl.TrySet("net.ipv6.ip6frag_high_thresh", "200000"));
        long high = 200_000;
        long slack = SkBuffPool.DefaultBufferSize + Sock.SkbTruesizeOverhead + Ip6FragState.FragQueueSize;
        var whole = Frag6Kit.Udp(1000);
        k.Rcv(Frag6Kit.Frag(whole, 0, 512, more: true, id: 1)); // a datagram half in before the flood
        const int Flood = 500;
        long peak = 0;
        for (int i = 0; i < Flood; i++)
        {
            k.Rcv(Frag6Kit.Frag(whole, 0, 512, more: true, id: (uint)(100 + i)));
            peak = Math.Max(peak, k.St.Mem);
        }
        int queues = k.St.Queues.Count;
        Assert.True(peak <= high + slack, $"reassembly memory {peak} above ip6frag_high_thresh {high}");
        Assert.True(k.St.Mem > high);
        Assert.InRange(queues, 50, Flood);
        long refused = Flood + 1 - queues;
        Assert.Equal(refused, k.Net.Mib.Drops[SkbDropReason.FragMemLimit]);
        Assert.Equal(refused, k.Mib[Ipv6Mib.Ip6ReasmFails]);
        Assert.Equal(queues * slack, k.St.Mem);

        // Over the threshold even an existing queue takes nothing.
        k.Rcv(Frag6Kit.Frag(whole, 512, whole.Length - Ipv6Header.Length - 512, more: false, id: 1));
        Assert.Empty(k.Delivered);

        // ip6frag_time later all have expired (a time exceeded for each: each had its first fragment).
        k.S.RunFor(60_000);
        Assert.Empty(k.St.Queues);
        Assert.Equal(0, k.St.Mem);
        Assert.Equal(queues, k.Mib[Ipv6Mib.Ip6ReasmTimeout]);
        Assert.Equal(queues, k.Icmp.Count);
        k.AssertPoolWhole();

        k.Rcv(Frag6Kit.Frag(whole, 0, 512, more: true, id: 1));
        Assert.Equal(1, k.Rcv(Frag6Kit.Frag(whole, 512, whole.Length - Ipv6Header.Length - 512, more: false, id: 1)));
        Assert.Equal(whole, Assert.Single(k.Delivered).Packet);
    }

    [Fact]
    public void HighThreshZero_TurnsReassemblyOff()
    {
        using var k = new Frag6Kit();
        Assert.Equal(0, k.Net.Sysctl.TrySet("net.ipv6.ip6frag_low_thresh", "0"));
        Assert.Equal(0, k.Net.Sysctl.TrySet("net.ipv6.ip6frag_high_thresh", "0"));
        k.Rcv(Frag6Kit.Cut(Frag6Kit.Udp(3000), 1024)[0]);
        Assert.Empty(k.St.Queues);
        Assert.Equal(1, k.Mib[Ipv6Mib.Ip6ReasmFails]);
        k.AssertPoolWhole();
    }
}
