using System.Net;
using NetStack.Ipv4;
using NetStack.Ipv6;
using NetStack.Wire;

namespace NetStack.PeerTests;

/// <summary>
/// The Linux kernel, on the other side of a TAP in its own namespace with IPv6 on, pings the
/// stack's link-local and global IPv6 addresses, resolving it by neighbour discovery.
/// </summary>
public sealed class Ping6PeerTests(ITestOutputHelper output)
{
    private const string KernelGlobal = "fd00:7::1", StackGlobal = "fd00:7::2";

    private static TapPeer Peer()
    {
        // StackOptions.Ipv6Address: the path `netstack up --addr6` takes.
        var peer = new TapPeer(ipv6: true, configure: o => o.Ipv6Address = IPAddress.Parse(StackGlobal));
        try
        {
            peer.Exec("ip", "-6", "addr", "add", $"{KernelGlobal}/64", "dev", peer.Tap, "nodad");
            // The kernel makes its own link-local address once the stack's end of the TAP gives it a carrier.
            Assert.True(TapPeer.WaitUntil(() => peer.Exec("ip", "-6", "addr", "show", "dev", peer.Tap, "scope", "link").StdOut.Contains("fe80::"),
                TimeSpan.FromSeconds(5)), "the kernel made no link-local address on the TAP");
            return peer;
        }
        catch
        {
            peer.Dispose();
            throw;
        }
    }

    private static string StackLinkLocal(TapPeer peer) => Ipv6Address.Format(Ipv6Address.LinkLocal(peer.StackMac));

    private PingSummary Ping6(TapPeer peer, string target)
    {
        var r = peer.Exec(TimeSpan.FromSeconds(60), "ping", "-6", "-n", "-c", "20", "-i", "0.05", "-W", "2", target);
        var s = PingSummary.Parse(r.StdOut);
        output.WriteLine($"ping -6 {target}: {s.Transmitted} transmitted, {s.Received} received; {s.RttLine}");
        return s;
    }

    [PeerFact]
    public void Ping6_LinkLocalWithScope_20of20()
    {
        using var peer = Peer();
        var s = Ping6(peer, $"{StackLinkLocal(peer)}%{peer.Tap}");
        Assert.Equal(20, s.Transmitted);
        Assert.Equal(20, s.Received);
        Assert.Equal(20, peer.Net.Ipv6.Icmp6Stats[Icmp6Mib.Icmp6InEchos]);
        Assert.Equal(20, peer.Net.Ipv6.Icmp6Stats[Icmp6Mib.Icmp6OutEchoReplies]);
    }

    [PeerFact]
    public void Ping6_GlobalAddress_20of20()
    {
        using var peer = Peer();
        var s = Ping6(peer, StackGlobal);
        Assert.Equal(20, s.Transmitted);
        Assert.Equal(20, s.Received);
        // The stack learned the kernel from its solicitation and answered through that entry.
        var kernelMac = peer.Exec("cat", $"/sys/class/net/{peer.Tap}/address").StdOut.Trim();
        lock (peer.Net.SyncRoot)
        {
            var n = peer.Net.Ipv6.NdTbl.NeighLookup(Ipv6Address.Parse(KernelGlobal), peer.Host.Device);
            Assert.NotNull(n);
            Assert.Equal(kernelMac, n!.HaAddr.ToString());
        }
    }

    [PeerFact]
    public void FloodPing6_10000_LosesNone()
    {
        using var peer = Peer();
        Assert.Equal(20, Ping6(peer, StackGlobal).Received); // resolved, JIT warm
        var r = peer.Exec(TimeSpan.FromSeconds(120), "ping", "-6", "-n", "-f", "-c", "10000", "-W", "2", StackGlobal);
        var s = PingSummary.Parse(r.StdOut);
        output.WriteLine($"flood ping -6 through the stack: {s.Transmitted} transmitted, {s.Received} received; {s.RttLine}");
        Assert.Equal(10000, s.Transmitted);
        Assert.Equal(10000, s.Received);
        Assert.Equal(0, peer.Counter("Dev.TxDropped"));
    }

    [PeerFact]
    public void Capture_ReadByTshark_NoMalformedFrameNoBadIcmpv6Checksum()
    {
        using var peer = Peer();
        int replies = 0;
        foreach (var size in new[] { "0", "56", "1000", "1452", "3000" })
            foreach (var target in new[] { $"{StackLinkLocal(peer)}%{peer.Tap}", StackGlobal })
            {
                var r = peer.Exec(TimeSpan.FromSeconds(60), "ping", "-6", "-n", "-c", "5", "-i", "0.01", "-s", size, "-W", "2", target);
                var s = PingSummary.Parse(r.StdOut);
                Assert.Equal(5, s.Received);
                replies += s.Received;
            }
        peer.FlushCapture();
        var problems = Tshark.Frames(peer.PcapPath, Tshark.ProblemFilter + " || icmpv6.checksum.status == \"Bad\"");
        foreach (var p in problems) output.WriteLine(p);
        Assert.Empty(problems);
        string mac = peer.StackMac.ToString();
        Assert.Equal(replies, Tshark.Count(peer.PcapPath, $"eth.src == {mac} && icmpv6.type == 129 && icmpv6.checksum.status == \"Good\""));
        Assert.True(Tshark.Count(peer.PcapPath, $"eth.src == {mac} && icmpv6.type == 136 && icmpv6.checksum.status == \"Good\" && icmpv6.opt.linkaddr == {mac}") >= 2,
            "the stack's advertisements (one per address) are in the capture with our link-layer address");
    }

    /// <summary>
    /// The kernel resolves the stack with a multicast solicitation and takes its solicited
    /// advertisement as confirmation: REACHABLE, for base_reachable_time/2 at least (15 s), far
    /// longer than this test. The stack's later unicast probe (its own entry going DELAY -> PROBE)
    /// carries the same address and leaves the kernel's entry REACHABLE.
    /// </summary>
    [PeerFact]
    public void KernelNeighbourTable_HoldsStackReachable_ForBothAddresses()
    {
        using var peer = Peer();
        string ll = StackLinkLocal(peer);
        Assert.Equal(20, Ping6(peer, $"{ll}%{peer.Tap}").Received);
        Assert.Equal(20, Ping6(peer, StackGlobal).Received);
        var neigh = peer.Exec("ip", "-6", "neigh", "show", "dev", peer.Tap).StdOut;
        output.WriteLine(neigh);
        var lines = neigh.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        foreach (var addr in new[] { ll, StackGlobal })
        {
            var line = Assert.Single(lines, l => l.StartsWith(addr + " ", StringComparison.Ordinal));
            Assert.Equal($"{addr} lladdr {peer.StackMac} REACHABLE", line.Trim());
        }
    }
}
