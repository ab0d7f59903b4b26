using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using NetStack.Net;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Api;

/// <summary>
/// Between System.Net's types and the socket ABI's numbers. .NET's enums keep Windows values
/// (AddressFamily.InterNetworkV6 is 23, AF_INET6 is 10 on Linux), so each is mapped, not cast.
/// </summary>
internal static class SocketConvert
{
    public static int Family(AddressFamily family) => family switch
    {
        AddressFamily.Unspecified => AF_UNSPEC,
        AddressFamily.Unix => AF_UNIX,
        AddressFamily.InterNetwork => AF_INET,
        AddressFamily.InterNetworkV6 => AF_INET6,
        AddressFamily.Packet => AF_PACKET,
        // Anything else has no Linux number: out of range, so __sock_create answers EAFNOSUPPORT.
        _ => -1,
    };

    // SocketType and ProtocolType share Linux's numbers for every value Linux has (Stream 1, Dgram 2,
    // Raw 3, Rdm 4, Seqpacket 5; Icmp 1, Tcp 6, Udp 17, IcmpV6 58, Raw 255); Unknown (-1) stays out of
    // range, so inet_create's checks answer as Linux would for a bad number.
    public static int Type(SocketType type) => (int)type;

    public static int Protocol(ProtocolType protocol) => protocol == ProtocolType.Unspecified ? 0 : (int)protocol;

    /// <summary>The flags .NET and Linux number alike (MSG_OOB 1, MSG_PEEK 2, MSG_DONTROUTE 4); the others have no send/recv meaning here.</summary>
    public static int Flags(SocketFlags flags)
    {
        const SocketFlags known = SocketFlags.OutOfBand | SocketFlags.Peek | SocketFlags.DontRoute;
        if ((flags & ~known) != 0)
            throw new NetStackException(Errno.EOPNOTSUPP, $"SocketFlags {flags & ~known} not supported (pass Linux MSG_* flags as an int)");
        return (int)flags;
    }

    /// <summary>The sockaddr an endpoint stands for: AF_INET for IPv4 (and IPv4-mapped IPv6), AF_INET6 otherwise, which an AF_INET socket refuses as Linux does.</summary>
    public static SockAddr ToSockAddr(EndPoint ep) => ToSockAddr(ep, AF_INET);

    /// <summary>
    /// The sockaddr an endpoint stands for on a socket of <paramref name="family"/>: an AF_INET6
    /// socket gets a sockaddr_in6 for every address (an IPv4 one v4-mapped, as a DualMode
    /// System.Net.Sockets.Socket maps it); an AF_INET socket gets a sockaddr_in for IPv4 and
    /// IPv4-mapped addresses, and a sockaddr_in6 for the rest, which it refuses as Linux does.
    /// </summary>
    public static SockAddr ToSockAddr(EndPoint ep, int family)
    {
        ArgumentNullException.ThrowIfNull(ep);
        if (ep is not IPEndPoint ip)
            throw new ArgumentException($"{ep.GetType().Name} is not supported: the stack has no resolver, pass an IPEndPoint", nameof(ep));
        Span<byte> b = stackalloc byte[16];
        ip.Address.TryWriteBytes(b, out int n);
        if (family == AF_INET6)
        {
            if (n == 4) return SockAddr.In6(Wire.Ipv6Address.V4Mapped(BinaryPrimitives.ReadUInt32BigEndian(b)), (ushort)ip.Port);
            return SockAddr.In6(BinaryPrimitives.ReadUInt128BigEndian(b), (ushort)ip.Port, (uint)ip.Address.ScopeId);
        }
        if (n == 4) return SockAddr.In(BinaryPrimitives.ReadUInt32BigEndian(b), (ushort)ip.Port);
        if (ip.Address.IsIPv4MappedToIPv6) return SockAddr.In(BinaryPrimitives.ReadUInt32BigEndian(b[12..]), (ushort)ip.Port);
        return SockAddr.In6(BinaryPrimitives.ReadUInt128BigEndian(b), (ushort)ip.Port, (uint)ip.Address.ScopeId);
    }

    /// <summary>The endpoint of a sockaddr_in or sockaddr_in6 (with its scope id).</summary>
    public static IPEndPoint ToIPEndPoint(in SockAddr sa) =>
        sa.Family == AF_INET6 ? new(ToIPAddress(sa.Addr6, sa.ScopeId), sa.Port) : new(ToIPAddress(sa.Addr), sa.Port);

    /// <summary>An IPv6 address from its host-order value.</summary>
    public static IPAddress ToIPAddress(UInt128 hostOrder, uint scopeId = 0)
    {
        Span<byte> b = stackalloc byte[16];
        BinaryPrimitives.WriteUInt128BigEndian(b, hostOrder);
        return new IPAddress(b, scopeId);
    }

    public static IPAddress ToIPAddress(uint hostOrder)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(b, hostOrder);
        return new IPAddress(b);
    }

    /// <summary>The host-order IPv4 address; ArgumentException for IPv6.</summary>
    public static uint ToUInt32(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        Span<byte> b = stackalloc byte[16];
        if (!address.TryWriteBytes(b, out int n) || n != 4)
            throw new ArgumentException($"{address} is not an IPv4 address", nameof(address));
        return BinaryPrimitives.ReadUInt32BigEndian(b);
    }

    public static bool Equals(IPEndPoint ep, in SockAddr sa)
    {
        if (ep.Port != sa.Port) return false;
        Span<byte> b = stackalloc byte[16];
        if (sa.Family == AF_INET6)
            return ep.AddressFamily == AddressFamily.InterNetworkV6 && ep.Address.TryWriteBytes(b, out _) &&
                BinaryPrimitives.ReadUInt128BigEndian(b) == sa.Addr6 && ep.Address.ScopeId == sa.ScopeId;
        if (ep.AddressFamily != AddressFamily.InterNetwork) return false;
        return ep.Address.TryWriteBytes(b, out _) && BinaryPrimitives.ReadUInt32BigEndian(b) == sa.Addr;
    }
}
