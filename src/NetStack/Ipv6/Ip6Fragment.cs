using NetStack.Core;
using NetStack.Wire;

namespace NetStack.Ipv6;

/// <summary>
/// The identification counters of IPv6 fragments: a bucket per hash of (destination, source),
/// each advanced by one per datagram plus a random step when time has passed since its last use,
/// so ids are neither global nor predictable across destinations.
/// </summary>
/// <remarks>Mirrors net/ipv4/route.c: ip_idents / ip_tstamps and ip_idents_reserve() (shared with
/// IPv4 in Linux; this stack's IPv4 keeps its single counter).</remarks>
internal sealed class Ip6Idents
{
    /// <summary>IP_IDENTS_SZ: the number of buckets (a power of two).</summary>
    public const int Size = 2048;
    private readonly uint[] _idents = new uint[Size];
    private readonly uint[] _tstamps = new uint[Size];
    private readonly Random _rnd = new();
    /// <summary>The hash key (net->ipv4.ip_id_key), random per namespace.</summary>
    private readonly uint _key = (uint)Random.Shared.Next() ^ (uint)Random.Shared.Next() << 1;

    /// <summary>Hashes the pair with the namespace's key (jhash2 over the eight words, as Linux did before siphash).</summary>
    public uint Hash(UInt128 daddr, UInt128 saddr)
    {
        uint h = Jhash.Jhash3Words((uint)(daddr >> 96), (uint)(daddr >> 64), (uint)(daddr >> 32), _key);
        h = Jhash.Jhash3Words((uint)daddr, (uint)(saddr >> 96), (uint)(saddr >> 64), h);
        return Jhash.Jhash3Words((uint)(saddr >> 32), (uint)saddr, 0, h);
    }

    /// <summary>Reserves <paramref name="segs"/> ids in the bucket of <paramref name="hash"/>; returns the first.</summary>
    /// <remarks>Mirrors ip_idents_reserve(): the random step is below the jiffies elapsed since the bucket's last use.</remarks>
    public uint Reserve(uint hash, int segs, long nowNs)
    {
        int bucket = (int)(hash % Size);
        uint now = (uint)(nowNs / 1_000_000); // jiffies at HZ=1000
        uint old = _tstamps[bucket];
        uint delta = 0;
        if (old != now)
        {
            _tstamps[bucket] = now;
            delta = (uint)_rnd.NextInt64(now - old);
        }
        _idents[bucket] += (uint)segs + delta;
        return _idents[bucket] - (uint)segs;
    }
}

/// <summary>
/// IPv6 fragmentation at the source (RFC 8200 4.5): the unfragmentable part copied into every
/// fragment, a fragment header after it, the fragmentable part cut into multiples of 8 bytes.
/// </summary>
/// <remarks>Mirrors net/ipv6/ip6_output.c (ip6_fragment's slow path, ip6_frag_init, ip6_frag_next)
/// and net/ipv6/output_core.c (ipv6_select_ident, ip6_find_1stfragopt).</remarks>
internal static class Ip6Fragment
{
    /// <summary>IP6_MF: the more-fragments flag of frag_off.</summary>
    public const ushort Ip6Mf = 0x0001;
    /// <summary>IPV6_TLV_HAO: the home address destination option of Mobile IPv6 (RFC 6275).</summary>
    public const byte Ipv6TlvHao = 0xC9;

    /// <summary>
    /// Fragments a whole IPv6 packet (<paramref name="skb"/>.Data at its IPv6 header) for a link of
    /// <paramref name="mtu"/> bytes and hands each fragment (Data and NetworkHeader at its IPv6
    /// header) to <paramref name="output"/>. Consumes the buffer. Returns 0, or a negative errno:
    /// -EMSGSIZE (packet too big sent through the ICMPv6 hook) when the packet may not be
    /// fragmented (<paramref name="ignoreDf"/> false, which a socket with IPV6_PMTUDISC_DO asks
    /// for) or the MTU leaves no room for 8 bytes of data; -EINVAL for a broken header chain;
    /// -ENOBUFS without buffers; or what <paramref name="output"/> returned.
    /// </summary>
    /// <remarks>Mirrors ip6_fragment() (the slow path: the stack builds no frag lists). The MTU is
    /// the caller's choice: ip6_skb_dst_mtu() lowered by the socket's IPV6_MTU (np->frag_size);
    /// checksums are complete before this (no CHECKSUM_PARTIAL to resolve).</remarks>
    public static int Ip6DoFragment(NetNamespace net, Sock? sk, SkBuff skb, int mtu, Func<NetNamespace, Sock?, SkBuff, int> output, bool ignoreDf = true)
    {
        var mib = net.Ip6Mib;
        int err = Ip6Find1stFragopt(skb.DataSpan, out int nexthdrOffset);
        if (err < 0) goto fail;
        int hlen = err;
        byte nexthdr = skb.DataSpan[nexthdrOffset];

        // Not fragmenting what the socket wants sent whole.
        if (!ignoreDf && skb.Len > mtu) goto fail_toobig;
        if (mtu < hlen + Ipv6FragHeader.Length + 8) goto fail_toobig;
        int room = mtu - (hlen + Ipv6FragHeader.Length);

        var ip6 = Ipv6Header.Create(skb.DataSpan);
        uint fragId = Ipv6SelectIdent(net, ip6.Destination, ip6.Source);

        // ip6_frag_init()
        int left = skb.Len - hlen, ptr = hlen, offset = 0;
        err = 0;
        while (left > 0)
        {
            // ip6_frag_next(): as much as fits, on an 8-byte boundary unless it is the end.
            int len = Math.Min(left, room);
            if (len < left) len &= ~7;
            var frag = net.AllocSkb(hlen + Ipv6FragHeader.Length + len);
            if (frag is null)
            {
                err = -Uapi.Errno.ENOBUFS;
                goto fail;
            }
            Ip6CopyMetadata(frag, skb);
            var d = frag.Put(hlen + Ipv6FragHeader.Length + len);
            frag.NetworkHeader = frag.Data;
            frag.TransportHeader = frag.Data + hlen + Ipv6FragHeader.Length;
            skb.DataSpan[..hlen].CopyTo(d);
            d[nexthdrOffset] = NextHdr.Fragment;
            var fh = Ipv6FragHeader.Create(d[hlen..]);
            fh.NextHeader = nexthdr;
            fh.Buffer[1] = 0; // reserved
            fh.Identification = fragId;
            skb.DataSpan.Slice(ptr, len).CopyTo(d[(hlen + Ipv6FragHeader.Length)..]);
            left -= len;
            fh.FragOff = (ushort)(offset | (left > 0 ? Ip6Mf : 0));
            Ipv6Header.Create(d).PayloadLength = (ushort)(d.Length - Ipv6Header.Length);
            ptr += len;
            offset += len;

            err = output(net, sk, frag);
            if (err != 0) goto fail;
            mib[Ipv6Mib.Ip6FragCreates]++;
        }
        mib[Ipv6Mib.Ip6FragOKs]++;
        skb.Free();
        return err;

    fail_toobig:
        if (net.Ip6Frags().Icmpv6Send is { } send) send(net, skb, Icmpv6Type.PktTooBig, 0, (uint)mtu);
        err = -Uapi.Errno.EMSGSIZE;
    fail:
        mib[Ipv6Mib.Ip6FragFails]++;
        skb.Free();
        return err;
    }

    /// <remarks>Mirrors ip6_copy_metadata(): what a fragment inherits from the packet.</remarks>
    private static void Ip6CopyMetadata(SkBuff to, SkBuff from)
    {
        to.PktType = from.PktType;
        to.Protocol = from.Protocol;
        to.Dev = from.Dev;
        to.Mark = from.Mark;
        to.Tstamp = from.Tstamp;
    }

    /// <summary>
    /// The length of the unfragmentable part (the IPv6 header and the hop-by-hop, routing and
    /// destination-options headers that must precede the fragment header) and, in
    /// <paramref name="nexthdrOffset"/>, where the next-header byte that will name the fragment
    /// header is. -EINVAL for a chain that runs past the packet or past IPV6_MAXPLEN.
    /// </summary>
    /// <remarks>Mirrors ip6_find_1stfragopt(): destination options stay in front only before a
    /// routing header, or when they carry a home address option (CONFIG_IPV6_MIP6); Linux also
    /// keeps destination options that no routing header follows in front, as this does.</remarks>
    internal static int Ip6Find1stFragopt(ReadOnlySpan<byte> packet, out int nexthdrOffset)
    {
        int offset = Ipv6Header.Length;
        int packetLen = packet.Length;
        bool foundRhdr = false;
        nexthdrOffset = 6; // &ipv6_hdr(skb)->nexthdr
        while (offset <= packetLen)
        {
            switch (packet[nexthdrOffset])
            {
                case NextHdr.Hop:
                    break;
                case NextHdr.Routing:
                    foundRhdr = true;
                    break;
                case NextHdr.Dest:
                    if (Ipv6FindTlv(packet, offset, Ipv6TlvHao) >= 0) break;
                    if (foundRhdr) return offset;
                    break;
                default:
                    return offset;
            }
            if (offset + 2 > packetLen) return -Uapi.Errno.EINVAL;
            int optlen = (packet[offset + 1] + 1) << 3; // ipv6_optlen()
            nexthdrOffset = offset;
            offset += optlen;
            if (offset > Reassembly.Ipv6MaxPlen) return -Uapi.Errno.EINVAL;
        }
        return -Uapi.Errno.EINVAL;
    }

    /// <summary>The offset of the first option of <paramref name="type"/> in the options header at <paramref name="offset"/>, or -1.</summary>
    /// <remarks>Mirrors ipv6_find_tlv(): Pad1 is one byte, every other option its length plus two.</remarks>
    internal static int Ipv6FindTlv(ReadOnlySpan<byte> packet, int offset, byte type)
    {
        if (offset + 2 > packet.Length) return -1;
        int len = (packet[offset + 1] + 1) << 3;
        if (offset + len > packet.Length) return -1;
        int end = offset + len;
        offset += 2;
        while (offset < end)
        {
            byte opt = packet[offset];
            if (opt == type) return offset;
            if (opt == 0) { offset++; continue; } // Pad1
            if (offset + 2 > end) return -1;
            int optlen = packet[offset + 1] + 2;
            if (offset + optlen > end) return -1;
            offset += optlen;
        }
        return -1;
    }

    /// <summary>The identification of the next fragmented datagram to <paramref name="daddr"/> from <paramref name="saddr"/>; never 0.</summary>
    /// <remarks>Mirrors __ipv6_select_ident(): a per-destination counter (0 is "unset", 1 &lt;&lt; 31 replaces it).</remarks>
    internal static uint Ipv6SelectIdent(NetNamespace net, UInt128 daddr, UInt128 saddr)
    {
        var idents = net.Ip6Frags().Idents;
        uint id = idents.Reserve(idents.Hash(daddr, saddr), 1, net.NowNs);
        return id != 0 ? id : 1u << 31;
    }
}
