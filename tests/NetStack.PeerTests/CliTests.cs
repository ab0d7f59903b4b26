using System.Diagnostics;
using NetStack.Wire;

namespace NetStack.PeerTests;

/// <summary>`netstack up` as a user runs it: a real process, its output, its exit code.</summary>
public sealed class CliTests(ITestOutputHelper output)
{
    private static readonly string CliDll = Path.Combine(AppContext.BaseDirectory, "NetStack.Cli.dll");

    [PeerFact]
    public void Up_NamespaceMissing_RunsSetupTap_AnswersPing_PrintsCounters()
    {
        var (ns, tap, x) = TapPeer.NewNames();
        try
        {
            var psi = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in new[] { CliDll, "up", "--ns", ns, "--tap", tap, "--create", "--addr", $"10.7.{x}.2/24", "--duration", "4" }) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            var stderr = p.StandardError.ReadToEndAsync();
            var lines = new List<string>();
            string? line;
            while ((line = p.StandardOutput.ReadLine()) is not null)
            {
                lines.Add(line);
                if (line.Contains("reach it with")) break;
            }
            var ping = Shell.Run("ip", "netns", "exec", ns, "ping", "-c", "3", "-i", "0.05", "-W", "2", $"10.7.{x}.2");
            lines.AddRange(p.StandardOutput.ReadToEnd().Split('\n'));
            Assert.True(p.WaitForExit(TimeSpan.FromSeconds(30)));
            string all = string.Join('\n', lines);
            output.WriteLine(all + stderr.Result);

            Assert.Equal(0, p.ExitCode);
            Assert.Equal("", stderr.Result);
            Assert.Contains($"running {Path.Combine(Shell.RepoRoot, "setup-tap.sh")} --ns {ns} --tap {tap} --addr 10.7.{x}.1/24", all);
            Assert.Contains($"sudo ip netns exec {ns} ping 10.7.{x}.2", all);
            Assert.Equal(3, PingSummary.Parse(ping.StdOut).Received);
            // The counters at the end: device stats and /proc/net/snmp-style lines with 3 echoes answered.
            Assert.Contains($"{tap}: RX:", all);
            var icmp = lines.Where(l => l.StartsWith("Icmp:")).ToArray();
            Assert.Equal(2, icmp.Length);
            var names = icmp[0].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var values = icmp[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal("3", values[Array.IndexOf(names, "OutEchoReps")]);
        }
        finally
        {
            Shell.Run("ip", "netns", "del", ns);
        }
    }

    [PeerFact]
    public void Up_LinkAndForward_CreatesBothTaps_RoutesBetweenTheKernels()
    {
        var (nsL, tapL, xl) = TapPeer.NewNames();
        var (nsR, tapR, xr) = TapPeer.NewNames();
        try
        {
            var psi = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in new[] { CliDll, "up", "--ns", nsL, "--tap", tapL, "--create", "--addr", $"10.7.{xl}.2/24", "--gw", "none",
                "--link", $"{tapR}=10.7.{xr}.2/24,ns={nsR}", "--forward", "--services", "none", "--name", $"fw{xl}", "--duration", "5" })
                psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            var stderr = p.StandardError.ReadToEndAsync();
            var lines = new List<string>();
            string? line;
            while ((line = p.StandardOutput.ReadLine()) is not null)
            {
                lines.Add(line);
                if (line.Contains("running for")) break;
            }
            // `up` prints the route each kernel needs; run them as printed (without sudo: this is root).
            var routes = lines.Where(l => l.Contains("route through it: sudo ")).Select(l => l[(l.IndexOf("sudo ", StringComparison.Ordinal) + 5)..]).ToArray();
            Assert.Equal([$"ip -n {nsL} route add 10.7.{xr}.0/24 via 10.7.{xl}.2", $"ip -n {nsR} route add 10.7.{xl}.0/24 via 10.7.{xr}.2"], routes);
            foreach (var r in routes) Shell.Check(r.Split(' ')[0], r.Split(' ')[1..]);
            var ping = Shell.Run("ip", "netns", "exec", nsL, "ping", "-n", "-c", "3", "-i", "0.05", "-W", "2", $"10.7.{xr}.1");
            lines.AddRange(p.StandardOutput.ReadToEnd().Split('\n'));
            Assert.True(p.WaitForExit(TimeSpan.FromSeconds(30)));
            string all = string.Join('\n', lines);
            output.WriteLine(all + stderr.Result + ping.StdOut);

            Assert.Equal(0, p.ExitCode);
            Assert.Equal("", stderr.Result);
            Assert.Contains($"--ns {nsR} --tap {tapR} --addr 10.7.{xr}.1/24", all); // setup-tap.sh made the link's side too
            Assert.Contains($"; 10.7.{xr}.2/24 on {tapR} in netns {nsR}; forwarding", all);
            Assert.Equal(3, PingSummary.Parse(ping.StdOut).Received);
            Assert.Contains("ttl=63", ping.StdOut);
            Assert.Contains($"{tapL}: RX:", all);
            Assert.Contains($"{tapR}: RX:", all);
            var ip = lines.Where(l => l.StartsWith("Ip:")).ToArray();
            var names = ip[0].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var values = ip[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal("1", values[Array.IndexOf(names, "Forwarding")]);
            Assert.Equal("6", values[Array.IndexOf(names, "ForwDatagrams")]);
        }
        finally
        {
            Shell.Run("ip", "netns", "del", nsL);
            Shell.Run("ip", "netns", "del", nsR);
        }
    }

    [Theory]
    [InlineData("up --link tap1", "bad --link 'tap1'")]
    [InlineData("up --link tap1=10.7.9.2/24,vrf=x", "'vrf=x' is neither ns=NAME nor mac=")]
    [InlineData("up --link tap0=10.7.9.2/24", "two interfaces named tap0")]
    [InlineData("up --link tap1=10.7.0.2/24", "address 10.7.0.2 is given twice")]
    [InlineData("up --driver pcap --iface veth0 --link tap1=10.7.9.2/24", "--link adds TAPs")]
    public void Up_BadLink_UsageError(string args, string message)
    {
        var r = RunCli(args.Split(' '));
        AssertOneLineError(r, message);
        Assert.Equal(2, r.ExitCode);
    }

    [PeerFact]
    public void Up_TapBusy_OneLineOnStderr_NonZeroExit()
    {
        using var peer = new TapPeer();
        var r = RunCli("up", "--ns", peer.Ns, "--tap", peer.Tap, "--addr", $"{Ipv4Address.Format(peer.StackAddr + 1)}/24", "--duration", "1");
        AssertOneLineError(r, "busy");
        Assert.Equal(1, r.ExitCode);
    }

    [PeerFact]
    public void Up_NotRoot_OneLineOnStderr_NonZeroExit()
    {
        // setpriv drops to nobody; the CLI must say it needs root before touching anything.
        var r = Shell.Run("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "--reset-env", "dotnet", CliDll, "up", "--duration", "1"]);
        AssertOneLineError(r, "needs root");
        Assert.Equal(1, r.ExitCode);
    }

    [Theory]
    [InlineData("10.7.0.0/24", "network or broadcast")]
    [InlineData("10.7.0.255/24", "network or broadcast")]
    [InlineData("10.7.0/24", "bad address")]
    [InlineData("224.0.0.5/24", "not a unicast host address")]
    public void Up_BadAddress_OneLineOnStderr_NonZeroExit(string addr, string reason)
    {
        var r = RunCli("up", "--addr", addr, "--duration", "1");
        AssertOneLineError(r, reason);
        Assert.NotEqual(0, r.ExitCode);
    }

    [Fact]
    public void Up_UnknownOption_UsageError()
    {
        var r = RunCli("up", "--frobnicate");
        AssertOneLineError(r, "unknown option '--frobnicate'");
        Assert.Equal(2, r.ExitCode);
    }

    [Fact]
    public void Help_ListsCommandsAndOptions()
    {
        var r = RunCli("--help");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("  up ", r.StdOut);
        Assert.Contains("--pcap FILE", r.StdOut);
    }

    // --- System.CommandLine: the same conventions everywhere (issue 8) ---

    [Fact]
    public void Version_And_EveryCommandsHelp()
    {
        var v = RunCli("--version");
        Assert.Equal(0, v.ExitCode);
        Assert.StartsWith("netstack 0.", v.StdOut);
        foreach (var cmd in new[] { "up", "repl", "ping", "nc", "get" })
        {
            var h = RunCli(cmd, "--help");
            output.WriteLine(h.ToString());
            Assert.Equal(0, h.ExitCode);
            Assert.Contains($"netstack {cmd}", h.StdOut);
            Assert.Contains("--addr <CIDR>", h.StdOut);
        }
        var none = RunCli();
        AssertOneLineError(none, "a command is needed");
        Assert.Equal(2, none.ExitCode);
    }

    [Theory]
    [InlineData("up --addr --duration 1", "netstack up: --addr needs a value")]
    [InlineData("ping --lo -c -q 127.0.0.1", "netstack ping: -c needs a value")]
    [InlineData("nc -s -u 10.7.0.1 7", "netstack nc: -s needs a value")]
    [InlineData("up --tap", "netstack up: --tap needs a value")]
    public void OptionWithoutValue_DoesNotSwallowTheNextFlag(string args, string message)
    {
        var r = RunCli(args.Split(' '));
        AssertOneLineError(r, message);
        Assert.Equal(2, r.ExitCode);
    }

    [Fact]
    public void Up_AddrNotAnAddress_ReportedAsTyped()
    {
        var r = RunCli("up", "--addr", "foo", "--duration", "1");
        AssertOneLineError(r, "'foo'");
        Assert.DoesNotContain("foo/24", r.StdErr);
        Assert.Equal(2, r.ExitCode);
    }

    [Theory]
    [InlineData("up --gw x", "bad gateway 'x'")]
    [InlineData("up --mac x", "bad MAC address 'x'")]
    [InlineData("up --tap", "--tap needs a value")]
    [InlineData("up --frobnicate", "unknown option '--frobnicate'")]
    [InlineData("up --busy-poll -5", "bad --busy-poll '-5'")]
    [InlineData("up --offload yes", "bad --offload 'yes': expected on or off")]
    [InlineData("up --offload", "--offload needs a value")]
    [InlineData("up --root-ns --ns foo", "--root-ns and --ns contradict each other")]
    [InlineData("up --addr 10.7.0.1/24", "is the kernel's address")]
    [InlineData("up --addr 10.9.0.5/24 --gw 10.9.0.5", "gateway 10.9.0.5 is the stack's own address")]
    [InlineData("get --duration 1 http://10.7.0.1/", "unknown option '--duration'")]
    [InlineData("repl --lo --duration 1", "unknown option '--duration'")]
    [InlineData("nc --lo --ns x 127.0.0.1 7", "--lo has no TAP: --ns does not apply")]
    public void UsageMistakes_OneLine_Exit2(string args, string message)
    {
        var r = RunCli(args.Split(' '));
        AssertOneLineError(r, message);
        Assert.Equal(2, r.ExitCode);
    }

    [Theory]
    [InlineData("up --pcap /no/dir/x.pcap --duration 1", "--pcap /no/dir/x.pcap: directory /no/dir does not exist")]
    [InlineData("get -o /no/dir/f http://10.7.0.1/", "-o /no/dir/f: directory /no/dir does not exist")]
    [InlineData("get -o /tmp http://10.7.0.1/", "-o /tmp: is a directory")]
    public void FilePaths_CheckedUpFront_NoExceptionNames(string args, string message)
    {
        var r = RunCli(args.Split(' '));
        AssertOneLineError(r, message);
        Assert.DoesNotContain("Exception", r.StdErr);
        Assert.Equal(2, r.ExitCode);
        Assert.False(File.Exists("/tmp.part"));
    }

    [Theory]
    [InlineData("http://[::1/", "ends with ']'", "bad port")]
    [InlineData("http://::1:8080/x", "go in brackets", "bad port")]
    [InlineData("http://300.1.1.1/", "bad host '300.1.1.1'", "resolver")]
    [InlineData("http://example.com/", "not a dotted-quad IPv4 address", "bad")]
    public void Get_BadHost_SaysWhy(string url, string message, string notThis)
    {
        var r = RunCli("get", url);
        AssertOneLineError(r, message);
        Assert.DoesNotContain(notThis, r.StdErr);
        Assert.Equal(2, r.ExitCode);
    }

    [Theory]
    [InlineData("10.7.0.1 70000", "bad port '70000': expected 1 to 65535")]
    [InlineData("10.7.0.1 http", "bad port 'http'")]
    [InlineData("example.com 7", "host 'example.com' is a name, not a dotted-quad IPv4 address")]
    [InlineData("10.7.0.300 7", "bad host '10.7.0.300'")]
    [InlineData("10.7.0.1:7", "not HOST:PORT")]
    [InlineData("-l 0", "bad port '0'")]
    [InlineData("-lu", "nc -l needs the PORT")]
    public void Nc_BadOperands_PreciseMessages(string args, string message)
    {
        var r = RunCli(["nc", "--lo", .. args.Split(' ')]);
        AssertOneLineError(r, message);
        Assert.Equal(2, r.ExitCode);
    }

    [Fact]
    public void Nc_CombinedShortFlags_ListenUdp()
    {
        // -lu is -l -u: a UDP listener on the loopback-only stack, stopped by --duration.
        var r = Shell.Run("dotnet", [CliDll, "nc", "--lo", "-lu", "--duration", "1", "7000"], TimeSpan.FromSeconds(60), stdin: "");
        output.WriteLine(r.ToString());
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("", r.StdErr);
    }

    [Theory]
    [InlineData("nc --lo -l 5000", null)]
    [InlineData("nc --lo -u -l 5000", null)]
    [InlineData("ping --lo 127.0.0.1", "icmp_seq=1")]
    [InlineData("repl --lo", null)]
    public async Task CtrlC_Exits130(string args, string? ready)
    {
        // env --default-signal=INT: a test run started in the background (`cmd &` in a script) inherits
        // SIGINT as ignored, and the runtime then keeps it ignored, as shells expect of background jobs.
        var psi = new ProcessStartInfo("env") { UseShellExecute = false, RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "--default-signal=INT", "dotnet", CliDll }.Concat(args.Split(' '))) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = new System.Text.StringBuilder();
        using var seen = new ManualResetEventSlim(ready is null);
        p.OutputDataReceived += (_, e) => { lock (stdout) stdout.AppendLine(e.Data); if (e.Data?.Contains(ready ?? "\0") == true) seen.Set(); };
        p.BeginOutputReadLine();
        var stderr = p.StandardError.ReadToEndAsync();
        try
        {
            Assert.True(seen.Wait(TimeSpan.FromSeconds(30)));
            Thread.Sleep(2000); // the stack is up and the command waits
            Assert.False(p.HasExited, stderr.IsCompleted ? await stderr : "");
            Shell.Check("kill", "-INT", p.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Assert.True(p.WaitForExit(TimeSpan.FromSeconds(15)), "did not stop after SIGINT");
            p.WaitForExit();
            output.WriteLine($"exit {p.ExitCode}\n{stdout}{await stderr}");
            Assert.Equal(130, p.ExitCode);
            if (args.StartsWith("ping", StringComparison.Ordinal)) Assert.Contains("ping statistics", stdout.ToString());
        }
        finally
        {
            if (!p.HasExited) p.Kill(entireProcessTree: true);
        }
    }

    [PeerFact]
    public void Up_MistypedNsOrTap_CreatesNothing_KernelAddressRefused()
    {
        var (ns, tap, x) = TapPeer.NewNames();
        try
        {
            // A namespace that does not exist: named, not created.
            var r = RunCli("up", "--ns", ns, "--tap", tap, "--addr", $"10.7.{x}.2/24", "--duration", "1");
            AssertOneLineError(r, $"network namespace {ns} does not exist");
            Assert.Contains("--create", r.StdErr);
            Assert.Equal(1, r.ExitCode);
            Assert.False(File.Exists($"/var/run/netns/{ns}"));

            // A TAP that does not exist in an existing namespace: named, not created.
            Shell.Check("bash", Path.Combine(Shell.RepoRoot, "setup-tap.sh"), "--ns", ns, "--tap", tap, "--addr", $"10.7.{x}.1/24");
            r = RunCli("up", "--ns", ns, "--tap", "nosuch0", "--addr", $"10.7.{x}.2/24", "--duration", "1");
            AssertOneLineError(r, $"no TAP nosuch0 in network namespace {ns}");
            Assert.Equal(1, r.ExitCode);
            Assert.NotEqual(0, Shell.Run("ip", "-n", ns, "link", "show", "nosuch0").ExitCode);

            // The kernel's own address on the TAP (with --gw none the gateway check cannot see it).
            r = RunCli("up", "--ns", ns, "--tap", tap, "--addr", $"10.7.{x}.1/24", "--gw", "none", "--duration", "1");
            AssertOneLineError(r, $"--addr 10.7.{x}.1 is the kernel's own address on {tap}");
            Assert.Equal(2, r.ExitCode);
        }
        finally
        {
            Shell.Run("ip", "netns", "del", ns);
        }
    }

    [PeerFact]
    public void Up_NamespaceDeletedUnderIt_Exits1WithOneLine()
    {
        var (ns, tap, x) = TapPeer.NewNames();
        try
        {
            Shell.Check("bash", Path.Combine(Shell.RepoRoot, "setup-tap.sh"), "--ns", ns, "--tap", tap, "--addr", $"10.7.{x}.1/24");
            var psi = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in new[] { CliDll, "up", "--ns", ns, "--tap", tap, "--addr", $"10.7.{x}.2/24", "--services", "none", "--duration", "60" }) psi.ArgumentList.Add(a);
            using var p = Process.Start(psi)!;
            var stderr = p.StandardError.ReadToEndAsync();
            string? line;
            while ((line = p.StandardOutput.ReadLine()) is not null && !line.Contains("running")) { }
            Shell.Check("ip", "netns", "del", ns);
            var rest = p.StandardOutput.ReadToEndAsync();
            Assert.True(p.WaitForExit(TimeSpan.FromSeconds(20)), "up did not notice its namespace going away");
            p.WaitForExit();
            output.WriteLine(rest.Result + stderr.Result);
            Assert.Equal(1, p.ExitCode);
            var lines = stderr.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Single(lines);
            Assert.Contains($"network namespace {ns} was deleted", lines[0]);
        }
        finally
        {
            Shell.Run("ip", "netns", "del", ns);
        }
    }

    [PeerFact]
    public void Get_StdoutClosedEarly_FailsWithoutClaimingTheSize()
    {
        var (ns, tap, x) = TapPeer.NewNames();
        string dir = Path.Combine(Path.GetTempPath(), $"{ns}-www");
        Directory.CreateDirectory(dir);
        try
        {
            Shell.Check("bash", Path.Combine(Shell.RepoRoot, "setup-tap.sh"), "--ns", ns, "--tap", tap, "--addr", $"10.7.{x}.1/24");
            TcpPeerKit.WriteRandomFile(Path.Combine(dir, "f.bin"), 5_000_000, seed: 5);
            using var server = BackgroundProcess.InNamespace(ns, "Serving HTTP",
                "/usr/bin/python3", "-u", "-m", "http.server", "8080", "--bind", $"10.7.{x}.1", "--directory", dir).WaitReady();
            // `get URL | head -c 10`: head exits after 10 bytes and the pipe breaks (EPIPE).
            var r = Shell.Run("bash", ["-c", "dotnet \"$0\" get --ns \"$1\" --tap \"$2\" --addr \"$3\" \"$4\" | head -c 10 >/dev/null; exit ${PIPESTATUS[0]}",
                CliDll, ns, tap, $"10.7.{x}.2/24", $"http://10.7.{x}.1:8080/f.bin"], TimeSpan.FromSeconds(60));
            output.WriteLine(r.ToString());
            Assert.Equal(1, r.ExitCode);
            AssertOneLineError(r, "stdout was closed by the reader (broken pipe)");
            Assert.DoesNotContain("5000000 bytes", r.StdErr);
        }
        finally
        {
            Shell.Run("ip", "netns", "del", ns);
            TcpPeerKit.TryDelete(dir);
        }
    }

    private static CommandResult RunCli(params string[] args) => Shell.Run("dotnet", [CliDll, .. args], TimeSpan.FromSeconds(60));

    private void AssertOneLineError(CommandResult r, string expected)
    {
        output.WriteLine(r.ToString());
        // The socket tools first say which stack they use (one line of its own); the error is the one line after it.
        var lines = r.StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Where(l => !System.Text.RegularExpressions.Regex.IsMatch(l, @"^netstack \w+: (attached to the running stack|no stack is running as .*: bringing up its own$)")).ToArray();
        Assert.Single(lines);
        Assert.Contains(expected, lines[0]);
        Assert.StartsWith("netstack", lines[0]);
    }
}
