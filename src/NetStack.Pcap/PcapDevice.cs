using System.Runtime.InteropServices;
using NetStack.Core;
using NetStack.Ethernet;
using NetStack.Wire;
using SharpPcap;
using SharpPcap.LibPcap;

namespace NetStack.Pcap;

/// <summary>
/// A driver for any existing Ethernet interface through libpcap (SharpPcap): the stack takes a
/// veth end or a bridge port the way it takes a TAP, with a MAC address of its own (the interface
/// is put in promiscuous mode and only its incoming direction is read, so the stack never sees its
/// own frames). The TAP driver stays the default and the fast path: libpcap hands every frame
/// through a capture header, so this driver allocates per frame where the TAP driver does not.
/// <para>
/// A packet socket sees frames as the link hands them over. On a veth pair, turn the offloads off
/// on the kernel's end (<c>ethtool -K PEER tx off tso off gso off</c>) and GRO on the end the
/// stack takes (<c>ethtool -K IFACE gro off</c>): otherwise TCP segments arrive with checksums
/// left for an offload engine (the stack drops them as corrupt) or as 64 KiB super-frames.
/// </para>
/// <code>
/// using var dev = PcapDevice.Attach("veth1", StackOptions.DefaultMac, netns: "lab");
/// net.AddDevice(dev, IPAddress.Parse("10.9.0.2"), 24);
/// </code>
/// </summary>
public sealed unsafe class PcapDevice : NetDevice
{
    private readonly LibPcapLiveDevice _pcap;
    private readonly int _selectFd;
    private readonly int _eventFd;
    private bool _disposed;
    /// <summary>Closing the handle waits for a receive or a send in progress (they may run on the stack's threads while Dispose is called on another).</summary>
    private readonly Lock _gate = new();

    private PcapDevice(string ifName, MacAddress mac, LibPcapLiveDevice pcap, int selectFd, int eventFd)
        : base(ifName, mac)
    {
        _pcap = pcap;
        _selectFd = selectFd;
        _eventFd = eventFd;
        Eth.EtherSetup(this);
    }

    /// <summary>
    /// Opens <paramref name="ifName"/> for the stack: in the network namespace
    /// <paramref name="netns"/> (/var/run/netns/NAME; null for the process's own), promiscuous,
    /// immediate mode, incoming frames only. Throws <see cref="ErrnoException"/> (ENODEV, EPERM...)
    /// with a one-line message when it cannot.
    /// </summary>
    public static PcapDevice Attach(string ifName, MacAddress mac, string? netns = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(ifName);
        LibPcapLiveDevice? pcap = null;
        Exception? error = null;
        // libpcap binds its packet socket to the interface of the calling thread's namespace: open
        // it on a thread that enters the namespace and is thrown away afterwards.
        var t = new Thread(() =>
        {
            try { pcap = OpenIn(ifName, netns); }
            catch (Exception e) { error = e; }
        }) { IsBackground = true, Name = "netstack-pcap-attach" };
        t.Start();
        t.Join();
        if (error is not null) throw error;
        int selectFd = Interop.PcapGetSelectableFd(pcap!.Handle.DangerousGetHandle());
        int eventFd = Interop.Eventfd(0, Interop.EFD_NONBLOCK | Interop.EFD_CLOEXEC);
        if (selectFd < 0 || eventFd < 0)
        {
            pcap.Close();
            throw new ErrnoException(Uapi.Errno.ENODEV, $"{ifName}: libpcap gives no selectable descriptor");
        }
        return new PcapDevice(ifName, mac, pcap, selectFd, eventFd) { Mtu = 1500 };
    }

    private static LibPcapLiveDevice OpenIn(string ifName, string? netns)
    {
        if (netns is not null)
        {
            string path = $"/var/run/netns/{netns}";
            int nsfd = Interop.Open(path, Interop.O_RDONLY | Interop.O_CLOEXEC);
            if (nsfd < 0) throw new ErrnoException(Marshal.GetLastPInvokeError(), $"network namespace {netns}: cannot open {path}");
            int r = Interop.Setns(nsfd, Interop.CLONE_NEWNET);
            int err = Marshal.GetLastPInvokeError();
            Interop.Close(nsfd);
            if (r < 0) throw new ErrnoException(err, $"network namespace {netns}: setns failed (needs root)");
        }
        // A fresh list: the cached LibPcapLiveDeviceList.Instance was taken in the process's namespace.
        var dev = LibPcapLiveDeviceList.New().FirstOrDefault(d => d.Name == ifName)
            ?? throw new ErrnoException(Uapi.Errno.ENODEV, $"no interface {ifName}" + (netns is null ? "" : $" in network namespace {netns}"));
        try
        {
            dev.Open(new DeviceConfiguration { Mode = DeviceModes.Promiscuous, Immediate = true, ReadTimeout = 1, Snaplen = 65535 });
        }
        catch (PcapException e)
        {
            throw new ErrnoException(Uapi.Errno.EPERM, $"{ifName}: {e.Message}");
        }
        dev.NonBlockingMode = true;
        Interop.PcapSetdirection(dev.Handle.DangerousGetHandle(), Interop.PCAP_D_IN);
        return dev;
    }

    /// <inheritdoc/>
    protected override SkBuff? PollReceive(SkBuffPool pool)
    {
        lock (_gate) return PollReceiveLocked(pool);
    }

    private SkBuff? PollReceiveLocked(SkBuffPool pool)
    {
        if (_disposed) return null;
        while (true)
        {
            var status = _pcap.GetNextPacket(out PacketCapture e);
            if (status != GetPacketStatus.PacketRead) return null;
            var data = e.Data;
            if (data.Length < EthernetHeaderLength) continue;
            // On some links libpcap still shows our own transmissions: never loop them back.
            if (MacAddress.Read(data.Slice(6, 6)) == DevAddr) continue;
            var skb = NapiAllocSkb(pool);
            if (skb is null)
            {
                Stats.RxDropped++;
                return null;
            }
            if (data.Length > pool.BufferSize)
            {
                skb.Free();
                Stats.RxErrors++;
                continue;
            }
            data.CopyTo(skb.Put(data.Length));
            return skb;
        }
    }

    private const int EthernetHeaderLength = 14;

    /// <inheritdoc/>
    public override bool WaitForWork(int timeoutMs)
    {
        if (Volatile.Read(ref _disposed)) return false;
        var fds = stackalloc Interop.PollFd[2];
        fds[0] = new Interop.PollFd { Fd = _selectFd, Events = Interop.POLLIN };
        fds[1] = new Interop.PollFd { Fd = _eventFd, Events = Interop.POLLIN };
        int n = Interop.Poll(fds, 2, timeoutMs);
        if (n > 0 && fds[1].Revents != 0)
        {
            ulong v;
            Interop.Read(_eventFd, &v, sizeof(ulong));
        }
        return n > 0;
    }

    /// <inheritdoc/>
    public override void Kick()
    {
        ulong one = 1;
        Interop.Write(_eventFd, &one, sizeof(ulong));
    }

    /// <inheritdoc/>
    protected override bool StartXmit(SkBuff skb)
    {
        try
        {
            lock (_gate)
            {
                if (_disposed) return false;
                _pcap.SendPacket(skb.DataSpan, null);
            }
            return true;
        }
        catch (PcapException)
        {
            Stats.TxErrors++;
            return false;
        }
        finally
        {
            skb.Free();
        }
    }

    /// <inheritdoc/>
    public override void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            _pcap.Close();
        }
        Kick();
        Interop.Close(_eventFd);
        base.Dispose();
    }
}
