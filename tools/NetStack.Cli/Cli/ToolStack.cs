using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using static NetStack.Uapi.SocketConstants;
using NetStack.AspNetCore;
using NetStack.Cli.Commands;
using NetStack.Control;

namespace NetStack.Cli;

/// <summary>
/// The stack a socket tool (nc, ping, get) uses: the one running as --name (netstack up serves its
/// control socket), reached through <see cref="RemoteStack"/>; or, when none runs, with --own, or with
/// --lo, one of its own (<see cref="StackAttach"/>). Which of the two is said in one line on stderr.
/// </summary>
internal sealed class ToolStack : IDisposable
{
    private readonly RemoteStack? _remote;
    private readonly StackAttach? _own;

    private ToolStack(RemoteStack? remote, StackAttach? own)
    {
        _remote = remote;
        _own = own;
    }

    /// <summary>The --own flag the socket tools share.</summary>
    public static Option<bool> OwnOption() => Opt.Flag("--own", "bring up a stack of its own even when one is running as --name");

    /// <summary>
    /// Attaches to the stack running as --name, or brings one up. Options that describe a stack of the
    /// tool's own (--tap, --ns, --addr, ...) while a stack runs are a usage error, not silently ignored.
    /// </summary>
    public static ToolStack Open(string tool, ParseResult r, StackOptionSet set, ControlOptions control, Option<bool> own)
    {
        var o = set.Read(r);
        var (name, path) = control.Read(r);
        if (AttachPath(tool, r, set, o, control, own) is { } p)
        {
            var remote = ControlOptions.TryAttach(p, RemoteStack.Connect);
            if (remote is not null)
            {
                Console.Error.WriteLine($"netstack {tool}: attached to the running stack {remote.Name} (pid {remote.Pid}, {p})");
                return new ToolStack(remote, null);
            }
            Console.Error.WriteLine($"netstack {tool}: no stack is running as {name} ({path}): bringing up its own");
        }
        else if (!o.Loopback) Console.Error.WriteLine($"netstack {tool}: bringing up a stack of its own (--own)");
        return new ToolStack(null, StackAttach.Up(o));
    }

    /// <summary>
    /// The control socket to try, or null when the tool must bring up its own (--lo, --own). Throws a
    /// usage error when own-stack options are given while a stack runs.
    /// </summary>
    public static string? AttachPath(string tool, ParseResult r, StackOptionSet set, StackOptionSet.Parsed o, ControlOptions control, Option<bool> own)
    {
        var (name, path) = control.Read(r);
        bool wantOwn = r.GetValue(own);
        if (o.Loopback)
        {
            if (wantOwn) throw new UsageException("--lo is always a stack of its own: --own adds nothing");
            if (control.Given(r)) throw new UsageException("--lo is a stack of its own: --name/--control name a running one");
            return null;
        }
        if (wantOwn) return null;
        if (set.OwnStackOptionGiven(r) is { } opt && Running(path))
            throw new UsageException($"{opt.Name} describes a stack of {tool}'s own, but a stack is running as {name} ({path}): " +
                $"drop {opt.Name} to use it, or add --own to bring up another (on a TAP the running one does not hold)");
        return path;
    }

    /// <summary>Whether something answers on the control socket (without greeting it).</summary>
    private static bool Running(string path)
    {
        if (!File.Exists(path)) return false;
        using var probe = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        try
        {
            probe.Connect(new System.Net.Sockets.UnixDomainSocketEndPoint(path));
            return true;
        }
        catch (System.Net.Sockets.SocketException e)
        {
            // Refused: a stale file. Denied: a stack of another user is running there (attaching will say so).
            return e.SocketErrorCode == System.Net.Sockets.SocketError.AccessDenied;
        }
    }

    /// <summary>Whether the tool uses a running stack (not one of its own).</summary>
    public bool Attached => _remote is not null;

    /// <summary>A TCP socket of <paramref name="family"/> (AF_INET6 for an IPv6 peer; it also reaches ::ffff:a.b.c.d).</summary>
    public IToolSocket Tcp(AddressFamily family = AddressFamily.InterNetwork) => Socket(family, SOCK_STREAM, 0);

    /// <summary>A UDP socket of <paramref name="family"/>.</summary>
    public IToolSocket Udp(AddressFamily family = AddressFamily.InterNetwork) => Socket(family, SOCK_DGRAM, 0);

    /// <summary>A ping socket: SOCK_DGRAM with IPPROTO_ICMP, or IPPROTO_ICMPV6 for AF_INET6 (ping6's socket).</summary>
    public IToolSocket Ping(AddressFamily family = AddressFamily.InterNetwork) =>
        Socket(family, SOCK_DGRAM, family == AddressFamily.InterNetworkV6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP);

    private IToolSocket Socket(AddressFamily family, int type, int protocol)
    {
        int af = family == AddressFamily.InterNetworkV6 ? AF_INET6 : AF_INET;
        return _remote is not null
            ? new RemoteToolSocket(_remote.Socket(af, type, protocol))
            : new LocalToolSocket(new Api.NetSocket(_own!.Net, af, type, protocol));
    }

    /// <summary>An HttpClient handler whose connections are the stack's TCP connections.</summary>
    public SocketsHttpHandler CreateHttpHandler() => _remote is not null ? _remote.CreateHttpHandler() : NetStackHttp.CreateHandler(_own!.Net);

    public void Dispose()
    {
        _remote?.Dispose();
        _own?.Dispose();
    }
}

/// <summary>The socket calls the tools make, on a stack of their own or on a running one.</summary>
internal interface IToolSocket : IDisposable
{
    void Bind(IPEndPoint local);
    void Listen(int backlog);
    IToolSocket Accept(CancellationToken ct);
    void Connect(IPEndPoint remote, CancellationToken ct);
    int Send(byte[] buffer, int offset, int count);
    int SendTo(byte[] buffer, int count, IPEndPoint remote);
    /// <summary>recv; OperationCanceledException when <paramref name="ct"/> ends the wait.</summary>
    int Receive(byte[] buffer, int flags, CancellationToken ct);
    int ReceiveFrom(byte[] buffer, out IPEndPoint from, CancellationToken ct);
    /// <summary>recvmsg without waiting, with the IP TTL when IP_RECVTTL is on.</summary>
    int ReceiveWithTtl(byte[] buffer, out int? ttl);
    int Poll(int events, int timeoutMs);
    void Shutdown(int how);
    void SetOption(int level, int name, int value);
}

internal sealed class LocalToolSocket(Api.NetSocket s) : IToolSocket
{
    public void Bind(IPEndPoint local) => s.Bind(local);
    public void Listen(int backlog) => s.Listen(backlog);
    public IToolSocket Accept(CancellationToken ct) => new LocalToolSocket(s.AcceptAsync(ct).AsTask().GetAwaiter().GetResult());
    public void Connect(IPEndPoint remote, CancellationToken ct) => s.ConnectAsync(remote, ct).AsTask().GetAwaiter().GetResult();
    public int Send(byte[] buffer, int offset, int count) => s.Send(buffer.AsSpan(offset, count));
    public int SendTo(byte[] buffer, int count, IPEndPoint remote) => s.SendTo(buffer.AsSpan(0, count), remote);
    public int Receive(byte[] buffer, int flags, CancellationToken ct) =>
        (flags & Uapi.SocketConstants.MSG_DONTWAIT) != 0 ? s.Receive(buffer, flags) : s.ReceiveAsync(buffer, flags, ct).AsTask().GetAwaiter().GetResult();
    public int ReceiveFrom(byte[] buffer, out IPEndPoint from, CancellationToken ct)
    {
        var r = s.ReceiveFromAsync(buffer, ct).AsTask().GetAwaiter().GetResult();
        from = (IPEndPoint)r.RemoteEndPoint;
        return r.ReceivedBytes;
    }
    public int ReceiveWithTtl(byte[] buffer, out int? ttl)
    {
        var r = s.ReceiveMessage(buffer, Uapi.SocketConstants.MSG_DONTWAIT);
        ttl = r.Ttl;
        return r.ReceivedBytes;
    }
    public int Poll(int events, int timeoutMs) => s.Poll(events, timeoutMs);
    public void Shutdown(int how) => s.Shutdown(how);
    public void SetOption(int level, int name, int value) => s.SetOption(level, name, value);
    public void Dispose() => s.Dispose();
}

internal sealed class RemoteToolSocket(RemoteSocket s) : IToolSocket
{
    public void Bind(IPEndPoint local) => s.Bind(local);
    public void Listen(int backlog) => s.Listen(backlog);
    public IToolSocket Accept(CancellationToken ct) => new RemoteToolSocket(s.Accept(out _, ct));
    public void Connect(IPEndPoint remote, CancellationToken ct) => s.ConnectAsync(remote, ct).GetAwaiter().GetResult();
    public int Send(byte[] buffer, int offset, int count) => s.Send(buffer.AsSpan(offset, count));
    public int SendTo(byte[] buffer, int count, IPEndPoint remote) => s.SendTo(buffer.AsSpan(0, count), remote);
    public int Receive(byte[] buffer, int flags, CancellationToken ct) => s.Receive(buffer, flags, ct);
    public int ReceiveFrom(byte[] buffer, out IPEndPoint from, CancellationToken ct) => s.ReceiveFrom(buffer, out from, 0, ct);
    public int ReceiveWithTtl(byte[] buffer, out int? ttl)
    {
        var r = s.ReceiveMessage(buffer, Uapi.SocketConstants.MSG_DONTWAIT);
        ttl = r.Ttl;
        return r.ReceivedBytes;
    }
    public int Poll(int events, int timeoutMs) => s.Poll(events, timeoutMs);
    public void Shutdown(int how) => s.Shutdown(how);
    public void SetOption(int level, int name, int value) => s.SetOption(level, name, value);
    public void Dispose() => s.Dispose();
}
