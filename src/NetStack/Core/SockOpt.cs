using System.Buffers.Binary;
using NetStack.Net;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Core;

/// <summary>
/// The SOL_SOCKET options, the same for every family and protocol.
/// <remarks>Mirrors net/core/sock.c: sk_setsockopt() / sk_getsockopt() (sock_setsockopt / sock_getsockopt).</remarks>
/// </summary>
internal static class SockOpt
{
    /// <summary>HZ of the kernel being mirrored: timeouts and linger are kept in jiffies there, which rounds what getsockopt reports back.</summary>
    private const long NsPerUs = 1000;

    /// <summary>setsockopt(SOL_SOCKET, ...).</summary>
    /// <remarks>Mirrors net/core/sock.c: sk_setsockopt().</remarks>
    public static int SkSetsockopt(BsdSocket sock, int optname, ReadOnlySpan<byte> optval, Cred caller)
    {
        var sk = sock.Sk;
        if (sk is null) return -Errno.EINVAL;
        if (optname == SO_BINDTODEVICE) return SockSetbindtodevice(sk, optval, caller);
        if (optval.Length < sizeof(int)) return -Errno.EINVAL;
        int val = BinaryPrimitives.ReadInt32LittleEndian(optval);
        bool valbool = val != 0;
        int ret = 0;
        switch (optname)
        {
            case SO_DEBUG:
                sk.ValboolFlag(SockFlag.Dbg, valbool);
                break;
            case SO_REUSEADDR:
                sk.Reuse = valbool ? Sock.SkCanReuse : Sock.SkNoReuse;
                break;
            case SO_REUSEPORT:
                sk.ReusePort = valbool;
                break;
            case SO_BINDTOIFINDEX:
                ret = SockBindtoindexLocked(sk, val, caller);
                break;
            case SO_TYPE:
            case SO_PROTOCOL:
            case SO_DOMAIN:
            case SO_ERROR:
                ret = -Errno.ENOPROTOOPT;
                break;
            case SO_DONTROUTE:
                sk.ValboolFlag(SockFlag.LocalRoute, valbool);
                break;
            case SO_BROADCAST:
                sk.ValboolFlag(SockFlag.Broadcast, valbool);
                break;
            case SO_SNDBUF:
                // Don't error on this: BSD doesn't, and if you think about it this is right.
                // Otherwise apps have to play 'guess the biggest size' games.
                SetSndbuf(sk, (int)Math.Min((uint)val, (uint)Sock.SysctlWmemMax));
                break;
            case SO_SNDBUFFORCE:
                // CAP_NET_ADMIN: the default caller has it.
                SetSndbuf(sk, Math.Max(val, 0));
                break;
            case SO_RCVBUF:
                SockSetRcvbuf(sk, (int)Math.Min((uint)val, (uint)Sock.SysctlRmemMax));
                break;
            case SO_RCVBUFFORCE:
                SockSetRcvbuf(sk, Math.Max(val, 0));
                break;
            case SO_KEEPALIVE:
                sk.Prot.Keepalive(sk, valbool);
                sk.ValboolFlag(SockFlag.KeepOpen, valbool);
                break;
            case SO_OOBINLINE:
                sk.ValboolFlag(SockFlag.UrgInline, valbool);
                break;
            case SO_NO_CHECK:
                sk.NoCheckTx = valbool;
                break;
            case SO_MAX_PACING_RATE:
            {
                // A 32-bit value (~0U meaning unlimited), or the whole unsigned long when given.
                ulong ulval = val == -1 ? ulong.MaxValue : (uint)val;
                if (optval.Length >= sizeof(ulong)) ulval = BinaryPrimitives.ReadUInt64LittleEndian(optval);
                if (ulval != ulong.MaxValue && sk.PacingStatus == SkPacingStatus.None) sk.PacingStatus = SkPacingStatus.Needed;
                sk.MaxPacingRate = ulval;
                if (ulval < sk.PacingRate) sk.PacingRate = ulval;
                break;
            }
            case SO_PRIORITY:
                if ((val >= 0 && val <= 6) || caller.CapNetRaw) sk.Priority = val;
                else ret = -Errno.EPERM;
                break;
            case SO_LINGER:
            {
                if (optval.Length < 8) { ret = -Errno.EINVAL; break; }
                int onoff = BinaryPrimitives.ReadInt32LittleEndian(optval);
                int linger = BinaryPrimitives.ReadInt32LittleEndian(optval[4..]);
                if (onoff == 0) sk.ResetFlag(SockFlag.Linger);
                else
                {
                    sk.LingerTime = (uint)linger * Time.NsPerSec;
                    sk.SetFlag(SockFlag.Linger);
                }
                break;
            }
            case SO_BSDCOMPAT:
                break;
            case SO_RCVLOWAT:
                if (val < 0) val = int.MaxValue;
                ret = sock.Ops.SetRcvlowat(sk, val);
                break;
            case SO_SNDLOWAT:
                ret = -Errno.ENOPROTOOPT;
                break;
            case SO_RCVTIMEO_OLD:
                ret = SockSetTimeout(ref sk.RcvTimeo, optval);
                break;
            case SO_SNDTIMEO_OLD:
                ret = SockSetTimeout(ref sk.SndTimeo, optval);
                break;
            case SO_TIMESTAMP:
            case SO_TIMESTAMPNS:
            case SO_TIMESTAMP_NEW:
            case SO_TIMESTAMPNS_NEW:
                SockTimestamp.SockSetTimestamp(sk, optname, valbool);
                break;
            // ---- issue 12: in sk_setsockopt()'s order of checks.
            case SO_PASSCRED:
                // sk_may_scm_recv(): SCM_CREDENTIALS is for AF_UNIX and AF_NETLINK; Linux 6.18 refuses it on an inet socket.
                ret = -Errno.EOPNOTSUPP;
                break;
            case SO_BUSY_POLL:
                // No busy polling here (the stack is driven by its device's reader): the value is kept for getsockopt.
                if (val < 0) ret = -Errno.EINVAL;
                else sk.LlUsec = val;
                break;
            case SO_MARK:
                if (!caller.CapNetRaw && !caller.CapNetAdmin) { ret = -Errno.EPERM; break; }
                sk.Mark = val; // __sock_set_mark(): the socket's packets carry it (skb->mark)
                break;
            case SO_RXQ_OVFL:
                sk.ValboolFlag(SockFlag.RxqOvfl, valbool);
                break;
            case SO_INCOMING_CPU:
                sk.IncomingCpu = val; // reuseport_update_incoming_cpu()
                break;
            default:
                ret = -Errno.ENOPROTOOPT;
                break;
        }
        return ret;
    }

    /// <remarks>Mirrors the set_sndbuf label of sk_setsockopt(): doubled for overhead, at least SOCK_MIN_SNDBUF.</remarks>
    private static void SetSndbuf(Sock sk, int val)
    {
        val = Math.Min(val, int.MaxValue / 2);
        sk.UserLocks |= Sock.SockSndbufLock;
        sk.SndBuf = Math.Max(val * 2, Sock.SockMinSndbuf);
        sk.WriteSpace();
    }

    /// <remarks>Mirrors net/core/sock.c: __sock_set_rcvbuf().</remarks>
    private static void SockSetRcvbuf(Sock sk, int val)
    {
        // Ensure val * 2 fits into an int, to prevent max_t() from treating it as a negative value.
        val = Math.Min(val, int.MaxValue / 2);
        sk.UserLocks |= Sock.SockRcvbufLock;
        // We double it on the way in to account for "struct sk_buff" etc. overhead.
        sk.RcvBuf = Math.Max(val * 2, Sock.SockMinRcvbuf);
    }

    /// <summary>SO_BINDTODEVICE: a device name (or "" / an empty option to unbind); -ENODEV for an unknown one.</summary>
    /// <remarks>Mirrors net/core/sock.c: sock_setbindtodevice().</remarks>
    private static int SockSetbindtodevice(Sock sk, ReadOnlySpan<byte> optval, Cred caller)
    {
        int len = Math.Min(optval.Length, 15); // IFNAMSIZ - 1: the name keeps room for its NUL
        int nul = optval[..len].IndexOf((byte)0);
        if (nul >= 0) len = nul;
        int index = 0;
        if (len != 0)
        {
            var dev = sk.Net.DevGetByName(System.Text.Encoding.ASCII.GetString(optval[..len]));
            if (dev is null) return -Errno.ENODEV;
            index = dev.IfIndex;
        }
        return SockBindtoindexLocked(sk, index, caller);
    }

    /// <summary>
    /// Binds the socket to a device index (0 unbinds): anyone may bind an unbound socket, only
    /// CAP_NET_RAW may change or undo a binding (-EPERM). The index is not checked. Sends route
    /// through the device from now on (the cached route is dropped) and receives only from it.
    /// </summary>
    /// <remarks>Mirrors net/core/sock.c: sock_bindtoindex_locked() (SO_BINDTODEVICE, SO_BINDTOIFINDEX).</remarks>
    private static int SockBindtoindexLocked(Sock sk, int ifindex, Cred caller)
    {
        // Sorry...
        if (sk.BoundDevIf != 0 && !caller.CapNetRaw) return -Errno.EPERM;
        if (ifindex < 0) return -Errno.EINVAL;
        sk.BoundDevIf = ifindex;
        sk.Prot.Rehash(sk);
        sk.SkDstReset();
        return 0;
    }

    /// <summary>SO_RCVTIMEO / SO_SNDTIMEO with a struct timeval (16 bytes on x86-64).</summary>
    /// <remarks>Mirrors net/core/sock.c: sock_set_timeout().</remarks>
    private static int SockSetTimeout(ref long timeo, ReadOnlySpan<byte> optval)
    {
        if (optval.Length < 16) return -Errno.EINVAL;
        long sec = BinaryPrimitives.ReadInt64LittleEndian(optval);
        long usec = BinaryPrimitives.ReadInt64LittleEndian(optval[8..]);
        if (usec < 0 || usec >= 1_000_000) return -Errno.EDOM;
        if (sec < 0)
        {
            timeo = 0; // "negative timeout: assumed zero" (the kernel warns once)
            return 0;
        }
        timeo = Sock.MaxScheduleTimeout;
        if (sec == 0 && usec == 0) return 0;
        if (sec < long.MaxValue / Time.NsPerSec - 1) timeo = sec * Time.NsPerSec + usec * NsPerUs;
        return 0;
    }

    /// <summary>getsockopt(SOL_SOCKET, ...). <paramref name="optlen"/>: buffer size in, bytes written out.</summary>
    /// <remarks>Mirrors net/core/sock.c: sk_getsockopt().</remarks>
    public static int SkGetsockopt(BsdSocket sock, int optname, Span<byte> optval, ref int optlen)
    {
        var sk = sock.Sk;
        if (sk is null) return -Errno.EINVAL;
        int len = optlen;
        if (len < 0) return -Errno.EINVAL;
        Span<byte> v = stackalloc byte[16];
        v.Clear();
        int lv = sizeof(int);
        int val = 0;
        switch (optname)
        {
            case SO_DEBUG: val = sk.HasFlag(SockFlag.Dbg) ? 1 : 0; break;
            case SO_DONTROUTE: val = sk.HasFlag(SockFlag.LocalRoute) ? 1 : 0; break;
            case SO_BROADCAST: val = sk.HasFlag(SockFlag.Broadcast) ? 1 : 0; break;
            case SO_SNDBUF: val = sk.SndBuf; break;
            case SO_RCVBUF: val = sk.RcvBuf; break;
            case SO_REUSEADDR: val = sk.Reuse; break;
            case SO_REUSEPORT: val = sk.ReusePort ? 1 : 0; break;
            case SO_KEEPALIVE: val = sk.HasFlag(SockFlag.KeepOpen) ? 1 : 0; break;
            case SO_TYPE: val = sk.Type; break;
            case SO_PROTOCOL: val = sk.Protocol; break;
            case SO_DOMAIN: val = sk.Family; break;
            case SO_ERROR:
                val = -sk.SockError();
                if (val == 0)
                {
                    val = sk.ErrSoft;
                    sk.ErrSoft = 0;
                }
                break;
            case SO_OOBINLINE: val = sk.HasFlag(SockFlag.UrgInline) ? 1 : 0; break;
            case SO_NO_CHECK: val = sk.NoCheckTx ? 1 : 0; break;
            case SO_PRIORITY: val = sk.Priority; break;
            case SO_MAX_PACING_RATE:
                if (len >= sizeof(ulong))
                {
                    lv = sizeof(ulong);
                    BinaryPrimitives.WriteUInt64LittleEndian(v, sk.MaxPacingRate);
                }
                else
                {
                    val = (int)(uint)Math.Min(sk.MaxPacingRate, uint.MaxValue); // the 32-bit version
                }
                break;
            case SO_LINGER:
                lv = 8;
                BinaryPrimitives.WriteInt32LittleEndian(v, sk.HasFlag(SockFlag.Linger) ? 1 : 0);
                BinaryPrimitives.WriteInt32LittleEndian(v[4..], (int)(sk.LingerTime / Time.NsPerSec));
                break;
            case SO_BSDCOMPAT: break;
            case SO_TIMESTAMP: val = sk.HasFlag(SockFlag.RcvTstamp) && !sk.HasFlag(SockFlag.TstampNew) && !sk.HasFlag(SockFlag.RcvTstampNs) ? 1 : 0; break;
            case SO_TIMESTAMPNS: val = sk.HasFlag(SockFlag.RcvTstampNs) && !sk.HasFlag(SockFlag.TstampNew) ? 1 : 0; break;
            case SO_TIMESTAMP_NEW: val = sk.HasFlag(SockFlag.RcvTstamp) && sk.HasFlag(SockFlag.TstampNew) && !sk.HasFlag(SockFlag.RcvTstampNs) ? 1 : 0; break;
            case SO_TIMESTAMPNS_NEW: val = sk.HasFlag(SockFlag.RcvTstampNs) && sk.HasFlag(SockFlag.TstampNew) ? 1 : 0; break;
            case SO_RCVTIMEO_OLD:
                lv = SockGetTimeout(sk.RcvTimeo, v);
                break;
            case SO_SNDTIMEO_OLD:
                lv = SockGetTimeout(sk.SndTimeo, v);
                break;
            case SO_RCVLOWAT: val = sk.RcvLowat; break;
            case SO_SNDLOWAT: val = 1; break;
            case SO_ACCEPTCONN: val = sk.State == TcpState.Listen ? 1 : 0; break;
            case SO_BINDTOIFINDEX: val = sk.BoundDevIf; break;
            case SO_PASSCRED: return -Errno.EOPNOTSUPP; // sk_may_scm_recv(), as on set
            case SO_BUSY_POLL: val = sk.LlUsec; break;
            case SO_MARK: val = sk.Mark; break;
            case SO_RXQ_OVFL: val = sk.HasFlag(SockFlag.RxqOvfl) ? 1 : 0; break;
            case SO_INCOMING_CPU: val = sk.IncomingCpu; break;
            case SO_BINDTODEVICE:
            {
                // sock_getbindtodevice(): the name, or length 0 when unbound.
                string name = "";
                if (sk.BoundDevIf != 0)
                    foreach (var d in sk.Net.Devices) if (d.IfIndex == sk.BoundDevIf) name = d.Name;
                if (name.Length == 0) { optlen = 0; return 0; }
                if (len < 16) return -Errno.EINVAL; // sock_getbindtodevice(): the buffer must hold IFNAMSIZ
                System.Text.Encoding.ASCII.GetBytes(name, optval);
                optval[name.Length] = 0;
                optlen = name.Length + 1;
                return 0;
            }
            default:
                return -Errno.ENOPROTOOPT;
        }
        if (lv == sizeof(int)) BinaryPrimitives.WriteInt32LittleEndian(v, val);
        if (len > lv) len = lv;
        v[..len].CopyTo(optval);
        optlen = len;
        return 0;
    }

    /// <remarks>Mirrors net/core/sock.c: sock_get_timeout(): {0, 0} for "forever".</remarks>
    private static int SockGetTimeout(long timeo, Span<byte> v)
    {
        long sec = 0, usec = 0;
        if (timeo != Sock.MaxScheduleTimeout)
        {
            sec = timeo / Time.NsPerSec;
            usec = (timeo % Time.NsPerSec) / NsPerUs;
        }
        BinaryPrimitives.WriteInt64LittleEndian(v, sec);
        BinaryPrimitives.WriteInt64LittleEndian(v[8..], usec);
        return 16;
    }
}
