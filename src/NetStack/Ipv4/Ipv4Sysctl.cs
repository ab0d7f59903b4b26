namespace NetStack.Ipv4;

/// <summary>
/// The IPv4 and TCP sysctls of a namespace (net.ipv4.*), with Linux's defaults
/// (Documentation/networking/ip-sysctl.rst). The typed fields are what the protocol code reads;
/// <see cref="SysctlNetIpv4"/> registers them by name in the namespace's <see cref="NetStack.Core.SysctlTable"/>
/// (net.Sysctl). Times are in milliseconds unless the name says otherwise.
/// <remarks>Mirrors struct netns_ipv4's sysctl_* fields and the neighbour table's parms.</remarks>
/// </summary>
internal sealed class Ipv4Sysctl
{
    /// <summary>arp_tbl's parameters: net.ipv4.neigh.default.*.</summary>
    public readonly NeighParms Neigh = new();

    /// <summary>nr_free_buffer_pages() of the host the defaults describe (2^20 pages of 4 KiB).</summary>
    internal const long AssumedFreeBufferPages = 1L << 20;

    internal Ipv4Sysctl() => (TcpMemMin, TcpMemPressure, TcpMemMax) = TcpMemory.TcpInitMem(AssumedFreeBufferPages);

    /// <summary>net.ipv4.ip_default_ttl</summary>
    public int IpDefaultTtl = 64;
    /// <summary>net.ipv4.ipfrag_time: seconds a datagram may take to reassemble.</summary>
    public int IpfragTimeSec = 30;
    /// <summary>net.ipv4.ipfrag_high_thresh: bytes of fragments (truesize, plus a queue header each) above
    /// which no fragment is queued at all until queues complete or expire; 0 turns reassembly off.</summary>
    public long IpfragHighThresh = 4 * 1024 * 1024;
    /// <summary>net.ipv4.ipfrag_low_thresh: obsolete since Linux 4.17 (nothing evicts early any more); kept,
    /// as Linux keeps it, as a value bounded by ipfrag_high_thresh.</summary>
    public long IpfragLowThresh = 3 * 1024 * 1024;
    /// <summary>net.ipv4.ipfrag_max_dist: fragments from one source that may arrive between two fragments of
    /// one datagram before its queue is considered stale and restarted; 0 disables the check.</summary>
    public int IpfragMaxDist = 64;
    /// <summary>net.ipv4.conf.all.*: ip_forward is its forwarding; its send_redirects is or-ed with each device's.</summary>
    public readonly NetStack.Core.Ipv4Devconf DevconfAll = new();
    /// <summary>net.ipv4.conf.default.*: what a new device starts with.</summary>
    public readonly NetStack.Core.Ipv4Devconf DevconfDflt = new();
    /// <summary>net.ipv4.ip_forward, which is net.ipv4.conf.all.forwarding (written through <see cref="Devinet.InetForwardChange"/>).</summary>
    public bool IpForward => DevconfAll.Forwarding;
    /// <summary>net.ipv4.ip_unprivileged_port_start: binding below it needs CAP_NET_BIND_SERVICE.</summary>
    public int IpUnprivilegedPortStart = 1024;
    /// <summary>net.ipv4.ip_nonlocal_bind.</summary>
    public bool IpNonlocalBind;
    /// <summary>net.ipv4.ip_no_pmtu_disc.</summary>
    public bool IpNoPmtuDisc;
    /// <summary>net.ipv4.ip_local_port_range</summary>
    public int IpLocalPortRangeLow = 32768, IpLocalPortRangeHigh = 60999;
    /// <summary>net.ipv4.icmp_echo_ignore_all</summary>
    public bool IcmpEchoIgnoreAll;
    /// <summary>net.ipv4.icmp_echo_ignore_broadcasts</summary>
    public bool IcmpEchoIgnoreBroadcasts = true;
    /// <summary>net.ipv4.icmp_ratelimit (ms between rate-limited messages to one host).</summary>
    public int IcmpRatelimitMs = 1000;
    /// <summary>net.ipv4.icmp_ratemask: dest unreachable, source quench, time exceeded, parameter problem.</summary>
    public int IcmpRatemask = 0x1818;
    /// <summary>net.ipv4.icmp_msgs_per_sec / icmp_msgs_burst (the global token bucket).</summary>
    public int IcmpMsgsPerSec = 1000, IcmpMsgsBurst = 50;

    // ---- UDP: net.ipv4.udp_* ----
    /// <summary>
    /// net.ipv4.udp_mem: min, pressure, max in pages for all UDP sockets' receive queues. Linux sizes it
    /// from free RAM at boot (udp_init(): limit = max(free pages / 8, 128), min = 3/4 limit, pressure =
    /// limit, max = 2 min); this stack's memory is its buffer pool, so the same rule runs on the pool's
    /// capacity instead (<see cref="UdpMemDefaults"/>): with the default pool (65536 buffers of 2 KiB =
    /// 32768 pages) that is 3072, 4096, 6144 pages (12, 16, 24 MiB).
    /// </summary>
    public long[] UdpMem = [3072, 4096, 6144];
    /// <summary>net.ipv4.udp_rmem_min: the receive memory a UDP socket is granted even above udp_mem[0] (PAGE_SIZE).</summary>
    public int UdpRmemMin = 4096;
    /// <summary>net.ipv4.igmp_max_memberships: groups one socket may join.</summary>
    public int IgmpMaxMemberships = 20;
    /// <summary>net.ipv4.igmp_qrv: the robustness variable (how many times a state change is reported).</summary>
    public int IgmpQrv = 2;
    /// <summary>net.ipv4.igmp_link_local_mcast_reports: whether 224.0.0.0/24 groups are reported.</summary>
    public bool IgmpLinkLocalMcastReports = true;
    /// <summary>net.ipv4.udp_wmem_min: the send-side counterpart (PAGE_SIZE); UDP sends are bounded by SO_SNDBUF, as in Linux.</summary>
    public int UdpWmemMin = 4096;

    /// <summary>udp_init()'s sizing rule applied to <paramref name="pages"/> pages of memory.</summary>
    public static long[] UdpMemDefaults(long pages)
    {
        long limit = Math.Max(pages / 8, 128);
        long min = limit / 4 * 3;
        return [min, limit, min * 2];
    }

    // ---- TCP: net.ipv4.tcp_* ----
    /// <summary>net.ipv4.tcp_syn_retries: SYN retransmissions before connect() fails with ETIMEDOUT.</summary>
    public int TcpSynRetries = 6;
    /// <summary>net.ipv4.tcp_synack_retries.</summary>
    public int TcpSynackRetries = 5;
    /// <summary>net.ipv4.tcp_retries1: retransmissions before the route is suspected (no effect here).</summary>
    public int TcpRetries1 = 3;
    /// <summary>net.ipv4.tcp_retries2: retransmissions of data before the connection is aborted (ETIMEDOUT).</summary>
    public int TcpRetries2 = 15;
    /// <summary>net.ipv4.tcp_orphan_retries: 0 means 8 (tcp_orphan_retries()).</summary>
    public int TcpOrphanRetries = 0;
    /// <summary>net.ipv4.tcp_fin_timeout (seconds in Linux; ms here): how long an orphaned FIN_WAIT_2 lives.</summary>
    public int TcpFinTimeoutMs = 60_000;
    /// <summary>TCP_TIMEWAIT_LEN: a compile-time 60 s in Linux; a field here so tests can shorten it.</summary>
    public int TcpTimewaitLenMs = 60_000;
    /// <summary>net.ipv4.tcp_keepalive_time / _intvl / _probes.</summary>
    public int TcpKeepaliveTimeMs = 7_200_000, TcpKeepaliveIntvlMs = 75_000, TcpKeepaliveProbes = 9;
    /// <summary>net.ipv4.tcp_max_syn_backlog: request socks per listener.</summary>
    public int TcpMaxSynBacklog = 4096;
    /// <summary>net.ipv4.tcp_syncookies: 0 never, 1 (Linux's default) only when a listener's SYN queue
    /// overflows, 2 always. A u8 in Linux: any nonzero value other than 2 behaves as 1.</summary>
    public int TcpSyncookies = 1;
    /// <summary>net.ipv4.tcp_fastopen: TFO_* bits (1 client, 2 server, 0x4 client without cookie, 0x200 server without cookie, 0x400 server on every listener); Linux's default is 1.</summary>
    public int TcpFastopen = NetStack.Ipv4.TcpFastopen.TfoClientEnable;
    /// <summary>net.ipv4.tcp_abort_on_overflow: reset (instead of ignoring) the final ACK when the accept queue is full.</summary>
    public bool TcpAbortOnOverflow;
    /// <summary>net.ipv4.tcp_window_scaling.</summary>
    public bool TcpWindowScaling = true;
    /// <summary>net.ipv4.tcp_timestamps (1: with random offsets).</summary>
    public bool TcpTimestamps = true;
    /// <summary>net.ipv4.tcp_sack.</summary>
    public bool TcpSack = true;
    /// <summary>net.ipv4.tcp_backlog_ack_defer (Linux 6.8+, default 1): an ACK due at once while a batch of
    /// segments is processed (Linux: the socket's backlog; here: a receive batch) is sent once, when the batch ends.</summary>
    public bool TcpBacklogAckDefer = true;
    /// <summary>net.ipv4.tcp_rfc1337: 0 lets an RST kill a TIME_WAIT socket, as Linux does by default.</summary>
    public bool TcpRfc1337;
    /// <summary>net.ipv4.tcp_stdurg: read the urgent pointer as RFC 1122 says (the last urgent byte) instead of
    /// as BSD and Linux by default do (the byte after it).</summary>
    public bool TcpStdurg;
    /// <summary>net.ipv4.tcp_rmem: min, default, max receive buffer.</summary>
    public int TcpRmemMin = 4096, TcpRmemDefault = 131072, TcpRmemMax = 6291456;
    /// <summary>net.ipv4.tcp_wmem: min, default, max send buffer.</summary>
    public int TcpWmemMin = 4096, TcpWmemDefault = 16384, TcpWmemMax = 4194304;
    /// <summary>
    /// net.ipv4.tcp_mem: min, pressure, max, in pages of 4 KiB, for all TCP sockets of the
    /// namespace together (see <see cref="TcpMemory"/>). The defaults are what tcp_init_mem()
    /// computes on a host with nr_free_buffer_pages() = 2^20 (about 4 GiB of free low memory):
    /// limit = 2^20 / 16 = 65536, so 49152 65536 98304 (192, 256 and 384 MiB). Fixed rather than
    /// read from this machine's RAM so that a run repeats anywhere.
    /// </summary>
    public long TcpMemMin, TcpMemPressure, TcpMemMax;
    /// <summary>
    /// net.ipv4.tcp_max_orphans: orphaned sockets (closed by their owner, still finishing) beyond
    /// which closes and timers reset connections. Linux sets it to half the established hash's
    /// entries; the same 4 GiB host gets a 32768-entry hash (alloc_large_system_hash(), scale 17),
    /// hence 16384.
    /// </summary>
    public int TcpMaxOrphans = 16384;
    /// <summary>net.ipv4.tcp_max_tw_buckets: TIME_WAIT socks beyond which a closing socket skips TIME_WAIT (half the established hash, as tcp_sk_init(): 16384).</summary>
    public int TcpMaxTwBuckets = 16384;
    /// <summary>net.ipv4.tcp_app_win: 1/2^tcp_app_win of the receive window is kept for the application (0..31, 31 by default).</summary>
    public int TcpAppWin = 31;
    /// <summary>net.ipv4.tcp_moderate_rcvbuf: receive buffer auto-tuning.</summary>
    public bool TcpModerateRcvbuf = true;
    /// <summary>net.ipv4.tcp_base_mss / TCP_BASE_MSS and the smallest MSS accepted (TCP_MIN_MSS 88, tcp_min_snd_mss 48).</summary>
    public int TcpMinSndMss = 48;
    /// <summary>net.ipv4.tcp_mtu_probing: packetization-layer path MTU discovery (RFC 4821). 0 off (the
    /// default), 1 on once an ICMP black hole is suspected (retransmission timeouts past
    /// tcp_retries1), 2 always (the MSS starts from tcp_base_mss).</summary>
    public int TcpMtuProbing;
    /// <summary>net.ipv4.tcp_base_mss: the MSS a black-hole search starts from (TCP_BASE_MSS, 1024).</summary>
    public int TcpBaseMss = 1024;
    /// <summary>net.ipv4.tcp_mtu_probe_floor: the smallest MSS a black-hole search goes down to (TCP_MIN_SND_MSS, 48).</summary>
    public int TcpMtuProbeFloor = 48;
    /// <summary>net.ipv4.tcp_probe_threshold: the search stops when the MTU window is narrower (8 bytes).</summary>
    public int TcpProbeThreshold = 8;
    /// <summary>net.ipv4.tcp_probe_interval: seconds before a finished search starts again (600).</summary>
    public int TcpProbeInterval = 600;
    /// <summary>net.ipv4.tcp_congestion_control.</summary>
    public string TcpCongestionControl = "cubic";
    /// <summary>net.ipv4.tcp_ecn: 0 off, 1 request ECN on outgoing connections and accept it on incoming ones,
    /// 2 accept only (Linux's default). A congestion control that needs ECN (DCTCP) requests it anyway.</summary>
    public int TcpEcn = 2;
    /// <summary>net.ipv4.tcp_ecn_fallback: a retransmitted SYN goes without ECE|CWR (RFC 3168 6.1.1.1).</summary>
    public bool TcpEcnFallback = true;
    /// <summary>net.ipv4.tcp_pacing_ss_ratio / tcp_pacing_ca_ratio: the pacing rate as a percentage of
    /// cwnd * mss / srtt in slow start (cwnd below ssthresh/2) and after it (tcp_update_pacing_rate()).</summary>
    public int TcpPacingSsRatio = 200, TcpPacingCaRatio = 120;
    /// <summary>net.ipv4.tcp_slow_start_after_idle.</summary>
    public bool TcpSlowStartAfterIdle = true;
    /// <summary>net.ipv4.tcp_challenge_ack_limit: challenge ACKs per second (RFC 5961 4.2, 5.2, 7).</summary>
    public int TcpChallengeAckLimit = 1000;
    /// <summary>net.ipv4.tcp_invalid_ratelimit: minimum gap between duplicate ACKs answering invalid segments.</summary>
    public int TcpInvalidRatelimitMs = 500;
    /// <summary>net.ipv4.tcp_reordering: the initial duplicate-ACK threshold (tcp_dupthresh).</summary>
    public int TcpReordering = 3;
    /// <summary>net.ipv4.tcp_recovery: bit 0x1 TCP_RACK_LOSS_DETECTION (RACK loss detection, RFC 8985),
    /// 0x2 TCP_RACK_STATIC_REO_WND (no DSACK adaptation of the reordering window), 0x4 TCP_RACK_NO_DUPTHRESH.</summary>
    public int TcpRecovery = TcpRackLossDetection;
    public const int TcpRackLossDetection = 0x1, TcpRackStaticReoWnd = 0x2, TcpRackNoDupthresh = 0x4;
    /// <summary>net.ipv4.tcp_frto: F-RTO (RFC 5682) detects spurious retransmission timeouts; 2 (Linux's
    /// default) is the SACK-enhanced version, any non-zero value enables it (tcp_enter_loss()).</summary>
    public int TcpFrto = 2;
    /// <summary>net.ipv4.tcp_early_retrans: 3 (and 4) enable the Tail Loss Probe (RFC 8985 7); 0 disables it.</summary>
    public int TcpEarlyRetrans = 3;
    /// <summary>net.ipv4.tcp_min_rtt_wlen (seconds): the window of the min_rtt filter.</summary>
    public int TcpMinRttWlenSec = 300;
    /// <summary>net.ipv4.tcp_max_reordering: the largest reordering degree learned.</summary>
    public int TcpMaxReordering = 300;
    /// <summary>net.ipv4.tcp_delack_min analogue: TCP_DELACK_MIN (40 ms) and TCP_DELACK_MAX (200 ms).</summary>
    public int TcpDelackMinMs = 40, TcpDelackMaxMs = 200;
    /// <summary>TCP_RTO_MIN, TCP_RTO_MAX and TCP_TIMEOUT_INIT.</summary>
    public int TcpRtoMinMs = 200, TcpRtoMaxMs = 120_000, TcpTimeoutInitMs = 1_000;
}
