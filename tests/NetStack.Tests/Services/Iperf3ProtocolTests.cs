using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using NetStack.Api;
using NetStack.Core;
using NetStack.Services.Iperf3;

namespace NetStack.Tests.Services;

/// <summary>
/// iperf3's wire pieces and arithmetic: the cookie, the JSON framing, the parameters as the kernel's
/// iperf3 3.12 sends them, the UDP header, loss and jitter (RFC 1889's estimator), iperf3's number
/// formats, and the report lines as iperf3 prints them.
/// </summary>
public sealed class Iperf3ProtocolTests
{
    [Fact]
    public void MakeCookie_Is36CharactersOfTheBase32AlphabetAndANul()
    {
        var a = Iperf3Protocol.MakeCookie();
        var b = Iperf3Protocol.MakeCookie();
        Assert.Equal(37, a.Length);
        Assert.Equal(0, a[36]);
        Assert.All(a[..36], c => Assert.Contains((char)c, "abcdefghijklmnopqrstuvwxyz234567"));
        Assert.Equal(36, Iperf3Protocol.CookieText(a).Length);
        Assert.NotEqual(Iperf3Protocol.CookieText(a), Iperf3Protocol.CookieText(b));
    }

    [Fact]
    public void CookiesEqual_ComparesLikeStrcmp_UpToTheFirstNul()
    {
        var a = Encoding.ASCII.GetBytes("abcdefghijklmnopqrstuvwxyz2345672345\0");
        var same = (byte[])a.Clone();
        Assert.True(Iperf3Protocol.CookiesEqual(a, same));
        var garbageAfterNul = Encoding.ASCII.GetBytes("abc\0xyz");
        Assert.True(Iperf3Protocol.CookiesEqual(garbageAfterNul, Encoding.ASCII.GetBytes("abc\0qqq")));
        same[5] = (byte)'z';
        Assert.False(Iperf3Protocol.CookiesEqual(a, same));
        Assert.False(Iperf3Protocol.CookiesEqual(Encoding.ASCII.GetBytes("abc\0"), Encoding.ASCII.GetBytes("abcd\0")));
    }

    [Fact]
    public void EncodeJson_IsABigEndianLengthThenTheCompactText()
    {
        var frame = Iperf3Protocol.EncodeJson(new JsonObject { ["tcp"] = true, ["time"] = 10 });
        byte[] text = Encoding.UTF8.GetBytes("{\"tcp\":true,\"time\":10}");
        Assert.Equal([0, 0, 0, (byte)text.Length, .. text], frame);
    }

    [Fact]
    public void DecodeJson_RefusesAnOversizedLengthAndMalformedOrNonObjectText()
    {
        Assert.Equal(22, Iperf3Protocol.DecodeJsonLength([0, 0, 0, 22]));
        var big = Assert.Throws<Iperf3Exception>(() => Iperf3Protocol.DecodeJsonLength([0x7f, 0xff, 0xff, 0xff]));
        Assert.Equal(Iperf3Error.RecvParams, big.Code);
        Assert.Equal(Iperf3Error.RecvResults, Assert.Throws<Iperf3Exception>(() => Iperf3Protocol.DecodeJson("{\"a\":"u8, Iperf3Error.RecvResults)).Code);
        Assert.Throws<Iperf3Exception>(() => Iperf3Protocol.DecodeJson("[1,2]"u8));
        Assert.Equal(3, (int)Iperf3Protocol.DecodeJson("{\"x\":3}"u8)["x"]!);
    }

    /// <summary>What `iperf3 -c HOST -t 2 -P 4 -R -C reno` (3.12) sends in PARAM_EXCHANGE, as its --debug prints it.</summary>
    private const string KernelParams =
        "{\"tcp\":true,\"omit\":0,\"time\":2,\"num\":0,\"blockcount\":0,\"parallel\":4,\"reverse\":true,\"len\":131072," +
        "\"pacing_timer\":1000,\"congestion\":\"reno\",\"client_version\":\"3.12\"}";

    [Fact]
    public void Parameters_FromTheKernelsJson()
    {
        var p = Iperf3Parameters.FromJson(Iperf3Protocol.DecodeJson(Encoding.UTF8.GetBytes(KernelParams)));
        Assert.Equal(Iperf3Transport.Tcp, p.Protocol);
        Assert.Equal(2, p.Time);
        Assert.Equal(4, p.Parallel);
        Assert.True(p.Reverse);
        Assert.False(p.Bidirectional);
        Assert.Equal(131072, p.Length);
        Assert.Equal("reno", p.Congestion);
        Assert.Equal(0, p.Rate);
        Assert.Equal("3.12", p.ClientVersion);
        Assert.Empty(p.UnknownKeys);
    }

    [Fact]
    public void Parameters_ToJson_WritesWhatIperf3Writes_AndReadsBackTheSame()
    {
        var p = new Iperf3Parameters { Protocol = Iperf3Transport.Tcp, Time = 2, Parallel = 4, Reverse = true, Length = 131072, Congestion = "reno" };
        Assert.Equal(KernelParams, p.ToJson().ToJsonString());
        var udp = new Iperf3Parameters { Protocol = Iperf3Transport.Udp, Time = 3, Length = 1448, Rate = 100_000_000, UdpCounters64Bit = true, Bidirectional = true };
        var back = Iperf3Parameters.FromJson(udp.ToJson());
        Assert.Equal(udp.ToJson().ToJsonString(), back.ToJson().ToJsonString());
        Assert.Equal(Iperf3Transport.Udp, back.Protocol);
        Assert.Equal(100_000_000, back.Rate);
        Assert.True(back.UdpCounters64Bit);
    }

    [Fact]
    public void Parameters_MissingKeysKeepIperf3sDefaults_UnknownKeysAreNoted_WrongTypesAreRefused()
    {
        var p = Iperf3Parameters.FromJson(new JsonObject { ["udp"] = true, ["bandwidth"] = 1.5e9, ["skip_rx_copy"] = 1 });
        Assert.Equal(Iperf3Transport.Udp, p.Protocol);
        Assert.Equal(10, p.Time);
        Assert.Equal(1, p.Parallel);
        Assert.Equal(1000, p.PacingTimer);
        Assert.Equal(1_500_000_000, p.Rate); // cJSON's valueint would cut this at 2^31-1; this does not
        Assert.Equal(["skip_rx_copy"], p.UnknownKeys);
        var e = Assert.Throws<Iperf3Exception>(() => Iperf3Parameters.FromJson(new JsonObject { ["time"] = "ten" }));
        Assert.Equal(Iperf3Error.RecvParams, e.Code);
        Assert.Contains("\"time\"", e.Message);
    }

    [Fact]
    public void UdpHeader_32And64BitCounters_GoldenBytes()
    {
        var h = new Iperf3UdpHeader(0x01020304, 999_999, 0x0A0B0C0D);
        var buf = Enumerable.Repeat((byte)0xA5, 20).ToArray();
        h.Write(buf, counters64: false);
        Assert.Equal([1, 2, 3, 4, 0x00, 0x0F, 0x42, 0x3F, 0x0A, 0x0B, 0x0C, 0x0D, 0xA5, 0xA5], buf[..14]);
        Assert.True(Iperf3UdpHeader.TryRead(buf, counters64: false, out var back));
        Assert.Equal(h, back);

        buf = Enumerable.Repeat((byte)0xA5, 20).ToArray();
        new Iperf3UdpHeader(7, 8, 0x0102030405060708).Write(buf, counters64: true);
        Assert.Equal([0, 0, 0, 7, 0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0xA5], buf[..17]);
        Assert.True(Iperf3UdpHeader.TryRead(buf, counters64: true, out back));
        Assert.Equal(0x0102030405060708UL, back.Sequence);
    }

    [Fact]
    public void UdpHeader_TooShort_IsNotRead_AndAtSplitsTheClock()
    {
        Assert.False(Iperf3UdpHeader.TryRead(new byte[11], counters64: false, out _));
        Assert.False(Iperf3UdpHeader.TryRead(new byte[15], counters64: true, out _));
        var h = Iperf3UdpHeader.At(1234.5678905, 9);
        Assert.Equal(1234u, h.Seconds);
        Assert.Equal(567890u, h.Microseconds);
        Assert.Equal(1234.56789, h.Time, 9);
    }

    [Fact]
    public void ReceiveStats_GapsAreLost_LateArrivalsTakeALossBack_AndCountAsOutOfOrder()
    {
        var s = new Iperf3UdpReceiveStats();
        foreach (long seq in new long[] { 1, 2, 5 }) s.Add(seq, 0);
        Assert.Equal(5, s.PacketCount);
        Assert.Equal(2, s.CntError);       // 3 and 4
        s.Add(4, 0);                        // 4 was late, not lost
        Assert.Equal(1, s.CntError);
        Assert.Equal(1, s.OutOfOrder);
        Assert.Equal(5, s.PacketCount);
        s.Add(4, 0);                        // a duplicate also counts as out of order (iperf3 assumes none)
        Assert.Equal(0, s.CntError);
        Assert.Equal(2, s.OutOfOrder);
        s.Add(4, 0);                        // no loss left to take back
        Assert.Equal(0, s.CntError);
        Assert.Equal(6, s.Received);
        Assert.Equal(0.0, Iperf3UdpReceiveStats.LostPercent(0, 0));
        Assert.Equal(1.25, Iperf3UdpReceiveStats.LostPercent(1, 80));
    }

    [Fact]
    public void ReceiveStats_Jitter_IsRfc1889sSmoothedTransitDeviation()
    {
        var s = new Iperf3UdpReceiveStats();
        s.Add(1, 0.010); // the first datagram sets the reference: J = 0
        Assert.Equal(0.0, s.Jitter);
        s.Add(2, 0.012); // D = 2 ms: J = 2/16 ms
        Assert.Equal(0.002 / 16, s.Jitter, 12);
        s.Add(3, 0.011); // D = 1 ms: J += (1 ms - J) / 16
        double expected = 0.002 / 16 + (0.001 - 0.002 / 16) / 16;
        Assert.Equal(expected, s.Jitter, 12);
        // A constant transit (clocks offset by any amount) has no jitter.
        var c = new Iperf3UdpReceiveStats();
        for (int i = 1; i <= 100; i++) c.Add(i, 1000.25);
        Assert.Equal(0.0, c.Jitter);
    }

    [Theory]
    [InlineData(1024.0, 'A', "1.00 KByte")]
    [InlineData(914.0 * 1024 * 1024, 'A', " 914 MByte")]
    [InlineData(1.61 * 1024 * 1024 * 1024, 'A', "1.61 GByte")]
    [InlineData(512.0 * 1024, 'A', " 512 KByte")]
    [InlineData(100e6 / 8, 'a', " 100 Mbit")]
    [InlineData(99.9e6 / 8, 'a', "99.9 Mbit")]
    [InlineData(7.66e9 / 8, 'a', "7.66 Gbit")]
    [InlineData(12.0, 'a', "96.0 bit")]
    [InlineData(1e9 / 8, 'm', "1000 Mbit")]
    [InlineData(2.0 * 1024 * 1024, 'K', "2048 KByte")]
    public void Unit_PrintsFourPlacesAndTheLabel(double value, char format, string expected) =>
        Assert.Equal(expected, Iperf3Format.Unit(value, format));

    [Theory]
    [InlineData(0.0, "0")]
    [InlineData(1.2, "1.2")]
    [InlineData(2.4, "2.4")]
    [InlineData(12.34, "12")]
    [InlineData(100.0, "1e+02")]
    [InlineData(0.017, "0.017")]
    [InlineData(0.39, "0.39")]
    [InlineData(9.96, "10")]
    [InlineData(0.00001234, "1.2e-05")]
    [InlineData(50.0, "50")]
    public void G_IsCsPercentDotTwoG(double value, string expected) => Assert.Equal(expected, Iperf3Format.G(value, 2));

    [Fact]
    public void ParseRateAndSize_TakeIperf3sSuffixes()
    {
        Assert.Equal(100e6, Iperf3Format.ParseRate("100M"));
        Assert.Equal(1.5e9, Iperf3Format.ParseRate("1.5g"));
        Assert.Equal(1000, Iperf3Format.ParseRate("1K"));
        Assert.Equal(0, Iperf3Format.ParseRate("0"));
        Assert.Equal(131072, Iperf3Format.ParseSize("128K"));
        Assert.Equal(3.0 * 1024 * 1024 * 1024 * 1024, Iperf3Format.ParseSize("3T"));
        Assert.Null(Iperf3Format.ParseRate("fast"));
        Assert.Null(Iperf3Format.ParseRate("-5M"));
        Assert.Null(Iperf3Format.ParseSize(""));
        Assert.Equal("  0.00-1.00  ", Iperf3Format.Interval(0, 1));
        Assert.Equal("  9.99-10.00 ", Iperf3Format.Interval(9.99, 10));
        Assert.Equal("[  5]", Iperf3Format.Id(5));
        Assert.Equal("[123]", Iperf3Format.Id(123));
    }

    [Fact]
    public void ErrorTexts_AreIperf3s()
    {
        Assert.Equal("the server is busy running a test. try again later", Iperf3Error.Text(Iperf3Error.AccessDenied));
        Assert.Equal("unable to connect to server: Connection refused", new Iperf3Exception(Iperf3Error.Connect, Iperf3StrError.Text(Errno.ECONNREFUSED)).Message);
        Assert.Equal("control socket has closed unexpectedly", new Iperf3Exception(Iperf3Error.CtrlClose, null).Message);
    }

    // ------------------------------------------------------------------ the report

    /// <summary>A client's TCP test of 10 s on one stream, with the server's results applied: the summary as iperf3 prints it.</summary>
    [Fact]
    public void PrintResults_TcpClient_SenderAndReceiverLines()
    {
        using var net = new NetNamespace("iperf3-report");
        var text = new StringBuilder();
        var p = new Iperf3Parameters { Time = 10, Length = 131072 };
        var t = new Iperf3Test('c', p, json: false, s => text.Append(s)) { SenderHasRetransmits = 1 };
        using var sock = NetSocket.Tcp(net);
        var sp = t.AddStream(sock, sender: true, new IPEndPoint(IPAddress.Parse("10.7.0.2"), 41634), new IPEndPoint(IPAddress.Parse("10.7.0.1"), 5201));
        string id = Iperf3Format.Id(sp.Fd);
        Assert.Equal($"{id} local 10.7.0.2 port 41634 connected to 10.7.0.1 port 5201\n", text.ToString());
        text.Clear();
        sp.StartTime = 0;
        sp.EndTime = Stopwatch.Frequency * 10;
        sp.BytesSent = 1181116006;
        sp.StreamRetrans = 3;
        t.ApplyResults(new JsonObject
        {
            ["cpu_util_total"] = 1.0, ["cpu_util_user"] = 0.5, ["cpu_util_system"] = 0.5, ["sender_has_retransmits"] = -1,
            ["streams"] = new JsonArray(new JsonObject { ["id"] = 1, ["bytes"] = 1181116006, ["retransmits"] = -1, ["jitter"] = 0, ["errors"] = 0, ["packets"] = 0, ["start_time"] = 0, ["end_time"] = 10.01 }),
        });
        t.State = Iperf3State.DisplayResults;
        t.PrintResults();
        Assert.Equal(
            "- - - - - - - - - - - - - - - - - - - - - - - - -\n" +
            "[ ID] Interval           Transfer     Bitrate         Retr\n" +
            $"{id}   0.00-10.00  sec  1.10 GBytes   945 Mbits/sec    3             sender\n" +
            $"{id}   0.00-10.01  sec  1.10 GBytes   944 Mbits/sec                  receiver\n",
            text.ToString());
    }

    /// <summary>A server receiving UDP: the interval line with jitter and loss, and only the receiver's summary (the server cannot know the sender's).</summary>
    [Fact]
    public void UdpServer_IntervalAndSummary_JitterAndLoss()
    {
        using var net = new NetNamespace("iperf3-report-udp");
        var text = new StringBuilder();
        var p = new Iperf3Parameters { Protocol = Iperf3Transport.Udp, Time = 2, Length = 1448, Rate = 100_000_000 };
        var t = new Iperf3Test('s', p, json: false, s => text.Append(s));
        using var sock = NetSocket.Udp(net);
        var sp = t.AddStream(sock, sender: false, new IPEndPoint(IPAddress.Parse("10.7.0.2"), 5201), new IPEndPoint(IPAddress.Parse("10.7.0.1"), 36067));
        string id = Iperf3Format.Id(sp.Fd);
        text.Clear();
        long f = Stopwatch.Frequency;
        sp.StartTime = 0;
        // First interval: 382 datagrams expected, 9 lost.
        for (long seq = 1; seq <= 382; seq++)
            if (seq % 40 != 0) sp.Udp.Add(seq, 0.0001 * (seq % 3));
        sp.BytesReceived = sp.BytesReceivedThisInterval = sp.Udp.Received * 1448;
        sp.Intervals.Add(new Iperf3IntervalResult
        {
            BytesTransferred = sp.BytesReceived, IntervalStart = 0, IntervalEnd = f, IntervalDuration = 1.0,
            IntervalPacketCount = sp.Udp.PacketCount, IntervalCntError = sp.Udp.CntError, PacketCount = sp.Udp.PacketCount, CntError = sp.Udp.CntError, Jitter = sp.Udp.Jitter,
        });
        sp.EndTime = f;
        t.State = Iperf3State.TestRunning;
        t.PrintIntermediate();
        string jitter = (sp.Udp.Jitter * 1000).ToString("F3", System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(9, sp.Udp.CntError);
        Assert.Equal(
            "[ ID] Interval           Transfer     Bitrate         Jitter    Lost/Total Datagrams\n" +
            $"{id}   0.00-1.00   sec   527 KBytes  4.32 Mbits/sec  {jitter} ms  9/382 (2.4%)  \n",
            text.ToString());
        text.Clear();
        t.PrintResults();
        Assert.Equal(
            "- - - - - - - - - - - - - - - - - - - - - - - - -\n" +
            "[ ID] Interval           Transfer     Bitrate         Jitter    Lost/Total Datagrams\n" +
            $"{id}   0.00-1.00   sec   527 KBytes  4.32 Mbits/sec  {jitter} ms  9/382 (2.4%)  receiver\n",
            text.ToString());
    }

    [Fact]
    public void ResultsJson_CarriesWhatGetResultsReads()
    {
        using var net = new NetNamespace("iperf3-results");
        var t = new Iperf3Test('s', new Iperf3Parameters { Reverse = true, Length = 1000 }, json: false, null) { SenderHasRetransmits = 1 };
        using var sock = NetSocket.Tcp(net);
        var sp = t.AddStream(sock, sender: true, new IPEndPoint(IPAddress.Loopback, 5201), new IPEndPoint(IPAddress.Loopback, 40000));
        sp.BytesSent = 5000;
        sp.StreamRetrans = 2;
        sp.EndTime = sp.StartTime + Stopwatch.Frequency * 2;
        t.CongestionUsed = "cubic";
        var j = t.ResultsToJson();
        Assert.Equal(1, (int)j["sender_has_retransmits"]!);
        Assert.Equal("cubic", (string?)j["congestion_used"]);
        var s = (JsonObject)j["streams"]![0]!;
        Assert.Equal(1, (int)s["id"]!);
        Assert.Equal(5000, (long)s["bytes"]!);
        Assert.Equal(2, (long)s["retransmits"]!);
        Assert.Equal(2.0, (double)s["end_time"]!, 6);
        foreach (var key in new[] { "cpu_util_total", "cpu_util_user", "cpu_util_system", "jitter", "errors", "packets", "start_time" })
            Assert.True(j.ContainsKey(key) || s.ContainsKey(key), key);
        Assert.Equal(Iperf3Error.RecvResults, Assert.Throws<Iperf3Exception>(() => t.ApplyResults(new JsonObject { ["streams"] = new JsonArray() })).Code);
        Assert.Equal(Iperf3Error.StreamId, Assert.Throws<Iperf3Exception>(() => t.ApplyResults(new JsonObject
        {
            ["cpu_util_total"] = 0, ["cpu_util_user"] = 0, ["cpu_util_system"] = 0, ["sender_has_retransmits"] = 0,
            ["streams"] = new JsonArray(new JsonObject { ["id"] = 9, ["bytes"] = 1, ["retransmits"] = 0, ["jitter"] = 0, ["errors"] = 0, ["packets"] = 0 }),
        })).Code);
    }

    [Fact]
    public void ClientOptions_JsonRoundTrip_AndUnknownKeysRefused()
    {
        var o = new Iperf3ClientOptions { Host = IPAddress.Parse("10.7.0.1"), Time = 3, Parallel = 4, Reverse = true, Udp = true, Rate = 100_000_000, Burst = 10, Json = true, Congestion = null, Title = "t", Format = 'm', ConnectTimeout = TimeSpan.FromSeconds(2) };
        var back = Iperf3ClientOptions.FromJson(o.ToJson());
        Assert.Equal(o.ToJson().ToJsonString(), back.ToJson().ToJsonString());
        Assert.Throws<FormatException>(() => Iperf3ClientOptions.FromJson(new JsonObject { ["zerocopy"] = true }));
        Assert.Throws<FormatException>(() => Iperf3ClientOptions.FromJson(new JsonObject { ["time"] = "x" }));
    }
}
