using System.Runtime.ExceptionServices;
using NetStack.Core;
using NetStack.Ethernet;
using NetStack.Net;
using NetStack.Wire;
using static NetStack.Drivers.Interop.Libc;

namespace NetStack.Drivers;

/// <summary>
/// A device over a Linux TAP: the user-space side of drivers/net/tun.c. Every Ethernet frame the
/// kernel sends out of its TAP interface is read here, and every frame written here arrives on
/// the kernel's TAP interface as if from a wire. The file descriptor is non-blocking; the receive
/// thread sleeps in poll() on it together with an eventfd that <see cref="Kick"/> writes.
/// <para>
/// The TAP may live in another network namespace: <see cref="Attach"/> enters that namespace on a
/// short-lived thread (setns only moves the calling thread), opens /dev/net/tun and binds the fd
/// with TUNSETIFF there, then leaves. The fd stays bound to the TAP in the target namespace, so
/// the rest of the process never changes namespace.
/// </para>
/// <para>
/// Without offloads no vnet header (IFF_VNET_HDR) is used, so offloads are reset with TUNSETOFFLOAD 0:
/// flags left on a persistent TAP by an earlier user would otherwise make the kernel hand us GSO
/// frames. With offloads every frame read or written carries a struct virtio_net_hdr, and the
/// kernel may hand the stack TCP super-frames of up to 64 KiB with a partial checksum, as it
/// hands a virtio-net guest (drivers/net/virtio_net.c is the model for the receive side).
/// </para>
/// </summary>
public sealed unsafe partial class TapDevice : NetDevice
{
    private int _fd;
    private int _eventFd;
    private volatile bool _disposed;
    /// <summary>A buffer taken from the pool whose read found nothing; kept for the next poll so an idle poll costs no pool traffic.</summary>
    private SkBuff? _spare;
    /// <summary>Where a frame goes when the pool is exhausted: it must still leave the kernel's queue, and is counted as dropped.</summary>
    private byte[]? _discard;
    /// <summary>With offloads: the 64 KiB buffer the next read goes into (a frame that fits a frame-sized buffer is copied out, so this one stays).</summary>
    private SkBuff? _spareLarge;
    private bool _rxRingFilled;
    /// <summary>With offloads: the segments of a super-frame segmented in software, not yet handed up.</summary>
    private readonly SkBuffQueue _rxSegs = new();

    /// <summary>
    /// Frame-sized segments cut in software from super-frames that arrived while the large pool
    /// was spent (<see cref="PollReceiveVnetSegment"/>): how often receive degraded instead of stalling.
    /// </summary>
    internal long RxSoftSegmented { get; private set; }

    /// <summary>TSO super-frames written (the kernel segments them): how many frames left larger than the MTU.</summary>
    internal long TxGsoFrames { get; private set; }

    /// <summary>GSO super-frames the kernel handed over (gso_type TCPV4 or TCPV6 in the vnet header), taken whole or segmented in software.</summary>
    internal long RxGsoFrames { get; private set; }
    /// <summary>Large buffers made ready on the first offload read (1 MiB of the large pool's 8).</summary>
    private const int RxRingLargeBuffers = 16;

    private TapDevice(string name, MacAddress mac, int mtu, int fd, int eventFd, string ifName, string? netns, bool created, bool offload)
        : base(name, mac, mtu)
    {
        Offload = offload;
        // NETIF_F_TSO: a TAP with a vnet header takes super-frames and segments them in the kernel.
        FeatureTso = offload;
        // NETIF_F_SG: StartXmit writes a frame's fragments with one writev.
        FeatureSg = true;
        Eth.EtherSetup(this);
        _fd = fd;
        _eventFd = eventFd;
        IfName = ifName;
        NamespaceName = netns;
        Created = created;
    }

    /// <summary>The TAP interface's name on the kernel side.</summary>
    public string IfName { get; }
    /// <summary>The named network namespace (/var/run/netns/NAME) holding the TAP, or null for the process's own.</summary>
    public string? NamespaceName { get; }
    /// <summary>True if <see cref="Attach"/> created the TAP (it then disappears when this device is disposed).</summary>
    public bool Created { get; }
    /// <summary>
    /// True if the TAP was opened with a vnet header and TUNSETOFFLOAD TUN_F_CSUM | TUN_F_TSO4 |
    /// TUN_F_TSO6: the kernel then sends TCP super-frames (GSO), over IPv4 and IPv6, with partial checksums.
    /// </summary>
    public bool Offload { get; }

    /// <summary>The TAP's file descriptor (non-blocking), for a frame copier that reads and writes whole frames itself (`netstack bridge`); -1 once disposed.</summary>
    internal int Fd => _fd;

    /// <summary>
    /// Opens the TAP <paramref name="ifName"/> in the network namespace <paramref name="netns"/>
    /// (null: the process's own), creating it when missing if <paramref name="createIfMissing"/>,
    /// resets its offloads and brings its kernel side up if it is down.
    /// Throws <see cref="ErrnoException"/> with the errno and a one-line reason: not root (EPERM),
    /// no /dev/net/tun (ENOENT), TAP busy (EBUSY), namespace or interface missing (ENOENT / ENODEV).
    /// </summary>
    /// <remarks>Mirrors what tun_set_iff() expects from user space (Documentation/networking/tuntap.rst).</remarks>
    /// <param name="ifName">The TAP interface's name on the kernel side.</param>
    /// <param name="mac">The stack's hardware address on this device.</param>
    /// <param name="netns">The named network namespace holding the TAP, or null for the process's own.</param>
    /// <param name="createIfMissing">Create the TAP when there is none of that name.</param>
    /// <param name="deviceName">The device's name in the stack (default: <paramref name="ifName"/>).</param>
    /// <param name="offload">Open with IFF_VNET_HDR and take checksum and TCP (IPv4 and IPv6) segmentation offloads (see <see cref="Offload"/>).</param>
    public static TapDevice Attach(string ifName, MacAddress mac, string? netns = null, bool createIfMissing = true, string? deviceName = null, bool offload = false)
    {
        ValidateIfName(ifName);
        int eventFd = EventFd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (eventFd < 0) throw Error(LastErrno, "eventfd");
        try
        {
            var (fd, mtu, created) = RunInNamespace(netns, () => OpenTap(ifName, netns, createIfMissing, offload));
            return new TapDevice(deviceName ?? ifName, mac, mtu, fd, eventFd, ifName, netns, created, offload);
        }
        catch
        {
            Close(eventFd);
            throw;
        }
    }

    /// <summary>True if the network namespace exists and holds an interface named <paramref name="ifName"/> (any type).</summary>
    public static bool InterfaceExists(string? netns, string ifName)
    {
        ValidateIfName(ifName);
        if (netns is not null && !File.Exists(NetnsPath(netns))) return false;
        return RunInNamespace(netns, () =>
        {
            int sock = OpenInetSocket();
            try
            {
                var ifr = Ifreq.ForName(ifName);
                if (Ioctl(sock, SIOCGIFFLAGS, &ifr) == 0) return true;
                int err = LastErrno;
                return err == Errno.ENODEV ? false : throw Error(err, $"SIOCGIFFLAGS {ifName}");
            }
            finally { Close(sock); }
        });
    }

    /// <summary>The path `ip netns` uses for a named namespace.</summary>
    public static string NetnsPath(string netns) => "/var/run/netns/" + netns;

    /// <summary>Runs <paramref name="body"/> on a fresh thread that has entered <paramref name="netns"/> (or on a fresh thread unchanged when null).</summary>
    private static T RunInNamespace<T>(string? netns, Func<T> body)
    {
        if (netns is not null && (netns.Length == 0 || netns.Contains('/') || netns is "." or ".."))
            throw new ErrnoException(Errno.EINVAL, $"bad network namespace name '{netns}'");
        T result = default!;
        ExceptionDispatchInfo? error = null;
        var t = new Thread(() =>
        {
            try { result = InNamespace(netns, body); }
            catch (Exception e) { error = ExceptionDispatchInfo.Capture(e); }
        }) { Name = "netstack-setns", IsBackground = true };
        t.Start();
        t.Join();
        error?.Throw();
        return result;
    }

    private static T InNamespace<T>(string? netns, Func<T> body)
    {
        if (netns is null) return body();
        // /proc/thread-self: setns() moves only this thread, so this thread's namespace is what we return to.
        int orig = Interop.Libc.Open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        if (orig < 0) throw Error(LastErrno, "open /proc/thread-self/ns/net");
        int target = -1;
        try
        {
            target = Interop.Libc.Open(NetnsPath(netns), O_RDONLY | O_CLOEXEC);
            if (target < 0)
            {
                int err = LastErrno;
                throw err == Errno.ENOENT
                    ? new ErrnoException(err, $"network namespace '{netns}' does not exist (create it with: sudo ./setup-tap.sh --ns {netns})")
                    : Error(err, $"open {NetnsPath(netns)}");
            }
            if (SetNs(target, CLONE_NEWNET) < 0)
            {
                int err = LastErrno;
                throw err == Errno.EPERM
                    ? new ErrnoException(err, $"not permitted to enter network namespace '{netns}': run as root (needs CAP_SYS_ADMIN and CAP_NET_ADMIN)")
                    : Error(err, $"setns {netns}");
            }
            try { return body(); }
            finally
            {
                // The thread ends right after, but leave it where it came from anyway.
                SetNs(orig, CLONE_NEWNET);
            }
        }
        finally
        {
            if (target >= 0) Close(target);
            Close(orig);
        }
    }

    /// <summary>Runs inside the target namespace: open /dev/net/tun, TUNSETIFF, TUNSETOFFLOAD 0, link up, read the MTU.</summary>
    private static (int Fd, int Mtu, bool Created) OpenTap(string ifName, string? netns, bool createIfMissing, bool offload)
    {
        string where = netns is null ? "the current network namespace" : $"network namespace '{netns}'";
        int sock = OpenInetSocket();
        int fd = -1;
        try
        {
            var ifr = Ifreq.ForName(ifName);
            bool exists = Ioctl(sock, SIOCGIFFLAGS, &ifr) == 0;
            if (!exists && LastErrno != Errno.ENODEV) throw Error(LastErrno, $"SIOCGIFFLAGS {ifName}");
            if (!exists && !createIfMissing)
                throw new ErrnoException(Errno.ENODEV, $"no interface '{ifName}' in {where} (create it with: sudo ./setup-tap.sh{(netns is null ? " --root-ns" : " --ns " + netns)} --tap {ifName})");

            fd = Interop.Libc.Open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
            if (fd < 0)
            {
                int err = LastErrno;
                throw err switch
                {
                    Errno.ENOENT or Errno.ENODEV or Errno.ENXIO => new ErrnoException(err, "/dev/net/tun is missing: this kernel or container has no TUN/TAP support (try: modprobe tun)"),
                    Errno.EACCES or Errno.EPERM => new ErrnoException(err, "permission denied opening /dev/net/tun: run as root (needs CAP_NET_ADMIN)"),
                    _ => Error(err, "open /dev/net/tun"),
                };
            }

            var req = Ifreq.ForName(ifName);
            req.Flags = (short)(IFF_TAP | IFF_NO_PI | (offload ? IFF_VNET_HDR : 0));
            if (Ioctl(fd, TUNSETIFF, &req) < 0)
            {
                int err = LastErrno;
                throw err switch
                {
                    Errno.EBUSY => new ErrnoException(err, $"TAP '{ifName}' in {where} is busy: another file descriptor (another netstack?) is attached to it"),
                    Errno.EPERM => new ErrnoException(err, $"not permitted to attach TAP '{ifName}' in {where}: run as root, or create it for your user (ip tuntap add {ifName} mode tap user $USER)"),
                    Errno.EINVAL => new ErrnoException(err, $"'{ifName}' in {where} is not a single-queue TAP device (a TUN, a multi_queue TAP, or another kind of interface)"),
                    _ => Error(err, $"TUNSETIFF {ifName}"),
                };
            }
            if (offload)
            {
                // set_offload() in tun.c: TUN_F_CSUM is what TSO needs; without it the kernel never sends GSO frames.
                int hdrSize = VirtioNetHdr.Size;
                if (Ioctl(fd, TUNSETVNETHDRSZ, (nuint)(&hdrSize)) < 0) throw Error(LastErrno, $"TUNSETVNETHDRSZ {ifName}");
                // TUN_F_TSO6 too, or the kernel cuts IPv6 TCP into MSS frames before the TAP (NETIF_F_TSO6).
                if (Ioctl(fd, TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) < 0) throw Error(LastErrno, $"TUNSETOFFLOAD {ifName}");
            }
            else if (Ioctl(fd, TUNSETOFFLOAD, 0) < 0) throw Error(LastErrno, $"TUNSETOFFLOAD {ifName}");

            if (!exists)
            {
                // A TAP we create ourselves gets the queue length setup-tap.sh gives (1000 drops under bulk TCP).
                var q = Ifreq.ForName(ifName);
                q.IntValue = 10000;
                Ioctl(sock, SIOCSIFTXQLEN, &q);
            }
            var flags = Ifreq.ForName(ifName);
            if (Ioctl(sock, SIOCGIFFLAGS, &flags) < 0) throw Error(LastErrno, $"SIOCGIFFLAGS {ifName}");
            if ((flags.Flags & IFF_UP) == 0)
            {
                flags.Flags |= IFF_UP;
                if (Ioctl(sock, SIOCSIFFLAGS, &flags) < 0) throw Error(LastErrno, $"bringing {ifName} up (SIOCSIFFLAGS)");
            }
            var mtu = Ifreq.ForName(ifName);
            if (Ioctl(sock, SIOCGIFMTU, &mtu) < 0) throw Error(LastErrno, $"SIOCGIFMTU {ifName}");
            return (fd, mtu.IntValue, !exists);
        }
        catch
        {
            if (fd >= 0) Close(fd);
            throw;
        }
        finally { Close(sock); }
    }

    private static int OpenInetSocket()
    {
        int sock = Socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        return sock >= 0 ? sock : throw Error(LastErrno, "socket(AF_INET, SOCK_DGRAM)");
    }

    private static void ValidateIfName(string ifName)
    {
        if (ifName.Length is 0 or >= IFNAMSIZ || ifName.Contains('/') || ifName.Any(char.IsWhiteSpace))
            throw new ErrnoException(Errno.EINVAL, $"bad interface name '{ifName}' (1 to {IFNAMSIZ - 1} characters, no '/' or spaces)");
    }

    private static ErrnoException Error(int errno, string what) =>
        new(errno, $"{what} failed: {StrError(errno)} ({Errno.Name(errno)})");

    /// <summary>Reads one frame (non-blocking) into a pooled buffer; null when the TAP has nothing pending.</summary>
    /// <remarks>Mirrors the user side of tun_do_read(): one read() returns exactly one frame.</remarks>
    protected internal override SkBuff? PollReceive(SkBuffPool pool)
    {
        if (_disposed) return null;
        if (Offload) return PollReceiveVnet(pool);
        var skb = _spare ?? NapiAllocSkb(pool);
        _spare = null;
        if (skb is null)
        {
            DropOneFrame();
            return null;
        }
        var buf = skb.Buffer;
        nint n;
        fixed (byte* p = buf) n = Read(_fd, p, buf.Length);
        if (n <= 0)
        {
            // EAGAIN: nothing pending. EIO/EBADFD would mean the TAP went away; count it and let
            // the receive loop carry on (it polls with a timeout, so this cannot spin hot).
            if (n < 0 && LastErrno is not (Errno.EAGAIN or Errno.EINTR)) Stats.RxErrors++;
            _spare = skb;
            return null;
        }
        if (n == buf.Length)
        {
            // A frame that fills the buffer may have been cut short (tun copies what fits): rx_length_errors.
            Stats.RxErrors++;
            Stats.RxDropped++;
            _spare = skb;
            return null;
        }
        skb.Put((int)n);
        // The charge a kernel receiving this frame from its TAP would make, so the windows TCP
        // derives from truesize are the kernel's.
        skb.SetTunTruesize();
        return skb;
    }

    /// <summary>
    /// With a vnet header: reads one frame (up to a 64 KiB GSO super-frame) into a large buffer,
    /// copies it into a frame-sized buffer when it fits one (so small frames do not pin 64 KiB
    /// each), and applies the header. Null when nothing is pending or the frame was dropped.
    /// </summary>
    /// <remarks>Mirrors receive_buf() of drivers/net/virtio_net.c: the big buffer, then virtio_net_hdr_to_skb().</remarks>
    private SkBuff? PollReceiveVnet(SkBuffPool pool)
    {
        // Segments of a super-frame cut in software go up first, in order.
        if (_rxSegs.Dequeue() is { } seg) return seg;
        if (!_rxRingFilled && Net is { } owner)
        {
            // The receive ring of big buffers a virtio-net driver fills when it opens: enough for a
            // full window of super-frames in flight, made once rather than one by one under load.
            owner.LargeSkbPool.EnsureFree(RxRingLargeBuffers);
            _rxRingFilled = true;
        }
        var large = _spareLarge ?? Net?.LargeSkbPool.Alloc();
        _spareLarge = null;
        if (large is null) return PollReceiveVnetSegment(pool);
        var buf = large.Buffer;
        nint n;
        fixed (byte* p = buf) n = Read(_fd, p, buf.Length);
        if (n <= 0)
        {
            if (n < 0 && LastErrno is not (Errno.EAGAIN or Errno.EINTR)) Stats.RxErrors++;
            _spareLarge = large;
            return null;
        }
        if (n == buf.Length || n < VirtioNetHdr.Size + EthernetHeader.Length)
        {
            // Cut short, or no room for a header and an Ethernet header: rx_length_errors.
            Stats.RxErrors++;
            Stats.RxDropped++;
            _spareLarge = large;
            return null;
        }
        var hdr = VirtioNetHdr.Read(buf);
        int len = (int)n - VirtioNetHdr.Size;
        SkBuff skb;
        if (len <= pool.BufferSize)
        {
            _spareLarge = large;
            var small = pool.Alloc();
            if (small is null)
            {
                Stats.RxDropped++;
                if (Net is { } net) net.Mib.Drops[SkbDropReason.NoBuffers]++;
                return null;
            }
            buf.AsSpan(VirtioNetHdr.Size, len).CopyTo(small.Put(len));
            skb = small;
        }
        else
        {
            skb = large;
            skb.Reserve(VirtioNetHdr.Size);
            skb.Put(len);
        }
        if (!VirtioNetHdrToSkb(skb, in hdr))
        {
            Stats.RxErrors++;
            Stats.RxDropped++;
            skb.Free();
            return null;
        }
        if (skb.GsoSize != 0) RxGsoFrames++;
        return skb;
    }

    /// <summary>
    /// The large pool is spent (super-frames held in receive and out-of-order queues): the frame is
    /// read into the driver's one scratch buffer and a TCPv4 or TCPv6 super-frame is segmented in software
    /// into frame-sized buffers, queued on <see cref="_rxSegs"/> and handed up one per poll. So
    /// receive degrades to the plain path's cost instead of stalling: the retransmission that
    /// fills a hole (the kernel retransmits several MSS as one super-frame) still gets in, the
    /// out-of-order queue drains and gives its large buffers back. A frame that fits a
    /// frame-sized buffer is copied into one; anything else is dropped (rx_dropped, NoBuffers).
    /// </summary>
    /// <remarks>Mirrors validate_xmit_skb() -> skb_gso_segment() on a device without the feature, here at the receiving end.</remarks>
    private SkBuff? PollReceiveVnetSegment(SkBuffPool pool)
    {
        var buf = _discard ??= GC.AllocateUninitializedArray<byte>(0x10000 + 256, pinned: true);
        nint n;
        fixed (byte* p = buf) n = Read(_fd, p, buf.Length);
        if (n <= 0)
        {
            if (n < 0 && LastErrno is not (Errno.EAGAIN or Errno.EINTR)) Stats.RxErrors++;
            return null;
        }
        if (n == buf.Length || n < VirtioNetHdr.Size + EthernetHeader.Length)
        {
            Stats.RxErrors++;
            Stats.RxDropped++;
            return null;
        }
        var hdr = VirtioNetHdr.Read(buf);
        int len = (int)n - VirtioNetHdr.Size;
        var frame = buf.AsSpan(VirtioNetHdr.Size, len);
        if (len <= pool.BufferSize)
        {
            var skb = _spare ?? pool.Alloc();
            _spare = null;
            if (skb is null)
            {
                CountNoBuffers();
                return null;
            }
            frame.CopyTo(skb.Put(len));
            if (!VirtioNetHdrToSkb(skb, in hdr))
            {
                Stats.RxErrors++;
                Stats.RxDropped++;
                skb.Free();
                return null;
            }
            return skb;
        }
        // A header the driver must refuse is refused here too (a scratch buffer stands in for the skb).
        byte gsoType = (byte)(hdr.GsoType & ~VirtioNetHdr.GsoEcn);
        if (gsoType is not (VirtioNetHdr.GsoTcpV4 or VirtioNetHdr.GsoTcpV6) || hdr.GsoSize == 0 || (hdr.Flags & VirtioNetHdr.FlagNeedsCsum) == 0
            || hdr.CsumStart + hdr.CsumOffset + 2 > len
            || EthernetHeader.Create(frame).EtherType != (gsoType == VirtioNetHdr.GsoTcpV4 ? EthP.IP : EthP.IPV6))
        {
            Stats.RxErrors++;
            Stats.RxDropped++;
            return null;
        }
        int segs = SkbGso.TcpGsoSegment(frame, hdr.GsoSize, pool, _rxSegs);
        if (segs < 0)
        {
            if (segs == -Errno.ENOMEM) CountNoBuffers();
            else
            {
                Stats.RxErrors++;
                Stats.RxDropped++;
            }
            return null;
        }
        RxGsoFrames++;
        RxSoftSegmented += segs;
        return _rxSegs.Dequeue();
    }

    private void CountNoBuffers()
    {
        Stats.RxDropped++;
        if (Net is { } net) net.Mib.Drops[SkbDropReason.NoBuffers]++;
    }

    /// <summary>
    /// Applies a received vnet header: a partial checksum (NEEDS_CSUM) counts as verified, as
    /// CHECKSUM_PARTIAL does on receive (skb_csum_unnecessary), so does DATA_VALID
    /// (CHECKSUM_UNNECESSARY); a TCPv4 or TCPv6 GSO frame is taken whole, as GRO hands TCP one skb,
    /// and keeps its gso_size for TCP's rcv_mss and segment counts. False for a header the driver
    /// must refuse (the frame is dropped as an rx error).
    /// </summary>
    /// <remarks>Mirrors virtio_net_hdr_to_skb() (include/linux/virtio_net.h), for the offloads we asked for.</remarks>
    internal static bool VirtioNetHdrToSkb(SkBuff skb, in VirtioNetHdr hdr)
    {
        if ((hdr.Flags & VirtioNetHdr.FlagNeedsCsum) != 0)
        {
            // skb_partial_csum_set(): the 16-bit checksum must lie inside the frame.
            if (hdr.CsumStart + hdr.CsumOffset + 2 > skb.Len) return false;
            skb.CsumVerified = true;
        }
        else if ((hdr.Flags & VirtioNetHdr.FlagDataValid) != 0)
            skb.CsumVerified = true;
        byte gso = (byte)(hdr.GsoType & ~VirtioNetHdr.GsoEcn);
        if (gso == VirtioNetHdr.GsoNone) return true;
        // Only TCP was offered (TUN_F_TSO4 | TUN_F_TSO6); anything else, or no segment size, is refused.
        if (gso is not (VirtioNetHdr.GsoTcpV4 or VirtioNetHdr.GsoTcpV6) || hdr.GsoSize == 0 || (hdr.Flags & VirtioNetHdr.FlagNeedsCsum) == 0) return false;
        // virtio_net_hdr_match_proto(): the frame's EtherType must be the gso_type's network protocol.
        if (!EthernetHeader.TryCreate(skb.DataSpan, out var eth)) return false;
        if (eth.EtherType != (gso == VirtioNetHdr.GsoTcpV4 ? EthP.IP : EthP.IPV6)) return false;
        skb.GsoType = gso;
        skb.GsoSize = hdr.GsoSize;
        return true;
    }

    /// <summary>The pool is exhausted: the frame is read into a scratch buffer and counted as dropped (rx_dropped).</summary>
    private void DropOneFrame()
    {
        var scratch = _discard ??= GC.AllocateUninitializedArray<byte>(0x10000 + 256, pinned: true);
        nint n;
        fixed (byte* p = scratch) n = Read(_fd, p, scratch.Length);
        if (n > 0)
        {
            Stats.RxDropped++;
            if (Net is { } net) net.Mib.Drops[SkbDropReason.NoBuffers]++;
        }
    }

    /// <summary>Sleeps in poll() on the TAP fd and the kick eventfd.</summary>
    public override bool WaitForWork(int timeoutMs)
    {
        if (_disposed) return false;
        if (!_rxSegs.IsEmpty) return true;
        var fds = stackalloc PollFd[2];
        fds[0] = new PollFd { Fd = _fd, Events = POLLIN };
        fds[1] = new PollFd { Fd = _eventFd, Events = POLLIN };
        int r = 0;
        if (BusyPollUs > 0 && timeoutMs != 0)
        {
            // Busy polling (net.core.busy_poll): ask without sleeping until a frame is there or the
            // budget is spent, so a request/response peer does not pay the scheduler's wake-up.
            long until = System.Diagnostics.Stopwatch.GetTimestamp() + BusyPollUs * System.Diagnostics.Stopwatch.Frequency / 1_000_000;
            do r = Poll(fds, 2, 0);
            while (r == 0 && !_disposed && System.Diagnostics.Stopwatch.GetTimestamp() < until);
        }
        if (r == 0) r = Poll(fds, 2, timeoutMs);
        if (r <= 0) return false; // timeout or EINTR
        if ((fds[1].REvents & POLLIN) != 0)
        {
            ulong drained;
            Read(_eventFd, (byte*)&drained, sizeof(ulong));
        }
        if ((fds[0].REvents & (POLLERR | POLLHUP | POLLNVAL)) != 0 && (fds[0].REvents & POLLIN) == 0)
        {
            // The TAP went away under us (its namespace was deleted, or the interface): tun_chr_poll
            // answers EPOLLERR from now on. Sleep instead of spinning; the owner decides what to do.
            Thread.Sleep(timeoutMs < 0 ? 200 : Math.Min(timeoutMs, 200));
            return false;
        }
        return true;
    }

    /// <summary>Wakes <see cref="WaitForWork"/>: an eventfd write.</summary>
    public override void Kick()
    {
        if (_disposed) return;
        ulong one = 1;
        Write(_eventFd, (byte*)&one, sizeof(ulong));
    }

    /// <summary>
    /// Writes the frame to the TAP (the kernel receives it) and frees the buffer. EAGAIN or any
    /// error: dropped. A frame with fragments (a TSO super-frame whose payload is the send queue's
    /// segments) goes out with one writev of its pieces: the driver is scatter-gather (NETIF_F_SG).
    /// Inside a round that flushes when it ends (<see cref="NetNamespace.XmitMore"/>) the frame is
    /// queued on the transmit ring instead and written with the round's other frames in one
    /// io_uring_enter(); the buffer (and the pages its fragments reference) is kept until the
    /// kernel has completed the write.
    /// </summary>
    /// <remarks>Mirrors the user side of tun_get_user(): one write() is one frame (tun_chr_write_iter() takes an iovec).</remarks>
    protected internal override bool StartXmit(SkBuff skb)
    {
        if (_disposed)
        {
            skb.Free();
            return false;
        }
        if (Offload && skb.GsoSize != 0) TxGsoFrames++; // once per frame, however it is written
        if (Net is { XmitMore: true } net && TxRingQueue(net, skb)) return true;
        // Written at once: what the ring still holds unsubmitted goes first, so frames keep their order.
        if (_txRing is { Unsubmitted: > 0 }) XmitFlushQueued();
        nint n = WriteFrame(skb);
        // EAGAIN is a full queue (a drop, counted by the caller as tx_dropped); anything else is an error too.
        if (n < 0 && LastErrno != Errno.EAGAIN) Stats.TxErrors++;
        bool sent = n == skb.Len;
        ConsumeSkb(skb);
        return sent;
    }

    /// <summary>
    /// Frees a written frame into the namespace's softirq cache (transmits run under the stack lock),
    /// where the next transmit copy or received frame takes it without the pool's lock.
    /// </summary>
    /// <remarks>Mirrors napi_consume_skb() on a driver's transmit completion.</remarks>
    private void ConsumeSkb(SkBuff skb)
    {
        if (Net is { } net) net.SkbCache.Consume(skb);
        else skb.Free();
    }

    /// <summary>The pieces of an iovec for one frame: a vnet header and the head, then each fragment.</summary>
    private const int TxIovMax = 2 + SkBuff.MaxSkbFrags;

    /// <summary>
    /// Fills <paramref name="iov"/> (<see cref="TxIovMax"/> entries) with the frame: with offloads a
    /// virtio_net_hdr written into <paramref name="hdr"/> first (a TSO super-frame asks the kernel to
    /// segment it and complete its checksum; any other frame goes with a zero header, its checksums
    /// complete, as tun_get_user() reads it), then the head and the fragments. Returns the count.
    /// </summary>
    private int TxIovFill(SkBuff skb, IoVec* iov, byte* hdr)
    {
        int cnt = 0;
        if (Offload)
        {
            SkbGso.VirtioNetHdrFromSkb(skb).Write(new Span<byte>(hdr, VirtioNetHdr.Size));
            iov[cnt++] = new IoVec { Base = hdr, Len = VirtioNetHdr.Size };
        }
        // The buffers are pinned (pinned object heap): their addresses hold without fixed.
        iov[cnt++] = new IoVec { Base = PinnedAddress(skb.Buffer) + skb.Data, Len = (nuint)skb.HeadLen };
        var frags = skb.Frags;
        for (int i = 0; i < skb.NrFrags; i++)
        {
            ref readonly var f = ref frags![i];
            iov[cnt++] = new IoVec { Base = PinnedAddress(f.Page.Buffer) + f.Offset, Len = (nuint)f.Size };
        }
        return cnt;
    }

    /// <summary>Writes the frame now, one write() (or writev() of its pieces): the frame's bytes written, or -1 with errno.</summary>
    private nint WriteFrame(SkBuff skb)
    {
        if (!Offload && skb.NrFrags == 0) return Write(_fd, PinnedAddress(skb.Buffer) + skb.Data, skb.Len);
        var iov = stackalloc IoVec[TxIovMax];
        var hdr = stackalloc byte[VirtioNetHdr.Size];
        nint n = Writev(_fd, iov, TxIovFill(skb, iov, hdr));
        if (n > 0 && Offload) n -= VirtioNetHdr.Size;
        return n;
    }

    private static byte* PinnedAddress(byte[] pinned) =>
        (byte*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(pinned));

    /// <inheritdoc/>
    protected internal override void Stop()
    {
        _spare?.Free();
        _spare = null;
        _spareLarge?.Free();
        _spareLarge = null;
        while (_rxSegs.Dequeue() is { } seg) seg.Free();
    }

    /// <summary>Stops the device and closes its file descriptors, which detaches it from the TAP (a TAP this device created, not persistent, disappears).</summary>
    public override void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Stop();
        // Closing the fd detaches it from the TAP; a TAP we created (not persistent) disappears with it.
        TxRingClose();
        if (_fd >= 0) Close(_fd);
        if (_eventFd >= 0) Close(_eventFd);
        _fd = _eventFd = -1;
        base.Dispose();
    }
}
