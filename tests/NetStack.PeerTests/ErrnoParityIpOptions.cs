namespace NetStack.PeerTests;

/// <summary>
/// IP options on a socket (issue 12): IP_OPTIONS set and read back (do_ip_setsockopt /
/// do_ip_getsockopt, ip_options_get, ip_options_compile with no buffer, ip_options_undo), the
/// options on the socket's packets and what the receiver reports with IP_RECVOPTS and IP_RETOPTS
/// (ip_cmsg_recv_opts, ip_cmsg_recv_retopts: over loopback both sides write 127.0.0.1), the MSS
/// a TCP connection loses to them; and the effects of the binding and TTL options
/// (IP_FREEBIND, IP_TRANSPARENT, IP_BIND_ADDRESS_NO_PORT, IP_MINTTL). Ports 6220-6259.
/// </summary>
public static partial class ErrnoParityTable
{
    private static string SetOpts(string fd, string hex) =>
        $"{{'op':'setsockopt','fd':'{fd}','level':'SOL_IP','name':'IP_OPTIONS','hex':'{hex}'}}";

    private static string GetOpts(string fd, int len = 40) =>
        $"{{'op':'getsockopt','fd':'{fd}','level':'SOL_IP','name':'IP_OPTIONS','len':{len}}}";

    /// <summary>Record route with room for three addresses (11 bytes, padded to 12 by the kernel).</summary>
    private const string Rr3 = "070b040000000000000000";

    /// <summary>The IP_OPTIONS values and lengths a socket of <paramref name="kind"/> accepts and refuses, each read back.</summary>
    private static ParityRow IpOptionsSetGetRow(string kind, string socket) =>
        R($"ip options: IP_OPTIONS set and read back on {kind}",
            socket,
            GetOpts("s"),
            GetOpts("s", 0),
            SetOpts("s", Rr3),
            GetOpts("s"),
            GetOpts("s", 3),
            GetOpts("s", 0),
            GetOpts("s", 4),
            // Padding: what follows an end-of-list is wiped.
            SetOpts("s", "07070400000000004408050000000000"),
            GetOpts("s"),
            // A no-op then a timestamp (flags 0, 1 and 3), a source route (its first hop kept aside and given back).
            SetOpts("s", "01440c05000000000000000000000000"),
            GetOpts("s"),
            SetOpts("s", "4414050100000000000000000000000000000000"),
            GetOpts("s"),
            SetOpts("s", "44140503c0a800010000000000000000000000000000"),
            GetOpts("s"),
            SetOpts("s", "01830b040a0000010a000002"),
            GetOpts("s"),
            GetOpts("s", 6),
            // Malformed: EINVAL, the options set before stay.
            SetOpts("s", "07070300000000"),
            SetOpts("s", "070904"),
            SetOpts("s", "0702"),
            SetOpts("s", "07"),
            SetOpts("s", "0707040000000007070400000000"),
            SetOpts("s", "44040500"),
            SetOpts("s", "44080400"),
            SetOpts("s", "440805040000000000"),
            SetOpts("s", "8307080a000001"),
            SetOpts("s", "830604000000"),
            SetOpts("s", "01010101010101010101010101010101010101010101010101010101010101010101010101010101"),
            SetOpts("s", "0101010101010101010101010101010101010101010101010101010101010101010101010101010101"),
            GetOpts("s"),
            // Security and unknown options need CAP_NET_RAW (the shell has it); a router alert is accepted.
            SetOpts("s", "82040000"),
            GetOpts("s"),
            SetOpts("s", "94040000"),
            GetOpts("s"),
            SetOpts("s", "9e03ff00"),
            GetOpts("s"),
            // Length 0 clears them.
            SetOpts("s", ""),
            GetOpts("s"),
            "{'op':'setsockopt','fd':'s','level':'SOL_IP','name':'IP_OPTIONS','value':7,'optlen':4}",
            GetOpts("s"));

    /// <summary>IP_OPTIONS rows.</summary>
    public static IEnumerable<ParityRow> IpOptionsRows =>
    [
        IpOptionsSetGetRow("udp", Udp),
        IpOptionsSetGetRow("tcp", "{'op':'socket','domain':'AF_INET','type':'SOCK_STREAM','protocol':0,'as':'s'}"),
        IpOptionsSetGetRow("raw", "{'op':'socket','domain':'AF_INET','type':'SOCK_RAW|SOCK_NONBLOCK','protocol':'IPPROTO_ICMP','as':'s'}"),
        IpOptionsSetGetRow("ping", "{'op':'socket','domain':'AF_INET','type':'SOCK_DGRAM|SOCK_NONBLOCK','protocol':'IPPROTO_ICMP','as':'s'}"),
        R("ip options: record route over loopback, as IP_RECVOPTS and IP_RETOPTS report it",
            UdpNb,
            "{'op':'bind','fd':'s','addr':'127.0.0.1','port':6220}",
            SetOpts("s", Rr3),
            "{'op':'sendto','fd':'s','text':'rr','addr':'127.0.0.1','port':6220}",
            Recvmsg,
            Set("s", "IP_RECVOPTS", 1),
            Get("s", "IP_RECVOPTS"),
            "{'op':'sendto','fd':'s','text':'rr','addr':'127.0.0.1','port':6220}",
            Recvmsg,
            Set("s", "IP_RETOPTS", 1),
            Get("s", "IP_RETOPTS"),
            "{'op':'sendto','fd':'s','text':'rr','addr':'127.0.0.1','port':6220}",
            Recvmsg,
            Set("s", "IP_RECVOPTS", 0),
            "{'op':'sendto','fd':'s','text':'rr','addr':'127.0.0.1','port':6220}",
            Recvmsg,
            // Full record route: input has nothing to fill, the reply nothing to claim.
            SetOpts("s", "07070800000000"),
            "{'op':'sendto','fd':'s','text':'rr','addr':'127.0.0.1','port':6220}",
            Recvmsg,
            // Without options: no control message.
            SetOpts("s", ""),
            "{'op':'sendto','fd':'s','text':'rr','addr':'127.0.0.1','port':6220}",
            Recvmsg,
            // A short control buffer: the options do not fit (MSG_CTRUNC).
            SetOpts("s", Rr3),
            Set("s", "IP_RECVOPTS", 1),
            "{'op':'sendto','fd':'s','text':'rr','addr':'127.0.0.1','port':6220}",
            "{'op':'recvmsg','fd':'s','len':100,'controllen':20}"),
        R("ip options: the options a datagram carries count against IP_PMTUDISC_DO's MTU",
            UdpNb,
            RecvErrOn,
            "{'op':'setsockopt','fd':'s','level':'SOL_IP','name':'IP_MTU_DISCOVER','value':2}",
            // Only failing sends before the error queue is read: a datagram that goes out earns a port unreachable.
            "{'op':'sendto','fd':'s','len':1473,'addr':'$PEER','port':9}",
            ErrQueue,
            SetOpts("s", Rr3),
            "{'op':'sendto','fd':'s','len':1461,'addr':'$PEER','port':9}",
            ErrQueue,
            "{'op':'sendto','fd':'s','len':1460,'addr':'$PEER','port':9}"),
        // The MSS values themselves are compared by the unit tests: over lo the stack's MSS differs from Linux's with or without options.
        R("ip options: TCP with IP_OPTIONS: the accepted socket answers with the SYN's options reversed",
            "{'op':'socket','domain':'AF_INET','type':'SOCK_STREAM','protocol':0,'as':'l'}",
            "{'op':'bind','fd':'l','addr':'127.0.0.1','port':6221}",
            "{'op':'listen','fd':'l','backlog':4}",
            "{'op':'socket','domain':'AF_INET','type':'SOCK_STREAM','protocol':0,'as':'c'}",
            SetOpts("c", Rr3),
            "{'op':'connect','fd':'c','addr':'127.0.0.1','port':6221}",
            "{'op':'accept','fd':'l','as':'a'}",
            "{'op':'getsockopt','fd':'c','level':'SOL_TCP','name':'TCP_MAXSEG','cmp':['ret','errno']}",
            GetOpts("a"),
            GetOpts("c"),
            SetOpts("c", ""),
            SetOpts("c", "0101010101010101010101010101010101010101"),
            "{'op':'getsockopt','fd':'c','level':'SOL_TCP','name':'TCP_MAXSEG','cmp':['ret','errno']}",
            "{'op':'send','fd':'c','text':'with options'}",
            "{'op':'recv','fd':'a','len':100}"),
        R("ip options: IP_FREEBIND and IP_TRANSPARENT let a socket bind an address that is not local",
            Udp,
            "{'op':'bind','fd':'s','addr':'$OTHER','port':6222}",
            Set("s", "IP_FREEBIND", 1),
            Get("s", "IP_FREEBIND"),
            "{'op':'bind','fd':'s','addr':'$OTHER','port':6222}",
            "{'op':'getsockname','fd':'s'}",
            "{'op':'socket','domain':'AF_INET','type':'SOCK_STREAM','protocol':0,'as':'t'}",
            "{'op':'bind','fd':'t','addr':'$NONET','port':6223}",
            Set("t", "IP_TRANSPARENT", 1),
            Get("t", "IP_TRANSPARENT"),
            Set("t", "IP_TRANSPARENT", 1, ",'optlen':0"),
            "{'op':'bind','fd':'t','addr':'$NONET','port':6223}",
            "{'op':'getsockname','fd':'t'}",
            Set("s", "IP_FREEBIND", 0, ",'optlen':0"),
            Get("s", "IP_FREEBIND")),
        R("ip options: IP_BIND_ADDRESS_NO_PORT defers the port to connect",
            "{'op':'socket','domain':'AF_INET','type':'SOCK_STREAM','protocol':0,'as':'l'}",
            "{'op':'bind','fd':'l','addr':'127.0.0.1','port':6224}",
            "{'op':'listen','fd':'l','backlog':4}",
            "{'op':'socket','domain':'AF_INET','type':'SOCK_STREAM','protocol':0,'as':'c'}",
            Set("c", "IP_BIND_ADDRESS_NO_PORT", 1),
            Get("c", "IP_BIND_ADDRESS_NO_PORT"),
            "{'op':'bind','fd':'c','addr':'127.0.0.1','port':0}",
            "{'op':'getsockname','fd':'c'}",
            "{'op':'connect','fd':'c','addr':'127.0.0.1','port':6224}",
            "{'op':'getsockname','fd':'c'}",
            "{'op':'socket','domain':'AF_INET','type':'SOCK_STREAM','protocol':0,'as':'d'}",
            Set("d", "IP_BIND_ADDRESS_NO_PORT", 1),
            "{'op':'bind','fd':'d','addr':'127.0.0.1','port':6225}",
            "{'op':'getsockname','fd':'d'}"),
        R("ip options: IP_MINTTL drops TCP segments that arrive with a lower TTL",
            "{'op':'socket','domain':'AF_INET','type':'SOCK_STREAM','protocol':0,'as':'l'}",
            Set("l", "IP_MINTTL", 255),
            Get("l", "IP_MINTTL"),
            "{'op':'bind','fd':'l','addr':'127.0.0.1','port':6226}",
            "{'op':'listen','fd':'l','backlog':4}",
            "{'op':'socket','domain':'AF_INET','type':'SOCK_STREAM|SOCK_NONBLOCK','protocol':0,'as':'c'}",
            "{'op':'connect','fd':'c','addr':'127.0.0.1','port':6226}",
            Sleep,
            "{'op':'poll','fd':'c','events':4}",
            "{'op':'getsockopt','fd':'c','level':'SOL_SOCKET','name':'SO_ERROR'}",
            // A TTL of 255 on the connecting side meets the minimum.
            "{'op':'socket','domain':'AF_INET','type':'SOCK_STREAM|SOCK_NONBLOCK','protocol':0,'as':'d'}",
            Set("d", "IP_TTL", 255),
            "{'op':'connect','fd':'d','addr':'127.0.0.1','port':6226}",
            Sleep,
            "{'op':'poll','fd':'d','events':4}",
            "{'op':'getsockopt','fd':'d','level':'SOL_SOCKET','name':'SO_ERROR'}"),
    ];
}
