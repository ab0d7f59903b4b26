using System.Runtime.CompilerServices;
using NetStack.Ipv6;

namespace NetStack.Tests.Ipv6;

/// <summary>
/// Unit-test stacks start IPv6-quiet: no duplicate address detection (addresses valid at once), no
/// router solicitations, no MLD reports, so tests that script every frame see only their own.
/// Tests of address configuration turn Linux's behaviour back on (<c>Sysctl.LinuxAddrconfDefaults()</c>).
/// </summary>
internal static class Ipv6QuietDefaults
{
#pragma warning disable CA2255 // the assembly's test defaults must be in place before any stack is made
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Init() => Ipv6Sysctl.InitialValues = s =>
    {
        s.AcceptDad = 0;
        s.RtrSolicits = 0;
        s.MldReports = false;
    };
}
