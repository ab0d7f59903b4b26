using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace NetStack.Wire;

/// <summary>
/// The Internet checksum (RFC 1071) and the IPv4 pseudo-header.
/// <remarks>Mirrors include/net/checksum.h: csum_partial, csum_fold, csum_tcpudp_magic.</remarks>
/// </summary>
internal static class Checksum
{
    /// <summary>Adds the 16-bit big-endian words of <paramref name="data"/> to <paramref name="sum"/> (unfolded, 64-bit accumulator).</summary>
    public static ulong Partial(ReadOnlySpan<byte> data, ulong sum = 0)
    {
        // Sum 32-bit big-endian words into a 64-bit accumulator: carries are folded at the end.
        int i = 0;
        var words = MemoryMarshal.Cast<byte, uint>(data[..(data.Length & ~3)]);
        foreach (var w in words)
            sum += BitConverter.IsLittleEndian ? BinaryPrimitives.ReverseEndianness(w) : w;
        i = words.Length * 4;
        if (data.Length - i >= 2)
        {
            sum += (ulong)BinaryPrimitives.ReadUInt16BigEndian(data[i..]) << 16;
            i += 2;
        }
        if (i < data.Length) sum += (ulong)data[i] << (i % 4 == 0 ? 24 : 8);
        return sum;
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

    /// <summary>TCP/UDP checksum over pseudo-header + segment (csum_tcpudp_magic).</summary>
    public static ushort TcpUdp(uint saddr, uint daddr, byte protocol, ReadOnlySpan<byte> segment) =>
        Fold(Partial(segment, PseudoHeader(saddr, daddr, protocol, segment.Length)));
}
