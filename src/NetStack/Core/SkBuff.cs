using System.Runtime.CompilerServices;

namespace NetStack.Core;

/// <summary>
/// Per-segment facts computed once when a TCP segment is parsed or built.
/// <remarks>Mirrors include/net/tcp.h: struct tcp_skb_cb (TCP_SKB_CB(skb)).</remarks>
/// </summary>
internal struct TcpSkbCb
{
    public uint Seq;
    public uint EndSeq;
    public uint AckSeq;
    public byte TcpFlags;
    public byte Sacked;
    /// <summary>skb_mstamp_ns: when the segment was last (re)transmitted (ns of the namespace clock).</summary>
    public long When;
    public int TxCount;
    /// <summary>tx.delivered: tp->delivered when the segment was last sent (for the rate sample's prior_delivered).</summary>
    public uint TxDelivered;
    /// <summary>tx.delivered_ce: tp->delivered_ce when the segment was last sent.</summary>
    public uint TxDeliveredCe;
    /// <summary>tx.first_tx_mstamp: the start of the send phase of the sampling window (usec).</summary>
    public long TxFirstTxMstamp;
    /// <summary>tx.delivered_mstamp: when tp->delivered last changed before the send (usec); 0 once SACKed.</summary>
    public long TxDeliveredMstamp;
    /// <summary>tx.is_app_limited: sent while the application had nothing more to send.</summary>
    public bool TxIsAppLimited;
    /// <summary>ip_dsfield: the DS field (TOS byte, ECN bits included) of the IP header it came in.</summary>
    public byte IpDsfield;
}

/// <summary>
/// The IP layer's receive facts in skb->cb, as the socket layer reads them at recvmsg time: the
/// interface the packet arrived on (IPCB(skb)->iif, set by ip_rcv) and, in the same bytes,
/// PKTINFO_SKB_CB(skb)'s ipi_ifindex and ipi_spec_dst, which ipv4_pktinfo_prepare rewrites when a
/// datagram is queued on a socket.
/// <remarks>Mirrors include/net/ip.h: struct inet_skb_parm (iif, then opt.faddr) read as struct in_pktinfo by PKTINFO_SKB_CB().</remarks>
/// </summary>
internal struct InetSkbParm
{
    /// <summary>iif, read as ipi_ifindex.</summary>
    public int Iif;
    /// <summary>ipi_spec_dst, host order (the bytes of opt.faddr: 0 for a packet without IP options until ipv4_pktinfo_prepare writes it).</summary>
    public uint SpecDst;
    /// <summary>opt: the received header's IP options as ip_rcv_options() compiled them (IP_RECVOPTS, replies echo them).</summary>
    public IpOptionsParm Opt;
}

/// <summary>
/// The IPv6 receive control block: the arrival interface and where the next-header byte of the
/// header being processed lies, so each extension header handler can hand on to the next.
/// <remarks>Mirrors include/linux/ipv6.h: struct inet6_skb_parm (iif, nhoff, ra, flags).</remarks>
/// </summary>
internal struct Inet6SkbParm
{
    /// <summary>iif: the arrival interface.</summary>
    public int Iif;
    /// <summary>nhoff: the offset, from the network header, of the next-header byte of the current header.</summary>
    public ushort Nhoff;
    /// <summary>ra: the offset of a router alert option (0: none).</summary>
    public ushort Ra;
    /// <summary>flags: IP6SKB_* (IP6SKB_HOPBYHOP = 32).</summary>
    public ushort Flags;
}

/// <summary>
/// What the error queue says about one error: the user-visible struct sock_extended_err, and where
/// the buffer holds the address it concerns (the quoted packet's destination) with its port.
/// <remarks>Mirrors include/linux/errqueue.h: struct sock_exterr_skb (SKB_EXT_ERR(skb)) holding
/// include/uapi/linux/errqueue.h: struct sock_extended_err; its inet_skb_parm header is <see cref="SkBuff.Ipcb"/>.</remarks>
/// </summary>
internal struct SockExterrSkb
{
    /// <summary>ee.ee_errno: the error (positive errno).</summary>
    public int EeErrno;
    /// <summary>ee.ee_origin: SO_EE_ORIGIN_LOCAL or SO_EE_ORIGIN_ICMP.</summary>
    public byte EeOrigin;
    /// <summary>ee.ee_type / ee.ee_code: the ICMP type and code (0 for a local error).</summary>
    public byte EeType, EeCode;
    /// <summary>ee.ee_info: the MTU for fragmentation needed (or a local EMSGSIZE), the pointer of a parameter problem.</summary>
    public uint EeInfo;
    /// <summary>ee.ee_data: 0 here (timestamping and zerocopy notifications use it).</summary>
    public uint EeData;
    /// <summary>addr_offset: from the network header to the address the error concerns.</summary>
    public ushort AddrOffset;
    /// <summary>port: the destination port of the quoted packet (host order; 0 when it has none).</summary>
    public ushort Port;

    /// <summary>Writes the 16 bytes of struct sock_extended_err (native byte order, as the kernel copies it).</summary>
    public readonly void WriteEe(Span<byte> b)
    {
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(b, EeErrno);
        b[4] = EeOrigin;
        b[5] = EeType;
        b[6] = EeCode;
        b[7] = 0; // ee_pad
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(b[8..], EeInfo);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(b[12..], EeData);
    }
}

/// <summary>
/// One fragment of a buffer's data that lives in another buffer: the buffer (referenced through
/// <see cref="SkBuff.Users"/>), the offset in its array and the length.
/// <remarks>Mirrors include/linux/skbuff.h: skb_frag_t (netmem, offset, len).</remarks>
/// </summary>
internal readonly record struct SkbFrag(SkBuff Page, int Offset, int Size);

/// <summary>
/// A packet buffer over a pooled, pinned array, with the kernel's four offsets:
/// Head (always 0) &lt;= Data &lt;= Tail &lt;= End.
/// <remarks>Mirrors include/linux/skbuff.h: struct sk_buff, skb_reserve/skb_push/skb_pull/skb_put/skb_trim.</remarks>
/// </summary>
public sealed class SkBuff
{
    /// <summary>skb->tstamp: when the frame arrived (the namespace's clock, ns), stamped at receive once a socket asked for timestamps; 0 when not stamped.</summary>
    public long Tstamp;
    /// <summary>SOCK_SKB_CB(skb)->dropcount: the socket's drop count when this buffer was queued (SO_RXQ_OVFL), else 0.</summary>
    internal uint DropCount;
    /// <summary>skb->mark: the sending socket's SO_MARK (no policy routing or netfilter reads it here).</summary>
    internal int Mark;
    /// <summary>The pinned backing array (pinned object heap): the device can read/write it directly.</summary>
    public readonly byte[] Buffer;
    internal readonly SkBuffPool? Pool;
    internal bool InPool;

    /// <summary>skb->data: offset in <see cref="Buffer"/> of the first byte of the current layer's data.</summary>
    public int Data;
    /// <summary>skb->tail: offset in <see cref="Buffer"/> one past the last byte of data.</summary>
    public int Tail;

    /// <summary>
    /// skb_shinfo(skb)->frags: data that follows the linear part (Data to Tail) and lives in other
    /// buffers, referenced, not copied, as a TSO skb's frags point at the pages of the send queue.
    /// Only buffers of a pool made with fragments have the array (see <see cref="SkBuffPool"/>).
    /// </summary>
    internal readonly SkbFrag[]? Frags;
    /// <summary>skb_shinfo(skb)->nr_frags.</summary>
    internal int NrFrags;
    /// <summary>skb->data_len: the bytes of <see cref="Frags"/> (counted in <see cref="Len"/>, not in <see cref="DataSpan"/>).</summary>
    internal int DataLen;
    /// <summary>
    /// skb->users: references to this buffer. The owner holds one; a fragment of another buffer that
    /// points into this one holds one (skb_frag_ref() as get_page()); the buffer goes back to its
    /// pool when the last is dropped, so a send-queue buffer freed when its data is acknowledged
    /// outlives it while a queued frame still reads it.
    /// </summary>
    internal int Users = 1;

    /// <summary>MAX_SKB_FRAGS: the fragments one buffer may carry. A fragment here is one MSS of the send queue (a page in the kernel), so 64 cover a 64 KiB super-frame down to an MSS of 1 KiB.</summary>
    internal const int MaxSkbFrags = 64;
    /// <summary>skb->end: the size of <see cref="Buffer"/>.</summary>
    public int End => Buffer.Length;

    // Intrusive queue links (sk_buff_head): no per-packet node allocation.
    /// <summary>skb->next: the next buffer in the queue this one is on (sk_buff_head), or null.</summary>
    public SkBuff? Next;
    /// <summary>skb->prev: the previous buffer in the queue this one is on, or null.</summary>
    public SkBuff? Prev;
    internal SkBuffQueue? List;

    /// <summary>skb->dev: the device the frame arrived on or leaves by.</summary>
    public NetDevice? Dev;
    /// <summary>EtherType in host order (skb->protocol).</summary>
    public ushort Protocol;
    /// <summary>skb->mac_header: offset of the link-layer header, -1 when not set.</summary>
    public int MacHeader = -1;
    /// <summary>skb->network_header: offset of the IP header, -1 when not set.</summary>
    public int NetworkHeader = -1;
    /// <summary>skb->transport_header: offset of the TCP/UDP/ICMP header, -1 when not set.</summary>
    public int TransportHeader = -1;
    /// <summary>PACKET_HOST, PACKET_BROADCAST, PACKET_MULTICAST, PACKET_OTHERHOST.</summary>
    public byte PktType;
    /// <summary>The socket that owns this buffer, if any (skb->sk).</summary>
    public Sock? Sk;
    /// <summary>Control block for TCP (skb->cb as TCP_SKB_CB).</summary>
    internal TcpSkbCb Cb;
    /// <summary>Control block for IPv4 receive (skb->cb as IPCB / PKTINFO_SKB_CB).</summary>
    internal InetSkbParm Ipcb;
    /// <summary>Control block for IPv6 receive (skb->cb as IP6CB).</summary>
    internal Inet6SkbParm Ip6cb;
    /// <summary>SKB_EXT_ERR(skb): the error a buffer on a socket's error queue reports (the rest of skb->cb after the IP part).</summary>
    internal SockExterrSkb ExtErr;
    /// <summary>Source and destination IPv4 addresses, host order, filled by ip_rcv for upper layers.</summary>
    public uint Saddr, Daddr;
    /// <summary>The ip_summed analogue: true when a checksum has been verified already.</summary>
    public bool CsumVerified;
    /// <summary>skb_shinfo(skb)->gso_size: the segment size of a GSO super-frame (0: an ordinary frame).</summary>
    internal ushort GsoSize;
    /// <summary>skb_shinfo(skb)->gso_segs: how many wire segments a GSO super-frame stands for (0 until known).</summary>
    internal ushort GsoSegs;
    /// <summary>skb_shinfo(skb)->gso_type, as the virtio header's VIRTIO_NET_HDR_GSO_* value.</summary>
    internal byte GsoType;
    /// <summary>
    /// The input route said broadcast or multicast (skb_rtable(skb)->rt_flags &amp; (RTCF_BROADCAST|RTCF_MULTICAST)):
    /// an IP-level fact, unlike <see cref="PktType"/>, which is about the link-layer destination.
    /// </summary>
    public bool RouteBroadcast;
    /// <summary>
    /// rt_is_output_route(skb_rtable(skb)): a copy of this host's own multicast or broadcast send,
    /// looped back by dev_loopback_xmit() with its output route still attached.
    /// </summary>
    internal bool RouteOutput;
    /// <summary>The device dev_loopback_xmit() looped this copy back on (skb->dev, kept through netif_rx()); null for every other buffer.</summary>
    internal NetDevice? LoopedDev;

    /// <summary>
    /// skb->truesize as a driver set it for a received frame (0: none set, and
    /// <see cref="Sock.SkbTruesize"/> charges the buffer itself). It stays what the driver set: the
    /// len/truesize ratio TCP learns its window from (tcp_measure_rcv_mss()) reads it.
    /// </summary>
    internal int Truesize;
    /// <summary>
    /// What this buffer is charged to a receive queue (sk_rmem_alloc) when <see cref="Truesize"/> is
    /// set: Truesize, or nothing for a segment the kernel would have copied into the previous buffer.
    /// </summary>
    internal int Charge;
    /// <summary>skb_tailroom() of the kernel buffer the driver models: bytes skb_try_coalesce() copies in for free.</summary>
    internal int KernelTailroom;

    /// <summary>
    /// Charges a received frame as drivers/net/tun.c charges one a writer hands a TAP
    /// (tun_get_user() -> tun_alloc_skb() -> alloc_skb(NET_SKB_PAD + len)): the head is a slab
    /// object (skb_small_head_cache up to SKB_SMALL_HEAD_CACHE_SIZE, 576 bytes with this kernel's
    /// MAX_TCP_HEADER, else the kmalloc bucket), and truesize is SKB_TRUESIZE() of it. Frames of a
    /// page or more keep the buffer model.
    /// </summary>
    /// <remarks>Mirrors __alloc_skb() -> kmalloc_reserve() sizing for a linear tun frame.</remarks>
    internal void SetTunTruesize()
    {
        const int netSkbPad = 64, shinfo = 320, skbHead = 256, smallHead = 576, pageSize = 4096;
        int len = Len;
        if (netSkbPad + len >= pageSize) return;
        int obj = ((netSkbPad + len + 63) & ~63) + shinfo;
        int slab = obj <= smallHead ? smallHead : (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)obj);
        int size = slab - shinfo;
        Truesize = Charge = size + skbHead + shinfo;
        KernelTailroom = size - netSkbPad - len;
    }

    /// <summary>A buffer over a new pinned array of <paramref name="size"/> bytes, returned to <paramref name="pool"/> when freed (null: not pooled). Data and Tail start at 0.</summary>
    /// <remarks>Mirrors net/core/skbuff.c: alloc_skb(); the stack allocates through <see cref="SkBuffPool"/>.</remarks>
    public SkBuff(int size, SkBuffPool? pool = null)
    {
        Buffer = GC.AllocateUninitializedArray<byte>(size, pinned: true);
        Pool = pool;
    }

    /// <summary>A buffer that can also carry up to <paramref name="maxFrags"/> fragments of other buffers (skb_shinfo()->frags).</summary>
    internal SkBuff(int size, SkBuffPool? pool, int maxFrags) : this(size, pool)
    {
        if (maxFrags > 0) Frags = new SkbFrag[maxFrags];
    }

    /// <summary>skb->len: bytes of data, the linear part (Tail - Data) and the fragments (<see cref="DataLen"/>).</summary>
    public int Len => Tail - Data + DataLen;
    /// <summary>skb_headlen(): bytes of the linear part, Data to Tail (what <see cref="DataSpan"/> covers).</summary>
    internal int HeadLen => Tail - Data;
    /// <summary>skb_headroom(): bytes free before Data, for headers to push.</summary>
    public int Headroom => Data;
    /// <summary>skb_tailroom(): bytes free after Tail, to put data.</summary>
    public int Tailroom => End - Tail;

    /// <summary>The linear data, Data to Tail, as a span (a buffer with fragments has more: <see cref="CopyBits(Span{byte})"/>).</summary>
    public Span<byte> DataSpan => Buffer.AsSpan(Data, Tail - Data);
    /// <summary>The data, Data to Tail, as memory (for asynchronous device writes).</summary>
    public Memory<byte> DataMemory => Buffer.AsMemory(Data, Tail - Data);

    /// <summary>Resets offsets and metadata for reuse (used by the pool).</summary>
    internal void Reset()
    {
        Data = Tail = 0;
        Next = Prev = null;
        List = null;
        Dev = null;
        Protocol = 0;
        MacHeader = NetworkHeader = TransportHeader = -1;
        PktType = 0;
        Sk = null;
        Cb = default;
        Ipcb = default;
        Ip6cb = default;
        ExtErr = default;
        Saddr = Daddr = 0;
        Tstamp = 0;
        DropCount = 0;
        Mark = 0;
        CsumVerified = false;
        GsoSize = GsoSegs = 0;
        GsoType = 0;
        RouteBroadcast = false;
        RouteOutput = false;
        LoopedDev = null;
        Truesize = Charge = KernelTailroom = 0;
        Users = 1;
    }

    /// <summary>Moves Data and Tail of an empty buffer forward by <paramref name="len"/> bytes, leaving headroom for headers.</summary>
    /// <remarks>Mirrors skb_reserve(): make headroom in an empty buffer.</remarks>
    public void Reserve(int len)
    {
        if (Data != Tail || Tail + len > End) ThrowBadOffset();
        Data += len;
        Tail += len;
    }

    /// <summary>Appends <paramref name="len"/> bytes at Tail and returns them for writing.</summary>
    /// <remarks>Mirrors skb_put(): extend the data area at the tail; returns the new bytes.</remarks>
    public Span<byte> Put(int len)
    {
        if ((uint)len > (uint)(End - Tail)) ThrowBadOffset();
        int old = Tail;
        Tail += len;
        return Buffer.AsSpan(old, len);
    }

    /// <summary>Prepends <paramref name="len"/> bytes before Data (a header) and returns them for writing.</summary>
    /// <remarks>Mirrors skb_push(): extend the data area at the head (prepend a header).</remarks>
    public Span<byte> Push(int len)
    {
        if ((uint)len > (uint)Data) ThrowBadOffset();
        Data -= len;
        return Buffer.AsSpan(Data, len);
    }

    /// <summary>Removes <paramref name="len"/> bytes from the start of the data (a consumed header).</summary>
    /// <remarks>Mirrors skb_pull(): remove bytes from the head; returns false if there are fewer.</remarks>
    public bool Pull(int len)
    {
        if ((uint)len > (uint)(Tail - Data)) return false;
        Data += len;
        return true;
    }

    /// <summary>Cuts the data to its first <paramref name="len"/> bytes.</summary>
    /// <remarks>Mirrors skb_trim(): cut the data to len bytes.</remarks>
    public void Trim(int len)
    {
        if (len < Tail - Data) Tail = Data + len;
    }

    /// <summary>
    /// Drops a reference (kfree_skb/consume_skb); the last one releases the fragments' references and
    /// returns the buffer to its pool. Safe for unpooled buffers.
    /// </summary>
    public void Free()
    {
        int users = Interlocked.Decrement(ref Users);
        if (users > 0) return;
        if (users < 0 && Pool is null)
        {
            Users = 0; // an unpooled buffer freed twice: nothing to give back
            return;
        }
        if (NrFrags != 0) ReleaseFrags();
        if (Pool is { } p) p.Return(this);
    }

    /// <summary>
    /// Marks a buffer whose last reference is gone as free (in its pool or a softirq cache) and drops
    /// its links to a queue, a socket and a device; a buffer already free is a double free (throws).
    /// </summary>
    internal void MarkFree()
    {
        if (InPool) throw new InvalidOperationException("double free of skb");
        InPool = true;
        List = null;
        Prev = null;
        Sk = null;
        Dev = null;
    }

    /// <summary>Takes a reference: the buffer stays out of its pool until <see cref="Free"/> drops it.</summary>
    /// <remarks>Mirrors skb_get() (and get_page() for a fragment pointing into this buffer).</remarks>
    internal SkBuff Get()
    {
        Interlocked.Increment(ref Users);
        return this;
    }

    /// <summary>
    /// Appends <paramref name="size"/> bytes of <paramref name="page"/>'s buffer at
    /// <paramref name="offset"/> as a fragment, taking a reference on it; false when this buffer has
    /// no room for another fragment. The bytes must not change while referenced (TCP never writes
    /// a sent segment's data; its buffer is freed, not reused, on acknowledgement).
    /// </summary>
    /// <remarks>Mirrors skb_fill_page_desc() + skb_frag_ref(), as tcp_sendmsg_locked() and skb_clone() give a TSO skb its frags.</remarks>
    internal bool AddFrag(SkBuff page, int offset, int size)
    {
        var frags = Frags;
        if (frags is null || NrFrags == frags.Length) return false;
        frags[NrFrags++] = new SkbFrag(page.Get(), offset, size);
        DataLen += size;
        return true;
    }

    /// <summary>
    /// <see cref="AddFrag"/>, except that bytes that continue the last fragment in the same buffer
    /// extend it (no new fragment, no new reference): consecutive segments of the send queue that
    /// lie one after the other in a socket's page become one piece of a super-frame.
    /// </summary>
    /// <remarks>Mirrors skb_can_coalesce() + skb_frag_size_add(), else skb_fill_page_desc() + skb_frag_ref().</remarks>
    internal bool AddFragCoalesce(SkBuff page, int offset, int size)
    {
        if (NrFrags != 0)
        {
            ref var last = ref Frags![NrFrags - 1];
            if (last.Page == page && last.Offset + last.Size == offset)
            {
                last = last with { Size = last.Size + size };
                DataLen += size;
                return true;
            }
        }
        return AddFrag(page, offset, size);
    }

    /// <summary>
    /// Takes references to all of <paramref name="from"/>'s data as fragments of this buffer (its
    /// linear part as a fragment pointing into it, its fragments shared, coalesced where they
    /// continue one another); false, nothing taken, when there might not be room for them all.
    /// </summary>
    /// <remarks>As skb_clone() shares a buffer's data, here into a head of its own (a TSO frame's).</remarks>
    internal bool AddFragsOf(SkBuff from)
    {
        int need = (from.HeadLen != 0 ? 1 : 0) + from.NrFrags;
        if (Frags is null || NrFrags + need > Frags.Length) return false;
        if (from.HeadLen != 0) AddFragCoalesce(from, from.Data, from.HeadLen);
        for (int i = 0; i < from.NrFrags; i++)
        {
            ref readonly var f = ref from.Frags![i];
            AddFragCoalesce(f.Page, f.Offset, f.Size);
        }
        return true;
    }

    /// <summary>
    /// Moves the data beyond the first <paramref name="len"/> bytes of a buffer whose data are all
    /// fragments to <paramref name="to"/> (empty, with room for them): whole fragments change owner,
    /// one cut in two is shared (a new reference). No byte is copied. False (nothing moved) when
    /// <paramref name="to"/> lacks room.
    /// </summary>
    /// <remarks>Mirrors net/core/skbuff.c: skb_split() -> skb_split_no_header() (tcp_fragment() of a paged skb).</remarks>
    internal bool SplitFrags(SkBuff to, int len)
    {
        int pos = 0, keep = 0, moved = 0;
        for (int i = 0; i < NrFrags; i++)
        {
            int size = Frags![i].Size;
            if (pos + size > len) moved++;
            if (pos < len) keep++;
            pos += size;
        }
        if (HeadLen != 0 || to.Frags is null || to.NrFrags + moved > to.Frags.Length) return false;
        pos = 0;
        int k = 0, total = DataLen;
        for (int i = 0; i < NrFrags; i++)
        {
            var f = Frags![i];
            Frags[i] = default;
            if (pos + f.Size <= len)
            {
                Frags[k++] = f;
            }
            else if (pos >= len)
            {
                to.Frags[to.NrFrags++] = f; // the reference moves with it
            }
            else
            {
                int head = len - pos;
                Frags[k++] = f with { Size = head };
                to.Frags[to.NrFrags++] = new SkbFrag(f.Page.Get(), f.Offset + head, f.Size - head);
            }
            pos += f.Size;
        }
        NrFrags = k;
        DataLen = len;
        to.DataLen += total - len;
        return true;
    }

    /// <summary>Removes <paramref name="len"/> bytes from the start of the data, the linear part first, then fragments (dropping the references of those eaten whole).</summary>
    /// <remarks>Mirrors skb_pull() and, beyond the linear part, __pskb_trim_head() (tcp_trim_head()).</remarks>
    internal void TrimHead(int len)
    {
        int h = Math.Min(len, HeadLen);
        Data += h;
        int eat = len - h;
        if (eat == 0 || NrFrags == 0) return;
        eat = Math.Min(eat, DataLen);
        DataLen -= eat;
        int k = 0;
        for (int i = 0; i < NrFrags; i++)
        {
            var f = Frags![i];
            Frags[i] = default;
            if (f.Size <= eat)
            {
                eat -= f.Size;
                f.Page.Free();
            }
            else
            {
                Frags[k++] = eat == 0 ? f : f with { Offset = f.Offset + eat, Size = f.Size - eat };
                eat = 0;
            }
        }
        NrFrags = k;
    }

    /// <remarks>Mirrors skb_release_data(): __skb_frag_unref() of every fragment.</remarks>
    private void ReleaseFrags()
    {
        var frags = Frags!;
        for (int i = 0; i < NrFrags; i++)
        {
            var page = frags[i].Page;
            frags[i] = default;
            page.Free();
        }
        NrFrags = 0;
        DataLen = 0;
    }

    /// <summary>Copies the whole data, linear part then fragments, into <paramref name="to"/>; returns <see cref="Len"/>.</summary>
    /// <remarks>Mirrors skb_copy_bits(skb, 0, to, skb->len).</remarks>
    internal int CopyBits(Span<byte> to)
    {
        int len = Len;
        CopyBits(0, to[..len]);
        return len;
    }

    /// <summary>Copies <paramref name="to"/>.Length bytes of the data from <paramref name="offset"/>, across the linear part and the fragments.</summary>
    /// <remarks>Mirrors skb_copy_bits().</remarks>
    internal void CopyBits(int offset, Span<byte> to)
    {
        int head = Tail - Data;
        int n = 0;
        if (offset < head)
        {
            n = Math.Min(head - offset, to.Length);
            Buffer.AsSpan(Data + offset, n).CopyTo(to);
        }
        int pos = head;
        for (int i = 0; i < NrFrags && n < to.Length; i++)
        {
            ref readonly var f = ref Frags![i];
            int start = Math.Max(offset + n - pos, 0);
            if (start < f.Size)
            {
                int c = Math.Min(f.Size - start, to.Length - n);
                f.Page.Buffer.AsSpan(f.Offset + start, c).CopyTo(to[n..]);
                n += c;
            }
            pos += f.Size;
        }
        if (n != to.Length) ThrowBadOffset();
    }

    /// <summary>
    /// Adds the Internet checksum of the data from <paramref name="offset"/> (in the linear part) to
    /// the end, fragments included, to <paramref name="sum"/>: a piece that starts at an odd
    /// position is added byte-swapped, as csum_block_add() does.
    /// </summary>
    /// <remarks>Mirrors net/core/skbuff.c: skb_checksum() (__skb_checksum over the head and the frags).</remarks>
    internal ulong Checksum(int offset, ulong sum)
    {
        var head = Buffer.AsSpan(Data + offset, Tail - Data - offset);
        sum = Wire.Checksum.Partial(head, sum);
        int pos = head.Length;
        for (int i = 0; i < NrFrags; i++)
        {
            ref readonly var f = ref Frags![i];
            var piece = f.Page.Buffer.AsSpan(f.Offset, f.Size);
            if ((pos & 1) == 0)
            {
                sum = Wire.Checksum.Partial(piece, sum);
            }
            else
            {
                ushort folded = (ushort)~Wire.Checksum.Fold(Wire.Checksum.Partial(piece));
                sum += (ushort)((folded << 8) | (folded >> 8));
            }
            pos += f.Size;
        }
        return sum;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowBadOffset() => throw new InvalidOperationException("skb offset out of range (skb_over_panic)");
}
