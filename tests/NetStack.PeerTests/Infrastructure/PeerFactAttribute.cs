namespace NetStack.PeerTests;

/// <summary>
/// What a real-peer test needs from the machine: root (network namespaces, TAP devices) and
/// /dev/net/tun. <see cref="SkipReason"/> says which is missing, or is null when the tests can run.
/// </summary>
public static class PeerEnvironment
{
    public static readonly string? SkipReason = Probe();

    private static string? Probe()
    {
        if (!OperatingSystem.IsLinux()) return "real-peer tests need Linux (network namespaces and TAP devices)";
        if (!Environment.IsPrivilegedProcess) return "real-peer tests need root (they create network namespaces and TAP devices); run scripts/test.sh as root";
        if (!File.Exists("/dev/net/tun")) return "real-peer tests need /dev/net/tun (TUN/TAP support in the kernel or container)";
        if (!File.Exists("/usr/sbin/ip") && !File.Exists("/sbin/ip") && !File.Exists("/usr/bin/ip")) return "real-peer tests need the ip command (iproute2)";
        return null;
    }
}

/// <summary>A fact that needs a real Linux peer: skipped, with the reason, when the machine cannot provide one.</summary>
public sealed class PeerFactAttribute : FactAttribute
{
    public PeerFactAttribute()
    {
        if (PeerEnvironment.SkipReason is { } reason) Skip = reason;
    }
}

/// <summary>A theory that needs a real Linux peer: skipped, with the reason, when the machine cannot provide one.</summary>
public sealed class PeerTheoryAttribute : TheoryAttribute
{
    public PeerTheoryAttribute()
    {
        if (PeerEnvironment.SkipReason is { } reason) Skip = reason;
    }
}
