using System.Buffers.Binary;
using NetStack.Core;
using NetStack.Uapi;
using NetStack.Wire;

namespace NetStack.Ipv4;

/// <summary>
/// TSO on the send side: super-frames of consecutive MSS segments built in tcp_write_xmit() for a
/// device that segments them (the frame-level helpers, segmentation and the virtio header, are
/// <see cref="SkbGso"/>'s, in Core, where a driver may use them).
/// </summary>
internal static class TcpOffload
{
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
    /// Whether tcp_sendmsg() copies into the socket's page (<see cref="TcpSock.SkFragPage"/>) rather
    /// than into a linear buffer per segment: when the route's device takes super-frames and
    /// scatter-gather, so the segments a frame sends lie one after the other.
    /// </summary>
    /// <remarks>Mirrors the route-capability test of tcp_sendmsg_locked() (sk->sk_route_caps &amp; NETIF_F_SG, older kernels; sk_can_gso()).</remarks>
    internal static bool TcpSendPageFrags(TcpSock tp) =>
        tp.DstValid && tp.Dst.Dev.FeatureTso && tp.Dst.Dev.FeatureSg;

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
    /// <remarks>The write queue keeps one MSS per buffer, so loss recovery retransmits per MSS as tcp_fragment() would cut it;
    /// the frame's fragments point at the segments' data (in the socket's pages, where consecutive segments
    /// coalesce into one piece), as a TSO skb's frags point at the send queue's pages.</remarks>
    internal static bool TcpGsoAppend(TcpSock tp, SkBuff gso, SkBuff skb)
    {
        int len = skb.Len;
        if (len == 0 || len > tp.GsoMss || tp.GsoSegs >= tp.GsoGoal) return false;
        if ((skb.Cb.TcpFlags & ~(TcpFlags.ACK | TcpFlags.PSH)) != 0 || skb.Cb.Seq != gso.Cb.EndSeq) return false;
        // The payload is referenced, not copied: a fragment per segment (skb_frag_ref()).
        if (gso.Len + len > GsoMaxSize || !gso.AddFragsOf(skb)) return false;
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
    /// <remarks>Mirrors the tail of __tcp_transmit_skb() for a TSO skb: icsk_af_ops->send_check() with CHECKSUM_PARTIAL, then icsk_af_ops->queue_xmit().</remarks>
    internal static int TcpGsoFlush(TcpSock tp)
    {
        var skb = tp.GsoSkb;
        if (skb is null) return 0;
        tp.GsoSkb = null;
        var ops = tp.IcskAfOps;
        if (tp.GsoSegs > 1)
        {
            skb.GsoSize = (ushort)tp.GsoMss;
            skb.GsoSegs = (ushort)tp.GsoSegs;
            skb.GsoType = ops.GsoType;
            ops.SendCheck(tp, skb, partial: true);
        }
        else
        {
            ops.SendCheck(tp, skb, partial: false);
        }
        int err = ops.QueueXmit(tp, skb);
        if (err == -Errno.ENETUNREACH || err == -Errno.ENETDOWN) tp.DstReset();
        return err;
    }
}
