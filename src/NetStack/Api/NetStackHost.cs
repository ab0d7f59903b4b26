using NetStack.Core;
using NetStack.Drivers;
using NetStack.Ipv4;
using NetStack.Ipv6;
using NetStack.Wire;

namespace NetStack.Api;

/// <summary>
/// A stack attached to a TAP, ready to use: the namespace (<see cref="Net"/>), its TAP device
/// (<see cref="Device"/>) with the address, connected route and default route of
/// <see cref="StackOptions"/>, and an optional pcap capture. Commands and tests build on this:
/// <code>
/// using var host = NetStackHost.Up(new StackOptions { PcapPath = "x.pcap" });
/// // ... host.Net is running; its counters are host.Net.Mib
/// </code>
/// Dispose stops the threads, detaches from the TAP and flushes the capture.
/// </summary>
public sealed class NetStackHost : IDisposable
{
    private bool _disposed;

    /// <summary>Attaches to the TAP and configures the stack without starting its threads (drive it with <c>Net.Poll()</c>, or call <see cref="Start"/>).</summary>
    public NetStackHost(StackOptions options, IClock? clock = null) : this(options, AttachTap(options), clock) { }

    /// <summary>
    /// Configures the stack on a device the caller attached (another driver, e.g. NetStack.Pcap's
    /// PcapDevice on a veth end): the options' address, route, capture and fault injection, without
    /// touching a TAP (the options' TAP name is not used). The host owns the device from here on.
    /// </summary>
    public NetStackHost(StackOptions options, NetDevice device, IClock? clock = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(device);
        options.Validate();
        Options = options;
        Device = device;
        try
        {
            Pcap = options.PcapPath is { } path ? new PcapWriter(path) : null;
            Device.Capture = Pcap;
            Device.BusyPollUs = options.BusyPollUs;
            if (Device is TapDevice tap0) tap0.TxRingEnabled = options.TransmitRing;
            Net = new NetNamespace(options.Namespace ?? "netstack", clock);
            Net.AddDevice(Device, options.AddressValue, options.PrefixLen);
            if (options.Ipv6Address is { } v6) Net.AddIpv6Address(Device, v6, options.Ipv6PrefixLen);
            // --fault: a seeded impairment on the wire side of the TAP (loss, dup, reorder, ...).
            if (options.Fault is { } fault)
                lock (Net.SyncRoot) Faults = FaultInjector.Attach(Device, FaultSpec.Parse(fault));
            if (options.GatewayValue != 0)
                NetStackException.ThrowIfError(Net.Ipv4.Fib.AddDefault(options.GatewayValue, Device), "adding the default route");
            var devices = new List<NetDevice> { Device };
            foreach (var i in options.MoreInterfaces)
            {
                TapDevice tap;
                try { tap = TapDevice.Attach(i.Tap, i.EffectiveMac, i.Namespace, options.CreateTapIfMissing); }
                catch (ErrnoException e) { throw new NetStackException(e.Errno, e.Message); }
                tap.Capture = Pcap;
                tap.BusyPollUs = options.BusyPollUs;
                tap.TxRingEnabled = options.TransmitRing;
                Net.AddDevice(tap, i.AddressValue, i.PrefixLen); // the namespace owns (and disposes) it from here
                devices.Add(tap);
            }
            Devices = devices;
            // sysctl -w net.ipv4.ip_forward=1: every device forwards.
            if (options.Forwarding)
                NetStackException.ThrowIfError(Net.Sysctl.TrySet("net.ipv4.ip_forward", "1"), "setting net.ipv4.ip_forward");
        }
        catch
        {
            Net?.Dispose();
            Device.Dispose();
            Pcap?.Dispose();
            throw;
        }
    }

    private static TapDevice AttachTap(StackOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        try { return TapDevice.Attach(options.Tap, options.Mac, options.Namespace, options.CreateTapIfMissing, offload: options.Offload); }
        catch (ErrnoException e) { throw new NetStackException(e.Errno, e.Message); }
    }

    /// <summary>Attaches, configures and starts the receive and timer threads.</summary>
    public static NetStackHost Up(StackOptions options)
    {
        var host = new NetStackHost(options);
        host.Start();
        return host;
    }

    /// <summary>The options the stack was brought up with.</summary>
    public StackOptions Options { get; }
    /// <summary>The stack: the network namespace holding the device, routes, sockets and counters.</summary>
    public NetNamespace Net { get; }
    /// <summary>The TAP device the stack is attached to (the first, when there are several).</summary>
    public NetDevice Device { get; }
    /// <summary>Every device the host attached: <see cref="Device"/>, then one per <see cref="StackOptions.MoreInterfaces"/> entry.</summary>
    public IReadOnlyList<NetDevice> Devices { get; } = [];
    /// <summary>The capture of every frame on the device when <see cref="StackOptions.PcapPath"/> was given, else null.</summary>
    public PcapWriter? Pcap { get; }
    /// <summary>The fault injector on the device when <see cref="StackOptions.Fault"/> was given, else null.</summary>
    public FaultInjector? Faults { get; }

    /// <summary>Starts the softirq threads (device receive with NAPI budget 64, timers).</summary>
    public void Start() => Net.Start();

    /// <summary>A one-line description: "10.7.0.2/24 on tap0 in netns netstack, mac 02:..., default via 10.7.0.1".</summary>
    public override string ToString() =>
        $"{Options.Address}/{Options.PrefixLen}" + (Options.Ipv6Address is { } a6 ? $" and {a6}/{Options.Ipv6PrefixLen}" : "") + $" on {Device.Name} in " +
        (Options.Namespace is null ? "the current network namespace" : $"netns {Options.Namespace}") +
        $", mac {Device.DevAddr}, mtu {Device.Mtu}" +
        (Options.Gateway is not null ? $", default via {Options.Gateway}" : "") +
        string.Concat(Options.MoreInterfaces.Select(i => $"; {i.Address}/{i.PrefixLen} on {i.Tap}" + (i.Namespace is null ? "" : $" in netns {i.Namespace}"))) +
        (Net.Ipv4.Sysctl.IpForward ? "; forwarding" : "");

    /// <summary>Stops the threads, detaches from the TAP (disposing the namespace and its device) and flushes and closes the capture.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Net.Dispose(); // stops the threads, then stops and disposes the device
        Pcap?.Dispose();
    }
}
