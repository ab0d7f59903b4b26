using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace NetStack.Wire;

/// <summary>
/// The Internet checksum (RFC 1071) and the IPv4 and IPv6 pseudo-headers.
/// <remarks>Mirrors include/net/checksum.h: csum_partial, csum_fold, csum_tcpudp_magic.</remarks>
/// </summary>
internal static class Checksum
{
    /// <summary>Adds the 16-bit big-endian words of <paramref name="data"/> to <paramref name="sum"/> (unfolded, 64-bit accumulator).</summary>
    public static ulong Partial(ReadOnlySpan<byte> data, ulong sum = 0)
    {
        int i = 0;
        if (data.Length >= VectorMin && Vector256.IsHardwareAccelerated && BitConverter.IsLittleEndian)
        {
            i = data.Length & ~31;
            sum += SumBlocks(data[..i]);
        }
        // Sum 32-bit big-endian words into a 64-bit accumulator: carries are folded at the end.
        var words = MemoryMarshal.Cast<byte, uint>(data[i..(i + ((data.Length - i) & ~3))]);
        foreach (var w in words)
            sum += BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(w) : w;
        i += words.Length * 4;
        if (data.Length - i >= 2)
        {
            sum += (ulong)BinaryPrimitives.ReadUInt16BigEndian(data[i..]) << 16;
            i += 2;
        }
        if (i < data.Length) sum += (ulong)data[i] << (i % 4 == 0 ? 24 : 8);
        return sum;
    }

    /// <summary>Below this many bytes the scalar loop is as fast as setting up the vectors.</summary>
    private const int VectorMin = 64;

    /// <summary>
    /// The sum of whole 32-byte blocks, folded to 16 bits in network order (not complemented).
    /// Vectors of native (little-endian) 32-bit words are widened into 64-bit lanes, so no carry is
    /// lost and no byte is swapped per word; the one's complement sum does not depend on byte order
    /// (RFC 1071, 2.B), so swapping the folded 16 bits once gives the big-endian sum. As the
    /// kernel's x86 csum_partial, which adds native words with carry and leaves order to the fold.
    /// </summary>
    private static ulong SumBlocks(ReadOnlySpan<byte> blocks)
    {
        ref byte start = ref MemoryMarshal.GetReference(blocks);
        Vector256<ulong> acc0 = Vector256<ulong>.Zero, acc1 = Vector256<ulong>.Zero;
        Vector256<ulong> acc2 = Vector256<ulong>.Zero, acc3 = Vector256<ulong>.Zero;
        nuint n = (nuint)blocks.Length, off = 0;
        // Two blocks per turn with four accumulators: the adds of one block do not wait on the other's.
        for (; off + 64 <= n; off += 64)
        {
            var (lo0, hi0) = Vector256.Widen(Vector256.LoadUnsafe(ref start, off).AsUInt32());
            var (lo1, hi1) = Vector256.Widen(Vector256.LoadUnsafe(ref start, off + 32).AsUInt32());
            acc0 += lo0; acc1 += hi0; acc2 += lo1; acc3 += hi1;
        }
        if (off < n)
        {
            var (lo, hi) = Vector256.Widen(Vector256.LoadUnsafe(ref start, off).AsUInt32());
            acc0 += lo; acc1 += hi;
        }
        // At most 2^29 words of 2^32 each in a span: the 64-bit lanes cannot overflow.
        ulong native = Vector256.Sum(acc0 + acc1 + acc2 + acc3);
        native = (native & 0xFFFFFFFF) + (native >> 32);
        native = (native & 0xFFFFFFFF) + (native >> 32);
        uint s = (uint)native;
        s = (s & 0xFFFF) + (s >> 16);
        s = (s & 0xFFFF) + (s >> 16);
        return BinaryPrimitives.ReverseEndianness((ushort)s);
    }

    /// <summary>Folds the accumulator to 16 bits and complements it (csum_fold).</summary>
    public static ushort Fold(ulong sum)
    {
        sum = (sum & 0xFFFFFFFF) + (sum >> 32);
        sum = (sum & 0xFFFFFFFF) + (sum >> 32);
        uint s = (uint)sum;
        s = (s & 0xFFFF) + (s >> 16);
        s = (s & 0xFFFF) + (s >> 16);
        return (ushort)~s;
    }

    /// <summary>The checksum of a buffer alone (IP header, ICMP message).</summary>
    public static ushort Compute(ReadOnlySpan<byte> data) => Fold(Partial(data));

    /// <summary>The unfolded sum of the IPv4 pseudo-header (csum_tcpudp_nofold).</summary>
    public static ulong PseudoHeader(uint saddr, uint daddr, byte protocol, int length) =>
        (ulong)saddr + daddr + protocol + (uint)length;

    /// <summary>
    /// The unfolded sum of the IPv6 pseudo-header (RFC 8200 8.1): both addresses, the upper-layer
    /// length as 32 bits and the next header as 32 bits.
    /// </summary>
    /// <remarks>Mirrors csum_ipv6_magic() before its fold.</remarks>
    public static ulong PseudoHeaderV6(UInt128 saddr, UInt128 daddr, byte nexthdr, int length)
    {
        ulong s = 0;
        for (int shift = 0; shift < 128; shift += 32)
            s += (ulong)(uint)(saddr >> shift) + (uint)(daddr >> shift);
        return s + (uint)length + nexthdr;
    }

    /// <summary>TCP/UDP/ICMPv6 checksum over the IPv6 pseudo-header and the segment (csum_ipv6_magic).</summary>
    public static ushort TcpUdpV6(UInt128 saddr, UInt128 daddr, byte nexthdr, ReadOnlySpan<byte> segment) =>
        Fold(Partial(segment, PseudoHeaderV6(saddr, daddr, nexthdr, segment.Length)));

    /// <summary>TCP/UDP checksum over pseudo-header + segment (csum_tcpudp_magic).</summary>
    public static ushort TcpUdp(uint saddr, uint daddr, byte protocol, ReadOnlySpan<byte> segment) =>
        Fold(Partial(segment, PseudoHeader(saddr, daddr, protocol, segment.Length)));
}
