using NetStack.Ipv6;
using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;
using NetStack.Wire;

namespace NetStack.Tests.Fuzz;

/// <summary>
/// Walks one stack's tables and queues and reports every broken invariant: the TCP established,
/// listening and bind hashes agree with the socks in them; request and TIME_WAIT socks have their
/// timers; receive, out-of-order, write and retransmit queues are in sequence order and their
/// byte counts match sk_rmem_alloc / sk_wmem_queued; fragment queues are sorted, disjoint and
/// charged; neighbours waiting for an answer have a timer and a bounded queue; the timer heap is a
/// heap; and every pooled buffer is either free or on one of those queues (nothing leaked).
/// Call it with no frame being processed (between polls).
/// </summary>
internal static class StackChecker
{
    public static List<string> Check(NetNamespace net)
    {
        var p = new List<string>();
        lock (net.SyncRoot) CheckLocked(net, p);
        return p;
    }

    public static void AssertConsistent(NetNamespace net, string when)
    {
        var p = Check(net);
        if (p.Count > 0) throw new InvalidOperationException($"stack inconsistent {when}:\n  " + string.Join("\n  ", p.Take(20)));
    }

    private static void CheckLocked(NetNamespace net, List<string> p)
    {
        var timers = net.Timers.Verify(out var heapProblem);
        if (heapProblem is not null) p.Add(heapProblem);
        var pending = timers is null ? new HashSet<TimerList>() : new HashSet<TimerList>(timers);

        var h = net.Ipv4.TcpHashinfo;
        var socks = new HashSet<Sock>(ReferenceEqualityComparer.Instance);
        var held = new HashSet<SkBuff>(ReferenceEqualityComparer.Instance);

        // ---- established hash ----
        foreach (var (key, sk) in h.Ehash)
        {
            var k = new InetEhashKey(sk.SkcRcvSaddr, sk.SkcNum, sk.SkcDaddr, sk.SkcDport);
            if (!k.Equals(key)) p.Add($"ehash key {key} holds {sk} with tuple {k}");
            switch (sk)
            {
                case TcpSock tp:
                    socks.Add(tp);
                    if (tp.State is TcpState.Listen or TcpState.Close or TcpState.NewSynRecv or TcpState.TimeWait)
                        p.Add($"ehash holds a full sock in {tp.State}: {tp}");
                    if (tp.BindHash is null || !tp.BindHash.Owners.Contains(tp)) p.Add($"ehash sock without its bind bucket: {tp}");
                    break;
                case TcpRequestSock req:
                    if (req.State != TcpState.NewSynRecv) p.Add($"request sock in {req.State}: {req}");
                    if (!pending.Contains(req.RskTimer) && req.Sk is null) p.Add($"request sock without a timer: {req}");
                    if (req.RskListener.State != TcpState.Listen) p.Add($"request sock of a listener in {req.RskListener.State}: {req}");
                    break;
                case TcpTimewaitSock tw:
                    if (!pending.Contains(tw.TwTimer)) p.Add($"TIME_WAIT sock without a timer: {tw}");
                    if (tw.TwTb is null || !tw.TwTb.Owners.Contains(tw) || !h.Bhash.TryGetValue(tw.TwNum, out var twb) || twb != tw.TwTb)
                        p.Add($"TIME_WAIT sock not in its bind bucket: {tw}");
                    break;
                default:
                    p.Add($"ehash holds {sk.GetType().Name}");
                    break;
            }
        }

        // ---- listening hash ----
        foreach (var (port, list) in h.Lhash)
        {
            foreach (var l in list)
            {
                socks.Add(l);
                if (l.State != TcpState.Listen) p.Add($"lhash[{port}] holds {l.State}: {l}");
                if (l.InetNum != port) p.Add($"lhash[{port}] holds a sock of port {l.InetNum}");
                if (l.BindHash is null || !l.BindHash.Owners.Contains(l)) p.Add($"listener without its bind bucket: {l}");
                int n = 0;
                for (var req = l.AcceptQueue.RskqAcceptHead; req is not null && n < 100_000; req = req.DlNext, n++)
                {
                    if (req.Sk is null) p.Add($"accept queue entry without a child on {l}");
                    else socks.Add(req.Sk);
                    if (req.DlNext is null && req != l.AcceptQueue.RskqAcceptTail) p.Add($"accept queue tail wrong on {l}");
                }
                if (n != l.AckBacklog) p.Add($"listener {l}: accept queue holds {n}, sk_ack_backlog {l.AckBacklog}");
            }
        }

        // ---- bind hash ----
        foreach (var (port, tb) in h.Bhash)
        {
            if (tb.Port != port) p.Add($"bhash[{port}] is bucket {tb.Port}");
            if (tb.Owners.Count == 0) p.Add($"bhash[{port}] empty bucket kept");
            foreach (var o in tb.Owners)
            {
                if (o.SkcNum != port) p.Add($"bhash[{port}] owner on port {o.SkcNum}: {o}");
                if (o is TcpTimewaitSock tw && !(h.Ehash.TryGetValue(tw.Key, out var e) && e == tw)) p.Add($"bhash[{port}] holds a TIME_WAIT sock not in ehash: {tw}");
                if (o is TcpSock ts) socks.Add(ts);
            }
        }

        // ---- sockets held by descriptors (UDP, raw, ping, and TCP sockets not hashed) ----
        foreach (var (_, bsd) in net.Files.Enumerate())
            if (bsd.Sk is { } s) socks.Add(s);

        foreach (var sk in socks)
        {
            CollectQueue(sk.ReceiveQueue, held, p, sk);
            CollectQueue(sk.WriteQueue, held, p, sk);
            CollectQueue(sk.ErrorQueue, held, p, sk);
            if (sk is TcpSock tp) CheckTcp(tp, pending, held, p);
            else
            {
                long charged = 0;
                for (var b = sk.ReceiveQueue.First; b is not null; b = b.Next) if (b.Sk == sk) charged += Sock.SkbTruesize(b);
                charged += ErrorQueueCharge(sk);
                if (charged != sk.RmemAlloc) p.Add($"{sk}: sk_rmem_alloc {sk.RmemAlloc}, receive and error queues charge {charged}");
            }
        }

        // ---- fragment queues ----
        var st = net.Ipv4.Frags;
        long fragMem = 0;
        foreach (var (key, q) in st.Queues)
        {
            if (!q.Key.Equals(key)) p.Add($"frag queue under {key} is {q.Key}");
            if (!pending.Contains(q.Timer)) p.Add($"frag queue {key} without a timer");
            CollectQueue(q.Fragments, held, p, null);
            int meat = 0, prevEnd = -1;
            for (var f = q.Fragments.First; f is not null; f = f.Next)
            {
                int fo = (int)f.Cb.Seq, fe = (int)f.Cb.EndSeq;
                if (fo < prevEnd) p.Add($"frag queue {key}: fragment {fo}-{fe} overlaps or is out of order after {prevEnd}");
                if (fe <= fo || fe - fo != f.Len) p.Add($"frag queue {key}: fragment {fo}-{fe} holds {f.Len} bytes");
                if (q.LastIn && fe > q.Len) p.Add($"frag queue {key}: fragment ends at {fe} beyond the datagram's {q.Len}");
                meat += fe - fo;
                prevEnd = fe;
            }
            if (meat != q.Meat) p.Add($"frag queue {key}: meat {q.Meat}, fragments hold {meat}");
            fragMem += q.Mem;
        }
        if (fragMem != st.Mem) p.Add($"fragment memory {st.Mem}, queues charge {fragMem}");

        // ---- IPv6: reassembly queues and the neighbour discovery cache hold buffers too ----
        foreach (var (_, q) in net.Ip6Frags().Queues)
        {
            if (!pending.Contains(q.Timer)) p.Add($"IPv6 frag queue {q.Key} without a timer");
            CollectQueue(q.Fragments, held, p, null);
        }
        foreach (var n in net.Ipv6.NdTbl.Snapshot())
        {
            CollectQueue(n.ArpQueue, held, p, null);
            if (n.ArpQueue.QLen > 0 && n.NudState != NudState.Incomplete) p.Add($"ND neighbour {n} holds {n.ArpQueue.QLen} packets while not resolving");
        }

        // ---- neighbours ----
        foreach (var n in net.Ipv4.Arp.Snapshot())
        {
            CollectQueue(n.ArpQueue, held, p, null);
            if (n.NudState == NudState.Incomplete && !pending.Contains(n.Timer)) p.Add($"neighbour {n} waits for an answer without a timer");
            if (n.ArpQueue.QLen > 0 && n.NudState != NudState.Incomplete) p.Add($"neighbour {n} holds {n.ArpQueue.QLen} packets while not resolving");
            if (n.ArpQueue.QLen > 101) p.Add($"neighbour {n} queue unbounded: {n.ArpQueue.QLen}");
        }

        // ---- timers whose owner is gone ----
        foreach (var t in pending)
        {
            if (t.Owner is TcpSock tp && tp.State == TcpState.Close && tp.HasFlag(SockFlag.Dead))
                p.Add($"timer pending on a dead closed sock {tp}");
        }

        // ---- buffers: free, or on a queue we know ----
        int heldSmall = 0, heldLarge = 0;
        foreach (var b in held)
        {
            if (b.InPool) p.Add("a queued buffer is also in its pool (double free)");
            if (b.Pool == net.SkbPool) heldSmall++; else if (b.Pool == net.LargeSkbPool) heldLarge++;
        }
        if (net.SkbPool.FreeCount + heldSmall != net.SkbPool.Total)
            p.Add($"buffer pool: {net.SkbPool.Total} created, {net.SkbPool.FreeCount} free, {heldSmall} queued: {net.SkbPool.Total - net.SkbPool.FreeCount - heldSmall} unaccounted");
        if (net.LargeSkbPool.FreeCount + heldLarge != net.LargeSkbPool.Total)
            p.Add($"large buffer pool: {net.LargeSkbPool.Total} created, {net.LargeSkbPool.FreeCount} free, {heldLarge} queued: {net.LargeSkbPool.Total - net.LargeSkbPool.FreeCount - heldLarge} unaccounted");
    }

    /// <summary>What the error queue charges the receive buffer (sock_queue_err_skb() charges each error as received data).</summary>
    private static long ErrorQueueCharge(Sock sk)
    {
        long charged = 0;
        for (var b = sk.ErrorQueue.First; b is not null; b = b.Next) if (b.Sk == sk) charged += Sock.SkbTruesize(b);
        return charged;
    }

    private static void CollectQueue(SkBuffQueue q, HashSet<SkBuff> held, List<string> p, Sock? owner)
    {
        int n = 0;
        long bytes = 0;
        SkBuff? prev = null;
        for (var b = q.First; b is not null; b = b.Next)
        {
            if (b.List != q) p.Add($"{owner}: a buffer on a queue points at another list");
            if (b.Prev != prev) p.Add($"{owner}: queue back link broken");
            if (!held.Add(b)) p.Add($"{owner}: a buffer is on two queues (or twice on one)");
            bytes += b.Len;
            prev = b;
            if (++n > 1_000_000) { p.Add($"{owner}: queue loops"); return; }
        }
        if (q.Last != prev) p.Add($"{owner}: queue tail wrong");
        if (n != q.QLen) p.Add($"{owner}: qlen {q.QLen}, {n} buffers");
        if (bytes != q.Bytes) p.Add($"{owner}: queue counts {q.Bytes} bytes, holds {bytes}");
    }

    private static void CheckTcp(TcpSock tp, HashSet<TimerList> pending, HashSet<SkBuff> held, List<string> p)
    {
        CollectQueue(tp.OutOfOrderQueue, held, p, tp);
        CollectQueue(tp.RtxQueue, held, p, tp);

        // Receive side: the in-order queue has no gaps and ends by rcv_nxt; the out-of-order queue
        // is sorted, disjoint, and entirely beyond rcv_nxt.
        long rmem = 0;
        uint? prevEnd = null;
        for (var b = tp.ReceiveQueue.First; b is not null; b = b.Next)
        {
            if (b.Sk == tp) rmem += Sock.SkbTruesize(b);
            // A segment that overlaps what was already received is queued untrimmed (tcp_data_queue()'s
            // partial case; recvmsg skips by offset), so neighbours may overlap but never leave a gap.
            if (prevEnd is { } e && (SeqNumber.After(b.Cb.Seq, e) || !SeqNumber.After(b.Cb.EndSeq, e)))
                p.Add($"{tp}: receive queue gap or a covered segment: ...{e} then {b.Cb.Seq}-{b.Cb.EndSeq}");
            prevEnd = b.Cb.EndSeq;
        }
        if (prevEnd is { } last && SeqNumber.After(last, tp.RcvNxt)) p.Add($"{tp}: receive queue ends at {last} beyond rcv_nxt");
        if (SeqNumber.After(tp.CopiedSeq, tp.RcvNxt)) p.Add($"{tp}: copied_seq {tp.CopiedSeq} after rcv_nxt");
        // tcp_data_queue_ofo() keeps the queue sorted and drops what another segment covers, but lets
        // neighbours overlap partly: both the starts and the ends strictly increase.
        prevEnd = null;
        uint prevSeq = 0;
        for (var b = tp.OutOfOrderQueue.First; b is not null; b = b.Next)
        {
            if (b.Sk == tp) rmem += Sock.SkbTruesize(b);
            if (!SeqNumber.After(b.Cb.Seq, tp.RcvNxt)) p.Add($"{tp}: out-of-order segment {b.Cb.Seq}-{b.Cb.EndSeq} not beyond rcv_nxt");
            if (prevEnd is { } e && (!SeqNumber.After(b.Cb.Seq, prevSeq) || !SeqNumber.After(b.Cb.EndSeq, e)))
                p.Add($"{tp}: out-of-order queue unsorted or a segment covered: {prevSeq}-{e} then {b.Cb.Seq}-{b.Cb.EndSeq}");
            if (!SeqNumber.After(b.Cb.EndSeq, b.Cb.Seq)) p.Add($"{tp}: out-of-order segment {b.Cb.Seq}-{b.Cb.EndSeq} empty or reversed");
            prevSeq = b.Cb.Seq;
            prevEnd = b.Cb.EndSeq;
        }
        rmem += ErrorQueueCharge(tp);
        if (rmem != tp.RmemAlloc) p.Add($"{tp}: sk_rmem_alloc {tp.RmemAlloc}, queues charge {rmem}");

        // Send side: rtx queue then write queue, contiguous from snd_una to write_seq; the counters follow.
        long wmem = 0;
        prevEnd = null;
        for (var b = tp.RtxQueue.First; b is not null; b = b.Next)
        {
            wmem += Sock.SkbTruesize(b);
            if (prevEnd is { } e && b.Cb.Seq != e) p.Add($"{tp}: rtx queue gap/overlap {e} -> {b.Cb.Seq}");
            prevEnd = b.Cb.EndSeq;
        }
        if (tp.RtxQueue.First is { } head && (SeqNumber.After(head.Cb.Seq, tp.SndUna) || !SeqNumber.After(head.Cb.EndSeq, tp.SndUna)))
            p.Add($"{tp}: rtx head {head.Cb.Seq}-{head.Cb.EndSeq} does not hold snd_una");
        if (prevEnd is { } rtxEnd && rtxEnd != tp.SndNxt) p.Add($"{tp}: rtx queue ends at {rtxEnd}, snd_nxt {tp.SndNxt}");
        for (var b = tp.WriteQueue.First; b is not null; b = b.Next)
        {
            wmem += Sock.SkbTruesize(b);
            if (prevEnd is { } e && b.Cb.Seq != e) p.Add($"{tp}: write queue gap/overlap {e} -> {b.Cb.Seq}");
            prevEnd = b.Cb.EndSeq;
        }
        if (prevEnd is { } wEnd && wEnd != tp.WriteSeq) p.Add($"{tp}: send queues end at {wEnd}, write_seq {tp.WriteSeq}");
        if (wmem != tp.WmemQueued) p.Add($"{tp}: sk_wmem_queued {tp.WmemQueued}, queues charge {wmem}");
        if (SeqNumber.After(tp.SndUna, tp.SndNxt) || SeqNumber.After(tp.SndNxt, tp.WriteSeq))
            p.Add($"{tp}: snd_una {tp.SndUna} snd_nxt {tp.SndNxt} write_seq {tp.WriteSeq} out of order");
        if ((tp.PacketsOut == 0) != tp.RtxQueue.IsEmpty) p.Add($"{tp}: packets_out {tp.PacketsOut} with {tp.RtxQueue.QLen} in the rtx queue");
        if (tp.SackedOut + tp.LostOut > tp.PacketsOut || tp.RetransOut > tp.PacketsOut)
            p.Add($"{tp}: packets_out {tp.PacketsOut} sacked_out {tp.SackedOut} lost_out {tp.LostOut} retrans_out {tp.RetransOut}");

        // Something in flight must be timed (retransmit, probe or loss probe), or it is never resent.
        if (!tp.RtxQueue.IsEmpty && tp.State != TcpState.Close && tp.RetransmitTimer is { } rt && !pending.Contains(rt))
            p.Add($"{tp}: {tp.PacketsOut} packets out and no retransmit timer");
        if (tp.State == TcpState.Listen && (!tp.RtxQueue.IsEmpty || !tp.WriteQueue.IsEmpty || !tp.ReceiveQueue.IsEmpty))
            p.Add($"{tp}: a listener with queued data");
    }
}
