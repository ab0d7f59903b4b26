using System.Buffers.Binary;

namespace NetStack.Wire;

/// <summary>An ARP packet for Ethernet/IPv4 (struct arphdr followed by the four addresses).</summary>
internal readonly ref struct ArpPacket
{
    public const int Length = 28;
    public const ushort HrdEther = 1;     // ARPHRD_ETHER
    public const ushort OpRequest = 1;    // ARPOP_REQUEST
    public const ushort OpReply = 2;      // ARPOP_REPLY

    public readonly Span<byte> Buffer;
    private ArpPacket(Span<byte> b) => Buffer = b;

    /// <summary>Checked view: the fixed part must be there and the address lengths must fit the buffer.</summary>
    public static bool TryCreate(Span<byte> buffer, out ArpPacket packet)
    {
        packet = default;
        if (buffer.Length < 8) return false;
        int need = 8 + 2 * (buffer[4] + buffer[5]);
        if (buffer.Length < need) return false;
        packet = new ArpPacket(buffer);
        return true;
    }

    public static ArpPacket Create(Span<byte> buffer) => new(buffer[..Length]);

    public ushort HardwareType { get => BinaryPrimitives.ReadUInt16BigEndian(Buffer); set => BinaryPrimitives.WriteUInt16BigEndian(Buffer, value); }
    public ushort ProtocolType { get => BinaryPrimitives.ReadUInt16BigEndian(Buffer[2..]); set => BinaryPrimitives.WriteUInt16BigEndian(Buffer[2..], value); }
    public byte HardwareLength { get => Buffer[4]; set => Buffer[4] = value; }
    public byte ProtocolLength { get => Buffer[5]; set => Buffer[5] = value; }
    public ushort Operation { get => BinaryPrimitives.ReadUInt16BigEndian(Buffer[6..]); set => BinaryPrimitives.WriteUInt16BigEndian(Buffer[6..], value); }
    // The following accessors assume Ethernet/IPv4 lengths (6/4); the input path checks those first.
    public MacAddress SenderHardware { get => MacAddress.Read(Buffer[8..]); set => value.Write(Buffer[8..]); }
    public uint SenderProtocol { get => BinaryPrimitives.ReadUInt32BigEndian(Buffer[14..]); set => BinaryPrimitives.WriteUInt32BigEndian(Buffer[14..], value); }
    public MacAddress TargetHardware { get => MacAddress.Read(Buffer[18..]); set => value.Write(Buffer[18..]); }
    public uint TargetProtocol { get => BinaryPrimitives.ReadUInt32BigEndian(Buffer[24..]); set => BinaryPrimitives.WriteUInt32BigEndian(Buffer[24..], value); }

    public bool IsEthernetIpv4 => HardwareType == HrdEther && ProtocolType == EthP.IP && HardwareLength == 6 && ProtocolLength == 4;
}

/// <summary>The value form of an Ethernet/IPv4 ARP packet.</summary>
internal record struct ArpRepr(ushort Operation, MacAddress SenderHardware, uint SenderProtocol, MacAddress TargetHardware, uint TargetProtocol)
{
    /// <summary>Parses a checked packet; false if it is not Ethernet/IPv4 ARP.</summary>
    public static bool TryParse(in ArpPacket p, out ArpRepr repr)
    {
        repr = default;
        if (!p.IsEthernetIpv4) return false;
        repr = new ArpRepr(p.Operation, p.SenderHardware, p.SenderProtocol, p.TargetHardware, p.TargetProtocol);
        return true;
    }

    public readonly void Emit(ArpPacket p)
    {
        p.HardwareType = ArpPacket.HrdEther;
        p.ProtocolType = EthP.IP;
        p.HardwareLength = 6;
        p.ProtocolLength = 4;
        p.Operation = Operation;
        p.SenderHardware = SenderHardware;
        p.SenderProtocol = SenderProtocol;
        p.TargetHardware = TargetHardware;
        p.TargetProtocol = TargetProtocol;
    }
}
