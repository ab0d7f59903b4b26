namespace NetStack.Tests.Tcp;

/// <summary>
/// Tests that register a congestion control in the process-wide list (tcp_register_congestion_control
/// is global in Linux too) or read that list (tcp_available_congestion_control) run one after another:
/// run in parallel, one would see the other's "oops_after20" in the available list.
/// </summary>
[CollectionDefinition(Name)]
public sealed class CongestionRegistryCollection
{
    /// <summary>The collection's name.</summary>
    public const string Name = "process-wide congestion-control registry";
}
