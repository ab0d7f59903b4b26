using System.Buffers.Binary;
using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Tests.Core;
using NetStack.Wire;

namespace NetStack.Tests.Ipv4;

/// <summary>ip_fragment()/ip_defrag(): large datagrams out, fragments in, and the ways reassembly fails.</summary>
public class IpFragmentTests
{
    /// <summary>Cuts an IPv4 packet into fragments whose payloads hold at most <paramref name="piece"/> bytes (a multiple of 8).</summary>
    private static List<byte[]> Cut(byte[] ip, int piece)
    {
        var list = new List<byte[]>();
        int hlen = 20, total = ip.Length - hlen;
        for (int off = 0; off < total; off += piece)
        {
            int len = Math.Min(piece, total - off);
            var f = new byte[hlen + len];
            ip.AsSpan(0, hlen).CopyTo(f);
            ip.AsSpan(hlen + off, len).CopyTo(f.AsSpan(hlen));
            var h = Ipv4Header.Create(f);
            h.FragOff = (ushort)((off >> 3) | (off + len < total ? Ipv4Header.FlagMF : 0));
            h.TotalLength = (ushort)f.Length;
            h.FillChecksum();
            list.Add(f);
        }
        return list;
    }

    private static byte[] Frame(byte[] ip) => Pkt.Eth(OneStack.Mac, OneStack.PeerMac, EthP.IP, ip);

    private static byte[] BigEcho(int dataLen, ushort id = 0x7777) =>
        Pkt.Ip(OneStack.PeerAddr, OneStack.Addr, IpProto.ICMP, Pkt.EchoRequest(1, 1, Pkt.PingData(dataLen) ), id: id, df: false);

    /// <summary>Reassembles the stack's sent fragments (IPv4 frames) into one packet.</summary>
    private static byte[] Reassemble(List<byte[]> frames)
    {
        var ips = frames.Select(f => f.AsSpan(EthernetHeader.Length).ToArray()).ToList();
        int total = ips.Max(p => Ipv4Header.Create(p).FragmentOffset + p.Length - 20);
        var whole = new byte[20 + total];
        foreach (var p in ips)
        {
            var h = Ipv4Header.Create(p);
            p.AsSpan(20, h.TotalLength - 20).CopyTo(whole.AsSpan(20 + h.FragmentOffset));
        }
        ips[0].AsSpan(0, 20).CopyTo(whole);
        return whole;
    }

    [Fact]
    public void LargeEcho_InOrderFragments_ReassembledAndReplyFragmented()
    {
        using var s = new OneStack();
        s.LearnPeer();
        var ip = BigEcho(4000);
        foreach (var f in Cut(ip, 1480)) s.Receive(Frame(f));
        var mib = s.Net.Mib.Ip;
        Assert.Equal(3, mib[IpMib.ReasmReqds]);
        Assert.Equal(1, mib[IpMib.ReasmOKs]);
        Assert.Equal(1, s.Net.Mib.Icmp[IcmpMib.InEchos]);
        var sent = s.Dev.TakeSent();
        Assert.Equal(3, sent.Count); // 4008 bytes of ICMP in 1480-byte pieces
        Assert.All(sent, f => Assert.True(f.Length - EthernetHeader.Length <= 1500));
        Assert.Equal(1, mib[IpMib.FragOKs]);
        Assert.Equal(3, mib[IpMib.FragCreates]);
        var reply = Reassemble(sent);
        var icmp = reply.AsSpan(20);
        Assert.Equal(IcmpType.EchoReply, icmp[0]);
        Assert.Equal(0, Checksum.Compute(icmp));
        Assert.True(icmp[8..].SequenceEqual(Pkt.PingData(4000)));
        Assert.Equal(s.Net.SkbPool.Total, s.Net.SkbPool.FreeCount);
    }

    [Fact]
    public void Fragments_OutOfOrderAndDuplicated_StillReassemble()
    {
        using var s = new OneStack();
        s.LearnPeer();
        var frags = Cut(BigEcho(3000), 1024);
        Assert.Equal(3, frags.Count);
        s.Receive(Frame(frags[2]));
        s.Receive(Frame(frags[0]));
        s.Receive(Frame(frags[0])); // exact duplicate: dropped alone
        s.Receive(Frame(frags[1]));
        Assert.Equal(1, s.Net.Mib.Ip[IpMib.ReasmOKs]);
        Assert.Equal(1, s.Net.Mib.Drops[SkbDropReason.FragDup]);
        Assert.Equal(1, s.Net.Mib.Icmp[IcmpMib.InEchos]);
    }

    [Fact]
    public void OverlappingFragment_DropsTheWholeDatagram()
    {
        using var s = new OneStack();
        s.LearnPeer();
        var ip = BigEcho(3000);
        var frags = Cut(ip, 1024);
        // A fragment covering bytes 512..1535 overlaps both neighbours without duplicating either.
        var overlap = Cut(ip, 512)[1];
        var oh = Ipv4Header.Create(overlap);
        s.Receive(Frame(frags[0]));
        s.Receive(Frame(overlap));
        Assert.Equal(1, s.Net.Mib.IpExt[IpExtMib.ReasmOverlaps]);
        Assert.Equal(1, s.Net.Mib.Ip[IpMib.ReasmFails]);
        s.Receive(Frame(frags[1]));
        s.Receive(Frame(frags[2]));
        Assert.Equal(0, s.Net.Mib.Ip[IpMib.ReasmOKs]); // a fresh queue never got its first fragment
        Assert.Equal(0, s.Net.Mib.Icmp[IcmpMib.InEchos]);
        Assert.Equal(512, oh.FragmentOffset);
    }

    [Fact]
    public void MissingFragment_TimesOutAfter30s_WithTimeExceededQuotingTheFirst()
    {
        using var s = new OneStack();
        s.LearnPeer();
        var frags = Cut(BigEcho(3000), 1024);
        s.Receive(Frame(frags[0]));
        s.Receive(Frame(frags[2]));
        s.RunFor(29_999);
        Assert.Empty(s.Dev.Sent);
        s.RunFor(1);
        var mib = s.Net.Mib.Ip;
        Assert.Equal(1, mib[IpMib.ReasmTimeout]);
        Assert.Equal(1, mib[IpMib.ReasmFails]);
        var sent = Assert.Single(s.Dev.TakeSent());
        var icmp = sent.AsSpan(EthernetHeader.Length + 20);
        Assert.Equal(IcmpType.TimeExceeded, icmp[0]);
        Assert.Equal(IcmpType.ExcFragtime, icmp[1]);
        // The quote starts with the first fragment's IP header (its id).
        Assert.Equal(0x7777, BinaryPrimitives.ReadUInt16BigEndian(icmp[(8 + 4)..]));
        Assert.Equal(s.Net.SkbPool.Total, s.Net.SkbPool.FreeCount);
    }

    [Fact]
    public void OversizedReassembly_IsDropped()
    {
        using var s = new OneStack();
        s.LearnPeer();
        // A last fragment at offset 65528 with 16 bytes claims a 65564-byte datagram.
        var first = Pkt.Ip(OneStack.PeerAddr, OneStack.Addr, IpProto.ICMP, new byte[64], id: 9, df: false);
        var fh = Ipv4Header.Create(first);
        fh.FragOff = Ipv4Header.FlagMF;
        fh.FillChecksum();
        var last = Pkt.Ip(OneStack.PeerAddr, OneStack.Addr, IpProto.ICMP, new byte[16], id: 9, df: false);
        var lh = Ipv4Header.Create(last);
        lh.FragOff = (ushort)(65528 >> 3);
        lh.FillChecksum();
        s.Receive(Frame(first));
        s.Receive(Frame(last));
        Assert.Equal(0, s.Net.Mib.Ip[IpMib.ReasmOKs]);
        // Not complete (a hole between 64 and 65528): it waits, then times out without harm.
        s.RunFor(30_000);
        Assert.Equal(1, s.Net.Mib.Ip[IpMib.ReasmTimeout]);
        Assert.Equal(s.Net.SkbPool.Total, s.Net.SkbPool.FreeCount);
    }

    [Fact]
    public void TwoStacks_LargeEchoBothWays_OverSmallMtu()
    {
        using var st = new TwoStacks(mtu: 576);
        st.Pump();
        lock (st.A.SyncRoot)
        {
            Assert.Equal(0, Route.IpRouteOutput(st.A, TwoStacks.AddrB, 0, out var rt));
            var msg = Pkt.EchoRequest(5, 1, Pkt.PingData(5000));
            var skb = st.A.AllocSkb(msg.Length)!;
            msg.CopyTo(skb.Put(msg.Length));
            Assert.Equal(0, IpOutput.IpQueueXmit(st.A, skb, rt, rt.PrefSrc, TwoStacks.AddrB, IpProto.ICMP, df: false));
        }
        st.Pump();
        Assert.Equal(1, st.A.Mib.Icmp[IcmpMib.InEchoReps]);
        Assert.Equal(1, st.B.Mib.Ip[IpMib.ReasmOKs]);
        Assert.Equal(1, st.A.Mib.Ip[IpMib.ReasmOKs]);
        Assert.True(st.A.Mib.Ip[IpMib.FragCreates] >= 9);
    }

    [Fact]
    public void DontFragment_TooBig_FailsWithEmsgsize()
    {
        using var st = new TwoStacks();
        lock (st.A.SyncRoot)
        {
            Assert.Equal(0, Route.IpRouteOutput(st.A, TwoStacks.AddrB, 0, out var rt));
            var skb = st.A.AllocSkb(3000)!;
            skb.Put(3000);
            Assert.Equal(-NetStack.Uapi.Errno.EMSGSIZE, IpOutput.IpQueueXmit(st.A, skb, rt, rt.PrefSrc, TwoStacks.AddrB, IpProto.ICMP, df: true));
        }
        Assert.Equal(1, st.A.Mib.Ip[IpMib.FragFails]);
    }
}

/// <summary>icmp_timestamp(): the stack answers RFC 792 timestamp requests as Linux does.</summary>
public class IcmpTimestampTests
{
    [Fact]
    public void TimestampRequest_IsAnswered_WithOriginateCopied()
    {
        using var s = new OneStack();
        s.LearnPeer();
        var data = new byte[12];
        BinaryPrimitives.WriteUInt32BigEndian(data, 0x01020304);
        s.Receive(Pkt.Eth(OneStack.Mac, OneStack.PeerMac, EthP.IP,
            Pkt.Ip(OneStack.PeerAddr, OneStack.Addr, IpProto.ICMP, Pkt.Icmp(IcmpType.Timestamp, 0, 0x00420001, data))));
        var (_, ip, payload) = Pkt.ParseIp(Assert.Single(s.Dev.TakeSent()));
        Assert.Equal(OneStack.PeerAddr, ip.Destination);
        Assert.Equal(20, payload.Length);
        Assert.Equal(IcmpType.TimestampReply, payload[0]);
        Assert.Equal(0, Checksum.Compute(payload));
        Assert.Equal(0x00420001u, BinaryPrimitives.ReadUInt32BigEndian(payload.AsSpan(4)));
        Assert.Equal(0x01020304u, BinaryPrimitives.ReadUInt32BigEndian(payload.AsSpan(8)));
        uint rx = BinaryPrimitives.ReadUInt32BigEndian(payload.AsSpan(12));
        Assert.True(rx < 86_400_000u, "milliseconds since midnight");
        Assert.Equal(rx, BinaryPrimitives.ReadUInt32BigEndian(payload.AsSpan(16)));
        Assert.Equal(1, s.Net.Mib.Icmp[IcmpMib.OutTimestampReps]);
    }

    [Fact]
    public void TimestampRequest_WithoutOriginate_IsAnError()
    {
        using var s = new OneStack();
        s.LearnPeer();
        s.Receive(Pkt.Eth(OneStack.Mac, OneStack.PeerMac, EthP.IP,
            Pkt.Ip(OneStack.PeerAddr, OneStack.Addr, IpProto.ICMP, Pkt.Icmp(IcmpType.Timestamp, 0, 0, []))));
        Assert.Empty(s.Dev.Sent);
        Assert.Equal(1, s.Net.Mib.Icmp[IcmpMib.InErrors]);
    }
}
