using System.Globalization;
using NetStack.Api;
using NetStack.Wire;

namespace NetStack.Cli;

/// <summary>A mistake on the command line: printed as one line, exit code 2.</summary>
internal sealed class UsageException(string message) : Exception(message);

/// <summary>
/// The options every command that attaches a stack shares, parsed into a <see cref="StackOptions"/>:
/// <code>
///   --ns NAME        network namespace holding the TAP (default netstack)
///   --root-ns        the TAP is in this process's own namespace (setup-tap.sh --root-ns; users only)
///   --tap NAME       TAP interface (default tap0)
///   --addr CIDR      the stack's address (default 10.7.0.2/24)
///   --gw ADDR|none   default gateway (default: the subnet's .1, the kernel side of setup-tap.sh)
///   --mac MAC        the stack's Ethernet address (default 02:00:0a:07:00:02)
///   --pcap FILE      capture every frame to FILE
///   --fault SPEC     fault injection spec, e.g. loss=5%,dup=1%,seed=7
///   --duration SEC   stop after SEC seconds (default: run until Ctrl-C)
/// </code>
/// Anything else (positional arguments, command-specific flags) is left in <see cref="Rest"/>, in
/// order, for the command to read with <see cref="TakeFlag"/> and <see cref="TakeValue"/>.
/// </summary>
internal sealed class Options
{
    public const string Help =
        "  --ns NAME        network namespace holding the TAP (default netstack)\n" +
        "  --root-ns        the TAP is in this process's own network namespace (setup-tap.sh --root-ns)\n" +
        "  --tap NAME       TAP interface (default tap0)\n" +
        "  --addr CIDR      the stack's address (default 10.7.0.2/24)\n" +
        "  --gw ADDR|none   default gateway (default: the subnet's .1, the kernel side)\n" +
        "  --mac MAC        the stack's Ethernet address (default 02:00:0a:07:00:02)\n" +
        "  --pcap FILE      write every frame the stack sends or receives to FILE (pcap)\n" +
        "  --fault SPEC     fault injection on the TAP: loss=5%,dup=1%,reorder=2%,corrupt=0.1%,delay=2ms,seed=7,dir=both (any subset)\n" +
        "  --busy-poll USEC the receive thread spins up to USEC microseconds before sleeping (net.core.busy_poll; default 0)\n" +
        "  --duration SEC   stop after SEC seconds (default: run until Ctrl-C)\n";

    public StackOptions Stack { get; } = new();
    /// <summary>--duration, or null to run until interrupted.</summary>
    public TimeSpan? Duration { get; private set; }
    /// <summary>True if --gw was given (otherwise the gateway follows --addr).</summary>
    public bool GatewayGiven { get; private set; }
    /// <summary>What the common parser did not consume, in order.</summary>
    public List<string> Rest { get; } = new();

    public static Options Parse(IReadOnlyList<string> args)
    {
        var o = new Options();
        for (int i = 0; i < args.Count; i++)
        {
            string a = args[i];
            string Value()
            {
                if (i + 1 >= args.Count) throw new UsageException($"{a} needs a value");
                return args[++i];
            }
            switch (a)
            {
                case "--ns": o.Stack.Namespace = Value(); break;
                case "--root-ns": o.Stack.Namespace = null; break;
                case "--tap": o.Stack.Tap = Value(); break;
                case "--addr": o.ParseAddress(Value()); break;
                case "--gw": o.ParseGateway(Value()); break;
                case "--mac":
                    string m = Value();
                    o.Stack.Mac = MacAddress.TryParse(m, out var mac) ? mac : throw new UsageException($"bad MAC address '{m}': expected xx:xx:xx:xx:xx:xx");
                    break;
                case "--pcap": o.Stack.PcapPath = Value(); break;
                case "--fault":
                    string f = Value();
                    if (!NetStack.Drivers.FaultSpec.TryParse(f, out _, out string faultError)) throw new UsageException($"bad --fault '{f}': {faultError}");
                    o.Stack.Fault = f;
                    break;
                case "--busy-poll":
                    string bp = Value();
                    if (!int.TryParse(bp, NumberStyles.None, CultureInfo.InvariantCulture, out int us) || us > 1_000_000)
                        throw new UsageException($"bad --busy-poll '{bp}': expected microseconds, 0 to 1000000");
                    o.Stack.BusyPollUs = us;
                    break;
                case "--duration":
                    string d = Value();
                    if (!double.TryParse(d, NumberStyles.Float, CultureInfo.InvariantCulture, out var sec) || !(sec > 0) || sec > int.MaxValue / 1000)
                        throw new UsageException($"bad duration '{d}': expected a positive number of seconds");
                    o.Duration = TimeSpan.FromSeconds(sec);
                    break;
                default: o.Rest.Add(a); break;
            }
        }
        if (!o.GatewayGiven) o.Stack.Gateway = StackOptions.FirstHost(o.Stack.Address, o.Stack.PrefixLen);
        return o;
    }

    private void ParseAddress(string s)
    {
        if (!s.Contains('/')) s += "/24";
        if (!Ipv4Address.TryParseCidr(s, out uint addr, out int len) || len is < 1 or > 32)
            throw new UsageException($"bad address '{s}': expected a.b.c.d/len, e.g. 10.7.0.2/24");
        Stack.Address = new System.Net.IPAddress(System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(addr));
        Stack.PrefixLen = len;
    }

    private void ParseGateway(string s)
    {
        GatewayGiven = true;
        if (s is "none" or "0.0.0.0") { Stack.Gateway = null; return; }
        Stack.Gateway = Ipv4Address.TryParse(s, out uint gw)
            ? new System.Net.IPAddress(System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(gw))
            : throw new UsageException($"bad gateway '{s}': expected a.b.c.d or none");
    }

    /// <summary>Removes <paramref name="flag"/> (or its <paramref name="alias"/>) from <see cref="Rest"/>; true if it was there.</summary>
    public bool TakeFlag(string flag, string? alias = null)
    {
        int i = Rest.FindIndex(x => x == flag || (alias is not null && x == alias));
        if (i < 0) return false;
        Rest.RemoveAt(i);
        return true;
    }

    /// <summary>Removes "<paramref name="option"/> VALUE" from <see cref="Rest"/> and returns VALUE, or null if absent.</summary>
    public string? TakeValue(string option, string? alias = null)
    {
        int i = Rest.FindIndex(x => x == option || (alias is not null && x == alias));
        if (i < 0) return null;
        if (i + 1 >= Rest.Count) throw new UsageException($"{Rest[i]} needs a value");
        string v = Rest[i + 1];
        Rest.RemoveRange(i, 2);
        return v;
    }

    /// <summary>Fails on anything left in <see cref="Rest"/> that looks like an option (call after the command took its own).</summary>
    public void RejectUnknownOptions()
    {
        foreach (var r in Rest)
            if (r.StartsWith('-') && r.Length > 1) throw new UsageException($"unknown option '{r}' (try --help)");
    }
}
