using System.Globalization;
using NetStack.Wire;

namespace NetStack.Ipv4;

/// <summary>
/// A compiled trace filter: the predicates of an expression in postfix order, evaluated per record
/// on the stack without allocating (a trace point runs it under the stack lock).
/// <para>
/// The language is ftrace's event filter (Documentation/trace/events.rst, "Event filtering"):
/// <c>FIELD OP VALUE</c> predicates joined with <c>&amp;&amp;</c>, <c>||</c>, <c>!</c> and parentheses
/// (<c>and</c>, <c>or</c>, <c>not</c> are accepted too); OP is <c>==</c>, <c>!=</c>, <c>&lt;</c>,
/// <c>&lt;=</c>, <c>&gt;</c>, <c>&gt;=</c> or <c>&amp;</c> (a bit test). FIELD is a column name
/// (<c>sport</c>, <c>daddr</c>, <c>snd_cwnd</c>, <c>state</c>, <c>event</c>...) or one of two shorthands:
/// <c>port</c> (sport or dport) and <c>host</c> (saddr or daddr); for <c>!=</c> they mean neither.
/// VALUE is a number (decimal or 0x hex), a dotted quad for an address field, a state name for a
/// state field (<c>TCP_ESTABLISHED</c> or <c>established</c>), a CA state name (<c>TCP_CA_Loss</c> or
/// <c>loss</c>) or an event name (<c>tcp_retransmit_skb</c>).
/// </para>
/// </summary>
/// <remarks>Mirrors kernel/trace/trace_events_filter.c: the predicate program (struct prog_entry)
/// that filter_match_preds() walks, and the parser that builds it.</remarks>
internal sealed class TcpTraceFilterProgram
{
    /// <summary>The most predicates and operators an expression compiles to (the evaluation stack's depth).</summary>
    public const int MaxOps = 64;

    internal enum OpKind : byte { Pred, And, Or, Not }
    internal enum CmpOp : byte { Eq, Ne, Lt, Le, Gt, Ge, Band }

    internal readonly record struct Op(OpKind Kind, TcpTraceField Field, CmpOp Cmp, ulong Value);

    private readonly Op[] _ops;

    private TcpTraceFilterProgram(Op[] ops) => _ops = ops;

    /// <summary>Whether <paramref name="e"/> passes the filter. Allocation-free.</summary>
    /// <remarks>Mirrors filter_match_preds().</remarks>
    public bool Match(in TcpTraceEntry e)
    {
        Span<bool> stack = stackalloc bool[MaxOps];
        int sp = 0;
        var ops = _ops;
        for (int i = 0; i < ops.Length; i++)
        {
            ref readonly var op = ref ops[i];
            switch (op.Kind)
            {
                case OpKind.Pred:
                    stack[sp++] = Compare(TcpTraceFields.Get(in e, op.Field), op.Cmp, op.Value);
                    break;
                case OpKind.And:
                    sp--;
                    stack[sp - 1] = stack[sp - 1] & stack[sp];
                    break;
                case OpKind.Or:
                    sp--;
                    stack[sp - 1] = stack[sp - 1] | stack[sp];
                    break;
                case OpKind.Not:
                    stack[sp - 1] = !stack[sp - 1];
                    break;
            }
        }
        return stack[0];
    }

    private static bool Compare(ulong v, CmpOp op, ulong c) => op switch
    {
        CmpOp.Eq => v == c,
        CmpOp.Ne => v != c,
        CmpOp.Lt => v < c,
        CmpOp.Le => v <= c,
        CmpOp.Gt => v > c,
        CmpOp.Ge => v >= c,
        _ => (v & c) != 0,
    };

    // ---- the parser ----

    /// <summary>Compiles <paramref name="expression"/>.</summary>
    /// <exception cref="FormatException">The expression is malformed; the message says where and why.</exception>
    /// <remarks>Mirrors process_preds() / parse_pred().</remarks>
    public static TcpTraceFilterProgram Parse(string expression)
    {
        ArgumentNullException.ThrowIfNull(expression);
        var p = new Parser(expression);
        var ops = new List<Op>();
        p.ParseOr(ops);
        if (!p.AtEnd) throw p.Error($"unexpected '{p.Peek()}'");
        if (ops.Count > MaxOps) throw new FormatException($"the filter is too long: at most {MaxOps} predicates and operators");
        return new TcpTraceFilterProgram([.. ops]);
    }

    private sealed class Parser(string text)
    {
        private readonly List<string> _tokens = Tokenize(text);
        private int _pos;

        public bool AtEnd => _pos >= _tokens.Count;
        public string Peek() => _pos < _tokens.Count ? _tokens[_pos] : "end of filter";
        private string Next() => _pos < _tokens.Count ? _tokens[_pos++] : throw Error("unexpected end of filter");

        public FormatException Error(string why) => new($"bad filter '{text}': {why}");

        private bool Accept(string a, string? b = null)
        {
            if (AtEnd) return false;
            var t = _tokens[_pos];
            if (t == a || (b is not null && t.Equals(b, StringComparison.OrdinalIgnoreCase)))
            {
                _pos++;
                return true;
            }
            return false;
        }

        public void ParseOr(List<Op> ops)
        {
            ParseAnd(ops);
            while (Accept("||", "or"))
            {
                ParseAnd(ops);
                ops.Add(new Op(OpKind.Or, default, default, 0));
            }
        }

        private void ParseAnd(List<Op> ops)
        {
            ParseUnary(ops);
            while (Accept("&&", "and"))
            {
                ParseUnary(ops);
                ops.Add(new Op(OpKind.And, default, default, 0));
            }
        }

        private void ParseUnary(List<Op> ops)
        {
            if (Accept("!", "not"))
            {
                ParseUnary(ops);
                ops.Add(new Op(OpKind.Not, default, default, 0));
                return;
            }
            if (Accept("("))
            {
                ParseOr(ops);
                if (!Accept(")")) throw Error($"expected ')' before '{Peek()}'");
                return;
            }
            ParsePred(ops);
        }

        private void ParsePred(List<Op> ops)
        {
            string name = Next();
            if (!char.IsAsciiLetter(name[0]) && name[0] != '_') throw Error($"expected a field name, not '{name}'");
            string opText = Next();
            CmpOp cmp = opText switch
            {
                "==" => CmpOp.Eq,
                "!=" => CmpOp.Ne,
                "<" => CmpOp.Lt,
                "<=" => CmpOp.Le,
                ">" => CmpOp.Gt,
                ">=" => CmpOp.Ge,
                "&" => CmpOp.Band,
                _ => throw Error($"expected ==, !=, <, <=, >, >= or & after '{name}', not '{opText}'"),
            };
            string valueText = Next();
            // The two shorthands: either side of the connection (neither, for !=).
            (TcpTraceField a, TcpTraceField b)? pair = name switch
            {
                "port" => (TcpTraceField.Sport, TcpTraceField.Dport),
                "host" => (TcpTraceField.Saddr, TcpTraceField.Daddr),
                _ => null,
            };
            if (pair is { } p)
            {
                ulong v = Value(p.a, valueText);
                ops.Add(new Op(OpKind.Pred, p.a, cmp, v));
                ops.Add(new Op(OpKind.Pred, p.b, cmp, v));
                ops.Add(new Op(cmp == CmpOp.Ne ? OpKind.And : OpKind.Or, default, default, 0));
                return;
            }
            if (!TcpTraceFields.TryLookup(name, out var field))
                throw Error($"no field '{name}' (fields: {string.Join(", ", TcpTraceFields.Names)}, port, host)");
            ops.Add(new Op(OpKind.Pred, field, cmp, Value(field, valueText)));
        }

        private ulong Value(TcpTraceField field, string s)
        {
            var kind = TcpTraceFields.Kind(field);
            string name = TcpTraceFields.Names[(int)field];
            ulong v;
            if (kind == TcpTraceFieldKind.Address && s.Contains('.'))
            {
                if (!Ipv4Address.TryParse(s, out uint a)) throw Error($"'{s}' is not an IPv4 address a.b.c.d");
                return a;
            }
            if (s.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
                ? ulong.TryParse(s.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out v)
                : ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out v))
            {
                if (v > TcpTraceFields.Max(field)) throw Error($"{s} is out of range for {name} (at most {TcpTraceFields.Max(field)})");
                return v;
            }
            if (TcpTraceFields.TryLookupSymbol(kind, s, out v)) return v;
            throw Error(kind switch
            {
                TcpTraceFieldKind.Address => $"{name} takes an IPv4 address a.b.c.d, not '{s}'",
                TcpTraceFieldKind.State => $"{name} takes a TCP state (TCP_ESTABLISHED, TCP_SYN_SENT, ...), not '{s}'",
                TcpTraceFieldKind.CaState => $"{name} takes a congestion state ({string.Join(", ", TcpTraceFields.CaStateNames)}), not '{s}'",
                TcpTraceFieldKind.Event => $"{name} takes an event ({string.Join(", ", TcpTraceEvents.Names[1..])}), not '{s}'",
                _ => $"{name} takes a number, not '{s}'",
            });
        }

        private static List<string> Tokenize(string s)
        {
            var tokens = new List<string>();
            int i = 0;
            while (i < s.Length)
            {
                char c = s[i];
                if (char.IsWhiteSpace(c)) { i++; continue; }
                if (c is '(' or ')') { tokens.Add(c.ToString()); i++; continue; }
                if (i + 1 < s.Length && (s.Substring(i, 2) is "==" or "!=" or "<=" or ">=" or "&&" or "||"))
                {
                    tokens.Add(s.Substring(i, 2));
                    i += 2;
                    continue;
                }
                if (c is '<' or '>' or '&' or '!' or '=')
                {
                    // A lone '=' is taken as '==', as ftrace does.
                    tokens.Add(c == '=' ? "==" : c.ToString());
                    i++;
                    continue;
                }
                int start = i;
                while (i < s.Length && (char.IsAsciiLetterOrDigit(s[i]) || s[i] is '_' or '.' or ':')) i++;
                if (i == start) throw new FormatException($"bad filter '{s}': unexpected '{c}'");
                tokens.Add(s[start..i]);
            }
            if (tokens.Count == 0) throw new FormatException("empty filter");
            return tokens;
        }
    }
}
