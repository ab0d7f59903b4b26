using System.Diagnostics;
using System.Text.Json.Nodes;
using NetStack.Api;
using NetStack.Cli;
using NetStack.Cli.Commands;
using NetStack.Control;
using NetStack.Tests.Ipv4;
using NetStack.Tests.Tcp;

namespace NetStack.Tests.ControlPlane;

/// <summary>
/// `netstack netstat -s`: the counters printed as net-tools' netstat prints the kernel's, compared
/// byte for byte with what netstat 2.10 printed for the same /proc lines (Fixtures/README.md), and
/// a stack's own counters through the control socket's "counters" op.
/// </summary>
public sealed class NetstatTests
{
    private static string Fixture(string name) => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "ControlPlane", "Fixtures", name));

    /// <summary>/proc/net/snmp or /proc/net/netstat: pairs of lines, "Name: keys..." then "Name: values...".</summary>
    private static IEnumerable<(string, IReadOnlyList<KeyValuePair<string, long>>)> ProcLines(string text)
    {
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        for (int i = 0; i + 1 < lines.Length; i += 2)
        {
            var keys = lines[i].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var values = lines[i + 1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(keys[0], values[0]);
            yield return (keys[0].TrimEnd(':'), keys.Skip(1).Zip(values.Skip(1), (k, v) => new KeyValuePair<string, long>(k, long.Parse(v, System.Globalization.CultureInfo.InvariantCulture))).ToList());
        }
    }

    [Theory]
    [InlineData("-s", true, true, true)]
    [InlineData("-st", false, true, false)]
    [InlineData("-su", false, false, true)]
    [InlineData("-sw", true, false, false)]
    [InlineData("-stu", false, true, true)]
    public void Render_IsWhatNetTools_PrintsForTheSameProcLines(string flags, bool raw, bool tcp, bool udp)
    {
        var lines = ProcLines(Fixture("proc-net-snmp.txt")).Concat(ProcLines(Fixture("proc-net-netstat.txt")));
        Assert.Equal(Fixture($"netstat{flags}.txt"), NetstatStatistics.Render(lines, raw, tcp, udp));
    }

    [Fact]
    public void StackCounters_ThroughTheCountersOp_PrintInNetstatsPhrasesAndSections()
    {
        using var s = new TwoStacks();
        TwoStackPingTests.SendEcho(s.A, TwoStacks.AddrB, 1, 1);
        s.Pump();
        TcpTwoStackTests.Connect(s);   // A opens actively, B passively

        var dir = Directory.CreateTempSubdirectory("nsctl-netstat-");
        try
        {
            using var server = new ControlServer(s.B, "b", Path.Combine(dir.FullName, "b.sock"));
            server.Start();
            using var c = ControlClient.Connect(server.Path);
            var tables = c.Request(new JsonObject { ["op"] = "counters" })["counters"]!.AsObject();
            // The /proc lines in order, Ip's settings as Linux reports them, IcmpMsg by type.
            Assert.Equal(["Ip", "Icmp", "IcmpMsg", "Tcp", "Udp", "TcpExt", "IpExt", "ArpCache", "SkbPool", "Kernel", "Drops"], tables.Select(t => t.Key));
            Assert.Equal(2, (long)tables["Ip"]!["Forwarding"]!);
            Assert.Equal(64, (long)tables["Ip"]!["DefaultTTL"]!);
            Assert.Equal(1, (long)tables["IcmpMsg"]!["InType8"]!);
            Assert.Equal(1, (long)tables["IcmpMsg"]!["OutType0"]!);

            var counters = NetStackInfo.GetCounters(s.B).ToDictionary();
            string all = NetstatStatistics.Render(NetstatCommand.ProcLines(tables), raw: true, tcp: true, udp: true);
            var lines = all.Split('\n');
            Assert.Equal(["Ip:", "Icmp:", "IcmpMsg:", "Tcp:", "Udp:", "UdpLite:", "TcpExt:", "IpExt:"], lines.Where(l => l.EndsWith(':') && !l.StartsWith(' ')));
            Assert.Contains("Ip:\n    Forwarding: 2\n", all);   // netstat 2.10's bsearch misses "Forwarding" in its table
            Assert.Contains($"    {counters["IpInReceives"]} total packets received\n", all);
            Assert.Contains("    ICMP input histogram:\n        echo requests: 1\n", all);
            Assert.Contains("    ICMP output histogram:\n        echo replies: 1\n", all);
            Assert.Contains("IcmpMsg:\n        InType8: 1\n        OutType0: 1\nTcp:\n", all);   // indented as the histogram before it
            Assert.Contains("    0 active connection openings\n    1 passive connection openings\n", all);
            Assert.Contains($"    {counters["TcpInSegs"]} segments received\n    {counters["TcpOutSegs"]} segments sent out\n", all);
            Assert.Contains("    1 connections established\n", all);
            Assert.Contains("UdpLite:\nTcpExt:\n", all);             // no UDP-Lite: an empty section
            Assert.Contains($"    InOctets: {counters["IpExtInOctets"]}\n", all);

            // -t: TCP's sections and the ones netstat has no table for; Ip, Icmp and Udp are left out.
            string tcp = NetstatStatistics.Render(NetstatCommand.ProcLines(tables), raw: false, tcp: true, udp: false);
            Assert.Equal(["IcmpMsg:", "Tcp:", "UdpLite:", "TcpExt:", "IpExt:"], tcp.Split('\n').Where(l => l.EndsWith(':') && !l.StartsWith(' ')));
            Assert.Contains("IcmpMsg:\n    InType8: 1\n", tcp);     // nothing printed before it: indented 4
            Assert.DoesNotContain("total packets received", tcp);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void IcmpMsg_AsLinuxWritesIt_NoLineWithoutTypes_SixteenTypesALine()
    {
        static JsonObject Tables(string icmpMsg) => (JsonObject)JsonNode.Parse(
            $"{{\"Ip\":{{\"InReceives\":1}},\"Icmp\":{{\"InMsgs\":0}},\"IcmpMsg\":{{{icmpMsg}}},\"Tcp\":{{\"ActiveOpens\":0}},\"Udp\":{{\"InDatagrams\":0}},\"TcpExt\":{{}},\"IpExt\":{{}},\"Drops\":{{\"NoSocket\":3}}}}")!;
        Assert.Equal(["Ip", "Icmp", "Tcp", "Udp", "UdpLite", "TcpExt", "IpExt"], NetstatCommand.ProcLines(Tables("")).Select(l => l.Name));
        string seventeen = string.Join(",", Enumerable.Range(0, 17).Select(i => $"\"InType{i}\":1"));
        var lines = NetstatCommand.ProcLines(Tables(seventeen));
        Assert.Equal([16, 1], lines.Where(l => l.Name == "IcmpMsg").Select(l => l.Counters.Count));
        Assert.Equal(2, NetstatStatistics.Render(lines, true, true, true).Split('\n').Count(l => l == "IcmpMsg:"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("-t")]
    public void WithoutS_IsAUsageError_SayingOnlyStatisticsAreSupported(string flags)
    {
        string[] args = flags.Length == 0 ? [] : [flags];
        var psi = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in (string[])[Path.Combine(AppContext.BaseDirectory, "NetStack.Cli.dll"), "netstat", .. args, "--control", "/nonexistent/x.sock"])
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string stdout = p.StandardOutput.ReadToEnd(), stderr = p.StandardError.ReadToEnd();
        Assert.True(p.WaitForExit(60_000));
        Assert.Equal(2, p.ExitCode);
        Assert.Equal("", stdout);
        Assert.Equal("netstack netstat: only -s (statistics) is supported; for sockets use netstack ss, for routes netstack ip route, for interfaces netstack ip -s link\n", stderr);
    }
}
