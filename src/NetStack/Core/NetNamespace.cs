namespace NetStack.Core;

/// <summary>
/// One instance of the stack: the analogue of a booted kernel's init_net (struct net) together
/// with the global tables the kernel keeps beside it (ptype_base). Two of these in
/// one process are two independent hosts.
/// <para>
/// Threading (DESIGN.md §5): <see cref="SyncRoot"/> is the single stack lock, playing lock_sock and
/// softirq context at once. Device receive threads take it per batch of frames, the timer thread
/// per batch of expired timers, application calls per call; a blocking call queues its thread on
/// the socket's own wait queue (Sock.Wq, Core/WaitQueue.cs) and releases the lock while it sleeps,
/// so a wakeup reaches only the threads waiting on that socket for that event.
/// </para>
/// <para>
/// Core knows no protocol. The layers above it register <see cref="PernetOperations"/> (the
/// kernel's pernet_operations) from their initcalls, and a new namespace runs them in order
/// (setup_net()); each keeps its per-namespace state in a generic slot (net_generic()) that it
/// exposes as an extension member: <c>net.Ipv4</c> (struct netns_ipv4) in the IPv4 layer,
/// <c>net.Files</c> in the socket layer.
/// </para>
/// </summary>
public sealed class NetNamespace : IDisposable
{
    /// <summary>The stack lock. Hold it for every touch of protocol state.</summary>
    internal readonly object SyncRoot = new();
    /// <summary>The namespace's source of time (every timer and timestamp reads it); <see cref="MonotonicClock"/> unless a test passes a <see cref="VirtualClock"/>.</summary>
    public IClock Clock { get; }
    internal readonly TimerBase Timers;
    /// <summary>The pool the devices' receive path and the protocols allocate packet buffers from.</summary>
    public readonly SkBuffPool SkbPool;
    /// <summary>The softirq cache of <see cref="SkbPool"/>'s buffers: receive batches take from it and recvmsg() gives back to it, under the stack lock (napi_alloc_cache).</summary>
    internal readonly NapiSkbCache SkbCache;
    /// <summary>net->mib: /proc/net/snmp and friends.</summary>
    public readonly SnmpMib Mib = new();
    /// <summary>The namespace's name (for logs and status pages).</summary>
    public string Name { get; }
    /// <summary>The kernel log of this namespace: what the kernel would print with printk (what dmesg shows), e.g. "Possible SYN flooding".</summary>
    public KernelLog Log { get; }

    /// <summary>
    /// The secret keys of this namespace for ISNs, timestamp offsets and port offsets (net_secret,
    /// ts_secret of net/core/secure_seq.c; one set per namespace, as a namespace is a host here).
    /// </summary>
    internal readonly TcpSecrets TcpSecrets = TcpSecrets.Create();

    /// <summary>
    /// net->hash_mix: a random word per namespace that the socket-table hashes add to their
    /// boot-time secrets (net_hash_mix()), so two namespaces spread the same flows differently.
    /// </summary>
    internal readonly uint HashMix = (uint)System.Security.Cryptography.RandomNumberGenerator.GetInt32(int.MinValue, int.MaxValue);

    /// <summary>net.core.somaxconn: the ceiling on listen()'s backlog (net->core.sysctl_somaxconn).</summary>
    public int SysctlSomaxconn = 4096;

    /// <summary>
    /// kernel.panic_on_oops: 0 (the default) contains a fault (an exception thrown by a registered
    /// handler, a congestion control, a socket callback, a timer or the stack itself): the socket
    /// involved is aborted, the fault counted (Kernel: OopsCount) and logged once per site, and the
    /// stack goes on. 1 lets the exception propagate, as a kernel with panic_on_oops panics: the
    /// mode for tests and fuzzers. The default comes from the environment variable
    /// NETSTACK_PANIC_ON_OOPS when it is set (the kernel command line's panic_on_oops=).
    /// </summary>
    /// <remarks>Mirrors kernel/panic.c: panic_on_oops (sysctl kernel.panic_on_oops). See Core/Panic.cs.</remarks>
    public int SysctlPanicOnOops = Environment.GetEnvironmentVariable("NETSTACK_PANIC_ON_OOPS") == "1" ? 1 : 0;

    /// <summary>The fault sites already printed (Core/Panic.cs logs each once, as WARN_ONCE); under the stack lock.</summary>
    internal readonly HashSet<string> OopsSites = new(StringComparer.Ordinal);

    /// <summary>
    /// The namespace's sysctls by Linux's name (net.core.somaxconn, net.ipv4.tcp_sack, ...), each
    /// layer registering its own table (register_net_sysctl). The typed fields stay the hot path's.
    /// </summary>
    public readonly SysctlTable Sysctl;

    private readonly List<NetDevice> _devices = new();
    private readonly Dictionary<ushort, PacketType> _ptypeBase = new();
    private readonly List<NetdevNotifier> _netdevNotifiers = new();
    /// <summary>net->gen: the per-namespace state of each registered subsystem, by <see cref="PernetOperations.Id"/>.</summary>
    private object?[] _gen;
    /// <summary>The subsystems set up in this namespace, in order (their exits run in reverse).</summary>
    private readonly PernetOperations[] _ops;
    private SkBuffPool? _largePool;
    private bool _exited;

    private readonly SoftIrq _softirq;

    /// <summary>A new stack: registers net.core sysctls and runs every registered <see cref="PernetOperations"/> init in order (setup_net(), which also brings up lo through the loopback driver's pernet init); threads not started.</summary>
    /// <param name="name">A name for logs and status pages.</param>
    /// <param name="clock">The source of time; null for <see cref="MonotonicClock.Instance"/>.</param>
    /// <param name="pool">The buffer pool; null for a new default <see cref="SkBuffPool"/>.</param>
    /// <remarks>Mirrors net/core/net_namespace.c: copy_net_ns() -> setup_net().</remarks>
    public NetNamespace(string name = "init_net", IClock? clock = null, SkBuffPool? pool = null)
    {
        Name = name;
        Clock = clock ?? MonotonicClock.Instance;
        RealtimeOffsetNs = (DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100 - Clock.NowNs;
        Log = new KernelLog(Clock);
        SkbPool = pool ?? new SkBuffPool();
        SkbCache = new NapiSkbCache(SkbPool);
        Timers = new TimerBase(this);
        _softirq = new SoftIrq(this);
        Sysctl = new SysctlTable(this);
        // sysctl_core_net_init(): net.core.*
        Sysctl.RegisterNetSysctl("net/core", [CtlTable.Int("somaxconn", () => SysctlSomaxconn, v => SysctlSomaxconn = v, 0)]);
        // kernel/sysctl.c (kern_panic_table): kernel.panic_on_oops, per namespace here as every other knob.
        Sysctl.RegisterNetSysctl("kernel", [CtlTable.Int("panic_on_oops", () => SysctlPanicOnOops, v => SysctlPanicOnOops = v, 0)]);
        _ops = PernetList();
        _gen = new object?[_ops.Length];
        lock (SyncRoot) SetupNet();
    }

    // ---- pernet_operations and net_generic (net/core/net_namespace.c) ----

    private static readonly object s_pernetLock = new();
    /// <summary>pernet_list: subsystems first, then devices (first_device), each in registration order.</summary>
    private static readonly List<PernetOperations> s_pernetSubsys = new(), s_pernetDevice = new();

    /// <summary>
    /// Registers a subsystem's per-namespace init and exit and gives it its net_generic slot.
    /// Namespaces created afterwards run it after the subsystems registered before it and before
    /// every device. Layers register from their initcall (a module initializer), so every
    /// namespace sees all of them; a registration made after a namespace exists applies to the
    /// namespaces created later.
    /// </summary>
    /// <remarks>Mirrors register_pernet_subsys().</remarks>
    public static void RegisterPernetSubsys(PernetOperations ops) => RegisterPernet(s_pernetSubsys, ops);

    /// <summary>The same for a device (loopback): device inits run after all subsystem inits.</summary>
    /// <remarks>Mirrors register_pernet_device().</remarks>
    public static void RegisterPernetDevice(PernetOperations ops) => RegisterPernet(s_pernetDevice, ops);

    private static void RegisterPernet(List<PernetOperations> list, PernetOperations ops)
    {
        lock (s_pernetLock)
        {
            if (ops.Id >= 0) throw new InvalidOperationException($"pernet operations '{ops.Name}' are already registered");
            ops.Id = s_pernetSubsys.Count + s_pernetDevice.Count; // net_generic ids: one per registration, never reused
            list.Add(ops);
        }
    }

    private static PernetOperations[] PernetList()
    {
        lock (s_pernetLock) return [.. s_pernetSubsys, .. s_pernetDevice];
    }

    /// <summary>The subsystems set up in this namespace, in init order.</summary>
    public IReadOnlyList<PernetOperations> PernetOps => _ops;

    /// <remarks>Mirrors setup_net(): ops_init() for each registered pernet_operations, in order.</remarks>
    private void SetupNet()
    {
        foreach (var ops in _ops) ops.Init(this);
    }

    /// <summary>The state subsystem <paramref name="id"/> keeps in this namespace (null if none). O(1), no allocation.</summary>
    /// <remarks>Mirrors include/net/netns/generic.h: net_generic().</remarks>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public T NetGeneric<T>(int id) where T : class
    {
        var gen = _gen;
        return (uint)id < (uint)gen.Length ? System.Runtime.CompilerServices.Unsafe.As<T>(gen[id])! : null!;
    }

    /// <summary>Stores subsystem <paramref name="id"/>'s state; its pernet init calls it.</summary>
    /// <remarks>Mirrors net_assign_generic() (ops_init() allocating ops->size).</remarks>
    public void NetAssignGeneric(int id, object data)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(id);
        if (id >= _gen.Length) Array.Resize(ref _gen, id + 1);
        _gen[id] = data;
    }

    // ---- netdevice notifiers ----

    /// <remarks>Mirrors register_netdevice_notifier_net().</remarks>
    internal void RegisterNetdeviceNotifier(NetdevNotifier nb)
    {
        lock (SyncRoot) _netdevNotifiers.Add(nb);
    }

    /// <remarks>Mirrors call_netdevice_notifiers().</remarks>
    private void CallNetdeviceNotifiers(NetdevEvent ev, NetDevice dev)
    {
        foreach (var nb in _netdevNotifiers) nb.NotifierCall(ev, dev);
    }

    /// <summary>The loopback device (net->loopback_dev), registered by the loopback driver's pernet init.</summary>
    public NetDevice Loopback { get; set; } = null!;

    /// <summary>
    /// Buffers for datagrams larger than a frame (reassembled fragments, large UDP datagrams and
    /// echo replies before fragmentation): 64 KiB + headroom each, created on first use and reused.
    /// </summary>
    public SkBuffPool LargeSkbPool => _largePool ??= new SkBuffPool(0x10000 + SkBuffPool.MaxHeader + 64, prealloc: 2, maxBuffers: LargePoolMaxBuffers);

    /// <summary>The ceiling of <see cref="LargeSkbPool"/>: 128 buffers of 64 KiB (8 MiB).</summary>
    internal const int LargePoolMaxBuffers = 128;

    /// <summary>The large pool if anything has used it yet (reading the statistics must not create it).</summary>
    internal SkBuffPool? LargeSkbPoolIfCreated => _largePool;

    /// <summary>
    /// Heads of TSO super-frames: room for the headers only, and up to <see cref="SkBuff.MaxSkbFrags"/>
    /// fragments that reference the send queue's segments instead of copying them (the kernel's
    /// skbuff_fclone_cache heads over shared pages). Created on first use; a head lives from
    /// tcp_write_xmit() to the device's write, so few are ever in use.
    /// </summary>
    internal SkBuffPool SkbHeadPool => _headPool ??= new SkBuffPool(SkBuffPool.MaxHeader + 128, prealloc: 16, maxBuffers: 4096, maxFrags: SkBuff.MaxSkbFrags);
    private SkBuffPool? _headPool;

    /// <summary>
    /// The pages sockets copy their send data into (64 KiB each: the kernel's sk_page_frag(), an
    /// order-3 page there): the send queue's segments are fragments of them, so those a super-frame
    /// sends lie one after the other and go to the device as a few pieces. Created on first use.
    /// </summary>
    internal SkBuffPool SkPagePool => _pagePool ??= new SkBuffPool(0x10000, prealloc: 2, maxBuffers: 2048);
    private SkBuffPool? _pagePool;

    /// <summary>
    /// Heads of send-queue segments whose data is a fragment of a socket's page: headroom only, one
    /// fragment. Created on first use.
    /// </summary>
    internal SkBuffPool SkbFragPool => _fragPool ??= new SkBuffPool(SkBuffPool.MaxHeader, prealloc: 64, maxBuffers: 1 << 16, maxFrags: 1);
    private SkBuffPool? _fragPool;

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

    /// <summary>The registered devices in ifindex order (the namespace's dev_base_head list).</summary>
    public IReadOnlyList<NetDevice> Devices => _devices;

    /// <summary>The current time of <see cref="Clock"/>, in nanoseconds.</summary>
    public long NowNs => Clock.NowNs;

    /// <summary>
    /// netstamp_needed_key: set once a socket of this namespace asks for receive timestamps, from
    /// then on every received frame is stamped on arrival. Linux counts the sockets and turns the
    /// stamping off again; here it stays on (one clock read per frame), which spares tracking every
    /// way a socket can go away.
    /// </summary>
    internal bool NetstampNeeded;

    /// <summary>CLOCK_REALTIME minus the namespace's clock, taken once: turns a <see cref="NowNs"/> reading into wall-clock time for timestamps handed to applications (SO_TIMESTAMP).</summary>
    internal readonly long RealtimeOffsetNs;

    /// <summary>The last socket inode number and sock cookie handed out (get_next_ino()'s and sock_gen_cookie()'s counters, system-wide in Linux, per stack here).</summary>
    internal long LastIno, LastCookie;
    /// <summary>Free BSD sockets ("sock_inode_cache"): a descriptor's socket comes back when its last descriptor closes.</summary>
    internal readonly KmemCache<BsdSocket> SockInodeCache = new("sock_inode_cache", 1024);

    /// <summary>Frees a buffer and counts why it was dropped.</summary>
    /// <remarks>Mirrors net/core/skbuff.c: kfree_skb_reason(). Returns NET_RX_DROP for tail calls.</remarks>
    public int KfreeSkbReason(SkBuff skb, SkbDropReason reason)
    {
        Mib.Drops[reason]++;
        skb.Free();
        return Dev.NetRxDrop;
    }

    /// <summary>Registers a handler for the EtherType of <paramref name="pt"/>: received frames of that type go to it. 0, or -EEXIST when the type already has one.</summary>
    /// <remarks>Mirrors net/core/dev.c: dev_add_pack(). One handler per EtherType; a second replaces the first only after dev_remove_pack.</remarks>
    public int DevAddPack(PacketType pt)
    {
        lock (SyncRoot)
        {
            if (_ptypeBase.ContainsKey(pt.Type)) return -Errno.EEXIST;
            _ptypeBase[pt.Type] = pt;
            return 0;
        }
    }

    /// <summary>Unregisters <paramref name="pt"/>, if it is the handler registered for its EtherType.</summary>
    /// <remarks>Mirrors dev_remove_pack().</remarks>
    public void DevRemovePack(PacketType pt)
    {
        lock (SyncRoot)
        {
            if (_ptypeBase.TryGetValue(pt.Type, out var cur) && cur == pt) _ptypeBase.Remove(pt.Type);
        }
    }

    internal PacketType? PtypeLookup(ushort type) => _ptypeBase.TryGetValue(type, out var pt) ? pt : null;

    /// <summary>
    /// Registers and brings up a device (register_netdevice + dev_open) and tells the notifiers
    /// (NETDEV_UP). The IPv4 layer's <c>AddDevice(dev, address, prefixLen)</c> also gives it an address.
    /// </summary>
    public void AddDevice(NetDevice dev)
    {
        lock (SyncRoot)
        {
            if (dev.Net is not null) throw new InvalidOperationException($"{dev.Name} is already registered");
            dev.Net = this;
            dev.IfIndex = _devices.Count + 1;
            _devices.Add(dev);
            dev.Open();
            dev.IsUp = true;
            CallNetdeviceNotifiers(NetdevEvent.Up, dev);
        }
        _softirq.DeviceAdded(dev);
    }

    /// <summary>
    /// Brings a registered device up or down (`ip link set DEV up|down`): dev_open() or dev_close(),
    /// then NETDEV_UP or NETDEV_DOWN to the notifiers (IPv4 restores or drops the device's routes and
    /// neighbours). Nothing happens when the device is already in that state. A down device drops
    /// what it receives and refuses to send (ENETDOWN).
    /// </summary>
    /// <remarks>Mirrors net/core/dev.c: dev_change_flags(IFF_UP) -> __dev_open() / __dev_close() + call_netdevice_notifiers().</remarks>
    internal void DevChangeUp(NetDevice dev, bool up)
    {
        lock (SyncRoot)
        {
            if (dev.Net != this) throw new InvalidOperationException($"{dev.Name} is not registered here");
            if (dev.IsUp == up) return;
            if (up)
            {
                dev.Open();
                dev.IsUp = true;
                CallNetdeviceNotifiers(NetdevEvent.Up, dev);
            }
            else
            {
                dev.IsUp = false;
                dev.Stop();
                CallNetdeviceNotifiers(NetdevEvent.Down, dev);
            }
        }
    }

    /// <summary>Finds the device that owns a local address, or null.</summary>
    public NetDevice? DevByAddress(uint addr)
    {
        var devs = _devices;
        if (addr == 0) return null;
        for (int i = 0; i < devs.Count; i++) if (devs[i].HasIpv4Address(addr)) return devs[i];
        return null;
    }

    /// <summary>True if the address is one of ours (inet_addr_type() == RTN_LOCAL).</summary>
    public bool IsLocalAddress(uint addr) => DevByAddress(addr) is not null;

    /// <summary>The device with interface index <paramref name="ifindex"/>, or null.</summary>
    /// <remarks>Mirrors net/core/dev.c: __dev_get_by_index().</remarks>
    public NetDevice? DevGetByIndex(int ifindex)
    {
        foreach (var d in _devices) if (d.IfIndex == ifindex) return d;
        return null;
    }

    /// <summary>The device named <paramref name="name"/>, or null.</summary>
    /// <remarks>Mirrors net/core/dev.c: __dev_get_by_name().</remarks>
    public NetDevice? DevGetByName(string name)
    {
        foreach (var d in _devices) if (d.Name == name) return d;
        return null;
    }

    /// <summary>
    /// Does all pending work synchronously on the caller's thread: drains each device's receive
    /// queue and runs due timers, until nothing is left. For tests and single-threaded hosts
    /// (the smoltcp `iface.poll()` style). Returns how many frames and timers were processed.
    /// </summary>
    public int Poll(int budget = int.MaxValue)
    {
        lock (SyncRoot)
        {
            bool was = _softirq.EnterSoftirq();
            bool batch = InXmitBatch;
            InXmitBatch = true;
            try { return PollLocked(budget); }
            finally
            {
                // What the processing sent leaves before the lock is released, as after a receive thread's batch.
                InXmitBatch = batch;
                if (!batch) XmitFlush();
                _softirq.LeaveSoftirq(was);
            }
        }
    }

    private int PollLocked(int budget)
    {
        int work = 0;
        bool progress = true;
        while (progress && work < budget)
        {
            progress = false;
            foreach (var dev in _devices)
            {
                while (work < budget && dev.PollReceive(SkbPool) is { } skb)
                {
                    skb.Dev = dev;
                    Dev.NetifReceiveSkb(skb);
                    work++;
                    progress = true;
                }
            }
            int t = Timers.RunExpired(Clock.NowNs);
            if (t > 0) { work += t; progress = true; }
        }
        return work;
    }

    /// <summary>
    /// True while a receive thread's batch runs (<see cref="SoftIrq"/>): a protocol may defer work
    /// to the batch's end (<see cref="TryDeferRelease"/>), as Linux defers it while a socket is owned
    /// by its user. Guarded by <see cref="SyncRoot"/>.
    /// </summary>
    internal bool InRxBatch;
    private readonly Sock[] _releaseDeferred = new Sock[SoftIrq.NapiWeight];
    private int _releaseDeferredCount;

    /// <summary>
    /// Inside a receive batch, queues <paramref name="sk"/>'s <see cref="Proto.ReleaseCb"/> for the
    /// batch's end, holding a reference until then; false outside one or when the queue is full
    /// (one entry per socket and batch: the caller flags the socket). Call with the stack lock held.
    /// </summary>
    internal bool TryDeferRelease(Sock sk)
    {
        if (!InRxBatch || _releaseDeferredCount == _releaseDeferred.Length) return false;
        sk.SockHold();
        _releaseDeferred[_releaseDeferredCount++] = sk;
        return true;
    }

    /// <summary>The end of a receive batch: each deferred socket's <see cref="Proto.ReleaseCb"/>, in order, and its reference dropped.</summary>
    /// <remarks>Mirrors release_sock() calling sk_prot->release_cb().</remarks>
    internal void RunDeferredRelease()
    {
        // Emptied first: should a callback throw, the next batch starts with no stale entry (the
        // sockets left unreleased then only miss their cache, their references not dropped).
        int n = _releaseDeferredCount;
        _releaseDeferredCount = 0;
        for (int i = 0; i < n; i++)
        {
            var sk = _releaseDeferred[i];
            _releaseDeferred[i] = null!;
            try { sk.Prot.ReleaseCb(sk); }
            finally { sk.SockPut(); }
        }
    }

    /// <summary>How deep the lock owner's <see cref="SyscallLock"/>s nest (guarded by <see cref="SyncRoot"/>; set aside while a call sleeps).</summary>
    internal int SyscallDepth;

    /// <summary>
    /// True while the lock owner is inside a round that flushes the devices' transmit queues when it
    /// ends (a receive batch, a timer run): a driver may queue a frame (<see cref="XmitMore"/>)
    /// instead of writing it at once. Guarded by <see cref="SyncRoot"/>.
    /// </summary>
    internal bool InXmitBatch;

    /// <summary>The devices holding frames queued this round, to be written by <see cref="XmitFlush"/>; linked through <see cref="NetDevice.XmitPendingNext"/>.</summary>
    private NetDevice? _xmitPending;

    /// <summary>
    /// Whether a frame sent now may wait in its driver's queue until the end of the round: inside a
    /// system call (<see cref="SyscallLock"/>, which flushes when the outermost hold ends and before a
    /// call sleeps) or a receive or timer round of the softirq threads (which flush before they
    /// release the lock). Anything else (a bare lock hold) sends at once.
    /// </summary>
    /// <remarks>Mirrors netdev_xmit_more(): more frames follow, the doorbell waits for the last.</remarks>
    internal bool XmitMore => SyscallDepth > 0 || InXmitBatch;

    /// <summary>A driver queued frames on <paramref name="dev"/>: it is flushed at the end of this round. Call with the stack lock held.</summary>
    internal void XmitPendingAdd(NetDevice dev)
    {
        if (dev.XmitPendingQueued) return;
        dev.XmitPendingQueued = true;
        dev.XmitPendingNext = _xmitPending;
        _xmitPending = dev;
    }

    /// <summary>
    /// Writes every frame the drivers queued this round (one system call per device rather than one
    /// per frame). Call with the stack lock held, before it is released. Returns the frames written.
    /// </summary>
    /// <remarks>Mirrors the driver's doorbell write when the last skb of a batch goes out without xmit_more (e.g. virtnet's virtqueue_kick()).</remarks>
    internal int XmitFlush()
    {
        int sent = 0;
        while (_xmitPending is { } dev)
        {
            _xmitPending = dev.XmitPendingNext;
            dev.XmitPendingNext = null;
            dev.XmitPendingQueued = false;
            sent += dev.XmitFlushQueued();
        }
        return sent;
    }

    /// <summary>True while a receive thread runs a batch under the lock: inline completions are collected (<see cref="QueueInlineCompletion"/>).</summary>
    internal bool InlineCompletionsOpen;
    private SockWaiter? _inlineHead, _inlineTail;

    /// <summary>
    /// Collects a signalled waiter of a socket with <see cref="Sock.InlineCompletions"/> when the
    /// receive thread is the signaller (under the stack lock); false otherwise (the caller queues it
    /// to the thread pool). The receive thread completes the collected waiters after its batch, with
    /// the lock released (<see cref="SoftIrq"/>): a request/response server's continuation runs
    /// without waking a pool thread. Each waiter still holds its sock reference (taken when armed,
    /// dropped when its awaiter takes the result), so a collected waiter's sock is never recycled
    /// before its completion has run.
    /// </summary>
    internal bool QueueInlineCompletion(SockWaiter w)
    {
        if (!InlineCompletionsOpen) return false;
        w.NextInline = null;
        if (_inlineTail is null) _inlineHead = w;
        else _inlineTail.NextInline = w;
        _inlineTail = w;
        return true;
    }

    /// <summary>Takes the collected waiters (under the stack lock), oldest first, linked through <see cref="SockWaiter.NextInline"/>.</summary>
    internal SockWaiter? TakeInlineCompletions()
    {
        var head = _inlineHead;
        _inlineHead = _inlineTail = null;
        return head;
    }

    /// <summary>Receive threads that handed their device to a new thread because an inline continuation blocked (see <see cref="SoftIrq"/>); for tests and counters.</summary>
    internal int RxThreadHandoffs => _softirq.RxHandoffs;

    /// <summary>A send queued frames to <paramref name="dev"/>'s receive queue (the loopback device): the calling system call processes them before it returns (<see cref="SyscallLock"/>). Call with the stack lock held.</summary>
    /// <remarks>Mirrors __raise_softirq_irqoff(NET_RX_SOFTIRQ) in enqueue_to_backlog().</remarks>
    internal void RaiseNetRxSoftirq(NetDevice dev) => _softirq.RaiseNetRx(dev);

    /// <summary>Runs the receive work the calling thread's sends raised, unless softirq work is running already. Call with the stack lock held; returns the frames processed.</summary>
    /// <remarks>Mirrors kernel/softirq.c: do_softirq() when local_bh_enable() finds a softirq pending.</remarks>
    internal int DoSoftirq() => _softirq.DoSoftirq();

    /// <summary>
    /// When the earliest pending timer of this stack expires, in <see cref="Clock"/>'s nanoseconds
    /// (long.MaxValue when none is pending). A single-threaded host driving a <see cref="VirtualClock"/>
    /// (a simulator) jumps the clock to the earlier of this and its own next event, then calls
    /// <see cref="Poll"/>, instead of ticking.
    /// </summary>
    /// <remarks>Mirrors kernel/time/timer.c: get_next_timer_interrupt() (the timer base's next_expiry).</remarks>
    public long NextTimerExpiry
    {
        get { lock (SyncRoot) return Timers.NextExpiry; }
    }

    /// <summary>The receive and timer threads' state (for tests).</summary>
    internal SoftIrq Softirq => _softirq;

    /// <summary>Starts the receive and timer threads (the softirq context).</summary>
    public void Start() => _softirq.Start();

    /// <summary>Stops the threads; the namespace can still be polled by hand.</summary>
    public void Stop() => _softirq.Stop();

    /// <summary>Stops the threads, brings every device down and disposes it, then runs each pernet exit in reverse order (cleanup_net()); the exits run only once.</summary>
    public void Dispose()
    {
        Stop();
        lock (SyncRoot)
        {
            foreach (var d in _devices)
            {
                d.IsUp = false;
                d.Stop();
            }
        }
        foreach (var d in _devices) d.Dispose();
        lock (SyncRoot)
        {
            if (_exited) return;
            _exited = true;
            for (int i = _ops.Length - 1; i >= 0; i--) _ops[i].Exit(this); // cleanup_net(): ops_exit_list in reverse
            SkbCache.Close();
        }
    }
}
