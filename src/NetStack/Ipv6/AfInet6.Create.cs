using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Ipv6;

/// <summary>
/// PF_INET6's entry in net_families[].
/// <remarks>Mirrors net/ipv6/af_inet6.c: static const struct net_proto_family inet6_family_ops.</remarks>
/// </summary>
internal sealed class Inet6FamilyOps : NetProtoFamily
{
    public static readonly Inet6FamilyOps Instance = new();
    public override int Family => PF_INET6;
    public override int Create(NetNamespace net, BsdSocket sock, int protocol, bool kern, FdTable caller) =>
        AfInet6.Inet6Create(net, sock, protocol, kern, caller);
}

/// <summary>The (type, protocol) pairs of AF_INET6 (the same struct inet_protosw as AF_INET's).</summary>
public static class Inet6Protosw
{
    /// <summary>
    /// What inet6_init() registers, in its order: rawv6_protosw (rawv6_init), pingv6_protosw
    /// (pingv6_init), udpv6_protosw (udpv6_init), tcpv6_protosw (tcpv6_init). The permanent UDP entry
    /// goes before the non-permanent ping one, so a wildcard SOCK_DGRAM is UDP.
    /// </summary>
    /// <remarks>Mirrors net/ipv6/raw.c: rawv6_protosw, net/ipv6/ping.c: pingv6_protosw, net/ipv6/udp.c:
    /// udpv6_protosw, net/ipv6/tcp_ipv6.c: tcpv6_protosw.</remarks>
    public static InetProtosw[] Inetsw6Array =>
    [
        new(type: SOCK_RAW, protocol: IPPROTO_IP /* wild card */, prot: RawV6Prot.Instance, ops: Inet6SockrawOps.Instance,
            flags: InetProtosw.INET_PROTOSW_REUSE),
        new(type: SOCK_DGRAM, protocol: IPPROTO_ICMPV6, prot: PingV6Prot.Instance, ops: Inet6SockrawOps.Instance,
            flags: InetProtosw.INET_PROTOSW_REUSE),
        new(type: SOCK_DGRAM, protocol: IPPROTO_UDP, prot: UdpV6Prot.Instance, ops: Inet6DgramOps.Instance,
            flags: InetProtosw.INET_PROTOSW_PERMANENT),
        new(type: SOCK_STREAM, protocol: IPPROTO_TCP, prot: TcpV6Prot.Instance, ops: Inet6StreamOps.Instance,
            flags: InetProtosw.INET_PROTOSW_PERMANENT | InetProtosw.INET_PROTOSW_ICSK),
    ];
}

public static partial class AfInet6
{
    /// <summary>
    /// Creates an AF_INET6 socket: the (type, protocol) pair from inetsw6[sock.Type] as inet_create
    /// finds it in inetsw[], then the sock with both its IPv6 part (ipv6_pinfo: hop limit -1,
    /// IPV6_PMTUDISC_WANT, ipv6only from net.ipv6.bindv6only) and the IPv4 part a dual-stack socket
    /// uses for v4-mapped peers. Returns 0 or a negative errno: -EINVAL (protocol out of range),
    /// -ESOCKTNOSUPPORT (no entry for the type), -EPROTONOSUPPORT (entries, none matches), -EPERM
    /// (SOCK_RAW without CAP_NET_RAW from a user), -ENOBUFS, or the protocol's hash/init error.
    /// </summary>
    /// <remarks>Mirrors net/ipv6/af_inet6.c: inet6_create().</remarks>
    public static int Inet6Create(NetNamespace net, BsdSocket sock, int protocol, bool kern, FdTable caller)
    {
        if (protocol < 0 || protocol >= IPPROTO_MAX) return -Errno.EINVAL;
        // sock_alloc_inode() leaves every new socket SS_UNCONNECTED (inet_create sets it once more);
        // this stack's sock_alloc leaves it to the family.
        sock.State = SocketState.Unconnected;

        // Look for the requested type/protocol pair.
        int err;
        InetProtosw? answer;
        var ns = net.Inet6;
        lock (ns.Inetsw6) err = InetProtosw.Lookup(ns.Inetsw6[sock.Type], ref protocol, out answer);
        // (No request_module() retries: every protocol is registered at init.)
        if (answer is null) return err != 0 ? err : -Errno.EPROTONOSUPPORT;

        if (sock.Type == SOCK_RAW && !kern && !caller.CapNetRaw) return -Errno.EPERM;

        sock.Ops = answer.Ops;
        var answerProt = answer.Prot;
        int answerFlags = answer.Flags;

        var sk = Sock.SkAlloc(net, PF_INET6, answerProt, kern);
        if (sk is null) return -Errno.ENOBUFS;

        Sock.SockInitData(sock, sk);

        if ((InetProtosw.INET_PROTOSW_REUSE & answerFlags) != 0) sk.Reuse = Sock.SkCanReuse;

        var inet = (InetSock)sk;
        inet.IsIcsk = (InetProtosw.INET_PROTOSW_ICSK & answerFlags) != 0;

        if (SOCK_RAW == sock.Type)
        {
            inet.InetNum = (ushort)protocol;
            if (IPPROTO_RAW == protocol) inet.Hdrincl = true;
        }

        sk.Family = PF_INET6;
        sk.Protocol = (ushort)protocol;

        // inet_sk(sk)->pinet6 = np = inet6_sk_generic(sk): hop_limit -1, mcast_hops
        // IPV6_DEFAULT_MCASTHOPS, MC6_LOOP, MC6_ALL, pmtudisc IPV6_PMTUDISC_WANT (the initializers).
        inet.Pinet6 = Ipv6Pinfo.Alloc(inet);
        sk.Ipv6only = ns.Bindv6only;

        // Init the ipv4 part of the socket since we can have sockets using v6 API for ipv4.
        inet.UcTtl = -1;
        inet.McLoop = true;
        inet.McTtl = 1;
        inet.McIndex = 0;
        inet.RcvTos = 0;
        inet.Pmtudisc = net.Ipv4.Sysctl.IpNoPmtuDisc ? IP_PMTUDISC_DONT : IP_PMTUDISC_WANT;
        answerProt.SocketsAllocated++;

        if (inet.InetNum != 0)
        {
            // It assumes that any protocol which allows the user to assign a number at socket
            // creation time automatically shares.
            inet.InetSport = inet.InetNum;
            err = sk.Prot.Hash(sk);
            if (err != 0)
            {
                AfInet.SkCommonRelease(sk);
                sock.Sk = null;
                return err;
            }
        }
        err = sk.Prot.Init(sk);
        if (err != 0)
        {
            AfInet.SkCommonRelease(sk);
            sock.Sk = null;
            return err;
        }
        return 0;
    }

    /// <summary>
    /// Adds a (type, protocol) pair to inetsw6[], with inet_register_protosw()'s rules: a permanent
    /// entry cannot be overridden (-EEXIST here; the kernel logs it), new entries go after the last
    /// permanent one; -EINVAL for a type out of range.
    /// </summary>
    /// <remarks>Mirrors net/ipv6/af_inet6.c: inet6_register_protosw().</remarks>
    public static int Inet6RegisterProtosw(NetNamespace net, InetProtosw p)
    {
        var ns = net.Inet6;
        lock (ns.Inetsw6)
        {
            if (p.Type < 0 || p.Type >= SOCK_MAX) return AfInet.RegisterIllegal;
            var list = ns.Inetsw6[p.Type];
            int lastPerm = 0;
            for (int i = 0; i < list.Count; i++)
            {
                var answer = list[i];
                // Check only the non-wild match.
                if ((InetProtosw.INET_PROTOSW_PERMANENT & answer.Flags) == 0) break;
                if (p.Protocol == answer.Protocol) return AfInet.RegisterPermanent;
                lastPerm = i + 1;
            }
            list.Insert(lastPerm, p);
            return 0;
        }
    }

    /// <summary>Removes an entry from inetsw6[]; a permanent one stays (-EPERM).</summary>
    /// <remarks>Mirrors net/ipv6/af_inet6.c: inet6_unregister_protosw().</remarks>
    public static int Inet6UnregisterProtosw(NetNamespace net, InetProtosw p)
    {
        if ((InetProtosw.INET_PROTOSW_PERMANENT & p.Flags) != 0) return -Errno.EPERM;
        if (p.Type < 0 || p.Type >= SOCK_MAX) return -Errno.EINVAL;
        var ns = net.Inet6;
        lock (ns.Inetsw6) return ns.Inetsw6[p.Type].Remove(p) ? 0 : -Errno.ENOENT;
    }
}
