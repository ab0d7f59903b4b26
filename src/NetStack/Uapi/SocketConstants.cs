// The members are Linux's socket ABI names and numbers; their documentation is the kernel/uapi headers the type's summary cites.
#pragma warning disable CS1591
namespace NetStack.Uapi;

/// <summary>
/// The socket ABI's numbers with their Linux names and x86-64 values (include/linux/socket.h,
/// include/linux/net.h, include/uapi/asm-generic/socket.h, include/uapi/linux/in.h, include/uapi/linux/tcp.h,
/// include/uapi/asm-generic/poll.h, include/uapi/asm-generic/fcntl.h, include/uapi/asm-generic/ioctls.h,
/// include/uapi/linux/sockios.h, include/net/sock.h); each group of constants is documented by its header
/// and the matching man page (socket(7), ip(7), tcp(7), send(2), poll(2)). They keep the C spelling
/// on purpose: they are the same numbers a C or Python program passes, and the repl and the
/// errno parity suite look them up by that name.
/// </summary>
public static class SocketConstants
{
    // Address families (include/linux/socket.h). PF_* == AF_*.
    public const int AF_UNSPEC = 0, AF_UNIX = 1, AF_LOCAL = 1, AF_INET = 2, AF_INET6 = 10, AF_NETLINK = 16, AF_PACKET = 17;
    public const int PF_UNSPEC = AF_UNSPEC, PF_UNIX = AF_UNIX, PF_INET = AF_INET, PF_INET6 = AF_INET6, PF_NETLINK = AF_NETLINK, PF_PACKET = AF_PACKET;
    /// <summary>AF_MAX / NPROTO: one past the last family number.</summary>
    public const int AF_MAX = 46, NPROTO = AF_MAX;

    // Socket types (include/linux/net.h: enum sock_type).
    public const int SOCK_STREAM = 1, SOCK_DGRAM = 2, SOCK_RAW = 3, SOCK_RDM = 4, SOCK_SEQPACKET = 5, SOCK_DCCP = 6, SOCK_PACKET = 10;
    /// <summary>One past the largest type (SOCK_PACKET + 1).</summary>
    public const int SOCK_MAX = SOCK_PACKET + 1;
    public const int SOCK_TYPE_MASK = 0xf;
    /// <summary>Flags or-ed into the type argument of socket(): O_CLOEXEC and O_NONBLOCK.</summary>
    public const int SOCK_CLOEXEC = 0x80000, SOCK_NONBLOCK = 0x800;

    // File flags (asm-generic/fcntl.h) and fcntl commands.
    public const int O_NONBLOCK = 0x800, O_CLOEXEC = 0x80000, O_RDWR = 2;
    /// <summary>The other flags F_SETFL changes (setfl()'s SETFL_MASK, and FASYNC through ->fasync); O_DIRECT is refused on a socket.</summary>
    public const int O_APPEND = 0x400, FASYNC = 0x2000, O_DIRECT = 0x4000, O_NOATIME = 0x40000;
    public const int F_GETFD = 1, F_SETFD = 2, F_GETFL = 3, F_SETFL = 4;
    /// <summary>Duplicating a descriptor and its owner for SIGIO (asm-generic/fcntl.h, linux/fcntl.h).</summary>
    public const int F_DUPFD = 0, F_SETOWN = 8, F_GETOWN = 9, F_DUPFD_CLOEXEC = 1030;
    public const int FD_CLOEXEC = 1;

    // IP protocols (include/uapi/linux/in.h).
    public const int IPPROTO_IP = 0, IPPROTO_ICMP = 1, IPPROTO_IGMP = 2, IPPROTO_TCP = 6, IPPROTO_UDP = 17,
        IPPROTO_IPV6 = 41, IPPROTO_ICMPV6 = 58, IPPROTO_SCTP = 132, IPPROTO_UDPLITE = 136, IPPROTO_RAW = 255, IPPROTO_MAX = 263;

    // setsockopt levels.
    public const int SOL_SOCKET = 1, SOL_IP = 0, SOL_TCP = 6, SOL_UDP = 17, SOL_RAW = 255;
    /// <summary>SOL_IPV6 (include/linux/socket.h): the level of the IPV6_* options, IPPROTO_IPV6's number.</summary>
    public const int SOL_IPV6 = 41;

    // SOL_SOCKET options (asm-generic/socket.h).
    public const int SO_DEBUG = 1, SO_REUSEADDR = 2, SO_TYPE = 3, SO_ERROR = 4, SO_DONTROUTE = 5, SO_BROADCAST = 6,
        SO_SNDBUF = 7, SO_RCVBUF = 8, SO_KEEPALIVE = 9, SO_OOBINLINE = 10, SO_NO_CHECK = 11, SO_PRIORITY = 12,
        SO_LINGER = 13, SO_BSDCOMPAT = 14, SO_REUSEPORT = 15, SO_PASSCRED = 16, SO_PEERCRED = 17, SO_RCVLOWAT = 18,
        SO_SNDLOWAT = 19, SO_RCVTIMEO = 20, SO_SNDTIMEO = 21, SO_BINDTODEVICE = 25, SO_TIMESTAMP = 29,
        SO_ACCEPTCONN = 30, SO_SNDBUFFORCE = 32, SO_RCVBUFFORCE = 33, SO_PROTOCOL = 38, SO_DOMAIN = 39,
        SO_MAX_PACING_RATE = 47, SO_BINDTOIFINDEX = 62;
    /// <summary>Receive timestamps (asm-generic/socket.h): the old names (SO_TIMESTAMP = 29 above) carry a
    /// struct timeval / timespec of longs, the new ones 64-bit fields; on x86-64 both are 16 bytes. The
    /// control message has the option's number as its type (SCM_TIMESTAMP = SO_TIMESTAMP...).</summary>
    public const int SO_TIMESTAMPNS = 35, SO_TIMESTAMP_NEW = 63, SO_TIMESTAMPNS_NEW = 64,
        SCM_TIMESTAMP = SO_TIMESTAMP, SCM_TIMESTAMPNS = SO_TIMESTAMPNS;
    /// <summary>More SOL_SOCKET options (asm-generic/socket.h); SO_RXQ_OVFL is also its control message's type.</summary>
    public const int SO_MARK = 36, SO_RXQ_OVFL = 40, SO_BUSY_POLL = 46, SO_INCOMING_CPU = 49;
    /// <summary>The old (32-bit time) names are the ones Python and glibc on x86-64 use.</summary>
    public const int SO_RCVTIMEO_OLD = 20, SO_SNDTIMEO_OLD = 21;

    // SOL_IP options (include/uapi/linux/in.h).
    public const int IP_TOS = 1, IP_TTL = 2, IP_HDRINCL = 3, IP_OPTIONS = 4, IP_PKTINFO = 8, IP_RECVERR = 11, IP_MTU_DISCOVER = 10,
        IP_RECVTTL = 12, IP_RECVTOS = 13, IP_MTU = 14, IP_ORIGDSTADDR = 20, IP_RECVORIGDSTADDR = IP_ORIGDSTADDR,
        IP_MULTICAST_IF = 32, IP_MULTICAST_TTL = 33, IP_MULTICAST_LOOP = 34, IP_ADD_MEMBERSHIP = 35, IP_DROP_MEMBERSHIP = 36,
        IP_MULTICAST_ALL = 49;
    /// <summary>SOL_IP options of IP options and binding (include/uapi/linux/in.h).</summary>
    public const int IP_RECVOPTS = 6, IP_RETOPTS = 7, IP_FREEBIND = 15, IP_TRANSPARENT = 19, IP_NODEFRAG = 22,
        IP_MINTTL = 21, IP_BIND_ADDRESS_NO_PORT = 24;
    public const int IP_PMTUDISC_DONT = 0, IP_PMTUDISC_WANT = 1, IP_PMTUDISC_DO = 2, IP_PMTUDISC_PROBE = 3;

    // The origin of an extended error (include/uapi/linux/errqueue.h: struct sock_extended_err.ee_origin).
    public const int SO_EE_ORIGIN_NONE = 0, SO_EE_ORIGIN_LOCAL = 1, SO_EE_ORIGIN_ICMP = 2, SO_EE_ORIGIN_ICMP6 = 3;
    /// <summary>sizeof(struct sock_extended_err): ee_errno, ee_origin, ee_type, ee_code, ee_pad, ee_info, ee_data.</summary>
    public const int SockExtendedErrSize = 16;

    // SOL_UDP options (include/uapi/linux/udp.h).
    public const int UDP_CORK = 1;

    // SOL_RAW options.
    public const int ICMP_FILTER = 1;

    // send/recv flags (include/linux/socket.h).
    public const int MSG_OOB = 1, MSG_PEEK = 2, MSG_DONTROUTE = 4, MSG_CTRUNC = 8, MSG_TRUNC = 0x20,
        MSG_DONTWAIT = 0x40, MSG_EOR = 0x80, MSG_WAITALL = 0x100, MSG_CONFIRM = 0x800, MSG_ERRQUEUE = 0x2000,
        MSG_NOSIGNAL = 0x4000, MSG_MORE = 0x8000, MSG_CMSG_CLOEXEC = 0x40000000;
    /// <summary>recvmmsg(2): block for the first message only (MSG_DONTWAIT after it).</summary>
    public const int MSG_WAITFORONE = 0x10000;
    /// <summary>The most iovecs one sendmsg/recvmsg takes, and the most messages one sendmmsg/recvmmsg handles (include/uapi/linux/uio.h: UIO_MAXIOV).</summary>
    public const int UIO_MAXIOV = 1024;

    // SOL_TCP options (include/uapi/linux/tcp.h).
    public const int TCP_NODELAY = 1, TCP_MAXSEG = 2, TCP_CORK = 3, TCP_KEEPIDLE = 4, TCP_KEEPINTVL = 5, TCP_KEEPCNT = 6,
        TCP_SYNCNT = 7, TCP_LINGER2 = 8, TCP_DEFER_ACCEPT = 9, TCP_WINDOW_CLAMP = 10, TCP_INFO = 11, TCP_QUICKACK = 12,
        TCP_CONGESTION = 13, TCP_USER_TIMEOUT = 18, TCP_CC_INFO = 26;
    /// <summary>TCP Fast Open options (include/uapi/linux/tcp.h).</summary>
    public const int TCP_FASTOPEN = 23, TCP_FASTOPEN_CONNECT = 30, TCP_FASTOPEN_KEY = 33, TCP_FASTOPEN_NO_COOKIE = 34;
    /// <summary>MSG_FASTOPEN: send data in the SYN (connect and send in one call).</summary>
    public const int MSG_FASTOPEN = 0x20000000;
    /// <summary>More SOL_TCP options (include/uapi/linux/tcp.h); TCP_CM_INQ is TCP_INQ's control message.</summary>
    public const int TCP_NOTSENT_LOWAT = 25, TCP_SAVE_SYN = 27, TCP_SAVED_SYN = 28, TCP_INQ = 36, TCP_CM_INQ = TCP_INQ;
    /// <summary>SIOCGSTAMP / SIOCGSTAMPNS: the last received packet's time as a timeval / timespec (asm-generic/sockios.h, the _OLD numbers x86-64 uses).</summary>
    public const int SIOCGSTAMP = 0x8906, SIOCGSTAMPNS = 0x8907;
    /// <summary>SIOCOUTQNSD: bytes in the send queue not yet sent (linux/sockios.h).</summary>
    public const int SIOCOUTQNSD = 0x894B;
    /// <summary>SIOCATMARK: whether the read position is at the urgent mark (asm-generic/sockios.h).</summary>
    public const int SIOCATMARK = 0x8905;

    // shutdown(how) and sk_shutdown bits (include/net/sock.h).
    public const int SHUT_RD = 0, SHUT_WR = 1, SHUT_RDWR = 2;
    public const int RCV_SHUTDOWN = 1, SEND_SHUTDOWN = 2, SHUTDOWN_MASK = 3;

    // poll events (asm-generic/poll.h).
    /// <summary>SOL_IPV6 options (include/uapi/linux/in6.h, ipv6(7)).</summary>
    public const int IPV6_ADDRFORM = 1, IPV6_UNICAST_HOPS = 16, IPV6_MULTICAST_IF = 17, IPV6_MULTICAST_HOPS = 18,
        IPV6_MULTICAST_LOOP = 19, IPV6_MTU_DISCOVER = 23, IPV6_MTU = 24, IPV6_RECVERR = 25, IPV6_V6ONLY = 26,
        IPV6_RECVERR_RFC4884 = 31, IPV6_TCLASS = 67;
    /// <summary>More SOL_IPV6 options (include/uapi/linux/in6.h, ipv6(7), RFC 3542): raw sockets' checksum and header, received-packet information.</summary>
    public const int IPV6_CHECKSUM = 7, IPV6_HDRINCL = 36, IPV6_RECVPKTINFO = 49, IPV6_PKTINFO = 50, IPV6_RECVHOPLIMIT = 51,
        IPV6_HOPLIMIT = 52, IPV6_RECVTCLASS = 66;
    /// <summary>Path MTU options (include/uapi/linux/in6.h, RFC 3542 11): IPV6_RECVPATHMTU asks for IPV6_PATHMTU control messages, IPV6_PATHMTU reads a connected socket's struct ip6_mtuinfo, IPV6_DONTFRAG refuses to fragment; IPV6_MINHOPCOUNT is RFC 5082's GTSM floor.</summary>
    public const int IPV6_RECVPATHMTU = 60, IPV6_PATHMTU = 61, IPV6_DONTFRAG = 62, IPV6_MINHOPCOUNT = 73;
    /// <summary>SOL_ICMPV6 (= IPPROTO_ICMPV6) and its ICMPV6_FILTER option (include/uapi/linux/icmpv6.h: struct icmp6_filter, 32 bytes).</summary>
    public const int SOL_ICMPV6 = 58, ICMPV6_FILTER = 1;
    /// <summary>IPV6_MTU_DISCOVER values (include/uapi/linux/in6.h).</summary>
    public const int IPV6_PMTUDISC_DONT = 0, IPV6_PMTUDISC_WANT = 1, IPV6_PMTUDISC_DO = 2, IPV6_PMTUDISC_PROBE = 3,
        IPV6_PMTUDISC_INTERFACE = 4, IPV6_PMTUDISC_OMIT = 5;
    public const int POLLIN = 0x1, POLLPRI = 0x2, POLLOUT = 0x4, POLLERR = 0x8, POLLHUP = 0x10, POLLNVAL = 0x20,
        POLLRDNORM = 0x40, POLLRDBAND = 0x80, POLLWRNORM = 0x100, POLLWRBAND = 0x200, POLLMSG = 0x400, POLLRDHUP = 0x2000;

    // ioctl requests (asm-generic/ioctls.h, linux/sockios.h).
    public const int FIONREAD = 0x541B, SIOCINQ = FIONREAD, SIOCOUTQ = 0x5411, FIONBIO = 0x5421;

    /// <summary>sizeof(struct sockaddr_in), sizeof(sa_family_t), sizeof(struct sockaddr_storage).</summary>
    public const int SockaddrInSize = 16, SaFamilySize = 2, SockaddrStorageSize = 128;
    /// <summary>sizeof(struct sockaddr_in6) (include/uapi/linux/in6.h): family, port, flowinfo, 16-byte address, scope id.</summary>
    public const int SockaddrIn6Size = 28;
    /// <summary>SIN6_LEN_RFC2133: a sockaddr_in6 without sin6_scope_id, the shortest the IPv6 calls accept (include/linux/in6.h).</summary>
    public const int Sin6LenRfc2133 = 24;
    /// <summary>sizeof(struct in_pktinfo): ipi_ifindex, ipi_spec_dst, ipi_addr (include/uapi/linux/in.h).</summary>
    public const int InPktinfoSize = 12;

    /// <summary>
    /// Looks a constant up by its Linux name ("SOCK_DGRAM", "MSG_PEEK"), for the repl and the
    /// parity tests. Returns false for an unknown name.
    /// </summary>
    public static bool TryLookup(string name, out int value)
    {
        var f = typeof(SocketConstants).GetField(name);
        if (f is { IsLiteral: true } && f.FieldType == typeof(int))
        {
            value = (int)f.GetRawConstantValue()!;
            return true;
        }
        value = 0;
        return false;
    }

    /// <summary>The first constant name with this value and prefix ("SOCK_", 2 -> "SOCK_DGRAM"), or null.</summary>
    public static string? NameOf(string prefix, int value)
    {
        foreach (var f in typeof(SocketConstants).GetFields())
            if (f.IsLiteral && f.FieldType == typeof(int) && f.Name.StartsWith(prefix, StringComparison.Ordinal) &&
                (int)f.GetRawConstantValue()! == value)
                return f.Name;
        return null;
    }
}
