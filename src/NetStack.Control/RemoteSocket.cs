using System.Globalization;
using System.Net;
using System.Text.Json.Nodes;
using NetStack.Api;
using NetStack.Uapi;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Control;

/// <summary>What <see cref="RemoteSocket.ReceiveMessage"/> received.</summary>
/// <param name="ReceivedBytes">The datagram's or the stream's bytes (a datagram longer than the buffer is cut; MSG_TRUNC says so).</param>
/// <param name="MessageFlags">msg_flags (MSG_TRUNC, MSG_CTRUNC, ...).</param>
/// <param name="RemoteEndPoint">The sender, when the socket has one to report.</param>
/// <param name="Ttl">The IP TTL (IP_RECVTTL), when asked for.</param>
/// <param name="Tos">The IP TOS byte (IP_RECVTOS), when asked for.</param>
public readonly record struct RemoteReceiveResult(int ReceivedBytes, int MessageFlags, IPEndPoint? RemoteEndPoint, int? Ttl, int? Tos);

/// <summary>
/// A descriptor of a running stack, used through its control socket (<see cref="RemoteStack"/>): the
/// BSD calls of <see cref="NetSocket"/>, each one request of the protocol. A failed call throws
/// <see cref="NetStackException"/> with the stack's errno.
/// <para>Blocking calls without a cancellation token are one blocking request each; with a token that can
/// be cancelled they wait in short polls (<see cref="PollSliceMs"/>) and then make the call without
/// blocking, so that cancelling never leaves a call pending in the stack that would take data nobody
/// reads.</para>
/// </summary>
public sealed class RemoteSocket : IDisposable
{
    /// <summary>The most bytes one send request carries: the data travels as hex in a request line of at most <see cref="ControlServer.MaxLineBytes"/>.</summary>
    public const int MaxSendChunk = 32000;

    /// <summary>The most bytes one receive request asks for.</summary>
    public const int MaxReceiveChunk = 65536;

    /// <summary>How long a cancellable wait polls before it looks at its token again, in milliseconds.</summary>
    public const int PollSliceMs = 200;

    private int _fd;

    internal RemoteSocket(RemoteStack stack, int fd)
    {
        Stack = stack;
        _fd = fd;
    }

    /// <summary>The stack the descriptor belongs to.</summary>
    public RemoteStack Stack { get; }

    /// <summary>The descriptor in the stack (-1 once closed).</summary>
    public int Fd => _fd;

    private int FdOrThrow => _fd >= 0 ? _fd : throw new ObjectDisposedException(nameof(RemoteSocket));

    private JsonObject Call(string op, JsonObject args)
    {
        args["op"] = op;
        args["fd"] = FdOrThrow;
        return Stack.Call(args);
    }

    private static JsonObject Addr(IPEndPoint ep)
    {
        ArgumentNullException.ThrowIfNull(ep);
        if (ep.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6)
        {
            // A sockaddr_in6: the shell takes the address without its zone, the zone as scope_id.
            var o = new JsonObject { ["addr"] = new IPAddress(ep.Address.GetAddressBytes()).ToString(), ["port"] = ep.Port };
            if (ep.Address.ScopeId != 0) o["scope_id"] = ep.Address.ScopeId;
            return o;
        }
        if (ep.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
            throw new NetStackException(Errno.EAFNOSUPPORT, $"{ep}: not an IPv4 or IPv6 end point");
        return new JsonObject { ["addr"] = ep.Address.ToString(), ["port"] = ep.Port };
    }

    private static IPEndPoint EndPoint(JsonObject r)
    {
        var a = IPAddress.Parse((string)r["addr"]!);
        if (r["scope_id"] is JsonValue v && v.TryGetValue<long>(out long scope)) a.ScopeId = scope;
        return new(a, (int)r["port"]!);
    }

    /// <summary>bind(2).</summary>
    public void Bind(IPEndPoint localEP) => Call("bind", Addr(localEP));

    /// <summary>connect(2), blocking until a TCP handshake ends.</summary>
    public void Connect(IPEndPoint remoteEP) => Call("connect", Addr(remoteEP));

    /// <summary>connect(2) on a thread-pool thread. Cancelling closes the socket (which ends the call in the stack), as cancelling <see cref="System.Net.Sockets.Socket.ConnectAsync(EndPoint, CancellationToken)"/> does.</summary>
    public async Task ConnectAsync(IPEndPoint remoteEP, CancellationToken cancellationToken = default)
    {
        var args = Addr(remoteEP);
        using var reg = cancellationToken.Register(Dispose);
        try
        {
            await Task.Run(() => Call("connect", args), CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception) when (cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException(cancellationToken);
        }
    }

    /// <summary>listen(2).</summary>
    public void Listen(int backlog = 128) => Call("listen", new JsonObject { ["backlog"] = backlog });

    /// <summary>accept(2): the connection and its peer.</summary>
    /// <param name="remoteEP">The peer's address.</param>
    /// <param name="cancellationToken">Ends the wait (OperationCanceledException); no connection is taken then.</param>
    public RemoteSocket Accept(out IPEndPoint remoteEP, CancellationToken cancellationToken = default)
    {
        WaitFor(POLLIN, cancellationToken);
        var r = Call("accept", new JsonObject());
        remoteEP = EndPoint(r);
        return new RemoteSocket(Stack, (int)r["ret"]!);
    }

    /// <summary>accept(2) on a thread-pool thread.</summary>
    public Task<RemoteSocket> AcceptAsync(CancellationToken cancellationToken = default) =>
        Task.Run(() => Accept(out _, cancellationToken), CancellationToken.None);

    /// <summary>send(2), in requests of at most <see cref="MaxSendChunk"/> bytes: the bytes sent (all of them unless a call sends fewer).</summary>
    public int Send(ReadOnlySpan<byte> buffer, int flags = 0)
    {
        int off = 0;
        do
        {
            var chunk = buffer.Slice(off, Math.Min(MaxSendChunk, buffer.Length - off));
            int n = (int)Call("send", new JsonObject { ["data"] = Convert.ToHexStringLower(chunk), ["flags"] = flags })["ret"]!;
            off += n;
            if (n < chunk.Length) break;
        }
        while (off < buffer.Length);
        return off;
    }

    /// <summary>send(2) of all of <paramref name="buffer"/> on a thread-pool thread.</summary>
    public Task<int> SendAsync(ReadOnlyMemory<byte> buffer, int flags = 0, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return Task.Run(() => Send(buffer.Span, flags), CancellationToken.None);
    }

    /// <summary>sendto(2) of one datagram (at most <see cref="MaxSendChunk"/> bytes: the protocol's line limit).</summary>
    public int SendTo(ReadOnlySpan<byte> buffer, IPEndPoint remoteEP, int flags = 0)
    {
        if (buffer.Length > MaxSendChunk)
            throw new NetStackException(Errno.EMSGSIZE, $"sendto: a datagram through the control socket carries at most {MaxSendChunk} bytes");
        var args = Addr(remoteEP);
        args["data"] = Convert.ToHexStringLower(buffer);
        args["flags"] = flags;
        return (int)Call("sendto", args)["ret"]!;
    }

    /// <summary>recv(2): the bytes received (0 at a TCP end of stream).</summary>
    /// <param name="buffer">Where the bytes go (at most <see cref="MaxReceiveChunk"/> per call).</param>
    /// <param name="flags">MSG_PEEK, MSG_DONTWAIT, ...</param>
    /// <param name="cancellationToken">Ends the wait (OperationCanceledException); nothing is taken from the socket then.</param>
    public int Receive(Span<byte> buffer, int flags = 0, CancellationToken cancellationToken = default)
    {
        var r = ReceiveCall("recv", buffer.Length, flags, cancellationToken);
        return CopyData(r, buffer);
    }

    /// <summary>recv(2) on a thread-pool thread.</summary>
    public Task<int> ReceiveAsync(Memory<byte> buffer, int flags = 0, CancellationToken cancellationToken = default) =>
        Task.Run(() => Receive(buffer.Span, flags, cancellationToken), CancellationToken.None);

    /// <summary>recvfrom(2): the bytes received and the sender.</summary>
    public int ReceiveFrom(Span<byte> buffer, out IPEndPoint remoteEP, int flags = 0, CancellationToken cancellationToken = default)
    {
        var r = ReceiveCall("recvfrom", buffer.Length, flags, cancellationToken);
        remoteEP = r["addr"] is null ? new IPEndPoint(IPAddress.Any, 0) : EndPoint(r);
        return CopyData(r, buffer);
    }

    /// <summary>
    /// recvmsg(2): the bytes, the sender and the IP_TTL/IP_TOS control messages the socket asked for
    /// (<c>SetOption(SOL_IP, IP_RECVTTL, 1)</c>, IP_RECVTOS).
    /// </summary>
    public RemoteReceiveResult ReceiveMessage(Span<byte> buffer, int flags = 0, CancellationToken cancellationToken = default)
    {
        var r = ReceiveCall("recvmsg", buffer.Length, flags, cancellationToken);
        int n = CopyData(r, buffer);
        int? ttl = null, tos = null;
        if (r["cmsg"] is JsonArray list)
        {
            foreach (var c in list)
            {
                if (c is not JsonObject m || (string?)(m["level"] as JsonValue) is not ("SOL_IP" or "SOL_IPV6") || m["value"] is not JsonValue v) continue;
                switch ((string?)(m["type"] as JsonValue))
                {
                    case "IP_TTL" or "IPV6_HOPLIMIT": ttl = v.GetValue<int>(); break;
                    case "IP_TOS": tos = v.GetValue<int>(); break;
                }
            }
        }
        return new RemoteReceiveResult(n, (int?)r["flags"] ?? 0, r["addr"] is null ? null : EndPoint(r), ttl, tos);
    }

    private JsonObject ReceiveCall(string op, int length, int flags, CancellationToken ct)
    {
        var args = new JsonObject { ["len"] = Math.Min(length, MaxReceiveChunk) };
        if ((flags & MSG_DONTWAIT) != 0 || !ct.CanBeCanceled)
        {
            args["flags"] = flags;
            return Call(op, args);
        }
        while (true)
        {
            WaitFor(POLLIN, ct);
            args["flags"] = flags | MSG_DONTWAIT;
            try
            {
                return Call(op, (JsonObject)args.DeepClone());
            }
            catch (NetStackException e) when (e.Errno == Errno.EAGAIN)
            {
                // Readable a moment ago, empty now (another thread read it): wait again.
            }
        }
    }

    private static int CopyData(JsonObject r, Span<byte> buffer)
    {
        int n = (int)r["ret"]!;
        string hex = (string?)r["data"] ?? "";
        int have = Math.Min(hex.Length / 2, buffer.Length);
        if (Convert.FromHexString(hex.AsSpan(0, have * 2), buffer, out _, out _) != System.Buffers.OperationStatus.Done)
            throw new ControlException("a reply with malformed data");
        return n;
    }

    /// <summary>Waits in slices of <see cref="PollSliceMs"/> until <paramref name="events"/> (or an error or hangup) are ready.</summary>
    private void WaitFor(int events, CancellationToken ct)
    {
        if (!ct.CanBeCanceled)
        {
            Poll(events, -1);
            return;
        }
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            if (Poll(events, PollSliceMs) != 0) return;
        }
    }

    /// <summary>poll(2) of this descriptor: the revents (0 on timeout).</summary>
    /// <param name="events">POLLIN, POLLOUT, ...</param>
    /// <param name="timeoutMs">Milliseconds, -1 for no limit.</param>
    public int Poll(int events, int timeoutMs) =>
        (int)Call("poll", new JsonObject { ["events"] = events, ["timeout"] = timeoutMs })["revents"]!;

    /// <summary>shutdown(2): SHUT_RD, SHUT_WR or SHUT_RDWR.</summary>
    public void Shutdown(int how) => Call("shutdown", new JsonObject { ["how"] = how });

    /// <summary>setsockopt(2) of an int option.</summary>
    public void SetOption(int level, int optname, int value) =>
        Call("setsockopt", new JsonObject { ["level"] = level, ["name"] = optname, ["value"] = value });

    /// <summary>getsockopt(2) of an int option.</summary>
    public int GetOption(int level, int optname) =>
        (int?)Call("getsockopt", new JsonObject { ["level"] = level, ["name"] = optname })["value"] ?? 0;

    /// <summary>getsockname(2).</summary>
    public IPEndPoint LocalEndPoint => EndPoint(Call("getsockname", new JsonObject()));

    /// <summary>getpeername(2) (ENOTCONN when not connected).</summary>
    public IPEndPoint RemoteEndPoint => EndPoint(Call("getpeername", new JsonObject()));

    /// <summary>A stream over this (connected TCP) socket; disposing the stream closes the socket.</summary>
    public Stream GetStream() => new RemoteStream(this);

    /// <summary>close(2). A call blocked on the descriptor in another thread ends (EBADF), as in the stack.</summary>
    public void Dispose()
    {
        int fd = Interlocked.Exchange(ref _fd, -1);
        if (fd < 0) return;
        try { Stack.Call(new JsonObject { ["op"] = "close", ["fd"] = fd }); }
        catch (Exception e) when (e is NetStackException or ControlException or ObjectDisposedException)
        {
            // Gone already (the stack or the connection): the descriptor went with it.
        }
    }

    /// <inheritdoc/>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"RemoteSocket(fd {_fd} of {Stack.Name})");

    /// <summary>A connected socket as a <see cref="Stream"/> (HttpClient's ConnectCallback returns one).</summary>
    private sealed class RemoteStream(RemoteSocket socket) : Stream
    {
        public override bool CanRead => true;
        public override bool CanWrite => true;
        public override bool CanSeek => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));
        public override int Read(Span<byte> buffer)
        {
            try { return socket.Receive(buffer); }
            catch (NetStackException e) { throw new IOException(e.Message, e); }
        }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            new(Wrap(() => socket.ReceiveAsync(buffer, 0, cancellationToken)));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));
        public override void Write(ReadOnlySpan<byte> buffer)
        {
            try { socket.Send(buffer); }
            catch (NetStackException e) { throw new IOException(e.Message, e); }
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
            new(Wrap(() => socket.SendAsync(buffer, 0, cancellationToken)));

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        private static async Task<T> Wrap<T>(Func<Task<T>> f)
        {
            try { return await f().ConfigureAwait(false); }
            catch (NetStackException e) { throw new IOException(e.Message, e); }
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) socket.Dispose();
            base.Dispose(disposing);
        }
    }
}
