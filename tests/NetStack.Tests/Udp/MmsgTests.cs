using NetStack.Core;
using NetStack.Net;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Tests.Udp;

/// <summary>sendmsg/recvmsg with several iovecs and sendmmsg/recvmmsg between two stacks (the parity rows compare them with Linux).</summary>
public class MmsgTests
{
    [Fact]
    public void GatherAndScatter_OneDatagram()
    {
        using var s = new TwoStacks();
        int a = UdpTests.Bound(s.A, 0, 5000), b = UdpTests.Bound(s.B, 0, 6000);
        var msg = new MsgHdr { Name = SockAddr.In(TwoStacks.AddrB, 6000), HasName = true };
        ReadOnlyMemory<byte>[] parts = ["ab"u8.ToArray(), Array.Empty<byte>(), "cdef"u8.ToArray()];
        Assert.Equal(6, SocketCalls.Sendmsg(s.A.Files, a, ref msg, parts, 0));
        s.Pump();
        var x = new byte[1];
        var y = new byte[3];
        var z = new byte[8];
        var rmsg = new MsgHdr { HasName = true };
        Memory<byte>[] iov = [x, y, z];
        Assert.Equal(6, SocketCalls.Recvmsg(s.B.Files, b, ref rmsg, iov, 0));
        Assert.Equal("a", System.Text.Encoding.ASCII.GetString(x));
        Assert.Equal("bcd", System.Text.Encoding.ASCII.GetString(y));
        Assert.Equal("ef", System.Text.Encoding.ASCII.GetString(z, 0, 2));
        Assert.Equal(1, s.B.Mib.Udp[UdpMib.InDatagrams]);
        Assert.Equal(-Errno.EMSGSIZE, SocketCalls.Sendmsg(s.A.Files, a, ref msg, new ReadOnlyMemory<byte>[UIO_MAXIOV + 1], 0));
    }

    [Fact]
    public void SendmmsgRecvmmsg_BatchesAndAllocatesNothingOnceWarm()
    {
        using var s = new TwoStacks();
        int a = UdpTests.Bound(s.A, 0, 5000), b = UdpTests.Bound(s.B, 0, 6000);
        Assert.Equal(0, SocketCalls.Fcntl(s.B.Files, b, F_SETFL, O_NONBLOCK));
        var send = new MMsgHdr[8];
        for (int i = 0; i < send.Length; i++)
            send[i] = new MMsgHdr { Buffer = new byte[100 + i], Name = SockAddr.In(TwoStacks.AddrB, 6000), HasName = true };
        var recv = new MMsgHdr[8];
        for (int i = 0; i < recv.Length; i++) recv[i] = new MMsgHdr { Buffer = new byte[256], HasName = true };
        void Round()
        {
            if (SocketCalls.Sendmmsg(s.A.Files, a, send, 0) != 8) throw new Exception("sendmmsg");
            s.Pump();
            long? none = null;
            if (SocketCalls.Recvmmsg(s.B.Files, b, recv.AsSpan(0, 5), 0, ref none) != 5) throw new Exception("recvmmsg 5");
            if (SocketCalls.Recvmmsg(s.B.Files, b, recv, 0, ref none) != 3) throw new Exception("recvmmsg 3");
            if (SocketCalls.Recvmmsg(s.B.Files, b, recv, 0, ref none) != -Errno.EAGAIN) throw new Exception("EAGAIN");
        }
        Round();
        Assert.Equal([105, 106, 107], recv.Take(3).Select(m => m.Len));
        Assert.All(send, m => Assert.Equal(m.Buffer.Length, m.Len));
        Assert.Equal(5000, recv[0].Name.Port);
        for (int i = 0; i < 200; i++) Round();
        Assert.Equal(0, SteadyState.LeastAllocated(() => { for (int i = 0; i < 500; i++) Round(); }));
    }
}
