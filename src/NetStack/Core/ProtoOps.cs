using NetStack.Core;

namespace NetStack.Core;

/// <summary>
/// The operations the BSD socket layer calls on a socket of one family and type
/// (inet_stream_ops, inet_dgram_ops, inet_sockraw_ops). Every member defaults to the kernel's
/// sock_no_* stub, so a table overrides only what its type supports.
/// Called with the stack lock held; blocking members release it while they sleep.
/// <remarks>Mirrors include/linux/net.h: struct proto_ops, and net/core/sock.c: sock_no_*().</remarks>
/// </summary>
public abstract class ProtoOps
{
    /// <summary>A table where everything is sock_no_* (a socket that has not been created yet).</summary>
    public static readonly ProtoOps NoOps = new NoProtoOps();

    /// <summary>->family.</summary>
    public virtual int Family => SocketConstants.AF_UNSPEC;

    /// <summary>->release: close the socket; the sock is released or orphaned.</summary>
    public virtual int Release(BsdSocket sock) => 0;

    /// <summary>bind(2): gives the socket its local address; 0 or a negative errno. The base returns -EOPNOTSUPP.</summary>
    /// <remarks>sock_no_bind().</remarks>
    public virtual int Bind(BsdSocket sock, in SockAddr addr) => -Errno.EOPNOTSUPP;

    /// <summary>->connect; <paramref name="flags"/> are the file flags (O_NONBLOCK).</summary>
    /// <remarks>sock_no_connect().</remarks>
    public virtual int Connect(BsdSocket sock, in SockAddr addr, int flags) => -Errno.EOPNOTSUPP;

    /// <summary>socketpair(2): connects two new sockets to each other. The base (and AF_INET) returns -EOPNOTSUPP.</summary>
    /// <remarks>sock_no_socketpair().</remarks>
    public virtual int Socketpair(BsdSocket sock1, BsdSocket sock2) => -Errno.EOPNOTSUPP;

    /// <summary>->accept: fill <paramref name="newsock"/> with the next connection.</summary>
    /// <remarks>sock_no_accept().</remarks>
    public virtual int Accept(BsdSocket sock, BsdSocket newsock, ref ProtoAcceptArg arg) => -Errno.EOPNOTSUPP;

    /// <summary>->getname: the local (peer = 0) or remote (peer = 1) address; returns its length or a negative errno.</summary>
    /// <remarks>sock_no_getname().</remarks>
    public virtual int Getname(BsdSocket sock, out SockAddr addr, int peer)
    {
        addr = default;
        return -Errno.EOPNOTSUPP;
    }

    /// <summary>->poll: the current event mask (POLLIN, POLLOUT, POLLERR, POLLHUP...).</summary>
    /// <remarks>sock_no_poll() answers 0.</remarks>
    public virtual int Poll(BsdSocket sock) => 0;

    /// <summary>->ioctl; <paramref name="arg"/> is the int the request reads or writes.</summary>
    /// <remarks>sock_no_ioctl().</remarks>
    public virtual int Ioctl(BsdSocket sock, int cmd, ref int arg) => -Errno.EOPNOTSUPP;

    /// <summary>listen(2): makes the socket accept connections, with up to <paramref name="backlog"/> waiting. The base returns -EOPNOTSUPP.</summary>
    /// <remarks>sock_no_listen().</remarks>
    public virtual int Listen(BsdSocket sock, int backlog) => -Errno.EOPNOTSUPP;

    /// <summary>->shutdown(how) with how = SHUT_RD/SHUT_WR/SHUT_RDWR.</summary>
    /// <remarks>sock_no_shutdown().</remarks>
    public virtual int Shutdown(BsdSocket sock, int how) => -Errno.EOPNOTSUPP;

    /// <summary>SO_RCVLOWAT (already mapped: a negative value is INT_MAX): 0 or a negative errno.</summary>
    /// <remarks>->set_rcvlowat. A family without one gets sk_setsockopt()'s plain
    /// <c>sk_rcvlowat = val ? : 1</c>, which is this default; TCP overrides it (tcp_set_rcvlowat()).</remarks>
    public virtual int SetRcvlowat(Sock sk, int val)
    {
        sk.RcvLowat = val != 0 ? val : 1;
        return 0;
    }

    /// <summary>->setsockopt for levels other than SOL_SOCKET.</summary>
    /// <remarks>sock_no_setsockopt().</remarks>
    public virtual int Setsockopt(BsdSocket sock, int level, int optname, ReadOnlySpan<byte> optval) => -Errno.EOPNOTSUPP;

    /// <summary>->getsockopt for levels other than SOL_SOCKET.</summary>
    /// <remarks>sock_no_getsockopt().</remarks>
    public virtual int Getsockopt(BsdSocket sock, int level, int optname, Span<byte> optval, ref int optlen) => -Errno.EOPNOTSUPP;

    /// <summary>->sendmsg: msg.Flags holds the MSG_* flags (with MSG_DONTWAIT added for O_NONBLOCK files).</summary>
    /// <remarks>sock_no_sendmsg().</remarks>
    public virtual int Sendmsg(BsdSocket sock, ref MsgHdr msg, ReadOnlySpan<byte> data) => -Errno.EOPNOTSUPP;

    /// <summary>->recvmsg.</summary>
    /// <remarks>sock_no_recvmsg().</remarks>
    public virtual int Recvmsg(BsdSocket sock, ref MsgHdr msg, Span<byte> buf, int flags) => -Errno.EOPNOTSUPP;

    private sealed class NoProtoOps : ProtoOps { }
}
