namespace NetStack.PeerTests;

/// <summary>
/// The ancillary-data rows of the errno parity table: IP_PKTINFO, IP_RECVTTL, IP_RECVTOS and
/// IP_RECVORIGDSTADDR (do_ip_setsockopt / do_ip_getsockopt) and the control messages recvmsg returns
/// with them (ip_cmsg_recv_offset, ipv4_pktinfo_prepare, put_cmsg, ____sys_recvmsg), on UDP, ping and
/// raw sockets. Addresses inside the control messages are compared by their symbols.
/// </summary>
public static partial class ErrnoParityTable
{
    private const string Recvmsg = "{'op':'recvmsg','fd':'s','len':100}";

    private static string Set(string fd, string name, int value, string extra = "") =>
        $"{{'op':'setsockopt','fd':'{fd}','level':'SOL_IP','name':'{name}','value':{value}{extra}}}";

    private static string Get(string fd, string name, string extra = "") =>
        $"{{'op':'getsockopt','fd':'{fd}','level':'SOL_IP','name':'{name}'{extra}}}";

    private static string[] EnableAll(string fd) =>
        [Set(fd, "IP_PKTINFO", 1), Set(fd, "IP_RECVTTL", 1), Set(fd, "IP_RECVTOS", 1), Set(fd, "IP_RECVORIGDSTADDR", 1)];

    /// <summary>One option's values and lengths on a UDP socket: any non-zero is on and reads back as 1; a short optlen reads its first byte; optlen 0 is 0.</summary>
    private static ParityRow OptionRow(string name) =>
        R($"cmsg: {name} values and option lengths",
            Udp,
            Get("s", name),
            Set("s", name, 1),
            Get("s", name),
            Set("s", name, 5),
            Get("s", name),
            Get("s", name, ",'len':1"),
            Get("s", name, ",'len':2"),
            Get("s", name, ",'len':0"),
            Get("s", name, ",'len':8"),
            Get("s", name, ",'len':-1"),
            Set("s", name, 1, ",'optlen':0"),
            Get("s", name),
            Set("s", name, 1, ",'optlen':1"),
            Get("s", name),
            Set("s", name, 256, ",'optlen':2"),
            Get("s", name),
            Set("s", name, 256),
            Get("s", name),
            Set("s", name, -1),
            Get("s", name),
            "{'op':'setsockopt','fd':'s','level':'SOL_IP','name':'" + name + "','hex':'0000000001'}",
            Get("s", name),
            "{'op':'setsockopt','fd':'s','level':'SOL_UDP','name':'" + name + "','value':1}");

    /// <summary>IP_PKTINFO, IP_RECVTTL, IP_RECVTOS, IP_RECVORIGDSTADDR: setsockopt/getsockopt, and recvmsg with the control messages they ask for.</summary>
    public static IEnumerable<ParityRow> CmsgRows =>
    [
        OptionRow("IP_PKTINFO"),
        OptionRow("IP_RECVTTL"),
        OptionRow("IP_RECVTOS"),
        OptionRow("IP_RECVORIGDSTADDR"),
        R("cmsg: the four options on ping, raw and TCP sockets",
            [
                PingSock, .. EnableAll("p"),
                Get("p", "IP_PKTINFO"), Get("p", "IP_RECVTTL"), Get("p", "IP_RECVTOS"), Get("p", "IP_RECVORIGDSTADDR"),
                RawIcmp, .. EnableAll("r"),
                Get("r", "IP_PKTINFO"), Get("r", "IP_RECVTTL"), Get("r", "IP_RECVTOS"), Get("r", "IP_RECVORIGDSTADDR"),
                "{'op':'socket','domain':'AF_INET','type':'SOCK_STREAM','protocol':0,'as':'t'}", .. EnableAll("t"),
                Get("t", "IP_PKTINFO"), Get("t", "IP_RECVTTL"), Get("t", "IP_RECVTOS"), Get("t", "IP_RECVORIGDSTADDR"),
                Set("t", "IP_RECVTTL", 0), Get("t", "IP_RECVTTL"),
            ]),
        R("cmsg: recvmsg on UDP over loopback: IP_PKTINFO, IP_TTL, IP_TOS, IP_ORIGDSTADDR in the kernel's order",
            [
                UdpNb,
                "{'op':'bind','fd':'s','addr':'any','port':5000}",
                Set("s", "IP_TOS", 0x10),
                .. EnableAll("s"),
                "{'op':'sendto','fd':'s','text':'hi','addr':'127.0.0.1','port':5000}",
                "{'op':'sendto','fd':'s','text':'yo','addr':'$SELF','port':5000}",
                Sleep,
                Recvmsg,
                Recvmsg,
                Recvmsg,
            ]),
        R("cmsg: SO_TIMESTAMP and SO_TIMESTAMPNS (old and new numbers) come first, before the IP messages; the flags as sock_set_timestamp() leaves them",
            UdpNb,
            "{'op':'bind','fd':'s','addr':'127.0.0.1','port':5000}",
            "{'op':'setsockopt','fd':'s','level':'SOL_SOCKET','name':'SO_TIMESTAMPNS','value':1}",
            "{'op':'getsockopt','fd':'s','level':'SOL_SOCKET','name':'SO_TIMESTAMP'}",
            "{'op':'getsockopt','fd':'s','level':'SOL_SOCKET','name':'SO_TIMESTAMPNS'}",
            Set("s", "IP_RECVTTL", 1),
            "{'op':'sendto','fd':'s','text':'1','addr':'127.0.0.1','port':5000}",
            "{'op':'sendto','fd':'s','text':'2','addr':'127.0.0.1','port':5000}",
            "{'op':'sendto','fd':'s','text':'3','addr':'127.0.0.1','port':5000}",
            Sleep,
            // The stamps themselves are times: compared by length and position only.
            "{'op':'recvmsg','fd':'s','len':100,'cmp':['ret','errno','flags','controllen']}",
            "{'op':'setsockopt','fd':'s','level':'SOL_SOCKET','name':'SO_TIMESTAMP_NEW','value':1}",
            "{'op':'getsockopt','fd':'s','level':'SOL_SOCKET','name':'SO_TIMESTAMPNS'}",
            "{'op':'getsockopt','fd':'s','level':'SOL_SOCKET','name':'SO_TIMESTAMP_NEW'}",
            "{'op':'recvmsg','fd':'s','len':100,'controllen':20,'cmp':['ret','errno','flags','controllen']}",
            "{'op':'setsockopt','fd':'s','level':'SOL_SOCKET','name':'SO_TIMESTAMP','value':0}",
            "{'op':'recvmsg','fd':'s','len':100,'cmp':['ret','errno','flags','controllen','cmsg']}"),
        // Linux stamps a TCP segment only if receive stamping was on when it arrived, and turns
        // stamping on (the netstamp_needed static key) from a work item a moment after the first
        // socket asks: the listener asks first, the row waits, the accepted socket inherits it.
        R("cmsg: SO_TIMESTAMP on TCP, inherited from the listener: one message per read, none with nothing read",
            "{'op':'socket','domain':'AF_INET','type':'SOCK_STREAM','protocol':0,'as':'l'}",
            "{'op':'setsockopt','fd':'l','level':'SOL_SOCKET','name':'SO_TIMESTAMP','value':1}",
            "{'op':'bind','fd':'l','addr':'127.0.0.1','port':6150}",
            "{'op':'listen','fd':'l','backlog':1}",
            Sleep,
            "{'op':'socket','domain':'AF_INET','type':'SOCK_STREAM','protocol':0,'as':'c'}",
            "{'op':'connect','fd':'c','addr':'127.0.0.1','port':6150}",
            "{'op':'accept','fd':'l','as':'a'}",
            "{'op':'getsockopt','fd':'a','level':'SOL_SOCKET','name':'SO_TIMESTAMP'}",
            "{'op':'recvmsg','fd':'a','len':100,'flags':'MSG_DONTWAIT','cmp':['ret','errno','flags','controllen']}",
            "{'op':'send','fd':'c','text':'hello'}",
            "{'op':'send','fd':'c','text':'world'}",
            Sleep,
            "{'op':'recvmsg','fd':'a','len':100,'cmp':['ret','errno','flags','controllen']}",
            "{'op':'setsockopt','fd':'a','level':'SOL_SOCKET','name':'SO_TIMESTAMP','value':0}",
            "{'op':'send','fd':'c','text':'again'}",
            Sleep,
            "{'op':'recvmsg','fd':'a','len':100,'cmp':['ret','errno','flags','controllen']}"),
        R("cmsg: recvmsg with nothing asked for gives no control data, even with no buffer",
            UdpNb,
            "{'op':'bind','fd':'s','addr':'127.0.0.1','port':5000}",
            "{'op':'sendto','fd':'s','text':'hi','addr':'127.0.0.1','port':5000}",
            Sleep,
            "{'op':'recvmsg','fd':'s','len':100,'controllen':0}"),
        R("cmsg: IP_PKTINFO is noted when the datagram is queued, the rest is read at recvmsg",
            UdpNb,
            "{'op':'bind','fd':'s','addr':'127.0.0.1','port':5000}",
            "{'op':'sendto','fd':'s','text':'1','addr':'127.0.0.1','port':5000}",
            Sleep,
            Set("s", "IP_PKTINFO", 1),
            Recvmsg,
            "{'op':'sendto','fd':'s','text':'2','addr':'127.0.0.1','port':5000}",
            Sleep,
            Set("s", "IP_PKTINFO", 0),
            Set("s", "IP_RECVTTL", 1),
            Recvmsg),
        R("cmsg: a short control buffer is MSG_CTRUNC, the last message cut as put_cmsg cuts it",
            [
                UdpNb,
                "{'op':'bind','fd':'s','addr':'127.0.0.1','port':5000}",
                .. EnableAll("s"),
                .. Enumerable.Repeat("{'op':'sendto','fd':'s','text':'hi','addr':'127.0.0.1','port':5000}", 8),
                Sleep,
                "{'op':'recvmsg','fd':'s','len':100,'controllen':0}",
                "{'op':'recvmsg','fd':'s','len':100,'controllen':10}",
                "{'op':'recvmsg','fd':'s','len':100,'controllen':16}",
                "{'op':'recvmsg','fd':'s','len':100,'controllen':40}",
                "{'op':'recvmsg','fd':'s','len':100,'controllen':50}",
                "{'op':'recvmsg','fd':'s','len':100,'controllen':111}",
                "{'op':'recvmsg','fd':'s','len':100,'controllen':112}",
                "{'op':'recvmsg','fd':'s','len':1,'controllen':60}",
            ]),
        R("cmsg: recvmsg flags: MSG_PEEK, MSG_CMSG_CLOEXEC echoed, MSG_CMSG_COMPAT refused, EAGAIN, EBADF",
            UdpNb,
            "{'op':'bind','fd':'s','addr':'127.0.0.1','port':5000}",
            Set("s", "IP_RECVTTL", 1),
            Recvmsg,
            "{'op':'sendto','fd':'s','text':'hi','addr':'127.0.0.1','port':5000}",
            Sleep,
            "{'op':'recvmsg','fd':'s','len':100,'flags':'MSG_PEEK'}",
            "{'op':'recvmsg','fd':'s','len':100,'flags':-2147483648}",
            "{'op':'recvmsg','fd':'s','len':100,'flags':'MSG_CMSG_CLOEXEC'}",
            "{'op':'recvmsg','fd':999,'len':100,'flags':-2147483648}",
            "{'op':'recvmsg','fd':999,'len':100}"),
        R("cmsg: ping socket: the echo reply's TTL, TOS (the request's, as icmp_reply copies it) and IP_PKTINFO with spec_dst 0.0.0.0 (lo's index over lo)",
            PingSock,
            Set("p", "IP_TOS", 0x10),
            Set("p", "IP_PKTINFO", 1),
            Set("p", "IP_RECVTTL", 1),
            Set("p", "IP_RECVTOS", 1),
            "{'op':'sendto','fd':'p','data':'" + Echo + "','addr':'$PEER','port':0}",
            Sleep,
            "{'op':'recvmsg','fd':'p','len':64,'cmp':['ret','errno','addr','port','flags','controllen','cmsg']}",
            "{'op':'sendto','fd':'p','data':'" + Echo + "','addr':'127.0.0.1','port':0}",
            Sleep,
            "{'op':'recvmsg','fd':'p','len':64,'cmp':['ret','errno','addr','port','flags','controllen','cmsg']}",
            "{'op':'sendto','fd':'p','data':'" + Echo + "','addr':'$SELF','port':0}",
            Sleep,
            "{'op':'recvmsg','fd':'p','len':64,'cmp':['ret','errno','addr','port','flags','controllen','cmsg']}"),
        R("cmsg: raw ICMP socket: the echo reply with IP_PKTINFO, IP_TTL, IP_TOS and IP_ORIGDSTADDR (the ICMP checksum as its port)",
            [
                RawIcmp,
                .. EnableAll("r"),
                "{'op':'sendto','fd':'r','data':'" + Echo + "','addr':'$PEER','port':0}",
                Sleep,
                "{'op':'recvmsg','fd':'r','len':128,'cmp':['ret','errno','addr','port','flags','controllen','cmsg']}",
                // To itself over lo: the request and the reply, on the interface holding the address.
                "{'op':'sendto','fd':'r','data':'" + Echo + "','addr':'$SELF','port':0}",
                Sleep,
                "{'op':'recvmsg','fd':'r','len':128,'cmp':['ret','errno','addr','port','flags','controllen','cmsg']}",
                "{'op':'recvmsg','fd':'r','len':128,'cmp':['ret','errno','addr','port','flags','controllen','cmsg']}",
            ]),
    ];
}
