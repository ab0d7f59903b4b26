using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using NetStack.Api;
using NetStack.Control;
using NetStack.Core;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Control;

/// <summary>
/// A program's side of a running stack (<see cref="RemoteStack"/>, <see cref="RemoteSocket"/>) on a
/// loopback-only stack, and the protocol's "share"/"join" under it: connections of one program name
/// the same descriptors, a blocked call of one thread does not hold up another, the table lives until
/// the last connection goes.
/// </summary>
public sealed class RemoteStackTests() : ServedStack("r")
{
    /// <summary>Every socket in the stack's protocol tables (whoever holds it).</summary>
    private int StackSockets() => NetStackInfo.GetTcpSockets(Net).Count + NetStackInfo.GetUdpSockets(Net).Count;

    private static JsonObject Req(ControlClient c, string json) => c.Request((JsonObject)JsonNode.Parse(json)!);

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
    public void Join_SharesTheDescriptorTable_AndItClosesWithTheLastConnection()
    {
        using var a = ControlClient.Connect(Server.Path);
        var b = ControlClient.Connect(Server.Path);
        Assert.Equal(3, (int)Req(a, "{\"op\":\"socket\",\"type\":\"SOCK_DGRAM\"}")["ret"]!);
        string token = (string)Req(a, "{\"op\":\"share\"}")["token"]!;
        Assert.Equal(32, token.Length);
        Assert.Equal(token, (string)Req(a, "{\"op\":\"share\"}")["token"]!); // one token per table
        var joined = Req(b, $"{{\"op\":\"join\",\"token\":\"{token}\"}}");
        Assert.Equal(0, (int)joined["ret"]!);
        Assert.Equal(1, (int)joined["fds"]!);
        // b names a's descriptor, and a sees b's.
        Assert.Equal(0, (int)Req(b, "{\"op\":\"bind\",\"fd\":3,\"addr\":\"127.0.0.1\",\"port\":7100}")["ret"]!);
        Assert.Equal(4, (int)Req(b, "{\"op\":\"socket\",\"type\":\"SOCK_DGRAM\"}")["ret"]!);
        Assert.Equal(7100, (int)Req(a, "{\"op\":\"getsockname\",\"fd\":3}")["port"]!);
        Assert.Equal(0, (int)Req(a, "{\"op\":\"close\",\"fd\":4}")["ret"]!);
        // b goes: the table stays, a still has fd 3.
        b.Dispose();
        WaitFor(() => Server.ClientCount == 1, "b's clean-up");
        Assert.Equal(7100, (int)Req(a, "{\"op\":\"getsockname\",\"fd\":3}")["port"]!);
        Assert.Single(NetStackInfo.GetUdpSockets(Net));
        // The last connection goes: the table is closed and the token is dead.
        a.Dispose();
        WaitFor(() => Server.ClientCount == 0, "a's clean-up");
        Assert.Equal(0, StackSockets());
        using var c = ControlClient.Connect(Server.Path);
        var late = Req(c, $"{{\"op\":\"join\",\"token\":\"{token}\"}}");
        Assert.Equal("ENOENT", (string?)late["errno"]);
    }

    [Fact]
    public void Join_IsRefused_WithAnUnknownToken_WithDescriptorsOpen_OrWithAnUnknownKey()
    {
        using var a = ControlClient.Connect(Server.Path);
        using var b = ControlClient.Connect(Server.Path);
        string token = (string)Req(a, "{\"op\":\"share\"}")["token"]!;
        Assert.Equal("ENOENT", (string?)Req(b, "{\"op\":\"join\",\"token\":\"00\"}")["errno"]);
        Assert.Contains("token", (string?)Req(b, "{\"op\":\"join\",\"token\":5}")["error"]);
        Assert.Contains("unknown key \"tok\"", (string?)Req(b, "{\"op\":\"join\",\"tok\":\"x\"}")["error"]);
        Assert.Contains("takes no arguments", (string?)Req(b, "{\"op\":\"share\",\"x\":1}")["error"]);
        Req(b, "{\"op\":\"socket\",\"type\":\"SOCK_DGRAM\"}");
        var busy = Req(b, $"{{\"op\":\"join\",\"token\":\"{token}\"}}");
        Assert.Equal("EBUSY", (string?)busy["errno"]);
        Assert.Contains("before opening descriptors", (string?)busy["error"]);
    }

    [Fact]
    public async Task RemoteSockets_TcpOverTheStacksLoopback_ABlockedRecvDoesNotHoldUpASend()
    {
        using var stack = RemoteStack.Connect(Server.Path);
        Assert.Equal("r", stack.Name);
        Assert.Equal(Environment.ProcessId, stack.Pid);
        using var listener = stack.Tcp();
        listener.SetOption(SOL_SOCKET, SO_REUSEADDR, 1);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 7200));
        listener.Listen();
        var accepted = listener.AcceptAsync();
        using var client = stack.Tcp();
        client.Connect(new IPEndPoint(IPAddress.Loopback, 7200));
        using var server = await accepted.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(client.LocalEndPoint, server.RemoteEndPoint);

        // The server blocks in recv on one connection while the client sends on another.
        var buf = new byte[100];
        var recv = Task.Run(() => server.Receive(buf));
        Thread.Sleep(50);
        Assert.False(recv.IsCompleted);
        Assert.Equal(5, client.Send("hello"u8));
        int got = await recv.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal("hello", Encoding.ASCII.GetString(buf, 0, got));

        // More than one request's worth of data, through the streams.
        var big = new byte[200_000];
        new Random(7).NextBytes(big);
        using var cs = client.GetStream();
        using var ss = server.GetStream();
        var reader = Task.Run(() =>
        {
            var got = new MemoryStream();
            ss.CopyTo(got);
            return got.ToArray();
        });
        cs.Write(big);
        client.Shutdown(SHUT_WR);
        Assert.Equal(big, await reader.WaitAsync(TimeSpan.FromSeconds(20)));
    }

    [Fact]
    public void RemoteSockets_ErrnoIsTheStacks_AndACancelledReceiveTakesNothing()
    {
        using var stack = RemoteStack.Connect(Server.Path);
        using var tcp = stack.Tcp();
        var refused = Assert.Throws<NetStackException>(() => tcp.Connect(new IPEndPoint(IPAddress.Loopback, 9)));
        Assert.Equal(Errno.ECONNREFUSED, refused.Errno);
        Assert.Contains("connect", refused.Message);

        using var a = stack.Udp();
        using var b = stack.Udp();
        a.Bind(new IPEndPoint(IPAddress.Loopback, 7300));
        b.Bind(new IPEndPoint(IPAddress.Loopback, 7301));
        var dup = stack.Udp();
        Assert.Equal(Errno.EADDRINUSE, Assert.Throws<NetStackException>(() => dup.Bind(new IPEndPoint(IPAddress.Loopback, 7300))).Errno);
        dup.Dispose();

        using (var cts = new CancellationTokenSource(300))
            Assert.ThrowsAny<OperationCanceledException>(() => a.Receive(new byte[10], 0, cts.Token));
        // The cancelled receive left nothing pending in the stack: the next datagram goes to the next receive.
        b.SendTo("one"u8, new IPEndPoint(IPAddress.Loopback, 7300));
        var buf = new byte[10];
        int n = a.ReceiveFrom(buf, out var from);
        Assert.Equal("one", Encoding.ASCII.GetString(buf, 0, n));
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 7301), from);
        Assert.Equal(Errno.EAGAIN, Assert.Throws<NetStackException>(() => a.Receive(buf, MSG_DONTWAIT)).Errno);
    }

    [Fact]
    public async Task RemoteStack_Dispose_ClosesEverythingItOpened_OnEveryLane()
    {
        var stack = RemoteStack.Connect(Server.Path);
        var l = stack.Tcp();
        l.Bind(new IPEndPoint(IPAddress.Loopback, 7400));
        l.Listen();
        // A second thread blocks in accept (a lane of its own) while the first opens more.
        var blocked = Task.Run(() => { try { l.Accept(out _); } catch (Exception) { } });
        Thread.Sleep(50);
        stack.Udp().Bind(new IPEndPoint(IPAddress.Loopback, 7401));
        Assert.Equal(2, StackSockets());
        Assert.Equal(2, Server.ClientCount);
        stack.Dispose();
        WaitFor(() => Server.ClientCount == 0, "the program's connections to go");
        Assert.Equal(0, StackSockets());
        await blocked.WaitAsync(TimeSpan.FromSeconds(10)); // the blocked accept ended
    }

    [Fact]
    public async Task HttpHandler_GetsThroughTheRunningStack()
    {
        using var stack = RemoteStack.Connect(Server.Path);
        // A tiny HTTP server on the stack, made in-process on the same stack.
        using var l = NetSocket.Tcp(Net);
        l.Bind(new IPEndPoint(IPAddress.Loopback, 8080));
        l.Listen();
        var serve = Task.Run(async () =>
        {
            using var c = await l.AcceptAsync();
            var buf = new byte[4096];
            int got = 0;
            while (!Encoding.ASCII.GetString(buf, 0, got).Contains("\r\n\r\n", StringComparison.Ordinal))
                got += await c.ReceiveAsync(buf.AsMemory(got));
            var body = new string('x', 70_000);
            var reply = Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n{body}");
            for (int off = 0; off < reply.Length;) off += await c.SendAsync(reply.AsMemory(off));
            c.Shutdown(SHUT_WR);
        });
        using var http = new HttpClient(stack.CreateHttpHandler());
        string text = await http.GetStringAsync(new Uri("http://127.0.0.1:8080/"));
        Assert.Equal(70_000, text.Length);
        Assert.All(text, ch => Assert.Equal('x', ch));
        await serve.WaitAsync(TimeSpan.FromSeconds(10));
    }
}
