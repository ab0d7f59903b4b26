using NetStack.Api;
using NetStack.Core;
using NetStack.Sim;
using Xunit.Abstractions;

namespace NetStack.Tests.Tcp;

/// <summary>
/// tcp_try_undo_partial(): without SACK, a reordered segment looks like a loss (three duplicate
/// ACKs) and starts a NewReno recovery; when the delayed original then fills the hole, the partial
/// ACK echoes a timestamp older than the retransmission, so Linux undoes the reduction, raises the
/// reordering degree and retransmits nothing more. Before this stack had it, each such recovery
/// went on retransmitting the head at every partial ACK: several spurious retransmissions each.
/// </summary>
public class TcpUndoPartialTests(ITestOutputHelper output)
{
    [Fact]
    public void NewReno_ReorderingWithoutLoss_UndoesOnThePartialAck_RetransmittingOnlyTheHead()
    {
        // Reordering only (1% of the data held back 3 ms, about 5 segments at 20 Mbit/s), no SACK, and no loss:
        // the receiver's buffer (SO_RCVBUF 64 KB) keeps the window under the queue's 100 packets. The
        // reordering degree may not grow past 3 (net.ipv4.tcp_max_reordering), so every reordering starts a recovery.
        const string json = """
            { "duration": "10s", "sample_interval": "1s",
              "hosts": [ { "name": "a", "sysctl": { "net.ipv4.tcp_sack": 0, "net.ipv4.tcp_max_reordering": 3 },
                           "link": { "delay": "5ms", "up": { "rate": "20Mbit", "queue": { "packets": 100 }, "reorder": { "probability": "1%", "delay": "3ms" } } } },
                         { "name": "b", "link": { "rate": "1Gbit", "delay": "5ms" } } ],
              "flows": [ { "name": "newreno", "from": "a", "to": "b", "cc": "reno", "server_sockopts": { "SO_RCVBUF": 65536 } } ] }
            """;
        using var sim = new Simulator(Scenario.Parse(json));
        sim.RunAll();
        var c = NetStackInfo.GetCounters(sim.Hosts[0].Net).ToDictionary(kv => kv.Key, kv => kv.Value);
        long recoveries = c["TcpExtTCPRenoRecovery"], retrans = c["TcpRetransSegs"];
        long partial = c["TcpExtTCPPartialUndo"], full = c["TcpExtTCPFullUndo"], tsReorder = c["TcpExtTCPTSReorder"];
        output.WriteLine($"{recoveries} NewReno recoveries, {retrans} segments retransmitted, {partial} partial and {full} full undos, " +
                         $"{tsReorder} reorderings seen by timestamps, reordering degree {sim.Flows[0].LastInfo!.Value.Reordering}; " +
                         $"{sim.Hosts[0].Up.Lost} frames lost");
        Assert.Equal(0, sim.Hosts[0].Up.Lost + sim.Hosts[0].Up.Queue!.Drops); // nothing was lost: every recovery was spurious
        Assert.True(recoveries >= 20, $"{recoveries} recoveries");
        // One retransmission (the head) per recovery, and every recovery undone.
        Assert.InRange(retrans, recoveries, recoveries + 2);
        Assert.Equal(recoveries, partial + full);
        Assert.True(partial > 0);
        Assert.Equal(partial, tsReorder);
    }
}
