using NetStack.Core;
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
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 5000; i++) Round();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        Assert.Equal(7000, s.B.Mib.Udp[UdpMib.InDatagrams]);
    }
}
