using System.CommandLine;
using System.CommandLine.Parsing;
using NetStack.Api;
using NetStack.Wire;

namespace NetStack.Cli;

/// <summary>
/// `up --link TAP=ADDR/N[,ns=NAME][,mac=MAC]`, repeatable: one more TAP for the stack beside --tap,
/// with the stack's address on it (a router's other links). Without ns= the TAP is in --ns.
/// </summary>
internal static class LinkOption
{
    public const string HelpName = "TAP=CIDR[,ns=NAME][,mac=MAC]";

    public static Option<LinkSpec[]> Create()
    {
        var o = new Option<LinkSpec[]>("--link")
        {
            Description = "one more TAP for the stack, with its address there (repeatable; a router's other links): TAP in --ns, or in ns=NAME; mac= defaults to 02:00 and the address",
            HelpName = HelpName,
            Arity = ArgumentArity.OneOrMore,
            AllowMultipleArgumentsPerToken = false,
        };
        o.CustomParser = r =>
        {
            var list = new List<LinkSpec>();
            foreach (var t in r.Tokens)
            {
                try { list.Add(Parse(t.Value)); }
                catch (UsageException e) { r.AddError(e.Message); }
            }
            return [.. list];
        };
        return o;
    }

    /// <summary>One --link value; <see cref="LinkSpec.Namespace"/> null means "the --ns of the stack".</summary>
    internal sealed record LinkSpec(string Tap, System.Net.IPAddress Address, int PrefixLen, string? Namespace, MacAddress? Mac)
    {
        /// <summary>The interface, its namespace defaulting to <paramref name="stackNamespace"/>.</summary>
        public StackInterface ToInterface(string? stackNamespace) => new()
        {
            Tap = Tap,
            Address = Address,
            PrefixLen = PrefixLen,
            Namespace = Namespace ?? stackNamespace,
            Mac = Mac,
        };
    }

    internal static LinkSpec Parse(string s)
    {
        var parts = s.Split(',');
        int eq = parts[0].IndexOf('=');
        if (eq <= 0 || eq == parts[0].Length - 1)
            throw new UsageException($"bad --link '{s}': expected {HelpName}, e.g. tap1=10.7.1.2/24,ns=right");
        string tap = parts[0][..eq];
        if (tap.Length > 15 || tap.Contains('/')) throw new UsageException($"bad --link '{s}': bad TAP name '{tap}'");
        var (address, prefixLen) = Opt.Cidr(parts[0][(eq + 1)..]);
        string? ns = null;
        MacAddress? mac = null;
        foreach (var p in parts.Skip(1))
        {
            if (p.StartsWith("ns=", StringComparison.Ordinal) && p.Length > 3 && !p.Contains('/')) ns = p[3..];
            else if (p.StartsWith("mac=", StringComparison.Ordinal) && MacAddress.TryParse(p[4..], out var m)) mac = m;
            else throw new UsageException($"bad --link '{s}': '{p}' is neither ns=NAME nor mac=xx:xx:xx:xx:xx:xx");
        }
        return new LinkSpec(tap, address, prefixLen, ns, mac);
    }
}
