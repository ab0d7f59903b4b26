using NetStack.Ethernet;
using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Ipv6;

/// <summary>
/// rawv6_prot: SOCK_RAW sockets of AF_INET6. They live in a table of their own (raw_v6_hashinfo),
/// so IPv4 packets never reach them; the IPv6 input delivers to them (HOOK ipv6net: rawv6_rcv()
/// over <see cref="RawV6Prot.Sockets"/>).
/// <remarks>Mirrors net/ipv6/raw.c: struct proto rawv6_prot.</remarks>
/// </summary>
internal sealed class RawV6Prot : Proto
{
    public static readonly RawV6Prot Instance = new();
    public override string Name => "RAWv6";
    public override Sock? CreateSock(NetNamespace net) => new Raw6Sock();

    /// <remarks>rawv6_init_sk(): an ICMPv6 socket checksums at offset 2 (RFC 3542 3.1), a Mobility Header one at 4.</remarks>
    public override int Init(Sock sk)
    {
        var rp = (Raw6Sock)sk;
        switch (rp.InetNum)
        {
            case IPPROTO_ICMPV6:
                rp.Checksum = true;
                rp.Offset = 2;
                break;
            case 135: // IPPROTO_MH
                rp.Checksum = true;
                rp.Offset = 4;
                break;
        }
        return 0;
    }
    public override bool HasBind => true;

    /// <summary>The raw_v6_hashinfo of a namespace: every hashed AF_INET6 raw socket.</summary>
    internal static List<InetSock> Sockets(NetNamespace net) => net.Inet6.RawV6Hashinfo;

    /// <remarks>rawv6_close() -> sk_common_release().</remarks>
    public override void Close(Sock sk, long timeout) => AfInet.SkCommonRelease(sk);
    /// <remarks>ip6_datagram_connect_v6_only().</remarks>
    public override int Connect(Sock sk, in SockAddr addr) => Inet6Datagram.Ip6DatagramConnectV6Only(sk, addr);
    /// <remarks>__udp_disconnect().</remarks>
    public override int Disconnect(Sock sk, int flags) => Udp.UdpDisconnect(sk, flags);
    /// <remarks>rawv6_setsockopt(): SOL_ICMPV6 is the ICMPv6 type filter (ICMPv6 sockets only), IPV6_CHECKSUM and
    /// IPV6_HDRINCL at SOL_IPV6 or SOL_RAW are the raw socket's own, the rest is ipv6_setsockopt().</remarks>
    public override int Setsockopt(Sock sk, int level, int optname, ReadOnlySpan<byte> optval)
    {
        switch (level)
        {
            case SOL_RAW:
                break;
            case SOL_ICMPV6:
                if (((InetSock)sk).InetNum != IPPROTO_ICMPV6) return -Errno.EOPNOTSUPP;
                return Raw6.Rawv6Seticmpfilter(sk, optname, optval);
            case SOL_IPV6:
                if (optname == IPV6_CHECKSUM || optname == IPV6_HDRINCL) break;
                return Ipv6Sockglue.Ipv6Setsockopt(sk, level, optname, optval);
            default:
                return Ipv6Sockglue.Ipv6Setsockopt(sk, level, optname, optval);
        }
        return Raw6.DoRawv6Setsockopt(sk, level, optname, optval);
    }
    /// <remarks>rawv6_getsockopt(): the same split as rawv6_setsockopt().</remarks>
    public override int Getsockopt(Sock sk, int level, int optname, Span<byte> optval, ref int optlen)
    {
        switch (level)
        {
            case SOL_RAW:
                break;
            case SOL_ICMPV6:
                if (((InetSock)sk).InetNum != IPPROTO_ICMPV6) return -Errno.EOPNOTSUPP;
                return Raw6.Rawv6Geticmpfilter(sk, optname, optval, ref optlen);
            case SOL_IPV6:
                if (optname == IPV6_CHECKSUM || optname == IPV6_HDRINCL) break;
                return Ipv6Sockglue.Ipv6Getsockopt(sk, level, optname, optval, ref optlen);
            default:
                return Ipv6Sockglue.Ipv6Getsockopt(sk, level, optname, optval, ref optlen);
        }
        return Raw6.DoRawv6Getsockopt(sk, optname, optval, ref optlen);
    }
    /// <remarks>rawv6_sendmsg().</remarks>
    public override int Sendmsg(Sock sk, ref MsgHdr msg, ReadOnlySpan<byte> data) => Raw6.Rawv6Sendmsg(sk, ref msg, data);
    /// <remarks>rawv6_recvmsg().</remarks>
    public override int Recvmsg(Sock sk, ref MsgHdr msg, Span<byte> buf, int flags) => Raw6.Rawv6Recvmsg(sk, ref msg, buf, flags);
    /// <remarks>rawv6_bind().</remarks>
    public override int Bind(Sock sk, in SockAddr addr) => Raw6.Rawv6Bind(sk, addr);
    /// <remarks>raw_hash_sk() into raw_v6_hashinfo.</remarks>
    public override int Hash(Sock sk)
    {
        var list = Sockets(sk.Net);
        if (!sk.Hashed) { list.Add((InetSock)sk); sk.Hashed = true; }
        return 0;
    }
    /// <remarks>raw_unhash_sk().</remarks>
    public override void Unhash(Sock sk)
    {
        if (!sk.Hashed) return;
        Sockets(sk.Net).Remove((InetSock)sk);
        sk.Hashed = false;
    }
}

/// <summary>Raw IPv6 sockets. <remarks>Mirrors net/ipv6/raw.c.</remarks></summary>
internal static class Raw6
{
    /// <summary>
    /// Binds the local address only: a sockaddr_in6 of SIN6_LEN_RFC2133 bytes (-EINVAL), AF_INET6
    /// (-EINVAL, not -EAFNOSUPPORT), never v4-mapped (-EADDRNOTAVAIL), a closed socket, a local
    /// address (link-local needs an interface).
    /// </summary>
    /// <remarks>Mirrors net/ipv6/raw.c: rawv6_bind().</remarks>
    public static int Rawv6Bind(Sock sk, in SockAddr addr)
    {
        var inet = (InetSock)sk;
        var np = inet.Pinet6!;
        if (addr.Len < Sin6LenRfc2133) return -Errno.EINVAL;
        if (addr.Family != AF_INET6) return -Errno.EINVAL;
        int addrType = AfInet6.Ipv6AddrType(addr.Addr6);
        // Raw sockets are IPv6 only
        if (addrType == AfInet6.IPV6_ADDR_MAPPED) return -Errno.EADDRNOTAVAIL;
        if (sk.State != TcpState.Close) return -Errno.EINVAL;
        if (addrType != AfInet6.IPV6_ADDR_ANY)
        {
            if (AfInet6.Ipv6AddrNeedsScopeId(addrType))
            {
                if (addr.Len >= SockaddrIn6Size && addr.ScopeId != 0) sk.BoundDevIf = (int)addr.ScopeId;
                // Binding to link-local address requires an interface
                if (sk.BoundDevIf == 0) return -Errno.EINVAL;
            }
            if (sk.BoundDevIf != 0 && sk.Net.DevGetByIndex(sk.BoundDevIf) is null) return -Errno.ENODEV;
            // ipv4 addr of the socket is invalid. Only the unspecified and mapped address have a v4 equivalent.
            bool canNonlocal = sk.Net.Ipv4.Sysctl.IpNonlocalBind || inet.FreeBind || inet.Transparent;
            if ((addrType & AfInet6.IPV6_ADDR_MULTICAST) == 0 && !canNonlocal && !AfInet6.Ipv6ChkAddr(sk.Net, addr.Addr6, sk.BoundDevIf))
                return -Errno.EADDRNOTAVAIL;
        }
        inet.InetRcvSaddr = inet.InetSaddr = 0; // v4addr
        sk.SkcV6RcvSaddr = addr.Addr6;
        if ((addrType & AfInet6.IPV6_ADDR_MULTICAST) == 0) np.Saddr = addr.Addr6;
        return 0;
    }

    /// <summary>
    /// Sends a raw IPv6 datagram. The destination (a sockaddr_in6 of SIN6_LEN_RFC2133 bytes,
    /// AF_INET6 or 0; its port, when not 0, is the next header and must be the socket's protocol
    /// unless that is IPPROTO_RAW) or the connected peer; :: is loopback. With IPV6_HDRINCL the
    /// data is the whole packet (at least an IPv6 header, at most the device's MTU); otherwise the
    /// kernel builds the header and, for a checksumming socket (IPV6_CHECKSUM, always on ICMPv6),
    /// writes the checksum at its offset. Returns the length sent or a negative errno.
    /// </summary>
    /// <remarks>Mirrors net/ipv6/raw.c: rawv6_sendmsg() (MSG_CONFIRM and MSG_MORE corking are not modelled).</remarks>
    public static int Rawv6Sendmsg(Sock sk, ref MsgHdr msg, ReadOnlySpan<byte> data)
    {
        var inet = (InetSock)sk;
        var rp = (Raw6Sock)sk;
        var np = inet.Pinet6!;
        var net = sk.Net;
        int len = data.Length;
        // Rough check on arithmetic overflow, better check is made in ip6_append_data().
        if (len > int.MaxValue) return -Errno.EMSGSIZE;
        // Mirror BSD error message compatibility
        if ((msg.Flags & MSG_OOB) != 0) return -Errno.EOPNOTSUPP;
        bool hdrincl = inet.Hdrincl;
        UInt128 daddr;
        int proto;
        int oif = 0;
        // Get and verify the address.
        if (msg.HasName)
        {
            ref var sin6 = ref msg.Name;
            if (sin6.Len < Sin6LenRfc2133) return -Errno.EINVAL;
            if (sin6.Family != 0 && sin6.Family != AF_INET6) return -Errno.EAFNOSUPPORT;
            // port is the proto value [0..255] carried in nexthdr
            proto = sin6.Port;
            if (proto == 0) proto = inet.InetNum;
            else if (proto != inet.InetNum && inet.InetNum != IPPROTO_RAW) return -Errno.EINVAL;
            if (proto > 255) return -Errno.EINVAL;
            daddr = sin6.Addr6;
            if (sin6.Len >= SockaddrIn6Size && sin6.ScopeId != 0 && AfInet6.Ipv6AddrNeedsScopeId(AfInet6.Ipv6AddrType(daddr)))
                oif = (int)sin6.ScopeId;
        }
        else
        {
            if (sk.State != TcpState.Established) return -Errno.EDESTADDRREQ;
            proto = inet.InetNum;
            daddr = sk.SkcV6Daddr;
        }
        if (oif == 0) oif = sk.BoundDevIf;
        if (oif == 0) oif = np.StickyPktinfoIfindex;
        UInt128 saddr = 0;
        int hlimit = -1, tclass = -1, dontfrag = -1, err;
        if (msg.Control.Length > 0)
        {
            err = Inet6Datagram.Ip6DatagramSendCtl(net, sk, msg.Control, ref oif, ref saddr, ref hlimit, ref tclass, ref dontfrag);
            if (err < 0) return err;
        }
        if (dontfrag < 0) dontfrag = np.Dontfrag ? 1 : 0; // ipcm6_init_sk()
        // :: means loopback (BSD'ism)
        if (daddr == UInt128.Zero) daddr = Ipv6Address.Loopback;
        bool mcast = Ipv6Address.IsMulticast(daddr);
        if (oif == 0) oif = mcast ? np.McastOif : np.UcastOif;
        if (saddr == 0) saddr = np.Saddr;
        if (tclass < 0) tclass = np.Tclass;
        err = Ip6DstLookup.Ip6DstLookupFlow(net, sk, daddr, ref saddr, oif, out var rt);
        if (err != 0) return err;
        if (hlimit < 0) hlimit = mcast ? np.McastHops : np.HopLimit; // ip6_sk_dst_hoplimit()
        if (hlimit < 0) hlimit = Ip6Output.Ip6DstHoplimit(net, rt!);
        err = hdrincl
            ? Rawv6SendHdrinc(sk, data, rt!, daddr)
            : Rawv6AppendAndPush(sk, rp, np, data, rt!, saddr, daddr, (byte)proto, hlimit, (byte)tclass, dontfrag != 0, oif);
        return err < 0 ? err : len;
    }

    /// <summary>IPV6_HDRINCL: the caller's packet as it is, within the device's MTU (a local EMSGSIZE with the MTU otherwise).</summary>
    /// <remarks>Mirrors rawv6_send_hdrinc().</remarks>
    private static int Rawv6SendHdrinc(Sock sk, ReadOnlySpan<byte> data, Rt6Info rt, UInt128 daddr)
    {
        var net = sk.Net;
        int length = data.Length;
        int devMtu = rt.Dev.Mtu;
        if (length > devMtu)
        {
            Inet6Datagram.Ipv6LocalError(sk, Errno.EMSGSIZE, daddr, 0, (uint)devMtu);
            return -Errno.EMSGSIZE;
        }
        if (length < Ipv6Header.Length) return -Errno.EINVAL;
        var skb = net.AllocSkb(length);
        if (skb is null || length > skb.Tailroom)
        {
            skb?.Free();
            return -Errno.ENOBUFS;
        }
        data.CopyTo(skb.Put(length));
        skb.NetworkHeader = skb.Data;
        skb.TransportHeader = skb.Data + Ipv6Header.Length;
        skb.Protocol = EthP.IPV6;
        net.Ip6Mib[Ipv6Mib.Ip6OutRequests]++;
        // dst_output() along the flow's route (FLOWI_FLAG_KNOWN_NH: the next hop of the flow's destination).
        int err = Ip6Output.Ip6OutputFinish(net, skb, rt, daddr, devMtu);
        if (err > 0) err = 0; // net_xmit_errno()
        if (err == -Errno.ENOBUFS && !((InetSock)sk).Pinet6!.Recverr) err = 0;
        return err;
    }

    /// <summary>
    /// The kernel-built header: the size check of ip6_append_data() against the cork MTU, then the
    /// checksum at the socket's offset (which must leave room for two bytes: -EINVAL), an ICMPv6
    /// message counted as ICMPv6 output.
    /// </summary>
    /// <remarks>Mirrors ip6_append_data() + rawv6_push_pending_frames() (a UDP checksum of 0 is sent as 0xffff, CSUM_MANGLED_0).</remarks>
    private static int Rawv6AppendAndPush(Sock sk, Raw6Sock rp, Ipv6Pinfo np, ReadOnlySpan<byte> data, Rt6Info rt, UInt128 saddr, UInt128 daddr, byte proto, int hlimit, byte tclass, bool dontfrag, int oif)
    {
        var net = sk.Net;
        int len = data.Length;
        int mtu = Route6Pmtu.Ip6CorkMtu(net, np, rt, daddr);
        int err = Ip6Output.Ip6AppendDataCheck(sk, np, mtu, len, daddr, 0, dontfrag, oif);
        if (err != 0) return err;
        if (len > ushort.MaxValue) return -Errno.EMSGSIZE; // __ip6_append_data(): beyond IPV6_MAXPLEN
        if (rp.Checksum && rp.Offset >= len - 1) return -Errno.EINVAL; // ip6_flush_pending_frames()
        var skb = net.AllocSkb(len);
        if (skb is null || len > skb.Tailroom)
        {
            skb?.Free();
            return -Errno.ENOBUFS;
        }
        var body = skb.Put(len);
        data.CopyTo(body);
        if (rp.Checksum)
        {
            // in case cksum was not initialized: the field counts as zero.
            body[rp.Offset] = 0;
            body[rp.Offset + 1] = 0;
            ushort csum = Checksum.TcpUdpV6(saddr, daddr, proto, body);
            if (csum == 0 && proto == IpProto.UDP) csum = 0xFFFF;
            System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(body[rp.Offset..], csum);
        }
        err = proto == IPPROTO_ICMPV6
            ? Icmpv6.Icmpv6Xmit(net, skb, rt, saddr, daddr, hlimit, tclass, mtu)
            : Ip6Output.Ip6Xmit(net, skb, rt, saddr, daddr, proto, hlimit, tclass, mtu);
        if (err > 0) err = 0;
        if (err == -Errno.ENOBUFS && !np.Recverr) err = 0;
        return err;
    }

    /// <summary>
    /// Receives one packet from a raw socket: its data from the header after the one the socket
    /// is for (the IPv6 header is not included), the sender as a sockaddr_in6 with port 0, and the
    /// IPV6_RECV* control messages asked for. MSG_ERRQUEUE reads the error queue.
    /// </summary>
    /// <remarks>Mirrors rawv6_recvmsg() (the checksum was verified when queued: rawv6_rcv_skb()).</remarks>
    public static int Rawv6Recvmsg(Sock sk, ref MsgHdr msg, Span<byte> buf, int flags)
    {
        if ((flags & MSG_OOB) != 0) return -Errno.EOPNOTSUPP;
        if ((flags & MSG_ERRQUEUE) != 0) return Inet6Datagram.Ipv6RecvError(sk, ref msg, buf);
        var np = ((InetSock)sk).Pinet6!;
        if (np.Rxpmtu.Pending && np.RxPmtu) return Inet6Datagram.Ipv6RecvRxpmtu(sk, ref msg);
        var skb = Datagram.SkbRecvDatagram(sk, flags, out int err);
        if (skb is null) return err;
        int copied = skb.Len;
        if (copied > buf.Length)
        {
            copied = buf.Length;
            msg.Flags |= MSG_TRUNC;
        }
        skb.DataSpan[..copied].CopyTo(buf);
        if (msg.HasName)
        {
            var saddr = Ipv6Header.Create(skb.Buffer.AsSpan(skb.NetworkHeader, Ipv6Header.Length)).Source;
            uint scope = AfInet6.Ipv6AddrNeedsScopeId(AfInet6.Ipv6AddrType(saddr)) ? (uint)skb.Ip6cb.Iif : 0;
            msg.Name = SockAddr.In6(saddr, 0, scope);
            msg.NameLen = SockaddrIn6Size;
        }
        SockTimestamp.SockRecvTimestamp(ref msg, sk, skb); // sock_recv_cmsgs()
        SockTimestamp.SockRecvDrops(ref msg, sk, skb);
        Inet6Datagram.Ip6DatagramRecvCtl(sk, ref msg, skb);
        err = copied;
        if ((flags & MSG_TRUNC) != 0) err = skb.Len;
        if ((flags & MSG_PEEK) == 0) sk.SkbFreeDatagram(skb);
        return err;
    }

    /// <summary>IPV6_HDRINCL (any value) and IPV6_CHECKSUM (an even offset, or negative for none; not at SOL_IPV6 on an ICMPv6 socket); a full int, else -EINVAL.</summary>
    /// <remarks>Mirrors do_rawv6_setsockopt().</remarks>
    internal static int DoRawv6Setsockopt(Sock sk, int level, int optname, ReadOnlySpan<byte> optval)
    {
        var rp = (Raw6Sock)sk;
        if (optval.Length < sizeof(int)) return -Errno.EINVAL;
        int val = System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(optval);
        switch (optname)
        {
            case IPV6_HDRINCL:
                if (sk.Type != SOCK_RAW) return -Errno.EINVAL;
                rp.Hdrincl = val != 0;
                return 0;
            case IPV6_CHECKSUM:
                // RFC 3542: IPV6_CHECKSUM at the IPPROTO_IPV6 level is not allowed on ICMPv6 sockets.
                if (rp.InetNum == IPPROTO_ICMPV6 && level == IPPROTO_IPV6) return -Errno.EINVAL;
                // You may get strange result with a positive odd offset.
                if (val > 0 && (val & 1) != 0) return -Errno.EINVAL;
                if (val < 0) rp.Checksum = false;
                else
                {
                    rp.Checksum = true;
                    rp.Offset = val;
                }
                return 0;
            default:
                return -Errno.ENOPROTOOPT;
        }
    }

    /// <summary>IPV6_HDRINCL and IPV6_CHECKSUM (-1 when off) back; the length is min(len, sizeof(int)) taken as unsigned.</summary>
    /// <remarks>Mirrors do_rawv6_getsockopt().</remarks>
    internal static int DoRawv6Getsockopt(Sock sk, int optname, Span<byte> optval, ref int optlen)
    {
        var rp = (Raw6Sock)sk;
        int val;
        switch (optname)
        {
            case IPV6_HDRINCL: val = rp.Hdrincl ? 1 : 0; break;
            case IPV6_CHECKSUM: val = rp.Checksum ? rp.Offset : -1; break;
            default: return -Errno.ENOPROTOOPT;
        }
        int len = (uint)optlen < sizeof(int) ? optlen : sizeof(int); // min_t(unsigned int, ...)
        optlen = len;
        Span<byte> tmp = stackalloc byte[sizeof(int)];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(tmp, val);
        tmp[..Math.Min(len, optval.Length)].CopyTo(optval);
        return 0;
    }

    /// <summary>ICMPV6_FILTER: up to the 32 bytes of struct icmp6_filter (a shorter value replaces only its first bytes).</summary>
    /// <remarks>Mirrors rawv6_seticmpfilter().</remarks>
    internal static int Rawv6Seticmpfilter(Sock sk, int optname, ReadOnlySpan<byte> optval)
    {
        if (optname != ICMPV6_FILTER) return -Errno.ENOPROTOOPT;
        var rp = (Raw6Sock)sk;
        int n = Math.Min(optval.Length, Raw6Sock.FilterSize);
        for (int i = 0; i < n; i++)
        {
            int word = i >> 2, shift = (i & 3) * 8; // the words in native (little-endian) order, as copy_from_sockptr() leaves them
            rp.Filter[word] = (rp.Filter[word] & ~(0xFFu << shift)) | ((uint)optval[i] << shift);
        }
        return 0;
    }

    /// <summary>ICMPV6_FILTER back: -EINVAL for a negative length, at most 32 bytes.</summary>
    /// <remarks>Mirrors rawv6_geticmpfilter().</remarks>
    internal static int Rawv6Geticmpfilter(Sock sk, int optname, Span<byte> optval, ref int optlen)
    {
        if (optname != ICMPV6_FILTER) return -Errno.ENOPROTOOPT;
        int len = optlen;
        if (len < 0) return -Errno.EINVAL;
        if (len > Raw6Sock.FilterSize) len = Raw6Sock.FilterSize;
        optlen = len;
        var rp = (Raw6Sock)sk;
        Span<byte> f = stackalloc byte[Raw6Sock.FilterSize];
        for (int w = 0; w < 8; w++) System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(f[(w * 4)..], rp.Filter[w]);
        f[..Math.Min(len, optval.Length)].CopyTo(optval);
        return 0;
    }

    /// <remarks>Mirrors include/net/rawv6.h: raw_v6_match().</remarks>
    private static bool RawV6Match(InetSock sk, int num, UInt128 locAddr, UInt128 rmtAddr, int dif)
    {
        if (sk.InetNum != num) return false;
        if (sk.BoundDevIf != 0 && sk.BoundDevIf != dif) return false;
        if (sk.SkcV6Daddr != UInt128.Zero && sk.SkcV6Daddr != rmtAddr) return false;
        if (sk.SkcV6RcvSaddr == UInt128.Zero) return true;
        if (sk.SkcV6RcvSaddr == locAddr) return true;
        return Ipv6Address.IsMulticast(locAddr); // inet6_mc_check(): no source filters kept
    }

    /// <summary>Whether an ICMPv6 raw socket's filter blocks the message (too short for a header: blocked).</summary>
    /// <remarks>Mirrors net/ipv6/raw.c: icmpv6_filter().</remarks>
    private static bool Icmpv6Filter(Raw6Sock sk, SkBuff skb)
    {
        if (skb.Len < Icmpv6Header.Length) return true;
        uint type = skb.Buffer[skb.Data];
        return (sk.Filter[type >> 5] & (1u << (int)(type & 31))) != 0;
    }

    /// <summary>
    /// Gives every raw socket of <paramref name="nexthdr"/> its copy of a packet (skb.Data at that
    /// header; the IPv6 header stays reachable at NetworkHeader). A checksumming socket drops a copy
    /// whose checksum is wrong (its sk_drops). True if a socket matched, filtered or not.
    /// </summary>
    /// <remarks>Mirrors raw6_local_deliver() -> ipv6_raw_deliver() -> rawv6_rcv() -> rawv6_rcv_skb().</remarks>
    internal static bool Raw6LocalDeliver(NetNamespace net, SkBuff skb, int nexthdr)
    {
        var list = RawV6Prot.Sockets(net);
        if (list.Count == 0) return false;
        var ip6 = Ipv6Header.Create(skb.Buffer.AsSpan(skb.NetworkHeader, Ipv6Header.Length));
        UInt128 saddr = ip6.Source, daddr = ip6.Destination;
        int dif = skb.Ip6cb.Iif != 0 ? skb.Ip6cb.Iif : skb.Dev?.IfIndex ?? 0;
        bool delivered = false;
        for (int i = 0; i < list.Count; i++)
        {
            if (list[i] is not Raw6Sock sk || !RawV6Match(sk, nexthdr, daddr, saddr, dif)) continue;
            delivered = true;
            if (nexthdr == IPPROTO_ICMPV6 && Icmpv6Filter(sk, skb)) continue;
            var clone = Udp.CopySkb(net, skb);
            if (clone is null) { sk.Drops++; continue; }
            clone.TransportHeader = clone.Data;
            if (sk.Checksum && Checksum.TcpUdpV6(saddr, daddr, (byte)sk.InetNum, clone.DataSpan) != 0)
            {
                sk.Drops++;
                net.KfreeSkbReason(clone, SkbDropReason.IcmpCsum); // SKB_DROP_REASON_SKB_CSUM
                continue;
            }
            if (sk.SockQueueRcvSkb(clone) < 0) net.KfreeSkbReason(clone, SkbDropReason.SocketRcvBuff);
        }
        return delivered;
    }

    /// <summary>An ICMPv6 error about a packet of <paramref name="nexthdr"/> (skb.Data at the quoted IPv6 header) to the raw sockets that could have sent it.</summary>
    /// <remarks>Mirrors raw6_icmp_error() -> rawv6_err().</remarks>
    internal static void Raw6IcmpError(NetNamespace net, SkBuff skb, int nexthdr, byte type, byte code, uint info)
    {
        var list = RawV6Prot.Sockets(net);
        if (list.Count == 0) return;
        var ip6 = Ipv6Header.Create(skb.DataSpan);
        int dif = skb.Ip6cb.Iif != 0 ? skb.Ip6cb.Iif : skb.Dev?.IfIndex ?? 0;
        for (int i = 0; i < list.Count; i++)
            if (list[i] is Raw6Sock sk && RawV6Match(sk, nexthdr, ip6.Source, ip6.Destination, dif)) Rawv6Err(sk, skb, type, code, info);
    }

    /// <remarks>Mirrors rawv6_err(): a Packet Too Big updates the path and is hard only with IPV6_PMTUDISC_DO.</remarks>
    private static void Rawv6Err(Raw6Sock sk, SkBuff skb, byte type, byte code, uint info)
    {
        var np = sk.Pinet6!;
        bool recverr = np.Recverr;
        // Report error on raw socket, if: 1. User requested recverr. 2. Socket is connected
        // (otherwise the error indication is useless without recverr) and error is hard.
        if (!recverr && sk.State != TcpState.Established) return;
        bool harderr = Icmpv6.Icmpv6ErrConvert(type, code, out int err);
        if (type == Icmpv6Type.PktTooBig)
        {
            Route6Pmtu.Ip6SkUpdatePmtu(skb, sk, info);
            harderr = np.Pmtudisc == IPV6_PMTUDISC_DO;
        }
        if (recverr)
        {
            int payload = skb.Data;
            if (!sk.Hdrincl) payload += Ipv6Header.Length;
            Inet6Datagram.Ipv6IcmpError(sk, skb, err, 0, info, payload);
        }
        if (recverr || harderr)
        {
            sk.Err = err;
            sk.ErrorReport();
        }
    }
}

/// <summary>
/// A raw IPv6 socket (struct raw6_sock): an inet_sock plus the checksum it computes and verifies
/// (IPV6_CHECKSUM) and the ICMPv6 type filter (ICMPV6_FILTER).
/// <remarks>Mirrors include/linux/ipv6.h: struct raw6_sock.</remarks>
/// </summary>
internal sealed class Raw6Sock : InetSock
{
    /// <summary>sizeof(struct icmp6_filter).</summary>
    public const int FilterSize = 32;
    /// <summary>checksum: whether the kernel computes the checksum on send and verifies it on receive.</summary>
    public bool Checksum;
    /// <summary>offset: where in the data the 16-bit checksum goes.</summary>
    public int Offset;
    /// <summary>filter: bit n set blocks ICMPv6 type n (ICMP6_FILTER_WILLBLOCK).</summary>
    public readonly uint[] Filter = new uint[8];
}
