using System.Buffers.Binary;
using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;
using NetStack.Tests.Core;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Udp;

/// <summary>
/// UDP receive memory (__udp_enqueue_schedule_skb(), udp_rmem_schedule()): a socket nobody reads
/// holds at most SO_RCVBUF, all UDP sockets together at most udp_mem; what does not fit is
/// dropped and counted (RcvbufErrors or MemErrors, and InErrors), and the memory comes back.
/// </summary>
public class UdpMemTests
{
    private const int Truesize = SkBuffPool.DefaultBufferSize + Sock.SkbTruesizeOverhead;

    /// <summary>A UDP datagram from the peer (checksum 0: none) to our port.</summary>
    private static byte[] Datagram(ushort sport, ushort dport, int len)
    {
        var udp = new byte[UdpHeader.Length + len];
        BinaryPrimitives.WriteUInt16BigEndian(udp, sport);
        BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(2), dport);
        BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(4), (ushort)udp.Length);
        return Pkt.Eth(OneStack.Mac, OneStack.PeerMac, EthP.IP, Pkt.Ip(OneStack.PeerAddr, OneStack.Addr, IpProto.UDP, udp));
    }

    private static int Bound(NetNamespace net, ushort port)
    {
        int fd = SocketCalls.Socket(net.Files, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        Assert.Equal(0, SocketCalls.Bind(net.Files, fd, SockAddr.In(0, port)));
        return fd;
    }

    [Fact]
    public void FloodToASocketNobodyReads_StaysWithinRcvbuf_CountsRcvbufErrors_AndGivesMemoryBack()
    {
        using var s = new OneStack();
        s.LearnPeer();
        int fd = Bound(s.Net, 7000);
        var sk = (UdpSock)s.Net.Files.Lookup(fd)!.Sk!;
        var mib = s.Net.Mib.Udp;
        const int Flood = 10_000;
        var frame = Datagram(1234, 7000, 100);
        int peakRmem = 0;
        for (int i = 0; i < Flood; i++)
        {
            s.Receive(frame);
            peakRmem = Math.Max(peakRmem, sk.RmemAlloc);
        }
        int queued = sk.ReceiveQueue.QLen;
        Assert.True(peakRmem <= sk.RcvBuf + Truesize, $"rmem {peakRmem} beyond rcvbuf {sk.RcvBuf}");
        Assert.Equal(sk.RcvBuf / Truesize + 1, queued); // one more than fits: the check is before charging
        Assert.Equal(Flood - queued, mib[UdpMib.RcvbufErrors]);
        Assert.Equal(Flood - queued, mib[UdpMib.InErrors]);
        Assert.Equal(Flood - queued, s.Net.Mib.Drops[SkbDropReason.SocketRcvBuff]);
        Assert.Equal(Flood - queued, sk.Drops);
        Assert.Equal(0, mib[UdpMib.MemErrors]);
        // Only what is queued holds buffers and udp_mem pages.
        Assert.Equal(queued, s.Net.SkbPool.Total - s.Net.SkbPool.FreeCount);
        Assert.Equal((queued * Truesize + 4095) / 4096, s.Net.Ipv4.UdpMemoryAllocated);

        // Reading gives it back (all but the last partial page, kept as forward allocation)...
        var buf = new byte[2048];
        for (int i = 0; i < queued; i++) Assert.Equal(100, SocketCalls.Recv(s.Net.Files, fd, buf, 0));
        Assert.Equal(0, sk.RmemAlloc);
        Assert.InRange(s.Net.Ipv4.UdpMemoryAllocated, 0, 1);
        // ... and closing gives back the rest.
        Assert.Equal(0, SocketCalls.Close(s.Net.Files, fd));
        Assert.Equal(0, s.Net.Ipv4.UdpMemoryAllocated);
        Assert.Equal(s.Net.SkbPool.Total, s.Net.SkbPool.FreeCount);
    }

    [Fact]
    public void ManySocketsBeyondUdpMem_AreCappedAtItsMax_CountMemErrors_AndEachKeepsRmemMin()
    {
        using var s = new OneStack();
        s.LearnPeer();
        // udp_mem 4 8 16 pages: past 4 pages only a socket below udp_rmem_min gets more, past 16 nobody.
        Assert.Equal(0, s.Net.Sysctl.TrySet("net.ipv4.udp_mem", "4 8 16"));
        const int Sockets = 8, PerSocket = 50;
        var fds = new int[Sockets];
        for (int i = 0; i < Sockets; i++) fds[i] = Bound(s.Net, (ushort)(7000 + i));
        var mib = s.Net.Mib.Udp;
        long peakPages = 0;
        for (int round = 0; round < PerSocket; round++)
            for (int i = 0; i < Sockets; i++)
            {
                s.Receive(Datagram(1234, (ushort)(7000 + i), 100));
                peakPages = Math.Max(peakPages, s.Net.Ipv4.UdpMemoryAllocated);
            }
        Assert.Equal(16, peakPages); // filled up to udp_mem's max, never beyond
        var socks = fds.Select(fd => (UdpSock)s.Net.Files.Lookup(fd)!.Sk!).ToArray();
        int queued = socks.Sum(k => k.ReceiveQueue.QLen);
        // What was not queued was refused by udp_mem (the sockets' own buffers never filled).
        Assert.Equal(Sockets * PerSocket - queued, mib[UdpMib.MemErrors]);
        Assert.Equal(mib[UdpMib.MemErrors], mib[UdpMib.InErrors]);
        Assert.Equal(mib[UdpMib.MemErrors], s.Net.Mib.Drops[SkbDropReason.ProtoMem]);
        Assert.Equal(0, mib[UdpMib.RcvbufErrors]);
        Assert.True(queued * Truesize <= 16 * 4096);
        Assert.True(mib[UdpMib.MemErrors] > 0);
        // The udp_rmem_min guarantee: above min and below max, every socket holding less than
        // udp_rmem_min still got pages (8 sockets x 2 pages reach the max exactly).
        Assert.All(socks, k => Assert.True(k.ReceiveQueue.QLen >= 1));

        // Reading socket 0 gives back its pages but one (kept as forward allocation). udp_mem is still
        // above min: socket 1, above udp_rmem_min, is still refused; socket 0, emptied, is served.
        var buf = new byte[2048];
        while (SocketCalls.Recv(s.Net.Files, fds[0], buf, 0) > 0) { }
        Assert.Equal(15, s.Net.Ipv4.UdpMemoryAllocated);
        long before = mib[UdpMib.MemErrors];
        s.Receive(Datagram(1234, 7001, 100));
        Assert.Equal(before + 1, mib[UdpMib.MemErrors]);
        s.Receive(Datagram(1234, 7000, 100));
        Assert.Equal(before + 1, mib[UdpMib.MemErrors]);
        Assert.Equal(1, socks[0].ReceiveQueue.QLen);
        foreach (var fd in fds) SocketCalls.Close(s.Net.Files, fd);
        Assert.Equal(0, s.Net.Ipv4.UdpMemoryAllocated);
        Assert.Equal(s.Net.SkbPool.Total, s.Net.SkbPool.FreeCount);
    }

    [Fact]
    public void Sysctls_DefaultFromThePool_AsUdpInitDoesFromRam()
    {
        using var s = new OneStack();
        Assert.True(s.Net.Sysctl.TryGet("net.ipv4.udp_mem", out var mem));
        // 65536 buffers of 2 KiB = 32768 pages: limit 4096, min 3/4 of it, max twice min.
        Assert.Equal("3072\t4096\t6144", mem);
        Assert.True(s.Net.Sysctl.TryGet("net.ipv4.udp_rmem_min", out var rmin));
        Assert.True(s.Net.Sysctl.TryGet("net.ipv4.udp_wmem_min", out var wmin));
        Assert.Equal(("4096", "4096"), (rmin, wmin));
        Assert.Equal(-Errno.EINVAL, s.Net.Sysctl.TrySet("net.ipv4.udp_mem", "1 2"));
        Assert.Equal(-Errno.EINVAL, s.Net.Sysctl.TrySet("net.ipv4.udp_rmem_min", "0"));
    }
}
