using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace NetStack.Services.Iperf3;

/// <summary>The transport of a test's data streams.</summary>
public enum Iperf3Transport { Tcp, Udp, Sctp }

/// <summary>
/// A test's settings as the client sends them in PARAM_EXCHANGE (send_parameters()) and the server
/// reads them (get_parameters()): the JSON object's keys are iperf3's, and a setting left at its
/// default is left out, as iperf3 does.
/// </summary>
public sealed class Iperf3Parameters
{
    public Iperf3Transport Protocol { get; set; } = Iperf3Transport.Tcp;
    /// <summary>"omit": seconds at the start not counted.</summary>
    public int Omit { get; set; }
    /// <summary>"time": the test's duration in seconds (0 with -n/-k).</summary>
    public int Time { get; set; } = 10;
    /// <summary>"num": bytes to send (-n), 0 for a timed test.</summary>
    public long Bytes { get; set; }
    /// <summary>"blockcount": blocks to send (-k), 0 for a timed test.</summary>
    public long Blocks { get; set; }
    /// <summary>"MSS" (-M), 0: the default.</summary>
    public int Mss { get; set; }
    /// <summary>"nodelay" (-N).</summary>
    public bool NoDelay { get; set; }
    /// <summary>"parallel" (-P).</summary>
    public int Parallel { get; set; } = 1;
    /// <summary>"reverse" (-R): the server sends.</summary>
    public bool Reverse { get; set; }
    /// <summary>"bidirectional" (--bidir): both send.</summary>
    public bool Bidirectional { get; set; }
    /// <summary>"window" (-w): SO_SNDBUF and SO_RCVBUF, 0: autotuning.</summary>
    public int Window { get; set; }
    /// <summary>"len" (-l): the block (TCP write, UDP datagram) size.</summary>
    public int Length { get; set; }
    /// <summary>"bandwidth" (-b): bits per second per stream, 0: unlimited.</summary>
    public long Rate { get; set; }
    /// <summary>"fqrate" (--fq-rate).</summary>
    public long FqRate { get; set; }
    /// <summary>"pacing_timer" (--pacing-timer), microseconds.</summary>
    public int PacingTimer { get; set; } = 1000;
    /// <summary>"burst" (-b RATE/BURST).</summary>
    public int Burst { get; set; }
    /// <summary>"TOS" (-S).</summary>
    public int Tos { get; set; }
    /// <summary>"flowlabel" (-L, IPv6 only).</summary>
    public int FlowLabel { get; set; }
    /// <summary>"title" (-T).</summary>
    public string? Title { get; set; }
    /// <summary>"extra_data" (--extra-data).</summary>
    public string? ExtraData { get; set; }
    /// <summary>"congestion" (-C): the congestion control asked for.</summary>
    public string? Congestion { get; set; }
    /// <summary>"congestion_used": the client's algorithm (what iperf3 sends once it knows it).</summary>
    public string? CongestionUsed { get; set; }
    /// <summary>"get_server_output" (--get-server-output).</summary>
    public bool GetServerOutput { get; set; }
    /// <summary>"udp_counters_64bit" (--udp-counters-64bit).</summary>
    public bool UdpCounters64Bit { get; set; }
    /// <summary>"repeating_payload" (--repeating-payload).</summary>
    public bool RepeatingPayload { get; set; }
    /// <summary>"zerocopy" (-Z): a sender-side optimisation; the server may ignore it.</summary>
    public int ZeroCopy { get; set; }
    /// <summary>"dont_fragment" (--dont-fragment).</summary>
    public int DontFragment { get; set; }
    /// <summary>"authtoken": a client's credentials (the server here has no authentication, like an iperf3 server without --rsa-private-key-path, and ignores it).</summary>
    public string? AuthToken { get; set; }
    /// <summary>"client_version".</summary>
    public string? ClientVersion { get; set; }
    /// <summary>Keys of the received object this implementation does not know (newer clients' extensions).</summary>
    public IReadOnlyList<string> UnknownKeys { get; private set; } = [];

    /// <summary>The version string sent as "client_version": the iperf3 release whose protocol this follows.</summary>
    public const string ProtocolVersion = "3.12";

    /// <summary>The object send_parameters() writes.</summary>
    /// <remarks>Mirrors src/iperf_api.c: send_parameters().</remarks>
    public JsonObject ToJson()
    {
        var j = new JsonObject();
        switch (Protocol)
        {
            case Iperf3Transport.Tcp: j["tcp"] = true; break;
            case Iperf3Transport.Udp: j["udp"] = true; break;
            case Iperf3Transport.Sctp: j["sctp"] = true; break;
        }
        j["omit"] = Omit;
        j["time"] = Time;
        j["num"] = Bytes;
        j["blockcount"] = Blocks;
        if (Mss != 0) j["MSS"] = Mss;
        if (NoDelay) j["nodelay"] = true;
        j["parallel"] = Parallel;
        if (Reverse) j["reverse"] = true;
        if (Bidirectional) j["bidirectional"] = true;
        if (Window != 0) j["window"] = Window;
        if (Length != 0) j["len"] = Length;
        if (Rate != 0) j["bandwidth"] = Rate;
        if (FqRate != 0) j["fqrate"] = FqRate;
        if (PacingTimer != 0) j["pacing_timer"] = PacingTimer;
        if (Burst != 0) j["burst"] = Burst;
        if (Tos != 0) j["TOS"] = Tos;
        if (FlowLabel != 0) j["flowlabel"] = FlowLabel;
        if (Title is not null) j["title"] = Title;
        if (ExtraData is not null) j["extra_data"] = ExtraData;
        if (Congestion is not null) j["congestion"] = Congestion;
        if (CongestionUsed is not null) j["congestion_used"] = CongestionUsed;
        if (GetServerOutput) j["get_server_output"] = 1;
        if (UdpCounters64Bit) j["udp_counters_64bit"] = 1;
        if (RepeatingPayload) j["repeating_payload"] = 1;
        if (ZeroCopy != 0) j["zerocopy"] = ZeroCopy;
        if (DontFragment != 0) j["dont_fragment"] = DontFragment;
        j["client_version"] = ClientVersion ?? ProtocolVersion;
        return j;
    }

    private static readonly HashSet<string> Known =
    [
        "tcp", "udp", "sctp", "omit", "server_affinity", "time", "num", "blockcount", "MSS", "nodelay", "parallel",
        "reverse", "bidirectional", "window", "len", "bandwidth", "fqrate", "pacing_timer", "burst", "TOS", "flowlabel",
        "title", "extra_data", "congestion", "congestion_used", "get_server_output", "udp_counters_64bit",
        "repeating_payload", "zerocopy", "dont_fragment", "authtoken", "client_version",
    ];

    /// <summary>
    /// Reads the object get_parameters() reads. Absent keys keep iperf3's defaults ("num" and
    /// "blockcount" reset to 0); a value of the wrong type is an <see cref="Iperf3Exception"/>
    /// (IERECVPARAMS). Numbers are read as cJSON reads them, but without its int truncation.
    /// </summary>
    /// <remarks>Mirrors src/iperf_api.c: get_parameters().</remarks>
    public static Iperf3Parameters FromJson(JsonObject j)
    {
        var p = new Iperf3Parameters { Length = 0, Time = 10 };
        if (j.ContainsKey("tcp")) p.Protocol = Iperf3Transport.Tcp;
        if (j.ContainsKey("udp")) p.Protocol = Iperf3Transport.Udp;
        if (j.ContainsKey("sctp")) p.Protocol = Iperf3Transport.Sctp;
        p.Omit = (int)Num(j, "omit", 0);
        p.Time = (int)Num(j, "time", p.Time);
        p.Bytes = Num(j, "num", 0);
        p.Blocks = Num(j, "blockcount", 0);
        p.Mss = (int)Num(j, "MSS", 0);
        p.NoDelay = j.ContainsKey("nodelay");
        p.Parallel = (int)Num(j, "parallel", 1);
        p.Reverse = j.ContainsKey("reverse");
        p.Bidirectional = j.ContainsKey("bidirectional");
        p.Window = (int)Num(j, "window", 0);
        p.Length = (int)Num(j, "len", 0);
        p.Rate = Num(j, "bandwidth", 0);
        p.FqRate = Num(j, "fqrate", 0);
        p.PacingTimer = (int)Num(j, "pacing_timer", 1000);
        p.Burst = (int)Num(j, "burst", 0);
        p.Tos = (int)Num(j, "TOS", 0);
        p.FlowLabel = (int)Num(j, "flowlabel", 0);
        p.Title = Str(j, "title");
        p.ExtraData = Str(j, "extra_data");
        p.Congestion = Str(j, "congestion");
        p.CongestionUsed = Str(j, "congestion_used");
        p.GetServerOutput = j.ContainsKey("get_server_output");
        p.UdpCounters64Bit = j.ContainsKey("udp_counters_64bit");
        p.RepeatingPayload = j.ContainsKey("repeating_payload");
        p.ZeroCopy = (int)Num(j, "zerocopy", 0);
        p.DontFragment = (int)Num(j, "dont_fragment", 0);
        p.AuthToken = Str(j, "authtoken");
        p.ClientVersion = Str(j, "client_version");
        p.UnknownKeys = j.Select(kv => kv.Key).Where(k => !Known.Contains(k)).ToArray();
        return p;
    }

    /// <summary>A number (cJSON keeps every number as a double), as a long; <paramref name="absent"/> when the key is missing.</summary>
    internal static long Num(JsonObject j, string key, long absent)
    {
        if (!j.TryGetPropertyValue(key, out var node) || node is null) return absent;
        if (node is JsonValue v)
        {
            switch (v.GetValueKind())
            {
                case JsonValueKind.Number:
                    string text = v.ToJsonString();
                    if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long l)) return l;
                    if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && double.IsFinite(d))
                        return (long)Math.Clamp(d, long.MinValue, long.MaxValue);
                    break;
                case JsonValueKind.True: return 1;
                case JsonValueKind.False: return 0;
            }
        }
        throw new Iperf3Exception(Iperf3Error.RecvParams, $"\"{key}\" is not a number: {node.ToJsonString()}");
    }

    /// <summary>A double; <paramref name="absent"/> when the key is missing.</summary>
    internal static double Dbl(JsonObject j, string key, double absent)
    {
        if (!j.TryGetPropertyValue(key, out var node) || node is null) return absent;
        if (node is JsonValue v && v.GetValueKind() == JsonValueKind.Number &&
            double.TryParse(v.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture, out double d)) return d;
        throw new Iperf3Exception(Iperf3Error.RecvResults, $"\"{key}\" is not a number: {node.ToJsonString()}");
    }

    internal static string? Str(JsonObject j, string key)
    {
        if (!j.TryGetPropertyValue(key, out var node) || node is null) return null;
        if (node is JsonValue v && v.GetValueKind() == JsonValueKind.String) return v.GetValue<string>();
        throw new Iperf3Exception(Iperf3Error.RecvParams, $"\"{key}\" is not a string: {node.ToJsonString()}");
    }

    public override string ToString() => ToJson().ToJsonString(Iperf3Protocol.JsonOptions);

    internal static string Invariant(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
}
