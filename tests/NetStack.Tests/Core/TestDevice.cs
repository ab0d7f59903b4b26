using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Ethernet;
using NetStack.Wire;

namespace NetStack.Tests.Core;

/// <summary>
/// A device whose wire is the test: <see cref="Inject"/> queues raw frame bytes for the stack to
/// receive on its next poll, and every frame the stack transmits is copied into <see cref="Sent"/>.
/// </summary>
public sealed class TestDevice : NetDevice
{
    private readonly Queue<byte[]> _rx = new();

    public TestDevice(string name, MacAddress mac, int mtu = 1500) : base(name, mac, mtu) => Eth.EtherSetup(this);

    /// <summary>Frames the stack sent, oldest first (copies; the buffers went back to the pool).</summary>
    public List<byte[]> Sent { get; } = new();

    public void Inject(ReadOnlySpan<byte> frame) => _rx.Enqueue(frame.ToArray());

    /// <summary>Returns and forgets what was sent so far.</summary>
    public List<byte[]> TakeSent()
    {
        var l = new List<byte[]>(Sent);
        Sent.Clear();
        return l;
    }

    protected internal override SkBuff? PollReceive(SkBuffPool pool)
    {
        if (!_rx.TryDequeue(out var frame)) return null;
        var skb = pool.Alloc() ?? throw new InvalidOperationException("pool exhausted");
        frame.CopyTo(skb.Put(frame.Length));
        return skb;
    }

    public override bool WaitForWork(int timeoutMs) => _rx.Count > 0;

    public override void Kick() { }

    protected internal override bool StartXmit(SkBuff skb)
    {
        Sent.Add(skb.DataSpan.ToArray());
        skb.Free();
        return true;
    }
}

/// <summary>
/// One stack (10.9.0.2/24 at 02:00:00:00:00:0b on a <see cref="TestDevice"/>) with a virtual clock,
/// and a pretend peer (10.9.0.1 at 02:00:00:00:00:0a) whose frames the test writes by hand.
/// </summary>
public sealed class OneStack : IDisposable
{
    public static readonly uint Addr = Ipv4Address.Parse("10.9.0.2");
    public static readonly uint PeerAddr = Ipv4Address.Parse("10.9.0.1");
    public static readonly uint SubnetBroadcast = Ipv4Address.Parse("10.9.0.255");
    public static readonly MacAddress Mac = MacAddress.Parse("02:00:00:00:00:0b");
    public static readonly MacAddress PeerMac = MacAddress.Parse("02:00:00:00:00:0a");

    public VirtualClock Clock { get; } = new();
    public NetNamespace Net { get; }
    public TestDevice Dev { get; }

    /// <param name="keepGratuitousArp">Leave the announcement sent by AddDevice in <see cref="TestDevice.Sent"/>.</param>
    /// <param name="beforeUp">Runs before the device comes up (sysctls such as IPv6's address configuration).</param>
    public OneStack(bool keepGratuitousArp = false, Action<NetNamespace>? beforeUp = null)
    {
        Net = new NetNamespace("test", Clock);
        beforeUp?.Invoke(Net);
        Dev = new TestDevice("eth0", Mac);
        Net.AddDevice(Dev, Addr, 24);
        if (!keepGratuitousArp) Dev.Sent.Clear();
    }

    /// <summary>Hands one raw frame to the stack and processes it (and anything it causes).</summary>
    public void Receive(byte[] frame)
    {
        Dev.Inject(frame);
        Net.Poll();
    }

    /// <summary>Advances virtual time timer by timer (running each as it falls due) for <paramref name="ms"/> milliseconds.</summary>
    public void RunFor(long ms)
    {
        long end = Clock.NowNs + Time.Ms(ms);
        while (true)
        {
            Net.Poll();
            long next;
            lock (Net.SyncRoot) next = Net.Timers.NextExpiry;
            if (next > end) { Clock.Set(end); Net.Poll(); return; }
            if (next > Clock.NowNs) Clock.Set(next);
        }
    }

    /// <summary>
    /// Teaches the stack the peer's MAC the way the wire would: the peer asks who-has our address
    /// (arp_process creates the sender's entry as STALE, neigh_event_ns); our reply is discarded.
    /// </summary>
    public void LearnPeer(uint ip = 0, MacAddress? mac = null)
    {
        var m = mac ?? PeerMac;
        Receive(Pkt.Eth(MacAddress.Broadcast, m, EthP.ARP, Pkt.Arp(ArpPacket.OpRequest, m, ip == 0 ? PeerAddr : ip, MacAddress.Zero, Addr)));
        Dev.Sent.Clear();
    }

    public void Dispose() => Net.Dispose();
}
