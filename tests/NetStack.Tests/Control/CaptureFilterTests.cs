using NetStack.Control;

namespace NetStack.Tests.Control;

/// <summary>The tcpdump filter subset of the capture op, on hand-made Ethernet frames.</summary>
public class CaptureFilterTests
{
    /// <summary>An Ethernet + IPv4 (+ first 4 bytes of L4: ports) frame.</summary>
    private static byte[] Ip(byte proto, string src, string dst, ushort sport = 0, ushort dport = 0)
    {
        var f = new byte[14 + 20 + 8];
        f[12] = 0x08; f[13] = 0x00;
        f[14] = 0x45; f[14 + 9] = proto;
        System.Net.IPAddress.Parse(src).GetAddressBytes().CopyTo(f, 14 + 12);
        System.Net.IPAddress.Parse(dst).GetAddressBytes().CopyTo(f, 14 + 16);
        f[34] = (byte)(sport >> 8); f[35] = (byte)sport; f[36] = (byte)(dport >> 8); f[37] = (byte)dport;
        return f;
    }

    private static readonly byte[] Arp = [.. new byte[12], 0x08, 0x06, .. new byte[28]];

    [Theory]
    [InlineData("tcp port 80", true, false, false, false)]        // juxtaposition is "and", as pcap-filter reads it
    [InlineData("tcp and port 80", true, false, false, false)]
    [InlineData("port 80", true, true, false, false)]
    [InlineData("udp or icmp", false, true, true, false)]
    [InlineData("not arp", true, true, true, false)]
    [InlineData("arp", false, false, false, true)]
    [InlineData("src host 10.0.0.1 && dst port 80", true, true, false, false)]
    [InlineData("dst host 10.0.0.1", false, false, false, false)]
    [InlineData("!(tcp || udp) and ip", false, false, true, false)]
    [InlineData("", true, true, true, true)]
    public void Matches(string expr, bool tcp80, bool udp80, bool icmp, bool arp)
    {
        var f = CaptureFilter.Compile(expr);
        bool M(byte[] frame) => f is null || f(frame);
        Assert.Equal(tcp80, M(Ip(6, "10.0.0.1", "10.0.0.2", 40000, 80)));
        Assert.Equal(udp80, M(Ip(17, "10.0.0.1", "10.0.0.2", 40000, 80)));
        Assert.Equal(icmp, M(Ip(1, "10.0.0.1", "10.0.0.2")));
        Assert.Equal(arp, M(Arp));
    }

    [Theory]
    [InlineData("tcp and", "ends too soon")]
    [InlineData("host example.com", "not an IPv4 address")]
    [InlineData("port 70000", "not a port number")]
    [InlineData("(tcp", "without its")]
    [InlineData("frobnicate", "not supported")]
    [InlineData("src tcp", "go with host or port")]
    public void Refuses(string expr, string why) =>
        Assert.Contains(why, Assert.Throws<FormatException>(() => CaptureFilter.Compile(expr)).Message);
}
