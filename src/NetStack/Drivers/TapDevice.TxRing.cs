using System.Runtime.InteropServices;
using NetStack.Core;
using NetStack.Wire;
using static NetStack.Drivers.Interop.Libc;

namespace NetStack.Drivers;

/// <summary>
/// The TAP's transmit ring: frames sent during a round (<see cref="NetNamespace.XmitMore"/>: a
/// system call, a receive batch, a timer run, a <see cref="NetNamespace.Poll"/>) are queued as
/// io_uring writes and submitted in io_uring_enter() calls of up to <see cref="TxRingMaxBurst"/>
/// frames, the last when the round ends (<see cref="NetNamespace.XmitFlush"/>), as a NIC driver
/// posts descriptors under xmit_more and rings its doorbell for the last. tun grants IOCB_NOWAIT (FMODE_NOWAIT), so io_uring performs
/// each write inline in that io_uring_enter(), in submission order, exactly as write() would: the
/// kernel has received (copied) every frame when the call returns, and each completion is posted
/// then. A buffer is nonetheless kept (not freed, so neither reused nor its fragments' pages
/// released) until its completion has been seen, which holds even if a write were ever punted to
/// an io-wq worker.
/// </summary>
public sealed unsafe partial class TapDevice
{
    /// <summary>Null until the first queued frame, and for good once io_uring_setup() failed or the ring was given up (then one write() per frame).</summary>
    private IoUring? _txRing;
    private bool _txRingFailed;
    /// <summary>The buffers whose writes are queued or in flight, by slot (the SQE's user_data); freed on completion.</summary>
    private SkBuff?[] _txInflight = [];
    /// <summary>Free slots of <see cref="_txInflight"/> (a stack).</summary>
    private int[] _txFreeSlots = [];
    private int _txFreeCount;
    /// <summary>A round has sent on this device since the last flush (its first frame was written at once; the rest are queued).</summary>
    private bool _txRoundOpen;
    /// <summary>Per slot: <see cref="TxIovMax"/> iovecs and a vnet header, in native memory (a writev's pieces must stay put until it is issued).</summary>
    private IoVec* _txIov;
    private byte* _txHdr;

    /// <summary>Frames written through the transmit ring.</summary>
    internal long TxRingFrames { get; private set; }
    /// <summary>The io_uring_enter() calls that submitted them (frames per system call = <see cref="TxRingFrames"/> / this).</summary>
    internal long TxRingSubmits { get; private set; }
    /// <summary>Frames of a round written with write() instead of through the ring: a round's first frame, and a round's only queued one (taken back from the ring).</summary>
    internal long TxRingSingles { get; private set; }
    /// <summary>Ring writes the kernel completed with EAGAIN and that were written again with write().</summary>
    internal long TxRingRetries { get; private set; }
    /// <summary>Frames of a round written with write() because the ring had no free slot even after a flush.</summary>
    internal long TxRingFull { get; private set; }
    /// <summary>Times the transmit ring could not be set up (io_uring_setup() refused: an old kernel, kernel.io_uring_disabled, a seccomp filter); at most 1 per device.</summary>
    internal long TxRingSetupFailures { get; private set; }
    /// <summary>The errno io_uring_setup() or io_uring_enter() failed with when the ring was given up (0: it was not).</summary>
    internal int TxRingErrno { get; private set; }

    /// <summary>Whether frames of a round may go through the transmit ring (<see cref="Api.StackOptions.TransmitRing"/>, on by default); false: one write() per frame, as when io_uring_setup() fails.</summary>
    internal bool TxRingEnabled { get; set; }

    /// <summary>Submission entries: more than a round usually sends (a 64-frame receive batch, a 126 KB send of 87 frames) before it must flush early.</summary>
    private const uint TxRingEntries = 128;

    /// <summary>
    /// Queues <paramref name="skb"/> as a write on the transmit ring and registers the device for the
    /// round's flush; false when the ring is off or unavailable (the caller writes the frame itself,
    /// after what the ring holds). A full ring is flushed first, so frames keep their order.
    /// </summary>
    /// <remarks>Mirrors a driver's ndo_start_xmit() posting a descriptor without ringing the doorbell while netdev_xmit_more().</remarks>
    private bool TxRingQueue(NetNamespace net, SkBuff skb)
    {
        if (!TxRingEnabled) return false;
        var ring = _txRing ?? TxRingSetup(net);
        if (ring is null) return false;
        if (!_txRoundOpen)
        {
            // The round's first frame is written at once (the caller writes it when this returns
            // false): a round of one frame, a request/response's answer, a SYN-ACK, costs what it
            // costs without the ring, and a larger one one write() more than its io_uring_enter().
            // Queued, the single frame cost a ring entry taken back at the flush (3% of 1-byte
            // request/response rate, 5 of 5 interleaved pairs). The flush ends the round.
            _txRoundOpen = true;
            net.XmitPendingAdd(this);
            if (ring.Unsubmitted == 0 && _txFreeCount == _txInflight.Length)
            {
                TxRingSingles++;
                return false;
            }
        }
        IoUring.Sqe* sqe = null;
        if (_txFreeCount == 0 || (sqe = ring.TryGetSqe()) is null)
        {
            XmitFlushQueued();
            if (_txRing is null || _txFreeCount == 0 || (sqe = ring.TryGetSqe()) is null)
            {
                TxRingFull++;
                return false;
            }
        }
        int slot = _txFreeSlots[--_txFreeCount];
        _txInflight[slot] = skb;
        sqe->Fd = _fd;
        sqe->Off = ulong.MaxValue; // -1: the file's position; a TAP has none
        sqe->UserData = (ulong)slot;
        if (!Offload && skb.NrFrags == 0)
        {
            sqe->Opcode = IoUring.IORING_OP_WRITE;
            // Pool buffers are pinned (the pinned object heap): the address holds until the write completes.
            sqe->Addr = (ulong)(PinnedAddress(skb.Buffer) + skb.Data);
            sqe->Len = (uint)skb.Len;
        }
        else
        {
            // Fragments reference pages the skb holds (skb_frag_ref): they stay until the completion frees it.
            IoVec* iov = _txIov + slot * TxIovMax;
            sqe->Opcode = IoUring.IORING_OP_WRITEV;
            sqe->Addr = (ulong)iov;
            sqe->Len = (uint)TxIovFill(skb, iov, _txHdr + slot * VirtioNetHdr.Size);
        }
        net.XmitPendingAdd(this);
        // A burst is at most TxRingMaxBurst frames: see the constant.
        if (ring.Unsubmitted >= TxRingMaxBurst) XmitFlushQueued();
        return true;
    }

    /// <summary>
    /// The most frames one io_uring_enter() hands the kernel. A whole round (up to 64 answers of a
    /// receive batch, 87 frames of a 126 KB send) at once reached the kernel's receiver as one
    /// burst inside that call, before its reader ran: its window did not open, so it acknowledged
    /// less often (delayed and compressed ACKs, 0.28 ACKs per segment against 0.35), and through
    /// 1% loss a lost ACK more often left nothing in flight to bring another, a 200 ms timeout
    /// (interleaved, 8 s each: 376-478 against 486-777 Mbit/s without the ring; bursts of 8:
    /// 485-683 against 597-753, while sending without loss stays 7-29% faster than write()).
    /// </summary>
    private const uint TxRingMaxBurst = 8;

    private IoUring? TxRingSetup(NetNamespace net)
    {
        if (_txRingFailed) return null;
        var ring = IoUring.TryCreate(TxRingEntries, TxRingEntries * 2, out int errno);
        if (ring is null)
        {
            _txRingFailed = true;
            TxRingSetupFailures++;
            TxRingErrno = errno;
            net.Log.Printk($"{Name}: io_uring_setup failed ({Errno.Name(errno)}): one write() per frame");
            return null;
        }
        // As many slots as completions the ring holds: a completion never overflows.
        int slots = (int)ring.CqEntries;
        _txInflight = new SkBuff?[slots];
        _txFreeSlots = new int[slots];
        for (int i = 0; i < slots; i++) _txFreeSlots[i] = slots - 1 - i;
        _txFreeCount = slots;
        _txIov = (IoVec*)NativeMemory.Alloc((nuint)(slots * TxIovMax), (nuint)sizeof(IoVec));
        _txHdr = (byte*)NativeMemory.AllocZeroed((nuint)(slots * VirtioNetHdr.Size));
        return _txRing = ring;
    }

    /// <summary>
    /// Submits every queued write (the kernel receives each frame inside io_uring_enter(), as it
    /// would inside write()) and frees the buffers of the completed ones. Called when the round ends,
    /// before the stack lock is released: a write left in the ring would wait for the next round (the
    /// last answer of a burst would not leave). A transient refusal of io_uring_enter() (EAGAIN,
    /// EBUSY: completions to reap first) is tried again; past that, or on any other error, the ring is
    /// given up and what it holds is written with write(), in order.
    /// </summary>
    /// <remarks>Mirrors the doorbell: the device takes the descriptors posted since the last one.</remarks>
    internal override int XmitFlushQueued()
    {
        _txRoundOpen = false;
        var ring = _txRing;
        if (ring is null) return 0;
        int sent = 0;
        if (ring.Unsubmitted == 1 && _txFreeCount == _txInflight.Length - 1)
        {
            // One frame queued (a round of two: the first went at once) and nothing else in flight:
            // one write() costs less than an io_uring_enter() with one entry (the request's set-up
            // and completion), so the entry is taken back and written directly. The ring pays
            // from two queued frames on.
            int slot = (int)ring.RetractLast();
            var skb = _txInflight[slot]!;
            _txInflight[slot] = null;
            _txFreeSlots[_txFreeCount++] = slot;
            TxRingSingles++;
            TxRingWriteNow(skb);
            ConsumeSkb(skb);
            return 1;
        }
        for (int attempt = 0; ring.Unsubmitted > 0; attempt++)
        {
            int r = ring.Enter();
            if (r > 0)
            {
                TxRingSubmits++;
                TxRingFrames += r;
                sent += r;
                continue;
            }
            if (attempt >= 100 || (r < 0 && r != -Errno.EAGAIN && r != -Errno.EBUSY))
            {
                sent += (int)ring.Unsubmitted;
                TxRingGiveUp(ring, r < 0 ? -r : Errno.EAGAIN);
                return sent;
            }
            TxRingReap(ring);
            Thread.Yield();
        }
        TxRingReap(ring);
        // tun takes a write inline (FMODE_NOWAIT): its completion is posted before io_uring_enter()
        // returns. A write io_uring had to defer (armed for POLLOUT, or punted to an io-wq worker)
        // is still in flight here; the round does not end before it completes, so that, as with
        // write(), every frame of the round has reached the kernel when the lock is released (a
        // deferred last reply of a burst would otherwise leave only at the next system call).
        int inflight = _txInflight.Length - _txFreeCount;
        if (inflight > 0)
        {
            TxRingDeferred += inflight;
            int r = ring.Enter((uint)inflight);
            if (r < 0 && r != -Errno.EINTR) TxRingWaitErrors++;
            TxRingReap(ring);
        }
        return sent;
    }

    /// <summary>Writes not complete when io_uring_enter() returned (deferred by io_uring rather than done inline), waited for before the round ended.</summary>
    internal long TxRingDeferred { get; private set; }
    /// <summary>Waits for such writes that io_uring_enter() refused.</summary>
    internal long TxRingWaitErrors { get; private set; }

    /// <summary>Frees the buffers of completed writes; a short or failed write counts as tx_errors and tx_dropped, one refused with EAGAIN is written again with write().</summary>
    private void TxRingReap(IoUring ring)
    {
        while (ring.TryPeekCqe(out var cqe))
        {
            ring.CqeSeen();
            int slot = (int)cqe.UserData;
            var skb = _txInflight[slot];
            _txInflight[slot] = null;
            _txFreeSlots[_txFreeCount++] = slot;
            if (skb is null) continue;
            int expected = skb.Len + (Offload ? VirtioNetHdr.Size : 0);
            if (cqe.Res == -Errno.EAGAIN)
            {
                // Refused for now (the write was issued without waiting): written as it would have been without the ring.
                TxRingRetries++;
                TxRingWriteNow(skb);
            }
            else if (cqe.Res != expected)
            {
                Stats.TxErrors++;
                Stats.TxDropped++;
            }
            ConsumeSkb(skb);
        }
    }

    /// <summary>Writes a frame the ring could not, counting a failure as the ring's completion would have; the caller frees the buffer.</summary>
    private void TxRingWriteNow(SkBuff skb)
    {
        nint n = WriteFrame(skb);
        if (n != skb.Len)
        {
            if (n >= 0 || LastErrno != Errno.EAGAIN) Stats.TxErrors++;
            Stats.TxDropped++;
        }
    }

    /// <summary>io_uring_enter() failed: writes what the ring still holds with write(), in order, and closes the ring (one write() per frame from now on).</summary>
    private void TxRingGiveUp(IoUring ring, int errno)
    {
        Net?.Log.Printk($"{Name}: io_uring_enter failed ({Errno.Name(errno)}): one write() per frame from now on");
        _txRingFailed = true;
        TxRingErrno = errno;
        TxRingReap(ring); // what the kernel did take, oldest first
        for (uint i = 0; i < ring.Unsubmitted; i++)
        {
            int slot = (int)ring.UnsubmittedUserData(i);
            var skb = _txInflight[slot];
            _txInflight[slot] = null;
            if (skb is null) continue;
            TxRingWriteNow(skb);
            skb.Free();
        }
        ring.DropUnsubmitted();
        TxRingClose();
    }

    /// <summary>Closes the ring (the kernel cancels what is still in flight) and frees the buffers it held.</summary>
    private void TxRingClose()
    {
        if (_txRing is not { } ring) return;
        _txRing = null;
        ring.Dispose();
        for (int i = 0; i < _txInflight.Length; i++)
        {
            _txInflight[i]?.Free();
            _txInflight[i] = null;
        }
        NativeMemory.Free(_txIov);
        NativeMemory.Free(_txHdr);
        _txIov = null;
        _txHdr = null;
    }
}
