using NetStack.Core;
using NetStack.Wire;

namespace NetStack.Ipv4;

/// <summary>
/// What TCP's shared code asks the network layer under a connection: send a segment, fill its
/// checksum, find the route again, the network header's size, and the listener's handshake
/// steps. One static singleton per kind (ipv4_specific, ipv6_specific, ipv6_mapped), so the
/// per-packet path calls through it without allocating.
/// </summary>
/// <remarks>Mirrors include/net/inet_connection_sock.h: struct inet_connection_sock_af_ops.</remarks>
internal abstract class InetConnectionSockAfOps
{
    /// <summary>net_header_len: the network header in front of every segment (20 for IPv4, 40 for IPv6).</summary>
    public abstract int NetHeaderLen { get; }

    /// <summary>Whether the connection runs over IPv6 on the wire (ipv6_specific), so its addresses are the 16-byte ones.</summary>
    public abstract bool IsV6 { get; }

    /// <summary>virtio gso_type of a TSO super-frame for this network layer (VIRTIO_NET_HDR_GSO_TCPV4 / TCPV6).</summary>
    public abstract byte GsoType { get; }

    /// <summary>queue_xmit: sends a segment whose TCP header and checksum are written (Data at the TCP header). Consumes the buffer.</summary>
    public abstract int QueueXmit(TcpSock tp, SkBuff skb);

    /// <summary>send_check: the TCP checksum of the segment at Data; <paramref name="partial"/> leaves the pseudo-header sum for a device that completes it (CHECKSUM_PARTIAL).</summary>
    public abstract void SendCheck(TcpSock tp, SkBuff skb, bool partial);

    /// <summary>rebuild_header: the route of the connection again (sk_dst_cache was reset). 0 or a negative errno.</summary>
    public abstract int RebuildHeader(TcpSock tp);

    /// <summary>conn_request: a SYN on a listener.</summary>
    public abstract void ConnRequest(TcpSock sk, SkBuff skb);

    /// <summary>syn_recv_sock: the child of a completed handshake, or null.</summary>
    public abstract TcpSock? SynRecvSock(TcpSock sk, SkBuff skb, TcpRequestSock req);

    /// <summary>send_reset for a segment (no socket, or a socket that refuses it).</summary>
    /// <remarks>tcp_v4_send_reset() / tcp_v6_send_reset(), reached by the segment's network protocol.</remarks>
    public abstract void SendReset(TcpSock? sk, SkBuff skb);
}

/// <summary>
/// What a request sock asks of its network layer: SYN-ACK, ACK and reset.
/// </summary>
/// <remarks>Mirrors include/net/request_sock.h: struct request_sock_ops (tcp_request_sock_ops / tcp6_request_sock_ops).</remarks>
internal abstract class TcpRequestSockOps
{
    /// <summary>The request came over IPv6 (tcp6_request_sock_ops): its addresses are the 16-byte ones.</summary>
    public abstract bool IsV6 { get; }
    /// <summary>The SYN may be answered with a cookie (cookie_init_seq is set).</summary>
    public abstract bool CanCookie { get; }
    /// <summary>The network header's length, for the MSS the SYN-ACK announces.</summary>
    public abstract int NetHeaderLen { get; }
    /// <summary>init_req: the request's addresses (and, for IPv4, its echoed IP options) from the SYN.</summary>
    public abstract void InitReq(TcpRequestSock req, TcpSock sk, SkBuff skb);
    /// <summary>route_req: the MTU of the route back to the peer, or -1 without one.</summary>
    public abstract int RouteReq(TcpSock sk, TcpRequestSock req);
    /// <summary>init_seq: the ISN (RFC 6528).</summary>
    public abstract uint InitSeq(NetNamespace net, TcpRequestSock req);
    /// <summary>init_ts_off: the timestamp offset.</summary>
    public abstract uint InitTsOff(NetNamespace net, TcpRequestSock req);
    /// <summary>rtx_syn_ack: the SYN-ACK again, without a Fast Open cookie.</summary>
    public int SendSynack(TcpSock listener, TcpRequestSock req) => SendSynack(listener, req, TcpFastopenCookie.None);
    /// <summary>
    /// send_synack (tcp_request_sock_ops.send_synack): the SYN-ACK from <paramref name="sk"/> (the
    /// listener, or a Fast Open child), with <paramref name="foc"/> as its Fast Open option when Len &gt;= 0.
    /// </summary>
    public abstract int SendSynack(TcpSock sk, TcpRequestSock req, in TcpFastopenCookie foc);
    /// <summary>send_ack: an ACK for a segment that fell outside the request's window.</summary>
    public abstract void SendAck(TcpSock listener, SkBuff skb, TcpRequestSock req);
    /// <summary>send_reset.</summary>
    public abstract void SendReset(TcpSock? sk, SkBuff skb);
}
