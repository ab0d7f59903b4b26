using System.Buffers.Binary;
using NetStack.Api;
using NetStack.Net;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.PeerTests;

/// <summary>
/// IPv4 multicast between the stack and the Linux kernel over a TAP: a kernel member receives the
/// stack's group sends, the stack's member receives the kernel's, and the stack answers an IGMP
/// query the kernel sends with a report a packet socket in the kernel's namespace sees.
/// </summary>
public sealed class MulticastPeerTests(ITestOutputHelper output)
{
    /// <summary>struct ip_mreqn: group, interface address (both network order in the struct), ifindex.</summary>
    private static byte[] Mreqn(uint group, uint address)
    {
        var b = new byte[12];
        BinaryPrimitives.WriteUInt32BigEndian(b, group);
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(4), address);
        return b;
    }

    private static void Join(TapPeer peer, NetSocket sock, uint group) =>
        Assert.Equal(0, SocketCalls.Setsockopt(peer.Net.Files, sock.Fd, SOL_IP, IP_ADD_MEMBERSHIP, Mreqn(group, peer.StackAddr)));

    [PeerFact]
    public void KernelMember_ReceivesTheStacksGroupSends_WithTtl1()
    {
        using var peer = new TapPeer();
        var script = $$"""
            import socket
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_IP, 12, 1)  # IP_RECVTTL
            s.bind(("0.0.0.0", 6210))
            s.setsockopt(socket.SOL_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton("239.1.2.10") + socket.inet_aton("{{peer.KernelIp}}"))
            print("joined", flush=True)
            s.settimeout(15)
            data, anc, flags, addr = s.recvmsg(100, 64)
            ttl = int.from_bytes(anc[0][2][:4], "little")
            print(data.decode(), addr[0], ttl, flush=True)
            """;
        using var py = BackgroundProcess.InNamespace(peer.Ns, "joined", "/usr/bin/python3", "-c", script);
        using var sock = NetSocket.Udp(peer.Net);
        // No IP_MULTICAST_IF: the default route names the device (never its gateway's MAC).
        var group = Ep.Of(Ipv4Address.Parse("239.1.2.10"), 6210);
        Assert.True(TapPeer.WaitUntil(() => py.Output.Contains("joined"), TimeSpan.FromSeconds(10)), py.Output);
        Assert.True(TapPeer.WaitUntil(() =>
        {
            sock.SendTo("to the group"u8, group);
            return py.HasExited;
        }, TimeSpan.FromSeconds(15)), py.Output);
        output.WriteLine(py.Output);
        Assert.Contains($"to the group {peer.StackIp} 1", py.Output);
        Assert.True(peer.Counter("IpExt.OutMcastPkts") >= 1);
    }

    [PeerFact]
    public void StackMember_ReceivesTheKernelsGroupSends_AndLeavesOnClose()
    {
        using var peer = new TapPeer();
        using var sock = NetSocket.Udp(peer.Net);
        sock.Bind(Ep.Of(0, 6211));
        Join(peer, sock, Ipv4Address.Parse("239.1.2.11"));
        sock.ReceiveTimeout = 15000;
        var script = $$"""
            import socket, time
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_IP, socket.IP_MULTICAST_IF, socket.inet_aton("{{peer.KernelIp}}"))
            for i in range(20):
                s.sendto(b"from the kernel", ("239.1.2.11", 6211))
                time.sleep(0.2)
            """;
        using var py = BackgroundProcess.InNamespace(peer.Ns, null, "/usr/bin/python3", "-c", script);
        var buf = new byte[100];
        System.Net.EndPoint from = Ep.Of(0, 0);
        int n = sock.ReceiveFrom(buf, ref from);
        Assert.Equal("from the kernel", System.Text.Encoding.ASCII.GetString(buf, 0, n));
        Assert.Equal(Ep.Of(peer.KernelAddr, ((System.Net.IPEndPoint)from).Port), from);
        Assert.True(peer.Counter("IpExt.InMcastPkts") >= 1);
    }

    [PeerFact]
    public void KernelsIgmpQuery_IsAnsweredWithAnIgmpv3Report_ToAllRouters()
    {
        using var peer = new TapPeer();
        using var sock = NetSocket.Udp(peer.Net);
        Join(peer, sock, Ipv4Address.Parse("239.1.2.12"));
        // The join's own two reports go within about a second; the capture starts after them.
        Thread.Sleep(2500);
        // A packet socket on the kernel's TAP sees the stack's IGMP; a raw IGMP socket sends a
        // general IGMPv3 query (Max Resp Code 10: one second) to 224.0.0.1.
        var script = $$"""
            import socket, struct, time
            cap = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
            cap.bind(("{{peer.Tap}}", 0))
            cap.settimeout(0.2)
            q = bytearray([0x11, 10, 0, 0, 0, 0, 0, 0, 2, 125, 0, 0])
            c = sum(struct.unpack("!6H", bytes(q)))
            c = (c & 0xffff) + (c >> 16); c = (c & 0xffff) + (c >> 16)
            struct.pack_into("!H", q, 2, ~c & 0xffff)
            r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IGMP)
            r.setsockopt(socket.SOL_IP, socket.IP_MULTICAST_IF, socket.inet_aton("{{peer.KernelIp}}"))
            r.sendto(bytes(q), ("224.0.0.1", 0))
            end = time.time() + 4
            while time.time() < end:
                try:
                    f, a = cap.recvfrom(2048)
                except socket.timeout:
                    continue
                ip = f[14:]
                if len(ip) < 20 or ip[9] != 2 or socket.inet_ntoa(ip[12:16]) != "{{peer.StackIp}}":
                    continue
                ihl = (ip[0] & 15) * 4
                g = ip[ihl:]
                recs = [(g[8 + 8 * i], socket.inet_ntoa(g[12 + 8 * i:16 + 8 * i])) for i in range(struct.unpack("!H", g[6:8])[0])]
                print("igmp", f[0:6].hex(), socket.inet_ntoa(ip[16:20]), "ttl", ip[8], "ihl", ihl, "ra", ip[20:24].hex(), "type", hex(g[0]), recs, flush=True)
            """;
        var r = peer.Exec(TimeSpan.FromSeconds(30), "/usr/bin/python3", "-c", script);
        output.WriteLine(r.ToString());
        var lines = r.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        // Exactly one answer: IGMPv3 (0x22) to 224.0.0.22 (its MAC 01:00:5e:00:00:16), TTL 1, Router
        // Alert, one MODE_IS_EXCLUDE record of the group (224.0.0.1 is never reported).
        Assert.Equal("igmp 01005e000016 224.0.0.22 ttl 1 ihl 24 ra 94040000 type 0x22 [(2, '239.1.2.12')]", Assert.Single(lines));
    }
}
