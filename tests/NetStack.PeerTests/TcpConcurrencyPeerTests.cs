using System.Text.Json.Nodes;
using NetStack.Api;
using NetStack.Services;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.PeerTests;

/// <summary>
/// 100 TCP connections open at once, each way: the kernel's clients against the stack's echo
/// service, and the stack's clients (async NetSocket) against a Python echo server on the kernel
/// side. Every connection must echo its own seeded bytes back exactly, on a clean link and on the
/// impaired ones.
/// </summary>
public sealed class TcpConcurrencyPeerTests(ITestOutputHelper output)
{
    private const int Connections = 100;
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(180);

    public static TheoryData<Impairment, int> Cases => new()
    {
        { Impairment.None, 64 << 10 },
        { Impairment.StackFaults, 16 << 10 },
        { Impairment.KernelDrop, 16 << 10 },
    };

    [PeerTheory]
    [MemberData(nameof(Cases))]
    public void KernelClients_ToStackEcho_AllComplete(Impairment impairment, int size)
    {
        using var peer = TcpPeerKit.NewPeer(impairment, seed: 21);
        using var services = ServiceHost.Start(peer.Net, "echo");
        var r = peer.Exec(Limit, "/usr/bin/python3", TcpPeerKit.PeerScript, "echo-clients", peer.StackIp, "7", $"{Connections}", $"{size}", "1000");
        output.WriteLine(r.ToString());
        output.WriteLine(services.FormatStats());
        output.WriteLine(TcpPeerKit.Describe(peer, impairment));
        Assert.Equal(0, r.ExitCode);
        Assert.Equal(Connections, (int)JsonNode.Parse(r.StdOut)!["ok"]!);
        var echo = services.Find("echo")!;
        Assert.True(TapPeer.WaitUntil(() => Interlocked.Read(ref echo.Completed) == Connections, TimeSpan.FromSeconds(30)), services.FormatStats());
        Assert.Equal((long)Connections * size, Interlocked.Read(ref echo.BytesOut));
        TcpPeerKit.AssertImpaired(peer, impairment);
    }

    [PeerTheory]
    [MemberData(nameof(Cases))]
    public async Task StackClients_ToKernelEcho_AllComplete(Impairment impairment, int size)
    {
        using var peer = TcpPeerKit.NewPeer(impairment, seed: 22);
        using var server = BackgroundProcess.InNamespace(peer.Ns, "listening", "/usr/bin/python3", "-u", TcpPeerKit.PeerScript, "echo-server", "7777").WaitReady();
        var target = Ep.Of(peer.KernelAddr, 7777);
        // An async barrier: blocking pool threads on a CountdownEvent would starve the pool the
        // sockets' completions run on.
        int connected = 0;
        var allConnected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var clients = Enumerable.Range(0, Connections).Select(i => Task.Run(async () =>
        {
            var data = new byte[size];
            new Random(2000 + i).NextBytes(data);
            using var s = NetSocket.Tcp(peer.Net);
            await s.ConnectAsync(target);
            // All 100 are open at once before any data moves.
            if (Interlocked.Increment(ref connected) == Connections) allConnected.SetResult();
            await allConnected.Task.WaitAsync(Limit);
            var reader = Task.Run(async () =>
            {
                var got = new MemoryStream();
                var buf = new byte[16384];
                int n;
                while ((n = await s.ReceiveAsync(buf)) > 0) got.Write(buf, 0, n);
                return got.ToArray();
            });
            for (int off = 0; off < size;) off += await s.SendAsync(data.AsMemory(off));
            s.Shutdown(SHUT_WR);
            return (await reader).AsSpan().SequenceEqual(data);
        })).ToArray();
        bool[] ok;
        try
        {
            ok = await Task.WhenAll(clients).WaitAsync(Limit);
        }
        finally
        {
            output.WriteLine(TcpPeerKit.Describe(peer, impairment));
        }
        Assert.Equal(Connections, ok.Count(x => x));
        TcpPeerKit.AssertImpaired(peer, impairment);
    }
}
