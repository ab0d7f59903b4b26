using System.Buffers.Binary;
using System.Net;
using NetStack.Drivers;

namespace NetStack.Control;

/// <summary>
/// A small subset of tcpdump's filter language (pcap-filter(7)), compiled once into a tree that a
/// live capture evaluates per frame without allocating: the protocols <c>ip</c>, <c>arp</c>,
/// <c>icmp</c>, <c>tcp</c>, <c>udp</c>; <c>[src|dst] host ADDR</c>; <c>[src|dst] port N</c>;
/// combined with <c>not</c>/<c>!</c>, <c>and</c>/<c>&amp;&amp;</c> (or nothing: <c>tcp port 80</c>), <c>or</c>/<c>||</c> and
/// parentheses (not binds tighter than and, and than or). IPv4 over Ethernet only; a port matches
/// TCP and UDP.
/// </summary>
public static class CaptureFilter
{
    /// <summary>Compiles <paramref name="expression"/>; null or blank keeps every frame (returns null).</summary>
    /// <exception cref="FormatException">The expression is not in the supported subset; the message says where.</exception>
    public static FrameFilter? Compile(string? expression)
    {
        if (string.IsNullOrWhiteSpace(expression)) return null;
        var p = new Parser(Tokenize(expression));
        var node = p.Or();
        if (!p.AtEnd) throw new FormatException($"unexpected \"{p.Peek}\" in the filter");
        return node.Match;
    }

    private static List<string> Tokenize(string s)
    {
        var tokens = new List<string>();
        for (int i = 0; i < s.Length;)
        {
            char c = s[i];
            if (char.IsWhiteSpace(c)) { i++; continue; }
            if (c is '(' or ')' or '!') { tokens.Add(c.ToString()); i++; continue; }
            if ((c is '&' or '|') && i + 1 < s.Length && s[i + 1] == c) { tokens.Add(new string(c, 2)); i += 2; continue; }
            int start = i;
            while (i < s.Length && !char.IsWhiteSpace(s[i]) && s[i] is not ('(' or ')' or '!' or '&' or '|')) i++;
            if (i == start) throw new FormatException($"unexpected \"{c}\" in the filter");
            tokens.Add(s[start..i]);
        }
        return tokens;
    }

    private abstract class Node
    {
        public abstract bool Match(ReadOnlySpan<byte> f);
    }

    private sealed class Not(Node a) : Node
    {
        public override bool Match(ReadOnlySpan<byte> f) => !a.Match(f);
    }

    private sealed class And(Node a, Node b) : Node
    {
        public override bool Match(ReadOnlySpan<byte> f) => a.Match(f) && b.Match(f);
    }

    private sealed class Or(Node a, Node b) : Node
    {
        public override bool Match(ReadOnlySpan<byte> f) => a.Match(f) || b.Match(f);
    }

    private const int EthHeader = 14;

    private static ushort EtherType(ReadOnlySpan<byte> f) => f.Length >= EthHeader ? BinaryPrimitives.ReadUInt16BigEndian(f[12..]) : (ushort)0;

    private static bool IsIpv4(ReadOnlySpan<byte> f) => EtherType(f) == 0x0800 && f.Length >= EthHeader + 20;

    private sealed class EtherProto(ushort type) : Node
    {
        public override bool Match(ReadOnlySpan<byte> f) => EtherType(f) == type;
    }

    private sealed class IpProto(byte proto) : Node
    {
        public override bool Match(ReadOnlySpan<byte> f) => IsIpv4(f) && f[EthHeader + 9] == proto;
    }

    private sealed class Host(uint addr, bool src, bool dst) : Node
    {
        public override bool Match(ReadOnlySpan<byte> f)
        {
            if (!IsIpv4(f)) return false;
            return (src && BinaryPrimitives.ReadUInt32BigEndian(f[(EthHeader + 12)..]) == addr)
                || (dst && BinaryPrimitives.ReadUInt32BigEndian(f[(EthHeader + 16)..]) == addr);
        }
    }

    private sealed class Port(ushort port, bool src, bool dst) : Node
    {
        public override bool Match(ReadOnlySpan<byte> f)
        {
            if (!IsIpv4(f) || f[EthHeader + 9] is not (6 or 17)) return false;
            if ((BinaryPrimitives.ReadUInt16BigEndian(f[(EthHeader + 6)..]) & 0x1FFF) != 0) return false; // not the first fragment
            int l4 = EthHeader + (f[EthHeader] & 0x0F) * 4;
            if (f.Length < l4 + 4) return false;
            return (src && BinaryPrimitives.ReadUInt16BigEndian(f[l4..]) == port)
                || (dst && BinaryPrimitives.ReadUInt16BigEndian(f[(l4 + 2)..]) == port);
        }
    }

    private sealed class Parser(List<string> tokens)
    {
        private int _i;
        public bool AtEnd => _i >= tokens.Count;
        public string Peek => AtEnd ? "end" : tokens[_i];
        private string Next() => AtEnd ? throw new FormatException("the filter ends too soon") : tokens[_i++];
        private bool Take(string a, string? b = null)
        {
            if (AtEnd || (tokens[_i] != a && tokens[_i] != b)) return false;
            _i++;
            return true;
        }

        public Node Or()
        {
            var n = And();
            while (Take("or", "||")) n = new Or(n, And());
            return n;
        }

        private Node And()
        {
            var n = Unary();
            // "tcp port 80" is "tcp and port 80": pcap-filter joins a protocol and a primitive that follows it.
            while (Take("and", "&&") || (!AtEnd && Peek is not ("or" or "||" or ")"))) n = new And(n, Unary());
            return n;
        }

        private Node Unary()
        {
            if (Take("not", "!")) return new Not(Unary());
            if (Take("("))
            {
                var n = Or();
                if (!Take(")")) throw new FormatException("a \"(\" without its \")\" in the filter");
                return n;
            }
            return Primitive();
        }

        private Node Primitive()
        {
            string t = Next();
            bool src = true, dst = true;
            if (t is "src" or "dst")
            {
                src = t == "src";
                dst = t == "dst";
                t = Next();
            }
            switch (t)
            {
                case "host":
                    string a = Next();
                    if (!IPAddress.TryParse(a, out var ip) || ip.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork || a.Count(ch => ch == '.') != 3)
                        throw new FormatException($"\"{a}\" is not an IPv4 address (the capture has no resolver)");
                    Span<byte> b = stackalloc byte[4];
                    ip.TryWriteBytes(b, out _);
                    return new Host(BinaryPrimitives.ReadUInt32BigEndian(b), src, dst);
                case "port":
                    string p = Next();
                    if (!ushort.TryParse(p, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out ushort port))
                        throw new FormatException($"\"{p}\" is not a port number (0-65535)");
                    return new Port(port, src, dst);
            }
            if (!(src && dst)) throw new FormatException($"\"src\"/\"dst\" go with host or port, not \"{t}\"");
            return t switch
            {
                "ip" => new EtherProto(0x0800),
                "arp" => new EtherProto(0x0806),
                "icmp" => new IpProto(1),
                "tcp" => new IpProto(6),
                "udp" => new IpProto(17),
                _ => throw new FormatException($"\"{t}\" is not supported in a filter (supported: ip, arp, icmp, tcp, udp, [src|dst] host ADDR, [src|dst] port N, not, and, or, parentheses)"),
            };
        }
    }
}
