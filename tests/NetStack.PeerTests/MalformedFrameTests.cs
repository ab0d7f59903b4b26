namespace NetStack.PeerTests;

/// <summary>One stack shared by the malformed-frame cases (they run one after another), made on first use so a skipped run makes nothing.</summary>
public sealed class MalformedPeerFixture : IDisposable
{
    private TapPeer? _peer;
    public TapPeer Peer => _peer ??= new TapPeer();
    public void Dispose() => _peer?.Dispose();
}

/// <summary>
/// The kernel side sends malformed frames (crafted with scapy inside the namespace): each is
/// dropped and counted under the right MIB counter and drop reason, exactly once, and the stack
/// keeps answering ARP and ping.
/// </summary>
public sealed class MalformedFrameTests(MalformedPeerFixture fixture, ITestOutputHelper output) : IClassFixture<MalformedPeerFixture>
{
    [PeerTheory]
    [InlineData("arp-truncated", "Drops.ArpTruncated")]
    [InlineData("arp-bad-hwtype", "Drops.ArpInvalid")]
    [InlineData("ip-truncated", "Ip.InHdrErrors", "Drops.IpInHdr")]
    [InlineData("ip-bad-version", "Ip.InHdrErrors", "Drops.IpInHdr")]
    [InlineData("ip-bad-ihl", "Ip.InHdrErrors", "Drops.IpInHdr")]
    [InlineData("ip-ihl-beyond-frame", "Ip.InHdrErrors", "Drops.IpInHdr")]
    [InlineData("ip-bad-checksum", "Ip.InHdrErrors", "Drops.IpCsum")]
    [InlineData("ip-len-too-long", "IpExt.InTruncatedPkts", "Drops.PktTooSmall")] // ip_rcv_core(): not a header error
    [InlineData("ip-len-too-short", "Ip.InHdrErrors", "Drops.IpInHdr")]
    [InlineData("ethertype-unknown", "Drops.UnhandledProto")]
    [InlineData("ip-proto-unknown", "Ip.InUnknownProtos", "Drops.IpNoProto", "Icmp.OutDestUnreachs")]
    [InlineData("icmp-bad-checksum", "Icmp.InErrors", "Icmp.InCsumErrors", "Drops.IcmpCsum")]
    [InlineData("icmp-truncated", "Icmp.InErrors", "Drops.IcmpTruncated")]
    [InlineData("ip-not-our-address", "Ip.InAddrErrors", "Drops.IpInAddrErrors")]
    // Legal, if unusual: a total length shorter than the frame is Ethernet padding; the echo is answered.
    [InlineData("ip-padded", "Icmp.InEchos", "Icmp.OutEchoReps")]
    public void Frame_IsCountedOnce_AndStackKeepsAnswering(string frame, params string[] counters)
    {
        var peer = fixture.Peer;
        var before = counters.Select(peer.Counter).ToArray();
        Send(peer, frame);

        bool arrived = TapPeer.WaitUntil(() => counters.Select(peer.Counter).Zip(before).All(p => p.First > p.Second));
        Thread.Sleep(50); // a second count of the same frame would show up by now
        var after = counters.Select(peer.Counter).ToArray();
        for (int i = 0; i < counters.Length; i++) output.WriteLine($"{counters[i]}: {before[i]} -> {after[i]}");
        Assert.True(arrived, $"counters did not move for {frame}: {peer.Net.Mib.Format()}");
        for (int i = 0; i < counters.Length; i++) Assert.Equal(before[i] + 1, after[i]);

        Assert.Equal(1, peer.Ping("-c", "1", "-W", "2").Received);
    }

    [PeerFact]
    public void AfterEveryMalformedFrame_StackStillAnswersArpAndPing_AndTsharkSeesOnlyTheKernelsFramesAsBad()
    {
        var peer = fixture.Peer;
        Send(peer, "all");
        // Forget the stack's MAC, so the pings below need a fresh ARP exchange.
        peer.Exec("ip", "neigh", "flush", "dev", peer.Tap);
        var s = peer.Ping("-c", "5", "-i", "0.05", "-W", "2");
        Assert.Equal(5, s.Received);
        Assert.Contains($"lladdr {peer.StackMac}", peer.Exec("ip", "neigh", "show", peer.StackIp, "dev", peer.Tap).StdOut);

        peer.FlushCapture();
        // The oracle does see what is wrong with the crafted frames...
        var bad = Tshark.Frames(peer.PcapPath, Tshark.ProblemFilter);
        foreach (var b in bad) output.WriteLine(b);
        Assert.Contains(bad, l => l.Contains("ip.checksum", StringComparison.Ordinal) || l.Contains("checksum", StringComparison.OrdinalIgnoreCase));
        // ...and finds nothing wrong with anything the stack itself sent.
        Assert.Empty(Tshark.Frames(peer.PcapPath, $"eth.src == {peer.StackMac} && ({Tshark.ProblemFilter})"));
    }

    private void Send(TapPeer peer, string frame)
    {
        string script = Path.Combine(AppContext.BaseDirectory, "scripts", "malformed.py");
        var r = peer.Exec("/usr/bin/python3", script, peer.Tap, peer.StackMac.ToString(), peer.KernelIp, peer.StackIp, frame);
        output.WriteLine(r.StdOut + r.StdErr);
        Assert.True(r.ExitCode == 0, r.ToString());
    }
}
