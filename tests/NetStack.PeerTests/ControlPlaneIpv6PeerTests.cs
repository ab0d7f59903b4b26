using System.Text.RegularExpressions;

namespace NetStack.PeerTests;

/// <summary>
/// IPv6 in the control plane (issue 11), against a running `netstack up --addr6` on a TAP whose kernel
/// side has an IPv6 address: `ip -6 addr|route|neigh` through the control socket, printed as the
/// kernel's iproute2 prints its own (the same lines, compared), `ss` showing the services on [::],
/// `ping -6` from the stack answered by the kernel, `nc -6 -u` to a kernel socat, and dual-stack TCP
/// (`nc -6` to a v4-mapped address, the kernel's IPv4 client to the [::] echo service); and TCP over
/// native IPv6 through the tools both ways (ports 7614-7630).
/// </summary>
public sealed class ControlPlaneIpv6PeerTests(ITestOutputHelper output)
{
    private static readonly string CliDll = Path.Combine(AppContext.BaseDirectory, "NetStack.Cli.dll");

    [PeerFact]
    public void Ip6AddrRouteNeigh_Ss_Ping6_Nc6_ThroughTheControlSocket_AsTheKernelPrintsThem()
    {
        var (ns, tap, x) = TapPeer.NewNames();
        var dir = Directory.CreateTempSubdirectory("nsctl6-");
        string path = Path.Combine(dir.FullName, $"{ns}.sock");
        string kernel6 = $"fd00:{x}::1", stack6 = $"fd00:{x}::2", prefix = $"fd00:{x}::/64";
        try
        {
            Shell.Check("bash", Path.Combine(Shell.RepoRoot, "setup-tap.sh"), "--ns", ns, "--tap", tap, "--addr", $"10.7.{x}.1/24", "--addr6", $"{kernel6}/64");
            using var up = new BackgroundProcess("dotnet",
                [CliDll, "up", "--ns", ns, "--tap", tap, "--addr", $"10.7.{x}.2/24", "--addr6", $"{stack6}/64", "--services", "echo",
                 "--services-bind", "::", "--name", ns, "--control", path, "--duration", "180"], readyText: "control socket:");
            up.WaitReady(TimeSpan.FromSeconds(60));
            CommandResult Cli(string? stdin, params string[] args)
            {
                var r = Shell.Run("dotnet", [CliDll, .. args, "--name", ns, "--control", path], TimeSpan.FromSeconds(60), stdin: stdin);
                output.WriteLine($"$ netstack {string.Join(' ', args)}\n{r}");
                return r;
            }
            CommandResult Kernel(params string[] args) => Shell.Run("ip", ["netns", "exec", ns, .. args]);
            // The kernel-side server is there once the kernel's ss lists its socket.
            void Listening(string ssFlags, int port) =>
                Assert.True(TapPeer.WaitUntil(() => Kernel("ss", "-H", ssFlags, "sport", "=", $":{port}").StdOut.Trim().Length > 0, TimeSpan.FromSeconds(15)), $"nothing listens on {port}");

            // The kernel pings the stack: both learn each other by neighbour discovery.
            var ping = Kernel("ping", "-6", "-n", "-c", "3", "-i", "0.2", "-W", "2", stack6);
            output.WriteLine(ping.ToString());
            Assert.Equal(0, ping.ExitCode);

            // ip -6 addr: the global address's lines are the kernel's for its own, but for the address.
            string kernelLines = Kernel("ip", "-6", "addr", "show", "dev", tap, "scope", "global").StdOut;
            var kernelGlobal = Regex.Match(kernelLines, @"    inet6 \S+ scope global nodad \n       valid_lft forever preferred_lft forever\n");
            Assert.True(kernelGlobal.Success, kernelLines);
            var addr6 = Cli(null, "ip", "-6", "addr");
            Assert.Equal(0, addr6.ExitCode);
            // setup-tap.sh adds the kernel's address with nodad; the stack's went through DAD, so it carries no flag.
            Assert.Contains(kernelGlobal.Value.Replace($"{kernel6}/64", $"{stack6}/64").Replace(" nodad ", " "), addr6.StdOut);
            Assert.Matches(@"(?m)^    inet6 fe80::[0-9a-f:]+/64 scope link ", addr6.StdOut);
            Assert.Contains("    inet6 ::1/128 scope host ", addr6.StdOut);
            Assert.DoesNotContain("link/ether", addr6.StdOut);   // a family filter leaves the link lines out, as ip does
            Assert.DoesNotContain("    inet ", addr6.StdOut);
            var addrAll = Cli(null, "ip", "addr", "show", "dev", tap);
            Assert.Contains($"    inet 10.7.{x}.2/24", addrAll.StdOut);
            Assert.Contains($"    inet6 {stack6}/64 scope global", addrAll.StdOut);
            Assert.True(addrAll.StdOut.IndexOf("    inet ", StringComparison.Ordinal) < addrAll.StdOut.IndexOf("    inet6 ", StringComparison.Ordinal), "inet before inet6");

            // ip -6 addr add/del: the kernel reaches the new address, and no longer once it is deleted.
            Assert.Equal(0, Cli(null, "ip", "-6", "addr", "add", $"fd00:{x}::5/64", "dev", tap).ExitCode);
            Assert.Contains($"    inet6 fd00:{x}::5/64 scope global", Cli(null, "ip", "-6", "addr").StdOut);
            // Tentative until DAD has passed (dad_transmits 1, retrans_time 1 s): neither a source nor answered for.
            Assert.True(TapPeer.WaitUntil(() => Cli(null, "ip", "-6", "addr").StdOut.Contains($"    inet6 fd00:{x}::5/64 scope global \n"), TimeSpan.FromSeconds(15)), "fd00::5 stays tentative");
            Assert.Equal(0, Kernel("ping", "-6", "-n", "-c", "1", "-W", "2", $"fd00:{x}::5").ExitCode);
            var again = Cli(null, "ip", "-6", "addr", "add", $"fd00:{x}::5/64", "dev", tap);
            Assert.Equal(1, again.ExitCode);
            Assert.Equal("netstack ip: Error: ipv6: address already assigned.", again.StdErr.Trim());
            Assert.Equal(0, Cli(null, "ip", "-6", "addr", "del", $"fd00:{x}::5/64", "dev", tap).ExitCode);
            Assert.DoesNotContain($"fd00:{x}::5/", Cli(null, "ip", "-6", "addr").StdOut);
            Assert.NotEqual(0, Kernel("ping", "-6", "-n", "-c", "1", "-W", "1", $"fd00:{x}::5").ExitCode);

            // ip -6 route: the connected prefix's line is the kernel's (the device has the same name on both sides);
            // a route added through the same gateway on both sides prints the same line too.
            string kernelConnected = Kernel("ip", "-6", "route", "show", prefix).StdOut.Trim();
            Assert.Equal($"{prefix} dev {tap} proto kernel metric 256 pref medium", kernelConnected);
            Assert.Contains(kernelConnected + "\n", Cli(null, "ip", "-6", "route").StdOut);
            Assert.Equal(0, Cli(null, "ip", "-6", "route", "add", "fd00:99::/64", "via", kernel6).ExitCode);
            Assert.Equal(0, Kernel("ip", "-6", "route", "add", "fd00:99::/64", "via", stack6).ExitCode);
            string kernelVia = Kernel("ip", "-6", "route", "show", "fd00:99::/64").StdOut.Trim();
            Assert.Contains(kernelVia.Replace(stack6, kernel6) + "\n", Cli(null, "ip", "-6", "route").StdOut);
            // "default" without -6 takes the gateway's family, as iproute2 does; it is listed last.
            Assert.Equal(0, Cli(null, "ip", "route", "add", "default", "via", kernel6).ExitCode);
            Assert.EndsWith($"default via {kernel6} dev {tap} metric 1024 pref medium\n", Cli(null, "ip", "-6", "route").StdOut);
            Assert.DoesNotContain(kernel6, Cli(null, "ip", "route").StdOut); // `ip route` lists IPv4 only
            Assert.Equal(0, Cli(null, "ip", "-6", "route", "del", "fd00:99::/64").ExitCode);
            var gone = Cli(null, "ip", "-6", "route", "del", "fd00:99::/64");
            Assert.Equal(1, gone.ExitCode);
            Assert.Equal("netstack ip: RTNETLINK answers: No such process", gone.StdErr.Trim());

            // ip -6 neigh: the kernel's entry, learned from its solicitation, with its MAC and a NUD state.
            string kernelMac = Kernel("cat", $"/sys/class/net/{tap}/address").StdOut.Trim();
            var neigh = Cli(null, "ip", "-6", "neigh");
            Assert.Matches($@"(?m)^{Regex.Escape(kernel6)} dev {tap} lladdr {kernelMac} (REACHABLE|STALE|DELAY|PROBE)$", neigh.StdOut);
            Assert.Contains($"{kernel6} dev {tap}", Cli(null, "ip", "neigh").StdOut); // no family: both tables

            // ping -6 from the stack, through its ping6 socket.
            var ping6 = Cli(null, "ping", "-6", "-c", "3", "-i", "0.2", kernel6);
            Assert.Equal(0, ping6.ExitCode);
            Assert.StartsWith($"PING {kernel6}({kernel6}) 56 data bytes\n", ping6.StdOut);
            Assert.Matches($@"(?m)^64 bytes from {Regex.Escape(kernel6)}: icmp_seq=1 ttl=64 time=[0-9.]+ ms$", ping6.StdOut);
            Assert.Contains("3 packets transmitted, 3 received, 0% packet loss", ping6.StdOut);

            // ss: the echo service on [::] (dual stack) prints as *:7, is -6's and not -4's.
            var ss6 = Cli(null, "ss", "-6", "-l", "-n");
            Assert.Matches(@"(?m)^tcp\s+LISTEN\s+0\s+\d+\s+\*:7\s+\*:\*", ss6.StdOut);
            Assert.Matches(@"(?m)^udp\s+UNCONN\s+0\s+0\s+\*:7\s+\*:\*", ss6.StdOut);
            Assert.DoesNotContain(":7 ", Cli(null, "ss", "-4", "-l", "-n").StdOut);

            // The kernel's IPv4 client reaches the [::] echo service (accepted as ::ffff:10.7.x.1).
            var echo4 = Shell.Run("ip", ["netns", "exec", ns, "socat", "-t", "2", "-", $"TCP:10.7.{x}.2:7"], TimeSpan.FromSeconds(30), stdin: "dual stack\n");
            Assert.Equal("dual stack\n", echo4.StdOut);

            // nc -6 -u to the kernel's socat (echoing back), over native IPv6.
            using (var socat = BackgroundProcess.InNamespace(ns, null, "socat", "-T", "10", "UDP6-LISTEN:7611,reuseaddr", "PIPE"))
            {
                Listening("-lun", 7611);
                var nc = Cli("hello over ipv6\n", "nc", "-6", "-u", "-w", "1", kernel6, "7611");
                Assert.Equal("hello over ipv6\n", nc.StdOut);
            }

            // nc -6 (TCP) from an AF_INET6 socket to the kernel's IPv4 listener, through its v4-mapped address.
            using (var socat = BackgroundProcess.InNamespace(ns, null, "socat", "-T", "10", "TCP4-LISTEN:7612,reuseaddr", "PIPE"))
            {
                Listening("-ltn", 7612);
                var nc = Cli("mapped\n", "nc", "-6", "-w", "1", $"::ffff:10.7.{x}.1", "7612");
                Assert.Equal("mapped\n", nc.StdOut);
            }

            // get with an IPv6 URL in brackets: an AF_INET6 connection to the kernel's IPv4 server through its v4-mapped address.
            File.WriteAllText(Path.Combine(dir.FullName, "file"), "hello\n");
            using (var http = BackgroundProcess.InNamespace(ns, null, "python3", "-m", "http.server", "7613", "--bind", $"10.7.{x}.1", "--directory", dir.FullName))
            {
                Assert.True(TapPeer.WaitUntil(() => Kernel("curl", "-sf", $"http://10.7.{x}.1:7613/file").ExitCode == 0, TimeSpan.FromSeconds(15)), "the kernel's http server did not start");
                var get = Cli(null, "get", "-q", $"http://[::ffff:10.7.{x}.1]:7613/file");
                Assert.Equal(0, get.ExitCode);
                Assert.Equal("hello\n", get.StdOut);
            }
        }
        finally
        {
            Shell.Run("ip", "netns", "del", ns);
            dir.Delete(recursive: true);
        }
    }

    [PeerFact]
    public void Ip6RouteGetFlushReplaceAppend_TheSameLinesAndErrorsAsTheKernelsIproute2()
    {
        var (ns, tap, x) = TapPeer.NewNames();
        var dir = Directory.CreateTempSubdirectory("nsctl6r-");
        string path = Path.Combine(dir.FullName, $"{ns}.sock");
        string kernel6 = $"fd00:{x}::1", stack6 = $"fd00:{x}::2", other = $"fd00:{x}::7";
        try
        {
            Shell.Check("bash", Path.Combine(Shell.RepoRoot, "setup-tap.sh"), "--ns", ns, "--tap", tap, "--addr", $"10.7.{x}.1/24", "--addr6", $"{kernel6}/64");
            using var up = new BackgroundProcess("dotnet",
                [CliDll, "up", "--ns", ns, "--tap", tap, "--addr", $"10.7.{x}.2/24", "--addr6", $"{stack6}/64", "--services", "none",
                 "--name", ns, "--control", path, "--duration", "180"], readyText: "control socket:");
            up.WaitReady(TimeSpan.FromSeconds(60));
            CommandResult Cli(params string[] args)
            {
                var r = Shell.Run("dotnet", [CliDll, "ip", .. args, "--name", ns, "--control", path], TimeSpan.FromSeconds(60));
                output.WriteLine($"$ netstack ip {string.Join(' ', args)}\n{r}");
                return r;
            }
            CommandResult Kernel(params string[] args)
            {
                var r = Shell.Run("ip", ["netns", "exec", ns, "ip", .. args]);
                output.WriteLine($"# ip {string.Join(' ', args)}\n{r}");
                return r;
            }
            // The same state on both sides, each seen from itself: the peer's address and one's own swap places.
            string Swap(string kernelText) => kernelText.Replace(kernel6, "\0").Replace(stack6, kernel6).Replace("\0", stack6);
            // The stack's address is usable once DAD has passed.
            Assert.True(TapPeer.WaitUntil(() => Cli("-6", "addr").StdOut.Contains($"    inet6 {stack6}/64 scope global \n"), TimeSpan.FromSeconds(15)), "the stack's address stays tentative");

            // get: a connected peer, one's own address (local), a prefix through the peer.
            Assert.Equal(Swap(Kernel("-6", "route", "get", stack6).StdOut), Cli("-6", "route", "get", kernel6).StdOut);
            Assert.Equal(Swap(Kernel("-6", "route", "get", kernel6).StdOut), Cli("-6", "route", "get", stack6).StdOut);
            Assert.Equal(0, Kernel("-6", "route", "add", "fd00:99::/64", "via", stack6).ExitCode);
            Assert.Equal(0, Cli("-6", "route", "add", "fd00:99::/64", "via", kernel6).ExitCode);
            string viaLine = Swap(Kernel("-6", "route", "get", "fd00:99::5").StdOut);
            Assert.Equal($"fd00:99::5 from :: via {kernel6} dev {tap} src {stack6} metric 1024 pref medium\n", viaLine);
            Assert.Equal(viaLine, Cli("-6", "route", "get", "fd00:99::5").StdOut);
            // No route: the same RTNETLINK line (the namespace has no default route).
            var kernelNone = Kernel("-6", "route", "get", "2001:db8::1");
            var stackNone = Cli("-6", "route", "get", "2001:db8::1");
            Assert.Equal("RTNETLINK answers: Network is unreachable", kernelNone.StdErr.Trim());
            Assert.Equal("netstack ip: " + kernelNone.StdErr.Trim(), stackNone.StdErr.Trim());

            // append: a multipath route, printed with its nexthops as the kernel's.
            foreach (var (run, peer) in new (Func<string[], CommandResult>, string)[] { (Kernel, stack6), (Cli, kernel6) })
            {
                Assert.Equal(0, run(["-6", "route", "add", "fd00:98::/64", "via", peer]).ExitCode);
                Assert.Equal(0, run(["-6", "route", "append", "fd00:98::/64", "via", other]).ExitCode);
            }
            string kernelMultipath = Swap(Kernel("-6", "route", "show", "fd00:98::/64").StdOut);
            Assert.Equal($"fd00:98::/64 metric 1024 pref medium\n\tnexthop via {kernel6} dev {tap} weight 1 \n\tnexthop via {other} dev {tap} weight 1 \n", kernelMultipath);
            Assert.Contains(kernelMultipath, Cli("-6", "route").StdOut);
            var kernelDup = Kernel("-6", "route", "append", "fd00:98::/64", "via", other);
            Assert.Equal("RTNETLINK answers: File exists", kernelDup.StdErr.Trim());
            Assert.Equal("netstack ip: " + kernelDup.StdErr.Trim(), Cli("-6", "route", "append", "fd00:98::/64", "via", other).StdErr.Trim());

            // replace: the multipath route becomes one route, on both sides.
            Assert.Equal(0, Kernel("-6", "route", "replace", "fd00:98::/64", "via", stack6).ExitCode);
            Assert.Equal(0, Cli("-6", "route", "replace", "fd00:98::/64", "via", kernel6).ExitCode);
            string kernelReplaced = Swap(Kernel("-6", "route", "show", "fd00:98::/64").StdOut);
            Assert.Equal($"fd00:98::/64 via {kernel6} dev {tap} metric 1024 pref medium\n", kernelReplaced);
            Assert.Contains(kernelReplaced, Cli("-6", "route").StdOut);

            // flush: without arguments refused as iproute2 refuses; a prefix; then everything through the device.
            var kernelBare = Kernel("-6", "route", "flush");
            Assert.Equal("\"ip route flush\" requires arguments.", kernelBare.StdErr.Trim());
            Assert.Equal("netstack ip: " + kernelBare.StdErr.Trim(), Cli("-6", "route", "flush").StdErr.Trim());
            foreach (var run in new Func<string[], CommandResult>[] { Kernel, Cli })
            {
                Assert.Equal(0, run(["-6", "route", "flush", "fd00:98::/64"]).ExitCode);
                Assert.Equal(0, run(["-6", "route", "flush", "fd00:98::/64"]).ExitCode); // nothing left to flush: no error either
            }
            Assert.DoesNotContain("fd00:98::", Cli("-6", "route").StdOut);
            Assert.Equal(0, Kernel("-6", "route", "flush", "dev", tap).ExitCode);
            Assert.Equal(0, Cli("-6", "route", "flush", "dev", tap).ExitCode);
            Assert.Equal("", Kernel("-6", "route").StdOut);
            Assert.Equal("", Cli("-6", "route").StdOut);
            // The connected route went too: the peer is unreachable, yet one's own address is still local.
            Assert.Equal("netstack ip: " + Kernel("-6", "route", "get", stack6).StdErr.Trim(), Cli("-6", "route", "get", kernel6).StdErr.Trim());
            Assert.Equal(Swap(Kernel("-6", "route", "get", kernel6).StdOut), Cli("-6", "route", "get", stack6).StdOut);
        }
        finally
        {
            Shell.Run("ip", "netns", "del", ns);
            dir.Delete(recursive: true);
        }
    }

    [PeerFact]
    public void NativeIpv6Tcp_Nc6AndGetToKernelServers_KernelNc6AndCurlToServicesOnIpv6Any()
    {
        var (ns, tap, x) = TapPeer.NewNames();
        var dir = Directory.CreateTempSubdirectory("nsctl6t-");
        string path = Path.Combine(dir.FullName, $"{ns}.sock");
        string kernel6 = $"fd00:{x}::1", stack6 = $"fd00:{x}::2";
        try
        {
            Shell.Check("bash", Path.Combine(Shell.RepoRoot, "setup-tap.sh"), "--ns", ns, "--tap", tap, "--addr", $"10.7.{x}.1/24", "--addr6", $"{kernel6}/64");
            // The services on [::]: echo (TCP 7614) and http (Kestrel, TCP 7615), dual stack.
            using var up = new BackgroundProcess("dotnet",
                [CliDll, "up", "--ns", ns, "--tap", tap, "--addr", $"10.7.{x}.2/24", "--addr6", $"{stack6}/64", "--services", "echo:7614,http:7615",
                 "--services-bind", "::", "--name", ns, "--control", path, "--duration", "180"], readyText: "control socket:");
            up.WaitReady(TimeSpan.FromSeconds(60));
            string[] Attach(params string[] args) => [CliDll, .. args, "--name", ns, "--control", path];
            CommandResult Cli(string? stdin, params string[] args)
            {
                var r = Shell.Run("dotnet", Attach(args), TimeSpan.FromSeconds(60), stdin: stdin);
                output.WriteLine($"$ netstack {string.Join(' ', args)}\n{r}");
                return r;
            }
            CommandResult Kernel(string? stdin, params string[] args)
            {
                var r = Shell.Run("ip", ["netns", "exec", ns, .. args], TimeSpan.FromSeconds(30), stdin: stdin);
                output.WriteLine($"# {string.Join(' ', args)}\n{r}");
                return r;
            }
            void Listening(int port) =>
                Assert.True(TapPeer.WaitUntil(() => Kernel(null, "ss", "-H", "-ltn", "sport", "=", $":{port}").StdOut.Trim().Length > 0, TimeSpan.FromSeconds(15)), $"nothing listens on {port}");

            // Both services listen on [::] as AF_INET6 sockets: ss -6 lists them as *:port.
            var ss6 = Cli(null, "ss", "-6", "-ltn");
            Assert.Matches(@"(?m)^LISTEN\s+0\s+\d+\s+\*:7614\s", ss6.StdOut);
            Assert.Matches(@"(?m)^LISTEN\s+0\s+\d+\s+\*:7615\s", ss6.StdOut);

            // The kernel's nc -6 to the echo service, over native IPv6, to the stack's address.
            var echo6 = Kernel("over ipv6\n", "nc", "-6", "-N", "-w", "5", stack6, "7614");
            Assert.Equal("over ipv6\n", echo6.StdOut);

            // curl -6 and curl -4 both reach the http service (Kestrel) on [::]: a dual-stack listener.
            foreach (string url in (string[])[$"http://[{stack6}]:7615/bytes/100", $"http://10.7.{x}.2:7615/bytes/100"])
            {
                var curl = Kernel(null, "curl", url.Contains('[') ? "-6" : "-4", "-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", url);
                Assert.Equal(0, curl.ExitCode);
                Assert.Equal("200 100", curl.StdOut);
            }

            // nc -6 -l on the stack ([::]) takes the kernel's nc -6 over native IPv6.
            using (var listener = new BackgroundProcess("dotnet", Attach("nc", "-6", "-l", "7616")))
            {
                Assert.True(TapPeer.WaitUntil(() => Cli(null, "ss", "-6", "-ltn").StdOut.Contains("*:7616 "), TimeSpan.FromSeconds(30)), listener.Output);
                var sent = Kernel("from the kernel\n", "nc", "-6", "-N", "-w", "5", stack6, "7616");
                Assert.Equal(0, sent.ExitCode);
                Assert.True(TapPeer.WaitUntil(() => listener.Output.Contains("from the kernel\n"), TimeSpan.FromSeconds(15)), listener.Output);
            }

            // nc -6 from the stack to the kernel's IPv6-only TCP server (echoing back).
            using (var socat = BackgroundProcess.InNamespace(ns, null, "socat", "-T", "10", "TCP6-LISTEN:7617,reuseaddr,ipv6only=1", "PIPE"))
            {
                Listening(7617);
                var nc = Cli("native\n", "nc", "-6", "-w", "1", kernel6, "7617");
                Assert.Equal("native\n", nc.StdOut);
            }

            // get http://[kernel6]:port/ against the kernel's http server on [::].
            File.WriteAllText(Path.Combine(dir.FullName, "file"), "hello over ipv6\n");
            using (var http = BackgroundProcess.InNamespace(ns, null, "python3", "-m", "http.server", "7618", "--bind", "::", "--directory", dir.FullName))
            {
                Assert.True(TapPeer.WaitUntil(() => Kernel(null, "curl", "-6", "-sf", $"http://[{kernel6}]:7618/file").ExitCode == 0, TimeSpan.FromSeconds(15)), "the kernel's http server did not start");
                var get = Cli(null, "get", "-q", $"http://[{kernel6}]:7618/file");
                Assert.Equal(0, get.ExitCode);
                Assert.Equal("hello over ipv6\n", get.StdOut);
                // The server logs its client: the stack's global address (the source ipv6_dev_get_saddr picks).
                Assert.True(TapPeer.WaitUntil(() => http.Output.Contains($"{stack6} - - "), TimeSpan.FromSeconds(10)), http.Output);
            }
        }
        finally
        {
            Shell.Run("ip", "netns", "del", ns);
            dir.Delete(recursive: true);
        }
    }
}
