namespace NetStack.PeerTests;

/// <summary>
/// The receive and transmit path through a real TAP allocates nothing in steady state: the test
/// thread itself plays the softirq (polls the device and the stack) while the kernel floods it
/// with pings, and the thread's allocation counter must not move.
/// </summary>
public sealed class AllocationTests(ITestOutputHelper output)
{
    [PeerFact]
    public void FloodPingThroughTap_SteadyState_AllocatesNothing()
    {
        using var peer = new TapPeer(start: false);
        var dev = peer.Host.Device;

        // Warm-up: ARP both ways, JIT, pool growth, pcap buffer.
        Assert.Equal(500, PingWhilePolling(peer, out _, "-f", "-c", "500").Received);

        var s = PingWhilePolling(peer, out long allocated, "-f", "-c", "5000");
        output.WriteLine($"{s.Received} echoes answered; {allocated} bytes allocated on the polling thread; {s.RttLine}");
        Assert.Equal(5000, s.Received);
        Assert.Equal(0, allocated);
    }

    /// <summary>Runs ping on another thread while this thread polls the stack; returns the bytes this thread allocated meanwhile.</summary>
    private static PingSummary PingWhilePolling(TapPeer peer, out long allocated, params string[] pingArgs)
    {
        var dev = peer.Host.Device;
        var net = peer.Net;
        var ping = Task.Run(() => peer.Ping([.. pingArgs, "-W", "2"]));
        long before = GC.GetAllocatedBytesForCurrentThread();
        while (!ping.IsCompleted)
        {
            dev.WaitForWork(5);
            net.Poll();
        }
        allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        return ping.Result;
    }
}
