using System.Text.RegularExpressions;

namespace NetStack.PeerTests;

/// <summary>
/// scripts/soak.sh and scripts/flood.sh, run as a user runs them (short modes), so CI proves they
/// bring a stack up, drive traffic, report what the stack counted and its memory, and leave
/// nothing behind.
/// </summary>
public sealed class FloodScriptsPeerTests(ITestOutputHelper output)
{
    [PeerFact]
    public void SoakScript_CiMode_WritesTheCsvAndTheStackSurvives()
    {
        string csv = Path.Combine(Path.GetTempPath(), $"soak-test-{Environment.ProcessId}.csv");
        try
        {
            var r = Shell.Run("bash", [Path.Combine(Shell.RepoRoot, "scripts", "soak.sh"), "--ci", "--csv", csv], TimeSpan.FromSeconds(240));
            output.WriteLine(r.ToString());
            Assert.Equal(0, r.ExitCode);
            Assert.Contains("soak.sh: the stack survived and still answers", r.StdOut);
            Assert.Matches(@"curl downloads of \d+ bytes: [1-9]\d* complete", r.StdOut);
            Assert.Matches(@"SYN flood bursts of \d+ s: 1", r.StdOut);
            Assert.Contains("summary over", r.StdOut);
            var lines = File.ReadAllLines(csv);
            Assert.StartsWith("t_s,rss_mb,gc_heap_mb,fds,estab,", lines[0]);
            Assert.True(lines.Length >= 4, $"only {lines.Length - 1} rows in 20 s");
            Assert.All(lines.Skip(1), l => Assert.Equal(lines[0].Split(',').Length, l.Split(',').Length));
            AssertNamespaceGone(r.StdOut, "nssoak");
        }
        finally
        {
            TcpPeerKit.TryDelete(csv);
        }
    }

    [PeerFact]
    public void FloodScript_SynForThreeSeconds_ReportsCookiesMemoryAndNetstat()
    {
        var r = Shell.Run("bash", [Path.Combine(Shell.RepoRoot, "scripts", "flood.sh"), "syn", "--seconds", "3"], TimeSpan.FromSeconds(180));
        output.WriteLine(r.ToString());
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("=== syn flood, 3 s", r.StdOut);
        Assert.Matches(@"TcpExt\.SyncookiesSent: \+[1-9]\d*", r.StdOut);
        Assert.Matches(@"peak RSS [\d.]+ MB, peak GC heap [\d.]+ MB, peak descriptors \d+", r.StdOut);
        Assert.Matches(@"legitimate clients: [1-9]\d* connected", r.StdOut);
        Assert.Contains("=== netstat -s of the stack", r.StdOut);
        Assert.Contains("SYN cookies sent", r.StdOut);
        AssertNamespaceGone(r.StdOut, "nsflood");
    }

    private static void AssertNamespaceGone(string stdout, string prefix)
    {
        var m = Regex.Match(stdout, $@"namespace ({prefix}-\d+)");
        Assert.True(m.Success, "the script did not say which namespace it made");
        Assert.DoesNotContain(m.Groups[1].Value, Shell.Run("ip", "netns", "list").StdOut);
    }
}
