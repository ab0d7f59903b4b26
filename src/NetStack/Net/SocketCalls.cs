using NetStack.Core;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Net;

/// <summary>
/// The BSD socket calls: what a C program reaches through socket(2), bind(2)... Each takes the
/// caller (<see cref="FdTable"/>: descriptors + capabilities) first, takes the stack lock for the
/// call, and returns a descriptor, a count, 0, or a negative Linux errno. Blocking calls sleep
/// inside the protocol with the lock released.
/// <remarks>Mirrors net/socket.c.</remarks>
/// </summary>
public static partial class SocketCalls
{
    /// <summary>
    /// The socket layer's initcall: registers its per-namespace state (net_families[] and the
    /// default caller's descriptor table). Idempotent: the IPv4 layer's initcall calls it first, as
    /// sock_init (core_initcall) runs before inet_init (fs_initcall), whatever order the runtime
    /// runs the module initializers in.
    /// </summary>
    /// <remarks>Mirrors net/socket.c: core_initcall(sock_init).</remarks>
#pragma warning disable CA2255 // The initcall of a layer (see AfInet.InetInit).
    [System.Runtime.CompilerServices.ModuleInitializer]
#pragma warning restore CA2255
    internal static void SockInit()
    {
        lock (SockNetOps.Instance)
        {
            if (SockNetOps.Instance.Id < 0) NetNamespace.RegisterPernetSubsys(SockNetOps.Instance);
        }
    }

    /// <summary>One entry of poll()'s array (struct pollfd).</summary>
    public struct PollFd
    {
        /// <summary>fd: the descriptor to watch.</summary>
        public int Fd;
        /// <summary>events: the POLL* events asked for.</summary>
        public short Events;
        /// <summary>revents: the events that occurred, filled by poll().</summary>
        public short Revents;

        /// <summary>An entry watching <paramref name="fd"/> for <paramref name="events"/> (POLLIN, POLLOUT...).</summary>
        public PollFd(int fd, int events)
        {
            Fd = fd;
            Events = (short)events;
            Revents = 0;
        }
    }

    // ---------------------------------------------------------------- families

    /// <summary>Adds a protocol family to net_families[]. -ENOBUFS out of range, -EEXIST when taken.</summary>
    /// <remarks>Mirrors net/socket.c: sock_register().</remarks>
    public static int SockRegister(NetNamespace net, NetProtoFamily ops)
    {
        if (ops.Family < 0 || ops.Family >= NPROTO) return -Errno.ENOBUFS;
        lock (net.SyncRoot)
        {
            if (net.NetFamilies[ops.Family] is not null) return -Errno.EEXIST;
            net.NetFamilies[ops.Family] = ops;
            return 0;
        }
    }

    /// <summary>Removes a protocol family. Existing sockets keep working.</summary>
    /// <remarks>Mirrors net/socket.c: sock_unregister().</remarks>
    public static void SockUnregister(NetNamespace net, int family)
    {
        if (family < 0 || family >= NPROTO) return;
        lock (net.SyncRoot) net.NetFamilies[family] = null;
    }

    // ---------------------------------------------------------------- creation

    /// <summary>socket(2): returns a descriptor or a negative errno.</summary>
    /// <remarks>Mirrors net/socket.c: __sys_socket().</remarks>
    public static int Socket(FdTable files, int family, int type, int protocol)
    {
        using (new SyscallLock(files.Net))
        {
            BsdSocket? sock = null;
            try
            {
                int err = SysSocketCreate(files, family, type, protocol, out sock);
                if (err < 0) return err;
                int flags = type & ~SOCK_TYPE_MASK;
                // SOCK_NONBLOCK == O_NONBLOCK on x86-64, so no translation is needed.
                return SockMapFd(files, sock!, flags & (O_CLOEXEC | O_NONBLOCK));
            }
            catch (Exception e) when (Oops.Contain(files.Net))
            {
                return SyscallOops(files.Net, sock, e, "__sys_socket");
            }
        }
    }

    /// <summary>The flags check of socket(2), then sock_create().</summary>
    /// <remarks>Mirrors net/socket.c: __sys_socket_create().</remarks>
    internal static int SysSocketCreate(FdTable files, int family, int type, int protocol, out BsdSocket? sock)
    {
        sock = null;
        if (((type & ~SOCK_TYPE_MASK) & ~(SOCK_CLOEXEC | SOCK_NONBLOCK)) != 0) return -Errno.EINVAL;
        type &= SOCK_TYPE_MASK;
        return SockCreate(files, family, type, protocol, out sock);
    }

    /// <summary>Creates a socket in the caller's namespace on behalf of a user (kern = 0).</summary>
    /// <remarks>Mirrors net/socket.c: sock_create().</remarks>
    public static int SockCreate(FdTable files, int family, int type, int protocol, out BsdSocket? sock) =>
        SockCreateInternal(files.Net, family, type, protocol, out sock, kern: false, files);

    /// <summary>Creates a socket for the stack's own use: no capability checks (kern = 1), no descriptor.</summary>
    /// <remarks>Mirrors net/socket.c: sock_create_kern().</remarks>
    public static int SockCreateKern(NetNamespace net, int family, int type, int protocol, out BsdSocket? sock)
    {
        lock (net.SyncRoot) return SockCreateInternal(net, family, type, protocol, out sock, kern: true, net.Files);
    }

    /// <summary>
    /// The heart of socket creation: range checks, the PF_INET/SOCK_PACKET compatibility rewrite,
    /// sock_alloc, and the family's create through net_families[].
    /// </summary>
    /// <remarks>Mirrors net/socket.c: __sock_create().</remarks>
    public static int SockCreateInternal(NetNamespace net, int family, int type, int protocol, out BsdSocket? res, bool kern, FdTable caller)
    {
        res = null;
        // Check protocol is in range.
        if (family < 0 || family >= NPROTO) return -Errno.EAFNOSUPPORT;
        if (type < 0 || type >= SOCK_MAX) return -Errno.EINVAL;

        // Compatibility: this uglymoron is moved from INET layer to here to avoid deadlock in module load.
        if (family == PF_INET && type == SOCK_PACKET) family = PF_PACKET;

        // Allocate the socket and allow the family to set things up.
        var sock = SockAlloc(net);
        sock.Type = type;
        sock.Cred = caller;

        var pf = net.NetFamilies[family];
        if (pf is null) return -Errno.EAFNOSUPPORT; // sock_release(sock): nothing holds it

        int err = pf.Create(net, sock, protocol, kern, caller);
        if (err < 0)
        {
            // ->create should release the allocated sock->sk object on error.
            sock.Sk = null;
            sock.Ops = ProtoOps.NoOps;
            return err;
        }
        res = sock;
        return 0;
    }

    /// <summary>Allocates a BSD socket (the inode + socket pair of sockfs).</summary>
    /// <remarks>Mirrors net/socket.c: sock_alloc().</remarks>
    public static BsdSocket SockAlloc(NetNamespace net) => BsdSocket.Alloc(net);

    /// <summary>Gives a socket a descriptor with O_NONBLOCK / O_CLOEXEC; releases it on failure.</summary>
    /// <remarks>Mirrors net/socket.c: sock_map_fd() -> sock_alloc_file().</remarks>
    public static int SockMapFd(FdTable files, BsdSocket sock, int flags)
    {
        sock.FileFlags = O_RDWR | (flags & O_NONBLOCK);
        int fd = files.Install(sock, (flags & O_CLOEXEC) != 0);
        if (fd < 0) SockRelease(sock);
        return fd;
    }

    /// <summary>Releases a socket: the protocol's release, then the socket is dead.</summary>
    /// <remarks>Mirrors net/socket.c: sock_release() / __sock_release().</remarks>
    public static void SockRelease(BsdSocket sock)
    {
        var ops = sock.Ops;
        if (ops != ProtoOps.NoOps)
        {
            var sk = sock.Sk;
            ops.Release(sock);
            sock.Sk = null;
            sock.Ops = ProtoOps.NoOps;
            // The socket's reference (sock_init_data() / sock_graft()): the sock lives on while
            // something else holds it (the connection closing, a timer, a waiter), else it goes
            // back to its cache now.
            sk?.SockPut();
        }
        sock.State = SocketState.Free;
    }

    // ---------------------------------------------------------------- calls on a descriptor

    /// <summary>Checks a user address the way move_addr_to_kernel() does.</summary>
    /// <remarks>Mirrors net/socket.c: move_addr_to_kernel(): length outside 0..sizeof(sockaddr_storage) is -EINVAL.</remarks>
    private static int MoveAddrToKernel(in SockAddr addr) =>
        addr.Len < 0 || addr.Len > SockaddrStorageSize ? -Errno.EINVAL : 0;

    /// <summary>bind(2).</summary>
    /// <remarks>Mirrors net/socket.c: __sys_bind().</remarks>
    public static int Bind(FdTable files, int fd, in SockAddr addr)
    {
        using (new SyscallLock(files.Net))
        {
            var sock = files.Lookup(fd);
            if (sock is null) return -Errno.EBADF;
            int err = MoveAddrToKernel(addr);
            if (err < 0) return err;
            try
            {
                return sock.Ops.Bind(sock, addr);
            }
            catch (Exception e) when (Oops.Contain(files.Net))
            {
                return SyscallOops(files.Net, sock, e, "__sys_bind");
            }
        }
    }

    /// <summary>listen(2): the backlog is capped at net.core.somaxconn.</summary>
    /// <remarks>Mirrors net/socket.c: __sys_listen().</remarks>
    public static int Listen(FdTable files, int fd, int backlog)
    {
        using (new SyscallLock(files.Net))
        {
            var sock = files.Lookup(fd);
            if (sock is null) return -Errno.EBADF;
            try
            {
                int somaxconn = files.Net.SysctlSomaxconn;
                if ((uint)backlog > (uint)somaxconn) backlog = somaxconn;
                return sock.Ops.Listen(sock, backlog);
            }
            catch (Exception e) when (Oops.Contain(files.Net))
            {
                return SyscallOops(files.Net, sock, e, "__sys_listen");
            }
        }
    }

    /// <summary>accept4(2): a new descriptor for the next connection, and the peer's address.</summary>
    /// <remarks>Mirrors net/socket.c: __sys_accept4() -> do_accept().</remarks>
    public static int Accept4(FdTable files, int fd, out SockAddr peer, int flags, bool forceNonblock = false)
    {
        peer = default;
        using (new SyscallLock(files.Net))
        {
            // __sys_accept4(): fdget first, then __sys_accept4_file(): the flags, then a free
            // descriptor (get_unused_fd_flags) before anything is dequeued, so EMFILE leaves the
            // connection waiting in the accept queue.
            var sock = files.Lookup(fd);
            if (sock is null) return -Errno.EBADF;
            if ((flags & ~(SOCK_CLOEXEC | SOCK_NONBLOCK)) != 0) return -Errno.EINVAL;
            if (!files.HasFreeFd) return -Errno.EMFILE;
            try
            {
                var newsock = SockAlloc(files.Net);
                newsock.Type = sock.Type;
                newsock.Cred = files;
                newsock.Ops = sock.Ops;
                var arg = new ProtoAcceptArg { Flags = sock.FileFlags | (forceNonblock ? O_NONBLOCK : 0), Kern = false };
                int err = sock.Ops.Accept(sock, newsock, ref arg);
                if (err < 0)
                {
                    newsock.Ops = ProtoOps.NoOps;
                    return err;
                }
                if (newsock.Ops.Getname(newsock, out peer, 2) < 0)
                {
                    SockRelease(newsock);
                    return -Errno.ECONNABORTED;
                }
                // File flags are not inherited via accept() unlike another OSes.
                return SockMapFd(files, newsock, flags & (O_CLOEXEC | O_NONBLOCK));
            }
            catch (Exception e) when (Oops.Contain(files.Net))
            {
                return SyscallOops(files.Net, sock, e, "__sys_accept4");
            }
        }
    }

    /// <summary>accept(2).</summary>
    public static int Accept(FdTable files, int fd, out SockAddr peer) => Accept4(files, fd, out peer, 0);

    /// <summary>connect(2).</summary>
    /// <remarks>Mirrors net/socket.c: __sys_connect() -> __sys_connect_file().</remarks>
    /// <param name="forceNonblock">Connect as if O_NONBLOCK were set (the managed API's async connect).</param>
    /// <param name="files">The caller: its descriptor table and capabilities.</param>
    /// <param name="fd">The socket's descriptor.</param>
    /// <param name="addr">The peer address.</param>
    /// <returns>0, or a negative errno (-EINPROGRESS when non-blocking and the handshake has started).</returns>
    public static int Connect(FdTable files, int fd, in SockAddr addr, bool forceNonblock = false)
    {
        using (new SyscallLock(files.Net))
        {
            var sock = files.Lookup(fd);
            if (sock is null) return -Errno.EBADF;
            int err = MoveAddrToKernel(addr);
            if (err < 0) return err;
            try
            {
                return sock.Ops.Connect(sock, addr, sock.FileFlags | (forceNonblock ? O_NONBLOCK : 0));
            }
            catch (Exception e) when (Oops.Contain(files.Net))
            {
                return SyscallOops(files.Net, sock, e, "__sys_connect");
            }
        }
    }

    /// <summary>getsockname(2).</summary>
    /// <remarks>Mirrors net/socket.c: __sys_getsockname().</remarks>
    public static int Getsockname(FdTable files, int fd, out SockAddr addr)
    {
        addr = default;
        using (new SyscallLock(files.Net))
        {
            var sock = files.Lookup(fd);
            if (sock is null) return -Errno.EBADF;
            try
            {
                int len = sock.Ops.Getname(sock, out addr, 0);
                if (len < 0) return len;
                addr.Len = len;
                return 0;
            }
            catch (Exception e) when (Oops.Contain(files.Net))
            {
                return SyscallOops(files.Net, sock, e, "__sys_getsockname");
            }
        }
    }

    /// <summary>getpeername(2).</summary>
    /// <remarks>Mirrors net/socket.c: __sys_getpeername().</remarks>
    public static int Getpeername(FdTable files, int fd, out SockAddr addr)
    {
        addr = default;
        using (new SyscallLock(files.Net))
        {
            var sock = files.Lookup(fd);
            if (sock is null) return -Errno.EBADF;
            try
            {
                int len = sock.Ops.Getname(sock, out addr, 1);
                if (len < 0) return len;
                addr.Len = len;
                return 0;
            }
            catch (Exception e) when (Oops.Contain(files.Net))
            {
                return SyscallOops(files.Net, sock, e, "__sys_getpeername");
            }
        }
    }

    /// <summary>send(2).</summary>
    public static int Send(FdTable files, int fd, ReadOnlySpan<byte> buf, int flags) => SendtoInternal(files, fd, buf, flags, default, false);

    /// <summary>sendto(2).</summary>
    /// <remarks>Mirrors net/socket.c: __sys_sendto().</remarks>
    public static int Sendto(FdTable files, int fd, ReadOnlySpan<byte> buf, int flags, in SockAddr addr) => SendtoInternal(files, fd, buf, flags, addr, true);

    private static int SendtoInternal(FdTable files, int fd, ReadOnlySpan<byte> buf, int flags, in SockAddr addr, bool hasAddr)
    {
        using (new SyscallLock(files.Net))
        {
            var sock = files.Lookup(fd);
            if (sock is null) return -Errno.EBADF;
            var msg = new MsgHdr();
            if (hasAddr)
            {
                int err = MoveAddrToKernel(addr);
                if (err < 0) return err;
                msg.Name = addr;
                msg.HasName = true; // msg_name points at the copy even when addr_len is 0
            }
            if (sock.NonBlocking) flags |= MSG_DONTWAIT;
            msg.Flags = flags;
            try
            {
                return SockSendmsg(sock, ref msg, buf);
            }
            catch (Exception e) when (Oops.Contain(files.Net))
            {
                return SyscallOops(files.Net, sock, e, "__sys_sendto");
            }
        }
    }

    /// <summary>sendmsg(2) with one iovec: msg.Name/HasName is the destination, <paramref name="flags"/> the MSG_* flags.</summary>
    /// <remarks>Mirrors net/socket.c: __sys_sendmsg() -> ___sys_sendmsg().</remarks>
    public static int Sendmsg(FdTable files, int fd, ref MsgHdr msg, ReadOnlySpan<byte> buf, int flags)
    {
        if ((flags & MSG_CMSG_COMPAT) != 0) return -Errno.EINVAL;
        using (new SyscallLock(files.Net))
        {
            var sock = files.Lookup(fd);
            if (sock is null) return -Errno.EBADF;
            if (msg.HasName)
            {
                if (msg.Name.Len < 0) return -Errno.EINVAL;
                if (msg.Name.Len > SockaddrStorageSize) msg.Name.Len = SockaddrStorageSize;
                if (msg.Name.Len == 0) msg.HasName = false;
            }
            if (sock.NonBlocking) flags |= MSG_DONTWAIT;
            msg.Flags = flags;
            try
            {
                return SockSendmsg(sock, ref msg, buf);
            }
            catch (Exception e) when (Oops.Contain(files.Net))
            {
                return SyscallOops(files.Net, sock, e, "___sys_sendmsg");
            }
        }
    }

    /// <summary>MSG_CMSG_COMPAT: the 32-bit compat flag, refused by the 64-bit syscalls.</summary>
    public const int MSG_CMSG_COMPAT = unchecked((int)0x80000000);

    /// <summary>Sends through the socket's operations (sock->ops->sendmsg); bytes sent or a negative errno.</summary>
    /// <remarks>Mirrors net/socket.c: sock_sendmsg() -> sock_sendmsg_nosec().</remarks>
    public static int SockSendmsg(BsdSocket sock, ref MsgHdr msg, ReadOnlySpan<byte> buf) => sock.Ops.Sendmsg(sock, ref msg, buf);

    /// <summary>recv(2).</summary>
    public static int Recv(FdTable files, int fd, Span<byte> buf, int flags) => RecvfromInternal(files, fd, buf, flags, out _, false);

    /// <summary>recvfrom(2): the sender's address comes back in <paramref name="from"/> (Len = its length, 0 if none).</summary>
    /// <remarks>Mirrors net/socket.c: __sys_recvfrom().</remarks>
    public static int Recvfrom(FdTable files, int fd, Span<byte> buf, int flags, out SockAddr from) => RecvfromInternal(files, fd, buf, flags, out from, true);

    private static int RecvfromInternal(FdTable files, int fd, Span<byte> buf, int flags, out SockAddr from, bool wantAddr)
    {
        from = default;
        using (new SyscallLock(files.Net))
        {
            var sock = files.Lookup(fd);
            if (sock is null) return -Errno.EBADF;
            var msg = new MsgHdr { HasName = wantAddr };
            if (sock.NonBlocking) flags |= MSG_DONTWAIT;
            try
            {
                int err = SockRecvmsg(sock, ref msg, buf, flags);
                if (err >= 0 && wantAddr)
                {
                    from = msg.Name;
                    from.Len = msg.NameLen;
                }
                return err;
            }
            catch (Exception e) when (Oops.Contain(files.Net))
            {
                return SyscallOops(files.Net, sock, e, "__sys_recvfrom");
            }
        }
    }

    /// <summary>
    /// recvmsg(2) with one iovec: msg.Name receives the source (when msg.HasName), msg.Control the
    /// control messages (ancillary data) the socket asked for, with msg.ControlLen the bytes they
    /// took (msg_controllen on return), and msg.Flags the result flags (MSG_TRUNC, MSG_CTRUNC when
    /// msg.Control was too small, and MSG_CMSG_CLOEXEC echoed from <paramref name="flags"/>).
    /// </summary>
    /// <remarks>Mirrors net/socket.c: __sys_recvmsg() -> ___sys_recvmsg() -> ____sys_recvmsg().</remarks>
    public static int Recvmsg(FdTable files, int fd, ref MsgHdr msg, Span<byte> buf, int flags)
    {
        if ((flags & MSG_CMSG_COMPAT) != 0) return -Errno.EINVAL;
        using (new SyscallLock(files.Net))
        {
            var sock = files.Lookup(fd);
            if (sock is null) return -Errno.EBADF;
            msg.ControlLen = 0; // cmsg_ptr
            msg.Flags = flags & MSG_CMSG_CLOEXEC;
            msg.NameLen = 0;
            if (sock.NonBlocking) flags |= MSG_DONTWAIT;
            try
            {
                int err = SockRecvmsg(sock, ref msg, buf, flags);
                if (err >= 0 && msg.HasName) msg.Name.Len = msg.NameLen;
                return err;
            }
            catch (Exception e) when (Oops.Contain(files.Net))
            {
                return SyscallOops(files.Net, sock, e, "___sys_recvmsg");
            }
        }
    }

    /// <summary>Receives through the socket's operations (sock->ops->recvmsg); bytes received or a negative errno.</summary>
    /// <remarks>Mirrors net/socket.c: sock_recvmsg() -> sock_recvmsg_nosec().</remarks>
    public static int SockRecvmsg(BsdSocket sock, ref MsgHdr msg, Span<byte> buf, int flags) => sock.Ops.Recvmsg(sock, ref msg, buf, flags);

    /// <summary>setsockopt(2): SOL_SOCKET is the socket layer's own (sock_setsockopt), other levels go to the family.</summary>
    /// <remarks>Mirrors net/socket.c: __sys_setsockopt() -> do_sock_setsockopt().</remarks>
    public static int Setsockopt(FdTable files, int fd, int level, int optname, ReadOnlySpan<byte> optval)
    {
        using (new SyscallLock(files.Net))
        {
            var sock = files.Lookup(fd);
            if (sock is null) return -Errno.EBADF;
            try
            {
                if (level == SOL_SOCKET) return SockOpt.SkSetsockopt(sock, optname, optval, files);
                return sock.Ops.Setsockopt(sock, level, optname, optval);
            }
            catch (Exception e) when (Oops.Contain(files.Net))
            {
                return SyscallOops(files.Net, sock, e, "__sys_setsockopt");
            }
        }
    }

    /// <summary>setsockopt(2) with an int value.</summary>
    public static int Setsockopt(FdTable files, int fd, int level, int optname, int value)
    {
        Span<byte> b = stackalloc byte[4];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(b, value);
        return Setsockopt(files, fd, level, optname, b);
    }

    /// <summary>getsockopt(2): <paramref name="optlen"/> is the buffer size in, the length written out.</summary>
    /// <remarks>Mirrors net/socket.c: __sys_getsockopt() -> do_sock_getsockopt().</remarks>
    public static int Getsockopt(FdTable files, int fd, int level, int optname, Span<byte> optval, ref int optlen)
    {
        using (new SyscallLock(files.Net))
        {
            var sock = files.Lookup(fd);
            if (sock is null) return -Errno.EBADF;
            if (optlen > optval.Length) optlen = optval.Length;
            try
            {
                if (level == SOL_SOCKET) return SockOpt.SkGetsockopt(sock, optname, optval, ref optlen);
                return sock.Ops.Getsockopt(sock, level, optname, optval, ref optlen);
            }
            catch (Exception e) when (Oops.Contain(files.Net))
            {
                return SyscallOops(files.Net, sock, e, "__sys_getsockopt");
            }
        }
    }

    /// <summary>getsockopt(2) of an int option: returns 0 and the value, or a negative errno.</summary>
    public static int Getsockopt(FdTable files, int fd, int level, int optname, out int value)
    {
        Span<byte> b = stackalloc byte[4];
        b.Clear();
        int len = 4;
        int err = Getsockopt(files, fd, level, optname, b, ref len);
        value = err < 0 ? 0 : len >= 4 ? System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(b) : len > 0 ? b[0] : 0;
        return err;
    }

    /// <summary>shutdown(2).</summary>
    /// <remarks>Mirrors net/socket.c: __sys_shutdown() -> __sys_shutdown_sock().</remarks>
    public static int Shutdown(FdTable files, int fd, int how)
    {
        using (new SyscallLock(files.Net))
        {
            var sock = files.Lookup(fd);
            if (sock is null) return -Errno.EBADF;
            try
            {
                return sock.Ops.Shutdown(sock, how);
            }
            catch (Exception e) when (Oops.Contain(files.Net))
            {
                return SyscallOops(files.Net, sock, e, "__sys_shutdown");
            }
        }
    }

    /// <summary>close(2): the descriptor goes, and with it (the last reference) the socket.</summary>
    /// <remarks>Mirrors fs/open.c: close_fd() -> fput() -> sock_close() -> __sock_release().</remarks>
    public static int Close(FdTable files, int fd)
    {
        using (new SyscallLock(files.Net))
        {
            var sock = files.Remove(fd);
            if (sock is null) return -Errno.EBADF;
            // fput(): another descriptor (F_DUPFD) still names the socket.
            if (--sock.FileRefs > 0) return 0;
            try
            {
                var sk = sock.Sk;
                SockRelease(sock);
                // The inode's last reference was the file's (the descriptor is the only handle a
                // caller of close has): back to the sock_inode_cache, unless its sock (orphaned by
                // every protocol's close) still points at it.
                if (sk is null || !ReferenceEquals(sk.Socket, sock)) BsdSocket.Free(sock);
                return 0;
            }
            catch (Exception e) when (Oops.Contain(files.Net))
            {
                // The descriptor is gone whatever the protocol did: the aborted sock is let go.
                int err = SyscallOops(files.Net, sock, e, "sock_close");
                sock.Sk = null;
                sock.Ops = ProtoOps.NoOps;
                sock.State = SocketState.Free;
                return err;
            }
        }
    }

    /// <summary>fcntl(2): F_GETFL / F_SETFL (O_NONBLOCK is the flag that can change), F_GETFD / F_SETFD, F_DUPFD / F_DUPFD_CLOEXEC, F_GETOWN / F_SETOWN.</summary>
    /// <remarks>Mirrors fs/fcntl.c: do_fcntl(), setfl() (SETFL_MASK), f_dupfd(), f_getown(), f_setown().</remarks>
    public static int Fcntl(FdTable files, int fd, int cmd, int arg = 0)
    {
        using (new SyscallLock(files.Net))
        {
            var sock = files.Lookup(fd);
            if (sock is null) return -Errno.EBADF;
            switch (cmd)
            {
                case F_DUPFD:
                case F_DUPFD_CLOEXEC:
                {
                    // f_dupfd(): the lowest free descriptor from arg (unsigned: a negative one is past the limit).
                    if ((uint)arg >= (uint)files.RlimitNofile) return -Errno.EINVAL;
                    int nfd = files.Install(sock, cmd == F_DUPFD_CLOEXEC, arg);
                    if (nfd >= 0) sock.FileRefs++; // get_file()
                    return nfd;
                }
                case F_GETOWN: return sock.Owner; // f_getown(): a process group reads back negative
                case F_SETOWN:
                    // f_setown(): INT_MIN has no process group to name; there is no process table to
                    // check a pid against (ESRCH), so any other value is kept.
                    if (arg == int.MinValue) return -Errno.EINVAL;
                    sock.Owner = arg;
                    return 0;
                case F_GETFD: return files.GetCloseOnExec(fd) ? FD_CLOEXEC : 0;
                case F_SETFD: files.SetCloseOnExec(fd, (arg & FD_CLOEXEC) != 0); return 0;
                case F_GETFL: return sock.FileFlags;
                case F_SETFL:
                {
                    // setfl(): a socket cannot do O_DIRECT (no FMODE_CAN_ODIRECT); FASYNC is set by
                    // ->fasync (sock_fasync(): recorded, no SIGIO is sent); then the SETFL_MASK bits
                    // change. Only O_NONBLOCK changes how the stack behaves; the rest read back.
                    if ((arg & O_DIRECT) != 0) return -Errno.EINVAL;
                    const int SetflMask = O_APPEND | O_NONBLOCK | O_DIRECT | O_NOATIME | FASYNC;
                    sock.FileFlags = (sock.FileFlags & ~SetflMask) | (arg & SetflMask);
                    return 0;
                }
                default: return -Errno.EINVAL;
            }
        }
    }

    /// <summary>ioctl(2) on a socket: FIONBIO is the VFS's, the rest goes to the family (SIOCINQ, SIOCOUTQ).</summary>
    /// <remarks>Mirrors fs/ioctl.c: do_vfs_ioctl() (FIONBIO) and net/socket.c: sock_ioctl() -> sock_do_ioctl().</remarks>
    public static int Ioctl(FdTable files, int fd, int cmd, ref int arg)
    {
        using (new SyscallLock(files.Net))
        {
            var sock = files.Lookup(fd);
            if (sock is null) return -Errno.EBADF;
            if (cmd == FIONBIO)
            {
                sock.FileFlags = arg != 0 ? sock.FileFlags | O_NONBLOCK : sock.FileFlags & ~O_NONBLOCK;
                return 0;
            }
            if (cmd is SIOCGSTAMP or SIOCGSTAMPNS)
            {
                // The struct's first int (the low half of tv_sec) is what an int argument sees; Gettstamp gives the whole.
                int err = SockGettstampLocked(sock, cmd == SIOCGSTAMP, out long sec, out _);
                if (err == 0) arg = (int)sec;
                return err;
            }
            try
            {
                int err = sock.Ops.Ioctl(sock, cmd, ref arg);
                // sock_do_ioctl(): an ioctl nobody knows is ENOTTY for the caller.
                return err == -Errno.ENOIOCTLCMD ? -Errno.ENOTTY : err;
            }
            catch (Exception e) when (Oops.Contain(files.Net))
            {
                return SyscallOops(files.Net, sock, e, "sock_ioctl");
            }
        }
    }

    /// <summary>
    /// ioctl(SIOCGSTAMP / SIOCGSTAMPNS): when the socket's last datagram was read, as wall-clock
    /// seconds and microseconds (<paramref name="timeval"/>) or nanoseconds; -ENOENT before any.
    /// </summary>
    /// <remarks>Mirrors net/socket.c: sock_ioctl() -> sock->ops->gettstamp == net/core/sock.c: sock_gettstamp().</remarks>
    public static int Gettstamp(FdTable files, int fd, bool timeval, out long sec, out long frac)
    {
        using (new SyscallLock(files.Net))
        {
            sec = frac = 0;
            var sock = files.Lookup(fd);
            if (sock is null) return -Errno.EBADF;
            return SockGettstampLocked(sock, timeval, out sec, out frac);
        }
    }

    /// <remarks>Mirrors net/core/sock.c: sock_gettstamp().</remarks>
    private static int SockGettstampLocked(BsdSocket sock, bool timeval, out long sec, out long frac)
    {
        sec = frac = 0;
        var sk = sock.Sk;
        if (sk is null) return -Errno.ENOTTY;
        // sock_enable_timestamp(sk, SOCK_TIMESTAMP): from now on arrivals are stamped.
        sk.SetFlag(SockFlag.Timestamp);
        sk.Net.NetstampNeeded = true;
        if (sk.SkStamp == Sock.SkDefaultStamp) return -Errno.ENOENT;
        if (sk.SkStamp == 0) sk.SkStamp = sk.Net.NowNs; // read before a stamp: now, kept
        long real = sk.SkStamp + sk.Net.RealtimeOffsetNs;
        sec = Math.DivRem(real, Time.NsPerSec, out long ns);
        frac = timeval ? ns / 1000 : ns;
        return 0;
    }

    /// <summary>
    /// poll(2): fills each entry's Revents (POLLNVAL for a closed descriptor) and returns how many
    /// are ready; waits up to <paramref name="timeoutMs"/> (-1 forever, 0 not at all) for one to be.
    /// Returns 0 on timeout, -EINTR if the thread is interrupted.
    /// </summary>
    /// <remarks>Mirrors fs/select.c: do_sys_poll() -> do_poll() -> do_pollfd() -> sock_poll().</remarks>
    public static int Poll(FdTable files, Span<PollFd> fds, int timeoutMs)
    {
        var net = files.Net;
        long timeo = timeoutMs < 0 ? Sock.MaxScheduleTimeout : timeoutMs * Time.NsPerMs;
        using (new SyscallLock(net))
        {
            // poll_initwait(): the first pass queues this thread on each socket's wait queue
            // (sock_poll_wait() -> __pollwait()), keyed by the events asked for; the entries stay
            // until the call returns (poll_freewait()). A zero timeout queues nothing.
            var task = WaitTask.Current;
            bool queueing = timeo > 0;
            int queued = 0;
            task.PrepareToWait();
            try
            {
                while (true)
                {
                    int count = 0;
                    for (int i = 0; i < fds.Length; i++)
                    {
                        ref var p = ref fds[i];
                        p.Revents = 0;
                        if (p.Fd < 0) continue;
                        var sock = files.Lookup(p.Fd);
                        int mask;
                        if (sock is null) mask = POLLNVAL;
                        else
                        {
                            if (queueing && sock.Sk is { } sk)
                            {
                                var entry = task.PollEntry(queued++);
                                entry.Key = p.Events | POLLERR | POLLHUP;
                                sk.Wq.Add(entry);
                            }
                            mask = SockPollContained(sock) & (p.Events | POLLERR | POLLHUP);
                        }
                        p.Revents = (short)mask;
                        if (mask != 0) count++;
                    }
                    queueing = false;
                    if (count > 0 || timeo <= 0) return count;
                    int r = SockWait.Sleep(net, task, ref timeo);
                    if (r < 0) return r;
                }
            }
            finally
            {
                task.PollFreewait(queued);
            }
        }
    }

    /// <summary>sock->ops->poll for a poll(2): a fault aborts the socket, which then polls as an error (POLLERR).</summary>
    private static int SockPollContained(BsdSocket sock)
    {
        try
        {
            return sock.Ops.Poll(sock);
        }
        catch (Exception e) when (Oops.Contain(sock.Net))
        {
            if (sock.Sk is { } sk) Oops.SockOops(sk, e, "sock_poll", sk.Prot?.Name);
            else Oops.Report(sock.Net, e, "sock_poll", null, null, "call failed");
            return POLLERR | POLLHUP;
        }
    }

    /// <summary>
    /// A fault inside a system call, contained at the call (an oops in process context kills the
    /// calling task; here the call fails instead): the socket the call was on is aborted with
    /// ECONNABORTED (Core/Panic.cs), and the call returns that error, taken from sk_err so it is
    /// reported once. ECONNABORTED, "software caused connection abort", is what tcp_abort() and
    /// SOCK_DESTROY give the owner, and what .NET calls SocketError.ConnectionAborted ("aborted by
    /// the underlying socket provider"): it tells the caller this socket is finished without
    /// suggesting the arguments (EINVAL, EFAULT) or the peer (ECONNRESET) were at fault.
    /// </summary>
    private static int SyscallOops(NetNamespace net, BsdSocket? sock, Exception e, string call)
    {
        if (sock?.Sk is not { } sk)
        {
            Oops.Report(net, e, call, null, null, "call failed");
            return -Errno.ECONNABORTED;
        }
        Oops.SockOops(sk, e, call, sk.Prot?.Name);
        int err = sk.SockError();
        return err != 0 ? err : -Errno.ECONNABORTED;
    }

    /// <summary>The poll mask of one socket right now (sock_poll without waiting).</summary>
    public static int SockPoll(BsdSocket sock) => sock.Ops.Poll(sock);

    /// <summary>The poll mask of a descriptor right now; POLLNVAL when it is not open.</summary>
    public static int SockPoll(FdTable files, int fd)
    {
        using (new SyscallLock(files.Net))
        {
            var sock = files.Lookup(fd);
            return sock is null ? POLLNVAL : SockPollContained(sock);
        }
    }
}

/// <summary>The socket layer's state in one namespace.</summary>
internal sealed class NetnsSocket
{
    /// <summary>net_families[]: the registered protocol families, indexed by PF_*.</summary>
    /// <remarks>Mirrors net/socket.c: static const struct net_proto_family *net_families[NPROTO] (global in the kernel; per namespace here).</remarks>
    public readonly NetProtoFamily?[] NetFamilies = new NetProtoFamily?[SocketConstants.NPROTO];

    public FdTable? Files;
}

/// <summary>Sets up <see cref="NetnsSocket"/> in each namespace.</summary>
internal sealed class SockNetOps : PernetOperations
{
    public static readonly SockNetOps Instance = new();
    private SockNetOps() { }
    public override string Name => "socket";
    public override void Init(NetNamespace net) => net.NetAssignGeneric(Id, new NetnsSocket());
}

/// <summary>The socket layer's members on <see cref="NetNamespace"/>.</summary>
internal static class NetNamespaceSockets
{
    extension(NetNamespace net)
    {
        /// <summary>net_families[] of this namespace.</summary>
        internal NetProtoFamily?[] NetFamilies => net.NetGeneric<NetnsSocket>(SockNetOps.Instance.Id).NetFamilies;

        /// <summary>
        /// The default caller of the socket calls in this stack: a descriptor table with every
        /// capability (a root process in this namespace).
        /// </summary>
        public FdTable Files
        {
            get
            {
                var ns = net.NetGeneric<NetnsSocket>(SockNetOps.Instance.Id);
                lock (net.SyncRoot) return ns.Files ??= new FdTable(net);
            }
        }
    }
}
