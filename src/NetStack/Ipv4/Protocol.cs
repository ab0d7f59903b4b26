using NetStack.Core;

namespace NetStack.Ipv4;

/// <summary>
/// The handler of one IP protocol number, registered in inet_protos[] with
/// <see cref="NetNamespaceIpv4.extension(NetNamespace).InetAddProtocol(NetProtocol, int)"/>.
/// <remarks>Mirrors include/net/protocol.h: struct net_protocol.</remarks>
/// </summary>
public sealed class NetProtocol
{
    /// <summary>A protocol handler made of its receive and (optional) ICMP error functions.</summary>
    /// <param name="handler">The receive function (net_protocol.handler); see <see cref="Handler"/>.</param>
    /// <param name="errHandler">The ICMP error function (net_protocol.err_handler), or null; see <see cref="ErrHandler"/>.</param>
    public NetProtocol(Func<SkBuff, int> handler, Action<SkBuff, uint>? errHandler = null)
    {
        Handler = handler;
        ErrHandler = errHandler;
    }

    /// <summary>
    /// Receives a packet addressed to us. On entry skb.Data is at the transport header,
    /// skb.NetworkHeader at the IP header, skb.Saddr/Daddr are set. Takes ownership of the buffer.
    /// Returns 0, or a negative value to ask IP for ICMP protocol unreachable (the kernel's
    /// convention of a positive return resubmitting is not used).
    /// </summary>
    public Func<SkBuff, int> Handler { get; }

    /// <summary>
    /// ICMP error for a packet of this protocol that we sent. skb.Data is at the quoted (inner)
    /// IP header, skb.TransportHeader at the ICMP header (type and code); info is the ICMP
    /// "rest of header" (e.g. the next-hop MTU). Does not own the buffer.
    /// </summary>
    public Action<SkBuff, uint>? ErrHandler { get; }
}
