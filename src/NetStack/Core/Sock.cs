using NetStack.Net;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Core;

/// <summary>The flags of sk->sk_flags, numbered as enum sock_flags (include/net/sock.h).</summary>
/// <summary>Who paces the socket's packets (enum sk_pacing, sk->sk_pacing_status).</summary>
public enum SkPacingStatus : byte
{
    /// <summary>SK_PACING_NONE: no pacing asked for.</summary>
    None = 0,
    /// <summary>SK_PACING_NEEDED: TCP paces by itself with a timer (tcp_internal_pacing), as without the fq qdisc.</summary>
    Needed = 1,
    /// <summary>SK_PACING_FQ: a qdisc (fq) paces; TCP only stamps departure times.</summary>
    Fq = 2,
}

internal enum SockFlag
{
    Dead = 0,
    Done = 1,
    UrgInline = 2,
    KeepOpen = 3,
    Linger = 4,
    Destroy = 5,
    Broadcast = 6,
    Timestamp = 7,
    Zapped = 8,
    UseWriteQueue = 9,
    Dbg = 10,
    RcvTstamp = 11,
    RcvTstampNs = 12,
    LocalRoute = 13,
    RxqOvfl = 17,
    SelectErrQueue = 22,
    TstampNew = 26,
}

/// <summary>
/// The head every socket-like object in the protocol tables shares: full sockets, connection
/// requests (TCP_NEW_SYN_RECV) and TIME_WAIT socks. It holds what a lookup needs (namespace,
/// family, state, the 4-tuple, the binding options) so the hash tables are typed by it and a
/// lookup returns it; the caller then tells the three apart by type, as the kernel does by
/// sk_state / sk_fullsock().
/// <remarks>Mirrors include/net/sock.h: struct sock_common.</remarks>
/// </summary>
public abstract class SockCommon
{
    /// <summary>skc_net (sock_net(sk)): the stack this sock lives in.</summary>
    public NetNamespace Net = null!;
    /// <summary>skc_family (PF_INET).</summary>
    public ushort Family;
    /// <summary>skc_state: TCP_CLOSE for a fresh socket of any type; TCP_NEW_SYN_RECV for a request, TCP_TIME_WAIT for a TIME_WAIT sock.</summary>
    public TcpState State = TcpState.Close;
    /// <summary>skc_reuse: SO_REUSEADDR (SK_CAN_REUSE), or forced by INET_PROTOSW_REUSE.</summary>
    public byte Reuse;
    /// <summary>skc_reuseport: SO_REUSEPORT.</summary>
    public bool ReusePort;
    /// <summary>skc_bound_dev_if: SO_BINDTODEVICE (0 = any).</summary>
    public int BoundDevIf;
    /// <summary>skc_daddr: the foreign address (host order).</summary>
    public uint SkcDaddr;
    /// <summary>skc_rcv_saddr: the bound local address (host order; 0 = any).</summary>
    public uint SkcRcvSaddr;
    /// <summary>skc_v6_daddr (sk_v6_daddr): the foreign IPv6 address of an AF_INET6 sock (host order); ::ffff:a.b.c.d for an IPv4 peer.</summary>
    public UInt128 SkcV6Daddr;
    /// <summary>skc_v6_rcv_saddr (sk_v6_rcv_saddr): the bound local IPv6 address of an AF_INET6 sock (host order; :: = any).</summary>
    public UInt128 SkcV6RcvSaddr;
    /// <summary>skc_ipv6only (IPV6_V6ONLY): an AF_INET6 sock that never sees IPv4 (no v4-mapped peers, no IPv4 port sharing).</summary>
    public bool Ipv6only;
    /// <summary>skc_dport: the foreign port (host order).</summary>
    public ushort SkcDport;
    /// <summary>skc_num: the local port (host order).</summary>
    public ushort SkcNum;
    /// <summary>In its protocol's lookup table (skc_node hashed: !sk_unhashed()).</summary>
    public bool Hashed;
    /// <summary>skc_cookie: the socket's 64-bit id as SO_COOKIE and sock_diag report it (0 until first asked, see <see cref="SockDiag.SockGenCookie"/>).</summary>
    public ulong Cookie;

    /// <summary>
    /// Puts the head back as a new object has it, for a sock reused from its cache: every field,
    /// the cookie too (a reused sock is a new sock to sock_diag).
    /// </summary>
    /// <remarks>Mirrors what kmem_cache_alloc() + the alloc path's initialisation give a fresh
    /// sock_common (inet_reqsk_alloc(), inet_twsk_alloc()).</remarks>
    internal void SkcReset(TcpState state)
    {
        Net = null!;
        Family = 0;
        State = state;
        Reuse = 0;
        ReusePort = false;
        BoundDevIf = 0;
        SkcDaddr = SkcRcvSaddr = 0;
        SkcV6Daddr = SkcV6RcvSaddr = 0;
        Ipv6only = false;
        SkcDport = SkcNum = 0;
        Hashed = false;
        Cookie = 0;
    }
}

/// <summary>
/// The network layer's view of a socket (struct sock). Protocols derive from it as C embeds it as
/// the first member: Sock &lt;- InetSock &lt;- InetConnectionSock &lt;- TcpSock. Every field is touched
/// under the stack lock (net.SyncRoot), which plays lock_sock and bh_lock_sock together.
/// <remarks>Mirrors include/net/sock.h: struct sock (and struct sock_common).</remarks>
/// </summary>
public partial class Sock : SockCommon
{
    // ---- Linux defaults (net/core/sock.c, include/net/sock.h) ----
    /// <summary>sysctl_rmem_default / sysctl_wmem_default and the _max ones (net.core.*mem_*): 212992.</summary>
    public const int SysctlRmemDefault = 212992, SysctlWmemDefault = 212992, SysctlRmemMax = 212992, SysctlWmemMax = 212992;
    /// <summary>SKB_TRUESIZE overhead of one buffer beyond its data (sizeof(sk_buff) + skb_shared_info, aligned).</summary>
    public const int SkbTruesizeOverhead = 576;
    /// <summary>TCP_SKB_MIN_TRUESIZE = 2048 + SKB_DATA_ALIGN(sizeof(struct sk_buff)).</summary>
    public const int SkbMinTruesize = 2048 + 256;
    /// <summary>SOCK_MIN_SNDBUF / SOCK_MIN_RCVBUF: what setsockopt clamps small values up to.</summary>
    public const int SockMinSndbuf = 2 * SkbMinTruesize, SockMinRcvbuf = SkbMinTruesize;
    /// <summary>MAX_SCHEDULE_TIMEOUT: an infinite SO_RCVTIMEO/SO_SNDTIMEO (nanoseconds here).</summary>
    public const long MaxScheduleTimeout = long.MaxValue;

    // sk_reuse values.
    /// <summary>sk->sk_reuse values (include/net/sock.h: SK_NO_REUSE, SK_CAN_REUSE (SO_REUSEADDR), SK_FORCE_REUSE).</summary>
    public const byte SkNoReuse = 0, SkCanReuse = 1, SkForceReuse = 2;
    // sk_userlocks bits.
    /// <summary>sk->sk_userlocks bits (include/net/sock.h: SOCK_SNDBUF_LOCK, SOCK_RCVBUF_LOCK set by SO_SNDBUF/SO_RCVBUF; SOCK_BINDADDR_LOCK, SOCK_BINDPORT_LOCK set by an explicit bind).</summary>
    public const int SockSndbufLock = 1, SockRcvbufLock = 2, SockBindaddrLock = 4, SockBindportLock = 8;

    /// <summary>sk->sk_prot: the transport's table.</summary>
    public Proto Prot = null!;
    /// <summary>sk->sk_socket: the BSD socket this sock hangs from (null once orphaned).</summary>
    public BsdSocket? Socket;

    /// <summary>sk_type (SOCK_STREAM, SOCK_DGRAM, SOCK_RAW).</summary>
    public ushort Type;
    /// <summary>sk_protocol (IPPROTO_TCP...).</summary>
    public ushort Protocol;
    /// <summary>sk_kern_sock: created by the stack itself (kern = 1).</summary>
    public bool KernSock;
    /// <summary>sk_reuseport_cb: the SO_REUSEPORT group this socket belongs to once hashed (null if none).</summary>
    internal SockReuseport? ReuseportCb;
    /// <summary>sk_uid: the user that created the socket (its file's owner; a child inherits the listener's), as `ss -e` shows it.</summary>
    public uint Uid;

    /// <summary>sk_userlocks: SOCK_SNDBUF_LOCK, SOCK_RCVBUF_LOCK, SOCK_BINDADDR_LOCK, SOCK_BINDPORT_LOCK.</summary>
    public int UserLocks;
    /// <summary>sk_priority: SO_PRIORITY.</summary>
    public int Priority;
    /// <summary>sk_mark: SO_MARK.</summary>
    public int Mark;
    /// <summary>sk_no_check_tx: SO_NO_CHECK (UDP sends without a checksum).</summary>
    public bool NoCheckTx;
    /// <summary>sk_rcvlowat: SO_RCVLOWAT.</summary>
    public int RcvLowat = 1;
    /// <summary>sk_lingertime (nanoseconds): SO_LINGER.</summary>
    public long LingerTime;
    /// <summary>sk_rcvtimeo / sk_sndtimeo (nanoseconds, MaxScheduleTimeout = forever).</summary>
    public long RcvTimeo = MaxScheduleTimeout, SndTimeo = MaxScheduleTimeout;

    /// <summary>sk_flags as a bit set over <see cref="SockFlag"/>.</summary>
    public ulong Flags;

    /// <summary>sk_err: a hard error, reported once (SO_ERROR, or the next call) then cleared.</summary>
    public int Err;
    /// <summary>sk_err_soft: an error kept for SO_ERROR when nothing else is pending (TCP's ICMP errors).</summary>
    public int ErrSoft;
    /// <summary>sk_shutdown: RCV_SHUTDOWN | SEND_SHUTDOWN.</summary>
    public int Shutdown;

    /// <summary>sk_ack_backlog / sk_max_ack_backlog: connections in the accept queue and its limit.</summary>
    public int AckBacklog, MaxAckBacklog;

    /// <summary>sk_rcvbuf / sk_sndbuf, in truesize bytes (SO_RCVBUF doubles what the user asks).</summary>
    public int RcvBuf = SysctlRmemDefault, SndBuf = SysctlWmemDefault;
    /// <summary>sk_rmem_alloc: truesize of what sits in the receive queue.</summary>
    public int RmemAlloc;
    /// <summary>sk_wmem_alloc: truesize of sent buffers not yet freed by the device.</summary>
    public int WmemAlloc;
    /// <summary>sk_wmem_queued: bytes in the write queue (TCP's send buffer use).</summary>
    public int WmemQueued;
    /// <summary>sk_drops: datagrams dropped because the receive buffer was full.</summary>
    public long Drops;
    /// <summary>SK_DEFAULT_STAMP: no datagram read yet (SIOCGSTAMP answers ENOENT).</summary>
    internal const long SkDefaultStamp = long.MinValue;
    /// <summary>sk_stamp: when the last datagram read arrived (the namespace's clock; 0: not stamped, read as now).</summary>
    internal long SkStamp = SkDefaultStamp;
    /// <summary>sk_ll_usec: SO_BUSY_POLL (kept; the stack does not busy-poll).</summary>
    internal int LlUsec;
    /// <summary>sk_incoming_cpu: SO_INCOMING_CPU (-1 until set).</summary>
    internal int IncomingCpu = -1;

    // ---- Pacing (struct sock's sk_pacing_*) ----
    /// <summary>sk_pacing_rate: the rate (bytes/s) TCP paces at when pacing is on; ~0 means unlimited.</summary>
    public ulong PacingRate = ulong.MaxValue;
    /// <summary>sk_max_pacing_rate: SO_MAX_PACING_RATE, the ceiling of <see cref="PacingRate"/> (~0: none).</summary>
    public ulong MaxPacingRate = ulong.MaxValue;
    /// <summary>sk_pacing_status: whether TCP must pace by itself (set by the congestion control or SO_MAX_PACING_RATE).</summary>
    public SkPacingStatus PacingStatus;
    /// <summary>sk_pacing_shift: the amount of data queued below TCP is about pacing_rate &gt;&gt; shift (10: ~1 ms).</summary>
    public byte PacingShift = 10;

    /// <summary>sk_receive_queue.</summary>
    internal readonly SkBuffQueue ReceiveQueue = new();
    /// <summary>sk_write_queue.</summary>
    internal readonly SkBuffQueue WriteQueue = new();
    /// <summary>sk_error_queue: the errors IP_RECVERR keeps (see SockErrQueue.cs).</summary>
    internal readonly SkBuffQueue ErrorQueue = new();

    /// <summary>sk_user_data: free for whoever owns the socket (experiments, kernel users).</summary>
    public object? UserData;

    private SockWaiter? _readWaiter, _writeWaiter;

    /// <summary>
    /// The socket's async waits, when the receive thread makes them ready, complete on that thread
    /// after its batch instead of on the thread pool (<see cref="NetNamespace.QueueInlineCompletion"/>).
    /// Set by the owner of continuations that never block.
    /// </summary>
    internal bool InlineCompletions;

    // ---- sock_flag / sock_set_flag / sock_reset_flag ----
    /// <remarks>Mirrors sock_flag().</remarks>
    internal bool HasFlag(SockFlag f) => (Flags & (1UL << (int)f)) != 0;
    /// <remarks>Mirrors sock_set_flag().</remarks>
    internal void SetFlag(SockFlag f) => Flags |= 1UL << (int)f;
    /// <remarks>Mirrors sock_reset_flag().</remarks>
    internal void ResetFlag(SockFlag f) => Flags &= ~(1UL << (int)f);
    /// <remarks>Mirrors sock_valbool_flag().</remarks>
    internal void ValboolFlag(SockFlag f, bool on) { if (on) SetFlag(f); else ResetFlag(f); }

    // ---- Wakeup callbacks: sk_data_ready, sk_write_space, sk_state_change, sk_error_report ----

    /// <summary>
    /// sk_wq's wait queue, sk_sleep(sk): the threads blocked in a call on this socket and the
    /// poll(2) callers watching it. The wakeup callbacks below wake only these.
    /// </summary>
    internal readonly WaitQueueHead Wq = new();

    /// <summary>The events a read wakeup carries (EPOLLIN | EPOLLPRI | EPOLLRDNORM | EPOLLRDBAND).</summary>
    internal const int PollInKey = POLLIN | POLLPRI | POLLRDNORM | POLLRDBAND;
    /// <summary>The events a write-space wakeup carries (EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND).</summary>
    internal const int PollOutKey = POLLOUT | POLLWRNORM | POLLWRBAND;
    /// <summary>Events that end any wait (error, hangup), named by every keyed waiter.</summary>
    internal const int PollEndKey = POLLERR | POLLHUP | POLLRDHUP;

    /// <summary>Forgets the cached route (the family keeps it; Core has none).</summary>
    /// <remarks>Mirrors include/net/sock.h: sk_dst_reset().</remarks>
    internal virtual void SkDstReset() { }

    /// <summary>New data or a new connection to read/accept. Called with the stack lock held.</summary>
    /// <remarks>Mirrors net/core/sock.c: sock_def_readable(): wake_up_interruptible_sync_poll(&amp;wq->wait, EPOLLIN | ...), one exclusive waiter.</remarks>
    public virtual void DataReady()
    {
        if (Wq.Active) Wq.WakeUp(PollInKey, 1);
        _readWaiter?.Signal();
    }

    /// <summary>Send buffer space was freed.</summary>
    /// <remarks>Mirrors sock_def_write_space(): wake writers once at least half the send buffer is free.</remarks>
    public virtual void WriteSpace()
    {
        if (WmemAlloc << 1 <= SndBuf) WakeWriters();
    }

    /// <summary>Wakes the threads and pollers waiting for send-buffer space, and the async writer.</summary>
    /// <remarks>Mirrors the wake-up half of sock_def_write_space() / sk_stream_write_space(): wake_up_interruptible_sync_poll(EPOLLOUT | ...).</remarks>
    internal void WakeWriters()
    {
        if (Wq.Active) Wq.WakeUp(PollOutKey, 1);
        _writeWaiter?.Signal();
        // A poll for POLLIN|POLLOUT waits on the read waiter: it must see POLLOUT too.
        if (_readWaiter is { AlsoWritable: true } rw) rw.Signal();
    }

    /// <summary>sk_state or sk_shutdown changed: everyone re-checks.</summary>
    /// <remarks>Mirrors sock_def_wakeup(): wake_up_interruptible_all().</remarks>
    public virtual void StateChange() => WakeEveryone();

    /// <summary>sk_err was set.</summary>
    /// <remarks>Mirrors sock_def_error_report(): wake_up_interruptible_poll(&amp;wq->wait, EPOLLERR).</remarks>
    public virtual void ErrorReport()
    {
        if (Wq.Active) Wq.WakeUp(POLLERR, 1);
        _readWaiter?.Signal();
        _writeWaiter?.Signal();
    }

    /// <summary>Wakes every blocked caller and poller of this socket and both async waiters.</summary>
    public void WakeEveryone()
    {
        if (Wq.Active) Wq.WakeUp(0, 0);
        _readWaiter?.Signal();
        _writeWaiter?.Signal();
    }

    /// <summary>Neither async waiter is armed, delivering, or waiting for its result to be taken.</summary>
    internal bool WaitersIdle => (_readWaiter?.IsIdle ?? true) && (_writeWaiter?.IsIdle ?? true);

    /// <summary>The reusable async waiter for "readable/acceptable/error" (allocated on first async use).</summary>
    internal SockWaiter ReadWaiter => _readWaiter ??= new SockWaiter(this);
    /// <summary>The reusable async waiter for "writable/connected/error".</summary>
    internal SockWaiter WriteWaiter => _writeWaiter ??= new SockWaiter(this);

    // ---- Allocation and init ----

    /// <summary>
    /// Allocates a sock through the protocol's factory (the slab of prot->obj_size) and fills
    /// sock_common.
    /// </summary>
    /// <remarks>Mirrors net/core/sock.c: sk_alloc() -> sk_prot_alloc().</remarks>
    public static Sock? SkAlloc(NetNamespace net, int family, Proto prot, bool kern)
    {
        var sk = prot.CreateSock(net);
        if (sk is null) return null;
        sk.Net = net;
        sk.Prot = prot;
        sk.Family = (ushort)family;
        sk.KernSock = kern;
        sk.SkRefcnt = 1; // refcount_set(&sk->sk_refcnt, 1): the protocol's reference
        return sk;
    }

    /// <summary>Joins a sock to its BSD socket and sets the generic defaults.</summary>
    /// <remarks>Mirrors net/core/sock.c: sock_init_data() / sock_init_data_uid().</remarks>
    public static void SockInitData(BsdSocket? sock, Sock sk)
    {
        sk.ReceiveQueue.Purge();
        sk.WriteQueue.Purge();
        sk.SkbErrqueuePurge();
        sk.RcvBuf = SysctlRmemDefault;
        sk.SndBuf = SysctlWmemDefault;
        sk.State = TcpState.Close;
        sk.UserLocks = 0;
        if (sock is not null)
        {
            sk.Type = (ushort)sock.Type;
            sk.Socket = sock;
            sock.Sk = sk;
            sk.SockHold(); // the socket's reference, dropped by sock_release()
        }
        // sock_init_data_uid(): the inode's owner, or root for a sock without a socket.
        sk.Uid = sock?.Cred?.Uid ?? 0;
        sk.SetFlag(SockFlag.Zapped);
        sk.RcvLowat = 1;
        sk.RcvTimeo = MaxScheduleTimeout;
        sk.SndTimeo = MaxScheduleTimeout;
    }

    /// <summary>Detaches the sock from its BSD socket and marks it dead.</summary>
    /// <remarks>Mirrors include/net/sock.h: sock_orphan().</remarks>
    public void Orphan()
    {
        SetFlag(SockFlag.Dead);
        Socket = null;
        WakeEveryone();
    }

    // ---- Errors and timeouts ----

    /// <summary>Takes the pending error (clearing it), as a negative errno, or 0.</summary>
    /// <remarks>Mirrors include/net/sock.h: sock_error().</remarks>
    public int SockError()
    {
        int err = Err;
        if (err == 0) return 0;
        Err = 0;
        return -err;
    }

    /// <summary>How long a receive may block, in ns: SO_RCVTIMEO, or 0 when <paramref name="noblock"/>.</summary>
    /// <remarks>Mirrors sock_rcvtimeo(): 0 for a non-blocking call.</remarks>
    public long SockRcvTimeo(bool noblock) => noblock ? 0 : RcvTimeo;

    /// <summary>How long a send may block, in ns: SO_SNDTIMEO, or 0 when <paramref name="noblock"/>.</summary>
    /// <remarks>Mirrors sock_sndtimeo().</remarks>
    public long SockSndTimeo(bool noblock) => noblock ? 0 : SndTimeo;

    /// <summary>Whether there is room to send: less than half of sk_sndbuf is allocated.</summary>
    /// <remarks>Mirrors sock_writeable(): less than half the send buffer in flight.</remarks>
    public bool SockWriteable => WmemAlloc < (SndBuf >> 1);

    // ---- Receive queue ----

    /// <summary>
    /// The memory one buffer is charged for (skb->truesize). A frame-sized buffer is charged whole,
    /// as a NIC's receive buffer is. A large buffer (a reassembled datagram, a big send) is charged
    /// like the frame buffers its bytes would fill, as the kernel charges a reassembled datagram the
    /// sum of its fragments, not 64 KiB. It depends only on Tail, which does not move once a buffer
    /// is queued (readers pull Data), so charge and uncharge agree. A buffer whose driver set a
    /// truesize (a TAP frame, <see cref="SkBuff.SetTunTruesize"/>) is charged that instead.
    /// </summary>
    public static int SkbTruesize(SkBuff skb)
    {
        if (skb.Truesize != 0) return skb.Charge;
        // A head whose data lie in fragments (a send-queue segment over the socket's page) is charged
        // as the frame-sized buffer it stands for, so a send buffer holds as many segments either way.
        int size = skb.Frags is not null ? SkBuffPool.DefaultBufferSize : skb.Buffer.Length;
        const int frame = SkBuffPool.DefaultBufferSize;
        if (size > frame) size = Math.Max(frame, (skb.Tail + frame - 1) / frame * frame);
        return size + SkbTruesizeOverhead;
    }

    /// <summary>With SO_RXQ_OVFL, a queued buffer remembers how many the socket had dropped by then (0 otherwise).</summary>
    /// <remarks>Mirrors include/net/sock.h: sock_skb_set_dropcount().</remarks>
    internal void SockSkbSetDropcount(SkBuff skb) => skb.DropCount = HasFlag(SockFlag.RxqOvfl) ? (uint)Drops : 0;

    /// <summary>
    /// Charges a buffer to the receive queue and queues it; -ENOMEM when the receive buffer is
    /// full (the caller counts RcvbufErrors and frees the buffer).
    /// </summary>
    /// <remarks>Mirrors net/core/sock.c: sock_queue_rcv_skb() -> __sock_queue_rcv_skb().</remarks>
    public int SockQueueRcvSkb(SkBuff skb)
    {
        if (RmemAlloc >= RcvBuf)
        {
            Drops++;
            return -Errno.ENOMEM;
        }
        SkbSetOwnerR(skb);
        SockSkbSetDropcount(skb);
        ReceiveQueue.EnqueueTail(skb);
        if (!HasFlag(SockFlag.Dead)) DataReady();
        return 0;
    }

    /// <summary>Makes the sock the owner of a received buffer, charging its size to the receive buffer.</summary>
    /// <remarks>Mirrors skb_set_owner_r(): the buffer now counts against sk_rmem_alloc.</remarks>
    public void SkbSetOwnerR(SkBuff skb)
    {
        skb.Sk = this;
        int size = SkbTruesize(skb);
        RmemAlloc += size;
        SkMemCharge(size);
    }

    /// <summary>Charges a buffer this sock already owns again, after its charge changed.</summary>
    internal void SkbCharge(SkBuff skb)
    {
        int size = SkbTruesize(skb);
        RmemAlloc += size;
        SkMemCharge(size);
    }

    /// <summary>Takes back what a buffer this sock owns is charged, keeping it owned.</summary>
    internal void SkbUncharge(SkBuff skb)
    {
        int size = SkbTruesize(skb);
        RmemAlloc -= size;
        SkMemUncharge(size);
    }

    /// <summary>Releases a received buffer: uncharges it and returns it to the pool.</summary>
    /// <remarks>Mirrors sock_rfree() via consume_skb()/skb_free_datagram().</remarks>
    public void SkbFreeDatagram(SkBuff skb)
    {
        SkbRfree(skb);
        skb.Free();
    }

    /// <summary>Uncharges a received buffer this socket owns (its receive memory goes back), without freeing it.</summary>
    /// <remarks>Mirrors sock_rfree(), the destructor skb_set_owner_r() gave it.</remarks>
    internal void SkbRfree(SkBuff skb)
    {
        if (skb.Sk != this) return;
        int size = SkbTruesize(skb);
        RmemAlloc -= size;
        SkMemUncharge(size);
    }

    /// <summary>Flushes the receive queue, uncharging every buffer.</summary>
    public void PurgeReceiveQueue()
    {
        while (ReceiveQueue.Dequeue() is { } skb) SkbFreeDatagram(skb);
    }

    /// <summary>A debugging description: the sock's type, protocol and state.</summary>
    public override string ToString() => $"{GetType().Name}({Prot?.Name} {State})";
}
