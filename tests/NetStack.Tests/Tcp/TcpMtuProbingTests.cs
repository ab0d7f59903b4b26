using NetStack.Core;
using NetStack.Ipv4;
using static NetStack.Wire.TcpFlags;

namespace NetStack.Tests.Tcp;

/// <summary>
/// Black-hole detection of packetization-layer path MTU discovery (RFC 4821; net.ipv4.tcp_mtu_probing,
/// tcp_timer.c's tcp_mtu_probing() from tcp_write_timeout()). The peer plays a path whose MTU is
/// 1100 and that drops larger packets without an ICMP error: the stack's 1460-byte segments are
/// never acknowledged. retransmits_timed_out() counts from the first retransmission (retrans_stamp,
/// 200 ms in) and tcp_retries1 = 3 backed-off timeouts from RTO_MIN = 200 ms take 3 s, so the
/// fifth timeout (6.2 s in) is the first past them: it turns the search on and the MSS drops to
/// tcp_base_mss (1024), so the retransmission goes out as 1024 bytes; each later timeout halves it.
/// </summary>
public class TcpMtuProbingTests
{
    private static byte[] Data(int n)
    {
        var d = new byte[n];
        for (int i = 0; i < n; i++) d[i] = (byte)(i * 7 + 3);
        return d;
    }

    /// <summary>Sends 2920 bytes as two full segments, lost in the black hole, and the first four timeouts that resend the head whole.</summary>
    private static byte[] LoseTwoSegments(TcpFixture f)
    {
        var data = Data(2920);
        Assert.Equal(2920, f.SendData(data));
        f.Expect(ACK, seq: f.LocalIss + 1, payload: data[..1460]);
        f.Expect(ACK | PSH, seq: f.LocalIss + 1461, payload: data[1460..]);
        foreach (long gap in new long[] { 200, 400, 800, 1600 })
        {
            Assert.Equal(gap, f.AdvanceUntilSent(10_000));
            f.Expect(ACK, seq: f.LocalIss + 1, payload: data[..1460]);
            f.ExpectNothing();
        }
        return data;
    }

    [Fact]
    public void MtuProbing1_TimeoutsPastRetries1_DropMssToBaseMss_ThenHalveIt()
    {
        using var f = TcpFixture.Established(s => s.TcpMtuProbing = 1);
        var data = LoseTwoSegments(f);
        Assert.Equal(1460u, f.Sk.MssCache);
        Assert.False(f.Sk.IcskMtup.Enabled);
        // 6 s since the first retransmission: a black hole is suspected.
        Assert.Equal(3200, f.AdvanceUntilSent(10_000));
        f.Expect(ACK, seq: f.LocalIss + 1, payload: data[..1024]);
        f.ExpectNothing();
        Assert.True(f.Sk.IcskMtup.Enabled);
        Assert.Equal(1024u, f.Sk.MssCache);
        Assert.Equal(1064, f.Sk.IcskMtup.SearchLow);
        // Still nothing back: the next timeout halves the MSS known to work.
        Assert.Equal(6400, f.AdvanceUntilSent(20_000));
        f.Expect(ACK, seq: f.LocalIss + 1, payload: data[..512]);
        Assert.Equal(512u, f.Sk.MssCache);
        Assert.Equal(552, f.Sk.IcskMtup.SearchLow);
    }

    [Fact]
    public void MtuProbing1_AfterTheDrop_TheTransferCompletesThroughTheBlackHole()
    {
        using var f = TcpFixture.Established(s => s.TcpMtuProbing = 1);
        var data = LoseTwoSegments(f);
        Assert.Equal(3200, f.AdvanceUntilSent(10_000));
        f.Expect(ACK, seq: f.LocalIss + 1, payload: data[..1024]);
        // The path carries 1064-byte packets: acknowledge what arrives, segment by segment, until all
        // 2920 bytes are through; none is larger than the new MSS, so none is lost again.
        var got = new byte[2920];
        Array.Copy(data, got, 1024);
        uint acked = 1024;
        f.Send(ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 1 + acked);
        for (int round = 0; round < 20 && acked < 2920; round++)
        {
            f.Advance(1);
            while (f.Dev.Sent.Count > 0)
            {
                var s = f.Next();
                Assert.True(s.Payload.Length <= 1024, $"a segment larger than the MSS left: {s}");
                uint off = s.Seq - (f.LocalIss + 1);
                s.Payload.CopyTo(got, (int)off);
                acked = Math.Max(acked, off + (uint)s.Payload.Length);
            }
            f.Send(ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 1 + acked);
        }
        Assert.Equal(2920u, acked);
        Assert.Equal(data, got);
        Assert.Equal(1024u, f.Sk.MssCache);
    }

    [Fact]
    public void MtuProbing0_TimeoutsKeepTheMss()
    {
        using var f = TcpFixture.Established();
        Assert.Equal(0, f.Net.Ipv4.Sysctl.TcpMtuProbing);
        var data = LoseTwoSegments(f);
        foreach (long gap in new long[] { 3200, 6400 })
        {
            Assert.Equal(gap, f.AdvanceUntilSent(20_000));
            f.Expect(ACK, seq: f.LocalIss + 1, payload: data[..1460]);
        }
        Assert.Equal(1460u, f.Sk.MssCache);
        Assert.False(f.Sk.IcskMtup.Enabled);
    }

    [Fact]
    public void MtuProbing2_StartsFromBaseMss()
    {
        using var f = TcpFixture.Established(s => s.TcpMtuProbing = 2);
        Assert.True(f.Sk.IcskMtup.Enabled);
        Assert.Equal(1024u, f.Sk.MssCache);
        Assert.Equal(1500, f.Sk.IcskMtup.SearchHigh);
        var data = Data(1500);
        Assert.Equal(1500, f.SendData(data));
        f.Expect(ACK, seq: f.LocalIss + 1, payload: data[..1024]);
        f.Expect(ACK | PSH, seq: f.LocalIss + 1025, payload: data[1024..]);
    }

    // ---- the upward search: tcp_mtu_probe(), tcp_mtup_probe_success(), tcp_mtup_probe_failed() ----

    private static readonly byte[] Stream = Data(400_000);

    /// <summary>Expects our segment carrying the stream's bytes [off, off + len), compared whole (no options in these fixtures).</summary>
    private static void ExpectData(TcpFixture f, int off, int len, byte flags = ACK) =>
        f.ExpectSeg(new Seg
        {
            Flags = flags, Seq = f.LocalIss + 1 + (uint)off, Ack = f.RemoteIss + 1, Payload = Stream[off..(off + len)],
            SrcPort = f.OurPort, DstPort = f.PeerPort,
        });

    /// <summary>As <see cref="ExpectData"/>, where PSH may or may not be set (tcp_sendmsg()'s forced pushes in a long write).</summary>
    private static void ExpectDataAnyPush(TcpFixture f, int off, int len)
    {
        var s = f.Next();
        Assert.Equal(ACK, (byte)(s.Flags & ~PSH));
        Assert.Equal(new Seg
        {
            Flags = s.Flags, Seq = f.LocalIss + 1 + (uint)off, Ack = f.RemoteIss + 1, Window = s.Window, Payload = s.Payload,
            SrcPort = f.OurPort, DstPort = f.PeerPort,
        }.ToString(), s.ToString());
        Assert.Equal(Stream[off..(off + len)], s.Payload);
    }

    private static void Ack(TcpFixture f, int acked) => f.Send(ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 1 + (uint)acked);

    /// <summary>
    /// tcp_mtu_probing = 2 (MSS 1024 from tcp_base_mss, search window 1064..1500): ten segments
    /// go with cwnd 10 (too small to probe: tcp_mtu_probe() wants 11), their ACK makes cwnd 20;
    /// twenty more fill it and eight more wait in the write queue.
    /// </summary>
    private static TcpFixture CwndLimitedWithQueue(Action<Ipv4Sysctl>? more = null)
    {
        var f = TcpFixture.Established(s => { s.TcpMtuProbing = 2; more?.Invoke(s); });
        Assert.Equal(1024u, f.Sk.MssCache);
        Assert.Equal(10240, f.SendData(Stream.AsSpan(0, 10240)));
        for (int i = 0; i < 10; i++) ExpectData(f, i * 1024, 1024, i == 9 ? (byte)(ACK | PSH) : ACK);
        f.ExpectNothing();
        Ack(f, 10240);
        Assert.Equal(20u, f.Sk.SndCwnd);
        Assert.Equal(20 * 1024, f.SendData(Stream.AsSpan(10240, 20 * 1024)));
        for (int i = 0; i < 20; i++) ExpectData(f, 10240 + i * 1024, 1024, i == 19 ? (byte)(ACK | PSH) : ACK);
        Assert.Equal(8 * 1024, f.SendData(Stream.AsSpan(30720, 8 * 1024)));
        f.ExpectNothing(); // cwnd is full: tcp_mtu_probe() answers 0 (wait), nothing leaves
        Assert.Equal(0, f.Sk.IcskMtup.ProbeSize);
        return f;
    }

    /// <summary>
    /// The ACK of two segments opens cwnd to 22 with 18 in flight: the probe leaves first, one
    /// segment of tcp_mtu_to_mss((1500 + 1064) / 2) = 1242 bytes made of the first queued buffer
    /// and 218 bytes of the second, then the rest of the second and the third as cwnd (21 after
    /// the probe's charge of one) allows.
    /// </summary>
    private static void SendProbe(TcpFixture f)
    {
        Ack(f, 12288);
        ExpectData(f, 30720, 1242);
        ExpectData(f, 31962, 806);
        ExpectData(f, 32768, 1024);
        f.ExpectNothing();
        Assert.Equal(1282, f.Sk.IcskMtup.ProbeSize);
        Assert.Equal(21u, f.Sk.SndCwnd);
        Assert.Equal(1024u, f.Sk.MssCache);
    }

    [Fact]
    public void MtuProbing2_CwndLimitedWithQueuedData_SendsAProbeOfTheMiddleOfTheSearchWindow()
    {
        using var f = CwndLimitedWithQueue();
        SendProbe(f);
        Assert.Equal(1064, f.Sk.IcskMtup.SearchLow);
        Assert.Equal(1500, f.Sk.IcskMtup.SearchHigh);
    }

    [Fact]
    public void MtuProbing2_ProbeAcked_RaisesSearchLowAndTheMss_ScalesCwnd()
    {
        using var f = CwndLimitedWithQueue();
        SendProbe(f);
        var mib = f.Net.Mib.TcpExt;
        // Everything up to the probe and the two segments after it: tcp_clean_rtx_queue() sees the
        // probe acknowledged before the congestion control grows cwnd.
        Ack(f, 33792);
        Assert.Equal(1, mib[LinuxMib.TCPMTUPSuccess]);
        Assert.Equal(0, mib[LinuxMib.TCPMTUPFail]);
        Assert.Equal(1282, f.Sk.IcskMtup.SearchLow);
        Assert.Equal(0, f.Sk.IcskMtup.ProbeSize);
        Assert.Equal(1242u, f.Sk.MssCache);
        Assert.Equal(1500, f.Sk.IcskPmtuCookie);
        // cwnd 21 * 1064 / 1282 = 17, then slow start adds the 21 packets acknowledged.
        Assert.Equal(38u, f.Sk.SndCwnd);
        // The five buffers still queued were cut for the old MSS and leave as they are, but now
        // they are small segments: Nagle (Minshall) holds the last one until the others are acknowledged.
        for (int i = 0; i < 4; i++) ExpectData(f, 33792 + i * 1024, 1024);
        f.ExpectNothing();
        Ack(f, 37888);
        ExpectData(f, 37888, 1024, ACK | PSH);
        Ack(f, 38912);
        // New data is cut to the MSS the probe proved.
        Assert.Equal(2 * 1242, f.SendData(Stream.AsSpan(38912, 2 * 1242)));
        ExpectData(f, 38912, 1242);
        ExpectData(f, 38912 + 1242, 1242, ACK | PSH);
        f.ExpectNothing();
    }

    [Fact]
    public void MtuProbing2_ProbeLost_LowersSearchHigh_KeepsTheMssAndCwnd_ResendsItInMssPieces()
    {
        using var f = CwndLimitedWithQueue();
        SendProbe(f);
        var mib = f.Net.Mib.TcpExt;
        // Everything before the probe arrives (cwnd grows to 39, the rest of the queue leaves)...
        Ack(f, 30720);
        for (int i = 0; i < 5; i++) ExpectData(f, 33792 + i * 1024, 1024, i == 4 ? (byte)(ACK | PSH) : ACK);
        Assert.Equal(39u, f.Sk.SndCwnd);
        // ...then three duplicate ACKs of the probe's start (no SACK): what followed it arrived, it did not.
        for (int i = 0; i < 2; i++)
        {
            Ack(f, 30720);
            f.ExpectNothing();
        }
        Assert.Equal(TcpCaState.Disorder, f.Sk.CaState);
        Ack(f, 30720);
        Assert.Equal(1, mib[LinuxMib.TCPMTUPFail]);
        Assert.Equal(0, mib[LinuxMib.TCPMTUPSuccess]);
        Assert.Equal(0, mib[LinuxMib.TCPFastRetrans]); // not a congestion loss: no fast recovery
        Assert.Equal(1281, f.Sk.IcskMtup.SearchHigh);
        Assert.Equal(1064, f.Sk.IcskMtup.SearchLow);
        Assert.Equal(0, f.Sk.IcskMtup.ProbeSize);
        Assert.Equal(1024u, f.Sk.MssCache);
        Assert.Equal(40u, f.Sk.SndCwnd); // tcp_mtu_probe()'s charge given back, no reduction
        // tcp_simple_retransmit(): the probe, larger than the MSS, is marked lost and resent cut to
        // the MSS (tcp_fragment() gives both pieces its lost mark), in Loss but without a cwnd cut.
        ExpectData(f, 30720, 1024);
        ExpectData(f, 31744, 218);
        f.ExpectNothing();
        Assert.Equal(TcpCaState.Loss, f.Sk.CaState);
        Assert.Equal(40u, f.Sk.SndCwnd);
        // The retransmission arrives; the MSS stays and new data is cut to it.
        Ack(f, 38912);
        f.ExpectNothing();
        Assert.Equal(1024u, f.Sk.MssCache);
        Assert.Equal(1100, f.SendData(Stream.AsSpan(38912, 1100)));
        ExpectData(f, 38912, 1024);
        ExpectData(f, 39936, 76, ACK | PSH);
    }

    /// <summary>
    /// With nothing in flight, sends cwnd + 8 MSS of data (cwnd segments leave, 8 MSS wait), then
    /// acknowledges the first two segments and returns the first segment that answer lets out;
    /// then drains and acknowledges everything. <paramref name="off"/> moves past the data.
    /// </summary>
    private static Seg CwndLimitedRound(TcpFixture f, ref int off)
    {
        Assert.Equal(0u, f.Sk.PacketsOut);
        int cwnd = (int)f.Sk.SndCwnd, n = (cwnd + 8) * 1024;
        Assert.Equal(n, f.SendData(Stream.AsSpan(off, n)));
        for (int i = 0; i < cwnd; i++) ExpectDataAnyPush(f, off + i * 1024, 1024);
        f.ExpectNothing();
        Ack(f, off + 2048);
        var first = f.Next();
        Assert.Equal(f.LocalIss + 1 + (uint)(off + cwnd * 1024), first.Seq);
        while (f.Dev.Sent.Count > 0) f.Next();
        Ack(f, (int)(f.Sk.SndNxt - f.LocalIss - 1));
        while (f.Dev.Sent.Count > 0) f.Next();
        Ack(f, off + n);
        f.ExpectNothing();
        off += n;
        return first;
    }

    [Fact]
    public void MtuProbing2_SearchWindowBelowThreshold_ReprobesAfterTcpProbeInterval()
    {
        // tcp_probe_threshold 300: after the lost probe, the window 1064..1281 is too narrow to go on.
        using var f = CwndLimitedWithQueue(s => { s.TcpProbeThreshold = 300; s.TcpSlowStartAfterIdle = false; });
        // cwnd no larger than 30 (a route's "cwnd 30 lock": snd_cwnd_clamp), so that every round
        // below stays cwnd-limited inside the peer's 64000-byte window.
        f.Sk.SndCwndClamp = 30;
        long start = f.Net.NowNs;
        Assert.Equal(start, f.Sk.IcskMtup.ProbeTimestamp); // (virtual time stood still since tcp_mtup_init())
        SendProbe(f);
        Ack(f, 30720);
        for (int i = 0; i < 5; i++) ExpectData(f, 33792 + i * 1024, 1024, i == 4 ? (byte)(ACK | PSH) : ACK);
        for (int i = 0; i < 3; i++) Ack(f, 30720);
        ExpectData(f, 30720, 1024);
        ExpectData(f, 31744, 218);
        Ack(f, 38912);
        Assert.Equal(1281, f.Sk.IcskMtup.SearchHigh);
        // Something above high_seq acknowledged: back to Open.
        int off = 38912;
        Assert.Equal(1024, f.SendData(Stream.AsSpan(off, 1024)));
        ExpectData(f, off, 1024, ACK | PSH);
        off += 1024;
        Ack(f, off);
        Assert.Equal(TcpCaState.Open, f.Sk.CaState);
        // The conditions that sent the first probe send none now: the search is over...
        var seg = CwndLimitedRound(f, ref off);
        Assert.Equal(1024, seg.Payload.Length);
        Assert.Equal(0, f.Sk.IcskMtup.ProbeSize);
        Assert.Equal(1281, f.Sk.IcskMtup.SearchHigh);
        // ...until tcp_probe_interval (600 s) after the search began: the next look at it
        // (tcp_mtu_check_reprobe()) reopens the window from the current MSS's MTU to the peer's,
        f.Advance(600_000 - (f.Net.NowNs - start) / 1_000_000 - 1);
        seg = CwndLimitedRound(f, ref off);
        Assert.Equal(1024, seg.Payload.Length);
        Assert.Equal(1281, f.Sk.IcskMtup.SearchHigh);
        f.Advance(1);
        // This time the look at the end of the write (tcp_push() -> tcp_write_xmit()) reopens it...
        int cwnd = (int)f.Sk.SndCwnd, n = (cwnd + 8) * 1024;
        Assert.Equal(n, f.SendData(Stream.AsSpan(off, n)));
        for (int i = 0; i < cwnd; i++) ExpectDataAnyPush(f, off + i * 1024, 1024);
        f.ExpectNothing();
        Assert.Equal(1500, f.Sk.IcskMtup.SearchHigh);
        Assert.Equal(1064, f.Sk.IcskMtup.SearchLow);
        Assert.Equal(f.Net.NowNs, f.Sk.IcskMtup.ProbeTimestamp);
        // ...and the next chance probes its middle again: 1242 bytes.
        Ack(f, off + 2048);
        ExpectData(f, off + cwnd * 1024, 1242);
        Assert.Equal(1282, f.Sk.IcskMtup.ProbeSize);
    }

    [Fact]
    public void Sysctls_HaveLinuxDefaultsAndRanges()
    {
        using var f = TcpFixture.Established();
        var sys = f.Net.Sysctl;
        string Get(string name)
        {
            Assert.True(sys.TryGet(name, out var v), name);
            return v.Trim();
        }
        Assert.Equal("0", Get("net.ipv4.tcp_mtu_probing"));
        Assert.Equal("1024", Get("net.ipv4.tcp_base_mss"));
        Assert.Equal("48", Get("net.ipv4.tcp_mtu_probe_floor"));
        Assert.Equal("8", Get("net.ipv4.tcp_probe_threshold"));
        Assert.Equal("600", Get("net.ipv4.tcp_probe_interval"));
        Assert.Equal(0, sys.TrySet("net.ipv4.tcp_mtu_probing", "2"));
        Assert.NotEqual(0, sys.TrySet("net.ipv4.tcp_mtu_probe_floor", "47"));
    }
}
