using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Tests.Core;
using NetStack.Wire;

namespace NetStack.Tests.Ipv4;

/// <summary>
/// Reassembly under a flood (inet_frag_find(), ip_frag_too_far()): memory stays within
/// ipfrag_high_thresh, every refused fragment is counted, queues expire after ipfrag_time, and
/// reassembly works again afterwards.
/// </summary>
public class IpFragLimitTests
{
    /// <summary>The first 8-byte piece (MF set) of a UDP datagram that claims to be 1000 bytes long.</summary>
    private static byte[] FirstPiece(uint src, ushort id) => Piece(src, id, 0, 512, more: true);

    /// <summary>A fragment of a 1000-byte payload: bytes [off, off + len) (off a multiple of 8), MF as told.</summary>
    private static byte[] Piece(uint src, ushort id, int off, int len, bool more)
    {
        var payload = new byte[len];
        for (int i = 0; i < len; i++) payload[i] = (byte)(off + i);
        var ip = Pkt.Ip(src, OneStack.Addr, IpProto.UDP, payload, id: id, df: false);
        var h = Ipv4Header.Create(ip);
        h.FragOff = (ushort)((off >> 3) | (more ? Ipv4Header.FlagMF : 0));
        h.FillChecksum();
        return Pkt.Eth(OneStack.Mac, OneStack.PeerMac, EthP.IP, ip);
    }

    /// <summary>Sources outside the stack's subnet and without a route: no ARP, no ICMP back.</summary>
    private static uint Source(int i) => Ipv4Address.Parse("172.16.0.0") + (uint)i;

    [Fact]
    public void NeverCompletingFragmentFlood_StaysUnderHighThresh_CountsDrops_ExpiresAndRecovers()
    {
        using var s = new OneStack();
        var st = s.Net.Ipv4.Frags;
        long high = s.Net.Ipv4.Sysctl.IpfragHighThresh;
        var mib = s.Net.Mib.Ip;
        // One fragment that may be in flight past the check (Linux compares before charging) plus its queue.
        long slack = SkBuffPool.DefaultBufferSize + Sock.SkbTruesizeOverhead + IpFragment.IpqSize;

        // A datagram that has its first half in before the flood.
        s.Receive(Piece(Source(0), 1, 0, 512, more: true));
        const int Flood = 5000;
        long peak = 0;
        for (int i = 1; i <= Flood; i++)
        {
            s.Receive(FirstPiece(Source(i % 997), (ushort)(i + 100)));
            peak = Math.Max(peak, st.Mem);
        }
        int queues = st.Queues.Count;
        Assert.True(peak <= high + slack, $"reassembly memory {peak} above ipfrag_high_thresh {high}");
        Assert.True(st.Mem > high); // it did fill up
        Assert.InRange(queues, 1000, Flood); // it took what fitted
        // Every fragment not queued is a ReasmFails and a FragMemLimit drop.
        long refused = Flood + 1 - queues;
        Assert.Equal(refused, s.Net.Mib.Drops[SkbDropReason.FragMemLimit]);
        Assert.Equal(refused, mib[IpMib.ReasmFails]);
        Assert.Equal(Flood + 1, mib[IpMib.ReasmReqds]);
        // Memory is exactly what the queues hold: one frame buffer each plus the queue header.
        Assert.Equal(queues * slack, st.Mem);
        Assert.Equal(queues, s.Net.SkbPool.Total - s.Net.SkbPool.FreeCount);

        // Over the threshold even a queue that exists takes nothing: the second half is refused.
        s.Receive(Piece(Source(0), 1, 512, 488, more: false));
        Assert.Equal(0, mib[IpMib.ReasmOKs]);
        Assert.Equal(refused + 1, s.Net.Mib.Drops[SkbDropReason.FragMemLimit]);

        // ipfrag_time later every queue has expired (nothing evicts earlier), and memory is back.
        s.RunFor(30_000);
        Assert.Empty(st.Queues);
        Assert.Equal(0, st.Mem);
        Assert.Equal(0, st.PeerCount);
        Assert.Equal(queues, mib[IpMib.ReasmTimeout]);
        Assert.Equal(s.Net.SkbPool.Total, s.Net.SkbPool.FreeCount);

        // And reassembly works again.
        s.Receive(Piece(Source(0), 1, 0, 512, more: true));
        s.Receive(Piece(Source(0), 1, 512, 488, more: false));
        Assert.Equal(1, mib[IpMib.ReasmOKs]);
    }

    [Fact]
    public void HighThreshZero_TurnsReassemblyOff()
    {
        using var s = new OneStack();
        Assert.Equal(0, s.Net.Sysctl.TrySet("net.ipv4.ipfrag_low_thresh", "0"));
        Assert.Equal(0, s.Net.Sysctl.TrySet("net.ipv4.ipfrag_high_thresh", "0"));
        s.Receive(Piece(Source(1), 9, 0, 512, more: true));
        Assert.Empty(s.Net.Ipv4.Frags.Queues);
        Assert.Equal(1, s.Net.Mib.Ip[IpMib.ReasmFails]);
        Assert.Equal(s.Net.SkbPool.Total, s.Net.SkbPool.FreeCount);
    }

    [Theory]
    [InlineData(63, true)]   // end - start = 64: not more than ipfrag_max_dist
    [InlineData(64, false)]  // 65 > 64: the queue is stale and restarts
    public void MaxDist_ManyFragmentsFromTheSameSourceInBetween_RestartTheQueue(int between, bool completes)
    {
        using var s = new OneStack();
        uint src = Source(7);
        s.Receive(Piece(src, 1, 0, 512, more: true));
        for (int i = 0; i < between; i++) s.Receive(FirstPiece(src, (ushort)(1000 + i)));
        s.Receive(Piece(src, 1, 512, 488, more: false));
        var mib = s.Net.Mib.Ip;
        Assert.Equal(completes ? 1 : 0, mib[IpMib.ReasmOKs]);
        Assert.Equal(completes ? 0 : 1, s.Net.Mib.Drops[SkbDropReason.FragTooFar]);
        Assert.Equal(completes ? 0 : 1, mib[IpMib.ReasmFails]);
        if (!completes)
        {
            // The restarted queue holds the last piece alone; the first piece sent again completes it.
            s.Receive(Piece(src, 1, 0, 512, more: true));
            Assert.Equal(1, mib[IpMib.ReasmOKs]);
        }
    }

    [Fact]
    public void MaxDistZero_DisablesTheCheck()
    {
        using var s = new OneStack();
        Assert.Equal(0, s.Net.Sysctl.TrySet("net.ipv4.ipfrag_max_dist", "0"));
        uint src = Source(7);
        s.Receive(Piece(src, 1, 0, 512, more: true));
        for (int i = 0; i < 200; i++) s.Receive(FirstPiece(src, (ushort)(1000 + i)));
        s.Receive(Piece(src, 1, 512, 488, more: false));
        Assert.Equal(1, s.Net.Mib.Ip[IpMib.ReasmOKs]);
        Assert.Equal(0, s.Net.Ipv4.Frags.PeerCount);
    }

    [Fact]
    public void Sysctls_HaveLinuxDefaults_AndTheThresholdsBoundEachOther()
    {
        using var s = new OneStack();
        var t = s.Net.Sysctl;
        Assert.True(t.TryGet("net.ipv4.ipfrag_high_thresh", out var high));
        Assert.True(t.TryGet("net.ipv4.ipfrag_low_thresh", out var low));
        Assert.True(t.TryGet("net.ipv4.ipfrag_time", out var time));
        Assert.True(t.TryGet("net.ipv4.ipfrag_max_dist", out var dist));
        Assert.Equal(("4194304", "3145728", "30", "64"), (high, low, time, dist));
        Assert.Equal(-Errno.EINVAL, t.TrySet("net.ipv4.ipfrag_high_thresh", "3000000")); // below low
        Assert.Equal(-Errno.EINVAL, t.TrySet("net.ipv4.ipfrag_low_thresh", "5000000"));  // above high
        Assert.Equal(-Errno.EINVAL, t.TrySet("net.ipv4.ipfrag_max_dist", "-1"));
        Assert.Equal(0, t.TrySet("net.ipv4.ipfrag_high_thresh", "8388608"));
        Assert.Equal(8388608, s.Net.Ipv4.Sysctl.IpfragHighThresh);
    }
}
