using System.Diagnostics;
using System.Text;
using NetStack.Api;
using NetStack.AspNetCore;
using NetStack.Net;
using NetStack.Services;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.PeerTests;

/// <summary>
/// TCP against the Linux kernel beyond bulk data: refused connections both ways, tshark's verdict
/// on a capture of mixed TCP traffic, and the CLI's TCP tools (`nc` both ways, `get`, `up --services`).
/// </summary>
public sealed class TcpPeerTests(ITestOutputHelper output)
{
    private static readonly string CliDll = Path.Combine(AppContext.BaseDirectory, "NetStack.Cli.dll");

    [PeerFact]
    public async Task ConnectToAClosedPort_IsRefused_BothWays()
    {
        using var peer = new TapPeer();
        // The kernel connects to a stack port nobody listens on: the stack answers RST.
        var k = peer.Exec("/usr/bin/python3", TcpPeerKit.PeerScript, "connect", peer.StackIp, "5555");
        output.WriteLine(k.ToString());
        Assert.Equal("ECONNREFUSED", k.StdOut.Trim());
        Assert.Equal(1, peer.Counter("Tcp.OutRsts"));

        // The stack connects to a kernel port nobody listens on: blocking, then non-blocking with SO_ERROR.
        using (var s = NetSocket.Tcp(peer.Net))
        {
            var e = Assert.Throws<NetStackException>(() => s.Connect(Ep.Of(peer.KernelAddr, 5556)));
            Assert.Equal(Errno.ECONNREFUSED, e.Errno);
        }
        using (var s = NetSocket.Tcp(peer.Net))
        {
            var e = await Assert.ThrowsAsync<NetStackException>(() => s.ConnectAsync(Ep.Of(peer.KernelAddr, 5557)).AsTask());
            Assert.Equal(Errno.ECONNREFUSED, e.Errno);
        }
        using (var s = NetSocket.Tcp(peer.Net))
        {
            s.Blocking = false;
            var e = Assert.Throws<NetStackException>(() => s.Connect(Ep.Of(peer.KernelAddr, 5558)));
            Assert.Equal(Errno.EINPROGRESS, e.Errno);
            Assert.True(TapPeer.WaitUntil(() => (s.Poll(POLLOUT, 0) & POLLERR) != 0));
            Assert.Equal(Errno.ECONNREFUSED, s.GetOption(SOL_SOCKET, SO_ERROR));
            Assert.Equal(0, s.GetOption(SOL_SOCKET, SO_ERROR)); // reading SO_ERROR clears it
        }
        Assert.Equal(3, peer.Counter("Tcp.AttemptFails"));
    }

    [PeerFact]
    public async Task Capture_OfMixedTcpTraffic_HasNoMalformedSegmentsAndNoBadChecksums()
    {
        using var peer = TcpPeerKit.NewPeer(Impairment.None, capture: true);
        using var services = ServiceHost.Start(peer.Net, "all");
        string dir = Path.Combine(Path.GetTempPath(), $"{peer.Ns}-www");
        Directory.CreateDirectory(dir);
        string upload = Path.Combine(dir, "up.bin");
        try
        {
            // Short transfers each way (a big capture is slow to dissect), echo, chargen, a refusal.
            string upHash = TcpPeerKit.WriteRandomFile(upload, 1 << 20, seed: 5);
            var down = peer.Exec("sh", "-c", $"curl -sS --fail http://{peer.StackIp}/bytes/2000000 | sha256sum");
            Assert.Equal(BytesPattern.Sha256Hex(2_000_000), down.StdOut.Split(' ')[0]);
            var up = peer.Exec("curl", "-sS", "--fail", "--data-binary", "@" + upload, $"http://{peer.StackIp}/sha256");
            Assert.Equal(upHash, up.StdOut.Trim());
            Assert.Equal(0, peer.Exec("/usr/bin/python3", TcpPeerKit.PeerScript, "echo-clients", peer.StackIp, "7", "5", "20000", "1").ExitCode);
            Assert.Equal(0, peer.Exec("sh", "-c", $"timeout 2 nc {peer.StackIp} 19 | head -c 100000 | wc -c").ExitCode);
            Assert.Equal("ECONNREFUSED", peer.Exec("/usr/bin/python3", TcpPeerKit.PeerScript, "connect", peer.StackIp, "5555").StdOut.Trim());
            using (var server = BackgroundProcess.InNamespace(peer.Ns, "Serving HTTP",
                       "/usr/bin/python3", "-u", "-m", "http.server", "8080", "--bind", peer.KernelIp, "--directory", dir).WaitReady())
            {
                using var sink = new TcpPeerKit.HashingSink();
                using var http = NetStackHttp.CreateClient(peer.Net);
                await using (var body = await http.GetStreamAsync($"http://{peer.KernelIp}:8080/up.bin")) await body.CopyToAsync(sink);
                Assert.Equal(upHash, sink.Hex());
            }
            Thread.Sleep(300); // the last FINs and ACKs
            peer.FlushCapture();

            // The kernel's csum_fold() can put 0xffff in a TCP checksum (the one's-complement twin of 0, valid
            // per RFC 1624), which tshark reports as an error and does not count as Good: about one segment
            // in 65536 of the kernel's. Those frames are the kernel's business, not the stack's.
            string kernelFfff = $"tcp.checksum.ffff && ip.src == {peer.KernelIp}";
            string problems = "(_ws.malformed || _ws.expert.severity >= error || ip.checksum.status == \"Bad\" || tcp.checksum.status == \"Bad\")" +
                              $" && !({kernelFfff} && !_ws.malformed && ip.checksum.status != \"Bad\")";
            // Over an offloading TAP (NETSTACK_TEST_OFFLOAD=1) the kernel's frames and the stack's TSO
            // super-frames carry partial TCP checksums (CHECKSUM_PARTIAL, completed past the capture):
            // their TCP checksum is not judged, the stack's MSS-sized frames' is.
            string judged = "tcp";
            bool offload = ((NetStack.Drivers.TapDevice)peer.Host.Device).Offload;
            if (offload)
            {
                judged = $"tcp && ip.src == {peer.StackIp} && frame.len <= 1514";
                problems = $"_ws.malformed || ip.checksum.status == \"Bad\" || ({judged} && (_ws.expert.severity >= error || tcp.checksum.status == \"Bad\"))";
            }
            var bad = Tshark.Frames(peer.PcapPath, problems);
            int tcp = Tshark.Count(peer.PcapPath, judged);
            int checkedTcp = Tshark.Count(peer.PcapPath, $"({judged}) && tcp.checksum.status == \"Good\"") + Tshark.Count(peer.PcapPath, $"({judged}) && {kernelFfff}");
            output.WriteLine($"{tcp} TCP frames, {checkedTcp} with a verified good checksum, {bad.Length} with problems");
            foreach (var w in Tshark.Frames(peer.PcapPath, "_ws.expert.severity >= warning").Take(20)) output.WriteLine("warning: " + w);
            Assert.Empty(bad);
            Assert.True(tcp > (offload ? 50 : 2000), $"only {tcp} TCP frames captured");
            Assert.Equal(tcp, checkedTcp);
        }
        finally
        {
            TcpPeerKit.TryDelete(dir);
        }
    }

    /// <summary>A namespace and TAP (no stack attached) for the CLI to attach to; deleted by the caller.</summary>
    private static (string Ns, string Tap, string Kernel, string Stack) NewBareNamespace()
    {
        var (ns, tap, x) = TapPeer.NewNames();
        Shell.Check("bash", Path.Combine(Shell.RepoRoot, "setup-tap.sh"), "--ns", ns, "--tap", tap, "--addr", $"10.7.{x}.1/24");
        return (ns, tap, $"10.7.{x}.1", $"10.7.{x}.2");
    }

    private static ProcessStartInfo Cli(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.ArgumentList.Add(CliDll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        return psi;
    }

    [PeerFact]
    public void NcTcp_ClientToAKernelServer_And_ListenerForAKernelClient()
    {
        var (ns, tap, kernel, stack) = NewBareNamespace();
        try
        {
            string[] attach = ["--ns", ns, "--tap", tap, "--addr", stack + "/24"];
            // Client: stdin goes to the kernel's echo server; the echo comes back on stdout.
            using (BackgroundProcess.InNamespace(ns, "listening", "/usr/bin/python3", "-u", TcpPeerKit.PeerScript, "echo-server", "7777").WaitReady())
            {
                var r = Shell.Run("dotnet", [CliDll, "nc", .. attach, kernel, "7777"], TimeSpan.FromSeconds(60), stdin: "hello over tcp\n");
                output.WriteLine(r.ToString());
                Assert.Equal(0, r.ExitCode);
                Assert.Equal("hello over tcp\n", r.StdOut);
            }

            // Listener: the kernel connects with socat (retrying until the stack listens); each side gets the other's line.
            using var nc = Process.Start(Cli(["nc", .. attach, "-l", "5000"]))!;
            var ncOut = nc.StandardOutput.ReadToEndAsync();
            var ncErr = nc.StandardError.ReadToEndAsync();
            nc.StandardInput.Write("from the stack\n");
            nc.StandardInput.Close();
            var k = Shell.Run("ip", ["netns", "exec", ns, "socat", "-t", "5", "-", $"TCP:{stack}:5000,retry=100,interval=0.2"], TimeSpan.FromSeconds(60), stdin: "from the kernel\n");
            output.WriteLine(k.ToString());
            Assert.True(nc.WaitForExit(TimeSpan.FromSeconds(30)), "nc -l did not end after the kernel closed");
            output.WriteLine($"nc -l: exit {nc.ExitCode}\n{ncOut.Result}{ncErr.Result}");
            Assert.Equal(0, k.ExitCode);
            Assert.Equal("from the stack\n", k.StdOut);
            Assert.Equal("from the kernel\n", ncOut.Result);
            Assert.Equal(0, nc.ExitCode);
        }
        finally
        {
            Shell.Run("ip", "netns", "del", ns);
        }
    }

    [PeerFact]
    public void Get_DownloadsToAFile_WithASummary()
    {
        var (ns, tap, kernel, stack) = NewBareNamespace();
        string dir = Path.Combine(Path.GetTempPath(), $"{ns}-www");
        Directory.CreateDirectory(dir);
        string outFile = Path.Combine(Path.GetTempPath(), $"{ns}-got.bin");
        try
        {
            string hash = TcpPeerKit.WriteRandomFile(Path.Combine(dir, "f.bin"), 5_000_000, seed: 3);
            using var server = BackgroundProcess.InNamespace(ns, "Serving HTTP",
                "/usr/bin/python3", "-u", "-m", "http.server", "8080", "--bind", kernel, "--directory", dir).WaitReady();
            string[] attach = ["--ns", ns, "--tap", tap, "--addr", stack + "/24"];
            var r = Shell.Run("dotnet", [CliDll, "get", .. attach, $"http://{kernel}:8080/f.bin", "-o", outFile], TimeSpan.FromSeconds(60));
            output.WriteLine(r.ToString());
            Assert.Equal(0, r.ExitCode);
            Assert.Equal("", r.StdOut);
            Assert.Matches(@"(?m)^netstack get: 200 OK, 5000000 bytes in [\d.]+ s \([\d.]+ MB/s\) from " + kernel.Replace(".", "\\.") + @":8080 -> ", r.StdErr);
            Assert.DoesNotContain("\r", r.StdErr); // stderr is a pipe here: no progress bar
            Assert.Equal(hash, TcpPeerKit.Sha256OfFile(outFile));

            // A missing file: the status and exit 1; a closed port: one line, ECONNREFUSED.
            var notFound = Shell.Run("dotnet", [CliDll, "get", .. attach, $"http://{kernel}:8080/nope"], TimeSpan.FromSeconds(60));
            Assert.Equal(1, notFound.ExitCode);
            Assert.Contains("netstack get: 404 ", notFound.StdErr);
            var refused = Shell.Run("dotnet", [CliDll, "get", .. attach, $"http://{kernel}:8081/"], TimeSpan.FromSeconds(60));
            Assert.Equal(1, refused.ExitCode);
            Assert.Equal($"netstack get: connect to {kernel}:8081: ECONNREFUSED", refused.StdErr.Trim().Split('\n')[^1]);
        }
        finally
        {
            Shell.Run("ip", "netns", "del", ns);
            TcpPeerKit.TryDelete(dir);
            TcpPeerKit.TryDelete(outFile);
        }
    }

    [PeerFact]
    public void Get_Downloads100MB_ThroughHttpClientOverTheStack_HashMatches()
    {
        var (ns, tap, kernel, stack) = NewBareNamespace();
        string dir = Path.Combine(Path.GetTempPath(), $"{ns}-www");
        Directory.CreateDirectory(dir);
        string outFile = Path.Combine(Path.GetTempPath(), $"{ns}-got.bin");
        try
        {
            const long size = 100L << 20;
            string hash = TcpPeerKit.WriteRandomFile(Path.Combine(dir, "big.bin"), size, seed: 100);
            using var server = BackgroundProcess.InNamespace(ns, "Serving HTTP",
                "/usr/bin/python3", "-u", "-m", "http.server", "8080", "--bind", kernel, "--directory", dir).WaitReady();
            var r = Shell.Run("dotnet", [CliDll, "get", "--ns", ns, "--tap", tap, "--addr", stack + "/24", $"http://{kernel}:8080/big.bin", "-o", outFile],
                TimeSpan.FromSeconds(240));
            output.WriteLine(r.ToString());
            Assert.Equal(0, r.ExitCode);
            Assert.StartsWith("netstack get: no stack is running as netstack (/run/netstack/netstack.sock): bringing up its own\n", r.StdErr);
            Assert.Matches(@"(?m)^netstack get: 200 OK, 104857600 bytes in [\d.]+ s \([\d.]+ MB/s\) from ", r.StdErr);
            Assert.False(File.Exists(outFile + ".part"));
            Assert.Equal(hash, TcpPeerKit.Sha256OfFile(outFile));
        }
        finally
        {
            Shell.Run("ip", "netns", "del", ns);
            TcpPeerKit.TryDelete(dir);
            TcpPeerKit.TryDelete(outFile);
        }
    }

    [PeerFact]
    public void Up_WithServicesAndFault_ServesTheStatusPage()
    {
        var (ns, tap, kernel, stack) = NewBareNamespace();
        try
        {
            using var up = Process.Start(Cli("up", "--ns", ns, "--tap", tap, "--addr", stack + "/24", "--services", "http,echo",
                "--fault", "dup=50%,seed=3", "--duration", "8"))!;
            var lines = new StringBuilder();
            string? line;
            while ((line = up.StandardOutput.ReadLine()) is not null)
            {
                lines.Append(line).Append('\n');
                if (line.Contains("reach it with")) break;
            }
            var page = Shell.Run("ip", ["netns", "exec", ns, "curl", "-sS", "-m", "10", $"http://{stack}/"]);
            var echo = Shell.Run("ip", ["netns", "exec", ns, "/usr/bin/python3", TcpPeerKit.PeerScript, "echo-clients", stack, "7", "3", "1000", "1"]);
            lines.Append(up.StandardOutput.ReadToEnd());
            Assert.True(up.WaitForExit(TimeSpan.FromSeconds(30)));
            string all = lines.ToString();
            output.WriteLine(all + up.StandardError.ReadToEnd());
            output.WriteLine(page.ToString());
            Assert.Equal(0, up.ExitCode);
            Assert.Contains("netstack: services: http tcp/80, echo tcp/7 udp/7", all);
            Assert.Contains("netstack: fault injection: dup=50%,seed=3,dir=both", all);
            Assert.Contains($"curl http://{stack}/", all);
            Assert.Equal(0, page.ExitCode);
            Assert.Contains("http tcp/80: 1 accepted, 1 active", page.StdOut);
            Assert.DoesNotContain("chargen", page.StdOut);
            Assert.Equal(0, echo.ExitCode);
            // At the end: the services' counters and the injector's.
            Assert.Contains("echo tcp/7: 3 accepted, 0 active, 3 completed", all);
            Assert.Matches(@"netstack: faults dup=50%,seed=3,dir=both: passed \d+ dropped 0 duplicated [1-9]\d*", all);
        }
        finally
        {
            Shell.Run("ip", "netns", "del", ns);
        }
    }

    [Theory]
    [InlineData("--services", "gopher", "--services: unknown service 'gopher'")]
    [InlineData("--fault", "loss=200%", "bad --fault 'loss=200%'")]
    [InlineData("--fault", "jitter=5ms", "unknown fault 'jitter'")]
    public void Up_BadServicesOrFault_IsAUsageError(string option, string value, string message)
    {
        var r = Shell.Run("dotnet", [CliDll, "up", option, value], TimeSpan.FromSeconds(60));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(message, r.StdErr);
        Assert.Single(r.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Theory]
    [InlineData("https://10.7.0.1/", "https is not supported")]
    [InlineData("http://example.com/", "not a dotted-quad IPv4 address")]
    [InlineData("http://10.7.0.1:0/", "bad port")]
    public void Get_BadUrl_IsAUsageError(string url, string message)
    {
        var r = Shell.Run("dotnet", [CliDll, "get", url], TimeSpan.FromSeconds(60));
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(message, r.StdErr);
    }
}
