using System.Net;
using PhysicalAddress = System.Net.NetworkInformation.PhysicalAddress;
using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;
using NetStack.Ipv6;

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
    /// <summary>TCP_INFO and the congestion control of a TCP socket (`ss -ti`), with the algorithm's own block (BBR's, DCTCP's) as inet_diag gives it; null for other protocols.</summary>
    public TcpInfo? TcpInfo { get; init; }
    /// <summary>sk_protocol: 6 for TCP, 17 for UDP, the protocol a raw socket was created with (IPPROTO_ICMP, IPPROTO_RAW...).</summary>
    public int ProtocolNumber { get; init; }
    /// <summary>The socket inode's number (`ss -e`'s ino:), 0 when the sock has no socket any more (an orphan, a time-wait or request sock).</summary>
    public ulong Inode { get; init; }
    /// <summary>The sock's cookie (`ss -e`'s sk:, SO_COOKIE), given on first request and kept for its life.</summary>
    public ulong Cookie { get; init; }
    /// <summary>sk_uid: the user the socket belongs to (`ss -e`'s uid:, printed only when not 0); 0 for time-wait and request socks.</summary>
    public uint Uid { get; init; }
    /// <summary>sk_shutdown (1 RCV_SHUTDOWN, 2 SEND_SHUTDOWN; `ss -e` prints it as &lt;-&gt;); null for time-wait and request socks, which report none.</summary>
    public int? Shutdown { get; init; }
    /// <summary>The memory the socket holds (`ss -m`); null for time-wait and request socks, which report none.</summary>
    public SocketMemoryInfo? Memory { get; init; }
    /// <summary>The timer pending on a TCP socket (`ss -o`/`-e`'s timer:(...)), or null when there is none.</summary>
    public SocketTimerInfo? Timer { get; init; }
    /// <summary>IPV6_V6ONLY of an AF_INET6 socket (INET_DIAG_SKV6ONLY: ss prints a dual-stack socket's :: as *); false for AF_INET ones.</summary>
    public bool Ipv6Only { get; init; }
}

/// <summary>
/// The memory a socket holds, as sock_diag reports it (SK_MEMINFO_*) and `ss -m` prints it:
/// skmem:(r<paramref name="RmemAlloc"/>,rb<paramref name="RcvBuf"/>,t<paramref name="WmemAlloc"/>,tb<paramref name="SndBuf"/>,f<paramref name="FwdAlloc"/>,w<paramref name="WmemQueued"/>,o<paramref name="OptMem"/>,bl<paramref name="Backlog"/>,d<paramref name="Drops"/>).
/// </summary>
/// <param name="RmemAlloc">sk_rmem_alloc: truesize of what sits in the receive queue.</param>
/// <param name="RcvBuf">sk_rcvbuf.</param>
/// <param name="WmemAlloc">sk_wmem_alloc: truesize of buffers sent and not yet freed.</param>
/// <param name="SndBuf">sk_sndbuf.</param>
/// <param name="FwdAlloc">sk_forward_alloc: always 0 (this stack has no page-based memory accounting).</param>
/// <param name="WmemQueued">sk_wmem_queued: the write queue.</param>
/// <param name="OptMem">sk_omem_alloc: always 0 (no option memory is charged).</param>
/// <param name="Backlog">sk_backlog.len: always 0 (no backlog: a segment never finds its socket owned).</param>
/// <param name="Drops">sk_drops: datagrams dropped for a full receive buffer.</param>
/// <remarks>Mirrors net/core/sock.c: sk_get_meminfo().</remarks>
public sealed record SocketMemoryInfo(uint RmemAlloc, uint RcvBuf, uint WmemAlloc, uint SndBuf, uint FwdAlloc, uint WmemQueued,
    uint OptMem, uint Backlog, uint Drops);

/// <summary>The timer inet_diag reports for a TCP socket (idiag_timer, idiag_expires, idiag_retrans).</summary>
/// <param name="Name">As ss names idiag_timer: "on" (1: retransmit, loss probe, reordering; also a request sock's SYN-ACK), "keepalive" (2: sk_timer, which also times SYN-ACKs and FIN_WAIT2), "timewait" (3), "persist" (4: zero-window probe).</param>
/// <param name="Expires">Time left until it fires (0 when overdue).</param>
/// <param name="Retransmits">icsk_retransmits for "on", icsk_probes_out for "keepalive" and "persist", num_retrans of a request sock, 0 for "timewait".</param>
/// <remarks>Mirrors net/ipv4/inet_diag.c: inet_sk_diag_fill(), inet_twsk_diag_fill(), inet_req_diag_fill().</remarks>
public sealed record SocketTimerInfo(string Name, TimeSpan Expires, int Retransmits);

/// <summary>One line of /proc/net/snmp or /proc/net/netstat: its name ("Ip", "IcmpMsg", "TcpExt") and its counters, in /proc order.</summary>
/// <param name="Name">The line's name, without the colon.</param>
/// <param name="Counters">The counters by their /proc names ("InReceives", "InType8", "TCPTimeouts").</param>
public sealed record CounterTable(string Name, IReadOnlyList<KeyValuePair<string, long>> Counters);

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
    /// <summary>Every IPv6 address of the device as `ip -6 addr` lists them, in the order they were added (empty before IPv6 saw the device come up).</summary>
    public IReadOnlyList<Ipv6InterfaceAddress> Ipv6Addresses { get; init; } = [];
}

/// <summary>One IPv6 address of a device as `ip -6 addr` shows it (struct inet6_ifaddr).</summary>
/// <param name="Address">The address.</param>
/// <param name="PrefixLength">The prefix length.</param>
/// <param name="Scope">"host" (::1), "link" (fe80::/10) or "global", as `ip -6 addr` prints it.</param>
/// <param name="Flags">The address's flags as iproute2 words them, in its order ("nodad", "dadfailed", "tentative", "dynamic" for an address that is not permanent, ...).</param>
public sealed record Ipv6InterfaceAddress(IPAddress Address, int PrefixLength, string Scope, IReadOnlyList<string> Flags);

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
    int Metric, string Protocol, string Scope)
{
    /// <summary>
    /// IPv6: nonzero for a nexthop of a multipath (ECMP) route, the same number for each of its nexthops
    /// (`ip -6 route` prints them as one route with a "nexthop" line each); 0 for a plain route.
    /// </summary>
    public int MultipathGroup { get; init; }
}

/// <summary>Where a packet to an IPv6 destination goes, as `ip -6 route get` answers.</summary>
/// <param name="Destination">The destination asked about.</param>
/// <param name="Type">"unicast", "local" or "multicast" (`ip -6 route get` prints the type when not unicast).</param>
/// <param name="Gateway">The next hop (via), or null when the destination is on the link or local.</param>
/// <param name="Device">The output device's name ("lo" for a local destination).</param>
/// <param name="Source">The source address the stack picks (src), or null when the device has none to offer.</param>
/// <param name="Metric">The route's metric.</param>
/// <param name="Protocol">Who installed the route: "kernel", "boot", "ra".</param>
/// <param name="Table">"main", or "local" for local and multicast routes.</param>
public sealed record Ipv6RouteLookup(IPAddress Destination, string Type, IPAddress? Gateway, string Device, IPAddress? Source,
    int Metric, string Protocol, string Table);

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

/// <summary>A device's multicast memberships as `ip maddr` shows them.</summary>
/// <param name="Device">The device's name.</param>
/// <param name="IfIndex">Its interface index.</param>
/// <param name="LinkAddresses">The multicast MACs its receive filter passes (dev->mc), in the order they were added.</param>
/// <param name="Groups">The IPv4 groups it is a member of, newest first, with how many sockets joined each (the device's own 224.0.0.1 counts one).</param>
public sealed record MulticastInfo(string Device, int IfIndex, IReadOnlyList<PhysicalAddress> LinkAddresses, IReadOnlyList<(IPAddress Group, int Users)> Groups);

/// <summary>Read-only views of a running stack for status pages and tools, taken under its lock.</summary>
public static class NetStackInfo
{
    /// <summary>The open sockets of <paramref name="net"/>'s default descriptor table (<see cref="NetNamespace"/>'s Files), by descriptor.</summary>
    public static IReadOnlyList<SocketInfo> GetSockets(NetNamespace net)
    {
        ArgumentNullException.ThrowIfNull(net);
        return GetSockets(net.Files);
    }

    /// <summary>
    /// The open sockets of descriptor table <paramref name="files"/> (a control client's, say), by
    /// descriptor, read under the stack lock: a socket closed meanwhile is not listed, and one whose
    /// sock went back to its cache and serves another connection cannot show up in a row.
    /// </summary>
    public static IReadOnlyList<SocketInfo> GetSockets(FdTable files)
    {
        ArgumentNullException.ThrowIfNull(files);
        var net = files.Net;
        var list = new List<SocketInfo>();
        lock (net.SyncRoot)
        {
            foreach (var (fd, sock) in files.Enumerate())
            {
                if (sock.Sk is not InetSock sk) continue;
                list.Add(new SocketInfo(fd, sk.Prot?.Name ?? "?", sk.State,
                    LocalEp(sk), RemoteEp(sk), sk.RmemAlloc, sk.WmemQueued)
                {
                    TcpInfo = sk is TcpSock tp ? Api.TcpInfo.Get(tp, diag: true) : null,
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
            var fds = DefaultTableFds(net);
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
                        list.Add(new SocketInfo(-1, "TCP", tw.TwSubstate, MiniEp(tw, v6: InetHashtables.IsNativeV6(tw), local: true), MiniEp(tw, InetHashtables.IsNativeV6(tw), local: false), 0, 0)
                        {
                            ProtocolNumber = Uapi.SocketConstants.IPPROTO_TCP, Cookie = SockDiag.SockGenCookie(net, tw),
                            Timer = new SocketTimerInfo("timewait", Left(net, tw.TwTimer.Expires), 0),
                        });
                        break;
                    case TcpRequestSock req:
                        list.Add(new SocketInfo(-1, "TCP", TcpState.SynRecv, MiniEp(req, req.RskOps.IsV6, local: true), MiniEp(req, req.RskOps.IsV6, local: false), 0, 0)
                        {
                            ProtocolNumber = Uapi.SocketConstants.IPPROTO_TCP, Cookie = SockDiag.SockGenCookie(net, req),
                            Timer = new SocketTimerInfo("on", Left(net, req.RskTimer.Expires), req.NumRetrans),
                        });
                        break;
                }
            }

            SocketInfo Full(TcpSock tp)
            {
                bool listen = tp.State == TcpState.Listen;
                int rq = listen ? tp.AckBacklog : Math.Max(0, unchecked((int)(tp.RcvNxt - tp.CopiedSeq)));
                int wq = listen ? tp.MaxAckBacklog : unchecked((int)(tp.WriteSeq - tp.SndUna));
                return Diag(new SocketInfo(fds.TryGetValue(tp, out int fd) ? fd : -1, "TCP", tp.State, LocalEp(tp),
                    listen ? null : RemoteEp(tp) ?? Ep(tp.InetDaddr, tp.InetDport), rq, wq) { TcpInfo = Api.TcpInfo.Get(tp, diag: true), Timer = IcskTimer(tp) }, tp);
            }
        }
        return list;

        static IPEndPoint Ep(uint addr, ushort port) => new(SocketConvert.ToIPAddress(addr), port);
        // A TIME_WAIT or request sock of a native IPv6 connection shows its 16-byte addresses.
        static IPEndPoint MiniEp(SockCommon sk, bool v6, bool local) => v6
            ? new(SocketConvert.ToIPAddress(local ? sk.SkcV6RcvSaddr : sk.SkcV6Daddr), local ? sk.SkcNum : sk.SkcDport)
            : Ep(local ? sk.SkcRcvSaddr : sk.SkcDaddr, local ? sk.SkcNum : sk.SkcDport);
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
            var fds = DefaultTableFds(net);
            foreach (var (_, slot) in net.Ipv4.UdpTable.Ports.OrderBy(p => p.Key))
                foreach (var sk in slot) list.Add(DatagramRow(sk, fds, "UDP"));
        }
        return list;
    }

    /// <summary>
    /// Every raw socket of <paramref name="net"/> as `ss -w -a` lists them (raw_diag walks the raw
    /// hash table, by protocol): whatever descriptor table holds them, <see cref="SocketInfo.Fd"/> the
    /// descriptor in the default table or -1. The local port is the socket's protocol (inet_num), as
    /// Linux reports it; <see cref="SocketInfo.ProtocolNumber"/> is that protocol too
    /// (INET_DIAG_PROTOCOL). Recv-Q and Send-Q are the memory charged to the queues (sk_rmem_alloc,
    /// sk_wmem_alloc); the state is ESTABLISHED when connected, else CLOSE (ss prints UNCONN).
    /// </summary>
    /// <remarks>Mirrors net/ipv4/raw_diag.c: raw_diag_dump().</remarks>
    public static IReadOnlyList<SocketInfo> GetRawSockets(NetNamespace net)
    {
        ArgumentNullException.ThrowIfNull(net);
        var list = new List<SocketInfo>();
        lock (net.SyncRoot)
        {
            var fds = DefaultTableFds(net);
            foreach (var bucket in net.Ipv4.RawHash.Ht)
            {
                if (bucket is null) continue;
                foreach (var sk in bucket) list.Add(DatagramRow(sk, fds, "RAW"));
            }
        }
        return list;
    }

    /// <summary>The descriptor each socket has in the namespace's default table (the in-process program's).</summary>
    private static Dictionary<Sock, int> DefaultTableFds(NetNamespace net)
    {
        var fds = new Dictionary<Sock, int>(ReferenceEqualityComparer.Instance);
        foreach (var (fd, sock) in net.Files.Enumerate())
            if (sock.Sk is { } sk) fds.TryAdd(sk, fd);
        return fds;
    }

    /// <summary>A UDP or raw socket's row: the bound (or source) address, the peer when connected, the queues' memory.</summary>
    private static SocketInfo DatagramRow(InetSock sk, Dictionary<Sock, int> fds, string protocol)
    {
        return Diag(new SocketInfo(fds.TryGetValue(sk, out int fd) ? fd : -1, sk.Prot?.Name ?? protocol, sk.State,
            LocalEp(sk), RemoteEp(sk), sk.RmemAlloc, sk.WmemAlloc), sk);
    }

    /// <summary>The local endpoint as getsockname sees it: an AF_INET6 sock's v6 address (inet6_getname), else the IPv4 one.</summary>
    private static IPEndPoint LocalEp(InetSock sk)
    {
        if (sk.Pinet6 is { } np)
            return new(SocketConvert.ToIPAddress(sk.SkcV6RcvSaddr != 0 ? sk.SkcV6RcvSaddr : np.Saddr), sk.InetNum);
        uint local = sk.InetRcvSaddr != 0 ? sk.InetRcvSaddr : sk.InetSaddr;
        return new(SocketConvert.ToIPAddress(local), sk.InetNum);
    }

    /// <summary>The peer, null when there is none; an AF_INET6 sock's as sk_v6_daddr (::ffff:a.b.c.d for an IPv4 peer).</summary>
    private static IPEndPoint? RemoteEp(InetSock sk)
    {
        if (sk.InetDaddr == 0 && sk.InetDport == 0) return null;
        return sk.Pinet6 is not null
            ? new(SocketConvert.ToIPAddress(sk.SkcV6Daddr), sk.InetDport)
            : new(SocketConvert.ToIPAddress(sk.InetDaddr), sk.InetDport);
    }

    /// <summary>What inet_diag adds to every full sock: protocol, inode, cookie, uid, shutdown and SK_MEMINFO.</summary>
    /// <remarks>Mirrors net/ipv4/inet_diag.c: inet_diag_msg_attrs_fill() and the INET_DIAG_SKMEMINFO part of inet_sk_diag_fill().</remarks>
    private static SocketInfo Diag(SocketInfo row, Sock sk)
    {
        Span<uint> m = stackalloc uint[SockDiag.SkMeminfoVars];
        SockDiag.SkGetMeminfo(sk, m);
        return row with
        {
            ProtocolNumber = sk.Protocol,
            Inode = sk.Socket?.Ino ?? 0,
            Cookie = SockDiag.SockGenCookie(sk.Net, sk),
            Uid = sk.Uid,
            Shutdown = sk.Shutdown,
            Memory = new SocketMemoryInfo(m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8]),
            Ipv6Only = sk.Ipv6only,
        };
    }

    /// <summary>The pending timer of a TCP socket as inet_diag reports it (idiag_timer), or null.</summary>
    /// <remarks>Mirrors net/ipv4/inet_diag.c: inet_sk_diag_fill()'s icsk_pending cases.</remarks>
    private static SocketTimerInfo? IcskTimer(TcpSock tp)
    {
        var net = tp.Net;
        return tp.IcskPending switch
        {
            InetConnectionSock.IcskTimeRetrans or InetConnectionSock.IcskTimeReoTimeout or InetConnectionSock.IcskTimeLossProbe
                => new SocketTimerInfo("on", Left(net, tp.IcskTimeout), tp.IcskRetransmits),
            InetConnectionSock.IcskTimeProbe0 => new SocketTimerInfo("persist", Left(net, tp.IcskTimeout), tp.IcskProbesOut),
            _ when tp.KeepaliveTimer.Pending => new SocketTimerInfo("keepalive", Left(net, tp.KeepaliveTimer.Expires), tp.IcskProbesOut),
            _ => null,
        };
    }

    /// <summary>jiffies_delta_to_msecs(when - jiffies): the time left, never negative.</summary>
    private static TimeSpan Left(NetNamespace net, long whenNs) => TimeSpan.FromTicks(Math.Max(0, whenNs - net.NowNs) / 100);

    /// <summary>TCP_INFO (with TCP_CONGESTION and TCP_CC_INFO, in any state) of the TCP socket behind descriptor <paramref name="fd"/> of <paramref name="net"/>'s default descriptor table, or null when it is not one.</summary>
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
                    Ipv6Addresses = NetStack.Ipv6.Addrconf.In6DevGet(net, d) is { } idev
                        // addr_list's order: by scope, widest first (ipv6_link_dev_addr()), the newest first within a scope.
                        ? idev.AddrList.Select((a, i) => (a, i)).OrderBy(x => x.a.Scope == NetStack.Ipv6.Addrconf.ScopeGlobal ? 0 : x.a.Scope == NetStack.Ipv6.Addrconf.ScopeLink ? 1 : 2)
                            .ThenByDescending(x => x.i).Select(x => x.a).Select(a => new Ipv6InterfaceAddress(Ipv6ToIPAddress(a.Addr), a.PrefixLen,
                            NetStack.Ipv6.Addrconf.ScopeName(a.Scope), Ifa6Flags(a.Flags))).ToArray()
                        : [],
                });
            }
        }
        return list;
    }

    /// <summary>
    /// Every MIB counter of <paramref name="net"/> under nstat's names (the /proc line's name, then the
    /// counter's: "IpInReceives", "IcmpInEchos", "IcmpMsgInType8", "TcpActiveOpens", "UdpInDatagrams",
    /// "TcpExtTCPSackRecovery", "IpExtInOctets"), in /proc order: <see cref="GetCounterTables"/> flattened.
    /// </summary>
    public static IReadOnlyList<KeyValuePair<string, long>> GetCounters(NetNamespace net)
    {
        var list = new List<KeyValuePair<string, long>>(256);
        foreach (var t in GetCounterTables(net))
            foreach (var c in t.Counters)
                list.Add(new(t.Name + c.Key, c.Value));
        return list;
    }

    /// <summary>
    /// The MIB counters of <paramref name="net"/> as the lines of /proc/net/snmp (Ip, Icmp, IcmpMsg,
    /// Tcp, Udp) and then /proc/net/netstat (TcpExt, IpExt), each with its counters in /proc order, as
    /// nstat and `netstat -s` read them, and last the neighbour table's /proc/net/stat/arp_cache
    /// (ArpCache: Entries, Allocs, Destroys, ..., ForcedGcRuns, UnresDiscards, TableFulls), and the buffer
    /// pools (SkbPool: Buffers, FreeBuffers, MaxBuffers, AllocFailures, and the same for the 64 KiB pool), and the
    /// contained faults (Kernel: OopsCount, OopsSkbLeaked; see kernel.panic_on_oops). As in Linux, IcmpMsg lists only the ICMP types seen (nonzero;
    /// a line with none is still there, empty), Ip's Forwarding and DefaultTTL and Tcp's RtoAlgorithm,
    /// RtoMin, RtoMax and MaxConn are settings rather than counts, and Tcp's CurrEstab is a gauge.
    /// TcpExt holds the counters the stack keeps (a subset of Linux's, in Linux's order); there is no
    /// UdpLite line (no UDP-Lite). A consistent copy, taken under the stack lock; `nstat` deltas are the
    /// difference of two copies.
    /// </summary>
    /// <remarks>Mirrors net/ipv4/proc.c: snmp_seq_show() (with icmpmsg_put()) and netstat_seq_show().</remarks>
    public static IReadOnlyList<CounterTable> GetCounterTables(NetNamespace net)
    {
        ArgumentNullException.ThrowIfNull(net);
        lock (net.SyncRoot)
        {
            var mib = net.Mib;
            var ip = Table(mib.Ip);
            ip[(int)IpMib.DefaultTTL] = new("DefaultTTL", net.Ipv4.Sysctl.IpDefaultTtl);
            ip[(int)IpMib.Forwarding] = new("Forwarding", net.Ipv4.Sysctl.IpForward ? 1 : 2);
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
            // /proc/net/stat/arp_cache: the entry count is a gauge read from the table.
            var arp = Table(mib.ArpCache);
            arp[(int)NeighStat.Entries] = new("Entries", net.Ipv4.Arp.Count);
            var icmpMsg = new List<KeyValuePair<string, long>>();
            foreach (var t in types)
                if (mib.Icmp[t.In] != 0) icmpMsg.Add(new($"InType{t.Type}", mib.Icmp[t.In]));
            foreach (var t in types)
                if (mib.Icmp[t.Out] != 0) icmpMsg.Add(new($"OutType{t.Type}", mib.Icmp[t.Out]));
            return
            [
                new("Ip", ip), new("Icmp", Table(mib.Icmp)), new("IcmpMsg", icmpMsg), new("Tcp", Table(mib.Tcp)),
                new("Udp", Table(mib.Udp)), new("TcpExt", Table(mib.TcpExt)), new("IpExt", Table(mib.IpExt)),
                new("ArpCache", arp),
                new("SkbPool", Pools(net)),
                // Contained faults (oops_count, /sys/kernel/oops_count) and the buffers they left.
                new("Kernel", Table(mib.Kernel)),
            ];
        }

        // The buffer pools (this stack's skbuff slab caches, /proc/slabinfo's analogue): buffers made,
        // free, the ceiling, and the allocations refused at the ceiling (each is also a drop, counted
        // as NoBuffers where a packet was lost, or an ENOBUFS/ENOMEM to the caller).
        static List<KeyValuePair<string, long>> Pools(NetNamespace net)
        {
            var small = net.SkbPool;
            var large = net.LargeSkbPoolIfCreated;
            return
            [
                new("Buffers", small.Total), new("FreeBuffers", small.FreeCount), new("MaxBuffers", small.MaxBuffers),
                new("AllocFailures", Volatile.Read(ref small.AllocFailures)),
                new("LargeBuffers", large?.Total ?? 0), new("LargeFreeBuffers", large?.FreeCount ?? 0),
                new("LargeMaxBuffers", large?.MaxBuffers ?? NetNamespace.LargePoolMaxBuffers), new("LargeAllocFailures", large is null ? 0 : Volatile.Read(ref large.AllocFailures)),
            ];
        }

        static List<KeyValuePair<string, long>> Table<T>(MibTable<T> t) where T : struct, Enum
        {
            var l = new List<KeyValuePair<string, long>>(t.Length);
            for (int i = 0; i < t.Length; i++) l.Add(new(t.NameAt(i), t.ValueAt(i)));
            return l;
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

    /// <summary>`ip -6 route get DESTINATION [oif DEVICE]`: the route an unbound socket's packet to <paramref name="destination"/> takes, and its source.</summary>
    /// <param name="net">The stack.</param>
    /// <param name="destination">An IPv6 address.</param>
    /// <param name="device">The output interface (oif), or null; a link-local or multicast destination needs one to be strict.</param>
    /// <exception cref="NetStackException">ENETUNREACH when no route covers it; ENODEV for an unknown device.</exception>
    /// <remarks>Mirrors inet6_rtm_getroute() -> ip6_route_output(), rt6_fill_node().</remarks>
    public static Ipv6RouteLookup GetIpv6Route(NetNamespace net, IPAddress destination, string? device = null)
    {
        ArgumentNullException.ThrowIfNull(net);
        ArgumentNullException.ThrowIfNull(destination);
        if (destination.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6) throw new ArgumentException("an IPv6 address is needed", nameof(destination));
        var b = destination.GetAddressBytes();
        UInt128 daddr = Wire.Ipv6Address.Read(b);
        lock (net.SyncRoot)
        {
            NetDevice? oif = null;
            if (device is not null)
                oif = net.Devices.FirstOrDefault(d => d.Name == device) ?? throw new NetStackException(-Uapi.Errno.ENODEV, $"ip -6 route get: no device {device}");
            NetStackException.ThrowIfError(NetStack.Ipv6.Ipv6Rtnl.Ip6RouteGet(net, daddr, oif, out var rt, out var saddr), "ip -6 route get");
            var type = rt!.Type switch { NetStack.Ipv6.Rt6Type.Local => "local", NetStack.Ipv6.Rt6Type.Multicast => "multicast", _ => "unicast" };
            return new Ipv6RouteLookup(new IPAddress(destination.GetAddressBytes()), type, rt.Gateway == 0 ? null : Ipv6ToIPAddress(rt.Gateway), rt.Dev.Name,
                saddr == 0 ? null : Ipv6ToIPAddress(saddr), rt.Metric, rt.Protocol, rt.Type == NetStack.Ipv6.Rt6Type.Unicast ? "main" : "local");
        }
    }

    /// <summary>An IPv6 address's flags as iproute2 prints them, in its ifa_flag_data[] order ("dynamic" for one without IFA_F_PERMANENT).</summary>
    /// <remarks>Mirrors iproute2 ip/ipaddress.c: print_ifa_flags() for AF_INET6.</remarks>
    private static string[] Ifa6Flags(NetStack.Ipv6.IfaFlags f)
    {
        var words = new List<string>(2);
        if ((f & NetStack.Ipv6.IfaFlags.Nodad) != 0) words.Add("nodad");
        if ((f & NetStack.Ipv6.IfaFlags.Optimistic) != 0) words.Add("optimistic");
        if ((f & NetStack.Ipv6.IfaFlags.Dadfailed) != 0) words.Add("dadfailed");
        if ((f & NetStack.Ipv6.IfaFlags.Deprecated) != 0) words.Add("deprecated");
        if ((f & NetStack.Ipv6.IfaFlags.Tentative) != 0) words.Add("tentative");
        if ((f & NetStack.Ipv6.IfaFlags.Permanent) == 0) words.Add("dynamic");
        return [.. words];
    }

    /// <summary>
    /// The IPv6 main table of <paramref name="net"/> as `ip -6 route show` lists it: the unicast routes
    /// (connected prefixes with protocol "kernel" and metric 256, routes added with `ip -6 route add`
    /// with protocol "boot" and metric 1024 unless given), by destination with the default route last;
    /// the local and multicast routes of the local table are left out, as ip leaves them out.
    /// </summary>
    /// <remarks>Mirrors inet6_dump_fib() over the main table (rt6_fill_node()).</remarks>
    public static IReadOnlyList<RouteInfo> GetIpv6Routes(NetNamespace net)
    {
        ArgumentNullException.ThrowIfNull(net);
        lock (net.SyncRoot)
            return net.Ipv6.Fib6.Routes.Where(r => r.Type == NetStack.Ipv6.Rt6Type.Unicast)
                .OrderBy(r => r.DstLen == 0 ? 1 : 0).ThenBy(r => r.Dst).ThenBy(r => r.DstLen).ThenBy(r => r.Metric)
                .Select(r => new RouteInfo(Ipv6ToIPAddress(r.Dst), r.DstLen, r.Gateway == 0 ? null : Ipv6ToIPAddress(r.Gateway), r.Dev.Name,
                    null, r.Metric, r.Protocol, "global") { MultipathGroup = r.SiblingGroup }).ToArray();
    }

    /// <summary>The neighbour discovery cache of <paramref name="net"/> (`ip -6 neigh show`), by device and address; <see cref="NeighbourInfo.Address"/> is an IPv6 address.</summary>
    /// <remarks>Mirrors neigh_dump_info() over nd_tbl.</remarks>
    public static IReadOnlyList<NeighbourInfo> GetIpv6Neighbours(NetNamespace net)
    {
        ArgumentNullException.ThrowIfNull(net);
        lock (net.SyncRoot) return Neighbours(net, net.Ipv6.NdTbl, k => Ipv6ToIPAddress(k));
    }

    private static IPAddress Ipv6ToIPAddress(UInt128 a)
    {
        var b = new byte[16];
        Wire.Ipv6Address.Write(b, a);
        return new IPAddress(b);
    }

    /// <summary>The multicast memberships of every device of <paramref name="net"/> (`ip maddr show`), by interface index.</summary>
    /// <remarks>Mirrors net/ipv4/igmp.c: the /proc/net/igmp and /proc/net/dev_mcast views (igmp_mc_seq_show(), dev_mc_seq_show()).</remarks>
    public static IReadOnlyList<MulticastInfo> GetMulticastGroups(NetNamespace net)
    {
        ArgumentNullException.ThrowIfNull(net);
        lock (net.SyncRoot)
        {
            return net.Devices.OrderBy(d => d.IfIndex).Select(d =>
            {
                var links = d.McAddrs.Select(m =>
                {
                    var mac = new byte[6];
                    m.Write(mac);
                    return new PhysicalAddress(mac);
                }).ToArray();
                var groups = Igmp.InDevGet(net, d) is { } inDev
                    ? inDev.McList.Select(g => (SocketConvert.ToIPAddress(g.Multiaddr), g.Users)).ToArray()
                    : [];
                // The IPv6 groups, newest first as ipv6_dev_mc_inc() links them (/proc/net/igmp6).
                if (NetStack.Ipv6.Addrconf.In6DevGet(net, d) is { } idev)
                    groups = [.. groups, .. idev.McList.Reverse().Select(g => (Ipv6ToIPAddress(g.Group), g.Users))];
                return new MulticastInfo(d.Name, d.IfIndex, links, groups);
            }).ToArray();
        }
    }

    /// <summary>The ARP cache of <paramref name="net"/> (`ip neigh show`), by device and address.</summary>
    public static IReadOnlyList<NeighbourInfo> GetNeighbours(NetNamespace net)
    {
        ArgumentNullException.ThrowIfNull(net);
        lock (net.SyncRoot) return Neighbours(net, net.Ipv4.Arp, k => SocketConvert.ToIPAddress((uint)k));
    }

    private static NeighbourInfo[] Neighbours(NetNamespace net, NeighTable tbl, Func<UInt128, IPAddress> address)
    {
        {
            long now = net.NowNs;
            return tbl.Snapshot().OrderBy(n => n.Dev.IfIndex).ThenBy(n => n.PrimaryKey).Select(n =>
            {
                PhysicalAddress? ll = null;
                if ((n.NudState & NudState.Valid) != 0)
                {
                    var mac = new byte[6];
                    n.HaAddr.Write(mac);
                    ll = new PhysicalAddress(mac);
                }
                return new NeighbourInfo(address(n.PrimaryKey), n.Dev.Name, ll, NeighTable.NudStateName(n.NudState), n.Probes,
                    Ago(now, n.Used), Ago(now, n.Confirmed), Ago(now, n.Updated));
            }).ToArray();
        }

        static TimeSpan Ago(long now, long then) => TimeSpan.FromTicks(Math.Max(0, now - then) / 100);
    }
}
