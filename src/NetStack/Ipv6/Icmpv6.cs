using NetStack.Core;
using NetStack.Ethernet;
using NetStack.Ipv4;
using NetStack.Wire;

namespace NetStack.Ipv6;

/// <summary>
/// ICMPv6: receive (checksum, counters, echo, neighbour discovery), echo replies, and error
/// messages with Linux's rules on when not to send one and its rate limits.
/// </summary>
/// <remarks>Mirrors net/ipv6/icmp.c.</remarks>
internal static class Icmpv6
{
    /// <summary>The most of the offending packet an error quotes: IPV6_MIN_MTU less the two headers (RFC 4443 2.4 (c)).</summary>
    private const int MaxQuote = Ipv6Header.MinMtu - Ipv6Header.Length - Icmpv6Header.Length;

    /// <remarks>Mirrors icmpv6_init(): inet6_add_protocol(&amp;icmpv6_protocol, IPPROTO_ICMPV6) (INET6_PROTO_FINAL).</remarks>
    internal static void Icmpv6Init(NetNamespace net) =>
        net.Ipv6.Inet6Protos[NextHdr.Icmp] = new Inet6Protocol(Icmpv6Rcv, final: true, Icmpv6Err);

    /// <summary>The per-type counter of a received message type (Icmp6In*), or -1 for a type without one.</summary>
    /// <remarks>Mirrors ICMP6MSGIN_INC_STATS() as /proc/net/snmp6 names the types (icmp6type2name[]).</remarks>
    private static int MsgIn(byte type) => type switch
    {
        Icmpv6Type.DestUnreach => (int)Icmp6Mib.Icmp6InDestUnreachs,
        Icmpv6Type.PktTooBig => (int)Icmp6Mib.Icmp6InPktTooBigs,
        Icmpv6Type.TimeExceed => (int)Icmp6Mib.Icmp6InTimeExcds,
        Icmpv6Type.ParamProb => (int)Icmp6Mib.Icmp6InParmProblems,
        Icmpv6Type.EchoRequest => (int)Icmp6Mib.Icmp6InEchos,
        Icmpv6Type.EchoReply => (int)Icmp6Mib.Icmp6InEchoReplies,
        Icmpv6Type.MgmQuery => (int)Icmp6Mib.Icmp6InGroupMembQueries,
        Icmpv6Type.MgmReport => (int)Icmp6Mib.Icmp6InGroupMembResponses,
        Icmpv6Type.MgmReduction => (int)Icmp6Mib.Icmp6InGroupMembReductions,
        Icmpv6Type.RouterSolicitation => (int)Icmp6Mib.Icmp6InRouterSolicits,
        Icmpv6Type.RouterAdvertisement => (int)Icmp6Mib.Icmp6InRouterAdvertisements,
        Icmpv6Type.NeighbourSolicitation => (int)Icmp6Mib.Icmp6InNeighborSolicits,
        Icmpv6Type.NeighbourAdvertisement => (int)Icmp6Mib.Icmp6InNeighborAdvertisements,
        Icmpv6Type.Redirect => (int)Icmp6Mib.Icmp6InRedirects,
        Icmpv6Type.Mld2Report => (int)Icmp6Mib.Icmp6InMLDv2Reports,
        _ => -1,
    };

    private const int OutFromIn = Icmp6Mib.Icmp6OutDestUnreachs - Icmp6Mib.Icmp6InDestUnreachs;

    /// <summary>
    /// Receives an ICMPv6 message (Data at its header): the checksum over the pseudo-header first
    /// (a bad one counts Icmp6InCsumErrors and Icmp6InErrors), then the per-type counter, then the
    /// handler of the type. Always 0: the message was delivered to ICMPv6 (Ip6InDelivers), as in Linux.
    /// </summary>
    /// <remarks>Mirrors icmpv6_rcv().</remarks>
    internal static int Icmpv6Rcv(SkBuff skb)
    {
        var net = skb.Dev!.Net!;
        var mib = net.Ipv6.Icmp6Stats;
        mib[Icmp6Mib.Icmp6InMsgs]++;
        var ip6 = Ipv6Header.Create(skb.Buffer.AsSpan(skb.NetworkHeader, Ipv6Header.Length));
        UInt128 saddr = ip6.Source, daddr = ip6.Destination;
        var msg = skb.DataSpan;
        if (Checksum.TcpUdpV6(saddr, daddr, NextHdr.Icmp, msg) != 0)
        {
            mib[Icmp6Mib.Icmp6InCsumErrors]++;
            mib[Icmp6Mib.Icmp6InErrors]++;
            net.KfreeSkbReason(skb, SkbDropReason.IcmpCsum);
            return 0;
        }
        if (!Icmpv6Header.TryCreate(msg, out var hdr))
        {
            mib[Icmp6Mib.Icmp6InErrors]++;
            net.KfreeSkbReason(skb, SkbDropReason.IcmpTruncated);
            return 0;
        }
        byte type = hdr.Type;
        int perType = MsgIn(type);
        if (perType >= 0) mib[(Icmp6Mib)perType]++;
        SkbDropReason reason = SkbDropReason.NotSpecified;
        switch (type)
        {
            case Icmpv6Type.EchoRequest:
                if (!net.Ipv6.Sysctl.IcmpEchoIgnoreAll) reason = Icmpv6EchoReply(net, skb, saddr, daddr);
                break;
            case Icmpv6Type.DestUnreach:
            case Icmpv6Type.PktTooBig:
            case Icmpv6Type.TimeExceed:
            case Icmpv6Type.ParamProb:
                Icmpv6Notify(net, skb, type, hdr.Code, hdr.Rest);
                reason = 0;
                break;
            case Icmpv6Type.EchoReply:
                if (Ping6.PingV6Rcv(net, skb, daddr)) return 0; // ping_rcv(): queued on its socket
                reason = SkbDropReason.NotSpecified; // SKB_DROP_REASON_NO_SOCKET
                break;
            case Icmpv6Type.RouterSolicitation:
            case Icmpv6Type.RouterAdvertisement:
            case Icmpv6Type.NeighbourSolicitation:
            case Icmpv6Type.NeighbourAdvertisement:
            case Icmpv6Type.Redirect:
                reason = Ndisc.NdiscRcv(net, skb, saddr, daddr);
                break;
            case Icmpv6Type.MgmQuery:
                reason = Mcast.Igmp6EventQuery(net, skb);
                break;
            case Icmpv6Type.MgmReport:
                reason = Mcast.Igmp6EventReport(net, skb);
                break;
            default:
                // MLD reductions and MLDv2 reports (a router's business), informational types: consumed.
                reason = SkbDropReason.NotSpecified;
                break;
        }
        if (reason == 0) skb.Free(); // consume_skb
        else net.KfreeSkbReason(skb, reason);
        return 0;
    }

    /// <summary>
    /// Answers an echo request: the same identifier, sequence and data back to its source, from the
    /// address it was sent to (a source chosen for the requester when that was a multicast group),
    /// with the request's traffic class. Returns 0 (consumed) or the reason to drop the request.
    /// </summary>
    /// <remarks>Mirrors icmpv6_echo_reply().</remarks>
    private static SkbDropReason Icmpv6EchoReply(NetNamespace net, SkBuff skb, UInt128 saddr, UInt128 daddr)
    {
        if (Ipv6Address.IsMulticast(daddr) && net.Ipv6.Sysctl.IcmpEchoIgnoreMulticast) return SkbDropReason.InvalidProto;
        var dev = skb.Dev!;
        var ifDev = net.DevGetByIndex(skb.Ip6cb.Iif) ?? dev;
        // fl6.flowi6_oif = icmp6_iif(skb): a link-local requester is answered on its link.
        var oif = Ipv6Address.IsLinkLocal(saddr) || Ipv6Address.IsMulticast(daddr) ? ifDev : null;
        var rt = Route6.Ip6RouteOutput(net, saddr, oif);
        if (rt is null) return SkbDropReason.IpOutNoRoute;
        UInt128 src = daddr;
        if (Ipv6Address.IsMulticast(daddr) && !Addrconf.Ipv6DevGetSaddr(net, rt.Dev, saddr, out src)) return SkbDropReason.IpOutNoRoute;
        // ICMPV6_ECHO_REPLY is outside the rate mask: icmpv6_global_allow() lets it pass without a limit.
        var msg = skb.DataSpan;
        var reply = net.AllocSkb(msg.Length); // a reassembled request may need the large pool
        if (reply is null) { net.Ipv6.Icmp6Stats[Icmp6Mib.Icmp6OutErrors]++; return SkbDropReason.NoBuffers; }
        if (msg.Length > reply.Tailroom) { reply.Free(); net.Ipv6.Icmp6Stats[Icmp6Mib.Icmp6OutErrors]++; return SkbDropReason.PktTooBig; }
        var body = reply.Put(msg.Length);
        msg.CopyTo(body);
        var icmp = Icmpv6Header.Create(body);
        icmp.Type = Icmpv6Type.EchoReply;
        icmp.Code = 0;
        icmp.FillChecksum(src, saddr);
        byte tclass = Ipv6Header.Create(skb.Buffer.AsSpan(skb.NetworkHeader, Ipv6Header.Length)).TrafficClass;
        Icmpv6Xmit(net, reply, rt, src, saddr, Ip6Output.Ip6DstHoplimit(net, rt), tclass);
        return 0;
    }

    /// <summary>
    /// Passes an ICMPv6 error to the error handler of the protocol whose packet it quotes (the
    /// quoted packet's next header, when it follows the fixed header directly).
    /// </summary>
    /// <remarks>Mirrors icmpv6_notify(): the quoted header and 8 bytes of what follows it must be there,
    /// else Icmp6InErrors (the out: label). The handlers find the upper header right after the fixed one:
    /// a quoted packet with extension headers reaches no handler (ipv6_skip_exthdr() is not walked).</remarks>
    private static void Icmpv6Notify(NetNamespace net, SkBuff skb, byte type, byte code, uint info)
    {
        var msg = skb.DataSpan;
        if (msg.Length < Icmpv6Header.Length + Ipv6Header.Length + 8)
        {
            net.Ipv6.Icmp6Stats[Icmp6Mib.Icmp6InErrors]++;
            return;
        }
        byte nexthdr = msg[Icmpv6Header.Length + 6];
        skb.TransportHeader = skb.Data; // icmp6_hdr(skb): the error handlers read the type and code there
        skb.Data += Icmpv6Header.Length; // the quoted IPv6 header
        if (net.Ipv6.Inet6Protos[nexthdr]?.ErrHandler is { } handler) handler(skb, type, code, info);
        Raw6.Raw6IcmpError(net, skb, nexthdr, type, code, info);
    }

    /// <summary>
    /// The ICMPv6 protocol's own error handler: an error about an ICMPv6 message we sent. A Packet
    /// Too Big teaches the path its MTU; an error about an echo request goes to the ping socket.
    /// </summary>
    /// <remarks>Mirrors icmpv6_err(): ip6_update_pmtu() for ICMPV6_PKT_TOOBIG, then ping_err() for a quoted echo request.</remarks>
    internal static void Icmpv6Err(SkBuff skb, byte type, byte code, uint info)
    {
        if (type == Icmpv6Type.PktTooBig) Route6Pmtu.Ip6SkUpdatePmtu(skb, null, info);
        var q = skb.DataSpan;
        if (q.Length < Ipv6Header.Length + Icmpv6Header.Length) return;
        if (q[Ipv6Header.Length] == Icmpv6Type.EchoRequest) Ping6.PingV6Err(skb, type, code, info);
    }

    /// <summary>
    /// The errno an ICMPv6 error means, and whether it is hard (fatal): what a connected socket
    /// learns without IPV6_RECVERR.
    /// </summary>
    /// <remarks>Mirrors icmpv6_err_convert() with tab_unreach[].</remarks>
    internal static bool Icmpv6ErrConvert(byte type, byte code, out int err)
    {
        switch (type)
        {
            case Icmpv6Type.DestUnreach:
                (err, bool fatal) = code switch
                {
                    0 => (Uapi.Errno.ENETUNREACH, false), // NOROUTE
                    1 => (Uapi.Errno.EACCES, true),       // ADM_PROHIBITED
                    2 => (Uapi.Errno.EHOSTUNREACH, false), // NOT_NEIGHBOUR
                    3 => (Uapi.Errno.EHOSTUNREACH, false), // ADDR_UNREACH
                    4 => (Uapi.Errno.ECONNREFUSED, true), // PORT_UNREACH
                    5 => (Uapi.Errno.EACCES, true),       // POLICY_FAIL
                    6 => (Uapi.Errno.EACCES, true),       // REJECT_ROUTE
                    _ => (Uapi.Errno.EPROTO, false),
                };
                return fatal;
            case Icmpv6Type.PktTooBig:
                err = Uapi.Errno.EMSGSIZE;
                return false;
            case Icmpv6Type.ParamProb:
                err = Uapi.Errno.EPROTO;
                return true;
            case Icmpv6Type.TimeExceed:
                err = Uapi.Errno.EHOSTUNREACH;
                return false;
            default:
                err = Uapi.Errno.EPROTO;
                return false;
        }
    }

    /// <summary>Counts an outgoing message (Icmp6OutMsgs and its type) and sends it (Data at the complete, checksummed ICMPv6 message).</summary>
    /// <remarks>Mirrors icmpv6_push_pending_frames() -> ip6_push_pending_frames() (ICMP6MSGOUT_INC_STATS, ICMP6_MIB_OUTMSGS).</remarks>
    internal static int Icmpv6Xmit(NetNamespace net, SkBuff skb, Rt6Info rt, UInt128 saddr, UInt128 daddr, int hlimit, byte tclass = 0, int mtu = 0)
    {
        var mib = net.Ipv6.Icmp6Stats;
        mib[Icmp6Mib.Icmp6OutMsgs]++;
        int perType = MsgIn(skb.Buffer[skb.Data]);
        if (perType >= 0) mib[(Icmp6Mib)(perType + OutFromIn)]++;
        return Ip6Output.Ip6Xmit(net, skb, rt, saddr, daddr, NextHdr.Icmp, hlimit, tclass, mtu);
    }

    /// <summary>A parameter problem about <paramref name="skb"/>, pointing at <paramref name="pos"/> (from the IPv6 header); the packet is freed.</summary>
    /// <remarks>Mirrors icmpv6_param_prob_reason().</remarks>
    internal static void Icmpv6ParamProb(NetNamespace net, SkBuff skb, byte code, int pos)
    {
        Icmp6Send(net, skb, Icmpv6Type.ParamProb, code, (uint)pos);
        net.KfreeSkbReason(skb, SkbDropReason.UnhandledProto);
    }

    /// <summary>
    /// Sends an ICMPv6 error about <paramref name="skb"/> (its IPv6 header at NetworkHeader) to its
    /// source, unless a rule forbids it: not about a packet to a multicast address or not for this
    /// host (except packet too big, and a parameter problem about an unknown option whose type says
    /// "report even to multicast"), not to an unspecified or multicast source, never about an
    /// ICMPv6 error, and within the global and per-host rate limits. Quotes as much of the packet
    /// as fits in the minimum MTU. Does not free the packet.
    /// </summary>
    /// <remarks>Mirrors icmp6_send() (with is_ineligible(), opt_unrec(), icmpv6_global_allow(), icmpv6_xrlim_allow()).</remarks>
    internal static void Icmp6Send(NetNamespace net, SkBuff skb, byte type, byte code, uint info)
    {
        int nh = skb.NetworkHeader;
        if (nh < 0 || nh + Ipv6Header.Length > skb.Tail) return;
        var pkt = skb.Buffer.AsSpan(nh, skb.Tail - nh);
        var hdr = Ipv6Header.Create(pkt);
        UInt128 origSaddr = hdr.Source, origDaddr = hdr.Destination;
        var dev = skb.Dev ?? net.Loopback; // a packet of our own that could not be sent has no device yet
        var inDev = net.DevGetByIndex(skb.Ip6cb.Iif) ?? dev;
        UInt128 saddr = 0;
        bool haveSaddr = false;
        if (Addrconf.Ipv6ChkAddr(net, origDaddr, inDev)) { saddr = origDaddr; haveSaddr = true; }
        if (Ipv6Address.IsMulticast(origDaddr) || skb.PktType != Eth.PacketHost)
        {
            if (type != Icmpv6Type.PktTooBig && !(type == Icmpv6Type.ParamProb && code == Icmpv6Type.UnkOption && OptUnrec(pkt, info)))
                return;
            haveSaddr = false;
        }
        // RFC 4443 2.4 (e): the source must identify a single node.
        if (origSaddr == Ipv6Address.Any || Ipv6Address.IsMulticast(origSaddr)) return;
        if (IsIneligible(pkt)) return;
        bool applyRatelimit = false;
        if (!dev.IsLoopback && !Icmpv6GlobalAllow(net, type, out applyRatelimit)) return;
        NetDevice? oif = Ipv6Address.IsLinkLocal(origSaddr) ? inDev : null;
        var rt = Route6.Ip6RouteOutput(net, origSaddr, oif);
        if (rt is null) return;
        if (!Icmpv6XrlimAllow(net, type, rt, origSaddr, applyRatelimit)) return;
        if (!haveSaddr && !Addrconf.Ipv6DevGetSaddr(net, inDev, origSaddr, out saddr)) return;

        int len = Math.Min(pkt.Length, MaxQuote);
        var err = net.SkbPool.AllocWithHeadroom();
        if (err is null) { net.Ipv6.Icmp6Stats[Icmp6Mib.Icmp6OutErrors]++; return; }
        if (Icmpv6Header.Length + len > err.Tailroom) len = err.Tailroom - Icmpv6Header.Length;
        var body = err.Put(Icmpv6Header.Length + len);
        var icmp = Icmpv6Header.Create(body);
        icmp.Type = type;
        icmp.Code = code;
        icmp.Rest = info;
        pkt[..len].CopyTo(body[Icmpv6Header.Length..]);
        icmp.FillChecksum(saddr, origSaddr);
        Icmpv6Xmit(net, err, rt, saddr, origSaddr, Ip6Output.Ip6DstHoplimit(net, rt));
    }

    /// <summary>Whether the option at <paramref name="offset"/> has the type bits 10 ("send a parameter problem even to multicast").</summary>
    /// <remarks>Mirrors opt_unrec().</remarks>
    private static bool OptUnrec(ReadOnlySpan<byte> pkt, uint offset) => offset >= (uint)pkt.Length || (pkt[(int)offset] & 0xC0) == 0x80;

    /// <summary>Whether the packet is an ICMPv6 error (or too short to tell): no error answers it.</summary>
    /// <remarks>Mirrors is_ineligible().</remarks>
    private static bool IsIneligible(ReadOnlySpan<byte> pkt)
    {
        byte nexthdr = pkt[6];
        int ptr = Ipv6ExtHdr.Skip(pkt, Ipv6Header.Length, ref nexthdr, out ushort fragOff);
        if (ptr < 0) return false;
        if (nexthdr == NextHdr.Icmp)
        {
            if (ptr >= pkt.Length) return fragOff == 0;
            if (Icmpv6Type.IsError(pkt[ptr])) return true;
        }
        return false;
    }

    /// <summary>Types outside net.ipv6.icmp.ratemask are never limited.</summary>
    /// <remarks>Mirrors icmpv6_mask_allow().</remarks>
    private static bool Icmpv6MaskAllow(NetNamespace net, byte type) =>
        type >= 128 || ((net.Ipv6.Sysctl.IcmpRatemask >> type) & 1) == 0;

    /// <summary>The global token bucket (shared with IPv4's, as net->ipv4.icmp_global is).</summary>
    /// <remarks>Mirrors icmpv6_global_allow().</remarks>
    private static bool Icmpv6GlobalAllow(NetNamespace net, byte type, out bool applyRatelimit)
    {
        applyRatelimit = false;
        if (Icmpv6MaskAllow(net, type)) return true;
        if (RateLimit.IcmpGlobalAllow(net))
        {
            applyRatelimit = true;
            return true;
        }
        return false;
    }

    /// <summary>
    /// One message per net.ipv6.icmp.ratelimit per destination, with a burst of 6; a route to a wider
    /// prefix gives the destination more (the timeout shrinks by 2 for every 32 bits the prefix is
    /// shorter than /128). Loopback is never limited.
    /// </summary>
    /// <remarks>Mirrors icmpv6_xrlim_allow() (inet_getpeer_v6() + inet_peer_xrlim_allow(), icmp_global_consume()).</remarks>
    private static bool Icmpv6XrlimAllow(NetNamespace net, byte type, Rt6Info rt, UInt128 daddr, bool applyRatelimit)
    {
        if (!applyRatelimit) return true;
        bool res;
        if (rt.Dev.IsLoopback) res = true;
        else
        {
            long tmo = Time.Ms(net.Ipv6.Sysctl.IcmpRatelimitMs);
            if (rt.DstLen < 128) tmo >>= (128 - rt.DstLen) >> 5;
            var peers = net.Ipv6.Peers;
            if (!peers.TryGetValue(daddr, out var peer))
            {
                if (peers.Count >= 4096) peers.Clear();
                peer = new IcmpPeer { Tokens = 0, Stamp = net.NowNs - Time.Sec(60) };
                peers[daddr] = peer;
            }
            res = RateLimit.InetPeerXrlimAllow(peer, net.NowNs, tmo);
        }
        if (!res) net.Ipv6.Icmp6Stats[Icmp6Mib.Icmp6OutRateLimitHost]++;
        else net.Ipv4.IcmpRate.GlobalCredit--;
        return res;
    }
}
