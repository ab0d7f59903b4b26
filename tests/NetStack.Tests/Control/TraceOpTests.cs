using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using NetStack.Api;
using NetStack.Control;
using NetStack.Core;

namespace NetStack.Tests.Control;

/// <summary>
/// The control socket's "trace" op on a loopback-only stack (its threads running): the reply line,
/// then CSV (header first) or JSON lines of the TCP trace, the filter and count applied, refusals,
/// and the dropped-records notice when the client reads slower than the stack writes.
/// </summary>
public sealed class TraceOpTests() : ServedStack("t")
{
    /// <summary>A TCP connection over lo to <paramref name="port"/>, <paramref name="writes"/> small writes (TCP_NODELAY: a segment each) read by the other end, then both close.</summary>
    private void Traffic(int port, int writes = 10)
    {
        using var listener = new NetSocket(Net, AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, port));
        listener.Listen();
        using var client = new NetSocket(Net, AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        client.Connect(IPAddress.Loopback, port);
        client.NoDelay = true;
        using var server = listener.Accept();
        var buf = new byte[4096];
        for (int i = 0; i < writes; i++)
        {
            Assert.Equal(10, client.Send("0123456789"u8));
            int got = 0;
            while (got < 10) got += server.Receive(buf);
        }
    }

    private (JsonObject Reply, StreamReader Lines, Stream Stream) Open(string request)
    {
        var (reply, stream) = ControlClient.OpenStream(Server.Path, (JsonObject)JsonNode.Parse(request)!);
        return (reply, new StreamReader(stream, Encoding.UTF8), stream);
    }

    private static string Line(StreamReader r) => LineOrEnd(r) ?? throw new InvalidOperationException("the stream ended");

    /// <summary>The next line, or null at the end of the stream (within 30 s).</summary>
    private static string? LineOrEnd(StreamReader r)
    {
        var t = r.ReadLineAsync();
        Assert.True(t.Wait(TimeSpan.FromSeconds(30)), "no line within 30 s");
        return t.Result;
    }

    [Fact]
    public void Csv_HeaderThenTheFilteredRecords_UntilTheCount()
    {
        var (reply, lines, stream) = Open("""{"op":"trace","filter":"dport == 7001 && event == inet_sock_set_state","count":3}""");
        using (stream)
        {
            Assert.Equal("tcp", (string?)reply["trace"]);
            Assert.Equal("csv", (string?)reply["format"]);
            Assert.Equal(TcpTrace.DefaultCapacity, (int)reply["capacity"]!);
            Assert.Equal("dport == 7001 && event == inet_sock_set_state", (string?)reply["filter"]);
            Assert.Equal(TcpTraceRecord.CsvHeader, Line(lines));
            Traffic(7000); // filtered out
            Traffic(7001);
            var records = Enumerable.Range(0, 3).Select(_ => TcpTraceRecord.ParseCsv(Line(lines))).ToList();
            // The client's side of the connection to 7001: CLOSE -> SYN_SENT -> ESTABLISHED, then CLOSE_WAIT: the
            // accepted end is disposed first, and its FIN over loopback is processed before its close returns, as in Linux.
            Assert.Equal([TcpState.SynSent, TcpState.Established, TcpState.CloseWait], records.Select(r => r.State));
            Assert.All(records, r => Assert.Equal(7001, r.RemotePort));
            // Three records asked for: the server ends the stream, and the trace with it.
            Assert.Null(LineOrEnd(lines));
        }
        Assert.True(SpinWait.SpinUntil(() => !TcpTrace.IsEnabledOn(Net), TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public void Json_OneObjectPerRecord_WithTheCsvFieldNames()
    {
        var (reply, lines, stream) = Open("""{"op":"trace","what":"tcp","format":"json","filter":"port == 7002","capacity":1000}""");
        using (stream)
        {
            Assert.Equal("json", (string?)reply["format"]);
            Assert.Equal(1024, (int)reply["capacity"]!);
            Traffic(7002);
            var first = (JsonObject)JsonNode.Parse(Line(lines))!;
            Assert.Equal(TcpTraceRecord.FieldNames, first.Select(p => p.Key));
            // The listener's CLOSE -> LISTEN first (sport 7002, no peer yet).
            Assert.Equal("inet_sock_set_state", (string?)first["event"]);
            Assert.Equal("TCP_CLOSE", (string?)first["oldstate"]);
            Assert.Equal("TCP_LISTEN", (string?)first["state"]);
            Assert.Equal("127.0.0.1", (string?)first["saddr"]);
            Assert.Equal(7002, (int)first["sport"]!);
            Assert.Equal("0.0.0.0", (string?)first["daddr"]);
            Assert.Equal(0, (int)first["dport"]!);
        }
        // The client went away: the trace is disabled.
        Assert.True(SpinWait.SpinUntil(() => !TcpTrace.IsEnabledOn(Net), TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public void SlowReader_GetsTheDroppedCount_InBand()
    {
        // The client reads nothing while the stack makes thousands of records: the socket's buffer
        // fills, the server's writer blocks, the 16-record ring fills and drops. Then the client reads.
        var (_, lines, stream) = Open("""{"op":"trace","capacity":16}""");
        using (stream)
        {
            Traffic(7003, writes: 3000);
            string header = Line(lines);
            Assert.Equal(TcpTraceRecord.CsvHeader, header);
            long dropped = 0;
            int records = 0;
            while (dropped == 0)
            {
                string l = Line(lines);
                if (l.StartsWith("# dropped ", StringComparison.Ordinal)) dropped = long.Parse(l["# dropped ".Length..]);
                else
                {
                    TcpTraceRecord.ParseCsv(l);
                    records++;
                }
            }
            Assert.True(dropped > 0);
            Assert.True(records > 0);
        }
    }

    [Theory]
    [InlineData("""{"op":"trace","format":"xml"}""", "\"format\" is \"csv\" or \"json\"")]
    [InlineData("""{"op":"trace","what":"udp"}""", "cannot be traced")]
    [InlineData("""{"op":"trace","filter":"sprot == 1"}""", "no field 'sprot'")]
    [InlineData("""{"op":"trace","capacity":8}""", "\"capacity\" is a number of records, 16 to")]
    [InlineData("""{"op":"trace","count":-1}""", "\"count\" is a number of records")]
    [InlineData("""{"op":"trace","colour":"red"}""", "colour")]
    public void BadRequests_AreRefused_AndTheSessionGoesOn(string request, string why)
    {
        using var c = ControlClient.Connect(Server.Path);
        var reply = c.Request((JsonObject)JsonNode.Parse(request)!);
        Assert.Contains(why, (string?)reply["error"]);
        Assert.Equal(3, (int)c.Request(new JsonObject { ["op"] = "socket", ["type"] = "SOCK_DGRAM" })["ret"]!);
        Assert.False(TcpTrace.IsEnabledOn(Net));
    }
}
