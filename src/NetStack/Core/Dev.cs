namespace NetStack.Core;

/// <summary>A handler for one EtherType. <remarks>Mirrors include/linux/netdevice.h: struct packet_type.</remarks></summary>
public sealed class PacketType
{
    /// <summary>A handler for EtherType <paramref name="type"/>; register it with <see cref="NetNamespace.DevAddPack"/> to receive those frames.</summary>
    /// <param name="type">The EtherType, host order (0x0800 IPv4, 0x0806 ARP).</param>
    /// <param name="func">The receive function (packet_type.func): takes ownership of the buffer, returns NET_RX_SUCCESS (0) or NET_RX_DROP (1).</param>
    /// <param name="name">A name for status pages and logs.</param>
    public PacketType(ushort type, Func<SkBuff, NetDevice, int> func, string name)
    {
        Type = type;
        Func = func;
        Name = name;
    }

    /// <summary>The EtherType, host order.</summary>
    public ushort Type { get; }
    /// <summary>Takes ownership of the buffer (frees or queues it); returns NET_RX_SUCCESS (0) or NET_RX_DROP (1).</summary>
    public Func<SkBuff, NetDevice, int> Func { get; }
    /// <summary>A name for status pages and logs ("ip", "arp").</summary>
    public string Name { get; }
}

/// <summary>
/// The device layer: frames in from drivers, frames out to drivers.
/// <remarks>Mirrors net/core/dev.c.</remarks>
/// </summary>
internal static class Dev
{
    public const int NetRxSuccess = 0; // NET_RX_SUCCESS
    public const int NetRxDrop = 1;    // NET_RX_DROP

    /// <summary>
    /// Delivers one received frame: capture tap, fault filter, eth_type_trans, then the
    /// packet_type registered for its EtherType. Called under the stack lock.
    /// </summary>
    /// <remarks>Mirrors net/core/dev.c: netif_receive_skb() / __netif_receive_skb_core().</remarks>
    public static int NetifReceiveSkb(SkBuff skb)
    {
        if (skb.LoopedDev is { } looped) return NetifRxLoopedDeliver(skb, looped);
        var dev = skb.Dev ?? throw new InvalidOperationException("skb without device");
        var net = dev.Net!;
        if (dev.Faults is { } f && !f.OnReceive(dev, skb)) return NetRxDrop;
        return DeliverSkb(net, dev, skb);
    }

    /// <summary>
    /// Queues a copy of an outgoing packet (Data at its network header, Protocol set) to be received
    /// on <paramref name="dev"/>, through the loopback device's backlog so that it is processed after
    /// the send, in the softirq the sending call runs (never from inside the send).
    /// </summary>
    /// <remarks>Mirrors net/core/dev.c: dev_loopback_xmit() -> netif_rx() (enqueue_to_backlog()).</remarks>
    internal static void NetifRxLooped(NetNamespace net, SkBuff skb, NetDevice dev)
    {
        skb.LoopedDev = dev;
        skb.Dev = net.Loopback;
        net.Loopback.StartXmit(skb);
    }

    /// <summary>
    /// Receives a looped-back copy on the device it was sent on: no driver counters, no packet tap
    /// (af_packet skips PACKET_LOOPBACK), no link-layer header to parse: straight to the handler of its protocol.
    /// </summary>
    /// <remarks>Mirrors net/core/dev.c: process_backlog() -> __netif_receive_skb_core() for a dev_loopback_xmit() buffer.</remarks>
    private static int NetifRxLoopedDeliver(SkBuff skb, NetDevice dev)
    {
        var net = dev.Net!;
        skb.Dev = dev;
        skb.LoopedDev = null;
        if (net.NetstampNeeded) skb.Tstamp = net.NowNs; // net_timestamp_check()
        if (!dev.IsUp) return net.KfreeSkbReason(skb, SkbDropReason.NoDevice);
        PacketType? pt = net.PtypeLookup(skb.Protocol);
        if (pt is null) return net.KfreeSkbReason(skb, SkbDropReason.UnhandledProto);
        try
        {
            return pt.Func(skb, dev);
        }
        catch (Exception e) when (Oops.Contain(net))
        {
            Oops.SkbOops(net, skb, e, "__netif_receive_skb_core", $"packet_type {pt.Name}");
            return NetRxDrop;
        }
    }

    /// <summary>The part of receive after the fault filter (also where a delayed frame re-enters).</summary>
    internal static int DeliverSkb(NetNamespace net, NetDevice dev, SkBuff skb)
    {
        dev.Stats.RxPackets++;
        dev.Stats.RxBytes += skb.Len;
        if (net.NetstampNeeded) skb.Tstamp = net.NowNs; // net_timestamp_check()
        PacketType? pt = null;
        // One received frame is one softirq context: a fault anywhere below (a handler, a protocol,
        // a socket callback, a bug) is contained here and the next frame is processed (Core/Panic.cs).
        try
        {
            dev.DevQueueXmitNit(skb.DataSpan);
            if (!dev.IsUp)
                return net.KfreeSkbReason(skb, SkbDropReason.NoDevice);
            if (dev.HeaderOps is not { } ops)
                return net.KfreeSkbReason(skb, SkbDropReason.UnhandledProto);
            if (!ops.TypeTrans(skb, dev))
            {
                dev.Stats.RxErrors++;
                return net.KfreeSkbReason(skb, SkbDropReason.PktTooSmall);
            }
            pt = net.PtypeLookup(skb.Protocol);
            if (pt is null)
                return net.KfreeSkbReason(skb, SkbDropReason.UnhandledProto);
            return pt.Func(skb, dev);
        }
        catch (Exception e) when (Oops.Contain(net))
        {
            Oops.SkbOops(net, skb, e, "__netif_receive_skb_core", pt is null ? null : $"packet_type {pt.Name}");
            return NetRxDrop;
        }
    }

    /// <summary>
    /// Hands a complete frame to its device (skb->dev). Consumes the buffer.
    /// </summary>
    /// <remarks>Mirrors net/core/dev.c: dev_queue_xmit() -> dev_hard_start_xmit() -> ndo_start_xmit.</remarks>
    public static int DevQueueXmit(SkBuff skb)
    {
        var dev = skb.Dev ?? throw new InvalidOperationException("skb without device");
        var net = dev.Net!;
        if (!dev.IsUp)
        {
            dev.Stats.TxDropped++;
            net.KfreeSkbReason(skb, SkbDropReason.NoDevice);
            return -Uapi.Errno.ENETDOWN;
        }
        dev.DevQueueXmitNit(skb);
        // validate_xmit_skb(): a device without NETIF_F_SG takes a linear frame (__skb_linearize()).
        // So does the fault injector, a netem that holds, duplicates and corrupts frames: it must own
        // its bytes (netem_enqueue() unshares), not read the send queue's buffers.
        if (skb.NrFrags != 0 && (!dev.FeatureSg || dev.Faults is not null))
        {
            var lin = SkbLinearize(net, skb);
            if (lin is null)
            {
                dev.Stats.TxDropped++;
                return -Uapi.Errno.ENOBUFS;
            }
            skb = lin;
        }
        if (dev.Faults is { } f && !f.OnTransmit(dev, skb)) return 0;
        return HardStartXmit(dev, skb);
    }

    /// <summary>
    /// A linear copy of a buffer with fragments (headers at the same offsets from its data, the same
    /// metadata), in a frame-sized or large buffer; the original is freed, which drops its
    /// references on the buffers its fragments point into. Null when no buffer is free (counted as
    /// a drop; the original is freed too).
    /// </summary>
    /// <remarks>Mirrors net/core/skbuff.c: __skb_linearize() (__pskb_pull_tail() of all data_len);
    /// the stack's arrays do not grow in place, so the data moves to another buffer, as skb_copy() would.</remarks>
    internal static SkBuff? SkbLinearize(NetNamespace net, SkBuff skb)
    {
        int len = skb.Len;
        var pool = skb.Headroom + len <= net.SkbPool.BufferSize ? net.SkbPool : net.LargeSkbPool;
        int headroom = Math.Min(skb.Headroom, pool.BufferSize - len);
        var n = headroom < 0 ? null : pool.Alloc();
        if (n is null)
        {
            net.KfreeSkbReason(skb, SkbDropReason.NoBuffers);
            return null;
        }
        n.Reserve(headroom);
        skb.CopyBits(n.Put(len));
        int shift = n.Data - skb.Data;
        n.MacHeader = skb.MacHeader < 0 ? -1 : skb.MacHeader + shift;
        n.NetworkHeader = skb.NetworkHeader < 0 ? -1 : skb.NetworkHeader + shift;
        n.TransportHeader = skb.TransportHeader < 0 ? -1 : skb.TransportHeader + shift;
        // __copy_skb_header(): what travels with the data.
        n.Dev = skb.Dev;
        n.Protocol = skb.Protocol;
        n.PktType = skb.PktType;
        n.Sk = skb.Sk;
        n.Mark = skb.Mark;
        n.Tstamp = skb.Tstamp;
        n.Cb = skb.Cb;
        n.Saddr = skb.Saddr;
        n.Daddr = skb.Daddr;
        n.CsumVerified = skb.CsumVerified;
        n.GsoSize = skb.GsoSize;
        n.GsoSegs = skb.GsoSegs;
        n.GsoType = skb.GsoType;
        skb.Free();
        return n;
    }

    /// <summary>The driver call alone (also where a delayed frame leaves).</summary>
    internal static int HardStartXmit(NetDevice dev, SkBuff skb)
    {
        int len = skb.Len;
        if (dev.StartXmit(skb))
        {
            dev.Stats.TxPackets++;
            dev.Stats.TxBytes += len;
            return 0;
        }
        dev.Stats.TxDropped++;
        dev.Net!.Mib.Drops[SkbDropReason.DevTxError]++;
        return -Uapi.Errno.ENOBUFS;
    }
}
