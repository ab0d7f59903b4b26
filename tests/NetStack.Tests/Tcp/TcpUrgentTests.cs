using NetStack.Ipv4;
using NetStack.Net;
using NetStack.Uapi;
using static NetStack.Uapi.SocketConstants;
using static NetStack.Wire.TcpFlags;

namespace NetStack.Tests.Tcp;

/// <summary>
/// TCP urgent data as Linux implements it (BSD semantics, net.ipv4.tcp_stdurg = 0): the urgent
/// pointer of a segment points one past the urgent byte; that byte is taken out of the stream
/// (recv(MSG_OOB)) unless SO_OOBINLINE; a read stops at the mark (SIOCATMARK). Sending: MSG_OOB moves
/// snd_up to the end of the write and every segment before it carries URG.
/// </summary>
public class TcpUrgentTests
{
    private static readonly byte[] Abcde = "abcde"u8.ToArray();

    private static int AtMark(TcpFixture f)
    {
        int v = -1;
        Assert.Equal(0, SocketCalls.Ioctl(f.Files, f.Fd, SIOCATMARK, ref v));
        return v;
    }

    private static int Inq(TcpFixture f)
    {
        int v = -1;
        Assert.Equal(0, SocketCalls.Ioctl(f.Files, f.Fd, SIOCINQ, ref v));
        return v;
    }

    private static int Poll(TcpFixture f) => SocketCalls.SockPoll(f.Files, f.Fd) & (POLLIN | POLLPRI);

    private static string Text(byte[] buf, int n) => System.Text.Encoding.ASCII.GetString(buf, 0, n);

    // ================================================================== sending

    [Fact]
    public void SendOob_SegmentCarriesUrg_PointerPastTheLastByte_UntilAcknowledged()
    {
        using var f = TcpFixture.Established();
        Assert.Equal(0, SocketCalls.Setsockopt(f.Files, f.Fd, SOL_TCP, TCP_NODELAY, 1));
        Assert.Equal(3, f.SendData("abc"u8, MSG_OOB));
        f.Expect(ACK | PSH | URG, seq: f.LocalIss + 1, ack: f.RemoteIss + 1, payload: "abc"u8.ToArray(), urgPtr: 3);
        // Data after the urgent pointer, while it is unacknowledged: urgent mode, but this segment starts at snd_up.
        Assert.Equal(2, f.SendData("de"u8));
        f.Expect(ACK | PSH, seq: f.LocalIss + 4, ack: f.RemoteIss + 1, payload: "de"u8.ToArray());
        // Acknowledging snd_up ends urgent mode (tcp_clean_rtx_queue): later segments are plain.
        f.Send(ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 6);
        Assert.Equal(f.Sk.SndUna, f.Sk.SndUp);
        Assert.Equal(1, f.SendData("f"u8));
        f.Expect(ACK | PSH, seq: f.LocalIss + 6, ack: f.RemoteIss + 1, payload: "f"u8.ToArray());
    }

    [Fact]
    public void SendOob_NagleHoldsNothingWhileInUrgentMode()
    {
        using var f = TcpFixture.Established();
        Assert.Equal(5, f.SendData("hello"u8));
        f.Expect(ACK | PSH, seq: f.LocalIss + 1, ack: f.RemoteIss + 1, payload: "hello"u8.ToArray());
        // A small segment is unacknowledged, yet the urgent byte goes at once (tcp_nagle_test()), and so
        // does what follows it until snd_up is acknowledged.
        Assert.Equal(1, f.SendData("X"u8, MSG_OOB));
        f.Expect(ACK | PSH | URG, seq: f.LocalIss + 6, ack: f.RemoteIss + 1, payload: "X"u8.ToArray(), urgPtr: 1);
        Assert.Equal(1, f.SendData("w"u8));
        f.Expect(ACK | PSH, seq: f.LocalIss + 7, ack: f.RemoteIss + 1, payload: "w"u8.ToArray());
        f.Send(ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 8);
        // Out of urgent mode, Nagle is back: the second small write waits for the first one's ACK.
        Assert.Equal(1, f.SendData("y"u8));
        f.Expect(ACK | PSH, seq: f.LocalIss + 8, ack: f.RemoteIss + 1, payload: "y"u8.ToArray());
        Assert.Equal(1, f.SendData("z"u8));
        f.ExpectNothing();
    }

    [Fact]
    public void SendOob_RetransmissionCarriesTheUrgentPointerAgain()
    {
        using var f = TcpFixture.Established();
        Assert.Equal(3, f.SendData("abc"u8, MSG_OOB));
        f.Expect(ACK | PSH | URG, seq: f.LocalIss + 1, ack: f.RemoteIss + 1, payload: "abc"u8.ToArray(), urgPtr: 3);
        f.AdvanceUntilSent(5000);
        f.Expect(ACK | PSH | URG, seq: f.LocalIss + 1, ack: f.RemoteIss + 1, payload: "abc"u8.ToArray(), urgPtr: 3);
    }

    [Fact]
    public void SendOob_PointerMoreThan64KAhead_Is0xFFFF_ThenTheExactOffset()
    {
        using var f = TcpFixture.Established();
        Assert.Equal(0, SocketCalls.Setsockopt(f.Files, f.Fd, SOL_SOCKET, SO_SNDBUF, 200_000));
        var data = new byte[70_000];
        for (int i = 0; i < data.Length; i++) data[i] = (byte)(i * 7);
        Assert.Equal(data.Length, f.SendData(data, MSG_OOB));
        // The initial window: ten segments of one MSS, none pushed (the PSH mark is on the last of the write).
        uint mss = f.Sk.MssCache;
        int clamped = 0, exact = 0;
        for (int i = 0; i < 10; i++)
        {
            int off = i * (int)mss;
            int ptr = data.Length - off; // snd_up - seq
            ushort urg = ptr < 0x10000 ? (ushort)ptr : (ushort)0xFFFF;
            if (urg == 0xFFFF) clamped++; else exact++;
            f.Expect(ACK | URG, seq: f.LocalIss + 1 + (uint)off, ack: f.RemoteIss + 1, payload: data.AsSpan(off, (int)mss).ToArray(), urgPtr: urg);
        }
        f.ExpectNothing();
        Assert.True(clamped > 0 && exact > 0, $"the window should hold both kinds ({clamped} clamped, {exact} exact)");
    }

    [Fact]
    public void SendOob_IntoAZeroWindow_ProbesCarryTheUrgentPointer()
    {
        using var f = TcpFixture.Established();
        f.Send(ACK, seq: f.RemoteIss + 1, ack: f.LocalIss + 1, window: 0);
        Assert.Equal(3, f.SendData("abc"u8, MSG_OOB));
        f.ExpectNothing();
        f.AdvanceUntilSent(5000);
        // tcp_write_wakeup(): the urgent probe at snd_una, then the usual one at snd_una - 1; both
        // start before snd_up, so both carry URG (the pointer counted from each one's sequence).
        f.Expect(ACK | URG, seq: f.LocalIss + 1, ack: f.RemoteIss + 1, payload: [], urgPtr: 3);
        f.Expect(ACK | URG, seq: f.LocalIss, ack: f.RemoteIss + 1, payload: [], urgPtr: 4);
        f.ExpectNothing();
    }

    // ================================================================== receiving

    [Fact]
    public void RecvUrg_ByteTakenOutOfBand_ReadStopsAtTheMark_OobReadOnce()
    {
        using var f = TcpFixture.Established();
        Assert.Equal(0, AtMark(f));
        Assert.Equal(-Errno.EINVAL, f.Recv(new byte[1], MSG_OOB)); // no urgent data
        // "abcde" with the urgent pointer 3: 'c' (offset 2) is the urgent byte.
        f.Send(ACK | PSH | URG, seq: f.RemoteIss + 1, ack: f.LocalIss + 1, payload: Abcde, urgPtr: 3);
        Assert.Equal(POLLIN | POLLPRI, Poll(f));
        Assert.Equal(0, AtMark(f));
        Assert.Equal(2, Inq(f)); // tcp_inq(): only the bytes before the mark
        var buf = new byte[100];
        Assert.Equal(2, f.Recv(buf));
        Assert.Equal("ab", Text(buf, 2));
        Assert.Equal(1, AtMark(f));
        Assert.Equal(0, Inq(f)); // at the mark, as Linux answers, though "de" is readable
        // At the mark: the urgent byte alone is not "readable" data, but "de" behind it is.
        Assert.Equal(POLLIN | POLLPRI, Poll(f));
        var one = new byte[1];
        Assert.Equal(1, f.Recv(one, MSG_OOB | MSG_PEEK));
        Assert.Equal((byte)'c', one[0]);
        var msg = new MsgHdr();
        Assert.Equal(1, SocketCalls.Recvmsg(f.Files, f.Fd, ref msg, one, MSG_OOB));
        Assert.Equal((byte)'c', one[0]);
        Assert.Equal(MSG_OOB, msg.Flags);
        Assert.Equal(-Errno.EINVAL, f.Recv(one, MSG_OOB)); // read already
        Assert.Equal(POLLIN, Poll(f));
        Assert.Equal(1, AtMark(f)); // still at the mark until the read passes it
        Assert.Equal(0, Inq(f));
        Assert.Equal(2, f.Recv(buf));
        Assert.Equal("de", Text(buf, 2));
        Assert.Equal(0, AtMark(f));
        Assert.Equal(0, f.Sk.UrgData);
        Assert.Equal(-Errno.EINVAL, f.Recv(one, MSG_OOB));
        Assert.Equal(-Errno.EAGAIN, f.Recv(buf));
    }

    [Fact]
    public void RecvUrg_ZeroLengthBuffer_ReportsTruncation_AndKeepsTheByte()
    {
        using var f = TcpFixture.Established();
        f.Send(ACK | PSH | URG, seq: f.RemoteIss + 1, ack: f.LocalIss + 1, payload: Abcde, urgPtr: 3);
        var msg = new MsgHdr();
        Assert.Equal(0, SocketCalls.Recvmsg(f.Files, f.Fd, ref msg, Span<byte>.Empty, MSG_OOB));
        Assert.Equal(MSG_OOB | MSG_TRUNC, msg.Flags);
        // tcp_recv_urg() marks the byte read even when it copied nothing.
        Assert.Equal(-Errno.EINVAL, f.Recv(new byte[1], MSG_OOB));
    }

    [Fact]
    public void RecvUrg_PointerBeyondTheData_OobIsEagain_UntilTheByteArrives()
    {
        using var f = TcpFixture.Established();
        // "ab" whose urgent pointer names the byte at offset 3, not yet sent.
        f.Send(ACK | PSH | URG, seq: f.RemoteIss + 1, ack: f.LocalIss + 1, payload: "ab"u8.ToArray(), urgPtr: 4);
        Assert.Equal(TcpSock.TcpUrgNotyet, f.Sk.UrgData);
        Assert.Equal(POLLIN, Poll(f));
        var one = new byte[1];
        Assert.Equal(-Errno.EAGAIN, f.Recv(one, MSG_OOB)); // never blocks
        var buf = new byte[100];
        Assert.Equal(2, f.Recv(buf));
        Assert.Equal(0, AtMark(f));
        f.Send(ACK | PSH, seq: f.RemoteIss + 3, ack: f.LocalIss + 1, payload: "cde"u8.ToArray());
        Assert.Equal(POLLIN | POLLPRI, Poll(f));
        Assert.Equal(1, f.Recv(one, MSG_OOB));
        Assert.Equal((byte)'d', one[0]);
        Assert.Equal(1, f.Recv(buf));
        Assert.Equal("c", Text(buf, 1));
        Assert.Equal(1, AtMark(f));
        Assert.Equal(1, f.Recv(buf));
        Assert.Equal("e", Text(buf, 1));
    }

    [Fact]
    public void RecvUrg_OobInline_ByteStaysInTheStream_ReadStillStopsAtTheMark()
    {
        using var f = TcpFixture.Established();
        Assert.Equal(0, SocketCalls.Setsockopt(f.Files, f.Fd, SOL_SOCKET, SO_OOBINLINE, 1));
        Assert.Equal(0, SocketCalls.Getsockopt(f.Files, f.Fd, SOL_SOCKET, SO_OOBINLINE, out int inline));
        Assert.Equal(1, inline);
        f.Send(ACK | PSH | URG, seq: f.RemoteIss + 1, ack: f.LocalIss + 1, payload: Abcde, urgPtr: 3);
        Assert.Equal(-Errno.EINVAL, f.Recv(new byte[1], MSG_OOB));
        Assert.Equal(5, Inq(f));
        var buf = new byte[100];
        Assert.Equal(2, f.Recv(buf));
        Assert.Equal("ab", Text(buf, 2));
        Assert.Equal(1, AtMark(f));
        Assert.Equal(POLLIN | POLLPRI, Poll(f));
        Assert.Equal(3, f.Recv(buf));
        Assert.Equal("cde", Text(buf, 3));
        Assert.Equal(0, AtMark(f));
        Assert.Equal(0, Poll(f));
    }

    [Fact]
    public void RecvUrg_SecondPointerReplacesTheFirst_TheOldByteBecomesData()
    {
        using var f = TcpFixture.Established();
        f.Send(ACK | PSH | URG, seq: f.RemoteIss + 1, ack: f.LocalIss + 1, payload: "abc"u8.ToArray(), urgPtr: 3);
        f.Send(ACK | PSH | URG, seq: f.RemoteIss + 4, ack: f.LocalIss + 1, payload: "xyz"u8.ToArray(), urgPtr: 3);
        Assert.Equal(f.RemoteIss + 6, f.Sk.UrgSeq);
        var one = new byte[1];
        Assert.Equal(1, f.Recv(one, MSG_OOB));
        Assert.Equal((byte)'z', one[0]);
        var buf = new byte[100];
        Assert.Equal(5, f.Recv(buf));
        Assert.Equal("abcxy", Text(buf, 5));
        Assert.Equal(1, AtMark(f));
        Assert.Equal(-Errno.EAGAIN, f.Recv(buf)); // the read steps over 'z' and finds nothing more
        Assert.Equal(0, AtMark(f));
    }

    [Fact]
    public void RecvUrg_NewPointerWhileAtAnOldMark_StepsOverTheOldByte()
    {
        using var f = TcpFixture.Established();
        f.Send(ACK | PSH | URG, seq: f.RemoteIss + 1, ack: f.LocalIss + 1, payload: "abc"u8.ToArray(), urgPtr: 3);
        var buf = new byte[100];
        Assert.Equal(2, f.Recv(buf));
        var one = new byte[1];
        Assert.Equal(1, f.Recv(one, MSG_OOB));
        Assert.Equal((byte)'c', one[0]);
        Assert.Equal(1, AtMark(f));
        // tcp_check_urg(): copied_seq moves past 'c' (and frees its now fully read buffer) before the new pointer is taken.
        f.Send(ACK | PSH | URG, seq: f.RemoteIss + 4, ack: f.LocalIss + 1, payload: "xyz"u8.ToArray(), urgPtr: 3);
        Assert.Equal(f.RemoteIss + 4, f.Sk.CopiedSeq);
        Assert.Equal(2, f.Recv(buf));
        Assert.Equal("xy", Text(buf, 2));
        Assert.Equal(1, f.Recv(one, MSG_OOB));
        Assert.Equal((byte)'z', one[0]);
    }

    [Fact]
    public void RecvUrg_PeekAcrossTheMark_SkipsTheUrgentByte_WithoutConsumingIt()
    {
        using var f = TcpFixture.Established();
        f.Send(ACK | PSH | URG, seq: f.RemoteIss + 1, ack: f.LocalIss + 1, payload: Abcde, urgPtr: 3);
        var buf = new byte[100];
        Assert.Equal(2, f.Recv(buf, MSG_PEEK));
        Assert.Equal("ab", Text(buf, 2));
        Assert.Equal(2, f.Recv(buf));
        Assert.Equal(2, f.Recv(buf, MSG_PEEK));
        Assert.Equal("de", Text(buf, 2));
        Assert.Equal(1, AtMark(f));
        var one = new byte[1];
        Assert.Equal(1, f.Recv(one, MSG_OOB | MSG_PEEK));
        Assert.Equal(1, f.Recv(one, MSG_OOB));
        Assert.Equal((byte)'c', one[0]);
        Assert.Equal(2, f.Recv(buf));
        Assert.Equal("de", Text(buf, 2));
    }

    [Fact]
    public void RecvUrg_Stdurg_PointerNamesTheUrgentByteItself()
    {
        using var f = TcpFixture.Established(s => s.TcpStdurg = true);
        f.Send(ACK | PSH | URG, seq: f.RemoteIss + 1, ack: f.LocalIss + 1, payload: Abcde, urgPtr: 3);
        var one = new byte[1];
        Assert.Equal(1, f.Recv(one, MSG_OOB));
        Assert.Equal((byte)'d', one[0]);
        var buf = new byte[100];
        Assert.Equal(3, f.Recv(buf));
        Assert.Equal("abc", Text(buf, 3));
    }

    // ================================================================== two stacks, allocation

    [Fact]
    public void UrgentDataBetweenTwoStacks_SteadyState_AllocatesNothing()
    {
        using var s = new TwoStacks();
        var (_, cfd, afd) = TcpTwoStackTests.Connect(s);
        var data = "helloX"u8.ToArray();
        var buf = new byte[64];
        var one = new byte[1];
        void Round()
        {
            // "hello" up to the mark, 'X' out of band; the next round's pointer steps over the old 'X'.
            if (SocketCalls.Send(s.A.Files, cfd, data, MSG_OOB) != 6) throw new Exception("send");
            s.Pump();
            if (SocketCalls.Recv(s.B.Files, afd, buf, 0) != 5) throw new Exception("recv");
            int mark = 0;
            if (SocketCalls.Ioctl(s.B.Files, afd, SIOCATMARK, ref mark) != 0 || mark != 1) throw new Exception("SIOCATMARK");
            if (SocketCalls.Recv(s.B.Files, afd, one, MSG_OOB) != 1 || one[0] != (byte)'X') throw new Exception("recv MSG_OOB");
            s.RunFor(50); // the delayed ACK
        }
        for (int i = 0; i < 500; i++) Round(); // warm-up: pools, timers, JIT tiers
        long rounds = 0;
        long allocated = SteadyState.LeastAllocated(() => { for (int i = 0; i < 2000; i++) Round(); rounds += 2000; });
        Assert.Equal(0, allocated);
        Assert.Equal("hello", Text(buf, 5));
        var receiver = (TcpSock)s.B.Files.Lookup(afd)!.Sk!;
        Assert.Equal((ulong)(500 + rounds) * 6, receiver.BytesReceived);
    }
}
