using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Drivers;

namespace NetStack.Tests;

/// <summary>
/// The two stacks of <see cref="TwoStacks"/> (same addresses and MACs over a MemoryLink), but on the
/// real clock with their own threads running (net.Start()), for blocking and async API tests.
/// </summary>
public sealed class RealTimeStacks : IDisposable
{
    public readonly MemoryLink Link = new(TwoStacks.MacA, TwoStacks.MacB);
    public readonly NetNamespace A = new("a");
    public readonly NetNamespace B = new("b");

    public RealTimeStacks()
    {
        A.AddDevice(Link.A, TwoStacks.AddrA, 24);
        B.AddDevice(Link.B, TwoStacks.AddrB, 24);
        A.Start();
        B.Start();
    }

    public void Dispose()
    {
        A.Dispose();
        B.Dispose();
    }
}
