using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using NetStack.Api;
using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.PeerTests;

/// <summary>
/// TCP Fast Open (RFC 7413) between the Linux kernel and the stack, both ways: the first connection
/// asks for a cookie, the second carries its data in the SYN. The witnesses are the passive side's
/// TCPFastOpenPassive counter (the stack's, or the kernel's /proc/net/netstat inside the peer
/// namespace) and the active side's TCPFastOpenActive. The IPv6 cases (issue 11) run the same
/// exchanges over native IPv6 (ports 8400-8449); with the kernel's key set to the stack's, the
/// cookie the kernel hands the stack is the one the stack computes over the two 16-byte addresses.
/// </summary>
public sealed class TcpFastOpenPeerTests(ITestOutputHelper output)
{
    /// <summary>A TcpExt counter of the peer namespace's kernel.</summary>
    private static long KernelTcpExt(TapPeer peer, string name)
    {
        var lines = peer.Exec("cat", "/proc/net/netstat").StdOut.Split('\n');
        for (int i = 0; i + 1 < lines.Length; i++)
        {
            if (!lines[i].StartsWith("TcpExt:", StringComparison.Ordinal)) continue;
            var names = lines[i].Split(' ');
            var values = lines[i + 1].Split(' ');
            int at = Array.IndexOf(names, name);
            if (at >= 0) return long.Parse(values[at]);
        }
        throw new InvalidOperationException($"no TcpExt {name} in the peer's /proc/net/netstat");
    }

    /// <summary>The kernel's Fast Open client: two connections to IP PORT (IPv4 or IPv6, by the address).</summary>
    private const string KernelClient = """
        import socket, sys
        ip, port = sys.argv[1], int(sys.argv[2])
        family = socket.AF_INET6 if ":" in ip else socket.AF_INET
        for text in (b"first connection", b"second, in the SYN"):
            s = socket.socket(family, socket.SOCK_STREAM)
            n = s.sendto(text, socket.MSG_FASTOPEN, (ip, port))
            assert n == len(text), n
            echo = b""
            while len(echo) < len(text):
                d = s.recv(100)
                if not d: break
                echo += d
            assert echo == text, echo
            s.close()
        print("done", flush=True)
        """;

    [PeerFact]
    public void KernelClient_SecondConnectionCarriesItsDataInTheSyn_TheStackAcceptsIt()
    {
        using var peer = new TapPeer();
        peer.Exec("sysctl", "-qw", "net.ipv4.tcp_fastopen=1");
        peer.Net.Ipv4.Sysctl.TcpFastopen = TcpFastopen.TfoClientEnable | TcpFastopen.TfoServerEnable;
        using var listener = NetSocket.Tcp(peer.Net);
        listener.Bind(Ep.Of(peer.StackAddr, 6270));
        listener.FastOpenQueueLength = 8;
        Assert.Equal(8, listener.FastOpenQueueLength);
        listener.Listen(8);
        using var client = BackgroundProcess.InNamespace(peer.Ns, null, "/usr/bin/python3", "-u", "-c", KernelClient, peer.StackIp, "6270");
        var received = new List<string>();
        var buf = new byte[100];
        for (int i = 0; i < 2; i++)
        {
            using var a = listener.Accept();
            int n = a.Receive(buf);
            received.Add(Encoding.ASCII.GetString(buf, 0, n));
            // Before the echo: the client opens its second connection only once it has it.
            if (i == 0) Assert.Equal(0, peer.Counter("TcpExt.TCPFastOpenPassive"));
            Assert.Equal(n, a.Send(buf.AsSpan(0, n)));
        }
        Assert.True(client.WaitForExit(TimeSpan.FromSeconds(20)), client.Output);
        output.WriteLine(client.Output);
        Assert.Equal(0, client.ExitCode);
        Assert.Equal(["first connection", "second, in the SYN"], received);
        Assert.Equal(1, peer.Counter("TcpExt.TCPFastOpenCookieReqd"));
        Assert.Equal(1, peer.Counter("TcpExt.TCPFastOpenPassive"));
        Assert.Equal(0, peer.Counter("TcpExt.TCPFastOpenPassiveFail"));
        Assert.Equal(1, KernelTcpExt(peer, "TCPFastOpenActive"));
    }

    private const string KernelServer = """
        import socket, sys
        port = int(sys.argv[1])
        l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        l.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, 5)
        l.bind(("0.0.0.0", port))
        l.listen(8)
        print("listening", flush=True)
        for _ in range(2):
            a, _ = l.accept()
            d = a.recv(100)
            a.sendall(d)
            a.close()
        print("done", flush=True)
        """;

    [PeerFact]
    public void StackClient_SecondConnectionCarriesItsDataInTheSyn_TheKernelAcceptsIt()
    {
        using var peer = new TapPeer();
        peer.Exec("sysctl", "-qw", "net.ipv4.tcp_fastopen=3");
        long passiveBefore = KernelTcpExt(peer, "TCPFastOpenPassive");
        using var server = BackgroundProcess.InNamespace(peer.Ns, "listening", "/usr/bin/python3", "-u", "-c", KernelServer, "6271").WaitReady();
        var buf = new byte[100];
        foreach (var text in new[] { "first connection", "second, in the SYN" })
        {
            using var s = NetSocket.Tcp(peer.Net);
            var data = Encoding.ASCII.GetBytes(text);
            // Blocking: returns once connected, with all of the data queued (in the SYN or after it).
            Assert.Equal(data.Length, s.SendTo(data, MSG_FASTOPEN, Ep.Of(peer.KernelAddr, 6271)));
            int got = 0;
            while (got < data.Length)
            {
                int n = s.Receive(buf.AsSpan(got));
                Assert.True(n > 0, "end of stream before the echo");
                got += n;
            }
            Assert.Equal(text, Encoding.ASCII.GetString(buf, 0, got));
        }
        Assert.True(server.WaitForExit(TimeSpan.FromSeconds(20)), server.Output);
        Assert.Equal(1, KernelTcpExt(peer, "TCPFastOpenPassive") - passiveBefore);
        Assert.Equal(1, peer.Counter("TcpExt.TCPFastOpenActive"));
        Assert.Equal(0, peer.Counter("TcpExt.TCPFastOpenActiveFail"));
    }
    // ---- IPv6 ----

    private const string KernelGlobal6 = "fd00:84::1", StackGlobal6 = "fd00:84::2";

    private static TapPeer NewPeer6()
    {
        var peer = new TapPeer(ipv6: true, configure: o =>
        {
            o.Ipv6Address = IPAddress.Parse(StackGlobal6);
            o.PcapPath = null;
        });
        try
        {
            peer.Exec("ip", "-6", "addr", "add", $"{KernelGlobal6}/64", "dev", peer.Tap, "nodad");
        }
        catch
        {
            peer.Dispose();
            throw;
        }
        return peer;
    }

    [PeerFact]
    public void KernelClient_OverIpv6_SecondConnectionCarriesItsDataInTheSyn_TheStackAcceptsIt()
    {
        using var peer = NewPeer6();
        // net.ipv4.tcp_fastopen governs IPv6 too.
        peer.Exec("sysctl", "-qw", "net.ipv4.tcp_fastopen=1");
        peer.Net.Ipv4.Sysctl.TcpFastopen = TcpFastopen.TfoClientEnable | TcpFastopen.TfoServerEnable;
        using var listener = new NetSocket(peer.Net, AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.IPv6Any, 8410));
        listener.FastOpenQueueLength = 8;
        listener.Listen(8);
        long activeBefore = KernelTcpExt(peer, "TCPFastOpenActive");
        using var client = BackgroundProcess.InNamespace(peer.Ns, null, "/usr/bin/python3", "-u", "-c", KernelClient, StackGlobal6, "8410");
        var received = new List<string>();
        var buf = new byte[100];
        for (int i = 0; i < 2; i++)
        {
            using var a = listener.Accept();
            Assert.Equal(new IPEndPoint(IPAddress.Parse(KernelGlobal6), ((IPEndPoint)a.RemoteEndPoint!).Port), a.RemoteEndPoint);
            int n = a.Receive(buf);
            received.Add(Encoding.ASCII.GetString(buf, 0, n));
            if (i == 0) Assert.Equal(0, peer.Counter("TcpExt.TCPFastOpenPassive"));
            Assert.Equal(n, a.Send(buf.AsSpan(0, n)));
        }
        Assert.True(client.WaitForExit(TimeSpan.FromSeconds(20)), client.Output);
        output.WriteLine(client.Output);
        Assert.Equal(0, client.ExitCode);
        Assert.Equal(["first connection", "second, in the SYN"], received);
        Assert.Equal(1, peer.Counter("TcpExt.TCPFastOpenCookieReqd"));
        Assert.Equal(1, peer.Counter("TcpExt.TCPFastOpenPassive"));
        Assert.Equal(0, peer.Counter("TcpExt.TCPFastOpenPassiveFail"));
        Assert.Equal(1, KernelTcpExt(peer, "TCPFastOpenActive") - activeBefore);
        // Nothing went over IPv4.
        Assert.Equal(0, peer.Net.Mib.Ip[IpMib.InReceives]);
    }

    private const string KernelServer6 = """
        import socket, sys
        port = int(sys.argv[1])
        l = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        l.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, 5)
        l.bind(("::", port))
        l.listen(8)
        print("listening", flush=True)
        for _ in range(3):
            a, _ = l.accept()
            d = a.recv(100)
            a.sendall(d)
            a.close()
        print("done", flush=True)
        """;

    [PeerFact]
    public void StackClient_OverIpv6_SecondConnectionCarriesItsDataInTheSyn_CookieIsTheKernels()
    {
        using var peer = NewPeer6();
        peer.Exec("sysctl", "-qw", "net.ipv4.tcp_fastopen=3");
        // The key bytes 00..0f, as four little-endian words (the stack's unit tests use the same key).
        peer.Exec("sysctl", "-qw", "net.ipv4.tcp_fastopen_key=03020100-07060504-0b0a0908-0f0e0d0c");
        long passiveBefore = KernelTcpExt(peer, "TCPFastOpenPassive");
        long reqdBefore = KernelTcpExt(peer, "TCPFastOpenCookieReqd");
        using var server = BackgroundProcess.InNamespace(peer.Ns, "listening", "/usr/bin/python3", "-u", "-c", KernelServer6, "8411").WaitReady();
        var dst = new IPEndPoint(IPAddress.Parse(KernelGlobal6), 8411);
        var buf = new byte[100];
        void Echo(NetSocket s, string text)
        {
            int got = 0;
            while (got < text.Length)
            {
                int n = s.Receive(buf.AsSpan(got));
                Assert.True(n > 0, "end of stream before the echo");
                got += n;
            }
            Assert.Equal(text, Encoding.ASCII.GetString(buf, 0, got));
        }
        foreach (var text in new[] { "first connection", "second, in the SYN" })
        {
            using var s = new NetSocket(peer.Net, AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
            var data = Encoding.ASCII.GetBytes(text);
            Assert.Equal(data.Length, s.SendTo(data, MSG_FASTOPEN, dst));
            Echo(s, text);
        }
        // The kernel's cookie, cached under the IPv6 pair, is SipHash-2-4 of (stack, kernel) under the shared key.
        var (key, tm) = Assert.Single(peer.Net.Ipv4.TcpFastopenCache);
        UInt128 stack6 = Ipv6Address.Parse(StackGlobal6), kernel6 = Ipv6Address.Parse(KernelGlobal6);
        Assert.Equal((stack6, kernel6), key);
        ulong k0 = 0x0706050403020100UL, k1 = 0x0f0e0d0c0b0a0908UL;
        output.WriteLine($"kernel's cookie: {Convert.ToHexString(tm.Cookie.Bytes)}");
        Assert.Equal(TcpFastopen.CookieGenCipher(stack6, kernel6, k0, k1), tm.Cookie);
        // TCP_FASTOPEN_CONNECT: connect returns at once, the first write rides in the SYN.
        using (var s = new NetSocket(peer.Net, AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp))
        {
            s.FastOpenConnect = true;
            s.Connect(dst);
            Assert.Equal(5, s.Send("third"u8));
            Echo(s, "third");
        }
        Assert.True(server.WaitForExit(TimeSpan.FromSeconds(20)), server.Output);
        Assert.Equal(1, KernelTcpExt(peer, "TCPFastOpenCookieReqd") - reqdBefore);
        Assert.Equal(2, KernelTcpExt(peer, "TCPFastOpenPassive") - passiveBefore);
        Assert.Equal(2, peer.Counter("TcpExt.TCPFastOpenActive"));
        Assert.Equal(0, peer.Counter("TcpExt.TCPFastOpenActiveFail"));
        Assert.Equal(0, peer.Net.Mib.Ip[IpMib.OutRequests]);
    }
}
