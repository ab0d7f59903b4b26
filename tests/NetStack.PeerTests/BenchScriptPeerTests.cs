using System.Text.Json;
using System.Text.RegularExpressions;

namespace NetStack.PeerTests;

/// <summary>
/// scripts/bench.sh and the `netstack bridge` it measures the kernels through, as CI runs them: the
/// smoke mode produces every figure (present and a number; speed is never judged) and the chart, skips
/// an opt-in other stack whose server program is missing, and leaves no namespace behind; the bridge carries a ping between two kernels, and a 100% loss through
/// it stops the traffic, every frame counted as dropped.
/// </summary>
public sealed class BenchScriptPeerTests(ITestOutputHelper output)
{
    private static readonly string CliDll = Path.Combine(AppContext.BaseDirectory, "NetStack.Cli.dll");

    /// <summary>Every figure bench.sh must produce, by its JSON name.</summary>
    public static readonly string[] Figures =
    [
        .. new[] { "netstack", "bridge", "veth" }.SelectMany(t => new[]
        {
            $"{t}_rx_1stream_gbps", $"{t}_rx_4streams_gbps", $"{t}_tx_1stream_gbps", $"{t}_tx_4streams_gbps",
            $"{t}_rr_per_s", $"{t}_crr_per_s", $"{t}_ping_rtt_avg_ms",
        }),
        "netstack_cpu_s_per_gb", "bridge_cpu_s_per_gb", "netstack_rx_alloc_bytes_per_packet", "netstack_tx_alloc_bytes_per_packet",
        "netstack_heap_bytes_per_idle_conn",
        // The smoke run's loss figure (the first fault spec of --loss).
        "loss5_reorder2_dup1_stack_tx_mbit_s", "loss5_reorder2_dup1_linux_tx_mbit_s", "loss5_reorder2_dup1_stack_linux_ratio",
    ];

    [PeerFact]
    public void BenchScript_Smoke_WritesEveryFigureAndTheChart_AndRemovesItsNamespaces()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"bench-test-{Environment.ProcessId}");
        try
        {
            // The opt-in smoltcp target with no server program (CI has no Rust): skipped with a message, never fatal.
            string noServer = Path.Combine(dir, "no-such-smoltcp-server");
            var r = Shell.Run("bash", [Path.Combine(Shell.RepoRoot, "scripts", "bench.sh"), "--smoke", "--out", dir, "--with", "smoltcp", "--smoltcp-server", noServer],
                TimeSpan.FromSeconds(180));
            output.WriteLine(r.ToString());
            Assert.Equal(0, r.ExitCode);
            Assert.Contains("| figure | NetStack (TAP) | kernel<->kernel, netstack bridge | kernel<->kernel, veth |\n", r.StdOut);
            Assert.Contains($"smoltcp: {noServer} is not an executable file: target skipped", r.StdErr);
            Assert.Contains("| loss=5%,reorder=2%,dup=1% |", r.StdOut);

            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "latest.json")));
            var missing = Figures.Where(f => !doc.RootElement.TryGetProperty(f, out var v) || v.ValueKind != JsonValueKind.Number || !double.IsFinite(v.GetDouble())).ToList();
            Assert.True(missing.Count == 0, $"missing or not a number: {string.Join(", ", missing)}");
            // Flat: every value is a number.
            Assert.All(doc.RootElement.EnumerateObject(), p => Assert.Equal(JsonValueKind.Number, p.Value.ValueKind));

            string svg = File.ReadAllText(Path.Combine(dir, "latest.svg"));
            Assert.Contains("<svg", svg);
            Assert.Contains("Bulk TCP", svg);

            var m = Regex.Match(r.StdOut, @"namespaces (nsbench-\d+)-s");
            Assert.True(m.Success, "the script did not say which namespaces it made");
            Assert.DoesNotContain(m.Groups[1].Value, Shell.Run("ip", "netns", "list").StdOut);
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }

    [PeerFact]
    public void Bridge_CarriesPingBetweenTwoKernels_AndLoss100StopsIt()
    {
        var (ns1, tap1, x) = TapPeer.NewNames();
        var (ns2, tap2, _) = TapPeer.NewNames();
        try
        {
            Shell.Check("bash", Path.Combine(Shell.RepoRoot, "setup-tap.sh"), "--ns", ns1, "--tap", tap1, "--addr", $"10.7.{x}.1/24");
            Shell.Check("bash", Path.Combine(Shell.RepoRoot, "setup-tap.sh"), "--ns", ns2, "--tap", tap2, "--addr", $"10.7.{x}.2/24");
            string[] bridge = [CliDll, "bridge", tap1, tap2, "--ns1", ns1, "--ns2", ns2];

            // Through the bridge: the kernels resolve each other and ping (ARP and ICMP, both ways).
            var (ping, text, code) = PingThroughBridge(bridge, ns1, $"10.7.{x}.2");
            Assert.Equal(3, ping.Received);
            Assert.Equal(143, code); // SIGTERM: counters printed, then the signal's exit code
            var forward = Direction(text, tap1, tap2);
            var backward = Direction(text, tap2, tap1);
            Assert.True(forward.Forwarded >= 4, text); // an ARP request (or reply) and the three echo requests
            Assert.True(backward.Forwarded >= 4, text);
            Assert.Equal(0, forward.Dropped);

            // 100% loss: nothing gets across, and every frame the kernel sent is counted as dropped.
            Shell.Run("ip", "-n", ns1, "neigh", "flush", "all");
            (ping, text, code) = PingThroughBridge([.. bridge, "--fault", "loss=100%"], ns1, $"10.7.{x}.2");
            Assert.Equal(0, ping.Received);
            Assert.Equal(143, code);
            Assert.Contains("faults loss=", text);
            forward = Direction(text, tap1, tap2);
            backward = Direction(text, tap2, tap1);
            Assert.Equal(0, forward.Forwarded);
            Assert.Equal(0, backward.Forwarded);
            Assert.True(forward.Dropped >= 1, text); // ARP requests, retried while the pings wait
        }
        finally
        {
            Shell.Run("ip", "netns", "del", ns1);
            Shell.Run("ip", "netns", "del", ns2);
        }
    }

    /// <summary>Starts the bridge, pings across it from <paramref name="ns"/>, stops it with SIGTERM; its output and exit code.</summary>
    private (PingSummary Ping, string Output, int ExitCode) PingThroughBridge(string[] args, string ns, string addr)
    {
        using var bridge = new BackgroundProcess("dotnet", args, readyText: "netstack bridge: up").WaitReady(TimeSpan.FromSeconds(30));
        var ping = Shell.Run("ip", ["netns", "exec", ns, "ping", "-c", "3", "-i", "0.2", "-W", "2", addr], TimeSpan.FromSeconds(30));
        Shell.Check("kill", "-TERM", bridge.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(bridge.WaitForExit(TimeSpan.FromSeconds(20)), bridge.Output);
        output.WriteLine(ping.ToString());
        output.WriteLine(bridge.Output);
        return (PingSummary.Parse(ping.StdOut), bridge.Output, bridge.ExitCode);
    }

    private static (long Forwarded, long Dropped) Direction(string text, string from, string to)
    {
        var m = Regex.Match(text, $@"{Regex.Escape(from)} -> {Regex.Escape(to)}: forwarded (\d+) frames \(\d+ bytes\); faults: dropped (\d+)");
        Assert.True(m.Success, $"no counters for {from} -> {to} in:\n{text}");
        return (long.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), long.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture));
    }
}
