using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace NetStack.Sim;

/// <summary>What a scenario file describes wrongly: the message names the JSON path ("hosts[1].link.down.rate: ...").</summary>
public sealed class ScenarioException(string message) : Exception(message);

/// <summary>
/// A simulation: hosts on one switch, the links that join them, and the flows they run, read from
/// a small JSON file with comments (see experiments/README.md for the format).
/// </summary>
public sealed class Scenario
{
    /// <summary>The scenario's name (the file's name without extension unless given).</summary>
    public string Name { get; set; } = "scenario";
    /// <summary>A sentence on what it shows.</summary>
    public string? Description { get; set; }
    /// <summary>How long to simulate.</summary>
    public long DurationNs { get; set; } = 10_000_000_000;
    /// <summary>The seed of every random choice (loss, jitter, reordering, on/off periods).</summary>
    public ulong Seed { get; set; } = 1;
    /// <summary>How often the flows' TCP_INFO and the queues are sampled into the time series.</summary>
    public long SampleIntervalNs { get; set; } = 100_000_000;
    /// <summary>The MTU of every host's device.</summary>
    public int Mtu { get; set; } = 1500;
    /// <summary>Sysctls every host gets (before its own).</summary>
    public List<KeyValuePair<string, string>> Sysctl { get; } = [];
    /// <summary>The hosts, each on a port of the switch.</summary>
    public List<HostSpec> Hosts { get; } = [];
    /// <summary>The flows.</summary>
    public List<FlowSpec> Flows { get; } = [];

    private static readonly JsonDocumentOptions DocOptions = new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };

    /// <summary>Reads a scenario file; its name defaults to the file's name.</summary>
    public static Scenario Load(string path)
    {
        string text = File.ReadAllText(path);
        return Parse(text, Path.GetFileNameWithoutExtension(path));
    }

    /// <summary>Parses a scenario from JSON text (comments and trailing commas allowed).</summary>
    public static Scenario Parse(string json, string defaultName = "scenario")
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(json, documentOptions: DocOptions);
        }
        catch (JsonException e)
        {
            throw new ScenarioException($"not valid JSON: {e.Message}");
        }
        if (root is not JsonObject o) throw new ScenarioException("a scenario is a JSON object");
        var r = new Obj(o, "");
        var s = new Scenario { Name = r.Str("name") ?? defaultName, Description = r.Str("description") };
        s.DurationNs = r.Time("duration") ?? s.DurationNs;
        if (s.DurationNs <= 0) throw new ScenarioException("duration: must be positive");
        if (r.Has("seed")) s.Seed = (ulong)r.Long("seed", 0, long.MaxValue)!.Value;
        s.SampleIntervalNs = r.Time("sample_interval") ?? s.SampleIntervalNs;
        if (s.SampleIntervalNs < 1000) throw new ScenarioException("sample_interval: at least 1us");
        s.Mtu = (int)(r.Long("mtu", 576, 9000) ?? 1500);
        r.Sysctls("sysctl", s.Sysctl);
        var hosts = r.Array("hosts") ?? throw new ScenarioException("hosts: a scenario needs hosts");
        for (int i = 0; i < hosts.Count; i++) s.Hosts.Add(HostSpec.Parse(hosts[i], $"hosts[{i}]"));
        if (s.Hosts.Count < 2) throw new ScenarioException("hosts: at least two");
        if (s.Hosts.Count > 200) throw new ScenarioException("hosts: at most 200");
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var h in s.Hosts)
            if (!names.Add(h.Name)) throw new ScenarioException($"hosts: the name \"{h.Name}\" is used twice");
        var flows = r.Array("flows") ?? [];
        for (int i = 0; i < flows.Count; i++) s.Flows.Add(FlowSpec.Parse(flows[i], $"flows[{i}]", i));
        if (s.Flows.Count > 1000) throw new ScenarioException("flows: at most 1000");
        var flowNames = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < s.Flows.Count; i++)
        {
            var f = s.Flows[i];
            if (!flowNames.Add(f.Name)) throw new ScenarioException($"flows[{i}]: the name \"{f.Name}\" is used twice");
            if (!names.Contains(f.From)) throw new ScenarioException($"flows[{i}].from: no host \"{f.From}\"");
            if (!names.Contains(f.To)) throw new ScenarioException($"flows[{i}].to: no host \"{f.To}\"");
            if (f.From == f.To) throw new ScenarioException($"flows[{i}]: from and to are the same host");
            if (f.StartNs >= s.DurationNs) throw new ScenarioException($"flows[{i}].start: after the end of the simulation");
        }
        r.Done();
        return s;
    }

    /// <summary>Reads one JSON object, remembering which keys were used so that a misspelt one is an error.</summary>
    internal sealed class Obj
    {
        private readonly JsonObject _o;
        private readonly HashSet<string> _used = new(StringComparer.Ordinal);
        public readonly string Path;

        public Obj(JsonNode? node, string path)
        {
            Path = path;
            _o = node as JsonObject ?? throw new ScenarioException($"{Where()}: expected an object");
        }

        private string Where(string? key = null) => key is null ? (Path.Length == 0 ? "scenario" : Path) : (Path.Length == 0 ? key : Path + "." + key);

        public bool Has(string key) => _o.ContainsKey(key);

        private JsonNode? Get(string key)
        {
            _used.Add(key);
            return _o.TryGetPropertyValue(key, out var v) ? v : null;
        }

        public ScenarioException Error(string key, string message) => new($"{Where(key)}: {message}");

        public string? Str(string key)
        {
            var v = Get(key);
            if (v is null) return null;
            if (v is JsonValue jv && jv.TryGetValue(out string? s)) return s;
            throw Error(key, "expected a string");
        }

        public bool? Bool(string key)
        {
            var v = Get(key);
            if (v is null) return null;
            if (v is JsonValue jv && jv.TryGetValue(out bool b)) return b;
            throw Error(key, "expected true or false");
        }

        public double? Double(string key, double min, double max)
        {
            var v = Get(key);
            if (v is null) return null;
            double d;
            if (v is JsonValue jv && jv.TryGetValue(out double x)) d = x;
            else if (v is JsonValue js && js.TryGetValue(out string? s) && s.EndsWith('%')
                     && double.TryParse(s.AsSpan(0, s.Length - 1), NumberStyles.Float, CultureInfo.InvariantCulture, out double pc)) d = pc / 100;
            else throw Error(key, "expected a number (or a percentage such as \"1%\")");
            if (!(d >= min && d <= max)) throw Error(key, $"must be between {min.ToString(CultureInfo.InvariantCulture)} and {max.ToString(CultureInfo.InvariantCulture)}");
            return d;
        }

        public long? Long(string key, long min, long max)
        {
            var v = Get(key);
            if (v is null) return null;
            if (v is JsonValue jv && jv.TryGetValue(out long l))
            {
                if (l < min || l > max) throw Error(key, $"must be between {min} and {max}");
                return l;
            }
            throw Error(key, "expected an integer");
        }

        private T? Unit<T>(string key, Func<string, T> parse, Func<double, T> plain) where T : struct
        {
            var v = Get(key);
            if (v is null) return null;
            try
            {
                if (v is JsonValue jv && jv.TryGetValue(out double d)) return plain(d);
                if (v is JsonValue js && js.TryGetValue(out string? s)) return parse(s);
            }
            catch (FormatException e)
            {
                throw Error(key, e.Message);
            }
            throw Error(key, "expected a number or a string with a unit");
        }

        /// <summary>A time: "20ms", or a number of seconds.</summary>
        public long? Time(string key) => Unit(key, Units.ParseTime, d => d >= 0 ? (long)Math.Round(d * 1e9) : throw new FormatException("must not be negative"));
        /// <summary>A rate: "100Mbit", or a number of bits per second.</summary>
        public double? Rate(string key) => Unit(key, Units.ParseRate, d => d > 0 ? d : throw new FormatException("must be positive"));
        /// <summary>A size: "64KB", or a number of bytes.</summary>
        public long? Size(string key) => Unit(key, Units.ParseSize, d => d >= 0 ? (long)Math.Round(d) : throw new FormatException("must not be negative"));

        public JsonArray? Array(string key)
        {
            var v = Get(key);
            if (v is null) return null;
            return v as JsonArray ?? throw Error(key, "expected an array");
        }

        public Obj? Child(string key)
        {
            var v = Get(key);
            return v is null ? null : new Obj(v, Where(key));
        }

        /// <summary>An object of sysctl names to values (numbers or strings; a vector as "4096 131072 6291456").</summary>
        public void Sysctls(string key, List<KeyValuePair<string, string>> into)
        {
            var v = Get(key);
            if (v is null) return;
            if (v is not JsonObject o) throw Error(key, "expected an object of sysctl names and values");
            foreach (var (name, val) in o)
            {
                string s = val switch
                {
                    JsonValue jv when jv.TryGetValue(out long l) => l.ToString(CultureInfo.InvariantCulture),
                    JsonValue jv when jv.TryGetValue(out string? str) => str,
                    JsonValue jv when jv.TryGetValue(out bool b) => b ? "1" : "0",
                    JsonArray a => string.Join(' ', a.Select(x => x?.ToString() ?? "")),
                    _ => throw Error(key + "." + name, "expected a number or a string"),
                };
                into.Add(new(name, s));
            }
        }

        /// <summary>An object of socket option names (SO_SNDBUF, TCP_NODELAY...) to integer values.</summary>
        public void Options(string key, List<KeyValuePair<string, int>> into)
        {
            var v = Get(key);
            if (v is null) return;
            if (v is not JsonObject o) throw Error(key, "expected an object of socket option names and values");
            foreach (var (name, val) in o)
            {
                int x = val switch
                {
                    JsonValue jv when jv.TryGetValue(out int i) => i,
                    JsonValue jv when jv.TryGetValue(out bool b) => b ? 1 : 0,
                    JsonValue jv when jv.TryGetValue(out string? s) => (int)Math.Min(int.MaxValue, ParseSizeOr(s, key + "." + name)),
                    _ => throw Error(key + "." + name, "expected an integer"),
                };
                if (!SockOptNames.TryResolve(name, out _, out _)) throw Error(key + "." + name, $"unknown socket option (known: {string.Join(", ", SockOptNames.Known)})");
                into.Add(new(name, x));
            }
        }

        private long ParseSizeOr(string s, string key)
        {
            try { return Units.ParseSize(s); }
            catch (FormatException e) { throw new ScenarioException($"{Where(key)}: {e.Message}"); }
        }

        /// <summary>Fails on a key no reader asked for (a misspelling would otherwise be ignored silently).</summary>
        public void Done()
        {
            foreach (var (k, _) in _o)
                if (!_used.Contains(k)) throw new ScenarioException($"{Where(k)}: unknown key");
        }
    }
}

/// <summary>A host: a stack on a port of the switch, with the link between them.</summary>
public sealed class HostSpec
{
    /// <summary>The host's name (flows name their hosts by it).</summary>
    public string Name { get; set; } = "";
    /// <summary>The direction from the host to the switch (what the host sends).</summary>
    public LinkSpec Up { get; set; } = new();
    /// <summary>The direction from the switch to the host (the switch's egress port towards it: what the host receives).</summary>
    public LinkSpec Down { get; set; } = new();
    /// <summary>The host's sysctls (after the scenario's).</summary>
    public List<KeyValuePair<string, string>> Sysctl { get; } = [];

    internal static HostSpec Parse(JsonNode? node, string path)
    {
        var r = new Scenario.Obj(node, path);
        var h = new HostSpec { Name = r.Str("name") ?? throw r.Error("name", "a host needs a name") };
        if (h.Name.Length == 0 || h.Name.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')))
            throw r.Error("name", "letters, digits, '-', '_' and '.' only");
        if (r.Child("link") is { } link)
        {
            var both = new LinkSpec();
            both.Read(link);
            h.Up = both.Clone();
            h.Down = both.Clone();
            if (link.Child("up") is { } up) { h.Up.Read(up); up.Done(); }
            if (link.Child("down") is { } down) { h.Down.Read(down); down.Done(); }
            link.Done();
        }
        r.Sysctls("sysctl", h.Sysctl);
        r.Done();
        return h;
    }
}

/// <summary>One direction of a host's link: rate, propagation delay, queue, loss, reordering, jitter.</summary>
public sealed class LinkSpec
{
    /// <summary>The bottleneck rate in bits per second; 0 is infinite (no serialization, no queue).</summary>
    public double RateBps { get; set; }
    /// <summary>Bytes added to each frame for the serialization time (24 counts preamble, FCS and gap); 0 by default.</summary>
    public int OverheadBytes { get; set; }
    /// <summary>The one-way propagation delay.</summary>
    public long DelayNs { get; set; }
    /// <summary>Each frame's delay varies uniformly by up to this much either way (order kept: a frame never arrives before the one sent ahead of it).</summary>
    public long JitterNs { get; set; }
    /// <summary>Bernoulli loss: each frame is lost with this probability.</summary>
    public double Loss { get; set; }
    /// <summary>Gilbert-Elliott bursty loss, or null.</summary>
    public GilbertSpec? Gilbert { get; set; }
    /// <summary>Reordering: this fraction of frames is held <see cref="ReorderDelayNs"/> longer, so later frames overtake it.</summary>
    public double ReorderProbability { get; set; }
    /// <summary>The extra delay of a reordered frame.</summary>
    public long ReorderDelayNs { get; set; } = 1_000_000;
    /// <summary>The queue in front of the link (used when the rate is finite).</summary>
    public QueueSpec Queue { get; set; } = new();

    internal LinkSpec Clone()
    {
        var c = (LinkSpec)MemberwiseClone();
        c.Queue = Queue.Clone();
        c.Gilbert = Gilbert?.Clone();
        return c;
    }

    internal void Read(Scenario.Obj r)
    {
        RateBps = r.Rate("rate") ?? RateBps;
        OverheadBytes = (int)(r.Long("overhead", 0, 100) ?? OverheadBytes);
        DelayNs = r.Time("delay") ?? DelayNs;
        JitterNs = r.Time("jitter") ?? JitterNs;
        Loss = r.Double("loss", 0, 1) ?? Loss;
        if (r.Child("gilbert") is { } g)
        {
            Gilbert = new GilbertSpec
            {
                P = g.Double("p", 0, 1) ?? throw g.Error("p", "the probability of going from the good state to the bad one is needed"),
                R = g.Double("r", 0, 1) ?? throw g.Error("r", "the probability of going from the bad state to the good one is needed"),
                LossGood = g.Double("loss_good", 0, 1) ?? 0,
                LossBad = g.Double("loss_bad", 0, 1) ?? 1,
            };
            g.Done();
        }
        if (r.Child("reorder") is { } ro)
        {
            ReorderProbability = ro.Double("probability", 0, 1) ?? throw ro.Error("probability", "needed");
            ReorderDelayNs = ro.Time("delay") ?? ReorderDelayNs;
            ro.Done();
        }
        if (r.Child("queue") is { } q)
        {
            Queue = QueueSpec.Parse(q);
            q.Done();
        }
    }

    /// <summary>One line for people: "100Mbit 10ms droptail(100p)".</summary>
    public override string ToString()
    {
        var parts = new List<string> { RateBps > 0 ? Units.FormatRate(RateBps) : "inf", Units.FormatTime(DelayNs) };
        if (RateBps > 0) parts.Add(Queue.ToString());
        if (Loss > 0) parts.Add("loss " + (Loss * 100).ToString("0.###", CultureInfo.InvariantCulture) + "%");
        if (Gilbert is not null) parts.Add("gilbert");
        if (ReorderProbability > 0) parts.Add("reorder " + (ReorderProbability * 100).ToString("0.###", CultureInfo.InvariantCulture) + "%");
        if (JitterNs > 0) parts.Add("jitter " + Units.FormatTime(JitterNs));
        return string.Join(' ', parts);
    }
}

/// <summary>Gilbert-Elliott loss (netem's gemodel): P good-&gt;bad, R bad-&gt;good, and the loss probability in each state.</summary>
public sealed class GilbertSpec
{
    /// <summary>Probability of moving from the good state to the bad one, per frame.</summary>
    public double P { get; set; }
    /// <summary>Probability of moving from the bad state to the good one, per frame.</summary>
    public double R { get; set; }
    /// <summary>Loss probability in the good state (netem's 1-k), 0 by default.</summary>
    public double LossGood { get; set; }
    /// <summary>Loss probability in the bad state (netem's 1-h), 1 by default.</summary>
    public double LossBad { get; set; } = 1;
    internal GilbertSpec Clone() => (GilbertSpec)MemberwiseClone();
}

/// <summary>The queue disciplines.</summary>
public enum QueueKind
{
    /// <summary>Drop-tail FIFO: pfifo (a limit in packets) and/or bfifo (a limit in bytes).</summary>
    DropTail,
    /// <summary>Random Early Detection as sch_red.</summary>
    Red,
    /// <summary>Controlled Delay as sch_codel.</summary>
    Codel,
    /// <summary>Drop-tail with step CE marking above K packets (RFC 8257's marking for DCTCP).</summary>
    Step,
}

/// <summary>A queue's kind and parameters (tc's names where tc has them).</summary>
public sealed class QueueSpec
{
    /// <summary>The discipline.</summary>
    public QueueKind Kind { get; set; } = QueueKind.DropTail;
    /// <summary>Drop-tail, step and CoDel: the limit in packets (1000 by default, as txqueuelen and sch_codel; none for a drop-tail queue given only a limit in bytes).</summary>
    public long? LimitPackets { get; set; } = 1000;
    /// <summary>Drop-tail and step: the limit in bytes; RED: the hard limit in bytes (limit).</summary>
    public long? LimitBytes { get; set; }
    /// <summary>RED: the minimum threshold of the average queue in bytes (min).</summary>
    public long RedMin { get; set; }
    /// <summary>RED: the maximum threshold in bytes (max).</summary>
    public long RedMax { get; set; }
    /// <summary>RED: the marking probability at the maximum threshold (probability, 0.02 by default as tc).</summary>
    public double RedProbability { get; set; } = 0.02;
    /// <summary>RED: the average packet size in bytes (avpkt, 1000 by default).</summary>
    public long RedAvpkt { get; set; } = 1000;
    /// <summary>RED: the burst in packets that the average follows (burst; tc's default (2 min + max) / (3 avpkt)).</summary>
    public long RedBurst { get; set; }
    /// <summary>RED: mark with CE rather than drop above the maximum too (no harddrop).</summary>
    public bool RedHardDrop { get; set; }
    /// <summary>CoDel: the target sojourn time (5 ms).</summary>
    public long CodelTargetNs { get; set; } = 5_000_000;
    /// <summary>CoDel: the interval (100 ms).</summary>
    public long CodelIntervalNs { get; set; } = 100_000_000;
    /// <summary>CoDel: mark every ECT packet whose sojourn is above this (ce_threshold), or null.</summary>
    public long? CodelCeThresholdNs { get; set; }
    /// <summary>Step: mark ECT frames that arrive to find at least this many frames queued (k).</summary>
    public long StepThresholdPackets { get; set; }
    /// <summary>RED and CoDel: mark ECN-capable packets with CE instead of dropping them (ecn).</summary>
    public bool Ecn { get; set; }

    internal QueueSpec Clone() => (QueueSpec)MemberwiseClone();

    internal static QueueSpec Parse(Scenario.Obj r)
    {
        var q = new QueueSpec();
        string type = r.Str("type") ?? "droptail";
        q.Kind = type switch
        {
            "droptail" or "pfifo" or "bfifo" or "fifo" => QueueKind.DropTail,
            "red" => QueueKind.Red,
            "codel" => QueueKind.Codel,
            "step" => QueueKind.Step,
            _ => throw r.Error("type", $"unknown queue \"{type}\" (droptail, red, codel, step)"),
        };
        q.LimitPackets = r.Long("packets", 1, 10_000_000);  // the default (1000) is set below when no limit is given
        q.LimitBytes = r.Size("bytes");
        q.Ecn = r.Bool("ecn") ?? false;
        switch (q.Kind)
        {
            case QueueKind.DropTail:
                if (type == "bfifo" && q.LimitBytes is null) throw r.Error("bytes", "bfifo needs a limit in bytes");
                if (q.Ecn) throw r.Error("ecn", "a drop-tail queue does not mark (use step, red or codel)");
                break;
            case QueueKind.Step:
                if (q.Ecn) throw r.Error("ecn", "a step queue always marks ECT frames (the key is not needed)");
                q.StepThresholdPackets = r.Long("k", 0, 10_000_000) ?? throw r.Error("k", "a step queue needs its marking threshold K in packets");
                break;
            case QueueKind.Red:
                if (q.LimitPackets is not null) throw r.Error("packets", "RED's limit is in bytes (\"bytes\")");
                q.RedMax = r.Size("max") ?? 0;
                q.RedMin = r.Size("min") ?? 0;
                q.LimitBytes ??= q.RedMax > 0 ? 4 * q.RedMax : throw r.Error("bytes", "RED needs a limit in bytes, or max");
                if (q.RedMax == 0) q.RedMax = q.LimitBytes.Value / 4;
                if (q.RedMin == 0) q.RedMin = q.RedMax / 3;
                if (!(q.RedMin < q.RedMax && q.RedMax <= q.LimitBytes)) throw r.Error("min", "need min < max <= bytes");
                q.RedProbability = r.Double("probability", 0, 1) ?? q.RedProbability;
                q.RedAvpkt = r.Size("avpkt") ?? q.RedAvpkt;
                if (q.RedAvpkt <= 0) throw r.Error("avpkt", "must be positive");
                q.RedBurst = r.Long("burst", 1, 1_000_000) ?? (2 * q.RedMin + q.RedMax) / (3 * q.RedAvpkt);
                if (q.RedBurst + 1 - (double)q.RedMin / q.RedAvpkt < 1)
                    throw r.Error("burst", $"too small for min/avpkt (at least {1 + q.RedMin / q.RedAvpkt})");
                q.RedHardDrop = r.Bool("harddrop") ?? false;
                break;
            case QueueKind.Codel:
                if (q.LimitBytes is not null) throw r.Error("bytes", "CoDel's limit is in packets (\"packets\")");
                q.CodelTargetNs = r.Time("target") ?? q.CodelTargetNs;
                q.CodelIntervalNs = r.Time("interval") ?? q.CodelIntervalNs;
                q.CodelCeThresholdNs = r.Time("ce_threshold");
                if (q.CodelIntervalNs <= 0) throw r.Error("interval", "must be positive");
                break;
        }
        if (q.Kind != QueueKind.Red && q.LimitPackets is null && q.LimitBytes is null) q.LimitPackets = 1000;
        return q;
    }

    /// <summary>One word for people: "droptail(100p)", "red(30000-90000B,ecn)", "codel(5ms/100ms)".</summary>
    public override string ToString() => Kind switch
    {
        QueueKind.DropTail => "droptail(" + string.Join(',', new[] { LimitPackets is { } p ? p + "p" : null, LimitBytes is { } b ? b + "B" : null }.Where(x => x is not null)) + ")",
        QueueKind.Red => $"red({RedMin}-{RedMax}B{(Ecn ? ",ecn" : "")})",
        QueueKind.Step => "step(k=" + StepThresholdPackets + string.Concat(new[] { LimitPackets is { } p ? "," + p + "p" : null, LimitBytes is { } b ? "," + b + "B" : null }) + ")",
        _ => $"codel({Units.FormatTime(CodelTargetNs)}/{Units.FormatTime(CodelIntervalNs)}{(Ecn ? ",ecn" : "")})",
    };
}

/// <summary>The kinds of flows.</summary>
public enum FlowKind
{
    /// <summary>A bulk transfer: N bytes, or until stopped.</summary>
    Bulk,
    /// <summary>Requests and responses of given sizes, one at a time, with a think time between them.</summary>
    RequestResponse,
    /// <summary>A sender that alternates on periods (writing as fast as it can) and off periods (not writing).</summary>
    OnOff,
}

/// <summary>One flow: a TCP connection from a client host to a server host and what the application does on it.</summary>
public sealed class FlowSpec
{
    /// <summary>The flow's name (its time series file is flow-NAME.csv).</summary>
    public string Name { get; set; } = "";
    /// <summary>The client host (it connects; a bulk or on/off flow's data goes from it to <see cref="To"/>).</summary>
    public string From { get; set; } = "";
    /// <summary>The server host.</summary>
    public string To { get; set; } = "";
    /// <summary>What the application does.</summary>
    public FlowKind Kind { get; set; }
    /// <summary>The congestion control (TCP_CONGESTION), or null for the host's default (net.ipv4.tcp_congestion_control).</summary>
    public string? Cc { get; set; }
    /// <summary>When the client connects.</summary>
    public long StartNs { get; set; }
    /// <summary>When the application stops (stops writing and shuts its side down; what is queued is still delivered), or null.</summary>
    public long? StopNs { get; set; }
    /// <summary>Bulk: the bytes to send, or null for "until stopped".</summary>
    public long? Bytes { get; set; }
    /// <summary>Request/response: the request size.</summary>
    public long RequestBytes { get; set; } = 100;
    /// <summary>Request/response: the response size.</summary>
    public long ResponseBytes { get; set; } = 100_000;
    /// <summary>Request/response: the pause between a response and the next request.</summary>
    public long ThinkNs { get; set; }
    /// <summary>Request/response: how many requests, or null for "until stopped".</summary>
    public long? Count { get; set; }
    /// <summary>On/off: the on period.</summary>
    public long OnNs { get; set; } = 1_000_000_000;
    /// <summary>On/off: the off period.</summary>
    public long OffNs { get; set; } = 1_000_000_000;
    /// <summary>On/off: periods are drawn from exponential distributions with those means (else fixed).</summary>
    public bool Exponential { get; set; }
    /// <summary>Socket options of the client's socket (SO_SNDBUF, TCP_NODELAY...).</summary>
    public List<KeyValuePair<string, int>> SockOpts { get; } = [];
    /// <summary>Socket options of the server's listening socket (the accepted one inherits them).</summary>
    public List<KeyValuePair<string, int>> ServerSockOpts { get; } = [];

    internal static FlowSpec Parse(JsonNode? node, string path, int index)
    {
        var r = new Scenario.Obj(node, path);
        var f = new FlowSpec
        {
            Name = r.Str("name") ?? $"flow{index + 1}",
            From = r.Str("from") ?? throw r.Error("from", "a flow needs its client host"),
            To = r.Str("to") ?? throw r.Error("to", "a flow needs its server host"),
        };
        if (f.Name.Length == 0 || f.Name.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')))
            throw r.Error("name", "letters, digits, '-', '_' and '.' only");
        string type = r.Str("type") ?? "bulk";
        f.Kind = type switch
        {
            "bulk" => FlowKind.Bulk,
            "rr" or "request_response" => FlowKind.RequestResponse,
            "onoff" or "on_off" => FlowKind.OnOff,
            _ => throw r.Error("type", $"unknown flow type \"{type}\" (bulk, rr, onoff)"),
        };
        f.Cc = r.Str("cc");
        f.StartNs = r.Time("start") ?? 0;
        f.StopNs = r.Time("stop");
        if (f.StopNs is { } stop && stop <= f.StartNs) throw r.Error("stop", "must be after start");
        switch (f.Kind)
        {
            case FlowKind.Bulk:
                f.Bytes = r.Size("bytes");
                if (f.Bytes is 0) throw r.Error("bytes", "must be positive");
                break;
            case FlowKind.RequestResponse:
                f.RequestBytes = r.Size("request") ?? f.RequestBytes;
                f.ResponseBytes = r.Size("response") ?? f.ResponseBytes;
                if (f.RequestBytes <= 0 || f.ResponseBytes <= 0) throw r.Error("request", "request and response sizes must be positive");
                f.ThinkNs = r.Time("think") ?? 0;
                f.Count = r.Long("count", 1, long.MaxValue);
                break;
            case FlowKind.OnOff:
                f.OnNs = r.Time("on") ?? f.OnNs;
                f.OffNs = r.Time("off") ?? f.OffNs;
                if (f.OnNs <= 0 || f.OffNs <= 0) throw r.Error("on", "on and off periods must be positive");
                f.Exponential = r.Bool("exponential") ?? false;
                break;
        }
        r.Options("sockopts", f.SockOpts);
        r.Options("server_sockopts", f.ServerSockOpts);
        r.Done();
        return f;
    }
}

/// <summary>Socket option names a scenario may use, with their level and number (Linux's).</summary>
public static class SockOptNames
{
    private static readonly Dictionary<string, (int Level, int Name)> Table = new(StringComparer.Ordinal)
    {
        ["SO_SNDBUF"] = (SocketConstants.SOL_SOCKET, SocketConstants.SO_SNDBUF),
        ["SO_RCVBUF"] = (SocketConstants.SOL_SOCKET, SocketConstants.SO_RCVBUF),
        ["SO_KEEPALIVE"] = (SocketConstants.SOL_SOCKET, SocketConstants.SO_KEEPALIVE),
        ["SO_REUSEADDR"] = (SocketConstants.SOL_SOCKET, SocketConstants.SO_REUSEADDR),
        ["SO_PRIORITY"] = (SocketConstants.SOL_SOCKET, SocketConstants.SO_PRIORITY),
        ["TCP_NODELAY"] = (SocketConstants.IPPROTO_TCP, SocketConstants.TCP_NODELAY),
        ["TCP_MAXSEG"] = (SocketConstants.IPPROTO_TCP, SocketConstants.TCP_MAXSEG),
        ["TCP_CORK"] = (SocketConstants.IPPROTO_TCP, SocketConstants.TCP_CORK),
        ["TCP_QUICKACK"] = (SocketConstants.IPPROTO_TCP, SocketConstants.TCP_QUICKACK),
        ["TCP_USER_TIMEOUT"] = (SocketConstants.IPPROTO_TCP, SocketConstants.TCP_USER_TIMEOUT),
        ["TCP_KEEPIDLE"] = (SocketConstants.IPPROTO_TCP, SocketConstants.TCP_KEEPIDLE),
        ["TCP_WINDOW_CLAMP"] = (SocketConstants.IPPROTO_TCP, SocketConstants.TCP_WINDOW_CLAMP),
        // Linux's numbers for options the stack may not have yet (setsockopt then fails with its errno, named).
        ["SO_MAX_PACING_RATE"] = (SocketConstants.SOL_SOCKET, 47),
        ["TCP_NOTSENT_LOWAT"] = (SocketConstants.IPPROTO_TCP, 25),
        ["IP_TOS"] = (SocketConstants.IPPROTO_IP, SocketConstants.IP_TOS),
        ["IP_TTL"] = (SocketConstants.IPPROTO_IP, SocketConstants.IP_TTL),
    };

    /// <summary>The names, sorted.</summary>
    public static IEnumerable<string> Known => Table.Keys.Order(StringComparer.Ordinal);

    /// <summary>The level and number of option <paramref name="name"/>.</summary>
    public static bool TryResolve(string name, out int level, out int optname)
    {
        if (Table.TryGetValue(name, out var v)) { level = v.Level; optname = v.Name; return true; }
        level = optname = 0;
        return false;
    }
}
