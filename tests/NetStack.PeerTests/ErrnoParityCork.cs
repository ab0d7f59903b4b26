namespace NetStack.PeerTests;

/// <summary>
/// The UDP_CORK and MSG_MORE rows of the errno parity table (udp_sendmsg with corkreq,
/// ip_append_data, udp_push_pending_frames, udp_lib_setsockopt/getsockopt UDP_CORK): which sends
/// become one datagram, and the size limits of the whole.
/// </summary>
public static partial class ErrnoParityTable
{
    private const string RecvS = "{'op':'recvfrom','fd':'s','len':70000}";

    private static string CorkOpt(int value) =>
        "{'op':'setsockopt','fd':'s','level':'SOL_UDP','name':'UDP_CORK','value':" + value + "}";

    /// <summary>UDP_CORK and MSG_MORE on UDP sockets, over loopback and to the peer.</summary>
    public static IEnumerable<ParityRow> CorkRows =>
    [
        R("udp cork: MSG_MORE joins sends into one datagram, sent by the first send without it",
            UdpNb,
            "{'op':'bind','fd':'s','addr':'127.0.0.1','port':5000}",
            "{'op':'sendto','fd':'s','text':'ab','addr':'127.0.0.1','port':5000,'flags':'MSG_MORE'}",
            "{'op':'sendto','fd':'s','text':'cd','addr':'127.0.0.1','port':5000,'flags':'MSG_MORE'}",
            RecvS,
            "{'op':'sendto','fd':'s','text':'ef','addr':'127.0.0.1','port':5000}",
            RecvS,
            RecvS),
        R("udp cork: UDP_CORK holds every send until it is turned off; its values and lengths",
            UdpNb,
            "{'op':'bind','fd':'s','addr':'127.0.0.1','port':5000}",
            "{'op':'connect','fd':'s','addr':'127.0.0.1','port':5000}",
            "{'op':'getsockopt','fd':'s','level':'SOL_UDP','name':'UDP_CORK'}",
            CorkOpt(7),
            "{'op':'getsockopt','fd':'s','level':'SOL_UDP','name':'UDP_CORK'}",
            "{'op':'getsockopt','fd':'s','level':'SOL_UDP','name':'UDP_CORK','len':1}",
            "{'op':'getsockopt','fd':'s','level':'SOL_UDP','name':'UDP_CORK','len':8}",
            "{'op':'getsockopt','fd':'s','level':'SOL_UDP','name':'UDP_CORK','len':0}",
            "{'op':'send','fd':'s','text':'one '}",
            "{'op':'send','fd':'s','text':'two'}",
            RecvS,
            CorkOpt(0),
            RecvS,
            "{'op':'getsockopt','fd':'s','level':'SOL_UDP','name':'UDP_CORK'}",
            "{'op':'setsockopt','fd':'s','level':'SOL_UDP','name':'UDP_CORK','value':1,'optlen':2}",
            "{'op':'getsockopt','fd':'s','level':'SOL_UDP','name':'UDP_CORK'}",
            CorkOpt(0),
            "{'op':'send','fd':'s','text':'x'}",
            RecvS),
        R("udp cork: while corked, the address of later sends is ignored",
            UdpNb,
            "{'op':'bind','fd':'s','addr':'127.0.0.1','port':5000}",
            "{'op':'socket','domain':'AF_INET','type':'SOCK_DGRAM|SOCK_NONBLOCK','protocol':0,'as':'t'}",
            "{'op':'bind','fd':'t','addr':'127.0.0.1','port':5001}",
            "{'op':'sendto','fd':'s','text':'to ','addr':'127.0.0.1','port':5000,'flags':'MSG_MORE'}",
            "{'op':'sendto','fd':'s','text':'5000','addr':'127.0.0.1','port':5001}",
            RecvS,
            "{'op':'recvfrom','fd':'t','len':100}"),
        R("udp cork: the whole datagram must fit 64 KiB; an oversized append drops what was corked",
            UdpNb,
            "{'op':'bind','fd':'s','addr':'127.0.0.1','port':5000}",
            "{'op':'sendto','fd':'s','len':65000,'addr':'127.0.0.1','port':5000,'flags':'MSG_MORE'}",
            "{'op':'sendto','fd':'s','len':508,'addr':'127.0.0.1','port':5000,'flags':'MSG_MORE'}",
            "{'op':'sendto','fd':'s','text':'z','addr':'127.0.0.1','port':5000}",
            RecvS,
            "{'op':'sendto','fd':'s','len':65000,'addr':'127.0.0.1','port':5000,'flags':'MSG_MORE'}",
            "{'op':'sendto','fd':'s','len':507,'addr':'127.0.0.1','port':5000}",
            "{'op':'recvfrom','fd':'s','len':70000,'cmp':['ret','errno','addr','port']}",
            "{'op':'sendto','fd':'s','text':'k','addr':'127.0.0.1','port':5000,'flags':'MSG_MORE'}",
            "{'op':'sendto','fd':'s','len':65536,'addr':'127.0.0.1','port':5000}",
            "{'op':'sendto','fd':'s','text':'!','addr':'127.0.0.1','port':5000}",
            RecvS),
        R("udp cork: with IP_PMTUDISC_DO the whole datagram must fit the MTU, reported on the error queue",
            UdpNb,
            RecvErrOn,
            "{'op':'setsockopt','fd':'s','level':'SOL_IP','name':'IP_MTU_DISCOVER','value':2}",
            "{'op':'sendto','fd':'s','len':1000,'addr':'$PEER','port':9,'flags':'MSG_MORE'}",
            "{'op':'sendto','fd':'s','len':473,'addr':'$PEER','port':9,'flags':'MSG_MORE'}",
            ErrQueue,
            "{'op':'sendto','fd':'s','len':1000,'addr':'$PEER','port':9,'flags':'MSG_MORE'}",
            "{'op':'sendto','fd':'s','len':472,'addr':'$PEER','port':9}",
            Sleep,
            ErrQueue),
        R("udp cork: a corked datagram larger than the MTU goes to the peer in fragments",
            UdpNb,
            RecvErrOn,
            "{'op':'sendto','fd':'s','len':1000,'addr':'$PEER','port':9,'flags':'MSG_MORE'}",
            "{'op':'sendto','fd':'s','len':1000,'addr':'$PEER','port':9,'flags':'MSG_MORE'}",
            "{'op':'sendto','fd':'s','len':1000,'addr':'$PEER','port':9}",
            Sleep,
            // The peer's port unreachable quotes the reassembled datagram's first 548 bytes.
            "{'op':'recvmsg','fd':'s','len':4000,'flags':'MSG_ERRQUEUE'}"),
    ];
}
