using System.Runtime.CompilerServices;
using System.Text;

namespace NetStack.Core;

/// <summary>Ip: fields of /proc/net/snmp, same names and order. <remarks>Mirrors include/uapi/linux/snmp.h: IPSTATS_MIB_*.</remarks></summary>
public enum IpMib
{
    Forwarding, DefaultTTL, InReceives, InHdrErrors, InAddrErrors, ForwDatagrams, InUnknownProtos,
    InDiscards, InDelivers, OutRequests, OutDiscards, OutNoRoutes, ReasmTimeout, ReasmReqds,
    ReasmOKs, ReasmFails, FragOKs, FragFails, FragCreates, OutTransmits,
}

/// <summary>
/// IpExt: the IPv4 counters /proc/net/netstat shows beside /proc/net/snmp's Ip line, same names and order.
/// <remarks>Mirrors the rest of IPSTATS_MIB_* (snmp4_ipextstats_list in net/ipv4/proc.c).</remarks>
/// </summary>
public enum IpExtMib
{
    InNoRoutes, InTruncatedPkts, InMcastPkts, OutMcastPkts, InBcastPkts, OutBcastPkts, InOctets, OutOctets,
    InMcastOctets, OutMcastOctets, InBcastOctets, OutBcastOctets, InCsumErrors, InNoECTPkts, InECT1Pkts,
    InECT0Pkts, InCEPkts, ReasmOverlaps,
}

/// <summary>Icmp: fields of /proc/net/snmp. <remarks>Mirrors ICMP_MIB_* and the per-type IcmpMsg counters folded in.</remarks></summary>
public enum IcmpMib
{
    InMsgs, InErrors, InCsumErrors, InDestUnreachs, InTimeExcds, InParmProbs, InSrcQuenchs, InRedirects,
    InEchos, InEchoReps, InTimestamps, InTimestampReps, InAddrMasks, InAddrMaskReps,
    OutMsgs, OutErrors, OutRateLimitGlobal, OutRateLimitHost, OutDestUnreachs, OutTimeExcds, OutParmProbs,
    OutSrcQuenchs, OutRedirects, OutEchos, OutEchoReps, OutTimestamps, OutTimestampReps, OutAddrMasks, OutAddrMaskReps,
}

/// <summary>Tcp: fields of /proc/net/snmp. <remarks>Mirrors TCP_MIB_*.</remarks></summary>
public enum TcpMib
{
    RtoAlgorithm, RtoMin, RtoMax, MaxConn, ActiveOpens, PassiveOpens, AttemptFails, EstabResets, CurrEstab,
    InSegs, OutSegs, RetransSegs, InErrs, OutRsts, InCsumErrors,
}

/// <summary>Udp: fields of /proc/net/snmp. <remarks>Mirrors UDP_MIB_*.</remarks></summary>
public enum UdpMib
{
    InDatagrams, NoPorts, InErrors, OutDatagrams, RcvbufErrors, SndbufErrors, InCsumErrors, IgnoredMulti, MemErrors,
}

/// <summary>TcpExt: a subset of /proc/net/netstat's LINUX_MIB_* that this stack maintains.</summary>
public enum LinuxMib
{
    SyncookiesSent, EmbryonicRsts, PruneCalled, OfoPruned, TW, TWRecycled, DelayedACKs, ListenOverflows, ListenDrops,
    TCPHPHits, TCPPureAcks, TCPLossUndo, TCPTimeouts, TCPFastRetrans, TCPSlowStartRetrans, TCPLostRetransmit,
    TCPSackRecovery, TCPRenoRecovery, TCPDSACKRecv, TCPAbortOnData, TCPAbortOnClose, TCPAbortOnMemory,
    TCPAbortOnTimeout, TCPAbortOnLinger, TCPBacklogDrop, TCPRcvQDrop, TCPOFOQueue, TCPOFODrop, TCPOFOMerge,
    TCPSynRetrans, TCPOrigDataSent, TCPDelivered, TCPZeroWindowDrop, TCPRcvCoalesce, TCPChallengeACK, TCPSACKDiscard,
    TCPLossProbes, TCPLossProbeRecovery, TCPSACKReorder, TCPFullUndo, TCPDSACKUndo,
    ArpFilter,
}

/// <summary>
/// Why a packet was dropped. Every drop in the stack names one of these and is counted,
/// so "it was dropped" is never silent. <remarks>Mirrors include/net/dropreason-core.h: enum skb_drop_reason.</remarks>
/// </summary>
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
}

/// <summary>A fixed array of 64-bit counters indexed by an enum; updated under the stack lock.</summary>
public sealed class MibTable<T> where T : struct, Enum
{
    private static readonly string[] FieldNames = Enum.GetNames<T>();
    private readonly long[] _values = new long[FieldNames.Length];

    public ref long this[T field]
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => ref _values[Unsafe.As<T, int>(ref field)];
    }

    public int Length => _values.Length;
    public string NameAt(int i) => FieldNames[i];
    public long ValueAt(int i) => Volatile.Read(ref _values[i]);

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
    public readonly MibTable<IpMib> Ip = new();
    public readonly MibTable<IpExtMib> IpExt = new();
    public readonly MibTable<IcmpMib> Icmp = new();
    public readonly MibTable<TcpMib> Tcp = new();
    public readonly MibTable<UdpMib> Udp = new();
    public readonly MibTable<LinuxMib> TcpExt = new();
    /// <summary>Drops by reason (what `perf script`/dropwatch would show for kfree_skb_reason).</summary>
    public readonly MibTable<SkbDropReason> Drops = new();

    /// <summary>The text of /proc/net/snmp (Ip, Icmp, Tcp, Udp) followed by /proc/net/netstat's TcpExt and IpExt and the drop reasons.</summary>
    public string Format(bool includeZeroDrops = false)
    {
        var sb = new StringBuilder();
        Ip.AppendProcFormat(sb, "Ip");
        Icmp.AppendProcFormat(sb, "Icmp");
        Tcp.AppendProcFormat(sb, "Tcp");
        Udp.AppendProcFormat(sb, "Udp");
        TcpExt.AppendProcFormat(sb, "TcpExt");
        IpExt.AppendProcFormat(sb, "IpExt");
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
