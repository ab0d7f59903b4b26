using System.Buffers.Binary;

namespace NetStack.Wire;

/// <summary>EtherType values (include/uapi/linux/if_ether.h).</summary>
internal static class EthP
{
    public const ushort IP = 0x0800;
    public const ushort ARP = 0x0806;
    public const ushort IPV6 = 0x86DD;
    public const ushort VLAN = 0x8100;
    /// <summary>Values below this are 802.3 lengths, not types (ETH_P_802_3_MIN).</summary>
    public const ushort Min8023 = 0x0600;
}

/// <summary>
/// An Ethernet II header view (struct ethhdr): destination, source, EtherType.
/// </summary>
internal readonly ref struct EthernetHeader
{
    public const int Length = 14; // ETH_HLEN
    public const int DstOffset = 0, SrcOffset = 6, TypeOffset = 12;

    public readonly Span<byte> Buffer;

    private EthernetHeader(Span<byte> buffer) => Buffer = buffer;

    /// <summary>Checked view over untrusted input: fails if shorter than ETH_HLEN.</summary>
    public static bool TryCreate(Span<byte> buffer, out EthernetHeader header)
    {
        header = buffer.Length >= Length ? new EthernetHeader(buffer) : default;
        return buffer.Length >= Length;
    }

    /// <summary>Unchecked view for emitting into a buffer the caller sized.</summary>
    public static EthernetHeader Create(Span<byte> buffer) => new(buffer[..Length]);

    public MacAddress Destination { get => MacAddress.Read(Buffer[DstOffset..]); set => value.Write(Buffer[DstOffset..]); }
    public MacAddress Source { get => MacAddress.Read(Buffer[SrcOffset..]); set => value.Write(Buffer[SrcOffset..]); }
    public ushort EtherType { get => BinaryPrimitives.ReadUInt16BigEndian(Buffer[TypeOffset..]); set => BinaryPrimitives.WriteUInt16BigEndian(Buffer[TypeOffset..], value); }
    public Span<byte> Payload => Buffer[Length..];
}

/// <summary>A value form of the Ethernet header.</summary>
internal record struct EthernetRepr(MacAddress Destination, MacAddress Source, ushort EtherType)
{
    public static EthernetRepr Parse(in EthernetHeader h) => new(h.Destination, h.Source, h.EtherType);

    public readonly void Emit(EthernetHeader h)
    {
        h.Destination = Destination;
        h.Source = Source;
        h.EtherType = EtherType;
    }
}
