using NetStack.Core;
using NetStack.Net;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.PeerTests;

/// <summary>
/// Black-hole detection against the kernel: an nft rule in the kernel's namespace drops every
/// packet from the stack longer than 1100 bytes (an ICMP black hole: no "fragmentation needed"
/// comes back). With net.ipv4.tcp_mtu_probing = 1 the stack's retransmission timeouts past
/// tcp_retries1 lower its MSS to tcp_base_mss (1024) and the data gets through, as a kernel sender
/// does on the same path (its 1448-byte segments become 1024 after the fourth timeout).
/// </summary>
public sealed class TcpMtuProbingPeerTests(ITestOutputHelper output)
{
    private const string Rules = """
table ip netstack_bh {
  chain in {
    type filter hook input priority 0;
    ip length > 1100 counter drop
  }
}
""";

    [PeerFact]
    public void BlackHole_StackLowersItsMss_AndTheEchoCompletes()
    {
        using var peer = new TapPeer();
        var r = Shell.Run("ip", ["netns", "exec", peer.Ns, "nft", "-f", "-"], stdin: Rules);
        Assert.True(r.ExitCode == 0, r.ToString());
        using var server = BackgroundProcess.InNamespace(peer.Ns, "listening", "/usr/bin/python3", "-u", TcpPeerKit.PeerScript, "echo-server", "7777").WaitReady();
        Assert.Equal(0, peer.Net.Sysctl.TrySet("net.ipv4.tcp_mtu_probing", "1"));
        var f = peer.Net.Files;
        int c = SocketCalls.Socket(f, AF_INET, SOCK_STREAM, 0);
        Assert.Equal(0, SocketCalls.Connect(f, c, SockAddr.In(peer.KernelAddr, 7777)));
        Assert.Equal(0, SocketCalls.Getsockopt(f, c, IPPROTO_TCP, TCP_MAXSEG, out int mssBefore));
        var data = new byte[8000];
        new Random(5).NextBytes(data);
        Assert.Equal(data.Length, SocketCalls.Send(f, c, data, 0));
        Assert.Equal(0, SocketCalls.Shutdown(f, c, SHUT_WR));
        var tv = new byte[16];
        BitConverter.GetBytes(60L).CopyTo(tv, 0); // SO_RCVTIMEO 60 s: a failure ends the test, not the run
        Assert.Equal(0, SocketCalls.Setsockopt(f, c, SOL_SOCKET, SO_RCVTIMEO, tv));
        var got = new MemoryStream();
        var buf = new byte[4096];
        int n;
        while ((n = SocketCalls.Recv(f, c, buf, 0)) > 0) got.Write(buf, 0, n);
        Assert.Equal(0, n);
        Assert.Equal(0, SocketCalls.Getsockopt(f, c, IPPROTO_TCP, TCP_MAXSEG, out int mssAfter));
        var drops = peer.Exec("nft", "list", "chain", "ip", "netstack_bh", "in");
        output.WriteLine($"MSS {mssBefore} -> {mssAfter}; kernel drops: {drops.StdOut.Trim()}");
        Assert.Equal(data, got.ToArray());
        Assert.True(mssBefore > 1024, $"MSS before: {mssBefore}");
        Assert.True(mssAfter <= 1024, $"MSS after: {mssAfter}");
        Assert.Contains("counter packets", drops.StdOut);
        Assert.DoesNotContain("counter packets 0 ", drops.StdOut);
        SocketCalls.Close(f, c);
    }
    /// <summary>
    /// The upward search against the kernel: with net.ipv4.tcp_mtu_probing = 2 and tcp_base_mss
    /// 512 the stack starts at MSS 512 (with timestamps) on a 1500-byte path; over a 4 MB echo its
    /// probes (tcp_mtu_probe()) are acknowledged one after the other and the MSS climbs to within
    /// tcp_probe_threshold of the 1500-byte MTU, with no probe lost and the echo intact.
    /// </summary>
    [PeerFact]
    public void Probing2_LowBaseMss_MssClimbsToThePathMtu_AndTheEchoIsIntact()
    {
        using var peer = new TapPeer();
        using var server = BackgroundProcess.InNamespace(peer.Ns, "listening", "/usr/bin/python3", "-u", TcpPeerKit.PeerScript, "echo-server", "7778").WaitReady();
        Assert.Equal(0, peer.Net.Sysctl.TrySet("net.ipv4.tcp_mtu_probing", "2"));
        Assert.Equal(0, peer.Net.Sysctl.TrySet("net.ipv4.tcp_base_mss", "512"));
        var mib = peer.Net.Mib.TcpExt;
        long success0 = mib[LinuxMib.TCPMTUPSuccess], fail0 = mib[LinuxMib.TCPMTUPFail];
        var f = peer.Net.Files;
        int c = SocketCalls.Socket(f, AF_INET, SOCK_STREAM, 0);
        Assert.Equal(0, SocketCalls.Connect(f, c, SockAddr.In(peer.KernelAddr, 7778)));
        Assert.Equal(0, SocketCalls.Getsockopt(f, c, IPPROTO_TCP, TCP_MAXSEG, out int mssBefore));
        var tv = new byte[16];
        BitConverter.GetBytes(60L).CopyTo(tv, 0); // SO_RCVTIMEO / SO_SNDTIMEO 60 s: a failure ends the test, not the run
        Assert.Equal(0, SocketCalls.Setsockopt(f, c, SOL_SOCKET, SO_RCVTIMEO, tv));
        Assert.Equal(0, SocketCalls.Setsockopt(f, c, SOL_SOCKET, SO_SNDTIMEO, tv));
        var data = new byte[4 << 20];
        new Random(12).NextBytes(data);
        var got = new MemoryStream(data.Length);
        var buf = new byte[65536];
        var sw = System.Diagnostics.Stopwatch.StartNew();
        int n;
        // Write in 64 KiB pieces and take what came back in between, so neither side's buffers jam.
        for (int off = 0; off < data.Length; off += 65536)
        {
            int sent = 0;
            while (sent < 65536)
            {
                int r = SocketCalls.Send(f, c, data.AsSpan(off + sent, 65536 - sent), 0);
                Assert.True(r > 0, $"send: {r}");
                sent += r;
            }
            while ((n = SocketCalls.Recv(f, c, buf, MSG_DONTWAIT)) > 0) got.Write(buf, 0, n);
        }
        Assert.Equal(0, SocketCalls.Getsockopt(f, c, IPPROTO_TCP, TCP_MAXSEG, out int mssAfter));
        Assert.Equal(0, SocketCalls.Shutdown(f, c, SHUT_WR));
        while ((n = SocketCalls.Recv(f, c, buf, 0)) > 0) got.Write(buf, 0, n);
        Assert.Equal(0, n);
        sw.Stop();
        long success = mib[LinuxMib.TCPMTUPSuccess] - success0, fail = mib[LinuxMib.TCPMTUPFail] - fail0;
        output.WriteLine($"MSS {mssBefore} -> {mssAfter}; TCPMTUPSuccess {success}, TCPMTUPFail {fail}; {data.Length} bytes echoed in {sw.ElapsedMilliseconds} ms");
        Assert.True(got.Length == data.Length && data.AsSpan().SequenceEqual(got.ToArray()), "the echo differs");
        Assert.Equal(512, mssBefore); // tcp_base_mss
        // search_low climbs 564 -> 1032 -> 1266 -> 1383 -> 1441 -> 1470 -> 1485 -> 1492 -> 1496 (then 4 < tcp_probe_threshold):
        // an MSS of 1496 - 52 (IP, TCP and timestamps) = 1444.
        Assert.Equal(0, fail);
        Assert.Equal(8, success);
        Assert.Equal(1444, mssAfter);
        SocketCalls.Close(f, c);
    }
}
