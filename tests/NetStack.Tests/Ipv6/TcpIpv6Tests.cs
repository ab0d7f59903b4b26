using System.Net;
using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Ipv6;
using NetStack.Net;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Ipv6;

/// <summary>
/// TCP over native IPv6 between two stacks on a MemoryLink (issue 11): handshake, data, close,
/// TIME_WAIT and resets go through tcp_v6_rcv and ip6_xmit, keyed by 16-byte addresses in the
/// shared tables; the MSS comes from the IPv6 header's 40 bytes.
/// </summary>
public class TcpIpv6Tests
{
    private static readonly UInt128 GA = Ipv6Address.Parse("fd00:9::1"), GB = Ipv6Address.Parse("fd00:9::2");
    private static readonly UInt128 LlA = Ipv6Address.LinkLocal(TwoStacks.MacA), LlB = Ipv6Address.LinkLocal(TwoStacks.MacB);

    internal static TwoStacks Stacks(int mtu = 1500)
    {
        var s = new TwoStacks(mtu);
        s.A.AddIpv6Address(s.Link.A, IPAddress.Parse("fd00:9::1"), 64);
        s.B.AddIpv6Address(s.Link.B, IPAddress.Parse("fd00:9::2"), 64);
        s.Pump();
        return s;
    }

    private static int Sock6(NetNamespace net) => SocketCalls.Socket(net.Files, AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);

    /// <summary>A listener on [fd00:9::2]:port (or [::] with <paramref name="wildcard"/>) and a connected native IPv6 pair.</summary>
    internal static (int lfd, int cfd, int afd) Connect6(TwoStacks s, ushort port = 7700, bool wildcard = false)
    {
        int lfd = Sock6(s.B);
        Assert.Equal(0, SocketCalls.Bind(s.B.Files, lfd, SockAddr.In6(wildcard ? UInt128.Zero : GB, port)));
        Assert.Equal(0, SocketCalls.Listen(s.B.Files, lfd, 16));
        int cfd = Sock6(s.A);
        Assert.Equal(-Errno.EINPROGRESS, SocketCalls.Connect(s.A.Files, cfd, SockAddr.In6(GB, port)));
        s.Pump();
        int afd = SocketCalls.Accept4(s.B.Files, lfd, out var peer, SOCK_NONBLOCK);
        Assert.True(afd >= 0, $"accept: {afd}");
        Assert.Equal(AF_INET6, peer.Family);
        Assert.Equal(GA, peer.Addr6);
        return (lfd, cfd, afd);
    }

    [Fact]
    public void Handshake_DataBothWays_Close_TimeWaitKeyedByV6Addresses()
    {
        using var s = Stacks();
        var (lfd, cfd, afd) = Connect6(s);
        Assert.Equal(0, SocketCalls.Getsockname(s.A.Files, cfd, out var local));
        Assert.Equal(GA, local.Addr6);
        Assert.Equal(0, SocketCalls.Getpeername(s.A.Files, cfd, out var remote));
        Assert.Equal(GB, remote.Addr6);
        Assert.Equal(7700, remote.Port);

        Assert.Equal(5, SocketCalls.Send(s.A.Files, cfd, "hello"u8, 0));
        s.Pump();
        var buf = new byte[100];
        Assert.Equal(5, SocketCalls.Recv(s.B.Files, afd, buf, 0));
        Assert.Equal("hello"u8.ToArray(), buf[..5]);
        Assert.Equal(3, SocketCalls.Send(s.B.Files, afd, "abc"u8, 0));
        s.Pump();
        Assert.Equal(3, SocketCalls.Recv(s.A.Files, cfd, buf, 0));
        Assert.Equal("abc"u8.ToArray(), buf[..3]);
        // Nothing went over IPv4, everything over IPv6.
        Assert.Equal(0, s.A.Mib.Ip[IpMib.OutRequests]);
        Assert.True(s.A.Ip6Mib[Ipv6Mib.Ip6OutRequests] >= 4);

        Assert.Equal(0, SocketCalls.Close(s.A.Files, cfd));
        s.Pump();
        Assert.Equal(0, SocketCalls.Recv(s.B.Files, afd, buf, 0));
        Assert.Equal(0, SocketCalls.Close(s.B.Files, afd));
        s.RunFor(1000);
        Assert.Equal(0, s.A.Mib.Tcp[TcpMib.CurrEstab]);
        Assert.Equal(0, s.B.Mib.Tcp[TcpMib.CurrEstab]);
        // The active closer holds the 4-tuple in TIME_WAIT under its IPv6 addresses.
        var tw = Assert.Single(s.A.Ipv4.TcpHashinfo.Ehash.Values.OfType<TcpTimewaitSock>());
        Assert.Equal(TcpState.TimeWait, tw.TwSubstate);
        Assert.Equal(GA, tw.Key.Laddr);
        Assert.Equal(GB, tw.Key.Faddr);
        Assert.Equal(7700, tw.Key.Fport);
        Assert.Empty(s.B.Ipv4.TcpHashinfo.Ehash);
        // ss shows the TIME_WAIT sock with its IPv6 addresses.
        var row = Assert.Single(NetStack.Api.NetStackInfo.GetTcpSockets(s.A), r => r.State == TcpState.TimeWait);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("fd00:9::2"), 7700), row.RemoteEndPoint);
        Assert.Equal(IPAddress.Parse("fd00:9::1"), row.LocalEndPoint!.Address);
        s.RunFor(61_000);
        Assert.Empty(s.A.Ipv4.TcpHashinfo.Ehash);
        Assert.Equal(0, s.A.Mib.Tcp[TcpMib.InErrs] + s.B.Mib.Tcp[TcpMib.InErrs]);
        SocketCalls.Close(s.B.Files, lfd);
    }

    [Fact]
    public void Mss_IsTheIpv6MtuLessSixtyAndTimestamps()
    {
        using var s = Stacks();
        var (_, cfd, afd) = Connect6(s);
        // 1500 - 40 (IPv6) - 20 (TCP) - 12 (timestamps); over IPv4 it would be 1448.
        Assert.Equal(0, SocketCalls.Getsockopt(s.A.Files, cfd, IPPROTO_TCP, TCP_MAXSEG, out int mssA));
        Assert.Equal(0, SocketCalls.Getsockopt(s.B.Files, afd, IPPROTO_TCP, TCP_MAXSEG, out int mssB));
        Assert.Equal(1428, mssA);
        Assert.Equal(1428, mssB);
    }

    [Fact]
    public void Mss_OnTheMinimumIpv6Mtu()
    {
        using var s = Stacks(mtu: 1280);
        var (_, cfd, _) = Connect6(s);
        Assert.Equal(0, SocketCalls.Getsockopt(s.A.Files, cfd, IPPROTO_TCP, TCP_MAXSEG, out int mss));
        Assert.Equal(1280 - 60 - 12, mss);
    }

    [Fact]
    public void ConnectToClosedPort_IsRefusedByAnIpv6Reset()
    {
        using var s = Stacks();
        int cfd = Sock6(s.A);
        Assert.Equal(-Errno.EINPROGRESS, SocketCalls.Connect(s.A.Files, cfd, SockAddr.In6(GB, 7701)));
        s.Pump();
        Assert.Equal(1, s.B.Mib.Tcp[TcpMib.OutRsts]);
        Assert.Equal(0, SocketCalls.Getsockopt(s.A.Files, cfd, SOL_SOCKET, SO_ERROR, out int err));
        Assert.Equal(Errno.ECONNREFUSED, err);
        Assert.Equal(1, s.A.Mib.Tcp[TcpMib.AttemptFails]);
    }

    [Fact]
    public void RefusedSocket_ConnectsAgainOnceSomeoneListens()
    {
        using var s = Stacks();
        int cfd = Sock6(s.A);
        Assert.Equal(-Errno.EINPROGRESS, SocketCalls.Connect(s.A.Files, cfd, SockAddr.In6(GB, 7705)));
        s.Pump();
        Assert.Equal(0, SocketCalls.Getsockopt(s.A.Files, cfd, SOL_SOCKET, SO_ERROR, out int err));
        Assert.Equal(Errno.ECONNREFUSED, err);
        int lfd = Sock6(s.B);
        Assert.Equal(0, SocketCalls.Bind(s.B.Files, lfd, SockAddr.In6(GB, 7705)));
        Assert.Equal(0, SocketCalls.Listen(s.B.Files, lfd, 16));
        // __inet_stream_connect(): SS_CONNECTING on a closed sock whose error was read answers
        // ECONNABORTED and leaves it unconnected (as Linux does); the next connect starts anew.
        Assert.Equal(-Errno.ECONNABORTED, SocketCalls.Connect(s.A.Files, cfd, SockAddr.In6(GB, 7705)));
        Assert.Equal(-Errno.EINPROGRESS, SocketCalls.Connect(s.A.Files, cfd, SockAddr.In6(GB, 7705)));
        s.Pump();
        Assert.Equal(0, SocketCalls.Connect(s.A.Files, cfd, SockAddr.In6(GB, 7705)) is 0 or -Errno.EISCONN ? 0 : -1);
        int afd = SocketCalls.Accept4(s.B.Files, lfd, out var peer, SOCK_NONBLOCK);
        Assert.True(afd >= 0, $"accept: {afd}");
        Assert.Equal(GA, peer.Addr6);
        Assert.Equal(2, SocketCalls.Send(s.A.Files, cfd, "hi"u8, 0));
        s.Pump();
        Assert.Equal(2, SocketCalls.Recv(s.B.Files, afd, new byte[4], 0));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void SynCookies_AlwaysOn_HandshakeCompletesFromTheCookie(bool timestamps)
    {
        using var s = Stacks();
        s.B.Ipv4.Sysctl.TcpSyncookies = 2; // every SYN answered with a cookie, nothing kept
        s.A.Ipv4.Sysctl.TcpTimestamps = timestamps;
        var (_, cfd, afd) = Connect6(s, 7706);
        Assert.Equal(1, s.B.Mib.TcpExt[LinuxMib.SyncookiesSent]);
        Assert.Equal(1, s.B.Mib.TcpExt[LinuxMib.SyncookiesRecv]);
        Assert.Equal(0, s.B.Mib.TcpExt[LinuxMib.SyncookiesFailed]);
        var data = new byte[300_000];
        new Random(3).NextBytes(data);
        Assert.True(data.AsSpan().SequenceEqual(Move(s, s.A, cfd, s.B, afd, data)));
        Assert.True(data.AsSpan().SequenceEqual(Move(s, s.B, afd, s.A, cfd, data)));
    }

    [Fact]
    public void SynCookie_ForgedAck_IsRefusedWithAReset()
    {
        using var s = Stacks();
        s.B.Ipv4.Sysctl.TcpSyncookies = 2;
        int lfd = Sock6(s.B);
        Assert.Equal(0, SocketCalls.Bind(s.B.Files, lfd, SockAddr.In6(GB, 7707)));
        Assert.Equal(0, SocketCalls.Listen(s.B.Files, lfd, 16));
        // A cookie was sent recently (so the listener checks ACKs), but not for this ACK.
        int cfd = Sock6(s.A);
        Assert.Equal(-Errno.EINPROGRESS, SocketCalls.Connect(s.A.Files, cfd, SockAddr.In6(GB, 7707)));
        s.Pump();
        Assert.True(SocketCalls.Accept4(s.B.Files, lfd, out _, SOCK_NONBLOCK) >= 0);
        long rsts = s.B.Mib.Tcp[TcpMib.OutRsts];
        Pkt6TcpSend(s.A, s.Link.A, from: GA, to: GB, 40123, 7707, seq: 1000, ack: 123456, TcpFlags.ACK);
        s.Pump();
        Assert.Equal(1, s.B.Mib.TcpExt[LinuxMib.SyncookiesFailed]);
        Assert.Equal(rsts + 1, s.B.Mib.Tcp[TcpMib.OutRsts]);
    }

    [Fact]
    public void PacketTooBig_LowersTheMss_BelowTheIpv6MinimumIgnored_TheRouteKeepsIt()
    {
        using var s = Stacks();
        var (_, cfd, _) = Connect6(s, 7708);
        var tp = (TcpSock)s.A.Files.Lookup(cfd)!.Sk!;
        Assert.Equal(1428u, tp.MssCache);
        SendPacketTooBig(s, tp, mtu: 1400);
        Assert.Equal(1400u - 60 - 12, tp.MssCache);
        SendPacketTooBig(s, tp, mtu: 600); // below 1280: ignored (tcp_v6_err(), RFC 8201)
        Assert.Equal(1400u - 60 - 12, tp.MssCache);
        SendPacketTooBig(s, tp, mtu: 1300);
        Assert.Equal(1300u - 60 - 12, tp.MssCache);
        // The route keeps it: a new connection to the same peer starts at the learned path MTU (ip6_mtu()).
        var (_, cfd2, _) = Connect6(s, 7709);
        TcpSock tp2;
        lock (s.A.SyncRoot) tp2 = (TcpSock)s.A.Files.Lookup(cfd2)!.Sk!;
        Assert.Equal(1300u - 60 - 12, tp2.MssCache);
    }

    /// <summary>B tells A that A's segment to B was too big (an ICMPv6 packet-too-big quoting A's IPv6 and TCP headers).</summary>
    private static void SendPacketTooBig(TwoStacks s, TcpSock tp, int mtu)
    {
        var net = s.B;
        lock (net.SyncRoot)
        {
            var rt = NetStack.Ipv6.Route6.Ip6RouteOutput(net, GA, s.Link.B)!;
            var skb = net.SkbPool.AllocWithHeadroom()!;
            var msg = skb.Put(Icmpv6Header.Length + Ipv6Header.Length + TcpHeader.MinLength);
            msg.Clear();
            var h = Icmpv6Header.Create(msg);
            h.Type = Icmpv6Type.PktTooBig;
            h.Code = 0;
            h.Rest = (uint)mtu;
            new Ipv6Repr(GA, GB, NextHdr.Tcp, TcpHeader.MinLength).Emit(Ipv6Header.Create(msg[Icmpv6Header.Length..]));
            var th = TcpHeader.Create(msg[(Icmpv6Header.Length + Ipv6Header.Length)..]);
            th.SrcPort = tp.InetSport;
            th.DstPort = tp.InetDport;
            th.Seq = tp.SndUna;
            h.FillChecksum(GB, GA);
            Assert.Equal(0, NetStack.Ipv6.Icmpv6.Icmpv6Xmit(net, skb, rt, GB, GA, 64));
        }
        s.Pump();
    }

    [Fact]
    public void AbortiveClose_ResetsThePeer()
    {
        using var s = Stacks();
        var (_, cfd, afd) = Connect6(s);
        Span<byte> linger = stackalloc byte[8];
        linger[0] = 1; // l_onoff = 1, l_linger = 0
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, cfd, SOL_SOCKET, SO_LINGER, linger));
        Assert.Equal(0, SocketCalls.Close(s.A.Files, cfd));
        s.Pump();
        var buf = new byte[16];
        Assert.Equal(-Errno.ECONNRESET, SocketCalls.Recv(s.B.Files, afd, buf, 0));
        Assert.Empty(s.A.Ipv4.TcpHashinfo.Ehash);
    }

    [Fact]
    public void SegmentToATimeWaitSock_IsAnsweredWithAnIpv6Ack()
    {
        using var s = Stacks();
        var (_, cfd, afd) = Connect6(s);
        Assert.Equal(0, SocketCalls.Close(s.A.Files, cfd));
        s.Pump();
        Assert.Equal(0, SocketCalls.Close(s.B.Files, afd));
        s.Pump();
        Assert.Single(s.A.Ipv4.TcpHashinfo.Ehash.Values.OfType<TcpTimewaitSock>());
        // A new connection from B's side to A's TIME_WAIT port is not possible without a listener;
        // a stray data segment from B's old 4-tuple is: the TIME_WAIT sock answers it with an ACK.
        long outSegs = s.A.Mib.Tcp[TcpMib.OutSegs];
        var tw = s.A.Ipv4.TcpHashinfo.Ehash.Values.OfType<TcpTimewaitSock>().Single();
        Pkt6TcpSend(s.B, s.Link.B, from: GB, to: GA, tw.TwDport, tw.TwNum, seq: tw.TwRcvNxt - 1, ack: tw.TwSndNxt, TcpFlags.ACK);
        s.Pump();
        Assert.Equal(outSegs + 1, s.A.Mib.Tcp[TcpMib.OutSegs]);
        Assert.Equal(0, s.A.Mib.Tcp[TcpMib.OutRsts]);
    }

    /// <summary>Sends a bare TCP segment out of <paramref name="dev"/> of <paramref name="net"/>, as if a socket there had sent it.</summary>
    private static void Pkt6TcpSend(NetNamespace net, NetDevice dev, UInt128 from, UInt128 to, ushort sport, ushort dport, uint seq, uint ack, byte flags)
    {
        lock (net.SyncRoot)
        {
            var rt = NetStack.Ipv6.Route6.Ip6RouteOutput(net, to, dev)!;
            var skb = net.SkbPool.AllocWithHeadroom()!;
            var seg = skb.Put(TcpHeader.MinLength);
            var th = TcpHeader.Create(seg);
            th.SrcPort = sport;
            th.DstPort = dport;
            th.Seq = seq;
            th.AckSeq = ack;
            th.DataOffset = 5;
            th.Flags = flags;
            th.Window = 1000;
            th.UrgPtr = 0;
            th.FillChecksumV6(from, to);
            NetStack.Ipv6.Ip6Output.Ip6Xmit(net, skb, rt, from, to, NextHdr.Tcp, 64);
        }
    }

    [Fact]
    public void BadChecksum_IsCountedAndDropped()
    {
        using var s = Stacks();
        int lfd = Sock6(s.B);
        Assert.Equal(0, SocketCalls.Bind(s.B.Files, lfd, SockAddr.In6(GB, 7702)));
        Assert.Equal(0, SocketCalls.Listen(s.B.Files, lfd, 16));
        lock (s.A.SyncRoot)
        {
            var rt = NetStack.Ipv6.Route6.Ip6RouteOutput(s.A, GB, s.Link.A)!;
            var skb = s.A.SkbPool.AllocWithHeadroom()!;
            var th = TcpHeader.Create(skb.Put(TcpHeader.MinLength));
            th.SrcPort = 40000; th.DstPort = 7702; th.Seq = 1; th.AckSeq = 0; th.DataOffset = 5; th.Flags = TcpFlags.SYN; th.Window = 1000; th.UrgPtr = 0;
            th.FillChecksum(0x0a000001, 0x0a000002); // an IPv4 pseudo-header: wrong for IPv6
            NetStack.Ipv6.Ip6Output.Ip6Xmit(s.A, skb, rt, GA, GB, NextHdr.Tcp, 64);
        }
        s.Pump();
        Assert.Equal(1, s.B.Mib.Tcp[TcpMib.InCsumErrors]);
        Assert.Equal(0, s.B.Mib.Tcp[TcpMib.OutSegs]);
    }

    [Fact]
    public void LinkLocal_ConnectWithScopeId()
    {
        using var s = Stacks();
        int lfd = Sock6(s.B);
        Assert.Equal(0, SocketCalls.Bind(s.B.Files, lfd, SockAddr.In6(UInt128.Zero, 7703)));
        Assert.Equal(0, SocketCalls.Listen(s.B.Files, lfd, 16));
        int cfd = Sock6(s.A);
        Assert.Equal(-Errno.EINVAL, SocketCalls.Connect(s.A.Files, cfd, SockAddr.In6(LlB, 7703)));
        Assert.Equal(-Errno.EINPROGRESS, SocketCalls.Connect(s.A.Files, cfd, SockAddr.In6(LlB, 7703, scopeId: (uint)s.Link.A.IfIndex)));
        s.Pump();
        int afd = SocketCalls.Accept4(s.B.Files, lfd, out var peer, SOCK_NONBLOCK);
        Assert.True(afd >= 0, $"accept: {afd}");
        Assert.Equal(LlA, peer.Addr6);
        Assert.Equal((uint)s.Link.B.IfIndex, peer.ScopeId);
        Assert.Equal(2, SocketCalls.Send(s.B.Files, afd, "ok"u8, 0));
        s.Pump();
        var buf = new byte[4];
        Assert.Equal(2, SocketCalls.Recv(s.A.Files, cfd, buf, 0));
    }

    [Fact]
    public void DualStackListener_AcceptsNativeIpv6AndIpv4Clients()
    {
        using var s = Stacks();
        var (lfd, cfd6, afd6) = Connect6(s, 7704, wildcard: true);
        int cfd4 = SocketCalls.Socket(s.A.Files, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        Assert.Equal(-Errno.EINPROGRESS, SocketCalls.Connect(s.A.Files, cfd4, SockAddr.In(TwoStacks.AddrB, 7704)));
        s.Pump();
        int afd4 = SocketCalls.Accept4(s.B.Files, lfd, out var peer4, SOCK_NONBLOCK);
        Assert.True(afd4 >= 0, $"accept: {afd4}");
        Assert.Equal(Ipv6Address.V4Mapped(TwoStacks.AddrA), peer4.Addr6);
        Assert.Equal(1, SocketCalls.Send(s.A.Files, cfd4, "4"u8, 0));
        Assert.Equal(1, SocketCalls.Send(s.A.Files, cfd6, "6"u8, 0));
        s.Pump();
        var buf = new byte[4];
        Assert.Equal(1, SocketCalls.Recv(s.B.Files, afd4, buf, 0));
        Assert.Equal((byte)'4', buf[0]);
        Assert.Equal(1, SocketCalls.Recv(s.B.Files, afd6, buf, 0));
        Assert.Equal((byte)'6', buf[0]);
        Assert.Equal(2, s.B.Mib.Tcp[TcpMib.CurrEstab]);
    }

    [Fact]
    public void BulkTransfer_4MB_BothWays_Intact()
    {
        using var s = Stacks();
        var (_, cfd, afd) = Connect6(s);
        var data = new byte[4 << 20];
        new Random(11).NextBytes(data);
        Assert.True(data.AsSpan().SequenceEqual(Move(s, s.A, cfd, s.B, afd, data)));
        Assert.True(data.AsSpan().SequenceEqual(Move(s, s.B, afd, s.A, cfd, data)));
        Assert.Equal(0, s.A.Mib.Tcp[TcpMib.InErrs] + s.B.Mib.Tcp[TcpMib.InErrs]);
    }

    internal static byte[] Move(TwoStacks s, NetNamespace a, int from, NetNamespace b, int to, byte[] data)
    {
        var got = new MemoryStream();
        int sent = 0, rounds = 0;
        var buf = new byte[65536];
        while (got.Length < data.Length && rounds++ < 200_000)
        {
            if (sent < data.Length)
            {
                int n = SocketCalls.Send(a.Files, from, data.AsSpan(sent, Math.Min(65536, data.Length - sent)), 0);
                if (n > 0) sent += n; else Assert.Equal(-Errno.EAGAIN, n);
            }
            s.Pump();
            int r;
            while ((r = SocketCalls.Recv(b.Files, to, buf, 0)) > 0) got.Write(buf, 0, r);
            if (r != -Errno.EAGAIN) Assert.Fail($"recv {r}");
            s.RunFor(1);
        }
        return got.ToArray();
    }

    [Fact]
    public void BulkSendReceive_OverIpv6_AllocatesNothing()
    {
        using var s = Stacks();
        var (_, cfd, afd) = Connect6(s);
        var chunk = new byte[16384];
        var buf = new byte[65536];
        Transfer(s, cfd, afd, s.A, s.B, chunk, buf, 8 << 20);
        Transfer(s, afd, cfd, s.B, s.A, chunk, buf, 8 << 20);
        long moved = 0, windows = 0;
        long allocated = SteadyState.LeastAllocated(() =>
        {
            windows++;
            moved += Transfer(s, cfd, afd, s.A, s.B, chunk, buf, 16 << 20);
            moved += Transfer(s, afd, cfd, s.B, s.A, chunk, buf, 16 << 20);
        });
        Assert.Equal(windows * (32L << 20), moved);
        Assert.Equal(0, allocated);
    }

    private static long Transfer(TwoStacks s, int from, int to, NetNamespace a, NetNamespace b, byte[] chunk, byte[] buf, long bytes)
    {
        long sent = 0, got = 0;
        while (got < bytes)
        {
            while (sent < bytes)
            {
                int n = SocketCalls.Send(a.Files, from, chunk.AsSpan(0, (int)Math.Min(chunk.Length, bytes - sent)), 0);
                if (n <= 0) break;
                sent += n;
            }
            int work = s.Pump();
            int r;
            while ((r = SocketCalls.Recv(b.Files, to, buf, 0)) > 0) { got += r; work++; }
            work += s.Pump();
            if (work == 0) s.RunFor(10);
        }
        return got;
    }
}
