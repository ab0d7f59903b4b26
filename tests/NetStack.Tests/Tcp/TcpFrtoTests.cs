using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Wire;
using static NetStack.Wire.TcpFlags;
using static NetStack.Tests.Tcp.SackScript;

namespace NetStack.Tests.Tcp;

/// <summary>
/// F-RTO (RFC 5682, net.ipv4.tcp_frto, tcp_process_loss()/tcp_try_undo_loss()) and the RTT samples
/// SACKs give (tcp_sacktag_one()'s first_sackt, tcp_ack_update_rtt()'s sack_rtt_us), with the packet
/// DSL in virtual time: SACK, MSS 1000, no timestamps (so no Eifel undo), srtt 50 ms, RTO 250 ms.
/// The loss probe is off where a test needs the RTO itself to fire.
/// </summary>
public class TcpFrtoTests
{
    private const int RttMs = 50;

    private static TcpFixture EstablishedSack(Action<Ipv4Sysctl>? configure = null)
    {
        var f = TcpFixture.SynSent(s => { s.TcpSack = true; configure?.Invoke(s); });
        f.Advance(RttMs);
        f.Send(SYN | ACK, seq: f.RemoteIss, ack: f.LocalIss + 1, mss: Mss, sackPerm: true);
        f.Expect(ACK);
        Assert.Equal(50_000u, f.Sk.SrttUs >> 3);
        return f;
    }

    /// <summary>
    /// 12 segments written, 10 sent (initial cwnd); every ACK is held up past the RTO: the RTO
    /// resends segment 1, cwnd 1, Loss with F-RTO armed. Returns the first sequence.
    /// </summary>
    private static uint StallUntilRto(TcpFixture f)
    {
        uint b = SendSegments(f, 12, 10);
        Assert.Equal(250, f.AdvanceUntilSent(1000));
        f.Expect(ACK, seq: b, len: Mss);
        Assert.Equal(TcpCaState.Loss, f.Sk.CaState);
        Assert.True(f.Sk.Frto);
        Assert.Equal(1u, f.Sk.SndCwnd);
        Assert.Equal(10u, f.Sk.LostOut);
        return b;
    }

    [Fact]
    public void Rto_ThenNeverRetransmittedDataAcked_SpuriousRtoUndone_CwndRestored()
    {
        using var f = EstablishedSack(s => s.TcpEarlyRetrans = 0);
        uint cwnd0 = f.Sk.SndCwnd;
        uint b = StallUntilRto(f);
        // The held-up ACK of the original segment 1 arrives (step 2.b): F-RTO sends the two new
        // segments (cwnd 2 after slow start), not retransmissions of 2..10.
        Ack(f, b + Mss);
        var sent = Drain(f);
        Assert.Equal(new[] { b + 10 * Mss, b + 11 * Mss }, sent.Select(s => s.Seq));
        Assert.Equal(TcpCaState.Loss, f.Sk.CaState);
        Assert.Equal(0, f.Net.Mib.TcpExt[LinuxMib.TCPSpuriousRTOs]);
        // The ACK of the originals 2 and 3, never retransmitted (step 3.b): the timeout was spurious.
        Ack(f, b + 3 * Mss);
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.TCPSpuriousRTOs]);
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.TCPLossUndo]);
        Assert.Equal(TcpCaState.Open, f.Sk.CaState);
        Assert.Equal(0u, f.Sk.LostOut);
        Assert.True(f.Sk.SndCwnd >= cwnd0, $"cwnd {f.Sk.SndCwnd} restored to at least {cwnd0}");
        Assert.Equal(TcpCong.InfiniteSsthresh, f.Sk.SndSsthresh);
        // The rest arrives: nothing but the one timeout retransmission was ever resent.
        Ack(f, b + 12 * Mss);
        Drain(f);
        f.Advance(2000);
        f.ExpectNothing();
        Assert.Equal(1, f.Net.Mib.Tcp[TcpMib.RetransSegs]);
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.TCPTimeouts]);
    }

    [Fact]
    public void Rto_ThenNewDataSacked_LossWasReal_RetransmitsTheHoles()
    {
        using var f = EstablishedSack(s => s.TcpEarlyRetrans = 0);
        uint b = StallUntilRto(f);
        Ack(f, b + Mss);
        Assert.Equal(new[] { b + 10 * Mss, b + 11 * Mss }, Drain(f).Select(s => s.Seq));
        // Segments 2..10 were lost for real: the peer SACKs the new segment 11 (step 3.a). F-RTO
        // stops; the conventional recovery resends segment 2 in the room cwnd leaves.
        Ack(f, b + Mss, b, 11, 11);
        var sent = Drain(f);
        Assert.Equal(new[] { b + Mss }, sent.Select(s => s.Seq));
        Assert.False(f.Sk.Frto);
        Assert.Equal(TcpCaState.Loss, f.Sk.CaState);
        Assert.Equal(0, f.Net.Mib.TcpExt[LinuxMib.TCPSpuriousRTOs]);
        Assert.Equal(0, f.Net.Mib.TcpExt[LinuxMib.TCPLossUndo]);
        Assert.Equal(2u, f.Sk.SndCwnd);
    }

    [Fact]
    public void FrtoOff_AckAfterRto_RetransmitsInsteadOfNewData()
    {
        using var f = EstablishedSack(s => { s.TcpEarlyRetrans = 0; s.TcpFrto = 0; });
        uint b = SendSegments(f, 12, 10);
        Assert.Equal(250, f.AdvanceUntilSent(1000));
        f.Expect(ACK, seq: b, len: Mss);
        Assert.False(f.Sk.Frto);
        // The same ACK as above: without F-RTO the lost segments 2 and 3 go first.
        Ack(f, b + Mss);
        Assert.Equal(new[] { b + Mss, b + 2 * Mss }, Drain(f).Select(s => s.Seq));
        Ack(f, b + 3 * Mss);
        Assert.Equal(0, f.Net.Mib.TcpExt[LinuxMib.TCPSpuriousRTOs]);
        Assert.Equal(TcpCaState.Loss, f.Sk.CaState);
    }

    [Fact]
    public void RecurringRtoAfterRecovery_FrtoJudgesTheSecondTimeout()
    {
        // RFC 5682 3.2 as Linux applies it: a timeout during a recovery is not judged (the
        // recovery's own retransmissions muddle the evidence), the next one on the same snd_una is.
        using var f = EstablishedSack(s => s.TcpEarlyRetrans = 0);
        uint b = SendSegments(f, 6, 6);
        f.Advance(RttMs);
        Ack(f, b, b, 2, 4);
        f.Expect(ACK, seq: b, len: Mss);
        Assert.Equal(TcpCaState.Recovery, f.Sk.CaState);
        f.AdvanceUntilSent(1000);
        f.Expect(ACK, seq: b, len: Mss);
        Assert.Equal(TcpCaState.Loss, f.Sk.CaState);
        Assert.False(f.Sk.Frto);
        f.AdvanceUntilSent(2000);
        f.Expect(ACK, seq: b, len: Mss);
        Assert.Equal(TcpCaState.Loss, f.Sk.CaState);
        Assert.True(f.Sk.Frto);
    }

    [Fact]
    public void SackOfNeverRetransmittedSegment_GivesRttSample()
    {
        using var f = EstablishedSack();
        uint b = SendSegments(f, 4, 4);
        // Segment 1 is lost; segment 2 is SACKed 20 ms after it left, the cumulative ACK stays:
        // srtt = 50 + (20 - 50) / 8 = 46.25 ms.
        f.Advance(20);
        Ack(f, b, b, 2, 2);
        Assert.Equal(46_250u, f.Sk.SrttUs >> 3);
        Assert.Equal(20_000u, f.Sk.TcpMinRtt);
    }

    [Fact]
    public void SackOfRetransmittedSegment_GivesNoRttSample()
    {
        using var f = EstablishedSack(s => s.TcpEarlyRetrans = 0);
        uint b = SendSegments(f, 4, 4);
        f.Advance(RttMs);
        Ack(f, b, b, 2, 4);
        f.Expect(ACK, seq: b, len: Mss); // RACK/dupthresh: segment 1 resent
        uint srtt = f.Sk.SrttUs;
        // A SACK of the retransmission alone (Karn: it may answer either copy) leaves srtt alone.
        f.Advance(10);
        var sack = new TcpSackBlocks();
        sack.Add(new SackBlock(b + Mss, b + 4 * Mss));
        sack.Add(new SackBlock(b, b + Mss));
        f.Send(ACK, seq: f.RemoteIss + 1, ack: b, sack: sack);
        Assert.Equal(srtt, f.Sk.SrttUs);
    }
    [Fact]
    public void DsackInsideSecondBlock_ForSackedRetransmission_IsReordering()
    {
        using var f = EstablishedSack(s => s.TcpEarlyRetrans = 0);
        uint b = SendSegments(f, 8, 8);
        // Segment 1 is lost, segment 2 late: SACKs of 3..5 (dupthresh, no reordering seen yet) and
        // RACK marks both lost; further SACKs clock their retransmissions out.
        f.Advance(RttMs);
        var resent = new List<uint>();
        for (int k = 3; k <= 8; k++)
        {
            Ack(f, b, b, 3, k);
            resent.AddRange(Drain(f).Select(s => s.Seq));
        }
        Assert.Contains(b + Mss, resent);
        Assert.Equal(0u, f.Sk.ReordSeen);
        // The retransmission of 2 arrives (SACK 2..8), then the late original: the peer reports the
        // duplicate of out-of-order data as a D-SACK inside the second block (RFC 2883).
        Ack(f, b, b, 2, 8);
        var sack = new TcpSackBlocks();
        sack.Add(new SackBlock(b + Mss, b + 2 * Mss));
        sack.Add(new SackBlock(b + Mss, b + 8 * Mss));
        f.Send(ACK, seq: f.RemoteIss + 1, ack: b, sack: sack);
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.TCPDSACKOfoRecv]);
        Assert.Equal(0, f.Net.Mib.TcpExt[LinuxMib.TCPDSACKRecv]);
        // Its original arrived after the retransmission: reordering of 7 segments (fack 8 - 1).
        Assert.Equal(1u, f.Sk.ReordSeen);
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.TCPSACKReorder]);
        Assert.Equal(7u, f.Sk.Reordering);
    }

    [Fact]
    public void Rto_SegmentSentWithinRackRtt_NotMarkedLost_StaysInFlight()
    {
        using var f = EstablishedSack(s => s.TcpEarlyRetrans = 0);
        uint b = SendSegments(f, 2, 2);
        // Segment 1 is ACKed one RTT later (RACK's RTT: 50 ms); segment 2 gets no answer, and the
        // RTO is armed for 250 ms from this ACK.
        f.Advance(RttMs);
        Ack(f, b + Mss);
        // 10 ms before the RTO fires, segment 3 goes out.
        f.Advance(240);
        Assert.Equal(Mss, f.SendData(new byte[Mss]));
        f.Expect(ACK | PSH, seq: b + 2 * Mss, len: Mss);
        Assert.Equal(10, f.AdvanceUntilSent(100));
        f.Expect(ACK | PSH, seq: b + Mss, len: Mss);
        Assert.Equal(TcpCaState.Loss, f.Sk.CaState);
        // tcp_timeout_mark_lost(): the head is lost, but segment 3 was sent less than RACK's RTT ago,
        // so it stays in flight (RACK judges it later) and cwnd = in flight + 1 counts it.
        Assert.Equal(1u, f.Sk.LostOut);
        Assert.Equal(2u, f.Sk.SndCwnd);
        // Its SACK arrives: RACK marks nothing more, and only the head was ever retransmitted.
        Ack(f, b + Mss, b, 3, 3);
        Assert.Equal(1, f.Net.Mib.Tcp[TcpMib.RetransSegs]);
    }
}
