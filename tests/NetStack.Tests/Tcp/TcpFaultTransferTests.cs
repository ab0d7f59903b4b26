using System.Security.Cryptography;
using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Drivers;
using NetStack.Net;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Tcp;

/// <summary>
/// Bulk transfers in both directions at once between two stacks over an impaired MemoryLink
/// (loss, duplication, reordering, corruption from the seeded fault injector on each side's
/// transmit path), driven on one thread with virtual time. Every byte must arrive intact.
/// </summary>
public class TcpFaultTransferTests
{
    public const string Faults = "loss=3%,dup=1%,reorder=3%,corrupt=1%";

    /// <summary>The result of one run: bytes, virtual time, counters.</summary>
    public readonly record struct TransferResult(bool AtoB, bool BtoA, long VirtualMs, long RetransA, long RetransB, long Dropped, bool Clean = true);

    /// <summary>Sends <paramref name="size"/> bytes A-&gt;B and B-&gt;A concurrently; returns whether both arrived byte-identical.</summary>
    public static TransferResult Run(int seed, int size, string faults = Faults, long maxVirtualMs = 3_600_000, Action<TwoStacks>? onDone = null, bool tso = false)
    {
        using var s = new TwoStacks();
        if (tso)
        {
            s.Link.A.EnableTso();
            s.Link.B.EnableTso();
        }
        var fa = faults.Length == 0 ? null : FaultInjector.Attach(s.Link.A, $"{faults},seed={seed},dir=tx");
        var fb = faults.Length == 0 ? null : FaultInjector.Attach(s.Link.B, $"{faults},seed={seed + 1_000_000},dir=tx");
        var (lfd, cfd, afd) = TcpTwoStackTests.ConnectRobust(s);
        var dataA = new byte[size];
        var dataB = new byte[size];
        new Random(seed).NextBytes(dataA);
        new Random(~seed).NextBytes(dataB);
        var hashA = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var hashB = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        int sentA = 0, sentB = 0, gotA = 0, gotB = 0;
        bool shutA = false, shutB = false, eofA = false, eofB = false;
        var buf = new byte[65536];
        long start = s.Clock.NowNs;
        while (!(eofA && eofB))
        {
            if (s.Clock.NowNs - start > maxVirtualMs * Time.NsPerMs) break;
            bool progress = false;
            progress |= Pour(s.A, cfd, dataA, ref sentA, ref shutA);
            progress |= Pour(s.B, afd, dataB, ref sentB, ref shutB);
            progress |= s.Pump() > 0;
            progress |= Drain(s.B, afd, buf, hashA, ref gotA, ref eofB);
            progress |= Drain(s.A, cfd, buf, hashB, ref gotB, ref eofA);
            if (!progress)
            {
                long next;
                lock (s.A.SyncRoot) lock (s.B.SyncRoot) next = Math.Min(s.A.Timers.NextExpiry, s.B.Timers.NextExpiry);
                if (next == long.MaxValue) break; // nothing can happen any more
                if (next > s.Clock.NowNs) s.Clock.Set(next);
                s.Pump();
            }
        }
        bool aToB = gotA == size && hashA.GetHashAndReset().AsSpan().SequenceEqual(SHA256.HashData(dataA));
        bool bToA = gotB == size && hashB.GetHashAndReset().AsSpan().SequenceEqual(SHA256.HashData(dataB));
        long vms = (s.Clock.NowNs - start) / Time.NsPerMs;
        onDone?.Invoke(s);
        SocketCalls.Close(s.A.Files, cfd);
        SocketCalls.Close(s.B.Files, afd);
        SocketCalls.Close(s.B.Files, lfd);
        // Let FIN retransmissions and TIME_WAIT run out: then nothing may be left behind.
        s.RunFor(300_000);
        bool clean = true;
        foreach (var net in new[] { s.A, s.B })
            lock (net.SyncRoot)
                clean &= net.Ipv4.TcpHashinfo.Ehash.Count == 0 && net.Ipv4.TcpHashinfo.Bhash.Count == 0 && net.Ipv4.TcpOrphanCount == 0 &&
                         net.SkbPool.FreeCount == net.SkbPool.Total &&
                         // the TSO path's buffers: super-frame heads, send-queue heads, the sockets' pages
                         net.SkbHeadPool.FreeCount == net.SkbHeadPool.Total && net.SkbFragPool.FreeCount == net.SkbFragPool.Total &&
                         net.SkPagePool.FreeCount == net.SkPagePool.Total;
        return new TransferResult(aToB, bToA, vms, s.A.Mib.Tcp[TcpMib.RetransSegs], s.B.Mib.Tcp[TcpMib.RetransSegs], (fa?.Dropped ?? 0) + (fb?.Dropped ?? 0), clean);
    }


    private static bool Pour(NetNamespace net, int fd, byte[] data, ref int sent, ref bool shut)
    {
        bool progress = false;
        while (sent < data.Length)
        {
            int n = SocketCalls.Send(net.Files, fd, data.AsSpan(sent, Math.Min(65536, data.Length - sent)), 0);
            if (n <= 0)
            {
                Assert.Equal(-Errno.EAGAIN, n);
                break;
            }
            sent += n;
            progress = true;
        }
        if (sent == data.Length && !shut)
        {
            Assert.Equal(0, SocketCalls.Shutdown(net.Files, fd, SHUT_WR));
            shut = true;
            progress = true;
        }
        return progress;
    }

    private static bool Drain(NetNamespace net, int fd, byte[] buf, IncrementalHash hash, ref int got, ref bool eof)
    {
        bool progress = false;
        while (!eof)
        {
            int n = SocketCalls.Recv(net.Files, fd, buf, 0);
            if (n == -Errno.EAGAIN) break;
            Assert.True(n >= 0, $"recv: {Errno.Name(n)}");
            if (n == 0) eof = true;
            else
            {
                hash.AppendData(buf, 0, n);
                got += n;
            }
            progress = true;
        }
        return progress;
    }

    [Fact]
    public void OneSeed_1MB_BothWays()
    {
        var r = Run(1, 1 << 20);
        Assert.True(r.AtoB && r.BtoA && r.Clean, r.ToString());
        Assert.True(r.Dropped > 0 && r.RetransA > 0 && r.RetransB > 0, "the link must actually be impaired: " + r);
    }

    /// <summary>
    /// Both ends offer TSO and scatter-gather (the link segments in software, as a veth would):
    /// TCP copies into its sockets' pages and sends super-frames whose fragments reference the send
    /// queue. A clean link hands the fragments to the driver as they are; an impaired one gets linear
    /// copies (the fault injector owns its frames) and loss recovery retransmits per MSS from the
    /// pages. Every byte arrives, and every page, head and buffer is back in its pool at the end
    /// (a reference held too long or dropped twice would show here).
    /// </summary>
    [Theory]
    [InlineData("")]
    [InlineData(Faults)]
    public void Tso_SuperFramesOverThePages_BothWaysIntact_EveryBufferReturned(string faults)
    {
        long gsoFrames = 0, pages = 0;
        var r = Run(7, 4 << 20, faults, tso: true, onDone: s =>
        {
            gsoFrames = s.Link.A.TxGsoFrames + s.Link.B.TxGsoFrames;
            pages = s.A.SkPagePool.Total;
        });
        Assert.True(r.AtoB && r.BtoA && r.Clean, r.ToString());
        Assert.True(gsoFrames > 0, "no super-frame was sent");
        Assert.True(pages > 0, "no socket page was used");
        if (faults.Length != 0) Assert.True(r.Dropped > 0 && r.RetransA > 0 && r.RetransB > 0, "the link must actually be impaired: " + r);
    }

    /// <summary>
    /// The acceptance test of the TCP issue: 10 MB each way, at the same time, byte-identical, for
    /// 50 seeds of loss + duplication + reordering + corruption. Seeds run in parallel (each is
    /// its own pair of stacks with its own virtual clock).
    /// </summary>
    [Fact]
    public void FiftySeeds_10MB_BothWays_ByteIdentical()
    {
        const int seeds = 50;
        var results = new TransferResult[seeds];
        Parallel.For(0, seeds, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount },
            i => results[i] = Run(1000 + i, 10 << 20));
        var bad = new List<string>();
        for (int i = 0; i < seeds; i++)
            if (!results[i].AtoB || !results[i].BtoA || !results[i].Clean) bad.Add($"seed {1000 + i}: {results[i]}");
        Assert.True(bad.Count == 0, string.Join("\n", bad));
        Assert.All(results, r => Assert.True(r.Dropped > 0 && r.RetransA > 0 && r.RetransB > 0));
    }
}
