using System.Text;
using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Tcp;

/// <summary>
/// The algorithm an accepted connection gets (tcp_ca_openreq_child()): the namespace's default at
/// accept time, unless the application set one on the listener with TCP_CONGESTION
/// (icsk_ca_setsockopt), even the one that was the default then.
/// </summary>
public class TcpCaOpenreqChildTests
{
    private static string ChildCc(Action<NetNamespace, int> beforeListen, Action<NetNamespace> beforeConnect)
    {
        using var s = new TwoStacks();
        int lfd = SocketCalls.Socket(s.B.Files, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        beforeListen(s.B, lfd);
        Assert.Equal(0, SocketCalls.Bind(s.B.Files, lfd, SockAddr.In(TwoStacks.AddrB, 5000)));
        Assert.Equal(0, SocketCalls.Listen(s.B.Files, lfd, 8));
        beforeConnect(s.B);
        int cfd = SocketCalls.Socket(s.A.Files, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        Assert.Equal(-Errno.EINPROGRESS, SocketCalls.Connect(s.A.Files, cfd, SockAddr.In(TwoStacks.AddrB, 5000)));
        s.Pump();
        int afd = SocketCalls.Accept4(s.B.Files, lfd, out _, 0);
        Assert.True(afd >= 0, $"accept: {afd}");
        return ((TcpSock)s.B.Files.Lookup(afd)!.Sk!).CaOps.Name;
    }

    private static void Default(NetNamespace net, string cc) => Assert.Equal(0, net.Sysctl.TrySet("net.ipv4.tcp_congestion_control", cc));

    private static void Set(NetNamespace net, int fd, string cc) =>
        Assert.Equal(0, SocketCalls.Setsockopt(net.Files, fd, SOL_TCP, TCP_CONGESTION, Encoding.ASCII.GetBytes(cc)));

    [Fact]
    public void ListenerWithoutTcpCongestion_ChildGetsTheDefaultOfAcceptTime()
    {
        Assert.Equal("bbr", ChildCc((net, _) => Default(net, "cubic"), net => Default(net, "bbr")));
    }

    [Fact]
    public void ListenerWithTcpCongestion_ChildKeepsIt_EvenTheDefaultOfThen()
    {
        Assert.Equal("reno", ChildCc((net, lfd) => Set(net, lfd, "reno"), net => Default(net, "bbr")));
        Assert.Equal("cubic", ChildCc((net, lfd) => { Default(net, "cubic"); Set(net, lfd, "cubic"); }, net => Default(net, "bbr")));
    }
}
