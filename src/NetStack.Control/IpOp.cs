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
/// <para>IPv6 (issue 11): `-6` (or `-f inet6`, or an IPv6 address given) reaches the stack's inet6_dev, fib6 and
/// nd_tbl: `ip -6 addr` prints inet6 lines as iproute2 does (scope, flags, lifetimes), `ip -6 route` fib6's
/// main table (multipath routes with their nexthop lines), `ip -6 route get|flush|replace|append` as iproute2 over
/// Linux 6.x, `ip neigh` both tables; `-4` limits `ip addr` and `ip neigh` to IPv4.</para>
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
        int family = 0; // preferred_family: 0 (AF_UNSPEC), 4 or 6
        while (args.Count > 0 && args[0].StartsWith('-'))
        {
            if (args[0] is "-s" or "-stats" or "-statistics") stats = true;
            else if (args[0] == "-4") family = 4;
            else if (args[0] == "-6") family = 6;
            else if (args[0] is "-f" or "-family" && args.Count > 1 && args[1] is "inet" or "inet6")
            {
                family = args[1] == "inet" ? 4 : 6;
                args.RemoveAt(0);
            }
            else if (args[0] is not ("-n" or "-numeric")) throw Usage($"option \"{args[0]}\" is unknown (supported: -s, -4, -6, -f inet|inet6, -n)");
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
                true => Addr(net, cmd, rest, family),
                _ when Match(obj, "link") => Link(net, cmd, rest, stats),
                _ when Match(obj, "route") => Route(net, cmd, rest, family),
                _ when Match(obj, "neighbour") || Match(obj, "neighbor") => Neigh(net, cmd, rest, family),
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
        Uapi.Errno.EHOSTUNREACH => "No route to host",
        Uapi.Errno.EOPNOTSUPP => "Operation not supported",
        _ => "Invalid argument",
    };

    // ---- arguments

    /// <summary>
    /// ADDRESS[/PLEN] or "default", of the family the address has (iproute2's get_prefix() with
    /// AF_UNSPEC) unless -4/-6 chose one: "default" is 0.0.0.0/0, or ::/0 with -6.
    /// </summary>
    private static (IPAddress Address, int Prefix) Prefix(string s, int family)
    {
        bool v6 = family == 6 || (family == 0 && s.Contains(':'));
        if (s is "default" or "all" or "any") return (v6 ? IPAddress.IPv6Any : IPAddress.Any, 0);
        int slash = s.IndexOf('/');
        string a = slash < 0 ? s : s[..slash];
        int max = v6 ? 128 : 32, len = max;
        if (slash >= 0 && !int.TryParse(s[(slash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out len)) throw Usage($"invalid prefix \"{s}\"");
        if (len < 0 || len > max) throw Usage($"invalid prefix \"{s}\"");
        if (family == 4 && a.Contains(':')) throw Usage($"\"{s}\" is not an IPv4 prefix (-4)");
        return (v6 ? Ipv6(a) : Ipv4(a), len);
    }

    /// <summary>An address of the family <paramref name="family"/> asks for, or of the one it has (0).</summary>
    private static IPAddress Address(string s, int family) =>
        family == 6 || (family == 0 && s.Contains(':')) ? Ipv6(s) : Ipv4(s);

    private static IPAddress Ipv6(string s) =>
        !s.Contains('%') && IPAddress.TryParse(s, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
            ? ip : throw Usage($"\"{s}\" is not a valid IPv6 address");

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

    private static string Addr(Core.NetNamespace net, string cmd, List<string> rest, int family)
    {
        if (Match(cmd, "show") || Match(cmd, "list")) return Links(net, rest, addresses: true, stats: false, family);
        if (cmd is "add" or "del" or "delete")
        {
            if (rest.Count == 0) throw Usage($"ip addr {cmd} ADDRESS/PREFIX dev DEVICE");
            var (a, p) = Prefix(rest[0], family);
            bool noDad = rest.Contains("nodad"); // IFA_F_NODAD: usable at once, no duplicate address detection
            var kw = Keywords(rest.Where(w => w != "nodad").ToList(), 1, "dev");
            string dev = kw.TryGetValue("dev", out var d) ? d : throw Usage("\"dev\" is required");
            try
            {
                if (cmd == "add") NetStackConfig.AddAddress(net, dev, a, p, noDad);
                else NetStackConfig.DeleteAddress(net, dev, a, rest[0].Contains('/') ? p : -1);
            }
            catch (NetStackException e) when (a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 && e.Errno is Uapi.Errno.EEXIST or Uapi.Errno.EADDRNOTAVAIL)
            {
                // IPv6 answers these two with an extended ack, which ip prints instead of strerror (inet6_addr_add(), inet6_addr_del()).
                throw new SocketShell.ShellException(e.Errno == Uapi.Errno.EEXIST ? "Error: ipv6: address already assigned." : "Error: ipv6: address not found.", e.ErrnoName);
            }
            return "";
        }
        throw Usage($"Command \"{cmd}\" is unknown, try \"ip addr help\" (supported: show, add, del)");
    }

    private static string Link(Core.NetNamespace net, string cmd, List<string> rest, bool stats)
    {
        if (Match(cmd, "show") || Match(cmd, "list")) return Links(net, rest, addresses: false, stats, family: 0);
        if (cmd == "set")
        {
            if (rest.Count < 2 || rest[1] is not ("up" or "down")) throw Usage("ip link set DEVICE { up | down }");
            NetStackConfig.SetLinkUp(net, rest[0], rest[1] == "up");
            return "";
        }
        throw Usage($"Command \"{cmd}\" is unknown, try \"ip link help\" (supported: show, set DEV up|down)");
    }

    /// <summary>
    /// `ip link` and `ip addr`: each device's line, its link/ether line (left out with a family filter,
    /// as ip leaves it out), then its inet lines and its inet6 lines (struct inet6_ifaddr in addr_list's
    /// order, with the flags and the lifetimes ip prints). With -4 or -6 only devices with an address of
    /// that family are listed.
    /// </summary>
    /// <remarks>Mirrors iproute2 ip/ipaddress.c: ipaddr_list_flush_or_save(), print_linkinfo(), print_addrinfo().</remarks>
    private static string Links(Core.NetNamespace net, List<string> rest, bool addresses, bool stats, int family)
    {
        string? only = rest.Count >= 2 && rest[0] == "dev" ? rest[1] : rest.Count == 1 ? rest[0] : null;
        var sb = new StringBuilder();
        var devs = NetStackInfo.GetInterfaces(net).Where(d => only is null || d.Name == only).ToList();
        if (only is not null && devs.Count == 0) throw Usage($"Device \"{only}\" does not exist.");
        foreach (var d in devs)
        {
            bool inet = addresses && family != 6, inet6 = addresses && family != 4;
            if (addresses && family != 0 && (family == 4 ? d.Addresses.Count : d.Ipv6Addresses.Count) == 0) continue;
            string flags = d.IsLoopback ? "LOOPBACK" : "BROADCAST,MULTICAST";
            if (d.NoArp && !d.IsLoopback) flags += ",NOARP";
            if (d.IsUp) flags += ",UP,LOWER_UP";
            sb.Append(CultureInfo.InvariantCulture, $"{d.IfIndex}: {d.Name}: <{flags}> mtu {d.Mtu} state {(d.IsLoopback ? "UNKNOWN" : d.IsUp ? "UP" : "DOWN")}\n");
            string mac = Mac(d.LinkLayerAddress);
            if (family == 0) sb.Append(d.IsLoopback ? $"    link/loopback {mac} brd 00:00:00:00:00:00\n" : $"    link/ether {mac} brd ff:ff:ff:ff:ff:ff\n");
            if (inet)
                foreach (var a in d.Addresses)
                    sb.Append(CultureInfo.InvariantCulture,
                        $"    inet {a.Address}/{a.PrefixLength}{(a.Broadcast is { } b ? $" brd {b}" : "")} scope {a.Scope}{(a.Secondary ? " secondary" : "")} {d.Name}\n");
            if (inet6)
                foreach (var a in d.Ipv6Addresses) sb.Append(Inet6Line(a));
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

    /// <summary>
    /// An inet6 line of `ip addr` as iproute2 prints it: "    inet6 ADDR/PLEN scope SCOPE FLAGS... " (each
    /// word followed by a space), then the lifetimes on a line of their own (static addresses: forever).
    /// </summary>
    /// <remarks>Mirrors iproute2 ip/ipaddress.c: print_addrinfo() (print_ifa_flags(), the IFA_CACHEINFO lifetimes).</remarks>
    private static string Inet6Line(Ipv6InterfaceAddress a)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"    inet6 {a.Address}/{a.PrefixLength} scope {a.Scope} ");
        foreach (var f in a.Flags) sb.Append(f).Append(' ');
        sb.Append("\n       valid_lft forever preferred_lft forever\n");
        return sb.ToString();
    }

    /// <summary>
    /// `ip -6 route` lines: "PREFIX [via GW] dev DEV [proto P] metric M pref medium" (proto boot left out, as ip does);
    /// a multipath route once, where its first nexthop is, as "PREFIX [proto P] metric M pref medium" followed by
    /// "\tnexthop via GW dev DEV weight 1 " for each nexthop (the kernel dumps the siblings as one RTA_MULTIPATH).
    /// </summary>
    /// <remarks>Mirrors iproute2 ip/iproute.c: print_route() for AF_INET6 (RTA_PREF printed as "pref medium", print_rta_multipath()).</remarks>
    private static string Route6Lines(IReadOnlyList<RouteInfo> routes)
    {
        var sb = new StringBuilder();
        var printed = new HashSet<int>();
        foreach (var r in routes)
        {
            if (r.MultipathGroup != 0 && !printed.Add(r.MultipathGroup)) continue;
            sb.Append(r.PrefixLength == 0 ? "default" : $"{r.Destination}/{r.PrefixLength}");
            if (r.MultipathGroup == 0)
            {
                if (r.Gateway is { } g) sb.Append(" via ").Append(g);
                sb.Append(" dev ").Append(r.Device);
            }
            if (r.Protocol != "boot") sb.Append(" proto ").Append(r.Protocol);
            sb.Append(CultureInfo.InvariantCulture, $" metric {r.Metric} pref medium\n");
            if (r.MultipathGroup != 0)
                foreach (var h in routes.Where(h => h.MultipathGroup == r.MultipathGroup))
                    sb.Append("\tnexthop via ").Append(h.Gateway).Append(" dev ").Append(h.Device).Append(" weight 1 \n");
        }
        return sb.ToString();
    }

    /// <summary>
    /// `ip -6 route get ADDRESS [oif|dev DEVICE]`: "[TYPE ]ADDRESS from :: [via GW ]dev DEV[ table local][ proto P][ src SRC] metric M pref medium",
    /// as iproute2 prints the kernel's answer (the type for local and multicast routes; "from ::" as no source was asked for).
    /// </summary>
    /// <remarks>Mirrors iproute2 ip/iproute.c: iproute_get() + print_route() over inet6_rtm_getroute()'s rt6_fill_node().</remarks>
    private static string Route6Get(Core.NetNamespace net, List<string> rest)
    {
        string? dst = null, dev = null;
        for (int i = 0; i < rest.Count; i++)
        {
            if (rest[i] is "oif" or "dev")
            {
                if (++i >= rest.Count) throw Usage($"\"{rest[i - 1]}\" needs a value");
                dev = rest[i];
            }
            else if (rest[i] == "to" && i + 1 < rest.Count) dst = rest[++i];
            else if (dst is null) dst = rest[i];
            else throw Usage($"\"{rest[i]}\" is not supported here (supported: to, oif, dev)");
        }
        if (dst is null) throw Usage("ip -6 route get ADDRESS [oif DEVICE]");
        if (dev is not null && NetStackInfo.GetInterfaces(net).All(d => d.Name != dev)) throw Usage($"Cannot find device \"{dev}\"");
        var r = NetStackInfo.GetIpv6Route(net, Ipv6(dst), dev);
        var sb = new StringBuilder();
        if (r.Type != "unicast") sb.Append(r.Type).Append(' ');
        sb.Append(r.Destination).Append(" from ::");
        if (r.Gateway is { } g) sb.Append(" via ").Append(g);
        sb.Append(" dev ").Append(r.Device);
        if (r.Table != "main") sb.Append(" table ").Append(r.Table);
        if (r.Protocol != "boot") sb.Append(" proto ").Append(r.Protocol);
        if (r.Source is { } src) sb.Append(" src ").Append(src);
        sb.Append(CultureInfo.InvariantCulture, $" metric {r.Metric} pref medium\n");
        return sb.ToString();
    }

    /// <summary>
    /// `ip -6 route flush [[to|exact] PREFIX] [dev DEVICE] [table main]`: deletes the main table's routes that match, silently
    /// (also when none does); without a selector ip refuses, as iproute2 does ("ip route flush" requires arguments).
    /// </summary>
    /// <remarks>Mirrors iproute2 ip/iproute.c: iproute_list_flush_or_save() with do_ipv6 = AF_INET6.</remarks>
    private static string Route6Flush(Core.NetNamespace net, List<string> rest)
    {
        if (rest.Count == 0) throw Usage("\"ip route flush\" requires arguments.");
        string? prefix = null, dev = null;
        for (int i = 0; i < rest.Count; i++)
        {
            string k = rest[i];
            if (k is "dev" or "oif" or "table" or "to" or "exact")
            {
                if (++i >= rest.Count) throw Usage($"\"{k}\" needs a value");
                if (k is "dev" or "oif") dev = rest[i];
                else if (k == "table" && rest[i] != "main") throw Usage($"table \"{rest[i]}\" is not supported here (supported: main)");
                else if (k != "table") prefix = rest[i];
            }
            else if (prefix is null) prefix = k;
            else throw Usage($"\"{k}\" is not supported here (supported: PREFIX, dev, table main)");
        }
        if (dev is not null && NetStackInfo.GetInterfaces(net).All(d => d.Name != dev)) throw Usage($"Cannot find device \"{dev}\"");
        var (a, p) = prefix is null ? (null, 0) : Prefix(prefix, 6);
        NetStackConfig.FlushIpv6Routes(net, a, p, dev);
        return "";
    }

    private static string Route(Core.NetNamespace net, string cmd, List<string> rest, int family)
    {
        // `ip route` lists IPv4 (iproute2 makes AF_UNSPEC AF_INET for a table dump); -6 lists fib6's main table.
        if ((Match(cmd, "show") || Match(cmd, "list")) && family == 6) return Route6Lines(NetStackInfo.GetIpv6Routes(net));
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
            if (family == 6 || rest.Any(w => w.Contains(':'))) return Route6Get(net, rest);
            var r = NetStackInfo.GetRoute(net, Ipv4(rest[0]));
            return $"{r.Destination}{(r.Gateway is { } g ? $" via {g}" : "")} dev {r.Device} src {r.Source}\n";
        }
        if (cmd == "flush")
        {
            if (family == 6 || rest.Any(w => w.Contains(':'))) return Route6Flush(net, rest);
            var kw = rest.Count > 0 && rest[0] != "dev" ? Keywords(rest, 1, "dev") : Keywords(rest, 0, "dev");
            var (a, p) = rest.Count > 0 && rest[0] != "dev" ? Prefix(rest[0], 4) : (null!, 0);
            NetStackConfig.FlushRoutes(net, a, p, kw.GetValueOrDefault("dev"));
            return "";
        }
        if (cmd is "add" or "replace" or "append" or "del" or "delete" or "change")
        {
            if (rest.Count == 0) throw Usage($"ip route {cmd} PREFIX [via GATEWAY] [dev DEVICE] [src ADDRESS] [metric N]");
            // "default" takes its family from the gateway when none is given, as iproute2's rtm_family is set by `via`.
            if (family == 0 && rest[0] == "default" && rest.IndexOf("via") is int vi and > 0 && vi + 1 < rest.Count && rest[vi + 1].Contains(':')) family = 6;
            var (dst, p) = Prefix(rest[0], family);
            int fam = dst.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? 6 : 4;
            var kw = Keywords(rest, 1, "via", "dev", "src", "metric");
            IPAddress? via = kw.TryGetValue("via", out var v) ? Address(v, fam) : null;
            IPAddress? src = kw.TryGetValue("src", out var s) ? Address(s, fam) : null;
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

    /// <summary>`ip neigh`: arp_tbl's entries then nd_tbl's (neigh_dump_info() walks the tables in that order), or one family with -4/-6.</summary>
    private static string Neigh(Core.NetNamespace net, string cmd, List<string> rest, int family)
    {
        if (Match(cmd, "show") || Match(cmd, "list"))
        {
            var sb = new StringBuilder();
            IEnumerable<NeighbourInfo> all = family switch
            {
                4 => NetStackInfo.GetNeighbours(net),
                6 => NetStackInfo.GetIpv6Neighbours(net),
                _ => [.. NetStackInfo.GetNeighbours(net), .. NetStackInfo.GetIpv6Neighbours(net)],
            };
            foreach (var n in all)
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
            if (family != 6) NetStackConfig.FlushNeighbours(net, kw.GetValueOrDefault("dev"));
            if (family != 4) NetStackConfig.FlushIpv6Neighbours(net, kw.GetValueOrDefault("dev"));
            return "";
        }
        if (cmd is "add" or "replace" or "del" or "delete")
        {
            if (rest.Count == 0) throw Usage($"ip neigh {cmd} ADDRESS lladdr MAC dev DEVICE");
            var addr = Address(rest[0], family);
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
