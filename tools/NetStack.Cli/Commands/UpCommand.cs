using System.CommandLine;
using System.Diagnostics;
using NetStack.Api;
using NetStack.Control;
using NetStack.Core;
using NetStack.Drivers;
using NetStack.Net;
using NetStack.Uapi;
using NetStack.Services;
using NetStack.Wire;

namespace NetStack.Cli.Commands;

/// <summary>
/// `netstack up`: makes sure the namespace and TAP exist (running setup-tap.sh when they do not),
/// brings the stack up on the TAP, says how to reach it, runs until Ctrl-C, SIGTERM or --duration,
/// then prints the device's counters and the MIB.
/// </summary>
internal static class UpCommand
{
    public static Command Create()
    {
        var set = new StackOptionSet(duration: true, loopback: false);
        var services = Opt.Value<IReadOnlyList<ServiceHost.Entry>>("--services", "LIST",
            "services to run: all (default), none, or a list of echo,discard,chargen,http,iperf3 (echo: TCP+UDP 7, discard: TCP+UDP 9, chargen: TCP 19, http: TCP 80, iperf3: TCP 5201 and UDP 5201 in UDP tests; name:port moves one)",
            s =>
            {
                try { return ServiceHost.ParseList(s); }
                catch (FormatException e) { throw new UsageException($"--services: {e.Message}"); }
            });
        var servicesBind = Opt.Value("--services-bind", "ADDR",
            "the address the services listen on: 0.0.0.0 (default, IPv4), :: (IPv6 and, dual stack, IPv4 too, as a Linux daemon on [::]), or one of the stack's",
            s => System.Net.IPAddress.TryParse(s, out var a) && !s.Contains('%') ? a : throw new UsageException($"--services-bind: bad address '{s}' (0.0.0.0, :: or one of the stack's)"));
        var control = new ControlOptions();
        var driver = Opt.Value("--driver", "tap|pcap", "the driver: tap (default; --tap in --ns) or pcap (an existing interface --iface in --ns, through libpcap)",
            s => s is "tap" or "pcap" ? s : throw new UsageException($"--driver: unknown driver '{s}' (tap or pcap)"));
        var link = LinkOption.Create();
        var forward = Opt.Flag("--forward", "route between the stack's links: net.ipv4.ip_forward = 1 (see --link)");
        var iface = Opt.Value("--iface", "IFACE", "with --driver pcap: the interface the stack takes (a veth end, a bridge port)", s => s.Length is > 0 and < 16 ? s : throw new UsageException($"--iface: bad interface name '{s}'"));
        var cmd = new Command("up",
            "bring a stack up at --addr on the TAP --tap in the network namespace --ns and run until Ctrl-C or --duration, " +
            "then print its counters. The namespace and the TAP are created (setup-tap.sh) when missing and neither --ns nor --tap was given, or with --create.");
        set.AddTo(cmd);
        cmd.Add(services);
        cmd.Add(servicesBind);
        control.AddTo(cmd);
        cmd.Add(driver);
        cmd.Add(iface);
        cmd.Add(link);
        cmd.Add(forward);
        cmd.SetAction(r =>
        {
            bool pcap = r.GetValue(driver) == "pcap";
            string? i = r.GetValue(iface);
            if (pcap && i is null) throw new UsageException("--driver pcap needs --iface IFACE");
            if (!pcap && i is not null) throw new UsageException("--iface goes with --driver pcap");
            var o = set.Read(r);
            var links = r.GetValue(link) ?? [];
            if (pcap && links.Length > 0) throw new UsageException("--link adds TAPs: it does not go with --driver pcap");
            foreach (var l in links) o.Stack.MoreInterfaces.Add(l.ToInterface(o.Stack.Namespace));
            o.Stack.Forwarding = r.GetValue(forward);
            try { o.Stack.Validate(); }
            catch (NetStackException e) { throw new UsageException(e.Message); }
            return Run(o, r.GetValue(services) ?? ServiceHost.ParseList("all"), control.Read(r), i, r.GetValue(servicesBind) ?? System.Net.IPAddress.Any);
        });
        return cmd;
    }

    /// <summary>
    /// The IPv6 addresses are tentative until duplicate address detection ends (1-2 s with Linux's
    /// defaults): wait for it, so "up" means usable, and say which address another node holds.
    /// </summary>
    private static void WaitForDad(NetStackHost host)
    {
        var end = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        (bool Pending, UInt128[] Failed) st;
        while ((st = NetStack.Ipv6.Addrconf.DadState(host.Net, host.Device)).Pending && DateTime.UtcNow < end) Thread.Sleep(20);
        foreach (var a in st.Failed)
            Console.WriteLine($"netstack: {host.Device.Name}: IPv6 duplicate address {Ipv6Address.Format(a)} detected: another node on the link has it, the stack does not use it");
        if (st.Pending) Console.WriteLine("netstack: IPv6 duplicate address detection still running");
    }

    private static int Run(StackOptionSet.Parsed o, IReadOnlyList<ServiceHost.Entry> serviceEntries, (string Name, string Path) control, string? pcapIface, System.Net.IPAddress servicesBind)
    {
        var s = o.Stack;
        Prerequisites.Check();
        // Before touching the TAP: a stack already serving this name is the usual reason for "busy".
        using (var running = ControlOptions.TryAttach(control.Path))
            if (running is not null)
                throw new CliFailure($"a stack is already running as {control.Name} (pid {running.Pid}, {control.Path}): attach to it (netstack repl --name {control.Name}) or pick another --name");
        NetStackHost host;
        if (pcapIface is null)
        {
            EnsureTap(o);
            foreach (var l in s.MoreInterfaces) EnsureLink(o, l);
            host = NetStackHost.Up(s);
        }
        else
        {
            // --driver pcap: an existing interface, taken through libpcap; nothing is created.
            NetDevice dev;
            try { dev = NetStack.Pcap.PcapDevice.Attach(pcapIface, s.Mac, s.Namespace); }
            catch (ErrnoException e) { throw new CliFailure(e.Message); }
            host = new NetStackHost(s, dev);
            host.Start();
        }
        using var hostScope = host;
        using var controlServer = new ControlServer(host.Net, control.Name, control.Path);
        // `netstack iperf3 -c` attached to this stack runs its test in this process (ops "iperf3", "iperf3_read", "iperf3_stop").
        var iperf3Jobs = new NetStack.Services.Iperf3.Iperf3Jobs(host.Net);
        Iperf3Ops.Register(controlServer, iperf3Jobs);
        try { controlServer.Start(); }
        catch (Exception e) when (e is IOException or InvalidOperationException or System.Net.Sockets.SocketException or UnauthorizedAccessException)
        {
            throw new CliFailure($"control socket {control.Path}: {e.Message}");
        }
        Console.WriteLine($"netstack: up: {host}");
        if (s.Ipv6Address is not null) WaitForDad(host);
        if (host.Pcap is { } pcap) Console.WriteLine($"netstack: capturing to {pcap.Path}");
        if (host.Faults is { } faults) Console.WriteLine($"netstack: fault injection: {faults.Spec}");
        using var services = ServiceHost.Start(host.Net, serviceEntries, new ServiceOptions { BindAddress = servicesBind, Log = line => Console.Error.WriteLine($"netstack: {line}") });
        Console.WriteLine($"netstack: services: {services.Describe()}");
        Console.WriteLine($"netstack: control socket: {controlServer.Path} (netstack repl --name {control.Name} attaches to this stack)");
        string exec = s.Namespace is null ? "" : $"ip netns exec {s.Namespace} ";
        if (services.Find("http") is { } http)
            Console.WriteLine($"netstack: status page: sudo {exec}curl http://{s.Address}{(http.Port == 80 ? "" : $":{http.Port}")}/{Missing("curl", "curl")}");
        if (services.Find("iperf3") is { } iperf3)
            Console.WriteLine($"netstack: measure it with: sudo {exec}iperf3 -c {s.Address}{(iperf3.Port == 5201 ? "" : $" -p {iperf3.Port}")}{Missing("iperf3", "iperf3")}");
        Console.WriteLine($"netstack: reach it with: sudo {exec}ping {s.Address}{Missing("ping", "iputils-ping")}");
        if (s.Forwarding && s.MoreInterfaces.Count > 0)
        {
            // Each kernel namespace needs a route to the other links' subnets via the stack's address on its own link.
            var links = new List<(string? Ns, uint Net, int Len, System.Net.IPAddress Via)> { (s.Namespace, SocketConvert.ToUInt32(s.Address) & Ipv4Address.PrefixMask(s.PrefixLen), s.PrefixLen, s.Address) };
            foreach (var l in s.MoreInterfaces) links.Add((l.Namespace, SocketConvert.ToUInt32(l.Address) & Ipv4Address.PrefixMask(l.PrefixLen), l.PrefixLen, l.Address));
            foreach (var me in links)
                foreach (var other in links)
                    if (other != me)
                        Console.WriteLine($"netstack: route through it: sudo ip {(me.Ns is null ? "" : $"-n {me.Ns} ")}route add {Ipv4Address.Format(other.Net)}/{other.Len} via {me.Via}");
        }
        Console.WriteLine(o.Duration is { } d ? $"netstack: running for {d.TotalSeconds:0.###} s (Ctrl-C stops earlier)" : "netstack: running; Ctrl-C stops");

        var sw = Stopwatch.StartNew();
        string? gone = WaitForStop(o.Duration, pcapIface is null ? () => TapGone(s) : null);
        controlServer.Dispose(); // clients' descriptors close with their connections
        iperf3Jobs.Dispose();
        services.Dispose(); // close the services' sockets while the stack still runs
        host.Dispose(); // stop the threads first, so the counters below are final
        Console.WriteLine($"netstack: stopped after {sw.Elapsed.TotalSeconds:0.0} s");
        Console.Write(services.FormatStats());
        Console.WriteLine($"control socket: {controlServer.Counters}");
        if (host.Faults is { } f) Console.WriteLine($"netstack: {f}");
        foreach (var dev in host.Devices) Console.WriteLine($"{dev.Name}: {dev.Stats}");
        Console.Write(host.Net.Mib.Format());
        if (gone is not null) throw new CliFailure(gone);
        return 0;
    }

    /// <summary>"" when <paramref name="tool"/> is on PATH, else a note naming the Debian package that has it.</summary>
    private static string Missing(string tool, string package)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries).Concat(["/usr/bin", "/bin", "/usr/sbin", "/sbin"]))
            if (File.Exists(Path.Combine(dir, tool))) return "";
        return $"   ({tool} is not installed here: apt-get install {package})";
    }

    /// <summary>
    /// Blocks until Ctrl-C, SIGTERM or the duration passes, checking every second that the TAP is
    /// still there; returns why it stopped early when <paramref name="check"/> found a reason, else null.
    /// </summary>
    internal static string? WaitForStop(TimeSpan? duration, Func<string?>? check = null)
    {
        var token = Interrupt.Token;
        var sw = Stopwatch.StartNew();
        while (!token.IsCancellationRequested)
        {
            var wait = TimeSpan.FromSeconds(1);
            if (duration is { } d)
            {
                var left = d - sw.Elapsed;
                if (left <= TimeSpan.Zero) break;
                if (left < wait) wait = left;
            }
            if (token.WaitHandle.WaitOne(wait)) break;
            if (check?.Invoke() is { } reason) return reason;
        }
        return null;
    }

    /// <summary>Why the stack's TAP is no longer usable (its namespace deleted, the interface removed), or null while it is there.</summary>
    internal static string? TapGone(StackOptions s)
    {
        string where = s.Namespace is null ? "the host's namespace" : $"network namespace {s.Namespace}";
        if (s.Namespace is { } ns && !File.Exists(TapDevice.NetnsPath(ns)))
            return $"network namespace {ns} was deleted under the running stack (its TAP {s.Tap} with it): stopping";
        try
        {
            return TapDevice.InterfaceExists(s.Namespace, s.Tap) ? null : $"TAP {s.Tap} disappeared from {where}: stopping";
        }
        catch (Core.ErrnoException e)
        {
            return $"TAP {s.Tap} in {where} is no longer reachable ({e.Message}): stopping";
        }
    }

    /// <summary>
    /// Makes sure the namespace and the TAP exist. When they are missing, runs setup-tap.sh (with the
    /// names and the kernel's address) only if the user did not name them (the defaults) or asked with
    /// --create: a mistyped --ns or --tap must not make a second TAP on the same subnet. Also refuses
    /// a stack address the kernel already has on the TAP.
    /// </summary>
    internal static void EnsureTap(StackOptionSet.Parsed o)
    {
        var s = o.Stack;
        bool nsMissing = s.Namespace is { } n && !File.Exists(TapDevice.NetnsPath(n));
        if (!nsMissing && TapDevice.InterfaceExists(s.Namespace, s.Tap))
        {
            CheckKernelAddress(s);
            return;
        }
        string where = s.Namespace is null ? "the host's network namespace" : $"network namespace {s.Namespace}";
        string createArgs = (s.Namespace is null ? "--root-ns" : $"--ns {s.Namespace}") + $" --tap {s.Tap}";
        if (o.NamesGiven && !o.Create)
        {
            throw new CliFailure(nsMissing
                ? $"network namespace {s.Namespace} does not exist (mistyped? to create it with TAP {s.Tap}: add --create, or run sudo ./setup-tap.sh {createArgs})"
                : $"no TAP {s.Tap} in {where} (mistyped? to create it: add --create, or run sudo ./setup-tap.sh {createArgs})");
        }
        var kernel = s.Gateway ?? StackOptions.FirstHost(s.Address, s.PrefixLen);
        if (kernel is null) throw new UsageException("cannot pick an address for the kernel's side of the TAP: give --gw, or a prefix shorter than /31");
        var args = new List<string>();
        if (s.Namespace is null) args.Add("--root-ns");
        else { args.Add("--ns"); args.Add(s.Namespace); }
        args.AddRange(["--tap", s.Tap, "--addr", $"{kernel}/{s.PrefixLen}"]);
        RunSetupTap(args, $"{(s.Namespace is null ? "" : $"namespace {s.Namespace} or ")}TAP {s.Tap} missing: ");
    }

    /// <summary>
    /// Makes sure the namespace and TAP of a --link exist: when missing, runs setup-tap.sh for them
    /// with --create (the kernel at the subnet's .1), else says how to make them.
    /// </summary>
    private static void EnsureLink(StackOptionSet.Parsed o, StackInterface l)
    {
        bool nsMissing = l.Namespace is { } n && !File.Exists(TapDevice.NetnsPath(n));
        if (!nsMissing && TapDevice.InterfaceExists(l.Namespace, l.Tap)) return;
        var kernel = StackOptions.FirstHost(l.Address, l.PrefixLen);
        string createArgs = (l.Namespace is null ? "--root-ns" : $"--ns {l.Namespace}") + $" --tap {l.Tap}" + (kernel is null ? "" : $" --addr {kernel}/{l.PrefixLen}");
        if (!o.Create)
            throw new CliFailure(nsMissing
                ? $"--link {l.Tap}: network namespace {l.Namespace} does not exist (to create it with TAP {l.Tap}: add --create, or run sudo ./setup-tap.sh {createArgs})"
                : $"--link {l.Tap}: no TAP {l.Tap} in {(l.Namespace is null ? "the host's network namespace" : $"network namespace {l.Namespace}")} (to create it: add --create, or run sudo ./setup-tap.sh {createArgs})");
        if (kernel is null) throw new UsageException($"--link {l.Tap}: cannot pick an address for the kernel's side of the TAP (the subnet's .1 is the stack's, or the prefix is /31 or longer): create it with setup-tap.sh --addr");
        RunSetupTap(createArgs.Split(' '), $"--link {l.Tap}: {(l.Namespace is null ? "" : $"namespace {l.Namespace} or ")}TAP {l.Tap} missing: ");
    }

    /// <summary>Runs setup-tap.sh with <paramref name="args"/>, saying so after <paramref name="why"/>; throws when it fails.</summary>
    private static void RunSetupTap(IEnumerable<string> args, string why)
    {
        string script = SetupTapScript.Locate();
        Console.WriteLine($"netstack: {why}running {script} {string.Join(' ', args)}");
        var psi = new ProcessStartInfo("bash") { UseShellExecute = false };
        psi.ArgumentList.Add(script);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new CliFailure("cannot start bash to run setup-tap.sh");
        p.WaitForExit();
        if (p.ExitCode != 0) throw new CliFailure($"setup-tap.sh failed (exit {p.ExitCode})");
    }

    /// <summary>Refuses a stack address that the kernel has on the TAP already (two hosts, one address: nothing would work).</summary>
    private static void CheckKernelAddress(StackOptions s)
    {
        var psi = new ProcessStartInfo("ip") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        if (s.Namespace is { } ns) { psi.ArgumentList.Add("-n"); psi.ArgumentList.Add(ns); }
        foreach (var a in new[] { "-o", "-4", "addr", "show", "dev", s.Tap }) psi.ArgumentList.Add(a);
        string text;
        try
        {
            using var p = Process.Start(psi);
            if (p is null) return;
            text = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
        }
        catch (System.ComponentModel.Win32Exception) { return; } // no ip(8): nothing to compare with
        foreach (var word in text.Split([' ', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries))
        {
            int slash = word.IndexOf('/');
            if (slash > 0 && System.Net.IPAddress.TryParse(word[..slash], out var a) && a.Equals(s.Address))
                throw new UsageException($"--addr {s.Address} is the kernel's own address on {s.Tap}: give the stack another one on that subnet, e.g. {StackOptionSet.Suggest(s)}/{s.PrefixLen}");
        }
    }
}

/// <summary>Checks what every attaching command needs, with one clear line each when missing.</summary>
internal static class Prerequisites
{
    public static void Check()
    {
        if (!Environment.IsPrivilegedProcess)
            throw new NetStackException(Errno.EPERM, "needs root (it enters a network namespace and attaches a TAP device): try sudo scripts/netstack ...");
        if (!File.Exists("/dev/net/tun"))
            throw new NetStackException(Errno.ENOENT, "/dev/net/tun is missing: this kernel or container has no TUN/TAP support (try: modprobe tun)");
    }
}

/// <summary>Finds setup-tap.sh: $NETSTACK_SETUP_TAP, else the first directory upwards from the executable, then from the working directory, that has it.</summary>
internal static class SetupTapScript
{
    public static string Locate()
    {
        if (Environment.GetEnvironmentVariable("NETSTACK_SETUP_TAP") is { Length: > 0 } env && File.Exists(env)) return env;
        foreach (var start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                string candidate = Path.Combine(dir.FullName, "setup-tap.sh");
                if (File.Exists(candidate)) return candidate;
            }
        }
        throw new NetStackException(Errno.ENOENT, "setup-tap.sh not found (looked upwards from the executable and the working directory; set NETSTACK_SETUP_TAP)");
    }
}
