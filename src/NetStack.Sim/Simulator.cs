using System.Buffers.Binary;
using System.Diagnostics;
using System.Net.NetworkInformation;
using NetStack.Api;
using NetStack.Core;
using NetStack.Ipv4;

namespace NetStack.Sim;

/// <summary>
/// Runs a <see cref="Scenario"/>: one <see cref="NetNamespace"/> per host, all on one
/// <see cref="VirtualClock"/>, joined by modelled links through one switch, in virtual time.
/// <para>
/// One thread runs everything. The loop takes the earliest of the next event (a frame leaving a
/// transmitter or arriving at the far end of a wire, a flow's start, stop or timer, a sample) and the
/// next timer of any stack (<see cref="NetNamespace.NextTimerExpiry"/>), sets the clock to it and runs
/// it; events at the same nanosecond run in the order they were scheduled, stacks due at the same time
/// in host order. A host that received a frame or whose timer is due is polled
/// (<see cref="NetNamespace.Poll"/>), then its flows' applications run. Nothing reads the wall clock and
/// every random choice comes from <see cref="SimRandom"/> streams of the seed, so a scenario and seed give
/// the same results, byte for byte.
/// </para>
/// </summary>
public sealed class Simulator : IDisposable
{
    private readonly List<SimHost> _hosts = [];
    private readonly List<FlowApp> _flows = [];
    private readonly List<Link> _links = [];
    private readonly List<SimHost> _dirty = [];
    private readonly Sampler _sampler;
    private bool _disposed;

    /// <summary>The scenario.</summary>
    public Scenario Scenario { get; }
    /// <summary>The seed in use (the scenario's unless overridden).</summary>
    public ulong Seed { get; }
    /// <summary>The clock every stack reads.</summary>
    public VirtualClock Clock { get; }
    /// <summary>The clock's reading at simulated time 0.</summary>
    public long T0 { get; }
    /// <summary>The pending events.</summary>
    public EventQueue Events { get; } = new();
    /// <summary>The frames on the wires and in the queues.</summary>
    public FramePool Frames { get; }
    /// <summary>The switch.</summary>
    public SimSwitch Switch { get; }
    /// <summary>The hosts in scenario order.</summary>
    public IReadOnlyList<SimHost> Hosts => _hosts;
    /// <summary>The flows in scenario order.</summary>
    public IReadOnlyList<FlowApp> Flows => _flows;
    /// <summary>Every link direction (each host's up, then its down).</summary>
    public IReadOnlyList<Link> Links => _links;
    /// <summary>The time series, filled as the simulation runs.</summary>
    public SimResults Results { get; }
    /// <summary>
    /// Raised after each sample is taken, at the same instant of virtual time: an in-process experiment
    /// (or a test) reads there whatever else of the stacks it wants in step with the time series.
    /// </summary>
    public event Action<Simulator>? Sampled;
    /// <summary>Times a stack was polled.</summary>
    public long Polls { get; private set; }

    /// <summary>The clock now (absolute ns).</summary>
    public long AbsNow => Clock.NowNs;
    /// <summary>Simulated time since the start, in ns.</summary>
    public long Now => Clock.NowNs - T0;

    /// <summary>Builds the hosts, links and flows of <paramref name="scenario"/> (seed <paramref name="seed"/> instead of the scenario's when given).</summary>
    /// <exception cref="ScenarioException">A sysctl, congestion control or socket option the stack refuses.</exception>
    public Simulator(Scenario scenario, ulong? seed = null)
    {
        Scenario = scenario;
        Seed = seed ?? scenario.Seed;
        Clock = new VirtualClock();
        T0 = Clock.NowNs;
        int mtuFrame = scenario.Mtu + 14;
        Frames = new FramePool(mtuFrame);
        Switch = new SimSwitch(this);
        try
        {
            for (int i = 0; i < scenario.Hosts.Count; i++)
            {
                var spec = scenario.Hosts[i];
                var h = new SimHost(this, spec, i, Clock, scenario.Mtu);
                _hosts.Add(h);
                foreach (var (k, v) in scenario.Sysctl.Concat(spec.Sysctl))
                {
                    int r = h.Net.Sysctl.TrySet(k, v);
                    if (r < 0) throw new ScenarioException($"host \"{spec.Name}\": sysctl {k}={v}: {(r == -Errno.ENOENT ? "no such sysctl" : Errno.Name(-r))}");
                }
                ulong stream = 2 * (ulong)i;
                h.Up = new Link(this, spec.Name + ".up", spec.Up, new SimRandom(Seed, 1 + stream), mtuFrame, scenario.Flows.Count, Switch, 0, i);
                h.Down = new Link(this, spec.Name + ".down", spec.Down, new SimRandom(Seed, 2 + stream), mtuFrame, scenario.Flows.Count, h, SimHost.Arrive, 0);
                _links.Add(h.Up);
                _links.Add(h.Down);
                h.Net.AddDevice(h.Device, h.Address, 24); // sends a gratuitous ARP (flooded by the switch once the run starts)
            }
            // Static neighbours: no ARP at the start of every flow (the switch floods ARP all the same).
            foreach (var h in _hosts)
                foreach (var o in _hosts)
                    if (o != h)
                        NetStackConfig.AddNeighbour(h.Net, h.Device.Name, o.IPAddress, new PhysicalAddress(MacBytes(o)));
            for (int i = 0; i < scenario.Flows.Count; i++)
            {
                var fs = scenario.Flows[i];
                var app = FlowApp.Create(this, fs, i, HostByName(fs.From), HostByName(fs.To));
                _flows.Add(app);
                app.Client.Apps.Add(app);
                app.Server.Apps.Add(app);
            }
            foreach (var app in _flows) app.Setup();
        }
        catch
        {
            Dispose();
            throw;
        }
        Results = new SimResults(this);
        _sampler = new Sampler(this);
        Events.Schedule(T0 + scenario.SampleIntervalNs, _sampler, 0);
        foreach (var h in _hosts) h.NextTimer = h.Net.NextTimerExpiry;
    }

    private static byte[] MacBytes(SimHost h)
    {
        var b = new byte[6];
        h.Mac.Write(b);
        return b;
    }

    private SimHost HostByName(string name) => _hosts.First(h => h.Name == name);

    /// <summary>The flow a frame belongs to, by its TCP ports (a flow's server port is unique), or -1.</summary>
    public int Classify(ReadOnlySpan<byte> frame)
    {
        if (frame.Length < 14 + 20 + 4 || BinaryPrimitives.ReadUInt16BigEndian(frame[12..]) != 0x0800 || frame[14 + 9] != 6) return -1;
        int ihl = (frame[14] & 0xF) * 4;
        if (frame.Length < 14 + ihl + 4) return -1;
        int sport = BinaryPrimitives.ReadUInt16BigEndian(frame[(14 + ihl)..]);
        int dport = BinaryPrimitives.ReadUInt16BigEndian(frame[(14 + ihl + 2)..]);
        int n = _flows.Count;
        int id = dport - FlowApp.ServerPortBase;
        if ((uint)id < (uint)n) return id;
        id = sport - FlowApp.ServerPortBase;
        return (uint)id < (uint)n ? id : -1;
    }

    /// <summary>The host needs polling (a frame arrived, a timer is due, its application has work).</summary>
    internal void MarkDirty(SimHost h)
    {
        if (h.Dirty) return;
        h.Dirty = true;
        _dirty.Add(h);
    }

    private void Flush()
    {
        for (int i = 0; i < _dirty.Count; i++)
        {
            var h = _dirty[i];
            h.Dirty = false;
            h.Net.Poll();
            Polls++;
            var apps = h.Apps;
            for (int j = 0; j < apps.Count; j++) apps[j].Service(h);
            h.NextTimer = h.Net.NextTimerExpiry;
        }
        _dirty.Clear();
    }

    /// <summary>Runs until simulated time <paramref name="untilNs"/> (ns since the start; the scenario's duration by default).</summary>
    public void Run(long? untilNs = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        long end = T0 + (untilNs ?? Scenario.DurationNs);
        var hosts = _hosts;
        while (true)
        {
            long tEv = Events.PeekTime;
            long tTm = long.MaxValue;
            for (int i = 0; i < hosts.Count; i++)
                if (hosts[i].NextTimer < tTm) tTm = hosts[i].NextTimer;
            long t = Math.Min(tEv, tTm);
            if (t > end) break;
            if (t > Clock.NowNs) Clock.Set(t);
            if (tEv <= tTm) Events.RunNext();
            else
            {
                for (int i = 0; i < hosts.Count; i++)
                    if (hosts[i].NextTimer <= t) MarkDirty(hosts[i]);
            }
            Flush();
        }
        if (end > Clock.NowNs) Clock.Set(end);
    }

    /// <summary>Runs the whole scenario and measures it: the results and how fast it ran.</summary>
    public SimResults RunAll()
    {
        var wall = Stopwatch.StartNew();
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        Run();
        foreach (var f in _flows) f.Capture();
        Results.WallSeconds = wall.Elapsed.TotalSeconds;
        Results.CpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
        Results.Events = Events.Scheduled;
        return Results;
    }

    /// <summary>The link on a flow's data path with the lowest finite rate (the switch's egress towards the data receiver when none is finite or on a tie).</summary>
    public Link BottleneckOf(FlowApp f)
    {
        var (src, dst) = f.SampledHost == f.Client ? (f.Client, f.Server) : (f.Server, f.Client);
        Link up = src.Up, down = dst.Down;
        if (up.Spec.RateBps > 0 && (down.Spec.RateBps == 0 || up.Spec.RateBps < down.Spec.RateBps)) return up;
        return down;
    }

    /// <summary>Disposes the stacks.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var h in _hosts) h.Net.Dispose();
    }

    /// <summary>Takes a sample of every flow and link every sample interval.</summary>
    private sealed class Sampler(Simulator sim) : ISimEventHandler
    {
        public void OnEvent(int kind, SimFrame? frame, long arg)
        {
            sim.Results.Sample();
            sim.Sampled?.Invoke(sim);
            long next = sim.AbsNow + sim.Scenario.SampleIntervalNs;
            if (next <= sim.T0 + sim.Scenario.DurationNs) sim.Events.Schedule(next, this, 0);
        }
    }
}
