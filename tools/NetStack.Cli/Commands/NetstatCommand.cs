using System.CommandLine;
using System.Text.Json.Nodes;

namespace NetStack.Cli.Commands;

/// <summary>
/// `netstack netstat -s`: the running stack's counters as net-tools' `netstat -s` prints the
/// kernel's (/proc/net/snmp, then /proc/net/netstat): Ip, Icmp, IcmpMsg, Tcp, Udp, UdpLite, TcpExt
/// and IpExt, in netstat's phrases ("12 active connection openings") or, for counters it has none
/// for, its "Name: N" (see <see cref="NetstatStatistics"/>). `-t`, `-u` and `-w` keep TCP's (Tcp,
/// TcpExt), UDP's (Udp) or raw IP's (Ip, Icmp) sections, and, as netstat does, the sections it has
/// no table for (IcmpMsg, UdpLite, IpExt) always. The counters come from the control socket's
/// "counters" op (the same as `nstat -a`). The stack has no UDP-Lite: its UdpLite line, which Linux
/// always has, is all zeros, so netstat prints its title alone. Only -s is supported: netstat's
/// other modes (connections, -r routes, -i interfaces) are `netstack ss`, `ip route` and `ip -s link`.
/// </summary>
internal static class NetstatCommand
{
    public static Command Create()
    {
        var control = new ControlOptions();
        var statistics = Opt.Flag("--statistics", "print the counters, as netstat -s (the only mode supported)", "-s");
        var tcp = Opt.Flag("--tcp", "with -s: TCP's sections (Tcp, TcpExt)", "-t");
        var udp = Opt.Flag("--udp", "with -s: UDP's section (Udp)", "-u");
        var raw = Opt.Flag("--raw", "with -s: raw IP's sections (Ip, Icmp)", "-w");
        var cmd = new Command("netstat", "the running stack's counters as netstat -s prints them (-s, with -t -u -w to choose sections)");
        control.AddTo(cmd);
        foreach (var o in new[] { statistics, tcp, udp, raw }) cmd.Add(o);
        cmd.SetAction(r =>
        {
            if (!r.GetValue(statistics))
                throw new UsageException("only -s (statistics) is supported; for sockets use netstack ss, for routes netstack ip route, for interfaces netstack ip -s link");
            bool t = r.GetValue(tcp), u = r.GetValue(udp), w = r.GetValue(raw);
            if (!t && !u && !w) t = u = w = true;   // netstat: no protocol named means all of them
            var (name, path) = control.Read(r);
            using var client = ControlOptions.TryAttach(path) ?? throw new CliFailure($"no stack is running as {name} ({path}): start one with netstack up");
            var tables = SysctlCommand.Ask(client, new JsonObject { ["op"] = "counters" })["counters"]!.AsObject();
            Console.Write(NetstatStatistics.Render(ProcLines(tables), raw: w, tcp: t, udp: u));
            return ExitCodes.Ok;
        });
        return cmd;
    }

    /// <summary>The "counters" op's tables as the /proc lines netstat reads, in their order: IcmpMsg as Linux writes it (at most 16 types a line, none without a type seen), and the all-zero UdpLite line Linux has after Udp.</summary>
    internal static List<(string Name, IReadOnlyList<KeyValuePair<string, long>> Counters)> ProcLines(JsonObject tables)
    {
        var lines = new List<(string, IReadOnlyList<KeyValuePair<string, long>>)>();
        foreach (var (table, counters) in tables)
        {
            // The stack's drop reasons, /proc/net/stat/arp_cache and the buffer pools: no line in
            // /proc/net/snmp or /proc/net/netstat, so netstat -s does not show them (nstat does).
            if (table is "Drops" or "ArpCache" or "SkbPool" or "Kernel") continue;
            var list = counters!.AsObject().Select(c => new KeyValuePair<string, long>(c.Key, (long)c.Value!)).ToList();
            if (table == "IcmpMsg")
            {
                // icmpmsg_put(): the types seen, 16 to a line pair; no line at all when none was seen.
                for (int i = 0; i < list.Count; i += 16) lines.Add((table, list.Skip(i).Take(16).ToList()));
                continue;
            }
            lines.Add((table, list));
            if (table == "Udp") lines.Add(("UdpLite", list.Select(c => new KeyValuePair<string, long>(c.Key, 0)).ToList()));
        }
        return lines;
    }
}
