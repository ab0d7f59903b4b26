using NetStack.Api;
using NetStack.Core;
using NetStack.Drivers;
using NetStack.Net;
using NetStack.Wire;

namespace NetStack.PeerTests;

/// <summary>Attaching to TAPs in namespaces: the errors a user can meet, and creating a TAP on demand.</summary>
public sealed class TapDeviceTests(ITestOutputHelper output)
{
    private static readonly MacAddress Mac = MacAddress.Parse("02:00:00:00:99:01");

    [PeerFact]
    public void Attach_TapAlreadyInUse_ThrowsEbusy()
    {
        using var peer = new TapPeer();
        var e = Assert.Throws<ErrnoException>(() => TapDevice.Attach(peer.Tap, Mac, peer.Ns, createIfMissing: false));
        output.WriteLine(e.Message);
        Assert.Equal(Errno.EBUSY, e.Errno);
        Assert.Contains("busy", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        // The stack that holds it is unaffected.
        Assert.Equal(3, peer.Ping("-c", "3", "-i", "0.01", "-W", "2").Received);
    }

    [PeerFact]
    public void Attach_NamespaceMissing_ThrowsEnoent()
    {
        string ns = $"nst-missing-{Environment.ProcessId}";
        var e = Assert.Throws<ErrnoException>(() => TapDevice.Attach("tap0", Mac, ns));
        output.WriteLine(e.Message);
        Assert.Equal(Errno.ENOENT, e.Errno);
        Assert.Contains($"'{ns}' does not exist", e.Message);
        Assert.False(TapDevice.InterfaceExists(ns, "tap0"));
    }

    [PeerFact]
    public void Attach_InterfaceMissingAndCreateOff_ThrowsEnodev()
    {
        using var peer = new TapPeer();
        var e = Assert.Throws<ErrnoException>(() => TapDevice.Attach("nosuchtap", Mac, peer.Ns, createIfMissing: false));
        output.WriteLine(e.Message);
        Assert.Equal(Errno.ENODEV, e.Errno);
        Assert.False(TapDevice.InterfaceExists(peer.Ns, "nosuchtap"));
        Assert.True(TapDevice.InterfaceExists(peer.Ns, peer.Tap));
    }

    [PeerFact]
    public void Attach_NotATap_ThrowsEinval()
    {
        using var peer = new TapPeer();
        var e = Assert.Throws<ErrnoException>(() => TapDevice.Attach("lo", Mac, peer.Ns, createIfMissing: false));
        output.WriteLine(e.Message);
        Assert.Equal(Errno.EINVAL, e.Errno);
    }

    [PeerFact]
    public void Attach_InterfaceMissing_CreatesTapUpInThatNamespace_GoneAfterDispose()
    {
        using var peer = new TapPeer();
        using (var dev = TapDevice.Attach("nstcreated", Mac, peer.Ns, createIfMissing: true))
        {
            Assert.True(dev.Created);
            Assert.Equal(1500, dev.Mtu);
            var link = peer.Exec("ip", "-d", "link", "show", "nstcreated").StdOut;
            output.WriteLine(link);
            Assert.Contains("tun type tap", link);
            Assert.Contains("<BROADCAST,MULTICAST,UP,LOWER_UP>", link);
            Assert.Contains("qlen 10000", link);
            // Nothing of it leaks into this process's own namespace.
            Assert.False(TapDevice.InterfaceExists(null, "nstcreated"));
        }
        Assert.False(TapDevice.InterfaceExists(peer.Ns, "nstcreated"));
    }

    [PeerFact]
    public void Attach_ResetsOffloadsLeftOnPersistentTap()
    {
        using var peer = new TapPeer();
        peer.Host.Dispose(); // free the TAP
        // An earlier user with vnet headers turned segmentation and checksum offload on; they persist.
        LeaveOffloadsOn(peer.Ns, peer.Tap);
        Assert.Contains("tcp-segmentation-offload: on", peer.Exec("ethtool", "-k", peer.Tap).StdOut);

        using var dev = TapDevice.Attach(peer.Tap, Mac, peer.Ns, createIfMissing: false);
        var features = peer.Exec("ethtool", "-k", peer.Tap).StdOut;
        Assert.Contains("tcp-segmentation-offload: off", features);
        Assert.Contains("tx-checksumming: off", features);
    }

    /// <summary>
    /// The frames a call or a receive batch sends leave through the transmit ring (io_uring writes,
    /// several per io_uring_enter(); with offloads, IORING_OP_WRITEV of a vnet header, the head and
    /// fragments that reference the socket's send pages, held until the completion) or, with the ring
    /// off (as when io_uring_setup() fails), one write() each: either way the kernel receives the
    /// stream whole and in order.
    /// </summary>
    [PeerTheory]
    [InlineData(true, false)]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public void StreamToTheKernel_TransmitRingOnOrOff_ArrivesWholeAndInOrder(bool ring, bool offload)
    {
        const int Size = 8 << 20, Port = 8700;
        using var peer = new TapPeer(configure: o => { o.Offload = offload; o.TransmitRing = ring; });
        var tap = (TapDevice)peer.Host.Device;
        var data = new byte[Size];
        new Random(Port).NextBytes(data);
        using var sink = BackgroundProcess.InNamespace(peer.Ns, null, "bash", "-c", $"socat -u TCP4-LISTEN:{Port},reuseaddr - | sha256sum");
        NetSocket? s = null;
        for (int attempt = 0; attempt < 200 && s is null; attempt++)
        {
            var c = new NetSocket(peer.Net, System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
            try
            {
                c.Connect(new System.Net.IPEndPoint(System.Net.IPAddress.Parse(peer.KernelIp), Port));
                s = c;
            }
            catch (NetStackException e) when (e.Errno == Errno.ECONNREFUSED)
            {
                c.Dispose();
                Thread.Sleep(20); // socat not listening yet
            }
        }
        Assert.NotNull(s);
        using (s)
        {
            for (int off = 0; off < Size;) off += s.Send(data.AsSpan(off, Math.Min(100_000, Size - off)));
            s.Shutdown(System.Net.Sockets.SocketShutdown.Send);
            Assert.True(sink.WaitForExit(TimeSpan.FromSeconds(60)), "the kernel's socat did not finish");
        }
        string expected = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(data));
        output.WriteLine($"ring {ring}, offload {offload}: {tap.TxRingFrames} frames through the ring in {tap.TxRingSubmits} submissions ({tap.TxRingDeferred} deferred, {tap.TxRingFull} full, setup failures {tap.TxRingSetupFailures}); TSO frames {tap.TxGsoFrames}; device {tap.Stats}");
        Assert.StartsWith(expected, sink.Output.Trim());
        Assert.Equal(0, tap.Stats.TxErrors);
        if (!ring) Assert.Equal(0, tap.TxRingFrames);
        else Assert.True(tap.TxRingSetupFailures == 1 || tap.TxRingFrames > 2 * tap.TxRingSubmits,
            "the frames did not go through the transmit ring in batches");
        if (offload) Assert.True(tap.TxGsoFrames > 0, "no TSO super-frame was sent");
    }

    /// <summary>What a vnet-header user leaves behind: TUNSETOFFLOAD(CSUM|TSO4|TSO6) on a persistent TAP.</summary>
    private static void LeaveOffloadsOn(string ns, string tap)
    {
        const string py = """
            import fcntl, os, struct, sys
            fd = os.open("/dev/net/tun", os.O_RDWR)
            fcntl.ioctl(fd, 0x400454CA, struct.pack("16sH", sys.argv[1].encode(), 0x0002 | 0x1000 | 0x4000))
            fcntl.ioctl(fd, 0x400454D0, 0x01 | 0x02 | 0x04)
            os.close(fd)
            """;
        var r = Shell.Run("ip", "netns", "exec", ns, "/usr/bin/python3", "-c", py, tap);
        Assert.True(r.ExitCode == 0, r.ToString());
    }
}
