using System.Net;
using System.Net.Sockets;
using System.Globalization;
using NetStack.Api;
using NetStack.Net;
using NetStack.Uapi;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Cli.Commands;

/// <summary>
/// `netstack nc`: netcat over the stack. Standard input goes to the socket, the socket to standard
/// output. -u for UDP (one datagram per read of stdin), -l to listen. Without -u it is TCP
/// (connect, or -l: accept one connection), which works as soon as the stack's TCP does.
/// </summary>
internal static class NcCommand
{
    private const string Usage =
        "usage: netstack nc [options] [-u] HOST PORT\n" +
        "       netstack nc [options] [-u] -l [-s ADDR] PORT\n\n" +
        "netcat over the stack: stdin to the socket, the socket to stdout.\n\n" +
        "nc options:\n" +
        "  -u               UDP (default TCP)\n" +
        "  -l               listen on PORT (UDP: answer whoever sends the first datagram)\n" +
        "  -s ADDR          local address to bind (default any)\n" +
        "  -p PORT          local port for a client (default ephemeral)\n" +
        "  -w SECONDS       after stdin ends, keep reading this long (UDP client default 1; TCP: until the peer closes)\n" +
        "  --lo             no TAP: a loopback-only stack\n\n" +
        "options:\n" + Options.Help;

    public static int Run(string[] args)
    {
        var o = Options.Parse(args);
        if (o.TakeFlag("--help", "-h"))
        {
            Console.Write(Usage);
            return 0;
        }
        bool udp = o.TakeFlag("-u");
        bool listen = o.TakeFlag("-l");
        bool lo = o.TakeFlag("--lo");
        uint local = 0;
        if (o.TakeValue("-s") is { } sAddr && !Ipv4Address.TryParse(sAddr, out local)) throw new UsageException($"bad address '{sAddr}'");
        ushort localPort = 0;
        if (o.TakeValue("-p") is { } p && !ushort.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out localPort)) throw new UsageException($"bad port '{p}'");
        double? linger = null;
        if (o.TakeValue("-w") is { } w)
        {
            if (!double.TryParse(w, NumberStyles.Float, CultureInfo.InvariantCulture, out double lw) || lw < 0) throw new UsageException($"bad wait '{w}'");
            linger = lw;
        }
        o.RejectUnknownOptions();

        IPEndPoint remote = new(IPAddress.Any, 0);
        if (listen)
        {
            if (o.Rest.Count != 1 || !ushort.TryParse(o.Rest[0], NumberStyles.None, CultureInfo.InvariantCulture, out localPort))
                throw new UsageException("nc -l takes one PORT; try --help");
        }
        else
        {
            if (o.Rest.Count != 2 || !Ipv4Address.TryParse(o.Rest[0], out uint host) ||
                !ushort.TryParse(o.Rest[1], NumberStyles.None, CultureInfo.InvariantCulture, out ushort port))
                throw new UsageException("nc takes HOST PORT (an IPv4 address and a port); try --help");
            remote = new IPEndPoint(IPAddress.Parse(o.Rest[0]), port);
        }

        using var stack = StackAttach.Up(o, lo);
        using var stop = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); };
        if (o.Duration is { } d) stop.CancelAfter(d);
        var bindTo = new IPEndPoint(new IPAddress(System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(local)), localPort);
        return udp
            ? RunUdp(stack.Net, listen, bindTo, remote, linger ?? 1, stop.Token)
            : RunTcp(stack.Net, listen, bindTo, remote, linger, stop.Token);
    }

    /// <summary>UDP: connect (or, with -l, bind and connect to the first sender), then pump both ways.</summary>
    private static int RunUdp(Core.NetNamespace net, bool listen, IPEndPoint local, IPEndPoint remote, double linger, CancellationToken stop)
    {
        using var sock = NetSocket.Udp(net);
        var buf = new byte[65536];
        var stdout = Console.OpenStandardOutput();
        if (listen || local.Port != 0 || !local.Address.Equals(IPAddress.Any)) sock.Bind(local);
        if (listen)
        {
            // nc -u -l: the first datagram names the peer; from then on it is a connected socket.
            SocketReceiveFromResult first;
            try { first = sock.ReceiveFromAsync(buf, stop).AsTask().GetAwaiter().GetResult(); }
            catch (OperationCanceledException) { return 0; }
            stdout.Write(buf, 0, first.ReceivedBytes);
            stdout.Flush();
            remote = (IPEndPoint)first.RemoteEndPoint;
        }
        sock.Connect(remote);
        return Pump(sock, datagrams: true, linger, stop);
    }

    /// <summary>TCP: connect, or listen and accept one connection, then pump both ways.</summary>
    private static int RunTcp(Core.NetNamespace net, bool listen, IPEndPoint local, IPEndPoint remote, double? linger, CancellationToken stop)
    {
        using var sock = NetSocket.Tcp(net);
        if (listen)
        {
            sock.SetOption(SOL_SOCKET, SO_REUSEADDR, 1);
            sock.Bind(local);
            sock.Listen(1);
            NetSocket conn;
            try { conn = sock.AcceptAsync(stop).AsTask().GetAwaiter().GetResult(); }
            catch (OperationCanceledException) { return 0; }
            using (conn) return Pump(conn, datagrams: false, linger ?? double.PositiveInfinity, stop);
        }
        if (local.Port != 0 || !local.Address.Equals(IPAddress.Any)) sock.Bind(local);
        sock.ConnectAsync(remote, stop).AsTask().GetAwaiter().GetResult();
        return Pump(sock, datagrams: false, linger ?? double.PositiveInfinity, stop);
    }

    /// <summary>
    /// Copies stdin to the socket and the socket to stdout until the peer is done (TCP end of stream)
    /// or, once stdin has ended, <paramref name="linger"/> seconds have passed (SHUT_WR is sent on TCP).
    /// </summary>
    private static int Pump(NetSocket sock, bool datagrams, double linger, CancellationToken stop)
    {
        var stdout = Console.OpenStandardOutput();
        var stdin = Console.OpenStandardInput();
        using var stdinDone = new CancellationTokenSource();
        using var writerStop = CancellationTokenSource.CreateLinkedTokenSource(stop);
        var writer = Task.Run(async () =>
        {
            var inBuf = new byte[datagrams ? 1472 : 65536];
            try
            {
                int n;
                while ((n = await stdin.ReadAsync(inBuf, writerStop.Token).ConfigureAwait(false)) > 0)
                {
                    int off = 0;
                    do off += await sock.SendAsync(inBuf.AsMemory(off, n - off), writerStop.Token).ConfigureAwait(false);
                    while (!datagrams && off < n);
                }
                if (!datagrams) sock.Shutdown(SHUT_WR);
            }
            catch (OperationCanceledException) { }
            catch (NetStackException e) { Console.Error.WriteLine($"netstack nc: send: {e.ErrnoName}"); }
            stdinDone.Cancel();
        }, CancellationToken.None);

        var buf = new byte[65536];
        int rc = 0;
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(stop);
        stdinDone.Token.Register(() =>
        {
            if (double.IsPositiveInfinity(linger)) return;
            try { linked.CancelAfter(TimeSpan.FromSeconds(linger)); } catch (ObjectDisposedException) { }
        });
        while (true)
        {
            int n;
            try { n = sock.ReceiveAsync(buf, 0, linked.Token).AsTask().GetAwaiter().GetResult(); }
            catch (OperationCanceledException) { break; }
            catch (NetStackException e)
            {
                // A UDP peer with nobody listening answers port unreachable: ECONNREFUSED, as with nc.
                Console.Error.WriteLine($"netstack nc: recv: {e.ErrnoName}");
                rc = 1;
                if (datagrams && e.Errno == Errno.ECONNREFUSED) continue;
                break;
            }
            if (n == 0 && !datagrams) break; // end of stream
            stdout.Write(buf, 0, n);
            stdout.Flush();
        }
        // Like nc, the peer's end of stream does not cut our sending short: stdin still goes out
        // (until it ends) before the socket is closed. An error or Ctrl-C stops it.
        bool abort = rc != 0 || stop.IsCancellationRequested;
        if (abort) writerStop.Cancel();
        try
        {
            // A read of the console may not notice cancellation: do not wait for it long then.
            if (abort) writer.Wait(TimeSpan.FromSeconds(1));
            else writer.Wait();
        }
        catch (AggregateException) { }
        return rc;
    }
}
