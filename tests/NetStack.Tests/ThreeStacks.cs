using NetStack.Core;
using NetStack.Drivers;
using NetStack.Ipv4;
using NetStack.Wire;

namespace NetStack.Tests;

/// <summary>
/// Three stacks on two <see cref="MemoryLink"/>s, the middle one a router: A (10.9.1.1/24) on link 1,
/// R on both links (10.9.1.254 as "r1", 10.9.2.254 as "r2") with net.ipv4.ip_forward = 1, and B
/// (10.9.2.1/24) on link 2. A and B have their default route via R. One thread drives all three
/// with a shared virtual clock.
/// </summary>
public sealed class ThreeStacks : IDisposable
{
    public static readonly uint AddrA = Ipv4Address.Parse("10.9.1.1");
    public static readonly uint AddrR1 = Ipv4Address.Parse("10.9.1.254");
    public static readonly uint AddrR2 = Ipv4Address.Parse("10.9.2.254");
    public static readonly uint AddrB = Ipv4Address.Parse("10.9.2.1");

    public VirtualClock Clock { get; } = new();
    public MemoryLink Link1 { get; }
    public MemoryLink Link2 { get; }
    public NetNamespace A { get; }
    public NetNamespace R { get; }
    public NetNamespace B { get; }

    /// <param name="mtu2">The MTU of link 2 (R to B).</param>
    /// <param name="forwarding">net.ipv4.ip_forward on R.</param>
    public ThreeStacks(int mtu2 = 1500, bool forwarding = true)
    {
        Link1 = new MemoryLink(MacAddress.Parse("02:00:00:00:01:01"), MacAddress.Parse("02:00:00:00:01:fe"), 1500, nameA: "a0", nameB: "r1");
        Link2 = new MemoryLink(MacAddress.Parse("02:00:00:00:02:fe"), MacAddress.Parse("02:00:00:00:02:01"), mtu2, nameA: "r2", nameB: "b0");
        A = new NetNamespace("a", Clock);
        R = new NetNamespace("r", Clock);
        B = new NetNamespace("b", Clock);
        A.AddDevice(Link1.A, AddrA, 24);
        R.AddDevice(Link1.B, AddrR1, 24);
        R.AddDevice(Link2.A, AddrR2, 24);
        B.AddDevice(Link2.B, AddrB, 24);
        Assert.Equal(0, A.Ipv4.Fib.AddDefault(AddrR1, Link1.A));
        Assert.Equal(0, B.Ipv4.Fib.AddDefault(AddrR2, Link2.B));
        if (forwarding) Assert.Equal(0, R.Sysctl.TrySet("net.ipv4.ip_forward", "1"));
    }

    /// <summary>Delivers frames on both links until they are quiet (no time passes).</summary>
    public int Pump()
    {
        int total = 0, n;
        do
        {
            n = A.Poll() + R.Poll() + B.Poll();
            total += n;
        } while (n > 0);
        return total;
    }

    /// <summary>Pumps, then advances virtual time by <paramref name="ms"/> and pumps again (timers that fell due run).</summary>
    public void Advance(long ms)
    {
        Pump();
        Clock.Advance(Time.Ms(ms));
        Pump();
    }

    /// <summary>
    /// Sends <paramref name="packet"/> (a whole IPv4 packet, header built by the caller) from
    /// <paramref name="from"/> along its route to the packet's destination, as a raw socket with
    /// IP_HDRINCL would.
    /// </summary>
    public static void SendIp(NetNamespace from, byte[] packet)
    {
        lock (from.SyncRoot)
        {
            uint daddr = Ipv4Header.Create(packet).Destination;
            Assert.Equal(0, Route.IpRouteOutput(from, daddr, 0, out var rt));
            var skb = from.AllocSkb(packet.Length)!;
            packet.CopyTo(skb.Put(packet.Length));
            Assert.Equal(0, IpOutput.IpLocalOut(from, skb, rt, daddr));
        }
    }

    public void Dispose()
    {
        A.Dispose();
        R.Dispose();
        B.Dispose();
    }
}

/// <summary>Keeps a copy of every IPv4 packet a device receives (frames through its capture tap), without the Ethernet header.</summary>
public sealed class IpCapture : IPacketCapture
{
    private readonly NetDevice _dev;
    public List<byte[]> Packets { get; } = [];

    public IpCapture(NetDevice dev)
    {
        _dev = dev;
        dev.AddCapture(this);
    }

    public void Capture(ReadOnlySpan<byte> frame)
    {
        var eth = EthernetHeader.Create(frame.ToArray());
        // Only frames coming in: the tap also sees what the device sends, whose source is the device's MAC.
        if (eth.EtherType == EthP.IP && eth.Source != _dev.DevAddr)
            Packets.Add(frame[EthernetHeader.Length..].ToArray());
    }
}
