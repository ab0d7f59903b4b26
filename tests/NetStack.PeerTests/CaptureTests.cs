namespace NetStack.PeerTests;

/// <summary>tshark, an independent dissector, judges the frames in the stack's own pcap capture.</summary>
public sealed class CaptureTests(ITestOutputHelper output)
{
    [PeerFact]
    public void Capture_ReadByTshark_NoMalformedFrameNoBadChecksum()
    {
        using var peer = new TapPeer();
        int replies = 0;
        foreach (var size in new[] { "0", "56", "1000", "1472" })
        {
            var s = peer.Ping("-c", "10", "-i", "0.01", "-s", size, "-W", "2");
            Assert.Equal(10, s.Received);
            replies += s.Received;
        }
        peer.FlushCapture();

        var problems = Tshark.Frames(peer.PcapPath, Tshark.ProblemFilter);
        foreach (var p in problems) output.WriteLine(p);
        Assert.Empty(problems);

        // Every reply the stack sent is in the capture, with a checksum tshark verified as good.
        string mac = peer.StackMac.ToString();
        Assert.Equal(replies, Tshark.Count(peer.PcapPath, $"eth.src == {mac} && icmp.type == 0 && icmp.checksum.status == \"Good\" && ip.checksum.status == \"Good\""));
        Assert.Equal(replies, Tshark.Count(peer.PcapPath, $"eth.dst == {mac} && icmp.type == 8"));
        Assert.True(Tshark.Count(peer.PcapPath, $"eth.src == {mac} && arp.opcode == 2 && arp.src.hw_mac == {mac}") >= 1, "the stack's ARP reply is in the capture");
    }
}
