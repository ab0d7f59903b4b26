namespace NetStack.Core;

/// <summary>
/// A SO_REUSEPORT group: the sockets of one owner bound to the same address and port, among which
/// incoming connections (TCP) or datagrams (UDP) are spread by a hash of the flow. A socket joins
/// when it is hashed (listen() for TCP, bind() for UDP) and leaves when it is unhashed, the last
/// member moving into the leaver's slot, so a group of n always fills socks[0..n).
/// <remarks>Mirrors include/net/sock_reuseport.h: struct sock_reuseport, and net/core/sock_reuseport.c.</remarks>
/// </summary>
internal sealed class SockReuseport
{
    /// <summary>INIT_SOCKS: the first size of a group's array (it doubles as the group grows).</summary>
    private const int InitSocks = 128;
    /// <summary>U16_MAX: the largest group (num_socks is a u16).</summary>
    private const int MaxGroupSocks = ushort.MaxValue;

    /// <summary>socks[]: the listening members first (num_socks of them).</summary>
    internal Sock[] Socks;
    /// <summary>num_socks: members that receive.</summary>
    internal int NumSocks;
    /// <summary>bind_inany: the group is bound to INADDR_ANY.</summary>
    internal bool BindInany;
    /// <summary>has_conns: a member has connected (UDP), so the lookup scores instead of picking by hash alone.</summary>
    internal bool HasConns;

    private SockReuseport(int maxSocks) => Socks = new Sock[maxSocks];

    /// <summary>The number of members that receive (for tests and status pages).</summary>
    public int Count => NumSocks;

    /// <summary>
    /// Makes <paramref name="sk"/> the first member of a new group, unless it is in one already.
    /// Binding (not the packet path) allocates.
    /// </summary>
    /// <remarks>Mirrors reuseport_alloc() (without the closed-socket resurrection of tcp_migrate_req).</remarks>
    public static int ReuseportAlloc(Sock sk, bool bindInany)
    {
        var reuse = sk.ReuseportCb;
        if (reuse is not null)
        {
            // Only set bind_inany if it is true: otherwise it would overwrite what the bind/hash path set.
            if (bindInany) reuse.BindInany = true;
            return 0;
        }
        reuse = new SockReuseport(InitSocks) { BindInany = bindInany };
        reuse.Socks[0] = sk;
        reuse.NumSocks = 1;
        sk.ReuseportCb = reuse;
        return 0;
    }

    /// <summary>A group twice as large with the same members (-ENOMEM past U16_MAX members).</summary>
    /// <remarks>Mirrors reuseport_grow().</remarks>
    private static SockReuseport? ReuseportGrow(SockReuseport reuse)
    {
        int more = reuse.Socks.Length * 2;
        if (reuse.Socks.Length >= MaxGroupSocks) return null;
        if (more > MaxGroupSocks) more = MaxGroupSocks;
        var more_reuse = new SockReuseport(more) { BindInany = reuse.BindInany, HasConns = reuse.HasConns };
        Array.Copy(reuse.Socks, more_reuse.Socks, reuse.NumSocks);
        more_reuse.NumSocks = reuse.NumSocks;
        for (int i = 0; i < reuse.NumSocks; i++) reuse.Socks[i].ReuseportCb = more_reuse;
        return more_reuse;
    }

    /// <summary>
    /// Adds <paramref name="sk"/> to the group of <paramref name="sk2"/> (making one for sk2 first
    /// if it has none). -EBUSY if sk already belongs to a group with other members.
    /// </summary>
    /// <remarks>Mirrors reuseport_add_sock() -> __reuseport_add_sock().</remarks>
    public static int ReuseportAddSock(Sock sk, Sock sk2, bool bindInany)
    {
        if (sk2.ReuseportCb is null)
        {
            int err = ReuseportAlloc(sk2, bindInany);
            if (err != 0) return err;
        }
        var reuse = sk2.ReuseportCb!;
        var oldReuse = sk.ReuseportCb;
        if (oldReuse is not null && oldReuse.NumSocks != 1) return -Errno.EBUSY;
        if (reuse.NumSocks == reuse.Socks.Length)
        {
            reuse = ReuseportGrow(reuse);
            if (reuse is null) return -Errno.ENOMEM;
        }
        reuse.Socks[reuse.NumSocks] = sk;
        reuse.NumSocks++;
        sk.ReuseportCb = reuse;
        return 0;
    }

    /// <summary>Takes <paramref name="sk"/> out of its group: the last member moves into its slot.</summary>
    /// <remarks>Mirrors reuseport_detach_sock() -> __reuseport_detach_sock().</remarks>
    public static void ReuseportDetachSock(Sock sk)
    {
        var reuse = sk.ReuseportCb;
        if (reuse is null) return;
        sk.ReuseportCb = null;
        for (int i = 0; i < reuse.NumSocks; i++)
        {
            if (!ReferenceEquals(reuse.Socks[i], sk)) continue;
            reuse.Socks[i] = reuse.Socks[reuse.NumSocks - 1];
            reuse.NumSocks--;
            reuse.Socks[reuse.NumSocks] = null!;
            return;
        }
    }

    /// <summary>
    /// A listener stops: without tcp_migrate_req it leaves its group at once (its pending
    /// connections are not handed to another member).
    /// </summary>
    /// <remarks>Mirrors reuseport_stop_listen_sock() with net.ipv4.tcp_migrate_req = 0 and no BPF program.</remarks>
    public static void ReuseportStopListenSock(Sock sk) => ReuseportDetachSock(sk);

    /// <summary>
    /// Picks the member for a flow hash: reciprocal_scale(hash, n), skipping connected members
    /// (a UDP socket that connected receives through the scoring instead).
    /// </summary>
    /// <remarks>Mirrors reuseport_select_sock_by_hash() (no SO_INCOMING_CPU preference).</remarks>
    private static Sock? ReuseportSelectSockByHash(SockReuseport reuse, uint hash, int numSocks)
    {
        int i, j;
        i = j = (int)Jhash.ReciprocalScale(hash, (uint)numSocks);
        do
        {
            var sk = reuse.Socks[i];
            if (sk.State != TcpState.Established) return sk;
            i++;
            if (i >= numSocks) i = 0;
        } while (i != j);
        return null;
    }

    /// <summary>
    /// The member of <paramref name="sk"/>'s group that receives a flow of this hash, or null
    /// when sk is in no group. No allocation: the packet path calls it.
    /// </summary>
    /// <remarks>Mirrors reuseport_select_sock() without an attached BPF program (select_by_hash).</remarks>
    public static Sock? ReuseportSelectSock(Sock sk, uint hash)
    {
        var reuse = sk.ReuseportCb;
        if (reuse is null) return null;
        int socks = reuse.NumSocks;
        return socks != 0 ? ReuseportSelectSockByHash(reuse, hash, socks) : null;
    }

    /// <summary>True when a member of sk's group has connected.</summary>
    /// <remarks>Mirrors include/net/sock_reuseport.h: reuseport_has_conns().</remarks>
    public static bool ReuseportHasConns(Sock sk) => sk.ReuseportCb is { HasConns: true };

    /// <summary>Marks sk's group as holding a connected member.</summary>
    /// <remarks>Mirrors reuseport_has_conns_set().</remarks>
    public static void ReuseportHasConnsSet(Sock sk)
    {
        if (sk.ReuseportCb is { } reuse) reuse.HasConns = true;
    }
}
