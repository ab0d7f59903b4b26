using NetStack.Api;
using NetStack.Net;
using NetStack.Uapi;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.PeerTests;

/// <summary>
/// The receive and transmit path through a real TAP allocates nothing in steady state: the test
/// thread itself plays the softirq (polls the device and the stack) while the kernel floods it
/// with pings, or sends it a TCP stream, and the thread's allocation counter must not move. Each
/// also runs with the TCP trace points on (issue 9), a reader draining the ring on the same thread.
/// </summary>
public sealed class AllocationTests(ITestOutputHelper output)
{
    private const string KernelGlobal6 = "fd00:78::1", StackGlobal6 = "fd00:78::2";

    [PeerTheory]
    [InlineData(false)]
    [InlineData(true)]
    [InlineData(false, false)]
    public void FloodPingThroughTap_SteadyState_AllocatesNothing(bool tracing, bool transmitRing = true)
    {
        using var peer = new TapPeer(start: false);
        using var trace = tracing ? TcpTrace.Enable(peer.Net) : null;
        // transmitRing: the replies of a poll leave through the TAP's io_uring ring (one io_uring_enter()
        // when the poll ends), or, off, one write() each.
        var tap = (NetStack.Drivers.TapDevice)peer.Host.Device;
        tap.TxRingEnabled = transmitRing;

        // Warm-up: ARP both ways, JIT, pool growth, pcap buffer.
        Assert.True(PingWhilePolling(peer, out _, "-f", "-c", "500").Received >= 500);

        var (reqBefore, repBefore) = KernelEchoCounters(peer);
        var s = PingWhilePolling(peer, out long allocated, "-f", "-c", "5000");
        // With a deadline, ping stops at its 5,000th reply and may have one more request in flight:
        // keep polling until every request the kernel sent has its reply back (a lost one never
        // comes, and the assertion below fails after 10 s).
        long requests = 0, replies = 0;
        for (var until = DateTime.UtcNow.AddSeconds(10); DateTime.UtcNow < until;)
        {
            var (req, rep) = KernelEchoCounters(peer);
            (requests, replies) = (req - reqBefore, rep - repBefore);
            if (replies == requests) break;
            peer.Host.Device.WaitForWork(5);
            peer.Net.Poll();
        }
        output.WriteLine($"{s.Received} echoes answered (the kernel sent {requests} requests and received {replies} replies); {allocated} bytes allocated on the polling thread {LastSplit}; {s.RttLine}; device {tap.Stats}; ring {tap.TxRingFrames} frames, {tap.TxRingSubmits} submissions, {tap.TxRingSingles} by write(), {tap.TxRingRetries} retried, {tap.TxRingFull} full, {tap.TxRingDeferred} deferred, setup failures {tap.TxRingSetupFailures}");
        Assert.True(s.Received >= 5000, $"ping received {s.Received} replies");
        Assert.Equal(requests, replies);
        Assert.Equal(0, allocated);
        // A poll's first reply is written with write() (TxRingSingles); the ones after it go through the ring.
        if (transmitRing) Assert.True(tap.TxRingSetupFailures == 1 || tap.TxRingFrames + tap.TxRingSingles >= 5000, "the replies did not go through the transmit ring");
        else Assert.Equal(0, tap.TxRingFrames);
    }

    /// <summary>The kernel's echo requests sent and echo replies received (Icmp: OutEchos, InEchoReps in the peer's namespace).</summary>
    private static (long Requests, long Replies) KernelEchoCounters(TapPeer peer)
    {
        var r = peer.Exec("nstat", "-asz", "IcmpOutEchos", "IcmpInEchoReps");
        long req = -1, rep = -1;
        foreach (var line in r.StdOut.Split('\n'))
        {
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 2) continue;
            if (f[0] == "IcmpOutEchos") req = long.Parse(f[1], System.Globalization.CultureInfo.InvariantCulture);
            if (f[0] == "IcmpInEchoReps") rep = long.Parse(f[1], System.Globalization.CultureInfo.InvariantCulture);
        }
        return (req, rep);
    }

    [PeerTheory]
    [InlineData(false)]
    [InlineData(true)]
    [InlineData(false, true)]
    [InlineData(false, true, true)]
    public void TcpStreamFromTheKernel_SteadyState_AllocatesNothing(bool tracing, bool offload = false, bool ipv6 = false)
    {
        const long Size = 200L << 20;
        // offload: the kernel hands the stack GSO super-frames (up to 64 KiB, partial checksums) through the vnet header.
        // ipv6: TCP over native IPv6, the super-frames gso_type TCPV6 (TUN_F_TSO6).
        using var peer = new TapPeer(start: false, ipv6: ipv6, configure: o =>
        {
            o.Offload = offload;
            if (ipv6) o.Ipv6Address = System.Net.IPAddress.Parse(StackGlobal6);
        });
        using var trace = tracing ? TcpTrace.Enable(peer.Net, capacity: 4096) : null;
        var records = new TcpTraceRecord[1024];
        var net = peer.Net;
        var dev = peer.Host.Device;
        if (ipv6)
        {
            peer.Exec("ip", "-6", "addr", "add", $"{KernelGlobal6}/64", "dev", peer.Tap, "nodad");
            // The test thread runs the stack's timers: DAD of its addresses ends while it polls.
            Assert.True(TapPeer.WaitUntil(() => { net.Poll(); return peer.WaitIpv6Dad(TimeSpan.Zero); }, TimeSpan.FromSeconds(10)), "the stack's IPv6 addresses stayed tentative");
        }
        int lfd = SocketCalls.Socket(net.Files, ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        // A fixed receive buffer (the connection inherits it) bounds the window, so the frames in
        // flight, and the buffer pool with them, reach their most within the warm-up: autotuning
        // would otherwise grow the window, and the pool, well into the transfer.
        Assert.Equal(0, SocketCalls.Setsockopt(net.Files, lfd, SOL_SOCKET, SO_RCVBUF, 128 << 10));
        Assert.Equal(0, SocketCalls.Bind(net.Files, lfd, ipv6 ? SockAddr.In6(StackGlobal6, 5001) : SockAddr.In(peer.StackAddr, 5001)));
        Assert.Equal(0, SocketCalls.Listen(net.Files, lfd, 4));

        string target = ipv6 ? $"TCP6:[{StackGlobal6}]:5001" : $"TCP4:{peer.StackIp}:5001";
        var send = Task.Run(() => peer.Exec(TimeSpan.FromSeconds(180), "bash", "-c", $"head -c {Size} /dev/zero | socat -u - {target}"));
        var buf = new byte[65536];
        int cfd = -1;
        long got = 0, traced = 0, before = 0, allocated = -1;
        int poolBefore = 0, poolAfter = 0, largeBefore = 0, largeAfter = 0;
        while (true)
        {
            dev.WaitForWork(5);
            net.Poll();
            if (cfd < 0)
            {
                cfd = SocketCalls.Accept4(net.Files, lfd, out _, SOCK_NONBLOCK);
                if (cfd < 0 && send.IsCompleted) break;
                continue;
            }
            int r;
            while ((r = SocketCalls.Recv(net.Files, cfd, buf, 0)) > 0) got += r;
            if (trace is not null)
            {
                int n;
                while ((n = trace.Read(records)) > 0) traced += n;
            }
            // Measured: the middle half of the stream (the first quarter warms up pools, windows and the JIT).
            if (before == 0 && got >= Size / 4)
            {
                // A gen0 collection first closes this thread's allocation context: with one open, a collection
                // run by another thread moves the counter although this thread allocated nothing (NetStack.Tests' SteadyState).
                GC.Collect(0, GCCollectionMode.Forced, blocking: true);
                before = GC.GetAllocatedBytesForCurrentThread();
                poolBefore = net.SkbPool.Total;
                largeBefore = net.LargeSkbPoolIfCreated?.Total ?? 0;
            }
            if (allocated < 0 && got >= Size * 3 / 4)
            {
                allocated = GC.GetAllocatedBytesForCurrentThread() - before;
                poolAfter = net.SkbPool.Total;
                largeAfter = net.LargeSkbPoolIfCreated?.Total ?? 0;
            }
            if (r == 0 || (r < 0 && r != -Errno.EAGAIN)) break; // the kernel's FIN (or an error)
        }
        var sent = send.Result;
        output.WriteLine(sent.ToString());
        output.WriteLine($"{got} bytes received; {allocated} bytes allocated on the polling thread over the middle {Size / 2 >> 20} MB (buffer pool {poolBefore} -> {poolAfter}, large {largeBefore} -> {largeAfter}, free {net.LargeSkbPoolIfCreated?.FreeCount}); {traced} trace records read, {trace?.Dropped ?? 0} dropped");
        output.WriteLine($"device: {dev.Stats}; TcpExt: OFOQueue {peer.Counter("TcpExt.TCPOFOQueue")} RcvQDrop {peer.Counter("TcpExt.TCPRcvQDrop")} PruneCalled {peer.Counter("TcpExt.PruneCalled")} RcvCoalesce {peer.Counter("TcpExt.TCPRcvCoalesce")} ZeroWindowDrop {peer.Counter("TcpExt.TCPZeroWindowDrop")}");
        Assert.Equal(0, sent.ExitCode);
        Assert.Equal(Size, got);
        Assert.Equal(0, allocated);
        if (tracing) Assert.True(traced > 0);
        // With offloads the frames average more than one MTU: super-frames did arrive.
        if (offload) Assert.True(dev.Stats.RxBytes > dev.Stats.RxPackets * 1514L, dev.Stats.ToString());
        if (offload) output.WriteLine($"GSO super-frames received: {((NetStack.Drivers.TapDevice)dev).RxGsoFrames}");
        if (offload) Assert.True(((NetStack.Drivers.TapDevice)dev).RxGsoFrames > 0, "the kernel sent no GSO super-frame");
        SocketCalls.Close(net.Files, cfd);
        SocketCalls.Close(net.Files, lfd);
    }

    /// <summary>
    /// The send path, the stack sending a TCP stream to the kernel (socat counting it): the
    /// polling thread sends and polls, and allocates nothing over the middle half. With offloads
    /// the stack builds TSO super-frames (tcp_sendmsg into the socket's pages, tcp_write_xmit into a
    /// head whose fragments reference them, one writev with a vnet header with gso_size) that the
    /// kernel segments.
    /// </summary>
    [PeerTheory]
    [InlineData(false)]
    [InlineData(true)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void TcpStreamToTheKernel_SteadyState_AllocatesNothing(bool offload, bool transmitRing = false)
    {
        const long Size = 200L << 20;
        // transmitRing: each poll's frames leave through the TAP's io_uring ring (with offloads as
        // IORING_OP_WRITEV of the vnet header, the head and the send pages the fragments reference).
        using var peer = new TapPeer(start: false, configure: o => { o.Offload = offload; o.TransmitRing = transmitRing; });
        var net = peer.Net;
        var dev = peer.Host.Device;
        using var sink = BackgroundProcess.InNamespace(peer.Ns, null, "bash", "-c", "socat -u TCP4-LISTEN:5001,reuseaddr - | wc -c");
        int fd = SocketCalls.Socket(net.Files, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        // A fixed send buffer bounds what is queued, so the pools reach their most in the warm-up.
        Assert.Equal(0, SocketCalls.Setsockopt(net.Files, fd, SOL_SOCKET, SO_SNDBUF, 256 << 10));
        var buf = new byte[65536];
        long sent = 0, before = 0, allocated = -1;
        int r = -Errno.ECONNREFUSED;
        // socat may not listen yet: retry the connection until it does (bounded).
        for (int attempt = 0; attempt < 200 && r < 0; attempt++)
        {
            if (attempt > 0)
            {
                SocketCalls.Close(net.Files, fd);
                fd = SocketCalls.Socket(net.Files, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
                Assert.Equal(0, SocketCalls.Setsockopt(net.Files, fd, SOL_SOCKET, SO_SNDBUF, 256 << 10));
                Thread.Sleep(20);
            }
            r = SocketCalls.Connect(net.Files, fd, SockAddr.In(peer.KernelAddr, 5001));
            while (r == -Errno.EINPROGRESS || r == -Errno.EALREADY)
            {
                dev.WaitForWork(5);
                net.Poll();
                r = SocketCalls.Connect(net.Files, fd, SockAddr.In(peer.KernelAddr, 5001));
                if (r == -Errno.EISCONN) r = 0;
            }
        }
        Assert.Equal(0, r);
        while (sent < Size)
        {
            int n;
            while (sent < Size && (n = SocketCalls.Send(net.Files, fd, buf.AsSpan(0, (int)Math.Min(buf.Length, Size - sent)), 0)) > 0) sent += n;
            dev.WaitForWork(1);
            net.Poll();
            if (before == 0 && sent >= Size / 4)
            {
                GC.Collect(0, GCCollectionMode.Forced, blocking: true); // as above
                before = GC.GetAllocatedBytesForCurrentThread();
            }
            if (allocated < 0 && sent >= Size * 3 / 4) allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        }
        Assert.Equal(0, SocketCalls.Shutdown(net.Files, fd, SHUT_WR));
        // Until socat has it all (its count printed on exit).
        for (int i = 0; i < 20000 && !sink.WaitForExit(TimeSpan.Zero); i++)
        {
            dev.WaitForWork(5);
            net.Poll();
        }
        long tso = dev is NetStack.Drivers.TapDevice tap ? tap.TxGsoFrames : 0;
        output.WriteLine($"{sent} bytes sent; kernel counted {sink.Output.Trim()}; {allocated} bytes allocated on the polling thread over the middle {Size / 2 >> 20} MB; TSO frames {tso}; device {dev.Stats}");
        Assert.Equal(Size.ToString(System.Globalization.CultureInfo.InvariantCulture), sink.Output.Trim());
        Assert.Equal(0, allocated);
        if (offload) Assert.True(tso > 0, "no TSO super-frame was sent");
        if (dev is NetStack.Drivers.TapDevice t)
        {
            output.WriteLine($"transmit ring: {t.TxRingFrames} frames in {t.TxRingSubmits} submissions, {t.TxRingSingles} by write(), {t.TxRingDeferred} deferred; setup failures {t.TxRingSetupFailures}");
            if (!transmitRing) Assert.Equal(0, t.TxRingFrames);
            else Assert.True(t.TxRingSetupFailures == 1 || t.TxRingFrames > 2 * t.TxRingSubmits, "the transmit ring did not batch");
        }
        SocketCalls.Close(net.Files, fd);
    }

    /// <summary>Runs ping on another thread while this thread polls the stack; returns the bytes this thread allocated meanwhile.</summary>
    /// <summary>Where the last <see cref="PingWhilePolling"/> allocated: in the device's wait or in the stack's poll.</summary>
    private static string LastSplit = "";

    private static PingSummary PingWhilePolling(TapPeer peer, out long allocated, params string[] pingArgs)
    {
        var dev = peer.Host.Device;
        var net = peer.Net;
        // -w (a deadline) rather than -W: with a count and no deadline, iputils' ping stops waiting 2 x
        // the largest RTT it has seen after its last request (schedule_exit()), well under a
        // millisecond in a flood: a last reply that the polling thread answers a little later (it was
        // descheduled on a loaded machine) would be counted lost though it arrives. With a deadline
        // ping waits for every reply (up to 60 s); the test then checks the kernel's own counts, so a
        // reply that never comes still fails it.
        var ping = Task.Run(() => peer.Ping([.. pingArgs, "-w", "60"]));
        GC.Collect(0, GCCollectionMode.Forced, blocking: true); // as above
        long before = GC.GetAllocatedBytesForCurrentThread();
        long inWait = 0, inPoll = 0;
        while (!ping.IsCompleted)
        {
            long a = GC.GetAllocatedBytesForCurrentThread();
            dev.WaitForWork(5);
            long b = GC.GetAllocatedBytesForCurrentThread();
            net.Poll();
            long c = GC.GetAllocatedBytesForCurrentThread();
            inWait += b - a;
            inPoll += c - b;
        }
        allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        LastSplit = $"(WaitForWork {inWait}, Poll {inPoll})";
        return ping.Result;
    }
}
