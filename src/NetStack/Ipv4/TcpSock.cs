using NetStack.Core;
using NetStack.Wire;

namespace NetStack.Ipv4;

/// <summary>The options learned from the peer's segments (struct tcp_options_received).</summary>
public struct TcpOptionsReceived
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
public sealed class TcpSock : InetConnectionSock
{
    // nonagle bits
    public const int TcpNagleOff = 1, TcpNagleCork = 2, TcpNaglePush = 4;
    /// <summary>TCP_INIT_CWND.</summary>
    public const uint TcpInitCwnd = 10;
    /// <summary>TCP_MSS_DEFAULT (RFC 5681 / RFC 1122 default when the peer sends no MSS: 536).</summary>
    public const int TcpMssDefault = 536;
    /// <summary>TCP_MIN_MSS.</summary>
    public const int TcpMinMss = 88;
    /// <summary>MAX_TCP_WINDOW.</summary>
    public const uint MaxTcpWindow = 32767;

    // ---- Receive side ----
    /// <summary>rcv_nxt: what we want to receive next.</summary>
    public uint RcvNxt;
    /// <summary>copied_seq: head of yet unread data.</summary>
    public uint CopiedSeq;
    /// <summary>rcv_wup: rcv_nxt at the time of the last window update sent.</summary>
    public uint RcvWup;
    /// <summary>rcv_wnd: current receiver window (bytes).</summary>
    public uint RcvWnd;
    /// <summary>rcv_ssthresh: current window clamp for growth.</summary>
    public uint RcvSsthresh;
    /// <summary>window_clamp: maximal window to advertise.</summary>
    public uint WindowClamp;
    /// <summary>rcv_tstamp: time of the last received ACK (for keepalives).</summary>
    public long RcvTstamp;
    /// <summary>out_of_order_queue (an rbtree in Linux; a sorted list here).</summary>
    public readonly SkBuffQueue OutOfOrderQueue = new();
    /// <summary>The last skb added to the out-of-order queue (ooo_last_skb).</summary>
    public SkBuff? OooLastSkb;
    /// <summary>selective_acks[4]: the SACK blocks we report.</summary>
    public readonly SackBlock[] SelectiveAcks = new SackBlock[TcpOpt.MaxSackBlocks];
    /// <summary>duplicate_sack[0]: the D-SACK block to report once.</summary>
    public SackBlock DuplicateSack;
    /// <summary>rcvq_space: receive buffer auto-tuning state (bytes copied per RTT).</summary>
    public int RcvqSpaceSpace;
    public uint RcvqSpaceSeq;
    public long RcvqSpaceTime;
    /// <summary>rcv_rtt_est: the receiver's RTT estimate (usec &lt;&lt; 3), from timestamps or per-window.</summary>
    public uint RcvRttEstRttUs;
    public uint RcvRttEstSeq;
    public long RcvRttEstTime;

    // ---- Send side ----
    /// <summary>snd_una: first byte we want an ack for.</summary>
    public uint SndUna;
    /// <summary>snd_nxt: next sequence we send.</summary>
    public uint SndNxt;
    /// <summary>snd_sml: last byte of the most recently transmitted small packet (Minshall's Nagle).</summary>
    public uint SndSml;
    /// <summary>snd_up: urgent pointer (not implemented beyond bookkeeping).</summary>
    public uint SndUp;
    /// <summary>snd_wl1: sequence for window update.</summary>
    public uint SndWl1;
    /// <summary>snd_wnd: the window we expect to receive (the peer's advertised window, scaled).</summary>
    public uint SndWnd;
    /// <summary>max_window: maximal window ever seen from the peer.</summary>
    public uint MaxWindow;
    /// <summary>write_seq: tail(+1) of data held in the send buffer.</summary>
    public uint WriteSeq;
    /// <summary>pushed_seq: last pushed sequence.</summary>
    public uint PushedSeq;
    /// <summary>mss_cache: cached effective MSS, not including SACKs.</summary>
    public uint MssCache;
    /// <summary>advmss: the MSS we advertise.</summary>
    public ushort Advmss;
    /// <summary>tcp_header_len: bytes of TCP header to send (20, or 32 with timestamps).</summary>
    public int TcpHeaderLen = TcpHeader.MinLength;
    /// <summary>lsndtime: time of the last data sent (ms, for restart after idle and CUBIC).</summary>
    public uint LsndTimeMs;
    /// <summary>nonagle: TCP_NODELAY (TCP_NAGLE_OFF), TCP_CORK (TCP_NAGLE_CORK), one-shot push.</summary>
    public int Nonagle;
    /// <summary>The retransmit queue (tcp_rtx_queue, an rbtree in Linux): sent, not yet acknowledged.</summary>
    public readonly SkBuffQueue RtxQueue = new();
    /// <summary>urg_data.</summary>
    public int UrgData;
    /// <summary>snd_cwnd_stamp.</summary>
    public long SndCwndStamp;

    // ---- RTT (RFC 6298) ----
    /// <summary>srtt_us: smoothed RTT &lt;&lt; 3, in usecs.</summary>
    public uint SrttUs;
    /// <summary>mdev_us: medium deviation (&lt;&lt; 2).</summary>
    public uint MdevUs;
    /// <summary>mdev_max_us: maximal mdev for the last RTT period.</summary>
    public uint MdevMaxUs;
    /// <summary>rttvar_us: smoothed mdev_max.</summary>
    public uint RttvarUs;
    /// <summary>rtt_seq: sequence number to update rttvar.</summary>
    public uint RttSeq;

    // ---- Congestion control ----
    public uint SndCwnd = TcpInitCwnd;
    public uint SndSsthresh = TcpCong.InfiniteSsthresh;
    public uint SndCwndCnt;
    public uint SndCwndClamp = ~0u;
    public uint PriorCwnd;
    public uint PriorSsthresh;
    /// <summary>packets_out: segments in the retransmit queue ("in flight" before SACK/loss accounting).</summary>
    public uint PacketsOut;
    /// <summary>retrans_out: retransmitted packets out.</summary>
    public uint RetransOut;
    /// <summary>sacked_out: SACKed packets (or duplicate ACKs counted, for Reno).</summary>
    public uint SackedOut;
    /// <summary>lost_out: packets marked lost.</summary>
    public uint LostOut;
    /// <summary>max_packets_out: max packets_out in the last window (for tcp_is_cwnd_limited).</summary>
    public uint MaxPacketsOut;
    /// <summary>is_cwnd_limited: forward progress limited by snd_cwnd.</summary>
    public bool IsCwndLimited;
    /// <summary>high_seq: snd_nxt at the onset of congestion.</summary>
    public uint HighSeq;
    /// <summary>retrans_stamp: time of the first retransmission of the head (ms), 0 if none.</summary>
    public long RetransStamp;
    /// <summary>undo_marker: snd_una upon a new recovery episode; 0 when undo is not possible.</summary>
    public uint UndoMarker;
    /// <summary>undo_retrans: number of undoable retransmissions.</summary>
    public int UndoRetrans;
    public bool UndoMarkerValid;
    /// <summary>total_retrans: retransmissions over the connection's life.</summary>
    public uint TotalRetrans;
    /// <summary>reordering: packet reordering metric (the duplicate-ACK threshold).</summary>
    public uint Reordering = 3;
    /// <summary>prr_delivered / prr_out: proportional rate reduction (RFC 6937).</summary>
    public uint PrrDelivered, PrrOut;
    /// <summary>delivered: packets delivered over the life (incl. retransmits).</summary>
    public uint Delivered;
    /// <summary>retransmit_skb_hint / lost_skb_hint: where the retransmit scan resumes.</summary>
    public SkBuff? RetransmitSkbHint;
    /// <summary>highest_sack: the skb just above the highest SACKed sequence (null: none).</summary>
    public uint HighestSackSeq;
    public bool HasHighestSack;

    // ---- RACK and TLP (RFC 8985) ----
    /// <summary>rack: the RACK state (struct tcp_rack).</summary>
    public TcpRack Rack = TcpRack.Initial;
    /// <summary>dsack_dups: segments reported duplicate by D-SACKs.</summary>
    public uint DsackDups;
    /// <summary>reord_seen: reordering events seen (SACK or cumulative ACK filling a never-retransmitted hole).</summary>
    public uint ReordSeen;
    /// <summary>rtt_min: windowed minimum RTT filter (usec), tcp_min_rtt().</summary>
    public WinMinmax RttMin;
    /// <summary>tlp_high_seq: snd_nxt at the time of the outstanding loss probe (0: none).</summary>
    public uint TlpHighSeq;
    /// <summary>tlp_retrans: the outstanding probe was a retransmission (not new data).</summary>
    public bool TlpRetrans;
    /// <summary>The rate sample's prior_delivered for the ACK being processed (rs->prior_delivered): the
    /// tx.delivered of the most recently sent segment this ACK (S)ACKed; 0 when none.</summary>
    internal uint RsPriorDelivered;
    internal long RsPriorMstamp;

    /// <summary>tcp_min_rtt(): the windowed minimum RTT in usec (~0u before the first sample).</summary>
    public uint TcpMinRtt => RttMin.Get();

    // ---- Options, timers, misc ----
    public TcpOptionsReceived RxOpt;
    /// <summary>tsoffset: the random offset added to our timestamps.</summary>
    public uint TsOffset;
    /// <summary>keepalive_time / _intvl / _probes set by TCP_KEEPIDLE/INTVL/CNT (0 = sysctl).</summary>
    public int KeepaliveTimeMs, KeepaliveIntvlMs, KeepaliveProbes;
    /// <summary>linger2: TCP_LINGER2 (ms); 0 = sysctl tcp_fin_timeout, negative = reset FIN_WAIT_2 at once.</summary>
    public int Linger2Ms;
    /// <summary>last_oow_ack_time: rate limit for ACKs answering out-of-window segments.</summary>
    public long LastOowAckTime;
    /// <summary>bytes_acked / bytes_received / segs_in / segs_out / data_segs_out (RFC 4898 tcpEStats).</summary>
    public ulong BytesAcked, BytesReceived, BytesSent, BytesRetrans;
    public uint SegsIn, SegsOut, DataSegsIn, DataSegsOut;
    /// <summary>The timestamp clock of this connection: ms since the namespace clock's zero, plus tsoffset.</summary>
    public uint TcpTimeStampTs => unchecked((uint)(Net.NowNs / 1_000_000) + TsOffset);

    /// <summary>scaling_ratio: the usable fraction (of 256) of receive-buffer memory, learned from len/truesize.</summary>
    public int ScalingRatio = 128;
    /// <summary>max_packets_seq: snd_nxt when max_packets_out was last set.</summary>
    public uint MaxPacketsSeq;
    /// <summary>The SACK blocks of the segment being processed (TCP_SKB_CB(skb)->sacked in Linux points at them).</summary>
    public TcpSackBlocks RcvSack;
    /// <summary>The raw timestamp clock (ms, no offset): tcp_clock_ms() / tcp_time_stamp_ts().</summary>
    public uint TcpClockMs => unchecked((uint)(Net.NowNs / 1_000_000));

    // ---- Accept queue membership (a child waiting to be accepted) ----
    /// <summary>The listener whose accept queue holds this child (null once accepted).</summary>
    internal TcpSock? Parent;

    /// <summary>In-flight estimate (tcp_packets_in_flight): packets_out - left_out + retrans_out.</summary>
    /// <remarks>Mirrors tcp_packets_in_flight().</remarks>
    public uint PacketsInFlight => PacketsOut - (SackedOut + LostOut) + RetransOut;

    /// <remarks>Mirrors tcp_left_out().</remarks>
    public uint LeftOut => SackedOut + LostOut;

    /// <remarks>Mirrors tcp_in_slow_start().</remarks>
    public bool TcpInSlowStart => SndCwnd < SndSsthresh;

    /// <remarks>Mirrors tcp_is_sack() / tcp_is_reno().</remarks>
    public bool TcpIsSack => RxOpt.SackOk;

    /// <remarks>Mirrors tcp_is_cwnd_limited().</remarks>
    public bool TcpIsCwndLimited()
    {
        if (IsCwndLimited) return true;
        if (TcpInSlowStart) return SndCwnd < 2 * MaxPacketsOut;
        return false;
    }

    /// <summary>The end of the send window (tcp_wnd_end): snd_una + snd_wnd.</summary>
    public uint TcpWndEnd => unchecked(SndUna + SndWnd);

    /// <summary>The receive window still open to the peer (tcp_receive_window).</summary>
    /// <remarks>Mirrors tcp_receive_window(): rcv_wup + rcv_wnd - rcv_nxt, never negative.</remarks>
    public uint TcpReceiveWindow
    {
        get
        {
            int win = unchecked((int)(RcvWup + RcvWnd - RcvNxt));
            return win < 0 ? 0u : (uint)win;
        }
    }

    /// <summary>The first unsent buffer (tcp_send_head).</summary>
    public SkBuff? TcpSendHead => WriteQueue.First;

    /// <summary>Bytes queued but not yet read by the application (tcp_inq).</summary>
    /// <remarks>Mirrors tcp_inq(): rcv_nxt - copied_seq, not counting a FIN.</remarks>
    public int TcpInq
    {
        get
        {
            int answ = unchecked((int)(RcvNxt - CopiedSeq));
            if (answ > 0 && HasFlag(SockFlag.Done)) answ--;
            return Math.Max(0, answ);
        }
    }

    public override string ToString() =>
        $"TCP {State} {Ipv4Address.Format(InetRcvSaddr)}:{InetNum} -> {Ipv4Address.Format(InetDaddr)}:{InetDport} una {SndUna} nxt {SndNxt} rcv {RcvNxt} cwnd {SndCwnd}";
}
