using NetStack.Core;
using NetStack.Ethernet;
using NetStack.Wire;

namespace NetStack.Ipv6;

/// <summary>
/// The extension headers on receive: hop-by-hop options (only right after the fixed header; met
/// later, NEXTHDR_HOP has no handler and is an unknown next header), destination options, the
/// routing header (type 0 refused, RFC 5095) and, until reassembly exists, the fragment header.
/// </summary>
/// <remarks>Mirrors net/ipv6/exthdrs.c (and exthdrs_core.c).</remarks>
internal static class Exthdrs
{
    private const byte Ipv6TlvPad1 = 0, Ipv6TlvPadN = 1, Ipv6TlvRouterAlert = 5, Ipv6TlvJumbo = 0xC2;

    /// <summary>Registers the extension header handlers in inet6_protos[].</summary>
    /// <remarks>Mirrors ipv6_exthdrs_init() (rthdr, destopt, nodata).</remarks>
    internal static void Ipv6ExthdrsInit(NetNamespace net)
    {
        var protos = net.Ipv6.Inet6Protos;
        protos[NextHdr.Dest] = new Inet6Protocol(Ipv6DestoptRcv, final: false);
        protos[NextHdr.Routing] = new Inet6Protocol(Ipv6RthdrRcv, final: false);
        protos[NextHdr.None] = new Inet6Protocol(DstDiscard, final: false);
        // NEXTHDR_FRAGMENT (ipv6_frag_rcv) is called by Ip6Input's dispatch itself: it may hand back another buffer.
    }

    /// <summary>NEXTHDR_NONE: nothing follows; the packet is consumed.</summary>
    /// <remarks>Mirrors nodata_protocol's handler dst_discard().</remarks>
    private static int DstDiscard(SkBuff skb)
    {
        skb.Free();
        return 0;
    }

    /// <summary>
    /// The hop-by-hop header, right after the fixed header: present whole, within max_hbh_length,
    /// its options valid. Negative: the packet was dropped (freed here); the caller counts InHdrErrors.
    /// </summary>
    /// <remarks>Mirrors ipv6_parse_hopopts().</remarks>
    internal static int Ipv6ParseHopopts(NetNamespace net, SkBuff skb)
    {
        int start = skb.NetworkHeader + Ipv6Header.Length;
        int end = skb.Data + skb.Len;
        if (start + 8 > end) { net.KfreeSkbReason(skb, SkbDropReason.PktTooSmall); return -1; }
        int extlen = (skb.Buffer[start + 1] + 1) << 3;
        if (start + extlen > end || extlen > net.Ipv6.Sysctl.MaxHbhOptsLen) { net.KfreeSkbReason(skb, SkbDropReason.PktTooSmall); return -1; }
        skb.Ip6cb.Flags |= Ip6Input.Ip6SkbHopByHop;
        if (!Ip6ParseTlv(net, hopbyhop: true, skb, net.Ipv6.Sysctl.MaxHbhOptsCnt)) return -1;
        skb.TransportHeader += extlen;
        skb.Ip6cb.Nhoff = Ipv6Header.Length;
        return 1;
    }

    /// <summary>The destination options header: its options processed, then the next header.</summary>
    /// <remarks>Mirrors ipv6_destopt_rcv().</remarks>
    private static int Ipv6DestoptRcv(SkBuff skb)
    {
        var net = skb.Dev!.Net!;
        var mib = net.Ip6Mib;
        int start = skb.TransportHeader, end = skb.Data + skb.Len;
        if (start + 8 > end || start + ((skb.Buffer[start + 1] + 1) << 3) > end)
        {
            mib[Ipv6Mib.Ip6InHdrErrors]++;
            net.KfreeSkbReason(skb, SkbDropReason.PktTooSmall);
            return -1;
        }
        int extlen = (skb.Buffer[start + 1] + 1) << 3;
        if (extlen > net.Ipv6.Sysctl.MaxDstOptsLen)
        {
            net.KfreeSkbReason(skb, SkbDropReason.IpInHdr);
            return -1;
        }
        int dstbuf = start - skb.NetworkHeader;
        if (Ip6ParseTlv(net, hopbyhop: false, skb, net.Ipv6.Sysctl.MaxDstOptsCnt))
        {
            skb.TransportHeader += extlen;
            skb.Ip6cb.Nhoff = (ushort)dstbuf;
            return 1;
        }
        mib[Ipv6Mib.Ip6InHdrErrors]++;
        return -1;
    }

    /// <summary>
    /// The routing header: with no segments left it is skipped (whatever its type); otherwise only
    /// the types this host processes are accepted, and type 0 (deprecated by RFC 5095) is answered
    /// with a parameter problem pointing at its type field. A routing header to a multicast
    /// address, or in a frame not for this host, is an address error.
    /// </summary>
    /// <remarks>Mirrors ipv6_rthdr_rcv() (no type 2/3/4 support: they go to unknown_rh too).</remarks>
    private static int Ipv6RthdrRcv(SkBuff skb)
    {
        var net = skb.Dev!.Net!;
        var mib = net.Ip6Mib;
        int start = skb.TransportHeader, end = skb.Data + skb.Len;
        if (start + 8 > end || start + ((skb.Buffer[start + 1] + 1) << 3) > end)
        {
            mib[Ipv6Mib.Ip6InHdrErrors]++;
            net.KfreeSkbReason(skb, SkbDropReason.PktTooSmall);
            return -1;
        }
        var daddr = Ipv6Address.Read(skb.Buffer.AsSpan(skb.NetworkHeader + 24, 16));
        if (Ipv6Address.IsMulticast(daddr) || skb.PktType != Eth.PacketHost && !skb.Dev.IsLoopback)
        {
            mib[Ipv6Mib.Ip6InAddrErrors]++;
            net.KfreeSkbReason(skb, SkbDropReason.IpInAddrErrors);
            return -1;
        }
        byte segmentsLeft = skb.Buffer[start + 3];
        if (segmentsLeft == 0)
        {
            int extlen = (skb.Buffer[start + 1] + 1) << 3;
            skb.Ip6cb.Nhoff = (ushort)(start - skb.NetworkHeader);
            skb.TransportHeader += extlen;
            return 1;
        }
        // unknown_rh: type 0 and every type this host does not process.
        mib[Ipv6Mib.Ip6InHdrErrors]++;
        int typeOff = start + 2 - skb.NetworkHeader;
        skb.Data = skb.NetworkHeader;
        Icmpv6.Icmp6Send(net, skb, Icmpv6Type.ParamProb, Icmpv6Type.HdrField, (uint)typeOff);
        net.KfreeSkbReason(skb, SkbDropReason.IpInHdr);
        return -1;
    }

    /// <summary>
    /// Walks the options of a hop-by-hop or destination options header: Pad1 and PadN (at most 7
    /// bytes of padding in a row, PadN all zeros), at most <paramref name="maxCount"/> other
    /// options, each known one processed and an unknown one handled as its type's two high bits
    /// say. False: the packet was dropped (and freed here).
    /// </summary>
    /// <remarks>Mirrors ip6_parse_tlv().</remarks>
    private static bool Ip6ParseTlv(NetNamespace net, bool hopbyhop, SkBuff skb, int maxCount)
    {
        var nh = skb.Buffer;
        int nhStart = skb.NetworkHeader;
        int off = skb.TransportHeader - nhStart;
        int len = (nh[skb.TransportHeader + 1] + 1) << 3;
        int padlen = 0, tlvCount = 0;
        bool disallowUnknowns = maxCount < 0;
        if (disallowUnknowns) maxCount = -maxCount;
        off += 2;
        len -= 2;
        while (len > 0)
        {
            byte type = nh[nhStart + off];
            if (type == Ipv6TlvPad1)
            {
                padlen++;
                if (padlen > 7) goto bad;
                off++;
                len--;
                continue;
            }
            if (len < 2) goto bad;
            int optlen = nh[nhStart + off + 1] + 2;
            if (optlen > len) goto bad;
            if (type == Ipv6TlvPadN)
            {
                // RFC 2460: PadN aligns the header to 8 bytes, so 7 is the most; RFC 4942 2.1.9.5: check it is zeros.
                padlen += optlen;
                if (padlen > 7) goto bad;
                for (int i = 2; i < optlen; i++) if (nh[nhStart + off + i] != 0) goto bad;
            }
            else
            {
                tlvCount++;
                if (tlvCount > maxCount) goto bad;
                if (hopbyhop && type == Ipv6TlvRouterAlert)
                {
                    // ipv6_hop_ra(): remember it (MLD uses it); a wrong length is a bad packet.
                    if (optlen != 4) goto bad;
                    skb.Ip6cb.Ra = (ushort)off;
                }
                else if (hopbyhop && type == Ipv6TlvJumbo)
                {
                    // ipv6_hop_jumbo(): a jumbogram needs a payload over 65535, which no frame here carries.
                    net.Ip6Mib[Ipv6Mib.Ip6InHdrErrors]++;
                    Icmpv6.Icmpv6ParamProb(net, skb, Icmpv6Type.HdrField, off + 2);
                    return false;
                }
                else if (!Ip6TlvoptUnknown(net, skb, off, disallowUnknowns)) return false;
                padlen = 0;
            }
            off += optlen;
            len -= optlen;
        }
        if (len == 0) return true;
    bad:
        net.KfreeSkbReason(skb, SkbDropReason.IpInHdr);
        return false;
    }

    /// <summary>
    /// An option this host does not know, by the two high bits of its type (RFC 8200 4.2): 00 skip
    /// it, 01 drop the packet, 10 drop and send a parameter problem (code 2) even to a multicast
    /// destination, 11 the same but only for a unicast destination. True: skip and go on.
    /// </summary>
    /// <remarks>Mirrors ip6_tlvopt_unknown().</remarks>
    private static bool Ip6TlvoptUnknown(NetNamespace net, SkBuff skb, int optoff, bool disallowUnknowns)
    {
        if (!disallowUnknowns)
        {
            switch ((skb.Buffer[skb.NetworkHeader + optoff] & 0xC0) >> 6)
            {
                case 0:
                    return true;
                case 1:
                    break;
                case 3:
                    if (Ipv6Address.IsMulticast(Ipv6Address.Read(skb.Buffer.AsSpan(skb.NetworkHeader + 24, 16)))) break;
                    goto case 2;
                case 2:
                    Icmpv6.Icmpv6ParamProb(net, skb, Icmpv6Type.UnkOption, optoff);
                    return false;
            }
        }
        net.KfreeSkbReason(skb, SkbDropReason.UnhandledProto);
        return false;
    }
}
