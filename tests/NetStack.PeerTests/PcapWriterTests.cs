using System.Buffers.Binary;
using NetStack.Drivers;

namespace NetStack.PeerTests;

/// <summary>The pcap format byte by byte (no root needed), and capture without allocation.</summary>
public sealed class PcapWriterTests : IDisposable
{
    private readonly string _path = Path.Combine(Path.GetTempPath(), $"pcapwriter-{Environment.ProcessId}-{Guid.NewGuid():N}.pcap");

    public void Dispose() => File.Delete(_path);

    [Fact]
    public void WritesGlobalHeaderAndRecords_WithNanosecondWallClockTimestamps()
    {
        var frame1 = new byte[60];
        var frame2 = new byte[1514];
        new Random(7).NextBytes(frame1);
        new Random(8).NextBytes(frame2);
        long beforeNs = (DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100;
        using (var w = new PcapWriter(_path))
        {
            w.Capture(frame1);
            w.Capture(frame2);
            Assert.Equal(2, w.Frames);
        }
        long afterNs = (DateTime.UtcNow - DateTime.UnixEpoch).Ticks * 100;
        var b = File.ReadAllBytes(_path);

        Assert.Equal(24 + 16 + 60 + 16 + 1514, b.Length);
        // struct pcap_file_header, little-endian: magic (nanosecond), 2.4, thiszone 0, sigfigs 0, snaplen 65535, LINKTYPE_ETHERNET
        Assert.Equal(new byte[] { 0x4d, 0x3c, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0 }, b[..24]);
        int off = 24;
        foreach (var f in new[] { frame1, frame2 })
        {
            long ns = BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(off)) * 1_000_000_000L + BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(off + 4));
            Assert.InRange(ns, beforeNs - 1000, afterNs + 1000);
            Assert.InRange(BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(off + 4)), 0u, 999_999_999u);
            Assert.Equal((uint)f.Length, BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(off + 8)));  // incl_len
            Assert.Equal((uint)f.Length, BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(off + 12))); // orig_len
            Assert.Equal(f, b[(off + 16)..(off + 16 + f.Length)]);
            off += 16 + f.Length;
        }
    }

    [Fact]
    public void Flush_MakesEveryRecordVisibleToReaders()
    {
        using var w = new PcapWriter(_path);
        w.Capture(new byte[100]);
        w.Flush();
        using var reader = new FileStream(_path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        Assert.Equal(24 + 16 + 100, reader.Length);
    }

    [Fact]
    public void Capture_ManyFramesThroughBufferFlushes_AllocatesNothing()
    {
        using var w = new PcapWriter(_path, bufferSize: 1 << 17);
        var frame = new byte[1514];
        for (int i = 0; i < 200; i++) w.Capture(frame); // warm-up, including buffer flushes
        // Up to three measured rounds, one of which must allocate nothing: the runtime itself
        // allocated once (tiering/JIT work on this thread) while a loaded machine ran the suite.
        var rounds = new List<long>();
        for (int round = 0; round < 3; round++)
        {
            // A gen0 collection first closes this thread's allocation context: with one open, a collection
            // run by another thread moves the counter although this thread allocated nothing (NetStack.Tests' SteadyState).
            GC.Collect(0, GCCollectionMode.Forced, blocking: true);
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 5000; i++) w.Capture(frame); // ~58 buffer flushes
            rounds.Add(GC.GetAllocatedBytesForCurrentThread() - before);
            if (rounds[^1] == 0) break;
        }
        Assert.True(rounds[^1] == 0, $"allocated bytes per round: {string.Join(", ", rounds)}");
        w.Flush();
        Assert.Equal(24 + (200L + 5000L * rounds.Count) * (16 + 1514), new FileInfo(_path).Length);
    }
}
