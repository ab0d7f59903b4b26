using System.Globalization;
using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Wire;

namespace NetStack.Ipv6;

/// <summary>
/// The identity of an IPv6 datagram being reassembled: source, destination, identification, the
/// defrag user and, for link-local and multicast destinations only, the arrival interface.
/// </summary>
/// <remarks>Mirrors include/net/ipv6_frag.h: struct frag_v6_compare_key.</remarks>
internal readonly record struct FragV6CompareKey(UInt128 Saddr, UInt128 Daddr, uint Id, int User, int Iif);

/// <summary>One IPv6 datagram being reassembled: the shared queue plus what IPv6 keeps.</summary>
/// <remarks>Mirrors include/net/ipv6_frag.h: struct frag_queue.</remarks>
internal sealed class FragQueue : InetFragQueue<FragV6CompareKey>
{
    public FragQueue() : base(Reassembly.Ip6FragExpire) { }

    /// <summary>fq->iif: the interface the last fragment came in on (where a time-exceeded goes out).</summary>
    public int Iif;
    /// <summary>fq->nhoffset: where, from the network header, the first fragment's next-header byte that named the fragment header is.</summary>
    public int Nhoffset;
    /// <summary>fq->ecn: the OR of the fragments' <see cref="IpFragEcn.FragEcn"/> bits.</summary>
    public byte Ecn;
}

/// <summary>
/// Per-namespace IPv6 reassembly state (net->ipv6.fqdir with its sysctls), the identification
/// counters of ip6_fragment, and the ICMPv6 hook both use.
/// </summary>
/// <remarks>Mirrors net/ipv6/reassembly.c: ip6_frags (qsize, ip6frag_init) and ipv6_frags_init_net().</remarks>
internal sealed class Ip6FragState : Fqdir<FragV6CompareKey, FragQueue>
{
    /// <summary>What one queue header is charged (sizeof(struct frag_queue) rounded up).</summary>
    public const int FragQueueSize = 256;

    /// <summary>net.ipv6.ip6frag_high_thresh (IPV6_FRAG_HIGH_THRESH, 4 MiB).</summary>
    public long HighThreshBytes = 4 * 1024 * 1024;
    /// <summary>net.ipv6.ip6frag_low_thresh (IPV6_FRAG_LOW_THRESH, 3 MiB): since Linux 4.17 only a bound for the high one.</summary>
    public long LowThreshBytes = 3 * 1024 * 1024;
    /// <summary>net.ipv6.ip6frag_time (IPV6_FRAG_TIMEOUT, 60 s).</summary>
    public int TimeoutSec = 60;

    /// <summary>
    /// icmpv6_send(skb, type, code, info), set by the ICMPv6 layer when it comes up; null sends
    /// nothing. The buffer's Data and NetworkHeader are at the offending packet's IPv6 header; the
    /// hook quotes it and does not free it.
    /// </summary>
    public Action<NetNamespace, SkBuff, byte, byte, uint>? Icmpv6Send;

    /// <summary>The per-destination identification counters of <see cref="Ip6Fragment.Ipv6SelectIdent"/>.</summary>
    internal readonly Ip6Idents Idents = new();

    protected override int QSize => FragQueueSize;
    protected override long HighThresh(NetNamespace net) => HighThreshBytes;
    protected override long TimeoutNs(NetNamespace net) => Time.Sec(TimeoutSec);
    protected override FragQueue NewQueue() => new();

    /// <remarks>Mirrors ip6frag_init(): the key is the queue's; the rest starts empty.</remarks>
    protected override void Init(NetNamespace net, FragQueue q)
    {
        q.Iif = q.Nhoffset = 0;
        q.Ecn = 0;
    }
}

/// <summary>
/// IPv6 fragment reassembly (RFC 8200 4.5 with RFC 5722 and RFC 7112 as Linux applies them).
/// </summary>
/// <remarks>Mirrors net/ipv6/reassembly.c and include/net/ipv6_frag.h.</remarks>
internal static class Reassembly
{
    /// <summary>IPV6_MAXPLEN: the largest payload length without a jumbogram.</summary>
    public const int Ipv6MaxPlen = 65535;
    /// <summary>IP6_DEFRAG_LOCAL_DELIVER: the defrag user of the input path.</summary>
    public const int Ip6DefragLocalDeliver = 0;
    /// <summary>ICMPV6_HDR_INCOMP: parameter problem code 3, "first fragment has incomplete IPv6 header chain" (RFC 7112).</summary>
    public const byte HdrIncomp = 3;
    /// <summary>offsetof(struct ipv6hdr, payload_len): the pointer of a non-multiple-of-8 fragment's parameter problem.</summary>
    public const int PayloadLenOffset = 4;

    /// <summary>The registration: the pernet operations for the fragment state and its sysctls.</summary>
    /// <remarks>Mirrors ipv6_frag_init() (called from inet6_init); a second call does nothing,
    /// so inet6_init may call it as Linux does.</remarks>
#pragma warning disable CA2255 // The initcall of a layer (see AfInet.InetInit).
    [System.Runtime.CompilerServices.ModuleInitializer]
#pragma warning restore CA2255
    internal static void Ipv6FragInit()
    {
        NetNamespaceIpv6Mib.Ipv6MibInit();
        if (Ip6FragsNetOps.Instance.Id < 0) NetNamespace.RegisterPernetSubsys(Ip6FragsNetOps.Instance);
    }

    /// <summary>The fragment state of <paramref name="net"/> (net->ipv6.fqdir).</summary>
    internal static Ip6FragState Ip6Frags(this NetNamespace net) => net.NetGeneric<Ip6FragState>(Ip6FragsNetOps.Instance.Id);

    /// <summary>
    /// The fragment header handler (inet6_protos[NEXTHDR_FRAGMENT]). On entry the buffer's
    /// NetworkHeader is at the IPv6 header, Data at the fragment header, Tail at the end of the
    /// payload (ip6_rcv_core trimmed it); <paramref name="nhoff"/> is where, from the network header,
    /// the next-header byte naming the fragment header is (IP6CB(skb)->nhoff) and
    /// <paramref name="fragmented"/> whether the packet already went through here
    /// (IP6SKB_FRAGMENTED: a second fragment header is an error).
    /// <para>
    /// Returns 1 when there is a packet to go on with (an atomic fragment, or the datagram this
    /// fragment completed, then in a new buffer): <paramref name="skb"/> is that packet, Data and
    /// TransportHeader after the fragment header's place, <paramref name="nhoff"/> at the next-header
    /// byte to read next, <paramref name="fragmented"/> set. Returns -1 when the buffer was consumed
    /// (queued, dropped, or answered by a parameter problem through <see cref="Ip6FragState.Icmpv6Send"/>).
    /// </para>
    /// </summary>
    /// <remarks>Mirrors ipv6_frag_rcv(), checks in its order.</remarks>
    public static int Ipv6FragRcv(NetNamespace net, ref SkBuff skb, ref int nhoff, ref bool fragmented)
    {
        var mib = net.Ip6Mib;
        int nh = skb.NetworkHeader;
        if (fragmented) return FailHdr(net, skb);
        mib[Ipv6Mib.Ip6ReasmReqds]++;

        var hdr = Ipv6Header.Create(skb.Buffer.AsSpan(nh, Ipv6Header.Length));
        // Jumbo payload inhibits the fragment header.
        if (hdr.PayloadLength == 0) return FailHdr(net, skb);
        if (skb.Len < Ipv6FragHeader.Length) return FailHdr(net, skb); // pskb_may_pull(transport + frag_hdr)

        int fh = skb.Data;
        var fhdr = Ipv6FragHeader.Create(skb.Buffer.AsSpan(fh, Ipv6FragHeader.Length));
        if (fhdr.IsAtomic)
        {
            // Not a fragmented frame (RFC 6946): go on with what follows the fragment header.
            skb.Pull(Ipv6FragHeader.Length);
            skb.TransportHeader = skb.Data;
            mib[Ipv6Mib.Ip6ReasmOKs]++;
            nhoff = fh - nh;
            fragmented = true;
            return 1;
        }

        // RFC 8200 4.5: a first fragment without all headers through the upper-layer header is
        // discarded with a parameter problem, code 3, pointer 0.
        if (Ipv6fragThdrTruncated(skb.DataSpan))
        {
            mib[Ipv6Mib.Ip6InHdrErrors]++;
            return ParamProb(net, skb, HdrIncomp, 0, SkbDropReason.PktTooSmall);
        }

        int iif = skb.Dev?.IfIndex ?? 0;
        var fq = FqFind(net, fhdr.Identification, hdr, iif);
        if (fq is not null)
        {
            int probOffset = 0;
            fq.Iif = iif;
            int ret = Ip6FragQueue(net, fq, ref skb, nhoff, ref probOffset, out int newNhoff);
            if (probOffset != 0)
            {
                mib[Ipv6Mib.Ip6InHdrErrors]++;
                return ParamProb(net, skb, Icmpv6Type.HdrField, (uint)probOffset, SkbDropReason.PktLenInvalid);
            }
            if (ret > 0)
            {
                nhoff = newNhoff;
                fragmented = true;
            }
            return ret;
        }

        mib[Ipv6Mib.Ip6ReasmFails]++;
        net.KfreeSkbReason(skb, SkbDropReason.FragMemLimit);
        return -1;
    }

    /// <summary>ipv6_frag_rcv's fail_hdr: InHdrErrors and a parameter problem pointing past the headers before the fragment header.</summary>
    private static int FailHdr(NetNamespace net, SkBuff skb)
    {
        net.Ip6Mib[Ipv6Mib.Ip6InHdrErrors]++;
        return ParamProb(net, skb, Icmpv6Type.HdrField, (uint)(skb.Data - skb.NetworkHeader), SkbDropReason.IpInHdr);
    }

    /// <summary>Sends a parameter problem about the packet and frees it.</summary>
    /// <remarks>Mirrors icmpv6_param_prob_reason(): icmpv6_send() then kfree_skb_reason().</remarks>
    private static int ParamProb(NetNamespace net, SkBuff skb, byte code, uint pointer, SkbDropReason reason)
    {
        if (net.Ip6Frags().Icmpv6Send is { } send)
        {
            skb.Data = skb.NetworkHeader;
            send(net, skb, Icmpv6Type.ParamProb, code, pointer);
        }
        net.KfreeSkbReason(skb, reason);
        return -1;
    }

    /// <summary>
    /// Whether a first fragment stops before the end of its upper-layer header's first bytes (a
    /// TCP, UDP or ICMPv6 header whole, one byte of anything else). <paramref name="fromFragHdr"/>
    /// starts at the fragment header.
    /// </summary>
    /// <remarks>Mirrors ipv6frag_thdr_truncated(). Linux starts the walk with the IPv6 header's
    /// next header; starting it with NEXTHDR_FRAGMENT, the header actually there, gives the same
    /// answer when that header follows the fixed header directly and the right one after a
    /// hop-by-hop header too.</remarks>
    internal static bool Ipv6fragThdrTruncated(ReadOnlySpan<byte> fromFragHdr)
    {
        byte nexthdr = NextHdr.Fragment;
        int offset = Ipv6ExtHdr.Skip(fromFragHdr, 0, ref nexthdr, out ushort fragOff);
        if (offset < 0 || (fragOff & Ipv6FragHeader.OffsetMask) != 0) return false;
        offset += nexthdr switch
        {
            NextHdr.Tcp => TcpHeader.MinLength,
            NextHdr.Udp => UdpHeader.Length,
            NextHdr.Icmp => Icmpv6Header.Length,
            _ => 1,
        };
        return offset > fromFragHdr.Length;
    }

    /// <summary>The queue of a datagram, made if new; null when over ip6frag_high_thresh.</summary>
    /// <remarks>Mirrors fq_find(): the interface is part of the key only for link-local and multicast destinations.</remarks>
    private static FragQueue? FqFind(NetNamespace net, uint id, Ipv6Header hdr, int iif)
    {
        var daddr = hdr.Destination;
        if (!Ipv6Address.IsMulticast(daddr) && !Ipv6Address.IsLinkLocal(daddr)) iif = 0;
        var key = new FragV6CompareKey(hdr.Source, daddr, id, Ip6DefragLocalDeliver, iif);
        return net.Ip6Frags().InetFragFind(net, key);
    }

    /// <summary>
    /// Queues one fragment. Returns 1 with the reassembled datagram in <paramref name="skb"/> when
    /// it completes one, -1 otherwise; a nonzero <paramref name="probOffset"/> asks the caller for a
    /// parameter problem pointing there (the buffer is then the caller's to free).
    /// </summary>
    /// <remarks>Mirrors ip6_frag_queue().</remarks>
    private static int Ip6FragQueue(NetNamespace net, FragQueue fq, ref SkBuff skb, int nhoff, ref int probOffset, out int newNhoff)
    {
        newNhoff = 0;
        var st = net.Ip6Frags();
        var mib = net.Ip6Mib;
        int nh = skb.NetworkHeader, fh = skb.Data;
        var hdr = Ipv6Header.Create(skb.Buffer.AsSpan(nh, Ipv6Header.Length));
        var fhdr = Ipv6FragHeader.Create(skb.Buffer.AsSpan(fh, Ipv6FragHeader.Length));
        int offset = fhdr.Offset;
        int end = offset + (hdr.PayloadLength - (fh + Ipv6FragHeader.Length - (nh + Ipv6Header.Length)));

        if ((uint)end > Ipv6MaxPlen)
        {
            probOffset = fh + 2 - nh; // the fragment offset field
            return -1;
        }
        byte ecn = IpFragEcn.FragEcn(hdr.TrafficClass);

        SkbDropReason reason;
        if (!fhdr.More)
        {
            // The final fragment: bits already beyond its end, or a different end, is corruption.
            if (end < fq.Len || (fq.LastIn && end != fq.Len)) { reason = SkbDropReason.PktLenInvalid; goto discard_fq; }
            fq.LastIn = true;
            fq.Len = end;
        }
        else
        {
            // RFC 8200 says a non-final fragment's length must be a multiple of 8: parameter problem.
            if ((end & 7) != 0)
            {
                probOffset = PayloadLenOffset;
                return -1;
            }
            if (end > fq.Len)
            {
                if (fq.LastIn) { reason = SkbDropReason.PktLenInvalid; goto discard_fq; }
                fq.Len = end;
            }
        }
        if (end == offset) { reason = SkbDropReason.PktLenInvalid; goto discard_fq; }

        // Point into the datagram's data part (pskb_pull, pskb_trim_rcsum).
        skb.Pull(Ipv6FragHeader.Length);
        if (skb.Len < end - offset) { reason = SkbDropReason.PktLenInvalid; goto discard_fq; }
        skb.Trim(end - offset);

        switch (Ip6FragState.InetFragQueueInsert(fq, skb, offset, end))
        {
            case IpFragInsert.Dup:
                net.KfreeSkbReason(skb, SkbDropReason.FragDup);
                return -1;
            case IpFragInsert.Overlap:
                mib[Ipv6Mib.Ip6ReasmOverlaps]++;
                reason = SkbDropReason.FragOverlap;
                goto discard_fq;
        }
        if (skb.Dev is { } dev) fq.Iif = dev.IfIndex;
        fq.Meat += skb.Len;
        fq.Ecn |= ecn;
        st.AddFragMem(fq, Sock.SkbTruesize(skb));
        int fragsize = skb.Data - nh + skb.Len;
        if (fragsize > fq.MaxSize) fq.MaxSize = fragsize;
        // The first fragment: its next-header offset is the datagram's.
        if (offset == 0)
        {
            fq.Nhoffset = nhoff;
            fq.FirstIn = true;
        }

        if (fq.FirstIn && fq.LastIn && fq.Meat == fq.Len) return Ip6FragReasm(net, fq, ref skb, out newNhoff);
        return -1;

    discard_fq:
        st.InetFragDestroy(net, fq, reason);
        mib[Ipv6Mib.Ip6ReasmFails]++;
        net.KfreeSkbReason(skb, reason);
        return -1;
    }

    /// <summary>
    /// Builds the datagram: the first fragment's unfragmentable part without the fragment header,
    /// the next-header byte that named it now naming what the fragment header named, the payload
    /// length fixed, then every fragment's data at its offset; into one pooled buffer.
    /// </summary>
    /// <remarks>Mirrors ip6_frag_reasm() (with inet_frag_reasm_prepare/finish).</remarks>
    private static int Ip6FragReasm(NetNamespace net, FragQueue fq, ref SkBuff skb, out int nhoff)
    {
        nhoff = 0;
        var st = net.Ip6Frags();
        var mib = net.Ip6Mib;
        var head = fq.Fragments.First!;
        byte ecn = IpFragEcn.Table(fq.Ecn);
        // The unfragmentable part: from the IPv6 header up to the fragment header.
        int unfrag = head.Data - Ipv6FragHeader.Length - head.NetworkHeader;
        int payloadLen = unfrag - Ipv6Header.Length + fq.Len;
        if (ecn == 0xff || payloadLen > Ipv6MaxPlen)
        {
            st.InetFragDestroy(net, fq, ecn == 0xff ? SkbDropReason.FragReasmTimeout : SkbDropReason.PktLenInvalid);
            mib[Ipv6Mib.Ip6ReasmFails]++;
            return -1;
        }
        var whole = net.AllocSkb(unfrag + fq.Len);
        if (whole is null)
        {
            st.InetFragDestroy(net, fq, SkbDropReason.NoBuffers);
            mib[Ipv6Mib.Ip6ReasmFails]++;
            return -1;
        }
        var dst = whole.Put(unfrag + fq.Len);
        head.Buffer.AsSpan(head.NetworkHeader, unfrag).CopyTo(dst);
        dst[fq.Nhoffset] = head.Buffer[head.Data - Ipv6FragHeader.Length]; // the fragment header's next header
        Ip6FragState.InetFragReasmCopy(fq, dst[unfrag..]);
        var ip6 = Ipv6Header.Create(dst);
        ip6.PayloadLength = (ushort)payloadLen;
        ip6.TrafficClass |= ecn;

        var last = skb;
        whole.Dev = last.Dev;
        whole.PktType = last.PktType;
        whole.Protocol = last.Protocol;
        whole.Tstamp = last.Tstamp;
        whole.NetworkHeader = whole.Data;
        whole.Pull(unfrag);
        whole.TransportHeader = whole.Data;
        nhoff = fq.Nhoffset;
        st.InetFragDestroy(net, fq, reason: null);
        mib[Ipv6Mib.Ip6ReasmOKs]++;
        skb = whole;
        return 1;
    }

    /// <summary>
    /// The reassembly timer: give up; if the first fragment came, tell the source with a time
    /// exceeded (fragment reassembly time exceeded) quoting it, sent from the interface the last
    /// fragment came in on. Nothing is counted when that interface is gone.
    /// </summary>
    /// <remarks>Mirrors ip6_frag_expire() -> ip6frag_expire_frag_queue().</remarks>
    internal static void Ip6FragExpire(TimerList t)
    {
        var fq = (FragQueue)t.Owner!;
        var net = fq.Net;
        var st = net.Ip6Frags();
        var dev = net.DevGetByIndex(fq.Iif);
        if (dev is null)
        {
            st.InetFragDestroy(net, fq, SkbDropReason.FragReasmTimeout);
            return;
        }
        var mib = net.Ip6Mib;
        mib[Ipv6Mib.Ip6ReasmFails]++;
        mib[Ipv6Mib.Ip6ReasmTimeout]++;
        // Don't send an error if the first segment did not arrive.
        if (fq.FirstIn && st.InetFragPullHead(fq) is { } head)
        {
            head.Dev = dev;
            if (st.Icmpv6Send is { } send)
            {
                head.Data = head.NetworkHeader;
                send(net, head, Icmpv6Type.TimeExceed, Icmpv6Type.ExcFragTime, 0);
            }
            net.KfreeSkbReason(head, SkbDropReason.FragReasmTimeout);
        }
        st.InetFragDestroy(net, fq, SkbDropReason.FragReasmTimeout);
    }

    /// <summary>
    /// Sets up the fragment state of a namespace and registers net.ipv6.ip6frag_high_thresh,
    /// ip6frag_low_thresh (each bounding the other) and ip6frag_time.
    /// </summary>
    /// <remarks>Mirrors ipv6_frags_init_net() and ip6_frags_ns_sysctl_register().</remarks>
    internal sealed class Ip6FragsNetOps : PernetOperations
    {
        public static readonly Ip6FragsNetOps Instance = new();
        private Ip6FragsNetOps() { }
        public override string Name => "ip6_frags";

        public override void Init(NetNamespace net)
        {
            var st = new Ip6FragState();
            net.NetAssignGeneric(Id, st);
            net.Sysctl.RegisterNetSysctl("net/ipv6",
            [
                ULong("ip6frag_high_thresh", () => st.HighThreshBytes, v => st.HighThreshBytes = v, () => st.LowThreshBytes, () => long.MaxValue),
                ULong("ip6frag_low_thresh", () => st.LowThreshBytes, v => st.LowThreshBytes = v, () => 0, () => st.HighThreshBytes),
                CtlTable.Int("ip6frag_time", () => st.TimeoutSec, v => st.TimeoutSec = v, 0),
            ]);
        }

        /// <summary>An unsigned long bounded by the other threshold (proc_doulongvec_minmax with extra1/extra2).</summary>
        private static CtlTable ULong(string name, Func<long> get, Action<long> set, Func<long> min, Func<long> max) =>
            new(name, () => get().ToString(CultureInfo.InvariantCulture), v =>
            {
                if (!long.TryParse(v.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out long x) || x < min() || x > max())
                    return -Uapi.Errno.EINVAL;
                set(x);
                return 0;
            });
    }
}
