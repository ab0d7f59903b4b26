using System.Buffers.Binary;
using System.Net;
using NetStack.Core;
using NetStack.Ipv6;
using NetStack.Net;
using NetStack.Uapi;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.PeerTests;

/// <summary>
/// IPv6 path MTU discovery and raw IPv6 sockets against the Linux kernel across a TAP (issue 11),
/// ports 7850-7859: a raw ICMPv6 socket in the kernel's namespace answers a datagram of the stack with a Packet
/// Too Big, the stack lowers its path MTU and its next datagram reaches the kernel in fragments
/// that fit (the kernel's Ip6ReasmOKs counts them); the stack's raw ICMPv6 socket pings the kernel
/// and sees the kernel's `ping -6` to it.
/// </summary>
public sealed class Pmtu6PeerTests(ITestOutputHelper output)
{
    private const string KernelGlobal = "fd00:78::1", StackGlobal = "fd00:78::2";
    private static readonly UInt128 Kernel6 = Ipv6Address.Parse(KernelGlobal), Stack6 = Ipv6Address.Parse(StackGlobal);
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private static TapPeer Peer()
    {
        var peer = new TapPeer(ipv6: true, configure: o => o.Ipv6Address = IPAddress.Parse(StackGlobal));
        try
        {
            peer.Exec("ip", "-6", "addr", "add", $"{KernelGlobal}/64", "dev", peer.Tap, "nodad");
            return peer;
        }
        catch
        {
            peer.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The kernel's side: a UDP socket on 7850; the first datagram (starting 'A') is answered by a
    /// Packet Too Big of MTU 1280 quoting it (from a raw ICMPv6 socket), then the script waits for one starting 'B' and
    /// prints its length and how many datagrams the kernel reassembled meanwhile.
    /// </summary>
    private const string KernelScript = """
        import socket, struct, sys
        def reasm():
            for line in open('/proc/net/snmp6'):
                k, v = line.split()
                if k == 'Ip6ReasmOKs': return int(v)
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.bind(('::', 7850))
        s.settimeout(30)
        d, a = s.recvfrom(65536)
        while d[:1] != b'A': d, a = s.recvfrom(65536)
        before = reasm()
        # The datagram as the stack sent it: IPv6 header, UDP header, data (the quote stops at 1232 bytes).
        inner = struct.pack('!IHBB', 6 << 28, 8 + len(d), 17, 64) + socket.inet_pton(socket.AF_INET6, a[0]) + \
            socket.inet_pton(socket.AF_INET6, sys.argv[1]) + struct.pack('!HHHH', a[1], 7850, 8 + len(d), 0) + d
        # A raw ICMPv6 socket: the kernel fills the checksum (offset 2).
        r = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        r.sendto(struct.pack('!BBHI', 2, 0, 0, 1280) + inner[:1232], (a[0], 0))
        d, a = s.recvfrom(65536)
        while d[:1] != b'B': d, a = s.recvfrom(65536)
        print(len(d), reasm() - before, d == b'B' * len(d))
        """;

    [PeerFact]
    public async Task KernelPacketTooBig_LowersThePathMtu_AndTheNextDatagramArrivesInFragments()
    {
        using var peer = Peer();
        var f = peer.Net.Files;
        int u = SocketCalls.Socket(f, AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        Assert.Equal(0, SocketCalls.Connect(f, u, SockAddr.In6(Kernel6, 7850)));
        Assert.Equal(0, SocketCalls.Getsockopt(f, u, SOL_IPV6, IPV6_MTU, out int mtu));
        Assert.Equal(1500, mtu);
        var script = Path.Combine(Path.GetTempPath(), $"pmtu6-{Environment.ProcessId}-{Guid.NewGuid():n}.py");
        File.WriteAllText(script, KernelScript);
        try
        {
            var kernel = Task.Run(() => peer.Exec(Timeout, "python3", script, KernelGlobal));
            // Until the kernel's script listens and answers: one 'A' datagram of 1400 bytes at a time.
            var a = Enumerable.Repeat((byte)'A', 1400).ToArray();
            bool learned = TapPeer.WaitUntil(() =>
            {
                SocketCalls.Send(f, u, a, 0);
                Thread.Sleep(200);
                return peer.Net.Ipv6.Icmp6Stats[Icmp6Mib.Icmp6InPktTooBigs] > 0 || kernel.IsCompleted;
            }, TimeSpan.FromSeconds(40));
            Assert.True(learned && peer.Net.Ipv6.Icmp6Stats[Icmp6Mib.Icmp6InPktTooBigs] > 0,
                $"no Packet Too Big reached the stack: {(kernel.IsCompleted ? kernel.Result.ToString() : "script still running")}");
            Assert.Equal(0, SocketCalls.Getsockopt(f, u, SOL_IPV6, IPV6_MTU, out mtu));
            Assert.Equal(1280, mtu);
            // A Packet Too Big on a connected socket with path MTU discovery on is a hard error
            // (__udp6_lib_err: sk_err = EMSGSIZE), reported once by the next send or SO_ERROR, as on
            // Linux: whether a send of the loop above took it depends on timing, so read it here.
            Assert.Equal(0, SocketCalls.Getsockopt(f, u, SOL_SOCKET, SO_ERROR, out int soError));
            Assert.Contains(soError, new[] { 0, Errno.EMSGSIZE });
            long creates = peer.Net.Ip6Mib[Ipv6Mib.Ip6FragCreates];
            Assert.Equal(1400, SocketCalls.Send(f, u, Enumerable.Repeat((byte)'B', 1400).ToArray(), 0));
            Assert.Equal(creates + 2, peer.Net.Ip6Mib[Ipv6Mib.Ip6FragCreates]);
            var k = await kernel.WaitAsync(Timeout);
            output.WriteLine(k.ToString());
            Assert.Equal(0, k.ExitCode);
            var parts = k.StdOut.Trim().Split(' ');
            Assert.Equal("1400", parts[0]); // the whole datagram, byte for byte
            Assert.Equal("True", parts[2]);
            Assert.True(int.Parse(parts[1]) >= 1, $"the kernel reassembled nothing: {k.StdOut}");
        }
        finally
        {
            File.Delete(script);
        }
    }

    [PeerFact]
    public void StackRawIcmpv6Socket_PingsTheKernel_AndSeesTheKernelsPing()
    {
        using var peer = Peer();
        var f = peer.Net.Files;
        int r = SocketCalls.Socket(f, AF_INET6, SOCK_RAW | SOCK_NONBLOCK, IPPROTO_ICMPV6);
        Assert.True(r >= 0);
        // Only echo requests and replies (ICMP6_FILTER_SETBLOCKALL, then SETPASS 128 and 129): no neighbour discovery.
        var filter = Enumerable.Repeat((byte)0xFF, 32).ToArray();
        filter[16] = 0xFC;
        Assert.Equal(0, SocketCalls.Setsockopt(f, r, SOL_ICMPV6, ICMPV6_FILTER, filter));
        Assert.Equal(0, SocketCalls.Setsockopt(f, r, SOL_IPV6, IPV6_RECVHOPLIMIT, 1));
        var req = new byte[8 + 32];
        req[0] = Icmpv6Type.EchoRequest;
        BinaryPrimitives.WriteUInt16BigEndian(req.AsSpan(4), 0x7851);
        BinaryPrimitives.WriteUInt16BigEndian(req.AsSpan(6), 1);
        for (int i = 8; i < req.Length; i++) req[i] = (byte)i;
        var buf = new byte[200];
        var control = new byte[64];
        int n = -1;
        var msg = new MsgHdr();
        // Until the kernel answers (the first request waits for neighbour discovery): one request at a time.
        for (var deadline = DateTime.UtcNow.AddSeconds(20); DateTime.UtcNow < deadline && n <= 0;)
        {
            Assert.Equal(req.Length, SocketCalls.Sendto(f, r, req, 0, SockAddr.In6(Kernel6, 0)));
            Thread.Sleep(100);
            msg = new MsgHdr { HasName = true, Control = control };
            n = SocketCalls.Recvmsg(f, r, ref msg, buf, 0);
        }
        Assert.True(n > 0, "the kernel did not answer the raw socket's echo request");
        Assert.Equal(req.Length, n);
        Assert.Equal(Icmpv6Type.EchoReply, buf[0]);
        Assert.Equal(req[4..], buf[4..n]);
        Assert.Equal(Kernel6, msg.Name.Addr6);
        Assert.Equal(0, Checksum.TcpUdpV6(Kernel6, Stack6, NextHdr.Icmp, buf.AsSpan(0, n)));
        Assert.Equal(Cmsg.Space(4), msg.ControlLen);
        Assert.Equal(64, BinaryPrimitives.ReadInt32LittleEndian(control.AsSpan(Cmsg.HeaderSize))); // the kernel's hop limit
        while (SocketCalls.Recv(f, r, buf, 0) > 0) { } // the replies to the retries, if any

        // The kernel's ping: the stack answers it, and the raw socket gets its own copy of each request.
        var p = peer.Exec(Timeout, "ping", "-6", "-n", "-c", "3", "-i", "0.2", "-W", "2", "-p", "7852", StackGlobal);
        output.WriteLine(p.StdOut);
        Assert.Equal(3, PingSummary.Parse(p.StdOut).Received);
        int requests = 0;
        while ((n = SocketCalls.Recvfrom(f, r, buf, 0, out var from)) > 0)
            if (buf[0] == Icmpv6Type.EchoRequest && from.Addr6 == Kernel6 && buf[n - 1] == 0x52) requests++;
        Assert.Equal(3, requests);
    }
}
