using System.Reflection;
using NetArchTest.Rules;
using NetStack.Ipv4;

namespace NetStack.Tests.Architecture;

/// <summary>
/// The stack's layers point one way (DESIGN.md §8): Uapi/Wire &lt;- Core &lt;- Ethernet &lt;- (Net, Ipv4,
/// Ipv6) &lt;- Drivers &lt;- Api. Ipv4 and Ipv6 are one level, as net/ipv4 and net/ipv6 call each other
/// (inet_sock's pinet6, inet_rcv_saddr_equal, tcp_v6_syn_recv_sock over tcp_v4_syn_recv_sock). NetArchTest reads the IL with Mono.Cecil, so a dependency counts wherever it
/// appears: signatures, fields, base types, attributes, and method bodies (calls, field accesses,
/// casts, locals, fully qualified names, and members of partial classes declared in other folders,
/// which compile into the one type).
/// </summary>
public class LayerTests
{
    private static readonly Assembly Stack = typeof(NetStack.Core.NetNamespace).Assembly;

    private const string Wire = "NetStack.Wire", Uapi = "NetStack.Uapi", Core = "NetStack.Core",
        Ethernet = "NetStack.Ethernet", Net = "NetStack.Net", Ipv4 = "NetStack.Ipv4", Ipv6 = "NetStack.Ipv6",
        Drivers = "NetStack.Drivers", Api = "NetStack.Api", Services = "NetStack.Services";

    /// <summary>Each layer and the layers it must not use (everything above it).</summary>
    public static TheoryData<string, string[]> Rules => new()
    {
        { Wire, [Uapi, Core, Ethernet, Net, Ipv4, Ipv6, Drivers, Api, Services] },
        { Uapi, [Core, Ethernet, Net, Ipv4, Ipv6, Drivers, Api, Services] },
        { Core, [Ethernet, Net, Ipv4, Ipv6, Drivers, Api, Services] },
        { Ethernet, [Net, Ipv4, Ipv6, Drivers, Api, Services] },
        { Net, [Ipv4, Ipv6, Drivers, Api, Services] },
        // IPv6 sits beside IPv4 and uses what Linux shares from net/ipv4 (inet_fragment.c, neighbour
        // tables, the ICMP rate limit); IPv4 names IPv6 only where Linux's net/ipv4 does (dual-stack
        // sockets: inet_rcv_saddr_equal, v4-mapped children of a [::] listener).
        { Ipv4, [Drivers, Api, Services] },
        { Ipv6, [Drivers, Api, Services] },
        { Drivers, [Net, Ipv4, Ipv6, Api, Services] },
    };

    [Theory]
    [MemberData(nameof(Rules))]
    public void LayerDoesNotDependOnHigherLayers(string layer, string[] forbidden)
    {
        var offenders = Offenders(layer, forbidden);
        Assert.True(offenders.Count == 0,
            $"{layer} must not depend on {string.Join(", ", forbidden)}; offending types:\n  " + string.Join("\n  ", offenders));
    }

    [Fact]
    public void EveryStackTypeIsInAKnownLayer()
    {
        string[] known = [Wire, Uapi, Core, Ethernet, Net, Ipv4, Ipv6, Drivers, Api, Services];
        var strays = Stack.GetTypes()
            .Where(t => t.Namespace is { } ns && ns.StartsWith("NetStack", StringComparison.Ordinal) && !known.Contains(ns))
            .Select(t => t.FullName!).ToList();
        Assert.True(strays.Count == 0, "types outside the known layers:\n  " + string.Join("\n  ", strays));
    }

    /// <summary>The types of <paramref name="layer"/> that use a type of one of the forbidden namespaces.</summary>
    internal static List<string> Offenders(string layer, string[] forbidden)
    {
        // A trailing dot, so that "NetStack.Net" does not also match "NetStack.NetX".
        var deps = forbidden;
        var result = Types.InAssembly(Stack).That().ResideInNamespace(layer)
            .ShouldNot().HaveDependencyOnAny(deps).GetResult();
        if (result.IsSuccessful) return [];
        return result.FailingTypes.Select(t => t.FullName + (string.IsNullOrEmpty(t.Explanation) ? "" : " (" + t.Explanation + ")"))
            .Distinct().OrderBy(s => s, StringComparer.Ordinal).ToList();
    }
}

/// <summary>Two namespaces are two hosts: the stack keeps no process-global mutable hooks.</summary>
public class GlobalStateTests
{
    /// <summary>
    /// Static fields that can be reassigned (not readonly, not const) in the stack's layers. Compiler
    /// caches (lambda and delegate caches) are excluded. Registration lists the kernel also keeps
    /// global (pernet_list, tcp_cong_list) are readonly fields.
    /// </summary>
    [Fact]
    public void NoStaticMutableFields()
    {
        const BindingFlags flags = BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly;
        var offenders = typeof(NetStack.Core.NetNamespace).Assembly.GetTypes()
            .Where(t => t.Namespace is { } ns && ns.StartsWith("NetStack.", StringComparison.Ordinal)
                        && ns != "NetStack.Services" && !t.FullName!.Contains('<'))
            .SelectMany(t => t.GetFields(flags).Select(f => (t, f)))
            .Where(x => !x.f.IsInitOnly && !x.f.IsLiteral && !x.f.Name.Contains('<'))
            .Select(x => $"{x.t.FullName}.{x.f.Name}")
            .ToList();
        Assert.True(offenders.Count == 0, "static mutable fields:\n  " + string.Join("\n  ", offenders));
    }

    [Fact]
    public void InputHooksArePerNamespace()
    {
        using var a = new NetStack.Core.NetNamespace("a");
        using var b = new NetStack.Core.NetNamespace("b");
        Assert.NotNull(a.Ipv4.PingRcv);
        a.Ipv4.RawLocalDeliver = null;
        Assert.NotNull(b.Ipv4.RawLocalDeliver);
    }
}
