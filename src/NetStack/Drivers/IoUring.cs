using System.Runtime.InteropServices;
using NetStack.Core;

namespace NetStack.Drivers;

/// <summary>
/// A minimal io_uring instance: the submission and completion rings mapped from the kernel, as
/// liburing's io_uring_queue_init() sets them up, for submitting a batch of reads or writes in one
/// io_uring_enter() instead of one system call each. Not thread-safe: its owner serializes every
/// call (the TAP driver holds the stack lock).
/// </summary>
/// <remarks>Mirrors include/uapi/linux/io_uring.h and the user side of io_uring/io_uring.c (io_uring_setup(), io_uring_enter()).</remarks>
internal sealed unsafe partial class IoUring : IDisposable
{
    // io_uring opcodes, setup and enter flags (include/uapi/linux/io_uring.h).
    internal const byte IORING_OP_NOP = 0;
    internal const byte IORING_OP_WRITEV = 2;
    internal const byte IORING_OP_READ = 22;
    internal const byte IORING_OP_WRITE = 23;
    internal const uint IORING_SETUP_CQSIZE = 1u << 3;
    internal const uint IORING_SETUP_SUBMIT_ALL = 1u << 7;
    internal const uint IORING_SETUP_COOP_TASKRUN = 1u << 8;
    internal const uint IORING_ENTER_GETEVENTS = 1u << 0;
    internal const uint IORING_FEAT_SINGLE_MMAP = 1u << 0;
    private const long IORING_OFF_SQ_RING = 0;
    private const long IORING_OFF_CQ_RING = 0x8000000;
    private const long IORING_OFF_SQES = 0x10000000;
    private const long SYS_io_uring_setup = 425;
    private const long SYS_io_uring_enter = 426;
    private const int PROT_READ = 0x1, PROT_WRITE = 0x2, MAP_SHARED = 0x01, MAP_POPULATE = 0x08000;

    /// <summary>struct io_sqring_offsets.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct SqringOffsets
    {
        public uint Head, Tail, RingMask, RingEntries, Flags, Dropped, Array, Resv1;
        public ulong UserAddr;
    }

    /// <summary>struct io_cqring_offsets.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct CqringOffsets
    {
        public uint Head, Tail, RingMask, RingEntries, Overflow, Cqes, Flags, Resv1;
        public ulong UserAddr;
    }

    /// <summary>struct io_uring_params (120 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct Params
    {
        public uint SqEntries, CqEntries, Flags, SqThreadCpu, SqThreadIdle, Features, WqFd, Resv0, Resv1, Resv2;
        public SqringOffsets SqOff;
        public CqringOffsets CqOff;
    }

    /// <summary>struct io_uring_sqe (64 bytes), the fields a read or a write uses.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 64)]
    internal struct Sqe
    {
        [FieldOffset(0)] public byte Opcode;
        [FieldOffset(1)] public byte Flags;
        [FieldOffset(2)] public ushort IoPrio;
        [FieldOffset(4)] public int Fd;
        [FieldOffset(8)] public ulong Off;
        [FieldOffset(16)] public ulong Addr;
        [FieldOffset(24)] public uint Len;
        [FieldOffset(28)] public uint RwFlags;
        [FieldOffset(32)] public ulong UserData;
        [FieldOffset(40)] public ushort BufIndex;
        [FieldOffset(42)] public ushort Personality;
        [FieldOffset(44)] public int SpliceFdIn;
        [FieldOffset(48)] public ulong Addr3;
        [FieldOffset(56)] public ulong Pad;
    }

    /// <summary>struct io_uring_cqe (16 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    internal struct Cqe
    {
        public ulong UserData;
        public int Res;
        public uint Flags;
    }

    private int _fd;
    private readonly byte* _sqRing, _cqRing;
    private readonly nuint _sqRingSize, _cqRingSize, _sqesSize;
    private readonly Sqe* _sqes;
    private readonly uint* _sqHead, _sqTail, _cqHead, _cqTail;
    private readonly uint _sqMask, _cqMask;
    private readonly Cqe* _cqes;
    /// <summary>The submission tail as this side sees it (published to the kernel by <see cref="Enter"/>).</summary>
    private uint _sqeTail;
    /// <summary>What the kernel has consumed up to the last enter.</summary>
    private uint _sqeSubmitted;

    /// <summary>Submission ring entries.</summary>
    public uint SqEntries { get; }
    /// <summary>Completion ring entries.</summary>
    public uint CqEntries { get; }
    /// <summary>Entries queued with <see cref="TryGetSqe"/> and not yet given to the kernel.</summary>
    public uint Unsubmitted => _sqeTail - _sqeSubmitted;

    private IoUring(int fd, in Params p)
    {
        _fd = fd;
        SqEntries = p.SqEntries;
        CqEntries = p.CqEntries;
        _sqRingSize = p.SqOff.Array + p.SqEntries * sizeof(uint);
        _cqRingSize = p.CqOff.Cqes + p.CqEntries * (uint)sizeof(Cqe);
        bool single = (p.Features & IORING_FEAT_SINGLE_MMAP) != 0;
        if (single) _sqRingSize = _cqRingSize = Math.Max(_sqRingSize, _cqRingSize);
        _sqRing = (byte*)Mmap(_sqRingSize, IORING_OFF_SQ_RING);
        _cqRing = single ? _sqRing : (byte*)Mmap(_cqRingSize, IORING_OFF_CQ_RING);
        _sqesSize = p.SqEntries * (uint)sizeof(Sqe);
        _sqes = (Sqe*)Mmap(_sqesSize, IORING_OFF_SQES);
        _sqHead = (uint*)(_sqRing + p.SqOff.Head);
        _sqTail = (uint*)(_sqRing + p.SqOff.Tail);
        _sqMask = *(uint*)(_sqRing + p.SqOff.RingMask);
        // The indirection array maps ring slot i to SQE i once, as liburing does, so an SQE is filled in place.
        uint* array = (uint*)(_sqRing + p.SqOff.Array);
        for (uint i = 0; i < p.SqEntries; i++) array[i] = i;
        _cqHead = (uint*)(_cqRing + p.CqOff.Head);
        _cqTail = (uint*)(_cqRing + p.CqOff.Tail);
        _cqMask = *(uint*)(_cqRing + p.CqOff.RingMask);
        _cqes = (Cqe*)(_cqRing + p.CqOff.Cqes);
        _sqeTail = _sqeSubmitted = *_sqTail;

        void* Mmap(nuint size, long offset)
        {
            void* m = Native.Mmap(null, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, _fd, offset);
            if (m == (void*)-1)
            {
                int err = Marshal.GetLastPInvokeError();
                Dispose();
                throw new ErrnoException(err, $"mmap of an io_uring ring failed: {Interop.Libc.StrError(err)}");
            }
            return m;
        }
    }

    /// <summary>
    /// io_uring_setup() with <paramref name="entries"/> submission entries and <paramref name="cqEntries"/>
    /// completion entries; null with the errno when the kernel refuses (no io_uring, disabled by
    /// kernel.io_uring_disabled, or blocked by a seccomp filter in a container).
    /// </summary>
    public static IoUring? TryCreate(uint entries, uint cqEntries, out int errno)
    {
        // COOP_TASKRUN (5.19): completion work the kernel defers to this task runs when it next enters
        // the ring, instead of interrupting whatever system call the thread is in; refused by an
        // older kernel (EINVAL), then set up without it.
        var p = new Params { Flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN, CqEntries = cqEntries };
        int fd = (int)Native.Syscall(SYS_io_uring_setup, (nint)entries, (nint)(&p), 0, 0, 0, 0);
        if (fd < 0 && Marshal.GetLastPInvokeError() == Uapi.Errno.EINVAL)
        {
            p = new Params { Flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL, CqEntries = cqEntries };
            fd = (int)Native.Syscall(SYS_io_uring_setup, (nint)entries, (nint)(&p), 0, 0, 0, 0);
        }
        if (fd < 0)
        {
            errno = Marshal.GetLastPInvokeError();
            return null;
        }
        errno = 0;
        try { return new IoUring(fd, p); }
        catch (ErrnoException e)
        {
            errno = e.Errno;
            return null;
        }
    }

    /// <summary>A free submission entry, zeroed, or null when the ring is full (submit first).</summary>
    /// <remarks>Mirrors liburing's io_uring_get_sqe().</remarks>
    public Sqe* TryGetSqe()
    {
        uint head = Volatile.Read(ref *_sqHead);
        if (_sqeTail - head >= SqEntries) return null;
        var sqe = &_sqes[_sqeTail & _sqMask];
        *sqe = default;
        _sqeTail++;
        return sqe;
    }

    /// <summary>
    /// Publishes the queued entries and calls io_uring_enter(): submits them (the kernel runs a TAP
    /// write inline, in this call) and, with <paramref name="minComplete"/> &gt; 0, waits for that many
    /// completions. Returns the number submitted, or -errno.
    /// </summary>
    /// <remarks>Mirrors liburing's io_uring_submit() / io_uring_submit_and_wait().</remarks>
    public int Enter(uint minComplete = 0)
    {
        uint toSubmit = _sqeTail - _sqeSubmitted;
        Volatile.Write(ref *_sqTail, _sqeTail); // release: the SQEs are written before the kernel sees the tail
        uint flags = minComplete > 0 ? IORING_ENTER_GETEVENTS : 0;
        int r;
        do r = (int)Native.Syscall(SYS_io_uring_enter, _fd, (nint)toSubmit, (nint)minComplete, (nint)flags, 0, 0);
        while (r < 0 && Marshal.GetLastPInvokeError() == Uapi.Errno.EINTR);
        if (r < 0) return -Marshal.GetLastPInvokeError();
        _sqeSubmitted += (uint)r;
        return r;
    }

    /// <summary>The user data of the <paramref name="i"/>-th entry queued and not given to the kernel (0 is the oldest; below <see cref="Unsubmitted"/>).</summary>
    public ulong UnsubmittedUserData(uint i) => UserDataAt(_sqeSubmitted + i);

    /// <summary>Takes back the newest entry queued and not given to the kernel (its owner does the work another way); returns its user data.</summary>
    public ulong RetractLast()
    {
        _sqeTail--;
        return UserDataAt(_sqeTail);
    }

    /// <summary>Forgets the entries not given to the kernel (their owner completed them another way) before the ring is closed.</summary>
    public void DropUnsubmitted() => _sqeSubmitted = _sqeTail;

    private ulong UserDataAt(uint index) => _sqes[index & _sqMask].UserData;

    /// <summary>The oldest completion not yet seen, if any (then call <see cref="CqeSeen"/>).</summary>
    /// <remarks>Mirrors liburing's io_uring_peek_cqe().</remarks>
    public bool TryPeekCqe(out Cqe cqe)
    {
        uint head = *_cqHead;
        if (head == Volatile.Read(ref *_cqTail))
        {
            cqe = default;
            return false;
        }
        cqe = _cqes[head & _cqMask];
        return true;
    }

    /// <summary>Gives the completion returned by <see cref="TryPeekCqe"/> back to the kernel.</summary>
    public void CqeSeen() => Volatile.Write(ref *_cqHead, *_cqHead + 1);

    /// <summary>Unmaps the rings and closes the ring's file descriptor (outstanding requests are cancelled by the kernel).</summary>
    public void Dispose()
    {
        if (_fd < 0) return;
        if (_sqes is not null) Native.Munmap(_sqes, _sqesSize);
        if (_cqRing is not null && _cqRing != _sqRing) Native.Munmap(_cqRing, _cqRingSize);
        if (_sqRing is not null) Native.Munmap(_sqRing, _sqRingSize);
        Interop.Libc.Close(_fd);
        _fd = -1;
    }

    private static partial class Native
    {
        [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
        internal static partial long Syscall(long number, nint a1, nint a2, nint a3, nint a4, nint a5, nint a6);

        [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
        internal static partial void* Mmap(void* addr, nuint length, int prot, int flags, int fd, long offset);

        [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
        internal static partial int Munmap(void* addr, nuint length);
    }
}
