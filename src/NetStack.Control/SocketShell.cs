using System.Buffers.Binary;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using NetStack.Net;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Control;

/// <summary>
/// A socket shell: one JSON object in, one JSON object out, each a BSD socket call on the stack
/// (the role gVisor packetimpact's posix_server plays). It is the engine of `netstack repl`, of the
/// control socket's socket ops (<see cref="ControlServer"/>) and of the errno parity suite, which
/// sends the same requests to the Linux kernel.
/// <para>Request: <c>{"op": "sendto", "fd": 3, "data": "68656c6c6f", "addr": "10.7.0.1", "port": 7}</c>.
/// Arguments take Linux names ("SOCK_DGRAM", "MSG_PEEK|MSG_DONTWAIT", or a list of names) or numbers.
/// Addresses: "addr" and "port" (0..65535), with optional "family" and "addrlen" to make mistakes on
/// purpose; an "addr" with a colon ("::", "::ffff:10.7.0.1") is a sockaddr_in6 (28 bytes, optional
/// "scope_id" and "flowinfo"), and so are replies from AF_INET6 sockets ("family": 10). Data is hex ("data") or text ("text"). "as": "name" stores a returned descriptor under a
/// name that later "fd" arguments may use; "id" is echoed back. A key the op does not take is refused
/// (a typo such as "flag" for "flags" must not silently turn a non-blocking call into a blocking one).</para>
/// <para>Reply: <c>{"ret": N, ...}</c> with fields such as data, addr, port, value, revents, or on failure
/// <c>{"ret": -1, "errno": "ECONNREFUSED"}</c>. A request the shell refuses before any call is made gets
/// <c>{"ret": -1, "error": "..."}</c>, plus <c>"errno": "EINVAL"</c> when a value is out of range (a port
/// above 65535, a negative length, a sleep above <see cref="MaxSleepMs"/>).</para>
/// Ops: socket, bind, listen, accept, connect, send, recv, sendto, recvfrom, recvmsg, shutdown, close,
/// setsockopt, getsockopt, getsockname, getpeername, poll, fcntl, ioctl (the request under
/// "request", or "req"), sleep, reset (closes every descriptor this shell opened).
/// <para>recvmsg takes "fd", "len", "flags" and "controllen" (the msg_control buffer, <see cref="DefaultControlLength"/>
/// bytes unless given) and replies with "data", "addr" and "port" (when the protocol gives a sender),
/// "flags" (msg_flags: MSG_TRUNC 32, MSG_CTRUNC 8), "controllen" (the bytes the control messages took)
/// and "cmsg", a list such as <c>[{"level": "SOL_IP", "type": "IP_PKTINFO", "ifindex": 1, "spec_dst":
/// "127.0.0.1", "addr": "127.0.0.1"}, {"level": "SOL_IP", "type": "IP_TTL", "value": 64}, {"level":
/// "SOL_IP", "type": "IP_TOS", "value": 0}, {"level": "SOL_IP", "type": "IP_ORIGDSTADDR", "addr":
/// "127.0.0.1", "port": 5000}]</c>; a message cut short (MSG_CTRUNC) or of another kind comes as
/// its "len" (cmsg_len) and the "hex" of the data present.</para>
/// </summary>
public sealed class SocketShell : IDisposable
{
    /// <summary>The longest <c>sleep</c> in milliseconds (one minute); a longer one is refused, not cut short.</summary>
    public const int MaxSleepMs = 60_000;

    /// <summary>The largest buffer a request may ask for ("len" of recv, recvfrom, recvmsg, send, sendto, getsockopt; "controllen"): 16 MiB.</summary>
    public const int MaxBufferLength = 16 << 20;

    /// <summary>The control buffer recvmsg passes when the request gives no "controllen": room for every SOL_IP message.</summary>
    public const int DefaultControlLength = 256;

    /// <summary>TCP_CA_NAME_MAX: the length getsockopt(TCP_CONGESTION) reads when the request gives none.</summary>
    private const int TcpCaNameMax = 16;

    private static readonly string[] Common = ["op", "id"];
    private static readonly string[] AddrKeys = ["fd", "addr", "port", "family", "addrlen", "scope_id", "flowinfo"];

    /// <summary>Each op and the keys it takes besides "op" and "id".</summary>
    private static readonly Dictionary<string, string[]> OpKeys = new()
    {
        ["socket"] = ["domain", "family", "type", "protocol", "as"],
        ["bind"] = AddrKeys,
        ["connect"] = AddrKeys,
        ["listen"] = ["fd", "backlog"],
        ["accept"] = ["fd", "flags", "as"],
        ["send"] = ["fd", "data", "text", "len", "flags"],
        ["recv"] = ["fd", "len", "flags"],
        ["sendto"] = ["fd", "data", "text", "len", "flags", "addr", "port", "family", "addrlen", "scope_id", "flowinfo"],
        ["recvfrom"] = ["fd", "len", "flags"],
        ["recvmsg"] = ["fd", "len", "flags", "controllen", "iov"],
        ["sendmsg"] = ["fd", "iov", "flags", "addr", "port", "family", "addrlen", "scope_id", "flowinfo"],
        ["sendmmsg"] = ["fd", "msgs", "flags"],
        ["recvmmsg"] = ["fd", "vlen", "len", "flags", "timeout"],
        ["shutdown"] = ["fd", "how"],
        ["close"] = ["fd"],
        ["setsockopt"] = ["fd", "level", "name", "value", "optlen", "hex", "timeval", "linger"],
        ["getsockopt"] = ["fd", "level", "name", "len"],
        ["getsockname"] = ["fd"],
        ["getpeername"] = ["fd"],
        ["poll"] = ["fd", "events", "fds", "timeout"],
        ["fcntl"] = ["fd", "cmd", "arg", "as"],
        ["ioctl"] = ["fd", "request", "req", "arg"],
        ["sleep"] = ["ms"],
        ["reset"] = [],
    };

    /// <summary>The ops the shell understands, in the order the help lists them.</summary>
    public static readonly string[] Ops =
    [
        "socket", "bind", "listen", "accept", "connect", "send", "recv", "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "shutdown", "close",
        "setsockopt", "getsockopt", "getsockname", "getpeername", "poll", "fcntl", "ioctl", "sleep", "reset",
    ];

    /// <summary>Fields whose values may be Linux names; <see cref="ToNumeric"/> resolves them.</summary>
    private static readonly string[] NamedFields =
        ["domain", "family", "type", "protocol", "flags", "level", "name", "how", "cmd", "arg", "events", "req", "request", "value"];

    private readonly Dictionary<string, int> _vars = new();
    private readonly List<int> _opened = new();
    private readonly CancellationToken _cancel;

    /// <summary>A shell whose calls use the descriptor table <paramref name="files"/>.</summary>
    /// <param name="files">The caller's descriptor table (the namespace's <c>Files</c>, or a private one).</param>
    /// <param name="cancel">Cuts a <c>sleep</c> short (a control client that went away); socket calls are woken by closing their descriptors.</param>
    public SocketShell(FdTable files, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(files);
        Files = files;
        _cancel = cancel;
    }

    /// <summary>The descriptor table the calls use.</summary>
    public FdTable Files { get; }

    /// <summary>Whether <paramref name="op"/> is one of the shell's ops.</summary>
    public static bool IsOp(string op) => OpKeys.ContainsKey(op);

    /// <summary>The keys <paramref name="op"/> takes besides "op" and "id" (empty for an unknown op).</summary>
    public static IReadOnlyList<string> KeysOf(string op) => OpKeys.TryGetValue(op, out var k) ? k : [];

    /// <summary>Runs one request line; returns the reply line (never throws for bad input).</summary>
    public string Execute(string line)
    {
        JsonObject reply;
        try
        {
            var req = JsonNode.Parse(line) as JsonObject ?? throw new ShellException("a request is a JSON object");
            reply = Execute(req);
        }
        catch (JsonException e)
        {
            reply = Refusal("bad JSON: " + e.Message);
        }
        catch (ShellException e)
        {
            reply = e.ToReply();
        }
        return reply.ToJsonString(JsonOut);
    }

    /// <summary>Plain quotes in messages (no \u0022 escapes): the output is for terminals and scripts.</summary>
    public static readonly JsonSerializerOptions JsonOut = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Runs one request (never throws for bad input).</summary>
    public JsonObject Execute(JsonObject req)
    {
        ArgumentNullException.ThrowIfNull(req);
        JsonObject reply;
        try
        {
            reply = Dispatch(req);
        }
        catch (ShellException e)
        {
            reply = e.ToReply();
        }
        catch (Exception e) when (e is FormatException or OverflowException or ArgumentException or InvalidOperationException or InvalidCastException)
        {
            // A value of a shape no check above foresaw: refused without .NET's exception text.
            reply = Refusal($"bad argument to \"{Str(req, "op")}\" (see the ops' arguments in `netstack repl --help`)");
        }
        if (req["id"] is { } id) reply["id"] = id.DeepClone();
        return reply;
    }

    /// <summary>Refuses a key <paramref name="op"/> does not take, naming it.</summary>
    /// <param name="q">The request.</param>
    /// <param name="op">Its op.</param>
    /// <param name="allowed">The keys the op takes besides "op" and "id".</param>
    public static void CheckKeys(JsonObject q, string op, IReadOnlyList<string> allowed)
    {
        ArgumentNullException.ThrowIfNull(q);
        ArgumentNullException.ThrowIfNull(allowed);
        foreach (var (key, _) in q)
        {
            if (Array.IndexOf(Common, key) >= 0 || allowed.Contains(key)) continue;
            throw new ShellException(allowed.Count == 0
                ? $"unknown key \"{key}\": \"{op}\" takes no arguments"
                : $"unknown key \"{key}\" for \"{op}\" (it takes: {string.Join(", ", allowed)})");
        }
    }

    private JsonObject Dispatch(JsonObject q)
    {
        string op = Str(q, "op") ?? throw new ShellException("missing \"op\"");
        if (!OpKeys.TryGetValue(op, out var keys))
            throw new ShellException($"unknown op \"{op}\" (ops: {string.Join(", ", Ops)})");
        CheckKeys(q, op, keys);
        var f = Files;
        switch (op)
        {
            case "socket":
            {
                int family = Num(q["domain"] ?? q["family"], "AF_INET", "domain");
                int type = Num(q, "type", null);
                int protocol = Num(q, "protocol", "0");
                int fd = SocketCalls.Socket(f, family, type, protocol);
                if (fd >= 0) Opened(q, fd);
                return Ret(fd);
            }
            case "bind": return Ret(SocketCalls.Bind(f, Fd(q), Addr(q, required: true)));
            case "connect": return Ret(SocketCalls.Connect(f, Fd(q), Addr(q, required: true)));
            case "listen": return Ret(SocketCalls.Listen(f, Fd(q), Num(q, "backlog", "128")));
            case "accept":
            {
                int fd = SocketCalls.Accept4(f, Fd(q), out var peer, Num(q, "flags", "0"));
                if (fd < 0) return Ret(fd);
                Opened(q, fd);
                return WithAddr(Ret(fd), peer);
            }
            case "send": return Ret(SocketCalls.Send(f, Fd(q), Data(q), Num(q, "flags", "0")));
            case "sendto":
            {
                var a = Addr(q, required: false);
                return q.ContainsKey("addr") || q.ContainsKey("port") || q.ContainsKey("addrlen")
                    ? Ret(SocketCalls.Sendto(f, Fd(q), Data(q), Num(q, "flags", "0"), a))
                    : Ret(SocketCalls.Send(f, Fd(q), Data(q), Num(q, "flags", "0")));
            }
            case "recv":
            {
                var buf = new byte[Length(q, "len", 65536)];
                int n = SocketCalls.Recv(f, Fd(q), buf, Num(q, "flags", "0"));
                var r = Ret(n);
                if (n >= 0) r["data"] = Convert.ToHexStringLower(buf, 0, Math.Min(n, buf.Length));
                return r;
            }
            case "recvfrom":
            {
                var buf = new byte[Length(q, "len", 65536)];
                int n = SocketCalls.Recvfrom(f, Fd(q), buf, Num(q, "flags", "0"), out var from);
                var r = Ret(n);
                if (n < 0) return r;
                r["data"] = Convert.ToHexStringLower(buf, 0, Math.Min(n, buf.Length));
                return from.Len == 0 ? r : WithAddr(r, from);
            }
            case "recvmsg":
            {
                // "iov": [lengths] scatters into several buffers; the reply then shows each one's bytes.
                var lens = q.ContainsKey("iov") ? IovLengths(q) : null;
                var buf = new byte[lens?.Sum() ?? Length(q, "len", 65536)];
                var control = new byte[Length(q, "controllen", DefaultControlLength)];
                var msg = new MsgHdr { HasName = true, Control = control };
                int n;
                if (lens is null) n = SocketCalls.Recvmsg(f, Fd(q), ref msg, buf, Num(q, "flags", "0"));
                else
                {
                    var iov = new Memory<byte>[lens.Length];
                    for (int i = 0, at = 0; i < lens.Length; at += lens[i], i++) iov[i] = buf.AsMemory(at, lens[i]);
                    n = SocketCalls.Recvmsg(f, Fd(q), ref msg, iov, Num(q, "flags", "0"));
                }
                var r = Ret(n);
                if (n < 0) return r;
                r["data"] = Convert.ToHexStringLower(buf, 0, Math.Min(n, buf.Length));
                if (lens is not null)
                {
                    var parts = new JsonArray();
                    for (int i = 0, at = 0; i < lens.Length; at += lens[i], i++)
                        parts.Add(Convert.ToHexStringLower(buf, at, Math.Clamp(Math.Min(n, buf.Length) - at, 0, lens[i])));
                    r["iov"] = parts;
                }
                if (msg.NameLen != 0) WithAddr(r, msg.Name);
                r["flags"] = msg.Flags;
                r["controllen"] = msg.ControlLen;
                r["cmsg"] = Cmsgs(control.AsSpan(0, msg.ControlLen));
                return r;
            }
            case "sendmsg":
            {
                // "iov": ["text", ...] gathers several buffers into one message.
                if (q["iov"] is not JsonArray parts || parts.Count > MaxIov) throw new ShellException($"\"iov\" is a list of up to {MaxIov} strings");
                var iov = new ReadOnlyMemory<byte>[parts.Count];
                for (int i = 0; i < parts.Count; i++)
                    iov[i] = System.Text.Encoding.UTF8.GetBytes(parts[i] is JsonValue v && v.TryGetValue<string>(out var s) ? s : throw new ShellException("\"iov\" is a list of strings"));
                var a = Addr(q, required: false);
                var msg = new MsgHdr { Name = a, HasName = q.ContainsKey("addr") || q.ContainsKey("port") };
                return Ret(SocketCalls.Sendmsg(f, Fd(q), ref msg, iov, Num(q, "flags", "0")));
            }
            case "sendmmsg":
            {
                // "msgs": [{"text"|"data", "addr", "port"}, ...]; the reply's "lens" are the msg_len of those sent.
                if (q["msgs"] is not JsonArray list || list.Count > MaxIov) throw new ShellException($"\"msgs\" is a list of up to {MaxIov} messages");
                var msgs = new MMsgHdr[list.Count];
                for (int i = 0; i < list.Count; i++)
                {
                    if (list[i] is not JsonObject m) throw new ShellException("\"msgs\" is a list of {\"text\"|\"data\", \"addr\", \"port\"}");
                    CheckKeys(m, "sendmmsg\" \"msgs", ["text", "data", "addr", "port", "family", "addrlen"]);
                    msgs[i].Buffer = Data(m).ToArray();
                    msgs[i].HasName = m.ContainsKey("addr") || m.ContainsKey("port");
                    if (msgs[i].HasName) msgs[i].Name = Addr(m, required: false);
                }
                int n = SocketCalls.Sendmmsg(f, Fd(q), msgs, Num(q, "flags", "0"));
                var r = Ret(n);
                if (n >= 0)
                {
                    var lens = new JsonArray();
                    for (int i = 0; i < n; i++) lens.Add(msgs[i].Len);
                    r["lens"] = lens;
                }
                return r;
            }
            case "recvmmsg":
            {
                int vlen = Length(q, "vlen", 8), len = Length(q, "len", 2048);
                if (vlen > MaxIov) throw OutOfRange("vlen", vlen, 0, MaxIov);
                var msgs = new MMsgHdr[vlen];
                for (int i = 0; i < vlen; i++) msgs[i] = new MMsgHdr { Buffer = new byte[len], HasName = true };
                long? timeout = q.ContainsKey("timeout") ? Long(q, "timeout", 0) * 1_000_000 : null;
                int n = SocketCalls.Recvmmsg(f, Fd(q), msgs, Num(q, "flags", "0"), ref timeout);
                var r = Ret(n);
                if (n < 0) return r;
                var got = new JsonArray();
                for (int i = 0; i < n; i++)
                {
                    var m = new JsonObject
                    {
                        ["len"] = msgs[i].Len,
                        ["data"] = Convert.ToHexStringLower(msgs[i].Buffer.Span[..Math.Min(msgs[i].Len, len)]),
                        ["flags"] = msgs[i].Flags,
                    };
                    if (msgs[i].NameLen != 0) WithAddr(m, msgs[i].Name);
                    got.Add(m);
                }
                r["msgs"] = got;
                return r;
            }
            case "shutdown": return Ret(SocketCalls.Shutdown(f, Fd(q), Num(q, "how", null)));
            case "close":
            {
                int fd = Fd(q);
                int r = SocketCalls.Close(f, fd);
                if (r == 0) _opened.Remove(fd);
                return Ret(r);
            }
            case "setsockopt":
            {
                int level = Num(q, "level", null), name = Num(q, "name", null);
                byte[] val;
                if (q.ContainsKey("hex")) val = Hex(q, "hex");
                else if (q.ContainsKey("timeval"))
                {
                    var tv = Pair(q, "timeval");
                    val = new byte[16];
                    BinaryPrimitives.WriteInt64LittleEndian(val, tv.A);
                    BinaryPrimitives.WriteInt64LittleEndian(val.AsSpan(8), tv.B);
                }
                else if (q.ContainsKey("linger"))
                {
                    var lg = Pair(q, "linger");
                    val = new byte[8];
                    BinaryPrimitives.WriteInt32LittleEndian(val, IntOf(lg.A, "linger"));
                    BinaryPrimitives.WriteInt32LittleEndian(val.AsSpan(4), IntOf(lg.B, "linger"));
                }
                else
                {
                    int optlen = Num(q, "optlen", "4");
                    if (optlen is < 0 or > MaxBufferLength) throw OutOfRange("optlen", optlen, 0, MaxBufferLength);
                    val = new byte[Math.Max(optlen, 4)];
                    BinaryPrimitives.WriteInt32LittleEndian(val, Num(q, "value", "0"));
                    val = val[..optlen];
                }
                return Ret(SocketCalls.Setsockopt(f, Fd(q), level, name, val));
            }
            case "getsockopt":
            {
                int level = Num(q, "level", null), name = Num(q, "name", null);
                bool isString = level == SOL_TCP && name == TCP_CONGESTION;
                // A negative optlen goes to the call as given: the kernel answers it (EINVAL), as the parity suite checks.
                int len = Num(q, "len", isString ? TcpCaNameMax.ToString(CultureInfo.InvariantCulture) : "4");
                if (len > MaxBufferLength) throw OutOfRange("len", len, int.MinValue, MaxBufferLength);
                var buf = new byte[Math.Max(len, 0)];
                int optlen = len;
                int r = SocketCalls.Getsockopt(f, Fd(q), level, name, buf, ref optlen);
                var reply = Ret(r);
                if (r < 0) return reply;
                int n = Math.Clamp(optlen, 0, buf.Length);
                reply["len"] = optlen;
                reply["hex"] = Convert.ToHexStringLower(buf, 0, n);
                if (isString)
                {
                    // A name, as `ss -i` prints it ("cubic"), not its first four bytes as a number.
                    int nul = Array.IndexOf(buf, (byte)0, 0, n);
                    reply["value"] = System.Text.Encoding.ASCII.GetString(buf, 0, nul < 0 ? n : nul);
                }
                else if (optlen >= 4) reply["value"] = BinaryPrimitives.ReadInt32LittleEndian(buf);
                else if (optlen >= 1) reply["value"] = (int)buf[0];
                return reply;
            }
            case "getsockname":
            case "getpeername":
            {
                int r = op == "getsockname" ? SocketCalls.Getsockname(f, Fd(q), out var a) : SocketCalls.Getpeername(f, Fd(q), out a);
                return r < 0 ? Ret(r) : WithAddr(Ret(r), a);
            }
            case "poll":
            {
                var list = new List<SocketCalls.PollFd>();
                if (q.ContainsKey("fds"))
                {
                    if (q["fds"] is not JsonArray arr) throw new ShellException("\"fds\" is a list of {\"fd\": ..., \"events\": ...}");
                    foreach (var e in arr)
                    {
                        if (e is not JsonObject o) throw new ShellException("\"fds\" is a list of {\"fd\": ..., \"events\": ...}");
                        CheckKeys(o, "poll\" \"fds", ["fd", "events"]);
                        list.Add(new SocketCalls.PollFd(Fd(o), Num(o, "events", "POLLIN")));
                    }
                }
                else list.Add(new SocketCalls.PollFd(Fd(q), Num(q, "events", "POLLIN")));
                var fds = list.ToArray();
                int r = SocketCalls.Poll(f, fds, Num(q, "timeout", "0"));
                var reply = Ret(r);
                if (r < 0) return reply;
                if (q.ContainsKey("fds"))
                {
                    var rev = new JsonArray();
                    foreach (var p in fds) rev.Add((int)p.Revents);
                    reply["revents"] = rev;
                }
                else reply["revents"] = (int)fds[0].Revents;
                return reply;
            }
            case "fcntl":
            {
                // "as" names the descriptor F_DUPFD / F_DUPFD_CLOEXEC return.
                int cmd = Num(q, "cmd", null);
                int r = SocketCalls.Fcntl(f, Fd(q), cmd, Num(q, "arg", "0"));
                if (r >= 0 && cmd is F_DUPFD or F_DUPFD_CLOEXEC) Opened(q, r);
                return Ret(r);
            }
            case "ioctl":
            {
                // ioctl(fd, request, &arg): the request is "request" (ioctl(2)'s name for it), or "req".
                if (q.ContainsKey("request") && q.ContainsKey("req")) throw new ShellException("give the ioctl request once, as \"request\" (or \"req\")");
                var reqNode = q["request"] ?? q["req"]
                    ?? throw new ShellException("missing \"request\": the ioctl request (FIONREAD, SIOCOUTQ, FIONBIO or a number)");
                int request = Num(reqNode, null, "request");
                int arg = Num(q, "arg", "0");
                int r = SocketCalls.Ioctl(f, Fd(q), request, ref arg);
                var reply = Ret(r);
                if (r >= 0) reply["value"] = arg;
                return reply;
            }
            case "sleep":
            {
                long ms = Long(q, "ms", 0);
                if (ms is < 0 or > MaxSleepMs) throw OutOfRange("ms", ms, 0, MaxSleepMs);
                if (_cancel.CanBeCanceled) _cancel.WaitHandle.WaitOne((int)ms);
                else Thread.Sleep((int)ms);
                return Ret(0);
            }
            case "reset":
                Reset();
                return Ret(0);
            default:
                throw new ShellException($"unknown op \"{op}\" (ops: {string.Join(", ", Ops)})");
        }
    }

    private void Opened(JsonObject q, int fd)
    {
        _opened.Add(fd);
        if (Str(q, "as") is { } name) _vars[name] = fd;
    }

    /// <summary>Closes every descriptor this shell opened and forgets the names.</summary>
    public void Reset()
    {
        foreach (var fd in _opened) SocketCalls.Close(Files, fd);
        _opened.Clear();
        _vars.Clear();
    }

    /// <summary>Closes every descriptor this shell opened (<see cref="Reset"/>).</summary>
    public void Dispose() => Reset();

    // ------------------------------------------------------------------ argument parsing

    private static JsonObject Ret(int r) =>
        r < 0 ? new JsonObject { ["ret"] = -1, ["errno"] = Errno.Name(r) } : new JsonObject { ["ret"] = r };

    /// <summary>A refusal reply: <c>{"ret": -1, "error": message}</c>.</summary>
    public static JsonObject Refusal(string message) => new() { ["ret"] = -1, ["error"] = message };

    /// <summary>
    /// A returned address: "addr" and "port", plus "family" when not AF_INET. A sockaddr_in6 prints
    /// its address as inet_ntop(AF_INET6) does ("::ffff:10.7.0.1"), with "flowinfo" and "scope_id"
    /// when not zero.
    /// </summary>
    private static JsonObject WithAddr(JsonObject r, in SockAddr a)
    {
        if (a.Family == AF_INET6)
        {
            r["addr"] = FormatIpv6(a.Addr6);
            r["port"] = a.Port;
            r["family"] = (int)a.Family;
            if (a.FlowInfo != 0) r["flowinfo"] = a.FlowInfo;
            if (a.ScopeId != 0) r["scope_id"] = a.ScopeId;
            return r;
        }
        r["addr"] = FormatIpv4(a.Addr);
        r["port"] = a.Port;
        if (a.Family != AF_INET) r["family"] = (int)a.Family;
        return r;
    }

    /// <summary>
    /// The control messages of a recvmsg as JSON: the SOL_IP ones decoded (IP_TTL and IP_TOS as
    /// "value", IP_PKTINFO as "ifindex", "spec_dst", "addr", IP_ORIGDSTADDR as "addr", "port"), any
    /// IP_RECVERR as "ee" (the 16 bytes of struct sock_extended_err in hex) and its offender's
    /// "offender_family", "offender" and "offender_port"), any other or one cut short as "len"
    /// (cmsg_len) and "hex".
    /// </summary>
    public static JsonArray Cmsgs(ReadOnlySpan<byte> control)
    {
        var list = new JsonArray();
        foreach (var c in Cmsg.Enumerate(control))
        {
            var d = c.Data;
            var o = new JsonObject
            {
                ["level"] = c.Level switch { SOL_IP => "SOL_IP", SOL_IPV6 => "SOL_IPV6", SOL_SOCKET => "SOL_SOCKET", _ => c.Level },
                ["type"] = c.Level == SOL_IPV6 && c.Type == IPV6_HOPLIMIT ? "IPV6_HOPLIMIT" : c.Level != SOL_IP ? c.Type : c.Type switch
                {
                    IP_TOS => "IP_TOS", IP_TTL => "IP_TTL", IP_PKTINFO => "IP_PKTINFO", IP_ORIGDSTADDR => "IP_ORIGDSTADDR",
                    IP_RECVERR => "IP_RECVERR", _ => (JsonNode)c.Type,
                },
            };
            int whole = c.Level == SOL_IPV6 && c.Type == IPV6_HOPLIMIT ? sizeof(int) : c.Level != SOL_IP ? -1 : c.Type switch
            {
                IP_TTL => sizeof(int), IP_TOS => 1, IP_PKTINFO => InPktinfoSize, IP_ORIGDSTADDR => SockaddrInSize,
                IP_RECVERR => SockExtendedErrSize + SockaddrInSize, _ => -1,
            };
            if (whole < 0 || c.Length != Cmsg.Len(whole) || d.Length != whole)
            {
                o["len"] = c.Length;
                o["hex"] = Convert.ToHexStringLower(d);
            }
            else if (c.Level == SOL_IPV6 || c.Type == IP_TTL) o["value"] = BinaryPrimitives.ReadInt32LittleEndian(d); // IPV6_HOPLIMIT or IP_TTL
            else if (c.Type == IP_TOS) o["value"] = (int)d[0];
            else if (c.Type == IP_PKTINFO)
            {
                o["ifindex"] = BinaryPrimitives.ReadInt32LittleEndian(d);
                o["spec_dst"] = FormatIpv4(BinaryPrimitives.ReadUInt32BigEndian(d[4..]));
                o["addr"] = FormatIpv4(BinaryPrimitives.ReadUInt32BigEndian(d[8..]));
            }
            else if (c.Type == IP_RECVERR)
            {
                o["ee"] = Convert.ToHexStringLower(d[..SockExtendedErrSize]);
                var sin = d[SockExtendedErrSize..];
                o["offender_family"] = (int)BinaryPrimitives.ReadUInt16LittleEndian(sin);
                o["offender"] = FormatIpv4(BinaryPrimitives.ReadUInt32BigEndian(sin[4..]));
                o["offender_port"] = (int)BinaryPrimitives.ReadUInt16BigEndian(sin[2..]);
            }
            else
            {
                o["addr"] = FormatIpv4(BinaryPrimitives.ReadUInt32BigEndian(d[4..]));
                o["port"] = BinaryPrimitives.ReadUInt16BigEndian(d[2..]);
                ushort family = BinaryPrimitives.ReadUInt16LittleEndian(d);
                if (family != AF_INET) o["family"] = family;
            }
            list.Add(o);
        }
        return list;
    }

    private static string? Str(JsonObject q, string key) =>
        q[key] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    private int Fd(JsonObject q)
    {
        var n = q["fd"] ?? throw new ShellException("missing \"fd\"");
        if (n is JsonValue v && v.TryGetValue<string>(out var name))
        {
            if (_vars.TryGetValue(name, out int fd)) return fd;
            if (!int.TryParse(name, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out fd))
                throw new ShellException($"unknown descriptor name \"{name}\" (name one with \"as\" when it is made)");
            return fd;
        }
        return Num(n, null, "fd");
    }

    /// <summary>The most iovecs or messages one shell request may carry (the kernel's UIO_MAXIOV).</summary>
    private const int MaxIov = UIO_MAXIOV;

    /// <summary>recvmsg's "iov": the buffer lengths to scatter into.</summary>
    private static int[] IovLengths(JsonObject q)
    {
        if (q["iov"] is not JsonArray a || a.Count > MaxIov) throw new ShellException($"\"iov\" is a list of up to {MaxIov} lengths");
        var lens = new int[a.Count];
        long total = 0;
        for (int i = 0; i < a.Count; i++)
        {
            lens[i] = a[i] is JsonValue v && v.TryGetValue<int>(out int n) && n >= 0 ? n : throw new ShellException("\"iov\" is a list of lengths");
            total += lens[i];
        }
        if (total > MaxBufferLength) throw OutOfRange("iov", total, 0, MaxBufferLength);
        return lens;
    }

    /// <summary>A buffer length: absent -> <paramref name="dflt"/>; negative or above <see cref="MaxBufferLength"/> is refused.</summary>
    private static int Length(JsonObject q, string key, int dflt)
    {
        long n = Long(q, key, dflt);
        if (n is < 0 or > MaxBufferLength) throw OutOfRange(key, n, 0, MaxBufferLength);
        return (int)n;
    }

    private static ReadOnlySpan<byte> Data(JsonObject q)
    {
        if (q.ContainsKey("data")) return Hex(q, "data");
        if (q.ContainsKey("text")) return System.Text.Encoding.UTF8.GetBytes(Str(q, "text") ?? throw new ShellException("\"text\" is a string"));
        if (q.ContainsKey("len")) return new byte[Length(q, "len", 0)];
        return default;
    }

    private static byte[] Hex(JsonObject q, string key)
    {
        var s = Str(q, key);
        if (s is null || s.Length % 2 != 0) throw new ShellException($"\"{key}\" must be hex, two digits a byte");
        try { return Convert.FromHexString(s); }
        catch (FormatException) { throw new ShellException($"\"{key}\" must be hex, two digits a byte"); }
    }

    private static (long A, long B) Pair(JsonObject q, string key)
    {
        if (q[key] is JsonArray { Count: 2 } a && a[0] is JsonValue x && a[1] is JsonValue y &&
            x.TryGetValue<long>(out long l0) && y.TryGetValue<long>(out long l1))
            return (l0, l1);
        throw new ShellException($"\"{key}\" is a list of two numbers");
    }

    private static int IntOf(long v, string key) =>
        v is < int.MinValue or > int.MaxValue ? throw OutOfRange(key, v, int.MinValue, int.MaxValue) : (int)v;

    private static SockAddr Addr(JsonObject q, bool required)
    {
        if (required && !q.ContainsKey("addr") && !q.ContainsKey("port") && !q.ContainsKey("family"))
            throw new ShellException("missing \"addr\"/\"port\"");
        uint addr = 0;
        UInt128 addr6 = 0;
        bool v6 = false;
        if (q.ContainsKey("addr"))
        {
            var s = Str(q, "addr") ?? throw new ShellException("\"addr\" is a string (\"10.7.0.1\", \"::ffff:10.7.0.1\", \"any\")");
            // An address with a colon is a sockaddr_in6 (inet_pton(AF_INET6)); "family" and "addrlen" default to it.
            if (s.Contains(':'))
            {
                if (!TryParseIpv6(s, out addr6)) throw new ShellException($"bad address \"{s}\"");
                v6 = true;
            }
            else if (s != "any" && !TryParseIpv4(s, out addr)) throw new ShellException($"bad address \"{s}\"");
        }
        // sin_port is 16 bits: C would truncate 70000 to 4464 and -1 to 65535 without a word; refuse instead.
        long port = Long(q, "port", 0);
        if (port is < 0 or > ushort.MaxValue) throw OutOfRange("port", port, 0, ushort.MaxValue);
        int family = Num(q, "family", v6 ? "AF_INET6" : "AF_INET");
        if (family == AF_INET6) v6 = true;
        int len = Num(q, "addrlen", v6 ? "28" : "16");
        if (v6)
        {
            long scope = Long(q, "scope_id", 0), flow = Long(q, "flowinfo", 0);
            if (scope is < 0 or > uint.MaxValue) throw OutOfRange("scope_id", scope, 0, uint.MaxValue);
            if (flow is < 0 or > uint.MaxValue) throw OutOfRange("flowinfo", flow, 0, uint.MaxValue);
            var a6 = SockAddr.In6(addr6, (ushort)port, (uint)scope, (uint)flow, len);
            a6.Family = (ushort)family;
            return a6;
        }
        return new SockAddr((ushort)family, addr, (ushort)port, len);
    }

    /// <summary>A whole number (or a string holding one) for <paramref name="key"/>, <paramref name="dflt"/> when absent.</summary>
    private static long Long(JsonObject q, string key, long dflt)
    {
        var n = q[key];
        if (n is null) return dflt;
        if (n is JsonValue v)
        {
            if (v.TryGetValue<long>(out long l)) return l;
            if (v.TryGetValue<double>(out double d))
            {
                if (d != Math.Floor(d)) throw new ShellException($"\"{key}\" is a whole number, got {n.ToJsonString()}");
                throw OutOfRange(key, d, long.MinValue, long.MaxValue);
            }
            if (v.TryGetValue<string>(out var s) && long.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out l)) return l;
        }
        throw new ShellException($"\"{key}\" is a number, got {n.ToJsonString()}");
    }

    private static ShellException OutOfRange(string key, double value, double min, double max) =>
        new($"\"{key}\" {value.ToString(CultureInfo.InvariantCulture)} is out of range ({min.ToString(CultureInfo.InvariantCulture)}..{max.ToString(CultureInfo.InvariantCulture)})", "EINVAL");

    private static int Num(JsonObject q, string key, string? dflt) => Num(q[key], dflt, key);

    /// <summary>
    /// A number from JSON: a number, a string of Linux names and numbers joined by '|'
    /// ("SOCK_DGRAM|SOCK_NONBLOCK", "0x800"), or an array of them. <paramref name="dflt"/> when absent.
    /// Numbers take C's int argument range, or unsigned int's (as a C caller's 0xFFFFFFFF becomes -1).
    /// </summary>
    /// <param name="n">The JSON value, or null when absent.</param>
    /// <param name="dflt">The value (names or a number) when absent, or null when the argument is required.</param>
    /// <param name="key">The argument's key, for messages.</param>
    public static int Num(JsonNode? n, string? dflt, string key = "argument")
    {
        if (n is null)
        {
            if (dflt is null) throw new ShellException($"missing \"{key}\"");
            return ParseNames(dflt, key);
        }
        if (n is JsonArray a)
        {
            int v = 0;
            foreach (var e in a) v |= Num(e, null, key);
            return v;
        }
        if (n is JsonValue jv)
        {
            if (jv.TryGetValue<int>(out int i)) return i;
            if (jv.TryGetValue<long>(out long l))
                return l is >= int.MinValue and <= uint.MaxValue ? unchecked((int)l) : throw OutOfRange(key, l, int.MinValue, uint.MaxValue);
            if (jv.TryGetValue<string>(out var s)) return ParseNames(s, key);
        }
        throw new ShellException($"\"{key}\": expected a number or Linux names, got {n.ToJsonString()}");
    }

    private static int ParseNames(string s, string key)
    {
        int v = 0;
        foreach (var part in s.Split('|', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (int.TryParse(part, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int i)) v |= i;
            else if (part.StartsWith("0x", StringComparison.OrdinalIgnoreCase) &&
                     int.TryParse(part.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out i)) v |= i;
            else if (TryLookup(part, out i)) v |= i;
            else throw new ShellException($"\"{key}\": unknown name \"{part}\"");
        }
        return v;
    }

    /// <summary>
    /// A copy of a request with every named argument turned into its number (for a peer that only
    /// takes numbers, like the parity suite's Python side).
    /// </summary>
    public static JsonObject ToNumeric(JsonObject q)
    {
        ArgumentNullException.ThrowIfNull(q);
        var c = (JsonObject)q.DeepClone();
        foreach (var key in NamedFields)
            if (c[key] is { } n && !(key == "value" && n is JsonValue v && v.TryGetValue<int>(out _)))
                c[key] = Num(n, null, key);
        if (c["fds"] is JsonArray arr)
            foreach (var e in arr)
                if (e is JsonObject o && o["events"] is { } ev) o["events"] = Num(ev, null, "events");
        return c;
    }

    /// <summary>inet_pton(AF_INET): four decimal parts, no leading zeros (host byte order out).</summary>
    internal static bool TryParseIpv4(string s, out uint addr)
    {
        addr = 0;
        var parts = s.Split('.');
        if (parts.Length != 4) return false;
        foreach (var p in parts)
        {
            if (p.Length is < 1 or > 3 || (p.Length > 1 && p[0] == '0') ||
                !byte.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out var b)) return false;
            addr = (addr << 8) | b;
        }
        return true;
    }

    /// <summary>inet_pton(AF_INET6): the text forms of RFC 4291 2.2, no zone (host order out: the first byte most significant).</summary>
    internal static bool TryParseIpv6(string s, out UInt128 addr)
    {
        addr = 0;
        if (s.Contains('%') || !System.Net.IPAddress.TryParse(s, out var ip) ||
            ip.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6) return false;
        Span<byte> b = stackalloc byte[16];
        ip.TryWriteBytes(b, out _);
        addr = BinaryPrimitives.ReadUInt128BigEndian(b);
        return true;
    }

    /// <summary>inet_ntop(AF_INET6) of a host-order address ("::ffff:10.7.0.1", "2001:db8::1").</summary>
    internal static string FormatIpv6(UInt128 a)
    {
        Span<byte> b = stackalloc byte[16];
        BinaryPrimitives.WriteUInt128BigEndian(b, a);
        return new System.Net.IPAddress(b).ToString();
    }

    /// <summary>Dotted quad of a host-order address.</summary>
    internal static string FormatIpv4(uint a) =>
        string.Create(CultureInfo.InvariantCulture, $"{a >> 24}.{(a >> 16) & 0xFF}.{(a >> 8) & 0xFF}.{a & 0xFF}");

    /// <summary>A request the shell refuses before making any call (reported as "error", with "errno" for an out-of-range value).</summary>
    /// <param name="message">What is wrong, for people.</param>
    /// <param name="errno">The errno name a C call would most likely have answered with ("EINVAL"), or null.</param>
    public sealed class ShellException(string message, string? errno = null) : Exception(message)
    {
        /// <summary>The errno name the refusal carries, or null.</summary>
        public string? Errno { get; } = errno;

        /// <summary>The reply: <c>{"ret": -1, ["errno": ...,] "error": ...}</c>.</summary>
        public JsonObject ToReply()
        {
            var r = new JsonObject { ["ret"] = -1 };
            if (Errno is not null) r["errno"] = Errno;
            r["error"] = Message;
            return r;
        }
    }
}
