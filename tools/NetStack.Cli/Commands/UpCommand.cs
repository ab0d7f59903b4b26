using System.Diagnostics;
using System.Runtime.InteropServices;
using NetStack.Api;
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
    private const string Usage =
        "usage: netstack up [options]\n\n" +
        "Brings the stack up at --addr on the TAP --tap in the network namespace --ns (creating both\n" +
        "with setup-tap.sh when missing), runs until Ctrl-C or --duration, then prints its counters.\n\n" +
        "up options:\n" +
        "  --services LIST  services to run: all (default), none, or a list of echo,discard,chargen,http\n" +
        "                   (echo: TCP+UDP 7, discard: TCP+UDP 9, chargen: TCP 19, http: TCP 80; name:port moves one)\n\n" +
        "options:\n" + Options.Help;

    public static int Run(string[] args)
    {
        var o = Options.Parse(args);
        if (o.TakeFlag("--help", "-h"))
        {
            Console.Write(Usage);
            return 0;
        }
        string serviceList = o.TakeValue("--services") ?? "all";
        IReadOnlyList<ServiceHost.Entry> serviceEntries;
        try { serviceEntries = ServiceHost.ParseList(serviceList); }
        catch (FormatException e) { throw new UsageException($"--services: {e.Message}"); }
        o.RejectUnknownOptions();
        if (o.Rest.Count > 0) throw new UsageException($"unexpected argument '{o.Rest[0]}' (try --help)");
        var s = o.Stack;
        s.Validate();
        Prerequisites.Check();
        EnsureTap(s);

        using var host = NetStackHost.Up(s);
        Console.WriteLine($"netstack: up: {host}");
        if (host.Pcap is { } pcap) Console.WriteLine($"netstack: capturing to {pcap.Path}");
        if (host.Faults is { } faults) Console.WriteLine($"netstack: fault injection: {faults.Spec}");
        using var services = ServiceHost.Start(host.Net, serviceEntries, new ServiceOptions { Log = line => Console.Error.WriteLine($"netstack: {line}") });
        Console.WriteLine($"netstack: services: {services.Describe()}");
        string exec = s.Namespace is null ? "" : $"ip netns exec {s.Namespace} ";
        if (services.Find("http") is { } http)
            Console.WriteLine($"netstack: status page: sudo {exec}curl http://{s.Address}{(http.Port == 80 ? "" : $":{http.Port}")}/");
        Console.WriteLine($"netstack: reach it with: sudo {exec}ping {s.Address}");
        Console.WriteLine(o.Duration is { } d ? $"netstack: running for {d.TotalSeconds:0.###} s (Ctrl-C stops earlier)" : "netstack: running; Ctrl-C stops");

        var sw = Stopwatch.StartNew();
        WaitForStop(o.Duration);
        services.Dispose(); // close the services' sockets while the stack still runs
        host.Dispose(); // stop the threads first, so the counters below are final
        Console.WriteLine($"netstack: stopped after {sw.Elapsed.TotalSeconds:0.0} s");
        Console.Write(services.FormatStats());
        if (host.Faults is { } f) Console.WriteLine($"netstack: {f}");
        Console.WriteLine($"{host.Device.Name}: {host.Device.Stats}");
        Console.Write(host.Net.Mib.Format());
        return 0;
    }

    /// <summary>Blocks until Ctrl-C, SIGTERM, or the duration passes.</summary>
    internal static void WaitForStop(TimeSpan? duration)
    {
        using var stop = new ManualResetEventSlim();
        ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; stop.Set(); };
        Console.CancelKeyPress += onCancel;
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx => { ctx.Cancel = true; stop.Set(); });
        try
        {
            if (duration is { } d) stop.Wait(d);
            else stop.Wait();
        }
        finally { Console.CancelKeyPress -= onCancel; }
    }

    /// <summary>Runs setup-tap.sh when the namespace or the TAP is missing, with the names and the kernel's address.</summary>
    internal static void EnsureTap(StackOptions s)
    {
        if (TapDevice.InterfaceExists(s.Namespace, s.Tap)) return;
        string script = SetupTapScript.Locate();
        var kernel = s.Gateway ?? StackOptions.FirstHost(s.Address, s.PrefixLen);
        if (kernel is null) throw new UsageException("cannot pick an address for the kernel's side of the TAP: give --gw, or a prefix shorter than /31");
        var args = new List<string>();
        if (s.Namespace is null) args.Add("--root-ns");
        else { args.Add("--ns"); args.Add(s.Namespace); }
        args.AddRange(["--tap", s.Tap, "--addr", $"{kernel}/{s.PrefixLen}"]);
        Console.WriteLine($"netstack: {(s.Namespace is null ? "" : $"namespace {s.Namespace} or ")}TAP {s.Tap} missing: running {script} {string.Join(' ', args)}");
        var psi = new ProcessStartInfo("bash") { UseShellExecute = false };
        psi.ArgumentList.Add(script);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new NetStackException(Errno.ENOENT, "cannot start bash to run setup-tap.sh");
        p.WaitForExit();
        if (p.ExitCode != 0) throw new NetStackException(Errno.EIO, $"setup-tap.sh failed (exit {p.ExitCode})");
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
