using NetStack.Ipv6;
using NetStack.Control;
using System.Diagnostics;
using System.Reflection;
using System.Text;
using System.Text.Json.Nodes;
using NetStack.Api;
using NetStack.Ipv4;
using NetStack.Net;
using NetStack.Wire;

namespace NetStack.PeerTests;

/// <summary>
/// One row of the errno parity table: a named sequence of socket calls, each a request of the
/// socket shell (<see cref="SocketShell"/>; `netstack repl` speaks the same language). Addresses
/// are written symbolically so that each side gets its own: $SELF (the side's own address), $PEER
/// (the other side: the stack for Linux, Linux for the stack), $OTHER (an unused address of the
/// subnet), $BCAST (the subnet broadcast), $NONET (an address no route reaches), $VIAGW (an address
/// each side reaches only through the other as its gateway: 198.51.100.0/24, TEST-NET-2).
/// A step may say "cmp": ["ret", ...] to compare only some fields of its reply (for replies that
/// carry per-host values such as ping identifiers).
/// </summary>
public sealed record ParityRow(string Name, params string[] Steps)
{
    public override string ToString() => Name;
}

/// <summary>
/// The parity table: every public static IEnumerable&lt;ParityRow&gt; property of this partial class
/// (in any file) contributes its rows, so new rows (TCP's, for one) go in a file of their own.
/// </summary>
public static partial class ErrnoParityTable
{
    public static IReadOnlyList<ParityRow> All { get; } = Collect();

    private static List<ParityRow> Collect()
    {
        var rows = new List<ParityRow>();
        foreach (var p in typeof(ErrnoParityTable).GetProperties(BindingFlags.Public | BindingFlags.Static)
                     .Where(p => p.PropertyType == typeof(IEnumerable<ParityRow>)).OrderBy(p => p.MetadataToken))
            rows.AddRange((IEnumerable<ParityRow>)p.GetValue(null)!);
        var dup = rows.GroupBy(r => r.Name).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) throw new InvalidOperationException($"two parity rows are named '{dup.Key}'");
        return rows;
    }

    public static IEnumerable<object[]> Names => All.Select(r => new object[] { r.Name });

    public static ParityRow Get(string name) => All.First(r => r.Name == name);
}

/// <summary>
/// Both sides of the parity suite: a stack on a TAP in a namespace of its own (no default route,
/// ICMP rate limits off), and a Python process inside that namespace making the same calls on the
/// Linux kernel (scripts/peer_shell.py, through libc). Created on first use, so a skipped run
/// creates nothing; removed at the end of the collection.
/// </summary>
public partial class ErrnoParityFixture : IDisposable
{
    private readonly bool _ipv6;
    private TapPeer? _peer;
    private Process? _python;
    private SocketShell? _shell;
    private ControlServer? _control;
    private ControlClient? _client;
    private DirectoryInfo? _controlDir;
    private readonly object _gate = new();

    public TapPeer Peer { get { Start(); return _peer!; } }

    /// <summary>The fixture of the IPv4 rows: IPv6 off on both sides.</summary>
    public ErrnoParityFixture() : this(ipv6: false) { }

    /// <param name="ipv6">IPv6 on on both sides, with global addresses and echo peers (<see cref="ErrnoParity6Fixture"/>).</param>
    protected ErrnoParityFixture(bool ipv6) => _ipv6 = ipv6;

    private void Start()
    {
        lock (_gate)
        {
            if (_peer is not null) return;
            _peer = new TapPeer(start: true, configure: o => o.Gateway = null, ipv6: _ipv6);
            // The kernel limits ICMP errors to one a second per host after a burst of 6; the rows
            // provoke many port unreachables in a row, so both sides lift the limit.
            _peer.Exec("sysctl", "-qw", "net.ipv4.icmp_ratelimit=0");
            _peer.Net.Ipv4.Sysctl.IcmpRatelimitMs = 0;
            // The kernel's namespace runs with IPv6 disabled (TapPeer without ipv6): so does the
            // stack, or its link-local address would change the native-IPv6 rows' answers.
            if (!_ipv6) lock (_peer.Net.SyncRoot) _peer.Net.Ipv6.Sysctl.DisableIpv6 = true;
            else StartIpv6(_peer);
            // TCP's buffer limits are per namespace but copied from the host's at creation, which
            // may be tuned: give the kernel the stack's (Linux's defaults), which SO_RCVLOWAT's cap reads.
            var sys = _peer.Net.Ipv4.Sysctl;
            _peer.Exec("sysctl", "-qw", $"net.ipv4.tcp_rmem={sys.TcpRmemMin} {sys.TcpRmemDefault} {sys.TcpRmemMax}");
            _peer.Exec("sysctl", "-qw", $"net.ipv4.tcp_wmem={sys.TcpWmemMin} {sys.TcpWmemDefault} {sys.TcpWmemMax}");
            // Ping sockets: the stack does not model ping_group_range; let the kernel allow them too.
            _peer.Exec("sysctl", "-qw", "net.ipv4.ping_group_range=0 2147483647");
            // $VIAGW: a network behind the other side, for SO_DONTROUTE/MSG_DONTROUTE (only on-link destinations).
            _peer.Exec("ip", "route", "add", "198.51.100.0/24", "via", _peer.StackIp);
            NetStack.Api.NetStackConfig.AddRoute(_peer.Net, System.Net.IPAddress.Parse("198.51.100.0"), 24, System.Net.IPAddress.Parse(_peer.KernelIp));
            _shell = new SocketShell(_peer.Net.Files);
            var psi = new ProcessStartInfo("ip")
            {
                UseShellExecute = false,
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            foreach (var a in new[] { "netns", "exec", _peer.Ns, "/usr/bin/python3", "-u", Path.Combine(AppContext.BaseDirectory, "scripts", "peer_shell.py") })
                psi.ArgumentList.Add(a);
            _python = Process.Start(psi) ?? throw new InvalidOperationException("cannot start python3");
        }
    }

    /// <summary>The address symbols of one side.</summary>
    public Dictionary<string, string> Symbols(bool linux)
    {
        var p = Peer;
        uint subnet = p.StackAddr & 0xFFFFFF00;
        var sym = new Dictionary<string, string>
        {
            ["$SELF"] = linux ? p.KernelIp : p.StackIp,
            // The v4-mapped forms an AF_INET6 socket uses for them (::ffff:a.b.c.d).
            ["$MSELF"] = "::ffff:" + (linux ? p.KernelIp : p.StackIp),
            ["$MPEER"] = "::ffff:" + (linux ? p.StackIp : p.KernelIp),
            ["$MOTHER"] = "::ffff:" + Ipv4Address.Format(subnet | 77),
            ["$PEER"] = linux ? p.StackIp : p.KernelIp,
            ["$OTHER"] = Ipv4Address.Format(subnet | 77),
            ["$BCAST"] = Ipv4Address.Format(subnet | 255),
            ["$NONET"] = "192.0.2.1",
            ["$VIAGW"] = "198.51.100.1",
            // The side's own address as the bytes of an in_addr (network order), for raw ip_mreq/ip_mreqn.
            ["$HEXSELF"] = (linux ? p.KernelAddr : p.StackAddr).ToString("x8"),
        };
        if (_ipv6) AddIpv6Symbols(sym, linux);
        return sym;
    }

    /// <summary>Runs a request on the Linux kernel (numbers only: the names are resolved here, with the stack's table).</summary>
    public JsonObject RunLinux(JsonObject request)
    {
        Start();
        var line = SocketShell.ToNumeric(request).ToJsonString();
        _python!.StandardInput.WriteLine(line);
        _python.StandardInput.Flush();
        var read = _python.StandardOutput.ReadLineAsync();
        if (!read.Wait(TimeSpan.FromSeconds(30)) || read.Result is null)
            throw new InvalidOperationException($"peer_shell.py did not answer {line}: {_python.StandardError.ReadToEnd()}");
        return (JsonObject)JsonNode.Parse(read.Result)!;
    }

    /// <summary>Runs a request on the stack, through the same shell as `netstack repl`.</summary>
    public JsonObject RunStack(JsonObject request)
    {
        Start();
        // A call that never returns fails its row (as the Linux side's does) instead of the whole run.
        var call = Task.Run(() => _shell!.Execute(request));
        if (!call.Wait(TimeSpan.FromSeconds(30)))
            throw new TimeoutException($"the stack did not answer {request.ToJsonString()}");
        return call.Result;
    }

    /// <summary>Runs a request on the stack through its control socket, as another process would (a server and a client of their own, on first use).</summary>
    public JsonObject RunStackViaControl(JsonObject request)
    {
        Start();
        lock (_gate)
        {
            if (_client is null)
            {
                _controlDir = Directory.CreateTempSubdirectory("nsctl-parity-");
                _control = new ControlServer(_peer!.Net, "parity", Path.Combine(_controlDir.FullName, "parity.sock"));
                _control.Start();
                _client = ControlClient.Connect(_control.Path);
            }
        }
        return _client.Request(request);
    }

    public void Dispose()
    {
        try
        {
            if (_python is { HasExited: false })
            {
                _python.StandardInput.Close();
                if (!_python.WaitForExit(5000)) _python.Kill(entireProcessTree: true);
            }
            _python?.Dispose();
            StopIpv6();
            _shell?.Dispose();
            _client?.Dispose();
            _control?.Dispose();
            _controlDir?.Delete(recursive: true);
        }
        finally
        {
            _peer?.Dispose();
        }
    }
}

/// <summary>
/// The errno parity suite: each row of <see cref="ErrnoParityTable"/> runs against the Linux kernel
/// and against the stack, and every step must answer the same (ret, errno, and the data, option
/// values, poll events and addresses it returns), row by row. Descriptors are compared as "a
/// descriptor", ephemeral ports as "ephemeral", addresses by their symbol.
/// </summary>
[Collection(ErrnoParityCollection.Name)]
public sealed class ErrnoParityTests(ErrnoParityFixture fx, ITestOutputHelper output)
{
    private static readonly string[] DefaultFields = ["ret", "errno", "error", "data", "value", "revents", "len", "hex", "addr", "port", "family", "flags", "controllen", "cmsg", "iov", "lens", "msgs", "scope_id", "flowinfo"];

    [PeerTheory]
    [MemberData(nameof(ErrnoParityTable.Names), MemberType = typeof(ErrnoParityTable))]
    public void Row(string name) => Compare(fx, output, name, fx.RunStack);

    /// <summary>Runs row <paramref name="name"/> on Linux and, through <paramref name="stackSide"/>, on the stack; asserts they answer alike.</summary>
    internal static void Compare(ErrnoParityFixture fx, ITestOutputHelper output, string name, Func<JsonObject, JsonObject> stackSide) =>
        Compare(fx, output, ErrnoParityTable.Get(name), stackSide);

    /// <summary>Runs <paramref name="row"/> on Linux and, through <paramref name="stackSide"/>, on the stack; asserts they answer alike.</summary>
    internal static void Compare(ErrnoParityFixture fx, ITestOutputHelper output, ParityRow row, Func<JsonObject, JsonObject> stackSide)
    {
        string name = row.Name;
        var linux = Run(fx, row, fx.RunLinux, linuxSide: true);
        var stack = Run(fx, row, stackSide, linuxSide: false);
        var sb = new StringBuilder();
        bool same = true;
        for (int i = 0; i < row.Steps.Length; i++)
        {
            var fields = (JsonNode.Parse(row.Steps[i])!["cmp"] as JsonArray)?.Select(x => (string)x!).ToArray() ?? DefaultFields;
            string l = Project(linux[i], fields), s = Project(stack[i], fields);
            bool eq = l == s;
            same &= eq;
            sb.Append(eq ? "   " : "!! ").Append(row.Steps[i]).Append('\n')
              .Append("      linux: ").Append(l).Append('\n')
              .Append("      stack: ").Append(s).Append('\n');
        }
        output.WriteLine($"row '{name}':\n{sb}");
        Assert.True(same, $"row '{name}' differs from Linux:\n{sb}");
    }

    /// <summary>Runs a row on one side and normalizes each reply to symbols.</summary>
    private static List<Dictionary<string, string>> Run(ErrnoParityFixture fx, ParityRow row, Func<JsonObject, JsonObject> run, bool linuxSide)
    {
        var sym = fx.Symbols(linuxSide);
        var back = sym.ToDictionary(kv => kv.Value, kv => kv.Key);
        var results = new List<Dictionary<string, string>>();
        try
        {
            foreach (var step in row.Steps)
            {
                string text = step;
                foreach (var (k, v) in sym) text = text.Replace(k, v);
                var req = (JsonObject)JsonNode.Parse(text)!;
                req.Remove("cmp");
                var reply = run(req);
                results.Add(Normalize((string)req["op"]!, reply, back));
            }
        }
        finally
        {
            run(new JsonObject { ["op"] = "reset" });
        }
        return results;
    }

    private static Dictionary<string, string> Normalize(string op, JsonObject reply, Dictionary<string, string> back)
    {
        var d = new Dictionary<string, string>();
        foreach (var (k, v) in reply)
        {
            if (v is null || k == "id") continue;
            string s = v.ToJsonString().Trim('"');
            if (k == "ret" && op is "socket" or "accept" && int.Parse(s) >= 0) s = "fd";
            if (k is "addr" or "hex" && back.TryGetValue(s, out var symbol)) s = symbol;
            if (k == "port" && int.Parse(s) is >= 32768 and <= 60999) s = "ephemeral";
            // An interface index differs between the sides: compared by its symbol ($IFX).
            if (k == "scope_id" && back.TryGetValue(s, out var ifx) && ifx == ErrnoParityFixture.IfxSymbol) s = "$IFX";
            if (k == "cmsg" && v is JsonArray cmsgs)
            {
                // The addresses inside control messages (IP_PKTINFO, IP_ORIGDSTADDR) by their symbols too.
                var c = (JsonArray)cmsgs.DeepClone();
                foreach (var m in c.OfType<JsonObject>())
                {
                    foreach (var field in new[] { "addr", "spec_dst", "offender" })
                        if (m[field] is JsonValue a && back.TryGetValue(a.ToString(), out var sym)) m[field] = sym;
                    // An IPv6 address inside raw bytes (the offender of an IPV6_RECVERR message) by its symbol too.
                    if (m["hex"] is JsonValue h)
                    {
                        string hex = h.ToString();
                        foreach (var (value, name) in back)
                            if (System.Net.IPAddress.TryParse(value, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6)
                                hex = hex.Replace(Convert.ToHexStringLower(ip.GetAddressBytes()), name);
                        m["hex"] = hex;
                    }
                }
                s = c.ToJsonString();
            }
            d[k] = s;
        }
        return d;
    }

    private static string Project(Dictionary<string, string> r, string[] fields) =>
        string.Join(" ", fields.Where(r.ContainsKey).Select(f => $"{f}={r[f]}"));
}

/// <summary>
/// The in-process rows and the control-socket rows share one fixture: one stack, on which the
/// in-process shell (the namespace's own descriptor table) and a control client (a table of its
/// own) run every row one after the other, and one Linux peer that runs each row twice.
/// <para>They once had a fixture each, as a workaround: sharing one, an in-process row hung in its
/// blocking accept after the control run. The cause was the stack's: a segment sent on lo was
/// processed later by the receive thread, not inside the sending call as Linux does, so the
/// reset's close() of a row's client and the close() of its accepted end right after crossed as a
/// simultaneous close. Both ends went to TIME_WAIT; the accepted end's, on the listener's port,
/// made the next run of the row bind() EADDRINUSE, its listen() took an ephemeral port, its
/// connect() was refused and its accept() waited for ever. The calls now process their loopback
/// segments before they return (SyscallLock; rows "tcp loopback: ..." and LoopbackSoftirqTests).</para>
/// </summary>
[CollectionDefinition(ErrnoParityCollection.Name)]
public sealed class ErrnoParityCollection : ICollectionFixture<ErrnoParityFixture>
{
    public const string Name = "errno parity";
}

/// <summary>
/// The errno parity rows with the stack's side sent through the control socket, as `netstack repl`
/// attached to a running `up` sends them: the same answers as the in-process shell and as Linux.
/// </summary>
[Collection(ErrnoParityCollection.Name)]
public sealed class ErrnoParityControlTests(ErrnoParityFixture fx, ITestOutputHelper output)
{
    [PeerTheory]
    [MemberData(nameof(ErrnoParityTable.Names), MemberType = typeof(ErrnoParityTable))]
    public void Row(string name) => ErrnoParityTests.Compare(fx, output, name, fx.RunStackViaControl);
}
