using System.Security.Cryptography;
using NetStack.Api;

namespace NetStack.Services.Iperf3;

/// <summary>
/// The data streams' loops (iperf_tcp_send/recv, iperf_udp_send/recv, iperf_check_throttle), one
/// async task per stream over the stack's <see cref="NetSocket"/>. Bytes are counted only while the
/// test runs (<see cref="Iperf3Run.Counting"/>), as iperf3 counts only in TEST_RUNNING.
/// </summary>
internal static class Iperf3Io
{
    /// <summary>A stream's buffer: random bytes, or with --repeating-payload "0123456789" over and over.</summary>
    public static byte[] NewBuffer(int size, bool repeating)
    {
        var b = GC.AllocateUninitializedArray<byte>(Math.Max(size, 1));
        if (repeating)
            for (int i = 0; i < b.Length; i++) b[i] = (byte)('0' + i % 10);
        else RandomNumberGenerator.Fill(b);
        return b;
    }

    /// <summary>
    /// Starts a sender or receiver loop for every stream; <paramref name="senders"/> and
    /// <paramref name="receivers"/> stop them (a client stops sending at the end but drains what
    /// the server still sends). A loop's failure ends <paramref name="run"/>'s test.
    /// </summary>
    public static Task[] Start(Iperf3Run run, CancellationToken senders, CancellationToken receivers)
    {
        var tasks = new Task[run.Test.Streams.Count];
        for (int i = 0; i < tasks.Length; i++)
        {
            var sp = run.Test.Streams[i];
            tasks[i] = Task.Run(() => sp.Sender ? SendAsync(run, sp, senders) : ReceiveAsync(run, sp, receivers), CancellationToken.None);
        }
        return tasks;
    }

    private static async Task SendAsync(Iperf3Run run, Iperf3Stream sp, CancellationToken ct)
    {
        var t = run.Test;
        var s = t.Settings;
        bool udp = s.Protocol == Iperf3Transport.Udp;
        int size = s.Length;
        var buffer = NewBuffer(size, s.RepeatingPayload);
        int burst = s.Burst != 0 ? s.Burst : 1;
        long ops = 0;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                if (s.Rate != 0) await ThrottleAsync(sp, s.Rate, ct).ConfigureAwait(false);
                for (int i = 0; i < burst && !ct.IsCancellationRequested; i++)
                {
                    if (run.SendLimitReached) return;
                    int n;
                    if (udp)
                    {
                        long seq;
                        lock (sp.Gate) seq = sp.Udp.PacketCount + 1;
                        Iperf3UdpHeader.At(Iperf3Clock.ToSeconds(Iperf3Clock.Now), (ulong)seq).Write(buffer, s.UdpCounters64Bit);
                        n = await sp.Socket.SendAsync(buffer.AsMemory(0, size), ct).ConfigureAwait(false);
                        lock (sp.Gate) sp.Udp.PacketCount = seq;
                    }
                    else n = await sp.Socket.SendAsync(buffer.AsMemory(0, size), ct).ConfigureAwait(false);
                    lock (sp.Gate)
                    {
                        sp.BytesSent += n;
                        sp.BytesSentThisInterval += n;
                    }
                    run.AddSent(n);
                    // Calls that complete at once never give the thread back: let the timers and the
                    // control connection's continuations run now and then.
                    if ((++ops & 7) == 0) await Task.Yield();
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
        catch (NetStackException e) when (ct.IsCancellationRequested || run.Test.Done)
        {
            _ = e; // the test is over; the peer closing a stream now is expected
        }
        catch (NetStackException e)
        {
            // Also ECONNREFUSED on UDP (an ICMP port unreachable came back): iperf3 fails the stream too.
            run.Fail(Iperf3StrError.For(Iperf3Error.StreamWrite, e));
        }
        catch (ObjectDisposedException) when (ct.IsCancellationRequested || run.Test.Done) { }
    }

    /// <summary>
    /// iperf_check_throttle: a stream sends only while its average rate since the start is below
    /// the target; otherwise it waits until it would be (iperf3 polls every pacing_timer
    /// microseconds; this waits exactly as long as needed, which the timer rounds to a millisecond).
    /// </summary>
    private static async ValueTask ThrottleAsync(Iperf3Stream sp, long rate, CancellationToken ct)
    {
        long sent, start;
        lock (sp.Gate)
        {
            sent = sp.BytesSent;
            start = sp.StartTimeFixed;
        }
        double due = sent * 8.0 / rate, elapsed = Iperf3Clock.Seconds(start, Iperf3Clock.Now);
        if (due > elapsed) await Task.Delay(TimeSpan.FromSeconds(due - elapsed), ct).ConfigureAwait(false);
    }

    private static async Task ReceiveAsync(Iperf3Run run, Iperf3Stream sp, CancellationToken ct)
    {
        var t = run.Test;
        bool udp = t.Settings.Protocol == Iperf3Transport.Udp, counters64 = t.Settings.UdpCounters64Bit;
        var buffer = new byte[udp ? 65536 : Math.Max(t.Settings.Length, 1)];
        long ops = 0;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                int n = await sp.Socket.ReceiveAsync(buffer, ct).ConfigureAwait(false);
                if (n == 0 && !udp) return; // the sender closed the stream
                if ((++ops & 7) == 0) await Task.Yield();
                if (!run.Counting) continue;
                long arrival = Iperf3Clock.Now;
                lock (sp.Gate)
                {
                    sp.BytesReceived += n;
                    sp.BytesReceivedThisInterval += n;
                    if (udp && Iperf3UdpHeader.TryRead(buffer.AsSpan(0, n), counters64, out var h))
                        sp.Udp.Add((long)h.Sequence, Iperf3Clock.ToSeconds(arrival) - h.Time);
                }
                run.AddReceived(n);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
        catch (NetStackException) when (ct.IsCancellationRequested || !run.Counting) { }
        catch (NetStackException e) when (udp && e.Errno is Errno.ECONNREFUSED) { } // ICMP from a stale datagram: keep going
        catch (NetStackException e)
        {
            run.Fail(Iperf3StrError.For(Iperf3Error.StreamRead, e));
        }
        catch (ObjectDisposedException) when (ct.IsCancellationRequested || !run.Counting) { }
    }
}

/// <summary>
/// What the I/O loops of one running test share with the side driving it: whether bytes count,
/// the totals for -n/-k, and the first failure.
/// </summary>
internal sealed class Iperf3Run(Iperf3Test test)
{
    private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _counting;
    private long _sent, _received, _blocksSent, _blocksReceived;

    public Iperf3Test Test { get; } = test;

    /// <summary>Bytes count while the test is in TEST_RUNNING.</summary>
    public bool Counting
    {
        get => _counting;
        set => _counting = value;
    }

    /// <summary>Completes when an I/O loop fails or an -n/-k end condition is met.</summary>
    public Task Ended => _ended.Task;

    public Exception? Failure { get; private set; }

    public void Fail(Exception e)
    {
        lock (_ended)
        {
            Failure ??= e;
        }
        _ended.TrySetResult();
    }

    /// <summary>-n or -k reached on the sending side (the client stops its senders).</summary>
    public bool SendLimitReached
    {
        get
        {
            var s = Test.Settings;
            return Test.Role == 'c' && ((s.Bytes != 0 && Interlocked.Read(ref _sent) >= s.Bytes) || (s.Blocks != 0 && Interlocked.Read(ref _blocksSent) >= s.Blocks));
        }
    }

    public void AddSent(int n)
    {
        Interlocked.Add(ref _sent, n);
        Interlocked.Increment(ref _blocksSent);
        CheckEnd();
    }

    public void AddReceived(int n)
    {
        Interlocked.Add(ref _received, n);
        Interlocked.Increment(ref _blocksReceived);
        CheckEnd();
    }

    private void CheckEnd()
    {
        var s = Test.Settings;
        if (Test.Role != 'c' || (s.Bytes == 0 && s.Blocks == 0)) return;
        if ((s.Bytes != 0 && (Interlocked.Read(ref _sent) >= s.Bytes || Interlocked.Read(ref _received) >= s.Bytes)) ||
            (s.Blocks != 0 && (Interlocked.Read(ref _blocksSent) >= s.Blocks || Interlocked.Read(ref _blocksReceived) >= s.Blocks)))
            _ended.TrySetResult();
    }

    public long Sent => Interlocked.Read(ref _sent);
    public long Received => Interlocked.Read(ref _received);
}
