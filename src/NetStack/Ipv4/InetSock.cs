using NetStack.Core;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Ipv4;

/// <summary>
/// An AF_INET socket's representation (struct inet_sock): the addresses and ports of the
/// 4-tuple and the IP-level options. Addresses are host order (the stack's convention); ports too,
/// so <see cref="InetSport"/> equals <see cref="InetNum"/> once bound (the kernel keeps inet_sport
/// in network order beside the host-order inet_num).
/// <remarks>Mirrors include/net/inet_sock.h: struct inet_sock.</remarks>
/// </summary>
public class InetSock : Sock
{
    /// <summary>inet_saddr: the source address used for sending (0 = pick by route).</summary>
    public uint InetSaddr;
    /// <summary>inet_rcv_saddr: the bound local address used by lookups (0 = any); sock_common's skc_rcv_saddr.</summary>
    public ref uint InetRcvSaddr => ref SkcRcvSaddr;
    /// <summary>inet_daddr: the foreign address (connected sockets); sock_common's skc_daddr.</summary>
    public ref uint InetDaddr => ref SkcDaddr;
    /// <summary>inet_sport: the source port.</summary>
    public ushort InetSport;
    /// <summary>inet_dport: the destination port; sock_common's skc_dport.</summary>
    public ref ushort InetDport => ref SkcDport;
    /// <summary>inet_num: the local port (for raw sockets, the IP protocol); sock_common's skc_num.</summary>
    public ref ushort InetNum => ref SkcNum;

    /// <summary>uc_ttl: IP_TTL; -1 means net.ipv4.ip_default_ttl.</summary>
    public int UcTtl = -1;
    /// <summary>tos: IP_TOS.</summary>
    public byte Tos;
    /// <summary>mc_ttl: IP_MULTICAST_TTL: the TTL of group sends.</summary>
    public int McTtl = 1;
    /// <summary>mc_loop: IP_MULTICAST_LOOP: group sends are looped back to local members.</summary>
    public bool McLoop = true;
    /// <summary>mc_index: IP_MULTICAST_IF's interface index: where group sends leave.</summary>
    public int McIndex;
    /// <summary>mc_addr: IP_MULTICAST_IF's address: the source of group sends (host order; 0 = by route).</summary>
    public uint McAddr;
    /// <summary>mc_list: the groups this socket joined (null until the first IP_ADD_MEMBERSHIP).</summary>
    internal List<IpMcSocklist>? McList;
    /// <summary>pmtudisc: IP_MTU_DISCOVER (IP_PMTUDISC_WANT by default, or DONT with ip_no_pmtu_disc).</summary>
    public int Pmtudisc = IP_PMTUDISC_WANT;
    /// <summary>inet_id: IP ID counter of this socket.</summary>
    public ushort InetId;

    /// <summary>HDRINCL: the user supplies the IP header (raw sockets; IPPROTO_RAW sets it).</summary>
    public bool Hdrincl;
    /// <summary>RECVERR: IP_RECVERR; ICMP errors are reported to unconnected sockets too.</summary>
    public bool RecvErr;
    /// <summary>IS_ICSK: this sock is an inet_connection_sock (INET_PROTOSW_ICSK).</summary>
    public bool IsIcsk;
    /// <summary>FREEBIND / TRANSPARENT: bind to an address that is not (yet) local.</summary>
    public bool FreeBind, Transparent;
    /// <summary>BIND_ADDRESS_NO_PORT: IP_BIND_ADDRESS_NO_PORT.</summary>
    public bool BindAddressNoPort;
    /// <summary>nodefrag (IP_NODEFRAG): a raw socket sees fragments as they come (no defragmentation before netfilter; nothing to skip here).</summary>
    public bool NoDefrag;
    /// <summary>min_ttl (IP_MINTTL): TCP segments that arrive with a lower TTL are dropped (TCPMinTTLDrop).</summary>
    public byte MinTtl;
    /// <summary>inet_opt (IP_OPTIONS): the options every packet of the socket carries; Opt.Optlen 0 for none.</summary>
    internal IpOptionsData InetOpt;
    /// <summary>MC_ALL: IP_MULTICAST_ALL: a group datagram reaches this socket even for a group it did not join.</summary>
    public bool McAll = true;
    /// <summary>rcv_tos.</summary>
    public byte RcvTos;
    /// <summary>
    /// cmsg_flags: which SOL_IP control messages recvmsg returns (the IP_CMSG_* bits of
    /// <see cref="IpSockglue"/>: IP_PKTINFO, IP_RECVTTL, IP_RECVTOS, IP_RECVORIGDSTADDR).
    /// </summary>
    internal int CmsgFlags;

    /// <summary>
    /// pinet6: the IPv6 part of an AF_INET6 sock (null for AF_INET), which a dual-stack socket
    /// keeps beside the IPv4 fields it uses for v4-mapped peers.
    /// </summary>
    public Ipv6.Ipv6Pinfo? Pinet6;
    /// <summary>
    /// The ipv6_pinfo of an AF_INET6 sock taken from the TCPv6 slab cache: in Linux it is part of
    /// the tcp6_sock, so a sock keeps it for its next life (a new one is made only for a sock
    /// that has none); set again by <see cref="Ipv6.Ipv6Pinfo.Alloc"/>.
    /// </summary>
    internal Ipv6.Ipv6Pinfo? Pinet6Area;

    /// <summary>Forgets the bound local addresses, of both families (an AF_INET6 sock's v6 source and bound address too).</summary>
    /// <remarks>Mirrors include/net/inet_sock.h: inet_reset_saddr().</remarks>
    internal void InetResetSaddr()
    {
        InetRcvSaddr = InetSaddr = 0;
        if (Pinet6 is { } np)
        {
            np.Saddr = UInt128.Zero;
            SkcV6RcvSaddr = UInt128.Zero;
        }
    }

    /// <summary>The next hop cache (sk_dst_cache): valid while <see cref="DstValid"/>.</summary>
    public Rtable Dst;
    /// <summary>Whether <see cref="Dst"/> holds a usable route; cleared by <see cref="DstReset"/>.</summary>
    public bool DstValid;
    /// <summary>The IPv6 route of a native IPv6 connection (sk_dst_cache as an rt6_info); <see cref="Dst"/> then names its device.</summary>
    internal Ipv6.Rt6Info? Dst6;

    /// <summary>Forgets the cached route, so the next send looks it up again.</summary>
    /// <remarks>Mirrors sk_dst_reset().</remarks>
    public void DstReset() => DstValid = false;

    /// <remarks>Mirrors sk_dst_reset().</remarks>
    internal override void SkDstReset() => DstReset();

    /// <summary>
    /// The output device a send asks for (ipc.oif): the bound device; for a group, else
    /// IP_MULTICAST_IF's device, whose address also becomes the source when none is set.
    /// </summary>
    /// <remarks>Mirrors the ipcm_init_sk() / mc_index / mc_addr block udp_sendmsg(), raw_sendmsg() and ping_v4_sendmsg() share.</remarks>
    internal int SendOif(uint daddr, ref uint saddr)
    {
        int oif = BoundDevIf;
        if (Wire.Ipv4Address.IsMulticast(daddr))
        {
            if (oif == 0) oif = McIndex;
            if (saddr == 0) saddr = McAddr;
        }
        return oif;
    }

    /// <summary>The TTL to send with: IP_TTL or the sysctl default.</summary>
    /// <remarks>Mirrors ip_select_ttl().</remarks>
    public int SelectTtl() => UcTtl >= 0 ? UcTtl : Net.Ipv4.Sysctl.IpDefaultTtl;

    /// <summary>A debugging description: type, protocol, state and the local and remote address:port.</summary>
    public override string ToString() =>
        $"{GetType().Name}({Prot?.Name} {State} {Wire.Ipv4Address.Format(InetRcvSaddr)}:{InetNum} -> {Wire.Ipv4Address.Format(InetDaddr)}:{InetDport})";
}
