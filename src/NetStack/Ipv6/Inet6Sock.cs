using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Ipv6;

/// <summary>
/// The IPv6 part of an AF_INET6 socket (inet6_sk()): the source address and the SOL_IPV6 options.
/// An AF_INET6 <see cref="Ipv4.InetSock"/> points at one through <see cref="Ipv4.InetSock.Pinet6"/>
/// (inet_sk(sk)->pinet6), as the tcp6_sock / udp6_sock layouts do; the addresses a lookup needs
/// (sk_v6_daddr, sk_v6_rcv_saddr, ipv6only) live in <see cref="Core.SockCommon"/>.
/// <remarks>Mirrors include/linux/ipv6.h: struct ipv6_pinfo.</remarks>
/// </summary>
public sealed class Ipv6Pinfo
{
    /// <summary>IPV6_DEFAULT_MCASTHOPS: the hop limit of group sends unless IPV6_MULTICAST_HOPS says otherwise.</summary>
    public const int Ipv6DefaultMcastHops = 1;

    /// <summary>saddr: the source address of sends (:: = pick by route); ::ffff:a.b.c.d once a v4-mapped flow chose one.</summary>
    public UInt128 Saddr;
    /// <summary>flow_label: the flow label of a connected socket.</summary>
    public uint FlowLabel;
    /// <summary>hop_limit: IPV6_UNICAST_HOPS; -1 means the route's (or net.ipv6.conf.all.hop_limit).</summary>
    public int HopLimit = -1;
    /// <summary>mcast_hops: IPV6_MULTICAST_HOPS.</summary>
    public int McastHops = Ipv6DefaultMcastHops;
    /// <summary>mcast_oif: IPV6_MULTICAST_IF.</summary>
    public int McastOif;
    /// <summary>ucast_oif: IPV6_UNICAST_IF.</summary>
    public int UcastOif;
    /// <summary>tclass: IPV6_TCLASS, the traffic class of sends.</summary>
    public int Tclass;
    /// <summary>pmtudisc: IPV6_MTU_DISCOVER (IPV6_PMTUDISC_WANT by default).</summary>
    public int Pmtudisc = IPV6_PMTUDISC_WANT;
    /// <summary>frag_size: IPV6_MTU (0: the path's).</summary>
    public int FragSize;
    /// <summary>RECVERR6: IPV6_RECVERR; errors are queued for MSG_ERRQUEUE.</summary>
    public bool Recverr;
    /// <summary>RECVERR6_RFC4884: IPV6_RECVERR_RFC4884.</summary>
    public bool RecverrRfc4884;
    /// <summary>MC6_LOOP: IPV6_MULTICAST_LOOP.</summary>
    public bool McLoop = true;
    /// <summary>MC6_ALL: IPV6_MULTICAST_ALL.</summary>
    public bool McAll = true;
    /// <summary>rxopt.bits.rxinfo: IPV6_RECVPKTINFO, an IPV6_PKTINFO control message on receive.</summary>
    public bool RxInfo;
    /// <summary>rxopt.bits.rxhlim: IPV6_RECVHOPLIMIT, an IPV6_HOPLIMIT control message on receive.</summary>
    public bool RxHlim;
    /// <summary>rxopt.bits.rxtclass: IPV6_RECVTCLASS, an IPV6_TCLASS control message on receive.</summary>
    public bool RxTclass;
    /// <summary>rxopt.all != 0: some received-packet control message is asked for.</summary>
    public bool RxoptAll => RxInfo || RxHlim || RxTclass;
    /// <summary>SNDFLOW: IPV6_FLOWINFO_SEND, sin6_flowinfo carries the flow label on sends.</summary>
    public bool Sndflow;
    /// <summary>DONTFRAG: IPV6_DONTFRAG, a UDP/ICMPv6/raw datagram larger than the path is -EMSGSIZE instead of fragmented.</summary>
    public bool Dontfrag;
    /// <summary>rxopt.bits.rxpmtu: IPV6_RECVPATHMTU, recvmsg reports a refused datagram's path MTU (an IPV6_PATHMTU control message).</summary>
    public bool RxPmtu;
    /// <summary>min_hopcount: IPV6_MINHOPCOUNT (RFC 5082 GTSM), TCP segments with a lower hop limit are dropped; 0 is off.</summary>
    public byte MinHopcount;
    /// <summary>sticky_pktinfo.ipi6_addr: IPV6_PKTINFO set as an option (kept; the source of sends does not follow it, as in Linux).</summary>
    public UInt128 StickyPktinfoAddr;
    /// <summary>sticky_pktinfo.ipi6_ifindex: the interface of sends that name none otherwise (after the bound device).</summary>
    public int StickyPktinfoIfindex;
    /// <summary>rxpmtu: the path MTU information ipv6_local_rxpmtu() left for the next recvmsg (one at a time, the newest wins).</summary>
    internal Ip6Mtuinfo Rxpmtu;

    /// <summary>The copy a listener's child starts with (tcp_v6_syn_recv_sock(): memcpy(newnp, np, sizeof(struct ipv6_pinfo))).</summary>
    public Ipv6Pinfo Clone() => (Ipv6Pinfo)MemberwiseClone();

    private static readonly Action<Ipv6Pinfo, Ipv6Pinfo> s_copy = Core.SkProtClear<Ipv6Pinfo>.CompileCopy();
    private static readonly Ipv6Pinfo s_new = new();

    /// <summary>
    /// The ipv6_pinfo for <paramref name="inet"/>: the one its sock kept from the slab cache, set to
    /// <paramref name="from"/> (a listener's, for its child: the memcpy of tcp_v6_syn_recv_sock()) or
    /// to a new one's values (inet6_sk_generic() of a new sock); a new object when it kept none.
    /// </summary>
    internal static Ipv6Pinfo Alloc(Ipv4.InetSock inet, Ipv6Pinfo? from = null)
    {
        var np = inet.Pinet6Area;
        if (np is null) return from?.Clone() ?? new Ipv6Pinfo();
        inet.Pinet6Area = null;
        s_copy(from ?? s_new, np);
        return np;
    }
}

/// <summary>
/// The path MTU a datagram met (RFC 3542 11.3): the destination as a sockaddr_in6 (port and flow
/// information 0, the flow's interface as scope id) and the MTU. Pending is the kernel's non-null
/// np->rxpmtu skb.
/// </summary>
/// <remarks>Mirrors include/uapi/linux/ipv6.h: struct ip6_mtuinfo (32 bytes), held as ipv6_local_rxpmtu() queues it.</remarks>
internal struct Ip6Mtuinfo
{
    /// <summary>sizeof(struct ip6_mtuinfo): a sockaddr_in6 and a u32.</summary>
    public const int Size = 32;
    /// <summary>Whether one waits for recvmsg.</summary>
    public bool Pending;
    /// <summary>ip6m_addr.sin6_family: AF_INET6 in a control message, 0 in getsockopt(IPV6_PATHMTU)'s answer (which fills only the MTU).</summary>
    public ushort Family;
    /// <summary>ip6m_addr.sin6_addr.</summary>
    public UInt128 Addr;
    /// <summary>ip6m_addr.sin6_scope_id.</summary>
    public uint ScopeId;
    /// <summary>ip6m_mtu.</summary>
    public uint Mtu;

    /// <summary>Writes the struct as the kernel lays it out (sin6_family, port 0, flowinfo 0, address, scope id, then the MTU) into the first <see cref="Size"/> bytes.</summary>
    public readonly void Write(Span<byte> dst)
    {
        dst[..Size].Clear();
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(dst, Family);
        Ipv6Address.Write(dst[8..], Addr);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(dst[24..], ScopeId);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(dst[28..], Mtu);
    }
}
