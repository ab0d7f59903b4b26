using System.Runtime.InteropServices;
using NetStack.Uapi;

namespace NetStack.Api;

/// <summary>
/// BBR's model of the path, as its get_info reports it (struct tcp_bbr_info: INET_DIAG_BBRINFO for
/// `ss -i`, which prints it as <c>bbr:(bw:…bps,mrtt:…,pacing_gain:…,cwnd_gain:…)</c>, and
/// getsockopt(TCP_CC_INFO)).
/// </summary>
/// <param name="Bandwidth">The bandwidth estimate (bbr_bw()), in bytes per second (bbr_bw_hi:bbr_bw_lo).</param>
/// <param name="MinRtt">The windowed minimum RTT (bbr_min_rtt, exact from its microseconds); 4294.967295 s (~0 us) before the first sample, as in Linux.</param>
/// <param name="PacingGain">The pacing gain (bbr_pacing_gain / 256): 2.88672 in STARTUP, 0.34375 in DRAIN, 1.25, 0.75 or 1 in PROBE_BW.</param>
/// <param name="CwndGain">The cwnd gain (bbr_cwnd_gain / 256).</param>
public readonly record struct BbrInfo(ulong Bandwidth, TimeSpan MinRtt, double PacingGain, double CwndGain)
{
    /// <summary>Decodes struct tcp_bbr_info's bytes (host order, as Linux copies them); missing trailing fields read as 0, as ss reads a short attribute.</summary>
    /// <param name="bytes">What getsockopt(TCP_CC_INFO) returned for a BBR socket, or an INET_DIAG_BBRINFO payload.</param>
    public static BbrInfo Parse(ReadOnlySpan<byte> bytes) => From(CcInfoBytes.Read<TcpBbrInfo>(bytes));

    internal static BbrInfo From(in TcpBbrInfo i) =>
        new(((ulong)i.BbrBwHi << 32) | i.BbrBwLo, TimeSpan.FromTicks(i.BbrMinRtt * 10L), i.BbrPacingGain / 256.0, i.BbrCwndGain / 256.0);
}

/// <summary>
/// DCTCP's state, as its get_info reports it (struct tcp_dctcp_info: INET_DIAG_DCTCPINFO for `ss -i`,
/// which prints it as <c>dctcp:(ce_state:…,alpha:…,ab_ecn:…,ab_tot:…)</c> or
/// <c>dctcp:fallback_mode</c>, and getsockopt(TCP_CC_INFO)).
/// </summary>
/// <param name="Enabled">dctcp_enabled: false once the connection fell back to Reno ("dctcp-reno": the peer declined ECN); the other fields are then 0.</param>
/// <param name="CeState">dctcp_ce_state: the CE state of the last packet received (1: marked).</param>
/// <param name="Alpha">dctcp_alpha: the EWMA of the fraction of marked packets, of 1024.</param>
/// <param name="AckedBytesEcn">dctcp_ab_ecn: bytes acknowledged with ECE in the current observation window (mss times packets).</param>
/// <param name="AckedBytesTotal">dctcp_ab_tot: bytes acknowledged in the current observation window (mss times packets).</param>
public readonly record struct DctcpInfo(bool Enabled, int CeState, uint Alpha, uint AckedBytesEcn, uint AckedBytesTotal)
{
    /// <summary>Decodes struct tcp_dctcp_info's bytes (host order, as Linux copies them); missing trailing fields read as 0.</summary>
    /// <param name="bytes">What getsockopt(TCP_CC_INFO) returned for a DCTCP socket, or an INET_DIAG_DCTCPINFO payload.</param>
    public static DctcpInfo Parse(ReadOnlySpan<byte> bytes) => From(CcInfoBytes.Read<TcpDctcpInfo>(bytes));

    internal static DctcpInfo From(in TcpDctcpInfo i) => new(i.DctcpEnabled != 0, i.DctcpCeState, i.DctcpAlpha, i.DctcpAbEcn, i.DctcpAbTot);
}

/// <summary>Reading a member of union tcp_cc_info from bytes.</summary>
internal static class CcInfoBytes
{
    /// <summary>The struct from the first bytes of <paramref name="bytes"/>, zero-filled past their end (ss's calloc + memcpy of min(payload, sizeof)).</summary>
    public static T Read<T>(ReadOnlySpan<byte> bytes) where T : unmanaged
    {
        T v = default;
        var dst = MemoryMarshal.AsBytes(new Span<T>(ref v));
        bytes[..Math.Min(bytes.Length, dst.Length)].CopyTo(dst);
        return v;
    }
}
