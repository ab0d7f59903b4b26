using System.Globalization;
using NetStack.Api;
using NetStack.Core;
using NetStack.Ipv4;

namespace NetStack.PeerTests;

/// <summary>
/// `netstack trace tcp` attached to a running `netstack up` (through its control socket) while the
/// Linux kernel downloads from the stack's http service with curl: the CSV file shows the
/// connection's life (its state changes in order) and its cwnd growing in slow start, ACK by ACK.
/// </summary>
public sealed class TcpTracePeerTests(ITestOutputHelper output)
{
    private static readonly string CliDll = Path.Combine(AppContext.BaseDirectory, "NetStack.Cli.dll");

    [PeerFact]
    public void NetstackTraceTcp_OnARunningUp_ShowsACurlDownloadsCwnd()
    {
        var (ns, tap, x) = TapPeer.NewNames();
        var dir = Directory.CreateTempSubdirectory("nsctl-trace-");
        string path = Path.Combine(dir.FullName, $"{ns}.sock"), stack = $"10.7.{x}.2", csv = Path.Combine(dir.FullName, "trace.csv");
        const long Size = 20L << 20;
        try
        {
            using var up = new BackgroundProcess("dotnet",
                [CliDll, "up", "--ns", ns, "--tap", tap, "--create", "--addr", $"{stack}/24", "--services", "http",
                 "--name", ns, "--control", path, "--duration", "180"], readyText: "control socket:");
            up.WaitReady(TimeSpan.FromSeconds(60));

            List<string> lines;
            using (var trace = new BackgroundProcess("dotnet", [CliDll, "trace", "tcp", "--sport", "80", "-o", csv, "--name", ns, "--control", path],
                readyText: "netstack trace: tracing tcp"))
            {
                trace.WaitReady(TimeSpan.FromSeconds(30));
                var curl = Shell.Run("ip", ["netns", "exec", ns, "curl", "-sS", "--fail", "-o", "/dev/null", "-w", "%{size_download}", $"http://{stack}/bytes/{Size}"],
                    TimeSpan.FromSeconds(120));
                output.WriteLine(curl.ToString());
                Assert.Equal(0, curl.ExitCode);
                Assert.Equal(Size.ToString(CultureInfo.InvariantCulture), curl.StdOut);
                // The trace is written as it comes: wait for the connection's last state change (to CLOSE).
                lines = [];
                Assert.True(TapPeer.WaitUntil(() =>
                {
                    lines = ReadLines(csv);
                    return lines.Any(l => l.Contains(",inet_sock_set_state,", StringComparison.Ordinal) && l.Contains(",TCP_CLOSE,", StringComparison.Ordinal));
                }, TimeSpan.FromSeconds(30)), "the trace did not show the connection closing:\n" + trace.Output);
                output.WriteLine(trace.Output);
            }

            Assert.Equal(TcpTraceRecord.CsvHeader, lines[0]);
            var records = lines.Skip(1).Select(TcpTraceRecord.ParseCsv).ToList();
            output.WriteLine($"{records.Count} records: " + string.Join(", ", records.GroupBy(r => r.EventName).Select(g => $"{g.Key} {g.Count()}")));
            Assert.All(records, r => Assert.Equal(80, r.LocalPort));
            var conn = records.Where(r => r.RemotePort != 0).ToList();
            Assert.Single(conn.Select(r => r.SocketCookie).Distinct()); // one connection: curl's

            // Its life, as Linux's inet_sock_set_state shows it for a server whose client closes first
            // (a close() after shutdown() sets LAST_ACK again: tcp_close_state() calls tcp_set_state()
            // whatever the state, and the kernel traces that LAST_ACK -> LAST_ACK too).
            Assert.Equal(
                [(TcpState.Listen, TcpState.SynRecv), (TcpState.SynRecv, TcpState.Established), (TcpState.Established, TcpState.CloseWait),
                 (TcpState.CloseWait, TcpState.LastAck), (TcpState.LastAck, TcpState.Close)],
                conn.Where(r => r.Event == TcpTraceEvent.SetState && r.OldState != r.State).Select(r => (r.OldState, r.State)).ToArray());

            // The cwnd, ACK by ACK: 10 at the start, growing (no loss on this link: it never shrinks).
            var probes = conn.Where(r => r.Event == TcpTraceEvent.Probe && r.State == TcpState.Established).ToList();
            output.WriteLine("cwnd: " + string.Join(" ", probes.Select(p => p.SendCwnd).Distinct().Take(40)));
            Assert.True(probes.Count > 10);
            Assert.Equal(TcpSock.TcpInitCwnd, conn.First(r => r.Event == TcpTraceEvent.Transmit && r.DataLength > 0).SendCwnd);
            Assert.True(probes.Max(p => p.SendCwnd) > 2 * TcpSock.TcpInitCwnd, "the cwnd did not grow");
            if (!conn.Any(r => r.Event == TcpTraceEvent.Retransmit))
                for (int i = 1; i < probes.Count; i++) Assert.True(probes[i].SendCwnd >= probes[i - 1].SendCwnd);
            Assert.All(probes, p => Assert.True(p.Rtt > TimeSpan.Zero));
            // Everything the stack sent was acknowledged: the body and the response's headers.
            Assert.True(probes[^1].BytesAcked > (ulong)Size);
            Assert.True(conn.Where(r => r.Event == TcpTraceEvent.Transmit).Sum(r => (long)r.DataLength) > Size);
        }
        finally
        {
            Shell.Run("ip", "netns", "del", ns);
            dir.Delete(recursive: true);
        }
    }

    /// <summary>The file's complete lines (the writer may be in the middle of one).</summary>
    private static List<string> ReadLines(string file)
    {
        if (!File.Exists(file)) return [];
        using var s = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        string text = new StreamReader(s).ReadToEnd();
        int end = text.LastIndexOf('\n');
        return end < 0 ? [] : [.. text[..end].Split('\n')];
    }
}
