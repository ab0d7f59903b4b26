using System.Net;
using NetStack.Api;
using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Udp;

/// <summary>The UDP hot path (sendto, IP/Ethernet out, link, receive, lookup, queue, recvfrom) allocates nothing in steady state.</summary>
public class UdpAllocationTests
{
    [Fact]
    public void SendReceive_SteadyState_AllocatesZeroBytes()
    {
        using var s = new TwoStacks();
        int a = UdpTests.Bound(s.A, 0, 5000), b = UdpTests.Bound(s.B, 0, 6000);
        int c = UdpTests.UdpSocket(s.B);
        Assert.Equal(0, SocketCalls.Connect(s.B.Files, c, SockAddr.In(TwoStacks.AddrA, 5000)));
        var payload = new byte[512];
        var buf = new byte[2048];
        var dst = SockAddr.In(TwoStacks.AddrB, 6000);
        void Round()
        {
            // Unconnected sendto one way, connected send the other, recvfrom and recv.
            if (SocketCalls.Sendto(s.A.Files, a, payload, 0, dst) != 512) throw new Exception("send");
            if (SocketCalls.Send(s.B.Files, c, payload, 0) != 512) throw new Exception("send2");
            s.Pump();
            if (SocketCalls.Recvfrom(s.B.Files, b, buf, 0, out _) != 512) throw new Exception("recv");
            if (SocketCalls.Recv(s.A.Files, a, buf, 0) != 512) throw new Exception("recv2");
        }
        for (int i = 0; i < 2000; i++) Round(); // warm-up: ARP, pools, JIT tiers
        long rounds = 0;
        long allocated = SteadyState.LeastAllocated(() => { for (int i = 0; i < 5000; i++) Round(); rounds += 5000; });
        Assert.Equal(0, allocated);
        Assert.Equal(2000 + rounds, s.B.Mib.Udp[UdpMib.InDatagrams]);
    }

    /// <summary>
    /// The same with every SOL_IP control message on (IP_PKTINFO, IP_RECVTTL, IP_RECVTOS,
    /// IP_RECVORIGDSTADDR): recvmsg into a stack control buffer, NetSocket.ReceiveMessage and a
    /// ReceiveMessageAsync that completes at once, on UDP and on a ping socket.
    /// </summary>
    [Fact]
    public void RecvmsgWithControlMessages_SteadyState_AllocatesZeroBytes()
    {
        using var s = new TwoStacks();
        int a = UdpTests.Bound(s.A, 0, 5000), b = UdpTests.Bound(s.B, 0, 6000);
        foreach (int o in new[] { IP_PKTINFO, IP_RECVTTL, IP_RECVTOS, IP_RECVORIGDSTADDR })
            Assert.Equal(0, SocketCalls.Setsockopt(s.B.Files, b, SOL_IP, o, 1));
        using var api = new NetSocket(s.B, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK);
        api.Bind(new IPEndPoint(IPAddress.Any, 6001));
        api.ReceiveTtl = api.ReceiveTos = api.ReceivePacketInformation = api.ReceiveOriginalDestination = true;
        using var ping = new NetSocket(s.A, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, IPPROTO_ICMP);
        ping.ReceiveTtl = true;
        ping.ReceivePacketInformation = true;
        var echo = PingRawTests.EchoRequest(0, 1);
        var toPeer = new IPEndPoint(IPAddress.Parse("10.9.0.2"), 0);
        var payload = new byte[512];
        var buf = new byte[2048];
        var mem = new Memory<byte>(buf);
        var d1 = SockAddr.In(TwoStacks.AddrB, 6000);
        var d2 = SockAddr.In(TwoStacks.AddrB, 6001);
        void Round()
        {
            if (SocketCalls.Sendto(s.A.Files, a, payload, 0, d1) != 512) throw new Exception("send");
            if (SocketCalls.Sendto(s.A.Files, a, payload, 0, d2) != 512) throw new Exception("send2");
            if (SocketCalls.Sendto(s.A.Files, a, payload, 0, d2) != 512) throw new Exception("send3");
            ping.SendTo(echo, toPeer);
            s.Pump();
            Span<byte> control = stackalloc byte[128];
            var msg = new MsgHdr { HasName = true, Control = control };
            if (SocketCalls.Recvmsg(s.B.Files, b, ref msg, buf, 0) != 512 || msg.ControlLen != 112 || msg.Flags != 0) throw new Exception("recvmsg");
            var r = api.ReceiveMessage(buf);
            if (r.ReceivedBytes != 512 || r.Ttl != 64 || r.PacketInformation is null) throw new Exception("ReceiveMessage");
            var t = api.ReceiveMessageAsync(mem);
            if (!t.IsCompletedSuccessfully || t.Result.Tos != 0) throw new Exception("ReceiveMessageAsync");
            var p = ping.ReceiveMessage(buf);
            if (p.ReceivedBytes != 16 || p.Ttl != 64) throw new Exception("ping");
        }
        for (int i = 0; i < 2000; i++) Round(); // warm-up: ARP, pools, JIT tiers
        Assert.Equal(0, SteadyState.LeastAllocated(() => { for (int i = 0; i < 5000; i++) Round(); }));
    }

    /// <summary>
    /// IP_RECVERR: a datagram to a closed port, the port unreachable, the error queued
    /// (ip_icmp_error's copy, sock_queue_err_skb) and read back with recvmsg(MSG_ERRQUEUE) and its
    /// IP_RECVERR control message; then a local EMSGSIZE (ip_local_error) read the same way.
    /// </summary>
    [Fact]
    public void ErrorQueue_SteadyState_AllocatesZeroBytes()
    {
        using var s = new TwoStacks();
        s.B.Ipv4.Sysctl.IcmpRatemask = 0; // virtual time stands still: no ICMP rate limit
        int a = UdpTests.Bound(s.A, 0, 5000);
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, a, SOL_IP, IP_RECVERR, 1));
        int big = UdpTests.Bound(s.A, 0, 5001);
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, big, SOL_IP, IP_RECVERR, 1));
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, big, SOL_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO));
        var payload = new byte[64];
        var huge = new byte[2000];
        var buf = new byte[256];
        var dst = SockAddr.In(TwoStacks.AddrB, 9999);
        void Round()
        {
            if (SocketCalls.Sendto(s.A.Files, a, payload, 0, dst) != 64) throw new Exception("send");
            s.Pump();
            Span<byte> control = stackalloc byte[64];
            var msg = new MsgHdr { HasName = true, Control = control };
            if (SocketCalls.Recvmsg(s.A.Files, a, ref msg, buf, MSG_ERRQUEUE) != 64 || msg.ControlLen != 48 || msg.Flags != MSG_ERRQUEUE) throw new Exception("errqueue");
            if (SocketCalls.Sendto(s.A.Files, big, huge, 0, dst) != -Errno.EMSGSIZE) throw new Exception("emsgsize");
            msg = new MsgHdr { HasName = true, Control = control };
            if (SocketCalls.Recvmsg(s.A.Files, big, ref msg, buf, MSG_ERRQUEUE) != 0 || msg.ControlLen != 48) throw new Exception("local");
        }
        for (int i = 0; i < 2000; i++) Round(); // warm-up: ARP, pools, JIT tiers
        Assert.Equal(0, SteadyState.LeastAllocated(() => { for (int i = 0; i < 5000; i++) Round(); }));
    }

    /// <summary>UDP_CORK and MSG_MORE: three sends joined into one datagram (ip_append_data, udp_push_pending_frames), received whole.</summary>
    [Fact]
    public void CorkedSends_SteadyState_AllocatesZeroBytes()
    {
        using var s = new TwoStacks();
        int a = UdpTests.Bound(s.A, 0, 5000), b = UdpTests.Bound(s.B, 0, 6000);
        int c = UdpTests.UdpSocket(s.A);
        Assert.Equal(0, SocketCalls.Connect(s.A.Files, c, SockAddr.In(TwoStacks.AddrB, 6000)));
        Assert.Equal(0, SocketCalls.Setsockopt(s.A.Files, c, SOL_UDP, UDP_CORK, 1));
        var part = new byte[300];
        var buf = new byte[2048];
        var dst = SockAddr.In(TwoStacks.AddrB, 6000);
        void Round()
        {
            if (SocketCalls.Sendto(s.A.Files, a, part, MSG_MORE, dst) != 300) throw new Exception("more");
            if (SocketCalls.Sendto(s.A.Files, a, part, MSG_MORE, dst) != 300) throw new Exception("more2");
            if (SocketCalls.Sendto(s.A.Files, a, part, 0, dst) != 300) throw new Exception("last");
            if (SocketCalls.Send(s.A.Files, c, part, 0) != 300 || SocketCalls.Send(s.A.Files, c, part, 0) != 300) throw new Exception("cork");
            if (SocketCalls.Setsockopt(s.A.Files, c, SOL_UDP, UDP_CORK, 0) != 0 || SocketCalls.Setsockopt(s.A.Files, c, SOL_UDP, UDP_CORK, 1) != 0) throw new Exception("uncork");
            s.Pump();
            if (SocketCalls.Recv(s.B.Files, b, buf, 0) != 900) throw new Exception("recv");
            if (SocketCalls.Recv(s.B.Files, b, buf, 0) != 600) throw new Exception("recv2");
        }
        for (int i = 0; i < 2000; i++) Round(); // warm-up: ARP, pools, JIT tiers
        Assert.Equal(0, SteadyState.LeastAllocated(() => { for (int i = 0; i < 5000; i++) Round(); }));
    }
}
