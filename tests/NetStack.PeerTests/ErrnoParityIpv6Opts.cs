namespace NetStack.PeerTests;

/// <summary>
/// The IPv6 path-MTU, GTSM and sticky-pktinfo option rows of the errno parity table (ports
/// 8200-8299): IPV6_DONTFRAG, IPV6_MINHOPCOUNT, IPV6_RECVPATHMTU, IPV6_PATHMTU and IPV6_PKTINFO
/// as options (net/ipv6/ipv6_sockglue.c: do_ipv6_setsockopt, do_ipv6_getsockopt). The parity
/// namespace runs with IPv6 off on both sides, so these rows send nothing over IPv6: the send
/// paths (a refused IPV6_DONTFRAG datagram, the IPV6_PATHMTU control message, the GTSM drop) are
/// in Ipv6OptsTests. IPV6_PATHMTU of a socket connected to a v4-mapped peer reads the IPv4 route.
/// </summary>
public static partial class ErrnoParityTable
{
    private static string Pktinfo6(string fd, string hex) =>
        "{'op':'setsockopt','fd':'" + fd + "','level':'SOL_IPV6','name':'IPV6_PKTINFO','hex':'" + hex + "'}";

    /// <summary>struct in6_pktinfo {2001:db8::1, ifindex} as hex (an address neither side has).</summary>
    private static string PktinfoHex(int ifindex) =>
        "20010db8000000000000000000000001" + Convert.ToHexString(BitConverter.GetBytes(ifindex)).ToLowerInvariant();

    /// <summary>The IPv6 option rows.</summary>
    public static IEnumerable<ParityRow> Ipv6OptsRows =>
    [
        R("inet6 opts: IPV6_DONTFRAG (any length, a short one reads 0), IPV6_MINHOPCOUNT (0..255), IPV6_RECVPATHMTU (UDP)",
            Sock6("u", "SOCK_DGRAM"),
            V6Get("u", "IPV6_DONTFRAG"),
            V6Opt("u", "IPV6_DONTFRAG", 5), V6Get("u", "IPV6_DONTFRAG"),
            V6Opt("u", "IPV6_DONTFRAG", 1, optlen: 1), V6Get("u", "IPV6_DONTFRAG"),
            V6Opt("u", "IPV6_DONTFRAG", 1, optlen: 0), V6Get("u", "IPV6_DONTFRAG"),
            V6Get("u", "IPV6_MINHOPCOUNT"),
            V6Opt("u", "IPV6_MINHOPCOUNT", -1), V6Opt("u", "IPV6_MINHOPCOUNT", 256), V6Opt("u", "IPV6_MINHOPCOUNT", 9, optlen: 2),
            V6Opt("u", "IPV6_MINHOPCOUNT", 255), V6Get("u", "IPV6_MINHOPCOUNT"),
            V6Opt("u", "IPV6_MINHOPCOUNT", 0), V6Get("u", "IPV6_MINHOPCOUNT"),
            V6Get("u", "IPV6_RECVPATHMTU"),
            V6Opt("u", "IPV6_RECVPATHMTU", 1, optlen: 2), V6Opt("u", "IPV6_RECVPATHMTU", 7), V6Get("u", "IPV6_RECVPATHMTU"),
            "{'op':'getsockopt','fd':'u','level':'SOL_IPV6','name':'IPV6_MINHOPCOUNT','len':1}"),
        R("inet6 opts: IPV6_PATHMTU is read-only, wants a whole struct ip6_mtuinfo, then a connection",
            Sock6("u", "SOCK_DGRAM"),
            V6Opt("u", "IPV6_PATHMTU", 1),
            "{'op':'getsockopt','fd':'u','level':'SOL_IPV6','name':'IPV6_PATHMTU','len':31}",
            "{'op':'getsockopt','fd':'u','level':'SOL_IPV6','name':'IPV6_PATHMTU','len':32}",
            Sock6("t"),
            "{'op':'getsockopt','fd':'t','level':'SOL_IPV6','name':'IPV6_PATHMTU','len':32}",
            V6Opt("t", "IPV6_DONTFRAG", 1), V6Get("t", "IPV6_DONTFRAG"),
            V6Opt("t", "IPV6_MINHOPCOUNT", 10), V6Get("t", "IPV6_MINHOPCOUNT"),
            V6Opt("t", "IPV6_RECVPATHMTU", 1), V6Get("t", "IPV6_RECVPATHMTU")),
        R("inet6 opts: IPV6_PATHMTU and IPV6_MTU of a UDP socket connected to a v4-mapped peer (the IPv4 route's MTU)",
            Sock6("u", "SOCK_DGRAM"),
            "{'op':'connect','fd':'u','addr':'$MPEER','port':8201}",
            "{'op':'getsockopt','fd':'u','level':'SOL_IPV6','name':'IPV6_PATHMTU','len':40}",
            "{'op':'getsockopt','fd':'u','level':'SOL_IPV6','name':'IPV6_PATHMTU','len':31}",
            V6Get("u", "IPV6_MTU")),
        R("inet6 opts: sticky IPV6_PKTINFO (a whole in6_pktinfo; neither the address nor the interface is checked; the bound device only; not readable)",
            Sock6("u", "SOCK_DGRAM"),
            Pktinfo6("u", ""),
            Pktinfo6("u", PktinfoHex(0)[..38]),
            Pktinfo6("u", PktinfoHex(0)),
            Pktinfo6("u", PktinfoHex(0) + "00000000"),
            Pktinfo6("u", PktinfoHex(99)),
            "{'op':'getsockopt','fd':'u','level':'SOL_IPV6','name':'IPV6_PKTINFO','len':20}",
            Sock6("b", "SOCK_DGRAM"),
            "{'op':'setsockopt','fd':'b','level':'SOL_SOCKET','name':'SO_BINDTOIFINDEX','value':1}",
            Pktinfo6("b", PktinfoHex(0)),
            Pktinfo6("b", PktinfoHex(2)),
            Pktinfo6("b", PktinfoHex(1)),
            Sock6("t"),
            Pktinfo6("t", PktinfoHex(0))),
    ];
}
