using System.Net;
using NetStack.Net;
using NetStack.Wire;

namespace NetStack.Api;

/// <summary>
/// One more TAP for a stack beside the one <see cref="StackOptions"/> names (a router has one per
/// link): where the TAP is, the stack's address on it, and its MAC. Added through
/// <see cref="StackOptions.MoreInterfaces"/>; the connected route of its subnet comes with the address.
/// </summary>
public sealed class StackInterface
{
    /// <summary>The named network namespace holding the TAP; null for the process's own.</summary>
    public string? Namespace { get; set; }
    /// <summary>The TAP interface's name; also the device's name in the stack, so it must differ from the stack's other devices.</summary>
    public string Tap { get; set; } = "";
    /// <summary>The stack's IPv4 address on this link.</summary>
    public IPAddress Address { get; set; } = IPAddress.None;
    /// <summary>The prefix length of the link's subnet.</summary>
    public int PrefixLen { get; set; } = StackOptions.DefaultPrefixLen;
    /// <summary>The stack's Ethernet address on this link; null for 02:00 followed by the four octets of <see cref="Address"/>.</summary>
    public MacAddress? Mac { get; set; }

    /// <summary>The address in host order.</summary>
    internal uint AddressValue => SocketConvert.ToUInt32(Address);

    /// <summary>The MAC used: <see cref="Mac"/>, or the one derived from the address (locally administered, unicast).</summary>
    public MacAddress EffectiveMac => Mac ?? new MacAddress(0x0200_0000_0000UL | AddressValue);

    /// <summary>"tap1 10.8.0.2/24 in netns r2".</summary>
    public override string ToString() => $"{Tap} {Address}/{PrefixLen}" + (Namespace is null ? "" : $" in netns {Namespace}");

    /// <summary>Checks the interface on its own; throws <see cref="NetStackException"/> (EINVAL) with a one-line reason.</summary>
    internal void Validate()
    {
        if (string.IsNullOrEmpty(Tap) || Tap.Length > 15) throw new NetStackException(Errno.EINVAL, $"bad TAP name '{Tap}'");
        if (PrefixLen is < 1 or > 32) throw new NetStackException(Errno.EINVAL, $"bad prefix length /{PrefixLen} on {Tap}");
        if (Address is null || Address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
            throw new NetStackException(Errno.EINVAL, $"bad address {Address?.ToString() ?? "(none)"} on {Tap}: an IPv4 address is needed");
        uint a = AddressValue, mask = Ipv4Address.PrefixMask(PrefixLen);
        if (a == 0 || Ipv4Address.IsMulticast(a) || Ipv4Address.IsLoopback(a) || Ipv4Address.IsZeroNet(a) || a == Ipv4Address.Broadcast)
            throw new NetStackException(Errno.EINVAL, $"bad address {Ipv4Address.Format(a)} on {Tap}: not a unicast host address");
        if (PrefixLen < 31 && ((a & ~mask) == 0 || (a | mask) == Ipv4Address.Broadcast))
            throw new NetStackException(Errno.EINVAL, $"bad address {Ipv4Address.Format(a)}/{PrefixLen} on {Tap}: that is the subnet's network or broadcast address");
        if (EffectiveMac.IsMulticast || EffectiveMac.IsZero)
            throw new NetStackException(Errno.EINVAL, $"bad MAC address {EffectiveMac} on {Tap}: must be unicast and non-zero");
    }
}
