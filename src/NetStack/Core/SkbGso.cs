using System.Buffers.Binary;
using NetStack.Uapi;
using NetStack.Wire;

namespace NetStack.Core;

/// <summary>
/// Frame-level GSO helpers a driver and the protocols share: software segmentation of a TCPv4 or
/// TCPv6 super-frame into MSS-sized frames (what the core does for a device that cannot take one), and
/// the virtio header that asks a TAP's kernel side to segment one the stack sends. They read and
/// write headers only (Wire), so a driver uses them without depending on the IPv4 layer.
/// </summary>
internal static class SkbGso
{
    private const int EthLen = 14;

    /// <summary>
    /// Cuts the super-frame <paramref name="frame"/> (Ethernet + IPv4 or IPv6 + TCP + payload of
    /// <paramref name="gsoSize"/>-byte segments) into frame-sized buffers from
    /// <paramref name="pool"/>, appended to <paramref name="segs"/>: each carries the headers with
    /// its own IP length (IPv4: also its id, the first id plus its index, and header checksum) and
    /// sequence number; FIN and PSH stay on the last segment only, CWR on the first only; the TCP
    /// checksum field holds the pseudo-header sum (IPv4's or IPv6's) of its own length (still
    /// CHECKSUM_PARTIAL, so each is marked verified as the super-frame was). An IPv6 super-frame
    /// must carry TCP right after its fixed header (no extension headers, no jumbogram). Returns
    /// the number of segments, or a negative errno (-EINVAL: not a TCP frame this can cut;
    /// -ENOMEM: the pool ran out, nothing appended).
    /// </summary>
    /// <remarks>Mirrors net/core/skbuff.c: skb_segment() as called by inet_gso_segment() or ipv6_gso_segment() -> tcp_gso_segment() / tcp6_gso_segment() (net/ipv4/af_inet.c, net/ipv6/ip6_offload.c, tcp_offload.c, tcpv6_offload.c).</remarks>
    public static int TcpGsoSegment(ReadOnlySpan<byte> frame, int gsoSize, SkBuffPool pool, SkBuffQueue segs)
    {
        if (frame.Length < EthLen + Ipv4Header.MinLength + TcpHeader.MinLength || gsoSize <= 0) return -Errno.EINVAL;
        ushort proto = BinaryPrimitives.ReadUInt16BigEndian(frame[12..]);
        int ihl, ipEnd;
        if (proto == EthP.IP)
        {
            // inet_gso_segment(): an IPv4 header carrying TCP.
            ihl = (frame[EthLen] & 0x0F) * 4;
            if (frame[EthLen] >> 4 != 4 || ihl < Ipv4Header.MinLength || frame[EthLen + 9] != IpProto.TCP) return -Errno.EINVAL;
            ipEnd = EthLen + BinaryPrimitives.ReadUInt16BigEndian(frame[(EthLen + 2)..]);
        }
        else if (proto == EthP.IPV6)
        {
            // ipv6_gso_segment(): an IPv6 header whose next header is TCP (what tcp_v6 and the kernel send).
            ihl = Ipv6Header.Length;
            if (frame.Length < EthLen + ihl || frame[EthLen] >> 4 != 6 || frame[EthLen + 6] != IpProto.TCP) return -Errno.EINVAL;
            int plen = BinaryPrimitives.ReadUInt16BigEndian(frame[(EthLen + 4)..]);
            if (plen == 0) return -Errno.EINVAL; // a jumbogram (BIG TCP): never offered
            ipEnd = EthLen + ihl + plen;
        }
        else return -Errno.EINVAL;
        int tcpOff = EthLen + ihl;
        if (frame.Length < tcpOff + TcpHeader.MinLength) return -Errno.EINVAL;
        // tcp_gso_segment(): the TCP header must be whole.
        int thlen = (frame[tcpOff + TcpHeader.DoffOffset] >> 4) * 4;
        int hdrLen = tcpOff + thlen;
        if (thlen < TcpHeader.MinLength || frame.Length < hdrLen) return -Errno.EINVAL;
        int payload = Math.Min(frame.Length, ipEnd) - hdrLen;
        if (payload <= 0) return -Errno.EINVAL;
        if (hdrLen + gsoSize > pool.BufferSize) return -Errno.EINVAL;

        bool v6 = proto == EthP.IPV6;
        ushort id = v6 ? (ushort)0 : BinaryPrimitives.ReadUInt16BigEndian(frame[(EthLen + 4)..]);
        uint seq = BinaryPrimitives.ReadUInt32BigEndian(frame[(tcpOff + TcpHeader.SeqOffset)..]);
        byte flags = frame[tcpOff + TcpHeader.FlagsOffset];
        int n = 0;
        var last = segs.Last;
        for (int off = 0; off < payload; off += gsoSize, n++)
        {
            int len = Math.Min(gsoSize, payload - off);
            var skb = pool.Alloc();
            if (skb is null)
            {
                // All or nothing, as skb_segment() frees what it built when an allocation fails.
                while (segs.Last != last && segs.Last is { } s)
                {
                    segs.Unlink(s);
                    s.Free();
                }
                return -Errno.ENOMEM;
            }
            var d = skb.Put(hdrLen + len);
            frame[..hdrLen].CopyTo(d);
            frame.Slice(hdrLen + off, len).CopyTo(d[hdrLen..]);
            ushort csum;
            if (v6)
            {
                var ip6 = Ipv6Header.Create(d[EthLen..]);
                ip6.PayloadLength = (ushort)(thlen + len);
                csum = PseudoCsumV6(ip6.Source, ip6.Destination, thlen + len);
            }
            else
            {
                var ip = Ipv4Header.Create(d[EthLen..]);
                ip.TotalLength = (ushort)(ihl + thlen + len);
                ip.Id = (ushort)(id + n);
                ip.FillChecksum();
                csum = PseudoCsum(ip.Source, ip.Destination, thlen + len);
            }
            var th = d[tcpOff..];
            BinaryPrimitives.WriteUInt32BigEndian(th[TcpHeader.SeqOffset..], seq + (uint)off);
            byte f = flags;
            if (off + len < payload) f &= unchecked((byte)~(TcpFlags.FIN | TcpFlags.PSH));
            if (off > 0) f &= unchecked((byte)~TcpFlags.CWR);
            th[TcpHeader.FlagsOffset] = f;
            BinaryPrimitives.WriteUInt16BigEndian(th[TcpHeader.ChecksumOffset..], csum);
            skb.CsumVerified = true;
            skb.SetTunTruesize();
            segs.EnqueueTail(skb);
        }
        return n;
    }

    /// <summary>What a CHECKSUM_PARTIAL TCP header's check field holds: the folded pseudo-header sum, not complemented.</summary>
    /// <remarks>Mirrors ~tcp_v4_check(len, saddr, daddr, 0) in __tcp_v4_send_check().</remarks>
    public static ushort PseudoCsum(uint saddr, uint daddr, int tcpLen) =>
        (ushort)~Checksum.Fold(Checksum.PseudoHeader(saddr, daddr, IpProto.TCP, tcpLen));

    /// <summary>The CHECKSUM_PARTIAL check field of a TCP segment over IPv6: the folded IPv6 pseudo-header sum, not complemented.</summary>
    /// <remarks>Mirrors __tcp_v6_send_check(): th->check = ~tcp_v6_check(skb->len, saddr, daddr, 0).</remarks>
    public static ushort PseudoCsumV6(UInt128 saddr, UInt128 daddr, int tcpLen) =>
        (ushort)~Checksum.Fold(Checksum.PseudoHeaderV6(saddr, daddr, IpProto.TCP, tcpLen));

    /// <summary>
    /// The vnet header for a frame the stack writes: a TCP super-frame asks the kernel to segment
    /// it (gso_type TCPV4 or TCPV6, ECN when it carries CWR, gso_size, hdr_len) and to complete the
    /// checksum (NEEDS_CSUM at the TCP header, check field at offset 16); any other frame asks for
    /// nothing (its checksums are complete).
    /// </summary>
    /// <remarks>Mirrors include/linux/virtio_net.h: virtio_net_hdr_from_skb().</remarks>
    internal static VirtioNetHdr VirtioNetHdrFromSkb(SkBuff skb)
    {
        if (skb.GsoSize == 0) return default;
        var frame = skb.DataSpan;
        // A TCPv6 super-frame (tcp_v6 sends no extension headers) has its TCP header right after the fixed 40 bytes.
        bool v6 = skb.GsoType == VirtioNetHdr.GsoTcpV6;
        int tcpOff = EthLen + (v6 ? Ipv6Header.Length : (frame[EthLen] & 0x0F) * 4);
        int thlen = (frame[tcpOff + TcpHeader.DoffOffset] >> 4) * 4;
        byte gso = v6 ? VirtioNetHdr.GsoTcpV6 : VirtioNetHdr.GsoTcpV4;
        if ((frame[tcpOff + TcpHeader.FlagsOffset] & TcpFlags.CWR) != 0) gso |= VirtioNetHdr.GsoEcn;
        return new VirtioNetHdr
        {
            Flags = VirtioNetHdr.FlagNeedsCsum,
            GsoType = gso,
            HdrLen = (ushort)(tcpOff + thlen),
            GsoSize = skb.GsoSize,
            CsumStart = (ushort)tcpOff,
            CsumOffset = TcpHeader.ChecksumOffset,
        };
    }
}
