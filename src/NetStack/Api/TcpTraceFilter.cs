using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using NetStack.Ipv4;

namespace NetStack.Api;

/// <summary>
/// Which <see cref="TcpTraceRecord"/>s a <see cref="TcpTrace"/> keeps: an expression in the language of
/// ftrace's event filters (<c>/sys/kernel/tracing/events/tcp/tcp_probe/filter</c>), evaluated on each
/// record as it is written, without allocating.
/// <para>
/// An expression is <c>FIELD OP VALUE</c> predicates joined with <c>&amp;&amp;</c>, <c>||</c>, <c>!</c>
/// and parentheses (<c>and</c>, <c>or</c>, <c>not</c> also work). FIELD is a column of the CSV form
/// (<see cref="TcpTraceRecord.FieldNames"/>: <c>sport</c>, <c>daddr</c>, <c>snd_cwnd</c>, <c>state</c>,
/// <c>event</c>, ...) or <c>port</c> (sport or dport) or <c>host</c> (saddr or daddr); <c>saddr</c> and
/// <c>sport</c> are the socket's own side, <c>daddr</c> and <c>dport</c> the peer's, as in Linux's
/// tracepoints. OP is <c>==</c>, <c>!=</c>, <c>&lt;</c>, <c>&lt;=</c>, <c>&gt;</c>, <c>&gt;=</c> or
/// <c>&amp;</c> (any bit in common). VALUE is a number (decimal or 0x hex), an IPv4 address, a state
/// (<c>TCP_ESTABLISHED</c>, or <c>established</c>), a congestion state (<c>TCP_CA_Loss</c>, or
/// <c>loss</c>) or an event (<c>tcp_retransmit_skb</c>).
/// </para>
/// <code>
/// TcpTraceFilter.Parse("dport == 80 &amp;&amp; (event == tcp_retransmit_skb || ca_state == TCP_CA_Loss)");
/// TcpTraceFilter.Port(80).And(TcpTraceFilter.Host(IPAddress.Parse("10.7.0.1")));
/// </code>
/// </summary>
public sealed class TcpTraceFilter
{
    private TcpTraceFilter(string expression, TcpTraceFilterProgram program)
    {
        Expression = expression;
        Program = program;
    }

    /// <summary>The expression, as given (or as the factory methods wrote it).</summary>
    public string Expression { get; }

    internal TcpTraceFilterProgram Program { get; }

    /// <summary>Compiles a filter expression.</summary>
    /// <param name="expression">The expression, e.g. <c>sport == 80 &amp;&amp; snd_cwnd &gt; 10</c>.</param>
    /// <exception cref="FormatException">The expression is malformed; the message says why.</exception>
    public static TcpTraceFilter Parse(string expression)
    {
        ArgumentNullException.ThrowIfNull(expression);
        return new TcpTraceFilter(expression.Trim(), TcpTraceFilterProgram.Parse(expression));
    }

    /// <summary>Compiles a filter expression, or says why it cannot.</summary>
    /// <param name="expression">The expression.</param>
    /// <param name="filter">The filter, when the expression is well formed.</param>
    /// <param name="error">Why it is not, otherwise.</param>
    public static bool TryParse(string expression, [NotNullWhen(true)] out TcpTraceFilter? filter, [NotNullWhen(false)] out string? error)
    {
        try
        {
            filter = Parse(expression);
            error = null;
            return true;
        }
        catch (FormatException e)
        {
            filter = null;
            error = e.Message;
            return false;
        }
    }

    /// <summary>Connections with <paramref name="port"/> on either side.</summary>
    /// <param name="port">A port, 0 to 65535.</param>
    public static TcpTraceFilter Port(int port) => Parse(string.Create(CultureInfo.InvariantCulture, $"port == {CheckPort(port)}"));

    /// <summary>Connections whose own (local) port is <paramref name="port"/> (the tracepoints' <c>sport</c>).</summary>
    /// <param name="port">A port, 0 to 65535.</param>
    public static TcpTraceFilter LocalPort(int port) => Parse(string.Create(CultureInfo.InvariantCulture, $"sport == {CheckPort(port)}"));

    /// <summary>Connections whose peer's (remote) port is <paramref name="port"/> (the tracepoints' <c>dport</c>).</summary>
    /// <param name="port">A port, 0 to 65535.</param>
    public static TcpTraceFilter RemotePort(int port) => Parse(string.Create(CultureInfo.InvariantCulture, $"dport == {CheckPort(port)}"));

    /// <summary>Connections with <paramref name="address"/> on either side.</summary>
    /// <param name="address">An IPv4 address.</param>
    /// <exception cref="ArgumentException"><paramref name="address"/> is not IPv4.</exception>
    public static TcpTraceFilter Host(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
            throw new ArgumentException($"{address} is not an IPv4 address", nameof(address));
        return Parse($"host == {address}");
    }

    /// <summary>Records this filter and <paramref name="other"/> both keep.</summary>
    /// <param name="other">The other filter.</param>
    public TcpTraceFilter And(TcpTraceFilter other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return Parse($"({Expression}) && ({other.Expression})");
    }

    /// <summary>Records this filter or <paramref name="other"/> keeps.</summary>
    /// <param name="other">The other filter.</param>
    public TcpTraceFilter Or(TcpTraceFilter other)
    {
        ArgumentNullException.ThrowIfNull(other);
        return Parse($"({Expression}) || ({other.Expression})");
    }

    /// <summary>Whether the filter keeps <paramref name="record"/>.</summary>
    /// <param name="record">A record.</param>
    public bool Matches(in TcpTraceRecord record) => Program.Match(in record.Entry);

    /// <summary>The <see cref="Expression"/>.</summary>
    public override string ToString() => Expression;

    private static int CheckPort(int port)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(port);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, 65535);
        return port;
    }
}
