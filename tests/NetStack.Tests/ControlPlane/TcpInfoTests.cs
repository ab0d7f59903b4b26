using System.Buffers.Binary;
using System.Net;
using NetStack.Api;
using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;
using NetStack.Tests.Tcp;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.ControlPlane;

public class TcpInfoTests
{
    private static byte[] GetInfo(NetNamespace net, int fd, ref int len)
    {
        var b = new byte[Math.Max(len, 0) + 16];
        b.AsSpan().Fill(0xA5);
        Assert.Equal(0, SocketCalls.Getsockopt(net.Files, fd, IPPROTO_TCP, TCP_INFO, b, ref len));
        return b;
    }

    [Fact]
    public void TcpInfo_Established_AfterTransfer_FieldsInLinuxLayout()
    {
        using var s = new TwoStacks();
        var (_, cfd, afd) = TcpTwoStackTests.Connect(s);
        var data = new byte[10_000];
        Assert.Equal(data.Length, SocketCalls.Send(s.A.Files, cfd, data, 0));
        s.RunFor(50);
        var buf = new byte[20_000];
        Assert.Equal(data.Length, SocketCalls.Recv(s.B.Files, afd, buf, 0));
        s.RunFor(500);

        int len = 1000;
        var b = GetInfo(s.A, cfd, ref len);
        Assert.Equal(TcpInfo.Size, len);           // min(optlen, sizeof(struct tcp_info))
        Assert.Equal(280, len);                    // Linux 6.18's sizeof(struct tcp_info)
        Assert.Equal(0xA5, b[len]);                // nothing beyond
        Assert.Equal((byte)TcpState.Established, b[0]);
        Assert.Equal((byte)TcpCaState.Open, b[1]);
        // Timestamps, SACK and window scaling are negotiated between two stacks by default.
        Assert.Equal(1 | 2 | 4, b[5]);
        Assert.Equal(1448u, BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(16)));   // snd_mss: 1460 less the timestamp option
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(24)));      // unacked
        Assert.Equal(10_001ul, BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(120))); // bytes_acked: the SYN counts, as in Linux
        Assert.Equal(10_000ul, BinaryPrimitives.ReadUInt64LittleEndian(b.AsSpan(200))); // bytes_sent

        var info = TcpInfo.Parse(b.AsSpan(0, len), "cubic");
        var api = new NetSocket(s.A.Files, cfd);
        var viaApi = NetStackInfo.GetTcpInfo(s.A, cfd)!.Value;
        Assert.Equal(info.BytesAcked, viaApi.BytesAcked);
        Assert.Equal("cubic", viaApi.CongestionControl);
        Assert.True(info.Timestamps && info.Sack && info.WindowScaling);
        Assert.Equal(7, info.ReceiveWindowScale);
        Assert.Equal(7, info.SendWindowScale);
        Assert.Equal(TcpState.Established, info.State);
        Assert.True(info.Rtt > TimeSpan.Zero || info.Rtt == TimeSpan.Zero); // virtual time: an RTT of 0 µs is possible
        Assert.True(info.Rto >= TimeSpan.FromMilliseconds(200));
        Assert.NotNull(info.MinRtt);
        Assert.Equal(1500, info.Pmtu);
        Assert.True(info.SegmentsOut >= 8 && info.DataSegmentsOut >= 7, $"{info.SegmentsOut} {info.DataSegmentsOut}");
        Assert.Equal(0, info.DataSegmentsIn);
        Assert.Equal(0ul, info.BytesReceived);
        Assert.True(info.SendCwnd >= 10);
        Assert.Equal(int.MaxValue, info.SendSsthresh);
        Assert.Equal(ulong.MaxValue, info.MaxPacingRate);
        Assert.True(info.SendWindow > 0 && info.ReceiveWindow > 0);
        Assert.Equal(0, info.NotSentBytes);

        var rcv = NetStackInfo.GetTcpInfo(s.B, afd)!.Value;
        Assert.Equal(10_000ul, rcv.BytesReceived);
        Assert.True(rcv.DataSegmentsIn >= 7);
        Assert.Equal(0ul, rcv.BytesSent);
        Assert.True(rcv.ReceiveMss > 1000);
        Assert.True(rcv.LastDataReceived >= TimeSpan.FromMilliseconds(400));
        Assert.Equal(0, rcv.ReceiveOutOfOrderPackets);
        GC.KeepAlive(api);
    }

    [Fact]
    public void TcpInfo_ShortOptlen_CopiesPrefix_AndNegativeIsEinval()
    {
        using var s = new TwoStacks();
        var (_, cfd, _) = TcpTwoStackTests.Connect(s);
        int len = 8;
        var b = GetInfo(s.A, cfd, ref len);
        Assert.Equal(8, len);
        Assert.Equal((byte)TcpState.Established, b[0]);
        Assert.Equal(0xA5, b[8]);
        len = 0;
        GetInfo(s.A, cfd, ref len);
        Assert.Equal(0, len);
        len = -1;
        Assert.Equal(-Errno.EINVAL, SocketCalls.Getsockopt(s.A.Files, cfd, IPPROTO_TCP, TCP_INFO, new byte[4], ref len));
    }

    [Fact]
    public void TcpInfo_Listener_UnackedIsAcceptQueue_SackedIsBacklog()
    {
        using var s = new TwoStacks();
        int lfd = TcpTwoStackTests.Sock(s.B);
        Assert.Equal(0, SocketCalls.Bind(s.B.Files, lfd, SockAddr.In(TwoStacks.AddrB, 5000)));
        Assert.Equal(0, SocketCalls.Listen(s.B.Files, lfd, 16));
        int cfd = TcpTwoStackTests.Sock(s.A);
        SocketCalls.Connect(s.A.Files, cfd, SockAddr.In(TwoStacks.AddrB, 5000));
        s.Pump();
        var info = NetStackInfo.GetTcpInfo(s.B, lfd)!.Value;
        Assert.Equal(TcpState.Listen, info.State);
        Assert.Equal(1, info.Unacked);
        Assert.Equal(16, info.Sacked);
        Assert.Equal(0, info.SendMss);
    }

    [Fact]
    public void TcpInfo_Options_FollowSysctls()
    {
        using var s = new TwoStacks();
        Assert.Equal(0, s.A.Sysctl.TrySet("net.ipv4.tcp_sack", "0"));
        Assert.Equal(0, s.A.Sysctl.TrySet("net.ipv4.tcp_timestamps", "0"));
        Assert.Equal(0, s.A.Sysctl.TrySet("net.ipv4.tcp_window_scaling", "0"));
        var (_, cfd, afd) = TcpTwoStackTests.Connect(s);
        var a = NetStackInfo.GetTcpInfo(s.A, cfd)!.Value;
        var b = NetStackInfo.GetTcpInfo(s.B, afd)!.Value;
        Assert.Equal(0, a.Options);
        Assert.Equal(0, b.Options);
        Assert.Equal(0, a.SendWindowScale);
        Assert.Equal(1460, a.SendMss);
    }

    [Fact]
    public void TcpInfo_Retransmission_CountsRtoAndRetrans()
    {
        using var s = new TwoStacks();
        var (_, cfd, _) = TcpTwoStackTests.Connect(s);
        using var drop = NetStack.Drivers.FaultInjector.Attach(s.Link.A, "loss=100%,dir=tx");
        Assert.Equal(100, SocketCalls.Send(s.A.Files, cfd, new byte[100], 0));
        s.RunFor(2000);
        var info = NetStackInfo.GetTcpInfo(s.A, cfd)!.Value;
        Assert.Equal(TcpCaState.Loss, info.CaState);
        Assert.True(info.Retransmits >= 1 && info.Backoff >= 1, $"{info.Retransmits} {info.Backoff}");
        Assert.True(info.TotalRetrans >= 1);
        Assert.True(info.TotalRto >= 1);
        Assert.Equal(1, info.TotalRtoRecoveries);
        Assert.True(info.BytesRetrans >= 100);
        Assert.Equal(1, info.Unacked);
        Assert.True(info.Rto > TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public void TcpCongestion_ReturnsNameZeroPadded_AtMost16Bytes()
    {
        using var s = new TwoStacks();
        int fd = TcpTwoStackTests.Sock(s.A);
        var b = new byte[40];
        b.AsSpan().Fill(0xA5);
        int len = b.Length;
        Assert.Equal(0, SocketCalls.Getsockopt(s.A.Files, fd, IPPROTO_TCP, TCP_CONGESTION, b, ref len));
        Assert.Equal(16, len);
        Assert.Equal("cubic\0\0\0\0\0\0\0\0\0\0\0"u8.ToArray(), b[..16]);
        Assert.Equal(0xA5, b[16]);
        using var sock = new NetSocket(s.A.Files, fd);
        Assert.Equal("cubic", sock.GetTcpInfo().CongestionControl);
        sock.SetOption(IPPROTO_TCP, TCP_NODELAY, 1);
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, fd, IPPROTO_TCP, TCP_CONGESTION, "reno"u8));
        Assert.Equal("reno", sock.GetTcpInfo().CongestionControl);
        Assert.Equal(TcpState.Close, sock.GetTcpInfo().State);
    }

    [Fact]
    public void GetSockets_CarriesTcpInfo_ForTcpOnly()
    {
        using var s = new TwoStacks();
        var (_, cfd, _) = TcpTwoStackTests.Connect(s);
        using var udp = new NetSocket(s.A, System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
        var list = NetStackInfo.GetSockets(s.A);
        var tcp = Assert.Single(list, x => x.Fd == cfd);
        Assert.NotNull(tcp.TcpInfo);
        Assert.Equal("cubic", tcp.TcpInfo!.Value.CongestionControl);
        Assert.Equal(TcpState.Established, tcp.TcpInfo.Value.State);
        Assert.Null(Assert.Single(list, x => x.Fd == udp.Fd).TcpInfo);
        Assert.Null(NetStackInfo.GetTcpInfo(s.A, udp.Fd));
        Assert.Throws<NetStackException>(() => udp.GetTcpInfo());
    }

    [Fact]
    public void GetSockets_OfAnotherTable_ListsItsSockets_NotTheStacks_AndNotAClosedOne()
    {
        using var s = new TwoStacks();
        var (_, cfd, _) = TcpTwoStackTests.Connect(s);
        var other = new FdTable(s.A); // a control client's table
        int ofd = SocketCalls.Socket(other, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        Assert.Equal(-Errno.EINPROGRESS, SocketCalls.Connect(other, ofd, SockAddr.In(TwoStacks.AddrB, 5000)));
        s.Pump();
        var row = Assert.Single(NetStackInfo.GetSockets(other));
        Assert.Equal(ofd, row.Fd);
        Assert.Equal(TcpState.Established, row.State);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("10.9.0.2"), 5000), row.RemoteEndPoint);
        Assert.DoesNotContain(NetStackInfo.GetSockets(s.A), x => x.LocalEndPoint.Equals(row.LocalEndPoint));
        Assert.Contains(NetStackInfo.GetSockets(s.A), x => x.Fd == cfd);

        // Closed: gone from the table's view, though its sock still finishes the close in the stack.
        Assert.Equal(0, SocketCalls.Close(other, ofd));
        Assert.Empty(NetStackInfo.GetSockets(other));
    }

    [Fact]
    public void TcpGetInfo_AllocatesNothing()
    {
        using var s = new TwoStacks();
        var (_, cfd, _) = TcpTwoStackTests.Connect(s);
        var b = new byte[TcpInfo.Size];
        int len = b.Length;
        SocketCalls.Getsockopt(s.A.Files, cfd, IPPROTO_TCP, TCP_INFO, b, ref len);
        Assert.Equal(0, SteadyState.LeastAllocated(() =>
        {
            for (int i = 0; i < 1000; i++)
            {
                len = b.Length;
                SocketCalls.Getsockopt(s.A.Files, cfd, IPPROTO_TCP, TCP_INFO, b, ref len);
            }
        }));
    }
}

public class TcpSocketsDumpTests
{
    [Fact]
    public void GetTcpSockets_ListsEveryTable_Listeners_Connections_TimeWait()
    {
        using var s = new TwoStacks();
        var (lfd, cfd, afd) = TcpTwoStackTests.Connect(s);
        // A second caller with a descriptor table of its own (as a control-socket client has).
        var other = new FdTable(s.A);
        int ofd = SocketCalls.Socket(other, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        Assert.Equal(-Errno.EINPROGRESS, SocketCalls.Connect(other, ofd, SockAddr.In(TwoStacks.AddrB, 5000)));
        s.Pump();
        Assert.Equal(5, SocketCalls.Send(s.A.Files, cfd, "hello"u8, 0));
        s.Pump();

        var a = NetStackInfo.GetTcpSockets(s.A);
        Assert.Equal(2, a.Count);
        var mine = Assert.Single(a, x => x.Fd == cfd);
        Assert.Equal(TcpState.Established, mine.State);
        Assert.NotNull(mine.TcpInfo);
        var theirs = Assert.Single(a, x => x.Fd == -1);
        Assert.Equal(TcpState.Established, theirs.State);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("10.9.0.2"), 5000), theirs.RemoteEndPoint);
        Assert.DoesNotContain(NetStackInfo.GetSockets(s.A), x => x.LocalEndPoint.Equals(theirs.LocalEndPoint));

        var b = NetStackInfo.GetTcpSockets(s.B);
        var listener = b[0];                          // listeners first, as inet_diag dumps them
        Assert.Equal(TcpState.Listen, listener.State);
        Assert.Equal(lfd, listener.Fd);
        Assert.Equal(1, listener.ReceiveQueue);       // the second connection waits in the accept queue
        Assert.Equal(16, listener.SendQueue);         // the backlog
        Assert.Null(listener.RemoteEndPoint);
        var accepted = Assert.Single(b, x => x.Fd == afd);
        Assert.Equal(5, accepted.ReceiveQueue);       // unread bytes
        Assert.Equal(3, b.Count);                     // the unaccepted child is a full sock with no descriptor

        // The active closer ends in TIME_WAIT: listed without TCP_INFO, then gone.
        Assert.Equal(5, SocketCalls.Recv(s.B.Files, afd, new byte[10], 0)); // unread data would make the close a RST
        Assert.Equal(0, SocketCalls.Close(s.A.Files, cfd));
        s.Pump();
        Assert.Equal(0, SocketCalls.Close(s.B.Files, afd));
        s.Pump();
        var dump = NetStackInfo.GetTcpSockets(s.A);
        var tw = Assert.Single(dump, x => x.State == TcpState.TimeWait || x.State == TcpState.FinWait2);
        Assert.True(tw.State == TcpState.TimeWait, string.Join("; ", dump));
        Assert.Equal(-1, tw.Fd);
        Assert.Null(tw.TcpInfo);
        s.RunFor(61_000);
        Assert.DoesNotContain(NetStackInfo.GetTcpSockets(s.A), x => x.State == TcpState.TimeWait);
        // Closing the other table's socket (its process exiting) takes it away from the list.
        Assert.Equal(0, SocketCalls.Close(other, ofd));
        s.RunFor(61_000);
        Assert.Empty(NetStackInfo.GetTcpSockets(s.A));
    }
}

public class UdpSocketsDumpTests
{
    [Fact]
    public void GetUdpSockets_ListsBoundSocketsOfEveryTable()
    {
        using var s = new TwoStacks();
        using var mine = new NetSocket(s.B, System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
        mine.Bind(new IPEndPoint(IPAddress.Any, 7000));
        var other = new FdTable(s.B);
        using var theirs = new NetSocket(other, AF_INET, SOCK_DGRAM, 0);
        theirs.Bind(new IPEndPoint(IPAddress.Parse("10.9.0.2"), 7001));
        using var unbound = new NetSocket(s.B, System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
        using var tx = new NetSocket(s.A, System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
        tx.SendTo(new byte[100], new IPEndPoint(IPAddress.Parse("10.9.0.2"), 7000));
        s.Pump();

        var list = NetStackInfo.GetUdpSockets(s.B);
        Assert.Equal(2, list.Count);
        Assert.Equal(mine.Fd, list[0].Fd);
        Assert.Equal(new IPEndPoint(IPAddress.Any, 7000), list[0].LocalEndPoint);
        Assert.True(list[0].ReceiveQueue > 100);   // truesize charged, as udp_diag reports sk_rmem_alloc
        Assert.Equal(TcpState.Close, list[0].State);
        Assert.Equal(-1, list[1].Fd);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("10.9.0.2"), 7001), list[1].LocalEndPoint);
        Assert.Single(NetStackInfo.GetUdpSockets(s.A)); // the sender got an ephemeral port
    }
}

/// <summary>The same transfer over the host kernel's loopback and over two stacks: the fields both define the same way agree.</summary>
public class TcpInfoKernelParityTests
{
    [Fact]
    public void KnownFields_MatchTheKernels_ForTheSameTransfer()
    {
        // The kernel's side: a loopback connection through System.Net.Sockets, getsockopt(TCP_INFO) raw.
        using var l = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        l.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        l.Listen();
        using var c = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        c.Connect(l.LocalEndPoint!);
        using var a = l.Accept();
        var data = new byte[10_000];
        c.Send(data);
        var buf = new byte[20_000];
        int got = 0;
        while (got < data.Length) got += a.Receive(buf);
        Thread.Sleep(50); // the ACK of the last byte
        var kbuf = new byte[512];
        int klen = c.GetRawSocketOption(IPPROTO_TCP, TCP_INFO, kbuf);
        var rbuf = new byte[512];
        int rlen = a.GetRawSocketOption(IPPROTO_TCP, TCP_INFO, rbuf);
        var kernel = TcpInfo.Parse(kbuf.AsSpan(0, klen), "kernel");
        var kernelRcv = TcpInfo.Parse(rbuf.AsSpan(0, rlen), "kernel");
        Assert.True(klen >= 232, $"kernel struct tcp_info: {klen} bytes");

        // The stack's side.
        using var s = new TwoStacks();
        var (_, cfd, afd) = TcpTwoStackTests.Connect(s);
        Assert.Equal(data.Length, SocketCalls.Send(s.A.Files, cfd, data, 0));
        s.RunFor(50);
        Assert.Equal(data.Length, SocketCalls.Recv(s.B.Files, afd, buf, 0));
        s.RunFor(500);
        var mine = NetStackInfo.GetTcpInfo(s.A, cfd)!.Value;
        var mineRcv = NetStackInfo.GetTcpInfo(s.B, afd)!.Value;

        foreach (var (k, m) in new[] { (kernel, mine), (kernelRcv, mineRcv) })
        {
            Assert.Equal(k.State, m.State);
            Assert.Equal(k.CaState, m.CaState);
            Assert.Equal(k.Timestamps, m.Timestamps);
            Assert.Equal(k.Sack, m.Sack);
            Assert.Equal(k.WindowScaling, m.WindowScaling);
            Assert.Equal(k.Retransmits, m.Retransmits);
            Assert.Equal(k.Backoff, m.Backoff);
            Assert.Equal(k.Unacked, m.Unacked);
            Assert.Equal(k.Sacked, m.Sacked);
            Assert.Equal(k.Lost, m.Lost);
            Assert.Equal(k.Retrans, m.Retrans);
            Assert.Equal(k.TotalRetrans, m.TotalRetrans);
            Assert.Equal(k.Reordering, m.Reordering);
            Assert.Equal(k.SendSsthresh, m.SendSsthresh);
            Assert.Equal(k.BytesAcked, m.BytesAcked);       // the SYN counts: 10001 / 1
            Assert.Equal(k.BytesReceived, m.BytesReceived);
            Assert.Equal(k.BytesSent, m.BytesSent);
            Assert.Equal(k.BytesRetrans, m.BytesRetrans);
            Assert.Equal(k.NotSentBytes, m.NotSentBytes);
            Assert.Equal(k.DsackDups, m.DsackDups);
            Assert.Equal(k.ReceiveOutOfOrderPackets, m.ReceiveOutOfOrderPackets);
            Assert.Equal(k.MaxPacingRate, m.MaxPacingRate);
            Assert.Equal(k.TotalRto, m.TotalRto);
            Assert.Equal(k.MinRtt.HasValue, m.MinRtt.HasValue);
            Assert.Equal(k.Rto >= TimeSpan.FromMilliseconds(200), m.Rto >= TimeSpan.FromMilliseconds(200));
        }
        Assert.Equal(10_001ul, kernel.BytesAcked);
        Assert.Equal(10_000ul, kernelRcv.BytesReceived);
    }
}
