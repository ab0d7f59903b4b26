using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using NetStack.Api;
using NetStack.Control;
using NetStack.Core;

namespace NetStack.Tests.Control;

/// <summary>
/// The control socket against slow and hostile clients (<see cref="ControlLimits"/>): a huge line, more
/// clients than the limit, a line begun and never finished (slowloris), a client that never reads its
/// replies, a flood of requests, a client opening descriptors without end. Each case checks that the
/// offender gets its error line and is disconnected, that the matching counter moved, and that a
/// legitimate client is served meanwhile. Timeouts are set small and only the outcome is asserted.
/// </summary>
public sealed class ControlLimitsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("nslim-").FullName;
    private readonly NetNamespace _net = new("lim");

    public ControlLimitsTests() => _net.Start();

    public void Dispose()
    {
        _net.Dispose();
        try { Directory.Delete(_dir, recursive: true); }
        catch (IOException) { }
    }

    private ControlServer Serve(Action<ControlLimits>? limits = null)
    {
        var s = new ControlServer(_net, "t", Path.Combine(_dir, "t.sock"));
        limits?.Invoke(s.Limits);
        s.Start();
        return s;
    }

    private static JsonObject Req(ControlClient c, string json) => c.Request((JsonObject)JsonNode.Parse(json)!);

    /// <summary>A raw connection: sends bytes as a hostile script would, reads lines.</summary>
    private sealed class Raw : IDisposable
    {
        public readonly Socket Sock = new(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        private readonly StreamReader _reader;

        public Raw(string path)
        {
            Sock.Connect(new UnixDomainSocketEndPoint(path));
            _reader = new StreamReader(new NetworkStream(Sock, ownsSocket: false));
        }

        public void Send(string s) => Sock.Send(Encoding.UTF8.GetBytes(s));

        /// <summary>The next line, or null at the end of the stream (or a reset: the server closed with our bytes unread).</summary>
        public string? TryLine()
        {
            var t = _reader.ReadLineAsync();
            try
            {
                Assert.True(t.Wait(TimeSpan.FromSeconds(20)), "no line within 20 s");
                return t.Result;
            }
            catch (AggregateException e) when (e.InnerException is IOException) { return null; }
        }

        public JsonObject Line() => (JsonObject)JsonNode.Parse(TryLine() ?? throw new InvalidOperationException("closed"))!;

        /// <summary>Reads until the server closes (replies in flight included); false if it stays open.</summary>
        public bool ReadsToClose()
        {
            for (int i = 0; i < 1_000_000; i++)
                if (TryLine() is null) return true;
            return false;
        }

        public void Dispose() => Sock.Dispose();
    }

    private static void WaitFor(Func<bool> cond, string what)
    {
        var until = DateTime.UtcNow.AddSeconds(20);
        while (!cond())
        {
            Assert.True(DateTime.UtcNow < until, "timed out waiting for " + what);
            Thread.Sleep(10);
        }
    }

    [Fact]
    public async Task HugeLineWithoutNewline_GetsTheLimitAfterEarlierReplies_AndIsDisconnected()
    {
        using var server = Serve();
        using var other = ControlClient.Connect(server.Path);
        using var raw = new Raw(server.Path);
        raw.Line();
        raw.Send("{\"op\":\"version\",\"id\":1}\n");
        // 10 MB and no newline: the server reads it (dropping everything past the limit) until it has
        // answered; the send ends when the server closes.
        var flood = Task.Run(() =>
        {
            var chunk = Encoding.ASCII.GetBytes(new string('a', 1 << 20));
            try
            {
                for (int i = 0; i < 10; i++) raw.Sock.Send(chunk);
            }
            catch (SocketException) { } // EPIPE/ECONNRESET: disconnected mid-line
        });
        Assert.Equal(1, (int)raw.Line()["id"]!);
        Assert.Equal($"request too long: limit {ControlServer.MaxLineBytes} bytes; disconnecting", (string?)raw.Line()["error"]);
        Assert.True(raw.ReadsToClose());
        await flood.WaitAsync(TimeSpan.FromSeconds(20));
        WaitFor(() => server.ClientCount == 1, "the offender's clean-up");
        Assert.Equal(1, server.Counters.LinesTooLong);
        // The server goes on serving.
        Assert.Equal(1L, (long)Req(other, "{\"op\":\"server\"}")["server"]!["counters"]!["lines_too_long"]!);
        Assert.Equal(3, (int)Req(other, "{\"op\":\"socket\",\"type\":\"SOCK_DGRAM\"}")["ret"]!);
    }

    [Fact]
    public void LineExactlyAtTheLimit_IsARequest()
    {
        using var server = Serve();
        using var raw = new Raw(server.Path);
        raw.Line();
        raw.Send(new string(' ', ControlServer.MaxLineBytes - 2) + "{}\n{\"op\":\"version\",\"id\":2}\n");
        Assert.Equal("missing \"op\"", (string?)raw.Line()["error"]);
        Assert.Equal(2, (int)raw.Line()["id"]!);
        Assert.Equal(0, server.Counters.LinesTooLong);
    }

    [Fact]
    public void ThousandClientsBeyondTheLimit_AreRefused_WhileAdmittedOnesAreServed()
    {
        using var server = Serve(l => l.MaxClients = 2);
        using var legit = ControlClient.Connect(server.Path);
        var holder = ControlClient.Connect(server.Path);
        for (int i = 0; i < 1000; i++)
        {
            using (var refused = new Raw(server.Path))
            {
                Assert.Equal("too many clients: limit 2", (string?)refused.Line()["error"]);
                Assert.Null(refused.TryLine()); // closed after the one line
            }
            if (i % 100 == 0) Assert.Equal(ControlServer.ProtocolVersion, (int)Req(legit, "{\"op\":\"version\"}")["version"]!);
        }
        // ControlClient reports the refusal as the server worded it.
        Assert.Contains("too many clients: limit 2", Assert.Throws<ControlException>(() => ControlClient.Connect(server.Path)).Message);
        var s = Req(legit, "{\"op\":\"server\"}")["server"]!;
        Assert.Equal(2, (int)s["clients"]!);
        Assert.Equal(2, (int)s["limits"]!["max_clients"]!);
        Assert.Equal(1001L, (long)s["counters"]!["refused_too_many_clients"]!);
        Assert.Equal(2L, (long)s["counters"]!["clients_accepted"]!);
        // A slot that frees is taken by the next client.
        holder.Dispose();
        WaitFor(() => server.ClientCount == 1, "the holder's clean-up");
        using var next = ControlClient.Connect(server.Path);
        Assert.Equal(3, (int)Req(next, "{\"op\":\"socket\",\"type\":\"SOCK_DGRAM\"}")["ret"]!);
    }

    [Fact]
    public void StalledPartialLine_IsDroppedAfterTheLineTimeout_TheServerKeepsServing()
    {
        using var server = Serve(l => l.LineTimeout = TimeSpan.FromMilliseconds(200));
        using var other = ControlClient.Connect(server.Path);
        using var raw = new Raw(server.Path);
        raw.Line();
        raw.Send("{\"op\":\"version\",\"id\":1}\n{\"op\":\"ver");
        Assert.Equal(1, (int)raw.Line()["id"]!);
        Assert.Equal("request line not finished within 0.2 s; disconnecting", (string?)raw.Line()["error"]);
        Assert.True(raw.ReadsToClose());
        WaitFor(() => server.ClientCount == 1, "the staller's clean-up");
        Assert.Equal(1, server.Counters.LineTimeouts);
        Assert.Equal(3, (int)Req(other, "{\"op\":\"socket\",\"type\":\"SOCK_DGRAM\"}")["ret"]!);
    }

    [Fact]
    public void TricklingALineByteByByte_DoesNotResetTheDeadline()
    {
        // The deadline runs from the line's first byte (Kestrel's RequestHeadersTimeout), not between
        // bytes: a slowloris that sends a byte well within the timeout each time is still dropped.
        using var server = Serve(l => l.LineTimeout = TimeSpan.FromMilliseconds(300));
        using var raw = new Raw(server.Path);
        raw.Line();
        bool dropped = false;
        for (int i = 0; i < 1000 && !dropped; i++)
        {
            try { raw.Send("{"); }
            catch (SocketException) { dropped = true; }
            Thread.Sleep(20);
            dropped |= raw.Sock.Poll(0, SelectMode.SelectRead);
        }
        Assert.True(dropped, "a trickling client was never dropped");
        Assert.Equal("request line not finished within 0.3 s; disconnecting", (string?)raw.Line()["error"]);
        WaitFor(() => server.Counters.LineTimeouts == 1, "the counter");
    }

    [Fact]
    public void IdleClientBetweenRequests_IsNotDropped()
    {
        using var server = Serve(l => l.LineTimeout = TimeSpan.FromMilliseconds(50));
        using var c = ControlClient.Connect(server.Path);
        Assert.Equal(3, (int)Req(c, "{\"op\":\"socket\",\"type\":\"SOCK_DGRAM\"}")["ret"]!);
        Thread.Sleep(300); // six line timeouts with no line begun
        Assert.Equal(0, (int)Req(c, "{\"op\":\"close\",\"fd\":3}")["ret"]!);
        Assert.Equal(0, server.Counters.LineTimeouts);
    }

    [Fact]
    public async Task ClientThatNeverReads_IsDroppedAfterTheWriteTimeout_OthersAndTheStackAreUnaffected()
    {
        using var server = Serve(l => l.WriteTimeout = TimeSpan.FromMilliseconds(200));
        using var other = ControlClient.Connect(server.Path);
        using var raw = new Raw(server.Path);
        raw.Sock.ReceiveBufferSize = 4096;
        // Two thousand requests whose replies (the sysctl table, kilobytes each) far exceed what the
        // socket buffers hold; the client never reads one.
        raw.Send(string.Concat(Enumerable.Repeat("{\"op\":\"sysctl\"}\n", 2000)));
        WaitFor(() => server.Counters.SlowReaders == 1, "the non-reader to be dropped");
        WaitFor(() => server.ClientCount == 1, "the non-reader's clean-up");
        // The other client and the stack itself carry on.
        Assert.Equal(3, (int)Req(other, "{\"op\":\"socket\",\"type\":\"SOCK_DGRAM\"}")["ret"]!);
        using var s = NetSocket.Udp(_net);
        s.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 7100));
        Assert.Equal(0, (int)Req(other, "{\"op\":\"bind\",\"fd\":3,\"addr\":\"127.0.0.1\",\"port\":7101}")["ret"]!);
        Assert.Equal(2, (int)Req(other, "{\"op\":\"sendto\",\"fd\":3,\"text\":\"hi\",\"addr\":\"127.0.0.1\",\"port\":7100}")["ret"]!);
        Assert.Equal(2, await s.ReceiveAsync(new byte[10]).AsTask().WaitAsync(TimeSpan.FromSeconds(20)));
        // What it left unread ends with the close.
        Assert.True(raw.ReadsToClose());
    }

    [Fact]
    public void FloodOfRequestsBehindABlockedCall_IsCutOffAtTheQueueLimit()
    {
        using var server = Serve();
        using var other = ControlClient.Connect(server.Path);
        using var raw = new Raw(server.Path);
        raw.Line();
        raw.Send("{\"op\":\"socket\",\"type\":\"SOCK_DGRAM\"}\n{\"op\":\"bind\",\"fd\":3,\"addr\":\"127.0.0.1\",\"port\":7200}\n");
        Assert.Equal(3, (int)raw.Line()["ret"]!);
        Assert.Equal(0, (int)raw.Line()["ret"]!);
        // The worker blocks in recv; tiny requests pile up behind it, more than MaxQueuedRequests.
        raw.Send("{\"op\":\"recv\",\"fd\":3}\n" + string.Concat(Enumerable.Repeat("{}\n", ControlServer.MaxQueuedRequests + 10)));
        Assert.Equal($"too many requests ahead of their replies: limit {ControlServer.MaxQueuedBytes} bytes or {ControlServer.MaxQueuedRequests} requests; disconnecting",
            (string?)raw.Line()["error"]);
        Assert.True(raw.ReadsToClose());
        WaitFor(() => server.ClientCount == 1, "the flooder's clean-up");
        Assert.Equal(1, server.Counters.QueueOverflows);
        // Its blocked recv was woken and its socket closed: the port is free again.
        Assert.Equal(3, (int)Req(other, "{\"op\":\"socket\",\"type\":\"SOCK_DGRAM\"}")["ret"]!);
        Assert.Equal(0, (int)Req(other, "{\"op\":\"bind\",\"fd\":3,\"addr\":\"127.0.0.1\",\"port\":7200}")["ret"]!);
    }

    [Fact]
    public void DescriptorsPerClient_AreBounded_AndClosedWhenItGoes()
    {
        using var server = Serve(l => l.MaxDescriptors = 8);
        var c = ControlClient.Connect(server.Path);
        for (int fd = 3; fd < 8; fd++) Assert.Equal(fd, (int)Req(c, "{\"op\":\"socket\",\"type\":\"SOCK_DGRAM\"}")["ret"]!);
        Assert.Equal("EMFILE", (string?)Req(c, "{\"op\":\"socket\",\"type\":\"SOCK_DGRAM\"}")["errno"]);
        using var watch = ControlClient.Connect(server.Path);
        Assert.Equal(5, Req(watch, "{\"op\":\"sockets\"}")["sockets"]!.AsArray().Count);
        c.Dispose();
        WaitFor(() => server.ClientCount == 1, "the client's clean-up");
        Assert.Empty(Req(watch, "{\"op\":\"sockets\"}")["sockets"]!.AsArray());
    }
}
