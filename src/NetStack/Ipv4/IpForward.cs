using NetStack.Core;
using NetStack.Ethernet;
using NetStack.Wire;

namespace NetStack.Ipv4;

/// <summary>
/// IPv4 forwarding: a packet that arrived for another host, on a device with
/// net.ipv4.conf.DEV.forwarding set and a route that leads on, leaves through the route's device
/// with its TTL one less. Allocation-free when the packet fits the next link (the received buffer
/// goes out again; fragments come from the pool).
/// <remarks>Mirrors net/ipv4/ip_forward.c, and the parts of net/ipv4/route.c that serve it:
/// ip_error() and ip_rt_send_redirect().</remarks>
/// </summary>
internal static class IpForward
{
    /// <summary>ip_rt_error_cost (HZ) and ip_rt_error_burst (5 * HZ): unreachables to one sender, one a second after a burst of five.</summary>
    private static readonly long IpRtErrorCost = Time.Sec(1), IpRtErrorBurst = Time.Sec(5);
    /// <summary>ip_rt_redirect_number: redirects to a sender that ignores them before the router gives up.</summary>
    private const int IpRtRedirectNumber = 9;
    /// <summary>ip_rt_redirect_load (HZ / 50): the gap before the second redirect, doubling with each one sent.</summary>
    private static readonly long IpRtRedirectLoad = Time.Ms(20);
    /// <summary>ip_rt_redirect_silence ((HZ / 50) &lt;&lt; (ip_rt_redirect_number + 1)): after this long without a redirected packet, start again.</summary>
    private static readonly long IpRtRedirectSilence = Time.Ms(20) << (IpRtRedirectNumber + 1);

    /// <summary>
    /// Forwards <paramref name="skb"/> (Data at its IP header) along <paramref name="rt"/>, in
    /// ip_forward()'s order: only packets sent to this host's MAC; TTL 1 or less dies here (time
    /// exceeded to the sender, InHdrErrors); DF and bigger than the next hop's MTU is refused (frag
    /// needed with that MTU, FragFails); then the TTL is decremented with an incremental checksum,
    /// a redirect goes to the sender when the route asked for one, and the packet is sent
    /// (ForwDatagrams; fragmented when DF is clear and it does not fit). Consumes the buffer.
    /// </summary>
    /// <remarks>Mirrors ip_forward(). The xfrm policy checks have no counterpart (no IPsec), LRO/GSO
    /// cannot occur (drivers hand over single frames), and no socket can set IP_ROUTER_ALERT, so
    /// ip_call_ra_chain() never takes a packet. Of the IP options, record route gets the router's
    /// address (<see cref="IpOptions"/>); timestamps are forwarded as they are.</remarks>
    public static int IpForwardSkb(NetNamespace net, SkBuff skb, in Rtable rt, bool doRedirect, in IpOptionsParm opt = default)
    {
        var mib = net.Mib.Ip;
        // "That should never happen": a frame for another MAC was already dropped by ip_rcv().
        if (skb.PktType != Eth.PacketHost) return net.KfreeSkbReason(skb, SkbDropReason.OtherHost);
        var iph = Ipv4Header.Create(skb.DataSpan);
        // RFC 1812 5.3.1: the TTL is decremented first; a packet it would bring to 0 dies here.
        if (iph.Ttl <= 1)
        {
            mib[IpMib.InHdrErrors]++;
            Icmp.IcmpSend(net, skb, IcmpType.TimeExceeded, IcmpType.ExcTtl, 0);
            return net.KfreeSkbReason(skb, SkbDropReason.IpInHdr);
        }
        // ip_dst_mtu_maybe_forward(): the output device's MTU (net.ipv4.ip_forward_use_pmtu = 0).
        int mtu = rt.Dev.Mtu;
        if (IpExceedsMtu(skb, iph, mtu))
        {
            mib[IpMib.FragFails]++;
            Icmp.IcmpSend(net, skb, IcmpType.DestUnreach, IcmpType.FragNeeded, (uint)mtu);
            return net.KfreeSkbReason(skb, SkbDropReason.PktTooBig);
        }
        // skb_cow(): the buffer is this stack's alone (no clones); it needs room for the next link's
        // header, which the pulled Ethernet header of the received frame leaves.
        if (skb.Headroom < EthernetHeader.Length) return net.KfreeSkbReason(skb, SkbDropReason.NoBuffers);
        IpDecreaseTtl(iph);
        // The redirect quotes the packet as it leaves, TTL already decremented.
        if (doRedirect) IpRtSendRedirect(net, skb, rt);
        return IpForwardFinish(net, skb, rt, opt);
    }

    /// <summary>Counts the packet as forwarded and hands it to IP output (which fragments it if it must).</summary>
    /// <remarks>Mirrors ip_forward_finish() (IPSTATS_MIB_OUTFORWDATAGRAMS, /proc/net/snmp's Ip ForwDatagrams) -> dst_output() -> ip_output().</remarks>
    private static int IpForwardFinish(NetNamespace net, SkBuff skb, in Rtable rt, in IpOptionsParm opt)
    {
        net.Mib.Ip[IpMib.ForwDatagrams]++;
        if (opt.RrNeedaddr || opt.IsChanged) IpOptions.IpForwardOptions(skb, opt, rt);
        skb.Sk = null;
        skb.RouteBroadcast = false;
        return IpOutput.IpOutputForwarded(net, skb, rt, Ipv4Header.Create(skb.DataSpan).Destination);
    }

    /// <summary>A packet bigger than <paramref name="mtu"/> with DF set cannot be forwarded.</summary>
    /// <remarks>Mirrors ip_exceeds_mtu() (no frag_max_size: this stack does not reassemble what it forwards; no ignore_df, no GSO).</remarks>
    internal static bool IpExceedsMtu(SkBuff skb, Ipv4Header iph, int mtu) => skb.Len > mtu && iph.DontFragment;

    /// <summary>
    /// Decrements the TTL and patches the header checksum in place: the TTL is the high byte of its
    /// 16-bit word, so the one's complement sum drops by 0x0100 and the checksum rises by as much,
    /// with the end-around carry. Returns the new TTL.
    /// </summary>
    /// <remarks>Mirrors include/net/ip.h: ip_decrease_ttl().</remarks>
    internal static int IpDecreaseTtl(Ipv4Header iph)
    {
        uint check = (uint)iph.HeaderChecksum + 0x0100;
        iph.HeaderChecksum = (ushort)(check + (check >= 0xFFFF ? 1u : 0u));
        return --iph.Ttl;
    }

    /// <summary>
    /// Tells the sender of <paramref name="skb"/> that its next hop for this destination is the
    /// route's next hop (ICMP redirect for the host), with an exponential backoff per sender: the
    /// first at once, then after 20 ms, 40 ms, ... up to nine; a sender that keeps ignoring them
    /// gets no more until it has been quiet for ip_rt_redirect_silence (about 20 s).
    /// </summary>
    /// <remarks>Mirrors net/ipv4/route.c: ip_rt_send_redirect() (inet_peer's rate_last, rate_tokens, n_redirects).</remarks>
    internal static void IpRtSendRedirect(NetNamespace net, SkBuff skb, in Rtable rt)
    {
        if (!Devinet.InDevTxRedirects(net, rt.Dev)) return;
        var iph = Ipv4Header.Create(skb.DataSpan);
        var peer = RateLimit.InetGetpeerV4(net, iph.Source);
        long now = net.NowNs;
        // No redirected packets during ip_rt_redirect_silence: reset the algorithm.
        if (now - (peer.Stamp + IpRtRedirectSilence) > 0)
        {
            peer.Tokens = 0;
            peer.NRedirects = 0;
        }
        // Too many ignored redirects: send nothing, and remember the last redirected packet.
        if (peer.NRedirects >= IpRtRedirectNumber)
        {
            peer.Stamp = now;
            return;
        }
        if (peer.NRedirects == 0 || now - (peer.Stamp + (IpRtRedirectLoad << peer.NRedirects)) > 0)
        {
            Icmp.IcmpSend(net, skb, IcmpType.Redirect, IcmpType.RedirHost, rt.NextHop(iph.Destination));
            peer.Stamp = now;
            peer.NRedirects++;
        }
    }

    /// <summary>
    /// A received packet with nowhere to go (<paramref name="err"/> from the input route). A device
    /// that does not forward counts it (InAddrErrors for another host's address, InNoRoutes for no
    /// route) and drops it; a forwarding one answers the sender with net or host unreachable, at
    /// most one a second per sender after a burst of five.
    /// </summary>
    /// <remarks>Mirrors net/ipv4/route.c: ip_error() (ip_rt_error_cost, ip_rt_error_burst on the sender's inet_peer).</remarks>
    public static int IpError(NetNamespace net, SkBuff skb, NetDevice dev, int err)
    {
        var mib = net.Mib.Ip;
        if (!Devinet.InDevForward(dev))
        {
            if (err == -Uapi.Errno.EHOSTUNREACH)
            {
                mib[IpMib.InAddrErrors]++;
                return net.KfreeSkbReason(skb, SkbDropReason.IpInAddrErrors);
            }
            if (err != -Uapi.Errno.ENETUNREACH) return net.KfreeSkbReason(skb, SkbDropReason.NotSpecified);
            net.Mib.IpExt[IpExtMib.InNoRoutes]++;
            return net.KfreeSkbReason(skb, SkbDropReason.IpInNoRoutes);
        }
        byte code;
        SkbDropReason reason = SkbDropReason.NotSpecified;
        if (err == -Uapi.Errno.EHOSTUNREACH) code = IcmpType.HostUnreach;
        else if (err == -Uapi.Errno.ENETUNREACH)
        {
            code = IcmpType.NetUnreach;
            reason = SkbDropReason.IpInNoRoutes;
            net.Mib.IpExt[IpExtMib.InNoRoutes]++;
        }
        else return net.KfreeSkbReason(skb, reason);

        var peer = RateLimit.InetGetpeerV4(net, Ipv4Header.Create(skb.DataSpan).Source);
        long now = net.NowNs;
        bool send = true;
        peer.Tokens = Math.Min(peer.Tokens + (now - peer.Stamp), IpRtErrorBurst);
        peer.Stamp = now;
        if (peer.Tokens >= IpRtErrorCost) peer.Tokens -= IpRtErrorCost;
        else send = false;
        if (send) Icmp.IcmpSend(net, skb, IcmpType.DestUnreach, code, 0);
        return net.KfreeSkbReason(skb, reason);
    }
}
