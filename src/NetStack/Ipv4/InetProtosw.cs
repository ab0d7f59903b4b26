using NetStack.Core;
using NetStack.Net;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Ipv4;

/// <summary>
/// One (type, protocol) pair an AF_INET socket can be created with, and what it is made of:
/// the transport (<see cref="Prot"/>) and the socket-layer operations (<see cref="Ops"/>).
/// <remarks>Mirrors include/net/protocol.h: struct inet_protosw.</remarks>
/// </summary>
public sealed class InetProtosw
{
    /// <summary>INET_PROTOSW_REUSE: the sock starts with sk_reuse = SK_CAN_REUSE (ping, raw).</summary>
    public const int INET_PROTOSW_REUSE = 0x01;
    /// <summary>INET_PROTOSW_PERMANENT: cannot be removed or overridden (TCP, UDP).</summary>
    public const int INET_PROTOSW_PERMANENT = 0x02;
    /// <summary>INET_PROTOSW_ICSK: the sock is an inet_connection_sock.</summary>
    public const int INET_PROTOSW_ICSK = 0x04;

    /// <summary>An entry for socket(AF_INET, <paramref name="type"/>, <paramref name="protocol"/>); register it with <see cref="AfInet.InetRegisterProtosw"/> to make the pair creatable.</summary>
    /// <param name="type">The socket type (SOCK_STREAM, SOCK_DGRAM, SOCK_RAW).</param>
    /// <param name="protocol">The L4 protocol number, or IPPROTO_IP as a wildcard.</param>
    /// <param name="prot">The transport (struct proto) its socks use.</param>
    /// <param name="ops">The socket-layer operations (struct proto_ops) its sockets use.</param>
    /// <param name="flags">INET_PROTOSW_* flags.</param>
    public InetProtosw(int type, int protocol, Proto prot, ProtoOps ops, int flags)
    {
        Type = type;
        Protocol = protocol;
        Prot = prot;
        Ops = ops;
        Flags = flags;
    }

    /// <summary>->type: the second argument to socket(2).</summary>
    public int Type { get; }
    /// <summary>->protocol: the L4 protocol number, or IPPROTO_IP as a wildcard.</summary>
    public int Protocol { get; }
    /// <summary>->prot: the transport (struct proto) the sock is made with.</summary>
    public Proto Prot { get; }
    /// <summary>->ops: the socket-layer operations (struct proto_ops) the socket gets.</summary>
    public ProtoOps Ops { get; }
    /// <summary>INET_PROTOSW_* flags.</summary>
    public int Flags { get; }

    /// <summary>
    /// The walk over one type's list that inet_create() and inet6_create() both make: an exact
    /// (type, protocol) match, or either wildcard (IPPROTO_IP asked: the first entry, whose protocol
    /// becomes the socket's; an IPPROTO_IP entry: any protocol).
    /// </summary>
    /// <returns>0 with <paramref name="answer"/> set; -ESOCKTNOSUPPORT when the type has no entry,
    /// -EPROTONOSUPPORT when none matches (the kernel's err at the end of its loop).</returns>
    internal static int Lookup(List<InetProtosw> entries, ref int protocol, out InetProtosw? answer)
    {
        int err = -Errno.ESOCKTNOSUPPORT;
        answer = null;
        foreach (var entry in entries)
        {
            err = 0;
            // Check the non-wild match.
            if (protocol == entry.Protocol)
            {
                if (protocol != IPPROTO_IP) { answer = entry; return 0; }
            }
            else
            {
                // Check for the two wild cases.
                if (IPPROTO_IP == protocol)
                {
                    protocol = entry.Protocol;
                    answer = entry;
                    return 0;
                }
                if (IPPROTO_IP == entry.Protocol) { answer = entry; return 0; }
            }
            err = -Errno.EPROTONOSUPPORT;
        }
        return err;
    }

    /// <summary>A debugging description: type, protocol, transport, operations and flags.</summary>
    public override string ToString() => $"{{type {Type}, protocol {Protocol}, {Prot.Name}, {Ops.GetType().Name}, flags {Flags}}}";

    /// <summary>
    /// inetsw_array[]: what inet_init() registers, in the kernel's order.
    /// <remarks>Mirrors net/ipv4/af_inet.c: static struct inet_protosw inetsw_array[].</remarks>
    /// </summary>
    public static InetProtosw[] InetswArray =>
    [
        new(type: SOCK_STREAM, protocol: IPPROTO_TCP, prot: TcpProt.Instance, ops: InetStreamOps.Instance,
            flags: INET_PROTOSW_PERMANENT | INET_PROTOSW_ICSK),
        new(type: SOCK_DGRAM, protocol: IPPROTO_UDP, prot: UdpProt.Instance, ops: InetDgramOps.Instance,
            flags: INET_PROTOSW_PERMANENT),
        new(type: SOCK_DGRAM, protocol: IPPROTO_ICMP, prot: PingProt.Instance, ops: InetSockrawOps.Instance,
            flags: INET_PROTOSW_REUSE),
        new(type: SOCK_RAW, protocol: IPPROTO_IP /* wild card */, prot: RawProt.Instance, ops: InetSockrawOps.Instance,
            flags: INET_PROTOSW_REUSE),
    ];
}

public static partial class AfInet
{
    /// <summary>Why <see cref="InetRegisterProtosw"/> refused an entry (the kernel only logs it).</summary>
    public const int RegisterIllegal = -Errno.EINVAL, RegisterPermanent = -Errno.EEXIST;

    /// <summary>
    /// Adds a (type, protocol) pair to inetsw[]. An entry cannot override a permanent one with the
    /// same protocol (the kernel logs "Attempt to override permanent protocol"; here -EEXIST), and
    /// goes after the last permanent entry, so a wildcard lookup still finds the permanent one
    /// first while any non-permanent entry can be overridden (and comes back on unregister).
    /// Returns 0, or -EINVAL for a type out of range.
    /// </summary>
    /// <remarks>Mirrors net/ipv4/af_inet.c: inet_register_protosw().</remarks>
    public static int InetRegisterProtosw(NetNamespace net, InetProtosw p)
    {
        lock (net.SyncRoot)
        {
            if (p.Type < 0 || p.Type >= SOCK_MAX) return RegisterIllegal; // out_illegal
            var list = net.Ipv4.Inetsw[p.Type];
            // If we are trying to override a permanent protocol, bail.
            int lastPerm = 0; // insertion index: after the last permanent entry
            for (int i = 0; i < list.Count; i++)
            {
                var answer = list[i];
                // Check only the non-wild match.
                if ((InetProtosw.INET_PROTOSW_PERMANENT & answer.Flags) == 0) break;
                if (p.Protocol == answer.Protocol) return RegisterPermanent; // out_permanent
                lastPerm = i + 1;
            }
            // list_add_rcu(&p->list, last_perm): right after the last permanent entry.
            list.Insert(lastPerm, p);
            return 0;
        }
    }

    /// <summary>
    /// Removes an entry from inetsw[]; a permanent one stays (the kernel logs "Attempt to
    /// unregister permanent protocol"; here -EPERM).
    /// </summary>
    /// <remarks>Mirrors net/ipv4/af_inet.c: inet_unregister_protosw().</remarks>
    public static int InetUnregisterProtosw(NetNamespace net, InetProtosw p)
    {
        lock (net.SyncRoot)
        {
            if ((InetProtosw.INET_PROTOSW_PERMANENT & p.Flags) != 0) return -Errno.EPERM;
            if (p.Type < 0 || p.Type >= SOCK_MAX) return -Errno.EINVAL;
            return net.Ipv4.Inetsw[p.Type].Remove(p) ? 0 : -Errno.ENOENT;
        }
    }
}
