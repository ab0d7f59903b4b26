using System.Reflection;
using System.Runtime.CompilerServices;

namespace NetStack.Tests.Architecture;

/// <summary>
/// The assemblies point one way too: the stack (NetStack) &lt;- NetStack.AspNetCore &lt;- NetStack.Services
/// &lt;- the tools; the simulator (NetStack.Sim) on the stack's public API, the plots (NetStack.Plot) on
/// neither. Only the tests and the CLI (the repl's raw system calls) see the stack's internals,
/// so everything else is held by the compiler to the public API.
/// </summary>
public class AssemblyTests
{
    private static readonly Assembly Stack = typeof(NetStack.Core.NetNamespace).Assembly;
    private static readonly Assembly AspNetCore = typeof(NetStack.AspNetCore.NetStackHttp).Assembly;
    private static readonly Assembly Services = typeof(NetStack.Services.ServiceHost).Assembly;

    private static string[] References(Assembly a) => a.GetReferencedAssemblies().Select(n => n.Name!).ToArray();

    [Fact]
    public void TheStack_ReferencesOnlyTheFramework()
    {
        var foreign = References(Stack).Where(n => !(n.StartsWith("System", StringComparison.Ordinal) || n is "netstandard" or "mscorlib")).ToList();
        Assert.True(foreign.Count == 0, "the stack's assembly references: " + string.Join(", ", foreign));
    }

    [Fact]
    public void ServicesAndTools_AreOutsideTheStack()
    {
        var inside = Stack.GetTypes().Select(t => t.Namespace ?? "")
            .Where(ns => ns.StartsWith("NetStack.Services", StringComparison.Ordinal) || ns.StartsWith("NetStack.Cli", StringComparison.Ordinal)
                         || ns.StartsWith("NetStack.AspNetCore", StringComparison.Ordinal))
            .Distinct().ToList();
        Assert.True(inside.Count == 0, "namespaces that belong outside the stack: " + string.Join(", ", inside));
        Assert.DoesNotContain(References(AspNetCore), n => n is "NetStack.Services" or "NetStack.Cli");
        Assert.DoesNotContain(References(Services), n => n is "NetStack.Cli");
    }

    [Fact]
    public void TheControlPlane_UsesOnlyTheStacksPublicApi_AndNoTool()
    {
        var control = typeof(NetStack.Control.ControlServer).Assembly;
        Assert.Equal(["NetStack"], References(control).Where(n => n.StartsWith("NetStack", StringComparison.Ordinal)).ToArray());
        Assert.DoesNotContain("NetStack.Control", Stack.GetCustomAttributes<InternalsVisibleToAttribute>().Select(a => a.AssemblyName));
    }

    [Fact]
    public void TheSimulator_UsesOnlyTheStacksPublicApi_AndThePlotsNoStackAtAll()
    {
        // The simulator drives stacks through the public API (NetNamespace, NetDevice, SocketCalls, TcpInfo);
        // the plots read CSV files and know nothing of the stack; neither is inside the stack's assembly.
        var sim = typeof(NetStack.Sim.Simulator).Assembly;
        var plot = typeof(NetStack.Plot.Charts).Assembly;
        Assert.Equal(["NetStack"], References(sim).Where(n => n.StartsWith("NetStack", StringComparison.Ordinal)).ToArray());
        Assert.DoesNotContain(References(plot), n => n.StartsWith("NetStack", StringComparison.Ordinal));
        Assert.DoesNotContain(Stack.GetTypes(), t => (t.Namespace ?? "").StartsWith("NetStack.Sim", StringComparison.Ordinal) || (t.Namespace ?? "").StartsWith("NetStack.Plot", StringComparison.Ordinal));
    }

    [Fact]
    public void OnlyTheTestsTheBenchmarksAndTheCli_SeeTheInternals_AndEachFriendExists()
    {
        // The microbenchmarks measure internal building blocks (the checksum, header views, the skb pool).
        var friends = Stack.GetCustomAttributes<InternalsVisibleToAttribute>().Select(a => a.AssemblyName).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(["NetStack.Benchmarks", "NetStack.Cli", "NetStack.PeerTests", "NetStack.Tests"], friends);
        // A stale entry (a friend no project builds) is the defect this guards against.
        string root = RepoRoot();
        var projects = Directory.EnumerateFiles(root, "*.csproj", SearchOption.AllDirectories)
            .Where(p => !p.Contains("/obj/", StringComparison.Ordinal) && !p.Contains("/bin/", StringComparison.Ordinal))
            .Select(p => AssemblyNameOf(p)).ToHashSet();
        Assert.All(friends, f => Assert.Contains(f, projects));
    }

    private static string AssemblyNameOf(string csproj)
    {
        var m = System.Text.RegularExpressions.Regex.Match(File.ReadAllText(csproj), "<AssemblyName>([^<]+)</AssemblyName>");
        return m.Success ? m.Groups[1].Value : Path.GetFileNameWithoutExtension(csproj);
    }

    private static string RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "NetStack.sln"))) return d.FullName;
        throw new InvalidOperationException("NetStack.sln not found above " + AppContext.BaseDirectory);
    }
}
