using System.Text.RegularExpressions;

namespace NetStack.PeerTests;

/// <summary>
/// `netstack ss -ti`'s bbr:(...) block beside the one Linux's own ss prints for a kernel socket
/// running BBR (the kernel here has tcp_bbr built in): the same fields in the same order, in the
/// same place of the line (after data_segs_in/out, before send).
/// </summary>
public sealed class SsCcInfoPeerTests(ITestOutputHelper output)
{
    private static readonly string CliDll = Path.Combine(AppContext.BaseDirectory, "NetStack.Cli.dll");

    /// <summary>The block and its neighbours: a data_segs counter before it, " send " after it.</summary>
    private static readonly Regex Block = new(@" data_segs_(in|out):\d+ (bbr:\(bw:[0-9.]+[kMGT]?bps,mrtt:[0-9.]+(e\+\d+)?,pacing_gain:[0-9.]+,cwnd_gain:[0-9.]+\)) send ");

    [PeerFact]
    public void BbrBlock_HasTheShapeOfLinuxSs()
    {
        var (ns, tap, x) = TapPeer.NewNames();
        var dir = Directory.CreateTempSubdirectory("nsctl-ccinfo-");
        string path = Path.Combine(dir.FullName, $"{ns}.sock"), stack = $"10.7.{x}.2";
        try
        {
            using var up = new BackgroundProcess("dotnet",
                [CliDll, "up", "--ns", ns, "--tap", tap, "--create", "--addr", $"{stack}/24", "--services", "http",
                 "--name", ns, "--control", path, "--duration", "120"], readyText: "control socket:");
            up.WaitReady(TimeSpan.FromSeconds(60));
            CommandResult Cli(params string[] args) => Shell.Run("dotnet", [CliDll, .. args, "--name", ns, "--control", path], TimeSpan.FromSeconds(30));
            Assert.Equal(0, Cli("sysctl", "-w", "net.ipv4.tcp_congestion_control=bbr").ExitCode);
            var k = Shell.Run("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.tcp_congestion_control=bbr");
            Assert.True(k.ExitCode == 0, "the kernel has no bbr: " + k.StdErr);

            // A slow download: the stack sends with BBR, the kernel's curl socket runs BBR too.
            using var curl = BackgroundProcess.InNamespace(ns, null, "curl", "-s", "-o", "/dev/null", "--limit-rate", "2M", $"http://{stack}/bytes/100000000");
            string ours = "", linux = "";
            TapPeer.WaitUntil(() =>
            {
                var lines = Cli("ss", "-tin").StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
                int i = Array.FindIndex(lines, l => l.StartsWith("ESTAB", StringComparison.Ordinal) && l.Contains($"{stack}:80 ", StringComparison.Ordinal));
                ours = i > 0 && i + 1 < lines.Length ? lines[i + 1] : "";
                var kl = Shell.Run("ip", "netns", "exec", ns, "ss", "-tin", "dst", $"{stack}:80").StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
                int j = Array.FindIndex(kl, l => l.StartsWith("ESTAB", StringComparison.Ordinal));
                linux = j > 0 && j + 1 < kl.Length ? kl[j + 1] : "";
                return Block.IsMatch(ours) && linux.Contains(" bbr:(", StringComparison.Ordinal) && ours.Contains(" bytes_acked:", StringComparison.Ordinal);
            }, TimeSpan.FromSeconds(20));
            output.WriteLine("netstack ss -tin: " + ours);
            output.WriteLine("Linux ss -tin:    " + linux);
            var m = Block.Match(ours);
            Assert.True(m.Success, ours);
            Assert.StartsWith("\t bbr ", ours);
            Assert.Matches(Block, linux);
            // Both name the same fields in the same order.
            static string Shape(string block) => Regex.Replace(block, @"[0-9.]+(e\+\d+)?[kMGT]?", "#");
            Assert.Equal(Shape(Block.Match(linux).Groups[2].Value), Shape(m.Groups[2].Value));
        }
        finally
        {
            Shell.Run("ip", "netns", "del", ns);
            dir.Delete(recursive: true);
        }
    }
}
