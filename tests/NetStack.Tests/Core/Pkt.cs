using NetStack.Core;
using NetStack.Wire;

namespace NetStack.Tests.Core;

/// <summary>Builds raw frames for tests, through the wire emitters (which the wire tests check against kernel bytes).</summary>
public static class Pkt
{
    /// <summary>An Ethernet II frame; <paramref name="padTo"/> pads with zeros as a NIC does up to the 60-byte minimum.</summary>
    public static byte[] Eth(MacAddress dst, MacAddress src, ushort type, ReadOnlySpan<byte> payload, int padTo = 0)
    {
        var f = new byte[Math.Max(EthernetHeader.Length + payload.Length, padTo)];
        new EthernetRepr(dst, src, type).Emit(EthernetHeader.Create(f));
        payload.CopyTo(f.AsSpan(EthernetHeader.Length));
        return f;
    }

    public static byte[] Arp(ushort op, MacAddress sha, uint spa, MacAddress tha, uint tpa)
    {
        var b = new byte[ArpPacket.Length];
        new ArpRepr(op, sha, spa, tha, tpa).Emit(ArpPacket.Create(b));
        return b;
    }

    /// <summary>An option-less IPv4 packet with a valid header checksum.</summary>
    public static byte[] Ip(uint src, uint dst, int protocol, ReadOnlySpan<byte> payload, byte ttl = 64, ushort id = 0x1234, bool df = true, byte tos = 0)
    {
        var b = new byte[Ipv4Header.MinLength + payload.Length];
        new Ipv4Repr(src, dst, (byte)protocol, payload.Length, ttl, tos, id, df).Emit(Ipv4Header.Create(b));
        payload.CopyTo(b.AsSpan(Ipv4Header.MinLength));
        return b;
    }

    /// <summary>An ICMP message with its checksum.</summary>
    public static byte[] Icmp(byte type, byte code, uint rest, ReadOnlySpan<byte> data)
    {
        var b = new byte[IcmpHeader.Length + data.Length];
        var h = IcmpHeader.Create(b);
        new IcmpRepr(type, code, rest).Emit(h);
        data.CopyTo(h.Payload);
        h.FillChecksum();
        return b;
    }

    /// <summary>A UDP datagram with its checksum over the pseudo-header of <paramref name="src"/> and <paramref name="dst"/>.</summary>
    public static byte[] Udp(uint src, uint dst, ushort sport, ushort dport, ReadOnlySpan<byte> data)
    {
        var b = new byte[UdpHeader.Length + data.Length];
        var h = UdpHeader.Create(b);
        new UdpRepr(sport, dport, data.Length).Emit(h);
        data.CopyTo(b.AsSpan(UdpHeader.Length));
        h.FillChecksum(src, dst);
        return b;
    }

    public static byte[] EchoRequest(ushort id, ushort seq, ReadOnlySpan<byte> data) => Icmp(IcmpType.Echo, 0, (uint)id << 16 | seq, data);

    /// <summary>ping(8)'s default data: 56 bytes 0x00..0x37.</summary>
    public static byte[] PingData(int n = 56)
    {
        var d = new byte[n];
        for (int i = 0; i < n; i++) d[i] = (byte)i;
        return d;
    }

    /// <summary>An echo request frame from the test peer to the stack.</summary>
    public static byte[] EchoFrame(ushort id = 0x4242, ushort seq = 1, int dataLen = 56, uint? dst = null, MacAddress? dstMac = null, uint? src = null) =>
        Eth(dstMac ?? OneStack.Mac, OneStack.PeerMac, EthP.IP,
            Ip(src ?? OneStack.PeerAddr, dst ?? OneStack.Addr, IpProto.ICMP, EchoRequest(id, seq, PingData(dataLen))));

    /// <summary>Parses a sent frame as IPv4 inside Ethernet; fails the test if it is not.</summary>
    internal static (EthernetRepr Eth, Ipv4Repr Ip, byte[] Payload) ParseIp(byte[] frame)
    {
        Assert.True(EthernetHeader.TryCreate(frame, out var eth));
        Assert.Equal(EthP.IP, eth.EtherType);
        Assert.Equal(Ipv4ParseResult.Ok, Ipv4Header.TryCreate(eth.Payload, out var ip));
        Assert.True(ip.VerifyChecksum(), "IP header checksum");
        return (EthernetRepr.Parse(eth), Ipv4Repr.Parse(ip), ip.Payload.ToArray());
    }

    internal static (EthernetRepr Eth, ArpRepr Arp) ParseArp(byte[] frame)
    {
        Assert.True(EthernetHeader.TryCreate(frame, out var eth));
        Assert.Equal(EthP.ARP, eth.EtherType);
        Assert.True(ArpPacket.TryCreate(eth.Payload, out var p));
        Assert.True(ArpRepr.TryParse(p, out var arp));
        return (EthernetRepr.Parse(eth), arp);
    }
}

/// <summary>
/// A before/after picture of every MIB counter of a stack, so a test can assert that exactly the
/// expected counters moved and nothing else did.
/// </summary>
public sealed class MibSnapshot
{
    private readonly Dictionary<string, long> _values;

    private MibSnapshot(Dictionary<string, long> v) => _values = v;

    public static MibSnapshot Take(NetNamespace net)
    {
        var v = new Dictionary<string, long>();
        lock (net.SyncRoot)
        {
            Add(v, "Ip", net.Mib.Ip);
            Add(v, "IpExt", net.Mib.IpExt);
            Add(v, "Icmp", net.Mib.Icmp);
            Add(v, "Drops", net.Mib.Drops);
        }
        return new MibSnapshot(v);
    }

    private static void Add<T>(Dictionary<string, long> v, string prefix, MibTable<T> t) where T : struct, Enum
    {
        for (int i = 0; i < t.Length; i++) v[prefix + "." + t.NameAt(i)] = t.ValueAt(i);
    }

    /// <summary>The counters that changed since <paramref name="before"/>, as sorted "Table.Name=+delta" strings.</summary>
    public static string[] Delta(MibSnapshot before, NetNamespace net)
    {
        var after = Take(net);
        var d = new List<string>();
        foreach (var (k, v) in after._values)
        {
            if (k.EndsWith("Octets", StringComparison.Ordinal)) continue; // byte counts: asserted where they matter
            long delta = v - before._values[k];
            if (delta != 0) d.Add($"{k}={delta:+#;-#}");
        }
        d.Sort(StringComparer.Ordinal);
        return d.ToArray();
    }
}
