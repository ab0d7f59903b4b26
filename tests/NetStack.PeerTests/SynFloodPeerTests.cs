using System.Globalization;

namespace NetStack.PeerTests;

/// <summary>
/// A SYN flood from the kernel side (hping3, random source addresses) at a stack listener with a
/// small backlog, while a 200 MB transfer runs on a connection established before the flood: the
/// SYN queue overflows, the stack answers with SYN cookies and keeps nothing, a legitimate kernel
/// client connecting during the flood gets through (through a cookie), the transfer completes
/// intact, and the stack's managed heap stays within <see cref="FloodKit.HeapGrowthBound"/>.
/// </summary>
public sealed class SynFloodPeerTests(ITestOutputHelper output)
{
    private const int Port = 8081, BulkPort = 9000;

    [PeerFact]
    public void SynFloodFromRandomSources_LegitimateClientsConnectThroughCookies_TransferIntact_HeapBounded()
    {
        string hping = FloodKit.Hping3();
        using var peer = TcpPeerKit.NewPeer(Impairment.None);
        Assert.Equal("1", peer.Net.Sysctl.TryGet("net.ipv4.tcp_syncookies", out var mode) ? mode : null);
        using var listener = new FloodKit.EchoListener(peer, Port, backlog: 4);
        // Warm the path with one connection before the flood (JIT, ARP both ways).
        Assert.Equal("warm", FloodKit.EchoClient(peer, Port, "warm"));
        using var bulk = new FloodKit.BulkTransfer(peer, BulkPort);

        var mib = peer.Net.Mib;
        long inSegs0 = mib.Tcp.Get("InSegs"), sent0 = mib.TcpExt.Get("SyncookiesSent"), recv0 = mib.TcpExt.Get("SyncookiesRecv");
        long failed0 = mib.TcpExt.Get("SyncookiesFailed"), drops0 = mib.TcpExt.Get("ListenDrops");
        List<(string Sent, string Got)> clients = [];
        var report = FloodKit.Run(peer, FloodKit.FloodTime,
            [hping, "-S", "--flood", "--rand-source", "-p", Port.ToString(CultureInfo.InvariantCulture), peer.StackIp],
            during: sw => clients = FloodKit.ClientsDuring(peer, Port, sw, FloodKit.FloodTime, afterFirst: bulk.Go));
        bool doneInFlood = bulk.Done;
        var (received, stackSha, kernelSha, seconds) = bulk.Finish(TimeSpan.FromSeconds(180));
        long inSegs = mib.Tcp.Get("InSegs") - inSegs0;
        long cookiesSent = mib.TcpExt.Get("SyncookiesSent") - sent0;
        long cookiesRecv = mib.TcpExt.Get("SyncookiesRecv") - recv0;
        long cookiesFailed = mib.TcpExt.Get("SyncookiesFailed") - failed0;
        long listenDrops = mib.TcpExt.Get("ListenDrops") - drops0;

        output.WriteLine(report.ToString());
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"the stack took {inSegs} TCP segments ({inSegs / report.Seconds:F0}/s) and sent {cookiesSent} cookie SYN-ACKs ({cookiesSent / report.Seconds:F0}/s); " +
            $"SyncookiesRecv {cookiesRecv}, SyncookiesFailed {cookiesFailed}, ListenDrops {listenDrops}"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"200 MB from the kernel in {seconds:F1} s ({received / seconds / 1e6:F1} MB/s), finished while the flood ran: {doneInFlood}"));
        foreach (var c in clients) output.WriteLine($"client {c.Sent}: got \"{c.Got}\"");
        foreach (var line in peer.Net.Log.Read()) output.WriteLine("log: " + line);

        Assert.NotEmpty(clients);
        Assert.All(clients, c => Assert.Equal(c.Sent, c.Got));
        Assert.Equal(bulk.Size, received);
        Assert.Equal(kernelSha, stackSha);
        Assert.True(cookiesSent > 1000, $"only {cookiesSent} cookies sent: the flood did not overflow the SYN queue");
        Assert.True(cookiesRecv >= 1, "no connection completed through a cookie");
        FloodKit.AssertHeapBounded(report);
        Assert.Contains(peer.Net.Log.Read(), l => l.EndsWith($"TCP: request_sock_TCP: Possible SYN flooding on port {peer.StackIp}:{Port}. Sending cookies.", StringComparison.Ordinal));
        Assert.Equal(1 + clients.Count, listener.Echoed);
    }
}
