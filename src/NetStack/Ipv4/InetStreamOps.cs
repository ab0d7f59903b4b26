using NetStack.Core;
using NetStack.Net;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Ipv4;

/// <summary>
/// SOCK_STREAM operations (TCP). The generic members are the socket layer's; connect, listen,
/// accept and poll are the stream-specific ones (inet_stream_connect, inet_listen, inet_accept,
/// tcp_poll) that dispatch to sk.Prot.
/// <remarks>Mirrors net/ipv4/af_inet.c: const struct proto_ops inet_stream_ops.</remarks>
/// </summary>
public sealed class InetStreamOps : InetOps
{
    /// <summary>The single table (the kernel's inet_stream_ops).</summary>
    public static readonly InetStreamOps Instance = new();

    /// <inheritdoc/>
    /// <remarks>Mirrors net/ipv4/af_inet.c: inet_stream_connect().</remarks>
    public override int Connect(BsdSocket sock, in SockAddr addr, int flags) => InetStreamConnect(sock, addr, flags);
    /// <inheritdoc/>
    /// <remarks>Mirrors net/ipv4/af_inet.c: inet_listen().</remarks>
    public override int Listen(BsdSocket sock, int backlog) => InetListen(sock, backlog);
    /// <inheritdoc/>
    /// <remarks>Mirrors net/ipv4/af_inet.c: inet_accept().</remarks>
    public override int Accept(BsdSocket sock, BsdSocket newsock, ref ProtoAcceptArg arg) => InetAccept(sock, newsock, ref arg);
    /// <inheritdoc/>
    /// <remarks>tcp_poll.</remarks>
    public override int Poll(BsdSocket sock) => Tcp.TcpPoll(sock);
    /// <inheritdoc/>
    /// <remarks>inet_stream_ops.set_rcvlowat = tcp_set_rcvlowat().</remarks>
    public override int SetRcvlowat(Sock sk, int val) => Tcp.TcpSetRcvlowat((TcpSock)sk, val);

    /// <summary>
    /// Connects a stream socket: prot->connect starts the handshake, then waits (unless O_NONBLOCK)
    /// while the sock is in SYN_SENT / SYN_RECV.
    /// </summary>
    /// <remarks>Mirrors net/ipv4/af_inet.c: inet_stream_connect() -> __inet_stream_connect().</remarks>
    public static int InetStreamConnect(BsdSocket sock, in SockAddr addr, int flags) =>
        InetStreamConnectCore(sock, addr, hasAddr: true, flags, isSendmsg: false);

    /// <summary>
    /// connect() and the connect of a Fast Open send (<paramref name="isSendmsg"/>, the address
    /// optional): a connect deferred by TCP_FASTOPEN_CONNECT makes a later connect() EISCONN and
    /// the send EINPROGRESS.
    /// </summary>
    /// <remarks>Mirrors net/ipv4/af_inet.c: __inet_stream_connect().</remarks>
    internal static int InetStreamConnectCore(BsdSocket sock, in SockAddr addr, bool hasAddr, int flags, bool isSendmsg)
    {
        var sk = sock.Sk!;
        int err;
        if (hasAddr)
        {
            if (addr.Len < SaFamilySize) return -Errno.EINVAL;
            if (addr.Family == AF_UNSPEC)
            {
                err = sk.Prot.Disconnect(sk, flags);
                sock.State = err != 0 ? SocketState.Disconnecting : SocketState.Unconnected;
                return err;
            }
        }
        bool deferConnect = sk is TcpSock { DeferConnect: true };

        switch (sock.State)
        {
            default:
                return -Errno.EINVAL;
            case SocketState.Connected:
                return -Errno.EISCONN;
            case SocketState.Connecting:
                if (deferConnect) err = isSendmsg ? -Errno.EINPROGRESS : -Errno.EISCONN;
                else err = -Errno.EALREADY;
                // Fall out of switch with err, set for this state.
                break;
            case SocketState.Unconnected:
                if (sk.State != TcpState.Close) return -Errno.EISCONN;
                // Without an address (a Fast Open send on an unconnected socket): tcp_v4_connect() sees addr_len 0.
                err = hasAddr ? sk.Prot.Connect(sk, addr) : -Errno.EINVAL;
                if (err < 0) return err;
                sock.State = SocketState.Connecting;
                if (err == 0 && sk is TcpSock { DeferConnect: true }) return 0;
                // Just entered SS_CONNECTING state; the only difference is that return value
                // in non-blocking case is EINPROGRESS, rather than EALREADY.
                err = -Errno.EINPROGRESS;
                break;
        }

        long timeo = sk.SockSndTimeo((flags & O_NONBLOCK) != 0);
        if (TcpStateF.Is(sk.State, TcpStateF.SynSent | TcpStateF.SynRecv))
        {
            // Error code is set above.
            if (timeo == 0) return err;
            int w = SockWait.SkWaitEvent(sk, ref timeo,
                static s => !TcpStateF.Is(s.State, TcpStateF.SynSent | TcpStateF.SynRecv));
            if (w == -Errno.EAGAIN) return err;   // timed out: EINPROGRESS / EALREADY as the kernel
            if (w < 0) return w;                   // interrupted: sock_intr_errno()
        }

        // Connection was closed by RST, timeout, ICMP error or another process disconnected us.
        if (sk.State == TcpState.Close)
        {
            err = sk.SockError();
            if (err == 0) err = -Errno.ECONNABORTED;
            sock.State = SocketState.Unconnected;
            if (sk.Prot.Disconnect(sk, flags) != 0) sock.State = SocketState.Disconnecting;
            return err;
        }
        sock.State = SocketState.Connected;
        return 0;
    }

    /// <summary>Moves a socket into the listening state.</summary>
    /// <remarks>Mirrors net/ipv4/af_inet.c: inet_listen().</remarks>
    public static int InetListen(BsdSocket sock, int backlog)
    {
        var sk = sock.Sk!;
        if (sock.State != SocketState.Unconnected || sock.Type != SOCK_STREAM) return -Errno.EINVAL;
        return InetListenSk(sk, backlog);
    }

    /// <summary>
    /// The part of listen() below the socket checks. The socket layer can only check the state;
    /// starting to listen (inet_csk_listen_start) is TCP's, which replaces this body.
    /// </summary>
    /// <remarks>Mirrors net/ipv4/af_inet.c: __inet_listen_sk().</remarks>
    public static int InetListenSk(Sock sk, int backlog)
    {
        var oldState = sk.State;
        if (!TcpStateF.Is(oldState, TcpStateF.Close | TcpStateF.Listen)) return -Errno.EINVAL;
        sk.MaxAckBacklog = backlog;
        // Really, if the socket is already in listen state we can only allow the backlog to be adjusted.
        if (oldState != TcpState.Listen)
        {
            // Fast Open on every listener (tcp_fastopen 0x400 | 0x2) unless TCP_FASTOPEN set its own limit.
            int tcpFastopen = sk.Net.Ipv4.Sysctl.TcpFastopen;
            if (sk is TcpSock tp && (tcpFastopen & TcpFastopen.TfoServerWoSockopt1) != 0 &&
                (tcpFastopen & TcpFastopen.TfoServerEnable) != 0 && tp.AcceptQueue.FastopenqMaxQlen == 0)
            {
                Tcp.FastopenQueueTune(tp, backlog);
                TcpFastopen.TcpFastopenInitKeyOnce(sk.Net);
            }
            int err = InetConnectionSock.InetCskListenStart((InetConnectionSock)sk);
            if (err != 0) return err;
        }
        return 0;
    }

    /// <summary>Accepts a pending connection through prot->accept and grafts it onto <paramref name="newsock"/>.</summary>
    /// <remarks>Mirrors net/ipv4/af_inet.c: inet_accept() -> __inet_accept().</remarks>
    public static int InetAccept(BsdSocket sock, BsdSocket newsock, ref ProtoAcceptArg arg)
    {
        var sk1 = sock.Sk!;
        arg.Err = -Errno.EINVAL;
        var sk2 = sk1.Prot.Accept(sk1, ref arg);
        if (sk2 is null) return arg.Err;
        // sock_graft(): the new socket holds a reference on its sock, dropped by sock_release().
        sk2.Socket = newsock;
        newsock.Sk = sk2;
        sk2.SockHold();
        newsock.State = SocketState.Connected;
        return 0;
    }

    /// <summary>
    /// The poll mask of a stream socket. A generic stand-in until TCP provides tcp_poll: readable
    /// with queued data, an error or RCV_SHUTDOWN; writable once established.
    /// </summary>
    /// <remarks>Mirrors net/ipv4/tcp.c: tcp_poll() (TCP replaces this body).</remarks>
    public static int TcpPoll(BsdSocket sock)
    {
        var sk = sock.Sk;
        if (sk is null) return POLLNVAL;
        int mask = 0;
        if (sk.Err != 0) mask |= POLLERR;
        if (sk.Shutdown == SHUTDOWN_MASK || sk.State == TcpState.Close) mask |= POLLHUP;
        if ((sk.Shutdown & RCV_SHUTDOWN) != 0) mask |= POLLIN | POLLRDNORM | POLLRDHUP;
        if (!sk.ReceiveQueue.IsEmpty) mask |= POLLIN | POLLRDNORM;
        if (sk.State == TcpState.Established && (sk.Shutdown & SEND_SHUTDOWN) == 0) mask |= POLLOUT | POLLWRNORM;
        return mask;
    }
}
