using System.Runtime.CompilerServices;

namespace NetStack.PeerTests;

/// <summary>
/// Every stack this test assembly creates (in-process, and the netstack processes it starts, which inherit the environment) runs with kernel.panic_on_oops = 1 (Core/Panic.cs): an
/// exception inside the stack propagates to the test as it did before faults were contained, so a
/// bug of the stack still fails the test that hits it instead of being counted and logged. The
/// fault-containment tests set the sysctl back to 0 on the stacks they fault on purpose.
/// </summary>
internal static class PanicOnOops
{
#pragma warning disable CA2255 // The assembly's "kernel command line": set before any test creates a stack.
    [ModuleInitializer]
#pragma warning restore CA2255
    internal static void Init() => Environment.SetEnvironmentVariable("NETSTACK_PANIC_ON_OOPS", "1");
}
