using System.Security.Cryptography;

namespace NetStack.Services;

/// <summary>
/// The deterministic content of the http service's <c>GET /bytes/N</c>: pseudo-random bytes (a
/// fixed xorshift sequence) repeating with a period of 65521 bytes. The period is prime, so no
/// segment size, window or buffer size divides it: a segment delivered at the wrong offset, twice,
/// or not at all changes the bytes and the hash. Sending needs no N-sized buffer: the service
/// sends slices of one table that holds a period and a spare 64 KiB.
/// </summary>
public static class BytesPattern
{
    public const int Period = 65521;
    /// <summary>The largest slice <see cref="Slice"/> returns.</summary>
    public const int MaxSlice = 65536;

    private static readonly byte[] Table = Build();

    private static byte[] Build()
    {
        var t = new byte[Period + MaxSlice];
        uint x = 0x9E3779B9;
        for (int i = 0; i < Period; i++)
        {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            t[i] = (byte)(x >> 24);
        }
        for (int i = Period; i < t.Length; i++) t[i] = t[i - Period];
        return t;
    }

    /// <summary>The pattern from stream offset <paramref name="offset"/>, at most <paramref name="max"/> (and <see cref="MaxSlice"/>) bytes.</summary>
    public static ReadOnlyMemory<byte> Slice(long offset, long max) =>
        Table.AsMemory((int)(offset % Period), (int)Math.Min(max, MaxSlice));

    /// <summary>Copies the pattern from <paramref name="offset"/> into <paramref name="dest"/>.</summary>
    public static void Fill(long offset, Span<byte> dest)
    {
        while (!dest.IsEmpty)
        {
            var s = Slice(offset, dest.Length).Span;
            s.CopyTo(dest);
            dest = dest[s.Length..];
            offset += s.Length;
        }
    }

    /// <summary>The lowercase hex SHA-256 of the first <paramref name="length"/> bytes of the pattern.</summary>
    public static string Sha256Hex(long length)
    {
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        for (long off = 0; off < length;)
        {
            var s = Slice(off, length - off).Span;
            h.AppendData(s);
            off += s.Length;
        }
        return Convert.ToHexStringLower(h.GetHashAndReset());
    }
}
