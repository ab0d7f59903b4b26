using NetStack.Core;
using NetStack.Ipv4;

namespace NetStack.PeerTests;

/// <summary>The Linux kernel, on the other side of a TAP in its own namespace, pings the stack.</summary>
public sealed class PingTests(ITestOutputHelper output)
{
    [PeerFact]
    public void Ping20_FromKernel_AllAnswered()
    {
        using var peer = new TapPeer();
        var s = peer.Ping("-c", "20", "-i", "0.01", "-W", "2");
        output.WriteLine(s.RttLine);
        Assert.Equal(20, s.Transmitted);
        Assert.Equal(20, s.Received);
        Assert.Equal(20, peer.Counter("Icmp.InEchos"));
        Assert.Equal(20, peer.Counter("Icmp.OutEchoReps"));
    }

    [PeerFact]
    public void FloodPing10000_FromKernel_LosesNone()
    {
        using var peer = new TapPeer();
        Assert.Equal(3, peer.Ping("-c", "3", "-i", "0.01").Received); // ARP resolved, JIT warm
        var s = peer.Ping("-f", "-c", "10000", "-W", "2");
        output.WriteLine($"flood ping through the stack: {s.Transmitted} transmitted, {s.Received} received; {s.RttLine}");
        Assert.Equal(10000, s.Transmitted);
        Assert.Equal(10000, s.Received);
        Assert.Equal(0, peer.Counter("Dev.TxDropped"));
        Assert.Equal(0, peer.Counter("Dev.RxErrors"));
    }

    [PeerFact]
    public void FloodPing_WithBusyPolling_LosesNone()
    {
        // --busy-poll: the receive thread spins in poll(0) before sleeping; nothing may be lost or broken by it.
        using var peer = new TapPeer(configure: o => o.BusyPollUs = 50);
        Assert.Equal(50, peer.Host.Device.BusyPollUs);
        Assert.Equal(3, peer.Ping("-c", "3", "-i", "0.01").Received);
        var s = peer.Ping("-f", "-c", "2000", "-W", "2");
        output.WriteLine($"flood ping with busy polling: {s.RttLine}");
        Assert.Equal(2000, s.Received);
    }

    [PeerFact]
    public void KernelNeighbourTable_HoldsStackMac()
    {
        using var peer = new TapPeer();
        Assert.Equal(1, peer.Ping("-c", "1", "-W", "2").Received);
        var r = peer.Exec("ip", "neigh", "show", peer.StackIp, "dev", peer.Tap);
        output.WriteLine(r.StdOut);
        Assert.Contains($"lladdr {peer.StackMac}", r.StdOut);
        Assert.DoesNotContain("FAILED", r.StdOut);
        // And the stack learned the kernel's MAC from the exchange.
        var kernelMac = peer.Exec("cat", $"/sys/class/net/{peer.Tap}/address").StdOut.Trim();
        lock (peer.Net.SyncRoot)
        {
            var n = peer.Net.Ipv4.Arp.NeighLookup(peer.KernelAddr, peer.Host.Device);
            Assert.NotNull(n);
            Assert.Equal(kernelMac, n!.HaAddr.ToString());
        }
    }

    [PeerFact]
    public void GratuitousArp_SentOnAttach()
    {
        // The stack announces its address when it comes up (inetdev_send_gratuitous_arp).
        using var peer = new TapPeer();
        peer.FlushCapture();
        Assert.Equal(1, Tshark.Count(peer.PcapPath, $"arp.opcode == 1 && arp.src.proto_ipv4 == {peer.StackIp} && arp.dst.proto_ipv4 == {peer.StackIp} && eth.src == {peer.StackMac}"));
    }
}
