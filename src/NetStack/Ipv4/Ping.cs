using NetStack.Core;
using NetStack.Net;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Ipv4;

/// <summary>
/// The ping sockets of one stack by identifier (the echo id is the socket's "port").
/// <remarks>Mirrors net/ipv4/ping.c: struct ping_table and ping_port_rover.</remarks>
/// </summary>
internal sealed class PingTable
{
    public readonly Dictionary<ushort, List<InetSock>> Idents = new();
    /// <summary>ping_port_rover: the last identifier handed out.</summary>
    public ushort Rover;

    public List<InetSock>? Slot(ushort ident) => Idents.TryGetValue(ident, out var l) ? l : null;
}

/// <summary>A ping socket (the kernel uses a bare inet_sock; the hashed bit is sk_hashed()).</summary>
internal sealed class PingSock : InetSock
{
}

/// <summary>
/// ping_prot: SOCK_DGRAM/IPPROTO_ICMP sockets, which send echo requests without privileges and
/// receive the matching replies. net.ipv4.ping_group_range is not modelled: every caller may
/// create them (as with ping_group_range = "0 2147483647").
/// <remarks>Mirrors net/ipv4/ping.c: struct proto ping_prot.</remarks>
/// </summary>
internal sealed class PingProt : Proto
{
    public static readonly PingProt Instance = new();
    public override string Name => "PING";
    public override Sock? CreateSock(NetNamespace net) => new PingSock();
    public override bool HasBind => true;

    /// <remarks>ping_init_sock(): the ping_group_range check is not modelled.</remarks>
    public override int Init(Sock sk) => 0;
    /// <remarks>ping_close() -> sk_common_release().</remarks>
    public override void Close(Sock sk, long timeout) => AfInet.SkCommonRelease(sk);
    /// <remarks>ping_pre_connect(): "replicated from __ip4_datagram_connect()".</remarks>
    public override int PreConnect(Sock sk, in SockAddr addr) => addr.Len < SockaddrInSize ? -Errno.EINVAL : 0;
    /// <remarks>ip4_datagram_connect().</remarks>
    public override int Connect(Sock sk, in SockAddr addr) => Udp.Ip4DatagramConnect(sk, addr);
    /// <remarks>__udp_disconnect().</remarks>
    public override int Disconnect(Sock sk, int flags) => Udp.UdpDisconnect(sk, flags);
    /// <remarks>ip_setsockopt().</remarks>
    public override int Setsockopt(Sock sk, int level, int optname, ReadOnlySpan<byte> optval) => IpSockglue.IpSetsockopt(sk, level, optname, optval);
    /// <remarks>ip_getsockopt().</remarks>
    public override int Getsockopt(Sock sk, int level, int optname, Span<byte> optval, ref int optlen) => IpSockglue.IpGetsockopt(sk, level, optname, optval, ref optlen);
    /// <remarks>ping_v4_sendmsg().</remarks>
    public override int Sendmsg(Sock sk, ref MsgHdr msg, ReadOnlySpan<byte> data) => Ping.PingV4Sendmsg(sk, ref msg, data);
    /// <remarks>ping_recvmsg().</remarks>
    public override int Recvmsg(Sock sk, ref MsgHdr msg, Span<byte> buf, int flags) => Ping.PingRecvmsg(sk, ref msg, buf, flags);
    /// <remarks>ping_bind().</remarks>
    public override int Bind(Sock sk, in SockAddr addr) => Ping.PingBind(sk, addr);
    /// <remarks>ping_hash(): never called ("Please do not press this button again.").</remarks>
    public override int Hash(Sock sk) => 0;
    /// <remarks>ping_unhash().</remarks>
    public override void Unhash(Sock sk) => Ping.PingUnhash(sk);
    /// <remarks>ping_get_port().</remarks>
    public override int GetPort(Sock sk, ushort snum) => Ping.PingGetPort(sk, snum);
    /// <remarks>put_port = ping_unhash.</remarks>
    public override void PutPort(Sock sk) => Ping.PingUnhash(sk);
}

/// <summary>
/// ICMP echo ("ping") sockets.
/// <remarks>Mirrors net/ipv4/ping.c.</remarks>
/// </summary>
internal static class Ping
{
    /// <summary>Ping sockets in each namespace: hooks ping_rcv() into icmp_rcv() for echo replies.</summary>
    /// <remarks>Mirrors net/ipv4/ping.c: ping_v4_net_ops / ping_init().</remarks>
    internal sealed class PingNetOps : PernetOperations
    {
        public static readonly PingNetOps Instance = new();
        private PingNetOps() { }
        public override string Name => "ping";
        public override void Init(NetNamespace net) => net.Ipv4.PingRcv = PingRcv;
    }

    /// <summary>Takes an identifier: the one asked for, or the next free one after the rover.</summary>
    /// <remarks>Mirrors net/ipv4/ping.c: ping_get_port().</remarks>
    public static int PingGetPort(Sock sk, ushort ident)
    {
        var isk = (PingSock)sk;
        var table = sk.Net.Ipv4.PingTable;
        if (ident == 0)
        {
            ushort result = (ushort)(table.Rover + 1);
            int i;
            for (i = 0; i < (1 << 16); i++, result++)
            {
                if (result == 0) result++; // avoid zero
                if (table.Slot(result) is not { Count: > 0 }) break;
            }
            if (i >= (1 << 16)) return -Errno.EADDRINUSE;
            table.Rover = ident = result;
        }
        else if (table.Slot(ident) is { } slot)
        {
            foreach (var sk2 in slot)
            {
                // BUG? Why is this reuse and not reuseaddr? ping.c doesn't turn off SO_REUSEADDR,
                // and it doesn't expect that other ping processes can steal its packets.
                if (sk2 != sk && (sk2.Reuse == 0 || sk.Reuse == 0)) return -Errno.EADDRINUSE;
            }
        }
        if (isk.Hashed) table.Slot(isk.InetNum)?.Remove(isk);
        isk.InetNum = ident;
        if (!table.Idents.TryGetValue(ident, out var list)) table.Idents[ident] = list = new List<InetSock>(1);
        list.Add(isk);
        isk.Hashed = true;
        return 0;
    }

    /// <remarks>Mirrors net/ipv4/ping.c: ping_unhash().</remarks>
    public static void PingUnhash(Sock sk)
    {
        var isk = (PingSock)sk;
        if (!isk.Hashed) return;
        var table = sk.Net.Ipv4.PingTable;
        if (table.Slot(isk.InetNum) is { } l)
        {
            l.Remove(isk);
            if (l.Count == 0) table.Idents.Remove(isk.InetNum);
        }
        isk.Hashed = false;
        isk.InetNum = 0;
        isk.InetSport = 0;
    }

    /// <summary>The socket for an echo reply's identifier and destination, or null.</summary>
    /// <remarks>Mirrors net/ipv4/ping.c: ping_lookup().</remarks>
    private static InetSock? PingLookup(NetNamespace net, uint daddr, int dif, ushort ident)
    {
        var slot = net.Ipv4.PingTable.Slot(ident);
        if (slot is null) return null;
        foreach (var sk in slot)
        {
            // An ICMP echo reply is for AF_INET ping sockets only (AF_INET6 ones get ICMPv6 replies).
            if (sk.InetNum != ident || sk.Family != AF_INET) continue;
            if (sk.InetRcvSaddr != 0 && sk.InetRcvSaddr != daddr) continue;
            if (sk.BoundDevIf != 0 && sk.BoundDevIf != dif) continue;
            return sk;
        }
        return null;
    }

    /// <summary>Checks a bind address: no multicast or broadcast, and local unless nonlocal binding is allowed.</summary>
    /// <remarks>Mirrors net/ipv4/ping.c: ping_check_bind_addr().</remarks>
    private static int PingCheckBindAddr(Sock sk, InetSock isk, in SockAddr addr)
    {
        if (addr.Len < SockaddrInSize) return -Errno.EINVAL;
        if (addr.Family != AF_INET && !(addr.Family == AF_UNSPEC && addr.Addr == Ipv4Address.Any)) return -Errno.EAFNOSUPPORT;
        if (addr.Addr == Ipv4Address.Any) return 0;
        var chk = AfInet.InetAddrType(sk.Net, addr.Addr);
        bool canNonlocal = sk.Net.Ipv4.Sysctl.IpNonlocalBind || isk.FreeBind || isk.Transparent;
        if (chk == RtnType.Multicast || chk == RtnType.Broadcast || (chk != RtnType.Local && !canNonlocal))
            return -Errno.EADDRNOTAVAIL;
        return 0;
    }

    /// <summary>"We need our own bind because there are no privileged id's == local ports."</summary>
    /// <remarks>Mirrors net/ipv4/ping.c: ping_bind().</remarks>
    public static int PingBind(Sock sk, in SockAddr addr)
    {
        var isk = (InetSock)sk;
        int err = PingCheckBindAddr(sk, isk, addr);
        if (err != 0) return err;
        if (isk.InetNum != 0) return -Errno.EINVAL;
        ushort snum = addr.Port;
        if (PingGetPort(sk, snum) != 0) return -Errno.EADDRINUSE;
        isk.InetRcvSaddr = isk.InetSaddr = addr.Addr; // ping_set_saddr()
        if (isk.InetRcvSaddr != 0) sk.UserLocks |= Sock.SockBindaddrLock;
        if (snum != 0) sk.UserLocks |= Sock.SockBindportLock;
        isk.InetSport = isk.InetNum;
        isk.InetDaddr = 0;
        isk.InetDport = 0;
        isk.DstReset();
        return 0;
    }

    /// <summary>
    /// Sends an echo request: the user gives the ICMP header and data; the stack puts the socket's
    /// identifier in and computes the checksum.
    /// </summary>
    /// <remarks>Mirrors net/ipv4/ping.c: ping_v4_sendmsg() with ping_common_sendmsg() and ping_v4_push_pending_frames().</remarks>
    public static int PingV4Sendmsg(Sock sk, ref MsgHdr msg, ReadOnlySpan<byte> data)
    {
        var inet = (InetSock)sk;
        var net = sk.Net;
        int len = data.Length;
        // ping_common_sendmsg()
        if (len > 0xFFFF) return -Errno.EMSGSIZE;
        // Must have at least a full ICMP header.
        if (len < IcmpHeader.Length) return -Errno.EINVAL;
        // Mirror BSD error message compatibility.
        if ((msg.Flags & MSG_OOB) != 0) return -Errno.EOPNOTSUPP;
        byte type = data[0], code = data[1];
        if (!(type == IcmpType.Echo && code == 0)) return -Errno.EINVAL; // ping_supported()

        uint daddr;
        // Get and verify the address.
        if (msg.HasName)
        {
            if (msg.Name.Len < SockaddrInSize) return -Errno.EINVAL;
            if (msg.Name.Family != AF_INET) return -Errno.EAFNOSUPPORT;
            daddr = msg.Name.Addr; // no remote port
        }
        else
        {
            if (sk.State != TcpState.Established) return -Errno.EDESTADDRREQ;
            daddr = inet.InetDaddr;
        }

        uint saddr = inet.InetSaddr;
        int oif = inet.SendOif(daddr, ref saddr); // a group send: IP_MULTICAST_IF
        // ip_sendmsg_scope(): SO_DONTROUTE or MSG_DONTROUTE look up an on-link route.
        bool onLink = sk.HasFlag(SockFlag.LocalRoute) || (msg.Flags & MSG_DONTROUTE) != 0;
        int err = Route.IpRouteConnect(net, ref daddr, ref saddr, out var rt, onLink, oif); // ipc.oif: the bound device, or IP_MULTICAST_IF for a group
        if (err != 0) return err;
        if (rt.Type == RtnType.Broadcast && !sk.HasFlag(SockFlag.Broadcast)) return -Errno.EACCES;

        // ip_append_data() (the user's ICMP header is part of the data), then
        // ping_v4_push_pending_frames(): the identifier and checksum, and out.
        var skb = IpOutput.IpMakeSkb(sk, rt, daddr, data, 0, out bool df, out err);
        if (skb is null) return err;
        var h = IcmpHeader.Create(skb.DataSpan);
        h.EchoId = inet.InetSport; // the identifier is the socket's port
        h.FillChecksum();
        err = IpOutput.IpSendSkb(sk, skb, rt, saddr, daddr, IpProto.ICMP, df);
        if (err == -Errno.ENOBUFS && !inet.RecvErr) err = 0;
        if (err != 0) return err;
        // icmp_out_count()
        net.Mib.Icmp[IcmpMib.OutMsgs]++;
        net.Mib.Icmp[IcmpMib.OutEchos]++;
        return len;
    }

    /// <summary>Receives an echo reply: the ICMP header and data, the sender in msg.Name (port 0), the SOL_IP control messages asked for in msg.Control.</summary>
    /// <remarks>Mirrors net/ipv4/ping.c: ping_recvmsg().</remarks>
    public static int PingRecvmsg(Sock sk, ref MsgHdr msg, Span<byte> buf, int flags)
    {
        if ((flags & MSG_OOB) != 0) return -Errno.EOPNOTSUPP;
        if ((flags & MSG_ERRQUEUE) != 0) return IpSockglue.IpRecvError(sk, ref msg, buf); // inet_recv_error()
        var skb = Datagram.SkbRecvDatagram(sk, flags, out int err);
        if (skb is null) return err;
        int copied = skb.Len;
        if (copied > buf.Length)
        {
            msg.Flags |= MSG_TRUNC;
            copied = buf.Length;
        }
        skb.DataSpan[..copied].CopyTo(buf);
        SockTimestamp.SockRecvTimestamp(ref msg, sk, skb); // sock_recv_timestamp(), before ip_cmsg_recv()
        SockTimestamp.SockRecvDrops(ref msg, sk, skb);
        if (skb.Protocol == EthP.IPV6)
        {
            // The AF_INET6 branch: the sender as a sockaddr_in6, the arrival interface as the
            // scope id of a link-local one (ipv6_iface_scope_id()), then the IPV6_RECV* cmsgs
            // (pingv6_ops.ip6_datagram_recv_common_ctl / _specific_ctl).
            if (msg.HasName)
            {
                var src = Ipv6Header.Create(skb.Buffer.AsSpan(skb.NetworkHeader, Ipv6Header.Length)).Source;
                uint scope = Ipv6Address.IsLinkLocal(src) || (Ipv6Address.IsMulticast(src) && Ipv6Address.MulticastScope(src) <= 2) ? (uint)skb.Ip6cb.Iif : 0;
                msg.Name = SockAddr.In6(src, 0, scope);
                msg.NameLen = SockaddrIn6Size;
            }
            if (((InetSock)sk).Pinet6 is { RxoptAll: true })
            {
                Ipv6.Inet6Datagram.Ip6DatagramRecvCommonCtl(sk, ref msg, skb);
                Ipv6.Inet6Datagram.Ip6DatagramRecvSpecificCtl(sk, ref msg, skb);
            }
            if ((flags & MSG_PEEK) == 0) sk.SkbFreeDatagram(skb);
            return copied;
        }
        if (msg.HasName)
        {
            msg.Name = new SockAddr(AF_INET, skb.Saddr, 0);
            msg.NameLen = SockaddrInSize;
        }
        // ip_cmsg_recv(): ping_rcv() never ran ipv4_pktinfo_prepare(), so IP_PKTINFO reports the
        // arrival interface ip_rcv() noted and a spec_dst of 0.0.0.0, as Linux does.
        if (((InetSock)sk).CmsgFlags != 0) IpSockglue.IpCmsgRecv(ref msg, (InetSock)sk, skb);
        if ((flags & MSG_PEEK) == 0) sk.SkbFreeDatagram(skb); // skb_free_datagram()
        return copied;
    }

    /// <summary>
    /// An echo reply arrived (skb.Data at the ICMP header): queue it on the socket whose identifier
    /// it carries. Returns true if a socket took the buffer.
    /// </summary>
    /// <remarks>Mirrors net/ipv4/ping.c: ping_rcv() (queues the buffer itself rather than a clone).</remarks>
    public static bool PingRcv(NetNamespace net, SkBuff skb)
    {
        var icmph = IcmpHeader.Create(skb.DataSpan);
        var sk = PingLookup(net, skb.Daddr, skb.Dev?.IfIndex ?? 0, icmph.EchoId);
        if (sk is null) return false;
        if (sk.SockQueueRcvSkb(skb) < 0)
        {
            net.KfreeSkbReason(skb, SkbDropReason.SocketRcvBuff);
        }
        return true;
    }

    /// <summary>
    /// An ICMP error quoting one of our echo requests: reported to a connected socket when hard,
    /// or to any socket with IP_RECVERR. skb.Data at the quoted IP header.
    /// </summary>
    /// <remarks>Mirrors net/ipv4/ping.c: ping_err() (reached through icmp_err()).</remarks>
    public static void PingErr(SkBuff skb, uint info)
    {
        var net = skb.Dev!.Net!;
        var q = skb.DataSpan;
        var iph = Ipv4Header.Create(q);
        var icmph = IcmpHeader.Create(q[iph.HeaderLength..]);
        byte type = skb.Buffer[skb.TransportHeader], code = skb.Buffer[skb.TransportHeader + 1];
        // icmp_err(): errors about our echo replies (sent by the kernel) are not ping's business.
        if (icmph.Type == IcmpType.EchoReply) return;
        if (!(icmph.Type == IcmpType.Echo && icmph.Code == 0)) return; // ping_supported()
        var sk = PingLookup(net, skb.Daddr, skb.Dev.IfIndex, icmph.EchoId);
        if (sk is null) return; // No socket for error
        int err;
        bool harderr = false;
        switch (type)
        {
            default:
            case IcmpType.TimeExceeded:
                err = Errno.EHOSTUNREACH;
                break;
            case IcmpType.SourceQuench:
            case IcmpType.Redirect:
                // This is not a real error but ping wants to see it. Report it with some fake errno.
                err = EREMOTEIO;
                break;
            case IcmpType.ParameterProb:
                err = Errno.EPROTO;
                harderr = true;
                break;
            case IcmpType.DestUnreach:
                if (code == IcmpType.FragNeeded)
                {
                    if (sk.Pmtudisc != IP_PMTUDISC_DONT)
                    {
                        err = Errno.EMSGSIZE;
                        harderr = true;
                        break;
                    }
                    return;
                }
                err = Errno.EHOSTUNREACH;
                if (code <= IcmpType.NrUnreach)
                {
                    harderr = Udp.IcmpErrConvert[code].Fatal;
                    err = Udp.IcmpErrConvert[code].Errno;
                }
                break;
        }
        // RFC1122: OK. Passes ICMP errors back to application, as per 4.1.3.3.
        if (!sk.RecvErr)
        {
            if (!harderr || sk.State != TcpState.Established) return;
        }
        else
        {
            // No remote port; the data is the quoted ICMP header and what follows.
            IpSockglue.IpIcmpError(sk, skb, err, 0, info, skb.Data + iph.HeaderLength);
        }
        sk.Err = err;
        sk.ErrorReport();
    }

    /// <summary>EREMOTEIO (121): the "fake errno" ping_err uses for source quench and redirects.</summary>
    private const int EREMOTEIO = 121;
}
