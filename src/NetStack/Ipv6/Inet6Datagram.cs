using System.Buffers.Binary;
using NetStack.Core;
using NetStack.Ethernet;
using NetStack.Ipv4;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Ipv6;

/// <summary>
/// connect() of AF_INET6 datagram sockets (UDP, ping, raw): a v4-mapped (or AF_INET) peer is
/// connected through the IPv4 code and mirrored into the IPv6 view; a native one needs an IPv6
/// route.
/// <remarks>Mirrors net/ipv6/datagram.c.</remarks>
/// </summary>
internal static class Inet6Datagram
{
    /// <summary>
    /// Connects a datagram socket. Checks in Linux's order: an AF_INET address goes to
    /// __ip4_datagram_connect (-EAFNOSUPPORT on a v6-only socket); then addrlen (-EINVAL), family
    /// (-EAFNOSUPPORT); :: means loopback; a v4-mapped peer connects over IPv4 (-ENETUNREACH on a
    /// v6-only socket); a native one needs an interface if link-local, then a route.
    /// </summary>
    /// <remarks>Mirrors net/ipv6/datagram.c: ip6_datagram_connect() -> __ip6_datagram_connect().</remarks>
    public static int Ip6DatagramConnect(Sock sk, in SockAddr uaddr)
    {
        var inet = (InetSock)sk;
        var np = inet.Pinet6!;
        int err;
        if (uaddr.Family == AF_INET)
        {
            if (sk.Ipv6only) return -Errno.EAFNOSUPPORT;
            err = Udp.Ip4DatagramConnect(sk, uaddr);
            return err != 0 ? err : Ipv4Connected(sk, inet, np);
        }
        if (uaddr.Len < Sin6LenRfc2133) return -Errno.EINVAL;
        if (uaddr.Family != AF_INET6) return -Errno.EAFNOSUPPORT;

        var daddr = uaddr.Addr6;
        if (np.Sndflow) np.FlowLabel = uaddr.FlowInfo & 0x000FFFFF; // IPV6_FLOWINFO_MASK's label part
        if (daddr == UInt128.Zero)
        {
            // connect to self if not specified
            daddr = Ipv6Address.IsV4Mapped(sk.SkcV6RcvSaddr) ? Ipv6Address.V4Mapped(Ipv4Address.Loopback) : Ipv6Address.Loopback;
        }
        int addrType = AfInet6.Ipv6AddrType(daddr);

        if ((addrType & AfInet6.IPV6_ADDR_MAPPED) != 0)
        {
            if (sk.Ipv6only) return -Errno.ENETUNREACH;
            var sin = SockAddr.In(Ipv6Address.V4Of(daddr), uaddr.Port);
            err = Udp.Ip4DatagramConnect(sk, sin);
            return err != 0 ? err : Ipv4Connected(sk, inet, np);
        }

        int oif = sk.BoundDevIf;
        if (AfInet6.Ipv6AddrNeedsScopeId(addrType))
        {
            if (uaddr.Len >= SockaddrIn6Size && uaddr.ScopeId != 0)
            {
                if (sk.BoundDevIf != 0 && sk.BoundDevIf != (int)uaddr.ScopeId) return -Errno.EINVAL;
                sk.BoundDevIf = (int)uaddr.ScopeId;
            }
            if (sk.BoundDevIf == 0 && (addrType & AfInet6.IPV6_ADDR_MULTICAST) != 0) sk.BoundDevIf = np.McastOif;
            // Connect to link-local address requires an interface.
            if (sk.BoundDevIf == 0) return -Errno.EINVAL;
            oif = sk.BoundDevIf;
        }

        var oldDaddr = sk.SkcV6Daddr;
        var oldDport = inet.InetDport;
        sk.SkcV6Daddr = daddr;
        inet.InetDport = uaddr.Port;

        // Check for a route to destination an obtain the destination cache for it.
        // ip6_datagram_dst_update(sk, true): with a route, fix np->saddr and sk_v6_rcv_saddr
        // (inet_rcv_saddr = LOOPBACK4_IPV6, rehash) and go TCP_ESTABLISHED.
        var saddr = np.Saddr;
        err = AfInet6.Ip6DstLookupFlow(sk.Net, sk, daddr, ref saddr, oif);
        if (err == 0)
        {
            if (np.Saddr == UInt128.Zero) np.Saddr = saddr;
            if (sk.SkcV6RcvSaddr == UInt128.Zero)
            {
                sk.SkcV6RcvSaddr = saddr;
                inet.InetRcvSaddr = AfInet6.Loopback4Ipv6;
                sk.Prot.Rehash(sk);
            }
            sk.State = TcpState.Established;
            SockReuseport.ReuseportHasConnsSet(sk);
            return 0;
        }
        // Restore the socket peer info, to keep it consistent with the old socket state.
        sk.SkcV6Daddr = oldDaddr;
        inet.InetDport = oldDport;
        return err;
    }

    /// <summary>The ipv4_connected: tail of __ip6_datagram_connect(): the IPv4 association seen through v4-mapped addresses.</summary>
    private static int Ipv4Connected(Sock sk, InetSock inet, Ipv6Pinfo np)
    {
        sk.SkcV6Daddr = Ipv6Address.V4Mapped(inet.InetDaddr);
        if (np.Saddr == UInt128.Zero || AfInet6.Ipv6MappedAddrAny(np.Saddr))
            np.Saddr = Ipv6Address.V4Mapped(inet.InetSaddr);
        if (sk.SkcV6RcvSaddr == UInt128.Zero || AfInet6.Ipv6MappedAddrAny(sk.SkcV6RcvSaddr))
        {
            sk.SkcV6RcvSaddr = Ipv6Address.V4Mapped(inet.InetRcvSaddr);
            sk.Prot.Rehash(sk);
        }
        return 0;
    }

    /// <summary>connect() of ping and raw AF_INET6 sockets: AF_INET6 only (the family is checked before the length).</summary>
    /// <remarks>Mirrors net/ipv6/datagram.c: ip6_datagram_connect_v6_only().</remarks>
    public static int Ip6DatagramConnectV6Only(Sock sk, in SockAddr uaddr)
    {
        if (uaddr.Family != AF_INET6) return -Errno.EAFNOSUPPORT;
        return Ip6DatagramConnect(sk, uaddr);
    }
    // ------------------------------------------------------------------ the error queue (IPV6_RECVERR)

    /// <summary>
    /// Queues an ICMPv6 error on the socket's error queue (only with IPV6_RECVERR): a copy of the
    /// message (skb.Data at the quoted IPv6 header, TransportHeader at the ICMPv6 header,
    /// NetworkHeader at the outer IPv6 header) pulled to <paramref name="payload"/> (an offset in
    /// skb.Buffer: the data recvmsg(MSG_ERRQUEUE) returns), origin ICMP6, the type and code,
    /// <paramref name="info"/> (the MTU of a Packet Too Big), the quoted destination and <paramref name="port"/>.
    /// </summary>
    /// <remarks>Mirrors net/ipv6/datagram.c: ipv6_icmp_error() (IPV6_RECVERR_RFC4884 is not modelled).</remarks>
    public static void Ipv6IcmpError(Sock sk, SkBuff skb, int err, ushort port, uint info, int payload)
    {
        if (!((InetSock)sk).Pinet6!.Recverr) return;
        var nskb = Udp.CopySkb(sk.Net, skb); // skb_clone()
        if (nskb is null) return;
        nskb.Protocol = EthP.IPV6;
        ref var serr = ref nskb.ExtErr;
        serr.EeErrno = err;
        serr.EeOrigin = SO_EE_ORIGIN_ICMP6;
        serr.EeType = skb.Buffer[skb.TransportHeader];
        serr.EeCode = skb.Buffer[skb.TransportHeader + 1];
        serr.EeInfo = info;
        serr.EeData = 0;
        // &((struct ipv6hdr *)(icmph + 1))->daddr - skb_network_header(skb)
        serr.AddrOffset = (ushort)(skb.TransportHeader + Icmpv6Header.Length + 24 - skb.NetworkHeader);
        serr.Port = port;
        if (nskb.Pull(payload - nskb.Data))
        {
            nskb.TransportHeader = nskb.Data;
            if (sk.SockQueueErrSkb(nskb) == 0) return;
        }
        nskb.Free();
    }

    /// <summary>
    /// Queues an error the stack found itself (a datagram larger than the path with
    /// IPV6_PMTUDISC_DO): origin LOCAL, no data, <paramref name="daddr"/> and <paramref name="port"/>
    /// as the address, <paramref name="info"/> the MTU. Only with IPV6_RECVERR.
    /// </summary>
    /// <remarks>Mirrors net/ipv6/datagram.c: ipv6_local_error().</remarks>
    public static void Ipv6LocalError(Sock sk, int err, UInt128 daddr, ushort port, uint info)
    {
        if (!((InetSock)sk).Pinet6!.Recverr) return;
        var skb = sk.Net.AllocSkb(Ipv6Header.Length);
        if (skb is null) return;
        var iph = skb.Put(Ipv6Header.Length);
        iph.Clear();
        skb.NetworkHeader = skb.Data;
        skb.Protocol = EthP.IPV6;
        Ipv6Address.Write(iph[24..], daddr);
        iph[0] = 0x60; // ip6_flow_hdr(iph, 0, 0)
        ref var serr = ref skb.ExtErr;
        serr.EeErrno = err;
        serr.EeOrigin = SO_EE_ORIGIN_LOCAL;
        serr.EeType = 0;
        serr.EeCode = 0;
        serr.EeInfo = info;
        serr.EeData = 0;
        serr.AddrOffset = 24;
        serr.Port = port;
        skb.Pull(skb.Len);
        skb.TransportHeader = skb.Data;
        if (sk.SockQueueErrSkb(skb) != 0) skb.Free();
    }

    /// <summary>
    /// Leaves the path MTU a refused datagram met for the next recvmsg (only with
    /// IPV6_RECVPATHMTU): the destination of the flow, its interface as scope id, the MTU. A newer
    /// one replaces one not yet read. Nothing is allocated: the kernel's one-header skb
    /// (np->rxpmtu) is held as its struct ip6_mtuinfo.
    /// </summary>
    /// <remarks>Mirrors net/ipv6/datagram.c: ipv6_local_rxpmtu().</remarks>
    public static void Ipv6LocalRxpmtu(Sock sk, UInt128 daddr, int oif, uint mtu)
    {
        var np = ((InetSock)sk).Pinet6!;
        if (!np.RxPmtu) return;
        np.Rxpmtu = new Ip6Mtuinfo { Pending = true, Family = AF_INET6, Addr = daddr, ScopeId = (uint)oif, Mtu = mtu };
    }

    /// <summary>
    /// recvmsg() while a path MTU waits (IPV6_RECVPATHMTU on and ipv6_local_rxpmtu() queued one):
    /// no data (0 bytes), the destination as the sockaddr_in6 (port 0), and an IPV6_PATHMTU control
    /// message with the struct ip6_mtuinfo. -EAGAIN when none waits.
    /// </summary>
    /// <remarks>Mirrors net/ipv6/datagram.c: ipv6_recv_rxpmtu() (the skb's timestamp is not given: it has none here).</remarks>
    public static int Ipv6RecvRxpmtu(Sock sk, ref MsgHdr msg)
    {
        var np = ((InetSock)sk).Pinet6!;
        if (!np.Rxpmtu.Pending) return -Errno.EAGAIN;
        var mtuInfo = np.Rxpmtu; // xchg(&np->rxpmtu, NULL)
        np.Rxpmtu = default;
        if (msg.HasName)
        {
            msg.Name = SockAddr.In6(mtuInfo.Addr, 0, mtuInfo.ScopeId);
            msg.NameLen = SockaddrIn6Size;
        }
        Span<byte> info = stackalloc byte[Ip6Mtuinfo.Size];
        mtuInfo.Write(info);
        Scm.PutCmsg(ref msg, SOL_IPV6, IPV6_PATHMTU, info);
        return 0;
    }

    /// <summary>
    /// recvmsg(MSG_ERRQUEUE) on an AF_INET6 socket: the oldest queued error, IPv6 or (on a
    /// dual-stack socket) IPv4. Its data, the address it concerns as a sockaddr_in6 (v4-mapped for
    /// an IPv4 error), then the IPV6_RECVERR control message (struct sock_extended_err + the ICMP
    /// sender as a sockaddr_in6 offender) and MSG_ERRQUEUE. -EAGAIN when nothing is queued.
    /// </summary>
    /// <remarks>Mirrors net/ipv6/datagram.c: ipv6_recv_error() with ipv6_datagram_support_addr() and
    /// ipv6_datagram_support_cmsg() (the received-packet control messages of the ICMP message are not given).</remarks>
    public static int Ipv6RecvError(Sock sk, ref MsgHdr msg, Span<byte> buf)
    {
        var skb = sk.SockDequeueErrSkb();
        if (skb is null) return -Errno.EAGAIN;
        int copied = skb.Len;
        if (copied > buf.Length)
        {
            msg.Flags |= MSG_TRUNC;
            copied = buf.Length;
        }
        skb.DataSpan[..copied].CopyTo(buf);
        SockTimestamp.SockRecvTimestamp(ref msg, sk, skb);
        ref var serr = ref skb.ExtErr;
        bool v6 = skb.Protocol == EthP.IPV6;
        if (msg.HasName && (serr.EeOrigin is SO_EE_ORIGIN_ICMP6 or SO_EE_ORIGIN_ICMP or SO_EE_ORIGIN_LOCAL || serr.Port != 0))
        {
            var at = skb.Buffer.AsSpan(skb.NetworkHeader + serr.AddrOffset);
            UInt128 addr = v6 ? Ipv6Address.Read(at) : Ipv6Address.V4Mapped(BinaryPrimitives.ReadUInt32BigEndian(at));
            uint scope = v6 && AfInet6.Ipv6AddrNeedsScopeId(AfInet6.Ipv6AddrType(addr)) ? (uint)skb.Ip6cb.Iif : 0;
            msg.Name = SockAddr.In6(addr, serr.Port, scope);
            msg.NameLen = SockaddrIn6Size;
        }
        Span<byte> errhdr = stackalloc byte[SockExtendedErrSize + SockaddrIn6Size];
        errhdr.Clear();
        serr.WriteEe(errhdr);
        if (serr.EeOrigin is SO_EE_ORIGIN_ICMP6 or SO_EE_ORIGIN_ICMP)
        {
            var offender = errhdr[SockExtendedErrSize..];
            BinaryPrimitives.WriteUInt16LittleEndian(offender, AF_INET6);
            if (v6)
            {
                var saddr = Ipv6Address.Read(skb.Buffer.AsSpan(skb.NetworkHeader + 8, 16)); // ipv6_hdr(skb)->saddr
                Ipv6Address.Write(offender[8..], saddr);
                if (AfInet6.Ipv6AddrNeedsScopeId(AfInet6.Ipv6AddrType(saddr)))
                    BinaryPrimitives.WriteUInt32LittleEndian(offender[24..], (uint)skb.Ip6cb.Iif);
            }
            else
            {
                Ipv6Address.Write(offender[8..], Ipv6Address.V4Mapped(BinaryPrimitives.ReadUInt32BigEndian(skb.Buffer.AsSpan(skb.NetworkHeader + 12))));
            }
        }
        Scm.PutCmsg(ref msg, SOL_IPV6, IPV6_RECVERR, errhdr);
        msg.Flags |= MSG_ERRQUEUE;
        sk.SockRmemFree(skb);
        return copied;
    }

    // ------------------------------------------------------------------ received-packet control messages

    /// <summary>
    /// IPV6_PKTINFO (struct in6_pktinfo: the packet's destination and arrival interface), the one
    /// control message both IPv6 and v4-mapped datagrams give.
    /// </summary>
    /// <remarks>Mirrors net/ipv6/datagram.c: ip6_datagram_recv_common_ctl() (the IPv6 branch).</remarks>
    public static void Ip6DatagramRecvCommonCtl(Sock sk, ref MsgHdr msg, SkBuff skb)
    {
        var np = ((InetSock)sk).Pinet6!;
        if (!np.RxInfo || skb.Protocol != EthP.IPV6) return;
        Span<byte> info = stackalloc byte[In6PktinfoSize];
        skb.Buffer.AsSpan(skb.NetworkHeader + 24, 16).CopyTo(info); // ipv6_hdr(skb)->daddr
        BinaryPrimitives.WriteInt32LittleEndian(info[16..], skb.Ip6cb.Iif);
        Scm.PutCmsg(ref msg, SOL_IPV6, IPV6_PKTINFO, info);
    }

    /// <summary>IPV6_HOPLIMIT and IPV6_TCLASS (each an int) of an IPv6 datagram, in that order.</summary>
    /// <remarks>Mirrors net/ipv6/datagram.c: ip6_datagram_recv_specific_ctl() (flow label, extension header
    /// and original-destination messages are not modelled).</remarks>
    public static void Ip6DatagramRecvSpecificCtl(Sock sk, ref MsgHdr msg, SkBuff skb)
    {
        var np = ((InetSock)sk).Pinet6!;
        var ip6 = Ipv6Header.Create(skb.Buffer.AsSpan(skb.NetworkHeader, Ipv6Header.Length));
        Span<byte> v = stackalloc byte[sizeof(int)];
        if (np.RxHlim)
        {
            BinaryPrimitives.WriteInt32LittleEndian(v, ip6.HopLimit);
            Scm.PutCmsg(ref msg, SOL_IPV6, IPV6_HOPLIMIT, v);
        }
        if (np.RxTclass)
        {
            BinaryPrimitives.WriteInt32LittleEndian(v, ip6.TrafficClass); // ipv6_get_dsfield()
            Scm.PutCmsg(ref msg, SOL_IPV6, IPV6_TCLASS, v);
        }
    }

    /// <summary>Both of the above, for a raw socket's packet.</summary>
    /// <remarks>Mirrors net/ipv6/datagram.c: ip6_datagram_recv_ctl().</remarks>
    public static void Ip6DatagramRecvCtl(Sock sk, ref MsgHdr msg, SkBuff skb)
    {
        if (!((InetSock)sk).Pinet6!.RxoptAll) return;
        Ip6DatagramRecvCommonCtl(sk, ref msg, skb);
        Ip6DatagramRecvSpecificCtl(sk, ref msg, skb);
    }

    /// <summary>sizeof(struct in6_pktinfo): the address and an int interface index.</summary>
    internal const int In6PktinfoSize = 20;

    // ------------------------------------------------------------------ control messages on send

    /// <summary>
    /// The SOL_IPV6 control messages of a send (RFC 3542 6): IPV6_PKTINFO (the source address, which
    /// must be ours, and the interface, which must exist and agree with the socket's), IPV6_HOPLIMIT
    /// and IPV6_TCLASS (exactly an int, -1..255; -1 is the default), IPV6_DONTFRAG (exactly an int,
    /// 0 or 1: ipc6->dontfrag, which overrides the socket's). A malformed cmsghdr or an
    /// unknown SOL_IPV6 type is -EINVAL; messages of other levels are skipped (SOL_SOCKET's
    /// SO_MARK is checked for its length and otherwise ignored). 0 or a negative errno; the flow's
    /// fields are updated in place.
    /// </summary>
    /// <remarks>Mirrors net/ipv6/datagram.c: ip6_datagram_send_ctl() (IPV6_PKTINFO, IPV6_HOPLIMIT, IPV6_TCLASS, IPV6_DONTFRAG; the
    /// routing header, hop-by-hop and destination option messages and IPV6_FLOWINFO are not
    /// modelled and answer -EINVAL as an unknown type) with CMSG_OK() and for_each_cmsghdr(); __sock_cmsg_send() for SOL_SOCKET.</remarks>
    public static int Ip6DatagramSendCtl(NetNamespace net, Sock sk, ReadOnlySpan<byte> control, ref int oif, ref UInt128 saddr, ref int hlimit, ref int tclass, ref int dontfrag)
    {
        int off = 0;
        while (off + Cmsg.HeaderSize <= control.Length)
        {
            ulong cmsgLen = BinaryPrimitives.ReadUInt64LittleEndian(control[off..]);
            // CMSG_OK(): at least a header, at most what is left of the buffer.
            if (cmsgLen < Cmsg.HeaderSize || cmsgLen > (ulong)(control.Length - off)) return -Errno.EINVAL;
            int len = (int)cmsgLen;
            int level = BinaryPrimitives.ReadInt32LittleEndian(control[(off + 8)..]);
            int type = BinaryPrimitives.ReadInt32LittleEndian(control[(off + 12)..]);
            var data = control.Slice(off + Cmsg.HeaderSize, len - Cmsg.HeaderSize);
            off += Cmsg.Align(len);
            if (level == SOL_SOCKET)
            {
                // __sock_cmsg_send(): SCM_RIGHTS and SCM_CREDENTIALS belong to AF_UNIX and are passed over.
                if (type is 1 or 2) continue;
                if (type == SO_MARK && len == Cmsg.Len(sizeof(uint))) continue;
                return -Errno.EINVAL;
            }
            if (level != SOL_IPV6) continue;
            switch (type)
            {
                case IPV6_PKTINFO:
                    {
                        if (len < Cmsg.Len(In6PktinfoSize)) return -Errno.EINVAL;
                        var addr = Ipv6Address.Read(data);
                        int srcIdx = BinaryPrimitives.ReadInt32LittleEndian(data[16..]);
                        if (srcIdx != 0)
                        {
                            // Another interface than the flow's: sk_dev_equal_l3scope() can only agree through a VRF, which this stack has not.
                            if (oif != 0 && srcIdx != oif) return -Errno.EINVAL;
                            oif = srcIdx;
                        }
                        int addrType = AfInet6.Ipv6AddrType(addr);
                        NetDevice? dev = null;
                        if (oif != 0)
                        {
                            dev = net.DevGetByIndex(oif);
                            if (dev is null) return -Errno.ENODEV;
                        }
                        else if ((addrType & AfInet6.IPV6_ADDR_LINKLOCAL) != 0) return -Errno.EINVAL;
                        if (addrType != AfInet6.IPV6_ADDR_ANY)
                        {
                            var inet = (InetSock)sk;
                            // ipv6_can_nonlocal_bind(), ipv6_chk_addr_and_flags() (a link-local source only on its own device).
                            bool canNonlocal = net.Ipv4.Sysctl.IpNonlocalBind || inet.FreeBind || inet.Transparent;
                            bool strict = Ipv6Address.IsLinkLocal(addr) || addr == Ipv6Address.Loopback;
                            if (!canNonlocal && !Addrconf.Ipv6ChkAddr(net, addr, strict ? dev : null)) return -Errno.EINVAL;
                            saddr = addr;
                        }
                        break;
                    }
                case IPV6_HOPLIMIT:
                    if (len != Cmsg.Len(sizeof(int))) return -Errno.EINVAL;
                    hlimit = BinaryPrimitives.ReadInt32LittleEndian(data);
                    if (hlimit < -1 || hlimit > 0xff) return -Errno.EINVAL;
                    break;
                case IPV6_TCLASS:
                    {
                        if (len != Cmsg.Len(sizeof(int))) return -Errno.EINVAL;
                        int tc = BinaryPrimitives.ReadInt32LittleEndian(data);
                        if (tc < -1 || tc > 0xff) return -Errno.EINVAL;
                        tclass = tc;
                        break;
                    }
                case IPV6_DONTFRAG:
                    {
                        if (len != Cmsg.Len(sizeof(int))) return -Errno.EINVAL;
                        int df = BinaryPrimitives.ReadInt32LittleEndian(data);
                        if (df < 0 || df > 1) return -Errno.EINVAL;
                        dontfrag = df;
                        break;
                    }
                default:
                    return -Errno.EINVAL; // invalid cmsg type
            }
        }
        return 0;
    }
}
