using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using NetStack.Core;
using NetStack.Net;
using NetStack.Uapi;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Api;

/// <summary>
/// A socket of the stack for C# code, shaped like <see cref="System.Net.Sockets.Socket"/> and
/// running over the same path as the BSD calls (<see cref="SocketCalls"/>): every method is one
/// socket call, and a negative errno becomes a <see cref="NetStackException"/> (a
/// <see cref="SocketException"/> whose <see cref="SocketException.SocketErrorCode"/> maps the errno
/// as .NET does on Linux, and whose <see cref="NetStackException.Errno"/> keeps it). Synchronous
/// methods block (or not) as the socket's O_NONBLOCK says, like the C calls. Asynchronous methods
/// make a non-blocking attempt and, on EAGAIN, await the socket's readiness (woken by
/// sk_data_ready and friends) and try again, as System.Net.Sockets does on Unix; they return
/// ValueTasks that allocate nothing when they complete at once, and reuse pooled state machines
/// and per-socket waiters when they do wait. A cancelled call throws
/// <see cref="OperationCanceledException"/> with the caller's token and leaves the socket usable.
/// <code>
/// await using var udp = new NetSocket(net, AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
/// udp.Bind(new IPEndPoint(IPAddress.Any, 5000));
/// var r = await udp.ReceiveFromAsync(buffer);   // r.ReceivedBytes, r.RemoteEndPoint
/// </code>
/// Do not block thread-pool threads on these tasks: their completions run on the pool.
/// </summary>
public sealed class NetSocket : IDisposable, IAsyncDisposable
{
    private int _fd;
    /// <summary>
    /// The socket this object opened or wrapped. Descriptors are reused lowest-first, so a pending
    /// async call re-checks that its fd still names this socket before each retry: after Dispose
    /// the number may already belong to a new socket.
    /// </summary>
    private readonly BsdSocket? _sock;
    /// <summary>
    /// <see cref="_sock"/>'s generation when this object took it: once closed, the object goes back
    /// to the sock_inode_cache and may come out again as another socket, on the same descriptor.
    /// </summary>
    private readonly uint _sockGeneration;
    /// <summary>The last peer a receive reported, reused while the peer stays the same (no allocation per datagram).</summary>
    private EndPointCache? _lastFrom;

    /// <summary>socket(family, type, protocol) in <paramref name="net"/> as its default caller (the namespace's descriptor table with every capability, <c>net.Files</c>).</summary>
    /// <param name="net">The stack.</param>
    /// <param name="family">AF_INET or AF_INET6 (the .NET values <see cref="AddressFamily.InterNetwork"/>, <see cref="AddressFamily.InterNetworkV6"/>); an AF_INET6 socket is dual stack (IPv4 peers as ::ffff:a.b.c.d) unless <see cref="DualMode"/> is turned off.</param>
    /// <param name="type">Stream, Dgram or Raw.</param>
    /// <param name="protocol">Tcp, Udp, Icmp, or Unspecified/IP for the type's default.</param>
    public NetSocket(NetNamespace net, AddressFamily family, SocketType type, ProtocolType protocol = ProtocolType.Unspecified)
        : this(net.Files, SocketConvert.Family(family), SocketConvert.Type(type), SocketConvert.Protocol(protocol)) { }

    /// <summary>socket(family, type, protocol) with Linux's numbers (AF_INET, SOCK_STREAM|SOCK_NONBLOCK, IPPROTO_TCP...).</summary>
    public NetSocket(NetNamespace net, int family, int type, int protocol = 0) : this(net.Files, family, type, protocol) { }

    /// <summary>socket(family, type, protocol) as the given caller (a descriptor table of its own).</summary>
    public NetSocket(FdTable files, int family, int type, int protocol = 0)
    {
        ArgumentNullException.ThrowIfNull(files);
        Files = files;
        _fd = Check(SocketCalls.Socket(files, family, type, protocol), "socket");
        lock (files.Net.SyncRoot) (_sock, _sockGeneration) = Own(files, _fd);
    }

    /// <summary>Wraps a descriptor that is already open (e.g. from accept).</summary>
    public NetSocket(FdTable files, int fd)
    {
        ArgumentNullException.ThrowIfNull(files);
        Files = files;
        _fd = fd;
        lock (files.Net.SyncRoot) (_sock, _sockGeneration) = Own(files, fd);
    }

    private static (BsdSocket?, uint) Own(FdTable files, int fd) => files.Lookup(fd) is { } s ? (s, s.Generation) : (null, 0);

    /// <summary>A UDP socket: socket(AF_INET, SOCK_DGRAM, 0).</summary>
    public static NetSocket Udp(NetNamespace net) => new(net, AF_INET, SOCK_DGRAM);

    /// <summary>A TCP socket: socket(AF_INET, SOCK_STREAM, 0).</summary>
    public static NetSocket Tcp(NetNamespace net) => new(net, AF_INET, SOCK_STREAM);

    /// <summary>A ping socket: socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP).</summary>
    public static NetSocket Ping(NetNamespace net) => new(net, AF_INET, SOCK_DGRAM, IPPROTO_ICMP);

    /// <summary>The descriptor table (the "process") this socket belongs to.</summary>
    public FdTable Files { get; }
    /// <summary>The stack this socket lives in.</summary>
    public NetNamespace Net => Files.Net;
    /// <summary>The descriptor, or -1 once disposed.</summary>
    public int Fd => _fd;

    /// <summary>SO_DOMAIN as .NET's <see cref="System.Net.Sockets.AddressFamily"/>.</summary>
    public AddressFamily AddressFamily => Domain switch
    {
        AF_INET => AddressFamily.InterNetwork,
        AF_INET6 => AddressFamily.InterNetworkV6,
        _ => AddressFamily.Unknown,
    };

    private int _domain = -1;

    /// <summary>
    /// Whether an AF_INET6 socket also speaks IPv4 through v4-mapped addresses: IPV6_V6ONLY off
    /// (the default from net.ipv6.bindv6only). Settable only before the socket is bound.
    /// </summary>
    public bool DualMode
    {
        get => GetOption(SOL_IPV6, IPV6_V6ONLY) == 0;
        set => Check(SocketCalls.Setsockopt(Files, FdOrThrow, SOL_IPV6, IPV6_V6ONLY, value ? 0 : 1), "setsockopt(IPV6_V6ONLY)");
    }

    /// <summary>SO_DOMAIN, read once: how endpoints are turned into sockaddrs for this socket.</summary>
    private int Domain => _domain >= 0 ? _domain : (_domain = GetOption(SOL_SOCKET, SO_DOMAIN));
    /// <summary>SO_TYPE as .NET's <see cref="System.Net.Sockets.SocketType"/>.</summary>
    public SocketType SocketType => (SocketType)GetOption(SOL_SOCKET, SO_TYPE);
    /// <summary>SO_PROTOCOL as .NET's <see cref="System.Net.Sockets.ProtocolType"/>.</summary>
    public ProtocolType ProtocolType => (ProtocolType)GetOption(SOL_SOCKET, SO_PROTOCOL);

    private static int Check(int ret, string what) => ret < 0 ? Throw(ret, what) : ret;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Throw(int ret, string what) => throw Error(ret, what);

    private static NetStackException Error(int ret, string what) => new(ret, $"{what}: {Errno.Name(ret)}");

    private int FdOrThrow => _fd >= 0 ? _fd : throw new ObjectDisposedException(nameof(NetSocket));

    // ------------------------------------------------------------------ setup

    /// <summary>bind(2).</summary>
    public void Bind(EndPoint localEP) => Check(SocketCalls.Bind(Files, FdOrThrow, SocketConvert.ToSockAddr(localEP, Domain)), "bind");

    /// <summary>listen(2).</summary>
    public void Listen(int backlog = 128) => Check(SocketCalls.Listen(Files, FdOrThrow, backlog), "listen");

    /// <summary>connect(2), blocking unless the socket is non-blocking.</summary>
    public void Connect(EndPoint remoteEP) => Check(SocketCalls.Connect(Files, FdOrThrow, SocketConvert.ToSockAddr(remoteEP, Domain)), "connect");

    /// <summary>connect(2) to an address and port.</summary>
    public void Connect(IPAddress address, int port) => Connect(new IPEndPoint(address, port));

    /// <summary>Connects without blocking a thread: a non-blocking connect, then (EINPROGRESS) waiting for writability and SO_ERROR.</summary>
    public ValueTask ConnectAsync(EndPoint remoteEP, CancellationToken cancellationToken = default)
    {
        int fd = FdOrThrow;
        var sa = SocketConvert.ToSockAddr(remoteEP, Domain);
        int r = SocketCalls.Connect(Files, fd, sa, forceNonblock: true);
        if (r == 0) return ValueTask.CompletedTask;
        if (r != -Errno.EINPROGRESS && r != -Errno.EALREADY) return ValueTask.FromException(Error(r, "connect"));
        return ConnectSlowAsync(fd, sa, cancellationToken);
    }

    /// <summary>Connects to an address and port without blocking a thread.</summary>
    public ValueTask ConnectAsync(IPAddress address, int port, CancellationToken cancellationToken = default) =>
        ConnectAsync(new IPEndPoint(address, port), cancellationToken);

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ConnectSlowAsync(int fd, SockAddr sa, CancellationToken ct)
    {
        await PollAsync(POLLOUT, ct).ConfigureAwait(false);
        // The outcome: SO_ERROR, then a second connect() that answers 0 (connected) like a C program's.
        Check(SocketCalls.Getsockopt(Files, fd, SOL_SOCKET, SO_ERROR, out int soError), "getsockopt");
        if (soError != 0) Throw(-soError, "connect");
        int r = SocketCalls.Connect(Files, fd, sa, forceNonblock: true);
        if (r < 0 && r != -Errno.EISCONN) Throw(r, "connect");
    }

    /// <summary>accept4(2), blocking unless the socket is non-blocking; <paramref name="flags"/> takes SOCK_NONBLOCK/SOCK_CLOEXEC.</summary>
    public NetSocket Accept(out IPEndPoint remoteEP, int flags = 0)
    {
        int nfd = Check(SocketCalls.Accept4(Files, FdOrThrow, out var sa, flags), "accept");
        remoteEP = SocketConvert.ToIPEndPoint(sa);
        return new NetSocket(Files, nfd);
    }

    /// <summary>accept(2), blocking unless the socket is non-blocking.</summary>
    public NetSocket Accept() => new(Files, Check(SocketCalls.Accept4(Files, FdOrThrow, out _, 0), "accept"));

    /// <summary>Accepts without blocking a thread.</summary>
    public ValueTask<NetSocket> AcceptAsync(CancellationToken cancellationToken = default)
    {
        int fd = FdOrThrow;
        if (TryOnce(Op.Accept, fd, default, default, 0, default, out int r, out _, out var wait, cancellationToken))
            return r >= 0 ? new ValueTask<NetSocket>(new NetSocket(Files, r)) : ValueTask.FromException<NetSocket>(Error(r, "accept"));
        return AcceptSlowAsync(fd, wait, cancellationToken);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<NetSocket> AcceptSlowAsync(int fd, ValueTask<int> wait, CancellationToken ct)
    {
        int r = await SlowAsync(Op.Accept, fd, default, default, 0, default, wait, "accept", ct).ConfigureAwait(false);
        return new NetSocket(Files, r);
    }

    // ------------------------------------------------------------------ data

    /// <summary>send(2).</summary>
    public int Send(ReadOnlySpan<byte> buffer) => Send(buffer, 0);

    /// <summary>send(2) with .NET's flags (OutOfBand, DontRoute).</summary>
    public int Send(ReadOnlySpan<byte> buffer, SocketFlags socketFlags) => Send(buffer, SocketConvert.Flags(socketFlags));

    /// <summary>send(2) with Linux's MSG_* flags.</summary>
    public int Send(ReadOnlySpan<byte> buffer, int flags) => Check(SocketCalls.Send(Files, FdOrThrow, buffer, flags), "send");

    /// <summary>recv(2); 0 at end of stream.</summary>
    public int Receive(Span<byte> buffer) => Receive(buffer, 0);

    /// <summary>recv(2) with .NET's flags (Peek, OutOfBand).</summary>
    public int Receive(Span<byte> buffer, SocketFlags socketFlags) => Receive(buffer, SocketConvert.Flags(socketFlags));

    /// <summary>recv(2) with Linux's MSG_* flags.</summary>
    public int Receive(Span<byte> buffer, int flags) => Check(SocketCalls.Recv(Files, FdOrThrow, buffer, flags), "recv");

    /// <summary>sendto(2).</summary>
    public int SendTo(ReadOnlySpan<byte> buffer, EndPoint remoteEP) => SendTo(buffer, 0, remoteEP);

    /// <summary>sendto(2) with Linux's MSG_* flags.</summary>
    public int SendTo(ReadOnlySpan<byte> buffer, int flags, EndPoint remoteEP) =>
        Check(SocketCalls.Sendto(Files, FdOrThrow, buffer, flags, SocketConvert.ToSockAddr(remoteEP, Domain)), "sendto");

    /// <summary>
    /// recvfrom(2). As <see cref="System.Net.Sockets.Socket.ReceiveFrom(byte[], ref EndPoint)"/>,
    /// <paramref name="remoteEP"/> is replaced only when the sender differs from it.
    /// </summary>
    public int ReceiveFrom(Span<byte> buffer, ref EndPoint remoteEP) => ReceiveFrom(buffer, 0, ref remoteEP);

    /// <summary>recvfrom(2) with Linux's MSG_* flags.</summary>
    public int ReceiveFrom(Span<byte> buffer, int flags, ref EndPoint remoteEP)
    {
        int n = Check(SocketCalls.Recvfrom(Files, FdOrThrow, buffer, flags, out var sa), "recvfrom");
        if (remoteEP is not IPEndPoint ip || !SocketConvert.Equals(ip, sa)) remoteEP = FromEndPoint(sa);
        return n;
    }

    /// <summary>
    /// The control buffer <see cref="ReceiveMessage(Span{byte}, int)"/> passes: room for every SOL_IP
    /// message the stack sends (IP_PKTINFO 32 bytes, IP_TTL 24, IP_TOS 24, IP_ORIGDSTADDR 32), on the stack.
    /// </summary>
    private const int ControlBufferSize = 128;

    /// <summary>recvmsg(2): the datagram, its sender and the control messages the socket asked for (<see cref="ReceiveTtl"/>...).</summary>
    public NetReceiveMessageResult ReceiveMessage(Span<byte> buffer) => ReceiveMessage(buffer, 0);

    /// <summary>
    /// recvmsg(2) with Linux's MSG_* flags, blocking unless the socket is non-blocking: the byte count,
    /// msg_flags, the sender, and the SOL_IP control messages the options asked for: the TTL
    /// (<see cref="ReceiveTtl"/>), the TOS byte (<see cref="ReceiveTos"/>), the arrival interface and
    /// addresses (<see cref="ReceivePacketInformation"/>), the original destination
    /// (<see cref="ReceiveOriginalDestination"/>). As <see cref="Socket.ReceiveMessageFrom(Span{byte}, ref SocketFlags, ref EndPoint, out IPPacketInformation)"/>
    /// does for .NET's sockets, with the kernel's messages as they are. Allocates nothing while the
    /// sender stays the same.
    /// <code>
    /// ping.ReceiveTtl = true;
    /// var r = ping.ReceiveMessage(reply);
    /// Console.WriteLine($"{r.ReceivedBytes} bytes from {r.RemoteEndPoint?.Address}: ttl={r.Ttl}");
    /// </code>
    /// </summary>
    /// <param name="buffer">Where the data goes; a longer datagram is cut (MSG_TRUNC in <see cref="NetReceiveMessageResult.MessageFlags"/>).</param>
    /// <param name="flags">MSG_PEEK, MSG_DONTWAIT, MSG_TRUNC...</param>
    public NetReceiveMessageResult ReceiveMessage(Span<byte> buffer, int flags)
    {
        Span<byte> control = stackalloc byte[ControlBufferSize];
        var msg = new MsgHdr { HasName = true, Control = control };
        int n = Check(SocketCalls.Recvmsg(Files, FdOrThrow, ref msg, buffer, flags), "recvmsg");
        return NetReceiveMessageResult.Create(n, msg.Flags, msg.NameLen == 0 ? null : FromEndPoint(msg.Name), control[..msg.ControlLen]);
    }

    /// <summary>recvmsg(2) without blocking a thread: <see cref="ReceiveMessage(Span{byte}, int)"/>'s result.</summary>
    public ValueTask<NetReceiveMessageResult> ReceiveMessageAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        ReceiveMessageAsync(buffer, 0, cancellationToken);

    /// <summary>recvmsg(2) with Linux's MSG_* flags without blocking a thread (MSG_DONTWAIT: fail with EAGAIN instead of waiting).</summary>
    public ValueTask<NetReceiveMessageResult> ReceiveMessageAsync(Memory<byte> buffer, int flags, CancellationToken cancellationToken = default)
    {
        int fd = FdOrThrow;
        if (TryReceiveMessage(fd, buffer, flags, out int r, out var result, out var wait, cancellationToken))
            return r >= 0 ? new ValueTask<NetReceiveMessageResult>(result) : ValueTask.FromException<NetReceiveMessageResult>(Error(r, "recvmsg"));
        return ReceiveMessageSlowAsync(fd, buffer, flags, wait, cancellationToken);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<NetReceiveMessageResult> ReceiveMessageSlowAsync(int fd, Memory<byte> buffer, int flags, ValueTask<int> wait, CancellationToken ct)
    {
        while (true)
        {
            await wait.ConfigureAwait(false);
            if (TryReceiveMessage(fd, buffer, flags, out int r, out var result, out wait, ct))
                return r >= 0 ? result : throw Error(r, "recvmsg");
        }
    }

    /// <summary>One non-blocking recvmsg under the stack lock, as <see cref="TryOnce"/> (whose waiting rules it shares).</summary>
    private bool TryReceiveMessage(int fd, Memory<byte> buffer, int flags, out int r, out NetReceiveMessageResult result, out ValueTask<int> wait, CancellationToken ct)
    {
        result = default;
        if (Cancelled(ct, out r, out wait)) return false;
        Span<byte> control = stackalloc byte[ControlBufferSize];
        var msg = new MsgHdr { HasName = true, Control = control };
        bool done;
        using (new SyscallLock(Net))
        {
            if (!OwnsFd(fd)) { r = -Errno.EBADF; return true; }
            r = SocketCalls.Recvmsg(Files, fd, ref msg, buffer.Span, flags | MSG_DONTWAIT);
            done = Done(ref r, fd, flags, write: false, ct, ref wait);
        }
        if (done && r >= 0)
            result = NetReceiveMessageResult.Create(r, msg.Flags, msg.NameLen == 0 ? null : FromEndPoint(msg.Name), control[..msg.ControlLen]);
        return done;
    }

    /// <summary>send(2) without blocking a thread.</summary>
    public ValueTask<int> SendAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
        RunAsync(Op.Send, default, buffer, 0, default, "send", cancellationToken);

    /// <summary>send(2) with .NET's flags without blocking a thread.</summary>
    public ValueTask<int> SendAsync(ReadOnlyMemory<byte> buffer, SocketFlags socketFlags, CancellationToken cancellationToken = default) =>
        RunAsync(Op.Send, default, buffer, SocketConvert.Flags(socketFlags), default, "send", cancellationToken);

    /// <summary>send(2) with Linux's MSG_* flags without blocking a thread (MSG_DONTWAIT: fail with EAGAIN instead of waiting).</summary>
    public ValueTask<int> SendAsync(ReadOnlyMemory<byte> buffer, int flags, CancellationToken cancellationToken = default) =>
        RunAsync(Op.Send, default, buffer, flags, default, "send", cancellationToken);

    /// <summary>sendto(2) without blocking a thread.</summary>
    public ValueTask<int> SendToAsync(ReadOnlyMemory<byte> buffer, EndPoint remoteEP, CancellationToken cancellationToken = default) =>
        RunAsync(Op.SendTo, default, buffer, 0, SocketConvert.ToSockAddr(remoteEP, Domain), "sendto", cancellationToken);

    /// <summary>sendto(2) with Linux's MSG_* flags without blocking a thread.</summary>
    public ValueTask<int> SendToAsync(ReadOnlyMemory<byte> buffer, int flags, EndPoint remoteEP, CancellationToken cancellationToken = default) =>
        RunAsync(Op.SendTo, default, buffer, flags, SocketConvert.ToSockAddr(remoteEP, Domain), "sendto", cancellationToken);

    /// <summary>recv(2) without blocking a thread; 0 at end of stream.</summary>
    public ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        RunAsync(Op.Recv, buffer, default, 0, default, "recv", cancellationToken);

    /// <summary>recv(2) with .NET's flags without blocking a thread.</summary>
    public ValueTask<int> ReceiveAsync(Memory<byte> buffer, SocketFlags socketFlags, CancellationToken cancellationToken = default) =>
        RunAsync(Op.Recv, buffer, default, SocketConvert.Flags(socketFlags), default, "recv", cancellationToken);

    /// <summary>recv(2) with Linux's MSG_* flags without blocking a thread.</summary>
    public ValueTask<int> ReceiveAsync(Memory<byte> buffer, int flags, CancellationToken cancellationToken = default) =>
        RunAsync(Op.Recv, buffer, default, flags, default, "recv", cancellationToken);

    /// <summary>recvfrom(2) without blocking a thread: the byte count and the sender.</summary>
    public ValueTask<SocketReceiveFromResult> ReceiveFromAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        ReceiveFromAsync(buffer, 0, cancellationToken);

    /// <summary>recvfrom(2) with Linux's MSG_* flags without blocking a thread.</summary>
    public ValueTask<SocketReceiveFromResult> ReceiveFromAsync(Memory<byte> buffer, int flags, CancellationToken cancellationToken = default)
    {
        int fd = FdOrThrow;
        if (TryOnce(Op.RecvFrom, fd, buffer, default, flags, default, out int r, out var from, out var wait, cancellationToken))
            return r >= 0
                ? new ValueTask<SocketReceiveFromResult>(new SocketReceiveFromResult { ReceivedBytes = r, RemoteEndPoint = FromEndPoint(from) })
                : ValueTask.FromException<SocketReceiveFromResult>(Error(r, "recvfrom"));
        return ReceiveFromSlowAsync(fd, buffer, flags, wait, cancellationToken);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<SocketReceiveFromResult> ReceiveFromSlowAsync(int fd, Memory<byte> buffer, int flags, ValueTask<int> wait, CancellationToken ct)
    {
        while (true)
        {
            await wait.ConfigureAwait(false);
            if (TryOnce(Op.RecvFrom, fd, buffer, default, flags, default, out int r, out var from, out wait, ct))
                return r >= 0 ? new SocketReceiveFromResult { ReceivedBytes = r, RemoteEndPoint = FromEndPoint(from) } : throw Error(r, "recvfrom");
        }
    }

    /// <summary>The sender as an <see cref="IPEndPoint"/>, the same object as last time when the sender is the same.</summary>
    private IPEndPoint FromEndPoint(in SockAddr sa)
    {
        var c = _lastFrom;
        if (c is not null && c.Family == sa.Family && c.Addr == sa.Addr && c.Addr6 == sa.Addr6 && c.ScopeId == sa.ScopeId && c.Port == sa.Port) return c.EndPoint;
        var ep = SocketConvert.ToIPEndPoint(sa);
        _lastFrom = new EndPointCache(sa.Family, sa.Addr, sa.Addr6, sa.ScopeId, sa.Port, ep);
        return ep;
    }

    private sealed record EndPointCache(ushort Family, uint Addr, UInt128 Addr6, uint ScopeId, ushort Port, IPEndPoint EndPoint);

    /// <summary>Waits until poll() reports one of <paramref name="events"/> (POLLIN, POLLOUT..., or an error/hangup); returns the revents.</summary>
    public ValueTask<int> PollAsync(int events, CancellationToken cancellationToken = default)
    {
        int fd = FdOrThrow;
        ValueTask<int> wait;
        using (new SyscallLock(Net))
        {
            int mask = SocketCalls.SockPoll(Files, fd) & (events | POLLERR | POLLHUP | POLLNVAL);
            if (mask != 0) return new ValueTask<int>(mask);
            wait = WaiterFor(fd, events).Arm(cancellationToken, alsoWritable: (events & POLLOUT) != 0);
        }
        return PollSlowAsync(fd, events, wait, cancellationToken);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> PollSlowAsync(int fd, int events, ValueTask<int> wait, CancellationToken ct)
    {
        while (true)
        {
            await wait.ConfigureAwait(false);
            using (new SyscallLock(Net))
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
    private bool OwnsFd(int fd) => _sock is not null && ReferenceEquals(Files.Lookup(fd), _sock) && _sock.Generation == _sockGeneration;

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
        if (Cancelled(ct, out r, out wait)) return false;
        using (new SyscallLock(Net))
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
            return Done(ref r, fd, flags, write: op is Op.Send or Op.SendTo, ct, ref wait);
        }
    }

    /// <summary>A cancelled call does not try: false, with a <paramref name="wait"/> that throws the caller's token.</summary>
    private static bool Cancelled(CancellationToken ct, out int r, out ValueTask<int> wait)
    {
        r = int.MinValue;
        wait = ct.IsCancellationRequested ? ValueTask.FromCanceled<int>(ct) : default;
        return ct.IsCancellationRequested;
    }

    /// <summary>
    /// Under the stack lock, after a non-blocking attempt that answered <paramref name="r"/>: true when
    /// the call is over (with its result in <paramref name="r"/>); false with <paramref name="wait"/>
    /// armed on the socket's read or write waiter.
    /// </summary>
    private bool Done(ref int r, int fd, int flags, bool write, CancellationToken ct, ref ValueTask<int> wait)
    {
        // A caller's own MSG_DONTWAIT means "do not wait" for the async call too.
        if (r != -Errno.EAGAIN || (flags & MSG_DONTWAIT) != 0) return true;
        var sk = Files.Lookup(fd)?.Sk;
        if (sk is null) { r = -Errno.EBADF; return true; }
        wait = (write ? sk.WriteWaiter : sk.ReadWaiter).Arm(ct);
        return false;
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

    /// <summary>shutdown(2) with SHUT_RD, SHUT_WR or SHUT_RDWR.</summary>
    public void Shutdown(int how) => Check(SocketCalls.Shutdown(Files, FdOrThrow, how), "shutdown");

    /// <summary>shutdown(2) with .NET's <see cref="SocketShutdown"/> (Receive, Send, Both: SHUT_RD, SHUT_WR, SHUT_RDWR).</summary>
    public void Shutdown(SocketShutdown how) => Shutdown((int)how);

    // ------------------------------------------------------------------ options and names

    /// <summary>getsockname(2): the local address and port.</summary>
    public IPEndPoint LocalEndPoint
    {
        get
        {
            Check(SocketCalls.Getsockname(Files, FdOrThrow, out var sa), "getsockname");
            return SocketConvert.ToIPEndPoint(sa);
        }
    }

    /// <summary>getpeername(2): the peer's address and port; null when not connected (ENOTCONN), as System.Net.Sockets answers.</summary>
    public IPEndPoint? RemoteEndPoint
    {
        get
        {
            int r = SocketCalls.Getpeername(Files, FdOrThrow, out var sa);
            if (r == -Errno.ENOTCONN) return null;
            Check(r, "getpeername");
            return SocketConvert.ToIPEndPoint(sa);
        }
    }

    /// <summary>Whether the socket has a peer (getpeername succeeds).</summary>
    public bool Connected => _fd >= 0 && SocketCalls.Getpeername(Files, _fd, out _) == 0;

    /// <summary>SIOCINQ (FIONREAD): bytes ready to read.</summary>
    public int Available
    {
        get
        {
            int v = 0;
            Check(SocketCalls.Ioctl(Files, FdOrThrow, FIONREAD, ref v), "ioctl");
            return v;
        }
    }

    /// <summary>
    /// SIOCATMARK (sockatmark(3)): whether the next byte to read is the urgent mark, where a
    /// receive stops so that the urgent byte can be taken with <see cref="SocketFlags.OutOfBand"/>
    /// (what <see cref="System.Net.Sockets.IOControlCode.OobDataRead"/> asks of a .NET socket).
    /// </summary>
    public bool AtMark
    {
        get
        {
            int v = 0;
            Check(SocketCalls.Ioctl(Files, FdOrThrow, SIOCATMARK, ref v), "ioctl");
            return v != 0;
        }
    }

    /// <summary>setsockopt(2) with an int value, Linux's level and name (SOL_SOCKET, SO_REUSEADDR...).</summary>
    public void SetOption(int level, int optname, int value) =>
        Check(SocketCalls.Setsockopt(Files, FdOrThrow, level, optname, value), "setsockopt");

    /// <summary>getsockopt(2) of an int value.</summary>
    public int GetOption(int level, int optname)
    {
        Check(SocketCalls.Getsockopt(Files, FdOrThrow, level, optname, out int v), "getsockopt");
        return v;
    }

    /// <summary>getsockopt(2) into a buffer, as <see cref="Socket.GetRawSocketOption"/>: returns the length the call reports (optlen).</summary>
    public int GetRawOption(int level, int optname, Span<byte> optval)
    {
        int len = optval.Length;
        Check(SocketCalls.Getsockopt(Files, FdOrThrow, level, optname, optval, ref len), "getsockopt");
        return len;
    }

    /// <summary>
    /// getsockopt(IPPROTO_TCP, TCP_INFO), TCP_CONGESTION and TCP_CC_INFO: the connection's state and
    /// counters as `ss -ti` shows them, with BBR's or DCTCP's own report (<see cref="TcpInfo.Bbr"/>,
    /// <see cref="TcpInfo.Dctcp"/>), whose union member the algorithm's name tells, as for a C program.
    /// </summary>
    /// <exception cref="NetStackException">Not a TCP socket (ENOPROTOOPT, or what the protocol answers).</exception>
    public TcpInfo GetTcpInfo()
    {
        Span<byte> info = stackalloc byte[TcpInfo.Size];
        int len = GetRawOption(IPPROTO_TCP, TCP_INFO, info);
        Span<byte> name = stackalloc byte[16];
        int nlen = GetRawOption(IPPROTO_TCP, TCP_CONGESTION, name);
        name = name[..nlen];
        int nul = name.IndexOf((byte)0);
        string cc = System.Text.Encoding.ASCII.GetString(nul >= 0 ? name[..nul] : name);
        Span<byte> ccInfo = stackalloc byte[TcpCcInfo.Size];
        int cclen = GetRawOption(IPPROTO_TCP, TCP_CC_INFO, ccInfo);
        var parsed = TcpInfo.Parse(info[..len], cc);
        if (cclen == 0) return parsed;
        return cc switch
        {
            "bbr" => parsed with { Bbr = BbrInfo.Parse(ccInfo[..cclen]) },
            "dctcp" or "dctcp-reno" => parsed with { Dctcp = DctcpInfo.Parse(ccInfo[..cclen]) },
            _ => parsed,
        };
    }

    private bool GetFlag(int level, int optname) => GetOption(level, optname) != 0;

    private void SetFlag(int level, int optname, bool value) => SetOption(level, optname, value ? 1 : 0);

    /// <summary>TCP_NODELAY: send small segments at once instead of waiting (Nagle off).</summary>
    public bool NoDelay
    {
        get => GetFlag(IPPROTO_TCP, TCP_NODELAY);
        set => SetFlag(IPPROTO_TCP, TCP_NODELAY, value);
    }

    /// <summary>
    /// TCP_FASTOPEN on a listener: how many TCP Fast Open connections (RFC 7413) may wait in
    /// SYN_RECEIVED with their SYN's data accepted (0: none; at most net.core.somaxconn). The
    /// server side also needs bit 0x2 of net.ipv4.tcp_fastopen.
    /// </summary>
    public int FastOpenQueueLength
    {
        get => GetOption(IPPROTO_TCP, TCP_FASTOPEN);
        set => SetOption(IPPROTO_TCP, TCP_FASTOPEN, value);
    }

    /// <summary>
    /// TCP_FASTOPEN_CONNECT: with a Fast Open cookie cached for the destination, <see cref="Connect(EndPoint)"/>
    /// returns at once and the first send goes out in the SYN (set before connecting).
    /// </summary>
    public bool FastOpenConnect
    {
        get => GetFlag(IPPROTO_TCP, TCP_FASTOPEN_CONNECT);
        set => SetFlag(IPPROTO_TCP, TCP_FASTOPEN_CONNECT, value);
    }

    /// <summary>SO_KEEPALIVE.</summary>
    public bool KeepAlive
    {
        get => GetFlag(SOL_SOCKET, SO_KEEPALIVE);
        set => SetFlag(SOL_SOCKET, SO_KEEPALIVE, value);
    }

    /// <summary>SO_REUSEADDR.</summary>
    public bool ReuseAddress
    {
        get => GetFlag(SOL_SOCKET, SO_REUSEADDR);
        set => SetFlag(SOL_SOCKET, SO_REUSEADDR, value);
    }

    /// <summary>SO_BROADCAST.</summary>
    public bool EnableBroadcast
    {
        get => GetFlag(SOL_SOCKET, SO_BROADCAST);
        set => SetFlag(SOL_SOCKET, SO_BROADCAST, value);
    }

    /// <summary>SO_RCVBUF (Linux doubles what is set, and reports the doubled value).</summary>
    public int ReceiveBufferSize
    {
        get => GetOption(SOL_SOCKET, SO_RCVBUF);
        set => SetOption(SOL_SOCKET, SO_RCVBUF, value);
    }

    /// <summary>SO_SNDBUF (Linux doubles what is set, and reports the doubled value).</summary>
    public int SendBufferSize
    {
        get => GetOption(SOL_SOCKET, SO_SNDBUF);
        set => SetOption(SOL_SOCKET, SO_SNDBUF, value);
    }

    /// <summary>IP_TTL: the time to live of unicast datagrams.</summary>
    public short Ttl
    {
        get => (short)GetOption(IPPROTO_IP, IP_TTL);
        set => SetOption(IPPROTO_IP, IP_TTL, value);
    }

    /// <summary>IP_RECVTTL: <see cref="ReceiveMessage(Span{byte}, int)"/> reports each datagram's TTL (<see cref="NetReceiveMessageResult.Ttl"/>).</summary>
    public bool ReceiveTtl
    {
        get => GetFlag(IPPROTO_IP, IP_RECVTTL);
        set => SetFlag(IPPROTO_IP, IP_RECVTTL, value);
    }

    /// <summary>IP_RECVTOS: <see cref="ReceiveMessage(Span{byte}, int)"/> reports each datagram's TOS byte (<see cref="NetReceiveMessageResult.Tos"/>).</summary>
    public bool ReceiveTos
    {
        get => GetFlag(IPPROTO_IP, IP_RECVTOS);
        set => SetFlag(IPPROTO_IP, IP_RECVTOS, value);
    }

    /// <summary>
    /// IP_PKTINFO (.NET's <see cref="SocketOptionName.PacketInformation"/>): <see cref="ReceiveMessage(Span{byte}, int)"/>
    /// reports each datagram's interface and addresses (<see cref="NetReceiveMessageResult.PacketInformation"/>).
    /// UDP and raw sockets note them when a datagram is queued, so turn it on before datagrams arrive.
    /// </summary>
    public bool ReceivePacketInformation
    {
        get => GetFlag(IPPROTO_IP, IP_PKTINFO);
        set => SetFlag(IPPROTO_IP, IP_PKTINFO, value);
    }

    /// <summary>IP_RECVORIGDSTADDR: <see cref="ReceiveMessage(Span{byte}, int)"/> reports each datagram's destination address and port (<see cref="NetReceiveMessageResult.OriginalDestination"/>).</summary>
    public bool ReceiveOriginalDestination
    {
        get => GetFlag(IPPROTO_IP, IP_RECVORIGDSTADDR);
        set => SetFlag(IPPROTO_IP, IP_RECVORIGDSTADDR, value);
    }

    /// <summary>SO_LINGER: whether and how long close() waits for unsent data (0 seconds: close sends RST).</summary>
    public LingerOption LingerState
    {
        get
        {
            Span<byte> l = stackalloc byte[8];
            int len = 8;
            Check(SocketCalls.Getsockopt(Files, FdOrThrow, SOL_SOCKET, SO_LINGER, l, ref len), "getsockopt");
            return new LingerOption(BinaryPrimitives.ReadInt32LittleEndian(l) != 0, BinaryPrimitives.ReadInt32LittleEndian(l[4..]));
        }
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            Span<byte> l = stackalloc byte[8];
            BinaryPrimitives.WriteInt32LittleEndian(l, value.Enabled ? 1 : 0);
            BinaryPrimitives.WriteInt32LittleEndian(l[4..], value.LingerTime);
            Check(SocketCalls.Setsockopt(Files, FdOrThrow, SOL_SOCKET, SO_LINGER, l), "setsockopt");
        }
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

    /// <summary>
    /// Whether this socket's async calls, when the stack's receive thread makes them ready (data or
    /// a FIN arrived, an ACK freed send space), continue on that thread right after its receive
    /// batch releases the stack lock, instead of on the thread pool. Off by default. It saves the
    /// wake-up of a pool thread per wait, most of a small request/response's cost on a busy
    /// machine, as DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS does for System.Net.Sockets. The
    /// continuation must not block (no synchronous socket call, no <c>.Result</c> or <c>Wait()</c>, no
    /// long computation): until it returns or awaits, the stack receives nothing on that device.
    /// A connection accepted from a listener with it set has it set too.
    /// </summary>
    public bool InlineCompletions
    {
        get
        {
            using (new SyscallLock(Net)) return SkOf(FdOrThrow).InlineCompletions;
        }
        set
        {
            using (new SyscallLock(Net)) SkOf(FdOrThrow).InlineCompletions = value;
        }
    }

    /// <summary>SO_RCVTIMEO in milliseconds, as <see cref="System.Net.Sockets.Socket.ReceiveTimeout"/>: 0 or -1 wait forever; a blocking receive that times out fails with EAGAIN (SocketError.WouldBlock).</summary>
    public int ReceiveTimeout
    {
        get => GetTimeval(SO_RCVTIMEO);
        set => SetTimeval(SO_RCVTIMEO, value);
    }

    /// <summary>SO_SNDTIMEO in milliseconds (0 or -1: forever).</summary>
    public int SendTimeout
    {
        get => GetTimeval(SO_SNDTIMEO);
        set => SetTimeval(SO_SNDTIMEO, value);
    }

    private void SetTimeval(int opt, int ms)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(ms, -1);
        if (ms == -1) ms = 0;
        Span<byte> tv = stackalloc byte[16];
        BinaryPrimitives.WriteInt64LittleEndian(tv, ms / 1000);
        BinaryPrimitives.WriteInt64LittleEndian(tv[8..], ms % 1000 * 1000);
        Check(SocketCalls.Setsockopt(Files, FdOrThrow, SOL_SOCKET, opt, tv), "setsockopt");
    }

    private int GetTimeval(int opt)
    {
        Span<byte> tv = stackalloc byte[16];
        int len = 16;
        Check(SocketCalls.Getsockopt(Files, FdOrThrow, SOL_SOCKET, opt, tv, ref len), "getsockopt");
        long sec = BinaryPrimitives.ReadInt64LittleEndian(tv);
        long usec = BinaryPrimitives.ReadInt64LittleEndian(tv[8..]);
        return (int)Math.Min(int.MaxValue, sec * 1000 + (usec + 999) / 1000);
    }

    private Sock SkOf(int fd) =>
        Files.Lookup(fd)?.Sk ?? throw new NetStackException(Errno.EBADF, "socket closed");

    /// <summary>A <see cref="NetStream"/> over this connected stream socket; disposing the stream closes the socket unless <paramref name="ownsSocket"/> is false.</summary>
    public NetStream GetStream(bool ownsSocket = true) => new(this, ownsSocket);

    /// <summary>close(2).</summary>
    public void Dispose()
    {
        int fd = Interlocked.Exchange(ref _fd, -1);
        if (fd >= 0) SocketCalls.Close(Files, fd);
    }

    /// <summary>close(2); completes at once (close never blocks unless SO_LINGER asks it to).</summary>
    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    public override string ToString() => $"NetSocket(fd {_fd})";
}
