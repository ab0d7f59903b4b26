using System.Buffers.Binary;
using NetStack.Wire;

namespace NetStack.Tests.Fuzz;

/// <summary>
/// The fields of one IPv4 header as the generator chooses them (before emission), so mutation
/// happens at field level: a boundary value for one field, the others sane, the checksum right.
/// </summary>
internal sealed class IpFields
{
    public int Version = 4;
    /// <summary>null: computed from the options.</summary>
    public int? Ihl;
    public byte Tos;
    /// <summary>null: the real length.</summary>
    public int? TotalLength;
    public ushort Id;
    public bool Rf, Df, Mf;
    /// <summary>In 8-byte units.</summary>
    public int FragOff8;
    public byte Ttl = 64;
    public byte Protocol;
    public uint Src, Dst;
    public byte[] Options = [];
    public bool BadChecksum;
}

/// <summary>One TCP option as raw bytes (kind, length, value): well formed or deliberately not.</summary>
internal readonly record struct RawOpt(byte[] Bytes);

/// <summary>
/// A structure-aware frame generator: builds Ethernet/ARP/IPv4/ICMP/UDP/TCP frames from their
/// fields and chooses each field from the values that matter to a stack (boundaries, the edges of
/// a connection's windows, every option kind, malformed lengths) more often than at random.
/// Checksums are computed after the fields are chosen, so most mutants reach protocol logic.
/// </summary>
internal sealed class FrameGen
{
    public readonly Random R;
    public FrameGen(Random r) => R = r;

    public bool Chance(int oneIn) => R.Next(oneIn) == 0;
    public T Pick<T>(params T[] xs) => xs[R.Next(xs.Length)];

    public byte[] Bytes(int n)
    {
        var b = new byte[n];
        R.NextBytes(b);
        return b;
    }

    /// <summary>A value near interesting 16-bit boundaries.</summary>
    public ushort U16Edge() => Pick<ushort>(0, 1, 2, 7, 8, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF, (ushort)R.Next(0x10000));

    /// <summary>A 32-bit value at an offset from <paramref name="center"/> that crosses an edge (±1, ±window, ±2^31).</summary>
    public uint Near(uint center, uint window)
    {
        return R.Next(14) switch
        {
            0 => center,
            1 => center - 1,
            2 => center + 1,
            3 => center + window,
            4 => center + window - 1,
            5 => center + window + 1,
            6 => center - window,
            7 => center - window - 1,
            8 => center + 0x8000_0000,
            9 => center + 0x7FFF_FFFF,
            10 => (uint)R.NextInt64(0, 1L << 32),
            11 => center + (uint)R.Next(1, 3000),
            12 => center - (uint)R.Next(1, 3000),
            _ => center,
        };
    }

    // ---- Ethernet ----

    public byte[] Eth(MacAddress dst, MacAddress src, ushort type, ReadOnlySpan<byte> payload)
    {
        var f = new byte[EthernetHeader.Length + payload.Length];
        dst.Write(f);
        src.Write(f.AsSpan(6));
        BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(12), type);
        payload.CopyTo(f.AsSpan(EthernetHeader.Length));
        return f;
    }

    // ---- ARP ----

    public byte[] Arp(ushort op, MacAddress sha, uint spa, MacAddress tha, uint tpa, bool mutateHeader)
    {
        var a = new byte[ArpPacket.Length + (Chance(8) ? R.Next(1, 20) : 0)];
        var p = ArpPacket.Create(a);
        p.HardwareType = ArpPacket.HrdEther;
        p.ProtocolType = EthP.IP;
        p.HardwareLength = 6;
        p.ProtocolLength = 4;
        p.Operation = op;
        p.SenderHardware = sha;
        p.SenderProtocol = spa;
        p.TargetHardware = tha;
        p.TargetProtocol = tpa;
        if (mutateHeader)
        {
            switch (R.Next(5))
            {
                case 0: p.HardwareType = Pick<ushort>(0, 6, 0xFFFF); break;
                case 1: p.ProtocolType = Pick<ushort>(0, EthP.IPV6, 0x0801); break;
                case 2: p.HardwareLength = Pick<byte>(0, 4, 8, 255); break;
                case 3: p.ProtocolLength = Pick<byte>(0, 6, 16, 255); break;
                default: p.Operation = Pick<ushort>(0, 3, 4, 8, 9, 0xFFFF); break;
            }
        }
        if (Chance(10)) return a.AsSpan(0, R.Next(a.Length)).ToArray();
        return a;
    }

    // ---- IPv4 and its options ----

    /// <summary>A list of IPv4 options, well formed or broken: RR, TS (three flavours), LSRR, SSRR, RA, NOP, EOL, unknown.</summary>
    public byte[] IpOptions()
    {
        var o = new List<byte>();
        int n = R.Next(1, 4);
        for (int i = 0; i < n && o.Count < 40; i++)
        {
            switch (R.Next(9))
            {
                case 0: o.Add(1); break; // NOP
                case 1: o.Add(0); break; // EOL
                case 2: RouteOpt(o, 7); break; // RR
                case 3: RouteOpt(o, 131); break; // LSRR
                case 4: RouteOpt(o, 137); break; // SSRR
                case 5: // RA
                    o.AddRange(new byte[] { 148, Chance(5) ? Pick<byte>(0, 2, 40) : (byte)4, 0, 0 });
                    break;
                case 6: TsOpt(o); break;
                case 7: // unknown / security / bad length
                    o.Add(Pick<byte>(130, 133, 25, 0x44 | 0x80, 255));
                    o.Add(Pick<byte>(0, 1, 2, 3, 11, 40, 255));
                    for (int k = R.Next(0, 6); k > 0; k--) o.Add((byte)R.Next(256));
                    break;
                default: // a length that runs off the end
                    o.AddRange(new byte[] { 7, 39, 4 });
                    break;
            }
        }
        if (o.Count > 40) o.RemoveRange(40, o.Count - 40);
        while (o.Count % 4 != 0) o.Add(Chance(3) ? (byte)R.Next(256) : (byte)0);
        return o.ToArray();
    }

    private void RouteOpt(List<byte> o, byte kind)
    {
        int slots = R.Next(0, 9);
        int len = 3 + 4 * slots;
        byte ptr = R.Next(5) switch { 0 => 4, 1 => (byte)(len + 1), 2 => (byte)R.Next(256), 3 => 3, _ => (byte)(4 + 4 * R.Next(slots + 1)) };
        o.Add(kind);
        o.Add(Chance(6) ? (byte)R.Next(256) : (byte)len);
        o.Add(ptr);
        for (int s = 0; s < slots; s++) o.AddRange(BitConverter.GetBytes(R.Next()));
    }

    private void TsOpt(List<byte> o)
    {
        int flg = Pick(0, 1, 3, 2, 15);
        int entry = flg == 0 ? 4 : 8;
        int entries = R.Next(0, 5);
        int len = 4 + entry * entries;
        o.Add(68);
        o.Add(Chance(6) ? (byte)R.Next(256) : (byte)len);
        o.Add(R.Next(4) switch { 0 => 5, 1 => (byte)(len + 1), 2 => (byte)R.Next(256), _ => (byte)(5 + entry * R.Next(entries + 1)) });
        o.Add((byte)(R.Next(16) << 4 | flg));
        for (int s = 0; s < entries * entry; s++) o.Add((byte)R.Next(256));
    }

    /// <summary>Emits an IPv4 datagram (header + payload) from its fields.</summary>
    public static byte[] EmitIp(IpFields f, ReadOnlySpan<byte> payload)
    {
        int hl = Ipv4Header.MinLength + f.Options.Length;
        var d = new byte[hl + payload.Length];
        var ip = Ipv4Header.Create(d);
        ip.SetVersionIhl(f.Version, f.Ihl ?? hl / 4);
        ip.Tos = f.Tos;
        ip.TotalLength = (ushort)(f.TotalLength ?? d.Length);
        ip.Id = f.Id;
        ip.FragOff = (ushort)((f.Rf ? 0x8000 : 0) | (f.Df ? Ipv4Header.FlagDF : 0) | (f.Mf ? Ipv4Header.FlagMF : 0) | (f.FragOff8 & Ipv4Header.OffsetMask));
        ip.Ttl = f.Ttl;
        ip.Protocol = f.Protocol;
        ip.Source = f.Src;
        ip.Destination = f.Dst;
        f.Options.CopyTo(d.AsSpan(Ipv4Header.MinLength));
        payload.CopyTo(d.AsSpan(hl));
        int ihlBytes = Math.Min((f.Ihl ?? hl / 4) * 4, d.Length);
        if (ihlBytes >= Ipv4Header.MinLength)
        {
            d[10] = d[11] = 0;
            BinaryPrimitives.WriteUInt16BigEndian(d.AsSpan(10), Checksum.Compute(d.AsSpan(0, ihlBytes)));
        }
        if (f.BadChecksum) d[10] ^= 0x5A;
        return d;
    }

    /// <summary>Mutates one IP field to a value at an edge (the caller fixes the checksum by emitting).</summary>
    public void MutateIp(IpFields f, int payloadLen)
    {
        switch (R.Next(14))
        {
            case 0: f.Version = Pick(0, 6, 15); break;
            case 1: f.Ihl = Pick(0, 1, 4, 6, 15); break;
            case 2: f.TotalLength = Pick(0, 19, 20, 21, 20 + f.Options.Length + payloadLen - 1, 20 + f.Options.Length + payloadLen + 1, 1500, 65535); break;
            case 3: f.Ttl = Pick<byte>(0, 1, 255); break;
            case 4: f.Rf = true; break;
            case 5: f.Df = !f.Df; f.Mf = Chance(2); break;
            case 6: f.FragOff8 = Pick(0, 1, 2, 8185, 8191); f.Mf = Chance(2); break;
            case 7: f.Tos = (byte)R.Next(256); break;
            case 8: f.Options = IpOptions(); break;
            case 9: f.Src = Pick(0u, 0xFFFFFFFFu, f.Dst, 0x7F000001u, 0xE0000001u, 0x0A0000FFu, 0x0A000063u); break;
            case 10: f.Dst = Pick(0xFFFFFFFFu, 0x0A0000FFu, 0xE0000001u, 0x0A000063u, 0x7F000001u, 0x0B000001u, 0u); break;
            case 11: f.BadChecksum = true; break;
            case 12: f.Protocol = Pick<byte>(0, 2, 4, 41, 47, 50, 132, 253, 255); break;
            default: f.Id = U16Edge(); break;
        }
    }

    // ---- ICMP ----

    public static byte[] Icmp(byte type, byte code, uint rest, ReadOnlySpan<byte> data, bool badChecksum = false)
    {
        var m = new byte[IcmpHeader.Length + data.Length];
        m[0] = type;
        m[1] = code;
        BinaryPrimitives.WriteUInt32BigEndian(m.AsSpan(4), rest);
        data.CopyTo(m.AsSpan(IcmpHeader.Length));
        BinaryPrimitives.WriteUInt16BigEndian(m.AsSpan(2), Checksum.Compute(m));
        if (badChecksum) m[2] ^= 0x11;
        return m;
    }

    // ---- UDP ----

    public static byte[] Udp(uint src, uint dst, ushort sport, ushort dport, ReadOnlySpan<byte> data, int? lengthField = null, int csumMode = 0)
    {
        var u = new byte[UdpHeader.Length + data.Length];
        BinaryPrimitives.WriteUInt16BigEndian(u, sport);
        BinaryPrimitives.WriteUInt16BigEndian(u.AsSpan(2), dport);
        BinaryPrimitives.WriteUInt16BigEndian(u.AsSpan(4), (ushort)(lengthField ?? u.Length));
        data.CopyTo(u.AsSpan(8));
        if (csumMode == 1) return u; // checksum 0: none
        ushort c = Checksum.TcpUdp(src, dst, IpProto.UDP, u);
        BinaryPrimitives.WriteUInt16BigEndian(u.AsSpan(6), c == 0 ? (ushort)0xFFFF : c);
        if (csumMode == 2) u[6] ^= 0x80;
        return u;
    }

    // ---- TCP ----

    /// <summary>A TCP option of the given kind, well formed or (sometimes) with a bad length or value.</summary>
    public RawOpt TcpOption(int kind, uint sackBase, uint sackWindow, uint tsEcr)
    {
        bool bad = Chance(12);
        byte[] b = kind switch
        {
            TcpOpt.MSS => [2, 4, .. BE16(Pick<ushort>(0, 1, 64, 88, 535, 536, 1200, 1460, 8960, 65535))],
            TcpOpt.WINDOW => [3, 3, Pick<byte>(0, 1, 7, 14, 15, 255)],
            TcpOpt.SACK_PERM => [4, 2],
            TcpOpt.SACK => SackOpt(sackBase, sackWindow),
            TcpOpt.TIMESTAMP => [8, 10, .. BE32(Pick(0u, 1u, (uint)R.Next(), 0xFFFFFFFFu, 0x7FFFFFFFu, 0x80000000u)), .. BE32(Chance(2) ? tsEcr : Near(tsEcr, 1000))],
            19 => [19, 18, .. Bytes(16)], // TCP MD5 signature (RFC 2385)
            29 => [29, (byte)(4 + R.Next(0, 8)), .. Bytes(2 + R.Next(0, 8))], // TCP-AO-like
            34 => [34, 2], // TFO cookie request
            _ => [(byte)kind, (byte)R.Next(2, 12), .. Bytes(R.Next(0, 10))],
        };
        if (kind is 29 or > 34 && b.Length != b[1]) b[1] = (byte)b.Length;
        if (bad && b.Length >= 2) b[1] = Pick<byte>(0, 1, (byte)(b[1] - 1), (byte)(b[1] + 1), 40, 255);
        return new RawOpt(b);
    }

    private byte[] SackOpt(uint baseSeq, uint window)
    {
        int n = R.Next(1, 5);
        var b = new byte[2 + 8 * n];
        b[0] = 5;
        b[1] = (byte)b.Length;
        for (int i = 0; i < n; i++)
        {
            uint start = Near(baseSeq + (uint)R.Next(0, (int)Math.Min(window + 1, 1 << 20)), window);
            uint end = R.Next(6) switch { 0 => start, 1 => start - (uint)R.Next(1, 3000), 2 => Near(start, window), _ => start + (uint)R.Next(1, 3000) };
            BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(2 + 8 * i), start);
            BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(6 + 8 * i), end);
        }
        return b;
    }

    /// <summary>Lays options out as a TCP header's option area: NOP/EOL padding as stacks emit them, at most 40 bytes.</summary>
    public byte[] TcpOptionArea(List<RawOpt> opts)
    {
        var o = new List<byte>();
        foreach (var opt in opts)
        {
            if (Chance(4)) o.Add(1);
            if (o.Count + opt.Bytes.Length > 40) break;
            o.AddRange(opt.Bytes);
        }
        if (Chance(20) && o.Count < 40) o.Insert(R.Next(o.Count + 1), 0); // an EOL in the middle
        while (o.Count % 4 != 0) o.Add(Chance(4) ? (byte)1 : (byte)0);
        return o.ToArray();
    }

    public static byte[] Tcp(uint src, uint dst, ushort sport, ushort dport, uint seq, uint ack, byte flags, ushort window,
        byte[] options, ReadOnlySpan<byte> payload, int? doff = null, ushort urg = 0, byte reservedBits = 0, bool badChecksum = false)
    {
        int hl = TcpHeader.MinLength + options.Length;
        var s = new byte[hl + payload.Length];
        BinaryPrimitives.WriteUInt16BigEndian(s, sport);
        BinaryPrimitives.WriteUInt16BigEndian(s.AsSpan(2), dport);
        BinaryPrimitives.WriteUInt32BigEndian(s.AsSpan(4), seq);
        BinaryPrimitives.WriteUInt32BigEndian(s.AsSpan(8), ack);
        s[12] = (byte)((doff ?? hl / 4) << 4 | (reservedBits & 0x0F));
        s[13] = flags;
        BinaryPrimitives.WriteUInt16BigEndian(s.AsSpan(14), window);
        BinaryPrimitives.WriteUInt16BigEndian(s.AsSpan(18), urg);
        options.CopyTo(s.AsSpan(TcpHeader.MinLength));
        payload.CopyTo(s.AsSpan(hl));
        BinaryPrimitives.WriteUInt16BigEndian(s.AsSpan(16), Checksum.TcpUdp(src, dst, IpProto.TCP, s));
        if (badChecksum) s[17] ^= 0x01;
        return s;
    }

    /// <summary>A flag combination: the ones a state machine branches on, or any of the 256.</summary>
    public byte TcpFlagsCombo() => R.Next(3) == 0
        ? (byte)R.Next(256)
        : Pick<byte>(TcpFlags.ACK, TcpFlags.ACK | TcpFlags.PSH, TcpFlags.SYN, TcpFlags.SYN | TcpFlags.ACK, TcpFlags.FIN | TcpFlags.ACK,
            TcpFlags.RST, TcpFlags.RST | TcpFlags.ACK, TcpFlags.FIN, TcpFlags.SYN | TcpFlags.FIN, TcpFlags.SYN | TcpFlags.RST,
            TcpFlags.ACK | TcpFlags.URG, (byte)0, (byte)0xFF, TcpFlags.ACK | TcpFlags.ECE | TcpFlags.CWR, TcpFlags.SYN | TcpFlags.ECE | TcpFlags.CWR,
            TcpFlags.FIN | TcpFlags.PSH | TcpFlags.ACK);

    // ---- byte-level mutation and checksum repair (for what the field-level generator cannot reach) ----

    /// <summary>Flips, overwrites, cuts or extends bytes past the Ethernet header.</summary>
    public byte[] MutateBytes(byte[] frame)
    {
        byte[] f = (byte[])frame.Clone();
        switch (R.Next(5))
        {
            case 0: f = f.AsSpan(0, R.Next(f.Length)).ToArray(); break;
            case 1:
                var g = new byte[f.Length + R.Next(1, 64)];
                f.CopyTo(g, 0);
                R.NextBytes(g.AsSpan(f.Length));
                f = g;
                break;
        }
        int flips = R.Next(1, 5);
        for (int i = 0; i < flips && f.Length > 0; i++)
        {
            int at = f.Length > 14 && R.Next(8) > 0 ? R.Next(14, f.Length) : R.Next(f.Length);
            f[at] = R.Next(3) == 0 ? (byte)R.Next(256) : (byte)(f[at] ^ (1 << R.Next(8)));
        }
        return f;
    }

    /// <summary>Recomputes the IPv4 header checksum and the ICMP/UDP/TCP checksum where the lengths allow.</summary>
    public static void FixChecksums(byte[] frame)
    {
        var span = frame.AsSpan();
        if (span.Length < EthernetHeader.Length + Ipv4Header.MinLength) return;
        if (BinaryPrimitives.ReadUInt16BigEndian(span[12..]) != EthP.IP) return;
        var ipSpan = span[EthernetHeader.Length..];
        var ip = Ipv4Header.Create(ipSpan);
        int ihl = ip.HeaderLength;
        if (ihl < 20 || ihl > ipSpan.Length) return;
        ip.FillChecksum();
        int tot = Math.Min(ip.TotalLength, ipSpan.Length);
        if (tot <= ihl || ip.IsFragment) return;
        var l4 = ipSpan[ihl..tot];
        switch (ip.Protocol)
        {
            case IpProto.ICMP when l4.Length >= 4:
                l4[2] = l4[3] = 0;
                BinaryPrimitives.WriteUInt16BigEndian(l4[2..], Checksum.Compute(l4));
                break;
            case IpProto.UDP when l4.Length >= 8:
                l4[6] = l4[7] = 0;
                ushort u = Checksum.TcpUdp(ip.Source, ip.Destination, IpProto.UDP, l4);
                BinaryPrimitives.WriteUInt16BigEndian(l4[6..], u == 0 ? (ushort)0xFFFF : u);
                break;
            case IpProto.TCP when l4.Length >= 20:
                l4[16] = l4[17] = 0;
                BinaryPrimitives.WriteUInt16BigEndian(l4[16..], Checksum.TcpUdp(ip.Source, ip.Destination, IpProto.TCP, l4));
                break;
        }
    }

    public static byte[] BE16(ushort v) { var b = new byte[2]; BinaryPrimitives.WriteUInt16BigEndian(b, v); return b; }
    public static byte[] BE32(uint v) { var b = new byte[4]; BinaryPrimitives.WriteUInt32BigEndian(b, v); return b; }
}
