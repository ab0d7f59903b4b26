using System.Reflection;
using System.Text.Json.Nodes;
using NetStack.Api;
using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;

namespace NetStack.Control;

/// <summary>What an op handler sees of the request's client: the stack, the client's descriptors, who it is.</summary>
/// <param name="Server">The server the client is attached to.</param>
/// <param name="Net">The stack.</param>
/// <param name="Files">The client's private descriptor table.</param>
/// <param name="ClientId">The client's number on this server (1, 2, ...).</param>
/// <param name="Peer">The client's credentials from SO_PEERCRED.</param>
public sealed record ControlContext(ControlServer Server, NetNamespace Net, FdTable Files, int ClientId, PeerCredentials Peer);

/// <summary>A connected client's process, user and group, as SO_PEERCRED gives them (struct ucred).</summary>
/// <param name="Pid">The client's process id.</param>
/// <param name="Uid">Its user id.</param>
/// <param name="Gid">Its group id.</param>
public readonly record struct PeerCredentials(int Pid, uint Uid, uint Gid);

/// <summary>One op of the control protocol: the keys it takes besides "op" and "id", and its handler.</summary>
/// <param name="Keys">The request keys the op takes; any other key is refused, naming it.</param>
/// <param name="Handler">Answers one request (throw <see cref="SocketShell.ShellException"/> to refuse it).</param>
public sealed record ControlOp(IReadOnlyList<string> Keys, Func<ControlContext, JsonObject, JsonObject> Handler);

/// <summary>
/// The introspection and configuration ops of the control protocol, one method each (the socket ops
/// are <see cref="SocketShell"/>'s). A new op (routes, neighbours, tcp_info) is one method here and one
/// line in <see cref="Builtin"/>, or <see cref="ControlServer.AddOp"/> from outside.
/// </summary>
public static class ControlOps
{
    /// <summary>The ops every server starts with.</summary>
    public static IReadOnlyDictionary<string, ControlOp> Builtin { get; } = new Dictionary<string, ControlOp>
    {
        ["version"] = new([], Version),
        ["memory"] = new(["collect"], Memory),
        ["sockets"] = new([], Sockets),
        ["interfaces"] = new([], Interfaces),
        ["sysctl"] = new(["name", "value"], Sysctl),
        ["counters"] = new(["nonzero"], Counters),
        ["dmesg"] = new([], Dmesg),
        ["ss"] = new(["tcp", "udp", "raw", "info"], Ss),
        ["ip"] = new(["args"], IpOp.Run),
    };

    /// <summary>
    /// The stack's sockets from its protocol tables, as `ss` reads them through inet_diag (every
    /// process's sockets, time-wait and half-open ones included): <c>{"sockets": [{"netid", "state",
    /// "recvq", "sendq", "family" ("inet" or "inet6": the socket's, so a v4-mapped peer is "inet6"), "v6only"
    /// (INET_DIAG_SKV6ONLY), "local", "peer" ("[::1]:7" for AF_INET6), "protocol", "ino", "cookie", "uid", "shutdown", "skmem",
    /// "timer", "info": {tcp_info's fields, "bbr", "dctcp"}}]}</c>, the TCP table first, then UDP's, then the raw
    /// sockets' (netid "raw", the local port their protocol). "tcp"/"udp"/"raw" (default all three)
    /// choose the tables; "info": true adds TCP_INFO, as `ss -i`. "skmem" is sock_diag's SK_MEMINFO as
    /// an array in its order (rmem_alloc, rcvbuf, wmem_alloc, sndbuf, fwd_alloc, wmem_queued, optmem,
    /// backlog, drops: <see cref="SocketMemoryInfo"/> says which are always 0); "timer" is
    /// <c>{"name", "expires_ms", "retrans"}</c> or null. Time-wait and request socks have no "shutdown"
    /// and no "skmem" (null), ino 0 and uid 0, as inet_diag reports them. "info"'s "bbr"
    /// (<c>{"bw" bytes/s, "min_rtt_us", "pacing_gain", "cwnd_gain"}</c>, gains &lt;&lt; 8) and "dctcp"
    /// (<c>{"enabled", "ce_state", "alpha", "ab_ecn", "ab_tot"}</c>) are the algorithm's get_info block
    /// (INET_DIAG_BBRINFO, INET_DIAG_DCTCPINFO), null for other algorithms and from TIME_WAIT on.
    /// </summary>
    public static JsonObject Ss(ControlContext c, JsonObject q)
    {
        ArgumentNullException.ThrowIfNull(c);
        ArgumentNullException.ThrowIfNull(q);
        bool Flag(string key, bool dflt) => q[key] is null ? dflt
            : q[key] is JsonValue v && v.TryGetValue<bool>(out bool b) ? b : throw new SocketShell.ShellException($"\"{key}\" is true or false");
        bool tcp = Flag("tcp", true), udp = Flag("udp", true), raw = Flag("raw", true), info = Flag("info", false);
        var list = new JsonArray();
        if (tcp)
            foreach (var s in NetStackInfo.GetTcpSockets(c.Net)) list.Add(SsRow("tcp", s, info));
        if (udp)
            foreach (var s in NetStackInfo.GetUdpSockets(c.Net)) list.Add(SsRow("udp", s, info));
        if (raw)
            foreach (var s in NetStackInfo.GetRawSockets(c.Net)) list.Add(SsRow("raw", s, info));
        return new JsonObject { ["sockets"] = list };
    }

    private static JsonObject SsRow(string netid, SocketInfo s, bool info)
    {
        var row = new JsonObject
        {
            ["netid"] = netid, ["state"] = s.State.ToString(), ["recvq"] = s.ReceiveQueue, ["sendq"] = s.SendQueue,
            ["family"] = s.LocalEndPoint.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? "inet6" : "inet",
            ["v6only"] = s.Ipv6Only,
            ["local"] = s.LocalEndPoint.ToString(),
            ["peer"] = s.RemoteEndPoint?.ToString() ?? (s.LocalEndPoint.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? "[::]:*" : "0.0.0.0:*"),
            ["protocol"] = s.ProtocolNumber, ["ino"] = s.Inode, ["cookie"] = s.Cookie, ["uid"] = s.Uid, ["shutdown"] = s.Shutdown,
            ["skmem"] = s.Memory is { } m
                ? new JsonArray(m.RmemAlloc, m.RcvBuf, m.WmemAlloc, m.SndBuf, m.FwdAlloc, m.WmemQueued, m.OptMem, m.Backlog, m.Drops) : null,
            ["timer"] = s.Timer is { } tm
                ? new JsonObject { ["name"] = tm.Name, ["expires_ms"] = (long)tm.Expires.TotalMilliseconds, ["retrans"] = tm.Retransmits } : null,
        };
        if (info && s.TcpInfo is { } t)
        {
            row["info"] = new JsonObject
            {
                ["cc"] = t.CongestionControl, ["wscale"] = t.WindowScaling ? $"{t.SendWindowScale},{t.ReceiveWindowScale}" : null,
                ["ts"] = t.Timestamps, ["sack"] = t.Sack, ["ecn"] = t.Ecn, ["ecnseen"] = t.EcnSeen,
                ["rto_ms"] = t.Rto.TotalMilliseconds, ["rtt_ms"] = t.Rtt.TotalMilliseconds, ["rttvar_ms"] = t.RttVar.TotalMilliseconds,
                ["ato_ms"] = t.Ato.TotalMilliseconds, ["mss"] = t.SendMss, ["pmtu"] = t.Pmtu, ["rcvmss"] = t.ReceiveMss, ["advmss"] = t.AdvMss,
                ["cwnd"] = t.SendCwnd, ["ssthresh"] = t.SendSsthresh, ["bytes_sent"] = t.BytesSent, ["bytes_retrans"] = t.BytesRetrans,
                ["bytes_acked"] = t.BytesAcked, ["bytes_received"] = t.BytesReceived, ["segs_out"] = t.SegmentsOut, ["segs_in"] = t.SegmentsIn,
                ["data_segs_out"] = t.DataSegmentsOut, ["data_segs_in"] = t.DataSegmentsIn,
                ["lastsnd_ms"] = t.LastDataSent.TotalMilliseconds, ["lastrcv_ms"] = t.LastDataReceived.TotalMilliseconds, ["lastack_ms"] = t.LastAckReceived.TotalMilliseconds,
                ["pacing_rate"] = t.PacingRate, ["delivery_rate"] = t.DeliveryRate, ["delivered"] = t.Delivered, ["delivered_ce"] = t.DeliveredCe,
                ["unacked"] = t.Unacked, ["retrans"] = t.Retrans, ["total_retrans"] = t.TotalRetrans, ["lost"] = t.Lost, ["sacked"] = t.Sacked,
                ["reordering"] = t.Reordering, ["rcv_rtt_ms"] = t.ReceiveRtt.TotalMilliseconds, ["rcv_space"] = t.ReceiveSpace,
                ["rcv_ssthresh"] = t.ReceiveSsthresh, ["minrtt_ms"] = t.MinRtt?.TotalMilliseconds, ["snd_wnd"] = t.SendWindow, ["rcv_wnd"] = t.ReceiveWindow,
                ["notsent"] = t.NotSentBytes, ["backoff"] = t.Backoff, ["max_pacing_rate"] = t.MaxPacingRate,
                ["app_limited"] = t.DeliveryRateAppLimited, ["dsack_dups"] = t.DsackDups, ["reord_seen"] = t.ReorderingSeen,
                ["rcv_ooopack"] = t.ReceiveOutOfOrderPackets,
                // The congestion control's own block in its kernel units (struct tcp_bbr_info, struct tcp_dctcp_info).
                ["bbr"] = t.Bbr is { } b
                    ? new JsonObject
                    {
                        ["bw"] = b.Bandwidth, ["min_rtt_us"] = (uint)(b.MinRtt.Ticks / 10),
                        ["pacing_gain"] = (uint)Math.Round(b.PacingGain * 256), ["cwnd_gain"] = (uint)Math.Round(b.CwndGain * 256),
                    } : null,
                ["dctcp"] = t.Dctcp is { } d
                    ? new JsonObject { ["enabled"] = d.Enabled, ["ce_state"] = (uint)d.CeState, ["alpha"] = d.Alpha, ["ab_ecn"] = d.AckedBytesEcn, ["ab_tot"] = d.AckedBytesTotal }
                    : null,
            };
        }
        return row;
    }

    /// <summary>
    /// The stack process's memory, for flood and soak scripts that watch it over time (what a
    /// kernel's /proc/meminfo and /proc/net/sockstat tell about the kernel's): <c>{"memory": {"gc_heap",
    /// "gc_heap_size", "gc_committed", "gc_allocated", "gc_collections": [gen0, gen1, gen2], "rss", "skb_pool": {"total",
    /// "free", "max", "alloc_failures"}, "pid"}}</c>. "gc_heap" is
    /// GC.GetTotalMemory(false) (live objects and garbage not yet collected), "gc_heap_size" the heap
    /// after the last collection, "gc_allocated" every managed byte the process allocated since it
    /// started (GC.GetTotalAllocatedBytes(precise: true): two readings around a transfer, divided by
    /// the frames moved, give bytes allocated per packet), "rss" the process's resident set (VmRSS).
    /// "collect": true runs a full blocking collection first (finalizers too), so "gc_heap" is the
    /// live objects alone: two readings around opening N connections, divided by N, give the heap per
    /// connection (scripts/bench.sh).
    /// </summary>
    public static JsonObject Memory(ControlContext c, JsonObject q)
    {
        ArgumentNullException.ThrowIfNull(c);
        ArgumentNullException.ThrowIfNull(q);
        bool collect = q["collect"] is null ? false
            : q["collect"] is JsonValue v && v.TryGetValue<bool>(out bool b) ? b : throw new SocketShell.ShellException("\"collect\" is true or false");
        if (collect)
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        }
        var gc = GC.GetGCMemoryInfo();
        var pool = c.Net.SkbPool;
        return new JsonObject
        {
            ["memory"] = new JsonObject
            {
                ["gc_heap"] = GC.GetTotalMemory(false),
                ["gc_heap_size"] = gc.HeapSizeBytes,
                ["gc_committed"] = gc.TotalCommittedBytes,
                ["gc_allocated"] = GC.GetTotalAllocatedBytes(precise: true),
                ["gc_collections"] = new JsonArray(GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2)),
                ["rss"] = Environment.WorkingSet,
                ["skb_pool"] = new JsonObject { ["total"] = pool.Total, ["free"] = pool.FreeCount, ["max"] = pool.MaxBuffers, ["alloc_failures"] = pool.AllocFailures },
                ["pid"] = Environment.ProcessId,
            },
        };
    }

    /// <summary>The stack's version and what it speaks: <c>{"version": 1, "netstack": "0.1.0", "ops": [...]}</c>.</summary>
    public static JsonObject Version(ControlContext c, JsonObject q)
    {
        ArgumentNullException.ThrowIfNull(c);
        var ops = new JsonArray();
        foreach (var op in c.Server.OpNames) ops.Add(op);
        return new JsonObject
        {
            ["version"] = ControlServer.ProtocolVersion,
            ["netstack"] = typeof(NetNamespace).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
                           ?? typeof(NetNamespace).Assembly.GetName().Version?.ToString(),
            ["name"] = c.Server.Name,
            ["pid"] = Environment.ProcessId,
            ["ops"] = ops,
        };
    }

    /// <summary>
    /// The stack's sockets, as `ss -a` lists them: those of the stack's own descriptor table
    /// (<see cref="NetStackInfo.GetSockets(NetNamespace)"/>: what `up` serves) with "owner": "stack", and those of each
    /// control client with "owner": "client N" and the client's pid.
    /// <c>{"sockets": [{"owner", "fd", "proto", "state", "local", "remote", "recvq", "sendq"}]}</c>.
    /// </summary>
    /// <remarks>Each table is read under the stack lock (<see cref="NetStackInfo.GetSockets(FdTable)"/>), so a row is one instant's.</remarks>
    public static JsonObject Sockets(ControlContext c, JsonObject q)
    {
        ArgumentNullException.ThrowIfNull(c);
        var list = new JsonArray();
        foreach (var s in NetStackInfo.GetSockets(c.Net)) list.Add(Row(s, "stack", null));
        foreach (var (id, peer, files) in c.Server.ClientTables())
            foreach (var s in NetStackInfo.GetSockets(files)) list.Add(Row(s, "client " + id, peer.Pid));
        return new JsonObject { ["sockets"] = list };

        static JsonObject Row(SocketInfo s, string owner, int? pid)
        {
            var row = new JsonObject { ["owner"] = owner };
            if (pid is { } p) row["pid"] = p;
            row["fd"] = s.Fd; row["proto"] = s.Protocol; row["state"] = s.State.ToString();
            row["local"] = s.LocalEndPoint.ToString(); row["remote"] = s.RemoteEndPoint?.ToString();
            row["recvq"] = s.ReceiveQueue; row["sendq"] = s.SendQueue;
            return row;
        }
    }

    /// <summary>The devices, as `ip addr` lists them: <c>{"interfaces": [{"name", "ifindex", "addr", "prefixlen", "mtu", "up", "addr6"}]}</c>,
    /// "addr6" the IPv6 addresses as "ADDR/PLEN" in `ip -6 addr`'s order (empty when IPv6 never saw the device up).</summary>
    public static JsonObject Interfaces(ControlContext c, JsonObject q)
    {
        ArgumentNullException.ThrowIfNull(c);
        var list = new JsonArray();
        foreach (var i in NetStackInfo.GetInterfaces(c.Net))
            list.Add(new JsonObject
            {
                ["name"] = i.Name, ["ifindex"] = i.IfIndex, ["addr"] = i.Address?.ToString(), ["prefixlen"] = i.PrefixLength,
                ["mtu"] = i.Mtu, ["up"] = i.IsUp,
                ["addr6"] = new JsonArray(i.Ipv6Addresses.Select(a => (JsonNode)$"{a.Address}/{a.PrefixLength}").ToArray()),
            });
        return new JsonObject { ["interfaces"] = list };
    }

    /// <summary>
    /// The sysctls under Linux's names, as sysctl(8): no "name" lists them all (<c>{"sysctls": {name: value}}</c>);
    /// "name" reads one (<c>{"name", "value"}</c>); "name" and "value" write one (answering the value read
    /// back). An unknown name is refused with ENOENT, a value the table refuses with EINVAL.
    /// </summary>
    public static JsonObject Sysctl(ControlContext c, JsonObject q)
    {
        ArgumentNullException.ThrowIfNull(c);
        ArgumentNullException.ThrowIfNull(q);
        var table = c.Net.Sysctl;
        if (!q.ContainsKey("name"))
        {
            if (q.ContainsKey("value")) throw new SocketShell.ShellException("\"value\" needs a \"name\"");
            var all = new JsonObject();
            foreach (var n in table.Names)
                if (table.TryGet(n, out var v)) all[n] = v;
            return new JsonObject { ["sysctls"] = all };
        }
        string name = StringArg(q, "name");
        if (q.ContainsKey("value"))
        {
            string value = q["value"] is JsonValue jv && jv.TryGetValue<string>(out var s) ? s : q["value"]!.ToJsonString();
            int r = table.TrySet(name, value);
            if (r == -Errno.ENOENT) throw new SocketShell.ShellException($"unknown sysctl \"{name}\"", "ENOENT");
            if (r < 0) throw new SocketShell.ShellException($"sysctl {name}: bad value \"{value}\"", Errno.Name(r));
        }
        if (!table.TryGet(name, out var cur)) throw new SocketShell.ShellException($"unknown sysctl \"{name}\"", "ENOENT");
        return new JsonObject { ["name"] = name, ["value"] = cur };
    }

    /// <summary>
    /// The stack's kernel log (what the kernel would print with printk, e.g. "Possible SYN flooding on
    /// port ..."), oldest line first, as dmesg prints it: <c>{"lines": ["[    1.234567] TCP: ...", ...]}</c>.
    /// </summary>
    public static JsonObject Dmesg(ControlContext c, JsonObject q)
    {
        ArgumentNullException.ThrowIfNull(c);
        var lines = new JsonArray();
        foreach (var line in c.Net.Log.Read()) lines.Add(line);
        return new JsonObject { ["lines"] = lines };
    }

    /// <summary>
    /// The MIB counters (/proc/net/snmp and /proc/net/netstat, plus drops by reason), as nstat and
    /// `netstat -s` read them: <c>{"counters": {"Ip": {"Forwarding": 2, "DefaultTTL": 64, "InReceives": n, ...},
    /// "Icmp", "IcmpMsg", "Tcp", "Udp", "TcpExt", "IpExt", "ArpCache", "SkbPool", "Kernel", "Drops"}}</c>, the lines and counters in /proc
    /// order (<see cref="NetStackInfo.GetCounterTables"/>); "nonzero": true leaves out the zeros.
    /// </summary>
    public static JsonObject Counters(ControlContext c, JsonObject q)
    {
        ArgumentNullException.ThrowIfNull(c);
        ArgumentNullException.ThrowIfNull(q);
        bool nonzero = q["nonzero"] is JsonValue v && v.TryGetValue<bool>(out bool b) ? b
            : q.ContainsKey("nonzero") ? throw new SocketShell.ShellException("\"nonzero\" is true or false") : false;
        var tables = new JsonObject();
        foreach (var t in NetStackInfo.GetCounterTables(c.Net))
        {
            var o = new JsonObject();
            foreach (var (name, value) in t.Counters)
                if (value != 0 || !nonzero) o[name] = value;
            tables[t.Name] = o;
        }
        tables["Drops"] = Table(c.Net.Mib.Drops, nonzero);
        return new JsonObject { ["counters"] = tables };
    }

    private static JsonObject Table<T>(MibTable<T> t, bool nonzero) where T : struct, Enum
    {
        var o = new JsonObject();
        for (int i = 0; i < t.Length; i++)
        {
            long v = t.ValueAt(i);
            if (v != 0 || !nonzero) o[t.NameAt(i)] = v;
        }
        return o;
    }

    private static string StringArg(JsonObject q, string key) =>
        q[key] is JsonValue v && v.TryGetValue<string>(out var s) ? s : throw new SocketShell.ShellException($"\"{key}\" is a string");
}
