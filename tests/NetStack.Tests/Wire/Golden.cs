namespace NetStack.Tests.Wire;

/// <summary>
/// Frames captured from the Linux kernel (tcpdump -xx on a veth pair between two network
/// namespaces: 10.7.0.1 at 52:54:00:12:34:56 ran `ping -c 1 10.7.0.2` and sent a 2-byte UDP
/// datagram to 10.7.0.2:9, which answered port unreachable). Every checksum in them is the
/// kernel's own, so they are the oracle for our parsers, emitters and checksum code.
/// </summary>
internal static class Golden
{
    public const string MacA = "52:54:00:12:34:56";
    public const string MacB = "52:54:00:ab:cd:ef";
    public const string IpA = "10.7.0.1";
    public const string IpB = "10.7.0.2";

    /// <summary>Broadcast "who-has 10.7.0.2 tell 10.7.0.1" (42 bytes: veth does not pad).</summary>
    public static readonly byte[] ArpRequest = Hex(
        "ffff ffff ffff 5254 0012 3456 0806 0001" +
        "0800 0604 0001 5254 0012 3456 0a07 0001" +
        "0000 0000 0000 0a07 0002");

    /// <summary>"10.7.0.2 is-at 52:54:00:ab:cd:ef", unicast back.</summary>
    public static readonly byte[] ArpReply = Hex(
        "5254 0012 3456 5254 00ab cdef 0806 0001" +
        "0800 0604 0002 5254 00ab cdef 0a07 0002" +
        "5254 0012 3456 0a07 0001");

    /// <summary>ping(8) echo request: id 0x1a6d, seq 1, 56 data bytes (timeval + 0x10..0x37); IP id 0x47fd, DF, csum 0xde9b; ICMP csum 0xe1a2.</summary>
    public static readonly byte[] EchoRequest = Hex(
        "5254 00ab cdef 5254 0012 3456 0800 4500" +
        "0054 47fd 4000 4001 de9b 0a07 0001 0a07" +
        "0002 0800 e1a2 1a6d 0001 9436 016b 0000" +
        "0000 9a7a 0d00 0000 0000 1011 1213 1415" +
        "1617 1819 1a1b 1c1d 1e1f 2021 2223 2425" +
        "2627 2829 2a2b 2c2d 2e2f 3031 3233 3435" +
        "3637");

    /// <summary>The kernel's echo reply: IP id 0xbee9, DF clear (icmp_reply), csum 0xa7af; ICMP csum 0xe9a2.</summary>
    public static readonly byte[] EchoReply = Hex(
        "5254 0012 3456 5254 00ab cdef 0800 4500" +
        "0054 bee9 0000 4001 a7af 0a07 0002 0a07" +
        "0001 0000 e9a2 1a6d 0001 9436 016b 0000" +
        "0000 9a7a 0d00 0000 0000 1011 1213 1415" +
        "1617 1819 1a1b 1c1d 1e1f 2021 2223 2425" +
        "2627 2829 2a2b 2c2d 2e2f 3031 3233 3435" +
        "3637");

    /// <summary>
    /// UDP 10.7.0.1:57754 -> 10.7.0.2:9, payload "hi". Its checksum field, 0x142c, is not a final
    /// checksum: veth offloads it (CHECKSUM_PARTIAL), so the capture holds the pseudo-header seed
    /// the kernel leaves for the device (~csum_tcpudp_magic(saddr, daddr, 10, UDP, 0)). The
    /// complete checksum (RFC 768, computed by hand) would be 0xa1bc.
    /// </summary>
    public static readonly byte[] Udp = Hex(
        "5254 00ab cdef 5254 0012 3456 0800 4500" +
        "001e af29 4000 4011 7795 0a07 0001 0a07" +
        "0002 e19a 0009 000a 142c 6869");

    /// <summary>ICMP port unreachable for <see cref="Udp"/>: TOS 0xc0, IP csum 0xa6f8, ICMP csum 0x9eb9, quoting the whole datagram (seed and all).</summary>
    public static readonly byte[] PortUnreachable = Hex(
        "5254 0012 3456 5254 00ab cdef 0800 45c0" +
        "003a befa 0000 4001 a6f8 0a07 0002 0a07" +
        "0001 0303 9eb9 0000 0000 4500 001e af29" +
        "4000 4011 7795 0a07 0001 0a07 0002 e19a" +
        "0009 000a 142c 6869");

    public static byte[] Hex(string s) => Convert.FromHexString(s.Replace(" ", ""));

    /// <summary>A copy of the IP packet inside an Ethernet frame.</summary>
    public static byte[] Ip(byte[] frame) => frame[14..];

    /// <summary>A buffer of <paramref name="n"/> bytes filled with 0xA5, so an emitter that forgets a field is caught.</summary>
    public static byte[] Dirty(int n)
    {
        var b = new byte[n];
        Array.Fill(b, (byte)0xA5);
        return b;
    }
}
