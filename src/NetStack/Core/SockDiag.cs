namespace NetStack.Core;

/// <summary>
/// What sock_diag reports of any socket, whatever its family: the memory it holds
/// (SK_MEMINFO_*), its cookie, and the inode numbers sockets get.
/// </summary>
/// <remarks>Mirrors net/core/sock_diag.c (sock_gen_cookie(), sock_diag_put_meminfo()) and sk_get_meminfo() of net/core/sock.c.</remarks>
public static class SockDiag
{
    /// <summary>The number of SK_MEMINFO_* fields (SK_MEMINFO_VARS).</summary>
    public const int SkMeminfoVars = 9;

    /// <summary>Indexes into <see cref="SkGetMeminfo"/>'s array, as include/uapi/linux/sock_diag.h numbers them.</summary>
    public const int SkMeminfoRmemAlloc = 0, SkMeminfoRcvbuf = 1, SkMeminfoWmemAlloc = 2, SkMeminfoSndbuf = 3, SkMeminfoFwdAlloc = 4,
        SkMeminfoWmemQueued = 5, SkMeminfoOptmem = 6, SkMeminfoBacklog = 7, SkMeminfoDrops = 8;

    /// <summary>The next inode number for a new socket of <paramref name="net"/>, from one counter per stack (the kernel's is system-wide).</summary>
    /// <remarks>Mirrors fs/inode.c: get_next_ino().</remarks>
    public static ulong GetNextIno(NetNamespace net)
    {
        ArgumentNullException.ThrowIfNull(net);
        return (ulong)Interlocked.Increment(ref net.LastIno);
    }

    /// <summary>The sock's cookie, given on first request from <paramref name="net"/>'s increasing counter (never 0) and kept for its life; a time-wait sock keeps its socket's.</summary>
    /// <remarks>Mirrors net/core/sock_diag.c: sock_gen_cookie() (gen_cookie_next()).</remarks>
    public static ulong SockGenCookie(NetNamespace net, SockCommon sk)
    {
        ArgumentNullException.ThrowIfNull(net);
        ArgumentNullException.ThrowIfNull(sk);
        if (sk.Cookie == 0)
        {
            ulong c = (ulong)Interlocked.Increment(ref net.LastCookie);
            // Two threads asking at once agree on the first value stored (atomic64_cmpxchg).
            Interlocked.CompareExchange(ref sk.Cookie, c, 0);
        }
        return Volatile.Read(ref sk.Cookie);
    }

    /// <summary>
    /// The memory a sock holds, as `ss -m` shows it (skmem:(r,rb,t,tb,f,w,o,bl,d)): receive queue
    /// (sk_rmem_alloc), receive buffer (sk_rcvbuf), buffers sent and not yet freed (sk_wmem_alloc),
    /// send buffer (sk_sndbuf), forward allocation, write queue (sk_wmem_queued), option memory,
    /// backlog and drops (sk_drops). This stack has no page-based memory accounting, no
    /// socket option memory and no backlog (softirq and process context share one lock, so a
    /// segment never finds its socket owned): SK_MEMINFO_FWD_ALLOC, SK_MEMINFO_OPTMEM and
    /// SK_MEMINFO_BACKLOG are always 0.
    /// </summary>
    /// <remarks>Mirrors net/core/sock.c: sk_get_meminfo().</remarks>
    public static void SkGetMeminfo(Sock sk, Span<uint> mem)
    {
        ArgumentNullException.ThrowIfNull(sk);
        if (mem.Length < SkMeminfoVars) throw new ArgumentException($"needs {SkMeminfoVars} entries", nameof(mem));
        mem[SkMeminfoRmemAlloc] = (uint)sk.RmemAlloc;
        mem[SkMeminfoRcvbuf] = (uint)sk.RcvBuf;
        mem[SkMeminfoWmemAlloc] = (uint)sk.WmemAlloc;
        mem[SkMeminfoSndbuf] = (uint)sk.SndBuf;
        mem[SkMeminfoFwdAlloc] = 0;
        mem[SkMeminfoWmemQueued] = (uint)sk.WmemQueued;
        mem[SkMeminfoOptmem] = 0;
        mem[SkMeminfoBacklog] = 0;
        mem[SkMeminfoDrops] = (uint)sk.Drops;
    }
}
