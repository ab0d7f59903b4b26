using System.Buffers.Binary;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using NetStack.Api;
using NetStack.Core;
using NetStack.Services.Iperf3;

namespace NetStack.Tests.Services;

/// <summary>
/// iperf3's control protocol on two stacks in one process (A at 10.9.0.1, B at 10.9.0.2 over a
/// MemoryLink, real time): the server's state machine driven byte by byte by a scripted client
/// (cookie, PARAM_EXCHANGE, CREATE_STREAMS, TEST_START, TEST_RUNNING, TEST_END, EXCHANGE_RESULTS,
/// DISPLAY_RESULTS, IPERF_DONE; ACCESS_DENIED and SERVER_ERROR), the client against a scripted
/// server, and the client against the server for TCP, reverse, parallel, UDP and JSON.
/// </summary>
public sealed class Iperf3SessionTests : IDisposable
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);
    private static readonly IPAddress AddrB = IPAddress.Parse("10.9.0.2");
    private readonly RealTimeStacks _s = new();
    private readonly StringBuilder _serverText = new();
    private NetNamespace A => _s.A;
    private NetNamespace B => _s.B;

    public void Dispose() => _s.Dispose();

    private Iperf3Server StartServer(Iperf3ServerOptions? o = null)
    {
        o ??= new Iperf3ServerOptions();
        o.Output ??= t => { lock (_serverText) _serverText.Append(t); };
        var server = new Iperf3Server(B, o);
        server.Start();
        return server;
    }

    private string ServerText
    {
        get { lock (_serverText) return _serverText.ToString(); }
    }

    private static async Task<NetSocket> ConnectAsync(NetNamespace net, ushort port = 5201)
    {
        var s = NetSocket.Tcp(net);
        await s.ConnectAsync(new IPEndPoint(AddrB, port)).AsTask().WaitAsync(Limit);
        return s;
    }

    private static async Task<sbyte> ReadStateAsync(NetSocket s)
    {
        var b = new byte[1];
        Assert.True(await Iperf3Protocol.ReadExactAsync(s, b, default).AsTask().WaitAsync(Limit), "the connection ended before a state byte");
        return (sbyte)b[0];
    }

    private static Task SendAsync(NetSocket s, byte[] data) => Iperf3Protocol.WriteAllAsync(s, data, default).AsTask().WaitAsync(Limit);

    private static JsonObject ClientResults(long bytes) => new()
    {
        ["cpu_util_total"] = 1.5, ["cpu_util_user"] = 0.5, ["cpu_util_system"] = 1.0, ["sender_has_retransmits"] = 1,
        ["streams"] = new JsonArray(new JsonObject { ["id"] = 1, ["bytes"] = bytes, ["retransmits"] = 0, ["jitter"] = 0, ["errors"] = 0, ["packets"] = 0, ["start_time"] = 0, ["end_time"] = 1.0 }),
    };

    [Fact]
    public async Task Server_StateMachine_TcpTest_ByteByByte()
    {
        var server = StartServer();
        var run = server.RunAsync();
        await using var _ = server;
        using var ctrl = await ConnectAsync(A);
        var cookie = Iperf3Protocol.MakeCookie();
        await SendAsync(ctrl, cookie);
        Assert.Equal((sbyte)Iperf3State.ParamExchange, await ReadStateAsync(ctrl));                     // 9
        await SendAsync(ctrl, Iperf3Protocol.EncodeJson(new JsonObject { ["tcp"] = true, ["omit"] = 0, ["time"] = 1, ["num"] = 0, ["blockcount"] = 0, ["parallel"] = 1, ["len"] = 65536, ["client_version"] = "3.12" }));
        Assert.Equal((sbyte)Iperf3State.CreateStreams, await ReadStateAsync(ctrl));                     // 10
        using var stream = await ConnectAsync(A);
        await SendAsync(stream, cookie);
        Assert.Equal((sbyte)Iperf3State.TestStart, await ReadStateAsync(ctrl));                         // 1
        Assert.Equal((sbyte)Iperf3State.TestRunning, await ReadStateAsync(ctrl));                       // 2
        var data = new byte[1 << 20];
        await SendAsync(stream, data);
        await Task.Delay(300);
        await SendAsync(ctrl, [(byte)Iperf3State.TestEnd]);                                             // 4
        Assert.Equal((sbyte)Iperf3State.ExchangeResults, await ReadStateAsync(ctrl));                   // 13
        await SendAsync(ctrl, Iperf3Protocol.EncodeJson(ClientResults(data.Length)));
        var results = await Iperf3Protocol.ReadJsonAsync(ctrl, Iperf3Error.RecvResults, default).AsTask().WaitAsync(Limit);
        Assert.Equal(-1, (int)results["sender_has_retransmits"]!);                                      // the server received
        var s = (JsonObject)results["streams"]![0]!;
        Assert.Equal(1, (int)s["id"]!);
        Assert.InRange((long)s["bytes"]!, 1, data.Length);
        Assert.Equal(-1, (long)s["retransmits"]!);
        Assert.Equal((sbyte)Iperf3State.DisplayResults, await ReadStateAsync(ctrl));                    // 14
        await SendAsync(ctrl, [(byte)Iperf3State.IperfDone]);                                           // 16
        Assert.True(TwoStacksWait.Until(() => server.Completed == 1, Limit));
        Assert.Contains("Server listening on 5201 (test #1)", ServerText);
        Assert.Contains("Accepted connection from 10.9.0.1, port ", ServerText);
        Assert.Matches(@"\[\s*\d+\] local 10\.9\.0\.2 port 5201 connected to 10\.9\.0\.1 port \d+", ServerText);
        Assert.Matches(@"\[\s*\d+\]   0\.00-\d\.\d\d   sec .* receiver\n", ServerText);
        Assert.Contains("Server listening on 5201 (test #2)", ServerText);
    }

    /// <summary>
    /// Stream ids follow the order the server accepted the connections, whatever order their cookies
    /// come in: both ends number their streams the same way (iperf3 reads each cookie in turn).
    /// </summary>
    [Fact]
    public async Task Server_StreamIdsFollowTheAcceptOrder_NotTheCookiesOrder()
    {
        var server = StartServer();
        var run = server.RunAsync();
        await using var _ = server;
        using var ctrl = await ConnectAsync(A);
        var cookie = Iperf3Protocol.MakeCookie();
        await SendAsync(ctrl, cookie);
        Assert.Equal((sbyte)Iperf3State.ParamExchange, await ReadStateAsync(ctrl));
        await SendAsync(ctrl, Iperf3Protocol.EncodeJson(new JsonObject { ["tcp"] = true, ["time"] = 1, ["parallel"] = 2, ["len"] = 1024 }));
        Assert.Equal((sbyte)Iperf3State.CreateStreams, await ReadStateAsync(ctrl));
        using var first = await ConnectAsync(A);
        using var second = await ConnectAsync(A);
        await SendAsync(second, cookie);       // the second one speaks first
        await Task.Delay(200);
        await SendAsync(first, cookie);
        Assert.Equal((sbyte)Iperf3State.TestStart, await ReadStateAsync(ctrl));
        Assert.Equal((sbyte)Iperf3State.TestRunning, await ReadStateAsync(ctrl));
        await SendAsync(first, new byte[1000]);
        await SendAsync(second, new byte[3000]);
        await Task.Delay(300);
        await SendAsync(ctrl, [(byte)Iperf3State.TestEnd]);
        Assert.Equal((sbyte)Iperf3State.ExchangeResults, await ReadStateAsync(ctrl));
        var mine = ClientResults(1000);
        ((JsonArray)mine["streams"]!).Add(new JsonObject { ["id"] = 3, ["bytes"] = 3000, ["retransmits"] = 0, ["jitter"] = 0, ["errors"] = 0, ["packets"] = 0, ["start_time"] = 0, ["end_time"] = 1.0 });
        await SendAsync(ctrl, Iperf3Protocol.EncodeJson(mine));
        var results = await Iperf3Protocol.ReadJsonAsync(ctrl, Iperf3Error.RecvResults, default).AsTask().WaitAsync(Limit);
        var byId = ((JsonArray)results["streams"]!).Select(n => ((int)n!["id"]!, (long)n["bytes"]!)).ToDictionary();
        Assert.Equal(1000, byId[1]);
        Assert.Equal(3000, byId[3]);
        Assert.Equal((sbyte)Iperf3State.DisplayResults, await ReadStateAsync(ctrl));
        await SendAsync(ctrl, [(byte)Iperf3State.IperfDone]);
    }

    [Fact]
    public async Task Server_Busy_AnswersAccessDenied_AndAStreamWithAnotherCookieToo()
    {
        var server = StartServer();
        var run = server.RunAsync();
        await using var _ = server;
        using var ctrl = await ConnectAsync(A);
        var cookie = Iperf3Protocol.MakeCookie();
        await SendAsync(ctrl, cookie);
        Assert.Equal((sbyte)Iperf3State.ParamExchange, await ReadStateAsync(ctrl));
        // A second client while the first is in PARAM_EXCHANGE: ACCESS_DENIED (-1), then closed.
        using (var other = await ConnectAsync(A))
        {
            Assert.Equal((sbyte)Iperf3State.AccessDenied, await ReadStateAsync(other));
            Assert.Equal(0, await other.ReceiveAsync(new byte[1]).AsTask().WaitAsync(Limit));
        }
        await SendAsync(ctrl, Iperf3Protocol.EncodeJson(new JsonObject { ["tcp"] = true, ["time"] = 1, ["parallel"] = 1, ["len"] = 1024 }));
        Assert.Equal((sbyte)Iperf3State.CreateStreams, await ReadStateAsync(ctrl));
        // During CREATE_STREAMS every connection is a stream: a wrong cookie is refused.
        using (var intruder = await ConnectAsync(A))
        {
            await SendAsync(intruder, Iperf3Protocol.MakeCookie());
            Assert.Equal((sbyte)Iperf3State.AccessDenied, await ReadStateAsync(intruder));
        }
        using var stream = await ConnectAsync(A);
        await SendAsync(stream, cookie);
        Assert.Equal((sbyte)Iperf3State.TestStart, await ReadStateAsync(ctrl));
        Assert.Equal((sbyte)Iperf3State.TestRunning, await ReadStateAsync(ctrl));
        // The client gives up: CLIENT_TERMINATE ends the test on the server, which listens again.
        await SendAsync(ctrl, [(byte)Iperf3State.ClientTerminate]);
        Assert.True(TwoStacksWait.Until(() => server.Failed == 1, Limit));
        Assert.Contains("the client has terminated", ServerText);
        Assert.Contains("(test #2)", ServerText);
    }

    [Fact]
    public async Task Server_RefusesSctp_WithServerErrorAndTheErrnoPair()
    {
        var server = StartServer();
        var run = server.RunAsync();
        await using var _ = server;
        using var ctrl = await ConnectAsync(A);
        await SendAsync(ctrl, Iperf3Protocol.MakeCookie());
        Assert.Equal((sbyte)Iperf3State.ParamExchange, await ReadStateAsync(ctrl));
        await SendAsync(ctrl, Iperf3Protocol.EncodeJson(new JsonObject { ["sctp"] = true, ["time"] = 1, ["parallel"] = 1 }));
        Assert.Equal((sbyte)Iperf3State.ServerError, await ReadStateAsync(ctrl));
        var b = new byte[8];
        Assert.True(await Iperf3Protocol.ReadExactAsync(ctrl, b, default).AsTask().WaitAsync(Limit));
        Assert.Equal(Iperf3Error.Protocol, BinaryPrimitives.ReadInt32BigEndian(b));
        Assert.Equal(0, BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(4)));
    }

    [Fact]
    public async Task Server_ClientVanishesBeforeItsCookie_TheServerListensAgain()
    {
        var server = StartServer();
        var run = server.RunAsync();
        await using var _ = server;
        using (await ConnectAsync(A)) { }
        Assert.True(TwoStacksWait.Until(() => server.Failed == 1, Limit));
        Assert.Contains("iperf3: error - unable to receive cookie at server", ServerText);
        var r = await Iperf3Client.RunAsync(A, new Iperf3ClientOptions { Host = AddrB, Time = 1, Interval = 0 }, _ => { }).WaitAsync(Limit);
        Assert.Null(r.Error);
    }

    [Fact]
    public async Task Server_GivesUpOnAClientThatNeverSetsUp()
    {
        // Only the setup timeout is short: nothing else in this test can expire on a loaded machine.
        var server = StartServer(new Iperf3ServerOptions { SetupTimeout = TimeSpan.FromSeconds(1), RcvTimeout = Limit });
        var run = server.RunAsync();
        await using var _ = server;
        // A client that sends its cookie and then nothing.
        using var mute = await ConnectAsync(A);
        await SendAsync(mute, Iperf3Protocol.MakeCookie());
        Assert.Equal((sbyte)Iperf3State.ParamExchange, await ReadStateAsync(mute));
        Assert.True(TwoStacksWait.Until(() => server.Failed == 1, Limit));
        Assert.Contains("did not set the test up within 1 s", ServerText);
    }

    [Fact]
    public async Task Server_GivesUpOnARunningTestThatStalls()
    {
        // Only the receive timeout is short, so the setup below cannot run out of time on a loaded machine.
        var server = StartServer(new Iperf3ServerOptions { SetupTimeout = Limit, RcvTimeout = TimeSpan.FromSeconds(1) });
        var run = server.RunAsync();
        await using var _ = server;
        // A client whose test runs, but which sends no data and no TEST_END.
        using var ctrl = await ConnectAsync(A);
        var cookie = Iperf3Protocol.MakeCookie();
        await SendAsync(ctrl, cookie);
        Assert.Equal((sbyte)Iperf3State.ParamExchange, await ReadStateAsync(ctrl));
        await SendAsync(ctrl, Iperf3Protocol.EncodeJson(new JsonObject { ["tcp"] = true, ["time"] = 0, ["num"] = 1 << 30, ["parallel"] = 1, ["len"] = 1024 }));
        Assert.Equal((sbyte)Iperf3State.CreateStreams, await ReadStateAsync(ctrl));
        using var stream = await ConnectAsync(A);
        await SendAsync(stream, cookie);
        Assert.Equal((sbyte)Iperf3State.TestStart, await ReadStateAsync(ctrl));
        Assert.Equal((sbyte)Iperf3State.TestRunning, await ReadStateAsync(ctrl));
        Assert.True(TwoStacksWait.Until(() => server.Failed == 1, Limit));
        Assert.Contains("idle timeout for receiving data: nothing received or sent for 1 s", ServerText);
        Assert.Equal(0, await ctrl.ReceiveAsync(new byte[1]).AsTask().WaitAsync(Limit)); // closed
    }

    [Fact]
    public async Task Client_AgainstABusyServer_ReportsIt()
    {
        using var listener = NetSocket.Tcp(B);
        listener.Bind(new IPEndPoint(IPAddress.Any, 5201));
        listener.Listen();
        var serverSide = Task.Run(async () =>
        {
            using var c = await listener.AcceptAsync();
            await SendAsync(c, [unchecked((byte)(sbyte)Iperf3State.AccessDenied)]);
            await Task.Delay(200);
        });
        var r = await Iperf3Client.RunAsync(A, new Iperf3ClientOptions { Host = AddrB, Time = 1 }, _ => { }).WaitAsync(Limit);
        Assert.Equal(1, r.ExitCode);
        Assert.Equal("the server is busy running a test. try again later", r.Error);
        await serverSide.WaitAsync(Limit);
    }

    [Fact]
    public async Task Client_ServerError_ReportsItsErrnoPair_AndRefusedConnectionsSaySo()
    {
        using (var listener = NetSocket.Tcp(B))
        {
            listener.Bind(new IPEndPoint(IPAddress.Any, 5201));
            listener.Listen();
            var serverSide = Task.Run(async () =>
            {
                using var c = await listener.AcceptAsync();
                Assert.True(await Iperf3Protocol.ReadExactAsync(c, new byte[37], default));
                await SendAsync(c, [(byte)Iperf3State.ParamExchange]);
                await Iperf3Protocol.ReadJsonAsync(c, Iperf3Error.RecvParams, default);
                var e = new byte[9];
                e[0] = unchecked((byte)(sbyte)Iperf3State.ServerError);
                BinaryPrimitives.WriteInt32BigEndian(e.AsSpan(1), Iperf3Error.StreamListen);
                BinaryPrimitives.WriteInt32BigEndian(e.AsSpan(5), Errno.EADDRINUSE);
                await SendAsync(c, e);
                await Task.Delay(200);
            });
            var r = await Iperf3Client.RunAsync(A, new Iperf3ClientOptions { Host = AddrB, Time = 1, Udp = true }, _ => { }).WaitAsync(Limit);
            Assert.Equal("unable to start stream listener: Address already in use", r.Error);
            await serverSide.WaitAsync(Limit);
        }
        var refused = await Iperf3Client.RunAsync(A, new Iperf3ClientOptions { Host = AddrB, Time = 1, Json = true }, _ => { }).WaitAsync(Limit);
        Assert.Equal("unable to connect to server: Connection refused", refused.Error);
        Assert.Equal("unable to connect to server: Connection refused", (string?)refused.Test!.JsonTop!["error"]);
    }

    // ------------------------------------------------------------------ client against server

    /// <summary>Both stacks get a global IPv6 address (no DAD) and wait until their link-local ones have passed DAD.</summary>
    private (IPAddress A6, IPAddress B6, IPAddress BLinkLocal, string DevA) Ipv6Addresses()
    {
        string devA = NetStackInfo.GetInterfaces(A).Single(d => !d.IsLoopback).Name, devB = NetStackInfo.GetInterfaces(B).Single(d => !d.IsLoopback).Name;
        NetStackConfig.AddAddress(A, devA, IPAddress.Parse("fd00:9::1"), 64, noDad: true);
        NetStackConfig.AddAddress(B, devB, IPAddress.Parse("fd00:9::2"), 64, noDad: true);
        bool Ready(NetNamespace n) => NetStackInfo.GetInterfaces(n).Single(d => !d.IsLoopback).Ipv6Addresses.All(a => !a.Flags.Contains("tentative"));
        Assert.True(TwoStacksWait.Until(() => Ready(A) && Ready(B), Limit), "link-local addresses stay tentative");
        var ll = NetStackInfo.GetInterfaces(B).Single(d => !d.IsLoopback).Ipv6Addresses.Single(a => a.Address.IsIPv6LinkLocal).Address;
        return (IPAddress.Parse("fd00:9::1"), IPAddress.Parse("fd00:9::2"), ll, devA);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Client_OverIpv6_ToAServerOnIpv6Any_TcpAndUdp(bool udp)
    {
        var (a6, b6, _, _) = Ipv6Addresses();
        var server = StartServer(new Iperf3ServerOptions { BindAddress = IPAddress.IPv6Any });
        var run = server.RunAsync();
        await using var _ = server;
        var text = new StringBuilder();
        var r = await Iperf3Client.RunAsync(A, new Iperf3ClientOptions { Host = b6, Time = 1, Udp = udp, Rate = udp ? 10_000_000 : null },
            t => { lock (text) text.Append(t); }).WaitAsync(Limit);
        Assert.True(r.Error is null, r.Error);
        Assert.True(TwoStacksWait.Until(() => server.Completed == 1, Limit), ServerText);
        string c;
        lock (text) c = text.ToString();
        Assert.StartsWith("Connecting to host fd00:9::2, port 5201\n", c);
        Assert.Matches(@"\[\s*\d+\] local fd00:9::1 port \d+ connected to fd00:9::2 port 5201\n", c);
        Assert.Matches(@"receiver\n", c);
        Assert.Contains($"Accepted connection from {a6}, port ", ServerText);
        Assert.Matches(@"\[\s*\d+\] local fd00:9::2 port 5201 connected to fd00:9::1 port \d+", ServerText);
        var sp = r.Test!.Streams.Single();
        Assert.Equal(System.Net.Sockets.AddressFamily.InterNetworkV6, sp.Remote.AddressFamily);
        Assert.InRange(sp.BytesReceived, 1, sp.BytesSent);
    }

    [Fact]
    public async Task Client_LinkLocalHostWithAZoneName_ResolvedOnTheStack_PrintedWithoutTheZone()
    {
        var (_, _, ll, devA) = Ipv6Addresses();
        var server = StartServer(new Iperf3ServerOptions { BindAddress = IPAddress.IPv6Any });
        var run = server.RunAsync();
        await using var _ = server;
        var text = new StringBuilder();
        var o = new Iperf3ClientOptions { Host = ll, HostZone = devA, Time = 1, Reverse = true };
        Assert.Equal(devA, Iperf3ClientOptions.FromJson(o.ToJson()).HostZone); // as it travels to a running stack
        var r = await Iperf3Client.RunAsync(A, o, t => { lock (text) text.Append(t); }).WaitAsync(Limit);
        Assert.True(r.Error is null, r.Error);
        string c;
        lock (text) c = text.ToString();
        Assert.StartsWith($"Connecting to host {ll}%{devA}, port 5201\nReverse mode, remote host {ll}%{devA} is sending\n", c);
        Assert.Matches($@"local fe80::[0-9a-f:]+ port \d+ connected to {Regex.Escape(ll.ToString())} port 5201\n", c);
        // An unknown zone fails as getaddrinfo() would: before anything is sent.
        var bad = await Iperf3Client.RunAsync(A, new Iperf3ClientOptions { Host = ll, HostZone = "nosuch0", Time = 1 }, _ => { }).WaitAsync(Limit);
        Assert.Contains("no interface nosuch0", bad.Error);
    }

    private async Task<(Iperf3ClientResult Result, string Text)> RunClientAsync(Iperf3ClientOptions o, bool serverFails = false)
    {
        var server = StartServer();
        var run = server.RunAsync();
        await using var _ = server;
        var text = new StringBuilder();
        o.Host = AddrB;
        var r = await Iperf3Client.RunAsync(A, o, t => { lock (text) text.Append(t); }).WaitAsync(Limit);
        Assert.True(TwoStacksWait.Until(() => server.Completed + server.Failed == 1, Limit));
        Assert.Equal(serverFails ? 1 : 0, server.Failed);
        lock (text) return (r, text.ToString());
    }

    [Fact]
    public async Task Client_Tcp_PrintsIntervalsAndTheSummary_LikeIperf3()
    {
        var (r, text) = await RunClientAsync(new Iperf3ClientOptions { Time = 1, Interval = 0.5 });
        Assert.Null(r.Error);
        Assert.Equal(0, r.ExitCode);
        Assert.StartsWith("Connecting to host 10.9.0.2, port 5201\n", text);
        Assert.Matches(@"\[\s*\d+\] local 10\.9\.0\.1 port \d+ connected to 10\.9\.0\.2 port 5201\n", text);
        Assert.Contains("[ ID] Interval           Transfer     Bitrate         Retr  Cwnd\n", text);
        // The ends of the intervals are wall-clock times (the timers run late on a loaded machine): any value, iperf3's format.
        Assert.Matches(@"\[\s*\d+\]   0\.00-\d+\.\d\d   sec  [ \d.]{4} [KMG]?Bytes  [ \d.]{4} [KMG]?bits/sec  [ \d]{3}   [ \d.]{4} [KMG]?Bytes       \n", text);
        Assert.Matches(@"\[\s*\d+\]   0\.00-\d+\.\d\d   sec  [ \d.]{4} [KMG]?Bytes  [ \d.]{4} [KMG]?bits/sec  [ \d]{3}             sender\n", text);
        Assert.Matches(@"\[\s*\d+\]   0\.00-\d+\.\d\d   sec  [ \d.]{4} [KMG]?Bytes  [ \d.]{4} [KMG]?bits/sec                  receiver\n", text);
        Assert.EndsWith("\niperf Done.\n", text);
        var sp = r.Test!.Streams.Single();
        Assert.True(sp.BytesSent > 0);
        Assert.InRange(sp.BytesReceived, 1, sp.BytesSent);
        Assert.Matches(@"Accepted connection from 10\.9\.0\.1", ServerText);
    }

    [Fact]
    public async Task Client_ReverseParallel_CountsEveryStream()
    {
        var (r, text) = await RunClientAsync(new Iperf3ClientOptions { Time = 1, Reverse = true, Parallel = 3, Interval = 0 });
        Assert.Null(r.Error);
        Assert.Contains("Reverse mode, remote host 10.9.0.2 is sending\n", text);
        Assert.Equal(3, r.Test!.Streams.Count);
        Assert.All(r.Test.Streams, sp => Assert.False(sp.Sender));
        Assert.Equal([1, 3, 4], r.Test.Streams.Select(s => s.Id));
        Assert.All(r.Test.Streams, sp => Assert.InRange(sp.BytesReceived, 1, sp.BytesSent));
        Assert.Matches(@"\[SUM\]   0\.00-\d+\.\d\d   sec  .* +\d+             sender\n", text);
        Assert.Matches(@"\[SUM\]   0\.00-\d+\.\d\d   sec  .*                  receiver\n", text);
    }

    [Fact]
    public async Task Client_Udp_ReportsLossAndJitter()
    {
        var (r, text) = await RunClientAsync(new Iperf3ClientOptions { Time = 1, Udp = true, Rate = 20_000_000, Interval = 0 });
        Assert.Null(r.Error);
        var sp = r.Test!.Streams.Single();
        Assert.True(sp.Sender);
        Assert.True(r.Test.CtrlSckMss > 0);
        Assert.Equal(r.Test.CtrlSckMss, r.Test.Settings.Length); // the control connection's MSS picks the datagram size
        Assert.True(sp.Udp.PacketCount > 0);
        Assert.InRange(sp.PeerPacketCount, 1, sp.Udp.PacketCount);
        Assert.Matches(@"\[\s*\d+\]   0\.00-\d+\.\d\d   sec  .*  0\.000 ms  0/\d+ \(0%\)  sender\n", text);
        Assert.Matches(@"\[\s*\d+\]   0\.00-\d+\.\d\d   sec  .*  \d+\.\d{3} ms  \d+/\d+ \([\d.e+-]+%\)  receiver\n", text);
        Assert.Contains("Jitter    Lost/Total Datagrams", ServerText);
    }

    [Fact]
    public async Task Client_Json_HasTheFieldsScriptsRead()
    {
        var (r, text) = await RunClientAsync(new Iperf3ClientOptions { Time = 1, Json = true, Interval = 0.5, Parallel = 2 });
        Assert.Null(r.Error);
        var j = (JsonObject)JsonNode.Parse(text)!;
        var end = (JsonObject)j["end"]!;
        double sent = (double)end["sum_sent"]!["bytes"]!, received = (double)end["sum_received"]!["bytes"]!;
        Assert.True(sent > 0);
        Assert.InRange(received, 1, sent);
        Assert.True((double)end["sum_sent"]!["bits_per_second"]! > 0);
        Assert.Equal(2, ((JsonArray)end["streams"]!).Count);
        Assert.Equal("cubic", (string?)end["sender_tcp_congestion"]);
        Assert.Equal("cubic", (string?)end["receiver_tcp_congestion"]);
        var intervals = (JsonArray)j["intervals"]!;
        // 1 s at 0.5 s intervals: two reports, three with the closing partial one; on a loaded machine
        // the run can end before the second timer tick (a count of time, not of what the JSON holds).
        Assert.InRange(intervals.Count, 1, 3);
        Assert.Equal(2, ((JsonArray)intervals[0]!["streams"]!).Count);
        Assert.True((bool)intervals[0]!["sum"]!["sender"]!);
        var start = (JsonObject)j["start"]!;
        Assert.Equal(2, ((JsonArray)start["connected"]!).Count);
        Assert.Equal("TCP", (string?)start["test_start"]!["protocol"]);
        Assert.Equal(36, ((string)start["cookie"]!).Length);
        Assert.Null(j["error"]);
    }

    [Fact]
    public async Task Client_CongestionControl_BothEnds_AndAnUnknownOneIsRefused()
    {
        var (r, _) = await RunClientAsync(new Iperf3ClientOptions { Time = 1, Congestion = "reno", Interval = 0 });
        Assert.Null(r.Error);
        Assert.Equal("reno", r.Test!.CongestionUsed);
        Assert.Equal("reno", r.Test.RemoteCongestionUsed);
        // The client gives up before its streams exist (as iperf3 does); the server sees it go.
        var (bad, _) = await RunClientAsync(new Iperf3ClientOptions { Time = 1, Congestion = "vegas", Interval = 0 }, serverFails: true);
        Assert.Equal(1, bad.ExitCode);
        Assert.StartsWith("unable to set TCP_CONGESTION: ", bad.Error);
        Assert.Contains("\"vegas\"", bad.Error);
    }

    [Fact]
    public async Task Client_Bytes_EndsTheTestWhenSent()
    {
        var (r, _) = await RunClientAsync(new Iperf3ClientOptions { Bytes = 3 << 20, Length = 64 * 1024, Interval = 0 });
        Assert.Null(r.Error);
        Assert.Equal(0, r.Test!.Settings.Time);
        Assert.InRange(r.Test.Streams.Single().BytesSent, 3 << 20, (3 << 20) + 64 * 1024);
    }

    [Fact]
    public async Task Client_Interrupted_TellsTheServer_AndStops()
    {
        var server = StartServer();
        var run = server.RunAsync();
        await using var _ = server;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1));
        var r = await Iperf3Client.RunAsync(A, new Iperf3ClientOptions { Host = AddrB, Time = 30, Interval = 0 }, _ => { }, cts.Token).WaitAsync(Limit);
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("interrupt", r.Error);
        Assert.True(TwoStacksWait.Until(() => server.Failed == 1, Limit));
        Assert.Contains("the client has terminated", ServerText);
    }

    [Fact]
    public async Task Jobs_RunAClientForAnotherProcess_OutputComesInPieces()
    {
        var server = StartServer();
        var run = server.RunAsync();
        await using var _ = server;
        using var jobs = new Iperf3Jobs(A);
        int id = jobs.Start(new Iperf3ClientOptions { Host = AddrB, Time = 1, Interval = 0.5 });
        var text = new StringBuilder();
        int reads = 0;
        var deadline = DateTime.UtcNow + Limit;
        while (true)
        {
            var (t, done, exit, error) = jobs.Read(id, TimeSpan.FromMilliseconds(200));
            text.Append(t);
            reads++;
            if (done)
            {
                Assert.Equal(0, exit);
                Assert.Null(error);
                break;
            }
            Assert.True(DateTime.UtcNow < deadline, "the run did not end");
        }
        Assert.True(reads > 2);
        Assert.EndsWith("iperf Done.\n", text.ToString());
        Assert.Throws<KeyNotFoundException>(() => jobs.Read(id, TimeSpan.Zero));
        Assert.False(jobs.Stop(id));
    }
}
