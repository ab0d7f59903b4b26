using System.Text;
using NetStack.Core;
using NetStack.Ethernet;
using NetStack.Ipv4;
using NetStack.Wire;

namespace NetStack.Ipv6;

/// <summary>The ICMPv6 counters of /proc/net/snmp6, under the kernel's names.</summary>
/// <remarks>Mirrors net/ipv6/proc.c: snmp6_icmp6_list and the per-type names of icmp6type2name[].</remarks>
internal enum Icmp6Mib
{
    Icmp6InMsgs, Icmp6InErrors, Icmp6OutMsgs, Icmp6OutErrors, Icmp6InCsumErrors, Icmp6OutRateLimitHost,
    Icmp6InDestUnreachs, Icmp6InPktTooBigs, Icmp6InTimeExcds, Icmp6InParmProblems, Icmp6InEchos, Icmp6InEchoReplies,
    Icmp6InGroupMembQueries, Icmp6InGroupMembResponses, Icmp6InGroupMembReductions, Icmp6InRouterSolicits,
    Icmp6InRouterAdvertisements, Icmp6InNeighborSolicits, Icmp6InNeighborAdvertisements, Icmp6InRedirects, Icmp6InMLDv2Reports,
    Icmp6OutDestUnreachs, Icmp6OutPktTooBigs, Icmp6OutTimeExcds, Icmp6OutParmProblems, Icmp6OutEchos, Icmp6OutEchoReplies,
    Icmp6OutGroupMembQueries, Icmp6OutGroupMembResponses, Icmp6OutGroupMembReductions, Icmp6OutRouterSolicits,
    Icmp6OutRouterAdvertisements, Icmp6OutNeighborSolicits, Icmp6OutNeighborAdvertisements, Icmp6OutRedirects, Icmp6OutMLDv2Reports,
}

/// <summary>
/// The net.ipv6.* sysctls this stack reads, with Linux's defaults (conf.default.* stands for every
/// device: there is no per-device copy yet).
/// </summary>
/// <remarks>Mirrors struct netns_sysctl_ipv6, ipv6_devconf_dflt and nd_tbl's neigh_parms.</remarks>
internal sealed class Ipv6Sysctl
{
    /// <summary>net.ipv6.conf.default.hop_limit: the hop limit of unicast packets this host sends.</summary>
    public int HopLimit = 64;
    /// <summary>net.ipv6.route.mtu_expires: how long a learned path MTU lasts, in seconds (ip6_rt_mtu_expires).</summary>
    public int Ip6RtMtuExpiresSec = 600;
    /// <summary>net.ipv6.conf.all.forwarding (0: a host).</summary>
    public bool Forwarding;
    /// <summary>net.ipv6.conf.all.disable_ipv6.</summary>
    public bool DisableIpv6;
    /// <summary>net.ipv6.icmp.ratelimit: ms between rate-limited ICMPv6 messages to one host.</summary>
    public int IcmpRatelimitMs = 1000;
    /// <summary>net.ipv6.icmp.ratemask: the types that are rate limited ("0-1,3-127": every error but packet too big).</summary>
    public UInt128 IcmpRatemask = UInt128.MaxValue ^ (UInt128.One << Icmpv6Type.PktTooBig);
    /// <summary>net.ipv6.icmp.echo_ignore_all / echo_ignore_multicast.</summary>
    public bool IcmpEchoIgnoreAll, IcmpEchoIgnoreMulticast;
    /// <summary>net.ipv6.max_hbh_opts_number / max_dst_opts_number: non-padding options allowed (IP6_DEFAULT_MAX_*_OPTS_CNT).</summary>
    public int MaxHbhOptsCnt = 8, MaxDstOptsCnt = 8;
    /// <summary>net.ipv6.max_hbh_length / max_dst_opts_length (INT_MAX: no limit).</summary>
    public int MaxHbhOptsLen = int.MaxValue, MaxDstOptsLen = int.MaxValue;

    // Address configuration (ipv6_devconf_dflt: conf.default.*).
    /// <summary>accept_dad: 0 no duplicate address detection, 1 detect (2: also disable IPv6 on a link-local duplicate, not modelled).</summary>
    public int AcceptDad = 1;
    /// <summary>dad_transmits: the neighbour solicitations DAD sends (0: addresses are valid at once).</summary>
    public int DadTransmits = 1;
    /// <summary>enhanced_dad: a nonce option in DAD solicitations, so a looped-back probe is told from a duplicate (RFC 7527).</summary>
    public bool EnhancedDad = true;
    /// <summary>accept_ra: 1 accept router advertisements unless forwarding, 2 even when forwarding, 0 never.</summary>
    public int AcceptRa = 1;
    /// <summary>accept_ra_defrtr / accept_ra_pinfo / accept_ra_mtu.</summary>
    public bool AcceptRaDefrtr = true, AcceptRaPinfo = true, AcceptRaMtu = true;
    /// <summary>autoconf: make addresses from advertised prefixes (SLAAC).</summary>
    public bool Autoconf = true;
    /// <summary>rtr_solicits: router solicitations to send (-1: without end, with backoff up to rtr_solicit_max_interval).</summary>
    public int RtrSolicits = -1;
    /// <summary>rtr_solicit_interval / rtr_solicit_max_interval / rtr_solicit_delay, in ms (the sysctls are in seconds).</summary>
    public int RtrSolicitIntervalMs = 4_000, RtrSolicitMaxIntervalMs = 3_600_000, RtrSolicitDelayMs = 1_000;
    /// <summary>mldv2_unsolicited_report_interval (ms).</summary>
    public int Mldv2UnsolicitedReportIntervalMs = 1_000;
    /// <summary>net.ipv6.mld_qrv: the robustness variable until a querier says otherwise.</summary>
    public int MldQrv = 2;
    /// <summary>
    /// Not a Linux knob: false keeps MLD silent (memberships still filter frames). The unit-test
    /// assembly turns it off (with DAD and RS) in every namespace through its own pernet
    /// operations, so tests that write every frame by hand see only theirs; a real stack keeps it on.
    /// </summary>
    public bool MldReports = true;

    /// <summary>Back to Linux's values for duplicate address detection, router solicitation and MLD reports.</summary>
    internal void LinuxAddrconfDefaults()
    {
        AcceptDad = 1;
        DadTransmits = 1;
        RtrSolicits = -1;
        MldReports = true;
    }

    /// <summary>nd_tbl's parameters: net.ipv6.neigh.default.* (the same class and names as arp_tbl's).</summary>
    public readonly NeighParms Neigh = new();
}

/// <summary>
/// The handler of one IPv6 next-header value in inet6_protos[]: an upper layer (ICMPv6, later TCP and
/// UDP) or an extension header (destination options, routing, fragment), which returns a positive
/// value to have the next header dispatched in turn.
/// </summary>
/// <remarks>Mirrors include/net/protocol.h: struct inet6_protocol (handler, flags INET6_PROTO_FINAL).</remarks>
internal sealed class Inet6Protocol(Func<SkBuff, int> handler, bool final, Action<SkBuff, byte, byte, uint>? errHandler = null)
{
    /// <summary>err_handler: an ICMPv6 error (type, code, info) quoting a packet of this protocol (skb.Data at the quoted IPv6 header; the buffer is not taken).</summary>
    public Action<SkBuff, byte, byte, uint>? ErrHandler { get; } = errHandler;
    /// <summary>Takes the buffer (Data at this header, NetworkHeader at the IPv6 header): 0 delivered, &lt;0 dropped (freed), &gt;0 resubmit (IP6CB nhoff and TransportHeader moved on; the buffer is kept).</summary>
    public Func<SkBuff, int> Handler { get; } = handler;
    /// <summary>INET6_PROTO_FINAL: an upper-layer protocol, after which no extension header may follow.</summary>
    public bool Final { get; } = final;
}

/// <summary>
/// The IPv6 state of one namespace, as struct net's <c>ipv6</c> member groups it: sysctls, the
/// routing table, the neighbour discovery table, the per-device inet6_dev, the protocol handlers,
/// the ICMPv6 rate-limit peers and the MIB counters. Reached as <c>net.Ipv6</c>.
/// <remarks>Mirrors include/net/netns/ipv6.h: struct netns_ipv6.</remarks>
/// </summary>
internal sealed class NetnsIpv6
{
    private readonly NetNamespace _net;

    internal NetnsIpv6(NetNamespace net)
    {
        _net = net;
        Fib6 = new Fib6Table(net);
        NdTbl = new NeighTable(net, NdiscNeighOps.Instance, NdiscCache);
    }

    /// <summary>Free TCP socks of AF_INET6 (tcpv6_prot.slab, "TCPv6"), as <see cref="Ipv4.NetnsIpv4.TcpSockCache"/>.</summary>
    internal readonly Core.KmemCache<Ipv4.TcpSock> TcpSockCache = new("TCPv6", Ipv4.NetnsIpv4.SlabLimit);

    /// <summary>net->ipv6.sysctl and the default devconf.</summary>
    public readonly Ipv6Sysctl Sysctl = new();
    /// <summary>The routing table (fib6_main_tbl and fib6_local_tbl in one).</summary>
    public readonly Fib6Table Fib6;
    /// <summary>nd_tbl: the neighbour discovery cache (the ARP table's code, 16-byte keys).</summary>
    public readonly NeighTable NdTbl;
    /// <summary>nd_tbl.stats (/proc/net/stat/ndisc_cache).</summary>
    public readonly MibTable<NeighStat> NdiscCache = new();
    /// <summary>net->mib.icmpv6_statistics and icmpv6msg_statistics.</summary>
    public readonly MibTable<Icmp6Mib> Icmp6Stats = new();
    /// <summary>net->mib.udp_stats_in6: the UDP counters of IPv6 datagrams (Udp6* in /proc/net/snmp6, same order as UDP's).</summary>
    public readonly MibTable<UdpMib> Udp6Stats = new();
    /// <summary>inet6_protos[]: the handler of each next-header value.</summary>
    internal readonly Inet6Protocol?[] Inet6Protos = new Inet6Protocol?[256];
    /// <summary>Each device's inet6_dev (dev->ip6_ptr), made when IPv6 first sees the device come up.</summary>
    internal readonly Dictionary<NetDevice, Inet6Dev> Devs = new();
    /// <summary>net->ipv6.peers: the ICMPv6 rate-limit state per destination.</summary>
    internal readonly Dictionary<UInt128, IcmpPeer> Peers = new();
    /// <summary>The routes router advertisements made (RTF_ADDRCONF) and when each expires (ns; long.MaxValue: never).</summary>
    internal readonly Dictionary<Rt6Info, long> RaRoutes = new();
    /// <summary>net->ipv6.ip6_fib_timer: expires the routes of <see cref="RaRoutes"/>.</summary>
    internal TimerList Fib6GcTimer => field ??= new TimerList(Rt6Router.Fib6RunGc, _net);
    /// <summary>addr_chk_work: deprecates and deletes autoconfigured addresses as their lifetimes run out.</summary>
    internal TimerList AddrChkTimer => field ??= new TimerList(Addrconf.AddrconfVerifyWork, _net);
    /// <summary>The routes' exceptions: path MTUs learned from Packet Too Big (Route6Pmtu.cs).</summary>
    internal readonly Rt6ExceptionTable Rt6Exceptions = new();

    /// <summary>/proc/net/snmp6: one "name value" line per counter.</summary>
    public string FormatSnmp6()
    {
        var sb = new StringBuilder();
        var ip6 = _net.Ip6Mib; // net->mib.ipv6_statistics (Ipv6Mib.cs)
        for (int i = 0; i < ip6.Length; i++) sb.Append(ip6.NameAt(i).PadRight(32)).Append(ip6.ValueAt(i)).Append('\n');
        for (int i = 0; i < Icmp6Stats.Length; i++) sb.Append(Icmp6Stats.NameAt(i).PadRight(32)).Append(Icmp6Stats.ValueAt(i)).Append('\n');
        // snmp6_udp6_list: UDP's names with the Udp6 prefix.
        for (int i = 0; i < Udp6Stats.Length; i++) sb.Append(("Udp6" + Udp6Stats.NameAt(i)).PadRight(32)).Append(Udp6Stats.ValueAt(i)).Append('\n');
        return sb.ToString();
    }
}

/// <summary>
/// The IPv6 layer's initcall and per-namespace setup: net->ipv6, the ETH_P_IPV6 packet type, the
/// sysctls, the extension header and ICMPv6 handlers, and addrconf's device notifier.
/// </summary>
/// <remarks>Mirrors net/ipv6/af_inet6.c: inet6_init() / inet6_net_init() (the protocol half;
/// the socket family is AfInet6's), ipv6_packet_init(), ipv6_exthdrs_init(), icmpv6_init(),
/// ndisc_init(), addrconf_init().</remarks>
internal static class Ipv6Init
{
#pragma warning disable CA2255 // The initcall of a layer: see AfInet.InetInit.
    [System.Runtime.CompilerServices.ModuleInitializer]
#pragma warning restore CA2255
    internal static void Inet6Init()
    {
        // ipv6_frag_init() and the Ip6 MIB first, so their per-namespace state exists when ours is set up.
        Reassembly.Ipv6FragInit();
        NetNamespace.RegisterPernetSubsys(Ipv6NetOps.Instance);
    }

    /// <summary>The per-namespace operations of IPv6's protocol layer.</summary>
    internal sealed class Ipv6NetOps : PernetOperations
    {
        public static readonly Ipv6NetOps Instance = new();
        private Ipv6NetOps() { }

        public override string Name => "ipv6";

        public override void Init(NetNamespace net)
        {
            net.NetAssignGeneric(Id, new NetnsIpv6(net));
            Ipv6SysctlRegister(net);
            Exthdrs.Ipv6ExthdrsInit(net);
            Icmpv6.Icmpv6Init(net);
            Udpv6.Udpv6Init(net);
            TcpIpv6.TcpV6Init(net);
            net.Ip6Frags().Icmpv6Send = Icmpv6.Icmp6Send; // reassembly's parameter problems and time exceeded
            net.DevAddPack(new PacketType(EthP.IPV6, Ip6Input.Ipv6Rcv, "ipv6_packet_type"));
            net.RegisterNetdeviceNotifier(Addrconf.AddrconfNotifier.Instance);
        }
    }

    /// <remarks>Mirrors ipv6_sysctl_register() / addrconf_sysctl_register() / neigh_sysctl_register() for nd_tbl: the knobs read here.</remarks>
    private static void Ipv6SysctlRegister(NetNamespace net)
    {
        var s = net.Ipv6.Sysctl;
        net.Sysctl.RegisterNetSysctl("net/ipv6",
        [
            CtlTable.Int("conf.default.hop_limit", () => s.HopLimit, v => s.HopLimit = v, 1, 255),
            CtlTable.Int("route.mtu_expires", () => s.Ip6RtMtuExpiresSec, v => s.Ip6RtMtuExpiresSec = v, 0),
            CtlTable.Bool("conf.all.disable_ipv6", () => s.DisableIpv6, v => s.DisableIpv6 = v),
            CtlTable.Bool("conf.all.forwarding", () => s.Forwarding, v => s.Forwarding = v),
            CtlTable.Int("conf.default.accept_dad", () => s.AcceptDad, v => s.AcceptDad = v, 0, 2),
            CtlTable.Int("conf.default.dad_transmits", () => s.DadTransmits, v => s.DadTransmits = v, 0),
            CtlTable.Bool("conf.default.enhanced_dad", () => s.EnhancedDad, v => s.EnhancedDad = v),
            CtlTable.Int("conf.default.accept_ra", () => s.AcceptRa, v => s.AcceptRa = v, 0, 2),
            CtlTable.Bool("conf.default.accept_ra_defrtr", () => s.AcceptRaDefrtr, v => s.AcceptRaDefrtr = v),
            CtlTable.Bool("conf.default.accept_ra_pinfo", () => s.AcceptRaPinfo, v => s.AcceptRaPinfo = v),
            CtlTable.Bool("conf.default.accept_ra_mtu", () => s.AcceptRaMtu, v => s.AcceptRaMtu = v),
            CtlTable.Bool("conf.default.autoconf", () => s.Autoconf, v => s.Autoconf = v),
            CtlTable.Int("conf.default.rtr_solicits", () => s.RtrSolicits, v => s.RtrSolicits = v, -1),
            CtlTable.Scaled("conf.default.rtr_solicit_interval", () => s.RtrSolicitIntervalMs, v => s.RtrSolicitIntervalMs = v, 1000),
            CtlTable.Scaled("conf.default.rtr_solicit_max_interval", () => s.RtrSolicitMaxIntervalMs, v => s.RtrSolicitMaxIntervalMs = v, 1000),
            CtlTable.Scaled("conf.default.rtr_solicit_delay", () => s.RtrSolicitDelayMs, v => s.RtrSolicitDelayMs = v, 1000),
            CtlTable.Int("conf.default.mldv2_unsolicited_report_interval", () => s.Mldv2UnsolicitedReportIntervalMs, v => s.Mldv2UnsolicitedReportIntervalMs = v, 0),
            CtlTable.Int("mld_qrv", () => s.MldQrv, v => s.MldQrv = v, 1),
            CtlTable.Int("icmp.ratelimit", () => s.IcmpRatelimitMs, v => s.IcmpRatelimitMs = v, 0),
            CtlTable.Bool("icmp.echo_ignore_all", () => s.IcmpEchoIgnoreAll, v => s.IcmpEchoIgnoreAll = v),
            CtlTable.Bool("icmp.echo_ignore_multicast", () => s.IcmpEchoIgnoreMulticast, v => s.IcmpEchoIgnoreMulticast = v),
            CtlTable.Int("max_hbh_opts_number", () => s.MaxHbhOptsCnt, v => s.MaxHbhOptsCnt = v),
            CtlTable.Int("max_dst_opts_number", () => s.MaxDstOptsCnt, v => s.MaxDstOptsCnt = v),
            .. NeighParms.SysctlTable(s.Neigh),
        ]);
    }
}

/// <summary>The IPv6 layer's members on <see cref="NetNamespace"/>.</summary>
public static class NetNamespaceIpv6
{
    extension(NetNamespace net)
    {
        /// <summary>net->ipv6: this namespace's IPv6 state.</summary>
        internal NetnsIpv6 Ipv6 => net.NetGeneric<NetnsIpv6>(Ipv6Init.Ipv6NetOps.Instance.Id);

        /// <summary>
        /// `ip -6 addr add ADDRESS/PREFIX dev DEV`: a static IPv6 address on a device that is up, with
        /// its prefix route, joined to its solicited-node group. Tentative until duplicate address
        /// detection passes (dad_transmits solicitations, retrans_time apart, after a random delay
        /// below rtr_solicit_delay); never usable if another node has it.
        /// </summary>
        /// <exception cref="ArgumentException">Not an IPv6 address, or a multicast or unspecified one.</exception>
        /// <exception cref="InvalidOperationException">The address is there already, or the device is not up in this namespace.</exception>
        public void AddIpv6Address(NetDevice dev, System.Net.IPAddress address, int prefixLen)
        {
            ArgumentNullException.ThrowIfNull(dev);
            ArgumentNullException.ThrowIfNull(address);
            if (address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6) throw new ArgumentException($"{address} is not an IPv6 address", nameof(address));
            ArgumentOutOfRangeException.ThrowIfNegative(prefixLen);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(prefixLen, 128);
            Span<byte> b = stackalloc byte[16];
            address.TryWriteBytes(b, out _);
            int err;
            lock (net.SyncRoot) err = Addrconf.Inet6AddrAdd(net, dev, Ipv6Address.Read(b), prefixLen);
            if (err == -Uapi.Errno.EINVAL) throw new ArgumentException($"{address} cannot be a host address", nameof(address));
            if (err < 0) throw new InvalidOperationException($"ip -6 addr add {address}/{prefixLen} dev {dev.Name}: errno {-err}");
        }
    }
}
