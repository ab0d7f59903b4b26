using System.CommandLine;
using System.Net;
using NetStack.Api;
using NetStack.Drivers;
using NetStack.Wire;

namespace NetStack.Cli;

/// <summary>
/// The options every command that attaches a stack shares (README "Options"), added to a command
/// by <see cref="AddTo"/> and read back, checked together, into a <see cref="StackOptions"/> by
/// <see cref="Read"/>. <c>--duration</c> and <c>--lo</c> are offered only by the commands that
/// honour them.
/// </summary>
internal sealed class StackOptionSet
{
    public const string DefaultNamespace = "netstack";
    public const string DefaultTap = "tap0";

    public Option<string> Ns { get; } = Opt.Value("--ns", "NAME", "network namespace holding the TAP (/var/run/netns/NAME) [default: netstack]", NonEmpty("--ns"));
    public Option<bool> RootNs { get; } = Opt.Flag("--root-ns", "the TAP is in this process's own network namespace (setup-tap.sh --root-ns)");
    public Option<string> Tap { get; } = Opt.Value("--tap", "NAME", "the TAP interface [default: tap0]", NonEmpty("--tap"));
    public Option<(IPAddress Address, int PrefixLen)?> Addr { get; } = Opt.Value<(IPAddress, int)?>("--addr", "CIDR", "the stack's address [default: 10.7.0.2/24]", s => Opt.Cidr(s));
    public Option<(IPAddress Address, int PrefixLen)?> Addr6 { get; } = Opt.Value<(IPAddress, int)?>("--addr6", "CIDR", "a static IPv6 address for the stack, e.g. fd00::2/64 (it always has its fe80:: link-local address)", ParseCidr6);
    public Option<Gateway?> Gw { get; } = Opt.Value<Gateway?>("--gw", "ADDR|none", "default gateway, the kernel's side of the TAP [default: the subnet's .1]", ParseGateway);
    public Option<MacAddress?> Mac { get; } = Opt.Value<MacAddress?>("--mac", "MAC", "the stack's Ethernet address [default: 02:00:0a:07:00:02]",
        s => MacAddress.TryParse(s, out var m) ? m : throw new UsageException($"bad MAC address '{s}': expected xx:xx:xx:xx:xx:xx"));
    public Option<string> Pcap { get; } = Opt.Value("--pcap", "FILE", "write every frame the stack sends or receives to FILE (pcap)", s => Opt.OutputFile(s, "--pcap"));
    public Option<string> Fault { get; } = Opt.Value("--fault", "SPEC", "fault injection on the TAP: loss=5%,dup=1%,reorder=2%,corrupt=0.1%,delay=2ms,seed=7,dir=both (any subset)",
        s => FaultSpec.TryParse(s, out _, out string error) ? s : throw new UsageException($"bad --fault '{s}': {error}"));
    public Option<int?> BusyPoll { get; } = Opt.Value<int?>("--busy-poll", "USEC", "the receive thread spins up to USEC microseconds before sleeping (net.core.busy_poll) [default: 0]",
        s => Opt.Int("--busy-poll", 0, 1_000_000, ": expected microseconds, 0 to 1000000")(s));
    // A string, not bool?: System.CommandLine parses a bool option's value itself (true/false), never "on".
    public Option<string> Offload { get; } = Opt.Value<string>("--offload", "on|off", "TAP offloads: a vnet header, checksum and TCPv4 segmentation offload, so the kernel hands the stack 64 KiB TCP super-frames [default: off]",
        s => s is "on" or "off" ? s : throw new UsageException($"bad --offload '{s}': expected on or off"));
    public Option<string> TxRing { get; } = Opt.Value<string>("--tx-ring", "on|off", "send each round's frames (a call, a receive batch, a timer run) through an io_uring ring, up to 8 frames per io_uring_enter(), instead of one write() each [default: on]",
        s => s is "on" or "off" ? s : throw new UsageException($"bad --tx-ring '{s}': expected on or off"));
    public Option<bool> Create { get; } = Opt.Flag("--create", "run setup-tap.sh when the namespace or the TAP is missing (done without asking only when neither --ns nor --tap is given)");
    /// <summary>--duration, for the commands that run until stopped (up, ping, nc); null elsewhere.</summary>
    public Option<double?>? Duration { get; }
    /// <summary>--lo, for the socket tools (repl, ping, nc); null elsewhere.</summary>
    public Option<bool>? Lo { get; }

    public StackOptionSet(bool duration, bool loopback)
    {
        if (duration) Duration = Opt.Value<double?>("--duration", "SEC", "stop after SEC seconds [default: until Ctrl-C]", s => Opt.Seconds("duration", int.MaxValue / 1000)(s));
        if (loopback) Lo = Opt.Flag("--lo", "no TAP: a stack with only its loopback device (127.0.0.1), no root needed");
    }

    private static (IPAddress, int)? ParseCidr6(string s)
    {
        int slash = s.IndexOf('/');
        if (slash > 0 && IPAddress.TryParse(s[..slash], out var a) && a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6
            && int.TryParse(s[(slash + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int len) && len <= 128)
            return (a, len);
        throw new UsageException($"bad --addr6 '{s}': expected an IPv6 address and prefix length, e.g. fd00::2/64");
    }

    /// <summary>A gateway: an address, or none.</summary>
    internal sealed record Gateway(IPAddress? Address);

    private static Gateway ParseGateway(string s) =>
        s is "none" or "0.0.0.0" ? new Gateway(null) : new Gateway(Ipv4(s, "gateway"));

    private static IPAddress Ipv4(string s, string what)
    {
        try { return Opt.Ipv4(s, what); }
        catch (UsageException) when (!s.Contains(':')) { throw new UsageException($"bad {what} '{s}': expected a.b.c.d or none"); }
    }

    private static Func<string, string> NonEmpty(string option) => s =>
        s.Length > 0 && !s.Contains('/') && s.Length <= 255 ? s : throw new UsageException($"bad {option} '{s}': expected a name");

    public void AddTo(Command c)
    {
        foreach (var o in All()) c.Add(o);
    }

    private IEnumerable<Option> All()
    {
        if (Lo is not null) yield return Lo;
        yield return Ns;
        yield return RootNs;
        yield return Tap;
        yield return Create;
        yield return Addr;
        yield return Addr6;
        yield return Gw;
        yield return Mac;
        yield return Pcap;
        yield return Fault;
        yield return BusyPoll;
        yield return Offload;
        yield return TxRing;
        if (Duration is not null) yield return Duration;
    }

    /// <summary>What the options say, checked together.</summary>
    internal sealed record Parsed(StackOptions Stack, bool Loopback, bool Create, bool NamesGiven, TimeSpan? Duration);

    /// <summary>The first option given that only describes a stack of the tool's own (the TAP, the addresses...), or null.</summary>
    public Option? OwnStackOptionGiven(ParseResult r) =>
        new Option[] { Ns, RootNs, Tap, Create, Addr, Addr6, Gw, Mac, Pcap, Fault, BusyPoll, Offload, TxRing }.FirstOrDefault(o => r.GetResult(o) is { Implicit: false });

    /// <summary>Reads the options back; throws <see cref="UsageException"/> for combinations that contradict each other.</summary>
    public Parsed Read(ParseResult r)
    {
        bool Given(Option o) => r.GetResult(o) is { Implicit: false };
        bool lo = Lo is not null && r.GetValue(Lo);
        if (lo)
        {
            var tapOnly = new Option[] { Ns, RootNs, Tap, Create, Addr, Addr6, Gw, Mac, Pcap, Fault, BusyPoll, Offload, TxRing }.FirstOrDefault(Given);
            if (tapOnly is not null) throw new UsageException($"--lo has no TAP: {tapOnly.Name} does not apply to it");
        }
        if (r.GetValue(RootNs) && Given(Ns))
            throw new UsageException("--root-ns and --ns contradict each other: the TAP is either in the host's namespace or in NAME");

        var s = new StackOptions();
        if (r.GetValue(RootNs)) s.Namespace = null;
        else if (r.GetValue(Ns) is { } ns) s.Namespace = ns;
        if (r.GetValue(Tap) is { } tap) s.Tap = tap;
        if (r.GetValue(Addr) is { } cidr) (s.Address, s.PrefixLen) = cidr;
        if (r.GetValue(Addr6) is { } cidr6) (s.Ipv6Address, s.Ipv6PrefixLen) = cidr6;
        if (r.GetValue(Mac) is { } mac) s.Mac = mac;
        if (r.GetValue(Pcap) is { } pcap) s.PcapPath = pcap;
        if (r.GetValue(Fault) is { } fault) s.Fault = fault;
        if (r.GetValue(BusyPoll) is { } bp) s.BusyPollUs = bp;
        if (r.GetValue(Offload) is { } off) s.Offload = off == "on";
        if (r.GetValue(TxRing) is { } ring) s.TransmitRing = ring == "on";
        s.Gateway = r.GetValue(Gw) is { } gw ? gw.Address : StackOptions.FirstHost(s.Address, s.PrefixLen);
        // Without --gw the kernel's side is the subnet's .1 (setup-tap.sh's default): the stack cannot have it too.
        var kernel = s.Gateway ?? (Given(Gw) || s.PrefixLen >= 31 ? null : StackOptions.FirstHost(s.Address, s.PrefixLen) ?? s.Address);
        if (!lo)
        {
            try { s.Validate(); }
            catch (NetStackException e) { throw new UsageException(e.Message); }
            if (kernel is { } g && g.Equals(s.Address))
                throw new UsageException($"--addr {s.Address} is the kernel's address (the gateway, the kernel's side of the TAP): give the stack another one, e.g. {Suggest(s)}/{s.PrefixLen}");
        }
        TimeSpan? duration = Duration is not null && r.GetValue(Duration) is { } sec ? TimeSpan.FromSeconds(sec) : null;
        return new Parsed(s, lo, r.GetValue(Create), Given(Ns) || Given(Tap), duration);
    }

    /// <summary>A host address on the same subnet that is neither the stack's nor the gateway's (for messages).</summary>
    internal static string Suggest(StackOptions s)
    {
        uint a = SocketConvert.ToUInt32(s.Address!), mask = Ipv4Address.PrefixMask(s.PrefixLen), net = a & mask;
        for (uint h = 2; h < 10; h++)
            if ((net | h) != a && (h & mask) == 0) return Ipv4Address.Format(net | h);
        return "another host address";
    }
}
