using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using NetStack.Core;
using NetStack.Wire;

namespace NetStack.Ipv4;

/// <summary>__data[40]: the option bytes a socket set or a reply echoes (MAX_IPOPTLEN).</summary>
[InlineArray(IpOptions.MaxIpoptlen)]
internal struct IpOptionsBytes
{
    private byte _e0;
}

/// <summary>Options with their bytes: what a socket keeps (IP_OPTIONS) and what a reply echoes.</summary>
/// <remarks>Mirrors include/net/inet_sock.h: struct ip_options_rcu / struct ip_options_data.</remarks>
internal struct IpOptionsData
{
    /// <summary>The compiled offsets and flags.</summary>
    public IpOptionsParm Opt;
    /// <summary>The option bytes, Opt.Optlen of them.</summary>
    public IpOptionsBytes Data;
}

/// <summary>
/// IPv4 options: the walk that validates a received header's options (record route and timestamp
/// get this host's address and time), the echo a reply or an ICMP error carries back, the options
/// a socket sets (IP_OPTIONS) and writes into each of its packets, and those a router fills in.
/// Source-routed packets are refused on input (net.ipv4.conf.*.accept_source_route is 0).
/// <remarks>Mirrors net/ipv4/ip_options.c.</remarks>
/// </summary>
internal static class IpOptions
{
    public const byte IpoptEnd = 0, IpoptNoop = 1, IpoptRr = 7, IpoptTimestamp = 68, IpoptRa = 148, IpoptCipso = 134,
        IpoptLsrr = 131, IpoptSsrr = 137;
    /// <summary>IPOPT_TS_TSONLY / IPOPT_TS_TSANDADDR / IPOPT_TS_PRESPEC: the timestamp option's flags.</summary>
    public const int IpoptTsTsonly = 0, IpoptTsTsandaddr = 1, IpoptTsPrespec = 3;
    /// <summary>MAX_IPOPTLEN: the most option bytes an IP header holds.</summary>
    public const int MaxIpoptlen = 40;

    /// <summary>The received header's options, compiled by <see cref="IpOptionsCompile(NetNamespace, SkBuff)"/> (IPCB(skb)->opt).</summary>
    public static ref IpOptionsParm Ipcb(SkBuff skb) => ref skb.Ipcb.Opt;

    /// <summary>
    /// The wall-clock milliseconds since midnight UT that timestamp options and ICMP timestamps
    /// carry, read from the stack's clock (so a virtual clock makes them deterministic).
    /// </summary>
    /// <remarks>Mirrors net/ipv4/af_inet.c: inet_current_timestamp().</remarks>
    public static uint InetCurrentTimestamp(NetNamespace net)
    {
        long realMs = (net.Clock.NowNs + net.RealtimeOffsetNs) / Time.NsPerMs;
        return (uint)(realMs % 86_400_000);
    }

    /// <summary>
    /// Walks the options of the received header at skb's network header; a malformed option earns
    /// the sender a parameter problem pointing at it and returns false (the caller counts
    /// InHdrErrors and drops). Room in record route and timestamp options is claimed and filled
    /// with this host's address (spec_dst) and time. The result is in skb.Ipcb.Opt.
    /// </summary>
    /// <remarks>Mirrors ip_options_compile() with skb != NULL (as ip_rcv_options() calls it, after routing).</remarks>
    public static bool IpOptionsCompile(NetNamespace net, SkBuff skb)
    {
        var iph = skb.Buffer.AsSpan(skb.NetworkHeader);
        ref var opt = ref skb.Ipcb.Opt;
        opt = default;
        opt.Optlen = Ipv4Header.Create(iph).HeaderLength - Ipv4Header.MinLength;
        int pp = Compile(net, ref opt, iph[..(Ipv4Header.MinLength + opt.Optlen)], skb, capNetRaw: true);
        if (pp < 0) return true;
        int saved = skb.Data;
        skb.Data = skb.NetworkHeader;
        Icmp.IcmpSend(net, skb, IcmpType.ParameterProb, 0, (uint)pp << 24);
        skb.Data = saved;
        return false;
    }

    /// <summary>
    /// The walk itself over <paramref name="iph"/> (a header, or 20 unused bytes before a user's
    /// options). Returns -1, or the offset of the faulty byte.
    /// </summary>
    /// <remarks>Mirrors __ip_options_compile().</remarks>
    private static int Compile(NetNamespace net, ref IpOptionsParm opt, Span<byte> iph, SkBuff? skb, bool capNetRaw)
    {
        uint specDst = 0;
        int p = Ipv4Header.MinLength, l = opt.Optlen;
        while (l > 0)
        {
            switch (iph[p])
            {
                case IpoptEnd:
                    for (p++, l--; l > 0; p++, l--)
                    {
                        if (iph[p] != IpoptEnd)
                        {
                            iph[p] = IpoptEnd;
                            opt.IsChanged = true;
                        }
                    }
                    return -1;
                case IpoptNoop:
                    l--;
                    p++;
                    continue;
            }
            if (l < 2) return p;
            int optlen = iph[p + 1];
            if (optlen < 2 || optlen > l) return p;
            switch (iph[p])
            {
                case IpoptSsrr:
                case IpoptLsrr:
                    if (optlen < 3) return p + 1;
                    if (iph[p + 2] < 4) return p + 2;
                    if (opt.Srr != 0) return p; // RFC 1812 5.2.4.1: one source route
                    if (skb is null)
                    {
                        // A user's route: the first address is the first hop, taken out of the option.
                        if (iph[p + 2] != 4 || optlen < 7 || ((optlen - 3) & 3) != 0) return p + 1;
                        opt.Faddr = BinaryPrimitives.ReadUInt32BigEndian(iph[(p + 3)..]);
                        if (optlen > 7) iph.Slice(p + 7, optlen - 7).CopyTo(iph[(p + 3)..]);
                    }
                    opt.IsStrictroute = iph[p] == IpoptSsrr;
                    opt.Srr = p;
                    break;
                case IpoptRr:
                    if (opt.Rr != 0) return p;
                    if (optlen < 3) return p + 1;
                    if (iph[p + 2] < 4) return p + 2;
                    if (iph[p + 2] <= optlen)
                    {
                        if (iph[p + 2] + 3 > optlen) return p + 2;
                        if (skb is not null)
                        {
                            SpecDstFill(net, ref specDst, skb);
                            BinaryPrimitives.WriteUInt32BigEndian(iph[(iph[p + 2] - 1 + p)..], specDst);
                            opt.IsChanged = true;
                        }
                        iph[p + 2] += 4;
                        opt.RrNeedaddr = true;
                    }
                    opt.Rr = p;
                    break;
                case IpoptTimestamp:
                    if (opt.Ts != 0) return p;
                    if (optlen < 4) return p + 1;
                    if (iph[p + 2] < 5) return p + 2;
                    if (iph[p + 2] <= optlen)
                    {
                        int timeptr = -1;
                        if (iph[p + 2] + 3 > optlen) return p + 2;
                        switch (iph[p + 3] & 0xF)
                        {
                            case IpoptTsTsonly:
                                if (skb is not null) timeptr = p + iph[p + 2] - 1;
                                opt.TsNeedtime = true;
                                iph[p + 2] += 4;
                                break;
                            case IpoptTsTsandaddr:
                                if (iph[p + 2] + 7 > optlen) return p + 2;
                                if (skb is not null)
                                {
                                    SpecDstFill(net, ref specDst, skb);
                                    BinaryPrimitives.WriteUInt32BigEndian(iph[(p + iph[p + 2] - 1)..], specDst);
                                    timeptr = p + iph[p + 2] + 3;
                                }
                                opt.TsNeedaddr = true;
                                opt.TsNeedtime = true;
                                iph[p + 2] += 8;
                                break;
                            case IpoptTsPrespec:
                            {
                                if (iph[p + 2] + 7 > optlen) return p + 2;
                                // Only the named hosts stamp: an address that is not ours (RTN_UNICAST) is skipped.
                                uint addr = BinaryPrimitives.ReadUInt32BigEndian(iph[(p + iph[p + 2] - 1)..]);
                                if (AfInet.InetAddrType(net, addr) == RtnType.Unicast) break;
                                if (skb is not null) timeptr = p + iph[p + 2] + 3;
                                opt.TsNeedtime = true;
                                iph[p + 2] += 8;
                                break;
                            }
                            default:
                                if (skb is null && !capNetRaw) return p + 3;
                                break;
                        }
                        if (timeptr >= 0)
                        {
                            BinaryPrimitives.WriteUInt32BigEndian(iph[timeptr..], InetCurrentTimestamp(net));
                            opt.IsChanged = true;
                        }
                    }
                    else if ((iph[p + 3] & 0xF) != IpoptTsPrespec)
                    {
                        // Full: count the hosts that could not stamp in the overflow nibble.
                        int overflow = iph[p + 3] >> 4;
                        if (overflow == 15) return p + 3;
                        if (skb is not null)
                        {
                            iph[p + 3] = (byte)((iph[p + 3] & 0xF) | ((overflow + 1) << 4));
                            opt.IsChanged = true;
                        }
                    }
                    opt.Ts = p;
                    break;
                case IpoptRa:
                    if (optlen < 4) return p + 1;
                    if (iph[p + 2] == 0 && iph[p + 3] == 0) opt.RouterAlert = p;
                    break;
                default:
                    // IPOPT_SEC, IPOPT_SID, CIPSO (not validated here) and unknown options: passed
                    // along on input; a user needs CAP_NET_RAW to send them.
                    if (skb is null && !capNetRaw) return p;
                    break;
            }
            l -= optlen;
            p += optlen;
        }
        return -1;
    }

    /// <remarks>Mirrors spec_dst_fill(): fib_compute_spec_dst() at most once per walk.</remarks>
    private static void SpecDstFill(NetNamespace net, ref uint specDst, SkBuff skb)
    {
        if (specDst == 0) specDst = Route.FibComputeSpecDst(net, skb);
    }

    /// <summary>
    /// Compiles options a user gives (IP_OPTIONS, 0 to 40 bytes) into <paramref name="opt"/>:
    /// padded with end-of-list to a multiple of 4, then validated as the kernel validates them
    /// (a source route loses its first hop to Faddr). Returns 0 or -EINVAL; <paramref name="opt"/>
    /// is left alone on error.
    /// </summary>
    /// <remarks>Mirrors ip_options_get() -> ip_options_compile(net, opt, NULL).</remarks>
    public static int IpOptionsGet(NetNamespace net, ref IpOptionsData opt, ReadOnlySpan<byte> data, bool capNetRaw)
    {
        if (data.Length > MaxIpoptlen) return -Uapi.Errno.EINVAL;
        Span<byte> iph = stackalloc byte[Ipv4Header.MinLength + MaxIpoptlen];
        iph.Clear();
        data.CopyTo(iph[Ipv4Header.MinLength..]);
        int optlen = data.Length;
        while ((optlen & 3) != 0) iph[Ipv4Header.MinLength + optlen++] = IpoptEnd;
        IpOptionsParm parm = default;
        parm.Optlen = optlen;
        if (optlen != 0 && Compile(net, ref parm, iph[..(Ipv4Header.MinLength + optlen)], null, capNetRaw) >= 0)
            return -Uapi.Errno.EINVAL;
        opt.Opt = parm;
        iph.Slice(Ipv4Header.MinLength, MaxIpoptlen).CopyTo(opt.Data);
        return 0;
    }

    /// <summary>
    /// The options as the user gave them (what getsockopt(IP_OPTIONS) returns): the compiled copy
    /// with the claimed slots released and a source route's first hop put back.
    /// </summary>
    /// <remarks>Mirrors ip_options_undo().</remarks>
    public static void IpOptionsUndo(ref IpOptionsParm opt, Span<byte> data)
    {
        // data is the options alone: an option at header offset o is at data[o - 20].
        const int h = Ipv4Header.MinLength;
        if (opt.Srr != 0)
        {
            var o = data[(opt.Srr - h)..];
            o.Slice(3, o[1] - 7).CopyTo(o[7..]);
            BinaryPrimitives.WriteUInt32BigEndian(o[3..], opt.Faddr);
        }
        if (opt.RrNeedaddr)
        {
            var o = data[(opt.Rr - h)..];
            o[2] -= 4;
            o.Slice(o[2] - 1, 4).Clear();
        }
        if (opt.Ts != 0)
        {
            var o = data[(opt.Ts - h)..];
            if (opt.TsNeedtime)
            {
                o[2] -= 4;
                o.Slice(o[2] - 1, 4).Clear();
                if ((o[3] & 0xF) == IpoptTsPrespec) o[2] -= 4;
            }
            if (opt.TsNeedaddr)
            {
                o[2] -= 4;
                o.Slice(o[2] - 1, 4).Clear();
            }
        }
    }

    /// <summary>
    /// The options a reply carries back, built from a received buffer's compiled options: record
    /// route and timestamp copied with a slot claimed for this host when there is room, a source
    /// route reversed (its last hop becomes the first, Faddr), end-of-list padding to a multiple of
    /// 4. Returns 0, or -EINVAL when a claimed slot would not fit (the caller then sends nothing).
    /// </summary>
    /// <remarks>Mirrors __ip_options_echo() (with sopt = IPCB(skb)->opt; no CIPSO).</remarks>
    public static int IpOptionsEcho(NetNamespace net, ref IpOptionsData dopt, SkBuff skb) =>
        IpOptionsEcho(net, ref dopt, skb.Buffer.AsSpan(skb.NetworkHeader), skb.Ipcb.Opt);

    /// <summary>The echo of the options of the header at <paramref name="skbIn"/>.Data (the packet an ICMP error quotes).</summary>
    /// <remarks>Mirrors __icmp_send(): __ip_options_echo(net, &amp;icmp_param.replyopts.opt.opt, skb_in, opt).</remarks>
    public static int IpOptionsEchoIn(NetNamespace net, ref IpOptionsData dopt, SkBuff skbIn) =>
        IpOptionsEcho(net, ref dopt, skbIn.DataSpan, skbIn.Ipcb.Opt);

    /// <remarks>Mirrors __ip_options_echo(): <paramref name="sptr"/> is the received header, <paramref name="sopt"/> what was compiled from it.</remarks>
    private static int IpOptionsEcho(NetNamespace net, ref IpOptionsData dopt, ReadOnlySpan<byte> sptr, in IpOptionsParm sopt)
    {
        dopt = default;
        // A buffer whose options were never compiled (or whose header is not all there) echoes none.
        if (sopt.Optlen == 0 || sptr.Length < Ipv4Header.MinLength + sopt.Optlen) return 0;
        Span<byte> dptr = dopt.Data;
        int d = 0, optlen, soffset;
        if (sopt.Rr != 0)
        {
            optlen = sptr[sopt.Rr + 1];
            soffset = sptr[sopt.Rr + 2];
            dopt.Opt.Rr = dopt.Opt.Optlen + Ipv4Header.MinLength;
            sptr.Slice(sopt.Rr, optlen).CopyTo(dptr[d..]);
            if (sopt.RrNeedaddr && soffset <= optlen)
            {
                if (soffset + 3 > optlen) return -Uapi.Errno.EINVAL;
                dptr[d + 2] = (byte)(soffset + 4);
                dopt.Opt.RrNeedaddr = true;
            }
            d += optlen;
            dopt.Opt.Optlen += optlen;
        }
        if (sopt.Ts != 0)
        {
            optlen = sptr[sopt.Ts + 1];
            soffset = sptr[sopt.Ts + 2];
            dopt.Opt.Ts = dopt.Opt.Optlen + Ipv4Header.MinLength;
            sptr.Slice(sopt.Ts, optlen).CopyTo(dptr[d..]);
            if (soffset <= optlen)
            {
                if (sopt.TsNeedaddr)
                {
                    if (soffset + 3 > optlen) return -Uapi.Errno.EINVAL;
                    dopt.Opt.TsNeedaddr = true;
                    soffset += 4;
                }
                if (sopt.TsNeedtime)
                {
                    if (soffset + 3 > optlen) return -Uapi.Errno.EINVAL;
                    if ((dptr[d + 3] & 0xF) != IpoptTsPrespec)
                    {
                        dopt.Opt.TsNeedtime = true;
                        soffset += 4;
                    }
                    else
                    {
                        dopt.Opt.TsNeedtime = false;
                        if (soffset + 7 <= optlen)
                        {
                            uint addr = BinaryPrimitives.ReadUInt32BigEndian(dptr[(d + soffset - 1)..]);
                            if (AfInet.InetAddrType(net, addr) != RtnType.Unicast) // ours (or a broadcast): it stamps
                            {
                                dopt.Opt.TsNeedtime = true;
                                soffset += 8;
                            }
                        }
                    }
                }
                dptr[d + 2] = (byte)soffset;
            }
            d += optlen;
            dopt.Opt.Optlen += optlen;
        }
        if (sopt.Srr != 0)
        {
            var start = sptr[sopt.Srr..];
            uint faddr = 0;
            optlen = start[1];
            soffset = start[2];
            int doffset = 0;
            if (soffset > optlen) soffset = optlen + 1;
            soffset -= 4;
            if (soffset > 3)
            {
                faddr = BinaryPrimitives.ReadUInt32BigEndian(start[(soffset - 1)..]);
                for (soffset -= 4, doffset = 4; soffset > 3; soffset -= 4, doffset += 4)
                    start.Slice(soffset - 1, 4).CopyTo(dptr[(d + doffset - 1)..]);
                // RFC 1812 requires to fix illegal source routes.
                if (start.Slice(soffset + 3, 4).SequenceEqual(sptr.Slice(12, 4))) doffset -= 4;
            }
            if (doffset > 3)
            {
                dopt.Opt.Faddr = faddr;
                dptr[d] = start[0];
                dptr[d + 1] = (byte)(doffset + 3);
                dptr[d + 2] = 4;
                d += doffset + 3;
                dopt.Opt.Srr = dopt.Opt.Optlen + Ipv4Header.MinLength;
                dopt.Opt.Optlen += doffset + 3;
                dopt.Opt.IsStrictroute = sopt.IsStrictroute;
            }
        }
        while ((dopt.Opt.Optlen & 3) != 0)
        {
            dptr[d++] = IpoptEnd;
            dopt.Opt.Optlen++;
        }
        return 0;
    }

    /// <summary>
    /// Writes a packet's options into its header (after the fixed 20 bytes) and fills the slots they
    /// claim: the final destination at the end of a source route, the packet's source address in
    /// record route and timestamp-with-address, the time in a timestamp. The caller recomputes the
    /// header checksum.
    /// </summary>
    /// <remarks>Mirrors ip_options_build() (ip_rt_get_source() of an output route is the packet's source).</remarks>
    public static void IpOptionsBuild(Span<byte> iph, in IpOptionsData opt, uint daddr, uint saddr, NetNamespace net)
    {
        ((ReadOnlySpan<byte>)opt.Data)[..opt.Opt.Optlen].CopyTo(iph[Ipv4Header.MinLength..]);
        ref readonly var o = ref opt.Opt;
        if (o.Srr != 0) BinaryPrimitives.WriteUInt32BigEndian(iph[(o.Srr + iph[o.Srr + 1] - 4)..], daddr);
        if (o.RrNeedaddr) BinaryPrimitives.WriteUInt32BigEndian(iph[(o.Rr + iph[o.Rr + 2] - 5)..], saddr);
        if (o.TsNeedaddr) BinaryPrimitives.WriteUInt32BigEndian(iph[(o.Ts + iph[o.Ts + 2] - 9)..], saddr);
        if (o.TsNeedtime) BinaryPrimitives.WriteUInt32BigEndian(iph[(o.Ts + iph[o.Ts + 2] - 5)..], InetCurrentTimestamp(net));
    }

    /// <summary>
    /// After the first fragment: options that are not copied into fragments (record route,
    /// timestamp: the copied bit clear) become no-ops in the header the later fragments are cut from.
    /// </summary>
    /// <remarks>Mirrors ip_options_fragment().</remarks>
    public static void IpOptionsFragment(Span<byte> iph)
    {
        int p = Ipv4Header.MinLength, l = Ipv4Header.Create(iph).HeaderLength - Ipv4Header.MinLength;
        while (l > 0)
        {
            switch (iph[p])
            {
                case IpoptEnd:
                    return;
                case IpoptNoop:
                    l--;
                    p++;
                    continue;
            }
            int optlen = iph[p + 1];
            if (optlen < 2 || optlen > l) return;
            if ((iph[p] & 0x80) == 0) iph.Slice(p, optlen).Fill(IpoptNoop); // !IPOPT_COPIED()
            l -= optlen;
            p += optlen;
        }
    }

    /// <summary>
    /// Fills the record route slot claimed at input with the address the packet leaves from (the
    /// preferred source of the output route), then recomputes the header checksum.
    /// </summary>
    /// <remarks>Mirrors ip_forward_options() (ip_rt_get_source(), ip_send_check()).</remarks>
    public static void IpForwardOptions(SkBuff skb, in IpOptionsParm opt, in Rtable rt)
    {
        var iph = skb.DataSpan;
        if (opt.RrNeedaddr)
        {
            int slot = opt.Rr + iph[opt.Rr + 2] - 5;
            uint src = InetAddress.InetSelectAddr(rt.Dev, rt.NextHop(Ipv4Header.Create(iph).Destination));
            BinaryPrimitives.WriteUInt32BigEndian(iph[slot..], src);
        }
        Ipv4Header.Create(iph).FillChecksum();
    }
}
