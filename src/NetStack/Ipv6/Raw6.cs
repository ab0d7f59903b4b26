using NetStack.Core;
using NetStack.Ipv4;
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
    public override Sock? CreateSock(NetNamespace net) => new RawSock();
    public override bool HasBind => true;

    /// <summary>The raw_v6_hashinfo of a namespace: every hashed AF_INET6 raw socket.</summary>
    internal static List<InetSock> Sockets(NetNamespace net) => net.Inet6.RawV6Hashinfo;

    /// <remarks>rawv6_close() -> sk_common_release().</remarks>
    public override void Close(Sock sk, long timeout) => AfInet.SkCommonRelease(sk);
    /// <remarks>ip6_datagram_connect_v6_only().</remarks>
    public override int Connect(Sock sk, in SockAddr addr) => Inet6Datagram.Ip6DatagramConnectV6Only(sk, addr);
    /// <remarks>__udp_disconnect().</remarks>
    public override int Disconnect(Sock sk, int flags) => Udp.UdpDisconnect(sk, flags);
    /// <remarks>rawv6_setsockopt(): SOL_RAW/ICMPV6 filters are not modelled; the rest is ipv6_setsockopt().</remarks>
    public override int Setsockopt(Sock sk, int level, int optname, ReadOnlySpan<byte> optval) => Ipv6Sockglue.Ipv6Setsockopt(sk, level, optname, optval);
    /// <remarks>rawv6_getsockopt().</remarks>
    public override int Getsockopt(Sock sk, int level, int optname, Span<byte> optval, ref int optlen) => Ipv6Sockglue.Ipv6Getsockopt(sk, level, optname, optval, ref optlen);
    /// <remarks>rawv6_sendmsg().</remarks>
    public override int Sendmsg(Sock sk, ref MsgHdr msg, ReadOnlySpan<byte> data) => Raw6.Rawv6Sendmsg(sk, ref msg, data);
    /// <remarks>rawv6_recvmsg(): whatever the IPv6 input queued.</remarks>
    public override int Recvmsg(Sock sk, ref MsgHdr msg, Span<byte> buf, int flags)
    {
        var skb = Datagram.SkbRecvDatagram(sk, flags, out int err);
        if (skb is null) return err;
        int copied = Math.Min(buf.Length, skb.Len);
        if (copied < skb.Len) msg.Flags |= MSG_TRUNC;
        skb.DataSpan[..copied].CopyTo(buf);
        if ((flags & MSG_PEEK) == 0) sk.SkbFreeDatagram(skb);
        return copied;
    }
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
    /// Sends a raw IPv6 datagram: the destination (a sockaddr_in6 of SIN6_LEN_RFC2133 bytes, AF_INET6;
    /// or the connected peer), never v4-mapped, then the route.
    /// </summary>
    /// <remarks>Mirrors net/ipv6/raw.c: rawv6_sendmsg().</remarks>
    public static int Rawv6Sendmsg(Sock sk, ref MsgHdr msg, ReadOnlySpan<byte> data)
    {
        var inet = (InetSock)sk;
        // Rough check on arithmetic overflow, better check is made in ip6_append_data().
        if (data.Length > 0xFFFF) return -Errno.EMSGSIZE;
        // Mirror BSD error message compatibility
        if ((msg.Flags & MSG_OOB) != 0) return -Errno.EOPNOTSUPP;
        UInt128 daddr;
        if (msg.HasName && msg.Name.Len != 0)
        {
            if (msg.Name.Len < Sin6LenRfc2133) return -Errno.EINVAL;
            if (msg.Name.Family != 0 && msg.Name.Family != AF_INET6) return -Errno.EAFNOSUPPORT;
            daddr = msg.Name.Addr6;
        }
        else
        {
            if (sk.State != TcpState.Established) return -Errno.EDESTADDRREQ;
            daddr = sk.SkcV6Daddr;
        }
        if (Wire.Ipv6Address.IsV4Mapped(daddr)) return -Errno.ENETUNREACH;
        // HOOK ipv6net: ip6_dst_lookup_flow(), then rawv6_send_hdrinc() / ip6_append_data().
        var saddr = inet.Pinet6!.Saddr;
        int err = AfInet6.Ip6DstLookupFlow(sk.Net, sk, daddr, ref saddr, sk.BoundDevIf);
        return err != 0 ? err : -Errno.ENETUNREACH;
    }
}
