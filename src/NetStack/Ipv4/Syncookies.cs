using NetStack.Core;
using NetStack.Wire;

namespace NetStack.Ipv4;

/// <summary>
/// SYN cookies: when a listener's SYN queue is full (or always, tcp_syncookies = 2) the SYN-ACK's
/// sequence number encodes what the request sock would have kept (a keyed hash of the 4-tuple, a
/// minute counter and an index into a table of MSS values), so nothing is kept; the ACK that
/// echoes it rebuilds the request. With timestamps, the low 6 bits of the SYN-ACK's TSval carry
/// the window scale, SACK-permitted and ECN of the SYN, echoed back in the ACK's TSecr.
/// <remarks>Mirrors net/ipv4/syncookies.c.</remarks>
/// </summary>
internal static class Syncookies
{
    /// <summary>COOKIEBITS: the low 24 bits hold hash + data, the upper 8 the minute counter.</summary>
    private const int CookieBits = 24;
    private const uint CookieMask = (1u << CookieBits) - 1;
    /// <summary>MAX_SYNCOOKIE_AGE: a cookie is valid for the counter's current and previous minute.</summary>
    internal const uint MaxSyncookieAge = 2;
    /// <summary>TCP_SYNCOOKIE_PERIOD: the counter ticks every minute.</summary>
    internal static readonly long TcpSyncookiePeriodNs = Time.Sec(60);
    /// <summary>TCP_SYNCOOKIE_VALID: how long after an overflow an ACK to a listener is checked as a cookie.</summary>
    internal static readonly long TcpSyncookieValidNs = MaxSyncookieAge * TcpSyncookiePeriodNs;

    // TS_OPT_*: the options in the low TSBITS bits of the cookie SYN-ACK's TSval.
    internal const uint TsOptWscaleMask = 0xf;
    internal const uint TsOptSack = 1u << 4;
    internal const uint TsOptEcn = 1u << 5;
    private const int TsBits = 6;

    /// <summary>
    /// msstab: the MSS values a cookie can carry (2 bits), sorted; chosen after Alcock and Nelson's
    /// 2011 survey of announced MSS values (1460 is the most frequent, 1300-1349 common, below 536 rare).
    /// </summary>
    internal static ReadOnlySpan<ushort> Msstab => [536, 1300, 1440, 1460];

    /// <remarks>Mirrors tcp_cookie_time(): the minute counter (jiffies / TCP_SYNCOOKIE_PERIOD).</remarks>
    internal static uint TcpCookieTime(NetNamespace net) => (uint)(net.NowNs / TcpSyncookiePeriodNs);

    /// <remarks>Mirrors cookie_hash(): siphash_4u32 over the addresses, the ports and the count with syncookie_secret[c].</remarks>
    /// <summary>The connection a cookie is bound to: IPv4 addresses, or IPv6 ones (net/ipv6/syncookies.c hashes those).</summary>
    internal readonly struct CookieFlow(bool v6, uint saddr, uint daddr, UInt128 saddr6, UInt128 daddr6, ushort sport, ushort dport)
    {
        public static CookieFlow V4(uint saddr, uint daddr, ushort sport, ushort dport) => new(false, saddr, daddr, 0, 0, sport, dport);
        public static CookieFlow V6(UInt128 saddr, UInt128 daddr, ushort sport, ushort dport) => new(true, 0, 0, saddr, daddr, sport, dport);

        /// <remarks>cookie_hash() of net/ipv4/syncookies.c or of net/ipv6/syncookies.c.</remarks>
        public uint Hash(NetNamespace net, uint count, int c)
        {
            if (!v6) return CookieHash(net, saddr, daddr, sport, dport, count, c);
            var s = net.TcpSecrets;
            ulong word = count | (ulong)sport << 32 | (ulong)dport << 48;
            return c == 0
                ? (uint)SecureSeq.SipHashV6Word(saddr6, daddr6, word, s.Cookie0K0, s.Cookie0K1)
                : (uint)SecureSeq.SipHashV6Word(saddr6, daddr6, word, s.Cookie1K0, s.Cookie1K1);
        }
    }

    private static uint CookieHash(NetNamespace net, uint saddr, uint daddr, ushort sport, ushort dport, uint count, int c)
    {
        var s = net.TcpSecrets;
        return c == 0
            ? (uint)SecureSeq.SipHash4u32(saddr, daddr, (uint)sport << 16 | dport, count, s.Cookie0K0, s.Cookie0K1)
            : (uint)SecureSeq.SipHash4u32(saddr, daddr, (uint)sport << 16 | dport, count, s.Cookie1K0, s.Cookie1K1);
    }

    /// <summary>
    /// HASH(secret0, 4-tuple) + sseq + (count &lt;&lt; 24) + ((HASH(secret1, 4-tuple, count) + data) mod 2^24),
    /// where sseq is the peer's ISN and data the MSS index.
    /// </summary>
    /// <remarks>Mirrors secure_tcp_syn_cookie().</remarks>
    internal static uint SecureTcpSynCookie(NetNamespace net, uint saddr, uint daddr, ushort sport, ushort dport, uint sseq, uint data) =>
        SecureTcpSynCookie(net, CookieFlow.V4(saddr, daddr, sport, dport), sseq, data);

    /// <remarks>Mirrors secure_tcp_syn_cookie() / secure_tcp_syn_cookie() of net/ipv6/syncookies.c.</remarks>
    internal static uint SecureTcpSynCookie(NetNamespace net, in CookieFlow f, uint sseq, uint data)
    {
        uint count = TcpCookieTime(net);
        return unchecked(f.Hash(net, 0, 0) + sseq + (count << CookieBits) + ((f.Hash(net, count, 1) + data) & CookieMask));
    }

    /// <summary>
    /// Peels the layers off a cookie: the data (MSS index) if its counter is less than
    /// MAX_SYNCOOKIE_AGE minutes old, else a value out of range ((uint)-1 for a stale one).
    /// </summary>
    /// <remarks>Mirrors check_tcp_syn_cookie().</remarks>
    internal static uint CheckTcpSynCookie(NetNamespace net, uint cookie, uint saddr, uint daddr, ushort sport, ushort dport, uint sseq) =>
        CheckTcpSynCookie(net, cookie, CookieFlow.V4(saddr, daddr, sport, dport), sseq);

    /// <remarks>Mirrors check_tcp_syn_cookie() (both families).</remarks>
    internal static uint CheckTcpSynCookie(NetNamespace net, uint cookie, in CookieFlow f, uint sseq)
    {
        uint count = TcpCookieTime(net);
        unchecked
        {
            cookie -= f.Hash(net, 0, 0) + sseq;
            // Now (count << 24) + (hash + data) mod 2^24.
            uint diff = (count - (cookie >> CookieBits)) & (uint.MaxValue >> CookieBits);
            if (diff >= MaxSyncookieAge) return uint.MaxValue;
            return (cookie - f.Hash(net, count - diff, 1)) & CookieMask;
        }
    }

    /// <summary>The cookie ISN for a SYN; <paramref name="mss"/> is rounded down to the table's value the cookie encodes.</summary>
    /// <remarks>Mirrors __cookie_v4_init_sequence() (cookie_v4_init_sequence() with the headers of the skb).</remarks>
    internal static uint CookieV4InitSequence(NetNamespace net, uint saddr, uint daddr, ushort sport, ushort dport, uint seq, ref ushort mss) =>
        CookieInitSequence(net, CookieFlow.V4(saddr, daddr, sport, dport), seq, ref mss);

    /// <remarks>Mirrors __cookie_v4_init_sequence() / __cookie_v6_init_sequence() (the same MSS table).</remarks>
    internal static uint CookieInitSequence(NetNamespace net, in CookieFlow f, uint seq, ref ushort mss)
    {
        var tab = Msstab;
        int mssind;
        for (mssind = tab.Length - 1; mssind > 0; mssind--)
            if (mss >= tab[mssind]) break;
        mss = tab[mssind];
        return SecureTcpSynCookie(net, f, seq, (uint)mssind);
    }

    /// <summary>The MSS an ACK's cookie encodes (its ack - 1 against its seq - 1), or 0 when it is not a valid cookie.</summary>
    /// <remarks>Mirrors __cookie_v4_check().</remarks>
    internal static int CookieV4CheckMss(NetNamespace net, uint saddr, uint daddr, ushort sport, ushort dport, uint seq, uint ackSeq) =>
        CookieCheckMss(net, CookieFlow.V4(saddr, daddr, sport, dport), seq, ackSeq);

    /// <remarks>Mirrors __cookie_v4_check() / __cookie_v6_check().</remarks>
    internal static int CookieCheckMss(NetNamespace net, in CookieFlow f, uint seq, uint ackSeq)
    {
        uint mssind = CheckTcpSynCookie(net, ackSeq - 1, f, seq - 1);
        return mssind < (uint)Msstab.Length ? Msstab[(int)mssind] : 0;
    }

    /// <summary>
    /// The TSval (before the connection's offset) of a cookie SYN-ACK: the clock in ms with its low
    /// 6 bits replaced by the options, never above the clock (later timestamps must not go back).
    /// </summary>
    /// <remarks>Mirrors cookie_init_timestamp().</remarks>
    internal static uint CookieInitTimestamp(TcpRequestSock req, long nowNs)
    {
        uint tsNow = unchecked((uint)(nowNs / Time.NsPerMs));
        uint options = req.WscaleOk ? req.SndWscale : TsOptWscaleMask;
        if (req.SackOk) options |= TsOptSack;
        if (req.EcnOk) options |= TsOptEcn;
        uint ts = (tsNow >> TsBits) << TsBits | options;
        if (ts > tsNow) ts -= 1u << TsBits;
        return ts;
    }

    /// <summary>
    /// Recovers SACK and window scaling from the echoed timestamp (the options of a peer that sent
    /// none are cleared). False when the echo asks for an option this host has since disabled.
    /// </summary>
    /// <remarks>Mirrors cookie_timestamp_decode().</remarks>
    internal static bool CookieTimestampDecode(NetNamespace net, ref TcpOptionsReceived opt)
    {
        uint options = opt.RcvTsecr;
        var sys = net.Ipv4.Sysctl;
        if (!opt.SawTstamp)
        {
            TcpClearOptions(ref opt);
            return true;
        }
        if (!sys.TcpTimestamps) return false;
        opt.SackOk = (options & TsOptSack) != 0;
        if (opt.SackOk && !sys.TcpSack) return false;
        if ((options & TsOptWscaleMask) == TsOptWscaleMask) return true; // no window scaling
        opt.WscaleOk = true;
        opt.SndWscale = (byte)(options & TsOptWscaleMask);
        return sys.TcpWindowScaling;
    }

    /// <summary>ECN survives a cookie only if this host still agrees to it.</summary>
    /// <remarks>Mirrors cookie_ecn_ok() (no per-route ECN feature here).</remarks>
    internal static bool CookieEcnOk(NetNamespace net) => net.Ipv4.Sysctl.TcpEcn != 0;

    /// <remarks>Mirrors tcp_clear_options().</remarks>
    internal static void TcpClearOptions(ref TcpOptionsReceived opt)
    {
        opt.TstampOk = opt.SackOk = false;
        opt.WscaleOk = false;
        opt.SndWscale = 0;
    }

    /// <summary>Remember (at most once a second) that the SYN queue overflowed: ACKs to the listener are checked as cookies for two minutes.</summary>
    /// <remarks>Mirrors tcp_synq_overflow() (the listener's rx_opt.ts_recent_stamp holds the time).</remarks>
    internal static void TcpSynqOverflow(TcpSock sk)
    {
        long now = sk.Net.NowNs;
        long last = sk.RxOpt.TsRecentStamp;
        if (last == 0 || now - last < 0 || now - last > Time.NsPerSec)
            sk.RxOpt.TsRecentStamp = now == 0 ? 1 : now; // 0 means "never overflowed"
    }

    /// <summary>No overflow in the last two minutes: an ACK to the listener cannot carry a cookie of ours.</summary>
    /// <remarks>Mirrors tcp_synq_no_recent_overflow().</remarks>
    internal static bool TcpSynqNoRecentOverflow(TcpSock sk)
    {
        long last = sk.RxOpt.TsRecentStamp;
        if (last == 0) return true;
        long age = sk.Net.NowNs - last;
        return age < 0 || age > TcpSyncookieValidNs;
    }

    /// <summary>The cookie ISN of a SYN: notes the overflow, counts the cookie, rounds the request's MSS to the encoded value.</summary>
    /// <remarks>Mirrors cookie_init_sequence() (include/net/tcp.h) -> cookie_v4_init_sequence().</remarks>
    internal static uint CookieInitSequence(TcpSock sk, SkBuff skb, TcpRequestSock req)
    {
        TcpSynqOverflow(sk);
        sk.Net.Mib.TcpExt[LinuxMib.SyncookiesSent]++;
        return CookieInitSequence(sk.Net, Flow(skb), TcpInput.TcpHdr(skb).Seq, ref req.Mss);
    }

    /// <summary>The segment's flow as the cookie hashes it: its IPv4 or IPv6 addresses and ports.</summary>
    private static CookieFlow Flow(SkBuff skb)
    {
        var th = TcpInput.TcpHdr(skb);
        if (skb.Protocol != EthP.IPV6) return CookieFlow.V4(skb.Saddr, skb.Daddr, th.SrcPort, th.DstPort);
        var ip6 = Ipv6Header.Create(skb.Buffer.AsSpan(skb.NetworkHeader, Ipv6Header.Length));
        return CookieFlow.V6(ip6.Source, ip6.Destination, th.SrcPort, th.DstPort);
    }

    /// <summary>
    /// Validates the cookie an ACK echoes: null when it is none of ours (not recently overflowed,
    /// a forged or stale cookie, options this host no longer allows); else the rebuilt request.
    /// </summary>
    /// <remarks>Mirrors cookie_tcp_check().</remarks>
    private static TcpRequestSock? CookieTcpCheck(NetNamespace net, TcpSock sk, SkBuff skb, TcpRequestSockOps ops)
    {
        if (TcpSynqNoRecentOverflow(sk)) return null;
        var th = TcpInput.TcpHdr(skb);
        int mss = CookieCheckMss(net, Flow(skb), th.Seq, th.AckSeq);
        if (mss == 0)
        {
            net.Mib.TcpExt[LinuxMib.SyncookiesFailed]++;
            return null;
        }
        net.Mib.TcpExt[LinuxMib.SyncookiesRecv]++;
        var tcpOpt = new TcpOptionsReceived();
        TcpInput.TcpParseOptions(net, th, ref tcpOpt, false, out _);
        uint tsoff = 0;
        if (tcpOpt.SawTstamp && tcpOpt.RcvTsecr != 0)
        {
            tsoff = CookieTsOff(net, skb);
            tcpOpt.RcvTsecr -= tsoff;
        }
        if (!CookieTimestampDecode(net, ref tcpOpt)) return null;
        return CookieTcpReqskAlloc(sk, skb, ref tcpOpt, mss, tsoff, ops);
    }

    /// <summary>The timestamp offset the SYN-ACK used: secure_tcp_ts_off() of the segment's addresses, reversed (tcp_v4_init_ts_off() / tcp_v6_init_ts_off()).</summary>
    private static uint CookieTsOff(NetNamespace net, SkBuff skb)
    {
        if (skb.Protocol != EthP.IPV6) return SecureSeq.SecureTcpTsOff(net, skb.Daddr, skb.Saddr);
        var ip6 = Ipv6Header.Create(skb.Buffer.AsSpan(skb.NetworkHeader, Ipv6Header.Length));
        return SecureSeq.SecureTcpv6TsOff(net, ip6.Destination, ip6.Source);
    }

    /// <summary>A request rebuilt from a valid cookie ACK: what the SYN had negotiated, as the cookie and the echoed timestamp tell.</summary>
    /// <remarks>Mirrors cookie_tcp_reqsk_alloc().</remarks>
    private static TcpRequestSock CookieTcpReqskAlloc(TcpSock sk, SkBuff skb, ref TcpOptionsReceived tcpOpt, int mss, uint tsoff, TcpRequestSockOps ops)
    {
        var th = TcpInput.TcpHdr(skb);
        var req = TcpMinisocks.InetReqskAlloc(sk);
        req.RskOps = ops;
        req.Mss = (ushort)mss;
        req.TsRecent = tcpOpt.SawTstamp ? tcpOpt.RcvTsval : 0;
        req.SndWscale = tcpOpt.SndWscale;
        req.TstampOk = tcpOpt.SawTstamp;
        req.SackOk = tcpOpt.SackOk;
        req.WscaleOk = tcpOpt.WscaleOk;
        req.EcnOk = (tcpOpt.RcvTsecr & TsOptEcn) != 0;
        req.TsOff = tsoff;
        req.RcvIsn = th.Seq - 1;
        req.SntIsn = th.AckSeq - 1;
        req.RcvNxt = th.Seq;
        req.Syncookie = true;
        req.IrNum = th.DstPort;
        req.IrRmtPort = th.SrcPort;
        // cookie_v4_check(): ireq_opt = tcp_v4_save_options(), from the ACK that carried the cookie;
        // cookie_v6_check(): ir_v6_rmt_addr / ir_v6_loc_addr, ir_iif for a link-local peer.
        ops.InitReq(req, sk, skb);
        return req;
    }

    /// <summary>
    /// An ACK (no SYN, no RST) to a listener that may carry a cookie: returns the listener when it
    /// does not (the listener then answers it, with a reset), null when it was consumed (dropped),
    /// or the new child socket, already in the accept queue.
    /// </summary>
    /// <remarks>Mirrors cookie_v4_check().</remarks>
    internal static TcpSock? CookieV4Check(TcpSock sk, SkBuff skb) => CookieCheck(sk, skb, TcpIpv4.TcpRequestSockOpsV4);

    /// <summary>The ACK of a cookie SYN-ACK on an AF_INET6 listener (tcp_v6_cookie_check()).</summary>
    /// <remarks>Mirrors cookie_v6_check().</remarks>
    internal static TcpSock? CookieV6Check(TcpSock sk, SkBuff skb) => CookieCheck(sk, skb, Ipv6.TcpIpv6.TcpRequestSockOpsV6);

    /// <remarks>Mirrors cookie_v4_check() / cookie_v6_check(): the network layer's parts through <paramref name="ops"/>.</remarks>
    private static TcpSock? CookieCheck(TcpSock sk, SkBuff skb, TcpRequestSockOps ops)
    {
        var net = sk.Net;
        var th = TcpInput.TcpHdr(skb);
        if (net.Ipv4.Sysctl.TcpSyncookies == 0 || !th.Ack || th.Rst) return sk;
        var req = CookieTcpCheck(net, sk, skb, ops);
        if (req is null) return sk;
        // Redo what the SYN-ACK did: the route gives the window.
        if (ops.RouteReq(sk, req) < 0)
        {
            net.KfreeSkbReason(skb, SkbDropReason.IpOutNoRoute);
            return null;
        }
        req.RskWindowClamp = sk.WindowClamp;
        int fullSpace = TcpOutput.TcpFullSpace(sk);
        if ((sk.UserLocks & Sock.SockRcvbufLock) != 0 && (req.RskWindowClamp > fullSpace || req.RskWindowClamp == 0))
            req.RskWindowClamp = (uint)fullSpace;
        TcpOutput.TcpSelectInitialWindow(sk, fullSpace, req.Mss, out req.RskRcvWnd, ref req.RskWindowClamp, req.WscaleOk, out var rcvWscale);
        req.RcvWscale = rcvWscale;
        req.EcnOk &= CookieEcnOk(net);
        var ret = TcpGetCookieSock(sk, skb, req);
        if (ret is null)
        {
            net.KfreeSkbReason(skb, SkbDropReason.TcpListenOverflow);
            return null;
        }
        return ret;
    }

    /// <summary>Creates the child of a cookie request and queues it for accept(); null when the accept queue is full (counted there).</summary>
    /// <remarks>Mirrors tcp_get_cookie_sock().</remarks>
    private static TcpSock? TcpGetCookieSock(TcpSock sk, SkBuff skb, TcpRequestSock req)
    {
        var child = sk.IcskAfOps.SynRecvSock(sk, skb, req);
        if (child is null) return null;
        return InetConnectionSock.InetCskReqskQueueAdd(sk, req, child);
    }

    /// <summary>
    /// The SYN queue is full (or tcp_syncookies = 2): cookies if allowed, counted either way, and the
    /// "Possible SYN flooding" line once per listener (not in mode 2, where cookies are the rule).
    /// </summary>
    /// <remarks>Mirrors tcp_syn_flood_action() (net/ipv4/tcp_input.c).</remarks>
    internal static bool TcpSynFloodAction(TcpSock sk, string proto)
    {
        var queue = sk.AcceptQueue;
        var net = sk.Net;
        int syncookies = net.Ipv4.Sysctl.TcpSyncookies;
        string msg = "Dropping request";
        bool wantCookie = false;
        if (syncookies != 0)
        {
            msg = "Sending cookies";
            wantCookie = true;
            net.Mib.TcpExt[LinuxMib.TCPReqQFullDoCookies]++;
        }
        else
        {
            net.Mib.TcpExt[LinuxMib.TCPReqQFullDrop]++;
        }
        if (!queue.SynfloodWarned && syncookies != 2)
        {
            queue.SynfloodWarned = true;
            // net_info_ratelimited() with pr_fmt "TCP: ".
            if (net.Log.NetRatelimit())
                net.Log.Printk($"TCP: {proto}: Possible SYN flooding on port {Ipv4Address.Format(sk.InetRcvSaddr)}:{sk.InetNum}. {msg}.");
        }
        return wantCookie;
    }
}
