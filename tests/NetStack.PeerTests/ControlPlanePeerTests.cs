using System.Text.RegularExpressions;

namespace NetStack.PeerTests;

/// <summary>
/// One running `netstack up` that other processes attach to through its control socket: the
/// repl's calls go to that stack (no second stack on the TAP), a second `up` under the same name
/// is refused, and the socket goes away with the stack.
/// </summary>
public sealed class ControlPlanePeerTests(ITestOutputHelper output)
{
    private static readonly string CliDll = Path.Combine(AppContext.BaseDirectory, "NetStack.Cli.dll");

    [PeerFact]
    public void Repl_AttachesToTheRunningUp_AndASecondUpIsRefused()
    {
        var (ns, tap, x) = TapPeer.NewNames();
        var dir = Directory.CreateTempSubdirectory("nsctl-up-");
        string path = Path.Combine(dir.FullName, $"{ns}.sock");
        try
        {
            using (var up = new BackgroundProcess("dotnet",
                [CliDll, "up", "--ns", ns, "--tap", tap, "--create", "--addr", $"10.7.{x}.2/24", "--services", "echo",
                 "--name", ns, "--control", path, "--duration", "120"], readyText: "control socket:"))
            {
                up.WaitReady(TimeSpan.FromSeconds(60));
                Assert.True(File.Exists(path));

                // The repl relays each call to the running stack, on a descriptor table of its own.
                var repl = Shell.Run("dotnet", [CliDll, "repl", "--name", ns, "--control", path], TimeSpan.FromSeconds(60),
                    stdin: "{\"op\":\"socket\",\"domain\":\"AF_INET\",\"type\":\"SOCK_STREAM\",\"protocol\":0}\n" +
                           "{\"op\":\"bind\",\"fd\":3,\"addr\":\"0.0.0.0\",\"port\":7}\n" +
                           "{\"op\":\"sockets\"}\n");
                output.WriteLine(repl.ToString());
                Assert.Equal(0, repl.ExitCode);
                Assert.Contains($"attached to the running stack {ns}", repl.StdErr);
                var lines = repl.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
                Assert.Equal("{\"ret\":3}", lines[0]);
                // Port 7 is taken by the running stack's echo service: proof the call reached that stack.
                Assert.Contains("EADDRINUSE", lines[1]);
                Assert.Contains("\"local\":\"0.0.0.0:7\"", lines[2]);   // the echo service's listener
                Assert.Contains("\"owner\":\"client 1\"", lines[2]);     // and the repl's own socket, in the same stack

                var second = Shell.Run("dotnet", [CliDll, "up", "--ns", ns, "--tap", tap, "--addr", $"10.7.{x}.2/24",
                    "--name", ns, "--control", path, "--duration", "1"], TimeSpan.FromSeconds(60));
                output.WriteLine(second.ToString());
                Assert.Equal(1, second.ExitCode);
                Assert.Contains("already running", second.StdErr);
                Assert.Single(second.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            }
            // The process was killed: a stale socket may remain; a new up would replace it.
        }
        finally
        {
            Shell.Run("ip", "netns", "del", ns);
            dir.Delete(recursive: true);
        }
    }

    [PeerFact]
    public void Sysctl_ChangesTheRunningStack_TcpSackOffRemovesSackPermittedFromTheNextSyn_AndNstatShowsDeltas()
    {
        var (ns, tap, x) = TapPeer.NewNames();
        var dir = Directory.CreateTempSubdirectory("nsctl-sysctl-");
        string path = Path.Combine(dir.FullName, $"{ns}.sock"), pcap = Path.Combine(dir.FullName, "syn.pcap");
        string kernel = $"10.7.{x}.1";
        try
        {
            using var up = new BackgroundProcess("dotnet",
                [CliDll, "up", "--ns", ns, "--tap", tap, "--create", "--addr", $"10.7.{x}.2/24", "--services", "none",
                 "--pcap", pcap, "--name", ns, "--control", path, "--duration", "120"], readyText: "control socket:");
            up.WaitReady(TimeSpan.FromSeconds(60));
            CommandResult Cli(params string[] args) => Shell.Run("dotnet", [CliDll, .. args, "--name", ns, "--control", path], TimeSpan.FromSeconds(60));
            // One connect from the stack to a closed port of the kernel: a SYN, answered with a reset.
            void Connect()
            {
                var r = Shell.Run("dotnet", [CliDll, "repl", "--name", ns, "--control", path], TimeSpan.FromSeconds(60),
                    stdin: "{\"op\":\"socket\",\"domain\":\"AF_INET\",\"type\":\"SOCK_STREAM\",\"protocol\":0}\n" +
                           $"{{\"op\":\"connect\",\"fd\":3,\"addr\":\"{kernel}\",\"port\":5999}}\n");
                output.WriteLine(r.ToString());
                Assert.Contains("ECONNREFUSED", r.StdOut);
            }

            var get = Cli("sysctl", "net.ipv4.tcp_sack");
            Assert.Equal("net.ipv4.tcp_sack = 1\n", get.StdOut);
            var set = Cli("sysctl", "-w", "net.ipv4.tcp_sack=0");
            Assert.Equal(0, set.ExitCode);
            Assert.Equal("net.ipv4.tcp_sack = 0\n", set.StdOut);
            Assert.Equal("0\n", Cli("sysctl", "-n", "net.ipv4.tcp_sack").StdOut);
            var unknown = Cli("sysctl", "net.ipv4.no_such_thing");
            Assert.Equal(1, unknown.ExitCode);
            Assert.Single(unknown.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.Contains("net.core.somaxconn = ", Cli("sysctl", "-a").StdOut);

            Assert.Equal(0, Cli("nstat").ExitCode); // sets the history
            Connect();                                // SYN without SACK-permitted
            var nstat = Cli("nstat", "TcpActiveOpens", "TcpAttemptFails");
            output.WriteLine(nstat.ToString());
            Assert.Matches(@"(?m)^TcpActiveOpens\s+1\s", nstat.StdOut);
            Assert.Matches(@"(?m)^TcpAttemptFails\s+1\s", nstat.StdOut);

            Assert.Equal(0, Cli("sysctl", "-w", "net.ipv4.tcp_sack=1").ExitCode);
            Connect();                                // SYN with SACK-permitted again

            // tshark judges the SYNs in the capture, which the running stack flushes at least once a second.
            string[] syns = [];
            TapPeer.WaitUntil(() =>
            {
                var t = Shell.Run("tshark", "-r", pcap, "-Y", "tcp.flags.syn == 1 && tcp.flags.ack == 0", "-T", "fields", "-e", "tcp.options.sack_perm");
                syns = t.StdOut.Split('\n');
                return syns.Length >= 3;
            }, TimeSpan.FromSeconds(15));
            output.WriteLine(string.Join("|", syns));
            Assert.True(syns.Length >= 3, "the capture did not show both SYNs");
            Assert.Equal("", syns[0].Trim());       // tcp_sack=0: no SACK-permitted option
            Assert.NotEqual("", syns[1].Trim());    // tcp_sack=1: the option is back
        }
        finally
        {
            Shell.Run("ip", "netns", "del", ns);
            dir.Delete(recursive: true);
        }
    }

    [PeerFact]
    public void Tcpdump_LiveFromTheRunningStack_LinesAndAPcapStreamThatTsharkReads()
    {
        var (ns, tap, x) = TapPeer.NewNames();
        var dir = Directory.CreateTempSubdirectory("nsctl-tcpdump-");
        string path = Path.Combine(dir.FullName, $"{ns}.sock"), stack = $"10.7.{x}.2";
        try
        {
            using var up = new BackgroundProcess("dotnet",
                [CliDll, "up", "--ns", ns, "--tap", tap, "--create", "--addr", $"{stack}/24", "--services", "none",
                 "--name", ns, "--control", path, "--duration", "120"], readyText: "control socket:");
            up.WaitReady(TimeSpan.FromSeconds(60));
            string stackRe = System.Text.RegularExpressions.Regex.Escape(stack), kernelRe = System.Text.RegularExpressions.Regex.Escape($"10.7.{x}.1");

            // Lines, as tcpdump prints them: 2 pings make 2 requests and 2 replies (ARP is filtered out).
            using (var dump = new BackgroundProcess("dotnet", [CliDll, "tcpdump", "-n", "-c", "4", "icmp", "--name", ns, "--control", path], readyText: "listening on"))
            {
                dump.WaitReady(TimeSpan.FromSeconds(30));
                Shell.Run("ip", ["netns", "exec", ns, "ping", "-c", "2", "-i", "0.2", "-W", "2", stack], TimeSpan.FromSeconds(30));
                Assert.True(dump.WaitForExit(TimeSpan.FromSeconds(30)), "tcpdump -c 4 did not end: " + dump.Output);
                output.WriteLine(dump.Output);
                Assert.Equal(0, dump.ExitCode);
                Assert.Equal(2, System.Text.RegularExpressions.Regex.Matches(dump.Output, $@"IP {kernelRe} > {stackRe}: ICMP echo request, id \d+, seq \d, length 64").Count);
                Assert.Equal(2, System.Text.RegularExpressions.Regex.Matches(dump.Output, $@"IP {stackRe} > {kernelRe}: ICMP echo reply").Count);
                Assert.Contains("4 packets captured", dump.Output);
            }

            // A pcap stream on stdout, read live by tshark: `netstack tcpdump -w - | tshark -r -`.
            using (var pipe = new BackgroundProcess("bash", ["-c",
                $"dotnet {CliDll} tcpdump -w - -c 3 icmp --name {ns} --control {path} | tshark -r - -T fields -e frame.protocols"],
                readyText: "listening on"))
            {
                pipe.WaitReady(TimeSpan.FromSeconds(30));
                Shell.Run("ip", ["netns", "exec", ns, "ping", "-c", "2", "-i", "0.2", "-W", "2", stack], TimeSpan.FromSeconds(30));
                Assert.True(pipe.WaitForExit(TimeSpan.FromSeconds(30)), "the pipe did not end: " + pipe.Output);
                output.WriteLine(pipe.Output);
                Assert.Equal(3, System.Text.RegularExpressions.Regex.Matches(pipe.Output, "eth:ethertype:ip:icmp").Count);
            }

            var bad = Shell.Run("dotnet", [CliDll, "tcpdump", "tcp", "and", "frobnicate", "--name", ns, "--control", path]);
            Assert.Equal(2, bad.ExitCode);
            Assert.Contains("frobnicate", bad.StdErr);
        }
        finally
        {
            Shell.Run("ip", "netns", "del", ns);
            dir.Delete(recursive: true);
        }
    }

    [PeerFact]
    public void Ss_ShowsATransferInFlight_WithItsCwndAndRtt_AndTheListeners()
    {
        var (ns, tap, x) = TapPeer.NewNames();
        var dir = Directory.CreateTempSubdirectory("nsctl-ss-");
        string path = Path.Combine(dir.FullName, $"{ns}.sock"), stack = $"10.7.{x}.2";
        try
        {
            using var up = new BackgroundProcess("dotnet",
                [CliDll, "up", "--ns", ns, "--tap", tap, "--create", "--addr", $"{stack}/24", "--services", "http",
                 "--name", ns, "--control", path, "--duration", "120"], readyText: "control socket:");
            up.WaitReady(TimeSpan.FromSeconds(60));
            // A slow download keeps one connection in flight while ss looks at it.
            using var curl = BackgroundProcess.InNamespace(ns, null, "curl", "-s", "-o", "/dev/null", "--limit-rate", "1M", $"http://{stack}/bytes/100000000");
            string[] lines = [];
            TapPeer.WaitUntil(() =>
            {
                var r = Shell.Run("dotnet", [CliDll, "ss", "-tin", "--name", ns, "--control", path], TimeSpan.FromSeconds(30));
                lines = r.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
                return lines.Any(l => l.StartsWith("ESTAB", StringComparison.Ordinal) && l.Contains($"{stack}:80", StringComparison.Ordinal))
                    && lines.Any(l => l.Contains("bytes_acked:", StringComparison.Ordinal) && !l.Contains("bytes_acked:1 ", StringComparison.Ordinal));
            }, TimeSpan.FromSeconds(20));
            output.WriteLine(string.Join("\n", lines));
            Assert.StartsWith("State", lines[0]);
            int estab = Array.FindIndex(lines, l => l.StartsWith("ESTAB", StringComparison.Ordinal) && l.Contains($"{stack}:80", StringComparison.Ordinal));
            Assert.True(estab > 0, "no ESTAB line for the transfer");
            string info = lines[estab + 1];
            Assert.StartsWith("\t cubic", info);
            Assert.Matches(@" rtt:\d+(\.\d+)?/\d+(\.\d+)? ", info);
            Assert.Matches(@" cwnd:\d+ ", info);
            Assert.Matches(@" mss:1448 ", info);

            var listen = Shell.Run("dotnet", [CliDll, "ss", "-tln", "--name", ns, "--control", path], TimeSpan.FromSeconds(30));
            output.WriteLine(listen.StdOut);
            Assert.Matches(@"(?m)^LISTEN\s+0\s+\d+\s+0\.0\.0\.0:80\s+0\.0\.0\.0:\*$", listen.StdOut);   // ss 7.1 prints IPv4's any as it is
        }
        finally
        {
            Shell.Run("ip", "netns", "del", ns);
            dir.Delete(recursive: true);
        }
    }

    [PeerFact]
    public void NetstatS_AfterTransfers_IsWhatLinuxNetstatPrintsForTheSameCounters_AndSsShowsMemoryDetailsAndRawSockets()
    {
        var (ns, tap, x) = TapPeer.NewNames();
        var dir = Directory.CreateTempSubdirectory("nsctl-netstat-");
        string path = Path.Combine(dir.FullName, $"{ns}.sock"), stack = $"10.7.{x}.2", kernel = $"10.7.{x}.1";
        try
        {
            using var up = new BackgroundProcess("dotnet",
                [CliDll, "up", "--ns", ns, "--tap", tap, "--create", "--addr", $"{stack}/24", "--services", "http",
                 "--name", ns, "--control", path, "--duration", "180"], readyText: "control socket:");
            up.WaitReady(TimeSpan.FromSeconds(60));
            CommandResult Cli(params string[] args) => Shell.Run("dotnet", [CliDll, .. args, "--name", ns, "--control", path], TimeSpan.FromSeconds(60));

            // The kernel downloads from the stack (passive openings), the stack connects to a closed port of the kernel (an active one).
            var curl = Shell.Run("ip", ["netns", "exec", ns, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", $"http://{stack}/bytes/300000"], TimeSpan.FromSeconds(60));
            Assert.Equal("200", curl.StdOut);
            var refused = Shell.Run("dotnet", [CliDll, "repl", "--name", ns, "--control", path], TimeSpan.FromSeconds(60),
                stdin: "{\"op\":\"socket\",\"domain\":\"AF_INET\",\"type\":\"SOCK_STREAM\",\"protocol\":0}\n" +
                       $"{{\"op\":\"connect\",\"fd\":3,\"addr\":\"{kernel}\",\"port\":5999}}\n");
            Assert.Contains("ECONNREFUSED", refused.StdOut);

            // One snapshot for both: nstat -a before and after netstat -s must agree (nothing moved in between).
            string netstat = "", nstat = "";
            for (int i = 0; i < 20 && nstat.Length == 0; i++)
            {
                var before = Cli("nstat", "-a", "-z", "-s");
                var n = Cli("netstat", "-s");
                var after = Cli("nstat", "-a", "-z", "-s");
                Assert.Equal(0, n.ExitCode);
                if (before.StdOut == after.StdOut) (netstat, nstat) = (n.StdOut, before.StdOut);
            }
            output.WriteLine(netstat);
            Assert.NotEqual("", nstat);
            var counters = nstat.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1)
                .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Select(f => (Name: f[0], Value: long.Parse(f[1], System.Globalization.CultureInfo.InvariantCulture))).ToList();
            long C(string name) => counters.Single(c => c.Name == name).Value;
            Assert.True(C("TcpActiveOpens") >= 1 && C("TcpPassiveOpens") >= 1 && C("TcpInSegs") > 0 && C("TcpOutSegs") > 200);
            Assert.Contains($"\n    {C("TcpActiveOpens")} active connection openings\n    {C("TcpPassiveOpens")} passive connection openings\n", netstat);
            Assert.Contains($"\n    {C("TcpInSegs")} segments received\n    {C("TcpOutSegs")} segments sent out\n", netstat);

            // Linux's own netstat, reading the same counters as /proc/net/snmp and /proc/net/netstat in a /proc of its own.
            string[] prefixes = ["IcmpMsg", "IpExt", "TcpExt", "Icmp", "Tcp", "Udp", "Ip"];
            // nstat's lines of tables that are not in /proc/net/snmp or /proc/net/netstat (drops by reason,
            // the neighbour table's stats, the buffer pools, contained faults) are not netstat -s's.
            string[] notProc = ["Drops", "ArpCache", "SkbPool", "Kernel"];
            var lines = counters.Where(c => !notProc.Any(n => c.Name.StartsWith(n, StringComparison.Ordinal)))
                .Select(c => (Table: prefixes.First(p => c.Name.StartsWith(p, StringComparison.Ordinal)), c.Name, c.Value))
                .Select(c => (c.Table, Key: c.Name[c.Table.Length..], c.Value)).ToList();
            string Line(string table, IEnumerable<(string Key, long Value)> cs) =>
                $"{table}: {string.Join(' ', cs.Select(c => c.Key))}\n{table}: {string.Join(' ', cs.Select(c => c.Value))}\n";
            IEnumerable<(string, long)> Of(string table) => lines.Where(l => l.Table == table).Select(l => (l.Key, l.Value));
            var proc = Directory.CreateDirectory(Path.Combine(dir.FullName, "proc", "net"));
            string snmp = Line("Ip", Of("Ip")) + Line("Icmp", Of("Icmp"));
            foreach (var chunk in Of("IcmpMsg").Chunk(16)) snmp += Line("IcmpMsg", chunk);
            snmp += Line("Tcp", Of("Tcp")) + Line("Udp", Of("Udp")) + Line("UdpLite", Of("Udp").Select(c => (c.Item1, 0L)));
            File.WriteAllText(Path.Combine(proc.FullName, "snmp"), snmp);
            File.WriteAllText(Path.Combine(proc.FullName, "netstat"), Line("TcpExt", Of("TcpExt")) + Line("IpExt", Of("IpExt")));
            var linux = Shell.Run("unshare", ["-m", "sh", "-c", $"mount --bind {proc.Parent!.FullName} /proc && exec netstat -s"], TimeSpan.FromSeconds(30));
            Assert.Equal(0, linux.ExitCode);
            Assert.Equal(linux.StdOut, netstat);
            Assert.Equal(linux.StdOut.Length, netstat.Length);

            // ss -tmie on a download in flight: -e's fields after the peer, then skmem and TCP_INFO on the tab line.
            // A timer already due (a loaded machine runs it late) has no time left: ss prints it empty, "on,,0".
            using var slow = BackgroundProcess.InNamespace(ns, null, "curl", "-s", "-o", "/dev/null", "--limit-rate", "1M", $"http://{stack}/bytes/100000000");
            string[] ss = [];
            TapPeer.WaitUntil(() =>
            {
                ss = Cli("ss", "-tmie").StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
                return ss.Any(l => l.StartsWith("ESTAB", StringComparison.Ordinal) && l.Contains($"{stack}:80 ", StringComparison.Ordinal));
            }, TimeSpan.FromSeconds(20));
            output.WriteLine(string.Join("\n", ss));
            Assert.Matches(@"^State\s+Recv-Q\s+Send-Q\s+Local Address:Port\s+Peer Address:Port\s*$", ss[0]);
            int estab = Array.FindIndex(ss, l => l.StartsWith("ESTAB", StringComparison.Ordinal) && l.Contains($"{stack}:80 ", StringComparison.Ordinal));
            Assert.True(estab > 0, "no ESTAB line for the download");
            Assert.Matches($@"^ESTAB\s+\d+\s+\d+\s+{Regex.Escape(stack)}:80\s+{Regex.Escape(kernel)}:\d+( timer:\((on|persist|keepalive),([0-9.]+(ms|sec|min)\w*)?,\d+\))? ino:[1-9]\d* sk:[0-9a-f]+ <->$", ss[estab]);
            Assert.Matches(@"^\t skmem:\(r\d+,rb\d+,t\d+,tb\d+,f0,w\d+,o0,bl0,d\d+\) ts sack cubic wscale:\d+,\d+ rto:\d+(\.\d+)? rtt:[0-9.]+/[0-9.]+ .*mss:1448 ", ss[estab + 1]);
            slow.Dispose();

            // ss -w: a raw socket of a client, connected to the kernel (so ESTAB, what ss -w lists by default).
            using var raw = new BackgroundProcess("bash", ["-c",
                "(printf '%s\\n' '{\"op\":\"socket\",\"domain\":\"AF_INET\",\"type\":\"SOCK_RAW\",\"protocol\":1}' " +
                $"'{{\"op\":\"connect\",\"fd\":3,\"addr\":\"{kernel}\",\"port\":0}}'; sleep 60) | dotnet {CliDll} repl --name {ns} --control {path}"],
                readyText: "{\"ret\":0}");
            raw.WaitReady(TimeSpan.FromSeconds(60));
            var w = Cli("ss", "-w");
            output.WriteLine(w.StdOut);
            Assert.Equal(0, w.ExitCode);
            var wl = w.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(["Recv-Q Send-Q Local Address:Port Peer Address:Port"], wl.Take(1));
            Assert.Matches($@"^0      0      \s*{Regex.Escape(stack)}:1\s+{Regex.Escape(kernel)}:\*$", Assert.Single(wl.Skip(1)));
            var wae = Cli("ss", "-wae").StdOut;
            output.WriteLine(wae);
            Assert.Matches($@"(?m)^ESTAB\s+0\s+0\s+{Regex.Escape(stack)}:1\s+{Regex.Escape(kernel)}:\* ino:[1-9]\d* sk:[0-9a-f]+ <->$", wae);
            Assert.Matches($@"(?m)^raw\s+ESTAB\s+0\s+0\s+{Regex.Escape(stack)}:1\s+{Regex.Escape(kernel)}:\*$", Cli("ss", "-tuwa").StdOut);
        }
        finally
        {
            Shell.Run("ip", "netns", "del", ns);
            dir.Delete(recursive: true);
        }
    }

    [PeerFact]
    public void Ip_ShowsAndChangesTheRunningStack_ARouteAddedReachesASecondKernelAddress()
    {
        var (ns, tap, x) = TapPeer.NewNames();
        var dir = Directory.CreateTempSubdirectory("nsctl-ip-");
        string path = Path.Combine(dir.FullName, $"{ns}.sock"), stack = $"10.7.{x}.2", kernel = $"10.7.{x}.1", far = $"10.99.{x}.1";
        try
        {
            // No default route: the far address is reachable only through the route the test adds.
            using var up = new BackgroundProcess("dotnet",
                [CliDll, "up", "--ns", ns, "--tap", tap, "--create", "--addr", $"{stack}/24", "--gw", "none", "--services", "none",
                 "--name", ns, "--control", path, "--duration", "120"], readyText: "control socket:");
            up.WaitReady(TimeSpan.FromSeconds(60));
            Shell.Check("ip", "-n", ns, "addr", "add", $"{far}/32", "dev", "lo");
            using var listener = BackgroundProcess.InNamespace(ns, null, "socat", $"TCP-LISTEN:7,bind={far},reuseaddr,fork", "EXEC:cat");
            CommandResult Ip(params string[] args) => Shell.Run("dotnet", [CliDll, "ip", .. args, "--name", ns, "--control", path], TimeSpan.FromSeconds(30));
            string Connect()
            {
                var r = Shell.Run("dotnet", [CliDll, "repl", "--name", ns, "--control", path], TimeSpan.FromSeconds(60),
                    stdin: "{\"op\":\"socket\",\"domain\":\"AF_INET\",\"type\":\"SOCK_STREAM\",\"protocol\":0}\n" +
                           $"{{\"op\":\"connect\",\"fd\":3,\"addr\":\"{far}\",\"port\":7}}\n");
                output.WriteLine(r.ToString());
                return r.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries)[1];
            }

            var addr = Ip("addr");
            output.WriteLine(addr.StdOut);
            Assert.Contains($"inet {stack}/24 brd 10.7.{x}.255 scope global {tap}", addr.StdOut);
            Assert.Contains("inet 127.0.0.1/8 scope host lo", addr.StdOut);
            Assert.Contains($"10.7.{x}.0/24 dev {tap} proto kernel scope link src {stack}", Ip("route").StdOut);

            Assert.Contains("ENETUNREACH", Connect());
            Assert.Equal(0, Ip("route", "add", $"10.99.{x}.0/24", "via", kernel).ExitCode);
            Assert.Contains($"10.99.{x}.0/24 via {kernel} dev {tap}", Ip("route").StdOut);
            Assert.Equal("{\"ret\":0}", Connect());

            var again = Ip("route", "add", $"10.99.{x}.0/24", "via", kernel);
            Assert.Equal(1, again.ExitCode);
            Assert.Contains("RTNETLINK answers: File exists", again.StdErr);
            Assert.Contains("No such process", Ip("route", "del", $"10.98.{x}.0/24").StdErr);

            // The kernel answered the stack's ARP: its MAC is REACHABLE in the stack's table.
            string kernelMac = Shell.Run("ip", "-n", ns, "-br", "link", "show", tap).StdOut.Split(' ', StringSplitOptions.RemoveEmptyEntries)[2];
            var neigh = Ip("neigh");
            output.WriteLine(neigh.StdOut);
            Assert.Contains($"{kernel} dev {tap} lladdr {kernelMac} REACHABLE", neigh.StdOut);
            var link = Ip("-s", "link", "show", tap);
            Assert.Contains("RX:  bytes packets errors dropped", link.StdOut);
        }
        finally
        {
            Shell.Run("ip", "netns", "del", ns);
            dir.Delete(recursive: true);
        }
    }
}
