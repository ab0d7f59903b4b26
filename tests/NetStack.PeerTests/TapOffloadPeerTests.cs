using System.Globalization;
using System.Security.Cryptography;
using NetStack.Net;
using NetStack.Services;
using NetStack.Uapi;
using static NetStack.Uapi.SocketConstants;

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
        string kernelPcap = Path.Combine(Path.GetTempPath(), $"{peer.Ns}-kernel.pcap");
        // The kernel's side of the TAP: what the kernel received from the stack and sent to it.
        var dump = BackgroundProcess.InNamespace(peer.Ns, "listening on", "tcpdump", "-n", "-i", peer.Tap, "-B", "32768", "-U", "-w", kernelPcap, "tcp").WaitReady();
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
            Shell.Run("kill", ["-INT", dump.Pid.ToString(CultureInfo.InvariantCulture)]);
            dump.WaitForExit(TimeSpan.FromSeconds(10));
            dump.Dispose();
        }
        var dev = (NetStack.Drivers.TapDevice)peer.Host.Device;
        long tso = dev.TxGsoFrames;
        peer.Host.Dispose();

        string stackMac = peer.StackMac.ToString();
        try
        {
            // TSO: the stack wrote super-frames (larger than the MTU) that the kernel took whole.
            int kernelGot = Tshark.Count(kernelPcap, $"eth.src == {stackMac} && frame.len > 1514");
            output.WriteLine($"TSO super-frames written: {tso}; seen on the kernel's side: {kernelGot}");
            Assert.True(tso > 0, "the stack sent no TSO super-frame");
            Assert.True(kernelGot > 0, "the kernel's capture has no frame from the stack larger than the MTU");
            // Nothing malformed either way; the stack's MSS-sized frames carry complete, good checksums
            // (super-frames and the kernel's own frames carry partial ones: CHECKSUM_PARTIAL).
            // (HTTP is not dissected: a frame tcpdump missed leaves the HTTP body's bytes to be read as HTTP.)
            Assert.Empty(Tshark.Frames(kernelPcap, "_ws.malformed", "http"));
            Assert.Empty(Tshark.Frames(kernelPcap, $"eth.src == {stackMac} && frame.len <= 1514 && (ip.checksum.status == \"Bad\" || tcp.checksum.status == \"Bad\")"));
            Assert.Empty(Tshark.Frames(kernelPcap, $"eth.src == {stackMac} && ip.checksum.status == \"Bad\""));
        }
        finally
        {
            TcpPeerKit.TryDelete(kernelPcap);
        }
        // The kernel did hand over super-frames (more than one MTU of Ethernet frame).
        int gso = Tshark.Count(peer.PcapPath, $"eth.dst == {stackMac} && tcp && frame.len > 1514");
        output.WriteLine($"GSO frames from the kernel: {gso}");
        Assert.True(gso > 0, "the kernel sent no GSO super-frame");
        // The kernel's frames carry partial checksums (CHECKSUM_PARTIAL): only their shape is checked.
        Assert.Empty(Tshark.Frames(peer.PcapPath, $"eth.dst == {stackMac} && _ws.malformed", "http"));
        // The stack's own frames: nothing malformed, every checksum complete and good. (Zero windows
        // are flow control, not a fault: the sha256 service reads slower than 64 KiB bursts arrive.)
        output.WriteLine($"zero windows advertised: {Tshark.Count(peer.PcapPath, $"eth.src == {stackMac} && tcp.analysis.zero_window")}; TCPRcvQDrop {peer.Counter("TcpExt.TCPRcvQDrop")}");
        // (HTTP is not dissected: the bodies' bytes in a 64 KiB super-frame get read as HTTP; the hashes judge them.)
        Assert.Empty(Tshark.Frames(peer.PcapPath, $"eth.src == {stackMac} && (_ws.malformed || ip.checksum.status == \"Bad\" || (frame.len <= 1514 && tcp.checksum.status == \"Bad\") || udp.checksum.status == \"Bad\")", "http"));
        Assert.True(Tshark.Count(peer.PcapPath, $"eth.src == {stackMac} && tcp.checksum.status == \"Good\"") > 0, "no stack segment had its checksum verified");
    }

    /// <summary>
    /// The large pool's exhaustion, reproduced: 48 connections from the kernel fill their receive
    /// windows with super-frames no one reads, until every 64 KiB buffer is held in a receive
    /// queue. A 49th connection must still carry 20 MB (hash compared): its super-frames are
    /// segmented in software into frame-sized buffers; the 48 are then read to their end.
    /// The test thread polls the stack itself, so nothing else frees a buffer meanwhile.
    /// Over IPv6 too: the kernel's super-frames are then gso_type TCPV6 (TUN_F_TSO6).
    /// </summary>
    [PeerTheory]
    [InlineData(false)]
    [InlineData(true)]
    public void LargePoolExhaustedByUnreadConnections_ReceiveDegradesAndRecovers(bool ipv6)
    {
        const int Idle = 48;
        const long IdleBytes = 1 << 20, MainBytes = 20L << 20;
        using var peer = new TapPeer(start: false, ipv6: ipv6, configure: o =>
        {
            o.Offload = true;
            if (ipv6) o.Ipv6Address = System.Net.IPAddress.Parse(StackGlobal6);
        });
        var net = peer.Net;
        var dev = (NetStack.Drivers.TapDevice)peer.Host.Device;
        if (ipv6)
        {
            peer.Exec("ip", "-6", "addr", "add", $"{KernelGlobal6}/64", "dev", peer.Tap, "nodad");
            // The test thread runs the stack's timers: DAD of its addresses ends while it polls.
            Assert.True(TapPeer.WaitUntil(() => { net.Poll(); return peer.WaitIpv6Dad(TimeSpan.Zero); }, TimeSpan.FromSeconds(10)), "the stack's IPv6 addresses stayed tentative");
        }
        int idleL = Listen(peer, 5002, ipv6), mainL = Listen(peer, 5003, ipv6);
        string target = ipv6 ? $"TCP6:[{StackGlobal6}]" : $"TCP4:{peer.StackIp}";
        string file = Path.Combine(Path.GetTempPath(), $"{peer.Ns}-main.bin");
        try
        {
            string expected = TcpPeerKit.WriteRandomFile(file, MainBytes, seed: 23);
            var idle = Task.Run(() => peer.Exec(TimeSpan.FromSeconds(240), "bash", "-c",
                $"for i in $(seq {Idle}); do head -c {IdleBytes} /dev/zero | socat -u - {target}:5002 & done; wait"));
            var fds = new List<int>();
            var buf = new byte[65536];
            // Accept the idle connections and read nothing until the pool is spent (bounded: the assertion below says if it never was).
            var large = net.LargeSkbPool;
            for (int i = 0; i < 20000 && (fds.Count < Idle || large.AllocFailures == 0); i++)
            {
                dev.WaitForWork(5);
                net.Poll();
                int fd = SocketCalls.Accept4(net.Files, idleL, out _, SOCK_NONBLOCK);
                if (fd >= 0) fds.Add(fd);
            }
            output.WriteLine($"{fds.Count} idle connections; large pool {large.Total} made, {large.FreeCount} free, {large.AllocFailures} refusals");
            Assert.Equal(Idle, fds.Count);
            Assert.True(large.AllocFailures > 0, "the unread connections did not exhaust the large pool");

            var main = Task.Run(() => peer.Exec(TimeSpan.FromSeconds(240), "socat", "-u", file, $"{target}:5003"));
            int cfd = -1;
            long got = 0;
            using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            while (true)
            {
                dev.WaitForWork(5);
                net.Poll();
                if (cfd < 0)
                {
                    cfd = SocketCalls.Accept4(net.Files, mainL, out _, SOCK_NONBLOCK);
                    if (cfd < 0 && main.IsCompleted) break;
                    continue;
                }
                int r;
                while ((r = SocketCalls.Recv(net.Files, cfd, buf, 0)) > 0)
                {
                    sha.AppendData(buf, 0, r);
                    got += r;
                }
                if (r == 0 || (r < 0 && r != -Errno.EAGAIN)) break;
            }
            output.WriteLine($"main: {got} bytes; {main.Result}; GSO super-frames received: {dev.RxGsoFrames}; segmented in software: {dev.RxSoftSegmented} frames; device {dev.Stats}");
            Assert.Equal(0, main.Result.ExitCode);
            Assert.Equal(MainBytes, got);
            Assert.Equal(expected, Convert.ToHexStringLower(sha.GetHashAndReset()));
            Assert.True(dev.RxSoftSegmented > 0, "no super-frame was segmented in software");
            // Nothing was dropped for want of a buffer (before the fix: thousands of super-frames cut
            // short and dropped, the transfer crawling on the kernel's one-MSS retransmissions).
            Assert.Equal(0, dev.Stats.RxDropped);

            // The idle ones now drain: every byte of each arrives.
            var left = new long[Idle];
            int open = Idle;
            while (open > 0)
            {
                dev.WaitForWork(5);
                net.Poll();
                for (int i = 0; i < Idle; i++)
                {
                    if (fds[i] < 0) continue;
                    int r;
                    while ((r = SocketCalls.Recv(net.Files, fds[i], buf, 0)) > 0) left[i] += r;
                    if (r == 0 || (r < 0 && r != -Errno.EAGAIN))
                    {
                        SocketCalls.Close(net.Files, fds[i]);
                        fds[i] = -1;
                        open--;
                    }
                }
            }
            Assert.Equal(0, idle.Result.ExitCode);
            Assert.All(left, n => Assert.Equal(IdleBytes, n));
            SocketCalls.Close(net.Files, cfd);
            // Everything read and closed: every large buffer is back in the pool but the one the
            // driver keeps for its next read.
            Assert.True(TapPeer.WaitUntil(() => { net.Poll(); return large.FreeCount == large.Total - 1; }, TimeSpan.FromSeconds(10)),
                $"large pool: {large.FreeCount} free of {large.Total}");
        }
        finally
        {
            TcpPeerKit.TryDelete(file);
        }
    }

    private const string KernelGlobal6 = "fd00:79::1", StackGlobal6 = "fd00:79::2";

    private static int Listen(TapPeer peer, ushort port, bool ipv6 = false)
    {
        var net = peer.Net;
        int lfd = SocketCalls.Socket(net.Files, ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        Assert.Equal(0, SocketCalls.Setsockopt(net.Files, lfd, SOL_SOCKET, SO_RCVBUF, 1 << 20));
        Assert.Equal(0, SocketCalls.Bind(net.Files, lfd, ipv6 ? SockAddr.In6(StackGlobal6, port) : SockAddr.In(peer.StackAddr, port)));
        Assert.Equal(0, SocketCalls.Listen(net.Files, lfd, 64));
        return lfd;
    }

    /// <summary>
    /// UDP over the offloading TAP: with TUN_F_CSUM the kernel hands over its datagrams with a
    /// partial checksum (NEEDS_CSUM: the check field holds only the pseudo-header sum), which the
    /// stack must take as the device's word (udp4_csum_init), not verify and drop as a checksum
    /// error. An echo through nc both ways; no UDP checksum errors counted.
    /// </summary>
    [PeerFact]
    public async Task Udp_KernelToStackEcho_WithPartialChecksums_Delivered()
    {
        using var peer = new TapPeer(configure: o => o.Offload = true);
        using var echo = NetStack.Api.NetSocket.Udp(peer.Net);
        echo.Bind(Ep.Of(0, 7000));
        var server = Task.Run(async () =>
        {
            var buf = new byte[2048];
            var r = await echo.ReceiveFromAsync(buf);
            await echo.SendToAsync(buf.AsMemory(0, r.ReceivedBytes), r.RemoteEndPoint);
        });
        var r1 = peer.Exec(TimeSpan.FromSeconds(20), "bash", "-c", $"printf 'hello offload\\n' | nc -u -w1 {peer.StackIp} 7000");
        output.WriteLine(r1.ToString());
        Assert.Equal("hello offload\n", r1.StdOut);
        await server.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(1, peer.Counter("Udp.InDatagrams"));
        Assert.Equal(0, peer.Counter("Udp.InCsumErrors"));
    }
}
