using System.Globalization;
using NetStack.Net;
using NetStack.Wire;

namespace NetStack.Api;

/// <summary>
/// An IPv4 address and port (host order), the managed form of a sockaddr_in: "10.7.0.1:7".
/// Converts to and from <see cref="System.Net.IPEndPoint"/>.
/// </summary>
public readonly record struct Ipv4EndPoint(uint Address, ushort Port)
{
    /// <summary>0.0.0.0:0, what bind() takes for "any address, any port".</summary>
    public static Ipv4EndPoint Any => default;

    public static Ipv4EndPoint Parse(string s) =>
        TryParse(s, out var ep) ? ep : throw new FormatException($"bad endpoint '{s}' (expected a.b.c.d:port)");

    public static bool TryParse(string? s, out Ipv4EndPoint ep)
    {
        ep = default;
        if (s is null) return false;
        int colon = s.LastIndexOf(':');
        if (colon < 0 || !Ipv4Address.TryParse(s[..colon], out uint a)) return false;
        if (!ushort.TryParse(s.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out ushort p)) return false;
        ep = new Ipv4EndPoint(a, p);
        return true;
    }

    public Ipv4EndPoint(string address, ushort port) : this(Ipv4Address.Parse(address), port) { }

    /// <summary>The sockaddr_in the socket calls take.</summary>
    public SockAddr ToSockAddr() => SockAddr.In(Address, Port);

    public static Ipv4EndPoint FromSockAddr(in SockAddr a) => new(a.Addr, a.Port);

    public System.Net.IPEndPoint ToIPEndPoint() =>
        new(new System.Net.IPAddress(new[] { (byte)(Address >> 24), (byte)(Address >> 16), (byte)(Address >> 8), (byte)Address }), Port);

    public static Ipv4EndPoint FromIPEndPoint(System.Net.IPEndPoint ep)
    {
        var b = ep.Address.MapToIPv4().GetAddressBytes();
        return new Ipv4EndPoint((uint)(b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3]), (ushort)ep.Port);
    }

    public override string ToString() => $"{Ipv4Address.Format(Address)}:{Port}";
}

/// <summary>The result of <see cref="NetSocket.ReceiveFromAsync"/>: how many bytes and from whom.</summary>
public readonly record struct ReceiveFromResult(int Count, Ipv4EndPoint From);
