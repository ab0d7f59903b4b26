using NetStack.Core;
using NetStack.Wire;

namespace NetStack.Ipv4;

/// <summary>
/// ICMP output rate limiting: a global token bucket (icmp_msgs_per_sec, icmp_msgs_burst) and,
/// for the types in icmp_ratemask, one message per icmp_ratelimit per destination host.
/// <remarks>Mirrors net/ipv4/icmp.c: icmp_global_allow() and icmpv4_xrlim_allow() / inet_peer_xrlim_allow().</remarks>
/// </summary>
internal static class RateLimit
{
    /// <summary>XRLIM_BURST_FACTOR: a host may burst this many messages before the per-host limit bites.</summary>
    private const int XrlimBurstFactor = 6;

    public static bool Allow(NetNamespace net, byte type, uint daddr)
    {
        var st = net.IcmpRate;
        var p = net.Sysctl;
        long now = net.NowNs;
        // Only rate-limited types (icmp_ratemask) are subject to either limit, as in icmpv4_mask_allow().
        if (type > IcmpType.NrIcmpTypes || ((p.IcmpRatemask >> type) & 1) == 0) return true;

        // Global bucket.
        if (p.IcmpMsgsPerSec > 0)
        {
            long elapsed = now - st.GlobalStamp;
            if (elapsed > 0)
            {
                long add = elapsed * p.IcmpMsgsPerSec / Time.NsPerSec;
                if (add > 0)
                {
                    st.GlobalCredit = (int)Math.Min(p.IcmpMsgsBurst, st.GlobalCredit + add);
                    st.GlobalStamp = now;
                }
            }
            if (st.GlobalCredit <= 0)
            {
                net.Mib.Icmp[IcmpMib.OutRateLimitGlobal]++;
                return false;
            }
            st.GlobalCredit--;
        }

        // Per-host bucket: tokens are nanoseconds, one message costs icmp_ratelimit.
        long timeout = Time.Ms(p.IcmpRatelimitMs);
        if (timeout == 0) return true;
        if (!st.Peers.TryGetValue(daddr, out var peer))
        {
            if (st.Peers.Count > 4096) st.Peers.Clear(); // inet_peer GC, bluntly
            peer = new IcmpPeer { Tokens = XrlimBurstFactor * timeout, Stamp = now };
            st.Peers[daddr] = peer;
        }
        peer.Tokens = Math.Min(XrlimBurstFactor * timeout, peer.Tokens + (now - peer.Stamp));
        peer.Stamp = now;
        if (peer.Tokens >= timeout)
        {
            peer.Tokens -= timeout;
            return true;
        }
        net.Mib.Icmp[IcmpMib.OutRateLimitHost]++;
        return false;
    }
}

internal sealed class IcmpPeer
{
    public long Tokens;
    public long Stamp;
}

internal sealed class IcmpRateState
{
    public int GlobalCredit = 50;
    public long GlobalStamp;
    public readonly Dictionary<uint, IcmpPeer> Peers = new();
}
