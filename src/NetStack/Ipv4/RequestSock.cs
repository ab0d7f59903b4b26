using NetStack.Core;
using NetStack.Wire;

namespace NetStack.Ipv4;

/// <summary>
/// A connection request (a "mini socket") between a SYN and the ACK that completes the handshake:
/// small, so a SYN flood costs little. Lives in the established hash (state TCP_NEW_SYN_RECV) and
/// counts against its listener's SYN backlog; once the handshake completes, it carries the child
/// socket through the accept queue.
/// <remarks>Mirrors include/net/request_sock.h: struct request_sock, include/net/inet_sock.h:
/// struct inet_request_sock, include/linux/tcp.h: struct tcp_request_sock.</remarks>
/// </summary>
internal sealed class TcpRequestSock : SockCommon
{
    // ---- request_sock ----
    /// <summary>rsk_listener: the listening socket the SYN arrived on.</summary>
    public TcpSock RskListener = null!;
    /// <summary>rsk_ops: SYN-ACK, ACK and reset for the request's network layer.</summary>
    internal TcpRequestSockOps RskOps = TcpIpv4.TcpRequestSockOpsV4;
    /// <summary>dl_next: the next request in the accept queue.</summary>
    public TcpRequestSock? DlNext;
    /// <summary>mss: the peer's MSS (or the default when it sent none).</summary>
    public ushort Mss;
    /// <summary>num_retrans: SYN-ACK retransmissions; num_timeout: timer expiries.</summary>
    public int NumRetrans, NumTimeout;
    /// <summary>ts_recent: the peer's last timestamp.</summary>
    public uint TsRecent;
    /// <summary>rsk_timer: SYN-ACK retransmission.</summary>
    public readonly TimerList RskTimer;
    /// <summary>sk: the child once the handshake completes.</summary>
    public TcpSock? Sk;
    /// <summary>rsk_window_clamp / rsk_rcv_wnd: what we announced in the SYN-ACK.</summary>
    public uint RskWindowClamp, RskRcvWnd;

    // ---- inet_request_sock: the 4-tuple is sock_common's (ir_loc_addr is req.__req_common.skc_rcv_saddr...) ----
    public ref uint IrLocAddr => ref SkcRcvSaddr;
    public ref uint IrRmtAddr => ref SkcDaddr;
    public ref ushort IrNum => ref SkcNum;
    public ref ushort IrRmtPort => ref SkcDport;
    public byte SndWscale, RcvWscale;
    public bool TstampOk, SackOk, WscaleOk;
    /// <summary>ecn_ok: the SYN asked for ECN and we agreed (the SYN-ACK carries ECE).</summary>
    public bool EcnOk;
    /// <summary>syncookie: the request stands for a SYN answered with a cookie (never hashed, no timer).</summary>
    public bool Syncookie;
    /// <summary>ireq_opt: the SYN's IP options echoed (reversed source route, record route and timestamp slots claimed): the SYN-ACK and the child's packets carry them.</summary>
    internal IpOptionsData IreqOpt;
    /// <summary>saved_syn: the SYN's headers when the listener has TCP_SAVE_SYN (moved to the child).</summary>
    public byte[]? SavedSyn;
    /// <summary>acked: the final ACK arrived but the accept queue was full (the SYN-ACK timer then keeps the request).</summary>
    public bool Acked;
    /// <summary>tfo_listener: the request belongs to a Fast Open child and counts in its listener's fastopenq.</summary>
    public bool TfoListener;

    // ---- tcp_request_sock ----
    public uint RcvIsn, SntIsn;
    public uint TsOff;
    /// <summary>snt_synack: when the first SYN-ACK was sent (ns), for the handshake RTT.</summary>
    public long SntSynack;
    /// <summary>rcv_nxt: the first sequence number of the peer's data.</summary>
    public uint RcvNxt;

    public TcpRequestSock()
    {
        State = TcpState.NewSynRecv;
        RskTimer = new TimerList(static t => TcpMinisocks.ReqskTimerHandler((TcpRequestSock)t.Owner!), this);
    }

    /// <summary>
    /// Puts the request back as a new one is (its timer object, stopped, stays), for one taken
    /// from the cache or one that stands for every cookie SYN-ACK in turn (the kernel allocates one
    /// and frees it at once: reqsk_free() after send_synack; reusing it keeps a SYN flood
    /// allocation-free). Every field: a value left over from the last connection would be that
    /// connection's.
    /// </summary>
    internal void ResetForReuse(TcpSock listener)
    {
        var old = RskListener;
        Clear();
        // Its listener reference passes to the new listener (taken first: it may be the same one).
        listener.SockHold();
        old?.SockPut();
        RskListener = listener;
        Net = listener.Net;
        Family = listener.Family;
    }

    /// <summary>Every field as the constructor leaves it, and no reference to another object (the cache keeps no garbage alive).</summary>
    internal void Clear()
    {
        SkcReset(TcpState.NewSynRecv);
        RskListener = null!;
        RskOps = TcpIpv4.TcpRequestSockOpsV4;
        DlNext = null;
        Sk = null;
        Mss = 0;
        NumRetrans = NumTimeout = 0;
        TsRecent = TsOff = 0;
        RskWindowClamp = RskRcvWnd = 0;
        SndWscale = RcvWscale = 0;
        TstampOk = SackOk = WscaleOk = EcnOk = Acked = TfoListener = false;
        Syncookie = false;
        SavedSyn = null;
        IreqOpt = default;
        RcvIsn = SntIsn = 0;
        SntSynack = 0;
        RcvNxt = 0;
    }

    public override string ToString() =>
        $"request {Ipv4Address.Format(IrLocAddr)}:{IrNum} <- {Ipv4Address.Format(IrRmtAddr)}:{IrRmtPort} isn {SntIsn} retrans {NumRetrans}";
}

/// <summary>
/// A listener's queues: the count of pending requests (the SYN queue; the requests themselves live
/// in the established hash) and the FIFO of completed connections waiting for accept().
/// <remarks>Mirrors include/net/request_sock.h: struct request_sock_queue (qlen, young, rskq_accept_head/tail).</remarks>
/// </summary>
internal sealed class RequestSockQueue
{
    public TcpRequestSock? RskqAcceptHead, RskqAcceptTail;
    /// <summary>qlen: requests in SYN_RECV.</summary>
    public int Qlen;
    /// <summary>young: requests that have not had a SYN-ACK retransmitted yet.</summary>
    public int Young;
    /// <summary>synflood_warned: the "Possible SYN flooding" line was printed for this listener (once per listener).</summary>
    public bool SynfloodWarned;
    /// <summary>fastopenq.max_qlen (TCP_FASTOPEN) and fastopenq.qlen: Fast Open children still in SYN_RECV.</summary>
    public int FastopenqMaxQlen, FastopenqQlen;

    /// <remarks>Mirrors reqsk_queue_empty().</remarks>
    public bool Empty => RskqAcceptHead is null;

    /// <remarks>Mirrors reqsk_queue_remove().</remarks>
    public TcpRequestSock? Remove(TcpSock parent)
    {
        var req = RskqAcceptHead;
        if (req is not null)
        {
            parent.AckBacklog--;
            RskqAcceptHead = req.DlNext;
            if (RskqAcceptHead is null) RskqAcceptTail = null;
            req.DlNext = null;
        }
        return req;
    }
}
