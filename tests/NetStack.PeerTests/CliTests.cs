using System.Diagnostics;
using NetStack.Wire;

namespace NetStack.PeerTests;

/// <summary>`netstack up` as a user runs it: a real process, its output, its exit code.</summary>
public sealed class CliTests(ITestOutputHelper output)
{
    private static readonly string CliDll = Path.Combine(AppContext.BaseDirectory, "NetStack.Cli.dll");

    [PeerFact]
    public void Up_NamespaceMissing_RunsSetupTap_AnswersPing_PrintsCounters()
    {
        var (ns, tap, x) = TapPeer.NewNames();
        try
        {
            var psi = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in new[] { CliDll, "up", "--ns", ns, "--tap", tap, "--create", "--addr", $"10.7.{x}.2/24", "--duration", "4" }) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            var stderr = p.StandardError.ReadToEndAsync();
            var lines = new List<string>();
            string? line;
            while ((line = p.StandardOutput.ReadLine()) is not null)
            {
                lines.Add(line);
                if (line.Contains("reach it with")) break;
            }
            var ping = Shell.Run("ip", "netns", "exec", ns, "ping", "-c", "3", "-i", "0.05", "-W", "2", $"10.7.{x}.2");
            lines.AddRange(p.StandardOutput.ReadToEnd().Split('\n'));
            Assert.True(p.WaitForExit(TimeSpan.FromSeconds(30)));
            string all = string.Join('\n', lines);
            output.WriteLine(all + stderr.Result);

            Assert.Equal(0, p.ExitCode);
            Assert.Equal("", stderr.Result);
            Assert.Contains($"running {Path.Combine(Shell.RepoRoot, "setup-tap.sh")} --ns {ns} --tap {tap} --addr 10.7.{x}.1/24", all);
            Assert.Contains($"sudo ip netns exec {ns} ping 10.7.{x}.2", all);
            Assert.Equal(3, PingSummary.Parse(ping.StdOut).Received);
            // The counters at the end: device stats and /proc/net/snmp-style lines with 3 echoes answered.
            Assert.Contains($"{tap}: RX:", all);
            var icmp = lines.Where(l => l.StartsWith("Icmp:")).ToArray();
            Assert.Equal(2, icmp.Length);
            var names = icmp[0].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var values = icmp[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal("3", values[Array.IndexOf(names, "OutEchoReps")]);
        }
        finally
        {
            Shell.Run("ip", "netns", "del", ns);
        }
    }

    [PeerFact]
    public void Up_TapBusy_OneLineOnStderr_NonZeroExit()
    {
        using var peer = new TapPeer();
        var r = RunCli("up", "--ns", peer.Ns, "--tap", peer.Tap, "--addr", $"{Ipv4Address.Format(peer.StackAddr + 1)}/24", "--duration", "1");
        AssertOneLineError(r, "busy");
        Assert.Equal(1, r.ExitCode);
    }

    [PeerFact]
    public void Up_NotRoot_OneLineOnStderr_NonZeroExit()
    {
        // setpriv drops to nobody; the CLI must say it needs root before touching anything.
        var r = Shell.Run("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "--reset-env", "dotnet", CliDll, "up", "--duration", "1"]);
        AssertOneLineError(r, "needs root");
        Assert.Equal(1, r.ExitCode);
    }

    [Theory]
    [InlineData("10.7.0.0/24", "network or broadcast")]
    [InlineData("10.7.0.255/24", "network or broadcast")]
    [InlineData("10.7.0/24", "bad address")]
    [InlineData("224.0.0.5/24", "not a unicast host address")]
    public void Up_BadAddress_OneLineOnStderr_NonZeroExit(string addr, string reason)
    {
        var r = RunCli("up", "--addr", addr, "--duration", "1");
        AssertOneLineError(r, reason);
        Assert.NotEqual(0, r.ExitCode);
    }

    [Fact]
    public void Up_UnknownOption_UsageError()
    {
        var r = RunCli("up", "--frobnicate");
        AssertOneLineError(r, "unknown option '--frobnicate'");
        Assert.Equal(2, r.ExitCode);
    }

    [Fact]
    public void Help_ListsCommandsAndOptions()
    {
        var r = RunCli("--help");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("  up ", r.StdOut);
        Assert.Contains("--pcap FILE", r.StdOut);
    }

    private static CommandResult RunCli(params string[] args) => Shell.Run("dotnet", [CliDll, .. args], TimeSpan.FromSeconds(60));

    private void AssertOneLineError(CommandResult r, string expected)
    {
        output.WriteLine(r.ToString());
        var lines = r.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.Contains(expected, lines[0]);
        Assert.StartsWith("netstack", lines[0]);
    }
}
