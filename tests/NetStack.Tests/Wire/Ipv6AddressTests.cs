using NetStack.Wire;

namespace NetStack.Tests.Wire;

/// <summary>
/// IPv6 addresses as UInt128s: text forms against glibc's inet_pton/inet_ntop (the vectors below
/// were printed by Python's socket.inet_ntop on this machine, which calls glibc), classification,
/// solicited-node groups, Ethernet multicast mapping and the EUI-64 link-local address.
/// </summary>
public class Ipv6AddressTests
{
    /// <summary>(16 bytes in hex, glibc inet_ntop's text).</summary>
    public static TheoryData<string, string> GlibcVectors => new()
    {
        { "00000000000000000000000000000000", "::" },
        { "00000000000000000000000000000001", "::1" },
        { "00000000000000000000ffff0a070002", "::ffff:10.7.0.2" },
        { "00000000000000000000000001020304", "::1.2.3.4" },
        { "fe8000000000000002000afffe070002", "fe80::200:aff:fe07:2" },
        { "ff0200000000000000000001ff070002", "ff02::1:ff07:2" },
        { "20010db8000000000000000000000001", "2001:db8::1" },
        { "00010000000000000000000000000000", "1::" },
        { "00010000000000020000000000000003", "1:0:0:2::3" },
        { "00010000000000000002000000000003", "1::2:0:0:3" },
        { "00000000000100000000000000000000", "0:0:1::" },
        { "00000000000000000000ffff00000000", "::ffff:0.0.0.0" },
        { "00000000000000000000000000000100", "::100" },
        { "00010002000300040005000600070008", "1:2:3:4:5:6:7:8" },
        { "00000001000000010000000100000001", "0:1:0:1:0:1:0:1" },
        { "00000000000000000000ffff00010002", "::ffff:0.1.0.2" },
        { "000000000000a9af000000000000bad6", "::a9af:0:0:0:bad6" },
        { "000900000000000daf8a000000000000", "9:0:0:d:af8a::" },
        { "0000000100000000000a000000000000", "0:1:0:0:a::" },
        { "0000000900020000b811000000040000", "0:9:2:0:b811:0:4:0" },
        { "0002ab94727c00020000b4a700000000", "2:ab94:727c:2:0:b4a7::" },
        { "00077de000000000000000000000a545", "7:7de0::a545" },
        { "0000000100000000e86100000000d179", "0:1::e861:0:0:d179" },
        { "7aab0000000c000000000000000047a2", "7aab:0:c::47a2" },
        { "00000000000076cd0000000600000000", "::76cd:0:6:0:0" },
        { "8af3000d0000000000002b2b00000000", "8af3:d::2b2b:0:0" },
        { "c00800000000000e0000000000000000", "c008:0:0:e::" },
        { "2d390000000031ba0000000085320000", "2d39::31ba:0:0:8532:0" },
    };

    [Theory]
    [MemberData(nameof(GlibcVectors))]
    public void Format_IsGlibcInetNtop_AndParseReadsItBack(string hex, string text)
    {
        var a = Ipv6Address.Read(Convert.FromHexString(hex));
        Assert.Equal(text, Ipv6Address.Format(a));
        Assert.True(Ipv6Address.TryParse(text, out var back));
        Assert.Equal(a, back);
        var bytes = new byte[16];
        Ipv6Address.Write(bytes, a);
        Assert.Equal(hex, Convert.ToHexString(bytes).ToLowerInvariant());
    }

    [Theory]
    [InlineData("0:0:0:0:0:0:0:1", "::1")]
    [InlineData("FE80:0000:0000:0000:0200:0AFF:FE07:0002", "fe80::200:aff:fe07:2")]
    [InlineData("::ffff:10.7.0.2", "::ffff:10.7.0.2")]
    [InlineData("1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304")]
    [InlineData("1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0")]
    [InlineData("::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8")]
    public void Parse_AcceptsEveryRfc4291Form(string input, string canonical) =>
        Assert.Equal(canonical, Ipv6Address.Format(Ipv6Address.Parse(input)));

    [Theory]
    [InlineData("")]
    [InlineData(":")]
    [InlineData(":::")]
    [InlineData("1::2::3")]
    [InlineData("1:2:3:4:5:6:7:8:9")]
    [InlineData("1:2:3:4:5:6:7")]
    [InlineData("1:2:3:4:5:6:7:8::")]
    [InlineData("::1:2:3:4:5:6:7:8")]
    [InlineData("12345::")]
    [InlineData("1:")]
    [InlineData(":1")]
    [InlineData("g::1")]
    [InlineData("::1.2.3")]
    [InlineData("::1.2.3.256")]
    [InlineData("1:2:3:4:5:6:7:1.2.3.4")]
    [InlineData("fe80::1%eth0")]
    [InlineData("[::1]")]
    public void Parse_RefusesWhatInetPtonRefuses(string input) => Assert.False(Ipv6Address.TryParse(input, out _));

    [Fact]
    public void Classification()
    {
        Assert.True(Ipv6Address.IsMulticast(Ipv6Address.AllNodes));
        Assert.Equal(2, Ipv6Address.MulticastScope(Ipv6Address.AllNodes));
        Assert.True(Ipv6Address.IsLinkLocal(Ipv6Address.Parse("fe80::1")));
        Assert.True(Ipv6Address.IsLinkLocal(Ipv6Address.Parse("febf::1")));
        Assert.False(Ipv6Address.IsLinkLocal(Ipv6Address.Parse("fec0::1")));
        Assert.True(Ipv6Address.IsV4Mapped(Ipv6Address.Parse("::ffff:10.7.0.2")));
        Assert.False(Ipv6Address.IsV4Mapped(Ipv6Address.Parse("::10.7.0.2")));
        Assert.Equal(Ipv4Address.Parse("10.7.0.2"), Ipv6Address.V4Of(Ipv6Address.V4Mapped(Ipv4Address.Parse("10.7.0.2"))));
        Assert.True(Ipv6Address.PrefixEqual(Ipv6Address.Parse("2001:db8:7::1"), Ipv6Address.Parse("2001:db8:7::ffff"), 64));
        Assert.False(Ipv6Address.PrefixEqual(Ipv6Address.Parse("2001:db8:7::1"), Ipv6Address.Parse("2001:db8:8::1"), 48));
        Assert.True(Ipv6Address.PrefixEqual(Ipv6Address.Parse("2001:db8:7::1"), Ipv6Address.Parse("2001:db8:8::1"), 44));
        Assert.True(Ipv6Address.PrefixEqual(Ipv6Address.Parse("::1"), Ipv6Address.Parse("ffff::"), 0));
    }

    [Fact]
    public void SolicitedNode_AndEthernetMapping_AsRfc4291And2464()
    {
        var a = Ipv6Address.Parse("2001:db8::200:aff:fe07:2");
        var sn = Ipv6Address.SolicitedNode(a);
        Assert.Equal("ff02::1:ff07:2", Ipv6Address.Format(sn));
        Assert.True(Ipv6Address.IsSolicitedNode(sn));
        Assert.False(Ipv6Address.IsSolicitedNode(Ipv6Address.AllNodes));
        Assert.Equal(MacAddress.Parse("33:33:ff:07:00:02"), Ipv6Address.EthMcMap(sn));
        Assert.Equal(MacAddress.Parse("33:33:00:00:00:01"), Ipv6Address.EthMcMap(Ipv6Address.AllNodes));
    }

    /// <summary>The link-local address the kernel gives a TAP with this MAC (addr_gen_mode 0): ip -6 addr shows it.</summary>
    [Theory]
    [InlineData("02:00:0a:07:00:02", "fe80::aff:fe07:2")]
    [InlineData("00:16:3e:12:34:56", "fe80::216:3eff:fe12:3456")]
    [InlineData("52:54:00:ab:cd:ef", "fe80::5054:ff:feab:cdef")]
    public void LinkLocal_IsModifiedEui64(string mac, string expected) =>
        Assert.Equal(expected, Ipv6Address.Format(Ipv6Address.LinkLocal(MacAddress.Parse(mac))));
}
