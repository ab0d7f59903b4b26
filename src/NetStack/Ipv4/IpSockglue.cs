using System.Buffers.Binary;
using NetStack.Core;
using NetStack.Net;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Ipv4;

/// <summary>
/// The SOL_IP socket options shared by every inet transport.
/// <remarks>Mirrors net/ipv4/ip_sockglue.c: ip_setsockopt() / ip_getsockopt().</remarks>
/// </summary>
internal static class IpSockglue
{
    /// <summary>IP_PMTUDISC_OMIT: the largest IP_MTU_DISCOVER value.</summary>
    private const int IpPmtudiscOmit = 5;
    /// <summary>INET_ECN_MASK: the two ECN bits of the TOS byte.</summary>
    private const int InetEcnMask = 3;

    /// <remarks>Mirrors net/ipv4/ip_sockglue.c: ip_setsockopt() -> do_ip_setsockopt().</remarks>
    public static int IpSetsockopt(Sock sk, int level, int optname, ReadOnlySpan<byte> optval)
    {
        if (level != SOL_IP) return -Errno.ENOPROTOOPT;
        var inet = (InetSock)sk;
        int optlen = optval.Length;
        int val = 0;
        // Integer options: a full int, or one byte; "if optlen==0, it is equivalent to val == 0".
        if (optlen >= sizeof(int)) val = BinaryPrimitives.ReadInt32LittleEndian(optval);
        else if (optlen >= 1) val = optval[0];

        switch (optname)
        {
            case IP_RECVERR:
                inet.RecvErr = val != 0;
                if (val == 0) sk.ErrorQueue.Purge();
                return 0;
            case IP_HDRINCL:
                if (sk.Type != SOCK_RAW) return -Errno.ENOPROTOOPT;
                inet.Hdrincl = val != 0;
                return 0;
            case IP_MULTICAST_LOOP:
                if (optlen < 1) return -Errno.EINVAL;
                inet.McLoop = val != 0;
                return 0;
            case IP_TTL:
                if (optlen < 1) return -Errno.EINVAL;
                if (val != -1 && (val < 1 || val > 255)) return -Errno.EINVAL;
                inet.UcTtl = val;
                return 0;
            case IP_MULTICAST_TTL:
                if (sk.Type == SOCK_STREAM) return -Errno.EINVAL;
                if (optlen < 1) return -Errno.EINVAL;
                if (val == -1) val = 1;
                if (val < 0 || val > 255) return -Errno.EINVAL;
                inet.McTtl = val;
                return 0;
            case IP_MTU_DISCOVER:
                // ip_sock_set_mtu_discover()
                if (val < IP_PMTUDISC_DONT || val > IpPmtudiscOmit) return -Errno.EINVAL;
                inet.Pmtudisc = val;
                return 0;
            case IP_TOS:
                // ip_sock_set_tos(): this sets both TOS and Precedence; TCP keeps its ECN bits.
                if (sk.Type == SOCK_STREAM)
                {
                    val &= ~InetEcnMask;
                    val |= inet.Tos & InetEcnMask;
                }
                if (inet.Tos != (byte)val)
                {
                    inet.Tos = (byte)val;
                    sk.Priority = RtTos2Priority(val);
                    inet.DstReset();
                }
                return 0;
            default:
                return -Errno.ENOPROTOOPT;
        }
    }

    /// <summary>The priority band of a TOS value (rt_tos2priority() over ip_tos2prio[]).</summary>
    private static int RtTos2Priority(int tos)
    {
        ReadOnlySpan<byte> ipTos2Prio = [0, 1, 0, 0, 2, 2, 2, 2, 6, 6, 6, 6, 4, 4, 4, 4];
        return ipTos2Prio[(tos & 0x1E) >> 1];
    }

    /// <remarks>Mirrors net/ipv4/ip_sockglue.c: ip_getsockopt() -> do_ip_getsockopt().</remarks>
    public static int IpGetsockopt(Sock sk, int level, int optname, Span<byte> optval, ref int optlen)
    {
        if (level != SOL_IP) return -Errno.EOPNOTSUPP;
        var inet = (InetSock)sk;
        int len = optlen;
        if (len < 0) return -Errno.EINVAL;
        int val;
        switch (optname)
        {
            case IP_RECVERR: val = inet.RecvErr ? 1 : 0; break;
            case IP_HDRINCL: val = inet.Hdrincl ? 1 : 0; break;
            case IP_MULTICAST_LOOP: val = inet.McLoop ? 1 : 0; break;
            case IP_TTL: val = inet.UcTtl >= 0 ? inet.UcTtl : sk.Net.Ipv4.Sysctl.IpDefaultTtl; break;
            case IP_MULTICAST_TTL: val = inet.McTtl; break;
            case IP_TOS: val = inet.Tos; break;
            case IP_MTU_DISCOVER: val = inet.Pmtudisc; break;
            case IP_MTU:
                val = inet.DstValid ? inet.Dst.Dev.Mtu : 0;
                if (val == 0) return -Errno.ENOTCONN;
                break;
            default:
                return -Errno.ENOPROTOOPT;
        }
        // copyval: a short buffer gets one byte when the value fits.
        if (len < sizeof(int) && len > 0 && val >= 0 && val <= 255)
        {
            optval[0] = (byte)val;
            optlen = 1;
        }
        else
        {
            len = Math.Min(sizeof(int), len);
            Span<byte> b = stackalloc byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(b, val);
            b[..len].CopyTo(optval);
            optlen = len;
        }
        return 0;
    }
}
