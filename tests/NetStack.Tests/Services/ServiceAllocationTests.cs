using NetStack.Api;
using NetStack.Core;
using NetStack.Drivers;
using NetStack.Ipv4;
using NetStack.Services;
using Xunit.Abstractions;

namespace NetStack.Tests.Services;

/// <summary>
/// Tests that measure what the whole process allocates (the services run on pool threads and the
/// stacks on their own threads), so nothing else may run beside them.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessAllocationCollection
{
    public const string Name = "process-wide allocation";
}

/// <summary>
/// What `netstack up`'s services allocate while they serve, measured over all threads (issue 13):
/// the bench saw managed bytes per packet on the stack's bulk receive through the discard service.
/// Two stacks run in real time over a MemoryLink, the service on B, a client on A.
/// </summary>
[Collection(ProcessAllocationCollection.Name)]
public sealed class ServiceAllocationTests : IDisposable
{
    private readonly MemoryLink _link = new(TwoStacks.MacA, TwoStacks.MacB);
    // The buffer pools are preallocated beyond what the transfer keeps in flight (send and receive
    // queues at their autotuned limits): a pool grows when it is empty, to a high-water mark, like a
    // slab cache; that one-time growth is what `netstack up` showed as bytes per packet on its first
    // bulk runs. What is measured here is garbage: what every packet or connection leaves behind.
    private readonly NetNamespace _a = new("a", pool: new SkBuffPool(prealloc: PoolSize));
    private readonly NetNamespace _b = new("b", pool: new SkBuffPool(prealloc: PoolSize));
    private const int PoolSize = 6144;

    public ServiceAllocationTests(ITestOutputHelper output)
    {
        _output = output;
        _a.AddDevice(_link.A, TwoStacks.AddrA, 24);
        _b.AddDevice(_link.B, TwoStacks.AddrB, 24);
        _a.Start();
        _b.Start();
    }

    private readonly ITestOutputHelper _output;

    public void Dispose()
    {
        _a.Dispose();
        _b.Dispose();
    }

    /// <summary>
    /// The fewest bytes the whole process allocated in any of up to three runs of <paramref name="round"/>
    /// (stops at the first zero): a tiered-JIT promotion on another thread may allocate in one window, never in all.
    /// </summary>
    private long LeastAllocatedByProcess(Func<long> round, string what)
    {
        long best = long.MaxValue;
        for (int attempt = 0; attempt < 3 && best != 0; attempt++)
        {
            long before = GC.GetTotalAllocatedBytes(precise: true);
            long units = round();
            long bytes = GC.GetTotalAllocatedBytes(precise: true) - before;
            _output.WriteLine($"window {attempt + 1}: {bytes} bytes for {units} {what} ({(double)bytes / Math.Max(1, units):F2} per one); skb pools {_a.SkbPool.Total}, {_b.SkbPool.Total}");
            best = Math.Min(best, bytes);
        }
        return best;
    }

    /// <summary>Waits (without allocating) until the service has read <paramref name="bytes"/> in all.</summary>
    private static bool WaitBytesIn(Service svc, long bytes)
    {
        long end = Environment.TickCount64 + 30_000;
        while (Interlocked.Read(ref svc.BytesIn) < bytes)
        {
            if (Environment.TickCount64 > end) return false;
            Thread.Sleep(1);
        }
        return true;
    }

    private static void SendAll(NetSocket s, byte[] chunk, long bytes)
    {
        for (long sent = 0; sent < bytes;) sent += s.Send(chunk.AsSpan(0, (int)Math.Min(chunk.Length, bytes - sent)));
    }

    [Fact]
    public void DiscardService_BulkReceive_AllocatesNothingPerPacket()
    {
        using var host = ServiceHost.Start(_b, "discard");
        var discard = host.Find("discard")!;
        using var c = NetSocket.Tcp(_a);
        c.Connect(Ep.Of(TwoStacks.AddrB, DiscardTcpService.DefaultPort));
        var chunk = new byte[16384];
        // Warm up: pools, receive-buffer autotuning, JIT.
        SendAll(c, chunk, 16 << 20);
        Assert.True(WaitBytesIn(discard, 16 << 20));
        long total = 16 << 20;
        long packets0 = _b.Mib.Ip[IpMib.InReceives];
        long windowPackets = 0;
        long allocated = LeastAllocatedByProcess(() =>
        {
            long p0 = _b.Mib.Ip[IpMib.InReceives];
            SendAll(c, chunk, 16 << 20);
            total += 16 << 20;
            if (!WaitBytesIn(discard, total)) throw new TimeoutException("discard fell behind");
            return windowPackets = _b.Mib.Ip[IpMib.InReceives] - p0;
        }, "packets received");
        Assert.True(_b.Mib.Ip[IpMib.InReceives] - packets0 > 10_000);
        Assert.Equal(PoolSize, _b.SkbPool.Total); // the pool did not grow: the measure is garbage only
        // Nothing per packet. A few hundred bytes per window of some 11,600 packets remain, not
        // from the stack's per-packet path (the single-threaded TcpZeroAllocTests see zero) but from
        // the threads the async receive loop hops between; a quarter of a byte per packet bounds it
        // (the service's old per-connection buffer, or any per-packet object, is far above).
        Assert.InRange(allocated, 0, windowPackets / 4);
    }

    /// <summary>Reads and drops exactly <paramref name="bytes"/> from <paramref name="s"/> into a reused buffer.</summary>
    private static void ReceiveExactly(NetSocket s, byte[] buf, long bytes)
    {
        for (long got = 0; got < bytes;)
        {
            int n = s.Receive(buf.AsSpan(0, (int)Math.Min(buf.Length, bytes - got)));
            if (n <= 0) throw new InvalidOperationException("chargen closed");
            got += n;
        }
    }

    [Fact]
    public void ChargenService_BulkSend_AllocatesNothingPerPacket()
    {
        // The send side of the same measure: chargen's loop of large SendAsync calls, each waiting on
        // the socket's write waiter when the send buffer is full.
        using var host = ServiceHost.Start(_b, "chargen");
        using var c = NetSocket.Tcp(_a);
        c.Connect(Ep.Of(TwoStacks.AddrB, ChargenTcpService.DefaultPort));
        var buf = new byte[65536];
        ReceiveExactly(c, buf, 16 << 20); // warm up: pools, send-buffer autotuning, JIT
        long packets0 = _b.Mib.Ip[IpMib.OutRequests];
        long windowPackets = 0;
        long allocated = LeastAllocatedByProcess(() =>
        {
            long p0 = _b.Mib.Ip[IpMib.OutRequests];
            ReceiveExactly(c, buf, 16 << 20);
            return windowPackets = _b.Mib.Ip[IpMib.OutRequests] - p0;
        }, "packets sent");
        Assert.True(_b.Mib.Ip[IpMib.OutRequests] - packets0 > 10_000);
        Assert.Equal(PoolSize, _b.SkbPool.Total); // the pool did not grow: the measure is garbage only
        Assert.InRange(allocated, 0, windowPackets / 4);
    }

    /// <summary>
    /// Connections to the discard service, one after another, each carrying 64 KB: what each leaves
    /// behind on both stacks and in the service. The service used to allocate its 64 KB read buffer
    /// per connection (now rented from the shared array pool). The stack's own objects of a
    /// connection now come from its caches (TcpConnectionAllocTests: 0 bytes); what remains is the
    /// NetSockets, and the service's task, idle timer and linked cancellation source (1.3-2.3 KB
    /// per connection measured on 7 December 2026, after the socks were pooled); the bound is
    /// that, with room for the pool threads' own bookkeeping.
    /// </summary>
    [Fact]
    public void DiscardService_PerConnection_AllocatesNoReadBuffer()
    {
        using var host = ServiceHost.Start(_b, "discard");
        var discard = host.Find("discard")!;
        var chunk = new byte[65536];
        long total = 0;
        long Connections(int n)
        {
            for (int i = 0; i < n; i++)
            {
                using (var c = NetSocket.Tcp(_a))
                {
                    c.Connect(Ep.Of(TwoStacks.AddrB, DiscardTcpService.DefaultPort));
                    SendAll(c, chunk, chunk.Length);
                }
                total += chunk.Length;
                if (!WaitBytesIn(discard, total)) throw new TimeoutException("discard fell behind");
            }
            return n;
        }
        Connections(100); // warm up
        long allocated = LeastAllocatedByProcess(() => Connections(100), "connections");
        Assert.InRange(allocated, 0, 100 * PerConnectionBound);
    }

    /// <summary>Bytes per connection served, both stacks and the service (measured at 5.2 KB; 70 KB with the read buffer allocated per connection).</summary>
    private const long PerConnectionBound = 8 * 1024;
}
