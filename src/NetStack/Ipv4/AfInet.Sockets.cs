using NetStack.Core;
using NetStack.Net;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Ipv4;

/// <summary>The BSD-socket side of AF_INET: the inet_* functions the proto_ops tables point at.</summary>
public static partial class AfInet
{
    /// <summary>Binds an unbound socket to an ephemeral port.</summary>
    /// <remarks>Mirrors net/ipv4/af_inet.c: inet_autobind().</remarks>
    public static int InetAutobind(Sock sk)
    {
        var inet = (InetSock)sk;
        if (inet.InetNum == 0)
        {
            if (sk.Prot.GetPort(sk, 0) != 0) return -Errno.EAGAIN;
            inet.InetSport = inet.InetNum;
        }
        return 0;
    }

    /// <summary>Closes the socket's sock: prot->close with the linger time if SO_LINGER is on.</summary>
    /// <remarks>Mirrors net/ipv4/af_inet.c: inet_release().</remarks>
    public static int InetRelease(BsdSocket sock)
    {
        var sk = sock.Sk;
        if (sk is not null)
        {
            // If linger is set, we don't return until the close is complete. Otherwise we return
            // immediately. The actually closing is done the same either way.
            long timeout = sk.HasFlag(SockFlag.Linger) ? sk.LingerTime : 0;
            // Applications forget to leave groups before exiting.
            if (sk is InetSock inet) Igmp.IpMcDropSocket(inet);
            sk.Prot.Close(sk, timeout);
            sock.Sk = null;
        }
        return 0;
    }

    /// <summary>bind() for any inet socket: the protocol's own bind (raw), or the generic one.</summary>
    /// <remarks>Mirrors net/ipv4/af_inet.c: inet_bind() -> inet_bind_sk().</remarks>
    public static int InetBind(BsdSocket sock, in SockAddr addr)
    {
        var sk = sock.Sk!;
        // If the socket has its own bind function then use it. (RAW)
        if (sk.Prot.HasBind) return sk.Prot.Bind(sk, addr);
        if (addr.Len < SockaddrInSize) return -Errno.EINVAL;
        return InetBindInternal(sk, addr, sock.Cred);
    }

    /// <summary>
    /// The kind of a local address as the local routing table sees it (RTN_LOCAL for ours,
    /// RTN_BROADCAST for 0.0.0.0, 255.255.255.255 and our subnets' broadcast addresses,
    /// RTN_MULTICAST, else RTN_UNICAST).
    /// </summary>
    /// <remarks>Mirrors net/ipv4/fib_frontend.c: inet_addr_type_table() -> __inet_dev_addr_type().</remarks>
    public static RtnType InetAddrType(NetNamespace net, uint addr)
    {
        if (Ipv4Address.IsZeroNet(addr) || Ipv4Address.IsLimitedBroadcast(addr)) return RtnType.Broadcast;
        if (Ipv4Address.IsMulticast(addr)) return RtnType.Multicast;
        if (Ipv4Address.IsLoopback(addr) || net.IsLocalAddress(addr)) return RtnType.Local;
        foreach (var d in net.Devices)
            if (!d.NoArp && d.IsIpv4SubnetBroadcast(addr)) return RtnType.Broadcast;
        return RtnType.Unicast;
    }

    /// <summary>The bind checks in Linux's order: family, address, privileged port, state, port.</summary>
    /// <remarks>Mirrors net/ipv4/af_inet.c: __inet_bind().</remarks>
    internal static int InetBindInternal(Sock sk, in SockAddr addr, Cred? cred)
    {
        var inet = (InetSock)sk;
        var net = sk.Net;
        if (addr.Family != AF_INET)
        {
            // Compatibility games: accept AF_UNSPEC (mapped to AF_INET) only if s_addr is INADDR_ANY.
            if (addr.Family != AF_UNSPEC || addr.Addr != Ipv4Address.Any) return -Errno.EAFNOSUPPORT;
        }
        var chkAddrRet = InetAddrType(net, addr.Addr);

        // Not specified by any standard per-se, however it breaks too many applications when removed.
        if (!InetAddrValidOrNonlocal(net, inet, addr.Addr, chkAddrRet)) return -Errno.EADDRNOTAVAIL;

        ushort snum = addr.Port;
        if (snum != 0 && snum < net.Ipv4.Sysctl.IpUnprivilegedPortStart && cred is { CapNetBindService: false })
            return -Errno.EACCES;

        // Check these errors (active socket, double bind).
        if (sk.State != TcpState.Close || inet.InetNum != 0) return -Errno.EINVAL;

        inet.InetRcvSaddr = inet.InetSaddr = addr.Addr;
        if (chkAddrRet == RtnType.Multicast || chkAddrRet == RtnType.Broadcast)
            inet.InetSaddr = 0; // Use device

        // Make sure we are allowed to bind here.
        if (snum != 0 || !inet.BindAddressNoPort)
        {
            int err = sk.Prot.GetPort(sk, snum);
            if (err != 0)
            {
                inet.InetSaddr = inet.InetRcvSaddr = 0;
                return err < 0 ? err : -Errno.EADDRINUSE;
            }
        }
        if (inet.InetRcvSaddr != 0) sk.UserLocks |= Sock.SockBindaddrLock;
        if (snum != 0) sk.UserLocks |= Sock.SockBindportLock;
        inet.InetSport = inet.InetNum;
        inet.InetDaddr = 0;
        inet.InetDport = 0;
        inet.DstReset();
        return 0;
    }

    /// <summary>Whether the sock may use <paramref name="addr"/> (of type <paramref name="addrType"/>) as its local address: the wildcard, a local, multicast or broadcast address, or any address with IP_FREEBIND / IP_TRANSPARENT / net.ipv4.ip_nonlocal_bind.</summary>
    /// <remarks>Mirrors include/net/inet_sock.h: inet_addr_valid_or_nonlocal() / inet_can_nonlocal_bind().</remarks>
    public static bool InetAddrValidOrNonlocal(NetNamespace net, InetSock inet, uint addr, RtnType addrType) =>
        net.Ipv4.Sysctl.IpNonlocalBind || inet.FreeBind || inet.Transparent ||
        addr == Ipv4Address.Any || addrType is RtnType.Local or RtnType.Multicast or RtnType.Broadcast;

    /// <summary>connect() for datagram sockets: AF_UNSPEC dissolves the association; otherwise autobind and prot->connect.</summary>
    /// <remarks>Mirrors net/ipv4/af_inet.c: inet_dgram_connect().</remarks>
    public static int InetDgramConnect(BsdSocket sock, in SockAddr addr, int flags)
    {
        var sk = sock.Sk!;
        if (addr.Len < SaFamilySize) return -Errno.EINVAL;
        var prot = sk.Prot;
        if (addr.Family == AF_UNSPEC) return prot.Disconnect(sk, flags);
        // (pre_connect runs only with a BPF cgroup program attached.)
        if (((InetSock)sk).InetNum == 0 && InetAutobind(sk) != 0) return -Errno.EAGAIN;
        return prot.Connect(sk, addr);
    }

    /// <summary>getsockname (peer = 0) and getpeername (peer = 1, or 2 from accept).</summary>
    /// <remarks>Mirrors net/ipv4/af_inet.c: inet_getname().</remarks>
    public static int InetGetname(BsdSocket sock, out SockAddr sin, int peer)
    {
        var sk = sock.Sk!;
        var inet = (InetSock)sk;
        sin = default;
        sin.Family = AF_INET;
        if (peer != 0)
        {
            if (inet.InetDport == 0 ||
                (TcpStateF.Is(sk.State, TcpStateF.Close | TcpStateF.SynSent) && peer == 1))
                return -Errno.ENOTCONN;
            sin.Port = inet.InetDport;
            sin.Addr = inet.InetDaddr;
        }
        else
        {
            uint addr = inet.InetRcvSaddr;
            if (addr == 0) addr = inet.InetSaddr;
            sin.Port = inet.InetSport;
            sin.Addr = addr;
        }
        sin.Len = SockaddrInSize;
        return SockaddrInSize;
    }

    /// <summary>Autobinds before a send unless the protocol says not to.</summary>
    /// <remarks>Mirrors net/ipv4/af_inet.c: inet_send_prepare().</remarks>
    public static int InetSendPrepare(Sock sk)
    {
        // We may need to bind the socket.
        if (((InetSock)sk).InetNum == 0 && !sk.Prot.NoAutobind && InetAutobind(sk) != 0) return -Errno.EAGAIN;
        return 0;
    }

    /// <summary>The AF_INET sendmsg: binds an unbound socket to an ephemeral port (unless the protocol says not to), then calls the protocol's sendmsg; -EAGAIN when no port is free.</summary>
    /// <remarks>Mirrors net/ipv4/af_inet.c: inet_sendmsg().</remarks>
    public static int InetSendmsg(BsdSocket sock, ref MsgHdr msg, ReadOnlySpan<byte> data)
    {
        var sk = sock.Sk!;
        if (InetSendPrepare(sk) != 0) return -Errno.EAGAIN;
        return sk.Prot.Sendmsg(sk, ref msg, data);
    }

    /// <summary>The AF_INET recvmsg: calls the protocol's recvmsg.</summary>
    /// <remarks>Mirrors net/ipv4/af_inet.c: inet_recvmsg().</remarks>
    public static int InetRecvmsg(BsdSocket sock, ref MsgHdr msg, Span<byte> buf, int flags)
    {
        var sk = sock.Sk!;
        return sk.Prot.Recvmsg(sk, ref msg, buf, flags);
    }

    /// <summary>shutdown(): sets sk_shutdown (ENOTCONN on an unconnected socket, after setting it anyway).</summary>
    /// <remarks>Mirrors net/ipv4/af_inet.c: inet_shutdown().</remarks>
    public static int InetShutdown(BsdSocket sock, int how)
    {
        var sk = sock.Sk!;
        int err = 0;
        // This should really check to make sure the socket is a TCP socket. (WHY AC...)
        how++; // maps 0->1 has the advantage of making bit 1 rcvs and 1->2 bit 2 snds. 2->3
        if ((how & ~SHUTDOWN_MASK) != 0 || how == 0) return -Errno.EINVAL; // MAXINT->0

        if (sock.State == SocketState.Connecting)
        {
            if (TcpStateF.Is(sk.State, TcpStateF.SynSent | TcpStateF.SynRecv | TcpStateF.Close))
                sock.State = SocketState.Disconnecting;
            else
                sock.State = SocketState.Connected;
        }

        switch (sk.State)
        {
            case TcpState.Listen:
                if ((how & RCV_SHUTDOWN) == 0) break;
                goto case TcpState.SynSent;
            case TcpState.SynSent:
                err = sk.Prot.Disconnect(sk, O_NONBLOCK);
                sock.State = err != 0 ? SocketState.Disconnecting : SocketState.Unconnected;
                break;
            case TcpState.Close:
                err = -Errno.ENOTCONN;
                // Hack to wake up other listeners, who can poll for EPOLLHUP, even on eg.
                // unconnected UDP sockets -- RR
                goto default;
            default:
                sk.Shutdown |= how;
                sk.Prot.Shutdown(sk, how);
                break;
        }

        // Wake up anyone sleeping in poll.
        sk.StateChange();
        return err;
    }

    /// <summary>ioctl on an inet socket: the protocol's (SIOCINQ/SIOCOUTQ), else -ENOIOCTLCMD.</summary>
    /// <remarks>Mirrors net/ipv4/af_inet.c: inet_ioctl() -> sk_ioctl().</remarks>
    public static int InetIoctl(BsdSocket sock, int cmd, ref int arg)
    {
        var sk = sock.Sk!;
        if (!sk.Prot.HasIoctl) return -Errno.ENOIOCTLCMD;
        int err = sk.Prot.Ioctl(sk, cmd, out int karg);
        if (err == 0) arg = karg;
        return err;
    }

    /// <summary>setsockopt of a level other than SOL_SOCKET, passed to the protocol (sk_prot->setsockopt).</summary>
    /// <remarks>Mirrors net/core/sock.c: sock_common_setsockopt().</remarks>
    public static int SockCommonSetsockopt(BsdSocket sock, int level, int optname, ReadOnlySpan<byte> optval)
    {
        var sk = sock.Sk!;
        return sk.Prot.Setsockopt(sk, level, optname, optval);
    }

    /// <summary>getsockopt of a level other than SOL_SOCKET, passed to the protocol (sk_prot->getsockopt).</summary>
    /// <remarks>Mirrors net/core/sock.c: sock_common_getsockopt().</remarks>
    public static int SockCommonGetsockopt(BsdSocket sock, int level, int optname, Span<byte> optval, ref int optlen)
    {
        var sk = sock.Sk!;
        return sk.Prot.Getsockopt(sk, level, optname, optval, ref optlen);
    }
}
