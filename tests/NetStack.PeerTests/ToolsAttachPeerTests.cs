using System.Security.Cryptography;

namespace NetStack.PeerTests;

/// <summary>
/// The socket tools attach to one running `netstack up` (its control socket) instead of bringing up
/// a stack of their own: ping, nc (TCP and UDP), repl and get run at the same time, from separate
/// processes, against the real kernel on the other side of the TAP, and each says on stderr which
/// stack it uses.
/// </summary>
public sealed class ToolsAttachPeerTests(ITestOutputHelper output)
{
    private static readonly string CliDll = Path.Combine(AppContext.BaseDirectory, "NetStack.Cli.dll");

    [PeerFact]
    public void NcPingReplAndGet_RunAtOnce_AgainstOneRunningUp()
    {
        var (ns, tap, x) = TapPeer.NewNames();
        var dir = Directory.CreateTempSubdirectory("nsctl-tools-");
        string path = Path.Combine(dir.FullName, $"{ns}.sock"), stack = $"10.7.{x}.2", kernel = $"10.7.{x}.1";
        try
        {
            using var up = new BackgroundProcess("dotnet",
                [CliDll, "up", "--ns", ns, "--tap", tap, "--create", "--addr", $"{stack}/24", "--services", "echo",
                 "--name", ns, "--control", path, "--duration", "180"], readyText: "control socket:");
            up.WaitReady(TimeSpan.FromSeconds(60));

            // The kernel's side: a file served over HTTP and a TCP echo server.
            var body = RandomNumberGenerator.GetBytes(20 << 20);
            File.WriteAllBytes(Path.Combine(dir.FullName, "f.bin"), body);
            using var http = BackgroundProcess.InNamespace(ns, null, "python3", "-m", "http.server", "8080", "--bind", kernel, "--directory", dir.FullName);
            using var echo = BackgroundProcess.InNamespace(ns, null, "socat", $"TCP-LISTEN:7777,bind={kernel},reuseaddr,fork", "EXEC:cat");
            TapPeer.WaitUntil(() => Shell.Run("ip", "netns", "exec", ns, "ss", "-Htln", "sport = :8080 or sport = :7777").StdOut
                .Split('\n', StringSplitOptions.RemoveEmptyEntries).Length == 2, TimeSpan.FromSeconds(20));

            string[] attach = ["--name", ns, "--control", path];
            string outFile = Path.Combine(dir.FullName, "got.bin");
            var timeout = TimeSpan.FromSeconds(120);
            var ping = Task.Run(() => Shell.Run("dotnet", [CliDll, "ping", .. attach, "-c", "5", "-i", "0.2", kernel], timeout));
            var ncTcp = Task.Run(() => Shell.Run("dotnet", [CliDll, "nc", .. attach, kernel, "7777"], timeout, stdin: "over tcp through the running stack\n"));
            var ncUdp = Task.Run(() => Shell.Run("dotnet", [CliDll, "nc", .. attach, "-u", "-w", "1", stack, "7"], timeout, stdin: "over udp to the stack's echo\n"));
            var get = Task.Run(() => Shell.Run("dotnet", [CliDll, "get", .. attach, "-q", $"http://{kernel}:8080/f.bin", "-o", outFile], timeout));
            var repl = Task.Run(() => Shell.Run("dotnet", [CliDll, "repl", .. attach], timeout,
                stdin: "{\"op\":\"socket\",\"type\":\"SOCK_DGRAM\"}\n" +
                       $"{{\"op\":\"connect\",\"fd\":3,\"addr\":\"{stack}\",\"port\":7}}\n" +
                       "{\"op\":\"send\",\"fd\":3,\"text\":\"repl\"}\n" +
                       "{\"op\":\"recv\",\"fd\":3}\n"));
            Task.WaitAll([ping, ncTcp, ncUdp, get, repl], TimeSpan.FromSeconds(150));
            foreach (var t in new[] { ping, ncTcp, ncUdp, get, repl })
            {
                output.WriteLine(t.Result.ToString());
                Assert.Equal(0, t.Result.ExitCode);
                Assert.Contains($"attached to the running stack {ns} (pid {up.Pid}", t.Result.StdErr);
            }
            Assert.Contains("5 packets transmitted, 5 received, 0% packet loss", ping.Result.StdOut);
            Assert.Contains($"64 bytes from {kernel}: icmp_seq=1 ttl=64 time=", ping.Result.StdOut); // the kernel's TTL, by recvmsg through the control socket
            Assert.Equal("over tcp through the running stack\n", ncTcp.Result.StdOut);
            Assert.Equal("over udp to the stack's echo\n", ncUdp.Result.StdOut);
            Assert.Equal(body, File.ReadAllBytes(outFile));
            var replies = repl.Result.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(["{\"ret\":3}", "{\"ret\":0}", "{\"ret\":4}", "{\"ret\":4,\"data\":\"7265706c\"}"], replies);

            // The tools are gone, and so are their sockets: only the services and TIME-WAIT remain.
            var ss = Shell.Run("dotnet", [CliDll, "ss", "-a", .. attach], TimeSpan.FromSeconds(30));
            output.WriteLine(ss.StdOut);
            Assert.Equal(0, ss.ExitCode);
            var rows = ss.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).ToList();
            Assert.All(rows, r => Assert.Matches(@"^(tcp\s+LISTEN .* 0\.0\.0\.0:7 |udp\s+UNCONN .* 0\.0\.0\.0:7 |tcp\s+TIME-WAIT )", r));

            // Options that describe a stack of the tool's own are refused while one runs, not ignored.
            var mixed = Shell.Run("dotnet", [CliDll, "nc", .. attach, "--tap", tap, kernel, "7777"], TimeSpan.FromSeconds(30), stdin: "");
            Assert.Equal(2, mixed.ExitCode);
            Assert.Contains($"--tap describes a stack of nc's own, but a stack is running as {ns}", mixed.StdErr);
        }
        finally
        {
            Shell.Run("ip", "netns", "del", ns);
            dir.Delete(recursive: true);
        }
    }
}
