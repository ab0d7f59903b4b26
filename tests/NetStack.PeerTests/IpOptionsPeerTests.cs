using System.Text.RegularExpressions;

namespace NetStack.PeerTests;

/// <summary>
/// IPv4 options answered as Linux answers them (ip_options_echo), with the kernel's own ping(8)
/// as the witness: -R (record route) and -T (timestamps) from the kernel's namespace to the stack.
/// Each host that handles the packet adds its entry: the kernel as it sends, the stack as the
/// request arrives and as the reply leaves, the kernel as the reply arrives.
/// </summary>
public sealed partial class IpOptionsPeerTests(ITestOutputHelper output)
{
    /// <summary>The addresses ping prints after "RR:" (or "TS:" with tsandaddr), one entry a line.</summary>
    private static List<string> Entries(string stdout, string tag)
    {
        var lines = stdout.Split('\n');
        int at = Array.FindIndex(lines, l => l.StartsWith(tag, StringComparison.Ordinal));
        Assert.True(at >= 0, $"no {tag} in:\n{stdout}");
        var entries = new List<string> { lines[at][tag.Length..].Trim() };
        for (int i = at + 1; i < lines.Length && lines[i].StartsWith('\t'); i++) entries.Add(lines[i].Trim());
        return entries;
    }

    [PeerFact]
    public void PingRecordRoute_ShowsTheStackTwice()
    {
        using var peer = new TapPeer();
        Assert.Equal(1, peer.Ping("-c", "1", "-W", "2").Received); // ARP resolved
        var r = peer.Exec(TimeSpan.FromSeconds(30), "ping", "-n", "-R", "-c", "1", "-W", "2", peer.StackIp);
        output.WriteLine(r.StdOut);
        Assert.Equal(1, PingSummary.Parse(r.StdOut).Received);
        Assert.Equal([peer.KernelIp, peer.StackIp, peer.StackIp, peer.KernelIp], Entries(r.StdOut, "RR:"));
    }

    [PeerFact]
    public void PingTimestamps_TsonlyAndTsandaddr()
    {
        using var peer = new TapPeer();
        Assert.Equal(1, peer.Ping("-c", "1", "-W", "2").Received);
        var r = peer.Exec(TimeSpan.FromSeconds(30), "ping", "-n", "-T", "tsonly", "-c", "1", "-W", "2", peer.StackIp);
        output.WriteLine(r.StdOut);
        Assert.Equal(1, PingSummary.Parse(r.StdOut).Received);
        // Four stamps: the first absolute (ms since midnight UT), the rest as differences from the one before.
        var ts = Entries(r.StdOut, "TS:");
        Assert.Equal(4, ts.Count);
        Assert.Matches(@"^\d+ absolute$", ts[0]);
        Assert.All(ts.Skip(1), t => Assert.Matches(@"^-?\d+$", t));

        r = peer.Exec(TimeSpan.FromSeconds(30), "ping", "-n", "-T", "tsandaddr", "-c", "1", "-W", "2", peer.StackIp);
        output.WriteLine(r.StdOut);
        Assert.Equal(1, PingSummary.Parse(r.StdOut).Received);
        var pairs = Entries(r.StdOut, "TS:").Select(e => AddrRegex().Match(e)).ToList();
        Assert.All(pairs, m => Assert.True(m.Success));
        Assert.Equal([peer.KernelIp, peer.StackIp, peer.StackIp, peer.KernelIp], pairs.Select(m => m.Groups[1].Value));
    }

    [GeneratedRegex(@"^(\d+\.\d+\.\d+\.\d+)\s+-?\d+( absolute)?$")]
    private static partial Regex AddrRegex();
}
