namespace NetStack.PeerTests;

/// <summary>
/// The option matrix of the errno parity table: every integer socket option the stack accepts, on
/// every socket type it applies to, set to valid, invalid and boundary values (each read back),
/// with short and long option lengths on both calls; and every fcntl command and ioctl request the
/// stack accepts. Generated, so a new option is one line here; each row is one option on one socket
/// type and runs on Linux and on the stack like the hand-written rows.
/// <para>Values that depend on the host's settings rather than on the call (buffer sizes above
/// net.core.rmem_max/wmem_max) are left to the hand-written buffer rows.</para>
/// </summary>
public static partial class ErrnoParityTable
{
    /// <summary>The socket types of the matrix, each opened as fd "s". (Properties, not fields: <see cref="All"/> is built by a static initializer that may run before this file's.)</summary>
    private static (string Name, string Socket)[] MatrixSockets =>
    [
        ("udp", "{'op':'socket','domain':'AF_INET','type':'SOCK_DGRAM','protocol':0,'as':'s'}"),
        ("tcp", "{'op':'socket','domain':'AF_INET','type':'SOCK_STREAM','protocol':0,'as':'s'}"),
        ("raw", "{'op':'socket','domain':'AF_INET','type':'SOCK_RAW|SOCK_NONBLOCK','protocol':'IPPROTO_ICMP','as':'s'}"),
        ("ping", "{'op':'socket','domain':'AF_INET','type':'SOCK_DGRAM|SOCK_NONBLOCK','protocol':'IPPROTO_ICMP','as':'s'}"),
    ];

    /// <summary>Values every option is set to (the int the kernel's copy_from_sockptr reads).</summary>
    private static long[] MatrixValues => [0, 1, 2, 7, -1, 255, 256, 65535, 65536, int.MaxValue, int.MinValue];

    /// <summary>The options: level, name, the socket types they are tried on, and the values to skip (host-dependent).</summary>
    private static (string Level, string Name, string[] On, long[] Skip)[] MatrixOptions =>
    [
        ("SOL_SOCKET", "SO_DEBUG", ["udp", "tcp"], []),
        ("SOL_SOCKET", "SO_REUSEADDR", ["udp", "tcp", "raw", "ping"], []),
        ("SOL_SOCKET", "SO_REUSEPORT", ["udp", "tcp"], []),
        ("SOL_SOCKET", "SO_KEEPALIVE", ["udp", "tcp"], []),
        ("SOL_SOCKET", "SO_DONTROUTE", ["udp", "tcp", "raw"], []),
        ("SOL_SOCKET", "SO_BROADCAST", ["udp", "tcp", "raw", "ping"], []),
        ("SOL_SOCKET", "SO_OOBINLINE", ["udp", "tcp"], []),
        ("SOL_SOCKET", "SO_NO_CHECK", ["udp", "raw"], []),
        ("SOL_SOCKET", "SO_PRIORITY", ["udp", "tcp", "raw", "ping"], []),
        ("SOL_SOCKET", "SO_RCVLOWAT", ["udp", "tcp"], []),
        ("SOL_SOCKET", "SO_SNDLOWAT", ["udp"], []),
        ("SOL_SOCKET", "SO_BSDCOMPAT", ["udp"], []),
        ("SOL_SOCKET", "SO_TIMESTAMP", ["udp", "tcp", "raw", "ping"], []),
        ("SOL_SOCKET", "SO_TIMESTAMPNS", ["udp", "raw"], []),
        ("SOL_SOCKET", "SO_TIMESTAMP_NEW", ["udp"], []),
        ("SOL_SOCKET", "SO_TIMESTAMPNS_NEW", ["udp"], []),
        ("SOL_SOCKET", "SO_MAX_PACING_RATE", ["udp", "tcp"], []),
        ("SOL_SOCKET", "SO_RCVBUF", ["udp", "tcp"], HostBufferValues),
        ("SOL_SOCKET", "SO_SNDBUF", ["udp", "tcp"], HostBufferValues),
        ("SOL_SOCKET", "SO_TYPE", ["udp", "tcp", "raw", "ping"], []),
        ("SOL_SOCKET", "SO_PROTOCOL", ["udp", "tcp", "raw", "ping"], []),
        ("SOL_SOCKET", "SO_DOMAIN", ["udp", "tcp"], []),
        ("SOL_SOCKET", "SO_ERROR", ["udp", "tcp"], []),
        ("SOL_SOCKET", "SO_ACCEPTCONN", ["udp", "tcp"], []),
        ("SOL_IP", "IP_TOS", ["udp", "tcp", "raw", "ping"], []),
        ("SOL_IP", "IP_TTL", ["udp", "tcp", "raw", "ping"], []),
        ("SOL_IP", "IP_HDRINCL", ["udp", "raw"], []),
        ("SOL_IP", "IP_RECVERR", ["udp", "tcp", "raw", "ping"], []),
        ("SOL_IP", "IP_PKTINFO", ["udp", "tcp", "raw", "ping"], []),
        ("SOL_IP", "IP_RECVTTL", ["udp", "raw", "ping"], []),
        ("SOL_IP", "IP_RECVTOS", ["udp", "raw", "ping"], []),
        ("SOL_IP", "IP_RECVORIGDSTADDR", ["udp", "raw"], []),
        ("SOL_IP", "IP_MTU_DISCOVER", ["udp", "tcp", "raw", "ping"], []),
        ("SOL_IP", "IP_MULTICAST_TTL", ["udp", "raw"], []),
        ("SOL_IP", "IP_MULTICAST_LOOP", ["udp", "raw"], []),
        ("SOL_IP", "IP_MTU", ["udp", "tcp"], []),
        ("SOL_TCP", "TCP_NODELAY", ["tcp"], []),
        ("SOL_TCP", "TCP_MAXSEG", ["tcp"], []),
        ("SOL_TCP", "TCP_CORK", ["tcp"], []),
        ("SOL_TCP", "TCP_KEEPIDLE", ["tcp"], []),
        ("SOL_TCP", "TCP_KEEPINTVL", ["tcp"], []),
        ("SOL_TCP", "TCP_KEEPCNT", ["tcp"], []),
        ("SOL_TCP", "TCP_SYNCNT", ["tcp"], []),
        ("SOL_TCP", "TCP_LINGER2", ["tcp"], []),
        ("SOL_TCP", "TCP_DEFER_ACCEPT", ["tcp"], []),
        ("SOL_TCP", "TCP_WINDOW_CLAMP", ["tcp"], []),
        ("SOL_TCP", "TCP_QUICKACK", ["tcp"], []),
        ("SOL_TCP", "TCP_USER_TIMEOUT", ["tcp"], []),
        // Issue 12: options that were ENOPROTOOPT before.
        ("SOL_SOCKET", "SO_PASSCRED", ["udp", "tcp", "raw", "ping"], []),
        ("SOL_SOCKET", "SO_MARK", ["udp", "tcp", "raw"], []),
        ("SOL_SOCKET", "SO_BUSY_POLL", ["udp", "tcp"], []),
        ("SOL_SOCKET", "SO_INCOMING_CPU", ["udp", "tcp"], []),
        ("SOL_SOCKET", "SO_RXQ_OVFL", ["udp", "tcp", "raw", "ping"], []),
        ("SOL_IP", "IP_RECVOPTS", ["udp", "tcp", "raw", "ping"], []),
        ("SOL_IP", "IP_RETOPTS", ["udp", "raw"], []),
        ("SOL_IP", "IP_FREEBIND", ["udp", "tcp", "raw", "ping"], []),
        ("SOL_IP", "IP_TRANSPARENT", ["udp", "tcp", "raw"], []),
        ("SOL_IP", "IP_NODEFRAG", ["udp", "tcp", "raw"], []),
        ("SOL_IP", "IP_BIND_ADDRESS_NO_PORT", ["udp", "tcp"], []),
        ("SOL_IP", "IP_MINTTL", ["udp", "tcp", "raw", "ping"], []),
        ("SOL_TCP", "TCP_NOTSENT_LOWAT", ["tcp"], []),
        ("SOL_TCP", "TCP_INQ", ["tcp"], []),
        ("SOL_TCP", "TCP_SAVE_SYN", ["tcp"], []),
        // Issue 12: multicast and TCP Fast Open.
        ("SOL_IP", "IP_MULTICAST_ALL", ["udp", "raw"], []),
        ("SOL_TCP", "TCP_FASTOPEN", ["tcp"], []),
        ("SOL_TCP", "TCP_FASTOPEN_CONNECT", ["tcp"], []),
        ("SOL_TCP", "TCP_FASTOPEN_NO_COOKIE", ["tcp"], []),
    ];

    /// <summary>Buffer sizes the kernel clamps to net.core.rmem_max/wmem_max, a host setting (negative ones are huge unsigned).</summary>
    private static long[] HostBufferValues => [65535, 65536, int.MaxValue, -1, int.MinValue];

    /// <summary>setsockopt/getsockopt matrix: each option on each socket type it applies to.</summary>
    public static IEnumerable<ParityRow> SockoptMatrixRows
    {
        get
        {
            foreach (var (level, name, on, skip) in MatrixOptions)
                foreach (var (kind, socket) in MatrixSockets.Where(s => on.Contains(s.Name)))
                {
                    var steps = new List<string> { socket, GetOpt(level, name, null) };
                    foreach (long v in MatrixValues.Where(v => !skip.Contains(v)))
                    {
                        steps.Add($"{{'op':'setsockopt','fd':'s','level':'{level}','name':'{name}','value':{v}}}");
                        steps.Add(GetOpt(level, name, null));
                    }
                    // Short and long option lengths: setsockopt reads an int (EINVAL below sizeof(int),
                    // except where the kernel takes a byte); getsockopt writes at most what was asked.
                    foreach (int optlen in new[] { 0, 1, 2, 3, 8 })
                        steps.Add($"{{'op':'setsockopt','fd':'s','level':'{level}','name':'{name}','value':1,'optlen':{optlen}}}");
                    foreach (int len in new[] { 0, 1, 2, 3, 8, -1 })
                        steps.Add(GetOpt(level, name, len));
                    yield return R($"sockopt matrix: {name} on {kind}", [.. steps]);
                }
        }
    }

    private static string GetOpt(string level, string name, int? len) =>
        len is { } n
            ? $"{{'op':'getsockopt','fd':'s','level':'{level}','name':'{name}','len':{n}}}"
            : $"{{'op':'getsockopt','fd':'s','level':'{level}','name':'{name}'}}";

    /// <summary>fcntl commands and ioctl requests the stack accepts, with valid and invalid arguments.</summary>
    public static IEnumerable<ParityRow> FcntlIoctlMatrixRows
    {
        get
        {
            foreach (var (kind, socket) in MatrixSockets)
            {
                yield return R($"fcntl matrix: {kind}",
                    socket,
                    "{'op':'fcntl','fd':'s','cmd':'F_GETFL'}",
                    "{'op':'fcntl','fd':'s','cmd':'F_SETFL','arg':'O_NONBLOCK'}",
                    "{'op':'fcntl','fd':'s','cmd':'F_GETFL'}",
                    "{'op':'fcntl','fd':'s','cmd':'F_SETFL','arg':0}",
                    "{'op':'fcntl','fd':'s','cmd':'F_GETFL'}",
                    "{'op':'fcntl','fd':'s','cmd':'F_SETFL','arg':-1}",
                    "{'op':'fcntl','fd':'s','cmd':'F_GETFL'}",
                    "{'op':'fcntl','fd':'s','cmd':'F_SETFL','arg':'O_APPEND|O_NONBLOCK|O_CLOEXEC'}",
                    "{'op':'fcntl','fd':'s','cmd':'F_GETFL'}",
                    "{'op':'fcntl','fd':'s','cmd':'F_SETFL','arg':'FASYNC|O_NOATIME'}",
                    "{'op':'fcntl','fd':'s','cmd':'F_GETFL'}",
                    "{'op':'fcntl','fd':'s','cmd':'F_SETFL','arg':'O_DIRECT'}",
                    "{'op':'fcntl','fd':'s','cmd':'F_GETFL'}",
                    "{'op':'fcntl','fd':'s','cmd':'F_GETFD'}",
                    "{'op':'fcntl','fd':'s','cmd':'F_SETFD','arg':'FD_CLOEXEC'}",
                    "{'op':'fcntl','fd':'s','cmd':'F_GETFD'}",
                    "{'op':'fcntl','fd':'s','cmd':'F_SETFD','arg':-1}",
                    "{'op':'fcntl','fd':'s','cmd':'F_GETFD'}",
                    "{'op':'fcntl','fd':'s','cmd':'F_SETFD','arg':0}",
                    "{'op':'fcntl','fd':'s','cmd':'F_GETFD'}",
                    "{'op':'fcntl','fd':'s','cmd':1000}");
                yield return R($"ioctl matrix: {kind}",
                    socket,
                    "{'op':'ioctl','fd':'s','request':'FIONREAD'}",
                    "{'op':'ioctl','fd':'s','request':'SIOCOUTQ'}",
                    "{'op':'ioctl','fd':'s','request':'FIONBIO','arg':1}",
                    "{'op':'fcntl','fd':'s','cmd':'F_GETFL'}",
                    "{'op':'ioctl','fd':'s','request':'FIONBIO','arg':0}",
                    "{'op':'fcntl','fd':'s','cmd':'F_GETFL'}",
                    "{'op':'ioctl','fd':'s','request':'FIONBIO','arg':-7}",
                    "{'op':'fcntl','fd':'s','cmd':'F_GETFL'}",
                    "{'op':'ioctl','fd':'s','request':'SIOCATMARK'}",
                    "{'op':'ioctl','fd':'s','request':12345}");
            }
        }
    }
}
