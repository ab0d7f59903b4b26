using NetStack.Core;
using NetStack.Wire;

namespace NetStack.Ipv4;

/// <summary>
/// ICMP output rate limiting, in two stages as __icmp_send() applies them: a global token bucket
/// (icmp_msgs_per_sec refilling up to icmp_msgs_burst) checked before the route lookup, then one
/// message per icmp_ratelimit per destination host (with a burst of XRLIM_BURST_FACTOR) once the
/// route is known. Only types in icmp_ratemask are limited, and never "fragmentation needed".
/// A global credit is spent only when the per-host limit lets the message go, as in
/// icmp_global_consume(); Linux spends a random 0..2 credits to hide the exact rate, this stack
/// spends 1 (the mean) so tests are deterministic.
/// <remarks>Mirrors net/ipv4/icmp.c: icmpv4_mask_allow(), icmpv4_global_allow(), icmp_global_allow(),
/// icmpv4_xrlim_allow(), icmp_global_consume(), and net/ipv4/inetpeer.c: inet_peer_xrlim_allow().</remarks>
/// </summary>
internal static class RateLimit
{
    /// <summary>XRLIM_BURST_FACTOR: a host may burst this many messages before the per-host limit bites.</summary>
    private const int XrlimBurstFactor = 6;

    /// <remarks>Mirrors icmpv4_mask_allow(): true when the type is not rate limited at all.</remarks>
    public static bool Icmpv4MaskAllow(NetNamespace net, byte type, byte code)
    {
        if (type > IcmpType.NrIcmpTypes) return true;
        if (type == IcmpType.DestUnreach && code == IcmpType.FragNeeded) return true; // never limit PMTU discovery
        return ((net.Ipv4.Sysctl.IcmpRatemask >> type) & 1) == 0;
    }

    /// <summary>
    /// The global stage. <paramref name="applyRatelimit"/> tells <see cref="Icmpv4XrlimAllow"/> whether
    /// the per-host stage applies (only to masked types that passed here).
    /// </summary>
    /// <remarks>Mirrors icmpv4_global_allow(): counts OutRateLimitGlobal when it refuses.</remarks>
    public static bool Icmpv4GlobalAllow(NetNamespace net, byte type, byte code, out bool applyRatelimit)
    {
        applyRatelimit = false;
        if (Icmpv4MaskAllow(net, type, code)) return true;
        if (IcmpGlobalAllow(net))
        {
            applyRatelimit = true;
            return true;
        }
        net.Mib.Icmp[IcmpMib.OutRateLimitGlobal]++;
        return false;
    }

    /// <summary>Credit left, or a refill due: at most once per 20 ms (HZ/50), by msgs_per_sec * elapsed (elapsed capped at 1 s).</summary>
    /// <remarks>Mirrors icmp_global_allow().</remarks>
    internal static bool IcmpGlobalAllow(NetNamespace net)
    {
        var st = net.Ipv4.IcmpRate;
        if (st.GlobalCredit > 0) return true;
        long now = net.NowNs;
        long delta = Math.Min(now - st.GlobalStamp, Time.NsPerSec);
        if (delta < Time.NsPerSec / 50) return false;
        long incr = net.Ipv4.Sysctl.IcmpMsgsPerSec * delta / Time.NsPerSec;
        if (incr <= 0) return false;
        st.GlobalStamp = now;
        st.GlobalCredit = (int)Math.Min(st.GlobalCredit + incr, net.Ipv4.Sysctl.IcmpMsgsBurst);
        return true;
    }

    /// <summary>
    /// The per-host stage, after the route lookup: <paramref name="dev"/> is the output device.
    /// Counts OutRateLimitHost when it refuses; spends a global credit when it allows.
    /// </summary>
    /// <remarks>Mirrors icmpv4_xrlim_allow().</remarks>
    public static bool Icmpv4XrlimAllow(NetNamespace net, NetDevice dev, uint daddr, bool applyRatelimit)
    {
        if (!applyRatelimit) return true;
        bool rc = dev.NoArp /* no rate limit on loopback */ || InetPeerXrlimAllow(net, daddr);
        if (!rc) net.Mib.Icmp[IcmpMib.OutRateLimitHost]++;
        else net.Ipv4.IcmpRate.GlobalCredit--; // icmp_global_consume(): may go negative, as in Linux
        return rc;
    }

    /// <summary>The peer entry of <paramref name="daddr"/>, created on first use (allocates only then).</summary>
    /// <remarks>Mirrors net/ipv4/inetpeer.c: inet_getpeer_v4(create = 1).</remarks>
    public static IcmpPeer InetGetpeerV4(NetNamespace net, uint daddr)
    {
        var st = net.Ipv4.IcmpRate;
        if (!st.Peers.TryGetValue(daddr, out var peer))
        {
            if (st.Peers.Count >= 4096) st.Peers.Clear(); // inet_peer GC, bluntly
            // inet_getpeer(): rate_last = now - 60 s, so the first computation of tokens is at its maximum.
            peer = new IcmpPeer { Tokens = 0, Stamp = net.NowNs - Time.Sec(60) };
            st.Peers[daddr] = peer;
        }
        return peer;
    }

    /// <summary>Tokens are nanoseconds of credit: each message costs icmp_ratelimit; they accrue with time up to 6 messages' worth.</summary>
    /// <remarks>Mirrors inet_getpeer_v4() + inet_peer_xrlim_allow().</remarks>
    private static bool InetPeerXrlimAllow(NetNamespace net, uint daddr)
    {
        return InetPeerXrlimAllow(InetGetpeerV4(net, daddr), net.NowNs, Time.Ms(net.Ipv4.Sysctl.IcmpRatelimitMs));
    }

    /// <summary>The token bucket of one peer (shared by ICMP and ICMPv6): <paramref name="timeout"/> ns of credit per message.</summary>
    /// <remarks>Mirrors net/ipv4/inetpeer.c: inet_peer_xrlim_allow().</remarks>
    internal static bool InetPeerXrlimAllow(IcmpPeer peer, long now, long timeout)
    {
        long token = peer.Tokens;
        long delta = now - peer.Stamp;
        if (delta > 0)
        {
            peer.Stamp = now;
            token = Math.Min(token + delta, XrlimBurstFactor * timeout);
        }
        bool rc = false;
        if (token >= timeout)
        {
            token -= timeout;
            rc = true;
        }
        peer.Tokens = token;
        return rc;
    }
}

/// <summary>The rate-limit half of struct inet_peer: rate_tokens and rate_last (nanoseconds here, jiffies in Linux),
/// shared as in Linux by the ICMP per-host limit, ip_error()'s unreachables and ip_rt_send_redirect(), and n_redirects.</summary>
internal sealed class IcmpPeer
{
    public long Tokens;
    public long Stamp;
    public int NRedirects;
}

internal sealed class IcmpRateState
{
    /// <summary>net->ipv4.icmp_global_credit: starts empty with an old stamp, so the first message refills it to the burst.</summary>
    public int GlobalCredit;
    public long GlobalStamp = long.MinValue / 4; // "long ago", whatever the clock's origin
    public readonly Dictionary<uint, IcmpPeer> Peers = new();
}
