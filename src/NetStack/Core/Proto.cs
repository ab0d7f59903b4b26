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

    /// <summary>
    /// The sock's last reference went (<see cref="Sock.SockPut"/>): give it back to the protocol's
    /// slab cache. The default leaves it to the collector; TCP keeps its socks in the "TCP" and
    /// "TCPv6" caches.
    /// </summary>
    /// <remarks>Mirrors net/core/sock.c: sk_prot_free() -> kmem_cache_free(prot->slab, sk).</remarks>
    internal virtual void SkProtFree(Sock sk) { }

    /// <summary>prot->max_header: headroom this protocol's packets need.</summary>
    public virtual int MaxHeader => SkBuffPool.MaxHeader;

    /// <summary>prot->no_autobind: sendmsg on an unbound socket does not bind it (TCP, raw).</summary>
    public virtual bool NoAutobind => false;

    /// <summary>prot->bind != NULL: the protocol binds by itself (raw); inet_bind then calls <see cref="Bind"/>.</summary>
    public virtual bool HasBind => false;

    /// <summary>prot->ioctl != NULL.</summary>
    public virtual bool HasIoctl => false;

    /// <summary>Closes the sock when the user's last reference is gone, lingering up to <paramref name="timeout"/> ns for unsent data.</summary>
    /// <remarks>prot->close: the last reference of the user is gone; timeout is the linger time (ns).</remarks>
    public abstract void Close(Sock sk, long timeout);

    /// <summary>A check before <see cref="Connect"/>; returns 0 to go on, or a negative errno.</summary>
    /// <remarks>prot->pre_connect (BPF hook in Linux): 0 by default.</remarks>
    public virtual int PreConnect(Sock sk, in SockAddr addr) => 0;

    /// <summary>Connects the sock to <paramref name="addr"/> (TCP starts the handshake); 0 or a negative errno. The base returns -EOPNOTSUPP.</summary>
    /// <remarks>prot->connect.</remarks>
    public virtual int Connect(Sock sk, in SockAddr addr) => -Errno.EOPNOTSUPP;

    /// <summary>Dissolves the association (connect() with AF_UNSPEC, or an abort); 0 or a negative errno. The base returns -EOPNOTSUPP.</summary>
    /// <remarks>prot->disconnect (connect(AF_UNSPEC)).</remarks>
    public virtual int Disconnect(Sock sk, int flags) => -Errno.EOPNOTSUPP;

    /// <summary>Takes the next established connection off a listener. The base fails with -EOPNOTSUPP.</summary>
    /// <remarks>prot->accept: returns the new sock, or null with arg.Err set.</remarks>
    public virtual Sock? Accept(Sock sk, ref ProtoAcceptArg arg)
    {
        arg.Err = -Errno.EOPNOTSUPP;
        return null;
    }

    /// <summary>A protocol ioctl (SIOCINQ, SIOCOUTQ...): 0 with the value in <paramref name="karg"/>, or a negative errno. The base returns -ENOIOCTLCMD.</summary>
    /// <remarks>prot->ioctl: SIOCINQ / SIOCOUTQ; -ENOIOCTLCMD (here -ENOTTY... see callers) when unknown.</remarks>
    public virtual int Ioctl(Sock sk, int cmd, out int karg)
    {
        karg = 0;
        return -Errno.ENOIOCTLCMD;
    }

    /// <summary>Initializes a newly created sock; 0 or a negative errno.</summary>
    /// <remarks>prot->init: called at the end of inet_create.</remarks>
    public virtual int Init(Sock sk) => 0;

    /// <summary>Releases the protocol's state of a sock being freed.</summary>
    /// <remarks>prot->destroy.</remarks>
    public virtual void Destroy(Sock sk) { }

    /// <summary>Acts on shutdown(2) (TCP sends a FIN for SHUT_WR); <paramref name="how"/> is SHUT_RD, SHUT_WR or SHUT_RDWR.</summary>
    /// <remarks>prot->shutdown, after inet_shutdown has set sk_shutdown.</remarks>
    public virtual void Shutdown(Sock sk, int how) { }

    /// <summary>Sets an option of a level other than SOL_SOCKET (SOL_IP, SOL_TCP...); 0 or a negative errno (-ENOPROTOOPT when unknown).</summary>
    /// <remarks>prot->setsockopt: levels other than SOL_SOCKET.</remarks>
    public virtual int Setsockopt(Sock sk, int level, int optname, ReadOnlySpan<byte> optval) => -Errno.ENOPROTOOPT;

    /// <summary>Reads an option of a level other than SOL_SOCKET into <paramref name="optval"/>; 0 or a negative errno (-ENOPROTOOPT when unknown).</summary>
    /// <remarks>prot->getsockopt. optlen in: the caller's buffer size; out: the length written.</remarks>
    public virtual int Getsockopt(Sock sk, int level, int optname, Span<byte> optval, ref int optlen) => -Errno.ENOPROTOOPT;

    /// <summary>Sends <paramref name="data"/> (to msg's address, if any).</summary>
    /// <remarks>prot->sendmsg: returns bytes sent or a negative errno.</remarks>
    public virtual int Sendmsg(Sock sk, ref MsgHdr msg, ReadOnlySpan<byte> data) => -Errno.EOPNOTSUPP;

    /// <summary>Receives into <paramref name="buf"/>, filling msg's address and flags; <paramref name="flags"/> are MSG_*.</summary>
    /// <remarks>prot->recvmsg: returns bytes received (or the datagram length with MSG_TRUNC) or a negative errno.</remarks>
    public virtual int Recvmsg(Sock sk, ref MsgHdr msg, Span<byte> buf, int flags) => -Errno.EOPNOTSUPP;

    /// <summary>Binds by the protocol's own rules (raw sockets); 0 or a negative errno.</summary>
    /// <remarks>prot->bind (only when <see cref="HasBind"/>).</remarks>
    public virtual int Bind(Sock sk, in SockAddr addr) => -Errno.EOPNOTSUPP;

    /// <summary>Processes a packet queued on the backlog; takes ownership of <paramref name="skb"/>. The base frees it.</summary>
    /// <remarks>prot->backlog_rcv: process a packet that arrived while the socket was owned by the user.</remarks>
    public virtual int BacklogRcv(Sock sk, SkBuff skb)
    {
        skb.Free();
        return 0;
    }

    /// <summary>Turns keepalive on or off for the sock.</summary>
    /// <remarks>prot->keepalive: SO_KEEPALIVE toggled (TCP arms or stops its keepalive timer).</remarks>
    public virtual void Keepalive(Sock sk, bool valbool) { }

    /// <summary>Work the protocol deferred while the socket was busy (a receive batch here), done when it ends.</summary>
    /// <remarks>Mirrors struct proto: release_cb, called from release_sock().</remarks>
    internal virtual void ReleaseCb(Sock sk) { }

    /// <summary>Adds the sock to the protocol's lookup tables so that received packets find it; 0 or a negative errno.</summary>
    /// <remarks>prot->hash: put the sock in the protocol's lookup tables.</remarks>
    public virtual int Hash(Sock sk) => 0;

    /// <summary>Removes the sock from the protocol's lookup tables.</summary>
    /// <remarks>prot->unhash.</remarks>
    public virtual void Unhash(Sock sk) { }

    /// <summary>Moves the sock in the lookup tables after its addresses changed.</summary>
    /// <remarks>prot->rehash: the bound address changed (connect on a wildcard-bound UDP socket).</remarks>
    public virtual void Rehash(Sock sk) { }

    /// <summary>Binds the sock to local port <paramref name="snum"/>, or to a free ephemeral port when it is 0.</summary>
    /// <remarks>prot->get_port: bind to snum, or pick an ephemeral port for 0. 0 on success, else an error (Linux returns 1 or -EADDRINUSE; callers map).</remarks>
    public virtual int GetPort(Sock sk, ushort snum) => -Errno.EOPNOTSUPP;

    /// <summary>Releases the sock's local port (the reverse of <see cref="GetPort"/>).</summary>
    /// <remarks>prot->put_port.</remarks>
    public virtual void PutPort(Sock sk) { }

    /// <summary>
    /// Aborts the sock with error <paramref name="err"/> (positive errno): the owner's next call
    /// reports it, and the sock is done. The stack calls it with ECONNABORTED when a fault is
    /// contained on this sock (Core/Panic.cs). TCP overrides it with tcp_abort() (RST, CLOSE). The
    /// base is udp_abort()'s: sk_err set and reported, then the sock is disconnected; here also
    /// unhashed and shut down both ways whatever its binding, so that no more input reaches it and
    /// reads end (EOF after the error): a protocol without its own abort is not trusted to be usable.
    /// Returns 0.
    /// </summary>
    /// <remarks>prot->diag_destroy (SOCK_DESTROY, `ss -K`); the base mirrors net/ipv4/udp.c: udp_abort().</remarks>
    public virtual int DiagDestroy(Sock sk, int err)
    {
        ArgumentNullException.ThrowIfNull(sk);
        if (sk.HasFlag(SockFlag.Dead)) return 0; // close() came first: the sock is on its way out
        sk.Err = err;
        sk.Shutdown = Uapi.SocketConstants.SHUTDOWN_MASK;
        sk.State = TcpState.Close;
        Unhash(sk);
        sk.ErrorReport();
        return 0;
    }

    /// <summary>Sockets currently allocated with this protocol (prot->sockets_allocated).</summary>
    public long SocketsAllocated;

    /// <summary>The protocol's <see cref="Name"/> ("TCP", "UDP").</summary>
    public override string ToString() => Name;
}
