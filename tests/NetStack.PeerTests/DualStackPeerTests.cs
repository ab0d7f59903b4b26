using System.Net;
using System.Net.Sockets;
using System.Text;
using NetStack.Api;

namespace NetStack.PeerTests;

/// <summary>
/// AF_INET6 sockets of the stack against the Linux kernel over IPv4 (issue 11's dual stack): a
/// listener on [::] accepts the kernel's IPv4 client and sees it as ::ffff:&lt;kernel ip&gt;; an
/// AF_INET6 client reaches the kernel's IPv4 server through ::ffff:&lt;kernel ip&gt;. Ports 6390-6399.
/// </summary>
public sealed class DualStackPeerTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [PeerFact]
    public async Task Ipv6AnyListener_AcceptsTheKernelsIpv4Client_PeerIsV4Mapped()
    {
        using var peer = new TapPeer();
        using var listener = new NetTcpListener(peer.Net, new IPEndPoint(IPAddress.IPv6Any, 6390));
        listener.Start();
        Assert.Equal(AddressFamily.InterNetworkV6, listener.Server.AddressFamily);
        var accept = listener.AcceptTcpClientAsync().AsTask();
        // The kernel's client: a plain IPv4 socket to the stack's IPv4 address; it prints its own port and what it reads.
        var kernel = Task.Run(() => peer.Exec(Timeout, "/usr/bin/python3", "-c",
            "import socket\n" +
            $"c = socket.create_connection(('{peer.StackIp}', 6390), timeout=20)\n" +
            "print('port %d' % c.getsockname()[1], flush=True)\n" +
            "data = b''\n" +
            "while True:\n" +
            "    b = c.recv(100)\n" +
            "    if not b: break\n" +
            "    data += b\n" +
            "print(data.decode(), flush=True)\n"));
        using var server = await accept.WaitAsync(Timeout);
        var remote = server.Client.RemoteEndPoint!;
        output.WriteLine($"accepted {remote} on {server.Client.LocalEndPoint}");
        Assert.Equal(IPAddress.Parse("::ffff:" + peer.KernelIp), remote.Address);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("::ffff:" + peer.StackIp), 6390), server.Client.LocalEndPoint);
        var stream = server.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes("hello from [::]")).AsTask().WaitAsync(Timeout);
        server.Dispose(); // FIN: the kernel's client reads to EOF
        var k = await kernel.WaitAsync(Timeout);
        output.WriteLine(k.ToString());
        Assert.Equal(0, k.ExitCode);
        // The kernel's client port is the mapped peer's port, and it got the stack's bytes.
        Assert.Equal($"port {remote.Port}\nhello from [::]\n", k.StdOut);
    }

    [PeerFact]
    public async Task Ipv6Client_ConnectsToTheKernelsIpv4Server_ThroughV4Mapped()
    {
        using var peer = new TapPeer();
        using var server = BackgroundProcess.InNamespace(peer.Ns, "ready", "/usr/bin/python3", "-c",
            "import socket\n" +
            "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n" +
            "s.bind(('0.0.0.0', 6391)); s.listen(1); print('ready', flush=True)\n" +
            "c, a = s.accept(); print('peer %s %d' % a, flush=True)\n" +
            "c.sendall(b'from the kernel'); c.close()\n").WaitReady(Timeout);
        await using var client = new NetTcpClient(peer.Net, AddressFamily.InterNetworkV6);
        await client.ConnectAsync(IPAddress.Parse("::ffff:" + peer.KernelIp), 6391).AsTask().WaitAsync(Timeout);
        var local = client.Client.LocalEndPoint;
        Assert.Equal(IPAddress.Parse("::ffff:" + peer.StackIp), local.Address);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("::ffff:" + peer.KernelIp), 6391), client.Client.RemoteEndPoint);
        var buf = new byte[64];
        int n = 0, r;
        var stream = client.GetStream();
        while ((r = await stream.ReadAsync(buf.AsMemory(n)).AsTask().WaitAsync(Timeout)) > 0) n += r;
        Assert.Equal("from the kernel", Encoding.ASCII.GetString(buf, 0, n));
        Assert.True(server.WaitForExit(Timeout));
        output.WriteLine(server.Output);
        // The kernel saw the stack as a plain IPv4 client, from the port the stack reports.
        Assert.Contains($"peer {peer.StackIp} {local.Port}", server.Output);
    }
}
