using NetStack.Core;
using NetStack.Ethernet;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Ipv4;

/// <summary>
/// IPv4 send. <remarks>Mirrors net/ipv4/ip_output.c.</remarks>
/// </summary>
public static class IpOutput
{
    /// <summary>
    /// Sends a transport segment: skb.Data is at the transport header and there is headroom for
    /// IP and Ethernet. Pushes a 20-byte IP header and hands the packet to the neighbour layer.
    /// Consumes the buffer. Returns 0 or a negative errno.
    /// </summary>
    /// <remarks>Mirrors ip_build_and_send_pkt() / __ip_queue_xmit() -> ip_local_out() -> ip_output() -> ip_finish_output2().</remarks>
    /// <param name="net">The stack.</param>
    /// <param name="skb">The segment, at its transport header.</param>
    /// <param name="rt">The route.</param>
    /// <param name="saddr">The source address.</param>
    /// <param name="daddr">The destination address.</param>
    /// <param name="protocol">The IP protocol number.</param>
    /// <param name="ttl">The TTL, or -1 for net.ipv4.ip_default_ttl.</param>
    /// <param name="tos">The TOS byte.</param>
    /// <param name="df">Whether the packet goes with DF.</param>
    /// <param name="sk">The sending socket, when one sends (its IP ID counter numbers the packets of a
    /// connected socket, as ip_select_ident_segs() does); null for replies the stack sends on no socket's behalf.</param>
    public static int IpQueueXmit(NetNamespace net, SkBuff skb, in Rtable rt, uint saddr, uint daddr, int protocol, int ttl = -1, byte tos = 0, bool df = true, Sock? sk = null) =>
        IpQueueXmit(net, skb, rt, saddr, daddr, protocol, ttl, tos, df, sk, NoOptions);

    /// <summary>No IP options (a packet with a 20-byte header).</summary>
    internal static readonly IpOptionsData NoOptions;

    /// <summary>
    /// <see cref="IpQueueXmit(NetNamespace, SkBuff, in Rtable, uint, uint, int, int, byte, bool, Sock?)"/>
    /// with IP options (a socket's IP_OPTIONS, a reply's echo): the header grows by their length and
    /// <see cref="IpOptions.IpOptionsBuild"/> fills their slots. With a source route the header goes
    /// to its first hop (the route must lead there) and <paramref name="daddr"/>, the final
    /// destination, ends the route.
    /// </summary>
    /// <remarks>Mirrors __ip_queue_xmit() / ip_build_and_send_pkt() / __ip_make_skb(): iph->ihl += optlen >> 2; ip_options_build().</remarks>
    internal static int IpQueueXmit(NetNamespace net, SkBuff skb, in Rtable rt, uint saddr, uint daddr, int protocol, int ttl, byte tos, bool df, Sock? sk, in IpOptionsData opt)
    {
        var mib = net.Mib.Ip;
        mib[IpMib.OutRequests]++;
        int payload = skb.Len;
        int optlen = opt.Opt.Optlen;
        int hl = Ipv4Header.MinLength + optlen;
        if (payload + hl > 0xFFFF)
        {
            mib[IpMib.OutDiscards]++;
            skb.Free();
            return -Uapi.Errno.EMSGSIZE;
        }
        skb.TransportHeader = skb.Data;
        if (sk is not null) skb.Mark = sk.Mark; // skb->mark = sk->sk_mark
        var raw = skb.Push(hl);
        var iph = Ipv4Header.Create(raw);
        skb.NetworkHeader = skb.Data;
        uint hdrDaddr = opt.Opt.Srr != 0 ? opt.Opt.Faddr : daddr;
        new Ipv4Repr(saddr, hdrDaddr, (byte)protocol, payload,
            (byte)(ttl < 0 ? net.Ipv4.Sysctl.IpDefaultTtl : ttl), tos, IpSelectIdent(net, sk as InetSock, df, Math.Max(1, (int)skb.GsoSegs)), df).Emit(iph);
        if (optlen != 0)
        {
            iph.SetVersionIhl(4, hl >> 2);
            iph.TotalLength = (ushort)(hl + payload);
            IpOptions.IpOptionsBuild(raw, opt, daddr, saddr, net);
            iph.FillChecksum();
        }
        return IpMcOutput(net, skb, rt, hdrDaddr, sk);
    }

    /// <summary>
    /// The IP ID of a packet: a connected socket numbers its own packets from a random start (TCP
    /// takes the counter's value, the others the value after it: atomic_add_return); a packet with DF
    /// and no connected socket (a SYN-ACK on a listener, a RST or an ACK sent for no socket, an
    /// unconnected datagram) carries 0, since it can never be reassembled; the rest take the stack's counter.
    /// </summary>
    /// <remarks>Mirrors include/net/ip.h: ip_select_ident_segs(): a TSO super-frame of <paramref name="segs"/> segments takes as many ids (its segments number theirs on from the first).</remarks>
    internal static ushort IpSelectIdent(NetNamespace net, InetSock? inet, bool df, int segs = 1)
    {
        if (inet is not null && inet.InetDaddr != 0)
        {
            if (inet.Protocol != IpProto.TCP) return ++inet.InetId;
            ushort id = inet.InetId;
            inet.InetId += (ushort)segs;
            return id;
        }
        return df ? (ushort)0 : net.Ipv4.IpSelectIdent();
    }

    /// <summary>
    /// Builds the datagram of a datagram socket's send (UDP, ping, raw): the size IP_MTU_DISCOVER
    /// allows and the DF decision, then sock_alloc_send_skb()'s checks (a pending socket error, a
    /// shut down send side), then a buffer with headroom for IP and the link layer holding
    /// <paramref name="transhdrlen"/> bytes of transport header (for the caller to fill) followed by
    /// <paramref name="data"/>. skb.Data is at the transport header and skb.Sk is the socket.
    /// A datagram too large for IP_PMTUDISC_DO is also reported on the error queue (to <paramref name="daddr"/>).
    /// Null with <paramref name="err"/> = -EMSGSIZE, the socket error, -EPIPE or -ENOBUFS.
    /// </summary>
    /// <remarks>Mirrors net/ipv4/ip_output.c: ip_make_skb() / ip_append_data() -> __ip_append_data()
    /// (one buffer per datagram: IP output fragments what exceeds the MTU) and __ip_make_skb().</remarks>
    public static SkBuff? IpMakeSkb(Sock sk, in Rtable rt, uint daddr, ReadOnlySpan<byte> data, int transhdrlen, out bool df, out int err)
    {
        var inet = (InetSock)sk;
        int length = transhdrlen + data.Length;
        err = IpAppendDataCheck(inet, length, rt.Dev.Mtu, out df);
        if (err != 0)
        {
            // With IP_RECVERR the error queue learns it too, with the MTU less the options (and the connected port).
            IpSockglue.IpLocalError(sk, Errno.EMSGSIZE, daddr, inet.InetDport, (uint)(rt.Dev.Mtu - inet.InetOpt.Opt.Optlen));
            return null;
        }
        // sock_alloc_send_skb(): a pending error first, then a shut down send side.
        err = sk.SockError();
        if (err != 0) return null;
        if ((sk.Shutdown & SEND_SHUTDOWN) != 0)
        {
            err = -Errno.EPIPE;
            return null;
        }
        var skb = sk.Net.AllocSkb(length);
        if (skb is null)
        {
            err = -Errno.ENOBUFS;
            return null;
        }
        data.CopyTo(skb.Put(length)[transhdrlen..]);
        skb.Sk = sk;
        return skb;
    }

    /// <summary>Sends a datagram built by <see cref="IpMakeSkb"/> with the socket's TTL and TOS. Consumes the buffer.</summary>
    /// <remarks>Mirrors ip_send_skb() (via ip_push_pending_frames() / udp_send_skb()).</remarks>
    public static int IpSendSkb(Sock sk, SkBuff skb, in Rtable rt, uint saddr, uint daddr, int protocol, bool df)
    {
        var inet = (InetSock)sk;
        // __ip_make_skb(): a group send takes IP_MULTICAST_TTL, the rest IP_TTL; ipc.opt =
        // inet->inet_opt: the socket's IP_OPTIONS go on every datagram.
        int ttl = rt.Type == RtnType.Multicast ? inet.McTtl : inet.SelectTtl();
        return IpQueueXmit(sk.Net, skb, rt, saddr, daddr, protocol, ttl, inet.Tos, df, sk, inet.InetOpt);
    }

    /// <summary>IP_PMTUDISC_OMIT (the largest IP_MTU_DISCOVER value).</summary>
    private const int IpPmtudiscOmit = 5;

    /// <summary>
    /// The size checks of ip_append_data for <paramref name="length"/> transport bytes: a socket that
    /// lets the stack fragment (IP_PMTUDISC_DONT/WANT/OMIT) may send up to 64 KiB, one that does
    /// path MTU discovery itself (DO/PROBE/INTERFACE) only what fits the route's MTU. Also says
    /// whether the datagram goes with DF: always for DO/PROBE, and for WANT when it fits.
    /// </summary>
    /// <remarks>Mirrors net/ipv4/ip_output.c: __ip_append_data() (maxnonfragsize via ip_sk_ignore_df()) and __ip_make_skb() (the DF decision).</remarks>
    internal static int IpAppendDataCheck(InetSock inet, int length, int mtu, out bool df)
    {
        int pmtudisc = inet.Pmtudisc;
        bool ignoreDf = pmtudisc < IP_PMTUDISC_DO || pmtudisc == IpPmtudiscOmit;
        int maxnonfragsize = ignoreDf ? 0xFFFF : mtu;
        int fragheaderlen = Ipv4Header.MinLength + inet.InetOpt.Opt.Optlen; // sizeof(struct iphdr) + opt->optlen
        df = false;
        if (length > maxnonfragsize - fragheaderlen) return -Errno.EMSGSIZE;
        df = pmtudisc == IP_PMTUDISC_DO || pmtudisc == IP_PMTUDISC_PROBE ||
             (length + fragheaderlen <= mtu && pmtudisc == IP_PMTUDISC_WANT);
        return 0;
    }

    /// <summary>
    /// Appends to the datagram a corked socket is building (UDP_CORK, MSG_MORE): the first append
    /// sets the cork up (ip_setup_cork: length 0) and carries <paramref name="transhdrlen"/> bytes of
    /// transport header for the caller to fill at push time; later ones add data only. The whole
    /// datagram must stay within what IP_MTU_DISCOVER allows (-EMSGSIZE, reported on the error queue
    /// too); the first append also makes sock_alloc_send_skb()'s checks (a pending error,
    /// SEND_SHUTDOWN). The stack keeps the datagram in one buffer (IP output fragments it), moved to
    /// a larger one when it outgrows its own. Returns 0 or a negative errno.
    /// </summary>
    /// <remarks>Mirrors net/ipv4/ip_output.c: ip_append_data() -> ip_setup_cork() / __ip_append_data().</remarks>
    internal static int IpAppendData(Sock sk, ref InetCork cork, ReadOnlySpan<byte> data, int transhdrlen)
    {
        var inet = (InetSock)sk;
        if (cork.Skb is null) cork.Length = 0; // ip_setup_cork()
        else transhdrlen = 0;
        int length = transhdrlen + data.Length;
        int mtu = cork.Rt.Dev.Mtu;
        if (IpAppendDataCheck(inet, cork.Length + length, mtu, out _) != 0)
        {
            IpSockglue.IpLocalError(sk, Errno.EMSGSIZE, cork.Daddr, inet.InetDport, (uint)(mtu - inet.InetOpt.Opt.Optlen));
            return -Errno.EMSGSIZE;
        }
        var skb = cork.Skb;
        if (skb is null)
        {
            // sock_alloc_send_skb(): a pending error first, then a shut down send side.
            int err = sk.SockError();
            if (err != 0) return err;
            if ((sk.Shutdown & SEND_SHUTDOWN) != 0) return -Errno.EPIPE;
            skb = sk.Net.AllocSkb(length);
            if (skb is null) return -Errno.ENOBUFS;
            skb.Sk = sk;
            cork.Skb = skb;
        }
        else if (skb.Tailroom < length)
        {
            var larger = sk.Net.AllocSkb(skb.Len + length);
            if (larger is null) return -Errno.ENOBUFS;
            skb.DataSpan.CopyTo(larger.Put(skb.Len));
            larger.Sk = sk;
            skb.Free();
            cork.Skb = skb = larger;
        }
        data.CopyTo(skb.Put(length)[transhdrlen..]);
        cork.Length += length;
        return 0;
    }

    /// <summary>Drops what a corked socket has built.</summary>
    /// <remarks>Mirrors net/ipv4/ip_output.c: ip_flush_pending_frames() -> __ip_flush_pending_frames() and ip_cork_release().</remarks>
    internal static void IpFlushPendingFrames(ref InetCork cork)
    {
        cork.Skb?.Free();
        cork.Skb = null;
        cork.Length = 0;
    }

    /// <summary>
    /// Sends a packet whose IP header the caller built (raw sockets with IP_HDRINCL, ICMP replies).
    /// </summary>
    public static int IpLocalOut(NetNamespace net, SkBuff skb, in Rtable rt, uint daddr)
    {
        net.Mib.Ip[IpMib.OutRequests]++;
        skb.NetworkHeader = skb.Data;
        return IpMcOutput(net, skb, rt, daddr, skb.Sk);
    }

    /// <summary>
    /// The output of this host's own packets: a send to a group this host is a member of on the
    /// output device is also looped back to it when the socket keeps IP_MULTICAST_LOOP on (and a
    /// group packet with TTL 0 goes no further); a broadcast is always looped back, so the host's
    /// own sockets on that port receive it too. Then the normal output.
    /// </summary>
    /// <remarks>Mirrors net/ipv4/ip_output.c: ip_mc_output(), the output of a route __mkroute_output()
    /// marked RTCF_LOCAL (a broadcast, or a group ip_check_mc_rcu() finds joined), on a device that is not loopback.</remarks>
    private static int IpMcOutput(NetNamespace net, SkBuff skb, in Rtable rt, uint daddr, Sock? sk)
    {
        var dev = rt.Dev;
        if (!dev.IsLoopback)
        {
            if (rt.Type == RtnType.Multicast && Igmp.IpCheckMc(net, dev, daddr))
            {
                if (sk is not InetSock inet || inet.McLoop) DevLoopbackXmit(net, skb, dev); // sk_mc_loop()
                // Multicasts with ttl 0 must not go beyond the host.
                if (skb.Buffer[skb.NetworkHeader + 8] == 0)
                {
                    skb.Free();
                    return 0;
                }
            }
            else if (rt.Type == RtnType.Broadcast)
            {
                DevLoopbackXmit(net, skb, dev);
            }
        }
        return IpFinishOutput(net, skb, rt, daddr);
    }

    /// <summary>
    /// Hands a copy of an outgoing packet (skb.Data at its IP header) back to this host's receive
    /// path, as if it had arrived on <paramref name="dev"/>: PACKET_LOOPBACK, its output route still
    /// attached (<see cref="SkBuff.RouteOutput"/>), delivered from the softirq as the loopback
    /// device's frames are (never from inside the send). Nothing when no buffer is free.
    /// </summary>
    /// <remarks>Mirrors net/ipv4/ip_output.c: ip_mc_finish_output() -> net/core/dev.c: dev_loopback_xmit() (skb_clone, netif_rx).</remarks>
    private static void DevLoopbackXmit(NetNamespace net, SkBuff skb, NetDevice dev)
    {
        var newskb = Udp.CopySkb(net, skb);
        if (newskb is null) return;
        newskb.Data = newskb.NetworkHeader;
        newskb.MacHeader = -1; // skb_reset_mac_header(): no link-layer header yet
        newskb.PktType = Eth.PacketLoopback;
        newskb.Protocol = EthP.IP;
        newskb.RouteOutput = true;
        newskb.RouteBroadcast = true;
        newskb.Sk = null;
        Dev.NetifRxLooped(net, newskb, dev);
    }

    /// <summary>
    /// Sends a forwarded packet (Data at its IP header, TTL already decremented) out of the route's
    /// device: no OutRequests (the packet is not this host's), fragmented when it does not fit.
    /// </summary>
    /// <remarks>Mirrors dst_output() -> ip_output() for a forwarding route (ip_forward_finish()).</remarks>
    internal static int IpOutputForwarded(NetNamespace net, SkBuff skb, in Rtable rt, uint daddr)
    {
        skb.NetworkHeader = skb.Data;
        return IpFinishOutput(net, skb, rt, daddr);
    }

    /// <remarks>Mirrors ip_output() -> ip_finish_output() -> ip_finish_output2() -> neigh_output().</remarks>
    private static int IpFinishOutput(NetNamespace net, SkBuff skb, in Rtable rt, uint daddr)
    {
        var dev = rt.Dev;
        // ip_finish_output_gso(): a super-frame's segments fit the MTU (TCP cut them to the MSS); the device segments it.
        if (skb.Len > dev.Mtu && skb.GsoSize == 0)
        {
            // ip_fragment(): a datagram with DF set that does not fit fails (the local sender
            // gets EMSGSIZE, as ip_local_error() reports it); otherwise it is cut into fragments.
            if (Ipv4Header.Create(skb.DataSpan).DontFragment)
            {
                net.Mib.Ip[IpMib.FragFails]++;
                skb.Free();
                return -Uapi.Errno.EMSGSIZE;
            }
            // A segment whose payload references the send queue is cut from a linear copy.
            if (skb.NrFrags != 0)
            {
                if (Dev.SkbLinearize(net, skb) is not { } lin) return -Uapi.Errno.ENOBUFS;
                skb = lin;
            }
            return IpFragment.IpDoFragment(net, skb, rt, daddr);
        }
        return IpFinishOutput2(net, skb, rt, daddr);
    }

    /// <remarks>Mirrors ip_finish_output2(): link-layer header by neighbour, broadcast or multicast mapping.</remarks>
    internal static int IpFinishOutput2(NetNamespace net, SkBuff skb, in Rtable rt, uint daddr)
    {
        var dev = rt.Dev;
        net.Mib.Ip[IpMib.OutTransmits]++;
        net.Mib.IpExt[IpExtMib.OutOctets] += skb.Len; // IP_UPD_PO_STATS(IPSTATS_MIB_OUT, skb->len) in ip_output()
        if (rt.Type == RtnType.Multicast)
        {
            net.Mib.IpExt[IpExtMib.OutMcastPkts]++;
            net.Mib.IpExt[IpExtMib.OutMcastOctets] += skb.Len;
        }
        else if (rt.Type == RtnType.Broadcast)
        {
            net.Mib.IpExt[IpExtMib.OutBcastPkts]++;
            net.Mib.IpExt[IpExtMib.OutBcastOctets] += skb.Len;
        }
        skb.Protocol = EthP.IP;
        if (dev.NoArp)
        {
            Eth.EthHeader(skb, EthP.IP, MacAddress.Zero, MacAddress.Zero);
            skb.Dev = dev;
            return Dev.DevQueueXmit(skb);
        }
        if (rt.Type == RtnType.Broadcast || Ipv4Address.IsLimitedBroadcast(daddr))
        {
            Eth.EthHeader(skb, EthP.IP, MacAddress.Broadcast, dev.DevAddr);
            skb.Dev = dev;
            return Dev.DevQueueXmit(skb);
        }
        if (Ipv4Address.IsMulticast(daddr))
        {
            // ip_eth_mc_map(): 01:00:5e + low 23 bits of the group; no ARP.
            Eth.EthHeader(skb, EthP.IP, Igmp.IpEthMcMap(daddr), dev.DevAddr);
            skb.Dev = dev;
            return Dev.DevQueueXmit(skb);
        }
        return net.Ipv4.Arp.NeighResolveOutput(skb, rt.NextHop(daddr), dev);
    }
}

/// <summary>
/// What a corked socket keeps between its sends: the datagram being built (sk_write_queue, one
/// buffer here), its length so far, and the flow and route fixed by the send that started it.
/// </summary>
/// <remarks>Mirrors include/net/inet_sock.h: struct inet_cork_full (base.length, base.dst, fl.u.ip4).</remarks>
internal struct InetCork
{
    /// <summary>sk_write_queue: the datagram, at its transport header.</summary>
    public SkBuff? Skb;
    /// <summary>cork.base.length: the bytes appended, transport header included.</summary>
    public int Length;
    /// <summary>cork.base.dst: the route.</summary>
    public Rtable Rt;
    /// <summary>fl4->daddr / fl4->saddr (host order).</summary>
    public uint Daddr, Saddr;
    /// <summary>fl4->fl4_dport / fl4->fl4_sport (host order).</summary>
    public ushort Dport, Sport;
}
