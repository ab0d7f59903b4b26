using System.Buffers.Binary;
using NetStack.Net;
using NetStack.Uapi;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.PeerTests;

/// <summary>
/// The Linux kernel as the witness of IP_RECVERR: it answers the stack's datagram to a closed port
/// with its own ICMP port unreachable (quoting the whole datagram), and the stack's socket reads it
/// from its error queue as a Linux socket would (ip_icmp_error -> ip_recv_error).
/// </summary>
public sealed class ErrQueuePeerTests(ITestOutputHelper output)
{
    [PeerFact]
    public void KernelPortUnreachable_IsQueuedOnTheStacksUdpSocket_WithTheKernelAsOffender()
    {
        using var peer = new TapPeer();
        var f = peer.Net.Files;
        int fd = SocketCalls.Socket(f, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        Assert.True(fd >= 0, Errno.Name(fd));
        Assert.Equal(0, SocketCalls.Setsockopt(f, fd, SOL_IP, IP_RECVERR, 1));
        var payload = System.Text.Encoding.ASCII.GetBytes("is anybody there?");
        Assert.Equal(payload.Length, SocketCalls.Sendto(f, fd, payload, 0, SockAddr.In(peer.KernelAddr, 9)));

        // The error wakes poll with POLLERR (the kernel resolves the stack's address first).
        var pfd = new SocketCalls.PollFd[] { new(fd, POLLIN) };
        Assert.Equal(1, SocketCalls.Poll(f, pfd, 10_000));
        Assert.Equal(POLLERR, pfd[0].Revents);

        var buf = new byte[256];
        var control = new byte[64];
        var msg = new MsgHdr { HasName = true, Control = control };
        int n = SocketCalls.Recvmsg(f, fd, ref msg, buf, MSG_ERRQUEUE);
        output.WriteLine($"ret {n} flags {msg.Flags:x} control {Convert.ToHexStringLower(control, 0, msg.ControlLen)}");
        Assert.Equal(payload.Length, n);
        Assert.Equal(payload, buf[..n]); // the kernel quoted the whole datagram
        Assert.Equal((peer.KernelAddr, (ushort)9, SockaddrInSize), (msg.Name.Addr, msg.Name.Port, msg.NameLen));
        Assert.Equal(MSG_ERRQUEUE, msg.Flags);
        Assert.Equal(Cmsg.Space(SockExtendedErrSize + SockaddrInSize), msg.ControlLen);
        ControlMessage cm = default;
        foreach (var c in Cmsg.Enumerate(control.AsSpan(0, msg.ControlLen))) cm = c;
        Assert.Equal((SOL_IP, IP_RECVERR), (cm.Level, cm.Type));
        var d = cm.Data;
        Assert.Equal(Errno.ECONNREFUSED, BinaryPrimitives.ReadInt32LittleEndian(d));
        Assert.Equal(SO_EE_ORIGIN_ICMP, d[4]);
        Assert.Equal((3, 3), (d[5], d[6])); // destination unreachable, port unreachable
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(d[8..])); // ee_info
        Assert.Equal(AF_INET, BinaryPrimitives.ReadUInt16LittleEndian(d[16..]));
        Assert.Equal(peer.KernelAddr, BinaryPrimitives.ReadUInt32BigEndian(d[20..])); // the offender: the kernel

        // Taken: sk_err is clear and nothing else is queued.
        Assert.Equal(0, SocketCalls.Getsockopt(f, fd, SOL_SOCKET, SO_ERROR, out int err));
        Assert.Equal(0, err);
        msg = new MsgHdr { HasName = true, Control = control };
        Assert.Equal(-Errno.EAGAIN, SocketCalls.Recvmsg(f, fd, ref msg, buf, MSG_ERRQUEUE));
        SocketCalls.Close(f, fd);
    }
}
