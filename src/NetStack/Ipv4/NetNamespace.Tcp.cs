using System.Security.Cryptography;
using NetStack.Ipv4;

namespace NetStack.Core;

public sealed partial class NetNamespace
{
    /// <summary>net->ipv4.sysctl_tcp_*.</summary>
    public readonly TcpSysctl TcpSysctl = new();

    /// <summary>The TCP hash tables (tcp_hashinfo: ehash, lhash, bhash).</summary>
    public readonly InetHashinfo TcpHashinfo = new();

    /// <summary>The secret keys of this namespace for ISNs and timestamp offsets (net_secret, ts_secret) and port offsets.</summary>
    internal readonly TcpSecrets TcpSecrets = TcpSecrets.Create();

    /// <summary>The congestion control a new socket gets (net->ipv4.tcp_congestion_control).</summary>
    internal TcpCongestionOps? TcpCongestionControl;

    /// <summary>Sockets that are orphaned (closed by the user, still finishing): tcp_orphan_count.</summary>
    public int TcpOrphanCount;

    /// <summary>Challenge ACKs sent in the current one-second slot (RFC 5961, tcp_send_challenge_ack).</summary>
    internal long TcpChallengeTimestamp;
    internal int TcpChallengeCount;

    /// <summary>The ISN a SYN that reopens a TIME_WAIT 4-tuple must use (the kernel's per-CPU tcp_tw_isn).</summary>
    internal uint TcpTwIsn;
}

/// <summary>Random keys drawn once per namespace (net_secret_init / ts_secret_init).</summary>
internal sealed class TcpSecrets
{
    public ulong SeqK0, SeqK1, TsK0, TsK1, PortK0, PortK1;

    public static TcpSecrets Create()
    {
        Span<ulong> k = stackalloc ulong[6];
        RandomNumberGenerator.Fill(System.Runtime.InteropServices.MemoryMarshal.AsBytes(k));
        return new TcpSecrets { SeqK0 = k[0], SeqK1 = k[1], TsK0 = k[2], TsK1 = k[3], PortK0 = k[4], PortK1 = k[5] };
    }
}
