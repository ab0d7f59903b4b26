using NetStack.Wire;

namespace NetStack.Core;

/// <summary>Per-device counters (struct rtnl_link_stats64, as `ip -s link` shows them).</summary>
public sealed class NetDeviceStats
{
    /// <summary>The counters, each the rtnl_link_stats64 field of the same name (rx_packets, tx_packets, rx_bytes, tx_bytes, rx_errors, tx_errors, rx_dropped, tx_dropped).</summary>
    public long RxPackets, TxPackets, RxBytes, TxBytes, RxErrors, TxErrors, RxDropped, TxDropped;
    /// <summary>The counters in one line, as `ip -s link` groups them: "RX: n packets n bytes n errors n dropped; TX: ...".</summary>
    public override string ToString() =>
        $"RX: {RxPackets} packets {RxBytes} bytes {RxErrors} errors {RxDropped} dropped; TX: {TxPackets} packets {TxBytes} bytes {TxErrors} errors {TxDropped} dropped";
}

/// <summary>One IPv4 address of a device. <remarks>Mirrors include/linux/inetdevice.h: struct in_ifaddr.</remarks></summary>
internal sealed class InIfaddr(uint local, int prefixLen, bool secondary)
{
    /// <summary>ifa_local: the address.</summary>
    public readonly uint Local = local;
    /// <summary>ifa_prefixlen.</summary>
    public readonly int PrefixLen = prefixLen;
    /// <summary>IFA_F_SECONDARY: another address of the device already covers this subnet.</summary>
    public readonly bool Secondary = secondary;
    /// <summary>ifa_mask.</summary>
    public uint Mask => Wire.Ipv4Address.PrefixMask(PrefixLen);
    /// <summary>ifa_broadcast (the subnet's all-ones address; the address itself for /31 and /32).</summary>
    public uint Broadcast => PrefixLen >= 31 ? Local : Local | ~Mask;
    /// <summary>The subnet (ifa_local &amp; ifa_mask).</summary>
    public uint Prefix => Local & Mask;
    /// <summary>inet_ifa_match(): <paramref name="addr"/> is in this address's subnet.</summary>
    public bool Match(uint addr) => ((addr ^ Local) & Mask) == 0;
}

/// <summary>
/// The IPv4 settings of one device, or the namespace's "all" and "default" sets: net.ipv4.conf.NAME.*.
/// A device's set starts as a copy of "default" when IPv4 first sees the device.
/// </summary>
/// <remarks>Mirrors include/linux/inetdevice.h: struct ipv4_devconf (in_device->cnf, net->ipv4.devconf_all, devconf_dflt).</remarks>
internal sealed class Ipv4Devconf
{
    /// <summary>forwarding: packets that arrive on the device for another host are routed on (IN_DEV_FORWARD reads the arrival device's).</summary>
    public bool Forwarding;
    /// <summary>send_redirects: a router may tell a host on the link of a better first hop (IN_DEV_TX_REDIRECTS: the device's or all's).</summary>
    public bool SendRedirects = true;

    /// <summary>A copy (inetdev_init()'s memcpy of devconf_dflt).</summary>
    public Ipv4Devconf Clone() => (Ipv4Devconf)MemberwiseClone();
}

/// <summary>Something that sees every frame a device receives or sends (a packet tap, e.g. a pcap writer).</summary>
public interface IPacketCapture
{
    /// <summary>Called under the stack lock with the whole Ethernet frame; must not keep the span.</summary>
    void Capture(ReadOnlySpan<byte> frame);
}

/// <summary>
/// A network device (struct net_device + its net_device_ops). Drivers implement the receive
/// poll, the wait for work and ndo_start_xmit; the stack calls them under its lock, except
/// <see cref="WaitForWork"/>, which a device's receive thread calls without it.
/// </summary>
public abstract class NetDevice : IDisposable
{
    /// <summary>A device named <paramref name="name"/> (dev->name) with hardware address <paramref name="devAddr"/> and MTU <paramref name="mtu"/>; down and unregistered until added to a namespace.</summary>
    protected NetDevice(string name, MacAddress devAddr, int mtu = 1500)
    {
        Name = name;
        DevAddr = devAddr;
        Mtu = mtu;
    }

    /// <summary>The interface name (dev->name), unique in its namespace.</summary>
    public string Name { get; }
    /// <summary>The interface index (dev->ifindex), assigned when the device is registered in a namespace.</summary>
    public int IfIndex { get; internal set; }
    /// <summary>The hardware address (dev->dev_addr).</summary>
    public MacAddress DevAddr { get; set; }
    /// <summary>The MTU (dev->mtu): the largest IP datagram the link carries, without the link-layer header.</summary>
    public int Mtu { get; set; }
    /// <summary>IFF_UP.</summary>
    public bool IsUp { get; internal set; }
    /// <summary>IFF_LOOPBACK / IFF_NOARP: the device needs no link-layer resolution.</summary>
    public virtual bool NoArp => false;
    /// <summary>IFF_LOOPBACK.</summary>
    public virtual bool IsLoopback => false;
    /// <summary>The namespace the device is registered in (dev_net(dev)), null before registration.</summary>
    public NetNamespace? Net { get; internal set; }
    /// <summary>The device's counters (dev->stats).</summary>
    public readonly NetDeviceStats Stats = new();
    /// <summary>
    /// dev->features &amp; NETIF_F_TSO: the device takes TCPv4 super-frames of up to 64 KiB with a
    /// partial checksum (skb gso_size/gso_segs set) and segments them itself. TCP then builds them
    /// (sk_can_gso()); IP does not fragment them (ip_finish_output_gso()).
    /// </summary>
    internal bool FeatureTso;
    /// <summary>
    /// dev->features &amp; NETIF_F_SG: the driver writes a buffer's fragments itself (scatter-gather),
    /// so a frame whose payload references the send queue (<see cref="SkBuff.Frags"/>) reaches it
    /// as is; any other device gets a linear copy (validate_xmit_skb()).
    /// </summary>
    internal bool FeatureSg;

    /// <summary>dev->mc: the multicast MACs the device receives, each with the count of its users (netdev_hw_addr.refcount).</summary>
    private (MacAddress Addr, int Refcount)[] _mc = [];

    /// <summary>The multicast MACs the device's receive filter passes (`ip maddr` link lines).</summary>
    internal IEnumerable<MacAddress> McAddrs => _mc.Select(x => x.Addr);

    /// <summary>Adds a multicast MAC to the receive filter (one more user if it is there).</summary>
    /// <remarks>Mirrors net/core/dev_addr_lists.c: dev_mc_add() -> __hw_addr_add().</remarks>
    internal void DevMcAdd(MacAddress addr)
    {
        var mc = _mc;
        for (int i = 0; i < mc.Length; i++)
        {
            if (mc[i].Addr != addr) continue;
            var copy = ((MacAddress Addr, int Refcount)[])mc.Clone();
            copy[i].Refcount++;
            _mc = copy;
            return;
        }
        _mc = [.. mc, (addr, 1)];
    }

    /// <summary>Takes one user off a multicast MAC; the last one removes it from the filter.</summary>
    /// <remarks>Mirrors net/core/dev_addr_lists.c: dev_mc_del() -> __hw_addr_del().</remarks>
    internal void DevMcDel(MacAddress addr)
    {
        var mc = _mc;
        for (int i = 0; i < mc.Length; i++)
        {
            if (mc[i].Addr != addr) continue;
            if (mc[i].Refcount > 1)
            {
                var copy = ((MacAddress Addr, int Refcount)[])mc.Clone();
                copy[i].Refcount--;
                _mc = copy;
            }
            else
            {
                _mc = [.. mc[..i], .. mc[(i + 1)..]];
            }
            return;
        }
    }

    /// <summary>Whether the receive filter passes frames to <paramref name="addr"/> (a NIC's multicast filter; allocation-free).</summary>
    internal bool DevMcMatch(MacAddress addr)
    {
        var mc = _mc;
        for (int i = 0; i < mc.Length; i++) if (mc[i].Addr == addr) return true;
        return false;
    }

    /// <summary>
    /// The device's IPv4 addresses (in_device's ifa_list): primaries in the order they were added,
    /// then secondaries (an address in the subnet of an earlier one). Replaced, never changed in
    /// place, so the packet path reads it without allocating.
    /// </summary>
    internal InIfaddr[] IfaList = [];
    /// <summary>The device's IPv4 settings (in_device->cnf), net.ipv4.conf.NAME.*; replaced by a copy of
    /// conf.default when IPv4 first sees the device.</summary>
    internal Ipv4Devconf Ipv4Cnf = new();
    /// <summary>Whether IPv4 has set up the device (inetdev_init(): its conf copied, its sysctls registered).</summary>
    internal bool Ipv4CnfInit;
    /// <summary>The device's first primary IPv4 address and its prefix, 0 if none.</summary>
    internal uint Ipv4Address => IfaList.Length > 0 ? IfaList[0].Local : 0;
    internal int Ipv4PrefixLen => IfaList.Length > 0 ? IfaList[0].PrefixLen : 0;
    internal uint Ipv4Broadcast => IfaList.Length > 0 ? IfaList[0].Broadcast : 0;

    /// <summary>Whether <paramref name="addr"/> is one of the device's addresses.</summary>
    internal bool HasIpv4Address(uint addr)
    {
        var list = IfaList;
        for (int i = 0; i < list.Length; i++) if (list[i].Local == addr) return true;
        return false;
    }

    /// <summary>Whether <paramref name="addr"/> is the directed broadcast of one of the device's subnets (prefix shorter than /31).</summary>
    internal bool IsIpv4SubnetBroadcast(uint addr)
    {
        var list = IfaList;
        for (int i = 0; i < list.Length; i++) if (list[i].PrefixLen < 31 && list[i].Broadcast == addr) return true;
        return false;
    }

    /// <summary>
    /// Microseconds a driver's receive thread may spin asking for frames before it sleeps (0: never
    /// spin). Trades a CPU for lower latency, as net.core.busy_poll does; drivers that cannot
    /// spin ignore it.
    /// </summary>
    public int BusyPollUs { get; set; }

    /// <summary>
    /// dev->header_ops: the link layer's operations, set by the link layer's setup (ether_setup for
    /// Ethernet devices). The core calls them and never names a link layer itself. A driver of an
    /// Ethernet device calls <c>Eth.EtherSetup(this)</c> in its constructor (alloc_etherdev() does it
    /// in Linux); frames of a device without header_ops are dropped (UnhandledProto).
    /// </summary>
    public HeaderOps? HeaderOps { get; set; }

    /// <summary>Optional packet tap: sees each received frame before the stack and each sent frame after it.</summary>
    public IPacketCapture? Capture { get; set; }

    private IPacketCapture[] _taps = [];
    private readonly Lock _tapsLock = new();

    /// <summary>
    /// Adds a packet tap beside <see cref="Capture"/> (a live capture attaching to a running stack, as
    /// a packet socket joins ptype_all). Safe to call from any thread; the tap sees frames from the
    /// next one on.
    /// </summary>
    public void AddCapture(IPacketCapture tap)
    {
        ArgumentNullException.ThrowIfNull(tap);
        lock (_tapsLock) Volatile.Write(ref _taps, [.. _taps, tap]);
    }

    /// <summary>Removes a tap added with <see cref="AddCapture"/>; false if it was not there.</summary>
    public bool RemoveCapture(IPacketCapture tap)
    {
        lock (_tapsLock)
        {
            int i = Array.IndexOf(_taps, tap);
            if (i < 0) return false;
            Volatile.Write(ref _taps, [.. _taps.AsSpan(0, i), .. _taps.AsSpan(i + 1)]);
            return true;
        }
    }

    /// <summary>Hands a frame to every tap (allocation-free: the tap list is an immutable array, swapped on change).</summary>
    /// <remarks>Mirrors net/core/dev.c: the ptype_all walk of __netif_receive_skb_core() and dev_queue_xmit_nit().</remarks>
    internal void DevQueueXmitNit(ReadOnlySpan<byte> frame)
    {
        Capture?.Capture(frame);
        var taps = Volatile.Read(ref _taps);
        for (int i = 0; i < taps.Length; i++) taps[i].Capture(frame);
    }

    /// <summary>
    /// Hands an outgoing frame to every tap; a frame with fragments is gathered first into one
    /// buffer of the device's (created once, on the first such frame captured), since a tap reads
    /// one span. Without taps, nothing is copied.
    /// </summary>
    /// <remarks>Mirrors net/core/dev.c: dev_queue_xmit_nit() (which clones the skb for each ptype_all entry; af_packet copies the bits out).</remarks>
    internal void DevQueueXmitNit(SkBuff skb)
    {
        if (skb.NrFrags == 0)
        {
            DevQueueXmitNit(skb.DataSpan);
            return;
        }
        if (Capture is null && Volatile.Read(ref _taps).Length == 0) return;
        int len = skb.Len;
        if (_nitLinear is null || _nitLinear.Length < len) _nitLinear = GC.AllocateUninitializedArray<byte>(Math.Max(len, 0x10000 + SkBuffPool.MaxHeader));
        skb.CopyBits(_nitLinear);
        DevQueueXmitNit(_nitLinear.AsSpan(0, len));
    }

    /// <summary>Where <see cref="DevQueueXmitNit(SkBuff)"/> gathers a frame with fragments for the taps (sends run under the stack lock, one at a time).</summary>
    private byte[]? _nitLinear;

    /// <summary>
    /// Optional fault hook on the wire side of the device: it may drop, duplicate, delay or
    /// corrupt frames in either direction. Null in normal operation.
    /// </summary>
    internal IFrameFilter? Faults { get; set; }

    /// <summary>Returns one received frame in a buffer from <paramref name="pool"/>, or null when none is pending. Never blocks.</summary>
    protected internal abstract SkBuff? PollReceive(SkBuffPool pool);

    /// <summary>
    /// An empty buffer for a frame <see cref="PollReceive"/> receives: from the namespace's softirq
    /// cache when <paramref name="pool"/> is the namespace's, where recvmsg() leaves the buffers it
    /// consumed (no pool lock per frame), else from <paramref name="pool"/>. Null when the pool is
    /// spent. Call it from <see cref="PollReceive"/> only (the stack lock is held there).
    /// </summary>
    /// <remarks>Mirrors napi_alloc_skb(): a driver's receive buffers come from the per-CPU napi_alloc_cache.</remarks>
    protected SkBuff? NapiAllocSkb(SkBuffPool pool) =>
        Net is { } net && net.SkbPool == pool ? net.SkbCache.Get() : pool.Alloc();

    /// <summary>Blocks up to <paramref name="timeoutMs"/> (-1: forever) until a frame may be pending or <see cref="Kick"/> is called. Called without the stack lock.</summary>
    public abstract bool WaitForWork(int timeoutMs);

    /// <summary>Wakes a thread blocked in <see cref="WaitForWork"/>.</summary>
    public abstract void Kick();

    /// <summary>Linked into the namespace's list of devices with queued frames (<see cref="NetNamespace.XmitFlush"/>); under the stack lock.</summary>
    internal NetDevice? XmitPendingNext;
    /// <summary>Whether the device is in that list.</summary>
    internal bool XmitPendingQueued;

    /// <summary>
    /// Writes the frames <see cref="StartXmit"/> queued while <see cref="NetNamespace.XmitMore"/> held
    /// (the driver's doorbell). Called under the stack lock by <see cref="NetNamespace.XmitFlush"/>;
    /// a driver that never queues has nothing to do. Returns the frames written.
    /// </summary>
    internal virtual int XmitFlushQueued() => 0;

    /// <summary>Puts the frame in <paramref name="skb"/> on the wire and frees the buffer (ndo_start_xmit). Returns false if the device dropped it.</summary>
    protected internal abstract bool StartXmit(SkBuff skb);

    /// <summary>ndo_open: called when the device is brought up.</summary>
    protected internal virtual void Open() { }

    /// <summary>ndo_stop.</summary>
    protected internal virtual void Stop() { }

    /// <summary>Releases the driver's resources (file descriptors, threads); the base does nothing but suppress finalization.</summary>
    public virtual void Dispose() => GC.SuppressFinalize(this);

    /// <summary>The name and hardware address: "tap0 (02:00:0a:07:00:02)".</summary>
    public override string ToString() => $"{Name} ({DevAddr})";
}

/// <summary>
/// The link layer's operations on a device's frames (struct header_ops).
/// <remarks>Mirrors include/linux/netdevice.h: struct header_ops. Linux drivers call eth_type_trans()
/// themselves before netif_receive_skb(); here drivers hand whole frames to the core (the capture
/// tap and the fault injector work on whole frames), so the receive classification is one more
/// operation of the table the link layer installs on the device.</remarks>
/// </summary>
public abstract class HeaderOps
{
    /// <summary>
    /// Classifies a received frame: sets skb.PktType and skb.Protocol (the EtherType), pulls the
    /// link-layer header and sets the network header. False if the frame is too short.
    /// </summary>
    /// <remarks>Mirrors eth_type_trans() for Ethernet.</remarks>
    public abstract bool TypeTrans(SkBuff skb, NetDevice dev);
}

/// <summary>
/// A hook on the wire side of a device, used by the fault injector. <see cref="OnReceive"/> and
/// <see cref="OnTransmit"/> return true to let the frame through now, false when the filter took
/// the buffer (dropped it, or holds it to release later through <see cref="NetNamespace"/> timers).
/// </summary>
internal interface IFrameFilter
{
    bool OnReceive(NetDevice dev, SkBuff skb);
    bool OnTransmit(NetDevice dev, SkBuff skb);
}
