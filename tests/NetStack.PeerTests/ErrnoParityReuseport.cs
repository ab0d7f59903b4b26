namespace NetStack.PeerTests;

/// <summary>
/// The SO_REUSEPORT rows of the errno parity table (net/core/sock_reuseport.c, the bind conflict
/// rules of inet_csk_bind_conflict and udp_lib_lport_inuse, inet_lhash2_lookup and
/// udp4_lib_lookup2). Over loopback on ports 6280-6299. Which member of a group receives a flow
/// depends on a random secret on both sides, so the rows only ask what is decided without it:
/// a group of one left after a member closed, a specific address beating the wildcard group, a
/// connected member beating the group for its peer.
/// </summary>
public static partial class ErrnoParityTable
{
    // Sock(name, type) is ErrnoParityMulticast.cs's.
    private static string ReusePort(string fd, int value = 1) =>
        "{'op':'setsockopt','fd':'" + fd + "','level':'SOL_SOCKET','name':'SO_REUSEPORT','value':" + value + "}";

    private static string BindLo(string fd, int port, string addr = "127.0.0.1") =>
        "{'op':'bind','fd':'" + fd + "','addr':'" + addr + "','port':" + port + "}";

    /// <summary>SO_REUSEPORT on TCP and UDP sockets.</summary>
    public static IEnumerable<ParityRow> ReuseportRows =>
    [
        R("reuseport: the option's values; two TCP sockets with it share a port and both listen, one without it may not",
            Sock("a", "SOCK_STREAM|SOCK_NONBLOCK"),
            "{'op':'getsockopt','fd':'a','level':'SOL_SOCKET','name':'SO_REUSEPORT'}",
            ReusePort("a", 5),
            "{'op':'getsockopt','fd':'a','level':'SOL_SOCKET','name':'SO_REUSEPORT'}",
            "{'op':'setsockopt','fd':'a','level':'SOL_SOCKET','name':'SO_REUSEPORT','value':1,'optlen':2}",
            BindLo("a", 6280),
            Sock("b", "SOCK_STREAM|SOCK_NONBLOCK"),
            ReusePort("b"),
            BindLo("b", 6280),
            "{'op':'listen','fd':'a','backlog':4}",
            "{'op':'listen','fd':'b','backlog':4}",
            Sock("c", "SOCK_STREAM|SOCK_NONBLOCK"),
            BindLo("c", 6280),
            "{'op':'getsockname','fd':'c'}",
            "{'op':'setsockopt','fd':'c','level':'SOL_SOCKET','name':'SO_REUSEADDR','value':1}",
            BindLo("c", 6280),
            ReusePort("c"),
            BindLo("c", 6280, "0.0.0.0")),
        R("reuseport: a TCP listener without it holds the port against later SO_REUSEPORT sockets",
            Sock("a", "SOCK_STREAM|SOCK_NONBLOCK"),
            BindLo("a", 6281),
            "{'op':'listen','fd':'a','backlog':4}",
            Sock("b", "SOCK_STREAM|SOCK_NONBLOCK"),
            ReusePort("b"),
            BindLo("b", 6281),
            BindLo("b", 6281, "0.0.0.0"),
            // Turned on after the bind, it lets the next SO_REUSEPORT socket share (the rules read the option now).
            ReusePort("a"),
            BindLo("b", 6281),
            "{'op':'listen','fd':'b','backlog':4}"),
        R("reuseport: a closed TCP member leaves the group; the one left takes every connection",
            Sock("a", "SOCK_STREAM|SOCK_NONBLOCK"), ReusePort("a"), BindLo("a", 6282),
            Sock("b", "SOCK_STREAM|SOCK_NONBLOCK"), ReusePort("b"), BindLo("b", 6282),
            "{'op':'listen','fd':'a','backlog':8}",
            "{'op':'listen','fd':'b','backlog':8}",
            "{'op':'close','fd':'a'}",
            Sock("c1", "SOCK_STREAM"), "{'op':'connect','fd':'c1','addr':'127.0.0.1','port':6282}",
            Sock("c2", "SOCK_STREAM"), "{'op':'connect','fd':'c2','addr':'127.0.0.1','port':6282}",
            Sock("c3", "SOCK_STREAM"), "{'op':'connect','fd':'c3','addr':'127.0.0.1','port':6282}",
            "{'op':'accept','fd':'b','cmp':['ret','errno','addr']}",
            "{'op':'accept','fd':'b','cmp':['ret','errno','addr']}",
            "{'op':'accept','fd':'b','cmp':['ret','errno','addr']}",
            "{'op':'accept','fd':'b'}"),
        R("reuseport: a TCP group on the wildcard and one on 127.0.0.1 coexist; the specific address wins",
            Sock("w1", "SOCK_STREAM|SOCK_NONBLOCK"), ReusePort("w1"), BindLo("w1", 6283, "0.0.0.0"),
            Sock("w2", "SOCK_STREAM|SOCK_NONBLOCK"), ReusePort("w2"), BindLo("w2", 6283, "0.0.0.0"),
            Sock("s", "SOCK_STREAM|SOCK_NONBLOCK"), ReusePort("s"), BindLo("s", 6283),
            "{'op':'listen','fd':'w1','backlog':8}",
            "{'op':'listen','fd':'w2','backlog':8}",
            "{'op':'listen','fd':'s','backlog':8}",
            Sock("c1", "SOCK_STREAM"), "{'op':'connect','fd':'c1','addr':'127.0.0.1','port':6283}",
            Sock("c2", "SOCK_STREAM"), "{'op':'connect','fd':'c2','addr':'127.0.0.1','port':6283}",
            "{'op':'accept','fd':'s','cmp':['ret','errno','addr']}",
            "{'op':'accept','fd':'s','cmp':['ret','errno','addr']}",
            "{'op':'accept','fd':'w1'}",
            "{'op':'accept','fd':'w2'}"),
        R("reuseport: UDP sockets with it share a port, one without it may not; a closed member leaves the group",
            Sock("a", "SOCK_DGRAM|SOCK_NONBLOCK"), ReusePort("a"), BindLo("a", 6284),
            Sock("b", "SOCK_DGRAM|SOCK_NONBLOCK"), ReusePort("b"), BindLo("b", 6284),
            Sock("c", "SOCK_DGRAM|SOCK_NONBLOCK"),
            BindLo("c", 6284),
            BindLo("c", 6284, "0.0.0.0"),
            "{'op':'setsockopt','fd':'c','level':'SOL_SOCKET','name':'SO_REUSEADDR','value':1}",
            BindLo("c", 6284),
            "{'op':'close','fd':'a'}",
            Sock("t", "SOCK_DGRAM|SOCK_NONBLOCK"),
            "{'op':'sendto','fd':'t','text':'one','addr':'127.0.0.1','port':6284}",
            "{'op':'sendto','fd':'t','text':'two','addr':'127.0.0.1','port':6284}",
            Sleep,
            "{'op':'recvfrom','fd':'b','len':10,'cmp':['ret','errno','data','addr']}",
            "{'op':'recvfrom','fd':'b','len':10,'cmp':['ret','errno','data','addr']}",
            "{'op':'recvfrom','fd':'b','len':10}"),
        R("reuseport: a connected UDP member gets its peer's datagrams, the group the others'",
            Sock("a", "SOCK_DGRAM|SOCK_NONBLOCK"), ReusePort("a"), BindLo("a", 6285),
            Sock("b", "SOCK_DGRAM|SOCK_NONBLOCK"), ReusePort("b"), BindLo("b", 6285),
            Sock("t", "SOCK_DGRAM|SOCK_NONBLOCK"), BindLo("t", 6286),
            Sock("u", "SOCK_DGRAM|SOCK_NONBLOCK"), BindLo("u", 6287),
            "{'op':'connect','fd':'b','addr':'127.0.0.1','port':6286}",
            "{'op':'sendto','fd':'t','text':'from t','addr':'127.0.0.1','port':6285}",
            "{'op':'sendto','fd':'u','text':'from u','addr':'127.0.0.1','port':6285}",
            "{'op':'sendto','fd':'t','text':'t again','addr':'127.0.0.1','port':6285}",
            Sleep,
            "{'op':'recvfrom','fd':'b','len':10}",
            "{'op':'recvfrom','fd':'b','len':10}",
            "{'op':'recvfrom','fd':'b','len':10}",
            "{'op':'recvfrom','fd':'a','len':10}",
            "{'op':'recvfrom','fd':'a','len':10}"),
        R("reuseport: a UDP member bound to the wildcard that connects leaves the group; the group keeps the port's other datagrams",
            Sock("a", "SOCK_DGRAM|SOCK_NONBLOCK"), ReusePort("a"), BindLo("a", 6288, "0.0.0.0"),
            Sock("b", "SOCK_DGRAM|SOCK_NONBLOCK"), ReusePort("b"), BindLo("b", 6288, "0.0.0.0"),
            Sock("t", "SOCK_DGRAM|SOCK_NONBLOCK"), BindLo("t", 6289),
            Sock("u", "SOCK_DGRAM|SOCK_NONBLOCK"), BindLo("u", 6290),
            "{'op':'connect','fd':'b','addr':'127.0.0.1','port':6289}",
            "{'op':'getsockname','fd':'b'}",
            // A new SO_REUSEPORT socket on the wildcard may still join.
            Sock("c", "SOCK_DGRAM|SOCK_NONBLOCK"), ReusePort("c"), BindLo("c", 6288, "0.0.0.0"),
            "{'op':'close','fd':'c'}",
            "{'op':'sendto','fd':'u','text':'from u','addr':'127.0.0.1','port':6288}",
            "{'op':'sendto','fd':'t','text':'from t','addr':'127.0.0.1','port':6288}",
            Sleep,
            "{'op':'recvfrom','fd':'a','len':10}",
            "{'op':'recvfrom','fd':'a','len':10}",
            "{'op':'recvfrom','fd':'b','len':10}",
            "{'op':'recvfrom','fd':'b','len':10}"),
    ];
}
