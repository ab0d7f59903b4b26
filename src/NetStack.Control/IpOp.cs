using System.Globalization;
using System.Net;
using System.Net.NetworkInformation;
using System.Text;
using System.Text.Json.Nodes;
using NetStack.Api;

namespace NetStack.Control;

/// <summary>
/// The "ip" op: `ip addr|link|route|neigh|maddr ...` as iproute2 takes and prints them, run on the stack
/// through its public configuration API (<see cref="NetStackConfig"/>, <see cref="NetStackInfo"/>):
/// <c>{"op":"ip","args":["route","add","10.9.0.0/24","via","10.7.0.1"]}</c> answers
/// <c>{"output": "..."}</c>, or an error as ip reports it ("RTNETLINK answers: File exists").
/// </summary>
public static class IpOp
{
    /// <summary>Runs one `ip` command line (without "ip").</summary>
    public static JsonObject Run(ControlContext c, JsonObject q)
    {
        ArgumentNullException.ThrowIfNull(c);
        ArgumentNullException.ThrowIfNull(q);
        var args = q["args"] is JsonArray a
            ? a.Select(n => n is JsonValue v && v.TryGetValue<string>(out var s) ? s : throw new SocketShell.ShellException("\"args\" is an array of strings")).ToList()
            : throw new SocketShell.ShellException("\"args\" is an array of strings: the ip command line without \"ip\"");
        bool stats = false;
        while (args.Count > 0 && args[0].StartsWith('-'))
        {
            if (args[0] is "-s" or "-stats" or "-statistics") stats = true;
            else if (args[0] is not ("-4" or "-n" or "-numeric")) throw Usage($"option \"{args[0]}\" is unknown (supported: -s, -4, -n)");
            args.RemoveAt(0);
        }
        if (args.Count == 0) throw Usage("ip [-s] { addr | link | route | neigh | maddr } [ COMMAND ]");
        var net = c.Net;
        string obj = args[0], cmd = args.Count > 1 ? args[1] : "show";
        var rest = args.Skip(2).ToList();
        try
        {
            string output = Match(obj, "address") switch
            {
                true => Addr(net, cmd, rest),
                _ when Match(obj, "link") => Link(net, cmd, rest, stats),
                _ when Match(obj, "route") => Route(net, cmd, rest),
                _ when Match(obj, "neighbour") || Match(obj, "neighbor") => Neigh(net, cmd, rest),
                _ when obj.Length > 1 && Match(obj, "maddress") => Maddr(net, cmd),
                _ => throw Usage($"Object \"{obj}\" is unknown, try \"ip help\" (supported: addr, link, route, neigh, maddr)"),
            };
            return new JsonObject { ["output"] = output };
        }
        catch (NetStackException e)
        {
            throw new SocketShell.ShellException($"RTNETLINK answers: {Strerror(e.Errno)}", e.ErrnoName);
        }
    }

    /// <summary>ip's abbreviations: any prefix of the word ("a", "addr", "r", "ro").</summary>
    private static bool Match(string given, string word) => given.Length > 0 && word.StartsWith(given, StringComparison.Ordinal);

    private static SocketShell.ShellException Usage(string m) => new(m, "EINVAL");

    private static string Strerror(int errno) => errno switch
    {
        Uapi.Errno.EEXIST => "File exists",
        Uapi.Errno.ESRCH => "No such process",
        Uapi.Errno.ENODEV => "No such device",
        Uapi.Errno.ENETUNREACH => "Network is unreachable",
        Uapi.Errno.ENOENT => "No such file or directory",
        Uapi.Errno.EADDRNOTAVAIL => "Cannot assign requested address",
        Uapi.Errno.ENETDOWN => "Network is down",
        Uapi.Errno.EACCES => "Permission denied",
        _ => "Invalid argument",
    };

    // ---- arguments

    private static (IPAddress Address, int Prefix) Prefix(string s, bool hostDefault)
    {
        if (s == "default") return (IPAddress.Any, 0);
        int slash = s.IndexOf('/');
        string a = slash < 0 ? s : s[..slash];
        int len = hostDefault ? 32 : 32;
        if (slash >= 0 && !int.TryParse(s[(slash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out len)) throw Usage($"invalid prefix \"{s}\"");
        if (len is < 0 or > 32) throw Usage($"invalid prefix \"{s}\"");
        return (Ipv4(a), len);
    }

    private static IPAddress Ipv4(string s) =>
        IPAddress.TryParse(s, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && s.Count(ch => ch == '.') == 3
            ? ip : throw Usage($"\"{s}\" is not a valid IPv4 address");

    /// <summary>KEYWORD VALUE pairs after the first operand.</summary>
    private static Dictionary<string, string> Keywords(List<string> rest, int from, params string[] allowed)
    {
        var d = new Dictionary<string, string>();
        for (int i = from; i < rest.Count; i += 2)
        {
            string k = rest[i] == "via" || rest[i] == "dev" || rest[i] == "src" || rest[i] == "metric" || rest[i] == "lladdr" ? rest[i]
                : rest[i] is "priority" or "preference" ? "metric" : rest[i];
            if (!allowed.Contains(k)) throw Usage($"\"{rest[i]}\" is not supported here (supported: {string.Join(", ", allowed)})");
            if (i + 1 >= rest.Count) throw Usage($"\"{rest[i]}\" needs a value");
            d[k] = rest[i + 1];
        }
        return d;
    }

    private static int Metric(Dictionary<string, string> kw, int dflt) =>
        !kw.TryGetValue("metric", out var m) ? dflt
        : int.TryParse(m, NumberStyles.None, CultureInfo.InvariantCulture, out int v) ? v : throw Usage($"\"{m}\" is not a valid metric");

    // ---- objects

    private static string Addr(Core.NetNamespace net, string cmd, List<string> rest)
    {
        if (Match(cmd, "show") || Match(cmd, "list")) return Links(net, rest, addresses: true, stats: false);
        if (cmd is "add" or "del" or "delete")
        {
            if (rest.Count == 0) throw Usage($"ip addr {cmd} ADDRESS/PREFIX dev DEVICE");
            var (a, p) = Prefix(rest[0], true);
            var kw = Keywords(rest, 1, "dev");
            string dev = kw.TryGetValue("dev", out var d) ? d : throw Usage("\"dev\" is required");
            if (cmd == "add") NetStackConfig.AddAddress(net, dev, a, p);
            else NetStackConfig.DeleteAddress(net, dev, a, rest[0].Contains('/') ? p : -1);
            return "";
        }
        throw Usage($"Command \"{cmd}\" is unknown, try \"ip addr help\" (supported: show, add, del)");
    }

    private static string Link(Core.NetNamespace net, string cmd, List<string> rest, bool stats)
    {
        if (Match(cmd, "show") || Match(cmd, "list")) return Links(net, rest, addresses: false, stats);
        if (cmd == "set")
        {
            if (rest.Count < 2 || rest[1] is not ("up" or "down")) throw Usage("ip link set DEVICE { up | down }");
            NetStackConfig.SetLinkUp(net, rest[0], rest[1] == "up");
            return "";
        }
        throw Usage($"Command \"{cmd}\" is unknown, try \"ip link help\" (supported: show, set DEV up|down)");
    }

    private static string Links(Core.NetNamespace net, List<string> rest, bool addresses, bool stats)
    {
        string? only = rest.Count >= 2 && rest[0] == "dev" ? rest[1] : rest.Count == 1 ? rest[0] : null;
        var sb = new StringBuilder();
        var devs = NetStackInfo.GetInterfaces(net).Where(d => only is null || d.Name == only).ToList();
        if (only is not null && devs.Count == 0) throw Usage($"Device \"{only}\" does not exist.");
        foreach (var d in devs)
        {
            string flags = d.IsLoopback ? "LOOPBACK" : "BROADCAST,MULTICAST";
            if (d.NoArp && !d.IsLoopback) flags += ",NOARP";
            if (d.IsUp) flags += ",UP,LOWER_UP";
            sb.Append(CultureInfo.InvariantCulture, $"{d.IfIndex}: {d.Name}: <{flags}> mtu {d.Mtu} state {(d.IsLoopback ? "UNKNOWN" : d.IsUp ? "UP" : "DOWN")}\n");
            string mac = Mac(d.LinkLayerAddress);
            sb.Append(d.IsLoopback ? $"    link/loopback {mac} brd 00:00:00:00:00:00\n" : $"    link/ether {mac} brd ff:ff:ff:ff:ff:ff\n");
            if (addresses)
                foreach (var a in d.Addresses)
                    sb.Append(CultureInfo.InvariantCulture,
                        $"    inet {a.Address}/{a.PrefixLength}{(a.Broadcast is { } b ? $" brd {b}" : "")} scope {a.Scope}{(a.Secondary ? " secondary" : "")} {d.Name}\n");
            if (stats)
            {
                var s = d.Statistics;
                sb.Append("    RX:  bytes packets errors dropped\n");
                sb.Append(CultureInfo.InvariantCulture, $"    {s.RxBytes,10} {s.RxPackets,7} {s.RxErrors,6} {s.RxDropped,7}\n");
                sb.Append("    TX:  bytes packets errors dropped\n");
                sb.Append(CultureInfo.InvariantCulture, $"    {s.TxBytes,10} {s.TxPackets,7} {s.TxErrors,6} {s.TxDropped,7}\n");
            }
        }
        return sb.ToString();
    }

    private static string Route(Core.NetNamespace net, string cmd, List<string> rest)
    {
        if (Match(cmd, "show") || Match(cmd, "list"))
        {
            var sb = new StringBuilder();
            // In the order of the kernel's trie walk: by destination, then prefix length (default first).
            foreach (var r in NetStackInfo.GetRoutes(net).OrderBy(r => System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(r.Destination.GetAddressBytes())).ThenBy(r => r.PrefixLength).ThenBy(r => r.Metric))
            {
                sb.Append(r.PrefixLength == 0 ? "default" : $"{r.Destination}/{r.PrefixLength}");
                if (r.Gateway is { } g) sb.Append(" via ").Append(g);
                sb.Append(" dev ").Append(r.Device);
                if (r.Protocol != "boot") sb.Append(" proto ").Append(r.Protocol);
                if (r.Scope != "global") sb.Append(" scope ").Append(r.Scope);
                if (r.PreferredSource is { } src) sb.Append(" src ").Append(src);
                if (r.Metric != 0) sb.Append(CultureInfo.InvariantCulture, $" metric {r.Metric}");
                sb.Append('\n');
            }
            return sb.ToString();
        }
        if (cmd == "get")
        {
            if (rest.Count == 0) throw Usage("ip route get ADDRESS");
            var r = NetStackInfo.GetRoute(net, Ipv4(rest[0]));
            return $"{r.Destination}{(r.Gateway is { } g ? $" via {g}" : "")} dev {r.Device} src {r.Source}\n";
        }
        if (cmd == "flush")
        {
            var kw = rest.Count > 0 && rest[0] != "dev" ? Keywords(rest, 1, "dev") : Keywords(rest, 0, "dev");
            var (a, p) = rest.Count > 0 && rest[0] != "dev" ? Prefix(rest[0], false) : (null!, 0);
            NetStackConfig.FlushRoutes(net, a, p, kw.GetValueOrDefault("dev"));
            return "";
        }
        if (cmd is "add" or "replace" or "append" or "del" or "delete" or "change")
        {
            if (rest.Count == 0) throw Usage($"ip route {cmd} PREFIX [via GATEWAY] [dev DEVICE] [src ADDRESS] [metric N]");
            var (dst, p) = Prefix(rest[0], false);
            var kw = Keywords(rest, 1, "via", "dev", "src", "metric");
            IPAddress? via = kw.TryGetValue("via", out var v) ? Ipv4(v) : null;
            IPAddress? src = kw.TryGetValue("src", out var s) ? Ipv4(s) : null;
            string? dev = kw.GetValueOrDefault("dev");
            switch (cmd)
            {
                case "add": NetStackConfig.AddRoute(net, dst, p, via, dev, src, Metric(kw, 0)); break;
                case "replace" or "change": NetStackConfig.ReplaceRoute(net, dst, p, via, dev, src, Metric(kw, 0)); break;
                case "append": NetStackConfig.AppendRoute(net, dst, p, via, dev, src, Metric(kw, 0)); break;
                default: NetStackConfig.DeleteRoute(net, dst, p, via, dev, Metric(kw, -1)); break;
            }
            return "";
        }
        throw Usage($"Command \"{cmd}\" is unknown, try \"ip route help\" (supported: show, get, add, replace, append, del, flush)");
    }

    private static string Neigh(Core.NetNamespace net, string cmd, List<string> rest)
    {
        if (Match(cmd, "show") || Match(cmd, "list"))
        {
            var sb = new StringBuilder();
            foreach (var n in NetStackInfo.GetNeighbours(net))
            {
                sb.Append(n.Address).Append(" dev ").Append(n.Device);
                if (n.LinkLayerAddress is { } mac && n.State is not ("INCOMPLETE" or "FAILED")) sb.Append(" lladdr ").Append(Mac(mac));
                sb.Append(' ').Append(n.State).Append('\n');
            }
            return sb.ToString();
        }
        if (cmd == "flush")
        {
            var kw = Keywords(rest, 0, "dev");
            NetStackConfig.FlushNeighbours(net, kw.GetValueOrDefault("dev"));
            return "";
        }
        if (cmd is "add" or "replace" or "del" or "delete")
        {
            if (rest.Count == 0) throw Usage($"ip neigh {cmd} ADDRESS lladdr MAC dev DEVICE");
            var addr = Ipv4(rest[0]);
            var kw = Keywords(rest, 1, "lladdr", "dev", "nud");
            string dev = kw.TryGetValue("dev", out var d) ? d : throw Usage("\"dev\" is required");
            if (cmd is "del" or "delete")
            {
                NetStackConfig.DeleteNeighbour(net, dev, addr);
                return "";
            }
            if (!kw.TryGetValue("lladdr", out var ll)) throw Usage("\"lladdr\" is required");
            PhysicalAddress mac;
            try { mac = PhysicalAddress.Parse(ll.Replace(':', '-')); }
            catch (FormatException) { throw Usage($"\"{ll}\" is not a valid link-layer address"); }
            if (cmd == "add") NetStackConfig.AddNeighbour(net, dev, addr, mac);
            else NetStackConfig.ReplaceNeighbour(net, dev, addr, mac);
            return "";
        }
        throw Usage($"Command \"{cmd}\" is unknown, try \"ip neigh help\" (supported: show, add, replace, del, flush)");
    }

    /// <summary>`ip maddr show`: per device, its link-layer groups, then its IPv4 groups (with the users when more than one).</summary>
    private static string Maddr(NetStack.Core.NetNamespace net, string cmd)
    {
        if (!Match(cmd, "show") && cmd != "list" && cmd != "lst") throw Usage($"Command \"{cmd}\" is unknown, try \"ip maddr help\" (supported: show)");
        var sb = new StringBuilder();
        foreach (var m in NetStackInfo.GetMulticastGroups(net))
        {
            sb.Append(m.IfIndex.ToString(CultureInfo.InvariantCulture)).Append(":\t").Append(m.Device).Append('\n');
            foreach (var l in m.LinkAddresses) sb.Append("\tlink  ").Append(Mac(l)).Append('\n');
            foreach (var (g, users) in m.Groups)
            {
                sb.Append(g.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? "\tinet6 " : "\tinet  ").Append(g);
                if (users > 1) sb.Append(" users ").Append(users.ToString(CultureInfo.InvariantCulture));
                sb.Append('\n');
            }
        }
        return sb.ToString();
    }

    private static string Mac(PhysicalAddress? a) =>
        a is null ? "00:00:00:00:00:00" : string.Join(':', a.GetAddressBytes().Select(b => b.ToString("x2", CultureInfo.InvariantCulture)));
}
