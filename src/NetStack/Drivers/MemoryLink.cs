using NetStack.Core;
using NetStack.Ethernet;
using NetStack.Wire;

namespace NetStack.Drivers;

/// <summary>
/// A virtual Ethernet cable between two devices in one process, for two stacks talking to each
/// other in tests (a veth pair without the kernel). Each direction is a bounded ring of
/// preallocated frame slots, so carrying a frame allocates nothing; a full ring drops (as a full
/// TAP queue does).
/// </summary>
public sealed class MemoryLink
{
    /// <summary>One end of the cable (named <c>nameA</c>, "mem0" by default); what it sends, <see cref="B"/> receives.</summary>
    public MemoryLinkDevice A { get; }
    /// <summary>The other end (named <c>nameB</c>, "mem1" by default); what it sends, <see cref="A"/> receives.</summary>
    public MemoryLinkDevice B { get; }

    /// <summary>A cable between two new devices with hardware addresses <paramref name="macA"/> and <paramref name="macB"/>.</summary>
    /// <param name="macA">The hardware address of <see cref="A"/>.</param>
    /// <param name="macB">The hardware address of <see cref="B"/>.</param>
    /// <param name="mtu">The MTU of both ends; ring slots hold a frame of this size plus the Ethernet header.</param>
    /// <param name="ringSlots">Frames each direction can hold before it drops.</param>
    /// <param name="nameA">The interface name of <see cref="A"/>.</param>
    /// <param name="nameB">The interface name of <see cref="B"/>.</param>
    public MemoryLink(MacAddress macA, MacAddress macB, int mtu = 1500, int ringSlots = 4096, string nameA = "mem0", string nameB = "mem1")
    {
        var ab = new FrameRing(ringSlots, mtu + 14);
        var ba = new FrameRing(ringSlots, mtu + 14);
        A = new MemoryLinkDevice(nameA, macA, mtu, tx: ab, rx: ba);
        B = new MemoryLinkDevice(nameB, macB, mtu, tx: ba, rx: ab);
    }
}

/// <summary>A bounded single-producer/single-consumer ring of frames, guarded by a small lock.</summary>
internal sealed class FrameRing
{
    private readonly byte[][] _slots;
    private readonly int[] _lengths;
    private int _head, _count;
    private readonly Lock _lock = new();
    private readonly SemaphoreSlim _signal = new(0, int.MaxValue);
    public long Drops;

    public FrameRing(int slots, int frameSize)
    {
        _slots = new byte[slots][];
        _lengths = new int[slots];
        for (int i = 0; i < slots; i++) _slots[i] = GC.AllocateUninitializedArray<byte>(frameSize, pinned: true);
    }

    public int Count { get { lock (_lock) return _count; } }

    public bool Write(ReadOnlySpan<byte> frame)
    {
        bool wasEmpty;
        lock (_lock)
        {
            if (_count == _slots.Length || frame.Length > _slots[0].Length)
            {
                Drops++;
                return false;
            }
            int tail = (_head + _count) % _slots.Length;
            frame.CopyTo(_slots[tail]);
            _lengths[tail] = frame.Length;
            wasEmpty = _count == 0;
            _count++;
        }
        if (wasEmpty && _signal.CurrentCount == 0) _signal.Release();
        return true;
    }

    /// <summary>
    /// Copies the oldest frame into a fresh buffer from the pool, or returns null. While the pool is
    /// exhausted the frames are dropped (counted in <paramref name="dropped"/>), as a NIC whose receive
    /// ring has no buffer drops what arrives, so frames never pile up behind a stuck one.
    /// </summary>
    public SkBuff? Read(Func<SkBuffPool, SkBuff?> alloc, SkBuffPool pool, out int dropped)
    {
        dropped = 0;
        lock (_lock)
        {
            SkBuff? skb;
            while (true)
            {
                if (_count == 0) return null;
                skb = alloc(pool);
                if (skb is not null) break;
                _head = (_head + 1) % _slots.Length;
                _count--;
                dropped++;
            }
            int len = _lengths[_head];
            _slots[_head].AsSpan(0, len).CopyTo(skb.Put(len));
            _head = (_head + 1) % _slots.Length;
            _count--;
            return skb;
        }
    }

    public bool Wait(int timeoutMs)
    {
        if (Count > 0) return true;
        return _signal.Wait(timeoutMs);
    }

    public void Kick() => _signal.Release();
}

/// <summary>One end of a <see cref="MemoryLink"/>.</summary>
public sealed class MemoryLinkDevice : NetDevice
{
    private readonly FrameRing _tx, _rx;

    internal MemoryLinkDevice(string name, MacAddress mac, int mtu, FrameRing tx, FrameRing rx) : base(name, mac, mtu)
    {
        Eth.EtherSetup(this);
        _tx = tx;
        _rx = rx;
    }

    /// <summary>Frames waiting to be received by this end.</summary>
    public int PendingRx => _rx.Count;

    /// <summary><see cref="NetDevice.NapiAllocSkb"/> as a delegate, made once.</summary>
    private Func<SkBuffPool, SkBuff?>? _napiAlloc;

    /// <inheritdoc/>
    protected internal override SkBuff? PollReceive(SkBuffPool pool)
    {
        var skb = _rx.Read(_napiAlloc ??= NapiAllocSkb, pool, out int dropped);
        if (dropped != 0)
        {
            Stats.RxDropped += dropped; // rx_dropped: no buffer to receive into
            if (Net is { } net) net.Mib.Drops[SkbDropReason.NoBuffers] += dropped;
        }
        return skb;
    }

    /// <inheritdoc/>
    public override bool WaitForWork(int timeoutMs) => _rx.Wait(timeoutMs);

    /// <inheritdoc/>
    public override void Kick() => _rx.Kick();

    /// <inheritdoc/>
    protected internal override bool StartXmit(SkBuff skb)
    {
        if (skb.NrFrags != 0 || skb.GsoSize != 0) return StartXmitGso(skb);
        bool ok = _tx.Write(skb.DataSpan);
        skb.Free();
        return ok;
    }

    /// <summary>
    /// Offers TCP segmentation offload and scatter-gather on this end, as a veth does: TCP then
    /// builds super-frames whose payload references its send queue, and this end cuts them into
    /// MTU-sized frames with complete checksums before they cross the cable (what the kernel does
    /// for a veth whose peer takes no GSO: skb_gso_segment() + skb_checksum_help()). For tests of
    /// the TSO send path without a TAP.
    /// </summary>
    internal void EnableTso() => FeatureTso = FeatureSg = true;

    /// <summary>Super-frames this end segmented (with <see cref="EnableTso"/>).</summary>
    internal long TxGsoFrames { get; private set; }

    private byte[]? _gather;
    private SkBuffPool? _segPool;
    private readonly SkBuffQueue _segs = new();

    /// <summary>A frame with fragments or a super-frame: gathered into one buffer, cut at gso_size, each segment's checksum completed.</summary>
    private bool StartXmitGso(SkBuff skb)
    {
        int len = skb.Len;
        _gather ??= GC.AllocateUninitializedArray<byte>(0x10000 + SkBuffPool.MaxHeader, pinned: true);
        skb.CopyBits(_gather);
        var frame = _gather.AsSpan(0, len);
        bool ok;
        if (skb.GsoSize == 0)
        {
            ok = _tx.Write(frame); // a lone segment: its checksum is complete
        }
        else
        {
            TxGsoFrames++;
            _segPool ??= new SkBuffPool(SkBuffPool.DefaultBufferSize, prealloc: 64, maxBuffers: 256);
            ok = SkbGso.TcpGsoSegment(frame, skb.GsoSize, _segPool, _segs) > 0;
            while (_segs.Dequeue() is { } seg)
            {
                var d = seg.DataSpan;
                // CHECKSUM_PARTIAL: the check field holds the pseudo-header sum; sum from the TCP header on.
                int tcpOff = EthernetHeader.Length + (d[EthernetHeader.Length] >> 4 == 6 ? Ipv6Header.Length : (d[EthernetHeader.Length] & 0x0F) * 4);
                System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(d[(tcpOff + TcpHeader.ChecksumOffset)..], Checksum.Compute(d[tcpOff..]));
                ok &= _tx.Write(d);
                seg.Free();
            }
        }
        skb.Free();
        return ok;
    }
}
