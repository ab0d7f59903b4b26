using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using NetStack.Api;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.PeerTests;

/// <summary>
/// A SYN flood from the kernel side (hping3, random source addresses) at a stack listener with a
/// small backlog: the SYN queue overflows, the stack answers with SYN cookies and keeps nothing, and a
/// legitimate kernel client connecting during the flood gets through (through a cookie), while the
/// stack's managed heap stays bounded.
/// </summary>
public sealed class SynFloodPeerTests(ITestOutputHelper output)
{
    private const int Port = 8081;
    private static readonly TimeSpan FloodTime = TimeSpan.FromSeconds(20);
    /// <summary>The stated bound: the managed heap during the flood stays within this much of its size before it.</summary>
    private const long HeapGrowthBound = 16L << 20;

    private const string Client =
        "import socket,sys\n" +
        "s=socket.create_connection((sys.argv[1],int(sys.argv[2])),timeout=15)\n" +
        "s.sendall(sys.argv[3].encode())\n" +
        "print(s.recv(64).decode())\n";

    [PeerFact]
    public void SynFloodFromRandomSources_LegitimateClientsConnectThroughCookies_HeapBounded()
    {
        string? hping = new[] { "/usr/sbin/hping3", "/usr/bin/hping3", "/sbin/hping3" }.FirstOrDefault(File.Exists);
        Assert.True(hping is not null, "this test floods with hping3 (apt-get install hping3; scripts/test.sh installs it)");
        using var peer = TcpPeerKit.NewPeer(Impairment.None);
        Assert.Equal("1", peer.Net.Sysctl.TryGet("net.ipv4.tcp_syncookies", out var mode) ? mode : null);

        using var listener = NetSocket.Tcp(peer.Net);
        listener.Bind(Ep.Of(peer.StackAddr, Port));
        listener.Listen(4);
        using var stop = new CancellationTokenSource();
        int echoed = 0;
        var acceptor = Task.Run(() =>
        {
            var buf = new byte[64];
            while (!stop.IsCancellationRequested)
            {
                if ((listener.Poll(POLLIN, 100) & POLLIN) == 0) continue;
                using var c = listener.Accept();
                c.ReceiveTimeout = 10_000;
                try
                {
                    int n = c.Receive(buf);
                    if (n > 0) c.Send(buf.AsSpan(0, n));
                    Interlocked.Increment(ref echoed);
                }
                catch (NetStackException)
                {
                    // The client gave up; it reports its failure itself.
                }
            }
        });

        // Warm the path with one connection before the flood (JIT, ARP both ways).
        Assert.Equal("warm", RunClient(peer, "warm"));
        GC.Collect();
        long heapBefore = GC.GetTotalMemory(forceFullCollection: true);
        long heapPeak = heapBefore;
        var mib = peer.Net.Mib;
        long inSegs0 = mib.Tcp.Get("InSegs"), sent0 = mib.TcpExt.Get("SyncookiesSent"), recv0 = mib.TcpExt.Get("SyncookiesRecv");
        long failed0 = mib.TcpExt.Get("SyncookiesFailed"), drops0 = mib.TcpExt.Get("ListenDrops");
        var (tapTx0, tapDrop0) = KernelTapTx(peer);

        var sw = Stopwatch.StartNew();
        var clients = new List<(string Sent, string Got, double Seconds)>();
        using (var flood = BackgroundProcess.InNamespace(peer.Ns, null, hping!, "-S", "--flood", "--rand-source", "-p",
                   Port.ToString(CultureInfo.InvariantCulture), peer.StackIp))
        {
            using var sampler = new Timer(_ =>
            {
                long h = GC.GetTotalMemory(false);
                long seen;
                while (h > (seen = Interlocked.Read(ref heapPeak)) && Interlocked.CompareExchange(ref heapPeak, h, seen) != seen) { }
            }, null, 0, 50);
            try
            {
                Thread.Sleep(2000); // the SYN queue is long full by now
                for (int i = 0; sw.Elapsed < FloodTime - TimeSpan.FromSeconds(2); i++)
                {
                    string msg = $"legit-{i}";
                    var t = Stopwatch.StartNew();
                    string got = RunClient(peer, msg);
                    clients.Add((msg, got, t.Elapsed.TotalSeconds));
                    Thread.Sleep(1000);
                }
                Thread.Sleep(Math.Max(0, (int)(FloodTime - sw.Elapsed).TotalMilliseconds));
                Assert.False(flood.HasExited, $"hping3 stopped early:\n{flood.Output}");
            }
            finally
            {
                flood.Kill(); // by its PID (ip netns exec execs hping3 itself)
            }
        }
        double seconds = sw.Elapsed.TotalSeconds;
        long inSegs = mib.Tcp.Get("InSegs") - inSegs0;
        long cookiesSent = mib.TcpExt.Get("SyncookiesSent") - sent0;
        long cookiesRecv = mib.TcpExt.Get("SyncookiesRecv") - recv0;
        long cookiesFailed = mib.TcpExt.Get("SyncookiesFailed") - failed0;
        long listenDrops = mib.TcpExt.Get("ListenDrops") - drops0;
        var (tapTx, tapDrop) = KernelTapTx(peer);
        stop.Cancel();
        acceptor.Wait(TimeSpan.FromSeconds(15));

        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"flood {seconds:F1} s: kernel sent {tapTx - tapTx0} frames into the TAP ({(tapTx - tapTx0) / seconds:F0}/s), dropped {tapDrop - tapDrop0} at its queue; " +
            $"the stack took {inSegs} TCP segments ({inSegs / seconds:F0}/s) and sent {cookiesSent} cookie SYN-ACKs ({cookiesSent / seconds:F0}/s); " +
            $"SyncookiesRecv {cookiesRecv}, SyncookiesFailed {cookiesFailed}, ListenDrops {listenDrops}"));
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"managed heap: {heapBefore / 1e6:F1} MB before, peak {Interlocked.Read(ref heapPeak) / 1e6:F1} MB during the flood (bound: +{HeapGrowthBound >> 20} MiB)"));
        foreach (var c in clients) output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"client {c.Sent}: got \"{c.Got}\" in {c.Seconds:F2} s"));
        foreach (var line in peer.Net.Log.Read()) output.WriteLine("log: " + line);

        Assert.NotEmpty(clients);
        Assert.All(clients, c => Assert.Equal(c.Sent, c.Got));
        Assert.True(cookiesSent > 1000, $"only {cookiesSent} cookies sent: the flood did not overflow the SYN queue");
        Assert.True(cookiesRecv >= 1, "no connection completed through a cookie");
        Assert.True(Interlocked.Read(ref heapPeak) - heapBefore <= HeapGrowthBound,
            $"managed heap grew by {(Interlocked.Read(ref heapPeak) - heapBefore) >> 20} MiB during the flood");
        Assert.Contains(peer.Net.Log.Read(), l => l.EndsWith($"TCP: request_sock_TCP: Possible SYN flooding on port {peer.StackIp}:{Port}. Sending cookies.", StringComparison.Ordinal));
        Assert.Equal(1 + clients.Count, Volatile.Read(ref echoed));
    }

    private static string RunClient(TapPeer peer, string msg)
    {
        var r = peer.Exec(TimeSpan.FromSeconds(30), "/usr/bin/python3", "-c", Client, peer.StackIp, Port.ToString(CultureInfo.InvariantCulture), msg);
        return r.ExitCode == 0 ? r.StdOut.Trim() : $"failed ({r.ExitCode}): {r.StdErr.Trim()}";
    }

    /// <summary>The kernel's transmit counters of the namespace's TAP (frames written towards the stack, and dropped at its queue).</summary>
    private static (long Packets, long Dropped) KernelTapTx(TapPeer peer)
    {
        var r = peer.Exec("ip", "-s", "-j", "link", "show", "dev", peer.Tap);
        using var doc = JsonDocument.Parse(r.StdOut);
        var tx = doc.RootElement[0].GetProperty("stats64").GetProperty("tx");
        return (tx.GetProperty("packets").GetInt64(), tx.GetProperty("dropped").GetInt64());
    }
}
