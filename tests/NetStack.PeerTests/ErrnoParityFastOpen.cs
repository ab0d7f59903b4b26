namespace NetStack.PeerTests;

/// <summary>
/// The TCP Fast Open rows of the errno parity table (ports 6260-6279): TCP_FASTOPEN,
/// TCP_FASTOPEN_CONNECT, TCP_FASTOPEN_NO_COOKIE and TCP_FASTOPEN_KEY in each state
/// (do_tcp_setsockopt/do_tcp_getsockopt, fastopen_queue_tune), and MSG_FASTOPEN
/// (tcp_sendmsg_fastopen -> __inet_stream_connect) on fresh, connecting, connected and listening
/// sockets. Both sides run with net.ipv4.tcp_fastopen at its default, 1 (client only), so no SYN
/// carries data here: the cookie exchange is the real-peer tests' business.
/// </summary>
public static partial class ErrnoParityTable
{
    private const string FoKey = "000102030405060708090a0b0c0d0e0f";
    private const string FoKey2 = FoKey + "f0e0d0c0b0a090807060504030201000";

    private static string FoGet(string fd, string name, int len = 4) =>
        $"{{'op':'getsockopt','fd':'{fd}','level':'SOL_TCP','name':'{name}','len':{len}}}";

    private static string FoSet(string fd, string name, int value) =>
        $"{{'op':'setsockopt','fd':'{fd}','level':'SOL_TCP','name':'{name}','value':{value}}}";

    public static IEnumerable<ParityRow> FastOpenRows =>
    [
        T("tcp fast open: TCP_FASTOPEN, _CONNECT and _NO_COOKIE values on a fresh socket",
            S(Tcp,
              FoGet("s", "TCP_FASTOPEN"),
              FoGet("s", "TCP_FASTOPEN_CONNECT"),
              FoGet("s", "TCP_FASTOPEN_NO_COOKIE"),
              FoSet("s", "TCP_FASTOPEN", 5),
              FoGet("s", "TCP_FASTOPEN"),
              FoGet("s", "TCP_FASTOPEN", 2),
              FoGet("s", "TCP_FASTOPEN", 8),
              FoSet("s", "TCP_FASTOPEN", -1),
              FoSet("s", "TCP_FASTOPEN", 0),
              FoGet("s", "TCP_FASTOPEN"),
              // Clamped to net.core.somaxconn (4096).
              FoSet("s", "TCP_FASTOPEN", 1000000),
              FoGet("s", "TCP_FASTOPEN"),
              "{'op':'setsockopt','fd':'s','level':'SOL_TCP','name':'TCP_FASTOPEN','value':3,'optlen':2}",
              FoSet("s", "TCP_FASTOPEN_CONNECT", 2),
              FoSet("s", "TCP_FASTOPEN_CONNECT", -1),
              FoSet("s", "TCP_FASTOPEN_CONNECT", 1),
              FoGet("s", "TCP_FASTOPEN_CONNECT"),
              FoSet("s", "TCP_FASTOPEN_CONNECT", 0),
              FoGet("s", "TCP_FASTOPEN_CONNECT"),
              FoSet("s", "TCP_FASTOPEN_NO_COOKIE", 2),
              FoSet("s", "TCP_FASTOPEN_NO_COOKIE", 1),
              FoGet("s", "TCP_FASTOPEN_NO_COOKIE"))),
        T("tcp fast open: TCP_FASTOPEN_KEY lengths, a backup key, and a socket reads only its own keys",
            S(Tcp,
              FoGet("s", "TCP_FASTOPEN_KEY", 32),
              FoSet("s", "TCP_FASTOPEN", 4),
              // The namespace's key exists now; the socket has none of its own.
              FoGet("s", "TCP_FASTOPEN_KEY", 32),
              "{'op':'setsockopt','fd':'s','level':'SOL_TCP','name':'TCP_FASTOPEN_KEY','hex':'0001020304050607'}",
              "{'op':'setsockopt','fd':'s','level':'SOL_TCP','name':'TCP_FASTOPEN_KEY','hex':'" + FoKey + "00'}",
              "{'op':'setsockopt','fd':'s','level':'SOL_TCP','name':'TCP_FASTOPEN_KEY','hex':'" + FoKey + "'}",
              FoGet("s", "TCP_FASTOPEN_KEY", 32),
              FoGet("s", "TCP_FASTOPEN_KEY", 10),
              FoGet("s", "TCP_FASTOPEN_KEY", 0),
              "{'op':'setsockopt','fd':'s','level':'SOL_TCP','name':'TCP_FASTOPEN_KEY','hex':'" + FoKey2 + "'}",
              FoGet("s", "TCP_FASTOPEN_KEY", 40),
              FoGet("s", "TCP_FASTOPEN_KEY", 20))),
        T("tcp fast open: TCP_FASTOPEN on a listener; the options are refused once connected",
            Pair(6260),
            S(FoSet("l", "TCP_FASTOPEN", 3),
              FoGet("l", "TCP_FASTOPEN"),
              FoSet("l", "TCP_FASTOPEN_NO_COOKIE", 1),
              FoGet("l", "TCP_FASTOPEN_NO_COOKIE"),
              FoSet("l", "TCP_FASTOPEN_CONNECT", 1),
              FoGet("a", "TCP_FASTOPEN"),
              FoSet("c", "TCP_FASTOPEN", 1),
              FoSet("a", "TCP_FASTOPEN", 1),
              FoSet("c", "TCP_FASTOPEN_CONNECT", 1),
              FoSet("c", "TCP_FASTOPEN_NO_COOKIE", 1),
              FoSet("c", "TCP_FASTOPEN_NO_COOKIE", 0),
              FoGet("c", "TCP_FASTOPEN_CONNECT"))),
        T("tcp fast open: MSG_FASTOPEN without an address, with AF_UNSPEC, on a listener and on a connected socket",
            Pair(6261),
            S(TcpNb,
              "{'op':'send','fd':'s','text':'x','flags':'MSG_FASTOPEN|MSG_NOSIGNAL'}",
              "{'op':'sendto','fd':'s','text':'x','family':0,'addr':'$SELF','port':6261,'flags':'MSG_FASTOPEN|MSG_NOSIGNAL'}",
              "{'op':'sendto','fd':'l','text':'x','addr':'$SELF','port':6261,'flags':'MSG_FASTOPEN|MSG_NOSIGNAL'}",
              "{'op':'sendto','fd':'c','text':'x','addr':'$SELF','port':6261,'flags':'MSG_FASTOPEN|MSG_NOSIGNAL'}",
              "{'op':'send','fd':'c','text':'y','flags':'MSG_FASTOPEN|MSG_NOSIGNAL'}",
              "{'op':'recv','fd':'a','len':10,'flags':'MSG_DONTWAIT'}")),
        T("tcp fast open: MSG_FASTOPEN with no cookie connects (EINPROGRESS), sends nothing; later sends go normally",
            Listener(6262),
            S(TcpNb,
              "{'op':'sendto','fd':'s','text':'abc','addr':'$SELF','port':6262,'flags':'MSG_FASTOPEN'}",
              Short,
              "{'op':'sendto','fd':'s','text':'def','addr':'$SELF','port':6262,'flags':'MSG_FASTOPEN'}",
              "{'op':'sendto','fd':'s','text':'ghi','addr':'$SELF','port':6262,'flags':'MSG_FASTOPEN'}",
              "{'op':'connect','fd':'s','addr':'$SELF','port':6262}",
              "{'op':'accept','fd':'l','as':'a'}",
              Short,
              "{'op':'recv','fd':'a','len':10,'flags':'MSG_DONTWAIT'}")),
        T("tcp fast open: TCP_FASTOPEN_CONNECT with no cookie connects at once; MSG_FASTOPEN after it is EALREADY",
            Listener(6263),
            S(TcpNb,
              FoSet("s", "TCP_FASTOPEN_CONNECT", 1),
              "{'op':'connect','fd':'s','addr':'$SELF','port':6263}",
              Short,
              "{'op':'connect','fd':'s','addr':'$SELF','port':6263}",
              "{'op':'sendto','fd':'s','text':'x','addr':'$SELF','port':6263,'flags':'MSG_FASTOPEN'}",
              "{'op':'send','fd':'s','text':'z'}",
              FoSet("s", "TCP_FASTOPEN_CONNECT", 0),
              FoGet("s", "TCP_FASTOPEN_CONNECT"),
              "{'op':'accept','fd':'l','as':'a'}",
              Short,
              "{'op':'recv','fd':'a','len':10,'flags':'MSG_DONTWAIT'}")),
    ];
}
