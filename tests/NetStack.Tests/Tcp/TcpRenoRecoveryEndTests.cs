using NetStack.Core;
using NetStack.Ipv4;
using static NetStack.Wire.TcpFlags;

namespace NetStack.Tests.Tcp;

/// <summary>
/// The end of a NewReno recovery (no SACK, no timestamps). Both cases were found by the
/// loss-recovery experiment: a retransmission timeout during the recovery made sacked_out +
/// lost_out exceed packets_out, so cwnd wrapped to 2^32 - 187 for two and a half seconds; and a
/// recovery that repaired a real loss was undone, as if only reordering had happened, at the first
/// ACK above high_seq.
/// </summary>
public class TcpRenoRecoveryEndTests
{
    private const int Mss = 1000;

    /// <summary>
    /// Ten segments out, the first lost: six ACKs of it follow. The first is a window update (its
    /// sequence number is after the SYN-ACK's, snd_wl1), the next five duplicate ACKs; the third of
    /// those starts NewReno's recovery with the fast retransmission of segment 1. Returns its sequence.
    /// </summary>
    private static uint LoseTheFirstOfTen(TcpFixture f)
    {
        f.Advance(50);
        f.Send(SYN | ACK, seq: f.RemoteIss, ack: f.LocalIss + 1, mss: Mss);
        f.Expect(ACK);
        Assert.False(f.Sk.TcpIsSack);

        uint b = f.Sk.SndNxt;
        Assert.Equal(10 * Mss, f.SendData(new byte[10 * Mss]));
        for (int i = 0; i < 10; i++) f.Expect(i == 9 ? (byte)(ACK | PSH) : ACK, seq: b + (uint)(i * Mss), len: Mss);
        f.ExpectNothing();

        f.Advance(50);
        for (int i = 0; i < 6; i++) f.Send(ACK, seq: f.RemoteIss + 1, ack: b);
        f.Expect(ACK, seq: b, len: Mss);
        f.ExpectNothing();
        Assert.Equal(TcpCaState.Recovery, f.Sk.CaState);
        Assert.Equal(5u, f.Sk.SackedOut);
        Assert.Equal(10u, f.Sk.PacketsOut);
        Assert.Equal(1u, f.Sk.RetransOut);
        Assert.Equal(7u, f.Sk.SndSsthresh); // CUBIC, the default: 0.7 of the cwnd of 10
        return b;
    }

    /// <summary>Our SYN offers SACK and timestamps; the peer declines both.</summary>
    private static TcpFixture NoSackPeer() => TcpFixture.SynSent(s => { s.TcpSack = true; s.TcpTimestamps = true; });

    [Fact]
    public void RealLossRepaired_TheAckAboveHighSeqDoesNotUndo()
    {
        using var f = NoSackPeer();
        uint b = LoseTheFirstOfTen(f);

        // The retransmission arrives: everything is ACKed, snd_una == high_seq. NewReno holds the
        // Recovery state until an ACK goes above high_seq (RFC 6582) and clears retrans_stamp.
        f.Advance(50);
        f.Send(ACK, seq: f.RemoteIss + 1, ack: b + 10 * Mss);
        Assert.Equal(TcpCaState.Recovery, f.Sk.CaState);
        Assert.Equal(0L, f.Sk.RetransStamp);
        Assert.Equal(2 * Mss, f.SendData(new byte[2 * Mss]));
        f.Expect(ACK, seq: b + 10 * Mss, len: Mss);
        f.Expect(ACK | PSH, seq: b + 11 * Mss, len: Mss);

        // Their ACK ends the recovery. The retransmission was needed (no D-SACK, no timestamp says
        // otherwise): the reduction stays, and the zero retrans_stamp is no sign that nothing was
        // retransmitted.
        f.Advance(50);
        f.Send(ACK, seq: f.RemoteIss + 1, ack: b + 12 * Mss);
        Assert.Equal(TcpCaState.Open, f.Sk.CaState);
        Assert.Equal(0, f.Net.Mib.TcpExt[LinuxMib.TCPFullUndo]);
        Assert.Equal(7u, f.Sk.SndSsthresh);
        Assert.Equal(7u, f.Sk.SndCwnd);
    }

    /// <summary>
    /// tcp_timeout_mark_lost() forgets the duplicate ACKs counted in sacked_out before it marks
    /// every segment lost, so cwnd restarts at one segment.
    /// </summary>
    [Fact]
    public void RtoInNewRenoRecovery_ForgetsTheDuplicateAcks_CwndRestartsAtOne()
    {
        using var f = NoSackPeer();
        uint b = LoseTheFirstOfTen(f);

        // The retransmission is lost too: the RTO retransmits segment 1 again, every segment counts
        // as lost, none as delivered, and cwnd is what is in flight plus one: the retransmission's slot.
        f.AdvanceUntilSent(2000);
        f.Expect(ACK, seq: b, len: Mss);
        f.ExpectNothing();
        Assert.Equal(TcpCaState.Loss, f.Sk.CaState);
        Assert.Equal(0u, f.Sk.SackedOut);
        Assert.Equal(10u, f.Sk.LostOut);
        Assert.Equal(1u, f.Sk.RetransOut);
        Assert.Equal(1u, f.Sk.SndCwnd);
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.TCPTimeouts]);
    }
}
