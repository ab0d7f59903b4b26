using NetStack.Core;
using NetStack.Net;

namespace NetStack.Tests.Tcp;

/// <summary>
/// Steady-state bulk TCP allocates nothing with the congestion machinery on: BBR with its pacing
/// timer and rate samples, ECN with CE marks (ECE/CWR, cwnd reductions), DCTCP, CUBIC with HyStart.
/// </summary>
public class TcpCongZeroAllocTests
{
    /// <summary>Moves <paramref name="bytes"/> A to B over the modelled link (no closures: nothing allocated by the loop itself).</summary>
    private static long Transfer(LinkStacks s, int cfd, int afd, byte[] chunk, byte[] buf, long bytes)
    {
        long sent = 0, got = 0;
        long end = s.Clock.NowNs + Time.Sec(600);
        while (got < bytes && s.Clock.NowNs < end)
        {
            while (sent < bytes)
            {
                int n = SocketCalls.Send(s.A.Files, cfd, chunk.AsSpan(0, (int)Math.Min(chunk.Length, bytes - sent)), 0);
                if (n <= 0) break;
                sent += n;
            }
            int work = s.Pump();
            int r;
            while ((r = SocketCalls.Recv(s.B.Files, afd, buf, 0)) > 0) { got += r; work++; }
            work += s.Pump();
            if (work == 0)
            {
                long next = s.NextEvent();
                if (next == long.MaxValue) break;
                if (next > s.Clock.NowNs) s.Clock.Set(next);
            }
        }
        return got;
    }

    [Theory]
    [InlineData("bbr", 2)]
    [InlineData("cubic", 1)]
    [InlineData("dctcp", 2)]
    [InlineData("reno", 1)]
    public void BulkTransfer_WithPacingEcnAndRateSampling_AllocatesNothing(string cc, int tcpEcn)
    {
        using var s = new LinkStacks(rateBps: 100_000_000, rttMs: 10, limit: 200);
        s.AtoB.CeThreshold = 20;
        foreach (var net in new[] { s.A, s.B })
        {
            Assert.Equal(0, net.Sysctl.TrySet("net.ipv4.tcp_congestion_control", cc));
            Assert.Equal(0, net.Sysctl.TrySet("net.ipv4.tcp_ecn", tcpEcn.ToString()));
        }
        var (_, cfd, afd) = s.Connect();
        var chunk = new byte[16384];
        var buf = new byte[65536];
        // Warm up: buffer pools, timer heap, send-buffer growth, JIT, the congestion control's state.
        Assert.Equal(8L << 20, Transfer(s, cfd, afd, chunk, buf, 8 << 20));

        // Up to three measured rounds (as ZeroAllocationTests): the stack's path is deterministic, so an
        // allocation on it shows in every round; the runtime (a tiered-JIT promotion under a loaded
        // machine, seen once with BBR in a full run) may allocate in one, never in all.
        long best = long.MaxValue;
        for (int attempt = 0; attempt < 3 && best != 0; attempt++)
        {
            long marked = s.AtoB.Marked;
            long before = SteadyState.ThreadAllocatedBytes();
            long moved = Transfer(s, cfd, afd, chunk, buf, 16 << 20);
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            Assert.Equal(16L << 20, moved);
            if (cc != "bbr") Assert.True(s.AtoB.Marked > marked, "CE marks (and so ECE/CWR) happened while measuring");
            best = Math.Min(best, allocated);
        }
        Assert.Equal(0, best);
    }
}
