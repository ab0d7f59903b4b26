using NetStack.Core;
using NetStack.Wire;

namespace NetStack.Ipv4;

/// <summary>
/// One IPv4 datagram being reassembled: the shared queue (<see cref="InetFragQueue{TKey}"/>) and
/// what only IPv4 keeps, its source's inet_peer. Pooled per namespace.
/// </summary>
/// <remarks>Mirrors net/ipv4/ip_fragment.c: struct ipq.</remarks>
internal sealed class Ipq : InetFragQueue<IpqKey>
{
    public Ipq() : base(IpFragment.IpExpire) { }

    /// <summary>qp->rid: the source's fragment count (inet_peer.rid) when this queue last took a fragment.</summary>
    public int Rid;
    /// <summary>qp->peer != NULL: the queue holds a reference on its source's inet_peer (ipfrag_max_dist was on when it was made).</summary>
    public bool HasPeer;
}

/// <summary>The identity of a datagram being reassembled: (saddr, daddr, id, protocol).</summary>
internal readonly record struct IpqKey(uint Saddr, uint Daddr, ushort Id, byte Protocol);

/// <summary>
/// IPv4 fragmentation on output and reassembly on input.
/// <remarks>Mirrors net/ipv4/ip_fragment.c (ip_defrag, ip_frag_queue, ip_frag_reasm, ip_expire),
/// net/ipv4/inet_fragment.c (inet_frag_queue_insert) and net/ipv4/ip_output.c (ip_do_fragment's slow path).</remarks>
/// </summary>
internal static class IpFragment
{
    /// <summary>
    /// Queues a fragment (skb.Data at its IP header, already validated by ip_rcv). Returns the
    /// reassembled datagram (Data at its IP header, a fresh buffer) when this fragment completes
    /// it, else null. Always consumes <paramref name="skb"/>.
    /// </summary>
    /// <remarks>Mirrors ip_defrag() -> ip_find() + ip_frag_queue().</remarks>
    public static SkBuff? IpDefrag(NetNamespace net, SkBuff skb)
    {
        var mib = net.Mib.Ip;
        mib[IpMib.ReasmReqds]++;
        var st = net.Ipv4.Frags;
        var iph = Ipv4Header.Create(skb.DataSpan);
        var key = new IpqKey(iph.Source, iph.Destination, iph.Id, iph.Protocol);
        int ihl = iph.HeaderLength;
        int offset = iph.FragmentOffset;
        bool more = iph.MoreFragments;
        int end = offset + iph.TotalLength - ihl;

        var q = st.InetFragFind(net, key);
        if (q is null)
        {
            // ip_defrag(): no queue (over ipfrag_high_thresh, or reassembly off): the fragment goes.
            mib[IpMib.ReasmFails]++;
            net.KfreeSkbReason(skb, SkbDropReason.FragMemLimit);
            return null;
        }

        // ip_frag_queue(): too many fragments from this source since the queue's last one
        // (ipfrag_max_dist): what it holds is probably stale, start it afresh.
        if (IpFragTooFar(net, q) && IpFragReinit(net, q) != 0)
        {
            net.KfreeSkbReason(skb, SkbDropReason.FragTooFar);
            Destroy(net, q, SkbDropReason.FragTooFar);
            return null;
        }

        if (!more)
        {
            // The last fragment fixes the length: data beyond it, or a different end, is corruption.
            if (end < q.Len || (q.LastIn && end != q.Len)) return Discard(net, q, skb, SkbDropReason.PktLenInvalid);
            q.LastIn = true;
            q.Len = end;
        }
        else
        {
            if ((end & 7) != 0) end &= ~7; // a non-final fragment is a multiple of 8; trim the rest
            if (end > q.Len)
            {
                if (q.LastIn) return Discard(net, q, skb, SkbDropReason.PktLenInvalid);
                q.Len = end;
            }
        }
        if (end == offset) return Discard(net, q, skb, SkbDropReason.PktLenInvalid);

        skb.NetworkHeader = skb.Data;
        skb.Pull(ihl);
        skb.Trim(end - offset);
        switch (IpFragState.InetFragQueueInsert(q, skb, offset, end))
        {
            case IpFragInsert.Dup:
                net.KfreeSkbReason(skb, SkbDropReason.FragDup);
                return null;
            case IpFragInsert.Overlap:
                net.Mib.IpExt[IpExtMib.ReasmOverlaps]++;
                return Discard(net, q, skb, SkbDropReason.FragOverlap);
        }
        st.AddFragMem(q, Sock.SkbTruesize(skb));
        q.Meat += end - offset;
        if (offset == 0) q.FirstIn = true;

        if (q.FirstIn && q.LastIn && q.Meat == q.Len) return IpFragReasm(net, q);
        return null;
    }

    /// <summary>
    /// The memory one queue header is charged (f->qsize = sizeof(struct ipq), about 200 bytes on
    /// x86-64), so a flood of one-fragment datagrams is bounded by ipfrag_high_thresh as well.
    /// </summary>
    public const int IpqSize = 256;

    /// <summary>
    /// Whether more than ipfrag_max_dist fragments came from the queue's source since this queue's
    /// last one while it holds fragments: the datagram is likely lost or its id reused.
    /// </summary>
    /// <remarks>Mirrors ip_frag_too_far(): counts ReasmFails when it says yes.</remarks>
    private static bool IpFragTooFar(NetNamespace net, Ipq q)
    {
        int max = net.Ipv4.Sysctl.IpfragMaxDist;
        if (max == 0 || !q.HasPeer) return false;
        int start = q.Rid;
        int end = net.Ipv4.Frags.PeerIncRid(q.Key.Saddr);
        q.Rid = end;
        bool rc = q.Fragments.First is not null && (uint)(end - start) > (uint)max;
        if (rc) net.Mib.Ip[IpMib.ReasmFails]++;
        return rc;
    }

    /// <summary>Empties a queue in place (its fragments dropped as FRAG_TOO_FAR) and restarts its timer; nonzero if it was already expiring.</summary>
    /// <remarks>Mirrors ip_frag_reinit().</remarks>
    private static int IpFragReinit(NetNamespace net, Ipq q)
    {
        // mod_timer() finding the timer already fired cannot happen under the stack lock: a queue
        // whose timer ran is gone. The pending check stays for the kernel's shape.
        if (!q.Timer.Pending) return -Uapi.Errno.ETIMEDOUT;
        net.Ipv4.Frags.InetFragEmpty(net, q, SkbDropReason.FragTooFar);
        return 0;
    }

    /// <summary>Builds the whole datagram from its fragments into one (large) buffer.</summary>
    /// <remarks>Mirrors ip_frag_reasm().</remarks>
    private static SkBuff? IpFragReasm(NetNamespace net, Ipq q)
    {
        var mib = net.Mib.Ip;
        var first = q.Fragments.First!;
        int ihl = first.Data - first.NetworkHeader;
        int total = ihl + q.Len;
        if (total > 0xFFFF)
        {
            // "Oversized IP packet": the pieces claim more than an IPv4 datagram can hold.
            Destroy(net, q, SkbDropReason.PktLenInvalid);
            mib[IpMib.ReasmFails]++;
            return null;
        }
        var skb = net.AllocSkb(total);
        if (skb is null)
        {
            Destroy(net, q, SkbDropReason.NoBuffers);
            mib[IpMib.ReasmFails]++;
            return null;
        }
        var dst = skb.Put(total);
        first.Buffer.AsSpan(first.NetworkHeader, ihl).CopyTo(dst);
        IpFragState.InetFragReasmCopy(q, dst[ihl..]);
        skb.Dev = first.Dev;
        skb.Ipcb = first.Ipcb;
        skb.PktType = first.PktType;
        skb.RouteBroadcast = first.RouteBroadcast;
        skb.Protocol = first.Protocol;
        skb.Saddr = first.Saddr;
        skb.Daddr = first.Daddr;
        skb.NetworkHeader = skb.Data;
        var iph = Ipv4Header.Create(dst);
        iph.TotalLength = (ushort)total;
        iph.FragOff = 0;
        iph.FillChecksum();
        Destroy(net, q, reason: null);
        mib[IpMib.ReasmOKs]++;
        return skb;
    }

    /// <summary>Drops the fragment and its whole datagram (ip_frag_queue's discard_qp).</summary>
    private static SkBuff? Discard(NetNamespace net, Ipq q, SkBuff skb, SkbDropReason reason)
    {
        net.Mib.Ip[IpMib.ReasmFails]++;
        net.KfreeSkbReason(skb, reason);
        Destroy(net, q, reason);
        return null;
    }

    /// <summary>Frees a queue's fragments (counting them under <paramref name="reason"/>, or as consumed) and recycles it.</summary>
    private static void Destroy(NetNamespace net, Ipq q, SkbDropReason? reason) =>
        net.Ipv4.Frags.InetFragDestroy(net, q, reason);

    /// <summary>The reassembly timer: give up, and tell the sender if we had its first fragment.</summary>
    /// <remarks>Mirrors ip_expire().</remarks>
    internal static void IpExpire(TimerList t)
    {
        var q = (Ipq)t.Owner!;
        var net = q.Net;
        net.Mib.Ip[IpMib.ReasmFails]++;
        net.Mib.Ip[IpMib.ReasmTimeout]++;
        if (q.FirstIn && q.Fragments.First is { Cb.Seq: 0 } head)
        {
            // Quote the first fragment: its IP header is still in front of its data.
            int saved = head.Data;
            head.Data = head.NetworkHeader;
            Icmp.IcmpSend(net, head, IcmpType.TimeExceeded, IcmpType.ExcFragtime, 0);
            head.Data = saved;
        }
        Destroy(net, q, SkbDropReason.FragReasmTimeout);
    }

    /// <summary>
    /// Splits a datagram (Data at its IP header, DF clear) that exceeds the route device's MTU into
    /// fragments and sends each. Consumes the buffer.
    /// </summary>
    /// <remarks>Mirrors ip_do_fragment() (slow path). IP options are copied into every fragment;
    /// those without the copied bit only into the first (ip_options_fragment()).</remarks>
    public static int IpDoFragment(NetNamespace net, SkBuff skb, in Rtable rt, uint daddr)
    {
        var mib = net.Mib.Ip;
        int mtu = rt.Dev.Mtu;
        var iph = Ipv4Header.Create(skb.DataSpan);
        int hlen = iph.HeaderLength;
        int left = iph.TotalLength - hlen;
        int baseOffset = iph.FragmentOffset;
        bool origMore = iph.MoreFragments;
        int maxPiece = (mtu - hlen) & ~7;
        if (maxPiece <= 0)
        {
            mib[IpMib.FragFails]++;
            skb.Free();
            return -Uapi.Errno.EMSGSIZE;
        }
        int ptr = hlen, offset = 0, err = 0;
        while (left > 0)
        {
            int len = Math.Min(left, maxPiece);
            var frag = net.AllocSkb(hlen + len);
            if (frag is null)
            {
                mib[IpMib.FragFails]++;
                skb.Free();
                return -Uapi.Errno.ENOBUFS;
            }
            var d = frag.Put(hlen + len);
            skb.DataSpan[..hlen].CopyTo(d);
            skb.DataSpan.Slice(ptr, len).CopyTo(d[hlen..]);
            var fh = Ipv4Header.Create(d);
            bool more = left > len || origMore;
            fh.FragOff = (ushort)(((baseOffset + offset) >> 3) | (more ? Ipv4Header.FlagMF : 0));
            fh.TotalLength = (ushort)(hlen + len);
            fh.FillChecksum();
            frag.NetworkHeader = frag.Data;
            frag.Protocol = skb.Protocol;
            mib[IpMib.FragCreates]++;
            int r = IpOutput.IpFinishOutput2(net, frag, rt, daddr);
            if (r != 0 && err == 0) err = r;
            // Later fragments inherit the header with the options not copied into fragments blanked.
            if (offset == 0 && hlen > Ipv4Header.MinLength) IpOptions.IpOptionsFragment(skb.DataSpan);
            ptr += len;
            offset += len;
            left -= len;
        }
        skb.Free();
        mib[IpMib.FragOKs]++;
        return err;
    }
}

/// <summary>
/// Per-namespace IPv4 reassembly state (net->ipv4.fqdir): the shared queue table and memory
/// account, with ipfrag_high_thresh and ipfrag_time read from net.ipv4's sysctls, and the
/// inet_peer entries ipfrag_max_dist needs.
/// </summary>
/// <remarks>Mirrors ip_fragment.c's ip4_frags (qsize, ip4_frag_init, ip4_frag_free) over net->ipv4.fqdir.</remarks>
internal sealed class IpFragState : Fqdir<IpqKey, Ipq>
{
    protected override int QSize => IpFragment.IpqSize;
    protected override long HighThresh(NetNamespace net) => net.Ipv4.Sysctl.IpfragHighThresh;
    protected override long TimeoutNs(NetNamespace net) => Time.Sec(net.Ipv4.Sysctl.IpfragTimeSec);
    protected override Ipq NewQueue() => new();

    /// <remarks>Mirrors ip4_frag_init(): qp->peer = max_dist ? inet_getpeer_v4(saddr) : NULL.</remarks>
    protected override void Init(NetNamespace net, Ipq q)
    {
        q.HasPeer = net.Ipv4.Sysctl.IpfragMaxDist != 0;
        q.Rid = 0;
        if (q.HasPeer) PeerGet(q.Key.Saddr);
    }

    /// <remarks>Mirrors ip4_frag_free(): inet_putpeer(qp->peer).</remarks>
    protected override void Destructor(Ipq q)
    {
        if (q.HasPeer) PeerPut(q.Key.Saddr);
        q.HasPeer = false;
    }

    /// <summary>
    /// The inet_peer of each source that has queues: its fragment counter (rid) and how many queues
    /// refer to it. An entry lives while a queue refers to it, so the table is bounded by the number
    /// of queues (itself bounded by ipfrag_high_thresh); Linux keeps peers a while longer in its own
    /// bounded cache (inet_peer_threshold), which only matters for the counter's starting point.
    /// </summary>
    private readonly Dictionary<uint, (int Rid, int Refs)> _peers = new();

    /// <summary>Takes a reference on the source's peer (inet_getpeer_v4(create = 1)).</summary>
    public void PeerGet(uint saddr)
    {
        ref var p = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_peers, saddr, out _);
        p.Refs++;
    }

    /// <summary>Drops a reference (inet_putpeer()); the last one removes the peer.</summary>
    public void PeerPut(uint saddr)
    {
        ref var p = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrNullRef(_peers, saddr);
        if (System.Runtime.CompilerServices.Unsafe.IsNullRef(ref p)) return;
        if (--p.Refs <= 0) _peers.Remove(saddr);
    }

    /// <summary>atomic_inc_return(&amp;peer-&gt;rid): one more fragment from this source.</summary>
    public int PeerIncRid(uint saddr)
    {
        ref var p = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrNullRef(_peers, saddr);
        return System.Runtime.CompilerServices.Unsafe.IsNullRef(ref p) ? 0 : ++p.Rid;
    }

    /// <summary>Sources with queues (inet_peer entries held by reassembly).</summary>
    public int PeerCount => _peers.Count;
}
