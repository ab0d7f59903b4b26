namespace NetStack.Core;

/// <summary>
/// What a subsystem does for each network namespace: <see cref="Init"/> when a namespace is set up,
/// <see cref="Exit"/> when it is torn down. A subsystem that keeps per-namespace state stores it in
/// the namespace's generic slot <see cref="Id"/> (<see cref="NetNamespace.NetAssignGeneric"/>) and
/// reads it back with <see cref="NetNamespace.NetGeneric{T}"/>: an array index, no lookup, no
/// allocation. This is how a layer above Core hangs its state on a <see cref="NetNamespace"/>
/// without Core naming it.
/// <remarks>Mirrors include/net/net_namespace.h: struct pernet_operations (init, exit, id) and
/// net/core/net_namespace.c: net_generic() / net_assign_generic().</remarks>
/// </summary>
public abstract class PernetOperations
{
    /// <summary>The net_generic slot of this subsystem, assigned by registration (-1 before).</summary>
    public int Id { get; internal set; } = -1;

    /// <summary>A name for diagnostics ("inet", "tcp", "loopback").</summary>
    public abstract string Name { get; }

    /// <summary>Sets the subsystem up in <paramref name="net"/>. Called with the stack lock held, in registration order.</summary>
    /// <remarks>pernet_operations.init.</remarks>
    public abstract void Init(NetNamespace net);

    /// <summary>Tears it down. Called in reverse registration order when the namespace is disposed.</summary>
    /// <remarks>pernet_operations.exit.</remarks>
    public virtual void Exit(NetNamespace net) { }

    /// <summary>The subsystem's <see cref="Name"/>.</summary>
    public override string ToString() => Name;
}

/// <summary>The netdevice notifier events this stack raises (include/linux/netdevice.h: enum netdev_cmd).</summary>
internal enum NetdevEvent
{
    /// <summary>NETDEV_UP: the device was brought up.</summary>
    Up = 1,
    /// <summary>NETDEV_DOWN.</summary>
    Down = 2,
}

/// <summary>
/// A listener for device events in one namespace (inetdev_event, arp_netdev_event...).
/// <remarks>Mirrors include/linux/notifier.h: struct notifier_block, registered with
/// register_netdevice_notifier_net().</remarks>
/// </summary>
internal abstract class NetdevNotifier
{
    /// <remarks>notifier_block.notifier_call.</remarks>
    public abstract void NotifierCall(NetdevEvent ev, NetDevice dev);
}
