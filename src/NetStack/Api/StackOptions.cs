using System.Net;
using NetStack.Net;
using NetStack.Wire;

namespace NetStack.Api;

/// <summary>
/// What <see cref="NetStackHost"/> needs to bring a stack up on a TAP: where the TAP is, the
/// stack's own address, MAC and default route, and an optional capture file. The defaults match
/// setup-tap.sh: namespace "netstack", TAP "tap0", kernel at 10.7.0.1/24, stack at 10.7.0.2/24.
/// </summary>
public sealed class StackOptions
{
    /// <summary>"netstack", the network namespace setup-tap.sh creates.</summary>
    public const string DefaultNamespace = "netstack";
    /// <summary>"tap0", the TAP setup-tap.sh creates.</summary>
    public const string DefaultTap = "tap0";
    /// <summary>10.7.0.2, the stack's address in setup-tap.sh's subnet.</summary>
    public static readonly IPAddress DefaultAddress = IPAddress.Parse("10.7.0.2");
    /// <summary>24, the prefix length of setup-tap.sh's 10.7.0.0/24.</summary>
    public const int DefaultPrefixLen = 24;
    /// <summary>10.7.0.1, the kernel's side of the TAP.</summary>
    public static readonly IPAddress DefaultGateway = IPAddress.Parse("10.7.0.1");
    /// <summary>Locally administered (bit 1 of the first octet), unicast; the last four octets echo 10.7.0.2.</summary>
    public static readonly MacAddress DefaultMac = MacAddress.Parse("02:00:0a:07:00:02");

    /// <summary>The named network namespace holding the TAP (/var/run/netns/NAME); null for the process's own (the --root-ns case, for users only).</summary>
    public string? Namespace { get; set; } = DefaultNamespace;
    /// <summary>The TAP interface's name.</summary>
    public string Tap { get; set; } = DefaultTap;
    /// <summary>Create the TAP when it does not exist (it then lives only as long as the stack).</summary>
    public bool CreateTapIfMissing { get; set; }
    /// <summary>
    /// Open the TAP with a vnet header and take checksum and TCPv4 segmentation offloads: the
    /// kernel then hands the stack TCP super-frames of up to 64 KiB (off by default).
    /// </summary>
    public bool Offload { get; set; }
    /// <summary>The stack's IPv4 address.</summary>
    public IPAddress Address { get; set; } = DefaultAddress;
    /// <summary>The address in host order, as the stack keeps it.</summary>
    internal uint AddressValue => SocketConvert.ToUInt32(Address);
    /// <summary>The prefix length of <see cref="Address"/>'s subnet (the connected route).</summary>
    public int PrefixLen { get; set; } = DefaultPrefixLen;
    /// <summary>The default route's gateway; null for no default route.</summary>
    public IPAddress? Gateway { get; set; } = DefaultGateway;
    /// <summary>The gateway in host order, 0 for none.</summary>
    internal uint GatewayValue => Gateway is null ? 0 : SocketConvert.ToUInt32(Gateway);
    /// <summary>
    /// A static IPv6 address for the stack besides the link-local one it always makes from its MAC
    /// (`ip -6 addr add ADDRESS/PREFIX`); null for none.
    /// </summary>
    public IPAddress? Ipv6Address { get; set; }
    /// <summary>The prefix length of <see cref="Ipv6Address"/> (its on-link prefix route).</summary>
    public int Ipv6PrefixLen { get; set; } = 64;
    /// <summary>The stack's Ethernet address.</summary>
    public MacAddress Mac { get; set; } = DefaultMac;
    /// <summary>Write every frame the device sees to this pcap file; null for none.</summary>
    public string? PcapPath { get; set; }
    /// <summary>A fault-injection spec ("loss=5%,dup=1%,reorder=2%,seed=7", see <see cref="Drivers.FaultSpec"/>) for the TAP device; null for none.</summary>
    public string? Fault { get; set; }
    /// <summary>Microseconds the TAP's receive thread spins before sleeping (net.core.busy_poll); 0 never spins.</summary>
    public int BusyPollUs { get; set; }
    /// <summary>
    /// Send the frames of a round (a system call, a receive batch, a timer run) after its first
    /// through the TAP's io_uring transmit ring, up to 8 frames per io_uring_enter(), instead of
    /// one write() each (on by default: in interleaved A/B runs it sent 7-29% faster, with
    /// request/response, connect + close and receiving unchanged within 2%; false writes every
    /// frame with write(); when io_uring is unavailable the device falls back to write() by
    /// itself, counted and logged).
    /// </summary>
    public bool TransmitRing { get; set; } = true;
    /// <summary>
    /// Further TAPs the stack attaches besides <see cref="Tap"/>, each with its own address and
    /// subnet (a router's other links). Empty by default.
    /// </summary>
    public IList<StackInterface> MoreInterfaces { get; } = new List<StackInterface>();
    /// <summary>Start with net.ipv4.ip_forward = 1: packets for other hosts are routed between the stack's devices.</summary>
    public bool Forwarding { get; set; }

    /// <summary>The kernel's conventional address on the same subnet: the first host (.1), or 0 if that is ours.</summary>
    public static IPAddress? FirstHost(IPAddress address, int prefixLen)
    {
        uint a = SocketConvert.ToUInt32(address);
        if (prefixLen is < 1 or >= 31) return null;
        uint first = (a & Ipv4Address.PrefixMask(prefixLen)) + 1;
        return first == a ? null : SocketConvert.ToIPAddress(first);
    }

    /// <summary>Checks the options are usable together; throws <see cref="NetStackException"/> (EINVAL) with a one-line reason.</summary>
    public void Validate()
    {
        if (PrefixLen is < 1 or > 32) throw new NetStackException(Errno.EINVAL, $"bad prefix length /{PrefixLen}");
        if (BusyPollUs is < 0 or > 1_000_000) throw new NetStackException(Errno.EINVAL, $"bad busy-poll {BusyPollUs} us: 0 to 1000000");
        if (Address is null || Address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
            throw new NetStackException(Errno.EINVAL, $"bad address {Address?.ToString() ?? "(none)"}: an IPv4 address is needed");
        if (Gateway is not null && Gateway.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
            throw new NetStackException(Errno.EINVAL, $"bad gateway {Gateway}: an IPv4 address is needed");
        uint a = AddressValue, mask = Ipv4Address.PrefixMask(PrefixLen), gw = GatewayValue;
        if (a == 0 || Ipv4Address.IsMulticast(a) || Ipv4Address.IsLoopback(a) || Ipv4Address.IsZeroNet(a) || a == Ipv4Address.Broadcast)
            throw new NetStackException(Errno.EINVAL, $"bad address {Ipv4Address.Format(a)}: not a unicast host address");
        if (PrefixLen < 31 && ((a & ~mask) == 0 || (a | mask) == Ipv4Address.Broadcast))
            throw new NetStackException(Errno.EINVAL, $"bad address {Ipv4Address.Format(a)}/{PrefixLen}: that is the subnet's network or broadcast address");
        if (gw != 0)
        {
            if ((gw & mask) != (a & mask))
                throw new NetStackException(Errno.EINVAL, $"gateway {Gateway} is not on {Ipv4Address.Format(a & mask)}/{PrefixLen}");
            if (gw == a)
                throw new NetStackException(Errno.EINVAL, $"gateway {Gateway} is the stack's own address");
        }
        if (Fault is not null && !Drivers.FaultSpec.TryParse(Fault, out _, out string faultError))
            throw new NetStackException(Errno.EINVAL, $"bad fault spec '{Fault}': {faultError}");
        if (Mac.IsMulticast || Mac.IsZero)
            throw new NetStackException(Errno.EINVAL, $"bad MAC address {Mac}: must be unicast and non-zero");
        var names = new HashSet<string>(StringComparer.Ordinal) { Tap };
        var addresses = new HashSet<uint> { a };
        foreach (var i in MoreInterfaces)
        {
            if (i is null) throw new NetStackException(Errno.EINVAL, "a null entry in MoreInterfaces");
            i.Validate();
            if (!names.Add(i.Tap)) throw new NetStackException(Errno.EINVAL, $"two interfaces named {i.Tap}: the stack's devices need distinct names");
            if (!addresses.Add(i.AddressValue)) throw new NetStackException(Errno.EINVAL, $"address {i.Address} is given twice");
        }
    }
}
