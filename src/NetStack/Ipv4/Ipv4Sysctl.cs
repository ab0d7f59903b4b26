namespace NetStack.Ipv4;

/// <summary>
/// The IPv4 sysctls of a namespace, with Linux's defaults (Documentation/networking/ip-sysctl.rst).
/// <remarks>Mirrors struct netns_ipv4's sysctl_* fields and the neighbour table's parms.</remarks>
/// </summary>
public sealed class Ipv4Sysctl
{
    /// <summary>net.ipv4.ip_default_ttl</summary>
    public int IpDefaultTtl = 64;
    /// <summary>net.ipv4.ipfrag_time: seconds a datagram may take to reassemble.</summary>
    public int IpfragTimeSec = 30;
    /// <summary>net.ipv4.ipfrag_high_thresh: bytes of fragments held before new datagrams are refused.</summary>
    public long IpfragHighThresh = 4 * 1024 * 1024;
    /// <summary>net.ipv4.ip_forward (this stack is a host: forwarding is not implemented).</summary>
    public bool IpForward;
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

    // Neighbour (ARP) parameters: net.ipv4.neigh.default.*
    /// <summary>base_reachable_time_ms: how long a confirmed entry stays REACHABLE.</summary>
    public int NeighBaseReachableTimeMs = 30_000;
    /// <summary>retrans_time_ms: interval between ARP probes.</summary>
    public int NeighRetransTimeMs = 1_000;
    /// <summary>delay_first_probe_time: DELAY before a unicast probe of a STALE entry in use.</summary>
    public int NeighDelayFirstProbeTimeMs = 5_000;
    /// <summary>gc_stale_time: an unused STALE entry is removed after this.</summary>
    public int NeighGcStaleTimeMs = 60_000;
    /// <summary>mcast_solicit / ucast_solicit.</summary>
    public int NeighMcastSolicit = 3, NeighUcastSolicit = 3;
    /// <summary>unres_qlen: packets queued per unresolved neighbour.</summary>
    public int NeighUnresQlen = 101;
}
