using System.Diagnostics;
using NetStack.Drivers;
using static NetStack.Drivers.Interop.Libc;

namespace NetStack.Cli;

/// <summary>
/// Copies Ethernet frames between two TAP devices, both ways, one thread per direction: what a
/// two-port bridge's forwarding path does (net/bridge/br_forward.c), without learning or filtering,
/// so two kernels (each TAP in its own namespace) talk through user space. It is the reference for
/// the stack's own cost: the kernel to the kernel through the same two TAP crossings the stack pays.
/// <para>
/// Each thread reads the TAP until it is empty (one read() is one frame, as tun_do_read() gives it)
/// and writes each frame whole to the other TAP, then sleeps in poll() until the next one
/// (<see cref="TapDevice.WaitForWork"/>), so an idle bridge costs nothing and a busy one makes one
/// read and one write per frame. The buffers are pinned and allocated once: nothing is allocated per
/// frame. <see cref="Stop"/> wakes both threads through the devices' eventfds.
/// </para>
/// <para>
/// Faults (<c>--fault</c>) take <see cref="FaultSpec"/>'s syntax and draw in
/// <see cref="FaultInjector"/>'s order (loss, corruption, duplication, reordering) from one seeded
/// generator per direction; "dir=tx" impairs TAP1 to TAP2 only, "dir=rx" TAP2 to TAP1 only. A
/// reordered frame is held back (one at a time) until <see cref="FaultSpec.ReorderHoldNs"/> passed,
/// so the frames behind it overtake it. Delay needs a delay line the bridge does not have (the
/// stack's injector runs on the stack's timers).
/// </para>
/// TAP offloads (IFF_VNET_HDR, GSO super-frames) are a later step: the devices are attached as
/// `up` attaches them, offloads off, so each frame is at most MTU + 14 bytes.
/// </summary>
internal sealed unsafe class FrameBridge : IDisposable
{
    private readonly Direction _forward, _backward;
    private volatile bool _stop;

    public FrameBridge(TapDevice first, TapDevice second, FaultSpec? faults)
    {
        if (faults is { DelayNs: > 0 }) throw new UsageException("--fault: the bridge has no delay line (delay= works in `up --fault`); use loss, dup, reorder, corrupt");
        bool forwardFaults = faults is { IsEmpty: false } && (faults.Direction & FaultDirection.Transmit) != 0;
        bool backwardFaults = faults is { IsEmpty: false } && (faults.Direction & FaultDirection.Receive) != 0;
        _forward = new Direction(this, first, second, forwardFaults ? faults : null, faults?.Seed ?? 1);
        _backward = new Direction(this, second, first, backwardFaults ? faults : null, (faults?.Seed ?? 1) + 1);
    }

    /// <summary>TAP1 to TAP2.</summary>
    public Direction Forward => _forward;

    /// <summary>TAP2 to TAP1.</summary>
    public Direction Backward => _backward;

    public void Start()
    {
        _forward.Start();
        _backward.Start();
    }

    /// <summary>Ends both threads (they finish the frame in hand) and waits for them.</summary>
    public void Stop()
    {
        _stop = true;
        _forward.From.Kick();
        _backward.From.Kick();
        _forward.Join();
        _backward.Join();
    }

    public void Dispose() => Stop();

    /// <summary>One way through the bridge: its thread, its buffers, what it counted.</summary>
    internal sealed class Direction
    {
        private const int BufferSize = 65536;
        private readonly FrameBridge _owner;
        private readonly FaultSpec? _faults;
        private readonly Random _rng;
        private readonly byte[] _buf = GC.AllocateUninitializedArray<byte>(BufferSize, pinned: true);
        private readonly byte[] _held = GC.AllocateUninitializedArray<byte>(BufferSize, pinned: true);
        private int _heldLen;
        private long _heldUntil;
        private Thread? _thread;

        // Written by this direction's thread only; read by others when the bridge stops (or slightly stale before).
        /// <summary>Frames written whole to the other TAP, and their bytes.</summary>
        public long Frames, Bytes;
        /// <summary>What the faults did: frames dropped, sent twice, held back, bit-flipped.</summary>
        public long Dropped, Duplicated, Reordered, Corrupted;
        /// <summary>Failed reads (other than "nothing pending") and failed or short writes.</summary>
        public long ReadErrors, WriteErrors;

        public Direction(FrameBridge owner, TapDevice from, TapDevice to, FaultSpec? faults, int seed)
        {
            _owner = owner;
            From = from;
            To = to;
            _faults = faults;
            _rng = new Random(seed);
        }

        public TapDevice From { get; }
        public TapDevice To { get; }

        public void Start()
        {
            _thread = new Thread(Run) { Name = $"bridge {From.IfName}->{To.IfName}", IsBackground = true };
            _thread.Start();
        }

        public void Join() => _thread?.Join(TimeSpan.FromSeconds(5));

        private void Run()
        {
            int inFd = From.Fd;
            while (!_owner._stop)
            {
                nint n;
                fixed (byte* p = _buf) n = Read(inFd, p, BufferSize);
                if (n > 0)
                {
                    Forward((int)n);
                    continue;
                }
                if (n < 0 && LastErrno is not (Errno.EAGAIN or Errno.EINTR)) ReadErrors++;
                // Nothing pending: a held frame whose time came leaves now; then sleep until the next frame.
                int timeoutMs = 1000;
                if (_heldLen > 0)
                {
                    long left = _heldUntil - Stopwatch.GetTimestamp();
                    if (left <= 0) { ReleaseHeld(); continue; }
                    timeoutMs = (int)Math.Max(1, left * 1000 / Stopwatch.Frequency);
                }
                From.WaitForWork(timeoutMs);
            }
        }

        /// <summary>One frame in <see cref="_buf"/>: the faults, then the write (twice when duplicated).</summary>
        private void Forward(int len)
        {
            bool duplicate = false;
            if (_faults is { } f)
            {
                if (f.Loss > 0 && _rng.NextDouble() < f.Loss)
                {
                    Dropped++;
                    return;
                }
                if (f.Corrupt > 0 && _rng.NextDouble() < f.Corrupt && len > 14)
                {
                    // One bit beyond the Ethernet header, as the stack's injector flips: a checksum must catch it.
                    _buf[14 + _rng.Next(len - 14)] ^= (byte)(1 << _rng.Next(8));
                    Corrupted++;
                }
                duplicate = f.Duplicate > 0 && _rng.NextDouble() < f.Duplicate;
                if (f.Reorder > 0 && _rng.NextDouble() < f.Reorder && _heldLen == 0)
                {
                    _buf.AsSpan(0, len).CopyTo(_held);
                    _heldLen = len;
                    _heldUntil = Stopwatch.GetTimestamp() + f.ReorderHoldNs * Stopwatch.Frequency / 1_000_000_000;
                    Reordered++;
                    if (duplicate) { Duplicated++; Write(_buf, len); }
                    return;
                }
            }
            Write(_buf, len);
            if (duplicate)
            {
                Duplicated++;
                Write(_buf, len);
            }
            if (_heldLen > 0 && Stopwatch.GetTimestamp() >= _heldUntil) ReleaseHeld();
        }

        private void ReleaseHeld()
        {
            Write(_held, _heldLen);
            _heldLen = 0;
        }

        private void Write(byte[] frame, int len)
        {
            nint n;
            fixed (byte* p = frame) n = Interop.Libc.Write(To.Fd, p, len);
            if (n == len)
            {
                Frames++;
                Bytes += len;
            }
            else WriteErrors++;
        }

        /// <summary>One line: the way, the frames forwarded, the faults and the errors.</summary>
        public override string ToString() =>
            $"{From.IfName} -> {To.IfName}: forwarded {Frames} frames ({Bytes} bytes); faults: dropped {Dropped} duplicated {Duplicated} reordered {Reordered} corrupted {Corrupted}; errors: read {ReadErrors} write {WriteErrors}";
    }
}
