using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Wire;
using static NetStack.Wire.TcpFlags;

namespace NetStack.Tests.Tcp;

/// <summary>
/// Header prediction (tcp_rcv_established()'s fast path) on a connection with timestamps, as every
/// Linux peer negotiates them: the expected in-order data segment and the pure ACK that only moves
/// snd_una are taken without the slow path's checks (TCPHPHits, TCPHPAcks); a timestamp PAWS would
/// question, a new window or a SACK block sends the segment down the slow path.
/// </summary>
public class TcpHeaderPredictionTests
{
    private static readonly byte[] Hello = "hello"u8.ToArray();

    /// <summary>Established by an active open with timestamps; returns the peer's next tsval.</summary>
    internal static (TcpFixture F, uint PeerTs) EstablishedTs(Action<Ipv4Sysctl>? configure = null)
    {
        var f = TcpFixture.SynSent(s => { s.TcpTimestamps = true; configure?.Invoke(s); });
        f.Send(SYN | ACK, seq: f.RemoteIss, ack: f.LocalIss + 1, mss: 1460, sackPerm: f.Sysctl.TcpSack, ts: new TcpTimestamp(5000, f.OurSyn!.Timestamp!.Value.TsVal));
        f.Expect(ACK);
        Assert.Equal(TcpHeader.MinLength + TcpOpt.LenTstampAligned, f.Sk.TcpHeaderLen);
        Assert.NotEqual(0u, f.Sk.PredFlags);
        return (f, 5001);
    }

    [Fact]
    public void InOrderData_WithTimestamp_FastPath_TsRecentStored_Echoed()
    {
        var (f, ts) = EstablishedTs();
        using var _ = f;
        // The first segment finds no memory reserved yet (sk_forward_alloc): the slow path's accounting.
        f.Send(ACK | PSH, seq: f.RemoteIss + 1, ack: f.LocalIss + 1, payload: Hello, ts: new TcpTimestamp(ts, 0));
        Assert.Equal(0, f.Net.Mib.TcpExt[LinuxMib.TCPHPHits]);
        f.Advance(200);
        f.Expect(ACK, ack: f.RemoteIss + 1 + (uint)Hello.Length); // rcv_wup = rcv_nxt; the data stays unread, its page reserved
        // The second is predicted: queued on the fast path, its timestamp stored (rcv_nxt == rcv_wup).
        f.Send(ACK | PSH, seq: f.RemoteIss + 1 + (uint)Hello.Length, ack: f.LocalIss + 1, payload: Hello, ts: new TcpTimestamp(ts + 7, 0));
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.TCPHPHits]);
        Assert.Equal(ts + 7, f.Sk.RxOpt.TsRecent);
        var buf = new byte[16];
        Assert.Equal(2 * Hello.Length, f.Recv(buf));
        Assert.Equal(Hello, buf[Hello.Length..(2 * Hello.Length)]);
        f.Advance(200); // the delayed ACK echoes the stored timestamp
        var ack = f.Expect(ACK, ack: f.RemoteIss + 1 + 2 * (uint)Hello.Length);
        Assert.Equal(ts + 7, ack.Timestamp!.Value.TsEcr);
    }

    [Fact]
    public void OldTimestamp_LeavesFastPath_DroppedAsPawsFailure()
    {
        var (f, _) = EstablishedTs();
        using var __ = f;
        f.Send(ACK | PSH, seq: f.RemoteIss + 1, ack: f.LocalIss + 1, payload: Hello, ts: new TcpTimestamp(4000, 0));
        f.Expect(ACK, ack: f.RemoteIss + 1); // the slow path's duplicate ACK
        Assert.Equal(0, f.Net.Mib.TcpExt[LinuxMib.TCPHPHits]);
        Assert.Equal(5000u, f.Sk.RxOpt.TsRecent);
        Assert.Equal(-Errno.EAGAIN, f.Recv(new byte[8]));
    }

    [Fact]
    public void PureAckAdvancingSndUna_FastPath_CountsHpAck_DuplicateTakesSlowPath()
    {
        var (f, ts) = EstablishedTs();
        using var _ = f;
        Assert.Equal(Hello.Length, f.SendData(Hello));
        var data = f.Expect(ACK | PSH, len: Hello.Length);
        uint tsecr = data.Timestamp!.Value.TsVal;
        uint srtt8 = f.Sk.SrttUs;
        f.Advance(10);
        f.Send(ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 1 + (uint)Hello.Length, ts: new TcpTimestamp(ts, tsecr));
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.TCPHPAcks]);
        Assert.Equal(0, f.Net.Mib.TcpExt[LinuxMib.TCPPureAcks]);
        Assert.Equal(f.LocalIss + 1 + (uint)Hello.Length, f.Sk.SndUna);
        Assert.Equal(0u, f.Sk.PacketsOut);
        Assert.Equal(ts, f.Sk.RxOpt.TsRecent);
        // An RTT sample of 10 ms went into the estimator (tcp_rtt_estimator(): srtt += m - srtt/8), as on the slow path.
        Assert.Equal(srtt8 + 10_000 - (srtt8 >> 3), f.Sk.SrttUs);
        // The same ACK again moves nothing: tcp_ack()'s slow branch counts it a pure ACK.
        f.Send(ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 1 + (uint)Hello.Length, ts: new TcpTimestamp(ts + 1, tsecr));
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.TCPHPAcks]);
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.TCPPureAcks]);
        f.ExpectNothing();
    }

    [Fact]
    public void AckWithNewWindow_TakesSlowPath_WindowUpdated()
    {
        var (f, ts) = EstablishedTs();
        using var _ = f;
        Assert.Equal(Hello.Length, f.SendData(Hello));
        var data = f.Expect(ACK | PSH, len: Hello.Length);
        uint wnd = f.Sk.SndWnd;
        f.Send(ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 1 + (uint)Hello.Length, window: (ushort)(wnd / 2),
            ts: new TcpTimestamp(ts, data.Timestamp!.Value.TsVal));
        Assert.Equal(0, f.Net.Mib.TcpExt[LinuxMib.TCPHPAcks]);
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.TCPPureAcks]);
        Assert.Equal(wnd / 2, f.Sk.SndWnd);
        Assert.Equal(f.LocalIss + 1 + (uint)Hello.Length, f.Sk.SndUna);
    }

    [Fact]
    public void AckWithSackBlock_TakesSlowPath_SackTagged()
    {
        var (f, ts) = EstablishedTs(s => s.TcpSack = true);
        using var _ = f;
        var payload = new byte[3000];
        Assert.Equal(payload.Length, f.SendData(payload));
        var first = f.Expect(ACK, len: 1448); // MSS 1460 less the timestamp option
        f.Expect(ACK, len: 1448);
        f.Expect(ACK | PSH, len: 104);
        var sack = new TcpSackBlocks();
        sack.Add(new SackBlock(f.LocalIss + 1 + 1448, f.LocalIss + 1 + 2896));
        f.Send(ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 1, sack: sack, ts: new TcpTimestamp(ts, first.Timestamp!.Value.TsVal));
        Assert.Equal(0, f.Net.Mib.TcpExt[LinuxMib.TCPHPAcks]);
        Assert.Equal(1u, f.Sk.SackedOut);
    }
}
