using System.Net;
using NetStack.Core;
using NetStack.Ipv4;
using NetStack.Net;

namespace NetStack.Api;

/// <summary>
/// One open socket of a stack as `ss` would list it: a copy taken under the stack lock, safe to
/// keep and read on any thread.
/// </summary>
/// <param name="Fd">The descriptor in the stack's default descriptor table.</param>
/// <param name="Protocol">The protocol's name as /proc/net/protocols gives it ("TCP", "UDP", "PING", "RAW").</param>
/// <param name="State">sk_state, numbered as Linux numbers it (a UDP socket is Close until connected).</param>
/// <param name="LocalEndPoint">The bound address and port (0.0.0.0:0 when unbound).</param>
/// <param name="RemoteEndPoint">The peer, or null when there is none.</param>
/// <param name="ReceiveQueue">Bytes charged to the receive queue (Recv-Q).</param>
/// <param name="SendQueue">Bytes queued to send and not yet acknowledged (Send-Q).</param>
public sealed record SocketInfo(int Fd, string Protocol, TcpState State, IPEndPoint LocalEndPoint, IPEndPoint? RemoteEndPoint,
    int ReceiveQueue, int SendQueue)
{
    /// <summary>TCP_INFO and the congestion control of a TCP socket (`ss -ti`); null for other protocols.</summary>
    public TcpInfo? TcpInfo { get; init; }
}

/// <summary>One device of a stack as `ip addr` would list it.</summary>
/// <param name="Name">The interface name ("lo", "tap0").</param>
/// <param name="IfIndex">The interface index (lo is 1).</param>
/// <param name="Address">The IPv4 address, or null when it has none.</param>
/// <param name="PrefixLength">The address's prefix length.</param>
/// <param name="Mtu">The MTU.</param>
/// <param name="IsUp">Whether the device is up.</param>
public sealed record InterfaceInfo(string Name, int IfIndex, IPAddress? Address, int PrefixLength, int Mtu, bool IsUp);

/// <summary>Read-only views of a running stack for status pages and tools, taken under its lock.</summary>
public static class NetStackInfo
{
    /// <summary>The open sockets of <paramref name="net"/>'s default descriptor table (<see cref="NetNamespace"/>'s Files), by descriptor.</summary>
    public static IReadOnlyList<SocketInfo> GetSockets(NetNamespace net)
    {
        ArgumentNullException.ThrowIfNull(net);
        var list = new List<SocketInfo>();
        lock (net.SyncRoot)
        {
            foreach (var (fd, sock) in net.Files.Enumerate())
            {
                if (sock.Sk is not InetSock sk) continue;
                uint local = sk.InetRcvSaddr != 0 ? sk.InetRcvSaddr : sk.InetSaddr;
                var remote = sk.InetDaddr == 0 && sk.InetDport == 0 ? null : new IPEndPoint(SocketConvert.ToIPAddress(sk.InetDaddr), sk.InetDport);
                list.Add(new SocketInfo(fd, sk.Prot?.Name ?? "?", sk.State,
                    new IPEndPoint(SocketConvert.ToIPAddress(local), sk.InetNum), remote, sk.RmemAlloc, sk.WmemQueued)
                {
                    TcpInfo = sk is TcpSock tp ? Api.TcpInfo.Get(tp) : null,
                });
            }
        }
        return list;
    }

    /// <summary>TCP_INFO of the TCP socket behind descriptor <paramref name="fd"/> of <paramref name="net"/>'s default descriptor table, or null when it is not one.</summary>
    public static TcpInfo? GetTcpInfo(NetNamespace net, int fd)
    {
        ArgumentNullException.ThrowIfNull(net);
        lock (net.SyncRoot)
            return net.Files.Lookup(fd)?.Sk is TcpSock tp ? TcpInfo.Get(tp) : null;
    }

    /// <summary>The devices of <paramref name="net"/> with their addresses, by interface index.</summary>
    public static IReadOnlyList<InterfaceInfo> GetInterfaces(NetNamespace net)
    {
        ArgumentNullException.ThrowIfNull(net);
        var list = new List<InterfaceInfo>();
        lock (net.SyncRoot)
            foreach (var d in net.Devices)
                list.Add(new InterfaceInfo(d.Name, d.IfIndex, d.Ipv4Address == 0 ? null : SocketConvert.ToIPAddress(d.Ipv4Address),
                    d.Ipv4PrefixLen, d.Mtu, d.IsUp));
        return list;
    }
}
