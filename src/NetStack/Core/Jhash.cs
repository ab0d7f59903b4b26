using System.Numerics;

namespace NetStack.Core;

/// <summary>
/// Bob Jenkins' lookup3 hash as the kernel uses it for its socket tables.
/// <remarks>Mirrors include/linux/jhash.h.</remarks>
/// </summary>
internal static class Jhash
{
    /// <summary>JHASH_INITVAL: an arbitrary start value.</summary>
    public const uint JhashInitval = 0xdeadbeef;

    /// <summary>Hashes three words with a seed.</summary>
    /// <remarks>Mirrors jhash_3words() -> __jhash_nwords() -> __jhash_final().</remarks>
    public static uint Jhash3Words(uint a, uint b, uint c, uint initval)
    {
        initval += JhashInitval + (3 << 2);
        a += initval;
        b += initval;
        c += initval;
        // __jhash_final()
        c ^= b; c -= BitOperations.RotateLeft(b, 14);
        a ^= c; a -= BitOperations.RotateLeft(c, 11);
        b ^= a; b -= BitOperations.RotateLeft(a, 25);
        c ^= b; c -= BitOperations.RotateLeft(b, 16);
        a ^= c; a -= BitOperations.RotateLeft(c, 4);
        b ^= a; b -= BitOperations.RotateLeft(a, 14);
        c ^= b; c -= BitOperations.RotateLeft(b, 24);
        return c;
    }

    /// <summary>Maps a 32-bit hash onto [0, epRo) with a multiply instead of a division.</summary>
    /// <remarks>Mirrors include/linux/math.h: reciprocal_scale().</remarks>
    public static uint ReciprocalScale(uint val, uint epRo) => (uint)(((ulong)val * epRo) >> 32);
}
