using NetStack.Core;
using NetStack.Ethernet;
using NetStack.Ipv4;
using NetStack.Net;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;
using static NetStack.Wire.TcpFlags;

namespace NetStack.Tests.Tcp;

/// <summary>
/// SYN cookies (net/ipv4/syncookies.c, tcp_conn_request()'s want_cookie path): a listener whose SYN
/// queue is full answers with a cookie and keeps nothing; the ACK echoing a valid cookie rebuilds the
/// connection with the MSS, window scale and SACK the cookie carried; forged and stale cookies are
/// counted and reset; tcp_syncookies = 0 drops, = 2 always sends cookies.
/// </summary>
public class TcpSyncookiesTests
{
    private const ushort FirstPort = 40001;

    /// <summary>A listener with backlog 2 whose SYN queue holds three requests (inet_csk_reqsk_queue_is_full() is qlen &gt; backlog).</summary>
    private static TcpFixture FullSynQueue(Action<Ipv4Sysctl>? configure = null)
    {
        var f = TcpFixture.Listening(configure, backlog: 2);
        for (int i = 0; i < 3; i++)
        {
            f.Send(SYN, seq: (uint)(100 * (i + 1)), mss: 1460, srcPort: (ushort)(FirstPort + i));
            f.Expect(SYN | ACK, ack: (uint)(100 * (i + 1) + 1));
        }
        Assert.Equal(3, f.Sk.AcceptQueue.Qlen);
        Assert.Equal(0, f.Net.Mib.TcpExt[LinuxMib.SyncookiesSent]);
        return f;
    }

    private static TcpSock Accepted(TcpFixture f, out SockAddr peer)
    {
        int fd = SocketCalls.Accept4(f.Files, f.ListenFd, out peer, SOCK_NONBLOCK);
        Assert.True(fd >= 0, $"accept: {fd}");
        return (TcpSock)f.Files.Lookup(fd)!.Sk!;
    }

    [Fact]
    public void Listen_SynQueueFull_CookieSynAck_AckCreatesConnectionThatReachesAccept()
    {
        using var f = FullSynQueue();
        const ushort port = 40100;
        const uint peerIsn = 7_000_000;
        f.Send(SYN, seq: peerIsn, mss: 1460, srcPort: port);
        var synAck = f.Expect(SYN | ACK, ack: peerIsn + 1);
        // The ISN is the cookie of this SYN (MSS index 3: 1460), computed as the kernel does, and nothing is kept.
        ushort mss = 1460;
        uint cookie = Syncookies.CookieV4InitSequence(f.Net, TcpFixture.RemoteAddr, TcpFixture.LocalAddr, port, TcpFixture.LocalPort, peerIsn, ref mss);
        Assert.Equal(cookie, synAck.Seq);
        Assert.Null(synAck.Timestamp);
        Assert.Equal(3, f.Sk.AcceptQueue.Qlen);
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.SyncookiesSent]);
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.TCPReqQFullDoCookies]);
        Assert.Equal(0, f.Net.Mib.TcpExt[LinuxMib.ListenDrops]);
        Assert.Null(InetHashtables.InetLookupEstablished(f.Net, TcpFixture.LocalAddr, TcpFixture.LocalPort, TcpFixture.RemoteAddr, port));

        // The ACK echoing the cookie creates the connection; accept() returns it.
        f.Send(ACK, seq: peerIsn + 1, ack: synAck.Seq + 1, srcPort: port);
        f.ExpectNothing();
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.SyncookiesRecv]);
        Assert.Equal(0, f.Net.Mib.TcpExt[LinuxMib.SyncookiesFailed]);
        var child = Accepted(f, out var peer);
        Assert.Equal(port, peer.Port);
        Assert.Equal(TcpState.Established, child.State);
        Assert.Equal(1460, child.RxOpt.MssClamp);
        Assert.False(child.RxOpt.WscaleOk);
        Assert.False(child.RxOpt.SackOk);
        Assert.False(child.RxOpt.TstampOk);
        Assert.Equal(synAck.Seq + 1, child.SndNxt);
        Assert.Equal(peerIsn + 1, child.RcvNxt);

        // It carries data both ways.
        f.Send(ACK | PSH, seq: peerIsn + 1, ack: synAck.Seq + 1, payload: "hello"u8.ToArray(), srcPort: port);
        f.Advance(200);
        f.Expect(ACK, seq: synAck.Seq + 1, ack: peerIsn + 6);
    }

    [Fact]
    public void Syncookies2_TimestampsCarryWscaleSackEcn_ChildGetsThem()
    {
        using var f = TcpFixture.Listening(s =>
        {
            s.TcpSyncookies = 2;
            s.TcpTimestamps = s.TcpSack = s.TcpWindowScaling = true;
        });
        const ushort port = 40200;
        const uint peerIsn = 123_456;
        // An ECN-setup SYN (ECE|CWR) with MSS 1400 (encoded as 1300), window scale 7, SACK and a timestamp.
        f.Send(SYN | ECE | CWR, seq: peerIsn, mss: 1400, ws: 7, sackPerm: true, ts: new TcpTimestamp(5000, 0), srcPort: port);
        var synAck = f.Expect(SYN | ACK | ECE, ack: peerIsn + 1);
        Assert.Equal(0, f.Sk.AcceptQueue.Qlen); // nothing kept, even with room: mode 2 always sends cookies
        Assert.True(synAck.SackPermitted);
        Assert.True(synAck.WindowScale >= 0);
        uint tsOff = SecureSeq.SecureTcpTsOff(f.Net, TcpFixture.LocalAddr, TcpFixture.RemoteAddr);
        uint ts = synAck.Timestamp!.Value.TsVal - tsOff;
        Assert.Equal(7u | Syncookies.TsOptSack | Syncookies.TsOptEcn, ts & 0x3f);
        Assert.True(ts <= (uint)(f.Clock.NowNs / 1_000_000), "a cookie timestamp is never ahead of the clock");
        Assert.Equal(5000u, synAck.Timestamp!.Value.TsEcr);
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.SyncookiesSent]);
        Assert.Empty(f.Net.Log.Read()); // mode 2 does not warn

        f.Send(ACK, seq: peerIsn + 1, ack: synAck.Seq + 1, ts: new TcpTimestamp(5001, synAck.Timestamp!.Value.TsVal), srcPort: port);
        f.ExpectNothing();
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.SyncookiesRecv]);
        var child = Accepted(f, out _);
        Assert.Equal(TcpState.Established, child.State);
        Assert.Equal(1300, child.RxOpt.MssClamp);
        Assert.True(child.RxOpt.WscaleOk);
        Assert.Equal(7, child.RxOpt.SndWscale);
        Assert.True(child.RxOpt.SackOk);
        Assert.True(child.RxOpt.TstampOk);
        Assert.Equal(5001u, child.RxOpt.TsRecent);
        Assert.Equal(tsOff, child.TsOffset);
        Assert.Equal(TcpSock.TcpEcnOk, (byte)(child.EcnFlags & TcpSock.TcpEcnOk));
        Assert.Equal((uint)TcpFixture.RemoteWindow << 7, child.SndWnd);
    }

    [Fact]
    public void CookieWithoutPeerTimestamps_NoWscaleNoSack()
    {
        using var f = TcpFixture.Listening(s =>
        {
            s.TcpSyncookies = 2;
            s.TcpTimestamps = s.TcpSack = s.TcpWindowScaling = true;
        });
        const ushort port = 40300;
        f.Send(SYN, seq: 1000, mss: 536, ws: 7, sackPerm: true, srcPort: port);
        var synAck = f.Expect(SYN | ACK, ack: 1001);
        Assert.Null(synAck.Timestamp);
        Assert.False(synAck.SackPermitted);
        Assert.Equal(-1, synAck.WindowScale);
        f.Send(ACK, seq: 1001, ack: synAck.Seq + 1, srcPort: port);
        var child = Accepted(f, out _);
        Assert.Equal(536, child.RxOpt.MssClamp);
        Assert.False(child.RxOpt.WscaleOk);
        Assert.False(child.RxOpt.SackOk);
    }

    [Fact]
    public void ForgedCookieAck_CountedFailed_AnsweredWithReset()
    {
        using var f = FullSynQueue();
        f.Send(SYN, seq: 5000, srcPort: 40400);
        uint cookie = f.Expect(SYN | ACK, ack: 5001).Seq;
        // The right 4-tuple and sequence, a wrong cookie (its MSS index out of range).
        f.Send(ACK, seq: 5001, ack: cookie + 1 + 1000, srcPort: 40400);
        f.Expect(RST, seq: cookie + 1 + 1000);
        // Another 4-tuple replaying that cookie.
        f.Send(ACK, seq: 5001, ack: cookie + 1, srcPort: 40401);
        f.Expect(RST, seq: cookie + 1);
        Assert.Equal(2, f.Net.Mib.TcpExt[LinuxMib.SyncookiesFailed]);
        Assert.Equal(0, f.Net.Mib.TcpExt[LinuxMib.SyncookiesRecv]);
        Assert.Equal(-Errno.EAGAIN, SocketCalls.Accept4(f.Files, f.ListenFd, out _, SOCK_NONBLOCK));
    }

    [Fact]
    public void AckToListener_NoRecentOverflow_NotCheckedAsCookie_Reset()
    {
        using var f = TcpFixture.Listening();
        f.Send(ACK, seq: 5001, ack: 777, srcPort: 40500);
        f.Expect(RST, seq: 777);
        Assert.Equal(0, f.Net.Mib.TcpExt[LinuxMib.SyncookiesFailed]);
    }

    [Fact]
    public void Cookie_ValidForTheNextMinute_StaleAfterMaxSyncookieAge()
    {
        using var f = TcpFixture.Listening(s => s.TcpSyncookies = 2);
        f.Send(SYN, seq: 100, srcPort: 40601);
        uint c1 = f.Expect(SYN | ACK).Seq;
        f.Send(SYN, seq: 200, srcPort: 40602);
        uint c2 = f.Expect(SYN | ACK).Seq;
        // One minute later (the counter moved on by one): still valid.
        f.Advance(60_000);
        f.Send(ACK, seq: 101, ack: c1 + 1, srcPort: 40601);
        f.ExpectNothing();
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.SyncookiesRecv]);
        // Three minutes after it was made: stale. A fresh cookie keeps the listener in its overflow window.
        f.Advance(120_000);
        f.Send(SYN, seq: 300, srcPort: 40603);
        f.Expect(SYN | ACK);
        f.Send(ACK, seq: 201, ack: c2 + 1, srcPort: 40602);
        f.Expect(RST, seq: c2 + 1);
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.SyncookiesFailed]);
        Assert.Equal(1, f.Net.Mib.TcpExt[LinuxMib.SyncookiesRecv]);
    }

    [Fact]
    public void Syncookies0_SynQueueFull_DroppedAndCounted_WarnsOnce()
    {
        using var f = FullSynQueue(s => s.TcpSyncookies = 0);
        f.Send(SYN, seq: 9000, srcPort: 40700);
        f.ExpectNothing();
        f.Send(SYN, seq: 9100, srcPort: 40701);
        f.ExpectNothing();
        var mib = f.Net.Mib.TcpExt;
        Assert.Equal(2, mib[LinuxMib.ListenDrops]);
        Assert.Equal(2, mib[LinuxMib.TCPReqQFullDrop]);
        Assert.Equal(0, mib[LinuxMib.ListenOverflows]); // the accept queue did not overflow
        Assert.Equal(0, mib[LinuxMib.SyncookiesSent]);
        var log = f.Net.Log.Read();
        Assert.Single(log);
        Assert.EndsWith("TCP: request_sock_TCP: Possible SYN flooding on port 10.0.0.1:80. Dropping request.", log[0]);
    }

    [Fact]
    public void Syncookies1_SynQueueFull_WarnsOncePerListener_SendingCookies()
    {
        using var f = FullSynQueue();
        for (int i = 0; i < 5; i++)
        {
            f.Send(SYN, seq: (uint)(9000 + i), srcPort: (ushort)(40800 + i));
            f.Expect(SYN | ACK, ack: (uint)(9001 + i));
        }
        Assert.Equal(5, f.Net.Mib.TcpExt[LinuxMib.SyncookiesSent]);
        var log = f.Net.Log.Read();
        Assert.Single(log);
        Assert.EndsWith("TCP: request_sock_TCP: Possible SYN flooding on port 10.0.0.1:80. Sending cookies.", log[0]);
    }

    [Fact]
    public void CookieAck_AcceptQueueFull_ListenOverflow_NoChild_NextSynDropped()
    {
        using var f = TcpFixture.Listening(s => s.TcpSyncookies = 2, backlog: 0);
        f.Send(SYN, seq: 100, srcPort: 40901);
        uint c1 = f.Expect(SYN | ACK).Seq;
        f.Send(SYN, seq: 200, srcPort: 40902);
        uint c2 = f.Expect(SYN | ACK).Seq;
        f.Send(ACK, seq: 101, ack: c1 + 1, srcPort: 40901); // fills the accept queue (backlog + 1 fit)
        f.Send(ACK, seq: 201, ack: c2 + 1, srcPort: 40902); // tcp_v4_syn_recv_sock(): overflow, dropped silently
        f.ExpectNothing();
        var mib = f.Net.Mib.TcpExt;
        Assert.Equal(2, mib[LinuxMib.SyncookiesRecv]);
        Assert.Equal(1, mib[LinuxMib.ListenOverflows]);
        Assert.Equal(1, mib[LinuxMib.ListenDrops]);
        // A SYN now: sk_acceptq_is_full() after the flood action: no SYN-ACK.
        f.Send(SYN, seq: 300, srcPort: 40903);
        f.ExpectNothing();
        Assert.Equal(2, mib[LinuxMib.ListenOverflows]);
        Assert.Equal(2, mib[LinuxMib.ListenDrops]);
        Assert.Equal(2, mib[LinuxMib.SyncookiesSent]);
        Accepted(f, out var peer);
        Assert.Equal(40901, peer.Port);
    }

    [Fact]
    public void Sysctl_TcpSyncookies_DefaultsToOne_TakesAU8()
    {
        using var f = TcpFixture.Listening();
        Assert.True(f.Net.Sysctl.TryGet("net.ipv4.tcp_syncookies", out var v));
        Assert.Equal("1", v);
        Assert.Equal(0, f.Net.Sysctl.TrySet("net.ipv4.tcp_syncookies", "2"));
        Assert.Equal(2, f.Sysctl.TcpSyncookies);
        Assert.Equal(-Errno.EINVAL, f.Net.Sysctl.TrySet("net.ipv4.tcp_syncookies", "256"));
        Assert.Equal(-Errno.EINVAL, f.Net.Sysctl.TrySet("net.ipv4.tcp_syncookies", "-1"));
        Assert.Equal(2, f.Sysctl.TcpSyncookies);
    }

    [Fact]
    public void CheckTcpSynCookie_RoundTripsEveryMssIndex_RejectsOtherTuples()
    {
        using var f = TcpFixture.Listening();
        var net = f.Net;
        ushort[] asked = [100, 536, 1299, 1300, 1439, 1440, 1459, 1460, 9000];
        ushort[] encoded = [536, 536, 536, 1300, 1300, 1440, 1440, 1460, 1460];
        for (int i = 0; i < asked.Length; i++)
        {
            ushort mss = asked[i];
            uint c = Syncookies.CookieV4InitSequence(net, 1, 2, 3, 4, 0xfffffff0u + (uint)i, ref mss);
            Assert.Equal(encoded[i], mss);
            Assert.Equal(mss, Syncookies.CookieV4CheckMss(net, 1, 2, 3, 4, 0xfffffff0u + (uint)i + 1, c + 1));
            Assert.Equal(0, Syncookies.CookieV4CheckMss(net, 1, 2, 3, 5, 0xfffffff0u + (uint)i + 1, c + 1));
            Assert.Equal(0, Syncookies.CookieV4CheckMss(net, 1, 2, 3, 4, 0xfffffff0u + (uint)i + 1, c + 1 + 4));
            Assert.Equal(0, Syncookies.CookieV4CheckMss(net, 9, 2, 3, 4, 0xfffffff0u + (uint)i + 1, c + 1));
        }
    }

    /// <summary>Replays prepared frames and counts what the stack sends, allocating nothing itself.</summary>
    private sealed class FloodDevice(byte[][] frames) : NetDevice("flood0", TcpFixture.LocalMac)
    {
        private int _next, _end;
        public long SynAcks;
        public void Release(int count) => _end = Math.Min(frames.Length, _next + count);
        protected internal override SkBuff? PollReceive(SkBuffPool pool)
        {
            if (_next >= _end) return null;
            var frame = frames[_next++];
            var skb = pool.Alloc()!;
            frame.CopyTo(skb.Put(frame.Length));
            return skb;
        }
        public override bool WaitForWork(int timeoutMs) => false;
        public override void Kick() { }
        protected internal override bool StartXmit(SkBuff skb)
        {
            var d = skb.DataSpan;
            if (d.Length >= 14 + 20 + 20 && d[14 + 20 + 13] == (SYN | ACK)) SynAcks++;
            skb.Free();
            return true;
        }
    }

    [Fact]
    public void SynFlood_CookiePath_AllocatesNothing()
    {
        const int warmup = 2000, measured = 20000;
        // The frames: SYNs from many ports and addresses of the peer's subnet, built before measuring.
        using var builder = new TcpFixture();
        var frames = new byte[3 + warmup + measured][];
        var rnd = new Random(42);
        for (int i = 0; i < frames.Length; i++)
            frames[i] = builder.Frame(new Seg { Flags = SYN, Seq = (uint)rnd.Next(), Mss = 1460, SrcPort = (ushort)(1024 + i % 60000) });
        var clock = new VirtualClock();
        using var net = new NetNamespace("flood", clock);
        var dev = new FloodDevice(frames);
        Eth.EtherSetup(dev);
        net.AddDevice(dev, TcpFixture.LocalAddr, 24);
        net.Ipv4.Arp.AddPermanent(TcpFixture.RemoteAddr, dev, TcpFixture.RemoteMac);
        int lfd = SocketCalls.Socket(net.Files, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        Assert.Equal(0, SocketCalls.Bind(net.Files, lfd, SockAddr.In(TcpFixture.LocalAddr, TcpFixture.LocalPort)));
        Assert.Equal(0, SocketCalls.Listen(net.Files, lfd, 2));
        net.Poll();
        // Three SYNs fill the SYN queue (backlog 2); every further one is answered with a cookie.
        dev.Release(3 + warmup);
        net.Poll();
        // Up to three windows of measured/3 SYNs each (SteadyState says why).
        int released = 0;
        long allocated = SteadyState.LeastAllocated(() =>
        {
            for (int done = 0; done < measured / 3; done += 100)
            {
                dev.Release(100);
                net.Poll();
                released += 100;
            }
        });
        Assert.Equal(0, allocated);
        Assert.Equal(warmup + released, net.Mib.TcpExt[LinuxMib.SyncookiesSent]);
        Assert.Equal(3 + warmup + released, dev.SynAcks);
    }
}
