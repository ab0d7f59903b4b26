using System.Buffers.Binary;
using System.Net;
using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Ipv6;

/// <summary>
/// TCP Fast Open over native IPv6 between two stacks (issue 11): tcp_fastopen.c is shared, so the
/// server's cookie is SipHash-2-4 of the two 16-byte addresses, the child of a SYN with data comes
/// from tcp_v6_syn_recv_sock through icsk_af_ops and answers with tcp_v6_send_synack, and the
/// client's cookie cache is keyed by the IPv6 addresses; tcp_v6_connect defers the SYN for
/// TCP_FASTOPEN_CONNECT. The witness that data rode in the SYN: the listener's stack alone processes
/// one frame and accept() already returns the child with the data readable, still in SYN_RECV.
/// </summary>
public class TcpFastOpenIpv6Tests
{
    private static readonly UInt128 GA = Ipv6Address.Parse("fd00:9::1"), GB = Ipv6Address.Parse("fd00:9::2");
    private static readonly byte[] Key = Enumerable.Range(0, 16).Select(i => (byte)i).ToArray();
    private static ulong K0 => BinaryPrimitives.ReadUInt64LittleEndian(Key);
    private static ulong K1 => BinaryPrimitives.ReadUInt64LittleEndian(Key.AsSpan(8));

    [Fact]
    public void SipHash4u64_MatchesTheReferenceVectorForAThirtyTwoByteMessage()
    {
        // The SipHash reference vectors (vectors_sip64[32]): key 00..0f, message 00..1f -> 0x7127512f72f27cce.
        var m = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();
        ulong h = SecureSeq.SipHash4u64(BinaryPrimitives.ReadUInt64LittleEndian(m), BinaryPrimitives.ReadUInt64LittleEndian(m.AsSpan(8)),
            BinaryPrimitives.ReadUInt64LittleEndian(m.AsSpan(16)), BinaryPrimitives.ReadUInt64LittleEndian(m.AsSpan(24)), K0, K1);
        Assert.Equal(0x7127512f72f27cceUL, h);
    }

    [Fact]
    public void Cookie_IsSipHashOfTheAddressesWireBytes()
    {
        // saddr then daddr as they stand in the IPv6 header: the addresses 00..0f and 10..1f make the reference message.
        var saddr = BinaryPrimitives.ReadUInt128BigEndian(Enumerable.Range(0, 16).Select(i => (byte)i).ToArray());
        var daddr = BinaryPrimitives.ReadUInt128BigEndian(Enumerable.Range(16, 16).Select(i => (byte)i).ToArray());
        var foc = TcpFastopen.CookieGenCipher(saddr, daddr, K0, K1);
        Assert.Equal(8, foc.Len);
        Assert.Equal("ce7cf2722f512771", Convert.ToHexString(foc.Bytes).ToLowerInvariant());
    }

    [Fact]
    public void Cookie_IsLinuxs()
    {
        // Linux with net.ipv4.tcp_fastopen_key=03020100-07060504-0b0a0908-0f0e0d0c (key bytes 00..0f)
        // answered a cookie request from fd00:84::2 to fd00:84::1 with 6787da3cd7262ce1
        // (TcpFastOpenPeerTests.StackClient_OverIpv6_..., which checks it live).
        var foc = TcpFastopen.CookieGenCipher(Ipv6Address.Parse("fd00:84::2"), Ipv6Address.Parse("fd00:84::1"), K0, K1);
        Assert.Equal("6787da3cd7262ce1", Convert.ToHexString(foc.Bytes).ToLowerInvariant());
    }

    private static TwoStacks Stacks()
    {
        var s = TcpIpv6Tests.Stacks();
        s.B.Ipv4.Sysctl.TcpFastopen = TcpFastopen.TfoClientEnable | TcpFastopen.TfoServerEnable;
        return s;
    }

    /// <summary>A Fast Open listener on [::]:port in B, with the test key.</summary>
    private static int Listener(TwoStacks s, ushort port)
    {
        int lfd = SocketCalls.Socket(s.B.Files, AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);
        Assert.Equal(0, SocketCalls.Bind(s.B.Files, lfd, SockAddr.In6(UInt128.Zero, port)));
        Assert.Equal(0, SocketCalls.Setsockopt(s.B.Files, lfd, SOL_TCP, TCP_FASTOPEN, 5));
        Assert.Equal(0, SocketCalls.Setsockopt(s.B.Files, lfd, SOL_TCP, TCP_FASTOPEN_KEY, Key));
        Assert.Equal(0, SocketCalls.Listen(s.B.Files, lfd, 8));
        return lfd;
    }

    private static int Client(TwoStacks s) => SocketCalls.Socket(s.A.Files, AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);

    /// <summary>The first connection asks for a cookie; A caches B's answer under the IPv6 address pair.</summary>
    private static void LearnCookie(TwoStacks s, int lfd, ushort port)
    {
        int cfd = Client(s);
        // No cookie yet: the SYN asks for one and carries nothing (non-blocking: -EINPROGRESS).
        Assert.Equal(-Errno.EINPROGRESS, SocketCalls.Sendto(s.A.Files, cfd, "first"u8, MSG_FASTOPEN, SockAddr.In6(GB, port)));
        s.Pump();
        Assert.Equal(1, s.B.Mib.TcpExt[LinuxMib.TCPFastOpenCookieReqd]);
        Assert.Equal(0, s.B.Mib.TcpExt[LinuxMib.TCPFastOpenPassive]);
        int afd = SocketCalls.Accept4(s.B.Files, lfd, out _, SOCK_NONBLOCK);
        Assert.True(afd >= 0, $"accept: {afd}");
        var buf = new byte[16];
        Assert.Equal(-Errno.EAGAIN, SocketCalls.Recv(s.B.Files, afd, buf, 0));
        var (key, tm) = Assert.Single(s.A.Ipv4.TcpFastopenCache);
        Assert.Equal((GA, GB), key);
        Assert.Equal(TcpFastopen.CookieGenCipher(GA, GB, K0, K1), tm.Cookie);
        SocketCalls.Close(s.A.Files, cfd);
        SocketCalls.Close(s.B.Files, afd);
        s.RunFor(100);
    }

    [Fact]
    public void SecondConnection_CarriesItsDataInTheSyn_ChildReadableBeforeTheHandshakeEnds()
    {
        using var s = Stacks();
        int lfd = Listener(s, 8401);
        LearnCookie(s, lfd, 8401);

        int cfd = Client(s);
        long inSegs = s.B.Mib.Tcp[TcpMib.InSegs];
        // With the cookie all of it goes in the SYN: sendto returns its length at once.
        Assert.Equal(5, SocketCalls.Sendto(s.A.Files, cfd, "hello"u8, MSG_FASTOPEN, SockAddr.In6(GB, 8401)));
        // Only B runs: it sees the one SYN.
        Assert.Equal(1, s.B.Poll());
        Assert.Equal(1, s.B.Mib.Tcp[TcpMib.InSegs] - inSegs);
        Assert.Equal(1, s.B.Mib.TcpExt[LinuxMib.TCPFastOpenPassive]);
        int afd = SocketCalls.Accept4(s.B.Files, lfd, out var peer, SOCK_NONBLOCK);
        Assert.True(afd >= 0, $"accept: {afd}");
        Assert.Equal(AF_INET6, peer.Family);
        Assert.Equal(GA, peer.Addr6);
        var child = (TcpSock)s.B.Files.Lookup(afd)!.Sk!;
        Assert.Equal(TcpState.SynRecv, child.State);
        Assert.True(child.IcskAfOps.IsV6);
        var buf = new byte[16];
        Assert.Equal(5, SocketCalls.Recv(s.B.Files, afd, buf, 0));
        Assert.Equal("hello"u8.ToArray(), buf[..5]);

        // A takes the SYN-ACK, which acknowledged the data; the final ACK ends B's handshake.
        s.Pump();
        Assert.Equal(1, s.A.Mib.TcpExt[LinuxMib.TCPFastOpenActive]);
        Assert.Equal(0, s.A.Mib.TcpExt[LinuxMib.TCPFastOpenActiveFail]);
        Assert.Equal(TcpState.Established, child.State);
        var listener = (TcpSock)s.B.Files.Lookup(lfd)!.Sk!;
        Assert.Equal(0, listener.AcceptQueue.FastopenqQlen);
        Assert.Equal(2, SocketCalls.Send(s.B.Files, afd, "ok"u8, 0));
        s.Pump();
        Assert.Equal(2, SocketCalls.Recv(s.A.Files, cfd, buf, 0));
        Assert.Equal("ok"u8.ToArray(), buf[..2]);
        // All of it over IPv6.
        Assert.Equal(0, s.A.Mib.Ip[IpMib.OutRequests] + s.B.Mib.Ip[IpMib.OutRequests]);
        Assert.Equal(0, s.A.Mib.Tcp[TcpMib.InErrs] + s.B.Mib.Tcp[TcpMib.InErrs]);
    }

    [Fact]
    public void FastOpenChild_ResendsItsIpv6SynAckFromItsOwnTimer()
    {
        using var s = Stacks();
        int lfd = Listener(s, 8402);
        LearnCookie(s, lfd, 8402);
        int cfd = Client(s);
        Assert.Equal(5, SocketCalls.Sendto(s.A.Files, cfd, "hello"u8, MSG_FASTOPEN, SockAddr.In6(GB, 8402)));
        Assert.Equal(1, s.B.Poll());
        Assert.Equal(1, s.Link.A.PendingRx);
        long retrans = s.B.Mib.Tcp[TcpMib.RetransSegs];
        // A does not answer: after the initial RTO the child sends its SYN-ACK again (tcp_rtx_synack() counts it).
        s.Clock.Advance(Time.Ms(1000));
        s.B.Poll();
        Assert.Equal(2, s.Link.A.PendingRx);
        Assert.Equal(1, s.B.Mib.Tcp[TcpMib.RetransSegs] - retrans);
        Assert.Equal(1, s.B.Mib.TcpExt[LinuxMib.TCPSynRetrans]);
        s.Pump();
        int afd = SocketCalls.Accept4(s.B.Files, lfd, out _, SOCK_NONBLOCK);
        Assert.Equal(TcpState.Established, ((TcpSock)s.B.Files.Lookup(afd)!.Sk!).State);
        Assert.Equal(1, s.A.Mib.TcpExt[LinuxMib.TCPFastOpenActive]);
    }

    [Fact]
    public void InvalidCookie_FallsBackToAPlainHandshake_AndTheSynAckCarriesTheValidOne()
    {
        using var s = Stacks();
        int lfd = Listener(s, 8403);
        LearnCookie(s, lfd, 8403);
        // B's key changes: A's cached cookie is now wrong.
        var other = Enumerable.Range(100, 16).Select(i => (byte)i).ToArray();
        Assert.Equal(0, SocketCalls.Setsockopt(s.B.Files, lfd, SOL_TCP, TCP_FASTOPEN_KEY, other));
        int cfd = Client(s);
        Assert.Equal(5, SocketCalls.Sendto(s.A.Files, cfd, "hello"u8, MSG_FASTOPEN, SockAddr.In6(GB, 8403)));
        s.Pump();
        Assert.Equal(1, s.B.Mib.TcpExt[LinuxMib.TCPFastOpenPassiveFail]);
        Assert.Equal(0, s.B.Mib.TcpExt[LinuxMib.TCPFastOpenPassive]);
        // A sent the data again after the handshake; B got it once.
        Assert.Equal(1, s.A.Mib.TcpExt[LinuxMib.TCPFastOpenActiveFail]);
        int afd = SocketCalls.Accept4(s.B.Files, lfd, out _, SOCK_NONBLOCK);
        var buf = new byte[16];
        Assert.Equal(5, SocketCalls.Recv(s.B.Files, afd, buf, 0));
        Assert.Equal("hello"u8.ToArray(), buf[..5]);
        // The cookie under the new key is cached for next time.
        var tm = Assert.Single(s.A.Ipv4.TcpFastopenCache).Value;
        Assert.Equal(TcpFastopen.CookieGenCipher(GA, GB, BinaryPrimitives.ReadUInt64LittleEndian(other),
            BinaryPrimitives.ReadUInt64LittleEndian(other.AsSpan(8))), tm.Cookie);
    }

    [Fact]
    public void FastopenConnect_ConnectReturnsAtOnce_TheFirstWriteGoesInTheSyn()
    {
        using var s = Stacks();
        int lfd = Listener(s, 8404);
        LearnCookie(s, lfd, 8404);
        int cfd = Client(s);
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, cfd, SOL_TCP, TCP_FASTOPEN_CONNECT, 1));
        Assert.Equal(0, SocketCalls.Connect(s.A.Files, cfd, SockAddr.In6(GB, 8404)));
        // Nothing was sent yet.
        Assert.Equal(0, s.Link.B.PendingRx);
        Assert.Equal(0, SocketCalls.Getsockname(s.A.Files, cfd, out var local));
        Assert.Equal(GA, local.Addr6);
        Assert.Equal(5, SocketCalls.Send(s.A.Files, cfd, "hello"u8, 0));
        Assert.Equal(1, s.B.Poll());
        Assert.Equal(1, s.B.Mib.TcpExt[LinuxMib.TCPFastOpenPassive]);
        int afd = SocketCalls.Accept4(s.B.Files, lfd, out _, SOCK_NONBLOCK);
        var buf = new byte[16];
        Assert.Equal(5, SocketCalls.Recv(s.B.Files, afd, buf, 0));
        s.Pump();
        Assert.Equal(1, s.A.Mib.TcpExt[LinuxMib.TCPFastOpenActive]);
    }

    [Fact]
    public void DualStackListener_Ipv4FastOpen_ChildIsV4Mapped()
    {
        using var s = Stacks();
        int lfd = Listener(s, 8405);
        var dst = SockAddr.In(TwoStacks.AddrB, 8405);
        int c1 = SocketCalls.Socket(s.A.Files, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        Assert.Equal(-Errno.EINPROGRESS, SocketCalls.Sendto(s.A.Files, c1, "first"u8, MSG_FASTOPEN, dst));
        s.Pump();
        // The IPv4 cookie is the 8-byte one over the IPv4 addresses, cached under their v4-mapped forms.
        var (key, tm) = Assert.Single(s.A.Ipv4.TcpFastopenCache);
        Assert.Equal((Ipv6Address.V4Mapped(TwoStacks.AddrA), Ipv6Address.V4Mapped(TwoStacks.AddrB)), key);
        Assert.Equal(TcpFastopen.CookieGenCipher(TwoStacks.AddrA, TwoStacks.AddrB, K0, K1), tm.Cookie);
        SocketCalls.Close(s.B.Files, SocketCalls.Accept4(s.B.Files, lfd, out _, SOCK_NONBLOCK));

        int c2 = SocketCalls.Socket(s.A.Files, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        Assert.Equal(5, SocketCalls.Sendto(s.A.Files, c2, "hello"u8, MSG_FASTOPEN, dst));
        Assert.Equal(1, s.B.Poll());
        Assert.Equal(1, s.B.Mib.TcpExt[LinuxMib.TCPFastOpenPassive]);
        int afd = SocketCalls.Accept4(s.B.Files, lfd, out var peer, SOCK_NONBLOCK);
        Assert.Equal(AF_INET6, peer.Family);
        Assert.Equal(Ipv6Address.V4Mapped(TwoStacks.AddrA), peer.Addr6);
        Assert.False(((TcpSock)s.B.Files.Lookup(afd)!.Sk!).IcskAfOps.IsV6);
        var buf = new byte[16];
        Assert.Equal(5, SocketCalls.Recv(s.B.Files, afd, buf, 0));
        s.Pump();
        Assert.Equal(1, s.A.Mib.TcpExt[LinuxMib.TCPFastOpenActive]);
    }
}
