using System.Buffers.Binary;
using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using NetStack.Wire;

namespace NetStack.Benchmarks;

/// <summary>
/// The Internet checksum (RFC 1071) over a header, a full segment and a 64 KiB GSO super-frame:
/// what every received segment costs when the device does not verify it (no offloads).
/// </summary>
[MemoryDiagnoser]
public class ChecksumBenchmarks
{
    private byte[] _data = [];

    /// <summary>20: an IP header; 1480: a full TCP segment at MTU 1500; 65536: a GSO super-frame.</summary>
    [Params(20, 1480, 65536)]
    public int Length { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _data = new byte[Length];
        new Random(1).NextBytes(_data);
    }

    /// <summary>
    /// The baseline: 32-bit big-endian words into a 64-bit accumulator, one at a time (the stack's
    /// loop before the vector path, still used for the tails), so the ratio column shows the gain.
    /// </summary>
    [Benchmark(Baseline = true)]
    public ushort ScalarWords()
    {
        ulong sum = 0;
        foreach (uint w in MemoryMarshal.Cast<byte, uint>(_data.AsSpan(0, _data.Length & ~3)))
            sum += BinaryPrimitives.ReverseEndianness(w);
        return Checksum.Fold(sum);
    }

    /// <summary>ip_compute_csum(): the folded one's complement sum.</summary>
    [Benchmark]
    public ushort Compute() => Checksum.Compute(_data);

    /// <summary>tcp_v4_check(): the sum with the IPv4 pseudo-header, as the TCP and UDP receive paths verify.</summary>
    [Benchmark]
    public ushort WithPseudoHeader() => Checksum.TcpUdp(0x0a090001, 0x0a090002, 6, _data);
}
