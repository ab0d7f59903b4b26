using NetStack.Core;
using NetStack.Wire;

namespace NetStack.Ipv4;

/// <summary>The options learned from the peer's segments (struct tcp_options_received).</summary>
internal struct TcpOptionsReceived
{
    /// <summary>ts_recent_stamp: when ts_recent was stored (ns).</summary>
    public long TsRecentStamp;
    /// <summary>ts_recent: the timestamp to echo next.</summary>
    public uint TsRecent;
    /// <summary>rcv_tsval / rcv_tsecr of the segment being processed.</summary>
    public uint RcvTsval, RcvTsecr;
    /// <summary>saw_tstamp: the segment being processed carried a timestamp.</summary>
    public bool SawTstamp;
    /// <summary>tstamp_ok: timestamps were negotiated.</summary>
    public bool TstampOk;
    /// <summary>sack_ok: SACK was negotiated.</summary>
    public bool SackOk;
    /// <summary>wscale_ok: window scaling was negotiated.</summary>
    public bool WscaleOk;
    /// <summary>snd_wscale: the peer's shift (applied to windows we receive); rcv_wscale: ours.</summary>
    public byte SndWscale, RcvWscale;
    /// <summary>num_sacks: SACK blocks we report (selective_acks).</summary>
    public int NumSacks;
    /// <summary>dsack: a D-SACK block is pending (duplicate_sack[0]).</summary>
    public bool Dsack;
    /// <summary>user_mss: TCP_MAXSEG; mss_clamp: the largest MSS allowed (the peer's MSS option, or user_mss).</summary>
    public ushort UserMss, MssClamp;
}

/// <summary>
/// A TCP connection (struct tcp_sock). The fields keep the kernel's names in PascalCase; sequence
/// numbers are plain uints compared with <see cref="SeqNumber.Before"/>/<see cref="SeqNumber.After"/>.
/// Times are nanoseconds of the namespace clock unless a name says Us or Ms.
/// <remarks>Mirrors include/linux/tcp.h: struct tcp_sock.</remarks>
/// </summary>
public sealed partial class TcpSock : InetConnectionSock
{
    // nonagle bits
    internal const int TcpNagleOff = 1, TcpNagleCork = 2, TcpNaglePush = 4;
    /// <summary>TCP_INIT_CWND.</summary>
    public const uint TcpInitCwnd = 10;
    /// <summary>TCP_MSS_DEFAULT (RFC 5681 / RFC 1122 default when the peer sends no MSS: 536).</summary>
    internal const int TcpMssDefault = 536;
    /// <summary>TCP_MIN_MSS.</summary>
    internal const int TcpMinMss = 88;
    /// <summary>MAX_TCP_WINDOW.</summary>
    internal const uint MaxTcpWindow = 32767;

    // ---- Receive side ----
    /// <summary>rcv_nxt: what we want to receive next.</summary>
    internal uint RcvNxt;
    /// <summary>copied_seq: head of yet unread data.</summary>
    internal uint CopiedSeq;
    /// <summary>rcv_wup: rcv_nxt at the time of the last window update sent.</summary>
    internal uint RcvWup;
    /// <summary>rcv_wnd: current receiver window (bytes).</summary>
    internal uint RcvWnd;
    /// <summary>rcv_ssthresh: current window clamp for growth.</summary>
    internal uint RcvSsthresh;
    /// <summary>window_clamp: maximal window to advertise.</summary>
    internal uint WindowClamp;
    /// <summary>rcv_tstamp: time of the last received ACK (for keepalives).</summary>
    internal long RcvTstamp;
    /// <summary>TCP_ACK_DEFERRED in sk_tsq_flags: an ACK waits for the end of the receive batch (TcpInput.TcpReleaseCb).</summary>
    internal bool AckDeferred;
    /// <summary>out_of_order_queue (an rbtree in Linux; a sorted list here).</summary>
    internal readonly SkBuffQueue OutOfOrderQueue = new();
    /// <summary>The last skb added to the out-of-order queue (ooo_last_skb).</summary>
    internal SkBuff? OooLastSkb;
    /// <summary>selective_acks[4]: the SACK blocks we report.</summary>
    internal readonly SackBlock[] SelectiveAcks = new SackBlock[TcpOpt.MaxSackBlocks];
    /// <summary>duplicate_sack[0]: the D-SACK block to report once.</summary>
    internal SackBlock DuplicateSack;
    /// <summary>rcvq_space: receive buffer auto-tuning state (bytes copied per RTT).</summary>
    internal int RcvqSpaceSpace;
    internal uint RcvqSpaceSeq;
    internal long RcvqSpaceTime;
    /// <summary>rcv_rtt_est: the receiver's RTT estimate (usec &lt;&lt; 3), from timestamps or per-window.</summary>
    internal uint RcvRttEstRttUs;
    internal uint RcvRttEstSeq;
    internal long RcvRttEstTime;

    // ---- Send side ----
    /// <summary>snd_una: first byte we want an ack for.</summary>
    internal uint SndUna;
    /// <summary>snd_nxt: next sequence we send.</summary>
    internal uint SndNxt;
    /// <summary>snd_sml: last byte of the most recently transmitted small packet (Minshall's Nagle).</summary>
    internal uint SndSml;
    /// <summary>
    /// The TSO super-frame tcp_write_xmit() is building (TcpOffload): the TCP header of its first
    /// segment and the payload of the segments after it, sent when the loop ends or a segment cannot
    /// join. Null outside tcp_write_xmit() and on a device without TSO.
    /// </summary>
    internal SkBuff? GsoSkb;
    /// <summary>
    /// sk->sk_frag: the page (a 64 KiB buffer of <see cref="NetNamespace.SkPagePool"/>) the socket
    /// copies send data into when its route takes super-frames; the socket holds one reference,
    /// each send-queue segment over it another. Dropped when the queues are purged.
    /// </summary>
    internal SkBuff? SkFragPage;
    /// <summary>The segment size of <see cref="GsoSkb"/> (tcp_write_xmit()'s mss_now); 0: no super-frame may be started.</summary>
    internal int GsoMss;
    /// <summary>The segments <see cref="GsoSkb"/> holds, and how many it may hold (tcp_tso_segs()).</summary>
    internal int GsoSegs, GsoGoal;
    /// <summary>snd_up: urgent pointer: the sequence just past the last urgent byte sent (MSG_OOB); equal to
    /// snd_una outside urgent mode.</summary>
    internal uint SndUp;
    /// <summary>snd_wl1: sequence for window update.</summary>
    internal uint SndWl1;
    /// <summary>snd_wnd: the window we expect to receive (the peer's advertised window, scaled).</summary>
    internal uint SndWnd;
    /// <summary>max_window: maximal window ever seen from the peer.</summary>
    internal uint MaxWindow;
    /// <summary>write_seq: tail(+1) of data held in the send buffer.</summary>
    internal uint WriteSeq;
    /// <summary>notsent_lowat (TCP_NOTSENT_LOWAT): the most unsent bytes with which the socket still polls writable; 0 for net.ipv4.tcp_notsent_lowat.</summary>
    internal uint NotsentLowat;
    /// <summary>recvmsg_inq (TCP_INQ): recvmsg reports the bytes left to read (TCP_CM_INQ).</summary>
    internal bool RecvmsgInq;
    /// <summary>save_syn (TCP_SAVE_SYN): 1 keeps the IP and TCP headers of the SYN a listener accepts, 2 from the link-layer header.</summary>
    internal byte SaveSyn;
    /// <summary>saved_syn: the headers of the SYN this connection was accepted from (read once by TCP_SAVED_SYN).</summary>
    internal byte[]? SavedSyn;
    /// <summary>pushed_seq: last pushed sequence.</summary>
    internal uint PushedSeq;
    /// <summary>mss_cache: cached effective MSS, not including SACKs.</summary>
    public uint MssCache;
    /// <summary>advmss: the MSS we advertise.</summary>
    internal ushort Advmss;
    /// <summary>tcp_header_len: bytes of TCP header to send (20, or 32 with timestamps).</summary>
    internal int TcpHeaderLen = TcpHeader.MinLength;
    /// <summary>lsndtime: time of the last data sent (ms, for restart after idle and CUBIC).</summary>
    public uint LsndTimeMs;
    /// <summary>nonagle: TCP_NODELAY (TCP_NAGLE_OFF), TCP_CORK (TCP_NAGLE_CORK), one-shot push.</summary>
    internal int Nonagle;
    /// <summary>The retransmit queue (tcp_rtx_queue, an rbtree in Linux): sent, not yet acknowledged.</summary>
    internal readonly SkBuffQueue RtxQueue = new();
    /// <summary>urg_data: the received urgent byte in the low 8 bits, with <see cref="TcpUrgValid"/>,
    /// <see cref="TcpUrgNotyet"/> or <see cref="TcpUrgRead"/>; 0 when no urgent pointer is pending.</summary>
    internal int UrgData;
    /// <summary>urg_seq: the sequence number of the urgent byte the peer last pointed at.</summary>
    internal uint UrgSeq;
    /// <summary>TCP_URG_VALID / TCP_URG_NOTYET / TCP_URG_READ (include/net/tcp.h).</summary>
    internal const int TcpUrgValid = 0x0100, TcpUrgNotyet = 0x0200, TcpUrgRead = 0x0400;
    /// <summary>snd_cwnd_stamp.</summary>
    internal long SndCwndStamp;

    // ---- RTT (RFC 6298) ----
    /// <summary>srtt_us: smoothed RTT &lt;&lt; 3, in usecs.</summary>
    public uint SrttUs;
    /// <summary>mdev_us: medium deviation (&lt;&lt; 2).</summary>
    internal uint MdevUs;
    /// <summary>mdev_max_us: maximal mdev for the last RTT period.</summary>
    internal uint MdevMaxUs;
    /// <summary>rttvar_us: smoothed mdev_max.</summary>
    internal uint RttvarUs;
    /// <summary>rtt_seq: sequence number to update rttvar.</summary>
    internal uint RttSeq;

    // ---- Congestion control ----
    /// <summary>snd_cwnd: the congestion window, in segments.</summary>
    public uint SndCwnd = TcpInitCwnd;
    /// <summary>snd_ssthresh: the slow-start threshold, in segments (infinite until the first loss).</summary>
    public uint SndSsthresh = TcpCong.InfiniteSsthresh;
    /// <summary>snd_cwnd_cnt: the linear-increase counter (ACKed segments toward the next cwnd increment).</summary>
    public uint SndCwndCnt;
    /// <summary>snd_cwnd_clamp: the ceiling snd_cwnd may never exceed.</summary>
    public uint SndCwndClamp = ~0u;
    /// <summary>prior_cwnd: snd_cwnd before entering recovery or loss (for undo and PRR).</summary>
    public uint PriorCwnd;
    /// <summary>prior_ssthresh: ssthresh saved before recovery or loss, restored when the loss proves spurious (undo).</summary>
    public uint PriorSsthresh;
    /// <summary>packets_out: segments in the retransmit queue ("in flight" before SACK/loss accounting).</summary>
    public uint PacketsOut;
    /// <summary>retrans_out: retransmitted packets out.</summary>
    internal uint RetransOut;
    /// <summary>sacked_out: SACKed packets (or duplicate ACKs counted, for Reno).</summary>
    internal uint SackedOut;
    /// <summary>lost_out: packets marked lost.</summary>
    internal uint LostOut;
    /// <summary>max_packets_out: max packets_out in the last window (for tcp_is_cwnd_limited).</summary>
    internal uint MaxPacketsOut;
    /// <summary>is_cwnd_limited: forward progress limited by snd_cwnd.</summary>
    public bool IsCwndLimited;
    /// <summary>high_seq: snd_nxt at the onset of congestion.</summary>
    internal uint HighSeq;
    /// <summary>retrans_stamp: time of the first retransmission of the head (ms), 0 if none.</summary>
    internal long RetransStamp;
    /// <summary>undo_marker: snd_una upon a new recovery episode; 0 when undo is not possible.</summary>
    internal uint UndoMarker;
    /// <summary>undo_retrans: number of undoable retransmissions.</summary>
    internal int UndoRetrans;
    internal bool UndoMarkerValid;
    /// <summary>total_retrans: retransmissions over the connection's life.</summary>
    internal uint TotalRetrans;
    /// <summary>reordering: packet reordering metric (the duplicate-ACK threshold).</summary>
    internal uint Reordering = 3;
    /// <summary>pred_flags: the header-prediction word (data offset, ACK, window, in host order) of the segment the fast path expects; 0 when off.</summary>
    internal uint PredFlags;
    /// <summary>mtu_probe.probe_seq_start / probe_seq_end: the sequence range of the path MTU probe in flight (tcp_mtu_probe()).</summary>
    internal uint MtuProbeSeqStart, MtuProbeSeqEnd;
    /// <summary>prr_delivered / prr_out: proportional rate reduction (RFC 6937).</summary>
    internal uint PrrDelivered, PrrOut;
    /// <summary>delivered: packets delivered over the life (incl. retransmits).</summary>
    public uint Delivered;
    /// <summary>retransmit_skb_hint / lost_skb_hint: where the retransmit scan resumes.</summary>
    internal SkBuff? RetransmitSkbHint;
    /// <summary>highest_sack: the skb just above the highest SACKed sequence (null: none).</summary>
    internal uint HighestSackSeq;
    internal bool HasHighestSack;

    // ---- RACK and TLP (RFC 8985) ----
    /// <summary>rack: the RACK state (struct tcp_rack).</summary>
    internal TcpRack Rack = TcpRack.Initial;
    /// <summary>dsack_dups: segments reported duplicate by D-SACKs.</summary>
    internal uint DsackDups;
    /// <summary>reord_seen: reordering events seen (SACK or cumulative ACK filling a never-retransmitted hole).</summary>
    internal uint ReordSeen;
    /// <summary>rtt_min: windowed minimum RTT filter (usec), tcp_min_rtt().</summary>
    internal WinMinmax RttMin;
    /// <summary>tlp_high_seq: snd_nxt at the time of the outstanding loss probe (0: none).</summary>
    internal uint TlpHighSeq;
    /// <summary>tlp_retrans: the outstanding probe was a retransmission (not new data).</summary>
    internal bool TlpRetrans;
    /// <summary>frto: F-RTO (RFC 5682) is judging the last retransmission timeout: the next ACKs tell
    /// whether it was spurious (never-retransmitted data (S)ACKed) or the loss was real.</summary>
    internal bool Frto;
    /// <summary>The rate sample of the ACK being processed (tcp_ack()'s struct rate_sample rs): filled as
    /// segments are (S)ACKed (tcp_rate_skb_delivered), completed by tcp_rate_gen().</summary>
    internal RateSample Rs;

    // ---- Delivery rate sampling (net/ipv4/tcp_rate.c) ----
    /// <summary>delivered_ce: packets delivered with an ECE echo (ECN congestion) over the life.</summary>
    public uint DeliveredCe;
    /// <summary>delivered_mstamp: when <see cref="Delivered"/> last changed (usec).</summary>
    internal long DeliveredMstamp;
    /// <summary>first_tx_mstamp: send time of the packet starting the current sampling window (usec).</summary>
    internal long FirstTxMstamp;
    /// <summary>app_limited: the delivered count up to which samples are application-limited (0: not limited).</summary>
    internal uint AppLimited;
    /// <summary>rate_delivered / rate_interval_us / rate_app_limited: the last rate sample worth reporting (tcpi_delivery_rate).</summary>
    internal uint RateDelivered, RateIntervalUs;
    internal bool RateAppLimited;
    /// <summary>lost: packets marked lost over the life (tcp_notify_skb_loss_event()).</summary>
    public uint Lost;

    // ---- Pacing (tcp_output.c) ----
    /// <summary>tcp_wstamp_ns: the earliest departure time of the next packet (ns).</summary>
    internal long TcpWstampNs;
    /// <summary>
    /// tcp_clock_cache: the clock read once per tcp_write_xmit() round and once per incoming ACK
    /// (tcp_mstamp_refresh()), so the segments of one burst, or those one ACK frees, share it
    /// instead of reading the clock several times each.
    /// Valid only while <see cref="TcpClockCached"/>; elsewhere the clock is read (<see cref="TcpClockNs"/>).
    /// </summary>
    internal long TcpClockCache;
    /// <summary>True inside tcp_write_xmit(), tcp_ack() and tcp_rcv_established() (<see cref="TcpMstampScope"/>), where <see cref="TcpClockCache"/> is the time.</summary>
    internal bool TcpClockCached;

    /// <summary>The time for the transmit and ACK paths: the cached clock inside tcp_write_xmit(), tcp_ack() and tcp_rcv_established(), else a fresh read.</summary>
    internal long TcpClockNs => TcpClockCached ? TcpClockCache : Net.NowNs;

    /// <summary>pacing_timer: releases the next packet when internal pacing held it (an hrtimer in Linux).</summary>
    internal TimerList PacingTimer = null!;

    // ---- ECN (RFC 3168) ----
    /// <summary>ecn_flags: TCP_ECN_OK, TCP_ECN_QUEUE_CWR, TCP_ECN_DEMAND_CWR, TCP_ECN_SEEN.</summary>
    internal byte EcnFlags;
    internal const byte TcpEcnOk = 1, TcpEcnQueueCwr = 2, TcpEcnDemandCwr = 4, TcpEcnSeen = 8;

    /// <summary>tcp_mstamp: the current time in usec (refreshed per packet and transmit round, as Linux does: <see cref="TcpClockNs"/>).</summary>
    internal long TcpMstamp => TcpClockNs / 1000;

    /// <summary>tcp_min_rtt(): the windowed minimum RTT in usec (~0u before the first sample).</summary>
    internal uint TcpMinRtt => RttMin.Get();

    // ---- Fast Open (RFC 7413) ----
    /// <summary>fastopen_req: the client's Fast Open connect in progress.</summary>
    internal TcpFastopenRequest? FastopenReq;
    /// <summary>fastopen_rsk: a Fast Open child's request, kept until the handshake ends.</summary>
    internal TcpRequestSock? FastopenRsk;
    /// <summary>A listener's own Fast Open keys (TCP_FASTOPEN_KEY on it; icsk_accept_queue.fastopenq.ctx).</summary>
    internal TcpFastopenContext? FastopenCtx;
    /// <summary>fastopen_connect (TCP_FASTOPEN_CONNECT), fastopen_no_cookie (TCP_FASTOPEN_NO_COOKIE), DEFER_CONNECT.</summary>
    internal bool FastopenConnect, FastopenNoCookie, DeferConnect;
    /// <summary>syn_fastopen (the SYN carried a Fast Open option), syn_fastopen_exp (the experimental one), syn_data (and data), syn_data_acked.</summary>
    internal bool SynFastopen, SynFastopenExp, SynData, SynDataAcked;
    /// <summary>fastopen_client_fail: why the last Fast Open connect fell back (TFO_*).</summary>
    internal byte FastopenClientFail;

    // ---- Options, timers, misc ----
    internal TcpOptionsReceived RxOpt;
    /// <summary>tsoffset: the random offset added to our timestamps.</summary>
    internal uint TsOffset;
    /// <summary>keepalive_time / _intvl / _probes set by TCP_KEEPIDLE/INTVL/CNT (0 = sysctl).</summary>
    internal int KeepaliveTimeMs, KeepaliveIntvlMs, KeepaliveProbes;
    /// <summary>linger2: TCP_LINGER2 (ms); 0 = sysctl tcp_fin_timeout, negative = reset FIN_WAIT_2 at once.</summary>
    internal int Linger2Ms;
    /// <summary>last_oow_ack_time: rate limit for ACKs answering out-of-window segments.</summary>
    internal long LastOowAckTime;
    /// <summary>bytes_acked / bytes_received / segs_in / segs_out / data_segs_out (RFC 4898 tcpEStats).</summary>
    internal ulong BytesAcked, BytesReceived, BytesSent, BytesRetrans;
    internal uint SegsIn, SegsOut, DataSegsIn, DataSegsOut;
    /// <summary>rcv_ooopack: out-of-order segments received (queued to the out-of-order queue).</summary>
    internal uint RcvOoopack;
    /// <summary>total_rto / total_rto_recoveries: retransmission timeouts, and RTO recovery episodes (the first timeout of each).</summary>
    internal uint TotalRto, TotalRtoRecoveries;
    /// <summary>
    /// The timestamp clock of this connection: ms since the namespace clock's zero, plus tsoffset.
    /// From <see cref="TcpClockNs"/>: the kernel takes TSval from the segment's departure stamp
    /// (tcp_skb_timestamp_ts()), the cached tcp_clock_cache, not a clock read per segment.
    /// </summary>
    internal uint TcpTimeStampTs => unchecked((uint)(TcpClockNs / 1_000_000) + TsOffset);

    /// <summary>scaling_ratio: the usable fraction (of 256) of receive-buffer memory, learned from len/truesize.</summary>
    internal int ScalingRatio = 128;
    /// <summary>max_packets_seq: snd_nxt when max_packets_out was last set.</summary>
    internal uint MaxPacketsSeq;
    /// <summary>The SACK blocks of the segment being processed (TCP_SKB_CB(skb)->sacked in Linux points at them).</summary>
    internal TcpSackBlocks RcvSack;
    /// <summary>The raw timestamp clock (ms, no offset): tcp_clock_ms() / tcp_time_stamp_ts().</summary>
    internal uint TcpClockMs => unchecked((uint)(TcpClockNs / 1_000_000));

    // ---- Accept queue membership (a child waiting to be accepted) ----
    /// <summary>The listener whose accept queue holds this child (null once accepted).</summary>
    internal TcpSock? Parent;

    /// <summary>In-flight estimate (tcp_packets_in_flight): packets_out - left_out + retrans_out.</summary>
    /// <remarks>Mirrors tcp_packets_in_flight().</remarks>
    internal uint PacketsInFlight => PacketsOut - (SackedOut + LostOut) + RetransOut;

    /// <remarks>Mirrors tcp_left_out().</remarks>
    internal uint LeftOut => SackedOut + LostOut;

    /// <summary>Whether the connection is in slow start (snd_cwnd below snd_ssthresh).</summary>
    /// <remarks>Mirrors tcp_in_slow_start().</remarks>
    public bool TcpInSlowStart => SndCwnd < SndSsthresh;

    /// <remarks>Mirrors tcp_is_sack() / tcp_is_reno().</remarks>
    internal bool TcpIsSack => RxOpt.SackOk;

    /// <summary>Whether the congestion window limited the sender (so growing it is useful); in slow start, while cwnd is below twice the most ever in flight.</summary>
    /// <remarks>Mirrors tcp_is_cwnd_limited().</remarks>
    public bool TcpIsCwndLimited()
    {
        if (IsCwndLimited) return true;
        if (TcpInSlowStart) return SndCwnd < 2 * MaxPacketsOut;
        return false;
    }

    /// <summary>Whether urgent data sent is not yet acknowledged (tcp_urg_mode): snd_una != snd_up.</summary>
    /// <remarks>Mirrors tcp_urg_mode().</remarks>
    internal bool TcpUrgMode => SndUna != SndUp;

    /// <summary>The end of the send window (tcp_wnd_end): snd_una + snd_wnd.</summary>
    internal uint TcpWndEnd => unchecked(SndUna + SndWnd);

    /// <summary>The receive window still open to the peer (tcp_receive_window).</summary>
    /// <remarks>Mirrors tcp_receive_window(): rcv_wup + rcv_wnd - rcv_nxt, never negative.</remarks>
    internal uint TcpReceiveWindow
    {
        get
        {
            int win = unchecked((int)(RcvWup + RcvWnd - RcvNxt));
            return win < 0 ? 0u : (uint)win;
        }
    }

    /// <summary>The first unsent buffer (tcp_send_head).</summary>
    internal SkBuff? TcpSendHead => WriteQueue.First;

    /// <summary>Bytes queued but not yet read by the application (tcp_inq); with an out-of-band urgent
    /// byte received ahead, only the bytes before it (what the next read returns).</summary>
    /// <remarks>Mirrors tcp_inq(): rcv_nxt - copied_seq, not counting a FIN; urg_seq - copied_seq before a pending mark.</remarks>
    internal int TcpInq
    {
        get
        {
            int answ;
            if (HasFlag(SockFlag.UrgInline) || UrgData == 0 || SeqNumber.Before(UrgSeq, CopiedSeq) || !SeqNumber.Before(UrgSeq, RcvNxt))
            {
                answ = unchecked((int)(RcvNxt - CopiedSeq));
                if (answ > 0 && HasFlag(SockFlag.Done)) answ--;
            }
            else
            {
                answ = unchecked((int)(UrgSeq - CopiedSeq));
            }
            return Math.Max(0, answ);
        }
    }

    /// <summary>
    /// Send-buffer space was freed: wakes writers once the buffer is writeable by TCP's measure
    /// (free space at least half the queued bytes), which is what a blocked send waits for; the
    /// generic test on sk_wmem_alloc would leave it asleep while queued data awaits its ACK.
    /// </summary>
    /// <remarks>Mirrors net/core/stream.c: sk_stream_write_space() (tcp_init_sock sets it as sk_write_space).</remarks>
    public override void WriteSpace()
    {
        if (Tcp.SkStreamIsWriteable(this) && Socket is not null) WakeWriters();
    }

    /// <summary>A debugging description: state, endpoints, snd_una, snd_nxt, rcv_nxt and cwnd.</summary>
    public override string ToString() =>
        $"TCP {State} {Ipv4Address.Format(InetRcvSaddr)}:{InetNum} -> {Ipv4Address.Format(InetDaddr)}:{InetDport} una {SndUna} nxt {SndNxt} rcv {RcvNxt} cwnd {SndCwnd}";
}

/// <summary>
/// tcp_mstamp_refresh() for the extent of a <c>using</c>: the clock is read once into
/// <see cref="TcpSock.TcpClockCache"/> unless an enclosing scope already did (tcp_ack() inside
/// tcp_rcv_established()), and the enclosing state is restored on leaving. A ref struct: no allocation.
/// </summary>
internal readonly ref struct TcpMstampScope
{
    private readonly TcpSock _tp;
    private readonly bool _wasCached;

    public TcpMstampScope(TcpSock tp)
    {
        _tp = tp;
        _wasCached = tp.TcpClockCached;
        if (_wasCached) return;
        tp.TcpClockCache = tp.Net.NowNs;
        tp.TcpClockCached = true;
    }

    public void Dispose() => _tp.TcpClockCached = _wasCached;
}
