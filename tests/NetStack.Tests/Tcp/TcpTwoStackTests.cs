using NetStack.Core;
using NetStack.Net;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Tcp;

public class TcpTwoStackTests
{
    internal static int Sock(NetNamespace net) => SocketCalls.Socket(net.Files, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

    /// <summary>A listener on B:port and a connected pair (A's client fd, B's accepted fd).</summary>
    internal static (int lfd, int cfd, int afd) Connect(TwoStacks s, ushort port = 5000)
    {
        int lfd = Sock(s.B);
        Assert.Equal(0, SocketCalls.Bind(s.B.Files, lfd, SockAddr.In(TwoStacks.AddrB, port)));
        Assert.Equal(0, SocketCalls.Listen(s.B.Files, lfd, 16));
        int cfd = Sock(s.A);
        Assert.Equal(-Errno.EINPROGRESS, SocketCalls.Connect(s.A.Files, cfd, SockAddr.In(TwoStacks.AddrB, port)));
        s.Pump();
        int afd = SocketCalls.Accept4(s.B.Files, lfd, out var peer, SOCK_NONBLOCK);
        Assert.True(afd >= 0, $"accept: {afd}");
        Assert.Equal(TwoStacks.AddrA, peer.Addr);
        Assert.Equal(0, SocketCalls.Connect(s.A.Files, cfd, SockAddr.In(TwoStacks.AddrB, port)) is 0 or -Errno.EISCONN ? 0 : -1);
        return (lfd, cfd, afd);
    }

    /// <summary>Like <see cref="Connect"/>, but over an impaired link: retries until the handshake completes.</summary>
    internal static (int lfd, int cfd, int afd) ConnectRobust(TwoStacks s, ushort port = 5000)
    {
        int lfd = Sock(s.B);
        Assert.Equal(0, SocketCalls.Bind(s.B.Files, lfd, SockAddr.In(TwoStacks.AddrB, port)));
        Assert.Equal(0, SocketCalls.Listen(s.B.Files, lfd, 16));
        int cfd = Sock(s.A);
        Assert.Equal(-Errno.EINPROGRESS, SocketCalls.Connect(s.A.Files, cfd, SockAddr.In(TwoStacks.AddrB, port)));
        int afd = -1;
        for (int i = 0; i < 10_000 && afd < 0; i++)
        {
            s.RunFor(100);
            afd = SocketCalls.Accept4(s.B.Files, lfd, out _, SOCK_NONBLOCK);
        }
        Assert.True(afd >= 0, $"accept: {afd}");
        return (lfd, cfd, afd);
    }

    [Fact]
    public void Handshake_DataBothWays_Close()
    {
        using var s = new TwoStacks();
        var (lfd, cfd, afd) = Connect(s);
        Assert.Equal(5, SocketCalls.Send(s.A.Files, cfd, "hello"u8, 0));
        s.Pump();
        var buf = new byte[100];
        Assert.Equal(5, SocketCalls.Recv(s.B.Files, afd, buf, 0));
        Assert.Equal("hello"u8.ToArray(), buf[..5]);
        Assert.Equal(3, SocketCalls.Send(s.B.Files, afd, "abc"u8, 0));
        s.Pump();
        Assert.Equal(3, SocketCalls.Recv(s.A.Files, cfd, buf, 0));
        Assert.Equal(0, SocketCalls.Close(s.A.Files, cfd));
        s.Pump();
        Assert.Equal(0, SocketCalls.Recv(s.B.Files, afd, buf, 0));
        Assert.Equal(0, SocketCalls.Close(s.B.Files, afd));
        s.RunFor(1000);
        Assert.Equal(0, s.A.Mib.Tcp[TcpMib.CurrEstab]);
        Assert.Equal(0, s.B.Mib.Tcp[TcpMib.CurrEstab]);
        SocketCalls.Close(s.B.Files, lfd);
    }

    [Fact]
    public void BulkTransfer_1MB_Intact()
    {
        using var s = new TwoStacks();
        var (_, cfd, afd) = Connect(s);
        var data = new byte[1 << 20];
        new Random(1).NextBytes(data);
        var got = new MemoryStream();
        int sent = 0;
        var buf = new byte[65536];
        int rounds = 0;
        while (got.Length < data.Length && rounds++ < 100000)
        {
            if (sent < data.Length)
            {
                int n = SocketCalls.Send(s.A.Files, cfd, data.AsSpan(sent, Math.Min(65536, data.Length - sent)), 0);
                if (n > 0) sent += n; else Assert.Equal(-Errno.EAGAIN, n);
            }
            s.Pump();
            int r;
            while ((r = SocketCalls.Recv(s.B.Files, afd, buf, 0)) > 0) got.Write(buf, 0, r);
            if (r == 0) break;
            if (r != -Errno.EAGAIN) Assert.Fail($"recv {r}");
            s.RunFor(1);
        }
        Assert.Equal(data.Length, got.Length);
        Assert.True(data.AsSpan().SequenceEqual(got.ToArray()));
    }
}
