using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using NetStack.Api;
using NetStack.Net;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.PeerTests;

/// <summary>
/// TCP urgent data between the Linux kernel and the stack, both ways, through the managed API
/// (<see cref="SocketFlags.OutOfBand"/>, <see cref="NetSocket.AtMark"/>): "hello", then "X" sent
/// with MSG_OOB, then "world". The receiver reads "hello" up to the mark, "X" out of band once,
/// then "world": the kernel's reading of the stack's urgent pointer, and the stack's of the kernel's.
/// </summary>
public sealed class TcpUrgentPeerTests(ITestOutputHelper output)
{
    private static string Script => Path.Combine(AppContext.BaseDirectory, "scripts", "urgent_peer.py");

    [PeerFact]
    public void StackSendsUrgentData_TheKernelReadsItOutOfBand()
    {
        using var peer = new TapPeer();
        using var server = BackgroundProcess.InNamespace(peer.Ns, "listening", "/usr/bin/python3", "-u", Script, "server", "6150").WaitReady();
        using (var s = NetSocket.Tcp(peer.Net))
        {
            s.Connect(Ep.Of(peer.KernelAddr, 6150));
            Assert.Equal(5, s.Send("hello"u8));
            Assert.Equal(1, s.Send("X"u8, SocketFlags.OutOfBand));
            Assert.Equal(5, s.Send("world"u8));
        }
        Assert.True(server.WaitForExit(TimeSpan.FromSeconds(20)), server.Output);
        output.WriteLine(server.Output);
        var summary = JsonNode.Parse(server.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Last())!;
        Assert.Equal(
            """{"pri":true,"before":"hello","mark":1,"oob":"X","again":"Invalid argument","rest":"world"}""",
            summary.ToJsonString());
    }

    [PeerFact]
    public async Task KernelSendsUrgentData_TheStackReadsItOutOfBand()
    {
        using var peer = new TapPeer();
        using var listener = NetSocket.Tcp(peer.Net);
        listener.Bind(Ep.Of(peer.StackAddr, 6151));
        listener.Listen(1);
        using var client = BackgroundProcess.InNamespace(peer.Ns, null, "/usr/bin/python3", "-u", Script, "client", peer.StackIp, "6151");
        using var a = listener.Accept();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        int revents = await a.PollAsync(POLLPRI, cts.Token);
        Assert.Equal(POLLPRI, revents & POLLPRI);

        var before = new StringBuilder();
        var buf = new byte[100];
        while (!a.AtMark)
        {
            int n = a.Receive(buf);
            Assert.True(n > 0, "end of stream before the mark");
            before.Append(Encoding.ASCII.GetString(buf, 0, n));
        }
        Assert.Equal("hello", before.ToString());
        var one = new byte[1];
        Assert.Equal(1, a.Receive(one, SocketFlags.OutOfBand | SocketFlags.Peek));
        Assert.Equal(1, await a.ReceiveAsync(one, SocketFlags.OutOfBand, cts.Token));
        Assert.Equal((byte)'X', one[0]);
        var again = Assert.Throws<NetStackException>(() => a.Receive(one, SocketFlags.OutOfBand));
        Assert.Equal(Errno.EINVAL, again.Errno);

        var rest = new StringBuilder();
        int r;
        while ((r = a.Receive(buf)) > 0) rest.Append(Encoding.ASCII.GetString(buf, 0, r));
        Assert.Equal("world", rest.ToString());
        Assert.False(a.AtMark);
        Assert.True(client.WaitForExit(TimeSpan.FromSeconds(20)), client.Output);
        Assert.Equal(0, client.ExitCode);
    }
}
