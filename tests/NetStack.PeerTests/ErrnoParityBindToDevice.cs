namespace NetStack.PeerTests;

/// <summary>
/// The SO_BINDTODEVICE / SO_BINDTOIFINDEX rows of the errno parity table (sock_setbindtodevice,
/// sock_bindtoindex_locked, sock_getbindtodevice; ip_route_output_key_hash_rcu with flowi4_oif).
/// Both sides have "lo" (index 1), so the rows bind to it: loopback traffic still flows, and a
/// destination no route through lo reaches is taken to be on lo's link, sent from the host's
/// first non-loopback address. Ports 6291-6299.
/// </summary>
public static partial class ErrnoParityTable
{
    private const string HexLo = "6c6f00"; // "lo\0"

    private static string BindDev(string fd, string hex) =>
        "{'op':'setsockopt','fd':'" + fd + "','level':'SOL_SOCKET','name':'SO_BINDTODEVICE','hex':'" + hex + "'}";

    private static string GetDev(string fd, int len = 16) =>
        "{'op':'getsockopt','fd':'" + fd + "','level':'SOL_SOCKET','name':'SO_BINDTODEVICE','len':" + len + "}";

    private static string IfIndex(string fd, int value) =>
        "{'op':'setsockopt','fd':'" + fd + "','level':'SOL_SOCKET','name':'SO_BINDTOIFINDEX','value':" + value + "}";

    private static string GetIfIndex(string fd) =>
        "{'op':'getsockopt','fd':'" + fd + "','level':'SOL_SOCKET','name':'SO_BINDTOIFINDEX'}";

    /// <summary>SO_BINDTODEVICE and SO_BINDTOIFINDEX.</summary>
    public static IEnumerable<ParityRow> BindToDeviceRows =>
    [
        R("bindtodevice: names, indexes, unbinding, and what getsockopt reports",
            UdpNb,
            GetDev("s"),
            GetIfIndex("s"),
            BindDev("s", "6e6f7375636800"), // "nosuch"
            BindDev("s", HexLo),
            GetDev("s"),
            GetDev("s", 3),
            GetIfIndex("s"),
            BindDev("s", ""),
            GetDev("s"),
            BindDev("s", "6c6f"), // "lo" without its NUL
            GetIfIndex("s"),
            BindDev("s", "00"),
            GetIfIndex("s"),
            IfIndex("s", -1),
            IfIndex("s", 1),
            GetDev("s"),
            IfIndex("s", 0),
            GetIfIndex("s"),
            "{'op':'setsockopt','fd':'s','level':'SOL_SOCKET','name':'SO_BINDTOIFINDEX','value':1,'optlen':2}",
            "{'op':'getsockopt','fd':'s','level':'SOL_SOCKET','name':'SO_BINDTOIFINDEX','len':2}"),
        R("bindtodevice lo: loopback datagrams flow; a destination beyond lo is taken to be on its link, from the host's address",
            UdpNb,
            BindLo("s", 6291),
            Sock("t", "SOCK_DGRAM|SOCK_NONBLOCK"),
            BindDev("t", HexLo),
            "{'op':'sendto','fd':'t','text':'via lo','addr':'127.0.0.1','port':6291}",
            Sleep,
            "{'op':'recvfrom','fd':'s','len':20,'cmp':['ret','errno','data','addr']}",
            "{'op':'connect','fd':'t','addr':'$PEER','port':6292}",
            "{'op':'getsockname','fd':'t'}",
            "{'op':'send','fd':'t','text':'lost'}",
            // Unbound by connect(AF_UNSPEC) too (__udp_disconnect clears sk_bound_dev_if).
            "{'op':'connect','fd':'t','family':'AF_UNSPEC','addr':'0.0.0.0','port':0}",
            GetIfIndex("t")),
        R("bindtodevice lo: a TCP connect to the peer is sent on lo and never answered",
            Sock("c", "SOCK_STREAM|SOCK_NONBLOCK"),
            BindDev("c", HexLo),
            "{'op':'connect','fd':'c','addr':'$PEER','port':6293}",
            "{'op':'getsockname','fd':'c','cmp':['ret','errno','addr']}",
            Sleep,
            "{'op':'getsockopt','fd':'c','level':'SOL_SOCKET','name':'SO_ERROR'}",
            "{'op':'poll','fd':'c','events':'POLLOUT'}"),
        R("bindtodevice lo: a TCP listener bound to lo accepts loopback connections",
            Sock("l", "SOCK_STREAM|SOCK_NONBLOCK"),
            BindDev("l", HexLo),
            BindLo("l", 6294, "0.0.0.0"),
            "{'op':'listen','fd':'l','backlog':4}",
            Sock("c", "SOCK_STREAM"),
            "{'op':'connect','fd':'c','addr':'127.0.0.1','port':6294}",
            "{'op':'accept','fd':'l','cmp':['ret','errno','addr']}"),
    ];
}
