using System.CommandLine;
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
/// (connect, or -l: accept one connection). An IPv6 HOST (or -6) uses an AF_INET6 socket, as nc does;
/// `-6 -l` listens on [::], which takes IPv4 clients too (dual stack, as Linux's default bindv6only 0).
/// </summary>
internal static class NcCommand
{
    public static Command Create()
    {
        var set = new StackOptionSet(duration: true, loopback: true);
        var control = new ControlOptions();
        var own = ToolStack.OwnOption();
        var udp = Opt.Flag("-u", "UDP (default TCP)");
        var listen = Opt.Flag("-l", "listen on PORT (TCP: accept one connection; UDP: answer whoever sends the first datagram)");
        var source = Opt.Value("-s", "ADDR", "local address to bind [default: any]", s => Opt.Ip(s, "local address", 0));
        var only4 = Opt.Flag("-4", "IPv4 only");
        var only6 = Opt.Flag("-6", "IPv6 (an IPv6 HOST implies it; with -l, listen on [::])");
        var localPort = Opt.Value<ushort?>("-p", "PORT", "local port for a client [default: ephemeral]", s => Opt.Port(s));
        var linger = Opt.Value<double?>("-w", "SECONDS", "after stdin ends, keep reading this long [default: UDP 1; TCP until the peer closes]",
            s => Opt.Seconds("wait", 86400, min: 0, minIncluded: true)(s));
        var operands = new Argument<string[]>("HOST PORT | -l PORT") { Arity = ArgumentArity.ZeroOrMore, Description = "the peer (an IPv4 or IPv6 address and a port), or with -l the port to listen on" };
        var cmd = new Command("nc", "netcat over the stack: stdin to the socket, the socket to stdout; TCP, or UDP with -u; -l to listen");
        cmd.Add(operands);
        foreach (var o in new Option[] { udp, listen, source, localPort, linger, only4, only6 }) cmd.Add(o);
        set.AddTo(cmd);
        control.AddTo(cmd);
        cmd.Add(own);
        cmd.SetAction(r =>
        {
            bool isListen = r.GetValue(listen);
            bool four = r.GetValue(only4), six = r.GetValue(only6);
            if (four && six) throw new UsageException("-4 and -6 exclude each other");
            int family = four ? 4 : six ? 6 : 0;
            var (remote, port) = Operands(Opt.Operands(r, operands), isListen, family);
            var src = r.GetValue(source);
            if (src is not null && family != 0 && (src.AddressFamily == AddressFamily.InterNetworkV6) != (family == 6))
                throw new UsageException($"-s {src} is not of the family -{family} asks for");
            // The socket's family: the peer's, else the source's, else -6's (a listener on [::]).
            bool v6 = isListen ? (src?.AddressFamily ?? (six ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork)) == AddressFamily.InterNetworkV6
                : remote.AddressFamily == AddressFamily.InterNetworkV6;
            if (!isListen && src is not null && src.AddressFamily != remote.AddressFamily)
                throw new UsageException($"-s {src} and the host {remote.Address} are of different families");
            var local = new IPEndPoint(src ?? (v6 ? IPAddress.IPv6Any : IPAddress.Any), isListen ? port : r.GetValue(localPort) ?? 0);
            if (isListen && r.GetResult(localPort) is not null) throw new UsageException("-p is the client's local port: with -l, give the port as the argument (nc -l PORT)");
            var o = set.Read(r);
            using var stack = ToolStack.Open("nc", r, set, control, own);
            return Run(stack, o, r.GetValue(udp), isListen, local, remote, r.GetValue(linger));
        });
        return cmd;
    }

    /// <summary>HOST PORT, or with -l just PORT, each mistake with its own message.</summary>
    private static (IPEndPoint Remote, ushort ListenPort) Operands(string[] args, bool listen, int family)
    {
        if (listen)
        {
            if (args.Length == 0) throw new UsageException("nc -l needs the PORT to listen on (try --help)");
            if (args.Length > 1) throw new UsageException($"nc -l takes one PORT, not '{string.Join(' ', args)}' (the local address is -s ADDR)");
            if (args[0].Contains(':')) throw new UsageException($"nc -l takes one PORT, not '{args[0]}' (the local address is -s ADDR)");
            return (new IPEndPoint(IPAddress.Any, 0), Opt.Port(args[0]));
        }
        if (args.Length == 1)
        {
            if (args[0].Contains(':') && !args[0].StartsWith('[') && !IPAddress.TryParse(args[0], out _)) throw new UsageException($"'{args[0]}': give the host and the port as two arguments (nc HOST PORT), not HOST:PORT");
            throw new UsageException($"nc needs HOST PORT, got only '{args[0]}' (to listen: nc -l PORT)");
        }
        if (args.Length != 2) throw new UsageException(args.Length == 0 ? "nc needs HOST PORT (to listen: nc -l PORT); try --help" : $"unexpected argument '{args[2]}' (nc takes HOST PORT)");
        var host = Opt.Ip(args[0], "host", family);
        return (new IPEndPoint(host, Opt.Port(args[1])), 0);
    }

    private static int Run(ToolStack stack, StackOptionSet.Parsed o, bool udp, bool listen, IPEndPoint bindTo, IPEndPoint remote, double? linger)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Interrupt.Token);
        if (o.Duration is { } d) stop.CancelAfter(d);
        return udp
            ? RunUdp(stack, listen, bindTo, remote, linger ?? 1, stop.Token)
            : RunTcp(stack, listen, bindTo, remote, linger, stop.Token);
    }

    /// <summary>UDP: connect (or, with -l, bind and connect to the first sender), then pump both ways.</summary>
    private static int RunUdp(ToolStack stack, bool listen, IPEndPoint local, IPEndPoint remote, double linger, CancellationToken stop)
    {
        using var sock = stack.Udp(local.AddressFamily);
        var buf = new byte[65536];
        var stdout = Console.OpenStandardOutput();
        if (listen || local.Port != 0 || !IsAny(local.Address)) sock.Bind(local);
        if (listen)
        {
            // nc -u -l: the first datagram names the peer; from then on it is a connected socket.
            int n;
            try { n = sock.ReceiveFrom(buf, out remote, stop); }
            catch (OperationCanceledException) { return 0; }
            stdout.Write(buf, 0, n);
            stdout.Flush();
        }
        sock.Connect(remote, CancellationToken.None);
        return Pump(sock, datagrams: true, linger, stop);
    }

    /// <summary>TCP: connect, or listen and accept one connection, then pump both ways.</summary>
    private static int RunTcp(ToolStack stack, bool listen, IPEndPoint local, IPEndPoint remote, double? linger, CancellationToken stop)
    {
        using var sock = stack.Tcp(local.AddressFamily);
        if (listen)
        {
            sock.SetOption(SOL_SOCKET, SO_REUSEADDR, 1);
            sock.Bind(local);
            sock.Listen(1);
            IToolSocket conn;
            try { conn = sock.Accept(stop); }
            catch (OperationCanceledException) { return 0; }
            using (conn) return Pump(conn, datagrams: false, linger ?? double.PositiveInfinity, stop);
        }
        if (local.Port != 0 || !IsAny(local.Address)) sock.Bind(local);
        sock.Connect(remote, stop);
        return Pump(sock, datagrams: false, linger ?? double.PositiveInfinity, stop);
    }

    private static bool IsAny(IPAddress a) => a.Equals(IPAddress.Any) || a.Equals(IPAddress.IPv6Any);

    /// <summary>
    /// Copies stdin to the socket and the socket to stdout until the peer is done (TCP end of stream)
    /// or, once stdin has ended, <paramref name="linger"/> seconds have passed (SHUT_WR is sent on TCP).
    /// </summary>
    private static int Pump(IToolSocket sock, bool datagrams, double linger, CancellationToken stop)
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
                    do off += sock.Send(inBuf, off, n - off);
                    while (!datagrams && off < n && !writerStop.IsCancellationRequested);
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
            try { n = sock.Receive(buf, 0, linked.Token); }
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
