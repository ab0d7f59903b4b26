using System.Buffers.Binary;
using NetStack.Net;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Core;

/// <summary>
/// Software receive timestamps: SO_TIMESTAMP / SO_TIMESTAMPNS (old and new layouts) and the
/// SCM_TIMESTAMP / SCM_TIMESTAMPNS control messages recvmsg hands back with each datagram.
/// <remarks>Mirrors net/core/sock.c: sock_set_timestamp(), sock_enable_timestamp(), and
/// net/socket.c: __sock_recv_timestamp().</remarks>
/// </summary>
internal static class SockTimestamp
{
    /// <summary>setsockopt(SO_TIMESTAMP*, valbool): which layout, and whether in ns.</summary>
    /// <remarks>Mirrors net/core/sock.c: sock_set_timestamp().</remarks>
    public static void SockSetTimestamp(Sock sk, int optname, bool valbool)
    {
        sk.ValboolFlag(SockFlag.TstampNew, optname is SO_TIMESTAMP_NEW or SO_TIMESTAMPNS_NEW);
        if (valbool)
        {
            sk.ValboolFlag(SockFlag.RcvTstampNs, optname is SO_TIMESTAMPNS or SO_TIMESTAMPNS_NEW);
            sk.SetFlag(SockFlag.RcvTstamp);
            // sock_enable_timestamp(sk, SOCK_TIMESTAMP): from now on frames are stamped on arrival.
            sk.SetFlag(SockFlag.Timestamp);
            sk.Net.NetstampNeeded = true;
        }
        else
        {
            sk.ResetFlag(SockFlag.RcvTstamp);
            sk.ResetFlag(SockFlag.RcvTstampNs);
        }
    }

    /// <summary>
    /// The timestamp control message of a received datagram, when the socket asked for one: a
    /// struct timeval (SCM_TIMESTAMP) or timespec (SCM_TIMESTAMPNS) of wall-clock time, the old or
    /// the new type number as the option was set. A frame that arrived before any socket asked is
    /// stamped now (as __net_timestamp() on the read). Allocates nothing.
    /// </summary>
    /// <remarks>Mirrors net/socket.c: sock_recv_timestamp() -> __sock_recv_timestamp() (software stamps only).</remarks>
    public static void SockRecvTimestamp(ref MsgHdr msg, Sock sk, SkBuff skb)
    {
        if (!sk.HasFlag(SockFlag.RcvTstamp))
        {
            sk.SkStamp = skb.Tstamp; // sock_write_timestamp(sk, kt): what SIOCGSTAMP reports
            return;
        }
        if (skb.Tstamp == 0) skb.Tstamp = sk.Net.NowNs;
        PutTimestamp(ref msg, sk, skb.Tstamp);
    }

    /// <summary>
    /// SO_RXQ_OVFL: the socket's drop count when the datagram was queued, as a u32 control message,
    /// when it was not 0. Called right after <see cref="SockRecvTimestamp"/> (sock_recv_cmsgs()).
    /// </summary>
    /// <remarks>Mirrors net/socket.c: sock_recv_drops().</remarks>
    public static void SockRecvDrops(ref MsgHdr msg, Sock sk, SkBuff skb)
    {
        if (!sk.HasFlag(SockFlag.RxqOvfl) || skb.DropCount == 0) return;
        Span<byte> v = stackalloc byte[sizeof(uint)];
        BinaryPrimitives.WriteUInt32LittleEndian(v, skb.DropCount);
        Scm.PutCmsg(ref msg, SOL_SOCKET, SO_RXQ_OVFL, v);
    }

    /// <summary>The SCM_TIMESTAMP* message for <paramref name="tstamp"/> (the namespace's clock) in the layout the socket's flags ask for.</summary>
    /// <remarks>The put_cmsg() calls of __sock_recv_timestamp() and tcp_recv_timestamp().</remarks>
    public static void PutTimestamp(ref MsgHdr msg, Sock sk, long tstamp)
    {
        long real = tstamp + sk.Net.RealtimeOffsetNs;
        long sec = Math.DivRem(real, Time.NsPerSec, out long ns);
        bool inNs = sk.HasFlag(SockFlag.RcvTstampNs);
        Span<byte> ts = stackalloc byte[16];
        BinaryPrimitives.WriteInt64LittleEndian(ts, sec);
        BinaryPrimitives.WriteInt64LittleEndian(ts[8..], inNs ? ns : ns / 1000);
        int type = sk.HasFlag(SockFlag.TstampNew)
            ? (inNs ? SO_TIMESTAMPNS_NEW : SO_TIMESTAMP_NEW)
            : (inNs ? SO_TIMESTAMPNS : SO_TIMESTAMP);
        Scm.PutCmsg(ref msg, SOL_SOCKET, type, ts);
    }
}
