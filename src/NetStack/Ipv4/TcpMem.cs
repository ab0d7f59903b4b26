using NetStack.Core;

namespace NetStack.Ipv4;

/// <summary>
/// TCP's stack-wide memory account (tcp_memory_allocated, tcp_sockets_allocated,
/// tcp_memory_pressure against net.ipv4.tcp_mem) and the out-of-resources checks that use it with
/// tcp_max_orphans. Reached as <c>net.Ipv4.TcpMem</c>; every TCP sock points at it
/// (<see cref="Sock.MemAccount"/>).
/// </summary>
/// <remarks>Mirrors net/ipv4/tcp.c: tcp_memory_allocated, tcp_enter_memory_pressure(),
/// tcp_leave_memory_pressure(), tcp_init_mem(), tcp_check_oom(); include/net/tcp.h:
/// tcp_too_many_orphans(), tcp_out_of_memory(), tcp_under_memory_pressure().</remarks>
public sealed class TcpMemory : ProtoMemory
{
    private readonly NetNamespace _net;

    internal TcpMemory(NetNamespace net) => _net = net;

    private Ipv4Sysctl Sysctl => _net.Ipv4.Sysctl;

    /// <inheritdoc/>
    public override long MemLimit(int index) => index switch
    {
        0 => Sysctl.TcpMemMin,
        1 => Sysctl.TcpMemPressure,
        _ => Sysctl.TcpMemMax,
    };

    /// <inheritdoc/>
    public override int Rmem0(Sock sk) => Sysctl.TcpRmemMin;

    /// <inheritdoc/>
    public override int Wmem0(Sock sk) => Sysctl.TcpWmemMin;

    /// <summary>Pressure begins: remember when (in ms, never 0) and count TCPMemoryPressures.</summary>
    /// <remarks>Mirrors tcp_enter_memory_pressure().</remarks>
    public override void EnterMemoryPressure(Sock sk)
    {
        if (MemoryPressure != 0) return;
        long val = _net.NowNs / Time.NsPerMs;
        if (val == 0) val--;
        MemoryPressure = val;
        _net.Mib.TcpExt[LinuxMib.TCPMemoryPressures]++;
    }

    /// <summary>Pressure ends: add its length in ms to TCPMemoryPressuresChrono.</summary>
    /// <remarks>Mirrors tcp_leave_memory_pressure().</remarks>
    public override void LeaveMemoryPressure(Sock sk)
    {
        long val = MemoryPressure;
        if (val == 0) return;
        MemoryPressure = 0;
        _net.Mib.TcpExt[LinuxMib.TCPMemoryPressuresChrono] += _net.NowNs / Time.NsPerMs - val;
    }

    /// <summary>tcp_mem's defaults for a host with <paramref name="nrFreeBufferPages"/> free buffer pages: 3/64, 1/16 and 6/64 of them.</summary>
    /// <remarks>Mirrors tcp_init_mem().</remarks>
    internal static (long Min, long Pressure, long Max) TcpInitMem(long nrFreeBufferPages)
    {
        long limit = Math.Max(nrFreeBufferPages / 16, 128);
        long min = limit / 4 * 3;  // 4.68 %
        return (min, limit, min * 2); // 6.25 %, 9.37 %
    }

    /// <summary>More orphans than tcp_max_orphans allows, the count weighed by 2^<paramref name="shift"/> for a dubious connection.</summary>
    /// <remarks>Mirrors tcp_too_many_orphans() (the exact count; Linux reads a cache refreshed every 100 ms).</remarks>
    internal static bool TcpTooManyOrphans(NetNamespace net, int shift) =>
        (long)net.Ipv4.TcpOrphanCount << shift > net.Ipv4.Sysctl.TcpMaxOrphans;

    /// <summary>The socket holds more than a minimal send buffer while TCP is over tcp_mem's hard limit.</summary>
    /// <remarks>Mirrors tcp_out_of_memory().</remarks>
    internal static bool TcpOutOfMemory(TcpSock tp) =>
        tp.WmemQueued > Sock.SockMinSndbuf && tp.Net.Ipv4.TcpMem.MemoryAllocated > tp.Net.Ipv4.TcpMem.MemLimit(2);

    /// <summary>Too many orphans or out of socket memory: the caller resets the connection. Each cause is logged, rate-limited.</summary>
    /// <remarks>Mirrors tcp_check_oom() (net_info_ratelimited() with pr_fmt "TCP: ").</remarks>
    internal static bool TcpCheckOom(TcpSock tp, int shift)
    {
        var net = tp.Net;
        bool tooManyOrphans = TcpTooManyOrphans(net, shift);
        bool outOfSocketMemory = TcpOutOfMemory(tp);
        if (tooManyOrphans && net.Log.NetRatelimit()) net.Log.Printk("TCP: too many orphaned sockets");
        if (outOfSocketMemory && net.Log.NetRatelimit()) net.Log.Printk("TCP: out of memory -- consider tuning tcp_mem");
        return tooManyOrphans || outOfSocketMemory;
    }

    /// <remarks>Mirrors tcp_under_memory_pressure() (no memcg).</remarks>
    internal static bool TcpUnderMemoryPressure(TcpSock tp) => tp.Net.Ipv4.TcpMem.MemoryPressure != 0;

    /// <summary>
    /// Under pressure and the window fills: keep rcv_ssthresh (how far the offered window may grow)
    /// at four segments, so that the peer slows down before data has to be dropped.
    /// </summary>
    /// <remarks>Mirrors tcp_adjust_rcv_ssthresh() -> __tcp_adjust_rcv_ssthresh() (no reserved memory).</remarks>
    internal static void TcpAdjustRcvSsthresh(TcpSock tp) =>
        tp.RcvSsthresh = Math.Min(tp.RcvSsthresh, 4u * (uint)tp.Advmss);
}
