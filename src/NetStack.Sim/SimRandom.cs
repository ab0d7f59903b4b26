namespace NetStack.Sim;

/// <summary>
/// The simulator's pseudo-random numbers: xoshiro256** (Blackman and Vigna) seeded through
/// SplitMix64, with its state here so a scenario and seed give the same stream on every run, .NET
/// version and machine (System.Random's algorithm is not a contract; Random.Shared is not seeded).
/// Each consumer (a link direction, a flow) gets its own stream from the seed and a stream number,
/// so adding a flow does not change the losses another link draws.
/// </summary>
public sealed class SimRandom
{
    private ulong _s0, _s1, _s2, _s3;

    /// <summary>The stream <paramref name="stream"/> of seed <paramref name="seed"/>.</summary>
    public SimRandom(ulong seed, ulong stream = 0)
    {
        ulong x = seed ^ (stream * 0xD1B54A32D192ED03UL);
        _s0 = SplitMix(ref x);
        _s1 = SplitMix(ref x);
        _s2 = SplitMix(ref x);
        _s3 = SplitMix(ref x);
        if ((_s0 | _s1 | _s2 | _s3) == 0) _s0 = 1;
    }

    private static ulong SplitMix(ref ulong x)
    {
        ulong z = x += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private static ulong Rotl(ulong x, int k) => (x << k) | (x >> (64 - k));

    /// <summary>The next 64 random bits.</summary>
    public ulong NextUInt64()
    {
        ulong result = Rotl(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = Rotl(_s3, 45);
        return result;
    }

    /// <summary>A double uniform in [0, 1), from the top 53 bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>True with probability <paramref name="p"/> (never for p &lt;= 0, always for p &gt;= 1).</summary>
    public bool Chance(double p) => p > 0 && (p >= 1 || NextDouble() < p);

    /// <summary>An exponentially distributed value with mean <paramref name="mean"/>.</summary>
    public double Exponential(double mean) => -mean * Math.Log(1.0 - NextDouble());
}
