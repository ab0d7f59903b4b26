using System.Text.RegularExpressions;
using NetStack.Api;
using NetStack.Core;
using NetStack.Wire;

namespace NetStack.PeerTests;

/// <summary>
/// A real Linux peer for the stack: a network namespace of its own (nst-PID-N), made by
/// setup-tap.sh, holding a TAP (nstN, txqueuelen 10000) with the kernel's address 10.7.X.1/24,
/// and a stack attached to that TAP at 10.7.X.2/24 through <see cref="NetStackHost"/>, capturing
/// to a temporary pcap file. All traffic stays inside that namespace. Dispose stops the stack and
/// deletes the namespace (and with it the TAP), also when the constructor fails half way.
/// <para>
/// IPv6 is disabled on the namespace's interfaces before the stack attaches, so the kernel sends
/// no router solicitations or MLD reports: every frame the stack sees is one a test caused, and
/// counters can be checked exactly.
/// </para>
/// </summary>
public sealed partial class TapPeer : IDisposable
{
    private static int _counter;
    private static int _staleSwept;

    public string Ns { get; }
    public string Tap { get; }
    /// <summary>The kernel's address on the TAP (10.7.X.1), host order.</summary>
    public uint KernelAddr { get; }
    /// <summary>The stack's address (10.7.X.2), host order.</summary>
    public uint StackAddr { get; }
    public string KernelIp => Ipv4Address.Format(KernelAddr);
    public string StackIp => Ipv4Address.Format(StackAddr);
    public string PcapPath { get; }
    public NetStackHost Host { get; }
    public NetNamespace Net => Host.Net;
    public MacAddress StackMac => Host.Device.DevAddr;

    /// <param name="start">Start the stack's threads (false: the test drives it with Net.Poll()).</param>
    /// <param name="configure">Adjusts the stack's options before it comes up.</param>
    /// <param name="ipv6">Leave IPv6 on in the namespace (the kernel then sends its own router
    /// solicitations and MLD reports), with DAD off on the TAP so the kernel's addresses are usable
    /// at once.</param>
    public TapPeer(bool start = true, Action<StackOptions>? configure = null, bool ipv6 = false)
    {
        (Ns, Tap, int x) = NewNames();
        KernelAddr = Ipv4Address.Parse($"10.7.{x}.1");
        StackAddr = Ipv4Address.Parse($"10.7.{x}.2");
        PcapPath = Path.Combine(Path.GetTempPath(), $"{Ns}.pcap");
        try
        {
            Shell.Check("bash", Path.Combine(Shell.RepoRoot, "setup-tap.sh"), "--ns", Ns, "--tap", Tap, "--addr", $"{KernelIp}/24");
            if (ipv6)
            {
                Exec("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=0");
                Exec("sysctl", "-qw", $"net.ipv6.conf.{Tap}.accept_dad=0");
                Exec("sysctl", "-qw", $"net.ipv6.conf.{Tap}.disable_ipv6=0");
            }
            else
            {
                Exec("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1");
                Exec("sysctl", "-qw", $"net.ipv6.conf.{Tap}.disable_ipv6=1");
            }
            var options = new StackOptions
            {
                Namespace = Ns,
                Tap = Tap,
                Address = Ep.Of(StackAddr, 0).Address,
                PrefixLen = 24,
                Gateway = Ep.Of(KernelAddr, 0).Address,
                PcapPath = PcapPath,
                // NETSTACK_TEST_OFFLOAD=1 runs the real-peer suites over a TAP with offloads (issue 13: both modes).
                Offload = Environment.GetEnvironmentVariable("NETSTACK_TEST_OFFLOAD") == "1",
                // NETSTACK_TEST_TXRING=0 runs them without the TAP's io_uring transmit ring (up --tx-ring off).
                TransmitRing = Environment.GetEnvironmentVariable("NETSTACK_TEST_TXRING") != "0",
            };
            configure?.Invoke(options);
            Host = new NetStackHost(options);
            if (start) Host.Start();
            // The stack's IPv6 addresses are tentative until DAD ends (a random delay below 1 s, then retrans_time 1 s).
            if (ipv6 && start && !WaitIpv6Dad()) throw new TimeoutException("the stack's IPv6 addresses stayed tentative");
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>
    /// Fresh names for a peer: namespace nst-PID-N, TAP nstN, and X for the subnet 10.7.X.0/24
    /// (distinct per fixture and, most likely, per concurrent test process, though the namespaces
    /// already keep them apart). Also sweeps namespaces left by dead test processes, once.
    /// </summary>
    public static (string Ns, string Tap, int Subnet) NewNames()
    {
        SweepStaleNamespaces();
        int n = Interlocked.Increment(ref _counter);
        int pid = Environment.ProcessId;
        int x = 16 + (int)(((uint)pid * 31u + (uint)n) % 224u);
        return ($"nst-{pid}-{n}", $"nst{n}", x);
    }

    /// <summary>Runs a command inside the namespace (ip netns exec NS ...).</summary>
    public CommandResult Exec(params string[] args) => Shell.Run("ip", ["netns", "exec", Ns, .. args]);

    /// <summary>Runs a command inside the namespace with a time limit.</summary>
    public CommandResult Exec(TimeSpan timeout, params string[] args) => Shell.Run("ip", ["netns", "exec", Ns, .. args], timeout);

    /// <summary>Runs ping(8) from the kernel to the stack and parses its summary.</summary>
    public PingSummary Ping(params string[] options)
    {
        var r = Exec(TimeSpan.FromSeconds(120), ["ping", "-n", .. options, StackIp]);
        return PingSummary.Parse(r.StdOut);
    }

    /// <summary>A counter by name: "Ip.InHdrErrors", "Icmp.OutEchoReps", "Drops.IpCsum", ...</summary>
    public long Counter(string name)
    {
        int dot = name.IndexOf('.');
        string table = name[..dot], field = name[(dot + 1)..];
        var mib = Net.Mib;
        return table switch
        {
            "Ip" => mib.Ip.Get(field),
            "IpExt" => mib.IpExt.Get(field),
            "Icmp" => mib.Icmp.Get(field),
            "Tcp" => mib.Tcp.Get(field),
            "Udp" => mib.Udp.Get(field),
            "TcpExt" => mib.TcpExt.Get(field),
            "Drops" => mib.Drops.Get(field),
            "Dev" => field switch
            {
                "RxPackets" => Host.Device.Stats.RxPackets,
                "TxPackets" => Host.Device.Stats.TxPackets,
                "RxErrors" => Host.Device.Stats.RxErrors,
                "RxDropped" => Host.Device.Stats.RxDropped,
                "TxDropped" => Host.Device.Stats.TxDropped,
                _ => throw new ArgumentException($"no device counter {field}"),
            },
            _ => throw new ArgumentException($"no counter table {table}"),
        };
    }

    /// <summary>Waits (up to <paramref name="timeout"/>) until <paramref name="condition"/> holds; returns whether it did.</summary>
    public static bool WaitUntil(Func<bool> condition, TimeSpan? timeout = null)
    {
        var end = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(5));
        while (!condition())
        {
            if (DateTime.UtcNow > end) return false;
            Thread.Sleep(10);
        }
        return true;
    }

    /// <summary>
    /// Waits until duplicate address detection has ended for every IPv6 address of the stack's
    /// device: each one valid, or failed (a duplicate). False after <paramref name="timeout"/>.
    /// </summary>
    public bool WaitIpv6Dad(TimeSpan? timeout = null) => WaitUntil(() =>
    {
        lock (Net.SyncRoot)
            return NetStack.Ipv6.Addrconf.In6DevGet(Net, Host.Device) is { } idev && idev.AddrList.Length > 0
                && idev.AddrList.All(a => (a.Flags & (NetStack.Ipv6.IfaFlags.Tentative | NetStack.Ipv6.IfaFlags.Dadfailed)) != NetStack.Ipv6.IfaFlags.Tentative);
    }, timeout ?? TimeSpan.FromSeconds(10));

    /// <summary>Writes the capture's buffered frames out so tshark sees them all.</summary>
    public void FlushCapture() => Host?.Pcap?.Flush();

    public void Dispose()
    {
        try { Host?.Dispose(); }
        finally
        {
            // Deleting the namespace destroys the TAP inside it.
            Shell.Run("ip", "netns", "del", Ns);
            try { File.Delete(PcapPath); } catch (IOException) { }
        }
    }

    /// <summary>Deletes namespaces this fixture's naming scheme left behind in processes that no longer exist (a killed test run).</summary>
    private static void SweepStaleNamespaces()
    {
        if (Interlocked.Exchange(ref _staleSwept, 1) != 0) return;
        var list = Shell.Run("ip", "netns", "list");
        foreach (Match m in StaleNameRegex().Matches(list.StdOut))
        {
            int pid = int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            if (pid != Environment.ProcessId && !Directory.Exists($"/proc/{pid}"))
                Shell.Run("ip", "netns", "del", m.Value);
        }
    }

    [GeneratedRegex(@"^nst-(\d+)-\d+\b", RegexOptions.Multiline)]
    private static partial Regex StaleNameRegex();
}
