using System.Buffers.Binary;
using NetStack.Core;
using NetStack.Net;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Ipv4;

/// <summary>
/// The raw sockets of one stack, by IP protocol.
/// <remarks>Mirrors net/ipv4/raw.c: struct raw_hashinfo raw_v4_hashinfo.</remarks>
/// </summary>
internal sealed class RawHashinfo
{
    // IPPROTO_MAX (263) slots: socket(SOCK_RAW, 256..262) is valid in Linux; such a socket can
    // simply never match a received packet (IP protocol numbers stop at 255).
    public readonly List<RawSock>?[] Ht = new List<RawSock>?[Uapi.SocketConstants.IPPROTO_MAX];
    public int Count;
}

/// <summary>
/// A raw socket (struct raw_sock): an inet_sock plus the ICMP type filter.
/// <remarks>Mirrors include/net/raw.h: struct raw_sock.</remarks>
/// </summary>
internal sealed class RawSock : InetSock
{
    /// <summary>ICMP_FILTER: bit n set drops ICMP type n (struct icmp_filter).</summary>
    public uint IcmpFilter;
}

/// <summary>
/// raw_prot: SOCK_RAW sockets, which see every packet of their IP protocol and send with or
/// without their own IP header.
/// <remarks>Mirrors net/ipv4/raw.c: struct proto raw_prot.</remarks>
/// </summary>
internal sealed class RawProt : Proto
{
    public static readonly RawProt Instance = new();
    public override string Name => "RAW";
    public override Sock? CreateSock(NetNamespace net) => new RawSock();
    public override bool HasBind => true;
    public override bool HasIoctl => true;

    /// <remarks>raw_close() -> sk_common_release().</remarks>
    public override void Close(Sock sk, long timeout) => AfInet.SkCommonRelease(sk);
    /// <remarks>ip4_datagram_connect().</remarks>
    public override int Connect(Sock sk, in SockAddr addr) => Udp.Ip4DatagramConnect(sk, addr);
    /// <remarks>__udp_disconnect().</remarks>
    public override int Disconnect(Sock sk, int flags) => Udp.UdpDisconnect(sk, flags);
    /// <remarks>raw_ioctl().</remarks>
    public override int Ioctl(Sock sk, int cmd, out int karg) => Raw.RawIoctl(sk, cmd, out karg);
    /// <remarks>raw_sk_init(): an ICMP socket starts with an empty filter.</remarks>
    public override int Init(Sock sk)
    {
        if (((InetSock)sk).InetNum == IpProto.ICMP) ((RawSock)sk).IcmpFilter = 0;
        return 0;
    }
    /// <remarks>raw_setsockopt().</remarks>
    public override int Setsockopt(Sock sk, int level, int optname, ReadOnlySpan<byte> optval) => Raw.RawSetsockopt(sk, level, optname, optval);
    /// <remarks>raw_getsockopt().</remarks>
    public override int Getsockopt(Sock sk, int level, int optname, Span<byte> optval, ref int optlen) => Raw.RawGetsockopt(sk, level, optname, optval, ref optlen);
    /// <remarks>raw_sendmsg().</remarks>
    public override int Sendmsg(Sock sk, ref MsgHdr msg, ReadOnlySpan<byte> data) => Raw.RawSendmsg(sk, ref msg, data);
    /// <remarks>raw_recvmsg().</remarks>
    public override int Recvmsg(Sock sk, ref MsgHdr msg, Span<byte> buf, int flags) => Raw.RawRecvmsg(sk, ref msg, buf, flags);
    /// <remarks>raw_bind().</remarks>
    public override int Bind(Sock sk, in SockAddr addr) => Raw.RawBind(sk, addr);
    /// <remarks>raw_hash_sk().</remarks>
    public override int Hash(Sock sk) => Raw.RawHashSk(sk);
    /// <remarks>raw_unhash_sk().</remarks>
    public override void Unhash(Sock sk) => Raw.RawUnhashSk(sk);
}

/// <summary>
/// Raw IP sockets.
/// <remarks>Mirrors net/ipv4/raw.c.</remarks>
/// </summary>
internal static class Raw
{
    /// <summary>Raw sockets in each namespace: hooks raw_local_deliver() into ip_local_deliver() and raw_icmp_error() into icmp_unreach().</summary>
    /// <remarks>Mirrors net/ipv4/raw.c: raw_net_ops (raw_init_net).</remarks>
    internal sealed class RawNetOps : PernetOperations
    {
        public static readonly RawNetOps Instance = new();
        private RawNetOps() { }
        public override string Name => "raw";

        public override void Init(NetNamespace net)
        {
            var ipv4 = net.Ipv4;
            ipv4.RawLocalDeliver = RawLocalDeliver;
            ipv4.RawIcmpError = RawIcmpError;
        }
    }

    /// <remarks>Mirrors net/ipv4/raw.c: raw_hash_sk().</remarks>
    public static int RawHashSk(Sock sk)
    {
        var rsk = (RawSock)sk;
        var h = sk.Net.Ipv4.RawHash;
        if (rsk.Hashed) return 0;
        (h.Ht[rsk.InetNum] ??= new List<RawSock>(1)).Add(rsk);
        h.Count++;
        rsk.Hashed = true;
        return 0;
    }

    /// <remarks>Mirrors net/ipv4/raw.c: raw_unhash_sk().</remarks>
    public static void RawUnhashSk(Sock sk)
    {
        var rsk = (RawSock)sk;
        if (!rsk.Hashed) return;
        var h = sk.Net.Ipv4.RawHash;
        if (h.Ht[rsk.InetNum]?.Remove(rsk) == true) h.Count--;
        rsk.Hashed = false;
    }

    /// <remarks>Mirrors net/ipv4/raw.c: raw_v4_match().</remarks>
    private static bool RawV4Match(RawSock sk, int num, uint raddr, uint laddr, int dif) =>
        sk.InetNum == num &&
        (sk.InetDaddr == 0 || sk.InetDaddr == raddr) &&
        (sk.InetRcvSaddr == 0 || sk.InetRcvSaddr == laddr) &&
        (sk.BoundDevIf == 0 || sk.BoundDevIf == dif);

    /// <summary>True if the ICMP filter drops this packet's type.</summary>
    /// <remarks>Mirrors net/ipv4/raw.c: icmp_filter().</remarks>
    private static bool IcmpFilter(RawSock sk, SkBuff skb)
    {
        if (skb.Len < 1) return true;
        int type = skb.Buffer[skb.TransportHeader];
        if (type < 32) return ((1u << type) & sk.IcmpFilter) != 0;
        // Do not block unknown ICMP types.
        return false;
    }

    /// <summary>
    /// Gives every matching raw socket its own copy of a received packet (IP header included).
    /// skb.Data is at the transport header. Returns true if any socket took a copy.
    /// </summary>
    /// <remarks>Mirrors net/ipv4/raw.c: raw_local_deliver() -> raw_v4_input() -> raw_rcv().</remarks>
    public static bool RawLocalDeliver(NetNamespace net, SkBuff skb, int protocol)
    {
        var list = net.Ipv4.RawHash.Ht[protocol];
        if (list is null || list.Count == 0) return false;
        bool delivered = false;
        int dif = skb.Dev?.IfIndex ?? 0;
        for (int i = 0; i < list.Count; i++)
        {
            var sk = list[i];
            if (!RawV4Match(sk, protocol, skb.Saddr, skb.Daddr, dif) || !Igmp.IpMcSfAllow(sk, skb.Daddr, skb.Saddr, dif)) continue;
            delivered = true;
            if (protocol == IpProto.ICMP && IcmpFilter(sk, skb)) continue;
            var clone = Udp.CopySkb(net, skb);
            if (clone is null) { sk.Drops++; continue; }
            // raw_rcv(): push the IP header back; the raw socket gets the whole datagram.
            clone.Data = clone.NetworkHeader;
            IpSockglue.Ipv4PktinfoPrepare(sk, clone); // raw_rcv_skb()
            if (sk.SockQueueRcvSkb(clone) < 0) net.KfreeSkbReason(clone, SkbDropReason.SocketRcvBuff);
        }
        return delivered;
    }

    /// <summary>Reports an ICMP error to the raw sockets of the quoted packet's protocol.</summary>
    /// <remarks>Mirrors net/ipv4/raw.c: raw_icmp_error() -> raw_err().</remarks>
    public static void RawIcmpError(NetNamespace net, SkBuff skb, int protocol, uint info)
    {
        var list = net.Ipv4.RawHash.Ht[protocol];
        if (list is null || list.Count == 0) return;
        var iph = Ipv4Header.Create(skb.DataSpan);
        byte type = skb.Buffer[skb.TransportHeader], code = skb.Buffer[skb.TransportHeader + 1];
        int dif = skb.Dev?.IfIndex ?? 0;
        for (int i = 0; i < list.Count; i++)
        {
            var sk = list[i];
            if (RawV4Match(sk, iph.Protocol, iph.Destination, iph.Source, dif)) RawErr(sk, skb, type, code, info);
        }
    }

    /// <remarks>Mirrors net/ipv4/raw.c: raw_err().</remarks>
    private static void RawErr(RawSock sk, SkBuff skb, byte type, byte code, uint info)
    {
        if (type == IcmpType.Redirect) return;
        // Report error on raw socket, if: 1. User requested ip_recverr. 2. Socket is connected
        // (otherwise the error indication is useless without ip_recverr) and error is hard.
        bool recverr = sk.RecvErr;
        if (!recverr && sk.State != TcpState.Established) return;
        int err;
        bool harderr = false;
        switch (type)
        {
            default:
            case IcmpType.TimeExceeded:
                err = Errno.EHOSTUNREACH;
                break;
            case IcmpType.SourceQuench:
                return;
            case IcmpType.ParameterProb:
                err = Errno.EPROTO;
                harderr = true;
                break;
            case IcmpType.DestUnreach:
                err = Errno.EHOSTUNREACH;
                if (code > IcmpType.NrUnreach) break;
                if (code == IcmpType.FragNeeded)
                {
                    harderr = sk.Pmtudisc != IP_PMTUDISC_DONT;
                    err = Errno.EMSGSIZE;
                }
                else
                {
                    err = Udp.IcmpErrConvert[code].Errno;
                    harderr = Udp.IcmpErrConvert[code].Fatal;
                }
                break;
        }
        if (recverr)
        {
            // The data is the quoted packet's payload, or the whole quoted packet for IP_HDRINCL.
            int payload = skb.Data + Ipv4Header.Create(skb.DataSpan).HeaderLength;
            if (sk.Hdrincl) payload = skb.Data;
            IpSockglue.IpIcmpError(sk, skb, err, 0, info, payload);
        }
        if (recverr || harderr)
        {
            sk.Err = err;
            sk.ErrorReport();
        }
    }

    /// <summary>Binds the local address only (raw sockets have no ports).</summary>
    /// <remarks>Mirrors net/ipv4/raw.c: raw_bind(): note there is no family check.</remarks>
    public static int RawBind(Sock sk, in SockAddr addr)
    {
        var inet = (InetSock)sk;
        if (sk.State != TcpState.Close || addr.Len < SockaddrInSize) return -Errno.EINVAL;
        var chk = AfInet.InetAddrType(sk.Net, addr.Addr);
        if (!AfInet.InetAddrValidOrNonlocal(sk.Net, inet, addr.Addr, chk)) return -Errno.EADDRNOTAVAIL;
        inet.InetRcvSaddr = inet.InetSaddr = addr.Addr;
        if (chk == RtnType.Multicast || chk == RtnType.Broadcast) inet.InetSaddr = 0; // Use device
        inet.DstReset();
        return 0;
    }

    /// <summary>
    /// Sends a raw datagram: with IP_HDRINCL the caller's IP header goes out (source, length, ID
    /// and checksum filled in as Linux does); without it, the stack adds one with the socket's protocol.
    /// </summary>
    /// <remarks>Mirrors net/ipv4/raw.c: raw_sendmsg() and raw_send_hdrinc().</remarks>
    public static int RawSendmsg(Sock sk, ref MsgHdr msg, ReadOnlySpan<byte> data)
    {
        var inet = (InetSock)sk;
        var net = sk.Net;
        int len = data.Length;
        if (len > 0xFFFF) return -Errno.EMSGSIZE;
        bool hdrincl = inet.Hdrincl;
        // Check the flags.
        if ((msg.Flags & MSG_OOB) != 0) return -Errno.EOPNOTSUPP; // Mirror BSD error message compatibility

        uint daddr;
        // Get and verify the address (by msg_namelen, not msg_name).
        if (msg.HasName && msg.Name.Len != 0)
        {
            if (msg.Name.Len < SockaddrInSize) return -Errno.EINVAL;
            if (msg.Name.Family != AF_INET && msg.Name.Family != 0) return -Errno.EAFNOSUPPORT; // "forgot to set AF_INET"
            daddr = msg.Name.Addr;
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

        if (hdrincl) err = RawSendHdrinc(sk, data, rt, saddr, daddr);
        else
        {
            // ip_append_data() + ip_push_pending_frames()
            var skb = IpOutput.IpMakeSkb(sk, rt, daddr, data, 0, out bool df, out err);
            if (skb is null) return err;
            err = IpOutput.IpSendSkb(sk, skb, rt, saddr, daddr, inet.InetNum, df);
            if (err == -Errno.ENOBUFS && !inet.RecvErr) err = 0;
            if (err == 0 && inet.InetNum == IpProto.ICMP && len >= 1) IcmpOutCount(net, data[0]);
        }
        return err < 0 ? err : len;
    }

    /// <remarks>Mirrors net/ipv4/raw.c: raw_send_hdrinc().</remarks>
    private static int RawSendHdrinc(Sock sk, ReadOnlySpan<byte> data, in Rtable rt, uint saddr, uint daddr)
    {
        var net = sk.Net;
        int length = data.Length;
        if (length > rt.Dev.Mtu)
        {
            IpSockglue.IpLocalError(sk, Errno.EMSGSIZE, daddr, ((InetSock)sk).InetDport, (uint)rt.Dev.Mtu);
            return -Errno.EMSGSIZE;
        }
        if (length < Ipv4Header.MinLength) return -Errno.EINVAL;
        int serr = sk.SockError();
        if (serr != 0) return serr;
        if ((sk.Shutdown & SEND_SHUTDOWN) != 0) return -Errno.EPIPE;
        var skb = net.AllocSkb(length);
        if (skb is null) return -Errno.ENOBUFS;
        var b = skb.Put(length);
        data.CopyTo(b);
        var iph = Ipv4Header.Create(b);
        int iphlen = iph.Ihl * 4;
        // "We don't want to modify the ip header, but we do need to be sure that it won't cause
        // problems later along the network stack": ihl must not point beyond the buffer.
        if (iphlen > length)
        {
            skb.Free();
            net.Mib.Ip[IpMib.OutDiscards]++;
            return -Errno.EINVAL;
        }
        if (iphlen >= Ipv4Header.MinLength)
        {
            if (iph.Source == 0) iph.Source = saddr;
            iph.TotalLength = (ushort)length;
            // raw_send_hdrinc(): an ID of 0 is chosen by ip_select_ident(net, skb, NULL): still 0 with DF.
            if (iph.Id == 0) iph.Id = IpOutput.IpSelectIdent(net, null, iph.DontFragment);
            iph.FillChecksum();
            if (iph.Protocol == IpProto.ICMP && length >= iphlen + IcmpHeader.Length) IcmpOutCount(net, b[iphlen]);
        }
        skb.Sk = sk;
        int err = IpOutput.IpLocalOut(net, skb, rt, daddr);
        if (err != 0)
        {
            net.Mib.Ip[IpMib.OutDiscards]++;
            if (err == -Errno.ENOBUFS && !((InetSock)sk).RecvErr) err = 0;
        }
        return err;
    }

    /// <remarks>Mirrors net/ipv4/icmp.c: icmp_out_count().</remarks>
    private static void IcmpOutCount(NetNamespace net, byte type)
    {
        var mib = net.Mib.Icmp;
        mib[IcmpMib.OutMsgs]++;
        switch (type)
        {
            case IcmpType.Echo: mib[IcmpMib.OutEchos]++; break;
            case IcmpType.EchoReply: mib[IcmpMib.OutEchoReps]++; break;
            case IcmpType.DestUnreach: mib[IcmpMib.OutDestUnreachs]++; break;
        }
    }

    /// <summary>Receives a whole IP datagram; the sender in msg.Name (port 0), the SOL_IP control messages asked for in msg.Control.</summary>
    /// <remarks>Mirrors net/ipv4/raw.c: raw_recvmsg().</remarks>
    public static int RawRecvmsg(Sock sk, ref MsgHdr msg, Span<byte> buf, int flags)
    {
        if ((flags & MSG_OOB) != 0) return -Errno.EOPNOTSUPP;
        if ((flags & MSG_ERRQUEUE) != 0) return IpSockglue.IpRecvError(sk, ref msg, buf);
        var skb = Datagram.SkbRecvDatagram(sk, flags, out int err);
        if (skb is null) return err;
        int copied = skb.Len;
        if (buf.Length < copied)
        {
            msg.Flags |= MSG_TRUNC;
            copied = buf.Length;
        }
        skb.DataSpan[..copied].CopyTo(buf);
        SockTimestamp.SockRecvTimestamp(ref msg, sk, skb); // sock_recv_timestamp(), before ip_cmsg_recv()
        SockTimestamp.SockRecvDrops(ref msg, sk, skb);
        if (msg.HasName)
        {
            msg.Name = new SockAddr(AF_INET, skb.Saddr, 0);
            msg.NameLen = SockaddrInSize;
        }
        if (((InetSock)sk).CmsgFlags != 0) IpSockglue.IpCmsgRecv(ref msg, (InetSock)sk, skb);
        if ((flags & MSG_TRUNC) != 0) copied = skb.Len;
        if ((flags & MSG_PEEK) == 0) sk.SkbFreeDatagram(skb);
        return copied;
    }

    /// <remarks>Mirrors net/ipv4/raw.c: raw_ioctl(): SIOCOUTQ, SIOCINQ (the whole next datagram).</remarks>
    public static int RawIoctl(Sock sk, int cmd, out int karg)
    {
        switch (cmd)
        {
            case SIOCOUTQ: karg = sk.WmemAlloc; return 0;
            case SIOCINQ: karg = sk.ReceiveQueue.Peek() is { } skb ? skb.Len : 0; return 0;
            default: karg = 0; return -Errno.ENOIOCTLCMD; // ipmr_ioctl() knows nothing else either
        }
    }

    /// <remarks>Mirrors net/ipv4/raw.c: raw_setsockopt() -> do_raw_setsockopt() / ip_setsockopt().</remarks>
    public static int RawSetsockopt(Sock sk, int level, int optname, ReadOnlySpan<byte> optval)
    {
        if (level != SOL_RAW) return IpSockglue.IpSetsockopt(sk, level, optname, optval);
        if (optname == ICMP_FILTER)
        {
            if (((InetSock)sk).InetNum != IpProto.ICMP) return -Errno.EOPNOTSUPP;
            // raw_seticmpfilter(): a short value overwrites only its bytes.
            Span<byte> f = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(f, ((RawSock)sk).IcmpFilter);
            optval[..Math.Min(optval.Length, 4)].CopyTo(f);
            ((RawSock)sk).IcmpFilter = BinaryPrimitives.ReadUInt32LittleEndian(f);
            return 0;
        }
        return -Errno.ENOPROTOOPT;
    }

    /// <remarks>Mirrors net/ipv4/raw.c: raw_getsockopt() -> do_raw_getsockopt() / ip_getsockopt().</remarks>
    public static int RawGetsockopt(Sock sk, int level, int optname, Span<byte> optval, ref int optlen)
    {
        if (level != SOL_RAW) return IpSockglue.IpGetsockopt(sk, level, optname, optval, ref optlen);
        if (optname == ICMP_FILTER)
        {
            if (((InetSock)sk).InetNum != IpProto.ICMP) return -Errno.EOPNOTSUPP;
            int len = optlen;
            if (len < 0) return -Errno.EINVAL;
            if (len > 4) len = 4;
            Span<byte> f = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(f, ((RawSock)sk).IcmpFilter);
            f[..len].CopyTo(optval);
            optlen = len;
            return 0;
        }
        return -Errno.ENOPROTOOPT;
    }
}
