using NetStack.Core;
using NetStack.Wire;
using NetStack.Ipv4;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Ipv6;

/// <summary>
/// pingv6_prot: SOCK_DGRAM/IPPROTO_ICMPV6 sockets. They share the ping port table (identifiers)
/// with AF_INET ping sockets but never see ICMP (v4) replies. net.ipv4.ping_group_range is not
/// modelled, as for AF_INET (ping_init_sock() lets every caller create them).
/// <remarks>Mirrors net/ipv6/ping.c: struct proto pingv6_prot.</remarks>
/// </summary>
internal sealed class PingV6Prot : Proto
{
    public static readonly PingV6Prot Instance = new();
    public override string Name => "PINGv6";
    public override Sock? CreateSock(NetNamespace net) => new PingSock();
    public override bool HasBind => true;

    /// <remarks>ping_init_sock(): the ping_group_range check is not modelled.</remarks>
    public override int Init(Sock sk) => 0;
    /// <remarks>ping_close() -> sk_common_release().</remarks>
    public override void Close(Sock sk, long timeout) => AfInet.SkCommonRelease(sk);
    /// <remarks>ip6_datagram_connect_v6_only().</remarks>
    public override int Connect(Sock sk, in SockAddr addr) => Inet6Datagram.Ip6DatagramConnectV6Only(sk, addr);
    /// <remarks>__udp_disconnect().</remarks>
    public override int Disconnect(Sock sk, int flags) => Udp.UdpDisconnect(sk, flags);
    /// <remarks>ipv6_setsockopt().</remarks>
    public override int Setsockopt(Sock sk, int level, int optname, ReadOnlySpan<byte> optval) => Ipv6Sockglue.Ipv6Setsockopt(sk, level, optname, optval);
    /// <remarks>ipv6_getsockopt().</remarks>
    public override int Getsockopt(Sock sk, int level, int optname, Span<byte> optval, ref int optlen) => Ipv6Sockglue.Ipv6Getsockopt(sk, level, optname, optval, ref optlen);
    /// <remarks>ping_v6_sendmsg().</remarks>
    public override int Sendmsg(Sock sk, ref MsgHdr msg, ReadOnlySpan<byte> data) => Ping6.PingV6Sendmsg(sk, ref msg, data);
    /// <remarks>ping_recvmsg() (an IPv6 reply written as a sockaddr_in6 there).</remarks>
    public override int Recvmsg(Sock sk, ref MsgHdr msg, Span<byte> buf, int flags)
    {
        // inet_recv_error() of an AF_INET6 socket: ipv6_recv_error().
        if ((flags & (MSG_ERRQUEUE | MSG_OOB)) == MSG_ERRQUEUE) return Inet6Datagram.Ipv6RecvError(sk, ref msg, buf);
        int r = Ping.PingRecvmsg(sk, ref msg, buf, flags);
        Udpv6.MapName(ref msg);
        return r;
    }
    /// <remarks>ping_bind().</remarks>
    public override int Bind(Sock sk, in SockAddr addr) => Ping6.PingV6Bind(sk, addr);
    public override int Hash(Sock sk) => 0;
    public override void Unhash(Sock sk) => Ping.PingUnhash(sk);
    public override int GetPort(Sock sk, ushort snum) => Ping.PingGetPort(sk, snum);
    public override void PutPort(Sock sk) => Ping.PingUnhash(sk);
}

/// <summary>ICMPv6 echo sockets. <remarks>Mirrors net/ipv6/ping.c and the AF_INET6 branches of net/ipv4/ping.c.</remarks></summary>
internal static class Ping6
{
    /// <summary>ICMPV6_ECHO_REQUEST.</summary>
    internal const byte Icmpv6EchoRequest = 128;

    /// <summary>
    /// bind() of an ICMPv6 ping socket: a whole sockaddr_in6 (-EINVAL), AF_INET6 (-EAFNOSUPPORT),
    /// :: or a unicast address (-EINVAL; link-local with a scope id), local (-EADDRNOTAVAIL), then
    /// the identifier.
    /// </summary>
    /// <remarks>Mirrors net/ipv4/ping.c: ping_bind() with ping_check_bind_addr()'s AF_INET6 branch and ping_set_saddr().</remarks>
    public static int PingV6Bind(Sock sk, in SockAddr addr)
    {
        var isk = (InetSock)sk;
        var net = sk.Net;
        int dif = sk.BoundDevIf;
        // ping_check_bind_addr()
        if (addr.Len < SockaddrIn6Size) return -Errno.EINVAL;
        if (addr.Family != AF_INET6) return -Errno.EAFNOSUPPORT;
        int addrType = AfInet6.Ipv6AddrType(addr.Addr6);
        bool scoped = AfInet6.Ipv6AddrNeedsScopeId(addrType);
        if ((addrType != AfInet6.IPV6_ADDR_ANY && (addrType & AfInet6.IPV6_ADDR_UNICAST) == 0) || (scoped && addr.ScopeId == 0))
            return -Errno.EINVAL;
        int devIndex = 0;
        if (addr.ScopeId != 0)
        {
            if (net.DevGetByIndex((int)addr.ScopeId) is null) return -Errno.ENODEV;
            devIndex = (int)addr.ScopeId;
        }
        if (devIndex == 0 && sk.BoundDevIf != 0)
        {
            if (net.DevGetByIndex(sk.BoundDevIf) is null) return -Errno.ENODEV;
            devIndex = sk.BoundDevIf;
        }
        bool hasAddr = AfInet6.Ipv6ChkAddr(net, addr.Addr6, devIndex);
        bool canNonlocal = net.Ipv4.Sysctl.IpNonlocalBind || isk.FreeBind || isk.Transparent;
        if (!(canNonlocal || hasAddr || addrType == AfInet6.IPV6_ADDR_ANY)) return -Errno.EADDRNOTAVAIL;
        if (scoped) sk.BoundDevIf = (int)addr.ScopeId;

        if (isk.InetNum != 0) return -Errno.EINVAL;
        ushort snum = addr.Port;
        if (Ping.PingGetPort(sk, snum) != 0)
        {
            // Restore possibly modified sk_bound_dev_if by ping_check_bind_addr().
            sk.BoundDevIf = dif;
            return -Errno.EADDRINUSE;
        }
        // ping_set_saddr()
        sk.SkcV6RcvSaddr = isk.Pinet6!.Saddr = addr.Addr6;
        if (addr.Addr6 != UInt128.Zero) sk.UserLocks |= Sock.SockBindaddrLock;
        if (snum != 0) sk.UserLocks |= Sock.SockBindportLock;
        isk.InetSport = isk.InetNum;
        isk.InetDaddr = 0;
        isk.InetDport = 0;
        sk.SkcV6Daddr = UInt128.Zero;
        isk.DstReset();
        return 0;
    }

    /// <summary>
    /// Sends an ICMPv6 echo request: ping_common_sendmsg's checks (size, header, MSG_OOB, an echo
    /// request with code 0), the destination (a whole sockaddr_in6 of AF_INET6, or the connected
    /// peer; never v4-mapped), then the route.
    /// </summary>
    /// <remarks>Mirrors net/ipv6/ping.c: ping_v6_sendmsg() with ping_common_sendmsg().</remarks>
    public static int PingV6Sendmsg(Sock sk, ref MsgHdr msg, ReadOnlySpan<byte> data)
    {
        var inet = (InetSock)sk;
        int len = data.Length;
        if (len > 0xFFFF) return -Errno.EMSGSIZE;
        if (len < 8) return -Errno.EINVAL; // a full icmp6hdr
        if ((msg.Flags & MSG_OOB) != 0) return -Errno.EOPNOTSUPP;
        if (!(data[0] == Icmpv6EchoRequest && data[1] == 0)) return -Errno.EINVAL;

        UInt128 daddr;
        int oif = 0;
        if (msg.HasName)
        {
            if (msg.Name.Len < SockaddrIn6Size) return -Errno.EINVAL;
            if (msg.Name.Family != AF_INET6) return -Errno.EAFNOSUPPORT;
            daddr = msg.Name.Addr6;
            if (AfInet6.Ipv6AddrNeedsScopeId(AfInet6.Ipv6AddrType(daddr))) oif = (int)msg.Name.ScopeId;
        }
        else
        {
            if (sk.State != TcpState.Established) return -Errno.EDESTADDRREQ;
            daddr = sk.SkcV6Daddr;
        }
        if (oif == 0) oif = sk.BoundDevIf;
        int addrType = AfInet6.Ipv6AddrType(daddr);
        if ((AfInet6.Ipv6AddrNeedsScopeId(addrType) && oif == 0) || (addrType & AfInet6.IPV6_ADDR_MAPPED) != 0 ||
            (oif != 0 && sk.BoundDevIf != 0 && oif != sk.BoundDevIf))
            return -Errno.EINVAL;
        var np = inet.Pinet6!;
        var net = sk.Net;
        bool mcast = Ipv6Address.IsMulticast(daddr);
        if (oif == 0) oif = mcast ? np.McastOif : np.UcastOif;
        var saddr = np.Saddr;
        int err = Ip6DstLookup.Ip6DstLookupFlow(net, sk, daddr, ref saddr, oif, out var rt);
        if (err != 0) return err;
        // ip6_sk_dst_hoplimit()
        int hlimit = mcast ? np.McastHops : np.HopLimit;
        if (hlimit < 0) hlimit = Ip6Output.Ip6DstHoplimit(net, rt!);

        // ip6_append_data() (the user's ICMPv6 header is part of the data), then
        // icmpv6_push_pending_frames(): the identifier (the socket's port) and the checksum.
        if (len > ushort.MaxValue - Ipv6Header.Length) return -Errno.EMSGSIZE;
        int mtu = Route6Pmtu.Ip6CorkMtu(net, np, rt!, daddr);
        err = Ip6Output.Ip6AppendDataCheck(sk, np, mtu, len, daddr, 0, np.Dontfrag, oif); // ipcm6_init_sk(): the socket's IPV6_DONTFRAG
        if (err != 0) return err;
        err = Route6Pmtu.Ip6AllocSendCheck(sk);
        if (err != 0) return err;
        var skb = net.AllocSkb(len);
        if (skb is null || len > skb.Tailroom)
        {
            skb?.Free();
            return -Errno.ENOBUFS;
        }
        var body = skb.Put(len);
        data.CopyTo(body);
        var h = Icmpv6Header.Create(body);
        h.EchoId = inet.InetSport;
        h.FillChecksum(saddr, daddr);
        err = Icmpv6.Icmpv6Xmit(net, skb, rt!, saddr, daddr, hlimit, (byte)np.Tclass, mtu);
        if (err == -Errno.ENOBUFS && !np.Recverr) err = 0;
        return err < 0 ? err : len;
    }

    /// <summary>
    /// An echo reply arrived (skb.Data at the ICMPv6 header): queued on the AF_INET6 ping socket
    /// whose identifier it carries (bound to its destination or to ::, and to its interface if
    /// bound to one). True if a socket took the buffer.
    /// </summary>
    /// <remarks>Mirrors net/ipv4/ping.c: ping_rcv() -> ping_lookup() (the AF_INET6 branch; the buffer itself is queued rather than a clone).</remarks>
    internal static bool PingV6Rcv(NetNamespace net, SkBuff skb, UInt128 daddr)
    {
        ushort ident = Icmpv6Header.Create(skb.DataSpan).EchoId;
        int dif = skb.Ip6cb.Iif != 0 ? skb.Ip6cb.Iif : skb.Dev?.IfIndex ?? 0;
        var slot = net.Ipv4.PingTable.Slot(ident);
        if (slot is null) return false;
        foreach (var sk in slot)
        {
            if (sk.InetNum != ident || sk.Family != AF_INET6) continue;
            if (sk.SkcV6RcvSaddr != UInt128.Zero && sk.SkcV6RcvSaddr != daddr) continue;
            if (sk.BoundDevIf != 0 && sk.BoundDevIf != dif) continue;
            if (sk.SockQueueRcvSkb(skb) < 0) net.KfreeSkbReason(skb, SkbDropReason.SocketRcvBuff);
            return true;
        }
        return false;
    }

    /// <summary>
    /// An ICMPv6 error about an echo request a ping socket sent (skb.Data at the quoted IPv6
    /// header, TransportHeader at the error's ICMPv6 header): with IPV6_RECVERR it is queued, the
    /// quoted ICMPv6 message as its data; without, only a hard error on a connected socket is reported.
    /// </summary>
    /// <remarks>Mirrors net/ipv4/ping.c: ping_err() for AF_INET6 (ping_lookup(), icmpv6_err_convert(), ipv6_icmp_error()).</remarks>
    internal static void PingV6Err(SkBuff skb, byte type, byte code, uint info)
    {
        var net = skb.Dev!.Net!;
        int icmph = skb.Data + Ipv6Header.Length;
        ushort ident = Icmpv6Header.Create(skb.Buffer.AsSpan(icmph, Icmpv6Header.Length)).EchoId;
        int dif = skb.Ip6cb.Iif != 0 ? skb.Ip6cb.Iif : skb.Dev.IfIndex;
        var slot = net.Ipv4.PingTable.Slot(ident);
        if (slot is null) return;
        UInt128 daddr = Ipv6Header.Create(skb.Buffer.AsSpan(skb.NetworkHeader, Ipv6Header.Length)).Destination;
        foreach (var sk in slot)
        {
            if (sk.InetNum != ident || sk.Family != AF_INET6) continue;
            if (sk.SkcV6RcvSaddr != UInt128.Zero && sk.SkcV6RcvSaddr != daddr) continue;
            if (sk.BoundDevIf != 0 && sk.BoundDevIf != dif) continue;
            bool harderr = Icmpv6.Icmpv6ErrConvert(type, code, out int err);
            if (!sk.Pinet6!.Recverr)
            {
                if (!harderr || sk.State != TcpState.Established) return;
            }
            else Inet6Datagram.Ipv6IcmpError(sk, skb, err, 0, info, icmph);
            sk.Err = err;
            sk.ErrorReport();
            return;
        }
    }
}
