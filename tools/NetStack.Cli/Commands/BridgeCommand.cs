using System.CommandLine;
using System.Diagnostics;
using NetStack.Core;
using NetStack.Drivers;
using NetStack.Wire;

namespace NetStack.Cli.Commands;

/// <summary>
/// `netstack bridge TAP1 TAP2 [--ns1 NS] [--ns2 NS] [--fault SPEC] [--duration S]`: copies Ethernet
/// frames between two existing TAPs both ways (<see cref="FrameBridge"/>), optionally through faults,
/// until Ctrl-C, SIGTERM or --duration, then prints what each direction forwarded and dropped. With
/// each TAP in its own namespace, the two kernels talk to each other through user space: the
/// reference scripts/bench.sh sets beside the stack, which pays the same two TAP crossings.
/// </summary>
internal static class BridgeCommand
{
    public static Command Create()
    {
        var tap1 = new Argument<string>("TAP1") { Description = "the first TAP (in --ns1)" };
        var tap2 = new Argument<string>("TAP2") { Description = "the second TAP (in --ns2)" };
        var ns1 = Opt.Value("--ns1", "NAME", "network namespace holding TAP1 [default: the process's own]", NonEmpty("--ns1"));
        var ns2 = Opt.Value("--ns2", "NAME", "network namespace holding TAP2 [default: the process's own]", NonEmpty("--ns2"));
        var fault = Opt.Value("--fault", "SPEC",
            "faults on the forwarded frames: loss=5%,dup=1%,reorder=2%,corrupt=0.1%,seed=7,dir=both (dir=tx: TAP1 to TAP2 only, rx: TAP2 to TAP1 only; no delay)",
            s => !FaultSpec.TryParse(s, out var spec, out string error) ? throw new UsageException($"bad --fault '{s}': {error}")
                : spec.DelayNs > 0 ? throw new UsageException($"--fault '{s}': the bridge has no delay line (delay= works in `up --fault`); use loss, dup, reorder, corrupt")
                : spec);
        var duration = Opt.Value<double?>("--duration", "SECONDS", "stop after SECONDS [default: run until Ctrl-C or SIGTERM]",
            s => Opt.Seconds("duration", 1e7)(s));
        var cmd = new Command("bridge",
            "copy Ethernet frames between two existing TAPs both ways (one thread per direction), optionally through --fault, " +
            "until Ctrl-C, SIGTERM or --duration; then print the frames each way forwarded and dropped");
        cmd.Add(tap1);
        cmd.Add(tap2);
        cmd.Add(ns1);
        cmd.Add(ns2);
        cmd.Add(fault);
        cmd.Add(duration);
        cmd.SetAction(r => Run(r.GetValue(tap1)!, r.GetValue(ns1), r.GetValue(tap2)!, r.GetValue(ns2), r.GetValue(fault),
            r.GetValue(duration) is { } d ? TimeSpan.FromSeconds(d) : null));
        return cmd;
    }

    private static Func<string, string> NonEmpty(string name) => s => s.Length > 0 ? s : throw new UsageException($"{name}: empty name");

    private static int Run(string tap1, string? ns1, string tap2, string? ns2, FaultSpec? faults, TimeSpan? duration)
    {
        if (tap1 == tap2 && ns1 == ns2) throw new UsageException("TAP1 and TAP2 are the same interface");
        Prerequisites.Check();
        TapDevice first, second;
        // The MAC is the device object's, never used on the wire: the bridge writes the frames it read.
        try { first = TapDevice.Attach(tap1, MacAddress.Parse("02:00:00:00:00:01"), ns1, createIfMissing: false); }
        catch (ErrnoException e) { throw new CliFailure(e.Message); }
        using var firstScope = first;
        try { second = TapDevice.Attach(tap2, MacAddress.Parse("02:00:00:00:00:02"), ns2, createIfMissing: false); }
        catch (ErrnoException e) { throw new CliFailure(e.Message); }
        using var secondScope = second;

        var bridge = new FrameBridge(first, second, faults);
        bridge.Start();
        string Where(string tap, string? ns) => ns is null ? tap : $"{tap} (ns {ns})";
        Console.WriteLine($"netstack bridge: up: {Where(tap1, ns1)} <-> {Where(tap2, ns2)}{(faults is null ? "" : $", faults {faults}")}");
        Console.Out.Flush();
        var sw = Stopwatch.StartNew();
        UpCommand.WaitForStop(duration);
        bridge.Stop();
        Console.WriteLine($"netstack bridge: stopped after {sw.Elapsed.TotalSeconds:0.0} s");
        Console.WriteLine($"netstack bridge: {bridge.Forward}");
        Console.WriteLine($"netstack bridge: {bridge.Backward}");
        return ExitCodes.Ok;
    }
}
