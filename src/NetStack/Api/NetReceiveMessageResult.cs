using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using NetStack.Uapi;
using static NetStack.Uapi.SocketConstants;

namespace NetStack.Api;

/// <summary>
/// What IP_PKTINFO reports about a received datagram (struct in_pktinfo), the counterpart of
/// <see cref="IPPacketInformation"/> (whose constructor .NET keeps internal) with the kernel's third
/// field. The addresses are made when read, so receiving it allocates nothing.
/// </summary>
public readonly struct NetPacketInformation : IEquatable<NetPacketInformation>
{
    private readonly uint _specDst, _addr;

    /// <summary>The values as recvmsg returns them; addresses in host order.</summary>
    internal NetPacketInformation(int interfaceIndex, uint specificDestination, uint address)
    {
        Interface = interfaceIndex;
        _specDst = specificDestination;
        _addr = address;
    }

    /// <summary>
    /// ipi_ifindex: the interface the datagram arrived on (1 for loopback), as
    /// <see cref="IPPacketInformation.Interface"/>. 0 for a UDP or raw datagram queued while
    /// IP_PKTINFO was off.
    /// </summary>
    public int Interface { get; }

    /// <summary>ipi_addr: the destination address in the datagram's IP header, as <see cref="IPPacketInformation.Address"/>.</summary>
    public IPAddress Address => SocketConvert.ToIPAddress(_addr);

    /// <summary>
    /// ipi_spec_dst: the local address a reply would come from (the destination itself for unicast;
    /// for a broadcast, the preferred source of the route back). 0.0.0.0 on a ping socket, whose
    /// replies Linux never prepares, and for a datagram queued while IP_PKTINFO was off.
    /// </summary>
    public IPAddress SpecificDestination => SocketConvert.ToIPAddress(_specDst);

    /// <inheritdoc/>
    public bool Equals(NetPacketInformation other) => Interface == other.Interface && _specDst == other._specDst && _addr == other._addr;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is NetPacketInformation o && Equals(o);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Interface, _specDst, _addr);

    /// <summary>Whether two values are equal.</summary>
    public static bool operator ==(NetPacketInformation left, NetPacketInformation right) => left.Equals(right);

    /// <summary>Whether two values differ.</summary>
    public static bool operator !=(NetPacketInformation left, NetPacketInformation right) => !left.Equals(right);

    /// <summary>"ifindex 2 spec_dst 10.7.0.2 addr 10.7.0.2".</summary>
    public override string ToString() => $"ifindex {Interface} spec_dst {Wire.Ipv4Address.Format(_specDst)} addr {Wire.Ipv4Address.Format(_addr)}";
}

/// <summary>
/// One datagram received by <see cref="NetSocket.ReceiveMessage(Span{byte}, int)"/> (recvmsg(2)):
/// the byte count, the result flags, the sender, and the SOL_IP control messages the socket asked
/// for (IP_RECVTTL, IP_RECVTOS, IP_PKTINFO, IP_RECVORIGDSTADDR), each null when it did not come.
/// The counterpart of <see cref="SocketReceiveMessageFromResult"/>, with the TTL and TOS Linux adds.
/// </summary>
public readonly struct NetReceiveMessageResult
{
    private readonly uint _origAddr;
    private readonly ushort _origPort;
    private readonly bool _hasOrig;

    private NetReceiveMessageResult(int receivedBytes, int messageFlags, IPEndPoint? remoteEndPoint, int? ttl, byte? tos,
        NetPacketInformation? packetInformation, bool hasOrig, uint origAddr, ushort origPort)
    {
        ReceivedBytes = receivedBytes;
        MessageFlags = messageFlags;
        RemoteEndPoint = remoteEndPoint;
        Ttl = ttl;
        Tos = tos;
        PacketInformation = packetInformation;
        _hasOrig = hasOrig;
        _origAddr = origAddr;
        _origPort = origPort;
    }

    /// <summary>The bytes copied into the buffer (the whole datagram's length when MSG_TRUNC was passed).</summary>
    public int ReceivedBytes { get; }

    /// <summary>msg_flags, Linux's numbers: MSG_TRUNC (the buffer was short), MSG_CTRUNC (the control messages were cut short).</summary>
    public int MessageFlags { get; }

    /// <summary><see cref="MessageFlags"/> as .NET names them: <see cref="SocketFlags.Truncated"/>, <see cref="SocketFlags.ControlDataTruncated"/>.</summary>
    public SocketFlags SocketFlags =>
        ((MessageFlags & MSG_TRUNC) != 0 ? SocketFlags.Truncated : SocketFlags.None) |
        ((MessageFlags & MSG_CTRUNC) != 0 ? SocketFlags.ControlDataTruncated : SocketFlags.None);

    /// <summary>The sender (port 0 on ping and raw sockets); null when the protocol reports none.</summary>
    public IPEndPoint? RemoteEndPoint { get; }

    /// <summary>The IP_TTL message (IP_RECVTTL on), or IPV6_HOPLIMIT (IPV6_RECVHOPLIMIT on): the time to live or hop limit in the datagram's IP header as it arrived.</summary>
    public int? Ttl { get; }

    /// <summary>The IP_TOS message (IP_RECVTOS on): the type-of-service byte of the datagram's IP header, ECN bits included.</summary>
    public byte? Tos { get; }

    /// <summary>The IP_PKTINFO message (IP_PKTINFO on).</summary>
    public NetPacketInformation? PacketInformation { get; }

    /// <summary>
    /// The IP_ORIGDSTADDR message (IP_RECVORIGDSTADDR on): the destination address and port the
    /// datagram carried (made when read). On ping and raw sockets the "port" is the second 16 bits
    /// of the ICMP header, as Linux reports it.
    /// </summary>
    public IPEndPoint? OriginalDestination => _hasOrig ? new IPEndPoint(SocketConvert.ToIPAddress(_origAddr), _origPort) : null;

    /// <summary>
    /// Decodes what recvmsg returned: complete SOL_IP messages of the four kinds become the
    /// properties; others (and ones cut short) are skipped.
    /// </summary>
    internal static NetReceiveMessageResult Create(int receivedBytes, int messageFlags, IPEndPoint? from, ReadOnlySpan<byte> control)
    {
        int? ttl = null;
        byte? tos = null;
        NetPacketInformation? info = null;
        bool hasOrig = false;
        uint origAddr = 0;
        ushort origPort = 0;
        foreach (var c in Cmsg.Enumerate(control))
        {
            var d = c.Data;
            // An AF_INET6 socket's hop limit (IPV6_RECVHOPLIMIT on) is its TTL.
            if (c.Level == SOL_IPV6 && c.Type == IPV6_HOPLIMIT && d.Length >= sizeof(int)) ttl = BinaryPrimitives.ReadInt32LittleEndian(d);
            if (c.Level != SOL_IP) continue;
            switch (c.Type)
            {
                case IP_TTL when d.Length >= sizeof(int):
                    ttl = BinaryPrimitives.ReadInt32LittleEndian(d);
                    break;
                case IP_TOS when d.Length >= 1:
                    tos = d[0];
                    break;
                case IP_PKTINFO when d.Length >= InPktinfoSize:
                    info = new NetPacketInformation(BinaryPrimitives.ReadInt32LittleEndian(d),
                        BinaryPrimitives.ReadUInt32BigEndian(d[4..]), BinaryPrimitives.ReadUInt32BigEndian(d[8..]));
                    break;
                case IP_ORIGDSTADDR when d.Length >= SockaddrInSize:
                    hasOrig = true;
                    origPort = BinaryPrimitives.ReadUInt16BigEndian(d[2..]);
                    origAddr = BinaryPrimitives.ReadUInt32BigEndian(d[4..]);
                    break;
            }
        }
        return new NetReceiveMessageResult(receivedBytes, messageFlags, from, ttl, tos, info, hasOrig, origAddr, origPort);
    }

    /// <summary>A one-line summary: bytes, flags, sender and the control messages present.</summary>
    public override string ToString()
    {
        var sb = new System.Text.StringBuilder();
        sb.Append(ReceivedBytes).Append(" bytes");
        if (MessageFlags != 0) sb.Append(" flags 0x").Append(MessageFlags.ToString("x", System.Globalization.CultureInfo.InvariantCulture));
        if (RemoteEndPoint is not null) sb.Append(" from ").Append(RemoteEndPoint);
        if (Ttl is { } t) sb.Append(" ttl ").Append(t);
        if (Tos is { } o) sb.Append(" tos 0x").Append(o.ToString("x2", System.Globalization.CultureInfo.InvariantCulture));
        if (PacketInformation is { } p) sb.Append(' ').Append(p);
        if (OriginalDestination is { } d) sb.Append(" origdst ").Append(d);
        return sb.ToString();
    }
}
