using System.Runtime.CompilerServices;
using NetStack.Core;
using NetStack.Net;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Api;

/// <summary>
/// A socket of the stack for C# code, over the same path as the BSD calls (<see cref="SocketCalls"/>):
/// every method is one socket call, and a negative errno becomes a <see cref="NetStackException"/>
/// carrying it. Synchronous methods block (or not) as the socket's O_NONBLOCK says, like the C
/// calls. Asynchronous methods make a non-blocking attempt and, on EAGAIN, await the socket's
/// readiness (woken by sk_data_ready and friends) and try again, as System.Net.Sockets does on
/// Unix; they return ValueTasks that allocate nothing when they complete at once, and reuse pooled
/// state machines and per-socket waiters when they do wait.
/// <code>
/// using var udp = NetSocket.Udp(net);
/// udp.Bind(new Ipv4EndPoint(0, 5000));
/// int n = await udp.ReceiveFromAsync(buffer) ...
/// </code>
/// </summary>
public sealed class NetSocket : IDisposable
{
    private int _fd;
    /// <summary>
    /// The socket this object opened or wrapped. Descriptors are reused lowest-first, so a pending
    /// async call re-checks that its fd still names this socket before each retry: after Dispose
    /// the number may already belong to a new socket.
    /// </summary>
    private readonly Socket? _sock;

    /// <summary>socket(family, type, protocol) in <paramref name="net"/> as its default caller (<see cref="NetNamespace.Files"/>).</summary>
    public NetSocket(NetNamespace net, int family, int type, int protocol = 0) : this(net.Files, family, type, protocol) { }

    /// <summary>socket(family, type, protocol) as the given caller.</summary>
    public NetSocket(FdTable files, int family, int type, int protocol = 0)
    {
        Files = files;
        _fd = NetStackException.ThrowIfError(SocketCalls.Socket(files, family, type, protocol), "socket");
        lock (files.Net.SyncRoot) _sock = files.Lookup(_fd);
    }

    /// <summary>Wraps a descriptor that is already open (e.g. from accept).</summary>
    public NetSocket(FdTable files, int fd)
    {
        Files = files;
        _fd = fd;
        lock (files.Net.SyncRoot) _sock = files.Lookup(fd);
    }

    /// <summary>A UDP socket: socket(AF_INET, SOCK_DGRAM, 0).</summary>
    public static NetSocket Udp(NetNamespace net) => new(net, AF_INET, SOCK_DGRAM);

    /// <summary>A TCP socket: socket(AF_INET, SOCK_STREAM, 0).</summary>
    public static NetSocket Tcp(NetNamespace net) => new(net, AF_INET, SOCK_STREAM);

    /// <summary>A ping socket: socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP).</summary>
    public static NetSocket Ping(NetNamespace net) => new(net, AF_INET, SOCK_DGRAM, IPPROTO_ICMP);

    public FdTable Files { get; }
    public NetNamespace Net => Files.Net;
    /// <summary>The descriptor, or -1 once disposed.</summary>
    public int Fd => _fd;

    private static int Check(int ret, string what) => ret < 0 ? Throw(ret, what) : ret;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Throw(int ret, string what) => throw Error(ret, what);

    private static NetStackException Error(int ret, string what) => new(ret, $"{what}: {Errno.Name(ret)}");

    private int FdOrThrow => _fd >= 0 ? _fd : throw new ObjectDisposedException(nameof(NetSocket));

    // ------------------------------------------------------------------ setup

    public void Bind(Ipv4EndPoint local) => Check(SocketCalls.Bind(Files, FdOrThrow, local.ToSockAddr()), "bind");

    public void Listen(int backlog = 128) => Check(SocketCalls.Listen(Files, FdOrThrow, backlog), "listen");

    /// <summary>connect(2), blocking unless the socket is non-blocking.</summary>
    public void Connect(Ipv4EndPoint remote) => Check(SocketCalls.Connect(Files, FdOrThrow, remote.ToSockAddr()), "connect");

    /// <summary>Connects without blocking a thread: a non-blocking connect, then (EINPROGRESS) waiting for writability and SO_ERROR.</summary>
    public ValueTask ConnectAsync(Ipv4EndPoint remote, CancellationToken ct = default)
    {
        int fd = FdOrThrow;
        int r = SocketCalls.Connect(Files, fd, remote.ToSockAddr(), forceNonblock: true);
        if (r == 0) return ValueTask.CompletedTask;
        if (r != -Errno.EINPROGRESS && r != -Errno.EALREADY) return ValueTask.FromException(Error(r, "connect"));
        return ConnectSlowAsync(fd, remote, ct);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ConnectSlowAsync(int fd, Ipv4EndPoint remote, CancellationToken ct)
    {
        await PollAsync(POLLOUT, ct).ConfigureAwait(false);
        // The outcome: SO_ERROR, then a second connect() that answers 0 (connected) like a C program's.
        Check(SocketCalls.Getsockopt(Files, fd, SOL_SOCKET, SO_ERROR, out int soError), "getsockopt");
        if (soError != 0) Throw(-soError, "connect");
        int r = SocketCalls.Connect(Files, fd, remote.ToSockAddr(), forceNonblock: true);
        if (r < 0 && r != -Errno.EISCONN) Throw(r, "connect");
    }

    /// <summary>accept(2), blocking unless the socket is non-blocking.</summary>
    public NetSocket Accept(out Ipv4EndPoint peer, int flags = 0)
    {
        int nfd = Check(SocketCalls.Accept4(Files, FdOrThrow, out var sa, flags), "accept");
        peer = Ipv4EndPoint.FromSockAddr(sa);
        return new NetSocket(Files, nfd);
    }

    public NetSocket Accept() => Accept(out _);

    /// <summary>Accepts without blocking a thread.</summary>
    public ValueTask<NetSocket> AcceptAsync(CancellationToken ct = default)
    {
        int fd = FdOrThrow;
        if (TryOnce(Op.Accept, fd, default, default, 0, default, out int r, out _, out var wait, ct))
            return r >= 0 ? new ValueTask<NetSocket>(new NetSocket(Files, r)) : ValueTask.FromException<NetSocket>(Error(r, "accept"));
        return AcceptSlowAsync(fd, wait, ct);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<NetSocket> AcceptSlowAsync(int fd, ValueTask<int> wait, CancellationToken ct)
    {
        int r = await SlowAsync(Op.Accept, fd, default, default, 0, default, wait, "accept", ct).ConfigureAwait(false);
        return new NetSocket(Files, r);
    }

    // ------------------------------------------------------------------ data

    /// <summary>send(2).</summary>
    public int Send(ReadOnlySpan<byte> data, int flags = 0) => Check(SocketCalls.Send(Files, FdOrThrow, data, flags), "send");

    /// <summary>recv(2); 0 at end of stream.</summary>
    public int Receive(Span<byte> buffer, int flags = 0) => Check(SocketCalls.Recv(Files, FdOrThrow, buffer, flags), "recv");

    /// <summary>sendto(2).</summary>
    public int SendTo(ReadOnlySpan<byte> data, Ipv4EndPoint to, int flags = 0) =>
        Check(SocketCalls.Sendto(Files, FdOrThrow, data, flags, to.ToSockAddr()), "sendto");

    /// <summary>recvfrom(2).</summary>
    public int ReceiveFrom(Span<byte> buffer, out Ipv4EndPoint from, int flags = 0)
    {
        int n = Check(SocketCalls.Recvfrom(Files, FdOrThrow, buffer, flags, out var sa), "recvfrom");
        from = Ipv4EndPoint.FromSockAddr(sa);
        return n;
    }

    public ValueTask<int> SendAsync(ReadOnlyMemory<byte> data, int flags = 0, CancellationToken ct = default) =>
        RunAsync(Op.Send, default, data, flags, default, "send", ct);

    public ValueTask<int> SendToAsync(ReadOnlyMemory<byte> data, Ipv4EndPoint to, int flags = 0, CancellationToken ct = default) =>
        RunAsync(Op.SendTo, default, data, flags, to.ToSockAddr(), "sendto", ct);

    public ValueTask<int> ReceiveAsync(Memory<byte> buffer, int flags = 0, CancellationToken ct = default) =>
        RunAsync(Op.Recv, buffer, default, flags, default, "recv", ct);

    public ValueTask<ReceiveFromResult> ReceiveFromAsync(Memory<byte> buffer, int flags = 0, CancellationToken ct = default)
    {
        int fd = FdOrThrow;
        if (TryOnce(Op.RecvFrom, fd, buffer, default, flags, default, out int r, out var from, out var wait, ct))
            return r >= 0
                ? new ValueTask<ReceiveFromResult>(new ReceiveFromResult(r, Ipv4EndPoint.FromSockAddr(from)))
                : ValueTask.FromException<ReceiveFromResult>(Error(r, "recvfrom"));
        return ReceiveFromSlowAsync(fd, buffer, flags, wait, ct);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<ReceiveFromResult> ReceiveFromSlowAsync(int fd, Memory<byte> buffer, int flags, ValueTask<int> wait, CancellationToken ct)
    {
        while (true)
        {
            await wait.ConfigureAwait(false);
            if (TryOnce(Op.RecvFrom, fd, buffer, default, flags, default, out int r, out var from, out wait, ct))
                return r >= 0 ? new ReceiveFromResult(r, Ipv4EndPoint.FromSockAddr(from)) : throw Error(r, "recvfrom");
        }
    }

    /// <summary>Waits until poll() reports one of <paramref name="events"/> (or an error/hangup); returns the revents.</summary>
    public ValueTask<int> PollAsync(int events, CancellationToken ct = default)
    {
        int fd = FdOrThrow;
        ValueTask<int> wait;
        lock (Net.SyncRoot)
        {
            int mask = SocketCalls.SockPoll(Files, fd) & (events | POLLERR | POLLHUP | POLLNVAL);
            if (mask != 0) return new ValueTask<int>(mask);
            wait = WaiterFor(fd, events).Arm(ct, alsoWritable: (events & POLLOUT) != 0);
        }
        return PollSlowAsync(fd, events, wait, ct);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> PollSlowAsync(int fd, int events, ValueTask<int> wait, CancellationToken ct)
    {
        while (true)
        {
            await wait.ConfigureAwait(false);
            lock (Net.SyncRoot)
            {
                if (!OwnsFd(fd)) return POLLNVAL; // closed meanwhile, as poll(2) reports a closed fd
                int mask = SocketCalls.SockPoll(Files, fd) & (events | POLLERR | POLLHUP | POLLNVAL);
                if (mask != 0) return mask;
                wait = WaiterFor(fd, events).Arm(ct, alsoWritable: (events & POLLOUT) != 0);
            }
        }
    }

    private SockWaiter WaiterFor(int fd, int events)
    {
        var sk = SkOf(fd);
        return (events & POLLOUT) != 0 && (events & (POLLIN | POLLPRI)) == 0 ? sk.WriteWaiter : sk.ReadWaiter;
    }

    /// <summary>Whether <paramref name="fd"/> still names the socket this object opened (under the stack lock).</summary>
    private bool OwnsFd(int fd) => _sock is not null && ReferenceEquals(Files.Lookup(fd), _sock);

    // ---- the non-blocking attempt / wait / retry loop shared by the async data calls ----

    private enum Op { Send, SendTo, Recv, RecvFrom, Accept }

    /// <summary>
    /// One non-blocking attempt under the stack lock. Returns true when the call is over (result
    /// or error in <paramref name="r"/>); false with <paramref name="wait"/> armed when it would block.
    /// </summary>
    private bool TryOnce(Op op, int fd, Memory<byte> rbuf, ReadOnlyMemory<byte> sbuf, int flags, in SockAddr to,
        out int r, out SockAddr from, out ValueTask<int> wait, CancellationToken ct)
    {
        from = default;
        wait = default;
        lock (Net.SyncRoot)
        {
            if (!OwnsFd(fd)) { r = -Errno.EBADF; return true; }
            r = op switch
            {
                Op.Send => SocketCalls.Send(Files, fd, sbuf.Span, flags | MSG_DONTWAIT),
                Op.SendTo => SocketCalls.Sendto(Files, fd, sbuf.Span, flags | MSG_DONTWAIT, to),
                Op.Recv => SocketCalls.Recv(Files, fd, rbuf.Span, flags | MSG_DONTWAIT),
                Op.RecvFrom => SocketCalls.Recvfrom(Files, fd, rbuf.Span, flags | MSG_DONTWAIT, out from),
                _ => SocketCalls.Accept4(Files, fd, out from, 0, forceNonblock: true),
            };
            // A caller's own MSG_DONTWAIT means "do not wait" for the async call too.
            if (r != -Errno.EAGAIN || (flags & MSG_DONTWAIT) != 0) return true;
            var sk = Files.Lookup(fd)?.Sk;
            if (sk is null) { r = -Errno.EBADF; return true; }
            wait = (op is Op.Send or Op.SendTo ? sk.WriteWaiter : sk.ReadWaiter).Arm(ct);
            return false;
        }
    }

    private ValueTask<int> RunAsync(Op op, Memory<byte> rbuf, ReadOnlyMemory<byte> sbuf, int flags, SockAddr to, string what, CancellationToken ct)
    {
        int fd = FdOrThrow;
        if (TryOnce(op, fd, rbuf, sbuf, flags, to, out int r, out _, out var wait, ct))
            return r >= 0 ? new ValueTask<int>(r) : ValueTask.FromException<int>(Error(r, what));
        return SlowAsync(op, fd, rbuf, sbuf, flags, to, wait, what, ct);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> SlowAsync(Op op, int fd, Memory<byte> rbuf, ReadOnlyMemory<byte> sbuf, int flags, SockAddr to,
        ValueTask<int> wait, string what, CancellationToken ct)
    {
        while (true)
        {
            await wait.ConfigureAwait(false);
            if (TryOnce(op, fd, rbuf, sbuf, flags, to, out int r, out _, out wait, ct))
                return r >= 0 ? r : throw Error(r, what);
        }
    }

    /// <summary>poll(2) on this socket alone: the revents, 0 on timeout.</summary>
    public int Poll(int events, int timeoutMs)
    {
        Span<SocketCalls.PollFd> p = stackalloc SocketCalls.PollFd[1];
        p[0] = new SocketCalls.PollFd(FdOrThrow, events);
        Check(SocketCalls.Poll(Files, p, timeoutMs), "poll");
        return p[0].Revents;
    }

    public void Shutdown(int how) => Check(SocketCalls.Shutdown(Files, FdOrThrow, how), "shutdown");

    // ------------------------------------------------------------------ options and names

    public Ipv4EndPoint LocalEndPoint
    {
        get
        {
            Check(SocketCalls.Getsockname(Files, FdOrThrow, out var sa), "getsockname");
            return Ipv4EndPoint.FromSockAddr(sa);
        }
    }

    public Ipv4EndPoint RemoteEndPoint
    {
        get
        {
            Check(SocketCalls.Getpeername(Files, FdOrThrow, out var sa), "getpeername");
            return Ipv4EndPoint.FromSockAddr(sa);
        }
    }

    public void SetOption(int level, int optname, int value) =>
        Check(SocketCalls.Setsockopt(Files, FdOrThrow, level, optname, value), "setsockopt");

    public int GetOption(int level, int optname)
    {
        Check(SocketCalls.Getsockopt(Files, FdOrThrow, level, optname, out int v), "getsockopt");
        return v;
    }

    /// <summary>O_NONBLOCK off (true) or on (false), through fcntl.</summary>
    public bool Blocking
    {
        get => (Check(SocketCalls.Fcntl(Files, FdOrThrow, F_GETFL), "fcntl") & O_NONBLOCK) == 0;
        set
        {
            int fl = Check(SocketCalls.Fcntl(Files, FdOrThrow, F_GETFL), "fcntl");
            Check(SocketCalls.Fcntl(Files, FdOrThrow, F_SETFL, value ? fl & ~O_NONBLOCK : fl | O_NONBLOCK), "fcntl");
        }
    }

    /// <summary>SO_RCVTIMEO (TimeSpan.Zero: forever).</summary>
    public TimeSpan ReceiveTimeout
    {
        get => GetTimeval(SO_RCVTIMEO);
        set => SetTimeval(SO_RCVTIMEO, value);
    }

    /// <summary>SO_SNDTIMEO (TimeSpan.Zero: forever).</summary>
    public TimeSpan SendTimeout
    {
        get => GetTimeval(SO_SNDTIMEO);
        set => SetTimeval(SO_SNDTIMEO, value);
    }

    private void SetTimeval(int opt, TimeSpan t)
    {
        Span<byte> tv = stackalloc byte[16];
        long us = t.Ticks / 10;
        System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(tv, us / 1_000_000);
        System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(tv[8..], us % 1_000_000);
        Check(SocketCalls.Setsockopt(Files, FdOrThrow, SOL_SOCKET, opt, tv), "setsockopt");
    }

    private TimeSpan GetTimeval(int opt)
    {
        Span<byte> tv = stackalloc byte[16];
        int len = 16;
        Check(SocketCalls.Getsockopt(Files, FdOrThrow, SOL_SOCKET, opt, tv, ref len), "getsockopt");
        long sec = System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(tv);
        long usec = System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(tv[8..]);
        return TimeSpan.FromTicks(sec * TimeSpan.TicksPerSecond + usec * 10);
    }

    private Sock SkOf(int fd) =>
        Files.Lookup(fd)?.Sk ?? throw new NetStackException(Errno.EBADF, "socket closed");

    /// <summary>A <see cref="NetStream"/> over this connected stream socket (closing the stream closes the socket when <paramref name="ownsSocket"/>).</summary>
    public NetStream GetStream(bool ownsSocket = false) => new(this, ownsSocket);

    /// <summary>close(2).</summary>
    public void Dispose()
    {
        int fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0) SocketCalls.Close(Files, fd);
    }

    public override string ToString() => $"NetSocket(fd {_fd})";
}
