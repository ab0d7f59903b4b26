using System.Buffers.Binary;
using System.IO.Pipes;
using NetStack.Core;
using NetStack.Drivers;
using NetStack.Ipv4;

namespace NetStack.Tests.Capture;

/// <summary>Captures that attach to a running stack: taps added beside --pcap, a pcap stream to a pipe, a file readable while the stack runs.</summary>
public class LiveCaptureTests
{
    /// <summary>The pcap records in <paramref name="b"/> after the global header: each frame's bytes.</summary>
    private static List<byte[]> Records(byte[] b)
    {
        Assert.True(b.Length >= 24);
        Assert.Equal(PcapWriter.MagicNanoseconds, BinaryPrimitives.ReadUInt32LittleEndian(b));
        var frames = new List<byte[]>();
        for (int off = 24; off < b.Length;)
        {
            int incl = (int)BinaryPrimitives.ReadUInt32LittleEndian(b.AsSpan(off + 8));
            frames.Add(b[(off + 16)..(off + 16 + incl)]);
            off += 16 + incl;
        }
        return frames;
    }

    private sealed class Recorder : IPacketCapture
    {
        public readonly List<byte[]> Frames = new();
        public void Capture(ReadOnlySpan<byte> frame) => Frames.Add(frame.ToArray());
    }

    [Fact]
    public void Taps_AddedAndRemoved_SeeFramesBothWays_BesideTheCapture()
    {
        using var s = new TwoStacks();
        var primary = new Recorder();
        var tap = new Recorder();
        s.Link.A.Capture = primary;
        s.Link.A.AddCapture(tap);
        Ping(s);
        Assert.NotEmpty(tap.Frames);
        Assert.Equal(primary.Frames.Count, tap.Frames.Count); // the same frames: ARP and ICMP, out and in
        Assert.True(s.Link.A.RemoveCapture(tap));
        Assert.False(s.Link.A.RemoveCapture(tap));
        int seen = tap.Frames.Count;
        Ping(s);
        Assert.Equal(seen, tap.Frames.Count);
        Assert.True(primary.Frames.Count > seen);
    }

    [Fact]
    public async Task PcapStream_ToAPipe_CarriesTheFrames_FilteredAndLimited()
    {
        using var s = new TwoStacks();
        using var server = new AnonymousPipeServerStream(PipeDirection.In);
        using var client = new AnonymousPipeClientStream(PipeDirection.Out, server.ClientSafePipeHandle);
        var all = new Recorder();
        s.Link.A.AddCapture(all);
        // Only IPv4 frames (EtherType 0x0800: no ARP), at most 3.
        using var live = new PcapStream(client, f => f.Length >= 14 && f[12] == 0x08 && f[13] == 0x00, maxFrames: 3);
        s.Link.A.AddCapture(live);
        var read = Task.Run(() =>
        {
            var ms = new MemoryStream();
            server.CopyTo(ms);
            return ms.ToArray();
        });
        for (int i = 0; i < 3; i++) Ping(s); // 6 ICMP frames, and ARP
        await live.Completion.WaitAsync(TimeSpan.FromSeconds(10));
        client.Dispose(); // end of stream for the reader
        var frames = Records(await read.WaitAsync(TimeSpan.FromSeconds(10)));
        var ipv4 = all.Frames.Where(f => f[12] == 0x08 && f[13] == 0x00).Take(3).ToList();
        Assert.Equal(3, frames.Count);
        Assert.Equal(ipv4, frames);
        Assert.Equal(3, live.Frames);
        Assert.Equal(0, live.Dropped);
    }

    [Fact]
    public async Task PcapStream_ReaderGone_EndsTheCapture_WithoutDisturbingTheStack()
    {
        using var s = new TwoStacks();
        var server = new AnonymousPipeServerStream(PipeDirection.In);
        using var client = new AnonymousPipeClientStream(PipeDirection.Out, server.ClientSafePipeHandle);
        using var live = new PcapStream(client);
        s.Link.A.AddCapture(live);
        server.Dispose(); // the reader went away (EPIPE on the next write)
        for (int i = 0; i < 20 && !live.Completion.IsCompleted; i++)
        {
            Ping(s);
            await Task.WhenAny(live.Completion, Task.Delay(100));
        }
        await Assert.ThrowsAnyAsync<IOException>(() => live.Completion.WaitAsync(TimeSpan.FromSeconds(10)));
        Ping(s); // the stack goes on
    }

    [Fact]
    public async Task PcapWriter_FileIsReadableWhileTheStackIdles()
    {
        string path = Path.Combine(Path.GetTempPath(), $"live-{Environment.ProcessId}-{Guid.NewGuid():N}.pcap");
        try
        {
            using var s = new TwoStacks();
            using var w = new PcapWriter(path);
            s.Link.A.Capture = w;
            Ping(s);
            long frames = w.Frames;
            // No Flush: the writer's own timer writes what it holds within about a second.
            long expected = 24 + 0L;
            var deadline = DateTime.UtcNow.AddSeconds(15);
            while (DateTime.UtcNow < deadline)
            {
                using var r = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
                var b = new byte[r.Length];
                r.ReadExactly(b);
                if (b.Length > 24 && Records(b).Count == frames) { expected = b.Length; break; }
                await Task.Delay(100);
            }
            Assert.True(expected > 24, "the records never reached the file without Flush");
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>One ping from A to B through the stacks' sockets.</summary>
    private static void Ping(TwoStacks s)
    {
        using var p = NetStack.Api.NetSocket.Ping(s.A);
        var req = new byte[16];
        req[0] = 8; // echo request; the ping socket fills the identifier and the checksum
        p.SendTo(req, Ep.Of(TwoStacks.AddrB, 0));
        s.Pump();
    }
}
