using NetStack.Api;
using NetStack.Core;
using NetStack.Net;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Services;

/// <summary>A network service of the stack (echo, discard, chargen, http): started by a <see cref="ServiceHost"/>.</summary>
public abstract class Service
{
    protected Service(NetNamespace net, string name, ushort port, ServiceOptions options)
    {
        Net = net;
        Name = name;
        Port = port;
        Options = options;
    }

    public NetNamespace Net { get; }
    public string Name { get; }
    public ushort Port { get; }
    public ServiceOptions Options { get; }

    /// <summary>"tcp/7", "udp/7".</summary>
    public abstract string Transport { get; }

    // What it did (updated with Interlocked; read them as a snapshot).
    public long Accepted, Active, Completed, Failed, BytesIn, BytesOut;

    /// <summary>Binds and starts serving; throws <see cref="NetStackException"/> when the port cannot be had.</summary>
    public abstract void Start();

    /// <summary>Stops accepting, ends the connections in progress, waits for them, closes the sockets.</summary>
    public abstract Task StopAsync();

    public string Describe() => $"{Name} {Transport}/{Port}";

    public virtual string FormatStats() =>
        $"{Describe()}: {Accepted} accepted, {Active} active, {Completed} completed, {Failed} failed, {BytesIn} bytes in, {BytesOut} bytes out";

    protected void Log(string message) => Options.Log?.Invoke($"{Name}: {message}");

    /// <summary>Connection ends that are the peer's doing and no fault of the service.</summary>
    protected static bool IsPeerGone(NetStackException e) =>
        e.Errno is Errno.ECONNRESET or Errno.EPIPE or Errno.ETIMEDOUT or Errno.ENOTCONN or Errno.ECONNABORTED or Errno.EHOSTUNREACH;
}

/// <summary>
/// A TCP service: a listening socket on <see cref="Service.Port"/>, an accept thread, and one task
/// per connection running <see cref="HandleAsync"/> over the socket's async methods, at most
/// <see cref="ServiceOptions.MaxConnections"/> at once (the accept thread waits for a free slot, so
/// further clients wait in the listen backlog as they would with a forking inetd at its limit).
/// <para>
/// The accept loop is a thread of its own blocked in accept(), as inetd's is (except for services
/// with <see cref="InlineCompletions"/>, whose loop runs on the receive thread), not an async loop on
/// the thread pool: the listener's wait queue wakes it for each connection (sk_data_ready), so the
/// accept queue is drained whatever the pool is doing. An async loop needs a pool thread per
/// connection; when the application blocks pool threads (a test host blocking one in
/// Process.WaitForExit, another in its message loop) the pool stops running work items until its
/// starvation logic adds a thread about half a second later, the loop falls thousands of
/// connections behind, the 4,096 backlog overflows and the client's dropped SYN costs it a 1 s
/// retransmission (issue 13). The handlers run on the pool and are not needed for accepting, up to
/// <see cref="ServiceOptions.MaxConnections"/> waiting for it.
/// </para>
/// </summary>
public abstract class TcpService : Service
{
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _slots;
    /// <summary>Completed when the service has stopped and its last connection has ended.</summary>
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    /// <summary>Completed when the accept thread has ended.</summary>
    private readonly TaskCompletionSource _acceptEnded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private NetSocket? _listener;
    private Thread? _acceptThread;
    /// <summary>The async accept loop (<see cref="AcceptLoopInlineAsync"/>), when the service uses it instead of the thread.</summary>
    private Task? _acceptLoop;

    protected TcpService(NetNamespace net, string name, ushort port, ServiceOptions options) : base(net, name, port, options) =>
        _slots = new SemaphoreSlim(options.MaxConnections, options.MaxConnections);

    public override string Transport => "tcp";

    /// <summary>Connections closed by <see cref="ServiceOptions.IdleTimeout"/> (counted among the completed ones).</summary>
    public long TimedOut;

    /// <summary>The listening socket's address (useful with port 0).</summary>
    public System.Net.IPEndPoint? LocalEndPoint => _listener?.LocalEndPoint;

    public override string FormatStats() => base.FormatStats() + $", {Interlocked.Read(ref TimedOut)} timed out";

    public override void Start()
    {
        // The listener's family is the bind address's: on :: an AF_INET6 socket, dual stack (it takes IPv4 clients as ::ffff:a.b.c.d).
        var l = new NetSocket(Net, Options.BindAddress.AddressFamily, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        try
        {
            l.SetOption(SOL_SOCKET, SO_REUSEADDR, 1);
            // Inherited by every accepted connection (no lock round per accept).
            if (InlineCompletions) l.InlineCompletions = true;
            l.Bind(new System.Net.IPEndPoint(Options.BindAddress, Port));
            l.Listen(Options.Backlog);
        }
        catch
        {
            l.Dispose();
            throw;
        }
        _listener = l;
        if (InlineCompletions)
        {
            _acceptLoop = AcceptLoopInlineAsync();
            return;
        }
        _acceptThread = new Thread(AcceptLoop) { IsBackground = true, Name = $"{Name}-accept" };
        _acceptThread.Start();
    }

    /// <summary>
    /// The accept loop of a service whose handlers only await (<see cref="InlineCompletions"/>): async,
    /// on the listener's inline completions, so the receive thread that queued a connection accepts
    /// it after its batch and runs the handler until its first wait: a connection is accepted,
    /// served and closed there, with no accept thread or pool thread woken for it (as an
    /// event-driven stack serves it in one loop). The pool starvation that made the other loop a
    /// thread does not reach this one: its continuations run on the receive thread, and only a wait
    /// for a free slot (<see cref="ServiceOptions.MaxConnections"/> reached) goes through the pool.
    /// </summary>
    private async Task AcceptLoopInlineAsync()
    {
        var ct = _stop.Token;
        var listener = _listener!;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                try
                {
                    await _slots.WaitAsync(ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException) { break; }
                NetSocket conn;
                try
                {
                    conn = await listener.AcceptAsync(ct).ConfigureAwait(false);
                }
                catch (Exception e) when (e is NetStackException or ObjectDisposedException or OperationCanceledException)
                {
                    _slots.Release();
                    // Stopping: cancelled, or the listener closed under the call (EBADF) or before it.
                    if (e is not NetStackException ne || ne.Errno is Errno.EBADF or Errno.EINVAL || ct.IsCancellationRequested) break;
                    Log($"accept: {e.Message}");
                    continue;
                }
                Interlocked.Increment(ref Accepted);
                Interlocked.Increment(ref Active);
                // Here, up to the handler's first wait; then the next connection.
                _ = RunConnectionAsync(conn, ct);
            }
        }
        finally
        {
            _acceptEnded.TrySetResult();
        }
    }

    /// <summary>
    /// Blocking accept() until the listener is closed (<see cref="StopAsync"/>: the blocked call
    /// ends with EBADF, as a close from another thread ends it).
    /// </summary>
    private void AcceptLoop()
    {
        var ct = _stop.Token;
        var listener = _listener!;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                try
                {
                    _slots.Wait(ct);
                }
                catch (OperationCanceledException) { break; }
                NetSocket conn;
                try
                {
                    conn = listener.Accept();
                }
                catch (Exception e) when (e is NetStackException or ObjectDisposedException)
                {
                    _slots.Release();
                    // Closed under us (EBADF, or disposed before the call): the service is stopping.
                    if (e is ObjectDisposedException || ((NetStackException)e).Errno is Errno.EBADF or Errno.EINVAL || ct.IsCancellationRequested) break;
                    // ECONNABORTED and friends: a connection died in the queue; keep accepting.
                    Log($"accept: {e.Message}");
                    continue;
                }
                Interlocked.Increment(ref Accepted);
                Interlocked.Increment(ref Active);
                // The handler on the pool, never on this thread: accepting must not wait for it.
                ThreadPool.UnsafeQueueUserWorkItem(static s => { _ = s.Service.RunConnectionAsync(s.Conn, s.Ct); }, (Service: this, Conn: conn, Ct: ct), preferLocal: false);
            }
        }
        finally
        {
            _acceptEnded.TrySetResult();
        }
    }

    private async Task RunConnectionAsync(NetSocket conn, CancellationToken ct)
    {
        try
        {
            await HandleAsync(conn, ct).ConfigureAwait(false);
            Interlocked.Increment(ref Completed);
        }
        catch (NetStackException e) when (IsPeerGone(e))
        {
            Interlocked.Increment(ref Completed);
        }
        catch (OperationCanceledException)
        {
            // Stopping, or the connection's idle timeout.
            Interlocked.Increment(ref Completed);
            if (!ct.IsCancellationRequested) Interlocked.Increment(ref TimedOut);
        }
        catch (Exception e)
        {
            Interlocked.Increment(ref Failed);
            Log($"connection failed: {e.GetType().Name}: {e.Message}");
        }
        finally
        {
            conn.Dispose();
            _slots.Release();
            if (Interlocked.Decrement(ref Active) == 0 && _stop.IsCancellationRequested) _drained.TrySetResult();
        }
    }

    /// <summary>
    /// Whether the connections' async calls continue on the stack's receive thread
    /// (<see cref="NetSocket.InlineCompletions"/>): for handlers that only await, never block.
    /// </summary>
    protected virtual bool InlineCompletions => false;

    /// <summary>Serves one connection; returns (or throws) when it is over. The caller closes the socket.</summary>
    protected abstract Task HandleAsync(NetSocket conn, CancellationToken ct);

    public override async Task StopAsync()
    {
        _stop.Cancel();
        // Closing the listener ends the blocked accept() (EBADF) and resets the connections still in its queue.
        _listener?.Dispose();
        _listener = null;
        if (_acceptThread is not null || _acceptLoop is not null) await _acceptEnded.Task.ConfigureAwait(false);
        if (Interlocked.Read(ref Active) == 0) _drained.TrySetResult();
        await _drained.Task.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    /// <summary>Sends all of <paramref name="data"/>.</summary>
    protected async ValueTask SendAllAsync(NetSocket s, ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        while (!data.IsEmpty)
        {
            int n = await s.SendAsync(data, 0, ct).ConfigureAwait(false);
            Interlocked.Add(ref BytesOut, n);
            data = data[n..];
        }
    }

    /// <summary>A token that fires when the service stops or after <see cref="ServiceOptions.IdleTimeout"/> without progress (call <see cref="IdleTimer.Touch"/> on progress).</summary>
    protected IdleTimer StartIdleTimer(CancellationToken ct) => new(ct, Options.IdleTimeout);
}

/// <summary>A connection's inactivity timeout: a linked token source re-armed on each bit of progress.</summary>
public sealed class IdleTimer : IDisposable
{
    private readonly CancellationTokenSource _cts;
    private readonly TimeSpan _timeout;

    public IdleTimer(CancellationToken outer, TimeSpan timeout)
    {
        _cts = CancellationTokenSource.CreateLinkedTokenSource(outer);
        _timeout = timeout;
        Touch();
    }

    public CancellationToken Token => _cts.Token;

    /// <summary>Something happened: the timeout starts again.</summary>
    public void Touch()
    {
        if (_timeout > TimeSpan.Zero && _timeout != Timeout.InfiniteTimeSpan) _cts.CancelAfter(_timeout);
    }

    public void Dispose() => _cts.Dispose();
}

/// <summary>A UDP service: one bound socket and a loop answering each datagram with <see cref="OnDatagram"/>.</summary>
public abstract class UdpService : Service
{
    private readonly CancellationTokenSource _stop = new();
    private NetSocket? _socket;
    private Task? _loop;

    protected UdpService(NetNamespace net, string name, ushort port, ServiceOptions options) : base(net, name, port, options) { }

    public override string Transport => "udp";

    public System.Net.IPEndPoint? LocalEndPoint => _socket?.LocalEndPoint;

    public override void Start()
    {
        var s = new NetSocket(Net, Options.BindAddress.AddressFamily, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
        try
        {
            s.Bind(new System.Net.IPEndPoint(Options.BindAddress, Port));
        }
        catch
        {
            s.Dispose();
            throw;
        }
        _socket = s;
        _loop = Task.Run(LoopAsync);
    }

    private async Task LoopAsync()
    {
        var ct = _stop.Token;
        var s = _socket!;
        var buf = new byte[65536];
        while (!ct.IsCancellationRequested)
        {
            System.Net.Sockets.SocketReceiveFromResult r;
            try
            {
                r = await s.ReceiveFromAsync(buf, 0, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) { break; }
            catch (NetStackException e)
            {
                // An ICMP error queued on the socket (ECONNREFUSED from a past reply) is reported once; go on.
                if (e.Errno is Errno.EBADF) break;
                continue;
            }
            Interlocked.Increment(ref Accepted);
            Interlocked.Add(ref BytesIn, r.ReceivedBytes);
            try
            {
                await OnDatagram(s, buf.AsMemory(0, r.ReceivedBytes), (System.Net.IPEndPoint)r.RemoteEndPoint, ct).ConfigureAwait(false);
                Interlocked.Increment(ref Completed);
            }
            catch (OperationCanceledException) { break; }
            catch (NetStackException e)
            {
                Interlocked.Increment(ref Failed);
                Log($"{(System.Net.IPEndPoint)r.RemoteEndPoint}: {e.Message}");
            }
        }
    }

    /// <summary>Handles one datagram (its bytes are valid until this returns).</summary>
    protected abstract ValueTask OnDatagram(NetSocket s, ReadOnlyMemory<byte> data, System.Net.IPEndPoint from, CancellationToken ct);

    public override async Task StopAsync()
    {
        _stop.Cancel();
        if (_loop is { } l) await l.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _socket?.Dispose();
        _socket = null;
    }
}
