namespace NetStack.Core;

/// <summary>
/// The stack-wide memory account of one protocol: what struct proto points at with
/// memory_allocated, sockets_allocated, memory_pressure and sysctl_mem (tcp_memory_allocated,
/// tcp_sockets_allocated, tcp_memory_pressure, sysctl_tcp_mem). Global in the kernel; one per
/// namespace here, as one NetNamespace is one booted kernel. Counted in pages of
/// <see cref="PageSize"/> bytes, as the kernel counts it.
/// </summary>
/// <remarks>Mirrors include/net/sock.h: struct proto's memory fields and sk_prot_mem_limits().</remarks>
public abstract class ProtoMemory
{
    /// <summary>PAGE_SHIFT / PAGE_SIZE: the quantum sk_forward_alloc is reserved in (SK_MEM_QUANTUM).</summary>
    public const int PageShift = 12, PageSize = 1 << PageShift;

    /// <summary>*prot->memory_allocated: pages reserved by all sockets of the protocol.</summary>
    public long MemoryAllocated { get; internal set; }

    /// <summary>prot->sockets_allocated: the protocol's sockets alive in this namespace (the fairness divisor under pressure).</summary>
    public long SocketsAllocated { get; set; }

    /// <summary>*prot->memory_pressure: nonzero while under pressure (TCP keeps the time it started, in ms, never 0).</summary>
    public long MemoryPressure { get; protected set; }

    /// <summary>Whether the protocol is under memory pressure.</summary>
    /// <remarks>Mirrors sk_under_global_memory_pressure() (tcp_under_memory_pressure() without memcg).</remarks>
    public bool UnderMemoryPressure => MemoryPressure != 0;

    /// <summary>The protocol's limit <paramref name="index"/> in pages (0: min, 1: pressure, 2: max), read live from its sysctl (prot->sysctl_mem: tcp_mem).</summary>
    /// <remarks>Mirrors sk_prot_mem_limits().</remarks>
    public abstract long MemLimit(int index);

    /// <summary>Pressure begins: the protocol's prot->enter_memory_pressure (the default only raises the flag).</summary>
    /// <remarks>Mirrors sk_enter_memory_pressure().</remarks>
    public virtual void EnterMemoryPressure(Sock sk) => MemoryPressure = 1;

    /// <summary>Pressure ends: prot->leave_memory_pressure (the default only clears the flag).</summary>
    /// <remarks>Mirrors sk_leave_memory_pressure().</remarks>
    public virtual void LeaveMemoryPressure(Sock sk) => MemoryPressure = 0;

    /// <summary>The receive buffer every socket keeps even under pressure (prot->sysctl_rmem[0]: tcp_rmem[0]).</summary>
    /// <remarks>Mirrors sk_get_rmem0().</remarks>
    public abstract int Rmem0(Sock sk);

    /// <summary>The send buffer every socket keeps even under pressure (prot->sysctl_wmem[0]: tcp_wmem[0]).</summary>
    /// <remarks>Mirrors sk_get_wmem0().</remarks>
    public abstract int Wmem0(Sock sk);
}

/// <summary>What a charge is for (SK_MEM_SEND / SK_MEM_RECV): the pressure rules differ.</summary>
internal enum SkMemKind
{
    Send = 0,
    Recv = 1,
}

/// <summary>
/// Socket memory accounting: each socket reserves whole pages from its protocol's account
/// (<see cref="ForwardAlloc"/>, sk_forward_alloc) before it charges a buffer's truesize to them,
/// and gives pages back as soon as a whole one is unused. Reserving past tcp_mem's limits is
/// what refuses data and send buffers under pressure.
/// </summary>
/// <remarks>Mirrors net/core/sock.c: __sk_mem_schedule() and friends, and include/net/sock.h's sk_mem_* inlines.</remarks>
public partial class Sock
{
    /// <summary>sk->sk_prot->memory_allocated for this sock: its protocol's account, or null when the protocol keeps none (sk_has_account() is false: raw, ping).</summary>
    public ProtoMemory? MemAccount;

    /// <summary>sk_forward_alloc: bytes reserved from the protocol's account and not charged yet.</summary>
    public int ForwardAlloc;

    /// <remarks>Mirrors sk_mem_pages(): bytes rounded up to pages.</remarks>
    internal static int SkMemPages(int amt) => (amt + ProtoMemory.PageSize - 1) >> ProtoMemory.PageShift;

    /// <summary>Charges <paramref name="size"/> bytes against the reservation.</summary>
    /// <remarks>Mirrors sk_mem_charge().</remarks>
    internal void SkMemCharge(int size)
    {
        if (MemAccount is null) return;
        ForwardAlloc -= size;
    }

    /// <summary>Returns <paramref name="size"/> bytes to the reservation and whole unused pages to the account.</summary>
    /// <remarks>Mirrors sk_mem_uncharge() -> sk_mem_reclaim().</remarks>
    internal void SkMemUncharge(int size)
    {
        if (MemAccount is null) return;
        ForwardAlloc += size;
        SkMemReclaim();
    }

    /// <remarks>Mirrors sk_mem_reclaim(): give back the reservation once it is at least a page.</remarks>
    internal void SkMemReclaim()
    {
        if (MemAccount is null) return;
        if (ForwardAlloc >= ProtoMemory.PageSize) SkMemReclaimAmount(ForwardAlloc);
    }

    /// <summary>The socket is going away: everything reserved goes back.</summary>
    /// <remarks>Mirrors sk_mem_reclaim_final() (called from sk_stream_kill_queues()).</remarks>
    internal void SkMemReclaimFinal()
    {
        if (MemAccount is null) return;
        if (ForwardAlloc > 0) SkMemReclaimAmount(ForwardAlloc);
    }

    /// <remarks>Mirrors __sk_mem_reclaim(): whole pages of <paramref name="amount"/> go back.</remarks>
    private void SkMemReclaimAmount(int amount)
    {
        int pages = amount >> ProtoMemory.PageShift;
        ForwardAlloc -= pages << ProtoMemory.PageShift;
        SkMemReduceAllocated(pages);
    }

    /// <remarks>Mirrors __sk_mem_reduce_allocated(): pressure ends once the account falls under tcp_mem[0].</remarks>
    private void SkMemReduceAllocated(int pages)
    {
        var m = MemAccount!;
        m.MemoryAllocated -= pages;
        if (m.UnderMemoryPressure && m.MemoryAllocated < m.MemLimit(0)) m.LeaveMemoryPressure(this);
    }

    /// <summary>Room to queue a received buffer of <paramref name="size"/> truesize bytes?</summary>
    /// <remarks>Mirrors sk_rmem_schedule() (no pfmemalloc buffers here).</remarks>
    internal bool SkRmemSchedule(int size)
    {
        if (MemAccount is null) return true;
        int delta = size - ForwardAlloc;
        return delta <= 0 || SkMemSchedule(delta, SkMemKind.Recv);
    }

    /// <summary>Room to queue a buffer of <paramref name="size"/> truesize bytes for sending?</summary>
    /// <remarks>Mirrors sk_wmem_schedule().</remarks>
    internal bool SkWmemSchedule(int size)
    {
        if (MemAccount is null) return true;
        int delta = size - ForwardAlloc;
        return delta <= 0 || SkMemSchedule(delta, SkMemKind.Send);
    }

    /// <summary>Reserves <paramref name="size"/> bytes whatever the limits say (a FIN, a SYN, the one buffer a socket always gets).</summary>
    /// <remarks>Mirrors sk_forced_mem_schedule().</remarks>
    internal void SkForcedMemSchedule(int size)
    {
        if (MemAccount is null) return;
        int delta = size - ForwardAlloc;
        if (delta <= 0) return;
        int amt = SkMemPages(delta);
        ForwardAlloc += amt << ProtoMemory.PageShift;
        MemAccount.MemoryAllocated += amt;
    }

    /// <remarks>Mirrors __sk_mem_schedule(): reserve whole pages, or nothing.</remarks>
    private bool SkMemSchedule(int size, SkMemKind kind)
    {
        int amt = SkMemPages(size);
        ForwardAlloc += amt << ProtoMemory.PageShift;
        if (SkMemRaiseAllocated(size, amt, kind)) return true;
        ForwardAlloc -= amt << ProtoMemory.PageShift;
        return false;
    }

    /// <summary>
    /// Takes <paramref name="amt"/> pages from the account. Under tcp_mem[0] always; above
    /// tcp_mem[1] pressure begins; above tcp_mem[2] never. In between a socket still gets its
    /// minimum buffer (tcp_rmem[0] / tcp_wmem[0]) and, under pressure, a socket that uses less
    /// than its fair share (the hard limit divided among all sockets).
    /// </summary>
    /// <remarks>Mirrors __sk_mem_raise_allocated() (no memcg).</remarks>
    private bool SkMemRaiseAllocated(int size, int amt, SkMemKind kind)
    {
        var m = MemAccount!;
        m.MemoryAllocated += amt;
        long allocated = m.MemoryAllocated;
        // Under limit.
        if (allocated <= m.MemLimit(0))
        {
            if (m.UnderMemoryPressure) m.LeaveMemoryPressure(this);
            return true;
        }
        // Under pressure.
        if (allocated > m.MemLimit(1)) m.EnterMemoryPressure(this);
        // Over the hard limit: the minimum-buffer guarantee does not stand here, or opening many
        // sockets would get past any limit.
        if (allocated > m.MemLimit(2)) goto suppressAllocation;
        // RFC 7323 needs a minimum buffer to work: guarantee it under pressure.
        if (kind == SkMemKind.Recv)
        {
            if (RmemAlloc < m.Rmem0(this)) return true;
        }
        else
        {
            int wmem0 = m.Wmem0(this);
            if (Type == Uapi.SocketConstants.SOCK_STREAM ? WmemQueued < wmem0 : WmemAlloc < wmem0) return true;
        }
        if (m.UnderMemoryPressure)
        {
            // Be fair among the sockets: one below the average use may still grow.
            long alloc = Math.Max(1, m.SocketsAllocated);
            if (m.MemLimit(2) > alloc * SkMemPages(WmemQueued + RmemAlloc + ForwardAlloc)) return true;
        }
    suppressAllocation:
        if (kind == SkMemKind.Send && Type == Uapi.SocketConstants.SOCK_STREAM)
        {
            SkStreamModerateSndbuf();
            // Fail only if the socket is under its sndbuf: a writer over it waits for space anyway.
            if (WmemQueued + size >= SndBuf) return true;
        }
        m.MemoryAllocated -= amt;
        return false;
    }

    /// <summary>Shrinks the send buffer to half of what is queued (at least SOCK_MIN_SNDBUF), unless SO_SNDBUF fixed it.</summary>
    /// <remarks>Mirrors sk_stream_moderate_sndbuf().</remarks>
    internal void SkStreamModerateSndbuf()
    {
        if ((UserLocks & SockSndbufLock) != 0) return;
        int val = Math.Min(SndBuf, WmemQueued >> 1);
        SndBuf = Math.Max(val, SockMinSndbuf);
    }
}
