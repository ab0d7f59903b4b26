using NetStack.Ipv6;
using NetStack.Core;
using Xunit.Abstractions;

namespace NetStack.Tests.Fuzz;

/// <summary>
/// The structure-aware fuzzer (<see cref="StackFuzzer"/>): a CI subset with fixed seeds, and the
/// long run that scripts/fuzz.sh starts (it sets NETSTACK_FUZZ_FRAMES / NETSTACK_FUZZ_SEEDS).
/// </summary>
public class StructuredFuzzTests(ITestOutputHelper output)
{
    /// <summary>20,000 frames, a fixed seed: no exception, consistent tables every 256 frames, everything returned at the end.</summary>
    [Theory]
    [InlineData(1001)]
    [InlineData(1002)]
    public void StructuredFrames_KeepTheStackConsistent(int seed)
    {
        using var fuzzer = new StackFuzzer(seed);
        var report = fuzzer.Run(10_000);
        output.WriteLine(report.ToString());
        // The generator reached every layer and every TCP state it aims at.
        Assert.True(report.TcpInSegs > 2_000, report.ToString());
        Assert.True(report.UdpInDatagrams > 100, report.ToString());
        Assert.True(report.IcmpInMsgs > 500, report.ToString());
        Assert.True(report.ReasmOks > 10, report.ToString());
        // The IPv6 frames reached the IPv6 input, reassembly, ICMPv6 (Packet Too Big included) and UDP over IPv6.
        var ip6 = fuzzer.Net.Ip6Mib;
        var icmp6 = fuzzer.Net.Ipv6.Icmp6Stats;
        string v6 = $"Ip6InReceives {ip6[Ipv6Mib.Ip6InReceives]} Ip6InHdrErrors {ip6[Ipv6Mib.Ip6InHdrErrors]} Ip6ReasmOKs {ip6[Ipv6Mib.Ip6ReasmOKs]} " +
            $"Icmp6InPktTooBigs {icmp6[Icmp6Mib.Icmp6InPktTooBigs]} Udp6InDatagrams {fuzzer.Net.Ipv6.Udp6Stats[UdpMib.InDatagrams]}";
        output.WriteLine(v6);
        Assert.True(ip6[Ipv6Mib.Ip6InReceives] > 500, v6);
        Assert.True(ip6[Ipv6Mib.Ip6InHdrErrors] > 20, v6);
        Assert.True(ip6[Ipv6Mib.Ip6ReasmOKs] > 5, v6);
        Assert.True(icmp6[Icmp6Mib.Icmp6InPktTooBigs] > 5, v6);
        Assert.True(fuzzer.Net.Ipv6.Udp6Stats[UdpMib.InDatagrams] > 5, v6);
        foreach (var s in new[] { TcpState.SynSent, TcpState.NewSynRecv, TcpState.Established, TcpState.FinWait1, TcpState.FinWait2,
                     TcpState.CloseWait, TcpState.Closing, TcpState.LastAck, TcpState.TimeWait })
            Assert.True(report.StatesHit.GetValueOrDefault(s) > 0, $"no frame reached {s}: {report}");
    }

    /// <summary>The consistency checker is not blind: a buffer taken from the pool and dropped is reported.</summary>
    [Fact]
    public void Checker_ReportsALeakedBuffer()
    {
        using var fuzzer = new StackFuzzer(7);
        Assert.Empty(StackChecker.Check(fuzzer.Net));
        var skb = fuzzer.Net.SkbPool.Alloc();
        Assert.Contains(StackChecker.Check(fuzzer.Net), p => p.Contains("1 unaccounted"));
        skb!.Free();
        Assert.Empty(StackChecker.Check(fuzzer.Net));
    }

    /// <summary>The long run: frames and seeds from the environment (scripts/fuzz.sh); without them, a short smoke run.</summary>
    [Fact]
    public void LongRun_FromEnvironment()
    {
        long frames = long.TryParse(Environment.GetEnvironmentVariable("NETSTACK_FUZZ_FRAMES"), out var n) ? n : 2_000;
        var seeds = (Environment.GetEnvironmentVariable("NETSTACK_FUZZ_SEEDS") ?? "1").Split(',', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray();
        string? reportPath = Environment.GetEnvironmentVariable("NETSTACK_FUZZ_REPORT");
        long perSeed = Math.Max(1, frames / seeds.Length);
        var lines = new List<string>();
        Exception? failure = null;
        foreach (int seed in seeds)
        {
            try
            {
                using var fuzzer = new StackFuzzer(seed);
                lines.Add(fuzzer.Run(perSeed).ToString());
            }
            catch (FuzzFailure e)
            {
                lines.Add("FAIL " + e.ToString());
                failure ??= e;
            }
            if (reportPath is not null) File.WriteAllLines(reportPath, lines);
            output.WriteLine(lines[^1]);
        }
        if (failure is not null) throw failure;
    }
}
