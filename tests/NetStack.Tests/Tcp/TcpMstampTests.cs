using NetStack.Ipv4;
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
}
