using System.Globalization;
using NetStack.AspNetCore;
using NetStack.Services;

namespace NetStack.PeerTests;

/// <summary>
/// Bulk TCP between the Linux kernel and the stack, checked by SHA-256: curl downloads from and
/// uploads to the stack's http service, and HttpClient over the stack downloads from a Python
/// server on the kernel side. The http service is an ASP.NET Core app on Kestrel over the stack
/// (NetStack.AspNetCore's transport); the client is HttpClient over the stack's TCP. 100 MB on a
/// clean link and through the stack's fault injector (5% loss with reordering and duplication);
/// 20 MB with an nft rule dropping 5% of the kernel's segments.
/// </summary>
public sealed class TcpBulkPeerTests(ITestOutputHelper output)
{
    private const long MB100 = 100L << 20;

    public static TheoryData<Impairment, long> Downloads => new()
    {
        { Impairment.None, MB100 },
        // The stack is the sender here: its loss recovery leans on the RTO more than Linux's does,
        // so this is the slowest case (about 3 MB/s through the fault injector: ~35 s for 100 MB).
        { Impairment.StackFaults, MB100 },
        { Impairment.KernelDrop, 20L << 20 },
    };

    public static TheoryData<Impairment, long> Uploads => new()
    {
        { Impairment.None, MB100 },
        { Impairment.StackFaults, MB100 },
        { Impairment.KernelDrop, 20L << 20 },
    };

    private static readonly TimeSpan CurlLimit = TimeSpan.FromSeconds(240);

    [PeerTheory]
    [MemberData(nameof(Downloads))]
    public void Curl_DownloadsFromTheHttpService_HashesEqual(Impairment impairment, long size)
    {
        using var peer = TcpPeerKit.NewPeer(impairment, seed: 11);
        using var services = ServiceHost.Start(peer.Net, "http");
        string file = Path.Combine(Path.GetTempPath(), $"{peer.Ns}-down.bin");
        try
        {
            var r = peer.Exec(CurlLimit, "curl", "-sS", "--fail", "-m", "200", "-o", file,
                "-w", "%{size_download} %{speed_download} %{time_total}", $"http://{peer.StackIp}/bytes/{size}");
            output.WriteLine(r.ToString());
            Assert.Equal(0, r.ExitCode);
            var w = r.StdOut.Split(' ');
            Assert.Equal(size, long.Parse(w[0], CultureInfo.InvariantCulture));
            Assert.Equal(BytesPattern.Sha256Hex(size), TcpPeerKit.Sha256OfFile(file));
            output.WriteLine(FormattableString.Invariant(
                $"curl download {size >> 20} MB ({impairment}): {double.Parse(w[1], CultureInfo.InvariantCulture) / 1e6:0.0} MB/s in {w[2]} s"));
            output.WriteLine(TcpPeerKit.Describe(peer, impairment));
            TcpPeerKit.AssertImpaired(peer, impairment);
        }
        finally
        {
            TcpPeerKit.TryDelete(file);
        }
    }

    [PeerTheory]
    [MemberData(nameof(Uploads))]
    public void Curl_UploadsToSha256_HashesEqual(Impairment impairment, long size)
    {
        using var peer = TcpPeerKit.NewPeer(impairment, seed: 12);
        using var services = ServiceHost.Start(peer.Net, "http");
        string file = Path.Combine(Path.GetTempPath(), $"{peer.Ns}-up.bin");
        try
        {
            string expected = TcpPeerKit.WriteRandomFile(file, size, seed: (int)(size >> 20));
            var r = peer.Exec(CurlLimit, "curl", "-sS", "--fail", "-m", "200", "-H", "Content-Type: application/octet-stream",
                "--data-binary", "@" + file, "-w", "\n%{size_upload} %{speed_upload} %{time_total}", $"http://{peer.StackIp}/sha256");
            output.WriteLine(r.ToString());
            Assert.Equal(0, r.ExitCode);
            var lines = r.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(expected, lines[0]);
            var w = lines[1].Split(' ');
            Assert.Equal(size, long.Parse(w[0], CultureInfo.InvariantCulture));
            output.WriteLine(FormattableString.Invariant(
                $"curl upload {size >> 20} MB ({impairment}): {double.Parse(w[1], CultureInfo.InvariantCulture) / 1e6:0.0} MB/s in {w[2]} s"));
            output.WriteLine(TcpPeerKit.Describe(peer, impairment));
            TcpPeerKit.AssertImpaired(peer, impairment);
        }
        finally
        {
            TcpPeerKit.TryDelete(file);
        }
    }

    [PeerTheory]
    [MemberData(nameof(Uploads))]
    public async Task StackClient_DownloadsFromAKernelHttpServer_HashesEqual(Impairment impairment, long size)
    {
        using var peer = TcpPeerKit.NewPeer(impairment, seed: 13);
        string dir = Path.Combine(Path.GetTempPath(), $"{peer.Ns}-www");
        Directory.CreateDirectory(dir);
        try
        {
            string expected = TcpPeerKit.WriteRandomFile(Path.Combine(dir, "file.bin"), size, seed: 99);
            using var server = BackgroundProcess.InNamespace(peer.Ns, "Serving HTTP",
                "/usr/bin/python3", "-u", "-m", "http.server", "8080", "--bind", peer.KernelIp, "--directory", dir).WaitReady();
            using var sink = new TcpPeerKit.HashingSink();
            // HttpClient over the stack's TCP (SocketsHttpHandler.ConnectCallback).
            using var http = NetStackHttp.CreateClient(peer.Net);
            http.Timeout = CurlLimit;
            var sw = System.Diagnostics.Stopwatch.StartNew();
            using var response = await http.GetAsync($"http://{peer.KernelIp}:8080/file.bin", HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
            await using (var body = await response.Content.ReadAsStreamAsync()) await body.CopyToAsync(sink);
            double secs = sw.Elapsed.TotalSeconds;
            Assert.Equal(size, sink.Length);
            Assert.Equal(expected, sink.Hex());
            output.WriteLine(FormattableString.Invariant(
                $"HttpClient over the stack, download {size >> 20} MB ({impairment}): {size / secs / 1e6:0.0} MB/s in {secs:0.00} s"));
            output.WriteLine(TcpPeerKit.Describe(peer, impairment));
            TcpPeerKit.AssertImpaired(peer, impairment);
        }
        finally
        {
            TcpPeerKit.TryDelete(dir);
        }
    }
}
