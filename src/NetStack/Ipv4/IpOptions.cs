using NetStack.Core;
using NetStack.Wire;

namespace NetStack.Ipv4;

/// <summary>What <see cref="IpOptions.IpOptionsCompile"/> found in a received header (the part of struct ip_options forwarding needs).</summary>
internal struct IpOptionsParm
{
    /// <summary>opt->srr: offset of a loose or strict source route option from the IP header, 0 for none.</summary>
    public int Srr;
    /// <summary>opt->rr: offset of the record route option, 0 for none.</summary>
    public int Rr;
    /// <summary>opt->rr_needaddr: the record route option has room; a router writes its address there.</summary>
    public bool RrNeedaddr;
}

/// <summary>
/// The IP options a router acts on: the walk that validates a received header's options, source
/// routes (refused: net.ipv4.conf.all.accept_source_route is 0) and record route (the router's
/// outgoing address goes in).
/// <remarks>Mirrors net/ipv4/ip_options.c: ip_options_compile() (for a received packet) and
/// ip_forward_options(), and ip_input.c: ip_rcv_options(). Timestamp, security and the rest are
/// walked over and left as they are.</remarks>
/// </summary>
internal static class IpOptions
{
    public const byte IpoptEnd = 0, IpoptNoop = 1, IpoptRr = 7, IpoptLsrr = 131, IpoptSsrr = 137;

    /// <summary>
    /// Walks the options of the header at <paramref name="skb"/>.Data. A malformed option
    /// earns the sender a parameter problem pointing at it and returns false (the caller counts
    /// InHdrErrors and drops). Room in a record route option is claimed: its pointer advances by 4.
    /// Padding after an end-of-list option is zeroed, as Linux does.
    /// </summary>
    /// <remarks>Mirrors ip_options_compile() with skb != NULL.</remarks>
    public static bool IpOptionsCompile(NetNamespace net, SkBuff skb, out IpOptionsParm opt)
    {
        opt = default;
        var iph = skb.DataSpan;
        int hl = Ipv4Header.Create(iph).HeaderLength;
        int p = Ipv4Header.MinLength, l = hl - p, pp;
        while (l > 0)
        {
            byte type = iph[p];
            if (type == IpoptEnd)
            {
                for (p++, l--; l > 0; p++, l--) iph[p] = IpoptEnd;
                break;
            }
            if (type == IpoptNoop) { p++; l--; continue; }
            if (l < 2) { pp = p; goto error; }
            int optlen = iph[p + 1];
            if (optlen < 2 || optlen > l) { pp = p; goto error; }
            switch (type)
            {
                case IpoptSsrr:
                case IpoptLsrr:
                    if (optlen < 3) { pp = p + 1; goto error; }
                    if (iph[p + 2] < 4) { pp = p + 2; goto error; }
                    if (opt.Srr != 0) { pp = p; goto error; } // RFC 1812 5.2.4.1: one source route
                    opt.Srr = p;
                    break;
                case IpoptRr:
                    if (optlen < 3) { pp = p + 1; goto error; }
                    if (iph[p + 2] < 4) { pp = p + 2; goto error; }
                    if (iph[p + 2] <= optlen)
                    {
                        if (iph[p + 2] + 3 > optlen) { pp = p + 2; goto error; }
                        iph[p + 2] += 4;
                        opt.RrNeedaddr = true;
                    }
                    opt.Rr = p;
                    break;
            }
            l -= optlen;
            p += optlen;
        }
        return true;
    error:
        Icmp.IcmpSend(net, skb, IcmpType.ParameterProb, 0, (uint)pp << 24);
        return false;
    }

    /// <summary>
    /// Fills the record route slot claimed at input with the address the packet leaves from (the
    /// preferred source of the output route), then recomputes the header checksum.
    /// </summary>
    /// <remarks>Mirrors ip_forward_options() (ip_rt_get_source(), ip_send_check()).</remarks>
    public static void IpForwardOptions(SkBuff skb, in IpOptionsParm opt, in Rtable rt)
    {
        if (!opt.RrNeedaddr) return;
        var iph = skb.DataSpan;
        int slot = opt.Rr + iph[opt.Rr + 2] - 5;
        uint src = InetAddress.InetSelectAddr(rt.Dev, rt.NextHop(Ipv4Header.Create(iph).Destination));
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(iph[slot..], src);
        Ipv4Header.Create(iph).FillChecksum();
    }
}
