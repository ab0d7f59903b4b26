// A new transport protocol, plugged into the stack where Linux takes one: an inet_protosw entry
// (socket(AF_INET, SOCK_DGRAM, 253) finds it), and an IP protocol handler (inet_protos[253]
// receives its packets). IP protocol 253 is reserved for experimentation (RFC 3692). The wire
// format is the simplest there is: a 2-byte destination port, then the payload.
//
// It runs on a stack with only its loopback device, so it needs no TAP and no root:
//   dotnet run --project samples/CustomProtocol
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using NetStack.Api;
using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Uapi;

const int IPPROTO_EXP = 253;

using var net = new NetNamespace("sample"); // lo (127.0.0.1/8) only
var exp = new ExpProt(IPPROTO_EXP);
// inet_register_protosw(): SOCK_DGRAM + protocol 253 -> our struct proto, with inet_dgram_ops for the socket calls.
if (AfInet.InetRegisterProtosw(net, new InetProtosw(SocketConstants.SOCK_DGRAM, IPPROTO_EXP, exp, InetDgramOps.Instance, 0)) != 0)
    throw new InvalidOperationException("inet_register_protosw failed");
// inet_add_protocol(): IP input hands protocol 253's packets to our handler.
if (net.InetAddProtocol(new NetProtocol(exp.Rcv), IPPROTO_EXP) != 0)
    throw new InvalidOperationException("inet_add_protocol failed");
net.Start();

// From here on it is an ordinary socket of the stack.
using var server = new NetSocket(net, AddressFamily.InterNetwork, SocketType.Dgram, (ProtocolType)IPPROTO_EXP);
server.Bind(new IPEndPoint(IPAddress.Loopback, 7777));
using var client = new NetSocket(net, AddressFamily.InterNetwork, SocketType.Dgram, (ProtocolType)IPPROTO_EXP);
await client.SendToAsync(Encoding.ASCII.GetBytes("hello over protocol 253"), new IPEndPoint(IPAddress.Loopback, 7777));

var buffer = new byte[256];
var r = await server.ReceiveFromAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
Console.WriteLine($"received \"{Encoding.ASCII.GetString(buffer, 0, r.ReceivedBytes)}\" from {((IPEndPoint)r.RemoteEndPoint).Address} over IP protocol {IPPROTO_EXP}");
Console.WriteLine($"socket type {server.SocketType}, protocol {(int)server.ProtocolType}; Ip InDelivers {net.Mib.Ip[IpMib.InDelivers]}");
return 0;

/// <summary>The protocol's struct proto: how its socks are made, bound, sent from and received on.</summary>
sealed class ExpProt(int protocol) : Proto
{
    private readonly Dictionary<ushort, InetSock> _bound = new();

    public override string Name => "EXP";

    // sk_alloc: an inet sock is enough (addresses and ports live in it).
    public override Sock? CreateSock(NetNamespace net) => new InetSock();

    public override void Close(Sock sk, long timeout) => AfInet.SkCommonRelease(sk);

    public override void Unhash(Sock sk) => _bound.Remove(((InetSock)sk).InetNum);

    // get_port: bind() and autobind come here; 0 asks for any free port.
    public override int GetPort(Sock sk, ushort snum)
    {
        var inet = (InetSock)sk;
        if (snum == 0) for (snum = 40000; _bound.ContainsKey(snum); snum++) { }
        if (_bound.ContainsKey(snum)) return -Errno.EADDRINUSE;
        inet.InetNum = snum;
        _bound[snum] = inet;
        return 0;
    }

    // sendmsg: route, build the packet behind the IP header's headroom, hand it to IP output.
    public override int Sendmsg(Sock sk, ref MsgHdr msg, ReadOnlySpan<byte> data)
    {
        if (!msg.HasName) return -Errno.EDESTADDRREQ;
        var net = sk.Net;
        uint daddr = msg.Name.Addr;
        int err = Route.IpRouteOutput(net, daddr, 0, out var rt);
        if (err != 0) return err;
        var skb = net.AllocSkb(2 + data.Length);
        if (skb is null) return -Errno.ENOBUFS;
        var b = skb.Put(2 + data.Length);
        BinaryPrimitives.WriteUInt16BigEndian(b, msg.Name.Port);
        data.CopyTo(b[2..]);
        err = IpOutput.IpQueueXmit(net, skb, rt, rt.PrefSrc, daddr, protocol);
        return err < 0 ? err : data.Length;
    }

    // recvmsg: the generic datagram queue does the waiting (blocking, O_NONBLOCK, timeouts).
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

    /// <summary>The IP protocol handler (net_protocol.handler): strip the port, queue on the bound sock.</summary>
    public int Rcv(SkBuff skb)
    {
        var net = skb.Dev!.Net!;
        if (skb.Len < 2 || !_bound.TryGetValue(BinaryPrimitives.ReadUInt16BigEndian(skb.DataSpan), out var sk))
            return net.KfreeSkbReason(skb, SkbDropReason.NotSpecified);
        skb.Pull(2);
        if (sk.SockQueueRcvSkb(skb) < 0) return net.KfreeSkbReason(skb, SkbDropReason.SocketRcvBuff);
        return 0;
    }
}
