using NetStack.Core;

namespace NetStack.Net;

/// <summary>
/// A protocol family's entry in net_families[]: its number and its create function
/// (inet_create for PF_INET). Registered with <see cref="SocketCalls.SockRegister"/>.
/// <remarks>Mirrors include/linux/net.h: struct net_proto_family.</remarks>
/// </summary>
public abstract class NetProtoFamily
{
    /// <summary>->family: PF_INET...</summary>
    public abstract int Family { get; }

    /// <summary>
    /// ->create(net, sock, protocol, kern): set sock.Ops and attach a sock, or return a negative
    /// errno. <paramref name="caller"/> carries the caller's capabilities (the cred of current).
    /// </summary>
    public abstract int Create(NetNamespace net, BsdSocket sock, int protocol, bool kern, FdTable caller);
}
