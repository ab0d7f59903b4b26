using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using NetStack.Api;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.PeerTests;

/// <summary>
/// What the flood tests share: hping3 (or the raw-socket sender of flood_peer.py) run inside the
/// test namespace for a bounded time and killed by PID, the kernel's TAP counters (how many frames
/// the sender got to the stack), a watch on the managed heap, a 200 MB transfer on an established
/// connection, and an echo listener with legitimate clients.
/// </summary>
public static class FloodKit
{
    /// <summary>Every flood lasts at least this long (issue 10: "each flood for at least 20 s").</summary>
    public static readonly TimeSpan FloodTime = TimeSpan.FromSeconds(20);

    /// <summary>
    /// The stated bound on the managed heap: during a flood its size (GC.GetTotalMemory without a
    /// collection, so garbage not yet collected counts too) stays within this much of its size
    /// before; after the flood and a full collection, within <see cref="HeapRetainedBound"/>.
    /// </summary>
    public const long HeapGrowthBound = 16L << 20;

    /// <summary>
    /// What a flood may leave behind on the heap after a full collection (pooled reassembly queues,
    /// ICMP peers, ...), beyond what the packet buffer pool grew by: the pool keeps the pinned
    /// buffers it once needed (a 200 MB transfer fills a receive window of them), up to its own
    /// bound (<see cref="Core.SkBuffPool.MaxBuffers"/>), and that growth is reported apart.
    /// </summary>
    public const long HeapRetainedBound = 4L << 20;

    public static string PeerScript => Path.Combine(AppContext.BaseDirectory, "scripts", "flood_peer.py");

    /// <summary>hping3's path; fails the test when it is not installed.</summary>
    public static string Hping3()
    {
        string? hping = new[] { "/usr/sbin/hping3", "/usr/bin/hping3", "/sbin/hping3" }.FirstOrDefault(File.Exists);
        Assert.True(hping is not null, "this test floods with hping3 (apt-get install hping3; scripts/test.sh installs it)");
        return hping!;
    }

    /// <summary>The kernel's transmit counters of the namespace's TAP (frames written towards the stack, and dropped at its queue).</summary>
    public static (long Packets, long Dropped) KernelTapTx(TapPeer peer)
    {
        var r = peer.Exec("ip", "-s", "-j", "link", "show", "dev", peer.Tap);
        using var doc = JsonDocument.Parse(r.StdOut);
        var tx = doc.RootElement[0].GetProperty("stats64").GetProperty("tx");
        return (tx.GetProperty("packets").GetInt64(), tx.GetProperty("dropped").GetInt64());
    }

    /// <summary>
    /// Runs <paramref name="flood"/> (a sender inside the namespace) for at least <paramref name="time"/>
    /// while <paramref name="during"/> runs (it gets the elapsed-time stopwatch), then kills it by
    /// PID. Returns what the kernel's TAP counted and the heap's figures. With <paramref name="readyText"/>
    /// the clock starts when the sender prints it (after its own preparation).
    /// </summary>
    public static FloodReport Run(TapPeer peer, TimeSpan time, string[] flood, Action<Stopwatch>? during = null, Action? sample = null, string? readyText = null)
    {
        GC.Collect();
        long poolBefore = PoolBytes(peer);
        long heapBefore = GC.GetTotalMemory(forceFullCollection: true);
        long heapPeak = heapBefore;
        string output;
        double seconds;
        long tx, drop, rx;
        using (var p = new BackgroundProcess("ip", ["netns", "exec", peer.Ns, .. flood], readyText))
        {
            p.WaitReady(TimeSpan.FromSeconds(30));
            var (tx0, drop0) = KernelTapTx(peer);
            long rx0 = peer.Host.Device.Stats.RxPackets;
            var sw = Stopwatch.StartNew();
            using var sampler = new Timer(_ =>
            {
                long h = GC.GetTotalMemory(false);
                long seen;
                while (h > (seen = Interlocked.Read(ref heapPeak)) && Interlocked.CompareExchange(ref heapPeak, h, seen) != seen) { }
                sample?.Invoke();
            }, null, 0, 50);
            try
            {
                during?.Invoke(sw);
                Thread.Sleep(Math.Max(0, (int)(time - sw.Elapsed).TotalMilliseconds));
                Assert.False(p.HasExited, $"the flood ({p.CommandLine}) stopped early:\n{p.Output}");
            }
            finally
            {
                p.Kill(); // by its PID (ip netns exec execs the sender itself)
            }
            output = p.Output;
            seconds = sw.Elapsed.TotalSeconds;
            (tx, drop) = KernelTapTx(peer);
            tx -= tx0;
            drop -= drop0;
            rx = peer.Host.Device.Stats.RxPackets - rx0;
        }
        GC.Collect();
        long heapAfter = GC.GetTotalMemory(forceFullCollection: true);
        return new FloodReport(seconds, tx, drop, rx, heapBefore, Interlocked.Read(ref heapPeak), heapAfter, PoolBytes(peer) - poolBefore, output);
    }

    /// <summary>
    /// Bytes of packet buffers the stack's pools hold (in use or free). Over an offloading TAP the
    /// large pool (64 KiB super-frame buffers, grown on demand up to its bound) counts too: a
    /// transfer during the flood fills it once, and it keeps those buffers for reuse.
    /// </summary>
    public static long PoolBytes(TapPeer peer)
    {
        long bytes = (long)peer.Net.SkbPool.Total * peer.Net.SkbPool.BufferSize;
        if (peer.Host.Device is NetStack.Drivers.TapDevice { Offload: true })
            bytes += (long)peer.Net.LargeSkbPool.Total * peer.Net.LargeSkbPool.BufferSize;
        return bytes;
    }

    /// <summary>Asserts the stated heap bounds.</summary>
    public static void AssertHeapBounded(FloodReport r)
    {
        Assert.True(r.HeapPeak - r.HeapBefore <= HeapGrowthBound,
            $"managed heap grew by {(r.HeapPeak - r.HeapBefore) / 1e6:F1} MB during the flood (bound {HeapGrowthBound >> 20} MiB)");
        Assert.True(r.HeapAfter - r.HeapBefore - r.PoolGrowth <= HeapRetainedBound,
            $"managed heap kept {(r.HeapAfter - r.HeapBefore) / 1e6:F1} MB after the flood, {r.PoolGrowth / 1e6:F1} MB of it packet buffers (bound {HeapRetainedBound >> 20} MiB beyond those)");
    }

    /// <summary>
    /// A 200 MB (by default) transfer from the kernel to the stack on a connection established
    /// before the flood: the kernel side (flood_peer.py bulk-send) connects at construction and
    /// starts sending at <see cref="Go"/>; the stack side reads and hashes all SIZE bytes,
    /// keeps the connection until <see cref="Finish"/> and then sends its hash back over it.
    /// </summary>
    public sealed class BulkTransfer : IDisposable
    {
        private readonly NetSocket _listener;
        private readonly BackgroundProcess _sender;
        private readonly Task<(long Bytes, string Sha256)> _receiver;
        private readonly Stopwatch _sw = new();
        private readonly ManualResetEventSlim _accepted = new();
        private readonly ManualResetEventSlim _release = new();

        public BulkTransfer(TapPeer peer, int port, long size = 200L << 20, int seed = 5)
        {
            Size = size;
            _listener = NetSocket.Tcp(peer.Net);
            _listener.Bind(Ep.Of(peer.StackAddr, port));
            _listener.Listen(8);
            _receiver = Task.Run(() =>
            {
                if ((_listener.Poll(POLLIN, 30_000) & POLLIN) == 0) throw new TimeoutException("the bulk sender did not connect");
                using var c = _listener.Accept();
                _accepted.Set();
                c.ReceiveTimeout = 120_000;
                var buf = new byte[1 << 16];
                using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                long total = 0;
                // Reading to the known size, not to EOF: the connection stays ESTABLISHED throughout.
                for (int n; total < Size && (n = c.Receive(buf)) > 0;)
                {
                    h.AppendData(buf, 0, n);
                    total += n;
                }
                _sw.Stop();
                _done = true;
                string sha = Convert.ToHexStringLower(h.GetHashAndReset());
                // The connection stays open until the test says the flood is over, then carries the
                // stack's hash back: the kernel reading it proves the connection outlived the flood.
                _release.Wait(TimeSpan.FromSeconds(120));
                c.Send(System.Text.Encoding.ASCII.GetBytes(sha));
                return (total, sha);
            });
            _sender = BackgroundProcess.InNamespace(peer.Ns, "connected", "/usr/bin/python3", "-u", PeerScript, "bulk-send",
                peer.StackIp, port.ToString(CultureInfo.InvariantCulture), size.ToString(CultureInfo.InvariantCulture),
                seed.ToString(CultureInfo.InvariantCulture)).WaitReady();
            string line = _sender.Output.Split('\n').First(l => l.StartsWith("connected ", StringComparison.Ordinal));
            KernelPort = int.Parse(line["connected ".Length..], CultureInfo.InvariantCulture);
            Assert.True(_accepted.Wait(TimeSpan.FromSeconds(10)), "the stack did not accept the bulk connection");
        }

        public long Size { get; }
        /// <summary>The kernel's port of the connection (what an RST flood aims at).</summary>
        public int KernelPort { get; }

        /// <summary>Starts the transfer.</summary>
        public void Go()
        {
            _sw.Start();
            _sender.WriteLine("go");
        }

        private volatile bool _done;

        /// <summary>Whether the stack has read everything.</summary>
        public bool Done => _done;

        /// <summary>
        /// Lets the stack answer with its hash and close, waits for both ends, and checks the kernel
        /// got that answer; returns the stack's byte count and hash, the kernel's hash, and the seconds it took.
        /// </summary>
        public (long Received, string StackSha, string KernelSha, double Seconds) Finish(TimeSpan timeout)
        {
            _release.Set();
            Assert.True(_receiver.Wait(timeout), $"the 200 MB transfer did not finish in {timeout.TotalSeconds} s:\n{_sender.Output}");
            Assert.True(_sender.WaitForExit(TimeSpan.FromSeconds(30)), $"the bulk sender did not exit:\n{_sender.Output}");
            var (bytes, sha) = _receiver.Result;
            string last = _sender.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Last();
            using var doc = JsonDocument.Parse(last);
            Assert.Equal(sha, doc.RootElement.GetProperty("reply").GetString());
            return (bytes, sha, doc.RootElement.GetProperty("sha256").GetString()!, _sw.Elapsed.TotalSeconds);
        }

        public void Dispose()
        {
            _sender.Dispose();
            _listener.Dispose();
        }
    }

    /// <summary>A stack listener that echoes one message per connection (the legitimate service under attack).</summary>
    public sealed class EchoListener : IDisposable
    {
        private readonly NetSocket _listener;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _acceptor;
        private int _echoed;

        public EchoListener(TapPeer peer, int port, int backlog)
        {
            _listener = NetSocket.Tcp(peer.Net);
            _listener.Bind(Ep.Of(peer.StackAddr, port));
            _listener.Listen(backlog);
            _acceptor = Task.Run(() =>
            {
                var buf = new byte[64];
                while (!_stop.IsCancellationRequested)
                {
                    if ((_listener.Poll(POLLIN, 100) & POLLIN) == 0) continue;
                    using var c = _listener.Accept();
                    c.ReceiveTimeout = 10_000;
                    try
                    {
                        int n = c.Receive(buf);
                        if (n > 0) c.Send(buf.AsSpan(0, n));
                        Interlocked.Increment(ref _echoed);
                    }
                    catch (NetStackException)
                    {
                        // The client gave up; it reports its failure itself.
                    }
                }
            });
        }

        /// <summary>Connections accepted and answered.</summary>
        public int Echoed => Volatile.Read(ref _echoed);

        public void Dispose()
        {
            _stop.Cancel();
            _acceptor.Wait(TimeSpan.FromSeconds(15));
            _listener.Dispose();
        }
    }

    /// <summary>One legitimate kernel client: connects, sends <paramref name="msg"/>, returns the echo or the failure.</summary>
    public static string EchoClient(TapPeer peer, int port, string msg)
    {
        var r = peer.Exec(TimeSpan.FromSeconds(30), "/usr/bin/python3", PeerScript, "echo", peer.StackIp, port.ToString(CultureInfo.InvariantCulture), msg);
        return r.ExitCode == 0 ? r.StdOut.Trim() : $"failed ({r.ExitCode}): {r.StdErr.Trim()}";
    }

    /// <summary>Legitimate clients, one a second, from 2 s into the flood until 2 s before its end.</summary>
    public static List<(string Sent, string Got)> ClientsDuring(TapPeer peer, int port, Stopwatch sw, TimeSpan time, Action? afterFirst = null)
    {
        var clients = new List<(string, string)>();
        Thread.Sleep(2000);
        for (int i = 0; sw.Elapsed < time - TimeSpan.FromSeconds(2); i++)
        {
            string msg = $"legit-{i}";
            clients.Add((msg, EchoClient(peer, port, msg)));
            if (i == 0) afterFirst?.Invoke();
            Thread.Sleep(1000);
        }
        return clients;
    }
}

/// <summary>What a flood run measured.</summary>
public sealed record FloodReport(double Seconds, long KernelTx, long KernelTxDropped, long StackRx, long HeapBefore, long HeapPeak, long HeapAfter, long PoolGrowth, string SenderOutput)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"flood {Seconds:F1} s: the kernel put {KernelTx} frames on the TAP ({KernelTx / Seconds:F0}/s), dropped {KernelTxDropped} at its queue; " +
        $"the stack's device took {StackRx} ({StackRx / Seconds:F0}/s); managed heap {HeapBefore / 1e6:F1} MB before, " +
        $"peak {HeapPeak / 1e6:F1} MB during (bound +{FloodKit.HeapGrowthBound >> 20} MiB), {HeapAfter / 1e6:F1} MB after a full collection, the packet pool having grown by {PoolGrowth / 1e6:F1} MB (bound +{FloodKit.HeapRetainedBound >> 20} MiB beyond the pool)");
}
