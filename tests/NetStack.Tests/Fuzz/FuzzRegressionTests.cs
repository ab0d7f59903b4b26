using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;
using NetStack.Wire;
using NetStack.Tests.Tcp;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Fuzz;

/// <summary>Defects the structure-aware fuzzer found, each pinned by the smallest test that shows it.</summary>
public class FuzzRegressionTests
{
    /// <summary>
    /// tcp_prot.no_autobind: send() on an unbound TCP socket fails with EPIPE and does not bind it.
    /// The stack used to autobind it to an ephemeral port (found by the fuzzer: a reset connection's
    /// socket reappeared on a random local port after a send).
    /// </summary>
    [Fact]
    public void SendOnUnboundTcpSocket_IsEpipe_AndDoesNotBind()
    {
        using var f = new TcpFixture();
        int fd = f.Socket();
        Assert.Equal(-Errno.EPIPE, SocketCalls.Send(f.Files, fd, new byte[10], MSG_DONTWAIT | MSG_NOSIGNAL));
        Assert.Equal(0, SocketCalls.Getsockname(f.Files, fd, out var name));
        Assert.Equal(0, name.Port);
        Assert.Equal(0, f.Net.Ipv4.TcpHashinfo.BindBucketCount);
    }

    /// <summary>After the peer resets a connection, a send reports the reset and does not bind the socket to a new port.</summary>
    [Fact]
    public void SendAfterReset_DoesNotRebindTheSocket()
    {
        using var f = TcpFixture.Established();
        f.Send(TcpFlags.RST, seq: f.RemoteIss + 1);
        Assert.Equal(TcpState.Close, f.State);
        Assert.Equal(-Errno.ECONNRESET, f.SendData(new byte[10], MSG_DONTWAIT | MSG_NOSIGNAL));
        Assert.Equal(-Errno.EPIPE, f.SendData(new byte[10], MSG_DONTWAIT | MSG_NOSIGNAL));
        // getsockname still names the old port (inet_sport outlives inet_put_port, as in Linux), not a new one.
        Assert.Equal(0, SocketCalls.Getsockname(f.Files, f.Fd, out var name));
        Assert.Equal(f.OurPort, name.Port);
        Assert.Equal(0, f.Net.Ipv4.TcpHashinfo.BindBucketCount);
    }
}
