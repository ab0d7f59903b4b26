using NetStack.Sim;
using Xunit.Abstractions;

namespace NetStack.Tests.Sim;

/// <summary>The simulator's packet path (links, queues, switch, devices, the applications' calls) allocates nothing in steady state.</summary>
public class SimAllocationTests(ITestOutputHelper output)
{
    [Fact]
    public void SteadyState_AllocatesNothingPerPacket()
    {
        // No sample falls in the measured second (the interval is longer than the run), so what is left is the packet path.
        const string json = """
            { "duration": "30s", "sample_interval": "20s",
              "hosts": [ { "name": "a", "link": { "rate": "1Gbit", "delay": "5ms" } },
                         { "name": "b", "link": { "delay": "5ms", "down": { "rate": "50Mbit", "queue": { "type": "codel" } }, "up": { "loss": "0.1%" } } } ],
              "flows": [ { "name": "f", "from": "a", "to": "b", "cc": "cubic" } ] }
            """;
        using var sim = new Simulator(Scenario.Parse(json));
        sim.Run(3_000_000_000); // warm up: pools, heaps, buffers grown; the window autotuned
        long events = sim.Events.Scheduled;
        long before = SteadyState.ThreadAllocatedBytes();
        sim.Run(4_000_000_000);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        events = sim.Events.Scheduled - events;
        output.WriteLine($"{allocated} bytes allocated over {events} events (one simulated second at 50 Mbit/s)");
        Assert.True(events > 10_000);
        Assert.True(allocated < 1024, $"{allocated} bytes allocated over {events} events");
    }
}
