using System.Globalization;

namespace NetStack.Core;

/// <summary>
/// One sysctl: a name under /proc/sys and how to read and write its value as text. The value
/// itself lives in a typed field of its layer's per-namespace state (the hot path reads that
/// field); the entry only converts.
/// <remarks>Mirrors include/linux/sysctl.h: struct ctl_table (procname, data, proc_handler, extra1/extra2).</remarks>
/// </summary>
public sealed class CtlTable
{
    private readonly Func<string> _read;
    private readonly Func<string, int> _write;

    /// <param name="procName">The name below the table's path ("tcp_sack").</param>
    /// <param name="read">Formats the value as /proc/sys prints it (without the trailing newline).</param>
    /// <param name="write">Parses and stores a value: 0, or a negative errno (-EINVAL).</param>
    public CtlTable(string procName, Func<string> read, Func<string, int> write)
    {
        ProcName = procName;
        _read = read;
        _write = write;
    }

    /// <summary>ctl_table.procname.</summary>
    public string ProcName { get; }

    internal string Read() => _read();

    internal int Write(string value) => _write(value);

    /// <summary>An integer within [min, max].</summary>
    /// <remarks>Mirrors proc_dointvec_minmax().</remarks>
    public static CtlTable Int(string name, Func<int> get, Action<int> set, int min = int.MinValue, int max = int.MaxValue) =>
        new(name, () => get().ToString(CultureInfo.InvariantCulture), s =>
        {
            if (!TryParseInts(s, 1, out var v) || v[0] < min || v[0] > max) return -Errno.EINVAL;
            set(v[0]);
            return 0;
        });

    /// <summary>
    /// An integer kept in a finer unit than it is shown in (a field in milliseconds shown in
    /// seconds: <paramref name="scale"/> = 1000), as proc_dointvec_jiffies shows jiffies in seconds.
    /// </summary>
    /// <remarks>Mirrors proc_dointvec_jiffies() / proc_dointvec_ms_jiffies().</remarks>
    public static CtlTable Scaled(string name, Func<int> get, Action<int> set, int scale, int min = 0, int max = int.MaxValue) =>
        new(name, () => (get() / scale).ToString(CultureInfo.InvariantCulture), s =>
        {
            if (!TryParseInts(s, 1, out var v) || v[0] < min || v[0] > max || (long)v[0] * scale > int.MaxValue) return -Errno.EINVAL;
            set(v[0] * scale);
            return 0;
        });

    /// <summary>A boolean shown as 0 or 1; only 0 and 1 are accepted.</summary>
    /// <remarks>Mirrors proc_dou8vec_minmax() with extra1 = SYSCTL_ZERO, extra2 = SYSCTL_ONE.</remarks>
    public static CtlTable Bool(string name, Func<bool> get, Action<bool> set) =>
        new(name, () => get() ? "1" : "0", s =>
        {
            if (!TryParseInts(s, 1, out var v) || v[0] is not (0 or 1)) return -Errno.EINVAL;
            set(v[0] == 1);
            return 0;
        });

    /// <summary>
    /// A vector of integers, shown tab-separated (tcp_rmem "4096\t131072\t6291456"); a write
    /// gives all of them, separated by blanks. <paramref name="set"/> validates and returns an errno.
    /// </summary>
    /// <remarks>Mirrors proc_dointvec() on an array.</remarks>
    public static CtlTable IntVec(string name, Func<int[]> get, Func<int[], int> set, int count) =>
        new(name, () => string.Join('\t', get().Select(v => v.ToString(CultureInfo.InvariantCulture))), s =>
            TryParseInts(s, count, out var v) ? set(v) : -Errno.EINVAL);

    /// <summary>A string; <paramref name="set"/> validates and returns an errno.</summary>
    /// <remarks>Mirrors proc_dostring() with a handler (proc_tcp_congestion_control).</remarks>
    public static CtlTable String(string name, Func<string> get, Func<string, int> set) =>
        new(name, get, s => set(s.Trim()));

    private static bool TryParseInts(string s, int count, out int[] values)
    {
        var parts = s.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        values = new int[count];
        if (parts.Length != count) return false;
        for (int i = 0; i < count; i++)
            if (!int.TryParse(parts[i], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out values[i])) return false;
        return true;
    }
}

/// <summary>
/// The sysctls of one namespace by name (net.ipv4.tcp_sack, net.core.somaxconn), as /proc/sys/net
/// shows them. Each layer registers its table from its pernet init; values are read and written
/// as text, under the stack lock.
/// <remarks>Mirrors net/sysctl_net.c: register_net_sysctl() and the proc_sys read/write path.</remarks>
/// </summary>
public sealed class SysctlTable
{
    private readonly NetNamespace _net;
    private readonly SortedDictionary<string, CtlTable> _entries = new(StringComparer.Ordinal);

    internal SysctlTable(NetNamespace net) => _net = net;

    /// <summary>
    /// Registers a table under <paramref name="path"/> ("net/ipv4" or "net.ipv4"). -EEXIST if a
    /// name is taken (nothing is registered then).
    /// </summary>
    /// <remarks>Mirrors register_net_sysctl(net, path, table).</remarks>
    public int RegisterNetSysctl(string path, IEnumerable<CtlTable> table)
    {
        string prefix = Normalize(path) + ".";
        lock (_net.SyncRoot)
        {
            var list = table.ToList();
            foreach (var t in list) if (_entries.ContainsKey(prefix + t.ProcName)) return -Errno.EEXIST;
            foreach (var t in list) _entries.Add(prefix + t.ProcName, t);
            return 0;
        }
    }

    /// <summary>Every registered name, sorted ("net.core.somaxconn", "net.ipv4.ip_default_ttl", ...).</summary>
    public IReadOnlyList<string> Names
    {
        get
        {
            lock (_net.SyncRoot) return _entries.Keys.ToArray();
        }
    }

    /// <summary>Reads a value as `sysctl -n name` prints it. False for an unknown name.</summary>
    public bool TryGet(string name, out string value)
    {
        lock (_net.SyncRoot)
        {
            if (_entries.TryGetValue(Normalize(name), out var t))
            {
                value = t.Read();
                return true;
            }
        }
        value = "";
        return false;
    }

    /// <summary>Writes a value as `sysctl -w name=value` does: 0, -ENOENT for an unknown name, -EINVAL for a bad value.</summary>
    public int TrySet(string name, string value)
    {
        lock (_net.SyncRoot)
        {
            return _entries.TryGetValue(Normalize(name), out var t) ? t.Write(value) : -Errno.ENOENT;
        }
    }

    /// <summary>sysctl(8) accepts both net.ipv4.x and net/ipv4/x.</summary>
    private static string Normalize(string name) => name.Trim().Replace('/', '.');
}
