using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Net;
using NetStack.Wire;

namespace NetStack.Cli;

/// <summary>
/// Options whose values are parsed by the CLI itself, so that every mistake reads the same way
/// ("bad count 'zero'", "--addr needs a value") and never shows a .NET type name. A parser throws
/// <see cref="UsageException"/>; its message becomes the parse error.
/// </summary>
internal static class Opt
{
    /// <summary>An option taking one value, converted by <paramref name="parse"/>.</summary>
    public static Option<T> Value<T>(string name, string helpName, string description, Func<string, T> parse, params string[] aliases)
    {
        var o = new Option<T>(name, aliases) { Description = description, HelpName = helpName, Arity = ArgumentArity.ExactlyOne };
        o.CustomParser = r => Convert(r, parse);
        return o;
    }

    /// <summary>A flag (no value).</summary>
    public static Option<bool> Flag(string name, string description, params string[] aliases) =>
        new(name, aliases) { Description = description, Arity = ArgumentArity.Zero };

    private static T Convert<T>(ArgumentResult r, Func<string, T> parse)
    {
        if (r.Tokens.Count == 0) return default!; // reported as "needs a value"
        string value = r.Tokens[^1].Value;
        // System.CommandLine takes whatever follows as the value, even another option (`--addr --duration 1`):
        // a value that is one of the command's options means this option's value is missing.
        if (value.StartsWith('-') && value.Length > 1 && IsOptionOf(r, value))
        {
            string name = (r.Parent as OptionResult)?.IdentifierToken?.Value ?? "the option";
            r.AddError($"{name} needs a value (the next word, {value}, is an option)");
            return default!;
        }
        try { return parse(value); }
        catch (UsageException e)
        {
            r.AddError(e.Message);
            return default!;
        }
    }

    private static bool IsOptionOf(ArgumentResult r, string token)
    {
        if (token.StartsWith("--", StringComparison.Ordinal)) return true; // no value of ours starts with --
        for (var p = r.Parent; p is not null; p = p.Parent)
            if (p is CommandResult c)
                return c.Command.Options.Any(o => o.Name == token || o.Aliases.Contains(token));
        return false;
    }

    /// <summary>
    /// The operands of a command (HOST, PORT, URL). System.CommandLine gives an unknown option to a
    /// list argument as one more operand; here it is what it is, an unknown option.
    /// </summary>
    public static string[] Operands(ParseResult r, Argument<string[]> argument)
    {
        var values = r.GetValue(argument) ?? [];
        foreach (var v in values)
            if (v.StartsWith('-') && v.Length > 1 && !double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out _))
                throw new UsageException($"unknown option '{v}' (try --help)");
        return values;
    }

    /// <summary>A whole number in [min, max]; <paramref name="what"/> names it in the message ("bad count '0'").</summary>
    public static Func<string, int> Int(string what, int min, int max, string? hint = null) => s =>
        int.TryParse(s, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int v) && v >= min && v <= max
            ? v
            : throw new UsageException($"bad {what} '{s}'{hint ?? ""}");

    /// <summary>A number of seconds, more than <paramref name="min"/> (or equal, when <paramref name="minIncluded"/>) and at most <paramref name="max"/>.</summary>
    public static Func<string, double> Seconds(string what, double max, double min = 0, bool minIncluded = false) => s =>
        double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && double.IsFinite(v) &&
        (v > min || (minIncluded && v == min)) && v <= max
            ? v
            : throw new UsageException(string.Create(CultureInfo.InvariantCulture,
                $"bad {what} '{s}': expected a number of seconds, {(minIncluded ? $"{min} or more" : $"more than {min}")}{(max < 1e9 ? $" and at most {max}" : "")}"));

    /// <summary>A port, 1 to 65535 (0 too when <paramref name="zeroOk"/>).</summary>
    public static ushort Port(string s, bool zeroOk = false)
    {
        if (ushort.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out ushort p) && (p != 0 || zeroOk)) return p;
        if (s.Length > 0 && s.All(char.IsAsciiDigit)) throw new UsageException($"bad port '{s}': expected {(zeroOk ? 0 : 1)} to 65535");
        throw new UsageException($"bad port '{s}': expected a number, {(zeroOk ? 0 : 1)} to 65535");
    }

    /// <summary>
    /// An IPv4 address in dotted-quad form, with a message that says what is wrong: a hostname (no
    /// resolver), an IPv6 address, "HOST:PORT", or a malformed address.
    /// </summary>
    public static IPAddress Ipv4(string s, string what = "address")
    {
        if (Ipv4Address.TryParse(s, out uint a)) return new IPAddress(System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(a));
        throw new UsageException(WhyNotIpv4(s, what));
    }

    /// <summary>
    /// An IPv4 or an IPv6 address (as ping and nc take either): a dotted quad, or an IPv6 address, in
    /// brackets or not, with an optional numeric zone ("fe80::1%2": the interface index, sin6_scope_id).
    /// <paramref name="family"/> 4 or 6 (-4, -6) requires that family; 0 takes either.
    /// </summary>
    public static IPAddress Ip(string s, string what, int family)
    {
        string t = s.Length > 1 && s[0] == '[' && s[^1] == ']' ? s[1..^1] : s;
        if (!t.Contains(':'))
        {
            if (family == 6) throw new UsageException($"{what} '{s}' is not an IPv6 address (-6)");
            return Ipv4(s, what);
        }
        if (family == 4) throw new UsageException($"{what} '{s}' is IPv6, but -4 was given");
        int pct = t.IndexOf('%');
        string addr = pct < 0 ? t : t[..pct];
        if (!IPAddress.TryParse(addr, out var ip) || ip.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
            throw new UsageException($"bad {what} '{s}': expected an IPv4 or IPv6 address");
        if (pct >= 0)
        {
            if (!uint.TryParse(t.AsSpan(pct + 1), NumberStyles.None, CultureInfo.InvariantCulture, out uint zone) || zone == 0)
                throw new UsageException($"bad {what} '{s}': give the zone as the interface's index (fe80::1%2; `netstack ip link` lists them)");
            ip.ScopeId = zone;
        }
        return ip;
    }

    /// <summary>Why <paramref name="s"/> is not a dotted-quad IPv4 address, in one line.</summary>
    public static string WhyNotIpv4(string s, string what = "address")
    {
        if (s.Length == 0) return $"empty {what}";
        if (s.Contains(':') && IPAddress.TryParse(s.Trim('[', ']'), out var v6) && v6.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6)
            return $"{what} '{s}' is IPv6, where an IPv4 address is needed";
        int colon = s.LastIndexOf(':');
        if (colon > 0 && s.IndexOf(':') == colon)
            return $"bad {what} '{s}': give the host and the port as two arguments (HOST PORT), not HOST:PORT";
        bool dotsAndDigits = s.All(c => char.IsAsciiDigit(c) || c == '.');
        if (dotsAndDigits) return $"bad {what} '{s}': expected a.b.c.d with each part 0 to 255";
        if (s.Any(char.IsAsciiLetter) && s.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-'))
            return $"{what} '{s}' is a name, not a dotted-quad IPv4 address (the stack has no resolver)";
        return $"bad {what} '{s}': expected an IPv4 address a.b.c.d";
    }

    /// <summary>"a.b.c.d/len" or "a.b.c.d" (then /24), reported as the user typed it.</summary>
    public static (IPAddress Address, int PrefixLen) Cidr(string s)
    {
        string addr = s, len = "24";
        int slash = s.IndexOf('/');
        if (slash >= 0) (addr, len) = (s[..slash], s[(slash + 1)..]);
        if (!Ipv4Address.TryParse(addr, out uint a))
        {
            string why = WhyNotIpv4(addr);
            throw new UsageException(why.StartsWith("bad address", StringComparison.Ordinal)
                ? $"bad address '{s}': expected a.b.c.d/len, e.g. 10.7.0.2/24"
                : why);
        }
        if (!int.TryParse(len, NumberStyles.None, CultureInfo.InvariantCulture, out int l) || l is < 1 or > 32)
            throw new UsageException($"bad address '{s}': the prefix length must be 1 to 32, e.g. 10.7.0.2/24");
        return (new IPAddress(System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(a)), l);
    }

    /// <summary>A path for a file to be written: its directory must exist and it must not be a directory.</summary>
    public static string OutputFile(string s, string option)
    {
        if (s.Length == 0) throw new UsageException($"{option}: empty file name");
        if (Directory.Exists(s)) throw new UsageException($"{option} {s}: is a directory (give a file name)");
        string full = Path.GetFullPath(s);
        string? dir = Path.GetDirectoryName(full);
        if (dir is not null && !Directory.Exists(dir)) throw new UsageException($"{option} {s}: directory {dir} does not exist");
        return s;
    }
}
