using NetStack.Core;

namespace NetStack.Ipv4;

/// <summary>
/// The per-device IPv4 settings (net.ipv4.conf.{all,default,DEV}.*) and what writing them does.
/// <remarks>Mirrors net/ipv4/devinet.c: inetdev_init(), devinet_sysctl_register(), devinet_sysctl_forward(), inet_forward_change().</remarks>
/// </summary>
internal static class Devinet
{
    /// <summary>
    /// Gives a device its IPv4 settings, a copy of conf.default, and registers net.ipv4.conf.DEV.*;
    /// once per device (the first NETDEV_UP here; NETDEV_REGISTER in Linux).
    /// </summary>
    /// <remarks>Mirrors inetdev_init(): memcpy(&amp;in_dev->cnf, devconf_dflt) + devinet_sysctl_register().</remarks>
    public static void InetdevInit(NetNamespace net, NetDevice dev)
    {
        if (dev.Ipv4CnfInit) return;
        dev.Ipv4CnfInit = true;
        dev.Ipv4Cnf = net.Ipv4.Sysctl.DevconfDflt.Clone();
        DevinetSysctlRegister(net, dev.Name, () => dev.Ipv4Cnf, null);
    }

    /// <summary>Registers conf.all and conf.default (from the namespace's IPv4 sysctl init).</summary>
    public static void DevinetInitNet(NetNamespace net)
    {
        var s = net.Ipv4.Sysctl;
        DevinetSysctlRegister(net, "all", () => s.DevconfAll, on => InetForwardChange(net, on));
        DevinetSysctlRegister(net, "default", () => s.DevconfDflt, null);
    }

    /// <param name="net">The namespace.</param>
    /// <param name="name">all, default or the device's name.</param>
    /// <param name="cnf">The settings the entries read and write.</param>
    /// <param name="forward">What writing forwarding does instead of setting it (all: <see cref="InetForwardChange"/>).</param>
    private static void DevinetSysctlRegister(NetNamespace net, string name, Func<Ipv4Devconf> cnf, Action<bool>? forward)
    {
        net.Sysctl.RegisterNetSysctl($"net/ipv4/conf/{name}",
        [
            // devinet_sysctl_forward(): a change of conf.all.forwarding is inet_forward_change(); a
            // device's or default's is just stored.
            CtlTable.Bool("forwarding", () => cnf().Forwarding, v =>
            {
                if (forward is not null) { if (v != cnf().Forwarding) forward(v); }
                else cnf().Forwarding = v;
            }),
            CtlTable.Bool("send_redirects", () => cnf().SendRedirects, v => cnf().SendRedirects = v),
        ]);
    }

    /// <summary>
    /// net.ipv4.ip_forward or conf.all.forwarding written: all, default and every device take the
    /// new value (and the Ip MIB's Forwarding reads 1, "forwarding", or 2, "not forwarding").
    /// </summary>
    /// <remarks>Mirrors inet_forward_change() (it also flips conf.all.accept_redirects, which this
    /// stack does not have: it never acts on a received redirect).</remarks>
    public static void InetForwardChange(NetNamespace net, bool on)
    {
        var s = net.Ipv4.Sysctl;
        s.DevconfAll.Forwarding = on;
        s.DevconfDflt.Forwarding = on;
        foreach (var dev in net.Devices) dev.Ipv4Cnf.Forwarding = on;
        net.Mib.Ip[IpMib.Forwarding] = on ? 1 : 2;
    }

    /// <summary>IN_DEV_FORWARD(in_dev): the arrival device forwards.</summary>
    public static bool InDevForward(NetDevice dev) => dev.Ipv4Cnf.Forwarding;

    /// <summary>IN_DEV_TX_REDIRECTS(in_dev): the device's send_redirects or all's (IN_DEV_ORCONF).</summary>
    public static bool InDevTxRedirects(NetNamespace net, NetDevice dev) =>
        dev.Ipv4Cnf.SendRedirects || net.Ipv4.Sysctl.DevconfAll.SendRedirects;
}
