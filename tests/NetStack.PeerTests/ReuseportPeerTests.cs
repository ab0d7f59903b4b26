using System.Text.Json.Nodes;
using NetStack.Net;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.PeerTests;

/// <summary>
/// SO_REUSEPORT against the kernel: it opens many connections to four listeners of one group on
/// the stack; every connection is served, each listener gets a share, and the same 4-tuple
/// (the kernel binds the source ports) reaches the same listener again.
/// </summary>
public sealed class ReuseportPeerTests(ITestOutputHelper output)
{
    private const int Listeners = 4, Connections = 200;
    private const ushort Port = 7300, FirstSourcePort = 41000;

    // Two rounds from the same source ports. Each connection sends nothing, reads the index of the
    // listener that accepted it (one byte) and closes with a RST (SO_LINGER {1, 0}) so no TIME_WAIT
    // keeps the 4-tuple from the second round.
    private const string Script = """
import json, socket, struct, sys
host, port, n, first = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rounds = []
for r in range(2):
    socks = []
    for i in range(n):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", first + i))
        s.settimeout(30)
        s.connect((host, port))
        socks.append(s)
    got = []
    for s in socks:
        b = s.recv(1)
        got.append(b[0] if b else -1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    rounds.append(got)
print(json.dumps(rounds))
""";

    [PeerFact]
    public void KernelConnections_SpreadOverFourReuseportListeners_SameTupleSameListener()
    {
        using var peer = new TapPeer();
        var f = peer.Net.Files;
        var l = new int[Listeners];
        for (int i = 0; i < Listeners; i++)
        {
            l[i] = SocketCalls.Socket(f, AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
            Assert.Equal(0, SocketCalls.Setsockopt(f, l[i], SOL_SOCKET, SO_REUSEPORT, 1));
            Assert.Equal(0, SocketCalls.Bind(f, l[i], SockAddr.In(0u, Port)));
            Assert.Equal(0, SocketCalls.Listen(f, l[i], Connections));
        }
        var accepted = new int[Listeners];
        int total = 0;
        using var stop = new CancellationTokenSource();
        // The stack's side: accept from every listener, answer the listener's index, close.
        var server = Task.Run(() =>
        {
            var one = new byte[1];
            while (!stop.IsCancellationRequested)
            {
                bool any = false;
                for (int i = 0; i < Listeners; i++)
                {
                    int a = SocketCalls.Accept4(f, l[i], out _, 0);
                    if (a < 0) continue;
                    any = true;
                    one[0] = (byte)i;
                    Assert.Equal(1, SocketCalls.Send(f, a, one, 0));
                    Assert.Equal(0, SocketCalls.Close(f, a));
                    accepted[i]++;
                    total++;
                }
                if (!any) Thread.Sleep(2);
            }
        });
        var r = peer.Exec(TimeSpan.FromSeconds(120), "/usr/bin/python3", "-c", Script, peer.StackIp, $"{Port}", $"{Connections}", $"{FirstSourcePort}");
        stop.Cancel();
        server.Wait(TimeSpan.FromSeconds(10));
        output.WriteLine(r.ToString());
        output.WriteLine("accepted per listener: " + string.Join(", ", accepted));
        Assert.Equal(0, r.ExitCode);
        var rounds = JsonNode.Parse(r.StdOut)!.AsArray();
        var first = rounds[0]!.AsArray().Select(x => (int)x!).ToArray();
        var second = rounds[1]!.AsArray().Select(x => (int)x!).ToArray();
        Assert.Equal(2 * Connections, total);
        Assert.All(first, i => Assert.InRange(i, 0, Listeners - 1));
        for (int i = 0; i < Listeners; i++)
            Assert.True(first.Count(x => x == i) > 0, $"listener {i} got no connection: {string.Join(",", first)}");
        // The same 4-tuple lands on the same listener.
        Assert.Equal(first, second);
        Assert.Equal(2 * Connections, accepted.Sum());
        for (int i = 0; i < Listeners; i++)
            Assert.Equal(2 * first.Count(x => x == i), accepted[i]);
    }
}
