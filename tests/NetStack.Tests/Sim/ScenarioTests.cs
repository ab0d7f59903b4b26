using NetStack.Sim;

namespace NetStack.Tests.Sim;

/// <summary>The scenario format: comments, units, defaults, and a clear error for each mistake.</summary>
public class ScenarioTests
{
    private const string Minimal = """{ "hosts": [ { "name": "a" }, { "name": "b" } ], "flows": [ { "from": "a", "to": "b" } ] }""";

    [Fact]
    public void Minimal_GetsTheDefaults()
    {
        var s = Scenario.Parse(Minimal, "x");
        Assert.Equal("x", s.Name);
        Assert.Equal(10_000_000_000, s.DurationNs);
        Assert.Equal(100_000_000, s.SampleIntervalNs);
        Assert.Equal(1500, s.Mtu);
        Assert.Equal(0, s.Hosts[0].Up.RateBps); // infinite
        Assert.Equal(1000, s.Hosts[0].Down.Queue.LimitPackets);
        var f = s.Flows[0];
        Assert.Equal(("flow1", FlowKind.Bulk, null, 0L, (long?)null), (f.Name, f.Kind, f.Cc, f.StartNs, f.Bytes));
    }

    [Fact]
    public void CommentsTrailingCommasAndUnits()
    {
        var s = Scenario.Parse("""
            // a comment
            { "duration": "1.5min", "sample_interval": 0.25, /* seconds */
              "hosts": [ { "name": "a", "link": { "rate": "12.5MBps", "delay": "250us", "loss": "1%",
                                                  "down": { "rate": 1e9, "queue": { "type": "bfifo", "bytes": "64KiB" } } } },
                         { "name": "b", }, ],
              "flows": [ { "from": "a", "to": "b", "bytes": "1.5MB", "start": "100ms", "stop": "2s" } ] }
            """);
        Assert.Equal(90_000_000_000, s.DurationNs);
        Assert.Equal(250_000_000, s.SampleIntervalNs);
        var up = s.Hosts[0].Up;
        Assert.Equal((100e6, 250_000L, 0.01), (up.RateBps, up.DelayNs, up.Loss));
        var down = s.Hosts[0].Down;
        Assert.Equal((1e9, 250_000L, 0.01), (down.RateBps, down.DelayNs, down.Loss)); // the link's values, overridden by "down"
        Assert.Equal((QueueKind.DropTail, (long?)null, (long?)65536), (down.Queue.Kind, down.Queue.LimitPackets, down.Queue.LimitBytes));
        Assert.Equal((1_500_000L, 100_000_000L, 2_000_000_000L), (s.Flows[0].Bytes!.Value, s.Flows[0].StartNs, s.Flows[0].StopNs!.Value));
    }

    [Theory]
    [InlineData("100Mbit", 100e6)]
    [InlineData("100mbit", 100e6)]
    [InlineData("100Mbps", 100e6)]
    [InlineData("12.5MBps", 100e6)]
    [InlineData("1Gbit", 1e9)]
    [InlineData("64kbit", 64e3)]
    [InlineData("8KBps", 64e3)]
    [InlineData("1e6", 1e6)]
    public void Rates(string text, double bps) => Assert.Equal(bps, Units.ParseRate(text));

    [Fact]
    public void Red_GetsTcsDefaults()
    {
        var s = Scenario.Parse("""
            { "hosts": [ { "name": "a", "link": { "rate": "10Mbit", "queue": { "type": "red", "bytes": 400000, "min": 30000, "max": 90000 } } }, { "name": "b" } ] }
            """);
        var q = s.Hosts[0].Up.Queue;
        Assert.Equal((0.02, 1000L, 50L), (q.RedProbability, q.RedAvpkt, q.RedBurst)); // burst = (2 min + max) / (3 avpkt)
    }

    [Fact]
    public void Step_TakesItsThresholdAndALimit()
    {
        var s = Scenario.Parse("""
            { "hosts": [ { "name": "a", "link": { "rate": "10Mbit", "queue": { "type": "step", "k": 20 } } },
                         { "name": "b", "link": { "rate": "10Mbit", "queue": { "type": "step", "k": 5, "bytes": "30KB" } } } ] }
            """);
        var q = s.Hosts[0].Up.Queue;
        Assert.Equal((QueueKind.Step, 20L, (long?)1000, (long?)null), (q.Kind, q.StepThresholdPackets, q.LimitPackets, q.LimitBytes));
        Assert.Equal("step(k=20,1000p)", q.ToString());
        var b = s.Hosts[1].Down.Queue;
        Assert.Equal((5L, (long?)null, (long?)30_000), (b.StepThresholdPackets, b.LimitPackets, b.LimitBytes));
    }

    [Theory]
    [InlineData("""{ "hosts": [ { "name": "a", "link": { "queue": { "type": "step" } } }, { "name": "b" } ] }""", "hosts[0].link.queue.k: a step queue needs its marking threshold")]
    [InlineData("""{ "hosts": [ { "name": "a", "link": { "queue": { "type": "step", "k": 5, "ecn": true } } }, { "name": "b" } ] }""", "hosts[0].link.queue.ecn: a step queue always marks")]
    [InlineData("""{ "hosts": [ { "name": "a", "link": { "queue": { "type": "droptail", "k": 5 } } }, { "name": "b" } ] }""", "hosts[0].link.queue.k: unknown key")]
    [InlineData("""{ "hosts": [ { "name": "a" }, { "name": "b" } ], "duraton": "1s" }""", "duraton: unknown key")]
    [InlineData("""{ "hosts": [ { "name": "a", "link": { "rate": "100Mbits" } }, { "name": "b" } ] }""", "hosts[0].link.rate: unknown rate unit 'Mbits'")]
    [InlineData("""{ "hosts": [ { "name": "a", "link": { "rate": "100Xbit" } }, { "name": "b" } ] }""", "hosts[0].link.rate: unknown rate unit 'Xbit'")]
    [InlineData("""{ "hosts": [ { "name": "a", "link": { "down": { "delay": "5 parsecs" } } }, { "name": "b" } ] }""", "hosts[0].link.down.delay: unknown time unit 'parsecs'")]
    [InlineData("""{ "hosts": [ { "name": "a" }, { "name": "b" } ], "flows": [ { "from": "a", "to": "c" } ] }""", "flows[0].to: no host \"c\"")]
    [InlineData("""{ "hosts": [ { "name": "a" }, { "name": "a" } ] }""", "hosts: the name \"a\" is used twice")]
    [InlineData("""{ "hosts": [ { "name": "a" } ] }""", "hosts: at least two")]
    [InlineData("""{ "hosts": [ { "name": "a", "link": { "rate": "1Mbit", "queue": { "type": "sfq" } } }, { "name": "b" } ] }""", "hosts[0].link.queue.type: unknown queue \"sfq\"")]
    [InlineData("""{ "hosts": [ { "name": "a", "link": { "queue": { "type": "droptail", "ecn": true } } }, { "name": "b" } ] }""", "hosts[0].link.queue.ecn: a drop-tail queue does not mark")]
    [InlineData("""{ "hosts": [ { "name": "a" }, { "name": "b" } ], "flows": [ { "from": "a", "to": "b", "sockopts": { "SO_FOO": 1 } } ] }""", "flows[0].sockopts.SO_FOO: unknown socket option")]
    [InlineData("""{ "hosts": [ { "name": "a" }, { "name": "b" } ], "flows": [ { "from": "a", "to": "b", "type": "rr", "on": "1s" } ] }""", "flows[0].on: unknown key")]
    [InlineData("""{ "hosts": [ { "name": "a", "link": { "loss": 1.5 } }, { "name": "b" } ] }""", "hosts[0].link.loss: must be between 0 and 1")]
    [InlineData("""{ "hosts": [ { "name": "a" }, { "name": "b" } ], """, "not valid JSON")]
    public void Mistakes_AreNamedWithTheirPath(string json, string message)
    {
        var e = Assert.Throws<ScenarioException>(() => Scenario.Parse(json));
        Assert.StartsWith(message, e.Message);
    }

    [Fact]
    public void UnknownCongestionControl_IsNamedWithTheAvailableOnes()
    {
        var s = Scenario.Parse("""{ "hosts": [ { "name": "a" }, { "name": "b" } ], "flows": [ { "name": "f", "from": "a", "to": "b", "cc": "vegas" } ] }""");
        var e = Assert.Throws<ScenarioException>(() => new Simulator(s));
        Assert.StartsWith("flow \"f\": congestion control \"vegas\": ENOENT (available: ", e.Message);
        Assert.Contains("cubic", e.Message);
        Assert.Contains("reno", e.Message);
    }

    [Fact]
    public void UnknownSysctl_IsNamed()
    {
        var s = Scenario.Parse("""{ "hosts": [ { "name": "a", "sysctl": { "net.ipv4.tcp_foo": 1 } }, { "name": "b" } ] }""");
        var e = Assert.Throws<ScenarioException>(() => new Simulator(s));
        Assert.Equal("host \"a\": sysctl net.ipv4.tcp_foo=1: no such sysctl", e.Message);
    }

    [Fact]
    public void TheExperiments_ParseAndBuild()
    {
        string dir = Path.Combine(RepoRoot(), "experiments");
        var files = Directory.GetFiles(dir, "*.json");
        Assert.True(files.Length >= 4, $"{files.Length} scenarios in experiments/");
        foreach (var f in files)
        {
            var s = Scenario.Load(f);
            Assert.Equal(Path.GetFileNameWithoutExtension(f), s.Name);
            Assert.False(string.IsNullOrWhiteSpace(s.Description), f + " has no description");
            using var sim = new Simulator(s);
            sim.Run(50_000_000); // 50 ms: the flows start
        }
    }

    internal static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "NetStack.sln"))) return d.FullName;
        throw new InvalidOperationException("NetStack.sln not found above " + AppContext.BaseDirectory);
    }
}
