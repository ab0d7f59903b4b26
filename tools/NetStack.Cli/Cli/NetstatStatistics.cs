using System.Globalization;
using System.Text;

namespace NetStack.Cli;

/// <summary>
/// `netstat -s` as net-tools prints the counters of /proc/net/snmp and /proc/net/netstat: its phrase
/// for each counter it knows ("    12 active connection openings"), the fallback "    Name: N" for
/// the others (when not 0), its ICMP histograms and its indentation, its sections and its -t/-u/-w
/// choice, decided in the same order. The tables and their order are those of net-tools 2.10
/// (statistics.c), the release every distribution ships; as there, a table is searched with the C
/// library's bsearch() although some are not sorted, so a few counters that have a phrase
/// (TCPTimeouts, TCPDSACKRecv, Ip's Forwarding...) print in the fallback form, exactly as
/// `netstat -s` prints them on Linux. (Upstream's unreleased tree sorts Ip's table, which hides
/// "Forwarding", and adds a phrase for Udp's InCsumErrors.)
/// </summary>
/// <remarks>Mirrors net-tools statistics.c: parsesnmp(), process_fd(), newtable(), printval().</remarks>
internal static class NetstatStatistics
{
    /// <summary>How a counter prints (statistics.c's enum State).</summary>
    private enum Kind
    {
        /// <summary>number: always, with its phrase.</summary>
        Number,
        /// <summary>opt_number: with its phrase, only when not 0.</summary>
        OptNumber,
        /// <summary>i_forward: "Forwarding is enabled/disabled" (a static entry: never printed).</summary>
        Forward,
        /// <summary>i_inp_icmp: a line of the "ICMP input histogram:", indented 8.</summary>
        InputHistogram,
        /// <summary>i_outp_icmp: a line of the "ICMP output histogram:", indented 8.</summary>
        OutputHistogram,
        /// <summary>i_rto_alg: never printed.</summary>
        RtoAlgorithm,
    }

    /// <summary>One counter netstat knows: its /proc name, its phrase ({0} the value), how it prints; Static entries print only with print_static, which netstat never sets.</summary>
    private sealed record Entry(string Title, string Format, Kind Kind, bool Static = false, bool Titled = false);

    /// <summary>The indentation of each state and the histograms' titles (statistics.c's states[]).</summary>
    private static int Indent(Kind k) => k is Kind.InputHistogram or Kind.OutputHistogram ? 8 : 4;

    private static string? HistogramTitle(Kind k) => k switch
    {
        Kind.InputHistogram => "ICMP input histogram:",
        Kind.OutputHistogram => "ICMP output histogram:",
        _ => null,
    };

    /// <summary>Which protocol options a section answers to (statistics.c's snmptabs[] and their flags).</summary>
    private enum Flag { Raw, Tcp, Udp }

    // A property, not a field: the tables it names are fields declared further down.
    private static (string Title, Entry[] Table, Flag Flag)[] SnmpTabs =>
    [
        ("Ip", Iptab, Flag.Raw),
        ("Icmp", Icmptab, Flag.Raw),
        ("Tcp", Tcptab, Flag.Tcp),
        ("Udp", Udptab, Flag.Udp),
        ("TcpExt", Tcpexttab, Flag.Tcp),
    ];

    /// <summary>
    /// The text `netstat -s` prints for <paramref name="lines"/>, the /proc lines in their order
    /// (/proc/net/snmp's, then /proc/net/netstat's). <paramref name="raw"/>, <paramref name="tcp"/>,
    /// <paramref name="udp"/>: netstat's -w, -t, -u (all three when none is given). As in netstat, a
    /// known section that is not chosen prints nothing, and a section netstat has no table for
    /// (IcmpMsg, UdpLite, IpExt) always prints, in the fallback form.
    /// </summary>
    public static string Render(IEnumerable<(string Name, IReadOnlyList<KeyValuePair<string, long>> Counters)> lines, bool raw, bool tcp, bool udp)
    {
        var sb = new StringBuilder();
        // statistics.c's `state`: one for the whole run, reset only by a known section's title.
        Kind state = Kind.Number;
        foreach (var (name, counters) in lines)
        {
            Entry[]? table = null;
            bool chosen = true;
            int known = Array.FindIndex(SnmpTabs, t => t.Title == name);
            if (known >= 0)
            {
                table = SnmpTabs[known].Table;
                chosen = SnmpTabs[known].Flag switch { Flag.Raw => raw, Flag.Tcp => tcp, _ => udp };
                if (chosen) sb.Append(name).Append(":\n");
                state = Kind.Number;
            }
            else
            {
                sb.Append(name).Append(":\n");   // an unknown section: f_unknown is always set
            }
            if (!chosen) continue;
            foreach (var (title, value) in counters)
                PrintVal(sb, table, title, unchecked((ulong)value), ref state);
        }
        return sb.ToString();
    }

    private static void PrintVal(StringBuilder sb, Entry[]? table, string title, ulong val, ref Kind state)
    {
        var ent = table is null ? null : BSearch(table, title);
        if (ent is null)
        {
            // "try our best": the counter's own name, when it is not 0, at the current indentation.
            if (val != 0) sb.Append(' ', Indent(state)).Append(title).Append(": ").Append(val.ToString(CultureInfo.InvariantCulture)).Append('\n');
            return;
        }
        if (ent.Static) return;   // print_static is never set
        if (ent.Format.Length == 0) return;
        var type = ent.Kind;
        if (ent.Titled && state != type)
            sb.Append(' ', Indent(state)).Append(HistogramTitle(type)).Append('\n');
        string? line = type switch
        {
            Kind.OptNumber when val == 0 => null,
            Kind.Number or Kind.OptNumber => string.Format(CultureInfo.InvariantCulture, ent.Format, val),
            Kind.InputHistogram or Kind.OutputHistogram when val > 0 => string.Format(CultureInfo.InvariantCulture, ent.Format, val),
            _ => null,
        };
        if (line is not null) sb.Append(' ', Indent(type)).Append(line).Append('\n');
        state = type;
    }

    /// <summary>glibc's bsearch() with strcmp(): the same probes, so the same misses on a table that is not sorted.</summary>
    private static Entry? BSearch(Entry[] table, string key)
    {
        int l = 0, u = table.Length;
        while (l < u)
        {
            int idx = (l + u) / 2;
            int cmp = string.CompareOrdinal(key, table[idx].Title);
            if (cmp < 0) u = idx;
            else if (cmp > 0) l = idx + 1;
            else return table[idx];
        }
        return null;
    }

    // The tables of net-tools 2.10, in its order ("Keep the entries sorted!", which some are not).

    private static readonly Entry[] Iptab =
    [
        new("DefaultTTL", "Default TTL is {0}", Kind.Number, Static: true),
        new("Forwarding", "Forwarding is {0}", Kind.Forward, Static: true),
        new("ForwDatagrams", "{0} forwarded", Kind.Number),
        new("FragCreates", "{0} fragments created", Kind.OptNumber),
        new("FragFails", "{0} outgoing packets failed fragmentation", Kind.OptNumber),
        new("FragOKs", "{0} outgoing packets fragmented ok", Kind.OptNumber),
        new("InAddrErrors", "{0} with invalid addresses", Kind.OptNumber),
        new("InDelivers", "{0} incoming packets delivered", Kind.Number),
        new("InDiscards", "{0} incoming packets discarded", Kind.Number),
        new("InHdrErrors", "{0} with invalid headers", Kind.OptNumber),
        new("InReceives", "{0} total packets received", Kind.Number),
        new("InUnknownProtos", "{0} with unknown protocol", Kind.OptNumber),
        new("OutDiscards", "{0} outgoing packets dropped", Kind.OptNumber),
        new("OutNoRoutes", "{0} dropped because of missing route", Kind.OptNumber),
        new("OutRequests", "{0} requests sent out", Kind.Number),
        new("ReasmFails", "{0} packet reassemblies failed", Kind.OptNumber),
        new("ReasmOKs", "{0} packets reassembled ok", Kind.OptNumber),
        new("ReasmReqds", "{0} reassemblies required", Kind.OptNumber),
        new("ReasmTimeout", "{0} fragments dropped after timeout", Kind.OptNumber),
    ];

    private static readonly Entry[] Icmptab =
    [
        new("InAddrMaskReps", "address mask replies: {0}", Kind.InputHistogram, Titled: true),
        new("InAddrMasks", "address mask request: {0}", Kind.InputHistogram, Titled: true),
        new("InDestUnreachs", "destination unreachable: {0}", Kind.InputHistogram, Titled: true),
        new("InEchoReps", "echo replies: {0}", Kind.InputHistogram, Titled: true),
        new("InEchos", "echo requests: {0}", Kind.InputHistogram, Titled: true),
        new("InErrors", "{0} input ICMP message failed", Kind.Number),
        new("InMsgs", "{0} ICMP messages received", Kind.Number),
        new("InParmProbs", "wrong parameters: {0}", Kind.InputHistogram, Titled: true),
        new("InRedirects", "redirects: {0}", Kind.InputHistogram, Titled: true),
        new("InSrcQuenchs", "source quenches: {0}", Kind.InputHistogram, Titled: true),
        new("InTimeExcds", "timeout in transit: {0}", Kind.InputHistogram, Titled: true),
        new("InTimestampReps", "timestamp reply: {0}", Kind.InputHistogram, Titled: true),
        new("InTimestamps", "timestamp request: {0}", Kind.InputHistogram, Titled: true),
        new("OutAddrMaskReps", "address mask replies: {0}", Kind.OutputHistogram, Titled: true),
        new("OutAddrMasks", "address mask requests: {0}", Kind.OutputHistogram, Titled: true),
        new("OutDestUnreachs", "destination unreachable: {0}", Kind.OutputHistogram, Titled: true),
        new("OutEchoReps", "echo replies: {0}", Kind.OutputHistogram, Titled: true),
        new("OutEchos", "echo requests: {0}", Kind.OutputHistogram, Titled: true),
        new("OutErrors", "{0} ICMP messages failed", Kind.Number),
        new("OutMsgs", "{0} ICMP messages sent", Kind.Number),
        new("OutParmProbs", "wrong parameters: {0}", Kind.OutputHistogram, Titled: true),
        new("OutRedirects", "redirect: {0}", Kind.OutputHistogram, Titled: true),
        new("OutSrcQuenchs", "source quench: {0}", Kind.OutputHistogram, Titled: true),
        new("OutTimeExcds", "time exceeded: {0}", Kind.OutputHistogram, Titled: true),
        new("OutTimestampReps", "timestamp replies: {0}", Kind.OutputHistogram, Titled: true),
        new("OutTimestamps", "timestamp requests: {0}", Kind.OutputHistogram, Titled: true),
    ];

    private static readonly Entry[] Tcptab =
    [
        new("ActiveOpens", "{0} active connection openings", Kind.Number),
        new("AttemptFails", "{0} failed connection attempts", Kind.Number),
        new("CurrEstab", "{0} connections established", Kind.Number),
        new("EstabResets", "{0} connection resets received", Kind.Number),
        new("InErrs", "{0} bad segments received", Kind.Number),
        new("InSegs", "{0} segments received", Kind.Number),
        new("MaxConn", "", Kind.Number),
        new("OutRsts", "{0} resets sent", Kind.Number),
        new("OutSegs", "{0} segments sent out", Kind.Number),
        new("PassiveOpens", "{0} passive connection openings", Kind.Number),
        new("RetransSegs", "{0} segments retransmitted", Kind.Number),
        new("RtoAlgorithm", "RTO algorithm is {0}", Kind.RtoAlgorithm, Static: true),
        new("RtoMax", "", Kind.Number),
        new("RtoMin", "", Kind.Number),
    ];

    private static readonly Entry[] Udptab =
    [
        new("InDatagrams", "{0} packets received", Kind.Number),
        new("InErrors", "{0} packet receive errors", Kind.Number),
        new("NoPorts", "{0} packets to unknown port received", Kind.Number),
        new("OutDatagrams", "{0} packets sent", Kind.Number),
        new("RcvbufErrors", "{0} receive buffer errors", Kind.Number),
        new("SndbufErrors", "{0} send buffer errors", Kind.Number),
    ];

    private static readonly Entry[] Tcpexttab =
    [
        new("DelayedACKLocked", "{0} delayed acks further delayed because of locked socket", Kind.OptNumber),
        new("DelayedACKLost", "Quick ack mode was activated {0} times", Kind.OptNumber),
        new("DelayedACKs", "{0} delayed acks sent", Kind.OptNumber),
        new("EmbryonicRsts", "{0} resets received for embryonic SYN_RECV sockets", Kind.OptNumber),
        new("ListenDrops", "{0} SYNs to LISTEN sockets dropped", Kind.OptNumber),
        new("ListenOverflows", "{0} times the listen queue of a socket overflowed", Kind.OptNumber),
        new("LockDroppedIcmps", "{0} ICMP packets dropped because socket was locked", Kind.OptNumber),
        new("OfoPruned", "{0} packets dropped from out-of-order queue because of socket buffer overrun", Kind.OptNumber),
        new("OutOfWindowIcmps", "{0} ICMP packets dropped because they were out-of-window", Kind.OptNumber),
        new("PAWSActive", "{0} active connections rejected because of time stamp", Kind.OptNumber),
        new("PAWSEstab", "{0} packets rejected in established connections because of timestamp", Kind.OptNumber),
        new("PAWSPassive", "{0} passive connections rejected because of time stamp", Kind.OptNumber),
        new("PruneCalled", "{0} packets pruned from receive queue because of socket buffer overrun", Kind.OptNumber),
        new("RcvPruned", "{0} packets pruned from receive queue", Kind.OptNumber),
        new("SockMallocOOM", "Ran {0} times out of system memory during packet sending", Kind.OptNumber),
        new("SyncookiesFailed", "{0} invalid SYN cookies received", Kind.OptNumber),
        new("SyncookiesRecv", "{0} SYN cookies received", Kind.OptNumber),
        new("SyncookiesSent", "{0} SYN cookies sent", Kind.OptNumber),
        new("TCPAbortFailed", "{0} times unable to send RST due to no memory", Kind.OptNumber),
        new("TCPAbortOnClose", "{0} connections reset due to early user close", Kind.OptNumber),
        new("TCPAbortOnData", "{0} connections reset due to unexpected data", Kind.OptNumber),
        new("TCPAbortOnLinger", "{0} connections aborted after user close in linger timeout", Kind.OptNumber),
        new("TCPAbortOnMemory", "{0} connections aborted due to memory pressure", Kind.OptNumber),
        new("TCPAbortOnSyn", "{0} connections reset due to unexpected SYN", Kind.OptNumber),
        new("TCPAbortOnTimeout", "{0} connections aborted due to timeout", Kind.OptNumber),
        new("TCPDirectCopyFromBacklog", "{0} bytes directly in process context from backlog", Kind.OptNumber),
        new("TCPDirectCopyFromPrequeue", "{0} bytes directly received in process context from prequeue", Kind.OptNumber),
        new("TCPDSACKOfoRecv", "{0} DSACKs for out of order packets received", Kind.OptNumber),
        new("TCPDSACKOfoSent", "{0} DSACKs sent for out of order packets", Kind.OptNumber),
        new("TCPDSACKOldSent", "{0} DSACKs sent for old packets", Kind.OptNumber),
        new("TCPDSACKRecv", "{0} DSACKs received", Kind.OptNumber),
        new("TCPDSackUndo", "{0} congestion window recovered without slow start using DSACK", Kind.OptNumber),
        new("TCPDSACKUndo", "{0} congestion windows recovered without slow start by DSACK", Kind.OptNumber),
        new("TCPFACKReorder", "Detected reordering {0} times using FACK", Kind.OptNumber),
        new("TCPFastRetrans", "{0} fast retransmits", Kind.OptNumber),
        new("TCPForwardRetrans", "{0} forward retransmits", Kind.OptNumber),
        new("TCPFullUndo", "{0} congestion windows fully recovered without slow start", Kind.OptNumber),
        new("TCPHPAcks", "{0} predicted acknowledgments", Kind.OptNumber),
        new("TCPHPHits", "{0} packet headers predicted", Kind.Number),
        new("TCPHPHitsToUser", "{0} packet headers predicted and directly queued to user", Kind.OptNumber),
        new("TCPLossFailures", "{0} timeouts in loss state", Kind.OptNumber),
        new("TCPLoss", "{0} TCP data loss events", Kind.OptNumber),
        new("TCPLossUndo", "{0} congestion windows recovered without slow start after partial ack", Kind.OptNumber),
        new("TCPLostRetransmits", "{0} retransmits lost", Kind.OptNumber),
        new("TCPMemoryPressures", "TCP ran low on memory {0} times", Kind.OptNumber),
        new("TCPPartialUndo", "{0} congestion windows partially recovered using Hoe heuristic", Kind.OptNumber),
        new("TCPPrequeued", "{0} packets directly queued to recvmsg prequeue", Kind.OptNumber),
        new("TCPPrequeueDropped", "{0} packets dropped from prequeue", Kind.OptNumber),
        new("TCPPureAcks", "{0} acknowledgments not containing data payload received", Kind.OptNumber),
        new("TCPRcvCollapsed", "{0} packets collapsed in receive queue due to low socket buffer", Kind.OptNumber),
        new("TCPRenoFailures", "{0} timeouts after reno fast retransmit", Kind.OptNumber),
        new("TCPRenoRecoveryFailed", "{0} reno fast retransmits failed", Kind.OptNumber),
        new("TCPRenoRecoveryFail", "{0} classic Reno fast retransmits failed", Kind.OptNumber),
        new("TCPRenoRecovery", "{0} times recovered from packet loss due to fast retransmit", Kind.OptNumber),
        new("TCPRenoReorder", "Detected reordering {0} times using reno fast retransmit", Kind.OptNumber),
        new("TCPSackFailures", "{0} timeouts after SACK recovery", Kind.OptNumber),
        new("TCPSackRecoveryFail", "{0} SACK retransmits failed", Kind.OptNumber),
        new("TCPSackRecovery", "{0} times recovered from packet loss by selective acknowledgements", Kind.OptNumber),
        new("TCPSACKReneging", "{0} bad SACK blocks received", Kind.OptNumber),
        new("TCPSACKReorder", "Detected reordering {0} times using SACK", Kind.OptNumber),
        new("TCPSchedulerFailed", "{0} times receiver scheduled too late for direct processing", Kind.OptNumber),
        new("TCPSlowStartRetrans", "{0} retransmits in slow start", Kind.OptNumber),
        new("TCPTimeouts", "{0} other TCP timeouts", Kind.OptNumber),
        new("TCPTSReorder", "Detected reordering {0} times using time stamp", Kind.OptNumber),
        new("TWKilled", "{0} TCP sockets finished time wait in slow timer", Kind.OptNumber),
        new("TW", "{0} TCP sockets finished time wait in fast timer", Kind.OptNumber),
        new("TWRecycled", "{0} time wait sockets recycled by time stamp", Kind.OptNumber),
    ];
}
