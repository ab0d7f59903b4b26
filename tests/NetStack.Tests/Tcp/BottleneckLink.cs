using System.Buffers.Binary;
using NetStack.Core;
using NetStack.Ethernet;
using NetStack.Ipv4;
using NetStack.Net;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Tcp;

/// <summary>
/// One direction of a modelled link, for congestion-control tests in virtual time: a FIFO queue
/// (drop-tail, in packets) drained at <see cref="RateBps"/> by the bottleneck, then a constant
/// propagation delay. With <see cref="CeThreshold"/> set, an ECT packet that arrives to at least
/// that many queued packets is marked CE (DCTCP's step marking on the instantaneous queue).
/// Preallocated slots: carrying a frame allocates nothing. (The full simulator lives elsewhere;
/// this is the smallest model the tests need.)
/// </summary>
public sealed class LinkPipe
{
    private readonly IClock _clock;
    private readonly byte[][] _slots;
    private readonly int[] _len;
    private readonly long[] _depart, _arrive;
    private int _head, _count;
    private long _lastDepart;

    /// <summary>Bottleneck rate in bits per second (0: infinite).</summary>
    public long RateBps;
    /// <summary>One-way propagation delay (ns).</summary>
    public long DelayNs;
    /// <summary>Queue limit in packets (those waiting or being serialized).</summary>
    public int Limit;
    /// <summary>Mark ECT packets CE when the queue holds at least this many packets (0: never).</summary>
    public int CeThreshold;

    public long Drops, Marked, Enqueued, QueueSum, QueueMax;
    /// <summary>Queue samples (the backlog each arriving packet found) after <see cref="SampleFromNs"/>.</summary>
    public long SampledSum, SampledCount, SampledMax;
    public long SampleFromNs = long.MaxValue;
    /// <summary>Marks and packets offered after <see cref="SampleFromNs"/>.</summary>
    public long SampledMarked, SampledEnqueued;
    /// <summary>Drops a frame when this returns true for its index (0-based, every frame offered counts).</summary>
    public FramePredicate? DropWhen;

    public delegate bool FramePredicate(long index, ReadOnlySpan<byte> frame);
    /// <summary>Marks an ECT frame CE when this returns true for its index (0-based, every frame offered counts).</summary>
    public Func<long, bool>? CeWhen;
    /// <summary>Called for each frame offered to the link, before it is queued (a tap for tests).</summary>
    public FrameTap? OnFrame;

    public delegate void FrameTap(long nowNs, ReadOnlySpan<byte> frame);

    public LinkPipe(IClock clock, int slots = 8192)
    {
        _clock = clock;
        _slots = new byte[slots][];
        for (int i = 0; i < slots; i++) _slots[i] = new byte[1600];
        _len = new int[slots];
        _depart = new long[slots];
        _arrive = new long[slots];
    }

    /// <summary>Packets waiting at the bottleneck now (including the one being serialized).</summary>
    public int Backlog(long now)
    {
        int n = 0;
        for (int i = _count - 1; i >= 0; i--)
        {
            int idx = (_head + i) % _slots.Length;
            if (_depart[idx] <= now) break;
            n++;
        }
        return n;
    }

    /// <summary>When the next frame reaches the far end (long.MaxValue: none in flight).</summary>
    public long NextArrival => _count == 0 ? long.MaxValue : _arrive[_head];

    public void Send(ReadOnlySpan<byte> frame)
    {
        long now = _clock.NowNs;
        OnFrame?.Invoke(now, frame);
        int backlog = Backlog(now);
        Enqueued++;
        QueueSum += backlog;
        QueueMax = Math.Max(QueueMax, backlog);
        if (now >= SampleFromNs)
        {
            SampledEnqueued++;
            SampledSum += backlog;
            SampledCount++;
            SampledMax = Math.Max(SampledMax, backlog);
        }
        if ((Limit > 0 && backlog >= Limit) || (DropWhen is not null && DropWhen(Enqueued - 1, frame)) || _count == _slots.Length || frame.Length > _slots[0].Length)
        {
            Drops++;
            return;
        }
        int tail = (_head + _count) % _slots.Length;
        var slot = _slots[tail];
        frame.CopyTo(slot);
        _len[tail] = frame.Length;
        if ((CeThreshold > 0 && backlog >= CeThreshold) || (CeWhen is not null && CeWhen(Enqueued - 1)))
            if (MarkCe(slot.AsSpan(0, frame.Length)) && now >= SampleFromNs) SampledMarked++;
        long start = Math.Max(now, _lastDepart);
        long ser = RateBps > 0 ? frame.Length * 8L * 1_000_000_000L / RateBps : 0;
        _depart[tail] = start + ser;
        _lastDepart = _depart[tail];
        _arrive[tail] = _depart[tail] + DelayNs;
        _count++;
    }

    private bool MarkCe(Span<byte> frame)
    {
        if (frame.Length < 34 || BinaryPrimitives.ReadUInt16BigEndian(frame[12..]) != 0x0800) return false;
        var ip = frame[14..];
        if ((ip[1] & 3) == 0) return false; // Not-ECT: not marked (the queue limit still applies)
        Marked++;
        ip[1] |= 3;
        var h = Ipv4Header.Create(ip);
        h.FillChecksum();
        return true;
    }

    /// <summary>The ECN field and TCP flags of a frame (-1 when it is not TCP over IPv4), and its TCP payload length.</summary>
    public static (int Ecn, int Flags, int Payload, uint Seq) Inspect(ReadOnlySpan<byte> frame)
    {
        if (frame.Length < 54 || BinaryPrimitives.ReadUInt16BigEndian(frame[12..]) != 0x0800 || frame[23] != 6) return (-1, -1, 0, 0);
        int ihl = (frame[14] & 0xf) * 4;
        int totLen = BinaryPrimitives.ReadUInt16BigEndian(frame[16..]);
        var tcp = frame[(14 + ihl)..];
        int doff = (tcp[12] >> 4) * 4;
        return (frame[15] & 3, tcp[13], totLen - ihl - doff, BinaryPrimitives.ReadUInt32BigEndian(tcp[4..]));
    }

    /// <summary>The oldest frame if it has arrived.</summary>
    public SkBuff? Receive(SkBuffPool pool)
    {
        if (_count == 0 || _arrive[_head] > _clock.NowNs) return null;
        var skb = pool.Alloc();
        if (skb is null) return null;
        _slots[_head].AsSpan(0, _len[_head]).CopyTo(skb.Put(_len[_head]));
        _head = (_head + 1) % _slots.Length;
        _count--;
        return skb;
    }

    /// <summary>Mean backlog seen by packets after <see cref="SampleFromNs"/>.</summary>
    public double SampledMean => SampledCount == 0 ? 0 : (double)SampledSum / SampledCount;
}

/// <summary>One end of a <see cref="BottleneckLink"/>.</summary>
public sealed class LinkDevice : NetDevice
{
    private readonly LinkPipe _tx, _rx;

    internal LinkDevice(string name, MacAddress mac, LinkPipe tx, LinkPipe rx) : base(name, mac, 1500)
    {
        Eth.EtherSetup(this);
        _tx = tx;
        _rx = rx;
    }

    protected internal override SkBuff? PollReceive(SkBuffPool pool) => _rx.Receive(pool);
    public override bool WaitForWork(int timeoutMs) => false;
    public override void Kick() { }

    protected internal override bool StartXmit(SkBuff skb)
    {
        _tx.Send(skb.DataSpan);
        skb.Free();
        return true;
    }
}

/// <summary>Two stacks over a modelled link (a bottleneck each way), driven on one thread in virtual time.</summary>
public sealed class LinkStacks : IDisposable
{
    public VirtualClock Clock { get; } = new();
    public LinkPipe AtoB { get; }
    public LinkPipe BtoA { get; }
    public NetNamespace A { get; }
    public NetNamespace B { get; }

    /// <param name="rateBps">Bottleneck rate A to B (B to A is ten times faster: the ACK path).</param>
    /// <param name="rttMs">Round-trip propagation delay.</param>
    /// <param name="limit">Queue limit A to B, in packets.</param>
    public LinkStacks(long rateBps, long rttMs, int limit)
    {
        AtoB = new LinkPipe(Clock) { RateBps = rateBps, DelayNs = Time.Ms(rttMs) / 2, Limit = limit };
        BtoA = new LinkPipe(Clock) { RateBps = rateBps * 10, DelayNs = Time.Ms(rttMs) / 2, Limit = 100_000 };
        A = new NetNamespace("a", Clock);
        B = new NetNamespace("b", Clock);
        A.AddDevice(new LinkDevice("bn0", TwoStacks.MacA, AtoB, BtoA), TwoStacks.AddrA, 24);
        B.AddDevice(new LinkDevice("bn1", TwoStacks.MacB, BtoA, AtoB), TwoStacks.AddrB, 24);
    }

    public int Pump()
    {
        int total = 0, n;
        do
        {
            n = A.Poll() + B.Poll();
            total += n;
        } while (n > 0);
        return total;
    }

    /// <summary>The next moment something happens: a timer or a frame arriving.</summary>
    public long NextEvent()
    {
        long next;
        lock (A.SyncRoot) lock (B.SyncRoot) next = Math.Min(A.Timers.NextExpiry, B.Timers.NextExpiry);
        return Math.Min(next, Math.Min(AtoB.NextArrival, BtoA.NextArrival));
    }

    /// <summary>Runs <paramref name="step"/> (the applications) and the network until it returns true or the virtual time is up.</summary>
    public bool RunUntil(Func<bool> step, long maxVirtualMs)
    {
        long end = Clock.NowNs + Time.Ms(maxVirtualMs);
        while (Clock.NowNs <= end)
        {
            Pump();
            if (step()) return true;
            Pump();
            long next = NextEvent();
            if (next == long.MaxValue || next > end) return step();
            if (next > Clock.NowNs) Clock.Set(next);
        }
        return false;
    }

    public void RunFor(long ms) => RunUntil(() => false, ms);

    /// <summary>A connected pair: A connects to B's listener on <paramref name="port"/>.</summary>
    public (int lfd, int cfd, int afd) Connect(ushort port = 5000, Action<int>? configureClient = null, Action<int>? configureListener = null)
    {
        int lfd = SocketCalls.Socket(B.Files, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        configureListener?.Invoke(lfd);
        Assert.Equal(0, SocketCalls.Bind(B.Files, lfd, SockAddr.In(TwoStacks.AddrB, port)));
        Assert.Equal(0, SocketCalls.Listen(B.Files, lfd, 16));
        int cfd = SocketCalls.Socket(A.Files, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        configureClient?.Invoke(cfd);
        Assert.Equal(-Errno.EINPROGRESS, SocketCalls.Connect(A.Files, cfd, SockAddr.In(TwoStacks.AddrB, port)));
        int afd = -1;
        RunUntil(() => (afd = SocketCalls.Accept4(B.Files, lfd, out _, SOCK_NONBLOCK)) >= 0, 10_000);
        Assert.True(afd >= 0, $"accept: {afd}");
        return (lfd, cfd, afd);
    }

    /// <summary>
    /// Sends <paramref name="size"/> bytes from A's <paramref name="cfd"/> to B's <paramref name="afd"/>
    /// (B reads everything at once); <paramref name="onStep"/> runs at each step. Returns the bytes received.
    /// </summary>
    public long Transfer(int cfd, int afd, long size, long maxVirtualMs, Action? onStep = null)
    {
        var chunk = new byte[65536];
        for (int i = 0; i < chunk.Length; i++) chunk[i] = (byte)(i * 7);
        var buf = new byte[65536];
        long sent = 0, got = 0;
        RunUntil(() =>
        {
            while (sent < size)
            {
                int n = SocketCalls.Send(A.Files, cfd, chunk.AsSpan(0, (int)Math.Min(chunk.Length, size - sent)), 0);
                if (n <= 0) break;
                sent += n;
            }
            int r;
            while ((r = SocketCalls.Recv(B.Files, afd, buf, 0)) > 0) got += r;
            onStep?.Invoke();
            return got >= size;
        }, maxVirtualMs);
        return got;
    }

    public void Dispose()
    {
        A.Dispose();
        B.Dispose();
    }
}
