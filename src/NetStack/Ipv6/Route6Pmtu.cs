using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Ipv6;

/// <summary>One learned path MTU: the RTF_CACHE clone a Packet Too Big made for one destination.</summary>
/// <remarks>Mirrors net/ipv6/route.c: struct rt6_exception (rt6i_pmtu and the RTF_EXPIRES dst.expires of its clone).</remarks>
internal struct Rt6Exception
{
    /// <summary>rt6i_pmtu: the path MTU to the destination.</summary>
    public int Pmtu;
    /// <summary>dst.expires: when the exception stops counting (net.ipv6.route.mtu_expires after it was learned).</summary>
    public long ExpiresNs;
}

/// <summary>
/// The per-destination exceptions of a namespace's routes: path MTUs learned from ICMPv6 Packet Too
/// Big, each expiring after net.ipv6.route.mtu_expires. Looked up on every output packet, so the
/// lookup allocates nothing (a dictionary keyed by the destination; an empty one costs a count test).
/// </summary>
/// <remarks>Mirrors net/ipv6/route.c: the rt6_exception_bucket of each fib6_nh (keyed by daddr; the
/// saddr key only matters with CONFIG_IPV6_SUBTREES, which this stack has not), rt6_insert_exception(),
/// rt6_find_cached_rt(), rt6_age_exceptions() (lazily: an expired entry is removed when met).</remarks>
internal sealed class Rt6ExceptionTable
{
    /// <summary>The most exceptions kept; Linux bounds each route's bucket (FIB6_MAX_DEPTH), this stack the namespace's one table.</summary>
    internal const int MaxEntries = 4096;
    private readonly Dictionary<UInt128, Rt6Exception> _map = new();

    /// <summary>How many exceptions are kept (expired ones until they are met).</summary>
    public int Count => _map.Count;

    /// <summary>The live exception for <paramref name="daddr"/>, removing it when it has expired.</summary>
    /// <remarks>Mirrors rt6_find_cached_rt() + rt6_check_expired().</remarks>
    public bool TryFind(UInt128 daddr, long nowNs, out Rt6Exception ex)
    {
        if (_map.Count == 0 || !_map.TryGetValue(daddr, out ex))
        {
            ex = default;
            return false;
        }
        if (nowNs - ex.ExpiresNs >= 0)
        {
            _map.Remove(daddr);
            return false;
        }
        return true;
    }

    /// <summary>Adds or replaces the exception of <paramref name="daddr"/>; the oldest-expiring one goes when the table is full.</summary>
    /// <remarks>Mirrors rt6_insert_exception() (rt6_exception_remove_oldest() past the bucket's depth).</remarks>
    public void Insert(UInt128 daddr, Rt6Exception ex)
    {
        if (_map.Count >= MaxEntries && !_map.ContainsKey(daddr))
        {
            UInt128 oldest = default;
            long oldestExp = long.MaxValue;
            foreach (var (k, v) in _map)
                if (v.ExpiresNs < oldestExp) { oldestExp = v.ExpiresNs; oldest = k; }
            _map.Remove(oldest);
        }
        _map[daddr] = ex;
    }

    /// <summary>Forgets every exception (`ip -6 route flush cache`).</summary>
    /// <remarks>Mirrors rt6_flush_exceptions().</remarks>
    public void Flush() => _map.Clear();
}

/// <summary>
/// Path MTU discovery for IPv6: what a Packet Too Big teaches the routes, and the MTU a packet
/// then leaves with. The hooks TCP over IPv6 uses (tcp_v6_mtu_reduced) are
/// <see cref="Ip6SkUpdatePmtu"/> and <see cref="Ip6DstMtu"/>.
/// </summary>
/// <remarks>Mirrors net/ipv6/route.c: ip6_update_pmtu(), ip6_sk_update_pmtu(), __ip6_rt_update_pmtu(),
/// rt6_do_update_pmtu(), ip6_mtu() (dst_mtu()).</remarks>
internal static class Route6Pmtu
{
    /// <summary>
    /// The MTU of the path to <paramref name="daddr"/> along <paramref name="rt"/>: a live learned
    /// path MTU, else the device's (never above it: rt6_mtu_change() lowers exceptions with the device).
    /// Loopback and local routes have no exceptions.
    /// </summary>
    /// <remarks>Mirrors dst_mtu() = ip6_mtu() of the cached clone rt6_find_cached_rt() returns (RTAX_MTU / rt6i_pmtu, else the device's mtu6).</remarks>
    public static int Ip6DstMtu(NetNamespace net, Rt6Info rt, UInt128 daddr)
    {
        int mtu = Addrconf.Ip6DevMtu(net, rt.Dev);
        if (rt.Type == Rt6Type.Local || rt.Dev.IsLoopback) return mtu;
        if (net.Ipv6.Rt6Exceptions.TryFind(daddr, net.NowNs, out var ex) && ex.Pmtu < mtu) mtu = ex.Pmtu;
        return mtu;
    }

    /// <summary>
    /// A Packet Too Big about a packet to <paramref name="daddr"/> said <paramref name="mtu"/>:
    /// the route to it learns the smaller MTU for net.ipv6.route.mtu_expires. Ignored (RFC 8201 4)
    /// below IPV6_MIN_MTU, when not smaller than what the path has, for a local route, or without a route.
    /// </summary>
    /// <remarks>Mirrors ip6_update_pmtu() -> ip6_route_output() -> __ip6_rt_update_pmtu() -> ip6_rt_cache_alloc() +
    /// rt6_do_update_pmtu() (RTF_MODIFIED, rt6_update_expires(ip6_rt_mtu_expires)) + rt6_insert_exception().</remarks>
    public static void Ip6UpdatePmtu(NetNamespace net, UInt128 daddr, UInt128 saddr, int oif, uint mtu)
    {
        var dev = oif != 0 ? net.DevGetByIndex(oif) : null;
        // The error arrived on the link it names: a link-local or multicast destination is looked up on it.
        var rt = Route6.Ip6RouteOutput(net, daddr, Ipv6Address.IsLinkLocal(daddr) || Ipv6Address.IsMulticast(daddr) ? dev : null);
        if (rt is null) return; // dst->error
        if (rt.Type == Rt6Type.Local) return; // RTF_LOCAL: nothing to learn about ourselves
        if (mtu < Ipv6Header.MinMtu) return;
        if (mtu >= (uint)Ip6DstMtu(net, rt, daddr)) return;
        net.Ipv6.Rt6Exceptions.Insert(daddr, new Rt6Exception
        {
            Pmtu = (int)mtu,
            ExpiresNs = net.NowNs + Time.Sec(net.Ipv6.Sysctl.Ip6RtMtuExpiresSec),
        });
    }

    /// <summary>
    /// A socket's Packet Too Big (skb.Data at the quoted IPv6 header): the quoted flow's route
    /// learns the MTU, through the socket's bound interface (else the arrival interface).
    /// Only a quoted packet from one of our addresses teaches anything: an error about a packet
    /// this host cannot have sent is forged or misrouted.
    /// </summary>
    /// <remarks>Mirrors ip6_sk_update_pmtu() -> ip6_update_pmtu() (oif = sk_bound_dev_if, else the skb's
    /// device when the error is not link-scoped). The local-source check stands in for what Linux
    /// gets from the socket lookup (the callers found the sending socket first).</remarks>
    public static void Ip6SkUpdatePmtu(SkBuff skb, Sock? sk, uint mtu)
    {
        var net = skb.Dev!.Net!;
        var q = skb.DataSpan;
        if (q.Length < Ipv6Header.Length) return;
        var ip6 = Ipv6Header.Create(q);
        UInt128 daddr = ip6.Destination, saddr = ip6.Source;
        int oif = sk?.BoundDevIf ?? 0;
        if (oif == 0) oif = skb.Ip6cb.Iif != 0 ? skb.Ip6cb.Iif : skb.Dev.IfIndex;
        if (!Addrconf.Ipv6ChkAddr(net, saddr, null)) return;
        Ip6UpdatePmtu(net, daddr, saddr, oif, mtu);
    }

    /// <summary>Whether a socket takes a Packet Too Big's MTU: not with IPV6_PMTUDISC_INTERFACE or _OMIT.</summary>
    /// <remarks>Mirrors include/net/ip6_route.h: ip6_sk_accept_pmtu().</remarks>
    public static bool Ip6SkAcceptPmtu(Sock sk)
    {
        int p = ((InetSock)sk).Pinet6!.Pmtudisc;
        return p != IPV6_PMTUDISC_INTERFACE && p != IPV6_PMTUDISC_OMIT;
    }

    /// <summary>
    /// The MTU a datagram socket's send is built for: the device's with IPV6_PMTUDISC_PROBE or
    /// above, else the path's; lowered by IPV6_MTU (frag_size).
    /// </summary>
    /// <remarks>Mirrors ip6_setup_cork() (cork->base.fragsize).</remarks>
    public static int Ip6CorkMtu(NetNamespace net, Ipv6Pinfo np, Rt6Info rt, UInt128 daddr)
    {
        int mtu = np.Pmtudisc >= IPV6_PMTUDISC_PROBE ? rt.Dev.Mtu : Ip6DstMtu(net, rt, daddr);
        if (np.FragSize != 0 && np.FragSize < mtu) mtu = np.FragSize;
        return mtu;
    }

    /// <summary>Whether the socket lets its datagrams be fragmented (IPV6_PMTUDISC_DONT, _WANT, _OMIT).</summary>
    /// <remarks>Mirrors include/net/ip6_route.h: ip6_sk_ignore_df().</remarks>
    public static bool Ip6SkIgnoreDf(Ipv6Pinfo np) => np.Pmtudisc < IPV6_PMTUDISC_DO || np.Pmtudisc == IPV6_PMTUDISC_OMIT;

    /// <summary>
    /// The size check of __ip6_append_data(): a datagram of <paramref name="length"/> bytes after the
    /// IPv6 header that the socket forbids fragmenting and that does not fit <paramref name="mtu"/>
    /// is -EMSGSIZE, with the MTU queued as a local error under IPV6_RECVERR; anything up to
    /// IPV6_MAXPLEN goes when the socket allows fragments. 0 when it may be sent.
    /// </summary>
    /// <remarks>Mirrors __ip6_append_data(): maxnonfragsize and the emsgsize: label (ipv6_local_error()).</remarks>
    public static int Ip6AppendDataCheck(Sock sk, Ipv6Pinfo np, int mtu, int length, UInt128 daddr, ushort dport)
    {
        const int headersize = Ipv6Header.Length; // no extension headers of the socket's own
        int maxnonfragsize = Ip6SkIgnoreDf(np) ? Ipv6Header.Length + 0xFFFF : mtu;
        if (length > maxnonfragsize - headersize)
        {
            int pmtu = Math.Max(mtu - headersize + Ipv6Header.Length, 0);
            Inet6Datagram.Ipv6LocalError(sk, Uapi.Errno.EMSGSIZE, daddr, dport, (uint)pmtu);
            return -Uapi.Errno.EMSGSIZE;
        }
        return 0;
    }

    /// <summary>
    /// The checks sock_alloc_send_skb() makes when __ip6_append_data() takes the first buffer of a
    /// datagram with a transport header (UDP, ping): a pending socket error first (an ICMPv6 port
    /// unreachable on a connected UDP socket: the next send is ECONNREFUSED, and clears it), then a
    /// shut down send side (-EPIPE). 0 when the datagram may be built.
    /// </summary>
    /// <remarks>Mirrors net/core/sock.c: sock_alloc_send_pskb() (sock_error(), SEND_SHUTDOWN), as __ip6_append_data() calls it.</remarks>
    public static int Ip6AllocSendCheck(Sock sk)
    {
        int err = sk.SockError();
        if (err != 0) return err;
        return (sk.Shutdown & Uapi.SocketConstants.SEND_SHUTDOWN) != 0 ? -Uapi.Errno.EPIPE : 0;
    }

    /// <summary>getsockopt(IPV6_MTU): the MTU of the connected peer's path; 0 when not connected to a native IPv6 peer.</summary>
    /// <remarks>Mirrors do_ipv6_getsockopt() IPV6_MTU: dst_mtu(__sk_dst_get(sk)).</remarks>
    public static int Ip6SkPathMtu(Sock sk)
    {
        if (sk.State != Core.TcpState.Established) return 0;
        var daddr = sk.SkcV6Daddr;
        if (daddr == 0 || Ipv6Address.IsV4Mapped(daddr)) return 0;
        var net = sk.Net;
        NetDevice? dev = sk.BoundDevIf != 0 ? net.DevGetByIndex(sk.BoundDevIf) : null;
        lock (net.SyncRoot)
        {
            var rt = Route6.Ip6RouteOutput(net, daddr, dev);
            return rt is null ? 0 : Ip6DstMtu(net, rt, daddr);
        }
    }
}
