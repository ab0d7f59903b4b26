using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using NetStack.Api;
using NetStack.Control;
using NetStack.Core;

namespace NetStack.Tests.Control;

/// <summary>
/// The control socket on a loopback-only stack (no TAP, no root needed): the hello, private
/// descriptors, blocking calls that block nobody else, clean-up when a client dies, the limits and
/// refusals, the socket file's life.
/// </summary>
public sealed class ControlServerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("nsctl-").FullName;
    private readonly NetNamespace _net = new("x");

    public ControlServerTests() => _net.Start();

    public void Dispose()
    {
        _net.Dispose();
        try { Directory.Delete(_dir, recursive: true); }
        catch (IOException) { }
    }

    private string SockPath(string name = "t") => Path.Combine(_dir, name + ".sock");

    private ControlServer Serve(string name = "t")
    {
        var s = new ControlServer(_net, name, SockPath(name));
        s.Start();
        return s;
    }

    private static JsonObject Req(ControlClient c, string json) => c.Request((JsonObject)JsonNode.Parse(json)!);

    /// <summary>A raw connection: what a script in any language sees.</summary>
    private sealed class Raw : IDisposable
    {
        public readonly Socket Sock = new(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        public readonly StreamReader Reader;

        public Raw(string path)
        {
            Sock.Connect(new UnixDomainSocketEndPoint(path));
            Reader = new StreamReader(new NetworkStream(Sock, ownsSocket: false));
        }

        public void Send(string s) => Sock.Send(Encoding.UTF8.GetBytes(s));

        public JsonObject Line()
        {
            var t = Reader.ReadLineAsync();
            Assert.True(t.Wait(TimeSpan.FromSeconds(10)), "no line within 10 s");
            return (JsonObject)JsonNode.Parse(t.Result ?? throw new InvalidOperationException("closed"))!;
        }

        public void Dispose() => Sock.Dispose();
    }

    private static void WaitFor(Func<bool> cond, string what)
    {
        var until = DateTime.UtcNow.AddSeconds(10);
        while (!cond())
        {
            Assert.True(DateTime.UtcNow < until, "timed out waiting for " + what);
            Thread.Sleep(10);
        }
    }

    [Fact]
    public void Hello_ComesFirst_ThenOneReplyPerRequest()
    {
        using var server = Serve();
        using var raw = new Raw(server.Path);
        var hello = raw.Line();
        Assert.Equal("netstack", (string?)hello["hello"]);
        Assert.Equal(ControlServer.ProtocolVersion, (int)hello["version"]!);
        Assert.Equal("t", (string?)hello["name"]);
        Assert.Equal(Environment.ProcessId, (int)hello["pid"]!);
        raw.Send("{\"op\":\"version\",\"id\":7}\n{\"op\":\"interfaces\"}\n");
        var v = raw.Line();
        Assert.Equal(7, (int)v["id"]!);
        Assert.Contains("sockets", v["ops"]!.AsArray().Select(o => (string)o!));
        var lo = raw.Line()["interfaces"]![0]!;
        Assert.Equal("lo", (string?)lo["name"]);
        Assert.Equal("[\"::1/128\"]", lo["addr6"]!.ToJsonString()); // the loopback device's IPv6 address (init_loopback())
    }

    [Fact]
    public void TwoClients_HaveTheirOwnDescriptors()
    {
        using var server = Serve();
        using var a = ControlClient.Connect(server.Path);
        using var b = ControlClient.Connect(server.Path);
        Assert.Equal(3, (int)Req(a, "{\"op\":\"socket\",\"type\":\"SOCK_DGRAM\"}")["ret"]!);
        Assert.Equal(3, (int)Req(b, "{\"op\":\"socket\",\"type\":\"SOCK_DGRAM\"}")["ret"]!);
        Assert.Equal(0, (int)Req(a, "{\"op\":\"bind\",\"fd\":3,\"addr\":\"127.0.0.1\",\"port\":5001}")["ret"]!);
        // b's 3 is another socket: still unbound.
        Assert.Equal(0, (int)Req(b, "{\"op\":\"getsockname\",\"fd\":3}")["port"]!);
        Assert.Equal("EBADF", (string?)Req(b, "{\"op\":\"close\",\"fd\":4}")["errno"]);
    }

    [Fact]
    public async Task BlockedRecv_OfOneClient_DoesNotBlockAnother()
    {
        using var server = Serve();
        using var a = ControlClient.Connect(server.Path);
        using var b = ControlClient.Connect(server.Path);
        Req(a, "{\"op\":\"socket\",\"type\":\"SOCK_DGRAM\"}");
        Req(a, "{\"op\":\"bind\",\"fd\":3,\"addr\":\"127.0.0.1\",\"port\":5002}");
        var blocked = a.RequestAsync((JsonObject)JsonNode.Parse("{\"op\":\"recv\",\"fd\":3,\"len\":100}")!);
        await Task.Delay(200);
        Assert.False(blocked.IsCompleted);
        // b works meanwhile: several calls, then the datagram that releases a.
        Assert.Equal(3, (int)Req(b, "{\"op\":\"socket\",\"type\":\"SOCK_DGRAM\"}")["ret"]!);
        Assert.NotNull(Req(b, "{\"op\":\"counters\"}")["counters"]);
        Assert.Equal(2, (int)Req(b, "{\"op\":\"sendto\",\"fd\":3,\"text\":\"hi\",\"addr\":\"127.0.0.1\",\"port\":5002}")["ret"]!);
        var r = await blocked.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("6869", (string?)r["data"]);
    }

    [Fact]
    public void KilledClient_InBlockingAcceptAndRecv_LeavesNoSocket()
    {
        using var server = Serve();
        var raw = new Raw(server.Path);
        raw.Line();
        raw.Send("{\"op\":\"socket\",\"type\":\"SOCK_STREAM\"}\n{\"op\":\"bind\",\"fd\":3,\"addr\":\"127.0.0.1\",\"port\":7001}\n" +
                 "{\"op\":\"listen\",\"fd\":3}\n{\"op\":\"socket\",\"type\":\"SOCK_DGRAM\"}\n{\"op\":\"bind\",\"fd\":4,\"addr\":\"127.0.0.1\",\"port\":7002}\n");
        for (int i = 0; i < 5; i++) Assert.True((int)raw.Line()["ret"]! >= 0);
        raw.Send("{\"op\":\"accept\",\"fd\":3}\n{\"op\":\"recv\",\"fd\":4}\n");
        using var other = ControlClient.Connect(server.Path);
        WaitFor(() => Req(other, "{\"op\":\"sockets\"}")["sockets"]!.AsArray().Count == 2, "the client's two sockets");
        Thread.Sleep(100); // accept is blocking now
        raw.Dispose(); // the client is killed in the middle of accept (with a recv queued behind it)
        WaitFor(() => server.ClientCount == 1, "the dead client's clean-up");
        Assert.Empty(Req(other, "{\"op\":\"sockets\"}")["sockets"]!.AsArray());
        Assert.Empty(NetStackInfo.GetSockets(_net));
        // The ports are free again: the sockets are gone from the stack, not only from the listing.
        Assert.Equal(3, (int)Req(other, "{\"op\":\"socket\",\"type\":\"SOCK_STREAM\"}")["ret"]!);
        Assert.Equal(0, (int)Req(other, "{\"op\":\"bind\",\"fd\":3,\"addr\":\"127.0.0.1\",\"port\":7001}")["ret"]!);
        Assert.Equal(4, (int)Req(other, "{\"op\":\"socket\",\"type\":\"SOCK_DGRAM\"}")["ret"]!);
        Assert.Equal(0, (int)Req(other, "{\"op\":\"bind\",\"fd\":4,\"addr\":\"127.0.0.1\",\"port\":7002}")["ret"]!);
    }

    [Fact]
    public async Task OversizedLine_IsRefusedWithTheLimit_ThenTheConnectionCloses()
    {
        // (ControlLimitsTests holds the rest of the limits.)
        using var server = Serve();
        using var raw = new Raw(server.Path);
        raw.Line();
        raw.Send("{\"op\":\"sleep\",\"ms\":0,\"pad\":\"" + new string('a', 70000) + "\"}\n{\"op\":\"version\",\"id\":1}\n");
        Assert.Equal($"request too long: limit {ControlServer.MaxLineBytes} bytes; disconnecting", (string?)raw.Line()["error"]);
        string? rest;
        try { rest = await raw.Reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10)); }
        catch (IOException) { rest = null; } // a reset: the server closed with our bytes unread
        Assert.Null(rest); // no reply to what followed: the connection is closed
    }

    [Theory]
    [InlineData("{nope", "bad JSON")]
    [InlineData("[1,2]", "a request is a JSON object")]
    [InlineData("{\"op\":\"frobnicate\"}", "unknown op \"frobnicate\"")]
    [InlineData("{\"op\":\"sockets\",\"verbose\":true}", "unknown key \"verbose\"")]
    [InlineData("{\"op\":\"recv\",\"fd\":3,\"flag\":\"MSG_DONTWAIT\"}", "unknown key \"flag\"")]
    [InlineData("{\"op\":\"bind\",\"fd\":3,\"port\":70000}", "out of range")]
    [InlineData("{\"op\":\"sysctl\",\"name\":\"net.ipv4.no_such\"}", "unknown sysctl")]
    [InlineData("{\"op\":\"sysctl\",\"name\":\"net.ipv4.tcp_sack\",\"value\":\"x\"}", "bad value")]
    public void BadRequests_AreErrorReplies_AndTheConnectionGoesOn(string line, string mentions)
    {
        using var server = Serve();
        using var raw = new Raw(server.Path);
        raw.Line();
        raw.Send("{\"op\":\"socket\",\"type\":\"SOCK_DGRAM\"}\n");
        Assert.Equal(3, (int)raw.Line()["ret"]!);
        raw.Send(line + "\n");
        Assert.Contains(mentions, (string?)raw.Line()["error"] ?? "");
        raw.Send("{\"op\":\"close\",\"fd\":3}\n");
        Assert.Equal(0, (int)raw.Line()["ret"]!);
    }

    [Fact]
    public void Sysctl_ReadWriteList_AndCounters()
    {
        using var server = Serve();
        using var c = ControlClient.Connect(server.Path);
        Assert.Equal("1", (string?)Req(c, "{\"op\":\"sysctl\",\"name\":\"net.ipv4.tcp_sack\"}")["value"]);
        Assert.Equal("0", (string?)Req(c, "{\"op\":\"sysctl\",\"name\":\"net.ipv4.tcp_sack\",\"value\":\"0\"}")["value"]);
        Assert.True(_net.Sysctl.TryGet("net.ipv4.tcp_sack", out var v) && v == "0");
        Assert.Equal("0", (string?)Req(c, "{\"op\":\"sysctl\"}")["sysctls"]!["net.ipv4.tcp_sack"]);
        var bad = Req(c, "{\"op\":\"sysctl\",\"name\":\"net.ipv4.tcp_sack\",\"value\":\"x\"}");
        Assert.Equal("EINVAL", (string?)bad["errno"]);
        Assert.Equal("ENOENT", (string?)Req(c, "{\"op\":\"sysctl\",\"name\":\"net.nope\"}")["errno"]);
        Req(c, "{\"op\":\"socket\",\"type\":\"SOCK_DGRAM\"}");
        Req(c, "{\"op\":\"sendto\",\"fd\":3,\"text\":\"x\",\"addr\":\"127.0.0.1\",\"port\":9}");
        var counters = Req(c, "{\"op\":\"counters\",\"nonzero\":true}")["counters"]!;
        Assert.True((long)counters["Udp"]!["OutDatagrams"]! >= 1);
        Assert.Null(counters["Tcp"]!["ActiveOpens"]);
    }

    [Fact]
    public void SecondServer_OnALivePath_IsRefused()
    {
        using var first = Serve();
        var second = new ControlServer(_net, "t", first.Path);
        var e = Assert.Throws<IOException>(second.Start);
        Assert.Equal($"a stack is already running on {first.Path}", e.Message);
        // The first still serves.
        using var c = ControlClient.Connect(first.Path);
        Assert.Equal("t", c.Name);
    }

    [Fact]
    public void StaleSocket_IsReplaced_AnythingElseIsNot()
    {
        // A socket file nobody listens on: what a stack killed with SIGKILL leaves behind.
        // (.NET's Socket unlinks the file it bound when disposed; a process that exits does not.)
        var psi = new System.Diagnostics.ProcessStartInfo("python3", ["-c", "import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])", SockPath()]);
        using (var p = System.Diagnostics.Process.Start(psi)!) p.WaitForExit();
        Assert.True(File.Exists(SockPath()));
        using (var server = Serve())
        using (var c = ControlClient.Connect(server.Path))
            Assert.Equal(ControlServer.ProtocolVersion, (int)c.Hello["version"]!);

        File.WriteAllText(SockPath("file"), "precious");
        var e = Assert.Throws<IOException>(() => Serve("file"));
        Assert.Contains("not a socket", e.Message);
        Assert.Equal("precious", File.ReadAllText(SockPath("file")));
    }

    [Fact]
    public void SocketFile_IsMode0600_InADirectoryMadeWhenMissing_AndRemovedOnDispose()
    {
        if (!OperatingSystem.IsLinux()) return; // the control socket is Linux-only (SO_PEERCRED)
        string path = Path.Combine(_dir, "sub", "n.sock");
        var server = new ControlServer(_net, "n", path);
        server.Start();
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead |
                     UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute, File.GetUnixFileMode(Path.GetDirectoryName(path)!));
        var c = ControlClient.Connect(path);
        Req(c, "{\"op\":\"socket\",\"type\":\"SOCK_DGRAM\"}");
        server.Dispose();
        Assert.False(File.Exists(path));
        Assert.Equal(0, server.ClientCount);
        Assert.Throws<ControlException>(() => Req(c, "{\"op\":\"version\"}"));
        c.Dispose();
        Assert.Equal("no stack is running on " + path, Assert.Throws<ControlException>(() => ControlClient.Connect(path)).Message);
    }

    [Fact]
    public async Task Client_RefusesAnotherProtocolVersion()
    {
        string path = SockPath("fake");
        using var fake = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        fake.Bind(new UnixDomainSocketEndPoint(path));
        fake.Listen(1);
        var serve = Task.Run(() =>
        {
            using var s = fake.Accept();
            s.Send(Encoding.UTF8.GetBytes("{\"hello\":\"netstack\",\"version\":2,\"name\":\"f\",\"pid\":1}\n"));
            Thread.Sleep(500);
        });
        var e = Assert.Throws<ControlException>(() => ControlClient.Connect(path));
        Assert.Contains("version 2", e.Message);
        await serve;
    }

    [Fact]
    public async Task FiftyClients_AtOnce_EachGetTheirOwnAnswers()
    {
        using var server = Serve();
        var tasks = Enumerable.Range(0, 50).Select(i => Task.Run(async () =>
        {
            using var c = await ControlClient.ConnectAsync(server.Path);
            async Task<JsonObject> R(string json) => await c.RequestAsync((JsonObject)JsonNode.Parse(json)!);
            int port = 20000 + i;
            string text = $"client {i}";
            Assert.Equal(3, (int)(await R("{\"op\":\"socket\",\"type\":\"SOCK_DGRAM\"}"))["ret"]!);
            Assert.Equal(4, (int)(await R("{\"op\":\"socket\",\"type\":\"SOCK_STREAM\",\"as\":\"t\"}"))["ret"]!);
            Assert.Equal(0, (int)(await R($"{{\"op\":\"bind\",\"fd\":3,\"addr\":\"127.0.0.1\",\"port\":{port}}}"))["ret"]!);
            for (int k = 0; k < 5; k++)
            {
                string msg = $"{text} #{k}";
                Assert.Equal(msg.Length, (int)(await R($"{{\"op\":\"sendto\",\"fd\":3,\"text\":\"{msg}\",\"addr\":\"127.0.0.1\",\"port\":{port}}}"))["ret"]!);
                var got = await R($"{{\"op\":\"recvfrom\",\"fd\":3,\"len\":100,\"id\":{k}}}");
                Assert.Equal(Convert.ToHexStringLower(Encoding.UTF8.GetBytes(msg)), (string?)got["data"]);
                Assert.Equal(port, (int)got["port"]!);
                Assert.Equal(k, (int)got["id"]!);
            }
            Assert.Equal(port, (int)(await R("{\"op\":\"getsockname\",\"fd\":3}"))["port"]!);
            Assert.Equal(0, (int)(await R("{\"op\":\"close\",\"fd\":\"t\"}"))["ret"]!);
        })).ToArray();
        await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(60));
        WaitFor(() => server.ClientCount == 0, "every client's clean-up");
    }
}
