using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;

namespace NetStack.Tests.Core;

/// <summary>pernet_operations and net_generic: how layers above Core hang state on a namespace.</summary>
public class PernetTests
{
    private sealed class CounterState
    {
        public int Inits;
    }

    /// <summary>An experimenter's subsystem: a counter in each namespace.</summary>
    private sealed class CounterOps : PernetOperations
    {
        public static readonly CounterOps Instance = new();
        public override string Name => "test-counter";
        public int Exits;
        public override void Init(NetNamespace net) => net.NetAssignGeneric(Id, new CounterState { Inits = 1 });
        public override void Exit(NetNamespace net) => Exits++;
    }

    private static readonly object s_register = new();

    private static void EnsureRegistered()
    {
        lock (s_register)
        {
            if (CounterOps.Instance.Id < 0) NetNamespace.RegisterPernetSubsys(CounterOps.Instance);
        }
    }

    [Fact]
    public void RegisteredSubsystem_GetsItsOwnStateInEachNewNamespace()
    {
        EnsureRegistered();
        using var a = new NetNamespace("a");
        using var b = new NetNamespace("b");
        var sa = a.NetGeneric<CounterState>(CounterOps.Instance.Id);
        var sb = b.NetGeneric<CounterState>(CounterOps.Instance.Id);
        Assert.Equal(1, sa.Inits);
        Assert.NotSame(sa, sb);
        Assert.Contains(CounterOps.Instance, a.PernetOps);
        Assert.Throws<InvalidOperationException>(() => NetNamespace.RegisterPernetSubsys(CounterOps.Instance));
    }

    [Fact]
    public void Exit_RunsWhenTheNamespaceIsDisposed()
    {
        EnsureRegistered();
        int before = CounterOps.Instance.Exits;
        var net = new NetNamespace();
        net.Dispose();
        net.Dispose(); // once only
        Assert.True(CounterOps.Instance.Exits >= before + 1);
    }

    [Fact]
    public void SetupOrder_SocketLayerThenInetThenProtocolsThenDevices()
    {
        using var net = new NetNamespace();
        var names = net.PernetOps.Select(o => o.Name).ToList();
        Assert.True(names.IndexOf("socket") < names.IndexOf("inet"), string.Join(",", names));
        Assert.True(names.IndexOf("inet") < names.IndexOf("tcp"), string.Join(",", names));
        Assert.Equal("loopback", names[^1]);
        // lo is registered by its driver's pernet device init and gets 127.0.0.1/8 from inetdev_event.
        Assert.Equal(1, net.Loopback.IfIndex);
        Assert.Equal(NetStack.Wire.Ipv4Address.Loopback, net.Loopback.Ipv4Address);
        Assert.NotNull(net.Ipv4);
        Assert.NotNull(net.Files);
    }
}
