using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;
using static NetStack.Wire.TcpFlags;

namespace NetStack.Tests.Tcp;

/// <summary>
/// RFC 9293's state diagram, transition by transition, and the "segment arrives" steps in each
/// state, as Linux answers them. Each test scripts the peer's segments and checks what the stack
/// sends back, with virtual time.
/// </summary>
public class TcpStateMachineTests
{
    private static readonly byte[] Hello = "hello"u8.ToArray();

    // ================================================================== CLOSED / LISTEN

    [Fact]
    public void Closed_Listen_EntersListen_SendsNothing()
    {
        using var f = TcpFixture.Listening();
        Assert.Equal(TcpState.Listen, f.State);
        f.ExpectNothing();
    }

    [Fact]
    public void ClosedPort_Syn_SendsRstAck()
    {
        using var f = new TcpFixture();
        f.Send(SYN, seq: 5000);
        var rst = f.Expect(RST | ACK, seq: 0, ack: 5001);
        // tcp_v4_send_reset() sends a bare header: no options (no window scale, no MSS).
        Assert.Equal((-1, (ushort)0, false, (TcpTimestamp?)null), (rst.WindowScale, rst.Mss, rst.SackPermitted, rst.Timestamp));
        Assert.Equal(1, f.Net.Mib.Tcp[TcpMib.OutRsts]);
        Assert.Equal(1, f.Net.Mib.Drops[SkbDropReason.TcpNoSocket]);
    }

    [Fact]
    public void ClosedPort_DataWithAck_RstSeqIsTheirAck()
    {
        using var f = new TcpFixture();
        f.Send(ACK | PSH, seq: 5000, ack: 777, payload: Hello);
        var rst = f.Expect(RST, seq: 777);
        Assert.Equal(0u, rst.Ack);
    }

    [Fact]
    public void ClosedPort_DataWithoutAck_RstAcksTheData()
    {
        using var f = new TcpFixture();
        f.Send(PSH | FIN, seq: 5000, payload: Hello);
        f.Expect(RST | ACK, seq: 0, ack: 5000 + 5 + 1);
    }

    [Fact]
    public void ClosedPort_Rst_NotAnswered()
    {
        using var f = new TcpFixture();
        f.Send(RST, seq: 5000);
        f.ExpectNothing();
    }

    [Fact]
    public void BadChecksum_DroppedSilently_Counted()
    {
        using var f = TcpFixture.Listening();
        f.Send(SYN, seq: f.RemoteIss, badChecksum: true);
        f.ExpectNothing();
        Assert.Equal(1, f.Net.Mib.Tcp[TcpMib.InCsumErrors]);
        Assert.Equal(1, f.Net.Mib.Tcp[TcpMib.InErrs]);
    }

    [Fact]
    public void Listen_Syn_SendsSynAckWithOurMss_RequestInSynRecv()
    {
        using var f = TcpFixture.Listening();
        f.Send(SYN, seq: f.RemoteIss, mss: 1460);
        var synAck = f.Expect(SYN | ACK, ack: f.RemoteIss + 1);
        Assert.Equal(1460, synAck.Mss);
        Assert.Equal(-1, synAck.WindowScale); // window scaling off in this fixture
        Assert.Equal(TcpState.Listen, f.State);
        var req = Assert.Single(f.Net.Ipv4.TcpHashinfo.Ehash.Values);
        Assert.Equal(TcpState.NewSynRecv, Assert.IsType<TcpRequestSock>(req).State);
        Assert.Equal(-Errno.EAGAIN, SocketCalls.Accept4(f.Files, f.ListenFd, out _, 0));
    }

    [Fact]
    public void Listen_AckWithoutRequest_SendsRst()
    {
        using var f = TcpFixture.Listening();
        f.Send(ACK, seq: 5, ack: 777);
        f.Expect(RST, seq: 777);
        Assert.Equal(TcpState.Listen, f.State);
    }

    [Fact]
    public void Listen_Rst_Ignored()
    {
        using var f = TcpFixture.Listening();
        f.Send(RST, seq: 5);
        f.ExpectNothing();
    }

    [Fact]
    public void Listen_SynFin_Dropped()
    {
        using var f = TcpFixture.Listening();
        f.Send(SYN | FIN, seq: f.RemoteIss);
        f.ExpectNothing();
        Assert.Empty(f.Net.Ipv4.TcpHashinfo.Ehash);
    }

    [Fact]
    public void Listen_SegmentWithoutFlags_Dropped()
    {
        using var f = TcpFixture.Listening();
        f.Send(0, seq: f.RemoteIss, payload: Hello);
        f.ExpectNothing();
    }

    // ================================================================== SYN_RECEIVED

    [Fact]
    public void SynRecv_Ack_Established_AndAccepted()
    {
        using var f = TcpFixture.EstablishedPassive();
        Assert.Equal(1, f.Net.Mib.Tcp[TcpMib.PassiveOpens]);
        Assert.Equal(1, f.Net.Mib.Tcp[TcpMib.CurrEstab]);
        Assert.Equal(TcpState.Listen, ((TcpSock)f.Files.Lookup(f.ListenFd)!.Sk!).State);
    }

    [Fact]
    public void SynRecv_RetransmittedSyn_ResendsSynAck()
    {
        using var f = TcpFixture.SynReceived();
        f.Send(SYN, seq: f.RemoteIss, mss: 1460);
        f.Expect(SYN | ACK, seq: f.LocalIss, ack: f.RemoteIss + 1);
        Assert.Equal(1, f.Net.Mib.Tcp[TcpMib.RetransSegs]);
    }

    [Fact]
    public void SynRecv_NoAck_SynAckRetransmittedWithBackoff_ThenRequestDropped()
    {
        using var f = TcpFixture.SynReceived();
        // tcp_synack_retries = 5: resent after 1, 2, 4, 8, 16 s; dropped after 32 s more.
        foreach (long gap in new long[] { 1000, 2000, 4000, 8000, 16000 })
        {
            Assert.Equal(gap, f.AdvanceUntilSent(100_000));
            f.Expect(SYN | ACK, seq: f.LocalIss, ack: f.RemoteIss + 1);
        }
        f.Advance(31_999);
        Assert.Single(f.Net.Ipv4.TcpHashinfo.Ehash);
        f.Advance(1);
        f.ExpectNothing();
        Assert.Empty(f.Net.Ipv4.TcpHashinfo.Ehash);
        // The peer's late ACK now finds only the listener: reset.
        f.Send(ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 1);
        f.Expect(RST, seq: f.LocalIss + 1);
    }

    [Fact]
    public void SynRecv_Rst_DropsRequest_NoReply()
    {
        using var f = TcpFixture.SynReceived();
        f.Send(RST, seq: f.RemoteIss + 1);
        f.ExpectNothing();
        Assert.Empty(f.Net.Ipv4.TcpHashinfo.Ehash);
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.EmbryonicRsts]);
        Assert.Equal(-Errno.EAGAIN, SocketCalls.Accept4(f.Files, f.ListenFd, out _, 0));
    }

    [Fact]
    public void SynRecv_AckWithWrongNumber_SendsRst_RequestKept()
    {
        using var f = TcpFixture.SynReceived();
        f.Send(ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 5);
        f.Expect(RST, seq: f.LocalIss + 5);
        Assert.Single(f.Net.Ipv4.TcpHashinfo.Ehash);
        // The right ACK still completes the handshake.
        f.Send(ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 1);
        Assert.True(SocketCalls.Accept4(f.Files, f.ListenFd, out _, 0) >= 0);
    }

    [Fact]
    public void SynRecv_OutOfWindowSegment_GetsAck()
    {
        using var f = TcpFixture.SynReceived();
        f.Send(ACK, seq: f.RemoteIss + 1 + 200_000, ack: f.LocalIss + 1);
        f.Expect(ACK, seq: f.LocalIss + 1, ack: f.RemoteIss + 1);
        Assert.Equal(-Errno.EAGAIN, SocketCalls.Accept4(f.Files, f.ListenFd, out _, 0));
    }

    [Fact]
    public void SynRecv_SynInWindow_ResetsRequest()
    {
        using var f = TcpFixture.SynReceived();
        f.Send(SYN | ACK, seq: f.RemoteIss + 10, ack: f.LocalIss + 1);
        f.Expect(RST, seq: f.LocalIss + 1);
        Assert.Empty(f.Net.Ipv4.TcpHashinfo.Ehash);
        Assert.Equal(1, f.Net.Mib.Tcp[TcpMib.AttemptFails]);
    }

    [Fact]
    public void SynRecv_AckWithData_EstablishedWithDataReadable()
    {
        using var f = TcpFixture.SynReceived();
        f.Send(ACK | PSH, seq: f.RemoteIss + 1, ack: f.LocalIss + 1, payload: Hello);
        f.Expect(ACK, seq: f.LocalIss + 1, ack: f.RemoteIss + 6);
        f.Fd = SocketCalls.Accept4(f.Files, f.ListenFd, out _, SOCK_NONBLOCK);
        Assert.True(f.Fd >= 0);
        var buf = new byte[10];
        Assert.Equal(5, f.Recv(buf));
        Assert.Equal(Hello, buf[..5]);
    }

    [Fact]
    public void SynRecv_AcceptQueueFull_FinalAckDropped_SynAckRetriedLater()
    {
        using var f = TcpFixture.Listening(backlog: 1);
        ushort p1 = 40001, p2 = 40002, p3 = 40003;
        // One connection completes and waits in the accept queue.
        f.Send(SYN, seq: 100, srcPort: p1);
        uint iss1 = f.Expect(SYN | ACK).Seq;
        f.Send(ACK, seq: 101, ack: iss1 + 1, srcPort: p1);
        // Two more requests; the first completes (backlog + 1 connections fit, as in Linux).
        f.Send(SYN, seq: 200, srcPort: p2);
        uint iss2 = f.Expect(SYN | ACK).Seq;
        f.Send(SYN, seq: 300, srcPort: p3);
        uint iss3 = f.Expect(SYN | ACK).Seq;
        f.Send(ACK, seq: 201, ack: iss2 + 1, srcPort: p2);
        // The third ACK overflows the accept queue: dropped, counted, no reset.
        f.Send(ACK, seq: 301, ack: iss3 + 1, srcPort: p3);
        f.ExpectNothing();
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.ListenOverflows]);
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.ListenDrops]);
        // Make room; the request's SYN-ACK timer resends, the peer's next ACK gets in.
        Assert.True(SocketCalls.Accept4(f.Files, f.ListenFd, out _, 0) >= 0);
        f.PeerPort = p3;
        f.AdvanceUntilSent(2000);
        f.Expect(SYN | ACK, seq: iss3, ack: 301);
        f.Send(ACK, seq: 301, ack: iss3 + 1, srcPort: p3);
        Assert.True(SocketCalls.Accept4(f.Files, f.ListenFd, out _, 0) >= 0);
        Assert.True(SocketCalls.Accept4(f.Files, f.ListenFd, out var peer, 0) >= 0);
        Assert.Equal(p3, peer.Port);
    }

    [Fact]
    public void Listen_SynWhenAcceptQueueFull_DroppedAndCounted()
    {
        using var f = TcpFixture.Listening(backlog: 0);
        f.Send(SYN, seq: 100, srcPort: 40001);
        uint iss = f.Expect(SYN | ACK).Seq;
        f.Send(ACK, seq: 101, ack: iss + 1, srcPort: 40001);
        f.Send(SYN, seq: 200, srcPort: 40002);
        f.ExpectNothing();
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.ListenOverflows]);
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.ListenDrops]);
    }

    [Fact]
    public void Listen_Close_ResetsUnacceptedConnections()
    {
        using var f = TcpFixture.SynReceived();
        f.Send(ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 1);
        f.ExpectNothing();
        Assert.Equal(0, SocketCalls.Close(f.Files, f.ListenFd));
        f.Expect(RST | ACK, seq: f.LocalIss + 1, ack: f.RemoteIss + 1);
        Assert.Empty(f.Net.Ipv4.TcpHashinfo.Ehash);
        Assert.Equal(0, f.Net.Mib.Tcp[TcpMib.CurrEstab]);
    }

    [Fact]
    public void Listen_Close_PendingRequestsAckGetsRst()
    {
        using var f = TcpFixture.SynReceived();
        Assert.Equal(0, SocketCalls.Close(f.Files, f.ListenFd));
        f.ExpectNothing();
        f.Send(ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 1);
        f.Expect(RST, seq: f.LocalIss + 1);
    }

    // ================================================================== SYN_SENT

    [Fact]
    public void SynSent_SynAck_Established_AcksIt()
    {
        using var f = TcpFixture.Established();
        Assert.Equal(1, f.Net.Mib.Tcp[TcpMib.ActiveOpens]);
        Assert.Equal(0, f.SoError());
        Assert.Equal(POLLOUT | POLLWRNORM, SocketCalls.SockPoll(f.Files, f.Fd) & (POLLOUT | POLLWRNORM | POLLIN));
    }

    [Fact]
    public void SynSent_OurSynCarriesMss()
    {
        using var f = TcpFixture.SynSent();
        var synAgain = f.Sk; // the SYN itself was checked by the fixture; its MSS:
        f.AdvanceUntilSent(2000);
        var syn = f.Expect(SYN, seq: f.LocalIss);
        Assert.Equal(1460, syn.Mss);
        Assert.Equal(TcpState.SynSent, synAgain.State);
    }

    [Fact]
    public void SynSent_SynAckWithWrongAck_SendsRst_StaysSynSent()
    {
        using var f = TcpFixture.SynSent();
        f.Send(SYN | ACK, seq: f.RemoteIss, ack: f.LocalIss + 5);
        f.Expect(RST, seq: f.LocalIss + 5);
        Assert.Equal(TcpState.SynSent, f.State);
    }

    [Fact]
    public void SynSent_AckOfIss_SendsRst()
    {
        using var f = TcpFixture.SynSent();
        f.Send(ACK, seq: f.RemoteIss, ack: f.LocalIss);
        f.Expect(RST, seq: f.LocalIss);
        Assert.Equal(TcpState.SynSent, f.State);
    }

    [Fact]
    public void SynSent_RstAck_Refused()
    {
        using var f = TcpFixture.SynSent();
        f.Send(RST | ACK, seq: 0, ack: f.LocalIss + 1);
        f.ExpectNothing();
        Assert.Equal(TcpState.Close, f.State);
        Assert.Equal(Errno.ECONNREFUSED, f.SoError());
        Assert.Equal(1, f.Net.Mib.Tcp[TcpMib.AttemptFails]);
    }

    [Fact]
    public void SynSent_RstWithoutAck_Ignored()
    {
        using var f = TcpFixture.SynSent();
        f.Send(RST, seq: f.RemoteIss);
        f.ExpectNothing();
        Assert.Equal(TcpState.SynSent, f.State);
    }

    [Fact]
    public void SynSent_RstWithBadAck_Ignored()
    {
        using var f = TcpFixture.SynSent();
        f.Send(RST | ACK, seq: 0, ack: f.LocalIss + 9);
        f.ExpectNothing();
        Assert.Equal(TcpState.SynSent, f.State);
    }

    [Fact]
    public void SynSent_AckWithoutSyn_Dropped()
    {
        using var f = TcpFixture.SynSent();
        f.Send(ACK, seq: f.RemoteIss, ack: f.LocalIss + 1);
        f.ExpectNothing();
        Assert.Equal(TcpState.SynSent, f.State);
    }

    [Fact]
    public void SynSent_Syn_SimultaneousOpen_SynAckThenEstablished()
    {
        using var f = TcpFixture.SynSent();
        f.Send(SYN, seq: f.RemoteIss, mss: 1460);
        f.Expect(SYN | ACK, seq: f.LocalIss, ack: f.RemoteIss + 1);
        Assert.Equal(TcpState.SynRecv, f.State);
        f.Send(SYN | ACK, seq: f.RemoteIss, ack: f.LocalIss + 1);
        Assert.Equal(TcpState.Established, f.State);
        // Their SYN-ACK repeats their SYN: acknowledged at once as a duplicate (as Linux does).
        f.Expect(ACK, seq: f.LocalIss + 1, ack: f.RemoteIss + 1);
        Assert.Equal(0, SocketCalls.Connect(f.Files, f.Fd, SockAddr.In(TcpFixture.RemoteAddr, TcpFixture.LocalPort)));
        Assert.Equal(5, f.SendData(Hello));
        f.Expect(ACK | PSH, seq: f.LocalIss + 1, ack: f.RemoteIss + 1, payload: Hello);
    }

    [Fact]
    public void SynSent_Close_ClosedWithoutSegment()
    {
        using var f = TcpFixture.SynSent();
        var sk = f.Sk;
        f.Close();
        f.ExpectNothing();
        Assert.Equal(TcpState.Close, sk.State);
        Assert.Empty(f.Net.Ipv4.TcpHashinfo.Ehash);
        f.Advance(5000);
        f.ExpectNothing();
    }

    [Fact]
    public void SynSent_SynRetries_ExponentialBackoff_ThenEtimedout()
    {
        using var f = TcpFixture.SynSent();
        // tcp_syn_retries = 6: resent after 1, 2, 4, 8, 16, 32 s; ETIMEDOUT 64 s later (127 s in all).
        foreach (long gap in new long[] { 1000, 2000, 4000, 8000, 16000, 32000 })
        {
            Assert.Equal(gap, f.AdvanceUntilSent(200_000));
            f.Expect(SYN, seq: f.LocalIss);
        }
        f.Advance(63_999);
        Assert.Equal(TcpState.SynSent, f.State);
        f.Advance(1);
        f.ExpectNothing();
        Assert.Equal(TcpState.Close, f.State);
        Assert.Equal(Errno.ETIMEDOUT, f.SoError());
        Assert.Equal(6, f.Net.Mib.TcpExt[LinuxMib.TCPSynRetrans]);
    }

    [Fact]
    public void SynSent_TcpSyncnt_LimitsRetries()
    {
        using var f = TcpFixture.SynSent();
        Assert.Equal(0, SocketCalls.Setsockopt(f.Files, f.Fd, SOL_TCP, TCP_SYNCNT, 2));
        Assert.Equal(1000, f.AdvanceUntilSent(10_000));
        f.Expect(SYN);
        Assert.Equal(2000, f.AdvanceUntilSent(10_000));
        f.Expect(SYN);
        f.Advance(4000);
        Assert.Equal(TcpState.Close, f.State);
        Assert.Equal(Errno.ETIMEDOUT, f.SoError());
    }

    [Fact]
    public void SynSent_PeerMss_LimitsOurSegments()
    {
        using var f = TcpFixture.SynSent();
        f.Send(SYN | ACK, seq: f.RemoteIss, ack: f.LocalIss + 1, mss: 536);
        f.Expect(ACK);
        var data = new byte[1200];
        Assert.Equal(1200, f.SendData(data));
        f.Expect(ACK, seq: f.LocalIss + 1, len: 536);
        f.Expect(ACK, seq: f.LocalIss + 1 + 536, len: 536);
        f.Expect(ACK | PSH, seq: f.LocalIss + 1 + 1072, len: 128);
    }

    [Fact]
    public void Connect_Twice_EalreadyThenEisconn()
    {
        using var f = TcpFixture.SynSent();
        var to = SockAddr.In(TcpFixture.RemoteAddr, TcpFixture.LocalPort);
        Assert.Equal(-Errno.EALREADY, SocketCalls.Connect(f.Files, f.Fd, to));
        f.Send(SYN | ACK, seq: f.RemoteIss, ack: f.LocalIss + 1);
        Assert.Equal(0, SocketCalls.Connect(f.Files, f.Fd, to));
        Assert.Equal(-Errno.EISCONN, SocketCalls.Connect(f.Files, f.Fd, to));
    }

    // ================================================================== ESTABLISHED: data

    [Fact]
    public void Established_FirstData_AckedAtOnce_QuickAck()
    {
        using var f = TcpFixture.Established();
        f.Send(ACK | PSH, seq: f.RemoteIss + 1, ack: f.LocalIss + 1, payload: Hello);
        f.Expect(ACK, seq: f.LocalIss + 1, ack: f.RemoteIss + 6);
        var buf = new byte[16];
        Assert.Equal(5, f.Recv(buf));
    }

    [Fact]
    public void Established_SmallSegmentsAfterQuickAcks_DelayedAck40ms()
    {
        using var f = TcpFixture.Established();
        uint seq = f.RemoteIss + 1;
        var small = new byte[100];
        // The first data starts quick-ACK mode: 16 segments are ACKed at once.
        for (int i = 0; i < 16; i++)
        {
            f.Send(ACK, seq: seq, ack: f.LocalIss + 1, payload: small);
            seq += 100;
            f.Expect(ACK, ack: seq);
        }
        // Then an ACK waits for the delayed-ACK timer (TCP_ATO_MIN = 40 ms) ...
        f.Send(ACK, seq: seq, ack: f.LocalIss + 1, payload: small);
        seq += 100;
        f.ExpectNothing();
        Assert.Equal(40, f.AdvanceUntilSent(1000));
        f.Expect(ACK, ack: seq);
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.DelayedACKs]);
        // ... unless two segments of the peer's size (learned: 100 bytes) are unacknowledged and the
        // window's right edge can advance: the application drains the queue first, since each small
        // segment costs a whole buffer (truesize) and the free space shrank below the window offered.
        Assert.Equal(1700, f.Recv(new byte[4096]));
        f.ExpectNothing();
        f.Send(ACK, seq: seq, ack: f.LocalIss + 1, payload: small);
        f.ExpectNothing();
        f.Send(ACK, seq: seq + 100, ack: f.LocalIss + 1, payload: small);
        f.Expect(ACK, ack: seq + 200);
    }

    [Fact]
    public void Established_FullSegments_AckedAtOnceWhileTheWindowGrows_ThenByTheDelayedAck()
    {
        using var f = TcpFixture.Established();
        uint seq = f.RemoteIss + 1;
        for (int i = 0; i < 16; i++)
        {
            f.Send(ACK, seq: seq, ack: f.LocalIss + 1, payload: new byte[100]);
            seq += 100;
            f.Expect(ACK, ack: seq);
        }
        var full = new byte[1460];
        // Full segments let the window grow (their len/truesize ratio beats the default): each is
        // announced at once (tcp_grow_window()'s quick ACK) until rcv_ssthresh meets the free space.
        var tp = f.Sk;
        int grown = 0;
        do
        {
            f.Send(ACK, seq: seq, ack: f.LocalIss + 1, payload: full);
            seq += 1460;
            f.Expect(ACK, ack: seq);
            grown++;
        } while (grown < 20 && tp.RcvSsthresh < Math.Min(tp.WindowClamp, (uint)TcpOutput.TcpSpace(tp)));
        Assert.InRange(grown, 2, 19);
        // The window has stopped growing. Two full segments are more than one MSS unacknowledged, but
        // the application has not read, so the right edge cannot advance (each segment's truesize
        // takes about its length of free space): __tcp_ack_snd_check() leaves the ACK to the
        // delayed-ACK timer, which acknowledges both.
        f.Send(ACK, seq: seq, ack: f.LocalIss + 1, payload: full);
        f.ExpectNothing();
        f.Send(ACK, seq: seq + 1460, ack: f.LocalIss + 1, payload: full);
        f.ExpectNothing();
        f.AdvanceUntilSent(200);
        f.Expect(ACK, ack: seq + 2920);
    }

    [Fact]
    public void Established_OutOfOrder_DupAckAtOnce_ThenGapFilledAck()
    {
        using var f = TcpFixture.Established();
        uint s = f.RemoteIss + 1;
        f.Send(ACK, seq: s + 5, ack: f.LocalIss + 1, payload: "world"u8.ToArray());
        f.Expect(ACK, ack: s);
        Assert.Equal(-Errno.EAGAIN, f.Recv(new byte[16]));
        f.Send(ACK, seq: s, ack: f.LocalIss + 1, payload: Hello);
        f.Expect(ACK, ack: s + 10);
        var buf = new byte[16];
        Assert.Equal(10, f.Recv(buf));
        Assert.Equal("helloworld"u8.ToArray(), buf[..10]);
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.TCPOFOQueue]);
    }

    [Fact]
    public void Established_OldDuplicateData_AckedAtOnce_NotDeliveredTwice()
    {
        using var f = TcpFixture.Established();
        uint s = f.RemoteIss + 1;
        f.Send(ACK, seq: s, ack: f.LocalIss + 1, payload: Hello);
        f.Expect(ACK, ack: s + 5);
        f.Send(ACK, seq: s, ack: f.LocalIss + 1, payload: Hello);
        f.Expect(ACK, ack: s + 5);
        var buf = new byte[16];
        Assert.Equal(5, f.Recv(buf));
        Assert.Equal(-Errno.EAGAIN, f.Recv(buf));
    }

    [Fact]
    public void Established_PartlyOldSegment_OnlyNewBytesDelivered()
    {
        using var f = TcpFixture.Established();
        uint s = f.RemoteIss + 1;
        f.Send(ACK, seq: s, ack: f.LocalIss + 1, payload: "abc"u8.ToArray());
        f.Expect(ACK, ack: s + 3);
        f.Send(ACK, seq: s, ack: f.LocalIss + 1, payload: "abcdef"u8.ToArray());
        f.Expect(ACK, ack: s + 6);
        var buf = new byte[16];
        Assert.Equal(6, f.Recv(buf));
        Assert.Equal("abcdef"u8.ToArray(), buf[..6]);
    }

    [Fact]
    public void Established_SegmentBeyondWindow_AckedAndDropped()
    {
        using var f = TcpFixture.Established();
        f.Send(ACK, seq: f.RemoteIss + 1 + 10_000_000, ack: f.LocalIss + 1, payload: Hello);
        f.Expect(ACK, seq: f.LocalIss + 1, ack: f.RemoteIss + 1);
        Assert.Equal(-Errno.EAGAIN, f.Recv(new byte[16]));
    }

    [Fact]
    public void Established_AckBelowWindow_ChallengeAck_SegmentDropped()
    {
        using var f = TcpFixture.Established();
        // Nothing of ours was ever acknowledged, so any ACK below snd_una is too old (RFC 5961 5.2).
        f.Send(ACK, seq: f.RemoteIss + 1, ack: f.LocalIss - 100, payload: Hello);
        f.Expect(ACK, seq: f.LocalIss + 1, ack: f.RemoteIss + 1);
        Assert.Equal(-Errno.EAGAIN, f.Recv(new byte[16]));
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.TCPChallengeACK]);
    }

    [Fact]
    public void Established_AckOfUnsentData_ChallengeAck_SegmentDropped()
    {
        using var f = TcpFixture.Established();
        // SEG.ACK > SND.NXT: RFC 9293 3.10.7.4 "send an ACK, drop the segment"; Linux 6.10+ tcp_ack()
        // sends a challenge ACK (rate-limited, counted) and drops the segment, data included.
        f.Send(ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 1000, payload: Hello);
        f.Expect(ACK, seq: f.LocalIss + 1, ack: f.RemoteIss + 1);
        f.ExpectNothing();
        Assert.Equal(-Errno.EAGAIN, f.Recv(new byte[16]));
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.TCPChallengeACK]);
        Assert.Equal(TcpState.Established, f.State);
    }

    [Fact]
    public void FinWait1_AckOfUnsentData_OneChallengeAck()
    {
        using var f = TcpFixture.FinWait1();
        // tcp_rcv_state_process() passes FLAG_NO_CHALLENGE_ACK and sends the one challenge ACK itself.
        f.Send(ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 1000);
        var ack = f.Next();
        Assert.Equal(ACK, ack.Flags & ~FIN);
        f.ExpectNothing();
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.TCPChallengeACK]);
        Assert.Equal(TcpState.FinWait1, f.State);
    }

    [Fact]
    public void Established_RecvPeekWaitallDontwait()
    {
        using var f = TcpFixture.Established();
        f.Send(ACK | PSH, seq: f.RemoteIss + 1, ack: f.LocalIss + 1, payload: "0123456789"u8.ToArray());
        var buf = new byte[4];
        Assert.Equal(4, f.Recv(buf, MSG_PEEK));
        Assert.Equal("0123"u8.ToArray(), buf);
        Assert.Equal(4, f.Recv(buf));
        Assert.Equal("0123"u8.ToArray(), buf);
        var big = new byte[20];
        // MSG_WAITALL on a non-blocking socket returns what there is.
        Assert.Equal(6, f.Recv(big, MSG_WAITALL));
        Assert.Equal(-Errno.EAGAIN, f.Recv(big, MSG_DONTWAIT));
        int inq = 0;
        Assert.Equal(0, SocketCalls.Ioctl(f.Files, f.Fd, SIOCINQ, ref inq));
        Assert.Equal(0, inq);
    }

    [Fact]
    public void Established_ManySmallSegments_LockedRcvbuf_CollapsedNotDropped()
    {
        using var f = TcpFixture.Established();
        Assert.Equal(0, SocketCalls.Setsockopt(f.Files, f.Fd, SOL_SOCKET, SO_RCVBUF, 8192));
        // 12 x 1000 bytes fit the window already offered, but one buffer each (too big to coalesce)
        // would take ~31 KB of the 16 KB receive buffer: the queue is repacked (tcp_collapse) into
        // full buffers instead of dropping.
        uint seq = f.RemoteIss + 1;
        var expect = new byte[12_000];
        new Random(5).NextBytes(expect);
        for (int i = 0; i < 12; i++)
        {
            f.Send(ACK, seq: seq, ack: f.LocalIss + 1, payload: expect[(i * 1000)..((i + 1) * 1000)]);
            seq += 1000;
        }
        Assert.True(f.Net.Mib.TcpExt[LinuxMib.PruneCalled] > 0, "prune");
        Assert.Equal(0, f.Net.Mib.TcpExt[LinuxMib.TCPRcvQDrop]);
        // In-order segments on the header-prediction fast path are queued within memory already
        // reserved (sk_forward_alloc) without a look at sk_rcvbuf, so, as on Linux, rmem may pass
        // the limit until that reservation (less than a page) runs out and the slow path collapses.
        Assert.True(f.Sk.RmemAlloc < f.Sk.RcvBuf + 4096, $"rmem {f.Sk.RmemAlloc} rcvbuf {f.Sk.RcvBuf} q {f.Sk.ReceiveQueue.QLen}");
        var got = new byte[16_000];
        int n = 0, r;
        while ((r = f.Recv(got.AsSpan(n))) > 0) n += r;
        Assert.Equal(12_000, n);
        Assert.Equal(expect, got[..n]);
    }

    [Fact]
    public void Established_OverlappingOutOfOrderSegments_CollapsedSafely_ThenDelivered()
    {
        // The ofo queue keeps partly overlapping segments; when memory runs short the queue is
        // collapsed range by range (tcp_collapse_ofo_queue). Overlapping neighbours belong to the
        // same range: collapsing must never step onto a freed buffer, and the data must come out whole.
        using var f = TcpFixture.Established();
        Assert.Equal(0, SocketCalls.Setsockopt(f.Files, f.Fd, SOL_SOCKET, SO_RCVBUF, 8192));
        uint s0 = f.RemoteIss + 1;
        var expect = new byte[9_000];
        new Random(11).NextBytes(expect);
        byte[] Part(int from, int to) => expect[from..to];
        // Hole at [0, 500): everything below is out of order.
        f.Send(ACK, seq: s0 + 1500, ack: f.LocalIss + 1, payload: Part(1500, 2500));
        f.Send(ACK, seq: s0 + 500, ack: f.LocalIss + 1, payload: Part(500, 1500));
        f.Send(ACK, seq: s0 + 2000, ack: f.LocalIss + 1, payload: Part(2000, 3000)); // overlaps [2000, 2500)
        for (int at = 3000; at < 9_000; at += 500)
            f.Send(ACK, seq: s0 + (uint)at, ack: f.LocalIss + 1, payload: Part(at, at + 500));
        Assert.True(f.Net.Mib.TcpExt[LinuxMib.PruneCalled] > 0, "prune");
        // Fill the hole: everything kept becomes readable, in order, byte for byte.
        f.Send(ACK, seq: s0, ack: f.LocalIss + 1, payload: Part(0, 500));
        var got = new byte[10_000];
        int n = 0, r;
        while ((r = f.Recv(got.AsSpan(n))) > 0) n += r;
        Assert.True(n > 0);
        Assert.Equal(expect[..n], got[..n]);
        // Whatever the collapse dropped is retransmitted by the peer; nothing leaked meanwhile.
        var tp = f.Sk;
        f.Close();
        f.Advance(1_000_000); // the orphaned FIN is retried (tcp_orphan_retries) and then given up
        lock (f.Net.SyncRoot)
            Assert.True(f.Net.SkbPool.Total == f.Net.SkbPool.FreeCount,
                $"pool {f.Net.SkbPool.FreeCount}/{f.Net.SkbPool.Total}, state {tp.State}, rq {tp.ReceiveQueue.QLen}, ofo {tp.OutOfOrderQueue.QLen}, wq {tp.WriteQueue.QLen}, rmem {tp.RmemAlloc}");
    }

    [Fact]
    public void Established_ManySmallSegments_UnlockedRcvbuf_Grows()
    {
        using var f = TcpFixture.Established();
        uint seq = f.RemoteIss + 1;
        // 60 x 1000 bytes (inside the 64 KB window): more buffers than the default 128 KB receive
        // buffer holds; unlocked, it grows instead (tcp_clamp_window).
        int rcvbuf0 = f.Sk.RcvBuf;
        for (int i = 0; i < 60; i++)
        {
            f.Send(ACK, seq: seq, ack: f.LocalIss + 1, payload: new byte[1000]);
            seq += 1000;
        }
        Assert.Equal(0, f.Net.Mib.TcpExt[LinuxMib.TCPRcvQDrop]);
        int n = 0, r;
        var buf = new byte[70_000];
        while ((r = f.Recv(buf.AsSpan(n))) > 0) n += r;
        Assert.Equal(60_000, n);
        Assert.True(f.Net.Mib.TcpExt[LinuxMib.PruneCalled] > 0);
        Assert.True(f.Sk.RcvBuf > rcvbuf0);
    }

    // ================================================================== ESTABLISHED: RST and SYN

    [Fact]
    public void Established_RstExactSeq_Reset_Econnreset()
    {
        using var f = TcpFixture.Established();
        f.Send(RST, seq: f.RemoteIss + 1);
        f.ExpectNothing();
        Assert.Equal(TcpState.Close, f.State);
        Assert.Equal(-Errno.ECONNRESET, f.Recv(new byte[4]));
        Assert.Equal(1, f.Net.Mib.Tcp[TcpMib.EstabResets]);
        Assert.Equal(0, f.Net.Mib.Tcp[TcpMib.CurrEstab]);
        Assert.Equal(-Errno.EPIPE, f.SendData(Hello));
    }

    [Fact]
    public void Established_RstInWindowNotExact_ChallengeAck()
    {
        using var f = TcpFixture.Established();
        f.Send(RST, seq: f.RemoteIss + 1 + 100);
        f.Expect(ACK, seq: f.LocalIss + 1, ack: f.RemoteIss + 1);
        Assert.Equal(TcpState.Established, f.State);
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.TCPChallengeACK]);
    }

    [Fact]
    public void Established_RstOutOfWindow_Ignored()
    {
        using var f = TcpFixture.Established();
        f.Send(RST, seq: f.RemoteIss + 1 + 10_000_000);
        f.ExpectNothing();
        Assert.Equal(TcpState.Established, f.State);
    }

    [Fact]
    public void Established_Syn_ChallengeAck()
    {
        using var f = TcpFixture.Established();
        f.Send(SYN, seq: f.RemoteIss + 1);
        f.Expect(ACK, seq: f.LocalIss + 1, ack: f.RemoteIss + 1);
        Assert.Equal(TcpState.Established, f.State);
        // A second one within tcp_invalid_ratelimit is not answered (per-socket rate limit).
        f.Send(SYN, seq: f.RemoteIss + 1);
        f.ExpectNothing();
        f.Advance(500);
        f.Send(SYN, seq: f.RemoteIss + 1);
        f.Expect(ACK);
    }

    // ================================================================== ESTABLISHED: sending

    [Fact]
    public void Established_Nagle_HoldsSecondSmallSegmentUntilAck()
    {
        using var f = TcpFixture.Established();
        Assert.Equal(5, f.SendData(Hello));
        f.Expect(ACK | PSH, seq: f.LocalIss + 1, payload: Hello);
        Assert.Equal(5, f.SendData(Hello));
        f.ExpectNothing();
        f.Send(ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 6);
        f.Expect(ACK | PSH, seq: f.LocalIss + 6, payload: Hello);
    }

    [Fact]
    public void Established_NoDelay_SendsSmallSegmentsAtOnce()
    {
        using var f = TcpFixture.Established();
        Assert.Equal(0, SocketCalls.Setsockopt(f.Files, f.Fd, SOL_TCP, TCP_NODELAY, 1));
        Assert.Equal(5, f.SendData(Hello));
        f.Expect(ACK | PSH, seq: f.LocalIss + 1, payload: Hello);
        Assert.Equal(5, f.SendData(Hello));
        f.Expect(ACK | PSH, seq: f.LocalIss + 6, payload: Hello);
        Assert.Equal(1, SocketCalls.Getsockopt(f.Files, f.Fd, SOL_TCP, TCP_NODELAY, out int v) == 0 ? v : -1);
    }

    [Fact]
    public void Established_PeerWindow_Respected()
    {
        using var f = TcpFixture.Established();
        f.Send(ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 1, window: 1000);
        Assert.Equal(3000, f.SendData(new byte[3000]));
        // 1000 bytes fit; a 1460 segment does not, so the sender waits (no segment split to the window).
        f.ExpectNothing();
        f.Send(ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 1, window: 2920);
        f.Expect(ACK, seq: f.LocalIss + 1, len: 1460);
        f.Expect(ACK, seq: f.LocalIss + 1461, len: 1460);
        f.ExpectNothing();
        f.Send(ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 2921, window: 2920);
        f.Expect(ACK | PSH, seq: f.LocalIss + 2921, len: 80);
    }

    [Fact]
    public void Established_Retransmission_RtoMin200ms_ExponentialBackoff()
    {
        using var f = TcpFixture.Established();
        Assert.Equal(5, f.SendData(Hello));
        f.Expect(ACK | PSH, seq: f.LocalIss + 1, payload: Hello);
        // The handshake's RTT (no time passed) gives RTO = RTO_MIN = 200 ms, doubling each time.
        foreach (long gap in new long[] { 200, 400, 800, 1600, 3200 })
        {
            Assert.Equal(gap, f.AdvanceUntilSent(10_000));
            f.Expect(ACK | PSH, seq: f.LocalIss + 1, payload: Hello);
        }
        f.Send(ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 6);
        f.Advance(20_000);
        f.ExpectNothing();
        Assert.Equal(5, f.Net.Mib.Tcp[TcpMib.RetransSegs]);
        Assert.Equal(5, f.Net.Mib.TcpExt[LinuxMib.TCPTimeouts]);
    }

    [Fact]
    public void Established_KarnsRule_AckOfRetransmissionKeepsBackedOffRto()
    {
        using var f = TcpFixture.Established();
        long rto0 = f.Sk.IcskRto; // ~200 ms from the handshake's RTT
        Assert.Equal(5, f.SendData(Hello));
        f.Expect(ACK | PSH);
        Assert.Equal(200, f.AdvanceUntilSent(10_000));
        f.Expect(ACK | PSH);
        // The ACK of a retransmitted segment gives no RTT sample: the RTO stays backed off (doubled).
        f.Advance(50);
        f.Send(ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 6);
        Assert.Equal(2 * rto0, f.Sk.IcskRto);
        Assert.Equal(5, f.SendData(Hello));
        f.Expect(ACK | PSH, seq: f.LocalIss + 6);
        Assert.Equal(400, f.AdvanceUntilSent(10_000));
        f.Expect(ACK | PSH, seq: f.LocalIss + 6);
    }

    [Fact]
    public void Established_RttSample_SetsRto()
    {
        using var f = TcpFixture.Established();
        Assert.Equal(5, f.SendData(Hello));
        f.Expect(ACK | PSH);
        f.Advance(100);
        f.Send(ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 6);
        // RFC 6298 in Linux's scaled integers: srtt moves 1/8 of the way from the handshake's ~0 to
        // 100 ms (12.5 ms); rttvar stays at RTO_MIN (200 ms): RTO = 212.5 ms.
        Assert.Equal(12_500u, f.Sk.SrttUs >> 3);
        Assert.Equal(212_500_000L, f.Sk.IcskRto);
    }

    [Fact]
    public void Established_ThreeDupAcks_FastRetransmit()
    {
        using var f = TcpFixture.Established();
        Assert.Equal(5 * 1460, f.SendData(new byte[5 * 1460]));
        for (int i = 0; i < 5; i++) f.Expect((byte)(i == 4 ? ACK | PSH : ACK), seq: f.LocalIss + 1 + (uint)(i * 1460));
        uint una = f.LocalIss + 1;
        // The peer's first ACK with a newer sequence number is a window update, not a duplicate.
        f.Send(ACK, seq: f.RemoteIss + 1, ack: una);
        f.ExpectNothing();
        for (int i = 0; i < 2; i++)
        {
            f.Send(ACK, seq: f.RemoteIss + 1, ack: una);
            f.ExpectNothing();
        }
        f.Send(ACK, seq: f.RemoteIss + 1, ack: una);
        f.Expect(ACK, seq: una, len: 1460);
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.TCPFastRetrans]);
        Assert.Equal(TcpCaState.Recovery, f.Sk.CaState);
    }

    [Fact]
    public void Established_ZeroWindow_ProbesWithBackoff_ThenResumes()
    {
        using var f = TcpFixture.Established();
        f.Send(ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 1, window: 0);
        Assert.Equal(5, f.SendData(Hello));
        f.ExpectNothing();
        // Window probes: an old sequence number to elicit an ACK, with exponential backoff.
        Assert.Equal(200, f.AdvanceUntilSent(10_000));
        f.Expect(ACK, seq: f.LocalIss, len: 0);
        Assert.Equal(400, f.AdvanceUntilSent(10_000));
        f.Expect(ACK, seq: f.LocalIss, len: 0);
        f.Send(ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 1, window: 1000);
        f.Expect(ACK | PSH, seq: f.LocalIss + 1, payload: Hello);
    }

    [Fact]
    public void Established_Keepalive_ProbesThenResetAndEtimedout()
    {
        using var f = TcpFixture.Established();
        Assert.Equal(0, SocketCalls.Setsockopt(f.Files, f.Fd, SOL_TCP, TCP_KEEPIDLE, 10));
        Assert.Equal(0, SocketCalls.Setsockopt(f.Files, f.Fd, SOL_TCP, TCP_KEEPINTVL, 5));
        Assert.Equal(0, SocketCalls.Setsockopt(f.Files, f.Fd, SOL_TCP, TCP_KEEPCNT, 2));
        Assert.Equal(0, SocketCalls.Setsockopt(f.Files, f.Fd, SOL_SOCKET, SO_KEEPALIVE, 1));
        Assert.Equal(10_000, f.AdvanceUntilSent(100_000));
        f.Expect(ACK, seq: f.LocalIss, len: 0);
        Assert.Equal(5_000, f.AdvanceUntilSent(100_000));
        f.Expect(ACK, seq: f.LocalIss, len: 0);
        Assert.Equal(5_000, f.AdvanceUntilSent(100_000));
        f.Expect(RST | ACK, seq: f.LocalIss + 1);
        Assert.Equal(TcpState.Close, f.State);
        Assert.Equal(-Errno.ETIMEDOUT, f.Recv(new byte[4]));
    }

    [Fact]
    public void Established_Keepalive_AnsweredProbeKeepsConnection()
    {
        using var f = TcpFixture.Established();
        Assert.Equal(0, SocketCalls.Setsockopt(f.Files, f.Fd, SOL_TCP, TCP_KEEPIDLE, 10));
        Assert.Equal(0, SocketCalls.Setsockopt(f.Files, f.Fd, SOL_SOCKET, SO_KEEPALIVE, 1));
        // The first probe after TCP_KEEPIDLE; once answered, the next ones come every TCP_KEEPINTVL (75 s).
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(i == 0 ? 10_000 : 75_000, f.AdvanceUntilSent(100_000));
            f.Expect(ACK, seq: f.LocalIss, len: 0);
            f.Send(ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 1);
            f.ExpectNothing();
        }
        Assert.Equal(TcpState.Established, f.State);
    }

    // ================================================================== ESTABLISHED: close

    [Fact]
    public void Established_CloseWithUnreadData_SendsRst()
    {
        using var f = TcpFixture.Established();
        f.Send(ACK | PSH, seq: f.RemoteIss + 1, ack: f.LocalIss + 1, payload: Hello);
        f.Expect(ACK);
        f.Close();
        f.Expect(RST | ACK, seq: f.LocalIss + 1, ack: f.RemoteIss + 6);
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.TCPAbortOnClose]);
        Assert.Empty(f.Net.Ipv4.TcpHashinfo.Ehash);
    }

    [Fact]
    public void Established_SoLingerZero_CloseSendsRst()
    {
        using var f = TcpFixture.Established();
        var linger = new byte[8];
        linger[0] = 1; // l_onoff = 1, l_linger = 0
        Assert.Equal(0, SocketCalls.Setsockopt(f.Files, f.Fd, SOL_SOCKET, SO_LINGER, linger));
        f.Close();
        f.Expect(RST | ACK, seq: f.LocalIss + 1);
        Assert.Empty(f.Net.Ipv4.TcpHashinfo.Ehash);
    }

    [Fact]
    public void Established_Close_Fin_FinWait1_RetransmittedUntilAcked()
    {
        using var f = TcpFixture.FinWait1();
        Assert.Equal(200, f.AdvanceUntilSent(10_000));
        f.Expect(FIN | ACK, seq: f.LocalIss + 1);
    }

    [Fact]
    public void Established_ShutdownWr_FinThenStillReceives()
    {
        using var f = TcpFixture.FinWait2();
        f.Send(ACK | PSH, seq: f.RemoteIss + 1, ack: f.LocalIss + 2, payload: Hello);
        f.Expect(ACK, ack: f.RemoteIss + 6);
        var buf = new byte[8];
        Assert.Equal(5, f.Recv(buf));
        Assert.Equal(-Errno.EPIPE, f.SendData(Hello));
    }

    // ================================================================== FIN_WAIT_1 / FIN_WAIT_2 / CLOSING / TIME_WAIT

    [Fact]
    public void FinWait1_AckOfFin_FinWait2()
    {
        using var f = TcpFixture.FinWait2();
        Assert.Equal(TcpState.FinWait2, f.State);
    }

    [Fact]
    public void FinWait1_Fin_Closing_AcksTheFin()
    {
        using var f = TcpFixture.FinWait1Shutdown();
        f.Send(FIN | ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 1);
        f.Expect(ACK, seq: f.LocalIss + 2, ack: f.RemoteIss + 2);
        Assert.Equal(TcpState.Closing, f.State);
    }

    [Fact]
    public void Closing_AckOfFin_TimeWait()
    {
        using var f = TcpFixture.FinWait1Shutdown();
        f.Send(FIN | ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 1);
        f.Expect(ACK);
        var sk = f.Sk;
        f.Send(ACK, seq: f.RemoteIss + 2, ack: f.LocalIss + 2);
        f.ExpectNothing();
        Assert.Equal(TcpState.Close, sk.State); // the socket is done; a TIME_WAIT sock took its place
        var tw = Assert.IsType<TcpTimewaitSock>(Assert.Single(f.Net.Ipv4.TcpHashinfo.Ehash.Values));
        Assert.Equal(TcpState.TimeWait, tw.TwSubstate);
    }

    [Fact]
    public void FinWait1_FinAckingOurFin_TimeWait()
    {
        using var f = TcpFixture.FinWait1Shutdown();
        f.Send(FIN | ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 2);
        f.Expect(ACK, seq: f.LocalIss + 2, ack: f.RemoteIss + 2);
        var tw = Assert.IsType<TcpTimewaitSock>(Assert.Single(f.Net.Ipv4.TcpHashinfo.Ehash.Values));
        Assert.Equal(TcpState.TimeWait, tw.TwSubstate);
        Assert.Equal(0, f.Recv(new byte[4])); // end of stream for the application
    }

    [Fact]
    public void FinWait2_Fin_TimeWait_AcksTheFin()
    {
        using var f = TcpFixture.FinWait2();
        f.Send(FIN | ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 2);
        f.Expect(ACK, seq: f.LocalIss + 2, ack: f.RemoteIss + 2);
        var tw = Assert.IsType<TcpTimewaitSock>(Assert.Single(f.Net.Ipv4.TcpHashinfo.Ehash.Values));
        Assert.Equal(TcpState.TimeWait, tw.TwSubstate);
    }

    private static TcpFixture TimeWait()
    {
        var f = TcpFixture.FinWait2();
        f.Send(FIN | ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 2);
        f.Expect(ACK);
        return f;
    }

    [Fact]
    public void TimeWait_ExpiresAfter60Seconds_PortReleased()
    {
        using var f = TimeWait();
        var port = f.Sk.InetNum;
        f.Close();
        Assert.True(f.Net.Ipv4.TcpHashinfo.Bhash.ContainsKey(f.OurPort));
        f.Advance(59_999);
        Assert.Single(f.Net.Ipv4.TcpHashinfo.Ehash);
        f.Advance(1);
        Assert.Empty(f.Net.Ipv4.TcpHashinfo.Ehash);
        Assert.False(f.Net.Ipv4.TcpHashinfo.Bhash.ContainsKey(f.OurPort));
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.TW]);
        f.ExpectNothing();
        _ = port;
    }

    [Fact]
    public void TimeWait_LengthIsConfigurable()
    {
        using var f = TimeWait();
        f.Net.Ipv4.Sysctl.TcpTimewaitLenMs = 1000;
        // The running TIME_WAIT keeps its 60 s; a retransmitted FIN restarts it with the new length.
        f.Send(FIN | ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 2);
        f.Expect(ACK);
        f.Advance(999);
        Assert.Single(f.Net.Ipv4.TcpHashinfo.Ehash);
        f.Advance(1);
        Assert.Empty(f.Net.Ipv4.TcpHashinfo.Ehash);
    }

    [Fact]
    public void TimeWait_RetransmittedFin_AckedAgain_TimerRestarted()
    {
        using var f = TimeWait();
        f.Advance(30_000);
        f.Send(FIN | ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 2);
        f.Expect(ACK, seq: f.LocalIss + 2, ack: f.RemoteIss + 2);
        f.Advance(59_999);
        Assert.Single(f.Net.Ipv4.TcpHashinfo.Ehash);
        f.Advance(1);
        Assert.Empty(f.Net.Ipv4.TcpHashinfo.Ehash);
    }

    [Fact]
    public void TimeWait_Rst_KillsIt()
    {
        using var f = TimeWait();
        f.Send(RST, seq: f.RemoteIss + 2);
        f.ExpectNothing();
        Assert.Empty(f.Net.Ipv4.TcpHashinfo.Ehash);
    }

    [Fact]
    public void TimeWait_OutOfWindowSegment_Acked()
    {
        using var f = TimeWait();
        f.Send(ACK, seq: f.RemoteIss + 500, ack: f.LocalIss + 2, payload: Hello);
        f.Expect(ACK, seq: f.LocalIss + 2, ack: f.RemoteIss + 2);
    }

    [Fact]
    public void TimeWait_NewSynWithHigherSeq_ReopensWithHigherIsn()
    {
        // Passive side goes through TIME_WAIT (it closes first), then the peer reconnects.
        using var f = TcpFixture.EstablishedPassive();
        Assert.Equal(0, SocketCalls.Shutdown(f.Files, f.Fd, SHUT_WR));
        f.Expect(FIN | ACK, seq: f.LocalIss + 1);
        f.Send(FIN | ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 2);
        f.Expect(ACK);
        Assert.IsType<TcpTimewaitSock>(Assert.Single(f.Net.Ipv4.TcpHashinfo.Ehash.Values));
        f.Send(SYN, seq: f.RemoteIss + 100_000, mss: 1460);
        var synAck = f.Expect(SYN | ACK, ack: f.RemoteIss + 100_001);
        // RFC 1122 4.2.2.13: the new ISN is above the old connection's sequence space.
        Assert.Equal(f.LocalIss + 2 + 65535 + 2, synAck.Seq);
        Assert.IsType<TcpRequestSock>(Assert.Single(f.Net.Ipv4.TcpHashinfo.Ehash.Values));
    }

    [Fact]
    public void TimeWait_OldSyn_AnsweredWithAck()
    {
        using var f = TimeWait();
        f.Send(SYN, seq: f.RemoteIss - 1000);
        f.Expect(ACK, seq: f.LocalIss + 2, ack: f.RemoteIss + 2);
    }

    [Fact]
    public void FinWait2_Orphan_TimesOutSilently()
    {
        using var f = TcpFixture.FinWait1();
        f.Send(ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 2);
        var tw = Assert.IsType<TcpTimewaitSock>(Assert.Single(f.Net.Ipv4.TcpHashinfo.Ehash.Values));
        Assert.Equal(TcpState.FinWait2, tw.TwSubstate);
        f.Advance(59_999);
        Assert.Single(f.Net.Ipv4.TcpHashinfo.Ehash);
        f.Advance(1);
        Assert.Empty(f.Net.Ipv4.TcpHashinfo.Ehash);
        f.ExpectNothing();
    }

    [Fact]
    public void FinWait2_Orphan_PeersFin_TimeWait()
    {
        using var f = TcpFixture.FinWait1();
        f.Send(ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 2);
        f.Send(FIN | ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 2);
        f.Expect(ACK, seq: f.LocalIss + 2, ack: f.RemoteIss + 2);
        var tw = Assert.IsType<TcpTimewaitSock>(Assert.Single(f.Net.Ipv4.TcpHashinfo.Ehash.Values));
        Assert.Equal(TcpState.TimeWait, tw.TwSubstate);
    }

    [Fact]
    public void FinWait2_Orphan_NewData_Reset()
    {
        using var f = TcpFixture.FinWait1();
        f.Send(ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 2);
        f.Send(ACK | PSH, seq: f.RemoteIss + 1, ack: f.LocalIss + 2, payload: Hello);
        f.Expect(RST, seq: f.LocalIss + 2);
        Assert.Empty(f.Net.Ipv4.TcpHashinfo.Ehash);
    }

    [Fact]
    public void FinWait1_Orphan_DataAfterClose_Reset()
    {
        using var f = TcpFixture.FinWait1();
        f.Send(ACK | PSH, seq: f.RemoteIss + 1, ack: f.LocalIss + 2, payload: Hello);
        f.Expect(RST, seq: f.LocalIss + 2);
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.TCPAbortOnData]);
        Assert.Empty(f.Net.Ipv4.TcpHashinfo.Ehash);
    }

    [Fact]
    public void FinWait1_Rst_Closed()
    {
        using var f = TcpFixture.FinWait1Shutdown();
        f.Send(RST, seq: f.RemoteIss + 1);
        Assert.Equal(TcpState.Close, f.State);
        Assert.Empty(f.Net.Ipv4.TcpHashinfo.Ehash);
    }

    [Fact]
    public void FinWait2_Rst_Closed_Econnreset()
    {
        using var f = TcpFixture.FinWait2();
        f.Send(RST, seq: f.RemoteIss + 1);
        f.ExpectNothing();
        Assert.Equal(TcpState.Close, f.State);
        Assert.Equal(Errno.ECONNRESET, f.SoError());
        Assert.Empty(f.Net.Ipv4.TcpHashinfo.Ehash);
    }

    [Fact]
    public void Closing_Rst_Closed()
    {
        using var f = TcpFixture.FinWait1Shutdown();
        f.Send(FIN | ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 1);
        f.Expect(ACK);
        Assert.Equal(TcpState.Closing, f.State);
        // After the peer's FIN, rcv_nxt - 1 is accepted as exact too.
        f.Send(RST, seq: f.RemoteIss + 1);
        Assert.Equal(TcpState.Close, f.State);
        Assert.Empty(f.Net.Ipv4.TcpHashinfo.Ehash);
    }

    [Fact]
    public void FinWait2_SegmentOutOfWindow_Acked()
    {
        using var f = TcpFixture.FinWait2();
        f.Send(ACK, seq: f.RemoteIss + 1 + 10_000_000, ack: f.LocalIss + 2, payload: Hello);
        f.Expect(ACK, seq: f.LocalIss + 2, ack: f.RemoteIss + 1);
        Assert.Equal(TcpState.FinWait2, f.State);
    }

        // ================================================================== CLOSE_WAIT / LAST_ACK

    [Fact]
    public void Established_Fin_CloseWait_ReadReturnsZero_PollHasRdhup()
    {
        using var f = TcpFixture.CloseWait();
        Assert.Equal(0, f.Recv(new byte[4]));
        int ev = SocketCalls.SockPoll(f.Files, f.Fd);
        Assert.Equal(POLLIN | POLLRDHUP, ev & (POLLIN | POLLRDHUP));
        Assert.Equal(0, ev & POLLHUP);
        // Sending is still allowed in CLOSE_WAIT.
        Assert.Equal(5, f.SendData(Hello));
        f.Expect(ACK | PSH, payload: Hello);
    }

    /// <summary>
    /// A passive connection that received no data has ato 0 (only tcp_event_data_recv() sets it),
    /// so the ACK of the peer's FIN is armed for "jiffies + 0": the kernel runs it on the next tick,
    /// not at once, and an application that closes first answers with one FIN-ACK (a connect +
    /// close costs 6 frames, not 7).
    /// </summary>
    [Fact]
    public void EstablishedPassive_FinBeforeAnyData_CloseBeforeTheTick_OneFinAck()
    {
        using var f = TcpFixture.EstablishedPassive();
        f.Send(FIN | ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 1);
        f.ExpectNothing();
        Assert.Equal(TcpState.CloseWait, f.State);
        Assert.Equal(0, f.Recv(new byte[4]));
        f.Close();
        f.Expect(FIN | ACK, seq: f.LocalIss + 1, ack: f.RemoteIss + 2);
        // The delayed ACK rode on the FIN: nothing more goes out when its tick comes.
        f.Advance(100);
        f.ExpectNothing();
        Assert.Equal(0, f.Net.Mib.TcpExt[LinuxMib.DelayedACKs]);
    }

    /// <summary>The same ACK when the application does not close: sent by the delayed-ACK timer on the next tick (HZ 250: within 4 ms).</summary>
    [Fact]
    public void EstablishedPassive_FinBeforeAnyData_AckedOnTheNextTick()
    {
        using var f = TcpFixture.EstablishedPassive();
        f.Advance(1); // off a tick boundary: the ACK waits for the rest of this jiffy only
        f.Send(FIN | ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 1);
        f.ExpectNothing();
        Assert.InRange(f.AdvanceUntilSent(1000), 1, (int)(Time.TickNs / Time.NsPerMs));
        f.Expect(ACK, seq: f.LocalIss + 1, ack: f.RemoteIss + 2);
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.DelayedACKs]);
    }

    [Fact]
    public void CloseWait_Close_LastAck_ThenAckCloses()
    {
        using var f = TcpFixture.LastAck();
        var sk = f.Sk;
        f.Send(ACK, seq: f.RemoteIss + 2, ack: f.LocalIss + 2);
        f.ExpectNothing();
        Assert.Equal(TcpState.Close, sk.State);
        Assert.Empty(f.Net.Ipv4.TcpHashinfo.Ehash);
        Assert.Equal(0, f.Net.Mib.Tcp[TcpMib.CurrEstab]);
    }

    [Fact]
    public void LastAck_FinRetransmitted_UntilAcked()
    {
        using var f = TcpFixture.LastAck();
        Assert.Equal(200, f.AdvanceUntilSent(10_000));
        f.Expect(FIN | ACK, seq: f.LocalIss + 1, ack: f.RemoteIss + 2);
    }

    [Fact]
    public void CloseWait_Rst_Epipe()
    {
        using var f = TcpFixture.CloseWait();
        f.Send(RST, seq: f.RemoteIss + 2);
        Assert.Equal(TcpState.Close, f.State);
        Assert.Equal(Errno.EPIPE, f.SoError());
    }

    [Fact]
    public void CloseWait_RstAtRcvNxtMinusOne_Accepted()
    {
        using var f = TcpFixture.CloseWait();
        // RFC 5961 extension in Linux: after the peer's FIN, RST at rcv_nxt - 1 is exact too.
        f.Send(RST, seq: f.RemoteIss + 1);
        Assert.Equal(TcpState.Close, f.State);
    }

    [Fact]
    public void LastAck_Rst_Closed()
    {
        using var f = TcpFixture.LastAck();
        f.Send(RST, seq: f.RemoteIss + 2);
        Assert.Equal(TcpState.Close, f.State);
        Assert.Empty(f.Net.Ipv4.TcpHashinfo.Ehash);
    }

    // ================================================================== options

    [Fact]
    public void Options_SynWithAllOptions_WhenEnabled()
    {
        using var f = TcpFixture.SynSent(s => { s.TcpTimestamps = true; s.TcpSack = true; s.TcpWindowScaling = true; });
        f.Advance(1000);
        var syn = f.Expect(SYN);
        Assert.Equal(1460, syn.Mss);
        Assert.True(syn.SackPermitted);
        Assert.Equal(7, syn.WindowScale); // for tcp_rmem[2] = 6 MB
        Assert.NotNull(syn.Timestamp);
        Assert.Equal(0u, syn.Timestamp!.Value.TsEcr);
    }

    [Fact]
    public void Options_TimestampsNegotiated_EchoedOnData()
    {
        using var f = TcpFixture.SynSent(s => s.TcpTimestamps = true);
        uint ourTsval = f.OurSyn!.Timestamp!.Value.TsVal;
        f.Send(SYN | ACK, seq: f.RemoteIss, ack: f.LocalIss + 1, mss: 1460, ts: new TcpTimestamp(5000, ourTsval));
        var ack = f.Expect(ACK);
        Assert.Equal(5000u, ack.Timestamp!.Value.TsEcr);
        f.Send(ACK | PSH, seq: f.RemoteIss + 1, ack: f.LocalIss + 1, payload: Hello, ts: new TcpTimestamp(5007, ack.Timestamp.Value.TsVal));
        var ack2 = f.Expect(ACK, ack: f.RemoteIss + 6);
        Assert.Equal(5007u, ack2.Timestamp!.Value.TsEcr);
    }

    [Fact]
    public void Options_Paws_OldTimestampDropped_DupAcked()
    {
        using var f = TcpFixture.SynSent(s => s.TcpTimestamps = true);
        f.Send(SYN | ACK, seq: f.RemoteIss, ack: f.LocalIss + 1, mss: 1460, ts: new TcpTimestamp(5000, f.OurSyn!.Timestamp!.Value.TsVal));
        f.Expect(ACK);
        f.Send(ACK | PSH, seq: f.RemoteIss + 1, ack: f.LocalIss + 1, payload: Hello, ts: new TcpTimestamp(4000, 0));
        f.Expect(ACK, ack: f.RemoteIss + 1);
        Assert.Equal(-Errno.EAGAIN, f.Recv(new byte[8]));
    }

    [Fact]
    public void Options_WindowScaleNegotiated_PeerWindowScaled()
    {
        using var f = TcpFixture.SynSent(s => s.TcpWindowScaling = true);
        f.Send(SYN | ACK, seq: f.RemoteIss, ack: f.LocalIss + 1, mss: 1460, ws: 2, window: 1000);
        f.Expect(ACK);
        // The SYN-ACK's window is not scaled; later windows are (<< 2).
        Assert.Equal(1000u, f.Sk.SndWnd);
        f.Send(ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 1, window: 1000);
        Assert.Equal(4000u, f.Sk.SndWnd);
    }

    [Fact]
    public void Options_Sack_OutOfOrderReportedInBlocks()
    {
        using var f = TcpFixture.SynSent(s => s.TcpSack = true);
        f.Send(SYN | ACK, seq: f.RemoteIss, ack: f.LocalIss + 1, mss: 1460, sackPerm: true);
        f.Expect(ACK);
        uint s0 = f.RemoteIss + 1;
        f.Send(ACK, seq: s0 + 100, ack: f.LocalIss + 1, payload: new byte[50]);
        var dup = f.Expect(ACK, ack: s0);
        Assert.Equal(1, dup.Sack.Count);
        Assert.Equal(new SackBlock(s0 + 100, s0 + 150), dup.Sack[0]);
        f.Send(ACK, seq: s0 + 200, ack: f.LocalIss + 1, payload: new byte[50]);
        var dup2 = f.Expect(ACK, ack: s0);
        Assert.Equal(2, dup2.Sack.Count);
        Assert.Equal(new SackBlock(s0 + 200, s0 + 250), dup2.Sack[0]); // the newest block first (RFC 2018)
    }

    [Fact]
    public void Options_Sack_SenderRetransmitsOnlyTheHole()
    {
        using var f = TcpFixture.SynSent(s => s.TcpSack = true);
        f.Send(SYN | ACK, seq: f.RemoteIss, ack: f.LocalIss + 1, mss: 1000, sackPerm: true);
        f.Expect(ACK);
        Assert.Equal(6000, f.SendData(new byte[6000]));
        for (int i = 0; i < 6; i++) f.Expect((byte)(i == 5 ? ACK | PSH : ACK), seq: f.LocalIss + 1 + (uint)(i * 1000));
        uint b = f.LocalIss + 1;
        // Segment 2 (b+1000) is lost; the peer SACKs 3, 4, 5 in three duplicate ACKs, a little later
        // (RACK orders transmissions by time: a retransmission at the very instant of the originals
        // would look sent before them), and before the 2 ms loss probe timeout of this 0 ms RTT.
        f.Advance(1);
        f.Send(ACK, seq: f.RemoteIss + 1, ack: b + 1000);
        for (int k = 2; k <= 4; k++)
        {
            var sack = new TcpSackBlocks();
            sack.Add(new SackBlock(b + 2000, b + (uint)(k + 1) * 1000));
            f.Send(ACK, seq: f.RemoteIss + 1, ack: b + 1000, sack: sack);
        }
        f.Expect(ACK, seq: b + 1000, len: 1000);
        f.ExpectNothing();
    }

    // ================================================================== ICMP errors (tcp_v4_err)

    [Fact]
    public void SynSent_IcmpPortUnreachable_HardError_Econnrefused()
    {
        using var f = TcpFixture.SynSent();
        f.SendIcmpError(IcmpType.DestUnreach, IcmpType.PortUnreach, f.LocalIss);
        Assert.Equal(TcpState.Close, f.State);
        Assert.Equal(Errno.ECONNREFUSED, f.SoError());
        f.Advance(5000);
        f.ExpectNothing();
    }

    [Theory]
    [InlineData(IcmpType.DestUnreach, IcmpType.HostUnreach, Errno.EHOSTUNREACH)]
    [InlineData(IcmpType.DestUnreach, IcmpType.NetUnreach, Errno.ENETUNREACH)]
    [InlineData(IcmpType.TimeExceeded, (byte)0, Errno.EHOSTUNREACH)]
    public void SynSent_AnyIcmpError_AbortsTheAttemptAtOnce(byte type, byte code, int errno)
    {
        // tcp_v4_err(): in SYN_SENT every converted error ends the attempt (not only RFC 1122's
        // hard errors), so connect() fails now instead of after two minutes of SYN retries.
        using var f = TcpFixture.SynSent();
        f.SendIcmpError(type, code, f.LocalIss);
        Assert.Equal(TcpState.Close, f.State);
        Assert.Equal(errno, f.SoError());
        f.Advance(5000);
        f.ExpectNothing();
    }

    [Fact]
    public void SynSent_IcmpQuotingOtherSequence_Ignored()
    {
        using var f = TcpFixture.SynSent();
        f.SendIcmpError(IcmpType.DestUnreach, IcmpType.PortUnreach, f.LocalIss + 12345);
        Assert.Equal(TcpState.SynSent, f.State);
        Assert.Equal(0, f.SoError());
    }

    [Fact]
    public void Established_IcmpUnreachable_KeptAsSoftError()
    {
        using var f = TcpFixture.Established();
        Assert.Equal(5, f.SendData(Hello));
        f.Expect(ACK | PSH);
        f.SendIcmpError(IcmpType.DestUnreach, IcmpType.PortUnreach, f.LocalIss + 1);
        Assert.Equal(TcpState.Established, f.State);
        Assert.Equal(Errno.ECONNREFUSED, f.Sk.ErrSoft);
        // An ACK from the peer shows the path works again: the soft error is forgotten.
        f.Send(ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 6);
        Assert.Equal(0, f.Sk.ErrSoft);
    }

    [Fact]
    public void Established_IcmpFragNeeded_LowersMss()
    {
        using var f = TcpFixture.Established();
        Assert.Equal(1460u, f.Sk.MssCache);
        f.SendIcmpError(IcmpType.DestUnreach, IcmpType.FragNeeded, f.LocalIss + 1, rest: 1000);
        Assert.Equal(1000u - 40, f.Sk.MssCache);
        Assert.Equal(3000, f.SendData(new byte[3000]));
        f.Expect(ACK, len: 960);
    }

    // ================================================================== ports

    [Fact]
    public void Bind_SamePortTwice_Eaddrinuse()
    {
        using var f = new TcpFixture();
        int a = f.Socket(), b = f.Socket();
        Assert.Equal(0, SocketCalls.Bind(f.Files, a, SockAddr.In(0, 8080)));
        Assert.Equal(-Errno.EADDRINUSE, SocketCalls.Bind(f.Files, b, SockAddr.In(TcpFixture.LocalAddr, 8080)));
    }

    [Fact]
    public void Bind_ReuseAddr_AllowedUntilOneListens()
    {
        using var f = new TcpFixture();
        int a = f.Socket(), b = f.Socket();
        Assert.Equal(0, SocketCalls.Setsockopt(f.Files, a, SOL_SOCKET, SO_REUSEADDR, 1));
        Assert.Equal(0, SocketCalls.Setsockopt(f.Files, b, SOL_SOCKET, SO_REUSEADDR, 1));
        Assert.Equal(0, SocketCalls.Bind(f.Files, a, SockAddr.In(0, 8080)));
        Assert.Equal(0, SocketCalls.Bind(f.Files, b, SockAddr.In(0, 8080)));
        Assert.Equal(0, SocketCalls.Listen(f.Files, a, 5));
        Assert.Equal(-Errno.EADDRINUSE, SocketCalls.Listen(f.Files, b, 5));
    }

    [Fact]
    public void Bind_PortHeldByTimeWait_NeedsReuseAddr()
    {
        // The listener sets SO_REUSEADDR, so its connections' TIME_WAIT socks allow reuse too
        // (inet_bind_conflict() wants both sides to have it).
        using var f = TcpFixture.Listening();
        Assert.Equal(0, SocketCalls.Setsockopt(f.Files, f.ListenFd, SOL_SOCKET, SO_REUSEADDR, 1));
        f.Send(SYN, seq: f.RemoteIss);
        f.LocalIss = f.Expect(SYN | ACK).Seq;
        f.Send(ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 1);
        f.Fd = SocketCalls.Accept4(f.Files, f.ListenFd, out _, 0);
        Assert.Equal(0, SocketCalls.Close(f.Files, f.ListenFd));
        Assert.Equal(0, SocketCalls.Shutdown(f.Files, f.Fd, SHUT_WR));
        f.Expect(FIN | ACK);
        f.Send(FIN | ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 2);
        f.Expect(ACK);
        f.Close();
        Assert.IsType<TcpTimewaitSock>(Assert.Single(f.Net.Ipv4.TcpHashinfo.Ehash.Values));
        int s = f.Socket();
        Assert.Equal(-Errno.EADDRINUSE, SocketCalls.Bind(f.Files, s, SockAddr.In(0, TcpFixture.LocalPort)));
        Assert.Equal(0, SocketCalls.Setsockopt(f.Files, s, SOL_SOCKET, SO_REUSEADDR, 1));
        Assert.Equal(0, SocketCalls.Bind(f.Files, s, SockAddr.In(0, TcpFixture.LocalPort)));
    }

    [Fact]
    public void Listen_WithoutBind_PicksEphemeralPort()
    {
        using var f = new TcpFixture();
        int s = f.Socket();
        Assert.Equal(0, SocketCalls.Listen(f.Files, s, 5));
        Assert.Equal(0, SocketCalls.Getsockname(f.Files, s, out var name));
        Assert.InRange(name.Port, 32768, 60999);
    }

    [Fact]
    public void Connect_EphemeralPorts_EvenFirst_Distinct()
    {
        using var f = new TcpFixture();
        var ports = new HashSet<int>();
        for (int i = 0; i < 20; i++)
        {
            int s = f.Socket();
            Assert.Equal(-Errno.EINPROGRESS, SocketCalls.Connect(f.Files, s, SockAddr.In(TcpFixture.RemoteAddr, 80)));
            Assert.Equal(0, SocketCalls.Getsockname(f.Files, s, out var name));
            Assert.Equal(0, name.Port % 2);
            Assert.True(ports.Add(name.Port));
        }
    }
}
