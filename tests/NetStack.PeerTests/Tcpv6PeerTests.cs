using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using NetStack.Api;
using NetStack.AspNetCore;
using NetStack.Core;
using NetStack.Services;

namespace NetStack.PeerTests;

/// <summary>
/// TCP over native IPv6 against the Linux kernel across a TAP (issue 11): the kernel connects to a
/// stack listener and the stack connects to a kernel server, both by global IPv6 addresses; curl -6
/// downloads 100 MB from and uploads 100 MB to the stack's http service (Kestrel over the stack,
/// bound to the stack's IPv6 address), checked by SHA-256, on a clean link and through the stack's
/// fault injector; tshark finds nothing wrong in a captured transfer. Ports 7700-7799.
/// </summary>
public sealed class Tcpv6PeerTests(ITestOutputHelper output)
{
    private const string KernelGlobal = "fd00:77::1", StackGlobal = "fd00:77::2";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan CurlLimit = TimeSpan.FromSeconds(240);
    private const long MB100 = 100L << 20;

    private static TapPeer NewPeer(Impairment impairment = Impairment.None, int seed = 7, bool capture = false)
    {
        var peer = new TapPeer(ipv6: true, configure: o =>
        {
            o.Ipv6Address = IPAddress.Parse(StackGlobal);
            if (!capture) o.PcapPath = null;
            // A captured TSO super-frame carries a partial checksum (as tcpdump shows on Linux): the checksum test judges plain frames.
            else o.Offload = false;
            if (impairment == Impairment.StackFaults) o.Fault = TcpPeerKit.FaultSpec(seed);
        });
        try
        {
            peer.Exec("ip", "-6", "addr", "add", $"{KernelGlobal}/64", "dev", peer.Tap, "nodad");
        }
        catch
        {
            peer.Dispose();
            throw;
        }
        return peer;
    }

    [PeerFact]
    public async Task KernelSocat_ConnectsToStackListenerOverIpv6_DataBothWays()
    {
        using var peer = NewPeer();
        using var listener = new NetSocket(peer.Net, AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.IPv6Any, 7700));
        listener.Listen(4);
        var kernel = Task.Run(() => peer.Exec(Timeout, "bash", "-c",
            $"printf 'hello over tcp6' | socat -t 5 - TCP6:[{StackGlobal}]:7700,sourceport=7701"));
        using var conn = await listener.AcceptAsync().AsTask().WaitAsync(Timeout);
        Assert.Equal(new IPEndPoint(IPAddress.Parse(KernelGlobal), 7701), conn.RemoteEndPoint);
        Assert.Equal(new IPEndPoint(IPAddress.Parse(StackGlobal), 7700), conn.LocalEndPoint);
        var got = new MemoryStream();
        var buf = new byte[256];
        int n;
        while ((n = await conn.ReceiveAsync(buf).AsTask().WaitAsync(Timeout)) > 0) got.Write(buf, 0, n);
        Assert.Equal("hello over tcp6", Encoding.ASCII.GetString(got.ToArray()));
        var answer = Encoding.ASCII.GetBytes("answer from the stack");
        Assert.Equal(answer.Length, conn.Send(answer));
        conn.Shutdown(SocketShutdown.Send);
        var k = await kernel.WaitAsync(Timeout);
        output.WriteLine(k.ToString());
        Assert.Equal(0, k.ExitCode);
        Assert.Equal("answer from the stack", k.StdOut);
        Assert.Equal(0, peer.Net.Mib.Ip[IpMib.InReceives]);
        Assert.Equal(0, peer.Net.Mib.Tcp[TcpMib.InErrs]);
    }

    [PeerFact]
    public async Task StackClient_ConnectsToKernelServerOverIpv6_Echo()
    {
        using var peer = NewPeer();
        // The kernel's echo server on [fd00:77::1]:7710 (socat forks cat per connection).
        using var server = BackgroundProcess.InNamespace(peer.Ns, null,
            "socat", $"TCP6-LISTEN:7710,bind=[{KernelGlobal}],reuseaddr,fork", "EXEC:cat");
        var remote = new IPEndPoint(IPAddress.Parse(KernelGlobal), 7710);
        // socat needs a moment to listen: a refused connect is retried with a new socket.
        NetSocket client;
        for (int attempt = 0; ; attempt++)
        {
            client = new NetSocket(peer.Net, AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await client.ConnectAsync(remote).AsTask().WaitAsync(Timeout);
                break;
            }
            catch (NetStackException e) when (e.Errno == Uapi.Errno.ECONNREFUSED && attempt < 50)
            {
                client.Dispose();
                await Task.Delay(100);
            }
        }
        using var _ = client;
        Assert.Equal(IPAddress.Parse(StackGlobal), client.LocalEndPoint!.Address);
        var data = new byte[1 << 20];
        new Random(5).NextBytes(data);
        var send = Task.Run(() =>
        {
            int off = 0;
            while (off < data.Length) off += client.Send(data.AsSpan(off));
            client.Shutdown(SocketShutdown.Send);
        });
        var got = new MemoryStream();
        var buf = new byte[65536];
        int n;
        while ((n = await client.ReceiveAsync(buf).AsTask().WaitAsync(Timeout)) > 0) got.Write(buf, 0, n);
        await send.WaitAsync(Timeout);
        Assert.Equal(data.Length, got.Length);
        Assert.True(data.AsSpan().SequenceEqual(got.ToArray()));
        Assert.Equal(0, peer.Net.Mib.Tcp[TcpMib.InErrs]);
    }

    public static TheoryData<Impairment> Impairments => new() { Impairment.None, Impairment.StackFaults };

    [PeerTheory]
    [MemberData(nameof(Impairments))]
    public void Curl6_DownloadsFromTheHttpService_HashesEqual(Impairment impairment)
    {
        using var peer = NewPeer(impairment, seed: 21);
        using var services = StartHttp(peer);
        string file = Path.Combine(Path.GetTempPath(), $"{peer.Ns}-down6.bin");
        try
        {
            var r = peer.Exec(CurlLimit, "curl", "-6", "-sS", "--fail", "-m", "200", "-o", file,
                "-w", "%{size_download} %{speed_download} %{time_total}", $"http://[{StackGlobal}]:7780/bytes/{MB100}");
            output.WriteLine(r.ToString());
            Assert.Equal(0, r.ExitCode);
            var w = r.StdOut.Split(' ');
            Assert.Equal(MB100, long.Parse(w[0], CultureInfo.InvariantCulture));
            Assert.Equal(BytesPattern.Sha256Hex(MB100), TcpPeerKit.Sha256OfFile(file));
            output.WriteLine(FormattableString.Invariant(
                $"curl -6 download 100 MB ({impairment}): {double.Parse(w[1], CultureInfo.InvariantCulture) / 1e6:0.0} MB/s in {w[2]} s"));
            output.WriteLine(TcpPeerKit.Describe(peer, impairment));
            TcpPeerKit.AssertImpaired(peer, impairment);
        }
        finally
        {
            TcpPeerKit.TryDelete(file);
        }
    }

    [PeerTheory]
    [MemberData(nameof(Impairments))]
    public void Curl6_UploadsToSha256_HashesEqual(Impairment impairment)
    {
        using var peer = NewPeer(impairment, seed: 22);
        using var services = StartHttp(peer);
        string file = Path.Combine(Path.GetTempPath(), $"{peer.Ns}-up6.bin");
        try
        {
            string expected = TcpPeerKit.WriteRandomFile(file, MB100, seed: 77);
            var r = peer.Exec(CurlLimit, "curl", "-6", "-sS", "--fail", "-m", "200", "-H", "Content-Type: application/octet-stream",
                "--data-binary", "@" + file, "-w", "\n%{size_upload} %{speed_upload} %{time_total}", $"http://[{StackGlobal}]:7780/sha256");
            output.WriteLine(r.ToString());
            Assert.Equal(0, r.ExitCode);
            var lines = r.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(expected, lines[0]);
            var w = lines[1].Split(' ');
            Assert.Equal(MB100, long.Parse(w[0], CultureInfo.InvariantCulture));
            output.WriteLine(FormattableString.Invariant(
                $"curl -6 upload 100 MB ({impairment}): {double.Parse(w[1], CultureInfo.InvariantCulture) / 1e6:0.0} MB/s in {w[2]} s"));
            output.WriteLine(TcpPeerKit.Describe(peer, impairment));
            // Over an offloading TAP (NETSTACK_TEST_OFFLOAD=1, TUN_F_TSO6) the kernel sends its IPv6 TCP as super-frames (gso_type TCPV6).
            if (peer.Host.Device is NetStack.Drivers.TapDevice { Offload: true } tap)
            {
                output.WriteLine($"GSO super-frames received: {tap.RxGsoFrames}; segmented in software: {tap.RxSoftSegmented}; device {tap.Stats}");
                Assert.True(tap.RxGsoFrames > 0, "the kernel sent no TCPv6 super-frame");
            }
            TcpPeerKit.AssertImpaired(peer, impairment);
        }
        finally
        {
            TcpPeerKit.TryDelete(file);
        }
    }

    [PeerFact]
    public void Curl6_CapturedTransfer_TsharkFindsNoBadChecksumOrMalformedFrame()
    {
        string pcap;
        const long size = 4L << 20;
        using (var peer = NewPeer(capture: true))
        {
            using var services = StartHttp(peer);
            var r = peer.Exec(CurlLimit, "curl", "-6", "-sS", "--fail", "-m", "60", "-o", "/dev/null",
                "-w", "%{size_download}", $"http://[{StackGlobal}]:7780/bytes/{size}");
            output.WriteLine(r.ToString());
            Assert.Equal(0, r.ExitCode);
            Assert.Equal(size.ToString(CultureInfo.InvariantCulture), r.StdOut.Trim());
            peer.FlushCapture();
            pcap = peer.PcapPath;
            // Every TCP segment of the capture is IPv6: the whole exchange went over tcp_v6.
            int tcp6 = Tshark.Count(pcap, "ipv6 && tcp.port == 7780");
            Assert.True(tcp6 > 100, $"{tcp6} IPv6 TCP frames");
            Assert.Equal(0, Tshark.Count(pcap, "ip && tcp"));
            // The frames the stack sent are judged (a kernel frame may carry a partial checksum over an offloading TAP).
            string mac = peer.StackMac.ToString();
            int sent = Tshark.Count(pcap, $"eth.src == {mac} && ipv6 && tcp.port == 7780");
            Assert.True(sent > 100, $"{sent} IPv6 TCP frames from the stack");
            Assert.Equal(sent, Tshark.Count(pcap, $"eth.src == {mac} && ipv6 && tcp.port == 7780 && tcp.checksum.status == \"Good\""));
            var problems = Tshark.Frames(pcap, $"eth.src == {mac} && ({Tshark.ProblemFilter})");
            foreach (var p in problems) output.WriteLine(p);
            Assert.Empty(problems);
        }
    }

    private static ServiceHost StartHttp(TapPeer peer) =>
        ServiceHost.Start(peer.Net, "http:7780", new ServiceOptions { BindAddress = IPAddress.Parse(StackGlobal) });
}
