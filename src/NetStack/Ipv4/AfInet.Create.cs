using NetStack.Core;
using NetStack.Net;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Ipv4;

/// <summary>
/// PF_INET's entry in net_families[].
/// <remarks>Mirrors net/ipv4/af_inet.c: static const struct net_proto_family inet_family_ops.</remarks>
/// </summary>
internal sealed class InetFamilyOps : NetProtoFamily
{
    public static readonly InetFamilyOps Instance = new();
    public override int Family => PF_INET;
    public override int Create(NetNamespace net, BsdSocket sock, int protocol, bool kern, FdTable caller) =>
        AfInet.InetCreate(net, sock, protocol, kern, caller);
}

public static partial class AfInet
{
    /// <summary>
    /// Creates an inet socket: finds the (type, protocol) pair in inetsw[sock.Type] - exactly, or
    /// through one of the two wildcard cases - then allocates the protocol's sock and initializes it.
    /// Returns 0 or a negative errno: -EINVAL (protocol out of range), -ESOCKTNOSUPPORT (no entry
    /// for the type at all), -EPROTONOSUPPORT (entries, but none matches), -EPERM (SOCK_RAW without
    /// CAP_NET_RAW from a user), -ENOMEM, or the protocol's hash/init error.
    /// </summary>
    /// <remarks>Mirrors net/ipv4/af_inet.c: inet_create().</remarks>
    public static int InetCreate(NetNamespace net, BsdSocket sock, int protocol, bool kern, FdTable caller)
    {
        if (protocol < 0 || protocol >= IPPROTO_MAX) return -Errno.EINVAL;

        sock.State = SocketState.Unconnected;

        // Look for the requested type/protocol pair.
        int err = InetProtosw.Lookup(net.Ipv4.Inetsw[sock.Type], ref protocol, out InetProtosw? answer);
        // (No request_module() retries: every protocol this stack has is registered at init.)
        if (answer is null) return err != 0 ? err : -Errno.EPROTONOSUPPORT;

        if (sock.Type == SOCK_RAW && !kern && !caller.CapNetRaw) return -Errno.EPERM;

        sock.Ops = answer.Ops;
        var answerProt = answer.Prot;
        int answerFlags = answer.Flags;

        var sk = Sock.SkAlloc(net, PF_INET, answerProt, kern);
        if (sk is null) return -Errno.ENOMEM;

        if ((InetProtosw.INET_PROTOSW_REUSE & answerFlags) != 0) sk.Reuse = Sock.SkCanReuse;

        var inet = (InetSock)sk;
        inet.IsIcsk = (InetProtosw.INET_PROTOSW_ICSK & answerFlags) != 0;

        if (SOCK_RAW == sock.Type)
        {
            inet.InetNum = (ushort)protocol;
            if (IPPROTO_RAW == protocol) inet.Hdrincl = true;
        }

        inet.Pmtudisc = net.Ipv4.Sysctl.IpNoPmtuDisc ? IP_PMTUDISC_DONT : IP_PMTUDISC_WANT;
        inet.InetId = 0;

        Sock.SockInitData(sock, sk);

        sk.Protocol = (ushort)protocol;

        inet.UcTtl = -1;
        inet.McLoop = true;
        inet.McTtl = 1;
        inet.McAll = true;
        inet.McIndex = 0;
        inet.RcvTos = 0;
        answerProt.SocketsAllocated++;

        if (inet.InetNum != 0)
        {
            // It assumes that any protocol which allows the user to assign a number at socket
            // creation time automatically shares.
            inet.InetSport = inet.InetNum;
            // Add to protocol hash chains.
            err = sk.Prot.Hash(sk);
            if (err != 0)
            {
                SkCommonRelease(sk);
                sock.Sk = null;
                return err;
            }
        }

        err = sk.Prot.Init(sk);
        if (err != 0)
        {
            SkCommonRelease(sk);
            sock.Sk = null;
            return err;
        }
        return 0;
    }

    /// <summary>Tears down a sock that never got going (or a datagram sock on close).</summary>
    /// <remarks>Mirrors net/core/sock.c: sk_common_release().</remarks>
    public static void SkCommonRelease(Sock sk)
    {
        sk.Prot.Destroy(sk);
        // Observation: when sk_common_release is called, processes have no access to socket. But net still has.
        sk.Prot.Unhash(sk);
        sk.Orphan();
        sk.PurgeReceiveQueue();
        sk.SkbErrqueuePurge(); // inet_sock_destruct()
        sk.WriteQueue.Purge();
        sk.Prot.SocketsAllocated--;
    }
}
