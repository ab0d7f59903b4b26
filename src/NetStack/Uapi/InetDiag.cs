using System.Runtime.InteropServices;

namespace NetStack.Uapi;

/// <summary>
/// The inet_diag attribute numbers a congestion control's <c>get_info</c> answers with, and the
/// bits of a request's <c>idiag_ext</c> that ask for them (include/uapi/linux/inet_diag.h).
/// </summary>
public static class InetDiag
{
    /// <summary>INET_DIAG_INFO: struct tcp_info.</summary>
    public const int INET_DIAG_INFO = 2;
    /// <summary>INET_DIAG_VEGASINFO: struct tcpvegas_info; ss asks for it with -i, and BBR and DCTCP answer it too (idiag_ext is a byte: their own bits do not fit).</summary>
    public const int INET_DIAG_VEGASINFO = 3;
    /// <summary>INET_DIAG_CONG: the congestion control's name.</summary>
    public const int INET_DIAG_CONG = 4;
    /// <summary>INET_DIAG_DCTCPINFO: struct tcp_dctcp_info.</summary>
    public const int INET_DIAG_DCTCPINFO = 9;
    /// <summary>INET_DIAG_BBRINFO: struct tcp_bbr_info.</summary>
    public const int INET_DIAG_BBRINFO = 16;

    /// <summary>The idiag_ext bits `ss -i` sets (tcp_show()): INET_DIAG_INFO, INET_DIAG_VEGASINFO and INET_DIAG_CONG.</summary>
    public const uint SsInfoExt = (1u << (INET_DIAG_INFO - 1)) | (1u << (INET_DIAG_VEGASINFO - 1)) | (1u << (INET_DIAG_CONG - 1));
}

/// <summary>TCP Vegas's report (struct tcpvegas_info), the union's first member; no algorithm here fills it.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct TcpVegasInfo
{
    /// <summary>tcpv_enabled.</summary>
    public uint TcpvEnabled;
    /// <summary>tcpv_rttcnt.</summary>
    public uint TcpvRttcnt;
    /// <summary>tcpv_rtt (usec).</summary>
    public uint TcpvRtt;
    /// <summary>tcpv_minrtt (usec).</summary>
    public uint TcpvMinrtt;
}

/// <summary>DCTCP's report (struct tcp_dctcp_info, 16 bytes), INET_DIAG_DCTCPINFO.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct TcpDctcpInfo
{
    /// <summary>dctcp_enabled: 1, or 0 once the connection fell back to Reno (the peer declined ECN).</summary>
    public ushort DctcpEnabled;
    /// <summary>dctcp_ce_state: the CE state of the last packet received (1: CE).</summary>
    public ushort DctcpCeState;
    /// <summary>dctcp_alpha: the EWMA of the marked fraction, of 1024.</summary>
    public uint DctcpAlpha;
    /// <summary>dctcp_ab_ecn: bytes acknowledged with ECE in the current observation window (mss * packets).</summary>
    public uint DctcpAbEcn;
    /// <summary>dctcp_ab_tot: bytes acknowledged in the current observation window (mss * packets).</summary>
    public uint DctcpAbTot;
}

/// <summary>BBR's report (struct tcp_bbr_info, 20 bytes), INET_DIAG_BBRINFO.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct TcpBbrInfo
{
    /// <summary>bbr_bw_lo: the lower 32 bits of the bandwidth estimate, in bytes per second.</summary>
    public uint BbrBwLo;
    /// <summary>bbr_bw_hi: the upper 32 bits of the bandwidth estimate.</summary>
    public uint BbrBwHi;
    /// <summary>bbr_min_rtt: the windowed minimum RTT (usec).</summary>
    public uint BbrMinRtt;
    /// <summary>bbr_pacing_gain: the pacing gain, fixed point &lt;&lt; 8.</summary>
    public uint BbrPacingGain;
    /// <summary>bbr_cwnd_gain: the cwnd gain, fixed point &lt;&lt; 8.</summary>
    public uint BbrCwndGain;
}

/// <summary>
/// What a congestion control reports of a socket (union tcp_cc_info, 20 bytes): the payload of the
/// inet_diag attribute its get_info names, and what getsockopt(TCP_CC_INFO) copies, in the host's
/// byte order as in Linux.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = Size)]
public struct TcpCcInfo
{
    /// <summary>sizeof(union tcp_cc_info).</summary>
    public const int Size = 20;
    /// <summary>Vegas's member.</summary>
    [FieldOffset(0)] public TcpVegasInfo Vegas;
    /// <summary>DCTCP's member.</summary>
    [FieldOffset(0)] public TcpDctcpInfo Dctcp;
    /// <summary>BBR's member.</summary>
    [FieldOffset(0)] public TcpBbrInfo Bbr;

    /// <summary>The union's bytes (all <see cref="Size"/> of them).</summary>
    public static Span<byte> AsBytes(ref TcpCcInfo info) => MemoryMarshal.AsBytes(new Span<TcpCcInfo>(ref info));
}
