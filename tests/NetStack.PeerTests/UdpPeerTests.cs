using System.Diagnostics;
using NetStack.Api;
using NetStack.Net;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.PeerTests;

/// <summary>UDP, ping and raw sockets of the stack against the Linux kernel over a TAP.</summary>
public sealed class UdpPeerTests(ITestOutputHelper output)
{
    private static readonly string CliDll = Path.Combine(AppContext.BaseDirectory, "NetStack.Cli.dll");

    [PeerFact]
    public async Task Udp_KernelNcToStackEcho_AndBack()
    {
        using var peer = new TapPeer();
        using var echo = NetSocket.Udp(peer.Net);
        echo.Bind(Ep.Of(0, 7000));
        var server = Task.Run(async () =>
        {
            var buf = new byte[2048];
            for (int i = 0; i < 2; i++)
            {
                var r = await echo.ReceiveFromAsync(buf);
                await echo.SendToAsync(buf.AsMemory(0, r.ReceivedBytes), r.RemoteEndPoint);
            }
        });
        // The kernel sends with nc and prints what comes back (nc -u waits -w1 for the reply).
        var r1 = peer.Exec(TimeSpan.FromSeconds(20), "bash", "-c", $"printf 'hello stack\\n' | nc -u -w1 {peer.StackIp} 7000");
        output.WriteLine(r1.ToString());
        Assert.Equal("hello stack\n", r1.StdOut);
        // And with socat.
        var r2 = peer.Exec(TimeSpan.FromSeconds(20), "bash", "-c", $"printf 'via socat' | socat -t1 - UDP4:{peer.StackIp}:7000");
        Assert.Equal("via socat", r2.StdOut);
        await server.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(2, peer.Counter("Udp.InDatagrams"));
        Assert.Equal(2, peer.Counter("Udp.OutDatagrams"));
    }

    [PeerFact]
    public void Udp_StackToKernelSocat()
    {
        using var peer = new TapPeer();
        // socat receives one datagram on the kernel side and prints it.
        var psi = new ProcessStartInfo("ip") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "netns", "exec", peer.Ns, "timeout", "10", "socat", "-u", "UDP4-RECV:9000", "STDOUT" }) psi.ArgumentList.Add(a);
        using var socat = Process.Start(psi)!;
        try
        {
            Assert.True(TapPeer.WaitUntil(() => peer.Exec("ss", "-uln").StdOut.Contains(":9000"), TimeSpan.FromSeconds(5)), "socat did not start listening");
            using var sock = NetSocket.Udp(peer.Net);
            sock.SendTo("datagram from the stack"u8, Ep.Of(peer.KernelAddr, 9000));
            string got = socat.StandardOutput.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(15)).GetAwaiter().GetResult();
            Assert.Equal("datagram from the stack", got);
        }
        finally
        {
            if (!socat.HasExited) socat.Kill(entireProcessTree: true);
        }
    }

    [PeerFact]
    public void Udp_LargeDatagrams_BothWays_Fragmented()
    {
        using var peer = new TapPeer();
        using var sock = NetSocket.Udp(peer.Net);
        sock.Bind(Ep.Of(0, 7002));
        sock.ReceiveTimeout = 10000;
        // The kernel echoes 9000-byte datagrams (fragmented both ways over the 1500-byte TAP).
        var script = $$"""
            import socket
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("{{peer.KernelIp}}", 7003))
            s.settimeout(10)
            data, addr = s.recvfrom(65536)
            s.sendto(data[::-1], addr)
            print(len(data))
            """;
        var py = Task.Run(() => peer.Exec(TimeSpan.FromSeconds(30), "/usr/bin/python3", "-c", script));
        Assert.True(TapPeer.WaitUntil(() => peer.Exec("ss", "-uln").StdOut.Contains(":7003"), TimeSpan.FromSeconds(5)));
        var data = new byte[9000];
        new Random(9).NextBytes(data);
        Assert.Equal(9000, sock.SendTo(data, Ep.Of(peer.KernelAddr, 7003)));
        var buf = new byte[65536];
        Assert.Equal(9000, sock.Receive(buf));
        Array.Reverse(data);
        Assert.True(buf.AsSpan(0, 9000).SequenceEqual(data));
        var r = py.WaitAsync(TimeSpan.FromSeconds(30)).GetAwaiter().GetResult();
        Assert.Equal("9000", r.StdOut.Trim());
        Assert.True(peer.Counter("Ip.FragCreates") >= 7);
        Assert.Equal(1, peer.Counter("Ip.ReasmOKs"));
    }

    [PeerFact]
    public void Udp_ConnectedKernelSocket_GetsEconnrefused_FromStacksPortUnreachable()
    {
        using var peer = new TapPeer();
        var script = $$"""
            import socket, time
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.connect(("{{peer.StackIp}}", 9))
            s.send(b"anyone?")
            time.sleep(0.5)
            try:
                s.recv(100)
                print("no error")
            except ConnectionRefusedError:
                print("ECONNREFUSED")
            """;
        var r = peer.Exec(TimeSpan.FromSeconds(20), "/usr/bin/python3", "-c", script);
        output.WriteLine(r.ToString());
        Assert.Equal("ECONNREFUSED", r.StdOut.Trim());
        Assert.Equal(1, peer.Counter("Udp.NoPorts"));
        Assert.Equal(1, peer.Counter("Icmp.OutDestUnreachs"));
    }

    [PeerFact]
    public void Udp_StackConnectedSocket_GetsEconnrefused_FromKernel()
    {
        using var peer = new TapPeer();
        using var sock = NetSocket.Udp(peer.Net);
        sock.Connect(Ep.Of(peer.KernelAddr, 9));
        sock.Send("x"u8);
        Assert.True(TapPeer.WaitUntil(() => peer.Counter("Icmp.InDestUnreachs") == 1, TimeSpan.FromSeconds(5)));
        var e = Assert.Throws<NetStackException>(() => sock.Receive(new byte[16], MSG_DONTWAIT));
        Assert.Equal(Errno.ECONNREFUSED, e.Errno);
    }

    [PeerFact]
    public void Ping_StackPingsTheKernel_ThroughAPingSocket()
    {
        using var peer = new TapPeer();
        using var ping = NetSocket.Ping(peer.Net);
        ping.ReceiveTimeout = 5000;
        var req = new byte[64];
        var reply = new byte[128];
        for (ushort seq = 1; seq <= 5; seq++)
        {
            var h = IcmpHeader.Create(req);
            h.Type = IcmpType.Echo;
            h.EchoSequence = seq;
            req[20] = (byte)seq;
            ping.SendTo(req, Ep.Of(peer.KernelAddr, 0));
            System.Net.EndPoint from = new System.Net.IPEndPoint(0, 0);
            int n = ping.ReceiveFrom(reply, ref from);
            var r = IcmpHeader.Create(reply.AsSpan(0, n));
            Assert.Equal(64, n);
            Assert.Equal(IcmpType.EchoReply, r.Type);
            Assert.Equal(seq, r.EchoSequence);
            Assert.Equal(ping.LocalEndPoint.Port, r.EchoId); // the identifier is the socket's port
            Assert.Equal(seq, reply[20]);
            Assert.Equal(Ep.Of(peer.KernelAddr, 0), from);
        }
        Assert.Equal(5, peer.Counter("Icmp.OutEchos"));
        Assert.Equal(5, peer.Counter("Icmp.InEchoReps"));
    }

    [PeerFact]
    public void PingCommand_PingsTheKernel_LikePing8()
    {
        var (ns, tap, x) = TapPeer.NewNames();
        try
        {
            var r = Shell.Run("dotnet", [CliDll, "ping", "--ns", ns, "--tap", tap, "--create", "--addr", $"10.7.{x}.2/24", "-c", "3", "-i", "0.2", $"10.7.{x}.1"], TimeSpan.FromSeconds(60));
            output.WriteLine(r.ToString());
            Assert.Equal(0, r.ExitCode);
            Assert.Contains($"PING 10.7.{x}.1 (10.7.{x}.1) 56(84) bytes of data.", r.StdOut);
            Assert.Contains($"64 bytes from 10.7.{x}.1: icmp_seq=3", r.StdOut);
            var s = PingSummary.Parse(r.StdOut);
            Assert.Equal((3, 3), (s.Transmitted, s.Received));
        }
        finally
        {
            Shell.Run("ip", "netns", "del", ns);
        }
    }

    [PeerFact]
    public void NcCommand_Udp_ToKernelSocatEcho()
    {
        var (ns, tap, x) = TapPeer.NewNames();
        Process? socat = null;
        try
        {
            Shell.Check("bash", Path.Combine(Shell.RepoRoot, "setup-tap.sh"), "--ns", ns, "--tap", tap, "--addr", $"10.7.{x}.1/24");
            // A kernel-side UDP echo server.
            var psi = new ProcessStartInfo("ip") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in new[] { "netns", "exec", ns, "timeout", "30", "socat", "UDP4-RECVFROM:7001,fork", "EXEC:cat" }) psi.ArgumentList.Add(a);
            socat = Process.Start(psi)!;
            Assert.True(TapPeer.WaitUntil(() => Shell.Run("ip", "netns", "exec", ns, "ss", "-uln").StdOut.Contains(":7001"), TimeSpan.FromSeconds(5)));
            var r = Shell.Run("dotnet", [CliDll, "nc", "--ns", ns, "--tap", tap, "--addr", $"10.7.{x}.2/24", "-u", "-w", "2", $"10.7.{x}.1", "7001"],
                TimeSpan.FromSeconds(60), stdin: "echo me\n");
            output.WriteLine(r.ToString());
            Assert.Equal("echo me\n", r.StdOut);
        }
        finally
        {
            if (socat is { HasExited: false }) socat.Kill(entireProcessTree: true);
            Shell.Run("ip", "netns", "del", ns);
        }
    }

    [PeerFact]
    public void Raw_StackRawIcmpSocket_ReceivesTheKernelsEchoRequests()
    {
        using var peer = new TapPeer();
        using var raw = new NetSocket(peer.Net, AF_INET, SOCK_RAW | SOCK_NONBLOCK, IPPROTO_ICMP);
        Assert.Equal(3, peer.Ping("-c", "3", "-i", "0.05", "-W", "2").Received);
        var buf = new byte[256];
        int requests = 0;
        for (int i = 0; i < 3; i++)
        {
            System.Net.EndPoint from = new System.Net.IPEndPoint(0, 0);
            int n = raw.ReceiveFrom(buf, ref from);
            var ip = Ipv4Header.Create(buf.AsSpan(0, n));
            Assert.Equal(peer.KernelAddr, ip.Source);
            Assert.Equal(Ep.Of(peer.KernelAddr, 0), from);
            Assert.Equal(IpProto.ICMP, ip.Protocol);
            if (buf[ip.HeaderLength] == IcmpType.Echo) requests++;
        }
        Assert.Equal(3, requests);
        Assert.Equal(Errno.EAGAIN, Assert.Throws<NetStackException>(() => raw.Receive(buf)).Errno);
    }

    [PeerFact]
    public void Raw_StackSendsWithIpHdrincl_KernelAnswers()
    {
        using var peer = new TapPeer();
        using var raw = new NetSocket(peer.Net, AF_INET, SOCK_RAW, IPPROTO_RAW);
        using var icmp = new NetSocket(peer.Net, AF_INET, SOCK_RAW | SOCK_NONBLOCK, IPPROTO_ICMP);
        // An echo request with a hand-made IP header (source and ID left to the stack).
        var pkt = new byte[20 + 16];
        var ip = Ipv4Header.Create(pkt);
        ip.SetVersionIhl(4, 5);
        ip.Ttl = 33;
        ip.Protocol = IpProto.ICMP;
        ip.Destination = peer.KernelAddr;
        var h = IcmpHeader.Create(pkt.AsSpan(20));
        h.Type = IcmpType.Echo;
        h.EchoId = 0x4242;
        h.EchoSequence = 7;
        h.FillChecksum();
        Assert.Equal(36, raw.SendTo(pkt, Ep.Of(peer.KernelAddr, 0)));
        Assert.True(TapPeer.WaitUntil(() => icmp.Poll(POLLIN, 0) != 0, TimeSpan.FromSeconds(5)));
        var buf = new byte[128];
        int n = icmp.Receive(buf);
        var reply = IcmpHeader.Create(buf.AsSpan(20, n - 20));
        Assert.Equal((IcmpType.EchoReply, (ushort)0x4242, (ushort)7), (reply.Type, reply.EchoId, reply.EchoSequence));
    }
}
