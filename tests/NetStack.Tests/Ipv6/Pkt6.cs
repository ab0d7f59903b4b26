using System.Buffers.Binary;
using NetStack.Core;
using NetStack.Tests.Core;
using NetStack.Wire;

namespace NetStack.Tests.Ipv6;

/// <summary>Builds IPv6 frames for tests: the header by hand (byte offsets of RFC 8200), ICMPv6 with its checksum.</summary>
public static class Pkt6
{
    /// <summary>A fixed IPv6 header followed by <paramref name="payload"/>; <paramref name="payloadLength"/> overrides the length field.</summary>
    public static byte[] Ip6(UInt128 src, UInt128 dst, byte nextHeader, ReadOnlySpan<byte> payload, byte hopLimit = 64, byte tclass = 0, int? payloadLength = null, int version = 6)
    {
        var b = new byte[40 + payload.Length];
        BinaryPrimitives.WriteUInt32BigEndian(b, (uint)version << 28 | (uint)tclass << 20);
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(4), (ushort)(payloadLength ?? payload.Length));
        b[6] = nextHeader;
        b[7] = hopLimit;
        Ipv6Address.Write(b.AsSpan(8), src);
        Ipv6Address.Write(b.AsSpan(24), dst);
        payload.CopyTo(b.AsSpan(40));
        return b;
    }

    /// <summary>An ICMPv6 message with its checksum over the pseudo-header of <paramref name="src"/> and <paramref name="dst"/>.</summary>
    public static byte[] Icmp6(UInt128 src, UInt128 dst, byte type, byte code, uint rest, ReadOnlySpan<byte> body)
    {
        var b = new byte[8 + body.Length];
        b[0] = type;
        b[1] = code;
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(4), rest);
        body.CopyTo(b.AsSpan(8));
        BinaryPrimitives.WriteUInt16BigEndian(b.AsSpan(2), Checksum.TcpUdpV6(src, dst, 58, b));
        return b;
    }

    /// <summary>The body of an NS or NA: target address and, when given, one link-layer address option.</summary>
    public static byte[] NdBody(UInt128 target, byte optType = 0, MacAddress mac = default)
    {
        var b = new byte[16 + (optType != 0 ? 8 : 0)];
        Ipv6Address.Write(b, target);
        if (optType != 0)
        {
            b[16] = optType;
            b[17] = 1;
            mac.Write(b.AsSpan(18));
        }
        return b;
    }

    /// <summary>A whole frame carrying an IPv6 packet.</summary>
    public static byte[] Frame(MacAddress dst, MacAddress src, byte[] ip6) => Pkt.Eth(dst, src, EthP.IPV6, ip6);

    /// <summary>The 33:33 MAC of an IPv6 group (RFC 2464 7).</summary>
    public static MacAddress McMac(UInt128 group) => MacAddress.Parse($"33:33:{(byte)(group >> 24):x2}:{(byte)(group >> 16):x2}:{(byte)(group >> 8):x2}:{(byte)group:x2}");

    /// <summary>ff02::1:ffXX:XXXX.</summary>
    public static UInt128 SolicitedNode(UInt128 a) => Ipv6Address.Parse("ff02::1:ff00:0") | (a & 0xff_ffff);
}
