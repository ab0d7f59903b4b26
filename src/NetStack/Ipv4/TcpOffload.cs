using System.Buffers.Binary;
using NetStack.Core;
using NetStack.Uapi;
using NetStack.Wire;

namespace NetStack.Ipv4;

/// <summary>
/// Software segmentation of a TCPv4 GSO super-frame into MSS-sized frames, and the virtio header
/// that asks a TAP's kernel side to segment one the stack sends (TSO).
/// </summary>
internal static class TcpOffload
{
    private const int EthLen = 14;
    private const ushort EthPIp = 0x0800;

    /// <summary>
    /// Cuts the super-frame <paramref name="frame"/> (Ethernet + IPv4 + TCP + payload of
    /// <paramref name="gsoSize"/>-byte segments) into frame-sized buffers from
    /// <paramref name="pool"/>, appended to <paramref name="segs"/>: each carries the headers with
    /// its own IP total length, IP id (the first id plus its index), header checksum and sequence
    /// number; FIN and PSH stay on the last segment only, CWR on the first only; the TCP checksum
    /// field holds the pseudo-header sum of its own length (still CHECKSUM_PARTIAL, so each is
    /// marked verified as the super-frame was). Returns the number of segments, or a negative
    /// errno (-EINVAL: not a TCPv4 frame; -ENOMEM: the pool ran out, nothing appended).
    /// </summary>
    /// <remarks>Mirrors net/core/skbuff.c: skb_segment() as called by inet_gso_segment() -> tcp_gso_segment() (net/ipv4/af_inet.c, tcp_offload.c).</remarks>
    public static int TcpGsoSegment(ReadOnlySpan<byte> frame, int gsoSize, SkBuffPool pool, SkBuffQueue segs)
    {
        if (frame.Length < EthLen + Ipv4Header.MinLength + TcpHeader.MinLength || gsoSize <= 0) return -Errno.EINVAL;
        if (BinaryPrimitives.ReadUInt16BigEndian(frame[12..]) != EthPIp) return -Errno.EINVAL;
        // inet_gso_segment(): an IPv4 header, not a fragment, carrying TCP.
        int ihl = (frame[EthLen] & 0x0F) * 4;
        if (frame[EthLen] >> 4 != 4 || ihl < Ipv4Header.MinLength || frame[EthLen + 9] != IpProto.TCP) return -Errno.EINVAL;
        int tcpOff = EthLen + ihl;
        if (frame.Length < tcpOff + TcpHeader.MinLength) return -Errno.EINVAL;
        // tcp_gso_segment(): the TCP header must be whole.
        int thlen = (frame[tcpOff + TcpHeader.DoffOffset] >> 4) * 4;
        int hdrLen = tcpOff + thlen;
        if (thlen < TcpHeader.MinLength || frame.Length < hdrLen) return -Errno.EINVAL;
        int ipTot = BinaryPrimitives.ReadUInt16BigEndian(frame[(EthLen + 2)..]);
        int payload = Math.Min(frame.Length, EthLen + ipTot) - hdrLen;
        if (payload <= 0) return -Errno.EINVAL;
        if (hdrLen + gsoSize > pool.BufferSize) return -Errno.EINVAL;

        ushort id = BinaryPrimitives.ReadUInt16BigEndian(frame[(EthLen + 4)..]);
        uint seq = BinaryPrimitives.ReadUInt32BigEndian(frame[(tcpOff + TcpHeader.SeqOffset)..]);
        uint saddr = BinaryPrimitives.ReadUInt32BigEndian(frame[(EthLen + 12)..]);
        uint daddr = BinaryPrimitives.ReadUInt32BigEndian(frame[(EthLen + 16)..]);
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
            var ip = Ipv4Header.Create(d[EthLen..]);
            ip.TotalLength = (ushort)(ihl + thlen + len);
            ip.Id = (ushort)(id + n);
            ip.FillChecksum();
            var th = d[tcpOff..];
            BinaryPrimitives.WriteUInt32BigEndian(th[TcpHeader.SeqOffset..], seq + (uint)off);
            byte f = flags;
            if (off + len < payload) f &= unchecked((byte)~(TcpFlags.FIN | TcpFlags.PSH));
            if (off > 0) f &= unchecked((byte)~TcpFlags.CWR);
            th[TcpHeader.FlagsOffset] = f;
            BinaryPrimitives.WriteUInt16BigEndian(th[TcpHeader.ChecksumOffset..], PseudoCsum(saddr, daddr, thlen + len));
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

    // ---- sending: TSO super-frames built in tcp_write_xmit() ----

    /// <summary>Largest TCP header plus payload of a super-frame: an IPv4 datagram's 64 KiB less its header (sk_gso_max_size).</summary>
    private const int GsoMaxSize = 0xFFFF - Ipv4Header.MinLength;
    /// <summary>net.ipv4.tcp_min_tso_segs.</summary>
    private const int TcpMinTsoSegs = 2;
    /// <summary>net.ipv4.tcp_tso_rtt_log: each 2^9 µs of min_rtt halves the 64 KiB added to the pacing budget.</summary>
    private const int TcpTsoRttLog = 9;

    /// <summary>
    /// How many MSS one super-frame may carry: about 1 ms of the pacing rate, plus 64 KiB shrunk by
    /// the minimum RTT (so a low-RTT flow sends full 64 KiB frames), at least tcp_min_tso_segs.
    /// </summary>
    /// <remarks>Mirrors tcp_tso_segs() -> tcp_tso_autosize().</remarks>
    internal static int TcpTsoSegs(TcpSock tp, int mssNow)
    {
        ulong bytes = tp.PacingRate == ulong.MaxValue ? GsoMaxSize : tp.PacingRate >> tp.PacingShift;
        uint r = tp.TcpMinRtt >> TcpTsoRttLog;
        if (r < 32) bytes += (ulong)GsoMaxSize >> (int)r;
        bytes = Math.Min(bytes, GsoMaxSize);
        return Math.Max((int)(bytes / (ulong)mssNow), TcpMinTsoSegs);
    }

    /// <summary>
    /// How much unsent data tcp_sendmsg() gathers before it pushes: one MSS without TSO; with it,
    /// as much as a super-frame holds (64 KiB less headers, at most half the peer's largest window),
    /// in whole MSS.
    /// </summary>
    /// <remarks>Mirrors tcp_send_mss() -> tcp_xmit_size_goal() and tcp_bound_to_half_wnd().</remarks>
    internal static int TcpXmitSizeGoal(TcpSock tp, uint mssNow, bool largeAllowed)
    {
        int mss = (int)mssNow;
        if (!largeAllowed || !tp.DstValid || !tp.Dst.Dev.FeatureTso || mss <= 0) return mss;
        int goal = GsoMaxSize - TcpHeader.MaxLength;
        uint cutoff = tp.MaxWindow > 536 ? tp.MaxWindow >> 1 : tp.MaxWindow;
        if (cutoff != 0 && goal > cutoff) goal = (int)Math.Max(cutoff, 68u);
        return Math.Max(goal / mss * mss, mss);
    }

    /// <summary>
    /// Starts the super-frames of one tcp_write_xmit() round when the route's device has TSO
    /// (sk_can_gso()): segments of <paramref name="mssNow"/> sent in a row then join one frame.
    /// </summary>
    internal static void TcpGsoBegin(TcpSock tp, uint mssNow)
    {
        tp.GsoMss = tp.DstValid && tp.Dst.Dev.FeatureTso && !tp.TcpUrgMode ? (int)mssNow : 0;
        if (tp.GsoMss != 0) tp.GsoGoal = Math.Min(TcpTsoSegs(tp, tp.GsoMss), (GsoMaxSize - TcpHeader.MaxLength) / tp.GsoMss);
    }

    /// <summary>A segment may open a super-frame: a full MSS of data with no flag beyond ACK and PSH.</summary>
    internal static bool TcpGsoCanStart(TcpSock tp, SkBuff skb) =>
        tp.GsoMss != 0 && tp.GsoGoal > 1 && skb.Len == tp.GsoMss && (skb.Cb.TcpFlags & ~(TcpFlags.ACK | TcpFlags.PSH)) == 0;

    /// <summary>
    /// Joins <paramref name="skb"/> (a write-queue segment being sent) to the super-frame being
    /// built, if it follows it in sequence, the frame is not full and every segment before it was a
    /// full MSS (a super-frame's segments are gso_size each but the last). PSH moves to the frame,
    /// whose segmentation leaves it on the last segment only.
    /// </summary>
    /// <remarks>The write queue keeps one MSS per buffer, so loss recovery retransmits per MSS as tcp_fragment() would cut it.</remarks>
    internal static bool TcpGsoAppend(TcpSock tp, SkBuff gso, SkBuff skb)
    {
        int len = skb.Len;
        if (len == 0 || len > tp.GsoMss || tp.GsoSegs >= tp.GsoGoal) return false;
        if ((skb.Cb.TcpFlags & ~(TcpFlags.ACK | TcpFlags.PSH)) != 0 || skb.Cb.Seq != gso.Cb.EndSeq) return false;
        if (gso.Tailroom < len || gso.Len + len > GsoMaxSize) return false;
        skb.DataSpan.CopyTo(gso.Put(len));
        gso.Cb.EndSeq = skb.Cb.EndSeq;
        gso.Buffer[gso.Data + TcpHeader.FlagsOffset] |= (byte)(skb.Cb.TcpFlags & TcpFlags.PSH);
        tp.GsoSegs++;
        // Only a full segment can be followed by another.
        if (len < tp.GsoMss) tp.GsoGoal = tp.GsoSegs;
        return true;
    }

    /// <summary>
    /// Sends the super-frame being built: with more than one segment, as a GSO frame (gso_size =
    /// the MSS, the TCP checksum left partial for the device to complete); a lone segment gets its
    /// full checksum and goes as an ordinary frame.
    /// </summary>
    /// <remarks>Mirrors the tail of __tcp_transmit_skb() for a TSO skb: tcp_v4_send_check() with CHECKSUM_PARTIAL, then ip_queue_xmit().</remarks>
    internal static int TcpGsoFlush(TcpSock tp)
    {
        var skb = tp.GsoSkb;
        if (skb is null) return 0;
        tp.GsoSkb = null;
        var th = TcpHeader.Create(skb.DataSpan);
        uint saddr = tp.InetSaddr, daddr = tp.InetDaddr;
        if (tp.GsoSegs > 1)
        {
            skb.GsoSize = (ushort)tp.GsoMss;
            skb.GsoSegs = (ushort)tp.GsoSegs;
            skb.GsoType = VirtioNetHdr.GsoTcpV4;
            th.Checksum = PseudoCsum(saddr, daddr, skb.Len);
        }
        else
        {
            th.FillChecksum(saddr, daddr);
        }
        int err = IpOutput.IpQueueXmit(tp.Net, skb, tp.Dst, saddr, daddr, IpProto.TCP, tp.SelectTtl(), tp.Tos,
            df: tp.Pmtudisc != SocketConstants.IP_PMTUDISC_DONT, sk: tp);
        if (err == -Errno.ENETUNREACH || err == -Errno.ENETDOWN) tp.DstReset();
        return err;
    }

    /// <summary>
    /// The vnet header for a frame the stack writes: a TCPv4 super-frame asks the kernel to segment
    /// it (gso_type TCPV4, ECN when it carries CWR, gso_size, hdr_len) and to complete the
    /// checksum (NEEDS_CSUM at the TCP header, check field at offset 16); any other frame asks for
    /// nothing (its checksums are complete).
    /// </summary>
    /// <remarks>Mirrors include/linux/virtio_net.h: virtio_net_hdr_from_skb().</remarks>
    internal static VirtioNetHdr VirtioNetHdrFromSkb(SkBuff skb)
    {
        if (skb.GsoSize == 0) return default;
        var frame = skb.DataSpan;
        int ihl = (frame[EthLen] & 0x0F) * 4;
        int tcpOff = EthLen + ihl;
        int thlen = (frame[tcpOff + TcpHeader.DoffOffset] >> 4) * 4;
        byte gso = VirtioNetHdr.GsoTcpV4;
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
