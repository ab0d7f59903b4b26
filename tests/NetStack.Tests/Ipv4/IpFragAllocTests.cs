using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Tests.Core;
using NetStack.Wire;
using Xunit.Abstractions;

namespace NetStack.Tests.Ipv4;

/// <summary>
/// DESIGN.md section 4 for fragments: a large echo over a small MTU is fragmented by A
/// (ip_do_fragment), reassembled by B (the shared fragment queues), answered, fragmented by B and
/// reassembled by A, and in steady state none of it allocates.
/// </summary>
public class IpFragAllocTests(ITestOutputHelper output)
{
    private const int PayloadLen = 3000;
    private readonly byte[] _payload = Pkt.PingData(PayloadLen);

    private void SendBigEcho(TwoStacks s, ushort seq)
    {
        var net = s.A;
        lock (net.SyncRoot)
        {
            if (Route.IpRouteOutput(net, TwoStacks.AddrB, 0, out var rt) != 0) throw new InvalidOperationException("no route");
            var skb = net.AllocSkb(IcmpHeader.Length + PayloadLen) ?? throw new InvalidOperationException("pool empty");
            var h = IcmpHeader.Create(skb.Put(IcmpHeader.Length + PayloadLen));
            h.Type = IcmpType.Echo;
            h.Code = 0;
            h.EchoId = 0x5A5A;
            h.EchoSequence = seq;
            _payload.CopyTo(h.Payload);
            h.FillChecksum();
            if (IpOutput.IpQueueXmit(net, skb, rt, rt.PrefSrc, TwoStacks.AddrB, IpProto.ICMP, df: false) != 0) throw new InvalidOperationException("send failed");
        }
    }

    [Fact]
    public void FragmentedEchoRoundTrips_InSteadyState_AllocateZeroBytes()
    {
        using var s = new TwoStacks(mtu: 576);
        s.Pump();
        ushort seq = 0;
        void Rounds(int n)
        {
            for (int i = 0; i < n; i++)
            {
                SendBigEcho(s, seq++);
                s.Pump();
            }
        }
        Rounds(200); // warm-up: ARP, pools, queue objects, JIT
        long bytes = SteadyState.LeastAllocated(() => Rounds(1000));
        output.WriteLine($"{bytes} bytes allocated over 1000 fragmented echo round trips (6 fragments each way)");
        Assert.Equal(0, bytes);
        Assert.Equal(seq, s.A.Mib.Icmp[IcmpMib.InEchoReps]);
        Assert.Equal(seq, s.B.Mib.Ip[IpMib.ReasmOKs]);
        Assert.Empty(s.A.Ipv4.Frags.Queues);
    }
}
