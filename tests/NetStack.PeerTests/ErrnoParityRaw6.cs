namespace NetStack.PeerTests;

/// <summary>
/// The raw IPv6 and IPv6 ancillary-data rows of the errno parity table (ports 7800-7899): the raw
/// socket's own options (net/ipv6/raw.c: do_rawv6_setsockopt / do_rawv6_getsockopt for
/// IPV6_CHECKSUM and IPV6_HDRINCL, rawv6_seticmpfilter for ICMPV6_FILTER), rawv6_sendmsg's checks,
/// IPV6_RECVPKTINFO / IPV6_RECVHOPLIMIT / IPV6_RECVTCLASS (do_ipv6_setsockopt) with the control
/// messages recvmsg returns (ip6_datagram_recv_ctl), and IPV6_MTU_DISCOVER=DO with IPV6_RECVERR
/// (__ip6_append_data, ipv6_local_error, ipv6_recv_error). The parity namespace runs with IPv6
/// off on both sides, so these rows send nothing over IPv6 (Raw6Tests, Pmtu6Tests and
/// Pmtu6PeerTests do).
/// </summary>
public static partial class ErrnoParityTable
{
    private static string Raw6Sock(string name, string protocol) =>
        "{'op':'socket','domain':'AF_INET6','type':'SOCK_RAW|SOCK_NONBLOCK','protocol':'" + protocol + "','as':'" + name + "'}";

    private static string Opt6(string fd, string level, string name, int value, string extra = "") =>
        "{'op':'setsockopt','fd':'" + fd + "','level':'" + level + "','name':'" + name + "','value':" + value + extra + "}";

    private static string Get6(string fd, string level, string name, string extra = "") =>
        "{'op':'getsockopt','fd':'" + fd + "','level':'" + level + "','name':'" + name + "'" + extra + "}";

    /// <summary>An ICMPv6 filter that blocks every type but <paramref name="pass"/> (ICMP6_FILTER_SETBLOCKALL + SETPASS), as the 32 bytes of struct icmp6_filter.</summary>
    private static string PassOnlyFilter(string fd, int pass)
    {
        var b = Enumerable.Repeat((byte)0xFF, 32).ToArray();
        b[pass >> 3] &= (byte)~(1 << (pass & 7));
        return "{'op':'setsockopt','fd':'" + fd + "','level':'SOL_ICMPV6','name':'ICMPV6_FILTER','hex':'" + Convert.ToHexString(b).ToLowerInvariant() + "'}";
    }

    /// <summary>An ICMPv6 echo request with identifier 0x7801, sequence 1 and 4 bytes of data.</summary>
    private const string EchoHex = "8000000078010001" + "61626364";

    /// <summary>The raw IPv6 and IPv6 control-message rows.</summary>
    public static IEnumerable<ParityRow> Raw6Rows =>
    [
        R("raw6: IPV6_CHECKSUM (2 on ICMPv6, not settable at SOL_IPV6 there; even offsets; -1 off) and IPV6_HDRINCL",
            Raw6Sock("i", "IPPROTO_ICMPV6"),
            Get6("i", "SOL_IPV6", "IPV6_CHECKSUM"),
            Opt6("i", "SOL_IPV6", "IPV6_CHECKSUM", 4),
            Opt6("i", "SOL_RAW", "IPV6_CHECKSUM", 4),
            Get6("i", "SOL_RAW", "IPV6_CHECKSUM"),
            Raw6Sock("o", "253"),
            Get6("o", "SOL_IPV6", "IPV6_CHECKSUM"),
            Opt6("o", "SOL_IPV6", "IPV6_CHECKSUM", 3),
            Opt6("o", "SOL_IPV6", "IPV6_CHECKSUM", 6, ",'optlen':2"),
            Opt6("o", "SOL_IPV6", "IPV6_CHECKSUM", 6),
            Get6("o", "SOL_IPV6", "IPV6_CHECKSUM"),
            Get6("o", "SOL_IPV6", "IPV6_CHECKSUM", ",'len':2"),
            Get6("o", "SOL_IPV6", "IPV6_CHECKSUM", ",'len':8"),
            Opt6("o", "SOL_IPV6", "IPV6_CHECKSUM", -7),
            Get6("o", "SOL_IPV6", "IPV6_CHECKSUM"),
            Get6("o", "SOL_IPV6", "IPV6_HDRINCL"),
            Opt6("o", "SOL_IPV6", "IPV6_HDRINCL", 5),
            Get6("o", "SOL_IPV6", "IPV6_HDRINCL"),
            Opt6("o", "SOL_RAW", "IPV6_HDRINCL", 0),
            Get6("o", "SOL_RAW", "IPV6_HDRINCL"),
            Opt6("o", "SOL_RAW", "IPV6_MTU", 0),
            Get6("o", "SOL_RAW", "IPV6_V6ONLY"),
            Raw6Sock("h", "IPPROTO_RAW"),
            Get6("h", "SOL_IPV6", "IPV6_HDRINCL")),
        R("raw6: ICMPV6_FILTER on ICMPv6 sockets only, at most 32 bytes",
            Raw6Sock("i", "IPPROTO_ICMPV6"),
            Get6("i", "SOL_ICMPV6", "ICMPV6_FILTER", ",'len':32"),
            PassOnlyFilter("i", 129),
            Get6("i", "SOL_ICMPV6", "ICMPV6_FILTER", ",'len':40"),
            Get6("i", "SOL_ICMPV6", "ICMPV6_FILTER", ",'len':4"),
            Get6("i", "SOL_ICMPV6", "ICMPV6_FILTER", ",'len':-1"),
            "{'op':'setsockopt','fd':'i','level':'SOL_ICMPV6','name':'ICMPV6_FILTER','hex':'0000'}",
            Get6("i", "SOL_ICMPV6", "ICMPV6_FILTER", ",'len':8"),
            Opt6("i", "SOL_ICMPV6", "ICMPV6_FILTER", 0, ",'optlen':0"),
            Get6("i", "SOL_ICMPV6", "ICMPV6_FILTER", ",'len':32"),
            Raw6Sock("o", "253"),
            PassOnlyFilter("o", 129),
            Get6("o", "SOL_ICMPV6", "ICMPV6_FILTER", ",'len':32"),
            Sock6("u", "SOCK_DGRAM"),
            Get6("u", "SOL_ICMPV6", "ICMPV6_FILTER", ",'len':32")),
        R("raw6: rawv6_sendmsg's checks: addrlen, family, next header in the port, MSG_OOB, no peer, the checksum's room, IPV6_HDRINCL's size",
            Raw6Sock("i", "IPPROTO_ICMPV6"),
            "{'op':'sendto','fd':'i','data':'" + EchoHex + "','addr':'::1','port':0,'addrlen':20}",
            "{'op':'sendto','fd':'i','data':'" + EchoHex + "','addr':'::1','port':0,'family':'AF_INET','addrlen':28}",
            "{'op':'sendto','fd':'i','data':'" + EchoHex + "','addr':'::1','port':17}",
            "{'op':'sendto','fd':'i','data':'" + EchoHex + "','addr':'::1','port':300}",
            "{'op':'sendto','fd':'i','data':'" + EchoHex + "','addr':'::1','port':0,'flags':'MSG_OOB'}",
            "{'op':'send','fd':'i','data':'" + EchoHex + "'}",
            "{'op':'sendto','fd':'i','data':'800000','addr':'::1','port':0}",
            "{'op':'sendto','fd':'i','data':'80000000','addr':'::1','port':0}",
            "{'op':'sendto','fd':'i','data':'" + EchoHex + "','addr':'$MSELF','port':0}",
            Raw6Sock("h", "IPPROTO_RAW"),
            "{'op':'sendto','fd':'h','data':'6000000000003aff','addr':'::1','port':0}",
            "{'op':'sendto','fd':'h','len':65537,'addr':'::1','port':0}"),
        R("cmsg6: IPV6_RECVPKTINFO, IPV6_RECVHOPLIMIT, IPV6_RECVTCLASS values and lengths",
            Sock6("u", "SOCK_DGRAM"),
            Get6("u", "SOL_IPV6", "IPV6_RECVPKTINFO"),
            Opt6("u", "SOL_IPV6", "IPV6_RECVPKTINFO", 7),
            Get6("u", "SOL_IPV6", "IPV6_RECVPKTINFO"),
            Opt6("u", "SOL_IPV6", "IPV6_RECVPKTINFO", 1, ",'optlen':2"),
            Opt6("u", "SOL_IPV6", "IPV6_RECVHOPLIMIT", -1),
            Get6("u", "SOL_IPV6", "IPV6_RECVHOPLIMIT"),
            Get6("u", "SOL_IPV6", "IPV6_RECVHOPLIMIT", ",'len':1"),
            Opt6("u", "SOL_IPV6", "IPV6_RECVTCLASS", 1),
            Get6("u", "SOL_IPV6", "IPV6_RECVTCLASS"),
            Opt6("u", "SOL_IPV6", "IPV6_RECVTCLASS", 0),
            Get6("u", "SOL_IPV6", "IPV6_RECVTCLASS"),
            Sock6("t"),
            Opt6("t", "SOL_IPV6", "IPV6_RECVPKTINFO", 1),
            Get6("t", "SOL_IPV6", "IPV6_RECVPKTINFO")),
        R("pmtu6: IPV6_MTU needs a connected socket, IPV6_MTU_DISCOVER and IPV6_MTU values, a v4-mapped peer's path",
            "{'op':'socket','domain':'AF_INET6','type':'SOCK_DGRAM|SOCK_NONBLOCK','protocol':0,'as':'u'}",
            V6Get("u", "IPV6_MTU"),
            V6Get("u", "IPV6_MTU_DISCOVER"),
            V6Opt("u", "IPV6_MTU_DISCOVER", 2),
            V6Opt("u", "IPV6_MTU_DISCOVER", 5),
            V6Opt("u", "IPV6_MTU_DISCOVER", 6),
            V6Opt("u", "IPV6_MTU_DISCOVER", -1),
            V6Get("u", "IPV6_MTU_DISCOVER"),
            V6Opt("u", "IPV6_MTU", 1279),
            V6Opt("u", "IPV6_MTU", 1280),
            V6Opt("u", "IPV6_MTU", 0),
            V6Opt("u", "IPV6_RECVERR", 1),
            "{'op':'recvmsg','fd':'u','len':100,'flags':'MSG_ERRQUEUE'}",
            "{'op':'connect','fd':'u','addr':'$MSELF','port':7801}",
            "{'op':'send','fd':'u','len':70000}",
            V6Get("u", "IPV6_MTU"),
            Raw6Sock("r", "IPPROTO_ICMPV6"),
            V6Get("r", "IPV6_MTU"),
            "{'op':'recvmsg','fd':'r','len':100,'flags':'MSG_ERRQUEUE'}"),
    ];
}
