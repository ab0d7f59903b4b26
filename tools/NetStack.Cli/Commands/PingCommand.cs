using System.Buffers.Binary;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using NetStack.Api;
using NetStack.Net;
using NetStack.Uapi;
using NetStack.Wire;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Cli.Commands;

/// <summary>
/// `netstack ping HOST`: ping(8) over the stack, through an unprivileged ping socket
/// (SOCK_DGRAM/IPPROTO_ICMP: the stack supplies the identifier). One line per reply and ping's
/// summary at the end.
/// </summary>
internal static class PingCommand
{
    public static Command Create()
    {
        var set = new StackOptionSet(duration: true, loopback: true);
        var control = new ControlOptions();
        var own = ToolStack.OwnOption();
        var count = Opt.Value<int?>("-c", "COUNT", "stop after COUNT requests [default: until Ctrl-C]", s => Opt.Int("count", 1, int.MaxValue)(s));
        var interval = Opt.Value<double?>("-i", "SECONDS", "interval between requests [default: 1]", s => Opt.Seconds("interval", 3600, min: 0.001, minIncluded: true)(s));
        var size = Opt.Value<int?>("-s", "SIZE", "data bytes per request, 0 to 1472 [default: 56]", s => Opt.Int("size", 0, 1472, " (0..1472)")(s));
        var wait = Opt.Value<double?>("-W", "SECONDS", "how long to wait for the last reply [default: 1]", s => Opt.Seconds("timeout", 3600)(s));
        var quiet = Opt.Flag("-q", "quiet: only the summary");
        var host = new Argument<string[]>("HOST") { Description = "the IPv4 address to ping", Arity = ArgumentArity.ZeroOrMore };
        var cmd = new Command("ping", "ping a host from the stack (ICMP echo through a ping socket), like ping(8)");
        cmd.Add(host);
        foreach (var o in new Option[] { count, interval, size, wait, quiet }) cmd.Add(o);
        set.AddTo(cmd);
        control.AddTo(cmd);
        cmd.Add(own);
        cmd.SetAction(r =>
        {
            var hosts = Opt.Operands(r, host);
            if (hosts.Length != 1) throw new UsageException(hosts.Length == 0 ? "give one HOST (an IPv4 address); try --help" : $"unexpected argument '{hosts[1]}' (try --help)");
            var dst = Opt.Ipv4(hosts[0], "host");
            var o = set.Read(r);
            using var stack = ToolStack.Open("ping", r, set, control, own);
            return Run(stack, o, dst, r.GetValue(count) ?? int.MaxValue, r.GetValue(interval) ?? 1, r.GetValue(size) ?? 56, r.GetValue(wait) ?? 1, r.GetValue(quiet));
        });
        return cmd;
    }

    private static int Run(ToolStack stack, StackOptionSet.Parsed o, System.Net.IPAddress dstAddress, int count, double interval, int size, double wait, bool quiet)
    {
        uint dst = SocketConvert.ToUInt32(dstAddress);
        using var sock = stack.Ping();
        sock.SetOption(SOL_IP, IP_RECVTTL, 1); // the reply's TTL for ping's ttl= (ip_cmsg_recv)
        var to = new System.Net.IPEndPoint(dstAddress, 0);
        string host = Ipv4Address.Format(dst);
        Console.WriteLine($"PING {host} ({host}) {size}({size + 28}) bytes of data.");

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Interrupt.Token);
        if (o.Duration is { } d) stop.CancelAfter(d);

        var request = new byte[IcmpHeader.Length + size];
        var reply = new byte[IcmpHeader.Length + size + 64];
        var sent = new Dictionary<ushort, long>();
        var rtts = new List<double>();
        int transmitted = 0, received = 0, errors = 0;
        var clock = Stopwatch.StartNew();
        ushort seq = 0;
        while (!stop.IsCancellationRequested && transmitted < count)
        {
            seq++;
            BuildEcho(request, seq);
            long t0 = Stopwatch.GetTimestamp();
            try
            {
                sock.SendTo(request, request.Length, to);
                transmitted++;
                sent[seq] = t0;
            }
            catch (NetStackException e)
            {
                transmitted++;
                errors++;
                if (!quiet) Console.WriteLine($"From {host} icmp_seq={seq} {Describe(e.Errno)}");
            }
            // Collect replies until the next request is due (or, after the last one, the -W wait).
            bool last = transmitted >= count;
            long deadline = Stopwatch.GetTimestamp() + (long)((last ? Math.Max(wait, interval) : interval) * Stopwatch.Frequency);
            while (!stop.IsCancellationRequested)
            {
                int ms = (int)Math.Max(0, (deadline - Stopwatch.GetTimestamp()) * 1000 / Stopwatch.Frequency);
                if (last && received + errors >= transmitted) break;
                int rev = sock.Poll(POLLIN, Math.Min(ms, 100));
                if (rev == 0)
                {
                    if (ms == 0) break;
                    continue;
                }
                int n;
                int? ttl;
                try { n = sock.ReceiveWithTtl(reply, out ttl); }
                catch (NetStackException e)
                {
                    if (e.Errno == Errno.EAGAIN) continue;
                    errors++;
                    if (!quiet) Console.WriteLine($"From {host} icmp_seq={seq} {Describe(e.Errno)}");
                    continue;
                }
                var h = IcmpHeader.Create(reply.AsSpan(0, n));
                if (n < IcmpHeader.Length || h.Type != IcmpType.EchoReply || !sent.Remove(h.EchoSequence, out long tsent)) continue;
                double rtt = Stopwatch.GetElapsedTime(tsent).TotalMilliseconds;
                rtts.Add(rtt);
                received++;
                if (!quiet)
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{n} bytes from {host}: icmp_seq={h.EchoSequence} {(ttl is { } t ? $"ttl={t} " : "")}time={Rtt(rtt)} ms"));
            }
        }

        Console.WriteLine();
        Console.WriteLine($"--- {host} ping statistics ---");
        int loss = transmitted == 0 ? 0 : (int)((transmitted - received) * 100L / transmitted);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{transmitted} packets transmitted, {received} received, {(errors > 0 ? $"+{errors} errors, " : "")}{loss}% packet loss, time {clock.ElapsedMilliseconds}ms"));
        if (rtts.Count > 0)
        {
            double min = rtts.Min(), max = rtts.Max(), avg = rtts.Average();
            double mdev = Math.Sqrt(rtts.Select(x => (x - avg) * (x - avg)).Average());
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"rtt min/avg/max/mdev = {min:0.000}/{avg:0.000}/{max:0.000}/{mdev:0.000} ms"));
        }
        return received > 0 ? 0 : 1;
    }

    /// <summary>An echo request with ping(8)'s payload: a timestamp, then the bytes 0x10, 0x11, ...</summary>
    private static void BuildEcho(byte[] m, ushort seq)
    {
        var h = IcmpHeader.Create(m);
        h.Type = IcmpType.Echo;
        h.Code = 0;
        h.EchoId = 0; // the ping socket puts its own identifier here
        h.EchoSequence = seq;
        var payload = m.AsSpan(IcmpHeader.Length);
        for (int k = 0; k < payload.Length; k++) payload[k] = (byte)(0x10 + k);
        if (payload.Length >= 16)
        {
            var now = DateTimeOffset.UtcNow;
            BinaryPrimitives.WriteInt64LittleEndian(payload, now.ToUnixTimeSeconds());
            BinaryPrimitives.WriteInt64LittleEndian(payload[8..], now.Millisecond * 1000L);
        }
    }

    /// <summary>An RTT as iputils' ping prints it (ping_common.c): three significant digits, at most three decimals.</summary>
    internal static string Rtt(double ms) => ms.ToString(ms >= 100 ? "0" : ms >= 10 ? "0.0" : ms >= 1 ? "0.00" : "0.000", CultureInfo.InvariantCulture);

    private static string Describe(int errno) => errno switch
    {
        Errno.EHOSTUNREACH => "Destination Host Unreachable",
        Errno.ENETUNREACH => "Destination Net Unreachable",
        Errno.ECONNREFUSED => "Destination Port Unreachable",
        _ => Errno.Name(errno),
    };
}
