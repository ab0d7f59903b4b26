using System.Buffers.Binary;
using NetStack.Core;
using NetStack.Net;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Ipv4;

/// <summary>
/// The bound UDP sockets of one stack, by local port (the hslot chains of udp_table). Binding
/// allocates (a list per port, once); receive lookups do not.
/// <remarks>Mirrors include/net/udp.h: struct udp_table / struct udp_hslot.</remarks>
/// </summary>
internal sealed class UdpTable
{
    public readonly Dictionary<ushort, List<InetSock>> Ports = new();

    public List<InetSock>? Slot(ushort port) => Ports.TryGetValue(port, out var l) ? l : null;

    public void Add(InetSock sk)
    {
        if (!Ports.TryGetValue(sk.InetNum, out var l)) Ports[sk.InetNum] = l = new List<InetSock>(2);
        l.Add(sk);
    }

    public bool Remove(InetSock sk)
    {
        if (!Ports.TryGetValue(sk.InetNum, out var l) || !l.Remove(sk)) return false;
        if (l.Count == 0) Ports.Remove(sk.InetNum);
        return true;
    }

    public int Count
    {
        get
        {
            int n = 0;
            foreach (var l in Ports.Values) n += l.Count;
            return n;
        }
    }
}

/// <summary>
/// A UDP socket (struct udp_sock): an inet_sock plus whether it is in the port table.
/// <remarks>Mirrors include/linux/udp.h: struct udp_sock.</remarks>
/// </summary>
internal class UdpSock : InetSock
{
    // sk_forward_alloc is Sock.ForwardAlloc: bytes charged to udp_mem (whole pages) and not yet used by a
    // queued datagram. UDP keeps its own account of udp_mem (Udp.UdpRmemSchedule and friends) rather than
    // Sock.MemAccount, which TCP's tcp_mem uses.

    /// <summary>udp_test_bit(CORK, sk): UDP_CORK is on.</summary>
    public bool Corkflag;
    /// <summary>up->pending: AF_INET while a datagram is corked, else 0.</summary>
    public int Pending;
    /// <summary>up->len: the corked datagram's length so far, UDP header included.</summary>
    public int Len;
    /// <summary>inet->cork: the corked datagram with its flow and route.</summary>
    internal InetCork Cork;
}

/// <summary>
/// udp_prot: what SOCK_DGRAM/IPPROTO_UDP sockets are made of.
/// <remarks>Mirrors net/ipv4/udp.c: struct proto udp_prot.</remarks>
/// </summary>
internal sealed class UdpProt : Proto
{
    public static readonly UdpProt Instance = new();
    public override string Name => "UDP";
    public override Sock? CreateSock(NetNamespace net) => new UdpSock();
    public override bool HasIoctl => true;

    /// <remarks>udp_lib_close() -> sk_common_release().</remarks>
    public override void Close(Sock sk, long timeout) => AfInet.SkCommonRelease(sk);
    /// <remarks>ip4_datagram_connect().</remarks>
    public override int Connect(Sock sk, in SockAddr addr) => Udp.Ip4DatagramConnect(sk, addr);
    /// <remarks>udp_disconnect().</remarks>
    public override int Disconnect(Sock sk, int flags) => Udp.UdpDisconnect(sk, flags);
    /// <remarks>udp_ioctl().</remarks>
    public override int Ioctl(Sock sk, int cmd, out int karg) => Udp.UdpIoctl(sk, cmd, out karg);
    /// <remarks>udp_init_sock().</remarks>
    public override int Init(Sock sk) => 0;
    /// <summary>Frees what the socket still holds (a corked datagram, queued ones) and gives its memory back to udp_mem.</summary>
    /// <remarks>Mirrors udp_destroy_sock() (udp_flush_pending_frames()) and udp_destruct_common(): purge the receive queue, udp_rmem_release(sk, total, 0), sk_mem_reclaim().</remarks>
    public override void Destroy(Sock sk)
    {
        Udp.UdpFlushPendingFrames((UdpSock)sk);
        while (sk.ReceiveQueue.Dequeue() is { } skb) Udp.SkbConsumeUdp(sk, skb, partial: 0);
        Udp.UdpRmemRelease((UdpSock)sk, 0, partial: 0);
    }
    /// <remarks>udp_setsockopt().</remarks>
    public override int Setsockopt(Sock sk, int level, int optname, ReadOnlySpan<byte> optval) => Udp.UdpSetsockopt(sk, level, optname, optval);
    /// <remarks>udp_getsockopt().</remarks>
    public override int Getsockopt(Sock sk, int level, int optname, Span<byte> optval, ref int optlen) => Udp.UdpGetsockopt(sk, level, optname, optval, ref optlen);
    /// <remarks>udp_sendmsg().</remarks>
    public override int Sendmsg(Sock sk, ref MsgHdr msg, ReadOnlySpan<byte> data) => Udp.UdpSendmsg(sk, ref msg, data);
    /// <remarks>udp_recvmsg().</remarks>
    public override int Recvmsg(Sock sk, ref MsgHdr msg, Span<byte> buf, int flags) => Udp.UdpRecvmsg(sk, ref msg, buf, flags);
    /// <remarks>udp_lib_hash(): never called for UDP (BUG() in the kernel); binding hashes through get_port.</remarks>
    public override int Hash(Sock sk) => 0;
    /// <remarks>udp_lib_unhash().</remarks>
    public override void Unhash(Sock sk) => Udp.UdpLibUnhash(sk);
    /// <remarks>udp_v4_rehash() -> udp_lib_rehash(): the table is keyed by port only, so a new local address needs no move; a member of a SO_REUSEPORT group leaves it.</remarks>
    public override void Rehash(Sock sk)
    {
        if (sk.Hashed && sk.ReuseportCb is not null) SockReuseport.ReuseportDetachSock(sk);
    }
    /// <remarks>udp_v4_get_port().</remarks>
    public override int GetPort(Sock sk, ushort snum) => Udp.UdpLibGetPort(sk, snum);
}

/// <summary>
/// The User Datagram Protocol: port binding, send, receive, ICMP errors.
/// <remarks>Mirrors net/ipv4/udp.c (and net/ipv4/datagram.c for connect).</remarks>
/// </summary>
internal static class Udp
{
    /// <summary>UDP in each namespace: the IP protocol handler.</summary>
    /// <remarks>Mirrors inet_init(): inet_add_protocol(&amp;udp_protocol, IPPROTO_UDP), and udp_sysctl_ops.</remarks>
    internal sealed class UdpNetOps : PernetOperations
    {
        public static readonly UdpNetOps Instance = new();
        private UdpNetOps() { }
        public override string Name => "udp";
        public override void Init(NetNamespace net) => net.InetAddProtocol(UdpProtocol, IpProto.UDP);
    }

    /// <summary>udp_protocol: UDP's entry in inet_protos[].</summary>
    /// <remarks>Mirrors net/ipv4/af_inet.c: static const struct net_protocol udp_protocol = { .handler = udp_rcv, .err_handler = udp_err }.</remarks>
    internal static readonly NetProtocol UdpProtocol = new(UdpRcv, UdpErr);

    /// <summary>IP header + UDP header: what a datagram adds to its payload on the wire.</summary>
    private const int HeaderOverhead = Ipv4Header.MinLength + UdpHeader.Length;

    // ------------------------------------------------------------------ ports

    /// <summary>
    /// Binds to <paramref name="snum"/>, or to a free ephemeral port from
    /// net.ipv4.ip_local_port_range for 0. Returns 0 or -EADDRINUSE.
    /// </summary>
    /// <remarks>Mirrors net/ipv4/udp.c: udp_lib_get_port() (via udp_v4_get_port()).</remarks>
    public static int UdpLibGetPort(Sock sk, ushort snum)
    {
        var usk = (UdpSock)sk;
        var net = sk.Net;
        var table = net.Ipv4.UdpTable;
        if (snum == 0)
        {
            int low = net.Ipv4.Sysctl.IpLocalPortRangeLow, high = net.Ipv4.Sysctl.IpLocalPortRangeHigh;
            int remaining = high - low + 1;
            int first = low + Random.Shared.Next(remaining);
            // Walk the whole range from a random start (the kernel walks it in odd multiples of the
            // table size, which visits every port once too).
            for (int i = 0; i < remaining; i++)
            {
                ushort port = (ushort)(low + (first - low + i) % remaining);
                if (!UdpLibLportInuse(table, port, usk))
                {
                    snum = port;
                    goto found;
                }
            }
            return -Errno.EADDRINUSE;
        }
        if (UdpLibLportInuse(table, snum, usk)) return -Errno.EADDRINUSE;
    found:
        usk.InetNum = snum;
        if (!usk.Hashed)
        {
            if (usk.ReusePort && UdpReuseportAddSock(usk, table.Slot(snum)) != 0)
            {
                usk.InetNum = 0;
                return -Errno.EADDRINUSE; // fail_unlock
            }
            table.Add(usk);
            usk.Hashed = true;
        }
        return 0;
    }

    /// <summary>
    /// A SO_REUSEPORT socket joins the group of a socket on the same port, address and device
    /// owned by the same user, or starts one.
    /// </summary>
    /// <remarks>Mirrors net/ipv4/udp.c: udp_reuseport_add_sock() (inet_rcv_saddr_equal with match_wildcard = false).</remarks>
    private static int UdpReuseportAddSock(UdpSock sk, List<InetSock>? hslot)
    {
        uint uid = sk.Uid;
        if (hslot is not null)
        {
            // sk_for_each(): the chain from its head, the last bound first.
            for (int i = hslot.Count - 1; i >= 0; i--)
            {
                var sk2 = hslot[i];
                if (sk2 != sk && sk2.Family == sk.Family && sk2.InetNum == sk.InetNum &&
                    sk2.BoundDevIf == sk.BoundDevIf && sk2.ReusePort && uid == sk2.Uid &&
                    InetConnectionSock.InetRcvSaddrEqual(sk, sk2, matchWildcard: false))
                    return SockReuseport.ReuseportAddSock(sk, sk2, sk.InetRcvSaddr == Ipv4Address.Any);
            }
        }
        return SockReuseport.ReuseportAlloc(sk, sk.InetRcvSaddr == Ipv4Address.Any);
    }

    /// <summary>
    /// True if another socket on the port conflicts with <paramref name="sk"/>: not both
    /// SO_REUSEADDR, compatible devices, and equal or wildcard local addresses. The first such
    /// socket decides: both SO_REUSEPORT and one user (and sk in no group yet) shares the port.
    /// </summary>
    /// <remarks>Mirrors net/ipv4/udp.c: udp_lib_lport_inuse() with inet_rcv_saddr_equal(match_wildcard = true), bitmap == NULL.</remarks>
    private static bool UdpLibLportInuse(UdpTable table, ushort num, UdpSock sk)
    {
        var slot = table.Slot(num);
        if (slot is null) return false;
        uint uid = sk.Uid;
        // sk_for_each(): the chain from its head, the last bound first.
        for (int i = slot.Count - 1; i >= 0; i--)
        {
            var sk2 = slot[i];
            if (sk2 == sk) continue;
            if (sk2.Reuse != 0 && sk.Reuse != 0) continue;
            if (sk2.BoundDevIf != 0 && sk.BoundDevIf != 0 && sk2.BoundDevIf != sk.BoundDevIf) continue;
            if (!InetConnectionSock.InetRcvSaddrEqual(sk, sk2, matchWildcard: true)) continue;
            return !(sk2.ReusePort && sk.ReusePort && sk.ReuseportCb is null && uid == sk2.Uid);
        }
        return false;
    }

    /// <summary>Removes a socket from the port table; it is unbound afterwards.</summary>
    /// <remarks>Mirrors net/ipv4/udp.c: udp_lib_unhash().</remarks>
    public static void UdpLibUnhash(Sock sk)
    {
        var usk = (UdpSock)sk;
        if (!usk.Hashed) return;
        if (sk.ReuseportCb is not null) SockReuseport.ReuseportDetachSock(sk);
        sk.Net.Ipv4.UdpTable.Remove(usk);
        usk.Hashed = false;
        usk.InetNum = 0;
    }

    // ------------------------------------------------------------------ connect

    /// <summary>Connects a datagram socket: routes, picks the source, records the peer, TCP_ESTABLISHED.</summary>
    /// <remarks>Mirrors net/ipv4/datagram.c: ip4_datagram_connect() -> __ip4_datagram_connect().</remarks>
    public static int Ip4DatagramConnect(Sock sk, in SockAddr usin)
    {
        var inet = (InetSock)sk;
        if (usin.Len < SockaddrInSize) return -Errno.EINVAL;
        if (usin.Family != AF_INET) return -Errno.EAFNOSUPPORT;
        inet.DstReset();
        uint saddr = inet.InetSaddr, daddr = usin.Addr;
        int oif = inet.SendOif(daddr, ref saddr);
        int err = Route.IpRouteConnect(sk.Net, ref daddr, ref saddr, out var rt, onLink: sk.HasFlag(SockFlag.LocalRoute), oif); // ip_sock_rt_scope(), oif: the bound device, or IP_MULTICAST_IF for a group
        if (err != 0) return err; // OUTNOROUTES counted by the route lookup
        if (rt.Type == RtnType.Broadcast && !sk.HasFlag(SockFlag.Broadcast)) return -Errno.EACCES;
        if (inet.InetSaddr == 0) inet.InetSaddr = saddr; // Update source address
        if (inet.InetRcvSaddr == 0)
        {
            inet.InetRcvSaddr = saddr;
            sk.Prot.Rehash(sk);
        }
        inet.InetDaddr = daddr;
        inet.InetDport = usin.Port;
        SockReuseport.ReuseportHasConnsSet(sk);
        sk.State = TcpState.Established;
        inet.InetId = (ushort)Random.Shared.Next(0x10000);
        inet.Dst = rt;
        inet.DstValid = true;
        return 0;
    }

    /// <summary>connect(AF_UNSPEC): forgets the peer; unbinds what bind() did not pin.</summary>
    /// <remarks>Mirrors net/ipv4/udp.c: udp_disconnect() -> __udp_disconnect().</remarks>
    public static int UdpDisconnect(Sock sk, int flags)
    {
        var inet = (InetSock)sk;
        // 1003.1g - break association.
        sk.State = TcpState.Close;
        inet.InetDaddr = 0;
        inet.InetDport = 0;
        sk.BoundDevIf = 0;
        if ((sk.UserLocks & Sock.SockBindaddrLock) == 0)
        {
            inet.InetResetSaddr();
            if ((sk.UserLocks & Sock.SockBindportLock) != 0) sk.Prot.Rehash(sk);
        }
        if ((sk.UserLocks & Sock.SockBindportLock) == 0)
        {
            sk.Prot.Unhash(sk);
            inet.InetSport = 0;
        }
        inet.DstReset();
        return 0;
    }

    // ------------------------------------------------------------------ send

    /// <summary>
    /// Sends one datagram. Returns the payload length or a negative errno, with the checks in
    /// udp_sendmsg()'s order: size, MSG_OOB, destination, route, broadcast permission, then
    /// (in the allocation) a pending socket error and SEND_SHUTDOWN.
    /// Datagrams larger than the route's MTU are fragmented unless the socket asked for IP_PMTUDISC_DO.
    /// </summary>
    /// <remarks>Mirrors net/ipv4/udp.c: udp_sendmsg() -> ip_make_skb() -> udp_send_skb().</remarks>
    public static int UdpSendmsg(Sock sk, ref MsgHdr msg, ReadOnlySpan<byte> data)
    {
        var inet = (InetSock)sk;
        var up = (UdpSock)sk;
        var net = sk.Net;
        int len = data.Length;
        bool corkreq = up.Corkflag || (msg.Flags & MSG_MORE) != 0;
        if (len > 0xFFFF) return -Errno.EMSGSIZE;
        // Check the flags.
        if ((msg.Flags & MSG_OOB) != 0) return -Errno.EOPNOTSUPP; // Mirror BSD error message compatibility

        // There are pending frames: this send adds to them, whatever address it names.
        if (up.Pending != 0) return UdpAppendData(up, data, len, corkreq);

        uint daddr;
        ushort dport;
        bool connected = false;
        // Get and verify the address.
        if (msg.HasName)
        {
            ref var usin = ref msg.Name;
            if (usin.Len < SockaddrInSize) return -Errno.EINVAL;
            if (usin.Family != AF_INET && usin.Family != AF_UNSPEC) return -Errno.EAFNOSUPPORT;
            daddr = usin.Addr;
            dport = usin.Port;
            if (dport == 0) return -Errno.EINVAL;
        }
        else
        {
            if (sk.State != TcpState.Established) return -Errno.EDESTADDRREQ;
            daddr = inet.InetDaddr;
            dport = inet.InetDport;
            // Open fast path for connected socket.
            connected = true;
        }

        uint saddr = inet.InetSaddr;
        // A group send leaves by IP_MULTICAST_IF (unless bound to a device), from its address.
        int oif = inet.SendOif(daddr, ref saddr);
        if (Ipv4Address.IsMulticast(daddr)) connected = false;
        Rtable rt;
        // ip_sendmsg_scope(): SO_DONTROUTE or MSG_DONTROUTE look up an on-link route, never the cached one.
        bool onLink = sk.HasFlag(SockFlag.LocalRoute) || (msg.Flags & MSG_DONTROUTE) != 0;
        if (onLink) connected = false;
        if (connected && inet.DstValid && inet.Dst.Dev.IsUp)
        {
            rt = inet.Dst;
            saddr = saddr != 0 ? saddr : rt.PrefSrc;
        }
        else
        {
            int err = Route.IpRouteConnect(net, ref daddr, ref saddr, out rt, onLink, oif); // ipc.oif: the bound device, or IP_MULTICAST_IF for a group
            if (err != 0) return err;
            if (rt.Type == RtnType.Broadcast && !sk.HasFlag(SockFlag.Broadcast)) return -Errno.EACCES;
            if (connected)
            {
                inet.Dst = rt;
                inet.DstValid = true;
            }
        }

        if (corkreq)
        {
            // Now cork the socket to pend data.
            ref var cork = ref up.Cork;
            cork.Daddr = daddr;
            cork.Saddr = saddr;
            cork.Dport = dport;
            cork.Sport = inet.InetSport;
            cork.Rt = rt;
            up.Pending = AF_INET;
            return UdpAppendData(up, data, len + UdpHeader.Length, corkreq);
        }

        // Lockless fast path for the non-corking case. ip_make_skb(): the datagram with room for
        // the UDP header (larger than the MTU is fragmented by IP output).
        var skb = IpOutput.IpMakeSkb(sk, rt, daddr, data, UdpHeader.Length, out bool df, out int err2);
        if (skb is null)
        {
            if (err2 == -Errno.ENOBUFS) net.Mib.Udp[UdpMib.SndbufErrors]++;
            return err2;
        }
        new UdpRepr(inet.InetSport, dport, len).Emit(UdpHeader.Create(skb.DataSpan));
        return UdpSendSkb(sk, skb, rt, saddr, daddr, len, df);
    }

    /// <summary>
    /// The corked part of a send: adds <paramref name="data"/> to the pending datagram (its first
    /// part also counts the UDP header in <paramref name="ulen"/>), sends the datagram when the call
    /// does not ask for more, drops all of it on an error. Returns the bytes taken or a negative errno.
    /// </summary>
    /// <remarks>Mirrors net/ipv4/udp.c: udp_sendmsg() from do_append_data.</remarks>
    private static int UdpAppendData(UdpSock up, ReadOnlySpan<byte> data, int ulen, bool corkreq)
    {
        up.Len += ulen;
        int err = IpOutput.IpAppendData(up, ref up.Cork, data, UdpHeader.Length);
        if (err != 0) UdpFlushPendingFrames(up);
        else if (!corkreq) err = UdpPushPendingFrames(up);
        if (err == 0) return data.Length;
        if (err == -Errno.ENOBUFS) up.Net.Mib.Udp[UdpMib.SndbufErrors]++;
        return err;
    }

    /// <summary>Sends the corked datagram, if any, and uncorks: 0 or the send's error.</summary>
    /// <remarks>Mirrors net/ipv4/udp.c: udp_push_pending_frames() -> ip_finish_skb() -> udp_send_skb().</remarks>
    internal static int UdpPushPendingFrames(UdpSock up)
    {
        int err = 0;
        var skb = up.Cork.Skb;
        if (skb is not null)
        {
            up.Cork.Skb = null;
            // __ip_make_skb(): DF from the whole datagram's size.
            IpOutput.IpAppendDataCheck(up, up.Cork.Length, up.Cork.Rt.Dev.Mtu, out bool df);
            int len = up.Len - UdpHeader.Length;
            new UdpRepr(up.Cork.Sport, up.Cork.Dport, len).Emit(UdpHeader.Create(skb.DataSpan));
            err = UdpSendSkb(up, skb, up.Cork.Rt, up.Cork.Saddr, up.Cork.Daddr, len, df);
            if (err > 0) err = 0;
        }
        up.Len = 0;
        up.Pending = 0;
        return err;
    }

    /// <summary>Drops a corked datagram.</summary>
    /// <remarks>Mirrors net/ipv4/udp.c: udp_flush_pending_frames().</remarks>
    internal static void UdpFlushPendingFrames(UdpSock up)
    {
        if (up.Pending == 0) return;
        up.Len = 0;
        up.Pending = 0;
        IpOutput.IpFlushPendingFrames(ref up.Cork);
    }

    /// <summary>Checksums and hands a built datagram to IP; counts OutDatagrams or SndbufErrors.</summary>
    /// <remarks>Mirrors net/ipv4/udp.c: udp_send_skb().</remarks>
    private static int UdpSendSkb(Sock sk, SkBuff skb, in Rtable rt, uint saddr, uint daddr, int len, bool df)
    {
        var inet = (InetSock)sk;
        var net = sk.Net;
        var uh = UdpHeader.Create(skb.DataSpan);
        if (!sk.NoCheckTx) uh.FillChecksum(saddr, daddr); // else UDP csum off: 0 on the wire
        int err = IpOutput.IpSendSkb(sk, skb, rt, saddr, daddr, IpProto.UDP, df);
        if (err != 0)
        {
            if (err == -Errno.ENOBUFS && !inet.RecvErr)
            {
                net.Mib.Udp[UdpMib.SndbufErrors]++;
                err = 0;
            }
            if (err != 0) return err;
        }
        else
        {
            net.Mib.Udp[UdpMib.OutDatagrams]++;
        }
        return len;
    }

    // ------------------------------------------------------------------ receive

    /// <summary>
    /// Receives one datagram: the copied length (or the whole datagram's with MSG_TRUNC), the
    /// sender in msg.Name, MSG_TRUNC in msg.Flags when the buffer was short, and the SOL_IP control
    /// messages the socket asked for in msg.Control.
    /// </summary>
    /// <remarks>Mirrors net/ipv4/udp.c: udp_recvmsg().</remarks>
    public static int UdpRecvmsg(Sock sk, ref MsgHdr msg, Span<byte> buf, int flags)
    {
        if ((flags & MSG_ERRQUEUE) != 0) return IpSockglue.IpRecvError(sk, ref msg, buf);
        bool peeking = (flags & MSG_PEEK) != 0;
        var skb = Datagram.SkbRecvDatagram(sk, flags, out int err);
        if (skb is null) return err;
        return UdpRecvmsgSkb(sk, ref msg, buf, flags, skb);
    }

    /// <summary>udp_recvmsg() once the datagram is dequeued (Data at its payload, IPv4 headers before it).</summary>
    internal static int UdpRecvmsgSkb(Sock sk, ref MsgHdr msg, Span<byte> buf, int flags, SkBuff skb)
    {
        bool peeking = (flags & MSG_PEEK) != 0;
        int err;
        int ulen = skb.Len;
        int copied = buf.Length;
        if (copied > ulen) copied = ulen;
        else if (copied < ulen) msg.Flags |= MSG_TRUNC;
        skb.DataSpan[..copied].CopyTo(buf);

        if (!peeking) sk.Net.Mib.Udp[UdpMib.InDatagrams]++;

        SockTimestamp.SockRecvTimestamp(ref msg, sk, skb); // sock_recv_cmsgs(): before the address and the IP cmsgs
        SockTimestamp.SockRecvDrops(ref msg, sk, skb);
        // Copy the address.
        if (msg.HasName)
        {
            msg.Name = new SockAddr(AF_INET, skb.Saddr, BinaryPrimitives.ReadUInt16BigEndian(skb.Buffer.AsSpan(skb.TransportHeader)));
            msg.NameLen = SockaddrInSize;
        }
        if (((InetSock)sk).CmsgFlags != 0) IpSockglue.IpCmsgRecv(ref msg, (InetSock)sk, skb);
        err = copied;
        if ((flags & MSG_TRUNC) != 0) err = ulen;
        if (!peeking) SkbConsumeUdp(sk, skb, partial: 1);
        return err;
    }

    /// <summary>The IP protocol handler: validates, looks the socket up and queues, or answers port unreachable.</summary>
    /// <remarks>Mirrors net/ipv4/udp.c: udp_rcv() -> __udp4_lib_rcv().</remarks>
    public static int UdpRcv(SkBuff skb)
    {
        var net = skb.Dev!.Net!;
        var mib = net.Mib.Udp;
        // No space for header / ulen larger than the packet / smaller than a header: short packet.
        if (!UdpHeader.TryCreate(skb.DataSpan, out var uh))
        {
            mib[UdpMib.InErrors]++;
            return net.KfreeSkbReason(skb, SkbDropReason.PktTooSmall);
        }
        int ulen = uh.Len;
        skb.Trim(ulen); // pskb_trim_rcsum()
        uint saddr = skb.Saddr, daddr = skb.Daddr;
        // udp4_csum_init() / udp_lib_checksum_complete(): a datagram the device vouched for
        // (CHECKSUM_UNNECESSARY, or CHECKSUM_PARTIAL from a TAP with TUN_F_CSUM, whose check field
        // holds only the pseudo-header sum) is not verified again.
        if (!skb.CsumVerified && !uh.VerifyChecksum(saddr, daddr))
        {
            mib[UdpMib.InCsumErrors]++;
            mib[UdpMib.InErrors]++;
            return net.KfreeSkbReason(skb, SkbDropReason.UdpCsum);
        }
        ushort sport = uh.SourcePort, dport = uh.DestinationPort;

        if (skb.RouteBroadcast || Ipv4Address.IsMulticast(daddr)) // rt->rt_flags & (RTCF_BROADCAST|RTCF_MULTICAST)
            return Udp4LibMcastDeliver(net, skb, saddr, sport, daddr, dport);

        var sk = Udp4LibLookup(net, saddr, sport, daddr, dport, skb.Dev.IfIndex);
        if (sk is not null) return UdpUnicastRcvSkb(sk, skb);

        // No socket: the checksum was good, so count it and tell the sender.
        mib[UdpMib.NoPorts]++;
        skb.Data = skb.NetworkHeader; // icmp_send() quotes from the IP header
        Icmp.IcmpSend(net, skb, IcmpType.DestUnreach, IcmpType.PortUnreach, 0);
        return net.KfreeSkbReason(skb, SkbDropReason.UdpNoSocket);
    }

    /// <summary>
    /// Finds the socket for a datagram: a socket bound to the destination address first (the best
    /// scored: connected beats unconnected, device-bound adds), else one bound to the wildcard.
    /// </summary>
    /// <remarks>Mirrors net/ipv4/udp.c: __udp4_lib_lookup() -> udp4_lib_lookup2() with compute_score().</remarks>
    public static InetSock? Udp4LibLookup(NetNamespace net, uint saddr, ushort sport, uint daddr, ushort dport, int dif)
    {
        var slot = net.Ipv4.UdpTable.Slot(dport);
        if (slot is null) return null;
        // Lookup connected or non-wildcard socket.
        var result = Udp4LibLookup2(net, slot, saddr, sport, daddr, dport, dif);
        if (result is not null) return result;
        // Lookup wildcard sockets.
        return daddr == 0 ? null : Udp4LibLookup2(net, slot, saddr, sport, Ipv4Address.Any, dport, dif);
    }

    /// <summary>
    /// udp_ehash_secret: drawn once per process (net_get_random_once); each namespace adds its own
    /// <see cref="NetNamespace.HashMix"/>.
    /// </summary>
    private static readonly uint UdpEhashSecret = (uint)System.Security.Cryptography.RandomNumberGenerator.GetInt32(int.MinValue, int.MaxValue);

    /// <summary>The flow hash a SO_REUSEPORT group of UDP sockets selects its member by.</summary>
    /// <remarks>Mirrors net/ipv4/udp.c: udp_ehashfn().</remarks>
    internal static uint UdpEhashfn(NetNamespace net, uint laddr, ushort lport, uint faddr, ushort fport) =>
        InetHashtables.InetEhashfnSeeded(laddr, lport, faddr, fport, UdpEhashSecret + net.HashMix);

    /// <summary>
    /// The best-scored socket bound to <paramref name="daddr"/>. A member of a SO_REUSEPORT group
    /// hands over to the member the flow hash picks, unless a member has connected: then the
    /// pick is scored like any other socket (a connected socket's exact match beats it).
    /// </summary>
    /// <remarks>Mirrors net/ipv4/udp.c: udp4_lib_lookup2() (with the rescore of the reuseport pick).</remarks>
    private static InetSock? Udp4LibLookup2(NetNamespace net, List<InetSock> slot, uint saddr, ushort sport, uint daddr, ushort hnum, int dif)
    {
        InetSock? result = null;
        int badness = 0;
        // udp_lib_get_port() adds a socket at the head of its hash chain (hlist_add_head_rcu), and the
        // lookup keeps the first of the best score: of equal sockets (SO_REUSEADDR on one port) the one
        // bound last receives. The slot is in bind order, so walk it from the end.
        for (int i = slot.Count - 1; i >= 0; i--)
        {
            var sk = slot[i];
            bool needRescore = false;
        rescore:
            int score = ComputeScore(needRescore ? result! : sk, saddr, sport, daddr, hnum, dif);
            if (score > badness)
            {
                badness = score;
                if (needRescore) continue;
                if (sk.State == TcpState.Established)
                {
                    result = sk;
                    continue;
                }
                result = InetHashtables.InetLookupReuseport(net, sk, saddr, sport, daddr, hnum, udp: true) as InetSock;
                if (result is null)
                {
                    result = sk;
                    continue;
                }
                // Fall back to scoring if group has connections.
                if (!SockReuseport.ReuseportHasConns(sk)) return result;
                needRescore = true;
                goto rescore;
            }
        }
        return result;
    }

    /// <remarks>Mirrors net/ipv4/udp.c: compute_score().</remarks>
    private static int ComputeScore(InetSock sk, uint saddr, ushort sport, uint daddr, ushort hnum, int dif)
    {
        // An IPV6_V6ONLY sock never sees IPv4; a dual-stack AF_INET6 sock scores below an AF_INET one.
        if (sk.InetNum != hnum || sk.Ipv6only) return -1;
        if (sk.InetRcvSaddr != daddr) return -1;
        int score = sk.Family == PF_INET ? 2 : 1;
        if (sk.InetDaddr != 0)
        {
            if (sk.InetDaddr != saddr) return -1;
            score += 4;
        }
        if (sk.InetDport != 0)
        {
            if (sk.InetDport != sport) return -1;
            score += 4;
        }
        if (sk.BoundDevIf != 0)
        {
            if (sk.BoundDevIf != dif) return -1;
            score += 4;
        }
        return score;
    }

    /// <summary>Delivers a broadcast or multicast datagram to every matching socket (a copy each).</summary>
    /// <remarks>Mirrors net/ipv4/udp.c: __udp4_lib_mcast_deliver() with __udp_is_mcast_sock().</remarks>
    private static int Udp4LibMcastDeliver(NetNamespace net, SkBuff skb, uint saddr, ushort sport, uint daddr, ushort dport)
    {
        var slot = net.Ipv4.UdpTable.Slot(dport);
        InetSock? first = null;
        if (slot is not null)
        {
            for (int i = 0; i < slot.Count; i++)
            {
                var sk = slot[i];
                if ((sk.InetDaddr != 0 && sk.InetDaddr != saddr) ||
                    (sk.InetDport != sport && sk.InetDport != 0) ||
                    (sk.InetRcvSaddr != 0 && sk.InetRcvSaddr != daddr) ||
                    sk.Ipv6only || // ipv6_only_sock()
                    (sk.BoundDevIf != 0 && sk.BoundDevIf != skb.Dev!.IfIndex) ||
                    !Igmp.IpMcSfAllow(sk, daddr, saddr, skb.Dev!.IfIndex))
                    continue;
                if (first is null) { first = sk; continue; }
                // Every further socket gets its own copy (skb_clone()).
                var nskb = CopySkb(net, skb);
                if (nskb is null)
                {
                    sk.Drops++;
                    net.Mib.Udp[UdpMib.RcvbufErrors]++;
                    net.Mib.Udp[UdpMib.InErrors]++;
                    continue;
                }
                UdpUnicastRcvSkb(sk, nskb);
            }
        }
        if (first is not null) return UdpUnicastRcvSkb(first, skb);
        net.Mib.Udp[UdpMib.IgnoredMulti]++;
        skb.Free();
        return Dev.NetRxSuccess;
    }

    /// <summary>A private copy of a received datagram with the same offsets and addresses.</summary>
    internal static SkBuff? CopySkb(NetNamespace net, SkBuff skb)
    {
        // A reassembled datagram or one from lo lives in a large buffer: copy it into one as big.
        var pool = skb.Tail <= net.SkbPool.BufferSize ? net.SkbPool : net.LargeSkbPool;
        var n = pool.Alloc();
        if (n is null) return null;
        skb.Buffer.AsSpan(0, skb.Tail).CopyTo(n.Buffer);
        n.Data = skb.Data;
        n.Tail = skb.Tail;
        n.Dev = skb.Dev;
        n.Ipcb = skb.Ipcb; // skb->cb travels with the clone
        n.Ip6cb = skb.Ip6cb; // IP6CB() is the same skb->cb: a raw6 copy keeps its iif (IPV6_PKTINFO, the sin6_scope_id)
        n.Protocol = skb.Protocol;
        n.MacHeader = skb.MacHeader;
        n.NetworkHeader = skb.NetworkHeader;
        n.TransportHeader = skb.TransportHeader;
        n.PktType = skb.PktType;
        n.Saddr = skb.Saddr;
        n.Daddr = skb.Daddr;
        n.CsumVerified = skb.CsumVerified;
        n.RouteBroadcast = skb.RouteBroadcast;
        n.RouteOutput = skb.RouteOutput;
        n.Tstamp = skb.Tstamp; // __copy_skb_header()
        return n;
    }

    /// <summary>Pulls the UDP header and queues the datagram, charging the receive buffer.</summary>
    /// <remarks>Mirrors net/ipv4/udp.c: udp_unicast_rcv_skb() -> udp_queue_rcv_one_skb() (ipv4_pktinfo_prepare()) -> __udp_queue_rcv_skb() -> __udp_enqueue_schedule_skb().</remarks>
    private static int UdpUnicastRcvSkb(InetSock sk, SkBuff skb)
    {
        var net = sk.Net;
        skb.Pull(UdpHeader.Length); // udp_csum_pull_header()
        IpSockglue.Ipv4PktinfoPrepare(sk, skb);
        return UdpEnqueueScheduleSkb(sk, skb, net.Mib.Udp);
    }

    /// <summary>
    /// Queues a datagram (Data at its payload) on the socket, charging the receive buffer and
    /// udp_mem; a refusal is counted in <paramref name="mib"/> (the UDP or the UDP6 counters).
    /// </summary>
    /// <remarks>Mirrors net/ipv4/udp.c: __udp_queue_rcv_skb() / __udpv6_queue_rcv_skb() -> __udp_enqueue_schedule_skb().</remarks>
    internal static int UdpEnqueueScheduleSkb(InetSock sk, SkBuff skb, MibTable<UdpMib> mib)
    {
        var net = sk.Net;
        int rmem = sk.RmemAlloc, rcvbuf = sk.RcvBuf, size = Sock.SkbTruesize(skb);
        // Immediately drop when the receive queue is full; always allow at least one packet for a small buffer.
        if (rmem + size > rcvbuf && (rcvbuf > int.MaxValue >> 1 || rmem > rcvbuf))
        {
            sk.Drops++;
            mib[UdpMib.RcvbufErrors]++;
            mib[UdpMib.InErrors]++;
            return net.KfreeSkbReason(skb, SkbDropReason.SocketRcvBuff);
        }
        // udp_rmem_schedule(): the datagram must also fit in udp_mem, across all UDP sockets.
        // __udp_queue_rcv_skb(): that failure (-ENOBUFS) is MemErrors, not RcvbufErrors.
        if (UdpRmemSchedule((UdpSock)sk, size) != 0)
        {
            sk.Drops++;
            mib[UdpMib.MemErrors]++;
            mib[UdpMib.InErrors]++;
            return net.KfreeSkbReason(skb, SkbDropReason.ProtoMem);
        }
        ((UdpSock)sk).ForwardAlloc -= size;
        sk.SkbSetOwnerR(skb);
        sk.SockSkbSetDropcount(skb);
        sk.ReceiveQueue.EnqueueTail(skb);
        if (!sk.HasFlag(SockFlag.Dead)) sk.DataReady();
        return Dev.NetRxSuccess;
    }

    // ------------------------------------------------------------------ memory (udp_mem)

    /// <summary>PAGE_SIZE: udp_mem counts in pages.</summary>
    public const int PageSize = 4096;

    /// <summary>sk_mem_pages(): the pages <paramref name="amt"/> bytes need.</summary>
    private static int SkMemPages(int amt) => (amt + PageSize - 1) / PageSize;

    /// <summary>Makes sure <paramref name="size"/> bytes are charged to udp_mem before a datagram is queued: 0, or -ENOBUFS.</summary>
    /// <remarks>Mirrors udp_rmem_schedule() -> __sk_mem_schedule(sk, delta, SK_MEM_RECV).</remarks>
    private static int UdpRmemSchedule(UdpSock sk, int size)
    {
        int delta = size - sk.ForwardAlloc;
        if (delta > 0 && !SkMemSchedule(sk, delta)) return -Errno.ENOBUFS;
        return 0;
    }

    /// <summary>
    /// Charges whole pages to udp_mem. At or below udp_mem[0] (min) anything goes; above udp_mem[2]
    /// (max) nothing; in between only a socket holding less than udp_rmem_min gets more (the minimum
    /// buffer guaranteed under pressure). UDP has no pressure mode of its own (no memory_pressure in
    /// udp_prot), so udp_mem[1] only labels the range, as Linux's documentation says.
    /// </summary>
    /// <remarks>Mirrors net/core/sock.c: __sk_mem_schedule() -> __sk_mem_raise_allocated() for SK_MEM_RECV.</remarks>
    private static bool SkMemSchedule(UdpSock sk, int size)
    {
        var net = sk.Net;
        var ipv4 = net.Ipv4;
        var s = ipv4.Sysctl;
        int amt = SkMemPages(size);
        long allocated = ipv4.UdpMemoryAllocated += amt;
        bool ok = allocated <= s.UdpMem[0]
            || (allocated <= s.UdpMem[2] && sk.RmemAlloc < s.UdpRmemMin);
        if (!ok)
        {
            ipv4.UdpMemoryAllocated -= amt; // suppress_allocation: sk_memory_allocated_sub()
            return false;
        }
        sk.ForwardAlloc += amt * PageSize;
        return true;
    }

    /// <summary>
    /// Gives back to udp_mem the whole pages a socket no longer needs: all of them when
    /// <paramref name="partial"/> is 0 (the socket goes), else all but the last partial page.
    /// </summary>
    /// <remarks>Mirrors udp_rmem_release() -> __sk_mem_reduce_allocated() (without the forward_deficit batching).</remarks>
    internal static void UdpRmemRelease(UdpSock sk, int size, int partial)
    {
        sk.ForwardAlloc += size;
        int amt = (sk.ForwardAlloc - partial) & ~(PageSize - 1);
        if (amt <= 0) return;
        sk.ForwardAlloc -= amt;
        sk.Net.Ipv4.UdpMemoryAllocated -= amt / PageSize;
    }

    /// <summary>Frees a datagram taken off the receive queue: uncharges sk_rmem_alloc and returns its memory to udp_mem.</summary>
    /// <remarks>Mirrors skb_consume_udp() -> udp_rmem_release() (udp_skb_destructor).</remarks>
    internal static void SkbConsumeUdp(Sock sk, SkBuff skb, int partial)
    {
        int size = skb.Sk == sk ? Sock.SkbTruesize(skb) : 0;
        sk.SkbFreeDatagram(skb);
        if (size != 0) UdpRmemRelease((UdpSock)sk, size, partial);
    }

    // ------------------------------------------------------------------ errors

    /// <summary>errno and fatality for each ICMP_DEST_UNREACH code.</summary>
    /// <remarks>Mirrors net/ipv4/icmp.c: const struct icmp_err icmp_err_convert[].</remarks>
    public static readonly (int Errno, bool Fatal)[] IcmpErrConvert =
    [
        (Errno.ENETUNREACH, false),  // ICMP_NET_UNREACH
        (Errno.EHOSTUNREACH, false), // ICMP_HOST_UNREACH
        (Errno.ENOPROTOOPT, true),   // ICMP_PROT_UNREACH
        (Errno.ECONNREFUSED, true),  // ICMP_PORT_UNREACH
        (Errno.EMSGSIZE, false),     // ICMP_FRAG_NEEDED
        (Errno.EOPNOTSUPP, false),   // ICMP_SR_FAILED
        (Errno.ENETUNREACH, true),   // ICMP_NET_UNKNOWN
        (Errno.EHOSTDOWN, true),     // ICMP_HOST_UNKNOWN
        (Errno.ENONET, true),        // ICMP_HOST_ISOLATED
        (Errno.ENETUNREACH, true),   // ICMP_NET_ANO
        (Errno.EHOSTUNREACH, true),  // ICMP_HOST_ANO
        (Errno.ENETUNREACH, false),  // ICMP_NET_UNR_TOS
        (Errno.EHOSTUNREACH, false), // ICMP_HOST_UNR_TOS
        (Errno.EHOSTUNREACH, true),  // ICMP_PKT_FILTERED
        (Errno.EHOSTUNREACH, true),  // ICMP_PREC_VIOLATION
        (Errno.EHOSTUNREACH, true),  // ICMP_PREC_CUTOFF
    ];

    /// <summary>
    /// Converts an ICMP error into (errno, fatal) as the datagram protocols do; returns false when
    /// the message carries no error for the socket (source quench, redirect, PMTU without DF).
    /// </summary>
    internal static bool IcmpToErrno(byte type, byte code, InetSock inet, out int err, out bool harderr)
    {
        err = 0;
        harderr = false;
        switch (type)
        {
            default:
            case IcmpType.TimeExceeded:
                err = Errno.EHOSTUNREACH;
                return true;
            case IcmpType.SourceQuench:
                return false;
            case IcmpType.ParameterProb:
                err = Errno.EPROTO;
                harderr = true;
                return true;
            case IcmpType.DestUnreach:
                if (code == IcmpType.FragNeeded)
                {
                    // Path MTU discovery
                    if (inet.Pmtudisc != IP_PMTUDISC_DONT)
                    {
                        err = Errno.EMSGSIZE;
                        harderr = true;
                        return true;
                    }
                    return false;
                }
                err = Errno.EHOSTUNREACH;
                if (code <= IcmpType.NrUnreach)
                {
                    harderr = IcmpErrConvert[code].Fatal;
                    err = IcmpErrConvert[code].Errno;
                }
                return true;
            case IcmpType.Redirect:
                return false;
        }
    }

    /// <summary>
    /// An ICMP error about a datagram we sent: the socket that sent it learns the error if it is
    /// connected and the error is hard; a socket with IP_RECVERR learns every error, connected or
    /// not, and keeps it on its error queue.
    /// </summary>
    /// <remarks>Mirrors net/ipv4/udp.c: udp_err() -> __udp4_lib_err().</remarks>
    public static void UdpErr(SkBuff skb, uint info)
    {
        var net = skb.Dev!.Net!;
        var q = skb.DataSpan;
        var iph = Ipv4Header.Create(q);
        int ihl = iph.HeaderLength;
        var uh = UdpHeader.Create(q[ihl..]);
        byte type = skb.Buffer[skb.TransportHeader], code = skb.Buffer[skb.TransportHeader + 1];
        // The quoted packet is ours: its destination is the peer, its source is us.
        var sk = Udp4LibLookup(net, iph.Destination, uh.DestinationPort, iph.Source, uh.SourcePort, skb.Dev.IfIndex);
        if (sk is null)
        {
            net.Mib.Icmp[IcmpMib.InErrors]++;
            return;
        }
        if (!IcmpToErrno(type, code, sk, out int err, out bool harderr)) return;
        // RFC1122: OK. Passes ICMP errors back to application, as per 4.1.3.3.
        if (!sk.RecvErr)
        {
            if (!harderr || sk.State != TcpState.Established) return;
        }
        else
        {
            // The error queue gets the datagram's payload after the quoted UDP header.
            IpSockglue.IpIcmpError(sk, skb, err, uh.DestinationPort, info, skb.Data + ihl + UdpHeader.Length);
        }
        sk.Err = err;
        sk.ErrorReport();
    }

    // ------------------------------------------------------------------ misc

    /// <summary>SIOCOUTQ: bytes not yet sent; SIOCINQ: the length of the next datagram.</summary>
    /// <remarks>Mirrors net/ipv4/udp.c: udp_ioctl() with first_packet_length().</remarks>
    public static int UdpIoctl(Sock sk, int cmd, out int karg)
    {
        switch (cmd)
        {
            case SIOCOUTQ:
                karg = sk.WmemAlloc;
                return 0;
            case SIOCINQ:
                karg = sk.ReceiveQueue.Peek() is { } skb ? skb.Len : 0;
                return 0;
            default:
                karg = 0;
                return -Errno.ENOIOCTLCMD;
        }
    }

    /// <summary>SOL_UDP: UDP_CORK (turning it off sends what is corked); the other UDP_* options (UDP_SEGMENT, UDP_GRO, encapsulation) are not modelled. SOL_IP goes to IP.</summary>
    /// <remarks>Mirrors net/ipv4/udp.c: udp_setsockopt() -> udp_lib_setsockopt() / ip_setsockopt().</remarks>
    public static int UdpSetsockopt(Sock sk, int level, int optname, ReadOnlySpan<byte> optval)
    {
        if (level == SOL_UDP)
        {
            if (optval.Length < sizeof(int)) return -Errno.EINVAL;
            int val = BinaryPrimitives.ReadInt32LittleEndian(optval);
            var up = (UdpSock)sk;
            switch (optname)
            {
                case UDP_CORK:
                    if (val != 0)
                    {
                        up.Corkflag = true;
                    }
                    else
                    {
                        up.Corkflag = false;
                        UdpPushPendingFrames(up); // its error is not setsockopt's
                    }
                    return 0;
                default:
                    return -Errno.ENOPROTOOPT;
            }
        }
        return IpSockglue.IpSetsockopt(sk, level, optname, optval);
    }

    /// <remarks>Mirrors net/ipv4/udp.c: udp_getsockopt() -> udp_lib_getsockopt() / ip_getsockopt().</remarks>
    public static int UdpGetsockopt(Sock sk, int level, int optname, Span<byte> optval, ref int optlen)
    {
        if (level == SOL_UDP)
        {
            if (optlen < 0) return -Errno.EINVAL;
            int len = Math.Min(optlen, sizeof(int));
            int val;
            switch (optname)
            {
                case UDP_CORK: val = ((UdpSock)sk).Corkflag ? 1 : 0; break;
                default: return -Errno.ENOPROTOOPT;
            }
            Span<byte> b = stackalloc byte[sizeof(int)];
            BinaryPrimitives.WriteInt32LittleEndian(b, val);
            b[..len].CopyTo(optval);
            optlen = len;
            return 0;
        }
        return IpSockglue.IpGetsockopt(sk, level, optname, optval, ref optlen);
    }

    /// <summary>The poll mask of a UDP socket.</summary>
    /// <remarks>Mirrors net/ipv4/udp.c: udp_poll(): datagram_poll(); checksums are verified on arrival here, so no false positives need removing.</remarks>
    public static int UdpPoll(BsdSocket sock) => Datagram.DatagramPoll(sock);
}
