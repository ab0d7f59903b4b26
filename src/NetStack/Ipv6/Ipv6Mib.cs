// The enum members are the kernel's own counter names as /proc/net/snmp6 prints them; their meaning is RFC 4293's ipSystemStatsTable for IPv6.
#pragma warning disable CS1591
using NetStack.Core;

namespace NetStack.Ipv6;

/// <summary>
/// Ip6: the IPv6 counters of /proc/net/snmp6, same names and order (one "name value" line each);
/// their meaning is the IP-MIB's ipSystemStatsTable for IPv6 (RFC 4293).
/// <see cref="Ip6ReasmOverlaps"/> is kept as Linux keeps it (IPSTATS_MIB_REASM_OVERLAPS in the
/// IPv6 statistics) though /proc/net/snmp6 does not print it.
/// </summary>
/// <remarks>Mirrors include/uapi/linux/snmp.h: IPSTATS_MIB_* (snmp6_ipstats_list in net/ipv6/proc.c).</remarks>
internal enum Ipv6Mib
{
    Ip6InReceives, Ip6InHdrErrors, Ip6InTooBigErrors, Ip6InNoRoutes, Ip6InAddrErrors, Ip6InUnknownProtos,
    Ip6InTruncatedPkts, Ip6InDiscards, Ip6InDelivers, Ip6OutForwDatagrams, Ip6OutRequests, Ip6OutDiscards,
    Ip6OutNoRoutes, Ip6ReasmTimeout, Ip6ReasmReqds, Ip6ReasmOKs, Ip6ReasmFails, Ip6FragOKs, Ip6FragFails,
    Ip6FragCreates, Ip6InMcastPkts, Ip6OutMcastPkts, Ip6InOctets, Ip6OutOctets, Ip6InMcastOctets,
    Ip6OutMcastOctets, Ip6InBcastOctets, Ip6OutBcastOctets, Ip6InNoECTPkts, Ip6InECT1Pkts, Ip6InECT0Pkts,
    Ip6InCEPkts, Ip6OutTransmits,
    Ip6ReasmOverlaps,
}

/// <summary>The IPv6 statistics of a namespace (net->mib.ipv6_statistics).</summary>
internal static class NetNamespaceIpv6Mib
{
    /// <summary>Allocates the table in every namespace.</summary>
    /// <remarks>Mirrors net/ipv6/af_inet6.c: ipv6_init_mibs() (inet6_net_init).</remarks>
    internal sealed class Ipv6MibNetOps : PernetOperations
    {
        public static readonly Ipv6MibNetOps Instance = new();
        private Ipv6MibNetOps() { }
        public override string Name => "ipv6_mib";
        public override void Init(NetNamespace net) => net.NetAssignGeneric(Id, new MibTable<Ipv6Mib>());
    }

    /// <summary>Registers <see cref="Ipv6MibNetOps"/> once (inet6_init may call it too; the second call does nothing).</summary>
    internal static void Ipv6MibInit()
    {
        if (Ipv6MibNetOps.Instance.Id < 0) NetNamespace.RegisterPernetSubsys(Ipv6MibNetOps.Instance);
    }

    extension(NetNamespace net)
    {
        /// <summary>The Ip6 counters (/proc/net/snmp6's Ip6 lines).</summary>
        internal MibTable<Ipv6Mib> Ip6Mib => net.NetGeneric<MibTable<Ipv6Mib>>(Ipv6MibNetOps.Instance.Id);
    }
}
