using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Tests.Core;
using NetStack.Wire;
using Xunit.Abstractions;

namespace NetStack.Tests.Ipv4;

/// <summary>
/// DESIGN.md section 4 for forwarding: echoes from A to B through the router R and the replies back,
/// on this one thread, allocate nothing in steady state (R's ip_rcv -> ip_route_input_slow ->
/// ip_forward -> neighbour output, both ways, besides A's and B's own paths).
/// </summary>
public class IpForwardAllocationTests(ITestOutputHelper output)
{
    private readonly byte[] _packet = Pkt.Ip(ThreeStacks.AddrA, ThreeStacks.AddrB, IpProto.ICMP, Pkt.EchoRequest(0x5A5A, 1, Pkt.PingData()));

    /// <summary>Sends the prebuilt echo from A without allocating (pooled buffer, no assertion helpers).</summary>
    private void Send(ThreeStacks s)
    {
        var net = s.A;
        lock (net.SyncRoot)
        {
            if (Route.IpRouteOutput(net, ThreeStacks.AddrB, 0, out var rt) != 0) throw new InvalidOperationException("no route");
            var skb = net.SkbPool.AllocWithHeadroom() ?? throw new InvalidOperationException("pool empty");
            _packet.CopyTo(skb.Put(_packet.Length));
            if (IpOutput.IpLocalOut(net, skb, rt, ThreeStacks.AddrB) != 0) throw new InvalidOperationException("send failed");
        }
    }

    [Fact]
    public void ForwardedEchoes_InSteadyState_AllocateZeroBytes()
    {
        using var s = new ThreeStacks();
        s.Pump();
        for (int i = 0; i < 1000; i++) { Send(s); s.Pump(); } // warm-up: ARP resolved, JIT tiers settled
        const int N = 10_000;
        long forwarded0 = s.R.Mib.Ip[IpMib.ForwDatagrams], replies0 = s.A.Mib.Icmp[IcmpMib.InEchoReps];
        long bytes = SteadyState.LeastAllocated(() =>
        {
            for (int i = 0; i < N; i++) { Send(s); s.Pump(); }
        });
        long forwarded = s.R.Mib.Ip[IpMib.ForwDatagrams] - forwarded0;
        output.WriteLine($"{forwarded} packets forwarded, {bytes} bytes allocated in the least-allocating round of {N} round trips");
        // Every round trip went through R twice and came back: the measured path really ran.
        Assert.Equal(0, forwarded % (2 * N));
        Assert.True(forwarded >= 2 * N);
        Assert.Equal(forwarded / 2, s.A.Mib.Icmp[IcmpMib.InEchoReps] - replies0);
        Assert.Equal(0, bytes);
    }
}
