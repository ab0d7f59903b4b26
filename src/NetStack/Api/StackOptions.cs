using NetStack.Net;
using NetStack.Wire;

namespace NetStack.Api;

/// <summary>
/// What <see cref="NetStackHost"/> needs to bring a stack up on a TAP: where the TAP is, the
/// stack's own address, MAC and default route, and an optional capture file. The defaults match
/// setup-tap.sh: namespace "netstack", TAP "tap0", kernel at 10.7.0.1/24, stack at 10.7.0.2/24.
/// Addresses are host-order uints, as everywhere in the stack.
/// </summary>
public sealed class StackOptions
{
    public const string DefaultNamespace = "netstack";
    public const string DefaultTap = "tap0";
    public static readonly uint DefaultAddress = Ipv4Address.Parse("10.7.0.2");
    public const int DefaultPrefixLen = 24;
    public static readonly uint DefaultGateway = Ipv4Address.Parse("10.7.0.1");
    /// <summary>Locally administered (bit 1 of the first octet), unicast; the last four octets echo 10.7.0.2.</summary>
    public static readonly MacAddress DefaultMac = MacAddress.Parse("02:00:0a:07:00:02");

    /// <summary>The named network namespace holding the TAP (/var/run/netns/NAME); null for the process's own (the --root-ns case, for users only).</summary>
    public string? Namespace { get; set; } = DefaultNamespace;
    /// <summary>The TAP interface's name.</summary>
    public string Tap { get; set; } = DefaultTap;
    /// <summary>Create the TAP when it does not exist (it then lives only as long as the stack).</summary>
    public bool CreateTapIfMissing { get; set; }
    /// <summary>The stack's IPv4 address, host order.</summary>
    public uint Address { get; set; } = DefaultAddress;
    public int PrefixLen { get; set; } = DefaultPrefixLen;
    /// <summary>The default route's gateway, host order; 0 for no default route.</summary>
    public uint Gateway { get; set; } = DefaultGateway;
    /// <summary>The stack's Ethernet address.</summary>
    public MacAddress Mac { get; set; } = DefaultMac;
    /// <summary>Write every frame the device sees to this pcap file; null for none.</summary>
    public string? PcapPath { get; set; }
    /// <summary>A fault-injection spec ("loss=5%,dup=1%,reorder=2%,seed=7", see <see cref="Drivers.FaultSpec"/>) for the TAP device; null for none.</summary>
    public string? Fault { get; set; }
    /// <summary>Microseconds the TAP's receive thread spins before sleeping (net.core.busy_poll); 0 never spins.</summary>
    public int BusyPollUs { get; set; }

    /// <summary>The kernel's conventional address on the same subnet: the first host (.1), or 0 if that is ours.</summary>
    public static uint FirstHost(uint address, int prefixLen)
    {
        if (prefixLen >= 31) return 0;
        uint first = (address & Ipv4Address.PrefixMask(prefixLen)) + 1;
        return first == address ? 0 : first;
    }

    /// <summary>Checks the options are usable together; throws <see cref="NetStackException"/> (EINVAL) with a one-line reason.</summary>
    public void Validate()
    {
        if (PrefixLen is < 1 or > 32) throw new NetStackException(Errno.EINVAL, $"bad prefix length /{PrefixLen}");
        if (BusyPollUs is < 0 or > 1_000_000) throw new NetStackException(Errno.EINVAL, $"bad busy-poll {BusyPollUs} us: 0 to 1000000");
        uint a = Address, mask = Ipv4Address.PrefixMask(PrefixLen);
        if (a == 0 || Ipv4Address.IsMulticast(a) || Ipv4Address.IsLoopback(a) || Ipv4Address.IsZeroNet(a) || a == Ipv4Address.Broadcast)
            throw new NetStackException(Errno.EINVAL, $"bad address {Ipv4Address.Format(a)}: not a unicast host address");
        if (PrefixLen < 31 && ((a & ~mask) == 0 || (a | mask) == Ipv4Address.Broadcast))
            throw new NetStackException(Errno.EINVAL, $"bad address {Ipv4Address.Format(a)}/{PrefixLen}: that is the subnet's network or broadcast address");
        if (Gateway != 0)
        {
            if ((Gateway & mask) != (a & mask))
                throw new NetStackException(Errno.EINVAL, $"gateway {Ipv4Address.Format(Gateway)} is not on {Ipv4Address.Format(a & mask)}/{PrefixLen}");
            if (Gateway == a)
                throw new NetStackException(Errno.EINVAL, $"gateway {Ipv4Address.Format(Gateway)} is the stack's own address");
        }
        if (Fault is not null && !Drivers.FaultSpec.TryParse(Fault, out _, out string faultError))
            throw new NetStackException(Errno.EINVAL, $"bad fault spec '{Fault}': {faultError}");
        if (Mac.IsMulticast || Mac.IsZero)
            throw new NetStackException(Errno.EINVAL, $"bad MAC address {Mac}: must be unicast and non-zero");
    }
}
