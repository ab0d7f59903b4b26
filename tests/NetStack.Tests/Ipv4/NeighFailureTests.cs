using NetStack.Core;
using NetStack.Net;
using NetStack.Tests.Tcp;
using NetStack.Uapi;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Ipv4;

/// <summary>
/// A neighbour that never answers ARP: after mcast_solicit probes (3, a second apart) the entry fails
/// and every packet that waited for it is answered with an ICMP host unreachable to its source, as
/// Linux's neigh_invalidate() -> arp_error_report() -> ipv4_link_failure() does. For the stack's own
/// packets that error comes back over lo to the sending socket: a TCP connect fails with EHOSTUNREACH
/// instead of retrying SYNs for two minutes, a connected UDP socket reports it on its next call.
/// </summary>
public class NeighFailureTests
{
    /// <summary>An address on the fixture's subnet that nothing answers for.</summary>
    private static readonly uint Silent = Ipv4Address.Parse("10.0.0.3");

    private static int ArpRequests(TcpFixture f)
    {
        int n = 0;
        while (f.Dev.Sent.TryDequeue(out var frame))
            if (EthernetHeader.Create(frame).EtherType == EthP.ARP) n++;
        return n;
    }

    [Fact]
    public void TcpConnect_ToAnAddressNobodyAnswers_FailsWithEhostunreach_AfterTheArpProbes()
    {
        using var f = new TcpFixture();
        int fd = f.Socket();
        Assert.Equal(-Errno.EINPROGRESS, SocketCalls.Connect(f.Files, fd, SockAddr.In(Silent, 80)));
        f.Advance(2_500);
        Assert.Equal(0, SocketCalls.Getsockopt(f.Files, fd, SOL_SOCKET, SO_ERROR, out int pending));
        Assert.Equal(0, pending); // still resolving after 2.5 s: the third probe is out
        f.Advance(1_000);
        Assert.Equal(3, ArpRequests(f));
        Assert.Equal(0, SocketCalls.Getsockopt(f.Files, fd, SOL_SOCKET, SO_ERROR, out int err));
        Assert.Equal(Errno.EHOSTUNREACH, err);
        // One host unreachable per packet that waited (the SYN and its retransmissions): the first
        // ends the connection, the others find no socket.
        Assert.InRange(f.Net.Mib.Icmp[IcmpMib.OutDestUnreachs], 1, 3);
        Assert.Equal(f.Net.Mib.Icmp[IcmpMib.OutDestUnreachs], f.Net.Mib.Icmp[IcmpMib.InDestUnreachs]);
        Assert.Equal(1, f.Net.Mib.ArpCache[NeighStat.ResFailed]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ConnectedUdp_ToAnAddressNobodyAnswers_ReportsEhostunreach_OnlyWithIpRecverr(bool recverr)
    {
        // Host unreachable is a soft error for UDP (icmp_err_convert[ICMP_HOST_UNREACH].fatal = 0):
        // __udp4_lib_err() passes it to a connected socket only with IP_RECVERR.
        using var f = new TcpFixture();
        int fd = SocketCalls.Socket(f.Files, AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        if (recverr) Assert.Equal(0, SocketCalls.Setsockopt(f.Files, fd, SOL_IP, IP_RECVERR, 1));
        Assert.Equal(0, SocketCalls.Connect(f.Files, fd, SockAddr.In(Silent, 9)));
        Assert.Equal(4, SocketCalls.Send(f.Files, fd, new byte[4], 0));
        f.Advance(3_500);
        Assert.Equal(1, f.Net.Mib.Icmp[IcmpMib.OutDestUnreachs]);
        Assert.Equal(1, f.Net.Mib.Icmp[IcmpMib.InDestUnreachs]);
        Assert.Equal(recverr ? -Errno.EHOSTUNREACH : -Errno.EAGAIN, SocketCalls.Recv(f.Files, fd, new byte[16], 0));
        Assert.Equal(-Errno.EAGAIN, SocketCalls.Recv(f.Files, fd, new byte[16], 0)); // reported once
    }
}
