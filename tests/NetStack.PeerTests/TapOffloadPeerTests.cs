using System.Globalization;
using NetStack.Services;

namespace NetStack.PeerTests;

/// <summary>
/// The TAP with offloads (IFF_VNET_HDR, TUN_F_CSUM | TUN_F_TSO4): curl downloads from and uploads
/// to the stack's http service, hashes compared; the kernel hands the stack GSO super-frames with
/// partial checksums, which the stack must take as one segment of many MSS. tshark then reads the
/// stack's capture: nothing malformed, every checksum the stack computed good.
/// </summary>
public sealed class TapOffloadPeerTests(ITestOutputHelper output)
{
    private const long Size = 20L << 20;
    private static readonly TimeSpan CurlLimit = TimeSpan.FromSeconds(240);

    [PeerFact]
    public void Curl_BothWaysWithOffloads_HashesEqualAndCaptureClean()
    {
        using var peer = new TapPeer(configure: o => o.Offload = true);
        Assert.True(((NetStack.Drivers.TapDevice)peer.Host.Device).Offload);
        using var services = ServiceHost.Start(peer.Net, "http");
        string down = Path.Combine(Path.GetTempPath(), $"{peer.Ns}-down.bin");
        string up = Path.Combine(Path.GetTempPath(), $"{peer.Ns}-up.bin");
        try
        {
            // Stack -> kernel.
            var r = peer.Exec(CurlLimit, "curl", "-sS", "--fail", "-m", "200", "-o", down,
                "-w", "%{size_download} %{speed_download}", $"http://{peer.StackIp}/bytes/{Size}");
            output.WriteLine(r.ToString());
            Assert.Equal(0, r.ExitCode);
            Assert.Equal(Size, long.Parse(r.StdOut.Split(' ')[0], CultureInfo.InvariantCulture));
            Assert.Equal(BytesPattern.Sha256Hex(Size), TcpPeerKit.Sha256OfFile(down));

            // Kernel -> stack: the kernel's TCP sends TSO super-frames through the TAP.
            string expected = TcpPeerKit.WriteRandomFile(up, Size, seed: 21);
            r = peer.Exec(CurlLimit, "curl", "-sS", "--fail", "-m", "200", "-H", "Content-Type: application/octet-stream",
                "--data-binary", "@" + up, "-w", "\n%{size_upload} %{speed_upload}", $"http://{peer.StackIp}/sha256");
            output.WriteLine(r.ToString());
            Assert.Equal(0, r.ExitCode);
            Assert.Equal(expected, r.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries)[0]);
        }
        finally
        {
            TcpPeerKit.TryDelete(down);
            TcpPeerKit.TryDelete(up);
        }
        peer.Host.Dispose();

        string stackMac = peer.StackMac.ToString();
        // The kernel did hand over super-frames (more than one MTU of Ethernet frame).
        int gso = Tshark.Count(peer.PcapPath, $"eth.dst == {stackMac} && tcp && frame.len > 1514");
        output.WriteLine($"GSO frames from the kernel: {gso}");
        Assert.True(gso > 0, "the kernel sent no GSO super-frame");
        // The kernel's frames carry partial checksums (CHECKSUM_PARTIAL): only their shape is checked.
        Assert.Empty(Tshark.Frames(peer.PcapPath, $"eth.dst == {stackMac} && _ws.malformed"));
        // The stack's own frames: nothing malformed, every checksum complete and good. (Zero windows
        // are flow control, not a fault: the sha256 service reads slower than 64 KiB bursts arrive.)
        output.WriteLine($"zero windows advertised: {Tshark.Count(peer.PcapPath, $"eth.src == {stackMac} && tcp.analysis.zero_window")}; TCPRcvQDrop {peer.Counter("TcpExt.TCPRcvQDrop")}");
        Assert.Empty(Tshark.Frames(peer.PcapPath, $"eth.src == {stackMac} && (_ws.malformed || ip.checksum.status == \"Bad\" || tcp.checksum.status == \"Bad\" || udp.checksum.status == \"Bad\")"));
        Assert.True(Tshark.Count(peer.PcapPath, $"eth.src == {stackMac} && tcp.checksum.status == \"Good\"") > 0, "no stack segment had its checksum verified");
    }
}
