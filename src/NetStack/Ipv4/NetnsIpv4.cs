using NetStack.Core;
using NetStack.Wire;

namespace NetStack.Ipv4;

/// <summary>
/// The IPv4 state of one namespace, grouped as the kernel groups it in struct net's
/// <c>ipv4</c> member: routing, neighbours, fragments, ICMP rate state, the socket tables of each
/// protocol, TCP's hash tables and secrets, and the sysctls. Reached as <c>net.Ipv4</c>.
/// <remarks>Mirrors include/net/netns/ipv4.h: struct netns_ipv4.</remarks>
/// </summary>
internal sealed class NetnsIpv4
{
    private readonly NetNamespace _net;

    internal NetnsIpv4(NetNamespace net)
    {
        _net = net;
        Fib = new FibTable(net);
        Arp = new NeighTable(net, ArpNeighOps.Instance, net.Mib.ArpCache);
        TcpMem = new TcpMemory(net);
        for (int i = 0; i < Inetsw.Length; i++) Inetsw[i] = new List<InetProtosw>();
    }

    /// <summary>net->ipv4.sysctl_*: the IPv4 and TCP sysctls (also reachable by name through net.Sysctl).</summary>
    public readonly Ipv4Sysctl Sysctl = new();

    /// <summary>Each device's multicast state (the mc part of its in_device), created when IPv4 first brings it up.</summary>
    internal readonly Dictionary<NetDevice, InDeviceMc> McDevs = new();

    /// <summary>The main routing table (net->ipv4.fib_main).</summary>
    public readonly FibTable Fib;
    /// <summary>The ARP neighbour table (arp_tbl).</summary>
    public readonly NeighTable Arp;
    /// <summary>net->ipv4.fqdir: the reassembly queues.</summary>
    internal readonly IpFragState Frags = new();
    /// <summary>The ICMP rate-limit state (net->ipv4.icmp_global and the peers' tokens).</summary>
    internal readonly IcmpRateState IcmpRate = new();

    /// <summary>inet_protos[]: the handler for each IP protocol number (global in the kernel; per namespace here).</summary>
    internal readonly NetProtocol?[] InetProtos = new NetProtocol?[IpProto.MAX];

    /// <summary>
    /// inetsw[SOCK_MAX]: for each socket type, the (protocol -&gt; prot, ops) entries inet_create walks.
    /// Per namespace here (the kernel's table is global; one NetNamespace is one booted kernel).
    /// </summary>
    /// <remarks>Mirrors net/ipv4/af_inet.c: static struct list_head inetsw[SOCK_MAX].</remarks>
    internal readonly List<InetProtosw>[] Inetsw = new List<InetProtosw>[SocketConstants.SOCK_MAX];

    /// <summary>
    /// udp_memory_allocated: pages charged by all UDP sockets, against net.ipv4.udp_mem (global in
    /// Linux; per namespace here, as a namespace is a host).
    /// </summary>
    public long UdpMemoryAllocated;
    /// <summary>udp_table: the bound UDP sockets (net->ipv4.udp_table).</summary>
    internal readonly UdpTable UdpTable = new();
    /// <summary>ping_table: ping sockets by identifier.</summary>
    internal readonly PingTable PingTable = new();
    /// <summary>raw_v4_hashinfo: raw sockets by protocol.</summary>
    internal readonly RawHashinfo RawHash = new();

    /// <summary>The TCP hash tables (net->ipv4.tcp_death_row.hashinfo: ehash, lhash, bhash).</summary>
    public readonly InetHashinfo TcpHashinfo = new();
    /// <summary>The congestion control a new socket gets (net->ipv4.tcp_congestion_control).</summary>
    internal TcpCongestionOps? TcpCongestionControl;
    /// <summary>tcp_cubic's module parameters (/sys/module/tcp_cubic/parameters; per namespace here).</summary>
    internal readonly TcpCubic.ModuleParams CubicParams = new();
    /// <summary>tcp_dctcp's module parameters (/sys/module/tcp_dctcp/parameters; per namespace here).</summary>
    internal readonly TcpDctcp.ModuleParams DctcpParams = new();
    /// <summary>
    /// The random numbers congestion controls draw (get_random_u32_below() in BBR's gain cycle), from a
    /// fixed seed so that a run over virtual time repeats exactly.
    /// </summary>
    internal readonly Random Prandom = new(0x6262);
    /// <summary>Sockets that are orphaned (closed by the user, still finishing): tcp_orphan_count.</summary>
    public int TcpOrphanCount;
    /// <summary>TCP's memory account against tcp_mem (tcp_memory_allocated, tcp_memory_pressure, tcp_sockets_allocated).</summary>
    public readonly TcpMemory TcpMem;
    /// <summary>TIME_WAIT socks alive (net->ipv4.tcp_death_row.tw_refcount - 1), bounded by tcp_max_tw_buckets.</summary>
    public int TcpTwCount;
    /// <summary>Challenge ACKs sent in the current one-second slot (RFC 5961, tcp_send_challenge_ack).</summary>
    internal long TcpChallengeTimestamp;
    internal int TcpChallengeCount;
    /// <summary>The ISN a SYN that reopens a TIME_WAIT 4-tuple must use (the kernel's per-CPU tcp_tw_isn).</summary>
    internal uint TcpTwIsn;
    /// <summary>The request that stands for each SYN answered with a cookie in turn (never hashed; see TcpRequestSock.ResetForReuse).</summary>
    internal TcpRequestSock? TcpCookieReq;
    /// <summary>
    /// Free request socks (tcp_request_sock_ops.slab, "request_sock_TCP") and TIME_WAIT socks
    /// (tcp_prot.twsk_prot->twsk_slab, "tw_sock_TCP"): a connection's setup and end allocate
    /// nothing once warm. Bounded; what does not fit is left to the collector.
    /// </summary>
    internal readonly KmemCache<TcpRequestSock> TcpRequestSockCache = new("request_sock_TCP", SlabLimit);
    internal readonly KmemCache<TcpTimewaitSock> TcpTwCache = new("tw_sock_TCP", SlabLimit);
    /// <summary>
    /// Free TCP socks of AF_INET (tcp_prot.slab, "TCP"): a sock comes back when its last reference
    /// goes (sk_refcnt), cleared, and the next socket or accepted child takes it.
    /// </summary>
    internal readonly KmemCache<TcpSock> TcpSockCache = new("TCP", SlabLimit);
    /// <summary>How many free objects each of TCP's caches keeps (a few hundred bytes each).</summary>
    internal const int SlabLimit = 1024;
    /// <summary>net->ipv4.tcp_fastopen_ctx: the namespace's Fast Open keys (null until first used or set).</summary>
    internal TcpFastopenContext? TcpFastopenCtx;
    /// <summary>The client's Fast Open cookies by (saddr, daddr), IPv4 addresses v4-mapped: the tcpm_fastopen part of tcp_metrics.</summary>
    internal readonly Dictionary<(UInt128 Saddr, UInt128 Daddr), TcpFastopenMetrics> TcpFastopenCache = new();

    /// <summary>
    /// The receive hooks of the socket types that are optional on the input path, set by their
    /// pernet init (null when absent): ping_rcv() for echo replies in icmp_rcv(),
    /// raw_local_deliver() in ip_local_deliver() (true if a raw socket took a copy, so a missing
    /// protocol handler is not an error), raw_icmp_error() in icmp_unreach(). Per namespace, as
    /// two namespaces are two hosts.
    /// </summary>
    public Func<NetNamespace, SkBuff, bool>? PingRcv;
    /// <inheritdoc cref="PingRcv"/>
    public Func<NetNamespace, SkBuff, int, bool>? RawLocalDeliver;
    /// <inheritdoc cref="PingRcv"/>
    public Action<NetNamespace, SkBuff, int, uint>? RawIcmpError;

    private ushort _ipIdent;

    /// <summary>The IP identification for the next datagram.</summary>
    /// <remarks>Mirrors ip_select_ident(): the kernel hashes per destination; one counter is enough for a host.</remarks>
    internal ushort IpSelectIdent() => _ipIdent++;

    /// <summary>A snapshot of inetsw[type], in lookup order (for tests and status pages).</summary>
    public IReadOnlyList<InetProtosw> InetswList(int type)
    {
        lock (_net.SyncRoot) return Inetsw[type].ToArray();
    }
}

/// <summary>The IPv4 layer's members on <see cref="NetNamespace"/>.</summary>
public static class NetNamespaceIpv4
{
    extension(NetNamespace net)
    {
        /// <summary>net->ipv4: this namespace's IPv4 state (a net_generic slot of the inet pernet operations).</summary>
        internal NetnsIpv4 Ipv4 => net.NetGeneric<NetnsIpv4>(AfInet.InetNetOps.Instance.Id);

        /// <summary>
        /// Registers and brings up a device, then gives it an address with its connected route (as
        /// `ip addr add` does) and announces the address with a gratuitous ARP.
        /// </summary>
        public void AddDevice(NetDevice dev, uint address, int prefixLen = 24)
        {
            lock (net.SyncRoot)
            {
                net.AddDevice(dev);
                if (address != 0) InetAddress.InetInsertIfa(net, dev, address, prefixLen);
            }
        }

        /// <summary>
        /// Registers and brings up a device with an IPv4 address and its connected route (`ip link set
        /// up` and `ip addr add ADDRESS/PREFIX dev DEV`), announced with a gratuitous ARP.
        /// </summary>
        public void AddDevice(NetDevice dev, System.Net.IPAddress address, int prefixLen)
        {
            ArgumentNullException.ThrowIfNull(address);
            Span<byte> b = stackalloc byte[16];
            if (!address.TryWriteBytes(b, out int n) || n != 4) throw new ArgumentException($"{address} is not an IPv4 address", nameof(address));
            if (prefixLen is < 0 or > 32) throw new ArgumentOutOfRangeException(nameof(prefixLen));
            net.AddDevice(dev, System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(b), prefixLen);
        }

        /// <summary>Registers <paramref name="prot"/> as the handler of IP protocol number <paramref name="protocol"/> (inet_protos[]).</summary>
        /// <remarks>Mirrors net/ipv4/protocol.c: inet_add_protocol(): 0, or -1 when the slot is taken.</remarks>
        public int InetAddProtocol(NetProtocol prot, int protocol)
        {
            if ((uint)protocol >= IpProto.MAX) return -1;
            lock (net.SyncRoot)
            {
                var protos = net.Ipv4.InetProtos;
                if (protos[protocol] is not null) return -1;
                protos[protocol] = prot;
                return 0;
            }
        }

        /// <summary>Unregisters <paramref name="prot"/> as the handler of IP protocol <paramref name="protocol"/>: 0, or -1 when it is not the registered one.</summary>
        /// <remarks>Mirrors inet_del_protocol().</remarks>
        public int InetDelProtocol(NetProtocol prot, int protocol)
        {
            if ((uint)protocol >= IpProto.MAX) return -1;
            lock (net.SyncRoot)
            {
                var protos = net.Ipv4.InetProtos;
                if (protos[protocol] != prot) return -1;
                protos[protocol] = null;
                return 0;
            }
        }
    }
}
