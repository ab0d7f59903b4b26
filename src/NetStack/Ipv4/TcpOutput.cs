using NetStack.Core;
using NetStack.Net;
using NetStack.Wire;

namespace NetStack.Ipv4;

/// <summary>
/// Building and sending segments: transmit with options and checksum, the send loop under
/// Nagle, window and cwnd, ACKs (immediate and delayed), FIN, RST, SYN, retransmission,
/// window selection and MSS.
/// <remarks>Mirrors net/ipv4/tcp_output.c.</remarks>
/// </summary>
internal static class TcpOutput
{
    /// <summary>MAX_TCP_OPTION_SPACE.</summary>
    public const int MaxTcpOptionSpace = 40;
    /// <summary>TCP_RESOURCE_PROBE_INTERVAL: retry after a local allocation failure.</summary>
    public static readonly long TcpResourceProbeInterval = Time.Ms(500);

    // ---- sizes ----

    /// <summary>The largest payload a pool buffer can carry with all headers (this stack's TSO limit: none).</summary>
    public static int MaxSkbPayload(NetNamespace net) => net.SkbPool.BufferSize - SkBuffPool.MaxHeader;

    /// <summary>Converts an MTU to an MSS for the base header (no options).</summary>
    /// <remarks>Mirrors __tcp_mtu_to_mss() / tcp_mtu_to_mss().</remarks>
    public static int TcpMtuToMss(TcpSock tp, int pmtu)
    {
        int mssNow = pmtu - tp.IcskAfOps.NetHeaderLen - TcpHeader.MinLength - tp.IcskExtHdrLen;
        if (tp.RxOpt.MssClamp != 0 && mssNow > tp.RxOpt.MssClamp) mssNow = tp.RxOpt.MssClamp;
        mssNow = Math.Min(mssNow, MaxSkbPayload(tp.Net) - MaxTcpOptionSpace);
        mssNow = Math.Max(mssNow, tp.Net.Ipv4.Sysctl.TcpMinSndMss);
        return mssNow;
    }

    /// <summary>Converts an MTU to an MSS less the usual options (not SACK blocks).</summary>
    /// <remarks>Mirrors tcp_mtu_to_mss() (<see cref="TcpMtuToMss"/> is its __tcp_mtu_to_mss()).</remarks>
    public static int TcpMtuToMssOpts(TcpSock tp, int pmtu) => TcpMtuToMss(tp, pmtu) - (tp.TcpHeaderLen - TcpHeader.MinLength);

    /// <summary>Converts an MSS (the payload with the usual options) to the MTU it needs.</summary>
    /// <remarks>Mirrors tcp_mss_to_mtu().</remarks>
    public static int TcpMssToMtu(TcpSock tp, int mss) => mss + tp.TcpHeaderLen + tp.IcskExtHdrLen + tp.IcskAfOps.NetHeaderLen;

    /// <summary>
    /// Starts the path MTU search state: the window from tcp_base_mss's MTU up to the MSS clamp's,
    /// on at once with tcp_mtu_probing = 2.
    /// </summary>
    /// <remarks>Mirrors tcp_mtup_init().</remarks>
    public static void TcpMtupInit(TcpSock tp)
    {
        var sys = tp.Net.Ipv4.Sysctl;
        ref var mtup = ref tp.IcskMtup;
        mtup.Enabled = sys.TcpMtuProbing > 1;
        mtup.SearchHigh = tp.RxOpt.MssClamp + TcpHeader.MinLength + tp.IcskAfOps.NetHeaderLen;
        mtup.SearchLow = TcpMssToMtu(tp, sys.TcpBaseMss);
        mtup.ProbeSize = 0;
        if (mtup.Enabled) mtup.ProbeTimestamp = tp.Net.NowNs;
    }

    /// <summary>Recomputes the cached MSS for a path MTU.</summary>
    /// <remarks>Mirrors tcp_sync_mss(): MTU to MSS, bounded by half the largest window seen, minus timestamp option room; while a path MTU search is on, no larger than search_low allows.</remarks>
    public static uint TcpSyncMss(TcpSock tp, int pmtu)
    {
        ref var mtup = ref tp.IcskMtup;
        if (mtup.SearchHigh > pmtu) mtup.SearchHigh = pmtu;
        int mssNow = TcpMtuToMss(tp, pmtu);
        mssNow = TcpBoundToHalfWnd(tp, mssNow);
        tp.IcskPmtuCookie = pmtu;
        int options = tp.TcpHeaderLen - TcpHeader.MinLength;
        mssNow -= options;
        if (mtup.Enabled) mssNow = Math.Min(mssNow, TcpMtuToMss(tp, mtup.SearchLow) - options);
        mssNow = Math.Max(mssNow, 8);
        tp.MssCache = (uint)mssNow;
        return tp.MssCache;
    }

    /// <remarks>Mirrors tcp_bound_to_half_wnd(): do not send segments larger than half the peer's largest window (RFC 1122 SWS).</remarks>
    public static int TcpBoundToHalfWnd(TcpSock tp, int pktsize)
    {
        int cutoff = tp.MaxWindow > TcpSock.TcpMssDefault ? (int)(tp.MaxWindow >> 1) : (int)tp.MaxWindow;
        if (cutoff != 0 && pktsize > cutoff) return Math.Max(cutoff, 68 - TcpHeader.MinLength);
        return pktsize;
    }

    /// <summary>The MSS for the next segment: the cached one minus room for options beyond the usual (SACK blocks).</summary>
    /// <remarks>Mirrors tcp_current_mss().</remarks>
    public static uint TcpCurrentMss(TcpSock tp)
    {
        uint mssNow = tp.MssCache;
        var opts = new TcpOptionsOut();
        int headerLen = TcpEstablishedOptions(tp, ref opts) + TcpHeader.MinLength;
        if (headerLen != tp.TcpHeaderLen)
        {
            int delta = headerLen - tp.TcpHeaderLen;
            mssNow = (uint)Math.Max(8, (int)mssNow - delta);
        }
        return mssNow;
    }

    /// <summary>The MSS we advertise for a route: MTU - 40 (IPv4) or MTU - 60 (IPv6, <paramref name="netHeaderLen"/> 40), within the buffer limit.</summary>
    /// <remarks>Mirrors ipv4_default_advmss() / ip6_default_advmss() and tcp_mss_clamp().</remarks>
    public static ushort TcpAdvmss(TcpSock tp, int mtu, int netHeaderLen = Ipv4Header.MinLength)
    {
        int advmss = Math.Min(mtu - netHeaderLen - TcpHeader.MinLength, MaxSkbPayload(tp.Net) - MaxTcpOptionSpace);
        if (tp.RxOpt.UserMss != 0 && tp.RxOpt.UserMss < advmss) advmss = tp.RxOpt.UserMss;
        return (ushort)Math.Max(advmss, TcpSock.TcpMinMss);
    }

    // ---- receive window ----

    /// <summary>Usable bytes in a receive buffer of <paramref name="space"/> truesize bytes.</summary>
    /// <remarks>Mirrors tcp_win_from_space() with scaling_ratio.</remarks>
    public static int TcpWinFromSpace(TcpSock tp, int space) => space <= 0 ? space : (int)(((long)space * tp.ScalingRatio) >> 8);

    /// <summary>Truesize needed to hold a window of <paramref name="win"/> bytes.</summary>
    /// <remarks>Mirrors tcp_space_from_win().</remarks>
    public static int TcpSpaceFromWin(TcpSock tp, int win) => (int)(((long)win << 8) / Math.Max(1, tp.ScalingRatio));

    /// <remarks>Mirrors tcp_space(): free receive space as a window.</remarks>
    public static int TcpSpace(TcpSock tp) => TcpWinFromSpace(tp, tp.RcvBuf - tp.RmemAlloc);

    /// <remarks>Mirrors tcp_full_space().</remarks>
    public static int TcpFullSpace(TcpSock tp) => TcpWinFromSpace(tp, tp.RcvBuf);

    /// <summary>
    /// Chooses the initial receive window and our window scale from the space available.
    /// </summary>
    /// <remarks>Mirrors tcp_select_initial_window().</remarks>
    public static void TcpSelectInitialWindow(TcpSock tp, int space, int mss, out uint rcvWnd, ref uint windowClamp, bool wscaleOk, out byte rcvWscale)
    {
        var sys = tp.Net.Ipv4.Sysctl;
        uint sp = (uint)Math.Max(space, 0);
        // No clamp set: the largest possible scaled window.
        if (windowClamp == 0) windowClamp = 65535u << TcpOpt.MaxWscale;
        sp = Math.Min(windowClamp, sp);
        // Quantize the offer to a multiple of the MSS.
        if (mss > 0 && sp > mss) sp = sp / (uint)mss * (uint)mss;
        rcvWnd = sp;
        rcvWscale = 0;
        if (wscaleOk)
        {
            // Scale for the largest window this socket could grow to (tcp_rmem[2]).
            uint max = Math.Max(sp, (uint)sys.TcpRmemMax);
            max = Math.Min(max, windowClamp);
            int ilog2 = 31 - System.Numerics.BitOperations.LeadingZeroCount(Math.Max(max, 1u));
            rcvWscale = (byte)Math.Clamp(ilog2 - 15, 0, TcpOpt.MaxWscale);
        }
        // The clamp no higher than the largest representable value.
        windowClamp = Math.Min(65535u << rcvWscale, windowClamp);
    }

    /// <summary>The window to offer: the free space, not shrinking what was offered, rounded to the MSS when unscaled.</summary>
    /// <remarks>Mirrors __tcp_select_window().</remarks>
    public static uint TcpSelectWindowRaw(TcpSock tp)
    {
        int mss = tp.IcskAck.RcvMss;
        int freeSpace = TcpSpace(tp);
        int allowedSpace = TcpFullSpace(tp);
        int fullSpace = (int)Math.Min(tp.WindowClamp, (uint)Math.Max(allowedSpace, 0));
        if (mss > fullSpace)
        {
            mss = fullSpace;
            if (mss <= 0) return 0;
        }
        if (freeSpace < fullSpace >> 1)
        {
            tp.IcskAck.Quick = 0;
            if (TcpMemory.TcpUnderMemoryPressure(tp)) TcpMemory.TcpAdjustRcvSsthresh(tp);
            freeSpace &= ~((1 << tp.RxOpt.RcvWscale) - 1);
            if (freeSpace < (allowedSpace >> 4) || freeSpace < mss) return 0;
        }
        if (freeSpace > tp.RcvSsthresh) freeSpace = (int)tp.RcvSsthresh;
        int window;
        if (tp.RxOpt.RcvWscale != 0)
        {
            int a = 1 << tp.RxOpt.RcvWscale;
            window = (freeSpace + a - 1) & ~(a - 1);
        }
        else
        {
            window = (int)tp.RcvWnd;
            if (window <= freeSpace - mss || window > freeSpace) window = mss > 0 ? freeSpace / mss * mss : freeSpace;
            else if (mss == fullSpace && freeSpace > window + (fullSpace >> 1)) window = freeSpace;
        }
        return (uint)Math.Max(window, 0);
    }

    /// <summary>Chooses the window for an outgoing segment (never shrinking the right edge) and returns it scaled.</summary>
    /// <remarks>Mirrors tcp_select_window().</remarks>
    public static ushort TcpSelectWindow(TcpSock tp)
    {
        // Data was dropped for want of memory: offer a zero window until it can be queued.
        if ((tp.IcskAck.Pending & IcskAck.NoMem) != 0)
        {
            tp.PredFlags = 0;
            tp.RcvWnd = 0;
            tp.RcvWup = tp.RcvNxt;
            return 0;
        }
        uint curWin = tp.TcpReceiveWindow;
        uint newWin = TcpSelectWindowRaw(tp);
        if (newWin < curWin)
        {
            // Never shrink the offered window.
            uint a = 1u << tp.RxOpt.RcvWscale;
            newWin = (curWin + a - 1) & ~(a - 1);
        }
        tp.RcvWnd = newWin;
        tp.RcvWup = tp.RcvNxt;
        newWin = Math.Min(newWin, 65535u << tp.RxOpt.RcvWscale);
        newWin >>= tp.RxOpt.RcvWscale;
        // A zero window: the fast path is off (it does not check the window).
        if (newWin == 0) tp.PredFlags = 0;
        return (ushort)newWin;
    }

    // ---- options ----

    /// <summary>Options for an outgoing SYN; returns their size.</summary>
    /// <remarks>Mirrors tcp_syn_options().</remarks>
    private static int TcpSynOptions(TcpSock tp, ref TcpOptionsOut opts)
    {
        var sys = tp.Net.Ipv4.Sysctl;
        opts.Mss = tp.Advmss;
        if (sys.TcpTimestamps)
        {
            opts.HasTimestamp = true;
            opts.TsVal = tp.TcpTimeStampTs;
            opts.TsEcr = tp.RxOpt.TsRecent;
        }
        if (sys.TcpWindowScaling) opts.WindowScale = (sbyte)tp.RxOpt.RcvWscale;
        if (sys.TcpSack) opts.SackPermitted = true;
        int remaining = MaxTcpOptionSpace - opts.Size;
        if (tp.FastopenReq is { } fastopen && fastopen.Cookie.Len >= 0)
        {
            int need = TcpOptionsOut.FastopenSize(fastopen.Cookie);
            if (remaining >= need)
            {
                opts.HasFastopen = true;
                opts.Fastopen = fastopen.Cookie;
                tp.SynFastopen = true;
                tp.SynFastopenExp = fastopen.Cookie.Exp;
            }
        }
        return opts.Size;
    }

    /// <summary>Options for an established connection's segment (timestamps, SACK blocks); returns their size.</summary>
    /// <remarks>Mirrors tcp_established_options().</remarks>
    internal static int TcpEstablishedOptions(TcpSock tp, ref TcpOptionsOut opts)
    {
        int size = 0;
        if (tp.RxOpt.TstampOk)
        {
            opts.HasTimestamp = true;
            opts.TsVal = tp.TcpTimeStampTs;
            opts.TsEcr = tp.RxOpt.TsRecent;
            size += TcpOpt.LenTstampAligned;
        }
        int effSacks = tp.RxOpt.NumSacks + (tp.RxOpt.Dsack ? 1 : 0);
        if (effSacks > 0)
        {
            int remaining = MaxTcpOptionSpace - size;
            int maxBlocks = Math.Min(TcpOpt.MaxSackBlocks, (remaining - TcpOpt.LenSackBaseAligned) / TcpOpt.LenSackPerBlock);
            opts.Sack = default;
            if (tp.RxOpt.Dsack && opts.Sack.Count < maxBlocks) opts.Sack.Add(tp.DuplicateSack);
            for (int i = 0; i < tp.RxOpt.NumSacks && opts.Sack.Count < maxBlocks; i++) opts.Sack.Add(tp.SelectiveAcks[i]);
            if (opts.Sack.Count > 0) size += TcpOpt.LenSackBaseAligned + opts.Sack.Count * TcpOpt.LenSackPerBlock;
        }
        return size;
    }

    // ---- transmit ----

    /// <summary>
    /// Allocates a buffer for the write queue with room for all headers, and reserves its truesize
    /// in TCP's memory account: refused (null) when tcp_mem says no, unless
    /// <paramref name="forceSchedule"/> (a socket's first buffer, a split, a SYN or FIN). An empty
    /// buffer pool is memory pressure.
    /// </summary>
    /// <remarks>Mirrors tcp_stream_alloc_skb().</remarks>
    internal static SkBuff? TcpStreamAllocSkb(TcpSock tp, bool forceSchedule = false)
    {
        var skb = tp.Net.SkbPool.AllocWithHeadroom(SkBuffPool.MaxHeader);
        if (skb is null)
        {
            tp.Net.Ipv4.TcpMem.EnterMemoryPressure(tp);
            tp.SkStreamModerateSndbuf();
            return null;
        }
        return TcpStreamScheduleSkb(tp, skb, forceSchedule);
    }

    /// <summary>
    /// The memory check both allocators end with: reserves the new buffer's truesize (forced, or as
    /// tcp_mem allows) and owns it to the socket; a refused buffer is freed and null returned.
    /// </summary>
    /// <remarks>The tail of tcp_stream_alloc_skb(): sk_forced_mem_schedule() / sk_wmem_schedule(), then skb_set_owner.</remarks>
    private static SkBuff? TcpStreamScheduleSkb(TcpSock tp, SkBuff skb, bool forceSchedule)
    {
        int truesize = Sock.SkbTruesize(skb);
        if (forceSchedule) tp.SkForcedMemSchedule(truesize);
        else if (!tp.SkWmemSchedule(truesize))
        {
            skb.Free();
            return null;
        }
        skb.Sk = tp;
        return skb;
    }

    /// <summary>
    /// A send-queue segment whose data will be a fragment of the socket's page (<see cref="TcpSock.SkFragPage"/>):
    /// a head without data, charged as a frame-sized buffer is, so the send buffer holds as much
    /// either way. With <paramref name="room"/> &gt; 0 the page is made to have that much room first
    /// (a new page when it has not), so the segment can grow to a whole MSS in one piece. Null when
    /// no head or page is free or the memory is refused (the caller then takes a linear buffer, or waits).
    /// </summary>
    /// <remarks>Mirrors tcp_stream_alloc_skb() with sk_page_frag_refill() (skb_page_frag_refill()) as tcp_sendmsg_locked() does on a route with NETIF_F_SG.</remarks>
    internal static SkBuff? TcpStreamAllocFragSkb(TcpSock tp, bool forceSchedule, int room)
    {
        var net = tp.Net;
        if (room > 0 && (tp.SkFragPage is not { } page || page.Tailroom < room))
        {
            if (net.SkPagePool.Alloc() is not { } fresh) return null;
            tp.SkFragPage?.Free();
            tp.SkFragPage = fresh;
        }
        var skb = net.SkbFragPool.AllocWithHeadroom(SkBuffPool.MaxHeader);
        return skb is null ? null : TcpStreamScheduleSkb(tp, skb, forceSchedule);
    }

    /// <summary>Charges a queued buffer to the send buffer and to the socket's reservation.</summary>
    /// <remarks>Mirrors sk_wmem_queued_add() + sk_mem_charge().</remarks>
    internal static void TcpWmemCharge(TcpSock tp, SkBuff skb)
    {
        int size = Sock.SkbTruesize(skb);
        tp.WmemQueued += size;
        tp.SkMemCharge(size);
    }

    /// <summary>Frees a buffer from the write or retransmit queue, uncharging it.</summary>
    /// <remarks>Mirrors tcp_wmem_free_skb().</remarks>
    internal static void TcpWmemFreeSkb(TcpSock tp, SkBuff skb)
    {
        int size = Sock.SkbTruesize(skb);
        tp.WmemQueued -= size;
        tp.SkMemUncharge(size);
        skb.Free();
    }

    /// <remarks>Mirrors tcp_init_nondata_skb().</remarks>
    internal static void TcpInitNondataSkb(SkBuff skb, uint seq, byte flags)
    {
        skb.Cb.TcpFlags = flags;
        skb.Cb.Seq = seq;
        if ((flags & (TcpFlags.SYN | TcpFlags.FIN)) != 0) seq++;
        skb.Cb.EndSeq = seq;
    }

    /// <summary>
    /// Sends one segment: a copy of <paramref name="oskb"/> (which stays queued for
    /// retransmission) when <paramref name="cloneIt"/>, else the buffer itself (consumed).
    /// Adds the TCP header with options, window and checksum, and hands it to IP.
    /// </summary>
    /// <remarks>Mirrors __tcp_transmit_skb().</remarks>
    internal static int TcpTransmitSkb(TcpSock tp, SkBuff oskb, bool cloneIt) => TcpTransmitSkb(tp, oskb, cloneIt, tp.RcvNxt);

    internal static int TcpTransmitSkb(TcpSock tp, SkBuff oskb, bool cloneIt, uint rcvNxt)
    {
        var net = tp.Net;
        SkBuff skb;
        // Earliest departure time: never before now (with internal pacing, never earlier than the check allowed).
        long priorWstamp = tp.TcpWstampNs;
        long now = tp.TcpClockNs;
        tp.TcpWstampNs = Math.Max(tp.TcpWstampNs, now);
        bool gsoStart = false;
        if (cloneIt)
        {
            oskb.Cb.When = now;
            oskb.Cb.TxDelivered = tp.Delivered;
            // TSO (TcpOffload): the segment joins the super-frame being built, or opens one.
            if (tp.GsoSkb is { } gso && TcpOffload.TcpGsoAppend(tp, gso, oskb))
            {
                TcpGsoSegmentSent(tp, oskb, priorWstamp);
                return 0;
            }
            if (TcpOffload.TcpGsoFlush(tp) == -Errno.ENOBUFS) return -Errno.ENOBUFS;
            // A super-frame's head holds the headers only; its payload references the queued
            // segments (skb_clone() sharing the data), which stay unchanged until acknowledged.
            var head = TcpOffload.TcpGsoCanStart(tp, oskb) ? net.SkbHeadPool.AllocWithHeadroom(SkBuffPool.MaxHeader) : null;
            if (head is not null && head.AddFragsOf(oskb))
            {
                gsoStart = true;
                skb = head;
            }
            else
            {
                head?.Free();
                // From the softirq cache (under the stack lock): the driver gives it back there once written.
                var copy = net.SkbCache.GetWithHeadroom(SkBuffPool.MaxHeader);
                if (copy is null) return -Errno.ENOBUFS;
                oskb.CopyBits(copy.Put(oskb.Len));
                skb = copy;
            }
            skb.Cb = oskb.Cb;
        }
        else
        {
            TcpOffload.TcpGsoFlush(tp);
            skb = oskb;
        }

        // Route (the socket's cached dst, or a fresh lookup: ip_queue_xmit()).
        if (!tp.DstValid)
        {
            int rerr = tp.IcskAfOps.RebuildHeader(tp);
            if (rerr != 0)
            {
                skb.Free();
                return rerr;
            }
        }

        byte flags = skb.Cb.TcpFlags;
        var opts = new TcpOptionsOut();
        int optSize = (flags & TcpFlags.SYN) != 0 ? TcpSynOptions(tp, ref opts) : TcpEstablishedOptions(tp, ref opts);
        int hdrLen = TcpHeader.MinLength + optSize;
        int payload = skb.Len;

        if (payload != 0)
        {
            TcpEventDataSent(tp);
            tp.DataSegsOut++;
            tp.BytesSent += (ulong)payload;
        }

        var seg = skb.Push(hdrLen);
        var th = TcpHeader.Create(skb.DataSpan); // header and payload: the checksum covers both
        th.SrcPort = tp.InetSport;
        th.DstPort = tp.InetDport;
        th.Seq = skb.Cb.Seq;
        th.AckSeq = rcvNxt;
        th.DataOffset = hdrLen / 4;
        th.Flags = flags;
        if ((flags & TcpFlags.SYN) == 0)
        {
            th.Window = TcpSelectWindow(tp);
            TcpEcnSend(tp, skb, th, payload);
        }
        else
        {
            // RFC 7323 2.2: the window in a SYN is never scaled.
            th.Window = (ushort)Math.Min(tp.RcvWnd, 65535u);
        }
        // After the window was chosen, as in __tcp_transmit_skb(): it clears ICSK_ACK_NOMEM, which the choice reads.
        if ((flags & TcpFlags.ACK) != 0) TcpEventAckSent(tp, rcvNxt);
        th.Checksum = 0;
        th.UrgPtr = 0;
        TcpUrgWrite(tp, th, skb.Cb.Seq); // (checked even below snd_una, for the urgent window probe)
        opts.Write(seg.Slice(TcpHeader.MinLength, optSize));
        tp.RxOpt.Dsack = false; // a D-SACK is reported once
        if (gsoStart)
        {
            // The first segment of a TSO super-frame: its header is the frame's; TcpGsoFlush() sends it.
            tp.GsoSkb = skb;
            tp.GsoSegs = 1;
            TcpGsoSegmentSent(tp, oskb, priorWstamp, counted: true);
            return 0;
        }
        tp.IcskAfOps.SendCheck(tp, skb, partial: false);

        if (SeqNumber.After(skb.Cb.EndSeq, tp.SndNxt) || skb.Cb.Seq == skb.Cb.EndSeq)
        {
            net.Mib.Tcp[TcpMib.OutSegs]++;
            TcpTracepoint.TraceTcpTransmitSkb(tp, skb.Cb.Seq, payload); // a retransmission is traced by __tcp_retransmit_skb()
        }
        tp.SegsOut++;
        skb.Sk = null;
        int err = tp.IcskAfOps.QueueXmit(tp, skb);
        if (err == -Errno.ENETUNREACH || err == -Errno.ENETDOWN) tp.DstReset();
        // A neighbour still resolving keeps the packet: that is not a local failure.
        if (err == -Errno.ENOBUFS) return err;
        if (cloneIt)
        {
            TcpUpdateSkbAfterSend(tp, oskb, priorWstamp);
            TcpRateSkbSent(tp, oskb);
        }
        return 0;
    }

    /// <summary>
    /// What __tcp_transmit_skb() accounts for a segment that left inside a TSO super-frame: its
    /// data counters, OutSegs (tcp_skb_pcount() per segment), pacing and rate-sampling state.
    /// </summary>
    private static void TcpGsoSegmentSent(TcpSock tp, SkBuff oskb, long priorWstamp, bool counted = false)
    {
        if (!counted)
        {
            TcpEventDataSent(tp);
            tp.DataSegsOut++;
            tp.BytesSent += (ulong)oskb.Len;
        }
        if (SeqNumber.After(oskb.Cb.EndSeq, tp.SndNxt))
        {
            tp.Net.Mib.Tcp[TcpMib.OutSegs]++;
            TcpTracepoint.TraceTcpTransmitSkb(tp, oskb.Cb.Seq, oskb.Len);
        }
        tp.SegsOut++;
        TcpUpdateSkbAfterSend(tp, oskb, priorWstamp);
        TcpRateSkbSent(tp, oskb);
    }

    /// <summary>
    /// Sets the ECN bits of a segment of an ECN connection: new data goes out ECT(0), with CWR once
    /// after a cwnd reduction; ACKs and retransmissions go Not-ECT (unless the congestion control
    /// needs ECN, DCTCP, which keeps ECT on everything); ECE while the peer's CE is unanswered.
    /// </summary>
    /// <remarks>Mirrors tcp_ecn_send().</remarks>
    private static void TcpEcnSend(TcpSock tp, SkBuff skb, TcpHeader th, int payload)
    {
        if ((tp.EcnFlags & TcpSock.TcpEcnOk) == 0) return;
        // Not-retransmitted data segment: set ECT and inject CWR.
        if (payload != 0 && !SeqNumber.Before(skb.Cb.Seq, tp.SndNxt))
        {
            InetEcn.InetEcnXmit(tp);
            if ((tp.EcnFlags & TcpSock.TcpEcnQueueCwr) != 0)
            {
                tp.EcnFlags &= unchecked((byte)~TcpSock.TcpEcnQueueCwr);
                th.Flags |= TcpFlags.CWR;
            }
        }
        else if (!TcpCong.TcpCaNeedsEcn(tp))
        {
            // ACK or retransmitted segment: clear ECT|CE.
            InetEcn.InetEcnDontxmit(tp);
        }
        if ((tp.EcnFlags & TcpSock.TcpEcnDemandCwr) != 0) th.Flags |= TcpFlags.ECE;
    }

    /// <summary>
    /// An active open asks for ECN (SYN with ECE|CWR) when net.ipv4.tcp_ecn is 1 or the congestion
    /// control needs ECN (which also marks the socket's packets ECT).
    /// </summary>
    /// <remarks>Mirrors tcp_ecn_send_syn().</remarks>
    private static void TcpEcnSendSyn(TcpSock tp, SkBuff skb)
    {
        bool needsEcn = TcpCong.TcpCaNeedsEcn(tp);
        bool useEcn = tp.Net.Ipv4.Sysctl.TcpEcn == 1 || needsEcn;
        tp.EcnFlags = 0;
        if (!useEcn) return;
        skb.Cb.TcpFlags |= TcpFlags.ECE | TcpFlags.CWR;
        tp.EcnFlags = TcpSock.TcpEcnOk;
        if (needsEcn) InetEcn.InetEcnXmit(tp);
    }

    /// <summary>A retransmitted SYN goes without ECE|CWR (net.ipv4.tcp_ecn_fallback): a middlebox may drop them.</summary>
    /// <remarks>Mirrors tcp_ecn_clear_syn().</remarks>
    private static void TcpEcnClearSyn(TcpSock tp, SkBuff skb)
    {
        if (tp.Net.Ipv4.Sysctl.TcpEcnFallback) skb.Cb.TcpFlags &= unchecked((byte)~(TcpFlags.ECE | TcpFlags.CWR));
    }

    /// <summary>The SYN-ACK of a simultaneous open: ECE only if ECN is still on; never CWR.</summary>
    /// <remarks>Mirrors tcp_ecn_send_synack().</remarks>
    private static void TcpEcnSendSynack(TcpSock tp, SkBuff skb)
    {
        skb.Cb.TcpFlags &= unchecked((byte)~TcpFlags.CWR);
        if ((tp.EcnFlags & TcpSock.TcpEcnOk) == 0) skb.Cb.TcpFlags &= unchecked((byte)~TcpFlags.ECE);
        else if (TcpCong.TcpCaNeedsEcn(tp)) InetEcn.InetEcnXmit(tp);
    }

    // ---- pacing and rate sampling ----

    /// <summary>
    /// After a data segment left: with pacing on, the next departure time moves by len / pacing rate
    /// (less up to half of it as credit for lateness). The first 10 segments are not paced, as
    /// sch_fq does not pace them.
    /// </summary>
    /// <remarks>Mirrors tcp_update_skb_after_send().</remarks>
    private static void TcpUpdateSkbAfterSend(TcpSock tp, SkBuff skb, long priorWstamp)
    {
        if (tp.PacingStatus == SkPacingStatus.None) return;
        ulong rate = tp.PacingRate;
        if (rate == ulong.MaxValue || rate == 0 || tp.DataSegsOut < 10) return;
        long lenNs = (long)Math.Min((ulong)skb.Len * 1_000_000_000UL / rate, (ulong)long.MaxValue / 2);
        long credit = tp.TcpWstampNs - priorWstamp;
        // take into account OS jitter
        lenNs -= Math.Min(lenNs / 2, credit);
        tp.TcpWstampNs += lenNs;
    }

    /// <summary>Snapshots the delivery state in the segment, to build a rate sample when it is (S)ACKed.</summary>
    /// <remarks>Mirrors tcp_rate_skb_sent() (net/ipv4/tcp_rate.c).</remarks>
    private static void TcpRateSkbSent(TcpSock tp, SkBuff skb)
    {
        // With nothing in flight, any ACK from now on measures a delivery that started now.
        if (tp.PacketsOut == 0)
        {
            long tstampUs = skb.Cb.When / 1000;
            tp.FirstTxMstamp = tstampUs;
            tp.DeliveredMstamp = tstampUs;
        }
        ref var scb = ref skb.Cb;
        scb.TxFirstTxMstamp = tp.FirstTxMstamp;
        scb.TxDeliveredMstamp = tp.DeliveredMstamp;
        scb.TxDelivered = tp.Delivered;
        scb.TxDeliveredCe = tp.DeliveredCe;
        scb.TxIsAppLimited = tp.AppLimited != 0;
    }

    /// <remarks>Mirrors tcp_needs_internal_pacing(): pacing is asked for and no qdisc (fq) does it.</remarks>
    internal static bool TcpNeedsInternalPacing(TcpSock tp) => tp.PacingStatus == SkPacingStatus.Needed;

    /// <summary>
    /// With internal pacing, holds transmission until the departure time of the next packet: arms
    /// the pacing timer for it and returns true.
    /// </summary>
    /// <remarks>Mirrors tcp_pacing_check().</remarks>
    private static bool TcpPacingCheck(TcpSock tp)
    {
        if (!TcpNeedsInternalPacing(tp)) return false;
        if (tp.TcpWstampNs <= tp.Net.NowNs) return false;
        if (!tp.PacingTimer.Pending) tp.Net.Timers.ModTimer(tp.PacingTimer, tp.TcpWstampNs);
        return true;
    }

    /// <summary>The pacing timer fired: retransmit what is lost and send what the windows allow.</summary>
    /// <remarks>Mirrors tcp_pace_kick() -> tcp_tsq_handler() -> tcp_tsq_write().</remarks>
    internal static void TcpPaceKick(TcpSock tp)
    {
        if (!TcpStateF.Is(tp.State, TcpStateF.Established | TcpStateF.FinWait1 | TcpStateF.Closing | TcpStateF.CloseWait | TcpStateF.LastAck))
            return;
        if (tp.LostOut > tp.RetransOut && tp.SndCwnd > tp.PacketsInFlight) TcpXmitRetransmitQueue(tp);
        TcpWriteXmit(tp, TcpCurrentMss(tp), tp.Nonagle, 0);
    }

    /// <summary>Bookkeeping when an ACK leaves: the delayed ACK is no longer needed.</summary>
    /// <remarks>Mirrors tcp_event_ack_sent().</remarks>
    private static void TcpEventAckSent(TcpSock tp, uint rcvNxt)
    {
        if (rcvNxt != tp.RcvNxt) return;
        TcpInput.TcpDecQuickackMode(tp);
        tp.InetCskClearXmitTimer(InetConnectionSock.IcskTimeDack);
    }

    /// <summary>Data is leaving: congestion control learns of a restart; interactive sessions are detected.</summary>
    /// <remarks>Mirrors tcp_event_data_sent().</remarks>
    private static void TcpEventDataSent(TcpSock tp)
    {
        long nowNs = tp.TcpClockNs;
        uint now = (uint)(nowNs / Time.NsPerMs);
        if (tp.PacketsInFlight == 0) tp.CaOps.CwndEvent(tp, TcpCaEvent.TxStart);
        tp.LsndTimeMs = now;
        // A reply within ato of the last received packet: the session is interactive.
        if (nowNs - tp.IcskAck.Lrcvtime < tp.IcskAck.Ato) tp.InetCskEnterPingpongMode();
    }

    /// <summary>A new segment was sent: it moves to the retransmit queue and snd_nxt advances.</summary>
    /// <remarks>Mirrors tcp_event_new_data_sent().</remarks>
    private static void TcpEventNewDataSent(TcpSock tp, SkBuff skb)
    {
        uint priorPackets = tp.PacketsOut;
        tp.SndNxt = skb.Cb.EndSeq;
        tp.WriteQueue.Unlink(skb);
        tp.RtxQueue.EnqueueTail(skb);
        tp.PacketsOut++;
        if (priorPackets == 0 || tp.IcskPending == InetConnectionSock.IcskTimeLossProbe) TcpInput.TcpRearmRto(tp);
        if (skb.Len > 0) tp.Net.Mib.TcpExt[LinuxMib.TCPOrigDataSent]++;
    }

    /// <summary>Queues a buffer at the tail of the write queue, advancing write_seq (tcp_queue_skb / tcp_add_write_queue_tail).</summary>
    internal static void TcpQueueSkb(TcpSock tp, SkBuff skb)
    {
        tp.WriteSeq = skb.Cb.EndSeq;
        TcpWmemCharge(tp, skb);
        tp.WriteQueue.EnqueueTail(skb);
    }

    // ---- Nagle and the send test ----

    /// <summary>Room in cwnd for more segments.</summary>
    /// <remarks>Mirrors tcp_cwnd_test().</remarks>
    private static uint TcpCwndTest(TcpSock tp)
    {
        uint inFlight = tp.PacketsInFlight, cwnd = tp.SndCwnd;
        if (inFlight >= cwnd) return 0;
        return cwnd - inFlight;
    }

    /// <remarks>Mirrors tcp_snd_wnd_test(): the segment fits in the peer's window.</remarks>
    private static bool TcpSndWndTest(TcpSock tp, SkBuff skb, uint curMss)
    {
        uint endSeq = skb.Cb.EndSeq;
        if (skb.Len > curMss) endSeq = skb.Cb.Seq + curMss;
        return !SeqNumber.After(endSeq, tp.TcpWndEnd);
    }

    /// <remarks>Mirrors tcp_minshall_check(): a small segment is still unacknowledged.</remarks>
    private static bool TcpMinshallCheck(TcpSock tp) =>
        SeqNumber.After(tp.SndSml, tp.SndUna) && !SeqNumber.After(tp.SndSml, tp.SndNxt);

    /// <remarks>Mirrors tcp_minshall_update().</remarks>
    private static void TcpMinshallUpdate(TcpSock tp, uint mssNow, SkBuff skb)
    {
        if (skb.Len < mssNow) tp.SndSml = skb.Cb.EndSeq;
    }

    /// <summary>
    /// Nagle (RFC 896) with Minshall's refinement: hold a small segment while another small one is
    /// unacknowledged, unless TCP_NODELAY or a push says otherwise; TCP_CORK holds every partial one.
    /// </summary>
    /// <remarks>Mirrors tcp_nagle_test() / tcp_nagle_check().</remarks>
    private static bool TcpNagleTest(TcpSock tp, SkBuff skb, uint curMss, int nonagle)
    {
        if ((nonagle & TcpSock.TcpNaglePush) != 0) return true;
        // Nagle never holds urgent data (nor the final FIN).
        if (tp.TcpUrgMode || (skb.Cb.TcpFlags & TcpFlags.FIN) != 0) return true;
        bool partial = skb.Len < curMss;
        bool hold = partial && ((nonagle & TcpSock.TcpNagleCork) != 0 || (nonagle == 0 && tp.PacketsOut != 0 && TcpMinshallCheck(tp)));
        return !hold;
    }

    /// <summary>
    /// Sends what the windows allow from the write queue. Returns true when data is waiting but
    /// nothing is in flight (the caller then arms the zero-window probe).
    /// </summary>
    /// <remarks>Mirrors tcp_write_xmit().</remarks>
    /// <param name="tp">The socket.</param>
    /// <param name="mssNow">The current MSS (tcp_current_mss()).</param>
    /// <param name="nonagle">The Nagle mode: 0, or TCP_NAGLE_OFF / TCP_NAGLE_CORK / TCP_NAGLE_PUSH bits.</param>
    /// <param name="pushOne">0: as many as allowed; 1: one segment; 2: one segment as a loss probe (even beyond cwnd).</param>
    internal static bool TcpWriteXmit(TcpSock tp, uint mssNow, int nonagle, int pushOne)
    {
        uint sentPkts = 0;
        bool isCwndLimited = false, isRwndLimited = false;
        SkBuff? skb;
        // tcp_mstamp_refresh(): one clock read for the whole round (a fault in it aborts the socket,
        // so the flag is not restored by a finally).
        bool clockWasCached = tp.TcpClockCached;
        tp.TcpClockCache = tp.Net.NowNs;
        tp.TcpClockCached = true;
        if (pushOne == 0)
        {
            // Path MTU probing (RFC 4821): 0 holds everything back until cwnd or the window drains.
            int result = TcpMtuProbe(tp);
            if (result == 0) { tp.TcpClockCached = clockWasCached; return false; }
            if (result > 0) sentPkts = 1;
        }
        TcpOffload.TcpGsoBegin(tp, mssNow);
        while ((skb = tp.TcpSendHead) is not null)
        {
            if (TcpPacingCheck(tp)) break;
            uint cwndQuota = TcpCwndTest(tp);
            if (cwndQuota == 0)
            {
                if (pushOne == 2)
                {
                    cwndQuota = 1; // force out a loss probe
                }
                else
                {
                    isCwndLimited = true;
                    break;
                }
            }
            if (!TcpSndWndTest(tp, skb, mssNow))
            {
                isRwndLimited = true;
                break;
            }
            if (!TcpNagleTest(tp, skb, mssNow, skb == tp.WriteQueue.Last ? nonagle : TcpSock.TcpNaglePush))
                break;
            if (skb.Len > mssNow && TcpFragment(tp, tp.WriteQueue, skb, (int)mssNow) != 0) break;
            if (TcpTransmitSkb(tp, skb, true) != 0) break;
            TcpEventNewDataSent(tp, skb);
            TcpMinshallUpdate(tp, mssNow, skb);
            sentPkts++;
            if (pushOne != 0) break;
        }
        TcpOffload.TcpGsoFlush(tp);
        tp.TcpClockCached = clockWasCached;
        tp.GsoMss = 0;
        _ = isRwndLimited;
        if (sentPkts > 0)
        {
            if (TcpInput.TcpInCwndReduction(tp)) tp.PrrOut += sentPkts;
            // Send one loss probe per tail loss episode.
            if (pushOne != 2) TcpScheduleLossProbe(tp, false);
            TcpCwndValidate(tp, isCwndLimited);
            return false;
        }
        return tp.PacketsOut == 0 && tp.TcpSendHead is not null;
    }

    // ---- path MTU probing (RFC 4821) ----

    /// <summary>
    /// Once tcp_probe_interval has passed since the search last (re)started, opens the search
    /// again: from the MTU of the current MSS up to the one the peer's MSS allows.
    /// </summary>
    /// <remarks>Mirrors tcp_mtu_check_reprobe().</remarks>
    private static void TcpMtuCheckReprobe(TcpSock tp)
    {
        ref var mtup = ref tp.IcskMtup;
        long interval = Time.Sec(tp.Net.Ipv4.Sysctl.TcpProbeInterval);
        long delta = tp.Net.NowNs - mtup.ProbeTimestamp;
        if (delta >= interval)
        {
            int mss = (int)TcpCurrentMss(tp);
            mtup.ProbeSize = 0;
            mtup.SearchHigh = tp.RxOpt.MssClamp + TcpHeader.MinLength + tp.IcskAfOps.NetHeaderLen;
            mtup.SearchLow = TcpMssToMtu(tp, mss);
            mtup.ProbeTimestamp = tp.Net.NowNs;
        }
    }

    /// <summary>The first <paramref name="len"/> unsent bytes can be merged into one segment.</summary>
    /// <remarks>Mirrors tcp_can_coalesce_send_queue_head() (no MSG_EOR mark or TX timestamp here to stop it).</remarks>
    private static bool TcpCanCoalesceSendQueueHead(TcpSock tp, int len)
    {
        for (var skb = tp.TcpSendHead; skb is not null; skb = skb.Next)
        {
            if (len <= skb.Len) break;
            if (skb.Next is null) return false;
            len -= skb.Len;
        }
        return true;
    }

    /// <summary>
    /// Sends one segment the size of the middle of the path MTU search window
    /// [search_low, search_high], built from the head of the unsent data, when the search is on,
    /// the connection is in Open with cwnd at least 11, no SACK blocks are being reported, the
    /// window is still wider than tcp_probe_threshold, and enough data, receive window and cwnd
    /// are there for the probe and reordering + 1 segments after it. Returns 1 when a probe left,
    /// 0 when the caller should wait (window or cwnd to drain) and send nothing, -1 otherwise.
    /// </summary>
    /// <remarks>Mirrors tcp_mtu_probe().</remarks>
    private static int TcpMtuProbe(TcpSock tp)
    {
        ref var mtup = ref tp.IcskMtup;
        // Not probing already, not in recovery, enough cwnd, and no SACK blocks (variable headers throw the size off).
        if (!mtup.Enabled || mtup.ProbeSize != 0 || tp.CaState != TcpCaState.Open || tp.SndCwnd < 11 ||
            tp.RxOpt.NumSacks != 0 || tp.RxOpt.Dsack)
            return -1;
        // Binary search between search_low and search_high; below tcp_probe_threshold apart, stop.
        int probeSize = TcpMtuToMssOpts(tp, (mtup.SearchHigh + mtup.SearchLow) >> 1);
        long sizeNeeded = probeSize + (long)(tp.Reordering + 1) * tp.MssCache;
        int interval = mtup.SearchHigh - mtup.SearchLow;
        if (probeSize > TcpMtuToMssOpts(tp, mtup.SearchHigh) || interval < tp.Net.Ipv4.Sysctl.TcpProbeThreshold)
        {
            // Search over: is it time for another round?
            TcpMtuCheckReprobe(tp);
            return -1;
        }
        // Enough unsent data, and a window that takes it?
        if (tp.WriteSeq - tp.SndNxt < sizeNeeded) return -1;
        if (tp.SndWnd < sizeNeeded) return -1;
        if (SeqNumber.After(unchecked(tp.SndNxt + (uint)sizeNeeded), tp.TcpWndEnd)) return 0;
        // Wait for cwnd to drain, unless nothing is in flight (then there is nothing to wait for).
        if (tp.PacketsInFlight + 2 > tp.SndCwnd) return tp.PacketsInFlight == 0 ? -1 : 0;
        if (!TcpCanCoalesceSendQueueHead(tp, probeSize)) return -1;
        if (TcpPacingCheck(tp)) return -1;

        var nskb = TcpStreamAllocSkb(tp);
        if (nskb is null) return -1;
        // tcp_clone_payload(): the probe's bytes, from the head of the write queue.
        if (nskb.Tailroom < probeSize)
        {
            nskb.Free();
            return -1;
        }
        int len = 0;
        for (var src = tp.TcpSendHead; src is not null && len < probeSize; src = src.Next)
        {
            int n = Math.Min(src.Len, probeSize - len);
            src.CopyBits(0, nskb.Put(n));
            len += n;
        }
        var skb = tp.TcpSendHead!;
        nskb.Cb.Seq = skb.Cb.Seq;
        nskb.Cb.EndSeq = skb.Cb.Seq + (uint)probeSize;
        nskb.Cb.TcpFlags = TcpFlags.ACK;
        nskb.Cb.Sacked = 0;
        TcpWmemCharge(tp, nskb);
        tp.WriteQueue.EnqueueHead(nskb); // tcp_insert_write_queue_before()
        // The buffers it replaces: those eaten whole go (their flags move to the probe), the last is trimmed.
        len = 0;
        while (skb is not null)
        {
            var next = skb.Next;
            int copy = Math.Min(skb.Len, probeSize - len);
            if (skb.Len <= copy)
            {
                nskb.Cb.TcpFlags |= skb.Cb.TcpFlags;
                tp.WriteQueue.Unlink(skb);
                TcpWmemFreeSkb(tp, skb);
            }
            else
            {
                nskb.Cb.TcpFlags |= (byte)(skb.Cb.TcpFlags & ~(TcpFlags.FIN | TcpFlags.PSH));
                TcpTrimHead(tp, tp.WriteQueue, skb, copy);
            }
            len += copy;
            if (len >= probeSize) break;
            skb = next;
        }
        // Sent: count it as two packets' worth of cwnd; a failed send leaves the probe to be cut to
        // the MSS by the send loop.
        if (TcpTransmitSkb(tp, nskb, true) == 0)
        {
            tp.SndCwnd--;
            TcpEventNewDataSent(tp, nskb);
            mtup.ProbeSize = TcpMssToMtu(tp, nskb.Len);
            tp.MtuProbeSeqStart = nskb.Cb.Seq;
            tp.MtuProbeSeqEnd = nskb.Cb.EndSeq;
            return 1;
        }
        return -1;
    }

    /// <summary>Tracks whether the flow uses its cwnd (for growth decisions).</summary>
    /// <remarks>Mirrors tcp_cwnd_validate().</remarks>
    private static void TcpCwndValidate(TcpSock tp, bool isCwndLimited)
    {
        if (!SeqNumber.Before(tp.SndUna, tp.MaxPacketsSeq) || isCwndLimited || (!tp.IsCwndLimited && tp.PacketsOut > tp.MaxPacketsOut))
        {
            tp.IsCwndLimited = isCwndLimited;
            tp.MaxPacketsOut = tp.PacketsOut;
            tp.MaxPacketsSeq = tp.SndNxt;
        }
    }

    /// <summary>Sends pending data; arms the zero-window probe if it could not.</summary>
    /// <remarks>Mirrors __tcp_push_pending_frames().</remarks>
    internal static void TcpPushPendingFrames(TcpSock tp, uint curMss, int nonagle)
    {
        if (tp.State == TcpState.Close) return;
        if (TcpWriteXmit(tp, curMss, nonagle, 0)) TcpInput.TcpCheckProbeTimer(tp);
    }

    /// <remarks>Mirrors tcp_push_pending_frames().</remarks>
    internal static void TcpPushPendingFrames(TcpSock tp)
    {
        if (tp.TcpSendHead is not null) TcpPushPendingFrames(tp, TcpCurrentMss(tp), tp.Nonagle);
    }

    /// <remarks>Mirrors tcp_push_one(): send just the head.</remarks>
    internal static void TcpPushOne(TcpSock tp, uint mssNow)
    {
        if (tp.TcpSendHead is null) return;
        TcpWriteXmit(tp, mssNow, TcpSock.TcpNaglePush, 1);
    }

    /// <summary>
    /// Splits <paramref name="skb"/> so that it keeps <paramref name="len"/> bytes; the rest goes to
    /// a new buffer right after it in the same queue. FIN and PSH move to the second part.
    /// </summary>
    /// <remarks>Mirrors tcp_fragment().</remarks>
    internal static int TcpFragment(TcpSock tp, SkBuffQueue queue, SkBuff skb, int len)
    {
        int nsize = skb.Len - len;
        if (nsize <= 0) return 0;
        SkBuff? buff;
        if (skb.Frags is not null)
        {
            // Data in the socket's page: the second part shares it (skb_split()), nothing is copied.
            buff = TcpStreamAllocFragSkb(tp, true, 0);
            if (buff is null) return -Errno.ENOMEM;
            if (!skb.SplitFrags(buff, len))
            {
                buff.Free();
                return -Errno.ENOMEM;
            }
        }
        else
        {
            buff = TcpStreamAllocSkb(tp, true);
            if (buff is null) return -Errno.ENOMEM;
            skb.DataSpan[len..].CopyTo(buff.Put(nsize));
            skb.Trim(len);
        }
        queue.AdjustBytes(-nsize);
        TcpWmemCharge(tp, buff);
        uint nseq = skb.Cb.Seq + (uint)len;
        buff.Cb = skb.Cb;
        buff.Cb.Seq = nseq;
        skb.Cb.EndSeq = nseq;
        byte moved = (byte)(skb.Cb.TcpFlags & (TcpFlags.FIN | TcpFlags.PSH));
        skb.Cb.TcpFlags &= unchecked((byte)~(TcpFlags.FIN | TcpFlags.PSH));
        buff.Cb.TcpFlags = (byte)((buff.Cb.TcpFlags & ~(TcpFlags.FIN | TcpFlags.PSH)) | moved);
        queue.InsertAfter(skb, buff);
        if (queue == tp.RtxQueue)
        {
            // One more segment in flight, with the same marks as its twin.
            tp.PacketsOut++;
            if ((skb.Cb.Sacked & TcpSkbCbSacked.Lost) != 0) tp.LostOut++;
            if ((skb.Cb.Sacked & TcpSkbCbSacked.SackedRetrans) != 0) tp.RetransOut++;
            if ((skb.Cb.Sacked & TcpSkbCbSacked.SackedAcked) != 0) tp.SackedOut++;
        }
        return 0;
    }

    /// <summary>Drops <paramref name="len"/> acknowledged bytes from the head of a queued segment.</summary>
    /// <remarks>Mirrors tcp_trim_head().</remarks>
    internal static void TcpTrimHead(TcpSock tp, SkBuffQueue queue, SkBuff skb, int len)
    {
        if (skb.NrFrags != 0) skb.TrimHead(len);
        else skb.Pull(len);
        queue.AdjustBytes(-len);
        skb.Cb.Seq += (uint)len;
    }

    // ---- control segments ----

    /// <summary>Sends a bare ACK now.</summary>
    /// <remarks>Mirrors tcp_send_ack() -> __tcp_send_ack().</remarks>
    public static void TcpSendAck(TcpSock tp) => TcpSendAck(tp, tp.RcvNxt);

    internal static void TcpSendAck(TcpSock tp, uint rcvNxt)
    {
        if (tp.State == TcpState.Close) return;
        var buff = tp.Net.SkbPool.AllocWithHeadroom(SkBuffPool.MaxHeader);
        if (buff is null)
        {
            tp.InetCskScheduleAck();
            tp.IcskAck.Ato = TcpInput.TcpAtoMin;
            tp.InetCskResetXmitTimer(InetConnectionSock.IcskTimeDack, Time.Ms(tp.Net.Ipv4.Sysctl.TcpDelackMaxMs), TcpTimer.TcpRtoMax(tp.Net));
            return;
        }
        TcpInitNondataSkb(buff, TcpAcceptableSeq(tp), TcpFlags.ACK);
        TcpTransmitSkb(tp, buff, false, rcvNxt);
    }

    /// <summary>Schedules an ACK within the delayed-ACK timeout (ato), bounded by the RTT.</summary>
    /// <remarks>Mirrors tcp_send_delayed_ack().</remarks>
    public static void TcpSendDelayedAck(TcpSock tp)
    {
        var sys = tp.Net.Ipv4.Sysctl;
        long ato = tp.IcskAck.Ato;
        long delackMin = Time.Ms(sys.TcpDelackMinMs);
        if (ato > delackMin)
        {
            long maxAto = Time.Ms(500);
            if (tp.InetCskInPingpongMode || (tp.IcskAck.Pending & IcskAck.Pushed) != 0) maxAto = Time.Ms(sys.TcpDelackMaxMs);
            if (tp.SrttUs != 0)
            {
                long rtt = Math.Max((long)(tp.SrttUs >> 3) * 1000, delackMin);
                if (rtt < maxAto) maxAto = rtt;
            }
            ato = Math.Min(ato, maxAto);
        }
        ato = Math.Min(ato, Time.Ms(sys.TcpDelackMaxMs));
        long now = tp.TcpClockNs; // the segment's clock inside tcp_rcv_established() (the kernel reads jiffies here: no clock read)
        // jiffies + ato: the kernel's timer runs at the next tick at the earliest. A passive
        // connection that has received no data has ato 0 (tcp_event_data_recv() sets it), so the
        // ACK of its FIN waits for that tick, and an application that closes before it sends one
        // FIN-ACK instead of a bare ACK and then its FIN (7 frames per connect + close against 6).
        long timeout = Time.JiffiesTimeout(now, ato);
        if ((tp.IcskAck.Pending & IcskAck.Timer) != 0 && tp.DelackTimer.Pending)
        {
            // If the delayed-ACK timer is about to expire, send the ACK now.
            if (tp.IcskAck.Timeout <= now + (ato >> 2))
            {
                TcpSendAck(tp);
                return;
            }
            if (timeout >= tp.IcskAck.Timeout) timeout = tp.IcskAck.Timeout;
        }
        tp.IcskAck.Pending |= IcskAck.Sched | IcskAck.Timer;
        tp.IcskAck.Timeout = timeout;
        tp.Net.Timers.ModTimer(tp.DelackTimer, timeout);
    }

    /// <summary>The sequence number for a segment that carries no data: snd_nxt, or the window's end if the peer shrank it.</summary>
    /// <remarks>Mirrors tcp_acceptable_seq().</remarks>
    internal static uint TcpAcceptableSeq(TcpSock tp)
    {
        if (!SeqNumber.Before(tp.TcpWndEnd, tp.SndNxt) ||
            (tp.RxOpt.WscaleOk && unchecked(tp.SndNxt - tp.TcpWndEnd) < (1u << tp.RxOpt.RcvWscale)))
            return tp.SndNxt;
        return tp.TcpWndEnd;
    }

    /// <summary>Queues a FIN (on the last unsent segment if there is one) and pushes.</summary>
    /// <remarks>Mirrors tcp_send_fin().</remarks>
    public static void TcpSendFin(TcpSock tp)
    {
        var tail = tp.WriteQueue.Last;
        if (tail is not null)
        {
            tail.Cb.TcpFlags |= TcpFlags.FIN;
            tail.Cb.EndSeq++;
            tp.WriteSeq++;
        }
        else
        {
            var skb = TcpStreamAllocSkb(tp, true); // sk_forced_mem_schedule(): a FIN is never refused
            if (skb is null) return;
            TcpInitNondataSkb(skb, tp.WriteSeq, TcpFlags.ACK | TcpFlags.FIN);
            TcpQueueSkb(tp, skb);
        }
        TcpPushPendingFrames(tp, TcpCurrentMss(tp), TcpSock.TcpNagleOff);
    }

    /// <summary>Sends RST|ACK for an abort; never retransmitted.</summary>
    /// <remarks>Mirrors tcp_send_active_reset().</remarks>
    public static void TcpSendActiveReset(TcpSock tp)
    {
        tp.Net.Mib.Tcp[TcpMib.OutRsts]++;
        var skb = tp.Net.SkbPool.AllocWithHeadroom(SkBuffPool.MaxHeader);
        if (skb is null) return;
        TcpInitNondataSkb(skb, TcpAcceptableSeq(tp), TcpFlags.ACK | TcpFlags.RST);
        TcpTransmitSkb(tp, skb, false);
    }

    /// <summary>Simultaneous open: resend our SYN (still at the head of the retransmit queue) as a SYN-ACK.</summary>
    /// <remarks>Mirrors tcp_send_synack().</remarks>
    internal static int TcpSendSynack(TcpSock tp)
    {
        var skb = tp.RtxQueue.First;
        if (skb is null || (skb.Cb.TcpFlags & TcpFlags.SYN) == 0) return -Errno.EFAULT;
        skb.Cb.TcpFlags |= TcpFlags.ACK;
        TcpEcnSendSynack(tp, skb);
        return TcpTransmitSkb(tp, skb, true);
    }

    /// <summary>Sets up the connection for an active open: MSS, window, scale, sequence state.</summary>
    /// <remarks>Mirrors tcp_connect_init().</remarks>
    private static void TcpConnectInit(TcpSock tp)
    {
        var sys = tp.Net.Ipv4.Sysctl;
        // dst_mtu(dst): over IPv6 the path MTU a Packet Too Big left on the route (ip6_mtu()).
        int mtu = tp.Dst6 is { } rt6 ? Ipv6.Route6Pmtu.Ip6DstMtu(tp.Net, rt6, tp.SkcV6Daddr) : tp.Dst.Dev.Mtu;
        tp.TcpHeaderLen = TcpHeader.MinLength + (sys.TcpTimestamps ? TcpOpt.LenTstampAligned : 0);
        if (tp.RxOpt.UserMss != 0) tp.RxOpt.MssClamp = tp.RxOpt.UserMss;
        tp.MaxWindow = 0;
        TcpMtupInit(tp);
        TcpSyncMss(tp, mtu);
        tp.Advmss = TcpAdvmss(tp, mtu, tp.IcskAfOps.NetHeaderLen);
        TcpInput.TcpInitializeRcvMss(tp);
        if ((tp.UserLocks & Sock.SockRcvbufLock) != 0 && (tp.WindowClamp > TcpFullSpace(tp) || tp.WindowClamp == 0))
            tp.WindowClamp = (uint)TcpFullSpace(tp);
        TcpSelectInitialWindow(tp, TcpFullSpace(tp), tp.Advmss - (tp.RxOpt.TsRecentStamp != 0 ? tp.TcpHeaderLen - TcpHeader.MinLength : 0),
            out tp.RcvWnd, ref tp.WindowClamp, sys.TcpWindowScaling, out var rcvWscale);
        tp.RxOpt.RcvWscale = rcvWscale;
        tp.RcvSsthresh = tp.RcvWnd;
        tp.Err = 0;
        tp.ResetFlag(SockFlag.Done);
        tp.SndWnd = 0;
        TcpInput.TcpInitWl(tp, 0);
        Tcp.TcpWriteQueuePurge(tp);
        tp.SndUna = tp.WriteSeq;
        tp.SndSml = tp.WriteSeq;
        tp.SndUp = tp.WriteSeq;
        tp.SndNxt = tp.WriteSeq;
        tp.RcvNxt = 0;
        tp.RcvWup = tp.RcvNxt;
        tp.CopiedSeq = tp.RcvNxt;
        tp.IcskRto = TcpTimer.TcpTimeoutInit(tp.Net);
        tp.IcskRetransmits = 0;
        TcpInput.TcpClearRetrans(tp);
    }

    /// <summary>Builds and sends the SYN and arms its retransmission timer.</summary>
    /// <remarks>Mirrors tcp_connect().</remarks>
    public static int TcpConnect(TcpSock tp)
    {
        TcpConnectInit(tp);
        var buff = TcpStreamAllocSkb(tp, true);
        if (buff is null) return -Errno.ENOBUFS;
        TcpInitNondataSkb(buff, tp.WriteSeq, TcpFlags.SYN);
        TcpEcnSendSyn(tp, buff);
        tp.RetransStamp = tp.Net.NowNs;
        // tcp_connect_queue_skb(): the SYN takes a sequence number.
        tp.WriteSeq = buff.Cb.EndSeq;
        TcpWmemCharge(tp, buff);
        tp.PacketsOut++;
        tp.RtxQueue.EnqueueTail(buff);
        int err = tp.FastopenReq is not null ? TcpSendSynData(tp, buff) : TcpTransmitSkb(tp, buff, true);
        if (err == -Errno.ECONNREFUSED) return err;
        tp.SndNxt = tp.WriteSeq;
        tp.PushedSeq = tp.WriteSeq;
        // SYN data that could not be sent waits on the write queue.
        if (tp.WriteQueue.First is { } head)
        {
            tp.SndNxt = head.Cb.Seq;
            tp.PushedSeq = head.Cb.Seq;
        }
        tp.Net.Mib.Tcp[TcpMib.ActiveOpens]++;
        tp.InetCskResetXmitTimer(InetConnectionSock.IcskTimeRetrans, tp.IcskRto, TcpTimer.TcpRtoMax(tp.Net));
        return 0;
    }

    /// <summary>
    /// A Fast Open SYN: with a cookie (or none needed) the SYN carries as much of the data as one
    /// segment holds, sent as a copy; the data then stays on the retransmit queue as a segment of
    /// its own after the SYN, so a timeout resends only the bare SYN. Without a cookie: a plain
    /// SYN that asks for one.
    /// </summary>
    /// <remarks>Mirrors tcp_send_syn_data().</remarks>
    private static int TcpSendSynData(TcpSock tp, SkBuff syn)
    {
        var fo = tp.FastopenReq!;
        int err;
        // The server's MSS, if cached, else our own.
        tp.RxOpt.MssClamp = tp.Advmss;
        if (!TcpFastopen.TcpFastopenCookieCheck(tp, ref tp.RxOpt.MssClamp, ref fo.Cookie)) goto fallback;
        if (tp.RxOpt.UserMss != 0 && tp.RxOpt.UserMss < tp.RxOpt.MssClamp) tp.RxOpt.MssClamp = tp.RxOpt.UserMss; // tcp_mss_clamp()
        TcpSyncMss(tp, tp.IcskPmtuCookie);
        // Room for the largest option space a middlebox might add.
        int space = TcpMtuToMss(tp, tp.IcskPmtuCookie) - MaxTcpOptionSpace;
        space = Math.Min(space, fo.Size);
        if (fo.Data is not { } staged || space <= 0) goto fallback;
        var synData = TcpStreamAllocSkb(tp);
        if (synData is null) goto fallback;
        synData.Cb = syn.Cb;
        space = Math.Min(space, Math.Min(staged.Len, synData.Tailroom));
        staged.DataSpan[..space].CopyTo(synData.Put(space));
        if (space == fo.Size)
        {
            staged.Free();
            fo.Data = null; // nothing left for after the handshake
        }
        fo.Copied = space;
        // tcp_connect_queue_skb()
        synData.Cb.EndSeq += (uint)synData.Len;
        TcpWmemCharge(tp, synData);
        tp.WriteSeq = synData.Cb.EndSeq;
        tp.PacketsOut++;
        err = TcpTransmitSkb(tp, synData, true);
        syn.Cb.When = synData.Cb.When;
        // The copy with SYN and data went out; what is kept is the data alone, after the SYN.
        synData.Cb.Seq++;
        synData.Cb.TcpFlags = TcpFlags.ACK | TcpFlags.PSH;
        if (err == 0)
        {
            tp.SynData = fo.Copied > 0;
            tp.RtxQueue.EnqueueTail(synData);
            tp.Net.Mib.TcpExt[LinuxMib.TCPOrigDataSent]++;
            goto done;
        }
        // Not sent: the data waits on the write queue.
        tp.WriteQueue.EnqueueTail(synData);
        tp.WriteQueue.AdjustBytes(synData.Len);
        tp.PacketsOut--;

    fallback:
        // A plain SYN with the cookie request.
        if (fo.Cookie.Len > 0) fo.Cookie.Len = 0;
        err = TcpTransmitSkb(tp, syn, true);
        if (err != 0) tp.SynFastopen = false;
    done:
        fo.Cookie.Len = -1; // no Fast Open option on SYN retransmissions
        return err;
    }

    // ---- retransmission ----

    /// <summary>
    /// Retransmits one segment (trimming what was acknowledged meanwhile, splitting it to the
    /// current MSS). Returns 0, or an error when it could not be sent now.
    /// </summary>
    /// <remarks>Mirrors tcp_retransmit_skb(): __tcp_retransmit_skb() plus the retrans_out accounting.</remarks>
    public static int TcpRetransmitSkb(TcpSock tp, SkBuff skb)
    {
        int err = TcpRetransmitSkbCore(tp, skb);
        if (err != 0) return err;
        if ((skb.Cb.Sacked & TcpSkbCbSacked.SackedRetrans) == 0) tp.RetransOut++;
        skb.Cb.Sacked |= TcpSkbCbSacked.SackedRetrans;
        if (tp.RetransStamp == 0) tp.RetransStamp = skb.Cb.When;
        if (tp.UndoRetrans < 0) tp.UndoRetrans = 0;
        tp.UndoRetrans++;
        return 0;
    }

    /// <summary>Sends one segment again, without counting it in retrans_out (a loss probe uses this directly).</summary>
    /// <remarks>Mirrors __tcp_retransmit_skb().</remarks>
    private static int TcpRetransmitSkbCore(TcpSock tp, SkBuff skb)
    {
        if (SeqNumber.Before(skb.Cb.Seq, tp.SndUna))
        {
            if (!SeqNumber.Before(tp.SndUna, skb.Cb.EndSeq)) return -Errno.EINVAL;
            TcpTrimHead(tp, tp.RtxQueue, skb, (int)(tp.SndUna - skb.Cb.Seq));
        }
        uint curMss = TcpCurrentMss(tp);
        // Only retransmit what the window allows, except the head (needed to get the ACK clock going).
        if (!SeqNumber.Before(skb.Cb.Seq, tp.TcpWndEnd) && skb.Cb.Seq != tp.SndUna) return -Errno.EAGAIN;
        if (skb.Len > curMss && TcpFragment(tp, tp.RtxQueue, skb, (int)curMss) != 0) return -Errno.ENOMEM;
        const byte synEcn = TcpFlags.SYN | TcpFlags.ECE | TcpFlags.CWR;
        if ((skb.Cb.TcpFlags & synEcn) == synEcn) TcpEcnClearSyn(tp, skb);
        // A SYN that is still unacknowledged goes out as it was (SYN or, in SYN_RECV, SYN-ACK).
        int err = TcpTransmitSkb(tp, skb, true);
        if (err != 0) return err;
        var mib = tp.Net.Mib;
        mib.Tcp[TcpMib.RetransSegs]++;
        if ((skb.Cb.TcpFlags & TcpFlags.SYN) != 0) mib.TcpExt[LinuxMib.TCPSynRetrans]++;
        tp.TotalRetrans++;
        tp.BytesRetrans += (ulong)skb.Len;
        skb.Cb.Sacked |= TcpSkbCbSacked.EverRetrans;
        skb.Cb.TxCount++;
        TcpTracepoint.TraceTcpRetransmitSkb(tp, skb);
        return 0;
    }

    // ---- Tail Loss Probe (RFC 8985 7) ----

    /// <summary>
    /// Arms the loss probe timer instead of the RTO for a SACK connection in Open or CWR: the probe
    /// timeout is 2*SRTT, plus the minimum RTO as delayed-ACK allowance when one segment is in
    /// flight (else 2 ms), TCP_TIMEOUT_INIT without an RTT sample, and never later than the RTO.
    /// Returns whether it was armed.
    /// </summary>
    /// <remarks>Mirrors tcp_schedule_loss_probe().</remarks>
    internal static bool TcpScheduleLossProbe(TcpSock tp, bool advancingRto)
    {
        int earlyRetrans = tp.Net.Ipv4.Sysctl.TcpEarlyRetrans;
        if ((earlyRetrans != 3 && earlyRetrans != 4) || tp.PacketsOut == 0 || !tp.TcpIsSack ||
            (tp.CaState != TcpCaState.Open && tp.CaState != TcpCaState.Cwr))
            return false;
        long timeout;
        if (tp.SrttUs != 0)
        {
            long timeoutUs = tp.SrttUs >> 2;
            timeoutUs += tp.PacketsOut == 1 ? TcpTimer.TcpRtoMin(tp) / 1000 : TcpTimer.TcpTimeoutMin / 1000;
            timeout = timeoutUs * 1000;
        }
        else
        {
            timeout = TcpTimer.TcpTimeoutInit(tp.Net);
        }
        // If the RTO formula yields an earlier time, use that.
        long rtoDeltaUs = advancingRto ? tp.IcskRto / 1000 : TcpInput.TcpRtoDeltaUs(tp);
        if (rtoDeltaUs > 0) timeout = Math.Min(timeout, rtoDeltaUs * 1000);
        tp.InetCskResetXmitTimer(InetConnectionSock.IcskTimeLossProbe, timeout, TcpTimer.TcpRtoMax(tp.Net));
        return true;
    }

    /// <summary>
    /// The loss probe timer fired: send one new segment if the window allows, else retransmit the
    /// last segment, so that a tail loss is answered by SACKs (and repaired by fast recovery)
    /// rather than by an RTO. At most one probe is outstanding; then the RTO is re-armed.
    /// </summary>
    /// <remarks>Mirrors tcp_send_loss_probe().</remarks>
    public static void TcpSendLossProbe(TcpSock tp)
    {
        uint mss = TcpCurrentMss(tp);
        if (tp.TlpHighSeq != 0) goto rearmTimer; // at most one outstanding TLP
        tp.TlpRetrans = false;
        var skb = tp.TcpSendHead;
        if (skb is not null && TcpSndWndTest(tp, skb, mss))
        {
            uint pcount = tp.PacketsOut;
            TcpWriteXmit(tp, mss, TcpSock.TcpNagleOff, 2);
            if (tp.PacketsOut > pcount) goto probeSent;
            goto rearmTimer;
        }
        skb = tp.RtxQueue.Last;
        if (skb is null)
        {
            tp.IcskPending = 0;
            return;
        }
        if (TcpRetransmitSkbCore(tp, skb) != 0) goto rearmTimer;
        tp.TlpRetrans = true;
    probeSent:
        // Record snd_nxt for loss detection.
        tp.TlpHighSeq = tp.SndNxt;
        tp.Net.Mib.TcpExt[LinuxMib.TCPLossProbes]++;
        // So that tcp_rearm_rto restarts the timer from now.
        tp.IcskPending = 0;
    rearmTimer:
        TcpInput.TcpRearmRto(tp);
    }

    /// <summary>
    /// Retransmits segments marked lost, as far as cwnd allows (after a timeout or in fast recovery).
    /// </summary>
    /// <remarks>Mirrors tcp_xmit_retransmit_queue().</remarks>
    public static void TcpXmitRetransmitQueue(TcpSock tp)
    {
        if (tp.PacketsOut == 0) return;
        bool rearmTimer = false;
        var rtxHead = tp.RtxQueue.First;
        for (var skb = tp.RetransmitSkbHint ?? rtxHead; skb is not null; skb = skb.Next)
        {
            if (skb.List != tp.RtxQueue) { skb = rtxHead; if (skb is null) break; }
            if (tp.RetransOut >= tp.LostOut) break;
            if (TcpPacingCheck(tp)) break;
            byte sacked = skb.Cb.Sacked;
            tp.RetransmitSkbHint = skb;
            if (tp.PacketsInFlight >= tp.SndCwnd) break;
            if ((sacked & (TcpSkbCbSacked.SackedAcked | TcpSkbCbSacked.SackedRetrans)) != 0) continue;
            if ((sacked & TcpSkbCbSacked.Lost) == 0) continue;
            if (TcpRetransmitSkb(tp, skb) != 0) break;
            // Per segment, as the queue retransmits it: fast retransmits outside Loss, slow-start
            // retransmits after a timeout.
            tp.Net.Mib.TcpExt[tp.CaState != TcpCaState.Loss ? LinuxMib.TCPFastRetrans : LinuxMib.TCPSlowStartRetrans]++;
            if (TcpInput.TcpInCwndReduction(tp)) tp.PrrOut++;
            if (skb == rtxHead && tp.IcskPending != InetConnectionSock.IcskTimeReoTimeout) rearmTimer = true;
        }
        if (rearmTimer)
            tp.InetCskResetXmitTimer(InetConnectionSock.IcskTimeRetrans, tp.IcskRto, TcpTimer.TcpRtoMax(tp.Net));
    }

    /// <summary>
    /// In urgent mode, a segment starting before snd_up carries URG and the offset of snd_up; when
    /// snd_up is 64 KB or more ahead, 0xFFFF (as long as the segment is within 64 KB of snd_nxt).
    /// </summary>
    /// <remarks>Mirrors the urgent pointer part of __tcp_transmit_skb().</remarks>
    private static void TcpUrgWrite(TcpSock tp, TcpHeader th, uint seq)
    {
        if (!tp.TcpUrgMode || !SeqNumber.Before(seq, tp.SndUp)) return;
        if (SeqNumber.Before(tp.SndUp, seq + 0x10000))
        {
            th.UrgPtr = (ushort)(tp.SndUp - seq);
            th.Flags |= TcpFlags.URG;
        }
        else if (SeqNumber.After(seq + 0xFFFF, tp.SndNxt))
        {
            th.UrgPtr = 0xFFFF;
            th.Flags |= TcpFlags.URG;
        }
    }

    // ---- probes ----

    /// <summary>Sends a segment with an old sequence number so the peer answers with an ACK (window probe, keepalive).</summary>
    /// <remarks>Mirrors tcp_xmit_probe_skb().</remarks>
    private static int TcpXmitProbeSkb(TcpSock tp, bool urgent)
    {
        var skb = tp.Net.SkbPool.AllocWithHeadroom(SkBuffPool.MaxHeader);
        if (skb is null) return -1;
        TcpInitNondataSkb(skb, tp.SndUna - (urgent ? 0u : 1u), TcpFlags.ACK);
        return TcpTransmitSkb(tp, skb, false);
    }

    /// <summary>
    /// Probes a closed or too small window: sends as much of the next segment as the window takes,
    /// or an out-of-date ACK to elicit a window update. Also the keepalive probe.
    /// </summary>
    /// <remarks>Mirrors tcp_write_wakeup().</remarks>
    public static int TcpWriteWakeup(TcpSock tp)
    {
        if (tp.State == TcpState.Close) return -1;
        var skb = tp.TcpSendHead;
        if (skb is not null && SeqNumber.Before(skb.Cb.Seq, tp.TcpWndEnd))
        {
            uint mss = TcpCurrentMss(tp);
            uint segSize = tp.TcpWndEnd - skb.Cb.Seq;
            if (SeqNumber.Before(tp.PushedSeq, skb.Cb.EndSeq)) tp.PushedSeq = skb.Cb.EndSeq;
            if (segSize < skb.Cb.EndSeq - skb.Cb.Seq || skb.Len > mss)
            {
                segSize = Math.Min(segSize, mss);
                skb.Cb.TcpFlags |= TcpFlags.PSH;
                if (TcpFragment(tp, tp.WriteQueue, skb, (int)segSize) != 0) return -1;
            }
            skb.Cb.TcpFlags |= TcpFlags.PSH;
            int err = TcpTransmitSkb(tp, skb, true);
            if (err == 0) TcpEventNewDataSent(tp, skb);
            return err;
        }
        // An urgent pointer not yet acknowledged: a probe at snd_una carries it (RFC 793's urgent window probe).
        if (SeqNumber.Between(tp.SndUp, tp.SndUna + 1, tp.SndUna + 0xFFFF)) TcpXmitProbeSkb(tp, true);
        return TcpXmitProbeSkb(tp, false);
    }

    /// <summary>Sends a zero-window probe and re-arms the probe timer with backoff.</summary>
    /// <remarks>Mirrors tcp_send_probe0().</remarks>
    public static void TcpSendProbe0(TcpSock tp)
    {
        int err = TcpWriteWakeup(tp);
        if (tp.PacketsOut != 0 || tp.TcpSendHead is null)
        {
            tp.IcskProbesOut = 0;
            tp.IcskBackoff = 0;
            tp.IcskProbesTstamp = 0;
            return;
        }
        tp.IcskProbesOut++;
        long timeout;
        if (err <= 0)
        {
            if (tp.IcskBackoff < tp.Net.Ipv4.Sysctl.TcpRetries2) tp.IcskBackoff++;
            timeout = TcpTimer.TcpProbe0When(tp, TcpTimer.TcpRtoMax(tp.Net));
        }
        else
        {
            timeout = TcpResourceProbeInterval;
        }
        tp.InetCskResetXmitTimer(InetConnectionSock.IcskTimeProbe0, timeout, TcpTimer.TcpRtoMax(tp.Net));
    }
}

/// <summary>Bits of TCP_SKB_CB(skb)->sacked.</summary>
internal static class TcpSkbCbSacked
{
    public const byte SackedAcked = 0x01;   // TCPCB_SACKED_ACKED: SKB ACK'd by a SACK block
    public const byte SackedRetrans = 0x02; // TCPCB_SACKED_RETRANS: SKB retransmitted
    public const byte Lost = 0x04;          // TCPCB_LOST: SKB is lost
    public const byte TaggedBits = 0x07;
    public const byte EverRetrans = 0x80;   // TCPCB_EVER_RETRANS: ever retransmitted frame
    public const byte Retrans = SackedRetrans | EverRetrans;
}
