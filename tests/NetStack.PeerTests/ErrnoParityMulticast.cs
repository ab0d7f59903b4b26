namespace NetStack.PeerTests;

/// <summary>
/// The multicast rows of the errno parity table (net/ipv4/ip_sockglue.c: do_ip_setsockopt /
/// do_ip_getsockopt for IP_ADD_MEMBERSHIP, IP_DROP_MEMBERSHIP, IP_MULTICAST_IF, IP_MULTICAST_TTL,
/// IP_MULTICAST_LOOP, IP_MULTICAST_ALL; net/ipv4/igmp.c: ip_mc_join_group, ip_mc_leave_group;
/// net/ipv4/ip_output.c: ip_mc_output's loopback of group sends and broadcasts). Ports 6200-6219.
/// Membership requests are raw structs: ip_mreq (group, interface address) and ip_mreqn (and the
/// ifindex, little-endian), with $HEXSELF the side's own address in network order.
/// </summary>
public static partial class ErrnoParityTable
{
    /// <summary>239.1.2.3 in network order.</summary>
    private const string G = "ef010203";

    private static string McOpt(string fd, string name, string hex) =>
        "{'op':'setsockopt','fd':'" + fd + "','level':'SOL_IP','name':'" + name + "','hex':'" + hex + "'}";

    private static string McInt(string fd, string name, int value, int? optlen = null) =>
        "{'op':'setsockopt','fd':'" + fd + "','level':'SOL_IP','name':'" + name + "','value':" + value +
        (optlen is { } l ? ",'optlen':" + l : "") + "}";

    private static string McGet(string fd, string name, int len = 4) =>
        "{'op':'getsockopt','fd':'" + fd + "','level':'SOL_IP','name':'" + name + "','len':" + len + "}";

    private static string Sock(string name, string type = "SOCK_DGRAM|SOCK_NONBLOCK") =>
        "{'op':'socket','domain':'AF_INET','type':'" + type + "','protocol':0,'as':'" + name + "'}";

    private static string BindAny(string fd, int port) => "{'op':'bind','fd':'" + fd + "','addr':'0.0.0.0','port':" + port + "}";

    private static string Recv(string fd) => "{'op':'recvfrom','fd':'" + fd + "','len':100}";

    /// <summary>Memberships, the multicast options, and what a group send or a broadcast does on the sending host.</summary>
    public static IEnumerable<ParityRow> MulticastRows =>
    [
        R("mcast: IP_ADD_MEMBERSHIP by address (ip_mreq, ip_mreqn), twice EADDRINUSE; drop, drop again EADDRNOTAVAIL",
            UdpNb,
            McOpt("s", "IP_ADD_MEMBERSHIP", G + "$HEXSELF"),
            McOpt("s", "IP_ADD_MEMBERSHIP", G + "$HEXSELF"),
            McOpt("s", "IP_ADD_MEMBERSHIP", G + "$HEXSELF" + "00000000"),
            McOpt("s", "IP_ADD_MEMBERSHIP", "ef010204" + "$HEXSELF" + "00000000"),
            McOpt("s", "IP_DROP_MEMBERSHIP", G + "$HEXSELF"),
            McOpt("s", "IP_DROP_MEMBERSHIP", G + "$HEXSELF"),
            McOpt("s", "IP_DROP_MEMBERSHIP", "ef010204" + "00000000"),
            McOpt("s", "IP_DROP_MEMBERSHIP", "ef010204" + "$HEXSELF" + "00000000"),
            McOpt("s", "IP_ADD_MEMBERSHIP", G + "$HEXSELF")),
        R("mcast: IP_ADD_MEMBERSHIP errors: not a group, short, no such ifindex or address, no route, TCP",
            UdpNb,
            McOpt("s", "IP_ADD_MEMBERSHIP", "0a010203" + "$HEXSELF"),
            McOpt("s", "IP_ADD_MEMBERSHIP", "ef01020300000000"[..14]),
            McOpt("s", "IP_ADD_MEMBERSHIP", G + "00000000" + "e7030000"),
            McOpt("s", "IP_ADD_MEMBERSHIP", G + "c0000201"),
            McOpt("s", "IP_ADD_MEMBERSHIP", G + "00000000"),
            McOpt("s", "IP_DROP_MEMBERSHIP", G + "00000000"),
            McOpt("s", "IP_DROP_MEMBERSHIP", "0a010203" + "$HEXSELF"),
            Sock("t", "SOCK_STREAM"),
            McOpt("t", "IP_ADD_MEMBERSHIP", G + "$HEXSELF"),
            McOpt("t", "IP_DROP_MEMBERSHIP", G + "$HEXSELF")),
        R("mcast: net.ipv4.igmp_max_memberships = 20 groups per socket, then ENOBUFS",
            [UdpNb, .. Enumerable.Range(0, 21).Select(i => McOpt("s", "IP_ADD_MEMBERSHIP", $"ef0102{i + 3:x2}" + "$HEXSELF")),
             McOpt("s", "IP_DROP_MEMBERSHIP", G + "$HEXSELF"),
             McOpt("s", "IP_ADD_MEMBERSHIP", "ef0103ff" + "$HEXSELF")]),
        R("mcast: IP_MULTICAST_TTL: default 1, -1 means 1, 0..255, else EINVAL; one byte; not on TCP",
            UdpNb,
            McGet("s", "IP_MULTICAST_TTL"),
            McInt("s", "IP_MULTICAST_TTL", 0),
            McGet("s", "IP_MULTICAST_TTL"),
            McInt("s", "IP_MULTICAST_TTL", -1),
            McGet("s", "IP_MULTICAST_TTL"),
            McInt("s", "IP_MULTICAST_TTL", 255),
            McGet("s", "IP_MULTICAST_TTL", 1),
            McInt("s", "IP_MULTICAST_TTL", 256),
            McInt("s", "IP_MULTICAST_TTL", -2),
            McInt("s", "IP_MULTICAST_TTL", 9, 1),
            McGet("s", "IP_MULTICAST_TTL"),
            McInt("s", "IP_MULTICAST_TTL", 9, 0),
            Sock("t", "SOCK_STREAM"),
            McInt("t", "IP_MULTICAST_TTL", 2),
            McGet("t", "IP_MULTICAST_TTL")),
        R("mcast: IP_MULTICAST_LOOP and IP_MULTICAST_ALL: defaults 1, values, lengths",
            UdpNb,
            McGet("s", "IP_MULTICAST_LOOP"),
            McInt("s", "IP_MULTICAST_LOOP", 0),
            McGet("s", "IP_MULTICAST_LOOP"),
            McInt("s", "IP_MULTICAST_LOOP", 5),
            McGet("s", "IP_MULTICAST_LOOP"),
            McInt("s", "IP_MULTICAST_LOOP", 1, 0),
            McGet("s", "IP_MULTICAST_ALL"),
            McInt("s", "IP_MULTICAST_ALL", 2),
            McInt("s", "IP_MULTICAST_ALL", 0),
            McGet("s", "IP_MULTICAST_ALL"),
            McInt("s", "IP_MULTICAST_ALL", 1, 0),
            McInt("s", "IP_MULTICAST_ALL", 1, 1),
            McGet("s", "IP_MULTICAST_ALL", 1)),
        R("mcast: IP_MULTICAST_IF by in_addr, ip_mreq, ip_mreqn; read back as the address; errors",
            UdpNb,
            McGet("s", "IP_MULTICAST_IF"),
            McOpt("s", "IP_MULTICAST_IF", "$HEXSELF"),
            "{'op':'getsockopt','fd':'s','level':'SOL_IP','name':'IP_MULTICAST_IF','len':8,'cmp':['ret','errno','len','hex']}",
            McOpt("s", "IP_MULTICAST_IF", "00000000"),
            McGet("s", "IP_MULTICAST_IF", 2),
            McOpt("s", "IP_MULTICAST_IF", "00000000" + "$HEXSELF"),
            McOpt("s", "IP_MULTICAST_IF", "00000000" + "00000000" + "e7030000"),
            McOpt("s", "IP_MULTICAST_IF", "c0000201"),
            McOpt("s", "IP_MULTICAST_IF", "000000"),
            McOpt("s", "IP_MULTICAST_IF", "00000000" + "c0000201" + "00000000"),
            Sock("t", "SOCK_STREAM"),
            McOpt("t", "IP_MULTICAST_IF", "$HEXSELF")),
        R("mcast: a group send is looped back to a member on the sending host, not with IP_MULTICAST_LOOP off",
            UdpNb,
            BindAny("s", 6200),
            McOpt("s", "IP_ADD_MEMBERSHIP", G + "$HEXSELF"),
            Sock("t"),
            "{'op':'bind','fd':'t','addr':'$SELF','port':6201}",
            // A bound source alone picks the device (no IP_MULTICAST_IF needed), then IP_MULTICAST_IF.
            "{'op':'sendto','fd':'t','text':'bound','addr':'239.1.2.3','port':6200}",
            McOpt("t", "IP_MULTICAST_IF", "$HEXSELF"),
            "{'op':'sendto','fd':'t','text':'loop','addr':'239.1.2.3','port':6200}",
            Sleep,
            Recv("s"),
            Recv("s"),
            McInt("t", "IP_MULTICAST_LOOP", 0),
            "{'op':'sendto','fd':'t','text':'wire','addr':'239.1.2.3','port':6200}",
            Sleep,
            Recv("s")),
        R("mcast: IP_MULTICAST_ALL=0 keeps out a group the socket did not join; a member and an MC_ALL socket get it",
            UdpNb,
            "{'op':'setsockopt','fd':'s','level':'SOL_SOCKET','name':'SO_REUSEADDR','value':1}",
            BindAny("s", 6204),
            McOpt("s", "IP_ADD_MEMBERSHIP", G + "$HEXSELF"),
            Sock("u"),
            "{'op':'setsockopt','fd':'u','level':'SOL_SOCKET','name':'SO_REUSEADDR','value':1}",
            BindAny("u", 6204),
            Sock("v"),
            "{'op':'setsockopt','fd':'v','level':'SOL_SOCKET','name':'SO_REUSEADDR','value':1}",
            McInt("v", "IP_MULTICAST_ALL", 0),
            BindAny("v", 6204),
            Sock("t"),
            McOpt("t", "IP_MULTICAST_IF", "$HEXSELF"),
            "{'op':'sendto','fd':'t','text':'all','addr':'239.1.2.3','port':6204}",
            Sleep,
            Recv("s"),
            Recv("u"),
            Recv("v")),
        R("mcast: a broadcast sent with SO_BROADCAST also reaches this host's socket on that port",
            UdpNb,
            BindAny("s", 6202),
            Sock("t"),
            "{'op':'bind','fd':'t','addr':'$SELF','port':6203}",
            "{'op':'sendto','fd':'t','text':'b','addr':'$BCAST','port':6202}",
            "{'op':'setsockopt','fd':'t','level':'SOL_SOCKET','name':'SO_BROADCAST','value':1}",
            "{'op':'sendto','fd':'t','text':'subnet','addr':'$BCAST','port':6202}",
            "{'op':'sendto','fd':'t','text':'limited','addr':'255.255.255.255','port':6202}",
            Sleep,
            Recv("s"),
            Recv("s"),
            Recv("s")),
    ];
}
