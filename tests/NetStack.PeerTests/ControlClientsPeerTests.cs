using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using NetStack.Control;

namespace NetStack.PeerTests;

/// <summary>
/// Many clients on one running `netstack up` (issue 8), with the Linux kernel as the peer: while a
/// bulk upload from the kernel's side runs all along, 50 control clients at once each run socket
/// sequences of their own (UDP to a kernel-side echo, TCP over the stack's loopback, TCP to a
/// kernel-side echo) and each gets exactly its own answers, bytes and descriptors; afterwards
/// `netstack ss -a` shows none of their sockets. Then two `netstack repl` processes, one blocked in
/// accept and one in recv, are killed with SIGKILL, and their sockets go too. The upload ends
/// intact (its SHA-256 as the stack's http service computed it equals the sender's).
/// </summary>
public sealed partial class ControlClientsPeerTests(ITestOutputHelper output)
{
    private static readonly string CliDll = Path.Combine(AppContext.BaseDirectory, "NetStack.Cli.dll");
    private static string PeerScript => Path.Combine(AppContext.BaseDirectory, "scripts", "control_peer.py");

    private const int Clients = 50, Rounds = 5, EchoPort = 7;
    /// <summary>Client i binds its UDP socket to UdpBase + i and its loopback listener to LoBase + i.</summary>
    private const int UdpBase = 20000, LoBase = 30000;
    /// <summary>The killed repls' ports: a listener blocked in accept; a TCP connection blocked in recv and a UDP socket beside it.</summary>
    private const int AcceptPort = 40001, RecvPort = 40002, RecvUdpPort = 40003;

    [PeerFact]
    public async Task FiftyClientsDuringABulkTransfer_GetTheirOwnAnswers_AndKilledClientsLeaveNoSocket()
    {
        var (ns, tap, x) = TapPeer.NewNames();
        var dir = Directory.CreateTempSubdirectory("nsctl-clients-");
        string path = Path.Combine(dir.FullName, $"{ns}.sock"), stop = Path.Combine(dir.FullName, "stop");
        string stack = $"10.7.{x}.2", kernel = $"10.7.{x}.1";
        try
        {
            using var up = new BackgroundProcess("dotnet",
                [CliDll, "up", "--ns", ns, "--tap", tap, "--create", "--addr", $"{stack}/24", "--services", "http",
                 "--name", ns, "--control", path, "--duration", "600"], readyText: "control socket:");
            up.WaitReady(TimeSpan.FromSeconds(60));
            using var echo = BackgroundProcess.InNamespace(ns, "echo: ready", "/usr/bin/python3", "-u", PeerScript, "echo", kernel, $"{EchoPort}");
            echo.WaitReady(TimeSpan.FromSeconds(30));

            // The bulk transfer: curl uploads what the script writes until the stop file appears (so it
            // spans the whole test), chunked, to the stack's POST /sha256, which answers the body's hash.
            using var bulk = BackgroundProcess.InNamespace(ns, "stream: flowing", "bash", "-c",
                $"set -o pipefail; /usr/bin/python3 -u {PeerScript} stream {stop} 8 | " +
                $"curl -sS --fail --limit-rate 20M -H 'Expect:' -X POST -T - http://{stack}/sha256; echo \"bulk: exit $?\"");
            bulk.WaitReady(TimeSpan.FromSeconds(60));

            // ---- 50 clients at once, each on a connection of its own.
            using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(5));
            var sw = Stopwatch.StartNew();
            var counts = await Task.WhenAll(Enumerable.Range(0, Clients)
                .Select(i => Task.Run(() => RunClient(path, i, stack, kernel, deadline.Token))));
            output.WriteLine($"{Clients} clients x {Rounds} rounds: {counts.Sum()} requests, every reply its own, in {sw.Elapsed.TotalSeconds:F1} s");
            Assert.False(bulk.HasExited, "the bulk transfer ended before the clients did:\n" + bulk.Output);

            // None of their sockets is left: ss lists the protocol tables (no descriptor view), so a
            // socket a client closed but the stack kept would show here. TIME-WAIT entries are the
            // protocol's, not sockets (Linux's ss -a lists them too). Closing is over when close()
            // returned, but a TCP connection to the kernel finishes its FIN exchange after it.
            Assert.True(TapPeer.WaitUntil(() => ClientRows(Ss(ns, path), kernel).Count == 0, TimeSpan.FromSeconds(30)),
                "sockets of the clients left:\n" + string.Join("\n", ClientRows(Ss(ns, path), kernel)));
            Assert.Empty(ClientSockets(path, _ => true));

            // ---- Two client processes blocked in the stack, killed with SIGKILL.
            using var acceptor = new BackgroundProcess("dotnet", [CliDll, "repl", "--name", ns, "--control", path], readyText: "attached to the running stack");
            using var receiver = new BackgroundProcess("dotnet", [CliDll, "repl", "--name", ns, "--control", path], readyText: "attached to the running stack");
            acceptor.WaitReady(TimeSpan.FromSeconds(60));
            receiver.WaitReady(TimeSpan.FromSeconds(60));
            Send(acceptor,
                "{\"op\":\"socket\",\"domain\":\"AF_INET\",\"type\":\"SOCK_STREAM\",\"protocol\":0,\"as\":\"l\"}",
                $"{{\"op\":\"bind\",\"fd\":\"l\",\"addr\":\"{stack}\",\"port\":{AcceptPort}}}",
                "{\"op\":\"listen\",\"fd\":\"l\",\"backlog\":8}");
            Send(receiver,
                "{\"op\":\"socket\",\"domain\":\"AF_INET\",\"type\":\"SOCK_STREAM\",\"protocol\":0,\"as\":\"k\"}",
                $"{{\"op\":\"bind\",\"fd\":\"k\",\"addr\":\"{stack}\",\"port\":{RecvPort}}}",
                $"{{\"op\":\"connect\",\"fd\":\"k\",\"addr\":\"{kernel}\",\"port\":{EchoPort}}}",
                "{\"op\":\"socket\",\"domain\":\"AF_INET\",\"type\":\"SOCK_DGRAM\",\"protocol\":0,\"as\":\"u\"}",
                $"{{\"op\":\"bind\",\"fd\":\"u\",\"addr\":\"{stack}\",\"port\":{RecvUdpPort}}}");
            Assert.Equal(new[] { "{\"ret\":3}", "{\"ret\":0}", "{\"ret\":0}" }, ReplyLines(acceptor));
            Assert.Equal(new[] { "{\"ret\":3}", "{\"ret\":0}", "{\"ret\":0}", "{\"ret\":4}", "{\"ret\":0}" }, ReplyLines(receiver));
            acceptor.WriteLine("{\"op\":\"accept\",\"fd\":\"l\"}");
            receiver.WriteLine("{\"op\":\"recv\",\"fd\":\"k\",\"len\":100}"); // the echo sends nothing unasked

            // Their sockets are the stack's, owned by those two processes (SO_PEERCRED's pid).
            var owned = ClientSockets(path, s => (int?)s["pid"] is { } pid && (pid == acceptor.Pid || pid == receiver.Pid));
            output.WriteLine("before the kill:\n" + string.Join("\n", owned.Select(s => s.ToJsonString())));
            Assert.Contains(owned, s => (int)s["pid"]! == acceptor.Pid && (string?)s["local"] == $"{stack}:{AcceptPort}" && (string?)s["state"] == "Listen");
            Assert.Contains(owned, s => (int)s["pid"]! == receiver.Pid && (string?)s["local"] == $"{stack}:{RecvPort}" && (string?)s["state"] == "Established");
            Assert.Contains(owned, s => (int)s["pid"]! == receiver.Pid && (string?)s["local"] == $"{stack}:{RecvUdpPort}");
            var before = Ss(ns, path);
            Assert.Contains(before, r => r.State == "LISTEN" && r.Local == $"{stack}:{AcceptPort}");
            Assert.Contains(before, r => r.State == "ESTAB" && r.Local == $"{stack}:{RecvPort}" && r.Peer == $"{kernel}:{EchoPort}");
            Assert.Contains(before, r => r.Netid == "udp" && r.Local == $"{stack}:{RecvUdpPort}");
            // Blocked, not failed: neither call has answered (a moment for the requests to reach the stack).
            Thread.Sleep(300);
            Assert.Equal(3, ReplyLines(acceptor).Count);
            Assert.Equal(5, ReplyLines(receiver).Count);

            acceptor.Kill();
            receiver.Kill();
            bool gone = TapPeer.WaitUntil(() =>
                KilledRows(Ss(ns, path)).Count == 0 && ClientSockets(path, _ => true).Count == 0, TimeSpan.FromSeconds(30));
            var after = Ss(ns, path);
            output.WriteLine("after the kill:\n" + string.Join("\n", after));
            Assert.True(gone, "sockets of the killed clients left:\n" + string.Join("\n", KilledRows(after)) +
                "\n" + string.Join("\n", ClientSockets(path, _ => true).Select(s => s.ToJsonString())));
            Assert.False(up.HasExited, "netstack up died:\n" + up.Output);

            // ---- The bulk transfer ends, intact.
            File.WriteAllText(stop, "");
            Assert.True(bulk.WaitForExit(TimeSpan.FromSeconds(120)), "the upload did not end:\n" + bulk.Output);
            string bulkOut = bulk.Output;
            output.WriteLine(bulkOut);
            var sent = StreamSummary().Match(bulkOut);
            Assert.True(sent.Success, "no stream summary:\n" + bulkOut);
            long bytes = long.Parse(sent.Groups[1].Value, CultureInfo.InvariantCulture);
            Assert.Contains("bulk: exit 0", bulkOut);
            Assert.Matches($"(?m)^{sent.Groups[2].Value}$", bulkOut); // the stack's hash of what it received
            Assert.True(bytes >= 8 << 20, $"only {bytes} bytes uploaded");
            output.WriteLine($"upload: {bytes / 1e6:F0} MB, sha256 equal on both sides");
        }
        finally
        {
            Shell.Run("ip", "netns", "del", ns);
            dir.Delete(recursive: true);
        }
    }

    /// <summary>
    /// One client: <see cref="Rounds"/> rounds of a UDP echo through the kernel, a TCP connection
    /// over the stack's loopback (data both ways) and a TCP echo through the kernel, each with bytes
    /// of its own. Checks every reply's id, return value, descriptor, address and data. Returns the
    /// number of requests it made.
    /// </summary>
    private static async Task<int> RunClient(string path, int i, string stack, string kernel, CancellationToken ct)
    {
        using var c = await ControlClient.ConnectAsync(path, ct);
        int seq = 0;
        async Task<JsonObject> Call(JsonObject req)
        {
            string id = $"{i}.{seq++}";
            req["id"] = id;
            var reply = await c.RequestAsync(req, ct);
            if ((string?)reply["id"] != id) throw new Xunit.Sdk.XunitException($"client {i}: the reply to {req.ToJsonString()} is {reply.ToJsonString()}");
            return reply;
        }
        async Task<JsonObject> Expect(JsonObject req, int ret)
        {
            var reply = await Call(req);
            if ((int?)reply["ret"] != ret) throw new Xunit.Sdk.XunitException($"client {i}: {req.ToJsonString()} answered {reply.ToJsonString()}, expected ret {ret}");
            return reply;
        }
        void Check(bool ok, string what, JsonObject reply)
        {
            if (!ok) throw new Xunit.Sdk.XunitException($"client {i}: {what}: {reply.ToJsonString()}");
        }
        async Task<byte[]> RecvAll(string fd, int n)
        {
            var got = new MemoryStream();
            while (got.Length < n)
            {
                var r = await Call(new JsonObject { ["op"] = "recv", ["fd"] = fd, ["len"] = 65536 });
                Check((int?)r["ret"] > 0, $"recv on {fd} after {got.Length} of {n} bytes", r);
                got.Write(Convert.FromHexString((string)r["data"]!));
            }
            return got.ToArray();
        }
        JsonObject Sock(string type, string name) => new() { ["op"] = "socket", ["domain"] = "AF_INET", ["type"] = type, ["protocol"] = 0, ["as"] = name };
        JsonObject Op(string op, string fd) => new() { ["op"] = op, ["fd"] = fd };
        JsonObject At(string op, string fd, string addr, int port) => new() { ["op"] = op, ["fd"] = fd, ["addr"] = addr, ["port"] = port };

        int udpPort = UdpBase + i, loPort = LoBase + i;
        for (int round = 0; round < Rounds; round++)
        {
            var rng = new Random(i * 7919 + round);
            byte[] Bytes(int n)
            {
                var b = new byte[n];
                rng.NextBytes(b);
                // The client and round in the first bytes, so a crossed reply names its owner.
                System.Text.Encoding.ASCII.GetBytes($"c{i:D2}r{round}").CopyTo(b, 0);
                return b;
            }

            // UDP: its own port, a datagram to the kernel's echo and back. Descriptors are the
            // client's own: 3, 4, ... in every round, whatever the 49 others do.
            await Expect(Sock("SOCK_DGRAM", "u"), 3);
            await Expect(At("bind", "u", stack, udpPort), 0);
            var name = await Expect(Op("getsockname", "u"), 0);
            Check((string?)name["addr"] == stack && (int?)name["port"] == udpPort, "getsockname of u", name);
            var d1 = Bytes(300 + i);
            await Expect(new JsonObject { ["op"] = "sendto", ["fd"] = "u", ["data"] = Convert.ToHexStringLower(d1), ["addr"] = kernel, ["port"] = EchoPort }, d1.Length);
            var p = await Call(new JsonObject { ["op"] = "poll", ["fd"] = "u", ["events"] = "POLLIN", ["timeout"] = 10000 });
            Check((int?)p["ret"] == 1, "no echo of the datagram within 10 s", p);
            var dg = await Expect(new JsonObject { ["op"] = "recvfrom", ["fd"] = "u", ["len"] = 2048, ["flags"] = "MSG_DONTWAIT" }, d1.Length);
            Check((string?)dg["data"] == Convert.ToHexStringLower(d1) && (string?)dg["addr"] == kernel && (int?)dg["port"] == EchoPort, "the echoed datagram", dg);

            // TCP over the stack's loopback: listener, connect, accept, names, data both ways.
            await Expect(Sock("SOCK_STREAM", "l"), 4);
            await Expect(At("bind", "l", "127.0.0.1", loPort), 0);
            await Expect(new JsonObject { ["op"] = "listen", ["fd"] = "l", ["backlog"] = 8 }, 0);
            await Expect(Sock("SOCK_STREAM", "c"), 5);
            await Expect(At("connect", "c", "127.0.0.1", loPort), 0);
            var acc = await Expect(new JsonObject { ["op"] = "accept", ["fd"] = "l", ["as"] = "a" }, 6);
            var cname = await Expect(Op("getsockname", "c"), 0);
            Check((string?)acc["addr"] == "127.0.0.1" && (int?)acc["port"] == (int?)cname["port"], "accept's peer is not c", acc);
            var apeer = await Expect(Op("getpeername", "c"), 0);
            Check((int?)apeer["port"] == loPort, "getpeername of c", apeer);
            var d2 = Bytes(4000 + i);
            await Expect(new JsonObject { ["op"] = "send", ["fd"] = "c", ["data"] = Convert.ToHexStringLower(d2) }, d2.Length);
            var r2 = await RecvAll("a", d2.Length);
            if (!r2.AsSpan().SequenceEqual(d2)) throw new Xunit.Sdk.XunitException($"client {i}: a received other bytes than c sent ({r2.Length}: {Convert.ToHexStringLower(r2.AsSpan(0, 8))}...)");
            var d3 = Bytes(2000 + i);
            await Expect(new JsonObject { ["op"] = "send", ["fd"] = "a", ["data"] = Convert.ToHexStringLower(d3) }, d3.Length);
            var r3 = await RecvAll("c", d3.Length);
            if (!r3.AsSpan().SequenceEqual(d3)) throw new Xunit.Sdk.XunitException($"client {i}: c received other bytes than a sent");

            // TCP through the TAP to the kernel's echo, beside the bulk transfer.
            await Expect(Sock("SOCK_STREAM", "k"), 7);
            await Expect(At("connect", "k", kernel, EchoPort), 0);
            var kname = await Expect(Op("getsockname", "k"), 0);
            Check((string?)kname["addr"] == stack, "getsockname of k", kname);
            var d4 = Bytes(6000 + i);
            await Expect(new JsonObject { ["op"] = "send", ["fd"] = "k", ["data"] = Convert.ToHexStringLower(d4) }, d4.Length);
            var r4 = await RecvAll("k", d4.Length);
            if (!r4.AsSpan().SequenceEqual(d4)) throw new Xunit.Sdk.XunitException($"client {i}: the kernel's echo is not what k sent");

            foreach (var fd in new[] { "c", "a", "l", "u", "k" }) await Expect(Op("close", fd), 0);
        }
        return seq;
    }

    private sealed record SsRow(string Netid, string State, string Local, string Peer)
    {
        public override string ToString() => $"{Netid} {State} {Local} {Peer}";
    }

    /// <summary>`netstack ss -a -n` as a process: every TCP and UDP row of the running stack.</summary>
    private static List<SsRow> Ss(string ns, string path)
    {
        var r = Shell.Run("dotnet", [CliDll, "ss", "-a", "-n", "--name", ns, "--control", path], TimeSpan.FromSeconds(60));
        if (r.ExitCode != 0) throw new InvalidOperationException($"ss failed:\n{r}");
        return r.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Select(f => new SsRow(f[0], f[1], f[4], f[5])).ToList();
    }

    private static int Port(string ep) => int.TryParse(ep[(ep.LastIndexOf(':') + 1)..], CultureInfo.InvariantCulture, out int p) ? p : 0;

    /// <summary>Rows of the 50 clients' sockets other than TIME-WAIT: their UDP ports, their loopback listeners and connections, their connections to the kernel's echo.</summary>
    private static List<SsRow> ClientRows(List<SsRow> rows, string kernel) => rows.Where(r => r.State != "TIME-WAIT" &&
        (Port(r.Local) is >= UdpBase and < UdpBase + Clients or >= LoBase and < LoBase + Clients
         || Port(r.Peer) is >= LoBase and < LoBase + Clients || r.Peer == $"{kernel}:{EchoPort}")).ToList();

    /// <summary>Rows of the killed repls' sockets other than TIME-WAIT (their connection to the kernel closes with a FIN exchange).</summary>
    private static List<SsRow> KilledRows(List<SsRow> rows) =>
        rows.Where(r => r.State != "TIME-WAIT" && Port(r.Local) is AcceptPort or RecvPort or RecvUdpPort).ToList();

    /// <summary>The "sockets" op's client-owned sockets (descriptor tables of connected clients) that match.</summary>
    private static List<JsonObject> ClientSockets(string path, Func<JsonObject, bool> match)
    {
        using var c = ControlClient.Connect(path);
        return c.Request(new JsonObject { ["op"] = "sockets" })["sockets"]!.AsArray()
            .Select(n => n!.AsObject())
            .Where(s => ((string?)s["owner"])?.StartsWith("client", StringComparison.Ordinal) == true && match(s)).ToList();
    }

    /// <summary>Sends request lines to a repl and waits until each has its reply line.</summary>
    private static void Send(BackgroundProcess repl, params string[] lines)
    {
        int before = ReplyLines(repl).Count;
        foreach (var l in lines) repl.WriteLine(l);
        if (!TapPeer.WaitUntil(() => ReplyLines(repl).Count >= before + lines.Length, TimeSpan.FromSeconds(30)))
            throw new TimeoutException("the repl did not answer:\n" + repl.Output);
    }

    /// <summary>The repl's reply lines so far (its stderr's lines are not JSON).</summary>
    private static List<string> ReplyLines(BackgroundProcess repl) =>
        repl.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith('{')).ToList();

    [GeneratedRegex(@"stream: (\d+) bytes sha256 ([0-9a-f]{64})")]
    private static partial Regex StreamSummary();
}
