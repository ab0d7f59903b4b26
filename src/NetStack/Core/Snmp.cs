// The enum members are the kernel's own counter names (/proc/net/snmp, /proc/net/netstat, skb_drop_reason); their documentation is the kernel header or RFC each type's summary cites.
#pragma warning disable CS1591
using System.Runtime.CompilerServices;
using System.Text;

namespace NetStack.Core;

/// <summary>
/// Ip: the IPv4 counters of /proc/net/snmp's Ip line, same names and order; their meaning is the
/// IP-MIB's (RFC 1213 MIB-II ip group, RFC 4293 ipSystemStatsTable).
/// </summary>
/// <remarks>Mirrors include/uapi/linux/snmp.h: IPSTATS_MIB_* (snmp4_ipstats_list in net/ipv4/proc.c).</remarks>
public enum IpMib
{
    Forwarding, DefaultTTL, InReceives, InHdrErrors, InAddrErrors, ForwDatagrams, InUnknownProtos,
    InDiscards, InDelivers, OutRequests, OutDiscards, OutNoRoutes, ReasmTimeout, ReasmReqds,
    ReasmOKs, ReasmFails, FragOKs, FragFails, FragCreates, OutTransmits,
}

/// <summary>
/// IpExt: the IPv4 counters /proc/net/netstat shows beside /proc/net/snmp's Ip line, same names and order;
/// their meaning is RFC 4293's ipSystemStatsTable (octets, multicast/broadcast, truncated, no-route) and
/// RFC 3168's ECN codepoints.
/// </summary>
/// <remarks>Mirrors the rest of include/uapi/linux/snmp.h's IPSTATS_MIB_* (snmp4_ipextstats_list in net/ipv4/proc.c).</remarks>
public enum IpExtMib
{
    InNoRoutes, InTruncatedPkts, InMcastPkts, OutMcastPkts, InBcastPkts, OutBcastPkts, InOctets, OutOctets,
    InMcastOctets, OutMcastOctets, InBcastOctets, OutBcastOctets, InCsumErrors, InNoECTPkts, InECT1Pkts,
    InECT0Pkts, InCEPkts, ReasmOverlaps,
}

/// <summary>
/// Icmp: the counters of /proc/net/snmp's Icmp line; their meaning is the ICMP group of RFC 1213/RFC 2011
/// (icmpStatsTable and icmpMsgStatsTable of RFC 4293).
/// </summary>
/// <remarks>Mirrors include/uapi/linux/snmp.h: ICMP_MIB_*, with the per-type IcmpMsg counters folded in.</remarks>
public enum IcmpMib
{
    InMsgs, InErrors, InCsumErrors, InDestUnreachs, InTimeExcds, InParmProbs, InSrcQuenchs, InRedirects,
    InEchos, InEchoReps, InTimestamps, InTimestampReps, InAddrMasks, InAddrMaskReps,
    OutMsgs, OutErrors, OutRateLimitGlobal, OutRateLimitHost, OutDestUnreachs, OutTimeExcds, OutParmProbs,
    OutSrcQuenchs, OutRedirects, OutEchos, OutEchoReps, OutTimestamps, OutTimestampReps, OutAddrMasks, OutAddrMaskReps,
}

/// <summary>
/// Tcp: the counters of /proc/net/snmp's Tcp line; their meaning is the TCP-MIB's (RFC 2012, updated by RFC 4022).
/// </summary>
/// <remarks>Mirrors include/uapi/linux/snmp.h: TCP_MIB_*.</remarks>
public enum TcpMib
{
    RtoAlgorithm, RtoMin, RtoMax, MaxConn, ActiveOpens, PassiveOpens, AttemptFails, EstabResets, CurrEstab,
    InSegs, OutSegs, RetransSegs, InErrs, OutRsts, InCsumErrors,
}

/// <summary>
/// Udp: the counters of /proc/net/snmp's Udp line; their meaning is the UDP-MIB's (RFC 2013, updated by RFC 4113),
/// plus Linux's buffer/memory error counters.
/// </summary>
/// <remarks>Mirrors include/uapi/linux/snmp.h: UDP_MIB_*.</remarks>
public enum UdpMib
{
    InDatagrams, NoPorts, InErrors, OutDatagrams, RcvbufErrors, SndbufErrors, InCsumErrors, IgnoredMulti, MemErrors,
}

/// <summary>
/// TcpExt: the subset of /proc/net/netstat's TcpExt counters that this stack maintains, in Linux's order
/// (Linux-specific, no RFC; documented by include/uapi/linux/snmp.h and Documentation/networking/snmp_counter.rst).
/// </summary>
/// <remarks>Mirrors include/uapi/linux/snmp.h: LINUX_MIB_* (snmp4_net_list in net/ipv4/proc.c).</remarks>
public enum LinuxMib
{
    SyncookiesSent, SyncookiesRecv, SyncookiesFailed, EmbryonicRsts, PruneCalled, OfoPruned, ArpFilter, TW, TWRecycled, DelayedACKs, ListenOverflows,
    ListenDrops, TCPHPHits, TCPPureAcks, TCPRenoRecovery, TCPSackRecovery, TCPSACKReorder, TCPTSReorder, TCPFullUndo,
    TCPPartialUndo, TCPDSACKUndo,
    TCPLossUndo, TCPLostRetransmit, TCPFastRetrans, TCPSlowStartRetrans, TCPTimeouts, TCPLossProbes,
    TCPLossProbeRecovery, TCPDSACKRecv, TCPAbortOnData, TCPAbortOnClose, TCPAbortOnMemory, TCPAbortOnTimeout,
    TCPAbortOnLinger, TCPSACKDiscard, TCPBacklogDrop, TCPReqQFullDoCookies, TCPReqQFullDrop, TCPRcvCoalesce, TCPOFOQueue, TCPOFODrop, TCPOFOMerge,
    TCPChallengeACK, TCPSynRetrans, TCPOrigDataSent, TCPHystartTrainDetect, TCPHystartTrainCwnd, TCPHystartDelayDetect,
    TCPHystartDelayCwnd, TCPDelivered, TCPDeliveredCE, TCPZeroWindowDrop, TCPRcvQDrop,
    // Appended rather than at Linux's places, so that the numbers above stay as published.
    RcvPruned, TCPMemoryPressures, TCPMemoryPressuresChrono, TCPTimeWaitOverflow,
    TCPFastOpenActive, TCPFastOpenActiveFail, TCPFastOpenPassive, TCPFastOpenPassiveFail, TCPFastOpenListenOverflow,
    TCPFastOpenCookieReqd, TCPFastOpenPassiveAltKey, TCPMinTTLDrop, TCPSpuriousRTOs, TCPDSACKOfoRecv,
    TCPMTUPFail, TCPMTUPSuccess,
    TCPRenoRecoveryFail, TCPSackRecoveryFail, TCPRenoFailures, TCPSackFailures, TCPLossFailures,
    TCPDSACKIgnoredOld, TCPDSACKIgnoredNoUndo, TCPDSACKIgnoredDubious, TCPDSACKRecvSegs, TCPHPAcks,
}

/// <summary>
/// Kernel: the stack's faults contained instead of propagating (see Core/Panic.cs). OopsCount is the
/// kernel's oops_count (/sys/kernel/oops_count, kernel/panic.c): faults in a handler, a congestion
/// control, a socket callback, a timer or the stack itself that were contained because
/// kernel.panic_on_oops is 0. OopsSkbLeaked (this stack's own) counts the packet buffers such a
/// fault left neither in their pool nor on a queue: they are never freed a second time, so a pool
/// check expects Total - FreeCount to be short by at most this many. RefcountWarn counts what the
/// kernel's refcount_t WARNs about ("refcount_t: underflow; use-after-free", "decrement hit 0;
/// leaking memory"): a sock_put below zero, or a __sock_put that dropped the last reference without
/// freeing; the count is kept and nothing is freed, never a crash. SkFreeBusy (this stack's own)
/// counts socks whose last reference went while the stack still pointed at them (hashed, a timer
/// pending, a queue not empty): such a sock is left to the collector instead of its slab cache.
/// </summary>
public enum KernelMib
{
    OopsCount, OopsSkbLeaked, RefcountWarn, SkFreeBusy,
}

/// <summary>
/// ArpCache: the neighbour table's statistics as /proc/net/stat/arp_cache and `ip -s ntable` show them
/// (Linux-specific, no RFC), in struct neigh_statistics' order, after the table's entry count.
/// Entries is a gauge (filled in when read); HashGrows, RcvProbesMcast, RcvProbesUcast and
/// PeriodicGcRuns stay zero (no resizable hash, no IPv6 probes, per-entry GC timers).
/// </summary>
/// <remarks>Mirrors include/net/neighbour.h: struct neigh_statistics (NEIGH_CACHE_STAT_INC).</remarks>
public enum NeighStat
{
    Entries, Allocs, Destroys, HashGrows, ResFailed, Lookups, Hits, RcvProbesMcast, RcvProbesUcast,
    PeriodicGcRuns, ForcedGcRuns, UnresDiscards, TableFulls,
}

/// <summary>
/// Why a packet was dropped. Every drop in the stack names one of these and is counted,
/// so "it was dropped" is never silent. The members are the kernel's SKB_DROP_REASON_* names in PascalCase
/// (plus a few of this stack's own), documented in include/net/dropreason-core.h.
/// </summary>
/// <remarks>Mirrors include/net/dropreason-core.h: enum skb_drop_reason.</remarks>
public enum SkbDropReason
{
    NotSpecified,
    PktTooSmall,          // frame shorter than the header it claims
    UnhandledProto,       // EtherType or IP protocol nobody handles
    OtherHost,            // not addressed to us (MAC or IP)
    NoDevice,
    IpCsum,
    IpInHdr,              // bad version / IHL
    IpInAddrErrors,
    IpRpfilter,
    IpTtlExceeded,
    IpFragUnsupported,
    IpOptionsUnsupported,
    IpNoProto,            // no handler for the IP protocol (ip_protocol_deliver_rcu)
    IpInvalidSource,
    IpInvalidDest,
    IpOutNoRoute,
    PktLenInvalid,        // total length inconsistent with the frame
    ArpTruncated,
    ArpInvalid,           // bad hardware/protocol type or lengths
    ArpNotForUs,
    NeighQueueFull,
    NeighFailed,
    NeighDead,
    IcmpCsum,
    IcmpTruncated,
    IcmpRateLimited,
    InvalidProto,         // e.g. an ICMP type that must not be sent to a broadcast address
    UdpCsum,
    UdpNoSocket,
    SocketRcvBuff,
    TcpCsum,
    TcpInvalidSequence,
    TcpNoSocket,
    TcpFlags,
    TcpZeroWindow,
    TcpOldData,
    TcpOverWindow,
    TcpOfoDrop,
    TcpResetAck,
    TcpListenOverflow,
    TcpInvalidAck,
    NoBuffers,
    DevTxError,
    FaultInjected,
    FragDup,              // an exact duplicate fragment
    FragOverlap,          // overlapping fragments: the whole datagram is dropped
    FragReasmTimeout,     // reassembly gave up (timeout or memory)
    FragTooFar,           // ipfrag_max_dist: the queue was stale, its fragments dropped (SKB_DROP_REASON_FRAG_TOO_FAR)
    FragMemLimit,         // reassembly memory above ipfrag_high_thresh: the fragment is not queued (ip_defrag's drop)
    NeighCreateFail,      // the neighbour table was full even after forced GC (gc_thresh3)
    ProtoMem,             // the protocol's memory (udp_mem) is exhausted (SKB_DROP_REASON_PROTO_MEM)
    IpInNoRoutes,         // no route for a packet to forward (ip_error(), IpExt InNoRoutes)
    PktTooBig,            // DF set and bigger than the next hop's MTU (ip_forward(), frag needed sent)
    TcpFastopen,          // a segment a Fast Open child in SYN_RECV does not take (SKB_DROP_REASON_TCP_FASTOPEN)
    TcpMinttl,            // a TTL below the socket's IP_MINTTL (SKB_DROP_REASON_TCP_MINTTL)
    Ipv6NdiscHopLimit,    // an ND message with a hop limit other than 255 (SKB_DROP_REASON_IPV6_NDISC_HOP_LIMIT)
    Ipv6NdiscBadCode,     // an ND message with a code other than 0 (SKB_DROP_REASON_IPV6_NDISC_BAD_CODE)
    Ipv6NdiscBadOptions,  // malformed ND options (SKB_DROP_REASON_IPV6_NDISC_BAD_OPTIONS)
    Ipv6NdiscNsOtherhost, // a solicitation for an address that is not ours (SKB_DROP_REASON_IPV6_NDISC_NS_OTHERHOST)
}

/// <summary>A fixed array of 64-bit counters indexed by an enum; updated under the stack lock.</summary>
public sealed class MibTable<T> where T : struct, Enum
{
    private static readonly string[] FieldNames = Enum.GetNames<T>();
    private readonly long[] _values = new long[FieldNames.Length];

    /// <summary>The counter for <paramref name="field"/>, by reference so callers can increment it in place.</summary>
    /// <param name="field">The MIB field.</param>
    public ref long this[T field]
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => ref _values[Unsafe.As<T, int>(ref field)];
    }

    /// <summary>The number of counters (the number of members of <typeparamref name="T"/>).</summary>
    public int Length => _values.Length;
    /// <summary>The name of the counter at index <paramref name="i"/> (the enum member's name).</summary>
    public string NameAt(int i) => FieldNames[i];
    /// <summary>The current value of the counter at index <paramref name="i"/> (a volatile read).</summary>
    public long ValueAt(int i) => Volatile.Read(ref _values[i]);

    /// <summary>The current value of the counter named <paramref name="name"/>.</summary>
    /// <exception cref="ArgumentException">No member of <typeparamref name="T"/> has that name.</exception>
    public long Get(string name)
    {
        int i = Array.IndexOf(FieldNames, name);
        return i < 0 ? throw new ArgumentException($"no counter {name} in {typeof(T).Name}") : ValueAt(i);
    }

    /// <summary>Two lines in /proc/net/snmp format: "Prefix: names..." and "Prefix: values...".</summary>
    public void AppendProcFormat(StringBuilder sb, string prefix)
    {
        sb.Append(prefix).Append(':');
        foreach (var n in FieldNames) sb.Append(' ').Append(n);
        sb.Append('\n').Append(prefix).Append(':');
        for (int i = 0; i < _values.Length; i++) sb.Append(' ').Append(ValueAt(i));
        sb.Append('\n');
    }
}

/// <summary>The MIB counters of one network namespace (net->mib).</summary>
public sealed class SnmpMib
{
    /// <summary>The Ip counters (net->mib.ip_statistics, /proc/net/snmp's Ip line).</summary>
    public readonly MibTable<IpMib> Ip = new();
    /// <summary>The IpExt counters (the rest of net->mib.ip_statistics, /proc/net/netstat's IpExt line).</summary>
    public readonly MibTable<IpExtMib> IpExt = new();
    /// <summary>The Icmp counters (net->mib.icmp_statistics and icmpmsg_statistics).</summary>
    public readonly MibTable<IcmpMib> Icmp = new();
    /// <summary>The Tcp counters (net->mib.tcp_statistics).</summary>
    public readonly MibTable<TcpMib> Tcp = new();
    /// <summary>The Udp counters (net->mib.udp_statistics).</summary>
    public readonly MibTable<UdpMib> Udp = new();
    /// <summary>The TcpExt counters (net->mib.net_statistics, /proc/net/netstat's TcpExt line).</summary>
    public readonly MibTable<LinuxMib> TcpExt = new();
    /// <summary>The contained faults (oops_count) and the buffers they left behind.</summary>
    public readonly MibTable<KernelMib> Kernel = new();
    /// <summary>The ARP neighbour table's statistics (arp_tbl.stats, /proc/net/stat/arp_cache).</summary>
    public readonly MibTable<NeighStat> ArpCache = new();
    /// <summary>Drops by reason (what `perf script`/dropwatch would show for kfree_skb_reason).</summary>
    public readonly MibTable<SkbDropReason> Drops = new();

    /// <summary>The text of /proc/net/snmp (Ip, Icmp, Tcp, Udp) followed by /proc/net/netstat's TcpExt and IpExt, the Kernel line (contained faults) and the drop reasons.</summary>
    /// <param name="includeZeroDrops">Also list drop reasons whose count is zero.</param>
    public string Format(bool includeZeroDrops = false)
    {
        var sb = new StringBuilder();
        Ip.AppendProcFormat(sb, "Ip");
        Icmp.AppendProcFormat(sb, "Icmp");
        Tcp.AppendProcFormat(sb, "Tcp");
        Udp.AppendProcFormat(sb, "Udp");
        TcpExt.AppendProcFormat(sb, "TcpExt");
        IpExt.AppendProcFormat(sb, "IpExt");
        Kernel.AppendProcFormat(sb, "Kernel");
        sb.Append("Drops:");
        bool any = false;
        for (int i = 0; i < Drops.Length; i++)
        {
            long v = Drops.ValueAt(i);
            if (v == 0 && !includeZeroDrops) continue;
            sb.Append(' ').Append(Drops.NameAt(i)).Append('=').Append(v);
            any = true;
        }
        if (!any) sb.Append(" none");
        sb.Append('\n');
        return sb.ToString();
    }
}
