using System.Buffers.Binary;
using System.Text;
using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;
using NetStack.Tests.Tcp;
using NetStack.Tests.Udp;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Core;

/// <summary>
/// Faults contained (Core/Panic.cs): a registered protocol handler, a congestion control, a socket
/// callback or a protocol's system call that throws takes down only the socket involved (aborted
/// with ECONNABORTED) or the frame being processed; the fault is counted (Kernel: OopsCount) and
/// logged once per site, and everything else on the stack goes on. With kernel.panic_on_oops = 1
/// (this assembly's default, see PanicOnOops.cs) the exception propagates instead.
/// Two stacks over an in-memory link, virtual time, one thread.
/// </summary>
[Collection(NetStack.Tests.Tcp.CongestionRegistryCollection.Name)]
public class FaultContainmentTests
{
    private const int IPPROTO_EXP = 253; // RFC 3692 experimentation

    private static void Contain(NetNamespace net) => Assert.Equal(0, net.Sysctl.TrySet("kernel.panic_on_oops", "0"));

    private static long Oopses(NetNamespace net) => net.Mib.Kernel[KernelMib.OopsCount];

    private static string[] OopsLines(NetNamespace net) => net.Log.Read().Where(l => l.Contains("Oops:")).ToArray();

    /// <summary>An experimenter's IP protocol handler that throws on frames whose first byte is odd.</summary>
    private sealed class OddThrower
    {
        public int Delivered;

        public int Rcv(SkBuff skb)
        {
            if ((skb.DataSpan[0] & 1) != 0) throw new InvalidOperationException("odd frame");
            Delivered++;
            skb.Free();
            return 0;
        }
    }

    /// <summary>A TCP flow from A (client) to B (accepted end), driven without blocking.</summary>
    private sealed class Flow(int c, int s, int size, int seed)
    {
        public readonly int C = c, S = s;
        public readonly byte[] Data = Random(size, seed);
        public readonly MemoryStream Got = new();
        public int Sent, SendErr, RecvErr;
        public bool Eof;
        public bool Done => Got.Length == Data.Length;

        public void Step(TwoStacks st, byte[] buf)
        {
            if (SendErr == 0 && Sent < Data.Length)
            {
                int n = SocketCalls.Send(st.A.Files, C, Data.AsSpan(Sent, Math.Min(16384, Data.Length - Sent)), MSG_NOSIGNAL);
                if (n > 0) Sent += n;
                else if (n != -Errno.EAGAIN) SendErr = n;
            }
            while (RecvErr == 0 && !Eof)
            {
                int r = SocketCalls.Recv(st.B.Files, S, buf, 0);
                if (r > 0) Got.Write(buf, 0, r);
                else if (r == 0) Eof = true;
                else
                {
                    if (r != -Errno.EAGAIN) RecvErr = r;
                    break;
                }
            }
        }
    }

    private static byte[] Random(int size, int seed)
    {
        var b = new byte[size];
        new Random(seed).NextBytes(b);
        return b;
    }

    private static int Listen(TwoStacks s, ushort port)
    {
        int l = TcpTwoStackTests.Sock(s.B);
        Assert.Equal(0, SocketCalls.Bind(s.B.Files, l, SockAddr.In(TwoStacks.AddrB, port)));
        Assert.Equal(0, SocketCalls.Listen(s.B.Files, l, 8));
        return l;
    }

    private static Flow Connect(TwoStacks s, int lfd, ushort port, int size, string? cc = null)
    {
        int c = TcpTwoStackTests.Sock(s.A);
        if (cc is not null) Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, c, SOL_TCP, TCP_CONGESTION, Encoding.ASCII.GetBytes(cc)));
        int r = SocketCalls.Connect(s.A.Files, c, SockAddr.In(TwoStacks.AddrB, port));
        Assert.True(r is 0 or -Errno.EINPROGRESS, Errno.Name(r));
        s.Pump();
        int a = SocketCalls.Accept4(s.B.Files, lfd, out _, SOCK_NONBLOCK);
        Assert.True(a >= 0, Errno.Name(a));
        return new Flow(c, a, size, port);
    }

    /// <summary>Closes every descriptor and lets every timer run out: what is still out of the pool was left there by a fault.</summary>
    private static void CloseAllAndCheckBuffers(TwoStacks s)
    {
        foreach (var net in new[] { s.A, s.B })
        {
            for (int fd = 0; fd < 64; fd++)
                if (net.Files.Lookup(fd) is not null) SocketCalls.Close(net.Files, fd);
        }
        s.RunFor(600_000);
        foreach (var net in new[] { s.A, s.B })
        {
            lock (net.SyncRoot)
                Assert.Equal(net.Mib.Kernel[KernelMib.OopsSkbLeaked], net.SkbPool.Total - net.SkbPool.FreeCount);
        }
    }

    [Fact]
    public void ThrowingIpProtocol_ItsFramesAreDropped_TcpTransferAndPingOnTheSameStackComplete()
    {
        using var s = new TwoStacks();
        Contain(s.B);
        var handler = new OddThrower();
        Assert.Equal(0, s.B.InetAddProtocol(new NetProtocol(handler.Rcv), IPPROTO_EXP));
        int raw = SocketCalls.Socket(s.A.Files, AF_INET, SOCK_RAW | SOCK_NONBLOCK, IPPROTO_EXP);
        int ping = SocketCalls.Socket(s.A.Files, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, IPPROTO_ICMP);
        int lfd = Listen(s, 6100);
        var flow = Connect(s, lfd, 6100, 300_000);

        var buf = new byte[65536];
        int frames = 0, pings = 0, replies = 0;
        for (int i = 0; i < 100_000 && !(flow.Done && replies == 2); i++)
        {
            flow.Step(s, buf);
            if (frames < 20)
                Assert.Equal(4, SocketCalls.Sendto(s.A.Files, raw, [(byte)frames++, 1, 2, 3], 0, SockAddr.In(TwoStacks.AddrB, 0)));
            if (pings < 2 && (i == 0 || frames == 20))
            {
                Assert.Equal(16, SocketCalls.Sendto(s.A.Files, ping, PingRawTests.EchoRequest(7, (ushort)++pings), 0, SockAddr.In(TwoStacks.AddrB, 0)));
            }
            s.Pump();
            while (SocketCalls.Recv(s.A.Files, ping, buf, 0) == 16)
            {
                Assert.Equal(0, buf[0]); // echo reply
                replies++;
            }
            s.RunFor(1);
        }

        Assert.Equal((0, 0), (flow.SendErr, flow.RecvErr));
        Assert.True(flow.Done, $"{flow.Got.Length} of {flow.Data.Length} bytes");
        Assert.Equal(flow.Data, flow.Got.ToArray());
        Assert.Equal(2, replies);
        Assert.Equal(10, handler.Delivered);              // the even frames
        Assert.Equal(10, Oopses(s.B));                     // the odd ones, each contained
        // ... and readable where nstat reads the counters (the control socket's counters op).
        Assert.Equal(10, NetStack.Api.NetStackInfo.GetCounters(s.B).Single(c => c.Key == "KernelOopsCount").Value);
        Assert.Equal(0, Oopses(s.A));
        // The handler threw before it freed its buffer: nobody owns it, so it is left out of the pool and counted.
        Assert.Equal(10, s.B.Mib.Kernel[KernelMib.OopsSkbLeaked]);
        var line = Assert.Single(OopsLines(s.B));           // logged once for the site, counted ten times
        Assert.Contains("Oops: InvalidOperationException: odd frame [#1] at OddThrower.Rcv in ip_local_deliver (inet_protos[253] OddThrower.Rcv): frame dropped", line);
        CloseAllAndCheckBuffers(s);
    }

    /// <summary>A congestion control that works for a while, then throws in cong_avoid.</summary>
    private sealed class ThrowAfter(string name, int acks) : TcpCongestionOps
    {
        public int Calls;
        public override string Name => name;
        public override uint Ssthresh(TcpSock tp) => TcpReno.Instance.Ssthresh(tp);
        public override uint UndoCwnd(TcpSock tp) => TcpReno.Instance.UndoCwnd(tp);
        public override void CongAvoid(TcpSock tp, uint ack, uint acked)
        {
            if (++Calls > acks) throw new InvalidOperationException("cong_avoid gave up");
            TcpReno.Instance.CongAvoid(tp, ack, acked);
        }
    }

    [Fact]
    public void ThrowingCongestionControl_ResetsItsConnection_OwnerSeesEconnaborted_CubicConnectionCompletes()
    {
        var ca = new ThrowAfter("oops_after20", 20);
        Assert.Equal(0, TcpCong.TcpRegisterCongestionControl(ca));
        try
        {
            using var s = new TwoStacks();
            Contain(s.A);
            int lfd = Listen(s, 6200);
            var bad = Connect(s, lfd, 6200, 1_000_000, "oops_after20");
            var good = Connect(s, lfd, 6200, 400_000);
            var buf = new byte[65536];
            for (int i = 0; i < 100_000 && !(good.Done && bad.RecvErr != 0); i++)
            {
                bad.Step(s, buf);
                good.Step(s, buf);
                s.Pump();
                s.RunFor(1);
            }

            Assert.Equal(21, ca.Calls);
            // The owner learns once, from its next call, that the socket was aborted; then it is closed.
            Assert.Equal(-Errno.ECONNABORTED, bad.SendErr);
            Assert.Equal(-Errno.EPIPE, SocketCalls.Send(s.A.Files, bad.C, [1], MSG_NOSIGNAL));
            Assert.Equal(0, SocketCalls.Getsockopt(s.A.Files, bad.C, SOL_SOCKET, SO_ERROR, out int soError));
            Assert.Equal(0, soError);
            // The peer got the RST of tcp_abort() and read what had arrived before it.
            Assert.Equal(-Errno.ECONNRESET, bad.RecvErr);
            Assert.True(bad.Got.Length > 0 && bad.Got.Length < bad.Data.Length);
            Assert.Equal(bad.Data.AsSpan(0, (int)bad.Got.Length).ToArray(), bad.Got.ToArray());
            // The other connection, on CUBIC, on the same stack, completed intact.
            Assert.Equal((0, 0), (good.SendErr, good.RecvErr));
            Assert.Equal(good.Data, good.Got.ToArray());
            Assert.Equal("cubic", ((TcpSock)s.A.Files.Lookup(good.C)!.Sk!).CaOps.Name);

            Assert.Equal(1, Oopses(s.A));
            var line = Assert.Single(OopsLines(s.A));
            Assert.Matches(@"Oops: InvalidOperationException: cong_avoid gave up \[#1\] at ThrowAfter\.CongAvoid in tcp_v4_rcv \(tcp_congestion_ops oops_after20\), sk TCP 10\.9\.0\.1:\d+->10\.9\.0\.2:6200: socket aborted$", line);
            CloseAllAndCheckBuffers(s);
        }
        finally
        {
            TcpCong.TcpUnregisterCongestionControl(ca);
        }
    }

    /// <summary>A congestion control whose ssthresh throws: called first by the retransmission timer (tcp_enter_loss).</summary>
    private sealed class ThrowingSsthresh : TcpCongestionOps
    {
        public override string Name => "oops_ssthresh";
        public override uint Ssthresh(TcpSock tp) => throw new NotSupportedException("no ssthresh");
        public override uint UndoCwnd(TcpSock tp) => tp.SndCwnd;
        public override void CongAvoid(TcpSock tp, uint ack, uint acked) => TcpReno.Instance.CongAvoid(tp, ack, acked);
    }

    [Fact]
    public void ThrowingCongestionControlInATimer_AbortsThatSocket_TheTimerWheelGoesOn()
    {
        var ca = new ThrowingSsthresh();
        Assert.Equal(0, TcpCong.TcpRegisterCongestionControl(ca));
        try
        {
            using var s = new TwoStacks();
            Contain(s.A);
            int lfd = Listen(s, 6300);
            var bad = Connect(s, lfd, 6300, 1000, "oops_ssthresh");
            var good = Connect(s, lfd, 6300, 1000);
            // B goes silent: both connections' data is lost and their retransmission timers fire.
            s.B.DevChangeUp(s.B.Devices.Single(d => d != s.B.Loopback), false);
            Assert.Equal(1000, SocketCalls.Send(s.A.Files, bad.C, bad.Data, MSG_NOSIGNAL));
            Assert.Equal(1000, SocketCalls.Send(s.A.Files, good.C, good.Data, MSG_NOSIGNAL));
            s.RunFor(2_000);
            // The faulting socket was aborted from its timer; the other one is still retransmitting.
            Assert.Equal(-Errno.ECONNABORTED, SocketCalls.Send(s.A.Files, bad.C, [1], MSG_NOSIGNAL));
            var goodTp = (TcpSock)s.A.Files.Lookup(good.C)!.Sk!;
            Assert.Equal(TcpState.Established, goodTp.State);
            Assert.True(s.A.Mib.Tcp[TcpMib.RetransSegs] > 0);
            s.B.DevChangeUp(s.B.Devices.Single(d => d != s.B.Loopback), true);
            s.RunFor(5_000);
            var buf = new byte[4096];
            good.Step(s, buf);
            Assert.Equal(good.Data, good.Got.ToArray());
            Assert.Equal(1, Oopses(s.A));
            var line = Assert.Single(OopsLines(s.A));
            Assert.Contains("Oops: NotSupportedException: no ssthresh [#1] at ThrowingSsthresh.Ssthresh in run_timer_softirq", line);
            Assert.EndsWith(": socket aborted", line);
        }
        finally
        {
            TcpCong.TcpUnregisterCongestionControl(ca);
        }
    }

    /// <summary>
    /// An experimenter's datagram protocol on IP protocol 253 (as samples/CustomProtocol): a 2-byte
    /// destination port, then the payload. Its sock can be told to throw in its data-ready callback
    /// or in sendmsg.
    /// </summary>
    private sealed class ExpProt : Proto
    {
        private readonly Dictionary<ushort, ExpSock> _bound = new();
        public override string Name => "EXP";
        public override Sock? CreateSock(NetNamespace net) => new ExpSock();
        public override void Close(Sock sk, long timeout) => AfInet.SkCommonRelease(sk);
        public override void Unhash(Sock sk)
        {
            var e = (ExpSock)sk;
            if (_bound.TryGetValue(e.InetNum, out var b) && b == e) _bound.Remove(e.InetNum);
        }

        public override int GetPort(Sock sk, ushort snum)
        {
            if (_bound.ContainsKey(snum)) return -Errno.EADDRINUSE;
            ((ExpSock)sk).InetNum = snum;
            _bound[snum] = (ExpSock)sk;
            return 0;
        }

        public override int Sendmsg(Sock sk, ref MsgHdr msg, ReadOnlySpan<byte> data)
        {
            if (((ExpSock)sk).ThrowOnSend) throw new InvalidOperationException("sendmsg bug");
            return data.Length;
        }

        public override int Recvmsg(Sock sk, ref MsgHdr msg, Span<byte> buf, int flags)
        {
            var skb = Datagram.SkbRecvDatagram(sk, flags, out int err);
            if (skb is null) return err;
            int n = Math.Min(buf.Length, skb.Len);
            skb.DataSpan[..n].CopyTo(buf);
            sk.SkbFreeDatagram(skb);
            return n;
        }

        public int Rcv(SkBuff skb)
        {
            var net = skb.Dev!.Net!;
            if (skb.Len < 2 || !_bound.TryGetValue(BinaryPrimitives.ReadUInt16BigEndian(skb.DataSpan), out var sk))
                return net.KfreeSkbReason(skb, SkbDropReason.NotSpecified);
            skb.Pull(2);
            if (sk.SockQueueRcvSkb(skb) < 0) return net.KfreeSkbReason(skb, SkbDropReason.SocketRcvBuff);
            return 0;
        }
    }

    private sealed class ExpSock : InetSock
    {
        public bool ThrowOnDataReady, ThrowOnSend;

        public override void DataReady()
        {
            if (ThrowOnDataReady) throw new InvalidOperationException("data_ready bug");
            base.DataReady();
        }
    }

    private static (ExpProt Prot, int Raw) ExpSetup(TwoStacks s)
    {
        var prot = new ExpProt();
        Assert.Equal(0, AfInet.InetRegisterProtosw(s.B, new InetProtosw(SOCK_DGRAM, IPPROTO_EXP, prot, InetDgramOps.Instance, 0)));
        Assert.Equal(0, s.B.InetAddProtocol(new NetProtocol(prot.Rcv), IPPROTO_EXP));
        int raw = SocketCalls.Socket(s.A.Files, AF_INET, SOCK_RAW | SOCK_NONBLOCK, IPPROTO_EXP);
        return (prot, raw);
    }

    /// <summary>A bound socket of the protocol on B; blocking, so a read of a shut-down socket ends (0) instead of EAGAIN.</summary>
    private static int ExpBind(TwoStacks s, ushort port)
    {
        int fd = SocketCalls.Socket(s.B.Files, AF_INET, SOCK_DGRAM, IPPROTO_EXP);
        Assert.True(fd >= 0, Errno.Name(fd));
        Assert.Equal(0, SocketCalls.Bind(s.B.Files, fd, SockAddr.In(TwoStacks.AddrB, port)));
        return fd;
    }

    private static void ExpSend(TwoStacks s, int raw, ushort port, string text)
    {
        var p = new byte[2 + text.Length];
        BinaryPrimitives.WriteUInt16BigEndian(p, port);
        Encoding.ASCII.GetBytes(text, p.AsSpan(2));
        Assert.Equal(p.Length, SocketCalls.Sendto(s.A.Files, raw, p, 0, SockAddr.In(TwoStacks.AddrB, 0)));
        s.Pump();
    }

    private static string Read(TwoStacks s, int fd, out int r)
    {
        var buf = new byte[256];
        r = SocketCalls.Recv(s.B.Files, fd, buf, 0);
        return r > 0 ? Encoding.ASCII.GetString(buf, 0, r) : "";
    }

    [Fact]
    public void ThrowingDataReady_AbortsThatSocket_ItsQueuedDatagramStaysReadable_OtherSocketsKeepReceiving()
    {
        using var s = new TwoStacks();
        Contain(s.B);
        var (_, raw) = ExpSetup(s);
        int badFd = ExpBind(s, 7001), goodFd = ExpBind(s, 7002);
        ((ExpSock)s.B.Files.Lookup(badFd)!.Sk!).ThrowOnDataReady = true;
        int udp = SocketCalls.Socket(s.B.Files, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        Assert.Equal(0, SocketCalls.Bind(s.B.Files, udp, SockAddr.In(TwoStacks.AddrB, 5000)));
        int udpA = SocketCalls.Socket(s.A.Files, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);

        ExpSend(s, raw, 7001, "one");      // queued on the bad socket, whose sk_data_ready then throws
        ExpSend(s, raw, 7002, "two");
        Assert.Equal(3, SocketCalls.Sendto(s.A.Files, udpA, "udp"u8, 0, SockAddr.In(TwoStacks.AddrB, 5000)));
        s.Pump();
        ExpSend(s, raw, 7001, "three");    // the aborted socket is out of the table: dropped, no fault
        ExpSend(s, raw, 7002, "four");

        // The abort's error once (sk_err comes first, as __skb_try_recv_datagram() checks it first),
        // then the datagram queued before the fault, then end of file: the socket is shut down.
        Read(s, badFd, out int r);
        Assert.Equal(-Errno.ECONNABORTED, r);
        Assert.Equal("one", Read(s, badFd, out _));
        Read(s, badFd, out r);
        Assert.Equal(0, r);
        Assert.Equal("two", Read(s, goodFd, out _));
        Assert.Equal("four", Read(s, goodFd, out _));
        var buf = new byte[16];
        Assert.Equal(3, SocketCalls.Recv(s.B.Files, udp, buf, 0));

        Assert.Equal(1, Oopses(s.B));
        Assert.Equal(0, s.B.Mib.Kernel[KernelMib.OopsSkbLeaked]); // the buffer was on the socket's queue
        var line = Assert.Single(OopsLines(s.B));
        Assert.Contains("Oops: InvalidOperationException: data_ready bug [#1] at ExpSock.DataReady in ip_local_deliver (inet_protos[253] ExpProt.Rcv), sk EXP 10.9.0.2:7001->0.0.0.0:0: socket aborted", line);
        CloseAllAndCheckBuffers(s);
    }

    [Fact]
    public void ThrowingSendmsg_TheCallFailsWithEconnaborted_TheSocketIsShutDown_OthersWork()
    {
        using var s = new TwoStacks();
        Contain(s.B);
        ExpSetup(s);
        int badFd = ExpBind(s, 7101), goodFd = ExpBind(s, 7102);
        ((ExpSock)s.B.Files.Lookup(badFd)!.Sk!).ThrowOnSend = true;
        var to = SockAddr.In(TwoStacks.AddrA, 7000);

        Assert.Equal(-Errno.ECONNABORTED, SocketCalls.Sendto(s.B.Files, badFd, "x"u8, 0, to));
        Assert.Equal(0, SocketCalls.Recv(s.B.Files, badFd, new byte[8], 0)); // shut down: end of file
        Assert.Equal(0, SocketCalls.Getsockopt(s.B.Files, badFd, SOL_SOCKET, SO_ERROR, out int soError));
        Assert.Equal(0, soError);                                            // reported once, by the call
        Assert.Equal(1, SocketCalls.Sendto(s.B.Files, goodFd, "y"u8, 0, to));
        Assert.Equal(1, Oopses(s.B));
        var line = Assert.Single(OopsLines(s.B));
        Assert.Contains("Oops: InvalidOperationException: sendmsg bug [#1] at ExpProt.Sendmsg in __sys_sendto (EXP), sk EXP 10.9.0.2:7101->0.0.0.0:0: socket aborted", line);
        Assert.Equal(0, SocketCalls.Close(s.B.Files, badFd));
    }

    [Fact]
    public void PanicOnOops1_TheExceptionPropagates_NothingIsCounted()
    {
        using var s = new TwoStacks();
        Assert.True(s.B.Sysctl.TryGet("kernel.panic_on_oops", out var v));
        Assert.Equal("1", v); // this assembly's default (PanicOnOops.cs)
        Assert.Equal(-Errno.EINVAL, s.B.Sysctl.TrySet("kernel.panic_on_oops", "-1"));
        var handler = new OddThrower();
        Assert.Equal(0, s.B.InetAddProtocol(new NetProtocol(handler.Rcv), IPPROTO_EXP));
        int raw = SocketCalls.Socket(s.A.Files, AF_INET, SOCK_RAW | SOCK_NONBLOCK, IPPROTO_EXP);
        Assert.Equal(1, SocketCalls.Sendto(s.A.Files, raw, [1], 0, SockAddr.In(TwoStacks.AddrB, 0)));
        var e = Assert.Throws<InvalidOperationException>(() => s.Pump());
        Assert.Equal("odd frame", e.Message);
        Assert.Equal(0, Oopses(s.B));
        Assert.Empty(OopsLines(s.B));

        // The same fault with 0 is contained.
        Contain(s.B);
        Assert.Equal(1, SocketCalls.Sendto(s.A.Files, raw, [3], 0, SockAddr.In(TwoStacks.AddrB, 0)));
        s.Pump();
        Assert.Equal(1, Oopses(s.B));
    }
}
