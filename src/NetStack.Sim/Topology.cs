using System.Net;
using NetStack.Core;
using NetStack.Ethernet;
using NetStack.Net;
using NetStack.Wire;

namespace NetStack.Sim;

/// <summary>
/// A simulated host's network device: what the stack sends is copied into a <see cref="SimFrame"/>
/// and put on the host's uplink; frames the downlink delivers wait in a receive FIFO until the
/// simulator polls the stack.
/// </summary>
public sealed class SimDevice : NetDevice
{
    private readonly SimHost _host;
    internal readonly FrameFifo Rx = new();

    internal SimDevice(SimHost host, string name, MacAddress mac, int mtu) : base(name, mac, mtu)
    {
        _host = host;
        Eth.EtherSetup(this);
    }

    /// <inheritdoc/>
    protected override SkBuff? PollReceive(SkBuffPool pool)
    {
        var f = Rx.Dequeue();
        if (f is null) return null;
        var skb = NapiAllocSkb(pool);
        if (skb is not null) f.Span.CopyTo(skb.Put(f.Length));
        else Stats.RxDropped++;
        _host.Sim.Frames.Return(f);
        return skb;
    }

    /// <inheritdoc/>
    protected override bool StartXmit(SkBuff skb)
    {
        var f = _host.Sim.Frames.Rent(skb.DataSpan);
        skb.Free();
        f.FlowId = _host.Sim.Classify(f.Span);
        _host.Up.Send(f);
        return true;
    }

    /// <inheritdoc/>
    public override bool WaitForWork(int timeoutMs) => Rx.Count > 0;

    /// <inheritdoc/>
    public override void Kick() { }
}

/// <summary>A host: one stack (a <see cref="NetNamespace"/> on the simulator's virtual clock) on a port of the switch.</summary>
public sealed class SimHost : ISimEventHandler
{
    internal const int Arrive = 0;

    /// <summary>The simulator.</summary>
    public Simulator Sim { get; }
    /// <summary>The scenario's description of the host.</summary>
    public HostSpec Spec { get; }
    /// <summary>The host's position in the scenario (0-based).</summary>
    public int Index { get; }
    /// <summary>The host's name.</summary>
    public string Name => Spec.Name;
    /// <summary>The stack.</summary>
    public NetNamespace Net { get; }
    /// <summary>The descriptor table the host's applications use.</summary>
    public FdTable Files { get; }
    /// <summary>The host's device ("eth0").</summary>
    public SimDevice Device { get; }
    /// <summary>The host's address (10.0.0.INDEX+1).</summary>
    public uint Address { get; }
    /// <summary>The host's MAC (02:00:00:00:HH:LL with INDEX+1).</summary>
    public MacAddress Mac { get; }
    /// <summary>Host to switch.</summary>
    public Link Up { get; internal set; } = null!;
    /// <summary>Switch to host: the switch's egress port towards the host, usually the bottleneck.</summary>
    public Link Down { get; internal set; } = null!;

    internal readonly List<FlowApp> Apps = [];
    internal bool Dirty;
    internal long NextTimer = long.MaxValue;

    internal SimHost(Simulator sim, HostSpec spec, int index, IClock clock, int mtu)
    {
        Sim = sim;
        Spec = spec;
        Index = index;
        Address = AddressOf(index);
        Mac = MacOf(index);
        Net = new NetNamespace(spec.Name, clock);
        Files = new FdTable(Net);
        Device = new SimDevice(this, "eth0", Mac, mtu);
    }

    /// <summary>10.0.0.(index + 1).</summary>
    public static uint AddressOf(int index) => (10u << 24) | (uint)(index + 1);

    /// <summary>02:00:00:00:HH:LL, with index + 1 in the last two bytes.</summary>
    public static MacAddress MacOf(int index) => new(0x020000000000UL | (uint)(index + 1));

    /// <summary>The address as an <see cref="IPAddress"/>.</summary>
    public IPAddress IPAddress => new([(byte)(Address >> 24), (byte)(Address >> 16), (byte)(Address >> 8), (byte)Address]);

    /// <inheritdoc/>
    public void OnEvent(int kind, SimFrame? frame, long arg)
    {
        Device.Rx.Enqueue(frame!);
        Sim.MarkDirty(this);
    }

    /// <inheritdoc/>
    public override string ToString() => $"{Name} ({IPAddress})";
}

/// <summary>
/// The switch every host's link ends at: it forwards a frame to the egress link of the host that owns
/// its destination MAC at once (the links model all the time a frame spends), and floods broadcasts.
/// </summary>
public sealed class SimSwitch(Simulator sim) : ISimEventHandler
{
    /// <summary>Frames whose destination is no host's.</summary>
    public long Unknown { get; private set; }

    /// <inheritdoc/>
    public void OnEvent(int kind, SimFrame? frame, long ingress)
    {
        var f = frame!;
        var hosts = sim.Hosts;
        ReadOnlySpan<byte> d = f.Span;
        if ((d[0] & 1) != 0)
        {
            // Broadcast or multicast: a copy to every other port.
            for (int i = 0; i < hosts.Count; i++)
            {
                if (i == ingress) continue;
                var copy = sim.Frames.Rent(d);
                copy.FlowId = f.FlowId;
                hosts[i].Down.Send(copy);
            }
            sim.Frames.Return(f);
            return;
        }
        int idx = d[0] == 2 && d[1] == 0 && d[2] == 0 && d[3] == 0 ? (d[4] << 8 | d[5]) - 1 : -1;
        if ((uint)idx < (uint)hosts.Count) hosts[idx].Down.Send(f);
        else
        {
            Unknown++;
            sim.Frames.Return(f);
        }
    }
}
