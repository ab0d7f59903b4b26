using NetStack.Net;

namespace NetStack.Core;

/// <summary>The arguments and results of an accept (struct proto_accept_arg).</summary>
public struct ProtoAcceptArg
{
    /// <summary>File flags of the listening socket's file (O_NONBLOCK) and accept4's flags.</summary>
    public int Flags;
    /// <summary>The error when no sock is returned (negative errno).</summary>
    public int Err;
    /// <summary>The accept queue was empty after this accept (for io_uring in Linux; informational).</summary>
    public bool IsEmpty;
    /// <summary>accept from inside the stack (kernel_accept).</summary>
    public bool Kern;
}

/// <summary>
/// What a transport protocol provides to the socket layer (struct proto): tcp_prot, udp_prot,
/// ping_prot, raw_prot, or an experimenter's. Members default to the kernel's behaviour for a
/// missing function pointer. A table is a singleton (e.g. <c>UdpProt.Instance</c>).
/// <remarks>Mirrors include/net/sock.h: struct proto.</remarks>
/// </summary>
public abstract class Proto
{
    /// <summary>prot->name ("TCP", "UDP", "PING", "RAW").</summary>
    public abstract string Name { get; }

    /// <summary>
    /// Creates the protocol's sock object (the obj_size / slab analogue: TCP makes a TcpSock, UDP an
    /// InetSock...). Returns null when out of memory (sk_alloc fails with -ENOMEM).
    /// </summary>
    public abstract Sock? CreateSock(NetNamespace net);

    /// <summary>prot->max_header: headroom this protocol's packets need.</summary>
    public virtual int MaxHeader => SkBuffPool.MaxHeader;

    /// <summary>prot->no_autobind: sendmsg on an unbound socket does not bind it (raw).</summary>
    public virtual bool NoAutobind => false;

    /// <summary>prot->bind != NULL: the protocol binds by itself (raw); inet_bind then calls <see cref="Bind"/>.</summary>
    public virtual bool HasBind => false;

    /// <summary>prot->ioctl != NULL.</summary>
    public virtual bool HasIoctl => false;

    /// <remarks>prot->close: the last reference of the user is gone; timeout is the linger time (ns).</remarks>
    public abstract void Close(Sock sk, long timeout);

    /// <remarks>prot->pre_connect (BPF hook in Linux): 0 by default.</remarks>
    public virtual int PreConnect(Sock sk, in SockAddr addr) => 0;

    /// <remarks>prot->connect.</remarks>
    public virtual int Connect(Sock sk, in SockAddr addr) => -Errno.EOPNOTSUPP;

    /// <remarks>prot->disconnect (connect(AF_UNSPEC)).</remarks>
    public virtual int Disconnect(Sock sk, int flags) => -Errno.EOPNOTSUPP;

    /// <remarks>prot->accept: returns the new sock, or null with arg.Err set.</remarks>
    public virtual Sock? Accept(Sock sk, ref ProtoAcceptArg arg)
    {
        arg.Err = -Errno.EOPNOTSUPP;
        return null;
    }

    /// <remarks>prot->ioctl: SIOCINQ / SIOCOUTQ; -ENOIOCTLCMD (here -ENOTTY... see callers) when unknown.</remarks>
    public virtual int Ioctl(Sock sk, int cmd, out int karg)
    {
        karg = 0;
        return -Errno.ENOIOCTLCMD;
    }

    /// <remarks>prot->init: called at the end of inet_create.</remarks>
    public virtual int Init(Sock sk) => 0;

    /// <remarks>prot->destroy.</remarks>
    public virtual void Destroy(Sock sk) { }

    /// <remarks>prot->shutdown, after inet_shutdown has set sk_shutdown.</remarks>
    public virtual void Shutdown(Sock sk, int how) { }

    /// <remarks>prot->setsockopt: levels other than SOL_SOCKET.</remarks>
    public virtual int Setsockopt(Sock sk, int level, int optname, ReadOnlySpan<byte> optval) => -Errno.ENOPROTOOPT;

    /// <remarks>prot->getsockopt. optlen in: the caller's buffer size; out: the length written.</remarks>
    public virtual int Getsockopt(Sock sk, int level, int optname, Span<byte> optval, ref int optlen) => -Errno.ENOPROTOOPT;

    /// <remarks>prot->sendmsg: returns bytes sent or a negative errno.</remarks>
    public virtual int Sendmsg(Sock sk, ref MsgHdr msg, ReadOnlySpan<byte> data) => -Errno.EOPNOTSUPP;

    /// <remarks>prot->recvmsg: returns bytes received (or the datagram length with MSG_TRUNC) or a negative errno.</remarks>
    public virtual int Recvmsg(Sock sk, ref MsgHdr msg, Span<byte> buf, int flags) => -Errno.EOPNOTSUPP;

    /// <remarks>prot->bind (only when <see cref="HasBind"/>).</remarks>
    public virtual int Bind(Sock sk, in SockAddr addr) => -Errno.EOPNOTSUPP;

    /// <remarks>prot->backlog_rcv: process a packet that arrived while the socket was owned by the user.</remarks>
    public virtual int BacklogRcv(Sock sk, SkBuff skb)
    {
        skb.Free();
        return 0;
    }

    /// <remarks>prot->keepalive: SO_KEEPALIVE toggled (TCP arms or stops its keepalive timer).</remarks>
    public virtual void Keepalive(Sock sk, bool valbool) { }

    /// <remarks>prot->hash: put the sock in the protocol's lookup tables.</remarks>
    public virtual int Hash(Sock sk) => 0;

    /// <remarks>prot->unhash.</remarks>
    public virtual void Unhash(Sock sk) { }

    /// <remarks>prot->rehash: the bound address changed (connect on a wildcard-bound UDP socket).</remarks>
    public virtual void Rehash(Sock sk) { }

    /// <remarks>prot->get_port: bind to snum, or pick an ephemeral port for 0. 0 on success, else an error (Linux returns 1 or -EADDRINUSE; callers map).</remarks>
    public virtual int GetPort(Sock sk, ushort snum) => -Errno.EOPNOTSUPP;

    /// <remarks>prot->put_port.</remarks>
    public virtual void PutPort(Sock sk) { }

    /// <summary>Sockets currently allocated with this protocol (prot->sockets_allocated).</summary>
    public long SocketsAllocated;

    /// <summary>The protocol's <see cref="Name"/> ("TCP", "UDP").</summary>
    public override string ToString() => Name;
}
