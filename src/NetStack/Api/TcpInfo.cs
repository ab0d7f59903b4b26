using System.Buffers.Binary;
using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Uapi;

namespace NetStack.Api;

/// <summary>
/// A TCP connection's state and counters as getsockopt(IPPROTO_TCP, TCP_INFO) reports them (Linux's
/// struct tcp_info, what `ss -ti` prints), plus the congestion control's name (TCP_CONGESTION).
/// Durations are <see cref="TimeSpan"/>s made from the struct's microsecond and millisecond fields
/// (exact: a tick is 0.1 µs); counters keep the struct's widths. A field Linux fills and the stack
/// keeps no state for is 0 (busy/rwnd/sndbuf-limited times, rehash, total_rto_time, the Accurate ECN
/// counters).
/// <see cref="Raw"/> holds the struct's bytes in Linux's layout.
/// </summary>
public readonly record struct TcpInfo
{
    /// <summary>sizeof(struct tcp_info) (Linux 6.18: 280 bytes, the Accurate ECN counters after 6.7's 248): the most getsockopt(TCP_INFO) copies.</summary>
    public const int Size = Tcp.TcpInfoSize;

    /// <summary>tcpi_state: the connection's state.</summary>
    public TcpState State { get; init; }
    /// <summary>tcpi_ca_state: the congestion state (Open, Disorder, CWR, Recovery, Loss).</summary>
    public TcpCaState CaState { get; init; }
    /// <summary>tcpi_retransmits: unrecovered retransmission timeouts of the head (icsk_retransmits).</summary>
    public int Retransmits { get; init; }
    /// <summary>tcpi_probes: unanswered zero-window probes or keepalives.</summary>
    public int Probes { get; init; }
    /// <summary>tcpi_backoff: exponential backoff of the RTO.</summary>
    public int Backoff { get; init; }
    /// <summary>tcpi_options &amp; TCPI_OPT_TIMESTAMPS: timestamps were negotiated.</summary>
    public bool Timestamps { get; init; }
    /// <summary>tcpi_options &amp; TCPI_OPT_SACK: SACK was negotiated.</summary>
    public bool Sack { get; init; }
    /// <summary>tcpi_options &amp; TCPI_OPT_WSCALE: window scaling was negotiated.</summary>
    public bool WindowScaling { get; init; }
    /// <summary>tcpi_options: the TCPI_OPT_* bits (1 timestamps, 2 SACK, 4 wscale, 8 ECN...).</summary>
    public int Options { get; init; }
    /// <summary>tcpi_snd_wscale: the peer's window shift (applied to windows we receive).</summary>
    public int SendWindowScale { get; init; }
    /// <summary>tcpi_rcv_wscale: our window shift.</summary>
    public int ReceiveWindowScale { get; init; }
    /// <summary>tcpi_options &amp; TCPI_OPT_ECN: ECN was negotiated (RFC 3168).</summary>
    public bool Ecn { get; init; }
    /// <summary>tcpi_options &amp; TCPI_OPT_ECN_SEEN: at least one ECT packet came from the peer.</summary>
    public bool EcnSeen { get; init; }
    /// <summary>tcpi_delivered_ce: packets delivered that the peer reported congestion-marked (an ECE echo).</summary>
    public long DeliveredCe { get; init; }
    /// <summary>tcpi_delivery_rate_app_limited: the last delivery rate sample was limited by the application.</summary>
    public bool DeliveryRateAppLimited { get; init; }
    /// <summary>tcpi_rto: the retransmission timeout.</summary>
    public TimeSpan Rto { get; init; }
    /// <summary>tcpi_ato: the delayed-ACK timeout.</summary>
    public TimeSpan Ato { get; init; }
    /// <summary>tcpi_snd_mss: the send MSS (mss_cache).</summary>
    public int SendMss { get; init; }
    /// <summary>tcpi_rcv_mss: the peer's MSS as estimated from received segments.</summary>
    public int ReceiveMss { get; init; }
    /// <summary>tcpi_unacked: segments in flight (packets_out); for a listener, children ready for accept().</summary>
    public int Unacked { get; init; }
    /// <summary>tcpi_sacked: SACKed segments (sacked_out); for a listener, the maximum backlog.</summary>
    public int Sacked { get; init; }
    /// <summary>tcpi_lost: segments marked lost.</summary>
    public int Lost { get; init; }
    /// <summary>tcpi_retrans: retransmitted segments in flight.</summary>
    public int Retrans { get; init; }
    /// <summary>tcpi_last_data_sent: time since data was last sent.</summary>
    public TimeSpan LastDataSent { get; init; }
    /// <summary>tcpi_last_data_recv: time since data was last received.</summary>
    public TimeSpan LastDataReceived { get; init; }
    /// <summary>tcpi_last_ack_recv: time since an ACK was last received.</summary>
    public TimeSpan LastAckReceived { get; init; }
    /// <summary>tcpi_pmtu: the path MTU.</summary>
    public int Pmtu { get; init; }
    /// <summary>tcpi_rcv_ssthresh: the receive window's growth clamp (bytes).</summary>
    public long ReceiveSsthresh { get; init; }
    /// <summary>tcpi_rtt: the smoothed RTT.</summary>
    public TimeSpan Rtt { get; init; }
    /// <summary>tcpi_rttvar: the RTT's mean deviation.</summary>
    public TimeSpan RttVar { get; init; }
    /// <summary>tcpi_snd_ssthresh: the slow-start threshold (segments; 2147483647 until the first loss).</summary>
    public long SendSsthresh { get; init; }
    /// <summary>tcpi_snd_cwnd: the congestion window (segments).</summary>
    public long SendCwnd { get; init; }
    /// <summary>tcpi_advmss: the MSS we advertise.</summary>
    public int AdvMss { get; init; }
    /// <summary>tcpi_reordering: the reordering degree (the duplicate-ACK threshold).</summary>
    public int Reordering { get; init; }
    /// <summary>tcpi_rcv_rtt: the receiver's RTT estimate.</summary>
    public TimeSpan ReceiveRtt { get; init; }
    /// <summary>tcpi_rcv_space: the receive-buffer autotuning's bytes per RTT.</summary>
    public long ReceiveSpace { get; init; }
    /// <summary>tcpi_total_retrans: retransmitted segments over the connection's life.</summary>
    public long TotalRetrans { get; init; }
    /// <summary>tcpi_pacing_rate: sk_pacing_rate (bytes/s; ulong.MaxValue until the first ACK sets it).</summary>
    public ulong PacingRate { get; init; }
    /// <summary>tcpi_max_pacing_rate: SO_MAX_PACING_RATE (bytes/s; ulong.MaxValue: unlimited).</summary>
    public ulong MaxPacingRate { get; init; }
    /// <summary>tcpi_bytes_acked: bytes acknowledged by the peer.</summary>
    public ulong BytesAcked { get; init; }
    /// <summary>tcpi_bytes_received: bytes received in sequence.</summary>
    public ulong BytesReceived { get; init; }
    /// <summary>tcpi_segs_out: segments sent, retransmissions and pure ACKs included.</summary>
    public long SegmentsOut { get; init; }
    /// <summary>tcpi_segs_in: segments received.</summary>
    public long SegmentsIn { get; init; }
    /// <summary>tcpi_notsent_bytes: bytes queued and not yet sent.</summary>
    public long NotSentBytes { get; init; }
    /// <summary>tcpi_min_rtt: the windowed minimum RTT (null before the first sample, where Linux reports ~0).</summary>
    public TimeSpan? MinRtt { get; init; }
    /// <summary>tcpi_data_segs_in: segments received carrying data.</summary>
    public long DataSegmentsIn { get; init; }
    /// <summary>tcpi_data_segs_out: segments sent carrying data.</summary>
    public long DataSegmentsOut { get; init; }
    /// <summary>tcpi_delivery_rate: the last delivery rate sample worth reporting (bytes/s; 0 before one).</summary>
    public ulong DeliveryRate { get; init; }
    /// <summary>tcpi_delivered: segments delivered, retransmissions included.</summary>
    public long Delivered { get; init; }
    /// <summary>tcpi_bytes_sent: data bytes sent, retransmissions included.</summary>
    public ulong BytesSent { get; init; }
    /// <summary>tcpi_bytes_retrans: data bytes retransmitted.</summary>
    public ulong BytesRetrans { get; init; }
    /// <summary>tcpi_dsack_dups: segments reported as duplicates by D-SACK.</summary>
    public long DsackDups { get; init; }
    /// <summary>tcpi_reord_seen: reordering events seen.</summary>
    public long ReorderingSeen { get; init; }
    /// <summary>tcpi_rcv_ooopack: out-of-order segments received.</summary>
    public long ReceiveOutOfOrderPackets { get; init; }
    /// <summary>tcpi_snd_wnd: the peer's advertised window, scaled (bytes).</summary>
    public long SendWindow { get; init; }
    /// <summary>tcpi_rcv_wnd: our advertised window, scaled (bytes).</summary>
    public long ReceiveWindow { get; init; }
    /// <summary>tcpi_total_rto: retransmission timeouts over the connection's life.</summary>
    public int TotalRto { get; init; }
    /// <summary>tcpi_total_rto_recoveries: RTO recovery episodes.</summary>
    public int TotalRtoRecoveries { get; init; }
    /// <summary>The congestion control's name (getsockopt TCP_CONGESTION: "cubic", "reno").</summary>
    public string CongestionControl { get; init; }
    /// <summary>
    /// BBR's model (bbr_get_info(): INET_DIAG_BBRINFO, getsockopt TCP_CC_INFO) when the socket runs
    /// BBR, else null. In the socket lists (`ss -ti`) it is null too from TIME_WAIT on in sk_state's
    /// numbering (CLOSE, CLOSE_WAIT, LAST_ACK, LISTEN, CLOSING), as inet_diag reports the
    /// congestion control's state only for sk_state &lt; TCP_TIME_WAIT.
    /// </summary>
    public BbrInfo? Bbr { get; init; }
    /// <summary>DCTCP's state (dctcp_get_info(): INET_DIAG_DCTCPINFO, getsockopt TCP_CC_INFO) when the socket runs "dctcp" or its Reno fallback "dctcp-reno", else null; in the socket lists, null in the same states as <see cref="Bbr"/>.</summary>
    public DctcpInfo? Dctcp { get; init; }
    /// <summary>struct tcp_info's bytes as getsockopt(TCP_INFO) returns them (<see cref="Size"/> bytes).</summary>
    public ReadOnlyMemory<byte> Raw { get; init; }

    /// <summary>Decodes struct tcp_info's bytes (Linux's layout, little-endian); missing trailing fields read as 0, as with an older kernel.</summary>
    /// <param name="info">The bytes getsockopt(TCP_INFO) returned (any length up to <see cref="Size"/>).</param>
    /// <param name="congestionControl">The congestion control's name.</param>
    public static TcpInfo Parse(ReadOnlySpan<byte> info, string congestionControl)
    {
        var b = new byte[Size];
        info[..Math.Min(info.Length, Size)].CopyTo(b);
        uint U32(int off) => BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(off));
        ulong U64(int off) => BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(off));
        TimeSpan Us(int off) => TimeSpan.FromMicroseconds(U32(off));
        TimeSpan Ms(int off) => TimeSpan.FromMilliseconds(U32(off));
        int options = b[5];
        uint minRtt = U32(148);
        return new TcpInfo
        {
            State = (TcpState)b[0],
            CaState = (TcpCaState)b[1],
            Retransmits = b[2],
            Probes = b[3],
            Backoff = b[4],
            Options = options,
            Timestamps = (options & Tcp.TcpiOptTimestamps) != 0,
            Sack = (options & Tcp.TcpiOptSack) != 0,
            WindowScaling = (options & Tcp.TcpiOptWscale) != 0,
            Ecn = (options & Tcp.TcpiOptEcn) != 0,
            EcnSeen = (options & Tcp.TcpiOptEcnSeen) != 0,
            SendWindowScale = b[6] & 0xf,
            ReceiveWindowScale = b[6] >> 4,
            DeliveryRateAppLimited = (b[7] & 1) != 0,
            Rto = Us(8),
            Ato = Us(12),
            SendMss = (int)U32(16),
            ReceiveMss = (int)U32(20),
            Unacked = (int)U32(24),
            Sacked = (int)U32(28),
            Lost = (int)U32(32),
            Retrans = (int)U32(36),
            LastDataSent = Ms(44),
            LastDataReceived = Ms(52),
            LastAckReceived = Ms(56),
            Pmtu = (int)U32(60),
            ReceiveSsthresh = U32(64),
            Rtt = Us(68),
            RttVar = Us(72),
            SendSsthresh = U32(76),
            SendCwnd = U32(80),
            AdvMss = (int)U32(84),
            Reordering = (int)U32(88),
            ReceiveRtt = Us(92),
            ReceiveSpace = U32(96),
            TotalRetrans = U32(100),
            PacingRate = U64(104),
            MaxPacingRate = U64(112),
            BytesAcked = U64(120),
            BytesReceived = U64(128),
            SegmentsOut = U32(136),
            SegmentsIn = U32(140),
            NotSentBytes = U32(144),
            MinRtt = minRtt == uint.MaxValue ? null : TimeSpan.FromMicroseconds(minRtt),
            DataSegmentsIn = U32(152),
            DataSegmentsOut = U32(156),
            DeliveryRate = U64(160),
            Delivered = U32(192),
            DeliveredCe = U32(196),
            BytesSent = U64(200),
            BytesRetrans = U64(208),
            DsackDups = U32(216),
            ReorderingSeen = U32(220),
            ReceiveOutOfOrderPackets = U32(224),
            SendWindow = U32(228),
            ReceiveWindow = U32(232),
            TotalRto = BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(240)),
            TotalRtoRecoveries = BinaryPrimitives.ReadUInt16LittleEndian(b.AsSpan(242)),
            CongestionControl = congestionControl,
            Raw = b,
        };
    }

    /// <summary>
    /// The snapshot of a TCP sock; the caller holds the stack lock. <paramref name="diag"/>: as inet_diag
    /// reports it to `ss -i` (the congestion control asked with ss's idiag_ext, and only before
    /// TIME_WAIT), else as getsockopt(TCP_INFO, TCP_CONGESTION, TCP_CC_INFO) reports it.
    /// </summary>
    /// <remarks>Mirrors net/ipv4/inet_diag.c: inet_sk_diag_fill()'s get_info part, and tcp_getsockopt()'s TCP_CC_INFO case.</remarks>
    internal static TcpInfo Get(TcpSock tp, bool diag = false)
    {
        Span<byte> b = stackalloc byte[Size];
        Tcp.TcpGetInfo(tp, b);
        var info = Parse(b, tp.CaOps.Name);
        if (diag && tp.State >= TcpState.TimeWait) return info;
        TcpCcInfo cc = default;
        int sz = tp.CaOps.GetInfo(tp, diag ? InetDiag.SsInfoExt : ~0u, out int attr, ref cc);
        if (sz == 0) return info;
        return attr switch
        {
            InetDiag.INET_DIAG_BBRINFO => info with { Bbr = BbrInfo.From(cc.Bbr) },
            InetDiag.INET_DIAG_DCTCPINFO => info with { Dctcp = DctcpInfo.From(cc.Dctcp) },
            _ => info,
        };
    }
}
