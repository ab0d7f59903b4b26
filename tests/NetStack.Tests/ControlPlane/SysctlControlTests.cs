using NetStack.Api;
using NetStack.Core;
using NetStack.Net;
using NetStack.Tests.Tcp;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.ControlPlane;

[Collection(NetStack.Tests.Tcp.CongestionRegistryCollection.Name)]
public class SysctlControlTests
{
    [Fact]
    public void TcpCongestionControl_ReadSetByName_UnknownIsEnoent_NewSocketsFollow()
    {
        using var s = new TwoStacks();
        Assert.True(s.A.Sysctl.TryGet("net.ipv4.tcp_congestion_control", out var cc));
        Assert.Equal("cubic", cc);
        Assert.Equal(-Errno.ENOENT, s.A.Sysctl.TrySet("net.ipv4.tcp_congestion_control", "vegas"));
        Assert.Equal(0, s.A.Sysctl.TrySet("net.ipv4.tcp_congestion_control", "reno\n"));
        Assert.True(s.A.Sysctl.TryGet("net.ipv4.tcp_congestion_control", out cc));
        Assert.Equal("reno", cc);
        var (_, cfd, afd) = TcpTwoStackTests.Connect(s);
        Assert.Equal("reno", NetStackInfo.GetTcpInfo(s.A, cfd)!.Value.CongestionControl);
        Assert.Equal("cubic", NetStackInfo.GetTcpInfo(s.B, afd)!.Value.CongestionControl);
        Assert.True(s.A.Sysctl.TryGet("net.ipv4.tcp_available_congestion_control", out var avail));
        Assert.Equal("reno cubic bbr dctcp", avail);
        Assert.Equal(-Errno.EACCES, s.A.Sysctl.TrySet("net.ipv4.tcp_available_congestion_control", "reno"));
    }

    [Theory]
    [InlineData("1000 2000", -Errno.EINVAL)]   // low inside the privileged ports (ip_unprivileged_port_start 1024)
    [InlineData("2000 1000", -Errno.EINVAL)]
    [InlineData("0 100", -Errno.EINVAL)]
    [InlineData("40000 70000", -Errno.EINVAL)]
    [InlineData("40000", -Errno.EINVAL)]
    [InlineData("40000 40000", 0)]             // one port is a valid range
    [InlineData("1024 65535", 0)]
    public void IpLocalPortRange_LinuxChecks(string value, int expected)
    {
        using var net = new NetNamespace();
        Assert.Equal(expected, net.Sysctl.TrySet("net.ipv4.ip_local_port_range", value));
        Assert.True(net.Sysctl.TryGet("net.ipv4.ip_local_port_range", out var v));
        Assert.Equal(expected == 0 ? value.Replace(' ', '\t') : "32768\t60999", v);
    }

    [Fact]
    public void IpUnprivilegedPortStart_MayNotPassTheLocalRange()
    {
        using var net = new NetNamespace();
        Assert.Equal(0, net.Sysctl.TrySet("net.ipv4.ip_local_port_range", "2000 3000"));
        Assert.Equal(-Errno.EINVAL, net.Sysctl.TrySet("net.ipv4.ip_unprivileged_port_start", "2001"));
        Assert.Equal(0, net.Sysctl.TrySet("net.ipv4.ip_unprivileged_port_start", "2000"));
        Assert.Equal(-Errno.EINVAL, net.Sysctl.TrySet("net.ipv4.ip_local_port_range", "1999 3000"));
    }

    [Fact]
    public void IpLocalPortRange_IsWhatConnectPicksFrom()
    {
        using var s = new TwoStacks();
        Assert.Equal(0, s.A.Sysctl.TrySet("net.ipv4.ip_local_port_range", "40000 40000"));
        var (_, cfd, _) = TcpTwoStackTests.Connect(s);
        Assert.Equal(0, SocketCalls.Getsockname(s.A.Files, cfd, out var local));
        Assert.Equal(40000, local.Port);
        int fd2 = TcpTwoStackTests.Sock(s.A);
        // The only port is taken for this destination: EADDRNOTAVAIL, as Linux.
        Assert.Equal(-Errno.EADDRNOTAVAIL, SocketCalls.Connect(s.A.Files, fd2, SockAddr.In(TwoStacks.AddrB, 5000)));
    }

    [Theory]
    [InlineData("net.ipv4.tcp_sack")]
    [InlineData("net.ipv4.tcp_timestamps")]
    [InlineData("net.ipv4.tcp_window_scaling")]
    public void TcpOptionKnobs_AreU8_AsLinux(string name)
    {
        using var net = new NetNamespace();
        Assert.True(net.Sysctl.TryGet(name, out var v));
        Assert.Equal("1", v);
        Assert.Equal(0, net.Sysctl.TrySet(name, "2"));
        Assert.True(net.Sysctl.TryGet(name, out v));
        Assert.Equal("2", v);
        Assert.Equal(-Errno.EINVAL, net.Sysctl.TrySet(name, "256"));
        Assert.Equal(-Errno.EINVAL, net.Sysctl.TrySet(name, "on"));
        Assert.Equal(0, net.Sysctl.TrySet(name, "0"));
        Assert.True(net.Sysctl.TryGet(name, out v));
        Assert.Equal("0", v);
    }

    [Fact]
    public void TcpSackOff_RemovesSackPermittedFromTheSyn_TimestampsOff_WscaleOff()
    {
        using var s = new TwoStacks();
        Assert.Equal(0, s.A.Sysctl.TrySet("net.ipv4.tcp_sack", "0"));
        var (_, cfd, afd) = TcpTwoStackTests.Connect(s);
        var a = NetStackInfo.GetTcpInfo(s.A, cfd)!.Value;
        Assert.False(a.Sack);
        Assert.True(a.Timestamps && a.WindowScaling);
        Assert.False(NetStackInfo.GetTcpInfo(s.B, afd)!.Value.Sack);
    }

    [Fact]
    public void TcpRmemWmem_ThreeValues_EachAtLeastOne_SizeNewSockets()
    {
        using var s = new TwoStacks();
        Assert.True(s.A.Sysctl.TryGet("net.ipv4.tcp_rmem", out var r));
        Assert.Equal(3, r.Split('\t').Length);
        Assert.Equal(-Errno.EINVAL, s.A.Sysctl.TrySet("net.ipv4.tcp_wmem", "0 16384 4194304"));
        Assert.Equal(0, s.A.Sysctl.TrySet("net.ipv4.tcp_wmem", "4096 32768 4194304"));
        Assert.Equal(0, s.A.Sysctl.TrySet("net.ipv4.tcp_rmem", "4096 65536 6291456"));
        int fd = TcpTwoStackTests.Sock(s.A);
        Assert.Equal(0, SocketCalls.Getsockopt(s.A.Files, fd, SOL_SOCKET, SO_SNDBUF, out int snd));
        Assert.Equal(32768, snd);
        Assert.Equal(0, SocketCalls.Getsockopt(s.A.Files, fd, SOL_SOCKET, SO_RCVBUF, out int rcv));
        Assert.Equal(65536, rcv);
    }
}
