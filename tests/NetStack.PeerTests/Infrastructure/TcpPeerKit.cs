using System.Globalization;
using System.Security.Cryptography;
using System.Text.RegularExpressions;

namespace NetStack.PeerTests;

/// <summary>How the link between the kernel and the stack is impaired in a TCP test.</summary>
public enum Impairment
{
    /// <summary>A clean TAP.</summary>
    None,
    /// <summary>The stack's own fault injector on its TAP, both directions: 5% loss, 2% reordering, 1% duplication.</summary>
    StackFaults,
    /// <summary>An nft rule in the namespace drops 5% of the kernel's segments to the stack.</summary>
    KernelDrop,
}

/// <summary>Helpers shared by the TCP real-peer tests: impaired peers, the Python peer script, hashing.</summary>
public static partial class TcpPeerKit
{
    public static string PeerScript => Path.Combine(AppContext.BaseDirectory, "scripts", "tcp_peer.py");

    /// <summary>The fault spec of <see cref="Impairment.StackFaults"/>.</summary>
    public static string FaultSpec(int seed) => $"loss=5%,reorder=2%,dup=1%,seed={seed}";

    /// <summary>
    /// A peer with the impairment in place. Bulk tests pass capture: false: a 100 MB transfer
    /// would make a capture file of the same size, slow to write and to dissect.
    /// </summary>
    public static TapPeer NewPeer(Impairment impairment, int seed = 7, bool capture = false)
    {
        var peer = new TapPeer(configure: o =>
        {
            if (!capture) o.PcapPath = null;
            // A captured TSO super-frame carries a partial checksum (as tcpdump shows on Linux), and a
            // capture counts frames: the tests that read the capture judge plain frames.
            else o.Offload = false;
            if (impairment == Impairment.StackFaults) o.Fault = FaultSpec(seed);
        });
        try
        {
            if (impairment == Impairment.KernelDrop)
            {
                string rules =
                    "table inet netstack_test {\n" +
                    "  chain out {\n" +
                    "    type filter hook output priority 0; policy accept;\n" +
                    $"    ip daddr {peer.StackIp} numgen random mod 100 < 5 counter drop\n" +
                    "  }\n" +
                    "}\n";
                var r = Shell.Run("ip", ["netns", "exec", peer.Ns, "nft", "-f", "-"], stdin: rules);
                if (r.ExitCode != 0) throw new InvalidOperationException($"nft failed:\n{r}");
            }
        }
        catch
        {
            peer.Dispose();
            throw;
        }
        return peer;
    }

    /// <summary>Packets the nft rule of <see cref="Impairment.KernelDrop"/> dropped so far.</summary>
    public static long NftDropped(TapPeer peer)
    {
        var r = peer.Exec("nft", "list", "chain", "inet", "netstack_test", "out");
        var m = NftCounterRegex().Match(r.StdOut);
        return m.Success ? long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : -1;
    }

    [GeneratedRegex(@"counter packets (\d+)")]
    private static partial Regex NftCounterRegex();

    /// <summary>What the impairment did, for the test output (and a check that it did something).</summary>
    public static string Describe(TapPeer peer, Impairment impairment) => impairment switch
    {
        Impairment.StackFaults => peer.Host.Faults?.ToString() ?? "no fault injector",
        Impairment.KernelDrop => $"nft dropped {NftDropped(peer)} of the kernel's packets",
        _ => "clean link",
    };

    /// <summary>Asserts the impairment actually hit the traffic.</summary>
    public static void AssertImpaired(TapPeer peer, Impairment impairment)
    {
        if (impairment == Impairment.StackFaults)
        {
            var f = peer.Host.Faults!;
            Assert.True(f.Dropped > 0 && f.Reordered > 0 && f.Duplicated > 0, f.ToString());
        }
        else if (impairment == Impairment.KernelDrop)
        {
            Assert.True(NftDropped(peer) > 0, "the nft rule dropped nothing");
        }
    }

    /// <summary>A file of <paramref name="length"/> random bytes; returns its SHA-256 (lowercase hex).</summary>
    public static string WriteRandomFile(string path, long length, int seed)
    {
        var rng = new Random(seed);
        var buf = new byte[1 << 20];
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var f = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, 1 << 20);
        for (long left = length; left > 0;)
        {
            int n = (int)Math.Min(left, buf.Length);
            rng.NextBytes(buf.AsSpan(0, n));
            f.Write(buf, 0, n);
            h.AppendData(buf, 0, n);
            left -= n;
        }
        return Convert.ToHexStringLower(h.GetHashAndReset());
    }

    public static string Sha256OfFile(string path)
    {
        using var f = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(f));
    }

    public static void TryDelete(string path)
    {
        try
        {
            if (Directory.Exists(path)) Directory.Delete(path, recursive: true);
            else File.Delete(path);
        }
        catch (IOException) { }
    }

    /// <summary>A write-only stream that hashes what it is given and keeps nothing.</summary>
    public sealed class HashingSink : Stream
    {
        private readonly IncrementalHash _h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        public long Written { get; private set; }
        public string Hex() => Convert.ToHexStringLower(_h.GetCurrentHash());

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            _h.AppendData(buffer);
            Written += buffer.Length;
        }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Write(buffer.Span);
            return ValueTask.CompletedTask;
        }

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => Written;
        public override long Position { get => Written; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing) _h.Dispose();
            base.Dispose(disposing);
        }
    }
}
