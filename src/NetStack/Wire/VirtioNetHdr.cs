using System.Buffers.Binary;

namespace NetStack.Wire;

/// <summary>
/// struct virtio_net_hdr_mrg_rxbuf (include/uapi/linux/virtio_net.h): the header a TAP opened
/// with IFF_VNET_HDR puts before every frame it reads and expects before every frame it is
/// written. All fields are little-endian (a TAP's vnet header is in the host's order unless
/// TUNSETVNETLE/BE says otherwise; this stack runs on little-endian hosts only).
/// </summary>
internal struct VirtioNetHdr
{
    /// <summary>The size with num_buffers, set with TUNSETVNETHDRSZ (the legacy header is 10 bytes).</summary>
    public const int Size = 12;

    /// <summary>VIRTIO_NET_HDR_F_NEEDS_CSUM: the L4 checksum at csum_start + csum_offset holds only the pseudo-header sum.</summary>
    public const byte FlagNeedsCsum = 1;
    /// <summary>VIRTIO_NET_HDR_F_DATA_VALID: the checksums were verified already.</summary>
    public const byte FlagDataValid = 2;

    /// <summary>VIRTIO_NET_HDR_GSO_NONE.</summary>
    public const byte GsoNone = 0;
    /// <summary>VIRTIO_NET_HDR_GSO_TCPV4.</summary>
    public const byte GsoTcpV4 = 1;
    /// <summary>VIRTIO_NET_HDR_GSO_UDP (UFO).</summary>
    public const byte GsoUdp = 3;
    /// <summary>VIRTIO_NET_HDR_GSO_TCPV6.</summary>
    public const byte GsoTcpV6 = 4;
    /// <summary>VIRTIO_NET_HDR_GSO_UDP_L4 (USO).</summary>
    public const byte GsoUdpL4 = 5;
    /// <summary>VIRTIO_NET_HDR_GSO_ECN: the segments carry CWR as the first one does.</summary>
    public const byte GsoEcn = 0x80;

    public byte Flags;
    public byte GsoType;
    public ushort HdrLen;
    public ushort GsoSize;
    public ushort CsumStart;
    public ushort CsumOffset;
    public ushort NumBuffers;

    /// <summary>Reads the header from the first <see cref="Size"/> bytes of <paramref name="b"/>.</summary>
    public static VirtioNetHdr Read(ReadOnlySpan<byte> b) => new()
    {
        Flags = b[0],
        GsoType = b[1],
        HdrLen = BinaryPrimitives.ReadUInt16LittleEndian(b[2..]),
        GsoSize = BinaryPrimitives.ReadUInt16LittleEndian(b[4..]),
        CsumStart = BinaryPrimitives.ReadUInt16LittleEndian(b[6..]),
        CsumOffset = BinaryPrimitives.ReadUInt16LittleEndian(b[8..]),
        NumBuffers = BinaryPrimitives.ReadUInt16LittleEndian(b[10..]),
    };

    /// <summary>Writes the header into the first <see cref="Size"/> bytes of <paramref name="b"/>.</summary>
    public readonly void Write(Span<byte> b)
    {
        b[0] = Flags;
        b[1] = GsoType;
        BinaryPrimitives.WriteUInt16LittleEndian(b[2..], HdrLen);
        BinaryPrimitives.WriteUInt16LittleEndian(b[4..], GsoSize);
        BinaryPrimitives.WriteUInt16LittleEndian(b[6..], CsumStart);
        BinaryPrimitives.WriteUInt16LittleEndian(b[8..], CsumOffset);
        BinaryPrimitives.WriteUInt16LittleEndian(b[10..], NumBuffers);
    }
}
