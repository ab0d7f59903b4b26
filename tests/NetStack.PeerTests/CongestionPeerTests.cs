using System.Security.Cryptography;
using NetStack.Api;
using NetStack.AspNetCore;
using NetStack.Net;
using NetStack.Services;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.PeerTests;

/// <summary>
/// The congestion-control mechanisms against the Linux kernel: RFC 3168 ECN negotiated with a
/// kernel whose namespace has net.ipv4.tcp_ecn=1, both ways, as the capture shows it (tshark);
/// a BBR-paced transfer from the stack to the kernel, checked by SHA-256.
/// </summary>
public sealed class CongestionPeerTests(ITestOutputHelper output)
{
    /// <summary>tshark's count of frames matching <paramref name="filter"/>, printed with the first few.</summary>
    private int Count(TapPeer peer, string what, string filter)
    {
        var frames = Tshark.Frames(peer.PcapPath, filter);
        output.WriteLine($"{what}: {frames.Length} ({filter})");
        foreach (var f in frames.Take(2)) output.WriteLine("  " + f);
        return frames.Length;
    }

    [PeerFact]
    public async Task KernelWithTcpEcn1_NegotiatesEcnWithTheStack_BothWays_SeenInTheCapture()
    {
        using var peer = TcpPeerKit.NewPeer(Impairment.None, capture: true);
        Assert.Equal(0, peer.Exec("sysctl", "-qw", "net.ipv4.tcp_ecn=1").ExitCode);
        using var services = ServiceHost.Start(peer.Net, "http");
        string k = peer.KernelIp, s = peer.StackIp;

        // 1. The kernel connects (curl downloads from the stack, whose tcp_ecn is Linux's default 2: accept).
        var down = peer.Exec("sh", "-c", $"curl -sS --fail http://{s}/bytes/1000000 | sha256sum");
        Assert.Equal(BytesPattern.Sha256Hex(1_000_000), down.StdOut.Split(' ')[0]);

        // 2. The stack connects (tcp_ecn=1: request) and downloads from a kernel server.
        Assert.Equal(0, peer.Net.Sysctl.TrySet("net.ipv4.tcp_ecn", "1"));
        string dir = Path.Combine(Path.GetTempPath(), $"{peer.Ns}-www");
        Directory.CreateDirectory(dir);
        try
        {
            string hash = TcpPeerKit.WriteRandomFile(Path.Combine(dir, "f.bin"), 1 << 20, seed: 3);
            using var server = BackgroundProcess.InNamespace(peer.Ns, "Serving HTTP",
                "/usr/bin/python3", "-u", "-m", "http.server", "8080", "--bind", k, "--directory", dir).WaitReady();
            using var sink = new TcpPeerKit.HashingSink();
            using var http = NetStackHttp.CreateClient(peer.Net);
            await using (var body = await http.GetStreamAsync($"http://{k}:8080/f.bin")) await body.CopyToAsync(sink);
            Assert.Equal(hash, sink.Hex());
        }
        finally
        {
            TcpPeerKit.TryDelete(dir);
        }
        Thread.Sleep(300);
        peer.FlushCapture();

        const string syn = "tcp.flags.syn == 1 && tcp.flags.ack == 0", synAck = "tcp.flags.syn == 1 && tcp.flags.ack == 1";
        const string eceCwr = "tcp.flags.ece == 1 && tcp.flags.cwr == 1", eceOnly = "tcp.flags.ece == 1 && tcp.flags.cwr == 0";
        // Kernel -> stack: SYN with ECE|CWR, the stack's SYN-ACK with ECE alone.
        Assert.True(Count(peer, "kernel SYN with ECE|CWR", $"ip.src == {k} && tcp.dstport == 80 && {syn} && {eceCwr}") >= 1);
        Assert.True(Count(peer, "stack SYN-ACK with ECE", $"ip.src == {s} && tcp.srcport == 80 && {synAck} && {eceOnly}") >= 1);
        // Stack -> kernel: the stack's SYN with ECE|CWR, the kernel's SYN-ACK with ECE.
        Assert.True(Count(peer, "stack SYN with ECE|CWR", $"ip.src == {s} && tcp.dstport == 8080 && {syn} && {eceCwr}") >= 1);
        Assert.True(Count(peer, "kernel SYN-ACK with ECE", $"ip.src == {k} && tcp.srcport == 8080 && {synAck} && {eceOnly}") >= 1);
        // Data is ECT(0) both ways on both connections; the stack's pure ACKs and SYNs are Not-ECT.
        Assert.True(Count(peer, "stack data ECT(0)", $"ip.src == {s} && tcp.len > 0 && ip.dsfield.ecn == 2") > 500);
        // A retransmission goes out Not-ECT (tcp_ecn_send() sets ECT only on new data): a loss probe
        // on a loaded machine is not a failure.
        Assert.Equal(0, Count(peer, "stack new data not ECT(0)", $"ip.src == {s} && tcp.len > 0 && ip.dsfield.ecn != 2"
            + " && !tcp.analysis.retransmission && !tcp.analysis.fast_retransmission && !tcp.analysis.spurious_retransmission"));
        Assert.True(Count(peer, "kernel data ECT(0)", $"ip.src == {k} && tcp.len > 0 && ip.dsfield.ecn == 2") > 500);
        Assert.Equal(0, Count(peer, "stack ACK/SYN with ECT", $"ip.src == {s} && tcp.len == 0 && ip.dsfield.ecn != 0"));
        Assert.Empty(Tshark.Frames(peer.PcapPath, "_ws.malformed || ip.checksum.status == \"Bad\" || tcp.checksum.status == \"Bad\""));
        Assert.True(peer.Net.Mib.IpExt[Core.IpExtMib.InECT0Pkts] > 500);
    }

    [PeerFact]
    public void StackSendsWithBbr_ToTheKernel_TransferIsIntact()
    {
        using var peer = TcpPeerKit.NewPeer(Impairment.None);
        const long size = 64L << 20;
        // A kernel sink: one connection, read to EOF, print the byte count and SHA-256.
        const string sink =
            "import socket,hashlib,sys\n" +
            "l=socket.socket(); l.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1); l.bind((sys.argv[1],9000)); l.listen(1)\n" +
            "print('ready',flush=True)\n" +
            "c,_=l.accept(); h=hashlib.sha256(); n=0\n" +
            "while True:\n" +
            "  b=c.recv(1<<20)\n" +
            "  if not b: break\n" +
            "  h.update(b); n+=len(b)\n" +
            "print(n,h.hexdigest(),flush=True)\n";
        using var server = BackgroundProcess.InNamespace(peer.Ns, "ready", "/usr/bin/python3", "-u", "-c", sink, peer.KernelIp).WaitReady();

        using var sock = NetSocket.Tcp(peer.Net);
        Assert.Equal(0, SocketCalls.Setsockopt(peer.Net.Files, sock.Fd, IPPROTO_TCP, TCP_CONGESTION, "bbr"u8));
        sock.Connect(Ep.Of(peer.KernelAddr, 9000));
        Assert.Equal("bbr", sock.GetTcpInfo().CongestionControl);
        var chunk = new byte[1 << 16];
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var rng = new Random(42);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        ulong maxPacing = 0;
        for (long sent = 0; sent < size; sent += chunk.Length)
        {
            rng.NextBytes(chunk);
            h.AppendData(chunk);
            for (int off = 0; off < chunk.Length;) off += sock.Send(chunk.AsSpan(off));
            if ((sent & ((8 << 20) - 1)) == 0)
            {
                var i = sock.GetTcpInfo();
                output.WriteLine($"{sent >> 20} MB: cwnd {i.SendCwnd}, pacing {i.PacingRate / 1e6:F1} MB/s, delivery rate {i.DeliveryRate / 1e6:F1} MB/s, rtt {i.Rtt.TotalMicroseconds} us, min rtt {i.MinRtt?.TotalMicroseconds} us");
                if (i.PacingRate != ulong.MaxValue) maxPacing = Math.Max(maxPacing, i.PacingRate);
            }
        }
        var info = sock.GetTcpInfo();
        sock.Shutdown(System.Net.Sockets.SocketShutdown.Send);
        Assert.True(server.WaitForExit(TimeSpan.FromSeconds(120)), server.Output);
        double secs = sw.Elapsed.TotalSeconds;
        var line = server.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Last().Split(' ');
        output.WriteLine($"BBR, {size >> 20} MB stack -> kernel: {size / secs / 1e6:F1} MB/s; retransmitted {info.TotalRetrans}; kernel: {string.Join(' ', line)}");
        Assert.Equal(size.ToString(), line[0]);
        Assert.Equal(Convert.ToHexStringLower(h.GetHashAndReset()), line[1]);
        Assert.Equal("bbr", info.CongestionControl);
        Assert.True(maxPacing > 0, "BBR set a pacing rate");
    }
}
