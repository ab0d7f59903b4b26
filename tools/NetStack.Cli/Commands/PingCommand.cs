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
/// (SOCK_DGRAM/IPPROTO_ICMP: the stack supplies the identifier); an IPv6 HOST, or -6, or `netstack
/// ping6`, pings with ICMPv6 echo requests through an AF_INET6 ping socket (IPPROTO_ICMPV6), as
/// iputils' ping does. One line per reply and ping's summary at the end.
/// </summary>
internal static class PingCommand
{
    /// <summary>`ping`, or `ping6` (<paramref name="v6"/>: IPv6 only, as iputils' ping6 link to ping -6).</summary>
    public static Command Create() => Create("ping", v6: false);

    /// <summary>`ping6`: ping -6.</summary>
    public static Command Create6() => Create("ping6", v6: true);

    private static Command Create(string name, bool v6)
    {
        var set = new StackOptionSet(duration: true, loopback: true);
        var control = new ControlOptions();
        var own = ToolStack.OwnOption();
        var count = Opt.Value<int?>("-c", "COUNT", "stop after COUNT requests [default: until Ctrl-C]", s => Opt.Int("count", 1, int.MaxValue)(s));
        var interval = Opt.Value<double?>("-i", "SECONDS", "interval between requests [default: 1]", s => Opt.Seconds("interval", 3600, min: 0.001, minIncluded: true)(s));
        var size = Opt.Value<int?>("-s", "SIZE", "data bytes per request, 0 to 1472 [default: 56]", s => Opt.Int("size", 0, 1472, " (0..1472)")(s));
        var wait = Opt.Value<double?>("-W", "SECONDS", "how long to wait for the last reply [default: 1]", s => Opt.Seconds("timeout", 3600)(s));
        var quiet = Opt.Flag("-q", "quiet: only the summary");
        var only4 = Opt.Flag("-4", "IPv4 only");
        var only6 = Opt.Flag("-6", "IPv6 only (ICMPv6 echo; an IPv6 HOST implies it)");
        var host = new Argument<string[]>("HOST") { Description = v6 ? "the IPv6 address to ping" : "the IPv4 or IPv6 address to ping", Arity = ArgumentArity.ZeroOrMore };
        var cmd = new Command(name, v6 ? "ping an IPv6 host from the stack (ICMPv6 echo through a ping socket), like ping -6" : "ping a host from the stack (ICMP or ICMPv6 echo through a ping socket), like ping(8)");
        cmd.Add(host);
        foreach (var o in new Option[] { count, interval, size, wait, quiet }) cmd.Add(o);
        if (!v6) { cmd.Add(only4); cmd.Add(only6); }
        set.AddTo(cmd);
        control.AddTo(cmd);
        cmd.Add(own);
        cmd.SetAction(r =>
        {
            var hosts = Opt.Operands(r, host);
            if (hosts.Length != 1) throw new UsageException(hosts.Length == 0 ? "give one HOST (an IPv4 or IPv6 address); try --help" : $"unexpected argument '{hosts[1]}' (try --help)");
            bool four = !v6 && r.GetValue(only4), six = v6 || r.GetValue(only6);
            if (four && six) throw new UsageException("-4 and -6 exclude each other");
            var dst = Opt.Ip(hosts[0], "host", four ? 4 : six ? 6 : 0);
            var o = set.Read(r);
            using var stack = ToolStack.Open("ping", r, set, control, own);
            return Run(stack, o, dst, r.GetValue(count) ?? int.MaxValue, r.GetValue(interval) ?? 1, r.GetValue(size) ?? 56, r.GetValue(wait) ?? 1, r.GetValue(quiet));
        });
        return cmd;
    }

    private static int Run(ToolStack stack, StackOptionSet.Parsed o, System.Net.IPAddress dstAddress, int count, double interval, int size, double wait, bool quiet)
    {
        bool v6 = dstAddress.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
        using var sock = stack.Ping(dstAddress.AddressFamily);
        // The reply's TTL or hop limit for ping's ttl= (ip_cmsg_recv / ip6_datagram_recv_specific_ctl).
        if (v6) sock.SetOption(SOL_IPV6, IPV6_RECVHOPLIMIT, 1);
        else sock.SetOption(SOL_IP, IP_RECVTTL, 1);
        var to = new System.Net.IPEndPoint(dstAddress, 0);
        string host = v6 ? dstAddress.ToString() : Ipv4Address.Format(SocketConvert.ToUInt32(dstAddress));
        // iputils prints the IPv6 header line its own way (ping6_common.c): "PING ::1(::1) 56 data bytes".
        Console.WriteLine(v6 ? $"PING {host}({host}) {size} data bytes" : $"PING {host} ({host}) {size}({size + 28}) bytes of data.");
        byte echoType = v6 ? Icmpv6EchoRequest : IcmpType.Echo, replyType = v6 ? Icmpv6EchoReply : IcmpType.EchoReply;

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
            BuildEcho(request, seq, echoType);
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
                if (n < IcmpHeader.Length || h.Type != replyType || !sent.Remove(h.EchoSequence, out long tsent)) continue;
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
    private static void BuildEcho(byte[] m, ushort seq, byte type)
    {
        var h = IcmpHeader.Create(m); // ICMPv6's echo has ICMP's layout (RFC 4443 4.1): type, code, checksum, id, seq
        h.Type = type;
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

    /// <summary>ICMPV6_ECHO_REQUEST and ICMPV6_ECHO_REPLY (include/uapi/linux/icmpv6.h).</summary>
    private const byte Icmpv6EchoRequest = 128, Icmpv6EchoReply = 129;

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
