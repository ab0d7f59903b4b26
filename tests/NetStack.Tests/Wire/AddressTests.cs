using NetStack.Wire;

namespace NetStack.Tests.Wire;

public class MacAddressTests
{
    [Theory]
    [InlineData("52:54:00:ab:cd:ef", 0x525400ABCDEFUL)]
    [InlineData("52-54-00-AB-CD-EF", 0x525400ABCDEFUL)]
    [InlineData("ff:ff:ff:ff:ff:ff", 0xFFFFFFFFFFFFUL)]
    [InlineData("00:00:00:00:00:00", 0UL)]
    [InlineData("2:0:0:0:0:a", 0x02000000000AUL)]
    public void Parse(string s, ulong value) => Assert.Equal(new MacAddress(value), MacAddress.Parse(s));

    [Theory]
    [InlineData("")]
    [InlineData("52:54:00:ab:cd")]
    [InlineData("52:54:00:ab:cd:ef:01")]
    [InlineData("52:54:00:ab:cd:eg")]
    [InlineData("52:54:00:ab:cd:123")]
    [InlineData("52:54:00:ab:cd:")]
    [InlineData("52:54:00:ab:cd: f")]
    [InlineData("52:54:00:ab:cd:f ")]
    [InlineData("52:54:00:ab:cd:+f")]
    [InlineData("52:54:00:ab:cd:0x")]
    [InlineData("525400abcdef")]
    public void Rejects(string s)
    {
        Assert.False(MacAddress.TryParse(s, out _));
        Assert.Throws<FormatException>(() => MacAddress.Parse(s));
    }

    [Fact]
    public void FormatParse_RoundTrip()
    {
        var rng = new Random(48);
        for (int i = 0; i < 200; i++)
        {
            var mac = new MacAddress((ulong)rng.NextInt64(0, 1L << 48));
            var s = mac.ToString();
            Assert.Matches("^[0-9a-f]{2}(:[0-9a-f]{2}){5}$", s);
            Assert.Equal(mac, MacAddress.Parse(s));
        }
    }

    [Fact]
    public void ReadWrite_AreNetworkOrder()
    {
        var mac = MacAddress.Parse(Golden.MacA);
        var b = Golden.Dirty(8);
        mac.Write(b);
        Assert.Equal(Golden.Hex("5254 0012 3456 a5a5"), b);
        Assert.Equal(mac, MacAddress.Read(b));
    }

    [Fact]
    public void Classification()
    {
        Assert.True(MacAddress.Broadcast.IsBroadcast);
        Assert.True(MacAddress.Broadcast.IsMulticast);
        Assert.True(MacAddress.Parse("01:00:5e:00:00:01").IsMulticast);
        Assert.False(MacAddress.Parse("01:00:5e:00:00:01").IsBroadcast);
        Assert.False(MacAddress.Parse("02:00:00:00:00:01").IsMulticast);
        Assert.True(MacAddress.Zero.IsZero);
    }
}

public class Ipv4AddressTests
{
    [Theory]
    [InlineData("0.0.0.0", 0u)]
    [InlineData("10.7.0.2", 0x0A070002u)]
    [InlineData("127.0.0.1", 0x7F000001u)]
    [InlineData("255.255.255.255", 0xFFFFFFFFu)]
    [InlineData("192.168.100.200", 0xC0A864C8u)]
    public void ParseAndFormat(string s, uint value)
    {
        Assert.Equal(value, Ipv4Address.Parse(s));
        Assert.Equal(s, Ipv4Address.Format(value));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("1.2.3")]
    [InlineData("1.2.3.4.5")]
    [InlineData("256.1.1.1")]
    [InlineData("1.2.3.-4")]
    [InlineData("1.2.3.+4")]
    [InlineData("1.2..4")]
    [InlineData("1.2.3.4 ")]
    [InlineData(" 1.2.3.4")]
    [InlineData("1.2.3.0x4")]
    [InlineData("1.2.3.1000")]
    [InlineData("01.2.3.4")]   // inet_pton rejects leading zeros (inet_aton would read octal)
    [InlineData("1.2.3.010")]
    [InlineData("a.b.c.d")]
    public void Rejects(string? s)
    {
        Assert.False(Ipv4Address.TryParse(s, out _));
        if (s is not null) Assert.Throws<FormatException>(() => Ipv4Address.Parse(s));
    }

    [Fact]
    public void FormatParse_RoundTrip()
    {
        var rng = new Random(32);
        for (int i = 0; i < 500; i++)
        {
            uint a = (uint)rng.NextInt64(0, 1L << 32);
            Assert.Equal(a, Ipv4Address.Parse(Ipv4Address.Format(a)));
        }
    }

    [Theory]
    [InlineData("10.7.0.2/24", 0x0A070002u, 24)]
    [InlineData("10.7.0.2", 0x0A070002u, 32)]
    [InlineData("0.0.0.0/0", 0u, 0)]
    [InlineData("1.2.3.4/32", 0x01020304u, 32)]
    public void ParseCidr(string s, uint addr, int len)
    {
        Assert.True(Ipv4Address.TryParseCidr(s, out var a, out var l));
        Assert.Equal(addr, a);
        Assert.Equal(len, l);
    }

    [Theory]
    [InlineData("10.7.0.2/33")]
    [InlineData("10.7.0.2/-1")]
    [InlineData("10.7.0.2/")]
    [InlineData("10.7.0/24")]
    [InlineData("10.7.0.2/2 4")]
    public void ParseCidr_Rejects(string s) => Assert.False(Ipv4Address.TryParseCidr(s, out _, out _));

    [Fact]
    public void PrefixMaskAndClassification()
    {
        Assert.Equal(0u, Ipv4Address.PrefixMask(0));
        Assert.Equal(0xFF000000u, Ipv4Address.PrefixMask(8));
        Assert.Equal(0xFFFFFF00u, Ipv4Address.PrefixMask(24));
        Assert.Equal(0xFFFFFFFEu, Ipv4Address.PrefixMask(31));
        Assert.Equal(0xFFFFFFFFu, Ipv4Address.PrefixMask(32));
        Assert.True(Ipv4Address.IsMulticast(Ipv4Address.Parse("224.0.0.1")));
        Assert.True(Ipv4Address.IsMulticast(Ipv4Address.Parse("239.255.255.255")));
        Assert.False(Ipv4Address.IsMulticast(Ipv4Address.Parse("240.0.0.1")));
        Assert.True(Ipv4Address.IsLoopback(Ipv4Address.Parse("127.1.2.3")));
        Assert.True(Ipv4Address.IsZeroNet(Ipv4Address.Parse("0.1.2.3")));
        Assert.True(Ipv4Address.IsLimitedBroadcast(0xFFFFFFFF));
    }
}
