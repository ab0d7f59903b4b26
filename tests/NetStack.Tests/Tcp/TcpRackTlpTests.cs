using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Wire;
using static NetStack.Wire.TcpFlags;
using static NetStack.Tests.Tcp.SackScript;

namespace NetStack.Tests.Tcp;

/// <summary>
/// RACK-TLP loss recovery (RFC 8985, net/ipv4/tcp_recovery.c and the TLP of tcp_output.c) with the
/// packet DSL in virtual time: a connection with SACK, MSS 1000 and a 50 ms handshake RTT
/// (srtt 50 ms, min_rtt 50 ms, RTO 250 ms, RACK reordering window min_rtt/4 = 12.5 ms).
/// </summary>
public class TcpRackTlpTests
{
    private const int RttMs = 50;

    private static TcpFixture EstablishedSack(Action<Ipv4Sysctl>? configure = null)
    {
        var f = TcpFixture.SynSent(s => { s.TcpSack = true; configure?.Invoke(s); });
        f.Advance(RttMs);
        f.Send(SYN | ACK, seq: f.RemoteIss, ack: f.LocalIss + 1, mss: Mss, sackPerm: true);
        f.Expect(ACK);
        Assert.Equal(250_000_000L, f.Sk.IcskRto);
        return f;
    }

    [Fact]
    public void TailLoss_RepairedByLossProbeAfterTwoSrtt_NotByRto()
    {
        using var f = EstablishedSack();
        uint b = SendSegments(f, 5, 5);
        // Segments 4 and 5 are lost; the ACK of 1..3 comes one RTT later.
        f.Advance(RttMs);
        Ack(f, b + 3 * Mss);
        f.ExpectNothing();
        // PTO = 2*SRTT + TCP_TIMEOUT_MIN (two segments in flight) = 102 ms, well before the 250 ms RTO:
        // the probe retransmits the last segment.
        Assert.Equal(102, f.AdvanceUntilSent(1000));
        f.Expect(ACK | PSH, seq: b + 4 * Mss, len: Mss);
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.TCPLossProbes]);
        Assert.Equal(b + 5 * Mss, f.Sk.TlpHighSeq);
        // The probe is SACKed one RTT later: RACK sees segment 4, sent long before, as lost and
        // fast recovery retransmits it at once.
        f.Advance(RttMs);
        Ack(f, b + 3 * Mss, b, 5, 5);
        f.Expect(ACK, seq: b + 3 * Mss, len: Mss);
        Assert.Equal(TcpCaState.Recovery, f.Sk.CaState);
        f.Advance(RttMs);
        Ack(f, b + 5 * Mss);
        f.Advance(2000);
        f.ExpectNothing();
        Assert.Equal(0, f.Net.Mib.TcpExt[LinuxMib.TCPTimeouts]);
        Assert.Equal(b + 5 * Mss, f.Sk.SndUna);
    }

    [Fact]
    public void TailLoss_ProbeRepairsSingleLoss_CountsLossProbeRecovery()
    {
        using var f = EstablishedSack();
        uint b = SendSegments(f, 5, 5);
        f.Advance(RttMs);
        Ack(f, b + 3 * Mss);
        // Only segment 5 was lost (segment 4 arrived, its ACK was lost): the probe (segment 5 again)
        // repairs it. New data follows; the ACK beyond tlp_high_seq shows the probe repaired a loss
        // (RFC 8985 7.4.2): cwnd is reduced once (CWR) and TCPLossProbeRecovery counted.
        Assert.Equal(102, f.AdvanceUntilSent(1000));
        f.Expect(ACK | PSH, seq: b + 4 * Mss);
        Assert.Equal(3, SendSegmentsAfterProbe(f)); // segments 4, 5 and the new 6 in flight
        f.Advance(RttMs);
        Ack(f, b + 6 * Mss);
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.TCPLossProbeRecovery]);
        Assert.Equal(0u, f.Sk.TlpHighSeq);
        Assert.Equal(TcpCaState.Open, f.Sk.CaState);
        Assert.Equal(0, f.Net.Mib.TcpExt[LinuxMib.TCPTimeouts]);
    }

    /// <summary>New data written after the probe: one more segment goes out; returns the segment count of the queue so far.</summary>
    private static int SendSegmentsAfterProbe(TcpFixture f)
    {
        uint nxt = f.Sk.SndNxt;
        Assert.Equal(Mss, f.SendData(new byte[Mss]));
        f.Expect(ACK | PSH, seq: nxt, len: Mss);
        return (int)((f.Sk.SndNxt - f.Sk.SndUna) / Mss);
    }

    [Fact]
    public void LostRetransmission_DetectedByRack_RetransmittedAgainWithoutRto()
    {
        using var f = EstablishedSack();
        // 12 segments: 10 go out (initial cwnd), 2 wait.
        uint b = SendSegments(f, 12, 10);
        // Segment 2 is lost. One RTT later: ACK of 1, then SACKs of 3..10.
        f.Advance(RttMs);
        Ack(f, b + Mss);
        var sent = new List<Seg>();
        for (int k = 3; k <= 10; k++)
        {
            Ack(f, b + Mss, b, 3, k);
            sent.AddRange(Drain(f));
        }
        // The hole was retransmitted once (when three segments were SACKed), and the waiting new
        // segments 11 and 12 went out after it.
        Assert.Single(sent, s => s.Seq == b + Mss);
        Assert.Contains(sent, s => s.Seq == b + 10 * Mss);
        Assert.Contains(sent, s => s.Seq == b + 11 * Mss);
        Assert.Equal(TcpCaState.Recovery, f.Sk.CaState);
        // The retransmission is lost too. One RTT later segment 11, sent after it, is SACKed:
        // RACK marks the retransmission lost (TCPLostRetransmit) and sends it again, long before
        // the RTO (250 ms).
        f.Advance(RttMs);
        Ack(f, b + Mss, b, 3, 11);
        var again = Drain(f);
        Assert.Contains(again, s => s.Seq == b + Mss && s.Payload.Length == Mss);
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.TCPLostRetransmit]);
        f.Advance(RttMs);
        Ack(f, b + 12 * Mss);
        Drain(f);
        Assert.Equal(0, f.Net.Mib.TcpExt[LinuxMib.TCPTimeouts]);
    }

    [Fact]
    public void LostSegmentBelowFreedHint_RetransmittedFirst_NotSkippedUntilRto()
    {
        using var f = EstablishedSack();
        uint b = SendSegments(f, 4, 4);
        var sk = f.Sk;
        var first = sk.RtxQueue.First!;
        var third = first.Next!.Next!;
        // Segment 1 is marked lost while the hint points at a segment that a cumulative ACK then
        // frees (tcp_clean_rtx_queue clears the hint): the hint is gone, segment 1 still waits.
        TcpInput.TcpMarkSkbLost(sk, first);
        sk.RetransmitSkbHint = null;
        // Segment 3 is marked lost next. With a lost segment not yet retransmitted, no hint is
        // set (tcp_verify_retransmit_hint): the walk starts at the head and sends 1, then 3.
        TcpInput.TcpMarkSkbLost(sk, third);
        Assert.Null(sk.RetransmitSkbHint);
        TcpOutput.TcpXmitRetransmitQueue(sk);
        var sent = Drain(f);
        Assert.Equal([b, b + 2 * Mss], sent.Select(s => s.Seq).ToArray());
        Assert.Equal(2u, sk.RetransOut);
        Assert.Equal(2u, sk.LostOut);
    }

    [Fact]
    public void ReorderingWithinWindow_NoSpuriousRetransmission()
    {
        using var f = EstablishedSack();
        uint b = SendSegments(f, 4, 4);
        // Segment 1 is delayed: the peer SACKs 2 after one RTT; RACK waits min_rtt/4 (12.5 ms).
        f.Advance(RttMs);
        Ack(f, b, b, 2, 2);
        f.ExpectNothing();
        Assert.Equal(InetConnectionSock.IcskTimeReoTimeout, f.Sk.IcskPending);
        // Segment 1 arrives 5 ms later: a hole filled without a retransmission is reordering.
        f.Advance(5);
        Ack(f, b + 2 * Mss);
        f.Advance(30);
        f.ExpectNothing();
        Assert.Equal(0, f.Net.Mib.Tcp[TcpMib.RetransSegs]);
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.TCPSACKReorder]);
        Assert.Equal(1u, f.Sk.ReordSeen);
        Assert.Equal(0u, f.Sk.LostOut);
        Ack(f, b + 4 * Mss);
        f.Advance(2000);
        f.ExpectNothing();
    }

    /// <summary>Four segments out, the second lost, the third SACKed, the fourth's ACK lost: the REO timer starts fast recovery and resends the second. Returns the first segment's sequence.</summary>
    private static uint RecoveryByReoTimer(TcpFixture f)
    {
        uint b = SendSegments(f, 4, 4);
        f.Advance(RttMs);
        Ack(f, b + Mss, b, 3, 3);
        f.ExpectNothing();
        Assert.Equal(InetConnectionSock.IcskTimeReoTimeout, f.Sk.IcskPending);
        // The REO timer: RACK RTT 50 ms + reordering window 12.5 ms since segment 2 was sent,
        // i.e. 12.5 ms + TCP_TIMEOUT_MIN (2 ms) from now.
        Assert.Equal(14, f.AdvanceUntilSent(1000));
        f.Expect(ACK, seq: b + Mss, len: Mss);
        Assert.Equal(TcpCaState.Recovery, f.Sk.CaState);
        return b;
    }

    [Fact]
    public void ReoTimer_FiresForTheLastSegments_RetransmitsTheHole()
    {
        using var f = EstablishedSack();
        uint b = RecoveryByReoTimer(f);
        Assert.Equal(InetConnectionSock.IcskTimeRetrans, f.Sk.IcskPending);
        f.Advance(RttMs);
        Ack(f, b + 4 * Mss);
        f.Advance(2000);
        f.ExpectNothing();
        Assert.Equal(0, f.Net.Mib.TcpExt[LinuxMib.TCPTimeouts]);
    }

    [Fact]
    public void SysctlsOff_TailLossWaitsForRto_FirstSackDoesNothing()
    {
        using var f = EstablishedSack(s => { s.TcpRecovery = 0; s.TcpEarlyRetrans = 0; });
        uint b = SendSegments(f, 5, 5);
        f.Advance(RttMs);
        Ack(f, b + Mss, b, 3, 3);
        f.ExpectNothing();
        Assert.Equal(InetConnectionSock.IcskTimeRetrans, f.Sk.IcskPending);
        // No REO timer, no probe: the RTO (250 ms after the ACK) resends the head.
        Assert.Equal(250, f.AdvanceUntilSent(1000));
        f.Expect(ACK, seq: b + Mss, len: Mss);
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.TCPTimeouts]);
        Assert.Equal(0, f.Net.Mib.TcpExt[LinuxMib.TCPLossProbes]);
        // A SACK was in, no recovery yet: tcp_retransmit_timer counts a SACK failure.
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.TCPSackFailures]);
        Assert.Equal(0, f.Net.Mib.TcpExt[LinuxMib.TCPSackRecoveryFail]);
    }

    [Fact]
    public void RtoInFastRecovery_CountsSackRecoveryFail_OncePerEpisode()
    {
        using var f = EstablishedSack();
        uint b = RecoveryByReoTimer(f);
        // Nothing more comes back: the RTO ends the recovery, and its backed-off successor is the
        // same episode (icsk_retransmits > 0), counted as a timeout only.
        f.AdvanceUntilSent(2000);
        f.Expect(ACK, seq: b + Mss, len: Mss);
        Assert.Equal(TcpCaState.Loss, f.Sk.CaState);
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.TCPSackRecoveryFail]);
        f.AdvanceUntilSent(4000);
        Assert.Equal(2, f.Net.Mib.TcpExt[LinuxMib.TCPTimeouts]);
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.TCPSackRecoveryFail]);
        Assert.Equal(0, f.Net.Mib.TcpExt[LinuxMib.TCPLossFailures]);
        Assert.Equal(0, f.Net.Mib.TcpExt[LinuxMib.TCPSackFailures]);
    }

    [Fact]
    public void DsackAfterReordering_WidensReorderingWindowByOneStep()
    {
        using var f = EstablishedSack();
        uint b = SendSegments(f, 4, 4);
        // Reordering is seen first: segment 1 arrives after segment 2 was SACKed.
        f.Advance(RttMs);
        Ack(f, b, b, 2, 2);
        f.Advance(5);
        Ack(f, b + 4 * Mss);
        Assert.Equal(1u, f.Sk.ReordSeen);
        Assert.Equal(12_500u, TcpRecovery.TcpRackReoWnd(f.Sk)); // min_rtt/4, also with dupthresh SACKs now
        // Four more segments; 6..8 are SACKed, segment 5 is late: the REO timer retransmits it.
        uint c = SendSegments(f, 4, 4);
        f.Advance(RttMs);
        Ack(f, c, c, 2, 4);
        f.ExpectNothing();
        f.AdvanceUntilSent(100);
        f.Expect(ACK, seq: c, len: Mss);
        // The original arrives after all, then the retransmission: the peer reports it with a D-SACK.
        Ack(f, c + 4 * Mss);
        var dsack = new TcpSackBlocks();
        dsack.Add(new SackBlock(c, c + Mss));
        f.Send(ACK, seq: f.RemoteIss + 1, ack: c + 4 * Mss, sack: dsack);
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.TCPDSACKRecv]);
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.TCPDSACKRecvSegs]);
        Assert.True(f.Sk.Rack.DsackSeen);
        Assert.Equal(0, f.Sk.UndoRetrans); // the only retransmission of the episode was spurious
        // The next delivery of data sent after the adjustment point widens the window: two steps.
        SendSegments(f, 1, 1);
        f.Advance(RttMs);
        Ack(f, f.Sk.SndNxt);
        Assert.Equal(2, f.Sk.Rack.ReoWndSteps);
        Assert.Equal(TcpRecovery.TcpRackRecoveryThresh, f.Sk.Rack.ReoWndPersist);
        Assert.Equal(25_000u, TcpRecovery.TcpRackReoWnd(f.Sk));
    }

    [Fact]
    public void SpuriousFastRecovery_UndoneByDsack_CwndRestored()
    {
        using var f = EstablishedSack();
        uint b = SendSegments(f, 6, 6);
        uint cwnd0 = f.Sk.SndCwnd;
        // Segment 1 is late: 2..4 SACKed (dupthresh, no reordering seen yet) -> recovery, retransmission.
        f.Advance(RttMs);
        Ack(f, b, b, 2, 2);
        Ack(f, b, b, 2, 3);
        Ack(f, b, b, 2, 4);
        f.Expect(ACK, seq: b, len: Mss);
        Assert.Equal(TcpCaState.Recovery, f.Sk.CaState);
        Assert.True(f.Sk.SndCwnd < cwnd0);
        // The original arrives (ACK of 1..4), then the retransmission: a D-SACK shows the recovery was spurious.
        Ack(f, b + 4 * Mss);
        var dsack = new TcpSackBlocks();
        dsack.Add(new SackBlock(b, b + Mss));
        f.Send(ACK, seq: f.RemoteIss + 1, ack: b + 4 * Mss, sack: dsack);
        Drain(f);
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.TCPDSACKUndo]);
        Assert.True(f.Sk.SndCwnd >= cwnd0, $"cwnd {f.Sk.SndCwnd} restored to at least {cwnd0}");
        Assert.NotEqual(TcpCaState.Recovery, f.Sk.CaState);
    }

    [Fact]
    public void Recovery_DsackOfDuplicate_CountsDeliveredAndClocksOutNewData()
    {
        using var f = EstablishedSack();
        uint b = SendSegments(f, 6, 6);
        // Segment 1 is lost: 2..4 SACKed -> recovery; PRR lets the retransmission out and holds
        // cwnd at what is in flight (3).
        f.Advance(RttMs);
        Ack(f, b, b, 2, 2);
        Ack(f, b, b, 2, 3);
        Ack(f, b, b, 2, 4);
        f.Expect(ACK, seq: b, len: Mss);
        Assert.Equal(TcpCaState.Recovery, f.Sk.CaState);
        Assert.Equal(4 * Mss, f.SendData(new byte[4 * Mss]));
        f.ExpectNothing();
        uint delivered = f.Sk.Delivered;
        // The network duplicated segment 2: the peer reports it with a D-SACK inside its SACK block
        // (RFC 2883). Linux counts the duplicate delivered (tcp_dsack_seen()'s sack_delivered), so
        // PRR sees one segment leave the network and sends one: the ACK clock keeps running.
        var sack = new TcpSackBlocks();
        sack.Add(new SackBlock(b + Mss, b + 2 * Mss));
        sack.Add(new SackBlock(b + Mss, b + 4 * Mss));
        f.Send(ACK, seq: f.RemoteIss + 1, ack: b, sack: sack);
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.TCPDSACKOfoRecv]);
        Assert.Equal(delivered + 1, f.Sk.Delivered);
        f.Expect(ACK, seq: b + 6 * Mss, len: Mss);
        f.ExpectNothing();
    }

    [Fact]
    public void Recovery_TwoLostSegmentsRetransmitted_TCPFastRetransCountsEach()
    {
        using var f = EstablishedSack();
        uint b = SendSegments(f, 8, 8);
        // Segments 1 and 2 are lost; one ACK SACKs 3..5: both are marked lost and PRR lets both out.
        f.Advance(RttMs);
        Ack(f, b, b, 3, 5);
        f.Expect(ACK, seq: b, len: Mss);
        f.Expect(ACK, seq: b + Mss, len: Mss);
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.TCPSackRecovery]);
        // tcp_xmit_retransmit_queue() counts every segment it retransmits, not the episode.
        Assert.Equal(2, f.Net.Mib.TcpExt[LinuxMib.TCPFastRetrans]);
        Assert.Equal(0, f.Net.Mib.TcpExt[LinuxMib.TCPSlowStartRetrans]);
    }
}
