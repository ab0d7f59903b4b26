using NetStack.Core;
using NetStack.Net;
using static NetStack.Wire.TcpFlags;

namespace NetStack.Tests.Tcp;

/// <summary>
/// The ACK of a FIN that ends a connection which carried no data: tcp_fin() schedules it and
/// enters ping-pong mode, __tcp_ack_snd_check() delays it, and tcp_send_delayed_ack() with ato 0
/// (tcp_event_data_recv() never ran, so nothing set ato) arms the delayed-ACK timer for
/// "jiffies + 0": it runs at the next tick, not at once. An application that closes before then
/// sends one FIN-ACK (a connect-and-close client sees 6 frames, not 7), as from a Linux server.
/// </summary>
public class TcpFinDelayedAckTests
{
    [Fact]
    public void PassiveNoData_PeerFin_NotAckedAtOnce_CloseSendsOneFinAck()
    {
        using var f = TcpFixture.EstablishedPassive();
        f.Send(FIN | ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 1);
        f.ExpectNothing(); // the ACK waits for the next tick
        Assert.Equal(0, f.Recv(new byte[4])); // end of stream: nothing copied, no ACK (tcp_cleanup_rbuf with copied 0)
        f.ExpectNothing();
        f.Close();
        var sk = f.Sk;
        f.Expect(FIN | ACK, seq: f.LocalIss + 1, ack: f.RemoteIss + 2);
        f.Advance(2); // past the tick the delayed ACK was due at
        f.ExpectNothing(); // the delayed ACK went with the FIN: no bare ACK at the tick
        f.Send(ACK, seq: f.RemoteIss + 2, ack: f.LocalIss + 2);
        f.ExpectNothing();
        Assert.Equal(TcpState.Close, sk.State);
    }

    [Fact]
    public void PassiveNoData_PeerFin_AckedAtTheNextTick_WhenTheApplicationWaits()
    {
        using var f = TcpFixture.EstablishedPassive();
        f.Send(FIN | ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 1);
        f.ExpectNothing();
        long waitedMs = f.AdvanceUntilSent(1_000);
        Assert.True(waitedMs <= Time.TickNs / Time.NsPerMs, $"the ACK came after {waitedMs} ms, not at the next tick");
        f.Expect(ACK, seq: f.LocalIss + 1, ack: f.RemoteIss + 2);
        Assert.Equal(TcpState.CloseWait, f.State);
    }

    [Fact]
    public void NextTick_IsAfterNow_AndOnATickBoundary()
    {
        foreach (long now in new[] { 0L, 1L, Time.TickNs - 1, Time.TickNs, 5 * Time.TickNs + 123 })
        {
            long t = Time.NextTick(now);
            Assert.True(t > now && t - now <= Time.TickNs);
            Assert.Equal(0, t % Time.TickNs);
        }
    }
}
