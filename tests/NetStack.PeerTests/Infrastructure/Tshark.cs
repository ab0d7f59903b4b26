namespace NetStack.PeerTests;

/// <summary>
/// tshark as an independent oracle over the stack's capture (DESIGN.md §6, layer 6): it dissects
/// with its own code, verifies IP/TCP/UDP checksums when asked (ICMP's always), and raises expert
/// infos for anything odd.
/// </summary>
public static class Tshark
{
    /// <summary>Checksum validation on for every protocol that has a preference for it.</summary>
    private static readonly string[] CheckPrefs =
    [
        "-o", "ip.check_checksum:TRUE",
        "-o", "tcp.check_checksum:TRUE",
        "-o", "udp.check_checksum:TRUE",
    ];

    /// <summary>Frames tshark finds malformed, with a bad checksum, or with an expert info of warning severity or worse.</summary>
    public const string ProblemFilter =
        "_ws.malformed || _ws.expert.severity >= warning || ip.checksum.status == \"Bad\" || icmp.checksum.status == \"Bad\"" +
        " || tcp.checksum.status == \"Bad\" || udp.checksum.status == \"Bad\"";

    /// <summary>One summary line per frame of <paramref name="pcap"/> that matches <paramref name="displayFilter"/>; <paramref name="disabledProtocols"/> are not dissected.</summary>
    public static string[] Frames(string pcap, string displayFilter, params string[] disabledProtocols)
    {
        var disable = disabledProtocols.SelectMany(p => new[] { "--disable-protocol", p }).ToArray();
        var r = Shell.Run("tshark", ["-n", "-r", pcap, .. CheckPrefs, .. disable, "-Y", displayFilter,
            "-T", "fields", "-E", "separator=|", "-e", "frame.number", "-e", "eth.src", "-e", "_ws.col.Protocol", "-e", "_ws.col.Info", "-e", "_ws.expert.message"]);
        if (r.ExitCode != 0) throw new InvalidOperationException($"tshark failed:\n{r}");
        return r.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    /// <summary>Counts the frames that match <paramref name="displayFilter"/>.</summary>
    public static int Count(string pcap, string displayFilter) => Frames(pcap, displayFilter).Length;
}
