using NetStack.Api;
using NetStack.Core;
using NetStack.Net;

namespace NetStack.Tests.Tcp;

/// <summary>
/// Steady-state bulk TCP (send, segment, transmit, receive, ACK, read) allocates nothing, also with
/// the TCP trace points on (issue 9): with a reader draining the rings as the transfer goes, and with
/// nobody reading, so that the rings fill and every further record takes the drop path.
/// </summary>
public class TcpZeroAllocTests
{
    public enum Tracing { Off, Read, Full }

    private TcpTrace[] _traces = [];
    private readonly TcpTraceRecord[] _records = new TcpTraceRecord[4096]; // preallocated: the reader allocates nothing either
    private bool _read;
    private long _recordsRead;

    private void Trace(TwoStacks s, Tracing tracing)
    {
        if (tracing == Tracing.Off) return;
        _traces = [TcpTrace.Enable(s.A, capacity: 1024), TcpTrace.Enable(s.B, capacity: 1024)];
        _read = tracing == Tracing.Read;
    }

    private void DrainTraces()
    {
        if (!_read) return;
        foreach (var t in _traces)
        {
            int n;
            while ((n = t.Read(_records)) > 0) _recordsRead += n;
        }
    }

    private void AssertTraced(Tracing tracing)
    {
        if (tracing == Tracing.Off) return;
        foreach (var t in _traces) t.Dispose();
        if (tracing == Tracing.Read) Assert.True(_recordsRead > 0);
        else Assert.All(_traces, t => Assert.True(t.Dropped > 0 && t.Count == t.Capacity));
    }

    private long Transfer(TwoStacks s, int from, int to, NetNamespace a, NetNamespace b, byte[] chunk, byte[] buf, long bytes)
    {
        long sent = 0, got = 0;
        while (got < bytes)
        {
            while (sent < bytes)
            {
                int n = SocketCalls.Send(a.Files, from, chunk.AsSpan(0, (int)Math.Min(chunk.Length, bytes - sent)), 0);
                if (n <= 0) break;
                sent += n;
            }
            int work = s.Pump();
            int r;
            while ((r = SocketCalls.Recv(b.Files, to, buf, 0)) > 0) { got += r; work++; }
            work += s.Pump();
            DrainTraces();
            if (work == 0) s.RunFor(10); // waiting for a timer (retransmission, delayed ACK)
        }
        return got;
    }

    [Theory]
    [InlineData(Tracing.Off)]
    [InlineData(Tracing.Read)]
    [InlineData(Tracing.Full)]
    [InlineData(Tracing.Off, true)]
    public void BulkSendReceive_BothDirections_AllocatesNothing(Tracing tracing, bool tso = false)
    {
        using var s = new TwoStacks();
        if (tso)
        {
            // The TSO send path: sockets' pages, super-frame heads with fragments, the link's software segmentation.
            s.Link.A.EnableTso();
            s.Link.B.EnableTso();
        }
        Trace(s, tracing);
        var (_, cfd, afd) = TcpTwoStackTests.Connect(s);
        var chunk = new byte[16384];
        var buf = new byte[65536];
        // Warm up: buffer pools, timer heap, send-buffer growth, JIT.
        Transfer(s, cfd, afd, s.A, s.B, chunk, buf, 8 << 20);
        Transfer(s, afd, cfd, s.B, s.A, chunk, buf, 8 << 20);

        long moved = 0, windows = 0;
        long allocated = SteadyState.LeastAllocated(() =>
        {
            windows++;
            moved += Transfer(s, cfd, afd, s.A, s.B, chunk, buf, 16 << 20);
            moved += Transfer(s, afd, cfd, s.B, s.A, chunk, buf, 16 << 20);
        });

        Assert.Equal(windows * (32L << 20), moved);
        Assert.Equal(0, allocated);
        AssertTraced(tracing);
        if (tso) Assert.True(s.Link.A.TxGsoFrames > 0 && s.Link.B.TxGsoFrames > 0, "no super-frame was sent");
    }

    [Theory]
    [InlineData(Tracing.Off)]
    [InlineData(Tracing.Read)]
    [InlineData(Tracing.Full)]
    public void BulkWithLossAndReordering_RecoveryPathAllocatesNothing(Tracing tracing)
    {
        using var s = new TwoStacks();
        Trace(s, tracing);
        var (_, cfd, afd) = TcpTwoStackTests.Connect(s);
        lock (s.A.SyncRoot) Drivers.FaultInjector.Attach(s.Link.A, "loss=2%,reorder=2%,dup=1%,seed=9,dir=tx");
        lock (s.B.SyncRoot) Drivers.FaultInjector.Attach(s.Link.B, "loss=2%,seed=10,dir=tx");
        var chunk = new byte[16384];
        var buf = new byte[65536];
        Transfer(s, cfd, afd, s.A, s.B, chunk, buf, 8 << 20);
        long moved = 0, windows = 0;
        long allocated = SteadyState.LeastAllocated(() => { windows++; moved += Transfer(s, cfd, afd, s.A, s.B, chunk, buf, 8 << 20); });
        Assert.Equal(windows * (8L << 20), moved);
        Assert.True(s.A.Mib.Tcp[TcpMib.RetransSegs] > 0);
        Assert.Equal(0, allocated);
        AssertTraced(tracing);
    }
}
