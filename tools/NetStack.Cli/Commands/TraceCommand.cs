using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using NetStack.Api;
using NetStack.Control;

namespace NetStack.Cli.Commands;

/// <summary>
/// `netstack trace tcp`: the running stack's TCP trace points (Linux's tcp_probe,
/// tcp:tcp_retransmit_skb, tcp:tcp_cong_state_set and sock:inet_sock_set_state, see
/// <see cref="TcpTrace"/>), through the control socket's "trace" op, as CSV (a header line, then one
/// line per record; the columns of <see cref="TcpTraceRecord.FieldNames"/>) or JSON lines, to stdout
/// or a file, until Ctrl-C, <c>-c N</c> records or <c>--duration SEC</c>. Filters: <c>--sport</c>,
/// <c>--dport</c>, <c>--port</c>, <c>--host</c> and an expression in ftrace's filter syntax, all of which
/// must hold. Records the stack dropped because this reader fell behind are counted on stderr, not
/// written into the file.
/// </summary>
internal static class TraceCommand
{
    public static Command Create()
    {
        var cmd = new Command("trace", "trace what the running stack's protocols do, as Linux's tracepoints show it (tcp: cwnd, RTT, retransmissions, states)");
        cmd.Add(CreateTcp());
        cmd.SetAction(int (_) => throw new UsageException("what to trace is needed: tcp (try netstack trace --help)"));
        return cmd;
    }

    private static Command CreateTcp()
    {
        var control = new ControlOptions();
        var sport = Opt.Value<int?>("--sport", "PORT", "only connections whose own (the stack's) port is PORT (the tracepoints' sport)", s => Opt.Port(s, zeroOk: true));
        var dport = Opt.Value<int?>("--dport", "PORT", "only connections whose peer's port is PORT (dport)", s => Opt.Port(s, zeroOk: true));
        var port = Opt.Value<int?>("--port", "PORT", "only connections with PORT on either side", s => Opt.Port(s, zeroOk: true));
        var host = Opt.Value<IPAddress?>("--host", "ADDR", "only connections with ADDR on either side", s => Opt.Ipv4(s));
        var output = Opt.Value("--output", "FILE", "write the records to FILE (- for stdout) [default: -]", s => s == "-" ? s : Opt.OutputFile(s, "-o"), "-o");
        var format = Opt.Value("--format", "csv|json", "CSV with a header line, or JSON lines [default: json for a FILE ending in .json, .jsonl or .ndjson, else csv]",
            s => s is "csv" or "json" ? s : throw new UsageException($"bad format '{s}': csv or json"));
        var count = Opt.Value<long?>("--count", "N", "stop after N records", s => Opt.Int("count", 1, int.MaxValue)(s), "-c");
        var duration = Opt.Value<double?>("--duration", "SEC", "stop after SEC seconds", s => Opt.Seconds("duration", 1e9)(s));
        var capacity = Opt.Value<int?>("--capacity", "N", $"records the stack holds for this reader before it drops new ones [default: {TcpTrace.DefaultCapacity}]",
            s => Opt.Int("capacity", TcpTrace.MinCapacity, TcpTrace.MaxCapacity, $": expected {TcpTrace.MinCapacity} to {TcpTrace.MaxCapacity}")(s));
        var expr = new Argument<string[]>("EXPRESSION")
        {
            Arity = ArgumentArity.ZeroOrMore,
            Description = "a filter in ftrace's syntax: FIELD OP VALUE (a column name or port/host; ==, !=, <, <=, >, >=, &) joined with &&, ||, !, ( ), " +
                          "e.g. 'event == tcp_retransmit_skb || ca_state == TCP_CA_Loss'",
        };
        var cmd = new Command("tcp", "the TCP trace points (tcp_probe after each ACK, transmissions, retransmissions, state and congestion-state changes) as CSV or JSON lines");
        control.AddTo(cmd);
        foreach (var o in new Option[] { sport, dport, port, host, output, format, count, duration, capacity }) cmd.Add(o);
        cmd.Add(expr);
        cmd.SetAction(r =>
        {
            var parts = new List<string>();
            if (r.GetValue(sport) is { } sp) parts.Add(string.Create(CultureInfo.InvariantCulture, $"sport == {sp}"));
            if (r.GetValue(dport) is { } dp) parts.Add(string.Create(CultureInfo.InvariantCulture, $"dport == {dp}"));
            if (r.GetValue(port) is { } p) parts.Add(string.Create(CultureInfo.InvariantCulture, $"port == {p}"));
            if (r.GetValue(host) is { } h) parts.Add($"host == {h}");
            string words = string.Join(' ', Opt.Operands(r, expr));
            if (words.Length > 0) parts.Add(parts.Count > 0 ? $"({words})" : words);
            string filter = string.Join(" && ", parts);
            if (filter.Length > 0 && !TcpTraceFilter.TryParse(filter, out _, out string? why)) throw new UsageException(why);

            string file = r.GetValue(output) ?? "-";
            bool json = (r.GetValue(format) ?? (IsJsonFile(file) ? "json" : "csv")) == "json";
            var (name, path) = control.Read(r);
            var request = new JsonObject { ["op"] = "trace", ["what"] = "tcp", ["format"] = json ? "json" : "csv", ["count"] = r.GetValue(count) ?? 0 };
            if (filter.Length > 0) request["filter"] = filter;
            if (r.GetValue(capacity) is { } cap) request["capacity"] = cap;
            if (!File.Exists(path)) throw new CliFailure($"no stack is running as {name} ({path}): start one with netstack up");
            Stream stream;
            try { (_, stream) = ControlClient.OpenStream(path, request); }
            catch (ControlException e) { throw new CliFailure(e.NoServer ? $"no stack is running as {name} ({path}): start one with netstack up" : e.Message); }

            using var stop = CancellationTokenSource.CreateLinkedTokenSource(Interrupt.Token);
            if (r.GetValue(duration) is { } sec) stop.CancelAfter(TimeSpan.FromSeconds(sec));
            using (stream)
            using (stop.Token.Register(() => stream.Dispose()))
            using (var sink = file == "-" ? Console.OpenStandardOutput() : new FileStream(file, FileMode.Create, FileAccess.Write, FileShare.Read))
            {
                Console.Error.WriteLine($"netstack trace: tracing tcp on {name}{(filter.Length > 0 ? $" ({filter})" : "")}, {(json ? "JSON lines" : "CSV")} to {(file == "-" ? "stdout" : file)}");
                var (records, dropped) = Copy(stream, sink, json, r.GetValue(count) ?? 0);
                Console.Error.WriteLine($"{records} record{(records == 1 ? "" : "s")}" +
                    (dropped > 0 ? $"; {dropped} dropped by the stack because this reader fell behind (--capacity raises its ring)" : ""));
            }
            return ExitCodes.Ok;
        });
        return cmd;
    }

    private static bool IsJsonFile(string file) =>
        file.EndsWith(".json", StringComparison.OrdinalIgnoreCase) || file.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase) ||
        file.EndsWith(".ndjson", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// Copies the trace stream's lines to <paramref name="sink"/> (flushed after each read, so a reader
    /// downstream sees records as they come), taking out the dropped-records notices; returns the
    /// records copied and the last dropped count.
    /// </summary>
    internal static (long Records, long Dropped) Copy(Stream stream, Stream sink, bool json, long count)
    {
        var buf = new byte[1 << 16];
        var line = new MemoryStream();
        long records = 0, dropped = 0;
        bool header = !json;
        while (count == 0 || records < count)
        {
            int n;
            try { n = stream.Read(buf); }
            catch (Exception e) when (e is IOException or ObjectDisposedException) { break; } // stopped (Ctrl-C, --duration) or the stack went away
            if (n == 0) break;
            int start = 0;
            while (start < n && (count == 0 || records < count))
            {
                int nl = Array.IndexOf(buf, (byte)'\n', start, n - start);
                if (nl < 0)
                {
                    line.Write(buf, start, n - start);
                    break;
                }
                line.Write(buf, start, nl - start);
                start = nl + 1;
                var text = line.GetBuffer().AsSpan(0, (int)line.Length);
                line.SetLength(0);
                if (DroppedNotice(text, json) is { } d)
                {
                    dropped = d;
                    continue;
                }
                try
                {
                    sink.Write(text);
                    sink.WriteByte((byte)'\n');
                }
                catch (IOException) { return (records, dropped); } // the reader downstream went away
                if (header) header = false;
                else records++;
            }
            try { sink.Flush(); }
            catch (IOException) { break; }
        }
        return (records, dropped);
    }

    /// <summary>The count of a "# dropped N" (CSV) or {"dropped":N} (JSON) line, else null.</summary>
    private static long? DroppedNotice(ReadOnlySpan<byte> line, bool json)
    {
        ReadOnlySpan<byte> prefix = json ? "{\"dropped\":"u8 : "# dropped "u8;
        if (!line.StartsWith(prefix)) return null;
        var rest = line[prefix.Length..];
        if (json && rest.Length > 0 && rest[^1] == (byte)'}') rest = rest[..^1];
        return long.TryParse(Encoding.ASCII.GetString(rest), NumberStyles.None, CultureInfo.InvariantCulture, out long v) ? v : 0;
    }
}
