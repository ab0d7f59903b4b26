using System.Net;
using PhysicalAddress = System.Net.NetworkInformation.PhysicalAddress;
using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;

namespace NetStack.Api;

/// <summary>
/// One open socket of a stack as `ss` would list it: a copy taken under the stack lock, safe to
/// keep and read on any thread.
/// </summary>
/// <param name="Fd">The descriptor in the stack's default descriptor table.</param>
/// <param name="Protocol">The protocol's name as /proc/net/protocols gives it ("TCP", "UDP", "PING", "RAW").</param>
/// <param name="State">sk_state, numbered as Linux numbers it (a UDP socket is Close until connected).</param>
/// <param name="LocalEndPoint">The bound address and port (0.0.0.0:0 when unbound).</param>
/// <param name="RemoteEndPoint">The peer, or null when there is none.</param>
/// <param name="ReceiveQueue">Bytes charged to the receive queue (Recv-Q).</param>
/// <param name="SendQueue">Bytes queued to send and not yet acknowledged (Send-Q).</param>
public sealed record SocketInfo(int Fd, string Protocol, TcpState State, IPEndPoint LocalEndPoint, IPEndPoint? RemoteEndPoint,
    int ReceiveQueue, int SendQueue)
{
    /// <summary>TCP_INFO and the congestion control of a TCP socket (`ss -ti`); null for other protocols.</summary>
    public TcpInfo? TcpInfo { get; init; }
}

/// <summary>One device of a stack as `ip addr` would list it.</summary>
/// <param name="Name">The interface name ("lo", "tap0").</param>
/// <param name="IfIndex">The interface index (lo is 1).</param>
/// <param name="Address">The IPv4 address, or null when it has none.</param>
/// <param name="PrefixLength">The address's prefix length.</param>
/// <param name="Mtu">The MTU.</param>
/// <param name="IsUp">Whether the device is up.</param>
public sealed record InterfaceInfo(string Name, int IfIndex, IPAddress? Address, int PrefixLength, int Mtu, bool IsUp)
{
    /// <summary>Every IPv4 address of the device as `ip addr` lists them: primaries first, then secondaries.</summary>
    public IReadOnlyList<InterfaceAddress> Addresses { get; init; } = [];
    /// <summary>The hardware address (link/ether), all zeros for lo.</summary>
    public PhysicalAddress? LinkLayerAddress { get; init; }
    /// <summary>IFF_LOOPBACK.</summary>
    public bool IsLoopback { get; init; }
    /// <summary>IFF_NOARP.</summary>
    public bool NoArp { get; init; }
    /// <summary>The device's counters (`ip -s link`).</summary>
    public InterfaceStatistics Statistics { get; init; } = new(0, 0, 0, 0, 0, 0, 0, 0);
}

/// <summary>One IPv4 address of a device as `ip addr` shows it (struct in_ifaddr).</summary>
/// <param name="Address">The address (ifa_local).</param>
/// <param name="PrefixLength">The prefix length.</param>
/// <param name="Broadcast">The subnet's broadcast address (brd), or null for /31, /32 and devices without ARP.</param>
/// <param name="Secondary">IFA_F_SECONDARY: an earlier address covers the same subnet.</param>
/// <param name="Scope">"host" (loopback addresses) or "global", as `ip addr` prints it.</param>
public sealed record InterfaceAddress(IPAddress Address, int PrefixLength, IPAddress? Broadcast, bool Secondary, string Scope);

/// <summary>A device's counters (struct rtnl_link_stats64's first eight fields, `ip -s link`).</summary>
/// <param name="RxPackets">rx_packets.</param>
/// <param name="RxBytes">rx_bytes.</param>
/// <param name="RxErrors">rx_errors.</param>
/// <param name="RxDropped">rx_dropped.</param>
/// <param name="TxPackets">tx_packets.</param>
/// <param name="TxBytes">tx_bytes.</param>
/// <param name="TxErrors">tx_errors.</param>
/// <param name="TxDropped">tx_dropped.</param>
public sealed record InterfaceStatistics(long RxPackets, long RxBytes, long RxErrors, long RxDropped, long TxPackets, long TxBytes, long TxErrors, long TxDropped);

/// <summary>One route of the main table as `ip route` shows it.</summary>
/// <param name="Destination">The destination prefix (0.0.0.0 for the default route).</param>
/// <param name="PrefixLength">The prefix length (0 for the default route).</param>
/// <param name="Gateway">The next hop (via), or null when the destination is on the link.</param>
/// <param name="Device">The output device's name (dev).</param>
/// <param name="PreferredSource">The preferred source (src), or null.</param>
/// <param name="Metric">The metric (priority).</param>
/// <param name="Protocol">Who installed it, as `ip route` names it: "kernel" (connected routes), "boot" (`ip route add`, the host's default route), "static".</param>
/// <param name="Scope">"link" for a route without gateway, "global" otherwise, as `ip route` names it.</param>
public sealed record RouteInfo(IPAddress Destination, int PrefixLength, IPAddress? Gateway, string Device, IPAddress? PreferredSource,
    int Metric, string Protocol, string Scope);

/// <summary>Where a packet to a destination goes, as `ip route get` answers.</summary>
/// <param name="Destination">The destination asked about.</param>
/// <param name="Type">"unicast", "local", "broadcast" or "multicast" (`ip route get` prints the type when not unicast).</param>
/// <param name="Gateway">The next hop (via), or null when the destination is on the link or local.</param>
/// <param name="Device">The output device's name ("lo" for a local destination).</param>
/// <param name="Source">The source address the stack picks (src).</param>
public sealed record RouteLookup(IPAddress Destination, string Type, IPAddress? Gateway, string Device, IPAddress Source);

/// <summary>One ARP cache entry as `ip neigh` (`ip -s neigh`) shows it.</summary>
/// <param name="Address">The neighbour's IPv4 address.</param>
/// <param name="Device">The device's name.</param>
/// <param name="LinkLayerAddress">The hardware address (lladdr), or null while unresolved (INCOMPLETE, FAILED).</param>
/// <param name="State">The NUD state as `ip neigh` prints it: REACHABLE, STALE, DELAY, PROBE, FAILED, INCOMPLETE, PERMANENT, NOARP or NONE.</param>
/// <param name="Probes">ARP probes sent in the current resolution.</param>
/// <param name="SinceUsed">Time since the entry was last used to send.</param>
/// <param name="SinceConfirmed">Time since reachability was last confirmed.</param>
/// <param name="SinceUpdated">Time since the entry last changed.</param>
public sealed record NeighbourInfo(IPAddress Address, string Device, PhysicalAddress? LinkLayerAddress, string State, int Probes,
    TimeSpan SinceUsed, TimeSpan SinceConfirmed, TimeSpan SinceUpdated);

/// <summary>Read-only views of a running stack for status pages and tools, taken under its lock.</summary>
public static class NetStackInfo
{
    /// <summary>The open sockets of <paramref name="net"/>'s default descriptor table (<see cref="NetNamespace"/>'s Files), by descriptor.</summary>
    public static IReadOnlyList<SocketInfo> GetSockets(NetNamespace net)
    {
        ArgumentNullException.ThrowIfNull(net);
        var list = new List<SocketInfo>();
        lock (net.SyncRoot)
        {
            foreach (var (fd, sock) in net.Files.Enumerate())
            {
                if (sock.Sk is not InetSock sk) continue;
                uint local = sk.InetRcvSaddr != 0 ? sk.InetRcvSaddr : sk.InetSaddr;
                var remote = sk.InetDaddr == 0 && sk.InetDport == 0 ? null : new IPEndPoint(SocketConvert.ToIPAddress(sk.InetDaddr), sk.InetDport);
                list.Add(new SocketInfo(fd, sk.Prot?.Name ?? "?", sk.State,
                    new IPEndPoint(SocketConvert.ToIPAddress(local), sk.InetNum), remote, sk.RmemAlloc, sk.WmemQueued)
                {
                    TcpInfo = sk is TcpSock tp ? Api.TcpInfo.Get(tp) : null,
                });
            }
        }
        return list;
    }

    /// <summary>
    /// Every TCP socket of <paramref name="net"/> as `ss -t -a` lists them: what inet_diag dumps from the
    /// hash tables (listeners, then connections, time-wait and SYN-RECV request socks), so sockets of
    /// every descriptor table (the control socket's clients, say) and orphans (closed, still finishing)
    /// are there, and a socket that is neither bound-and-listening nor connected is not, as in Linux.
    /// <see cref="SocketInfo.Fd"/> is the descriptor in the default table, or -1 when the socket has none
    /// there. Recv-Q and Send-Q are inet_diag's: for a listener the accept queue and the backlog, for a
    /// connection the unread bytes (rcv_nxt - copied_seq) and the unacknowledged ones (write_seq -
    /// snd_una), 0 for time-wait and request socks. <see cref="SocketInfo.TcpInfo"/> is filled for full
    /// sockets only (as `ss -ti` shows nothing for time-wait and request socks). A time-wait sock's state
    /// is its substate (TIME_WAIT, or FIN_WAIT2 for a FIN_WAIT2 timewait), a request sock's SYN_RECV.
    /// </summary>
    /// <remarks>Mirrors net/ipv4/inet_diag.c: inet_diag_dump_icsk() with tcp_diag_get_info().</remarks>
    public static IReadOnlyList<SocketInfo> GetTcpSockets(NetNamespace net)
    {
        ArgumentNullException.ThrowIfNull(net);
        var list = new List<SocketInfo>();
        lock (net.SyncRoot)
        {
            var fds = new Dictionary<Sock, int>(ReferenceEqualityComparer.Instance);
            foreach (var (fd, sock) in net.Files.Enumerate())
                if (sock.Sk is { } sk) fds.TryAdd(sk, fd);
            var h = net.Ipv4.TcpHashinfo;
            foreach (var tp in h.Lhash.Values.SelectMany(l => l))
                list.Add(Full(tp));
            foreach (var skc in h.Ehash.Values)
            {
                switch (skc)
                {
                    case TcpSock tp:
                        list.Add(Full(tp));
                        break;
                    case TcpTimewaitSock tw:
                        list.Add(new SocketInfo(-1, "TCP", tw.TwSubstate, Ep(tw.SkcRcvSaddr, tw.SkcNum), Ep(tw.SkcDaddr, tw.SkcDport), 0, 0));
                        break;
                    case TcpRequestSock req:
                        list.Add(new SocketInfo(-1, "TCP", TcpState.SynRecv, Ep(req.SkcRcvSaddr, req.SkcNum), Ep(req.SkcDaddr, req.SkcDport), 0, 0));
                        break;
                }
            }

            SocketInfo Full(TcpSock tp)
            {
                bool listen = tp.State == TcpState.Listen;
                int rq = listen ? tp.AckBacklog : Math.Max(0, unchecked((int)(tp.RcvNxt - tp.CopiedSeq)));
                int wq = listen ? tp.MaxAckBacklog : unchecked((int)(tp.WriteSeq - tp.SndUna));
                uint local = tp.InetRcvSaddr != 0 ? tp.InetRcvSaddr : tp.InetSaddr;
                return new SocketInfo(fds.TryGetValue(tp, out int fd) ? fd : -1, "TCP", tp.State, Ep(local, tp.InetNum),
                    listen ? null : Ep(tp.InetDaddr, tp.InetDport), rq, wq) { TcpInfo = Api.TcpInfo.Get(tp) };
            }
        }
        return list;

        static IPEndPoint Ep(uint addr, ushort port) => new(SocketConvert.ToIPAddress(addr), port);
    }

    /// <summary>
    /// Every bound UDP socket of <paramref name="net"/> as `ss -u -a` lists them (udp_diag walks the UDP
    /// table): whatever descriptor table holds them, <see cref="SocketInfo.Fd"/> the descriptor in the
    /// default table or -1. Recv-Q and Send-Q are the memory charged to the queues (sk_rmem_alloc,
    /// sk_wmem_alloc), as udp_diag reports them; the state is ESTABLISHED when connected, else CLOSE
    /// (ss prints UNCONN).
    /// </summary>
    /// <remarks>Mirrors net/ipv4/udp_diag.c: udp_dump().</remarks>
    public static IReadOnlyList<SocketInfo> GetUdpSockets(NetNamespace net)
    {
        ArgumentNullException.ThrowIfNull(net);
        var list = new List<SocketInfo>();
        lock (net.SyncRoot)
        {
            var fds = new Dictionary<Sock, int>(ReferenceEqualityComparer.Instance);
            foreach (var (fd, sock) in net.Files.Enumerate())
                if (sock.Sk is { } sk) fds.TryAdd(sk, fd);
            foreach (var (_, slot) in net.Ipv4.UdpTable.Ports.OrderBy(p => p.Key))
            {
                foreach (var sk in slot)
                {
                    uint local = sk.InetRcvSaddr != 0 ? sk.InetRcvSaddr : sk.InetSaddr;
                    var remote = sk.InetDaddr == 0 && sk.InetDport == 0 ? null : new IPEndPoint(SocketConvert.ToIPAddress(sk.InetDaddr), sk.InetDport);
                    list.Add(new SocketInfo(fds.TryGetValue(sk, out int fd) ? fd : -1, sk.Prot?.Name ?? "UDP", sk.State,
                        new IPEndPoint(SocketConvert.ToIPAddress(local), sk.InetNum), remote, sk.RmemAlloc, sk.WmemAlloc));
                }
            }
        }
        return list;
    }

    /// <summary>TCP_INFO of the TCP socket behind descriptor <paramref name="fd"/> of <paramref name="net"/>'s default descriptor table, or null when it is not one.</summary>
    public static TcpInfo? GetTcpInfo(NetNamespace net, int fd)
    {
        ArgumentNullException.ThrowIfNull(net);
        lock (net.SyncRoot)
            return net.Files.Lookup(fd)?.Sk is TcpSock tp ? TcpInfo.Get(tp) : null;
    }

    /// <summary>The devices of <paramref name="net"/> with their addresses and counters, by interface index (`ip addr`, `ip -s link`).</summary>
    public static IReadOnlyList<InterfaceInfo> GetInterfaces(NetNamespace net)
    {
        ArgumentNullException.ThrowIfNull(net);
        var list = new List<InterfaceInfo>();
        lock (net.SyncRoot)
        {
            foreach (var d in net.Devices)
            {
                var addrs = d.IfaList.Select(a => new InterfaceAddress(SocketConvert.ToIPAddress(a.Local), a.PrefixLen,
                    a.PrefixLen >= 31 || d.NoArp ? null : SocketConvert.ToIPAddress(a.Broadcast), a.Secondary,
                    Wire.Ipv4Address.IsLoopback(a.Local) ? "host" : "global")).ToArray();
                var mac = new byte[6];
                d.DevAddr.Write(mac);
                var st = d.Stats;
                list.Add(new InterfaceInfo(d.Name, d.IfIndex, d.Ipv4Address == 0 ? null : SocketConvert.ToIPAddress(d.Ipv4Address),
                    d.Ipv4PrefixLen, d.Mtu, d.IsUp)
                {
                    Addresses = addrs,
                    LinkLayerAddress = new PhysicalAddress(mac),
                    IsLoopback = d.IsLoopback,
                    NoArp = d.NoArp,
                    Statistics = new InterfaceStatistics(st.RxPackets, st.RxBytes, st.RxErrors, st.RxDropped, st.TxPackets, st.TxBytes, st.TxErrors, st.TxDropped),
                });
            }
        }
        return list;
    }

    /// <summary>
    /// Every MIB counter of <paramref name="net"/> under nstat's names (the /proc line's name, then the
    /// counter's: "IpInReceives", "IcmpInEchos", "IcmpMsgInType8", "TcpActiveOpens", "UdpInDatagrams",
    /// "TcpExtTCPSackRecovery", "IpExtInOctets"), in /proc order: /proc/net/snmp (Ip, Icmp, IcmpMsg,
    /// Tcp, Udp), then /proc/net/netstat (TcpExt, IpExt). As in Linux, IcmpMsg lists only the ICMP types
    /// seen (nonzero), Ip's Forwarding and DefaultTTL and Tcp's RtoAlgorithm, RtoMin, RtoMax and MaxConn are
    /// settings rather than counts, and Tcp's CurrEstab is a gauge. TcpExt holds the counters the stack
    /// keeps (a subset of Linux's); there is no UdpLite line (no UDP-Lite). A consistent copy, taken under
    /// the stack lock; `nstat` deltas are the difference of two copies.
    /// </summary>
    public static IReadOnlyList<KeyValuePair<string, long>> GetCounters(NetNamespace net)
    {
        ArgumentNullException.ThrowIfNull(net);
        var list = new List<KeyValuePair<string, long>>(256);
        lock (net.SyncRoot)
        {
            var mib = net.Mib;
            Add(list, "Ip", mib.Ip);
            list[(int)IpMib.DefaultTTL] = new("IpDefaultTTL", net.Ipv4.Sysctl.IpDefaultTtl);
            list[(int)IpMib.Forwarding] = new("IpForwarding", net.Ipv4.Sysctl.IpForward ? 1 : 2);
            Add(list, "Icmp", mib.Icmp);
            // IcmpMsg: per ICMP type (icmpmsg_put()), the stack's per-type Icmp counters by type number.
            ReadOnlySpan<(int Type, IcmpMib In, IcmpMib Out)> types =
            [
                (0, IcmpMib.InEchoReps, IcmpMib.OutEchoReps), (3, IcmpMib.InDestUnreachs, IcmpMib.OutDestUnreachs),
                (4, IcmpMib.InSrcQuenchs, IcmpMib.OutSrcQuenchs), (5, IcmpMib.InRedirects, IcmpMib.OutRedirects),
                (8, IcmpMib.InEchos, IcmpMib.OutEchos), (11, IcmpMib.InTimeExcds, IcmpMib.OutTimeExcds),
                (12, IcmpMib.InParmProbs, IcmpMib.OutParmProbs), (13, IcmpMib.InTimestamps, IcmpMib.OutTimestamps),
                (14, IcmpMib.InTimestampReps, IcmpMib.OutTimestampReps), (17, IcmpMib.InAddrMasks, IcmpMib.OutAddrMasks),
                (18, IcmpMib.InAddrMaskReps, IcmpMib.OutAddrMaskReps),
            ];
            foreach (var t in types)
                if (mib.Icmp[t.In] != 0) list.Add(new($"IcmpMsgInType{t.Type}", mib.Icmp[t.In]));
            foreach (var t in types)
                if (mib.Icmp[t.Out] != 0) list.Add(new($"IcmpMsgOutType{t.Type}", mib.Icmp[t.Out]));
            Add(list, "Tcp", mib.Tcp);
            Add(list, "Udp", mib.Udp);
            Add(list, "TcpExt", mib.TcpExt);
            Add(list, "IpExt", mib.IpExt);
        }
        return list;

        static void Add<T>(List<KeyValuePair<string, long>> list, string prefix, MibTable<T> t) where T : struct, Enum
        {
            for (int i = 0; i < t.Length; i++) list.Add(new(prefix + t.NameAt(i), t.ValueAt(i)));
        }
    }

    /// <summary>The main routing table of <paramref name="net"/> in lookup order: longest prefix first, then lowest metric (`ip route show`).</summary>
    public static IReadOnlyList<RouteInfo> GetRoutes(NetNamespace net)
    {
        ArgumentNullException.ThrowIfNull(net);
        lock (net.SyncRoot)
            return net.Ipv4.Fib.Entries.Select(e => new RouteInfo(SocketConvert.ToIPAddress(e.Dst), e.PrefixLen,
                e.Gateway == 0 ? null : SocketConvert.ToIPAddress(e.Gateway), e.Dev.Name,
                e.PrefSrc == 0 ? null : SocketConvert.ToIPAddress(e.PrefSrc), e.Metric, RtProt.Name(e.Protocol), RtScope.Name(e.Scope))).ToArray();
    }

    /// <summary>`ip route get DESTINATION`: the route an unbound socket's packet to <paramref name="destination"/> takes.</summary>
    /// <exception cref="NetStackException">ENETUNREACH when no route covers it.</exception>
    /// <remarks>Mirrors inet_rtm_getroute() -> ip_route_output_key().</remarks>
    public static RouteLookup GetRoute(NetNamespace net, IPAddress destination)
    {
        ArgumentNullException.ThrowIfNull(net);
        uint dst = SocketConvert.ToUInt32(destination);
        lock (net.SyncRoot)
        {
            NetStackException.ThrowIfError(Route.IpRouteOutput(net, dst, 0, out var rt), "ip route get");
            return new RouteLookup(destination, rt.Type.ToString().ToLowerInvariant(), rt.Gateway == 0 ? null : SocketConvert.ToIPAddress(rt.Gateway),
                rt.Dev.Name, SocketConvert.ToIPAddress(rt.PrefSrc));
        }
    }

    /// <summary>The ARP cache of <paramref name="net"/> (`ip neigh show`), by device and address.</summary>
    public static IReadOnlyList<NeighbourInfo> GetNeighbours(NetNamespace net)
    {
        ArgumentNullException.ThrowIfNull(net);
        lock (net.SyncRoot)
        {
            long now = net.NowNs;
            return net.Ipv4.Arp.Snapshot().OrderBy(n => n.Dev.IfIndex).ThenBy(n => n.PrimaryKey).Select(n =>
            {
                PhysicalAddress? ll = null;
                if ((n.NudState & NudState.Valid) != 0)
                {
                    var mac = new byte[6];
                    n.HaAddr.Write(mac);
                    ll = new PhysicalAddress(mac);
                }
                return new NeighbourInfo(SocketConvert.ToIPAddress(n.PrimaryKey), n.Dev.Name, ll, NeighTable.NudStateName(n.NudState), n.Probes,
                    Ago(now, n.Used), Ago(now, n.Confirmed), Ago(now, n.Updated));
            }).ToArray();
        }

        static TimeSpan Ago(long now, long then) => TimeSpan.FromTicks(Math.Max(0, now - then) / 100);
    }
}
