using System.Buffers.Binary;
using NetStack.Core;
using NetStack.Ipv6;
using NetStack.Wire;
using Xunit.Abstractions;

namespace NetStack.Tests.Ipv6;

/// <summary>ip6_fragment(): source fragmentation, checked by Linux's rules and by reassembling the result.</summary>
public class Ip6FragmentTests(ITestOutputHelper output)
{
    /// <summary>A UDP datagram behind a hop-by-hop header (unfragmentable) as a whole packet.</summary>
    private static byte[] UdpBehindHopByHop(int dataLen)
    {
        var hop = new byte[8];
        hop[0] = NextHdr.Udp;
        hop[2] = 1; // PadN of 4
        hop[3] = 4;
        var udp = new byte[UdpHeader.Length + dataLen];
        BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(4), (ushort)udp.Length);
        Frag6Kit.Pattern(dataLen, 3).CopyTo(udp, UdpHeader.Length);
        return Frag6Kit.Packet(NextHdr.Hop, hop, udp);
    }

    /// <summary>Runs ip6_fragment on a copy of <paramref name="whole"/>; returns its result and the fragments it output.</summary>
    private static (int Err, List<byte[]> Frags) Fragment(Frag6Kit k, byte[] whole, int mtu, bool ignoreDf = true)
    {
        var frags = new List<byte[]>();
        lock (k.Net.SyncRoot)
        {
            var skb = k.Net.AllocSkb(whole.Length)!;
            whole.CopyTo(skb.Put(whole.Length));
            skb.NetworkHeader = skb.Data;
            int err = Ip6Fragment.Ip6DoFragment(k.Net, null, skb, mtu, (_, _, f) =>
            {
                Assert.Equal(f.Data, f.NetworkHeader);
                frags.Add(f.DataSpan.ToArray());
                f.Free();
                return 0;
            }, ignoreDf);
            return (err, frags);
        }
    }

    [Theory]
    [InlineData(1280, 5000)]
    [InlineData(1500, 5000)]
    [InlineData(1500, 1437)] // 1440 bytes, then a last piece of 5
    [InlineData(1300, 65000)]
    public void Fragments_FitTheMtu_CarryTheUnfragmentablePart_AndReassembleToTheOriginal(int mtu, int dataLen)
    {
        using var k = new Frag6Kit();
        var whole = UdpBehindHopByHop(dataLen);
        var (err, frags) = Fragment(k, whole, mtu);
        Assert.Equal(0, err);
        int unfrag = Ipv6Header.Length + 8;
        uint id = 0;
        int expectOff = 0;
        for (int i = 0; i < frags.Count; i++)
        {
            var f = frags[i];
            Assert.True(f.Length <= mtu, $"fragment {i} is {f.Length} bytes, MTU {mtu}");
            var h = Ipv6Header.Create(f);
            Assert.Equal(f.Length - Ipv6Header.Length, h.PayloadLength);
            Assert.Equal(NextHdr.Hop, h.NextHeader);
            Assert.Equal(whole.AsSpan(8, 32).ToArray(), f.AsSpan(8, 32).ToArray()); // addresses
            Assert.Equal(NextHdr.Fragment, f[Ipv6Header.Length]); // the hop-by-hop header now names the fragment header
            Assert.Equal(whole.AsSpan(Ipv6Header.Length + 1, 7).ToArray(), f.AsSpan(Ipv6Header.Length + 1, 7).ToArray());
            var fh = Ipv6FragHeader.Create(f.AsSpan(unfrag));
            Assert.Equal(NextHdr.Udp, fh.NextHeader);
            Assert.Equal(0, fh.Buffer[1]);
            if (i == 0) id = fh.Identification;
            Assert.Equal(id, fh.Identification);
            Assert.Equal(expectOff, fh.Offset);
            Assert.Equal(i < frags.Count - 1, fh.More);
            int dataBytes = f.Length - unfrag - Ipv6FragHeader.Length;
            if (fh.More) Assert.Equal(0, dataBytes % 8);
            Assert.Equal(whole.AsSpan(unfrag + expectOff, dataBytes).ToArray(), f.AsSpan(unfrag + Ipv6FragHeader.Length).ToArray());
            expectOff += dataBytes;
        }
        Assert.Equal(whole.Length - unfrag, expectOff);
        Assert.NotEqual(0u, id);
        Assert.Equal(frags.Count, k.Mib[Ipv6Mib.Ip6FragCreates]);
        Assert.Equal(1, k.Mib[Ipv6Mib.Ip6FragOKs]);
        // As many fragments as the MTU allows, no more.
        int per = (mtu - unfrag - Ipv6FragHeader.Length) & ~7;
        Assert.Equal((whole.Length - unfrag + per - 1) / per, frags.Count);

        // Our own reassembly, in reverse order, gives back the original packet.
        for (int i = frags.Count - 1; i >= 0; i--) k.Rcv(frags[i]);
        var (pkt, nhoff, transport) = Assert.Single(k.Delivered);
        Assert.Equal(whole, pkt);
        Assert.Equal(Ipv6Header.Length, nhoff); // the hop-by-hop header's next-header byte
        Assert.Equal(unfrag, transport);
        k.AssertPoolWhole();
    }

    // scapy 2.5: IPv6(src="2001:db8::1", dst="2001:db8::2")/UDP(sport=4000, dport=5000)/Raw(200 pattern bytes),
    // and fragment6() of the same packet with IPv6ExtHdrFragment(id=0xabcdef01) at fragSize 128.
    private static readonly byte[] ScapyWhole = Convert.FromHexString("6000000000d0114020010db800000000000000000000000120010db80000000000000000000000020fa0138800d09c1100070e151c232a31383f464d545b626970777e858c939aa1a8afb6bdc4cbd2d9e0e7eef5fc030a11181f262d343b424950575e656c737a81888f969da4abb2b9c0c7ced5dce3eaf1f8ff060d141b222930373e454c535a61686f767d848b9299a0a7aeb5bcc3cad1d8dfe6edf4fb020910171e252c333a41484f565d646b727980878e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe050c131a21282f363d444b525960676e757c838a91989fa6adb4bbc2c9d0d7dee5ecf3fa01080f161d242b323940474e555c636a71");
    private static readonly byte[][] ScapyFrags =
    [
        Convert.FromHexString("6000000000582c4020010db800000000000000000000000120010db800000000000000000000000211000001abcdef010fa0138800d09c1100070e151c232a31383f464d545b626970777e858c939aa1a8afb6bdc4cbd2d9e0e7eef5fc030a11181f262d343b424950575e656c737a81888f969da4abb2b9c0c7ced5dce3eaf1"),
        Convert.FromHexString("6000000000582c4020010db800000000000000000000000120010db800000000000000000000000211000051abcdef01f8ff060d141b222930373e454c535a61686f767d848b9299a0a7aeb5bcc3cad1d8dfe6edf4fb020910171e252c333a41484f565d646b727980878e959ca3aab1b8bfc6cdd4dbe2e9f0f7fe050c131a21"),
        Convert.FromHexString("6000000000382c4020010db800000000000000000000000120010db8000000000000000000000002110000a0abcdef01282f363d444b525960676e757c838a91989fa6adb4bbc2c9d0d7dee5ecf3fa01080f161d242b323940474e555c636a71"),
    ];

    [Fact]
    public void ScapysFragments_ReassembleToScapysPacket()
    {
        using var k = new Frag6Kit();
        k.Rcv(ScapyFrags[2]);
        k.Rcv(ScapyFrags[0]);
        Assert.Equal(1, k.Rcv(ScapyFrags[1]));
        Assert.Equal(ScapyWhole, Assert.Single(k.Delivered).Packet);
    }

    [Fact]
    public void OurFragments_AreScapys_ButForTheIdentification()
    {
        using var k = new Frag6Kit();
        var (err, frags) = Fragment(k, ScapyWhole, 128);
        Assert.Equal(0, err);
        Assert.Equal(ScapyFrags.Length, frags.Count);
        foreach (var f in frags) Ipv6FragHeader.Create(f.AsSpan(Ipv6Header.Length)).Identification = 0xabcdef01;
        for (int i = 0; i < frags.Count; i++) Assert.Equal(ScapyFrags[i], frags[i]);
    }

    [Fact]
    public void RoutingHeader_AndDestinationOptionsBeforeIt_StayUnfragmentable()
    {
        // IPv6 -> destination options -> routing (type 4, segments left 0) -> destination options -> UDP
        var dest1 = new byte[] { NextHdr.Routing, 0, 1, 4, 0, 0, 0, 0 };
        var rh = new byte[24];
        rh[0] = NextHdr.Dest;
        rh[1] = 2;
        rh[2] = 4;
        var dest2 = new byte[] { NextHdr.Udp, 0, 1, 4, 0, 0, 0, 0 };
        var ext = dest1.Concat(rh).Concat(dest2).ToArray();
        var whole = Frag6Kit.Packet(NextHdr.Dest, ext, Frag6Kit.Pattern(3000));
        Assert.Equal(Ipv6Header.Length + 8 + 24, Ip6Fragment.Ip6Find1stFragopt(whole, out int nexthdrOffset));
        Assert.Equal(Ipv6Header.Length + 8, nexthdrOffset); // the routing header's next header
        using var k = new Frag6Kit();
        var (err, frags) = Fragment(k, whole, 1280);
        Assert.Equal(0, err);
        Assert.All(frags, f =>
        {
            Assert.Equal(whole[..4], f[..4]);
            Assert.Equal(whole[6..48], f[6..48]); // everything before the routing header's next header
            Assert.Equal(whole[49..72], f[49..72]); // the rest of the routing header
            Assert.Equal(NextHdr.Fragment, f[Ipv6Header.Length + 8]);
            Assert.Equal(NextHdr.Dest, f[Ipv6Header.Length + 32]); // the fragment header names the second destination options
        });
    }

    [Fact]
    public void TooBig_WhenTheSocketForbidsFragmenting_SendsPacketTooBig()
    {
        using var k = new Frag6Kit();
        var whole = Frag6Kit.Udp(3000);
        var (err, frags) = Fragment(k, whole, 1500, ignoreDf: false);
        Assert.Equal(-NetStack.Uapi.Errno.EMSGSIZE, err);
        Assert.Empty(frags);
        var icmp = Assert.Single(k.Icmp);
        Assert.Equal((Icmpv6Type.PktTooBig, (byte)0, 1500u), (icmp.Type, icmp.Code, icmp.Info));
        Assert.Equal(1, k.Mib[Ipv6Mib.Ip6FragFails]);
        k.AssertPoolWhole();
    }

    [Fact]
    public void MtuWithoutRoomFor8Bytes_Fails()
    {
        using var k = new Frag6Kit();
        var whole = UdpBehindHopByHop(3000);
        var (err, frags) = Fragment(k, whole, Ipv6Header.Length + 8 + 8 + 7);
        Assert.Equal(-NetStack.Uapi.Errno.EMSGSIZE, err);
        Assert.Empty(frags);
        Assert.Equal(1, k.Mib[Ipv6Mib.Ip6FragFails]);
        k.AssertPoolWhole();
    }

    [Fact]
    public void BrokenHeaderChain_Fails()
    {
        using var k = new Frag6Kit();
        var whole = Frag6Kit.Packet(NextHdr.Hop, [NextHdr.Udp, 255, 0, 0, 0, 0, 0, 0], Frag6Kit.Pattern(2000));
        var (err, _) = Fragment(k, whole, 1280);
        Assert.Equal(-NetStack.Uapi.Errno.EINVAL, err);
        Assert.Equal(1, k.Mib[Ipv6Mib.Ip6FragFails]);
        k.AssertPoolWhole();
    }

    [Fact]
    public void Identification_IsPerDestination_AndNeverZero()
    {
        using var k = new Frag6Kit();
        lock (k.Net.SyncRoot)
        {
            var a = Ipv6Address.Parse("2001:db8::a");
            uint first = Ip6Fragment.Ipv6SelectIdent(k.Net, a, Frag6Kit.Src);
            uint second = Ip6Fragment.Ipv6SelectIdent(k.Net, a, Frag6Kit.Src);
            Assert.NotEqual(0u, first);
            Assert.Equal(first + 1, second); // same bucket, same jiffy: the next id
            var idents = k.St.Idents;
            Assert.Equal(idents.Hash(a, Frag6Kit.Src), idents.Hash(a, Frag6Kit.Src));
            Assert.NotEqual(idents.Hash(a, Frag6Kit.Src), idents.Hash(Ipv6Address.Parse("2001:db8::b"), Frag6Kit.Src));
        }
    }

    [Fact]
    public void FragmentAndReassemble_InSteadyState_AllocateZeroBytes()
    {
        using var k = new Frag6Kit();
        var whole = Frag6Kit.Udp(4000);
        var net = k.Net;
        int delivered = 0, failed = 0;
        // The output hands each fragment straight to reassembly, as a loopback would.
        Func<NetNamespace, Sock?, SkBuff, int> deliver = (n, _, f) =>
        {
            f.Dev = k.S.Dev;
            int nhoff = 6;
            bool fragmented = false;
            f.Pull(Ipv6Header.Length);
            f.TransportHeader = f.Data;
            if (Reassembly.Ipv6FragRcv(n, ref f, ref nhoff, ref fragmented) == 1)
            {
                delivered++;
                f.Free();
            }
            return 0;
        };
        void Round(int n)
        {
            lock (net.SyncRoot)
            {
                for (int i = 0; i < n; i++)
                {
                    var skb = net.AllocSkb(whole.Length)!;
                    whole.CopyTo(skb.Put(whole.Length));
                    skb.NetworkHeader = skb.Data;
                    if (Ip6Fragment.Ip6DoFragment(net, null, skb, 1280, deliver) != 0) failed++;
                }
            }
        }
        Round(100); // warm up: pools, tables, JIT
        long bytes = SteadyState.LeastAllocated(() => Round(2000));
        output.WriteLine($"{bytes} bytes allocated over 2000 datagrams of 4 fragments (fragment + reassemble)");
        Assert.Equal(0, bytes);
        Assert.Equal(0, failed);
        Assert.True(delivered >= 2100);
        Assert.Equal(delivered, k.Mib[Ipv6Mib.Ip6ReasmOKs]);
        Assert.Empty(k.St.Queues);
        k.AssertPoolWhole();
    }
}
