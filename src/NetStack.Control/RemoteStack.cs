using System.Collections.Concurrent;
using System.Net;
using System.Net.Http;
using System.Text.Json.Nodes;
using NetStack.Api;
using NetStack.Uapi;

namespace NetStack.Control;

/// <summary>
/// A program's side of a running stack: the socket calls of one process, made through the stack's
/// control socket (<see cref="ControlServer"/>) from any number of threads, as a process makes system
/// calls. It is how `netstack nc`, `ping` and `get` use the stack that `netstack up` runs.
/// <para>Each call goes out on a free connection ("lane"); a second thread that calls while the first
/// blocks (a recv waiting for data, a send waiting for window) gets a lane of its own, joined to the
/// first's descriptor table (the protocol's "share"/"join", as threads share a process's files). When
/// the program ends, or <see cref="Dispose"/> is called, the connections close and the stack closes
/// every descriptor they opened, as at a process's exit.</para>
/// <code>
/// using var stack = RemoteStack.Connect(ControlServer.DefaultPath());
/// using var s = stack.Tcp();
/// s.Connect(new IPEndPoint(IPAddress.Parse("10.7.0.1"), 7));
/// s.Send("hello"u8);
/// </code>
/// </summary>
public sealed class RemoteStack : IDisposable
{
    /// <summary>The most connections one <see cref="RemoteStack"/> opens (calls blocked at once); one more waits for a free one.</summary>
    public const int MaxLanes = 32;

    private readonly ConcurrentBag<ControlClient> _free = new();
    private readonly List<ControlClient> _all = new();
    private readonly SemaphoreSlim _lanes = new(MaxLanes, MaxLanes);
    private readonly object _gate = new();
    private readonly string _token;
    private bool _disposed;

    private RemoteStack(ControlClient first, string token)
    {
        _token = token;
        Path = first.Path;
        Name = first.Name;
        Pid = first.Pid;
        _all.Add(first);
        _free.Add(first);
    }

    /// <summary>Attaches to the stack serving the control socket at <paramref name="path"/>.</summary>
    /// <param name="path">The control socket (<see cref="ControlServer.DefaultPath"/>).</param>
    /// <exception cref="ControlException">No stack runs there, it refused us, or it speaks another protocol version.</exception>
    public static RemoteStack Connect(string path)
    {
        var first = ControlClient.Connect(path);
        try
        {
            // The token for more lanes, asked now: later the first lane may be blocked in a call.
            var share = new JsonObject { ["op"] = "share" };
            string token = (string?)Check(share, first.Request(share))["token"] ?? throw new ControlException("share: no token in the reply");
            return new RemoteStack(first, token);
        }
        catch
        {
            first.Dispose();
            throw;
        }
    }

    /// <summary>The control socket's path.</summary>
    public string Path { get; }

    /// <summary>The stack's name.</summary>
    public string Name { get; }

    /// <summary>The stack's process id.</summary>
    public int Pid { get; }

    /// <summary>A socket of the stack: socket(<paramref name="family"/>, <paramref name="type"/>, <paramref name="protocol"/>).</summary>
    /// <param name="family">AF_INET or AF_INET6.</param>
    /// <param name="type">SOCK_STREAM, SOCK_DGRAM or SOCK_RAW (with SOCK_NONBLOCK/SOCK_CLOEXEC if wanted).</param>
    /// <param name="protocol">The protocol, or 0 for the type's default.</param>
    /// <exception cref="NetStackException">The stack refused the call (the errno says why).</exception>
    public RemoteSocket Socket(int family, int type, int protocol = 0)
    {
        var r = Call(new JsonObject { ["op"] = "socket", ["domain"] = family, ["type"] = type, ["protocol"] = protocol });
        return new RemoteSocket(this, (int)r["ret"]!);
    }

    /// <summary>A TCP socket (AF_INET, SOCK_STREAM).</summary>
    public RemoteSocket Tcp() => Socket(SocketConstants.AF_INET, SocketConstants.SOCK_STREAM);

    /// <summary>A UDP socket (AF_INET, SOCK_DGRAM).</summary>
    public RemoteSocket Udp() => Socket(SocketConstants.AF_INET, SocketConstants.SOCK_DGRAM);

    /// <summary>An unprivileged ping socket (AF_INET, SOCK_DGRAM, IPPROTO_ICMP): the stack sets the echo identifier.</summary>
    public RemoteSocket Ping() => Socket(SocketConstants.AF_INET, SocketConstants.SOCK_DGRAM, SocketConstants.IPPROTO_ICMP);

    /// <summary>
    /// An <see cref="HttpMessageHandler"/> whose connections are TCP connections of the stack (hosts are
    /// IP addresses: the stack has no resolver), as <c>NetStackHttp.CreateHandler</c> gives for an in-process stack.
    /// </summary>
    public SocketsHttpHandler CreateHttpHandler() => new()
    {
        ConnectCallback = async (context, ct) =>
        {
            string host = context.DnsEndPoint.Host.Trim('[', ']');
            if (!IPAddress.TryParse(host, out var address))
                throw new NotSupportedException($"host '{context.DnsEndPoint.Host}' is not an IP address (the stack has no resolver)");
            var s = address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
                ? Socket(SocketConstants.AF_INET6, SocketConstants.SOCK_STREAM) : Tcp();
            try
            {
                await s.ConnectAsync(new IPEndPoint(address, context.DnsEndPoint.Port), ct).ConfigureAwait(false);
            }
            catch
            {
                s.Dispose();
                throw;
            }
            return s.GetStream();
        },
        UseProxy = false,
        AutomaticDecompression = DecompressionMethods.None,
    };

    /// <summary>
    /// Sends one request on a free connection and returns its reply; a failed call (<c>"ret": -1</c>)
    /// throws. Any op of the protocol may be sent (introspection ops too).
    /// </summary>
    /// <param name="request">The request, <c>{"op": ..., ...}</c>.</param>
    /// <exception cref="NetStackException">A socket call failed: the errno the stack answered.</exception>
    /// <exception cref="ControlException">The request was refused (the message says why) or the stack went away.</exception>
    public JsonObject Call(JsonObject request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var lane = Rent();
        JsonObject reply;
        try
        {
            reply = lane.Request(request);
        }
        catch
        {
            Drop(lane);
            throw;
        }
        Return(lane);
        return Check(request, reply);
    }

    /// <summary>A reply's failure as an exception: the errno of a failed call, or the refusal's message.</summary>
    internal static JsonObject Check(JsonObject request, JsonObject reply)
    {
        string op = (string?)(request["op"] as JsonValue) ?? "?";
        if (reply["errno"] is JsonValue ev && ev.TryGetValue<string>(out var name) && Errno.Parse(name) is var errno and > 0)
            throw new NetStackException(errno, reply["error"] is { } why ? $"{op}: {(string?)why}" : $"{op}: {name}");
        if (reply["error"] is { } err) throw new ControlException($"{op}: {(string?)err}");
        return reply;
    }

    private ControlClient Rent()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _lanes.Wait();
        if (_free.TryTake(out var lane)) return lane;
        try
        {
            return NewLane();
        }
        catch
        {
            _lanes.Release();
            throw;
        }
    }

    /// <summary>A new connection using the first one's descriptor table.</summary>
    private ControlClient NewLane()
    {
        var lane = ControlClient.Connect(Path);
        try
        {
            Check(new JsonObject { ["op"] = "join" }, lane.Request(new JsonObject { ["op"] = "join", ["token"] = _token }));
        }
        catch
        {
            lane.Dispose();
            throw;
        }
        lock (_gate)
        {
            if (_disposed)
            {
                lane.Dispose();
                throw new ObjectDisposedException(nameof(RemoteStack));
            }
            _all.Add(lane);
        }
        return lane;
    }

    private void Return(ControlClient lane)
    {
        _free.Add(lane);
        _lanes.Release();
    }

    /// <summary>A lane whose reply is out of step or whose connection broke is not used again (the others keep the table open).</summary>
    private void Drop(ControlClient lane)
    {
        lock (_gate) _all.Remove(lane);
        lane.Dispose();
        _lanes.Release();
    }

    /// <summary>Closes every connection: the stack closes the descriptors they opened.</summary>
    public void Dispose()
    {
        List<ControlClient> all;
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            all = [.. _all];
            _all.Clear();
        }
        foreach (var c in all) c.Dispose();
    }

    /// <inheritdoc/>
    public override string ToString() => $"stack {Name} (pid {Pid}, {Path})";
}
