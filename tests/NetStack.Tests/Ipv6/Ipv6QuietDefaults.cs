using System.Runtime.CompilerServices;
using NetStack.Core;
using NetStack.Ipv6;

namespace NetStack.Tests.Ipv6;

/// <summary>
/// Unit-test stacks start IPv6-quiet: no duplicate address detection (addresses valid at once), no
/// router solicitations, no MLD reports, so tests that script every frame see only their own. The
/// test assembly registers pernet operations after IPv6's (as a module would), which set the
/// sysctls in each new namespace before any device comes up. Tests of address configuration turn
/// Linux's behaviour back on (<c>Sysctl.LinuxAddrconfDefaults()</c>, in OneStack's beforeUp).
/// </summary>
internal sealed class Ipv6QuietDefaults : PernetOperations
{
    private static readonly Ipv6QuietDefaults Instance = new();

    public override string Name => "tests: ipv6 quiet";

    public override void Init(NetNamespace net)
    {
        var s = net.Ipv6.Sysctl;
        s.AcceptDad = 0;
        s.RtrSolicits = 0;
        s.MldReports = false;
    }

#pragma warning disable CA2255 // registered before any test makes a namespace
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Register() => NetNamespace.RegisterPernetSubsys(Instance);
}
