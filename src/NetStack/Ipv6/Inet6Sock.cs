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

    /// <summary>The copy a listener's child starts with (tcp_v6_syn_recv_sock(): memcpy(newnp, np, sizeof(struct ipv6_pinfo))).</summary>
    public Ipv6Pinfo Clone() => (Ipv6Pinfo)MemberwiseClone();
}
