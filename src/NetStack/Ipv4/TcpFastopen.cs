using System.Buffers.Binary;
using NetStack.Core;
using NetStack.Net;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Ipv4;

/// <summary>The Fast Open keys of a namespace or a listener: the primary and an optional backup (for rotation).</summary>
/// <remarks>Mirrors include/net/tcp.h: struct tcp_fastopen_context (siphash_key_t key[TCP_FASTOPEN_KEY_MAX]).</remarks>
internal sealed class TcpFastopenContext
{
    public ulong K0, K1, BackupK0, BackupK1;
    public int Num;
}

/// <summary>
/// What the client remembers of a server (the tcp_metrics entry's tcpm_fastopen): the MSS it
/// announced, its cookie, SYN losses and whether to try the experimental option.
/// </summary>
/// <remarks>Mirrors net/ipv4/tcp_metrics.c: struct tcp_fastopen_metrics.</remarks>
internal sealed class TcpFastopenMetrics
{
    public ushort Mss;
    public ushort SynLoss;
    public ushort TryExp;
    public long LastSynLoss;
    public TcpFastopenCookie Cookie;
}

/// <summary>A Fast Open connect in progress: the data for the SYN (staged in a buffer) and the cookie to send.</summary>
/// <remarks>Mirrors include/net/tcp.h: struct tcp_fastopen_request.</remarks>
internal sealed class TcpFastopenRequest
{
    public TcpFastopenCookie Cookie;
    /// <summary>data: the caller's bytes (a copy, at most one segment's worth); null once all went in the SYN.</summary>
    public SkBuff? Data;
    /// <summary>size: the length of the caller's send; copied: how much of it went in the SYN.</summary>
    public int Size, Copied;
}

/// <summary>
/// TCP Fast Open (RFC 7413): the server's cookies (SipHash of the addresses under a per-namespace
/// key), the client's cookie cache, SYNs carrying data and the listener's children created at
/// the SYN.
/// </summary>
/// <remarks>Mirrors net/ipv4/tcp_fastopen.c, with tcp_fastopen_cache_get/set (net/ipv4/tcp_metrics.c).</remarks>
internal static class TcpFastopen
{
    // net.ipv4.tcp_fastopen bits (include/net/tcp.h: TFO_*).
    public const int TfoClientEnable = 1, TfoServerEnable = 2, TfoClientNoCookie = 4,
        TfoServerCookieNotReqd = 0x200, TfoServerWoSockopt1 = 0x400;
    /// <summary>TCP_FASTOPEN_COOKIE_MIN / MAX / SIZE (the SipHash cookie for IPv4 is 8 bytes).</summary>
    public const int CookieMin = 4, CookieMax = 16, CookieSize = 8;
    /// <summary>TCP_FASTOPEN_KEY_LENGTH (one key) and TCP_FASTOPEN_KEY_BUF_LENGTH (primary and backup).</summary>
    public const int KeyLength = 16, KeyBufLength = 32;
    /// <summary>tfo_client_fail values (TFO_COOKIE_UNAVAILABLE...), reported by TCP_INFO in Linux.</summary>
    public const byte TfoCookieUnavailable = 1, TfoDataNotAcked = 2, TfoSynRetransmitted = 3;

    // ---- keys and cookies ----

    /// <summary>Sets the namespace's key (sk null) or a listener's own.</summary>
    /// <remarks>Mirrors tcp_fastopen_reset_cipher().</remarks>
    internal static int TcpFastopenResetCipher(NetNamespace net, TcpSock? sk, ReadOnlySpan<byte> primary, ReadOnlySpan<byte> backup)
    {
        var ctx = new TcpFastopenContext
        {
            K0 = BinaryPrimitives.ReadUInt64LittleEndian(primary),
            K1 = BinaryPrimitives.ReadUInt64LittleEndian(primary[8..]),
            Num = 1,
        };
        if (backup.Length >= KeyLength)
        {
            ctx.BackupK0 = BinaryPrimitives.ReadUInt64LittleEndian(backup);
            ctx.BackupK1 = BinaryPrimitives.ReadUInt64LittleEndian(backup[8..]);
            ctx.Num = 2;
        }
        if (sk is not null) sk.FastopenCtx = ctx;
        else net.Ipv4.TcpFastopenCtx = ctx;
        return 0;
    }

    /// <summary>A random namespace key the first time Fast Open is used.</summary>
    /// <remarks>Mirrors tcp_fastopen_init_key_once().</remarks>
    internal static void TcpFastopenInitKeyOnce(NetNamespace net)
    {
        if (net.Ipv4.TcpFastopenCtx is not null) return;
        Span<byte> key = stackalloc byte[KeyLength];
        Random.Shared.NextBytes(key);
        TcpFastopenResetCipher(net, null, key, default);
    }

    /// <summary>The keys a listener uses: its own (TCP_FASTOPEN_KEY on it), else the namespace's.</summary>
    /// <remarks>Mirrors tcp_fastopen_get_ctx().</remarks>
    internal static TcpFastopenContext? TcpFastopenGetCtx(TcpSock sk) => sk.FastopenCtx ?? sk.Net.Ipv4.TcpFastopenCtx;

    /// <summary>Writes the keys as TCP_FASTOPEN_KEY / tcp_fastopen_key read them (little-endian u64 pairs); returns how many.</summary>
    /// <remarks>Mirrors tcp_fastopen_get_cipher().</remarks>
    internal static int TcpFastopenGetCipher(NetNamespace net, TcpSock? sk, Span<byte> key)
    {
        // A socket reports only its own keys, never the namespace's.
        var ctx = sk is not null ? sk.FastopenCtx : net.Ipv4.TcpFastopenCtx;
        if (ctx is null) return 0;
        BinaryPrimitives.WriteUInt64LittleEndian(key, ctx.K0);
        BinaryPrimitives.WriteUInt64LittleEndian(key[8..], ctx.K1);
        if (ctx.Num > 1)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(key[16..], ctx.BackupK0);
            BinaryPrimitives.WriteUInt64LittleEndian(key[24..], ctx.BackupK1);
        }
        return ctx.Num;
    }

    /// <summary>The cookie of a SYN's address pair: SipHash-2-4 of saddr then daddr (network order), written little-endian.</summary>
    /// <remarks>Mirrors __tcp_fastopen_cookie_gen_cipher() (siphash() of iph-&gt;saddr and iph-&gt;daddr).</remarks>
    internal static TcpFastopenCookie CookieGenCipher(uint saddr, uint daddr, ulong k0, ulong k1)
    {
        // The addresses are kept in host order; the hash reads their wire bytes as one little-endian u64.
        ulong m = BinaryPrimitives.ReverseEndianness(saddr) | (ulong)BinaryPrimitives.ReverseEndianness(daddr) << 32;
        var foc = new TcpFastopenCookie { Len = CookieSize };
        BinaryPrimitives.WriteUInt64LittleEndian(foc.Val, SecureSeq.SipHash1u64(m, k0, k1));
        return foc;
    }

    /// <summary>The cookie of an IPv6 SYN's address pair: SipHash-2-4 of the 32 bytes saddr then daddr (network order), written little-endian.</summary>
    /// <remarks>Mirrors __tcp_fastopen_cookie_gen_cipher() for AF_INET6 (siphash() of ip6h-&gt;saddr and ip6h-&gt;daddr).</remarks>
    internal static TcpFastopenCookie CookieGenCipher(UInt128 saddr, UInt128 daddr, ulong k0, ulong k1)
    {
        // An address is held as a big-endian number; siphash() reads its wire bytes as two little-endian u64.
        ulong h = SecureSeq.SipHash4u64(
            BinaryPrimitives.ReverseEndianness((ulong)(saddr >> 64)), BinaryPrimitives.ReverseEndianness((ulong)saddr),
            BinaryPrimitives.ReverseEndianness((ulong)(daddr >> 64)), BinaryPrimitives.ReverseEndianness((ulong)daddr), k0, k1);
        var foc = new TcpFastopenCookie { Len = CookieSize };
        BinaryPrimitives.WriteUInt64LittleEndian(foc.Val, h);
        return foc;
    }

    /// <summary>The cookie of a SYN under one key, over the addresses of the request's family.</summary>
    /// <remarks>Mirrors __tcp_fastopen_cookie_gen_cipher() (req-&gt;rsk_ops-&gt;family picks ip_hdr() or ipv6_hdr()).</remarks>
    private static TcpFastopenCookie CookieGenCipher(TcpRequestSock req, SkBuff syn, ulong k0, ulong k1)
    {
        if (!req.RskOps.IsV6) return CookieGenCipher(syn.Saddr, syn.Daddr, k0, k1);
        var ip6 = Ipv6Header.Create(syn.Buffer.AsSpan(syn.NetworkHeader, Ipv6Header.Length));
        return CookieGenCipher(ip6.Source, ip6.Destination, k0, k1);
    }

    /// <summary>The cookie for a SYN under the listener's primary key (none without a key).</summary>
    /// <remarks>Mirrors tcp_fastopen_cookie_gen().</remarks>
    internal static TcpFastopenCookie TcpFastopenCookieGen(TcpSock sk, TcpRequestSock req, SkBuff syn)
    {
        var ctx = TcpFastopenGetCtx(sk);
        return ctx is null ? TcpFastopenCookie.None : CookieGenCipher(req, syn, ctx.K0, ctx.K1);
    }

    /// <summary>
    /// Checks a SYN's cookie against each key: 0 invalid, 1 the primary's, 2 the backup's. The
    /// primary key's cookie is left in <paramref name="validFoc"/> either way.
    /// </summary>
    /// <remarks>Mirrors tcp_fastopen_cookie_gen_check().</remarks>
    private static int TcpFastopenCookieGenCheck(TcpSock sk, TcpRequestSock req, SkBuff syn, in TcpFastopenCookie orig, out TcpFastopenCookie validFoc)
    {
        validFoc = TcpFastopenCookie.None;
        var ctx = TcpFastopenGetCtx(sk);
        if (ctx is null) return 0;
        validFoc = CookieGenCipher(req, syn, ctx.K0, ctx.K1);
        if (validFoc.Matches(orig)) return 1;
        if (ctx.Num > 1 && CookieGenCipher(req, syn, ctx.BackupK0, ctx.BackupK1).Matches(orig)) return 2;
        return 0;
    }

    /// <remarks>Mirrors tcp_fastopen_no_cookie() (no route metric RTAX_FASTOPEN_NO_COOKIE here).</remarks>
    private static bool TcpFastopenNoCookie(TcpSock sk, int flag) =>
        (sk.Net.Ipv4.Sysctl.TcpFastopen & flag) != 0 || sk.FastopenNoCookie;

    // ---- server ----

    /// <summary>
    /// The listener takes Fast Open SYNs while fewer than its TCP_FASTOPEN qlen are pending (a
    /// pending request that was reset and whose timer ran out makes room).
    /// </summary>
    /// <remarks>Mirrors tcp_fastopen_queue_check().</remarks>
    private static bool TcpFastopenQueueCheck(TcpSock sk)
    {
        var q = sk.AcceptQueue;
        if (q.FastopenqMaxQlen == 0) return false;
        if (q.FastopenqQlen >= q.FastopenqMaxQlen)
        {
            // No rskq_rst_head list is kept: a reset request leaves the count at once.
            sk.Net.Mib.TcpExt[LinuxMib.TCPFastOpenListenOverflow]++;
            return false;
        }
        return true;
    }

    /// <summary>
    /// A SYN on a Fast Open listener: a cookie request gets a cookie; a valid cookie (or none
    /// needed) creates the child at once, its data readable and acknowledged by the SYN-ACK; an
    /// invalid one falls back to a regular handshake and the SYN-ACK carries the right cookie.
    /// <paramref name="foc"/> comes back as the cookie for the SYN-ACK (Len -1: none).
    /// </summary>
    /// <remarks>Mirrors tcp_try_fastopen().</remarks>
    internal static TcpSock? TcpTryFastopen(TcpSock sk, SkBuff skb, TcpRequestSock req, ref TcpFastopenCookie foc)
    {
        var net = sk.Net;
        bool synData = skb.Cb.EndSeq != skb.Cb.Seq + 1;
        int tcpFastopen = net.Ipv4.Sysctl.TcpFastopen;
        var validFoc = TcpFastopenCookie.None;
        int ret = 0;
        if (foc.Len == 0) net.Mib.TcpExt[LinuxMib.TCPFastOpenCookieReqd]++;
        if (!((tcpFastopen & TfoServerEnable) != 0 && (synData || foc.Len >= 0) && TcpFastopenQueueCheck(sk)))
        {
            foc.Len = -1;
            return null;
        }
        if (TcpFastopenNoCookie(sk, TfoServerCookieNotReqd)) goto fastopen;
        if (foc.Len == 0)
        {
            validFoc = TcpFastopenCookieGen(sk, req, skb);
        }
        else if (foc.Len > 0)
        {
            ret = TcpFastopenCookieGenCheck(sk, req, skb, foc, out validFoc);
            if (ret == 0)
            {
                net.Mib.TcpExt[LinuxMib.TCPFastOpenPassiveFail]++;
            }
            else
            {
                goto fastopen;
            }
        }
        validFoc.Exp = foc.Exp;
        foc = validFoc;
        return null;

    fastopen:
        var child = TcpFastopenCreateChild(sk, skb, req);
        if (child is not null)
        {
            if (ret == 2)
            {
                // Accepted under the backup key: hand out the primary's cookie.
                validFoc.Exp = foc.Exp;
                foc = validFoc;
                net.Mib.TcpExt[LinuxMib.TCPFastOpenPassiveAltKey]++;
            }
            else
            {
                foc.Len = -1;
            }
            net.Mib.TcpExt[LinuxMib.TCPFastOpenPassive]++;
            return child;
        }
        net.Mib.TcpExt[LinuxMib.TCPFastOpenPassiveFail]++;
        validFoc.Exp = foc.Exp;
        foc = validFoc;
        return null;
    }

    /// <summary>
    /// The child of a Fast Open SYN, created in SYN_RECV before the handshake completes: it owns
    /// the request (fastopen_rsk), resends the SYN-ACK from its own retransmission timer and holds
    /// the SYN's data.
    /// </summary>
    /// <remarks>Mirrors tcp_fastopen_create_child().</remarks>
    private static TcpSock? TcpFastopenCreateChild(TcpSock sk, SkBuff skb, TcpRequestSock req)
    {
        // icsk_af_ops->syn_recv_sock: tcp_v4_syn_recv_sock, or tcp_v6_syn_recv_sock for an AF_INET6 listener (native or v4-mapped child).
        var child = sk.IcskAfOps.SynRecvSock(sk, skb, req);
        if (child is null) return null;
        sk.AcceptQueue.FastopenqQlen++;
        child.FastopenRsk = req;
        req.TfoListener = true;
        // RFC 7323: the window of a SYN is never scaled.
        child.SndWnd = TcpInput.TcpHdr(skb).Window;
        child.MaxWindow = child.SndWnd;
        // The SYN-ACK is retransmitted by the child's timer: the request is not in the hash.
        child.InetCskResetXmitTimer(InetConnectionSock.IcskTimeRetrans, TcpTimer.TcpTimeoutInit(child.Net), TcpTimer.TcpRtoMax(child.Net));
        TcpInput.TcpInitTransfer(child);
        child.RcvNxt = skb.Cb.Seq + 1;
        TcpFastopenAddSkb(child, skb);
        req.RcvNxt = child.RcvNxt;
        child.RcvWup = child.RcvNxt;
        return child;
    }

    /// <summary>Queues the data of a SYN (or of a SYN-ACK) on the receive queue of a socket that has not yet seen the handshake end.</summary>
    /// <remarks>Mirrors tcp_fastopen_add_skb().</remarks>
    internal static void TcpFastopenAddSkb(TcpSock tp, SkBuff skb)
    {
        if (skb.Cb.EndSeq == tp.RcvNxt) return;
        var th = TcpInput.TcpHdr(skb);
        int hdr = th.HeaderLength;
        int len = skb.Len - hdr;
        // The listener frees the SYN; its data is copied (skb_clone in Linux).
        var copy = tp.Net.SkbPool.AllocWithHeadroom(SkBuffPool.MaxHeader);
        if (copy is null) return;
        skb.DataSpan.Slice(hdr, len).CopyTo(copy.Put(len));
        copy.Cb = skb.Cb;
        // Counted afresh, as Linux does (segs_in was 1 for the SYN of a child).
        tp.SegsIn = 0;
        TcpIpv4.TcpSegsIn(tp, skb, len);
        copy.Cb.Seq++;
        copy.Cb.TcpFlags &= unchecked((byte)~TcpFlags.SYN);
        tp.RcvNxt = copy.Cb.EndSeq;
        tp.SkbSetOwnerR(copy);
        tp.ReceiveQueue.EnqueueTail(copy);
        tp.SynDataAcked = true;
        tp.BytesReceived = (ulong)len;
        if ((copy.Cb.TcpFlags & TcpFlags.FIN) != 0) TcpInput.TcpFin(tp);
    }

    /// <summary>The final ACK of a Fast Open child: the request is done with.</summary>
    /// <remarks>Mirrors tcp_rcv_synrecv_state_fastopen() with reqsk_fastopen_remove().</remarks>
    internal static void TcpRcvSynrecvStateFastopen(TcpSock tp)
    {
        // tcp_rcv_state_process(): the handshake's RTT, unless data already gave one.
        if (tp.SrttUs == 0 && tp.FastopenRsk is { } req) TcpInput.TcpSynackRttMeas(tp, req);
        tp.IcskRetransmits = 0;
        tp.RetransStamp = 0;
        ReqskFastopenRemove(tp, reset: false);
        // Data may have been sent in SYN_RECV: time it as new data.
        TcpInput.TcpRearmRto(tp);
    }

    /// <summary>Detaches the request from a Fast Open child and gives its place back to the listener's pending count.</summary>
    /// <remarks>Mirrors reqsk_fastopen_remove().</remarks>
    internal static void ReqskFastopenRemove(TcpSock tp, bool reset)
    {
        var req = tp.FastopenRsk;
        if (req is null) return;
        tp.FastopenRsk = null;
        var lsk = req.RskListener;
        if (lsk is not null && req.TfoListener && lsk.AcceptQueue.FastopenqQlen > 0) lsk.AcceptQueue.FastopenqQlen--;
        req.TfoListener = false;
    }

    /// <summary>
    /// A segment for a Fast Open child still in SYN_RECV: a retransmitted SYN gets the SYN-ACK
    /// again; a valid RST ends the child; segments without ACK are dropped. Returns false when
    /// the segment was consumed.
    /// </summary>
    /// <remarks>Mirrors tcp_check_req() with fastopen = true (the part a child in SYN_RECV needs).</remarks>
    internal static bool TcpCheckReqFastopen(TcpSock tp, SkBuff skb, TcpRequestSock req)
    {
        var th = TcpInput.TcpHdr(skb);
        byte flg = (byte)(th.Flags & (TcpFlags.RST | TcpFlags.SYN | TcpFlags.ACK));
        if (skb.Cb.Seq == req.RcvIsn && flg == TcpFlags.SYN)
        {
            TcpRtxSynackFastopen(tp, req);
            tp.Net.KfreeSkbReason(skb, SkbDropReason.TcpFastopen);
            return false;
        }
        // The window the SYN-ACK offered, from the request's rcv_nxt (tcp_synack_window()).
        if (!TcpMinisocks.TcpInWindow(skb.Cb.Seq, skb.Cb.EndSeq, req.RcvNxt, req.RcvNxt + Math.Min(req.RskRcvWnd, 65535u)))
        {
            if ((flg & TcpFlags.RST) == 0) TcpOutput.TcpSendAck(tp);
            tp.Net.KfreeSkbReason(skb, SkbDropReason.TcpOverWindow);
            return false;
        }
        if (skb.Cb.Seq == req.RcvIsn) flg &= unchecked((byte)~TcpFlags.SYN);
        if ((flg & (TcpFlags.RST | TcpFlags.SYN)) != 0)
        {
            tp.Net.Mib.Tcp[TcpMib.AttemptFails]++;
            if ((flg & TcpFlags.RST) == 0)
            {
                req.RskOps.SendReset(tp, skb);
            }
            else
            {
                ReqskFastopenRemove(tp, reset: true);
                TcpInput.TcpReset(tp);
            }
            tp.Net.KfreeSkbReason(skb, SkbDropReason.TcpFastopen);
            return false;
        }
        if ((flg & TcpFlags.ACK) == 0)
        {
            tp.Net.KfreeSkbReason(skb, SkbDropReason.TcpFastopen);
            return false;
        }
        return true;
    }

    /// <summary>The SYN-ACK again from a Fast Open child, through the request's ops (tcp_v4_send_synack or tcp_v6_send_synack), counted as a retransmission of the child's.</summary>
    /// <remarks>Mirrors inet_rtx_syn_ack() -> tcp_rtx_synack() (tcp_passive_fastopen(sk): total_retrans++).</remarks>
    private static void TcpRtxSynackFastopen(TcpSock tp, TcpRequestSock req)
    {
        if (TcpMinisocks.InetRtxSynAck(tp, req) == 0) tp.TotalRetrans++;
    }

    /// <summary>
    /// The SYN-ACK timer of a Fast Open child: resend the SYN-ACK (tcp_synack_retries times, with
    /// backoff), then give up on the connection.
    /// </summary>
    /// <remarks>Mirrors tcp_fastopen_synack_timer() (net/ipv4/tcp_timer.c).</remarks>
    internal static void TcpFastopenSynackTimer(TcpSock tp, TcpRequestSock req)
    {
        var net = tp.Net;
        // One more try than a plain request gets.
        int maxRetries = tp.IcskSynRetries != 0 ? tp.IcskSynRetries : net.Ipv4.Sysctl.TcpSynackRetries + 1;
        if (req.NumTimeout >= maxRetries)
        {
            TcpTimer.TcpWriteErr(tp);
            return;
        }
        // Lower the cwnd and resend the SYN-ACK (tcp_enter_loss() is not used: no data has been counted yet).
        TcpRtxSynackFastopen(tp, req);
        req.NumTimeout++;
        tp.IcskRetransmits++;
        if (tp.IcskRetransmits == 1) tp.RetransStamp = net.NowNs;
        long timeout = Math.Min(TcpTimer.TcpTimeoutInit(net) << req.NumTimeout, TcpTimer.TcpRtoMax(net));
        tp.InetCskResetXmitTimer(InetConnectionSock.IcskTimeRetrans, timeout, TcpTimer.TcpRtoMax(net));
    }

    // ---- client ----

    /// <summary>
    /// The client's memory of the servers it talked to (tcp_metrics), per namespace, keyed by the
    /// connection's (saddr, daddr): the 16-byte ones over IPv6, the IPv4 ones (v4-mapped) otherwise.
    /// </summary>
    /// <remarks>Mirrors tcp_get_metrics() (tcpm_saddr / tcpm_daddr of the socket's family on the wire).</remarks>
    private static TcpFastopenMetrics? TcpGetMetrics(TcpSock sk, bool create)
    {
        var key = sk.IcskAfOps.IsV6
            ? (sk.Pinet6!.Saddr, sk.SkcV6Daddr)
            : (Ipv6Address.V4Mapped(sk.InetSaddr), Ipv6Address.V4Mapped(sk.InetDaddr));
        var cache = sk.Net.Ipv4.TcpFastopenCache;
        if (cache.TryGetValue(key, out var tm)) return tm;
        if (!create) return null;
        tm = new TcpFastopenMetrics { Cookie = new TcpFastopenCookie { Len = 0 } };
        cache[key] = tm;
        return tm;
    }

    /// <summary>The cached MSS and cookie of the destination (a cookie request when none, the experimental form once the server ignored ours).</summary>
    /// <remarks>Mirrors tcp_fastopen_cache_get() (net/ipv4/tcp_metrics.c).</remarks>
    internal static void TcpFastopenCacheGet(TcpSock sk, ref ushort mss, ref TcpFastopenCookie cookie)
    {
        var tm = TcpGetMetrics(sk, false);
        if (tm is null) return;
        if (tm.Mss != 0) mss = tm.Mss;
        cookie = tm.Cookie;
        if (cookie.Len <= 0 && tm.TryExp == 1) cookie.Exp = true;
    }

    /// <summary>Remembers what a SYN-ACK said (or that the SYN was lost).</summary>
    /// <remarks>Mirrors tcp_fastopen_cache_set() (net/ipv4/tcp_metrics.c).</remarks>
    internal static void TcpFastopenCacheSet(TcpSock sk, ushort mss, in TcpFastopenCookie cookie, bool hasCookie, bool synLost, ushort tryExp)
    {
        var tm = TcpGetMetrics(sk, true)!;
        if (mss != 0) tm.Mss = mss;
        if (hasCookie && cookie.Len > 0) tm.Cookie = cookie;
        else if (tryExp > tm.TryExp && tm.Cookie.Len <= 0 && !tm.Cookie.Exp) tm.TryExp = tryExp;
        if (synLost)
        {
            tm.SynLoss++;
            tm.LastSynLoss = sk.Net.NowNs;
        }
        else
        {
            tm.SynLoss = 0;
        }
    }

    /// <summary>
    /// Can the SYN carry data? With a cached cookie (or none needed, tcp_fastopen 0x4 /
    /// TCP_FASTOPEN_NO_COOKIE) yes; otherwise the SYN asks for a cookie.
    /// </summary>
    /// <remarks>Mirrors tcp_fastopen_cookie_check() (no blackhole detection: tcp_fastopen_blackhole_timeout_sec is not modelled).</remarks>
    internal static bool TcpFastopenCookieCheck(TcpSock sk, ref ushort mss, ref TcpFastopenCookie cookie)
    {
        TcpFastopenCacheGet(sk, ref mss, ref cookie);
        if (TcpFastopenNoCookie(sk, TfoClientNoCookie))
        {
            cookie.Len = -1;
            return true;
        }
        if (cookie.Len > 0) return true;
        sk.FastopenClientFail = TfoCookieUnavailable;
        return false;
    }

    /// <summary>
    /// TCP_FASTOPEN_CONNECT: with a usable cookie, connect() returns at once and the first write
    /// sends the SYN with its data; without one, the SYN goes now and asks for a cookie.
    /// </summary>
    /// <remarks>Mirrors tcp_fastopen_defer_connect().</remarks>
    internal static bool TcpFastopenDeferConnect(TcpSock sk)
    {
        if (sk.FastopenConnect && sk.FastopenReq is null)
        {
            ushort mss = 0;
            var cookie = new TcpFastopenCookie { Len = 0 };
            if (TcpFastopenCookieCheck(sk, ref mss, ref cookie))
            {
                sk.DeferConnect = true;
                return true;
            }
            // A request, so that the SYN carries the cookie request.
            sk.FastopenReq = new TcpFastopenRequest { Cookie = cookie };
        }
        return false;
    }

    /// <summary>
    /// sendto(MSG_FASTOPEN) or the first write after a deferred connect: connect with the data in
    /// the SYN. <paramref name="copied"/> is what the SYN carried.
    /// </summary>
    /// <remarks>Mirrors tcp_sendmsg_fastopen() (net/ipv4/tcp.c).</remarks>
    internal static int TcpSendmsgFastopen(TcpSock tp, ref Uapi.MsgHdr msg, ReadOnlySpan<byte> data, out int copied)
    {
        copied = 0;
        var net = tp.Net;
        if ((net.Ipv4.Sysctl.TcpFastopen & TfoClientEnable) == 0 ||
            (msg.HasName && msg.Name.Len >= SaFamilySize && msg.Name.Family == AF_UNSPEC))
            return -Errno.EOPNOTSUPP;
        if (tp.FastopenReq is not null) return -Errno.EALREADY; // another Fast Open is in progress
        var fo = new TcpFastopenRequest { Size = data.Length };
        if (data.Length > 0)
        {
            // The SYN takes at most one segment: stage that much (tcp_send_syn_data() trims it).
            var staged = net.SkbPool.AllocWithHeadroom(SkBuffPool.MaxHeader);
            if (staged is null) return -Errno.ENOBUFS;
            int n = Math.Min(data.Length, staged.Tailroom);
            data[..n].CopyTo(staged.Put(n));
            fo.Data = staged;
        }
        tp.FastopenReq = fo;
        int err;
        if (tp.DeferConnect)
        {
            err = TcpOutput.TcpConnect(tp);
            // Same failure procedure as in tcp_v4_connect().
            if (err != 0)
            {
                Tcp.TcpSetState(tp, TcpState.Close);
                tp.InetDport = 0;
            }
        }
        int flags = (msg.Flags & MSG_DONTWAIT) != 0 ? O_NONBLOCK : 0;
        err = InetStreamOps.InetStreamConnectCore(tp.Socket!, msg.Name, msg.HasName, flags, isSendmsg: true);
        // The request may be gone already (the connect failed meanwhile).
        if (tp.FastopenReq is { } req)
        {
            copied = req.Copied;
            TcpFreeFastopenReq(tp);
            tp.DeferConnect = false;
        }
        return err;
    }

    /// <remarks>Mirrors tcp_free_fastopen_req().</remarks>
    internal static void TcpFreeFastopenReq(TcpSock tp)
    {
        if (tp.FastopenReq is not { } fo) return;
        fo.Data?.Free();
        fo.Data = null;
        tp.FastopenReq = null;
    }

    /// <summary>
    /// The SYN-ACK of a Fast Open connect: remember the server's MSS and cookie; if it did not
    /// acknowledge the SYN's data, send the data again (returns true: no ACK of our own then).
    /// </summary>
    /// <remarks>Mirrors tcp_rcv_fastopen_synack() (net/ipv4/tcp_input.c).</remarks>
    internal static bool TcpRcvFastopenSynack(TcpSock tp, SkBuff synack, ref TcpFastopenCookie cookie)
    {
        var data = tp.SynData ? tp.RtxQueue.First : null;
        ushort mss = tp.RxOpt.MssClamp;
        ushort tryExp = 0;
        bool synDrop = false;
        if (mss == tp.RxOpt.UserMss)
        {
            // The user's MSS replaced the SYN-ACK's: read the server's own again.
            var opt = new TcpOptionsReceived();
            TcpInput.TcpParseOptions(tp.Net, TcpInput.TcpHdr(synack), ref opt, false, out _);
            mss = opt.MssClamp;
        }
        if (!tp.SynFastopen)
        {
            cookie.Len = -1; // ignore an unsolicited cookie
        }
        else if (tp.TotalRetrans != 0)
        {
            // The SYN timed out and the SYN-ACK neither has a cookie nor acknowledges data: the
            // server presumably saw only the retransmitted (plain) SYNs.
            synDrop = cookie.Len < 0 && data is not null;
        }
        else if (cookie.Len < 0 && !tp.SynData)
        {
            // A cookie was asked for and none came: try the other option format next time.
            tryExp = (ushort)(tp.SynFastopenExp ? 2 : 1);
        }
        TcpFastopenCacheSet(tp, mss, cookie, true, synDrop, tryExp);

        if (data is not null)
        {
            // Retransmit the data the SYN-ACK did not acknowledge.
            tp.FastopenClientFail = tp.TotalRetrans != 0 ? TfoSynRetransmitted : TfoDataNotAcked;
            for (var skb = data; skb is not null; skb = skb.Next) TcpInput.TcpMarkSkbLost(tp, skb);
            TcpInput.TcpNonCongestionLossRetransmit(tp);
            tp.Net.Mib.TcpExt[LinuxMib.TCPFastOpenActiveFail]++;
            return true;
        }
        tp.SynDataAcked = tp.SynData;
        if (tp.SynDataAcked)
        {
            tp.Net.Mib.TcpExt[LinuxMib.TCPFastOpenActive]++;
            // SYN and data were counted as two deliveries by tcp_ack().
            if (tp.Delivered > 1) tp.Delivered--;
        }
        TcpFastopenAddSkb(tp, synack);
        return false;
    }
}
