using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Wire;
using static NetStack.Wire.TcpFlags;

namespace NetStack.Tests.Tcp;

/// <summary>
/// tcp_rcv_established() starts with tcp_mstamp_refresh(): a segment's processing reads the clock
/// once, and everything it stamps (the ACK's rcv_tstamp, the delayed-ACK engine's lrcvtime, the
/// receiver's RTT estimate) carries that one time. The fixture's clock moves on every read, so two
/// reads show up as two different stamps.
/// </summary>
public class TcpMstampTests
{
    [Fact]
    public void Established_DataAckingOurData_StampsOneTimeForTheSegment()
    {
        using var f = TcpFixture.Established();
        Assert.Equal(5, f.SendData("hello"u8));
        f.Expect(ACK | PSH, seq: f.LocalIss + 1, ack: f.RemoteIss + 1, payload: "hello"u8.ToArray());
        f.Clock.AdvanceMs(10);

        f.TickPerClockReadNs = 1_000;
        // The peer's data acknowledges ours: tcp_ack() (rcv_tstamp, the RTT sample) and tcp_event_data_recv() (lrcvtime, rcv_rtt) both run.
        f.Send(ACK | PSH, seq: f.RemoteIss + 1, ack: f.LocalIss + 6, payload: "world"u8.ToArray());
        f.TickPerClockReadNs = 0;

        var tp = f.Sk;
        Assert.Equal(f.LocalIss + 6, tp.SndUna);
        Assert.NotEqual(0, tp.RcvTstamp);
        Assert.Equal(tp.RcvTstamp, tp.IcskAck.Lrcvtime);
        Assert.Equal(tp.RcvTstamp, tp.RcvRttEstTime);
    }
    /// <summary>
    /// A transmit round stamps its segments with the round's one time: TSval comes from the
    /// segment's departure stamp (tcp_skb_timestamp_ts(), the tcp_clock_cache of tcp_write_xmit() or
    /// of the ACK that released them), not from a clock read per segment.
    /// </summary>
    [Fact]
    public void SegmentsReleasedByOneAck_CarryOneTsval()
    {
        var (f, ts) = TcpHeaderPredictionTests.EstablishedTs();
        using var _ = f;
        const int Mss = 1448; // 1460 less the aligned timestamp option
        Assert.Equal(20 * Mss, f.SendData(new byte[20 * Mss]));
        var first = new List<Seg>();
        for (int i = 0; i < 10; i++) first.Add(f.Expect(ACK, len: Mss)); // the initial window
        f.ExpectNothing();
        f.Clock.AdvanceMs(10);

        f.TickPerClockReadNs = Time.NsPerMs; // a second read during the ACK would show as a later TSval
        f.Send(ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 1 + 2 * Mss, ts: new TcpTimestamp(ts, first[1].Timestamp!.Value.TsVal));
        f.TickPerClockReadNs = 0;

        // Slow start: two segments acknowledged, four released, in the one round the ACK ran.
        var released = new List<Seg>();
        for (int i = 0; i < 4; i++) released.Add(f.Expect(ACK, len: Mss));
        uint tsval = released[0].Timestamp!.Value.TsVal;
        Assert.True(tsval > first[^1].Timestamp!.Value.TsVal);
        Assert.All(released, s => Assert.Equal(tsval, s.Timestamp!.Value.TsVal));
    }
}
