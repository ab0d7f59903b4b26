using System.Buffers.Binary;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using NetStack.Net;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Cli.Shell;

/// <summary>
/// A socket shell: one JSON object in, one JSON object out, each a BSD socket call on the stack
/// (the role gVisor packetimpact's posix_server plays). It is the engine of `netstack repl` and of
/// the errno parity suite, which sends the same requests to the Linux kernel.
/// <para>Request: <c>{"op": "sendto", "fd": 3, "data": "68656c6c6f", "addr": "10.7.0.1", "port": 7}</c>.
/// Arguments take Linux names ("SOCK_DGRAM", "MSG_PEEK|MSG_DONTWAIT", or a list of names) or numbers.
/// Addresses: "addr" and "port", with optional "family" and "addrlen" to make mistakes on purpose.
/// Data is hex ("data") or text ("text"). "as": "name" stores a returned descriptor under a name
/// that later "fd" arguments may use; "id" is echoed back.</para>
/// <para>Reply: <c>{"ret": N, ...}</c> with fields such as data, addr, port, value, revents, or on failure
/// <c>{"ret": -1, "errno": "ECONNREFUSED"}</c>; a malformed request gets <c>{"ret": -1, "error": "..."}</c>.</para>
/// Ops: socket, bind, listen, accept, connect, send, recv, sendto, recvfrom, shutdown, close,
/// setsockopt, getsockopt, getsockname, getpeername, poll, fcntl, ioctl, sleep, reset (closes every
/// descriptor this shell opened).
/// </summary>
public sealed class SocketShell : IDisposable
{
    /// <summary>The ops the shell understands, in the order the help lists them.</summary>
    public static readonly string[] Ops =
    [
        "socket", "bind", "listen", "accept", "connect", "send", "recv", "sendto", "recvfrom", "shutdown", "close",
        "setsockopt", "getsockopt", "getsockname", "getpeername", "poll", "fcntl", "ioctl", "sleep", "reset",
    ];

    /// <summary>Fields whose values may be Linux names; <see cref="ToNumeric"/> resolves them.</summary>
    private static readonly string[] NamedFields =
        ["domain", "family", "type", "protocol", "flags", "level", "name", "how", "cmd", "arg", "events", "req", "value"];

    private readonly Dictionary<string, int> _vars = new();
    private readonly List<int> _opened = new();

    public SocketShell(FdTable files) => Files = files;

    public FdTable Files { get; }

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
            reply = new JsonObject { ["ret"] = -1, ["error"] = "bad JSON: " + e.Message };
        }
        catch (ShellException e)
        {
            reply = new JsonObject { ["ret"] = -1, ["error"] = e.Message };
        }
        return reply.ToJsonString(JsonOut);
    }

    /// <summary>Plain quotes in messages (no \u0022 escapes): the output is for terminals and scripts.</summary>
    private static readonly JsonSerializerOptions JsonOut = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Runs one request.</summary>
    public JsonObject Execute(JsonObject req)
    {
        JsonObject reply;
        try
        {
            reply = Dispatch(req);
        }
        catch (ShellException e)
        {
            reply = new JsonObject { ["ret"] = -1, ["error"] = e.Message };
        }
        catch (Exception e) when (e is FormatException or OverflowException or ArgumentException or InvalidOperationException or InvalidCastException)
        {
            // Values of the wrong type or range (a negative length, bad hex, a string where a number
            // goes): the request is refused, the shell goes on.
            reply = new JsonObject { ["ret"] = -1, ["error"] = "bad argument: " + e.Message };
        }
        if (req["id"] is { } id) reply["id"] = id.DeepClone();
        return reply;
    }

    private JsonObject Dispatch(JsonObject q)
    {
        string op = Str(q, "op") ?? throw new ShellException("missing \"op\"");
        var f = Files;
        switch (op)
        {
            case "socket":
            {
                int family = Num(q["domain"] ?? q["family"], "AF_INET");
                int type = Num(q["type"], null);
                int protocol = Num(q["protocol"], "0");
                int fd = SocketCalls.Socket(f, family, type, protocol);
                if (fd >= 0)
                {
                    _opened.Add(fd);
                    if (Str(q, "as") is { } name) _vars[name] = fd;
                }
                return Ret(fd);
            }
            case "bind": return Ret(SocketCalls.Bind(f, Fd(q), Addr(q, required: true)));
            case "connect": return Ret(SocketCalls.Connect(f, Fd(q), Addr(q, required: true)));
            case "listen": return Ret(SocketCalls.Listen(f, Fd(q), Num(q["backlog"], "128")));
            case "accept":
            {
                int fd = SocketCalls.Accept4(f, Fd(q), out var peer, Num(q["flags"], "0"));
                if (fd < 0) return Ret(fd);
                _opened.Add(fd);
                if (Str(q, "as") is { } name) _vars[name] = fd;
                return WithAddr(Ret(fd), peer);
            }
            case "send": return Ret(SocketCalls.Send(f, Fd(q), Data(q), Num(q["flags"], "0")));
            case "sendto":
            {
                var a = Addr(q, required: false);
                return q.ContainsKey("addr") || q.ContainsKey("port") || q.ContainsKey("addrlen")
                    ? Ret(SocketCalls.Sendto(f, Fd(q), Data(q), Num(q["flags"], "0"), a))
                    : Ret(SocketCalls.Send(f, Fd(q), Data(q), Num(q["flags"], "0")));
            }
            case "recv":
            {
                var buf = new byte[Num(q["len"], "65536")];
                int n = SocketCalls.Recv(f, Fd(q), buf, Num(q["flags"], "0"));
                var r = Ret(n);
                if (n >= 0) r["data"] = Convert.ToHexStringLower(buf, 0, Math.Min(n, buf.Length));
                return r;
            }
            case "recvfrom":
            {
                var buf = new byte[Num(q["len"], "65536")];
                int n = SocketCalls.Recvfrom(f, Fd(q), buf, Num(q["flags"], "0"), out var from);
                var r = Ret(n);
                if (n < 0) return r;
                r["data"] = Convert.ToHexStringLower(buf, 0, Math.Min(n, buf.Length));
                return from.Len == 0 ? r : WithAddr(r, from);
            }
            case "shutdown": return Ret(SocketCalls.Shutdown(f, Fd(q), Num(q["how"], null)));
            case "close":
            {
                int fd = Fd(q);
                int r = SocketCalls.Close(f, fd);
                if (r == 0) _opened.Remove(fd);
                return Ret(r);
            }
            case "setsockopt":
            {
                int level = Num(q["level"], null), name = Num(q["name"], null);
                byte[] val;
                if (q["hex"] is { } hex) val = Convert.FromHexString(hex.GetValue<string>());
                else if (q["timeval"] is JsonArray tv)
                {
                    val = new byte[16];
                    BinaryPrimitives.WriteInt64LittleEndian(val, (long)tv[0]!);
                    BinaryPrimitives.WriteInt64LittleEndian(val.AsSpan(8), (long)tv[1]!);
                }
                else if (q["linger"] is JsonArray lg)
                {
                    val = new byte[8];
                    BinaryPrimitives.WriteInt32LittleEndian(val, (int)lg[0]!);
                    BinaryPrimitives.WriteInt32LittleEndian(val.AsSpan(4), (int)lg[1]!);
                }
                else
                {
                    int optlen = Num(q["optlen"], "4");
                    val = new byte[Math.Max(optlen, 4)];
                    BinaryPrimitives.WriteInt32LittleEndian(val, Num(q["value"], "0"));
                    val = val[..optlen];
                }
                return Ret(SocketCalls.Setsockopt(f, Fd(q), level, name, val));
            }
            case "getsockopt":
            {
                int level = Num(q["level"], null), name = Num(q["name"], null);
                int len = Num(q["len"], "4");
                var buf = new byte[Math.Max(len, 0)];
                int optlen = len;
                int r = SocketCalls.Getsockopt(f, Fd(q), level, name, buf, ref optlen);
                var reply = Ret(r);
                if (r < 0) return reply;
                reply["len"] = optlen;
                reply["hex"] = Convert.ToHexStringLower(buf, 0, Math.Clamp(optlen, 0, buf.Length));
                if (optlen >= 4) reply["value"] = BinaryPrimitives.ReadInt32LittleEndian(buf);
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
                if (q["fds"] is JsonArray arr)
                    foreach (var e in arr) list.Add(new SocketCalls.PollFd(Fd((JsonObject)e!), Num(e!["events"], "POLLIN")));
                else list.Add(new SocketCalls.PollFd(Fd(q), Num(q["events"], "POLLIN")));
                var fds = list.ToArray();
                int r = SocketCalls.Poll(f, fds, Num(q["timeout"], "0"));
                var reply = Ret(r);
                if (r < 0) return reply;
                if (q["fds"] is JsonArray)
                {
                    var rev = new JsonArray();
                    foreach (var p in fds) rev.Add((int)p.Revents);
                    reply["revents"] = rev;
                }
                else reply["revents"] = (int)fds[0].Revents;
                return reply;
            }
            case "fcntl": return Ret(SocketCalls.Fcntl(f, Fd(q), Num(q["cmd"], null), Num(q["arg"], "0")));
            case "ioctl":
            {
                int arg = Num(q["arg"], "0");
                int r = SocketCalls.Ioctl(f, Fd(q), Num(q["req"], null), ref arg);
                var reply = Ret(r);
                if (r >= 0) reply["value"] = arg;
                return reply;
            }
            case "sleep":
                Thread.Sleep(Num(q["ms"], "0"));
                return Ret(0);
            case "reset":
                Reset();
                return Ret(0);
            default:
                throw new ShellException($"unknown op \"{op}\" (ops: {string.Join(", ", Ops)})");
        }
    }

    /// <summary>Closes every descriptor this shell opened and forgets the names.</summary>
    public void Reset()
    {
        foreach (var fd in _opened) SocketCalls.Close(Files, fd);
        _opened.Clear();
        _vars.Clear();
    }

    public void Dispose() => Reset();

    // ------------------------------------------------------------------ argument parsing

    private static JsonObject Ret(int r) =>
        r < 0 ? new JsonObject { ["ret"] = -1, ["errno"] = Errno.Name(r) } : new JsonObject { ["ret"] = r };

    private static JsonObject WithAddr(JsonObject r, in SockAddr a)
    {
        r["addr"] = Ipv4Address.Format(a.Addr);
        r["port"] = a.Port;
        if (a.Family != AF_INET) r["family"] = (int)a.Family;
        return r;
    }

    private static string? Str(JsonObject q, string key) =>
        q[key] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    private int Fd(JsonObject q)
    {
        var n = q["fd"] ?? throw new ShellException("missing \"fd\"");
        if (n is JsonValue v && v.TryGetValue<string>(out var name) && _vars.TryGetValue(name, out int fd)) return fd;
        return Num(n, null);
    }

    private static ReadOnlySpan<byte> Data(JsonObject q)
    {
        if (Str(q, "data") is { } hex)
        {
            try { return Convert.FromHexString(hex); }
            catch (FormatException) { throw new ShellException("\"data\" must be hex"); }
        }
        if (Str(q, "text") is { } text) return System.Text.Encoding.UTF8.GetBytes(text);
        if (q["len"] is { } len) return new byte[Num(len, null)];
        return default;
    }

    private static SockAddr Addr(JsonObject q, bool required)
    {
        if (required && !q.ContainsKey("addr") && !q.ContainsKey("port") && !q.ContainsKey("family"))
            throw new ShellException("missing \"addr\"/\"port\"");
        uint addr = 0;
        if (Str(q, "addr") is { } s && s != "any" && !Ipv4Address.TryParse(s, out addr))
            throw new ShellException($"bad address \"{s}\"");
        int port = Num(q["port"], "0");
        int family = Num(q["family"], "AF_INET");
        int len = Num(q["addrlen"], "16");
        return new SockAddr((ushort)family, addr, (ushort)port, len);
    }

    /// <summary>
    /// A number from JSON: a number, a string of Linux names and numbers joined by '|'
    /// ("SOCK_DGRAM|SOCK_NONBLOCK", "0x800"), or an array of them. <paramref name="dflt"/> when absent.
    /// </summary>
    public static int Num(JsonNode? n, string? dflt)
    {
        if (n is null)
        {
            if (dflt is null) throw new ShellException("missing argument");
            return ParseNames(dflt);
        }
        if (n is JsonArray a)
        {
            int v = 0;
            foreach (var e in a) v |= Num(e, null);
            return v;
        }
        if (n is JsonValue jv)
        {
            if (jv.TryGetValue<int>(out int i)) return i;
            if (jv.TryGetValue<long>(out long l)) return unchecked((int)l);
            if (jv.TryGetValue<string>(out var s)) return ParseNames(s);
        }
        throw new ShellException($"expected a number or Linux names, got {n.ToJsonString()}");
    }

    private static int ParseNames(string s)
    {
        int v = 0;
        foreach (var part in s.Split('|', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (int.TryParse(part, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int i)) v |= i;
            else if (part.StartsWith("0x", StringComparison.OrdinalIgnoreCase) &&
                     int.TryParse(part.AsSpan(2), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out i)) v |= i;
            else if (TryLookup(part, out i)) v |= i;
            else throw new ShellException($"unknown name \"{part}\"");
        }
        return v;
    }

    /// <summary>
    /// A copy of a request with every named argument turned into its number (for a peer that only
    /// takes numbers, like the parity suite's Python side).
    /// </summary>
    public static JsonObject ToNumeric(JsonObject q)
    {
        var c = (JsonObject)q.DeepClone();
        foreach (var key in NamedFields)
            if (c[key] is { } n && !(key == "value" && n is JsonValue v && v.TryGetValue<int>(out _)))
                c[key] = Num(n, null);
        if (c["fds"] is JsonArray arr)
            foreach (var e in arr)
                if (e is JsonObject o && o["events"] is { } ev) o["events"] = Num(ev, null);
        return c;
    }

    /// <summary>A malformed request (reported as "error", not as an errno).</summary>
    public sealed class ShellException(string message) : Exception(message);
}
