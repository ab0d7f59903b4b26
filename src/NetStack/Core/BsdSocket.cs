namespace NetStack.Core;

/// <summary>The BSD socket state (sock->state). <remarks>Mirrors include/uapi/linux/net.h: socket_state.</remarks></summary>
public enum SocketState
{
    /// <summary>SS_FREE: not allocated.</summary>
    Free = 0,
    /// <summary>SS_UNCONNECTED: unconnected to any socket.</summary>
    Unconnected,
    /// <summary>SS_CONNECTING: in the process of connecting.</summary>
    Connecting,
    /// <summary>SS_CONNECTED: connected to a socket.</summary>
    Connected,
    /// <summary>SS_DISCONNECTING: in the process of disconnecting.</summary>
    Disconnecting,
}

/// <summary>
/// The general BSD socket (struct socket): what an fd points at. It holds the operations of its
/// family and type (<see cref="Ops"/>, a proto_ops table) and the network-layer sock (<see cref="Sk"/>).
/// The struct file that Linux keeps beside it is folded in as <see cref="FileFlags"/>. Named
/// BsdSocket, not Socket, so that it never shadows System.Net.Sockets.Socket in user code.
/// <remarks>Mirrors include/linux/net.h: struct socket.</remarks>
/// </summary>
public sealed class BsdSocket
{
    // sock->flags bits (include/linux/net.h).
    /// <summary>Bit numbers in <see cref="Flags"/> (include/linux/net.h: SOCK_NOSPACE, SOCK_PASSCRED, SOCK_PASSSEC, SOCK_CUSTOM_SOCKOPT).</summary>
    public const int SockNospace = 2, SockPassCred = 3, SockPassSec = 4, SockCustomSockopt = 6;

    /// <summary>A new socket of <paramref name="net"/> with no-op operations (<see cref="ProtoOps.NoOps"/>) and no sock yet.</summary>
    /// <remarks>Mirrors net/socket.c: sock_alloc(); the family's create() then sets <see cref="Ops"/> and <see cref="Sk"/>.</remarks>
    public BsdSocket(NetNamespace net)
    {
        Net = net;
        Ino = SockDiag.GetNextIno(net);
    }

    /// <summary>The socket inode's number (SOCK_INODE(sock)->i_ino, from get_next_ino()): what /proc/PID/fd shows as socket:[N] and `ss -e` as ino:N.</summary>
    public ulong Ino { get; private set; }

    /// <summary>
    /// How many times this object was taken from the sock_inode_cache: a holder that keeps the
    /// object across close (the managed NetSocket, to tell its own socket from a later one on the
    /// same descriptor) compares it with the value it saw, since the object may now be another
    /// socket's.
    /// </summary>
    internal uint Generation { get; private set; }

    /// <summary>A socket from <paramref name="net"/>'s sock_inode_cache, or a new one when it is empty.</summary>
    /// <remarks>Mirrors net/socket.c: sock_alloc() -> new_inode_pseudo() -> sock_alloc_inode() -> alloc_inode_sb(sock_inode_cachep).</remarks>
    internal static BsdSocket Alloc(NetNamespace net)
    {
        var sock = net.SockInodeCache.Alloc();
        if (sock is null) return new BsdSocket(net);
        sock.Ino = SockDiag.GetNextIno(net);
        return sock;
    }

    /// <summary>
    /// The last descriptor of a released socket closed: the object goes back to the
    /// sock_inode_cache as a new one is (but its namespace and a new generation). Only from close:
    /// a socket created for the stack's own use (sock_create_kern) is its creator's to keep.
    /// </summary>
    /// <remarks>Mirrors net/socket.c: sock_free_inode() -> kmem_cache_free(sock_inode_cachep, ei).</remarks>
    internal static void Free(BsdSocket sock)
    {
        if (sock.Sk is not null || sock.Ops != ProtoOps.NoOps || sock.FileRefs > 0) return; // still someone's: the collector's
        sock.Ino = 0;
        sock.State = SocketState.Free;
        sock.Type = 0;
        sock.Flags = 0;
        sock.Cred = null;
        sock.FileRefs = 1;
        sock.Owner = 0;
        sock.FileFlags = 0;
        sock.Generation++;
        sock.Net.SockInodeCache.Free(sock);
    }

    /// <summary>The stack the socket was created in.</summary>
    public NetNamespace Net { get; }
    /// <summary>sock->state.</summary>
    public SocketState State;
    /// <summary>sock->type (SOCK_STREAM, SOCK_DGRAM...), without SOCK_NONBLOCK/SOCK_CLOEXEC.</summary>
    public int Type;
    /// <summary>sock->flags (SOCK_NOSPACE...).</summary>
    public long Flags;
    /// <summary>sock->ops: the family's operations for this type (inet_stream_ops, inet_dgram_ops...).</summary>
    public ProtoOps Ops = ProtoOps.NoOps;
    /// <summary>sock->sk: the network-layer part; null after release.</summary>
    public Sock? Sk;
    /// <summary>
    /// The credentials of the file (file->f_cred): the caller that created the socket, whose
    /// capabilities later checks (CAP_NET_BIND_SERVICE in bind) consult.
    /// </summary>
    internal Cred? Cred;
    /// <summary>file->f_count: the descriptors naming this socket (F_DUPFD adds one; the last close releases the socket).</summary>
    internal int FileRefs = 1;
    /// <summary>file->f_owner (F_SETOWN): the process (or, negative, the process group) SIGIO would go to; the stack sends none.</summary>
    internal int Owner;
    /// <summary>sock->file->f_flags: O_NONBLOCK (the only flag the socket layer reads), set by SOCK_NONBLOCK or fcntl.</summary>
    public int FileFlags;

    /// <summary>The open file's O_NONBLOCK.</summary>
    public bool NonBlocking => (FileFlags & SocketConstants.O_NONBLOCK) != 0;

    /// <summary>A debugging description: type, state and the sock.</summary>
    public override string ToString() => $"socket(type {Type}, {State}, {Sk})";
}
