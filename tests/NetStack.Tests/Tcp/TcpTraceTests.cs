using System.Net;
using System.Text.Json.Nodes;
using NetStack.Api;
using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;
using static NetStack.Wire.TcpFlags;

namespace NetStack.Tests.Tcp;

/// <summary>
/// The TCP trace points (tcp_probe, tcp_transmit_skb, tcp_retransmit_skb, inet_sock_set_state,
/// tcp_cong_state_set) read through <see cref="TcpTrace"/>: two stacks on a virtual clock for whole
/// connections, the packet DSL for exact losses.
/// </summary>
public class TcpTraceTests
{
    private const ushort Port = 5000;

    /// <summary>Every record waiting in <paramref name="trace"/>, in order.</summary>
    internal static List<TcpTraceRecord> ReadAll(TcpTrace trace)
    {
        var list = new List<TcpTraceRecord>();
        var buf = new TcpTraceRecord[256];
        int n;
        while ((n = trace.Read(buf)) > 0) list.AddRange(buf.AsSpan(0, n).ToArray());
        return list;
    }

    /// <summary>Sends <paramref name="bytes"/> from A's <paramref name="cfd"/> to B's <paramref name="afd"/>, reading as it goes.</summary>
    private static void Transfer(TwoStacks s, int cfd, int afd, int bytes)
    {
        var chunk = new byte[16384];
        var buf = new byte[65536];
        long sent = 0, got = 0;
        while (got < bytes)
        {
            while (sent < bytes)
            {
                int n = SocketCalls.Send(s.A.Files, cfd, chunk.AsSpan(0, (int)Math.Min(chunk.Length, bytes - sent)), 0);
                if (n <= 0) break;
                sent += n;
            }
            int work = s.Pump();
            int r;
            while ((r = SocketCalls.Recv(s.B.Files, afd, buf, 0)) > 0) { got += r; work++; }
            if (work == 0) s.RunFor(10);
        }
    }

    [Fact]
    public void Off_ByDefault_AndAfterDispose_NothingIsRecorded()
    {
        using var s = new TwoStacks();
        Assert.False(TcpTrace.IsEnabledOn(s.A));
        var trace = TcpTrace.Enable(s.A);
        Assert.True(TcpTrace.IsEnabledOn(s.A));
        Assert.False(TcpTrace.IsEnabledOn(s.B)); // per namespace: tracing one host does not touch the other
        trace.Dispose();
        trace.Dispose(); // idempotent
        Assert.False(trace.IsEnabled);
        Assert.False(TcpTrace.IsEnabledOn(s.A));
        var (_, cfd, afd) = TcpTwoStackTests.Connect(s, Port);
        Transfer(s, cfd, afd, 100_000);
        Assert.Equal(0, trace.Count);
        Assert.Empty(ReadAll(trace));
    }

    [Fact]
    public void SlowStart_ProbeRecordsShowTheCwndGrowing_AndTransmitRecordsTheData()
    {
        using var s = new TwoStacks();
        using var trace = TcpTrace.Enable(s.A, filter: TcpTraceFilter.RemotePort(Port));
        var (_, cfd, afd) = TcpTwoStackTests.Connect(s, Port);
        Transfer(s, cfd, afd, 300_000); // no loss: the whole transfer is slow start
        s.RunFor(1000);                 // the last (delayed) ACK

        var records = ReadAll(trace);
        Assert.Equal(0, trace.Dropped);
        Assert.All(records, r => Assert.Equal(Port, r.RemotePort));
        var probes = records.Where(r => r.Event == TcpTraceEvent.Probe && r.State == TcpState.Established).ToList();
        Assert.NotEmpty(probes);
        // cwnd starts at 10 (RFC 6928: the first data leaves with it) and never shrinks: every ACK
        // of new data adds what it acknowledged (a probe shows the cwnd after its ACK).
        var firstData = records.First(r => r.Event == TcpTraceEvent.Transmit && r.DataLength > 0);
        Assert.Equal(TcpSock.TcpInitCwnd, firstData.SendCwnd);
        Assert.True(probes[0].SendCwnd > TcpSock.TcpInitCwnd);
        for (int i = 1; i < probes.Count; i++)
            Assert.True(probes[i].SendCwnd >= probes[i - 1].SendCwnd, $"cwnd shrank: {probes[i - 1]} then {probes[i]}");
        Assert.True(probes[^1].SendCwnd > 2 * TcpSock.TcpInitCwnd, $"cwnd did not grow: {probes[^1]}");
        Assert.All(probes, p =>
        {
            Assert.Equal(TcpCong.InfiniteSsthresh, p.SendSsthresh);
            Assert.Equal(TcpCaState.Open, p.CaState);
            Assert.True(p.Rtt >= TimeSpan.Zero && p.Rto > TimeSpan.Zero);
        });
        // snd_una only moves forward; the last probe acknowledges everything sent.
        Assert.Equal(probes[^1].SndNxt, probes[^1].SndUna);
        Assert.Equal(300_001UL, probes[^1].BytesAcked); // the SYN counts, as in Linux (tcp_snd_una_update())

        // The data left in tcp_transmit_skb records, each segment once, in sequence order.
        var data = records.Where(r => r.Event == TcpTraceEvent.Transmit && r.DataLength > 0).ToList();
        Assert.Equal(300_000L, data.Sum(r => (long)r.DataLength));
        for (int i = 1; i < data.Count; i++) Assert.Equal(data[i - 1].Sequence + (uint)data[i - 1].DataLength, data[i].Sequence);
        Assert.DoesNotContain(records, r => r.Event == TcpTraceEvent.Retransmit);
        // Time is the namespace's (virtual) clock and never goes back.
        for (int i = 1; i < records.Count; i++) Assert.True(records[i].TimeNs >= records[i - 1].TimeNs);
        Assert.All(records, r => Assert.True(r.TimeNs >= 1_000_000_000L));
    }

    [Fact]
    public void StateChanges_InTheKernelsOrder_ForBothEndsOfAConnection()
    {
        using var s = new TwoStacks();
        using var client = TcpTrace.Enable(s.A, filter: TcpTraceFilter.Parse("event == inet_sock_set_state && dport == 5000"));
        using var server = TcpTrace.Enable(s.B, filter: TcpTraceFilter.Parse("event == inet_sock_set_state"));
        var (lfd, cfd, afd) = TcpTwoStackTests.Connect(s, Port);
        Assert.Equal(5, SocketCalls.Send(s.A.Files, cfd, "hello"u8, 0));
        s.Pump();
        Assert.Equal(5, SocketCalls.Recv(s.B.Files, afd, new byte[16], 0));
        Assert.Equal(0, SocketCalls.Close(s.A.Files, cfd)); // the client closes first
        s.RunFor(1000);                                       // its FIN is acknowledged (FIN_WAIT2)
        Assert.Equal(0, SocketCalls.Close(s.B.Files, afd));
        s.RunFor(1000);
        Assert.Equal(0, SocketCalls.Close(s.B.Files, lfd));
        s.Pump();

        static string Steps(IEnumerable<TcpTraceRecord> rs) => string.Join(" ", rs.Select(r => $"{r.OldState}->{r.State}"));
        var cl = ReadAll(client);
        Assert.Equal("Close->SynSent SynSent->Established Established->FinWait1 FinWait1->FinWait2 FinWait2->Close",
            Steps(cl));
        var srv = ReadAll(server);
        Assert.Equal("Close->Listen Listen->SynRecv SynRecv->Established Established->CloseWait CloseWait->LastAck LastAck->Close Listen->Close",
            Steps(srv));
        // As in Linux, SYN_SENT is entered before the port is chosen (its record has sport 0); the
        // child's records carry the whole 4-tuple.
        var child = srv.Where(r => r.RemotePort != 0).ToList();
        Assert.Equal(5, child.Count);
        Assert.All(child, r =>
        {
            Assert.Equal(IPAddress.Parse("10.9.0.2"), r.LocalAddress);
            Assert.Equal(Port, r.LocalPort);
            Assert.Equal(IPAddress.Parse("10.9.0.1"), r.RemoteAddress);
        });
        Assert.Single(child.Select(r => r.SocketCookie).Distinct());
    }

    // ---- losses, with the packet DSL: exact segments and virtual time ----

    private const int Mss = 1000;

    private static TcpFixture EstablishedSack()
    {
        var f = TcpFixture.SynSent(s => s.TcpSack = true);
        f.Advance(50);
        f.Send(SYN | ACK, seq: f.RemoteIss, ack: f.LocalIss + 1, mss: Mss, sackPerm: true);
        f.Expect(ACK);
        return f;
    }

    private static uint SendSegments(TcpFixture f, int n)
    {
        uint b = f.Sk.SndNxt;
        Assert.Equal(n * Mss, f.SendData(new byte[n * Mss]));
        for (int i = 0; i < n; i++) f.Expect(i == n - 1 ? (byte)(ACK | PSH) : ACK, seq: b + (uint)(i * Mss), len: Mss);
        f.ExpectNothing();
        return b;
    }

    [Fact]
    public void DroppedSegment_FastRetransmit_RecordsRecoveryThenTheRetransmission()
    {
        using var f = EstablishedSack();
        using var trace = TcpTrace.Enable(f.Net);
        uint b = SendSegments(f, 6);
        // Segment 2 is lost; the peer acknowledges 1 and SACKs 3..6 one RTT later.
        f.Advance(50);
        var sack = new TcpSackBlocks();
        sack.Add(new SackBlock(b + 2 * Mss, b + 6 * Mss));
        f.Send(ACK, seq: f.RemoteIss + 1, ack: b + Mss, sack: sack);
        f.AdvanceUntilSent(1000);
        f.Expect(ACK, seq: b + Mss, len: Mss); // the fast retransmission of segment 2

        var records = ReadAll(trace);
        var ca = records.Where(r => r.Event == TcpTraceEvent.CongestionState && r.CaState != r.OldCaState).ToList();
        Assert.Contains(ca, r => r.CaState == TcpCaState.Recovery);
        var rtx = Assert.Single(records, r => r.Event == TcpTraceEvent.Retransmit);
        Assert.Equal(b + Mss, rtx.Sequence);
        Assert.Equal(Mss, rtx.DataLength);
        Assert.Equal(TcpCaState.Recovery, rtx.CaState);
        Assert.Equal(1u, rtx.TotalRetrans);
        Assert.True(rtx.SendCwnd < TcpSock.TcpInitCwnd, $"cwnd not reduced in recovery: {rtx}");
        // Recovery is entered before the retransmission it makes.
        int enter = records.FindIndex(r => r.Event == TcpTraceEvent.CongestionState && r.CaState == TcpCaState.Recovery);
        Assert.True(enter < records.IndexOf(rtx));
        // The SACK shows in the probe that processed it: 4 segments SACKed, one lost.
        var probe = records.Last(r => r.Event == TcpTraceEvent.Probe);
        Assert.Equal(b + Mss, probe.SndUna);
        Assert.Equal(4u, probe.SackedOut);
        Assert.Equal(1u, probe.LostOut);
        Assert.Equal(b + Mss, probe.SndUna);
    }

    [Fact]
    public void NoAck_RetransmissionTimeouts_RecordLossAndEachRetransmission()
    {
        using var f = TcpFixture.Established();
        using var trace = TcpTrace.Enable(f.Net, filter: TcpTraceFilter.Parse("event == tcp_retransmit_skb || event == tcp_cong_state_set"));
        uint b = f.Sk.SndNxt;
        Assert.Equal(1000, f.SendData(new byte[1000]));
        f.Expect(ACK | PSH, seq: b, len: 1000);
        // Nothing comes back: the RTO retransmits the segment, then again after twice as long.
        long first = f.AdvanceUntilSent(10_000);
        f.Expect(ACK | PSH, seq: b, len: 1000);
        Assert.Equal(2 * first, f.AdvanceUntilSent(10_000));
        f.Expect(ACK | PSH, seq: b, len: 1000);

        var records = ReadAll(trace);
        // Each timeout: tcp_enter_loss() sets TCP_CA_Loss (again, the second time: the kernel traces
        // every tcp_set_ca_state()), then the head goes out again.
        Assert.Equal(
            [(TcpTraceEvent.CongestionState, TcpCaState.Open, TcpCaState.Loss), (TcpTraceEvent.Retransmit, TcpCaState.Loss, TcpCaState.Loss),
             (TcpTraceEvent.CongestionState, TcpCaState.Loss, TcpCaState.Loss), (TcpTraceEvent.Retransmit, TcpCaState.Loss, TcpCaState.Loss)],
            records.Select(r => (r.Event, r.OldCaState, r.CaState)).ToArray());
        Assert.Equal(1u, records[0].SendCwnd); // tcp_enter_loss(): nothing in flight, cwnd 1
        Assert.Equal(1u, records[0].LostOut);
        Assert.All(records.Where(r => r.Event == TcpTraceEvent.Retransmit), r =>
        {
            Assert.Equal(b, r.Sequence);
            Assert.Equal(1000, r.DataLength);
        });
        Assert.Equal([1u, 2u], records.Where(r => r.Event == TcpTraceEvent.Retransmit).Select(r => r.TotalRetrans));
        Assert.Equal(2 * records[1].Rto, records[3].Rto); // the backoff shows in the RTO
    }

    // ---- filters ----

    [Fact]
    public void Filters_ByPortAndAddress_KeepOnlyTheirConnections()
    {
        using var s = new TwoStacks();
        using var first = TcpTrace.Enable(s.A, filter: TcpTraceFilter.RemotePort(5000));
        using var second = TcpTrace.Enable(s.A, filter: TcpTraceFilter.Port(5001).And(TcpTraceFilter.Host(IPAddress.Parse("10.9.0.2"))));
        using var none = TcpTrace.Enable(s.A, filter: TcpTraceFilter.Host(IPAddress.Parse("10.9.9.9")));
        using var all = TcpTrace.Enable(s.A);
        var (_, c1, a1) = TcpTwoStackTests.Connect(s, 5000);
        var (_, c2, a2) = TcpTwoStackTests.Connect(s, 5001);
        Transfer(s, c1, a1, 20_000);
        Transfer(s, c2, a2, 20_000);

        var r1 = ReadAll(first);
        var r2 = ReadAll(second);
        var rall = ReadAll(all);
        Assert.NotEmpty(r1);
        Assert.NotEmpty(r2);
        Assert.All(r1, r => Assert.Equal(5000, r.RemotePort));
        Assert.All(r2, r => Assert.Equal(5001, r.RemotePort));
        Assert.Empty(ReadAll(none));
        Assert.Equal(rall.Count, r1.Count + r2.Count);
        Assert.Equal(rall.Where(r => r.RemotePort == 5000), r1);
    }

    [Theory]
    [InlineData("sport == 80", true)]
    [InlineData("sport != 80", false)]
    [InlineData("port == 49152 && host == 10.0.0.2", true)]
    [InlineData("port != 80", false)]
    [InlineData("host != 10.0.0.9", true)]
    [InlineData("daddr == 10.0.0.1", false)]
    [InlineData("saddr == 10.0.0.1 and not dport == 1", true)]
    [InlineData("snd_cwnd >= 10 && snd_cwnd < 11", true)]
    [InlineData("state == TCP_ESTABLISHED", true)]
    [InlineData("state == established || state == close", true)]
    [InlineData("oldstate == syn_recv", false)]
    [InlineData("ca_state == TCP_CA_Open && !(ca_state == loss)", true)]
    [InlineData("event == tcp_probe", true)]
    [InlineData("event == tcp_retransmit_skb", false)]
    [InlineData("data_len & 0x100", false)]
    [InlineData("(sport == 1 || sport == 80) && (dport == 2 || dport == 49152)", true)]
    public void FilterExpressions_FtraceSyntax(string expression, bool matches)
    {
        // An ACK processed by an established passive connection (10.0.0.1:80 <- 10.0.0.2:49152).
        using var f = TcpFixture.EstablishedPassive();
        using var trace = TcpTrace.Enable(f.Net, filter: TcpTraceFilter.Parse("event == tcp_probe"));
        f.Send(ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 1);
        var probe = Assert.Single(ReadAll(trace));
        var filter = TcpTraceFilter.Parse(expression);
        Assert.Equal(matches, filter.Matches(probe));
        Assert.Equal(expression, filter.ToString());
    }

    [Theory]
    [InlineData("", "empty filter")]
    [InlineData("sprot == 80", "no field 'sprot'")]
    [InlineData("== 80", "expected a field name")]
    [InlineData("sport ~ 80", "unexpected '~'")]
    [InlineData("sport == 70000", "out of range for sport")]
    [InlineData("daddr == 10.0.0", "not an IPv4 address")]
    [InlineData("state == SYN_WAIT", "takes a TCP state")]
    [InlineData("event == probe", "takes an event")]
    [InlineData("(sport == 80", "expected ')'")]
    [InlineData("sport == 80 dport == 1", "unexpected 'dport'")]
    [InlineData("sport ==", "unexpected end of filter")]
    public void FilterExpressions_Malformed_SayWhy(string expression, string why)
    {
        var e = Assert.Throws<FormatException>(() => TcpTraceFilter.Parse(expression));
        Assert.Contains(why, e.Message);
        Assert.False(TcpTraceFilter.TryParse(expression, out _, out string? error));
        Assert.Equal(e.Message, error);
    }

    // ---- the ring ----

    [Fact]
    public void FullRing_DropsNewRecordsAndCountsThem_KeepingTheOldest()
    {
        using var s = new TwoStacks();
        using var small = TcpTrace.Enable(s.A, capacity: 16);
        using var big = TcpTrace.Enable(s.A, capacity: 1 << 16);
        Assert.Equal(16, small.Capacity);
        var (_, cfd, afd) = TcpTwoStackTests.Connect(s, Port);
        Transfer(s, cfd, afd, 50_000);

        var every = ReadAll(big);
        Assert.Equal(0, big.Dropped);
        Assert.True(every.Count > 16);
        Assert.Equal(16, small.Count);
        Assert.Equal(every.Count - 16, small.Dropped);
        // Perf's choice, not ftrace's overwrite: what was kept is the beginning, in order.
        Assert.Equal(every.Take(16), ReadAll(small));
        Assert.Equal(0, small.Count);

        // Room again: new records are kept, the count of lost ones stays.
        Transfer(s, cfd, afd, 1_000);
        var later = ReadAll(small);
        Assert.Equal(ReadAll(big).Take(later.Count), later);
        Assert.Equal(every.Count - 16, small.Dropped);
    }

    [Fact]
    public void Capacity_IsRoundedUpToAPowerOfTwo_AndBounded()
    {
        using var s = new TwoStacks();
        using (var t = TcpTrace.Enable(s.A, capacity: 1000)) Assert.Equal(1024, t.Capacity);
        Assert.Throws<ArgumentOutOfRangeException>(() => TcpTrace.Enable(s.A, capacity: 15));
        Assert.Throws<ArgumentOutOfRangeException>(() => TcpTrace.Enable(s.A, capacity: TcpTrace.MaxCapacity + 1));
        Assert.False(TcpTrace.IsEnabledOn(s.A));
    }

    // ---- text ----

    [Fact]
    public void Csv_HeaderIsStable_AndLinesRoundTrip()
    {
        // The columns other tools read (README.md, "TCP trace"): changing them is a breaking change.
        Assert.Equal(
            "time_ns,event,saddr,sport,daddr,dport,sock_cookie,state,oldstate,ca_state,old_ca_state," +
            "snd_una,snd_nxt,rcv_nxt,snd_cwnd,ssthresh,srtt,rttvar,rto,mss," +
            "packets_out,packets_in_flight,sacked_out,lost_out,retrans_out,total_retrans,delivered," +
            "bytes_acked,bytes_received,delivery_rate,pacing_rate,snd_wnd,rcv_wnd,seq,data_len",
            TcpTraceRecord.CsvHeader);
        Assert.Equal(TcpTraceRecord.CsvHeader.Split(','), TcpTraceRecord.FieldNames);

        using var s = new TwoStacks();
        using var trace = TcpTrace.Enable(s.A);
        var (_, cfd, afd) = TcpTwoStackTests.Connect(s, Port);
        Transfer(s, cfd, afd, 10_000);
        var records = ReadAll(trace);
        Span<byte> buf = stackalloc byte[TcpTraceRecord.MaxFormattedLength];
        foreach (var r in records)
        {
            string csv = r.ToCsv();
            Assert.Equal(r, TcpTraceRecord.ParseCsv(csv));
            Assert.True(r.TryFormatCsv(buf, out int n));
            Assert.Equal(csv, System.Text.Encoding.UTF8.GetString(buf[..n]));
            Assert.False(r.TryFormatCsv(buf[..(n - 1)], out _)); // too small: refused, not cut

            var json = (JsonObject)JsonNode.Parse(r.ToJson())!;
            Assert.Equal(TcpTraceRecord.FieldNames, json.Select(p => p.Key));
            Assert.Equal(csv, string.Join(',', json.Select(p => p.Value!.ToString())));
        }
        var syn = records.First(r => r.Event == TcpTraceEvent.SetState);
        Assert.Matches(@"^\d+,inet_sock_set_state,10\.9\.0\.1,0,10\.9\.0\.2,5000,\d+,TCP_SYN_SENT,TCP_CLOSE,TCP_CA_Open,TCP_CA_Open,", syn.ToCsv());
        Assert.Throws<FormatException>(() => TcpTraceRecord.ParseCsv("1,2,3"));
        Assert.Throws<FormatException>(() => TcpTraceRecord.ParseCsv(syn.ToCsv().Replace("TCP_SYN_SENT", "TCP_NOPE")));
    }
}
