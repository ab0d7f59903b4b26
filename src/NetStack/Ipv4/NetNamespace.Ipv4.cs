using NetStack.Drivers;
using NetStack.Ipv4;

namespace NetStack.Core;

public sealed partial class NetNamespace
{
    private ushort _ipIdent;
    private LoopbackDevice? _loopback;
    internal readonly IcmpRateState IcmpRate = new();
    internal readonly IpFragState Frags = new();
    private SkBuffPool? _largePool;

    /// <summary>
    /// Buffers for datagrams larger than a frame (reassembled fragments, large UDP datagrams and
    /// echo replies before fragmentation): 64 KiB + headroom each, created on first use and reused.
    /// </summary>
    public SkBuffPool LargeSkbPool => _largePool ??= new SkBuffPool(0x10000 + SkBuffPool.MaxHeader + 64, prealloc: 2, maxBuffers: 128);

    /// <summary>
    /// A buffer with headroom for all headers and room for <paramref name="size"/> bytes after it:
    /// from the frame-sized pool when it fits, else from <see cref="LargeSkbPool"/>. Null if out of buffers.
    /// </summary>
    /// <remarks>Mirrors alloc_skb(MAX_HEADER + size) / sock_alloc_send_skb().</remarks>
    public SkBuff? AllocSkb(int size)
    {
        if (size < 0 || size > 0xFFFF + 64) return null;
        var pool = size + SkBuffPool.MaxHeader <= SkbPool.BufferSize ? SkbPool : LargeSkbPool;
        var skb = pool.AllocWithHeadroom();
        if (skb is null) Mib.Drops[SkbDropReason.NoBuffers]++;
        return skb;
    }

    /// <summary>The loopback device (lo, ifindex 1, 127.0.0.1/8), created with the namespace.</summary>
    public NetDevice Loopback => _loopback!;

    internal void CreateLoopback()
    {
        _loopback = new LoopbackDevice();
        AddDevice(_loopback, Wire.Ipv4Address.Loopback, 8);
    }

    /// <summary>The IP identification for the next datagram.</summary>
    /// <remarks>Mirrors ip_select_ident(): the kernel hashes per destination; one counter is enough for a host.</remarks>
    internal ushort SelectIdent() => _ipIdent++;
}
