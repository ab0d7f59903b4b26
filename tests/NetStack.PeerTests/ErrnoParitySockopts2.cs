namespace NetStack.PeerTests;

/// <summary>
/// The effects of socket options the stack took as ENOPROTOOPT before issue 12 (their values and
/// lengths are in the option matrix): SO_MARK's capability, SO_RXQ_OVFL's control message,
/// TCP_INQ's TCP_CM_INQ, TCP_SAVE_SYN / TCP_SAVED_SYN, TCP_NOTSENT_LOWAT and poll, and the
/// SIOCGSTAMP / SIOCGSTAMPNS ioctls (sk_setsockopt, do_tcp_setsockopt, do_tcp_getsockopt,
/// tcp_recvmsg's tcp_inq_hint, tcp_reqsk_record_syn, tcp_stream_memory_free, sock_gettstamp).
/// Ports 6230-6259.
/// </summary>
public static partial class ErrnoParityTable
{
    private static string TcpOpt(string fd, string name, int value) =>
        $"{{'op':'setsockopt','fd':'{fd}','level':'SOL_TCP','name':'{name}','value':{value}}}";

    private static string TcpGet(string fd, string name, string extra = "") =>
        $"{{'op':'getsockopt','fd':'{fd}','level':'SOL_TCP','name':'{name}'{extra}}}";

    /// <summary>A listener l on 127.0.0.1:<paramref name="port"/>, a client c connected to it, the accepted a.</summary>
    private static string[] LoopbackPair(int port, params string[] beforeConnect) =>
    [
        "{'op':'socket','domain':'AF_INET','type':'SOCK_STREAM','protocol':0,'as':'l'}",
        $"{{'op':'bind','fd':'l','addr':'127.0.0.1','port':{port}}}",
        .. beforeConnect,
        "{'op':'listen','fd':'l','backlog':4}",
        "{'op':'socket','domain':'AF_INET','type':'SOCK_STREAM','protocol':0,'as':'c'}",
        $"{{'op':'connect','fd':'c','addr':'127.0.0.1','port':{port}}}",
        "{'op':'accept','fd':'l','as':'a'}",
    ];

    /// <summary>Effects of the options.</summary>
    public static IEnumerable<ParityRow> Sockopts2Rows =>
    [
        R("sockopts2: TCP_INQ reports what is left to read after each recvmsg",
            [
                .. LoopbackPair(6230),
                TcpOpt("a", "TCP_INQ", 1),
                "{'op':'send','fd':'c','text':'hello world'}",
                "{'op':'recvmsg','fd':'a','len':5}",
                "{'op':'recvmsg','fd':'a','len':100}",
                "{'op':'send','fd':'c','text':'more'}",
                "{'op':'recvmsg','fd':'a','len':2,'flags':'MSG_PEEK'}",
                "{'op':'recvmsg','fd':'a','len':2,'controllen':0}",
                "{'op':'shutdown','fd':'c','how':1}",
                "{'op':'recvmsg','fd':'a','len':100}",
                "{'op':'recvmsg','fd':'a','len':100}",
                TcpOpt("a", "TCP_INQ", 2),
                TcpOpt("a", "TCP_INQ", -1),
                TcpGet("a", "TCP_INQ"),
                TcpOpt("a", "TCP_INQ", 0),
                "{'op':'recvmsg','fd':'a','len':100}",
            ]),
        R("sockopts2: TCP_SAVE_SYN keeps the SYN's headers for the accepted socket, read once",
            [
                .. LoopbackPair(6231, TcpOpt("l", "TCP_SAVE_SYN", 1)),
                TcpGet("a", "TCP_SAVE_SYN"),
                "{'op':'getsockopt','fd':'a','level':'SOL_TCP','name':'TCP_SAVED_SYN','len':10,'cmp':['ret','errno']}",
                "{'op':'getsockopt','fd':'a','level':'SOL_TCP','name':'TCP_SAVED_SYN','len':200,'cmp':['ret','errno','len']}",
                "{'op':'getsockopt','fd':'a','level':'SOL_TCP','name':'TCP_SAVED_SYN','len':200}",
                "{'op':'getsockopt','fd':'c','level':'SOL_TCP','name':'TCP_SAVED_SYN','len':200}",
                TcpOpt("l", "TCP_SAVE_SYN", 3),
                TcpOpt("l", "TCP_SAVE_SYN", 2),
                TcpGet("l", "TCP_SAVE_SYN"),
            ]),
        R("sockopts2: TCP_NOTSENT_LOWAT: unsent data above the limit keeps the socket from polling writable",
            [
                "{'op':'socket','domain':'AF_INET','type':'SOCK_STREAM','protocol':0,'as':'l'}",
                "{'op':'setsockopt','fd':'l','level':'SOL_SOCKET','name':'SO_RCVBUF','value':2048}",
                "{'op':'bind','fd':'l','addr':'127.0.0.1','port':6232}",
                "{'op':'listen','fd':'l','backlog':4}",
                "{'op':'socket','domain':'AF_INET','type':'SOCK_STREAM|SOCK_NONBLOCK','protocol':0,'as':'c'}",
                "{'op':'connect','fd':'c','addr':'127.0.0.1','port':6232}",
                "{'op':'accept','fd':'l','as':'a'}",
                "{'op':'poll','fd':'c','events':4}",
                TcpOpt("c", "TCP_NOTSENT_LOWAT", 1000),
                TcpGet("c", "TCP_NOTSENT_LOWAT"),
                "{'op':'poll','fd':'c','events':4}",
                "{'op':'send','fd':'c','len':200000,'cmp':['errno']}",
                Sleep,
                "{'op':'poll','fd':'c','events':4}",
                "{'op':'send','fd':'c','len':10}",
                TcpOpt("c", "TCP_NOTSENT_LOWAT", -1),
                TcpGet("c", "TCP_NOTSENT_LOWAT"),
            ]),
        R("sockopts2: SO_RXQ_OVFL: nothing dropped, no control message; the option's values",
            UdpNb,
            "{'op':'bind','fd':'s','addr':'127.0.0.1','port':6233}",
            "{'op':'setsockopt','fd':'s','level':'SOL_SOCKET','name':'SO_RXQ_OVFL','value':1}",
            "{'op':'getsockopt','fd':'s','level':'SOL_SOCKET','name':'SO_RXQ_OVFL'}",
            "{'op':'sendto','fd':'s','text':'x','addr':'127.0.0.1','port':6233}",
            Recvmsg),
        R("sockopts2: SO_MARK and SO_BUSY_POLL values",
            Udp,
            "{'op':'getsockopt','fd':'s','level':'SOL_SOCKET','name':'SO_MARK'}",
            "{'op':'setsockopt','fd':'s','level':'SOL_SOCKET','name':'SO_MARK','value':305419896}",
            "{'op':'getsockopt','fd':'s','level':'SOL_SOCKET','name':'SO_MARK','len':8}",
            "{'op':'setsockopt','fd':'s','level':'SOL_SOCKET','name':'SO_MARK','value':7,'optlen':3}",
            "{'op':'sendto','fd':'s','text':'marked','addr':'$PEER','port':9}",
            "{'op':'setsockopt','fd':'s','level':'SOL_SOCKET','name':'SO_BUSY_POLL','value':-5}",
            "{'op':'setsockopt','fd':'s','level':'SOL_SOCKET','name':'SO_BUSY_POLL','value':50}",
            "{'op':'getsockopt','fd':'s','level':'SOL_SOCKET','name':'SO_BUSY_POLL'}",
            "{'op':'getsockopt','fd':'s','level':'SOL_SOCKET','name':'SO_INCOMING_CPU'}"),
        R("sockopts2: SIOCGSTAMP and SIOCGSTAMPNS: ENOENT before a datagram is read",
            UdpNb,
            "{'op':'bind','fd':'s','addr':'127.0.0.1','port':6234}",
            "{'op':'ioctl','fd':'s','request':'SIOCGSTAMP','cmp':['ret','errno']}",
            "{'op':'ioctl','fd':'s','request':'SIOCGSTAMPNS','cmp':['ret','errno']}",
            "{'op':'sendto','fd':'s','text':'x','addr':'127.0.0.1','port':6234}",
            "{'op':'ioctl','fd':'s','request':'SIOCGSTAMP','cmp':['ret','errno']}",
            "{'op':'recvfrom','fd':'s','len':10}",
            "{'op':'ioctl','fd':'s','request':'SIOCGSTAMP','cmp':['ret','errno']}",
            "{'op':'ioctl','fd':'s','request':'SIOCGSTAMPNS','cmp':['ret','errno']}",
            "{'op':'socket','domain':'AF_INET','type':'SOCK_STREAM','protocol':0,'as':'t'}",
            "{'op':'ioctl','fd':'t','request':'SIOCGSTAMP','cmp':['ret','errno']}"),
        R("sockopts2: fcntl F_DUPFD, F_DUPFD_CLOEXEC, F_GETOWN and F_SETOWN",
            UdpNb,
            "{'op':'bind','fd':'s','addr':'127.0.0.1','port':6235}",
            "{'op':'fcntl','fd':'s','cmd':'F_DUPFD','arg':0,'as':'d','cmp':['errno']}",
            "{'op':'fcntl','fd':'d','cmd':'F_GETFD'}",
            "{'op':'fcntl','fd':'s','cmd':'F_DUPFD_CLOEXEC','arg':0,'as':'e','cmp':['errno']}",
            "{'op':'fcntl','fd':'e','cmd':'F_GETFD'}",
            "{'op':'fcntl','fd':'e','cmd':'F_GETFL'}",
            // The socket lives on while a descriptor names it.
            "{'op':'close','fd':'s'}",
            "{'op':'getsockname','fd':'d'}",
            "{'op':'sendto','fd':'d','text':'dup','addr':'127.0.0.1','port':6235}",
            "{'op':'recvfrom','fd':'e','len':10}",
            "{'op':'close','fd':'d'}",
            "{'op':'getsockname','fd':'e'}",
            "{'op':'fcntl','fd':'e','cmd':'F_DUPFD','arg':-1}",
            "{'op':'fcntl','fd':'e','cmd':'F_DUPFD_CLOEXEC','arg':-5}",
            "{'op':'fcntl','fd':'e','cmd':'F_GETOWN'}",
            "{'op':'fcntl','fd':'e','cmd':'F_SETOWN','arg':0}",
            "{'op':'fcntl','fd':'e','cmd':'F_GETOWN'}",
            "{'op':'fcntl','fd':'e','cmd':'F_SETOWN','arg':-2147483648}",
            "{'op':'fcntl','fd':'e','cmd':'F_GETOWN'}"),
    ];
}
