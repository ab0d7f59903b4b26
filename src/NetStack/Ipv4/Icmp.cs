using System.Runtime.CompilerServices;
using NetStack.Core;
using NetStack.Ethernet;
using NetStack.Wire;

namespace NetStack.Ipv4;

/// <summary>
/// ICMP: echo, errors in, errors out with rate limits.
/// <remarks>Mirrors net/ipv4/icmp.c.</remarks>
/// </summary>
internal static class Icmp
{
    /// <summary>ICMP in each namespace: the IP protocol handler (its error handler is ping_err).</summary>
    /// <remarks>Mirrors inet_init(): inet_add_protocol(&amp;icmp_protocol, IPPROTO_ICMP), and icmp_sk_ops.</remarks>
    internal sealed class IcmpSkOps : PernetOperations
    {
        public static readonly IcmpSkOps Instance = new();
        private IcmpSkOps() { }
        public override string Name => "icmp";
        public override void Init(NetNamespace net) => net.InetAddProtocol(new NetProtocol(IcmpRcv, Ping.PingErr), IpProto.ICMP);
    }

    /// <summary>The kernel's limit on an ICMP error's size: it quotes as much as fits in 576 bytes.</summary>
    private const int IcmpErrorMaxLen = 576;

    /// <summary>Receives an ICMP message addressed to us.</summary>
    /// <remarks>Mirrors icmp_rcv().</remarks>
    public static int IcmpRcv(SkBuff skb)
    {
        var dev = skb.Dev!;
        var net = dev.Net!;
        var mib = net.Mib.Icmp;
        mib[IcmpMib.InMsgs]++;
        if (!IcmpHeader.TryCreate(skb.DataSpan, out var icmph))
        {
            mib[IcmpMib.InErrors]++;
            return net.KfreeSkbReason(skb, SkbDropReason.IcmpTruncated);
        }
        if (!icmph.VerifyChecksum())
        {
            mib[IcmpMib.InCsumErrors]++;
            mib[IcmpMib.InErrors]++;
            return net.KfreeSkbReason(skb, SkbDropReason.IcmpCsum);
        }
        byte type = icmph.Type;
        if (type > IcmpType.NrIcmpTypes)
        {
            mib[IcmpMib.InErrors]++;
            return net.KfreeSkbReason(skb, SkbDropReason.UnhandledProto);
        }
        // RFC 1122 3.2.2.6: an echo to a broadcast address may be ignored (icmp_echo_ignore_broadcasts);
        // other broadcast ICMP except timestamps and address masks is dropped. Decided by the IP
        // destination (rt_flags), not the MAC: a unicast echo in a broadcast frame is answered.
        if (skb.RouteBroadcast)
        {
            if (((type == IcmpType.Echo || type == IcmpType.Timestamp) && net.Ipv4.Sysctl.IcmpEchoIgnoreBroadcasts) ||
                (type != IcmpType.Echo && type != IcmpType.Timestamp && type != IcmpType.AddressMask && type != IcmpType.AddressMaskReply))
            {
                mib[IcmpMib.InErrors]++;
                return net.KfreeSkbReason(skb, SkbDropReason.InvalidProto);
            }
        }
        switch (type)
        {
            case IcmpType.Echo:
                mib[IcmpMib.InEchos]++;
                return IcmpEcho(net, skb);
            case IcmpType.EchoReply:
                mib[IcmpMib.InEchoReps]++;
                if (net.Ipv4.PingRcv is { } ping && ping(net, skb)) return Dev.NetRxSuccess;
                skb.Free();
                return Dev.NetRxSuccess;
            case IcmpType.DestUnreach:
                mib[IcmpMib.InDestUnreachs]++;
                return IcmpUnreach(net, skb);
            case IcmpType.TimeExceeded:
                mib[IcmpMib.InTimeExcds]++;
                return IcmpUnreach(net, skb);
            case IcmpType.ParameterProb:
                mib[IcmpMib.InParmProbs]++;
                return IcmpUnreach(net, skb);
            case IcmpType.SourceQuench:
                mib[IcmpMib.InSrcQuenchs]++;
                return IcmpUnreach(net, skb);
            case IcmpType.Redirect:
                mib[IcmpMib.InRedirects]++;
                skb.Free(); // a host with one gateway ignores redirects (accept_redirects is moot here)
                return Dev.NetRxSuccess;
            case IcmpType.Timestamp:
                mib[IcmpMib.InTimestamps]++;
                return IcmpTimestamp(net, skb);
            case IcmpType.TimestampReply:
                mib[IcmpMib.InTimestampReps]++;
                skb.Free();
                return Dev.NetRxSuccess;
            default:
                skb.Free();
                return Dev.NetRxSuccess;
        }
    }

    /// <summary>
    /// Answers a timestamp request: originate copied, receive and transmit set to milliseconds
    /// since midnight UT (RFC 792). The header is 8 bytes plus three 4-byte timestamps.
    /// </summary>
    /// <remarks>Mirrors icmp_timestamp() -> icmp_reply(), rate limited as <see cref="IcmpEcho"/> is.</remarks>
    private static int IcmpTimestamp(NetNamespace net, SkBuff skb)
    {
        // icmp_timestamp(): at least the originate timestamp must follow the header.
        if (skb.Len < IcmpHeader.Length + 4)
        {
            net.Mib.Icmp[IcmpMib.InErrors]++;
            return net.KfreeSkbReason(skb, SkbDropReason.IcmpTruncated);
        }
        if (!RateLimit.Icmpv4GlobalAllow(net, IcmpType.TimestampReply, 0, out bool applyRatelimit))
        {
            skb.Free();
            return Dev.NetRxSuccess;
        }
        Unsafe.SkipInit(out IpOptionsData replyopts);
        if (IpOptions.IpOptionsEcho(net, ref replyopts, skb) != 0)
        {
            skb.Free();
            return Dev.NetRxSuccess;
        }
        uint saddr = skb.Daddr, daddr = skb.Saddr;
        if (!net.IsLocalAddress(saddr)) saddr = skb.Dev!.Ipv4Address;
        if (Route.IpRouteOutput(net, replyopts.Opt.Srr != 0 ? replyopts.Opt.Faddr : daddr, saddr, out var rt) != 0)
        {
            net.Mib.Icmp[IcmpMib.OutErrors]++;
            return net.KfreeSkbReason(skb, SkbDropReason.IpOutNoRoute);
        }
        if (!RateLimit.Icmpv4XrlimAllow(net, rt.Dev, daddr, applyRatelimit))
        {
            skb.Free();
            return Dev.NetRxSuccess;
        }
        var reply = net.SkbPool.AllocWithHeadroom();
        if (reply is null) return net.KfreeSkbReason(skb, SkbDropReason.NoBuffers);
        var msg = reply.Put(IcmpHeader.Length + 12);
        var req = skb.DataSpan;
        req[..(IcmpHeader.Length + 4)].CopyTo(msg);
        byte tos = skb.Buffer[skb.NetworkHeader + 1]; // icmp_reply(): ipc.tos = ip_hdr(skb)->tos
        skb.Free();
        // inet_current_timestamp(): wall-clock ms since midnight UT, the only wall-clock read in
        // the stack (an ICMP timestamp is defined against UT, not against the stack's clock).
        uint now = IpOptions.InetCurrentTimestamp(net);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(msg[(IcmpHeader.Length + 4)..], now);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(msg[(IcmpHeader.Length + 8)..], now);
        var h = IcmpHeader.Create(msg);
        h.Type = IcmpType.TimestampReply;
        h.Code = 0;
        h.FillChecksum();
        net.Mib.Icmp[IcmpMib.OutMsgs]++;
        net.Mib.Icmp[IcmpMib.OutTimestampReps]++;
        IpOutput.IpQueueXmit(net, reply, rt, saddr, daddr, IpProto.ICMP, -1, tos, false, null, replyopts);
        return Dev.NetRxSuccess;
    }

    /// <summary>Answers an echo request with the same identifier, sequence, data and TOS byte.</summary>
    /// <remarks>Mirrors icmp_echo() -> icmp_reply(), with icmp_reply()'s rate limits
    /// (icmpv4_global_allow(), icmpv4_xrlim_allow()): they bite only when icmp_ratemask names echo replies.</remarks>
    private static int IcmpEcho(NetNamespace net, SkBuff skb)
    {
        if (net.Ipv4.Sysctl.IcmpEchoIgnoreAll)
        {
            skb.Free();
            return Dev.NetRxSuccess;
        }
        // icmp_reply(): the global limit before the route lookup, the per-host one after it. Echo
        // replies are not in the default icmp_ratemask, so by default every echo is answered.
        if (!RateLimit.Icmpv4GlobalAllow(net, IcmpType.EchoReply, 0, out bool applyRatelimit))
        {
            skb.Free();
            return Dev.NetRxSuccess;
        }
        // icmp_reply(): the request's options answered (ip_options_echo()); one that cannot be is not answered.
        Unsafe.SkipInit(out IpOptionsData replyopts);
        if (IpOptions.IpOptionsEcho(net, ref replyopts, skb) != 0)
        {
            skb.Free();
            return Dev.NetRxSuccess;
        }
        uint saddr = skb.Daddr, daddr = skb.Saddr;
        // A reply to a broadcast echo comes from our unicast address.
        if (!net.IsLocalAddress(saddr)) saddr = skb.Dev!.Ipv4Address;
        // A reversed source route: the reply is routed to its first hop.
        if (Route.IpRouteOutput(net, replyopts.Opt.Srr != 0 ? replyopts.Opt.Faddr : daddr, saddr, out var rt) != 0)
        {
            net.Mib.Icmp[IcmpMib.OutErrors]++;
            return net.KfreeSkbReason(skb, SkbDropReason.IpOutNoRoute);
        }
        if (!RateLimit.Icmpv4XrlimAllow(net, rt.Dev, daddr, applyRatelimit))
        {
            skb.Free();
            return Dev.NetRxSuccess;
        }
        var reply = net.AllocSkb(skb.Len);
        if (reply is null) return net.KfreeSkbReason(skb, SkbDropReason.NoBuffers);
        int len = skb.Len;
        if (len > reply.Tailroom) { reply.Free(); return net.KfreeSkbReason(skb, SkbDropReason.PktLenInvalid); }
        var msg = reply.Put(len);
        skb.DataSpan.CopyTo(msg);
        byte tos = skb.Buffer[skb.NetworkHeader + 1]; // icmp_reply(): ipc.tos = ip_hdr(skb)->tos
        skb.Free();
        var h = IcmpHeader.Create(msg);
        h.Type = IcmpType.EchoReply;
        h.Code = 0;
        h.FillChecksum();
        var mib = net.Mib.Icmp;
        mib[IcmpMib.OutMsgs]++;
        mib[IcmpMib.OutEchoReps]++;
        // icmp_reply(): the request's TOS byte; the icmp socket has pmtudisc = IP_PMTUDISC_DONT, so DF is clear.
        IpOutput.IpQueueXmit(net, reply, rt, saddr, daddr, IpProto.ICMP, -1, tos, false, null, replyopts);
        return Dev.NetRxSuccess;
    }

    /// <summary>
    /// Hands an ICMP error to the protocol that sent the quoted packet (its err_handler) and to raw sockets.
    /// </summary>
    /// <remarks>Mirrors icmp_unreach() -> icmp_socket_deliver().</remarks>
    private static int IcmpUnreach(NetNamespace net, SkBuff skb)
    {
        var icmph = IcmpHeader.Create(skb.DataSpan);
        // The info the handlers get: the next-hop MTU of fragmentation needed, the pointer of a
        // parameter problem, 0 for the rest (what IP_RECVERR reports as ee_info).
        uint info = 0;
        if (icmph.Type == IcmpType.DestUnreach && icmph.Code == IcmpType.FragNeeded) info = icmph.Rest & 0xFFFF; // ntohs(icmph->un.frag.mtu)
        else if (icmph.Type == IcmpType.ParameterProb) info = icmph.Rest >> 24; // ntohl(icmph->un.gateway) >> 24
        // The quoted IP header plus 8 bytes of its payload must be there.
        if (!skb.Pull(IcmpHeader.Length) || skb.Len < Ipv4Header.MinLength)
        {
            net.Mib.Icmp[IcmpMib.InErrors]++;
            return net.KfreeSkbReason(skb, SkbDropReason.IcmpTruncated);
        }
        var inner = Ipv4Header.Create(skb.DataSpan);
        if (inner.Version != 4 || inner.Ihl < 5 || skb.Len < inner.HeaderLength + 8)
        {
            net.Mib.Icmp[IcmpMib.InErrors]++;
            return net.KfreeSkbReason(skb, SkbDropReason.IcmpTruncated);
        }
        int protocol = inner.Protocol;
        var ipv4 = net.Ipv4;
        ipv4.RawIcmpError?.Invoke(net, skb, protocol, info);
        ipv4.InetProtos[protocol]?.ErrHandler?.Invoke(skb, info);
        skb.Free();
        return Dev.NetRxSuccess;
    }

    /// <summary>
    /// Sends an ICMP error about <paramref name="skbIn"/> (whose Data is at its IP header) to its
    /// source. Does not consume skbIn. Follows RFC 1122's "never in answer to" rules and the
    /// kernel's rate limits.
    /// </summary>
    /// <remarks>Mirrors __icmp_send().</remarks>
    public static void IcmpSend(NetNamespace net, SkBuff skbIn, byte type, byte code, uint info)
    {
        var ins = skbIn.DataSpan;
        if (ins.Length < Ipv4Header.MinLength) return;
        var iph = Ipv4Header.Create(ins);
        // Never answer a broadcast/multicast packet, a non-first fragment, or a martian source.
        if (skbIn.PktType != Eth.PacketHost && skbIn.PktType != Eth.PacketOutgoing && !(skbIn.Dev?.NoArp ?? false)) return;
        if (skbIn.RouteBroadcast) return;
        if (Ipv4Address.IsMulticast(iph.Destination) || Ipv4Address.IsLimitedBroadcast(iph.Destination)) return;
        if ((iph.FragOff & Ipv4Header.OffsetMask) != 0) return;
        uint daddr = iph.Source;
        if (daddr == 0 || Ipv4Address.IsMulticast(daddr) || Ipv4Address.IsLimitedBroadcast(daddr)) return;
        // Never answer an ICMP error with an error (only informational types may be answered).
        if (iph.Protocol == IpProto.ICMP && ins.Length >= iph.HeaderLength + 1)
        {
            byte innerType = ins[iph.HeaderLength];
            if (innerType > IcmpType.NrIcmpTypes || IcmpPointersError(innerType)) return;
        }
        // The global limit comes before the route lookup and is skipped for packets that came in on
        // loopback; the per-host limit needs the route (loopback is exempt from it too).
        bool applyRatelimit = false;
        if (!(skbIn.Dev?.NoArp ?? false) && !RateLimit.Icmpv4GlobalAllow(net, type, code, out applyRatelimit)) return;

        // The quoted packet's options answered as an echo reply answers them; none if they cannot be.
        Unsafe.SkipInit(out IpOptionsData replyopts);
        if (IpOptions.IpOptionsEchoIn(net, ref replyopts, skbIn) != 0) return;
        uint saddr = net.IsLocalAddress(iph.Destination) ? iph.Destination : 0;
        if (Route.IpRouteOutput(net, replyopts.Opt.Srr != 0 ? replyopts.Opt.Faddr : daddr, saddr, out var rt) != 0) return;
        if (!RateLimit.Icmpv4XrlimAllow(net, rt.Dev, daddr, applyRatelimit)) return;
        if (saddr == 0) saddr = rt.PrefSrc;

        var skb = net.SkbPool.AllocWithHeadroom();
        if (skb is null) { net.Mib.Icmp[IcmpMib.OutErrors]++; return; }
        int room = Math.Min(IcmpErrorMaxLen - Ipv4Header.MinLength - replyopts.Opt.Optlen - IcmpHeader.Length, Math.Min(iph.TotalLength, ins.Length));
        room = Math.Min(room, skb.Tailroom - IcmpHeader.Length);
        var msg = skb.Put(IcmpHeader.Length + room);
        var h = IcmpHeader.Create(msg);
        new IcmpRepr(type, code, info).Emit(h);
        ins[..room].CopyTo(msg[IcmpHeader.Length..]);
        h.FillChecksum();
        var mib = net.Mib.Icmp;
        mib[IcmpMib.OutMsgs]++;
        CountOut(mib, type);
        IpOutput.IpQueueXmit(net, skb, rt, saddr, daddr, IpProto.ICMP, -1, (byte)((iph.Tos & 0x1E) | 0xC0), false, null, replyopts);
    }

    /// <summary>
    /// The "error" flag of icmp_pointers[]: icmp_is_err()'s five types plus the obsolete or
    /// router-only types 1, 2, 6, 7, 9 and 10, which __icmp_send() also refuses to answer.
    /// </summary>
    private static bool IcmpPointersError(byte type) => IcmpIsErr(type) || type is 1 or 2 or 6 or 7 or 9 or 10;

    /// <remarks>Mirrors icmp_is_err().</remarks>
    public static bool IcmpIsErr(byte type) =>
        type is IcmpType.DestUnreach or IcmpType.SourceQuench or IcmpType.Redirect or IcmpType.TimeExceeded or IcmpType.ParameterProb;

    private static void CountOut(MibTable<IcmpMib> mib, byte type)
    {
        switch (type)
        {
            case IcmpType.DestUnreach: mib[IcmpMib.OutDestUnreachs]++; break;
            case IcmpType.TimeExceeded: mib[IcmpMib.OutTimeExcds]++; break;
            case IcmpType.Redirect: mib[IcmpMib.OutRedirects]++; break;
            case IcmpType.ParameterProb: mib[IcmpMib.OutParmProbs]++; break;
            case IcmpType.Echo: mib[IcmpMib.OutEchos]++; break;
            case IcmpType.EchoReply: mib[IcmpMib.OutEchoReps]++; break;
        }
    }
}
