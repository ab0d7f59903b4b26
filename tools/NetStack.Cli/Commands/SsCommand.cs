using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace NetStack.Cli.Commands;

/// <summary>
/// `netstack ss`: the running stack's sockets as ss(8) (iproute2 7.1) prints them, read from its
/// protocol tables through the control socket (every program's sockets, time-wait and half-open
/// ones too), in ss's layout (<see cref="SsRender"/>) and order (raw, then UDP, then TCP):
/// <list type="bullet">
/// <item>`-t`/`-u`/`-w` choose TCP, UDP, raw sockets (none: all three). Without `-a`/`-l` each shows
/// ss's default states: TCP's connections (not LISTEN, TIME-WAIT, SYN-RECV), UDP's and raw's
/// connected sockets; `-l` listening (and unconnected) sockets, `-a` all. Netid shows with more than
/// one table, State with more than one state, as in ss. A raw socket's port is its protocol; its
/// Netid is "raw" (ss shows that when it reads /proc/net/raw; through raw_diag it would print the
/// protocol's name, "???" for most).</item>
/// <item>`-e`: after the peer, `timer:(...)` when one is pending, `uid:N` (when not 0: the user of the
/// process that made the socket, a control client's SO_PEERCRED uid), `ino:N` (the socket inode's
/// number, 0 for time-wait and request socks), `sk:HEX` (the cookie) and the shutdown state
/// (`&lt;-&gt;`, `--&gt;` ...); `-e` also shows ts/sack on the `-i` line, as ss's -o does. `-o` shows the timer alone.</item>
/// <item>`-m` and `-i`: a second line, a tab then `skmem:(r,rb,t,tb,f,w,o,bl,d)` (sock_diag's
/// SK_MEMINFO: receive queue, rcvbuf, unfreed sent buffers, sndbuf, forward allocation, write queue,
/// option memory, backlog, drops; f, o and bl are always 0 here, see SocketMemoryInfo) and, for TCP
/// with `-i`, TCP_INFO as `ss -ti` prints it (fields that are 0 left out, as ss does), with BBR's and
/// DCTCP's own block after data_segs_in (<see cref="CcInfo"/>).</item>
/// <item>`-n`: addresses and ports are always numeric (the stack has no resolver); -n also prints
/// rates as plain numbers (send 12000000bps), as ss -n does.</item>
/// <item>`-s`: counts of sockets by protocol.</item>
/// </list>
/// </summary>
internal static class SsCommand
{
    // The states as ss numbers them (SS_ESTABLISHED...), for its state filters.
    private const int SsEstablished = 1, SsSynRecv = 3, SsTimeWait = 6, SsClose = 7, SsListen = 10, SsMax = 13;
    private const int SsAll = (1 << SsMax) - 1;
    private const int SsConn = SsAll & ~((1 << SsListen) | (1 << SsClose) | (1 << SsTimeWait) | (1 << SsSynRecv));

    public static Command Create()
    {
        var control = new ControlOptions();
        var tcp = Opt.Flag("--tcp", "TCP sockets", "-t");
        var udp = Opt.Flag("--udp", "UDP sockets", "-u");
        var raw = Opt.Flag("--raw", "raw sockets", "-w");
        var listening = Opt.Flag("--listening", "listening sockets only (and unconnected UDP and raw)", "-l");
        var all = Opt.Flag("--all", "listening and non-listening sockets", "-a");
        var numeric = Opt.Flag("--numeric", "numeric addresses and ports (always so: the stack has no resolver) and rates", "-n");
        var info = Opt.Flag("--info", "TCP_INFO of each TCP socket, as ss -ti", "-i");
        var memory = Opt.Flag("--memory", "socket memory: skmem:(r,rb,t,tb,f,w,o,bl,d)", "-m");
        var extended = Opt.Flag("--extended", "details: timer, uid, ino, sk (cookie), shutdown", "-e");
        var options = Opt.Flag("--options", "timer information", "-o");
        var summary = Opt.Flag("--summary", "counts of sockets by protocol and state", "-s");
        var only4 = Opt.Flag("--ipv4", "IPv4 sockets only (AF_INET)", "-4");
        var only6 = Opt.Flag("--ipv6", "IPv6 sockets only (AF_INET6, v4-mapped peers included)", "-6");
        var cmd = new Command("ss", "the running stack's sockets as ss(8) prints them (-t -u -w -l -a -n -i -m -e -o -s)");
        control.AddTo(cmd);
        foreach (var o in new[] { tcp, udp, raw, listening, all, numeric, info, memory, extended, options, summary, only4, only6 }) cmd.Add(o);
        cmd.SetAction(r =>
        {
            bool t = r.GetValue(tcp), u = r.GetValue(udp), w = r.GetValue(raw);
            if (!t && !u && !w) t = u = w = true;
            bool showInfo = r.GetValue(info), showMem = r.GetValue(memory), details = r.GetValue(extended);
            bool showOptions = r.GetValue(options) || details;
            var (name, path) = control.Read(r);
            using var client = ControlOptions.TryAttach(path) ?? throw new CliFailure($"no stack is running as {name} ({path}): start one with netstack up");
            var rows = SysctlCommand.Ask(client, new JsonObject { ["op"] = "ss", ["tcp"] = t, ["udp"] = u, ["raw"] = w, ["info"] = showInfo })["sockets"]!
                .AsArray().Select(n => n!.AsObject()).ToList();
            // -4/-6: the socket's family (ss's -f inet / -f inet6), so an AF_INET6 socket with a v4-mapped peer is -6's.
            bool f4 = r.GetValue(only4), f6 = r.GetValue(only6);
            if (f4 != f6) rows = rows.Where(x => ((string?)x["family"] ?? "inet") == (f6 ? "inet6" : "inet")).ToList();
            if (r.GetValue(summary))
            {
                PrintSummary(rows);
                return ExitCodes.Ok;
            }
            // The state filter: -a all states, -l listening and closed, else each table's default.
            int states = r.GetValue(all) ? SsAll
                : r.GetValue(listening) ? (1 << SsListen) | (1 << SsClose)
                : (t ? SsConn : 0) | (u || w ? 1 << SsEstablished : 0);
            var table = new SsRender();
            table.Disable(SsRender.Col.Process);   // no -p: the stack's sockets have no processes
            if (new[] { t, u, w }.Count(x => x) == 1) table.Disable(SsRender.Col.Netid);
            if ((states & (states - 1)) == 0) table.Disable(SsRender.Col.State);
            table.Header();
            string[] order = ["raw", "udp", "tcp"];
            foreach (var x in rows.Where(x => (states & (1 << SsState(x))) != 0).OrderBy(x => Array.IndexOf(order, (string)x["netid"]!)))
            {
                string netid = (string)x["netid"]!;
                table.Out(SsRender.Col.Netid, netid);
                table.Out(SsRender.Col.State, StateName(SsState(x)));
                table.Out(SsRender.Col.RecvQ, $"{(long)x["recvq"]!,-6}");
                table.Out(SsRender.Col.SendQ, $"{(long)x["sendq"]!,-6}");
                bool v6only = x["v6only"] is JsonValue vo && vo.GetValue<bool>();
                var (lh, lp) = Addr((string)x["local"]!, v6only);
                table.Out(SsRender.Col.Local, lh + ":");
                table.Out(SsRender.Col.LocalPort, lp);
                var (ph, pp) = Addr((string)x["peer"]!, v6only);
                table.Out(SsRender.Col.Peer, ph + ":");
                table.Out(SsRender.Col.PeerPort, pp);
                table.Out(SsRender.Col.Ext, Ext(x, showOptions, details, showMem, showInfo, r.GetValue(numeric)));
            }
            string text = table.Render(ScreenWidth());
            Console.Write(text);
            return ExitCodes.Ok;
        });
        return cmd;
    }

    /// <summary>What ss prints after the peer (inet_show_sock()): the timer, -e's details, then -m's and -i's line.</summary>
    internal static string Ext(JsonObject x, bool showOptions, bool details, bool showMem, bool showInfo, bool numeric)
    {
        var sb = new StringBuilder();
        if (showOptions && x["timer"] is JsonObject tm)
            sb.Append(CultureInfo.InvariantCulture, $" timer:({(string)tm["name"]!},{MsTimer((long)tm["expires_ms"]!)},{(long)tm["retrans"]!})");
        if (details)
        {
            long uid = (long)x["uid"]!;
            if (uid != 0) sb.Append(CultureInfo.InvariantCulture, $" uid:{uid}");
            sb.Append(CultureInfo.InvariantCulture, $" ino:{(ulong)x["ino"]!} sk:{(ulong)x["cookie"]!:x}");
            if (x["shutdown"] is JsonValue sd)
            {
                int mask = (int)sd;
                sb.Append(' ').Append((mask & 1) != 0 ? '-' : '<').Append('-').Append((mask & 2) != 0 ? '-' : '>');
            }
        }
        // ss asks for INET_DIAG_INFO with -i, which UDP sockets (and raw ones of protocol UDP) do not answer.
        if (showMem || (showInfo && (long)x["protocol"]! != 17))
        {
            sb.Append("\n\t");
            if (showMem && x["skmem"] is JsonArray m)
                sb.Append(CultureInfo.InvariantCulture,
                    $" skmem:(r{(uint)m[0]!},rb{(uint)m[1]!},t{(uint)m[2]!},tb{(uint)m[3]!},f{(uint)m[4]!},w{(uint)m[5]!},o{(uint)m[6]!},bl{(uint)m[7]!},d{(uint)m[8]!})");
            if (x["info"] is JsonObject i) sb.Append(Info(i, showOptions, StateName(SsState(x)) == "LISTEN", numeric));
        }
        return sb.ToString();
    }

    /// <summary>The state as ss numbers it (SS_*: Linux's TCP_* numbers).</summary>
    private static int SsState(JsonObject x) => (string)x["state"]! switch
    {
        "Established" => 1, "SynSent" => 2, "SynRecv" or "NewSynRecv" => 3, "FinWait1" => 4, "FinWait2" => 5, "TimeWait" => 6,
        "Close" => 7, "CloseWait" => 8, "LastAck" => 9, "Listen" => 10, "Closing" => 11, _ => 0,
    };

    /// <summary>ss's sstate_name[].</summary>
    private static string StateName(int s) => s switch
    {
        1 => "ESTAB", 2 => "SYN-SENT", 3 => "SYN-RECV", 4 => "FIN-WAIT-1", 5 => "FIN-WAIT-2", 6 => "TIME-WAIT", 7 => "UNCONN",
        8 => "CLOSE-WAIT", 9 => "LAST-ACK", 10 => "LISTEN", 11 => "CLOSING", _ => "UNKNOWN",
    };

    /// <summary>An address and its port as ss prints them: the IPv4 address as it is (0.0.0.0 too), port 0 as *.</summary>
    /// <summary>
    /// An end point as ss prints it (inet_addr_print()): IPv6 addresses in brackets ("[fd00::2]",
    /// "[::ffff:10.7.0.1]"), and the IPv6 wildcard of a dual-stack socket (not IPV6_V6ONLY) as "*",
    /// since it takes IPv4 too; port 0 as "*".
    /// </summary>
    internal static (string Host, string Port) Addr(string ep, bool v6only = false)
    {
        int colon = ep.LastIndexOf(':');
        string port = ep[(colon + 1)..], host = ep[..colon];
        if (host == "[::]" && !v6only) host = "*";
        return (host, port is "0" ? "*" : port);
    }

    /// <summary>ss's print_ms_timer(): "1min", "59sec", "1.200sec", "200ms".</summary>
    internal static string MsTimer(long timeout)
    {
        long secs = timeout / 1000, minutes = secs / 60, msecs = timeout % 1000;
        secs %= 60;
        var sb = new StringBuilder();
        if (minutes != 0)
        {
            msecs = 0;
            sb.Append(CultureInfo.InvariantCulture, $"{minutes}min");
            if (minutes > 9) secs = 0;
        }
        if (secs != 0)
        {
            if (secs > 9) msecs = 0;
            sb.Append(CultureInfo.InvariantCulture, $"{secs}").Append(msecs != 0 ? "." : "sec");
        }
        if (msecs != 0) sb.Append(CultureInfo.InvariantCulture, $"{msecs:000}").Append(secs != 0 ? "sec" : "ms");
        return sb.ToString();
    }

    /// <summary>The TCP_INFO part of `ss -ti` (tcp_show_info() and tcp_stats_print()): each field only when it is not 0, in ss's order and units.</summary>
    private static string Info(JsonObject i, bool showOptions, bool listen, bool numeric)
    {
        static long L(JsonNode? n) => n is null ? 0 : (long)(double)n;
        var sb = new StringBuilder();
        if (showOptions && (bool)i["ts"]!) sb.Append(" ts");
        if (showOptions && (bool)i["sack"]!) sb.Append(" sack");
        if (showOptions && i["ecn"] is { } ecn && (bool)ecn!) sb.Append(" ecn");
        if (showOptions && i["ecnseen"] is { } ecnseen && (bool)ecnseen!) sb.Append(" ecnseen");
        if ((string?)i["cc"] is { Length: > 0 } cc) sb.Append(' ').Append(cc);
        if (i["wscale"] is { } ws) sb.Append(" wscale:").Append((string)ws!);
        double rto = (double)i["rto_ms"]!;
        if (rto != 0 && rto != 3000) sb.Append(" rto:").Append(G(rto));
        if (L(i["backoff"]) != 0) sb.Append(CultureInfo.InvariantCulture, $" backoff:{L(i["backoff"])}");
        double rtt = (double)i["rtt_ms"]!;
        if (rtt != 0) sb.Append(" rtt:").Append(G(rtt)).Append('/').Append(G((double)i["rttvar_ms"]!));
        if ((double)i["ato_ms"]! != 0) sb.Append(" ato:").Append(G((double)i["ato_ms"]!));
        void Num(string label, string key)
        {
            long v = L(i[key]);
            if (v != 0) sb.Append(CultureInfo.InvariantCulture, $" {label}:{v}");
        }
        Num("mss", "mss");
        Num("pmtu", "pmtu");
        Num("rcvmss", "rcvmss");
        Num("advmss", "advmss");
        Num("cwnd", "cwnd");
        if (L(i["ssthresh"]) < 0xFFFF) Num("ssthresh", "ssthresh");
        foreach (var k in new[] { "bytes_sent", "bytes_retrans", "bytes_acked", "bytes_received", "segs_out", "segs_in", "data_segs_out", "data_segs_in" })
            Num(k, k);
        sb.Append(CcInfo(i, numeric));
        long mss = L(i["mss"]), cwnd = L(i["cwnd"]);
        if (rtt > 0 && mss != 0 && cwnd != 0) sb.Append(" send ").Append(Bw((double)cwnd * mss * 8000000.0 / (rtt * 1000), numeric)).Append("bps");
        Num("lastsnd", "lastsnd_ms");
        Num("lastrcv", "lastrcv_ms");
        Num("lastack", "lastack_ms");
        ulong pacing = (ulong)i["pacing_rate"]!, maxPacing = (ulong)i["max_pacing_rate"]!;
        if (pacing != 0 && pacing != ulong.MaxValue)
        {
            sb.Append(" pacing_rate ").Append(Bw(pacing * 8.0, numeric)).Append("bps");
            if (maxPacing != 0 && maxPacing != ulong.MaxValue) sb.Append('/').Append(Bw(maxPacing * 8.0, numeric)).Append("bps");
        }
        if ((ulong)i["delivery_rate"]! != 0) sb.Append(" delivery_rate ").Append(Bw((ulong)i["delivery_rate"]! * 8.0, numeric)).Append("bps");
        Num("delivered", "delivered");
        Num("delivered_ce", "delivered_ce");
        if ((bool)i["app_limited"]!) sb.Append(" app_limited");
        Num("unacked", "unacked");
        if (L(i["retrans"]) != 0 || L(i["total_retrans"]) != 0) sb.Append(CultureInfo.InvariantCulture, $" retrans:{L(i["retrans"])}/{L(i["total_retrans"])}");
        Num("lost", "lost");
        if (!listen) Num("sacked", "sacked");
        Num("dsack_dups", "dsack_dups");
        if (L(i["reordering"]) != 3) sb.Append(CultureInfo.InvariantCulture, $" reordering:{L(i["reordering"])}");
        Num("reord_seen", "reord_seen");
        if ((double)i["rcv_rtt_ms"]! != 0) sb.Append(" rcv_rtt:").Append(G((double)i["rcv_rtt_ms"]!));
        Num("rcv_space", "rcv_space");
        Num("rcv_ssthresh", "rcv_ssthresh");
        Num("notsent", "notsent");
        if (i["minrtt_ms"] is { } mr && (double)mr! != 0) sb.Append(" minrtt:").Append(G((double)mr!));
        Num("rcv_ooopack", "rcv_ooopack");
        Num("snd_wnd", "snd_wnd");
        Num("rcv_wnd", "rcv_wnd");
        return sb.ToString();
    }

    /// <summary>
    /// The congestion control's own block of `ss -ti` (tcp_stats_print(), after data_segs_in): DCTCP's
    /// <c> dctcp:(ce_state:%u,alpha:%u,ab_ecn:%u,ab_tot:%u)</c> or <c> dctcp:fallback_mode</c>, BBR's
    /// <c> bbr:(bw:%sbps,mrtt:%g,pacing_gain:%g,cwnd_gain:%g)</c> (bw through sprint_bw(), min_rtt in ms,
    /// the gains / 256, each gain only when not 0); empty for other algorithms.
    /// </summary>
    internal static string CcInfo(JsonObject i, bool numeric)
    {
        var sb = new StringBuilder();
        if (i["dctcp"] is JsonObject d)
        {
            if ((bool)d["enabled"]!)
                sb.Append(CultureInfo.InvariantCulture,
                    $" dctcp:(ce_state:{(uint)d["ce_state"]!},alpha:{(uint)d["alpha"]!},ab_ecn:{(uint)d["ab_ecn"]!},ab_tot:{(uint)d["ab_tot"]!})");
            else
                sb.Append(" dctcp:fallback_mode");
        }
        if (i["bbr"] is JsonObject b)
        {
            ulong bw = (ulong)b["bw"]!;
            uint pacingGain = (uint)b["pacing_gain"]!, cwndGain = (uint)b["cwnd_gain"]!;
            sb.Append(" bbr:(bw:").Append(Bw(bw * 8.0, numeric)).Append("bps,mrtt:").Append(G((uint)b["min_rtt_us"]! / 1000.0));
            if (pacingGain != 0) sb.Append(",pacing_gain:").Append(G(pacingGain / 256.0));
            if (cwndGain != 0) sb.Append(",cwnd_gain:").Append(G(cwndGain / 256.0));
            sb.Append(')');
        }
        return sb.ToString();
    }

    /// <summary>printf's %g (6 significant digits, no trailing zeros).</summary>
    internal static string G(double v, int precision = 6)
    {
        string s = v.ToString("G" + precision.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
        int e = s.IndexOf('E', StringComparison.Ordinal);
        if (e < 0) return s;
        // .NET writes 1E+15 where C writes 1e+15, and C keeps at least two exponent digits.
        string mant = s[..e], exp = s[(e + 1)..];
        char sign = exp[0] is '-' ? '-' : '+';
        string digits = exp.TrimStart('+', '-').PadLeft(2, '0');
        return $"{mant}e{sign}{digits}";
    }

    /// <summary>ss's sprint_bw(): k/M/G/T with three significant digits, or the plain number with -n.</summary>
    internal static string Bw(double bw, bool numeric) =>
        numeric ? bw.ToString("F0", CultureInfo.InvariantCulture)
        : bw >= 1e12 ? G(bw / 1e12, 3) + "T"
        : bw >= 1e9 ? G(bw / 1e9, 3) + "G"
        : bw >= 1e6 ? G(bw / 1e6, 3) + "M"
        : bw >= 1e3 ? G(bw / 1e3, 3) + "k"
        : G(bw);

    /// <summary>ss's render_screen_width(): the terminal's width, else $COLUMNS, else none (the compact layout).</summary>
    private static int? ScreenWidth()
    {
        if (!Console.IsOutputRedirected)
        {
            try
            {
                if (Console.WindowWidth > 0) return Console.WindowWidth;
            }
            catch (IOException)
            {
            }
        }
        return int.TryParse(Environment.GetEnvironmentVariable("COLUMNS"), NumberStyles.Integer, CultureInfo.InvariantCulture, out int c) && c > 0 ? c : null;
    }

    private static void PrintSummary(List<JsonObject> rows)
    {
        var tcp = rows.Where(x => (string)x["netid"]! == "tcp").ToList();
        int Count(string state) => tcp.Count(x => (string)x["state"]! == state);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"TCP:   {tcp.Count} (estab {Count("Established")}, closed {Count("Close")}, orphaned 0, timewait {Count("TimeWait")})"));
        Console.WriteLine();
        Console.WriteLine("Transport Total     IP");
        int raw = rows.Count(x => (string)x["netid"]! == "raw"), udp = rows.Count(x => (string)x["netid"]! == "udp");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{"RAW",-10}{raw,-10}{raw}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{"UDP",-10}{udp,-10}{udp}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{"TCP",-10}{tcp.Count,-10}{tcp.Count}"));
    }
}
