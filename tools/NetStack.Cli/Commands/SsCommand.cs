using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace NetStack.Cli.Commands;

/// <summary>
/// `netstack ss`: the running stack's sockets as ss(8) prints them, read from its protocol tables
/// through the control socket (every program's sockets, time-wait and half-open ones too):
/// `-t`/`-u` choose TCP/UDP, `-l` listening only, `-a` all, `-n` numeric (always), `-i` TCP_INFO as
/// `ss -ti` prints it, `-s` a summary.
/// </summary>
internal static class SsCommand
{
    public static Command Create()
    {
        var control = new ControlOptions();
        var tcp = Opt.Flag("--tcp", "TCP sockets", "-t");
        var udp = Opt.Flag("--udp", "UDP sockets", "-u");
        var listening = Opt.Flag("--listening", "listening sockets only (and unconnected UDP)", "-l");
        var all = Opt.Flag("--all", "listening and non-listening sockets", "-a");
        var numeric = Opt.Flag("--numeric", "numeric addresses and ports (always so: the stack has no resolver)", "-n");
        var info = Opt.Flag("--info", "TCP_INFO of each TCP socket, as ss -ti", "-i");
        var summary = Opt.Flag("--summary", "counts of sockets by protocol and state", "-s");
        var cmd = new Command("ss", "the running stack's sockets as ss(8) prints them (-t -u -l -a -n -i -s)");
        control.AddTo(cmd);
        foreach (var o in new[] { tcp, udp, listening, all, numeric, info, summary }) cmd.Add(o);
        cmd.SetAction(r =>
        {
            bool t = r.GetValue(tcp), u = r.GetValue(udp);
            if (!t && !u) t = u = true;
            var (name, path) = control.Read(r);
            using var client = ControlOptions.TryAttach(path) ?? throw new CliFailure($"no stack is running as {name} ({path}): start one with netstack up");
            var rows = SysctlCommand.Ask(client, new JsonObject { ["op"] = "ss", ["tcp"] = t, ["udp"] = u, ["info"] = r.GetValue(info) })["sockets"]!.AsArray()
                .Select(n => n!.AsObject()).ToList();
            if (r.GetValue(summary))
            {
                PrintSummary(rows);
                return ExitCodes.Ok;
            }
            bool l = r.GetValue(listening), a = r.GetValue(all);
            // ss's default: connected sockets; -l: listeners (and unconnected UDP); -a: both.
            rows = rows.Where(x => a || (IsListening(x) == l)).ToList();
            bool netid = t && u;
            var sb = new StringBuilder();
            if (netid) sb.Append(CultureInfo.InvariantCulture, $"{"Netid",-6}");
            sb.Append(CultureInfo.InvariantCulture, $"{"State",-11}{"Recv-Q",-7}{"Send-Q",-7}{"Local Address:Port",30} {"Peer Address:Port",-30}");
            Console.WriteLine(sb.ToString().TrimEnd());
            foreach (var x in rows)
            {
                sb.Clear();
                if (netid) sb.Append(CultureInfo.InvariantCulture, $"{(string)x["netid"]!,-6}");
                sb.Append(CultureInfo.InvariantCulture,
                    $"{State(x),-11}{(long)x["recvq"]!,-7}{(long)x["sendq"]!,-7}{Addr((string)x["local"]!),30} {Addr((string)x["peer"]!),-30}");
                Console.WriteLine(sb.ToString().TrimEnd());
                if (x["info"] is JsonObject i) Console.WriteLine("\t " + Info(i));
            }
            return ExitCodes.Ok;
        });
        return cmd;
    }

    private static bool IsListening(JsonObject x) =>
        (string)x["state"]! == "Listen" || ((string)x["netid"]! == "udp" && (string)x["state"]! == "Close");

    /// <summary>The state as ss names it.</summary>
    private static string State(JsonObject x) => ((string)x["netid"]!, (string)x["state"]!) switch
    {
        ("udp", "Close") => "UNCONN",
        (_, "Established") => "ESTAB",
        (_, "SynSent") => "SYN-SENT",
        (_, "SynRecv" or "NewSynRecv") => "SYN-RECV",
        (_, "FinWait1") => "FIN-WAIT-1",
        (_, "FinWait2") => "FIN-WAIT-2",
        (_, "TimeWait") => "TIME-WAIT",
        (_, "Close") => "UNCONN",
        (_, "CloseWait") => "CLOSE-WAIT",
        (_, "LastAck") => "LAST-ACK",
        (_, "Listen") => "LISTEN",
        (_, "Closing") => "CLOSING",
        (_, var s) => s.ToUpperInvariant(),
    };

    /// <summary>ss prints the wildcard address as * and port 0 as *.</summary>
    private static string Addr(string ep)
    {
        int colon = ep.LastIndexOf(':');
        string host = ep[..colon], port = ep[(colon + 1)..];
        return $"{(host == "0.0.0.0" ? "*" : host)}:{(port == "0" ? "*" : port)}";
    }

    /// <summary>The TCP_INFO line of `ss -ti`, in its order and units (ms with three decimals, rates in bps).</summary>
    private static string Info(JsonObject i)
    {
        static string Ms(JsonNode? n) => ((double)n!).ToString("0.###", CultureInfo.InvariantCulture);
        var sb = new StringBuilder();
        sb.Append((string?)i["cc"]);
        if ((bool)i["ts"]!) sb.Append(" ts");
        if ((bool)i["sack"]!) sb.Append(" sack");
        if (i["wscale"] is { } ws) sb.Append(CultureInfo.InvariantCulture, $" wscale:{(string)ws!}");
        sb.Append(CultureInfo.InvariantCulture, $" rto:{Ms(i["rto_ms"])} rtt:{Ms(i["rtt_ms"])}/{Ms(i["rttvar_ms"])} ato:{Ms(i["ato_ms"])}");
        sb.Append(CultureInfo.InvariantCulture, $" mss:{(long)i["mss"]!} pmtu:{(long)i["pmtu"]!} rcvmss:{(long)i["rcvmss"]!} advmss:{(long)i["advmss"]!}");
        sb.Append(CultureInfo.InvariantCulture, $" cwnd:{(long)i["cwnd"]!}");
        long ssthresh = (long)i["ssthresh"]!;
        if (ssthresh < 0x7fffffff) sb.Append(CultureInfo.InvariantCulture, $" ssthresh:{ssthresh}");
        foreach (var k in new[] { "bytes_sent", "bytes_retrans", "bytes_acked", "bytes_received", "segs_out", "segs_in", "data_segs_out", "data_segs_in" })
            if ((long)i[k]! != 0 || k is "bytes_acked" or "segs_out" or "segs_in") sb.Append(CultureInfo.InvariantCulture, $" {k}:{(long)i[k]!}");
        double rtt = (double)i["rtt_ms"]!;
        if (rtt > 0) sb.Append(" send ").Append(Bps((long)i["cwnd"]! * (long)i["mss"]! * 8 / (rtt / 1000)));
        sb.Append(CultureInfo.InvariantCulture, $" lastsnd:{(long)(double)i["lastsnd_ms"]!} lastrcv:{(long)(double)i["lastrcv_ms"]!} lastack:{(long)(double)i["lastack_ms"]!}");
        if ((long)i["pacing_rate"]! > 0) sb.Append(" pacing_rate ").Append(Bps((long)i["pacing_rate"]! * 8.0));
        if ((long)i["delivery_rate"]! > 0) sb.Append(" delivery_rate ").Append(Bps((long)i["delivery_rate"]! * 8.0));
        sb.Append(CultureInfo.InvariantCulture, $" delivered:{(long)i["delivered"]!}");
        if ((long)i["unacked"]! != 0) sb.Append(CultureInfo.InvariantCulture, $" unacked:{(long)i["unacked"]!}");
        if ((long)i["retrans"]! != 0 || (long)i["total_retrans"]! != 0) sb.Append(CultureInfo.InvariantCulture, $" retrans:{(long)i["retrans"]!}/{(long)i["total_retrans"]!}");
        if ((long)i["lost"]! != 0) sb.Append(CultureInfo.InvariantCulture, $" lost:{(long)i["lost"]!}");
        if ((long)i["sacked"]! != 0) sb.Append(CultureInfo.InvariantCulture, $" sacked:{(long)i["sacked"]!}");
        if ((long)i["reordering"]! != 3) sb.Append(CultureInfo.InvariantCulture, $" reordering:{(long)i["reordering"]!}");
        if ((double)i["rcv_rtt_ms"]! > 0) sb.Append(CultureInfo.InvariantCulture, $" rcv_rtt:{Ms(i["rcv_rtt_ms"])}");
        sb.Append(CultureInfo.InvariantCulture, $" rcv_space:{(long)i["rcv_space"]!} rcv_ssthresh:{(long)i["rcv_ssthresh"]!}");
        if (i["minrtt_ms"] is { } mr) sb.Append(CultureInfo.InvariantCulture, $" minrtt:{Ms(mr)}");
        sb.Append(CultureInfo.InvariantCulture, $" snd_wnd:{(long)i["snd_wnd"]!} rcv_wnd:{(long)i["rcv_wnd"]!}");
        return sb.ToString();
    }

    private static string Bps(double bps) => bps switch
    {
        >= 1e9 => (bps / 1e9).ToString("0.#", CultureInfo.InvariantCulture) + "Gbps",
        >= 1e6 => (bps / 1e6).ToString("0.#", CultureInfo.InvariantCulture) + "Mbps",
        >= 1e3 => (bps / 1e3).ToString("0.#", CultureInfo.InvariantCulture) + "Kbps",
        _ => bps.ToString("0", CultureInfo.InvariantCulture) + "bps",
    };

    private static void PrintSummary(List<JsonObject> rows)
    {
        var tcp = rows.Where(x => (string)x["netid"]! == "tcp").ToList();
        int Count(string state) => tcp.Count(x => (string)x["state"]! == state);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"TCP:   {tcp.Count} (estab {Count("Established")}, closed {Count("Close")}, orphaned 0, timewait {Count("TimeWait")})"));
        Console.WriteLine();
        Console.WriteLine("Transport Total     IP");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{"TCP",-10}{tcp.Count,-10}{tcp.Count}"));
        int udp = rows.Count - tcp.Count;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{"UDP",-10}{udp,-10}{udp}"));
    }
}
