using NetStack.Core;
using NetStack.Drivers;
using NetStack.Wire;

namespace NetStack.Tests.Core;

/// <summary>
/// The vnet header of an offloading TAP, read and applied as virtio_net_hdr_to_skb() does for the
/// offloads the stack asked for (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6): the bytes round-trip
/// little-endian, a partial or valid checksum marks the frame verified, a TCPv4 or TCPv6 GSO frame
/// keeps its segment size, and headers the driver must refuse are refused.
/// </summary>
public class VirtioNetHdrTests
{
    /// <summary>A zeroed frame of <paramref name="len"/> bytes whose Ethernet header names <paramref name="etherType"/>.</summary>
    private static SkBuff Frame(int len, ushort etherType = EthP.IP)
    {
        var skb = new SkBuff(2048);
        skb.Put(len).Clear();
        EthernetHeader.Create(skb.DataSpan).EtherType = etherType;
        return skb;
    }

    [Fact]
    public void ReadWrite_RoundTripsEveryFieldLittleEndian()
    {
        var h = new VirtioNetHdr { Flags = 1, GsoType = VirtioNetHdr.GsoTcpV4, HdrLen = 0x0142, GsoSize = 1448, CsumStart = 34, CsumOffset = 16, NumBuffers = 1 };
        var b = new byte[VirtioNetHdr.Size];
        h.Write(b);
        Assert.Equal(new byte[] { 1, 1, 0x42, 0x01, 0xa8, 0x05, 34, 0, 16, 0, 1, 0 }, b);
        Assert.Equal(h, VirtioNetHdr.Read(b));
    }

    [Fact]
    public void NoFlags_LeavesTheChecksumToTheStack()
    {
        var skb = Frame(60);
        Assert.True(TapDevice.VirtioNetHdrToSkb(skb, new VirtioNetHdr()));
        Assert.False(skb.CsumVerified);
        Assert.Equal(0, skb.GsoSize);
    }

    [Theory]
    [InlineData(VirtioNetHdr.FlagNeedsCsum)]
    [InlineData(VirtioNetHdr.FlagDataValid)]
    public void PartialOrValidChecksum_CountsAsVerified(byte flags)
    {
        var skb = Frame(60);
        Assert.True(TapDevice.VirtioNetHdrToSkb(skb, new VirtioNetHdr { Flags = flags, CsumStart = 34, CsumOffset = 16 }));
        Assert.True(skb.CsumVerified);
    }

    [Fact]
    public void TcpV4Gso_KeepsTheSegmentSize()
    {
        var skb = Frame(1800);
        var h = new VirtioNetHdr { Flags = VirtioNetHdr.FlagNeedsCsum, GsoType = VirtioNetHdr.GsoTcpV4 | VirtioNetHdr.GsoEcn, GsoSize = 1448, CsumStart = 34, CsumOffset = 16 };
        Assert.True(TapDevice.VirtioNetHdrToSkb(skb, h));
        Assert.Equal(1448, skb.GsoSize);
        Assert.Equal(VirtioNetHdr.GsoTcpV4, skb.GsoType);
        Assert.True(skb.CsumVerified);
    }

    [Fact]
    public void TcpV6Gso_KeepsTheSegmentSize()
    {
        var skb = Frame(1800, EthP.IPV6);
        // csum_start: the TCP header after Ethernet (14) and the fixed IPv6 header (40).
        var h = new VirtioNetHdr { Flags = VirtioNetHdr.FlagNeedsCsum, GsoType = VirtioNetHdr.GsoTcpV6, GsoSize = 1428, CsumStart = 54, CsumOffset = 16 };
        Assert.True(TapDevice.VirtioNetHdrToSkb(skb, h));
        Assert.Equal(1428, skb.GsoSize);
        Assert.Equal(VirtioNetHdr.GsoTcpV6, skb.GsoType);
        Assert.True(skb.CsumVerified);
    }

    [Theory]
    [InlineData(VirtioNetHdr.GsoTcpV4, EthP.IPV6)]
    [InlineData(VirtioNetHdr.GsoTcpV6, EthP.IP)]
    [InlineData(VirtioNetHdr.GsoTcpV6, EthP.ARP)]
    public void GsoTypeNotTheFramesProtocol_IsRefused(byte gsoType, ushort etherType)
    {
        var skb = Frame(1800, etherType);
        var h = new VirtioNetHdr { Flags = VirtioNetHdr.FlagNeedsCsum, GsoType = gsoType, GsoSize = 1428, CsumStart = 54, CsumOffset = 16 };
        Assert.False(TapDevice.VirtioNetHdrToSkb(skb, h));
    }

    public static TheoryData<string, byte, byte, ushort, ushort> Refused => new()
    {
        // what, flags, gso_type, gso_size, csum_start (csum_offset 16)
        { "checksum beyond the frame", VirtioNetHdr.FlagNeedsCsum, VirtioNetHdr.GsoNone, 0, 50 },
        { "TCPv4 GSO without a partial checksum", 0, VirtioNetHdr.GsoTcpV4, 1448, 34 },
        { "TCPv4 GSO without a segment size", VirtioNetHdr.FlagNeedsCsum, VirtioNetHdr.GsoTcpV4, 0, 34 },
        { "TCPv6 GSO without a partial checksum", 0, VirtioNetHdr.GsoTcpV6, 1428, 34 },
        { "TCPv6 GSO without a segment size", VirtioNetHdr.FlagNeedsCsum, VirtioNetHdr.GsoTcpV6, 0, 34 },
        { "UFO (not offered)", VirtioNetHdr.FlagNeedsCsum, VirtioNetHdr.GsoUdp, 1472, 34 },
        { "USO (not offered)", VirtioNetHdr.FlagNeedsCsum, VirtioNetHdr.GsoUdpL4, 1472, 34 },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public void HeaderTheDriverMustRefuse_IsRefused(string what, byte flags, byte gsoType, ushort gsoSize, ushort csumStart)
    {
        var skb = Frame(60);
        bool ok = TapDevice.VirtioNetHdrToSkb(skb, new VirtioNetHdr { Flags = flags, GsoType = gsoType, GsoSize = gsoSize, CsumStart = csumStart, CsumOffset = 16 });
        Assert.False(ok, what);
    }
}
