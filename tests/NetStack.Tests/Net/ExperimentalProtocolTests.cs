using System.Buffers.Binary;
using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Net;

/// <summary>
/// An experimenter's protocol plugged in where the kernel would take it: an inet_protosw entry
/// (InetRegisterProtosw) and an IP protocol handler (InetAddProtocol), then reached through
/// socket() and fed by IP input like UDP. IP protocol 253 is reserved for experimentation (RFC 3692).
/// The "wire format" is a 2-byte destination port followed by the payload.
/// </summary>
public class ExperimentalProtocolTests
{
    private const int IPPROTO_EXP = 253;

    private sealed class ExpProt : Proto
    {
        public readonly Dictionary<ushort, InetSock> Bound = new();
        public override string Name => "EXP";
        public override Sock? CreateSock(NetNamespace net) => new InetSock();
        public override void Close(Sock sk, long timeout) => AfInet.SkCommonRelease(sk);
        public override void Unhash(Sock sk) => Bound.Remove(((InetSock)sk).InetNum);

        public override int GetPort(Sock sk, ushort snum)
        {
            var inet = (InetSock)sk;
            if (snum == 0) for (snum = 40000; Bound.ContainsKey(snum); snum++) { }
            if (Bound.ContainsKey(snum)) return -Errno.EADDRINUSE;
            inet.InetNum = snum;
            Bound[snum] = inet;
            return 0;
        }

        public override int Sendmsg(Sock sk, ref MsgHdr msg, ReadOnlySpan<byte> data)
        {
            if (!msg.HasName) return -Errno.EDESTADDRREQ;
            var net = sk.Net;
            uint daddr = msg.Name.Addr;
            int err = Route.IpRouteOutput(net, daddr, 0, out var rt);
            if (err != 0) return err;
            var skb = net.SkbPool.AllocWithHeadroom()!;
            var b = skb.Put(2 + data.Length);
            BinaryPrimitives.WriteUInt16BigEndian(b, msg.Name.Port);
            data.CopyTo(b[2..]);
            err = IpOutput.IpQueueXmit(net, skb, rt, rt.PrefSrc, daddr, IPPROTO_EXP);
            return err < 0 ? err : data.Length;
        }

        public override int Recvmsg(Sock sk, ref MsgHdr msg, Span<byte> buf, int flags)
        {
            var skb = Datagram.SkbRecvDatagram(sk, flags, out int err);
            if (skb is null) return err;
            int n = Math.Min(buf.Length, skb.Len);
            skb.DataSpan[..n].CopyTo(buf);
            if (msg.HasName) { msg.Name = SockAddr.In(skb.Saddr, 0); msg.NameLen = 16; }
            sk.SkbFreeDatagram(skb);
            return n;
        }

        /// <summary>The IP protocol handler: strip the port and queue on the bound socket.</summary>
        public int Rcv(SkBuff skb)
        {
            var net = skb.Dev!.Net!;
            if (skb.Len < 2 || !Bound.TryGetValue(BinaryPrimitives.ReadUInt16BigEndian(skb.DataSpan), out var sk))
                return net.KfreeSkbReason(skb, SkbDropReason.NotSpecified);
            skb.Pull(2);
            if (sk.SockQueueRcvSkb(skb) < 0) return net.KfreeSkbReason(skb, SkbDropReason.SocketRcvBuff);
            return 0;
        }
    }

    [Fact]
    public void NewProtocol_ReachableThroughSocket_AndReceivesItsPackets()
    {
        using var s = new TwoStacks();
        var protA = new ExpProt();
        var protB = new ExpProt();
        foreach (var (net, prot) in new[] { (s.A, protA), (s.B, protB) })
        {
            Assert.Equal(0, AfInet.InetRegisterProtosw(net, new InetProtosw(SOCK_DGRAM, IPPROTO_EXP, prot, InetDgramOps.Instance, 0)));
            Assert.Equal(0, net.InetAddProtocol(new NetProtocol(prot.Rcv), IPPROTO_EXP));
        }
        int a = SocketCalls.Socket(s.A.Files, AF_INET, SOCK_DGRAM, IPPROTO_EXP);
        Assert.True(a >= 3, Errno.Name(a));
        lock (s.A.SyncRoot) Assert.Same(protA, s.A.Files.Lookup(a)!.Sk!.Prot);
        int b = SocketCalls.Socket(s.B.Files, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, IPPROTO_EXP);
        Assert.Equal(0, SocketCalls.Bind(s.B.Files, b, SockAddr.In(0u, 7777)));
        Assert.Equal(0, SocketCalls.Getsockopt(s.B.Files, b, SOL_SOCKET, SO_PROTOCOL, out int proto));
        Assert.Equal(IPPROTO_EXP, proto);

        Assert.Equal(5, SocketCalls.Sendto(s.A.Files, a, "hello"u8, 0, SockAddr.In(TwoStacks.AddrB, 7777)));
        s.Pump();
        var buf = new byte[16];
        Assert.Equal(5, SocketCalls.Recvfrom(s.B.Files, b, buf, 0, out var from));
        Assert.Equal("hello", System.Text.Encoding.ASCII.GetString(buf, 0, 5));
        Assert.Equal(TwoStacks.AddrA, from.Addr);
        Assert.True(s.B.Mib.Ip[IpMib.InDelivers] >= 1);
        Assert.Equal(0, s.B.Mib.Ip[IpMib.InUnknownProtos]);

        // Poll and close go through the generic inet paths.
        var pfd = new SocketCalls.PollFd[] { new(b, POLLIN) };
        Assert.Equal(0, SocketCalls.Poll(s.B.Files, pfd, 0));
        Assert.Equal(0, SocketCalls.Close(s.B.Files, b));
        Assert.Empty(protB.Bound);
    }
}
