using System.Numerics;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;

namespace NetStack.Core;

/// <summary>
/// Keyed hashes of a connection's addresses for initial sequence numbers (RFC 6528), timestamp
/// offsets and ephemeral port offsets, so an off-path attacker cannot predict them.
/// <remarks>Mirrors net/core/secure_seq.c: secure_tcp_seq(), secure_tcp_ts_off(),
/// secure_ipv4_port_ephemeral(), over lib/siphash.c: siphash_3u32().</remarks>
/// </summary>
internal static class SecureSeq
{
    /// <summary>
    /// ISN = F(addresses, secret) + M, where M is a clock ticking every 64 ns (RFC 6528 3: the
    /// clock part makes reused 4-tuples start above the old connection's sequence space).
    /// </summary>
    /// <remarks>Mirrors secure_tcp_seq() -> seq_scale().</remarks>
    public static uint SecureTcpSeq(NetNamespace net, uint saddr, uint daddr, ushort sport, ushort dport)
    {
        var s = net.TcpSecrets;
        uint hash = (uint)SipHash3u32(saddr, daddr, (uint)sport << 16 | dport, s.SeqK0, s.SeqK1);
        return unchecked(hash + (uint)(net.NowNs >> 6));
    }

    /// <summary>The per-connection random offset added to TCP timestamps (tcp_timestamps = 1).</summary>
    /// <remarks>Mirrors secure_tcp_ts_off().</remarks>
    public static uint SecureTcpTsOff(NetNamespace net, uint saddr, uint daddr)
    {
        var s = net.TcpSecrets;
        return (uint)SipHash3u32(saddr, daddr, 0, s.TsK0, s.TsK1);
    }

    /// <summary>Where the search for a free ephemeral port starts for a destination.</summary>
    /// <remarks>Mirrors secure_ipv4_port_ephemeral().</remarks>
    public static uint SecureIpv4PortEphemeral(NetNamespace net, uint saddr, uint daddr, ushort dport)
    {
        var s = net.TcpSecrets;
        return (uint)SipHash3u32(saddr, daddr, dport, s.PortK0, s.PortK1);
    }

    /// <summary>The ISN of an IPv6 connection: the keyed hash of both 16-byte addresses and the ports, plus the 64 ns clock.</summary>
    /// <remarks>Mirrors secure_tcpv6_seq() (siphash of struct { saddr, daddr, sport, dport }).</remarks>
    public static uint SecureTcpv6Seq(NetNamespace net, UInt128 saddr, UInt128 daddr, ushort sport, ushort dport)
    {
        var s = net.TcpSecrets;
        uint hash = (uint)SipHashV6(saddr, daddr, (uint)sport << 16 | dport, s.SeqK0, s.SeqK1);
        return unchecked(hash + (uint)(net.NowNs >> 6));
    }

    /// <summary>The timestamp offset of an IPv6 connection.</summary>
    /// <remarks>Mirrors secure_tcpv6_ts_off().</remarks>
    public static uint SecureTcpv6TsOff(NetNamespace net, UInt128 saddr, UInt128 daddr)
    {
        var s = net.TcpSecrets;
        return (uint)SipHashV6(saddr, daddr, 0, s.TsK0, s.TsK1);
    }

    /// <summary>Where the search for a free ephemeral port starts for an IPv6 destination.</summary>
    /// <remarks>Mirrors secure_ipv6_port_ephemeral().</remarks>
    public static uint SecureIpv6PortEphemeral(NetNamespace net, UInt128 saddr, UInt128 daddr, ushort dport)
    {
        var s = net.TcpSecrets;
        return (uint)SipHashV6(saddr, daddr, dport, s.PortK0, s.PortK1);
    }

    /// <summary>SipHash-2-4 of two IPv6 addresses and a 32-bit word (36 bytes: four 64-bit words and a 4-byte tail).</summary>
    /// <remarks>Mirrors lib/siphash.c: __siphash_aligned() over the 36 bytes secure_tcpv6_seq() hashes.</remarks>
    private static ulong SipHashV6(UInt128 saddr, UInt128 daddr, uint tail, ulong k0, ulong k1)
    {
        ulong v0 = 0x736f6d6570736575UL ^ k0;
        ulong v1 = 0x646f72616e646f6dUL ^ k1;
        ulong v2 = 0x6c7967656e657261UL ^ k0;
        ulong v3 = 0x7465646279746573UL ^ k1;
        Compress((ulong)(saddr >> 64), ref v0, ref v1, ref v2, ref v3);
        Compress((ulong)saddr, ref v0, ref v1, ref v2, ref v3);
        Compress((ulong)(daddr >> 64), ref v0, ref v1, ref v2, ref v3);
        Compress((ulong)daddr, ref v0, ref v1, ref v2, ref v3);
        Compress((36UL << 56) | tail, ref v0, ref v1, ref v2, ref v3);
        v2 ^= 0xff;
        Round(ref v0, ref v1, ref v2, ref v3); Round(ref v0, ref v1, ref v2, ref v3);
        Round(ref v0, ref v1, ref v2, ref v3); Round(ref v0, ref v1, ref v2, ref v3);
        return v0 ^ v1 ^ v2 ^ v3;
    }

    /// <summary>SipHash-2-4 of two IPv6 addresses and one more 64-bit word (40 bytes).</summary>
    /// <remarks>Mirrors lib/siphash.c: __siphash_aligned() over net/ipv6/syncookies.c cookie_hash()'s struct { saddr, daddr, count, sport, dport }.</remarks>
    public static ulong SipHashV6Word(UInt128 saddr, UInt128 daddr, ulong word, ulong k0, ulong k1)
    {
        ulong v0 = 0x736f6d6570736575UL ^ k0;
        ulong v1 = 0x646f72616e646f6dUL ^ k1;
        ulong v2 = 0x6c7967656e657261UL ^ k0;
        ulong v3 = 0x7465646279746573UL ^ k1;
        Compress((ulong)(saddr >> 64), ref v0, ref v1, ref v2, ref v3);
        Compress((ulong)saddr, ref v0, ref v1, ref v2, ref v3);
        Compress((ulong)(daddr >> 64), ref v0, ref v1, ref v2, ref v3);
        Compress((ulong)daddr, ref v0, ref v1, ref v2, ref v3);
        Compress(word, ref v0, ref v1, ref v2, ref v3);
        Compress(40UL << 56, ref v0, ref v1, ref v2, ref v3);
        v2 ^= 0xff;
        Round(ref v0, ref v1, ref v2, ref v3); Round(ref v0, ref v1, ref v2, ref v3);
        Round(ref v0, ref v1, ref v2, ref v3); Round(ref v0, ref v1, ref v2, ref v3);
        return v0 ^ v1 ^ v2 ^ v3;
    }

    private static void Compress(ulong m, ref ulong v0, ref ulong v1, ref ulong v2, ref ulong v3)
    {
        v3 ^= m; Round(ref v0, ref v1, ref v2, ref v3); Round(ref v0, ref v1, ref v2, ref v3); v0 ^= m;
    }

    /// <summary>SipHash-2-4 of one 64-bit word (8 bytes, little-endian).</summary>
    /// <remarks>Mirrors lib/siphash.c: siphash_1u64().</remarks>
    public static ulong SipHash1u64(ulong first, ulong k0, ulong k1)
    {
        ulong v0 = 0x736f6d6570736575UL ^ k0;
        ulong v1 = 0x646f72616e646f6dUL ^ k1;
        ulong v2 = 0x6c7967656e657261UL ^ k0;
        ulong v3 = 0x7465646279746573UL ^ k1;
        ulong b = 8UL << 56;
        v3 ^= first; Round(ref v0, ref v1, ref v2, ref v3); Round(ref v0, ref v1, ref v2, ref v3); v0 ^= first;
        v3 ^= b; Round(ref v0, ref v1, ref v2, ref v3); Round(ref v0, ref v1, ref v2, ref v3); v0 ^= b;
        v2 ^= 0xff;
        Round(ref v0, ref v1, ref v2, ref v3); Round(ref v0, ref v1, ref v2, ref v3);
        Round(ref v0, ref v1, ref v2, ref v3); Round(ref v0, ref v1, ref v2, ref v3);
        return v0 ^ v1 ^ v2 ^ v3;
    }

    /// <summary>SipHash-2-4 of four 64-bit words (32 bytes, each word read little-endian from memory).</summary>
    /// <remarks>Mirrors lib/siphash.c: siphash_4u64() (what siphash() of two IPv6 addresses computes).</remarks>
    public static ulong SipHash4u64(ulong first, ulong second, ulong third, ulong forth, ulong k0, ulong k1)
    {
        ulong v0 = 0x736f6d6570736575UL ^ k0;
        ulong v1 = 0x646f72616e646f6dUL ^ k1;
        ulong v2 = 0x6c7967656e657261UL ^ k0;
        ulong v3 = 0x7465646279746573UL ^ k1;
        Compress(first, ref v0, ref v1, ref v2, ref v3);
        Compress(second, ref v0, ref v1, ref v2, ref v3);
        Compress(third, ref v0, ref v1, ref v2, ref v3);
        Compress(forth, ref v0, ref v1, ref v2, ref v3);
        Compress(32UL << 56, ref v0, ref v1, ref v2, ref v3);
        v2 ^= 0xff;
        Round(ref v0, ref v1, ref v2, ref v3); Round(ref v0, ref v1, ref v2, ref v3);
        Round(ref v0, ref v1, ref v2, ref v3); Round(ref v0, ref v1, ref v2, ref v3);
        return v0 ^ v1 ^ v2 ^ v3;
    }

    /// <summary>SipHash-2-4 of three 32-bit words (12 bytes, little-endian as the kernel lays them out).</summary>
    /// <remarks>Mirrors lib/siphash.c: siphash_3u32().</remarks>
    public static ulong SipHash3u32(uint first, uint second, uint third, ulong k0, ulong k1)
    {
        ulong v0 = 0x736f6d6570736575UL ^ k0;
        ulong v1 = 0x646f72616e646f6dUL ^ k1;
        ulong v2 = 0x6c7967656e657261UL ^ k0;
        ulong v3 = 0x7465646279746573UL ^ k1;
        ulong b = 12UL << 56;
        ulong m = (ulong)second << 32 | first;
        v3 ^= m; Round(ref v0, ref v1, ref v2, ref v3); Round(ref v0, ref v1, ref v2, ref v3); v0 ^= m;
        b |= third;
        v3 ^= b; Round(ref v0, ref v1, ref v2, ref v3); Round(ref v0, ref v1, ref v2, ref v3); v0 ^= b;
        v2 ^= 0xff;
        Round(ref v0, ref v1, ref v2, ref v3); Round(ref v0, ref v1, ref v2, ref v3);
        Round(ref v0, ref v1, ref v2, ref v3); Round(ref v0, ref v1, ref v2, ref v3);
        return v0 ^ v1 ^ v2 ^ v3;
    }

    /// <summary>SipHash-2-4 of four 32-bit words (16 bytes: two little-endian 64-bit words).</summary>
    /// <remarks>Mirrors lib/siphash.c: siphash_4u32() -> siphash_2u64().</remarks>
    public static ulong SipHash4u32(uint first, uint second, uint third, uint forth, ulong k0, ulong k1)
    {
        ulong v0 = 0x736f6d6570736575UL ^ k0;
        ulong v1 = 0x646f72616e646f6dUL ^ k1;
        ulong v2 = 0x6c7967656e657261UL ^ k0;
        ulong v3 = 0x7465646279746573UL ^ k1;
        ulong b = 16UL << 56;
        ulong m = (ulong)second << 32 | first;
        v3 ^= m; Round(ref v0, ref v1, ref v2, ref v3); Round(ref v0, ref v1, ref v2, ref v3); v0 ^= m;
        m = (ulong)forth << 32 | third;
        v3 ^= m; Round(ref v0, ref v1, ref v2, ref v3); Round(ref v0, ref v1, ref v2, ref v3); v0 ^= m;
        v3 ^= b; Round(ref v0, ref v1, ref v2, ref v3); Round(ref v0, ref v1, ref v2, ref v3); v0 ^= b;
        v2 ^= 0xff;
        Round(ref v0, ref v1, ref v2, ref v3); Round(ref v0, ref v1, ref v2, ref v3);
        Round(ref v0, ref v1, ref v2, ref v3); Round(ref v0, ref v1, ref v2, ref v3);
        return v0 ^ v1 ^ v2 ^ v3;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Round(ref ulong v0, ref ulong v1, ref ulong v2, ref ulong v3)
    {
        v0 += v1; v1 = BitOperations.RotateLeft(v1, 13); v1 ^= v0; v0 = BitOperations.RotateLeft(v0, 32);
        v2 += v3; v3 = BitOperations.RotateLeft(v3, 16); v3 ^= v2;
        v0 += v3; v3 = BitOperations.RotateLeft(v3, 21); v3 ^= v0;
        v2 += v1; v1 = BitOperations.RotateLeft(v1, 17); v1 ^= v2; v2 = BitOperations.RotateLeft(v2, 32);
    }
}

/// <summary>Random keys drawn once per namespace (net_secret_init / ts_secret_init, and syncookies.c's syncookie_secret[2]).</summary>
internal sealed class TcpSecrets
{
    public ulong SeqK0, SeqK1, TsK0, TsK1, PortK0, PortK1;
    /// <summary>syncookie_secret[0] and [1]: the two siphash keys of cookie_hash().</summary>
    public ulong Cookie0K0, Cookie0K1, Cookie1K0, Cookie1K1;

    public static TcpSecrets Create()
    {
        Span<ulong> k = stackalloc ulong[10];
        RandomNumberGenerator.Fill(System.Runtime.InteropServices.MemoryMarshal.AsBytes(k));
        return new TcpSecrets
        {
            SeqK0 = k[0], SeqK1 = k[1], TsK0 = k[2], TsK1 = k[3], PortK0 = k[4], PortK1 = k[5],
            Cookie0K0 = k[6], Cookie0K1 = k[7], Cookie1K0 = k[8], Cookie1K1 = k[9],
        };
    }
}
