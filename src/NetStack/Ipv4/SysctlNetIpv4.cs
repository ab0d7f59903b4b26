using NetStack.Core;

namespace NetStack.Ipv4;

/// <summary>
/// The net.ipv4.* sysctl table: Linux's names over the typed fields of <see cref="Ipv4Sysctl"/>,
/// printed and parsed as /proc/sys/net/ipv4 does (seconds where Linux shows seconds, tab-separated
/// vectors). Knobs this stack has that Linux does not expose (TCP_TIMEWAIT_LEN, TCP_RTO_MIN...)
/// stay typed fields only.
/// <remarks>Mirrors net/ipv4/sysctl_net_ipv4.c: ipv4_net_table and ipv4_sysctl_init_net(), and the
/// neighbour table's net.ipv4.neigh.default.* (net/core/neighbour.c: neigh_sysctl_register()).</remarks>
/// </summary>
internal static class SysctlNetIpv4
{
    /// <remarks>Mirrors ipv4_sysctl_init_net(): register_net_sysctl(net, "net/ipv4", table).</remarks>
    internal static void Ipv4SysctlInitNet(NetNamespace net)
    {
        var s = net.Ipv4.Sysctl;
        // udp_init(): udp_mem from the memory there is, which for this stack is its buffer pool.
        s.UdpMem = Ipv4Sysctl.UdpMemDefaults((long)net.SkbPool.MaxBuffers * net.SkbPool.BufferSize / Udp.PageSize);
        net.Sysctl.RegisterNetSysctl("net/ipv4",
        [
            CtlTable.Int("ip_default_ttl", () => s.IpDefaultTtl, v => s.IpDefaultTtl = v, 1, 255),
            // ip_forward is conf.all.forwarding (devinet_sysctl_forward() on the same data).
            CtlTable.Bool("ip_forward", () => s.IpForward, v => { if (v != s.IpForward) Devinet.InetForwardChange(net, v); }),
            CtlTable.Bool("ip_no_pmtu_disc", () => s.IpNoPmtuDisc, v => s.IpNoPmtuDisc = v),
            CtlTable.Bool("ip_nonlocal_bind", () => s.IpNonlocalBind, v => s.IpNonlocalBind = v),
            CtlTable.IntVec("ip_unprivileged_port_start", () => [s.IpUnprivilegedPortStart], v =>
            {
                // ipv4_privileged_ports(): 0..65535, and the local port range must not start below it.
                if (v[0] < 0 || v[0] > 65535 || s.IpLocalPortRangeLow < v[0]) return -Errno.EINVAL;
                s.IpUnprivilegedPortStart = v[0];
                return 0;
            }, 1),
            CtlTable.IntVec("ip_local_port_range", () => [s.IpLocalPortRangeLow, s.IpLocalPortRangeHigh], v =>
            {
                // ipv4_local_port_range(): each in 1..65535, high not below low (equal is a one-port range),
                // low not inside the privileged ports (ip_unprivileged_port_start).
                if (v[0] < 1 || v[1] < 1 || v[0] > 65535 || v[1] > 65535 || v[1] < v[0] || v[0] < s.IpUnprivilegedPortStart) return -Errno.EINVAL;
                s.IpLocalPortRangeLow = v[0];
                s.IpLocalPortRangeHigh = v[1];
                return 0;
            }, 2),
            // ip4_frags_ns_ctl_table: the two thresholds bound each other (high >= low), as their
            // extra1/extra2 do; ipfrag_time is proc_dointvec_jiffies (seconds), max_dist >= 0.
            ULong("ipfrag_high_thresh", () => s.IpfragHighThresh, v => s.IpfragHighThresh = v, () => s.IpfragLowThresh, () => long.MaxValue),
            ULong("ipfrag_low_thresh", () => s.IpfragLowThresh, v => s.IpfragLowThresh = v, () => 0, () => s.IpfragHighThresh),
            CtlTable.Int("ipfrag_time", () => s.IpfragTimeSec, v => s.IpfragTimeSec = v, 0),
            CtlTable.Int("ipfrag_max_dist", () => s.IpfragMaxDist, v => s.IpfragMaxDist = v, 0),
            CtlTable.Bool("icmp_echo_ignore_all", () => s.IcmpEchoIgnoreAll, v => s.IcmpEchoIgnoreAll = v),
            CtlTable.Bool("icmp_echo_ignore_broadcasts", () => s.IcmpEchoIgnoreBroadcasts, v => s.IcmpEchoIgnoreBroadcasts = v),
            CtlTable.Int("icmp_ratelimit", () => s.IcmpRatelimitMs, v => s.IcmpRatelimitMs = v, 0),
            CtlTable.Int("icmp_ratemask", () => s.IcmpRatemask, v => s.IcmpRatemask = v),
            CtlTable.Int("icmp_msgs_per_sec", () => s.IcmpMsgsPerSec, v => s.IcmpMsgsPerSec = v, 0),
            CtlTable.Int("icmp_msgs_burst", () => s.IcmpMsgsBurst, v => s.IcmpMsgsBurst = v, 0),

            .. NeighParms.SysctlTable(s.Neigh),

            new CtlTable("udp_mem", () => string.Join('\t', s.UdpMem), v =>
            {
                // proc_doulongvec_minmax over three longs.
                var parts = v.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length != 3) return -Errno.EINVAL;
                var x = new long[3];
                for (int i = 0; i < 3; i++)
                    if (!long.TryParse(parts[i], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out x[i])) return -Errno.EINVAL;
                s.UdpMem = x;
                return 0;
            }),
            CtlTable.Int("udp_rmem_min", () => s.UdpRmemMin, v => s.UdpRmemMin = v, 1), // extra1 = SYSCTL_ONE
            CtlTable.Int("igmp_max_memberships", () => s.IgmpMaxMemberships, v => s.IgmpMaxMemberships = v),
            CtlTable.Int("igmp_qrv", () => s.IgmpQrv, v => s.IgmpQrv = v, 1), // extra1 = SYSCTL_ONE
            CtlTable.Bool("igmp_link_local_mcast_reports", () => s.IgmpLinkLocalMcastReports, v => s.IgmpLinkLocalMcastReports = v),
            CtlTable.Int("udp_wmem_min", () => s.UdpWmemMin, v => s.UdpWmemMin = v, 1),

            CtlTable.Int("tcp_syn_retries", () => s.TcpSynRetries, v => s.TcpSynRetries = v, 1, 127),
            CtlTable.Int("tcp_synack_retries", () => s.TcpSynackRetries, v => s.TcpSynackRetries = v, 0),
            CtlTable.Int("tcp_retries1", () => s.TcpRetries1, v => s.TcpRetries1 = v, 0, 255),
            CtlTable.Int("tcp_retries2", () => s.TcpRetries2, v => s.TcpRetries2 = v, 0),
            CtlTable.Int("tcp_orphan_retries", () => s.TcpOrphanRetries, v => s.TcpOrphanRetries = v, 0),
            CtlTable.Scaled("tcp_fin_timeout", () => s.TcpFinTimeoutMs, v => s.TcpFinTimeoutMs = v, 1000),
            CtlTable.Scaled("tcp_keepalive_time", () => s.TcpKeepaliveTimeMs, v => s.TcpKeepaliveTimeMs = v, 1000),
            CtlTable.Scaled("tcp_keepalive_intvl", () => s.TcpKeepaliveIntvlMs, v => s.TcpKeepaliveIntvlMs = v, 1000),
            CtlTable.Int("tcp_keepalive_probes", () => s.TcpKeepaliveProbes, v => s.TcpKeepaliveProbes = v, 0),
            CtlTable.Int("tcp_max_syn_backlog", () => s.TcpMaxSynBacklog, v => s.TcpMaxSynBacklog = v, 0),
            CtlTable.Int("tcp_syncookies", () => s.TcpSyncookies, v => s.TcpSyncookies = v, 0, 255), // proc_dou8vec_minmax
            CtlTable.Int("tcp_fastopen", () => s.TcpFastopen, v => s.TcpFastopen = v), // proc_dointvec
            CtlTable.String("tcp_fastopen_key", () => TcpFastopenSysctl.Read(net), v => TcpFastopenSysctl.Write(net, v)),
            CtlTable.Bool("tcp_abort_on_overflow", () => s.TcpAbortOnOverflow, v => s.TcpAbortOnOverflow = v),
            U8Flag("tcp_window_scaling", () => s.TcpWindowScaling, v => s.TcpWindowScaling = v),
            U8Flag("tcp_timestamps", () => s.TcpTimestamps, v => s.TcpTimestamps = v),
            U8Flag("tcp_sack", () => s.TcpSack, v => s.TcpSack = v),
            U8Flag("tcp_stdurg", () => s.TcpStdurg, v => s.TcpStdurg = v),
            CtlTable.Bool("tcp_backlog_ack_defer", () => s.TcpBacklogAckDefer, v => s.TcpBacklogAckDefer = v), // proc_dou8vec_minmax 0..1
            CtlTable.Bool("tcp_rfc1337", () => s.TcpRfc1337, v => s.TcpRfc1337 = v),
            CtlTable.IntVec("tcp_rmem", () => [s.TcpRmemMin, s.TcpRmemDefault, s.TcpRmemMax], v =>
            {
                if (v[0] < 1 || v[1] < 1 || v[2] < 1) return -Errno.EINVAL; // extra1 = SYSCTL_ONE
                (s.TcpRmemMin, s.TcpRmemDefault, s.TcpRmemMax) = (v[0], v[1], v[2]);
                return 0;
            }, 3),
            CtlTable.IntVec("tcp_wmem", () => [s.TcpWmemMin, s.TcpWmemDefault, s.TcpWmemMax], v =>
            {
                if (v[0] < 1 || v[1] < 1 || v[2] < 1) return -Errno.EINVAL;
                (s.TcpWmemMin, s.TcpWmemDefault, s.TcpWmemMax) = (v[0], v[1], v[2]);
                return 0;
            }, 3),
            CtlTable.IntVec("tcp_mem", () => [(int)s.TcpMemMin, (int)s.TcpMemPressure, (int)s.TcpMemMax], v =>
            {
                // proc_doulongvec_minmax without bounds: any three values, in pages.
                if (v[0] < 0 || v[1] < 0 || v[2] < 0) return -Errno.EINVAL;
                (s.TcpMemMin, s.TcpMemPressure, s.TcpMemMax) = (v[0], v[1], v[2]);
                return 0;
            }, 3),
            CtlTable.Int("tcp_max_orphans", () => s.TcpMaxOrphans, v => s.TcpMaxOrphans = v, 0),
            CtlTable.Int("tcp_max_tw_buckets", () => s.TcpMaxTwBuckets, v => s.TcpMaxTwBuckets = v, 0),
            CtlTable.Int("tcp_app_win", () => s.TcpAppWin, v => s.TcpAppWin = v, 0, 31),
            CtlTable.Bool("tcp_moderate_rcvbuf", () => s.TcpModerateRcvbuf, v => s.TcpModerateRcvbuf = v),
            CtlTable.Int("tcp_min_snd_mss", () => s.TcpMinSndMss, v => s.TcpMinSndMss = v, 48, 65535 - 40),
            CtlTable.Int("tcp_mtu_probing", () => s.TcpMtuProbing, v => s.TcpMtuProbing = v, 0, 2),
            CtlTable.Int("tcp_base_mss", () => s.TcpBaseMss, v => s.TcpBaseMss = v),
            CtlTable.Int("tcp_mtu_probe_floor", () => s.TcpMtuProbeFloor, v => s.TcpMtuProbeFloor = v, 48, 65535 - 40),
            CtlTable.Int("tcp_probe_threshold", () => s.TcpProbeThreshold, v => s.TcpProbeThreshold = v),
            CtlTable.Int("tcp_probe_interval", () => s.TcpProbeInterval, v => s.TcpProbeInterval = v, 0),
            CtlTable.String("tcp_congestion_control", () => s.TcpCongestionControl, name => TcpCong.TcpSetDefaultCongestionControl(net, name)),
            // Read-only (0444), as in Linux: root's write is refused with EACCES.
            new CtlTable("tcp_available_congestion_control", () => string.Join(' ', TcpCong.Available), _ => -Errno.EACCES),
            CtlTable.Int("tcp_ecn", () => s.TcpEcn, v => s.TcpEcn = v, 0, 2), // 3..5 are Accurate ECN modes in Linux 6.18: not implemented
            CtlTable.Bool("tcp_ecn_fallback", () => s.TcpEcnFallback, v => s.TcpEcnFallback = v),
            CtlTable.Int("tcp_pacing_ss_ratio", () => s.TcpPacingSsRatio, v => s.TcpPacingSsRatio = v, 0, 1000),
            CtlTable.Int("tcp_pacing_ca_ratio", () => s.TcpPacingCaRatio, v => s.TcpPacingCaRatio = v, 0, 1000),
            CtlTable.Bool("tcp_slow_start_after_idle", () => s.TcpSlowStartAfterIdle, v => s.TcpSlowStartAfterIdle = v),
            CtlTable.Int("tcp_challenge_ack_limit", () => s.TcpChallengeAckLimit, v => s.TcpChallengeAckLimit = v, 0),
            CtlTable.Int("tcp_invalid_ratelimit", () => s.TcpInvalidRatelimitMs, v => s.TcpInvalidRatelimitMs = v, 0),
            CtlTable.Int("tcp_reordering", () => s.TcpReordering, v => s.TcpReordering = v, 1),
            CtlTable.Int("tcp_max_reordering", () => s.TcpMaxReordering, v => s.TcpMaxReordering = v, 1),
            CtlTable.Int("tcp_recovery", () => s.TcpRecovery, v => s.TcpRecovery = v, 0),
            CtlTable.Int("tcp_frto", () => s.TcpFrto, v => s.TcpFrto = v, 0, 2),
            CtlTable.Int("tcp_early_retrans", () => s.TcpEarlyRetrans, v => s.TcpEarlyRetrans = v, 0, 4),
            CtlTable.Int("tcp_min_rtt_wlen", () => s.TcpMinRttWlenSec, v => s.TcpMinRttWlenSec = v, 0, 86400),
        ]);
        // module_param()s of the congestion control modules (/sys/module/tcp_*/parameters).
        TcpCubic.RegisterModuleParams(net);
        TcpDctcp.RegisterModuleParams(net);
    }

    /// <summary>An unsigned long within [min(), max()] (bounds read at write time: they may be other sysctls).</summary>
    /// <remarks>Mirrors proc_doulongvec_minmax() with extra1/extra2 pointing at other knobs.</remarks>
    private static CtlTable ULong(string name, Func<long> get, Action<long> set, Func<long> min, Func<long> max) =>
        new(name, () => get().ToString(System.Globalization.CultureInfo.InvariantCulture), v =>
        {
            if (!long.TryParse(v.Trim(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out long x) || x < min() || x > max())
                return -Errno.EINVAL;
            set(x);
            return 0;
        });

    /// <summary>
    /// A u8 knob read as a flag (nonzero: on), as Linux's proc_dou8vec_minmax entries without bounds are:
    /// any value 0..255 is taken and read back (tcp_timestamps=2 is Linux's "without random offset"; the
    /// stack treats every nonzero value as on), anything else is -EINVAL.
    /// </summary>
    private static CtlTable U8Flag(string name, Func<bool> get, Action<bool> set)
    {
        int raw = get() ? 1 : 0;
        return new CtlTable(name, () => (get() ? (raw != 0 ? raw : 1) : 0).ToString(System.Globalization.CultureInfo.InvariantCulture), v =>
        {
            if (!int.TryParse(v.Trim(), System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out int x) || x is < 0 or > 255)
                return -Errno.EINVAL;
            raw = x;
            set(x != 0);
            return 0;
        });
    }
}
