using System.Diagnostics;
using System.Globalization;
using NetStack.Api;
using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.PeerTests;

/// <summary>
/// Floods from the kernel side (hping3 in the test namespace) that try to make the stack hold
/// memory: fragments that never complete, from random sources (reassembly stays under
/// ipfrag_high_thresh), and UDP to a socket nobody reads (SO_RCVBUF and udp_mem hold, RcvbufErrors
/// counted). Each runs 20 s at the highest rate hping3 reaches; the managed heap stays bounded.
/// </summary>
public sealed class MemoryFloodPeerTests(ITestOutputHelper output)
{
    private static readonly TimeSpan FloodTime = TimeSpan.FromSeconds(20);
    /// <summary>The stated bound: the managed heap during a flood stays within this much of its size before it.</summary>
    private const long HeapGrowthBound = 16L << 20;

    private static string Hping()
    {
        string? hping = new[] { "/usr/sbin/hping3", "/usr/bin/hping3", "/sbin/hping3" }.FirstOrDefault(File.Exists);
        Assert.True(hping is not null, "this test floods with hping3 (apt-get install hping3; scripts/test.sh installs it)");
        return hping!;
    }

    /// <summary>Runs <paramref name="args"/> (hping3) in the namespace for <see cref="FloodTime"/> while <paramref name="sample"/> runs every 20 ms; returns the heap before and its peak.</summary>
    private static (long Before, long Peak, double Seconds) Flood(TapPeer peer, Action sample, params string[] args)
    {
        GC.Collect();
        long before = GC.GetTotalMemory(forceFullCollection: true), peak = before;
        var sw = Stopwatch.StartNew();
        using (var flood = BackgroundProcess.InNamespace(peer.Ns, null, [Hping(), .. args]))
        {
            try
            {
                while (sw.Elapsed < FloodTime)
                {
                    Thread.Sleep(20);
                    sample();
                    peak = Math.Max(peak, GC.GetTotalMemory(false));
                }
                Assert.False(flood.HasExited, $"hping3 stopped early:\n{flood.Output}");
            }
            finally
            {
                flood.Kill(); // by its PID
            }
        }
        return (before, peak, sw.Elapsed.TotalSeconds);
    }

    [PeerFact]
    public void NeverCompletingFragmentsFromRandomSources_ReassemblyStaysUnderHighThresh_ThenRecovers()
    {
        using var peer = TcpPeerKit.NewPeer(Impairment.None);
        var net = peer.Net;
        // A short ipfrag_time so that the test can show recovery without waiting 30 s.
        Assert.Equal(0, net.Sysctl.TrySet("net.ipv4.ipfrag_time", "5"));
        Assert.Equal(1, peer.Ping("-c", "1", "-W", "5", "-s", "3000").Received); // fragmented both ways
        var st = net.Ipv4.Frags;
        long high = net.Ipv4.Sysctl.IpfragHighThresh;
        long slack = SkBuffPool.DefaultBufferSize + Sock.SkbTruesizeOverhead + IpFragment.IpqSize;
        var mib = net.Mib;
        long reqds0 = mib.Ip[IpMib.ReasmReqds], fails0 = mib.Ip[IpMib.ReasmFails], limit0 = mib.Drops[SkbDropReason.FragMemLimit];
        long peakMem = 0;
        var (before, heapPeak, seconds) = Flood(peer, () => peakMem = Math.Max(peakMem, Volatile.Read(ref st.Mem)),
            "--udp", "--flood", "--rand-source", "-x", "-d", "1200", "-p", "9", peer.StackIp);
        long reqds = mib.Ip[IpMib.ReasmReqds] - reqds0, fails = mib.Ip[IpMib.ReasmFails] - fails0;
        long limited = mib.Drops[SkbDropReason.FragMemLimit] - limit0;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"flood {seconds:F1} s: {reqds} fragments ({reqds / seconds:F0}/s), ReasmFails {fails}, FragMemLimit drops {limited}, " +
            $"ReasmTimeout {mib.Ip[IpMib.ReasmTimeout]}; reassembly memory peak {peakMem / 1e6:F2} MB (ipfrag_high_thresh {high / 1e6:F2} MB); " +
            $"managed heap {before / 1e6:F1} MB before, peak {heapPeak / 1e6:F1} MB"));

        Assert.True(reqds > 10_000, $"only {reqds} fragments reached the stack");
        Assert.True(peakMem <= high + slack, $"reassembly memory {peakMem} above ipfrag_high_thresh {high}");
        Assert.True(limited > 0, "the flood never filled reassembly memory");
        Assert.True(heapPeak - before <= HeapGrowthBound, $"managed heap grew by {(heapPeak - before) >> 20} MiB");

        // ipfrag_time after the flood every queue has expired and a fragmented ping goes through again.
        Thread.Sleep(6_000);
        lock (net.SyncRoot) Assert.Empty(st.Queues);
        Assert.Equal(1, peer.Ping("-c", "1", "-W", "5", "-s", "3000").Received);
    }

    [PeerFact]
    public void UdpFloodToASocketNobodyReads_RcvbufErrorsCounted_MemoryBounded()
    {
        using var peer = TcpPeerKit.NewPeer(Impairment.None);
        var net = peer.Net;
        using var sock = NetSocket.Udp(net);
        sock.Bind(Ep.Of(peer.StackAddr, 9000));
        UdpSock sk;
        lock (net.SyncRoot) sk = (UdpSock)net.Files.Lookup(sock.Fd)!.Sk!;
        int truesize = SkBuffPool.DefaultBufferSize + Sock.SkbTruesizeOverhead;
        long max = net.Ipv4.Sysctl.UdpMem[2];
        var udp = net.Mib.Udp;
        long rcvbufErrors0 = udp[UdpMib.RcvbufErrors], inDatagrams0 = udp[UdpMib.InDatagrams];
        int peakRmem = 0;
        long peakPages = 0;
        var (before, heapPeak, seconds) = Flood(peer, () =>
        {
            peakRmem = Math.Max(peakRmem, Volatile.Read(ref sk.RmemAlloc));
            peakPages = Math.Max(peakPages, Volatile.Read(ref net.Ipv4.UdpMemoryAllocated));
        }, "--udp", "--flood", "-d", "100", "-p", "9000", peer.StackIp);
        long rcvbufErrors = udp[UdpMib.RcvbufErrors] - rcvbufErrors0;
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"flood {seconds:F1} s: RcvbufErrors {rcvbufErrors} ({rcvbufErrors / seconds:F0}/s), InErrors {udp[UdpMib.InErrors]}, MemErrors {udp[UdpMib.MemErrors]}; " +
            $"receive queue peak {peakRmem} bytes (SO_RCVBUF {sk.RcvBuf}), udp_mem peak {peakPages} pages (max {max}); " +
            $"managed heap {before / 1e6:F1} MB before, peak {heapPeak / 1e6:F1} MB"));

        Assert.True(rcvbufErrors > 10_000, $"only {rcvbufErrors} datagrams dropped: the flood did not fill the socket");
        Assert.True(peakRmem <= sk.RcvBuf + truesize, $"receive queue {peakRmem} beyond SO_RCVBUF {sk.RcvBuf}");
        Assert.True(peakPages <= max, $"udp_mem {peakPages} pages beyond its max {max}");
        Assert.True(heapPeak - before <= HeapGrowthBound, $"managed heap grew by {(heapPeak - before) >> 20} MiB");

        // What was queued is still there and readable; reading and closing give every page back.
        var buf = new byte[2048];
        int read = 0;
        while (SocketCalls.Recv(sock.Files, sock.Fd, buf, MSG_DONTWAIT) > 0) read++;
        Assert.True(read > 0);
        sock.Dispose();
        Assert.Equal(0, Volatile.Read(ref net.Ipv4.UdpMemoryAllocated));
    }
}
