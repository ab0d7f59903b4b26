using NetStack.Core;
using NetStack.Net;
using NetStack.Tests.Tcp;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Ipv4;

/// <summary>
/// The IP ID of what the stack sends, as Linux's ip_select_ident_segs() chooses it: a connected
/// socket numbers its packets from its own random start; a packet with DF sent for no connected socket
/// (a SYN-ACK from a listener, a RST for no socket, an unconnected datagram) carries 0; the rest take the
/// stack's counter.
/// </summary>
public class IpSelectIdentTests
{
    /// <summary>The IP header of the next frame the device sent, taken off the queue.</summary>
    private static (ushort Id, bool Df, int Protocol) NextIp(TcpFixture f)
    {
        f.Net.Poll();
        Assert.True(f.Dev.Sent.Count > 0, "the stack sent nothing");
        var ip = Ipv4Header.Create(f.Dev.Sent.Dequeue().AsSpan(EthernetHeader.Length));
        return (ip.Id, ip.DontFragment, ip.Protocol);
    }

    [Fact]
    public void SynAckOfAListener_HasId0AndDf()
    {
        using var f = TcpFixture.Listening();
        f.Send(TcpFlags.SYN, seq: f.RemoteIss, mss: 1460);
        var (id, df, proto) = NextIp(f);
        Assert.Equal(IpProto.TCP, proto);
        Assert.True(df);
        Assert.Equal(0, id);
    }

    [Fact]
    public void ResetForNoSocket_HasId0AndDf()
    {
        using var f = new TcpFixture();
        f.Send(TcpFlags.SYN, seq: f.RemoteIss, mss: 1460); // nothing listens on port 80
        var (id, df, _) = NextIp(f);
        Assert.True(df);
        Assert.Equal(0, id);
        Assert.Equal(1, f.Net.Mib.Tcp[TcpMib.OutRsts]);
    }

    [Fact]
    public void SegmentsOfAConnection_CountFromTheSocketsOwnStart()
    {
        using var f = TcpFixture.EstablishedPassive();
        Assert.Equal(0, SocketCalls.Setsockopt(f.Files, f.Fd, IPPROTO_TCP, TCP_NODELAY, 1));
        ushort start = f.Sk.InetId;
        var ids = new List<ushort>();
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(10, f.SendData(new byte[10]));
            var (id, df, _) = NextIp(f);
            Assert.True(df);
            ids.Add(id);
        }
        // tcp: the value, then the counter moves on (inet_id += segs).
        Assert.Equal([start, (ushort)(start + 1), (ushort)(start + 2)], ids);
        Assert.Equal((ushort)(start + 3), f.Sk.InetId);
    }

    [Fact]
    public void Datagrams_UnconnectedWithDfCarry0_ConnectedCountFromTheSocket()
    {
        using var f = new TcpFixture();
        int fd = SocketCalls.Socket(f.Files, AF_INET, SOCK_DGRAM, 0);
        var to = SockAddr.In(TcpFixture.RemoteAddr, 9);
        Assert.Equal(4, SocketCalls.Sendto(f.Files, fd, new byte[4], 0, to));
        var (id, df, proto) = NextIp(f);
        Assert.Equal(IpProto.UDP, proto);
        Assert.True(df); // IP_PMTUDISC_WANT and it fits
        Assert.Equal(0, id);

        Assert.Equal(0, SocketCalls.Connect(f.Files, fd, to));
        ushort start = ((NetStack.Ipv4.InetSock)f.Files.Lookup(fd)!.Sk!).InetId;
        Assert.Equal(4, SocketCalls.Send(f.Files, fd, new byte[4], 0));
        Assert.Equal(4, SocketCalls.Send(f.Files, fd, new byte[4], 0));
        // udp: atomic_add_return(): the value after the increment.
        Assert.Equal((ushort)(start + 1), NextIp(f).Id);
        Assert.Equal((ushort)(start + 2), NextIp(f).Id);

        // Without DF (IP_PMTUDISC_DONT) a connected socket still numbers from its own counter.
        Assert.Equal(0, SocketCalls.Setsockopt(f.Files, fd, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT));
        Assert.Equal(4, SocketCalls.Send(f.Files, fd, new byte[4], 0));
        var third = NextIp(f);
        Assert.False(third.Df);
        Assert.Equal((ushort)(start + 3), third.Id);
    }
}
