namespace NetStack.Ipv4;

/// <summary>
/// The TCP sysctls of a namespace, with Linux's defaults (Documentation/networking/ip-sysctl.rst).
/// Times are in milliseconds unless the name says otherwise.
/// <remarks>Mirrors struct netns_ipv4's sysctl_tcp_* fields.</remarks>
/// </summary>
public sealed class TcpSysctl
{
    /// <summary>net.ipv4.tcp_syn_retries: SYN retransmissions before connect() fails with ETIMEDOUT.</summary>
    public int SynRetries = 6;
    /// <summary>net.ipv4.tcp_synack_retries.</summary>
    public int SynackRetries = 5;
    /// <summary>net.ipv4.tcp_retries1: retransmissions before the route is suspected (no effect here).</summary>
    public int Retries1 = 3;
    /// <summary>net.ipv4.tcp_retries2: retransmissions of data before the connection is aborted (ETIMEDOUT).</summary>
    public int Retries2 = 15;
    /// <summary>net.ipv4.tcp_orphan_retries: 0 means 8 (tcp_orphan_retries()).</summary>
    public int OrphanRetries = 0;
    /// <summary>net.ipv4.tcp_fin_timeout (seconds in Linux; ms here): how long an orphaned FIN_WAIT_2 lives.</summary>
    public int FinTimeoutMs = 60_000;
    /// <summary>TCP_TIMEWAIT_LEN: a compile-time 60 s in Linux; a field here so tests can shorten it.</summary>
    public int TimewaitLenMs = 60_000;
    /// <summary>net.ipv4.tcp_keepalive_time / _intvl / _probes.</summary>
    public int KeepaliveTimeMs = 7_200_000, KeepaliveIntvlMs = 75_000, KeepaliveProbes = 9;
    /// <summary>net.ipv4.tcp_max_syn_backlog: request socks per listener.</summary>
    public int MaxSynBacklog = 4096;
    /// <summary>net.ipv4.tcp_abort_on_overflow: reset (instead of ignoring) the final ACK when the accept queue is full.</summary>
    public bool AbortOnOverflow;
    /// <summary>net.ipv4.tcp_window_scaling.</summary>
    public bool WindowScaling = true;
    /// <summary>net.ipv4.tcp_timestamps (1: with random offsets).</summary>
    public bool Timestamps = true;
    /// <summary>net.ipv4.tcp_sack.</summary>
    public bool Sack = true;
    /// <summary>net.ipv4.tcp_rfc1337: 0 lets an RST kill a TIME_WAIT socket, as Linux does by default.</summary>
    public bool Rfc1337;
    /// <summary>net.ipv4.tcp_rmem: min, default, max receive buffer.</summary>
    public int RmemMin = 4096, RmemDefault = 131072, RmemMax = 6291456;
    /// <summary>net.ipv4.tcp_wmem: min, default, max send buffer.</summary>
    public int WmemMin = 4096, WmemDefault = 16384, WmemMax = 4194304;
    /// <summary>net.ipv4.tcp_moderate_rcvbuf: receive buffer auto-tuning.</summary>
    public bool ModerateRcvbuf = true;
    /// <summary>net.ipv4.tcp_base_mss / TCP_BASE_MSS and the smallest MSS accepted (TCP_MIN_MSS 88, tcp_min_snd_mss 48).</summary>
    public int MinSndMss = 48;
    /// <summary>net.ipv4.tcp_congestion_control.</summary>
    public string CongestionControl = "cubic";
    /// <summary>net.ipv4.tcp_slow_start_after_idle.</summary>
    public bool SlowStartAfterIdle = true;
    /// <summary>net.ipv4.tcp_challenge_ack_limit: challenge ACKs per second (RFC 5961 4.2, 5.2, 7).</summary>
    public int ChallengeAckLimit = 1000;
    /// <summary>net.ipv4.tcp_invalid_ratelimit: minimum gap between duplicate ACKs answering invalid segments.</summary>
    public int InvalidRatelimitMs = 500;
    /// <summary>net.ipv4.tcp_reordering: the initial duplicate-ACK threshold (tcp_dupthresh).</summary>
    public int Reordering = 3;
    /// <summary>net.ipv4.tcp_recovery: bit 0x1 TCP_RACK_LOSS_DETECTION (RACK loss detection, RFC 8985),
    /// 0x2 TCP_RACK_STATIC_REO_WND (no DSACK adaptation of the reordering window), 0x4 TCP_RACK_NO_DUPTHRESH.</summary>
    public int Recovery = TcpRackLossDetection;
    public const int TcpRackLossDetection = 0x1, TcpRackStaticReoWnd = 0x2, TcpRackNoDupthresh = 0x4;
    /// <summary>net.ipv4.tcp_early_retrans: 3 (and 4) enable the Tail Loss Probe (RFC 8985 7); 0 disables it.</summary>
    public int EarlyRetrans = 3;
    /// <summary>net.ipv4.tcp_min_rtt_wlen (seconds): the window of the min_rtt filter.</summary>
    public int MinRttWlenSec = 300;
    /// <summary>net.ipv4.tcp_max_reordering: the largest reordering degree learned.</summary>
    public int MaxReordering = 300;
    /// <summary>net.ipv4.tcp_delack_min analogue: TCP_DELACK_MIN (40 ms) and TCP_DELACK_MAX (200 ms).</summary>
    public int DelackMinMs = 40, DelackMaxMs = 200;
    /// <summary>TCP_RTO_MIN, TCP_RTO_MAX and TCP_TIMEOUT_INIT.</summary>
    public int RtoMinMs = 200, RtoMaxMs = 120_000, TimeoutInitMs = 1_000;
}
