using System.Buffers.Binary;
using NetStack.Core;
using NetStack.Net;
using NetStack.Wire;

namespace NetStack.Ipv4;

/// <summary>The key of the established hash: the 4-tuple from our side (local address and port, foreign address and port).</summary>
internal readonly struct InetEhashKey : IEquatable<InetEhashKey>
{
    /// <summary>The local and foreign addresses, an IPv4 one as ::ffff:a.b.c.d (which no native IPv6 packet carries: ipv6_rcv drops it), so one table holds both families without allocating.</summary>
    public readonly UInt128 Laddr, Faddr;
    public readonly ushort Lport, Fport;

    public InetEhashKey(uint laddr, ushort lport, uint faddr, ushort fport)
        : this(Ipv6Address.V4Mapped(laddr), lport, Ipv6Address.V4Mapped(faddr), fport) { }

    /// <summary>The key of an IPv6 connection (inet6_ehashfn()'s inputs).</summary>
    public InetEhashKey(UInt128 laddr, ushort lport, UInt128 faddr, ushort fport)
    {
        Laddr = laddr;
        Lport = lport;
        Faddr = faddr;
        Fport = fport;
    }

    public bool Equals(InetEhashKey o) => Laddr == o.Laddr && Faddr == o.Faddr && Lport == o.Lport && Fport == o.Fport;
    public override bool Equals(object? obj) => obj is InetEhashKey k && Equals(k);
    public override int GetHashCode()
    {
        ulong l = (ulong)Laddr ^ (ulong)(Laddr >> 64), f = (ulong)Faddr ^ (ulong)(Faddr >> 64);
        uint lh = (uint)l ^ (uint)(l >> 32), fh = (uint)f ^ (uint)(f >> 32);
        return (int)(lh * 0x9E3779B1u ^ fh * 0x85EBCA77u ^ ((uint)Lport << 16 | Fport) * 0xC2B2AE3Du);
    }
    public override string ToString() => Ipv6Address.IsV4Mapped(Laddr)
        ? $"{Ipv4Address.Format(Ipv6Address.V4Of(Laddr))}:{Lport} {Ipv4Address.Format(Ipv6Address.V4Of(Faddr))}:{Fport}"
        : $"[{Ipv6Address.Format(Laddr)}]:{Lport} [{Ipv6Address.Format(Faddr)}]:{Fport}";
}

/// <summary>
/// The users of one local port: sockets that bound it or connected from it, and TIME_WAIT socks
/// that still hold it.
/// <remarks>Mirrors include/net/inet_hashtables.h: struct inet_bind_bucket.</remarks>
/// </summary>
internal sealed class InetBindBucket
{
    public InetBindBucket(ushort port) => Port = port;
    /// <summary>port: set again when the bucket is reused from bind_bucket_cachep.</summary>
    public ushort Port { get; internal set; }
    /// <summary>fastreuse: -1 when created by connect() (shareable by other connects with distinct 4-tuples).</summary>
    public sbyte FastReuse;
    /// <summary>owners: TcpSock or TcpTimewaitSock.</summary>
    public readonly List<SockCommon> Owners = new();
    public override string ToString() => $"port {Port} ({Owners.Count} owners)";
}

/// <summary>
/// The TCP socket tables of one namespace: established (4-tuple -&gt; socket, request or
/// TIME_WAIT sock), listening (port -&gt; listeners) and bind (port -&gt; owners).
/// <remarks>Mirrors include/net/inet_hashtables.h: struct inet_hashinfo (ehash, lhash2, bhash).</remarks>
/// </summary>
internal sealed class InetHashinfo
{
    internal readonly Dictionary<InetEhashKey, SockCommon> Ehash = new();
    internal readonly Dictionary<ushort, List<TcpSock>> Lhash = new();
    internal readonly Dictionary<ushort, InetBindBucket> Bhash = new();
    /// <summary>bind_bucket_cachep ("tcp_bind_bucket"): the free buckets, so a connect() from a new port allocates nothing once warm.</summary>
    internal readonly KmemCache<InetBindBucket> BindBucketCachep = new("tcp_bind_bucket", NetnsIpv4.SlabLimit);
    /// <summary>table_perturb: where the next ephemeral port search starts, per destination hash.</summary>
    internal readonly uint[] TablePerturb = new uint[256];
    internal readonly Random PortRandom = new();

    /// <summary>Entries in the established hash (sockets, requests and TIME_WAIT socks).</summary>
    public int EstablishedCount => Ehash.Count;
    public int ListenerCount { get { int n = 0; foreach (var l in Lhash.Values) n += l.Count; return n; } }
    public int BindBucketCount => Bhash.Count;

    /// <summary>A snapshot of every entry (for status pages and tests; allocates).</summary>
    public List<SockCommon> Snapshot()
    {
        var all = new List<SockCommon>();
        foreach (var l in Lhash.Values) all.AddRange(l);
        all.AddRange(Ehash.Values);
        return all;
    }
}

/// <summary>
/// Lookup, hashing and port allocation for TCP sockets.
/// <remarks>Mirrors net/ipv4/inet_hashtables.c.</remarks>
/// </summary>
internal static class InetHashtables
{
    /// <summary>Finds the connection, request or TIME_WAIT sock for an incoming segment's 4-tuple.</summary>
    /// <remarks>Mirrors __inet_lookup_established().</remarks>
    public static SockCommon? InetLookupEstablished(NetNamespace net, uint saddr, ushort sport, uint daddr, ushort hnum) =>
        net.Ipv4.TcpHashinfo.Ehash.TryGetValue(new InetEhashKey(daddr, hnum, saddr, sport), out var sk) ? sk : null;

    /// <summary>The established (or request, or TIME_WAIT) sock of an IPv6 4-tuple, in the same table.</summary>
    /// <remarks>Mirrors net/ipv6/inet6_hashtables.c: __inet6_lookup_established().</remarks>
    public static SockCommon? Inet6LookupEstablished(NetNamespace net, UInt128 saddr, ushort sport, UInt128 daddr, ushort hnum) =>
        net.Ipv4.TcpHashinfo.Ehash.TryGetValue(new InetEhashKey(daddr, hnum, saddr, sport), out var sk) ? sk : null;

    /// <summary>An IPv6 listener's score: AF_INET6 only, its address the destination (or the wildcard pass with ::), the bound device.</summary>
    /// <remarks>Mirrors net/ipv6/inet6_hashtables.c: compute_score().</remarks>
    private static int Inet6ComputeScore(TcpSock sk, ushort hnum, UInt128 daddr, int dif)
    {
        if (sk.InetNum != hnum || sk.Family != SocketConstants.AF_INET6) return -1;
        if (sk.SkcV6RcvSaddr != daddr) return -1;
        if (sk.BoundDevIf != 0 && sk.BoundDevIf != dif) return -1;
        return sk.BoundDevIf != 0 ? 2 : 1;
    }

    /// <summary>The listener for an IPv6 SYN: the exact address first, then ::.</summary>
    /// <remarks>Mirrors inet6_lookup_listener() -> inet6_lhash2_lookup() (reuseport groups by inet6_ehashfn's input).</remarks>
    public static TcpSock? Inet6LookupListener(NetNamespace net, UInt128 saddr, ushort sport, UInt128 daddr, ushort hnum, int dif)
    {
        if (!net.Ipv4.TcpHashinfo.Lhash.TryGetValue(hnum, out var list)) return null;
        return Inet6Lhash2Lookup(net, list, saddr, sport, daddr, hnum, dif)
            ?? Inet6Lhash2Lookup(net, list, saddr, sport, UInt128.Zero, hnum, dif);
    }

    private static TcpSock? Inet6Lhash2Lookup(NetNamespace net, List<TcpSock> ilb2, UInt128 saddr, ushort sport, UInt128 daddr, ushort hnum, int dif)
    {
        TcpSock? result = null;
        int hiscore = 0;
        for (int i = 0; i < ilb2.Count; i++)
        {
            var sk = ilb2[i];
            int score = Inet6ComputeScore(sk, hnum, daddr, dif);
            if (score > hiscore)
            {
                if (sk.ReusePort && SockReuseport.ReuseportSelectSock(sk, Inet6Ehashfn(net, daddr, hnum, saddr, sport)) is TcpSock reuse) return reuse;
                result = sk;
                hiscore = score;
            }
        }
        return result;
    }

    /// <summary>The IPv6 4-tuple's hash (reuseport selection): the addresses folded to 32 bits each, then inet_ehashfn()'s jhash.</summary>
    /// <remarks>Mirrors inet6_ehashfn() (its jhash of the foreign address is folded here).</remarks>
    internal static uint Inet6Ehashfn(NetNamespace net, UInt128 laddr, ushort lport, UInt128 faddr, ushort fport) =>
        InetEhashfn(net, Fold32(laddr), lport, Fold32(faddr), fport);

    internal static uint Fold32(UInt128 a) => (uint)a ^ (uint)(a >> 32) ^ (uint)(a >> 64) ^ (uint)(a >> 96);

    /// <summary>A sock speaks IPv6 on the wire: an AF_INET6 sock whose peer is not a v4-mapped address (request and TIME_WAIT socks included).</summary>
    internal static InetEhashKey ReqKey(TcpRequestSock req) => req.RskOps.IsV6
        ? new(req.SkcV6RcvSaddr, req.IrNum, req.SkcV6Daddr, req.IrRmtPort)
        : new(req.IrLocAddr, req.IrNum, req.IrRmtAddr, req.IrRmtPort);

    /// <summary>A sock speaks IPv6 on the wire: an AF_INET6 sock whose peer is not a v4-mapped address (request and TIME_WAIT socks included).</summary>
    internal static bool IsNativeV6(SockCommon sk) => sk.Family == SocketConstants.AF_INET6 && !Ipv6Address.IsV4Mapped(sk.SkcV6Daddr);

    /// <summary>
    /// inet_ehash_secret: drawn once per process (net_get_random_once); each namespace adds its own
    /// <see cref="NetNamespace.HashMix"/>.
    /// </summary>
    private static readonly uint InetEhashSecret = (uint)System.Security.Cryptography.RandomNumberGenerator.GetInt32(int.MinValue, int.MaxValue);

    /// <summary>
    /// The flow hash of a 4-tuple (addresses host order here, fed to jhash as the kernel's
    /// __be32 words on a little-endian machine). The same tuple always hashes the same within a
    /// namespace; namespaces differ.
    /// </summary>
    /// <remarks>Mirrors inet_ehashfn() -> __inet_ehashfn().</remarks>
    internal static uint InetEhashfn(NetNamespace net, uint laddr, ushort lport, uint faddr, ushort fport) =>
        InetEhashfnSeeded(laddr, lport, faddr, fport, InetEhashSecret + net.HashMix);

    /// <remarks>Mirrors include/net/inet_hashtables.h: __inet_ehashfn() = jhash_3words(laddr, faddr, lport &lt;&lt; 16 | fport, initval).</remarks>
    internal static uint InetEhashfnSeeded(uint laddr, ushort lport, uint faddr, ushort fport, uint initval) =>
        Jhash.Jhash3Words(BinaryPrimitives.ReverseEndianness(laddr), BinaryPrimitives.ReverseEndianness(faddr),
            (uint)lport << 16 | BinaryPrimitives.ReverseEndianness(fport), initval);

    /// <summary>
    /// When <paramref name="sk"/> belongs to a SO_REUSEPORT group, the member that the flow's hash
    /// selects; null otherwise. Allocation-free.
    /// </summary>
    /// <remarks>Mirrors inet_lookup_reuseport() (ehashfn = inet_ehashfn for TCP, udp_ehashfn for UDP).</remarks>
    internal static Sock? InetLookupReuseport(NetNamespace net, Sock sk, uint saddr, ushort sport, uint daddr, ushort hnum, bool udp)
    {
        if (!sk.ReusePort) return null;
        uint phash = udp ? Udp.UdpEhashfn(net, daddr, hnum, saddr, sport) : InetEhashfn(net, daddr, hnum, saddr, sport);
        return SockReuseport.ReuseportSelectSock(sk, phash);
    }

    /// <summary>How well a listener matches: -1 not at all; device-bound beats unbound.</summary>
    /// <remarks>Mirrors net/ipv4/inet_hashtables.c: compute_score() (the AF_INET point, no SO_INCOMING_CPU).</remarks>
    private static int ComputeScore(TcpSock sk, ushort hnum, uint daddr, int dif)
    {
        // An IPV6_V6ONLY listener never sees IPv4 (one bound to a native IPv6 address is v6-only).
        if (sk.InetNum != hnum || sk.Ipv6only) return -1;
        if (sk.InetRcvSaddr != daddr) return -1;
        // inet_sk_bound_dev_eq() without an L3 master device (sdif = 0).
        if (sk.BoundDevIf != 0 && sk.BoundDevIf != dif) return -1;
        int score = sk.BoundDevIf != 0 ? 2 : 1;
        if (sk.Family == SocketConstants.PF_INET) score++;
        return score;
    }

    /// <summary>
    /// The best listener bound exactly to <paramref name="daddr"/> (the first of the highest
    /// score); a listener in a SO_REUSEPORT group hands over to the member the flow hash picks.
    /// </summary>
    /// <remarks>Mirrors inet_lhash2_lookup().</remarks>
    private static TcpSock? InetLhash2Lookup(NetNamespace net, List<TcpSock> ilb2, uint saddr, ushort sport, uint daddr, ushort hnum, int dif)
    {
        TcpSock? result = null;
        int hiscore = 0;
        for (int i = 0; i < ilb2.Count; i++)
        {
            var sk = ilb2[i];
            int score = ComputeScore(sk, hnum, daddr, dif);
            if (score > hiscore)
            {
                if (InetLookupReuseport(net, sk, saddr, sport, daddr, hnum, udp: false) is TcpSock reuse) return reuse;
                result = sk;
                hiscore = score;
            }
        }
        return result;
    }

    /// <summary>
    /// Finds the listener for a segment: those bound to its destination address first, then those
    /// bound to INADDR_ANY (whose reuseport hash takes the wildcard as the local address, as in Linux).
    /// </summary>
    /// <remarks>Mirrors __inet_lookup_listener(): inet_lhash2_lookup() for daddr, then for INADDR_ANY.</remarks>
    public static TcpSock? InetLookupListener(NetNamespace net, uint saddr, ushort sport, uint daddr, ushort hnum, int dif)
    {
        if (!net.Ipv4.TcpHashinfo.Lhash.TryGetValue(hnum, out var list)) return null;
        return InetLhash2Lookup(net, list, saddr, sport, daddr, hnum, dif)
            ?? InetLhash2Lookup(net, list, saddr, sport, Ipv4Address.Any, hnum, dif);
    }

    /// <summary>The full lookup for an incoming segment: established first, then listeners.</summary>
    /// <remarks>Mirrors __inet_lookup().</remarks>
    public static SockCommon? InetLookup(NetNamespace net, uint saddr, ushort sport, uint daddr, ushort dport, int dif) =>
        InetLookupEstablished(net, saddr, sport, daddr, dport) ?? InetLookupListener(net, saddr, sport, daddr, dport, dif);

    /// <summary>Adds an established sock (or request, or TIME_WAIT) under its 4-tuple; false if the tuple is taken.</summary>
    /// <remarks>Mirrors inet_ehash_insert().</remarks>
    public static bool InetEhashInsert(NetNamespace net, in InetEhashKey key, SockCommon sk) =>
        net.Ipv4.TcpHashinfo.Ehash.TryAdd(key, sk);

    /// <summary>Removes the entry for a key if it is <paramref name="sk"/>.</summary>
    public static bool InetEhashRemove(NetNamespace net, in InetEhashKey key, SockCommon sk)
    {
        var ehash = net.Ipv4.TcpHashinfo.Ehash;
        if (ehash.TryGetValue(key, out var cur) && ReferenceEquals(cur, sk))
        {
            ehash.Remove(key);
            return true;
        }
        return false;
    }

    /// <summary>The established-hash key of a connected socket.</summary>
    public static InetEhashKey EhashKey(InetSock sk) => IsNativeV6(sk)
        ? new(sk.SkcV6RcvSaddr, sk.InetNum, sk.SkcV6Daddr, sk.InetDport)
        : new(sk.InetRcvSaddr, sk.InetNum, sk.InetDaddr, sk.InetDport);

    /// <summary>Puts a socket in the listening hash, or an established one in the established hash.</summary>
    /// <remarks>Mirrors inet_hash() / __inet_hash().</remarks>
    public static int InetHash(TcpSock sk)
    {
        if (sk.State == TcpState.Close) return 0;
        var h = sk.Net.Ipv4.TcpHashinfo;
        if (sk.State != TcpState.Listen)
        {
            InetEhashInsert(sk.Net, EhashKey(sk), sk);
            sk.Hashed = true;
            return 0;
        }
        if (!h.Lhash.TryGetValue(sk.InetNum, out var list)) h.Lhash[sk.InetNum] = list = new List<TcpSock>(1);
        if (sk.ReusePort)
        {
            int err = InetReuseportAddSock(sk, list);
            if (err != 0)
            {
                if (list.Count == 0) h.Lhash.Remove(sk.InetNum);
                return err;
            }
        }
        // AF_INET listeners go to the head (only AF_INET6 reuseport listeners go to the tail).
        if (sk.ReusePort && sk.Family == SocketConstants.AF_INET6) list.Add(sk);
        else list.Insert(0, sk);
        sk.Hashed = true;
        return 0;
    }

    /// <summary>
    /// A SO_REUSEPORT listener joins the group of a listener on the same port, address and device
    /// owned by the same user, or starts one.
    /// </summary>
    /// <remarks>Mirrors inet_reuseport_add_sock() (inet_rcv_saddr_equal with match_wildcard = false).</remarks>
    private static int InetReuseportAddSock(TcpSock sk, List<TcpSock> ilb)
    {
        var tb = sk.BindHash;
        uint uid = sk.Uid;
        for (int i = 0; i < ilb.Count; i++)
        {
            var sk2 = ilb[i];
            if (sk2 != sk && sk2.Family == sk.Family && sk.BoundDevIf == sk2.BoundDevIf &&
                sk2.BindHash == tb && sk2.ReusePort && uid == sk2.Uid &&
                InetConnectionSock.InetRcvSaddrEqual(sk, sk2, matchWildcard: false))
                return SockReuseport.ReuseportAddSock(sk, sk2, sk.InetRcvSaddr == Ipv4Address.Any);
        }
        return SockReuseport.ReuseportAlloc(sk, sk.InetRcvSaddr == Ipv4Address.Any);
    }

    /// <remarks>Mirrors inet_unhash().</remarks>
    public static void InetUnhash(TcpSock sk)
    {
        if (!sk.Hashed) return;
        var h = sk.Net.Ipv4.TcpHashinfo;
        if (sk.State == TcpState.Listen)
        {
            if (sk.ReuseportCb is not null) SockReuseport.ReuseportStopListenSock(sk);
            if (h.Lhash.TryGetValue(sk.InetNum, out var list))
            {
                list.Remove(sk);
                if (list.Count == 0) h.Lhash.Remove(sk.InetNum);
            }
        }
        else
        {
            InetEhashRemove(sk.Net, EhashKey(sk), sk);
        }
        sk.Hashed = false;
    }

    /// <summary>Gets (or creates) the bind bucket for a port.</summary>
    /// <remarks>Mirrors inet_bind_bucket_create().</remarks>
    internal static InetBindBucket InetBindBucketCreate(InetHashinfo h, ushort port, out bool created)
    {
        created = false;
        if (!h.Bhash.TryGetValue(port, out var tb))
        {
            // kmem_cache_alloc(cachep): a bucket given back empty (no owners) by inet_bind_bucket_destroy().
            tb = h.BindBucketCachep.Alloc() ?? new InetBindBucket(port);
            tb.Port = port;
            tb.FastReuse = 0;
            h.Bhash[port] = tb;
            created = true;
        }
        return tb;
    }

    /// <summary>Records that <paramref name="sk"/> owns the bucket's port.</summary>
    /// <remarks>Mirrors inet_bind_hash().</remarks>
    public static void InetBindHash(TcpSock sk, InetBindBucket tb, ushort snum)
    {
        sk.InetNum = snum;
        sk.BindHash = tb;
        tb.Owners.Add(sk);
    }

    /// <summary>Releases the socket's port; the bucket goes when its last owner does.</summary>
    /// <remarks>Mirrors inet_put_port() / __inet_put_port().</remarks>
    public static void InetPutPort(TcpSock sk)
    {
        var tb = sk.BindHash;
        if (tb is null) return;
        tb.Owners.Remove(sk);
        sk.BindHash = null;
        sk.InetNum = 0;
        InetBindBucketDestroy(sk.Net.Ipv4.TcpHashinfo, tb);
    }

    /// <summary>A TIME_WAIT sock leaves its port.</summary>
    internal static void TwPutPort(NetNamespace net, TcpTimewaitSock tw)
    {
        var tb = tw.TwTb;
        if (tb is null) return;
        tb.Owners.Remove(tw);
        tw.TwTb = null;
        InetBindBucketDestroy(net.Ipv4.TcpHashinfo, tb);
    }

    /// <summary>
    /// The bucket goes with its last owner, back to the cache: every owner clears its pointer
    /// (BindHash, tw_tb) as it leaves, so nothing refers to an empty bucket once it is out of the table.
    /// </summary>
    /// <remarks>Mirrors inet_bind_bucket_destroy() -> kmem_cache_free(cachep, tb).</remarks>
    private static void InetBindBucketDestroy(InetHashinfo h, InetBindBucket tb)
    {
        if (tb.Owners.Count != 0) return;
        if (h.Bhash.TryGetValue(tb.Port, out var cur) && ReferenceEquals(cur, tb)) h.Bhash.Remove(tb.Port);
        else return; // not (or no longer) in the table: freed once already, or never entered
        h.BindBucketCachep.Free(tb);
    }

    /// <summary>
    /// Is the 4-tuple (our address, <paramref name="lport"/>, peer) free? A TIME_WAIT sock holding
    /// it may be taken over when tcp_tw_reuse allows (the default, 2, allows it for loopback only).
    /// </summary>
    /// <remarks>Mirrors __inet_check_established() with tcp_twsk_unique().</remarks>
    private static bool InetCheckEstablished(TcpSock sk, ushort lport, out TcpTimewaitSock? twOut)
    {
        twOut = null;
        var key = IsNativeV6(sk)
            ? new InetEhashKey(sk.SkcV6RcvSaddr, lport, sk.SkcV6Daddr, sk.InetDport)
            : new InetEhashKey(sk.InetRcvSaddr, lport, sk.InetDaddr, sk.InetDport);
        if (!sk.Net.Ipv4.TcpHashinfo.Ehash.TryGetValue(key, out var other)) return true;
        if (other is TcpTimewaitSock tw && TcpMinisocks.TcpTwskUnique(sk, tw))
        {
            twOut = tw;
            return true;
        }
        return false;
    }

    /// <summary>
    /// Binds an ephemeral port for connect() (unless the socket is bound already) and enters the
    /// socket in the established hash: ports of even parity first (bind(0) prefers odd ones), a
    /// start point keyed by the destination, and a port shared with other connecting sockets only
    /// when the 4-tuples differ. -EADDRNOTAVAIL when the range is exhausted.
    /// </summary>
    /// <remarks>Mirrors inet_hash_connect() -> __inet_hash_connect().</remarks>
    public static int InetHashConnect(TcpSock sk)
    {
        var net = sk.Net;
        var h = net.Ipv4.TcpHashinfo;
        if (sk.InetNum != 0)
        {
            // Bound already: only the 4-tuple must be unique.
            if (!InetCheckEstablished(sk, sk.InetNum, out var tw0)) return -Errno.EADDRNOTAVAIL;
            if (tw0 is not null) TcpMinisocks.InetTwskDeschedulePut(net, tw0);
            InetHash(sk);
            return 0;
        }
        int low = net.Ipv4.Sysctl.IpLocalPortRangeLow, high = net.Ipv4.Sysctl.IpLocalPortRangeHigh + 1;
        uint remaining = (uint)(high - low);
        if (remaining > 1) remaining &= ~1u;
        // inet6_hash_connect(): secure_ipv6_port_ephemeral() for an IPv6 connection.
        ulong portOffset = IsNativeV6(sk)
            ? SecureSeq.SecureIpv6PortEphemeral(net, sk.SkcV6RcvSaddr, sk.SkcV6Daddr, sk.InetDport)
            : SecureSeq.SecureIpv4PortEphemeral(net, sk.InetRcvSaddr, sk.InetDaddr, sk.InetDport);
        uint index = (uint)portOffset & (uint)(h.TablePerturb.Length - 1);
        uint offset = unchecked(h.TablePerturb[index] + (uint)(portOffset >> 32));
        offset %= remaining;
        offset &= ~1u;
        const int step = 2;
        while (true)
        {
            uint port = (uint)low + offset;
            for (uint i = 0; i < remaining; i += step, port += step)
            {
                if (port >= high) port -= remaining;
                ushort p = (ushort)port;
                if (h.Bhash.TryGetValue(p, out var tb))
                {
                    // A port bound by bind() is not shared with connect().
                    if (tb.FastReuse >= 0) continue;
                    if (!InetCheckEstablished(sk, p, out var tw)) continue;
                    Ok(tb, p, i, tw);
                    return 0;
                }
                tb = InetBindBucketCreate(h, p, out _);
                tb.FastReuse = -1;
                Ok(tb, p, i, null);
                return 0;
            }
            offset++;
            if ((offset & 1) != 0 && remaining > 1) continue;
            return -Errno.EADDRNOTAVAIL;
        }

        void Ok(InetBindBucket tb, ushort p, uint i, TcpTimewaitSock? tw)
        {
            // A little randomness in where the next search starts (max with a random step).
            uint add = Math.Max(i, (uint)h.PortRandom.Next(8) * step);
            h.TablePerturb[index] = unchecked(h.TablePerturb[index] + add + step);
            InetBindHash(sk, tb, p);
            // The TIME_WAIT sock leaves the port only once the socket owns it: were it the port's
            // last owner, the bucket would otherwise go (back to its cache) under the socket.
            if (tw is not null) TcpMinisocks.InetTwskDeschedulePut(net, tw);
            sk.InetSport = p;
            InetHash(sk);
        }
    }
}
