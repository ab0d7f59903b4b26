using System.Globalization;
using System.Net;
using System.Text;
using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Wire;

namespace NetStack.Api;

/// <summary>
/// One record of a <see cref="TcpTrace"/>: what happened (<see cref="Event"/>), when (the namespace
/// clock, which is virtual in a simulation), to which connection, and the connection's state right
/// after it. The values are the kernel's: sequence numbers as on the wire, cwnd and ssthresh in
/// segments, windows in bytes, rates in bytes per second.
/// <para>
/// As text (<see cref="CsvHeader"/>, <see cref="TryFormatCsv"/>, <see cref="TryFormatJson"/>) the fields
/// are the columns <see cref="FieldNames"/> lists, in that order, named as Linux's tracepoints and
/// tcp_info name them; README.md documents each. The order is stable: tools read these files.
/// </para>
/// </summary>
public readonly struct TcpTraceRecord : IEquatable<TcpTraceRecord>
{
    /// <summary>The record's bytes, exactly as the ring holds them (this struct has no other field).</summary>
    internal readonly TcpTraceEntry Entry;

    internal TcpTraceRecord(in TcpTraceEntry entry) => Entry = entry;

    /// <summary>When it happened: the namespace clock in nanoseconds (CLOCK_MONOTONIC for a stack on a TAP, virtual in tests and simulations).</summary>
    public long TimeNs => Entry.TimeNs;
    /// <summary>What happened.</summary>
    public TcpTraceEvent Event => (TcpTraceEvent)Entry.Event;
    /// <summary>The event's name as the CSV writes it (<c>tcp_probe</c>, <c>tcp_retransmit_skb</c>, ...).</summary>
    public string EventName => TcpTraceEvents.Names[Entry.Event < TcpTraceEvents.Names.Length ? Entry.Event : 0];
    /// <summary>The socket's own address (<c>saddr</c>; 0.0.0.0 until it has one).</summary>
    public IPAddress LocalAddress => ToAddress(Entry.Saddr);
    /// <summary>The socket's own port (<c>sport</c>; 0 until it has one, e.g. in the CLOSE to SYN_SENT record, as in Linux).</summary>
    public int LocalPort => Entry.Sport;
    /// <summary>The peer's address (<c>daddr</c>).</summary>
    public IPAddress RemoteAddress => ToAddress(Entry.Daddr);
    /// <summary>The peer's port (<c>dport</c>).</summary>
    public int RemotePort => Entry.Dport;
    /// <summary>The socket's cookie (<c>sock_cookie</c>, SO_COOKIE): tells apart two connections that reuse one 4-tuple.</summary>
    public ulong SocketCookie => Entry.SockCookie;
    /// <summary>The socket's state after the event (<c>state</c>; inet_sock_set_state's newstate).</summary>
    public TcpState State => (TcpState)Entry.State;
    /// <summary>The state before the event (<c>oldstate</c>): differs from <see cref="State"/> only in <see cref="TcpTraceEvent.SetState"/> records.</summary>
    public TcpState OldState => (TcpState)Entry.OldState;
    /// <summary>The congestion state after the event (<c>ca_state</c>).</summary>
    public TcpCaState CaState => (TcpCaState)Entry.CaState;
    /// <summary>The congestion state before it (<c>old_ca_state</c>): differs from <see cref="CaState"/> only in <see cref="TcpTraceEvent.CongestionState"/> records.</summary>
    public TcpCaState OldCaState => (TcpCaState)Entry.OldCaState;
    /// <summary>snd_una: the first byte not yet acknowledged.</summary>
    public uint SndUna => Entry.SndUna;
    /// <summary>snd_nxt: the next byte to send.</summary>
    public uint SndNxt => Entry.SndNxt;
    /// <summary>rcv_nxt: the next byte expected from the peer.</summary>
    public uint RcvNxt => Entry.RcvNxt;
    /// <summary>snd_cwnd: the congestion window, in segments.</summary>
    public uint SendCwnd => Entry.SndCwnd;
    /// <summary>snd_ssthresh: the slow-start threshold, in segments (2147483647 until the first loss).</summary>
    public uint SendSsthresh => Entry.Ssthresh;
    /// <summary>The smoothed RTT (srtt_us &gt;&gt; 3; zero before the first sample).</summary>
    public TimeSpan Rtt => TimeSpan.FromMicroseconds(Entry.SrttUs);
    /// <summary>The RTT's mean deviation (mdev_us &gt;&gt; 2, tcpi_rttvar).</summary>
    public TimeSpan RttVar => TimeSpan.FromMicroseconds(Entry.RttvarUs);
    /// <summary>The retransmission timeout (icsk_rto).</summary>
    public TimeSpan Rto => TimeSpan.FromMicroseconds(Entry.RtoUs);
    /// <summary>The send MSS (mss_cache): multiply <see cref="SendCwnd"/> by it for bytes.</summary>
    public int Mss => (int)Entry.Mss;
    /// <summary>packets_out: segments sent and not yet acknowledged.</summary>
    public uint PacketsOut => Entry.PacketsOut;
    /// <summary>tcp_packets_in_flight(): packets_out - (sacked_out + lost_out) + retrans_out.</summary>
    public uint PacketsInFlight => Entry.PacketsInFlight;
    /// <summary>sacked_out: segments SACKed (or duplicate ACKs counted, without SACK).</summary>
    public uint SackedOut => Entry.SackedOut;
    /// <summary>lost_out: segments marked lost.</summary>
    public uint LostOut => Entry.LostOut;
    /// <summary>retrans_out: retransmitted segments in flight.</summary>
    public uint RetransOut => Entry.RetransOut;
    /// <summary>total_retrans: retransmissions over the connection's life.</summary>
    public uint TotalRetrans => Entry.TotalRetrans;
    /// <summary>delivered: segments delivered over the connection's life, retransmissions included.</summary>
    public uint Delivered => Entry.Delivered;
    /// <summary>bytes_acked: bytes the peer acknowledged (goodput is its slope).</summary>
    public ulong BytesAcked => Entry.BytesAcked;
    /// <summary>bytes_received: bytes received in sequence.</summary>
    public ulong BytesReceived => Entry.BytesReceived;
    /// <summary>The delivery rate (bytes/s; 0 while the stack keeps no rate samples, as its tcpi_delivery_rate).</summary>
    public ulong DeliveryRate => Entry.DeliveryRate;
    /// <summary>sk_pacing_rate (bytes/s; 0 while the stack does not pace).</summary>
    public ulong PacingRate => Entry.PacingRate;
    /// <summary>snd_wnd: the peer's advertised window, scaled (bytes).</summary>
    public uint SendWindow => Entry.SndWnd;
    /// <summary>rcv_wnd: our advertised window (bytes).</summary>
    public uint ReceiveWindow => Entry.RcvWnd;
    /// <summary>The segment's first sequence number (<c>seq</c>): the received segment for a probe, the sent one for a transmission or retransmission; 0 otherwise.</summary>
    public uint Sequence => Entry.Seq;
    /// <summary>The segment's payload bytes (<c>data_len</c>, as tcp_probe's): received for a probe, sent for a transmission or retransmission; 0 otherwise.</summary>
    public int DataLength => (int)Entry.DataLen;

    // ---- text ----

    /// <summary>The most bytes <see cref="TryFormatCsv"/> or <see cref="TryFormatJson"/> writes for one record.</summary>
    public const int MaxFormattedLength = 2048;

    /// <summary>The field names, in column order: the CSV header's words and the JSON form's keys.</summary>
    public static IReadOnlyList<string> FieldNames { get; } = Array.AsReadOnly(TcpTraceFields.Names);

    /// <summary>The CSV header line (without a newline): the field names separated by commas.</summary>
    public static string CsvHeader { get; } = string.Join(',', TcpTraceFields.Names);

    private static readonly byte[][] s_namesUtf8 = Utf8(TcpTraceFields.Names);
    private static readonly byte[][] s_stateUtf8 = Utf8(TcpTraceFields.StateNames);
    private static readonly byte[][] s_caUtf8 = Utf8(TcpTraceFields.CaStateNames);
    private static readonly byte[][] s_eventUtf8 = Utf8(TcpTraceEvents.Names);

    /// <summary>
    /// Writes the record as one CSV line (no newline) in UTF-8: numbers in decimal, addresses as dotted
    /// quads, states and events by name. Allocation-free.
    /// </summary>
    /// <param name="utf8Destination">Where to write (<see cref="MaxFormattedLength"/> bytes always suffice).</param>
    /// <param name="bytesWritten">The bytes written.</param>
    /// <returns>False when <paramref name="utf8Destination"/> is too small.</returns>
    public bool TryFormatCsv(Span<byte> utf8Destination, out int bytesWritten) => TryFormat(utf8Destination, json: false, out bytesWritten);

    /// <summary>Writes the record as one JSON object (no newline) in UTF-8, with the CSV's field names as keys and order. Allocation-free.</summary>
    /// <param name="utf8Destination">Where to write (<see cref="MaxFormattedLength"/> bytes always suffice).</param>
    /// <param name="bytesWritten">The bytes written.</param>
    /// <returns>False when <paramref name="utf8Destination"/> is too small.</returns>
    public bool TryFormatJson(Span<byte> utf8Destination, out int bytesWritten) => TryFormat(utf8Destination, json: true, out bytesWritten);

    /// <summary>The record as a CSV line (no newline).</summary>
    public string ToCsv() => Format(json: false);

    /// <summary>The record as a JSON object on one line.</summary>
    public string ToJson() => Format(json: true);

    private string Format(bool json)
    {
        Span<byte> buf = stackalloc byte[MaxFormattedLength];
        TryFormat(buf, json, out int n);
        return Encoding.UTF8.GetString(buf[..n]);
    }

    private bool TryFormat(Span<byte> dst, bool json, out int written)
    {
        written = 0;
        int pos = 0;
        if (json && !Put(dst, ref pos, (byte)'{')) return false;
        for (int i = 0; i < TcpTraceFields.Count; i++)
        {
            if (i > 0 && !Put(dst, ref pos, (byte)',')) return false;
            if (json)
            {
                if (!Put(dst, ref pos, (byte)'"') || !Put(dst, ref pos, s_namesUtf8[i]) || !Put(dst, ref pos, "\":"u8)) return false;
            }
            var f = (TcpTraceField)i;
            ulong v = TcpTraceFields.Get(in Entry, f);
            var kind = TcpTraceFields.Kind(f);
            bool quoted = json && kind != TcpTraceFieldKind.Number;
            if (quoted && !Put(dst, ref pos, (byte)'"')) return false;
            bool ok = kind switch
            {
                TcpTraceFieldKind.Address => PutAddress(dst, ref pos, (uint)v),
                TcpTraceFieldKind.State => PutName(dst, ref pos, s_stateUtf8, v),
                TcpTraceFieldKind.CaState => PutName(dst, ref pos, s_caUtf8, v),
                TcpTraceFieldKind.Event => PutName(dst, ref pos, s_eventUtf8, v),
                _ => PutNumber(dst, ref pos, v),
            };
            if (!ok || (quoted && !Put(dst, ref pos, (byte)'"'))) return false;
        }
        if (json && !Put(dst, ref pos, (byte)'}')) return false;
        written = pos;
        return true;
    }

    private static bool Put(Span<byte> dst, ref int pos, byte b)
    {
        if (pos >= dst.Length) return false;
        dst[pos++] = b;
        return true;
    }

    private static bool Put(Span<byte> dst, ref int pos, ReadOnlySpan<byte> s)
    {
        if (!s.TryCopyTo(dst[pos..])) return false;
        pos += s.Length;
        return true;
    }

    private static bool PutNumber(Span<byte> dst, ref int pos, ulong v)
    {
        if (!v.TryFormat(dst[pos..], out int n, default, CultureInfo.InvariantCulture)) return false;
        pos += n;
        return true;
    }

    private static bool PutAddress(Span<byte> dst, ref int pos, uint a) =>
        PutNumber(dst, ref pos, a >> 24) && Put(dst, ref pos, (byte)'.') &&
        PutNumber(dst, ref pos, (a >> 16) & 0xff) && Put(dst, ref pos, (byte)'.') &&
        PutNumber(dst, ref pos, (a >> 8) & 0xff) && Put(dst, ref pos, (byte)'.') &&
        PutNumber(dst, ref pos, a & 0xff);

    private static bool PutName(Span<byte> dst, ref int pos, byte[][] names, ulong v) =>
        v < (ulong)names.Length && names[v].Length > 0 ? Put(dst, ref pos, names[v]) : PutNumber(dst, ref pos, v);

    private static byte[][] Utf8(string[] names) => [.. names.Select(Encoding.UTF8.GetBytes)];

    /// <summary>Reads a line the CSV form wrote (<see cref="ToCsv"/>): the columns of <see cref="FieldNames"/>, in order.</summary>
    /// <param name="line">The line (a trailing newline is ignored).</param>
    /// <exception cref="FormatException">The line has another number of columns, or a value its column does not take.</exception>
    public static TcpTraceRecord ParseCsv(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        var cols = line.TrimEnd('\r', '\n').Split(',');
        if (cols.Length != TcpTraceFields.Count)
            throw new FormatException($"a trace line has {TcpTraceFields.Count} columns ({CsvHeader}), this one {cols.Length}");
        var e = default(TcpTraceEntry);
        for (int i = 0; i < cols.Length; i++)
        {
            var f = (TcpTraceField)i;
            string s = cols[i], name = TcpTraceFields.Names[i];
            var kind = TcpTraceFields.Kind(f);
            ulong v;
            if (kind == TcpTraceFieldKind.Address)
            {
                if (!Ipv4Address.TryParse(s, out uint a)) throw new FormatException($"{name}: '{s}' is not an IPv4 address");
                v = a;
            }
            else if (ulong.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out v))
            {
                if (v > TcpTraceFields.Max(f)) throw new FormatException($"{name}: {s} is out of range");
            }
            else if (kind == TcpTraceFieldKind.Number || !TcpTraceFields.TryLookupSymbol(kind, s, out v))
            {
                throw new FormatException($"{name}: bad value '{s}'");
            }
            TcpTraceFields.Set(ref e, f, v);
        }
        return new TcpTraceRecord(in e);
    }

    /// <summary>A short line for people: the event, the connection, its states, sequence numbers, cwnd, ssthresh and RTT.</summary>
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{TimeNs} {EventName} {Ipv4Address.Format(Entry.Saddr)}:{LocalPort} -> {Ipv4Address.Format(Entry.Daddr)}:{RemotePort} " +
        $"{StateName(Entry.OldState)}{(Entry.OldState != Entry.State ? "->" + StateName(Entry.State) : "")} " +
        $"{CaName(Entry.OldCaState)}{(Entry.OldCaState != Entry.CaState ? "->" + CaName(Entry.CaState) : "")} " +
        $"snd_una={SndUna} snd_nxt={SndNxt} rcv_nxt={RcvNxt} snd_cwnd={SendCwnd} ssthresh={SendSsthresh} srtt={Entry.SrttUs} " +
        $"in_flight={PacketsInFlight} seq={Sequence} data_len={DataLength}");

    private static string StateName(byte s) => s < TcpTraceFields.StateNames.Length ? TcpTraceFields.StateNames[s] : s.ToString(CultureInfo.InvariantCulture);
    private static string CaName(byte s) => s < TcpTraceFields.CaStateNames.Length ? TcpTraceFields.CaStateNames[s] : s.ToString(CultureInfo.InvariantCulture);

    private static IPAddress ToAddress(uint a) => new(System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(a));

    // ---- equality: field by field (the entry's padding is not part of the value) ----

    /// <summary>Whether every field equals <paramref name="other"/>'s.</summary>
    /// <param name="other">Another record.</param>
    public bool Equals(TcpTraceRecord other)
    {
        for (int i = 0; i < TcpTraceFields.Count; i++)
            if (TcpTraceFields.Get(in Entry, (TcpTraceField)i) != TcpTraceFields.Get(in other.Entry, (TcpTraceField)i)) return false;
        return true;
    }

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is TcpTraceRecord r && Equals(r);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Entry.TimeNs, Entry.Event, Entry.SockCookie, Entry.SndUna, Entry.SndNxt, Entry.SndCwnd);

    /// <summary>Field-by-field equality.</summary>
    public static bool operator ==(TcpTraceRecord left, TcpTraceRecord right) => left.Equals(right);

    /// <summary>Field-by-field inequality.</summary>
    public static bool operator !=(TcpTraceRecord left, TcpTraceRecord right) => !left.Equals(right);
}
