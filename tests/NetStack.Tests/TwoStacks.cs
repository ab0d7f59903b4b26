using NetStack.Core;
using NetStack.Drivers;
using NetStack.Ipv4;
using NetStack.Wire;

namespace NetStack.Tests;

/// <summary>Two stacks joined by a <see cref="MemoryLink"/>, driven by hand on one thread with a shared virtual clock.</summary>
public sealed class TwoStacks : IDisposable
{
    public static readonly uint AddrA = Ipv4Address.Parse("10.9.0.1");
    public static readonly uint AddrB = Ipv4Address.Parse("10.9.0.2");
    public static readonly MacAddress MacA = MacAddress.Parse("02:00:00:00:00:0a");
    public static readonly MacAddress MacB = MacAddress.Parse("02:00:00:00:00:0b");

    public VirtualClock Clock { get; } = new();
    public MemoryLink Link { get; }
    public NetNamespace A { get; }
    public NetNamespace B { get; }

    public TwoStacks(int mtu = 1500)
    {
        Link = new MemoryLink(MacA, MacB, mtu);
        A = new NetNamespace("a", Clock);
        B = new NetNamespace("b", Clock);
        A.AddDevice(Link.A, AddrA, 24);
        B.AddDevice(Link.B, AddrB, 24);
    }

    /// <summary>Delivers frames both ways until the link is quiet (no time passes).</summary>
    public int Pump()
    {
        int total = 0, n;
        do
        {
            n = A.Poll() + B.Poll();
            total += n;
        } while (n > 0);
        return total;
    }

    /// <summary>Pumps, then advances virtual time to the next timer, for at most <paramref name="ms"/> milliseconds.</summary>
    public void RunFor(long ms)
    {
        long end = Clock.NowNs + Time.Ms(ms);
        while (true)
        {
            Pump();
            long next;
            lock (A.SyncRoot) lock (B.SyncRoot) next = Math.Min(A.Timers.NextExpiry, B.Timers.NextExpiry);
            if (next > end) { Clock.Set(end); Pump(); return; }
            if (next > Clock.NowNs) Clock.Set(next);
        }
    }

    public void Dispose()
    {
        A.Dispose();
        B.Dispose();
    }
}
