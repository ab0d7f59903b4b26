using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;
using NetStack.Tests.Tcp;
using NetStack.Wire;

namespace NetStack.Tests.Core;

/// <summary>The namespace's sysctl table: Linux's names, /proc/sys formats, errno for bad writes.</summary>
public class SysctlTests
{
    [Fact]
    public void Get_PrintsLikeProcSys()
    {
        using var net = new NetNamespace();
        Assert.True(net.Sysctl.TryGet("net.ipv4.tcp_sack", out var sack));
        Assert.Equal("1", sack);
        Assert.True(net.Sysctl.TryGet("net.ipv4.tcp_rmem", out var rmem));
        Assert.Equal("4096\t131072\t6291456", rmem);
        Assert.True(net.Sysctl.TryGet("net.ipv4.ip_local_port_range", out var range));
        Assert.Equal("32768\t60999", range);
        Assert.True(net.Sysctl.TryGet("net.ipv4.tcp_fin_timeout", out var fin));
        Assert.Equal("60", fin); // seconds, as Linux shows it
        Assert.True(net.Sysctl.TryGet("net.core.somaxconn", out var somaxconn));
        Assert.Equal("4096", somaxconn);
        Assert.True(net.Sysctl.TryGet("net/ipv4/tcp_congestion_control", out var cc));
        Assert.Equal("cubic", cc);
    }

    [Fact]
    public void Set_ChangesTheTypedField()
    {
        using var net = new NetNamespace();
        Assert.Equal(0, net.Sysctl.TrySet("net.ipv4.tcp_sack", "0"));
        Assert.False(net.Ipv4.Sysctl.TcpSack);
        Assert.Equal(0, net.Sysctl.TrySet("net.ipv4.tcp_rmem", "4096 87380\t1048576"));
        Assert.Equal((4096, 87380, 1048576), (net.Ipv4.Sysctl.TcpRmemMin, net.Ipv4.Sysctl.TcpRmemDefault, net.Ipv4.Sysctl.TcpRmemMax));
        Assert.Equal(0, net.Sysctl.TrySet("net.ipv4.tcp_fin_timeout", "30"));
        Assert.Equal(30_000, net.Ipv4.Sysctl.TcpFinTimeoutMs);
        Assert.Equal(0, net.Sysctl.TrySet("net.ipv4.ip_unprivileged_port_start", "80"));
        Assert.Equal(80, net.Ipv4.Sysctl.IpUnprivilegedPortStart);
        Assert.Equal(0, net.Sysctl.TrySet("net.core.somaxconn", "128"));
        Assert.Equal(128, net.SysctlSomaxconn);
        Assert.Equal(0, net.Sysctl.TrySet("net.ipv4.tcp_congestion_control", "reno"));
        Assert.True(net.Sysctl.TryGet("net.ipv4.tcp_congestion_control", out var cc));
        Assert.Equal("reno", cc);
    }

    [Fact]
    public void UnknownName_IsEnoent()
    {
        using var net = new NetNamespace();
        Assert.False(net.Sysctl.TryGet("net.ipv4.no_such_knob", out _));
        Assert.Equal(-Errno.ENOENT, net.Sysctl.TrySet("net.ipv4.no_such_knob", "1"));
    }

    [Theory]
    [InlineData("net.ipv4.tcp_sack", "yes")]
    [InlineData("net.ipv4.tcp_sack", "256")]
    [InlineData("net.ipv4.tcp_sack", "-1")]
    [InlineData("net.ipv4.ip_default_ttl", "0")]
    [InlineData("net.ipv4.ip_default_ttl", "256")]
    [InlineData("net.ipv4.tcp_rmem", "4096 131072")]
    [InlineData("net.ipv4.ip_local_port_range", "60999 32768")]
    [InlineData("net.ipv4.tcp_congestion_control", "nosuchcc")]
    public void BadValue_IsRejected_AndChangesNothing(string name, string value)
    {
        using var net = new NetNamespace();
        Assert.True(net.Sysctl.TryGet(name, out var before));
        int err = net.Sysctl.TrySet(name, value);
        Assert.True(err == -Errno.EINVAL || (name.EndsWith("congestion_control") && err == -Errno.ENOENT), $"{name}={value}: {err}");
        Assert.True(net.Sysctl.TryGet(name, out var after));
        Assert.Equal(before, after);
    }

    [Fact]
    public void Names_ListEveryLayersTable()
    {
        using var net = new NetNamespace();
        var names = net.Sysctl.Names;
        Assert.Contains("net.core.somaxconn", names);
        Assert.Contains("net.ipv4.tcp_sack", names);
        Assert.Contains("net.ipv4.neigh.default.base_reachable_time_ms", names);
        Assert.Equal(names.OrderBy(n => n, StringComparer.Ordinal), names);
        foreach (var n in names) Assert.True(net.Sysctl.TryGet(n, out _), n);
    }

    [Fact]
    public void NamespacesAreIndependent()
    {
        using var a = new NetNamespace("a");
        using var b = new NetNamespace("b");
        Assert.Equal(0, a.Sysctl.TrySet("net.ipv4.tcp_timestamps", "0"));
        Assert.True(b.Sysctl.TryGet("net.ipv4.tcp_timestamps", out var ts));
        Assert.Equal("1", ts);
    }

    [Theory]
    [InlineData("1", true)]
    [InlineData("0", false)]
    public void TcpSackByName_DecidesSackPermInOurSyn(string value, bool expected)
    {
        // The typed field starts at the opposite value, so the write by name is what decides.
        using var f = new TcpFixture(s => { s.TcpTimestamps = true; s.TcpWindowScaling = true; s.TcpSack = !expected; });
        Assert.Equal(0, f.Net.Sysctl.TrySet("net.ipv4.tcp_sack", value));
        f.Fd = f.Socket();
        f.OurPort = 0;
        Assert.Equal(-Errno.EINPROGRESS, SocketCalls.Connect(f.Files, f.Fd, SockAddr.In(TcpFixture.RemoteAddr, TcpFixture.LocalPort)));
        f.PeerPort = TcpFixture.LocalPort;
        var syn = f.Expect(TcpFlags.SYN, ack: 0);
        Assert.Equal(expected, syn.SackPermitted);
        Assert.NotNull(syn.Timestamp); // the other options are untouched
    }
}
